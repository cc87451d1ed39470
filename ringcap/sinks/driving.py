"""Driving a sink from a ring: the one capture loop, and finishing on signals.

:func:`pump` reads a ring into a sink until a count, a duration, a stop
request (a signal), a full sink or an error, then drains what the ring
already holds, closes the sink with the ring's statistics and returns a
:class:`PumpResult`.  The command line, :func:`ringcap.capture`,
:func:`ringcap.capture_to_file` and the worker pool use it.
"""
from __future__ import annotations

import contextlib
import math
import _signal
import time

from .._frozen import field, frozen
from ..stopsignals import STOP_SIGNALS, StopSignals  # noqa: F401 (their home before)
from .base import Sink, SinkSummary

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    from typing import Callable

VIEW_PACKETS = 4096          # packets per ring view handed to a sink


@frozen
class Progress:
    """A snapshot for progress displays, taken about twice a second."""

    packets: int            # packets written to the sink so far
    bytes: int              # captured bytes of those packets
    elapsed: float          # seconds since the capture started
    drops: int              # dropped by the kernel (ring full)
    if_drops: int           # dropped by the interface
    backlog_drops: int      # dropped by the kernel's input backlog (system-wide)
    files: tuple = ()       # files open now

    @property
    def rate(self) -> float:
        return self.packets / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def byte_rate(self) -> float:
        return self.bytes / self.elapsed if self.elapsed > 0 else 0.0


@frozen
class PumpResult:
    """How a capture ended.

    ``packets``/``bytes``: written to the sink; ``stats``: the ring's final
    :class:`~ringcap.Stats` (None if they could not be read);
    ``summary``: the sink's :class:`SinkSummary`; ``stopped_by``: ``"count"``,
    ``"duration"``, ``"files"`` (the sink was done), ``"stop"`` (a stop
    request), a signal name such as ``"SIGINT"``, ``"KeyboardInterrupt"``,
    ``"error"``, or ``"worker"`` (a worker of a pool was killed);
    ``skipped``: packets read but not kept (``select``), and ``elapsed``
    seconds.
    """

    packets: int
    bytes: int
    stats: object
    summary: SinkSummary
    stopped_by: str
    skipped: int = 0
    elapsed: float = 0.0

    @property
    def unread(self) -> int:
        """Packets the kernel accepted that were neither delivered nor dropped."""
        delivered = getattr(self.stats, "delivered", None)
        if delivered is None:
            return 0
        return max(0, self.stats.packets - self.stats.drops - delivered)

    @property
    def unwritten(self) -> int:
        """Packets delivered from the ring that the sink did not take: read past
        ``count`` in the last batch, refused by a sink that was done, or lost
        when the output failed or closed (a reader at the end of a pipe went
        away).  With these, delivered = packets + skipped + unwritten."""
        delivered = getattr(self.stats, "delivered", None)
        if delivered is None:
            return 0
        return max(0, delivered - self.packets - self.skipped)


@frozen
class CaptureSummary:
    """What :func:`ringcap.capture_to_file` wrote: packets, captured bytes, and the ring's counts.

    ``files``: the finished files; ``stopped_by``: why the capture ended
    (``"count"``, ``"duration"``, ``"files"``, a signal name such as
    ``"SIGTERM"``, ``"KeyboardInterrupt"``); ``if_drops``: drops by the
    interface; ``unread``: packets the kernel accepted that were still in the
    ring (received = packets + drops + unread when nothing was filtered out).
    """

    packets: int
    bytes: int
    received: int | None
    drops: int | None
    files: tuple = field(default=(), compare=False)
    stopped_by: str | None = field(default=None, compare=False)
    if_drops: int | None = field(default=None, compare=False)
    unread: int = field(default=0, compare=False)


@contextlib.contextmanager
def _deferred_signals():
    """While finishing files, record stop signals instead of raising (main thread only)."""
    with StopSignals():
        yield


def _progress_snapshot(ring, sink: Sink, packets: int, nbytes: int, start: float) -> Progress:
    try:
        stats = ring.stats
        drops, if_drops, backlog = stats.drops, stats.if_drops, stats.backlog_drops
    except (ValueError, OSError, AttributeError):
        drops = if_drops = backlog = 0
    files = tuple(getattr(sink, "current_files", ()))
    return Progress(packets=packets, bytes=nbytes, elapsed=time.monotonic() - start,
                    drops=drops, if_drops=if_drops, backlog_drops=backlog, files=files)


