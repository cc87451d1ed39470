"""Putting batches in time order: :func:`merge` of finished batches, and the
hold-back merge (:class:`TimeOrder`) behind
:meth:`ringcap.ParallelCapture.in_time_order`, which gives out the workers'
packets up to a timestamp mark as they arrive."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .batch import COLUMNS, Batch

__all__ = ["merge"]        # TimeOrder is the pool's (ParallelCapture.in_time_order)


def merge(batches: Sequence[Batch]) -> Batch:
    """One batch with the packets of ``batches`` in timestamp order.

    Packets with equal timestamps keep their order (first by batch, then
    within it).  Each batch is expected to be in time order already (as a
    ring's are), so the stable sort is a k-way merge of sorted runs."""
    batches = [b for b in batches if len(b)]
    if not batches:
        return Batch.from_packets([])
    joined = Batch.concat(batches)
    order = np.argsort(joined.ts, kind="stable")
    if np.all(order[1:] > order[:-1]):
        return joined
    return joined[order].copy()


class TimeOrder:
    """The merge behind :meth:`ParallelCapture.in_time_order`: copies of the
    workers' batches, each sorted, given out up to a timestamp mark."""

    _COLUMN_BYTES = sum(dtype.itemsize for dtype in COLUMNS.values())

    def __init__(self, max_delay: float, max_held_bytes: int) -> None:
        self.max_delay, self.max_held_bytes = max_delay, max_held_bytes
        self.held: list[list] = []        # [batch, bytes it holds], in arrival order
        self.held_bytes = 0
        self.held_packets = 0
        self.last: int | None = None      # timestamp of the newest packet given out
        self.late = 0                     # packets given out after a newer one

    def add(self, batch: Batch) -> None:
        if not len(batch):
            return
        batch = batch.copy()              # its slot goes back to the worker now
        ts = batch.ts
        if not bool(np.all(ts[1:] >= ts[:-1])):
            batch = batch[np.argsort(ts, kind="stable")].copy()
        size = batch.data.nbytes + len(batch) * self._COLUMN_BYTES
        self.held.append([batch, size])
        self.held_bytes += size
        self.held_packets += len(batch)

    def take(self, mark: int | None) -> Batch | None:
        """The held packets stamped before ``mark`` (None: all), in time order."""
        if self.held_bytes > self.max_held_bytes:
            mark = None
        parts, kept = [], []
        for entry in self.held:
            batch, size = entry
            k = len(batch) if mark is None else int(np.searchsorted(batch.ts, mark, "left"))
            if k == len(batch):
                parts.append(batch)
                self.held_bytes -= size
                continue
            if k:
                parts.append(batch[:k])
                rest = batch[k:]
                rest.drops = rest.freeze_count = 0     # counted once, with the first part
                entry[0] = rest
            kept.append(entry)
        self.held = kept
        if not parts:
            return None
        out = parts[0] if len(parts) == 1 else sorted_concat(parts)
        self.held_packets -= len(out)
        if self.last is not None:
            self.late += int(np.count_nonzero(out.ts < self.last))
        newest = int(out.ts[-1])
        self.last = newest if self.last is None else max(self.last, newest)
        return out


def sorted_concat(parts: list[Batch]) -> Batch:
    """One batch of ``parts`` (each sorted, and a contiguous run of a packed
    batch's data) in timestamp order, ties in the order given: the packet
    bytes are copied once, the packets' order is kept in the columns."""
    datas, starts, base = [], [], 0
    for part in parts:
        begin = int(part.offset[0])
        end = int(part.offset[-1]) + int(part.caplen[-1])
        datas.append(part.data[begin:end])
        starts.append(base - begin)
        base += end - begin
    cols = {name: np.concatenate([getattr(p, name) for p in parts]) for name in COLUMNS
            if name != "offset"}
    cols["offset"] = np.concatenate([p.offset + s for p, s in zip(parts, starts)])
    interfaces = {}
    for part in parts:
        interfaces.update(part.interfaces or {})
    joined = Batch(data=np.concatenate(datas), drops=sum(p.drops for p in parts),
                   freeze_count=sum(p.freeze_count for p in parts),
                   interfaces=interfaces or None, **cols)
    order = np.argsort(joined.ts, kind="stable")
    return joined[order]
