"""What a worker pool reports: its statistics, and the workers that ended early
(with what a worker killed outright wrote, kept in memory it shares with the pool).

Kept apart from :mod:`ringcap.parallel` (which imports them from here), so
that the pool's process plumbing stays one module a reader can hold.
"""
from __future__ import annotations

import dataclasses
import signal
from dataclasses import dataclass
from typing import Sequence

from .ring import Stats

__all__ = ["PoolStats", "WorkerDiedError", "WorkerFailure"]


class WorkerDiedError(RuntimeError):
    """A worker process ended without finishing its capture.

    ``failures`` lists a :class:`WorkerFailure` for each such worker;
    ``stats``: the pool's :class:`PoolStats` when it was raised (the same as
    :attr:`ParallelCapture.stats`), counting the failed workers' packets too."""

    def __init__(self, failures: list["WorkerFailure"],
                 stats: "PoolStats | None" = None) -> None:
        self.failures = failures
        self.stats = stats
        super().__init__("; ".join(str(f) for f in failures))

    def __reduce__(self):
        # rebuilt from its fields (an Exception pickles its message alone, which
        # __init__ would take for the failures): it crosses processes whole
        # (multiprocessing, concurrent.futures)
        return type(self), (self.failures, self.stats), self.__dict__


@dataclass(frozen=True)
class WorkerFailure:
    """A worker that ended early: its index, pid, exit code (negative: killed
    by that signal), the error it reported (if any) and its last statistics:
    final ones when it ended on an error (it sends them with the error),
    else the last known: its last report (sent every second), with the
    packets it took from its ring since then where the pool counted them.
    ``summary``: its sink's summary (a dict, as in
    :attr:`ParallelCapture.summaries`) if it had a sink.  A worker killed
    before it could send one (SIGKILL, the OOM killer) gets the summary
    the pool counted in the memory it shares with the worker: ``packets``
    its sink accepted, of which ``lost`` were not in its files yet (in the
    writer's buffer), and ``extra["in_files_at_most"]``: more than
    ``packets - lost`` only when it was killed in the middle of a write,
    which may have put up to that many in its files.  ``files``: the files
    it finished (rotation, ``-G``) and those it had open under their final
    names, as it told the pool; not a hidden one (a dataset's
    ``.inprogress`` file, which readers skip)."""

    worker: int
    pid: int
    exitcode: int | None
    error: str | None
    last_stats: Stats | None
    summary: dict | None = None

    def __str__(self) -> str:
        how = (f"killed by {signal.Signals(-self.exitcode).name}"
               if self.exitcode is not None and self.exitcode < 0
               else f"exit code {self.exitcode}")
        text = f"worker {self.worker} (pid {self.pid}) ended early: {how}"
        if self.error:
            text += f": {self.error}"
        s = self.last_stats
        counted = (self.summary or {}).get("extra", {}).get("in_files_at_most")
        if s is not None:
            text += (f"; last {'known ' if counted is not None else ''}statistics: "
                     f"{s.packets} packets, {s.delivered} delivered, {s.drops} dropped")
        if self.summary is not None and (s is not None or counted is not None):
            in_files = self.summary.get("packets", 0) - self.summary.get("lost", 0)
            delivered = s.delivered if s is not None else in_files
            text += (f"; {in_files} packets in its files, "
                     f"{max(0, delivered - in_files)} read but not written")
            if counted is not None and counted > in_files:
                text += (f" (killed during a write: up to {counted - in_files} of those "
                         f"may be in its files too, the last one possibly cut short)")
        return text


@dataclass(frozen=True)
class PoolStats:
    """Statistics of a pool: ``workers`` (one :class:`Stats` per worker, the
    last each one reported) and ``total``: their sum, except ``if_drops`` and
    ``backlog_drops``, which every worker reads from the same interface and
    machine counters, and which are counted once."""

    workers: tuple[Stats, ...]
    total: Stats


def _sum_stats(stats: Sequence[Stats]) -> Stats:
    fields = {}
    for f in dataclasses.fields(Stats):
        values = [getattr(s, f.name) for s in stats]
        if f.name in ("backlog_drops", "if_drops"):
            # backlog: system-wide; the interface's drops: every worker reads the
            # same interface (or all of them), so the same counter for all
            fields[f.name] = max(values, default=0)
        elif f.name == "per_interface":
            fields[f.name] = None
        elif all(v is None for v in values):
            fields[f.name] = None
        else:
            fields[f.name] = sum(v or 0 for v in values)
    return Stats(**fields)


class _SinkProgress:
    """What a worker with a sink has written, in a page of shared memory the
    parent reads when the worker dies without a word (SIGKILL, the OOM
    killer): it has no chance to send its summary then.

    The worker updates it around every call into its sink (a few stores, no
    syscall): packets it took from its ring, packets the sink accepted, and
    of those the packets (and bytes) in records the operating system holds
    (``Sink.packets_in_files``).  Before a call that may write it raises
    ``at_most`` to what the files could hold after it, and lowers it again
    after; so a worker killed in the middle of a write has between
    ``in_files`` and ``at_most`` packets in its files (the kernel can cut
    a write short), and one killed elsewhere exactly ``in_files``.  Each
    word is one aligned 8-byte store, and the parent reads them only once the
    worker has ended."""

    # words: taken from the ring, accepted by the sink, in files, at most in files, bytes
    SIZE = 5 * 8

    def __init__(self, buffer) -> None:
        self.words = memoryview(buffer)[:self.SIZE].cast("q")

    def took(self, packets: int, sink) -> None:
        """Before ``sink.write`` of ``packets`` packets just read from the ring."""
        words = self.words
        words[0] += packets
        words[3] = sink.packets_written + packets

    def may_write_all(self, sink) -> None:
        """Before ``sink.close`` or ``sink.tick``: all it accepted may go out."""
        self.words[3] = sink.packets_written

    def wrote(self, sink) -> None:
        """After a call into ``sink``: what it holds now."""
        words = self.words
        words[1] = sink.packets_written
        words[4] = sink.bytes_in_files
        words[2] = in_files = sink.packets_in_files
        words[3] = in_files            # after it: never below in_files

    @property
    def taken(self) -> int:
        return self.words[0]

    def summary(self, files: tuple[str, ...] = ()) -> dict:
        """The sink's summary (as a dict) this page gives for a worker that
        died without sending one (``files``: those it said it finished);
        ``extra["in_files_at_most"]``: what its files may hold if a write
        was under way."""
        taken, accepted, in_files, at_most, nbytes = self.words
        return dict(packets=accepted, bytes=nbytes, files=files, refused=0,
                    lost=max(0, accepted - in_files),
                    extra=dict(in_files_at_most=max(at_most, in_files)))

    def release(self) -> None:
        self.words.release()
