"""How many of ringcap's printed lines are tcpdump's, on a capture file.

    python benchmarks/compare_lines.py FILE [FLAGS...]

runs ``tcpdump -nn FLAGS -r FILE`` and ``ringcap -nn FLAGS -r FILE`` and
prints the lines and the packets (a line and its indented continuation
lines) that are byte-identical, then the commonest kinds of packet that
differ (tcpdump's text after the addresses, numbers masked), with an example
of each.  docs/printing.md records the figures.
"""
from __future__ import annotations

import collections
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def packets(text: str) -> list[str]:
    chunks: list[str] = []
    for line in text.splitlines():
        if line.startswith(("\t", "    ")) and chunks:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    return chunks


def main(argv: list[str]) -> int:
    path, flags = argv[0], argv[1:]
    env = {**os.environ, "PYTHONPATH": ROOT, "TZ": "UTC"}
    ours = subprocess.run([sys.executable, "-m", "ringcap", "-nn", *flags, "-r", path],
                          capture_output=True, text=True, env=env, check=True).stdout
    theirs = subprocess.run(["tcpdump", "-nn", *flags, "-r", path], capture_output=True,
                            text=True, env=env, check=True).stdout
    lines_o, lines_t = ours.splitlines(), theirs.splitlines()
    print(f"lines: {sum(a == b for a, b in zip(lines_o, lines_t)):,} of {len(lines_t):,} "
          f"identical (ringcap printed {len(lines_o):,})")
    packets_o, packets_t = packets(ours), packets(theirs)
    kinds: collections.Counter = collections.Counter()
    example = {}
    for o, t in zip(packets_o, packets_t):
        if o != t:
            rest = t.split(": ", 1)[1] if ": " in t else t
            kind = re.sub(r"[0-9a-f:.]{6,}|\d+", "N", rest)[:50]
            kinds[kind] += 1
            example.setdefault(kind, (o[:160], t[:160]))
    same = sum(a == b for a, b in zip(packets_o, packets_t))
    print(f"packets: {same:,} of {len(packets_t):,} identical")
    for kind, count in kinds.most_common(20):
        print(f"{count:8,}  {kind!r}\n          ringcap: {example[kind][0]}\n"
              f"          tcpdump: {example[kind][1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
