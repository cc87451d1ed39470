"""Capture-file speed: ringcap against dpkt, pypcap and tcpdump on the same file, same run.

Builds a pcap of at least ``--size-gb`` GB in a temporary directory (deleted
afterwards), pulls it into the page cache, then times:

reading
  * ringcap ``open_pcap`` batches (data is a view of the mapped file)
  * ringcap ``read(out=...)`` into one reusable batch (packet bytes copied)
  * dpkt ``pcap.Reader`` (every packet as bytes)
  * pypcap offline mode (libpcap ``pcap_next_ex`` per packet)
  * the same packets as pcapng: ringcap against dpkt ``pcapng.Reader``

writing
  * ringcap rewriting the file (open_pcap -> PcapWriter), pcap and pcapng
  * ringcap writing batches already in memory
  * ``tcpdump -r in -w out`` rewriting the same file

Each figure is the best of ``--repeat`` runs; ratios are against the
reference measured in the same run.  Peers come from benchmarks/requirements.txt.

    python benchmarks/bench_pcap.py --size-gb 1.0 --repeat 3
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

import ringcap
from ringcap import Batch
from ringcap import PcapWriter, open_pcap

SIZES = np.array([64, 128, 576, 1514, 60, 1514, 342, 1514], dtype=np.uint32)


def make_source_batch(n: int, seed: int = 0) -> Batch:
    rng = np.random.default_rng(seed)
    caplen = SIZES[rng.integers(0, len(SIZES), n)]
    data = rng.integers(0, 256, int(caplen.sum()), dtype=np.uint8)
    ts = 1_700_000_000 * 10**9 + np.cumsum(rng.integers(100, 20_000, n))
    return Batch(ts=ts, caplen=caplen, data=data)


def generate(path: str, size_bytes: int) -> tuple[int, int]:
    """Write batches until the file holds ``size_bytes``; returns (packets, file bytes)."""
    base = make_source_batch(65536)
    span = int(base.ts[-1] - base.ts[0]) + 1000
    packets = 0
    with PcapWriter(path) as writer:
        k = 0
        while writer.bytes_written < size_bytes:
            base.ts += span * (k > 0)
            writer.write(base)
            packets += len(base)
            k += 1
    return packets, os.path.getsize(path)


def warm(path: str) -> None:
    with open(path, "rb") as f:
        while f.read(1 << 24):
            pass


def best(fn, repeat: int, cleanup=None):
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        if cleanup:
            cleanup()
    return min(times), result


def read_ringcap_view(path):
    packets = nbytes = 0
    with open_pcap(path, batch_packets=65536) as reader:
        for batch in reader:
            packets += len(batch)
            nbytes += batch.nbytes
    return packets, nbytes


def read_ringcap_copy(path):
    packets = nbytes = 0
    out = Batch.empty(65536, data_bytes=65536 * 1600)
    with open_pcap(path) as reader:
        while len(reader.read(out=out)):
            packets += len(out)
            nbytes += out.nbytes
    return packets, nbytes


def read_dpkt(path):
    import dpkt
    packets = nbytes = 0
    with open(path, "rb") as f:
        for _, buf in dpkt.pcap.Reader(f):
            packets += 1
            nbytes += len(buf)
    return packets, nbytes


def read_dpkt_pcapng(path):
    import dpkt
    packets = nbytes = 0
    with open(path, "rb") as f:
        for _, buf in dpkt.pcapng.Reader(f):
            packets += 1
            nbytes += len(buf)
    return packets, nbytes


def read_pypcap(path):
    import pcap
    packets = nbytes = 0
    for _, buf in pcap.pcap(name=path, timestamp_in_ns=True):
        packets += 1
        nbytes += len(buf)
    return packets, nbytes


def rewrite_ringcap(src, dst, fmt):
    with PcapWriter(dst, format=fmt) as writer, open_pcap(src) as reader:
        for batch in reader:
            writer.write(batch)
    return os.path.getsize(dst)


def write_ringcap_memory(batches, dst):
    with PcapWriter(dst) as writer:
        for batch in batches:
            writer.write(batch)
    return os.path.getsize(dst)


def write_floor(raw, dst):
    """The kernel's share: os.write of the same bytes from memory in 4 MiB pieces."""
    fd = os.open(dst, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        view = memoryview(raw)
        for start in range(0, len(view), 4 << 20):
            os.write(fd, view[start:start + (4 << 20)])
    finally:
        os.close(fd)
    return os.path.getsize(dst)


def rewrite_tcpdump(src, dst):
    subprocess.run(["tcpdump", "-r", src, "-w", dst], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return os.path.getsize(dst)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gb", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=None,
                        help="where to put the temporary files (default: /dev/shm when it has "
                             "room, so writes measure the writers and not disk writeback)")
    args = parser.parse_args(argv)

    where = args.dir
    if where is None and os.path.isdir("/dev/shm"):
        free = shutil.disk_usage("/dev/shm").free
        if free > 4 * args.size_gb * 1e9:
            where = "/dev/shm"
    tmp = tempfile.mkdtemp(prefix="ringcap-bench-", dir=where)
    try:
        src = os.path.join(tmp, "in.pcap")
        t0 = time.perf_counter()
        packets, size = generate(src, int(args.size_gb * 1e9))
        print(f"# file: {size / 1e9:.3f} GB, {packets} packets "
              f"(mean {size / packets:.0f} B/record), built in {time.perf_counter() - t0:.1f} s")
        print(f"# ringcap {ringcap.__version__}, numpy {np.__version__}, python "
              f"{sys.version.split()[0]}, {os.cpu_count()} CPUs, best of {args.repeat}, "
              f"files in {tmp}")
        warm(src)

        rows = []
        readers = [("ringcap open_pcap (view)", read_ringcap_view),
                   ("ringcap read(out=) (copy)", read_ringcap_copy)]
        for name, fn in (("dpkt pcap.Reader", read_dpkt), ("pypcap offline", read_pypcap)):
            try:
                __import__({"dpkt pcap.Reader": "dpkt", "pypcap offline": "pcap"}[name])
                readers.append((name, fn))
            except ImportError as error:
                print(f"# {name} skipped: {error} (pip install -r benchmarks/requirements.txt)")
        counts = {}
        for name, fn in readers:
            seconds, (n, nbytes) = best(lambda: fn(src), args.repeat)
            counts[name] = (n, nbytes)
            rows.append(("read", name, seconds, size))

        ng = os.path.join(tmp, "in.pcapng")
        ng_size = rewrite_ringcap(src, ng, "pcapng")
        warm(ng)
        ng_readers = [("ringcap open_pcap (view)", read_ringcap_view)]
        if "dpkt pcap.Reader" in counts:
            ng_readers.append(("dpkt pcapng.Reader", read_dpkt_pcapng))
        for name, fn in ng_readers:
            seconds, (n, nbytes) = best(lambda: fn(ng), args.repeat)
            counts[name + " pcapng"] = (n, nbytes)
            rows.append(("read pcapng", name, seconds, ng_size))
        os.remove(ng)
        first = next(iter(counts.values()))
        for name, got in counts.items():
            assert got == first, f"{name} read {got}, expected {first}"

        batches = [b.copy() for b in open_pcap(src)]
        with open(src, "rb") as f:
            raw = f.read()
        writers = [
            ("os.write of the bytes (floor)", lambda: write_floor(raw, os.path.join(tmp, "o0.bin"))),
            ("ringcap rewrite pcap", lambda: rewrite_ringcap(src, os.path.join(tmp, "o1.pcap"), "pcap")),
            ("ringcap rewrite pcapng", lambda: rewrite_ringcap(src, os.path.join(tmp, "o2.pcapng"), "pcapng")),
            ("ringcap write from memory", lambda: write_ringcap_memory(batches, os.path.join(tmp, "o3.pcap"))),
        ]
        if shutil.which("tcpdump"):
            writers.append(("tcpdump -r in -w out", lambda: rewrite_tcpdump(src, os.path.join(tmp, "o4.pcap"))))
        else:
            print("# tcpdump not found: writing reference skipped")
        def remove_outputs():
            for name in os.listdir(tmp):
                if name.startswith("o"):
                    os.remove(os.path.join(tmp, name))

        for name, fn in writers:
            seconds, _ = best(fn, args.repeat, remove_outputs)
            rows.append(("write", name, seconds, size))
        del batches, raw

        refs = {"read": "dpkt pcap.Reader", "read pcapng": "dpkt pcapng.Reader",
                "write": "tcpdump -r in -w out"}
        times = {(kind, name): s for kind, name, s, _ in rows}
        print()
        print(f"| {'task':11} | {'implementation':30} | {'seconds':>8} | {'GB/s':>6} | {'Mpkt/s':>7} | "
              f"{'ns/pkt':>7} | {'vs reference':>12} |")
        print(f"|{'-' * 13}|{'-' * 32}|{'-' * 10}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 14}|")
        for kind, name, seconds, nbytes in rows:
            ref = times.get((kind, refs[kind]))
            ratio = f"{ref / seconds:.1f}x" if ref else "n/a"
            print(f"| {kind:11} | {name:30} | {seconds:8.3f} | {nbytes / seconds / 1e9:6.2f} | "
                  f"{packets / seconds / 1e6:7.2f} | {seconds / packets * 1e9:7.1f} | {ratio:>12} |")
        print(f"\n# 'vs reference' = reference time / this time (>1 = faster than the reference); "
              f"references: {refs}. GB/s counts the file's bytes (the pcapng file is larger). "
              "The floor row is the kernel's page-cache copy alone, for scale.")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
