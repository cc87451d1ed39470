"""Fanout and the worker pool against one ring, at one sender's top rate.

Run as root (it makes its own network namespace and veth pair)::

    python benchmarks/bench_parallel.py [--packets 2000000] [--repeat 3]

One sender process blasts ``--packets`` 64-byte UDP frames of 256 flows
from a TxRing into one end of the pair; on the other end one of:

``ring``      one RxRing read into a reused batch (``read(out=...)``) in one process
``ring-fanout``  the same ring alone in a fanout group (what joining a group costs)
``pool-1``    ParallelCapture with 1 worker: the worker drains into shared memory,
              the parent iterates the batches (the hand-off alone); the worker
              fills a slot for up to ``handoff_ms`` (100 ms by default) before
              handing it over
``pool-1-h0`` the same with ``handoff_ms=0``: every ring read handed over at once
              (``pool-N-hMS``: ``handoff_ms=MS``)
``pool-1-big`` the same with slots twice the default size (131072 packets,
              32 MiB) and ``handoff_ms=300``: half as many hand-offs
``pool-2``    ParallelCapture with 2 workers in a hash fanout group
``pool-N-small`` the pool with slots a quarter the default size (16384 packets,
              4 MiB): what the copy into shared memory costs when the slots
              written in turn stay within the CPU's cache
``rings-2``   two rings in one hash fanout group, read by two threads of one
              process: what pool-2 does without the hand-off (its reference)
``ring-slots`` one ring read as a pool worker fills its slots, in one process:
              appending to one of 4 buffers of 65536 packets and 16 MiB for up
              to 100 ms (or until full), then the next: the pool's copy (into
              memory that a slot's 100 ms of traffic has pushed out of the
              cache) without its hand-off or second process

For each: packets delivered and dropped (ring, interface, backlog), the
capture rate over the send, and the capture side's CPU time per delivered
packet (the reading process, or the parent plus its workers from ring open
to end, start-up excluded); each capture also runs once with no traffic
for IDLE_SECONDS, and the CPU it spends per second idle (its polling) is
taken off to give the CPU per packet itself.  The kernel's own receive work runs in the
sender's context on veth, so it is not in these CPU figures; it is the
sender's rate that bounds the aggregate here.  Medians of ``--repeat``
runs.  Writes a markdown table to stdout (and ``--json`` results).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import select
import signal
import statistics
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent))

import netns  # noqa: E402

TX_IFACE, RX_IFACE = "pbench0", "pbench1"
RING = dict(block_size=4 << 20, block_count=32)
# 384 MiB of blocks that close when full: 2,000,000 64-byte frames take 154 bytes
# each (74 blocks), and 80 blocks still dropped a packet now and then; a 10 ms
# timeout would retire them a quarter full at one sender's rate
DRAIN_RING = dict(block_size=4 << 20, block_count=96)
DRAIN_BLOCK_TIMEOUT_MS = 1000
FLOWS = 256
IDLE_SECONDS = 5.0


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def frames_batch(count: int, frame_len: int = 64):
    """``count`` UDP frames of FLOWS flows as one Batch, built with numpy."""
    import numpy as np

    from ringcap import Batch
    template = bytearray(frame_len)
    template[0:6] = b"\xff" * 6
    template[6:12] = b"\x02\x00\x00\x00\x00\x01"
    template[12:14] = b"\x08\x00"
    template[14:34] = struct.pack("!BBHHHBBH4s4s", 0x45, 0, frame_len - 14, 0, 0x4000, 64, 17,
                                  0, bytes([10, 1, 0, 0]), bytes([10, 2, 0, 1]))
    template[34:42] = struct.pack("!HHHH", 40000, 9, frame_len - 34, 0)
    rows = np.frombuffer(bytes(template) * count, dtype=np.uint8).reshape(count, frame_len).copy()
    flow = np.arange(count) % FLOWS
    rows[:, 34] = (40000 + flow) >> 8
    rows[:, 35] = (40000 + flow) & 0xFF
    rows[:, 29] = flow & 0xFF
    return Batch(ts=np.zeros(count, dtype=np.int64),
                 caplen=np.full(count, frame_len, dtype=np.uint32), data=rows.reshape(-1))


def _pin(cpu: int) -> None:
    """With --pin: the sender on the first CPU, the capture (and a pool's
    workers, which inherit it) on the second."""
    if os.environ.get("BENCH_PIN"):
        cpus = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {cpus[min(cpu, len(cpus) - 1)]})


def traffic_batch():
    """What the sender sends: the packets of the pcap named by ``BENCH_TRAFFIC``
    (a mix of benchmarks/traffic.py, for run.py --claims), else 65536 of
    :func:`frames_batch`'s 64-byte frames."""
    path = os.environ.get("BENCH_TRAFFIC")
    if not path:
        return frames_batch(65536)
    from ringcap import Batch, open_pcap
    with open_pcap(path) as reader:
        return Batch.concat([b.copy() for b in reader])


