"""Application-layer columns (DNS, HTTP/1.x, DHCPv4, NTP, TLS, QUIC) and string columns.

``decode(batch, columns=[..., "dns_qname"])`` asks for them by name; this
module holds what :mod:`ringcap.headers` needs for that: the column table,
:class:`StringColumn` (Arrow-style offsets plus bytes, never a Python object
per packet) and :func:`decode_app`, which runs the compiled pass
(``pyx/_app.pyx``) over a batch whose header columns are decoded.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Iterator

import numpy as np

from . import _app
from .batch import Batch
from .textnames import host_name

__all__ = ["APP_COLUMNS", "STRING_COLUMNS", "APP_PROTOCOLS", "APP_PROTO_NAMES", "StringColumn",
           "APP_MALFORMED", "APP_TRUNCATED", "decode_app", "NEEDED_HEADER_COLUMNS",
           "host_name", "AppRows"]

#: Bit of ``Headers.flags``: the message goes on past its packet (it would need
#: reassembly) or past the captured bytes; its columns hold what was captured.
APP_TRUNCATED: int = _app.FLAG_BITS["APP_TRUNCATED"]
#: Bit of ``Headers.flags``: the payload is not the message its port or first bytes
#: announce (a bad length, a name pointer loop, ...); what could not be read stays empty.
APP_MALFORMED: int = _app.FLAG_BITS["APP_MALFORMED"]

#: ``app_proto`` values: name -> number (0: none).
APP_PROTOCOLS: dict[str, int] = dict(_app.APP_PROTOCOLS)
#: ``app_proto`` number -> name.
APP_PROTO_NAMES: dict[int, str] = {v: k for k, v in APP_PROTOCOLS.items()}

#: Application column name -> (numpy dtype, or ``"str"`` for a :class:`StringColumn`; width).
APP_COLUMNS: dict[str, tuple[Any, int]] = {
    name: ("str" if kind == "str" else np.dtype(kind), width)
    for name, kind, width in _app.COLUMN_LAYOUT
}
#: The string columns among :data:`APP_COLUMNS`.
STRING_COLUMNS: tuple[str, ...] = tuple(n for n, (kind, _) in APP_COLUMNS.items() if kind == "str")

_APP_NAMES = frozenset(APP_COLUMNS)
#: The protocol each column belongs to (``app_proto`` to all of them).
_PROTOCOL_OF = {name: name.split("_")[0] for name in APP_COLUMNS if name != "app_proto"}
#: Header columns the application pass reads (``decode`` decodes them when an
#: application column is asked for, and keeps only the ones asked for).
NEEDED_HEADER_COLUMNS: tuple[str, ...] = ("ip_proto", "sport", "dport", "payload_offset",
                                          "payload_len", "flags")
_NEEDED_NAMES = frozenset(NEEDED_HEADER_COLUMNS)


_new_object = object.__new__     # decode_app makes its StringColumns without __init__'s checks


class StringColumn:
    """A column of strings stored as Arrow stores them: ``offsets`` and ``data``.

    String ``i`` is ``data[offsets[i]:offsets[i + 1]]`` (UTF-8; control
    characters and bytes that are not UTF-8 appear as ``\\xNN``).  An empty
    string means the packet had no such field; Arrow and pandas show it as
    null.  ``column[i]`` is a ``str``, ``column[mask]``/``column[a:b]`` a
    StringColumn, ``column == "example.com"`` a boolean array,
    ``to_numpy()`` an object array (None for empty), ``to_arrow()`` a
    ``pa.string()`` array over the same buffers (no copy) and
    ``to_pandas()`` a ``string[pyarrow]`` Series.
    """

    __slots__ = ("offsets", "data")

    def __init__(self, offsets: np.ndarray, data: np.ndarray):
        offsets = np.asarray(offsets)
        data = np.asarray(data)
        if offsets.dtype != np.int32 or offsets.ndim != 1 or offsets.shape[0] < 1:
            raise ValueError("offsets must be a 1-d int32 array of n + 1 entries")
        if data.dtype != np.uint8 or data.ndim != 1:
            raise ValueError("data must be a 1-d uint8 array")
        if offsets[0] != 0 or offsets[-1] > data.shape[0] or np.any(np.diff(offsets) < 0):
            raise ValueError("offsets must start at 0, never decrease and end inside data")
        self.offsets = offsets
        self.data = data

    @classmethod
    def _trusted(cls, offsets: np.ndarray, data: np.ndarray) -> StringColumn:
        """Wrap the compiled pass's arrays, whose invariants it guarantees (checking
        them again cost about half a ns per packet and column)."""
        column = cls.__new__(cls)
        column.offsets = offsets
        column.data = data
        return column

    @classmethod
    def from_strings(cls, values) -> StringColumn:
        """A StringColumn of Python strings (None for empty), e.g. for tests."""
        encoded = [(v or "").encode() for v in values]
        offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
        np.cumsum([len(e) for e in encoded], out=offsets[1:])
        return cls(offsets, np.frombuffer(b"".join(encoded), dtype=np.uint8).copy())

    def __len__(self) -> int:
        return self.offsets.shape[0] - 1

    def lengths(self) -> np.ndarray:
        """Bytes of each string (0: absent)."""
        return np.diff(self.offsets)

    def __getitem__(self, index):
        if isinstance(index, (int, np.integer)):
            n = len(self)
            if index < 0:
                index += n
            if not 0 <= index < n:
                raise IndexError(f"index {index} out of range for {n} strings")
            return self.data[self.offsets[index]:self.offsets[index + 1]].tobytes().decode()
        if isinstance(index, slice) and index.step in (None, 1):
            start, stop, _ = index.indices(len(self))
            stop = max(stop, start)
            offsets = self.offsets[start:stop + 1]
            return StringColumn(offsets - offsets[0],
                                self.data[offsets[0]:offsets[-1]])
        rows = np.arange(len(self))[index]
        lengths = self.lengths()[rows]
        offsets = np.zeros(len(rows) + 1, dtype=np.int32)
        np.cumsum(lengths, out=offsets[1:])
        starts = self.offsets[:-1][rows]
        positions = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return StringColumn(offsets, self.data[positions])

    def __iter__(self) -> Iterator[str]:
        for i in range(len(self)):
            yield self[i]

    def __eq__(self, other):  # type: ignore[override]
        """``column == "text"``: a boolean array, vectorized."""
        if isinstance(other, StringColumn):
            return NotImplemented
        if not isinstance(other, str):
            return NotImplemented
        wanted = np.frombuffer(other.encode(), dtype=np.uint8)
        same = self.lengths() == len(wanted)
        if len(wanted) and same.any():
            rows = np.flatnonzero(same)
            cells = self.data[self.offsets[rows][:, None] + np.arange(len(wanted))]
            same[rows] = (cells == wanted).all(axis=1)
        return same

    def __ne__(self, other):  # type: ignore[override]
        result = self.__eq__(other)
        return result if result is NotImplemented else ~result

    __hash__ = None  # type: ignore[assignment]

    def to_numpy(self) -> np.ndarray:
        """An object array of ``str``, None where the string is empty."""
        out = np.empty(len(self), dtype=object)
        text = self.data.tobytes()
        bounds = self.offsets.tolist()
        for i in range(len(self)):
            if bounds[i + 1] > bounds[i]:
                out[i] = text[bounds[i]:bounds[i + 1]].decode()
        return out

    def to_arrow(self):
        """A ``pa.string()`` array over the same buffers; empty strings are null."""
        import pyarrow as pa
        n = len(self)
        present = self.lengths() > 0
        nulls = n - int(np.count_nonzero(present))
        validity = pa.py_buffer(np.packbits(present, bitorder="little")) if nulls else None
        return pa.StringArray.from_buffers(n, pa.py_buffer(self.offsets),
                                           pa.py_buffer(self.data), validity, nulls)

    def to_pandas(self, index=None):
        """A pandas Series of dtype ``string[pyarrow]`` (``<NA>`` where empty)."""
        import pandas as pd
        return pd.Series(pd.arrays.ArrowStringArray(self.to_arrow()), index=index, copy=False)

    def __repr__(self) -> str:
        shown = ", ".join(repr(s) for s in (self[i] for i in range(min(len(self), 5))))
        more = ", ..." if len(self) > 5 else ""
        return f"<StringColumn {len(self)} strings, {self.data.shape[0]} bytes: [{shown}{more}]>"


def protocols_of(names) -> tuple[str, ...]:
    """The application protocols the column ``names`` need (TLS columns need QUIC too)."""
    wanted = {_PROTOCOL_OF[n] for n in names if n in _PROTOCOL_OF}
    if "app_proto" in names:
        wanted = set(APP_PROTOCOLS)
    if "tls" in wanted:
        wanted.add("quic")              # QUIC Initials carry a ClientHello
    return tuple(sorted(wanted))


def split_names(names: set[str]) -> tuple[set[str], set[str], set[str]]:
    """(header columns, application columns, header columns to decode only for the
    application pass) of the column names asked for."""
    app = names & _APP_NAMES
    header = names - app
    return header, app, (_NEEDED_NAMES - header if app else set())


def app_column(columns: dict[str, Any], name: str):
    """``columns[name]``, or AttributeError saying how to ask for it."""
    if name not in columns:
        raise AttributeError(f"application column {name!r} was not decoded: ask for it by "
                             f"name, ringcap.decode(batch, columns=[..., {name!r}])")
    return columns[name]


@lru_cache(maxsize=256)
def _plan(names: frozenset) -> tuple:
    """What decoding the application columns ``names`` needs, worked out once per
    set of names: (protocols, (ports, rule) of the header pass's list, the
    fixed-width columns as (name, dtype, shape of one row) and their names, the
    string columns)."""
    protocols = protocols_of(names)
    fixed = tuple((name, kind, (width,) if width > 1 else ())
                  for name, (kind, width) in APP_COLUMNS.items() if kind != "str" and name in names)
    strings = tuple(name for name in STRING_COLUMNS if name in names)
    return protocols, _app.candidate_rule(protocols), fixed, tuple(name for name, _, _ in fixed), strings


def app_selection(names, n: int, reuse: AppRows | None = None) -> tuple:
    """The arguments that make the header pass (``_decode.decode_into``) list the
    packets that may carry a message of the application columns ``names``, for
    :func:`decode_app`'s ``rows``: ``(ports, rule, rows)``; ``()`` when ``names``
    is empty.  ``reuse``: the :class:`AppRows` of ``decode(out=...)``, whose
    list buffer is written again (else a fresh one)."""
    if not names:
        return ()
    rows = np.empty(n, dtype=np.int64) if reuse is None else reuse.next_list(n)
    return (*_plan(frozenset(names))[1], rows)


class AppRows:
    """The fixed-width application columns that ``decode(batch, out=headers)``
    fills again, kept with ``headers`` (and the Headers it returns) at their
    full number of rows, and ``written``: the only rows of them the last pass
    may have made non-zero (its list of packets to look at; None: any).  The
    next pass zeroes those rows, not the whole columns, so a packet without a
    message costs nothing there.  The lists are written into two buffers kept
    here in turn (the one ``written`` views is never the one written next), and
    the header columns the pass needs but ``headers`` lacks (``helpers``) are
    kept too, so a loop of ``decode(out=...)`` allocates nothing per batch
    but the strings' bytes.  String columns' offsets are made afresh each
    time (a StringColumn kept from an earlier batch stays whole), unless
    ``reuse_strings`` (``HeadersBuffer``, whose Headers are valid only until
    its next decode): then they too are written again into kept arrays."""

    __slots__ = ("rows", "fixed", "written", "helpers", "offsets", "_lists")

    def __init__(self, rows: int, fixed: dict[str, np.ndarray] | None = None,
                 written: np.ndarray | None = None, reuse_strings: bool = False):
        self.rows = rows
        self.fixed: dict[str, np.ndarray] = {} if fixed is None else fixed
        self.written = written
        self.helpers: dict[str, np.ndarray] = {}
        # string column -> its offsets' array, written again (None: made afresh)
        self.offsets: dict[str, np.ndarray] | None = {} if reuse_strings else None
        self._lists = [np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)]

    def string_offsets(self, names, n: int) -> dict[str, np.ndarray | None]:
        """The offsets arrays (``n + 1`` each) the pass fills for the string
        columns ``names``: kept ones with ``reuse_strings``, else None (made)."""
        kept = self.offsets
        if kept is None:
            return dict.fromkeys(names)
        for name in names:
            if name not in kept or kept[name].shape[0] < n + 1:
                kept[name] = np.empty(max(n, self.rows) + 1, dtype=np.int32)
        return {name: kept[name][:n + 1] for name in names}

    def next_list(self, n: int) -> np.ndarray:
        """A buffer of at least ``n`` int64 for the header pass's list of packets,
        not the one ``written`` views."""
        i = 1 if self.written is not None and self.written.base is self._lists[0] else 0
        if self._lists[i].shape[0] < n:
            self._lists[i] = np.empty(max(n, self.rows), dtype=np.int64)
        return self._lists[i]


def decode_app(batch: Batch, columns: dict[str, np.ndarray], names, drop=(),
               rows: np.ndarray | None = None, out=None) -> tuple[dict[str, Any], AppRows]:
    """``columns`` (header columns of ``batch``, with :data:`NEEDED_HEADER_COLUMNS`)
    less those in ``drop``, plus the application columns ``names``; sets the APP_*
    bits in ``columns["flags"]``.  ``rows``: the packets that may carry a message,
    as the header pass listed them (see :func:`app_selection`); None: look at
    every packet.  ``out``: the Headers given to ``decode(out=...)``, whose
    :class:`AppRows` (made on first use) are filled again; None: fresh
    columns.  Returns the columns and the :class:`AppRows` holding the
    fixed-width ones."""
    n = len(batch)
    protocols, _, fixed_layout, fixed_names, string_names = _plan(frozenset(names))
    clear = None
    if out is not None and out._app_rows is None:
        out._app_rows = AppRows(len(out))
    reuse = None if out is None else out._app_rows
    if reuse is None:
        # fresh columns, zeroed (made by the pass); it writes the packets with a message
        fixed = dict.fromkeys(fixed_names)
        reuse = AppRows(n, fixed)
    else:
        fixed = reuse.fixed
        if reuse.written is None:
            for array in fixed.values():
                array[:] = 0
        else:
            clear = reuse.written
        for name, kind, shape in fixed_layout:
            if name not in fixed:
                fixed[name] = np.zeros((reuse.rows, *shape), dtype=kind)
    # offsets made by the pass, or written into reuse's (HeadersBuffer)
    strings = dict.fromkeys(string_names) if out is None else reuse.string_offsets(string_names, n)
    data = _app.decode_app(
        np.ascontiguousarray(batch.data, dtype=np.uint8),
        np.ascontiguousarray(batch.offset, dtype=np.int64),
        np.ascontiguousarray(batch.caplen, dtype=np.uint32),
        *(np.ascontiguousarray(columns[name]) for name in NEEDED_HEADER_COLUMNS[:-1]),
        columns["flags"], fixed, strings, protocols, rows, clear)
    # the pass wrote no row off its list: the next one into these columns zeroes only those
    # (kept as it is when it is a fresh list or one of reuse's two buffers)
    if rows is not None and out is not None and not any(
            rows.base is kept for kept in reuse._lists):
        rows = rows.copy()
    reuse.written = rows
    result: dict[str, Any] = {k: v for k, v in columns.items() if k not in drop} if drop \
        else dict(columns)
    if reuse.rows == n:
        for name in fixed_names:
            result[name] = fixed[name]
    else:
        for name in fixed_names:
            result[name] = fixed[name][:n]
    for name in string_names:
        column = _new_object(StringColumn)      # StringColumn._trusted, inline
        column.offsets = strings[name]
        column.data = data[name]
        result[name] = column
    return result, reuse
