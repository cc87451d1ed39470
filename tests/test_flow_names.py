"""Flow records' names (issue 21) through FlowMeter as a stream: batch after batch, across
expiry and eviction, and with the names a long capture sees without end.

``flow_features`` on one batch is checked against decode and nfstream in
tests/test_app_decode.py; here the meter is fed as a live capture or a
FlowSink feeds it: the names of a record are its own packets' (never those of
an earlier record of the same 5-tuple), whatever the batch boundaries, and the
names the meter keeps follow its open flows, not every name it has seen.
"""
from __future__ import annotations

import ssl
import tracemalloc

import numpy as np
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw

import ringcap
from ringcap import Batch, FlowMeter, decode
from ringcap import flowmeter as flowmeter_module

from test_app_decode import client_hello

MACS = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
BACK = dict(src="02:00:00:00:00:02", dst="02:00:00:00:00:01")
SECOND = 10**9


def _named_frames() -> tuple[list[bytes], np.ndarray]:
    out = Ether(**MACS) / IP(src="10.0.0.1", dst="10.0.0.2")
    back = Ether(**BACK) / IP(src="10.0.0.2", dst="10.0.0.1")
    frames = [
        out / TCP(sport=4000, dport=443, flags="S"),
        out / TCP(sport=4000, dport=443, flags="PA") / Raw(
            client_hello(ssl.TLSVersion.TLSv1_3, "first.example")),
        # the same 5-tuple after the idle timeout: a new record, which names nothing
        out / TCP(sport=4000, dport=443, flags="PA") / Raw(b"\x17\x03\x03\x00\x05hello"),
        out / UDP(sport=5000, dport=53) / DNS(id=1, qd=DNSQR(qname="One.Example")),
        back / UDP(sport=53, dport=5000) / DNS(id=1, qr=1, qd=DNSQR(qname="one.example")),
        out / UDP(sport=5000, dport=53) / DNS(id=2, qd=DNSQR(qname="two.example")),
        out / TCP(sport=4001, dport=80, flags="PA") / Raw(
            b"GET / HTTP/1.1\r\nHost: Web.Example:80\r\nUser-Agent: ua/1\r\n\r\n"),
        out / TCP(sport=4001, dport=80, flags="PA") / Raw(
            b"GET / HTTP/1.1\r\nHost: other.example\r\nUser-Agent: ua/2\r\n\r\n"),
    ]
    ts = np.array([0, 0.1, 10, 11, 11.1, 11.2, 12, 12.1]) * SECOND
    return [bytes(f) for f in frames], ts.astype(np.int64)


def _rows(records) -> list[tuple]:
    return [(int(records.sport[k]), int(records.dport[k]), int(records.bidirectional_packets[k]),
             records.server_name[k], records.client_fingerprint[k], records.user_agent[k],
             int(records.dns_queries[k])) for k in range(len(records))]


def test_flow_meter_names_are_each_records_own_whatever_the_batches():
    frames, ts = _named_frames()
    batch = Batch.from_packets(frames, ts=ts)
    ja4 = decode(batch, columns=("tls_ja4",)).tls_ja4[1]
    assert ja4.startswith("t13")
    expected = [(4000, 443, 2, "first.example", ja4, None, 0),
                (4000, 443, 1, None, None, None, 0),
                (5000, 53, 3, "one.example", None, None, 2),     # first query, lower-case
                (4001, 80, 2, "web.example", None, "ua/1", 0)]   # first Host, port dropped
    for size in (len(frames), 3, 1):
        meter = FlowMeter(idle_timeout=1.0)
        records = [meter.update(batch[i:i + size]) for i in range(0, len(frames), size)]
        records.append(meter.flush())
        got = sorted(row for part in records for row in _rows(part))
        assert got == sorted(expected), size
    # at most one flow open: each new flow evicts the last, each record keeps its names
    meter = FlowMeter(idle_timeout=1.0, max_flows=1)
    parts = [meter.update(batch[i:i + 1]) for i in range(len(frames))] + [meter.flush()]
    assert sorted(row for part in parts for row in _rows(part)) == sorted(expected)


