"""Test session setup: a private network namespace for every network test.

As root, the session moves itself into a new network namespace before any
test runs (``unshare(CLONE_NEWNET)``), so every veth pair, packet and
address the tests use exists only there and disappears with the process.
Without root, network tests skip, unless ``RINGCAP_REQUIRE_NETWORK=1`` (set
by ``.ci/run``), which turns that skip, and any other skip, into a failure.

How to write a network test that waits correctly
------------------------------------------------
The suite runs on shared machines, loaded by other work: a ring can take
seconds to open, a packet can wait in a CPU's backlog, and a process can wait
a second for a CPU.  So never sleep for a fixed time in place of "the ring is
open" or "the packets have arrived"; wait for the condition itself, with a
generous deadline (``DEADLINE``, 60 s), failing with a message that names it:

- ``wait_until(condition, what="...")`` polls ``condition()`` until it is true
  and fails with "waited 60 s for <what>" otherwise.  The helpers below wait
  the same way.
- A ``ringcap`` subprocess: ``cli = RingcapProcess("-i", veth.b, ...)`` runs
  ``python -m ringcap`` from this tree; ``cli.wait_for("listening on")``
  returns once the ring is open and its filter attached, so every packet sent
  after it is captured or counted as dropped; ``cli.finish(signal.SIGINT)``
  stops it and returns the exit code.  ``ringcap top`` prints no such line:
  wait for its first table.
- Any other process opening a ring (``capture_to_file`` in a child or a
  thread): ``wait_until(lambda: rings_bound_to(veth.index_b))`` (the ring binds
  to its interface last, after the ring and filter are set up).
- "It has the packets", for a ring in another process: open a
  ``Tap(veth.b)`` before sending; ``tap.wait_for(n)`` returns once the Tap has
  seen n frames, and the kernel hands each frame to every packet socket on the
  interface in the same pass, so the other ring has them too.  For a pool,
  the workers' statistics reports (``report()`` in test_parallel.py).
- An ``RxRing`` in the test process is open when its constructor returns.
  ``wait_for_packets(ring, n)`` waits until its statistics count n packets
  and the block timer has handed them over (one read or view takes them all).
- Drops are legitimate whenever traffic can outrun a ring (long or fast runs,
  small rings, a reader descheduled for a while).  Then assert the accounting,
  captured + dropped (+ unread) == received, never zero drops, an absolute
  size or a rate; keep sending until the condition the test needs (e.g. bytes
  in the file) is met.  Assert zero drops only where the ring holds all of
  the traffic (its size, and a block timeout longer than the send).
- Bounds that tell "returned at once" from "waited for its timeout" leave
  the loaded machine room (5x or more); speed is measured in benchmarks/,
  never asserted here.
- A short sleep is fine inside a poll loop with a deadline, to pace a sender,
  or where time passing is what a test is about (a flush interval, a timer);
  never in place of one of the conditions above.
"""
from __future__ import annotations

import ctypes
import importlib.util
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

CLONE_NEWNET = 0x40000000
REQUIRE_NETWORK = os.environ.get("RINGCAP_REQUIRE_NETWORK", "") not in ("", "0")
# Packets the tests send carry this local-experimental ethertype and a sequence number.
TEST_ETHERTYPE = 0x88B5
BACKLOG = 300000
# How long a test waits for a condition (ring open, packets arrived) before it fails: many
# times what a loaded machine needs (a cold 256 MiB ring once took 3.6 s to open).
DEADLINE = 60.0

_netns_error: str | None = "network namespace not set up yet"
_backlog_guard = None
# (the environment variable lets the guard's own test point it at a scratch file)
BACKLOG_SYSCTL = os.environ.get("RINGCAP_BACKLOG_SYSCTL", "/proc/sys/net/core/netdev_max_backlog")


