"""`Batch`: the columnar packet container every part of ringcap speaks.

A batch holds one numpy array per field, each of length ``len(batch)``, and
the packed packet bytes in ``data``.  Packet ``i`` is
``data[offset[i] : offset[i] + caplen[i]]``.  Live captures, capture files
and decoders all produce or consume batches, so an analysis written against a
batch works on any of them.
"""
from __future__ import annotations

import datetime as _dt
import importlib
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import numpy as np
import numpy.typing as npt

from . import _pcapio
from .linktypes import (  # noqa: F401  (re-exported: users import them from here)
    LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL,
    LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2, LINKTYPE_NAMES,
    LINKTYPE_CAPTURE_ONLY_NAMES, PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST,
    PACKET_OTHERHOST, PACKET_OUTGOING, PACKET_LOOPBACK, PACKET_USER, PACKET_KERNEL,
    TP_STATUS_USER, TP_STATUS_COPY, TP_STATUS_LOSING, TP_STATUS_CSUMNOTREADY,
    TP_STATUS_VLAN_VALID, TP_STATUS_BLK_TMO, TP_STATUS_VLAN_TPID_VALID, TP_STATUS_CSUM_VALID,
    TP_STATUS_GSO_TCP, TP_STATUS_TS_SOFTWARE, TP_STATUS_TS_SYS_HARDWARE,
    TP_STATUS_TS_RAW_HARDWARE, TS_NONE, TS_SOFTWARE, TS_HARDWARE, TS_SOURCE_NAMES,
    linktype_name, linktype_value, linktype_description, decoded_linktype_names)

# Column name -> dtype.  Order is the order of the repr and of exports.
COLUMNS: dict[str, np.dtype] = {
    "ts": np.dtype(np.int64),          # ns since the Unix epoch
    "caplen": np.dtype(np.uint32),     # bytes kept
    "wirelen": np.dtype(np.uint32),    # length on the wire
    "offset": np.dtype(np.int64),      # start of the packet in `data`
    "ifindex": np.dtype(np.int32),     # interface (live) or interface position (file)
    "pkttype": np.dtype(np.uint8),     # PACKET_HOST, PACKET_BROADCAST, ... PACKET_OUTGOING
    "protocol": np.dtype(np.uint16),   # ethertype, host order
    "vlan_tci": np.dtype(np.uint16),
    "vlan_tpid": np.dtype(np.uint16),
    "rxhash": np.dtype(np.uint32),
    "status": np.dtype(np.uint32),     # raw TP_STATUS_* bits
    "linktype": np.dtype(np.uint16),   # LINKTYPE_* of the bytes in `data` (1: Ethernet)
}


# ---------------------------------------------------------------- exports
# Batch, Headers, FlowTable and FlowRecords have to_arrow()/to_pandas(), but
# the code lives in ringcap.export, which sits above all of them (it decodes
# batches and names flow columns).  export registers its functions here when
# it is imported, the way pandas' plotting backends register, so no columnar
# module imports export: batch <- headers <- export.  The first to_arrow() or
# to_pandas() imports it by name (export_as), as a backend is loaded on first
# use: pyarrow and pandas cost nothing until then.
_EXPORTERS: dict[tuple[type, str], Callable[..., Any]] = {}


def register_exporter(cls: type, kind: str, function: Callable[..., Any]) -> None:
    """Make ``obj.to_<kind>(**options)`` call ``function(obj, **options)`` for ``cls``."""
    _EXPORTERS[cls, kind] = function


def export_as(obj, kind: str, options: Mapping[str, Any]):
    """Call the exporter registered for ``obj``'s class (or a base class) and ``kind``
    (importing :mod:`ringcap.export`, which registers them, on first use)."""
    for attempt in ("registered", "after importing ringcap.export"):
        for cls in type(obj).__mro__:
            function = _EXPORTERS.get((cls, kind))
            if function is not None:
                return function(obj, **options)
        if attempt == "registered":
            importlib.import_module("ringcap.export")
    raise TypeError(f"no {kind} export is registered for {type(obj).__name__}; "
                    "import ringcap (its ringcap.export registers them)")


