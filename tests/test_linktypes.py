"""Every supported link type, read from files other tools wrote and decoded as tshark does.

The test builds IP packets with scapy, frames them for each link type
(Ethernet, Linux cooked v1 and v2, raw IP under 101 and 12, raw IPv4/IPv6,
BSD NULL in both byte orders, OpenBSD LOOP, Ethernet with FCS bits in the
header), has text2pcap write pcap and pcapng files of them (``-l`` sets the
link type), mergecap mix them into one pcapng with an interface per link
type, and checks that ringcap reads each packet's link type and decodes the
same addresses, ports, protocol and lengths as tshark.  Unknown link types
are refused by name.  Needs text2pcap, mergecap, tshark (.ci/apt-packages).
"""
from __future__ import annotations

import importlib
import ipaddress
import itertools
import os
import struct
import subprocess
import sys

import numpy as np
import pytest

from scapy.layers.inet import GRE, ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.packet import Raw

import ringcap
from ringcap import Batch, _decode
from ringcap.batch import (LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL,
                           LINKTYPE_LINUX_SLL2, LINKTYPE_LOOP, LINKTYPE_NULL, LINKTYPE_RAW,
                           TP_STATUS_VLAN_VALID)

D = importlib.import_module("ringcap.headers")

MAC = bytes.fromhex("020000000a0b")


def ip_packets() -> list[bytes]:
    """IPv4 and IPv6 packets of several kinds, as bytes from the IP header on."""
    return [bytes(p) for p in (
        IP(src="10.0.0.1", dst="10.0.0.2", ttl=9) / TCP(sport=40000, dport=443, flags="PA")
        / Raw(b"x" * 20),
        IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=53, dport=33333) / Raw(b"dns"),
        IP(src="192.0.2.7", dst="198.51.100.9", options=b"\x01\x01\x01\x00") / TCP(
            sport=1, dport=2, flags="S"),
        IP(src="10.0.0.3", dst="10.0.0.4") / ICMP(type=8, id=7, seq=1) / Raw(b"ping"),
        IP(src="192.0.2.1", dst="192.0.2.2") / GRE() / IP(src="10.9.9.9", dst="10.8.8.8")
        / UDP(sport=5000, dport=6000),
        IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=443, dport=50000, flags="A"),
        IPv6(src="2001:db8::3", dst="ff02::fb") / UDP(sport=5353, dport=5353) / Raw(b"m" * 5),
        IPv6(src="fe80::1", dst="fe80::2") / IPv6ExtHdrHopByHop() / UDP(sport=7, dport=8),
    )]


def _family(version: int, ipv6_family: int = 24) -> int:
    return 2 if version == 4 else ipv6_family


