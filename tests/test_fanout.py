"""PACKET_FANOUT groups and rings on several interfaces, for real on veth pairs."""
import os
import struct

import numpy as np
import pytest

from conftest import VethPair, drain
from ringcap import Batch, Fanout, RxRing, TxRing
from ringcap.fanout import ebpf_instruction, load_ebpf_socket_filter

SMALL = dict(block_size=1 << 20, block_count=16, block_timeout_ms=5)
UDP_BASE_PORT = 40000


def udp_frame(seq: int, flow: int, size: int = 64) -> bytes:
    """An Ethernet/IPv4/UDP frame of flow ``flow`` (its source port and
    address) carrying ``seq`` in the first 4 payload bytes."""
    payload = seq.to_bytes(4, "big") + bytes(max(0, size - 46))
    udp = struct.pack("!HHHH", UDP_BASE_PORT + flow, 9, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     bytes([10, 1, flow >> 8, flow & 0xFF]), bytes([10, 2, 0, 1]))
    return b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + ip + udp


def seqs_and_flows(batch: Batch):
    """(seq, flow) of every test UDP frame in ``batch``."""
    long = batch[batch.caplen >= 46]
    ipv4 = (long.data[long.offset + 12] == 0x08) & (long.data[long.offset + 13] == 0x00)
    mine = long[ipv4 & (long.data[long.offset + 23] == 17)]
    start = mine.offset
    data = mine.data
    seq = ((data[start + 42].astype(np.int64) << 24) | (data[start + 43].astype(np.int64) << 16)
           | (data[start + 44].astype(np.int64) << 8) | data[start + 45].astype(np.int64))
    flow = ((data[start + 34].astype(np.int64) << 8) | data[start + 35]) - UDP_BASE_PORT
    return seq, flow


def collect(ring, idle=0.3):
    return Batch.concat(drain(ring, idle))


def test_hash_mode_gives_every_packet_once_and_each_flow_to_one_ring(veth):
    frames = [udp_frame(i, i % 64) for i in range(6400)]
    with RxRing(veth.b, fanout=Fanout(mode="hash"), **SMALL) as first:
        group = first.fanout
        assert isinstance(group.group_id, int) and group.mode == "hash"
        with RxRing(veth.b, fanout=group, **SMALL) as second, TxRing(veth.a) as tx:
            assert second.fanout == group
            tx.send(frames)
            got = [seqs_and_flows(collect(ring)) for ring in (first, second)]
            stats = [ring.stats for ring in (first, second)]
    all_seqs = np.concatenate([s for s, _ in got])
    assert np.array_equal(np.sort(all_seqs), np.arange(len(frames)))      # exactly once
    flows = [set(f.tolist()) for _, f in got]
    assert flows[0] and flows[1], "64 flows all hashed to one ring"
    assert not flows[0] & flows[1]                                        # no flow split
    assert flows[0] | flows[1] == set(range(64))
    for st, (seqs, _) in zip(stats, got):
        assert st.drops == 0 and st.delivered == st.packets >= len(seqs)
        assert st.rollover is None


def test_lb_mode_splits_evenly(veth):
    n = 10000
    frames = [udp_frame(i, 0) for i in range(n)]
    with RxRing(veth.b, fanout=Fanout(mode="lb"), **SMALL) as first, \
            RxRing(veth.b, fanout=first.fanout, **SMALL) as second, TxRing(veth.a) as tx:
        tx.send(frames)
        counts = [len(seqs_and_flows(collect(ring))[0]) for ring in (first, second)]
    assert sum(counts) == n
    assert all(abs(c - n / 2) <= 0.1 * n / 2 for c in counts), counts


@pytest.mark.parametrize("program", [
    "udp src port 40001",
    # ldh [20] (the UDP source port, counted from the IP header); and #1; ret a:
    # odd ports to ring 1
    [(0x28, 0, 0, 20), (0x54, 0, 0, 1), (0x16, 0, 0, 0)],
])
def test_cbpf_mode_follows_its_program(veth, program):
    frames = [udp_frame(i, i % 4) for i in range(400)]
    with RxRing(veth.b, fanout=Fanout(mode="cbpf", program=program), **SMALL) as ring0, \
            RxRing(veth.b, fanout=ring0.fanout, **SMALL) as ring1, TxRing(veth.a) as tx:
        tx.send(frames)
        (seq0, flow0), (seq1, flow1) = (seqs_and_flows(collect(r)) for r in (ring0, ring1))
    ones = {1} if isinstance(program, str) else {1, 3}
    assert set(flow1.tolist()) == ones and set(flow0.tolist()) == {0, 1, 2, 3} - ones
    assert len(seq0) + len(seq1) == 400


