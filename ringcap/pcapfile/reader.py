"""Capture files: write and read pcap and pcapng.

Files written here open in tcpdump, Wireshark and tshark; files those tools
write read back into the same :class:`~ringcap.Batch` a live capture gives.

Writing::

    with ringcap.PcapWriter("out.pcapng", format="pcapng") as writer:
        writer.write(batch)
        writer.write_stats(ring.stats)          # drops survive into the file

Reading::

    batch = ringcap.read_pcap("in.pcap")                   # whole file
    with ringcap.open_pcap("huge.pcapng") as reader:       # bounded memory
        for batch in reader:
            ...

Record headers are built and parsed by nogil loops in ``ringcap._pcapio``;
this module owns the files, the rare pcapng blocks (section and interface
headers, statistics) and the errors.  Readers read the file by position
(``pread``, never a map a shrinking file could turn into SIGBUS): ``data`` of
a batch read without ``out=`` is a read-only view of such a buffer, which stays
valid after the reader is closed for as long as the batch lives.
"""
from __future__ import annotations

import contextlib
import errno
import os
import socket
import stat as _stat
import struct
import sys
import threading
import time
import warnings
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

import numpy as np

from . import _pcapio
from .batch import COLUMNS, Batch

__all__ = [
    "PcapWriter", "PcapReader", "write_pcap", "read_pcap", "open_pcap", "capture_to_file",
    "PcapFormatError", "PcapTruncatedError", "PcapTruncatedWarning",
    "Interface", "InterfaceStats", "CaptureSummary",
    "LINKTYPE_ETHERNET", "DEFAULT_SNAPLEN",
]

#: The link type of Ethernet frames in pcap/pcapng headers (``DLT_EN10MB``).
LINKTYPE_ETHERNET = 1
#: Snapshot length written when none is given: what tcpdump and dumpcap use.
DEFAULT_SNAPLEN = 262144

_MAGIC_USEC = 0xA1B2C3D4
_MAGIC_NSEC = 0xA1B23C4D
_MAGIC_MODIFIED = 0xA1B2CD34      # Kuznetzov's "modified pcap"
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BYTE_ORDER = 0x1A2B3C4D
_BT_IDB, _BT_ISB = 1, 5

_S = _pcapio.Status
_NATIVE = "<" if sys.byteorder == "little" else ">"
_WRITE_BUFFER = 1 << 20          # default byte bound on what a writer holds unflushed
_FLUSH_INTERVAL = 1.0            # default time bound (seconds)
_RESERVE = 16 << 10              # disk space kept past the end for the final blocks
_READ_CHUNK = 1 << 20             # packets parsed per step when reading a whole file
_READ_WINDOW = 1 << 20            # bytes read from a file at a time (at least)


class PcapFormatError(ValueError):
    """A capture file is not pcap/pcapng, or is corrupt.

    ``offset`` is the byte offset in the file where the problem was found.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class PcapTruncatedError(PcapFormatError):
    """The file ends inside a record (raised instead of a warning with ``strict=True``)."""


class PcapTruncatedWarning(UserWarning):
    """The file ends inside a record; every complete record before it was read.

    ``offset`` is the byte offset where the partial record starts.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


@dataclass(frozen=True)
class Interface:
    """An interface described by a capture file.

    ``index`` is its position in the file (the ``ifindex`` of its packets);
    ``section`` the pcapng section it belongs to; ``tsresol`` the raw
    ``if_tsresol`` byte (6 = microseconds, 9 = nanoseconds, 0x80|k = 2**-k s)
    and ``tsoffset`` ``if_tsoffset`` in seconds.
    """

    index: int
    linktype: int
    snaplen: int
    name: str | None = None
    description: str | None = None
    section: int = 0
    tsresol: int = 6
    tsoffset: int = 0


@dataclass(frozen=True)
class InterfaceStats:
    """One pcapng Interface Statistics Block.

    ``received`` (``isb_ifrecv``), ``dropped`` (``isb_ifdrop``) and
    ``os_dropped`` (``isb_osdrop``) are None when the block leaves them out.
    """

    interface: int
    ts: int
    received: int | None = None
    dropped: int | None = None
    os_dropped: int | None = None


@dataclass(frozen=True)
class CaptureSummary:
    """What :func:`capture_to_file` wrote: packets, captured bytes, and the ring's counts.

    ``files``: the finished files; ``stopped_by``: why the capture ended
    (``"count"``, ``"duration"``, ``"files"``, a signal name such as
    ``"SIGTERM"``, ``"KeyboardInterrupt"``); ``if_drops``: drops by the
    interface; ``unread``: packets the kernel accepted that were still in the
    ring (received = packets + drops + unread when nothing was filtered out).
    """

    packets: int
    bytes: int
    received: int | None
    drops: int | None
    files: tuple = field(default=(), compare=False)
    stopped_by: str | None = field(default=None, compare=False)
    if_drops: int | None = field(default=None, compare=False)
    unread: int = field(default=0, compare=False)


# ---------------------------------------------------------------------- writing

def _open_for_writing(path, mode: int, overwrite: bool) -> int:
    """Create ``path`` for writing, never through a symbolic link.

    Without ``overwrite`` an existing name (a file, or a link planted there)
    is refused (``O_EXCL``); with it an existing file is truncated, but a
    symbolic link still is not followed (``O_NOFOLLOW``).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    flags |= os.O_TRUNC if overwrite else os.O_EXCL
    try:
        fd = os.open(path, flags, mode)
    except FileExistsError as error:
        raise FileExistsError(
            error.errno, f"{os.fsdecode(path)} already exists; pass overwrite=True to replace "
            "it (a symbolic link there is refused either way)") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise OSError(error.errno, f"{os.fsdecode(path)} is a symbolic link; capture files "
                          "are never written through one (remove it, or give the real path)") from None
        raise
    try:
        st = os.fstat(fd)
        # O_CREAT leaves an existing file's permissions alone: narrow them too.
        if _stat.S_ISREG(st.st_mode) and st.st_mode & 0o7777 & ~mode:
            os.fchmod(fd, st.st_mode & 0o7777 & mode)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _fileno(target) -> int:
    """The descriptor of an int or a file object, after flushing the object's own buffer."""
    if isinstance(target, int):
        return target
    flush = getattr(target, "flush", None)
    if flush is not None:
        flush()
    return target.fileno()


def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def _option(code: int, value: bytes) -> bytes:
    return struct.pack(_NATIVE + "HH", code, len(value)) + _pad4(value)


