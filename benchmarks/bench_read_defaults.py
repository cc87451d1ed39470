"""open_pcap() with its defaults against dpkt, on a file of large, varied packets.

The traffic: a pcap of about ``--size-gb`` GB whose packets average about
750 bytes and come in bursts, as on a real network: bulk transfers (90%
frames of 1100-1514 bytes) alternate with chatter (80% frames of 60-120
bytes) every few thousand packets, so batches differ in size.  Uniform
synthetic frames hid the regression this measures (issue 19): the reader
allocated a fresh window per batch whenever a batch was larger than the last.

The file is built in a temporary folder (deleted afterwards) and read once
before timing, so it is in the page cache.  Each row is the best of
``--repeat`` runs (wall) with the CPU time (user + system, from rusage) of that run;
``windows`` is how many window buffers the pread fallback allocated (the
default reader maps the file and allocates none).

    python benchmarks/bench_read_defaults.py --size-gb 1.0 --repeat 3
"""
from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time

import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)            # this checkout's ringcap (built in place)

import ringcap  # noqa: E402
from ringcap import Batch, PcapWriter  # noqa: E402


def generate(path: str, size_bytes: int, burst: int = 5000, seed: int = 19) -> int:
    rng = np.random.default_rng(seed)
    packets = 0
    t = 1_700_000_000 * 10**9
    with PcapWriter(path) as writer:
        while writer.bytes_written < size_bytes:
            n = 65536
            bulk = ((packets + np.arange(n)) // burst) % 2 == 0
            small = rng.random(n) < np.where(bulk, 0.1, 0.8)
            caplen = np.where(small, rng.integers(60, 121, n),
                              rng.integers(1100, 1515, n)).astype(np.uint32)
            data = rng.integers(0, 256, int(caplen.sum()), dtype=np.uint8)
            ts = t + np.cumsum(rng.integers(100, 20_000, n))
            t = int(ts[-1])
            writer.write(Batch(ts=ts, caplen=caplen, data=data))
            packets += n
    return packets


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class PreadReader(ringcap.PcapReader):
    _MAP_FILES = False            # the fallback for what cannot be mapped


def read_ringcap(path: str, reader_class=ringcap.PcapReader, **options):
    packets = nbytes = 0
    with reader_class(path, **options) as reader:
        for batch in reader:
            packets += len(batch)
            nbytes += int(batch.caplen.sum())
        windows = reader._windows.made
    return packets, nbytes, windows


def read_floor(path: str):
    """The copy a reader by position pays: preadv of the file into one reused buffer."""
    buffer = memoryview(bytearray(64 << 20))
    fd = os.open(path, os.O_RDONLY)
    try:
        pos = 0
        while got := os.preadv(fd, [buffer], pos):
            pos += got
    finally:
        os.close(fd)
    return None, pos, None


def read_dpkt(path: str):
    import dpkt
    packets = nbytes = 0
    with open(path, "rb") as f:
        for _, buf in dpkt.pcap.Reader(f):
            packets += 1
            nbytes += len(buf)
    return packets, nbytes, None


def measure(fn, repeat: int):
    best = None
    for _ in range(repeat):
        c0, t0 = cpu(), time.perf_counter()
        result = fn()
        wall, used = time.perf_counter() - t0, cpu() - c0
        if best is None or wall < best[0]:
            best = (wall, used, result)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ringcap-bench-") as folder:
        path = os.path.join(folder, "large-mix.pcap")
        packets = generate(path, int(args.size_gb * 1e9))
        size = os.path.getsize(path)
        with open(path, "rb") as f:
            while f.read(1 << 24):
                pass
        rows = [("ringcap open_pcap(path) defaults",
                 measure(lambda: read_ringcap(path), args.repeat)),
                ("ringcap open_pcap(path, batch_packets=8192)",
                 measure(lambda: read_ringcap(path, batch_packets=8192), args.repeat)),
                ("ringcap pread fallback (PcapReader with _MAP_FILES = False)",
                 measure(lambda: read_ringcap(path, PreadReader), args.repeat)),
                ("os.preadv into one reused 64 MiB buffer (the copy alone)",
                 measure(lambda: read_floor(path), args.repeat)),
                ("dpkt pcap.Reader", measure(lambda: read_dpkt(path), 1))]
    print(f"file: {size / 1e9:.2f} GB, {packets} packets, {size / packets:.0f} B per record "
          "(bursts of large and small packets), in the page cache\n")
    print("| reader | wall s | GB/s (wall) | CPU s | GB/s (CPU) | windows | vs dpkt (wall) |")
    print("|---|---|---|---|---|---|---|")
    reference = rows[-1][1][0]
    for name, (wall, used, (_, _, windows)) in rows:
        print(f"| {name} | {wall:.3f} | {size / wall / 1e9:.2f} | {used:.3f} | "
              f"{size / used / 1e9:.2f} | {'' if windows is None else windows} | "
              f"{reference / wall:.1f}x |")


if __name__ == "__main__":
    main()
