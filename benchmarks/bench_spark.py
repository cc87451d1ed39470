"""Spark reading packets three ways, same captures, same query, same run.

* ``pcap source``: ``spark.read.format("pcap")`` (``ringcap.spark``) on the
  pcap files, the columns the query needs;
* ``parquet``: ``spark.read.parquet`` on a ringcap packet dataset of the same
  packets (``ParquetSink``, default columns), written before the clock starts;
* ``binaryFiles + dpkt``: ``sc.binaryFiles`` and a Python function per file
  that parses each packet with dpkt (the usual approach without ringcap),
  turned into a DataFrame.

Each runs ``SELECT ip_proto, count(*), sum(wirelen), count(DISTINCT ip_src)
GROUP BY ip_proto`` (the three must agree); the figure is packets per second
per core: packets / (wall time x cores of ``local[N]``), best of
``--repeat``.  Traffic, named in every row:

* ``conversations``: ``ringcap.testing.synthetic_traffic`` (TCP/UDP over
  IPv4/IPv6, payloads uniform in 0-1400 bytes, 1 % ARP);
* ``imix``: the same generator cut to IMIX-like sizes (7 small frames of
  60 bytes, 4 of about 600, 1 of about 1500).

    python benchmarks/bench_spark.py --packets 400000 --files 4 --cores 2
"""
from __future__ import annotations

import argparse
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
    os.environ["PYTHONPATH"] = os.pathsep.join(
        [str(REPO)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p])

import numpy as np  # noqa: E402

import ringcap  # noqa: E402
from ringcap import Batch  # noqa: E402
from ringcap.sinks import ParquetSink  # noqa: E402
from ringcap.testing import synthetic_traffic  # noqa: E402

QUERY = ("SELECT ip_proto, count(*) AS packets, sum(wirelen) AS bytes, "
         "count(DISTINCT ip_src) AS sources FROM packets GROUP BY ip_proto ORDER BY ip_proto")


def imix(packets: int, seed: int) -> Batch:
    small = synthetic_traffic(packets * 7 // 12, max_payload=0, seed=seed)
    middle = synthetic_traffic(packets * 4 // 12, max_payload=540, seed=seed + 1)
    large = synthetic_traffic(packets - len(small) - len(middle), max_payload=1440,
                              seed=seed + 2)
    large = large[ringcap.decode(large).payload_len >= 1300] if len(large) else large
    both = Batch.concat([small, middle, large])
    return both[np.argsort(both.ts, kind="stable")].copy()


def write_captures(folder: Path, traffic: Batch, files: int) -> list[str]:
    paths = []
    step = -(-len(traffic) // files)
    for i in range(files):
        path = folder / f"part-{i}.pcap"
        ringcap.write_pcap(path, traffic[i * step:(i + 1) * step])
        paths.append(str(path))
    return paths


def dpkt_rows(item):
    """(ip_proto, wirelen, ip_src) of every packet of one file: Python per packet."""
    import io
    import socket

    import dpkt
    _, content = item
    for _, buf in dpkt.pcap.Reader(io.BytesIO(content)):
        eth = dpkt.ethernet.Ethernet(buf)
        ip = eth.data
        if isinstance(ip, dpkt.ip.IP):
            yield (ip.p, len(buf), socket.inet_ntop(socket.AF_INET, ip.src))
        elif isinstance(ip, dpkt.ip6.IP6):
            yield (ip.nxt, len(buf), socket.inet_ntop(socket.AF_INET6, ip.src))
        else:
            yield (0, len(buf), None)


def run_query(spark, frame) -> tuple[float, list]:
    frame.createOrReplaceTempView("packets")
    start = time.perf_counter()
    rows = [tuple(r) for r in spark.sql(QUERY).collect()]
    return time.perf_counter() - start, rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=400_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--mixes", default="conversations,imix",
                        help="traffic mixes to run, comma-separated (conversations, imix)")
    parser.add_argument("--dir", help="work folder (default: a temporary one)")
    args = parser.parse_args()

    from pyspark.sql import SparkSession
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    import ringcap.spark

    spark = (SparkSession.builder.master(f"local[{args.cores}]").appName("bench_spark")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", str(args.cores))
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.driver.memory", "2g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    ringcap.spark.register(spark)
    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-spark-"))
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, Spark {spark.version}, local[{args.cores}], "
          f"{args.packets} packets in {args.files} files per traffic mix, best of {args.repeat}")
    print(f"{'traffic':<14} {'reader':<22} {'MB':>7} {'seconds':>8} {'kpackets/s/core':>16} "
          f"{'vs dpkt':>8}")
    schema = StructType([StructField("ip_proto", LongType()), StructField("wirelen", LongType()),
                         StructField("ip_src", StringType())])
    try:
        # the fixed cost of a query (planning runs Python processes on the driver; tasks
        # start workers): the same query on a capture of ten packets
        tiny = work / "tiny"
        tiny.mkdir(parents=True, exist_ok=True)
        ringcap.write_pcap(tiny / "tiny.pcap", synthetic_traffic(10, seed=3))
        make = lambda: spark.read.format("pcap").option(  # noqa: E731
            "columns", "wirelen,ip_version,ip_proto,ip_src").load(str(tiny / "tiny.pcap"))
        run_query(spark, make())
        fixed = min(run_query(spark, make())[0] for _ in range(args.repeat))
        print(f"# fixed cost: {fixed:.2f} s for the query on a 10-packet capture (pcap source)")
        mixes = {"conversations": lambda: synthetic_traffic(args.packets, seed=1,
                                                            conversations=4096),
                 "imix": lambda: imix(args.packets, seed=2)}
        for mix in args.mixes.split(","):
            traffic = mixes[mix]()
            folder = work / mix
            shutil.rmtree(folder, ignore_errors=True)
            (folder / "pcap").mkdir(parents=True)
            paths = write_captures(folder / "pcap", traffic, args.files)
            megabytes = sum(os.path.getsize(p) for p in paths) / 1e6
            with ParquetSink(folder / "parquet", worker=0, partition_by=()) as sink:
                for start in range(0, len(traffic), 65536):
                    sink.write(traffic[start:start + 65536])
            readers = {
                "pcap source": lambda: spark.read.format("pcap").option(
                    "columns", "wirelen,ip_version,ip_proto,ip_src").load(",".join(paths)),
                "parquet (ringcap)": lambda: spark.read.parquet(str(folder / "parquet")),
                "binaryFiles + dpkt": lambda: spark.createDataFrame(
                    spark.sparkContext.binaryFiles(",".join(paths), args.files)
                    .flatMap(dpkt_rows), schema),
            }
            run_query(spark, readers["pcap source"]())     # warm up: Python workers, JIT
            results = {}
            answers = {}
            for name, make in readers.items():
                best = float("inf")
                for _ in range(args.repeat):
                    seconds, rows = run_query(spark, make())
                    best = min(best, seconds)
                results[name] = best
                # parquet stores addresses as binary: compare counts and bytes only
                answers[name] = [(p, n, b) for p, n, b, _ in rows]
            reference = answers["pcap source"]
            for name, answer in answers.items():
                if answer != reference:
                    raise SystemExit(f"{name} disagrees: {answer} != {reference}")
            for name, seconds in results.items():
                rate = len(traffic) / seconds / args.cores / 1e3
                print(f"{mix:<14} {name:<22} {megabytes:7.0f} {seconds:8.2f} {rate:16.1f} "
                      f"{results['binaryFiles + dpkt'] / seconds:7.1f}x")
    finally:
        spark.stop()
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
