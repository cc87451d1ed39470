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
import importlib as _importlib

from .formats import (DEFAULT_SNAPLEN, LINKTYPE_ETHERNET, Interface, InterfaceStats,
                      PcapFormatError, PcapTruncatedError, PcapTruncatedWarning)

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    from .reader import PcapReader, open_pcap, read_pcap
    from .writer import PcapWriter, write_pcap

# name -> the module of this package that defines it, imported on first use
_HOMES = {"PcapReader": "reader", "open_pcap": "reader", "read_pcap": "reader",
          "PcapWriter": "writer", "write_pcap": "writer"}

__all__ = [
    "PcapWriter", "PcapReader", "write_pcap", "read_pcap", "open_pcap",
    "PcapFormatError", "PcapTruncatedError", "PcapTruncatedWarning",
    "Interface", "InterfaceStats",
    "LINKTYPE_ETHERNET", "DEFAULT_SNAPLEN",
]


def __getattr__(name: str):
    # The reader (numpy, the file maps) and the writer (socket, threading) load
    # on first use: `ringcap -w` only writes, `ringcap -r` and `stats` only read.
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(_importlib.import_module(f"{__name__}.{home}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
