"""Reading and printing a capture file: `ringcap -nn -r FILE` against `tcpdump -nn -r FILE`,
and ringcap's BPF interpreter against libpcap's, per packet.

    python benchmarks/bench_print.py                 # 1 GB file (made once, cached)
    python benchmarks/bench_print.py --size 200M     # a smaller file
    python benchmarks/bench_print.py --markdown docs/printing.md   # also update the docs table
    python benchmarks/bench_print.py --mixes [--markdown docs/printing.md]
        # the print claims' pair (`run.py --claims --only print`) on every traffic mix of
        # benchmarks/traffic.py, measured as claims.py measures it, without its network set-up

The file holds a mix of frames like a LAN capture: TCP conversations (options,
payloads of 0 to 1448 bytes), UDP, ICMP echo, ICMPv6, ARP and VLAN-tagged
frames, IPv4 and IPv6, on ports tcpdump has no application decoder for (so
both tools print the same lines, which is checked).  Each command runs
`--repeat` times with output to /dev/null; the best wall time counts, and
user+system CPU of that run is reported too.
"""
from __future__ import annotations

import argparse
import os
import random
import re
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if any((REPO / "ringcap").glob("_text*.so")):
    sys.path.insert(0, str(REPO))   # an in-place build of this checkout

import ringcap  # noqa: E402
from ringcap.bpf import CompiledFilter  # noqa: E402

CACHE = Path(os.environ.get("RINGCAP_BENCH_CACHE", "/tmp/ringcap-bench"))
FILTERS = ["tcp", "udp port 40053", "host 10.0.3.7 and tcp[tcpflags] & tcp-syn != 0",
           "vlan and ip6", "ip[2:2] > 1000 or icmp"]


def _checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def _frames(count: int, seed: int) -> list[bytes]:
    """Template frames (later repeated with changing sequence numbers)."""
    rng = random.Random(seed)
    out = []
    mac_a, mac_b = bytes.fromhex("020000000001"), bytes.fromhex("020000000002")
    for i in range(count):
        kind = rng.random()
        v6 = rng.random() < 0.25
        vlan = rng.random() < 0.1
        if kind < 0.03:
            arp = struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, 1, mac_a, bytes([10, 0, 0, 1]),
                              bytes(6), bytes([10, 0, rng.randrange(256), rng.randrange(256)]))
            out.append(b"\xff" * 6 + mac_a + b"\x08\x06" + arp + bytes(18))
            continue
        if kind < 0.08:
            proto, l4 = (58 if v6 else 1), struct.pack("!BBHHH", 128 if v6 else 8, 0, 0,
                                                       rng.randrange(65536), i) + bytes(56)
        elif kind < 0.35:
            payload = bytes(rng.randrange(256) for _ in range(rng.randrange(16, 400)))
            proto, l4 = 17, struct.pack("!HHHH", 40000 + rng.randrange(100),
                                        40000 + rng.randrange(100), 8 + len(payload), 0) + payload
        else:
            size = rng.choice([0, 0, 0, 1448, 1448, rng.randrange(1, 1448)])
            flags = 0x10 | (0x08 if size else 0) | (0x02 if rng.random() < 0.02 else 0)
            options = struct.pack("!BBBBII", 1, 1, 8, 10, rng.randrange(2**32), rng.randrange(2**32))
            l4 = struct.pack("!HHIIBBHHH", 30000 + rng.randrange(1000), 31000 + rng.randrange(50),
                             rng.randrange(2**32), rng.randrange(2**32), (8 << 4), flags,
                             rng.randrange(65536), 0, 0) + options + bytes(size)
            proto = 6
        if v6:
            src = bytes.fromhex("20010db8000000000000000000") + bytes([0, rng.randrange(256), 1])
            dst = bytes.fromhex("20010db8000000000000000000") + bytes([0, rng.randrange(256), 2])
            l3 = struct.pack("!IHBB", 6 << 28, len(l4), proto, 64) + src + dst
            etype = b"\x86\xdd"
        else:
            src = bytes([10, 0, rng.randrange(8), rng.randrange(1, 255)])
            dst = bytes([10, 0, rng.randrange(8), rng.randrange(1, 255)])
            header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), i & 0xFFFF, 0x4000, 64,
                                 proto, 0, src, dst)
            l3 = header[:10] + struct.pack("!H", _checksum(header)) + header[12:]
            etype = b"\x08\x00"
        tag = b"\x81\x00" + struct.pack("!H", 100 + rng.randrange(4)) if vlan else b""
        frame = mac_b + mac_a + tag + etype + l3 + l4
        out.append(frame + bytes(max(0, 60 - len(frame))))
    return out


