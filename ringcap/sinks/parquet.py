"""Hive-partitioned Parquet datasets of packets or flow records.

:class:`ParquetSink` writes one row per packet (the batch's columns, the
decoded header columns, optionally the frame bytes) into
``ROOT/date=YYYY-MM-DD/hour=HH/part-<host>-<worker>-<seq>.parquet``;
:class:`FlowSink` writes one row per flow per time interval.  DuckDB, Spark,
Polars and pandas read either as one table, the partition folders becoming
``date`` and ``hour`` columns.

Both are :class:`~ringcap.sinks.RotatingSink` subclasses: a file is written under a
hidden temporary name (``.part-....parquet.PID.inprogress``: readers skip
names that start with a dot and globs for ``*.parquet`` do not match it) and
renamed into place when finished, so a reader never sees a partial file and a
writer killed mid-file leaves complete files plus one temporary file.

Columns go to Arrow without copies where the layout allows; rows are
gathered into preallocated row groups (:data:`DEFAULT_ROW_GROUP_ROWS`), the
headers decoded straight into them.  pyarrow is an optional dependency:
``pip install 'ringcap[parquet]'``.

One module of some 1,100 lines: packet rows and flow rows are two parts of
one dataset writer (partitioning, naming, row groups, file metadata and the
worker factory are shared), and they change together.  How columns are
encoded, compressed and paged is apart, in :mod:`ringcap.sinks.parquet_layout`.
"""
from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import re
import socket
from dataclasses import asdict, is_dataclass
from typing import Iterable, Sequence

import numpy as np

from ..appcolumns import APP_COLUMNS, APP_MALFORMED, APP_TRUNCATED, NEEDED_HEADER_COLUMNS, AppRows
from ..batch import COLUMNS, Batch
from ..headers import (DEFAULT_COLUMNS, FIVE_TUPLE_COLUMNS, FLOW_COLUMNS, HEADER_COLUMNS,
                      NO_TIMESTAMP, Headers)
from ..headers import FlowWork, HeadersBuffer, decode as decode_batch
from ..headers import flows as batch_flows
from ..flowmeter import DEFAULT_MAX_FLOWS, FlowMeter, FlowRecords
from .labels import LABEL_COLUMNS, RowLabels, label_array as _label_array
from .parquet_layout import arrow_column, writer_options as _writer_options
from .rotating import RotatingSink, Rotation

__all__ = ["ParquetSink", "FlowSink", "ParquetPart", "FlowPart", "FlowFeaturePart",
           "HivePartitions", "DatasetNaming", "DatasetWorkers", "PACKET_COLUMNS",
           "DEFAULT_PACKET_COLUMNS", "NOT_BY_DEFAULT", "FRAME_OFFSET_COLUMNS",
           "DEFAULT_ROW_GROUP_ROWS", "LABEL_COLUMNS", "TIMESTAMP_UNITS", "merge_flow_tables",
           "flow_schema"]

#: Batch columns a packet dataset can hold (``offset`` is an address in memory, not data).
BATCH_COLUMNS: tuple[str, ...] = tuple(name for name in COLUMNS if name != "offset")
#: Units ``timestamp_unit=`` takes.  Every unit but ``"ns"`` adds ``ts_ns`` (int64
#: nanoseconds since the epoch, exact) beside ``ts``, so no precision is lost; ``"us"``
#: (the default) is the unit Spark, DuckDB, Polars and pandas all read as a timestamp
#: with no settings (Spark refuses nanosecond Parquet timestamps).
TIMESTAMP_UNITS: tuple[str, ...] = ("us", "ns", "ms", "s")
#: Every column a packet dataset can hold, in file order: the batch's, the decoded
#: headers' (:data:`ringcap.headers.HEADER_COLUMNS`) and ``data`` (the frame bytes).
PACKET_COLUMNS: tuple[str, ...] = (BATCH_COLUMNS + LABEL_COLUMNS + tuple(HEADER_COLUMNS)
                                   + tuple(APP_COLUMNS) + ("data",))
#: Columns of the batch and the decoder a packet dataset leaves out by default: the
#: kernel's VLAN metadata (``vlan_tci``, ``vlan_tpid``: the decoder reports the tag in
#: ``vlan_outer``), the NIC's ``rxhash``, the ring's ``status`` bits, the link
#: ``protocol`` the kernel reports (``ethertype`` is the decoded one) and the offsets
#: into the frame (:data:`FRAME_OFFSET_COLUMNS`), which are default only with the
#: frame bytes.  Each cost the encoder time on every packet for values that are
#: almost always zero, constant or duplicated; ``columns=`` or ``columns="all"`` adds them.
NOT_BY_DEFAULT: tuple[str, ...] = ("protocol", "vlan_tci", "vlan_tpid", "rxhash", "status",
                                   "l3_offset", "l4_offset", "payload_offset")
#: Where the network header, the transport header and the payload start in ``data``:
#: part of the default columns when the dataset holds the frame bytes (``include_payload=True``).
FRAME_OFFSET_COLUMNS: tuple[str, ...] = ("l3_offset", "l4_offset", "payload_offset")
#: What a packet dataset holds by default: the batch's columns and the header columns
#: ``ringcap.decode`` fills by default (:data:`ringcap.headers.DEFAULT_COLUMNS`), less
#: :data:`NOT_BY_DEFAULT`; with ``include_payload=True`` also the frame bytes and
#: :data:`FRAME_OFFSET_COLUMNS`.
DEFAULT_PACKET_COLUMNS: tuple[str, ...] = tuple(
    name for name in BATCH_COLUMNS + LABEL_COLUMNS + tuple(HEADER_COLUMNS)
    if (name in BATCH_COLUMNS or name in LABEL_COLUMNS or name in DEFAULT_COLUMNS)
    and name not in NOT_BY_DEFAULT)
#: Rows per row group: DuckDB and Spark scan row groups in parallel and skip them by
#: their min/max statistics; a quarter million rows of headers is about 30 MB in memory.
DEFAULT_ROW_GROUP_ROWS = 1 << 18
#: A row group also ends before its frame bytes pass this size (``include_payload=True``).
DEFAULT_ROW_GROUP_BYTES = 128 << 20

_NS = 10**9
_NO_ROWS = np.empty(0, dtype=np.int64)
_NOT_APP_BITS = np.uint32(~(APP_MALFORMED | APP_TRUNCATED) & 0xFFFFFFFF)
_UNIT_PER_SECOND = {"s": 1, "ms": 1000, "us": 10**6, "ns": 10**9}
_PARTITION_UNITS = {"date": 86400 * _NS, "hour": 3600 * _NS, "minute": 60 * _NS}


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as exc:
        raise ImportError(
            "writing Parquet datasets needs pyarrow, which is not installed: "
            "pip install 'ringcap[parquet]'") from exc
    return pyarrow


