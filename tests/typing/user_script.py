"""A user's script over ringcap's public API, type-checked with `mypy --strict` in CI.

It is never run; it must type-check, so that the annotations and stubs
promise what a user relies on: columns as typed numpy arrays, context
managers that return the object, and every public name typed.
"""
from __future__ import annotations

import numpy as np
import numpy.typing as npt

import ringcap
import ringcap.decode as decoding
from ringcap import names
from ringcap.report import TrafficReport, file_report


def columns(batch: ringcap.Batch) -> int:
    ts: npt.NDArray[np.int64] = batch.ts
    caplen: npt.NDArray[np.uint32] = batch.caplen
    wirelen: npt.NDArray[np.uint32] = batch["wirelen"]
    ifindex: npt.NDArray[np.int32] = batch.ifindex
    data: npt.NDArray[np.uint8] = batch.data
    first: bytes = batch[0]
    big: ringcap.Batch = batch[batch.wirelen > 1000]
    return int(ts.sum() + caplen.sum() + wirelen.sum() + ifindex.sum() + data.sum()) \
        + len(first) + len(big)


def live(iface: str) -> ringcap.Stats:
    with ringcap.RxRing(iface, block_size=1 << 22, block_count=64, filter="udp") as ring:
        same: ringcap.RxRing = ring
        out = ringcap.Batch.empty(65536)
        batch: ringcap.Batch = ring.read(65536, timeout=1.0, out=out)
        with ring.read_view() as view:
            size: int = view.nbytes
        stats: ringcap.Stats = same.stats
        pending: int = stats.pending
        print(len(batch), size, pending)
    with ringcap.TxRing(iface) as tx:
        sent: int = tx.send(batch)
        print(sent)
    quick: ringcap.Batch = ringcap.capture(iface, count=10, duration=1.0)
    print(len(quick))
    return stats


def analyse(path: str) -> float:
    batch = ringcap.read_pcap(path)
    h: ringcap.Headers = ringcap.decode(batch)
    sport: npt.NDArray[np.uint16] = h["sport"]
    https = batch[h.dport == 443]
    table: ringcap.FlowTable = ringcap.flows(h)
    packets: npt.NDArray[np.uint64] = table["packets"]
    flag_text: str = names.tcp_flag_names(0x12)
    protocols = names.ip_proto_names(h.ip_proto)
    decoder_flags: list[str] = decoding.flag_names(int(h.flags[0]))
    ringcap.write_pcap("out.pcapng", https, format="pcapng")
    with ringcap.open_pcap(path) as reader:
        for part in reader:
            print(len(part))
    report, infos = file_report([path])
    whole: TrafficReport = report
    print(sport.max(), packets.sum(), flag_text, protocols[:1], decoder_flags, infos)
    return whole.duration
