"""Flow records (FlowMeter, flow_features) against an independent computation.

Conversations are generated with known timings, handshakes and
retransmissions; the expected records are computed here in plain Python and
numpy from the decoded columns (split by the timeouts per 5-tuple, then
statistics per record and direction) and compared column by column.
"""
import numpy as np
import pandas as pd
import pytest

import ringcap
import ringcap.export
from ringcap.headers import FIVE_TUPLE_COLUMNS
from ringcap.flowmeter import (EXPIRED_ACTIVE, EXPIRED_END, EXPIRED_IDLE, FLOW_FEATURE_COLUMNS,
                               FLOW_RECORD_COLUMNS, NO_RTT, NO_TIMESTAMP, FlowMeter, FlowRecords,
                               flow_features)
from ringcap.testing import ipv4_batch

MS = 1_000_000
S = 1_000_000_000
FIN, SYN, RST, PSH, ACK, URG, ECE, CWR = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80


# ---------------------------------------------------------------- generated traffic
class Traffic:
    """Packets appended one by one, then sorted by time into a Batch."""

    def __init__(self):
        self.rows = []

    def add(self, t, src, sport, dst, dport, proto=6, flags=0, seq=0, ack=0, length=0):
        self.rows.append((t, src, dst, sport, dport, proto, flags, seq, ack, length))

    def tcp_conversation(self, t0, client, cport, server, sport, *, server_rtt, client_rtt,
                         segments, gap, retransmit=(), handshake=True, close=True):
        """A TCP conversation; returns the time of its last packet."""
        cseq, sseq = 1000, 50000
        t = t0
        if handshake:
            self.add(t, client, cport, server, sport, flags=SYN, seq=cseq)
            t += server_rtt
            self.add(t, server, sport, client, cport, flags=SYN | ACK, seq=sseq, ack=cseq + 1)
            t += client_rtt
            self.add(t, client, cport, server, sport, flags=ACK, seq=cseq + 1, ack=sseq + 1)
        cseq += 1
        sseq += 1
        for k in range(segments):
            t += gap
            length = 100 + 37 * k
            self.add(t, client, cport, server, sport, flags=PSH | ACK, seq=cseq, ack=sseq,
                     length=length)
            if k in retransmit:          # the same range again: a retransmission
                t += gap // 3 + 1
                self.add(t, client, cport, server, sport, flags=PSH | ACK, seq=cseq, ack=sseq,
                         length=length)
            cseq += length
            t += gap // 2 + 1
            self.add(t, server, sport, client, cport, flags=ACK, seq=sseq, ack=cseq,
                     length=20 * (k % 3))
            sseq += 20 * (k % 3)
        if close:
            t += gap
            self.add(t, client, cport, server, sport, flags=FIN | ACK, seq=cseq, ack=sseq)
            t += gap
            self.add(t, server, sport, client, cport, flags=FIN | ACK | ECE, seq=sseq,
                     ack=cseq + 1)
            t += gap
            self.add(t, client, cport, server, sport, flags=ACK | CWR, seq=cseq + 1,
                     ack=sseq + 1)
        return t

    def batch(self):
        rows = sorted(self.rows, key=lambda r: r[0])
        cols = list(zip(*rows))
        return ipv4_batch(ts=cols[0], ip_src=cols[1], ip_dst=cols[2], sport=cols[3],
                          dport=cols[4], ip_proto=cols[5], tcp_flags=cols[6], tcp_seq=cols[7],
                          tcp_ack=cols[8], payload_len=cols[9])


def ip(a, b, c, d):
    return (a << 24) | (b << 16) | (c << 8) | d


