"""Capture files, writing: :class:`PcapWriter` and :func:`write_pcap`.

Record headers and packet bytes are built by nogil loops in
``ringcap._pcapio`` into one buffer that goes to the kernel in large
writes; this module owns the file (created without following a
symbolic link, flushed by size and by time, finished on every exit path),
the rare pcapng blocks (section and interface headers, statistics) and the
disk-space reserve that lets the last blocks land on a full disk.
"""
from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import _socket      # (not socket: its enums cost start-up)
import stat as _stat
import array
import struct
import _thread      # (not threading: start-up)
import time
import warnings

from .. import _pcapio
from ..linktypes import linktype_name
from .creating import _fileno, _open_for_writing
from .formats import (_BT_IDB, _BT_ISB, _MAGIC_NSEC, _MAGIC_USEC, _NATIVE, _PCAPNG_BYTE_ORDER,
                      _PCAPNG_SHB, _S, DEFAULT_SNAPLEN, LINKTYPE_ETHERNET, _block, _option)

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    from typing import Iterable, Mapping

    import numpy as np

    from ..batch import Batch

__all__ = ["PcapWriter", "write_pcap"]

_WRITE_BUFFER = 1 << 20          # default byte bound on what a writer holds unflushed
_FLUSH_INTERVAL = 1.0            # default time bound (seconds)
_RESERVE = 16 << 10              # disk space kept past the end for the final blocks
_RECORDS_PER_WRITE = 8192        # at most, per writev() of records from a ring


def _interface_name(ifindex: int, batch_names, writer_names) -> str:
    for names in (batch_names, writer_names):
        if names and ifindex in names and names[ifindex]:
            return str(names[ifindex])
    try:
        return _socket.if_indextoname(ifindex)
    except (OSError, OverflowError, ValueError):
        return f"if{ifindex}"


def _column(batch: Batch, name: str) -> np.ndarray:
    import numpy as np
    from ..batch import COLUMNS
    return np.ascontiguousarray(getattr(batch, name), dtype=COLUMNS[name])


