"""The machine-wide netdev_max_backlog is put back however a run ends.

The test session (conftest.py) and the benchmarks (benchmarks/netns.py)
raise it; these tests run each of them as a child pointed at a scratch file
instead of the real sysctl (RINGCAP_BACKLOG_SYSCTL), kill the child with
SIGKILL, and check that the file holds the original value again.  Runs
that overlap share one record, so the last one out restores the value from
before the first (RINGCAP_GUARD_DIR points the record at a scratch folder)."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DEADLINE

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL, RAISED, HIGHER = "100000", "300000", "400000"   # one length: a scratch file is not truncated


@pytest.fixture(autouse=True)
def guard_dir(tmp_path, monkeypatch):
    folder = tmp_path / "guard-records"
    monkeypatch.setenv("RINGCAP_GUARD_DIR", str(folder))
    return folder


def _guard_class():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from sysctl_guard import SysctlGuard
    finally:
        sys.path.pop(0)
    return SysctlGuard


def _wait_for(predicate, what, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _start(argv, sysctl, ready, cwd):
    env = dict(os.environ, RINGCAP_BACKLOG_SYSCTL=str(sysctl), READY_FILE=str(ready),
               PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT / "benchmarks"),
                                           os.environ.get("PYTHONPATH", "")]))
    env.pop("PYTEST_ADDOPTS", None)
    child = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT)
    try:
        _wait_for(lambda: ready.exists() or child.poll() is not None, "the child to start")
    except AssertionError:
        child.kill()
        child.wait()
        raise
    if child.poll() is not None:
        raise AssertionError(f"the child ended early: {child.stdout.read().decode()[-2000:]}")
    return child


def _pytest_child(tmp_path, sysctl, ready):
    (tmp_path / "test_waits.py").write_text(
        "import os, time\n"
        "from pathlib import Path\n"
        "def test_waits(netns):\n"
        "    Path(os.environ['READY_FILE']).write_text('ready')\n"
        "    time.sleep(120)\n")
    # -p conftest: the session's own conftest.py, loaded as a plugin
    return _start([sys.executable, "-m", "pytest", "-p", "conftest", "-q", "-p", "no:cacheprovider",
                   "--rootdir", str(tmp_path), str(tmp_path / "test_waits.py")],
                  sysctl, ready, tmp_path)


def _benchmark_child(tmp_path, sysctl, ready, value=RAISED):
    code = ("import os, time, netns\n"
            "backlog = netns.GlobalBacklog()\n"
            f"backlog.set({value})\n"
            "netns.enter_private_netns()\n"
            "open(os.environ['READY_FILE'], 'w').write('ready')\n"
            "time.sleep(120)\n")
    return _start([sys.executable, "-c", code], sysctl, ready, tmp_path)


@pytest.mark.parametrize("start", [_pytest_child, _benchmark_child], ids=["pytest", "benchmark"])
def test_a_killed_run_puts_the_backlog_back(netns, tmp_path, start):
    sysctl, ready = tmp_path / "netdev_max_backlog", tmp_path / "ready"
    sysctl.write_text(ORIGINAL)
    child = start(tmp_path, sysctl, ready)
    assert sysctl.read_text().strip() == RAISED          # raised while the child runs
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    _wait_for(lambda: sysctl.read_text().strip() == ORIGINAL, "the original value to come back")


def test_a_value_someone_else_set_meanwhile_is_left_alone(netns, tmp_path, guard_dir):
    sysctl, ready = tmp_path / "netdev_max_backlog", tmp_path / "ready"
    sysctl.write_text(ORIGINAL)
    child = _benchmark_child(tmp_path, sysctl, ready)
    assert list(guard_dir.glob("*.json"))                 # the shared record exists
    sysctl.write_text("200000")                           # another run's value
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    # the watcher has left when the record is gone
    _wait_for(lambda: not list(guard_dir.glob("*.json")), "the watcher to leave")
    assert sysctl.read_text().strip() == "200000"


@pytest.mark.parametrize("first_out", ["first", "second"])
def test_overlapping_runs_restore_the_value_from_before_both(netns, tmp_path, first_out):
    """A test session raises the backlog, a benchmark starts meanwhile and
    raises it further; whichever ends first, the value stays raised while the
    other runs and the original comes back when both have ended (the old
    per-guard memory left the first run's value behind)."""
    SysctlGuard = _guard_class()
    sysctl = tmp_path / "netdev_max_backlog"
    sysctl.write_text(ORIGINAL)
    first = SysctlGuard(str(sysctl))
    first.set(RAISED)
    second = SysctlGuard(str(sysctl))
    assert second.original == ORIGINAL                    # not the first run's raised value
    second.set(HIGHER)
    first.set(RAISED)                                     # never lowered under the other run
    assert sysctl.read_text().strip() == HIGHER
    leaving, staying = (first, second) if first_out == "first" else (second, first)
    leaving.restore()
    assert sysctl.read_text().strip() == HIGHER           # the other run still needs it
    staying.restore()
    assert sysctl.read_text().strip() == ORIGINAL


def test_overlapping_killed_runs_restore_the_value_from_before_both(netns, tmp_path):
    sysctl, ready = tmp_path / "netdev_max_backlog", tmp_path / "ready"
    sysctl.write_text(ORIGINAL)
    session = _pytest_child(tmp_path, sysctl, ready)
    ready.unlink()
    bench_dir = tmp_path / "bench"
    bench_dir.mkdir()
    benchmark = _benchmark_child(bench_dir, sysctl, ready, value=HIGHER)
    assert sysctl.read_text().strip() == HIGHER
    for child in (session, benchmark):
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    _wait_for(lambda: sysctl.read_text().strip() == ORIGINAL, "the original value to come back")


def test_a_record_left_by_killed_watchers_is_repaired(netns, tmp_path):
    """Guard and watcher both killed (SIGKILL to the whole group): the value
    stays raised with the record naming dead guards; the next guard takes the
    record's original and puts it back when it leaves."""
    SysctlGuard = _guard_class()
    sysctl = tmp_path / "netdev_max_backlog"
    sysctl.write_text(ORIGINAL)
    lost = SysctlGuard(str(sysctl))
    lost.set(RAISED)
    os.kill(lost.watcher_pid, signal.SIGKILL)
    os.waitpid(lost.watcher_pid, 0)
    os.close(lost._pipe)                                  # as if its owner died too
    lost._pipe = -1
    assert sysctl.read_text().strip() == RAISED           # leaked
    guard = SysctlGuard(str(sysctl))
    assert guard.original == ORIGINAL
    guard.restore()
    assert sysctl.read_text().strip() == ORIGINAL


def test_a_normal_exit_restores_and_leaves_no_watcher(netns, tmp_path, guard_dir):
    SysctlGuard = _guard_class()
    sysctl = tmp_path / "netdev_max_backlog"
    sysctl.write_text(ORIGINAL)
    guard = SysctlGuard(str(sysctl))
    guard.set(RAISED)
    assert sysctl.read_text().strip() == RAISED
    pid = guard.watcher_pid
    guard.restore()
    guard.restore()                                       # idempotent
    assert sysctl.read_text().strip() == ORIGINAL
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)                                   # reaped, not a zombie
    assert not list(guard_dir.glob("*.json"))             # and the shared record is gone
