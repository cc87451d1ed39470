"""tcpdump-style packet lines: :class:`PacketPrinter` prints whole batches.

Each batch is decoded once (``ringcap.decode``, the offsets and protocol
columns only) and its lines are written by compiled code (``ringcap._text``)
into one buffer that goes to the stream in large chunks: no Python work per
packet.  There are no name lookups: addresses and ports are always numeric,
so ``-n`` and ``-nn`` change nothing.
"""
from __future__ import annotations

import io
import _socket      # (socket's C module: socket.py's enums cost start-up; ringcap.addresses)
import time
from typing import BinaryIO, TextIO, Union

import numpy as np

from .. import _text
from ..batch import Batch
from ..headers import Headers, HeadersBuffer
from .lineformat import PAYLOAD_MODES, TIMESTAMP_MODES, line_formatter, one_utc_offset, write_whole

__all__ = ["PacketPrinter"]      # (TIMESTAMP_MODES, PAYLOAD_MODES: from .lineformat)

_COLUMNS = ("ethertype", "l3_offset", "l4_offset", "ip_version", "ip_proto", "ip_len", "flags",
            "sll_ifindex")
_NO_NAMES = np.zeros(0, dtype=np.uint8)
_BUFFER_BYTES = 4 << 20


def _utc_offsets(ts: np.ndarray) -> np.ndarray:
    """Local time's offset from UTC (s): one value, or one per packet when it changes inside."""
    if len(ts) == 0:
        return np.zeros(1, dtype=np.int64)
    one = one_utc_offset(int(ts[0]), int(ts[-1]), int(ts.min()), int(ts.max()))
    if one is not None:
        return np.array([one], dtype=np.int64)
    seconds = ts // 1_000_000_000
    hours, inverse = np.unique(seconds // 3600, return_inverse=True)
    offsets = np.array([time.localtime(int(h) * 3600).tm_gmtoff for h in hours], dtype=np.int64)
    return offsets[inverse.ravel()]


class PacketPrinter:
    """Write one tcpdump-style line per packet of each batch to ``stream``.

    ``stream``: a binary file object, a text stream with a ``buffer``
    (``sys.stdout``), or any other text stream (``io.StringIO``, a
    notebook's output).  Options follow tcpdump's flags:

    - ``numeric`` (``-n``/``-nn``): accepted for habit; ringcap never looks
      names up, so output is always numeric.
    - ``verbose`` (``-v``): the IP header's fields (tos, ttl, id, offset,
      flags, protocol, length) before the addresses.
    - ``link_header`` (``-e``): MAC addresses, ethertype, frame length and
      VLAN tags.
    - ``payload``: ``"hex"`` (``-x``), ``"hexascii"`` (``-X``) or
      ``"ascii"`` (``-A``) dump of each packet after its link header;
      ``payload_link=True`` dumps from the first byte.  tcpdump's letters
      (``"x"``, ``"xx"``, ``"X"``, ``"XX"``, ``"A"``) are accepted too.
    - ``quiet`` (``-q``): shorter TCP lines (``tcp LENGTH``).
    - ``timestamps``: one of :data:`TIMESTAMP_MODES`, or the number of
      ``-t`` flags; ``nanosecond`` prints nanoseconds
      (``--time-stamp-precision nano``).
    - ``absolute_seq`` (``-S``): TCP sequence numbers as sent, not
      relative to the conversation's first numbers.
    - ``number`` (``-#``, ``--number``): each line starts with the
      packet's number (1, 2, ... counted across batches), as tcpdump's.
    - ``no_checksums`` (``-K``): with ``-v``, IP, TCP and UDP checksums
      are not checked (ICMP and ICMPv6 ones still are, as tcpdump's).
    """

    def __init__(self, stream: Union[BinaryIO, TextIO], *, numeric: int = 0, verbose: int = 0,
                 link_header: bool = False, payload: str | None = None,
                 payload_link: bool = False, quiet: bool = False,
                 timestamps: Union[str, int] = "time", nanosecond: bool = False,
                 absolute_seq: bool = False, number: bool = False,
                 no_checksums: bool = False) -> None:
        self._text_stream = stream if hasattr(stream, "buffer") else None
        self._out = stream.buffer if hasattr(stream, "buffer") else stream
        # A text stream without a byte buffer (io.StringIO, a notebook's
        # stdout) gets str: the lines are ASCII (-A prints '.' for other bytes).
        self._decode_text = self._text_stream is None and isinstance(stream, io.TextIOBase)
        self.numeric = int(numeric)
        self._formatter = line_formatter(
            verbose=verbose, link_header=link_header, payload=payload,
            payload_link=payload_link, quiet=quiet, timestamps=timestamps,
            nanosecond=nanosecond, absolute_seq=absolute_seq, number=number,
            no_checksums=no_checksums)
        self._buffer = np.empty(_BUFFER_BYTES, dtype=np.uint8)
        self._headers = HeadersBuffer(_COLUMNS, tunnels="outer")      # reused batch after batch
        self._ifnames: dict[int, bytes] = {}
        self.packets = 0

    def _interface_names(self, batch: Batch, h: Headers):
        """(16-byte name table, index per packet) for the LINUX_SLL2 packets'
        interfaces, named as on this host (as tcpdump does; "?" if none)."""
        linktype = batch.linktype
        if not linktype.min() <= 276 <= linktype.max():     # none is: nothing allocated
            return _NO_NAMES, None
        cooked = linktype == 276
        if not cooked.any():
            return _NO_NAMES, None
        indexes, inverse = np.unique(np.where(cooked, h.sll_ifindex, 0), return_inverse=True)
        table = np.zeros((len(indexes), 16), dtype=np.uint8)
        for row, index in enumerate(indexes.tolist()):
            name = self._ifnames.get(index)
            if name is None:
                try:
                    name = _socket.if_indextoname(index).encode()[:15]
                except OSError:
                    name = b"?"
                self._ifnames[index] = name
            table[row, :len(name)] = np.frombuffer(name, dtype=np.uint8)
        return table.ravel(), inverse.ravel().astype(np.uint16)

    def _decode(self, batch: Batch) -> Headers:
        return self._headers.decode(batch)

    def print_batch(self, batch: Batch) -> int:
        """Print every packet of ``batch``; returns how many."""
        n = len(batch)
        if n == 0:
            return 0
        if self._text_stream is not None:
            self._text_stream.flush()   # keep order with text written before
        h = self._decode(batch)
        columns = (
            np.ascontiguousarray(batch.data, dtype=np.uint8),
            np.ascontiguousarray(batch.offset, dtype=np.int64),
            np.ascontiguousarray(batch.caplen, dtype=np.uint32),
            np.ascontiguousarray(batch.wirelen, dtype=np.uint32),
            np.ascontiguousarray(batch.ts, dtype=np.int64),
            np.ascontiguousarray(batch.status, dtype=np.uint32),
            np.ascontiguousarray(batch.vlan_tci, dtype=np.uint16),
            h.ethertype, h.l3_offset, h.l4_offset, h.ip_version, h.ip_proto, h.ip_len, h.flags,
            _utc_offsets(batch.ts),
        )
        ifnames, ifname_index = self._interface_names(batch, h)
        link = dict(linktype=np.ascontiguousarray(batch.linktype, dtype=np.uint16),
                    ifnames=ifnames, ifname_index=ifname_index)
        start = 0
        while start < n:
            need = _text.bytes_needed(int(batch.caplen[start]))
            if need > len(self._buffer):
                self._buffer = np.empty(need, dtype=np.uint8)
            start, used = self._formatter.format(*columns, start, self._buffer, **link)
            chunk = memoryview(self._buffer)[:used]
            if self._decode_text:
                self._out.write(bytes(chunk).decode("ascii"))
            else:
                write_whole(self._out, chunk)
        self.packets += n
        return n

    def flush(self) -> None:
        """Flush the stream (``-l``/``-U``: after every batch)."""
        self._out.flush()