def frame(linktype: int, packet: bytes, *, swap: bool = False, ipv6_family: int = 24) -> bytes:
    """``packet`` (IP) behind the link header of ``linktype``; NULL's address
    family little-endian and LOOP's big-endian unless ``swap``."""
    version = packet[0] >> 4
    ethertype = 0x0800 if version == 4 else 0x86DD
    if linktype == LINKTYPE_ETHERNET:
        return MAC + bytes.fromhex("020000000a0c") + struct.pack(">H", ethertype) + packet
    if linktype == LINKTYPE_LINUX_SLL:
        return struct.pack(">HHH8sH", 0, 1, 6, MAC + b"\0\0", ethertype) + packet
    if linktype == LINKTYPE_LINUX_SLL2:
        return struct.pack(">HHIHBB8s", ethertype, 0, 7, 1, 4, 6, MAC + b"\0\0") + packet
    if linktype in (LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return packet
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        order = ">" if (linktype == LINKTYPE_LOOP) != swap else "<"
        return struct.pack(order + "I", _family(version, ipv6_family)) + packet
    raise AssertionError(linktype)


def text2pcap(tmp_path, name: str, frames: list[bytes], linktype: int, fmt: str) -> str:
    """A capture file of ``frames`` written by text2pcap with link type ``linktype``."""
    dump = tmp_path / f"{name}.txt"
    with open(dump, "w") as f:
        for raw in frames:
            for start in range(0, len(raw), 16):
                f.write(f"{start:06x} " + " ".join(f"{b:02x}" for b in raw[start:start + 16])
                        + "\n")
            f.write("\n")
    out = tmp_path / f"{name}.{fmt}"
    done = subprocess.run(["text2pcap", "-q", "-F", fmt, "-l", str(linktype), str(dump),
                           str(out)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return str(out)


def set_linktype(path: str, linktype: int) -> None:
    """Rewrite the link type of a (little-endian) pcap file, or of a pcapng's
    first interface: for values text2pcap will not write (it turns 12 into 101)."""
    with open(path, "r+b") as f:
        head = f.read(8)
        if head[:4] == b"\x0a\x0d\x0d\x0a":
            shb_length, = struct.unpack("<I", head[4:8])
            f.seek(shb_length + 8)
            f.write(struct.pack("<H", linktype))
        else:
            f.seek(20)
            f.write(struct.pack("<I", linktype))


TSHARK_FIELDS = ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "ip.proto", "ip.len",
                 "ipv6.plen", "tcp.srcport", "tcp.dstport", "udp.srcport", "udp.dstport")


def tshark_rows(path: str) -> list[dict[str, str]]:
    """Per packet: the innermost occurrence of each field (empty when absent)."""
    args = ["tshark", "-r", path, "-n", "-T", "fields", "-E", "separator=/t",
            "-E", "occurrence=l"]
    for field in TSHARK_FIELDS:
        args += ["-e", field]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [dict(zip(TSHARK_FIELDS, line.split("\t")))
            for line in done.stdout.rstrip("\n").split("\n")]


def assert_decode_matches_tshark(batch: Batch, path: str) -> None:
    h = ringcap.decode(batch, columns="all")
    rows = tshark_rows(path)
    assert len(rows) == len(batch)
    for i, row in enumerate(rows):
        version = int(h.ip_version[i])
        where = f"packet {i} of {path} (link type {int(batch.linktype[i])})"
        assert version == (4 if row["ip.src"] else 6 if row["ipv6.src"] else 0), where
        if version == 4:
            assert str(ipaddress.ip_address(bytes(h.ip_src[i][12:]))) == row["ip.src"], where
            assert str(ipaddress.ip_address(bytes(h.ip_dst[i][12:]))) == row["ip.dst"], where
            assert int(h.ip_proto[i]) == int(row["ip.proto"]), where
            assert int(h.ip_len[i]) == int(row["ip.len"]), where
        else:
            assert str(ipaddress.ip_address(bytes(h.ip_src[i]))) == row["ipv6.src"], where
            assert str(ipaddress.ip_address(bytes(h.ip_dst[i]))) == row["ipv6.dst"], where
            assert int(h.ip_len[i]) == 40 + int(row["ipv6.plen"]), where
        sport = row["tcp.srcport"] or row["udp.srcport"] or "0"
        dport = row["tcp.dstport"] or row["udp.dstport"] or "0"
        assert (int(h.sport[i]), int(h.dport[i])) == (int(sport), int(dport)), where
        assert not h.flags[i] & (D.TRUNCATED | D.MALFORMED), where
        assert not h.eth_src[i].any() or int(batch.linktype[i]) == LINKTYPE_ETHERNET, where


def _packets_for(linktype: int) -> list[bytes]:
    packets = ip_packets()
    if linktype == LINKTYPE_IPV4:
        return [p for p in packets if p[0] >> 4 == 4]
    if linktype == LINKTYPE_IPV6:
        return [p for p in packets if p[0] >> 4 == 6]
    return packets


CASES = {
    "en10mb": (LINKTYPE_ETHERNET, {}),
    "linux_sll": (LINKTYPE_LINUX_SLL, {}),
    "linux_sll2": (LINKTYPE_LINUX_SLL2, {}),
    "raw": (LINKTYPE_RAW, {}),
    "raw_dlt12": (12, {}),
    "raw_dlt14": (14, {}),
    "ipv4": (LINKTYPE_IPV4, {}),
    "ipv6": (LINKTYPE_IPV6, {}),
    "null_little_endian": (LINKTYPE_NULL, {}),
    "null_big_endian_darwin": (LINKTYPE_NULL, dict(swap=True, ipv6_family=30)),
    "null_freebsd": (LINKTYPE_NULL, dict(ipv6_family=28)),
    "loop": (LINKTYPE_LOOP, {}),
    "loop_byte_swapped": (LINKTYPE_LOOP, dict(swap=True)),
}


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("case", sorted(CASES))
def test_file_of_each_link_type_decodes_as_tshark(tmp_path, case, fmt):
    linktype, options = CASES[case]
    frames = [frame(linktype, p, **options) for p in _packets_for(linktype)]
    if linktype in (12, 14):
        path = text2pcap(tmp_path, case, frames, LINKTYPE_RAW, fmt)
        set_linktype(path, linktype)
    else:
        path = text2pcap(tmp_path, case, frames, linktype, fmt)
    with ringcap.open_pcap(path) as reader:
        assert reader.linktype == linktype and reader.snaplen is not None
        batch = reader.read()
    assert len(batch) == len(frames)
    assert batch.linktype.tolist() == [linktype] * len(frames)
    if case == "loop_byte_swapped":
        # tshark reads LOOP big-endian only; ringcap also takes writers that
        # got the order wrong, and decodes them as the big-endian file
        reference = Batch.from_packets([frame(linktype, p) for p in _packets_for(linktype)],
                                       linktype=linktype)
        want, got = D.decode(reference, columns="all"), D.decode(batch, columns="all")
        for name in D.HEADER_COLUMNS:
            assert np.array_equal(getattr(got, name), getattr(want, name)), name
    else:
        assert_decode_matches_tshark(batch, path)
    again = ringcap.read_pcap(path)             # the out= path fills the column too
    assert again.linktype.tolist() == [linktype] * len(frames)
    out = Batch.empty(64)
    with ringcap.open_pcap(path) as reader:
        reader.read(out=out)
    assert out.linktype.tolist() == [linktype] * len(frames)


def test_cooked_fields_in_their_own_columns(tmp_path):
    packets = ip_packets()[:2]
    v1 = text2pcap(tmp_path, "v1", [frame(LINKTYPE_LINUX_SLL, p) for p in packets],
                   LINKTYPE_LINUX_SLL, "pcap")
    v2 = text2pcap(tmp_path, "v2", [frame(LINKTYPE_LINUX_SLL2, p) for p in packets],
                   LINKTYPE_LINUX_SLL2, "pcap")
    for path, pkttype, ifindex in ((v1, 0, 0), (v2, 4, 7)):
        h = ringcap.decode(ringcap.read_pcap(path), columns="all")
        assert h.sll_pkttype.tolist() == [pkttype] * 2
        assert h.sll_hatype.tolist() == [1, 1]
        assert h.sll_halen.tolist() == [6, 6]
        assert h.sll_ifindex.tolist() == [ifindex] * 2
        assert [bytes(a) for a in h.sll_addr] == [MAC + b"\0\0"] * 2
        assert h.ethertype.tolist() == [0x0800, 0x0800]
        assert not h.eth_src.any() and not h.eth_dst.any()
        assert h.l3_offset.tolist() == [16 if path == v1 else 20] * 2


def test_ethernet_with_fcs_bits_in_the_link_type_field(tmp_path):
    """pcap's link-type field may carry an FCS length (as tcpdump accepts):
    the packets are Ethernet, and their 4-byte FCS is not part of the IP packet."""
    packets = ip_packets()
    frames = [frame(LINKTYPE_ETHERNET, p) + b"\xde\xad\xbe\xef" for p in packets]
    path = text2pcap(tmp_path, "fcs", frames, LINKTYPE_ETHERNET, "pcap")
    with open(path, "r+b") as f:
        f.seek(20)
        f.write(struct.pack("<I", LINKTYPE_ETHERNET | 0x04000000 | (2 << 28)))   # F bit, 2 words
    done = subprocess.run(["tcpdump", "-nn", "-r", path], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.count("\n") == len(frames), done.stderr
    with ringcap.open_pcap(path) as reader:
        assert reader.linktype == LINKTYPE_ETHERNET
        batch = reader.read()
    assert batch.linktype.tolist() == [LINKTYPE_ETHERNET] * len(frames)
    assert_decode_matches_tshark(batch, path)


def test_pcapng_with_an_interface_per_link_type(tmp_path):
    """mergecap puts files of different link types into one pcapng, one IDB each:
    every packet gets its own interface's link type."""
    parts = []
    for k, linktype in enumerate((LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL2,
                                  LINKTYPE_NULL)):
        frames = [frame(linktype, p) for p in ip_packets()]
        parts.append(text2pcap(tmp_path, f"part{k}", frames, linktype, "pcap"))
    merged = str(tmp_path / "mixed.pcapng")
    done = subprocess.run(["mergecap", "-F", "pcapng", "-a", "-w", merged, *parts],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with ringcap.open_pcap(merged) as reader:
        assert reader.linktype == LINKTYPE_ETHERNET           # the first interface's
        batch = reader.read()
        assert [i.linktype for i in reader.interfaces] == [1, 101, 276, 0]
    n = len(ip_packets())
    assert batch.linktype.tolist() == [1] * n + [101] * n + [276] * n + [0] * n
    assert_decode_matches_tshark(batch, merged)
    # slices and masks keep each packet's link type; so does concat
    raw = batch[batch.linktype == LINKTYPE_RAW]
    assert len(raw) == n and D.decode(raw).ip_version.tolist() == [4] * 5 + [6] * 3
    assert Batch.concat([batch[::-1], raw]).linktype.tolist() == \
        batch.linktype.tolist()[::-1] + [101] * n


def test_unknown_link_type_is_refused_by_name(tmp_path):
    frames = [frame(LINKTYPE_ETHERNET, p) for p in ip_packets()[:2]]
    path = text2pcap(tmp_path, "user0", frames, 147, "pcap")
    batch = ringcap.read_pcap(path)
    assert batch.linktype.tolist() == [147, 147]
    with pytest.raises(ValueError, match="link type 147"):
        ringcap.decode(batch)
    with pytest.raises(ValueError, match="link type 147"):
        ringcap.decode(batch, columns=D.FIVE_TUPLE_COLUMNS)


def edge_packets() -> list[bytes]:
    """IP packets at the edges of the shortcuts' tests: fragments, UDP
    tunnels, TCP options, bad TCP/UDP lengths, IPv6 extension headers."""
    return [bytes(p) for p in (
        IP(src="10.0.0.5", dst="10.0.0.6", flags="MF") / UDP(sport=9, dport=10) / Raw(b"f" * 16),
        IP(src="10.0.0.5", dst="10.0.0.6", frag=3, proto=6) / Raw(b"g" * 24),
        IP(src="10.0.0.7", dst="10.0.0.8") / UDP(sport=4000, dport=4789) / Raw(b"\x08" + b"\0" * 7),
        IP(src="10.0.0.7", dst="10.0.0.8") / UDP(sport=4000, dport=6081) / Raw(b"\0" * 8),
        IP(src="10.0.0.9", dst="10.0.0.10") / TCP(sport=5, dport=6, flags="S", options=[
            ("MSS", 1460), ("NOP", None), ("WScale", 7)]),
        IP(src="10.0.0.9", dst="10.0.0.10") / TCP(sport=5, dport=6, dataofs=4) / Raw(b"t" * 8),
        IP(src="10.0.0.9", dst="10.0.0.10") / TCP(sport=5, dport=6, dataofs=15) / Raw(b"t" * 8),
        IP(src="10.0.0.11", dst="10.0.0.12") / UDP(sport=7, dport=8, len=4) / Raw(b"u" * 12),
        IP(src="10.0.0.11", dst="10.0.0.12") / UDP(sport=7, dport=8, len=200) / Raw(b"u" * 12),
        IP(src="10.0.0.13", dst="10.0.0.14", len=30) / TCP(sport=1, dport=2),
        IPv6(src="2001:db8::5", dst="2001:db8::6") / TCP(sport=7, dport=8, options=[
            ("MSS", 1400)]) / Raw(b"v" * 9),
        IPv6(src="2001:db8::5", dst="2001:db8::6") / UDP(sport=7, dport=4789) / Raw(b"\0" * 8),
        IPv6(src="2001:db8::5", dst="2001:db8::6") / IPv6ExtHdrFragment() / UDP(sport=7, dport=8),
        IPv6(src="2001:db8::5", dst="2001:db8::6", plen=0) / UDP(sport=7, dport=8),
        IPv6(src="2001:db8::5", dst="2001:db8::6") / TCP(sport=7, dport=8, dataofs=3),
    )]


def _edge_frames(linktype: int) -> list[bytes]:
    """The packets of both lists framed for ``linktype``, with the link
    layer claiming the other IP version, and (cooked) VLAN-tagged in the bytes."""
    packets = _packets_for(linktype) + [p for p in edge_packets() if p in _packets_for(
        linktype) or linktype not in (LINKTYPE_IPV4, LINKTYPE_IPV6) or (p[0] >> 4) == (
        4 if linktype == LINKTYPE_IPV4 else 6)]
    frames = [frame(linktype, p) for p in packets]
    v4, v6 = ip_packets()[0], ip_packets()[5]
    for claimed, carried in ((v4, v6), (v6, v4)):
        hlen = len(frame(linktype, claimed)) - len(claimed)
        frames.append(frame(linktype, claimed)[:hlen] + carried)
    if linktype in (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2):
        at = 0 if linktype == LINKTYPE_LINUX_SLL2 else 14
        for p in packets[:2] + packets[5:6]:
            f = frame(linktype, p)
            hlen = len(f) - len(p)
            frames.append(f[:at] + b"\x81\x00" + f[at + 2:hlen] + struct.pack(">H", 5)
                          + f[at:at + 2] + p)
    return frames + _not_plain_link_frames(linktype)


def _not_plain_link_frames(linktype: int) -> list[bytes]:
    """Frames the shortcuts must refuse at the link layer or the version
    nibble: a link header saying ARP or an 802.2 pseudo-protocol (cooked),
    an unknown address family (NULL/LOOP), IPv4 headers whose nibble says
    0, 5 or 6; and cooked v1 headers with 16-bit packet types and hardware
    address lengths past a byte."""
    v4 = ip_packets()[0]
    hlen = len(frame(linktype, v4)) - len(v4)
    frames = [frame(linktype, v4)[:hlen] + bytes([nibble << 4 | 5]) + v4[1:]
              for nibble in (0, 5, 6)]
    arp = bytes.fromhex("0001080006040001") + MAC + bytes([10, 0, 0, 1]) + bytes(6) \
        + bytes([10, 0, 0, 2])
    if linktype == LINKTYPE_LINUX_SLL2:
        cooked = struct.pack(">HHIHBB8s", 0x0806, 0, 3, 1, 0, 6, MAC + b"\0\0")
        frames += [cooked + arp + bytes(20), b"\x00\x04" + cooked[2:] + b"\xaa\xaa\x03" + v4]
    elif linktype == LINKTYPE_LINUX_SLL:
        frames += [struct.pack(">HHH8sH", 4, 1, 6, MAC + b"\0\0", 0x0806) + arp + bytes(20),
                   struct.pack(">HHH8sH", 4, 1, 6, MAC + b"\0\0", 4) + b"\xaa\xaa\x03" + v4,
                   struct.pack(">HHH8sH", 0x0104, 0x0304, 300, MAC * 2, 0x0800) + v4]
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        frames += [struct.pack(order + "I", family) + v4
                   for order in "<>" for family in (7, 0x0800, 0x12340002)]
    return frames


@pytest.mark.parametrize("linktype", [LINKTYPE_RAW, 12, 14, LINKTYPE_LINUX_SLL2,
                                      LINKTYPE_LINUX_SLL, LINKTYPE_IPV4, LINKTYPE_IPV6,
                                      LINKTYPE_NULL, LINKTYPE_LOOP])
def test_shortcuts_equal_the_general_path(linktype):
    """The plain-IPv4/IPv6 shortcuts of each link type (default and 5-tuple
    columns) give what the general decoder gives: on plain packets, on every
    kind the shortcuts must refuse (fragments, options, tunnels, bad lengths,
    IPv6 extension headers, the other IP version or another protocol in the
    link header, wrong version nibbles, VLAN tags in cooked headers), cut
    short at every 7th byte (with the wire length of the whole frame, as a
    snap length leaves it, and without), and tagged by the kernel (VLAN in
    the metadata)."""
    frames = _edge_frames(linktype)
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        frames += [frame(linktype, p, swap=True) for p in _packets_for(linktype)]
    cuts = [(f[:cut], len(f)) for f in frames for cut in range(0, len(f), 7)]
    wirelen = [len(f) for f in frames] + [w for _, w in cuts] + [len(c) for c, _ in cuts]
    frames = frames + [c for c, _ in cuts] * 2
    status = np.zeros(len(frames), dtype=np.uint32)
    status[::5] = TP_STATUS_VLAN_VALID
    batch = Batch.from_packets(frames, linktype=linktype, status=status,
                               vlan_tci=np.full(len(frames), 0x2005, dtype=np.uint16),
                               wirelen=np.array(wirelen, dtype=np.uint32))
    _decode.reset_overrun_count()
    fast = D.decode(batch, columns="all")
    five_fast = D.decode(batch, columns=D.FIVE_TUPLE_COLUMNS)
    _decode._test_set_fast_path(False)
    try:
        slow = D.decode(batch, columns="all")
    finally:
        _decode._test_set_fast_path(True)
    assert (slow.flags & D.TRUNCATED_PAYLOAD).any()
    if linktype in (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2):   # the kernel's tags are cooked's
        assert (slow.flags & D.VLAN_FROM_METADATA).any() and (slow.vlan_outer == 5).any()
    assert (slow.ip_version != 0).sum() > 20
    for name in D.HEADER_COLUMNS:
        assert np.array_equal(getattr(fast, name), getattr(slow, name)), name
    for name in D.FIVE_TUPLE_COLUMNS:
        assert np.array_equal(getattr(five_fast, name), getattr(slow, name)), name
    assert _decode.overrun_count() == 0, "a read went past caplen (debug build)"


def test_batches_of_mixed_link_types_decode_as_each_alone():
    """Runs of one link type (the shortcuts' unit) of every length, across
    the decoder's 128-packet chunks, in every order: each packet decodes as
    in a batch of its link type alone, through the shortcuts and without
    them, in the default, all and 5-tuple columns; a packet outside the data
    in the middle of a run is named."""
    linktypes = [LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LINUX_SLL2, LINKTYPE_LINUX_SLL,
                 LINKTYPE_NULL, LINKTYPE_LOOP, LINKTYPE_IPV4, LINKTYPE_IPV6, 12, 14]
    pools = {lt: _edge_frames(lt) if lt != LINKTYPE_ETHERNET else
             [frame(lt, p) for p in ip_packets() + edge_packets()] for lt in linktypes}
    frames, kinds = [], []
    for run, lt in zip(itertools.cycle((1, 2, 127, 3, 130, 1, 5, 257)),
                       linktypes * 3 + linktypes[::-1] * 3):
        pool = pools[lt]
        frames += [pool[(len(frames) + k) % len(pool)] for k in range(run)]
        kinds += [lt] * run
    status = np.zeros(len(frames), dtype=np.uint32)
    status[::11] = TP_STATUS_VLAN_VALID
    batch = Batch.from_packets(frames, linktype=np.array(kinds, dtype=np.uint16),
                               status=status,
                               vlan_tci=np.full(len(frames), 0x2005, dtype=np.uint16))
    assert len(batch) > 1500 and (batch.linktype == LINKTYPE_IPV6).sum() > 200
    _decode.reset_overrun_count()
    alone = {}
    for lt in linktypes:
        indices = np.flatnonzero(batch.linktype == lt)
        alone[lt] = (indices, D.decode(batch[indices], columns="all"))
    for fast in (True, False):
        _decode._test_set_fast_path(fast)
        try:
            decoded = {"all": D.decode(batch, columns="all"), "default": D.decode(batch),
                       "five": D.decode(batch, columns=D.FIVE_TUPLE_COLUMNS)}
        finally:
            _decode._test_set_fast_path(True)
        for columns, headers in decoded.items():
            names = {"all": D.HEADER_COLUMNS, "default": D.DEFAULT_COLUMNS,
                     "five": D.FIVE_TUPLE_COLUMNS}[columns]
            for lt, (indices, expected) in alone.items():
                for name in names:
                    assert np.array_equal(getattr(headers, name)[indices],
                                          getattr(expected, name)), (fast, columns, lt, name)
    assert (decoded["all"].ip_version != 0).sum() > 1000
    assert _decode.overrun_count() == 0, "a read went past caplen (debug build)"
    bad = int(np.flatnonzero(batch.linktype == LINKTYPE_LINUX_SLL2)[200])
    batch.offset[bad] = len(batch.data) + 1
    for columns in ("all", D.FIVE_TUPLE_COLUMNS):
        with pytest.raises(ValueError, match=f"packet {bad} lies outside"):
            D.decode(batch, columns=columns)


def test_batch_link_type_defaults_and_validation():
    batch = Batch.from_packets([b"\0" * 20, b"\1" * 30])
    assert batch.linktype.dtype == np.uint16 and batch.linktype.tolist() == [1, 1]
    assert Batch.from_packets([b"a"], linktype=LINKTYPE_RAW).linktype.tolist() == [101]
    assert Batch.empty(4)._store["linktype"].tolist() == [1] * 4
    with pytest.raises(ValueError, match="not a link type"):
        Batch.from_packets([b"a"], linktype=70000)


# ---------------------------------------------------------------- ringcap -r
PACKAGE_ROOT = os.path.dirname(os.path.dirname(ringcap.__file__))


def ringcap_cli(*args):
    return subprocess.run([sys.executable, "-m", "ringcap", *args], cwd="/", timeout=120,
                          env={**os.environ, "PYTHONPATH": PACKAGE_ROOT},
                          capture_output=True, text=True)


def tcpdump(*args):
    done = subprocess.run(["tcpdump", *args], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done


def printable_packets() -> list[bytes]:
    """Packets whose lines ringcap prints as tcpdump does (no application layer)."""
    return [bytes(p) for p in (
        IP(src="10.0.0.1", dst="10.0.0.2", ttl=9) / TCP(sport=40000, dport=8443, flags="PA")
        / Raw(b"x" * 20),
        IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=40001, dport=33333) / Raw(b"abc"),
        IP(src="10.0.0.3", dst="10.0.0.4") / ICMP(type=8, id=7, seq=1) / Raw(b"ping"),
        IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=8443, dport=50000, flags="A"),
        IPv6(src="2001:db8::3", dst="2001:db8::4") / UDP(sport=40002, dport=40003) / Raw(b"m"),
    )]


PRINT_CASES = ["en10mb", "linux_sll", "linux_sll2", "raw", "raw_dlt12", "null_little_endian",
               "null_big_endian_darwin", "loop"]


def _file_for(tmp_path, case: str, fmt: str, packets=None) -> str:
    linktype, options = CASES[case]
    packets = packets if packets is not None else printable_packets()
    frames = [frame(linktype, p, **options) for p in packets
              if linktype not in (LINKTYPE_IPV4, LINKTYPE_IPV6)
              or p[0] >> 4 == (4 if linktype == LINKTYPE_IPV4 else 6)]
    if linktype in (12, 14):
        path = text2pcap(tmp_path, case, frames, LINKTYPE_RAW, fmt)
        set_linktype(path, linktype)
        return path
    return text2pcap(tmp_path, case, frames, linktype, fmt)


@pytest.mark.parametrize("flags", [(), ("-e",), ("-q",), ("-e", "-x"), ("-XX",)])
@pytest.mark.parametrize("case", PRINT_CASES)
def test_lines_equal_tcpdumps_for_each_link_type(tmp_path, case, flags):
    path = _file_for(tmp_path, case, "pcap")
    want = tcpdump("-nn", *flags, "-r", path).stdout
    got = ringcap_cli("-nn", *flags, "-r", path)
    assert got.returncode == 0, got.stderr
    assert got.stdout == want
    name = ringcap.batch.linktype_name(CASES[case][0])
    assert f"link-type {name} (" in got.stderr


@pytest.mark.parametrize("expression", ["tcp", "udp", "ip6", "icmp or udp port 40003",
                                        "host 10.0.0.2", "not tcp"])
@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("case", PRINT_CASES + ["ipv6"])
def test_filtered_into_a_file_as_tcpdump_selects(tmp_path, case, fmt, expression):
    """`ringcap -r F FILTER -w OUT` keeps what `tcpdump -r F FILTER` keeps, written
    with the input's link type; pcapng inputs (which failed before) included."""
    path = _file_for(tmp_path, case, fmt, ip_packets() + printable_packets())
    out = str(tmp_path / f"out.{fmt}")
    done = ringcap_cli("-r", path, "-w", out, expression)
    reference = subprocess.run(["tcpdump", "-r", path, expression], capture_output=True,
                               text=True, timeout=60)
    if reference.returncode:     # e.g. "host 10.0.0.2" on raw IPv6: rejects all packets
        assert done.returncode == 1 and "rejects all packets" in reference.stderr
        assert "rejects all packets" in done.stderr
        return
    assert done.returncode == 0, done.stderr
    want = reference.stdout.count("\n")
    assert len(ringcap.read_pcap(out)) == want
    assert tcpdump("-r", out).stdout.count("\n") == want
    with ringcap.open_pcap(out) as reader:
        assert reader.linktype == CASES[case][0]


def test_a_pcapng_of_several_link_types_is_printed_filtered_and_rewritten(tmp_path):
    """tcpdump refuses such a file ("an interface has a type 101 different from the
    type of the first interface"): ringcap prints each packet as tcpdump prints the
    part it came from, and filters as tshark does."""
    parts = [_file_for(tmp_path, case, "pcap") for case in ("en10mb", "raw", "linux_sll2")]
    merged = str(tmp_path / "mixed.pcapng")
    subprocess.run(["mergecap", "-F", "pcapng", "-a", "-w", merged, *parts], check=True)
    for flags in (("-S",), ("-S", "-e")):     # -S: no sequence state across the parts
        want = "".join(tcpdump("-nn", *flags, "-r", part).stdout for part in parts)
        got = ringcap_cli("-nn", *flags, "-r", merged)
        assert got.returncode == 0 and got.stdout == want, got.stderr
    out = str(tmp_path / "tcp.pcapng")
    assert ringcap_cli("-r", merged, "-w", out, "tcp").returncode == 0
    shown = subprocess.run(["tshark", "-r", merged, "-Y", "tcp"], capture_output=True, text=True,
                           timeout=60).stdout
    assert len(ringcap.read_pcap(out)) == shown.count("\n") == 6
    with ringcap.open_pcap(out) as reader:
        reader.read()
        assert sorted({i.linktype for i in reader.interfaces}) == [1, 101, 276]
    # a pcap file holds one link type: a clear one-line error, no traceback
    done = ringcap_cli("-r", merged, "-w", str(tmp_path / "one.pcap"))
    assert done.returncode == 1 and "pcapng" in done.stderr and "Traceback" not in done.stderr


def _tagged_cooked(linktype: int, tags: list[tuple[int, int]], packet: bytes) -> bytes:
    """``packet`` behind a cooked header of protocol ``tags[0]``'s TPID, then the
    tags: (TPID of this tag, TCI); each tag's type field is the next TPID, the
    last one the packet's ethertype (or ``packet`` is taken whole when the
    last TPID is 0: the bytes after the tags)."""
    tpids = [tpid for tpid, _ in tags]
    if packet and packet[0] >> 4 in (4, 6):
        inner = 0x0800 if packet[0] >> 4 == 4 else 0x86DD
    else:
        inner = struct.unpack(">H", packet[:2])[0]
        packet = packet[2:]
    body = b"".join(struct.pack(">HH", tci, nxt)
                    for (_, tci), nxt in zip(tags, tpids[1:] + [inner]))
    return _cooked(linktype, tpids[0], body + packet)


def _cooked(linktype: int, proto: int, payload: bytes) -> bytes:
    if linktype == LINKTYPE_LINUX_SLL:
        return struct.pack(">HHH8sH", 4, 1, 6, MAC + b"\0\0", proto) + payload
    return struct.pack(">HHIHBB8s", proto, 0, 1, 1, 0, 6, MAC + b"\0\0") + payload


def tagged_cooked_frames(linktype: int) -> list[bytes]:
    v4 = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=40000, dport=8443, flags="S"))
    v6 = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=40002, dport=40003)
               / Raw(b"m"))
    arp = bytes.fromhex("0806" "0001080006040001" "020000000a0b" "0a000001" "000000000000"
                        "0a000002")
    return [
        _tagged_cooked(linktype, [(0x8100, 100)], v4),
        _tagged_cooked(linktype, [(0x8100, (5 << 13) | 0x1000 | 7)], v6),   # priority, DEI
        _tagged_cooked(linktype, [(0x8100, 10), (0x8100, 20)], v4),        # two tags
        _tagged_cooked(linktype, [(0x8100, 30)], arp),
        _tagged_cooked(linktype, [(0x8100, 40)], bytes.fromhex("88b5") + b"\x01" * 20),
        _tagged_cooked(linktype, [(0x8100, 50), (0x88A8, 60)], v4),       # QinQ TPID inside
        _tagged_cooked(linktype, [(0x88A8, 70)], v4),                      # (not 802.1Q)
        (_tagged_cooked(linktype, [(0x8100, 90)], v4))[:(20 if linktype == 276 else 16) + 2],
        _cooked(linktype, 0x0806, arp[2:]),                                  # untagged
        _cooked(linktype, 0x88B5, b"\x02" * 24),
    ]


