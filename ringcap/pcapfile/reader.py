"""Capture files, reading: :class:`PcapReader`, :func:`open_pcap` and :func:`read_pcap`.

The format comes from the magic: pcap in both precisions and byte orders,
pcapng with any number of sections and interfaces.  Record headers are
parsed by nogil loops in ``ringcap._pcapio`` over a window of the file that
grows to hold the largest record; the reader resynchronises past damage
where the format allows, and raises or warns with the byte offset.

A window is a read-only map of the file (``ringcap._filemap.FileMap``): no
byte is copied, and ``data`` of a batch read without ``out=`` is a view of
the map, which stays valid after the reader is closed for as long as the
batch lives.  The maps are guarded against SIGBUS: pages another program
truncates away read as zeros, and the reader, which checks the file's size
after each parse, reports the truncation at its offset
(:class:`PcapTruncatedWarning`, or the error with ``strict=True``).  Where
a map cannot be made, the file is read by position (``pread``) into window
buffers from a small pool, read into again once no batch views them.
"""
from __future__ import annotations

import os
import stat as _stat
import struct
import warnings
from typing import Iterator

import numpy as np

from .. import _filemap, _pcapio
from ..batch import COLUMNS, Batch
from .buffers import _FILE_ZERO_COLUMNS, _BufferPool, _take_columns
from .resync import ResyncScan
from .formats import (_BT_EPB, _BT_IDB, _BT_ISB, _BT_PB, _BT_SPB, _MAGIC_MODIFIED,
                      _MAGIC_NSEC, _MAGIC_USEC, _NATIVE, _PCAPNG_BYTE_ORDER, _PCAPNG_SHB, _S,
                      COOKED_LINKTYPES, DEFAULT_SNAPLEN, LINKTYPE_ETHERNET, PcapFormatError,
                      PcapTruncatedError, PcapTruncatedWarning, describe_status,
                      from_cooked_headers, no_interface_error, pcap_header_linktype)
from .records import Interface, InterfaceStats

__all__ = ["PcapReader", "open_pcap", "read_pcap"]

_RESYNC_RECORDS = 8               # records a resync candidate must chain (next_boundary)

