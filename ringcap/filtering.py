"""Filtering batches with classic BPF: ringcap's own interpreter over a batch's
packets (:class:`CompiledFilter`, :class:`LinkTypeFilter` per link type,
:class:`Selection` gathering the accepted rows), as ``tcpdump -r`` filters.
The programs come from :mod:`ringcap.bpf`, which needs no numpy.
"""
from __future__ import annotations

from typing import Sequence, Union

import numpy as np

from . import _bpf, _pcapio
from .batch import COLUMNS, Batch
from .bpf import DLT_EN10MB, Instruction, compile_filter, validate_program

SOCK_FILTER = np.dtype([("code", "<u2"), ("jt", "u1"), ("jf", "u1"), ("k", "<u4")])


class CompiledFilter:
    """A filter compiled once and run over batches by ringcap's own interpreter.

    ``spec`` is a tcpdump-syntax string (compiled by libpcap for
    ``linktype``/``snaplen``, as ``tcpdump -r`` does) or a raw program of
    ``(code, jt, jf, k)`` tuples.  :meth:`mask` runs the classic-BPF program
    over every packet of a batch in compiled code without the GIL, with
    libpcap's and the kernel's semantics (a load past the captured bytes
    rejects the packet).
    """

    __slots__ = ("expression", "instructions", "program")

    def __init__(self, spec: Union[str, Sequence[Instruction]], *, snaplen: int = 262144,
                 linktype: int = DLT_EN10MB, file_linktype: int | None = None,
                 swapped: bool = False) -> None:
        if isinstance(spec, str):
            self.expression: str | None = spec
            insns = compile_filter(spec, snaplen=snaplen, linktype=linktype,
                                   file_linktype=file_linktype, swapped=swapped)
        elif isinstance(spec, (bytes, bytearray)):
            raise ValueError("a filter must be a tcpdump-syntax str or a sequence of "
                             "(code, jt, jf, k) tuples, not bytes")
        else:
            self.expression = None
            insns = validate_program(spec)
        self.instructions: list[Instruction] = insns
        self.program = np.array(insns, dtype=SOCK_FILTER).view(np.uint8)
        _bpf.check_program(self.program)

    def mask(self, batch) -> np.ndarray:
        """A boolean array: True where the program accepts the packet."""
        n = len(batch)
        out = np.zeros(n, dtype=np.uint8)
        _bpf.run_filter(self.program, np.ascontiguousarray(batch.data, dtype=np.uint8),
                        np.ascontiguousarray(batch.offset, dtype=np.int64),
                        np.ascontiguousarray(batch.caplen, dtype=np.uint32),
                        np.ascontiguousarray(batch.wirelen, dtype=np.uint32), out)
        return out.view(np.bool_)

    def __call__(self, batch):
        """The packets of ``batch`` the program accepts, as a batch (sharing its data)."""
        return batch[self.mask(batch)]

    def __repr__(self) -> str:
        what = repr(self.expression) if self.expression is not None else "raw program"
        return f"<CompiledFilter {what}, {len(self.instructions)} instructions>"


class LinkTypeFilter:
    """A tcpdump-syntax filter for packets of any link type, as ``tcpdump -r``
    runs it on a file: compiled by libpcap for each link type met (a pcapng
    file's interfaces may differ), as for a file of that link type (in the
    other byte order if ``swapped``), and run on the packets of that type.
    ``mask(batch)`` follows ``batch.linktype`` packet by packet."""

    __slots__ = ("expression", "snaplen", "swapped", "_by_linktype")

    def __init__(self, expression: str, *, snaplen: int = 262144, swapped: bool = False) -> None:
        self.expression = expression
        self.snaplen = int(snaplen)
        self.swapped = bool(swapped)
        self._by_linktype: dict[int, CompiledFilter] = {}

    def for_linktype(self, linktype: int) -> CompiledFilter:
        """The program for packets of ``linktype`` (a ``LINKTYPE_*`` value)."""
        linktype = int(linktype)
        compiled = self._by_linktype.get(linktype)
        if compiled is None:
            compiled = CompiledFilter(self.expression, snaplen=self.snaplen,
                                      file_linktype=linktype, swapped=self.swapped)
            self._by_linktype[linktype] = compiled
        return compiled

    def mask(self, batch) -> np.ndarray:
        """A boolean array: True where the program for the packet's link type accepts it."""
        linktype = np.asarray(batch.linktype)
        if len(linktype) == 0 or linktype.min() == linktype.max():      # (no mask made)
            kind = int(linktype[0]) if len(linktype) else 1
            return self.for_linktype(kind).mask(batch)
        out = np.zeros(len(linktype), dtype=np.bool_)
        for kind in np.unique(linktype).tolist():
            rows = np.flatnonzero(linktype == kind)
            out[rows] = self.for_linktype(kind).mask(batch[rows])
        return out

    def __repr__(self) -> str:
        return f"<LinkTypeFilter {self.expression!r}, link types {sorted(self._by_linktype)}>"


