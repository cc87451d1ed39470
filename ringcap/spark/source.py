"""The ``pcap`` data source: Spark reads pcap and pcapng files directly.

Planning (on the driver) lists the files a path or glob names and cuts each
into parts of at most ``maxPartitionBytes``; small files are packed together
into one partition, as Spark's own file sources do.  Reading (in the
executors) opens each part with :class:`ringcap.PcapReader`: a part of a
larger file starts at the first record boundary at or after its first byte
(:meth:`~ringcap.PcapReader.next_boundary`, a validated resync) and owns
the records that start before its last byte, the one across it read whole;
it then checks that the record it ended on is the one its neighbour starts
from, so no packet is lost or read twice.  Each batch of packets is
filtered (ringcap's BPF interpreter, for each link type), decoded and
turned into one Arrow record batch: no Python runs per packet.
"""
from __future__ import annotations

import glob
import gzip
import logging
import os
import shutil
import tempfile
import zlib
from typing import Iterator, NamedTuple

import numpy as np
import pyarrow as pa
from pyspark.sql.datasource import (DataSource, DataSourceReader, DataSourceStreamReader,
                                    InputPartition)
from pyspark.sql.pandas.types import to_arrow_schema
from pyspark.sql.types import (BinaryType, BooleanType, DataType, IntegerType, LongType,
                               ShortType, StringType, StructField, StructType, TimestampType)

from ..batch import COLUMNS, LINKTYPE_ETHERNET, LINKTYPE_NAMES, Batch
from ..bpf import compile_filter
from ..filtering import LinkTypeFilter
from ..appcolumns import APP_COLUMNS, StringColumn
from .. import _text
from ..addresses import _link_address_codes
from ..headers import DEFAULT_COLUMNS, HEADER_COLUMNS, decode
from ..pcapfile import DEFAULT_SNAPLEN, PcapFormatError, PcapReader
from ..sinks.parquet import FRAME_OFFSET_COLUMNS, NOT_BY_DEFAULT

__all__ = ["register", "PcapDataSource", "PACKET_COLUMNS", "ALWAYS_COLUMNS",
           "DEFAULT_MAX_PARTITION_BYTES", "spark_schema"]

log = logging.getLogger("ringcap.spark")

#: The batch columns a capture file gives (the ring's metadata columns are 0 in files).
BATCH_COLUMNS: tuple[str, ...] = ("caplen", "wirelen", "ifindex", "pkttype", "linktype")
#: Columns ``columns=`` chooses from: the batch's, the decoder's (headers, then the
#: application columns of :mod:`ringcap.appcolumns`), and ``data`` (the bytes).
PACKET_COLUMNS: tuple[str, ...] = (BATCH_COLUMNS + tuple(HEADER_COLUMNS) + tuple(APP_COLUMNS)
                                   + ("data",))
_DECODED = frozenset(HEADER_COLUMNS) | frozenset(APP_COLUMNS)
#: Columns every row has: the time (µs timestamp and exact ns), where it came from, and
#: ``_corrupt`` (null for packets; see :class:`PcapDataSource`).
ALWAYS_COLUMNS: tuple[str, ...] = ("ts", "ts_ns", "file", "host", "interface", "_corrupt")
#: Bytes of capture per partition, as Spark's ``spark.sql.files.maxPartitionBytes``.
DEFAULT_MAX_PARTITION_BYTES = 128 << 20
#: Spark charges each file as if it were this much bigger when packing small files together.
OPEN_COST_BYTES = 4 << 20

_MODES = ("PERMISSIVE", "FAILFAST")
_LENGTHS = frozenset({"caplen", "wirelen", "ip_len", "payload_len"})
_IP_VERSION_OF = {"ip_src": "ip_version", "ip_dst": "ip_version",
                  "outer_ip_src": "outer_ip_version", "outer_ip_dst": "outer_ip_version"}


# ---------------------------------------------------------------- options and schema
def _bool(name: str, value) -> bool:
    text = str(value).strip().lower()
    if text in ("true", "1", "yes"):
        return True
    if text in ("false", "0", "no"):
        return False
    raise ValueError(f"pcap option {name}={value!r}: give true or false")