def _block(btype: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack(_NATIVE + "II", btype, length) + body + struct.pack(_NATIVE + "I", length)


def _interface_name(ifindex: int, batch_names, writer_names) -> str:
    for names in (batch_names, writer_names):
        if names and ifindex in names and names[ifindex]:
            return str(names[ifindex])
    try:
        return socket.if_indextoname(ifindex)
    except (OSError, OverflowError, ValueError):
        return f"if{ifindex}"


def _column(batch: Batch, name: str) -> np.ndarray:
    return np.ascontiguousarray(getattr(batch, name), dtype=COLUMNS[name])


class PcapWriter:
    """Write batches to a pcap or pcapng file.

    ``format``: ``"pcap"`` (nanosecond magic unless ``nanosecond=False``) or
    ``"pcapng"`` (one Interface Description Block per ``ifindex`` seen, named
    from ``batch.interfaces``, then ``interfaces=``, then the host's interface
    of that index, else ``"if<N>"``; timestamps in ns; with ``flags`` each
    packet's ``pkttype`` is kept as an ``epb_flags`` option).  Packets longer
    than ``snaplen`` are cut to it; their wire length is kept.

    The file is created with permission bits ``mode`` (default 0o600: captured
    traffic is sensitive).  An existing name is refused unless
    ``overwrite=True`` (then the file is truncated and narrowed to ``mode``);
    a symbolic link at ``path`` is never followed.  ``path`` may instead be
    an open file descriptor or binary file object (a pipe to ``tcpdump -r
    -``, ``sys.stdout.buffer``): it is written from its current position and
    left open.

    Records are built without the GIL into a buffer of ``buffer_size`` bytes
    that goes to the kernel when full, when its oldest record has waited
    ``flush_interval`` seconds (checked at each :meth:`write` and
    :meth:`tick`), and on :meth:`flush`/:meth:`close`: a killed process loses
    at most that much.  Only whole records are written; after a failed write
    the file is cut back to its last complete record, the error is raised,
    and the writer refuses further packets (statistics can still be added;
    see docs/reliability.md).  A writer takes one call at a time: a second
    thread calling it while it works gets RuntimeError.
    """

    def __init__(self, path, *, format: str = "pcap", nanosecond: bool = True,
                 snaplen: int = DEFAULT_SNAPLEN, linktype: int = LINKTYPE_ETHERNET,
                 mode: int = 0o600, flags: bool = True,
                 interfaces: Mapping[int, str] | None = None,
                 buffer_size: int = _WRITE_BUFFER, flush_interval: float = _FLUSH_INTERVAL,
                 overwrite: bool = False) -> None:
        self._fd = -1
        if format not in ("pcap", "pcapng"):
            raise ValueError(f"format must be 'pcap' or 'pcapng', got {format!r}")
        snaplen = int(snaplen)
        if not 0 < snaplen <= 0xFFFFFFFF:
            raise ValueError(f"snaplen must be between 1 and 2**32-1, got {snaplen}")
        linktype = int(linktype)
        if not 0 <= linktype <= (0xFFFF if format == "pcapng" else 0x0FFFFFFF):
            raise ValueError(f"linktype {linktype} does not fit a {format} header")
        if int(buffer_size) < 64 * 1024:
            raise ValueError(f"buffer_size must be at least 64 KiB, got {buffer_size}")
        flush_interval = float(flush_interval)
        if not flush_interval >= 0 or flush_interval == float("inf"):
            raise ValueError(f"flush_interval must be a finite number of seconds >= 0, "
                             f"got {flush_interval}")
        self._own_fd = not (isinstance(path, int) or hasattr(path, "fileno"))
        self.path = os.fspath(path) if self._own_fd else f"<fd {_fileno(path)}>"
        self.format = format
        self.nanosecond = bool(nanosecond) if format == "pcap" else True
        self.snaplen = snaplen
        self.linktype = linktype
        self.flags = bool(flags)
        self.flush_interval = flush_interval
        #: Packets and bytes accepted (buffered or in the file).
        self.packets_written = 0
        self.bytes_written = 0
        #: Packets and bytes in complete records handed to the operating system.
        self.packets_flushed = 0
        self.bytes_flushed = 0
        #: Packets accepted but lost to a failed write (never in the file).
        self.packets_lost = 0
        self._names = dict(interfaces) if interfaces else {}
        self._idb: dict[int, int] = {}
        self._buf = np.empty(int(buffer_size), dtype=np.uint8)
        self._used = 0             # bytes waiting in _buf
        self._head = 0             # first record boundary in _buf (a record may be half out)
        self._buf_packets = 0      # packets whose records are (partly) in _buf
        self._header = 24 if format == "pcap" else 0   # pcap file header not yet out
        self._oldest = None        # when the oldest waiting record was buffered
        self._progress = np.zeros(1, dtype=np.int64)
        self._partial = 0          # bytes of a record half out (an interrupted write)
        self._partial_packet = False
        self._failed: OSError | None = None
        self._lock = threading.Lock()
        self._start = 0            # file offset of our first byte
        self._regular = False      # a regular file: can be cut back and space reserved
        self._reserve_ok = True
        self._reserved = False
        self._fd = (_open_for_writing(self.path, int(mode), bool(overwrite)) if self._own_fd
                    else _fileno(path))
        try:
            if _stat.S_ISREG(os.fstat(self._fd).st_mode):
                self._regular = True
                self._start = 0 if self._own_fd else os.lseek(self._fd, 0, os.SEEK_CUR)
            if format == "pcap":
                magic = _MAGIC_NSEC if self.nanosecond else _MAGIC_USEC
                self._put(struct.pack(_NATIVE + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
            else:
                body = struct.pack(_NATIVE + "IHHq", _PCAPNG_BYTE_ORDER, 1, 0, -1)
                body += _option(4, b"ringcap") + _option(0, b"")
                self._put(_block(_PCAPNG_SHB, body))
            self._drain()          # the header is out: a reader never sees an empty file
        except BaseException:
            self._close_fd()
            raise

    # -------------------------------------------------------------- plumbing
    def _check_open(self) -> None:
        if self._fd < 0:
            raise ValueError(f"PcapWriter for {self.path!r} is closed")

    @contextlib.contextmanager
    def _exclusive(self):
        if not self._lock.acquire(blocking=False):
            raise RuntimeError(
                f"PcapWriter for {self.path!r} is already busy with another call (from another "
                "thread, or a signal handler interrupting it); a writer takes one call at a "
                "time: give each thread its own writer, or guard it with a lock")
        try:
            self._check_open()
            yield
        finally:
            self._lock.release()

    def _failure(self) -> OSError:
        error = self._failed
        return OSError(
            error.errno,
            f"{self.path}: an earlier write failed ({error.strerror or error}); the file ends at "
            f"its last complete record ({self.bytes_flushed} bytes, {self.packets_flushed} "
            f"packets) and {self.packets_lost} accepted packets are not in it; write to a new "
            "file")

    def _put(self, raw: bytes) -> None:
        """Append small raw bytes (file header, IDB, ISB) to the buffer."""
        if self._used + len(raw) > self._buf.shape[0]:
            self._drain()
        if len(raw) > self._buf.shape[0]:
            self._grow(len(raw))
        self._buf[self._used:self._used + len(raw)] = np.frombuffer(raw, dtype=np.uint8)
        self._used += len(raw)
        self.bytes_written += len(raw)
        if self._oldest is None:
            self._oldest = time.monotonic()

    def _grow(self, size: int) -> None:
        bigger = np.empty(size, dtype=np.uint8)
        bigger[:self._used] = self._buf[:self._used]
        self._buf = bigger

    def _reserve(self, nbytes: int) -> bool:
        """Reserve disk space for ``nbytes`` more plus room for the final blocks;
        False when the file system is full."""
        if not (self._regular and self._reserve_ok):
            return True
        err = _pcapio.reserve_space(self._fd, self._start + self.bytes_flushed,
                                    nbytes + _RESERVE)
        if err in (errno.ENOSPC, errno.EDQUOT):
            return False
        if err:
            self._reserve_ok = False          # e.g. EOPNOTSUPP: plain writes only
        else:
            self._reserved = True
        return True

    def _drain(self, *, final: bool = False) -> None:
        """Write the buffer; on failure cut the file back to its last complete record.

        ``final``: statistics or interface blocks written after a failure.
        """
        if self._failed is not None and not final:
            raise self._failure()
        used = self._used
        if not used:
            self._oldest = None
            return
        if not final and not self._reserve(used):
            self._fail(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        self._progress[0] = 0
        try:
            _pcapio.write_all(self._fd, self._buf, used, self._progress)
        except BaseException as error:
            self._account(int(self._progress[0]))
            if isinstance(error, OSError):
                self._fail(error)
            raise                 # an interrupt: the rest stays buffered, in order
        self._account(used)
        self._oldest = None

    def _account(self, written: int) -> None:
        """Book the first ``written`` bytes of the buffer as out; keep the rest, in order."""
        used = self._used
        if written == used and self._head == 0:          # the usual case: all of it
            self.bytes_flushed += used
            self.packets_flushed += self._buf_packets
            self._buf_packets = self._used = self._header = 0
            return
        if self._head:                    # the buffer starts with the end of a record
            if written < self._head:
                self._partial += written
                self._shift(written)
                self._head -= written
                return
            self.bytes_flushed += self._partial + self._head
            if self._partial_packet:
                self.packets_flushed += 1
                self._buf_packets -= 1
            self._partial = 0
        boundary, following, packets, next_packet = _pcapio.record_boundary(
            self._buf, self._head, used, written, self.format == "pcapng", self._header)
        self.bytes_flushed += boundary - self._head
        self.packets_flushed += packets
        self._buf_packets -= packets
        self._partial = written - boundary        # bytes of an unfinished record in the file
        self._partial_packet = bool(next_packet)
        if written:
            self._header = 0
        self._shift(written)
        self._head = following - written if following > written else 0

    def _shift(self, nbytes: int) -> None:
        rest = self._used - nbytes
        if nbytes and rest:
            self._buf[:rest] = self._buf[nbytes:self._used]
        self._used = rest

    def _fail(self, error: OSError) -> None:
        """After a failed write: cut the file at its last complete record, drop the
        buffer (its packets are lost) and refuse further packets."""
        if self._regular and self._partial:
            try:
                os.ftruncate(self._fd, self._start + self.bytes_flushed)
                self._partial = 0
            except OSError:
                pass
        self.packets_lost += self._buf_packets
        self._buf_packets = 0
        self._partial_packet = False
        self.packets_written = self.packets_flushed
        self.bytes_written = self.bytes_flushed
        self._used = self._head = 0
        self._header = 0
        if self._failed is None:
            self._failed = error
        raise self._failure() from error

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0 and self._reserved:
            # blocks reserved past the end are no longer needed
            _pcapio.release_space(fd, self._start + self.bytes_flushed, _RESERVE + self._buf.shape[0])
        if fd >= 0 and self._own_fd:
            os.close(fd)

    # -------------------------------------------------------------- interfaces
    def add_interface(self, ifindex: int, name: str | None = None) -> int:
        """Declare an interface (pcapng) and return its id in the file.

        Done automatically for every ``ifindex`` that appears in written
        batches; call it to set a name or to describe an interface before
        (or without) any of its packets.
        """
        with self._exclusive():
            return self._add_interface(ifindex, name)

    def _add_interface(self, ifindex: int, name: str | None = None) -> int:
        if self.format != "pcapng":
            raise ValueError("pcap files have no interface descriptions; use format='pcapng'")
        ifindex = int(ifindex)
        if ifindex in self._idb:
            return self._idb[ifindex]
        if name is not None:
            self._names[ifindex] = name
        label = _interface_name(ifindex, None, self._names)
        options = _option(2, label.encode("utf-8", "replace")) + _option(9, b"\x09") + _option(0, b"")
        body = struct.pack(_NATIVE + "HHI", self.linktype, 0, self.snaplen) + options
        self._put(_block(_BT_IDB, body))
        # Out at once: the id is the block's position among the file's IDBs,
        # so it counts only once the block is in the file (a failed write
        # cannot leave statistics or packets pointing at a lost IDB).
        self._drain(final=self._failed is not None)
        self._idb[ifindex] = len(self._idb)
        return self._idb[ifindex]

    def _interface_ids(self, batch: Batch, ifindex: np.ndarray) -> np.ndarray:
        n = ifindex.shape[0]
        if n == 0:
            return np.zeros(0, dtype=np.uint32)
        first = int(ifindex[0])
        if (ifindex == first).all():
            uniq, inverse = [first], None
        else:
            uniq, firsts, inverse = np.unique(ifindex, return_index=True, return_inverse=True)
            order = np.argsort(firsts, kind="stable")      # describe in order of appearance
            for value in uniq[order].tolist():
                if value not in self._idb:
                    self._add_interface(value, _interface_name(value, batch.interfaces, self._names))
            uniq = uniq.tolist()
        ids = []
        for value in uniq:
            if value not in self._idb:
                name = _interface_name(value, batch.interfaces, self._names)
                self._add_interface(value, name)
            ids.append(self._idb[value])
        if inverse is None:
            return np.full(n, ids[0], dtype=np.uint32)
        return np.asarray(ids, dtype=np.uint32)[inverse]

    # -------------------------------------------------------------- writing
    def write(self, batch: Batch) -> None:
        """Append every packet of ``batch`` (flushing first if the buffer is due)."""
        with self._exclusive():
            if self._failed is not None:
                raise self._failure()
            if len(batch):
                self._write(batch)
            self._flush_if_due()

    def tick(self) -> None:
        """Flush if the oldest buffered record has waited ``flush_interval``.

        :meth:`write` does this itself; call ``tick`` while no packets come
        (a quiet link) so the bound holds then too.
        """
        with self._exclusive():
            self._flush_if_due()

    def _flush_if_due(self) -> None:
        if self._oldest is not None and \
                time.monotonic() - self._oldest >= self.flush_interval:
            self._drain()

    def _write(self, batch: Batch) -> None:
        n = len(batch)
        ts = _column(batch, "ts")
        caplen = _column(batch, "caplen")
        wirelen = _column(batch, "wirelen")
        offset = _column(batch, "offset")
        data = np.ascontiguousarray(batch.data, dtype=np.uint8)
        # Check the whole batch before writing any of it.
        limit = (1 << 32) * 10**9 - 1 if self.format == "pcap" else (1 << 63) - 1
        lo, hi = int(ts.min()), int(ts.max())
        if lo < 0 or hi > limit:
            bad = int(np.argmax((ts < 0) | (ts > limit)))
            raise ValueError(
                f"packet {bad} has timestamp {int(ts[bad])} ns, outside what a {self.format} "
                "file can hold (1970 to 2106 for pcap, after 1970 for pcapng)")
        batch.validate()
        if self.format == "pcapng":
            pkttype = _column(batch, "pkttype")
            iface_id = self._interface_ids(batch, _column(batch, "ifindex"))
        largest = 32 + 12 + min(int(caplen.max()), self.snaplen) + 3
        if largest > self._buf.shape[0]:
            self._drain()
            self._grow(largest)
        i = 0
        while i < n:
            if self._oldest is None:
                self._oldest = time.monotonic()
            out = self._buf[self._used:]
            if self.format == "pcap":
                nxt, nbytes, status, bad = _pcapio.build_pcap(
                    ts, caplen, wirelen, offset, data, i, n, self.snaplen, self.nanosecond, out)
            else:
                nxt, nbytes, status, bad = _pcapio.build_epb(
                    ts, caplen, wirelen, offset, data, pkttype, iface_id, i, n,
                    self.snaplen, self.flags, out)
            self._used += nbytes
            self.bytes_written += nbytes
            self.packets_written += nxt - i
            self._buf_packets += nxt - i
            if status != _S.OK:
                raise ValueError(f"cannot write packet {bad}: {_S(status).name}")
            if nxt < n:
                self._drain()
            i = nxt

    def write_stats(self, stats, ifindex: int | None = None, ts: int | None = None) -> None:
        """Record a capture's counters in an Interface Statistics Block (pcapng only).

        ``stats`` needs ``.packets`` and ``.drops`` (a ring's ``Stats``), and
        may have ``.if_drops``.  They are written as ``isb_ifrecv`` =
        packets, ``isb_ifdrop`` = drops + if_drops (what Wireshark shows as
        dropped) and ``isb_osdrop`` = drops.  ``ifindex`` picks the interface
        (default: the first one in the file, or ifindex 0 if none yet).
        Statistics with ``.per_interface`` (a ring on several interfaces)
        become one block per interface, ``ifindex`` being ignored.
        ``ts`` is the block's time in ns (default: now).  Works after a
        failed write too: the block goes right after the last complete
        record, into disk space the writer keeps reserved for it.
        """
        with self._exclusive():
            self._write_stats(stats, ifindex, ts)

    def _write_stats(self, stats, ifindex, ts) -> None:
        if self.format != "pcapng":
            raise ValueError(
                "pcap files have no place for capture statistics; use format='pcapng' "
                "to keep drop counts in the file")
        per_interface = getattr(stats, "per_interface", None)
        if per_interface:
            # a ring on several interfaces: one block per interface, its own counts
            for index, one in per_interface.items():
                self._write_stats(one, index, ts)
            return
        packets, drops = int(stats.packets), int(stats.drops)
        if_drops = getattr(stats, "if_drops", None)
        if_drops = 0 if if_drops is None else int(if_drops)
        if min(packets, drops, if_drops) < 0:
            raise ValueError(f"negative statistics: {stats!r}")
        if ifindex is None:
            ifindex = next(iter(self._idb), 0)
        iface = self._add_interface(int(ifindex))
        ts = time.time_ns() if ts is None else int(ts)
        options = (_option(4, struct.pack(_NATIVE + "Q", packets))
                   + _option(5, struct.pack(_NATIVE + "Q", drops + if_drops))
                   + _option(7, struct.pack(_NATIVE + "Q", drops))
                   + _option(0, b""))
        body = struct.pack(_NATIVE + "III", iface, ts >> 32, ts & 0xFFFFFFFF) + options
        self._put(_block(_BT_ISB, body))
        if self._failed is not None:
            self._drain(final=True)

    def write_from(self, ring, *, count: int | None = None, duration: float | None = None,
                   batch_packets: int = 65536, timeout: float = 0.1,
                   stats: bool = True) -> CaptureSummary:
        """Stream packets from a ring (anything with ``read(max_packets, timeout)``).

        Stops after ``count`` packets or ``duration`` seconds (at least one
        must be given), then, for pcapng with ``stats``, writes the ring's
        ``.stats`` as an Interface Statistics Block.  Memory stays bounded
        by one batch.
        """
        self._check_open()
        if count is None and duration is None:
            raise ValueError("give count= or duration= (or both) to bound the capture")
        if count is not None and int(count) < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        deadline = None if duration is None else time.monotonic() + float(duration)
        written = nbytes = 0
        try:
            while count is None or written < count:
                wait = timeout
                if deadline is not None:
                    wait = min(wait, deadline - time.monotonic())
                    if wait <= 0:
                        break
                want = batch_packets if count is None else min(batch_packets, int(count) - written)
                batch = ring.read(want, wait)
                if len(batch) > want:
                    batch = batch[:want]
                self.write(batch)
                written += len(batch)
                nbytes += batch.nbytes
        except BaseException:
            # Ctrl-C, a failed read or a failed write still leaves the counts in the file.
            if stats:
                try:
                    self._write_ring_stats(ring)
                except Exception:
                    pass
            raise
        ring_stats = self._write_ring_stats(ring) if stats else getattr(ring, "stats", None)
        return CaptureSummary(
            packets=written, bytes=nbytes,
            received=None if ring_stats is None else int(ring_stats.packets),
            drops=None if ring_stats is None else int(ring_stats.drops))

    def _write_ring_stats(self, ring):
        ring_stats = getattr(ring, "stats", None)
        if ring_stats is not None and self.format == "pcapng":
            self.write_stats(ring_stats, ifindex=getattr(ring, "ifindex", None))
        return ring_stats

    def flush(self) -> None:
        """Hand everything buffered to the operating system."""
        with self._exclusive():
            self._drain()

    def close(self, stats=None) -> None:
        """Flush and close the file (idempotent).

        ``stats`` (a ring's ``Stats``) is first written as with
        :meth:`write_stats`.  After a failed write the file is closed as it
        is (ending at its last complete record, plus ``stats``) and the
        failure is raised again: close never reports success for packets
        that are not in the file.
        """
        if self._fd < 0:
            if stats is not None:
                self._check_open()           # statistics for a closed file: say so
            return
        with self._exclusive():
            try:
                if stats is not None:
                    self._write_stats(stats, None, None)   # raises on a pcap file: still open
                if self._failed is None:
                    self._drain()
            except ValueError:
                raise
            except BaseException:
                self._close_fd()
                raise
            self._close_fd()
            if self._failed is not None:
                raise self._failure()

    @property
    def closed(self) -> bool:
        return self._fd < 0

    @property
    def failed(self) -> OSError | None:
        """The write error that stopped this writer, or None."""
        return self._failed

    def __enter__(self) -> "PcapWriter":
        return self

    def __exit__(self, exc_type, *exc) -> None:
        try:
            self.close()
        except OSError:
            if exc_type is None:
                raise          # else the exception in flight already says what failed

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            warnings.warn(f"unclosed PcapWriter for {self.path!r}", ResourceWarning, stacklevel=2)
            try:
                self.close()
            except (OSError, RuntimeError):
                self._close_fd()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "failed" if self._failed else "open"
        return (f"<PcapWriter {self.path!r} {self.format} {state}, "
                f"{self.packets_written} packets>")


def write_pcap(path, batches: Batch | Iterable[Batch], **options) -> int:
    """Write a batch (or an iterable of batches) to ``path``; returns the packet count.

    ``options`` are those of :class:`PcapWriter`.
    """
    if isinstance(batches, Batch):
        batches = [batches]
    with PcapWriter(path, **options) as writer:
        for batch in batches:
            writer.write(batch)
        return writer.packets_written


def capture_to_file(source, path, *, count: int | None = None, duration: float | None = None,
                    format: str | None = None, file_size: int | None = None,
                    rotate_seconds: float | None = None, max_files: int | None = None,
                    post_rotate=None, owner=None, progress=None, signals: bool = True,
                    batch_packets: int = 65536, timeout: float = 0.1,
                    ring_options: Mapping | None = None, workers: int | None = None,
                    **writer_options) -> CaptureSummary:
    """Capture from a ring (or an interface name) straight into a file, streaming.

    ``source`` is an open ring (left open), an interface name or a list of
    them (pcapng: one interface block and statistics block each), for which an
    ``RxRing`` is opened with ``ring_options`` and closed afterwards.  Stops
    after ``count`` packets or ``duration`` seconds, or, with neither, when
    stopped: SIGINT (Ctrl-C), SIGTERM and SIGHUP end the capture cleanly
    (with ``signals=True``, when called from the main thread), as does a
    KeyboardInterrupt.  Every packet already captured is written, the files
    are finished, and the summary is returned all the same
    (``stopped_by`` says why it stopped).

    ``format``: ``"pcap"`` or ``"pcapng"`` (default: pcap for a ``.pcap``
    name, else pcapng).  pcapng files end with an Interface Statistics Block
    holding the ring's received and dropped counts, on every exit path.
    Rotation as tcpdump's: ``file_size`` bytes (``-C``), ``rotate_seconds``
    (``-G``, strftime patterns in ``path``), ``max_files`` (``-W``);
    ``post_rotate``: a command (``"gzip"``) run on each finished file, or a
    callable taking its path.  ``owner`` (user name or uid) is given the
    files; ``mode`` (0o600) their permissions; an existing file is replaced
    only with ``overwrite=True`` (a ring of files with ``max_files`` replaces
    its own).  ``progress``: as for
    :func:`ringcap.capture`.  Other keywords go to :class:`PcapWriter`.
    ``workers=N`` captures the interface with N processes (see
    :func:`ringcap.parallel.capture_to_file_parallel`: ``{worker}`` in
    ``path`` writes one file per worker).
    """
    from .progress import progress_callback
    from .sinks import PcapSink, PostRotateCommand, Rotation
    from .sinks.driving import StopSignals, pump

    if duration is not None:
        duration = float(duration)
        if not (0 < duration < float("inf")):
            raise ValueError(f"duration must be positive, finite seconds, got {duration}")
    if count is not None and int(count) <= 0:
        raise ValueError(f"count must be positive, got {count}")
    if format is None:
        format = "pcap" if os.fspath(path).lower().endswith(".pcap") else "pcapng"
    if workers is not None:
        from .parallel import capture_to_file_parallel
        return capture_to_file_parallel(source, path, workers=workers, count=count,
                                        duration=duration, format=format,
                                        ring_options=ring_options, **writer_options)
    rotation = Rotation(max_bytes=file_size, seconds=rotate_seconds, max_files=max_files)
    on_done = PostRotateCommand(post_rotate) if isinstance(post_rotate, str) else post_rotate
    mode = writer_options.pop("mode", 0o600)
    overwrite = writer_options.pop("overwrite", False)
    part_options = {k: writer_options.pop(k) for k in ("snaplen", "nanosecond", "linktype")
                    if k in writer_options}
    own_ring = isinstance(source, (str, bytes, list, tuple))
    if own_ring:
        from . import RxRing                 # the ring is optional for file work
        ring = RxRing(source, **dict(ring_options or {}))
    else:
        ring = source
    try:
        ifindex = getattr(ring, "ifindex", None)
        if own_ring and ifindex is None:
            try:
                ifindex = socket.if_nametoindex(source)
            except OSError:
                ifindex = 0
        several = getattr(ring, "interfaces", None) or {}
        if own_ring and len(several) > 1:
            interface = dict(several)       # one interface block (and statistics) each
        else:
            interface = (ifindex, os.fsdecode(source) if own_ring else None) if ifindex else None
        sink = PcapSink(path, format=format, rotation=rotation, interface=interface,
                        owner=owner, mode=mode, on_file_done=on_done, overwrite=overwrite,
                        stats_source=lambda: ring.stats, writer_options=writer_options,
                        **part_options)
        stop = StopSignals() if signals else None
        with contextlib.ExitStack() as stack:
            if stop is not None:
                stack.enter_context(stop)
            show = stack.enter_context(progress_callback(progress, total=count,
                                                         what=str(source) if own_ring else ""))
            result = pump(ring, sink, count=count, duration=duration,
                          stop=stop if stop is not None else (lambda: False),
                          progress=show, batch_packets=batch_packets, poll=timeout,
                          reuse_batch=True)
    finally:
        if own_ring:
            ring.close()
    stats = result.stats
    return CaptureSummary(
        packets=result.packets, bytes=result.bytes,
        received=None if stats is None else int(stats.packets),
        drops=None if stats is None else int(stats.drops),
        files=result.summary.files, stopped_by=result.stopped_by,
        if_drops=getattr(stats, "if_drops", None), unread=result.unread)


# ---------------------------------------------------------------------- reading

def _tsresol_mode(resol: int) -> tuple[int, int]:
    """(mode, parameter) for ``ts_units_to_ns`` from an ``if_tsresol`` byte."""
    k = resol & 0x7F
    if resol & 0x80:
        return (_pcapio.TsMode.TS_BINARY if k <= 34 else _pcapio.TsMode.TS_BINARY_FLOAT), k
    if k <= 9:
        return _pcapio.TsMode.TS_MULTIPLY, 10 ** (9 - k)
    return _pcapio.TsMode.TS_DIVIDE, 10 ** min(k - 9, 18)


class PcapReader:
    """Read a pcap or pcapng file batch by batch (see :func:`open_pcap`).

    Attributes: ``format`` (``"pcap"``/``"pcapng"``), ``interfaces`` (list
    of :class:`Interface`, in file order), ``stats`` (list of
    :class:`InterfaceStats` seen so far), ``linktype``/``snaplen`` (of the
    first interface), ``nanosecond`` (pcap: the file's precision).
    """

    def __init__(self, path, *, batch_packets: int = 65536, strict: bool = False) -> None:
        self.path = os.fspath(path)
        self.batch_packets = int(batch_packets)
        if self.batch_packets <= 0:
            raise ValueError(f"batch_packets must be positive, got {batch_packets}")
        self.strict = bool(strict)
        self.interfaces: list[Interface] = []
        self.stats: list[InterfaceStats] = []
        self.format = "pcap"
        self.nanosecond = False
        self.linktype = None
        self.snaplen = None
        self._fd = -1
        self._buf = np.zeros(0, dtype=np.uint8)     # the window: file bytes _wstart.._wend
        self._wstart = self._wend = 0
        self._anchor: int | None = None              # a batch being built views from here
        self._window = _READ_WINDOW
        self._spares: list[np.ndarray] = []          # old windows to reuse once unviewed
        self._pos = 0
        self._done = False
        self._pending: BaseException | None = None
        self._drops = 0
        self._last_dropped: dict[int, int] = {}
        if self.path == "-":
            # tcpdump's "standard input"; a pipe cannot be read by position
            raise PcapFormatError("cannot read a capture from standard input ('-'): capture "
                                  "files are read by position; save the stream to a file "
                                  "first (e.g. `cat > in.pcap`)")
        # O_NONBLOCK: opening a FIFO must not wait for a writer before we refuse it
        self._fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            st = os.fstat(self._fd)
            if not _stat.S_ISREG(st.st_mode):
                raise PcapFormatError(f"{self.path}: not a regular file; capture files are "
                                      "read by position (save the stream to a file first)")
            if st.st_size == 0:
                raise PcapFormatError(f"{self.path}: empty file, not a pcap or pcapng capture", 0)
            self._size = st.st_size
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            self._read_file_header()
        except BaseException:
            self.close()
            raise

    # -------------------------------------------------------------- the window
    def _refill(self, need: int = 0, grow: bool = False) -> None:
        """Read a new window of the file, from the batch being built (``_anchor``)
        or else from ``_pos``, covering at least ``need`` bytes past ``_pos``
        (bounded by the file size taken at open).

        Windows are fresh buffers read with ``pread``: batches keep views of
        old ones, and a file that shrinks meanwhile gives a clear error,
        never SIGBUS as a shrinking map would.
        """
        start = self._pos if self._anchor is None else self._anchor
        size = max(self._pos + need - start, self._window)
        if grow:                              # what we had was not enough: double it
            size = max(size, 2 * (self._wend - start))
        end = min(self._size, start + size)
        window = self._free_buffer(end - start)
        keep = 0
        if self._wstart <= start < self._wend:   # bytes we already have
            keep = min(self._wend, end) - start
            window[:keep] = self._buf[start - self._wstart:start - self._wstart + keep]
        view = memoryview(window)
        done = keep
        while done < len(view):
            got = os.preadv(self._fd, [view[done:]], start + done)
            if got == 0:
                raise PcapFormatError(
                    f"{self.path}: the file shrank while being read: it had {self._size} bytes "
                    f"when opened, and byte offset {start + done} is now past its end "
                    "(another program truncated or rewrote it)", start + done)
            done += got
        window.flags.writeable = False           # batches view it read-only
        old = self._buf.base
        if old is not None:
            self._spares = [old] + [b for b in self._spares if b is not old][:1]
        self._buf, self._wstart, self._wend = window, start, end

    def _free_buffer(self, size: int) -> np.ndarray:
        """A writable buffer of ``size`` bytes: a spare no batch views any more
        (fresh memory costs page faults), else a new one."""
        for spare in self._spares:
            # references: the list, this loop, getrefcount's argument; a batch adds more
            if spare.shape[0] >= size and sys.getrefcount(spare) <= 3:
                return spare[:size]
        return np.empty(max(size, 1), dtype=np.uint8)[:size]

    def _ensure(self, pos: int, nbytes: int) -> int:
        """Make file bytes ``pos:pos+nbytes`` (checked against the file size by the
        caller) part of the window; returns ``pos``'s index in it."""
        if not (self._wstart <= pos and pos + nbytes <= self._wend):
            saved, self._pos = self._pos, pos
            try:
                self._refill(nbytes)
            finally:
                self._pos = saved
        return pos - self._wstart

    def _bytes(self, start: int, end: int) -> bytes:
        at = self._ensure(start, end - start)
        return bytes(self._buf[at:at + end - start])

    # -------------------------------------------------------------- headers
    def _unpack(self, fmt: str, pos: int):
        return struct.unpack_from(fmt, self._buf, self._ensure(pos, struct.calcsize(fmt)))

    def _truncated(self, where: str, pos: int) -> None:
        message = (f"{self.path}: file ends in a partial {where} at byte offset {pos} "
                   f"(file size {self._size}); every complete packet before it was read")
        self._done = True
        if self.strict:
            self._pending = PcapTruncatedError(message, pos)
        else:
            warnings.warn(PcapTruncatedWarning(message, pos), stacklevel=4)

    def _corrupt(self, message: str, pos: int) -> PcapFormatError:
        self._done = True
        return PcapFormatError(f"{self.path}: corrupt file at byte offset {pos}: {message}", pos)

    def _read_file_header(self) -> None:
        head = self._bytes(0, min(4, self._size))
        if len(head) < 4:
            raise PcapFormatError(
                f"{self.path}: {len(head)}-byte file is too short to be a pcap or pcapng capture "
                f"(found {head.hex() or 'nothing'})", 0)
        little, = struct.unpack("<I", head)
        big, = struct.unpack(">I", head)
        if little == _PCAPNG_SHB:
            self.format = "pcapng"
            self._section = -1
            self._start_section(0)
            if self._pending is not None:
                raise self._pending
            return
        for order, magic in (("<", little), (">", big)):
            if magic in (_MAGIC_USEC, _MAGIC_NSEC):
                break
        else:
            hint = (" (a 'modified pcap' file; convert it with editcap)"
                    if _MAGIC_MODIFIED in (little, big) else "")
            raise PcapFormatError(
                f"{self.path}: not a pcap or pcapng file: magic number 0x{big:08x} "
                f"(bytes {head.hex(' ')}) at offset 0{hint}", 0)
        self.format = "pcap"
        self._swap = order != _NATIVE
        self.nanosecond = magic == _MAGIC_NSEC
        if self._size < 24:
            self._truncated("pcap file header", 0)
            if self._pending is not None:
                raise self._pending
            return
        _, _, _, _, snaplen, linktype = self._unpack(order + "HHiIII", 4)
        self.snaplen = snaplen
        self.linktype = linktype & 0x0FFFFFFF
        self.interfaces.append(Interface(index=0, linktype=self.linktype, snaplen=snaplen,
                                         tsresol=9 if self.nanosecond else 6))
        self._max_caplen = max(DEFAULT_SNAPLEN, snaplen if snaplen <= 64 << 20 else 0)
        self._pos = 24

    def _block_header(self, pos: int, order: str, what: str) -> int | None:
        """Validated length of the pcapng block at ``pos``, or None if the file ends in it."""
        if self._size - pos < 12:
            self._truncated(what, pos)
            return None
        blen, = self._unpack(order + "I", pos + 4)
        if blen < 12 or blen % 4 or blen > _pcapio.MAX_BLOCK_LENGTH:
            raise self._corrupt(f"{what} has invalid length {blen}", pos)
        if blen > self._size - pos:
            self._truncated(what, pos)
            return None
        trailer, = self._unpack(order + "I", pos + blen - 4)
        if trailer != blen:
            raise self._corrupt(
                f"{what} lengths disagree: {blen} at the start, {trailer} at the end", pos)
        return blen

    def _start_section(self, pos: int) -> None:
        if self._size - pos < 12:
            self._truncated("section header block", pos)
            return
        magic = self._bytes(pos + 8, pos + 12)
        if magic == struct.pack("<I", _PCAPNG_BYTE_ORDER):
            order = "<"
        elif magic == struct.pack(">I", _PCAPNG_BYTE_ORDER):
            order = ">"
        else:
            raise self._corrupt(f"section header has byte-order magic {magic.hex()}, "
                                "expected 1a2b3c4d in either byte order", pos)
        blen = self._block_header(pos, order, "section header block")
        if blen is None:
            return
        if blen < 28:
            raise self._corrupt(f"section header block of {blen} bytes is too short", pos)
        major, minor = self._unpack(order + "HH", pos + 12)
        if major != 1:
            raise self._corrupt(f"pcapng version {major}.{minor} is not supported (only 1.x)", pos)
        self._order = order
        self._swap = order != _NATIVE
        self._section += 1
        self._section_base = len(self.interfaces)
        self._set_section_arrays([])
        self._pos = pos + blen

    def _set_section_arrays(self, interfaces: list[Interface]) -> None:
        """Start the section's interface arrays (conversion mode, parameter,
        offset, snaplen per interface) over ``interfaces``."""
        self._section_ifaces = []
        capacity = max(8, 2 * len(interfaces))
        self._if_store = (np.zeros(capacity, dtype=np.int32), np.zeros(capacity, dtype=np.int64),
                          np.zeros(capacity, dtype=np.int64), np.zeros(capacity, dtype=np.uint32))
        self._if_mode, self._if_param, self._if_offset, self._if_snaplen = (
            a[:0] for a in self._if_store)
        for iface in interfaces:
            self._append_section_interface(iface)

    def _append_section_interface(self, iface: Interface) -> None:
        """Add one interface in amortized constant time (the arrays double as
        needed), so a file with many interfaces parses in linear time."""
        n = len(self._section_ifaces)
        if n == self._if_store[0].shape[0]:
            self._if_store = tuple(np.concatenate([a, np.zeros_like(a)]) for a in self._if_store)
        mode, param = _tsresol_mode(iface.tsresol)
        mode_a, param_a, offset_a, snaplen_a = self._if_store
        mode_a[n], param_a[n] = mode, param
        offset_a[n], snaplen_a[n] = iface.tsoffset * 10**9, iface.snaplen
        self._section_ifaces.append(iface)
        self._if_mode, self._if_param, self._if_offset, self._if_snaplen = (
            a[:n + 1] for a in self._if_store)

    def _options(self, start: int, end: int, what: str, block_pos: int):
        order = self._order
        pos = start
        while pos + 4 <= end:
            code, length = self._unpack(order + "HH", pos)
            if code == 0:
                return
            if pos + 4 + length > end:
                raise self._corrupt(
                    f"{what} option {code} of {length} bytes runs past the block", block_pos)
            yield code, self._bytes(pos + 4, pos + 4 + length)
            pos += 4 + length + (-length % 4)

    def _read_idb(self, pos: int, blen: int) -> None:
        if blen < 20:
            raise self._corrupt(f"interface description block of {blen} bytes is too short", pos)
        order = self._order
        linktype, _, snaplen = self._unpack(order + "HHI", pos + 8)
        name = description = None
        tsresol, tsoffset = 6, 0
        for code, value in self._options(pos + 16, pos + blen - 4, "interface description", pos):
            if code == 2:
                name = value.rstrip(b"\0").decode("utf-8", "replace")
            elif code == 3:
                description = value.rstrip(b"\0").decode("utf-8", "replace")
            elif code == 9 and len(value) >= 1:
                tsresol = value[0]
            elif code == 14 and len(value) == 8:
                tsoffset, = struct.unpack(order + "q", value)
                if abs(tsoffset) > 9 * 10**9:
                    raise self._corrupt(f"if_tsoffset {tsoffset} s is out of range", pos)
        iface = Interface(index=len(self.interfaces), linktype=linktype, snaplen=snaplen,
                          name=name, description=description, section=self._section,
                          tsresol=tsresol, tsoffset=tsoffset)
        self.interfaces.append(iface)
        if self.linktype is None:
            self.linktype, self.snaplen = linktype, snaplen
        self._append_section_interface(iface)

    def _read_isb(self, pos: int, blen: int) -> None:
        if blen < 24:
            raise self._corrupt(f"interface statistics block of {blen} bytes is too short", pos)
        order = self._order
        iface, hi, lo = self._unpack(order + "III", pos + 8)
        if iface >= len(self._section_ifaces):
            raise self._corrupt(f"statistics for interface {iface}, which the section "
                                f"has not described ({len(self._section_ifaces)} interfaces)", pos)
        values = {}
        for code, value in self._options(pos + 20, pos + blen - 4, "interface statistics", pos):
            if code in (4, 5, 7) and len(value) == 8:
                values[code], = struct.unpack(order + "Q", value)
        mode, param = self._if_mode[iface], self._if_param[iface]
        ts = _pcapio.ts_units_to_ns((hi << 32) | lo, int(mode), int(param)) + int(self._if_offset[iface])
        index = self._section_base + iface
        record = InterfaceStats(interface=index, ts=ts, received=values.get(4),
                                dropped=values.get(5), os_dropped=values.get(7))
        self.stats.append(record)
        if record.dropped is not None:
            before = self._last_dropped.get(index, 0)
            self._drops += max(record.dropped - before, 0)
            self._last_dropped[index] = record.dropped

    def _handle_block(self) -> None:
        """Deal with the pcapng block at ``_pos`` that the packet loop stopped on."""
        pos = self._pos
        btype, = self._unpack(self._order + "I", pos)
        if btype == _PCAPNG_SHB:
            self._start_section(pos)
            return
        blen, = self._unpack(self._order + "I", pos + 4)     # validated by the packet loop
        if btype == _BT_IDB:
            self._read_idb(pos, blen)
        elif btype == _BT_ISB:
            self._read_isb(pos, blen)
        self._pos = pos + blen

    # -------------------------------------------------------------- packets
    def _parse(self, want: int, base: int, cols: dict, start: int, copy_to, copy_start: int):
        """One call of the nogil loop into ``cols[*][start:start+want]``."""
        end = start + want
        if self.format == "pcap":
            return _pcapio.parse_pcap(
                self._buf, self._pos - self._wstart, self._swap, self.nanosecond,
                self._max_caplen, base - self._wstart,
                cols["ts"][start:end], cols["caplen"][start:end], cols["wirelen"][start:end],
                cols["offset"][start:end], copy_to, copy_start)
        return _pcapio.parse_pcapng(
            self._buf, self._pos - self._wstart, self._swap, self._if_mode, self._if_param,
            self._if_offset, self._if_snaplen, self._section_base, base - self._wstart,
            cols["ts"][start:end], cols["caplen"][start:end], cols["wirelen"][start:end],
            cols["offset"][start:end], cols["ifindex"][start:end], cols["pkttype"][start:end],
            copy_to, copy_start)

    def _fill(self, want: int, base: int, cols: dict, copy_to=None) -> tuple[int, int]:
        """Parse up to ``want`` packets into ``cols``; returns (packets, copied bytes).

        Errors found after some packets are kept in ``_pending`` and raised by
        the next read, so the caller gets every good packet first.
        """
        n = nbytes = 0
        while n < want and not self._done:
            count, pos, nbytes, status, value = self._parse(want - n, base, cols, n, copy_to, nbytes)
            n += count
            self._pos = pos = pos + self._wstart
            if status == _S.OK:
                break
            if status in (_S.END, _S.TRUNCATED) and self._wend < self._size:
                # the window ends, the file does not: read on
                self._refill(grow=True)
                continue
            if status == _S.END:
                self._done = True
            elif status == _S.TRUNCATED:
                self._truncated("record" if self.format == "pcap" else "block", pos)
            elif status == _S.OTHER_BLOCK:
                try:
                    self._handle_block()
                except PcapFormatError as error:
                    self._pending = error
                    break
            elif status == _S.DATA_FULL:
                if n == 0:
                    raise ValueError(
                        f"a packet of {value} bytes does not fit the out= batch's data buffer "
                        f"({0 if copy_to is None else copy_to.shape[0]} bytes); "
                        "use a larger Batch.empty(data_bytes=...)")
                break
            else:
                self._pending = self._corrupt(self._describe(status, value), pos)
                break
        return n, nbytes

    def _describe(self, status: int, value: int) -> str:
        if status == _S.BAD_CAPLEN:
            if self.format == "pcap":
                return (f"record claims a captured length of {value} bytes, more than the "
                        f"largest sane snapshot length ({self._max_caplen})")
            return f"packet block claims a captured length of {value} bytes, more than the block holds"
        if status == _S.BAD_BLOCK_LENGTH:
            return f"block has invalid length {value} (too small, not a multiple of 4, or huge)"
        if status == _S.LENGTH_MISMATCH:
            return f"block lengths disagree (trailing length {value})"
        if status == _S.BAD_INTERFACE:
            return (f"packet for interface {value}, which the section has not described "
                    f"({len(self._section_ifaces)} interfaces)")
        return f"parser status {_S(status).name} ({value})"

    def _raise_pending(self) -> None:
        if self._pending is not None:
            error, self._pending = self._pending, None
            raise error

    def _names(self) -> dict[int, str] | None:
        names = {i.index: i.name for i in self.interfaces if i.name}
        return names or None

    def _take_drops(self) -> int:
        drops, self._drops = self._drops, 0
        return drops

    def read(self, max_packets: int | None = None, *, out: Batch | None = None) -> Batch:
        """The next packets: at most ``max_packets`` (default: all that remain).

        An empty batch means the end of the file.  Without ``out``, ``data``
        is a read-only view of a buffer read from the file.  With ``out`` (a batch from
        :meth:`Batch.empty`), columns and bytes are copied into its buffers
        and ``out`` is returned.  Raises :class:`PcapFormatError` on a corrupt
        record, after returning every packet before it.
        """
        self._check_open()
        self._raise_pending()
        if max_packets is not None and int(max_packets) < 0:
            raise ValueError(f"max_packets must be >= 0, got {max_packets}")
        if out is not None:
            return self._read_into(out, max_packets)
        want = None if max_packets is None else int(max_packets)
        base = self._anchor = self._pos
        try:
            if want is None:
                self._refill(self._size - self._pos)      # the rest of the file, in one read
            return self._read_view(want, base)
        finally:
            self._anchor = None

    def _read_view(self, want: int | None, base: int) -> Batch:
        chunks = []
        total = 0
        while not self._done and (want is None or total < want):
            size = _READ_CHUNK if want is None else min(_READ_CHUNK, want - total)
            cols = {name: np.empty(size, dtype=COLUMNS[name])
                    for name in ("ts", "caplen", "wirelen", "offset")}
            if self.format == "pcapng":
                cols["ifindex"] = np.empty(size, dtype=np.int32)
                cols["pkttype"] = np.empty(size, dtype=np.uint8)
            n, _ = self._fill(size, base, cols)
            if n:
                chunks.append({k: v[:n] for k, v in cols.items()})
                total += n
            if n < size or self._pending is not None:
                break
        if len(chunks) == 1:
            cols = chunks[0]
        elif chunks:
            cols = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
        else:
            cols = {}
        batch = Batch.__new__(Batch)
        for name, dtype in COLUMNS.items():
            value = cols.get(name)
            setattr(batch, name, value if value is not None else np.zeros(total, dtype=dtype))
        at = base - self._wstart
        batch.data = self._buf[at:at + self._pos - base] if total else self._buf[:0]
        if total and want is not None:
            # size the next window for a batch like this one
            self._window = max(_READ_WINDOW, (self._pos - base) * want // total + 65536)
        batch.drops = self._take_drops()
        batch.freeze_count = 0
        batch.interfaces = self._names()
        batch._store = None
        if not total:
            self._raise_pending()
        return batch

    def _read_into(self, out: Batch, max_packets: int | None) -> Batch:
        store = out._store
        if store is None:
            raise ValueError("out= must be a reusable batch made by Batch.empty()")
        capacity = store["ts"].shape[0]
        want = capacity if max_packets is None else min(int(max_packets), capacity)
        n, nbytes = self._fill(want, 0, store, copy_to=store["data"])
        if self.format == "pcap":
            store["ifindex"][:n] = 0
            store["pkttype"][:n] = 0
        for name in ("protocol", "vlan_tci", "vlan_tpid", "rxhash", "status"):
            store[name][:n] = 0
        out._set_length(n, nbytes)
        out.drops = self._take_drops()
        out.freeze_count = 0
        out.interfaces = self._names()
        if not n:
            self._raise_pending()
        return out

    def __iter__(self) -> Iterator[Batch]:
        while True:
            batch = self.read(self.batch_packets)
            if len(batch) == 0 and batch.drops == 0:
                return
            yield batch

    # -------------------------------------------------------------- lifetime
    def _check_open(self) -> None:
        if self._fd < 0:
            raise ValueError(f"PcapReader for {self.path!r} is closed")

    def close(self) -> None:
        """Close the file (idempotent).  Batches already read own their bytes
        (views of buffers read from the file) and stay valid."""
        fd, self._fd = self._fd, -1
        self._buf = np.zeros(0, dtype=np.uint8)
        self._spares = []
        self._wstart = self._wend = 0
        if fd >= 0:
            os.close(fd)

    @property
    def closed(self) -> bool:
        return self._fd < 0

    def __del__(self) -> None:
        if getattr(self, "_fd", -1) >= 0:
            warnings.warn(f"unclosed PcapReader for {self.path!r}", ResourceWarning, stacklevel=2)
            self.close()

    def __enter__(self) -> "PcapReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"at byte {self._pos}"
        return f"<PcapReader {self.path!r} {self.format} {state}>"


def open_pcap(path, *, batch_packets: int = 65536, strict: bool = False) -> PcapReader:
    """Open a pcap or pcapng file for reading in batches of ``batch_packets``.

    Iterate the reader for batches (memory stays bounded however large the
    file), or call ``read(max_packets, out=...)``.  A file that ends inside
    a record gives :class:`PcapTruncatedWarning` after its last complete
    packet, or :class:`PcapTruncatedError` with ``strict=True``.
    """
    return PcapReader(path, batch_packets=batch_packets, strict=strict)


def read_pcap(path, *, max_packets: int | None = None, strict: bool = False) -> Batch:
    """Read a whole pcap or pcapng file (or its first ``max_packets``) into one batch.

    Timestamps are int64 ns; ``ifindex`` is the interface's position in the
    file; ``batch.interfaces`` maps it to the interface name (pcapng).
    ``data`` views one buffer the rest of the file was read into.
    """
    with PcapReader(path, strict=strict) as reader:
        batch = reader.read(max_packets)
        reader._raise_pending()
        return batch
