"""Lines of the protocols an office LAN or a VPN gateway carries, against tcpdump's.

IGMP, ESP, VRRP (and the others of pyx/text_lan.pxi), built with scapy
(explicit MAC addresses, written to files, never sent), printed by
`ringcap -r` and `tcpdump -r` with and without -v, -vv, -q and -e, whole and
cut after every byte past the IP header: the lines must be the same bytes.
"""
import struct

import pytest

import ringcap
from ringcap import _text

from test_printer import format_all, packets, ringcap_lines, tcpdump_lines

scapy = pytest.importorskip("scapy.all")
from scapy.all import IP, UDP, Ether, IPv6, Raw  # noqa: E402
from scapy.layers.igmp import IGMP  # noqa: E402
from scapy.layers.igmp import IGMPv3_MQ, IGMPv3_MR, IGMPv3_MR_Group  # noqa: E402
from scapy.layers.ipsec import ESP  # noqa: E402
from scapy.layers.vrrp import VRRP, VRRPv3  # noqa: E402
from scapy.utils import checksum  # noqa: E402

A = "02:00:00:00:00:01"
FLAGS = [(), ("-v",), ("-vv",), ("-q",), ("-e",)]


def eth(dst="01:00:5e:00:00:16"):
    return Ether(src=A, dst=dst)


def cut_after_each_byte(frames):
    """Every frame cut after each of its bytes past the IP header, and the wire lengths."""
    cut, wire = [], []
    for frame in frames:
        first = 14 + ((frame[14] & 15) * 4 if frame[12:14] == b"\x08\x00" else 40)
        cut += [frame[:n] for n in range(first, len(frame) + 1)]
        wire += [len(frame)] * (len(frame) + 1 - first)
    return cut, wire


def assert_lines_are_tcpdumps(tmp_path, frames, name):
    whole = [bytes(f) for f in frames]
    for label, (built, wire) in (("whole", (whole, [len(f) for f in whole])),
                                 ("cut", cut_after_each_byte(whole))):
        path = tmp_path / f"{name}-{label}.pcap"
        batch = ringcap.Batch.from_packets(built, ts=[1_700_000_000_000_000_000 + i * 1000
                                                      for i in range(len(built))])
        batch.wirelen[:] = wire
        ringcap.write_pcap(path, batch, nanosecond=False)
        for flags in FLAGS:
            theirs = packets(tcpdump_lines(path, *flags))
            ours = packets(ringcap_lines(path, "-nn", *flags))
            differ = [(a, b) for a, b in zip(theirs, ours) if a != b]
            assert len(ours) == len(theirs) and not differ, \
                f"{label} {flags}: " + "\n".join(f"tcpdump: {a}\nringcap: {b}" for a, b in differ[:6])


def igmp_raw(kind, body=bytes([239, 1, 2, 3])):
    message = bytes([kind, 0, 0, 0]) + body
    return Raw(message[:2] + checksum(message).to_bytes(2, "big") + message[4:])


def igmp_frames():
    def ip(**kw):
        return IP(src="10.0.0.1", dst="224.0.0.22", ttl=1, **kw)
    records = [IGMPv3_MR_Group(rtype=4, maddr="239.1.1.1"),
               IGMPv3_MR_Group(rtype=1, maddr="239.2.2.2", srcaddrs=["10.1.1.1", "10.1.1.2"]),
               IGMPv3_MR_Group(rtype=9, maddr="239.3.3.3")]
    return [
        eth() / ip() / IGMP(type=0x16, gaddr="239.1.2.3"),
        eth() / ip() / IGMP(type=0x17, gaddr="239.1.2.3"),
        eth() / ip() / IGMP(type=0x12, gaddr="239.1.2.3"),
        eth() / ip() / IGMP(type=0x11, gaddr="0.0.0.0", mrcode=100),
        eth() / ip() / IGMP(type=0x11, gaddr="239.9.9.9", mrcode=20),
        eth() / ip() / IGMP(type=0x11, gaddr="0.0.0.0", mrcode=0),
        eth() / ip() / IGMP(type=0x16, gaddr="239.1.2.3", chksum=0x1234),     # -v: bad cksum
        eth() / ip(proto=2) / igmp_raw(0x30),                                  # igmp-48
        eth() / ip(proto=2) / igmp_raw(0x12, bytes([239, 1, 2, 3, 0, 0, 0, 0])),  # [len 12]
        eth() / ip(proto=2) / igmp_raw(0x22, bytes(4) + bytes(2)),             # [invalid len 10]
        eth() / ip() / IGMPv3_MR(records=records),
        eth() / ip() / IGMPv3_MR(numgrp=5, records=records[:1]),                # invalid number
        eth() / ip() / IGMPv3_MQ(mrcode=100, gaddr="0.0.0.0"),
        eth() / ip() / IGMPv3_MQ(mrcode=200, gaddr="239.1.1.1", srcaddrs=["10.9.9.9", "10.9.9.8"]),
        eth() / ip() / IGMPv3_MQ(mrcode=25, gaddr="239.1.1.1", srcaddrs=["10.9.9.9"]),
        eth() / ip() / IGMPv3_MQ(mrcode=255, gaddr="239.1.1.1", numsrc=9),
    ]