class Options(NamedTuple):
    """The pcap source's options, checked (every value arrives as a string)."""

    columns: tuple[str, ...]        # chosen PACKET_COLUMNS, in schema order
    filter: str | None
    tunnels: str
    host: str | None
    mode: str
    max_partition_bytes: int
    batch_packets: int
    min_partitions: int | None      # None: the session's default parallelism (register())
    max_file_age_ns: int            # streaming: files older than the newest by more are done

    @classmethod
    def parse(cls, options) -> "Options":
        get = {str(k).lower(): v for k, v in dict(options).items()}.get
        payload = _bool("payload", get("payload", "false"))
        chosen = get("columns")
        if chosen is None:
            names = set(BATCH_COLUMNS) | {n for n in DEFAULT_COLUMNS if n not in NOT_BY_DEFAULT}
            if payload:
                names |= set(FRAME_OFFSET_COLUMNS)
        elif chosen.strip().lower() == "all":
            names = set(PACKET_COLUMNS) - {"data"} - set(APP_COLUMNS)
        else:
            names = {n.strip() for n in chosen.split(",") if n.strip()} - set(ALWAYS_COLUMNS)
            unknown = sorted(names - set(PACKET_COLUMNS))
            if unknown:
                raise ValueError(f"pcap option columns: unknown column(s) {unknown}; choose from "
                                 f"{', '.join(PACKET_COLUMNS)} (or columns=all)")
        if payload:
            names.add("data")
        tunnels = str(get("tunnels", "inner")).strip().lower()
        if tunnels not in ("inner", "outer"):
            raise ValueError(f"pcap option tunnels={tunnels!r}: give inner or outer")
        mode = str(get("mode", "PERMISSIVE")).strip().upper()
        if mode not in _MODES:
            raise ValueError(f"pcap option mode={mode!r}: give PERMISSIVE (skip a damaged file's "
                             "rest and report it in _corrupt) or FAILFAST (stop with an error)")
        sizes = {}
        for key, default in (("maxpartitionbytes", DEFAULT_MAX_PARTITION_BYTES),
                             ("batchpackets", 65536), ("minpartitions", None)):
            text = get(key, default)
            if text is None:
                sizes[key] = None
                continue
            try:
                sizes[key] = int(text)
            except (TypeError, ValueError):
                sizes[key] = 0
            if sizes[key] <= 0:
                raise ValueError(f"pcap option {key}={text!r}: give a positive whole number")
        max_file_age_ns = _duration_ns("maxFileAge", get("maxfileage", "7d"))
        expression = get("filter")
        if expression is not None and not expression.strip():
            expression = None
        if expression is not None:
            compile_filter(expression)       # a bad filter: libpcap's message, at planning
        host = get("host")
        return cls(tuple(n for n in PACKET_COLUMNS if n in names), expression, tunnels,
                   host or None, mode, sizes["maxpartitionbytes"], sizes["batchpackets"],
                   sizes["minpartitions"], max_file_age_ns)

    @property
    def header_columns(self) -> tuple[str, ...]:
        return tuple(n for n in self.columns if n in _DECODED)


_UNITS_NS = {"ms": 10**6, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9, "d": 86400 * 10**9}


def _duration_ns(name: str, value) -> int:
    """A duration option ("7d", "1h", "30m", "10s", "500ms"; a bare number is seconds)."""
    text = str(value).strip().lower()
    unit = next((u for u in ("ms", "s", "m", "h", "d") if text.endswith(u)), "")
    try:
        number = float(text[:len(text) - len(unit)])
    except ValueError:
        number = -1.0
    if not 0 < number < 1e9:                  # also refuses nan and inf
        raise ValueError(f"pcap option {name}={value!r}: give a positive duration such as "
                         "7d, 1h, 30m or 10s")
    return int(number * _UNITS_NS[unit or "s"])


def _spark_type(name: str) -> DataType:
    if name == "data":
        return BinaryType()
    if name in _LENGTHS:
        return LongType()
    if name in APP_COLUMNS:
        dtype, width = APP_COLUMNS[name]
        if dtype == "str" or width > 1:
            return StringType()                 # names as text, null when absent
    elif name in HEADER_COLUMNS:
        dtype, width = HEADER_COLUMNS[name]
        if width > 1:
            return StringType()                 # addresses as text
    else:
        dtype = COLUMNS[name]
    if dtype == np.bool_:
        return BooleanType()
    # Spark has no unsigned types: each widens to the next signed one
    return {np.dtype(np.uint8): ShortType(), np.dtype(np.uint16): IntegerType(),
            np.dtype(np.int32): IntegerType()}.get(np.dtype(dtype), LongType())