# ---------------------------------------------------------------- partitions
class HivePartitions:
    """Folders ``date=YYYY-MM-DD/hour=HH[/minute=MM]`` from packet timestamps (UTC).

    ``partition_by`` is a prefix of ``("date", "hour", "minute")``: ``()``
    (no folders), ``("date",)``, ``("date", "hour")`` (the default of the
    sinks) or ``("date", "hour", "minute")``.  A packet's key is its time
    bucket, ``ts // unit_ns``; :meth:`folder` names a bucket.
    """

    ORDER = ("date", "hour", "minute")

    def __init__(self, partition_by: Sequence[str] = ("date", "hour")) -> None:
        if isinstance(partition_by, str):
            partition_by = (partition_by,)
        parts = tuple(partition_by)
        if parts != self.ORDER[:len(parts)]:
            raise ValueError(
                f"partition_by must be (), ('date',), ('date', 'hour') or "
                f"('date', 'hour', 'minute'), got {partition_by!r}")
        self.names = parts
        self.unit_ns = _PARTITION_UNITS[parts[-1]] if parts else None

    def keys(self, ts: np.ndarray) -> np.ndarray | None:
        """The bucket of every timestamp (None without partitions)."""
        if self.unit_ns is None:
            return None
        return np.floor_divide(ts, self.unit_ns)

    def folder(self, key: int | None) -> str:
        """``date=2024-05-01/hour=07`` for the bucket ``key``."""
        if key is None:
            return ""
        when = _dt.datetime.fromtimestamp(0, _dt.timezone.utc) + \
            _dt.timedelta(microseconds=int(key) * self.unit_ns // 1000)
        values = {"date": when.strftime("%Y-%m-%d"), "hour": f"{when.hour:02d}",
                  "minute": f"{when.minute:02d}"}
        return "/".join(f"{name}={values[name]}" for name in self.names)

    def __repr__(self) -> str:
        return f"HivePartitions({self.names!r})"


# ---------------------------------------------------------------- column choice
def _resolve_packet_columns(columns, include_payload: bool
                            ) -> tuple[list[str], list[str], list[str], bool]:
    """(batch columns, label columns, header and application columns, with frame bytes)
    in file order."""
    if columns is None:
        chosen = set(DEFAULT_PACKET_COLUMNS)
        if include_payload:
            chosen.update(FRAME_OFFSET_COLUMNS)
    elif isinstance(columns, str) and columns == "all":
        chosen = set(PACKET_COLUMNS) - {"data"} - set(APP_COLUMNS)   # as decode's "all"
    else:
        chosen = {columns} if isinstance(columns, str) else set(columns)
        unknown = sorted(chosen - set(PACKET_COLUMNS))
        if unknown:
            raise ValueError(f"unknown column(s) {unknown} for a packet dataset; choose from "
                             f"{', '.join(PACKET_COLUMNS)}")
        if "ts" not in chosen:
            raise ValueError("a packet dataset needs the ts column (partitions and row-group "
                             "statistics are by time); add 'ts' to columns")
    if include_payload:
        chosen.add("data")
    return ([name for name in BATCH_COLUMNS if name in chosen],
            [name for name in LABEL_COLUMNS if name in chosen],
            [name for name in tuple(HEADER_COLUMNS) + tuple(APP_COLUMNS) if name in chosen],
            "data" in chosen)


def _arrow_type(pa, dtype: np.dtype, width: int):
    if width > 1:                                   # addresses: (n, width) bytes
        return pa.binary(width)
    if dtype == np.bool_:
        return pa.bool_()
    return pa.from_numpy_dtype(dtype)


def _stats_metadata(stats) -> dict[str, str]:
    if stats is None:
        return {}
    if is_dataclass(stats):
        values = asdict(stats)
    elif hasattr(stats, "_asdict"):
        values = stats._asdict()
    else:
        values = {k: v for k, v in vars(stats).items() if not k.startswith("_")}
    clean = {k: int(v) for k, v in values.items() if isinstance(v, (int, np.integer))}
    return {"ringcap.stats": json.dumps(clean, sort_keys=True)}


# ---------------------------------------------------------------- one open file
def _shown_name(path: str) -> str:
    """The name a file is written for: ``.NAME.PID.inprogress`` (an atomic sink's
    temporary name) is shown as NAME."""
    folder, base = os.path.split(path)
    match = re.fullmatch(r"\.(.+)\.\d+\.inprogress", base)
    return os.path.join(folder, match.group(1)) if match else path


def _errno_of(exc: OSError) -> int | None:
    # pyarrow's I/O errors carry the errno only in the text: "... Detail: [errno 28] ..."
    if exc.errno:
        return exc.errno
    match = re.search(r"\[errno (\d+)\]", str(exc))
    return int(match.group(1)) if match else None


class _ParquetFile:
    """An open Parquet file: created with ``mode`` bits, written row group by row group.

    A failed write (a full disk) abandons the file at once: it is closed and
    removed (a file without its footer is unreadable), and this and every
    later call raise one OSError naming the file and the rows lost.
    """

    def __init__(self, pa, path: str, mode: int, schema, options: dict) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
        os.close(fd)
        self.path = path
        self.rows = 0                   # rows handed to the file (the failed group too)
        self.failure: OSError | None = None
        self._stream = pa.OSFile(path, "wb")
        try:
            self._writer = pa.parquet.ParquetWriter(self._stream, schema, **options)
        except BaseException:
            self._stream.close()
            with contextlib.suppress(OSError):
                os.unlink(path)
            raise

    @property
    def size(self) -> int:
        return 0 if self._stream.closed else self._stream.tell()

    def write(self, table) -> None:
        if self.failure is not None:
            raise self.failure
        if table.num_rows == 0:         # (no empty row groups: pyarrow refuses them)
            return
        self.rows += table.num_rows
        try:
            self._writer.write_table(table, row_group_size=table.num_rows)
        except OSError as exc:
            raise self._abandon(exc) from None

    def _abandon(self, exc: OSError) -> OSError:
        number = _errno_of(exc)
        reason = os.strerror(number) if number else str(exc)
        with contextlib.suppress(Exception):
            self._writer.close()
        with contextlib.suppress(Exception):
            self._stream.close()
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)
        message = (f"cannot write {_shown_name(self.path)}: {reason}; the {self.rows} rows "
                   f"given to it are lost and its unfinished file was removed (the files "
                   f"finished before it are complete); free some space or write elsewhere")
        self.failure = OSError(number, message) if number else OSError(message)
        return self.failure

    def close(self, metadata: dict[str, str]) -> None:
        if self.failure is not None:
            raise self.failure
        try:
            if metadata:
                self._writer.add_key_value_metadata(metadata)
            self._writer.close()
            self._stream.close()
        except OSError as exc:
            raise self._abandon(exc) from None
        finally:
            self._stream.close()


