"""Packet lines: `ringcap -r FILE` against `tcpdump -r FILE` on the same generated files.

Both run as real subprocesses.  A ringcap line must equal tcpdump's, or be
the start of it followed by ": " where tcpdump goes on to decode an
application protocol (HTTP, DNS, ...), which ringcap does not.
"""
import os
import random
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import ringcap
from ringcap import _text
from ringcap.cli.printer import PacketPrinter

scapy = pytest.importorskip("scapy.all")
from scapy.all import (ARP, ICMP, IP, LLC, TCP, UDP, Dot1Q, Ether, ICMPv6DestUnreach,  # noqa: E402
                       ICMPv6EchoReply, ICMPv6EchoRequest, ICMPv6MLDMultAddrRec, ICMPv6MLReport2,
                       ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RS, ICMPv6TimeExceeded, IPv6,
                       IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, Raw, RouterAlert,
                       ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr)

PACKAGE_ROOT = os.path.dirname(os.path.dirname(ringcap.__file__))
TZ = "Asia/Kolkata"     # a +05:30 offset: local time must be computed, not assumed UTC
A, B = "02:00:00:00:00:01", "02:00:00:00:00:02"


def eth(dst=B):
    return Ether(src=A, dst=dst)


def conversation_v4(sport, dport, isn_a, isn_b):
    c, s = dict(src="10.1.0.1", dst="10.1.0.2"), dict(src="10.1.0.2", dst="10.1.0.1")
    opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (11, 0)), ("NOP", None), ("WScale", 7)]
    return [
        eth() / IP(**c, id=1) / TCP(sport=sport, dport=dport, flags="S", seq=isn_a, window=64240,
                                    options=opts),
        eth() / IP(**s, flags="DF") / TCP(sport=dport, dport=sport, flags="SA", seq=isn_b,
                                          ack=isn_a + 1, window=65160, options=opts[:2]),
        eth() / IP(**c) / TCP(sport=sport, dport=dport, flags="A", seq=isn_a + 1, ack=isn_b + 1),
        eth() / IP(**c) / TCP(sport=sport, dport=dport, flags="PA", seq=isn_a + 1,
                              ack=isn_b + 1) / Raw(b"hello there\r\n"),
        eth() / IP(**s) / TCP(sport=dport, dport=sport, flags="A", seq=isn_b + 1,
                              ack=isn_a + 14, options=[("NOP", None), ("NOP", None),
                                                       ("SAck", (isn_a + 20, isn_a + 30))]),
        eth() / IP(**s) / TCP(sport=dport, dport=sport, flags="PA", seq=isn_b + 1,
                              ack=isn_a + 14) / Raw(bytes(range(256)) * 2),
        eth() / IP(**c) / TCP(sport=sport, dport=dport, flags="FA", seq=isn_a + 14,
                              ack=isn_b + 513),
        eth() / IP(**s) / TCP(sport=dport, dport=sport, flags="R", seq=isn_b + 513),
        eth() / IP(**c) / TCP(sport=sport, dport=dport, flags="UAPRSFEC", seq=5, ack=6,
                              urgptr=9, options=[("EOL", None)]),
        eth() / IP(**c) / TCP(sport=sport, dport=dport, flags=0, seq=1, window=0),
    ]


def sample_frames():
    frames = conversation_v4(40001, 40002, 1000, 4_000_000_000)
    frames += conversation_v4(40002, 40002, 77, 99)            # equal ports: address order
    v6 = dict(src="2001:db8::1", dst="2001:db8:0:0:1::2")
    frames += [
        eth() / IPv6(**v6) / TCP(sport=40010, dport=40020, flags="S", seq=10),
        eth() / IPv6(src=v6["dst"], dst=v6["src"]) / TCP(sport=40020, dport=40010, flags="SA",
                                                          seq=20, ack=11),
        eth() / IPv6(**v6) / TCP(sport=40010, dport=40020, flags="PA", seq=11, ack=21) / b"v6",
        eth() / IP(src="10.1.0.1", dst="10.1.0.2") / UDP(sport=40030, dport=40040) / (b"u" * 20),
        eth() / IPv6(src="fe80::1", dst="ff02::1:ff00:2") / UDP(sport=40030, dport=40040) / b"x",
        eth() / IPv6(src="::1", dst="::ffff:10.1.2.3") / UDP(sport=40030, dport=40040),
        eth() / IPv6(src="1:0:0:1::", dst="::") / UDP(sport=40030, dport=40040),
        eth() / IP(src="10.1.0.1", dst="10.1.0.2") / ICMP(type=8, id=7, seq=1) / (b"p" * 56),
        eth() / IP(src="10.1.0.2", dst="10.1.0.1") / ICMP(type=0, id=7, seq=1) / (b"p" * 56),
        eth() / IP(src="10.1.0.2", dst="10.1.0.1") / ICMP(type=3, code=3)
        / IP(src="10.1.0.1", dst="10.1.0.2") / UDP(sport=40030, dport=40040),
        eth() / IP(src="10.1.0.2", dst="10.1.0.1") / ICMP(type=3, code=1)
        / IP(src="10.1.0.1", dst="10.9.9.9") / UDP(sport=40030, dport=40040),
        eth() / IP(src="10.1.0.2", dst="10.1.0.1") / ICMP(type=11, code=0)
        / IP(src="10.1.0.1", dst="10.1.0.2") / UDP(sport=40030, dport=40040),
        eth() / IP(src="10.1.0.2", dst="10.1.0.1") / ICMP(type=13, ts_ori=1, ts_rx=2, ts_tx=3),
        eth() / IPv6(src="fe80::1", dst="fe80::2") / ICMPv6EchoRequest(id=3, seq=4, data=b"q" * 8),
        eth() / IPv6(src="fe80::2", dst="fe80::1") / ICMPv6EchoReply(id=3, seq=4, data=b"q" * 8),
        eth() / IPv6(src="fe80::1", dst="ff02::1:ff00:2") / ICMPv6ND_NS(tgt="fe80::2"),
        eth() / IPv6(src="fe80::2", dst="fe80::1") / ICMPv6ND_NA(tgt="fe80::2"),
        eth("ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=A, psrc="10.1.0.1", pdst="10.1.0.2"),
        eth() / ARP(op=1, hwsrc=A, psrc="10.1.0.1", hwdst=B, pdst="10.1.0.2"),
        eth() / ARP(op=2, hwsrc=B, psrc="10.1.0.2", hwdst=A, pdst="10.1.0.1") / (b"\0" * 18),
        eth() / Dot1Q(vlan=100, prio=3) / IP(src="10.1.0.1", dst="10.1.0.2")
        / UDP(sport=40030, dport=40040) / b"v",
        eth() / Dot1Q(vlan=100) / Dot1Q(vlan=200, dei=1) / IP(src="10.1.0.1", dst="10.1.0.2")
        / TCP(sport=40001, dport=40002, flags="S", seq=3),
        eth() / Dot1Q(vlan=7) / ARP(op=1, hwsrc=A, psrc="10.1.0.1", pdst="10.1.0.2"),
        Ether(src=A, dst=B, type=0x1234) / Raw(b"abcdefgh" * 6),
        Ether(src=A, dst=B, type=0x88B5) / Raw(b"\x00\x01\r\n\tz" * 3),
        Ether(src=A, dst=B, type=0x88B5) / Raw(b"ab\rcd\r\r\nef\rg\r"),     # CRs where -A drops them
        Ether(src=A, dst=B, type=0x88B5) / Raw(b"ab\rcd\rgh\rx"),
        eth() / IP(src="10.1.0.1", dst="10.1.0.2", flags="MF", id=9)
        / UDP(sport=40030, dport=40040) / (b"z" * 40),
        eth() / IP(src="10.1.0.1", dst="10.1.0.2", frag=3, proto=17, id=9) / (b"z" * 40),
        eth() / IP(src="10.1.0.1", dst="10.1.0.2", proto=253, tos=0x13, ttl=3) / (b"z" * 10),
        # IPv6 extension headers, MLDv2, ICMPv6 errors quoting a packet
        eth("33:33:00:00:00:16") / IPv6(src="fe80::1", dst="ff02::16")
        / IPv6ExtHdrHopByHop(options=RouterAlert())
        / ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(dst="ff02::fb")]),
        eth() / IPv6(src="fe80::1", dst="fe80::2") / IPv6ExtHdrFragment(id=9, offset=0, m=1)
        / UDP(sport=40030, dport=40040) / (b"x" * 20),
        eth() / IPv6(src="fe80::1", dst="fe80::2") / IPv6ExtHdrFragment(id=9, offset=3, nh=17)
        / (b"x" * 20),
        eth() / IPv6(src="fe80::1", dst="fe80::2") / IPv6ExtHdrDestOpt()
        / TCP(sport=40001, dport=40002, flags="S", seq=5),
        eth() / IPv6(src="fe80::1", dst="ff02::2") / ICMPv6ND_RS(),
        eth() / IPv6(src="fe80::2", dst="fe80::1") / ICMPv6DestUnreach(code=4)
        / IPv6(src="fe80::1", dst="fe80::2") / UDP(sport=40030, dport=40040),
        eth() / IPv6(src="fe80::2", dst="fe80::1") / ICMPv6TimeExceeded()
        / IPv6(src="fe80::1", dst="fe80::9") / UDP(sport=40030, dport=40040),
    ]
    return [bytes(f) for f in frames]


