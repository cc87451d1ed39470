"""`ringcap capture -w` against `tcpdump -w`, side by side in one run.

Both capture the same traffic into a file on the same veth pair, with the
same ring size (`-B`), the same filter and snaplen, while one sender in this
process sends numbered frames as fast as a TxRing goes.  After the sender
is done, each capturer gets SIGINT.  Per capturer and run:

  * packets lost: sent minus packets in its file,
  * CPU per packet: user + system time of the capturer process (from
    /proc/PID/stat) from just after it printed "listening on" to just before
    the SIGINT (all packets read by then), divided by the packets it wrote;
    the total from start to exit (wait4) is shown too: it adds start-up (the
    interpreter and imports, 0.3-0.8 s for ringcap) and finishing,
  * peak resident memory (VmHWM, polled), against the target ring size + 64 MiB.

Everything runs in a private network namespace made by this process.

    sudo python benchmarks/bench_cli.py --repeat 3

``--traffic FILE`` sends the first ``--packets`` packets of a capture file
instead (e.g. the realistic mixes of ``benchmarks/traffic.py`` in
``benchmarks/_traffic/``), unfiltered, as ``run.py --claims`` does;
``--also TREE`` adds a row for the ringcap of another checkout (built in
place), e.g. the main branch before a change, run in the same rounds:

    sudo python benchmarks/bench_cli.py --traffic benchmarks/_traffic/imix-500000-s0-v2.pcap \
        --packets 500000 --ring-mib 64 --also /path/to/other/checkout
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
sys.path.insert(0, ROOT)

from netns import GlobalBacklog, enter_private_netns, make_veth  # noqa: E402

import ringcap  # noqa: E402
from ringcap import Batch, TxRing, open_pcap  # noqa: E402

ETHERTYPE = 0x88B5
FILTER = ["ether", "proto", hex(ETHERTYPE)]


def frames(count: int, size: int) -> Batch:
    import numpy as np
    header = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + ETHERTYPE.to_bytes(2, "big")
    data = np.zeros((count, size), dtype=np.uint8)
    data[:, :14] = np.frombuffer(header, dtype=np.uint8)
    data[:, 14:18] = np.arange(count, dtype=">u4").view(np.uint8).reshape(count, 4)
    return Batch(ts=np.zeros(count, dtype=np.int64), caplen=np.full(count, size),
                 data=data.reshape(-1))


def start(argv: list[str], root: str = ROOT) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, cwd="/",
                            env={**os.environ, "PYTHONPATH": root})   # (cwd: not on sys.path)
    line = proc.stderr.readline()                # "... listening on ..." once it is ready
    if "listening on" not in line:
        proc.kill()
        raise RuntimeError(f"{argv[0]} did not start: {line}{proc.stderr.read()}")
    return proc


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class PeakRss(threading.Thread):
    """Polls VmHWM of a process until it exits (ru_maxrss would also count the
    memory of this benchmark process, which the child had before exec)."""

    def __init__(self, pid: int) -> None:
        super().__init__(daemon=True)
        self.pid, self.kib = pid, 0
        self.start()

    def run(self) -> None:
        while True:
            try:
                with open(f"/proc/{self.pid}/status") as f:
                    text = f.read()
            except OSError:
                return
            for line in text.splitlines():
                if line.startswith("VmHWM:"):
                    self.kib = max(self.kib, int(line.split()[1]))
            if "State:\tZ" in text:
                return
            time.sleep(0.02)


def stop(proc: subprocess.Popen) -> tuple[float, int, str]:
    """SIGINT, then (cpu seconds, peak RSS KiB, stderr) of the process."""
    if proc.poll() is not None:          # (poll reaps it: no rusage left to read)
        raise RuntimeError(f"capturer exited {proc.returncode} before SIGINT: "
                           f"{proc.stderr.read()}")
    os.kill(proc.pid, signal.SIGINT)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read()
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"capturer exited {proc.returncode}: {err}")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss, err


def count_packets(path: str) -> int:
    with open_pcap(path) as reader:
        return sum(len(b) for b in reader)


def one_run(tool: str, tmp: str, traffic: Batch, ring_kib: int, filter_words=FILTER,
            root: str = ROOT) -> dict:
    path = os.path.join(tmp, "out.pcap")
    if tool == "tcpdump":
        argv = ["tcpdump", "-i", "bench1", "-B", str(ring_kib), "-w", path, "-Z", "root",
                *filter_words]
    else:
        argv = [sys.executable, "-m", "ringcap", "-i", "bench1", "-B", str(ring_kib),
                "-w", path, *filter_words]
    t0 = time.perf_counter()
    proc = start(argv, root)
    listening_ms = (time.perf_counter() - t0) * 1000
    listening_cpu_ms = cpu_seconds(proc.pid) * 1000
    peak = PeakRss(proc.pid)
    time.sleep(0.3)
    cpu_at_start = cpu_seconds(proc.pid)          # start-up (imports, ring set-up) excluded
    t0 = time.perf_counter()
    with TxRing("bench0", frame_count=4096) as tx:
        for i in range(0, len(traffic), 16384):
            tx.send(traffic[i:i + 16384])
        sent = tx.sent - tx.dropped
    send_s = time.perf_counter() - t0
    time.sleep(1.0)                               # let the capturer catch up
    cpu_at_stop = cpu_seconds(proc.pid)           # every packet is read by now
    cpu, _, _ = stop(proc)
    peak.join(5)
    got = count_packets(path)
    os.unlink(path)
    return {"sent": sent, "got": got, "lost": sent - got,
            "cpu_ns_per_packet": (cpu_at_stop - cpu_at_start) / max(got, 1) * 1e9,
            "total_cpu_s": cpu, "rss_mib": peak.kib / 1024, "send_s": send_s,
            "listening_ms": listening_ms, "listening_cpu_ms": listening_cpu_ms}


def file_traffic(path: str, count: int) -> Batch:
    with open_pcap(path) as reader:
        batch = Batch.concat([b.copy() for b in reader])
    return batch[:count].copy()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ring-mib", type=int, default=64)
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--sizes", default="64,1400")
    parser.add_argument("--traffic", metavar="FILE", action="append",
                        help="send the first --packets packets of FILE (unfiltered) instead of "
                             "numbered frames of --sizes; may be given more than once")
    parser.add_argument("--also", metavar="TREE",
                        help="also run the ringcap of the checkout TREE (built in place)")
    args = parser.parse_args()
    if shutil.which("tcpdump") is None:
        raise SystemExit("tcpdump is needed (apt-get install tcpdump)")
    backlog = GlobalBacklog()
    backlog.set(300000)
    enter_private_netns()
    make_veth("bench0", "bench1")
    ring_kib = args.ring_mib * 1024
    print(f"ringcap {ringcap.__version__}; {subprocess.run(['tcpdump', '--version'], capture_output=True, text=True).stdout.splitlines()[0]}")
    print(f"ring {args.ring_mib} MiB for both (-B {ring_kib}); memory target: "
          f"{args.ring_mib + 64} MiB; median of {args.repeat} runs, alternating\n")
    header = (f"{'frame':>8} {'tool':14} {'sent':>9} {'lost':>8} {'CPU ns/pkt':>11} "
              f"{'total CPU s':>12} {'to listening ms':>16} {'(CPU ms)':>9} "
              f"{'peak RSS MiB':>13} {'send Mpps':>10}")
    print(header)
    tools = {"tcpdump": ROOT, "ringcap": ROOT}
    if args.also:
        tools["ringcap@also"] = os.path.abspath(args.also)
        print(f"ringcap@also: {tools['ringcap@also']}")
    for root in set(tools.values()):
        subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(root, "ringcap")],
                       check=True, stdout=subprocess.DEVNULL)
    if args.traffic:
        cases = [(os.path.basename(p).split("-")[0], file_traffic(p, args.packets), [])
                 for p in args.traffic]
    else:
        cases = [(str(size), frames(args.packets if size < 512 else max(args.packets // 4, 1),
                                    size), FILTER)
                 for size in (int(s) for s in args.sizes.split(","))]
    with tempfile.TemporaryDirectory(prefix="bench_cli_", dir="/dev/shm"
                                     if os.path.isdir("/dev/shm") else None) as tmp:
        for label, traffic, filter_words in cases:
            results = {tool: [] for tool in tools}
            for _ in range(args.repeat):
                for tool, root in tools.items():
                    results[tool].append(one_run(tool.split("@")[0], tmp, traffic, ring_kib,
                                                 filter_words, root))
            meds = {}
            for tool, runs in results.items():
                med = meds[tool] = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
                print(f"{label:>8} {tool:14} {int(med['sent']):>9} {int(med['lost']):>8} "
                      f"{med['cpu_ns_per_packet']:>11.0f} {med['total_cpu_s']:>12.3f} "
                      f"{med['listening_ms']:>16.0f} {med['listening_cpu_ms']:>9.0f} "
                      f"{med['rss_mib']:>13.1f} {med['sent'] / med['send_s'] / 1e6:>10.2f}")
            t = meds["tcpdump"]
            for tool in tools:
                if tool != "tcpdump":
                    r = meds[tool]
                    print(f"{label:>8} ratio {tool}/tcpdump: CPU per packet "
                          f"{r['cpu_ns_per_packet'] / t['cpu_ns_per_packet']:.2f}, "
                          f"whole process {r['total_cpu_s'] / t['total_cpu_s']:.2f}")
            print()
    backlog.restore()
    return 0


if __name__ == "__main__":
    sys.exit(main())