def mixed_traffic(seed=1, conversations=40):
    rng = np.random.default_rng(seed)
    traffic = Traffic()
    for k in range(conversations):
        client = ip(10, 0, k // 200, k % 200 + 1)
        server = ip(192, 168, 1, 1 + k % 5)
        t0 = int(rng.integers(0, 30 * S))
        traffic.tcp_conversation(
            t0, client, 20000 + k, server, (80, 443, 22)[k % 3],
            server_rtt=int(rng.integers(1, 50)) * MS, client_rtt=int(rng.integers(1, 50)) * MS,
            segments=int(rng.integers(0, 8)), gap=int(rng.integers(1, 4000)) * MS,
            retransmit=set(rng.choice(8, size=int(rng.integers(0, 3)), replace=False).tolist()),
            handshake=bool(k % 7), close=bool(k % 5))
    for k in range(15):                  # UDP with long silences: idle splits
        a, b = ip(172, 16, 0, k + 1), ip(172, 16, 1, 1)
        t = int(rng.integers(0, 10 * S))
        for j in range(int(rng.integers(2, 12))):
            if rng.random() < 0.5:
                traffic.add(t, a, 5000 + k, b, 53, proto=17, length=int(rng.integers(0, 500)))
            else:
                traffic.add(t, b, 53, a, 5000 + k, proto=17, length=int(rng.integers(0, 500)))
            t += int(rng.choice([rng.integers(1, 3000) * MS, rng.integers(20, 40) * S]))
    a, b = ip(10, 9, 9, 9), ip(10, 9, 9, 10)        # one long stream: active splits
    for j in range(300):
        traffic.add(j * 500 * MS, a, 7000, b, 7001, proto=17, length=j % 100)
    return traffic.batch()


# ---------------------------------------------------------------- the independent computation
def reference_records(batch, idle_ns, active_ns):
    """Expected flow records, in plain Python/numpy from the decoded columns."""
    h = ringcap.decode(batch)
    ts = h.ts.astype(np.int64)
    size = h.wirelen.astype(np.int64)
    keys = {}
    for i in range(len(h)):
        a = (h.ip_src[i].tobytes(), int(h.sport[i]))
        b = (h.ip_dst[i].tobytes(), int(h.dport[i]))
        keys.setdefault((min(a, b), max(a, b), int(h.ip_proto[i])), []).append(i)
    out = []
    for packets in keys.values():
        records, current = [], []
        for i in packets:                # split by the timeouts, in time order
            if current and ts[i] - ts[current[-1]] >= idle_ns:
                records.append((current, EXPIRED_IDLE))
                current = []
            elif current and ts[i] - ts[current[0]] >= active_ns:
                records.append((current, EXPIRED_ACTIVE))
                current = []
            current.append(i)
        # the meter checks idleness at every packet: the last record ends idle when
        # the capture went on for idle_ns after it
        end_idle = len(ts) and ts[-1] - ts[current[-1]] >= idle_ns
        records.append((current, EXPIRED_IDLE if end_idle else EXPIRED_END))
        for members, reason in records:
            out.append(_reference_record(h, ts, size, np.array(members), reason))
    return pd.DataFrame(out)


def _stats(values, ddof_rows):
    if len(values) == 0:
        return 0, 0.0, 0.0, 0
    std = float(np.std(values, ddof=1)) if len(values) > 1 else 0.0
    return int(values.min()), float(values.mean()), std, int(values.max())


def _reference_record(h, ts, size, members, reason):
    first = members[0]
    forward = np.array([h.ip_src[i].tobytes() == h.ip_src[first].tobytes()
                        and h.sport[i] == h.sport[first]
                        and h.ip_dst[i].tobytes() == h.ip_dst[first].tobytes()
                        and h.dport[i] == h.dport[first] for i in members])
    rec = {"ip_src": h.ip_src[first].tobytes(), "sport": int(h.sport[first]),
           "ip_dst": h.ip_dst[first].tobytes(), "dport": int(h.dport[first]),
           "ip_proto": int(h.ip_proto[first]), "expiration_id": reason}
    for side, rows in (("bidirectional", members), ("src2dst", members[forward]),
                       ("dst2src", members[~forward])):
        t = ts[rows]
        rec[f"{side}_packets"] = len(rows)
        rec[f"{side}_bytes"] = int(size[rows].sum())
        rec[f"{side}_first_seen"] = int(t[0]) if len(rows) else NO_TIMESTAMP
        rec[f"{side}_last_seen"] = int(t[-1]) if len(rows) else NO_TIMESTAMP
        rec[f"{side}_duration_ns"] = int(t[-1] - t[0]) if len(rows) else 0
        (rec[f"{side}_min_ps"], rec[f"{side}_mean_ps"], rec[f"{side}_stddev_ps"],
         rec[f"{side}_max_ps"]) = _stats(size[rows], 1)
        (rec[f"{side}_min_piat_ns"], rec[f"{side}_mean_piat_ns"], rec[f"{side}_stddev_piat_ns"],
         rec[f"{side}_max_piat_ns"]) = _stats(np.diff(t), 1)
        flags = h.tcp_flags[rows].astype(int)
        for name, bit in (("fin", FIN), ("syn", SYN), ("rst", RST), ("psh", PSH), ("ack", ACK),
                          ("urg", URG), ("ece", ECE), ("cwr", CWR)):
            rec[f"{side}_{name}_packets"] = int(np.count_nonzero(flags & bit))
        rec[f"{side}_synack_packets"] = int(np.count_nonzero((flags & (SYN | ACK)) == SYN | ACK))
        if side != "bidirectional":
            rec[f"{side}_retransmissions"] = _retransmissions(h, rows)
    rec["bidirectional_retransmissions"] = (rec["src2dst_retransmissions"]
                                            + rec["dst2src_retransmissions"])
    rec["tcp_server_rtt_ns"], rec["tcp_client_rtt_ns"] = _handshake(h, ts, members, forward)
    return rec


def _retransmissions(h, rows):
    if len(rows) == 0 or h.ip_proto[rows[0]] != 6:
        return 0
    count, highest = 0, None
    for i in rows:
        flags = int(h.tcp_flags[i])
        length = int(h.payload_len[i]) + bool(flags & SYN) + bool(flags & FIN)
        if length == 0 or flags & RST:
            continue
        end = (int(h.tcp_seq[i]) + length) % 2**32
        if highest is not None and ((end - highest) % 2**32 == 0
                                    or (end - highest) % 2**32 >= 2**31):
            count += 1
        else:
            highest = end
    return count


def _handshake(h, ts, members, forward):
    if h.ip_proto[members[0]] != 6:
        return NO_RTT, NO_RTT
    flags = h.tcp_flags[members].astype(int)
    syns = np.flatnonzero((flags & (SYN | ACK)) == SYN)
    if len(syns) == 0:
        return NO_RTT, NO_RTT
    s = syns[0]
    client = forward[s]
    answers = [k for k in range(s + 1, len(members))
               if (flags[k] & (SYN | ACK)) == SYN | ACK and forward[k] != client]
    if not answers:
        return NO_RTT, NO_RTT
    a = answers[0]
    acks = [k for k in range(a + 1, len(members)) if flags[k] & ACK and not flags[k] & (SYN | RST)
            and forward[k] == client]
    server_rtt = int(ts[members[a]] - ts[members[s]])
    return server_rtt, (int(ts[members[acks[0]]] - ts[members[a]]) if acks else NO_RTT)


def compare(records: FlowRecords, expected: pd.DataFrame):
    got = pd.DataFrame({name: list(map(bytes, array)) if array.ndim == 2 else array
                        for name, array in records.columns().items()})
    key = ["ip_src", "sport", "ip_dst", "dport", "ip_proto", "bidirectional_first_seen"]
    assert len(got) == len(expected)
    assert not got.duplicated(key).any()
    merged = expected.merge(got, on=key, how="left", suffixes=("", "_got"), indicator=True)
    assert (merged["_merge"] == "both").all(), "records missing from the meter's output"
    for name in expected.columns:
        if name in key:
            continue
        want, have = merged[name].to_numpy(), merged[f"{name}_got"].to_numpy()
        if want.dtype.kind == "f" or have.dtype.kind == "f":
            np.testing.assert_allclose(have.astype(float), want.astype(float), rtol=1e-9,
                                       atol=1e-6, err_msg=name)
        else:
            np.testing.assert_array_equal(have.astype(np.int64), want.astype(np.int64),
                                          err_msg=name)


# ---------------------------------------------------------------- tests
@pytest.mark.parametrize("idle,active", [(None, None), (15, 60), (5, 30), (2, 1000)])
def test_records_agree_with_independent_computation(idle, active):
    batch = mixed_traffic()
    records = flow_features(batch, idle_timeout=idle, active_timeout=active)
    big = np.iinfo(np.int64).max
    expected = reference_records(batch, idle * S if idle else big, active * S if active else big)
    compare(records, expected)
    assert records.names == FLOW_RECORD_COLUMNS
    assert int(records.bidirectional_packets.sum()) == len(batch)
    # the traffic has what the comparison is about
    assert records.src2dst_retransmissions.sum() > 3 and (records.tcp_client_rtt_ns > 0).sum() > 3
    if idle == 5:    # the timeouts really split things, with every reason present
        assert set(np.unique(records.expiration_id)) == {EXPIRED_IDLE, EXPIRED_ACTIVE, EXPIRED_END}


def test_known_handshake_retransmissions_and_statistics():
    traffic = Traffic()
    client, server = ip(10, 1, 1, 1), ip(10, 2, 2, 2)
    traffic.tcp_conversation(1_000 * S, client, 40000, server, 443, server_rtt=3 * MS,
                             client_rtt=1 * MS, segments=4, gap=10 * MS, retransmit={1, 3})
    records = flow_features(traffic.batch())
    assert len(records) == 1
    r = {name: array[0] for name, array in records.columns().items()}
    assert r["tcp_server_rtt_ns"] == 3 * MS and r["tcp_client_rtt_ns"] == 1 * MS
    assert r["src2dst_retransmissions"] == 2 and r["dst2src_retransmissions"] == 0
    # SYN, ACK, 4+2 data, FIN, last ACK from the client; SYN-ACK, 4 ACKs, FIN from the server
    assert (r["src2dst_packets"], r["dst2src_packets"]) == (10, 6)
    assert (r["src2dst_syn_packets"], r["dst2src_syn_packets"]) == (1, 1)
    assert (r["dst2src_synack_packets"], r["src2dst_synack_packets"]) == (1, 0)
    assert (r["src2dst_fin_packets"], r["dst2src_fin_packets"]) == (1, 1)
    assert (r["src2dst_psh_packets"], r["bidirectional_ack_packets"]) == (6, 15)
    assert (r["dst2src_ece_packets"], r["src2dst_cwr_packets"]) == (1, 1)
    assert r["expiration_id"] == EXPIRED_END
    assert ringcap.decode(traffic.batch()).ip_src_str()[0] == "10.1.1.1"
    assert records.ip_src_str()[0] == "10.1.1.1" and r["sport"] == 40000
    # the data segments: 100, 137, 137 again, 174, 211, 211 again bytes after 54 of headers
    sizes = np.array([54, 54, 154, 191, 191, 228, 265, 265, 54, 54])
    assert r["src2dst_bytes"] == sizes.sum() and r["src2dst_max_ps"] == 265
    assert r["src2dst_stddev_ps"] == pytest.approx(np.std(sizes, ddof=1), rel=1e-12)


def test_expiry_on_synthetic_timestamps():
    a, b = ip(10, 0, 0, 1), ip(10, 0, 0, 2)
    # flow 1: gaps 5 s, 9.9 s, then exactly 10 s (idle: >= ends it), then 10.1 s
    t1 = np.array([0, 50, 149, 249, 350]) * (S // 10)
    # flow 2: a packet every 5 s for 200 s: active timeout 60 s cuts it at 60, 120, 180
    t2 = np.arange(0, 200, 5) * S + 1
    ts = np.concatenate([t1, t2]).astype(np.int64)
    sport = np.r_[np.full(len(t1), 1111), np.full(len(t2), 2222)]
    order = np.argsort(ts, kind="stable")
    batch = ipv4_batch(ts=ts[order], ip_src=a, ip_dst=b, sport=sport[order], dport=53,
                       ip_proto=17)
    meter = FlowMeter(idle_timeout=10, active_timeout=60)
    records = FlowRecords.concat([meter.update(batch), meter.flush()])
    one = records[records.sport == 1111]
    assert one.bidirectional_packets.tolist() == [3, 1, 1]
    # the last one too: flow 2's packets run the clock on past 35 + 10 s
    assert one.expiration_id.tolist() == [EXPIRED_IDLE] * 3
    assert (one.bidirectional_first_seen // (S // 10)).tolist() == [0, 249, 350]
    two = records[records.sport == 2222]
    assert two.bidirectional_packets.tolist() == [12, 12, 12, 4]
    assert two.expiration_id.tolist() == [EXPIRED_ACTIVE] * 3 + [EXPIRED_END]
    assert ((two.bidirectional_first_seen - 1) // S).tolist() == [0, 60, 120, 180]
    assert (two.bidirectional_duration_ns == [55 * S, 55 * S, 55 * S, 15 * S]).all()
    assert meter.active_flows == 0 and meter.packets == len(batch)


def test_expire_idle_without_packets_and_flush_keeps_the_meter_usable():
    batch = ipv4_batch(ts=[0, S], ip_src=ip(1, 1, 1, 1), ip_dst=ip(2, 2, 2, 2),
                       sport=[1, 2], dport=9, ip_proto=17)
    meter = FlowMeter(idle_timeout=30, active_timeout=None)
    assert len(meter.update(batch)) == 0 and meter.active_flows == 2
    assert len(meter.expire_idle()) == 0                   # the packet clock: 1 s
    assert len(meter.expire_idle(30 * S)) == 1             # flow 1 idle since 0
    assert meter.clock == 30 * S
    late = meter.expire_idle(31 * S)
    assert late.sport.tolist() == [2] and late.expiration_id.tolist() == [EXPIRED_IDLE]
    assert meter.active_flows == 0 and len(meter.flush()) == 0
    again = meter.update(batch[:1])          # an earlier timestamp runs on the clock
    assert again.sport.tolist() == [] and meter.active_flows == 1
    end = meter.flush()
    assert end.bidirectional_first_seen.tolist() == [31 * S]
    assert end.expiration_id.tolist() == [EXPIRED_END]


def test_streaming_in_small_batches_equals_one_pass():
    batch = mixed_traffic(seed=7)
    whole = flow_features(batch, idle_timeout=5, active_timeout=30)
    rng = np.random.default_rng(3)
    cuts = np.unique(np.r_[0, rng.integers(0, len(batch), 150), len(batch)])
    meter = FlowMeter(idle_timeout=5, active_timeout=30)
    parts = []
    for lo, hi in zip(cuts[:-1], cuts[1:]):
        parts.append(meter.update(batch[lo:hi]))
        parts.append(meter.update(batch[lo:lo]))           # empty batches change nothing
        assert meter.active_flows <= len(np.unique(ringcap.decode(batch).flow_hash))
    parts.append(meter.flush())
    streamed = FlowRecords.concat(parts)
    assert sum(len(p) > 0 for p in parts) > 10                # records came out on the way
    assert len(streamed) == len(whole)
    for name in FLOW_RECORD_COLUMNS:
        np.testing.assert_array_equal(getattr(streamed, name), getattr(whole, name), name)
    # the same through an iterable of Headers
    pieces = [ringcap.decode(batch[lo:hi], columns=FLOW_FEATURE_COLUMNS)
              for lo, hi in zip(cuts[:-1], cuts[1:])]
    by_headers = flow_features(pieces, idle_timeout=5, active_timeout=30)
    np.testing.assert_array_equal(by_headers.bidirectional_bytes, whole.bidirectional_bytes)


def test_without_timeouts_matches_flows():
    batch = mixed_traffic(seed=4)
    records = flow_features(batch, idle_timeout=None, active_timeout=None)
    table = ringcap.flows(batch)
    assert len(records) == len(table)
    order = np.argsort(records.bidirectional_first_seen, kind="stable")
    by_hash = {int(hsh): k for k, hsh in enumerate(table.flow_hash)}
    rows = [by_hash[int(hsh)] for hsh in records.flow_hash[order]]
    np.testing.assert_array_equal(records.src2dst_packets[order], table.packets_fwd[rows])
    np.testing.assert_array_equal(records.dst2src_bytes[order], table.bytes_rev[rows])
    np.testing.assert_array_equal(records.sport[order], table.sport[rows])


def test_non_ip_packets_are_skipped_and_counted():
    arp = bytes.fromhex("ffffffffffff020000000001 0806".replace(" ", "")) + bytes(28)
    ipb = ipv4_batch(ts=[5], ip_src=1, ip_dst=2, sport=3, dport=4, ip_proto=6, tcp_flags=SYN)
    batch = ringcap.Batch.concat([ringcap.Batch.from_packets([arp], ts=[1]), ipb])
    meter = FlowMeter()
    meter.update(batch)
    assert (meter.skipped, meter.packets, meter.active_flows) == (1, 1, 1)
    assert meter.flush().bidirectional_syn_packets.tolist() == [1]


def test_exports():
    records = flow_features(mixed_traffic(seed=2), idle_timeout=5)
    frame = records.to_pandas()
    assert list(frame.columns) == list(FLOW_RECORD_COLUMNS)
    assert str(frame["bidirectional_first_seen"].dtype) == "datetime64[ns, UTC]"
    silent = records.dst2src_packets == 0
    assert silent.any() and frame["dst2src_first_seen"][silent].isna().all()
    no_rtt = records.tcp_server_rtt_ns == NO_RTT
    assert no_rtt.any() and frame["tcp_server_rtt_ns"][no_rtt].isna().all()
    has = ~no_rtt
    assert (frame["tcp_server_rtt_ns"][has].dt.total_seconds().to_numpy() * 1e9
            == pytest.approx(records.tcp_server_rtt_ns[has].astype(float)))
    table = records.to_arrow(addresses="str")
    assert table.num_rows == len(records)
    assert table.column("dst2src_last_seen").null_count == int(silent.sum())
    assert table.column("tcp_client_rtt_ns").type.unit == "ns"
    assert table.column("ip_src").to_pylist()[:1] == [records.ip_src_str()[0]]
    assert ringcap.export.to_pandas(records).shape == frame.shape


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match="idle_timeout must be a positive"):
        FlowMeter(idle_timeout=0)
    with pytest.raises(TypeError, match="active_timeout must be a number"):
        FlowMeter(active_timeout="soon")
    batch = mixed_traffic(seed=5, conversations=2)
    five = ringcap.decode(batch, columns=FIVE_TUPLE_COLUMNS)
    with pytest.raises(ValueError, match="FLOW_FEATURE_COLUMNS"):
        FlowMeter().update(five)
    with pytest.raises(TypeError, match="Batch or Headers"):
        FlowMeter().update([1, 2, 3])


def test_many_open_flows_with_churn():
    """Thousands of flows open at once (the table grows) while others expire
    (entries leave the probe chains): still the independent computation's records."""
    rng = np.random.default_rng(11)
    n = 6_000
    key = rng.integers(0, 3000, n)
    ts = np.sort(rng.integers(0, 10 * S, n))
    reverse = rng.random(n) < 0.4
    a, b = ip(10, 20, 0, 0) + key // 50, ip(10, 30, 0, 0) + key % 50
    pa, pb = 1024 + key, np.full(n, 5001)
    batch = ipv4_batch(ts=ts, ip_src=np.where(reverse, b, a), ip_dst=np.where(reverse, a, b),
                       sport=np.where(reverse, pb, pa), dport=np.where(reverse, pa, pb),
                       ip_proto=17, payload_len=rng.integers(0, 300, n))
    meter = FlowMeter(idle_timeout=4, active_timeout=7)
    parts = [meter.update(batch[:n // 2])]
    assert meter.active_flows > 1100
    parts += [meter.update(batch[n // 2:]), meter.flush()]
    records = FlowRecords.concat(parts)
    compare(records, reference_records(batch, 4 * S, 7 * S))


def test_ipv6_and_icmp_flows():
    from scapy.layers.inet import ICMP, IP, TCP
    from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
    from scapy.layers.l2 import Ether as Ethernet

    def Ether():
        return Ethernet(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    frames = [
        Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=5555, dport=80,
                                                                   flags="S", seq=10),
        Ether() / IPv6(src="2001:db8::2", dst="2001:db8::1") / TCP(sport=80, dport=5555,
                                                                   flags="SA", seq=99),
        Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / ICMPv6EchoRequest(),
        Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=5555, dport=80,
                                                                   flags="A", seq=11),
        Ether() / IPv6(src="2001:db8::2", dst="2001:db8::1") / ICMPv6EchoReply(),
        Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(),
        Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=5555, dport=80,
                                                                   flags="PA", seq=11) / (b"x" * 30),
        Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=5555, dport=80,
                                                                   flags="PA", seq=11) / (b"x" * 30),
    ]
    batch = ringcap.Batch.from_packets([bytes(f) for f in frames],
                                       ts=np.arange(len(frames)) * 2 * MS)
    records = flow_features(batch)
    compare(records, reference_records(batch, 120 * S, 1800 * S))
    records = records[np.argsort(records.bidirectional_first_seen)]
    assert records.ip_src_str().tolist() == ["2001:db8::1", "2001:db8::1", "10.0.0.1"]
    assert records.ip_proto.tolist() == [6, 58, 1]
    assert records.tcp_server_rtt_ns.tolist() == [2 * MS, NO_RTT, NO_RTT]
    assert records.tcp_client_rtt_ns.tolist() == [4 * MS, NO_RTT, NO_RTT]
    assert records.src2dst_retransmissions.tolist() == [1, 0, 0]
    assert records.dst2src_packets.tolist() == [1, 1, 0]


def test_tunnels_and_vlans_split_flows_when_asked():
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Dot1Q, Ether
    from scapy.layers.vxlan import VXLAN
    mac = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    inner = (Ether(**mac) / IP(src="10.0.0.1", dst="10.0.0.2")
             / TCP(sport=1234, dport=80, flags="A", seq=5) / (b"y" * 10))

    def vxlan(vni):
        return (Ether(**mac) / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=40000, dport=4789)
                / VXLAN(vni=vni) / inner)

    def tagged(vid):
        return (Ether(**mac) / Dot1Q(vlan=vid) / IP(src="10.0.0.1", dst="10.0.0.2")
                / TCP(sport=1234, dport=80, flags="A", seq=5))

    frames = [vxlan(7), vxlan(9), vxlan(7), tagged(10), tagged(20), tagged(10)]
    batch = ringcap.Batch.from_packets([bytes(f) for f in frames],
                                       ts=np.arange(len(frames)) * MS)
    split = flow_features(batch[:3])        # flushed oldest last packet first
    assert split.tunnel_id.tolist() == [9, 7] and split.bidirectional_packets.tolist() == [1, 2]
    assert split.tunnel_type.tolist() == [3, 3] and split.dport.tolist() == [80, 80]
    assert split.src2dst_retransmissions.tolist() == [0, 1]
    merged = flow_features(batch[:3], split_tunnels=False)
    assert merged.bidirectional_packets.tolist() == [3]
    assert merged.tunnel_id.tolist() == [7]              # the first packet's
    vlans = flow_features(batch[3:], split_vlans=True)
    assert vlans.vlan_outer.tolist() == [20, 10] and vlans.bidirectional_packets.tolist() == [1, 2]
    assert len(flow_features(batch[3:])) == 1            # by default VLANs do not split
    h = ringcap.decode(batch[3:], columns=FIVE_TUPLE_COLUMNS + ("tcp_flags", "tcp_seq",
                                                                 "payload_len"))
    assert len(flow_features(h, split_tunnels=False)) == 1
    with pytest.raises(ValueError, match="vlan_outer"):
        flow_features(h, split_vlans=True)


def test_timestamps_at_the_ends_of_int64():
    """Differences between timestamps 2**63 apart neither overflow nor crash."""
    lo, hi = np.iinfo(np.int64).min + 1, np.iinfo(np.int64).max
    batch = ipv4_batch(ts=[lo, hi, hi], ip_src=1, ip_dst=2, sport=3, dport=4, ip_proto=17)
    records = flow_features(batch, idle_timeout=None, active_timeout=None)
    assert records.bidirectional_packets.tolist() == [3]
    assert records.bidirectional_max_piat_ns.tolist() == [hi]          # saturated
    assert records.bidirectional_duration_ns.tolist() == [hi]
    split = flow_features(batch, idle_timeout=10, active_timeout=None)
    assert split.bidirectional_packets.tolist() == [1, 2]


# ---------------------------------------------------------------- property: random traffic
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_packet = st.tuples(
    st.integers(0, 3_000),              # gap to the previous packet, ms (ties included)
    st.integers(0, 5),                  # which of a few endpoints pairs
    st.booleans(),                      # direction
    st.sampled_from([6, 17]),
    st.sampled_from([0, SYN, SYN | ACK, ACK, PSH | ACK, FIN | ACK, RST, URG | ECE | CWR]),
    st.integers(0, 2**32 - 1),          # sequence number (wraps included)
    st.integers(0, 200),                # payload length
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(packets=st.lists(_packet, min_size=1, max_size=60),
       idle=st.integers(1, 4000), active=st.integers(1, 9000),
       cuts=st.lists(st.integers(0, 60), max_size=8))
def test_random_traffic_streams_like_the_reference(packets, idle, active, cuts):
    t, rows = 0, []
    for gap, pair, back, proto, flags, seq, length in packets:
        t += gap * MS
        a, b = (ip(10, 0, 0, 1 + pair % 3), 1000 + pair), (ip(10, 0, 1, 1), 80 + pair % 2)
        (src, sp), (dst, dp) = (b, a) if back else (a, b)
        rows.append((t, src, dst, sp, dp, proto, flags if proto == 6 else 0, seq, length))
    cols = list(zip(*rows))
    batch = ipv4_batch(ts=cols[0], ip_src=cols[1], ip_dst=cols[2], sport=cols[3],
                       dport=cols[4], ip_proto=cols[5], tcp_flags=cols[6], tcp_seq=cols[7],
                       payload_len=cols[8])
    expected = reference_records(batch, idle * MS, active * MS)
    meter = FlowMeter(idle_timeout=idle / 1000, active_timeout=active / 1000)
    edges = sorted({0, len(batch), *(c for c in cuts if c < len(batch))})
    parts = [meter.update(batch[lo:hi]) for lo, hi in zip(edges[:-1], edges[1:])]
    streamed = FlowRecords.concat(parts + [meter.flush()])
    compare(streamed, expected)
    whole = flow_features(batch, idle_timeout=idle / 1000, active_timeout=active / 1000)
    for name in FLOW_RECORD_COLUMNS:
        np.testing.assert_array_equal(getattr(streamed, name), getattr(whole, name), name)


# ---------------------------------------------------------------- bounded memory
def _scan_batch(flows=20_000, heavy_every=10):
    """A scan: `flows` distinct UDP flows of two packets each, 30 s apart, with one
    long-lived flow sending between them."""
    key = np.concatenate([np.arange(flows), np.arange(flows)])
    ts_scan = np.concatenate([np.arange(flows), np.arange(flows) + 30_000]) * MS
    heavy_ts = np.arange(0, int(ts_scan.max()) + 1, heavy_every * MS)
    ts = np.concatenate([ts_scan, heavy_ts])
    src = np.concatenate([ip(10, 1, 0, 0) + key // 50_000, np.full(len(heavy_ts), ip(10, 9, 9, 9))])
    sport = np.concatenate([1024 + key % 50_000, np.full(len(heavy_ts), 7777)])
    sort = np.argsort(ts, kind="stable")
    return ipv4_batch(ts=ts[sort], ip_src=src[sort], ip_dst=ip(10, 2, 0, 1),
                      sport=sport[sort], dport=53, ip_proto=17, payload_len=30)


def test_max_flows_bounds_open_flows_evicting_the_least_recently_active():
    from ringcap.flowmeter import EXPIRED_EVICTED
    batch = _scan_batch()
    meter = FlowMeter(idle_timeout=None, active_timeout=None, max_flows=1000)
    parts = []
    for start in range(0, len(batch), 4096):
        parts.append(meter.update(batch[start:start + 4096]))
        assert meter.active_flows <= 1000
    evicted_records = sum(int((p.expiration_id == EXPIRED_EVICTED).sum()) for p in parts)
    parts.append(meter.flush())
    records = FlowRecords.concat(parts)
    # every packet is in exactly one record; the records of a 5-tuple add up to its packets
    assert int(records.bidirectional_packets.sum()) == meter.packets == len(batch)
    assert meter.evicted == evicted_records == int((records.expiration_id == EXPIRED_EVICTED).sum())
    # each scanned flow's first packet was evicted 30 s (29 000 newer flows) before its second
    assert meter.evicted >= 2 * 20_000 - 1000 - 1
    frame = records.to_pandas()
    per_tuple = frame.groupby(["ip_src", "sport"])["bidirectional_packets"].sum()
    assert (per_tuple.drop(("10.9.9.9", 7777)) == 2).all()
    heavy = frame[frame.ip_src == "10.9.9.9"]
    assert len(heavy) == 1 and int(heavy.expiration_id.iloc[0]) == EXPIRED_END   # always recent
    assert int(heavy.bidirectional_packets.iloc[0]) == len(batch) - 2 * 20_000
    assert "evicted" in repr(meter)


def test_max_flows_none_is_unbounded_and_bad_values_are_explained():
    batch = _scan_batch(flows=3000)
    meter = FlowMeter(idle_timeout=None, active_timeout=None, max_flows=None)
    meter.update(batch)
    assert meter.active_flows == 3001 and meter.evicted == 0
    assert FlowMeter().max_flows == ringcap.flowmeter.DEFAULT_MAX_FLOWS
    with pytest.raises(ValueError, match="max_flows must be at least 1"):
        FlowMeter(max_flows=0)
    with pytest.raises(TypeError, match="max_flows must be a whole number"):
        FlowMeter(max_flows=2.5)


def test_flush_chunks_streams_bounded_chunks_oldest_first():
    batch = _scan_batch(flows=5000)
    meter = FlowMeter(idle_timeout=None, active_timeout=None, max_flows=None)
    twin = FlowMeter(idle_timeout=None, active_timeout=None, max_flows=None)
    meter.update(batch)
    twin.update(batch)
    open_flows = meter.active_flows
    chunks = meter.flush_chunks(1000)
    first = next(chunks)
    assert len(first) == 1000 and meter.active_flows == open_flows - 1000    # lazily
    rest = list(chunks)
    assert [len(c) for c in rest] == [1000] * 4 + [open_flows - 5000]
    assert meter.active_flows == 0
    whole = FlowRecords.concat([first, *rest])
    assert (whole.expiration_id == EXPIRED_END).all()
    assert (np.diff(whole.bidirectional_last_seen) >= 0).all()      # oldest last packet first
    flushed = twin.flush()                                            # the old API: same records
    for name in FLOW_RECORD_COLUMNS:
        assert np.array_equal(flushed[name], whole[name]), name
    assert int(whole.bidirectional_packets.sum()) == len(batch)
    assert len(meter.flush()) == 0 and list(meter.flush_chunks()) == []
