"""The capture benchmark scenarios: synthetic ring, pre-filled ring, live, instruction counts.

Each scenario returns :class:`Result` rows; ``run.py`` turns them into the
tables and the plot in ``docs/``.  Every row of a scenario is measured in the
same run, on the same traffic, next to the plain C TPACKET_V3 loop
(``c/ref_ring.c``), which is the reference the ratios are taken against.
"""
from __future__ import annotations

import json
import math
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

import netns
import peers
import synth

HERE = Path(__file__).resolve().parent
BUILD = HERE / "_build"
REF_SOURCE = HERE / "c" / "ref_ring.c"

TX_IFACE, RX_IFACE = "bench0", "bench1"
C_FULL = "C loop (all columns)"
C_MIN = "C loop (ts/len/offset/bytes)"


@dataclass
class Result:
    scenario: str
    frame_len: int
    reader: str
    packets: int = 0            # packets the reader delivered
    expected: int = 0           # packets it should have delivered
    cpu_ns: int = 0             # reader CPU time spent on them
    wall_ns: int = 0
    drops: int = 0              # socket drops (PACKET_STATISTICS / the library's stats)
    if_drops: int = 0           # interface drops (veth rx/tx_dropped) in the window
    backlog_drops: int = 0      # per-CPU backlog drops (softnet_stat) in the window
    sent: int = 0
    send_wall_ns: int = 0
    note: str = ""
    skipped: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def ns_per_packet(self) -> float:
        return self.cpu_ns / self.packets if self.packets else math.nan

    @property
    def cpu_share(self) -> float:
        return self.cpu_ns / self.wall_ns if self.wall_ns else math.nan

    @property
    def complete(self) -> bool:
        return (not self.skipped and self.packets == self.expected and self.drops == 0
                and self.if_drops == 0 and self.backlog_drops == 0)


def compile_reference() -> Path:
    """Build the C reference with ``gcc -O2`` into the ignored ``benchmarks/_build``."""
    if shutil.which("gcc") is None:
        raise SystemExit("gcc is needed to build the C reference loop: apt-get install gcc")
    BUILD.mkdir(exist_ok=True)
    exe = BUILD / "ref_ring"
    # -g only adds symbols (for callgrind); code generation is that of -O2
    subprocess.run(["gcc", "-O2", "-g", "-Wall", "-o", str(exe), str(REF_SOURCE)], check=True)
    return exe


def _on_cpu(cpu: int | None, argv: list[str]) -> list[str]:
    """``argv`` pinned to ``cpu`` by ``taskset``, not by a ``preexec_fn``.

    A ``preexec_fn`` makes ``subprocess`` fork the benchmark process instead of
    vfork-ing it, and a fork write-protects every private page of this process
    (copy-on-write) until it is written again.  The reader measured in this
    process would then take one page fault per 4 KiB of its warm output batch
    inside the timed drain (about 1,300 faults for a 65536-packet batch), which
    the C reader, a process of its own that never forks, does not pay.
    """
    if cpu is None:
        return argv
    if shutil.which("taskset") is None:
        raise SystemExit("taskset (util-linux) is needed to pin the benchmark's processes")
    return ["taskset", "-c", str(cpu), *argv]


def _json_line(text: str) -> dict:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"no result line in output: {text!r}")


