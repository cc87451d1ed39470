"""Low-rate latency and high-rate loss against the ring geometry: the data
behind RxRing's defaults.

1. Latency: a sender puts a few hundred frames per second on a veth pair,
   each carrying the CLOCK_REALTIME ns at which it was sent; the reader
   blocks in ``read()`` and notes when each frame reaches Python. Reported:
   p50/p99/max of (delivered - sent) for several ``block_timeout_ms``.
2. Burst capacity: a sender pushes frames as fast as one core can while the
   reader reads continuously; reported: captured and dropped for several
   (block_size, block_count, block_timeout_ms).

Everything runs in a private network namespace this process makes.

    python benchmarks/bench_latency.py [--quick] [--out docs/defaults.md]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import netns  # noqa: E402

import ringcap  # noqa: E402
from ringcap import Batch, RxRing, TxRing  # noqa: E402

ETHERTYPE = 0x88B5
HEADER = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + ETHERTYPE.to_bytes(2, "big")


def latency_run(timeout_ms: int, rate: int, seconds: float) -> dict:
    frames_sent = []
    delays = []
    stop = threading.Event()

    def send():
        period = 1.0 / rate
        with TxRing("lat0", frame_count=64) as tx:
            next_t = time.monotonic()
            while not stop.is_set():
                now_ns = time.time_ns()
                tx.send([HEADER + now_ns.to_bytes(8, "big") + bytes(38)])
                frames_sent.append(now_ns)
                next_t += period
                delay = next_t - time.monotonic()
                if delay > 0:
                    time.sleep(delay)

    with RxRing("lat1", block_size=1 << 20, block_count=16, block_timeout_ms=timeout_ms,
                filter=f"ether proto {ETHERTYPE:#x}") as rx:
        sender = threading.Thread(target=send)
        sender.start()
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            batch = rx.read(timeout=0.2)
            arrived = time.time_ns()
            for pkt in batch:
                delays.append(arrived - int.from_bytes(pkt[14:22], "big"))
        stop.set()
        sender.join()
        stats = rx.stats
    d = np.array(delays, dtype=np.float64) / 1e6
    return {"timeout_ms": timeout_ms, "rate": rate, "packets": len(d),
            "p50": float(np.percentile(d, 50)), "p99": float(np.percentile(d, 99)),
            "max": float(d.max()), "drops": stats.drops}


def burst_run(block_size: int, block_count: int, timeout_ms: int, count: int,
              pause: float = 0.0) -> dict:
    sizes = 60
    data = np.zeros(count * sizes, dtype=np.uint8).reshape(count, sizes)
    data[:, :14] = np.frombuffer(HEADER, dtype=np.uint8)
    traffic = Batch(ts=np.zeros(count, dtype=np.int64), caplen=np.full(count, sizes, np.uint32),
                    data=data.reshape(-1))
    counters = netns.DropCounters("lat0", "lat1")
    with RxRing("lat1", block_size=block_size, block_count=block_count,
                block_timeout_ms=timeout_ms) as rx:
        done = threading.Event()

        send_time = []

        def send():
            with TxRing("lat0", frame_count=4096) as tx:
                t = time.perf_counter()
                tx.send(traffic)
                send_time.append(time.perf_counter() - t)
            done.set()

        counters.start()
        out = Batch.empty(65536, 65536 * 64)
        sender = threading.Thread(target=send)
        sender.start()
        got = 0
        while True:
            batch = rx.read(65536, timeout=0.3, out=out)
            got += len(batch)
            if not len(batch) and done.is_set():
                break
            if pause and len(batch):
                time.sleep(pause)         # a reader busy with analysis between reads
        sender.join()
        elapsed = send_time[0]
        stats = rx.stats
    other = counters.read()
    return {"block_size": block_size, "block_count": block_count, "timeout_ms": timeout_ms,
            "pause": pause, "sent": count, "captured": got, "drops": stats.drops,
            "backlog_drops": other["backlog_drops"], "if_drops": other["if_drops"],
            "kpps": count / elapsed / 1e3}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=None, help="write a markdown report here")
    args = parser.parse_args(argv)
    backlog = netns.GlobalBacklog()
    backlog.set(max(backlog.original, 300000))
    netns.enter_private_netns()
    netns.make_veth("lat0", "lat1", mtu=1500)
    seconds = 2.0 if args.quick else 6.0
    lat_rows = [latency_run(t, 300, seconds) for t in (1, 2, 5, 10, 50)]
    count = 300_000 if args.quick else 1_000_000
    geometries = [(1 << 20, 16, 10), (1 << 22, 16, 10), (1 << 22, 64, 10), (1 << 22, 64, 100),
                  (1 << 20, 64, 2)]
    burst_rows = [burst_run(bs, bc, t, count, pause) for pause in (0.0, 0.25)
                  for bs, bc, t in geometries]
    lines = [
        "## Low-rate latency (300 frames/s, 60 bytes)",
        "",
        "Delay from the sender's clock reading to the frame reaching Python in `read()`.",
        "",
        "| block_timeout_ms | frames | p50 ms | p99 ms | max ms | drops |",
        "| ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in lat_rows:
        lines.append(f"| {r['timeout_ms']} | {r['packets']} | {r['p50']:.2f} | {r['p99']:.2f} | "
                     f"{r['max']:.2f} | {r['drops']} |")
    lines += [
        "",
        f"## Bursts at one sender core's full rate ({count} frames of 60 bytes)",
        "",
        "The reader reads continuously (pause 0) or sleeps 250 ms after each batch, as a "
        "reader busy with analysis would.",
        "",
        "| reader pause s | block_size | block_count | block_timeout_ms | sent kpps | captured | "
        "ring drops | backlog drops |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in burst_rows:
        lines.append(f"| {r['pause']} | {r['block_size'] >> 10} KiB | {r['block_count']} | {r['timeout_ms']} | "
                     f"{r['kpps']:.0f} | {r['captured']} | {r['drops']} | {r['backlog_drops']} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    backlog.restore()
    return 0


if __name__ == "__main__":
    sys.exit(main())