def write_file(path, frames, *, start=1_700_000_000_123_456_000, caplen=None):
    ts = [start + i * 1_234_567 for i in range(len(frames))]
    wirelen = [len(f) for f in frames]
    if caplen is not None:
        frames = [f[:caplen] for f in frames]
    batch = ringcap.Batch.from_packets(frames, ts=ts)
    batch.wirelen[:] = wirelen
    ringcap.write_pcap(path, batch, nanosecond=False)
    return path


def run(argv, **kwargs):
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT, "TZ": TZ}
    return subprocess.run(argv, cwd="/", env=env, capture_output=True, text=True, timeout=120,
                          **kwargs)


def ringcap_lines(path, *flags):
    proc = run([sys.executable, "-m", "ringcap", *flags, "-r", str(path)])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def tcpdump_lines(path, *flags):
    # always numeric: ringcap never looks names up (OUIs, protocol names, ports)
    proc = run(["tcpdump", "-nn", *flags, "-r", str(path)])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def packets(text):
    """Split output into per-packet chunks (a line and its indented continuation lines)."""
    chunks = []
    for line in text.splitlines():
        if line.startswith(("\t", "    ")) or not chunks:
            if chunks:
                chunks[-1] += "\n" + line
                continue
        chunks.append(line)
    return chunks


def agree(ours, theirs):
    return ours == theirs or theirs.startswith(ours + ": ")


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return write_file(tmp_path_factory.mktemp("print") / "sample.pcap", sample_frames())


@pytest.mark.parametrize("flags", [("-nn",), ("-n", "-e"), ("-q",), ("-e", "-q"), ("-S",),
                                   ("-tt",), ("-ttt",), ("-tttt",), ("-ttttt",), ("-t", "-e"),
                                   ("--time-stamp-precision", "nano")])
def test_lines_match_tcpdump(sample, flags):
    ours, theirs = packets(ringcap_lines(sample, *flags)), packets(tcpdump_lines(sample, *flags))
    assert len(ours) == len(theirs) == len(sample_frames())
    bad = [(o, t) for o, t in zip(ours, theirs) if not agree(o, t)]
    assert not bad, "\n".join(f"ringcap: {o}\ntcpdump: {t}" for o, t in bad)


@pytest.mark.parametrize("flags", [("-x",), ("-X",), ("-A",), ("-xx",), ("-XX",), ("-e", "-X")])
def test_payload_dumps_match_tcpdump(sample, flags):
    ours, theirs = packets(ringcap_lines(sample, *flags)), packets(tcpdump_lines(sample, *flags))
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        head_o, _, dump_o = o.partition("\n")
        head_t, _, dump_t = t.partition("\n")
        if head_o != head_t:         # tcpdump decoded an application protocol: dumps still agree
            assert head_t.startswith(head_o + ": "), (o, t)
            dump_t = "\n".join(l for l in t.split("\n")[1:] if l.startswith("\t0x")) \
                if "x" in flags[-1].lower() else dump_t
        assert dump_o == dump_t, f"ringcap:\n{o}\ntcpdump:\n{t}"


def test_verbose_ip_header_matches_tcpdump(tmp_path):
    frames = [f for f in sample_frames()
              if b"\x08\x00" == f[12:14] and f[23] in (1, 6, 17) and f[20:22] in (b"\0\0", b"\x40\0")]
    frames += [bytes(eth() / IP(src="1.2.3.4", dst="5.6.7.8", tos=0x12, flags="DF", ttl=3, id=999)
                     / TCP(sport=40000, dport=40001, flags="A", seq=5, ack=6)),
               bytes(eth() / IPv6(src="::1", dst="::2", tc=0x10, fl=0x12345)
                     / UDP(sport=40000, dport=40001))]
    path = write_file(tmp_path / "v.pcap", frames)
    ours, theirs = packets(ringcap_lines(path, "-v")), packets(tcpdump_lines(path, "-v"))
    assert len(ours) == len(theirs) == len(frames)
    for o, t in zip(ours, theirs):
        assert agree(o, t), f"ringcap: {o}\ntcpdump: {t}"


def test_8023_frames_print_the_llc_header_as_tcpdump_e(tmp_path):
    frames = [bytes(Ether(src=A, dst="01:80:c2:00:00:00", type=38) / LLC(dsap=0x42, ssap=0x42,
                                                                        ctrl=3) / (b"\0" * 35)),
              bytes(Ether(src=A, dst=B, type=30) / LLC(dsap=0xE0, ssap=0xE0, ctrl=3) / (b"\1" * 27))]
    path = write_file(tmp_path / "llc.pcap", frames)
    ours = ringcap_lines(path, "-e").splitlines()
    theirs = tcpdump_lines(path, "-e").splitlines()
    assert len(ours) == 2
    # a spanning tree BPDU as tcpdump prints it (tests/test_printer_lan.py)
    assert ours[0] == theirs[0] and ours[0].endswith(
        "ctrl 0x03: STP 802.1d, Config, Flags [none], bridge-id 0000.00:00:00:00:00:00.0000, length 35")
    common = ours[1].rsplit(", length", 1)[0]
    assert theirs[1].startswith(common + ": "), (ours[1], theirs[1])
    assert ours[1].endswith(", ctrl 0x03, length 27")
    plain = ringcap_lines(path).splitlines()
    assert plain[0] == tcpdump_lines(path).splitlines()[0]
    assert plain[1].split(" ", 1)[1] == ("LLC, dsap IPX (0xe0) Individual, ssap IPX (0xe0) "
                                         "Command, ctrl 0x03, length 27")


def test_truncated_frames_print_what_was_captured(tmp_path):
    path = write_file(tmp_path / "cut.pcap", sample_frames(), caplen=40)
    ours = ringcap_lines(path).splitlines()
    theirs = tcpdump_lines(path).splitlines()
    assert len(ours) == len(theirs)
    for o, t in zip(ours, theirs):
        # both print the time and the addresses of whatever survived the cut
        assert o.split(":")[0] == t.split(":")[0]
        assert o.split(" > ")[0] == t.split(" > ")[0], (o, t)


def test_transport_headers_cut_short_print_tcpdumps_markers(tmp_path):
    # tcpdump prints "a.1 > b.2:  [|tcp]" (two spaces); an IPv6 packet with no next
    # header prints "no next header", cut or not.
    import struct
    frames, cuts = [], []
    for l3, header in ((IP(src="10.0.0.1", dst="10.0.0.2"), 20), (IPv6(src="::1", dst="::2"), 40)):
        for l4 in (TCP(sport=1, dport=2), UDP(sport=1, dport=2), ICMP()):
            if header == 40 and isinstance(l4, ICMP):
                l4 = ICMPv6EchoRequest()
            full = bytes(eth() / l3 / l4 / Raw(b"x" * 20))
            for cut in ((0, 2, 4, 7, 12, 19) if isinstance(l4, TCP) else
                        (0, 2, 4, 7) if isinstance(l4, (UDP, ICMP)) else (0,)):
                frames.append(full)
                cuts.append(14 + header + cut)
    frames.append(bytes(eth() / IPv6(src="::1", dst="::2", nh=59) / Raw(b"abcd")))
    cuts.append(len(frames[-1]))
    frames.append(frames[-1])
    cuts.append(14 + 40 + 2)
    path = tmp_path / "cut.pcap"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (frame, cut) in enumerate(zip(frames, cuts)):
            f.write(struct.pack("<IIII", 1_700_000_000, i, cut, len(frame)) + frame[:cut])
    for flags in ((), ("-v",)):
        ours, theirs = packets(ringcap_lines(path, *flags)), packets(tcpdump_lines(path, *flags))
        assert len(ours) == len(theirs) == len(frames)
        bad = [(o, t) for o, t in zip(ours, theirs) if o != t]
        assert not bad, "\n".join(f"ringcap: {o}\ntcpdump: {t}" for o, t in bad)


@pytest.mark.parametrize("flags", [(), ("-v",), ("-e",), ("-q",)])
def test_icmpv6_cut_short_names_its_type_as_tcpdump(tmp_path, flags):
    # tcpdump names the type (and what the captured bytes give) before
    # "[|icmp6]"; ringcap printed "a > b:  [|icmp6]" whatever was captured
    frames, wirelen = [], []
    for kind, code in [(1, 0), (1, 4), (2, 0), (3, 0), (4, 0), (128, 0), (129, 0), (131, 0),
                       (132, 0), (133, 0), (134, 0), (135, 0), (136, 0), (137, 0), (143, 0)]:
        whole = bytes(eth() / IPv6(src="fe80::1", dst="fe80::2", nh=58)
                      / Raw(bytes([kind, code]) + bytes(62)))
        for captured in range(0, 8):
            frames.append(whole[:54 + captured])
            wirelen.append(len(whole))
    batch = ringcap.Batch.from_packets(frames, ts=[1_700_000_000_000_000_000 + i * 1000 for i in range(len(frames))])
    batch.wirelen[:] = wirelen
    path = tmp_path / "icmp6-cut.pcap"
    ringcap.write_pcap(path, batch, nanosecond=False)
    ours, theirs = ringcap_lines(path, *flags), tcpdump_lines(path, *flags)
    bad = [(o, t) for o, t in zip(packets(ours), packets(theirs)) if o != t]
    assert not bad, "\n".join(f"ringcap: {o}\ntcpdump: {t}" for o, t in bad)
    assert "ICMP6, echo request [|icmp6]" in ours