class Lab:
    """The namespace's veth pair, the C sender and the CPU placement."""

    def __init__(self, ref: Path, sender_cpu: int | None, reader_cpu: int | None) -> None:
        self.ref = ref
        self.sender_cpu, self.reader_cpu = sender_cpu, reader_cpu
        netns.make_veth(TX_IFACE, RX_IFACE)
        self.env = dict(os.environ, REF_RING_DST=netns.mac_address(RX_IFACE))
        self.sender_pps: float | None = None

    # traffic -------------------------------------------------------------
    def sender_argv(self, count: int, frame_len: int) -> list[str]:
        return [str(self.ref), "tx", TX_IFACE, str(count), str(frame_len)]

    def send(self, count: int, frame_len: int) -> dict:
        proc = subprocess.run(_on_cpu(self.sender_cpu, self.sender_argv(count, frame_len)),
                              env=self.env, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"sender failed: {proc.stderr.strip()}")
        return _json_line(proc.stdout)

    def start_sender(self, count: int, frame_len: int) -> subprocess.Popen:
        return subprocess.Popen(_on_cpu(self.sender_cpu, self.sender_argv(count, frame_len)),
                                env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)

    def settle(self, rx_base: int, count: int, block_timeout_ms: int) -> None:
        """Wait until the reader's interface saw ``count`` packets and every block retired."""
        deadline = time.monotonic() + 30
        while netns.if_counters(RX_IFACE)["rx_packets"] - rx_base < count:
            if time.monotonic() > deadline:
                break
            time.sleep(0.005)
        time.sleep(3 * block_timeout_ms / 1000 + 0.05)

    def calibrate(self, frame_len: int, count: int) -> float:
        """Packets per second one sender reaches with nobody capturing."""
        out = self.send(count, frame_len)
        self.sender_pps = out["packets"] / (out["wall_ns"] / 1e9)
        return self.sender_pps

    def start_c_reader(self, mode: str, arg: str, geometry: dict, frame_len: int,
                       columns: str = "full", go_line: bool = False):
        argv = [str(self.ref), "--go-line", str(int(go_line)),
                "--block-size", str(geometry["block_size"]),
                "--block-count", str(geometry["block_count"]),
                "--timeout-ms", str(geometry["block_timeout_ms"]),
                "--batch", str(peers.BATCH), "--room", str(max(frame_len, 64)),
                "--cols", columns, mode, RX_IFACE, arg]
        proc = subprocess.Popen(_on_cpu(self.reader_cpu, argv), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = proc.stdout.readline()
        if line.strip() != "ready":
            proc.kill()
            raise RuntimeError(f"C reader did not start: {line!r} {proc.stderr.read()!r}")
        return proc


# --------------------------------------------------------------------- pre-filled
PREFILL_TIMEOUT_MS = 100
BLOCK_SIZE = 4 << 20


def prefill_geometry(count: int, frame_len: int, sender_pps: float) -> dict:
    """A ring that holds ``count`` frames even though the block timer retires
    partly filled blocks while the sender runs."""
    per_block = synth.packets_per_block(BLOCK_SIZE, frame_len)
    send_s = count / sender_pps * 4 + 0.5      # the sender slows down when the machine is busy
    blocks = math.ceil(count / per_block) + math.ceil(send_s * 1000 / PREFILL_TIMEOUT_MS) + 4
    return {"block_size": BLOCK_SIZE, "block_count": blocks,
            "block_timeout_ms": PREFILL_TIMEOUT_MS, "prefill": True}


def prefilled_c(lab: Lab, count: int, frame_len: int, columns: str) -> Result:
    name = C_FULL if columns == "full" else C_MIN
    geometry = prefill_geometry(count, frame_len, lab.sender_pps)
    counters = netns.DropCounters(TX_IFACE, RX_IFACE)
    proc = lab.start_c_reader("rx", str(count), geometry, frame_len, columns, go_line=True)
    try:
        base = netns.if_counters(RX_IFACE)["rx_packets"]
        sent = lab.send(count, frame_len)
        # the same settling wait as prefilled_reader's, then "go": both kinds of
        # reader start on a ring that has sat as long since the kernel wrote it
        lab.settle(base, count, geometry["block_timeout_ms"])
        out, err = proc.communicate(input="go\n", timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"C reader failed: {err.strip()}")
    res = _json_line(out)
    d = counters.read()
    return Result("prefilled", frame_len, name, packets=res["packets"], expected=count,
                  cpu_ns=res["cpu_ns"], wall_ns=res["wall_ns"], drops=res["drops"],
                  if_drops=d["if_drops"], backlog_drops=d["backlog_drops"],
                  sent=sent["packets"], send_wall_ns=sent["wall_ns"],
                  extra={"minor_faults": res.get("minor_faults")})


def prefilled_reader(lab: Lab, reader_cls, count: int, frame_len: int) -> Result:
    reader = reader_cls()
    geometry = prefill_geometry(count, frame_len, lab.sender_pps)
    try:
        reader.open(RX_IFACE, count, frame_len, geometry)
    except peers.Unavailable as why:
        return Result("prefilled", frame_len, reader.name, expected=count, skipped=True,
                      note=str(why))
    try:
        counters = netns.DropCounters(TX_IFACE, RX_IFACE)
        base = netns.if_counters(RX_IFACE)["rx_packets"]
        sent = lab.send(count, frame_len)
        lab.settle(base, count, geometry["block_timeout_ms"])
        got = 0
        idle = 0
        read = reader.read
        faults0 = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt
        c0 = time.thread_time_ns()
        w0 = time.perf_counter_ns()
        while got < count and idle < 4:
            k = read(0)
            got += k
            idle = 0 if k else idle + 1
        c1 = time.thread_time_ns()
        w1 = time.perf_counter_ns()
        faults = resource.getrusage(resource.RUSAGE_THREAD).ru_minflt - faults0
        st = reader.stats()
        if got == count:
            _verify_last(reader, frame_len, count)
    finally:
        reader.close()
    d = counters.read()
    note = "" if got == count else f"delivered {got} of {count}"
    return Result("prefilled", frame_len, reader.name, packets=got, expected=count,
                  cpu_ns=c1 - c0, wall_ns=w1 - w0, drops=st.get("drops", 0),
                  if_drops=d["if_drops"], backlog_drops=d["backlog_drops"],
                  sent=sent["packets"], send_wall_ns=sent["wall_ns"], note=note,
                  extra={"minor_faults": faults})


def _verify_last(reader, frame_len: int, count: int) -> None:
    """Where the API keeps bytes cheaply, the newest frame must be the sender's
    last: benchmark ethertype, right length, sequence number ``count - 1``."""
    frame = reader.last_frame
    batch = getattr(reader, "last", None)
    if batch is not None and len(batch):
        frame = batch[len(batch) - 1]
    if frame is None:
        return
    frame = bytes(frame)
    seq = int.from_bytes(frame[14:22], "little") if len(frame) >= 22 else -1
    if len(frame) != frame_len or frame[12:14] != b"\x88\xb5" or seq != count - 1:
        raise AssertionError(f"{reader.name}: the last frame read is not the sender's last "
                             f"(length {len(frame)}, sequence {seq}, expected {count - 1})")


# --------------------------------------------------------------------- live
LIVE_GEOMETRY = {"block_size": 4 << 20, "block_count": 64, "block_timeout_ms": 10}


def live_c(lab: Lab, count: int, frame_len: int) -> Result:
    counters = netns.DropCounters(TX_IFACE, RX_IFACE)
    proc = lab.start_c_reader("live", "600", LIVE_GEOMETRY, frame_len)
    try:
        sender = lab.start_sender(count, frame_len)
        sout, serr = sender.communicate(timeout=600)
        out, err = proc.communicate(input="", timeout=60)
    finally:
        for p in (proc,):
            if p.poll() is None:
                p.kill()
                p.wait()
    res = _json_line(out)
    sent = _json_line(sout)
    d = counters.read()
    return Result("live", frame_len, C_FULL, packets=res["packets"], expected=sent["packets"],
                  cpu_ns=res["cpu_ns"], wall_ns=res["wall_ns"], drops=res["drops"],
                  if_drops=d["if_drops"], backlog_drops=d["backlog_drops"],
                  sent=sent["packets"], send_wall_ns=sent["wall_ns"])


def live_reader(lab: Lab, reader_cls, count: int, frame_len: int) -> Result:
    reader = reader_cls()
    try:
        reader.open(RX_IFACE, count, frame_len, LIVE_GEOMETRY)
    except peers.Unavailable as why:
        return Result("live", frame_len, reader.name, expected=count, skipped=True, note=str(why))
    inner = 1024 if reader.per_packet else 1
    read = reader.read
    sender = None
    try:
        counters = netns.DropCounters(TX_IFACE, RX_IFACE)
        sender = lab.start_sender(count, frame_len)
        got = 0
        c0 = time.thread_time_ns()
        w0 = time.perf_counter_ns()
        give_up = time.monotonic() + count / (lab.sender_pps or 1e5) * 5 + 30
        while sender.poll() is None and time.monotonic() < give_up:
            for _ in range(inner):
                k = read(0.01)
                if not k:
                    break
                got += k
        idle = 0
        while idle < 3 and time.monotonic() < give_up:
            k = read(0.02)   # what the block timer retires after the sender stopped
            got += k
            idle = 0 if k else idle + 1
        c1 = time.thread_time_ns()
        w1 = time.perf_counter_ns()
        st = reader.stats()
        sout, serr = sender.communicate(timeout=60)
    finally:
        reader.close()
        if sender is not None and sender.poll() is None:
            sender.kill()
            sender.wait()
    sent = _json_line(sout)
    d = counters.read()
    return Result("live", frame_len, reader.name, packets=got, expected=sent["packets"],
                  cpu_ns=c1 - c0, wall_ns=w1 - w0, drops=st.get("drops", 0),
                  if_drops=d["if_drops"], backlog_drops=d["backlog_drops"],
                  sent=sent["packets"], send_wall_ns=sent["wall_ns"])


def live_sender_only(lab: Lab, count: int, frame_len: int) -> Result:
    counters = netns.DropCounters(TX_IFACE, RX_IFACE)
    sent = lab.send(count, frame_len)
    d = counters.read()
    return Result("live", frame_len, "(sender alone, no reader)", packets=0, expected=0,
                  cpu_ns=0, wall_ns=0, if_drops=d["if_drops"], backlog_drops=d["backlog_drops"],
                  sent=sent["packets"], send_wall_ns=sent["wall_ns"],
                  note="no socket open: the stack discards the unknown ethertype as rx_dropped")


def live_txring_sender(lab: Lab, count: int, frame_len: int) -> Result:
    """ringcap's own TxRing as the traffic source, alone: its rate and CPU cost."""
    try:
        import ringcap
        from ringcap import Batch
        ringcap.TxRing
    except (ImportError, AttributeError) as exc:
        return Result("live", frame_len, "(ringcap TxRing alone, no reader)", skipped=True,
                      note=f"ringcap.TxRing not available: {exc}")
    chunk = 16384
    frame = synth.frame_bytes(frame_len, 0)
    frame[0:6] = np.frombuffer(bytes.fromhex(lab.env["REF_RING_DST"].replace(":", "")),
                               dtype=np.uint8)
    data = np.tile(frame, chunk)
    batch = Batch(ts=np.zeros(chunk, dtype=np.int64),
                  caplen=np.full(chunk, frame_len, dtype=np.uint32), data=data)
    counters = netns.DropCounters(TX_IFACE, RX_IFACE)
    mask = os.sched_getaffinity(0)
    if lab.sender_cpu is not None:
        os.sched_setaffinity(0, {lab.sender_cpu})
    try:
        with ringcap.TxRing(TX_IFACE) as tx:
            sent = 0
            c0 = time.thread_time_ns()
            w0 = time.perf_counter_ns()
            while sent < count:
                sent += tx.send(batch if count - sent >= chunk else batch[:count - sent])
            c1 = time.thread_time_ns()
            w1 = time.perf_counter_ns()
    finally:
        os.sched_setaffinity(0, mask)
    d = counters.read()
    return Result("live", frame_len, "(ringcap TxRing alone, no reader)", expected=0,
                  cpu_ns=c1 - c0, wall_ns=w1 - w0, if_drops=d["if_drops"],
                  backlog_drops=d["backlog_drops"], sent=sent, send_wall_ns=w1 - w0,
                  note=f"sender CPU {(c1 - c0) / sent:.0f} ns/frame, "
                       "including the kernel's veth and receive work on that CPU")


# --------------------------------------------------------------------- synthetic
def _drain_function():
    try:
        from ringcap import _ring
    except ImportError as exc:
        return None, f"ringcap._ring not importable: {exc}"
    fn = getattr(_ring, "_test_drain_blocks", None)
    if fn is None:
        return None, "ringcap._ring._test_drain_blocks is not there"
    return fn, ""


def synthetic(ref: Path, frame_len: int, block_count: int, block_size: int, repeat: int,
              label: str) -> list[Result]:
    buf, n = synth.build_blocks(block_count, block_size, frame_len)
    BUILD.mkdir(exist_ok=True)
    rows = []
    with tempfile.NamedTemporaryFile(dir=BUILD, suffix=".blocks") as f:
        buf.tofile(f.name)
        for columns, name in (("full", C_FULL), ("min", C_MIN)):
            proc = subprocess.run([str(ref), "--block-size", str(block_size), "--batch", str(n),
                                   "--room", str(frame_len), "--cols", columns, "synth", f.name,
                                   str(repeat)],
                                  capture_output=True, text=True, check=True)
            res = _json_line(proc.stdout)
            if res["packets"] != n * repeat:
                raise AssertionError(f"C loop drained {res['packets']} of {n * repeat} packets")
            rows.append(Result(label, frame_len, name, packets=n, expected=n,
                               cpu_ns=res["wall_ns"], wall_ns=res["wall_ns"],
                               note=f"best of {repeat} passes"))
    drain, why = _drain_function()
    if drain is None:
        rows.append(Result(label, frame_len, "ringcap drain", expected=n * repeat, skipped=True,
                           note=why))
        return rows
    from ringcap import Batch
    out = Batch.empty(n, n * frame_len)
    for array in out._store.values():
        array.fill(1)   # warm, as the C loop's arrays are
    best = None
    for _ in range(repeat):
        synth.set_block_status(buf, block_size, synth.TP_STATUS_USER)
        c0 = time.thread_time_ns()
        k = drain(buf, block_size, out, check=False)   # time the walk, not the layout check
        spent = time.thread_time_ns() - c0
        best = spent if best is None else min(best, spent)
        if isinstance(k, tuple):      # (packets, data bytes)
            k = k[0]
        if k != n:
            raise AssertionError(f"_test_drain_blocks drained {k} packets, the blocks hold {n}")
    _verify_synthetic(out, n, frame_len)
    # the fixed cost of one call (argument checks, column views), on blocks
    # that are all still the kernel's: nothing to drain
    synth.set_block_status(buf, block_size, synth.TP_STATUS_KERNEL)
    c0 = time.thread_time_ns()
    for _ in range(repeat):
        drain(buf, block_size, out)
    setup_ns = (time.thread_time_ns() - c0) / repeat
    rows.append(Result(label, frame_len, "ringcap drain", packets=n, expected=n,
                       cpu_ns=best, wall_ns=best,
                       note=f"best of {repeat} passes; includes {setup_ns / 1000:.1f} µs of "
                            f"per-call setup ({setup_ns / n:.1f} ns/packet at {n:,} packets per call)"))
    rows[-1].extra["setup_ns"] = setup_ns
    return rows


def _verify_synthetic(out, n: int, frame_len: int) -> None:
    store = out._store
    caplen, offset, data, ts = store["caplen"], store["offset"], store["data"], store["ts"]
    for i in (0, n // 2, n - 1):
        if int(caplen[i]) != frame_len:
            raise AssertionError(f"synthetic drain: caplen[{i}] = {caplen[i]}, sent {frame_len}")
        start = int(offset[i])
        seq = int(np.frombuffer(data[start + 14:start + 22].tobytes(), dtype=np.uint64)[0])
        if seq != i:
            raise AssertionError(f"synthetic drain: packet {i} carries sequence {seq}")
        if int(ts[i]) != 1_700_000_000_000_000_000 + i:
            raise AssertionError(f"synthetic drain: ts[{i}] = {ts[i]}")


# --------------------------------------------------------------------- instructions
_TOTALS = re.compile(r"^(?:summary|totals):\s+(\d+)", re.M)


def _callgrind(argv: list[str], toggle: str) -> int:
    if shutil.which("valgrind") is None:
        raise FileNotFoundError("valgrind")
    with tempfile.TemporaryDirectory(dir=BUILD) as tmp:
        out = Path(tmp) / "callgrind.out"
        proc = subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                               f"--toggle-collect={toggle}", *argv],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"callgrind failed: {proc.stderr[-2000:]}")
        m = _TOTALS.search(out.read_text())
        if not m:
            raise RuntimeError("callgrind wrote no totals")
        return int(m.group(1))