def spark_schema(options: Options) -> StructType:
    """The schema of the rows for these options."""
    fields = [StructField("ts", TimestampType()), StructField("ts_ns", LongType())]
    fields += [StructField(name, _spark_type(name)) for name in options.columns]
    fields += [StructField(name, StringType()) for name in ("file", "host", "interface",
                                                          "_corrupt")]
    return StructType(fields)


# ---------------------------------------------------------------- planning
class Split(NamedTuple):
    """Part of a capture file: the records that start in ``[start, end)``
    (``end`` None: the whole file)."""

    path: str
    start: int
    end: int | None
    gzip: bool = False


class PcapPartition(InputPartition):
    """The splits one Spark task reads, in order."""

    def __init__(self, splits: list[Split]) -> None:
        super().__init__([tuple(s) for s in splits])

    @property
    def splits(self) -> list[Split]:
        return [Split(*s) for s in self.value]


def _local(path: str) -> str:
    for prefix in ("file://", "file:"):
        if path.startswith(prefix):
            return path[len(prefix):]
    return path


def _hidden(path: str) -> bool:
    # Spark's rule: names starting with "." or "_" are not data (ringcap's unfinished files
    # are ".NAME.PID.inprogress")
    return os.path.basename(path).startswith((".", "_"))


def list_files(paths: str) -> list[str]:
    """The capture files ``paths`` names (comma-separated paths, folders or globs;
    ``**`` matches folders at any depth), skipping hidden names, sorted."""
    found = set()
    for path in (p.strip() for p in str(paths).split(",")):
        if not path:
            continue
        path = _local(path)
        if any(c in path for c in "*?["):
            matches = glob.glob(path, recursive=True)
        elif os.path.isdir(path):
            matches = [os.path.join(folder, name)
                       for folder, dirs, names in os.walk(path)
                       for name in names if not _hidden(folder)]
            matches = [m for m in matches
                       if not any(part.startswith((".", "_"))
                                  for part in os.path.relpath(m, path).split(os.sep))]
        elif os.path.exists(path):
            matches = [path]
        else:
            raise FileNotFoundError(f"pcap source: {path} does not exist")
        found.update(os.path.abspath(m) for m in matches if os.path.isfile(m) and not _hidden(m))
    return sorted(found)


def _is_gzip(path: str) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(2) == b"\x1f\x8b"
    except OSError:
        return False          # the reader says what is wrong with it


