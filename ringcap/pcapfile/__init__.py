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

The package has three rooms: :mod:`~ringcap.pcapfile.formats` (constants,
errors, the interface and statistics records), :mod:`~ringcap.pcapfile.writer`
and :mod:`~ringcap.pcapfile.reader`.  It knows nothing of capturing:
:func:`ringcap.capture_to_file` drives a ring into a
:class:`~ringcap.sinks.PcapSink`, which writes with :class:`PcapWriter`.
``ringcap.pcap`` re-exports these names for code written before the split.
"""
from .._lazy import lazy_attributes as _lazy_attributes

from .formats import (DEFAULT_SNAPLEN, LINKTYPE_ETHERNET, PcapFormatError, PcapTruncatedError,
                      PcapTruncatedWarning)

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    from .reader import PcapReader, open_pcap, read_pcap
    from .records import Interface, InterfaceStats
    from .writer import PcapWriter, write_pcap


__all__ = [
    "PcapWriter", "PcapReader", "write_pcap", "read_pcap", "open_pcap",
    "PcapFormatError", "PcapTruncatedError", "PcapTruncatedWarning",
    "Interface", "InterfaceStats",
    "LINKTYPE_ETHERNET", "DEFAULT_SNAPLEN",
]


# The reader (numpy, the file maps) and the writer (socket, threading) load
# on first use: `ringcap -w` only writes, `ringcap -r` and `stats` only read;
# the records (dataclasses) when a reader or writer, or a user, needs them.
__getattr__ = _lazy_attributes(__name__, {
    **dict.fromkeys(("Interface", "InterfaceStats"), f"{__name__}.records"),
    **dict.fromkeys(("PcapReader", "open_pcap", "read_pcap"), f"{__name__}.reader"),
    **dict.fromkeys(("PcapWriter", "write_pcap"), f"{__name__}.writer")})


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
