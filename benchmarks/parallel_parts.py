"""Where a live capture's CPU goes, process by process: bench_parallel's runs, split up.

Run as root (it makes its own network namespace and veth pair)::

    BENCH_TRAFFIC=benchmarks/_traffic/recorded-400000-v2-r1.pcap \\
        python benchmarks/parallel_parts.py --kinds ring pool-2 --rounds 6 --packets 2000000

For each round and each kind in turn (alternating, so that the machine's load
hits all alike), one ``bench_parallel`` run at the sender's top rate, and per
process of the capture (a ring's one; a pool's parent, then its workers): the
CPU spent while the sender sent (CLOCK_PROCESS_CPUTIME_ID, read before the
first and after the last packet), the context switches over that time, summed
over its threads (``voluntary``: it slept; ``preempted``: another task took its
CPU), and the packets it delivered.  Then the CPU per packet of the whole
capture as ``bench_parallel`` counts it (ring open to close) and, per pair,
the kinds' ratio to the first.  With ``--perf DIR``, ``perf record -g`` of the
capture's processes while the sender sends, one file per run.

Unlike bench_parallel.py it leaves ``net.core.netdev_max_backlog`` alone; a run
that lost packets on the way (fewer delivered than sent) says so.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_parallel as bp  # noqa: E402
import netns  # noqa: E402


def switches(pid: int) -> tuple[int, int]:
    """(voluntary, preempted) context switches of all of a process's threads."""
    voluntary = preempted = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/status") as status:
            for line in status:
                if line.startswith("voluntary_ctxt_switches"):
                    voluntary += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches"):
                    preempted += int(line.split()[1])
    return voluntary, preempted


def one(kind: str, count: int, perf_file: Path | None) -> dict:
    me = [sys.executable, bp.__file__]
    sending = bp.start_sender(me, count)
    capture = subprocess.Popen(me + ["--runner", kind, "--block-timeout-ms", "10"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    perf = None
    try:
        line = capture.stdout.readline()
        if not line.startswith('{"ready"'):
            raise RuntimeError(f"{kind} runner did not start: {line!r}")
        pids = json.loads(line)["ready"]
        if perf_file is not None:
            perf = subprocess.Popen(["perf", "record", "-q", "-F", "1999", "-g", "-o",
                                     str(perf_file), "-p", ",".join(map(str, pids))],
                                    stderr=subprocess.DEVNULL)
            time.sleep(0.5)
        cs0 = [switches(p) for p in pids]
        cpu0 = [bp.process_cpu(p) for p in pids]
        send = bp.finish_sender(sending)
        cpu = [bp.process_cpu(p) - c for p, c in zip(pids, cpu0)]
        cs = [tuple(b - a for a, b in zip(before, switches(p))) for p, before in zip(pids, cs0)]
        if perf is not None:
            perf.send_signal(2)
            perf.wait()
        result = bp.stop_runner(capture)
    finally:
        for proc in (capture, sending, perf):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait()
    per = result["per_worker"]
    packets = [sum(per)] + per if len(cpu) > 1 else per
    return {"kind": kind, "rate": count / send["elapsed"], "sent": send["sent"],
            "delivered": result["delivered"], "ns_per_packet": result["cpu"] / count * 1e9,
            "send_cpu_ms": [c * 1e3 for c in cpu], "packets": packets,
            "switches": cs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--kinds", nargs="+", default=["ring", "pool-2"],
                        help="bench_parallel captures (the first is the reference)")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--perf", type=Path, help="folder for perf record files")
    args = parser.parse_args()
    netns.enter_private_netns()
    netns.make_veth(bp.TX_IFACE, bp.RX_IFACE)
    if args.perf:
        args.perf.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict]] = {kind: [] for kind in args.kinds}
    for round_ in range(args.rounds):
        for kind in args.kinds:
            perf_file = args.perf / f"{kind}-{round_}.data" if args.perf else None
            r = one(kind, args.packets, perf_file)
            runs[kind].append(r)
            parts = ", ".join(f"{ms:.1f} ms {n:,} pk {v}/{p} sw" for ms, n, (v, p)
                              in zip(r["send_cpu_ms"], r["packets"], r["switches"]))
            lost = "" if r["delivered"] == r["sent"] else \
                f" LOST {r['sent'] - r['delivered']:,} on the way"
            print(f"{kind:10s} {r['rate'] / 1e3:6.0f} kpps  {r['ns_per_packet']:6.1f} ns/packet  "
                  f"[{parts}]{lost}", flush=True)
    ref = args.kinds[0]
    for kind in args.kinds[1:]:
        ratios = [k["ns_per_packet"] / r["ns_per_packet"] for k, r in zip(runs[kind], runs[ref])]
        print(f"{kind} / {ref} per pair: {', '.join(f'{x:.2f}' for x in ratios)}; "
              f"median {statistics.median(ratios):.2f}")


if __name__ == "__main__":
    main()
