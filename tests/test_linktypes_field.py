"""Non-Ethernet link types tried as a tcpdump/Wireshark user tries them.

What a field comparison with tcpdump 4.99 / libpcap 1.10 / tshark found
missing or different, each checked here against the real tools:

- ``-y`` (choose the data link type) and ``-L`` listing the choices: on
  ``any`` and the cooked kinds (PPP, gre, ip6tnl, ...) ``-y LINUX_SLL``
  gives tcpdump's cooked v1 file, byte for byte; a link type the interface
  does not offer is refused in tcpdump's words, before anything is opened.
- ``-e -v`` printing of an ICMP error's quoted IPv4 packet: tcpdump leaves out
  the "IP " there as everywhere under ``-e``.
- ``ringcap stats``: the protocol hierarchy starts at the file's link layer
  (``raw``, ``sll``, ``null``, ``eth``), as tshark's ``-z io,phs``.
"""
from __future__ import annotations

import itertools
import os
import re
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw
from scapy.utils import PcapWriter

import ringcap
from ringcap.batch import LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW
import ringcap.report
from conftest import TEST_ETHERTYPE, make_frame
from test_cli_capture import Cli
from test_linktypes import PACKAGE_ROOT, ringcap_cli, tcpdump
from test_linktypes_devices import DATAGRAMS, _retyped_tun
from test_linktypes_live import (ANY_PACKETS, FIELDS, Tcpdump, _count, _linktype,
                                 any_traffic, tshark_rows, tun)  # noqa: F401 (tun: a fixture)
from test_linktypes_live import side_by_side as live_side_by_side

_ports = itertools.count(45000)


def side_by_side(tmp_path, iface: str, ours_options: tuple, theirs_options: tuple,
                 expression: str, send, expected: int, ours_name: str = "ringcap.pcap"):
    """test_linktypes_live's side_by_side, with options for each side."""
    return live_side_by_side(tmp_path, iface, expression, send, expected,
                             ours_options=ours_options, theirs_options=theirs_options,
                             ours_name=ours_name)


def _cooked_v1_records(path: str) -> list[tuple[bytes, int, int]]:
    """Each record of a LINUX_SLL file with its link-layer address field kept
    only to its length (sll_halen; the kernel leaves the rest of the 8 bytes
    unspecified), sorted."""
    batch = ringcap.read_pcap(path)
    records = []
    for i in range(len(batch)):
        data = bytes(batch[i])
        halen = int.from_bytes(data[4:6], "big")
        records.append((data[:6 + halen] + data[14:], int(batch.caplen[i]),
                        int(batch.wirelen[i])))
    return sorted(records)


