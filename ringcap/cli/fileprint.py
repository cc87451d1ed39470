"""`ringcap -r FILE [FILTER]` printing a classic pcap file without batches.

The most common read command, tcpdump's ``-r`` with printing options, needs
no numpy (60-70 ms of its start-up): this module maps the file once
(``_filemap.FileMap``, unmapping the pages behind the walk), walks the
records with the reader's nogil parser (``_pcapio.parse_pcap``), runs the filter with ringcap's BPF interpreter,
decodes with ``_decode.decode_into`` and formats with the printer's
``_text.LineFormatter``, all over ``array`` columns reused chunk after
chunk.  Its output, messages and exit status are those of the batch path
(:mod:`ringcap.cli.read`, which decides in :func:`open_plain_pcap` whether
a file can go this way; ``RINGCAP_READ_BATCHES=1`` forces batches, for the
tests that compare the two).
"""
from __future__ import annotations

import _signal
import _socket      # (if_indextoname: socket.py's enums cost start-up)
import os
import stat
import struct
import sys
import time
import warnings
from array import array

from .. import _bpf, _decode, _filemap, _pcapio, _text
from ..bpf import compile_filter, pack
from ..linktypes import LINKTYPE_LINUX_SLL2, LINKTYPE_NAMES, linktype_description
from ..pcapfile.formats import (_MAGIC_NSEC, _MAGIC_USEC, _NATIVE, _S, DEFAULT_SNAPLEN,
                                LT_LINKTYPE_AND_RESERVED, PcapFormatError, PcapTruncatedWarning,
                                describe_status, libpcap_snaplen)
from .lineformat import line_formatter, one_utc_offset, write_whole
from .options import CliError, output_error, printer_options

# bytes of the file a map holds at most: the whole file, in practice, dropping the
# pages behind the walk.  16 MiB windows mapped again the part of a chunk that ran
# past a window's end, and parsed it again (11% more pages mapped on the recorded mix)
_MAP_MOST = 1 << 40
_PAGE = os.sysconf("SC_PAGE_SIZE")
_DROP_EVERY = 4 << 20           # bytes the walk leaves behind before their pages are unmapped
_FIRST_CHUNK = 4096             # packets per chunk: the first, then by the packets' size
_MOST_CHUNK = 32768
_CHUNK_BYTES = 4 << 20
# the printed text, written out in pieces of this size once a chunk's text has
# overflowed the first buffer (4 MiB from the start cost a one-packet read 960
# page faults, 2 ms, zeroing pages it never wrote)
_BUFFER_BYTES = 4 << 20
_FIRST_BUFFER = 256 << 10
# what the printer needs of the decoder, in LineFormatter.format's order (and
# LINUX_SLL2's interface indexes, whose names its lines start with)
_DECODED = {"ethertype": "H", "l3_offset": "H", "l4_offset": "H", "ip_version": "B",
            "ip_proto": "B", "ip_len": "I", "flags": "I", "sll_ifindex": "I"}
_IFNAME_BYTES = 16
# the columns of a batch, in _pcapio.gather's order, and their array typecodes
_GATHERED = (("ts", "q"), ("caplen", "I"), ("wirelen", "I"), ("offset", "q"), ("ifindex", "i"),
             ("pkttype", "B"), ("protocol", "H"), ("vlan_tci", "H"), ("vlan_tpid", "H"),
             ("rxhash", "I"), ("status", "I"), ("linktype", "H"))


class PlainPcap:
    """An open classic pcap file (either byte order, us or ns) of a link type
    the printer prints: what :func:`open_plain_pcap` found at its start."""

    def __init__(self, path: str, fd: int, size: int, swap: bool, nanosecond: bool,
                 snaplen: int, linktype: int) -> None:
        self.path, self.fd, self.size, self.opened_size = path, fd, size, size
        self.swap, self.nanosecond = swap, nanosecond
        self.snaplen, self.linktype = snaplen, linktype
        self.format = "pcap"                       # (for describe_status)
        self._max_caplen = max(DEFAULT_SNAPLEN, snaplen if snaplen <= 64 << 20 else 0)

    def close(self) -> None:
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)


