"""Capture with several processes: one ring each, in one fanout group.

:class:`ParallelCapture` starts N worker processes.  Each opens its own
:class:`~ringcap.RxRing` on the interface, all in one ``PACKET_FANOUT``
group, so the kernel hands every packet to exactly one of them, optionally
with each worker pinned to a CPU.  A worker either writes to its own sink
(files, datasets: nothing crosses processes) or drains its ring straight
into slots of a shared-memory segment (a memfd) and logs in that memory
which slot is full, with one eventfd write to wake the parent; the parent
yields those slots as batches, without copying or pickling any packet, and
logs each slot back (another eventfd) once no batch refers to it, or merges
the workers' batches into time order (``in_time_order``), holding packets
back only as long as a worker may still hand over older ones.  The pipes
carry only the rare messages: the group id and stop to a worker; ready,
statistics, the end and errors from it.

Stopping (``stop()``, Ctrl-C, SIGTERM) closes every worker's ring to new
packets, reads out what the kernel already gave it, and only then ends, so
per worker ``delivered + drops == packets`` and nothing delivered is lost.
A worker that dies is reported with its exit code and last statistics; one
that stops answering (frozen, stuck) is killed after ``worker_timeout`` and
reported the same way.

One module of some 1,600 lines because the worker's loop and the parent's
are the two ends of one shared-memory protocol (slots, logs, eventfds,
messages, progress marks) and change together.  What the pool reports
(`PoolStats`, `WorkerFailure`, `WorkerDiedError`) is in `poolstats`, and how
much memory the host has left for its slots in `_memory`.
"""
from __future__ import annotations

import contextlib
import dataclasses
import gc
import json
import math
import mmap
import os
import pickle
import resource
import select
import signal
import subprocess
import sys
import threading
import time
import warnings
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Callable, Iterator, Sequence

import numpy as np

from .batch import COLUMNS, Batch
from .fanout import Fanout
from ._memory import available_memory
from ._validate import _is_real, check_count, check_seconds
from .ring import RxRing, Stats, _check_positive_int
from .pcapfile import PcapWriter
from .sinks import PcapSink
from .sinks.driving import CaptureSummary, StopSignals
from .poolstats import PoolStats, WorkerDiedError, WorkerFailure, _SinkProgress, _sum_stats
from .timeorder import TimeOrder, merge

_ALIGN = 64
STATS_EVERY = 1.0          # seconds between a worker's statistics reports
WORKER_POLL = 0.2          # seconds between an idle worker's looks at its ring (to write
                           # its progress for in_time_order); also a read's wait on a ring
                           # whose socket reports an error
GATHER_HEADROOM = 4        # a worker filling a slot lets blocks gather in its ring for as
                           # long as a quarter of the ring would last at this many times
                           # the rate it saw (see _Worker.gathering)
RING_READY, RING_BROKEN = 1, 2     # what a worker's wait found on its ring's socket
_POLL_BROKEN = select.POLLERR | select.POLLHUP | select.POLLNVAL
PARENT_POLL = 5.0          # longest wait of the parent: stop(), a signal, a deadline, a
                           # worker's hand-off, message or end wake it at once
START_TIMEOUT = 60.0       # seconds a worker may take to start and open its ring
CLOSE_TIMEOUT = 30.0       # seconds close() lets the workers hand over what they hold
ORDER_MARGIN = 0.1         # seconds a packet may take from its timestamp to a ring block
                           # (input backlog, timer slack): see ParallelCapture.in_time_order
ORDER_MAX_DELAY = 2.0      # default longest hold-back of the time-ordered merge, seconds
ORDER_MAX_HELD = 256 << 20  # default bytes (packets and columns) the merge may hold
ORDER_POLL = 0.05          # seconds between the merge's looks at the workers' progress
WORKER_TIMEOUT = 30.0      # default seconds a worker may stay silent (it reports every
                           # STATS_EVERY) before it is killed as not answering
EXIT_TIMEOUT = 10.0        # then seconds a worker has to exit before it is killed


# --------------------------------------------------------------------------
# Shared-memory slots: a header with the two hand-off logs, then the slots,
# one batch each, columns then packet bytes.

_RECORD = 5          # a full slot's record: slot, packets, bytes, drops, freezes


def _log_words(slots: int) -> int:
    """The header's 8-byte words: the two logs, then the worker's progress."""
    return slots * (_RECORD + 1) + 1


