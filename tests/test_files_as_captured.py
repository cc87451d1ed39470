"""What a capture file gives a pandas, Wireshark or tcpdump user, beside what
the live capture of the same packets gave.

- ``pkttype`` and ``protocol`` of Linux cooked files (LINUX_SLL, LINUX_SLL2:
  what tcpdump and ringcap write for ``-i any``): the cooked header holds
  them, a pcap record has no field for them; a file read gives the values the
  live capture had (tshark's ``sll.pkttype``, ``sll.etype``), so pandas
  labels an outgoing packet "outgoing", and a pcapng written from the file
  keeps the direction in ``epb_flags``.
- A pcapng whose first section describes no interface before its first
  packet, or before its end, is refused with libpcap's words, by the library
  and the command line, where it was read as Ethernet.
"""
from __future__ import annotations

import socket
import subprocess

import pyarrow.parquet as pq
import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Ether
from scapy.utils import wrpcap

import ringcap
from conftest import wait_for_packets, wait_until
from test_linktypes import ringcap_cli
from test_linktypes_devices import DATAGRAMS, SIZED, _retyped_tun, _send_sized
from test_linktypes_live import Tcpdump, tshark_rows
from test_pcap import ng_block, ng_epb, ng_idb, ng_shb, ng_spb

# outgoing / host, outgoing / broadcast, ... : a frame leaving one veth end and
# arriving at the other, to each kind of destination address
PKTTYPES = [4, 0, 4, 1, 4, 2, 4, 3]
NAMES = ["outgoing", "host", "outgoing", "broadcast", "outgoing", "multicast", "outgoing",
         "otherhost"]


def _cooked_file(path, linktype: int, pkttypes=PKTTYPES) -> str:
    """A LINUX_SLL (113) or LINUX_SLL2 (276) pcap of UDP datagrams, one a
    packet type; source port 1000 + i."""
    packets = []
    for i, pkttype in enumerate(pkttypes):
        l3 = IP(src="10.5.0.1", dst="10.5.0.2") / UDP(sport=1000 + i, dport=9) / (b"c" * i)
        if linktype == 113:
            head = CookedLinux(pkttype=pkttype, lladdrtype=1, lladdrlen=6,
                               src=b"\x02\x00\x00\x00\x00\x01\x00\x00", proto=0x0800)
        else:
            head = CookedLinuxV2(proto=0x0800, ifindex=3, lladdrtype=1, pkttype=pkttype,
                                 lladdrlen=6, src=b"\x02\x00\x00\x00\x00\x01\x00\x00")
        packets.append(head / l3)
    wrpcap(str(path), packets, linktype=linktype)
    return str(path)


@pytest.mark.parametrize("linktype", [113, 276])
def test_a_cooked_files_pkttype_is_its_headers(tmp_path, linktype):
    """read_pcap, a read into a reused batch and to_pandas give each packet
    the packet type and protocol its cooked header holds, as tshark's
    sll.pkttype and sll.etype (the old reader gave 0, "host" and "none", to
    every packet)."""
    path = _cooked_file(tmp_path / "cooked.pcap", linktype)
    assert tshark_rows(path, ("sll.pkttype", "sll.etype")) == [
        (str(t), "0x0800") for t in PKTTYPES]
    batch = ringcap.read_pcap(path)
    assert batch.pkttype.tolist() == PKTTYPES
    assert batch.protocol.tolist() == [0x0800] * len(PKTTYPES)
    frame = batch.to_pandas()
    assert frame["pkttype"].astype(str).tolist() == NAMES
    assert frame["protocol"].astype(str).tolist() == ["ipv4"] * len(PKTTYPES)
    out = ringcap.Batch.empty(16, 4096)
    with ringcap.open_pcap(path) as reader:
        assert reader.read(3, out=out).pkttype.tolist() == PKTTYPES[:3]
        assert reader.read(out=out).pkttype.tolist() == PKTTYPES[3:]