def open_plain_pcap(path: str) -> PlainPcap | None:
    """The file at ``path`` (``-``: standard input) opened, if it is a classic
    pcap file of a link type ringcap prints; None for anything else (pcapng,
    damaged headers, a pipe, a file that cannot be opened...), which the
    batch path reads and reports."""
    source = path
    try:
        if path == "-":             # a file redirected into it (read by position)
            source = f"/proc/self/fd/{sys.stdin.fileno()}"
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except (OSError, ValueError, AttributeError):
        return None
    try:
        st = os.fstat(fd)
        head = os.pread(fd, 24, 0) if stat.S_ISREG(st.st_mode) else b""
        if len(head) == 24 and st.st_size >= 24:
            for order in ("<", ">"):
                magic, _, _, _, _, snaplen, linktype = struct.unpack(order + "IHHiIII", head)
                # the upper bits: an FCS length; reserved ones set, the batch
                # path refuses the file
                linktype &= LT_LINKTYPE_AND_RESERVED
                if magic in (_MAGIC_USEC, _MAGIC_NSEC) and linktype in LINKTYPE_NAMES:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
                    return PlainPcap(path, fd, st.st_size, order != _NATIVE,
                                     magic == _MAGIC_NSEC, snaplen, linktype)
    except OSError:
        pass
    os.close(fd)
    return None


def _columns(typecodes, rows: int) -> list[array]:
    return [array(code, bytes(rows * array(code).itemsize)) for code in typecodes]


