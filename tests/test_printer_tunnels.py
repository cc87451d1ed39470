"""Lines of a real tunnel: Linux's VXLAN, recorded by tcpdump, printed by ringcap as by tcpdump.

Two namespaces (this session's and a child's, joined by a veth pair) each
get a VXLAN device over it; ping, ping6 and the kernel's own ARP, neighbor
discovery and MLD reports cross it.  tcpdump records the veth, and
`ringcap -r` must print every packet as `tcpdump -r` does, the one inside
the tunnel included.  (This kernel's GRE, IP-in-IP and Geneve devices are
not available here; they are compared on built packets in test_printer.py.)
"""
import os
import signal
import subprocess
import time

import pytest

from conftest import DEADLINE, sh
from test_printer import packets, ringcap_lines, tcpdump_lines

pytestmark = pytest.mark.network


class PeerNamespace:
    """A child `unshare --net sleep` holding a second namespace; gone when it is killed."""

    def __init__(self) -> None:
        self.holder = subprocess.Popen(["unshare", "--net", "sleep", "infinity"],
                                       stdin=subprocess.DEVNULL)
        self.ns = f"/proc/{self.holder.pid}/ns/net"
        mine = os.stat("/proc/self/ns/net").st_ino
        deadline = time.monotonic() + DEADLINE
        while self.holder.poll() is None and os.stat(self.ns).st_ino == mine:
            assert time.monotonic() < deadline, "the peer namespace never came"
            time.sleep(0.01)
        assert self.holder.poll() is None, "unshare --net failed"

    def sh(self, command: str) -> str:
        return sh(f"nsenter --net={self.ns} -- sh -c '{command}'")

    def close(self) -> None:
        self.holder.kill()
        self.holder.wait()


def _echo_replies(path) -> int:
    proc = subprocess.run(["tcpdump", "-nn", "-r", str(path)], capture_output=True, text=True)
    return proc.stdout.count("echo reply")


def test_real_vxlan_traffic_prints_as_tcpdump(netns, tmp_path):
    peer = PeerNamespace()
    capture = None
    path = tmp_path / "vxlan.pcap"
    try:
        sh(f"ip link add rcvx0 type veth peer name rcvx1 netns {peer.holder.pid}")
        sh("ip addr add 192.0.2.1/24 dev rcvx0 && ip link set rcvx0 up")
        peer.sh("ip link set lo up && ip addr add 192.0.2.2/24 dev rcvx1 && ip link set rcvx1 up")
        for run, here, there, dev in ((sh, 1, 2, "rcvx0"), (peer.sh, 2, 1, "rcvx1")):
            run(f"ip link add rcvxl type vxlan id 42 remote 192.0.2.{there} dstport 4789 dev {dev}"
                f" && echo 0 > /proc/sys/net/ipv6/conf/rcvxl/disable_ipv6"
                f" && ip addr add 10.9.0.{here}/24 dev rcvxl"
                f" && ip -6 addr add fd09::{here}/64 dev rcvxl nodad && ip link set rcvxl up")
        capture = subprocess.Popen(["tcpdump", "-i", "rcvx0", "-n", "-s", "0", "-U",
                                    "--immediate-mode", "-Z", "root", "-w", str(path)],
                                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        assert "listening on" in capture.stderr.readline()
        sh("ping -c 3 -i 0.2 -W 5 10.9.0.2 && ping -6 -c 3 -i 0.2 -W 5 fd09::2"
           " && ping -c 2 -s 1200 -W 5 10.9.0.2")
        deadline = time.monotonic() + DEADLINE
        while _echo_replies(path) < 8:      # every reply is in the file
            assert time.monotonic() < deadline, "tcpdump did not record the replies"
            time.sleep(0.05)
        capture.send_signal(signal.SIGINT)
        capture.communicate(timeout=DEADLINE)
    finally:
        if capture is not None and capture.poll() is None:
            capture.kill()
            capture.communicate()
        peer.close()
        subprocess.run(["ip", "link", "del", "rcvxl"], capture_output=True)
        subprocess.run(["ip", "link", "del", "rcvx0"], capture_output=True)
    plain = ringcap_lines(path)
    assert plain.count("VXLAN, flags [I] (0x08), vni 42\n") >= 8, plain
    assert "ARP, Request who-has 10.9.0.2 tell 10.9.0.1" in plain
    for flags in ((), ("-e",), ("-v",), ("-vv",), ("-q",), ("-e", "-v")):
        ours, theirs = ringcap_lines(path, *flags), tcpdump_lines(path, *flags)
        bad = [(o, t) for o, t in zip(packets(ours), packets(theirs)) if o != t]
        assert not bad, "\n".join(f"ringcap: {o}\ntcpdump: {t}" for o, t in bad)
        assert ours == theirs
