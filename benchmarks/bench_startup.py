"""The command line's own cost: start-up, CPU and memory of a small capture, beside tcpdump.

Run as root in a private network namespace (nothing leaves it):

    unshare -n python benchmarks/bench_startup.py --repeat 7

brings ``lo`` up, then for each command runs it ``--repeat`` times, each
capturing 30 packets of ``ping -i 0.01 127.0.0.1`` on ``lo`` into a file:

* ``to listening``: wall time from exec to the "listening on" line on stderr
  (tcpdump prints the same line), and the CPU the process used until then
  (its main thread's, from /proc/PID/schedstat, in ns);
* ``CPU``: user + system of the whole process, start to exit (rusage);
* ``max RSS``: its peak resident memory (rusage); ringcap's default ring is
  256 MiB (tcpdump's 2 MiB), and the pages of the ring count once mapped;
  tcpdump with the same ring (``-B 262144``) shows what the kernel's ring
  set-up costs either program.

Medians are shown.  ringcap runs as an installed package does, from
bytecode (``python -m compileall`` first), and once more with
``PYTHONDONTWRITEBYTECODE=1`` and no bytecode at hand, which makes Python
compile every module it imports from source on every start.

``--files`` measures instead the commands that make batches on a file of
one packet, start to exit (CPU from rusage; no namespace needed):
``ringcap -nn -r F``, ``ringcap -nn -r F udp``, ``ringcap stats --json F``,
beside ``tcpdump -nn -r F``, ``capinfos -M F`` and the interpreter alone;
with ``--also TREE`` each command of every tree runs in turn, round by round.
"""
from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def proc_cpu(pid: int) -> float:
    """CPU seconds of the process's main thread so far (/proc/PID/schedstat, in ns:
    /proc/PID/stat counts 10 ms ticks)."""
    with open(f"/proc/{pid}/schedstat") as f:
        return int(f.read().split()[0]) / 1e9