# ---------------------------------------------------------------- packet rows
class ParquetPart:
    """One Parquet file of packets (the *part* of a :class:`ParquetSink`).

    ``write(batch)`` copies the chosen batch columns and decodes the chosen
    header columns straight into a preallocated row group; a full row group
    goes to the file at once.  ``close(stats)`` writes the last (partial)
    row group and the footer, with ``stats`` as JSON under the footer key
    ``ringcap.stats``.  Until then the file is not a valid Parquet file,
    which is why the sink writes it under a temporary name.
    """

    def __init__(self, path, mode: int = 0o600, *, columns=None, include_payload: bool = False,
                 compression: str = "zstd", compression_level: int | None = None,
                 row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
                 row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
                 timestamp_unit: str = "us", payload_compression: str = "snappy",
                 labels: RowLabels | None = None) -> None:
        pa = self._pa = _pyarrow()
        self._batch_names, self._label_names, self._header_names, self._with_data = \
            _resolve_packet_columns(columns, include_payload)
        self._labels = labels if labels is not None else RowLabels(socket.gethostname())
        self._unit = timestamp_unit
        rows = _positive_int("row_group_rows", row_group_rows)
        self._row_group_bytes = _positive_int("row_group_bytes", row_group_bytes)
        self._capacity = rows
        self._fill = 0
        self._batch_store = {name: np.empty(rows, dtype=COLUMNS[name])
                             for name in self._batch_names}
        self._ts_units = np.empty(rows if "ts" in self._batch_names else 0, dtype=np.int64)
        # One decode per batch into the row group, application columns too (the header
        # columns their pass reads kept though not written); only the strings are made
        # per batch, kept as the batches' StringColumns until the row group is written.
        self._app_names = tuple(name for name in self._header_names if name in APP_COLUMNS)
        decoded = set(self._header_names) - set(self._app_names)
        decoded.update(NEEDED_HEADER_COLUMNS if self._app_names else ())
        if decoded:
            decoded.add("flags")                    # decode always fills flags
        self._decode_names = tuple(name for name in HEADER_COLUMNS if name in decoded)
        self._header_store = {
            name: np.empty((rows, width) if width > 1 else rows, dtype=dtype)
            for name, (dtype, width) in HEADER_COLUMNS.items() if name in decoded}
        self._app_strings: dict[str, list] = {
            name: [] for name in self._app_names if APP_COLUMNS[name][0] == "str"}
        self._app_fixed = tuple(name for name in self._app_names if name not in self._app_strings)
        self._header_store.update(
            (name, np.empty((rows, width) if width > 1 else rows, dtype=dtype))
            for name, (dtype, width) in APP_COLUMNS.items() if name in self._app_fixed)
        self._app_rows = AppRows(rows) if self._app_names else None
        self._data = np.empty(0, dtype=np.uint8)
        self._data_ends = np.zeros(rows + 1, dtype=np.int64) if self._with_data else None
        self._interface_codes = np.empty(rows, dtype=np.int32) \
            if "interface" in self._label_names else None
        # Every column is REQUIRED (non-nullable): a packet always has a value, and
        # optional columns cost the encoder a definition level per value (measured:
        # about 50 of 600 ns per packet for the default columns).
        # ts in the chosen unit (floored), and with any unit but ns the exact
        # nanoseconds beside it in ts_ns.
        fields = [pa.field("ts", pa.timestamp(timestamp_unit, tz="UTC"), nullable=False)] \
            if "ts" in self._batch_names else []
        if fields and timestamp_unit != "ns":
            fields.append(pa.field("ts_ns", pa.int64(), nullable=False))
        fields += [pa.field(name, pa.from_numpy_dtype(COLUMNS[name]), nullable=False)
                   for name in self._batch_names if name != "ts"]
        fields += [pa.field(name, RowLabels.arrow_type(pa), nullable=name != "host")
                   for name in self._label_names]
        fields += [pa.field(name, pa.dictionary(pa.int32(), pa.string()))
                   if name in self._app_strings else
                   pa.field(name, _arrow_type(pa, *(HEADER_COLUMNS.get(name)
                                                    or APP_COLUMNS[name])), nullable=False)
                   for name in self._header_names]
        if self._with_data:
            fields.append(pa.field("data", pa.large_binary(), nullable=False))
        self.schema = pa.schema(fields)
        self.packets_written = 0
        self._file = _ParquetFile(pa, os.fspath(path), mode, self.schema,
                                  _writer_options(self.schema, compression, compression_level,
                                                  timestamp_unit, payload_compression))

    @property
    def bytes_written(self) -> int:
        """Bytes in the file so far (row groups written; the open one is in memory)."""
        return self._file.size

    @property
    def path(self) -> str:
        return self._file.path

    def write(self, batch: Batch) -> None:
        n = len(batch)
        start = 0
        while start < n:
            take = min(n - start, self._capacity - self._fill)
            if self._with_data:
                take = self._data_room(batch, start, take)
            part = batch if (start == 0 and take == n) else batch[start:start + take]
            self._append(part)
            start += take
            if self._fill == self._capacity or (
                    self._with_data and self._data_ends[self._fill] >= self._row_group_bytes):
                self._write_row_group()

    def _data_room(self, batch: Batch, start: int, take: int) -> int:
        """Packets from ``start`` (at most ``take``) whose bytes fit the row group;
        at least one, so a huge frame still gets a row group of its own."""
        used = int(self._data_ends[self._fill])
        sizes = np.cumsum(batch.caplen[start:start + take], dtype=np.int64)
        fit = int(np.searchsorted(sizes, self._row_group_bytes - used, side="right"))
        if fit == 0 and self._fill:
            self._write_row_group()
            return self._data_room(batch, start, take)
        return max(fit, 1)

    def _append(self, batch: Batch) -> None:
        k, n = self._fill, len(batch)
        end = k + n
        for name in self._batch_names:
            self._batch_store[name][k:end] = getattr(batch, name)
        if self._decode_names:
            view = Headers({name: array[k:] for name, array in self._header_store.items()},
                           batch.ts, batch.wirelen)
            if self._app_rows is not None:  # fixed-width app columns into rows k:end, zeroed
                app_rows = self._app_rows   # here (the pass writes packets with a message only)
                app_rows.rows, app_rows.written = self._capacity - k, _NO_ROWS
                app_rows.fixed = {name: self._header_store[name][k:] for name in self._app_fixed}
                for name in self._app_fixed:
                    app_rows.fixed[name][:end - k] = 0
                view._app_rows = app_rows
            decoded = decode_batch(batch, columns=self._decode_names + self._app_names, out=view)
            if self._app_names:     # (flags kept as the header columns alone have them)
                for name in self._app_strings:
                    self._app_strings[name].append(decoded[name])
                flags = self._header_store["flags"][k:end]
                np.bitwise_and(flags, _NOT_APP_BITS, out=flags)
        if self._interface_codes is not None:
            self._labels.interface_codes(batch, out=self._interface_codes[k:end])
        if self._with_data:
            self._append_data(batch, k)
        self._fill = end
        self.packets_written += n

    def _append_data(self, batch: Batch, k: int) -> None:
        n = len(batch)
        ends = self._data_ends
        base = int(ends[k])
        np.cumsum(batch.caplen, dtype=np.int64, out=ends[k + 1:k + 1 + n])
        ends[k + 1:k + 1 + n] += base
        total = int(ends[k + n])
        if total > self._data.shape[0]:
            grown = np.empty(max(total, 2 * self._data.shape[0], 1 << 20), dtype=np.uint8)
            grown[:base] = self._data[:base]
            self._data = grown
        if not batch.is_packed():
            batch = batch.copy()
        self._data[base:total] = batch.data[:total - base]

    def _table(self, rows: int):
        pa = self._pa
        arrays = []
        for field in self.schema:
            name = field.name
            if name == "ts":
                array = self._batch_store["ts"][:rows]
                if self._unit != "ns":      # into an array kept for the next row group
                    array = np.floor_divide(array, _NS // _UNIT_PER_SECOND[self._unit],
                                            out=self._ts_units[:rows])
                arrays.append(arrow_column(pa, field.type, array))
            elif name == "ts_ns":
                arrays.append(arrow_column(pa, field.type, self._batch_store["ts"][:rows]))
            elif name in self._batch_store:
                arrays.append(arrow_column(pa, field.type, self._batch_store[name][:rows]))
            elif name == "host":
                arrays.append(self._labels.host_array(pa, rows))
            elif name == "interface":
                arrays.append(self._labels.interface_array(pa, self._interface_codes[:rows]))
            elif name in self._app_strings:         # null where the packet has none
                parts = [column.to_arrow() for column in self._app_strings[name]]
                strings = parts[0] if len(parts) == 1 else pa.concat_arrays(parts)
                arrays.append(strings.dictionary_encode())   # each name once a row group
            elif name == "data":
                ends = self._data_ends[:rows + 1]
                arrays.append(pa.Array.from_buffers(
                    field.type, rows,
                    [None, pa.py_buffer(ends), pa.py_buffer(self._data[:int(ends[-1])])]))
            else:
                arrays.append(arrow_column(pa, field.type, self._header_store[name][:rows]))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def _write_row_group(self) -> None:
        if self._fill == 0:
            return
        self._file.write(self._table(self._fill))
        self._fill = 0
        for parts in self._app_strings.values():
            parts.clear()

    def flush(self) -> None:
        """Nothing to hand over early: a Parquet file is readable only once its
        footer is written (the sink's rotation bounds how long that takes)."""

    def close(self, stats=None) -> None:
        file = self._file
        if isinstance(file, _ClosedFile):
            return
        try:
            try:
                self._write_row_group()
            except BaseException:
                file.close({})
                raise
            file.close(_stats_metadata(stats))
        except OSError:
            if file.failure is not None:
                self.packets_written = 0        # the file is gone: none of them are in it
            raise
        self._file = _ClosedFile(file.path, os.stat(file.path).st_size)