def check_packet_bounds(offset: np.ndarray, caplen: np.ndarray, data_len: int) -> None:
    """Raise ValueError unless every packet ``data[offset:offset+caplen]`` lies in ``data``.

    ``offset`` is int64 and ``caplen`` uint32; the test is done as
    ``0 <= offset <= data_len - caplen`` in int64, which cannot overflow
    (``data_len`` and ``caplen`` are far below 2**62), so no offset near
    2**63 can wrap around into range.
    """
    n = offset.shape[0]
    if n == 0:
        return
    i = _pcapio.first_out_of_bounds(np.ascontiguousarray(offset, dtype=np.int64),
                                    np.ascontiguousarray(caplen, dtype=np.uint32), int(data_len))
    if i >= 0:          # (one compiled pass: no temporary arrays, batch after batch)
        raise ValueError(
            f"packet {i} lies outside the batch's data: offset {int(offset[i])} + caplen "
            f"{int(caplen[i])} is not within 0..{int(data_len)} bytes; build batches with "
            "Batch(...) or Batch.from_packets(...) and keep offset/caplen consistent with data")


def _linktype_column(linktype, n: int):
    """``Batch(linktype=...)``: Ethernet unless said otherwise (not zeros: 0 is
    LINKTYPE_NULL); one number gives every packet the same link type."""
    if linktype is None:
        linktype = LINKTYPE_ETHERNET
    if np.ndim(linktype) == 0:
        value = int(linktype)
        if not 0 <= value <= 0xFFFF:
            raise ValueError(f"linktype {value} is not a link type (0..65535); see "
                             "ringcap.LINKTYPE_NAMES")
        return np.full(n, value, dtype=np.uint16)
    return linktype


