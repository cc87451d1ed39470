"""ParallelCapture: worker processes in one fanout group, for real on veth pairs."""
import gc
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from conftest import DEADLINE, Tap, sh, wait_until
from test_fanout import seqs_and_flows, udp_frame
import ringcap
from ringcap import Batch, ParallelCapture, TxRing, WorkerDiedError, merge, read_pcap
from ringcap.parallel import WorkerFiles

RING = dict(block_size=1 << 20, block_count=16, block_timeout_ms=5)
SAFETY_S = DEADLINE


def report(pool, worker):
    """Worker ``worker``'s latest statistics report (None before its first), reading the
    reports waiting in its pipe as the pool does while iterating; reports go out every
    STATS_EVERY (1 s)."""
    handle = pool._handles[worker]
    while not handle.ended and handle.readable.poll(0):
        pool._handle_message(handle, handle.up.recv())
    return handle.stats


def gather(pool, expected=None):
    """Iterate the pool (copying each batch) until ``expected`` of our
    packets arrived, then stop it and read to the end; a timer stops it
    anyway after SAFETY_S.  Returns {worker: [batches]}."""
    timer = threading.Timer(SAFETY_S, pool.stop)
    timer.start()
    got: dict[int, list[Batch]] = {}
    total = 0
    try:
        for worker, batch in pool.batches_by_worker():
            got.setdefault(worker, []).append(batch.copy())
            total += len(seqs_and_flows(batch)[0])
            if expected is not None and total >= expected:
                pool.stop()
    finally:
        timer.cancel()
    return got


def check_accounting(pool, got):
    stats = pool.stats
    for index, st in enumerate(stats.workers):
        assert st.packets == st.delivered + st.drops                   # nothing left unread
        assert st.delivered == sum(len(b) for b in got.get(index, []))  # all reached us
    assert stats.total.delivered == sum(s.delivered for s in stats.workers)
    assert stats.total.packets == sum(s.packets for s in stats.workers)
    return stats


def test_hash_workers_capture_every_packet_once_and_keep_flows_whole(veth):
    frames = [udp_frame(i, i % 64) for i in range(6400)]
    with ParallelCapture(veth.b, workers=2, mode="hash", **RING) as pool:
        with TxRing(veth.a) as tx:
            tx.send(frames)
        got = gather(pool, expected=len(frames))
        stats = check_accounting(pool, got)
    per_worker = {w: seqs_and_flows(Batch.concat(bs)) for w, bs in got.items()}
    seqs = np.concatenate([s for s, _ in per_worker.values()])
    assert np.array_equal(np.sort(seqs), np.arange(len(frames)))
    flows = {w: set(f.tolist()) for w, (_, f) in per_worker.items()}
    assert len(flows) == 2 and all(flows.values())
    assert not flows[0] & flows[1]
    assert stats.total.drops == 0


def test_lb_workers_split_within_ten_percent(veth):
    n = 10000
    with ParallelCapture(veth.b, workers=2, mode="lb", **RING) as pool:
        with TxRing(veth.a) as tx:
            tx.send([udp_frame(i, 0) for i in range(n)])
        got = gather(pool, expected=n)
        check_accounting(pool, got)
    counts = [len(seqs_and_flows(Batch.concat(got[w]))[0]) for w in (0, 1)]
    assert sum(counts) == n
    assert all(abs(c - n / 2) <= 0.05 * n for c in counts), counts


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_cpu_mode_lines_up_with_pinning(veth):
    cpus = sorted(os.sched_getaffinity(0))[:2]
    with ParallelCapture(veth.b, workers=2, mode="cpu", cpus=cpus, **RING) as pool:
        sent = {}
        main_cpus = os.sched_getaffinity(0)
        try:
            with TxRing(veth.a) as tx:
                for k, cpu in enumerate(cpus):
                    os.sched_setaffinity(0, {cpu})     # veth delivers on the sending CPU
                    tx.send([udp_frame(i, k) for i in range(k * 500, k * 500 + 500)])
                    sent[k] = cpu
        finally:
            os.sched_setaffinity(0, main_cpus)
        got = gather(pool, expected=1000)
        check_accounting(pool, got)
    for worker, batches in got.items():
        flows = set(seqs_and_flows(Batch.concat(batches))[1].tolist())
        # flow k was sent from cpus[k]; the worker pinned there (member cpu % 2) has it
        assert flows == {k for k, cpu in sent.items() if cpu % 2 == worker}


def test_stopping_mid_stream_loses_nothing_delivered(veth):
    stop_sending = threading.Event()
    sent = [0]

    def send():
        with TxRing(veth.a) as tx:
            while not stop_sending.is_set():
                seq = sent[0]
                sent[0] += tx.send([udp_frame(seq + i, (seq + i) % 16) for i in range(256)])
                time.sleep(0.002)

    def stop_when_plenty_went_out():
        wait_until(lambda: sent[0] >= 5000 or stop_sending.is_set(), what="5000 frames sent")
        pool.stop()

    with ParallelCapture(veth.b, workers=2, **RING) as pool:
        sender = threading.Thread(target=send)
        sender.start()
        try:
            threading.Thread(target=stop_when_plenty_went_out, daemon=True).start()
            got = gather(pool)
        finally:
            stop_sending.set()
            sender.join()
        stats = check_accounting(pool, got)
    seqs = np.concatenate([seqs_and_flows(b)[0] for bs in got.values() for b in bs])
    assert len(seqs) > 1000 and len(np.unique(seqs)) == len(seqs)
    assert stats.total.delivered == sum(len(b) for bs in got.values() for b in bs)


def test_sigterm_stops_the_pool_cleanly(veth):
    got: dict[int, list[Batch]] = {}
    with ParallelCapture(veth.b, workers=2, **RING) as pool:
        with TxRing(veth.a) as tx:
            tx.send([udp_frame(i, i % 8) for i in range(2000)])
        for worker, batch in pool.batches_by_worker():
            if not got:
                # the pool's handler is in place once the iteration has started
                threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
            got.setdefault(worker, []).append(batch.copy())
        check_accounting(pool, got)
    assert sum(len(seqs_and_flows(b)[0]) for bs in got.values() for b in bs) == 2000


