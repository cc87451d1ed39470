"""`ringcap replay --topspeed` against `tcpreplay --topspeed`, side by side in one run.

Three files, built here (never committed), each sent out of one end of a
veth pair in a private network namespace this script creates (nothing
leaves it):

  * ``imix``    IMIX 7:4:1 of 64/576/1500-byte frames over 20,000 two-way
                IPv4 UDP/TCP flows (about 354 B per packet),
  * ``large``   64/576/1024/1514-byte frames weighted 40:10:10:40 over 2,000
                flows (about 780 B per packet),
  * ``uniform`` 60-byte frames over 256 flows.

``--cached`` sends the claims' files instead (``traffic.mixes()``: uniform
64-byte frames, IMIX, the large mix and traffic recorded from real programs,
cached in benchmarks/_traffic/).  ``--baseline DIR`` adds a third row: the
``ringcap`` of another source tree with its extensions built (e.g. the
previous commit, ``git archive``d and built), for before/after in one run.

Per mix, the tools run alternately ``--repeat`` times (interleaved, so a
burst of load on the machine hits each), and the table gives medians of:

  * packets/s as the tool reports it ("Rated: ... pps": the send loop only),
  * packets/s over the whole process, start to exit (wall, from fork to wait4),
  * CPU seconds of the whole process (user + system, from wait4's rusage),
  * the ratio ringcap/tcpreplay of each (above 1 is ringcap faster).

    python benchmarks/bench_replay.py --packets 200000 --repeat 5
    python benchmarks/bench_replay.py --cached --repeat 5 [--baseline /tmp/ringcap-before]
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import ringcap  # noqa: E402
from ringcap import Batch  # noqa: E402

#: mix name -> (frame sizes, weights, flows)
MIXES = {
    "imix": ((64, 576, 1500), (7, 4, 1), 20_000),
    "large": ((64, 576, 1024, 1514), (40, 10, 10, 40), 2_000),
    "uniform": ((60,), (1,), 256),
}

RATED = re.compile(r"Rated: [\d.]+ Bps, [\d.]+ Mbps, ([\d.]+) pps")


def build_mix(name: str, packets: int, seed: int = 0) -> Batch:
    """Ethernet/IPv4 frames of the mix's sizes; each flow a UDP or TCP 5-tuple,
    both directions; IP total length and checksum right, payload random."""
    sizes, weights, flows = MIXES[name]
    rng = np.random.default_rng(seed)
    p = np.asarray(weights, dtype=np.float64) / sum(weights)
    caplen = np.asarray(sizes, dtype=np.int64)[rng.choice(len(sizes), size=packets, p=p)]
    flow = rng.integers(0, flows, size=packets)
    backward = rng.random(packets) < 0.4
    tcp = flow % 3 != 2
    offset = np.concatenate([[0], np.cumsum(caplen)[:-1]])
    data = rng.integers(0, 256, size=int(caplen.sum()), dtype=np.uint8)

    def put(at: int, values: np.ndarray, width: int) -> None:
        values = values.astype(np.uint64)
        for k in range(width):
            data[offset + at + k] = ((values >> np.uint64(8 * (width - 1 - k)))
                                     & np.uint64(0xFF)).astype(np.uint8)

    client = (10 << 24) | (flow + 1)                     # 10.0.x.y
    server = np.where(flow % 2 == 0, 0xC0A80001, 0xC0A80002)
    sport = 20_000 + flow % 40_000
    dport = np.where(tcp, 443, 53)
    src, dst = np.where(backward, server, client), np.where(backward, client, server)
    sp, dp = np.where(backward, dport, sport), np.where(backward, sport, dport)
    put(0, np.where(backward, 0x020000000001, 0x020000000002), 6)
    put(6, np.where(backward, 0x020000000002, 0x020000000001), 6)
    put(12, np.full(packets, 0x0800), 2)
    ip_len = caplen - 14
    put(14, np.full(packets, 0x4500), 2)
    put(16, ip_len, 2)
    put(18, np.arange(packets) & 0xFFFF, 2)
    put(20, np.full(packets, 0x4000), 2)
    put(22, np.where(tcp, 0x4006, 0x4011), 2)           # TTL 64, protocol
    put(24, np.zeros(packets), 2)
    put(26, src, 4)
    put(30, dst, 4)
    words = np.zeros(packets, dtype=np.uint64)
    for k in range(0, 20, 2):
        words += (data[offset + 14 + k].astype(np.uint64) << np.uint64(8)) \
            + data[offset + 15 + k]
    for _ in range(3):
        words = (words & np.uint64(0xFFFF)) + (words >> np.uint64(16))
    put(24, ~words & np.uint64(0xFFFF), 2)
    put(34, sp, 2)
    put(36, dp, 2)
    udp = ~tcp
    put_udp = np.where(udp, ip_len - 20, 0)
    # UDP length (zero checksum: none); TCP keeps random seq/ack/flags bytes but
    # gets a valid data offset of 5 words
    data[offset[udp] + 38] = (put_udp[udp] >> 8).astype(np.uint8)
    data[offset[udp] + 39] = (put_udp[udp] & 0xFF).astype(np.uint8)
    data[offset[udp] + 40] = 0
    data[offset[udp] + 41] = 0
    big = tcp & (caplen >= 54)
    data[offset[big] + 46] = 0x50
    ts = 1_700_000_000 * 10**9 + np.arange(packets, dtype=np.int64) * 1000
    return Batch(ts=ts, caplen=caplen, data=data, offset=offset)


def run_once(argv: list[str], root: str = ROOT) -> tuple[float, float, float]:
    """(reported pps, wall seconds, CPU seconds) of one whole process."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, env={**os.environ, "PYTHONPATH": root},
                            cwd="/")
    out = proc.stdout.read().decode(errors="replace")
    proc.stdout.close()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({proc.returncode}): {out[-400:]}")
    match = RATED.search(out)
    if not match:
        raise RuntimeError(f"no 'Rated:' line from {argv[0]}: {out[-400:]}")
    return float(match.group(1)), wall, usage.ru_utime + usage.ru_stime


