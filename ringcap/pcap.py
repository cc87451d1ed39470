"""Capture files under their old name: the public names of :mod:`ringcap.pcapfile`.

Code written before capture files became a package imports from here
(``from ringcap.pcap import PcapWriter``) and keeps working; new code imports
from ``ringcap`` or :mod:`ringcap.pcapfile`.  Nothing inside ringcap imports
this module.
"""
from .capturing import capture_to_file
from .pcapfile import (DEFAULT_SNAPLEN, LINKTYPE_ETHERNET, Interface, InterfaceStats,
                       PcapFormatError, PcapReader, PcapTruncatedError, PcapTruncatedWarning,
                       PcapWriter, open_pcap, read_pcap, write_pcap)
from .sinks.driving import CaptureSummary

__all__ = [
    "PcapWriter", "PcapReader", "write_pcap", "read_pcap", "open_pcap", "capture_to_file",
    "PcapFormatError", "PcapTruncatedError", "PcapTruncatedWarning",
    "Interface", "InterfaceStats", "CaptureSummary",
    "LINKTYPE_ETHERNET", "DEFAULT_SNAPLEN",
]
