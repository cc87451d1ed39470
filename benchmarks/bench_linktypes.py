"""Decoding speed by link type: the same IPv4/TCP packets behind each link layer, same run.

The ``ipv4-tcp`` corpus of bench_decode.py (Ethernet frames), and the same IP
packets as raw IP (LINKTYPE_RAW), Linux cooked v2 and v1 (LINKTYPE_LINUX_SLL2,
LINKTYPE_LINUX_SLL) and BSD loopback (LINKTYPE_NULL): ns per packet of
``decode_into`` with the default columns and with the 5-tuple columns,
best of ``--repeat`` runs in
process CPU time, each link type's ratio to Ethernet.  ``--baseline SO``
also times a ``_decode`` extension built from another revision (e.g. the one
before link types) on the Ethernet batch, in the same process, alternating.

    python benchmarks/bench_linktypes.py --packets 200000 --repeat 7
    python benchmarks/bench_linktypes.py --baseline /tmp/old/_decode.cpython-311-x86_64-linux-gnu.so
"""
from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import struct
import time

import numpy as np

from ringcap import Batch, _decode
import ringcap.headers as H
from ringcap.batch import LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL, LINKTYPE_RAW
from bench_decode import _ipv4_tcp_frames


def _load_baseline(path: str):
    loader = importlib.machinery.ExtensionFileLoader("baseline._decode", path)
    spec = importlib.util.spec_from_file_location("baseline._decode", path, loader=loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def _time(module, batch: Batch, names, with_linktype: bool) -> float:
    arrays = H._allocate(len(batch), names)
    raw = dict(arrays)
    if "more_fragments" in raw:
        raw["more_fragments"] = arrays["more_fragments"].view(np.uint8)
    args = [batch.data, batch.offset, batch.caplen, batch.wirelen, batch.status,
            batch.vlan_tci, batch.vlan_tpid, raw, False]
    if with_linktype:
        args.append(batch.linktype)
    start = time.process_time()
    module.decode_into(*args)
    return (time.process_time() - start) / len(batch) * 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--baseline", help="a _decode extension of another revision")
    args = parser.parse_args()
    frames = _ipv4_tcp_frames(min(args.packets, 20_000), np.random.default_rng(1))
    frames = (frames * (args.packets // len(frames) + 1))[:args.packets]
    cooked = struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\x02" * 6 + b"\0\0")
    cooked1 = struct.pack(">HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", 0x0800)
    batches = {
        "EN10MB": Batch.from_packets(frames),
        "RAW": Batch.from_packets([f[14:] for f in frames], linktype=LINKTYPE_RAW),
        "LINUX_SLL2": Batch.from_packets([cooked + f[14:] for f in frames],
                                         linktype=LINKTYPE_LINUX_SLL2),
        "LINUX_SLL": Batch.from_packets([cooked1 + f[14:] for f in frames],
                                        linktype=LINKTYPE_LINUX_SLL),
        "NULL": Batch.from_packets([struct.pack("<I", 2) + f[14:] for f in frames],
                                   linktype=LINKTYPE_NULL),
    }
    baseline = _load_baseline(args.baseline) if args.baseline else None
    print("| columns | link type | ns/packet | vs EN10MB |")
    print("|---|---|---:|---:|")
    for label, names in (("default", set(H.DEFAULT_COLUMNS)),
                         ("5-tuple", set(H.FIVE_TUPLE_COLUMNS))):
        best: dict[str, float] = {}
        for _ in range(args.repeat):
            if baseline is not None:
                t = _time(baseline, batches["EN10MB"], names, False)
                best["EN10MB (baseline build)"] = min(best.get("EN10MB (baseline build)", t), t)
            for kind, batch in batches.items():
                t = _time(_decode, batch, names, True)
                best[kind] = min(best.get(kind, t), t)
        for kind, ns in best.items():
            print(f"| {label} | {kind} | {ns:.1f} | {ns / best['EN10MB']:.2f}x |")


if __name__ == "__main__":
    main()