def test_a_killed_worker_is_reported_with_its_exit_code_and_last_stats(veth):
    with ParallelCapture(veth.b, workers=2, **RING) as pool:
        with TxRing(veth.a) as tx:
            tx.send([udp_frame(i, i % 8) for i in range(1000)])
        wait_until(lambda: report(pool, 1), what="a statistics report from worker 1")
        victim = pool._handles[1].process
        victim.kill()
        consumed = 0
        with pytest.raises(WorkerDiedError) as info:
            for batch in pool:
                consumed += len(batch)
        # what reached the consumer is counted delivered, whatever the dead worker last said
        assert pool.stats.total.delivered == consumed
    [failure] = info.value.failures
    assert failure.worker == 1 and failure.exitcode == -signal.SIGKILL
    assert failure.last_stats is not None
    assert "killed by SIGKILL" in str(info.value)
    assert pool.stats.workers[0].packets == pool.stats.workers[0].delivered + \
        pool.stats.workers[0].drops


def test_a_worker_that_fails_to_write_sends_its_final_statistics_and_summary(veth, tmp_path):
    """Workers writing onto a full disk: run() raises WorkerDiedError, and the
    pool's statistics (also on the error), summaries and each failure count
    the failed workers' packets: a failing worker sent only its error, so its
    summary was None and its statistics the last periodic report (if any)."""
    from test_cli_scale import capinfos_count, small_disk
    with small_disk(tmp_path / "small") as disk:
        with ParallelCapture(veth.b, workers=2, sink=WorkerFiles(str(disk / "w{worker}.pcap")),
                             filter="udp and dst port 9", **RING) as pool:
            with TxRing(veth.a) as tx:      # 6 MB of 1000-byte frames for 2 MiB, both workers
                for first in range(0, 6000, 200):
                    tx.send([udp_frame(i, i % 16, 1000) for i in range(first, first + 200)])
            with pytest.raises(WorkerDiedError) as info:
                pool.run(duration=DEADLINE)
            summaries = pool.summaries
        in_files = [capinfos_count(disk / f"w{k}.pcap") for k in (0, 1)]
    error = info.value
    assert error.stats == pool.stats
    assert error.failures and all("No space left on device" in f.error for f in error.failures)
    for failure in error.failures:
        k = failure.worker
        assert failure.summary == summaries[k] is not None
        assert summaries[k]["packets"] - summaries[k]["lost"] == in_files[k]
        st = failure.last_stats
        assert st == pool.stats.workers[k]
        # read from the ring: in the file, or counted as not written
        assert st.delivered > in_files[k] > 0
        assert st.packets >= st.delivered + st.drops
    total = error.stats.total
    assert total.delivered == sum(s.delivered for s in error.stats.workers) >= sum(in_files)


def test_per_worker_files(veth, tmp_path):
    n = 3000
    template = str(tmp_path / "cap-{worker}.pcapng")
    with ParallelCapture(veth.b, workers=2, sink=WorkerFiles(template), **RING) as pool:
        with TxRing(veth.a) as tx:
            tx.send([udp_frame(i, i % 32) for i in range(n)])
        stats = pool.run(duration=1.5)
    seqs = []
    for worker in (0, 1):
        path = tmp_path / f"cap-{worker}.pcapng"
        batch = read_pcap(path)
        assert len(batch) == stats.workers[worker].delivered
        seqs.append(seqs_and_flows(batch)[0])
        info = subprocess.run(["capinfos", "-M", "-c", str(path)], capture_output=True,
                              text=True, check=True).stdout
        assert f"{len(batch)}" in info
    assert np.array_equal(np.sort(np.concatenate(seqs)), np.arange(n))


@pytest.mark.parametrize("handoff_ms", [0, 2000])
def test_a_worker_fills_its_slot_for_handoff_ms_before_handing_it_over(veth, handoff_ms):
    """Sent in 10 bursts 100 ms apart into 5 ms blocks: handed over read by
    read with handoff_ms=0 (a burst or two per batch), in one or two slots
    with a hand-off of 2 s."""
    frames = [udp_frame(i, 0) for i in range(1000)]
    with ParallelCapture(veth.b, workers=1, handoff_ms=handoff_ms, **RING) as pool:
        with TxRing(veth.a) as tx:
            for burst in range(10):
                tx.send(frames[burst * 100:(burst + 1) * 100])
                time.sleep(0.1)
        got = gather(pool, expected=len(frames))
        check_accounting(pool, got)
    batches = [b for b in got[0] if len(seqs_and_flows(b)[0])]
    seqs = np.concatenate([seqs_and_flows(b)[0] for b in batches])
    assert np.array_equal(seqs, np.arange(len(frames)))       # every packet once, in order
    for batch in batches:            # appended reads keep each row's bytes its own
        assert np.array_equal(batch.offset[1:], batch.offset[:-1] + batch.caplen[:-1])
    if handoff_ms:
        assert len(batches) <= 2
    else:
        assert len(batches) >= 5