def sender(count: int) -> None:
    """Load the traffic, say so (``{"loaded": true}``), wait for a line on stdin,
    then send: the capture starts only once the traffic is in memory (loading a
    big mix takes seconds, which would otherwise count as the capture's idle time)."""
    _pin(0)
    from ringcap import TxRing
    chunk = traffic_batch()
    sent = 0
    with TxRing(TX_IFACE, frame_count=8192) as tx:
        print(json.dumps({"loaded": True}), flush=True)
        sys.stdin.readline()
        start = time.perf_counter()
        # BENCH_RATE (--rate): packets per second, sent in steps of 2,000
        rate = float(os.environ.get("BENCH_RATE") or 0)
        step = min(len(chunk), 2000) if rate else len(chunk)
        at = 0
        while sent < count:
            n = min(step, count - sent, len(chunk) - at)
            done = tx.send(chunk[at:at + n])
            sent += done
            at = (at + done) % len(chunk)
            if rate and (ahead := start + sent / rate - time.perf_counter()) > 0:
                time.sleep(ahead)
        elapsed = time.perf_counter() - start
    print(json.dumps({"sent": sent, "elapsed": elapsed}), flush=True)


def _on_stdin_line(action) -> threading.Event:
    """Call ``action()`` (and set the returned event) when a line arrives on stdin."""
    asked = threading.Event()

    def watch():
        sys.stdin.readline()
        asked.set()
        action()

    threading.Thread(target=watch, daemon=True).start()
    return asked


