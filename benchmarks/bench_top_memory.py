"""Memory of a live `ringcap top` report under a scan of ever-new flows.

A scan of ``--flows`` new 5-tuples between new address pairs (TCP SYNs from
``ringcap.testing.ipv4_batch``, batches of 20,000) is folded into the report
``ringcap top -i`` keeps (``TrafficReport(track_flows=True)``), in a fresh
process per bound: its peak and final resident memory, the keys it holds and
the CPU time.  No packet is sent anywhere.

    python benchmarks/bench_top_memory.py --flows 1000000 --bounds 0 100000
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

CHILD = r"""
import json, resource, sys, time
import numpy as np
from ringcap.report import TrafficReport
from ringcap.testing import ipv4_batch
bound, total, step = int(sys.argv[1]) or None, int(sys.argv[2]), 20000
before = int(open("/proc/self/statm").read().split()[1]) * 4096
report = TrafficReport(track_flows=True, max_entries=bound)
cpu = 0.0
for k in range(0, total, step):
    i = np.arange(k, min(k + step, total))
    batch = ipv4_batch(10**18 + i * 1000, ip_src=0x0A000000 + i, ip_dst=0xC0000201,
                       sport=40000 + i % 20000, dport=80, ip_proto=6)
    t = time.process_time()
    report.update(batch)
    cpu += time.process_time() - t
now = int(open("/proc/self/statm").read().split()[1]) * 4096
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024     # (before any table is read)
print(json.dumps({"bound": bound, "flows_kept": len(report._flows),
                  "conversations_kept": len(report._conversations),
                  "rss_before_mb": before / 2**20, "rss_end_mb": now / 2**20,
                  "rss_peak_mb": peak / 2**20, "cpu_s": cpu}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flows", type=int, default=1_000_000)
    parser.add_argument("--bounds", type=int, nargs="+", default=[0, 100_000],
                        help="max_entries values (0: no bound)")
    args = parser.parse_args()
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    print(f"{'bound':>8} {'new flows':>10} {'kept':>8} {'RSS start':>10} {'RSS end':>8} "
          f"{'RSS peak':>9} {'CPU s':>6}")
    for bound in args.bounds:
        out = subprocess.run([sys.executable, "-c", CHILD, str(bound), str(args.flows)],
                             env=env, check=True, capture_output=True, text=True).stdout
        r = json.loads(out)
        print(f"{bound or 'none':>8} {args.flows:>10} {r['flows_kept']:>8} "
              f"{r['rss_before_mb']:>8.0f}MB {r['rss_end_mb']:>6.0f}MB {r['rss_peak_mb']:>7.0f}MB "
              f"{r['cpu_s']:>6.1f}")


if __name__ == "__main__":
    main()