def _sleeps(pid):
    """How many times process ``pid`` has gone to sleep (voluntary context switches)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches:"):
                return int(line.split()[1])
    raise AssertionError(f"no voluntary_ctxt_switches in /proc/{pid}/status")


@pytest.mark.parametrize("to_files", [False, True])
def test_an_idle_worker_sleeps_until_it_has_work(veth, tmp_path, to_files):
    """With no traffic a worker wakes only to write its progress (every
    WORKER_POLL, 0.2 s; not with a sink) and to report (every second): at
    most some 6 times a second.  It used to read its ring in 50 ms slices
    (20 wakeups a second, each costing this VM 100-250 us of CPU) and look
    at its pipe in between."""
    sink = WorkerFiles(str(tmp_path / "idle-{worker}.pcap")) if to_files else None
    with ParallelCapture(veth.b, workers=2, filter="udp", sink=sink, **RING) as pool:
        pids = [h.process.pid for h in pool._handles]
        before, start = [_sleeps(pid) for pid in pids], time.monotonic()
        time.sleep(3.0)          # the window counted: nothing is waited for
        after, seconds = [_sleeps(pid) for pid in pids], time.monotonic() - start
        pool.stop()
        if to_files:
            stats = pool.run()
            got = sum(len(read_pcap(str(tmp_path / f"idle-{i}.pcap"))) for i in range(2))
        else:
            got = sum(len(b) for b in pool)
            stats = pool.stats
    per_second = [(a - b) / seconds for a, b in zip(after, before)]
    assert all(rate < (4 if to_files else 12) for rate in per_second), per_second
    assert got == stats.total.delivered == stats.total.packets - stats.total.drops


def test_a_busy_worker_wakes_once_for_several_ring_blocks(veth):
    """A steady trickle closes a ring block every block timeout (5 ms): a
    worker filling a slot used to wake for each (some 200 times a second).
    Now it lets blocks gather in its ring while a quarter of the ring would
    last at four times the rate it sees, and reads them in one go; nothing
    is lost on the way."""
    sent, window = [], []
    with ParallelCapture(veth.b, workers=1, filter="udp", block_size=1 << 20, block_count=64,
                         block_timeout_ms=5) as pool:
        pid = pool._handles[0].process.pid

        def trickle():
            with TxRing(veth.a) as tx:
                before, start = _sleeps(pid), time.monotonic()
                while time.monotonic() < start + 2.0:
                    sent.append(tx.send([udp_frame(len(sent) * 50 + i, 3) for i in range(50)]))
                    time.sleep(0.005)
                window.extend((_sleeps(pid) - before, time.monotonic() - start))
            wait_until(lambda: pool._handles[0].delivered >= sum(sent), DEADLINE)
            pool.stop()

        sender = threading.Thread(target=trickle)
        sender.start()
        try:
            got = gather(pool)           # the parent takes the slots as they come
        finally:
            sender.join()
        stats = check_accounting(pool, got)
    wakeups, seconds = window
    assert sum(len(seqs_and_flows(b)[0]) for b in got.get(0, [])) == sum(sent)
    assert stats.total.delivered + stats.total.drops == stats.total.packets
    assert wakeups / seconds < 60, (wakeups, seconds)     # was some 170


def test_slots_given_back_out_of_order_keep_every_batch_intact(veth):
    """Three slots, a hand-off per read, and a consumer that keeps every other
    batch (uncopied) over the next one: slots come back out of order, the two
    hand-off logs wrap many times, and every batch still holds its own packets."""
    frames = [udp_frame(i, 0) for i in range(3000)]
    with ParallelCapture(veth.b, workers=1, slots=3, handoff_ms=0, **RING) as pool:
        # sent while the consumer reads, so that each burst is a batch
        sender = _send_in_bursts(veth.a, frames, burst=100, gap=0.03)
        timer = threading.Timer(SAFETY_S, pool.stop)
        timer.start()
        held, seqs, batches = None, [], 0
        for batch in pool:
            if held is not None:          # looked at again after a later batch arrived
                seqs.append(seqs_and_flows(held)[0])
                held = None
            if batches % 2 == 0:
                held = batch
            else:
                seqs.append(seqs_and_flows(batch)[0])
            batches += 1
            if sum(map(len, seqs)) >= len(frames):
                pool.stop()
        timer.cancel()
        sender.join()
        if held is not None:
            seqs.append(seqs_and_flows(held)[0])
        del held, batch
        stats = pool.stats
    assert batches > 10                         # more hand-offs than the logs have entries
    assert np.array_equal(np.concatenate(seqs), np.arange(len(frames)))
    assert stats.total.packets == stats.total.delivered + stats.total.drops


def open_fds() -> set[str]:
    gc.collect()                      # what earlier tests left to the collector goes first
    return set(os.listdir("/proc/self/fd"))


def test_a_pool_releases_every_fd_and_mapping_on_close_and_on_a_dead_worker(veth):
    before = open_fds()
    with ParallelCapture(veth.b, workers=2, **RING) as pool:
        with TxRing(veth.a) as tx:
            tx.send([udp_frame(i, i % 8) for i in range(500)])
        gather(pool, expected=500)
    with pytest.raises(WorkerDiedError):
        with ParallelCapture(veth.b, workers=2, **RING) as pool:
            pool._handles[0].process.kill()
            for batch in pool:
                pass
    assert open_fds() == before
    with open("/proc/self/maps") as f:
        assert "ringcap-worker" not in f.read()  # the memfd mappings are gone


@pytest.mark.parametrize("failing", ["eventfd", "Popen"])
def test_a_worker_that_cannot_start_leaves_no_fd_mapping_or_process(veth, monkeypatch, failing):
    """The second worker's first eventfd (or its process) cannot be made: the
    error comes out, the first worker was waited for, and every fd and
    mapping made for either is gone."""
    import ringcap.parallel as parallel
    module = parallel.os if failing == "eventfd" else parallel.subprocess
    real, made, calls = getattr(module, failing), [], []

    def flaky(*args, **kwargs):
        calls.append(1)
        if len(calls) == (3 if failing == "eventfd" else 2):
            raise OSError(24, "Too many open files")
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(module, failing, flaky)
    before = open_fds()
    with pytest.raises(OSError, match="Too many open files"):
        ParallelCapture(veth.b, workers=2, **RING)
    monkeypatch.undo()
    assert len(calls) == (3 if failing == "eventfd" else 2)
    assert open_fds() == before
    with open("/proc/self/maps") as f:
        assert "ringcap-worker" not in f.read()
    if failing == "Popen":
        assert made[0].returncode is not None            # the first worker was waited for


def test_packets_in_a_filling_slot_survive_the_interface_going_down(veth):
    """The worker is appending to a slot (a 5 s hand-off) when its interface
    goes down: the packets already in the slot still reach the parent, then
    the worker's death is reported with the reason."""
    frames = [udp_frame(i, 0) for i in range(500)]
    consumed = []
    with ParallelCapture(veth.b, workers=1, handoff_ms=5000, **RING) as pool:
        with Tap(veth.b, filter="udp") as tap, TxRing(veth.a) as tx:
            tx.send(frames)
            tap.wait_for(len(frames))   # in the worker's ring too: read into the slot, and
        sh(f"ip link set {veth.b} down")   # the worker waiting for more (up to 0.2 s)
        try:
            with pytest.raises(WorkerDiedError) as info:
                for batch in pool:
                    consumed.append(batch.copy())
        finally:
            sh(f"ip link set {veth.b} up")
    seqs = np.concatenate([seqs_and_flows(b)[0] for b in consumed])
    assert np.array_equal(seqs, np.arange(len(frames)))
    assert "Network is down" in str(info.value)