def user_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def runner(kind: str, block_timeout_ms: int, expect: int | None = None,
           ring_options: dict = RING) -> None:
    """Capture until a line arrives on stdin; print the counts as JSON.  The
    first line printed is ``ready`` and the capture's process ids; with
    ``expect``, ``done`` is printed once that many packets were delivered."""
    _pin(1)
    from ringcap import Batch, Fanout, ParallelCapture, RxRing

    def ready(pids):
        print(json.dumps({"ready": pids}), flush=True)

    def count(delivered):
        if expect is not None and delivered >= expect and count.pending:
            count.pending = False
            print("done", flush=True)
    count.pending = True
    if kind in ("ring", "ring-fanout", "ring-slots") or kind.startswith("rings-"):
        # rings-N: N rings in one hash fanout group, each read by its own thread
        # (the drain releases the GIL): a pool's rings without its hand-off
        n = int(kind.split("-")[1]) if kind.startswith("rings-") else 1
        first = RxRing(RX_IFACE, block_timeout_ms=block_timeout_ms, **ring_options,
                       fanout=None if kind == "ring" else Fanout(mode="hash"))
        rings = [first] + [RxRing(RX_IFACE, block_timeout_ms=block_timeout_ms,
                                  fanout=first.fanout, **ring_options) for _ in range(n - 1)]
        ready([os.getpid()])
        asked = _on_stdin_line(lambda: None)
        cpu0, user0, wall0 = cpu_seconds(), user_seconds(), time.monotonic()
        delivered, batches = [0] * n, [0] * n
        lock = threading.Lock()

        def drain(i):
            out = Batch.empty(65536, 16 << 20)
            ring = rings[i]
            if kind == "ring-slots":
                return drain_into_slots(ring, i)
            while not asked.is_set():
                got = len(ring.read(65536, timeout=0.05, out=out))
                delivered[i] += got
                batches[i] += got > 0
                if got:
                    with lock:
                        count(sum(delivered))
            while True:                       # read out what the ring holds
                got = len(ring.read(65536, timeout=0.1, out=out))
                if not got:
                    break
                delivered[i] += got
                batches[i] += 1

        def drain_into_slots(ring, i, handoff=0.1):
            """As a pool worker without a parent: append each read to the slot
            being filled for up to ``handoff`` seconds, then take the next."""
            slots = [Batch.empty(65536, 16 << 20) for _ in range(4)]
            slot, started, stopping = 0, None, False
            while True:
                stopping = stopping or asked.is_set()
                filling = started is not None
                batch = slots[slot]
                before = len(batch) if filling else 0
                ring.read(65536, timeout=0.1 if stopping else 0.05, out=batch, append=filling)
                got = len(batch) - before
                delivered[i] += got
                if got and not filling:
                    started = time.monotonic()
                    batches[i] += 1
                if filling and (not got or time.monotonic() - started >= handoff):
                    slot, started = (slot + 1) % len(slots), None    # handed over
                if got:
                    with lock:
                        count(sum(delivered))
                elif stopping and not filling:
                    break                       # read out what the ring holds

        threads = [threading.Thread(target=drain, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = [ring.stats for ring in rings]
        for ring in rings:
            ring.close()
        # after close, as a pool's workers count closing their rings
        cpu, user = cpu_seconds() - cpu0, user_seconds() - user0
        wall = time.monotonic() - wall0
        result = {"delivered": sum(delivered), "packets": sum(s.packets for s in stats),
                  "drops": sum(s.drops for s in stats), "cpu": cpu, "user": user,
                  "worker_cpu": [cpu], "parent_cpu": 0.0, "wall": wall,
                  "batches": sum(batches), "per_worker": delivered}
    else:
        workers = int(kind.split("-")[1])
        suffix = kind.split("-")[2] if kind.count("-") >= 2 else ""
        options = dict(handoff_ms=int(suffix[1:])) if suffix[:1] == "h" else \
            dict(slot_packets=131072, slot_bytes=32 << 20, handoff_ms=300) \
            if suffix == "big" else \
            dict(slot_packets=16384, slot_bytes=4 << 20) if suffix == "small" else {}
        with ParallelCapture(RX_IFACE, workers=workers, mode="hash", handle_signals=False,
                             block_timeout_ms=block_timeout_ms, **ring_options,
                             **options) as pool:
            ready([os.getpid()] + [h.process.pid for h in pool._handles])
            _on_stdin_line(pool.stop)
            cpu0, user0, wall0 = cpu_seconds(), user_seconds(), time.monotonic()
            delivered = batches = 0
            for batch in pool:
                delivered += len(batch)
                batches += 1
                count(delivered)
            parent, parent_user = cpu_seconds() - cpu0, user_seconds() - user0
            wall = time.monotonic() - wall0
            stats = pool.stats
            worker_cpu = pool.worker_cpu_seconds
            worker_user = pool.worker_user_seconds
        result = {"delivered": delivered, "packets": stats.total.packets,
                  "drops": stats.total.drops, "cpu": parent + sum(worker_cpu),
                  "user": parent_user + sum(worker_user), "wall": wall,
                  "worker_cpu": worker_cpu, "parent_cpu": parent,
                  "per_worker": [s.delivered for s in stats.workers], "batches": batches}
    print(json.dumps(result), flush=True)


def handoff_cost(batches: int = 5000, packets: int = 5000) -> dict:
    """CPU per batch of the parent's side of the hand-off alone: taking a
    worker's record of a full slot from the shared log as a Batch over the
    slot, giving the slot back (a log entry and an eventfd write), and one
    wait with nothing pending; no traffic."""
    from ringcap import ParallelCapture
    with ParallelCapture(RX_IFACE, workers=1, handle_signals=False, **RING) as pool:
        handle = pool._handles[0]
        worker_side = type(handle.log)(handle.mapping, handle.log.slots)
        t0 = time.process_time()
        for _ in range(batches):
            worker_side.put_full(0, packets, packets * 64, 0, 0)   # as the worker logs it
            os.eventfd_write(handle.full_efd, 1)
            [(_, batch)] = pool._take_batches(handle)
            len(batch)
            del batch
            pool._free_slots()
        per_batch = (time.process_time() - t0) / batches
        worker_side.release()
        t0 = time.process_time()
        for _ in range(batches):
            pool._poll(0)
        per_poll = (time.process_time() - t0) / batches
    return {"batch_us": per_batch * 1e6, "poll_us": per_poll * 1e6}


def start_sender(me: list[str], count: int) -> subprocess.Popen:
    """A sender process that has loaded its traffic and waits for a line to send."""
    proc = subprocess.Popen(me + ["--sender", str(count)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith('{"loaded"'):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the sender did not start: {line!r}")
    return proc


def finish_sender(proc: subprocess.Popen) -> dict:
    """Let a waiting sender send; returns its counts once it is done."""
    proc.stdin.write("go\n")
    proc.stdin.close()
    result = json.loads(proc.stdout.readline())
    proc.stdout.close()
    if proc.wait() != 0:
        raise RuntimeError(f"the sender failed ({proc.returncode})")
    return result


def stop_runner(capture: subprocess.Popen) -> dict:
    """Let the ring retire its last blocks (0.3 s, past the runners' block
    timeouts), tell the runner to stop and return the result it prints."""
    time.sleep(0.3)
    capture.stdin.write("stop\n")
    capture.stdin.flush()
    result = json.loads(capture.stdout.readline())
    capture.wait(timeout=60)
    return result


def one_run(kind: str, count: int, block_timeout_ms: int) -> dict:
    me = [sys.executable, str(Path(__file__).resolve())]
    sending = start_sender(me, count) if count else None
    capture = subprocess.Popen(me + ["--runner", kind, "--block-timeout-ms",
                                     str(block_timeout_ms)], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        line = capture.stdout.readline()
        if not line.startswith('{"ready"'):
            raise RuntimeError(f"{kind} runner did not start: {line!r}")
        counters = netns.DropCounters(TX_IFACE, RX_IFACE)
        if count:
            send = finish_sender(sending)
        else:                                 # idle: what the capture costs with no traffic
            time.sleep(IDLE_SECONDS)
            send = {"sent": 0, "elapsed": IDLE_SECONDS}
        result = stop_runner(capture)
    finally:
        if capture.poll() is None:
            capture.kill()
            capture.wait()
        if sending is not None and sending.poll() is None:
            sending.kill()
            sending.wait()
    result.update(send)
    result.update(counters.read())
    result["rate"] = result["delivered"] / send["elapsed"]
    result["ns_per_packet"] = result["cpu"] / max(1, result["delivered"]) * 1e9
    result["batch_packets"] = result.get("batches") and result["delivered"] / result["batches"]
    return result


def process_cpu(pid: int) -> float:
    """CPU time (user + system) of another process so far, to the nanosecond
    (its CLOCK_PROCESS_CPUTIME_ID: /proc/PID/stat counts only in 10 ms ticks)."""
    return time.clock_gettime(((~pid) << 3) | 2)


def _line_within(process: subprocess.Popen, seconds: float) -> str:
    """The next line of a runner's output, or "" if none comes within ``seconds``."""
    if select.select([process.stdout], [], [], seconds)[0]:
        return process.stdout.readline()
    return ""


def drain_run(kind: str, count: int) -> dict:
    """The capture's processes stopped (SIGSTOP) while ``count`` packets are
    sent into a ring large enough to hold them all, then continued: the CPU of
    draining them at full speed (every process of the capture, from SIGCONT to
    the last packet delivered) with no sender running beside it and no wait
    for a block: the per-packet cost itself, without the idle polling and
    wakeups that dominate at one sender's rate."""
    me = [sys.executable, str(Path(__file__).resolve())]
    capture = subprocess.Popen(me + ["--runner", kind, "--expect", str(count), "--drain"],
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        line = capture.stdout.readline()
        if not line.startswith('{"ready"'):
            raise RuntimeError(f"{kind} runner did not start: {line!r}")
        pids = json.loads(line)["ready"]
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        counters = netns.DropCounters(TX_IFACE, RX_IFACE)
        send = json.loads(subprocess.run(me + ["--sender", str(count)], capture_output=True,
                                         input="go\n", text=True,
                                         check=True).stdout.splitlines()[-1])
        time.sleep(DRAIN_BLOCK_TIMEOUT_MS / 1000 + 0.2)     # the last block retires
        cpu0 = [process_cpu(pid) for pid in pids]
        wall0 = time.monotonic()
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
        done = _line_within(capture, 60.0)
        wall = time.monotonic() - wall0
        cpu = sum(process_cpu(pid) - c for pid, c in zip(pids, cpu0))
        capture.stdin.write("stop\n")
        capture.stdin.flush()
        result = json.loads(_line_within(capture, 60.0))
        if done.strip() != "done":
            raise RuntimeError(f"{kind} did not deliver the {count} packets sent within 60 s "
                               f"(the ring too small?): {result}")
        capture.wait(timeout=60)
    finally:
        if capture.poll() is None:
            for pid in json.loads(line).get("ready", []) if line.startswith("{") else []:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
            capture.kill()
            capture.wait()
    result.update(counters.read())
    result.update(sent=send["sent"], drain_cpu=cpu, drain_wall=wall,
                  drain_ns=cpu / max(1, count) * 1e9)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=2_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--kinds", nargs="+", default=["ring", "ring-fanout", "pool-1", "pool-2"],
                        help="captures to compare (the first is the reference)")
    parser.add_argument("--block-timeout-ms", type=int, nargs="+", default=[10, 200],
                        help="ring block timeouts to compare (they set the batch sizes at a "
                             "given rate)")
    parser.add_argument("--handoff-only", action="store_true",
                        help="only measure the parent's hand-off work per batch (no traffic)")
    parser.add_argument("--pin", action="store_true",
                        help="sender on one CPU, every capture (ring, or a pool's parent and "
                             "workers) on another: the same placement for all, so that no "
                             "capture gains from draining on the core whose cache the "
                             "kernel just wrote")
    parser.add_argument("--drain", action="store_true",
                        help="instead of live capture at the sender's rate: stop the capture, "
                             "fill its ring with --packets (at most 2,000,000 fit), continue it, "
                             "and measure the CPU of draining at full speed")
    parser.add_argument("--rate", type=float,
                        help="send at this many packets per second instead of the sender's "
                             "top rate: the same wakeups per packet for every capture, whatever "
                             "else the machine runs")
    parser.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--runner", help=argparse.SUPPRESS)
    parser.add_argument("--sender", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.pin:
        os.environ["BENCH_PIN"] = "1"
    if args.rate:
        os.environ["BENCH_RATE"] = str(args.rate)
    if args.runner:
        if args.drain:
            return runner(args.runner, DRAIN_BLOCK_TIMEOUT_MS, args.expect, DRAIN_RING)
        return runner(args.runner, args.block_timeout_ms[0])
    if args.sender:
        return sender(args.sender)

    backlog = netns.GlobalBacklog()
    backlog.set(max(backlog.original, 300000))
    netns.enter_private_netns()
    netns.make_veth(TX_IFACE, RX_IFACE)
    if args.handoff_only:
        cost = handoff_cost()
        backlog.restore()
        print(f"parent's hand-off work, no traffic: {cost['batch_us']:.1f} us per batch "
              f"(slot to Batch, slot back), {cost['poll_us']:.1f} us per empty wait")
        return
    kinds = args.kinds
    if args.drain:
        drain_main(args, kinds)
        backlog.restore()
        return
    runs: dict[tuple[int, str], list[dict]] = {}
    for _ in range(args.repeat):
        for timeout_ms in args.block_timeout_ms:
            for kind in kinds:               # interleaved: load changes hit all alike
                runs.setdefault((timeout_ms, kind), []).append(
                    one_run(kind, args.packets, timeout_ms))
                runs.setdefault((timeout_ms, kind + " idle"), []).append(
                    one_run(kind, 0, timeout_ms))

    def med(key, name):
        return statistics.median(r[name] for r in runs[key])

    def marginal(key):
        """CPU per packet once the capture's idle cost per second is taken off."""
        idle = med((key[0], key[1] + " idle"), "cpu") / med((key[0], key[1] + " idle"), "wall")
        return statistics.median((r["cpu"] - idle * r["wall"]) / r["delivered"] * 1e9
                                 for r in runs[key])

    print(f"{args.packets} x 64-byte frames, {FLOWS} flows, one TxRing sender, "
          f"{os.cpu_count()} CPUs; medians of {args.repeat} runs\n")
    print("| block timeout | capture | delivered | drops (ring) | drops (if+backlog) "
          "| rate (Mpps) | packets/batch | CPU ns/packet | idle CPU ms/s "
          "| CPU vs ring | CPU vs same rings | ns/packet beyond idle | beyond idle vs ring |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for timeout_ms in args.block_timeout_ms:
        ring_marginal = marginal((timeout_ms, "ring"))
        ring_raw = med((timeout_ms, "ring"), "ns_per_packet")

        def same_raw(kind, timeout_ms=timeout_ms):
            return med((timeout_ms, _same_rings(kind, kinds)), "ns_per_packet")
        for kind in kinds:
            key = (timeout_ms, kind)
            idle_key = (timeout_ms, kind + " idle")
            idle_ms = med(idle_key, "cpu") / med(idle_key, "wall") * 1e3
            print(f"| {timeout_ms} ms | {kind} | {med(key, 'delivered'):,.0f} | "
                  f"{med(key, 'drops'):,.0f} | "
                  f"{med(key, 'if_drops') + med(key, 'backlog_drops'):,.0f} | "
                  f"{med(key, 'rate') / 1e6:.2f} | {med(key, 'batch_packets'):,.0f} | "
                  f"{med(key, 'ns_per_packet'):.1f} | {idle_ms:.2f} | "
                  f"{med(key, 'ns_per_packet') / ring_raw:.2f}x | "
                  f"{med(key, 'ns_per_packet') / same_raw(kind):.2f}x | "
                  f"{marginal(key):.1f} | {marginal(key) / ring_marginal:.2f}x |")
    cost = handoff_cost()
    print(f"\nparent's hand-off work, no traffic: {cost['batch_us']:.1f} us per batch "
          f"(slot to Batch, slot back), {cost['poll_us']:.1f} us per empty wait")
    for kind in ("rings-2", "pool-2"):
        for timeout_ms in args.block_timeout_ms if kind in kinds else ():
            split = [r.get("per_worker") for r in runs[(timeout_ms, kind)]]
            print(f"\n{timeout_ms} ms, {kind} per-worker delivered: {split}")
    backlog.restore()
    if args.json:
        args.json.write_text(json.dumps({f"{t}ms {k}": v for (t, k), v in runs.items()},
                                        indent=1))


def _same_rings(kind: str, kinds: list[str]) -> str:
    """The capture a kind is compared with for its hand-off: a pool of N workers
    against N rings in one group (``rings-N``) when that ran, else the one ring."""
    if kind.startswith("pool-"):
        rings = "rings-" + kind.split("-")[1]
        if rings in kinds:
            return rings
    return "ring" if "ring" in kinds else kinds[0]


def drain_main(args, kinds) -> None:
    count = args.packets
    runs: dict[str, list[dict]] = {}
    for _ in range(args.repeat):
        for kind in kinds:                   # interleaved: load changes hit all alike
            runs.setdefault(kind, []).append(drain_run(kind, count))

    def med(kind, name):
        return statistics.median(r[name] for r in runs[kind])

    print(f"{count} x 64-byte frames waiting in the ring, drained at full speed; "
          f"{os.cpu_count()} CPUs; medians of {args.repeat} runs\n")
    print("| capture | delivered | drops | packets/batch | drain CPU ns/packet "
          "| vs ring | vs same rings | Mpackets/s per core |")
    print("|---|---|---|---|---|---|---|---|")
    ring_ns = med("ring" if "ring" in kinds else kinds[0], "drain_ns")
    for kind in kinds:
        print(f"| {kind} | {med(kind, 'delivered'):,.0f} | {med(kind, 'drops'):,.0f} | "
              f"{med(kind, 'delivered') / med(kind, 'batches'):,.0f} | "
              f"{med(kind, 'drain_ns'):.1f} | {med(kind, 'drain_ns') / ring_ns:.2f}x | "
              f"{med(kind, 'drain_ns') / med(_same_rings(kind, kinds), 'drain_ns'):.2f}x | "
              f"{1e3 / med(kind, 'drain_ns'):.1f} |")
    print("\nper run (ns/packet): " + "; ".join(
        f"{kind} " + ", ".join(f"{r['drain_ns']:.1f}" for r in runs[kind]) for kind in kinds))
    if args.json:
        args.json.write_text(json.dumps(runs, indent=1))


if __name__ == "__main__":
    main()