class _ClosedFile:
    """Stands in for a finished file so ``bytes_written`` and ``close()`` keep working."""

    def __init__(self, path: str, size: int) -> None:
        self.path, self.size = path, size


def _positive_int(name: str, value) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


# ---------------------------------------------------------------- flows
def _endpoint_words(ip: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    words = np.ascontiguousarray(ip, dtype=np.uint8).view(">u8")
    return words[:, 0].astype(np.uint64), words[:, 1].astype(np.uint64)


def merge_flow_tables(tables: Sequence[dict]) -> dict[str, np.ndarray]:
    """Merge per-batch flow tables into one row per conversation.

    ``tables`` are column dicts (``FlowTable.columns()``) of consecutive
    stretches of packets, in order.  The result has the columns of
    :data:`ringcap.headers.FLOW_COLUMNS` and equals ``ringcap.flows()`` of all
    the packets at once: the forward direction is that of the conversation's
    first packet, counts add up, first/last timestamps are the extremes and
    TCP flags the union; rows are in the order of first packets.
    """
    if len(tables) == 1:
        return dict(tables[0])
    cols = {name: np.concatenate([t[name] for t in tables]) for name in FLOW_COLUMNS}
    n = cols["packets"].shape[0]
    if n == 0:
        return cols
    src_hi, src_lo = _endpoint_words(cols["ip_src"])
    dst_hi, dst_lo = _endpoint_words(cols["ip_dst"])
    sport = cols["sport"].astype(np.uint64)
    dport = cols["dport"].astype(np.uint64)
    # A conversation's two endpoints in a fixed order, whichever direction a row calls forward.
    swapped = (src_hi > dst_hi) | ((src_hi == dst_hi) & (
        (src_lo > dst_lo) | ((src_lo == dst_lo) & (sport > dport))))
    a_hi = np.where(swapped, dst_hi, src_hi)
    a_lo = np.where(swapped, dst_lo, src_lo)
    b_hi = np.where(swapped, src_hi, dst_hi)
    b_lo = np.where(swapped, src_lo, dst_lo)
    a_port = np.where(swapped, dport, sport)
    b_port = np.where(swapped, sport, dport)
    keys = (cols["first_ts"], b_port, a_port, b_lo, b_hi, a_lo, a_hi,
            cols["ip_proto"], cols["ip_version"], cols["tunnel_id"], cols["tunnel_type"],
            cols["flow_hash"])
    order = np.lexsort(keys)                 # by conversation, then first packet (stable)
    key_sorted = [k[order] for k in keys[1:]]
    new = np.ones(n, dtype=bool)
    new[1:] = np.logical_or.reduce([k[1:] != k[:-1] for k in key_sorted])
    starts = np.flatnonzero(new)
    group = np.cumsum(new) - 1
    lead = order[starts]                     # each conversation's earliest row
    aligned = (swapped[order] == swapped[lead][group])

    def side(fwd_name, rev_name):
        fwd = cols[fwd_name][order]
        rev = cols[rev_name][order]
        return np.where(aligned, fwd, rev), np.where(aligned, rev, fwd)

    out = {name: cols[name][lead] for name in
           ("ip_version", "ip_proto", "ip_src", "ip_dst", "sport", "dport", "tunnel_type",
            "tunnel_id", "flow_hash")}
    far = np.iinfo(np.int64).max
    for names, reduce in ((("packets_fwd", "packets_rev"), np.add),
                          (("bytes_fwd", "bytes_rev"), np.add),
                          (("tcp_flags_fwd", "tcp_flags_rev"), np.bitwise_or),
                          (("last_ts_fwd", "last_ts_rev"), np.maximum)):
        fwd, rev = side(*names)
        out[names[0]] = reduce.reduceat(fwd, starts)
        out[names[1]] = reduce.reduceat(rev, starts)
    fwd, rev = side("first_ts_fwd", "first_ts_rev")
    for name, values in (("first_ts_fwd", fwd), ("first_ts_rev", rev)):
        earliest = np.minimum.reduceat(np.where(values == NO_TIMESTAMP, far, values), starts)
        out[name] = np.where(earliest == far, NO_TIMESTAMP, earliest)
    out["packets"] = out["packets_fwd"] + out["packets_rev"]
    out["bytes"] = out["bytes_fwd"] + out["bytes_rev"]
    out["first_ts"] = cols["first_ts"][lead]
    out["last_ts"] = np.maximum(out["last_ts_fwd"], out["last_ts_rev"])
    by_first = np.lexsort((lead, out["first_ts"]))
    return {name: out[name][by_first] for name in FLOW_COLUMNS}


_FLOW_TIMES = ("first_ts", "last_ts", "first_ts_fwd", "last_ts_fwd", "first_ts_rev", "last_ts_rev")


#: Flow times kept as exact int64 nanoseconds beside their timestamps (any unit but ns).
_FLOW_NS_TIMES = ("first_ts", "last_ts")


def flow_schema(pa, timestamp_unit: str = "ns"):
    """The Arrow schema of a flow dataset file (the ``ts`` fields are written in
    ``timestamp_unit``; with any unit but ns, ``first_ts_ns`` and ``last_ts_ns``
    follow the flow columns), then ``host`` and ``interface``."""
    ts = pa.timestamp("ns", tz="UTC")
    fields = [pa.field("interval_start", ts), pa.field("interval_end", ts)]
    for name in FLOW_COLUMNS:
        if name in _FLOW_TIMES:
            fields.append(pa.field(name, ts))
        elif name in ("ip_src", "ip_dst"):
            fields.append(pa.field(name, pa.binary(16)))
        elif name in ("packets", "bytes", "packets_fwd", "bytes_fwd", "packets_rev",
                      "bytes_rev", "flow_hash"):
            fields.append(pa.field(name, pa.int64()))
        else:
            dtype = {"ip_version": np.uint8, "ip_proto": np.uint8, "sport": np.uint16,
                     "dport": np.uint16, "tunnel_type": np.uint8, "tunnel_id": np.uint32,
                     "tcp_flags_fwd": np.uint16,
                     "tcp_flags_rev": np.uint16}[name]
            fields.append(pa.field(name, pa.from_numpy_dtype(np.dtype(dtype))))
    if timestamp_unit != "ns":
        fields += [pa.field(f"{time}_ns", pa.int64()) for time in _FLOW_NS_TIMES]
    fields += [pa.field("host", RowLabels.arrow_type(pa), nullable=False),
               pa.field("interface", RowLabels.arrow_type(pa))]
    return pa.schema(fields)


class FlowPart:
    """One Parquet file of flow records for one time interval (the part of a :class:`FlowSink`).

    Every packet written is folded into per-conversation counters
    (:func:`ringcap.flows` per batch, merged); ``close()`` writes one row per
    conversation, with ``interval_start``/``interval_end`` the aligned
    interval of the file's first packet.  Counters are int64 (Spark and Java
    have no unsigned 64-bit type); ``flow_hash`` is the same 64 bits read
    as signed.  At most ``max_flows`` conversations (or 65536, if more) are
    held: past that the rows held are written out as a row group at once
    and counting starts afresh, so under a scan a conversation can have more
    than one row in an interval (add them up); the footer counts such early
    rows (``ringcap.early_flow_rows``).
    """

    _MERGE_ROWS = 1 << 16           # merge pending per-batch tables beyond this many rows

    def __init__(self, path, mode: int = 0o600, *, interval_ns: int,
                 compression: str = "zstd", compression_level: int | None = None,
                 timestamp_unit: str = "us",
                 max_flows: int | None = DEFAULT_MAX_FLOWS,
                 labels: RowLabels | None = None) -> None:
        pa = self._pa = _pyarrow()
        self.schema = flow_schema(pa, timestamp_unit)
        self._labels = labels if labels is not None else RowLabels(socket.gethostname())
        self._interface = None
        self._interval_ns = int(interval_ns)
        self._max_flows = max_flows
        self._tables: list[dict] = []
        self._headers = HeadersBuffer(FIVE_TUPLE_COLUMNS + ("tcp_flags",), flow_hash=True)
        self._work = FlowWork()             # (both reused batch after batch)
        self._pending_rows = 0
        self._interval_start = None
        self.packets_written = 0
        self.non_ip_packets = 0
        self.early_rows = 0
        self._file = _ParquetFile(pa, os.fspath(path), mode, self.schema,
                                  _writer_options(self.schema, compression, compression_level,
                                                  timestamp_unit))

    @property
    def bytes_written(self) -> int:
        return self._file.size

    @property
    def path(self) -> str:
        return self._file.path

    def write(self, batch: Batch) -> None:
        if len(batch) == 0:
            return
        if self._interval_start is None:
            first = int(batch.ts[0])
            self._interval_start = first - first % self._interval_ns
            self._interface = self._labels.one_interface(batch)
        headers = self._headers.decode(batch)
        table = batch_flows(headers, work=self._work)
        self.non_ip_packets += table.skipped
        self.packets_written += len(batch)
        self._tables.append(table.columns())
        self._pending_rows += len(table)
        if self._pending_rows > self._MERGE_ROWS and len(self._tables) > 1:
            merged = merge_flow_tables(self._tables)
            self._tables = [merged]
            self._pending_rows = merged["packets"].shape[0]
            if self._max_flows is not None and self._pending_rows > self._max_flows:
                self._file.write(self._table())         # a full cache: write what it holds
                self.early_rows += self._pending_rows
                self._tables = []
                self._pending_rows = 0

    def flows(self) -> dict[str, np.ndarray]:
        """The conversations so far, merged (columns of ``FLOW_COLUMNS``)."""
        if not self._tables:
            return {name: np.empty(0) for name in FLOW_COLUMNS}
        merged = merge_flow_tables(self._tables)
        self._tables = [merged]
        return merged

    def _table(self):
        pa = self._pa
        flows = self.flows()
        n = flows["packets"].shape[0]
        start = self._interval_start if self._interval_start is not None else 0
        ts = pa.timestamp("ns", tz="UTC")
        arrays = [arrow_column(pa, ts, np.full(n, start, dtype=np.int64)),
                  arrow_column(pa, ts, np.full(n, start + self._interval_ns, dtype=np.int64))]
        for field in list(self.schema)[2:]:
            if field.name in LABEL_COLUMNS:
                arrays.append(_label_array(pa, self._labels, field.name, n, self._interface))
                continue
            if field.name.endswith("_ns"):
                arrays.append(arrow_column(pa, field.type, np.ascontiguousarray(
                    flows[field.name[:-3]], dtype=np.int64)))
                continue
            values = flows[field.name]
            if field.name in _FLOW_TIMES:
                values = np.ascontiguousarray(values, dtype=np.int64)
                arrays.append(arrow_column(pa, ts, values, values != NO_TIMESTAMP))
            elif field.name in ("ip_src", "ip_dst"):
                arrays.append(arrow_column(pa, field.type,
                                           np.ascontiguousarray(values, dtype=np.uint8)))
            elif field.type == pa.int64():
                arrays.append(arrow_column(pa, field.type,
                                           np.ascontiguousarray(values).view(np.int64)))
            else:
                values = np.ascontiguousarray(values)
                assert pa.from_numpy_dtype(values.dtype) == field.type, field.name
                arrays.append(arrow_column(pa, field.type, values))
        return pa.Table.from_arrays(arrays, schema=self.schema)

    def flush(self) -> None:
        """Nothing to hand over early: the rows are written when the interval ends."""

    def close(self, stats=None) -> None:
        file = self._file
        if isinstance(file, _ClosedFile):
            return
        try:
            try:
                if self._tables or not self.early_rows and self.packets_written:
                    file.write(self._table())
            except BaseException:
                file.close({})
                raise
            metadata = _stats_metadata(stats)
            metadata["ringcap.non_ip_packets"] = str(self.non_ip_packets)
            metadata["ringcap.early_flow_rows"] = str(self.early_rows)
            file.close(metadata)
        except OSError:
            if file.failure is not None:
                self.packets_written = 0        # the file is gone: none of them are in it
            raise
        self._file = _ClosedFile(file.path, os.stat(file.path).st_size)


def _signed_64(pa, table):
    """uint64 columns as int64 over the same bits (Spark and Java have no unsigned 64-bit type)."""
    arrays, fields = [], []
    for field, column in zip(table.schema, table.columns):
        if field.type == pa.uint64():
            column = pa.chunked_array(
                [pa.Array.from_buffers(pa.int64(), len(chunk), chunk.buffers())
                 for chunk in column.chunks], type=pa.int64())
            field = pa.field(field.name, pa.int64())
        arrays.append(column)
        fields.append(field)
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


class FlowFeaturePart:
    """One Parquet file of nfstream-style flow records for one time interval.

    The packets of the interval go through a :class:`~ringcap.FlowMeter`
    (``idle_timeout``, no active timeout) that is flushed when the file
    ends: one record per flow per interval (more when a flow idles longer
    than ``idle_timeout`` inside it), with the columns of
    :data:`ringcap.flowmeter.FLOW_RECORD_COLUMNS` (size and inter-arrival
    statistics, TCP flag counts, retransmissions, handshake round trips)
    after ``interval_start``/``interval_end``.  uint64 counters are stored
    as int64.  The meter holds at most ``max_flows`` open flows (see
    :class:`~ringcap.FlowMeter`; evicted flows come out as records with
    ``expiration_id`` 3, counted in the footer as ``ringcap.evicted_flows``),
    and records are written as row groups of up to 65536 as they expire, so
    memory stays bounded whatever the traffic.
    """

    _WRITE_ROWS = 1 << 16           # write expired records out once this many are pending

    def __init__(self, path, mode: int = 0o600, *, interval_ns: int,
                 idle_timeout: float | None = 120.0, compression: str = "zstd",
                 compression_level: int | None = None, timestamp_unit: str = "us",
                 max_flows: int | None = DEFAULT_MAX_FLOWS,
                 labels: RowLabels | None = None) -> None:
        pa = self._pa = _pyarrow()
        self._labels = labels if labels is not None else RowLabels(socket.gethostname())
        self._interface = None
        self._records_type = FlowRecords
        self._meter = FlowMeter(idle_timeout=idle_timeout, active_timeout=None,
                                max_flows=max_flows)
        self._records: list = []
        self._pending_rows = 0
        self._interval_ns = int(interval_ns)
        self._interval_start = None
        self.packets_written = 0
        self.schema = self._table(FlowRecords.empty(), 0).schema
        self._file = _ParquetFile(pa, os.fspath(path), mode, self.schema,
                                  _writer_options(self.schema, compression, compression_level,
                                                  timestamp_unit))

    @property
    def bytes_written(self) -> int:
        return self._file.size

    def write(self, batch: Batch) -> None:
        if len(batch) == 0:
            return
        if self._interval_start is None:
            first = int(batch.ts[0])
            self._interval_start = first - first % self._interval_ns
            self._interface = self._labels.one_interface(batch)
        records = self._meter.update(batch)
        if len(records):
            self._records.append(records)
            self._pending_rows += len(records)
        self.packets_written += len(batch)
        if self._pending_rows >= self._WRITE_ROWS:
            self._write_pending()

    def _write_pending(self) -> None:
        if self._records:
            records = self._records_type.concat(self._records)
            self._records = []
            self._pending_rows = 0
            self._file.write(self._table(records, self._interval_start))

    def _table(self, records, start: int):
        pa = self._pa
        n = len(records)
        ts = pa.timestamp("ns", tz="UTC")
        body = _signed_64(pa, records.to_arrow(names=False))
        bounds = [pa.array(np.full(n, start, dtype=np.int64)).cast(ts),
                  pa.array(np.full(n, start + self._interval_ns, dtype=np.int64)).cast(ts)]
        labels = [_label_array(pa, self._labels, name, n, self._interface)
                  for name in LABEL_COLUMNS]
        return pa.Table.from_arrays(
            bounds + list(body.columns) + labels,
            schema=pa.schema([pa.field("interval_start", ts), pa.field("interval_end", ts)]
                             + list(body.schema)
                             + [pa.field("host", RowLabels.arrow_type(pa), nullable=False),
                                pa.field("interface", RowLabels.arrow_type(pa))]))

    def flush(self) -> None:
        """Nothing to hand over early: the records are written when the interval ends."""

    def close(self, stats=None) -> None:
        file = self._file
        if isinstance(file, _ClosedFile):
            return
        try:
            try:
                if self.packets_written:
                    self._write_pending()
                    for records in self._meter.flush_chunks(self._WRITE_ROWS):
                        file.write(self._table(records, self._interval_start))
            except BaseException:
                file.close({})
                raise
            metadata = _stats_metadata(stats)
            metadata["ringcap.non_ip_packets"] = str(self._meter.skipped)
            metadata["ringcap.evicted_flows"] = str(self._meter.evicted)
            file.close(metadata)
        except OSError:
            if file.failure is not None:
                self.packets_written = 0        # the file is gone: none of them are in it
            raise
        self._file = _ClosedFile(file.path, os.stat(file.path).st_size)


# ---------------------------------------------------------------- the sinks
def _label(value, what: str) -> str:
    text = str(value)
    clean = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in text)
    if not clean:
        raise ValueError(f"{what} {value!r} gives an empty file-name label")
    return clean