class _Chunks:
    """The records of a :class:`PlainPcap`, a chunk of columns at a time, as
    the reader parses them: the same stops, warnings and errors at the same
    records (``ringcap.pcapfile.reader.PcapReader._fill``)."""

    def __init__(self, source: PlainPcap) -> None:
        self.source = source
        self.pos = 24
        self.done = False
        self.pending: PcapFormatError | None = None
        self.data = memoryview(b"")           # the window: file bytes wstart..wend
        self.wstart = self.wend = self.dropped = 0
        self._map = None
        self.rows = 0
        self.ts = self.caplen = self.wirelen = self.offset = None

    def _grow(self, rows: int) -> None:
        if rows > self.rows:
            self.rows = rows
            self.ts, self.caplen, self.wirelen, self.offset = _columns("qIIq", rows)

    def _remap(self, least: int) -> None:
        """A window of the file from ``pos`` (page-aligned down) on, of at
        least ``least`` bytes past ``pos`` (within the file)."""
        start = self.pos - self.pos % _PAGE
        end = min(self.source.size, max(start + _MAP_MOST, self.pos + least))
        self.data = memoryview(b"")
        self._map = _filemap.FileMap(self.source.fd, start, end - start)
        self.data = memoryview(self._map)
        self.wstart, self.wend = start, end
        self.dropped = 0                      # bytes of the map before the walk, unmapped

    def _drop_behind(self) -> None:
        """Unmap the pages before the walk: the chunks before have been printed."""
        behind = self.pos - self.wstart
        if self._map is not None and behind - self.dropped >= _DROP_EVERY:
            self._map.drop(self.dropped, behind)
            self.dropped = behind - behind % _PAGE

    def _shrunk(self) -> bool:
        """True if another program truncated the file under the window (its
        pages past the new end read as zeros); the window and size are cut."""
        if self._map is None:
            return False
        size = os.fstat(self.source.fd).st_size
        fault = self._map.first_fault
        if fault is not None:
            size = min(size, fault)
        if max(size, self.pos) >= self.wend:
            return False
        self.shrank_to = size
        self.source.size = self.wend = max(size, self.pos)
        self.data = self.data[:self.wend - self.wstart]
        return True

    def _truncated(self, pos: int) -> None:
        source = self.source
        if source.size != source.opened_size:
            message = (f"{source.path}: the file shrank while being read: it had "
                       f"{source.opened_size} bytes when opened, and the record at byte offset "
                       f"{pos} runs past its end at {self.shrank_to} (another program "
                       "truncated or rewrote it); every complete packet before it was read")
        else:
            message = (f"{source.path}: file ends in a partial record at byte offset {pos} "
                       f"(file size {source.size}); every complete packet before it was read")
        self.done = True
        warnings.warn(PcapTruncatedWarning(message, pos), stacklevel=2)

    def next(self, want: int) -> int:
        """Parse up to ``want`` records into the columns (offsets into ``data``,
        the window, valid until the next call); returns how many (0: the end,
        or an error in ``pending``, raised by the caller if it reads on).
        As the reader's batches, a chunk is ``want`` records unless the file
        ends or is damaged first: a chunk the window cannot hold is parsed
        again from its start in a window twice the size."""
        self._grow(want)
        self._drop_behind()
        source = self.source
        least = 16
        while not self.done:
            if self.pos + least > self.wend and self.wend < source.size:
                self._remap(least)
            count, pos, _, status, value = _pcapio.parse_pcap(
                self.data, self.pos - self.wstart, source.swap, source.nanosecond,
                source._max_caplen, 0, *(memoryview(column)[:want] for column in
                                         (self.ts, self.caplen, self.wirelen, self.offset)))
            if self._shrunk():
                continue                      # parse again, up to where the file now ends
            if status in (_S.END, _S.TRUNCATED) and self.wend < source.size:
                least = 2 * (self.wend - self.pos)
                continue                      # the window ends, the file does not
            self.pos = pos + self.wstart
            if status != _S.OK:
                self._stopped(status, value, self.pos)
            return count
        return 0

    def _stopped(self, status: int, value: int, pos: int) -> None:
        """The parser stopped at ``pos`` short of the window's end, which is the file's."""
        if status == _S.END and self.source.size == self.source.opened_size:
            self.done = True
        elif status in (_S.END, _S.TRUNCATED):
            self._truncated(pos)
        else:
            self.done = True
            self.pending = PcapFormatError(
                f"{self.source.path}: corrupt file at byte offset {pos}: "
                f"{describe_status(status, value, self.source)}", pos)

    def each(self, done=None):
        """Parse chunk after chunk, yielding each one's count of records, until
        the file ends or ``done()`` is true; then raise the error that stopped
        the parser, if any, unless ``done()``.  The first chunk is of
        _FIRST_CHUNK records, the others of about _CHUNK_BYTES of its
        packets' size (as the batch paths' ``batch_packets_for``)."""
        want = _FIRST_CHUNK
        sized = False
        while done is None or not done():
            if self.pending is not None:
                raise self.pending
            n = self.next(want)
            if n == 0:
                break
            if not sized:
                sized, want = True, chunk_size(self, n)
            yield n
        if self.pending is not None and (done is None or not done()):
            raise self.pending

    def release(self) -> None:
        self.data = memoryview(b"")
        self._map = None


def program_for(expression: str, source: PlainPcap) -> bytes:
    """The filter, compiled by libpcap as for a file like ``source``, packed."""
    try:
        program = pack(compile_filter(expression, snaplen=libpcap_snaplen(source.snaplen),
                                      file_linktype=source.linktype, swapped=source.swap))
        _bpf.check_program(program)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    return program