@pytest.mark.parametrize("flags", [(), ("-e",), ("-q",), ("-e", "-q"), ("-e", "-x"), ("-XX",),
                                   ("-A",)])
@pytest.mark.parametrize("linktype", [LINKTYPE_LINUX_SLL2, LINKTYPE_LINUX_SLL])
def test_vlan_tags_inside_cooked_headers_print_as_in_tcpdump(tmp_path, linktype, flags):
    """802.1Q tags after a LINUX_SLL/SLL2 header: tcpdump's cooked printer goes
    through them ("vlan 100, p 0, ethertype IPv4, " with -e, "ethertype IPv4, "
    without), only through 0x8100, and shows the cooked header before a payload
    it does not know even without -e; ARP says "ARP, " without -e.  The lines
    of a text2pcap file (tagged and untagged frames) equal its."""
    path = text2pcap(tmp_path, "tagged", tagged_cooked_frames(linktype), linktype, "pcap")
    want = tcpdump("-nn", *flags, "-r", path).stdout
    got = ringcap_cli("-nn", *flags, "-r", path)
    assert got.returncode == 0, got.stderr
    assert got.stdout == want
    if flags == ("-e",):
        assert "vlan 100, p 0, ethertype IPv4, 10.0.0.1.40000 > 10.0.0.2.8443" in got.stdout
        assert "vlan 7, p 5, DEI, ethertype IPv6, " in got.stdout


