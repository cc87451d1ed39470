"""Capture-file formats: the constants, errors and records pcap and pcapng share.

The magic numbers and block types of both formats, the link type and
snapshot length written by default, the errors a reader raises
(:class:`PcapFormatError`, :class:`PcapTruncatedError`,
:class:`PcapTruncatedWarning`) with the words for what a parser stopped at
(:func:`describe_status`).  The records a file describes
(:class:`~ringcap.pcapfile.records.Interface`,
:class:`~ringcap.pcapfile.records.InterfaceStats`) are in
:mod:`ringcap.pcapfile.records`, found here on first use: their dataclasses
were a quarter of the instructions of `ringcap -r`'s start-up, which needs
neither.  :mod:`ringcap.pcapfile.writer` and :mod:`ringcap.pcapfile.reader`
build on this module; it imports neither.
"""
from __future__ import annotations

import struct
import sys

from .. import _pcapio
from .. import arphrd as _arphrd
from .. import linktypes as _linktypes
from .._lazy import lazy_attributes as _lazy_attributes

__all__ = [
    "PcapFormatError", "PcapTruncatedError", "PcapTruncatedWarning",
    "LINKTYPE_ETHERNET", "DEFAULT_SNAPLEN",
]

# (where they were defined before ringcap.pcapfile.records)
__getattr__ = _lazy_attributes(__name__, dict.fromkeys(("Interface", "InterfaceStats"),
                                                       f"{__package__}.records"))

#: The link type of Ethernet frames in pcap/pcapng headers (``DLT_EN10MB``); the
#: others are in :mod:`ringcap.batch` (``LINKTYPE_RAW``, ``LINKTYPE_LINUX_SLL2``, ...).
LINKTYPE_ETHERNET = _linktypes.LINKTYPE_ETHERNET
#: Snapshot length written when none is given: what tcpdump and dumpcap use.
DEFAULT_SNAPLEN = 262144


def libpcap_snaplen(snaplen: int) -> int:
    """The snapshot length libpcap gives a file whose header says ``snaplen``
    (``pcap_adjust_snapshot``): 0 or more than INT_MAX is 262144 (its maximum
    for the link types ringcap prints), as ``tcpdump -r`` reports, compiles the
    filter with and writes to ``-w``."""
    return DEFAULT_SNAPLEN if snaplen == 0 or snaplen > 0x7FFFFFFF else snaplen

# The pcap header's link-type field (libpcap's LT_* macros): the link type in
# bits 0-15, bits 16-25 reserved (0), an FCS length in bits 26-31
LT_LINKTYPE_AND_RESERVED = 0x03FFFFFF
LT_RESERVED1 = 0x03FF0000



def pcap_header_linktype(path, field: int) -> int:
    """The link type of a pcap header's link-type ``field``: its low 16 bits
    (the top 6 are an FCS length, as tcpdump drops them); reserved bits set
    are refused: libpcap takes them for part of the type (tcpdump: "unknown
    data link type 65537"), Wireshark refuses them."""
    if field & LT_RESERVED1:
        raise PcapFormatError(
            f"{path}: the pcap header's link-type field 0x{field:08x} has reserved bits "
            f"set (0x{field & LT_RESERVED1:08x}), which neither libpcap nor Wireshark "
            f"reads: the header is damaged, or was written by a program that puts "
            f"something else there", 20)
    return field & 0xFFFF


_MAGIC_USEC = 0xA1B2C3D4
_MAGIC_NSEC = 0xA1B23C4D
_MAGIC_MODIFIED = 0xA1B2CD34      # Kuznetzov's "modified pcap"
_PCAPNG_SHB = 0x0A0D0D0A
_PCAPNG_BYTE_ORDER = 0x1A2B3C4D
_BT_IDB, _BT_PB, _BT_SPB, _BT_ISB, _BT_EPB = 1, 2, 3, 5, 6

_S = _pcapio.Status
_NATIVE = "<" if sys.byteorder == "little" else ">"


