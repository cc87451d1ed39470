"""The machine-wide netdev_max_backlog is put back however a run ends.

The test session (conftest.py) and the benchmarks (benchmarks/netns.py)
raise it; these tests run each of them as a child pointed at a scratch file
instead of the real sysctl (RINGCAP_BACKLOG_SYSCTL), kill the child with
SIGKILL, and check that the file holds the original value again."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DEADLINE

ROOT = Path(__file__).resolve().parent.parent
ORIGINAL, RAISED = "100000", "300000"    # the same length: a scratch file is not truncated


def _wait_for(predicate, what, timeout=DEADLINE):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def _start(argv, sysctl, ready, cwd):
    env = dict(os.environ, RINGCAP_BACKLOG_SYSCTL=str(sysctl), READY_FILE=str(ready),
               PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT / "benchmarks")]))
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


def _benchmark_child(tmp_path, sysctl, ready):
    code = ("import os, time, netns\n"
            "backlog = netns.GlobalBacklog()\n"
            f"backlog.set({RAISED})\n"
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


def test_a_value_someone_else_set_meanwhile_is_left_alone(netns, tmp_path):
    sysctl, ready = tmp_path / "netdev_max_backlog", tmp_path / "ready"
    sysctl.write_text(ORIGINAL)
    child = _benchmark_child(tmp_path, sysctl, ready)
    sysctl.write_text("200000")                           # another run's value
    child.send_signal(signal.SIGKILL)
    child.wait()
    child.stdout.close()
    time.sleep(0.5)
    assert sysctl.read_text().strip() == "200000"


def test_a_normal_exit_restores_and_leaves_no_watcher(netns, tmp_path):
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        from sysctl_guard import SysctlGuard
    finally:
        sys.path.pop(0)
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
