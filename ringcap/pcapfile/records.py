"""The records a capture file describes: :class:`Interface` and :class:`InterfaceStats`.

Frozen dataclasses, in a module of their own so that what only prints a
pcap file (``ringcap -r``) does not import :mod:`dataclasses` (a quarter of
its start-up's instructions); the reader imports them here.
"""
from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Interface", "InterfaceStats"]


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