def test_slots_are_allocated_when_the_pool_starts_as_docs_parallel_md_says(veth):
    with ParallelCapture(veth.b, workers=1, **RING) as pool:
        st = os.fstat(pool._handles[0].memfd)
    assert 74 * 2**20 < st.st_size < 76 * 2**20               # "75 MiB per worker by default"
    assert st.st_blocks * 512 >= st.st_size                    # allocated, not a sparse file


def test_pool_totals_count_the_interface_and_backlog_drops_once():
    # every worker reads the same interface's and machine's drop counters
    from ringcap.parallel import _sum_stats
    from ringcap.ring import Stats
    one = Stats(packets=10, drops=2, freeze_count=1, delivered=8, if_drops=5, backlog_drops=3)
    two = Stats(packets=20, drops=0, freeze_count=0, delivered=20, if_drops=5, backlog_drops=4)
    total = _sum_stats([one, two])
    assert (total.packets, total.drops, total.freeze_count, total.delivered) == (30, 2, 1, 28)
    assert (total.if_drops, total.backlog_drops) == (5, 4)


def test_merge_orders_by_time_keeping_ties_stable():
    def make(ts, tag):
        return Batch.from_packets([bytes([tag, i]) for i in range(len(ts))], ts=ts)

    merged = merge([make([1, 4, 4, 9], 0), make([2, 4, 10], 1), make([], 2), make([0], 3)])
    assert merged.ts.tolist() == [0, 1, 2, 4, 4, 4, 9, 10]
    assert merged.packets() == [bytes([3, 0]), bytes([0, 0]), bytes([1, 0]), bytes([0, 1]),
                                bytes([0, 2]), bytes([1, 1]), bytes([0, 3]), bytes([1, 2])]


@pytest.mark.parametrize("kwargs, error", [
    (dict(workers=0), "workers must be positive"),
    (dict(mode="cpu"), "pin the workers"),
    (dict(cpus=[0]), "one per worker"),
    (dict(cpus=[10**6, 0]), "not available"),
    (dict(sink="x.pcap"), "factory"),
    (dict(slot_bytes=1000), "slot_bytes"),
    (dict(slots=1), "at least 2"),
    (dict(handoff_ms=-1), "0 to 60000 milliseconds"),
    (dict(handoff_ms=float("nan")), "0 to 60000 milliseconds"),
    (dict(handoff_ms="100"), "number of milliseconds"),
    (dict(handoff_ms=True), "number of milliseconds"),
    (dict(slot_packets=2**40), "cannot allocate the workers' shared memory"),
    (dict(handle_signals="yes"), "handle_signals must be True or False"),
])
def test_bad_pool_settings_are_refused(kwargs, error):
    with pytest.raises((ValueError, TypeError, MemoryError), match=error):
        ParallelCapture("lo", **{"workers": 2, **kwargs})


def test_a_worker_that_cannot_start_says_why(netns):
    with pytest.raises(RuntimeError, match="no network interface named 'nope0'"):
        ParallelCapture("nope0", workers=2)


class Burster(threading.Thread):
    """Sends numbered bursts of UDP frames every 50 ms until stopped."""

    def __init__(self, iface):
        super().__init__(daemon=True)
        self.iface, self.halt, self.sent = iface, threading.Event(), 0

    def run(self):
        with TxRing(self.iface) as tx:
            while not self.halt.is_set():
                self.sent += tx.send([udp_frame(self.sent + i, i % 16) for i in range(200)])
                time.sleep(0.05)


def test_capture_with_workers_returns_the_first_packets_in_time_order(veth):
    import ringcap
    sender = Burster(veth.a)
    sender.start()
    try:
        got = ringcap.capture(veth.b, count=3000, duration=30, workers=2, **RING)
    finally:
        sender.halt.set()
        sender.join()
    assert len(got) == 3000
    assert np.all(np.diff(got.ts) >= 0)
    seqs = seqs_and_flows(got)[0]
    assert len(np.unique(seqs)) == len(seqs) == 3000


@pytest.mark.parametrize("name", ["merged.pcapng", "part-{worker}.pcapng"])
def test_capture_to_file_with_workers(veth, tmp_path, name):
    import ringcap
    sender = Burster(veth.a)
    sender.start()
    try:
        summary = ringcap.capture_to_file(veth.b, tmp_path / name, duration=2.5, workers=2,
                                          ring_options=RING)
    finally:
        sender.halt.set()
        sender.join()
    files = sorted(tmp_path.glob("*.pcapng"))
    assert len(files) == (1 if "{" not in name else 2)
    batches = [read_pcap(f) for f in files]
    seqs = np.concatenate([seqs_and_flows(b)[0] for b in batches])
    assert summary.packets == sum(len(b) for b in batches) == len(seqs) > 0
    assert len(np.unique(seqs)) == len(seqs)
    assert summary.received == summary.packets + summary.drops
    for f, b in zip(files, batches):
        count = subprocess.run(["capinfos", "-M", "-c", "-T", str(f)], capture_output=True,
                               text=True, check=True).stdout.split()[-1]
        assert int(count) == len(b)
        assert np.all(b.ts[1:] >= b.ts[:-1])        # one file, or each worker's: time order


