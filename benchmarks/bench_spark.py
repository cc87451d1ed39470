"""Spark reading packets three ways: the same captures, the same query, the same run.

* ``pcap source``: ``spark.read.format("pcap")`` (``ringcap.spark``) on the
  capture files, the columns the query needs (``columns=``);
* ``parquet (ringcap)``: ``spark.read.parquet`` on a ringcap packet dataset of
  the same packets (``ParquetSink``, default columns), written before the
  clock starts;
* ``binaryFiles + dpkt``: ``sc.binaryFiles``, a Python generator per file that
  parses each packet with dpkt, and ``createDataFrame`` over the rows: the
  usual approach without ringcap, as it is written in tutorials and answers;
* ``Spark floor``: the ``pcap`` source with Spark's part only: each Python
  worker keeps the Arrow batches of every file it has read (the listed
  copies are links to a few files) and, after two runs that fill those
  caches, hands Spark kept batches: what Spark's Python data source path
  and the query cost with no reading or decoding.

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

    python benchmarks/bench_spark.py --gigabytes 1 --mixes imix,recorded --repeat 2 --read

``--read`` also times each reader alone: the query's three columns of every
row written to Spark's ``noop`` sink (how Spark's own benchmarks time a
source), best of ``--repeat`` as the query.
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


class CpuGroup:
    """CPU time of this process and everything it starts, exited processes
    included: a cgroup of its own (cgroup v2 ``cpu.stat``, or v1 ``cpuacct``;
    root only).  Without one, :func:`tree_cpu_seconds` reads /proc, which
    loses the time of a process that exits without an ancestor here reaping
    it (Spark replaces Python workers and daemons: a run then reads short,
    even negative)."""

    def __init__(self) -> None:
        self.path = None
        for root, usage, marker in (("/sys/fs/cgroup", "cpu.stat", "cgroup.controllers"),
                                    ("/sys/fs/cgroup/cpuacct", "cpuacct.usage", "cpuacct.usage")):
            if os.path.exists(os.path.join(root, marker)):
                path = os.path.join(root, f"bench-spark-{os.getpid()}")
                try:
                    os.mkdir(path)
                    with open(os.path.join(path, "cgroup.procs"), "w") as f:
                        f.write(str(os.getpid()))
                except OSError:
                    continue
                self.root, self.path, self.usage = root, path, usage
                return

    def seconds(self) -> float:
        if self.path is None:
            return tree_cpu_seconds()
        with open(os.path.join(self.path, self.usage)) as f:
            text = f.read()
        if self.usage == "cpu.stat":
            return int(text.split("usage_usec")[1].split()[0]) / 1e6
        return int(text) / 1e9

    def close(self) -> None:
        """Move back to the parent group and remove this one (once its processes are gone)."""
        if self.path is None:
            return
        with open(os.path.join(self.root, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        deadline = time.monotonic() + 120     # Spark's JVM and workers may take a while
        while True:
            try:
                os.rmdir(self.path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    print(f"# left the cgroup {self.path}: processes still in it; remove it "
                          "with rmdir once they exit", file=sys.stderr)
                    break
                time.sleep(0.2)
        self.path = None


CPU = None


def cpu_seconds() -> float:
    return CPU.seconds() if CPU is not None else tree_cpu_seconds()


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
    cpu, wall = cpu_seconds(), time.perf_counter()
    rows = [tuple(r) for r in spark.sql(QUERY).collect()]
    return time.perf_counter() - wall, cpu_seconds() - cpu, rows


def floor_source():
    """The ``pcap`` source with Spark's part only: each worker reads a file's
    Arrow batches once (by its real path: the listed copies are links to a
    few files) and from then on hands Spark the batches it kept.  The query
    run again over the same listing then costs what Spark's Python data
    source path and the aggregation cost, with no reading or decoding."""
    from ringcap.spark.source import PartReader, PcapBatchReader, PcapDataSource

    class FloorReader(PcapBatchReader):
        def read(self, partition):
            cache = ringcap.__dict__.setdefault("_bench_spark_floor", {})  # per worker process
            reader = PartReader(self.options, self.schema)
            for split in partition.splits:
                key = (os.path.realpath(split.path), split.start, split.end)
                if key not in cache:
                    cache[key] = list(reader.read_split(split))
                yield from cache[key]

    class FloorSource(PcapDataSource):
        default_min_partitions = 2

        @classmethod
        def name(cls):
            return "pcapfloor"

        def reader(self, schema):
            return FloorReader(dict(self.options), schema, self.default_min_partitions)

    return FloorSource


def run_read(spark, frame) -> tuple[float, float, None]:
    """(wall seconds, CPU seconds of the Spark process tree, None) of reading every
    row of the query's columns into Spark's ``noop`` sink: the reader alone."""
    frame = frame.select("ip_version", "wirelen", "ip_src")
    cpu, wall = cpu_seconds(), time.perf_counter()
    frame.write.format("noop").mode("overwrite").save()
    return time.perf_counter() - wall, cpu_seconds() - cpu, None


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
    parser.add_argument("--readers", default="pcap source,parquet (ringcap),binaryFiles + dpkt,"
                                             "Spark floor",
                        help="readers to run, comma-separated")
    parser.add_argument("--read", action="store_true",
                        help="also time each reader alone: the query's columns into Spark's "
                             "noop sink")
    parser.add_argument("--dir", help="work folder (default: a temporary one, removed after)")
    args = parser.parse_args()

    from pyspark.sql import SparkSession
    from pyspark.sql.types import IntegerType, LongType, StringType, StructField, StructType

    import ringcap.spark

    work = Path(args.dir or tempfile.mkdtemp(prefix="bench-spark-"))
    global CPU
    CPU = CpuGroup()
    spark = (SparkSession.builder.master(f"local[{args.cores}]").appName("bench_spark")
             .config("spark.ui.enabled", "false")
             .config("spark.ui.showConsoleProgress", "false")
             .config("spark.sql.shuffle.partitions", str(args.cores))
             .config("spark.driver.host", "127.0.0.1")
             .config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.driver.memory", "4g").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    ringcap.spark.register(spark)
    spark.dataSource.register(floor_source())
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
        print(f"{'traffic':<9} {'reader':<26} {'GB':>5} {'packets':>9} {'wall s':>7} "
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
                "Spark floor": lambda: spark.read.format("pcapfloor").option(
                    "columns", PCAP_COLUMNS).option("minPartitions", args.cores).load(
                    ",".join(pcaps)),
            }
            results, reads, answers = {}, {}, {}
            for name in wanted:
                if name == "Spark floor":          # first runs fill the workers' caches
                    for _ in range(2):
                        run_query(spark, readers[name]())
                runs = [run_query(spark, readers[name]()) for _ in range(args.repeat)]
                results[name] = min(runs, key=lambda run: run[1])
                answers[name] = [(n, b) for _, n, b in results[name][2]]
                if args.read:
                    reads[name] = min((run_read(spark, readers[name]())
                                       for _ in range(args.repeat)), key=lambda run: run[1])
            reference = answers[wanted[0]]
            for name, answer in answers.items():
                if answer != reference:
                    raise SystemExit(f"{name} disagrees: {answer} != {reference}")
            for what, table in (("query", results), ("read", reads)):
                for name, (wall, cpu, _) in table.items():
                    ratios = [f"{table[other][1] / cpu:7.1f}x" if other in table else "      -"
                              for other in ("binaryFiles + dpkt", "parquet (ringcap)")]
                    print(f"{mix:<9} {name + ('' if what == 'query' else ', read'):<26} "
                          f"{size / 1e9:5.2f} {packets:9d} {wall:7.1f} {cpu:7.1f} "
                          f"{packets / cpu / 1e3:16.1f} {ratios[0]:>8} {ratios[1]:>10}", flush=True)
    finally:
        spark.stop()
        CPU.close()
        if not args.dir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