def _header_size(slots: int) -> int:
    """Bytes before the first slot: the full-slot log, the freed-slot log and
    the progress word."""
    return -(-_log_words(slots) * 8 // mmap.PAGESIZE) * mmap.PAGESIZE


def _slot_layout(slot_packets: int, slot_bytes: int) -> tuple[dict[str, int], int]:
    offsets, pos = {}, 0
    for name, dtype in COLUMNS.items():
        offsets[name] = pos
        pos += -(-slot_packets * dtype.itemsize // _ALIGN) * _ALIGN
    offsets["data"] = pos
    pos += -(-slot_bytes // _ALIGN) * _ALIGN
    return offsets, pos


class _HandoffLog:
    """The hand-off in shared memory, without pickling or pipes.

    The worker writes the record of the n-th full slot at entry ``n %
    slots`` of the full log, then adds 1 to the parent's eventfd; the parent
    reads the eventfd (how many records are new) and then the records.  The
    parent gives a slot back the same way through the freed log and the
    worker's eventfd.  At most ``slots`` entries of a log are ever unread
    (each stands for a slot), so an entry is never overwritten before it is
    read, and the eventfd's write and read order the memory on every
    architecture.  Each side counts its own entries.

    The last word is the worker's progress: a time (ns since the epoch)
    before which every packet its ring will ever take has been handed over
    (logged as full).  The worker writes it after the eventfd write of the
    slots it covers, and the parent reads it before it reads the eventfd,
    so the slots a progress it saw covers are always in the count it reads."""

    def __init__(self, buffer, slots: int) -> None:
        self.slots = slots
        self.words = memoryview(buffer)[:_log_words(slots) * 8].cast("q")
        self.full_count = 0        # records written (worker) or read (parent)
        self.freed_count = 0       # slots given back (parent) or taken back (worker)

    def put_full(self, slot: int, n: int, nbytes: int, drops: int, freezes: int) -> None:
        base = self.full_count % self.slots * _RECORD
        words = self.words
        words[base], words[base + 1], words[base + 2] = slot, n, nbytes
        words[base + 3], words[base + 4] = drops, freezes
        self.full_count += 1

    def take_full(self) -> tuple[int, int, int, int, int]:
        base = self.full_count % self.slots * _RECORD
        self.full_count += 1
        return tuple(self.words[base:base + _RECORD])

    def put_freed(self, slot: int) -> None:
        self.words[self.slots * _RECORD + self.freed_count % self.slots] = slot
        self.freed_count += 1

    def take_freed(self) -> int:
        slot = self.words[self.slots * _RECORD + self.freed_count % self.slots]
        self.freed_count += 1
        return slot

    @property
    def progress(self) -> int:
        return self.words[self.slots * (_RECORD + 1)]

    @progress.setter
    def progress(self, ns: int) -> None:
        self.words[self.slots * (_RECORD + 1)] = ns

    def release(self) -> None:
        self.words.release()


def _eventfd_take(fd: int) -> int:
    """The count an eventfd holds (0 if none), resetting it."""
    try:
        return os.eventfd_read(fd)
    except BlockingIOError:
        return 0


def _slot_stores(buffer, slots: int, slot_packets: int, slot_bytes: int) -> list[dict]:
    offsets, size = _slot_layout(slot_packets, slot_bytes)
    stores = []
    for slot in range(slots):
        base = _header_size(slots) + slot * size
        store = {name: np.frombuffer(buffer, dtype=dtype, count=slot_packets,
                                     offset=base + offsets[name])
                 for name, dtype in COLUMNS.items()}
        store["data"] = np.frombuffer(buffer, dtype=np.uint8, count=slot_bytes,
                                      offset=base + offsets["data"])
        stores.append(store)
    return stores


def _map_slots(memfd: int) -> mmap.mmap:
    # populated up front: a page first touched mid-capture costs a fault and
    # zeroing (about 20 ns per 64-byte packet)
    return mmap.mmap(memfd, 0, flags=mmap.MAP_SHARED | mmap.MAP_POPULATE)


def _slot_unused(store: dict) -> bool:
    # references: the store dict, the loop variable, getrefcount's argument
    return all(sys.getrefcount(array) <= 3 for array in store.values())


# --------------------------------------------------------------------------
# The worker process

def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _user_seconds() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_utime


def _stats_dict(stats: Stats) -> dict:
    return dataclasses.asdict(stats)


# The worker imports the same ringcap as this process: `-c` would put the working
# directory first on sys.path, and a source checkout there (a package without its
# compiled modules) would shadow the installed one, so the child drops that entry.
# With safe-path (PYTHONSAFEPATH=1, inherited by the child) `-c` adds no entry, and
# the first one is a real one that must stay.
_WORKER_BOOT = ("import sys\n"
                "if not getattr(sys.flags, 'safe_path', False): del sys.path[0]\n"
                "from ringcap.parallel import _worker_main; _worker_main()")


def _worker_path() -> str:
    """PYTHONPATH for a worker: the folder this ringcap was imported from, then ours."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return os.pathsep.join([here] + [p for p in sys.path if p and p != here])


def _worker_main() -> None:
    """Entry point of a worker process (run by ParallelCapture)."""
    path = json.loads(sys.stdin.buffer.readline())
    sys.path[:0] = [p for p in path if p not in sys.path]
    config = pickle.load(sys.stdin.buffer)
    up = Connection(config["up"], readable=False)
    down = Connection(config["down"], writable=False)
    stop = []
    signal.signal(signal.SIGINT, signal.SIG_IGN)      # the parent decides on Ctrl-C
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    worker = None
    try:
        worker = _Worker(config, up, down, stop)
        # a signal (SIGTERM) ends the worker's sleep in poll() at once
        signal.set_wakeup_fd(worker.signal_w, warn_on_full_buffer=False)
        worker.run()
    except BaseException as exc:   # report (with the counts it has), then exit non-zero
        counts = (None, None) if worker is None else worker.counts
        try:
            up.send(("error", f"{type(exc).__name__}: {exc}", *counts))
        except OSError:
            pass
        sys.exit(1)
    finally:
        if worker is not None:
            signal.set_wakeup_fd(-1)
            os.close(worker.signal_r)
            os.close(worker.signal_w)
    sys.exit(0)


class _Worker:
    def __init__(self, config: dict, up: Connection, down: Connection, stop: list) -> None:
        self.config, self.up, self.down, self.stop = config, up, down, stop
        self.index = config["index"]
        self.free: list[int] = []
        self.sink = None
        self.ring = None
        self.counts: tuple[dict | None, dict | None] = (None, None)   # see run()
        self.mapping = None
        self.stores: list[dict] = []
        self.outs: list[Batch] = []
        self.log: _HandoffLog | None = None
        self.progress: _SinkProgress | None = None     # with a sink: what it wrote
        self.files_told = -1                           # of its sink's finished files
        self.full_efd, self.freed_efd = config["full_efd"], config["freed_efd"]
        self.parent_gone = False
        self.next_report = 0.0
        self.quiet = 0                 # ns: a time before which the ring held nothing unread
        self.ring_empty = True         # the last read stopped for want of packets
        self.ring_fd = -1
        self.next_progress = 0.0       # when an idle worker next writes its progress
        self.poller = select.poll()
        self.poller.register(down.fileno(), select.POLLIN)
        if self.freed_efd is not None:
            self.poller.register(self.freed_efd, select.POLLIN)
        # The worker sleeps in one poll() until there is work: a finished ring
        # block (with a free slot to read it into), a slot given back (with
        # none free), a message, a signal, or its next report.  The ring's own
        # read() would wake every 50 ms to look for signals, and each wakeup
        # costs this VM 100-250 us of CPU (docs/parallel.md).
        self.signal_r, self.signal_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.waiting_for_packets = select.poll()
        self.waiting_for_slots = select.poll()
        for waiter in (self.waiting_for_packets, self.waiting_for_slots):
            waiter.register(down.fileno(), select.POLLIN)
            waiter.register(self.signal_r, select.POLLIN)
        if self.freed_efd is not None:
            self.waiting_for_slots.register(self.freed_efd, select.POLLIN)

    def tell(self, message: tuple) -> None:
        """Send to the parent; a parent that is gone makes the worker finish."""
        if self.parent_gone:
            return
        try:
            self.up.send(message)
        except OSError:
            self.parent_gone = True
            self.stop.append(True)

    def control(self, timeout: float = 0.0) -> None:
        """Take the slots the parent gave back and handle its messages (the
        group id, stop); waits up to ``timeout`` for either."""
        # one poll object for the worker's life: Connection.poll() builds a
        # selector on every call, which costs more than the read it guards
        while events := self.poller.poll(int(timeout * 1000)):
            timeout = 0.0
            for fd, _ in events:
                if fd == self.freed_efd:
                    for _ in range(_eventfd_take(fd)):
                        self.free.append(self.log.take_freed())
                    continue
                try:
                    message = self.down.recv()
                except (EOFError, OSError):
                    self.parent_gone = True
                    self.stop.append(True)
                    return
                kind = message[0]
                if kind == "group":
                    self.group_id = message[1]
                elif kind == "stop":
                    self.stop.append(True)

    def run(self) -> None:
        config = self.config
        if config["cpu"] is not None:
            os.sched_setaffinity(0, {config["cpu"]})
        fanout: Fanout = config["fanout"]
        if self.index > 0:
            # join only when the parent says so: members are numbered in joining order
            self.group_id = None
            while self.group_id is None:
                self.control(1.0)
                if self.stop:
                    return
            fanout = fanout.joined(self.group_id)
        if config["sink"] is not None:
            self.mapping = mmap.mmap(config["memfd"], 0)
            self.progress = _SinkProgress(self.mapping)
            self.sink = config["sink"](self.index)
            self.sink_wrote()                  # a header written at open is in the file
        else:
            self.mapping = _map_slots(config["memfd"])
            self.log = _HandoffLog(self.mapping, config["slots"])
            self.stores = _slot_stores(self.mapping, config["slots"], config["slot_packets"],
                                       config["slot_bytes"])
            self.free = list(range(config["slots"]))
            self.outs = [Batch._from_store(store, 0, 0) for store in self.stores]
        stats = summary = error = None
        try:
            self.ring = RxRing(config["iface"], fanout=fanout, **config["ring_options"])
            self.ring_fd = self.ring.fileno()
            self.waiting_for_packets.register(self.ring_fd, select.POLLIN)
            # what start-up made stays: the collector need not walk it again
            # (in a nearly idle worker it took some 15% of the CPU, by perf)
            gc.freeze()
            self.up.send(("ready", self.ring.fanout.group_id, self.ring.interfaces,
                          self.ring.block_timeout_ms))
            cpu_start, user_start = _cpu_seconds(), _user_seconds()
            self.capture()
            stats = self.finish()
        except BaseException as exc:
            error = exc
            stats = self.stats_at_failure()
        finally:
            if self.ring is not None:
                self.ring.close()
            if self.sink is not None:
                self.progress.may_write_all(self.sink)
                with self.heartbeat():         # closing may take long: still answering
                    try:
                        summary = dataclasses.asdict(self.sink.close(stats))
                    except BaseException as exc:   # (the write that failed, raised again)
                        error = error or exc
                        with contextlib.suppress(BaseException):   # close() is idempotent
                            summary = dataclasses.asdict(self.sink.close())
                self.progress.wrote(self.sink)
            self.stores = []
            self.outs = []
            if self.log is not None:
                self.log.release()
            if self.progress is not None:
                self.progress.release()
            # sent with an error (_worker_main): the pool counts this worker's packets
            self.counts = (None if stats is None else _stats_dict(stats), summary)
        if error is not None:
            raise error
        self.tell(("final", _stats_dict(stats), summary,
                   (_cpu_seconds() - cpu_start, _user_seconds() - user_start)))

    def stats_at_failure(self) -> Stats | None:
        """The ring's statistics when the worker fails, its gate closed first (no
        packet comes after them); None without a ring, or if it cannot say."""
        if self.ring is None:
            return None
        with contextlib.suppress(OSError, ValueError):
            self.ring.close_gate()          # (a ring that broke may refuse it)
        try:
            return self.ring.stats
        except (OSError, ValueError):
            return None

    @contextlib.contextmanager
    def heartbeat(self):
        """Tell the parent every STATS_EVERY that this worker is alive while the
        body runs (a sink's close may take longer than the parent waits for a
        silent worker); nothing else is sent meanwhile, so the pipe has one
        writer at a time."""
        done = threading.Event()

        def beat() -> None:
            while not done.wait(STATS_EVERY):
                self.tell(("alive",))

        beating = threading.Thread(target=beat, name="ringcap-heartbeat", daemon=True)
        beating.start()
        try:
            yield
        finally:
            done.set()
            beating.join()

    def wait(self, until: float, reading: bool) -> int:
        """Sleep in one poll() until there is work or the monotonic time
        ``until``: a finished ring block if ``reading`` (a slot or the sink to
        read it into), else a slot given back; a message from the parent or a
        signal end the sleep too (handled here).  Returns RING_READY when the
        ring has something to read (or a slot came back, so look), RING_BROKEN
        when the ring's socket reports an error (read it with a timeout: the
        ring's own wait handles that, and raises once nothing is left), else 0."""
        waiter = self.waiting_for_packets if reading else self.waiting_for_slots
        ring, other = 0, False
        for fd, events in waiter.poll(max(0, math.ceil((until - time.monotonic()) * 1000))):
            if fd == self.ring_fd:
                ring = RING_BROKEN if events & _POLL_BROKEN else RING_READY
            elif fd == self.signal_r:
                try:
                    os.read(self.signal_r, 4096)      # its handler has run (stop)
                except BlockingIOError:
                    pass
            else:
                other = True
        if other:
            had_slot = bool(self.free)
            self.control()
            if not had_slot and self.free:
                ring = ring or RING_READY
        return ring

    def deliver(self, timeout: float = 0.0) -> int:
        """Read into the sink or a free slot, waiting up to ``timeout`` for a
        first packet; returns packets read.  Sets ``ring_empty``: whether the
        last read stopped for want of packets (not of room)."""
        if self.sink is not None:
            batch = self.ring.read(self.config["slot_packets"], timeout=timeout)
            self.ring_empty = len(batch) < self.config["slot_packets"]
            if len(batch):
                self.progress.took(len(batch), self.sink)
                try:
                    self.sink.write(batch)
                finally:
                    self.sink_wrote()
            return len(batch)
        if not self.free:
            self.control(timeout)
            if not self.free:
                return 0
        slot = self.free[-1]
        slot_packets = self.config["slot_packets"]
        batch = self.ring.read(slot_packets, timeout=timeout, out=self.outs[slot])
        self.note_drained(batch)
        if not len(batch):
            self.log.progress = self.quiet     # nothing held back: tell the parent
            return 0
        self.free.pop()           # being filled (slots given back meanwhile go after it)
        # Fill the slot with the blocks that follow for up to handoff_ms: the
        # hand-off (a log entry and an eventfd write, a wakeup of the parent, a
        # slot coming back) is then paid per slot, not per ring block.  Between
        # blocks the worker sleeps in wait(), which a stop ends at once.
        started = time.monotonic()
        deadline = started + self.config["handoff"]
        try:
            while len(batch) < slot_packets:
                self.report_stats()
                now = time.monotonic()
                if self.stop or now >= deadline:
                    break
                read_timeout = 0.0
                if self.ring_empty:
                    until = min(deadline, self.next_report)
                    pause = self.gathering(len(batch.data), now - started)
                    if pause >= 0.001:
                        # let blocks gather in the ring (which has room for
                        # them): one wakeup for several blocks, not one each
                        self.wait(min(until, now + pause), reading=False)
                        until = 0.0               # then only look
                    ring = self.wait(until, reading=True)
                    if not ring:
                        continue          # the deadline, a report or a message: look again
                    if ring == RING_BROKEN:
                        read_timeout = WORKER_POLL
                before = len(batch)
                self.ring.read(slot_packets, timeout=read_timeout, out=batch, append=True)
                self.note_drained(batch)
                if len(batch) == before:
                    break             # the slot is full, or nothing came after all
        finally:
            # handed over even if a read fails (the interface went away): the
            # packets already in the slot were delivered by the ring
            self.log.put_full(slot, len(batch), len(batch.data), batch.drops, batch.freeze_count)
            os.eventfd_write(self.full_efd, 1)
            self.log.progress = self.quiet     # after the eventfd write that covers it
        return len(batch)

    def gathering(self, nbytes: int, elapsed: float) -> float:
        """Seconds the worker may leave its ring unread while it fills a slot
        (``nbytes`` read into it over ``elapsed`` seconds): the time in which
        the ring could use a quarter of its blocks if packets came at four times
        that rate (each block retired by the block timeout, at most one per
        timeout, counted as used whole)."""
        ring = self.ring
        timeout = ring.block_timeout_ms / 1000
        rate = nbytes / max(elapsed, timeout)
        return ring.block_count / 4 / (1 / timeout + GATHER_HEADROOM * rate / ring.block_size)

    def note_drained(self, batch: Batch) -> None:
        """After a read into ``batch``: if it stopped for want of packets (not of
        room), the ring had no finished block left unread, so a packet not yet
        read can only be in the block being filled (handed over within the
        block timeout) or on its way there (ORDER_MARGIN): every packet stamped
        before now minus both has been read."""
        config = self.config
        self.ring_empty = len(batch) < config["slot_packets"] and \
            len(batch.data) + self.ring.snaplen + 4 <= config["slot_bytes"]
        if self.ring_empty:
            self.mark_quiet()

    def mark_quiet(self) -> None:
        """The ring held no finished block unread just now: every packet
        stamped before now minus the block timeout and ORDER_MARGIN is read."""
        self.quiet = time.time_ns() - int((self.ring.block_timeout_ms / 1000
                                           + ORDER_MARGIN) * 1e9)

    def report_stats(self) -> None:
        """Send the ring's statistics every STATS_EVERY seconds (what the parent
        reports for a worker that dies)."""
        now = time.monotonic()
        if now >= self.next_report:
            self.tell(("stats", _stats_dict(self.ring.stats)))
            self.next_report = now + STATS_EVERY

    def capture(self) -> None:
        """Read while there is something to read, else sleep in wait(); an idle
        worker looks at its ring every WORKER_POLL anyway, to write its progress."""
        self.next_report = time.monotonic() + STATS_EVERY
        ring = RING_READY                      # look before the first sleep
        while not self.stop:
            if ring:
                self.deliver(WORKER_POLL if ring == RING_BROKEN else 0.0)
                self.next_progress = time.monotonic() + WORKER_POLL
                reading = self.sink is not None or bool(self.free)
                ring = RING_READY if reading and not self.ring_empty else 0
            self.report_stats()
            if ring or self.stop:
                continue
            reading = self.sink is not None or bool(self.free)
            # a worker with a sink has no progress to write: it wakes to report
            until = self.next_report if self.log is None else \
                min(self.next_report, self.next_progress)
            ring = self.wait(until, reading)
            if not ring and self.sink is not None:
                self.tick_sink()                # (every STATS_EVERY at least)
            if not ring and reading and time.monotonic() >= self.next_progress:
                # the poll that just ended found no finished block, and the
                # last read emptied the ring: as after a read that stopped for
                # want of packets, everything stamped before now minus the
                # block timeout and ORDER_MARGIN has been handed over (a write
                # to shared memory, not a read: each read costs a trip
                # through Python that this VM charges 0.3-0.5 ms for)
                if self.log is not None and self.ring_empty:
                    self.mark_quiet()
                    self.log.progress = self.quiet
                self.next_progress = time.monotonic() + WORKER_POLL

    def tick_sink(self) -> None:
        """On a quiet link, as a single capture's loop does: records that waited
        the flush interval go out (not at the next packet, or lost to a kill)."""
        self.progress.may_write_all(self.sink)
        try:
            self.sink.tick()
        finally:
            self.sink_wrote()

    def sink_wrote(self) -> None:
        """After a call into the sink: the files it finished and those it has
        open under their final names go to the parent (at open, and when it
        finishes one: a pipe message, which outlives a kill), then the page says
        what the sink holds (a worker killed in between has those files
        listed and their packets within the page's at-most range)."""
        files = getattr(self.sink, "files", ())
        if len(files) > self.files_told or self.files_told < 0:
            # with the files open under their final names (rotation opened the next)
            self.tell(("files", tuple(files[max(0, self.files_told):]),
                       tuple(getattr(self.sink, "files_being_written", ()))))
            self.files_told = len(files)
        self.progress.wrote(self.sink)

    def finish(self) -> Stats:
        """Take no more packets, then read out everything the ring accepted."""
        self.ring.close_gate()
        time.sleep(0.01)          # packets already past the old filter land meanwhile
        limit = time.monotonic() + 2 * self.ring.block_timeout_ms / 1000 + 5.0
        while True:
            stats = self.ring.stats
            if stats.pending == 0 or time.monotonic() > limit:
                return stats
            if self.parent_gone and self.sink is None:
                return stats      # nobody left to hand the packets to
            self.control()
            self.deliver(0.02)
            self.report_stats()   # still answering while it waits for a slot


# --------------------------------------------------------------------------
# The parent

class _WorkerHandle:
    def __init__(self, index: int, process: subprocess.Popen, up: Connection,
                 down: Connection, memfd: int | None, cpu: int | None) -> None:
        self.index, self.process, self.up, self.down = index, process, up, down
        self.up_fd = up.fileno()
        self.memfd, self.cpu = memfd, cpu
        self.full_efd: int | None = None           # the worker says: slots are full
        self.freed_efd: int | None = None          # we say: slots are free again
        self.mapping = None
        self.log: _HandoffLog | None = None
        self.progress: _SinkProgress | None = None  # with a sink: what the worker wrote
        self.stores: list[dict] = []
        self.outstanding: dict[int, dict] = {}     # slot -> store, yielded, not yet freed
        self.files: list[str] = []                 # its sink's finished files, as it said
        self.open_files: tuple[str, ...] = ()      # and those open under their final names
        self.ready = False
        self.finished = False                      # sent its final statistics
        self.ended = False                         # its pipe closed
        self.stats: Stats | None = None
        self.summary: dict | None = None
        self.error: str | None = None
        self.delivered = 0                         # packets handed to the parent
        self.last_heard = time.monotonic()         # its last message or hand-off
        self.readable = select.poll()              # this worker's pipe alone
        self.cpu_seconds: float | None = None      # CPU it spent capturing (user + system)
        self.user_seconds: float | None = None     # of which user time


#: More workers than this many per available CPU are refused.
MAX_WORKERS_PER_CPU = 4


class ParallelCapture:
    """Capture ``iface`` with ``workers`` processes sharing one fanout group.

    ``mode`` is the fanout mode (see :class:`ringcap.Fanout`; ``"hash"``
    keeps each flow in one worker), ``defrag``/``rollover`` its flags, or
    pass a whole ``fanout=Fanout(...)``.  ``cpus``: None (no pinning),
    ``"auto"`` (worker i on the i-th CPU this process may use) or a list,
    one CPU per worker; with ``mode="cpu"`` workers join the group in an
    order that makes the worker pinned to CPU c the one the kernel gives the
    packets received on CPU c (so the CPUs must differ modulo ``workers``).
    ``filter`` and the other keywords are :class:`~ringcap.RxRing` options
    for every worker's ring.

    Without ``sink``, iterate: ``for batch in pool`` yields the workers'
    batches as they come (each batch from one worker; use
    :func:`ringcap.merge` to order batches by time).  A yielded batch lives
    in shared memory; its slot goes back to its worker once nothing refers
    to the batch, so ``copy()`` any batch kept for long (a worker with no
    free slot leaves packets in its ring, which may then drop).  ``slots``
    slots (at least 2: the batch in the caller's hands holds one) of
    ``slot_packets`` packets and ``slot_bytes`` bytes per worker, allocated
    when the pool starts.  A worker keeps filling a slot for up to
    ``handoff_ms`` milliseconds after its first read (or until it is full)
    before handing it over, so that the hand-off is paid per slot rather than
    per ring block; 0 hands every read over at once.

    With ``sink``, a callable ``sink(worker_index)`` returning a
    :class:`~ringcap.sinks.Sink` (pickled to the workers: a class or a
    module-level function, or ``functools.partial`` of one) that each
    worker writes to and closes with its final statistics; :meth:`run`
    waits until the capture ends.

    Stop with :meth:`stop` (safe from a signal handler), or with Ctrl-C /
    SIGTERM while iterating or in :meth:`run` (``handle_signals``); the
    iteration then ends once every worker has handed over all the packets
    its ring took.  A worker that says nothing for ``worker_timeout``
    seconds, capturing or finishing (workers report every second, also
    while a sink closes, and a stopped worker gives up on its ring within
    twice the block timeout plus 5 s), is killed and listed in
    :attr:`failures`: no wait of the pool is without an end.
    :attr:`stats` gives per-worker and total statistics.  A worker that dies ends the capture (the others are stopped cleanly) and
    :class:`WorkerDiedError` is raised after their packets were delivered.
    """

    def __init__(self, iface: str | None, workers: int = 2, *, mode: str = "hash",
                 cpus: Sequence[int] | str | None = None, filter=None,
                 sink: Callable | None = None, fanout: Fanout | None = None,
                 defrag: bool = False, rollover: bool = False, slots: int = 4,
                 slot_packets: int = 65536, slot_bytes: int = 16 << 20,
                 handoff_ms: float = 100, handle_signals: bool = True,
                 worker_timeout: float = WORKER_TIMEOUT, **ring_options) -> None:
        self._closed = True
        self._wakeup_r = self._wakeup_w = -1
        workers = _check_positive_int("workers", workers)
        limit = MAX_WORKERS_PER_CPU * len(os.sched_getaffinity(0))
        if workers > limit:
            raise ValueError(
                f"workers={workers} is more than this machine can use: at most {limit} "
                f"({MAX_WORKERS_PER_CPU} per CPU available to this process); every worker is a "
                "process with a ring of its own, and more of them than CPUs only share the CPUs")
        slots = _check_positive_int("slots", slots)
        if slots < 2:
            # the batch the caller holds keeps its slot until the next one is taken
            raise ValueError(f"slots must be at least 2 (the batch being looked at holds one "
                             f"while the worker fills another), got {slots}")
        slot_packets = _check_positive_int("slot_packets", slot_packets)
        slot_bytes = _check_positive_int("slot_bytes", slot_bytes)
        if not _is_real(handoff_ms):
            raise TypeError(f"handoff_ms must be a number of milliseconds, got "
                            f"{type(handoff_ms).__name__}")
        if not 0 <= handoff_ms <= 60_000:       # (NaN fails too)
            raise ValueError(f"handoff_ms must be 0 to 60000 milliseconds (how long a worker "
                             f"fills a slot before handing it over), got {handoff_ms}")
        worker_timeout = check_seconds("worker_timeout", worker_timeout, allow_zero=False)
        if fanout is None:
            fanout = Fanout(mode=mode, defrag=defrag, rollover=rollover)
        elif not isinstance(fanout, Fanout):
            raise TypeError(f"fanout must be a ringcap.Fanout, got {type(fanout).__name__}")
        if sink is not None and not callable(sink):
            raise TypeError("sink must be a callable sink(worker_index) -> Sink (a factory, so "
                            "that each worker opens its own)")
        if iface is not None and not isinstance(iface, str):
            raise TypeError("ParallelCapture captures one interface (or all, None); for several "
                            "interfaces open one pool per interface")
        snaplen = ring_options.get("snaplen", 65535)
        if slot_bytes < snaplen + 4:
            raise ValueError(f"slot_bytes ({slot_bytes}) must hold one packet of snaplen "
                             f"{snaplen} (+4 for a VLAN tag)")
        self.iface = iface
        self.workers = workers
        self.fanout = fanout
        self.cpus = self._plan_cpus(cpus, workers, fanout.mode)
        if not isinstance(handle_signals, (bool, np.bool_)):
            raise TypeError(f"handle_signals must be True or False, got "
                            f"{type(handle_signals).__name__}")
        self.handle_signals = bool(handle_signals)
        ring_options = dict(ring_options, filter=filter)
        if sink is None:
            # checked before anything is allocated: shared memory has no limit of
            # its own, and allocating more than there is wakes the OOM killer
            need = workers * (_header_size(slots)
                              + slots * _slot_layout(slot_packets, slot_bytes)[1])
            available = available_memory()
            if available is not None and need > available:
                raise MemoryError(
                    f"cannot allocate the workers' shared memory: {workers} workers x {slots} "
                    f"slots of {slot_packets} packets and {slot_bytes} bytes need "
                    f"{need / 2**20:,.0f} MiB, and {available / 2**20:,.0f} MiB are available "
                    "(to the machine or this process's memory cgroup); "
                    "lower slots, slot_packets or slot_bytes")
        self._slots = (slots, slot_packets, slot_bytes)
        self._handoff = handoff_ms / 1000
        self.worker_timeout = worker_timeout
        self._sink = sink
        self._stop_requested = False
        self._wakeup_r, self._wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._poller = select.poll()
        self._poller.register(self._wakeup_r, select.POLLIN)
        self._by_fd: dict[int, _WorkerHandle] = {}
        self._deadline: float | None = None
        self._stops_sent = False
        self._failures: list[WorkerFailure] = []
        self._handles: list[_WorkerHandle] = []
        self._pending: list[tuple[_WorkerHandle, tuple]] = []
        self.discarded = 0
        self.late = 0
        self.max_delay: float | None = None        # of the last in_time_order()
        self.block_timeout_ms = 0                  # of the workers' rings, once they run
        self.interfaces = None
        self._closed = False
        self._iterators: weakref.WeakSet = weakref.WeakSet()
        self._iterating = threading.Condition()    # guards _iterations
        self._iterations = 0                       # iterations under way (any thread)
        try:
            for index in range(workers):
                self._spawn(index, ring_options)
            self._join_group()
        except BaseException:
            self._abort()
            raise
        self.group_id = self._group_id

    # ------------------------------------------------------------------ start
    @staticmethod
    def _plan_cpus(cpus, workers: int, mode: str) -> list[int | None]:
        if cpus is None:
            if mode == "cpu":
                raise ValueError("mode='cpu' gives packets by receiving CPU: pin the workers "
                                 "(cpus='auto' or a list) so each one owns a CPU")
            return [None] * workers
        allowed = sorted(os.sched_getaffinity(0))
        if isinstance(cpus, str):
            if cpus != "auto":
                raise ValueError(f"cpus must be None, 'auto' or a list of CPU numbers, got {cpus!r}")
            if workers > len(allowed):
                raise ValueError(f"cpus='auto' pins one worker per CPU but only {len(allowed)} "
                                 f"CPUs are available for {workers} workers")
            plan = allowed[:workers]
        else:
            plan = [int(c) for c in cpus]
            if len(plan) != workers:
                raise ValueError(f"cpus lists {len(plan)} CPUs for {workers} workers; give one "
                                 f"per worker")
            bad = [c for c in plan if c not in allowed]
            if bad:
                raise ValueError(f"CPU(s) {bad} are not available to this process "
                                 f"(allowed: {allowed})")
        if mode == "cpu":
            # the kernel sends packets received on CPU c to member c % workers,
            # and members are numbered in joining order: join in that order
            if len({c % workers for c in plan}) != workers:
                raise ValueError(f"mode='cpu' needs CPUs that differ modulo {workers} (the "
                                 f"kernel picks member cpu % {workers}); got {plan}")
            plan = sorted(plan, key=lambda c: c % workers)
        return plan

    def _spawn(self, index: int, ring_options: dict) -> _WorkerHandle:
        """Start worker ``index``; its handle joins ``_handles`` as soon as the
        process runs, so that ``_abort`` releases it on any later error."""
        slots, slot_packets, slot_bytes = self._slots
        memfd = full_efd = freed_efd = mapping = log = progress = None
        stores: list[dict] = []
        fds: list[int] = []                  # all closed here if the worker does not start
        try:
            if self._sink is not None:
                # one page: what the worker wrote, for when it dies without a word
                memfd = os.memfd_create(f"ringcap-worker-{index}-progress", os.MFD_CLOEXEC)
                fds.append(memfd)
                os.ftruncate(memfd, mmap.PAGESIZE)
                mapping = mmap.mmap(memfd, 0)
                progress = _SinkProgress(mapping)
            else:
                _, size = _slot_layout(slot_packets, slot_bytes)
                memfd = os.memfd_create(f"ringcap-worker-{index}", os.MFD_CLOEXEC)
                fds.append(memfd)
                try:
                    # allocated now, so that a lack of memory is an error here and
                    # not a SIGBUS in the middle of a capture
                    os.posix_fallocate(memfd, 0, _header_size(slots) + size * slots)
                except OSError as exc:
                    raise MemoryError(
                        f"cannot allocate worker {index}'s shared memory ({slots} slots of "
                        f"{size / 2**20:.1f} MiB): {exc.strerror}; lower slots, slot_packets "
                        f"or slot_bytes") from None
                full_efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
                fds.append(full_efd)
                freed_efd = os.eventfd(0, os.EFD_CLOEXEC | os.EFD_NONBLOCK)
                fds.append(freed_efd)
                mapping = _map_slots(memfd)
                log = _HandoffLog(mapping, slots)
                stores = _slot_stores(mapping, slots, slot_packets, slot_bytes)
            up_r, up_w = os.pipe()
            fds += [up_r, up_w]
            down_r, down_w = os.pipe()
            fds += [down_r, down_w]
            config = dict(index=index, iface=self.iface, fanout=self.fanout,
                          cpu=self.cpus[index], sink=self._sink, ring_options=ring_options,
                          slots=slots, slot_packets=slot_packets, slot_bytes=slot_bytes,
                          handoff=self._handoff, memfd=memfd, up=up_w, down=down_r,
                          full_efd=full_efd, freed_efd=freed_efd)
            passed = [fd for fd in (up_w, down_r, memfd, full_efd, freed_efd) if fd is not None]
            payload = pickle.dumps(config)
            process = subprocess.Popen(
                [sys.executable, "-c", _WORKER_BOOT], stdin=subprocess.PIPE, pass_fds=passed,
                cwd=os.getcwd(), env=dict(os.environ, PYTHONPATH=_worker_path()))
        except BaseException:
            stores = []                      # the arrays over the mapping go before it
            if log is not None:
                log.release()
            if progress is not None:
                progress.release()
            if mapping is not None:
                mapping.close()
            for fd in fds:
                os.close(fd)
            raise
        # from here on the handle owns every fd, mapping and the process: _abort
        # releases them whatever happens next
        os.close(up_w)
        os.close(down_r)
        handle = _WorkerHandle(index, process, Connection(up_r, writable=False),
                               Connection(down_w, readable=False), memfd, self.cpus[index])
        handle.full_efd, handle.freed_efd = full_efd, freed_efd
        handle.mapping, handle.log, handle.stores = mapping, log, stores
        handle.progress = progress
        self._handles.append(handle)
        for fd in (up_r, full_efd):
            if fd is not None:
                self._poller.register(fd, select.POLLIN)
                self._by_fd[fd] = handle
        handle.readable.register(up_r, select.POLLIN)
        try:
            process.stdin.write(json.dumps(sys.path).encode() + b"\n" + payload)
            process.stdin.close()
        except BrokenPipeError:
            pass                  # it died at once: reported when it does not get ready
        return handle

    def _join_group(self) -> None:
        """Workers join one after another (member numbers follow joining order)."""
        self._group_id = self.fanout.group_id
        for handle in self._handles:
            if handle.index > 0:
                handle.down.send(("group", self._group_id))
            deadline = time.monotonic() + START_TIMEOUT
            while not handle.ready:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(f"worker {handle.index} did not open its ring within "
                                       f"{START_TIMEOUT:.0f} s")
                if not handle.up.poll(min(remaining, 0.5)):
                    if handle.process.poll() is not None and not handle.up.poll(0):
                        raise RuntimeError(self._start_failure(handle))
                    continue
                try:
                    message = handle.up.recv()
                except (EOFError, OSError):
                    handle.process.wait()
                    raise RuntimeError(self._start_failure(handle)) from None
                if message[0] == "ready":
                    handle.ready = True
                    handle.last_heard = time.monotonic()
                    self._group_id = message[1]
                    self.interfaces = message[2]
                    self.block_timeout_ms = message[3]
                elif message[0] == "error":
                    handle.error = message[1]
                    handle.process.wait()
                    raise RuntimeError(self._start_failure(handle))
                else:                   # (the files its sink opened)
                    self._handle_message(handle, message)

    @staticmethod
    def _start_failure(handle: _WorkerHandle) -> str:
        code = handle.process.poll()
        text = f"worker {handle.index} failed to start (exit code {code})"
        return text + (f": {handle.error}" if handle.error else "")

    # ------------------------------------------------------------------ running
    def stop(self) -> None:
        """Ask every worker to finish: take no more packets, hand over the
        rest.  Returns at once (safe from a signal handler); the iteration
        (or :meth:`run`) ends when they are done."""
        self._stop_requested = True
        try:
            os.write(self._wakeup_w, b"s")        # end the parent's wait at once
        except (BlockingIOError, OSError):
            pass

    def stop_after(self, seconds: float) -> None:
        """Stop the capture ``seconds`` from now (as :meth:`stop` would)."""
        self._deadline = time.monotonic() + check_seconds("seconds", seconds)

    def _send_stops(self) -> None:
        if self._stops_sent:
            return
        self._stops_sent = True
        for handle in self._handles:
            if not handle.ended:
                try:
                    handle.down.send(("stop",))
                except OSError:
                    pass

    def _free_slots(self) -> None:
        """Give back to their workers the slots no batch refers to any more."""
        for handle in self._handles:
            freed = 0
            for slot, store in list(handle.outstanding.items()):
                if _slot_unused(store):
                    del handle.outstanding[slot]
                    if not handle.ended:
                        handle.log.put_freed(slot)
                        freed += 1
            if freed:
                os.eventfd_write(handle.freed_efd, freed)

    def _take_batches(self, handle: _WorkerHandle) -> list[tuple[int, Batch]]:
        """The slots a worker logged as full since the last call, as batches."""
        if handle.full_efd is None:
            return []
        batches = []
        for _ in range(_eventfd_take(handle.full_efd)):
            slot, n, nbytes, drops, freezes = handle.log.take_full()
            store = handle.stores[slot]
            batch = Batch._from_store(store, n, nbytes, drops, freezes, self.interfaces)
            batch._store = None
            handle.outstanding[slot] = store
            handle.delivered += n
            batches.append((handle.index, batch))
        return batches

    def _handle_message(self, handle: _WorkerHandle, message: tuple) -> None:
        kind = message[0]
        if kind == "stats":
            handle.stats = Stats(**message[1])
        elif kind == "files":
            handle.files.extend(message[1])
            handle.open_files = message[2]
        elif kind == "final":
            handle.stats = Stats(**message[1])
            handle.summary = message[2]
            handle.cpu_seconds, handle.user_seconds = message[3]
            handle.finished = True
        elif kind == "error":
            handle.error = message[1]
            # with its final statistics and sink summary, where it has them
            if len(message) > 3:
                handle.stats = Stats(**message[2]) if message[2] else handle.stats
                handle.summary = message[3]

    @staticmethod
    def _count_unreported(handle: _WorkerHandle) -> None:
        """A worker with a sink that ended without its summary (SIGKILL, the OOM
        killer, killed for not answering): count it from its _SinkProgress page."""
        if handle.summary is None and handle.progress is not None:
            handle.delivered = max(handle.delivered, handle.progress.taken)
            # its files: those it finished, and those it had open under their final names
            files = handle.files + [f for f in handle.open_files if f not in handle.files]
            handle.summary = handle.progress.summary(tuple(files))

    def _forget_fds(self, handle: _WorkerHandle) -> None:
        """Stop polling a worker's pipe and eventfd (before they are closed, so
        that a reused fd number never reaches this pool)."""
        for fd in (handle.up_fd, handle.full_efd):
            if fd is not None and self._by_fd.pop(fd, None) is not None:
                try:
                    self._poller.unregister(fd)
                except (KeyError, OSError, ValueError):
                    pass

    def _end(self, handle: _WorkerHandle) -> None:
        handle.ended = True
        self._forget_fds(handle)
        try:
            handle.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            handle.process.kill()
            handle.process.wait()
        if not handle.finished or handle.process.returncode != 0:
            self._count_unreported(handle)
            self._failures.append(WorkerFailure(
                worker=handle.index, pid=handle.process.pid,
                exitcode=handle.process.returncode, error=handle.error,
                last_stats=self._last_stats(handle), summary=handle.summary))
            self._stop_requested = True       # one gone: finish the others cleanly

    def _poll(self, timeout: float) -> list[tuple[int, Batch]]:
        """Wait up to ``timeout`` for hand-offs and messages; returns the
        (worker, batch) pairs of the slots the workers logged as full."""
        if self._deadline is not None and time.monotonic() >= self._deadline:
            self._stop_requested = True
            self._deadline = None
        if self._stop_requested:
            self._send_stops()
        if not self.running:
            return []
        if self._deadline is not None:
            timeout = max(0.0, min(timeout, self._deadline - time.monotonic()))
        timeout = max(0.0, min(timeout, self._next_silence_limit() - time.monotonic()))
        batches = []
        # persistent poll objects: Connection.poll() and connection.wait()
        # build a selector on every call, which costs more than the message
        for fd, _ in self._poller.poll(int(timeout * 1000)):
            if fd == self._wakeup_r:
                try:
                    os.read(self._wakeup_r, 4096)
                except BlockingIOError:
                    pass
                continue
            handle = self._by_fd.get(fd)
            if handle is None or handle.ended:
                continue
            handle.last_heard = time.monotonic()
            batches += self._take_batches(handle)
            while fd != handle.full_efd:          # its pipe: statistics, the end, errors
                try:
                    message = handle.up.recv()
                except (EOFError, OSError):
                    # gone: the slots it logged before closing its pipe come first
                    batches += self._take_batches(handle)
                    self._end(handle)
                    break
                self._handle_message(handle, message)
                if not handle.readable.poll(0):
                    break
        batches += self._kill_silent_workers()
        return batches

    def _silence_limit(self, handle: _WorkerHandle) -> float:
        """When a worker that has not ended counts as not answering."""
        limit = handle.last_heard + self.worker_timeout
        if handle.finished:               # said its last word: only exiting is left
            limit += EXIT_TIMEOUT
        return limit

    def _next_silence_limit(self) -> float:
        return min((self._silence_limit(h) for h in self._handles if not h.ended),
                   default=float("inf"))

    def _kill_silent_workers(self) -> list[tuple[int, Batch]]:
        """Kill the workers that stopped answering (frozen, stuck) and end them
        as failures; returns the batches they had handed over."""
        batches = []
        now = time.monotonic()
        for handle in self._handles:
            if handle.ended or now < self._silence_limit(handle):
                continue
            why = (f"stopped answering{' while finishing' if self._stops_sent else ''} "
                   f"(nothing from it for {self.worker_timeout:g} s)")
            handle.process.kill()
            handle.process.wait()
            batches += self._take_batches(handle)      # what it handed over still counts
            try:                                       # and what it said before
                while handle.readable.poll(0):
                    self._handle_message(handle, handle.up.recv())
            except (EOFError, OSError):
                pass
            handle.error = why + (f" ({handle.error})" if handle.error else "")
            self._end(handle)
        return batches

    @property
    def running(self) -> bool:
        """True while some worker has not ended."""
        return any(not h.ended for h in self._handles)

    def __iter__(self) -> Iterator[Batch]:
        for _, batch in self.batches_by_worker():
            yield batch
            del batch             # not held while waiting for the next: its slot can go back

    def batches_by_worker(self) -> Iterator[tuple[int, Batch]]:
        """Like iterating the pool, but yields ``(worker_index, batch)``."""
        if self._sink is not None:
            raise ValueError("this pool writes to per-worker sinks; use run() instead of "
                             "iterating")
        self._check_open()
        iterator = self._batches()
        self._iterators.add(iterator)          # close() ends it (and counts what it held)
        return iterator

    @property
    def hold_back(self) -> float:
        """Seconds :meth:`in_time_order` holds a packet back at most while
        every worker keeps up: the rings' block timeout + ORDER_MARGIN +
        ``handoff_ms`` + a worker's idle wait (0.2 s)."""
        return self.block_timeout_ms / 1000 + ORDER_MARGIN + self._handoff + WORKER_POLL

    def in_time_order(self, max_delay: float | None = None,
                      max_held_bytes: int = ORDER_MAX_HELD) -> Iterator[Batch]:
        """Iterate the pool's packets in timestamp order, as one ring's would
        come: batches (each owning its memory; no need to copy) whose packets
        never go back in time, within a batch or from one batch to the next.

        Each worker's packets come in time order; the merge holds a packet
        back until every worker has handed over all packets stamped before it.
        A worker tells that without a message: after each read that emptied its
        ring, it records in the shared memory "every packet stamped before now
        minus the ring's block timeout minus ORDER_MARGIN (0.1 s) has been
        handed over", and an idle worker does so every 0.2 s.  So a packet
        waits at most the block timeout + 0.1 s + the workers' hand-off
        interval (``handoff_ms``) + 0.2 s (:attr:`hold_back`), and the merge
        holds that much traffic.

        Bounds, whatever the workers do: a packet is never held longer than
        ``max_delay`` seconds after its timestamp (None: 2 s, or
        :attr:`hold_back` + 1 s if that is longer, as with long block
        timeouts or ``handoff_ms``; a worker frozen or more than that behind
        no longer holds the others back), and never more than
        ``max_held_bytes`` of packets and columns (past that, everything held
        is given out at once).  A packet that then arrives older than one
        already given out comes after it, out of order, counted in
        :attr:`late`.  The bound assumes packet timestamps from the system clock
        (the default, and ``timestamping="software"``)."""
        if self._sink is not None:
            raise ValueError("this pool writes to per-worker sinks; use run() instead of "
                             "iterating")
        self._check_open()
        if max_delay is None:
            max_delay = max(ORDER_MAX_DELAY, self.hold_back + 1.0)
        max_delay = check_seconds("max_delay", max_delay, allow_zero=False)
        self.max_delay = max_delay
        max_held_bytes = _check_positive_int("max_held_bytes", max_held_bytes)
        iterator = self._ordered(TimeOrder(max_delay, max_held_bytes))
        self._iterators.add(iterator)
        return iterator

    @staticmethod
    def _progress(handle: _WorkerHandle) -> int:
        """The time before which the worker has handed over every packet (0 if
        its memory is gone: the pool is being closed)."""
        log = handle.log
        try:
            return log.progress if log is not None else 0
        except ValueError:                  # released by close() in another thread
            return 0

    @contextlib.contextmanager
    def _iteration(self):
        """One iteration at a time, with the stop signals handled meanwhile."""
        signals = StopSignals(on_signal=lambda signum: self.stop()) if self.handle_signals \
            else _NoSignals()
        with self._iterating:
            if self._iterations:
                raise RuntimeError(
                    "this pool is already being iterated (by another loop or thread): "
                    "iterate it in one place, and hand batches on (copied) from there")
            self._iterations += 1
        try:
            with signals:
                yield
        finally:
            with self._iterating:
                self._iterations -= 1
                self._iterating.notify_all()

    def _batches(self) -> Iterator[tuple[int, Batch]]:
        with self._iteration():
            while self.running:
                self._free_slots()
                items = self._poll(PARENT_POLL)
                items.reverse()
                try:
                    while items:
                        item = items.pop()
                        yield item
                        del item
                finally:
                    # a consumer that stopped early: what it was not given is discarded
                    self.discarded += sum(len(batch) for _, batch in items)
        self._raise_failures()

    def _ordered(self, order: TimeOrder) -> Iterator[Batch]:
        with self._iteration():
            try:
                while self.running:
                    self._free_slots()
                    for _, batch in self._poll(ORDER_POLL if order.held_packets else PARENT_POLL):
                        order.add(batch)
                    # the workers' progress first, then the slots it covers
                    floor = time.time_ns() - int(order.max_delay * 1e9)
                    marks = [max(self._progress(h), floor) for h in self._handles
                             if not h.ended]
                    mark = min(marks) if marks else None
                    for handle in self._handles:
                        if not handle.ended:
                            for _, batch in self._take_batches(handle):
                                order.add(batch)
                    batch = None
                    self._free_slots()          # all copied: the slots go back at once
                    out = order.take(mark)
                    if out is not None:
                        self.late += order.late
                        order.late = 0
                        yield out
                        out = None
                out = order.take(None)          # every worker has ended: nothing older comes
                if out is not None:
                    self.late += order.late
                    yield out
            finally:
                self.discarded += order.held_packets    # a consumer that stopped early
        self._raise_failures()

    def run(self, duration: float | None = None) -> PoolStats:
        """Wait until the capture ends (stop(), a signal, ``duration`` seconds
        or a worker's death); returns the final :attr:`stats`.  Without a
        sink, the batches are discarded (counted in :attr:`discarded`)."""
        self._check_open()
        if duration is not None:
            self.stop_after(duration)
        signals = StopSignals(on_signal=lambda signum: self.stop()) if self.handle_signals \
            else _NoSignals()
        with signals:
            while self.running:
                for _, batch in self._poll(PARENT_POLL):
                    self.discarded += len(batch)
                self._free_slots()
        self._raise_failures()
        return self.stats

    def _raise_failures(self) -> None:
        if self._failures:
            raise WorkerDiedError(list(self._failures), self.stats)

    @property
    def failures(self) -> list[WorkerFailure]:
        """Workers that ended early so far."""
        return list(self._failures)

    @property
    def stats(self) -> PoolStats:
        """Each worker's last reported :class:`Stats` and their total (final
        once the capture has ended)."""
        per = tuple(self._worker_stats(h) for h in self._handles)
        return PoolStats(workers=per, total=_sum_stats(per))

    @staticmethod
    def _worker_stats(handle: _WorkerHandle) -> Stats:
        stats = handle.stats if handle.stats is not None else Stats()
        if not handle.finished and handle.delivered > stats.delivered:
            # Reports go out every STATS_EVERY: a worker that died (or has not reported
            # yet) handed over more than it last said.  The parent counted those.
            stats = dataclasses.replace(stats, delivered=handle.delivered,
                                        packets=max(stats.packets, handle.delivered + stats.drops))
        return stats

    @classmethod
    def _last_stats(cls, handle: _WorkerHandle) -> Stats | None:
        """A worker's statistics as :attr:`stats` has them (None: it never reported
        and handed nothing over)."""
        return cls._worker_stats(handle) if handle.stats or handle.delivered else None

    @property
    def worker_cpu_seconds(self) -> list[float | None]:
        """CPU time (user + system) each worker spent from its ring being open
        to its end (start-up excluded); None until it has finished."""
        return [h.cpu_seconds for h in self._handles]

    @property
    def worker_user_seconds(self) -> list[float | None]:
        """The user-space part of :attr:`worker_cpu_seconds`."""
        return [h.user_seconds for h in self._handles]

    @property
    def summaries(self) -> list[dict | None]:
        """Each worker's sink summary (as a dict), once it has finished."""
        return [h.summary for h in self._handles]

    # ------------------------------------------------------------------ lifetime
    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on a closed ParallelCapture")

    @property
    def closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        """Stop the workers (letting them finish their sinks), wait for them
        and release the shared memory.  Batches not yet iterated are dropped
        (counted in :attr:`discarded`).  Idempotent."""
        if self._closed:
            return
        self.stop()
        deadline = time.monotonic() + CLOSE_TIMEOUT
        for iterator in list(self._iterators):
            try:
                iterator.close()          # suspended: its batches not yet yielded are counted
            except ValueError:
                pass                      # running in another thread: it ends on the stop
        with self._iterating:             # an iteration in another thread sees the end first
            self._iterating.wait_for(lambda: self._iterations == 0,
                                     max(0.0, deadline - time.monotonic()))
        try:
            while self.running and time.monotonic() < deadline:
                for _, batch in self._poll(0.05):
                    self.discarded += len(batch)
                self._free_slots()
        finally:
            self._abort()

    def _abort(self) -> None:
        """Release everything at once (after a failed start or on close)."""
        self._closed = True
        for handle in self._handles:
            handle.ended = True               # nothing more comes: `running` is False
        for fd in (self._wakeup_r, self._wakeup_w):
            if fd >= 0:
                os.close(fd)
        self._wakeup_r = self._wakeup_w = -1
        for handle in self._handles:          # ask every worker first, then wait for all
            if handle.process.poll() is None:
                try:
                    handle.down.send(("stop",))
                except OSError:
                    pass
        deadline = time.monotonic() + EXIT_TIMEOUT
        for handle in self._handles:
            if handle.process.poll() is None:
                try:
                    handle.process.wait(timeout=max(0.0, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    handle.process.kill()
                    handle.process.wait()
            try:                              # its last statistics, if it sent them
                while handle.up.poll(0):
                    self._handle_message(handle, handle.up.recv())
            except (EOFError, OSError):
                pass
            if not handle.finished and all(f.worker != handle.index for f in self._failures):
                # did not end in time (or at all): reported, never silently dropped
                self._count_unreported(handle)
                self._failures.append(WorkerFailure(
                    worker=handle.index, pid=handle.process.pid,
                    exitcode=handle.process.returncode,
                    error=handle.error or "did not finish when the pool closed; killed",
                    last_stats=self._last_stats(handle), summary=handle.summary))
        for handle in self._handles:
            self._forget_fds(handle)
            handle.up.close()
            handle.down.close()
            for fd in (handle.full_efd, handle.freed_efd):
                if fd is not None:
                    os.close(fd)
            handle.full_efd = handle.freed_efd = None
            handle.stores = []
            handle.outstanding.clear()
            if handle.log is not None:
                handle.log.release()
                handle.log = None
            if handle.progress is not None:
                handle.progress.release()
                handle.progress = None
            if handle.mapping is not None:
                try:
                    handle.mapping.close()
                except BufferError:
                    pass      # a batch the caller kept still uses it: freed with the batch
                handle.mapping = None
            if handle.memfd is not None:
                os.close(handle.memfd)
                handle.memfd = None

    def __enter__(self) -> "ParallelCapture":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __del__(self) -> None:
        if not getattr(self, "_closed", True):
            warnings.warn(f"unclosed ParallelCapture on {self.iface}: call close() or use "
                          f"`with`", ResourceWarning, source=self)
            self._abort()

    def __repr__(self) -> str:
        state = "closed" if self._closed else ("running" if self.running else "finished")
        return (f"<ParallelCapture {self.iface or 'all interfaces'} {state}, "
                f"{self.workers} workers, fanout {self.fanout.mode}>")


class WorkerFiles:
    """A sink factory for :class:`ParallelCapture`: worker ``i`` writes
    ``template.format(worker=i)`` with a :class:`~ringcap.sinks.PcapSink`
    (``options`` are its keywords), e.g. ``WorkerFiles("cap-{worker}.pcapng")``."""

    def __init__(self, template: str, **options) -> None:
        if "{worker}" not in template:
            raise ValueError(f"the file name template {template!r} needs {{worker}}, or every "
                             f"worker would write the same file")
        self.template = template
        self.options = options

    def __call__(self, worker: int):
        return PcapSink(self.template.format(worker=worker), **self.options)

    def __repr__(self) -> str:
        return f"WorkerFiles({self.template!r})"


class _NoSignals:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        pass


def capture_parallel(iface: str | None, count: int | None = None,
                     duration: float | None = None, *, workers: int, **options) -> Batch:
    """:func:`ringcap.capture` with ``workers`` processes: the first ``count``
    packets in time order (or all of ``duration`` seconds, or all until
    Ctrl-C/SIGTERM) as one batch that owns its memory; its ``drops`` is the
    total of the workers' rings.  ``options`` are those of
    :class:`ParallelCapture`."""
    count = check_count("count", count, allow_none=True)
    duration = check_seconds("duration", duration, allow_none=True, allow_zero=False)
    parts: list[Batch] = []
    got = 0
    with ParallelCapture(iface, workers, **options) as pool:
        if duration is not None:
            pool.stop_after(duration)
        for batch in pool:
            parts.append(batch.copy())
            got += len(batch)
            if count is not None and got >= count:
                pool.stop()
        drops = pool.stats.total.drops
    result = merge(parts)
    if count is not None and len(result) > count:
        result = result[:count].copy()
    result.drops = drops
    return result


def capture_to_file_parallel(iface: str | None, path, *, workers: int, count: int | None = None,
                             duration: float | None = None, format: str = "pcapng",
                             ring_options=None, **writer_options):
    """:func:`ringcap.capture_to_file` with ``workers`` processes.

    A ``path`` containing ``{worker}`` gives one file per worker, each
    written by its worker (nothing crosses processes; ``count`` is then not
    available: give ``duration`` or stop with a signal).  Otherwise the
    parent writes one file in time order, merging the workers' packets as
    :meth:`ParallelCapture.in_time_order` does (bounded hold-back and
    memory).  pcapng files end with the statistics: each worker's in its own
    file, the total in the merged one."""
    count = check_count("count", count, allow_none=True)
    duration = check_seconds("duration", duration, allow_none=True, allow_zero=False)
    options = dict(ring_options or {})
    path = os.fspath(path)
    if "{worker}" in path:
        if count is not None:
            raise ValueError("count= needs one file written by one process; with per-worker "
                             "files ({worker} in the name) give duration= or stop with a "
                             "signal")
        with ParallelCapture(iface, workers, sink=WorkerFiles(path, format=format,
                                                              **writer_options),
                             **options) as pool:
            stats = pool.run(duration).total
            summaries = pool.summaries
        nbytes = sum((s or {}).get("bytes", 0) for s in summaries)
        return CaptureSummary(packets=stats.delivered, bytes=nbytes, received=stats.packets,
                              drops=stats.drops)
    written = nbytes = 0
    writer_options.setdefault("overwrite", True)     # as capture_to_file's sinks do
    with PcapWriter(path, format=format, **writer_options) as writer:
        with ParallelCapture(iface, workers, **options) as pool:
            if duration is not None:
                pool.stop_after(duration)
            for batch in pool.in_time_order():
                if count is not None:
                    batch = batch[:count - written]
                writer.write(batch)
                written += len(batch)
                nbytes += batch.nbytes
                if count is not None and written >= count:
                    pool.stop()
            stats = pool.stats.total
        if format == "pcapng":
            writer.write_stats(stats)
    return CaptureSummary(packets=written, bytes=nbytes, received=stats.packets,
                          drops=stats.drops)