class DatasetNaming:
    """``ROOT/<partition folders>/part-<host>-<worker>-<seq>.parquet``.

    ``seq`` counts the files this writer opened (six digits, from 0); a name
    that already exists (an earlier run) is skipped, never overwritten.
    """

    def __init__(self, root, partitions: HivePartitions, host: str, worker: str) -> None:
        self.root = os.fspath(root)
        self.partitions = partitions
        self.prefix = f"part-{host}-{worker}-"
        self._seq = 0

    def __call__(self, slot) -> str:
        folder = os.path.join(self.root, self.partitions.folder(slot.key))
        while True:
            path = os.path.join(folder, f"{self.prefix}{self._seq:06d}.parquet")
            self._seq += 1
            if not os.path.lexists(path):
                return path


def _rotation_seconds(value, name: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number of seconds, got {type(value).__name__}")
    return float(value)


class ParquetSink(RotatingSink):
    """Packets (or flow records) into a Hive-partitioned Parquet dataset under ``root``.

    Files are ``root/date=YYYY-MM-DD/hour=HH/part-<host>-<worker>-<seq>.parquet``
    (``partition_by``: see :class:`HivePartitions`; folders by the packets'
    UTC timestamps, so a batch that spans an hour boundary is split exactly
    there).  A row per packet holds ``ts`` (``timestamp[us, UTC]`` and ``ts_ns``: see below), the
    other batch columns, the decoded header columns
    (:data:`ringcap.headers.HEADER_COLUMNS`, addresses as 6- and 16-byte
    fixed-size binary) and, with ``include_payload=True``, ``data``: the
    captured frame bytes.  By default the columns are
    :data:`DEFAULT_PACKET_COLUMNS`: the batch's and the decoder's default
    columns (:data:`ringcap.headers.DEFAULT_COLUMNS`) less
    :data:`NOT_BY_DEFAULT` (kernel and NIC metadata, and the offsets into the
    frame, which come with ``include_payload=True``).  ``columns`` picks from
    :data:`PACKET_COLUMNS` (``ts`` is required; ``"all"`` for every batch and
    header column), which include the application columns of
    :mod:`ringcap.appcolumns` (``dns_qname``, ``tls_sni``, ``http_host`` ...: only
    when named, as for :func:`ringcap.decode`; names are dictionary-encoded
    ``string`` columns, null where a packet has none).

    A file ends when its ``rotate_seconds`` are up (intervals aligned to the
    epoch: 300 gives files for :00-:05, :05-:10 ...; default: the partition
    unit, one file per hour per writer; none without partitions), after ``rotate_rows`` rows, at a
    partition boundary, and at :meth:`close`.  Each is written under a hidden
    temporary name and renamed into place when finished: readers see only
    complete files.  Row groups hold ``row_group_rows`` rows (and, with
    payloads, at most ``row_group_bytes`` of frames).  ``compression``: any
    Parquet codec pyarrow knows (``"zstd"``, ``"lz4"``, ``"snappy"``,
    ``"gzip"``, ``"none"``); ``payload_compression`` the one for ``data``
    (``"snappy"``: most payloads are encrypted and do not compress, and
    snappy gives up on them at a fraction of zstd's cost; measured in
    ``docs/datasets.md``).  ``timestamp_unit="us"`` (the default) stores ``ts``
    as a microsecond ``TIMESTAMP``, which Spark, DuckDB, Polars and pandas all
    read with no settings, and the exact nanoseconds beside it as ``ts_ns``
    (int64); ``"ns"`` stores ``ts`` in nanoseconds only (Spark then needs
    ``spark.sql.legacy.parquet.nanosAsLong``).

    ``host`` and ``worker`` label the files (default: the host name and the
    process id), so writers on several hosts or processes can share a root;
    rows carry ``host`` and ``interface`` (:data:`LABEL_COLUMNS`,
    dictionary-encoded strings): ``interface`` is a name, a mapping
    ``{ifindex: name}`` for the ring's ``ifindex`` column, or None (the
    batch's own ``interfaces``, as a pcapng file's IDBs name them; else null).
    ``flows=True`` writes flow records instead (``flow_interval``,
    ``flow_features``, ``idle_timeout`` and ``max_flows``: see :class:`FlowSink`).
    ``close(stats)`` stores a ring's statistics in the last file's footer
    (key ``ringcap.stats``).  The sink keeps nothing of the batches it is
    given (it copies and decodes them into its row group at once), so
    ``pump(..., reuse_batch=True)`` may hand it views of the ring's blocks.
    Other keywords (``mode``, ``owner``,
    ``on_file_done``, ``stats_source``) are those of
    :class:`~ringcap.sinks.RotatingSink`.
    """

    def __init__(self, root, *, partition_by: Sequence[str] = ("date", "hour"),
                 rotate_seconds: float | None = None, rotate_rows: int | None = None,
                 columns: Iterable[str] | None = None, include_payload: bool = False,
                 compression: str = "zstd", compression_level: int | None = None,
                 payload_compression: str = "snappy",
                 row_group_rows: int = DEFAULT_ROW_GROUP_ROWS,
                 row_group_bytes: int = DEFAULT_ROW_GROUP_BYTES,
                 timestamp_unit: str = "us", host: str | None = None, interface=None,
                 worker=None,
                 flows: bool = False, flow_interval: float = 60.0,
                 flow_features: bool = False, idle_timeout: float | None = 120.0,
                 max_flows: int | None = DEFAULT_MAX_FLOWS, mode: int = 0o600, owner=None,
                 on_file_done=None, stats_source=None,
                 clock=None) -> None:
        pa = _pyarrow()
        root = os.fspath(root)
        if os.path.exists(root) and not os.path.isdir(root):
            raise NotADirectoryError(f"dataset root {root!r} is a file; a Parquet dataset is "
                                     "a folder: give a new or existing folder")
        if timestamp_unit not in TIMESTAMP_UNITS:
            raise ValueError(f"timestamp_unit must be 'us' (Spark, DuckDB and Polars read it "
                             f"with no settings; ts_ns keeps the nanoseconds), 'ns', 'ms' or "
                             f"'s', got {timestamp_unit!r}")
        host_name = socket.gethostname() if host is None else host
        if not isinstance(host_name, str) or not host_name:
            raise ValueError(f"host must be a non-empty string, got {host!r}")
        if interface is not None and not isinstance(interface, str):
            try:
                interface = {int(index): str(name) for index, name in dict(interface).items()}
            except (TypeError, ValueError):
                raise TypeError("interface must be a name or a mapping {ifindex: name}, got "
                                f"{interface!r}") from None
        for codec in (compression, payload_compression):
            try:
                pa.Codec(codec) if codec not in (None, "none") else None
            except (ValueError, TypeError, pa.ArrowException) as exc:
                raise ValueError(f"unknown or unavailable Parquet compression {codec!r}: "
                                 f"{exc}; use 'zstd', 'lz4', 'snappy', 'gzip' or 'none'") from None
        partitions = HivePartitions(partition_by)
        self.root = root
        self.partitions = partitions
        self.flows = bool(flows)
        rotate_seconds = _rotation_seconds(rotate_seconds, "rotate_seconds")
        written = dict(compression=compression, compression_level=compression_level,
                       timestamp_unit=timestamp_unit)
        labels = dict(host=host_name, interface=interface)
        if self.flows:
            interval = _rotation_seconds(flow_interval, "flow_interval")
            if rotate_seconds is not None or rotate_rows is not None:
                raise ValueError("a flow dataset has one file per flow_interval: "
                                 "rotate_seconds and rotate_rows do not apply")
            if columns is not None or include_payload:
                raise ValueError("a flow dataset has fixed columns (one row per flow): "
                                 "columns and include_payload do not apply")
            interval_ns = int(round(interval * 1e9)) if interval > 0 else 0
            if interval_ns <= 0 or (partitions.unit_ns and partitions.unit_ns % interval_ns):
                unit = (partitions.unit_ns or 0) // _NS
                raise ValueError(f"flow_interval must be a positive number of seconds that "
                                 f"divides the partition unit ({unit} s), got {flow_interval}")
            self.flow_interval = interval_ns / 1e9
            if flow_features:
                factory = lambda path, file_mode: FlowFeaturePart(  # noqa: E731
                    path, file_mode, interval_ns=interval_ns, idle_timeout=idle_timeout,
                    max_flows=max_flows, labels=RowLabels(**labels), **written)
            else:
                factory = lambda path, file_mode: FlowPart(  # noqa: E731
                    path, file_mode, interval_ns=interval_ns, max_flows=max_flows,
                    labels=RowLabels(**labels), **written)
            rotation = Rotation(seconds=self.flow_interval, aligned=True)
        else:
            if flow_features:
                raise ValueError("flow_features=True describes flow records: add flows=True "
                                 "(or use FlowSink)")
            _positive_int("row_group_rows", row_group_rows)
            _positive_int("row_group_bytes", row_group_bytes)
            if rotate_seconds is None and partitions.unit_ns is not None:
                rotate_seconds = partitions.unit_ns / _NS
            if rotate_rows is not None:
                _positive_int("rotate_rows", rotate_rows)
            if columns is not None and not isinstance(columns, str):
                columns = list(columns)
            _resolve_packet_columns(columns, include_payload)          # fail early
            options = dict(columns=columns, payload_compression=payload_compression,
                           include_payload=include_payload, row_group_rows=row_group_rows,
                           row_group_bytes=row_group_bytes, **written)
            factory = lambda path, file_mode: ParquetPart(  # noqa: E731
                path, file_mode, labels=RowLabels(**labels), **options)
            rotation = Rotation(seconds=rotate_seconds, max_packets=rotate_rows,
                                aligned=rotate_seconds is not None)
        host = _label(host_name, "host")
        worker = _label(os.getpid() if worker is None else worker, "worker")
        naming = DatasetNaming(root, partitions, host, worker)
        extra = {} if clock is None else {"clock": clock}
        os.makedirs(root, exist_ok=True)                 # a bad root fails here, at once
        super().__init__(factory, naming, rotation,
                         partition=None if partitions.unit_ns is None else self._keys,
                         on_file_done=on_file_done, owner=owner, mode=mode, atomic=True,
                         make_dirs=True, stats_source=stats_source, open_first=False, **extra)

    def _keys(self, batch: Batch) -> np.ndarray:
        return self.partitions.keys(batch.ts)

    def _single_key(self, batch: Batch):
        unit, ts = self.partitions.unit_ns, batch.ts     # one bucket: no key per packet
        first = int(ts.min()) // unit if unit and len(ts) else None
        return first if first is not None and first == int(ts.max()) // unit else None

    def __repr__(self) -> str:
        kind = "flows" if self.flows else "packets"
        return (f"<{type(self).__name__} {kind} {self.root!r} partition_by="
                f"{self.partitions.names} {self.packets_written} packets, "
                f"{len(self.files)} files>")


class FlowSink(ParquetSink):
    """Flow records into a Hive-partitioned Parquet dataset: one row per flow per interval.

    For the days-of-traffic case where packets are too many to keep: each
    ``interval`` seconds (aligned to the epoch; it must divide the partition
    unit, e.g. 60 for hourly folders), every conversation seen gets a row with
    ``interval_start``, ``interval_end`` and the columns of
    :data:`ringcap.headers.FLOW_COLUMNS` (what :func:`ringcap.flows` gives for
    the packets of that interval; forward is the direction of the
    conversation's first packet in the interval).  Packets and bytes are
    int64; timestamps ``timestamp[us, UTC]`` (``first_ts_ns`` and ``last_ts_ns`` exact), null for a direction without
    packets.  Non-IP packets are counted in each file's footer
    (``ringcap.non_ip_packets``).  A packet that arrives after its interval's
    file was finished (out of order by more than the interval) is counted
    in a later file of the same interval.

    ``features=True`` writes nfstream-style records instead
    (:class:`FlowFeaturePart`): the interval's packets go through a
    :class:`~ringcap.FlowMeter` with ``idle_timeout`` and are flushed when
    the interval ends, giving packet-size and inter-arrival statistics, TCP
    flag counts, retransmissions and handshake round trips per flow per
    interval (``docs/flows.md`` describes the columns).  ``max_flows``
    bounds the flows held per file (default
    :data:`~ringcap.flowmeter.DEFAULT_MAX_FLOWS`, ``None`` for no bound):
    see :class:`FlowPart` and :class:`FlowFeaturePart` for what happens past
    it.  Other keywords as :class:`ParquetSink`.
    """

    def __init__(self, root, *, interval: float = 60.0, features: bool = False,
                 **options) -> None:
        if {"flows", "flow_interval", "flow_features"} & set(options):
            raise TypeError("FlowSink takes interval= and features=, not flows=, "
                            "flow_interval= or flow_features=")
        super().__init__(root, flows=True, flow_interval=interval, flow_features=features,
                         **options)


class DatasetWorkers:
    """A sink factory for :class:`~ringcap.ParallelCapture`: worker ``i`` writes
    ``root`` through its own :class:`ParquetSink` (``FlowSink`` with
    ``flows=True``) labelled ``worker=i``, so the workers share one dataset
    and never one file.  ``options`` are the sink's keywords."""

    def __init__(self, root, **options) -> None:
        if "worker" in options:
            raise TypeError("DatasetWorkers labels each worker's files itself: drop worker=")
        self.root = os.fspath(root)
        self.options = options
        _pyarrow()                                  # fail here, not in every worker

    def __call__(self, worker: int) -> ParquetSink:
        return ParquetSink(self.root, worker=worker, **self.options)

    def __repr__(self) -> str:
        return f"DatasetWorkers({self.root!r})"
