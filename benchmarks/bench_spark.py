"""Spark reading packets three ways: the same captures, the same query, the same run.

* ``pcap source``: ``spark.read.format("pcap")`` (``ringcap.spark``) on the
  capture files, the columns the query needs (``columns=``);
* ``parquet (ringcap)``: ``spark.read.parquet`` on a ringcap packet dataset of
  the same packets (``ParquetSink``, default columns), written before the
  clock starts;
* ``binaryFiles + dpkt``: ``sc.binaryFiles``, a Python generator per file that
  parses each packet with dpkt, and ``createDataFrame`` over the rows: the
  usual approach without ringcap, as it is written in tutorials and answers.

Each runs the same user query, the top talkers::

    SELECT ip_src, count(*) AS packets, sum(wirelen) AS bytes FROM packets
    WHERE ip_version <> 0 GROUP BY ip_src ORDER BY bytes DESC, packets DESC LIMIT 10

and the three must agree (packets and bytes of each row; Parquet keeps
addresses as 16 bytes, the others as text).  Timing is CPU time of the
whole Spark process tree (this driver, the JVM with its executor threads,
every Python worker and planner process it starts), read from /proc before
and after each query, so a machine shared with other jobs does not skew
it: ``kpackets/s/core`` is packets per CPU second (thousands), wall time
is shown beside it.

Traffic (``benchmarks/traffic.py``, cached in ``benchmarks/_traffic``),
named in every row: ``imix`` (IMIX 7:4:1 of 64/576/1500-byte frames over
50,000 flows) and ``recorded`` (real programs recorded in a namespace:
iperf3, curl HTTP/TLS, DNS, ping).  Each mix file is cut into capture files
of ``--part-packets`` packets (as a rotating capture writes them), then
listed as many times as it takes to reach ``--gigabytes`` of capture per
mix (symbolic links: copy K of part J), and the Parquet dataset is the same
parts' Parquet files listed the same way.

    python benchmarks/bench_spark.py --gigabytes 1 --mixes imix,recorded
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import resource
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
sys.path.insert(0, str(HERE))

import ringcap  # noqa: E402
import traffic  # noqa: E402
from ringcap.sinks import ParquetSink  # noqa: E402
from ringcap.testing import synthetic_traffic  # noqa: E402

QUERY = ("SELECT ip_src, count(*) AS packets, sum(wirelen) AS bytes FROM packets "
         "WHERE ip_version <> 0 GROUP BY ip_src ORDER BY bytes DESC, packets DESC LIMIT 10")
PCAP_COLUMNS = "wirelen,ip_version,ip_src"
MIXES = {"imix": traffic.imix, "recorded": traffic.recorded}


def dpkt_rows(item):
    """(ip_version, wirelen, ip_src) of every packet of one file: Python per packet."""
    import io
    import socket

    import dpkt
    _, content = item
    for _, buf in dpkt.pcap.Reader(io.BytesIO(content)):
        ip = dpkt.ethernet.Ethernet(buf).data
        if isinstance(ip, dpkt.ip.IP):
            yield (4, len(buf), socket.inet_ntop(socket.AF_INET, ip.src))
        elif isinstance(ip, dpkt.ip6.IP6):
            yield (6, len(buf), socket.inet_ntop(socket.AF_INET6, ip.src))
        else:
            yield (0, len(buf), None)


def tree_cpu_seconds() -> float:
    """CPU seconds of this process and every descendant (each live one's own time
    plus what it reaped of its children's), from /proc."""
    children: dict[int, list[tuple[int, float]]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                text = f.read()
        except OSError:
            continue                  # gone meanwhile
        fields = text[text.rindex(")") + 2:].split()
        seconds = sum(int(x) for x in fields[11:15]) / tick   # utime stime cutime cstime
        children.setdefault(int(fields[1]), []).append((int(entry), seconds))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    total = usage.ru_utime + usage.ru_stime
    pending = [os.getpid()]
    while pending:
        for pid, seconds in children.get(pending.pop(), ()):
            total += seconds
            pending.append(pid)
    return total


def run_query(spark, frame) -> tuple[float, float, list]:
    """(wall seconds, CPU seconds of the Spark process tree, rows) of QUERY on ``frame``."""
    frame.createOrReplaceTempView("packets")
    cpu, wall = tree_cpu_seconds(), time.perf_counter()
    rows = [tuple(r) for r in spark.sql(QUERY).collect()]
    return time.perf_counter() - wall, tree_cpu_seconds() - cpu, rows


def prepare(mix: str, folder: Path, gigabytes: float, part_packets: int):
    """The mix cut into capture files and their Parquet files, each listed enough
    times to make ``gigabytes``: (pcap paths, parquet folder, packets, bytes)."""
    source = MIXES[mix]()
    batch = ringcap.read_pcap(source)
    parts, parquets = [], []
    for number, start in enumerate(range(0, len(batch), part_packets)):
        part = batch[start:start + part_packets]
        path = folder / "parts" / f"part-{number:03d}.pcap"
        path.parent.mkdir(parents=True, exist_ok=True)
        ringcap.write_pcap(path, part)
        parts.append((path, len(part)))
        with ParquetSink(folder / "parts-parquet" / f"{number:03d}", worker=0,
                         partition_by=()) as sink:
            for at in range(0, len(part), 65536):
                sink.write(part[at:at + 65536])
        parquets.append(sorted((folder / "parts-parquet" / f"{number:03d}").rglob("*.parquet")))
    size = sum(os.path.getsize(p) for p, _ in parts)
    copies = max(1, math.ceil(gigabytes * 1e9 / size))
    pcaps = []
    (folder / "parquet").mkdir()
    for copy in range(copies):
        (folder / "pcap" / f"copy-{copy:02d}").mkdir(parents=True)
        for (path, _), files in zip(parts, parquets):
            link = folder / "pcap" / f"copy-{copy:02d}" / path.name
            link.symlink_to(path)
            pcaps.append(str(link))
            for file in files:
                (folder / "parquet" / f"copy-{copy:02d}-{path.stem}-{file.name}").symlink_to(file)
    return pcaps, folder / "parquet", copies * sum(n for _, n in parts), copies * size, source


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--gigabytes", type=float, default=1.0,
                        help="capture bytes per mix, in GB (default 1)")
    parser.add_argument("--part-packets", type=int, default=100_000,
                        help="packets per capture file (default 100000)")
    parser.add_argument("--cores", type=int, default=2, help="local[N] (default 2)")
    parser.add_argument("--repeat", type=int, default=1, help="best of N (default 1)")
    parser.add_argument("--mixes", default="imix,recorded",
                        help="traffic mixes, comma-separated (imix, recorded)")
    parser.add_argument("--readers", default="pcap source,parquet (ringcap),binaryFiles + dpkt",
                        help="readers to run, comma-separated")
    parser.add_argument("--dir", help="work folder (default: a temporary one, removed after)")
    args = parser.parse_args()

    from pyspark.sql import SparkSession
    from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

    import ringcap.spark

    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-spark-"))
    spark = (SparkSession.builder.master(f"local[{args.cores}]").appName("bench_spark")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", str(args.cores))
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.driver.memory", "4g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    ringcap.spark.register(spark)
    schema = StructType([StructField("ip_version", IntegerType()),
                         StructField("wirelen", LongType()), StructField("ip_src", StringType())])
    wanted = args.readers.split(",")
    print(f"# {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python "
          f"{platform.python_version()}, Spark {spark.version}, local[{args.cores}], "
          f"best of {args.repeat}; CPU time of the Spark process tree")
    print(f"# query: {QUERY}")
    try:
        # the fixed cost of a query: the same query on a capture of ten packets
        (work / "tiny").mkdir(parents=True, exist_ok=True)
        tiny = str(work / "tiny" / "tiny.pcap")
        ringcap.write_pcap(tiny, synthetic_traffic(10, seed=3))
        for name, make in (("pcap source", lambda: spark.read.format("pcap")
                            .option("columns", PCAP_COLUMNS).load(tiny)),
                           ("binaryFiles + dpkt", lambda: spark.createDataFrame(
                               spark.sparkContext.binaryFiles(tiny).flatMap(dpkt_rows), schema))):
            run_query(spark, make())                       # warm up: workers, the JIT
            wall, cpu, _ = min(run_query(spark, make()) for _ in range(2))
            print(f"# fixed cost, {name}: {wall:.2f} s wall, {cpu:.2f} s CPU for the query "
                  "on a 10-packet capture")
        print(f"{'traffic':<9} {'reader':<20} {'GB':>5} {'packets':>9} {'wall s':>7} "
              f"{'CPU s':>7} {'kpackets/s/core':>16} {'vs dpkt':>8} {'vs parquet':>10}")
        for mix in args.mixes.split(","):
            folder = work / mix
            shutil.rmtree(folder, ignore_errors=True)
            pcaps, parquet, packets, size, source = prepare(mix, folder, args.gigabytes,
                                                            args.part_packets)
            print(f"# {mix}: {source.name} cut into files of {args.part_packets} packets, "
                  f"{len(pcaps)} files listed")
            readers = {
                "pcap source": lambda: spark.read.format("pcap").option(
                    "columns", PCAP_COLUMNS).load(",".join(pcaps)),
                "parquet (ringcap)": lambda: spark.read.parquet(str(parquet)),
                "binaryFiles + dpkt": lambda: spark.createDataFrame(
                    spark.sparkContext.binaryFiles(",".join(pcaps)).flatMap(dpkt_rows), schema),
            }
            results, answers = {}, {}
            for name in wanted:
                runs = [run_query(spark, readers[name]()) for _ in range(args.repeat)]
                results[name] = min(runs, key=lambda run: run[1])
                answers[name] = [(n, b) for _, n, b in results[name][2]]
            reference = answers[wanted[0]]
            for name, answer in answers.items():
                if answer != reference:
                    raise SystemExit(f"{name} disagrees: {answer} != {reference}")
            for name, (wall, cpu, _) in results.items():
                ratios = [f"{results[other][1] / cpu:7.1f}x" if other in results else "      -"
                          for other in ("binaryFiles + dpkt", "parquet (ringcap)")]
                print(f"{mix:<9} {name:<20} {size / 1e9:5.2f} {packets:9d} {wall:7.1f} "
                      f"{cpu:7.1f} {packets / cpu / 1e3:16.1f} {ratios[0]:>8} {ratios[1]:>10}",
                      flush=True)
    finally:
        spark.stop()
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
