"""Lines of non-Ethernet files at the edges of their link headers, against tcpdump 4.99.

- NULL/LOOP headers name the BSD address family as tcpdump's bsd_af_values
  do ("AF NS (6)"), and under ``-q`` in null_hdr_print's short form
  ("IPv4, length N: ", "Unknown AF 99, length N: ").
- A frame cut right after its link header, whose header says IPv4 or IPv6:
  tcpdump prints " [|ip]" (no "IP " before it) or " [|ip6]", on every link
  type, and for IPv4 its -x/-X/-A dump starts at the link header.
- A link header cut short (" [|sll]", " [|ether]", ...) and an ARP packet cut
  short (" [|arp]"), with the dumps tcpdump makes of them.
"""
from __future__ import annotations

import struct

import pytest
from scapy.layers.inet import IP, TCP
from scapy.layers.inet6 import IPv6
from scapy.packet import Raw

from ringcap.batch import (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2,
                           LINKTYPE_LOOP, LINKTYPE_NULL)
from test_linktypes import frame, ringcap_cli, tcpdump


def write_pcap(path, linktype: int, records: list[tuple[bytes, int]]) -> str:
    """A little-endian pcap of (captured bytes, length on the wire) records."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for i, (data, wire) in enumerate(records):
            f.write(struct.pack("<IIII", 1_700_000_000 + i, 1000 * i, len(data), wire))
            f.write(data)
    return str(path)


def lines_of_both(path: str, flags: tuple) -> tuple[str, str]:
    want = tcpdump("-nn", *flags, "-r", path).stdout
    got = ringcap_cli("-nn", *flags, "-r", path)
    assert got.returncode == 0, got.stderr
    return got.stdout, want


IPV4 = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=8443, flags="PA")
             / Raw(b"x" * 20))
IPV6 = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=8443, dport=50000,
                                                               flags="A"))


@pytest.mark.parametrize("flags", [(), ("-q",), ("-e",), ("-e", "-q"), ("-q", "-x"),
                                   ("-e", "-q", "-X"), ("-v", "-q")])
@pytest.mark.parametrize("linktype", [LINKTYPE_NULL, LINKTYPE_LOOP])
def test_bsd_loopback_families_are_named_as_tcpdump_names_them(tmp_path, linktype, flags):
    """ringcap said "AF Unknown (6)" for NS and "AF IPv4 (2)" under -e -q,
    where tcpdump says "AF NS (6)" and "IPv4"; an unknown family under -q is
    tcpdump's "Unknown AF 99"."""
    order = ">" if linktype == LINKTYPE_LOOP else "<"
    records = []
    for family, packet in ((2, IPV4), (24, IPV6), (28, IPV6), (30, IPV6), (6, IPV4),
                           (99, IPV4), (2, IPV6)):
        data = struct.pack(order + "I", family) + packet
        records.append((data, len(data)))
    path = write_pcap(tmp_path / "loopback.pcap", linktype, records)
    got, want = lines_of_both(path, flags)
    assert got == want


@pytest.mark.parametrize("flags", [(), ("-e",), ("-q",), ("-e", "-q"), ("-v",), ("-x",),
                                   ("-X",), ("-A",), ("-e", "-x"), ("-XX",)])
@pytest.mark.parametrize("linktype", [LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL,
                                      LINKTYPE_LINUX_SLL2, LINKTYPE_NULL, LINKTYPE_LOOP])
def test_a_frame_cut_after_its_link_header_prints_as_tcpdump(tmp_path, linktype, flags):
    """Nothing of the IP packet its link header announces: ringcap printed
    nothing after the header on the other link types and "IP  [|ip]" on
    Ethernet, where tcpdump prints " [|ip]" or " [|ip6]" (and for IPv4 dumps
    the whole frame with -x: its printer stopped inside the link layer)."""
    records = []
    for packet in (IPV4, IPV6):
        whole = frame(linktype, packet)
        header = len(whole) - len(packet)
        for cut in (header, header + 1, header + 24):
            records.append((whole[:cut], len(whole)))
    path = write_pcap(tmp_path / "cut.pcap", linktype, records)
    got, want = lines_of_both(path, flags)
    assert got == want


def _arp_request(linktype: int) -> bytes:
    arp = struct.pack(">HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, bytes.fromhex("020000000a0b"),
                      bytes([10, 0, 0, 1]), bytes(6), bytes([10, 0, 0, 2]))
    if linktype == LINKTYPE_ETHERNET:
        return b"\xff" * 6 + bytes.fromhex("020000000a0b") + b"\x08\x06" + arp
    if linktype == LINKTYPE_LINUX_SLL:
        return struct.pack(">HHH8sH", 1, 1, 6, bytes.fromhex("020000000a0b") + bytes(2),
                           0x0806) + arp
    return struct.pack(">HHIHBB8s", 0x0806, 0, 1, 1, 1, 6,
                       bytes.fromhex("020000000a0b") + bytes(2)) + arp


@pytest.mark.parametrize("flags", [(), ("-e",), ("-q",), ("-x",), ("-X",), ("-XX",), ("-A",),
                                   ("-e", "-x")])
@pytest.mark.parametrize("linktype", [LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL,
                                      LINKTYPE_LINUX_SLL2, LINKTYPE_NULL, LINKTYPE_LOOP])
def test_a_frame_cut_in_its_link_header_or_arp_prints_as_tcpdump(tmp_path, linktype, flags):
    """ringcap printed "[|sll]" (tcpdump: " [|sll]", and -x dumps the bytes
    there are; Ethernet's " [|ether]" dumps them only with -xx) and on a
    cooked capture "ARP, [|ARP]" for an ARP packet cut short, where tcpdump
    prints " [|arp]" and, as on Ethernet, dumps the frame whole with -x."""
    whole = frame(linktype, IPV4)
    header = len(whole) - len(IPV4)
    records = [(whole[:cut], len(whole)) for cut in (1, header - 1)]
    if linktype in (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2):
        arp = _arp_request(linktype)
        records += [(arp[:cut], len(arp)) for cut in (len(arp) - 28, len(arp) - 27,
                                                      len(arp) - 20, len(arp) - 1, len(arp))]
    path = write_pcap(tmp_path / "cut.pcap", linktype, records)
    got, want = lines_of_both(path, flags)
    assert got == want
