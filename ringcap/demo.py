"""A self-contained capture demo: `ringcap demo`.

It moves itself into a private network namespace (so nothing it sends can
leave the machine), makes a veth pair there, sends TCP and UDP conversations
(:func:`ringcap.testing.synthetic_traffic`) through a TxRing on one end while
an RxRing captures them on the other, and prints the first packets as
``ringcap``/tcpdump prints them, the busiest conversations, how fast it
went, and what was lost.  Needs root.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import threading
import time

import datetime as _dt
import sys

import numpy as np

from .batch import Batch
from .ring import RxRing, TxRing
from .cli.printer import PacketPrinter
from .headers import flows
from .testing import synthetic_traffic

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
    for key in ("all", "default"):      # no IPv6 autoconfiguration chatter on the veth pair
        with open(f"/proc/sys/net/ipv6/conf/{key}/disable_ipv6", "w") as f:
            f.write("1")


def make_veth(a: str, b: str, mtu: int = 1500) -> None:
    subprocess.run(["ip", "link", "add", a, "mtu", str(mtu), "type", "veth", "peer", "name", b,
                    "mtu", str(mtu)], check=True)
    for name in (a, b):
        subprocess.run(["ip", "link", "set", name, "up"], check=True)


def demo_traffic(count: int, seed: int = 1) -> Batch:
    """``count`` frames of two-way TCP/UDP conversations (IPv4 and IPv6), 60 to 1514 bytes."""
    return synthetic_traffic(count, conversations=48, seed=seed, arp_share=0.0)


def _when(ts: int) -> str:
    t = _dt.datetime.fromtimestamp(ts / 1e9, _dt.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + f"{ts % 10**9:09d}"[:6] + " UTC"


def run(count: int = 200_000, show: int = 8) -> int:
    enter_private_namespace()
    make_veth("demo0", "demo1")
    traffic = demo_traffic(count)
    print(f"ringcap demo: sending {count} frames ({traffic.nbytes / 1e6:.1f} MB) of TCP and UDP "
          f"conversations on a private veth pair, capturing on the other end")
    batches = []
    with RxRing("demo1", block_size=1 << 22, block_count=64, block_timeout_ms=10,
                filter="ip or ip6") as rx:
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
    print(f"\nfirst {min(show, len(got))} packets, as `ringcap -tttt -r FILE` prints them:")
    sys.stdout.flush()
    PacketPrinter(sys.stdout, timestamps="date").print_batch(got[:show])
    sys.stdout.flush()
    table = flows(got)
    top = np.argsort(-table.bytes.astype(np.int64), kind="stable")[:3]
    print("\nbusiest conversations:")
    names = {6: "tcp", 17: "udp"}
    for i in top.tolist():
        src, dst = table.ip_src_str()[i], table.ip_dst_str()[i]
        print(f"  {names.get(int(table.ip_proto[i]), table.ip_proto[i])} {src} port "
              f"{table.sport[i]} <-> {dst} port {table.dport[i]}: {table.packets[i]} packets, "
              f"{table.bytes[i]} bytes")
    same = len(got) == count and np.array_equal(got.caplen, traffic.caplen) and \
        np.array_equal(got.copy().data, traffic.data[:traffic.nbytes])
    print(f"\ncaptured   {len(got)} packets, {got.nbytes / 1e6:.1f} MB in {len(batches)} batches")
    print(f"rate       {len(got) / elapsed / 1e3:.0f} kpps, {got.nbytes * 8 / elapsed / 1e9:.2f} "
          f"Gbit/s over {elapsed:.2f} s; reader CPU {cpu / elapsed:.0%}")
    print(f"lost       ring drops {stats.drops}, interface drops {stats.if_drops}, "
          f"backlog drops {stats.backlog_drops}, not seen {count - len(got)}")
    print(f"check      every byte as sent, in order: {bool(same)}")
    if len(got):
        print(f"time       first packet {_when(int(got.ts[0]))}, last {_when(int(got.ts[-1]))}")
    return 0