class PcapFormatError(ValueError):
    """A capture file is not pcap/pcapng, or is corrupt.

    ``offset`` is the byte offset in the file where the problem was found.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


class PcapTruncatedError(PcapFormatError):
    """The file ends inside a record (raised instead of a warning with ``strict=True``)."""


# link types whose records start with a Linux cooked header (LINUX_SLL, LINUX_SLL2, and
# NETLINK, LINUX_IRDA, LINUX_LAPD): pkttype and protocol in every one
COOKED_LINKTYPES = _arphrd.COOKED_LINKTYPES


def from_cooked_headers(batch) -> None:
    """``pkttype`` and ``protocol`` of a file batch's cooked packets:
    their cooked header's (a pcap record has no field for them; a pcapng's
    ``epb_flags`` only a direction)."""
    _pcapio.from_cooked_headers(batch.linktype, batch.data, batch.offset, batch.caplen,
                                batch.pkttype, batch.protocol)


def carries_direction(reader) -> bool:
    """Whether ``reader``'s packets can say which way they went (``pkttype``):
    a pcapng's (``epb_flags``) or a Linux cooked packet's (its header).  A
    pcapng written from any other file keeps no ``epb_flags``, as editcap's:
    ``pkttype`` 0 there means "not known", not "inbound"."""
    return reader.format == "pcapng" or any(
        interface.linktype in COOKED_LINKTYPES for interface in reader.interfaces)


def no_interface_error(path: str, offset: int, packet: bool) -> PcapFormatError:
    """libpcap's refusal of a pcapng whose first section describes no interface
    (a link type) before its first packet block (``packet``) or its end."""
    if packet:
        return PcapFormatError(
            f"{path}: the capture file has a packet block before any Interface Description "
            f"Blocks (at byte offset {offset}): nothing says what link type its packets are, "
            "and tcpdump and Wireshark refuse it too; the file is damaged, or its writer "
            "left out the interface: write it again with an Interface Description Block "
            "before the first packet", offset)
    return PcapFormatError(
        f"{path}: the capture file has no Interface Description Blocks: no packets, and no "
        "link type to read them as (tcpdump refuses it too; Wireshark shows it empty); a "
        "pcapng writer describes its interface even for an empty capture, so the file was "
        "cut short after its section header or its writer is broken; if it is still being "
        "written, read it once its writer has closed it",
        offset)


def describe_status(status: int, value: int, reader) -> str:
    """What a parser's stop ``status`` (with its ``value``) says is wrong with ``reader``'s file."""
    if status == _S.BAD_CAPLEN:
        if reader.format == "pcap":
            return (f"record claims a captured length of {value} bytes, more than the "
                    f"largest sane snapshot length ({reader._max_caplen})")
        return f"packet block claims a captured length of {value} bytes, more than the block holds"
    if status == _S.BAD_BLOCK_LENGTH:
        return f"block has invalid length {value} (too small, not a multiple of 4, or huge)"
    if status == _S.LENGTH_MISMATCH:
        return f"block lengths disagree (trailing length {value})"
    if status == _S.BAD_INTERFACE:
        return (f"packet for interface {value}, which the section has not described "
                f"({len(reader._section_ifaces)} interfaces)")
    if status == _S.BAD_TIMESTAMP:
        return (f"packet on interface {value} has a timestamp past 2262-04-11 23:47:16 UTC, "
                "the latest that ringcap's int64 nanoseconds (pandas' datetime64[ns]) hold; "
                "shift the file's times back (editcap -t -SECONDS) to read it")
    return f"parser status {_S(status).name} ({value})"


class PcapTruncatedWarning(UserWarning):
    """The file ends inside a record; every complete record before it was read.

    ``offset`` is the byte offset where the partial record starts.
    """

    def __init__(self, message: str, offset: int | None = None) -> None:
        super().__init__(message)
        self.offset = offset


# ---------------------------------------------------------------- pcapng blocks
def _pad4(b: bytes) -> bytes:
    return b + b"\0" * (-len(b) % 4)


def _option(code: int, value: bytes) -> bytes:
    """A pcapng option (native byte order, padded to 4 bytes)."""
    return struct.pack(_NATIVE + "HH", code, len(value)) + _pad4(value)


def _block(btype: int, body: bytes) -> bytes:
    """A pcapng block of type ``btype`` around ``body``."""
    length = 12 + len(body)
    return struct.pack(_NATIVE + "II", btype, length) + body + struct.pack(_NATIVE + "I", length)
