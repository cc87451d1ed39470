"""`ringcap -nn -r FILE [FILTER] > /dev/null` of two checkouts and tcpdump's, in turn.

    python benchmarks/compare_print.py --before /tmp/old-tree [--rounds 7] [--mixes recorded,imix]
    python benchmarks/compare_print.py --map-costs [--rounds 7]

The first form runs, for each traffic mix of benchmarks/_traffic/ without and
with the claims' filter, tcpdump, the checkout at ``--before`` (a tree with its
extensions built in place, e.g. a ``git worktree`` of the older commit) and this
checkout, round after round, and prints the median CPU of each (user + system
from ``wait4``, ``TZ=UTC`` as the claims run sets it).  ``--map-costs`` measures
ways of bringing the recorded file's bytes into the process, touching one byte a
page: maps of several sizes, with ``MADV_POPULATE_READ`` or ``MAP_POPULATE``, and
``preadv`` into one reused buffer (tcpdump's way, its ``fread``).
"""
from __future__ import annotations

import argparse
import mmap
import os
import resource
import statistics
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TRAFFIC = HERE / "_traffic"
FILES = {"uniform": "uniform-1000000-s0-v2.pcap", "large": "large-300000-s0-v2.pcap",
         "recorded": "recorded-400000-v2-r1.pcap", "imix": "imix-500000-s0-v2.pcap"}
FILTER = "udp or tcp port 443"        # claims.PRINT_FILTER
PYTHON = os.environ.get("RINGCAP_PYTHON", "/work/venv/bin/python")
MADV_POPULATE_READ = 22               # Linux 5.14


def cpu_of(argv: list[str], env: dict) -> float:
    """CPU seconds of one run, output to /dev/null, from another folder (so that
    ``python -m ringcap`` imports the tree PYTHONPATH names)."""
    pid = os.fork()
    if pid == 0:
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.chdir("/")
        os.execvpe(argv[0], argv, {**os.environ, **env})
    _, status, usage = os.wait4(pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{' '.join(argv)} failed")
    return usage.ru_utime + usage.ru_stime


def compare(before: Path, mixes: list[str], rounds: int) -> None:
    for mix in mixes:
        path = str(TRAFFIC / FILES[mix])
        with open(path, "rb") as f:                     # in the page cache
            while f.read(1 << 24):
                pass
        for extra in ([], [FILTER]):
            ringcap = [PYTHON, "-m", "ringcap", "-nn", "-r", path, *extra]
            runs = {"tcpdump": (["tcpdump", "-nn", "-r", path, *extra], {"TZ": "UTC"}),
                    "before": (ringcap, {"TZ": "UTC", "PYTHONPATH": str(before)}),
                    "now": (ringcap, {"TZ": "UTC", "PYTHONPATH": str(REPO)})}
            cpu: dict[str, list[float]] = {name: [] for name in runs}
            for _ in range(rounds):
                for name, (argv, env) in runs.items():
                    cpu[name].append(cpu_of(argv, env))
            m = {name: statistics.median(v) for name, v in cpu.items()}
            print(f"{mix:9s} {'filter' if extra else 'none':6s} tcpdump {m['tcpdump']:.3f} s  "
                  f"before {m['before']:.3f} s  now {m['now']:.3f} s  ratio "
                  f"{m['before'] / m['tcpdump']:.3f} -> {m['now'] / m['tcpdump']:.3f}", flush=True)


def map_costs(rounds: int) -> None:
    fd = os.open(TRAFFIC / FILES["recorded"], os.O_RDONLY)
    size = os.fstat(fd).st_size

    def mapped(window: int, advice=(), flags=mmap.MAP_SHARED):
        pos = 0
        while pos < size:
            length = min(window, size - pos)
            with mmap.mmap(fd, length, flags, mmap.PROT_READ, offset=pos) as m:
                for a in advice:
                    m.madvise(a)
                with memoryview(m) as view:
                    sum(view[::4096])
            pos += length

    def read(chunk: int):
        buffer = bytearray(chunk)
        pos = 0
        with memoryview(buffer) as view:
            while (n := os.preadv(fd, [view], pos)) > 0:
                pos += n

    ways = {"map 16 MiB, MADV_SEQUENTIAL": lambda: mapped(16 << 20, (mmap.MADV_SEQUENTIAL,)),
            "map 16 MiB": lambda: mapped(16 << 20),
            "map 16 MiB, MADV_POPULATE_READ": lambda: mapped(16 << 20, (MADV_POPULATE_READ,)),
            "map 16 MiB, MAP_POPULATE": lambda: mapped(16 << 20, (),
                                                       mmap.MAP_SHARED | mmap.MAP_POPULATE),
            "map 64 MiB": lambda: mapped(64 << 20),
            "map 2 MiB": lambda: mapped(2 << 20),
            "preadv 256 KiB, one buffer": lambda: read(256 << 10)}
    cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}
    for _ in range(rounds):
        for name, way in ways.items():
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            way()
            r1 = resource.getrusage(resource.RUSAGE_SELF)
            cpu[name].append((r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime,
                              r1.ru_stime - r0.ru_stime))
    os.close(fd)
    for name, v in cpu.items():
        print(f"{name:32s} CPU {statistics.median(c for c, _ in v) * 1e3:5.1f} ms, "
              f"system {statistics.median(s for _, s in v) * 1e3:5.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, help="the older checkout (extensions built)")
    parser.add_argument("--mixes", default=",".join(FILES))
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--map-costs", action="store_true")
    args = parser.parse_args()
    if args.map_costs:
        map_costs(args.rounds)
    if args.before is not None:
        compare(args.before, args.mixes.split(","), args.rounds)


if __name__ == "__main__":
    main()