def make_file(path: Path, size: int, seed: int = 1) -> None:
    """Write about ``size`` bytes of capture to ``path``."""
    templates = _frames(4096, seed)
    written = 0
    ts = 1_700_000_000 * 10**9
    rng = np.random.default_rng(seed)
    with ringcap.PcapWriter(str(path) + ".part", nanosecond=False) as writer:
        while written < size:
            picks = rng.integers(0, len(templates), 50_000)
            frames = [templates[i] for i in picks]
            batch = ringcap.Batch.from_packets(frames, ts=ts + np.arange(len(frames)) * 20_000)
            ts += len(frames) * 20_000
            writer.write(batch)
            written += int(batch.caplen.sum()) + 16 * len(batch)
    os.replace(str(path) + ".part", path)


def timed(argv: list[str], repeat: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of the run with the least CPU, stdout to /dev/null.

    CPU time (user + system) is the fair measure on a shared machine; wall
    time includes waiting for a CPU.
    """
    best = (0.0, float("inf"))
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        with open(os.devnull, "wb") as devnull:
            subprocess.run(argv, stdout=devnull, stderr=subprocess.DEVNULL, check=True,
                           env={**os.environ, "PYTHONPATH": str(REPO), "TZ": "UTC"})
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        if cpu < best[1]:
            best = (wall, cpu)
    return best


def check_same_lines(path: Path, limit: int = 20000) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO), "TZ": "UTC"}
    ours = subprocess.run([sys.executable, "-m", "ringcap", "-nn", "-c", str(limit), "-r",
                           str(path)], capture_output=True, text=True, env=env).stdout
    theirs = subprocess.run(["tcpdump", "-nn", "-c", str(limit), "-r", str(path)],
                            capture_output=True, text=True, env=env).stdout
    bad = [(o, t) for o, t in zip(ours.splitlines(), theirs.splitlines()) if o != t]
    if bad or len(ours.splitlines()) != len(theirs.splitlines()):
        raise SystemExit("ringcap and tcpdump disagree on this file; first: %r" % (bad[:1],))


def bpf_per_packet(path: Path) -> list[tuple[str, float, float, int]]:
    """(filter, ringcap ns/packet, libpcap ns/packet, matches) on the file's first 1M packets.

    Both sides hold the packets packed in memory; libpcap runs its
    ``bpf_filter`` through ``pcap_offline_filter`` in the C loop of
    benchmarks/c/ref_bpf.c, ringcap its interpreter over one batch.  CPU time.
    """
    binary = CACHE / "ref_bpf"
    subprocess.run(["gcc", "-O2", "-o", str(binary), str(HERE / "c" / "ref_bpf.c"),
                    "-l:libpcap.so.0.8"], check=True)
    reference = subprocess.run([str(binary), str(path), "1000000", *FILTERS], check=True,
                               capture_output=True, text=True).stdout
    theirs = {line.split("\t")[0]: (float(line.split("\t")[1]), int(line.split("\t")[2]))
              for line in reference.splitlines()}
    with ringcap.open_pcap(path) as reader:
        batch = reader.read(1_000_000).copy()
    rows = []
    n = len(batch)
    for expression in FILTERS:
        compiled = CompiledFilter(expression)
        compiled.mask(batch)
        start = time.process_time()
        for _ in range(5):
            mask = compiled.mask(batch)
        ours = (time.process_time() - start) / 5 / n * 1e9
        matches = int(mask.sum())
        if matches != theirs[expression][1]:
            raise SystemExit(f"{expression}: ringcap matched {matches}, libpcap "
                             f"{theirs[expression][1]}")
        rows.append((expression, ours, theirs[expression][0], matches))
    return rows


def on_mixes(repeat: int) -> str:
    """The print claims (claims.claim_print: `ringcap -nn -r FILE [FILTER]` against
    `tcpdump -nn -r FILE [FILTER]`, whole processes, CPU from wait4, interleaved,
    the median of ``repeat``) on every mix, as a markdown table."""
    sys.path.insert(0, str(HERE))
    import claims
    import traffic
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="ringcap-print-") as folder:   # (one-packet heads)
        for mix, path in traffic.mixes().items():
            claims.claim_print(mix, path, repeat, rows, Path(folder))
    lines = [f"`python benchmarks/bench_print.py --mixes --repeat {repeat}` (the pair of "
             f"`run.py --claims --only print`: whole processes, CPU = user + system from "
             f"`wait4`, the median of {repeat} interleaved runs), {os.cpu_count()} CPUs, load "
             f"average {os.getloadavg()[0]:.1f} at the end; filter `{claims.PRINT_FILTER}`.", "",
             "| traffic | packets | filter | tcpdump CPU s | ringcap CPU s | ringcap / tcpdump |",
             "|---|---:|---|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['traffic']} | {row['packets']:,} | "
                     f"{'yes' if row['claim'] == 'print-filter' else 'no'} | "
                     f"{row['theirs']:.3f} | {row['ours']:.3f} | {row['ratio']:.3f}x |")
    return "\n".join(lines)


def _replace_block(path: Path, name: str, text: str) -> None:
    doc = path.read_text()
    begin, end = f"<!-- {name} begin -->", f"<!-- {name} end -->"
    if begin not in doc:
        raise SystemExit(f"{path} has no {begin} ... {end} block to replace")
    doc = re.sub(re.escape(begin) + ".*?" + re.escape(end),
                 lambda _: begin + "\n" + text + "\n" + end, doc, flags=re.S)
    path.write_text(doc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1G", help="file size (default 1G)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--markdown", type=Path, help="replace the results block in this file")
    parser.add_argument("--mixes", action="store_true",
                        help="the print claims on every traffic mix instead (see above)")
    args = parser.parse_args()
    if args.mixes:
        text = on_mixes(args.repeat)
        print(text)
        if args.markdown:
            _replace_block(args.markdown, "bench_print mixes", text)
        return
    units = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}
    size = int(float(args.size[:-1]) * units[args.size[-1].upper()]) \
        if args.size[-1].upper() in units else int(args.size)
    if not shutil.which("tcpdump"):
        raise SystemExit("tcpdump is needed (apt-get install tcpdump)")
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"print-{args.size}.pcap"
    if not path.exists():
        print(f"writing {path} ...", file=sys.stderr)
        make_file(path, size)
    with ringcap.open_pcap(path) as reader:
        packets = sum(len(b) for b in reader)
    check_same_lines(path)
    rows = []
    for name, argv in [
        ("tcpdump -nn -r FILE", ["tcpdump", "-nn", "-r", str(path)]),
        ("ringcap -nn -r FILE", [sys.executable, "-m", "ringcap", "-nn", "-r", str(path)]),
        ("tcpdump -nn -e -r FILE", ["tcpdump", "-nn", "-e", "-r", str(path)]),
        ("ringcap -nn -e -r FILE", [sys.executable, "-m", "ringcap", "-nn", "-e", "-r", str(path)]),
        ("tcpdump -nn -r FILE tcp", ["tcpdump", "-nn", "-r", str(path), "tcp"]),
        ("ringcap -nn -r FILE tcp", [sys.executable, "-m", "ringcap", "-nn", "-r", str(path),
                                     "tcp"]),
        ("tcpdump -r FILE -w OUT udp", ["tcpdump", "-r", str(path), "-w", str(CACHE / "o.pcap"),
                                        "udp"]),
        ("ringcap -r FILE -w OUT udp", [sys.executable, "-m", "ringcap", "-r", str(path), "-w",
                                        str(CACHE / "o.pcap"), "udp"]),
    ]:
        wall, cpu = timed(argv, args.repeat)
        rows.append((name, wall, cpu))
        print(f"{name:32s} {wall:7.2f} s  {cpu:7.2f} s CPU  {packets / cpu / 1e6:6.2f} M packets/CPU s",
              file=sys.stderr)
    bpf = bpf_per_packet(path)
    lines = [f"File: {path.stat().st_size / 2**30:.2f} GiB, {packets:,} packets "
             f"(`python benchmarks/bench_print.py --size {args.size}`), "
             f"{os.cpu_count()} CPUs, output to /dev/null, the run with the least CPU time of "
             f"{args.repeat}; load average {os.getloadavg()[0]:.1f} during the run.", "",
             "| command | CPU s (user+sys) | wall s | packets per CPU second | "
             "tcpdump's CPU / this |", "|---|---:|---:|---:|---:|"]
    for i, (name, wall, cpu) in enumerate(rows):
        ref = rows[i - i % 2][2]
        lines.append(f"| `{name}` | {cpu:.2f} | {wall:.2f} | {packets / cpu / 1e6:.2f} M | "
                     f"{ref / cpu:.2f} |")
    lines += ["", "BPF filter, CPU ns per packet (the file's first 1M packets packed in memory; "
              "ringcap's interpreter over one batch; libpcap's `bpf_filter` through "
              "`pcap_offline_filter` in a C loop, benchmarks/c/ref_bpf.c; both count the "
              "same matches):", "",
              "| filter | ringcap ns/packet | libpcap ns/packet | matches |", "|---|---:|---:|---:|"]
    for expression, ours, theirs, matches in bpf:
        lines.append(f"| `{expression}` | {ours:.1f} | {theirs:.1f} | {matches:,} |")
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        _replace_block(args.markdown, "bench_print", text)


if __name__ == "__main__":
    main()