_CG_SCRIPT = """
import sys
sys.path[:0] = {path!r}
import synth
from ringcap import Batch
from ringcap._ring import _test_drain_blocks
buf, n = synth.build_blocks({blocks}, {block_size}, {frame_len})
out = Batch.empty(n, n * {frame_len})
k = _test_drain_blocks(buf, {block_size}, out, check=False)
k = k[0] if isinstance(k, tuple) else k
assert k == n, (k, n)
print(n)
"""


def instruction_counts(ref: Path, frame_len: int, blocks: int = 16,
                       block_size: int = 256 << 10) -> list[dict]:
    """Instructions per packet of each drain loop, from callgrind (no hardware counters needed)."""
    buf, n = synth.build_blocks(blocks, block_size, frame_len)
    rows = []
    with tempfile.NamedTemporaryFile(dir=BUILD, suffix=".blocks") as f:
        buf.tofile(f.name)
        for columns, name in (("full", C_FULL), ("min", C_MIN)):
            ir = _callgrind([str(ref), "--block-size", str(block_size), "--batch", str(n),
                             "--room", str(frame_len), "--cols", columns, "synth", f.name, "1"],
                            "drain_block")
            rows.append({"reader": name, "frame_len": frame_len, "packets": n,
                         "instructions": ir})
    drain, why = _drain_function()
    if drain is None:
        rows.append({"reader": "ringcap drain", "frame_len": frame_len, "packets": n,
                     "instructions": None, "note": why})
        return rows
    import ringcap
    path = [str(Path(ringcap.__file__).resolve().parent.parent), str(HERE)]
    script = _CG_SCRIPT.format(path=path, blocks=blocks,
                               block_size=block_size, frame_len=frame_len)
    with tempfile.NamedTemporaryFile("w", dir=BUILD, suffix=".py") as f:
        f.write(script)
        f.flush()
        ir = _callgrind([sys.executable, f.name], "*_test_drain_blocks*")
    rows.append({"reader": "ringcap drain", "frame_len": frame_len, "packets": n,
                 "instructions": ir,
                 "note": "includes the call's argument handling, amortized over the packets"})
    return rows