def test_a_file_of_an_unknown_link_type_is_refused_for_printing(tmp_path):
    path = text2pcap(tmp_path, "user0", [b"\x00" * 30], 147, "pcap")
    done = ringcap_cli("-r", path)
    assert done.returncode == 1 and "147" in done.stderr and "-w" in done.stderr
    assert done.stderr.count("\n") <= 2 and "Traceback" not in done.stderr


# ---------------------------------------------------------------- tools that read files
@pytest.mark.parametrize("case", ["linux_sll2", "raw", "null_little_endian", "linux_sll"])
def test_flows_stats_and_datasets_follow_the_file(tmp_path, case):
    """The same packets under another link layer give the same flows, flow
    records, `ringcap stats` conversations (with a filter) and dataset rows."""
    import json
    packets = ip_packets() + printable_packets()
    ethernet = _file_for(tmp_path, "en10mb", "pcapng", packets)
    other = _file_for(tmp_path, case, "pcapng", packets)
    a, b = ringcap.read_pcap(ethernet), ringcap.read_pcap(other)
    fa, fb = ringcap.flows(a).to_pandas(), ringcap.flows(b).to_pandas()
    assert len(fa) == 12
    for column in ("ip_src", "ip_dst", "sport", "dport", "ip_proto", "packets_fwd"):
        assert fa[column].tolist() == fb[column].tolist(), column
    ra, rb = ringcap.flow_features(a), ringcap.flow_features(b)
    assert ra["bidirectional_packets"].tolist() == rb["bidirectional_packets"].tolist()
    assert len(ra) == 12
    for path in (ethernet, other):
        done = ringcap_cli("stats", "--json", "-f", "udp or tcp", path)
        assert done.returncode == 0, done.stderr
    reports = [json.loads(ringcap_cli("stats", "--json", "-f", "udp or tcp", p).stdout)
               for p in (ethernet, other)]
    # the same conversations and packets (bytes are frame bytes, as in Wireshark:
    # they differ by the link headers)
    keys = ("a", "b", "packets_ab", "packets_ba", "packets")
    assert [[c[k] for k in keys] for c in reports[0]["conversations"]] == \
        [[c[k] for k in keys] for c in reports[1]["conversations"]]
    assert reports[1]["conversations"] and reports[1]["files"][0]["linktypes"] == [CASES[case][0]]
    for path, name in ((ethernet, "eth"), (other, "other")):
        done = ringcap_cli("convert", path, str(tmp_path / name), "--format", "parquet")
        assert done.returncode == 0, done.stderr
    import pyarrow.dataset as ds
    tables = [ds.dataset(str(tmp_path / name), format="parquet", partitioning="hive").to_table(
        columns=["ip_src", "ip_dst", "sport", "dport", "ip_proto", "linktype"]).to_pydict()
        for name in ("eth", "other")]
    assert tables[1]["linktype"] == [CASES[case][0]] * len(packets)
    for column in ("ip_src", "ip_dst", "sport", "dport", "ip_proto"):
        assert tables[0][column] == tables[1][column], column