def file_size(path: str) -> tuple[int, int]:
    """(packets, bytes of packet data) of a capture file."""
    packets = nbytes = 0
    with ringcap.open_pcap(path) as reader:
        for batch in reader:
            packets += len(batch)
            nbytes += batch.nbytes
    return packets, nbytes


def bench(mixes: list[str], packets: int, repeat: int, folder: str, cached: bool = False,
          baseline: str | None = None) -> list[tuple]:
    from netns import GlobalBacklog, enter_private_netns, if_counters, make_veth
    if not shutil.which("tcpreplay"):
        raise SystemExit("tcpreplay is not installed: apt-get install tcpreplay")
    files = {}
    if cached:
        import traffic
        files = {mix: str(path) for mix, path in traffic.mixes().items() if mix in mixes}
    GlobalBacklog()
    enter_private_netns()
    make_veth("bench0", "bench1")

    def ringcap_at(root):
        return lambda path: ([sys.executable, "-m", "ringcap", "replay", "--topspeed",
                              path, "-i", "bench0"], root)
    tools = {"ringcap": ringcap_at(ROOT),
             "tcpreplay": lambda path: (["tcpreplay", "--topspeed", "-i", "bench0", path], ROOT)}
    if baseline:
        tools["baseline"] = ringcap_at(os.path.abspath(baseline))
    rows = []
    print(f"replay --topspeed on a veth pair, "
          f"{'the claims files' if cached else f'{packets:,} packets per file'}, "
          f"medians of {repeat} interleaved runs")
    print(f"{'mix':<8} {'B/pkt':>5} {'tool':<10} {'rated pps':>11} {'whole pps':>11} "
          f"{'CPU s':>7} {'received':>9}")
    for mix in mixes:
        if mix in files:
            path = files[mix]
        else:
            batch = build_mix(mix, packets)
            path = os.path.join(folder, f"{mix}.pcap")
            ringcap.write_pcap(path, batch)
        count, nbytes = file_size(path)
        subprocess.run(["cat", path], stdout=subprocess.DEVNULL, check=True)   # page cache
        results = {name: [] for name in tools}
        received = {name: 0 for name in tools}
        for _ in range(repeat):
            for name, argv in tools.items():
                before = if_counters("bench1")["rx_packets"]
                results[name].append(run_once(*argv(path)))
                received[name] = if_counters("bench1")["rx_packets"] - before
        med = {name: [statistics.median(r[k] for r in results[name]) for k in range(3)]
               for name in tools}
        for name in tools:
            rated, wall, cpu = med[name]
            print(f"{mix:<8} {nbytes / count:>5.0f} {name:<10} {rated:>11,.0f} "
                  f"{count / wall:>11,.0f} {cpu:>7.3f} {received[name]:>9,}")
        theirs = med["tcpreplay"]
        for name in [n for n in tools if n != "tcpreplay"]:
            ours = med[name]
            ratio = (ours[0] / theirs[0], theirs[1] / ours[1], theirs[2] / ours[2])
            print(f"{mix:<8} {'':>5} {'ratio' if name == 'ringcap' else 'ratio@base':<10} "
                  f"{ratio[0]:>10.2f}x {ratio[1]:>10.2f}x "
                  f"{ratio[2]:>6.2f}x   ({name}/tcpreplay; CPU: tcpreplay/{name})")
            if name == "ringcap":
                rows.append((mix, ours, theirs, ratio))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--mix", action="append", choices=sorted(MIXES) + ["recorded"],
                        help="only this mix (repeatable; default: all; recorded: --cached only)")
    parser.add_argument("--cached", action="store_true",
                        help="send the claims' cached files (uniform, imix, large, recorded)")
    parser.add_argument("--baseline", metavar="DIR",
                        help="also time the ringcap of this source tree (extensions built)")
    args = parser.parse_args()
    mixes = args.mix or (["uniform", "imix", "large", "recorded"] if args.cached else list(MIXES))
    if "recorded" in mixes and not args.cached:
        parser.error("the recorded mix exists only as a cached file: add --cached")
    folder = tempfile.mkdtemp(prefix="ringcap-bench-replay-")
    try:
        bench(mixes, args.packets, args.repeat, folder, cached=args.cached,
              baseline=args.baseline)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
