"""`ringcap stats` against capinfos and tshark; `ringcap replay --topspeed` against tcpreplay.

stats: one pcap of at least ``--size-gb`` GB of two-way TCP/UDP conversations
(``ringcap.testing.synthetic_traffic``), in the page cache, then wall time of

  * ``ringcap stats --json FILE`` (summary, protocol hierarchy, conversations,
    endpoints, sizes, rates: everything the command reports)
  * ``capinfos -M FILE``
  * ``tshark -n -q -z conv,ip -r FILE``

replay: one pcap of ``--replay-packets`` small frames sent from one end of a
veth pair in a network namespace this script creates (nothing leaves it):

  * ``ringcap replay --topspeed FILE -i bench0``
  * ``tcpreplay --topspeed -i bench0 FILE``

with packets/s each reports and the receive counter of the peer.  Each figure
is the best of ``--repeat`` runs; ratios are to the peer in the same run.

    python benchmarks/bench_analysis.py --size-gb 1.0 --repeat 3
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import ringcap  # noqa: E402
from ringcap.testing import synthetic_traffic  # noqa: E402


def _wall(argv, repeat: int) -> tuple[float, str]:
    best, out = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(argv, capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)} failed: {proc.stderr.strip()[-400:]}")
        if elapsed < best:
            best, out = elapsed, proc.stdout + proc.stderr
    return best, out


def build_file(path: str, size_gb: float) -> int:
    """Write at least size_gb of traffic; returns the packet count."""
    packets = 0
    chunk = 500_000
    seed = 0
    start = 1_700_000_000 * 10**9
    with ringcap.PcapWriter(path) as writer:
        while writer.bytes_written < size_gb * 1e9:
            batch = synthetic_traffic(chunk, conversations=5000, seed=seed, start_ns=start,
                                      span_ns=10**9)
            writer.write(batch)
            packets += len(batch)
            seed += 1
            start += 10**9
    return packets


def bench_stats(size_gb: float, repeat: int, folder: str) -> list[tuple]:
    path = os.path.join(folder, "stats.pcap")
    packets = build_file(path, size_gb)
    size = os.path.getsize(path)
    subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)   # page cache
    rows = []
    ours, out = _wall([sys.executable, "-m", "ringcap", "stats", "--json", path], repeat)
    rows.append(("ringcap stats --json", ours))
    capinfos, _ = _wall(["capinfos", "-M", path], repeat)
    rows.append(("capinfos -M", capinfos))
    tshark, _ = _wall(["tshark", "-n", "-q", "-z", "conv,ip", "-r", path], max(1, repeat - 2))
    rows.append(("tshark -q -z conv,ip", tshark))
    print(f"\nstats: {size / 1e9:.2f} GB, {packets:,} packets")
    print(f"{'tool':<24} {'seconds':>9} {'ns/packet':>10} {'vs ringcap':>11}")
    for name, seconds in rows:
        print(f"{name:<24} {seconds:>9.2f} {seconds / packets * 1e9:>10.0f} "
              f"{seconds / ours:>10.1f}x")
    return [(name, seconds, packets, size) for name, seconds in rows]


def bench_replay(packets: int, repeat: int, folder: str) -> list[tuple]:
    from netns import GlobalBacklog, enter_private_netns, if_counters, make_veth
    if not shutil.which("tcpreplay"):
        raise SystemExit("tcpreplay is not installed: apt-get install tcpreplay")
    path = os.path.join(folder, "replay.pcap")
    batch = synthetic_traffic(packets, conversations=256, seed=1, max_payload=0)
    ringcap.write_pcap(path, batch)
    GlobalBacklog()                 # restores the sysctl on exit; veth needs no raise to send
    enter_private_netns()
    make_veth("bench0", "bench1")
    rows = []
    for name, argv, pattern in (
            ("ringcap replay --topspeed",
             [sys.executable, "-m", "ringcap", "replay", "--topspeed", path, "-i", "bench0"],
             r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps"),
            ("tcpreplay --topspeed", ["tcpreplay", "--topspeed", "-i", "bench0", path],
             r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps")):
        best = 0.0
        received = 0
        for _ in range(repeat):
            before = if_counters("bench1")["rx_packets"]
            _, out = _wall(argv, 1)
            pps = float(re.search(pattern, out).group(1))
            if pps > best:
                best = pps
                received = if_counters("bench1")["rx_packets"] - before
        rows.append((name, best, received))
    print(f"\nreplay: {packets:,} frames of {int(batch.caplen.mean())} B on a veth pair")
    print(f"{'tool':<28} {'packets/s':>12} {'received':>10} {'vs tcpreplay':>13}")
    for name, pps, received in rows:
        print(f"{name:<28} {pps:>12,.0f} {received:>10,} {pps / rows[1][1]:>12.2f}x")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--replay-packets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="ringcap-bench-analysis-")
    try:
        bench_stats(args.size_gb, args.repeat, folder)
        bench_replay(args.replay_packets, args.repeat, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
