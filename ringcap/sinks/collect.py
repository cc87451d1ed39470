"""`BatchCollector`: a sink that keeps the packets in memory, compactly.

Each written batch is copied, packed, into buffers that grow by half again
when full, so memory is proportional to the packets kept (at most about
1.5x their bytes and columns while collecting, exact after :meth:`batch`),
whatever buffers the reads came in.
"""
from __future__ import annotations

import numpy as np

from ..batch import COLUMNS, Batch
from .base import Sink


class BatchCollector(Sink):
    """Collect written packets; :meth:`batch` returns them as one packed batch."""

    def __init__(self, packets_hint: int = 1024, bytes_hint: int = 1 << 16) -> None:
        super().__init__()
        self._cols = {name: np.empty(max(1, packets_hint), dtype=dt)
                      for name, dt in COLUMNS.items()}
        self._data = np.empty(max(1, bytes_hint), dtype=np.uint8)
        self._n = 0
        self._nbytes = 0
        self._interfaces: dict = {}
        self._freeze_count = 0
        self._result: Batch | None = None

    @property
    def bytes_written(self) -> int:
        return self._nbytes

    @bytes_written.setter
    def bytes_written(self, value) -> None:
        pass

    @staticmethod
    def _grown(array: np.ndarray, needed: int) -> np.ndarray:
        if needed <= array.shape[0]:
            return array
        size = max(needed, array.shape[0] + array.shape[0] // 2)
        bigger = np.empty(size, dtype=array.dtype)
        bigger[:array.shape[0]] = array
        return bigger

    def _write(self, batch) -> int:
        n, nbytes = len(batch), batch.nbytes
        start, byte_start = self._n, self._nbytes
        for name in COLUMNS:
            self._cols[name] = self._grown(self._cols[name], start + n)
        self._data = self._grown(self._data, byte_start + nbytes)
        packed = batch if batch.is_packed() else batch.copy()
        for name in COLUMNS:
            if name != "offset":
                self._cols[name][start:start + n] = getattr(packed, name)
        self._cols["offset"][start:start + n] = packed.offset + byte_start
        self._data[byte_start:byte_start + nbytes] = packed.data[:nbytes]
        self._n += n
        self._nbytes += nbytes
        self.packets_written += n
        self._freeze_count += int(batch.freeze_count)
        if batch.interfaces:
            self._interfaces.update(batch.interfaces)
        return n

    def _close(self, stats) -> None:
        n, nbytes = self._n, self._nbytes
        cols = {name: self._cols[name][:n].copy() for name in COLUMNS}
        self._cols = {}
        result = Batch.__new__(Batch)
        for name, column in cols.items():
            setattr(result, name, column)
        result.data = self._data[:nbytes].copy()
        self._data = np.empty(0, dtype=np.uint8)
        result.drops = int(stats.drops) if stats is not None else 0
        result.freeze_count = self._freeze_count
        result.interfaces = self._interfaces or None
        result._store = None
        self._result = result

    def batch(self) -> Batch:
        """Every packet collected, as one packed batch (closes the collector)."""
        self.close()
        return self._result