# ---------------------------------------------------------------- tunnels
def tunnel_frames() -> dict[str, bytes]:
    """Encapsulations as routers send them, built by scapy (and by hand where
    scapy has no layer): each carries an inner packet tshark decodes too."""
    from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III, ERSPAN_PlatformSpecific
    from scapy.contrib.pim import PIMv2Hdr
    from scapy.layers.l2 import Ether
    eth = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
    outer4 = dict(src="192.0.2.1", dst="198.51.100.2")
    outer6 = dict(src="2001:db8:ff::1", dst="2001:db8:ff::2")
    inner = IP(src="10.1.1.1", dst="10.2.2.2") / TCP(sport=41000, dport=8443, flags="PA")
    inner6 = IPv6(src="2001:db8::10", dst="2001:db8::20") / UDP(sport=40000, dport=40001)
    mirrored = Ether(src="02:00:00:00:02:01", dst="02:00:00:00:02:02") / inner
    frames = {
        "erspan_2": eth / IP(**outer4) / GRE(seqnum_present=1, sequence_number=1, proto=0x88BE)
        / ERSPAN_II(session_id=101, vlan=0) / mirrored,
        "erspan_3": eth / IP(**outer4) / GRE(seqnum_present=1, sequence_number=2, proto=0x22EB)
        / ERSPAN_III(session_id=202) / mirrored,
        "erspan_3_platform": eth / IP(**outer4)
        / GRE(seqnum_present=1, sequence_number=3, proto=0x22EB)
        / ERSPAN_III(session_id=203, o=1) / ERSPAN_PlatformSpecific(platf_id=3) / mirrored,
        "erspan_3_over_ipv6": eth / IPv6(**outer6)
        / GRE(seqnum_present=1, sequence_number=4, proto=0x22EB)
        / ERSPAN_III(session_id=204, ft=0) / Ether() / inner6,
        "erspan_1": eth / IP(**outer4) / GRE(proto=0x88BE) / mirrored,
        "6in4": eth / IP(proto=41, **outer4) / inner6,
        "4in6": eth / IPv6(nh=4, **outer6) / inner,
        "6in6": eth / IPv6(nh=41, **outer6) / inner6,
        "pim_register": eth / IP(proto=103, **outer4) / PIMv2Hdr(type=1)
        / Raw(b"\0\0\0\0") / inner,
        "pim_register_ipv6": eth / IPv6(nh=103, **outer6) / PIMv2Hdr(type=1)
        / Raw(b"\0\0\0\0") / inner6,
        # RFC 1701 routing: checksum/offset, an IPv4 source route entry, the NULL entry
        "gre_routing": eth / IP(proto=47, **outer4)
        / Raw(b"\x40\x00\x08\x00" + b"\0\0\0\x04" + b"\x08\x00\x04\x04" + bytes([10, 9, 9, 9])
              + b"\0\0\0\0" + bytes(inner)),
    }
    for c, k, s in itertools.product((0, 1), repeat=3):
        frames[f"gre_c{c}_k{k}_s{s}"] = eth / IP(**outer4) / GRE(
            chksum_present=c, key_present=k, key=0x1234 * k, seqnum_present=s,
            sequence_number=77 * s) / inner
    return {name: bytes(f) for name, f in frames.items()}