def test_rollover_statistics_appear_when_a_worker_ring_is_full(veth):
    tiny = dict(snaplen=1500, block_size=1 << 16, block_count=2, block_timeout_ms=50)
    n = 20000
    # two slots of 500 packets: a worker whose slots are taken stops draining
    with ParallelCapture(veth.b, workers=2, mode="hash", rollover=True, slots=2,
                         slot_packets=500, **tiny) as pool:
        with TxRing(veth.a) as tx:
            tx.send([udp_frame(i, 0) for i in range(n)])   # one flow: one ring's share
        # nothing iterated yet: each worker's slots stay taken, and its ring overflows
        wait_until(lambda: any(getattr(report(pool, w), "rollover", 0) for w in (0, 1)),
                   what="a worker's rollover statistics")
        threading.Timer(1.5, pool.stop).start()
        got = gather(pool)
        stats = check_accounting(pool, got)
    assert all(s.rollover is not None for s in stats.workers)
    assert sum(s.rollover for s in stats.workers) > 0
    seqs = np.concatenate([seqs_and_flows(b)[0] for bs in got.values() for b in bs])
    assert len(np.unique(seqs)) == len(seqs)
    assert len(got) == 2          # the overflow reached the other worker


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, ended but not reaped, counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_workers_of_a_killed_parent_finish_their_files(veth, tmp_path):
    from ringcap import PcapReader
    from test_cli import PACKAGE_ROOT
    template = str(tmp_path / "orphan-{worker}.pcapng")
    script = (
        "import sys, time, ringcap\n"
        "from ringcap.parallel import WorkerFiles\n"
        f"pool = ringcap.ParallelCapture({veth.b!r}, workers=2, "
        f"sink=WorkerFiles({template!r}), block_size=1 << 20, block_count=16, "
        "block_timeout_ms=5)\n"
        "print(' '.join(str(h.process.pid) for h in pool._handles), flush=True)\n"
        "time.sleep(600)\n")
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": PACKAGE_ROOT}, cwd=tmp_path)
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        with Tap(veth.b, filter="udp") as tap, TxRing(veth.a) as tx:
            tx.send([udp_frame(i, i % 16) for i in range(2000)])
            tap.wait_for(2000)                   # the workers' rings have them too
        parent.kill()
        parent.wait()
        deadline = time.monotonic() + DEADLINE
        while any(alive(pid) for pid in pids):
            assert time.monotonic() < deadline, "workers outlived their parent"
            time.sleep(0.1)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        parent.stdout.close()
    seqs = []
    for worker in (0, 1):
        path = tmp_path / f"orphan-{worker}.pcapng"
        with PcapReader(path) as reader:
            batch = Batch.concat(list(reader))
            [isb] = reader.stats                 # finished with its statistics
        assert isb.received == len(batch)
        seqs.append(seqs_and_flows(batch)[0])
    assert np.array_equal(np.sort(np.concatenate(seqs)), np.arange(2000))


def test_more_workers_than_the_machine_can_use_are_refused_at_once():
    import time as _time
    from ringcap.parallel import MAX_WORKERS_PER_CPU
    limit = MAX_WORKERS_PER_CPU * len(os.sched_getaffinity(0))
    start = _time.monotonic()
    with pytest.raises(ValueError, match=f"at most {limit}"):
        ringcap.ParallelCapture("lo", workers=limit + 1)
    proc = subprocess.run([sys.executable, "-m", "ringcap", "-i", "lo", "--workers", "999",
                           "-c", "1"], capture_output=True, text=True, timeout=60, cwd="/",
                          env={**os.environ, "PYTHONPATH": os.path.dirname(
                              os.path.dirname(ringcap.__file__))})
    assert proc.returncode != 0 and "at most" in proc.stderr, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert _time.monotonic() - start < 30


def _send_in_bursts(iface, frames, burst=100, gap=0.01):
    """A thread sending ``frames`` in bursts while the test reads."""
    def send():
        with TxRing(iface) as tx:
            for start in range(0, len(frames), burst):
                tx.send(frames[start:start + burst])
                time.sleep(gap)
    thread = threading.Thread(target=send)
    thread.start()
    return thread


def test_a_caller_may_keep_slots_minus_one_batches_while_iterating(veth):
    """slots=2 and the first batch kept (uncopied) for the whole capture: the
    pool's iterator itself holds no batch while waiting for the next, so the
    worker always has the other slot and every packet arrives."""
    frames = [udp_frame(i, 0) for i in range(4000)]
    with ParallelCapture(veth.b, workers=1, slots=2, slot_packets=1024, slot_bytes=1 << 20,
                         handoff_ms=10, **RING) as pool:
        sender = _send_in_bursts(veth.a, frames)
        timer = threading.Timer(SAFETY_S, pool.stop)
        timer.start()
        first, seqs = None, []
        for batch in pool:
            seqs.append(seqs_and_flows(batch)[0])
            first = batch if first is None else first
            if sum(map(len, seqs)) >= len(frames):
                pool.stop()
            del batch
        timer.cancel()
        sender.join()
        assert np.array_equal(np.concatenate(seqs), np.arange(len(frames)))
        assert pool.stats.total.drops == 0
        del first


def test_breaking_out_early_counts_the_batches_not_given_in_discarded(veth):
    frames = [udp_frame(i, i % 8) for i in range(4000)]
    with ParallelCapture(veth.b, workers=2, slot_packets=256, handoff_ms=0, **RING) as pool:
        with TxRing(veth.a) as tx:
            tx.send(frames)
        # several slots handed over, waiting in one poll
        wait_until(lambda: sum(getattr(report(pool, w), "delivered", 0) for w in (0, 1))
                   >= 2 * 256, what="two slots' worth of frames read by the workers")
        iterated = 0
        for batch in pool:
            iterated += len(batch)
            break
        del batch
    stats = pool.stats
    assert stats.total.delivered == len(frames)
    assert iterated + pool.discarded == stats.total.delivered


def test_close_with_a_long_handoff_lets_the_worker_finish_its_slot(veth):
    """handoff_ms=60000 and a trickle that goes on through close(): the worker
    sees the stop between two reads (not after the minute, nor killed at
    close()'s deadline), and the open slot's packets are counted."""
    trickling, sent = threading.Event(), []

    def trickle():
        with TxRing(veth.a) as tx:
            while not trickling.is_set():
                tx.send([udp_frame(len(sent), 0)])
                sent.append(1)
                time.sleep(0.01)

    pool = ParallelCapture(veth.b, workers=1, handoff_ms=60000, **RING)
    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        wait_until(lambda: getattr(report(pool, 0), "packets", 0) > 0,
                   what="the worker's ring to see the trickle")
        pool.close()
    finally:
        trickling.set()
        sender.join()
    stats = pool.stats.workers[0]
    assert pool.failures == []                     # finished, not killed
    assert stats.delivered + stats.drops == stats.packets > 0     # the final statistics
    assert pool.discarded == stats.delivered


