"""CPU of the commands that walk a pcap file's records, in two checkouts in turn.

    python benchmarks/compare_walk.py --before /tmp/old-tree [--rounds 9] [--mixes recorded,imix]

For each traffic mix of benchmarks/_traffic/, runs ``ringcap stats --json FILE``
and ``ringcap fields -r FILE -e dns.qry.name`` of the checkout at ``--before``
(a tree with its extensions built) and of this one, alternating, output to
/dev/null, ``TZ=UTC``, CPU (user + system) from ``wait4``, and prints medians.
``compare_print.py`` does the same for ``ringcap -nn -r FILE [FILTER]`` beside
tcpdump.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

from compare_print import FILES, PYTHON, REPO, TRAFFIC, cpu_of

COMMANDS = {"stats": ["stats", "--json", "{}"],
            "fields": ["fields", "-r", "{}", "-e", "dns.qry.name"]}


def compare(before: Path, mixes: list[str], commands: list[str], rounds: int) -> None:
    for mix in mixes:
        path = str(TRAFFIC / FILES[mix])
        with open(path, "rb") as f:                     # in the page cache
            while f.read(1 << 24):
                pass
        for command in commands:
            argv = [PYTHON, "-m", "ringcap", *(a.format(path) for a in COMMANDS[command])]
            trees = {"before": before, "now": REPO}
            cpu: dict[str, list[float]] = {name: [] for name in trees}
            for _ in range(rounds):
                for name, tree in trees.items():
                    cpu[name].append(cpu_of(argv, {"TZ": "UTC", "PYTHONPATH": str(tree)}))
            m = {name: statistics.median(v) for name, v in cpu.items()}
            print(f"{mix:9s} {command:7s} before {m['before']:.3f} s  now {m['now']:.3f} s  "
                  f"({m['now'] / m['before']:.3f}x)", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True,
                        help="the older checkout (extensions built)")
    parser.add_argument("--mixes", default=",".join(FILES))
    parser.add_argument("--commands", default=",".join(COMMANDS))
    parser.add_argument("--rounds", type=int, default=9)
    args = parser.parse_args()
    compare(args.before, args.mixes.split(","), args.commands.split(","), args.rounds)


if __name__ == "__main__":
    main()