class PcapWriter:
    """Write batches to a pcap or pcapng file.

    ``format``: ``"pcap"`` (nanosecond magic unless ``nanosecond=False``) or
    ``"pcapng"`` (one Interface Description Block per ``ifindex`` and link type
    seen, named from ``batch.interfaces``, then ``interfaces=``, then the
    host's interface of that index, else ``"if<N>"``; timestamps in ns; with
    ``flags`` each packet's ``pkttype`` is kept as an ``epb_flags`` option).
    Packets longer than ``snaplen`` are cut to it; their wire length is kept.

    Packets are written with their own link type (``batch.linktype``).  A
    pcap file has one, in its header, written at open: ``linktype`` (a
    ``LINKTYPE_*`` value), or by default Ethernet, corrected to the first
    batch's link type in a regular file (a stream needs ``linktype=``).  A
    packet of another link type is refused with a ValueError (write pcapng,
    which describes an interface per link type).

    The file is created with permission bits ``mode`` (default 0o600: captured
    traffic is sensitive).  An existing file is replaced, as ``tcpdump -w``,
    numpy and pandas do (truncated and narrowed to ``mode``); with
    ``overwrite=False`` an existing name is refused instead.  A symbolic
    link at ``path`` is never followed, whatever ``overwrite`` says.  ``path`` may instead be
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
                 snaplen: int = DEFAULT_SNAPLEN, linktype: int | None = None,
                 mode: int = 0o600, flags: bool = True,
                 interfaces: Mapping[int, str] | None = None,
                 buffer_size: int = _WRITE_BUFFER, flush_interval: float = _FLUSH_INTERVAL,
                 overwrite: bool = True) -> None:
        self._fd = -1
        if format not in ("pcap", "pcapng"):
            raise ValueError(f"format must be 'pcap' or 'pcapng', got {format!r}")
        snaplen = int(snaplen)
        if not 0 < snaplen <= 0xFFFFFFFF:
            raise ValueError(f"snaplen must be between 1 and 2**32-1, got {snaplen}")
        self._linktype_given = linktype is not None
        if linktype is not None:
            linktype = int(linktype)
            if not 0 <= linktype <= 0xFFFF:
                raise ValueError(f"linktype {linktype} is not a link type (0..65535); see "
                                 "ringcap.batch.LINKTYPE_NAMES")
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
        # (numpy comes with the first batch: `ringcap -w`, records from the ring, has none)
        self._ids = None           # each packet's interface id (pcapng), reused
        self._idb: dict[tuple[int, int], int] = {}     # (ifindex, linktype) -> IDB id
        # _idb as columns (ifindex, linktype, id) for the compiled lookup
        self._known = None
        self._buf = bytearray(int(buffer_size))
        self._used = 0             # bytes waiting in _buf
        self._head = 0             # first record boundary in _buf (a record may be half out)
        self._buf_packets = 0      # packets whose records are (partly) in _buf
        self._header = 24 if format == "pcap" else 0   # pcap file header not yet out
        self._oldest = None        # when the oldest waiting record was buffered
        self._progress = array.array("q", [0])
        self._ends = None          # record ends of a writev() from a ring
        self._partial = 0          # bytes of a record half out (an interrupted write)
        self._partial_packet = False
        self._failed: OSError | None = None
        self._failure_raised = False   # the failure was raised once (then: "an earlier write")
        self._lock = _thread.allocate_lock()
        self._start = 0            # file offset of our first byte
        self._regular = False      # a regular file: can be cut back and space reserved
        self._append = False       # opened O_APPEND: pwrite() appends too (Linux)
        # The reserve is for the blocks that must land after a failed write (pcapng's
        # statistics); a pcap file has none, and on tmpfs fallocate() allocates and
        # zeroes every page that write() then fills (5-20% of `ringcap -w`'s CPU)
        self._reserve_ok = format == "pcapng"
        self._reserved = False
        self._fd = (_open_for_writing(self.path, int(mode), bool(overwrite)) if self._own_fd
                    else _fileno(path))
        try:
            st = os.fstat(self._fd)
            if _stat.S_ISREG(st.st_mode):
                self._regular = True
                self._start = 0 if self._own_fd else os.lseek(self._fd, 0, os.SEEK_CUR)
                # O_APPEND (`>> file`): the offset says 0, the bytes land at the end
                self._append = not self._own_fd and bool(fcntl.fcntl(self._fd, fcntl.F_GETFL)
                                                         & os.O_APPEND)
                if self._append:
                    self._start = st.st_size
            if format == "pcap":
                self._file_header(LINKTYPE_ETHERNET if linktype is None else linktype)
            else:
                body = struct.pack(_NATIVE + "IHHq", _PCAPNG_BYTE_ORDER, 1, 0, -1)
                body += _option(4, b"ringcap") + _option(0, b"")
                self._put(_block(_PCAPNG_SHB, body))
                self._drain()      # the header is out: a reader never sees an empty file
        except BaseException:
            self._close_fd()
            raise

    def _file_header(self, linktype: int) -> None:
        """The pcap file header, out at once (from then on a reader sees a capture)."""
        magic = _MAGIC_NSEC if self.nanosecond else _MAGIC_USEC
        self.linktype = linktype
        self._header = 24
        self._put(struct.pack(_NATIVE + "IHHiIII", magic, 2, 4, 0, 0, self.snaplen, linktype))
        self._drain()

    def _check_linktype(self, linktype: np.ndarray) -> None:
        """pcap: every packet must have the header's link type (the first batch's
        when none was given: the header written at open is corrected)."""
        self._correct_header(int(linktype[0]))
        if linktype.min() != self.linktype or linktype.max() != self.linktype:   # (no mask)
            import numpy as np
            i = int(np.argmax(linktype != self.linktype))
            self._refuse_linktype(i, int(linktype[i]))

    def _correct_header(self, first: int) -> None:
        """The header's link type becomes ``first``, the first packet's, when none was given."""
        if not self._linktype_given and self.packets_written == 0 and first != self.linktype \
                and self._regular and not self._append and self._failed is None:
            self._drain()
            field = struct.pack(_NATIVE + "I", first)
            if os.pwrite(self._fd, field, self._start + 20) != 4:
                raise OSError(errno.EIO, "short write correcting the pcap header's link type")
            self.linktype = first
        self._linktype_given = True

    def _refuse_linktype(self, i: int, linktype: int) -> None:
        raise ValueError(
            f"packet {i} has link type {linktype_name(linktype)} ({linktype}), but this pcap "
            f"file holds {linktype_name(self.linktype)} ({self.linktype}): a pcap file has one "
            "link type; write pcapng (format='pcapng', an interface per link type), or capture "
            "all interfaces as one cooked (LINUX_SLL2) capture, as `-i any` does")

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
        """The error to raise: first what failed and what it cost, then "an earlier write"."""
        error = self._failed
        reason = error.strerror or error
        if not self._failure_raised:
            self._failure_raised = True
            accepted = self.packets_flushed + self.packets_lost
            cost = "nothing is in it, not even the file header" if not (
                self.bytes_flushed or accepted) else (
                f"{self.packets_flushed} of {accepted} packets written; the file ends at its "
                f"last complete record, {self.bytes_flushed} bytes")
            return OSError(error.errno, f"writing to {self.path} failed: {reason} ({cost}); "
                                        "write to a new file")
        return OSError(error.errno, f"{self.path}: an earlier write failed ({reason}); the file "
                       f"ends at its last complete record ({self.bytes_flushed} bytes, "
                       f"{self.packets_flushed} packets) and {self.packets_lost} accepted "
                       "packets are not in it; write to a new file")

    def _put(self, raw: bytes) -> None:
        """Append small raw bytes (file header, IDB, ISB) to the buffer."""
        if self._used + len(raw) > len(self._buf):
            self._drain()
        if len(raw) > len(self._buf):
            self._grow(len(raw))
        self._buf[self._used:self._used + len(raw)] = raw
        self._used += len(raw)
        self.bytes_written += len(raw)
        if self._oldest is None:
            self._oldest = time.monotonic()

    def _grow(self, size: int) -> None:
        bigger = bytearray(size)
        bigger[:self._used] = memoryview(self._buf)[:self._used]
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
        stop = used
        if not final and not self._reserve(used):
            stop = self._fitting(used)
        self._progress[0] = 0
        try:
            _pcapio.write_all(self._fd, self._buf, stop, self._progress)
        except BaseException as error:
            self._account(int(self._progress[0]))
            if isinstance(error, OSError):
                self._fail(error)
            raise                 # an interrupt: the rest stays buffered, in order
        self._account(stop)
        if stop < used:
            self._fail(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC)))
        self._oldest = None

    def _fitting(self, used: int) -> int:
        """The disk is too full for the buffer and the reserve: the bytes of
        whole records at its start that fit with the reserve kept, or all of
        it when not even the reserve fits (plain writes then take as many
        records as fit, and the file is cut back to the last whole one)."""
        offset = self._start + self.bytes_flushed
        if _pcapio.reserve_space(self._fd, offset, _RESERVE):
            return used
        fits, too_many = 0, used            # (a binary search, to a page)
        while too_many - fits > 4096:
            middle = (fits + too_many) // 2
            if _pcapio.reserve_space(self._fd, offset, middle + _RESERVE):
                too_many = middle
            else:
                fits = middle
        boundary = _pcapio.record_boundary(self._buf, self._head, used, fits,
                                           self.format == "pcapng", self._header)[0]
        return boundary if boundary <= fits else 0

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
            self._buf[:rest] = memoryview(self._buf)[nbytes:self._used]
        self._used = rest

    def _fail(self, error: OSError, raise_now: bool = True) -> None:
        """After a failed write: cut the file at its last complete record, drop the buffer
        (its packets are lost), refuse further packets, and raise (or let the next call)."""
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
        if raise_now:
            raise self._failure() from error

    def _close_fd(self) -> None:
        fd, self._fd = self._fd, -1
        if fd >= 0 and self._reserved:
            # blocks reserved past the end are no longer needed; the hole starts at
            # the end, never inside the file (whatever else wrote to it)
            with contextlib.suppress(OSError):
                end = max(os.fstat(fd).st_size, self._start + self.bytes_flushed)
                _pcapio.release_space(fd, end, _RESERVE + len(self._buf))
        if fd >= 0 and self._own_fd:
            os.close(fd)

    # -------------------------------------------------------------- interfaces
    def add_interface(self, ifindex: int, name: str | None = None,
                      linktype: int | None = None) -> int:
        """Declare an interface (pcapng) and return its id in the file.

        Done automatically for every ``ifindex`` and link type that appear in
        written batches; call it to set a name or to describe an interface
        before (or without) any of its packets.  ``linktype``: of its packets
        (default: the writer's ``linktype``, else Ethernet).
        """
        with self._exclusive():
            return self._add_interface(ifindex, name, linktype)

    def _add_interface(self, ifindex: int, name: str | None = None,
                       linktype: int | None = None) -> int:
        if self.format != "pcapng":
            raise ValueError("pcap files have no interface descriptions; use format='pcapng'")
        ifindex = int(ifindex)
        if linktype is None:
            # statistics or a name for an interface: the one already described
            known = [key for key in self._idb if key[0] == ifindex]
            linktype = known[0][1] if known else (
                LINKTYPE_ETHERNET if self.linktype is None else self.linktype)
        key = (ifindex, int(linktype))
        if key in self._idb:
            return self._idb[key]
        if name is not None:
            self._names[ifindex] = name
        label = _interface_name(ifindex, None, self._names)
        options = _option(2, label.encode("utf-8", "replace")) + _option(9, b"\x09") + _option(0, b"")
        body = struct.pack(_NATIVE + "HHI", key[1], 0, self.snaplen) + options
        self._put(_block(_BT_IDB, body))
        # Out at once: the id is the block's position among the file's IDBs,
        # so it counts only once the block is in the file (a failed write
        # cannot leave statistics or packets pointing at a lost IDB).
        self._drain(final=self._failed is not None)
        self._idb[key] = len(self._idb)
        return self._idb[key]

    def _interface_ids(self, batch: Batch, ifindex: np.ndarray, linktype: np.ndarray) -> np.ndarray:
        # one IDB per (ifindex, linktype), described in order of appearance; the ids
        # go into an array reused batch after batch, found in one compiled pass
        import numpy as np
        n = ifindex.shape[0]
        if self._ids is None or self._ids.shape[0] < n:
            self._ids = np.empty(n, dtype=np.uint32)
        at = 0
        while True:
            if self._known is None or self._known[2].shape[0] != len(self._idb):   # (new IDBs)
                pairs = list(self._idb.items())
                self._known = (np.array([k[0] for k, _ in pairs], dtype=np.int32),
                               np.array([k[1] for k, _ in pairs], dtype=np.uint16),
                               np.array([v for _, v in pairs], dtype=np.uint32))
            at = _pcapio.interface_ids(ifindex, linktype, *self._known, at, self._ids)
            if at >= n:
                return self._ids[:n]
            # every pair new from here on, described at once in order of appearance
            # (one at a time, each rebuilt the known arrays: a file of 20,000
            # interfaces took 2 minutes to copy to pcapng, 1 s to pcap)
            pairs = (ifindex[at:].astype(np.int64) << 16) | linktype[at:]
            firsts = np.unique(pairs, return_index=True)[1]
            for i in np.sort(firsts).tolist():
                index, kind = int(ifindex[at + i]), int(linktype[at + i])
                if (index, kind) not in self._idb:
                    self._add_interface(
                        index, _interface_name(index, batch.interfaces, self._names), kind)

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
        import numpy as np
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
            iface_id = self._interface_ids(batch, _column(batch, "ifindex"),
                                           _column(batch, "linktype"))
        else:
            self._check_linktype(_column(batch, "linktype"))
        largest = 32 + 12 + min(int(caplen.max()), self.snaplen) + 3
        if largest > len(self._buf):
            self._drain()
            self._grow(largest)
        i = 0
        while i < n:
            if self._oldest is None:
                self._oldest = time.monotonic()
            out = memoryview(self._buf)[self._used:]
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

    def write_from_ring(self, ring, max_packets: int, timeout: float | None = 0.0, *,
                        linger: float = 0.0) -> tuple[int, int]:
        """pcap only: move up to ``max_packets`` packets from ``ring`` (an
        :class:`~ringcap.RxRing` on one interface, :attr:`~ringcap.RxRing.reads_records`)
        into this file, record by record straight out of the ring's blocks
        (:meth:`~ringcap.RxRing.read_records`): no batch is made and no column
        checked.  Waits up to ``timeout`` seconds for the first packet (None:
        until one comes).  Returns ``(packets, captured bytes)``; the file is
        the same as :meth:`write` would make of ``ring.read()``'s batches.

        Into a regular file the records go at once, with ``writev()``
        (:meth:`~ringcap.RxRing.write_records`): frames of 512 bytes or more
        straight from the ring's blocks, so the kernel's copy into the page
        cache is their only one, and with ``linger`` seconds it goes on
        writing blocks as they come until then (:meth:`~ringcap.RxRing.write_records`);
        into a pipe they are buffered as by :meth:`write` (``linger`` unused)."""
        with self._exclusive():
            if self._failed is not None:
                raise self._failure()
            if self.format != "pcap":
                raise ValueError("write_from_ring writes pcap records; a pcapng file takes "
                                 "batches (write())")
            linktype = ring.linktype
            if linktype != self.linktype:
                if linktype is None:
                    raise ValueError("the ring's interfaces have different link types; a pcap "
                                     "file holds one")
                self._correct_header(linktype)
                if linktype != self.linktype:
                    self._refuse_linktype(0, linktype)
            if self._regular:
                return self._write_in_place(ring, max_packets, timeout, linger)
            # the largest record: header, a cooked header or VLAN tag, snaplen bytes
            largest = 16 + min(int(ring.snaplen) + 20, self.snaplen)
            if largest > len(self._buf):
                self._drain()
                self._grow(largest)
            packets = nbytes = 0
            while packets < max_packets:
                if len(self._buf) - self._used < largest:
                    self._drain()
                n, end, kept = ring.read_records(self._buf, self._used, max_packets - packets,
                                                 timeout, snaplen=self.snaplen,
                                                 nanosecond=self.nanosecond)
                if n:
                    if self._oldest is None:
                        self._oldest = time.monotonic()
                    self.bytes_written += end - self._used
                    self._used = end
                    self.packets_written += n
                    self._buf_packets += n
                    packets += n
                    nbytes += kept
                if len(self._buf) - self._used >= largest:
                    break               # not stopped by a full buffer: nothing more is ready
                timeout = 0.0
            self._flush_if_due()
            return packets, nbytes

    def _write_in_place(self, ring, max_packets: int, timeout, linger) -> tuple[int, int]:
        """write_from_ring into a regular file: records written as they are taken."""
        self._drain()                   # what is buffered (the file header) goes first
        if self._ends is None:
            self._ends = array.array("q", bytes(8 * _RECORDS_PER_WRITE))
        n, written, nbytes, partial, err = ring.write_records(
            self._fd, self._buf, self._ends, max_packets, timeout, snaplen=self.snaplen,
            nanosecond=self.nanosecond, linger=linger)
        self.packets_written += n
        self.bytes_written += nbytes
        self.packets_flushed += written
        self.bytes_flushed += nbytes
        if err:
            # Taken, so counted as written, as buffered records are: the failure
            # is raised by the next call (or close()), as a failed flush is.
            self._partial = partial              # the next record, cut short in the file
            self._buf_packets = n - written      # taken from the ring, not in the file
            self._fail(OSError(err, os.strerror(err)), raise_now=False)
        return n, nbytes - 16 * written

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
            ifindex = next(iter(self._idb), (0, 0))[0]
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
                    # no packets: a file readers accept (tcpdump wants an IDB in pcapng)
                    if self.format == "pcapng" and not self._idb:
                        self._add_interface(0)
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

    An existing file at ``path`` is replaced (``overwrite=False`` refuses
    it; a symbolic link is never followed).  ``options`` are those of
    :class:`PcapWriter`.
    """
    from ..batch import Batch
    if isinstance(batches, Batch):
        batches = [batches]
    with PcapWriter(path, **options) as writer:
        for batch in batches:
            writer.write(batch)
        return writer.packets_written
