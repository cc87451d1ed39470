"""`ringcap stats` against `capinfos -M` and `tshark -q -z conv,ip`, side by side in one run.

Two files built here (never committed; the builders of bench_replay.py):

  * ``imix``   IMIX 7:4:1 of 64/576/1500-byte frames over 20,000 two-way flows,
  * ``large``  64/576/1024/1514-byte frames weighted 40:10:10:40 (790 B average).

Each file is read once first (page cache), then per round, alternately:

  * ``ringcap stats FILE`` (summary, protocol hierarchy, conversations,
    endpoints, sizes, rates: everything it reports), output to /dev/null,
  * ``capinfos -M FILE`` (the summary only),
  * ``tshark -n -q -z conv,ip -r FILE`` (the IP conversations only; slow, so
    only in the first ``--tshark-rounds`` rounds).

The table gives medians of each whole process's CPU (user + system from
wait4's rusage, start to exit) and wall time, and how many times ringcap's
CPU the others take.

    python benchmarks/bench_stats.py --packets 200000 --repeat 3
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import ringcap  # noqa: E402
from bench_replay import build_mix  # noqa: E402


def run_once(argv: list[str], root: str = ROOT) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, cwd="/",    # (cwd: not on sys.path)
                            env={**os.environ, "PYTHONPATH": root})
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {err[-400:]}")
    return usage.ru_utime + usage.ru_stime, wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tshark-rounds", type=int, default=1)
    parser.add_argument("--also", metavar="TREE",
                        help="also run `ringcap stats` of the checkout TREE (built in place), "
                             "e.g. the code before a change, in the same rounds")
    args = parser.parse_args()
    roots = [ROOT] + ([os.path.abspath(args.also)] if args.also else [])
    for root in roots:
        subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(root, "ringcap")],
                       check=True, stdout=subprocess.DEVNULL)
    for tool in ("capinfos", "tshark"):
        if not shutil.which(tool):
            raise SystemExit(f"{tool} is not installed: apt-get install tshark")
    folder = tempfile.mkdtemp(prefix="ringcap-bench-stats-")
    try:
        print(f"whole-process CPU and wall, medians of {args.repeat} interleaved runs "
              f"(tshark: {args.tshark_rounds}), {args.packets:,} packets per file")
        print(f"{'mix':<6} {'MB':>6} {'tool':<22} {'CPU s':>8} {'wall s':>8} "
              f"{'CPU vs ringcap':>15}")
        for mix in ("imix", "large"):
            path = os.path.join(folder, f"{mix}.pcap")
            ringcap.write_pcap(path, build_mix(mix, args.packets))
            subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)
            tools = {
                "ringcap stats": [sys.executable, "-m", "ringcap", "stats", path],
                **({"ringcap stats (--also)": [sys.executable, "-m", "ringcap", "stats", path]}
                   if args.also else {}),
                "capinfos -M": ["capinfos", "-M", path],
                "tshark -z conv,ip": ["tshark", "-n", "-q", "-z", "conv,ip", "-r", path],
            }
            results: dict[str, list] = {name: [] for name in tools}
            for round_ in range(args.repeat):
                for name, argv in tools.items():
                    if name.startswith("tshark") and round_ >= args.tshark_rounds:
                        continue
                    results[name].append(run_once(argv, roots[-1] if "also" in name
                                                  else ROOT))
            ours = statistics.median(r[0] for r in results["ringcap stats"])
            for name, runs in results.items():
                cpu = statistics.median(r[0] for r in runs)
                wall = statistics.median(r[1] for r in runs)
                print(f"{mix:<6} {os.path.getsize(path) / 1e6:>6.0f} {name:<22} {cpu:>8.3f} "
                      f"{wall:>8.3f} {cpu / ours:>14.1f}x")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
