"""Where a dataset's rows come from: the ``host`` and ``interface`` columns.

Both are dictionary-encoded strings (one small dictionary per column chunk):
``host`` names the capturing machine, ``interface`` the capture interface
(a ring's ``ifindex`` named, or a pcapng file's IDB ``if_name``; null when
nothing names it).  :class:`RowLabels` turns each batch's rows into codes
into one growing dictionary; the Arrow arrays are built by the Parquet parts.
"""
from __future__ import annotations

import numpy as np

from ..batch import Batch
from .parquet_layout import arrow_column, arrow_strings

__all__ = ["LABEL_COLUMNS", "RowLabels", "label_array"]

#: Where the rows come from, as dictionary-encoded strings: ``host`` (the capturing
#: machine's name, or the sink's ``host=``) and ``interface`` (the capture interface's
#: name, or the pcapng IDB's ``if_name``; null when unknown).  Rows from several
#: sensors in one dataset are told apart and joined by them.
LABEL_COLUMNS: tuple[str, ...] = ("host", "interface")


class RowLabels:
    """The ``host`` and ``interface`` of the rows a sink writes.

    ``interface`` is a name (every row), a mapping ``{ifindex: name}`` (the
    ring's ``ifindex`` column names each row: ``-i any``, several rings), or
    None: each batch's own ``interfaces`` mapping (a pcapng file's IDB
    names) if it has one, else null.  Names become codes into one growing
    dictionary, which is how Parquet stores them (dictionary-encoded).
    """

    def __init__(self, host: str, interface=None) -> None:
        if not isinstance(host, str) or not host:
            raise ValueError(f"host must be a non-empty string, got {host!r}")
        self.host = host
        self.fixed = interface if isinstance(interface, str) else None
        self.by_index = None if interface is None or self.fixed is not None else \
            {int(index): str(name) for index, name in dict(interface).items()}
        self.dictionary: list[str] = []
        self._codes: dict[str, int] = {}

    def _code(self, name) -> int:
        if name is None:
            return -1
        code = self._codes.get(name)
        if code is None:
            code = self._codes[name] = len(self.dictionary)
            self.dictionary.append(name)
        return code

    def interface_codes(self, batch: Batch, out: np.ndarray | None = None) -> np.ndarray:
        """The dictionary code of each packet's interface (-1: unknown, null); into
        ``out`` (int32, one per packet) when given, so a loop allocates nothing."""
        n = len(batch)
        if out is None:
            out = np.empty(n, dtype=np.int32)
        if self.fixed is not None:
            out[:] = self._code(self.fixed)
            return out
        mapping = self.by_index if self.by_index is not None else batch.interfaces
        if not mapping:
            out[:] = -1
            return out
        ifindex = batch.ifindex
        if n and ifindex.min() == ifindex.max():            # one interface: the usual case
            out[:] = self._code(mapping.get(int(ifindex[0])))
            return out
        indexes, inverse = np.unique(ifindex, return_inverse=True)
        table = np.array([self._code(mapping.get(int(i))) for i in indexes], dtype=np.int32)
        np.take(table, inverse.reshape(-1), out=out)
        return out

    def one_interface(self, batch: Batch | None = None) -> str | None:
        """The single interface name of a whole file (flow rows), or None."""
        if self.fixed is not None:
            return self.fixed
        names = set((self.by_index or (batch.interfaces if batch is not None else None)
                     or {}).values())
        return names.pop() if len(names) == 1 else None

    @staticmethod
    def arrow_type(pa):
        return pa.dictionary(pa.int32(), pa.string())

    def host_array(self, pa, rows: int):
        return pa.DictionaryArray.from_arrays(    # the codes: all 0
            arrow_column(pa, pa.int32(), _zeros(rows)), arrow_strings(pa, [self.host]))

    def interface_array(self, pa, codes: np.ndarray):
        codes = np.ascontiguousarray(codes, dtype=np.int32)
        # validity only where a code is -1 (null): none, all (zeros kept for all) or a mask
        known = None if not len(codes) or codes.min() >= 0 else codes >= 0 if codes.max() >= 0 \
            else _zeros(len(codes)).view(np.bool_)[:len(codes)]
        return pa.DictionaryArray.from_arrays(
            arrow_column(pa, pa.int32(), codes, known),
            arrow_strings(pa, self.dictionary))


_ZEROS = np.zeros(0, dtype=np.int32)


def _zeros(rows: int) -> np.ndarray:
    """``rows`` int32 zeros: a view of one read-only array kept for every call."""
    global _ZEROS
    if _ZEROS.shape[0] < rows:
        _ZEROS = np.zeros(rows, dtype=np.int32)
        _ZEROS.setflags(write=False)
    return _ZEROS[:rows]


def label_array(pa, labels: RowLabels, name: str, rows: int, interface: str | None):
    """The host or interface column of ``rows`` flow rows."""
    if name == "host":
        return labels.host_array(pa, rows)
    return pa.DictionaryArray.from_arrays(
        arrow_column(pa, pa.int32(), np.zeros(rows, dtype=np.int32),
                     np.full(rows, interface is not None)),
        arrow_strings(pa, [] if interface is None else [interface]))
