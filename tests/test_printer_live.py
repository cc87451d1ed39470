"""Lines printed live by `ringcap -i IFACE` (no -w) are tcpdump's lines for the same frames.

Frames go out of one end of the test namespace's veth pair with a TxRing;
ringcap captures them on the other end and prints them.  tcpdump reads the
same frames from a file.  A VLAN tag is taken off by the receiving veth and
handed over as ring metadata; the line must still show it as tcpdump does.
"""
import subprocess
import sys
import time

import pytest

from conftest import DEADLINE
from ringcap import TxRing
from test_printer import (ARP, IP, TCP, UDP, Dot1Q, ICMPv6EchoRequest, IPv6, PACKAGE_ROOT,
                          conversation_v4, eth, tcpdump_lines, write_file)

pytestmark = pytest.mark.network


def frames():
    out = [bytes(f) for f in conversation_v4(40001, 40002, 1000, 2000)[:6]]
    out += [
        bytes(eth() / IP(src="10.1.0.1", dst="10.1.0.2") / UDP(sport=40030, dport=40040) / b"u"),
        bytes(eth() / IPv6(src="fe80::1", dst="fe80::2") / ICMPv6EchoRequest(id=1, seq=2)),
        bytes(eth("ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc="02:00:00:00:00:01", psrc="10.1.0.1",
                                              pdst="10.1.0.2")),
        bytes(eth() / Dot1Q(vlan=42, prio=5) / IP(src="10.1.0.1", dst="10.1.0.2")
              / TCP(sport=40001, dport=40002, flags="S", seq=7)),
    ]
    return [f + bytes(max(0, 60 - len(f))) for f in out]     # padded as on the wire


def test_live_lines_are_tcpdumps_lines(veth, tmp_path):
    sent = frames()
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ringcap", "-i", veth.b, "-c", str(len(sent)), "-e", "-nn",
             "-t", "-S", "--duration", "30", "ether", "src", "02:00:00:00:00:01"],
            cwd="/", env={"PATH": "/usr/bin:/bin", "PYTHONPATH": PACKAGE_ROOT},
            stdout=subprocess.PIPE, stderr=err)
    deadline = time.monotonic() + DEADLINE
    while b"listening on" not in err_path.read_bytes():
        assert proc.poll() is None and time.monotonic() < deadline, err_path.read_text()
        time.sleep(0.05)
    with TxRing(veth.a) as tx:
        tx.send(sent)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, err_path.read_text()
    path = write_file(tmp_path / "same.pcap", sent)
    want = tcpdump_lines(path, "-e", "-t", "-S").splitlines()
    got = out.decode().splitlines()
    assert got == want
    assert any("ethertype 802.1Q (0x8100)" in line and "vlan 42, p 5" in line for line in got)