def test_a_cooked_packet_too_short_for_the_field_keeps_0(tmp_path):
    """A LINUX_SLL2 record captured shorter than its 11th byte (snaplen 10)
    has no packet type to give: 0, as before, but its protocol (bytes 0-1);
    the others both."""
    full = _cooked_file(tmp_path / "full.pcap", 276, [4, 4])
    cut = str(tmp_path / "cut.pcap")
    done = subprocess.run(["editcap", "-s", "10", "-r", full, cut, "1"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    merged = str(tmp_path / "merged.pcap")
    done = subprocess.run(["mergecap", "-a", "-F", "pcap", "-w", merged, cut, full],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    batch = ringcap.read_pcap(merged)
    assert batch.caplen.tolist()[0] == 10
    assert batch.pkttype.tolist() == [0, 4, 4]
    assert batch.protocol.tolist() == [0x0800] * 3


def test_a_pcapng_and_parquet_made_from_a_cooked_file_keep_the_direction(tmp_path):
    """`ringcap -r F -w G.pcapng` writes each packet's direction and reception
    type as epb_flags (Wireshark's frame.packet_flags), and `ringcap convert`
    the packet type into Parquet's pkttype column."""
    path = _cooked_file(tmp_path / "cooked.pcap", 276)
    written = str(tmp_path / "out.pcapng")
    done = ringcap_cli("-r", path, "-w", written)
    assert done.returncode == 0, done.stderr
    rows = tshark_rows(written, ("frame.packet_flags_direction",
                                "frame.packet_flags_reception_type"))
    # direction 2 outbound, 1 inbound; reception 1 unicast, 3 broadcast, 2 multicast, 4 promiscuous
    assert [(int(d, 16), int(r)) for d, r in rows] == [
        (2, 0), (1, 1), (2, 0), (1, 3), (2, 0), (1, 2), (2, 0), (1, 4)]
    assert ringcap.read_pcap(written).pkttype.tolist() == PKTTYPES
    dataset = tmp_path / "ds"
    done = ringcap_cli("convert", path, str(dataset) + "/")
    assert done.returncode == 0, done.stderr
    table = pq.read_table(str(dataset)).sort_by("sport")
    assert table.column("pkttype").to_pylist() == PKTTYPES


def test_files_of_an_any_capture_give_the_live_pkttype_and_protocol(tmp_path, veth):
    """Frames leaving veth end a for four kinds of destination, captured on
    `any` by a ring (live) and by tcpdump into LINUX_SLL2 and LINUX_SLL files:
    each file read gives every packet the live capture's pkttype and protocol."""
    port = 47311
    expression = f"udp dst port {port}"
    dests = [veth.mac_b, "ff:ff:ff:ff:ff:ff", "01:00:5e:00:00:01", "02:00:00:00:00:99"]
    frames = [bytes(Ether(src=veth.mac_a, dst=dst) / IP(src="10.66.0.1", dst="10.66.0.2")
                    / UDP(sport=30000 + i, dport=port)) for i, dst in enumerate(dests)]
    v2, v1 = str(tmp_path / "sll2.pcap"), str(tmp_path / "sll.pcap")
    with ringcap.RxRing(None, filter=expression, block_size=1 << 17, block_count=4,
                        block_timeout_ms=5) as ring:
        captures = [Tcpdump("any", v2, expression), Tcpdump("any", v1, expression,
                                                            ("-y", "LINUX_SLL"))]
        try:
            with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as raw:
                raw.bind((veth.a, 0))
                for frame in frames:
                    raw.send(frame)
            wait_for_packets(ring, 8)
            live = ring.read(64)
            wait_until(lambda: all(_count(p) == 8 for p in (v1, v2)), what="8 packets in "
                       "each tcpdump file")
        finally:
            for capture in captures:
                capture.finish()

    def by_port(batch):
        h = ringcap.decode(batch, columns=["sport"])
        return sorted(zip(h.sport.tolist(), batch.pkttype.tolist(), batch.protocol.tolist()))

    expected = sorted([(30000 + i, 4, 0x0800) for i in range(4)] + [
        (30000, 0, 0x0800), (30001, 1, 0x0800), (30002, 2, 0x0800), (30003, 3, 0x0800)])
    assert by_port(live) == expected
    assert by_port(ringcap.read_pcap(v2)) == expected
    assert by_port(ringcap.read_pcap(v1)) == expected


def _count(path: str) -> int:
    try:
        return len(ringcap.read_pcap(path))
    except (OSError, ringcap.PcapFormatError):
        return 0


NO_IDB = "the capture file has no Interface Description Blocks"
PACKET_FIRST = "the capture file has a packet block before any Interface Description Blocks"


@pytest.mark.parametrize("blocks, words, offset", [
    ([ng_shb("<")], NO_IDB, 28),
    ([ng_shb(">"), ng_block(">", 4, b"\0" * 8)], NO_IDB, 48),       # a name resolution block
    ([ng_shb("<"), ng_epb("<", 0, 5, b"x" * 20)], PACKET_FIRST, 28),
    ([ng_shb("<"), ng_block("<", 4, b"\0" * 8), ng_spb("<", b"x" * 20)], PACKET_FIRST, 48),
])
def test_a_pcapng_without_an_interface_is_refused_as_libpcap_does(tmp_path, blocks, words,
                                                                   offset):
    """tcpdump (libpcap 1.10) refuses these files at open with ``words``; so do
    open_pcap, `ringcap -r` and `ringcap convert`, saying where and what to do
    (the old reader took them for empty or corrupt Ethernet captures)."""
    path = tmp_path / "bare.pcapng"
    path.write_bytes(b"".join(blocks))
    theirs = subprocess.run(["tcpdump", "-r", str(path)], capture_output=True, text=True)
    assert theirs.returncode == 1 and f"tcpdump: {words}" in theirs.stderr
    with pytest.raises(ringcap.PcapFormatError, match=words) as raised:
        ringcap.open_pcap(path)
    assert raised.value.offset == offset
    assert ("writer" in str(raised.value)) and str(path) in str(raised.value)
    for command in (("-r", str(path)), ("convert", str(path), str(tmp_path / "ds") + "/")):
        ours = ringcap_cli(*command)
        assert ours.returncode == 1 and words in ours.stderr, ours.stderr
        assert ours.stdout == ""


def test_a_section_without_interfaces_before_one_with_them_is_read(tmp_path):
    """A first section that holds no block but its header, then a (big-endian)
    section with an interface and a packet: its link type and packet, as
    tshark reads it (libpcap stops at the second section's header)."""
    path = tmp_path / "two.pcapng"
    path.write_bytes(ng_shb("<") + ng_shb(">") + ng_idb(">", "e", linktype=101)
                     + ng_epb(">", 0, 5, bytes(IP(src="10.1.0.1", dst="10.1.0.2"))))
    assert tshark_rows(str(path), ("ip.dst",)) == [("10.1.0.2",)]
    with ringcap.open_pcap(path) as reader:
        assert reader.linktype == 101
        batch = reader.read()
    assert batch.linktype.tolist() == [101]
    assert ringcap.decode(batch, columns=["ip_dst"]).to_pandas()["ip_dst"].tolist() == [
        "10.1.0.2"]


def test_a_cooked_packets_address_in_pandas_is_its_first_halen_bytes(tmp_path):
    """``sll_addr`` holds 8 bytes of which ``sll_halen`` are the address:
    pandas (and Arrow strings) show those, as tshark's sll.src.eth, whatever
    lies past them, and NaN for a packet with none (a tun's); the old export
    printed all 8 (``02:00:00:00:00:01:aa:bb``)."""
    l3 = IP(src="10.5.0.1", dst="10.5.0.2") / UDP(sport=1000, dport=9)
    packets = [CookedLinuxV2(proto=0x0800, ifindex=3, lladdrtype=1, pkttype=0, lladdrlen=6,
                             src=b"\x02\x00\x00\x00\x00\x01" + tail) / l3
               for tail in (b"\xaa\xbb", b"\x00\x00", b"\xcc\xdd")]
    packets.append(CookedLinuxV2(proto=0x0800, ifindex=4, lladdrtype=0xFFFE, pkttype=0,
                                 lladdrlen=0, src=b"\x00" * 8) / l3)
    path = str(tmp_path / "addresses.pcap")
    wrpcap(path, packets, linktype=276)
    assert [row[0] for row in tshark_rows(path, ("sll.src.eth",))] == (
        ["02:00:00:00:00:01"] * 3 + [""])
    batch = ringcap.read_pcap(path)
    frame = ringcap.decode(batch, columns=["sll_addr"]).to_pandas()
    assert frame["sll_addr"].tolist()[:3] == ["02:00:00:00:00:01"] * 3
    assert frame["sll_addr"].isna().tolist() == [False, False, False, True]
    assert frame.groupby("sll_addr", observed=True).size().to_dict() == {"02:00:00:00:00:01": 3}
    table = ringcap.decode(batch, columns="all").to_arrow(addresses="str")
    assert table.column("sll_addr").to_pylist() == ["02:00:00:00:00:01"] * 3 + [None]


def test_sll_pkttype_is_named_as_pkttype_is():
    """In pandas a decoded sll_pkttype reads as pkttype does ("outgoing",
    not 4): the same vocabulary, the same labels."""
    batch = ringcap.Batch.from_packets(
        [bytes(CookedLinuxV2(proto=0x0800, ifindex=3, lladdrtype=1, pkttype=t, lladdrlen=6,
                             src=b"\x02\x00\x00\x00\x00\x01\x00\x00")
               / IP(src="10.5.0.1", dst="10.5.0.2") / UDP(sport=1000, dport=9))
         for t in PKTTYPES], linktype=[276] * len(PKTTYPES))
    frame = ringcap.decode(batch, columns=["sll_pkttype"]).to_pandas()
    assert frame["sll_pkttype"].astype(str).tolist() == NAMES
    table = ringcap.decode(batch, columns=["sll_pkttype"]).to_arrow(names=True)
    assert table.column("sll_pkttype").to_pylist() == NAMES


def test_a_pcapng_made_from_a_file_without_directions_claims_none(tmp_path):
    """An Ethernet pcap says nothing of which way its packets went:
    `ringcap -r F -w G.pcapng` and `ringcap convert F G.pcapng` write no
    epb_flags, as editcap does (they wrote "inbound" for every packet, the
    ones this host sent too); a pcapng source keeps its packets' flags."""
    frames = [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
              / IP(src="10.5.0.1", dst="10.5.0.2") / UDP(sport=1000 + i, dport=9)
              for i in range(3)]
    source = str(tmp_path / "ethernet.pcap")
    wrpcap(source, frames)
    reference = str(tmp_path / "editcap.pcapng")
    done = subprocess.run(["editcap", "-F", "pcapng", source, reference], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr
    flags = ("frame.packet_flags_direction",)
    assert tshark_rows(reference, flags) == [("",)] * 3
    for command in (("-r", source, "-w"), ("convert", source)):
        written = str(tmp_path / f"{command[0].strip('-')}.pcapng")
        done = ringcap_cli(*command, written)
        assert done.returncode == 0, done.stderr
        assert tshark_rows(written, flags) == [("",)] * 3
    directed = str(tmp_path / "directed.pcapng")
    batch = ringcap.read_pcap(source)
    batch.pkttype[:] = [4, 0, 1]
    ringcap.write_pcap(directed, batch, format="pcapng")
    again = str(tmp_path / "again.pcapng")
    assert ringcap_cli("convert", directed, again).returncode == 0
    assert [int(d, 16) for d, in tshark_rows(again, flags)] == [2, 1, 1]
    assert ringcap.read_pcap(again).pkttype.tolist() == [4, 0, 1]


def test_convert_names_a_file_it_cannot_read_once(tmp_path):
    """`ringcap convert` said "cannot read F: F: ..." (the reader's message
    names the file already)."""
    path = tmp_path / "bare.pcapng"
    path.write_bytes(ng_shb("<"))
    done = ringcap_cli("convert", str(path), str(tmp_path / "out.pcap"))
    assert done.returncode == 1
    assert done.stderr.count(str(path)) == 1, done.stderr
    assert done.stderr.startswith(f"ringcap: cannot read {path}: the capture file has no")


@pytest.mark.parametrize("hatype, linktype", [(824, 253), (783, 144), (8445, 177)],
                         ids=["NETLINK", "LINUX_IRDA", "LINUX_LAPD"])
def test_link_types_with_a_cooked_header_give_the_live_pkttype_too(tmp_path, netns, hatype,
                                                                    linktype):
    """nlmon's NETLINK, IrDA's and LAPD's records start with a LINUX_SLL
    header too (a tun retyped to each sends datagrams): tcpdump's file of
    them gives the pkttype and protocol the live ring had (0 before)."""
    device = _retyped_tun(hatype)
    try:
        path = str(tmp_path / "theirs.pcap")
        with ringcap.RxRing(device.name, filter=SIZED, block_size=1 << 17, block_count=4,
                            block_timeout_ms=5) as ring:
            capture = Tcpdump(device.name, path, SIZED)
            try:
                _send_sized(device, 47400)
                wait_for_packets(ring, DATAGRAMS)
                live = ring.read(64)
                wait_until(lambda: _count(path) == DATAGRAMS,
                           what="the datagrams in tcpdump's file")
            finally:
                capture.finish()
    finally:
        device.close()
    read = ringcap.read_pcap(path)
    assert read.linktype.tolist() == live.linktype.tolist() == [linktype] * DATAGRAMS
    assert read.pkttype.tolist() == live.pkttype.tolist() == [4] * DATAGRAMS       # outgoing
    assert read.protocol.tolist() == live.protocol.tolist() == [0x0800] * DATAGRAMS