_FIRST_ROWS = 65536               # packets a read parses before sizing its columns by the file
_READ_WINDOW = 1 << 20            # bytes read from a file at a time (at least)
_READ_STEP = 512 << 10            # bytes read at a time: parsed while in the CPU's cache
_MAP_WINDOW = 16 << 20            # bytes of the file a map holds (at least)
_PAGE = os.sysconf("SC_PAGE_SIZE")
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
    first interface, read at open; a pcapng that describes none before its
    first packet or its end is refused, as libpcap does), ``nanosecond``
    (pcap: the file's precision).
    Every packet's ``linktype`` column is its interface's link type (pcap's
    link-type field keeps its low 16 bits: FCS-length bits are dropped, as
    tcpdump does).

    A part of a file (a split, as a cluster reads one): ``end`` reads only
    the records (pcapng: blocks) that start before this byte offset, the one
    across it whole, after which :attr:`position` is where the next record
    starts; :meth:`seek` moves to a record boundary that
    :meth:`next_boundary` found (the file header, and for pcapng the first
    section's header and interfaces, are read at open).  Parts ``[b0, b1),
    [b1, b2), ...`` with ``bk = next_boundary(k * part_size)`` read every
    record once.
    """

    _MAP_FILES = True                 # False: windows are read with pread (the fallback)

    def __init__(self, path, *, batch_packets: int = 65536, strict: bool = False,
                 end: int | None = None) -> None:
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
        self._buffer = self._buf = np.zeros(0, dtype=np.uint8)  # the window: bytes _wstart.._wend
        self._wstart = self._wend = 0
        self._anchor: int | None = None              # a batch being built views from here
        self._window = _READ_WINDOW                  # bytes the next window should hold
        self._windows = _BufferPool()                # what windows are read into
        self._column_buffers = _BufferPool()         # what batches' columns are parsed into
        self._pos = 0
        self._done = False
        self._pending: BaseException | None = None
        self._drops = 0
        self._last_dropped: dict[int, int] = {}
        self._linktypes = np.zeros(8, dtype=np.uint16)   # per interface, in file order
        self._cooked = False                             # an interface is Linux cooked
        self._end = None if end is None else int(end)    # read records starting before this
        self._straddle = False                           # the record across _end comes next
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
            self._size = self._opened_size = st.st_size
            self._map = None                      # the window's FileMap, if mapped
            self._mapped = self._MAP_FILES        # windows are maps (else pread buffers)
            os.posix_fadvise(self._fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            self._read_file_header()
            self._data_start = self._pos          # the first record after the header(s)
        except BaseException:
            self.close()
            raise

    # -------------------------------------------------------------- the window
    def _refill(self, need: int = 0, expect: int = 0) -> None:
        """Read more of the file into the window, which must start at the batch
        being built (``_anchor``) or else at ``_pos``, and reach at least
        ``need`` bytes past ``_pos`` (bounded by the file size taken at open).
        ``expect``: bytes past ``_pos`` the batch will likely need, to size a
        new buffer.  A new map of the file, or (the fallback) a read of
        ``_READ_STEP`` bytes at a time, so the parser walks bytes still in
        the CPU's cache, into the same buffer while it has room; then into
        another of the pool, sized for a batch like the last one, taking the
        bytes from ``start`` along.  Batches keep views of old buffers (reused
        only once no batch views them); a file that shrinks meanwhile gives
        a clear error.
        """
        start = self._pos if self._anchor is None else self._anchor
        if self._mapped:
            try:
                return self._map_window(start, need, expect)
            except OSError:
                self._mapped = False              # (no address space or guard slot): pread
        read_end = min(self._size, max(self._pos + need, max(self._wend, start) + _READ_STEP))
        wanted = min(self._size, max(read_end, self._pos + expect,
                                     start + self._window if self._anchor is not None else 0))
        if (self._wstart <= start <= self._wend
                and wanted - self._wstart <= self._buffer.shape[0]):
            self._pread(self._buffer, self._wend - self._wstart, self._wend, read_end)
            self._wend = read_end
        else:
            size = max(wanted - start, _READ_WINDOW)
            # batches differ in size: room for larger ones, unless this is the file's end
            buffer = self._windows.take(size, headroom=size // 4 if wanted < self._size else 0)
            keep = 0
            if self._wstart <= start < self._wend:      # bytes we already have
                keep = self._wend - start
                buffer[:keep] = self._buffer[start - self._wstart:self._wend - self._wstart]
            read_end = min(self._size, max(read_end, start + keep + _READ_STEP),
                           start + buffer.shape[0])
            self._pread(buffer, keep, start + keep, read_end)
            self._buffer, self._wstart, self._wend = buffer, start, read_end
        self._buf = self._buffer[:self._wend - self._wstart]
        self._buf.flags.writeable = False           # batches view it read-only

    def _map_window(self, start: int, need: int, expect: int) -> None:
        """Map the file from ``start`` (page-aligned down) on: at least
        ``_MAP_WINDOW`` bytes and what ``_refill`` asks for, within the file."""
        end = min(self._size, max(self._pos + need, self._pos + expect, start + _MAP_WINDOW,
                                  start + self._window if self._anchor is not None else 0))
        first = start - start % _PAGE
        self._map = _filemap.FileMap(self._fd, first, end - first) if end > first else None
        self._buffer = self._buf = (np.zeros(0, dtype=np.uint8) if self._map is None
                                    else np.frombuffer(self._map, dtype=np.uint8))
        self._wstart, self._wend = first, end

    def _shrunk(self) -> bool:
        """Mapped windows: True if the file no longer holds all of the window
        (another program truncated it: pages past its new end read as zeros),
        after cutting the window and the file's size to what it still holds."""
        if self._map is None:
            return False
        size = os.fstat(self._fd).st_size
        fault = self._map.first_fault       # (a page that read as zeros: also if regrown)
        if fault is not None:
            size = min(size, fault)
        if max(size, self._pos) >= self._wend:
            return False
        self._shrank_to = size
        self._size = self._wend = max(size, self._pos)
        self._buf = self._buffer[:self._wend - self._wstart]
        return True

    def _pread(self, buffer: np.ndarray, at: int, start: int, end: int) -> None:
        """File bytes ``start:end`` into ``buffer[at:]``."""
        view = memoryview(buffer)[at:at + end - start]
        done = 0
        try:
            while done < len(view):
                got = os.preadv(self._fd, [view[done:]], start + done)
                if got == 0:
                    raise PcapFormatError(
                        f"{self.path}: the file shrank while being read: it had {self._size} "
                        f"bytes when opened, and byte offset {start + done} is now past its "
                        "end (another program truncated or rewrote it)", start + done)
                done += got
        finally:
            view.release()

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
        if self._size != self._opened_size:
            message = (f"{self.path}: the file shrank while being read: it had "
                       f"{self._opened_size} bytes when opened, and the {where} at byte offset "
                       f"{pos} runs past its end at {self._shrank_to} (another program truncated "
                       "or rewrote it); every complete packet before it was read")
        else:
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
            self._read_first_interface()
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
            # an empty capture, as a pcapng file cut in its first block
            self.linktype, self.snaplen = LINKTYPE_ETHERNET, DEFAULT_SNAPLEN
            return
        _, _, _, _, snaplen, linktype = self._unpack(order + "HHiIII", 4)
        self.snaplen = snaplen
        self.linktype = pcap_header_linktype(self.path, linktype)
        self._linktypes[0] = self.linktype
        self._cooked = self.linktype in COOKED_LINKTYPES
        self.interfaces.append(Interface(index=0, linktype=self.linktype, snaplen=snaplen,
                                         tsresol=9 if self.nanosecond else 6))
        self._max_caplen = max(DEFAULT_SNAPLEN, snaplen if snaplen <= 64 << 20 else 0)
        self._pos = 24

    def _read_first_interface(self) -> None:
        """Read the blocks before the first packet, so that ``linktype`` and
        ``snaplen`` are known at open (the first IDB's)."""
        while (self.linktype is None and self._pending is None and not self._done
               and self._pos < self._size
               and getattr(self, "_order", None) is not None):     # (None: a cut header)
            pos = self._pos
            if self._size - pos < 8:
                break
            btype, = self._unpack(self._order + "I", pos)
            if btype in (_BT_EPB, _BT_SPB, _BT_PB):
                raise no_interface_error(self.path, pos, packet=True)     # (as libpcap)
            if btype != _PCAPNG_SHB and self._block_header(pos, self._order, "block") is None:
                break
            self._handle_block()          # (another section's header: look on in it)
        if self._pending is not None:
            raise self._pending
        if self.linktype is None and not self._done and self._pos >= self._size:
            raise no_interface_error(self.path, self._pos, packet=False)
        if self.linktype is None:      # the file ends inside a block: an empty capture
            self.linktype, self.snaplen = LINKTYPE_ETHERNET, DEFAULT_SNAPLEN

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
        if iface.index == self._linktypes.shape[0]:
            self._linktypes = np.concatenate([self._linktypes, np.zeros_like(self._linktypes)])
        self._linktypes[iface.index] = linktype
        self._cooked = self._cooked or linktype in COOKED_LINKTYPES
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
    def _parse(self, want: int, base: int, cols: dict, start: int, copy_to, copy_start: int,
               limit: int | None = None):
        """One call of the nogil loop into ``cols[*][start:start+want]``, over the
        window (or the part of it before file offset ``limit``)."""
        end = start + want
        buf = self._buf if limit is None else self._buf[:limit - self._wstart]
        if self.format == "pcap":
            return _pcapio.parse_pcap(
                buf, self._pos - self._wstart, self._swap, self.nanosecond,
                self._max_caplen, base - self._wstart,
                cols["ts"][start:end], cols["caplen"][start:end], cols["wirelen"][start:end],
                cols["offset"][start:end], copy_to, copy_start)
        return _pcapio.parse_pcapng(
            buf, self._pos - self._wstart, self._swap, self._if_mode, self._if_param,
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
        first = self._pos
        while n < want and not self._done:
            end = self._end
            if end is not None and self._pos >= end:
                self._done = True            # the records from here are the next part's
                break
            # Up to ``end`` the parser sees the window cut there; the record that
            # starts before ``end`` and runs past it is then parsed alone, whole.
            limit = end if end is not None and not self._straddle and end < self._wend else None
            step = 1 if self._straddle else want - n
            count, pos, copied, status, value = self._parse(step, base, cols, n, copy_to, nbytes,
                                                            limit)
            if self._mapped and self._shrunk():
                continue                     # parse again, up to where the file now ends
            nbytes = copied
            if count:      # each packet's link type: its interface's
                if self.format == "pcap":
                    cols["linktype"][n:n + count] = self.linktype
                else:
                    np.take(self._linktypes, cols["ifindex"][n:n + count],
                            out=cols["linktype"][n:n + count])
            n += count
            self._pos = pos = pos + self._wstart
            if self._straddle and count:
                self._done = True            # the record across ``end`` was the last
                break
            if limit is not None and status in (_S.END, _S.TRUNCATED):
                if pos < end:
                    self._straddle = True    # a record starts before ``end`` and ends past it
                continue
            if status == _S.OK:
                break
            if status in (_S.END, _S.TRUNCATED) and self._wend < self._size:
                # the window ends, the file does not: read on, enough for the rest of
                # the packets wanted at the size of those so far (and a little more)
                expect = 0
                if n and self._anchor is not None:
                    expect = (self._pos - first) * (want - n) // n * 33 // 32 + 65536
                self._refill(expect=expect)
                continue
            if status == _S.END and self._size == self._opened_size:
                self._done = True
            elif status in (_S.END, _S.TRUNCATED):
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
                self._pending = self._corrupt(describe_status(status, value, self), pos)
                break
        return n, nbytes

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
        is a read-only view of a map of the file, no copy.  With ``out`` (a batch from
        :meth:`Batch.empty`), columns and bytes are copied into its buffers
        and ``out`` is returned.  Raises :class:`PcapFormatError` on a corrupt
        record, after returning every packet before it.
        """
        self._check_open()
        self._raise_pending()
        if max_packets is not None and int(max_packets) < 0:
            raise ValueError(f"max_packets must be >= 0, got {max_packets}")
        if self._mapped:
            _filemap.install_guard()     # again, if another handler (faulthandler) replaced it
        if out is not None:
            return self._read_into(out, max_packets)
        want = None if max_packets is None else int(max_packets)
        base = self._anchor = self._pos
        try:
            if want is None:
                self._refill(expect=self._size - self._pos)   # a buffer for the rest of the file
            return self._read_view(want, base)
        finally:
            self._anchor = None

    def _read_view(self, want: int | None, base: int) -> Batch:
        # Columns sized by the records read so far, never for a worst case: fresh
        # pages no packet uses still get zeroed (half of read_pcap's time on 17 MB).
        rows = _FIRST_ROWS if want is None else min(_FIRST_ROWS, want)
        cols = _take_columns(self._column_buffers, rows)
        total = 0
        while not self._done and (want is None or total < want):
            if total == rows:                # full: carve larger columns, keep what is parsed
                rows = total + self._rows_left(base, total, want)
                grown = _take_columns(self._column_buffers, rows)
                for name, column in cols.items():
                    grown[name][:total] = column[:total]
                cols = grown
            n, _ = self._fill(rows - total, base, {k: v[total:] for k, v in cols.items()})
            total += n
            if total < rows or self._pending is not None:
                break
        batch = Batch.__new__(Batch)
        for name in COLUMNS:
            setattr(batch, name, cols[name][:total])
        for name in _FILE_ZERO_COLUMNS if self.format == "pcap" else _FILE_ZERO_COLUMNS[2:]:
            getattr(batch, name)[:] = 0
        at = base - self._wstart
        batch.data = self._buf[at:at + self._pos - base] if total else self._buf[:0]
        if total and want is not None:      # the next window: for a batch like this, and more
            self._window = max(_READ_WINDOW,
                               (self._pos - base) * want // total * 33 // 32 + 65536)
        if self._cooked and total:
            from_cooked_headers(batch)
        batch.drops = self._take_drops()
        batch.freeze_count = 0
        batch.interfaces = self._names()
        batch._store = None
        if not total:
            self._raise_pending()
        return batch

    def _rows_left(self, base: int, parsed: int, want: int | None) -> int:
        """Packets left in the file (or part) at the bytes per record so far, a little over."""
        end = self._size if self._end is None else min(self._end, self._size)
        used = max(self._pos - base, 1)
        rows = (max(end - self._pos, 0) * parsed // used) * 17 // 16 + 1024
        return rows if want is None else max(min(rows, want - parsed), 1)

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
        if self._cooked and n:
            from_cooked_headers(out)
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

    # -------------------------------------------------------------- parts of a file
    @property
    def position(self) -> int:
        """Byte offset where the next record (pcapng: block) to read starts."""
        return self._pos

    @property
    def size(self) -> int:
        """The file's size in bytes, taken at open."""
        return self._opened_size

    def seek(self, offset: int) -> None:
        """Read on from byte ``offset``, where a record (pcapng: a block) starts
        (one :meth:`next_boundary` found); an offset inside the file's header
        reads from its first record."""
        self._check_open()
        offset = int(offset)
        if not 0 <= offset <= self._size:
            raise ValueError(f"offset {offset} is outside {self.path} ({self._size} bytes)")
        self._pos = max(offset, self._data_start)
        if not self._wstart <= self._pos <= self._wend:      # read anew from there
            self._buffer = self._buf = np.zeros(0, dtype=np.uint8)
            self._map = None
            self._wstart = self._wend = self._pos
        self._done = self._straddle = False
        self._pending = None

    def next_boundary(self, offset: int, *, records: int = _RESYNC_RECORDS) -> int:
        """The first byte offset at or after ``offset`` where a record (pcapng: a
        block) starts; the file size if none does.

        Found as Hadoop's pcap input formats do, by a validated resync: a
        candidate pcap record header must be plausible (fraction of a second
        below one second, captured length at most the snapshot length and the
        wire length, which is not 0, a time within a year before and ten
        years after the file's first packet) and so must the ``records`` records that follow
        it, each starting where the one before ends; a pcapng candidate must
        be a known block type whose leading and trailing lengths agree, and
        chain the same way.  The search is deterministic, so the reader of
        the part before ``offset`` can check its neighbour: the record it
        ends on must be the one this finds.  Raises :class:`PcapFormatError`
        when no boundary is found within the largest record's length.
        """
        self._check_open()
        offset = int(offset)
        if offset <= self._data_start:
            return self._data_start
        if offset >= self._size:
            return self._size
        scan = ResyncScan(self, offset)
        step, first = (4, offset + (-(offset - self._data_start) % 4)) \
            if self.format == "pcapng" else (1, offset)
        reach = (_pcapio.MAX_BLOCK_LENGTH if self.format == "pcapng" else 16 + self._max_caplen)
        for candidate in range(first, min(self._size, offset + reach + 1), step):
            if scan.chains(candidate, records):
                return candidate
        if offset + reach >= self._size:
            return self._size                 # no record starts in the rest of the file
        raise PcapFormatError(
            f"{self.path}: corrupt file after byte offset {offset}: no "
            f"{'block' if self.format == 'pcapng' else 'record'} boundary within "
            f"{reach} bytes", offset)

    # -------------------------------------------------------------- lifetime
    def _check_open(self) -> None:
        if self._fd < 0:
            raise ValueError(f"PcapReader for {self.path!r} is closed")

    def close(self) -> None:
        """Close the file (idempotent).  Batches already read keep the maps
        (or buffers) they view, and stay valid."""
        fd, self._fd = self._fd, -1
        self._buffer = self._buf = np.zeros(0, dtype=np.uint8)
        self._map = None                     # unmapped once no batch views it
        self._windows = _BufferPool()
        self._column_buffers = _BufferPool()
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
    ``data`` views one map of the rest of the file (no copy).
    """
    with PcapReader(path, strict=strict) as reader:
        batch = reader.read(max_packets)
        reader._raise_pending()
        return batch
