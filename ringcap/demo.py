"""A self-contained capture demo: `ringcap demo`.

It moves itself into a private network namespace (so nothing it sends can
leave the machine), makes a veth pair there, sends frames of mixed sizes
through a TxRing on one end while an RxRing captures them on the other, and
prints what arrived, how fast, and what was lost.  Needs root.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import threading
import time

import numpy as np

from .batch import Batch
from .ring import RxRing, TxRing

CLONE_NEWNET = 0x40000000
DEMO_ETHERTYPE = 0x88B5


def enter_private_namespace() -> None:
    """unshare(CLONE_NEWNET) and bring up loopback; a clear error without root."""
    if os.geteuid() != 0:
        raise PermissionError("the demo makes its own network namespace and veth pair, which "
                              "needs root: run it with sudo")
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNET) failed: {os.strerror(err)}")
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)


def make_veth(a: str, b: str, mtu: int = 1500) -> None:
    subprocess.run(["ip", "link", "add", a, "mtu", str(mtu), "type", "veth", "peer", "name", b,
                    "mtu", str(mtu)], check=True)
    for name in (a, b):
        subprocess.run(["ip", "link", "set", name, "up"], check=True)


def demo_traffic(count: int, seed: int = 1) -> Batch:
    """``count`` broadcast frames, 60 to 1514 bytes, each carrying its sequence number."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice(np.array([60, 64, 128, 256, 576, 1024, 1514], dtype=np.uint32), count)
    offsets = np.zeros(count, dtype=np.int64)
    np.cumsum(sizes[:-1], out=offsets[1:])
    data = rng.integers(0, 256, int(sizes.sum()), dtype=np.uint8)
    header = np.frombuffer(b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01"
                           + DEMO_ETHERTYPE.to_bytes(2, "big"), dtype=np.uint8)
    idx = offsets[:, None] + np.arange(14)
    data[idx] = header
    seq = np.arange(count, dtype=">u4").view(np.uint8).reshape(count, 4)
    data[offsets[:, None] + 14 + np.arange(4)] = seq
    return Batch(ts=np.zeros(count, dtype=np.int64), caplen=sizes, offset=offsets, data=data)


def run(count: int = 200_000) -> int:
    enter_private_namespace()
    make_veth("demo0", "demo1")
    traffic = demo_traffic(count)
    print(f"ringcap demo: sending {count} frames ({traffic.nbytes / 1e6:.1f} MB) on a private "
          f"veth pair, capturing on the other end")
    batches = []
    with RxRing("demo1", block_size=1 << 22, block_count=64, block_timeout_ms=10,
                filter=f"ether proto {DEMO_ETHERTYPE:#x}") as rx:
        def send():
            with TxRing("demo0", frame_count=1024) as tx:
                for start in range(0, count, 8192):
                    tx.send(traffic[start:start + 8192])

        sender = threading.Thread(target=send)
        t0 = time.perf_counter()
        cpu0 = time.thread_time()
        sender.start()
        last = t0
        while True:
            batch = rx.read(timeout=0.5)
            if len(batch):
                batches.append(batch)
                last = time.perf_counter()
            elif not sender.is_alive():
                break
        elapsed = max(last - t0, 1e-6)       # first send to the last packet read
        cpu = time.thread_time() - cpu0
        sender.join()
        stats = rx.stats
    got = Batch.concat(batches)
    seqs = (got.data[got.offset[:, None] + 14 + np.arange(4)].astype(np.uint32)
            * np.array([1 << 24, 1 << 16, 1 << 8, 1], dtype=np.uint32)).sum(axis=1)
    intact = int(np.count_nonzero(got.caplen == traffic.caplen[seqs]))
    print(f"captured   {len(got)} packets, {got.nbytes / 1e6:.1f} MB in {len(batches)} batches")
    print(f"rate       {len(got) / elapsed / 1e3:.0f} kpps, {got.nbytes * 8 / elapsed / 1e9:.2f} "
          f"Gbit/s over {elapsed:.2f} s; reader CPU {cpu / elapsed:.0%}")
    print(f"lost       ring drops {stats.drops}, interface drops {stats.if_drops}, "
          f"backlog drops {stats.backlog_drops}, not seen {count - len(got)}")
    print(f"check      {intact} of {len(got)} frames have the sent length, "
          f"sequence numbers in order: {bool(np.all(np.diff(seqs.astype(np.int64)) > 0))}")
    sizes, counts = np.unique(got.caplen, return_counts=True)
    print("sizes      " + ", ".join(f"{s} B x {c}" for s, c in zip(sizes.tolist(), counts.tolist())))
    if len(got) > 1:
        gaps = np.diff(got.ts)
        print(f"timestamps first {got.ts[0]} ns, median gap {int(np.median(gaps))} ns")
    return 0
