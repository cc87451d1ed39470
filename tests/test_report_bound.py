"""A report with ``max_entries`` (what a live ``ringcap top -i`` runs) keeps its
tables bounded however many flows, addresses and names it sees, counts what it
drops, and keeps the busiest and the most recent keys."""
import struct
import tracemalloc

import numpy as np
import pytest

from ringcap import Batch
from ringcap._conversations import ConversationTable, keep_conversations
from ringcap.report import NAME_KINDS, TrafficReport
from ringcap.testing import _dns_name, _ipv4_frame, _udp, ipv4_batch

START = 1_700_000_000 * 10**9
BOUND = 400
PER_BATCH = 300
#: the flow that carries the most bytes, seen in the first batch only
BIG = dict(ip_src=0x0A0A0A0A, ip_dst=0x0A0B0B0B, sport=5000, dport=6000)
#: a flow with a packet in every batch: always among the most recent
STEADY = dict(ip_src=0x0A0C0C0C, ip_dst=0x0A0D0D0D, sport=7000, dport=8000)


def _scan(k: int) -> Batch:
    """Batch ``k`` of a scan: PER_BATCH new 5-tuples between new address pairs,
    a DNS query for a new name each, and the STEADY flow's packet."""
    frames = []
    for j in range(k * PER_BATCH, (k + 1) * PER_BATCH):
        query = (struct.pack("!HHHHHH", j & 0xFFFF, 0x0100, 1, 0, 0, 0)
                 + _dns_name(f"host{j}.scan.example") + b"\0\x01\0\x01")
        frames.append(_ipv4_frame(0x0B000000 + j, 0x0C000000 + j, 17,
                                  _udp(1024 + j % 60000, 53, query)))
    steady = ipv4_batch([0], ip_proto=17, payload_len=10, **STEADY)
    parts = [Batch.from_packets(frames, ts=START + k * 10**9 + np.arange(len(frames))), steady]
    if k == 0:
        big = ipv4_batch(np.zeros(50, np.int64), ip_proto=6, payload_len=1400, **BIG)
        parts.append(big)
        query = (struct.pack("!HHHHHH", 1, 0x0100, 1, 0, 0, 0)
                 + _dns_name("popular.example") + b"\0\x01\0\x01")
        popular = [_ipv4_frame(0x0A0A0A0A, 0x0A0B0B0B, 17, _udp(999, 53, query))] * 30
        parts.append(Batch.from_packets(popular, ts=np.zeros(30, np.int64)))
    batch = Batch.concat(parts)
    batch.ts[-(len(batch) - len(frames)):] = START + k * 10**9 + 10**8   # (after the scan's)
    return batch


def _fed(batches, max_entries):
    report = TrafficReport(track_flows=True, track_names=True, max_entries=max_entries)
    sizes = []
    for batch in batches:
        report.update(batch)
        sizes.append((len(report.flow_totals()), len(report.conversations()),
                      max(len(v) for v in report.top_names().values())))
    return report, sizes


@pytest.fixture(scope="module")
def scan():
    return [_scan(k) for k in range(12)]


def test_a_bounded_report_of_ever_new_flows_addresses_and_names_stays_under_its_bound(scan):
    bounded, sizes = _fed(scan, BOUND)
    full, full_sizes = _fed(scan, None)
    assert full_sizes[-1][0] > 3000 and full_sizes[-1][1] > 3000 and full_sizes[-1][2] > 3000
    assert all(f <= BOUND and c <= BOUND and n <= BOUND for f, c, n in sizes), sizes
    # the summary, protocols, sizes and rates stay exact
    for what in ("summary", "protocols", "packet_sizes", "rates"):
        assert getattr(bounded, what)() == getattr(full, what)(), what
    dropped = bounded.dropped()
    assert bounded.to_dict()["dropped"] == dropped and "dropped" not in full.to_dict()
    assert dropped["flows"]["keys"] > 3000 and dropped["conversations"]["keys"] > 3000
    assert dropped["dns_query"]["keys"] > 3000
    # rows + other == totals, table by table
    flows = bounded.flow_totals().values()
    assert (sum(p for _, p, _ in flows) + dropped["flows"]["packets"],
            sum(b for _, _, b in flows) + dropped["flows"]["bytes"]) == \
        (sum(p for _, p, _ in full.flow_totals().values()),
         sum(b for _, _, b in full.flow_totals().values()))
    conversations = bounded.conversations()
    assert (sum(c["packets"] for c in conversations) + dropped["conversations"]["packets"],
            sum(c["bytes"] for c in conversations) + dropped["conversations"]["bytes"]) == \
        (sum(c["packets"] for c in full.conversations()),
         sum(c["bytes"] for c in full.conversations()))
    for kind in NAME_KINDS:
        assert sum(n["count"] for n in bounded.top_names()[kind]) \
            + dropped[kind]["messages"] == sum(n["count"] for n in full.top_names()[kind])
    servers = bounded.server_name_totals().values()
    assert sum(p for _, p, _ in servers) + dropped["flows"]["packets"] >= \
        sum(p for _, p, _ in full.server_name_totals().values())


