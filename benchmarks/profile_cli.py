"""Where `ringcap -nn -r FILE [FILTER]` and `ringcap stats --json FILE` spend their CPU, stage by stage.

    python benchmarks/profile_cli.py [--mixes recorded,uniform] [--repeat 5]

For each traffic mix of ``traffic.mixes()`` (the claims' files, cached in
benchmarks/_traffic/), every figure is CPU seconds (user + system), the
median of ``--repeat`` runs, each in a fresh process, run in turns:

- **start-up**: the whole command (exec to exit, ``wait4``) on a file of the
  mix's first packet: the interpreter, numpy, ringcap's modules, argument
  parsing, opening the file, exit;
- **read**, **+ filter**, **+ decode**, **+ format & write** (print) or
  **+ decode**, **+ fold**, **+ JSON** (stats): the command's own loop, in
  one process, timed around the loop only (``getrusage``), each row doing
  what the row above does and one stage more, as the command does it (the
  same reader batch sizes, ``LinkTypeFilter.mask``, ``PacketPrinter`` into
  /dev/null; ``file_report`` and ``to_dict``); "read (kernel)" is the system
  time of the read row: mapping the file's pages in and out;
- **whole**: the command itself, exec to exit, output to /dev/null, beside
  the tool the claim compares with (tcpdump -nn -r, capinfos -M);
- **the rest** = whole - start-up - the full loop: what the command does
  beyond the loop (per-file set-up, the summary), plus the noise of three
  medians.

The run is only as steady as the machine: on a shared VM, compare rows of
one run, not runs of different hours.  Bytecode is compiled first, so
start-up is an installed ringcap's (see claims.py ``compile_bytecode``).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
if any((REPO / "ringcap").glob("_text*.so")):
    sys.path.insert(0, str(REPO))   # an in-place build of this checkout

PRINT_FILTER = "udp or tcp port 443"     # claims.py's
ENV = {**os.environ, "PYTHONPATH": str(REPO), "TZ": "UTC"}
PRINT_STAGES = ("read", "filter", "decode", "print")
STATS_STAGES = ("read", "decode", "fold", "json")


# ------------------------------------------------------------ one stage, in a child
def _cpu() -> tuple[float, float]:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime, r.ru_stime


def _print_loop(path: str, stage: str, expression: str | None) -> None:
    import numpy as np
    from ringcap.bpf import LinkTypeFilter
    from ringcap.cli import read as command
    from ringcap.cli.printer import PacketPrinter
    from ringcap.pcapfile import open_pcap
    from ringcap.pcapfile.buffers import batch_packets_for
    upto = PRINT_STAGES.index(stage)
    with open(os.devnull, "w") as out, \
            open_pcap(path, batch_packets=command.READ_BATCH) as reader:
        printer = PacketPrinter(out, numeric=2)
        compiled = None
        if expression is not None and upto >= 1:
            compiled = LinkTypeFilter(expression, snaplen=reader.snaplen or 262144)
            compiled.for_linktype(reader.linktype)
        sized = False
        for batch in reader:
            if not sized and len(batch):
                reader.batch_packets = batch_packets_for(
                    batch, least=command.READ_BATCH, most=command.READ_BATCH_MAX,
                    window_bytes=command.READ_WINDOW_BYTES)
                sized = True
            if upto == 0:
                continue
            if compiled is not None:
                chosen = np.flatnonzero(compiled.mask(batch))
                if len(chosen) < len(batch):
                    batch = batch[chosen]
            if upto == 2:
                printer._decode(batch)
            elif upto == 3:
                printer.print_batch(batch)
        printer.flush()


def _stats_loop(path: str, stage: str) -> None:
    from ringcap.headers import HeadersBuffer
    from ringcap.pcapfile import open_pcap
    from ringcap.pcapfile.buffers import batch_packets_for
    from ringcap.report import _NAME_COLUMNS, _REPORT_COLUMNS, TrafficReport, file_report
    upto = STATS_STAGES.index(stage)
    if upto <= 1:       # as file_report reads
        buffer = HeadersBuffer(_REPORT_COLUMNS + _NAME_COLUMNS + ("sport", "dport"))
        with open_pcap(path, batch_packets=8192) as reader:
            sized = False
            for batch in reader:
                if not sized and len(batch):
                    reader.batch_packets = batch_packets_for(batch, least=8192)
                    sized = True
                if upto == 1:
                    buffer.decode(batch)
        return
    report, _ = file_report([path], report=TrafficReport(track_names=True))
    if upto == 3:
        json.dumps(report.to_dict(top=10), indent=1)


def child(args) -> None:
    import numpy  # noqa: F401  (imported before the clock starts, as the command does)
    import ringcap.cli.printer  # noqa: F401
    import ringcap.report  # noqa: F401
    import gc
    gc.freeze()           # as the program does once its command is loaded (cli/__init__.py)
    user0, sys0 = _cpu()
    kind, stage = args.stage.split(":")
    if kind == "print":
        _print_loop(args.file, stage, args.filter)
    else:
        _stats_loop(args.file, stage)
    user1, sys1 = _cpu()
    print(json.dumps({"user": user1 - user0, "sys": sys1 - sys0}))


# ------------------------------------------------------------ the parent
def whole(argv: list[str]) -> float:
    """CPU seconds of one process from exec to exit."""
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=ENV)
    _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed")
    return usage.ru_utime + usage.ru_stime


def stage(kind: str, name: str, path: Path, expression: str | None) -> tuple[float, float]:
    argv = [sys.executable, __file__, "--stage", f"{kind}:{name}", "--file", str(path)]
    if expression is not None:
        argv += ["--filter", expression]
    out = subprocess.run(argv, check=True, capture_output=True, text=True, env=ENV).stdout
    row = json.loads(out)
    return row["user"], row["sys"]


def first_packet(path: Path, folder: Path) -> Path:
    import ringcap
    out = folder / f"{path.stem}-first.pcap"
    with ringcap.open_pcap(str(path), batch_packets=1) as reader, \
            ringcap.PcapWriter(str(out)) as writer:
        writer.write(next(iter(reader)))
    return out


def measure(path: Path, one: Path, repeat: int) -> dict:
    """{row: [CPU s per run]} for the print (with and without the filter) and stats splits."""
    ringcap_cmd = [sys.executable, "-m", "ringcap"]
    jobs = {
        "print:start-up": lambda: whole(ringcap_cmd + ["-nn", "-r", str(one)]),
        "print:whole": lambda: whole(ringcap_cmd + ["-nn", "-r", str(path)]),
        "print:tcpdump": lambda: whole(["tcpdump", "-nn", "-r", str(path)]),
        "filter:start-up": lambda: whole(ringcap_cmd + ["-nn", "-r", str(one), PRINT_FILTER]),
        "filter:whole": lambda: whole(ringcap_cmd + ["-nn", "-r", str(path), PRINT_FILTER]),
        "filter:tcpdump": lambda: whole(["tcpdump", "-nn", "-r", str(path), PRINT_FILTER]),
        "stats:start-up": lambda: whole(ringcap_cmd + ["stats", "--json", str(one)]),
        "stats:whole": lambda: whole(ringcap_cmd + ["stats", "--json", str(path)]),
        "stats:capinfos": lambda: whole(["capinfos", "-M", str(path)]),
    }
    for name in PRINT_STAGES:
        if name != "filter":
            jobs[f"print:{name}"] = (lambda n=name: stage("print", n, path, None))
        jobs[f"filter:{name}"] = (lambda n=name: stage("print", n, path, PRINT_FILTER))
    for name in STATS_STAGES:
        jobs[f"stats:{name}"] = (lambda n=name: stage("stats", n, path, None))
    runs: dict[str, list] = {key: [] for key in jobs}
    for _ in range(repeat):
        for key, job in jobs.items():
            runs[key].append(job())
    return runs


def _med(values) -> float:
    return statistics.median(values)


_LABELS = {"read": "read", "filter": "+ filter", "decode": "+ decode",
           "print": "+ format & write", "fold": "+ fold", "json": "+ JSON"}


def table(mix: str, runs: dict) -> list[str]:
    """Markdown rows: the mix's three commands, stage by stage."""
    lines = []
    for kind, title, stages, theirs in (
            ("print", "`ringcap -nn -r FILE`", PRINT_STAGES[:1] + PRINT_STAGES[2:], "tcpdump"),
            ("filter", f"`ringcap -nn -r FILE '{PRINT_FILTER}'`", PRINT_STAGES, "tcpdump"),
            ("stats", "`ringcap stats --json FILE`", STATS_STAGES, "capinfos")):
        start = _med(runs[f"{kind}:start-up"])
        total = _med(runs[f"{kind}:whole"])
        other = _med(runs[f"{kind}:{theirs}"])
        kernel = _med([s for _, s in runs[f"{kind}:read"]])
        cells, previous = [f"{start:.3f}"], 0.0
        for name in PRINT_STAGES if kind != "stats" else STATS_STAGES:
            if name not in stages:
                cells.append("")
                continue
            loop = _med([u + s for u, s in runs[f"{kind}:{name}"]])
            cells.append(f"{loop - previous:+.3f}" + (f" ({kernel:.3f})" if name == "read" else ""))
            previous = loop
        cells.append(f"{total - start - previous:+.3f}")
        lines.append(f"| {mix} | {title} | {' | '.join(cells)} | {total:.3f} | "
                     f"{theirs} {other:.3f} | {total / other:.2f} |")
    return lines