def test_times_before_1970_print_the_day_and_time_tcpdump_prints(tmp_path):
    # A pcapng interface's if_tsoffset can put packets before the epoch: the day was
    # taken with C's truncating division, printing 05:19:55 on the 8th for 18:40:05 on the 7th.
    import struct

    def block(btype, body):
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    frame = bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP())
    raw = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    raw += block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HHq", 14, 8, -3_000_000_000)
                 + struct.pack("<HH", 0, 0))                         # if_tsoffset: 1874
    for units in (5_000_000, 5_000_001, 86_399_000_000):             # (microseconds)
        raw += block(6, struct.pack("<IIIII", 0, units >> 32, units & 0xFFFFFFFF, len(frame),
                                    len(frame)) + frame + b"\0" * (-len(frame) % 4))
    path = tmp_path / "old.pcapng"
    path.write_bytes(raw)
    for flags in ((), ("-tttt",), ("-ttttt",)):
        ours, theirs = ringcap_lines(path, *flags), tcpdump_lines(path, *flags)
        assert ours.splitlines() == theirs.splitlines()
    assert ringcap_lines(path, "-tttt").startswith("1874-12-08 00:01:15.000000 ")   # (Kolkata)


def tunnel_frames():
    # GRE (key, sequence, checksum; IPv4, IPv6, Ethernet, MPLS and unknown
    # payloads; PPTP's version 1), IP-in-IP both ways, VXLAN, Geneve, MPLS
    from scapy.contrib.geneve import GENEVE
    from scapy.contrib.mpls import MPLS
    from scapy.layers.dns import DNS, DNSQR
    from scapy.layers.inet import GRE
    from scapy.layers.vxlan import VXLAN
    outer, outer6 = dict(src="192.0.2.1", dst="192.0.2.2"), dict(src="2001:db8::1", dst="2001:db8::2")
    inner_eth = Ether(src="02:00:00:00:00:03", dst="02:00:00:00:00:04")
    ping = IP(src="10.1.0.1", dst="10.1.0.2") / ICMP(id=1, seq=2) / b"abcd"
    ping6 = IPv6(src="fd00::1", dst="fd00::2") / ICMPv6EchoRequest(id=1, seq=2)
    syn = IP(src="10.1.0.1", dst="10.1.0.2") / TCP(sport=1000, dport=80, flags="S", seq=5)
    udp = IP(src="10.1.0.1", dst="10.1.0.2") / UDP(sport=1000, dport=2000) / (b"x" * 10)
    dns = IP(src="10.1.0.1", dst="10.1.0.2") / UDP(sport=5353, dport=53) \
        / DNS(rd=1, qd=DNSQR(qname="example.com"))
    fragment = IP(src="10.1.0.1", dst="10.1.0.2", flags="MF", id=5) / UDP(sport=1, dport=2) \
        / (b"z" * 20)
    frames = [
        eth() / IP(**outer) / GRE() / ping,
        eth() / IP(**outer) / GRE(key_present=1, key=7, seqnum_present=1, sequence_number=9) / ping,
        eth() / IP(**outer) / GRE(chksum_present=1) / ping6,
        eth() / IP(**outer) / GRE(chksum_present=1, key_present=1, key=0xDEADBEEF) / syn,
        eth() / IP(**outer) / GRE(proto=0x6558) / inner_eth / ping,
        eth() / IP(**outer) / GRE(proto=0x8847) / MPLS(label=100, s=1) / ping,
        eth() / IP(**outer) / GRE() / dns,
        eth() / IP(**outer) / GRE() / fragment,
        eth() / IP(**outer) / GRE(proto=0x0000),
        eth() / IP(**outer) / GRE(proto=0x88BE, seqnum_present=1) / (b"\x10" * 8) / inner_eth / ping,
        eth() / IP(**outer) / GRE(proto=0x880B, version=1, key_present=1, key=0x00050007),
        eth() / IP(**outer) / GRE(version=3) / ping,
        eth() / IPv6(**outer6) / GRE() / syn,
        eth() / IP(**outer) / UDP(sport=1234, dport=4789) / VXLAN(vni=5) / inner_eth / ping,
        eth() / IP(**outer) / UDP(sport=4789, dport=4789) / VXLAN(vni=42, flags=0x08) / inner_eth / syn,
        eth() / IP(**outer) / UDP(sport=1, dport=4789) / VXLAN(vni=7, flags=0) / inner_eth / dns,
        eth() / IP(**outer) / UDP(sport=1, dport=4789) / VXLAN(vni=7) / inner_eth
        / ARP(hwsrc="02:00:00:00:00:03", psrc="10.1.0.1", pdst="10.1.0.2"),
        eth() / IP(**outer) / GRE() / IPv6(src="fd00::1", dst="ff02::16") / IPv6ExtHdrHopByHop(
            options=RouterAlert()) / ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(dst="ff02::fb")]),
        eth() / IP(**outer) / UDP(sport=1234, dport=6081) / GENEVE(vni=9, proto=0x6558) / inner_eth / ping,
        eth() / IP(**outer) / UDP(sport=1, dport=6081) / GENEVE(vni=9, proto=0x0800, critical=1, oam=1)
        / ping,
        eth() / IP(**outer) / ping,
        eth() / IP(**outer) / ping6,
        eth() / IPv6(**outer6) / ping,
        eth() / IPv6(**outer6) / ping6,
        eth() / MPLS(label=100, s=1, ttl=64) / ping,
        eth() / MPLS(label=100, s=0, ttl=64) / MPLS(label=200, s=1, ttl=63) / udp,
        eth() / MPLS(label=100, s=1, ttl=64) / ping6,
        eth() / Dot1Q(vlan=5) / MPLS(label=100, s=1, ttl=64) / syn,
        eth() / MPLS(label=0, s=1, ttl=64) / ping,           # reserved labels: named at -v
        eth() / MPLS(label=1, s=0, ttl=64) / MPLS(label=2, s=1, ttl=64) / ping6,
    ]
    return [bytes(f) for f in frames]


@pytest.mark.parametrize("flags", [(), ("-e",), ("-q",), ("-v",), ("-vv",), ("-e", "-q"),
                                   ("-e", "-v"), ("-q", "-v"), ("-x",), ("-S",)])
def test_tunnelled_packets_print_the_packet_inside_as_tcpdump(tmp_path, flags):
    # tcpdump 4.99 prints the outer packet, then the one inside on the same
    # line (VXLAN: on the next line).  Before, ringcap stopped at the outer
    # packet: "IP 192.0.2.1 > 192.0.2.2:  ip-proto-47 36", "UDP, length 54",
    # and an MPLS frame as an unknown ethertype's hex dump.
    path = write_file(tmp_path / "tunnels.pcap", tunnel_frames())
    ours, theirs = ringcap_lines(path, *flags), tcpdump_lines(path, *flags)
    bad = [(o, t) for o, t in zip(packets(ours), packets(theirs)) if o != t]
    assert not bad, "\n".join(f"ringcap: {o}\ntcpdump: {t}" for o, t in bad)
    assert ours == theirs


def test_tunnels_printed_without_their_inside_where_tcpdump_uses_code_ringcap_lacks(tmp_path):
    # One level is printed; a tunnel in a tunnel, a VLAN-tagged VXLAN frame, PPTP's
    # PPP, an inner packet longer than its tunnel, MPLS over OSI keep the
    # line without the packet inside (never a wrong one), as listed in
    # docs/printing.md.
    from scapy.contrib.mpls import MPLS
    from scapy.layers.inet import GRE
    from scapy.layers.vxlan import VXLAN
    outer = dict(src="192.0.2.1", dst="192.0.2.2")
    ping = IP(src="10.1.0.1", dst="10.1.0.2") / ICMP(id=1, seq=2)
    frames = [eth() / IP(**outer) / GRE() / IP(src="10.2.0.1", dst="10.2.0.2") / GRE() / ping,
              eth() / IP(**outer) / UDP(sport=1, dport=4789) / VXLAN(vni=5)
              / Ether(src=A, dst=B) / Dot1Q(vlan=3) / ping,
              eth() / IP(**outer) / GRE(proto=0x880B, version=1, key_present=1, seqnum_present=1)
              / b"\xff\x03\x00\x21",
              eth() / IP(**outer) / IP(src="10.1.0.1", dst="10.1.0.2", len=200) / ICMP(),
              eth() / MPLS(label=17, s=1, ttl=64) / b"\x81abcdefgh"]
    path = write_file(tmp_path / "left.pcap", [bytes(f) for f in frames])
    lines = [line.split(" ", 1)[1] for line in ringcap_lines(path).splitlines()]
    assert lines[:4] == [
        "IP 192.0.2.1 > 192.0.2.2: GREv0, length 56: IP 10.2.0.1 > 10.2.0.2:  ip-proto-47 32",
        "IP 192.0.2.1.1 > 192.0.2.2.4789: UDP, length 54",
        "IP 192.0.2.1 > 192.0.2.2:  ip-proto-47 16",
        "IP 192.0.2.1 > 192.0.2.2:  ip-proto-4 28"]
    assert lines[4].startswith("02:00:00:00:00:01 > 02:00:00:00:00:02, ethertype MPLS unicast")
    # cut by the snap length anywhere: a line each, as before the tunnel
    for caplen in range(14, 80, 3):
        cut = write_file(tmp_path / f"cut{caplen}.pcap", tunnel_frames(), caplen=caplen)
        assert len(packets(ringcap_lines(cut, "-v"))) >= len(tunnel_frames())