def test_igmp_lines_are_tcpdumps(tmp_path):
    # ringcap printed " ip-proto-2 8" for every one of these
    assert_lines_are_tcpdumps(tmp_path, igmp_frames(), "igmp")


def esp_frames():
    v4 = dict(src="10.0.0.1", dst="10.0.0.2")
    return [
        eth() / IP(**v4) / ESP(spi=0x1234, seq=5, data=b"x" * 40),
        eth() / IP(**v4) / ESP(spi=0xDEADBEEF, seq=0xFFFFFFF0, data=b""),
        eth() / IP(**v4, flags="MF") / ESP(spi=7, seq=1, data=b"z" * 8),
        eth("02:00:00:00:00:02") / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / ESP(spi=0x99, seq=1, data=b"y" * 24),
    ]


def test_esp_lines_are_tcpdumps(tmp_path):
    # ringcap printed " ip-proto-50 48"
    assert_lines_are_tcpdumps(tmp_path, esp_frames(), "esp")


def vrrp_frames():
    def ip(ttl=255):
        return IP(src="10.0.0.1", dst="224.0.0.18", ttl=ttl)
    v6 = bytes([0x31, 7, 100, 2, 0, 100, 0, 0]) + bytes(15) + b"\x01" + bytes(15) + b"\x02"
    return [
        eth() / ip() / VRRP(vrid=7, priority=100, addrlist=["10.0.0.254"]),
        eth() / ip() / VRRP(vrid=7, priority=100, addrlist=["10.0.0.254", "10.0.0.253"],
                            authtype=1, auth1=0x70617373, auth2=0x0A000000),
        eth() / ip(64) / VRRP(vrid=7, priority=100, addrlist=["10.0.0.254"], chksum=0x4321),
        eth() / ip() / VRRP(vrid=8, priority=5, authtype=7, addrlist=["10.0.0.1"]),
        eth() / ip() / VRRPv3(vrid=7, priority=100, addrlist=["10.0.0.254"]),
        eth() / ip() / VRRPv3(vrid=7, priority=100, addrlist=["10.0.0.254"], chksum=1),
        eth() / ip() / VRRP(version=2, type=3, vrid=7),
        eth() / ip() / VRRP(version=1, vrid=7),
        eth("02:00:00:00:00:02") / IPv6(src="fe80::1", dst="ff02::12", hlim=255, nh=112) / Raw(v6),
        eth("02:00:00:00:00:02") / IPv6(src="fe80::1", dst="ff02::12", hlim=1, nh=112) / Raw(v6),
    ]


def test_vrrp_lines_are_tcpdumps(tmp_path):
    # ringcap printed " ip-proto-112 20"
    assert_lines_are_tcpdumps(tmp_path, vrrp_frames(), "vrrp")


@pytest.mark.parametrize("options", [{"verbose": 1, "payload": "XX"}, {"verbose": 2, "payload": "XX"},
                                     {"verbose": 2, "payload": "A", "link_header": True}])
def test_long_lan_lists_stay_within_the_promised_room(options):
    # IGMPv3 reports of thousands of records or sources and a query of
    # thousands of sources: the -v lists stop after LIST_BUDGET bytes of text
    record = bytes([9, 0, 0, 0, 239, 1, 2, 3])
    sources = bytes([1, 0]) + struct.pack("!H", 2000) + bytes([239, 1, 2, 3]) + bytes(range(4)) * 2000
    messages = [struct.pack("!BBHHH", 0x22, 0, 0, 0, 1000) + record * 1000,
                struct.pack("!BBHHH", 0x22, 0, 0, 0, 1) + sources,
                struct.pack("!BBH4sBBH", 0x11, 200, 0, bytes([239, 1, 1, 1]), 0, 0, 2000)
                + bytes(range(4)) * 2000]
    for message in messages:
        frame = bytes(12) + b"\x08\x00" + struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(message), 0, 0, 1,
                                                      2, 0) + bytes(8) + message
        text = format_all(ringcap.Batch.from_packets([frame], ts=[0]), **options)
        assert 1000 < len(text) <= _text.bytes_needed(len(frame))


def test_short_vqp_and_radius_datagrams_are_cut_as_tcpdump_says(tmp_path):
    # under VQP's 8-byte header or RADIUS's 20 bytes, tcpdump says " [|vqp]",
    # " [|radius]" where ringcap printed "UDP, length 0"; longer ones it decodes
    # (ringcap prints "UDP, length N": docs/printing.md)
    def ip(version):
        if version == 4:
            return eth("02:00:00:00:00:02") / IP(src="10.0.0.1", dst="10.0.0.2")
        return eth("02:00:00:00:00:02") / IPv6(src="2001:db8::1", dst="2001:db8::2")
    message = bytes([1, 1, 0, 20]) + bytes(16)
    frames = []
    for port, under in ((1589, 8), (1645, 20), (1646, 20), (1812, 20), (1813, 20)):
        for n in (0, 1, under - 1):
            frames.append(ip(4) / UDP(sport=40000, dport=port) / Raw(message[:n]))
        frames.append(ip(6) / UDP(sport=port, dport=40000))
    assert_lines_are_tcpdumps(tmp_path, frames, "udp-cut")