def _printed(path: str, program: str, *flags: str) -> list[str]:
    args = ("-nn", "-t", *flags, "-r", path)
    done = ringcap_cli(*args) if program == "ringcap" else tcpdump(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_any_with_minus_y_linux_sll_is_tcpdumps_cooked_v1_capture(tmp_path, tun, veth):
    """`-i any -y LINUX_SLL` with traffic on a veth pair and a tun device at
    once: tcpdump's cooked v1 file (the same records, the 16-byte header
    built as libpcap builds it), printed with -e as tcpdump prints it, and
    decoded to each packet's addresses, ports, interface kind and direction."""
    port = next(_ports)
    send = any_traffic(veth, tun, port)

    y = ("-y", "LINUX_SLL")
    ours, theirs, err = side_by_side(tmp_path, "any", y, y, f"udp dst port {port}", send,
                                     ANY_PACKETS)
    assert _linktype(ours) == _linktype(theirs) == LINKTYPE_LINUX_SLL
    assert "ringcap: data link type LINUX_SLL\n" in err
    assert "listening on any, link-type LINUX_SLL (Linux cooked v1)," in err
    assert _cooked_v1_records(ours) == _cooked_v1_records(theirs)
    assert sorted(_printed(ours, "ringcap", "-e")) == sorted(_printed(theirs, "tcpdump", "-e"))
    h = ringcap.decode(ringcap.read_pcap(ours), columns="all")
    assert h.dport.tolist() == [port] * ANY_PACKETS
    assert sorted(set(h.sll_hatype.tolist())) == [1, 0xFFFE]        # Ethernet, tun (NONE)
    assert sorted(set(h.sll_pkttype.tolist())) == [0, 4]            # In, Out
    assert sorted(h.ip_version.tolist()) == [4] * 9 + [6]


def test_minus_y_linux_sll_on_a_cooked_device_writes_tcpdumps_default_file(tmp_path, netns):
    """A PPP device (a tun given ARPHRD_PPP): tcpdump captures it as LINUX_SLL
    by default, ringcap as LINUX_SLL2; with -y LINUX_SLL ringcap's file is
    tcpdump's, record for record."""
    device = _retyped_tun(512)          # ARPHRD_PPP
    try:
        port = next(_ports)
        ours, theirs, err = side_by_side(tmp_path, device.name, ("-y", "LINUX_SLL"), (),
                                         f"udp dst port {port}", lambda: device.send(port),
                                         DATAGRAMS)
    finally:
        device.close()
    assert _linktype(ours) == _linktype(theirs) == LINKTYPE_LINUX_SLL
    assert _cooked_v1_records(ours) == _cooked_v1_records(theirs)
    assert _printed(ours, "ringcap", "-e") == _printed(theirs, "tcpdump", "-e")


def test_rxring_chooses_the_link_type_among_those_the_interface_offers(tun, veth):
    """``RxRing(linktype=...)``: all interfaces as cooked v1 (every packet's
    linktype column says so, decode reads it); a link type the interface
    does not offer is a ValueError naming the ones it does."""
    port = next(_ports)
    with ringcap.RxRing(None, linktype="LINUX_SLL", filter=f"udp dst port {port}",
                        block_size=1 << 20, block_count=4) as ring:
        assert ring.linktype == LINKTYPE_LINUX_SLL
        for i in range(3):
            tun.write(bytes(IP(src=tun.peer, dst=tun.local) / UDP(sport=5000 + i, dport=port)))
        parts: list = []
        deadline = time.monotonic() + 30
        while sum(map(len, parts)) < 3 and time.monotonic() < deadline:
            parts.append(ring.read(64, timeout=0.5))
        stats = ring.stats
    batch = ringcap.Batch.concat(parts)
    assert len(batch) == 3, stats
    assert stats.delivered == 3 and stats.packets == stats.delivered + stats.drops, stats
    assert batch.linktype.tolist() == [LINKTYPE_LINUX_SLL] * 3
    h = ringcap.decode(batch)
    assert h.dport.tolist() == [port] * 3 and h.ip_src_str().tolist() == [tun.peer] * 3
    with pytest.raises(ValueError, match=r"EN10MB is not one of the link types "
                                         rf"{tun.name} is captured with; it offers RAW"):
        ringcap.RxRing(tun.name, linktype="EN10MB")
    with pytest.raises(ValueError, match="offers LINUX_SLL, LINUX_SLL2"):
        ringcap.RxRing(None, linktype=ringcap.batch.LINKTYPE_RAW)
    with pytest.raises(ValueError, match="invalid data link type NOPE"):
        ringcap.RxRing(veth.a, linktype="NOPE")


@pytest.mark.parametrize("iface,linktype,tcpdump_says", [
    ("tun", "EN10MB", "EN10MB is not one of the DLTs supported by this device"),
    ("tun", "LINUX_SLL", "LINUX_SLL is not one of the DLTs supported by this device"),
    ("any", "RAW", "RAW is not one of the DLTs supported by this device"),
    ("veth", "LINUX_SLL2", "LINUX_SLL2 is not one of the DLTs supported by this device"),
    ("any", "bogus", "invalid data link type bogus"),
])
def test_minus_y_refuses_what_tcpdump_refuses_in_one_line(tmp_path, tun, veth, iface,
                                                          linktype, tcpdump_says):
    name = {"tun": tun.name, "veth": veth.a, "any": "any"}[iface]
    theirs = subprocess.run(["tcpdump", "-i", name, "-y", linktype, "-c", "1", "-w",
                             str(tmp_path / "t.pcap")], capture_output=True, text=True,
                            timeout=60)
    assert theirs.returncode == 1 and tcpdump_says in theirs.stderr, theirs.stderr
    out = tmp_path / "r.pcap"
    ours = ringcap_cli("-i", name, "-y", linktype, "-c", "1", "-w", str(out))
    assert ours.returncode == 1
    line = tcpdump_says.replace("this device", name)
    if linktype == "bogus":
        line = "invalid data link type bogus;"
    assert ours.stderr.startswith(f"ringcap: {line}") and ours.stderr.count("\n") == 1, \
        ours.stderr
    assert not out.exists()
    # `ringcap top` captures live too, and refuses the same -y in the same line
    top = ringcap_cli("top", "-i", name, "-y", linktype, "--duration", "1")
    assert (top.returncode, top.stdout, top.stderr) == (1, "", ours.stderr)


def test_top_minus_y_linux_sll_captures_cooked_v1(veth):
    """`ringcap top -i any -y LINUX_SLL`: each 200-byte Ethernet frame counts as
    202 bytes (the 16-byte v1 header in place of Ethernet's 14), where the
    default cooked v2 counts 206; the -y refusals are tested with capture's."""
    frames = [make_frame(i, 200) for i in range(20)]
    for options, size in ((("-y", "LINUX_SLL"), 202), ((), 206)):
        proc = subprocess.Popen([sys.executable, "-m", "ringcap", "top", "-i", "any", *options,
                                 "--duration", "3", "ether", "proto", hex(TEST_ETHERTYPE)],
                                cwd="/", env={**os.environ, "PYTHONPATH": PACKAGE_ROOT,
                                              "COLUMNS": "200"},
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            while proc.poll() is None:            # (the ring opens at a time not told)
                with ringcap.TxRing(veth.a) as tx:
                    tx.send(frames)
                try:
                    proc.wait(timeout=0.2)
                except subprocess.TimeoutExpired:
                    pass
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert proc.returncode == 0, err
        totals = re.search(r"any: (\d+) packets, (\d+) bytes in [\d.]+ s \(totals", out)
        assert totals, out
        packets, size_sum = map(int, totals.groups())
        assert packets > 0 and size_sum == size * packets, (options, out)


@pytest.mark.parametrize("linktype", ["LINUX_SLL", "linux_sll", "RAW", "EN10MB", "DOCSIS"])
def test_reading_with_minus_y_ignores_a_known_link_type_as_tcpdump(tmp_path, linktype):
    """tcpdump 4.99 -r FILE -y NAME reads the file with its own link type when
    libpcap knows NAME (ringcap refused -y with -r); top -r does the same."""
    path = str(tmp_path / "eth.pcap")
    ringcap.write_pcap(path, ringcap.Batch.from_packets(
        [bytes(Ether() / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=21000 + i, dport=4000)
               / Raw(b"y" * i)) for i in range(3)]))
    ours = ringcap_cli("-nn", "-t", "-r", path, "-y", linktype)
    theirs = tcpdump("-nn", "-t", "-r", path, "-y", linktype)
    plain = ringcap_cli("-nn", "-t", "-r", path)
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == theirs.stdout == plain.stdout and len(ours.stdout.splitlines()) == 3
    top = ringcap_cli("top", "-r", path, "-y", linktype)
    assert top.returncode == 0 and "3 packets" in top.stdout, top.stderr


@pytest.mark.parametrize("linktype", ["BOGUS", "1", "sll"])
def test_reading_with_minus_y_refuses_an_unknown_link_type_as_tcpdump(tmp_path, linktype):
    """tcpdump -r FILE -y NAME fails (status 1) when libpcap has no link type
    NAME, before it opens the file (a missing file is not mentioned)."""
    missing = str(tmp_path / "missing.pcap")
    theirs = subprocess.run(["tcpdump", "-nn", "-r", missing, "-y", linktype],
                            capture_output=True, text=True, timeout=60)
    assert (theirs.returncode, theirs.stdout, theirs.stderr) == \
        (1, "", f"tcpdump: invalid data link type {linktype}\n")
    for command in (("-nn", "-r", missing), ("top", "-r", missing)):
        ours = ringcap_cli(*command, "-y", linktype)
        assert (ours.returncode, ours.stdout) == (1, "")
        assert ours.stderr.startswith(f"ringcap: invalid data link type {linktype}; ") \
            and ours.stderr.count("\n") == 1, ours.stderr


@pytest.mark.parametrize("linktype", ["EN10MB", "RAW"])
def test_minus_e_v_prints_an_icmp_errors_quoted_packet_as_tcpdump(tmp_path, linktype):
    """With -e tcpdump names no protocol before an IPv4 header ("IP "), the
    one an ICMP error quotes included: ringcap printed "IP (tos ...)" there."""
    quoted = (IP(src="10.5.0.1", dst="10.5.0.2", id=7) / UDP(sport=40001, dport=33333)
              / Raw(b"q" * 4))
    packets = [IP(src="10.5.0.2", dst="10.5.0.1", id=9) / ICMP(type=3, code=3) / quoted,
               IP(src="10.5.0.3", dst="10.5.0.1") / ICMP(type=11, code=0) / quoted]
    if linktype == "EN10MB":
        packets = [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / p for p in packets]
    path = str(tmp_path / f"{linktype}.pcap")
    with PcapWriter(path, linktype=1 if linktype == "EN10MB" else LINKTYPE_RAW) as writer:
        for p in packets:
            writer.write(p)
    for flags in (("-e", "-v"), ("-e", "-vv"), ("-v",)):
        mine, theirs = _printed(path, "ringcap", *flags), _printed(path, "tcpdump", *flags)
        assert mine == theirs, flags
    assert "\t(tos 0x0, ttl 64, id 7," in "\n".join(_printed(path, "ringcap", "-e", "-v"))


def _link_header(linktype: int, packet: bytes) -> bytes:
    """``packet`` (an IP packet) behind the link header of ``linktype``."""
    ethertype = 0x0800 if packet[0] >> 4 == 4 else 0x86DD
    if linktype == 1:
        return bytes.fromhex("020000000002020000000001") + struct.pack("!H", ethertype) + packet
    if linktype == LINKTYPE_LINUX_SLL:        # incoming, Ethernet, 6-byte address
        return struct.pack("!HHH8sH", 0, 1, 6, bytes.fromhex("020000000001"), ethertype) + packet
    if linktype == LINKTYPE_LINUX_SLL2:
        return struct.pack("!HHIHBB8s", ethertype, 0, 3, 1, 0, 6, bytes.fromhex("020000000001"),
                           ) + packet
    if linktype == 0:                         # BSD loopback: AF_INET / AF_INET6 (Linux's 10)
        return struct.pack("<I", 2 if ethertype == 0x0800 else 10) + packet
    return packet                             # RAW, IPV4


@pytest.mark.parametrize("linktype", [LINKTYPE_RAW, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, 0,
                                      228, 1])
def test_stats_protocol_hierarchy_starts_at_the_files_link_layer_as_tshark(tmp_path, linktype):
    """`ringcap stats` on a raw IP, cooked or loopback file counted every
    packet under "eth", where tshark's -z io,phs has raw, sll, null (and a Raw
    IPv4 file starts at ip): now the same paths and counts as tshark."""
    packets = [IP(src="10.6.0.1", dst="10.6.0.2") / UDP(sport=40000 + i, dport=33333)
               / Raw(b"u" * i) for i in range(3)]
    packets += [IP(src="10.6.0.2", dst="10.6.0.1") / ICMP(type=8, id=1, seq=i) for i in range(2)]
    if linktype != 228:
        packets += [IPv6(src="fd00:6::1", dst="fd00:6::2") / UDP(sport=40100, dport=33333)]
    batch = ringcap.Batch.from_packets([_link_header(linktype, bytes(p)) for p in packets],
                                       linktype=np.full(len(packets), linktype, np.uint16))
    path = str(tmp_path / "f.pcap")
    ringcap.write_pcap(path, batch)
    report = ringcap.report.TrafficReport()
    report.update(ringcap.read_pcap(path))
    ours = {p["path"]: (p["packets"], p["bytes"]) for p in report.protocols()}
    text = subprocess.run(["tshark", "-n", "-r", path, "-q", "-z", "io,phs"], capture_output=True,
                          text=True, check=True, timeout=120).stdout
    stack: list[str] = []
    theirs = {}
    for line in text.splitlines():
        m = re.match(r"^(\s*)(\S+)\s+frames:(\d+)\s+bytes:(\d+)", line)
        if m:
            stack[len(m.group(1)) // 2:] = [m.group(2)]
            theirs[":".join(stack)] = (int(m.group(3)), int(m.group(4)))
    root = {LINKTYPE_RAW: "raw", LINKTYPE_LINUX_SLL: "sll", LINKTYPE_LINUX_SLL2: "sll", 0: "null",
            228: "ip", 1: "eth"}[linktype]
    assert root in ours and f"{root}:ip:udp".removeprefix("ip:") in ours, ours
    # (tshark goes on into data, ...: the layers both show must agree)
    assert {path: theirs.get(path) for path in ours} == ours
    printed = ringcap_cli("stats", path)
    assert printed.returncode == 0, printed.stderr
    assert re.search(rf"^Protocol hierarchy.*\n  {root} +{len(packets)} ", printed.stdout, re.M)


def test_ifindex_filter_on_a_cooked_v1_capture_takes_that_interfaces_packets(tmp_path, tun,
                                                                               veth):
    """`-i any -y LINUX_SLL ifindex N`: libpcap compiles `ifindex` there as a
    load of the kernel's metadata (SKF_AD_IFINDEX), which the rewrite for the
    cooked socket moved back by the header's 16 bytes as if it were packet
    data: the filter then rejected every packet.  Now the interface's packets
    are captured, those tcpdump captures with the same filter as LINUX_SLL2.
    (tcpdump 4.99 itself, with -y LINUX_SLL, shows none of them: its kernel
    filter takes them, "received by filter", but libpcap filters them again
    in user space, where there is no interface index to load.)"""
    port = next(_ports)
    index = socket.if_nametoindex(tun.name)
    frames = [bytes(Ether(src=veth.mac_a, dst=veth.mac_b) / IP(src="10.68.0.1", dst="10.68.0.2")
                    / UDP(sport=21000, dport=port))] * 3           # another interface: not taken

    def send():
        with ringcap.TxRing(veth.a) as tx:
            tx.send(frames)
        for i in range(4):
            tun.write(bytes(IP(src=tun.peer, dst=tun.local) / UDP(sport=22000 + i, dport=port)))

    expression = f"ifindex {index} and udp dst port {port}"
    ours, theirs, _ = side_by_side(tmp_path, "any", ("-y", "LINUX_SLL"), ("-y", "LINUX_SLL2"),
                                   expression, send, 4)
    assert (_linktype(ours), _linktype(theirs)) == (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2)
    fields = FIELDS[:-1] + ("sll.pkttype", "sll.hatype", "sll.etype")    # (not frame.len)
    assert tshark_rows(ours, fields) == tshark_rows(theirs, fields)
    h = ringcap.decode(ringcap.read_pcap(ours), columns="all")
    assert h.sll_hatype.tolist() == [0xFFFE] * 4 and h.dport.tolist() == [port] * 4
    assert h.sport.tolist() == [22000, 22001, 22002, 22003]
    # the program itself: the metadata load is left as libpcap left it
    from ringcap.bpf import compile_filter, cooked_socket_program
    program = compile_filter(f"ifindex {index}", snaplen=65535, linktype=LINKTYPE_LINUX_SLL)
    assert (0x20, 0, 0, (1 << 32) - 0x1000 + 8) in program
    assert cooked_socket_program(program, LINKTYPE_LINUX_SLL) == program


def test_capture_to_file_on_all_interfaces_as_cooked_v1(tmp_path, tun):
    """``capture_to_file(None, ...)`` captures on all interfaces, as
    ``capture(None)`` and ``RxRing(None)`` do: it had created the file and
    then failed with an AttributeError ('NoneType' has no 'read').  A source
    that is no interface and no ring is a TypeError before any file exists."""
    port = next(_ports)
    path = tmp_path / "any.pcapng"
    done = threading.Event()

    def keep_sending():          # until the capture has its packets (no sleep for "ring open")
        i = 0
        while not done.is_set():
            tun.write(bytes(IP(src=tun.peer, dst=tun.local) / UDP(sport=23000, dport=port)
                            / Raw(i.to_bytes(4, "big"))))
            i += 1
            done.wait(0.02)

    sender = threading.Thread(target=keep_sending, daemon=True)
    sender.start()
    try:
        summary = ringcap.capture_to_file(None, path, count=5, signals=False, ring_options=dict(
            filter=f"udp dst port {port}", linktype="LINUX_SLL", block_size=1 << 20,
            block_count=4))
    finally:
        done.set()
        sender.join(10)
    assert summary.packets == 5 and summary.files == (str(path),)
    assert summary.received >= summary.packets + summary.drops
    batch = ringcap.read_pcap(path)
    assert len(batch) == 5 and set(batch.linktype.tolist()) == {LINKTYPE_LINUX_SLL}
    h = ringcap.decode(batch, columns="all")
    assert h.dport.tolist() == [port] * 5 and h.sll_hatype.tolist() == [0xFFFE] * 5
    assert tcpdump("-nn", "-r", str(path)).stdout.count(f"> {tun.local}.{port}: UDP") == 5
    with pytest.raises(TypeError, match="source is an interface name"):
        ringcap.capture_to_file(5, tmp_path / "never.pcapng", count=1)
    assert not (tmp_path / "never.pcapng").exists()


@pytest.mark.parametrize("linktype", [LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2])
def test_llc_frames_on_a_cooked_capture_print_their_llc_header(tmp_path, linktype):
    """STP, CDP and other 802.2 frames arrive on `-i any` as cooked protocol
    802.2 (LINUX_SLL_P_802_2): ringcap printed an empty line and a hex dump
    there; now the LLC header, as on Ethernet, and with -e the line begins as
    tcpdump's ("802.2, length 54: LLC, dsap STP (0x42) ... ctrl 0x03")."""
    mac = bytes.fromhex("020000000001")
    stp = bytes.fromhex("424203") + bytes(32)              # an empty config BPDU
    snap = bytes.fromhex("aaaa0300000c2000") + b"x" * 20     # CDP in SNAP
    frames = [stp, snap]
    ether = [bytes.fromhex("0180c2000000") + mac + struct.pack("!H", len(f)) + f for f in frames]
    if linktype == LINKTYPE_LINUX_SLL:
        cooked = [struct.pack("!HHH8sH", 2, 1, 6, mac.ljust(8, b"\0"), 4) + f for f in frames]
    else:
        cooked = [struct.pack("!HHIHBB8s", 4, 0, 1, 1, 2, 6, mac.ljust(8, b"\0")) + f
                  for f in frames]
    paths = {}
    for name, lt, records in (("ether", 1, ether), ("cooked", linktype, cooked)):
        paths[name] = str(tmp_path / f"{name}.pcap")
        ringcap.write_pcap(paths[name], ringcap.Batch.from_packets(
            records, linktype=np.full(len(records), lt, np.uint16)))
    on_ethernet = _printed(paths["ether"], "ringcap")
    # the BPDU goes on into tcpdump's STP line; CDP in SNAP stops at the LLC
    # header (docs/printing.md: ringcap has no CDP printer)
    assert on_ethernet == ["STP 802.1d, Config (invalid)",
                           "LLC, dsap SNAP (0xaa) Individual, ssap SNAP (0xaa) Command, "
                           "ctrl 0x03, length 25"]
    cooked_lines = _printed(paths["cooked"], "ringcap")
    assert [line.split("M   ")[-1] for line in cooked_lines] == on_ethernet   # (SLL2: "lo    M   ")
    for flags in ((), ("-e",)):
        mine = _printed(paths["cooked"], "ringcap", *flags)
        theirs = _printed(paths["cooked"], "tcpdump", *flags)
        assert len(mine) == len(theirs) == 2
        assert mine[0] == theirs[0]                                     # the BPDU
        if flags:
            head = theirs[1][:theirs[1].index("ctrl 0x03") + len("ctrl 0x03")]
            assert mine[1] == f"{head}, length 25", (mine[1], theirs[1])


def test_minus_y_names_the_interface_that_lacks_the_link_type(tmp_path, tun, veth):
    """Several interfaces: the one that does not offer the link type is named."""
    out = tmp_path / "r.pcapng"
    done = ringcap_cli("-i", f"{veth.a},{tun.name}", "-y", "EN10MB", "-c", "1", "-w", str(out))
    assert done.returncode == 1
    assert done.stderr == (f"ringcap: EN10MB is not one of the DLTs supported by {tun.name}; "
                           f"`ringcap -i {tun.name} -L` lists them\n")
    assert not out.exists()


def _tagged_frames(veth, port: int) -> list[bytes]:
    return [bytes(Ether(src=veth.mac_a, dst=veth.mac_b) / Dot1Q(vlan=7, prio=3)
                  / IP(src="10.69.0.1", dst="10.69.0.2") / UDP(sport=24000 + i, dport=port)
                  / Raw(b"t" * i)) for i in range(3)]


def _expected_cooked_v1(frame: bytes, mac: str) -> bytes:
    """libpcap's record for a tagged frame arriving on a LINUX_SLL capture:
    the header with 802.1Q in the protocol field, the tag, the protocol, the
    packet."""
    return (struct.pack("!HHH", 0, 1, 6) + bytes.fromhex(mac.replace(":", "")) + b"\0\0"
            + frame[12:])


def test_minus_y_linux_sll_puts_stripped_vlan_tags_back_as_libpcap(tmp_path, veth):
    """The kernel strips the 802.1Q tag of a frame arriving on a veth into the
    ring's metadata; libpcap puts it back after a LINUX_SLL header (not after
    LINUX_SLL2's).  `-i any -y LINUX_SLL` left it out: tcpdump's file had the
    tag, ringcap's not.  Now the same records as tcpdump, from the file
    writer, RxRing.read() and the zero-copy read_view() alike."""
    port = next(_ports)
    frames = _tagged_frames(veth, port)

    def send():
        with ringcap.TxRing(veth.a) as tx:
            tx.send(frames)

    y = ("-y", "LINUX_SLL")
    ours, theirs, _ = side_by_side(tmp_path, "any", y, y, f"udp dst port {port}", send, 3)
    assert _cooked_v1_records(ours) == _cooked_v1_records(theirs)
    expected = [_expected_cooked_v1(f, veth.mac_a) for f in frames]
    assert [bytes(p) for p in ringcap.read_pcap(ours).packets()] == expected
    assert sorted(_printed(ours, "ringcap", "-e")) == sorted(_printed(theirs, "tcpdump", "-e"))
    assert "vlan 7, p 3, ethertype IPv4" in _printed(ours, "ringcap", "-e")[0]

    port = next(_ports)
    frames = _tagged_frames(veth, port)
    expected = [_expected_cooked_v1(f, veth.mac_a) for f in frames]
    for how in ("read", "read_view", "read_records"):
        with ringcap.RxRing(None, linktype="LINUX_SLL", filter=f"udp dst port {port}",
                            block_size=1 << 20, block_count=4) as ring:
            send()
            got: list[bytes] = []
            deadline = time.monotonic() + 30
            while len(got) < 3 and time.monotonic() < deadline:
                if how == "read_view":
                    with ring.read_view(64, timeout=0.5) as view:
                        got += [bytes(view[i]) for i in range(len(view))]
                elif how == "read":
                    batch = ring.read(64, timeout=0.5)
                    got += [bytes(batch[i]) for i in range(len(batch))]
                else:               # pcap records: a 16-byte header (caplen at 8), the bytes
                    out = np.zeros(1 << 16, np.uint8)
                    n, end, _ = ring.read_records(out, 0, 64, timeout=0.5, snaplen=65535)
                    records, at = out[:end].tobytes(), 0
                    while at < end:
                        caplen = int.from_bytes(records[at + 8:at + 12], sys.byteorder)
                        got.append(records[at + 16:at + 16 + caplen])
                        at += 16 + caplen
            stats = ring.stats
        assert got == expected, how
        assert stats.packets == stats.delivered + stats.drops and stats.delivered == 3, stats
        port = next(_ports)
        frames = _tagged_frames(veth, port)
        expected = [_expected_cooked_v1(f, veth.mac_a) for f in frames]


def test_minus_y_a_link_type_libpcap_has_but_ringcap_does_not_offer(tmp_path, veth):
    """libpcap offers DOCSIS on Ethernet (cable modem taps), ringcap does not:
    refused as one the interface does not offer, not as an unknown name."""
    theirs = subprocess.run(["tcpdump", "-i", veth.a, "-y", "IEEE802_11", "-c", "1", "-w",
                             str(tmp_path / "t.pcap")], capture_output=True, text=True,
                            timeout=60)
    assert "IEEE802_11 is not one of the DLTs supported by this device" in theirs.stderr
    for name in ("DOCSIS", "IEEE802_11"):
        ours = ringcap_cli("-i", veth.a, "-y", name, "-c", "1", "-w", str(tmp_path / "r.pcap"))
        assert ours.returncode == 1
        assert ours.stderr == (f"ringcap: {name} is not one of the DLTs supported by {veth.a}; "
                               f"`ringcap -i {veth.a} -L` lists them\n")
    assert not (tmp_path / "r.pcap").exists()


@pytest.mark.parametrize("linktype", [LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, 0, 1])
def test_a_payload_that_is_not_the_ip_its_link_layer_says_prints_as_tcpdump(tmp_path, linktype):
    """A cooked, raw IP or loopback packet whose link layer says IPv4 or IPv6
    but whose bytes are no such header (another version, too short for one):
    ringcap printed an empty line and a hex dump (on Ethernet, addresses read
    from wherever an IPv4 header's would be); tcpdump says what is wrong
    ("IP0 (invalid)", "IP6, wrong link-layer encapsulation (invalid)", "IP6
    version error: 0 != 6", " [|ip6]", raw IP's "unknown ip 5"); and a BSD
    loopback family it does not know, with its header even without -e."""
    udp = bytes(IP(src="10.1.0.1", dst="10.1.0.2") / UDP(sport=40000, dport=33333))
    payloads = [(0x0800, bytes.fromhex("00090800") + udp),       # an 802.1Q tag left in
                (0x0800, bytes.fromhex("55") + bytes(27)),        # version 5
                (0x0800, bytes(IPv6(src="fd00::1", dst="fd00::2") / UDP())),
                (0x86DD, bytes(48)),                              # version 0
                (0x86DD, bytes.fromhex("60") + bytes(10))]        # cut short
    if linktype == LINKTYPE_RAW:
        payloads = [p for p in payloads if p[1][0] >> 4 not in (4, 6)]
    mac = bytes.fromhex("020000000001").ljust(8, b"\0")
    records = []
    for ethertype, payload in payloads:
        if linktype == LINKTYPE_LINUX_SLL:
            head = struct.pack("!HHH8sH", 0, 1, 6, mac, ethertype)
        elif linktype == LINKTYPE_LINUX_SLL2:
            head = struct.pack("!HHIHBB8s", ethertype, 0, 1, 1, 0, 6, mac)
        elif linktype == 1:
            head = bytes.fromhex("020000000002020000000001") + struct.pack("!H", ethertype)
        elif linktype == 0:             # (BSD's AF_INET6 is 24, 28 or 30)
            head = struct.pack("<I", 2 if ethertype == 0x0800 else 24)
        else:
            head = b""
        records.append(head + payload)
    if linktype == 0:       # a family tcpdump does not know: its header, then a dump
        records.append(struct.pack("<I", 10) + udp)
    path = str(tmp_path / "f.pcap")
    ringcap.write_pcap(path, ringcap.Batch.from_packets(
        records, linktype=np.full(len(records), linktype, np.uint16)))
    for flags in ((), ("-e",), ("-v",), ("-x",), ("-e", "-v")):
        mine = _printed(path, "ringcap", *flags)
        assert mine == _printed(path, "tcpdump", *flags), flags
    assert "" not in mine and not any(line.startswith("\t") for line in mine[:4])


def test_any_as_pcapng_reads_in_tshark_as_tcpdumps_pcap(tmp_path, tun, veth):
    """(Found matching; kept so it stays so.)  `-i any -w F.pcapng` with a veth
    and a tun device: tshark dissects each frame with the protocols it finds
    in tcpdump's file of the same traffic (sll:ethertype:ip:udp...), and
    names each packet's interface from the file's interface blocks."""
    port = next(_ports)
    frames = [bytes(Ether(src=veth.mac_a, dst=veth.mac_b) / IP(src="10.70.0.1", dst="10.70.0.2")
                    / UDP(sport=25000 + i, dport=port) / Raw(b"d" * 3)) for i in range(2)]

    def send():
        with ringcap.TxRing(veth.a) as tx:
            tx.send(frames)
        tun.write(bytes(IP(src=tun.peer, dst=tun.local) / UDP(sport=25100, dport=port)
                        / Raw(b"d" * 3)))
        tun.write(bytes(IPv6(src=tun.peer6, dst=tun.local6) / UDP(sport=25101, dport=port)
                        / Raw(b"d" * 3)))

    ours, theirs, _ = side_by_side(tmp_path, "any", (), (), f"udp dst port {port}", send, 4,
                                   ours_name="ringcap.pcapng")
    fields = ("frame.protocols", "sll.ifindex", "sll.pkttype", "ip.src", "ipv6.src",
              "udp.srcport")
    assert sorted(tshark_rows(ours, fields)) == sorted(tshark_rows(theirs, fields))
    assert {row[0] for row in tshark_rows(ours, fields)} == {"sll:ethertype:ip:udp:data",
                                                             "sll:ethertype:ipv6:udp:data"}
    names = {row[0] for row in tshark_rows(ours, ("frame.interface_name",))}
    assert names == {veth.b, tun.name}