def test_random_tcp_and_udp_headers_match_tcpdump(tmp_path):
    rng = random.Random(8)
    frames = []
    for _ in range(300):
        src = ".".join(str(rng.randrange(1, 255)) for _ in range(4))
        dst = ".".join(str(rng.randrange(1, 255)) for _ in range(4))
        sport, dport = rng.randrange(32768, 65536), rng.randrange(32768, 65536)
        payload = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        if rng.random() < 0.6:
            opts = rng.choice([[], [("MSS", rng.randrange(65536))], [("WScale", rng.randrange(15))],
                               [("NOP", None), ("NOP", None), ("Timestamp", (rng.randrange(2**32),
                                                                          rng.randrange(2**32)))]])
            l4 = TCP(sport=sport, dport=dport, flags=rng.randrange(256), seq=rng.randrange(2**32),
                     ack=rng.randrange(2**32), window=rng.randrange(65536),
                     urgptr=rng.randrange(65536), options=opts)
        else:
            l4 = UDP(sport=sport, dport=dport)
        if rng.random() < 0.3:
            ip = IPv6(src=f"2001:db8::{rng.randrange(65536):x}", dst=f"fe80::{rng.randrange(65536):x}")
        else:
            ip = IP(src=src, dst=dst, ttl=rng.randrange(1, 256), id=rng.randrange(65536))
        frames.append(bytes(eth() / ip / l4 / payload))
    for i in range(0, len(frames), 7):      # some checksums wrong on purpose
        frame = bytearray(frames[i])
        frame[-1] ^= 0x5A
        frames[i] = bytes(frame)
    path = write_file(tmp_path / "random.pcap", frames)
    for flags in ((), ("-e",), ("-v",), ("-vv",)):
        ours = packets(ringcap_lines(path, *flags))
        theirs = packets(tcpdump_lines(path, *flags))
        assert len(ours) == len(theirs) == len(frames)
        for o, t in zip(ours, theirs):
            assert agree(o, t), f"ringcap: {o}\ntcpdump: {t}"


# ---------------------------------------------------------------- the formatter directly
def format_all(batch, **options):
    import io
    out = io.BytesIO()
    PacketPrinter(out, **options).print_batch(batch)
    return out.getvalue()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=120), min_size=1, max_size=20),
       st.sampled_from([{}, {"link_header": True}, {"verbose": 1, "payload": "X"},
                        {"quiet": True, "payload": "A"}, {"payload": "xx"}]))
def test_any_bytes_print_one_line_each_within_the_promised_room(raw, options):
    # arbitrary frames, many starting like real headers, never crash or overrun
    frames = [bytes.fromhex("020000000002020000000001") + bytes([r[0] % 4 and 8 or 0x86,
                                                               r[0] % 2 and 0 or 0xDD]) + r[1:]
              if r and r[0] % 3 == 0 else r for r in raw]
    batch = ringcap.Batch.from_packets(frames, ts=np.arange(len(frames)) * 10**9)
    text = format_all(batch, **options)
    assert len(text) <= sum(_text.bytes_needed(len(f)) for f in frames)
    lines = [l for l in text.split(b"\n") if l and not l.startswith((b"\t", b"    "))]
    if not options.get("payload") == "A":
        assert len(lines) == len(frames)


@pytest.mark.parametrize("options", [{"link_header": True, "verbose": 2, "payload": "A"},
                                     {"payload": "XX"}, {"payload": "A"}])
def test_worst_case_frames_stay_within_the_promised_room(options):
    # thousands of stacked VLAN tags, and a big unknown-ethertype frame that
    # gets both the default hex dump and the -A text
    stacked = bytes.fromhex("020000000002020000000001") + bytes.fromhex("81000064") * 5000 \
        + b"\x08\x00" + bytes(40)
    unknown = bytes.fromhex("02000000000202000000000188b5") + bytes(range(256)) * 200
    frames = [stacked, unknown, stacked[:17], unknown[:15]]
    batch = ringcap.Batch.from_packets(frames, ts=[0] * len(frames))
    text = format_all(batch, **options)
    assert len(text) <= sum(_text.bytes_needed(len(f)) for f in frames)
    if options.get("link_header"):
        assert text.count(b"vlan 100, p 0") == 8 and b"[...]" in text


def test_a_small_buffer_is_refilled_not_overrun():
    frames = [bytes(eth() / IP() / UDP() / (b"x" * 1400))] * 5000
    batch = ringcap.Batch.from_packets(frames, ts=np.arange(5000) * 1000)
    text = format_all(batch, payload="X")
    assert text.count(b"UDP, length 1400") == 5000
    assert text.count(b"\t0x0570:  7878 7878") == 5000


def test_relative_sequence_numbers_carry_across_batches():
    frames = [bytes(f) for f in conversation_v4(40001, 40002, 1000, 5000)[:4]]
    import io
    out = io.BytesIO()
    printer = PacketPrinter(out, timestamps="none")
    for f in frames:
        printer.print_batch(ringcap.Batch.from_packets([f], ts=[0]))
    lines = out.getvalue().decode().splitlines()
    assert "seq 1000," in lines[0] and "seq 5000, ack 1001," in lines[1]
    assert "Flags [.], ack 1, win" in lines[2]
    assert "seq 1:14, ack 1, win" in lines[3]


def test_printer_options_are_checked():
    import io
    with pytest.raises(ValueError, match="timestamps"):
        PacketPrinter(io.BytesIO(), timestamps="sundial")
    with pytest.raises(ValueError, match="payload"):
        PacketPrinter(io.BytesIO(), payload="hexx")
    with pytest.raises(ValueError, match="-t to -ttttt"):
        PacketPrinter(io.BytesIO(), timestamps=6)


def test_a_tag_the_kernel_stripped_prints_as_tcpdump_shows_it(tmp_path):
    # Live captures get VLAN tags as metadata (TP_STATUS_VLAN_VALID); libpcap
    # puts them back in the bytes, so tcpdump prints them like any tag.
    tagged = bytes(eth() / Dot1Q(vlan=100, prio=3) / IP(src="10.1.0.1", dst="10.1.0.2")
                   / UDP(sport=40030, dport=40040) / b"live")
    untagged = tagged[:12] + tagged[16:]
    batch = ringcap.Batch.from_packets([untagged], ts=[1_700_000_000_123_456_000])
    batch.status[:] = 1 << 4                       # TP_STATUS_VLAN_VALID
    batch.vlan_tci[:] = (3 << 13) | 100
    ours = format_all(batch, link_header=True, timestamps="none").decode()
    path = write_file(tmp_path / "tagged.pcap", [tagged])
    assert ours == tcpdump_lines(path, "-e", "-t")
    assert "vlan 100, p 3, ethertype IPv4 (0x0800), 10.1.0.1.40030 > 10.1.0.2.40040" in ours


def test_a_text_stream_without_a_buffer_gets_text():
    import io
    frames = [bytes(f) for f in conversation_v4(40001, 40002, 1, 2)[:3]]
    text = io.StringIO()
    PacketPrinter(text, timestamps="none", payload="A").print_batch(
        ringcap.Batch.from_packets(frames, ts=[0, 1, 2]))
    binary = format_all(ringcap.Batch.from_packets(frames, ts=[0, 1, 2]), timestamps="none",
                        payload="A")
    assert text.getvalue() == binary.decode("ascii") and text.getvalue().count("Flags [") == 3


def test_verbose_icmpv6_and_extension_headers_match_tcpdump(tmp_path):
    from scapy.all import ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr
    v6 = dict(src="fe80::1", dst="fe80::2")
    frames = [bytes(f) for f in [
        eth() / IPv6(src="fe80::1", dst="ff02::1:ff00:2") / ICMPv6ND_NS(tgt="fe80::2")
        / ICMPv6NDOptSrcLLAddr(lladdr=A),
        eth() / IPv6(src="fe80::2", dst="fe80::1") / ICMPv6ND_NA(tgt="fe80::2", R=0, S=1, O=1)
        / ICMPv6NDOptDstLLAddr(lladdr=B),
        eth() / IPv6(src="fe80::2", dst="fe80::1") / ICMPv6ND_NA(tgt="fe80::2", R=0, S=0, O=0),
        eth() / IPv6(src="fe80::1", dst="ff02::2") / ICMPv6ND_RS() / ICMPv6NDOptSrcLLAddr(lladdr=A),
        eth() / IPv6(**v6) / ICMPv6EchoRequest(id=1, seq=2, data=b"abc"),
        eth() / IPv6(**v6) / ICMPv6EchoRequest(id=1, seq=2, data=b"abc", cksum=0x1234),
        eth() / IPv6(**v6) / IPv6ExtHdrFragment(id=0x1234, offset=0, m=1)
        / UDP(sport=40030, dport=40040) / (b"x" * 20),
        eth() / IPv6(**v6) / IPv6ExtHdrFragment(id=0x1234, offset=3, nh=17) / (b"x" * 20),
        eth() / IPv6(**v6) / IPv6ExtHdrDestOpt() / TCP(sport=40001, dport=40002, flags="S"),
        eth() / IPv6(**v6) / ICMPv6DestUnreach(code=4) / IPv6(src="fe80::2", dst="fe80::1")
        / UDP(sport=40030, dport=40040),
        eth() / IPv6(**v6) / ICMPv6TimeExceeded() / IPv6(src="fe80::2", dst="fe80::1")
        / UDP(sport=40030, dport=40040),
    ]]
    path = write_file(tmp_path / "v6.pcap", frames)
    for flags in (("-v",), ("-v", "-e"), ()):
        ours, theirs = packets(ringcap_lines(path, *flags)), packets(tcpdump_lines(path, *flags))
        assert len(ours) == len(theirs) == len(frames)
        for o, t in zip(ours, theirs):
            assert o == t, f"ringcap: {o}\ntcpdump: {t}"