HEADER = {
    "print": "| mix | command | start-up | read (kernel) | + filter | + decode | + format & write "
             "| rest | whole | the other tool | ringcap / other |\n"
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    "stats": "| mix | command | start-up | read (kernel) | + decode | + fold | + JSON "
             "| rest | whole | the other tool | ringcap / other |\n"
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--mixes", default="uniform,imix,large,recorded")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--stage", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--filter", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        child(args)
        return
    import traffic
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "ringcap")],
                   check=True, stdout=subprocess.DEVNULL)
    paths = traffic.mixes()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for mix in args.mixes.split(","):
            path = paths[mix]
            rows += table(mix, measure(path, first_packet(path, Path(folder)), args.repeat))
            print(f"{mix} done", file=sys.stderr, flush=True)
    bare = [whole([sys.executable, "-c", "pass"]) for _ in range(args.repeat)]
    # (with one BLAS thread, as ringcap imports it: ringcap/__init__.py)
    numpy = [whole([sys.executable, "-c", "import os; os.environ.setdefault("
                    "'OPENBLAS_NUM_THREADS', '1'); import numpy"]) for _ in range(args.repeat)]
    load = os.getloadavg()
    print(f"`python benchmarks/profile_cli.py --mixes {args.mixes} --repeat {args.repeat}`: "
          f"CPU s, medians of {args.repeat} runs in turns, {os.cpu_count()} CPUs, load "
          f"average {load[0]:.1f} at the end; `python -c pass` {_med(bare):.3f} s, "
          f"numpy's import (one BLAS thread) {_med(numpy):.3f} s.\n")
    print(HEADER["print"])
    print("\n".join(row for row in rows if "stats" not in row))
    print()
    print(HEADER["stats"])
    print("\n".join(row for row in rows if "stats" in row))


if __name__ == "__main__":
    main()
