"""Reused byte buffers for the file readers: batch columns, and the windows of
the pread fallback (files are mapped where they can be: reader.py); and how
many packets a loop over a file should ask for at a time.

A reader hands out batches whose arrays view a pool buffer; a buffer is
reused only when nothing views it any more, so batches a caller keeps stay
valid and a loop over a file allocates no fresh memory per batch (fresh
allocations above glibc's mmap threshold are fresh mappings, and filling
them costs far more than reusing a buffer).
"""
from __future__ import annotations

import sys

import numpy as np

from ..batch import COLUMNS, Batch

_POOL_BUFFERS = 3                 # buffers a pool keeps for reuse: the window being read,
                                  # the one the caller's last batch views, one to spare


def _capacity(size: int) -> int:
    """Bytes to allocate for a buffer of ``size``: rounded up to an eighth of
    its power of two, so batches of slightly different sizes fit one buffer."""
    size = max(size, 1)
    step = 1 << max(size.bit_length() - 3, 12)
    return -(-size // step) * step


class _BufferPool:
    """Byte buffers, each handed out again once nothing views it.

    A batch's arrays are views of a pool buffer, and numpy makes every view
    (of a view) refer to the buffer itself, so a buffer whose only
    references are the pool's is free: no batch, column, Arrow or pandas
    object made from it is alive.  ``made`` counts the buffers allocated.
    """

    __slots__ = ("_buffers", "made")

    def __init__(self) -> None:
        self._buffers: list[np.ndarray] = []
        self.made = 0

    def _free(self, i: int) -> bool:
        buffer = self._buffers[i]
        # references: the list, `buffer`, getrefcount's argument; every view adds one
        return sys.getrefcount(buffer) <= 3

    def take(self, size: int, headroom: int = 0) -> np.ndarray:
        """A writable uint8 buffer of at least ``size`` bytes that nothing views;
        a new one has ``headroom`` more, for later requests a little larger."""
        best = None
        for i in range(len(self._buffers)):
            if self._buffers[i].shape[0] >= size and self._free(i) and (
                    best is None or self._buffers[i].shape[0] < self._buffers[best].shape[0]):
                best = i
        if best is not None:
            return self._buffers[best]
        if len(self._buffers) >= _POOL_BUFFERS:
            # forget a free buffer (too small), else the oldest: its batches keep it alive
            free = [i for i in range(len(self._buffers)) if self._free(i)]
            del self._buffers[min(free, key=lambda i: self._buffers[i].shape[0])
                              if free else 0]
        buffer = np.empty(_capacity(size + headroom), dtype=np.uint8)
        self.made += 1
        self._buffers.append(buffer)
        return buffer


# batch columns a file does not fill (pcap: the first two too), zero in its batches
_FILE_ZERO_COLUMNS = ("ifindex", "pkttype", "protocol", "vlan_tci", "vlan_tpid", "rxhash",
                      "status")
_COLUMN_BYTES = sum(dtype.itemsize for dtype in COLUMNS.values())


def _carve(buffer: np.ndarray, rows: int) -> dict[str, np.ndarray]:
    """Every batch column for ``rows`` packets, as 8-byte-aligned views of ``buffer``."""
    columns = {}
    at = 0
    for name, dtype in COLUMNS.items():
        at = -(-at // 8) * 8
        columns[name] = buffer[at:at + rows * dtype.itemsize].view(dtype)
        at += rows * dtype.itemsize
    return columns


def _take_columns(pool: _BufferPool, rows: int) -> dict[str, np.ndarray]:
    """Every batch column for ``rows`` packets, carved from a buffer of ``pool``."""
    return _carve(pool.take(rows * _COLUMN_BYTES + 8 * len(COLUMNS)), rows)


def batch_packets_for(batch: Batch, *, least: int = 8192, most: int = 32768,
                      window_bytes: int = 4 << 20) -> int:
    """Packets per batch for a loop over a file of packets like ``batch``'s
    (its first): about ``window_bytes`` of records a batch, from ``least`` to
    ``most`` packets.  Each batch costs a fixed amount of Python (reading,
    decoding, counting calls, some 0.1 ms), which small packets in small
    batches pay over and over; big packets in big batches make windows whose
    first use (page faults) costs more than it saves."""
    n = len(batch)
    if not n:
        return least
    per_packet = (int(batch.caplen.sum(dtype=np.int64)) + 16 * n) / n
    return max(least, min(most, int(window_bytes // per_packet)))
