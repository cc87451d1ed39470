"""Where the `drain` claim's time goes: the claim's setting (a pre-filled ring of 1,000,000
64-byte frames, 65536-packet reads into one reused batch, reader pinned beside the C loop's CPU,
the same settling wait), with each step of ``RxRing.read(out=)`` timed on its own.

The steps are RxRing.read's own, called one by one (``_operation`` entered and left, the view
check, ``core.wait``, ``core.drain``, the drop window, ``Batch._set_length``), with the thread's
CPU time between them; then the same read on the emptied ring, back to back (warm).  Each
round also drains one ring with the C reference loop, for scale.  Hardware counters are not
needed (this machine's KVM guest has none: ``perf stat -e cycles`` says ``<not supported>``).

    sudo python benchmarks/drain_pieces.py [ROUNDS]

prints one JSON line per round: µs per read for each step, ns per packet for the drain calls
and for the C loop, and the page faults and context switches of the timed reads.
"""
from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
if any((REPO / "ringcap").glob("_ring*.so")):
    sys.path.insert(0, str(REPO))   # an in-place build of this checkout; else the installed ringcap

import bench_ring  # noqa: E402
import netns  # noqa: E402
import peers  # noqa: E402

COUNT, FRAME_LEN = 1_000_000, 64
STEPS = ("enter", "check", "wait", "drain", "window", "set_length", "exit")


def ringcap_round(lab: bench_ring.Lab, count: int) -> dict:
    reader = peers.RingcapOut()
    geometry = bench_ring.prefill_geometry(count, FRAME_LEN, lab.sender_pps)
    reader.open(bench_ring.RX_IFACE, count, FRAME_LEN, geometry)
    ring, out = reader.ring, reader.out
    spent = dict.fromkeys(STEPS, 0)
    clock = time.thread_time_ns
    reads = got = 0
    try:
        base = netns.if_counters(bench_ring.RX_IFACE)["rx_packets"]
        lab.send(count, FRAME_LEN)
        lab.settle(base, count, geometry["block_timeout_ms"])
        usage0 = resource.getrusage(resource.RUSAGE_THREAD)
        while got < count:
            t0 = clock()
            operation = ring._operation()
            core = operation.__enter__()
            t1 = clock()
            ring._check_no_view()
            t2 = clock()
            ready = core.wait(0.0)
            t3 = clock()
            n, used = core.drain(out._store, peers.BATCH, 0, 0) if ready else (0, 0)
            t4 = clock()
            out.drops, out.freeze_count = ring._window(core)
            t5 = clock()
            out._set_length(n, used)
            t6 = clock()
            operation.__exit__(None, None, None)
            t7 = clock()
            for step, (a, b) in zip(STEPS, ((t0, t1), (t1, t2), (t2, t3), (t3, t4), (t4, t5),
                                            (t5, t6), (t6, t7))):
                spent[step] += b - a
            reads += 1
            got += n
            if not n:
                break
        usage1 = resource.getrusage(resource.RUSAGE_THREAD)
        for _ in range(4):
            ring.read(peers.BATCH, timeout=0, out=out)
        w0 = clock()
        for _ in range(16):
            ring.read(peers.BATCH, timeout=0, out=out)
        warm_us = (clock() - w0) / 16 / 1e3
    finally:
        reader.close()
    row = {f"{step}_us": round(spent[step] / reads / 1e3, 1) for step in STEPS}
    row.update(reads=reads, packets=got,
               drain_ns_per_packet=round(spent["drain"] / max(got, 1), 2),
               read_ns_per_packet=round(sum(spent.values()) / max(got, 1), 2),
               warm_empty_read_us=round(warm_us, 1),
               minor_faults=usage1.ru_minflt - usage0.ru_minflt,
               context_switches=(usage1.ru_nvcsw - usage0.ru_nvcsw)
               + (usage1.ru_nivcsw - usage0.ru_nivcsw))
    return row


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    backlog = netns.GlobalBacklog()
    mask = os.sched_getaffinity(0)
    try:
        backlog.set(max(backlog.original, 400_000))
        netns.enter_private_netns()
        cpus = sorted(mask)
        lab = bench_ring.Lab(bench_ring.compile_reference(), cpus[0] if len(cpus) > 1 else None,
                             cpus[1] if len(cpus) > 1 else None)
        if lab.reader_cpu is not None:
            os.sched_setaffinity(0, {lab.reader_cpu})
        lab.calibrate(FRAME_LEN, COUNT // 2)
        ringcap_round(lab, COUNT // 4)                  # warm-up, not printed
        bench_ring.prefilled_c(lab, COUNT // 4, FRAME_LEN, "full")
        for i in range(rounds):
            c = bench_ring.prefilled_c(lab, COUNT, FRAME_LEN, "full")
            row = ringcap_round(lab, COUNT)
            row["c_ns_per_packet"] = round(c.ns_per_packet, 2)
            print(json.dumps(row), flush=True)
    finally:
        os.sched_setaffinity(0, mask)
        backlog.restore()


if __name__ == "__main__":
    main()
