"""A user's script over ringcap's public API, type-checked with `mypy --strict` in CI.

It is never run; it must type-check, so that the annotations and stubs
promise what a user relies on: columns as typed numpy arrays, context
managers that return the object, and every public name typed.
``assert_type`` fails where a type checker would see ``Any``.
"""
from __future__ import annotations

from typing import assert_type

import numpy as np
import numpy.typing as npt

import ringcap
import ringcap.headers as decoding
from ringcap import names
from ringcap.export import to_arrow, to_pandas
from ringcap.plots import plot_report
from ringcap.replay import Replayer, ReplayResult
from ringcap.report import FileInfo, TrafficReport, file_report
from ringcap.sinks import PcapSink, Sink


def columns(batch: ringcap.Batch) -> int:
    assert_type(batch.ts, npt.NDArray[np.int64])
    assert_type(batch.caplen, npt.NDArray[np.uint32])
    assert_type(batch.ifindex, npt.NDArray[np.int32])
    assert_type(batch.data, npt.NDArray[np.uint8])
    wirelen: npt.NDArray[np.uint32] = batch["wirelen"]
    first: bytes = batch[0]
    big: ringcap.Batch = batch[batch.wirelen > 1000]
    joined: ringcap.Batch = ringcap.Batch.concat([batch, big])
    return int(wirelen.sum()) + len(first) + len(joined)


def live(iface: str) -> ringcap.Stats:
    with ringcap.RxRing(iface, block_size=1 << 22, block_count=64, filter="udp") as ring:
        assert_type(ring, ringcap.RxRing)
        out = ringcap.Batch.empty(65536)
        batch = ring.read(65536, timeout=1.0, out=out)
        assert_type(batch, ringcap.Batch)
        with ring.read_view() as view:
            assert_type(view, ringcap.RingView)
        stats = ring.stats
        assert_type(stats, ringcap.Stats)
        assert_type(stats.pending, int)
    with ringcap.TxRing(iface) as tx:
        assert_type(tx, ringcap.TxRing)
        assert_type(tx.send(batch), int)
    quick = ringcap.capture(iface, count=10, duration=1.0)
    assert_type(quick, ringcap.Batch)
    summary = ringcap.capture_to_file(iface, "out.pcapng", count=100)
    print(summary.packets)
    program = ringcap.compile_filter("tcp port 443")
    print(len(program))
    return stats


def scale(iface: str) -> None:
    fanout = ringcap.Fanout(mode="hash")
    with ringcap.RxRing(iface, fanout=fanout) as ring:
        print(ring.stats.packets)
    with ringcap.ParallelCapture(iface, workers=2) as pool:
        assert_type(pool, ringcap.ParallelCapture)
        parts: list[ringcap.Batch] = []
        for batch in pool:
            parts.append(batch)
        total: ringcap.PoolStats = pool.stats
        print(total)
    merged = ringcap.merge(parts)
    assert_type(merged, ringcap.Batch)
    try:
        pass
    except ringcap.WorkerDiedError as exc:
        print(exc)


def files(path: str) -> float:
    batch = ringcap.read_pcap(path)
    assert_type(batch, ringcap.Batch)
    with ringcap.PcapWriter("copy.pcapng", format="pcapng") as writer:
        assert_type(writer, ringcap.PcapWriter)
        writer.write(batch)
    count: int = ringcap.write_pcap("again.pcap", batch)
    with ringcap.open_pcap(path) as reader:
        assert_type(reader, ringcap.PcapReader)
        for part in reader:
            assert_type(part, ringcap.Batch)
    try:
        ringcap.read_pcap("broken.pcap")
    except ringcap.PcapTruncatedError as exc:
        print(exc.offset)
    except ringcap.PcapFormatError as exc:
        print(exc.offset)
    print(count, ringcap.PcapTruncatedWarning)
    with PcapSink("rotated.pcap") as sink:
        assert isinstance(sink, Sink)
        sink.write(batch)
    return 0.0


def analyse(path: str) -> float:
    batch = ringcap.read_pcap(path)
    h = ringcap.decode(batch)
    assert_type(h, ringcap.Headers)
    assert_type(h.sport, npt.NDArray[np.uint16])
    assert_type(h.ip_src, npt.NDArray[np.uint8])
    sport: npt.NDArray[np.uint16] = h["sport"]
    https = batch[h.dport == 443]
    table = ringcap.flows(h)
    assert_type(table, ringcap.FlowTable)
    assert_type(table.packets, npt.NDArray[np.uint64])
    records = ringcap.flow_features(batch, idle_timeout=60.0)
    assert_type(records, ringcap.FlowRecords)
    meter = ringcap.FlowMeter(idle_timeout=60.0, active_timeout=1800.0)
    expired = meter.update(batch)
    assert_type(expired, ringcap.FlowRecords)
    assert_type(meter.flush(), ringcap.FlowRecords)
    assert_type(names.tcp_flag_names(0x12), str)
    protocols: npt.NDArray[np.object_] = names.ip_proto_names(h.ip_proto)
    decoder_flags: list[str] = decoding.flag_names(int(h.flags[0]))
    frame = to_pandas(table)
    arrow = to_arrow(https)
    ringcap.write_pcap("https.pcapng", https, format="pcapng")
    report, infos = file_report([path])
    assert_type(report, TrafficReport)
    assert_type(infos, list[FileInfo])
    plot_report(report, "traffic.png")
    with Replayer("veth0") as replayer:
        result = replayer.replay_file(path, pps=1000.0)
        assert_type(result, ReplayResult)
    print(sport.max(), protocols[:1], decoder_flags, frame, arrow, records, result.pps)
    sinks = (ringcap.ParquetSink, ringcap.FlowSink)
    print(sinks, ringcap.CaptureInterruptedWarning)
    return report.duration