@pytest.mark.parametrize("flags", [("-x",), ("-xx",), ("-X",), ("-XX",)])
def test_hex_offsets_past_64_kib_match_tcpdump(tmp_path, flags):
    # BIG TCP and jumbo frames: tcpdump prints 0x10000 and above in full (%04x), no wrap
    big = bytes(eth() / IP(src="10.1.0.1", dst="10.1.0.2") / UDP(sport=40030, dport=40040))
    big += bytes((i * 7) & 0xFF for i in range(70_000))
    unknown = bytes.fromhex("ffffffffffff02000000000188b5") + bytes(i & 0xFF for i in range(66_000))
    path = write_file(tmp_path / "big.pcap", [big, unknown])
    ours, theirs = ringcap_lines(path, *flags), tcpdump_lines(path, *flags)
    assert "\t0x10000:  " in ours and "\t0x11170:  " in ours
    assert ours == theirs


def test_numbers_times_and_many_conversations_match_tcpdump(tmp_path):
    # the formatter's fast paths against tcpdump: every IPv4 octet value, ports
    # and lengths of 1 to 5 digits, sequence numbers up to 2**32 - 1, many
    # packets per second and seconds skipped or repeated (the time of day is
    # made once per second), a daylight-saving change inside a batch (the
    # per-packet UTC offset), and 3,000 conversations (the sequence-number
    # table grows several times) whose later packets print relative numbers
    rng = random.Random(19)
    frames, ts = [], []
    start = 1_711_846_795 * 10**9        # 2024-03-31 00:59:55 UTC: Berlin goes to summer time
    for i in range(256):
        # (ports tcpdump has no decoder for)
        sport, dport = rng.choice([1, 9, 99, 999, 9999, 65535]), rng.choice([0, 5001, 40000 + i])
        frames.append(bytes(eth() / IP(src=f"{i}.{255 - i}.{i // 2}.{(i * 7) % 256}",
                                       dst=f"{(i * 13) % 256}.0.{i}.255")
                            / UDP(sport=sport, dport=dport) / bytes(rng.choice([0, 9, 99, 999]))))
    for c in range(3000):
        a, b = f"10.{c % 200}.{c // 200}.1", f"10.{c % 200}.{c // 200}.2"
        isn_a, isn_b = rng.randrange(2**32), rng.choice([0, 9, 4294967295, rng.randrange(2**32)])
        for seq, ack, src, dst, sp, dp, data in (
                (isn_a, isn_b, a, b, 40000 + c, 5001, b""),
                (isn_b, isn_a + 1, b, a, 5001, 40000 + c, b"x" * 10),
                (isn_a + 1, isn_b + 11, a, b, 40000 + c, 5001, b"y" * 100)):
            frames.append(bytes(eth() / IP(src=src, dst=dst)
                                / TCP(sport=sp, dport=dp, flags="PA", seq=seq % 2**32,
                                      ack=ack % 2**32) / data))
    step = 0
    for i in range(len(frames)):
        step += rng.choice([0, 1, 999, 1_000_000, 999_999_999, 3 * 10**9])
        ts.append(start + step)
    ts[100:105] = [start + 10**9 - 1, start + 10**9, start, start + 10**9 - 1, start + 10**9]
    batch = ringcap.Batch.from_packets(frames, ts=ts)
    path = tmp_path / "numbers.pcap"
    ringcap.write_pcap(path, batch, nanosecond=True)
    assert ts[-1] - ts[0] > 3600 * 10**9       # the file spans the change of offset
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT, "TZ": "Europe/Berlin"}
    for flags in ((), ("-S",), ("--time-stamp-precision", "nano"), ("-tttt",)):
        ours = subprocess.run([sys.executable, "-m", "ringcap", "-nn", *flags, "-r", str(path)],
                              cwd="/", env=env, capture_output=True, text=True, timeout=300)
        theirs = subprocess.run(["tcpdump", "-nn", *flags, "-r", str(path)], cwd="/", env=env,
                                capture_output=True, text=True, timeout=300)
        assert ours.returncode == 0 == theirs.returncode, ours.stderr + theirs.stderr
        o, t = ours.stdout.splitlines(), theirs.stdout.splitlines()
        assert len(o) == len(t) == len(frames)
        bad = [(x, y) for x, y in zip(o, t) if not agree(x, y)]
        assert not bad, f"{flags}: {len(bad)} lines differ; first:\n{bad[0][0]}\n{bad[0][1]}"


def _both(argv, **kwargs):
    """(ringcap, tcpdump) runs of the same tcpdump arguments (tcpdump keeps root:
    it would open -V's later files as user tcpdump, who cannot enter tmp_path)."""
    ours = run([sys.executable, "-m", "ringcap", "-nn", *argv], **kwargs)
    theirs = run(["tcpdump", "-nn", "-Z", "root", *argv], **kwargs)
    return ours, theirs


@pytest.mark.parametrize("flags", [("-#",), ("--number",), ("-#", "-x"), ("-#", "-e", "-ttt"),
                                   ("-#", "-c", "3", "tcp"), ("-s", "60"), ("-s", "60", "-x")])
def test_packet_numbers_and_snaplen_on_reading_match_tcpdump(sample, flags):
    # tcpdump's -# (--number) starts each line with "%5u  "; -s is accepted when
    # reading and changes nothing (the file keeps its own snapshot length)
    ours, theirs = _both(["-r", str(sample), *flags])
    assert ours.returncode == 0 == theirs.returncode, ours.stderr + theirs.stderr
    assert ours.stdout == theirs.stdout
    assert ours.stdout.strip()
    assert ours.stderr.splitlines()[0] == theirs.stderr.splitlines()[0]


def test_a_file_header_snaplen_of_0_reads_as_libpcaps_262144(tmp_path):
    # libpcap takes a snapshot length of 0 (pcap header, pcapng IDB) as its largest
    frame = bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP())
    path = tmp_path / "snap0.pcap"
    write_file(path, [frame])
    raw = bytearray(path.read_bytes())
    raw[16:20] = (0).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    ours, theirs = _both(["-r", str(path)])
    assert ours.stderr.splitlines()[0] == theirs.stderr.splitlines()[0]
    assert theirs.stderr.splitlines()[0].endswith("snapshot length 262144")


def test_deltas_in_a_nanosecond_file_are_of_whole_microseconds_as_tcpdump(tmp_path):
    # libpcap hands tcpdump microseconds, each stamp cut on its own: 0.000000999
    # and 0.000001000 are 0 and 1 us apart, so -ttt prints .000001, not .000000
    frames = [bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=40000 + i, dport=9))
              for i in range(6)]
    base = 1_700_000_000 * 10**9
    ts = [base + 999, base + 1000, base + 1999, base + 5_000_000_001, base + 5_000_000_000,
          base + 7_000_000_999]
    path = tmp_path / "nano.pcap"
    ringcap.write_pcap(path, ringcap.Batch.from_packets(frames, ts=ts), nanosecond=True)
    for flags in (("-ttt",), ("-ttttt",), ("-tt",), ("-ttt", "--time-stamp-precision", "nano"),
                  ("-ttttt", "--time-stamp-precision", "nano")):
        ours, theirs = _both(["-r", str(path), *flags])
        assert ours.returncode == 0 == theirs.returncode, ours.stderr + theirs.stderr
        assert ours.stdout == theirs.stdout, flags
        assert len(ours.stdout.splitlines()) == len(frames)


def test_a_file_list_is_read_file_after_file_as_tcpdump_v(sample, tmp_path):
    # -V FILELIST: a "reading from file" line per file; packet numbers and -ttt
    # carry on across files; -c counts each file on its own, as tcpdump's
    second = write_file(tmp_path / "second.pcap", sample_frames()[:5], start=1_700_000_100 * 10**9)
    names = tmp_path / "files.txt"
    names.write_text(f"{sample}\n{second}\n")
    for flags in ((), ("-#", "-ttt"), ("-#", "-c", "3"), ("-c", "2", "udp")):
        ours, theirs = _both(["-V", str(names), *flags])
        assert ours.returncode == 0 == theirs.returncode, ours.stderr + theirs.stderr
        assert ours.stdout == theirs.stdout, flags
        reading = [line for line in theirs.stderr.splitlines() if line.startswith("reading")]
        assert len(reading) == 2
        assert ours.stderr.splitlines()[:2] == reading
    missing = run([sys.executable, "-m", "ringcap", "-V", str(tmp_path / "none.txt")])
    assert missing.returncode == 1
    assert missing.stderr.strip() == (f"ringcap: cannot read the file list (-V) "
                                      f"{tmp_path / 'none.txt'}: No such file or directory")


def test_standard_input_is_read_with_r_dash_when_it_is_a_file(sample, tmp_path):
    # `-r - < FILE` reads the redirected file as tcpdump does (which names it "-");
    # a pipe is refused in one line: files are read by position, and copying a
    # stream that never ends (`tcpdump -w - | ringcap -r -`) would fill the disk
    # and print nothing
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT, "TZ": TZ}

    def redirected(argv, path):
        with open(path, "rb") as f:
            return subprocess.run(argv, stdin=f, cwd="/", env=env, capture_output=True,
                                  timeout=120)
    ours = redirected([sys.executable, "-m", "ringcap", "-nn", "-r", "-", "-#", "-c", "4"], sample)
    theirs = redirected(["tcpdump", "-nn", "-r", "-", "-#", "-c", "4"], sample)
    assert ours.returncode == 0 == theirs.returncode, ours.stderr + theirs.stderr
    assert ours.stdout == theirs.stdout and len(ours.stdout.splitlines()) == 4
    assert ours.stderr.splitlines()[0] == theirs.stderr.splitlines()[0]
    assert ours.stderr.startswith(b"reading from file -, link-type EN10MB (Ethernet)")
    whole = redirected([sys.executable, "-m", "ringcap", "-nn", "-r", "-"], sample)
    assert whole.returncode == 0, whole.stderr
    assert whole.stdout.decode() == tcpdump_lines(sample)
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(sample.read_bytes()[:200])
    cut_run = redirected([sys.executable, "-m", "ringcap", "-r", "-"], cut)
    assert cut_run.returncode == 1
    assert b"ringcap: warning: -: file ends in a partial record" in cut_run.stderr
    piped = subprocess.run([sys.executable, "-m", "ringcap", "-r", "-"], input=sample.read_bytes(),
                           cwd="/", env=env, capture_output=True, timeout=120)
    assert piped.returncode == 1 and piped.stdout == b""
    assert piped.stderr.decode().splitlines() == [
        "ringcap: -r -: standard input is not a file (a pipe or a terminal), and ringcap reads "
        "capture files by position, not as a stream; save the stream to a file first "
        "(... > in.pcap; ringcap -r in.pcap) or redirect a file (ringcap -r - < in.pcap)"]


