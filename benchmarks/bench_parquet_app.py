"""The Parquet sink with application columns, this tree against another, same run.

Each measurement is a fresh process (``--worker``) that reads a cached mix
(``benchmarks/_traffic``: IMIX and the recorded programs, 200,000 packets)
into memory first, then times ``ParquetSink.write`` of every batch and
``close`` (CPU of the process from ``getrusage``, user + system: all its
threads), in ns per packet, for the default columns and for the default
columns plus application columns (DNS, TLS, HTTP names and numbers): for
``write()`` alone (decoding and copying into the row group: the 200,000
packets fit one) and for the whole (with ``close()``, which encodes it).  The
trees alternate, ``--repeat`` times each; the table has the medians.

    python benchmarks/bench_parquet_app.py --before /work/main --repeat 5
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP = ("dns_qname", "dns_qtype", "tls_sni", "tls_version", "http_host", "app_proto")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def worker(tree: str, path: str, app: bool) -> None:
    sys.path.insert(0, tree)
    import ringcap
    from ringcap.sinks.parquet import DEFAULT_PACKET_COLUMNS
    with ringcap.open_pcap(path) as reader:
        batches = [batch.copy() for batch in reader]
    packets = sum(len(b) for b in batches)
    columns = DEFAULT_PACKET_COLUMNS + APP if app else None
    with tempfile.TemporaryDirectory() as folder:
        start = _cpu()
        sink = ringcap.ParquetSink(folder, columns=columns)
        for batch in batches:
            sink.write(batch)
        written = _cpu()
        sink.close()
        cpu = _cpu() - start
    # 200,000 packets fit one row group (262,144 rows): write() decodes and copies
    # them into it, close() encodes and writes it
    print(json.dumps({"ns_per_packet": cpu * 1e9 / packets,
                      "write_ns_per_packet": (written - start) * 1e9 / packets}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", required=True, help="the other tree (built in place)")
    parser.add_argument("--mix", nargs="+", default=["imix", "recorded"])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--worker", nargs=3, metavar=("TREE", "FILE", "APP"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        tree, path, app = args.worker
        worker(tree, path, app == "1")
        return
    trees = {"before": os.path.abspath(args.before), "after": str(HERE.parent)}
    print("| mix | columns | write(): before | after | after/before | whole: before | after "
          "| after/before |")
    print("|---|---|---|---|---|---|---|---|")
    for mix in args.mix:
        path = sorted(glob.glob(str(HERE / "_traffic" / f"{mix}-200000-*.pcap")))[0]
        for app in ("0", "1"):
            runs: dict[str, list[dict]] = {"before": [], "after": []}
            for _ in range(args.repeat):
                for name, tree in trees.items():
                    out = subprocess.run([sys.executable, __file__, "--before", tree, "--worker",
                                          tree, path, app], capture_output=True, text=True,
                                         check=True, env={**os.environ, "PYTHONPATH": tree})
                    runs[name].append(json.loads(out.stdout))
            cells = []
            for key in ("write_ns_per_packet", "ns_per_packet"):
                before, after = (statistics.median(r[key] for r in runs[k])
                                 for k in ("before", "after"))
                cells.append(f"{before:.0f} | {after:.0f} | {after / before:.2f}x")
            columns = "default + " + ", ".join(APP) if app == "1" else "default"
            print(f"| {mix} ({os.path.basename(path)}) | {columns} | {' | '.join(cells)} |",
                  flush=True)


if __name__ == "__main__":
    main()
