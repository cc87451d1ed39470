"""`ringcap -w` against `tcpdump -w`, side by side, CPU while capturing and whole process.

    sudo python benchmarks/bench_capture_w.py benchmarks/_traffic/imix-500000-s0-v2.pcap \
        --packets 500000 --repeat 7 --also /path/to/other/checkout [--perf]

In a private network namespace (veth bench0/bench1), each round starts
`tcpdump -i bench1 -B 65536 -w F -Z root`, then `ringcap -i bench1 -B 65536
-w F` of this tree (and of ``--also`` trees, built in place), F on /dev/shm;
waits for "listening on" and 0.3 s, sends the first ``--packets`` packets of
the file with a TxRing, and waits until the capturer's CPU stops growing.
"capture" is the CPU from then on (``/proc/PID/schedstat``, in ns, not
10 ms ticks) until the traffic is written; "whole" is the process from exec
to exit (rusage after SIGINT).  Medians of ``--repeat`` rounds, the tools
alternating.  ``--perf`` records ``perf record -g`` of each capturer while the
traffic flows, into /tmp/bench_capture_w-TOOL.data.  Every tree is compiled
to bytecode first, as an installed package is.  Packets sent but not in
the file are shown beside the capturer's own count of kernel drops (the
most of any round).
"""
from __future__ import annotations

import argparse
import os
import re
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

import bench_cli  # noqa: E402
from netns import GlobalBacklog, enter_private_netns, make_veth  # noqa: E402

from ringcap import Batch, TxRing, open_pcap  # noqa: E402


def cpu_ns(pid: int) -> int:
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0])


def one(tool: str, root: str, traffic: Batch, perf: str | None) -> dict:
    out = f"/dev/shm/bench_capture_w-{os.getpid()}.pcap"
    if tool == "tcpdump":
        argv = ["tcpdump", "-i", "bench1", "-B", "65536", "-w", out, "-Z", "root"]
    else:
        argv = [sys.executable, "-m", "ringcap", "-i", "bench1", "-B", "65536", "-w", out]
    t0 = time.perf_counter()
    proc = bench_cli.start(argv, root)
    listening = time.perf_counter() - t0
    listening_cpu = cpu_ns(proc.pid) / 1e9
    time.sleep(0.3)
    recorder = None
    if perf:
        recorder = subprocess.Popen(["perf", "record", "-F", "4000", "-g", "-o", perf, "-p",
                                     str(proc.pid)], stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)
        time.sleep(0.5)
    start = cpu_ns(proc.pid)
    with TxRing("bench0", frame_count=4096) as tx:
        for i in range(0, len(traffic), 16384):
            tx.send(traffic[i:i + 16384])
        sent = tx.sent - tx.dropped
    last, deadline = -1, time.monotonic() + 10
    while time.monotonic() < deadline:          # until the capturer is idle
        now = cpu_ns(proc.pid)
        if now - last < 2_000_000:
            break
        last = now
        time.sleep(0.2)
    capture = (cpu_ns(proc.pid) - start) / 1e9
    if recorder is not None:
        recorder.send_signal(signal.SIGINT)
        recorder.wait()
    whole, _, err = bench_cli.stop(proc)
    got = bench_cli.count_packets(out)
    os.unlink(out)
    dropped = re.search(r"^(\d+) packets? dropped by kernel", err, re.M)
    return {"capture": capture, "whole": whole, "listening_ms": listening * 1000,
            "listening_cpu_ms": listening_cpu * 1000, "lost": sent - got,
            "dropped": int(dropped.group(1)) if dropped else -1}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("traffic", help="a pcap file whose packets are sent")
    ap.add_argument("--packets", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--also", action="append", default=[], metavar="TREE",
                    help="another ringcap checkout to run beside this one")
    ap.add_argument("--perf", action="store_true")
    ap.add_argument("--backlog-as-is", action="store_true",
                    help="leave net.core.netdev_max_backlog as it is (else raised to 400,000 "
                         "for the run: a burst of 16,384 frames must fit)")
    args = ap.parse_args()
    tools = [("tcpdump", "tcpdump", ROOT), ("ringcap", "ringcap", ROOT)]
    tools += [(f"ringcap@{tree}", "ringcap", os.path.abspath(tree)) for tree in args.also]
    for _, _, root in tools[1:]:
        subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(root, "ringcap")],
                       check=True, stdout=subprocess.DEVNULL)
    with open_pcap(args.traffic) as reader:
        traffic = Batch.concat([b.copy() for b in reader])[:args.packets].copy()
    backlog = None if args.backlog_as_is else GlobalBacklog()
    if backlog is not None:
        backlog.set(max(backlog.original, 400_000))
    enter_private_netns()
    make_veth("bench0", "bench1")
    runs = {name: [] for name, _, _ in tools}
    try:
        for _ in range(args.repeat):
            for name, tool, root in tools:
                perf = f"/tmp/bench_capture_w-{name.replace('/', '_')}.data" if args.perf else None
                runs[name].append(one(tool, root, traffic, perf))
    finally:
        if backlog is not None:
            backlog.restore()
    print(f"{len(traffic)} packets of {os.path.basename(args.traffic)}, medians of {args.repeat}")
    med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
           for name, rs in runs.items()}
    for name, m in med.items():
        ratio = "" if name == "tcpdump" else (
            f"  ratio capture {m['capture'] / med['tcpdump']['capture']:.2f}x, "
            f"whole {m['whole'] / med['tcpdump']['whole']:.2f}x")
        print(f"{name:30} capture {m['capture']:.3f} s  whole {m['whole']:.3f} s  "
              f"listening {m['listening_ms']:.0f} ms ({m['listening_cpu_ms']:.0f} ms CPU)  "
              f"not in the file {max(r['lost'] for r in runs[name])} "
              f"(dropped by the kernel {max(r['dropped'] for r in runs[name])}){ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