def test_ebpf_mode_follows_its_program(veth):
    # r0 = skb->len; r0 &= 1; exit: odd-length frames to ring 1
    program = (ebpf_instruction(0x61, dst=0, src=1, off=0) + ebpf_instruction(0x57, dst=0, imm=1)
               + ebpf_instruction(0x95))
    frames = [udp_frame(i, 0, size=64 + i % 2) for i in range(200)]
    fd = load_ebpf_socket_filter(program)
    try:
        with RxRing(veth.b, fanout=Fanout(mode="ebpf", program=fd), **SMALL) as ring0, \
                RxRing(veth.b, fanout=ring0.fanout, **SMALL) as ring1, TxRing(veth.a) as tx:
            tx.send(frames)
            got = [collect(r) for r in (ring0, ring1)]
    finally:
        os.close(fd)
    for index, batch in enumerate(got):
        lengths = set(batch[batch.protocol == 0x0800].caplen.tolist())
        assert lengths == {64 + index}
    assert sum(len(seqs_and_flows(b)[0]) for b in got) == 200
    with pytest.raises(OSError, match="verifier log"):
        load_ebpf_socket_filter(ebpf_instruction(0x95))      # exit with r0 unset


def test_rollover_sends_the_overflow_on_and_counts_it(veth):
    n = 20000
    frames = [udp_frame(i, 0) for i in range(n)]
    # two small rings with a long block timeout, not read while the burst
    # arrives: whichever ring the flow hashes to fills, and the rest rolls over
    tiny = dict(snaplen=1500, block_size=1 << 16, block_count=2, block_timeout_ms=1000)
    with RxRing(veth.b, fanout=Fanout(mode="hash", rollover=True), **tiny) as one, \
            RxRing(veth.b, fanout=one.fanout, **tiny) as other, TxRing(veth.a) as tx:
        tx.send(frames)
        got = [collect(r, idle=1.5) for r in (one, other)]
        stats = [r.stats for r in (one, other)]
    counts = [len(seqs_and_flows(b)[0]) for b in got]
    # one flow: the hash picks one ring; what it cannot hold rolls over to the other
    assert max(st.rollover for st in stats) > 0 and min(counts) > 0
    for st in stats:
        assert st.rollover is not None and st.rollover_failed is not None
        assert st.delivered + st.drops == st.packets
    seqs = np.concatenate([seqs_and_flows(b)[0] for b in got])
    assert len(np.unique(seqs)) == len(seqs)          # rolled over, never duplicated


def test_a_group_clash_says_what_differs(veth):
    with RxRing(veth.b, fanout=Fanout(mode="hash"), **SMALL) as first:
        group = first.fanout.group_id
        with pytest.raises(ValueError, match=r"mode 'hash' \(asked 'lb'\)"):
            RxRing(veth.b, fanout=Fanout(group, mode="lb"), **SMALL)
        with pytest.raises(ValueError, match=r"defrag=False \(asked True\)"):
            RxRing(veth.b, fanout=Fanout(group, defrag=True), **SMALL)
        with pytest.raises(ValueError, match=r"interface"):
            RxRing(veth.a, fanout=Fanout(group), **SMALL)


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="round-robin"), "unknown fanout mode"),
    (dict(mode="rollover", rollover=True), "already is rollover"),
    (dict(mode="cbpf"), "needs program="),
    (dict(mode="hash", program="udp"), "only for mode='cbpf'"),
    (dict(group_id=70000), "0 to 65535"),
])
def test_bad_fanout_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Fanout(**kwargs)