def test_an_iterator_kept_after_close_leaves_ctrl_c_to_python(veth):
    pool = ParallelCapture(veth.b, workers=1, **RING)
    iterator = iter(pool)
    with TxRing(veth.a) as tx:
        tx.send([udp_frame(0, 0)])
    next(iterator)                          # iterating: the pool handles Ctrl-C
    assert signal.getsignal(signal.SIGINT) != signal.default_int_handler
    pool.close()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    assert list(iterator) == []
    del iterator


def test_two_pools_iterated_together_give_ctrl_c_back_whatever_ends_first(veth):
    stops = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
    original = {signum: signal.getsignal(signum) for signum in stops}
    one = ParallelCapture(veth.b, workers=1, **RING)
    two = ParallelCapture(veth.b, workers=1, **RING)
    try:
        with TxRing(veth.a) as tx:
            tx.send([udp_frame(i, 0) for i in range(10)])
        first, second = one.batches_by_worker(), two.batches_by_worker()
        next(first), next(second)           # one installed its handler, then two over it
        first.close()                       # ended out of order
        second.close()
    finally:
        one.close()
        two.close()
    try:
        with pytest.raises(KeyboardInterrupt):  # Ctrl-C does what it did before the pools
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    finally:
        # the first pool's handlers are still installed (passing signals on):
        # take them off, so that later tests find what they did before
        for signum, handler in original.items():
            signal.signal(signum, handler)


def test_close_from_another_thread_ends_an_iteration_under_way(veth):
    frames = [udp_frame(i, i % 8) for i in range(20000)]
    before = open_fds()
    pool = ParallelCapture(veth.b, workers=2, slot_packets=512, handoff_ms=0, **RING)
    errors, iterated = [], []

    def consume():
        try:
            for batch in pool:
                iterated.append(len(batch))
                time.sleep(0.001)
        except BaseException as exc:        # noqa: BLE001 - reported below
            errors.append(exc)

    consumer = threading.Thread(target=consume)
    consumer.start()
    sender = _send_in_bursts(veth.a, frames, burst=500, gap=0.005)
    wait_until(lambda: iterated or errors, what="the consumer's first batch")
    pool.close()                            # while the consumer is still iterating
    consumer.join(timeout=SAFETY_S)
    sender.join()
    assert not consumer.is_alive() and errors == []
    stats = pool.stats
    assert sum(iterated) + pool.discarded == stats.total.delivered
    assert stats.total.delivered + stats.total.drops == stats.total.packets
    assert open_fds() == before


@pytest.mark.parametrize("version", [1, 2])
def test_the_memory_check_counts_the_room_left_in_the_memory_cgroup(tmp_path, version):
    """A container's limit (here on the parent group) is less than the
    machine's MemAvailable: the pool's memory check uses what the cgroup has
    left, so it refuses with MemoryError instead of waking the OOM killer."""
    from ringcap._memory import available_memory
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "self").mkdir(parents=True)
    (proc / "meminfo").write_text("MemTotal: 25000000 kB\nMemAvailable: 24000000 kB\n")
    if version == 2:
        (proc / "self" / "cgroup").write_text("0::/box/job\n")
        files = {"box": ("1073741824", "268435456"), "box/job": ("max", "100")}
        names = ("memory.max", "memory.current")
        top = root
    else:
        (proc / "self" / "cgroup").write_text("5:cpu,cpuacct:/\n4:memory:/box/job\n0::/\n")
        files = {"box": ("1073741824", "268435456"),
                 "box/job": ("9223372036854771712", "100")}
        names = ("memory.limit_in_bytes", "memory.usage_in_bytes")
        top = root / "memory"
    for folder, values in files.items():
        (top / folder).mkdir(parents=True)
        for name, value in zip(names, values):
            (top / folder / name).write_text(value + "\n")
    assert available_memory(str(proc), str(root)) == 1073741824 - 268435456
    (proc / "self" / "cgroup").write_text("0::/\n" if version == 2 else "4:memory:/\n")
    assert available_memory(str(proc), str(root)) == 24000000 * 1024   # no limit: meminfo


def test_iterating_one_pool_twice_at_once_is_refused_clearly(veth):
    with ParallelCapture(veth.b, workers=1, **RING) as pool:
        with TxRing(veth.a) as tx:
            tx.send([udp_frame(0, 0)])
        first = iter(pool)
        next(first)
        with pytest.raises(RuntimeError, match="already being iterated"):
            next(iter(pool))
        first.close()
        pool.stop()
        assert list(pool) == []              # once the first is done, a new loop may start


def test_a_worker_that_does_not_finish_when_the_pool_closes_is_reported(veth, monkeypatch):
    """One worker frozen (SIGSTOP) through close(): after close()'s time it
    is killed and listed in failures with its last statistics; the other
    worker finishes normally."""
    import ringcap.parallel as parallel
    monkeypatch.setattr(parallel, "CLOSE_TIMEOUT", 0.5)
    monkeypatch.setattr(parallel, "EXIT_TIMEOUT", 0.5)
    pool = ParallelCapture(veth.b, workers=2, **RING)
    frozen = pool._handles[1].process
    os.kill(frozen.pid, signal.SIGSTOP)
    pool.close()
    [failure] = pool.failures
    assert failure.worker == 1 and failure.pid == frozen.pid
    assert failure.exitcode == -signal.SIGKILL
    assert "did not finish when the pool closed" in str(failure)
    assert pool._handles[0].finished


SAFE_PATH_SCRIPT = """
import sys, ringcap
from test_fanout import seqs_and_flows
with ringcap.ParallelCapture(sys.argv[1], workers=2, block_size=1 << 20, block_count=16,
                             block_timeout_ms=5) as pool:
    print("started", sys.flags.safe_path, flush=True)
    pool.stop_after(60)
    seen = set()
    for batch in pool:
        seen.update(seqs_and_flows(batch)[0].tolist())
        if len(seen) >= int(sys.argv[2]):
            pool.stop()
    print(len(seen), pool.stats.total.delivered, pool.stats.total.drops, flush=True)
"""