def test_the_busiest_and_the_most_recent_keys_survive_compaction(scan):
    bounded, _ = _fed(scan, BOUND)
    full, _ = _fed(scan, None)

    def flow(report, spec):
        a = spec["ip_src"].to_bytes(4, "big") + spec["sport"].to_bytes(2, "big")
        return [v for v in report.flow_totals().values() if v[0][2][12:] == a]

    # the busiest flow (first batch only) and the steady one keep their exact counts
    for spec in (BIG, STEADY):
        assert flow(bounded, spec) == flow(full, spec) != []
    assert flow(full, STEADY)[0][1] == len(scan)
    top = bounded.conversations(1)[0]
    assert top == full.conversations(1)[0] and top["packets"] == 80  # 50 TCP + 30 DNS
    assert bounded.top_names(1)["dns_query"] == [{"name": "popular.example", "count": 30}]
    # half of what a compaction keeps is the most recent: the last batch's flows
    # (equal in bytes to many older ones) are there
    kept = {v[0][2][12:16] for v in bounded.flow_totals().values()}
    newest = {(0x0B000000 + j).to_bytes(4, "big")
              for j in range((len(scan) - 1) * PER_BATCH, len(scan) * PER_BATCH)}
    assert len(newest & kept) >= BOUND // 4
    names = {n["name"] for n in bounded.top_names()["dns_query"]}
    newest = {f"host{j}.scan.example"
              for j in range((len(scan) - 1) * PER_BATCH, len(scan) * PER_BATCH)}
    assert len(newest & names) >= BOUND // 4


def test_a_name_counted_again_is_recent_again():
    """The names kept past the busiest are those counted last, not those first seen."""
    order = ["a", "a", "a", "b", "c", "d", "e", "c", "d", "e", "b"]
    frames = [_ipv4_frame(0x0A000001, 0x0A000035, 17, _udp(1000 + i, 53, struct.pack(
        "!HHHHHH", i, 0x0100, 1, 0, 0, 0) + _dns_name(f"{name}.example") + b"\0\x01\0\x01"))
        for i, name in enumerate(order)]
    report = TrafficReport(track_names=True, max_entries=4)
    report.update(Batch.from_packets(frames, ts=START + np.arange(len(frames))))
    # 5 names: past 4, keep 2: the busiest (a), then the one counted last (b; c, d
    # and e were counted as often, but before)
    assert report.top_names()["dns_query"] == [{"name": "a.example", "count": 3},
                                               {"name": "b.example", "count": 2}]
    assert report.dropped()["dns_query"] == {"keys": 3, "messages": 6}


def test_a_bounded_report_keeps_its_memory_however_many_keys_it_sees():
    """Python objects per flow and name (tracemalloc) stop growing at the bound,
    where the unbounded report grows with every new key."""
    batches = [_scan(k) for k in range(40)]
    grown = {}
    for bound in (BOUND, None):
        tracemalloc.start()
        try:
            report = TrafficReport(track_flows=True, track_names=True, max_entries=bound)
            held = []
            for batch in batches:
                report.update(batch)
                held.append(tracemalloc.get_traced_memory()[0])
        finally:
            tracemalloc.stop()
        grown[bound] = max(held[10:]) - held[9]   # (past the bound from the 2nd batch on)
        assert bound is None or len(report._conversations) <= bound
    # 30 batches of 300 new flows, conversations and names: ~5 MB unbounded; bounded,
    # at most the swing of a table between half full and full (~400 bytes a flow)
    assert grown[None] > 3_000_000
    assert grown[BOUND] < BOUND * 500, grown


def test_max_entries_must_be_a_whole_number_of_at_least_two():
    for bad in (0, 1, -5, 2.5, True, "100"):
        with pytest.raises(ValueError, match="max_entries must be None"):
            TrafficReport(max_entries=bad)


def _table_of_pairs(n):
    """A table holding n IPv4 pairs 0.0.0.i -> 0.0.0.200, one 100-byte packet each,
    and the columns it was fed."""
    table = ConversationTable()
    src = np.zeros((n, 16), np.uint8)
    dst = np.zeros((n, 16), np.uint8)
    src[:, 12:] = np.arange(n, dtype=">u4").view(np.uint8).reshape(n, 4)
    dst[:, 12:] = 200
    columns = (src, dst, np.full(n, 4, np.uint8), np.arange(n, dtype=np.int64),
               np.full(n, 100, np.uint32))
    table.add(*columns)
    return table, columns


def test_keep_conversations_keeps_the_rows_and_finds_them_again():
    n = 3000
    table, (src, dst, version, ts, wirelen) = _table_of_pairs(n)
    keep = np.arange(1, n, 7, dtype=np.intp)
    kept = table.columns(keep)
    keep_conversations(table, keep)
    assert len(table) == len(keep)
    after = table.columns()
    for name in kept:
        assert np.array_equal(after[name], kept[name]), name
    table.add(src, dst, version, ts, wirelen)       # the kept ones again, the others new
    assert len(table) == n
    columns = table.columns()
    assert columns["packets"][:len(keep)].sum() == 2 * len(keep)
    with pytest.raises(ValueError, match="ascending entry numbers"):
        keep_conversations(table, np.array([5, 3], np.intp))
    with pytest.raises(ValueError, match="ascending entry numbers"):
        keep_conversations(table, np.array([n], np.intp))


def test_keep_conversations_forgets_the_last_packets_entry():
    # add() remembers the last packet's pair and its entry; keeping rows moves
    # entries, so the next packet of that pair must be looked up again
    n = 10
    table, (src, dst, version, _, wirelen) = _table_of_pairs(n)
    keep_conversations(table, np.array([0, n - 1], np.intp))   # the last pair moves to entry 1
    last = slice(n - 1, n)
    table.add(src[last], dst[last], version[last], np.array([n], np.int64), wirelen[last])
    columns = table.columns()
    assert len(table) == 2
    assert columns["packets"].sum(axis=1).tolist() == [1, 2]
    assert columns["first_ts"].tolist() == [0, n - 1]
    assert columns["last_ts"].tolist() == [0, n]