def test_tunnels_decode_to_tsharks_innermost_and_outer_headers(tmp_path):
    frames = tunnel_frames()
    path = text2pcap(tmp_path, "tunnels", list(frames.values()), LINKTYPE_ETHERNET, "pcap")
    batch = ringcap.read_pcap(path)
    h = D.decode(batch, columns="all")
    fields = ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "tcp.srcport", "tcp.dstport",
              "udp.srcport", "udp.dstport")
    rows = {}
    for occurrence in ("f", "l"):
        args = ["tshark", "-r", path, "-n", "-T", "fields", "-E", "separator=/t",
                "-E", f"occurrence={occurrence}"]
        for field in fields:
            args += ["-e", field]
        done = subprocess.run(args, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        rows[occurrence] = [dict(zip(fields, line.split("\t")))
                            for line in done.stdout.splitlines()]
    for i, name in enumerate(frames):
        first, last = rows["f"][i], rows["l"][i]
        assert h.flags[i] & D.TUNNEL and not h.flags[i] & (D.MALFORMED | D.TRUNCATED), name
        src, dst = ip_strings_of(h, i)
        # innermost: the last IP header tshark shows (IPv6 when the inner packet is)
        inner_v6 = h.ip_version[i] == 6
        assert (src, dst) == ((last["ipv6.src"], last["ipv6.dst"]) if inner_v6
                              else (last["ip.src"], last["ip.dst"])), name
        sport = last["tcp.srcport"] or last["udp.srcport"]
        dport = last["tcp.dstport"] or last["udp.dstport"]
        assert (str(h.sport[i]), str(h.dport[i])) == (sport, dport), name
        # outer: the first IP header
        if h.outer_ip_version[i] == 4:
            outer = (str(ipaddress.ip_address(bytes(h.outer_ip_src[i][12:]))),
                     str(ipaddress.ip_address(bytes(h.outer_ip_dst[i][12:]))))
            assert outer == (first["ip.src"], first["ip.dst"]), name
        else:
            outer = (str(ipaddress.ip_address(bytes(h.outer_ip_src[i]))),
                     str(ipaddress.ip_address(bytes(h.outer_ip_dst[i]))))
            assert outer == (first["ipv6.src"], first["ipv6.dst"]), name
    kinds = dict(zip(frames, h.tunnel_type.tolist()))
    assert kinds["pim_register"] == kinds["pim_register_ipv6"] == D.TUNNEL_TYPES["PIM"]
    assert kinds["erspan_3_platform"] == D.TUNNEL_TYPES["ERSPAN"]
    assert h.tunnel_id[list(frames).index("erspan_3_platform")] == 203
    assert h.tunnel_id[list(frames).index("gre_c1_k1_s1")] == 0x1234


def ip_strings_of(h, i: int) -> tuple[str, str]:
    if h.ip_version[i] == 4:
        return (str(ipaddress.ip_address(bytes(h.ip_src[i][12:]))),
                str(ipaddress.ip_address(bytes(h.ip_dst[i][12:]))))
    return str(ipaddress.ip_address(bytes(h.ip_src[i]))), str(ipaddress.ip_address(bytes(h.ip_dst[i])))


def test_encapsulations_not_decoded_through_keep_the_outer_headers():
    """PPTP's GRE version 1 (PPP inside), an ERSPAN header of an unknown version
    and a type III frame of another frame type: the outer packet, never garbage."""
    from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
    from scapy.layers.l2 import Ether
    eth = Ether(src="02:00:00:00:00:0a", dst="02:00:00:00:00:0b")
    outer4 = dict(src="192.0.2.1", dst="198.51.100.2")
    inner = bytes(IP(src="10.1.1.1", dst="10.2.2.2") / TCP(sport=41000, dport=8443))
    frames = [
        eth / IP(proto=47, **outer4) / Raw(b"\x30\x81\x88\x0b" + b"\0\x30\0\x07"
                                           + b"\0\0\0\x01" + b"\xff\x03\x00\x21" + inner),
        eth / IP(**outer4) / GRE(seqnum_present=1, proto=0x88BE) / ERSPAN_II(ver=7)
        / Raw(bytes(Ether()) + inner),
        eth / IP(**outer4) / GRE(seqnum_present=1, proto=0x22EB) / ERSPAN_III(ft=5)
        / Raw(inner),
    ]
    h = D.decode(Batch.from_packets([bytes(f) for f in frames]), columns="all")
    assert not (h.flags & D.TUNNEL).any()
    assert h.ip_src_str().tolist() == ["192.0.2.1"] * 3
    assert h.ip_proto.tolist() == [47] * 3 and h.sport.tolist() == [0] * 3
    assert h.tunnel_type.tolist() == [D.TUNNEL_TYPES["GRE"]] + [D.TUNNEL_TYPES["ERSPAN"]] * 2


# ---------------------------------------------------------------- writers
def test_writers_write_each_batchs_link_type(tmp_path):
    raw = Batch.from_packets(printable_packets(), ts=np.arange(5), linktype=LINKTYPE_RAW)
    cooked = Batch.from_packets([frame(LINKTYPE_LINUX_SLL2, p) for p in printable_packets()],
                                ts=np.arange(5), linktype=LINKTYPE_LINUX_SLL2)
    # pcap: the header says the first batch's link type (corrected in place)
    path = str(tmp_path / "raw.pcap")
    assert ringcap.write_pcap(path, raw) == 5
    assert "link-type RAW" in tcpdump("-nn", "-r", path).stderr
    assert ringcap.read_pcap(path).linktype.tolist() == [LINKTYPE_RAW] * 5
    # ... and refuses another one, saying what to do
    with pytest.raises(ValueError, match="pcapng"):
        ringcap.write_pcap(str(tmp_path / "mixed.pcap"), [raw, cooked])
    # a stream cannot be corrected: it needs linktype=, and then takes it
    read_end, write_end = os.pipe()
    try:
        with pytest.raises(ValueError, match="link type"):
            with ringcap.PcapWriter(write_end) as writer:
                writer.write(raw)
        with ringcap.PcapWriter(write_end, linktype=LINKTYPE_RAW) as writer:
            writer.write(raw)
    finally:
        os.close(write_end)
        os.close(read_end)
    # pcapng: an interface per link type
    path = str(tmp_path / "mixed.pcapng")
    assert ringcap.write_pcap(path, [raw, cooked], format="pcapng") == 10
    with ringcap.open_pcap(path) as reader:
        batch = reader.read()
        assert [i.linktype for i in reader.interfaces] == [LINKTYPE_RAW, LINKTYPE_LINUX_SLL2]
    assert batch.linktype.tolist() == [LINKTYPE_RAW] * 5 + [LINKTYPE_LINUX_SLL2] * 5
    assert_decode_matches_tshark(batch, path)