def taken_before_failure(sink: Sink, written_before: int | None, batch) -> tuple[int, int]:
    """(packets, bytes) of ``batch`` that a ``sink.write`` which raised took
    first: a write can fail part-way (a rotating sink: whole files, then the
    last one's records); the sink counts what its files hold as written, so
    the driver counts it too.  ``written_before``: ``sink.packets_written``
    before the call (None: a sink that does not count)."""
    if written_before is None:
        return 0, 0
    took = min(len(batch), max(0, sink.packets_written - written_before))
    return took, int(batch.caplen[:took].sum())


def _accepts_out(ring) -> bool:
    import inspect
    try:
        return "out" in inspect.signature(ring.read).parameters
    except (TypeError, ValueError):
        return False


def _pending(ring) -> int:
    try:
        return ring.stats.pending
    except (AttributeError, ValueError, OSError):
        return 0


def _drain(ring, step, want, finished) -> None:
    """Read what the ring holds.  Packets in a block the kernel has not
    handed over yet become readable when its block timeout retires it: wait
    for that (the ring's statistics say whether any are pending), in one wait
    that ends when the block is ready.  (Waiting in 50 ms slices cost a return
    to Python and a read of the statistics, two /proc files, per slice: with
    -w's 1000 ms block timeout, 3-5 ms of CPU after a capture stopped soon
    after its traffic, more than tcpdump's whole exit: docs/cli.md.)"""
    block_timeout = getattr(ring, "block_timeout_ms", 0) / 1000
    deadline = time.monotonic() + min(block_timeout, 60.0) + 0.25
    while not finished():
        if step(want(), 0):
            continue
        left = deadline - time.monotonic()
        if left <= 0 or _pending(ring) <= 0:
            return
        step(want(), left, linger=False)      # (the stop came: no lingering for more)