class ChunkSelector:
    """The records of a chunk a filter program accepts (all, without one),
    gathered into columns reused chunk after chunk, with a file's columns
    that are all one value (zeros, its link type) for the decoder (``-r``
    printing, ``ringcap fields`` and ``ringcap stats`` select so)."""

    def __init__(self, linktype: int, program: bytes | None) -> None:
        self.linktype = linktype
        self.program = program
        self.rows = 0

    def _grow(self, rows: int) -> bool:
        """Room for ``rows`` packets; True if the columns were made anew."""
        if rows <= self.rows:
            return False
        self.rows = rows
        self.chosen = array("q", bytes(8 * rows))
        self.picked = _columns((code for _, code in _GATHERED), rows)
        self.zeros = _columns((code for _, code in _GATHERED[4:-1]), rows)   # (a file's)
        self.linktypes = array("H", [self.linktype]) * rows
        return True

    def select(self, chunks: _Chunks, n: int, limit: int | None) -> tuple[int, int, tuple]:
        """(packets examined, packets chosen, their ts, caplen, wirelen, offset)
        of the chunk's first ``n``: those the filter accepts, the first
        ``limit`` at most."""
        self._grow(n)
        columns = tuple(memoryview(c)[:n] for c in
                        (chunks.ts, chunks.caplen, chunks.wirelen, chunks.offset))
        linktype = memoryview(self.linktypes)[:n]
        if self.program is None:
            count = n if limit is None else min(n, limit)
            return count, count, tuple(c[:count] for c in columns)
        count = _bpf.filter_indices(self.program, chunks.data, columns[3], columns[1],
                                    columns[2], linktype, -1, self.chosen)
        examined = n
        if limit is not None and count > limit:
            count = max(0, limit)
            examined = self.chosen[count - 1] + 1 if count else 0
        if count == n:
            return examined, count, columns
        zeros = tuple(memoryview(c)[:n] for c in self.zeros) + (linktype,)
        _pcapio.gather(self.chosen, count, len(chunks.data), *columns, *zeros, *self.picked)
        return examined, count, tuple(memoryview(c)[:count] for c in self.picked[:4])



class _Printer(ChunkSelector):
    """Filter, decode and format chunks of packets of one link type, the
    columns reused: what PacketPrinter does for a batch."""

    def __init__(self, args, source: PlainPcap, program: bytes | None) -> None:
        super().__init__(source.linktype, program)
        options = printer_options(args)
        options.pop("numeric")
        self.formatter = line_formatter(**options)
        self.cooked = source.linktype == LINKTYPE_LINUX_SLL2
        self.names = tuple(_DECODED)[:7 + self.cooked]
        self._ifnames: dict[int, bytes] = {}
        self.buffer = bytearray(_FIRST_BUFFER)
        self.out = sys.stdout.buffer
        self.flush_each = args.line_buffered or sys.stdout.isatty()

    def _grow(self, rows: int) -> bool:
        if not super()._grow(rows):
            return False
        self.decoded = dict(zip(self.names, _columns((_DECODED[k] for k in self.names), rows)))
        return True

    def print(self, data, ts, caplen, wirelen, offset) -> None:
        n = len(ts)
        if n == 0:
            return
        sys.stdout.flush()              # keep order with text written before
        vlan_tci, vlan_tpid, _, status = (memoryview(c)[:n] for c in self.zeros[3:7])
        linktype = memoryview(self.linktypes)[:n]
        decoded = {name: memoryview(column)[:n] for name, column in self.decoded.items()}
        _decode.decode_into(data, offset, caplen, wirelen, status, vlan_tci, vlan_tpid,
                            decoded, True, linktype)
        first, last, lo, hi = _text.time_bounds(ts)
        one = one_utc_offset(first, last, lo, hi)
        gmtoff = array("q", [one]) if one is not None else _per_packet_offsets(ts)
        columns = (data, offset, caplen, wirelen, ts, status, vlan_tci,
                   *(decoded[name] for name in self.names[:7]), gmtoff)
        ifnames = ifname_index = None
        if self.cooked:
            ifnames, ifname_index = self._interface_names(decoded["sll_ifindex"])
        start = 0
        while start < n:
            need = _text.bytes_needed(caplen[start])
            if start:                   # a chunk's text overflowed the buffer
                need = max(need, _BUFFER_BYTES)
            if need > len(self.buffer):
                self.buffer = bytearray(need)
            start, used = self.formatter.format(*columns, start, self.buffer, linktype=linktype,
                                                ifnames=ifnames, ifname_index=ifname_index)
            try:
                with memoryview(self.buffer) as view:
                    write_whole(self.out, view[:used])
                if self.flush_each and start >= n:
                    self.out.flush()
            except OSError as exc:        # a broken pipe too, as tcpdump (status 14)
                raise output_error(exc) from None

    def _interface_names(self, ifindex) -> tuple[bytearray, array]:
        """(16-byte name table, entry per packet) for the interfaces of the
        LINUX_SLL2 packets, named as on this host (as tcpdump does; "?" if none)."""
        distinct = sorted(set(ifindex))
        table = bytearray(_IFNAME_BYTES * len(distinct))
        for row, index in enumerate(distinct):
            name = self._ifnames.get(index)
            if name is None:
                try:
                    name = _socket.if_indextoname(index).encode()[:_IFNAME_BYTES - 1]
                except OSError:
                    name = b"?"
                self._ifnames[index] = name
            table[row * _IFNAME_BYTES:row * _IFNAME_BYTES + len(name)] = name
        rows = {index: row for row, index in enumerate(distinct)}
        return table, array("H", map(rows.__getitem__, ifindex))


