"""Live captures on devices of each link type, side by side with tcpdump.

In the session's network namespace: the loopback, a tun device (the test
writes IP packets into its file descriptor), a veth pair, and all of them at
once through ``any``.  For each, ``ringcap -i DEV -w F FILTER`` and ``tcpdump
-i DEV -w G FILTER`` run on the same traffic; both files must have the same
link type (tcpdump's choice: EN10MB, RAW, LINUX_SLL2) and tshark must decode
them to the same addresses, ports and, for cooked captures, interfaces and
packet types.  (The kernel here has no ipip, sit, gre, ip6gre or WireGuard
modules; those map to RAW by the same table as tun, see ringcap.ring.)
"""
from __future__ import annotations

import fcntl
import itertools
import os
import socket
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Raw

import ringcap
import ringcap.replay
from conftest import sh
from test_cli_capture import Cli
from test_linktypes import PACKAGE_ROOT

_ports = itertools.count(41000)
_tuns = itertools.count()


class Tcpdump:
    """A running `tcpdump -i DEV -U [OPTIONS] -w FILE FILTER`, started once it listens."""

    def __init__(self, iface: str, path: str, expression: str, options=()) -> None:
        self.proc = subprocess.Popen(["tcpdump", "-i", iface, "-U", *options, "-w", path,
                                      *expression.split()],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._err = b""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 20
        while b"listening on" not in self._err:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.finish()
                raise AssertionError(f"tcpdump did not start: {self._err!r}")
            time.sleep(0.02)

    def _read(self) -> None:
        for chunk in iter(lambda: self.proc.stderr.read1(4096), b""):
            self._err += chunk

    def finish(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(2)
        try:
            self.proc.wait(30)
        finally:
            self._reader.join(10)
            self.proc.stderr.close()


class Tun:
    """A tun device (IFF_TUN, no packet information) with 10.77.N.1/24, up;
    write() hands an IP packet to the kernel as received."""

    def __init__(self) -> None:
        n = next(_tuns)
        self.name = f"rctun{n}"
        self.fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC)
        try:
            fcntl.ioctl(self.fd, 0x400454CA, struct.pack("16sH", self.name.encode(), 0x1001))
            self.local, self.peer = f"10.77.{n}.1", f"10.77.{n}.2"
            sh(f"ip addr add {self.local}/24 dev {self.name} && ip link set {self.name} up")
            # (IPv6 may be disabled on the device: the capture sees the packets anyway)
            self.local6, self.peer6 = f"fd00:77:{n}::1", f"fd00:77:{n}::2"
        except BaseException:
            os.close(self.fd)
            raise

    def write(self, packet: bytes) -> None:
        os.write(self.fd, packet)

    def close(self) -> None:
        os.close(self.fd)     # the device goes with its last descriptor


@pytest.fixture
def tun(netns):
    device = Tun()
    try:
        yield device
    finally:
        device.close()


def tshark_rows(path: str, fields: tuple[str, ...]) -> list[tuple[str, ...]]:
    args = ["tshark", "-r", path, "-n", "-T", "fields", "-E", "separator=/t"]
    for field in fields:
        args += ["-e", field]
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [tuple(line.split("\t")) for line in done.stdout.splitlines()]


FIELDS = ("ip.src", "ip.dst", "ipv6.src", "ipv6.dst", "udp.srcport", "udp.dstport", "frame.len")
COOKED_FIELDS = FIELDS + ("sll.ifindex", "sll.pkttype", "sll.hatype", "sll.etype")


def side_by_side(tmp_path, iface: str, expression: str, send, expected: int, *,
                 ours_options: tuple = (), theirs_options: tuple = (),
                 ours_name: str = "ringcap.pcap"):
    """``ringcap -i IFACE OURS_OPTIONS -w F EXPRESSION`` beside ``tcpdump -i
    IFACE THEIRS_OPTIONS -w G EXPRESSION``: ``send()`` once both listen, wait
    until both files hold ``expected`` packets (or 30 s pass), stop both;
    returns (F, G, ringcap's stderr)."""
    ours, theirs = str(tmp_path / ours_name), str(tmp_path / "tcpdump.pcap")
    cli = Cli("-i", iface, *ours_options, "-U", "-w", ours, *expression.split())
    try:
        cli.wait_for("listening on")
        reference = Tcpdump(iface, theirs, expression, theirs_options)
        try:
            send()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                counts = [_count(path) for path in (ours, theirs)]
                if min(counts) >= expected:
                    break
                time.sleep(0.1)
        finally:
            reference.finish()
    finally:
        assert cli.finish(2) == 0, cli.err
    assert _count(ours) == _count(theirs) == expected, (cli.err, _count(ours), _count(theirs))
    return ours, theirs, cli.err


#: Packets a capture on ``any`` filtered to ``udp dst port PORT`` sees of any_traffic's.
ANY_PACKETS = 10


def any_traffic(veth, tun, port: int):
    """What a capture on ``any`` is tried with: a send() that puts 4 frames
    (0 to 3 bytes of payload) through the veth pair and one to ``port + 1``
    (to be filtered out), writes 3 IPv4 datagrams and 1 IPv6 one into the tun
    and sends 2 out by it, all to UDP ``port`` but the one: ANY_PACKETS.
    Source ports from 21000: tcpdump would print 7000-7009 as AFS (rx)."""
    frames = [bytes(Ether(src=veth.mac_a, dst=veth.mac_b) / IP(src="10.66.0.1", dst="10.66.0.2")
                    / UDP(sport=21000 + i, dport=port) / Raw(b"e" * i)) for i in range(4)]
    frames += [bytes(Ether(src=veth.mac_a, dst=veth.mac_b) / IP(src="10.66.0.1", dst="10.66.0.2")
                     / UDP(sport=21100, dport=port + 1))]
    packets = [bytes(IP(src=tun.peer, dst=tun.local) / UDP(sport=5000 + i, dport=port))
               for i in range(3)]
    packets += [bytes(IPv6(src=tun.peer6, dst=tun.local6) / UDP(sport=6000, dport=port))]

    def send():
        with ringcap.TxRing(veth.a) as tx:       # (a TX ring's frames are seen arriving only)
            tx.send(frames)
        for p in packets:
            tun.write(p)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:   # leaving by the tun
            for i in range(2):
                s.sendto(b"o" * i, (tun.peer, port))
    return send


def _count(path: str) -> int:
    try:
        return len(ringcap.read_pcap(path))
    except (OSError, ringcap.PcapFormatError):
        return 0


def _linktype(path: str) -> int:
    with ringcap.open_pcap(path) as reader:
        return reader.linktype


def test_tun_is_raw_ip_as_in_tcpdump(tmp_path, tun):
    port = next(_ports)
    packets = [bytes(IP(src=tun.peer, dst=tun.local) / UDP(sport=5000 + i, dport=port)
                     / Raw(b"t" * i)) for i in range(5)]
    packets += [bytes(IPv6(src=tun.peer6, dst=tun.local6) / UDP(sport=6000 + i, dport=port))
                for i in range(3)]
    ours, theirs, err = side_by_side(
        tmp_path, tun.name, f"udp dst port {port}",
        lambda: [tun.write(p) for p in packets], len(packets))
    assert _linktype(ours) == _linktype(theirs) == ringcap.batch.LINKTYPE_RAW
    assert "link-type RAW (Raw IP)" in err
    assert tshark_rows(ours, FIELDS) == tshark_rows(theirs, FIELDS)
    assert len({row[4] for row in tshark_rows(ours, FIELDS)}) == 8
    h = ringcap.decode(ringcap.read_pcap(ours))
    assert h.dport.tolist() == [port] * 8 and h.ip_version.tolist() == [4] * 5 + [6] * 3


def test_loopback_is_ethernet_as_in_tcpdump(tmp_path, netns):
    sh("ip link set lo up")
    port = next(_ports)

    def send():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(6):
                s.sendto(b"l" * i, ("127.0.0.1", port))

    # each datagram is seen once by a capture on lo (out and in are one pass)
    ours, theirs, err = side_by_side(tmp_path, "lo", f"udp dst port {port}", send, 6)
    assert _linktype(ours) == _linktype(theirs) == ringcap.batch.LINKTYPE_ETHERNET
    assert tshark_rows(ours, FIELDS) == tshark_rows(theirs, FIELDS)


def test_veth_is_ethernet_as_in_tcpdump(tmp_path, veth):
    port = next(_ports)
    frames = [bytes(Ether(src=veth.mac_a, dst=veth.mac_b) / IP(src="10.66.0.1", dst="10.66.0.2")
                    / UDP(sport=7000 + i, dport=port)) for i in range(7)]
    def send():
        with ringcap.TxRing(veth.a) as tx:
            tx.send(frames)

    ours, theirs, err = side_by_side(tmp_path, veth.b, f"udp dst port {port}", send, 7)
    assert _linktype(ours) == _linktype(theirs) == ringcap.batch.LINKTYPE_ETHERNET
    assert tshark_rows(ours, FIELDS) == tshark_rows(theirs, FIELDS)


def test_any_is_cooked_sll2_with_tcpdumps_filter_meaning(tmp_path, tun, veth):
    """`-i any` with traffic on a veth pair and a tun device at once: the same
    packets as `tcpdump -i any` with the same filter, as LINUX_SLL2 with each
    packet's interface, packet type and hardware type."""
    port = next(_ports)
    send = any_traffic(veth, tun, port)

    ours, theirs, err = side_by_side(tmp_path, "any", f"udp dst port {port}", send, ANY_PACKETS)
    assert _linktype(ours) == _linktype(theirs) == ringcap.batch.LINKTYPE_LINUX_SLL2
    assert "link-type LINUX_SLL2 (Linux cooked v2)" in err
    mine, reference = tshark_rows(ours, COOKED_FIELDS), tshark_rows(theirs, COOKED_FIELDS)
    assert sorted(mine) == sorted(reference)
    assert {row[7] for row in mine} == {str(veth.index_b), str(socket.if_nametoindex(tun.name))}
    batch = ringcap.read_pcap(ours)
    h = ringcap.decode(batch, columns=["sll_hatype", "sll_pkttype", "dport", "ip_version"])
    assert h.dport.tolist() == [port] * 10
    assert sorted(set(h.sll_hatype.tolist())) == [1, 0xFFFE]        # Ethernet, tun (NONE)
    assert sorted(set(h.sll_pkttype.tolist())) == [0, 4]            # In, Out


def test_reads_that_append_fill_the_link_type_too(tun):
    """A read with append=True (as the pool's workers fill a slot) writes each
    packet's link type in the rows it adds, not only in the first read's."""
    port = next(_ports)
    packet = bytes(IP(src=tun.peer, dst=tun.local) / UDP(sport=5000, dport=port))
    out = ringcap.Batch.empty(64)
    with ringcap.RxRing(tun.name, filter=f"udp dst port {port}", block_size=1 << 17,
                        block_count=4, block_timeout_ms=5) as ring:
        for expected in (2, 5):
            deadline = time.monotonic() + 20
            sent = False
            while len(out) < expected and time.monotonic() < deadline:
                if not sent:
                    for _ in range(expected - len(out)):
                        tun.write(packet)
                    sent = True
                ring.read(64, timeout=0.2, out=out, append=len(out) > 0)
            assert len(out) == expected
    assert out.linktype.tolist() == [ringcap.batch.LINKTYPE_RAW] * 5


def test_a_ring_on_interfaces_of_two_link_types_writes_pcapng_not_pcap(tmp_path, tun, veth):
    """One interface block per interface with its own link type; pcap refused
    up front with what to do instead."""
    port = next(_ports)
    with pytest.raises(ValueError, match="pcapng"):
        ringcap.capture_to_file([veth.b, tun.name], str(tmp_path / "two.pcap"), count=1)
    frames = [bytes(Ether(src=veth.mac_a, dst=veth.mac_b) / IP(src="10.66.0.1", dst="10.66.0.2")
                    / UDP(sport=7000, dport=port))] * 3
    packets = [bytes(IP(src=tun.peer, dst=tun.local) / UDP(sport=5000, dport=port))] * 3
    path = str(tmp_path / "two.pcapng")
    done = threading.Event()

    def send():
        while not done.wait(0.2):
            with ringcap.TxRing(veth.a) as tx:
                tx.send(frames)
            for p in packets:
                tun.write(p)

    sender = threading.Thread(target=send, daemon=True)
    sender.start()
    try:
        summary = ringcap.capture_to_file([veth.b, tun.name], path, count=12, duration=30,
                                          ring_options={"filter": f"udp dst port {port}"})
    finally:
        done.set()
        sender.join(10)
    assert summary.packets == 12
    with ringcap.open_pcap(path) as reader:
        batch = reader.read()
        kinds = {i.name: i.linktype for i in reader.interfaces}
    assert kinds == {veth.b: 1, tun.name: 101}
    assert sorted(set(batch.linktype.tolist())) == [1, 101]
    assert ringcap.decode(batch).dport.tolist() == [port] * 12


def test_replay_sends_only_packets_of_the_interfaces_link_type(tmp_path, tun, veth):
    """Raw IP packets go out of a tun device as they are (the tun's reader gets
    them); onto an Ethernet veth they would be garbage: counted failed, not sent."""
    import select
    port = next(_ports)
    packets = [bytes(IP(src=tun.local, dst=tun.peer) / UDP(sport=5000 + i, dport=port))
               for i in range(4)]
    path = str(tmp_path / "raw.pcap")
    ringcap.write_pcap(path, ringcap.Batch.from_packets(packets, ts=np.arange(4),
                                                        linktype=ringcap.batch.LINKTYPE_RAW))
    result = ringcap.replay.replay_file(path, tun.name, topspeed=True)
    assert result.packets == 4 and result.failed == 0
    got = []
    deadline = time.monotonic() + 20
    while not set(packets) <= set(got) and time.monotonic() < deadline:
        if select.select([tun.fd], [], [], 0.5)[0]:
            got.append(os.read(tun.fd, 65536))
    assert set(packets) <= set(got)        # (the kernel may send the tun packets of its own)
    result = ringcap.replay.replay_file(path, veth.a, topspeed=True)
    assert result.packets == 0 and result.failed == 4


@pytest.mark.parametrize("topspeed", [True, False])
@pytest.mark.parametrize("linktype", [12, 14, ringcap.batch.LINKTYPE_IPV4,
                                      ringcap.batch.LINKTYPE_IPV6])
def test_replay_sends_every_raw_ip_link_type_out_of_a_tun(tmp_path, tun, linktype, topspeed):
    """A raw IP file that says DLT_RAW as 12 or 14, or IPV4/IPV6, holds the
    bytes a tun device takes (tcpreplay sends them): ringcap counted every
    packet failed, since only LINKTYPE_RAW (101) matched the device's type."""
    import select
    port = next(_ports)
    if linktype == ringcap.batch.LINKTYPE_IPV6:
        packets = [bytes(IPv6(src=tun.local6, dst=tun.peer6) / UDP(sport=5000 + i, dport=port))
                   for i in range(4)]
    else:
        packets = [bytes(IP(src=tun.local, dst=tun.peer) / UDP(sport=5000 + i, dport=port))
                   for i in range(4)]
    path = tmp_path / "raw.pcap"
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for i, packet in enumerate(packets):
            f.write(struct.pack("<IIII", 1_700_000_000, i, len(packet), len(packet)) + packet)
    pacing = dict(topspeed=True) if topspeed else dict(pps=1000)
    result = ringcap.replay.replay_file(str(path), tun.name, **pacing)
    assert (result.packets, result.failed) == (4, 0)
    got = []
    deadline = time.monotonic() + 20
    while not set(packets) <= set(got) and time.monotonic() < deadline:
        if select.select([tun.fd], [], [], 0.5)[0]:
            got.append(os.read(tun.fd, 65536))
    assert set(packets) <= set(got)


def test_cli_replay_says_why_a_files_packets_are_not_sent(tmp_path, tun, veth):
    """`ringcap replay -i veth sll.pcap` printed only "Failed packets: 4": a
    warning now names the file's link type and the interface's first."""
    port = next(_ports)
    packets = [bytes(IP(src=tun.local, dst=tun.peer) / UDP(sport=5000 + i, dport=port))
               for i in range(4)]
    cooked = str(tmp_path / "cooked.pcap")
    ringcap.write_pcap(cooked, ringcap.Batch.from_packets(
        [struct.pack(">HHH8sH", 0, 1, 6, bytes(8), 0x0800) + p for p in packets],
        ts=np.arange(4), linktype=ringcap.batch.LINKTYPE_LINUX_SLL))
    raw = str(tmp_path / "raw.pcap")
    ringcap.write_pcap(raw, ringcap.Batch.from_packets(packets, ts=np.arange(4),
                                                       linktype=ringcap.batch.LINKTYPE_RAW))

    def replay(path, iface):
        done = subprocess.run([sys.executable, "-m", "ringcap", "replay", "-t", "-i", iface, path],
                              cwd="/", env={**os.environ, "PYTHONPATH": PACKAGE_ROOT},
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return done.stderr

    err = replay(cooked, veth.a)
    assert err.startswith(f"ringcap: warning: {cooked} has link type LINUX_SLL (Linux cooked v1) "
                          f"and {veth.a} sends EN10MB (Ethernet): its packets are counted as "
                          f"failed, not sent\n"), err
    assert "Failed packets:            4" in err
    err = replay(raw, tun.name)
    assert "warning" not in err and "Failed packets:            0" in err, err
    err = replay(raw, veth.a)
    assert f"has link type RAW (Raw IP) and {veth.a} sends EN10MB (Ethernet)" in err, err