def pump(ring, sink: Sink, *, count: int | None = None, duration: float | None = None,
         stop: Callable[[], bool] | None = None, select: Callable | None = None,
         progress: Callable[[Progress], None] | None = None, progress_interval: float = 0.5,
         batch_packets: int = 65536, poll: float = 0.1, close_sink: bool = True,
         reuse_batch: bool = False, views: bool = True,
         batch_bytes: int = 8 << 20) -> PumpResult:
    """Read ``ring`` into ``sink`` until done; returns a :class:`PumpResult`.

    Stops after ``count`` packets, ``duration`` seconds, when ``stop()``
    turns true, when the sink is done, or on Ctrl-C (KeyboardInterrupt);
    then reads what the ring already holds (up to ``count``) into the sink,
    and closes the sink with the ring's statistics (``close_sink``).  Nothing
    read is lost.  On an error the sink is closed the same way and the error
    is raised with the result attached as ``error.pump_result``.

    Without ``stop``, Ctrl-C (SIGINT, if it still has Python's default
    handler) becomes a stop request while pumping, so it never interrupts a
    write half-way.

    ``reuse_batch=True`` says the sink does not keep the batches it is given
    (the pcap sinks, the printer and the collector copy them): the sink is
    then handed views into the ring's blocks (``ring.read_view``, released
    right after ``write``: no packet byte is copied before the sink), or,
    with ``views=False`` or a ring without views, batches read into one
    preallocated buffer (``batch_packets`` rows, ``batch_bytes`` bytes).
    Either way memory stays flat.  A sink that can take the packets
    straight from the ring (:meth:`Sink.ring_writer`: a pcap file, records
    built from the ring's blocks) is driven that way when there is no
    ``select``: no batch is made at all.

    ``select(batch)`` may return a boolean mask of the packets to keep.
    ``progress(Progress)`` is called about every ``progress_interval``
    seconds.
    """
    if count is not None and count <= 0:
        raise ValueError(f"count must be positive, got {count}")
    if duration is not None and not (math.isfinite(float(duration)) and float(duration) > 0):
        raise ValueError(f"duration must be a positive finite number of seconds, got {duration}")
    start = time.monotonic()
    deadline = None if duration is None else start + float(duration)
    next_progress = start + progress_interval
    packets = nbytes = skipped = 0
    stopped_by = None

    def keep(batch):
        nonlocal packets, nbytes, skipped, stopped_by
        if select is not None:
            mask = select(batch)
            if mask is not None:
                skipped += len(batch) - int(mask.sum())
                batch = batch[mask]
        if count is not None and packets + len(batch) > count:
            batch = batch[:count - packets]
        if len(batch):
            before = getattr(sink, "packets_written", None)
            try:
                taken = sink.write(batch)
            except BaseException:
                took, took_bytes = taken_before_failure(sink, before, batch)
                packets += took
                nbytes += took_bytes
                raise
            packets += taken
            nbytes += batch.nbytes if taken == len(batch) else int(batch.caplen[:taken].sum())
        if count is not None and packets >= count:
            stopped_by = "count"
        elif sink.done:
            stopped_by = "files"

    def want() -> int:
        return batch_packets if count is None else max(1, min(batch_packets, count - packets))

    direct = None
    if reuse_batch and select is None:
        ring_writer = getattr(sink, "ring_writer", None)
        direct = ring_writer(ring) if ring_writer is not None else None
    if direct is not None:
        def step(max_packets, timeout, linger=True) -> int:
            # The sink takes the packets straight from the ring's blocks (pcap
            # records built in its buffer): no batch, no columns.
            nonlocal packets, nbytes, stopped_by
            n, kept = direct(max_packets, timeout) if linger else \
                direct(max_packets, timeout, linger=0.0)
            packets += n
            nbytes += kept
            if count is not None and packets >= count:
                stopped_by = "count"
            return n
    elif reuse_batch and views and hasattr(ring, "read_view"):
        def step(max_packets, timeout, linger=True) -> int:
            # The sink reads the packets straight out of the ring's blocks.  A
            # view holds its blocks until released, so keep views small (about
            # a block of full-size packets): the rest of the ring stays free
            # for the kernel while the sink writes.
            with ring.read_view(min(max_packets, VIEW_PACKETS), timeout=timeout) as view:
                n = len(view)
                if n:
                    keep(view)
            return n
    else:
        if reuse_batch and _accepts_out(ring):
            from ..batch import Batch
            snaplen = int(getattr(ring, "snaplen", 0) or 0)
            out = Batch.empty(batch_packets, data_bytes=max(int(batch_bytes), snaplen + 4))
            options = {"out": out}
        else:
            options = {}

        def step(max_packets, timeout, linger=True) -> int:
            batch = ring.read(max_packets, timeout=timeout, **options)
            n = len(batch)
            if n:
                keep(batch)
            return n

    error = None
    own_stop = None
    if stop is None:
        own_stop = stop = StopSignals((_signal.SIGINT,), only_default=True).__enter__()
    try:
        try:
            while stopped_by is None:
                if stop is not None and stop():
                    stopped_by = getattr(stop, "signal_name", None) or "stop"
                    break
                wait = poll
                now = time.monotonic()
                if deadline is not None:
                    if now >= deadline:
                        stopped_by = "duration"
                        break
                    wait = min(wait, deadline - now)
                if not step(want(), wait):
                    sink.tick()
                if progress is not None and time.monotonic() >= next_progress:
                    progress(_progress_snapshot(ring, sink, packets, nbytes, start))
                    next_progress = time.monotonic() + progress_interval
        except KeyboardInterrupt:
            stopped_by = "KeyboardInterrupt"
        with _deferred_signals():
            # what the ring already holds was captured: keep it (not after -c/-W)
            _drain(ring, step, want, lambda: stopped_by in ("count", "files"))
    except BaseException as exc:
        error = exc
        stopped_by = "error"
    finally:
        if own_stop is not None:
            own_stop.__exit__(None, None, None)
    with _deferred_signals():
        try:
            stats = ring.stats
        except (ValueError, OSError):
            stats = None
        if close_sink:
            try:
                summary = sink.close(stats)
            except BaseException as exc:
                if error is None:
                    error = exc
                summary = sink._partial_summary()
        else:
            summary = sink._partial_summary()
    result = PumpResult(packets=packets, bytes=nbytes, stats=stats, summary=summary,
                        stopped_by=stopped_by, skipped=skipped,
                        elapsed=time.monotonic() - start)
    if progress is not None:
        progress(_progress_snapshot(ring, sink, packets, nbytes, start))
    if error is not None:
        try:
            error.pump_result = result
        except AttributeError:
            pass
        raise error
    return result
