"""Every speed claim of README.md and docs/, measured side by side on every traffic mix.

``python benchmarks/run.py --claims [--quick]`` runs this: for each claim
its pair (ringcap and the tool the claim compares with) on each mix of
``traffic.mixes()`` (uniform frames, IMIX, large packets, recorded real
programs), in one run, interleaved, the median of several repetitions, and
writes the ``--claims`` table into docs/benchmarks.md and every figure into
docs/claims.json (which README.md's numbers cite, checked by
tests/test_claims.py).

Command-line pairs are timed as whole processes, from exec to exit: CPU is
user + system time from ``wait4`` (rusage of the child), wall time from
before ``fork`` to after ``wait``.  Library pairs run in this process
(CPU from ``getrusage`` of the process and its finished children).
"""
from __future__ import annotations

import datetime as dt
import json
import math
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
if any((REPO / "ringcap").glob("_ring*.so")):
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

import netns  # noqa: E402
import traffic  # noqa: E402

import ringcap  # noqa: E402
from ringcap import Batch  # noqa: E402

ENV = {**os.environ, "PYTHONPATH": str(REPO), "TZ": "UTC"}
PRINT_FILTER = "udp or tcp port 443"
BEGIN, END = "<!-- claims begin -->", "<!-- claims end -->"

#: claim -> (what README/docs claim, the pair, how the ratio reads, the target from issue 19)
CLAIMS = {
    "print": ("`ringcap -r FILE` prints tcpdump's lines for a fraction of its CPU",
              "`ringcap -nn -r FILE` vs `tcpdump -nn -r FILE`, output to /dev/null",
              "ringcap CPU / tcpdump CPU", "≤ 0.25", lambda r: r <= 0.25),
    "print-filter": ("... also with a filter",
                     f"`ringcap -nn -r FILE '{PRINT_FILTER}'` vs `tcpdump -nn -r FILE "
                     f"'{PRINT_FILTER}'`", "ringcap CPU / tcpdump CPU", "≤ 0.25",
                     lambda r: r <= 0.25),
    "stats-tshark": ("`ringcap stats` against Wireshark's statistics",
                     "`ringcap stats --json FILE` vs `tshark -n -q -z conv,ip -r FILE`, FILE the "
                     "mix's first 200,000 packets (50,000 with --quick)",
                     "tshark CPU / ringcap CPU", "≥ 100", lambda r: r >= 100),
    "stats-capinfos": ("`ringcap stats` against capinfos",
                       "`ringcap stats --json FILE` vs `capinfos -M FILE`",
                       "capinfos CPU / ringcap CPU", "≥ 5", lambda r: r >= 5),
    "replay": ("tcpreplay-style replay",
               "`ringcap replay -t FILE -i bench0` vs `tcpreplay -t -i bench0 FILE` on a veth",
               "ringcap packets/s / tcpreplay packets/s (packets over wall time, exec to exit)",
               "≥ 1.0", lambda r: r >= 1.0),
    "flows": ("flow records against nfstream",
              "`flow_features(open_pcap(FILE))` vs nfstream (statistical analysis on, "
              "n_dissections=0, idle 120 s, active 1800 s)",
              "nfstream CPU / ringcap CPU", "≥ 10", lambda r: r >= 10),
    "flows-wall": ("flow records against nfstream, wall time", "as `flows`",
                   "nfstream wall / ringcap wall", "≥ 10", lambda r: r >= 10),
    "parquet": ("Parquet sink, default columns", "`ParquetSink` (default columns, zstd) "
                "writing the file's batches, CPU of this process", "Mpackets/s per core",
                "≥ 2 (on IMIX)", lambda r: r >= 2),
    "open-pcap": ("`open_pcap()` with its defaults against dpkt",
                  "iterating `open_pcap(FILE)` vs `dpkt.pcap.Reader`, page cache",
                  "dpkt time / ringcap time", "≥ 20", lambda r: r >= 20),
    "open-pcap-gbs": ("`open_pcap()` with its defaults", "as `open-pcap`", "GB/s",
                      "≥ 2", lambda r: r >= 2),
    "capture-w": ("`ringcap -w` against `tcpdump -w`",
                  "`ringcap -i bench1 -B 65536 -w F` vs `tcpdump -i bench1 -B 65536 -w F`, "
                  "the mix sent on a veth by a TxRing, SIGINT after",
                  "ringcap CPU / tcpdump CPU, whole process", "≤ 1.0", lambda r: r <= 1.0),
    "capture-w-only": ("`ringcap -w` against `tcpdump -w`, while traffic flows",
                       "as `capture-w`, CPU from \"listening on\" to the end of the traffic",
                       "ringcap CPU / tcpdump CPU", "≤ 0.5", lambda r: r <= 0.5),
    "parallel": ("`ParallelCapture(workers=2)` against one ring",
                 "CPU per packet of a 2-worker pool vs one `RxRing` read into a reused batch, "
                 "the mix sent by one TxRing sender at its top rate (bench_parallel.py), median of "
                 "5 pairs (--quick: the run's repeat)",
                 "pool CPU/packet / ring CPU/packet", "≤ 1.3", lambda r: r <= 1.3),
    "drain": ("draining a ring costs about the C loop's CPU",
              "`RxRing.read(out=)` vs a plain C TPACKET_V3 loop (all columns), pre-filled ring",
              "ringcap ns/packet / C ns/packet (median of paired runs)", "≤ 1.2",
              lambda r: r <= 1.2),
}


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ----------------------------------------------------------------- measuring
def run_process(argv, *, stdout=subprocess.DEVNULL) -> dict:
    """Wall and CPU seconds of one process from exec to exit (rusage of the child)."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=subprocess.PIPE, env=ENV)
    err = proc.stderr.read()
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, argv))} exited {proc.returncode}: "
                           f"{err.decode(errors='replace').strip()[-400:]}")
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime,
            "stderr": err.decode(errors="replace")}


def interleaved(pairs: dict, repeat: int) -> dict:
    """Run each of ``pairs`` ({name: callable returning a dict}) ``repeat`` times,
    alternating, and return {name: [results]}."""
    runs: dict = {name: [] for name in pairs}
    for _ in range(repeat):
        for name, fn in pairs.items():
            runs[name].append(fn())
    return runs


def med(results: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in results)


def process_cpu() -> float:
    own = __import__("resource").getrusage(__import__("resource").RUSAGE_SELF)
    kids = __import__("resource").getrusage(__import__("resource").RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def in_process(fn) -> dict:
    c0, w0 = process_cpu(), time.perf_counter()
    result = fn()
    return {"wall": time.perf_counter() - w0, "cpu": process_cpu() - c0, "result": result}


def head(path: Path, packets: int, folder: Path) -> Path:
    """The first ``packets`` packets of ``path`` as a file of their own."""
    out = folder / f"{path.stem}-head{packets}.pcap"
    if out.exists():
        return out
    with ringcap.open_pcap(str(path)) as reader, ringcap.PcapWriter(str(out)) as writer:
        left = packets
        for batch in reader:
            if left <= 0:
                break
            writer.write(batch[:left])
            left -= len(batch)
    return out


def file_packets(path: Path) -> tuple[int, int]:
    packets = nbytes = 0
    with ringcap.open_pcap(str(path)) as reader:
        for batch in reader:
            packets += len(batch)
            nbytes += int(batch.caplen.sum())
    return packets, nbytes


def warm(path: Path) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


# ----------------------------------------------------------------- the claims
def claim_print(mix, path, repeat, rows, folder: Path):
    packets, _ = file_packets(path)
    one = head(path, 1, folder)
    warm(path)
    for cid, extra in (("print", []), ("print-filter", [PRINT_FILTER])):
        runs = interleaved({
            "tcpdump": lambda: run_process(["tcpdump", "-nn", "-r", str(path), *extra]),
            "ringcap": lambda: run_process([sys.executable, "-m", "ringcap", "-nn", "-r",
                                            str(path), *extra]),
            "ringcap-1": lambda: run_process([sys.executable, "-m", "ringcap", "-nn", "-r",
                                              str(one), *extra]),
        }, repeat)
        ours, theirs = med(runs["ringcap"], "cpu"), med(runs["tcpdump"], "cpu")
        rows.append(result(cid, mix, ours / theirs, ours=ours, theirs=theirs, unit="CPU s",
                           packets=packets, **start_up_bound(runs, "ringcap-1", theirs, "ours"),
                           runs={k: [round(r["cpu"], 3) for r in v]
                                 for k, v in runs.items()}))


def claim_stats(mix, path, repeat, rows, tshark_path, folder: Path):
    one = head(path, 1, folder)

    def stats_one():
        return run_process([sys.executable, "-m", "ringcap", "stats", "--json", str(one)])
    warm(path)
    runs = interleaved({
        "capinfos": lambda: run_process(["capinfos", "-M", str(path)]),
        "ringcap": lambda: run_process([sys.executable, "-m", "ringcap", "stats", "--json",
                                        str(path)]),
        "ringcap-1": stats_one,
    }, repeat)
    ours, theirs = med(runs["ringcap"], "cpu"), med(runs["capinfos"], "cpu")
    rows.append(result("stats-capinfos", mix, theirs / ours, ours=ours, theirs=theirs,
                       unit="CPU s", packets=file_packets(path)[0],
                       **start_up_bound(runs, "ringcap-1", theirs, "theirs"),
                       runs={k: [round(r["cpu"], 3) for r in v] for k, v in runs.items()}))
    warm(tshark_path)
    runs = interleaved({
        "tshark": lambda: run_process(["tshark", "-n", "-q", "-z", "conv,ip", "-r",
                                       str(tshark_path)]),
        "ringcap": lambda: run_process([sys.executable, "-m", "ringcap", "stats", "--json",
                                        str(tshark_path)]),
        "ringcap-1": stats_one,
    }, max(1, repeat - 1))
    ours, theirs = med(runs["ringcap"], "cpu"), med(runs["tshark"], "cpu")
    rows.append(result("stats-tshark", mix, theirs / ours, ours=ours, theirs=theirs,
                       unit="CPU s", packets=file_packets(tshark_path)[0],
                       **start_up_bound(runs, "ringcap-1", theirs, "theirs"),
                       runs={k: [round(r["cpu"], 3) for r in v] for k, v in runs.items()}))


def interpreter_cpu(repeat: int = 7) -> float:
    """CPU of `python -c pass` (this interpreter, no site changes): the least any
    Python program's process costs, median of ``repeat``."""
    return statistics.median(run_process([sys.executable, "-c", "pass"])["cpu"]
                             for _ in range(repeat))