def _mldv2_report(records):
    """An MLDv2 report of (type, group, [sources]) records, with its hop-by-hop
    router alert, as the kernel sends it."""
    return bytes(Ether(src=A, dst="33:33:00:00:00:16")
                 / IPv6(src="fe80::1", dst="ff02::16", hlim=1)
                 / IPv6ExtHdrHopByHop(options=[RouterAlert()])
                 / ICMPv6MLReport2(records=[ICMPv6MLDMultAddrRec(rtype=kind, dst=group, sources=sources)
                                            for kind, group, sources in records]))


def test_verbose_mldv2_records_and_nd_option_bytes_match_tcpdump(tmp_path):
    # -v lists an MLDv2 report's group records ([gaddr G to_ex, 0 source(s)]),
    # -vv their sources in braces; -vv dumps each neighbor discovery option's bytes
    frames = [
        _mldv2_report([(4, "ff02::1:ff00:2", []), (3, "ff02::fb", [])]),
        _mldv2_report([(1, "ff05::1:3", ["2001:db8::1", "2001:db8::2"]), (6, "ff02::1", ["fe80::9"]),
                       (9, "ff02::2", [])]),
        bytes(eth() / IPv6(src="fd00::1", dst="ff02::1:ff00:2", hlim=255)
              / ICMPv6ND_NS(tgt="fd00::2") / ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")),
        bytes(eth() / IPv6(src="fd00::2", dst="fd00::1", hlim=255)
              / ICMPv6ND_NA(tgt="fd00::2", R=0, S=1, O=1) / ICMPv6NDOptDstLLAddr(lladdr="1e:63:f4:b2:f4:bc")),
    ]
    path = write_file(tmp_path / "mld.pcap", frames)
    # a record's source cut by the snap length, and a record cut inside its group
    one_source = _mldv2_report([(5, "ff02::1:2", ["2001:db8::7"])])
    cut = write_file(tmp_path / "cut.pcap", [one_source], caplen=len(one_source) - 10)
    cut_group = write_file(tmp_path / "cut_group.pcap", frames[1:2], caplen=len(frames[0]))
    for flags in (("-v",), ("-vv",), ("-vvv",), ("-vv", "-e"), ("-q", "-v")):
        for each in (path, cut, cut_group):
            ours, theirs = ringcap_lines(each, *flags), tcpdump_lines(each, *flags)
            assert ours == theirs, (each.name, flags)
    assert "[gaddr ff05::1:3 is_in { 2001:db8::1 2001:db8::2 }]" in ringcap_lines(path, "-vv")
    assert "\n\t    0x0000:  1e63 f4b2 f4bc" in ringcap_lines(path, "-vv")


@pytest.mark.parametrize("options", [{"verbose": 1, "payload": "XX"}, {"verbose": 2, "payload": "XX"},
                                     {"verbose": 2, "payload": "A", "link_header": True}])
def test_long_verbose_lists_stay_within_the_promised_room(options):
    # neighbor discovery with thousands of link-address options, and MLDv2
    # reports claiming thousands of records or sources: the -v lists stop
    # after LIST_BUDGET bytes of text, so no line outgrows bytes_needed
    import struct
    nd = bytes([135, 0, 0, 0, 0, 0, 0, 0]) + bytes(16) + bytes([1, 1, 2, 0, 0, 0, 0, 1]) * 7000
    sources = bytes([4, 0]) + struct.pack("!H", 3000) + bytes(16) + bytes(range(16)) * 3000
    records = bytes([4, 0, 0, 0]) + bytes(range(16)) + bytes([9, 0, 0, 0]) + bytes(16)
    frames = []
    for icmp in (nd, struct.pack("!BBHHH", 143, 0, 0, 0, 1) + sources,
                 struct.pack("!BBHHH", 143, 0, 0, 0, 2000) + records * 1000):
        ip6 = bytes([0x60, 0, 0, 0]) + struct.pack("!HBB", len(icmp), 58, 255) \
            + bytes(15) + b"\x01" + bytes(15) + b"\x02"
        frames.append(bytes(6) + bytes(6) + b"\x86\xdd" + ip6 + icmp)
    for frame in frames:
        text = format_all(ringcap.Batch.from_packets([frame], ts=[0]), **options)
        assert 1000 < len(text) <= _text.bytes_needed(len(frame))


@pytest.mark.parametrize("options", [{"verbose": 1}, {"verbose": 1, "payload": "X"},
                                     {"verbose": 2, "payload": "XX", "link_header": True},
                                     {"payload": "XX"}])
def test_long_ipv6_extension_header_chains_stay_within_the_promised_room(options):
    # one hop-by-hop header of 2 KiB of unknown 2-byte options (22 bytes of
    # -v text each), and chains of 4,000 headers (hop-by-hop, destination,
    # fragment, unknown): the names and options stop with "[...]" after
    # LIST_BUDGET bytes of text.  Before, -v wrote 22,653 bytes for the first
    # where bytes_needed promised 16,848, and -v -X 432,425 for a chain of
    # 32,054 bytes where it promised 196,552.
    import struct
    udp = struct.pack("!HHHH", 1, 2, 8, 0)

    def ip6(nh, payload):
        return bytes(6) + bytes(6) + b"\x86\xdd" + bytes([0x60, 0, 0, 0]) \
            + struct.pack("!HBB", len(payload), nh, 64) + bytes(15) + b"\x01" + bytes(15) + b"\x02" \
            + payload
    frames = [ip6(0, bytes([17, 255]) + bytes([5, 0]) * 1023 + udp)]
    for nh, body in ((0, [5, 0, 5, 0, 5, 0]), (60, [5, 0, 5, 0, 5, 0]), (44, [0, 0, 0, 0, 0, 1]),
                     (139, [5, 0, 5, 0, 5, 0])):
        frames.append(ip6(nh, bytes([nh, 0] + body) * 4000))
    for i, frame in enumerate(frames):
        text = format_all(ringcap.Batch.from_packets([frame], ts=[0]), **options)
        assert len(text) <= _text.bytes_needed(len(frame))
        line = text.split(b"\n\t0x")[0].split(b"\n")[0]
        if i == 0 and not options.get("verbose"):
            assert line.endswith(b"::1 > ::2: HBH 1 > 2: UDP, length 0")   # no options without -v
        else:
            assert 1000 < len(line) < 1400 and line.count(b"[...]") == 1
    # the transport header after the cut one is still printed
    assert b"[...] 1 > 2: " in format_all(ringcap.Batch.from_packets(frames[:1], ts=[0]), verbose=1)


def _ipv4_with_options(options: bytes, l4: bytes, proto: int, chksum=None) -> bytes:
    import struct
    from scapy.utils import checksum
    options += bytes(-len(options) % 4)
    header = bytearray(struct.pack("!BBHHHBBH4s4s", 0x40 | (5 + len(options) // 4), 0,
                                   20 + len(options) + len(l4), 1, 0, 64, proto, 0,
                                   bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + options)
    header[10:12] = struct.pack("!H", checksum(bytes(header)) if chksum is None else chksum)
    return bytes(eth()) [:12] + b"\x08\x00" + bytes(header) + l4


def test_verbose_ipv4_options_checksums_and_flags_are_tcpdumps(tmp_path):
    # -v lists IPv4 options (tcpdump's ip_optprint: RA and its value, NOP, EOL,
    # RR/LSRR/SSRR routes with "," after the recorded hops, time stamps of each
    # kind, security, traceroute, unknown codes, bad lengths and pointers),
    # says "bad cksum X (->Y)!" for a header and "wrong icmp cksum X (->Y)!" for
    # an ICMP message (the quoted packet of an error too), and names the flags
    # in bittok2str's order ("+, DF", "rsvd").  Before, none of it was printed.
    import struct
    udp = bytes(UDP(sport=1, dport=2, len=8, chksum=0))
    icmp = bytes(ICMP(id=1, seq=1))
    raw = [
        (b"\x94\x04\x00\x00", udp, 17), (b"\x94\x04\x00\x05", udp, 17), (b"\x01\x01\x01\x00", udp, 17),
        (b"\x07\x0b\x08\x0a\x00\x00\x01\x0a\x00\x00\x02\x00", icmp, 1),
        (b"\x83\x0b\x04\x0a\x00\x00\x01\x0a\x00\x00\x02\x00", udp, 17),
        (b"\x44\x0c\x05\x00" + struct.pack("!II", 1, 2), udp, 17),
        (b"\x44\x14\x0d\x01\x0a\x00\x00\x01" + struct.pack("!I", 5) + b"\x0a\x00\x00\x02"
         + struct.pack("!I", 6), udp, 17),
        (b"\x44\x0c\x05\x32" + struct.pack("!II", 1, 2), udp, 17),
        (b"\x44\x08\x05\x02" + struct.pack("!I", 1), udp, 17), (b"\x44\x03\x05\x00", udp, 17),
        (b"\x82\x0b" + bytes(9) + b"\x00", udp, 17), (b"\x52\x0c" + bytes(10), udp, 17),
        (b"\x99\x04\x00\x00", udp, 17), (b"\x99\x01\x00\x00", udp, 17), (b"\x99\x09\x00\x00", udp, 17),
        (b"\x07\x0a\x04\x0a\x00\x00\x01\x0a\x00\x00", udp, 17), (b"\x07\x03\x04\x00", udp, 17),
        (b"\x07\x02\x04\x00", udp, 17), (b"\x94\x02\x00\x00", udp, 17)]
    frames = [_ipv4_with_options(o, l4, proto) for o, l4, proto in raw]
    frames += [_ipv4_with_options(b"\x94\x04\x00\x00", bytes(ICMP(chksum=1)), 1, chksum=0xBEEF),
               _ipv4_with_options(b"", udp, 17, chksum=0x1234),
               bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(chksum=0x4321) / b"abc"),
               bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2", chksum=0) / ICMP(type=3, code=1, chksum=7)
                     / IP(src="10.0.0.2", dst="10.9.9.9") / ICMP(chksum=9)),
               *(bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2", flags=f) / UDP(sport=1, dport=2))
                 for f in (1, 2, 3, 4, 5, 6, 7))]
    path = write_file(tmp_path / "ipv4.pcap", frames)
    for flag in ("-v", "-vv"):
        theirs = packets(tcpdump_lines(path, flag))
        assert packets(ringcap_lines(path, "-nn", flag)) == theirs
    text = "\n".join(theirs)
    for shown in ("options (RA)", "options (RA value 5)", "options (NOP,NOP,NOP,EOL)",
                  "options (RR 10.0.0.1, 10.0.0.2,EOL)", "TS{TS+ADDR 5@10.0.0.1 ^ 6@10.0.0.2}",
                  "[3 hops not recorded]} ", "options (unknown 153 [bad length 9])",
                  ", bad cksum 1234 (->", "(wrong icmp cksum 4321 (->", "flags [+, DF, rsvd]"):
        assert shown in text, shown


def _dns_worst_cases():
    # DNS messages whose -v/-vv text runs up to and past the line's budget:
    # names that print 4 bytes of text a byte ("M-^@"), repeated through
    # pointers by records of every kind printed (SOA: two names each), TXT
    # strings of such bytes, EDNS options in hex, in counts that end just
    # under the budget or far past it
    import struct
    rng = random.Random(21)
    messages = []
    for _ in range(120):
        length = rng.randint(1, 63)
        name = b"".join(bytes([length]) + b"\x80" * length for _ in range(rng.randint(1, 255 // (length + 1))))
        name += b"\x00"
        records = b""
        count = rng.choice([rng.randint(1, 12), 300])
        for _ in range(count):
            kind = rng.choice(["soa", "txt", "opt", "cname", "a"])
            if kind == "soa":
                rdata = b"\xc0\x0c\xc0\x0c" + bytes(20)
                records += b"\xc0\x0c" + struct.pack("!HHIH", 6, 1, 60, len(rdata)) + rdata
            elif kind == "txt":
                rdata = b"".join(bytes([n]) + b"\x80" * n for n in (rng.randint(0, 255),))
                records += b"\xc0\x0c" + struct.pack("!HHIH", 16, 1, 60, len(rdata)) + rdata
            elif kind == "opt":
                rdata = (struct.pack("!HH", 10, 40) + bytes(40)) * rng.randint(0, 3)
                records += b"\x00" + struct.pack("!HHIH", 41, 4096, 0x8000, len(rdata)) + rdata
            elif kind == "cname":
                records += b"\xc0\x0c" + struct.pack("!HHIH", 5, 1, 60, 2) + b"\xc0\x0c"
            else:
                records += b"\xc0\x0c" + struct.pack("!HHIH", 1, 0x8001, 60, 4) + bytes(4)
        split = sorted(rng.randint(0, count) for _ in range(2))
        counts = (split[0], split[1] - split[0], count - split[1])
        flags = rng.choice([0x8180, 0x0100])
        messages.append(struct.pack("!HHHHHH", 7, flags, 1, *counts) + name + b"\x00\x01\x00\x01"
                        + records)
    return messages


def _dhcp_worst_cases():
    # BOOTP/DHCP messages whose -v text grows fastest per byte: sname and file
    # of high control bytes (4 characters each), Parameter-Request lists of the
    # longest name, text, byte and Client-ID options of such bytes, in counts
    # that end just under the budget or far past it
    header = b"\x01\x01\x06\x00" + bytes(24) + b"\x02" * 6 + bytes(10)
    names = b"\x81" * 63 + b"\x00" + b"\x81" * 127 + b"\x00"
    cookie = b"\x63\x82\x53\x63\x35\x01\x01"
    messages = []
    for fields in (bytes(192), names):
        for option in (b"\x37\xff" + b"\xf9" * 255, b"\x0c\xff" + b"\x81" * 255, b"\x2b\xff" + b"\xff" * 255,
                       b"\x3d\xff\x01" + b"\xff" * 254, b"\x51\xff\x05\xff\xff" + b"\x81" * 252,
                       b"\x37\x06" + b"\xf9" * 6, b"\x15\xf8" + b"\xff" * 248, b"\x13\xff" + b"\x81" * 255):
            for count in (1, 2, 5):
                messages.append(header + fields + cookie + option * count + b"\xff")
    return messages


@pytest.mark.parametrize("options", [{"verbose": 1}, {"verbose": 2}, {"verbose": 3},
                                     {"verbose": 2, "link_header": True, "payload": "XX"}])
def test_verbose_dns_and_http_text_stays_within_the_promised_room(options):
    # -v prints DNS records' owner names, HTTP's header lines and DHCP's
    # options, -vv every DNS section: hostile messages whose text would be tens
    # of KiB stop within the room, after a 2 KiB hop-by-hop header whose options
    # also print at -v
    import struct

    def frame(ports, payload, hbh):
        udp = struct.pack("!HHHH", *ports, 8 + len(payload), 0) + payload if ports[0] != 80 else \
            struct.pack("!HHIIBBHHH", 80, 3000, 1, 1, 0x50, 0x18, 64, 0, 0) + payload
        nh = 17 if ports[0] != 80 else 6
        body = (bytes([nh, 255]) + bytes([5, 0]) * 1023 + udp) if hbh else udp
        return bytes.fromhex("020000000002020000000001") + bytes.fromhex("81000064") * 8 \
            + b"\x86\xdd" + bytes([0x60, 0, 0, 0]) + struct.pack("!HBB", len(body), 0 if hbh else nh, 64) \
            + bytes(15) + b"\x01" + bytes(15) + b"\x02" + body
    payloads = [((53, 3000), m) for m in _dns_worst_cases()]
    payloads += [((68, 67), m) for m in _dhcp_worst_cases()]
    payloads += [((80, 3000), b"HTTP/1.1 200 OK\r\n" + b"\n" * 1400),
                 ((80, 3000), b"GET / HTTP/1.1\r\n" + (b"a" * 97 + b"\r\n") * 14)]
    for ports, payload in payloads:
        for hbh in (False, True):
            data = frame(ports, payload, hbh)
            text = format_all(ringcap.Batch.from_packets([data], ts=[0]), **options)
            assert len(text) <= _text.bytes_needed(len(data))


EXACT_ROOM_FLAGS = [{"verbose": 1}, {"verbose": 2}, {"link_header": True}, {"payload": "x"},
                    {"payload": "XX"}, {"payload": "A"}, {"quiet": True}, {"numeric": 2},
                    {"verbose": 2, "link_header": True, "payload": "XX"},
                    {"verbose": 1, "link_header": True, "payload": "A", "number": True}]


@st.composite
def hostile_frames(draw):
    # Ethernet (up to 10 VLAN tags) carrying what makes text grow with the
    # packet: IPv6 extension header chains and their options, neighbor
    # discovery and MLDv2 lists, DNS, HTTP, TCP options, quoted ICMP packets
    import struct
    raw = st.binary(max_size=300)
    ports = st.sampled_from([53, 5353, 80, 8080, 67, 123, 4500, 1234])

    def transport(proto):
        if proto == 6:
            doff = draw(st.integers(5, 15))
            return struct.pack("!HHIIBBHHH", draw(ports), draw(ports), 1, 2, doff << 4,
                               draw(st.integers(0, 255)), 1, 0, 0) \
                + draw(st.binary(min_size=4 * doff - 20, max_size=4 * doff - 20)) + draw(raw)
        if proto == 17 and draw(st.booleans()):
            # a BOOTP/DHCP message: its fixed part, then options made to print long
            body = b"\x01\x01\x06\x00" + bytes(24) + b"\x02" * 6 + bytes(10) \
                + draw(st.sampled_from([bytes(192), b"\x81" * 64 + b"\x81" * 127 + b"\x00"])) \
                + b"\x63\x82\x53\x63" + b"".join(draw(st.lists(st.sampled_from(
                    [b"\x37\xff" + b"\xf9" * 255, b"\x0c\x40" + b"\x81" * 64, b"\x3d\x07\x01" + bytes(6),
                     b"\x00", b"\x34\x01\x03", b"\x03\x09" + bytes(9), b"\x51\x03\x01\x00\x00"]),
                    max_size=12))) + draw(raw)
            return struct.pack("!HHHH", 68, 67, len(body) + 8, 0) + body
        if proto == 17:
            body = draw(raw)
            return struct.pack("!HHHH", draw(ports), draw(ports), len(body) + 8, 0) + body
        if proto == 58:
            kind = draw(st.sampled_from([1, 3, 128, 133, 135, 136, 143]))
            items = draw(st.lists(st.sampled_from([bytes([1, 1, 2, 0, 0, 0, 0, 1]), bytes([14, 1]) + bytes(6),
                                                   bytes(4) + bytes(range(16)), bytes([4, 0, 0, 1]) + bytes(32)]),
                                  max_size=400))
            return bytes([kind, 0, 0, 0]) + struct.pack("!HH", 0, draw(st.integers(0, 300))) \
                + bytes(16) + b"".join(items)
        return draw(raw)

    et = draw(st.sampled_from([0x0800, 0x86DD, 0x86DD]))
    if et == 0x0800:
        proto = draw(st.sampled_from([1, 6, 17]))
        body = transport(proto)
        if proto == 1:
            inner = transport(17)
            inner = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(inner), 0, 0, 1, 17, 0) + bytes(8) + inner
            body = bytes([draw(st.sampled_from([3, 11, 8])), 3, 0, 0, 0, 0, 0, 0]) + inner
        options = draw(st.sampled_from([b"", b"\x07\x27\x04" + bytes(36), b"\x44\x28\x05\x01" + bytes(36),
                                        b"\x01" * 40, b"\x99\x02" * 20, b"\x01\x01\x44\x02"]))  # -v lists IPv4 options
        l3 = struct.pack("!BBHHHBBH", 0x45 + len(options) // 4, 0, 20 + len(options) + len(body), 0, 0,
                         64, proto, 0) + bytes(8) + options + body
    else:
        headers = draw(st.lists(st.sampled_from([0, 60, 43, 44, 51, 139]), max_size=40))
        final = draw(st.sampled_from([6, 17, 58]))
        chain = b""
        for i, nh in enumerate(headers):
            following = headers[i + 1] if i + 1 < len(headers) else final
            units = draw(st.sampled_from([0, 1, 255]))
            size = (units + 2) * 4 if nh == 51 else (units + 1) * 8
            options = b"".join(draw(st.lists(st.sampled_from([b"\x00", b"\x01\x00", b"\x05\x02\x00\x00",
                                                              b"\xc9\x00", b"\x07\x01\x01"]),
                                             max_size=size)))
            chain += bytes([following, units]) + (options + bytes(size))[:size - 2]
        body = chain + transport(final)
        l3 = bytes([0x60, 0, 0, 0]) + struct.pack("!HBB", len(body) & 0xFFFF, headers[0] if headers else final,
                                               255) + bytes(15) + b"\x01" + bytes(15) + b"\x02" + body
    wrap = draw(st.sampled_from([None, None, "gre", "ipip", "vxlan"]))
    if wrap:
        # the packet inside a tunnel, under an IPv4 header with long -v options: one
        # more line's worth of text (text_tunnel.pxi)
        options = draw(st.sampled_from([b"", b"\x07\x27\x04" + bytes(36), b"\x01" * 40]))
        if wrap == "gre":
            proto, body = 47, struct.pack("!HHII", 0xB000, et, 7, 9) + l3
        elif wrap == "ipip":
            proto, body = (4 if et == 0x0800 else 41), l3
        else:
            body = bytes([8, 0, 0, 0, 0, 0, 42, 0]) + bytes.fromhex("020000000004020000000003") \
                + struct.pack("!H", et) + l3
            proto, body = 17, struct.pack("!HHHH", 1, 4789, len(body) + 8, 0) + body
        l3 = struct.pack("!BBHHHBBH", 0x45 + len(options) // 4, 0, 20 + len(options) + len(body), 0, 0,
                         64, proto, 0) + bytes(8) + options + body
        et = 0x0800
    tags = bytes.fromhex("81000064") * draw(st.integers(0, 10))
    frame = bytes.fromhex("020000000002020000000001") + tags + struct.pack("!H", et) + l3
    return frame[:draw(st.integers(14, len(frame)))]


@pytest.mark.parametrize("options", EXACT_ROOM_FLAGS)
def test_tunnel_frames_cut_anywhere_print_within_the_promised_room(options):
    # every built tunnel packet cut after each of its bytes, in-process (the
    # sanitizer build runs this: no read past caplen, no write past the room)
    frames = [f[:n] for f in tunnel_frames() for n in range(14, len(f) + 1)]
    batch = ringcap.Batch.from_packets(frames, ts=[0] * len(frames))
    text = format_all(batch, **options)
    assert len(text) <= sum(_text.bytes_needed(len(f)) for f in frames)
    assert text.count(b"GREv0") > len(tunnel_frames())


def test_built_packets_print_within_an_exact_room_whatever_the_flags():
    # Each packet alone, into a buffer of exactly bytes_needed(caplen) (the
    # printer grows its buffer to that from empty): under the sanitizer build
    # (tests/test_sanitizers.py) a write past it aborts the run, and here the
    # text must fit.  Before the IPv6 extension header budget, -v wrote up to
    # 5 times the room for a chain of such headers.
    import io
    import time
    budget = time.monotonic() + float(os.environ.get("RINGCAP_FUZZ_SECONDS", "6"))
    printers = [PacketPrinter(io.BytesIO(), **flags) for flags in EXACT_ROOM_FLAGS]

    @settings(max_examples=60, deadline=None, database=None)
    @given(hostile_frames())
    def one(frame):
        batch = ringcap.Batch.from_packets([frame], ts=[0])
        for printer in printers:
            printer._out = io.BytesIO()
            printer._buffer = np.empty(0, dtype=np.uint8)
            printer.print_batch(batch)
            text = printer._out.getvalue()
            assert text.endswith(b"\n") and len(text) <= _text.bytes_needed(len(frame))

    while True:
        one()
        if time.monotonic() >= budget:
            break


def test_a_cooked_v2_file_warns_that_interface_names_are_this_hosts(tmp_path):
    # tcpdump -r of a LINUX_SLL2 file says on stderr, after "reading from file",
    # that the interface names (looked up here by index) might be incorrect
    import struct
    packet = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / ICMP())
    cooked = struct.pack(">HHIHBB8s", 0x0800, 0, 1, 1, 4, 6, bytes.fromhex("020000000001") + bytes(2))
    record = cooked + packet
    path = tmp_path / "sll2.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 276)
                     + struct.pack("<IIII", 1_700_000_000, 5, len(record), len(record)) + record)
    ours, theirs = _both(["-r", str(path)])
    assert ours.returncode == 0 == theirs.returncode, ours.stderr + theirs.stderr
    assert ours.stdout == theirs.stdout and "ICMP echo request" in ours.stdout
    assert ours.stderr.splitlines()[:2] == theirs.stderr.splitlines()[:2]
    assert ours.stderr.splitlines()[1] == "Warning: interface names might be incorrect"
    # a filter libpcap cannot compile for the file's link type: after those lines, exit 1
    ours, theirs = _both(["-r", str(path), "vlan and icmp"])
    assert ours.returncode == 1 == theirs.returncode
    assert ours.stderr.splitlines()[:2] == theirs.stderr.splitlines()[:2]
    assert ours.stderr.splitlines()[2:] == [
        "ringcap: invalid capture filter 'vlan and icmp': no VLAN support for Linux cooked v2"]
    ethernet = _both(["-r", str(write_file(tmp_path / "eth.pcap", sample_frames()[:1]))])
    assert "Warning" not in ethernet[0].stderr and "Warning" not in ethernet[1].stderr


def test_esp_in_udp_and_unnamed_nd_options_match_tcpdump(tmp_path):
    # UDP port 4500 (IPsec NAT traversal): "UDP-encap: ESP(spi=0x...,seq=0x...)",
    # keep-alives, and datagrams too short for the marker, with and without -v;
    # a neighbor solicitation's nonce option (type 14, unnamed in tcpdump) dumped
    import struct
    esp = struct.pack("!II", 0xF3F579F0, 0x4B4F181E) + bytes(range(40))
    nonce = bytes([14, 1]) + bytes.fromhex("b1172c3e0292")
    frames = [
        bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=51111, dport=4500) / esp),
        bytes(eth() / IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=4500, dport=4500)
              / struct.pack("!II", 1, 0xFFFFFFFF)),
        bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=4500, dport=4500) / b"\xff"),
        bytes(eth() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=4500, dport=40000) / b"ab"),
        bytes(eth() / IPv6(src="fd00::1", dst="ff02::1:ff00:2", hlim=255) / ICMPv6ND_NS(tgt="fd00::2")
              / Raw(nonce)),
        bytes(eth() / IPv6(src="fd00::1", dst="ff02::1:ff00:2", hlim=255) / ICMPv6ND_NS(tgt="fd00::2")
              / Raw(nonce + bytes([1, 1]) + bytes.fromhex("020000000001"))),
    ]
    path = write_file(tmp_path / "natt.pcap", frames)
    for flags in ((), ("-v",), ("-vv",), ("-e",), ("-q",), ("-q", "-v")):
        ours, theirs = ringcap_lines(path, *flags), tcpdump_lines(path, *flags)
        assert ours == theirs, flags
    assert "UDP-encap: ESP(spi=0xf3f579f0,seq=0x4b4f181e), length 48" in ringcap_lines(path)
    assert "unknown option (14), length 8 (1): \n\t  0x0000:  b117 2c3e 0292" \
        in ringcap_lines(path, "-v")
