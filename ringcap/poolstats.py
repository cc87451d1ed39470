"""What a worker pool reports: its statistics, and the workers that ended early.

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


@dataclass(frozen=True)
class WorkerFailure:
    """A worker that ended early: its index, pid, exit code (negative: killed
    by that signal), the error it reported (if any) and its last statistics:
    final ones when it ended on an error (it sends them with the error),
    else the last it reported.  ``summary``: its sink's summary (a dict, as
    in :attr:`ParallelCapture.summaries`) if it had a sink and could close it."""

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
        if self.last_stats is not None:
            s = self.last_stats
            text += (f"; last statistics: {s.packets} packets, {s.delivered} delivered, "
                     f"{s.drops} dropped")
            if self.summary is not None:
                in_files = self.summary.get("packets", 0) - self.summary.get("lost", 0)
                text += (f"; {in_files} packets in its files, "
                         f"{max(0, s.delivered - in_files)} read but not written")
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
