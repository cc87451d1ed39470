"""Capture files, finding record boundaries in the middle of a file (for splits).

:meth:`ringcap.pcapfile.PcapReader.next_boundary` tries each candidate
offset with :class:`ResyncScan`: a candidate is a record (pcapng: block)
boundary when it and the records after it are plausible and chain, each
starting where the one before ends.  The bytes are read with ``pread``,
apart from the reader's window.
"""
from __future__ import annotations

import os
import struct

from .. import _pcapio
from .formats import _BT_EPB, _BT_IDB, _BT_ISB, _BT_PB, _BT_SPB, _NATIVE, _PCAPNG_SHB

__all__ = ["ResyncScan"]

_PCAPNG_BLOCK_TYPES = frozenset({_PCAPNG_SHB, _BT_IDB, _BT_PB, _BT_SPB, 4, _BT_ISB, _BT_EPB,
                                 7, 8, 9, 10, 0x0BAD, 0x40000BAD})


class ResyncScan:
    """The candidate checks of :meth:`PcapReader.next_boundary`, over file bytes
    read with ``pread`` from ``offset`` on (apart from the reader's window)."""

    def __init__(self, reader, offset: int) -> None:
        self.reader = reader
        self.size = reader._size
        self.base = offset
        self.buf = b""
        self.pcapng = reader.format == "pcapng"
        if self.pcapng:
            self.order = reader._order
            self.interfaces = len(reader._section_ifaces)
        else:
            self.order = ">" if (reader._swap == (_NATIVE == "<")) else "<"
            self.frac_limit = 10**9 if reader.nanosecond else 10**6
            first = reader._data_start
            ref = struct.unpack(self.order + "I", self._get(first, 4))[0] \
                if first + 16 <= self.size else 0
            self.lo, self.hi = ref - 366 * 86400, ref + 10 * 366 * 86400

    def _get(self, pos: int, n: int) -> bytes:
        if pos < self.base or pos + n > self.base + len(self.buf):
            if pos >= self.base:
                want = max(pos + n - self.base, 2 * len(self.buf), 1 << 16)
                self.buf = os.pread(self.reader._fd, min(want, self.size - self.base), self.base)
            else:
                return os.pread(self.reader._fd, n, pos)
        at = pos - self.base
        return self.buf[at:at + n]

    def _next(self, pos: int) -> int | None:
        """Where the record at ``pos`` ends if it is plausible, else None."""
        if self.pcapng:
            if pos + 12 > self.size:
                return None
            btype, blen = struct.unpack(self.order + "II", self._get(pos, 8))
            if (btype not in _PCAPNG_BLOCK_TYPES or blen < 12 or blen % 4
                    or blen > _pcapio.MAX_BLOCK_LENGTH):
                return None
            if btype in (_BT_EPB, _BT_PB):
                if blen < 32 or pos + 28 > self.size:
                    return None
                iface, _, _, caplen = struct.unpack(self.order + "IIII", self._get(pos + 8, 16))
                if btype == _BT_PB:
                    iface &= 0xFFFF
                options = blen - 32 - (caplen + 3) // 4 * 4
                if iface >= max(self.interfaces, 1) or not 0 <= options <= 1 << 16:
                    return None
            elif pos + blen > self.size:
                return None               # only a packet block may be cut by the file's end
            if pos + blen > self.size:
                return pos + blen         # a plausible packet block the file ends inside
            if struct.unpack(self.order + "I", self._get(pos + blen - 4, 4))[0] != blen:
                return None
            return pos + blen
        if pos + 16 > self.size:
            return None
        sec, frac, caplen, wirelen = struct.unpack(self.order + "IIII", self._get(pos, 16))
        if (frac >= self.frac_limit or caplen > self.reader._max_caplen or caplen > wirelen
                or not 0 < wirelen <= 1 << 24 or not self.lo <= sec <= self.hi):
            return None
        return pos + 16 + caplen

    def chains(self, pos: int, records: int) -> bool:
        for _ in range(records):
            if pos == self.size:
                return True
            pos = self._next(pos)
            if pos is None:
                return False
            if pos > self.size:
                return True                          # a plausible record cut by the file's end
        return True
