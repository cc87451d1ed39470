"""Parquet dataset sinks against writing pcap from the same batches, same run.

Synthetic two-way TCP/UDP conversations (``ringcap.testing.synthetic_traffic``:
IPv4 and IPv6, random payloads of 0 to ``--max-payload`` bytes, which do not
compress, as encrypted traffic does not) are cut into batches of
``--batch`` packets, as a ring hands them over, and written by:

* ``PcapSink`` (pcap, nanosecond): the reference;
* ``ParquetSink`` with the default columns (``DEFAULT_PACKET_COLUMNS``: the
  batch's and the decoded headers', zstd), then lz4, with the columns left
  out by default added back (``NOT_BY_DEFAULT``), the 5-tuple and length
  only, and the frame bytes too (``include_payload=True``);
* ``FlowSink`` (one row per flow per 60 s interval), with counters and with
  the flow meter's features (``features=True``).

Each figure is the best of ``--repeat`` runs of CPU time of this process
(all its threads: the per-core cost, which is what extrapolates to a bigger
machine), with ``decode`` timed alone for reference.  Bytes on disk per
packet are the finished files' sizes.  The output folder (``--dir``,
default a temporary folder) is emptied between runs.

    python benchmarks/bench_parquet.py --packets 500000 --repeat 5
    python benchmarks/bench_parquet.py --mix imix --repeat 7 --only-default --previous-encodings

``--mix`` writes one of the claims' cached mixes (benchmarks/traffic.py: imix,
large, recorded, uniform) instead, batch by batch as ``open_pcap`` reads
it; ``--only-default`` times the default packet sink alone (beside pcap);
``--previous-encodings`` adds the default sink with the per-column choices
made before issue 19 (dictionaries for the MAC and IPv4 addresses, ports and
TCP window; min/max statistics on ``host`` and ``interface``), and
``--previous-layout`` the default sink with pyarrow's own page sizes (1 MiB
and, where pyarrow has the limit, 20,000 rows) and min/max statistics on the
IP addresses, as before ``ringcap.sinks.parquet_layout``'s choices, for
before/after in one run.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if any((REPO / "ringcap").glob("_ring*.so")):
    sys.path.insert(0, str(REPO))   # an in-place build of this checkout; else the installed ringcap

import numpy as np  # noqa: E402

import ringcap  # noqa: E402
from ringcap.sinks import FlowSink, ParquetSink, PcapSink  # noqa: E402
from ringcap.sinks import parquet_layout  # noqa: E402
from ringcap.sinks.parquet import DEFAULT_PACKET_COLUMNS, NOT_BY_DEFAULT  # noqa: E402
from ringcap.testing import synthetic_traffic  # noqa: E402

FIVE_TUPLE = ["ts", "wirelen", "ip_version", "ip_src", "ip_dst", "ip_proto", "sport", "dport",
              "tcp_flags"]


def cases(folder: Path):
    return [
        ("pcap (PcapSink)", lambda: PcapSink(str(folder / "out.pcap"))),
        ("parquet, header columns, zstd", lambda: ParquetSink(folder, worker=0)),
        ("parquet, header columns, lz4", lambda: ParquetSink(folder, worker=0,
                                                             compression="lz4")),
        ("parquet, + NOT_BY_DEFAULT, zstd", lambda: ParquetSink(
            folder, worker=0, columns=DEFAULT_PACKET_COLUMNS + NOT_BY_DEFAULT)),
        ("parquet, 5-tuple + length, zstd", lambda: ParquetSink(folder, worker=0,
                                                                columns=FIVE_TUPLE)),
        ("parquet, headers + frame bytes", lambda: ParquetSink(folder, worker=0,
                                                               include_payload=True)),
        ("flows, 60 s intervals", lambda: FlowSink(folder, worker=0, interval=60)),
        ("flow features, 60 s intervals", lambda: FlowSink(folder, worker=0, interval=60,
                                                           features=True)),
    ]


#: The columns that took a dictionary, and those with statistics, before issue 19.
PREVIOUS_DICTIONARY = ("eth_src", "eth_dst", "ipv4_src", "ipv4_dst", "sport", "dport",
                       "tcp_window")
PREVIOUS_STATISTICS = ("host", "interface")


@contextlib.contextmanager
def previous_encodings():
    """The encodings chosen before issue 19, while the body runs (the module's
    choices are read when a file opens)."""
    plain, no_stats = parquet_layout.PLAIN_COLUMNS, parquet_layout.NO_STATISTICS
    parquet_layout.PLAIN_COLUMNS = plain - set(PREVIOUS_DICTIONARY)
    parquet_layout.NO_STATISTICS = no_stats - set(PREVIOUS_STATISTICS)
    try:
        yield
    finally:
        parquet_layout.PLAIN_COLUMNS, parquet_layout.NO_STATISTICS = plain, no_stats


#: The address columns that had min/max statistics before the page choices.
PREVIOUS_ADDRESS_STATISTICS = ("ip_src", "ip_dst", "ipv4_src", "ipv4_dst", "outer_ip_src",
                               "outer_ip_dst")


@contextlib.contextmanager
def previous_layout():
    """pyarrow's own page sizes (1 MiB, and 20,000 rows where pyarrow cuts
    there) and min/max on the IP addresses: the layout before
    ``ringcap.sinks.parquet_layout``'s pages and statistics."""
    saved = parquet_layout.PAGE_BYTES, parquet_layout.PAGE_ROWS, parquet_layout.NO_STATISTICS
    parquet_layout.PAGE_BYTES, parquet_layout.PAGE_ROWS = 1 << 20, 20_000
    parquet_layout.NO_STATISTICS = saved[2] - set(PREVIOUS_ADDRESS_STATISTICS)
    try:
        yield
    finally:
        parquet_layout.PAGE_BYTES, parquet_layout.PAGE_ROWS, parquet_layout.NO_STATISTICS = saved


