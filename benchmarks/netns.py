"""Private network namespace, veth pair and kernel counters for the benchmarks.

Everything the benchmarks send stays inside a network namespace this process
creates for itself (``unshare(CLONE_NEWNET)``): the machine's own interfaces
are never touched.  The one global setting changed is
``net.core.netdev_max_backlog`` (veth hands packets to a per-CPU backlog that
drops at the default 1000 packets); it is restored on exit, also when the
run is killed (a watcher process started before leaving the initial
namespace puts it back: see sysctl_guard.py).
"""
from __future__ import annotations

import atexit
import ctypes
import os
import signal
import subprocess
import time

from sysctl_guard import SysctlGuard

CLONE_NEWNET = 0x40000000
# (the environment variable lets the guard's own test point it at a scratch file)
BACKLOG_PATH = os.environ.get("RINGCAP_BACKLOG_SYSCTL", "/proc/sys/net/core/netdev_max_backlog")


def enter_private_netns() -> None:
    """Move this process (and its future children) into a new, empty network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "unshare(CLONE_NEWNET) failed: the benchmarks need root "
                      "(or CAP_SYS_ADMIN and CAP_NET_RAW); run them with sudo")
    # a new namespace starts with lo down and nothing else
    run("ip", "link", "set", "lo", "up")
    for path in ("/proc/sys/net/ipv6/conf/default/disable_ipv6",
                 "/proc/sys/net/ipv6/conf/all/disable_ipv6"):
        # no IPv6 autoconfiguration chatter (router solicitations, MLD) on the veths
        if os.path.exists(path):
            with open(path, "w") as f:
                f.write("1")


class GlobalBacklog:
    """Raise ``net.core.netdev_max_backlog`` and put the old value back on exit.

    The sysctl exists only in the initial namespace, so this is made before
    :func:`enter_private_netns`: the file stays open for later changes, and a
    watcher process left in the initial namespace restores the value even if
    this process is killed.
    """

    def __init__(self) -> None:
        self._guard = SysctlGuard(BACKLOG_PATH)
        self.original = int(self._guard.original)
        atexit.register(self.restore)
        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, self._on_signal)

    def set(self, value: int) -> None:
        self._guard.set(value)

    def get(self) -> int:
        return int(self._guard.get())

    def restore(self) -> None:
        # someone else (a concurrent test run) may have changed it since: leave theirs
        self._guard.restore()

    def _on_signal(self, signum, frame):
        self.restore()
        raise SystemExit(128 + signum)


def run(*argv: str) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()}")
    return proc.stdout


def make_veth(a: str = "bench0", b: str = "bench1", mtu: int = 9000) -> None:
    """Create the veth pair ``a`` <-> ``b`` (both up) in the current namespace."""
    run("ip", "link", "add", a, "mtu", str(mtu), "type", "veth", "peer", "name", b, "mtu", str(mtu))
    for name in (a, b):
        run("ip", "link", "set", name, "up")
    # carrier comes up asynchronously
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        if all(oper_up(n) for n in (a, b)):
            return
        time.sleep(0.01)
    raise RuntimeError(f"veth pair {a}/{b} did not come up")


def oper_up(name: str) -> bool:
    out = run("ip", "-o", "link", "show", name)
    return "LOWER_UP" in out


def read_file(path: str) -> str:
    with open(path) as f:
        return f.read()


def mac_address(name: str) -> str:
    out = run("ip", "-o", "link", "show", name)
    return out.split("link/ether", 1)[1].split()[0]


def if_counters(name: str) -> dict[str, int]:
    """``/proc/net/dev`` counters of ``name`` in this namespace.

    (``/sys/class/net`` would show the namespace that mounted sysfs, not ours.)
    """
    for line in read_file("/proc/net/dev").splitlines()[2:]:
        iface, _, rest = line.partition(":")
        if iface.strip() == name:
            v = [int(x) for x in rest.split()]
            return {"rx_bytes": v[0], "rx_packets": v[1], "rx_dropped": v[3],
                    "tx_bytes": v[8], "tx_packets": v[9], "tx_dropped": v[11]}
    raise KeyError(f"no interface {name!r} in /proc/net/dev")


def softnet_dropped() -> int:
    """Packets dropped by full per-CPU backlogs (all CPUs, since boot)."""
    total = 0
    for line in read_file("/proc/net/softnet_stat").splitlines():
        total += int(line.split()[1], 16)
    return total


class DropCounters:
    """Interface and backlog drops between ``start()`` and ``read()``."""

    def __init__(self, sender: str, reader: str) -> None:
        self.sender, self.reader = sender, reader
        self.start()

    def _snapshot(self):
        s, r = if_counters(self.sender), if_counters(self.reader)
        return (s["tx_dropped"] + r["rx_dropped"], softnet_dropped(), r["rx_packets"])

    def start(self) -> None:
        self._base = self._snapshot()

    def read(self) -> dict[str, int]:
        now = self._snapshot()
        return {"if_drops": now[0] - self._base[0], "backlog_drops": now[1] - self._base[1],
                "if_rx_packets": now[2] - self._base[2]}