@pytest.mark.parametrize("how", ["PYTHONSAFEPATH=1", "python -P"])
def test_a_pool_starts_its_workers_under_safe_path(veth, tmp_path, how):
    """With safe-path, `-c` puts no working directory first on sys.path, so the
    worker must not drop sys.path[0] (it used to, and failed: no module named ringcap)."""
    from test_cli import PACKAGE_ROOT
    tests = os.path.dirname(os.path.abspath(__file__))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([PACKAGE_ROOT, tests])}
    flags = []
    if how == "python -P":
        flags = ["-P"]
    else:
        env["PYTHONSAFEPATH"] = "1"
    n = 1000
    proc = subprocess.Popen([sys.executable, *flags, "-c", SAFE_PATH_SCRIPT, veth.b, str(n)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, cwd=tmp_path)
    try:
        assert proc.stdout.readline().split() == ["started", "True"], proc.stderr.read()
        with TxRing(veth.a) as tx:
            deadline = time.monotonic() + 30
            sent = 0
            while proc.poll() is None and time.monotonic() < deadline:
                tx.send([udp_frame(sent + i, i % 16) for i in range(100)])   # flows to both
                sent += 100
                time.sleep(0.01)
        out, err = proc.communicate(timeout=90)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    seen, delivered, drops = (int(v) for v in out.split())
    assert seen >= n and delivered >= seen


@pytest.mark.parametrize("stop_first", [True, False], ids=["stopped", "running"])
def test_a_frozen_worker_is_killed_and_named_instead_of_blocking_the_iteration(veth, stop_first):
    """SIGSTOP one worker (then stop() the pool, or not): the iteration ends
    within worker_timeout plus a margin, names the frozen worker in failures,
    and every packet it yielded is accounted for.  It used to block forever."""
    timeout = 3.0
    pool = ParallelCapture(veth.b, workers=2, worker_timeout=timeout, **RING)
    frozen = pool._handles[1].process
    # a watchdog so that a regression fails the test instead of hanging it
    watchdog = threading.Timer(90, frozen.kill)
    watchdog.start()
    got: dict[int, int] = {0: 0, 1: 0}
    stopped_at: list[float] = []
    try:
        with pool:
            with TxRing(veth.a) as tx:
                tx.send([udp_frame(i, i % 16) for i in range(2000)])   # flows to both
            iterator = pool.batches_by_worker()
            with pytest.raises(WorkerDiedError) as died:
                for worker, batch in iterator:
                    got[worker] += len(batch)
                    if got[0] and got[1] and frozen.returncode is None and not stopped_at:
                        os.kill(frozen.pid, signal.SIGSTOP)
                        stopped_at.append(time.monotonic())
                        if stop_first:
                            pool.stop()
            ended = time.monotonic()
    finally:
        watchdog.cancel()
        if frozen.poll() is None:
            os.kill(frozen.pid, signal.SIGCONT)
            frozen.kill()
            frozen.wait()
    assert stopped_at, "both workers should have handed packets over before the freeze"
    assert ended - stopped_at[0] < timeout + 15
    [failure] = died.value.failures
    assert failure == pool.failures[0]
    assert failure.worker == 1 and failure.pid == frozen.pid
    assert failure.exitcode == -signal.SIGKILL
    why = "stopped answering" + (" while finishing" if stop_first else "")
    assert f"killed by SIGKILL: {why} (nothing from it for 3 s)" in str(failure)
    stats = pool.stats
    assert stats.workers[0].packets == stats.workers[0].delivered + stats.workers[0].drops
    assert [s.delivered for s in stats.workers] == [got[0], got[1]]
    assert stats.total.delivered == got[0] + got[1]


def ordered(pool, until, seconds=SAFETY_S):
    """Iterate ``pool.in_time_order()`` until ``until(batches)`` (then stop it
    and read to the end; a timer stops it anyway); returns the batches and
    the monotonic time each arrived."""
    timer = threading.Timer(seconds, pool.stop)
    timer.start()
    batches, times = [], []
    try:
        for batch in pool.in_time_order():
            batches.append(batch)
            times.append(time.monotonic())
            if until(batches):
                pool.stop()
    finally:
        timer.cancel()
    return batches, times


def test_in_time_order_gives_every_packet_once_never_going_back_in_time(veth):
    n = 6000

    def send():
        _send_in_bursts(veth.a, [udp_frame(i, i % 16) for i in range(n)])
        pool.stop_after(3.0)        # what a loaded machine dropped never comes: stop anyway

    with ParallelCapture(veth.b, workers=2, mode="lb", filter="udp", **RING) as pool:
        sender = threading.Thread(target=send)
        sender.start()
        try:
            batches, _ = ordered(pool, lambda bs: sum(len(seqs_and_flows(b)[0]) for b in bs) >= n)
        finally:
            sender.join()
        stats = pool.stats
    ts = np.concatenate([b.ts for b in batches])
    assert np.all(ts[1:] >= ts[:-1]) and pool.late == 0
    assert len(ts) == stats.total.delivered
    for st in stats.workers:
        assert st.packets == st.delivered + st.drops and st.delivered > 0
    seqs = np.concatenate([seqs_and_flows(b)[0] for b in batches])
    assert len(np.unique(seqs)) == len(seqs) == len(ts) and np.all(seqs < n)
    lost = stats.total.drops + stats.total.backlog_drops + stats.total.if_drops
    assert len(seqs) == n or lost > 0


def test_an_idle_worker_does_not_hold_back_the_others_packets(veth):
    """One flow, hash fanout: one worker gets everything, the other nothing.
    With max_delay far away, only the idle worker's progress mark can let the
    busy one's packets out: they must come while the capture runs, within
    the documented hold-back (block timeout + 0.1 s + handoff + 0.2 s) and
    a generous margin for a loaded machine."""
    with ParallelCapture(veth.b, workers=2, mode="hash", filter="udp", **RING) as pool:
        timer = threading.Timer(SAFETY_S, pool.stop)
        timer.start()
        try:
            with TxRing(veth.a) as tx:
                tx.send([udp_frame(i, 3) for i in range(500)])
            sent_at = time.monotonic()
            first = next(pool.in_time_order(max_delay=3600))
            arrived = time.monotonic()
            assert pool.running                        # not released by the end of the capture
            pool.stop()
        finally:
            timer.cancel()
        assert len(seqs_and_flows(first)[0]) > 0
        assert arrived - sent_at < 10
        stats = pool.stats.workers
    assert sorted(s.delivered > 0 for s in stats) == [False, True]     # one worker was idle


def test_a_frozen_worker_holds_the_merge_back_at_most_max_delay(veth):
    """A worker frozen (SIGSTOP) makes no progress mark: the others' packets
    still come out once they are max_delay old."""
    pool = ParallelCapture(veth.b, workers=2, mode="hash", worker_timeout=60, **RING)
    frozen = pool._handles[1].process
    try:
        with pool:
            os.kill(frozen.pid, signal.SIGSTOP)
            timer = threading.Timer(SAFETY_S, pool.stop)
            timer.start()
            try:
                with TxRing(veth.a) as tx:
                    tx.send([udp_frame(i, f) for f in range(16) for i in range(50)])
                sent_at = time.monotonic()
                first = next(pool.in_time_order(max_delay=1.0))
                arrived = time.monotonic()
            finally:
                timer.cancel()
            assert len(first) > 0 and 0.5 < arrived - sent_at < 10
            os.kill(frozen.pid, signal.SIGCONT)
    finally:
        if frozen.poll() is None:
            os.kill(frozen.pid, signal.SIGCONT)


def test_the_merge_counts_packets_that_come_after_newer_ones():
    """The merge itself, on batches made by hand: packets are given out up to
    the mark; a packet older than one already given out (its worker was late)
    comes next, counted in late; past max_held_bytes everything goes out."""
    from ringcap.timeorder import TimeOrder

    def batch(*ts):
        return Batch.from_packets([bytes([t]) * 60 for t in ts], ts=np.array(ts, dtype=np.int64))

    order = TimeOrder(max_delay=2.0, max_held_bytes=1 << 20)
    order.add(batch(10, 20, 30))
    order.add(batch(12, 25))
    out = order.take(25)
    assert out.ts.tolist() == [10, 12, 20] and out.packets()[1] == bytes([12]) * 60
    order.add(batch(15, 40))                   # 15: older than 20, already out
    out = order.take(None)
    assert out.ts.tolist() == [15, 25, 30, 40] and order.late == 1
    assert [p[0] for p in out.packets()] == [15, 25, 30, 40]
    assert order.held_packets == 0 and order.held_bytes == 0
    small = TimeOrder(max_delay=2.0, max_held_bytes=100)
    small.add(batch(5, 6))
    assert small.take(0).ts.tolist() == [5, 6]     # over the limit: out despite the mark


def test_the_merge_holds_back_longer_than_a_long_block_timeout(veth):
    """A packet may wait a whole block timeout in its ring: the merge's default
    max_delay grows with it (else a 3 s block timeout would make packets late)."""
    with ParallelCapture(veth.b, workers=2, **dict(RING, block_timeout_ms=3000)) as pool:
        assert pool.hold_back == pytest.approx(3.0 + 0.1 + 0.1 + 0.2)
        iterator = pool.in_time_order()
        assert pool.max_delay == pytest.approx(pool.hold_back + 1.0)
        iterator.close()
    with ParallelCapture(veth.b, workers=2, **RING) as pool:
        pool.in_time_order().close()
        assert pool.max_delay == 2.0


def test_run_with_worker_sinks_ends_when_a_worker_is_frozen(veth, tmp_path):
    """run() (workers writing their own files) waits with a deadline too: a
    frozen worker is killed after worker_timeout and named; the other
    worker's file is finished with its statistics."""
    from ringcap import PcapReader
    pool = ParallelCapture(veth.b, workers=2, worker_timeout=3,
                           sink=WorkerFiles(str(tmp_path / "w{worker}.pcapng")), **RING)
    frozen = pool._handles[1].process
    watchdog = threading.Timer(90, frozen.kill)     # a regression fails instead of hanging
    watchdog.start()
    try:
        with pool:
            with TxRing(veth.a) as tx:
                tx.send([udp_frame(i, i % 16) for i in range(1000)])
            os.kill(frozen.pid, signal.SIGSTOP)
            started = time.monotonic()
            with pytest.raises(WorkerDiedError, match="worker 1 .*stopped answering"):
                pool.run(duration=0.5)
            ended = time.monotonic()
    finally:
        watchdog.cancel()
        if frozen.poll() is None:
            os.kill(frozen.pid, signal.SIGCONT)
            frozen.kill()
            frozen.wait()
    assert ended - started < 3 + 15
    with PcapReader(tmp_path / "w0.pcapng") as reader:
        batch = Batch.concat(list(reader))
        [isb] = reader.stats
    assert isb.received == len(batch) + isb.dropped == pool.stats.workers[0].packets


class _SlowClose:
    """A sink whose close takes SLOW_CLOSE_S (a big final flush, a slow disk)."""

    def __init__(self, sink):
        self._sink = sink

    def __getattr__(self, name):
        return getattr(self._sink, name)

    def close(self, stats=None):
        time.sleep(SLOW_CLOSE_S)
        return self._sink.close(stats)


SLOW_CLOSE_S = 5.0


class SlowClosingFiles(WorkerFiles):
    def __call__(self, worker: int):
        return _SlowClose(super().__call__(worker))


def test_a_worker_whose_sink_closes_slowly_is_not_taken_for_a_silent_one(veth, tmp_path):
    """A sink's close may outlast worker_timeout: the worker keeps answering
    (a heartbeat) meanwhile, so it is not killed and its file is finished."""
    from ringcap import PcapReader
    with ParallelCapture(veth.b, workers=2, worker_timeout=2,
                         sink=SlowClosingFiles(str(tmp_path / "s{worker}.pcapng")),
                         **RING) as pool:
        with TxRing(veth.a) as tx:
            tx.send([udp_frame(i, i % 16) for i in range(1000)])
        stats = pool.run(duration=0.5)
    assert pool.failures == []
    assert [s is not None for s in pool.summaries] == [True, True]
    for worker in (0, 1):
        with PcapReader(tmp_path / f"s{worker}.pcapng") as reader:
            batch = Batch.concat(list(reader))
            [isb] = reader.stats
        assert isb.received == stats.workers[worker].packets
        assert len(batch) == stats.workers[worker].delivered