def disk_bytes(folder: Path) -> int:
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


def run_once(make, batches, folder: Path) -> tuple[float, int]:
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    c0 = time.process_time()
    sink = make()
    for batch in batches:
        sink.write(batch)
    sink.close()
    cpu = time.process_time() - c0
    return cpu, disk_bytes(folder)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--packets", type=int, default=500_000)
    parser.add_argument("--batch", type=int, default=65536, help="packets per batch (65536)")
    parser.add_argument("--max-payload", type=int, default=1400)
    parser.add_argument("--conversations", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where to write (default: a temporary folder)")
    parser.add_argument("--mix", choices=["imix", "large", "recorded", "uniform"],
                        help="write this cached mix of benchmarks/traffic.py instead")
    parser.add_argument("--only-default", action="store_true",
                        help="only pcap and the default packet sink")
    parser.add_argument("--previous-encodings", action="store_true",
                        help="add the default sink with the encodings used before issue 19")
    parser.add_argument("--previous-layout", action="store_true",
                        help="add the default sink with pyarrow's page sizes (1 MiB, 20,000 "
                             "rows) and min/max on the IP addresses, as before")
    args = parser.parse_args(argv)

    if args.mix:
        sys.path.insert(0, str(HERE))
        import traffic as mixes
        path = str(getattr(mixes, args.mix)())
        with ringcap.open_pcap(path) as reader:
            batches = [b.copy() for b in reader]
        traffic = ringcap.Batch.concat(batches)
    else:
        traffic = synthetic_traffic(args.packets, conversations=args.conversations,
                                    max_payload=args.max_payload, span_ns=60 * 10**9, seed=1,
                                    random_payload=True)
        # 60 s of traffic inside one hour, so every sink writes one file
        traffic.ts[:] = traffic.ts - traffic.ts[0] + 1_700_000_400 * 10**9
        batches = [traffic[i:i + args.batch].copy() for i in range(0, len(traffic), args.batch)]
    n = len(traffic)
    base = Path(args.dir) if args.dir else Path(tempfile.mkdtemp(prefix="bench-parquet-"))
    folder = base / "out"
    print(f"# {n} packets, {traffic.nbytes / n:.0f} captured bytes per packet on average, "
          + (f"the {args.mix} mix, batches as open_pcap reads them" if args.mix else
             f"{args.conversations} conversations, batches of {args.batch}")
          + f"; best of {args.repeat}")
    print(f"# ringcap {ringcap.__version__}, pyarrow {__import__('pyarrow').__version__}, "
          f"python {platform.python_version()}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs; output in {base}")
    decode_cpu = min(_timed(lambda: [ringcap.decode(b) for b in batches])
                     for _ in range(args.repeat))
    try:
        rows = []
        chosen = [(name, make, contextlib.nullcontext) for name, make in
                  (cases(folder)[:2] if args.only_default else cases(folder))]
        if args.previous_encodings:
            chosen.insert(2, ("parquet, as before issue 19", chosen[1][1], previous_encodings))
        if args.previous_layout:
            chosen.insert(2, ("parquet, previous pages and stats", chosen[1][1],
                              previous_layout))
        best = {name: (float("inf"), 0) for name, _, _ in chosen}
        for _ in range(args.repeat):          # interleaved: load changes hit all alike
            for name, make, context in chosen:
                with context():
                    cpu, size = run_once(make, batches, folder)
                best[name] = (min(best[name][0], cpu), size)
        rows = [(name, *best[name]) for name, _, _ in chosen]
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    reference = rows[0][1]
    print()
    print(f"| {'sink':33} | {'ns/packet':>9} | {'Mpackets/s per core':>19} | "
          f"{'bytes on disk/packet':>20} | {'CPU vs pcap':>11} |")
    print(f"|{'-' * 35}|{'-' * 11}|{'-' * 21}|{'-' * 22}|{'-' * 13}|")
    for name, cpu, size in rows:
        print(f"| {name:33} | {cpu / n * 1e9:9.0f} | {n / cpu / 1e6:19.2f} | "
              f"{size / n:20.1f} | {cpu / reference:10.2f}x |")
    print(f"\n# decode alone (default columns, fresh arrays): {decode_cpu / n * 1e9:.0f} ns/packet; "
          f"'CPU vs pcap' = this sink's CPU time / PcapSink's (>1 = costs more)")


def _timed(work) -> float:
    c0 = time.process_time()
    work()
    return time.process_time() - c0


if __name__ == "__main__":
    main()