def run_once(argv: list[str], env: dict) -> tuple[float, float, float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, env=env,
                            cwd="/")
    listening = cpu_listening = None
    for raw in proc.stderr:
        if b"listening on" in raw:
            listening = time.perf_counter() - start
            cpu_listening = proc_cpu(proc.pid)
            break
    pinger = subprocess.Popen(["ping", "-c", "40", "-i", "0.01", "-q", "127.0.0.1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    pinger.wait()
    if listening is None or proc.returncode != 0:
        raise RuntimeError(f"{argv} failed (status {proc.returncode})")
    return listening, cpu_listening, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def cpu_of(argv: list[str], env: dict) -> tuple[float, float]:
    """CPU seconds (user + system) and max RSS (MiB) of one run, start to exit."""
    child = subprocess.Popen(argv, env=env, cwd="/", stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(child.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{argv} failed (status {os.waitstatus_to_exitcode(status)})")
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def one_packet_file(folder: str) -> str:
    """A pcap file of one 10.0.0.1.1234 > 10.0.0.2.9 UDP packet."""
    path = os.path.join(folder, "one.pcap")
    frame = bytes.fromhex("020000000002020000000001080045000022000140004011000"
                          "00a0000010a00000204d20009000e0000") + b"ringcap!"
    with open(path, "wb") as f:      # (the classic pcap header and one record)
        f.write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
        f.write((1).to_bytes(4, "little") + (0).to_bytes(4, "little")
                + len(frame).to_bytes(4, "little") * 2 + frame)
    return path


def file_commands(args, base: dict) -> None:
    """`ringcap -r` and `stats` on a one-packet file: what start-up costs them."""
    folder = tempfile.mkdtemp(prefix="ringcap-startup-")
    try:
        path = one_packet_file(folder)
        env = {**base, "TZ": "UTC"}
        trees = [ROOT, *args.also]
        ringcap = [sys.executable, "-m", "ringcap"]
        commands = [("ringcap -nn -r F", ["-nn", "-r", path]),
                    ("ringcap -nn -r F udp", ["-nn", "-r", path, "udp"]),
                    ("ringcap stats --json F", ["stats", "--json", path])]
        runs: dict[str, list] = {}
        for _ in range(args.repeat):
            for label, extra in commands:
                for tree in trees:
                    name = label + ("" if tree == ROOT else f" of {tree}")
                    runs.setdefault(name, []).append(cpu_of(
                        ringcap + extra, {**env, "PYTHONPATH": os.path.abspath(tree)}))
        others = [("tcpdump -nn -r F", ["tcpdump", "-nn", "-r", path]),
                  ("capinfos -M F", ["capinfos", "-M", path]),
                  ("python -c pass (the interpreter alone)", [sys.executable, "-c", "pass"]),
                  ("python -c 'import numpy' (OPENBLAS_NUM_THREADS=1, as the command line)",
                   [sys.executable, "-c", "import numpy"])]
        for name, argv in others:
            if shutil.which(argv[0]) or os.path.isabs(argv[0]):
                runs[name] = [cpu_of(argv, {**env, "OPENBLAS_NUM_THREADS": "1"})
                              for _ in range(args.repeat)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(f"medians of {args.repeat} runs (quartiles); CPU in ms, memory in MiB\n")
    print("| command | CPU, whole process | quartiles | max RSS |")
    print("|---|---|---|---|")
    for name, samples in runs.items():
        cpu = sorted(s[0] * 1000 for s in samples)
        q1, q3 = statistics.quantiles(cpu, n=4)[0::2] if len(cpu) > 1 else (cpu[0], cpu[0])
        print(f"| {name} | {statistics.median(cpu):.0f} | {q1:.0f}-{q3:.0f} | "
              f"{statistics.median(s[1] for s in samples):.0f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--also", action="append", default=[], metavar="TREE",
                        help="another ringcap checkout (built in place) whose "
                             "`ringcap -i lo -c 30 -w F` runs beside this one's")
    parser.add_argument("--files", action="store_true",
                        help="measure `ringcap -r` and `ringcap stats` on a one-packet file "
                             "instead of a capture")
    args = parser.parse_args()
    if args.files:
        base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        for tree in [ROOT, *args.also]:
            subprocess.run([sys.executable, "-m", "compileall", "-q",
                            os.path.join(tree, "ringcap")], check=True, env=base,
                           stdout=subprocess.DEVNULL)
        file_commands(args, base)
        return
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    folder = tempfile.mkdtemp(prefix="ringcap-startup-")
    out = os.path.join(folder, "out.pcap")
    base = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    base["PYTHONPATH"] = ROOT
    for tree in [ROOT, *args.also]:
        subprocess.run([sys.executable, "-m", "compileall", "-q", os.path.join(tree, "ringcap")],
                       check=True, env=base, stdout=subprocess.DEVNULL)
    ringcap = [sys.executable, "-m", "ringcap", "-i", "lo", "-c", "30", "-w", out]
    also = [(f"ringcap -i lo -c 30 -w F (bytecode) of {tree}", ringcap,
             {**base, "PYTHONPATH": os.path.abspath(tree)}) for tree in args.also]
    rows = [("ringcap -i lo -c 30 -w F (bytecode)", ringcap, base), *also,
            ("ringcap -i lo -c 30 -B 2048 -w F (tcpdump's ring size)",
             ringcap + ["-B", "2048"], base),
            ("ringcap -i lo -c 30 -w F (PYTHONDONTWRITEBYTECODE=1, no bytecode)", ringcap, None),
            ("tcpdump -i lo -c 30 -w F", ["tcpdump", "-i", "lo", "-c", "30", "-w", out], base),
            ("tcpdump -i lo -c 30 -B 262144 -w F (ringcap's default ring size)",
             ["tcpdump", "-i", "lo", "-c", "30", "-B", "262144", "-w", out], base),
            ("python -c pass (the interpreter alone)", None, base),
            ("python -c 'import numpy'", None, base)]
    results = []
    try:
        # this tree and the --also trees in turn, round by round (the machine's
        # load changes over minutes); then the other rows
        compared = rows[:1 + len(also)]
        runs = {name: [] for name, _, _ in compared}
        for _ in range(args.repeat):
            for name, argv, env in compared:
                runs[name].append(run_once(argv, env))
        results += list(runs.items())
        for name, argv, env in rows[len(compared):]:
            if argv is None:
                code = "pass" if "pass" in name else "import numpy"
                samples = []
                for _ in range(args.repeat):
                    child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd="/")
                    _, _, usage = os.wait4(child.pid, 0)
                    child.returncode = 0
                    samples.append((None, None, usage.ru_utime + usage.ru_stime,
                                    usage.ru_maxrss / 1024))
            else:
                if env is None:
                    shutil.rmtree(os.path.join(ROOT, "ringcap", "__pycache__"),
                                  ignore_errors=True)
                    for sub in ("cli", "sinks", "pcapfile"):
                        shutil.rmtree(os.path.join(ROOT, "ringcap", sub, "__pycache__"),
                                      ignore_errors=True)
                    env = {**base, "PYTHONDONTWRITEBYTECODE": "1"}
                samples = [run_once(argv, env) for _ in range(args.repeat)]
            results.append((name, samples))
    finally:
        shutil.rmtree(folder, ignore_errors=True)

    def med(samples, i, scale=1000.0):
        values = [s[i] for s in samples if s[i] is not None]
        return f"{statistics.median(values) * scale:.0f}" if values else ""

    print(f"medians of {args.repeat} runs; times in ms, memory in MiB\n")
    print("| command | wall to listening | CPU to listening | CPU, whole process | max RSS |")
    print("|---|---|---|---|---|")
    for name, samples in results:
        rss = statistics.median(s[3] for s in samples)
        print(f"| {name} | {med(samples, 0)} | {med(samples, 1)} | {med(samples, 2)} | "
              f"{rss:.0f} |")


if __name__ == "__main__":
    main()