def _per_packet_offsets(ts) -> array:
    """Each packet's local-time offset from UTC (s), looked up once an hour."""
    hours: dict[int, int] = {}
    out = array("q")
    for t in ts:
        hour = t // 1_000_000_000 // 3600
        offset = hours.get(hour)
        if offset is None:
            offset = hours[hour] = time.localtime(hour * 3600).tm_gmtoff
        out.append(offset)
    return out


def chunk_size(chunks: _Chunks, n: int) -> int:
    """Packets a chunk after the first (of ``n`` packets, in ``chunks``' columns) should hold."""
    per_packet = (sum(memoryview(chunks.caplen)[:n]) + 16 * n) / n
    return max(_FIRST_CHUNK, min(_MOST_CHUNK, int(_CHUNK_BYTES // per_packet)))


def print_file(args, source: PlainPcap, expression: str | None, state) -> None:
    """Print the packets of ``source`` that pass ``expression``, counting into
    ``state`` (:class:`ringcap.cli.read._ReadState`) as the batch path does."""
    path = source.path
    print(f"reading from file {path}, link-type {linktype_description(source.linktype)}, "
          f"snapshot length {libpcap_snaplen(source.snaplen)}", file=sys.stderr, flush=True)
    if source.linktype == LINKTYPE_LINUX_SLL2:
        # the names are this host's for the file's interface indexes, as tcpdump's
        print("Warning: interface names might be incorrect", file=sys.stderr, flush=True)
    program = None if expression is None else program_for(expression, source)
    printer = _Printer(args, source, program)
    state.printer = printer.out
    state.opened = True             # the summary is due from here on
    chunks = _Chunks(source)
    try:
        for n in chunks.each(lambda: state.halted() or (args.count is not None
                                                        and state.matched >= args.count)):
            left = None if args.count is None else args.count - state.matched
            examined, chosen, columns = printer.select(chunks, n, left)
            state.read += examined
            state.matched += chosen
            printer.print(chunks.data, *columns)
    finally:
        chunks.release()


class ReadInterrupts:
    """SIGINT (Ctrl-C), SIGTERM and SIGHUP while files are read: recorded, so
    that the reading stops at the end of a chunk or batch and ends as after
    the last packet (every record of -w whole, the summary, status 0), as
    tcpdump -r ends on them (`ringcap fields`: whole lines, then tshark's
    status 2); one that is ignored (SIGHUP under nohup) stays so.
    ``_signal``: ``signal`` would import enum at every start."""

    def __init__(self, active: bool = True) -> None:
        self.active = active
        self.received: list[int] = []
        self._saved: dict = {}

    def _record(self, signum, frame) -> None:
        self.received.append(signum)

    def requested(self) -> bool:
        """Whether a signal asked the reading to stop."""
        return bool(self.received)

    def __enter__(self) -> "ReadInterrupts":
        for signum in (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP) if self.active else ():
            previous = _signal.getsignal(signum)
            if previous == _signal.SIG_IGN:
                continue
            try:
                _signal.signal(signum, self._record)
            except ValueError:          # not the main thread: left as they are
                break
            self._saved[signum] = _signal.SIG_DFL if previous is None else previous
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._saved.items():
            _signal.signal(signum, previous)