class Batch:
    """A batch of packets, one numpy array per field.

    Columns (each of length ``len(batch)``):

    ``ts`` int64 ns since the Unix epoch; ``caplen`` uint32 bytes kept;
    ``wirelen`` uint32 length on the wire; ``offset`` int64 start of each
    packet in ``data``; ``ifindex`` int32; ``pkttype`` uint8; ``protocol``
    uint16 (ethertype, host order); ``vlan_tci`` / ``vlan_tpid`` uint16;
    ``rxhash`` uint32; ``status`` uint32 (raw ``TP_STATUS_*`` bits);
    ``linktype`` uint16, the pcap ``LINKTYPE_*`` of each packet's bytes
    (``LINKTYPE_ETHERNET``, ``LINKTYPE_RAW``, ``LINKTYPE_LINUX_SLL2``, ...):
    decoders, printers, filters and writers read the bytes by it.

    ``data`` is a uint8 array holding the packet bytes.  It may be shared by
    several batches (slices and masks share it); ``copy()`` packs it.

    Batch-level: ``drops`` and ``freeze_count`` are the kernel's counts for
    the window in which this batch was read; ``interfaces`` optionally maps
    ``ifindex`` values to interface names.

    Indexing: ``batch["ts"]`` is a column (as in pandas and Arrow: the same
    array as ``batch.ts``); ``batch[i]`` is the bytes of packet ``i``;
    ``batch[a:b]``, ``batch[bool_mask]`` and ``batch[int_array]`` are batches.

    A batch made by :meth:`empty` owns reusable buffers and can be passed as
    ``out=`` to ``RxRing.read`` and the file readers: every such read rewrites
    the same memory, so arrays taken from the batch earlier (``t = b.ts``)
    show the new packets in their first entries after the next read.  Call
    :meth:`copy` on anything you keep.
    """

    __slots__ = tuple(COLUMNS) + ("data", "drops", "freeze_count", "interfaces", "_store")

    # The columns' types, for type checkers (tests/test_typing.py keeps them equal to COLUMNS).
    ts: npt.NDArray[np.int64]
    caplen: npt.NDArray[np.uint32]
    wirelen: npt.NDArray[np.uint32]
    offset: npt.NDArray[np.int64]
    ifindex: npt.NDArray[np.int32]
    pkttype: npt.NDArray[np.uint8]
    protocol: npt.NDArray[np.uint16]
    vlan_tci: npt.NDArray[np.uint16]
    vlan_tpid: npt.NDArray[np.uint16]
    rxhash: npt.NDArray[np.uint32]
    status: npt.NDArray[np.uint32]
    linktype: npt.NDArray[np.uint16]
    data: npt.NDArray[np.uint8]
    drops: int
    freeze_count: int
    interfaces: dict[int, str] | None

    def __init__(
        self,
        *,
        ts,
        caplen,
        data,
        offset=None,
        wirelen=None,
        ifindex=None,
        pkttype=None,
        protocol=None,
        vlan_tci=None,
        vlan_tpid=None,
        rxhash=None,
        status=None,
        linktype=None,
        drops: int = 0,
        freeze_count: int = 0,
        interfaces: Mapping[int, str] | None = None,
    ) -> None:
        ts = np.asarray(ts, dtype=np.int64)
        if ts.ndim != 1:
            raise ValueError(f"ts must be one-dimensional, got shape {ts.shape}")
        n = ts.shape[0]
        caplen = np.asarray(caplen, dtype=np.uint32)
        if caplen.shape != (n,):
            raise ValueError(f"caplen has shape {caplen.shape}, expected ({n},) like ts")
        if offset is None:
            offset = np.zeros(n, dtype=np.int64)
            if n:
                np.cumsum(caplen[:-1], out=offset[1:])
        given = dict(
            offset=offset, wirelen=caplen.copy() if wirelen is None else wirelen,
            ifindex=ifindex, pkttype=pkttype, protocol=protocol, vlan_tci=vlan_tci,
            vlan_tpid=vlan_tpid, rxhash=rxhash, status=status,
            linktype=_linktype_column(linktype, n),
        )
        self.ts = ts
        self.caplen = caplen
        for name, value in given.items():
            dtype = COLUMNS[name]
            arr = np.zeros(n, dtype=dtype) if value is None else np.asarray(value, dtype=dtype)
            if arr.shape != (n,):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({n},) like ts")
            setattr(self, name, arr)
        if isinstance(data, (bytes, bytearray, memoryview)):
            # not np.asarray: b"" would become a 1-byte |S1 array
            data = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        data = np.asarray(data)
        if data.dtype != np.uint8 or data.ndim != 1:
            data = np.frombuffer(memoryview(data).cast("B"), dtype=np.uint8)
        self.data = data
        check_packet_bounds(self.offset, self.caplen, data.shape[0])
        self.drops = int(drops)
        self.freeze_count = int(freeze_count)
        self.interfaces = dict(interfaces) if interfaces else None
        self._store = None

    @property
    def ts_source(self) -> np.ndarray:
        """Where each packet's timestamp came from, as a uint8 array of
        ``TS_SOFTWARE`` (1: the stack stamped it on receive), ``TS_HARDWARE``
        (2: the network card did) or ``TS_NONE`` (0: no ``TP_STATUS_TS_*`` bit;
        the kernel read its clock when it copied the packet into the ring, or
        the packet came from a file).  ``TS_SOURCE_NAMES[code]`` names a code."""
        status = np.asarray(self.status)
        source = np.zeros(status.shape[0], dtype=np.uint8)
        source[(status & TP_STATUS_TS_SOFTWARE) != 0] = TS_SOFTWARE
        source[(status & (TP_STATUS_TS_RAW_HARDWARE | TP_STATUS_TS_SYS_HARDWARE)) != 0] = TS_HARDWARE
        return source

    @property
    def losing(self) -> bool:
        """True if the kernel was dropping packets while it filled the ring
        blocks some of these packets came from (``TP_STATUS_LOSING``, which it
        sets on a block closed with drops counted since the statistics were
        last read; ringcap gives the bit to each packet of such a block in
        ``status``).  ``drops`` has the count."""
        return bool(np.any(np.asarray(self.status) & TP_STATUS_LOSING))

    def validate(self) -> "Batch":
        """Check that the columns are consistent and every packet lies inside ``data``.

        Columns are attributes and can be reassigned or written to after
        construction; everything that forms pointers into ``data`` (decoding,
        writing files, sending, copying, exports, ``batch[i]``) runs this check
        (or the same check in C) first.  Raises ValueError saying what is
        wrong; returns the batch.
        """
        n = np.shape(self.ts)[0] if np.ndim(self.ts) == 1 else -1
        for name, dtype in COLUMNS.items():
            column = getattr(self, name)
            if not isinstance(column, np.ndarray) or column.dtype != dtype:
                kind = column.dtype if isinstance(column, np.ndarray) else type(column).__name__
                raise ValueError(f"batch column {name!r} is {kind}, expected a numpy {dtype} "
                                 "array; build batches with Batch(...), which converts")
            if column.ndim != 1 or column.shape[0] != n:
                raise ValueError(f"batch column {name!r} has shape {column.shape}, expected "
                                 f"({n},) like ts")
        data = self.data
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 1:
            raise ValueError("batch.data must be a one-dimensional uint8 numpy array")
        check_packet_bounds(self.offset, self.caplen, data.shape[0])
        return self

    # ------------------------------------------------------------------ building
    @classmethod
    def empty(cls, max_packets: int = 65536, data_bytes: int | None = None) -> "Batch":
        """An empty batch with room for ``max_packets`` packets and ``data_bytes`` bytes.

        Pass it as ``out=`` to reads to refill the same memory with no
        allocation per batch.  ``data_bytes`` defaults to 2 KiB per packet.
        """
        max_packets = int(max_packets)
        if max_packets <= 0:
            raise ValueError(f"max_packets must be positive, got {max_packets}")
        if data_bytes is None:
            data_bytes = 2048 * max_packets
        data_bytes = int(data_bytes)
        if data_bytes <= 0:
            raise ValueError(f"data_bytes must be positive, got {data_bytes}")
        store = {name: np.zeros(max_packets, dtype=dt) for name, dt in COLUMNS.items()}
        store["linktype"][:] = LINKTYPE_ETHERNET
        store["data"] = np.zeros(data_bytes, dtype=np.uint8)
        self = cls._from_store(store, 0, 0)
        return self

    @classmethod
    def _from_store(cls, store: dict, n: int, nbytes: int, drops: int = 0,
                    freeze_count: int = 0, interfaces=None) -> "Batch":
        self = cls.__new__(cls)
        self._store = store
        self.drops = drops
        self.freeze_count = freeze_count
        self.interfaces = interfaces
        self._set_length(n, nbytes)
        return self

    def _set_length(self, n: int, nbytes: int) -> None:
        store = self._store
        for name in COLUMNS:
            setattr(self, name, store[name][:n])
        self.data = store["data"][:nbytes]

    @property
    def capacity(self) -> tuple[int, int] | None:
        """``(max_packets, data_bytes)`` for a reusable batch, else None."""
        if self._store is None:
            return None
        return self._store["ts"].shape[0], self._store["data"].shape[0]

    @classmethod
    def from_packets(cls, packets: Iterable[bytes], ts=None, **columns) -> "Batch":
        """Build a batch from bytes-like packets (handy for tests and crafted traffic)."""
        frames = [bytes(p) for p in packets]
        caplen = np.fromiter((len(p) for p in frames), dtype=np.uint32, count=len(frames))
        data = np.frombuffer(b"".join(frames), dtype=np.uint8).copy()
        if ts is None:
            ts = np.zeros(len(frames), dtype=np.int64)
        return cls(ts=ts, caplen=caplen, data=data, **columns)

    @classmethod
    def concat(cls, batches: Sequence["Batch"]) -> "Batch":
        """One packed batch holding the packets of ``batches`` in order."""
        batches = [b for b in batches]
        if not batches:
            return cls.from_packets([])
        packed = [b.copy() for b in batches]
        sizes = np.array([p.data.shape[0] for p in packed], dtype=np.int64)
        starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))
        cols = {}
        for name in COLUMNS:
            if name == "offset":
                cols[name] = np.concatenate([p.offset + s for p, s in zip(packed, starts)])
            else:
                cols[name] = np.concatenate([getattr(p, name) for p in packed])
        interfaces = {}
        for b in batches:
            interfaces.update(b.interfaces or {})
        return cls(
            data=np.concatenate([p.data for p in packed]),
            drops=sum(b.drops for b in batches),
            freeze_count=sum(b.freeze_count for b in batches),
            interfaces=interfaces or None,
            **cols,
        )

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return self.ts.shape[0]

    def __getitem__(self, index):
        if isinstance(index, str):
            if index in COLUMNS or index == "data":
                return getattr(self, index)
            raise KeyError(f"Batch has no column {index!r}; columns: {', '.join(COLUMNS)}, data")
        if isinstance(index, (bool, np.bool_)):
            raise IndexError("cannot index a Batch with a bool; use a boolean mask array")
        if isinstance(index, (int, np.integer)):
            n = len(self)
            i = int(index)
            if i < 0:
                i += n
            if not 0 <= i < n:
                raise IndexError(f"packet index {index} out of range for a batch of {n}")
            start, length, size = int(self.offset[i]), int(self.caplen[i]), self.data.shape[0]
            if not (0 <= start <= size and length <= size - start):
                raise ValueError(f"packet {i} lies outside the batch's data: offset {start} + "
                                 f"caplen {length} is not within 0..{size} bytes")
            return self.data[start:start + length].tobytes()
        if isinstance(index, slice):
            pass
        else:
            index = np.asarray(index)
            if index.size == 0 and index.dtype == np.float64:   # [] has no dtype of its own
                index = index.astype(np.intp)
            if index.dtype == np.bool_:
                if index.shape != (len(self),):
                    raise IndexError(
                        f"boolean mask has shape {index.shape}, batch has {len(self)} packets")
            elif not np.issubdtype(index.dtype, np.integer):
                raise IndexError(f"cannot index a Batch with an array of {index.dtype}")
        return self._over_data([getattr(self, name)[index] for name in COLUMNS])

    def _over_data(self, columns, out: "Batch | None" = None) -> "Batch":
        """``columns`` (one array per name of ``COLUMNS``, in order) over this
        batch's data, with its drops, freeze count and interfaces: in ``out``
        (a batch reused call after call) or a new batch."""
        if out is None:
            out = Batch.__new__(Batch)
        for name, column in zip(COLUMNS, columns):
            setattr(out, name, column)
        out.data = self.data
        out.drops = self.drops
        out.freeze_count = self.freeze_count
        out.interfaces = self.interfaces
        out._store = None
        return out

    def __iter__(self) -> Iterator[bytes]:
        self.validate()
        data = self.data
        for start, length in zip(self.offset.tolist(), self.caplen.tolist()):
            yield data[start:start + length].tobytes()

    def packets(self) -> list[bytes]:
        """Every packet as ``bytes`` (a Python list: for small batches and tests)."""
        return list(self)

    @property
    def nbytes(self) -> int:
        """Captured bytes in this batch (sum of ``caplen``)."""
        return int(self.caplen.sum(dtype=np.int64))

    def is_packed(self) -> bool:
        """True when packets lie back to back in ``data`` from 0, in order."""
        n = len(self)
        if n == 0:
            return True
        if self.offset[0] != 0:
            return False
        ends = self.offset[:-1] + self.caplen[:-1]
        return bool(np.array_equal(ends, self.offset[1:])) and \
            int(self.offset[-1] + self.caplen[-1]) == self.data.shape[0]

    def copy(self) -> "Batch":
        """A packed batch that owns its memory (nothing shared with this one)."""
        self.validate()
        n = len(self)
        caplen = self.caplen.copy()
        offset = np.zeros(n, dtype=np.int64)
        if n:
            np.cumsum(caplen[:-1], dtype=np.int64, out=offset[1:])
        total = int(offset[-1] + caplen[-1]) if n else 0
        if self.is_packed():
            data = self.data[:total].copy()
        else:
            data = np.empty(total, dtype=np.uint8)
            _pcapio.pack(np.ascontiguousarray(self.data), np.ascontiguousarray(self.offset),
                         caplen, data)
        out = Batch.__new__(Batch)
        for name in COLUMNS:
            setattr(out, name, getattr(self, name).copy())
        out.caplen = caplen
        out.offset = offset
        out.data = data
        out.drops = self.drops
        out.freeze_count = self.freeze_count
        out.interfaces = dict(self.interfaces) if self.interfaces else None
        out._store = None
        return out

    def to_arrow(self, **options):
        """A pyarrow Table, one row per packet; see :func:`ringcap.export.batch_to_arrow`."""
        return export_as(self, "arrow", options)

    def to_pandas(self, **options):
        """A pandas DataFrame, one row per packet; see :func:`ringcap.export.batch_to_pandas`."""
        return export_as(self, "pandas", options)

    def __repr__(self) -> str:
        n = len(self)
        if n == 0:
            return f"<Batch 0 packets, drops={self.drops}>"
        first, last = int(self.ts.min()), int(self.ts.max())
        when = _dt.datetime.fromtimestamp(first // 10**9, _dt.timezone.utc)
        stamp = when.strftime("%Y-%m-%dT%H:%M:%S") + f".{first % 10**9:09d}Z"
        span = (last - first) / 1e9
        return (f"<Batch {n} packets, {self.nbytes} bytes, {stamp} +{span:.6f}s, "
                f"drops={self.drops}>")
