"""Link types, packet types and status bits: the numbers every part of ringcap
names, without numpy (the capture-to-file command starts without it).
:mod:`ringcap.batch` re-exports them all, where users import them.
"""
from __future__ import annotations

import operator

# Link types: the values of `linktype`, from the pcap LINKTYPE_* registry
# (tcpdump.org's link-layer header types; where the DLT_* number differs, as
# for RAW, the LINKTYPE_* value is used, since it is what files carry).
LINKTYPE_NULL = 0          # BSD loopback: 4-byte address family, writer's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101         # raw IPv4 or IPv6 (files also say 12 or 14, DLT_RAW's values)
LINKTYPE_LOOP = 108        # OpenBSD loopback: address family in network byte order
LINKTYPE_LINUX_SLL = 113   # Linux cooked capture v1 (16-byte header)
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276  # Linux cooked capture v2 (20-byte header): `-i any`, PPP, ...

#: Link type -> (tcpdump's name, description), as tcpdump prints them.
LINKTYPE_NAMES: dict[int, tuple[str, str]] = {
    LINKTYPE_NULL: ("NULL", "BSD loopback"),
    LINKTYPE_ETHERNET: ("EN10MB", "Ethernet"),
    12: ("RAW", "Raw IP"),
    14: ("RAW", "Raw IP"),
    LINKTYPE_RAW: ("RAW", "Raw IP"),
    LINKTYPE_LOOP: ("LOOP", "OpenBSD loopback"),
    LINKTYPE_LINUX_SLL: ("LINUX_SLL", "Linux cooked v1"),
    LINKTYPE_IPV4: ("IPV4", "Raw IPv4"),
    LINKTYPE_IPV6: ("IPV6", "Raw IPv6"),
    LINKTYPE_LINUX_SLL2: ("LINUX_SLL2", "Linux cooked v2"),
}


#: Link types a ring captures (libpcap's choice for the device's ARPHRD_* type)
#: and writes, but which ringcap does not decode, print or filter in files:
#: (tcpdump's name, description).  Their bytes are the device's frames as
#: libpcap delivers them.
LINKTYPE_CAPTURE_ONLY_NAMES: dict[int, tuple[str, str]] = {
    6: ("IEEE802", "Token ring"),
    10: ("FDDI", "FDDI"),
    104: ("C_HDLC", "Cisco HDLC"),
    105: ("IEEE802_11", "802.11"),
    107: ("FRELAY", "Frame Relay"),
    114: ("LTALK", "Localtalk"),
    119: ("PRISM_HEADER", "802.11 plus Prism header"),
    127: ("IEEE802_11_RADIO", "802.11 plus radiotap header"),
    129: ("ARCNET_LINUX", "Linux ARCNET"),
    144: ("LINUX_IRDA", "Linux IrDA"),
    177: ("LINUX_LAPD", "Linux vISDN LAPD"),
    202: ("AX25_KISS", "AX.25 with KISS header"),
    224: ("FC_2", "Fibre Channel FC-2"),
    227: ("CAN_SOCKETCAN", "CAN-bus with SocketCAN headers"),
    230: ("IEEE802_15_4_NOFCS", "IEEE 802.15.4 without FCS"),
    253: ("NETLINK", "Linux netlink"),
    271: ("VSOCK", "Linux vsock"),
}


def linktype_name(linktype: int) -> str:
    """tcpdump's name of a link type (``"EN10MB"``), or ``"LINKTYPE_<n>"`` for others."""
    entry = LINKTYPE_NAMES.get(int(linktype)) or LINKTYPE_CAPTURE_ONLY_NAMES.get(int(linktype))
    return entry[0] if entry else f"LINKTYPE_{int(linktype)}"


def linktype_value(linktype: int | str) -> int:
    """A link type given as its number or tcpdump's name (``"LINUX_SLL"``,
    any case, ``DLT_``/``LINKTYPE_`` prefix allowed) as its number;
    ValueError naming it when it is neither."""
    if isinstance(linktype, str):
        wanted = linktype.strip().upper()
        for prefix in ("DLT_", "LINKTYPE_"):
            wanted = wanted.removeprefix(prefix)
        for names in (LINKTYPE_NAMES, LINKTYPE_CAPTURE_ONLY_NAMES):
            for value, (name, _) in names.items():
                if name == wanted and value not in (12, 14):
                    return value
        raise ValueError(f"invalid data link type {linktype}: give a name as tcpdump -L "
                         f"lists them (EN10MB, RAW, LINUX_SLL, LINUX_SLL2, ...)")
    try:
        value = operator.index(linktype)
    except TypeError:
        value = -1
    if isinstance(linktype, bool) or not 0 <= value < 1 << 16:
        raise ValueError(f"a link type is a LINKTYPE_* number or tcpdump's name for it, "
                         f"got {linktype!r}")
    return value


def linktype_description(linktype: int) -> str:
    """tcpdump's "EN10MB (Ethernet)" for a link type, or its bare name if tcpdump has none."""
    entry = LINKTYPE_NAMES.get(int(linktype)) or LINKTYPE_CAPTURE_ONLY_NAMES.get(int(linktype))
    return f"{entry[0]} ({entry[1]})" if entry else linktype_name(linktype)


def decoded_linktype_names() -> str:
    """The link types ringcap decodes, by tcpdump's names, sorted and joined
    for a message: ``"EN10MB, IPV4, IPV6, ..., RAW"``."""
    return ", ".join(sorted({name for name, _ in LINKTYPE_NAMES.values()}))

# Values of `pkttype` (linux/if_packet.h).
PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3
PACKET_OUTGOING = 4
PACKET_LOOPBACK = 5
PACKET_USER = 6
PACKET_KERNEL = 7

# Bits of `status` (linux/if_packet.h) that are meaningful on received packets.
TP_STATUS_USER = 1 << 0
TP_STATUS_COPY = 1 << 1
TP_STATUS_LOSING = 1 << 2
TP_STATUS_CSUMNOTREADY = 1 << 3
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_BLK_TMO = 1 << 5
TP_STATUS_VLAN_TPID_VALID = 1 << 6
TP_STATUS_CSUM_VALID = 1 << 7
TP_STATUS_GSO_TCP = 1 << 8
TP_STATUS_TS_SOFTWARE = 1 << 29
TP_STATUS_TS_SYS_HARDWARE = 1 << 30
TP_STATUS_TS_RAW_HARDWARE = 1 << 31

# Where a packet's timestamp came from (Batch.ts_source), named by TS_SOURCE_NAMES.
TS_NONE = 0          # no source bit: the kernel read its clock when it copied the packet
TS_SOFTWARE = 1      # stamped by the stack on receive (TP_STATUS_TS_SOFTWARE)
TS_HARDWARE = 2      # stamped by the network card (TP_STATUS_TS_RAW_HARDWARE / SYS_HARDWARE)
TS_SOURCE_NAMES = ("none", "software", "hardware")