def _dns_query(i: int, name: str, sport: int, source: int | None = None) -> bytes:
    """An Ethernet/IPv4/UDP DNS query for ``name`` from an address that numbers it
    (or ``source``'s), built by hand: scapy is too slow for the tens of thousands
    this test sends."""
    q = (i & 0xFFFF).to_bytes(2, "big") + b"\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00\x00\x01\x00\x01"
    udp = sport.to_bytes(2, "big") + b"\x00\x35" + (8 + len(q)).to_bytes(2, "big") + b"\0\0" + q
    number = i if source is None else source
    src = bytes([10, 1 + (number >> 16) % 200, (number >> 8) & 255, number & 255])
    ip = (b"\x45\x00" + (20 + len(udp)).to_bytes(2, "big") + b"\x00\x01\x00\x00\x40\x11\x00\x00"
          + src + bytes([10, 0, 0, 53]) + udp)
    return bytes.fromhex("020000000002020000000001") + b"\x08\x00" + ip


def test_flow_meter_keeps_the_names_of_its_open_flows_not_every_name_seen(monkeypatch):
    """A day of DNS names that never repeat (a resolver's clients, a scan) through
    a live meter: its flows expire, and so must the names only they held.
    Before, the meter kept every name it had ever seen (and rebuilt an array
    of them for each batch bringing a new one): memory grew with the names,
    not with the open flows.  A flow open all along keeps its name through
    every clean-up, and every record names its own query."""
    monkeypatch.setattr(flowmeter_module, "NAMES_KEPT_FLOOR", 2_000, raising=False)
    meter = FlowMeter(idle_timeout=1.0)
    per_batch, batches = 4_000, 14
    was_tracing = tracemalloc.is_tracing()
    tracemalloc.start()
    held, named, wrong, asked = [], 0, [], 0
    try:
        for b in range(batches):
            first = b * per_batch
            frames = []
            for i in range(first, first + per_batch):
                if i % 50 == 0:     # a client that stays (a query every 0.5 s): its first
                    name = "kept.example" if i == 0 else f"again{i}.example"   # names it
                    frames.append(_dns_query(i, name, 7, source=0))
                    asked += 1
                else:
                    frames.append(_dns_query(i, f"r{i:07d}.random.example", 1024 + i % 50_000))
            ts = np.arange(first, first + per_batch, dtype=np.int64) * (SECOND // 100)
            records = meter.update(Batch.from_packets(frames, ts=ts))
            sources = records.ip_src_str()      # 100 packets/s, 1 s idle: ~100 flows open
            for k in range(len(records)):
                named += 1
                _, a, b2, c = map(int, sources[k].split("."))
                i = ((a - 1) << 16) | (b2 << 8) | c          # the query's number
                if records.server_name[k] != f"r{i:07d}.random.example" or \
                        records.dns_queries[k] != 1 or records.sport[k] == 7:
                    wrong.append((sources[k], records.server_name[k]))
            if b == 3:
                start = tracemalloc.get_traced_memory()[0]
            elif b > 3:
                held.append(tracemalloc.get_traced_memory()[0] - start)
    finally:
        if not was_tracing:
            tracemalloc.stop()
    last = meter.flush()
    kept = [k for k in range(len(last)) if last.sport[k] == 7]
    assert len(kept) == 1 and last.server_name[kept[0]] == "kept.example"
    assert last.dns_queries[kept[0]] == asked
    assert named > batches * per_batch * 0.95 and not wrong, wrong[:5]
    # each record's name is its own query's: the query number is in its source address
    every = ringcap.flow_features(
        Batch.from_packets([_dns_query(i, f"q{i}.example", 2000 + i) for i in range(3000)],
                           ts=np.arange(3000, dtype=np.int64) * SECOND),
        idle_timeout=0.5)
    assert [every.server_name[k] for k in range(len(every))] == \
        [f"q{i}.example" for i in range(3000)]
    # 10 batches of 3,920 new names after the first 4: some 200 bytes each when kept
    assert max(held) < 2 << 20, held