def pack_bytes(sizes: list[int], max_bytes: int, min_partitions: int) -> int:
    """How much capture to pack into one partition: Spark's ``maxSplitBytes``, at
    most ``max_bytes`` and small enough that the files (each charged
    :data:`OPEN_COST_BYTES` more) fill ``min_partitions`` partitions, so every
    core has work; never below the open cost."""
    total = sum(size + OPEN_COST_BYTES for size in sizes)
    return min(max_bytes, max(OPEN_COST_BYTES, -(-total // max(1, min_partitions))))


def plan(files: list[str], max_bytes: int, min_partitions: int = 1) -> list[PcapPartition]:
    """Partitions of at most about ``max_bytes`` of capture each: a larger file
    in parts (a gzip file is read whole), smaller files packed together, into
    at least ``min_partitions`` partitions where there are files enough
    (:func:`pack_bytes`; a file is cut only when larger than ``max_bytes``,
    so a pcapng file that describes interfaces late is still read whole)."""
    sizes = []
    for path in files:
        try:
            sizes.append(os.path.getsize(path))
        except OSError:
            sizes.append(0)                  # gone or unreadable: its split says so
    pack = pack_bytes(sizes, max_bytes, min_partitions)
    partitions: list[PcapPartition] = []
    pending: list[Split] = []
    pending_bytes = 0
    for path, size in zip(files, sizes):
        if size > max_bytes and not _is_gzip(path):
            for start in range(0, size, max_bytes):
                end = start + max_bytes
                partitions.append(PcapPartition([Split(path, start, end if end < size else None)]))
            continue
        cost = size + OPEN_COST_BYTES
        if pending and pending_bytes + cost > pack:
            partitions.append(PcapPartition(pending))
            pending, pending_bytes = [], 0
        pending.append(Split(path, 0, None, _is_gzip(path)))
        pending_bytes += cost
    if pending:
        partitions.append(PcapPartition(pending))
    return partitions


def host_from_path(path: str) -> str | None:
    """The ``NAME`` of a ``host=NAME`` folder in the path (Hive style), or None."""
    for part in reversed(os.path.dirname(path).split(os.sep)):
        if part.startswith("host=") and len(part) > 5:
            return part[5:]
    return None


# ---------------------------------------------------------------- reading
class _Damaged(Exception):
    """A file part that cannot be read on: the message names the file and offset."""


class PartReader:
    """Reads splits into Arrow record batches of the schema (in an executor)."""

    def __init__(self, options: Options, schema: StructType) -> None:
        self.options = options
        self.arrow_schema = to_arrow_schema(schema, timezone="UTC")
        self.names = [f.name for f in schema.fields]

    def read(self, splits: list[Split]) -> Iterator[pa.RecordBatch]:
        for split in splits:
            yield from self.read_split(split)

    def read_split(self, split: Split) -> Iterator[pa.RecordBatch]:
        host = self.options.host or host_from_path(split.path)
        temporary = None
        try:
            path = split.path
            if split.gzip:
                temporary, problem = _gunzip(path)
                path = temporary
            else:
                problem = None
            yield from self._read_part(path, split, host)
            if problem is not None:
                raise _Damaged(f"{split.path}: {problem}; every packet before it was read")
        except (_Damaged, PcapFormatError, OSError) as exc:
            message = str(exc)
            if isinstance(exc, OSError) and not isinstance(exc, PcapFormatError):
                message = f"{split.path}: cannot read it: {exc.strerror or exc}"
            elif temporary is not None:
                message = message.replace(temporary, split.path)
            if self.options.mode == "FAILFAST":
                raise RuntimeError(f"ringcap pcap source (mode FAILFAST): {message}; "
                                   "mode PERMISSIVE skips what follows the damage and "
                                   "reports it in the _corrupt column") from None
            log.warning("ringcap pcap source: skipped the rest of a damaged part (mode "
                        "PERMISSIVE, reported in _corrupt): %s", message)
            yield self._corrupt_row(split.path, host, message)
        finally:
            if temporary is not None:
                os.unlink(temporary)

    def _read_part(self, path: str, split: Split, host: str | None) -> Iterator[pa.RecordBatch]:
        options = self.options
        with PcapReader(path, strict=True, end=split.end,
                        batch_packets=options.batch_packets) as reader:
            prefix_interfaces = len(reader.interfaces)
            if split.start > 0:
                reader.seek(reader.next_boundary(split.start))
            keep = None
            if options.filter is not None:
                keep = LinkTypeFilter(options.filter, snaplen=reader.snaplen or DEFAULT_SNAPLEN,
                                      swapped=reader.format == "pcap" and reader._swap)
            for batch in reader:
                if keep is not None:
                    # batch[mask], fresh columns, and not bpf.Selection's reused ones:
                    # the Arrow arrays made from a batch share its memory (ts_ns,
                    # ifindex, ...) and Spark may hold a record batch while the
                    # next is made; a Selection plus a copy was no faster
                    try:
                        batch = batch[keep.mask(batch)]
                    except ValueError as exc:   # e.g. `ether host` on raw IP packets
                        raise ValueError(f"ringcap pcap source: {split.path}: the filter "
                                         f"cannot apply to its packets: {exc}") from None
                if len(batch):
                    yield self.record_batch(batch, split.path, host)
            parted = split.start > 0 or split.end is not None
            if parted and len(reader.interfaces) != prefix_interfaces:
                raise _Damaged(
                    f"{split.path}: describes interfaces (or starts a section) after its first "
                    "packets, so its parts cannot be read apart; read it whole: set "
                    f"maxPartitionBytes to at least its size ({reader.size} bytes)")
            if split.end is not None and split.end <= reader.position < reader.size:
                expected = reader.next_boundary(split.end)
                if expected != reader.position:
                    raise _Damaged(
                        f"{split.path}: the part before byte {split.end} ends on the record at "
                        f"byte {reader.position}, but the part after it starts at byte "
                        f"{expected}: a false record boundary (corrupt data?); read it whole: "
                        f"set maxPartitionBytes to at least its size ({reader.size} bytes)")

    def record_batch(self, batch: Batch, file: str, host: str | None) -> pa.RecordBatch:
        n = len(batch)
        header_names = self.options.header_columns
        headers = spread = None
        if header_names:
            wanted = set(header_names)
            wanted |= {_IP_VERSION_OF[n] for n in header_names if n in _IP_VERSION_OF}
            headers, spread = self._decode(batch, wanted, file)
        arrays = []
        for name in self.names:
            if name == "ts":
                micros = np.floor_divide(batch.ts, 1000)
                arrays.append(pa.Array.from_buffers(pa.timestamp("us", tz="UTC"), n,
                                                    [None, pa.py_buffer(micros)]))
            elif name == "ts_ns":
                arrays.append(pa.array(np.ascontiguousarray(batch.ts)))
            elif name in BATCH_COLUMNS:
                arrays.append(self._numeric(name, getattr(batch, name)))
            elif name in _DECODED:
                column = headers[name]
                if isinstance(column, StringColumn):
                    array = column.to_arrow()
                elif name == "sll_addr":             # its first sll_halen bytes, as pandas
                    values, codes = _link_address_codes(column, headers["sll_halen"])
                    array = pa.array(values, pa.string()).take(pa.array(codes, mask=codes < 0))
                elif column.ndim == 2:
                    version = _IP_VERSION_OF.get(name)
                    present = None if version is None else headers[version]
                    if name in ("eth_src", "eth_dst") and headers.linktype is not None:
                        present = headers.linktype == LINKTYPE_ETHERNET  # null: no MACs, as pandas
                    array = self._addresses(column, present)
                else:
                    array = self._numeric(name, column)
                if spread is not None:             # null for packets not decoded
                    array = array.take(spread)
                arrays.append(array)
            elif name == "data":
                arrays.append(_binary(batch))
            elif name == "file":
                arrays.append(pa.repeat(pa.scalar(file, pa.string()), n))
            elif name == "host":
                arrays.append(pa.repeat(pa.scalar(host, pa.string()), n))
            elif name == "interface":
                arrays.append(_interfaces(batch))
            else:                                # _corrupt
                arrays.append(pa.nulls(n, pa.string()))
        return pa.RecordBatch.from_arrays(arrays, schema=self.arrow_schema)

    def _decode(self, batch: Batch, wanted: set, file: str):
        """(headers, None), or for a batch with packets of a link type ringcap
        does not decode, (headers of the others, the take() indices that put
        them in place with nulls for the rest)."""
        try:
            return decode(batch, columns=wanted, tunnels=self.options.tunnels), None
        except ValueError as exc:
            known = np.isin(batch.linktype, np.array(list(LINKTYPE_NAMES), dtype=np.uint16))
            if known.all():
                raise _Damaged(f"{file}: {exc}") from None
        rows = np.full(len(batch), -1, dtype=np.int32)
        rows[known] = np.arange(int(np.count_nonzero(known)), dtype=np.int32)
        try:
            headers = decode(batch[known], columns=wanted, tunnels=self.options.tunnels)
        except ValueError as exc:
            raise _Damaged(f"{file}: {exc}") from None
        return headers, pa.array(rows, mask=rows < 0)

    def _addresses(self, column: np.ndarray, ip_version: np.ndarray | None):
        """An address column as text (null where ``ip_version`` is 0), formatted
        by a compiled loop straight into the Arrow array's buffers."""
        rows = np.ascontiguousarray(column, dtype=np.uint8)
        n = rows.shape[0]
        valid = validity = None
        if ip_version is not None:
            valid = (np.asarray(ip_version) != 0).view(np.uint8)
            if not valid.all():
                validity = pa.py_buffer(np.packbits(valid, bitorder="little"))
        offsets, data = _text.address_text(rows, valid)
        return pa.Array.from_buffers(pa.string(), n, [validity, pa.py_buffer(offsets),
                                                      pa.py_buffer(data)])

    def _numeric(self, name: str, array: np.ndarray):
        target = self.arrow_schema.field(name).type
        if target == pa.bool_():
            return pa.array(np.ascontiguousarray(array, dtype=np.bool_))
        return pa.array(np.ascontiguousarray(array, dtype=target.to_pandas_dtype()))

    def _corrupt_row(self, file: str, host: str | None, message: str) -> pa.RecordBatch:
        values = {"file": file, "host": host, "_corrupt": message}
        arrays = [pa.array([values.get(f.name)], type=f.type) for f in self.arrow_schema]
        return pa.RecordBatch.from_arrays(arrays, schema=self.arrow_schema)


def _binary(batch: Batch):
    if not batch.is_packed():
        batch = batch.copy()
    n = len(batch)
    ends = np.empty(n + 1, dtype=np.int32)
    ends[:n] = batch.offset
    ends[n] = batch.data.shape[0]
    return pa.Array.from_buffers(pa.binary(), n,
                                 [None, pa.py_buffer(ends), pa.py_buffer(batch.data)])


def _interfaces(batch: Batch):
    names = batch.interfaces
    n = len(batch)
    if not names:
        return pa.nulls(n, pa.string())
    indexes, inverse = np.unique(batch.ifindex, return_inverse=True)
    values = [names.get(int(i)) for i in indexes]
    return pa.array(values, type=pa.string()).take(pa.array(inverse.reshape(-1)
                                                             .astype(np.int32)))


def _gunzip(path: str) -> tuple[str, str | None]:
    """Decompress a gzip capture into a temporary file: (its path, the problem
    that cut the stream short, or None)."""
    fd, temporary = tempfile.mkstemp(prefix=".ringcap-", suffix=".pcap")
    problem = None
    try:
        with gzip.open(path, "rb") as source, os.fdopen(fd, "wb") as target:
            try:
                shutil.copyfileobj(source, target, 1 << 20)
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                problem = f"the gzip stream is damaged or cut short ({exc})"
    except BaseException:
        os.unlink(temporary)
        raise
    if os.path.getsize(temporary) == 0 and problem is not None:
        os.unlink(temporary)
        raise _Damaged(f"{path}: {problem}")
    return temporary, problem


# ---------------------------------------------------------------- Spark's classes
class PcapDataSource(DataSource):
    """``spark.read.format("pcap").load(path)``: one row per packet of pcap/pcapng files.

    ``path``: files, folders (every file under them) or globs (``**`` for any
    depth), comma-separated; names starting with ``.`` or ``_`` are skipped
    (ringcap's unfinished files).  Options: ``columns`` (comma-separated
    names of :data:`PACKET_COLUMNS`, or ``all``; default the batch columns
    and ``ringcap.decode``'s default columns), ``payload`` (``true``: the
    frame bytes in ``data``, with the header offsets), ``filter`` (tcpdump
    syntax), ``tunnels`` (``inner``/``outer``), ``host`` (default: the
    ``NAME`` of a ``host=NAME`` folder in the path, else null),
    ``maxPartitionBytes`` (default 128 MiB), ``mode`` (``PERMISSIVE``:
    a damaged file's packets before the damage are kept, the rest of its
    part skipped, and one row with ``_corrupt`` set says what and where;
    ``FAILFAST``: the query stops with that message).
    """

    @classmethod
    def name(cls) -> str:
        return "pcap"

    def schema(self) -> StructType:
        return spark_schema(Options.parse(self.options))

    #: Partitions to aim for when ``minPartitions`` is not given: the session's default
    #: parallelism, set by :func:`ringcap.spark.register` (1 when registered directly).
    default_min_partitions = 1

    def reader(self, schema: StructType) -> "PcapBatchReader":
        return PcapBatchReader(dict(self.options), schema, self.default_min_partitions)

    def streamReader(self, schema: StructType) -> "PcapStreamReader":
        return PcapStreamReader(dict(self.options), schema, self.default_min_partitions)


def _paths(options: dict) -> str:
    path = {str(k).lower(): v for k, v in options.items()}.get("path")
    if not path:
        raise ValueError('pcap source: give the files to read: .load("/captures/*.pcap")')
    return path


class PcapBatchReader(DataSourceReader):
    def __init__(self, options: dict, schema: StructType, default_min_partitions: int = 1) -> None:
        self.options = Options.parse(options)
        self.paths = _paths(options)
        self.schema = schema
        self.min_partitions = self.options.min_partitions or default_min_partitions

    def partitions(self) -> list[PcapPartition]:
        files = list_files(self.paths)
        if not files:
            raise FileNotFoundError(f"pcap source: no files match {self.paths}")
        return plan(files, self.options.max_partition_bytes, self.min_partitions)

    def read(self, partition: PcapPartition) -> Iterator[pa.RecordBatch]:
        return PartReader(self.options, self.schema).read(partition.splits)


class PcapStreamReader(DataSourceStreamReader):
    """Streaming: each micro-batch reads the files that appeared since the last.

    Names starting with ``.`` or ``_`` are not seen, so files a ringcap
    rotation is still writing, as ``.NAME.PID.inprogress``, are picked up
    once renamed into place.  The offset is bounded, as Spark's file source
    is with ``maxFileAge``: a high-water mark ``before_ns`` (the newest
    file's modification time less ``maxFileAge``; files modified before it
    are done) and the files seen at or after it, each with its mtime.  A
    file that appears with an mtime before the mark is taken as done and not
    read (Spark's rule); the first micro-batch reads every file.
    """

    def __init__(self, options: dict, schema: StructType, default_min_partitions: int = 1) -> None:
        self.options = Options.parse(options)
        self.paths = _paths(options)
        self.schema = schema
        self.min_partitions = self.options.min_partitions or default_min_partitions

    def initialOffset(self) -> dict:
        return {"before_ns": None, "files": []}

    def latestOffset(self, start: dict | None = None, limit=None) -> dict:
        start = start or self.initialOffset()
        mark = start.get("before_ns")
        seen = {path: mtime for mtime, path in start.get("files", ())}
        try:
            files = list_files(self.paths)
        except FileNotFoundError:
            files = []                       # the folder is not there yet
        new = {}
        for path in files:
            if path in seen:
                continue
            try:
                mtime = os.stat(path).st_mtime_ns
            except OSError:
                continue                     # gone meanwhile
            if mark is not None and mtime < mark:
                continue                     # done (read before, or older than maxFileAge)
            new[path] = mtime
        every = {**seen, **new}
        if every:
            newest = max(every.values()) - self.options.max_file_age_ns
            mark = newest if mark is None else max(mark, newest)
        # files at or after the mark, and this batch's new ones (the next batch drops
        # those that are before it: by then they are read)
        kept = sorted((mtime, path) for path, mtime in every.items()
                      if path in new or mtime >= mark)
        return {"before_ns": mark, "files": [[mtime, path] for mtime, path in kept]}

    def partitions(self, start: dict, end: dict) -> list[PcapPartition]:
        before = {path for _, path in start.get("files", ())}
        new = sorted(path for _, path in end["files"] if path not in before)
        return plan(new, self.options.max_partition_bytes, self.min_partitions) if new else []

    def read(self, partition: PcapPartition) -> Iterator[pa.RecordBatch]:
        return PartReader(self.options, self.schema).read(partition.splits)

    def commit(self, end: dict) -> None:
        pass


def register(spark, *, min_partitions: int | None = None) -> None:
    """Make ``spark.read.format("pcap")`` and ``spark.readStream.format("pcap")``
    read capture files in this session.

    Small files are packed into at least ``min_partitions`` partitions (default:
    the session's default parallelism, its cores; the ``minPartitions`` option
    sets it per read), as Spark's own file sources do.
    """
    if min_partitions is None:
        try:
            min_partitions = spark.sparkContext.defaultParallelism
        except (AttributeError, NotImplementedError):   # Spark Connect: no SparkContext
            min_partitions = 1
    # a subclass carrying the number: Spark pickles it, by value, to its Python workers
    source = type(PcapDataSource.__name__, (PcapDataSource,),
                  {"__module__": __name__, "__doc__": PcapDataSource.__doc__,
                   "default_min_partitions": max(1, int(min_partitions))})
    spark.dataSource.register(source)