def test_a_member_sees_nothing_before_it_joined_and_its_filter_holds(veth):
    # the socket is bound before it can join; until then it must see nothing,
    # and its own filter must apply from the first packet after
    frames = [udp_frame(i, i % 2) for i in range(1000)]
    with RxRing(veth.b, filter="udp src port 40001", fanout=Fanout(mode="lb"), **SMALL) as rx, \
            TxRing(veth.a) as tx:
        tx.send(frames)
        seq, flow = seqs_and_flows(collect(rx))
    assert set(flow.tolist()) == {1} and len(seq) == 500


def test_a_set_of_interfaces_is_captured_together(veth):
    other = VethPair()
    third = VethPair()
    try:
        with RxRing([veth.b, other.b], **SMALL) as rx, TxRing(veth.a) as tx1, \
                TxRing(other.a) as tx2, TxRing(third.a) as tx3:
            assert rx.interfaces == {veth.index_b: veth.b, other.index_b: other.b}
            tx1.send([udp_frame(i, 1) for i in range(0, 300)])
            tx2.send([udp_frame(i, 2) for i in range(300, 500)])
            tx3.send([udp_frame(i, 3) for i in range(500, 600)])     # not in the set
            batches = drain(rx)
            per_if = rx.stats_by_interface
            total = rx.stats
    finally:
        other.delete()
        third.delete()
    got = Batch.concat(batches)
    seq, flow = seqs_and_flows(got)
    by_if = dict(zip(seq.tolist(), got[(got.protocol == 0x0800)].ifindex.tolist()))
    assert by_if == {**{i: veth.index_b for i in range(300)},
                     **{i: other.index_b for i in range(300, 500)}}
    for batch in batches:
        assert np.all(np.diff(batch.ts) >= 0)                 # each batch in time order
    assert set(per_if) == {veth.index_b, other.index_b}
    assert per_if[veth.index_b].delivered >= 300 and per_if[other.index_b].delivered >= 200
    assert total.delivered == sum(s.delivered for s in per_if.values()) == len(got)
    assert total.packets == total.delivered + total.drops


def test_interface_lists_are_checked(veth):
    with pytest.raises(ValueError, match="empty list"):
        RxRing([])
    with pytest.raises(ValueError, match="twice"):
        RxRing([veth.a, veth.a])
    with pytest.raises(OSError, match="no network interface named 'nope0'"):
        RxRing([veth.a, "nope0"])
    with pytest.raises(ValueError, match="per interface"):
        RxRing([veth.a, veth.b], fanout=Fanout())


def test_a_set_of_interfaces_gets_one_interface_and_statistics_block_each(veth, tmp_path):
    import subprocess
    import threading

    from conftest import DEADLINE, rings_bound_to, wait_until
    from ringcap import PcapReader, capture_to_file

    other = VethPair()
    path = tmp_path / "two.pcapng"

    def send():
        wait_until(lambda: rings_bound_to(veth.index_b) and rings_bound_to(other.index_b),
                   what="the rings on both interfaces to open")
        with TxRing(veth.a) as tx1, TxRing(other.a) as tx2:
            tx1.send([udp_frame(i, 1) for i in range(300)])
            tx2.send([udp_frame(i, 2) for i in range(300, 500)])

    sender = threading.Thread(target=send)
    try:
        sender.start()
        summary = capture_to_file([veth.b, other.b], path, count=500, duration=DEADLINE,
                                  ring_options=dict(filter="udp", **SMALL))
    finally:
        sender.join()
        other.delete()
    assert summary.packets == 500 and summary.received == 500 and summary.drops == 0
    with PcapReader(path) as reader:
        got = Batch.concat(list(reader))
        names = [i.name for i in reader.interfaces]
        stats = {s.interface: s for s in reader.stats}
    assert names == [veth.b, other.b]
    assert np.bincount(got.ifindex, minlength=2).tolist() == [300, 200]
    assert {i: (s.received, s.os_dropped) for i, s in stats.items()} == {0: (300, 0), 1: (200, 0)}
    info = subprocess.run(["capinfos", "-I", str(path)], capture_output=True, text=True,
                          check=True).stdout
    assert info.count("Number of stat entries = 1") == 2
    fields = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e",
                             "frame.interface_name"], capture_output=True, text=True,
                            check=True).stdout.split()
    assert fields.count(veth.b) == 300 and fields.count(other.b) == 200