def _compiled(spec) -> CompiledFilter:
    return spec if isinstance(spec, CompiledFilter) else CompiledFilter(spec)


def filter_mask(batch, filter) -> np.ndarray:
    """Boolean mask of the packets of ``batch`` that ``filter`` accepts.

    ``filter``: a tcpdump-syntax string, a raw program, or a
    :class:`CompiledFilter` (compile once when filtering many batches).
    """
    return _compiled(filter).mask(batch)


def filter_batch(batch, filter):
    """The packets of ``batch`` that ``filter`` accepts (see :func:`filter_mask`)."""
    return _compiled(filter)(batch)


class Selection:
    """The packets of each batch a filter accepts, gathered into columns this
    object reuses: what a filtered loop (``ringcap -r FILE FILTER``, ``stats
    -f``, ``top -r``, ``convert``) runs per batch instead of ``batch[mask]``.

    :meth:`select` runs the program over the batch writing the indexes of the
    packets it accepts (no mask), then copies those rows of every column in
    one compiled pass into buffers grown only when a batch needs more room.
    The batch it returns shares ``data`` with the batch given (as
    ``batch[mask]`` does) and is rewritten by the next :meth:`select`: call
    ``copy()`` on anything kept.  ``filter``: a tcpdump-syntax string (a
    :class:`LinkTypeFilter` is made), a :class:`LinkTypeFilter` or a
    :class:`CompiledFilter`.
    """

    __slots__ = ("filter", "examined", "_chosen", "_scratch", "_columns", "_out")

    def __init__(self, filter) -> None:
        if isinstance(filter, str):
            filter = LinkTypeFilter(filter)
        elif not isinstance(filter, (LinkTypeFilter, CompiledFilter)):
            filter = CompiledFilter(filter)
        self.filter = filter
        #: Packets of the last batch given that were examined: all of them, or up
        #: to the last one selected when ``limit`` cut the selection short.
        self.examined = 0
        self._chosen = np.empty(0, dtype=np.int64)
        self._scratch = self._chosen
        self._columns: dict[str, np.ndarray] = {}
        self._out = Batch.__new__(Batch)

    def _room(self, n: int) -> None:
        if self._scratch.shape[0] >= n:
            return
        size = max(n, self._chosen.shape[0], 1024)
        # twice the rows: with several link types, each program's run is written
        # after those found so far (room for a whole batch), then merged in
        self._chosen = np.empty(2 * size, dtype=np.int64)
        self._scratch = np.empty(size, dtype=np.int64)
        self._columns = {name: np.empty(size, dtype=dtype) for name, dtype in COLUMNS.items()}

    def _indexes(self, batch, program, kind: int) -> int:
        return _bpf.filter_indices(program, batch.data, batch.offset, batch.caplen,
                                   batch.wirelen, batch.linktype, kind, self._chosen)

    def select(self, batch, limit: int | None = None):
        """The packets of ``batch`` the filter accepts, the first ``limit`` of them
        at most; ``batch`` itself when it accepts them all."""
        n = len(batch)
        self._room(n)
        if n == 0:
            self.examined = 0
            return batch
        batch.validate()
        if not all(getattr(batch, name).flags.c_contiguous for name in COLUMNS) \
                or not batch.data.flags.c_contiguous:
            batch = batch.copy()          # (a strided slice of a batch: rare)
        linktype = batch.linktype
        if isinstance(self.filter, CompiledFilter):
            count = self._indexes(batch, self.filter.program, -1)
        elif linktype[0] == linktype.min() == linktype.max():
            count = self._indexes(batch, self.filter.for_linktype(int(linktype[0])).program, -1)
        else:                     # several link types: each its program, runs merged
            count = 0
            for kind in _bpf.distinct_kinds(linktype):
                program = self.filter.for_linktype(kind).program
                found = _bpf.filter_indices(program, batch.data, batch.offset, batch.caplen,
                                            batch.wirelen, linktype, kind,
                                            self._chosen[count:])
                count = _bpf.merge_indices(self._chosen, count, found, self._scratch)
        self.examined = n
        if limit is not None and count > limit:
            count = max(0, int(limit))
            self.examined = int(self._chosen[count - 1]) + 1 if count else 0
        if count == n:
            return batch
        columns, out = self._columns, self._out
        _pcapio.gather(self._chosen, count, batch.data.shape[0],
                       *(getattr(batch, name) for name in COLUMNS),
                       *columns.values())
        return batch._over_data([column[:count] for column in columns.values()], out)

    def __call__(self, batches):
        """Each batch of ``batches`` filtered (the same reused batch each time)."""
        for batch in batches:
            yield self.select(batch)
