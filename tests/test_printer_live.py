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
    out, path = _print_live(veth, tmp_path, sent, ["-e", "-nn", "-t", "-S"])
    want = tcpdump_lines(path, "-e", "-t", "-S").splitlines()
    got = out.decode().splitlines()
    assert got == want
    assert any("ethertype 802.1Q (0x8100)" in line and "vlan 42, p 5" in line for line in got)


def application_frames():
    """DNS (a question, an answer, NXDOMAIN, mDNS), an HTTP request and response, NTP
    and DHCP, as issue 21 asks live printing to show them as tcpdump does."""
    from scapy.layers.dhcp import BOOTP, DHCP
    from scapy.layers.dns import DNS, DNSQR, DNSRR
    from scapy.layers.ntp import NTP
    c, s = dict(src="10.1.0.1", dst="10.1.0.2"), dict(src="10.1.0.2", dst="10.1.0.1")
    query = DNSQR(qname="www.Example.test", qtype="AAAA")
    out = [
        eth() / IP(**c) / UDP(sport=40053, dport=53) / DNS(id=0x1234, rd=1, qd=query),
        eth() / IP(**s) / UDP(sport=53, dport=40053) / DNS(
            id=0x1234, qr=1, aa=1, qd=query,
            an=DNSRR(rrname="www.Example.test", type="AAAA", rdata="2001:db8::1")),
        eth() / IP(**s) / UDP(sport=53, dport=40053) / DNS(
            id=7, qr=1, rcode=3, qd=DNSQR(qname="nx.example.test")),
        eth() / IP(src="10.1.0.1", dst="224.0.0.251") / UDP(sport=5353, dport=5353) / DNS(
            qd=DNSQR(qname="printer.local", qtype="PTR", unicastresponse=1)),
        eth() / IP(**c) / TCP(sport=40080, dport=80, flags="PA", seq=1, ack=1) / (
            b"GET /index.html?q=1 HTTP/1.1\r\nHost: web.example.test\r\n"
            b"User-Agent: live/1.0\r\n\r\n"),
        eth() / IP(**s) / TCP(sport=80, dport=40080, flags="PA", seq=1, ack=80) / (
            b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
        eth() / IP(**c) / UDP(sport=123, dport=123) / NTP(version=4, mode=3),
        eth() / IP(**s) / UDP(sport=123, dport=123) / NTP(version=4, mode=4, stratum=2),
        eth() / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67) / BOOTP(
            chaddr=bytes.fromhex("020000000001"), xid=0x1234) / DHCP(options=[
                ("message-type", "request"), ("hostname", b"lab-host-7"),
                ("requested_addr", "10.1.0.42"), "end"]),
    ]
    return [f + bytes(max(0, 60 - len(f))) for f in map(bytes, out)]


@pytest.mark.parametrize("flags", [(), ("-v",)], ids=["plain", "v"])
def test_live_application_lines_are_tcpdumps_lines(veth, tmp_path, flags):
    sent = application_frames()
    out, path = _print_live(veth, tmp_path, sent, ["-nn", *flags])

    def untimed(text):       # the times are the capture's own
        return [line.split(" ", 1)[1] if line[:1].isdigit() else line
                for line in text.splitlines()]
    got, want = untimed(out.decode()), untimed(tcpdump_lines(path, *flags))
    assert got == want
    text = "\n".join(got)
    for seen in ("AAAA? www.Example.test.", "AAAA 2001:db8::1", "NXDomain", "PTR (QU)?",
                 "GET /index.html?q=1 HTTP/1.1", "NTPv4", "BOOTP/DHCP, Request"):
        assert seen in text, (seen, text)


def _print_live(veth, tmp_path, sent, flags):
    """``ringcap -i veth.b FLAGS`` printing the frames ``sent`` on veth.a; its
    stdout, and the same frames written to a pcap file for tcpdump."""
    err_path = tmp_path / "stderr.txt"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "ringcap", "-i", veth.b, "-c", str(len(sent)), *flags,
             "--duration", "30", "ether", "src", "02:00:00:00:00:01"],
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
    return out, write_file(tmp_path / "same.pcap", sent)