def _sysctl_guard_class():
    """benchmarks/sysctl_guard.py, shared with the benchmarks (standard library only)."""
    path = Path(__file__).resolve().parent.parent / "benchmarks" / "sysctl_guard.py"
    spec = importlib.util.spec_from_file_location("sysctl_guard", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.SysctlGuard


def sh(command: str) -> str:
    """Run a shell command (ip, sysctl) and return its output; raise with its stderr."""
    proc = subprocess.run(command, shell=True, capture_output=True, text=True)
    if proc.returncode:
        raise RuntimeError(f"{command!r} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc.stdout


def _enter_private_netns() -> str | None:
    """Move this process into a fresh network namespace; return why not, or None."""
    global _backlog_guard
    if os.geteuid() != 0:
        return "network tests need root (CAP_NET_ADMIN and CAP_NET_RAW)"
    # veth delivers through a per-CPU backlog whose default (1000) drops at full
    # speed before the socket; the sysctl is global, so set it before leaving
    # the initial namespace and restore it at the end.  The guard's watcher
    # process, which stays in the initial namespace, restores it too if this
    # session is killed or interrupted before pytest_unconfigure.
    try:
        guard = _sysctl_guard_class()(BACKLOG_SYSCTL)
        if int(guard.original) < BACKLOG:
            guard.set(BACKLOG)
        _backlog_guard = guard
    except OSError:
        _backlog_guard = None
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        return f"unshare(CLONE_NEWNET) failed: {os.strerror(ctypes.get_errno())}"
    try:
        sh("ip link set lo up")
        for key in ("all", "default"):   # no IPv6 autoconfiguration chatter on test links
            Path(f"/proc/sys/net/ipv6/conf/{key}/disable_ipv6").write_text("1")
    except (RuntimeError, OSError) as exc:
        return f"setting up the private namespace failed: {exc}"
    return None


def _default_stop_signals() -> None:
    """Give SIGINT, SIGTERM and SIGHUP their usual meaning in this session.

    A session started in the background (``cmd &`` in a script, ``nohup``)
    inherits SIGINT (and SIGHUP) ignored; Python then installs no Ctrl-C
    handler, and every ``ringcap`` child inherits the ignoring too, so the
    signal tests would wait for a stop that never comes.  The tests are about
    ringcap's handling of these signals, not the caller's shell."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        if signal.getsignal(signum) is signal.SIG_IGN:
            signal.signal(signum, signal.SIG_DFL)


def _children_import_this_ringcap() -> None:
    """Make every child Python of the session (``python -m ringcap``, ``-c``
    scripts, Spark's workers) import the ringcap this session imports.

    CI installs the package and runs pytest from the checkout, whose
    ``ringcap/`` folder has no compiled extensions; a child started there
    would put its working directory first on ``sys.path`` and import that
    folder instead ("cannot import name '_bpf'").  ``PYTHONSAFEPATH=1`` (as a
    user may set it) keeps the working directory off ``sys.path``, and
    ``PYTHONPATH`` names the session's package first."""
    import ringcap
    root = os.path.dirname(os.path.dirname(os.path.abspath(ringcap.__file__)))
    os.environ["PYTHONSAFEPATH"] = "1"
    rest = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = os.pathsep.join([root, rest]) if rest else root


def pytest_configure(config):
    global _netns_error
    _default_stop_signals()
    _children_import_this_ringcap()
    _netns_error = _enter_private_netns()


def pytest_unconfigure(config):
    if _backlog_guard is not None:
        # (the guard writes through the file it opened in the initial namespace)
        _backlog_guard.restore()


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "netns" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.network)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    skipped = terminalreporter.stats.get("skipped", [])
    if REQUIRE_NETWORK and skipped:
        terminalreporter.write_line(
            f"RINGCAP_REQUIRE_NETWORK=1: {len(skipped)} skipped test(s) count as failures",
            red=True)


def pytest_sessionfinish(session, exitstatus):
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if REQUIRE_NETWORK and reporter is not None and reporter.stats.get("skipped"):
        session.exitstatus = 1


@pytest.fixture(scope="session")
def netns():
    """The private network namespace of this session (skips without root)."""
    if _netns_error is not None:
        if REQUIRE_NETWORK:
            pytest.fail(f"network tests cannot run: {_netns_error}")
        pytest.skip(_netns_error)
    return True


_names = itertools.count()


class VethPair:
    """Two ends of a veth pair, up, inside the session's namespace."""

    def __init__(self, mtu: int = 9000) -> None:
        n = next(_names)
        self.a, self.b = f"rca{n}", f"rcb{n}"
        sh(f"ip link add {self.a} mtu {mtu} type veth peer name {self.b} mtu {mtu}")
        sh(f"ip link set {self.a} up && ip link set {self.b} up")
        self.mac_a, self.index_a = self._link(self.a)
        self.mac_b, self.index_b = self._link(self.b)

    @staticmethod
    def _link(name: str) -> tuple[str, int]:
        """(MAC address, ifindex) of ``name``, read with ip(8) in this namespace."""
        out = sh(f"ip -o link show {name}")
        return out.split("link/ether ")[1].split()[0], int(out.split(":")[0])

    def delete(self) -> None:
        subprocess.run(["ip", "link", "del", self.a], capture_output=True)


@pytest.fixture
def veth(netns):
    """A fresh veth pair (MTU 9000) in the private namespace; deleted afterwards."""
    pair = VethPair()
    try:
        yield pair
    finally:
        pair.delete()


def mac_bytes(mac: str) -> bytes:
    return bytes.fromhex(mac.replace(":", ""))


def make_frame(seq: int, size: int = 60, dst: bytes = b"\xff" * 6,
               src: bytes = b"\x02\x00\x00\x00\x00\x01",
               ethertype: int = TEST_ETHERTYPE) -> bytes:
    """An Ethernet frame of ``size`` bytes carrying ``seq`` (4 bytes after the
    header) and a payload derived from it, so every byte can be checked."""
    if size < 18:
        raise ValueError("test frames need at least 18 bytes")
    header = dst + src + ethertype.to_bytes(2, "big") + seq.to_bytes(4, "big")
    fill = bytes((seq + i) & 0xFF for i in range(size - len(header)))
    return header + fill


def frame_seq(frame: bytes) -> int:
    return int.from_bytes(frame[14:18], "big")


def drain(ring, idle: float = 0.3, max_packets: int = 65536):
    """Read until nothing arrives for ``idle`` seconds; returns the batches."""
    batches = []
    while True:
        batch = ring.read(max_packets, timeout=idle)
        if not len(batch):
            return batches
        batches.append(batch)



def wait_until(condition, timeout: float = DEADLINE, what: str = "the condition",
               interval: float = 0.02):
    """Poll ``condition()`` until it returns something true and return that; after
    ``timeout`` seconds fail with an AssertionError naming ``what`` was waited for."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"waited {timeout:g} s for {what}, in vain")
        time.sleep(interval)


def mapped_bytes(path) -> int:
    """Bytes of ``path`` mapped into this process now (the Rss of its maps)."""
    total, ours = 0, False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
                ours = line.rstrip("\n").endswith(" " + str(path))
            elif ours and line.startswith("Rss:"):
                total += int(line.split()[1]) * 1024
    return total


def package_root() -> str:
    """The folder ringcap is imported from here (this tree, or CI's installed copy)."""
    import ringcap
    return os.path.dirname(os.path.dirname(ringcap.__file__))


class RingcapProcess:
    """A running ``python -m ringcap ARGS`` (this tree's package); its stderr is
    collected from a pipe, or from a pty with ``tty=True``.  ``wait_for(text)``
    waits until the text shows on stderr (``"listening on"``: the ring is open).
    One a failed test leaves running is killed when the test ends."""

    running: list = []

    def __init__(self, *args, tty=False, stdout=subprocess.DEVNULL, env=None,
                 python=sys.executable, command=None):
        self.tty = tty
        if tty:
            import pty
            master, slave = pty.openpty()
            stderr = slave
        else:
            stderr = subprocess.PIPE
        env = {**os.environ, "PYTHONPATH": package_root(), **(env or {})}
        # command: what runs in place of `python -m ringcap` (a wrapper script)
        self.proc = subprocess.Popen([*(command or [python, "-m", "ringcap"]), *map(str, args)],
                                     cwd="/", env=env, stdin=subprocess.DEVNULL,
                                     stdout=stdout, stderr=stderr)
        if tty:
            os.close(slave)
            self._fd = master
        else:
            self._fd = self.proc.stderr.fileno()
        self._chunks = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        RingcapProcess.running.append(self)

    def _read(self):
        while True:
            try:
                chunk = os.read(self._fd, 65536)
            except OSError:          # EIO: the pty's other side closed
                break
            if not chunk:
                break
            self._chunks.append(chunk)

    @property
    def err(self) -> str:
        return b"".join(self._chunks).decode(errors="replace")

    def wait_for(self, text, timeout=DEADLINE):
        """Wait until ``text`` is on stderr; fail (stopping the process) if it exits
        first or ``timeout`` passes."""
        def seen_or_exited():
            if text in self.err:
                return True
            if self.proc.poll() is not None:
                self._reader.join(10)            # the rest of what it wrote
                return True
            return False

        try:
            wait_until(seen_or_exited, timeout, f"{text!r} from ringcap")
            if text not in self.err:
                raise AssertionError(f"ringcap exited ({self.proc.returncode}) "
                                     f"before {text!r}")
        except AssertionError as exc:
            self.finish(signal.SIGKILL if self.proc.poll() is None else None)
            raise AssertionError(f"{exc}; stderr: {self.err!r}") from None

    def wait_for_handler(self, signum, timeout=DEADLINE):
        """Wait until the process catches ``signum`` (its SigCgt bit in
        /proc/PID/status: a Python handler is installed); fail if it exits first."""
        def handled_or_exited():
            if self.proc.poll() is not None:
                return True
            try:
                with open(f"/proc/{self.proc.pid}/status") as status:
                    caught = next(line for line in status if line.startswith("SigCgt:"))
            except (FileNotFoundError, ProcessLookupError, StopIteration):
                return False
            return bool(int(caught.split()[1], 16) >> (signum - 1) & 1)
        wait_until(handled_or_exited, timeout, f"ringcap to handle signal {signum}")
        if self.proc.poll() is not None:
            raise AssertionError(f"ringcap exited ({self.proc.returncode}) before handling "
                                 f"signal {signum}; stderr: {self.err!r}")

    def finish(self, sig=None, timeout=DEADLINE):
        """Send ``sig`` (if given), wait for the exit and return the exit code."""
        if self in RingcapProcess.running:
            RingcapProcess.running.remove(self)
        if sig is not None and self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise
        finally:
            self._reader.join(10)
            if self.tty:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None
            elif self.proc.stderr is not None:
                self.proc.stderr.close()
            if self.proc.stdout is not None:
                self.proc.stdout.close()
        return code


def rings_bound_to(ifindex: int) -> int:
    """How many packet sockets of this namespace are bound to ``ifindex`` for every
    protocol and running (/proc/net/packet).  RxRing binds last, after the ring and
    filter are set up: a new one here is a ring open in some process."""
    with open("/proc/net/packet") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return sum(1 for row in rows if row[3] == "0003" and int(row[4]) == ifindex and row[5] == "1")


class Tap:
    """A ring of the test's own on ``iface`` (only the test's frames, unless ``filter`` says
    otherwise).  The kernel hands each packet to every packet socket on the interface in one
    pass, so once ``wait_for(n)`` returns, any other ring there (a ringcap process's) has
    received those n packets too: captured them, or counted them as dropped."""

    def __init__(self, iface: str, filter=f"ether proto {TEST_ETHERTYPE:#x}"):
        from ringcap import RxRing
        self.iface = iface
        self.ring = RxRing(iface, filter=filter, block_size=1 << 20, block_count=32,
                           block_timeout_ms=5)

    def wait_for(self, count: int, timeout: float = DEADLINE) -> None:
        """Wait until ``count`` packets have come (read here, or dropped by this ring)."""
        def more():
            self.ring.read(65536, timeout=0.05)
            stats = self.ring.stats
            return stats.delivered + stats.drops >= count
        wait_until(more, timeout, f"{count} packets on {self.iface}", interval=0)

    def close(self) -> None:
        self.ring.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def wait_for_packets(ring, count: int, timeout: float = DEADLINE) -> None:
    """Wait until ``ring``'s socket has received ``count`` packets (its statistics: nothing
    is read), then for ten block timeouts, so that the kernel's block timer has handed the
    last of them over and one read or view can take them all."""
    wait_until(lambda: ring.stats.packets >= count, timeout,
               f"{count} packets to reach the ring")
    time.sleep(10 * ring.block_timeout_ms / 1000)


@pytest.fixture(autouse=True)
def _no_ringcap_process_left_behind():
    """A test that failed before finishing its RingcapProcess leaves no process behind."""
    yield
    while RingcapProcess.running:
        RingcapProcess.running[-1].finish(signal.SIGKILL)


@pytest.fixture(scope="session")
def spark():
    """One local Spark session for the whole run (starting one takes ~40 s here), with
    no Parquet settings: datasets must read as they are.  Stopped, JVM too, at the end."""
    # SparkContext installs its own SIGINT handler in this process; later tests
    # (Ctrl-C during capture()) need Python's back.
    import warnings
    sigint = signal.getsignal(signal.SIGINT)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from pyspark import SparkContext
        from pyspark.sql import SparkSession
        session = (SparkSession.builder.master("local[2]").appName("ringcap-tests")
                   .config("spark.ui.enabled", "false")
                   .config("spark.sql.shuffle.partitions", "2")
                   .config("spark.driver.host", "127.0.0.1")
                   .config("spark.driver.bindAddress", "127.0.0.1")
                   .config("spark.sql.session.timeZone", "UTC")
                   .getOrCreate())
    signal.signal(signal.SIGINT, sigint)
    session.sparkContext.setLogLevel("ERROR")
    try:
        yield session
    finally:
        gateway = SparkContext._gateway
        session.stop()
        if gateway is not None:                  # stop the JVM too, not only the context
            process = getattr(gateway, "proc", None)
            gateway.shutdown()
            SparkContext._gateway = SparkContext._jvm = None
            if process is not None:
                process.stdin.close()
                process.wait(timeout=60)
        signal.signal(signal.SIGINT, sigint)