INTERPRETER: dict = {}      # {"cpu": seconds}, measured once per run (run())
FLOOR_WINDOW = 64 << 20     # bytes a map floor window holds (the reader maps a batch's)


def start_up_bound(runs: dict, alone: str, theirs: float, over: str) -> dict:
    """What a claim's ratio would be if ringcap's work on the packets cost nothing:
    its process on a one-packet file (start-up, imports, exit) against the other
    tool's whole run, and the same for a bare `python -c pass`.  A target past
    these bounds cannot be reached by speeding up the packet loops."""
    started = med(runs[alone], "cpu")
    bare = INTERPRETER.get("cpu", math.nan)
    if over == "ours":           # ratio = ringcap / other: lower is better
        return {"start_up": started, "bound": started / theirs, "bound_python": bare / theirs}
    return {"start_up": started, "bound": theirs / started, "bound_python": theirs / bare}


def claim_replay(mix, path, repeat, rows):
    packets, _ = file_packets(path)
    warm(path)

    def one(argv):
        before = netns.if_counters("bench1")["rx_packets"]
        out = run_process(argv)
        out["received"] = netns.if_counters("bench1")["rx_packets"] - before
        out["pps"] = packets / out["wall"]
        rated = re.search(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps", out["stderr"])
        out["reported_pps"] = float(rated.group(1)) if rated else math.nan
        return out

    runs = interleaved({
        "tcpreplay": lambda: one(["tcpreplay", "-t", "-i", "bench0", str(path)]),
        "ringcap": lambda: one([sys.executable, "-m", "ringcap", "replay", "-t", str(path),
                                "-i", "bench0"]),
    }, repeat)
    ours, theirs = med(runs["ringcap"], "pps"), med(runs["tcpreplay"], "pps")
    rows.append(result("replay", mix, ours / theirs, ours=ours, theirs=theirs,
                       unit="packets/s", packets=packets,
                       reported_pps={k: med(v, "reported_pps") for k, v in runs.items()},
                       received={k: [r["received"] for r in v] for k, v in runs.items()}))


def map_floor(path: Path) -> dict:
    """The kernel's part of reading ``path`` by map, timed in this process:
    bench_page_cache.py's map floor (map a window, map in its pages, unmap)."""
    import bench_page_cache
    return in_process(lambda: bench_page_cache.map_floor(str(path), FLOOR_WINDOW))


def page_cache(path: Path) -> str:
    """How the page cache holds ``path`` (4 KiB, larger and 2 MiB folios), on
    which the map floor depends; "n/a" without root."""
    import bench_page_cache
    return bench_page_cache.describe(bench_page_cache.folio_makeup(str(path)))


def claim_flows(mix, path, repeat, rows):
    import bench_flows
    packets, _ = file_packets(path)
    warm(path)
    runs = interleaved({
        "nfstream": lambda: in_process(lambda: len(bench_flows.run_nfstream(str(path), 120,
                                                                            1800, 1))),
        "ringcap": lambda: in_process(lambda: len(bench_flows.run_ringcap(str(path), 120,
                                                                          1800))),
        "floor": lambda: map_floor(path),
    }, repeat)
    records = {k: v[0]["result"] for k, v in runs.items() if k != "floor"}
    cached = page_cache(path)
    for cid, key in (("flows", "cpu"), ("flows-wall", "wall")):
        ours, theirs = med(runs["ringcap"], key), med(runs["nfstream"], key)
        floor = med(runs["floor"], key)
        rows.append(result(cid, mix, theirs / ours, ours=ours, theirs=theirs,
                           unit=f"{key} s", packets=packets, records=records,
                           floor=floor, bound=theirs / floor, page_cache=cached))


def claim_parquet(mix, path, repeat, rows, folder: Path):
    from ringcap.sinks import ParquetSink
    with ringcap.open_pcap(str(path)) as reader:
        batches = [b.copy() for b in reader]
    n = sum(len(b) for b in batches)
    out = folder / "parquet"

    def once():
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        c0 = time.process_time()
        sink = ParquetSink(out, worker=0)
        for batch in batches:
            sink.write(batch)
        sink.close()
        return {"cpu": time.process_time() - c0}

    runs = interleaved({"ringcap": once}, repeat)
    shutil.rmtree(out, ignore_errors=True)
    cpu = med(runs["ringcap"], "cpu")
    rows.append(result("parquet", mix, n / cpu / 1e6, ours=cpu, theirs=None, unit="CPU s",
                       packets=n))


def claim_open_pcap(mix, path, repeat, rows):
    import bench_pcap
    warm(path)
    size = path.stat().st_size

    def ours():
        packets = 0
        with ringcap.open_pcap(str(path)) as reader:
            for batch in reader:
                packets += len(batch)
        return packets

    runs = interleaved({"dpkt": lambda: in_process(lambda: bench_pcap.read_dpkt(str(path))),
                        "ringcap": lambda: in_process(ours),
                        "floor": lambda: map_floor(path)}, repeat)
    t_ours, t_theirs = med(runs["ringcap"], "wall"), med(runs["dpkt"], "wall")
    t_floor = med(runs["floor"], "wall")
    packets = runs["ringcap"][0]["result"]
    cached = page_cache(path)
    rows.append(result("open-pcap", mix, t_theirs / t_ours, ours=t_ours, theirs=t_theirs,
                       unit="wall s", packets=packets, floor=t_floor, bound=t_theirs / t_floor,
                       page_cache=cached))
    rows.append(result("open-pcap-gbs", mix, size / t_ours / 1e9, ours=t_ours, theirs=None,
                       unit="wall s", packets=packets, file_bytes=size, floor=t_floor,
                       bound=size / t_floor / 1e9, page_cache=cached))


def compile_bytecode() -> None:
    """Write ringcap's bytecode before any claim starts a ``ringcap`` process, so
    each starts as installed.  Under PYTHONDONTWRITEBYTECODE=1 a module whose
    ``.pyc`` is missing or older than its source (any module changed since the
    last compile) is compiled again at every start: 45-50 ms of CPU per process
    with none at hand (docs/printing.md, where the time goes), which the print
    and stats claims, run first, counted as ringcap's."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "ringcap")],
                   check=True, stdout=subprocess.DEVNULL)


def claim_capture_w(mix, path, repeat, rows, folder: Path, count: int):
    import bench_cli
    with ringcap.open_pcap(str(path)) as reader:
        batch = Batch.concat([b.copy() for b in reader])
    if len(batch) > count:
        batch = batch[:count].copy()

    def one(tool):
        out = folder / f"{tool}.pcap"
        if tool == "tcpdump":
            argv = ["tcpdump", "-i", "bench1", "-B", "65536", "-w", str(out), "-Z", "root"]
        else:
            argv = [sys.executable, "-m", "ringcap", "-i", "bench1", "-B", "65536", "-w",
                    str(out)]
        t0 = time.perf_counter()
        proc = bench_cli.start(argv)
        listening = time.perf_counter() - t0
        time.sleep(0.3)
        cpu_start = bench_cli.cpu_seconds(proc.pid)
        sent = 0
        with ringcap.TxRing("bench0", frame_count=4096) as tx:
            for i in range(0, len(batch), 16384):
                tx.send(batch[i:i + 16384])
            sent = tx.sent - tx.dropped
        # wait until the capturer is idle (its CPU stops growing), at most 10 s
        deadline, last = time.monotonic() + 10, -1.0
        while time.monotonic() < deadline:
            now = bench_cli.cpu_seconds(proc.pid)
            if now == last:
                break
            last = now
            time.sleep(0.2)
        cpu_stop = bench_cli.cpu_seconds(proc.pid)
        total, _, _ = bench_cli.stop(proc)
        got = bench_cli.count_packets(str(out))
        out.unlink()
        return {"cpu": total, "capture_cpu": cpu_stop - cpu_start, "sent": sent, "got": got,
                "listening_s": listening}

    runs = interleaved({"tcpdump": lambda: one("tcpdump"), "ringcap": lambda: one("ringcap")},
                       repeat)
    for cid, key in (("capture-w", "cpu"), ("capture-w-only", "capture_cpu")):
        ours, theirs = med(runs["ringcap"], key), med(runs["tcpdump"], key)
        bounds = {}
        if cid == "capture-w":   # ringcap's CPU outside the traffic: start-up, idle, exit
            outside = med([{"cpu": r["cpu"] - r["capture_cpu"]} for r in runs["ringcap"]], "cpu")
            bounds = {"start_up": outside, "bound": outside / theirs,
                      "bound_python": INTERPRETER.get("cpu", math.nan) / theirs}
        rows.append(result(cid, mix, ours / theirs if theirs else math.nan, ours=ours,
                           theirs=theirs, unit="CPU s", packets=len(batch), **bounds,
                           lost={k: [r["sent"] - r["got"] for r in v] for k, v in runs.items()},
                           listening_s={k: med(v, "listening_s") for k, v in runs.items()}))


def claim_parallel(mix, path, repeat, rows, count: int):
    import bench_parallel
    os.environ["BENCH_TRAFFIC"] = str(path)
    try:
        runs = interleaved({kind: (lambda kind=kind: bench_parallel.one_run(kind, count, 10))
                            for kind in ("ring", "pool-2")}, repeat)
    finally:
        os.environ.pop("BENCH_TRAFFIC", None)
    ours = med(runs["pool-2"], "ns_per_packet")
    theirs = med(runs["ring"], "ns_per_packet")
    rows.append(result("parallel", mix, ours / theirs, ours=ours, theirs=theirs,
                       unit="CPU ns/packet", packets=count,
                       drops={k: [r["drops"] + r.get("if_drops", 0) + r.get("backlog_drops", 0)
                                  for r in v] for k, v in runs.items()},
                       delivered={k: [r["delivered"] for r in v] for k, v in runs.items()},
                       # the spread (pairs moved 0.98-1.55x on one day: docs/parallel.md),
                       # the sender's rate, and where the pool's CPU went
                       pair_ratios=[p["ns_per_packet"] / r["ns_per_packet"]
                                    for p, r in zip(runs["pool-2"], runs["ring"])],
                       rate={k: [r["rate"] for r in v] for k, v in runs.items()},
                       pool_cpu={"parent": [r["parent_cpu"] for r in runs["pool-2"]],
                                 "workers": [r["worker_cpu"] for r in runs["pool-2"]],
                                 "per_worker_packets": [r["per_worker"]
                                                        for r in runs["pool-2"]]}))


def claim_drain(repeat, rows, quick: bool):
    """The drain pairs: C loop and ringcap on the same pre-filled ring, both
    pinned to the same CPU, both starting after the same settling wait, the
    side that goes first alternating; one warm-up pair first (not counted).
    The ratio is the median over the pairs of ringcap's ns/packet over C's in
    the same pair (the two runs of a pair are seconds apart, so they share the
    machine's load), and ``ours``/``theirs`` are that pair's figures."""
    import bench_ring
    import peers
    ref = bench_ring.compile_reference()
    cpus = sorted(os.sched_getaffinity(0))
    lab = bench_ring.Lab.__new__(bench_ring.Lab)           # the veth pair exists already
    lab.ref, lab.sender_cpu, lab.reader_cpu = ref, (cpus[0] if len(cpus) > 1 else None), \
        (cpus[1] if len(cpus) > 1 else None)
    lab.env = dict(os.environ, REF_RING_DST=netns.mac_address("bench1"))
    lab.sender_pps = None
    mask = os.sched_getaffinity(0)
    if lab.reader_cpu is not None:        # the C reader runs there (taskset): so does ringcap
        os.sched_setaffinity(0, {lab.reader_cpu})
    try:
        for frame_len, reader, count in ((64, peers.RingcapOut, 200_000 if quick else 1_000_000),
                                         (1500, peers.RingcapView, 50_000 if quick else 200_000)):
            lab.calibrate(frame_len, count // 2)
            sides = {
                "c": lambda n: bench_ring.prefilled_c(lab, n, frame_len, "full"),
                "ringcap": lambda n: bench_ring.prefilled_reader(lab, reader, n, frame_len),
            }
            for run in sides.values():
                run(count // 4)                                     # warm-up, not counted
            pairs = []
            for i in range(repeat):
                order = ("c", "ringcap") if i % 2 == 0 else ("ringcap", "c")
                pairs.append({name: sides[name](count) for name in order})
            ratios = [p["ringcap"].ns_per_packet / p["c"].ns_per_packet for p in pairs]
            mid = pairs[ratios.index(statistics.median_low(ratios))]
            incomplete = [f"{name} {r.note or f'{r.packets} of {r.expected}, {r.drops} drops'}"
                          for p in pairs for name, r in p.items() if not r.complete]
            cid = "drain" if frame_len == 64 else "drain-view"
            rows.append(result(
                cid, f"uniform-{frame_len}", statistics.median_low(ratios),
                ours=mid["ringcap"].ns_per_packet, theirs=mid["c"].ns_per_packet,
                unit="CPU ns/packet", packets=count, reader=reader.name,
                pair_ratios=[round(r, 3) for r in ratios],
                runs={name: [round(p[name].ns_per_packet, 2) for p in pairs] for name in sides},
                minor_faults={name: [p[name].extra.get("minor_faults") for p in pairs]
                              for name in sides},
                incomplete=incomplete))
    finally:
        os.sched_setaffinity(0, mask)


CLAIMS["drain-view"] = ("the zero-copy read of big frames", "`RxRing.read_view()` vs the C loop "
                        "(all columns, copying), pre-filled ring", "ringcap ns/packet / C "
                        "ns/packet (median of paired runs)", "(none)", lambda r: True)


def result(cid: str, mix: str, ratio: float, **detail) -> dict:
    claim, pair, means, target, ok = CLAIMS[cid]
    row = {"id": f"{cid}:{mix}", "claim": cid, "traffic": mix, "ratio": ratio,
           "ratio_means": means, "target": target,
           "met": bool(ok(ratio)) if not math.isnan(ratio) else False, **detail}
    row["stated"] = stated(row)
    log(f"{row['id']:28s} {ratio:10.3f} ({means}; target {target})")
    return row


def _fmt(x: float) -> str:
    """Two significant figures, the way README states numbers (0.31, 2.3, 24, 210)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    if x >= 100:
        return f"{x:,.0f}"
    if x >= 10:
        return f"{x:.0f}"
    if x >= 1:
        return f"{x:.1f}"
    return f"{x:.2f}"


def stated(row: dict) -> dict:
    """The strings the docs state for this row: ratio, ours and theirs."""
    out = {"ratio": _fmt(row["ratio"])}
    for key in ("ours", "theirs"):
        if isinstance(row.get(key), (int, float)):
            out[key] = _fmt(row[key])
    return out


# ----------------------------------------------------------------- the run
def versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version
    out = {"python": platform.python_version(), "kernel": platform.release(),
           "ringcap": ringcap.__version__}
    for dist in ("numpy", "dpkt", "nfstream", "pyarrow"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = "not installed"
    for tool, argv in (("tcpdump", ["tcpdump", "--version"]), ("tshark", ["tshark", "-v"]),
                       ("tcpreplay", ["tcpreplay", "-V"]), ("capinfos", ["capinfos", "-v"])):
        try:
            text = subprocess.run(argv, capture_output=True, text=True).stdout + \
                subprocess.run(argv, capture_output=True, text=True).stderr
            out[tool] = text.strip().splitlines()[0] if text.strip() else "?"
        except OSError:
            out[tool] = "not installed"
    try:
        cpu = [l for l in open("/proc/cpuinfo") if l.startswith("model name")][0].split(":")[1]
        out["cpu"] = f"{cpu.strip()} x {os.cpu_count()}"
    except (OSError, IndexError):
        pass
    return out


def start_up_hooks() -> list[str]:
    """The ``.pth`` files of this interpreter's site-packages that run code in
    every Python process it starts (lines starting ``import``), by name.  An
    editable install of ringcap (``pip install -e``) adds a finder whose
    imports cost every process about 5-13 ms of CPU here, which an installed
    ringcap does not pay: the claims are measured without it (README's
    set-up, ``pip install .`` or ``build_ext --inplace``)."""
    import site
    hooks = []
    for folder in site.getsitepackages():
        for pth in sorted(Path(folder).glob("*.pth")):
            try:
                lines = pth.read_text(errors="replace").splitlines()
            except OSError:
                continue
            if any(line.startswith(("import ", "import\t")) for line in lines):
                hooks.append(pth.name)
    return hooks


def editable_install(hooks: list[str]) -> bool:
    """Whether ``hooks`` hold an editable install's finder of ringcap."""
    return any(h.startswith("__editable__") and "ringcap" in h for h in hooks)


def run(args, command: str) -> dict:
    quick = args.quick
    hooks = start_up_hooks()
    if editable_install(hooks):
        log("warning: ringcap is installed in editable mode here (pip install -e); its finder "
            "runs in every Python process, so every whole-process figure pays it: measure in "
            "an environment with `pip install .` or `python setup.py build_ext --inplace`")
    repeat = 1 if quick and args.repeat is None else (args.repeat or 3)
    t0 = time.monotonic()
    load_start = os.getloadavg()
    log("building the traffic mixes (cached in benchmarks/_traffic/)")
    paths = traffic.mixes(quick)
    compile_bytecode()
    INTERPRETER["cpu"] = interpreter_cpu()
    paths_w = dict(paths)
    paths_w["uniform-1400"] = traffic.uniform(quick, 1400)
    hists = {name: traffic.histogram(p) for name, p in paths_w.items()}
    only = set(args.only.split(",")) if args.only else None

    def wanted(name):
        return only is None or name in only

    rows: list[dict] = []
    folder = Path(tempfile.mkdtemp(prefix="ringcap-claims-", dir="/dev/shm"
                                   if os.path.isdir("/dev/shm") else None))
    backlog = netns.GlobalBacklog()
    try:
        backlog.set(max(backlog.original, 400_000))
        netns.enter_private_netns()
        netns.make_veth("bench0", "bench1")
        for mix, path in paths.items():
            log(f"--- {mix}: {path.name}")
            if wanted("print"):
                claim_print(mix, path, repeat + (1 if quick else 0), rows, folder)
            if wanted("stats"):
                claim_stats(mix, path, repeat, rows, head(path, 50_000 if quick else 200_000,
                                                          folder), folder)
            if wanted("replay"):
                claim_replay(mix, path, repeat + (1 if quick else 0), rows)
            if wanted("flows"):
                claim_flows(mix, head(path, 30_000 if quick else 200_000, folder), repeat, rows)
            if wanted("parquet"):
                claim_parquet(mix, path, repeat, rows, folder)
            if wanted("open-pcap"):
                claim_open_pcap(mix, path, repeat + 2, rows)
        for mix, path in paths_w.items():
            if wanted("capture-w"):
                n = {"uniform": 1_000_000, "uniform-1400": 300_000}.get(mix, 500_000)
                claim_capture_w(mix, path, repeat, rows, folder, n // 8 if quick else n)
        if wanted("parallel"):
            netns.make_veth("pbench0", "pbench1")
            # (--quick: the two mixes the target names)
            for mix in ("imix", "recorded") if quick else ("uniform", "imix", "recorded"):
                # 5 pairs: 16 pairs on recorded spread 0.98-1.55x (median 1.23x) under
                # load, and a median of 3 landed past 1.3 one run in four (docs/parallel.md)
                claim_parallel(mix, paths[mix], repeat if quick else repeat + 2, rows,
                               150_000 if quick else 2_000_000)
        if wanted("drain"):
            # pairs are cheap (seconds each) and spread widely on a shared machine
            claim_drain(repeat if quick else 2 * repeat + 3, rows, quick)
    finally:
        backlog.restore()
        shutil.rmtree(folder, ignore_errors=True)
    return {"run": {"command": command, "utc": f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M}",
                    "seconds": round(time.monotonic() - t0), "quick": quick, "repeat": repeat,
                    "load_start": [round(x, 2) for x in load_start],
                    "load_end": [round(x, 2) for x in os.getloadavg()],
                    "python_cpu": INTERPRETER.get("cpu"),
                    "start_up_hooks": hooks, "versions": versions()},
            "mixes": {name: {**hists[name], "file": paths_w[name].name} for name in paths_w},
            "claims": rows}


def _clean(value):
    if isinstance(value, float):
        return None if math.isnan(value) else round(value, 6)
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return _clean(float(value))
    return value


def _hooks_text(hooks) -> str:
    """What the run's interpreter ran at every start besides ringcap (``.pth`` hooks)."""
    if hooks is None:
        return ""
    if editable_install(hooks):
        return (f"**ringcap was installed in editable mode** ({', '.join(hooks)} ran at every "
                "start): whole-process figures include its finder's imports.")
    return ("ringcap was not an editable install (start-up hooks in site-packages: "
            f"{', '.join(hooks) or 'none'}), as a user's `pip install` is.")


def table(data: dict) -> list[str]:
    run_ = data["run"]
    v = run_["versions"]
    out = [f"Run {run_['utc']} UTC in {run_['seconds']} s"
           f"{' (--quick)' if run_['quick'] else ''}, median of {run_['repeat']} "
           f"(interleaved) per pair (more where a claim's pair says so), on {v.get('cpu', '?')}, Linux {v['kernel']}, Python "
           f"{v['python']}; {v['tcpdump']}; {v['tshark']}; nfstream {v['nfstream']}, dpkt "
           f"{v['dpkt']}. Load average (1, 5, 15 min) at start "
           f"{', '.join(map(str, run_['load_start']))} and end "
           f"{', '.join(map(str, run_['load_end']))}: the machine was shared, so only ratios "
           "within this run mean anything. " + _hooks_text(run_.get("start_up_hooks")), "",
           "```", run_["command"], "```", "",
           "Set-up on a fresh Debian/Ubuntu machine (as root), beside the set-up below:", "",
           "```",
           "apt-get install -y tcpdump tshark tcpreplay iperf3 dnsmasq-base dnsutils curl "
           "openssl iputils-ping ethtool iproute2 gcc",
           "pip install -r benchmarks/requirements.txt    # nfstream, dpkt, ...",
           "python benchmarks/run.py --claims             # --quick: smaller files, one repeat",
           "```", "",
           "How: each claim's pair runs on each mix, the two sides alternating, and the "
           "median of the repeats counts. Command-line tools are timed as whole processes, "
           "exec to exit (CPU = user + system from `wait4`); library calls in the run's own "
           "process. The mixes are built by `benchmarks/traffic.py` into "
           "`benchmarks/_traffic/` (not in git): `uniform` 64-byte UDP frames; `imix` "
           "7:4:1 of 64/576/1500-byte frames over 20,000+ two-way TCP (handshake, data, "
           "ACKs, FIN) and UDP flows, a fifth IPv6, valid checksums, random payloads; "
           "`large` the same weighted to full-size segments; `recorded` real programs "
           "(iperf3 TCP and UDP, curl over HTTP/1.1 and TLS 1.2/1.3, dig against dnsmasq, "
           "ping) recorded with tcpdump in a private namespace by `tests/recorded.py`, "
           "repeated with shifted timestamps. README.md's numbers cite rows of this table "
           "(`docs/claims.json`); `tests/test_claims.py` keeps them equal.", "",
           "Traffic (packet sizes: share of frames per size range):",
           ""]
    out += traffic.histogram_table({k: v for k, v in data["mixes"].items()})
    python = data["run"].get("python_cpu")
    out += ["", "The two columns before the last say what each whole-process claim's ratio "
            "would be if ringcap's work on the packets cost nothing: `ringcap started` is the "
            "same command on the mix's first packet alone (for `capture-w`, ringcap's CPU "
            "outside the traffic: start-up, the idle wait and the exit), `python -c pass` a "
            "bare interpreter"
            + (f" ({python * 1000:.0f} ms of CPU in this run)" if python else "")
            + ". A target beyond them cannot be reached by faster packet loops. "
            "`open-pcap` and `flows` run in this process, and their first bound is instead "
            "the kernel's part of reading the file by map, timed beside the pair: mapping "
            "its pages in and unmapping them "
            "(`benchmarks/bench_page_cache.py`'s map floor). That cost is per page-table "
            "entry, so it depends on how the page cache holds the file: 4 KiB folios (a "
            "file written in 4 KiB pieces; tmpfs, where `flows` reads its head file) cost "
            "tens of times what 2 MiB folios do (`docs/pcap.md`, Speed).", "",
            "| claim | pair | traffic | ratio | ratio is | target (issue 19) | "
            "ringcap started (or map floor) | `python -c pass` | met |",
            "|---|---|---|---:|---|---|---:|---:|---|"]
    for row in data["claims"]:
        claim, pair, means, target, _ = CLAIMS[row["claim"]]
        bound = _fmt(row["bound"]) if row.get("bound") is not None else ""
        python_bound = _fmt(row["bound_python"]) if row.get("bound_python") is not None else ""
        out.append(f"| `{row['id']}` | {pair} | {row['traffic']} | {row['stated']['ratio']} | "
                   f"{means} | {target} | {bound} | {python_bound} | "
                   f"{'yes' if row['met'] else '**no**'} |")
    cached = {(row["claim"], row["traffic"]): row["page_cache"] for row in data["claims"]
              if row.get("page_cache") and row["claim"] in ("open-pcap", "flows")}
    if cached:
        out += ["", "The page cache's hold on the files read by map (`/proc/kpageflags`, "
                "at the claim): " + "; ".join(f"`{claim}:{mix}` {text}"
                                              for (claim, mix), text in cached.items()) + "."]
    return out


def write(data: dict, docs: Path) -> None:
    data = _clean(data)
    (docs / "claims.json").write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n")
    doc = docs / "benchmarks.md"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    block = "\n".join([BEGIN, "## Every claim, on every mix (`run.py --claims`)", "",
                       *table(data), END])
    if BEGIN in text and END in text:
        text = re.sub(re.escape(BEGIN) + ".*?" + re.escape(END), lambda _: block, text,
                      flags=re.S)
    else:
        lines = text.split("\n", 1)
        text = lines[0] + "\n\n" + block + "\n" + (lines[1] if len(lines) > 1 else "")
    doc.write_text(text)
    log(f"wrote {docs / 'claims.json'} and the claims table in {doc}")


# a number the docs state from a claims run: ``0.31x<!-- claim:print:imix -->`` (the
# ratio), ``1.2 s<!-- claim:print:imix/ours -->`` (ringcap's figure; /theirs the peer's);
# tests/test_claims.py checks them with the same pattern
MARKED = re.compile(r"(?P<num>\d[\d,]*(?:\.\d+)?)(?P<unit>[^<>\d]{0,16}?)"
                    r"<!-- claim:(?P<id>[\w:.\-]+?)(?:/(?P<field>ratio|ours|theirs))? -->")


def update_marked(text: str, claims: dict[str, dict]) -> tuple[str, list[str]]:
    """``text`` with every marked number set to what ``claims`` (id -> row) states;
    also the markers that name no claim of the run."""
    unknown = []

    def put(m):
        row = claims.get(m["id"])
        value = row and row["stated"].get(m["field"] or "ratio")
        if not value:
            unknown.append(m.group(0))
            return m.group(0)
        return value + m.group(0)[m.end("num") - m.start():]
    return MARKED.sub(put, text), unknown


def update_docs(docs: Path, readme: Path) -> list[str]:
    """Rewrite the marked numbers of README.md and docs/*.md from docs/claims.json."""
    claims = {row["id"]: row for row in json.loads((docs / "claims.json").read_text())["claims"]}
    unknown = []
    for path in [readme, *sorted(docs.glob("*.md"))]:
        text = path.read_text()
        new, missing = update_marked(text, claims)
        unknown += [f"{path.name}: {m}" for m in missing]
        if new != text:
            path.write_text(new)
            log(f"updated the measured numbers in {path}")
    return unknown


def claims_block(doc_text: str) -> str:
    """The claims block of docs/benchmarks.md (kept when run.py rewrites the rest)."""
    m = re.search(re.escape(BEGIN) + ".*?" + re.escape(END), doc_text, flags=re.S)
    return m.group(0) if m else ""


NOTES_HEADING = "## Investigations (written by hand; `run.py` keeps this section)"
NOTES_BEGIN, NOTES_END = "<!-- notes begin -->", "<!-- notes end -->"


def notes_block(doc_text: str) -> str:
    """The hand-written investigations of docs/benchmarks.md, with their heading
    (kept when run.py rewrites the rest), or ''."""
    m = re.search(re.escape(NOTES_BEGIN) + ".*?" + re.escape(NOTES_END), doc_text, flags=re.S)
    return f"{NOTES_HEADING}\n\n{m.group(0)}\n" if m else ""


if __name__ == "__main__":
    import argparse
    parser = argparse.ArgumentParser(description="rewrite README.md's and docs/*.md's marked "
                                     "numbers from docs/claims.json (run.py --claims does it)")
    parser.add_argument("--docs", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    missing = update_docs(args.docs, REPO / "README.md")
    for m in missing:
        print(f"no such claim in the run: {m}", file=sys.stderr)
    sys.exit(1 if missing else 0)
