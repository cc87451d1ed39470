"""Test session setup: a private network namespace for every network test.

As root, the session moves itself into a new network namespace before any
test runs (``unshare(CLONE_NEWNET)``), so every veth pair, packet and
address the tests use exists only there and disappears with the process.
Without root, network tests skip, unless ``RINGCAP_REQUIRE_NETWORK=1`` (set
by ``.ci/run``), which turns that skip, and any other skip, into a failure.
"""
from __future__ import annotations

import ctypes
import importlib.util
import itertools
import os
import subprocess
import sys
from pathlib import Path

import pytest

CLONE_NEWNET = 0x40000000
REQUIRE_NETWORK = os.environ.get("RINGCAP_REQUIRE_NETWORK", "") not in ("", "0")
# Packets the tests send carry this local-experimental ethertype and a sequence number.
TEST_ETHERTYPE = 0x88B5
BACKLOG = 300000

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


def pytest_configure(config):
    global _netns_error
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

