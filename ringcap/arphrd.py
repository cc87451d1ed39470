"""The link type a capture on a device of each ARPHRD_* hardware type has:
libpcap's choice (pcap-linux.c's map_arphrd_to_dlt), which ringcap follows so
that its files are tcpdump's.  Data, used by the ring."""
from __future__ import annotations

from .linktypes import LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_RAW

__all__ = ["COOKED_LINKTYPES", "LINKTYPE_CAN_SOCKETCAN", "linktype_for_hatype", "linktypes_offered"]


# ARPHRD_* hardware types (linux/if_arp.h) whose frames start with the network
# header, which libpcap captures as raw IP (its map_arphrd_to_dlt; checked
# against tcpdump on a tun device given each type: tests/test_linktypes_devices.py).
# ip6tnl (TUNNEL6), gre (IPGRE) and ip6gre (IP6GRE) are not among them: libpcap
# captures those cooked (a gre device without a remote has a link-layer header,
# the outer IP and GRE headers), and so does ringcap.
_ARPHRD_RAW_IP = frozenset({
    0xFFFE,       # ARPHRD_NONE: tun, WireGuard
    768,          # ARPHRD_TUNNEL (ipip)
    776,          # ARPHRD_SIT
    256, 257, 258, 259, 264,   # SLIP, CSLIP, SLIP6, CSLIP6, ADAPT
    518, 15,      # ARPHRD_RAWHDLC, ARPHRD_DLCI
})
_ARPHRD_ETHERNET = frozenset({1, 23, 772})     # ARPHRD_ETHER, ARPHRD_METRICOM, ARPHRD_LOOPBACK
# Hardware types whose frames libpcap captures as they are, with a link type of
# their own (map_arphrd_to_dlt; each checked against tcpdump 4.99/libpcap 1.10
# on a tun device given the type).  ringcap captures them so and writes them,
# but does not decode them.
LINKTYPE_CAN_SOCKETCAN = 227
_ARPHRD_OWN_LINKTYPE = {
    280: LINKTYPE_CAN_SOCKETCAN,    # ARPHRD_CAN (can, vcan): CAN IDs in network byte order
    3: 202,                     # ARPHRD_AX25: AX25_KISS
    6: 6, 800: 6,               # ARPHRD_IEEE802, IEEE802_TR: IEEE802 (token ring)
    7: 129,                     # ARPHRD_ARCNET: ARCNET_LINUX
    513: 104,                   # ARPHRD_CISCO (HDLC): C_HDLC
    770: 107,                   # ARPHRD_FRAD: FRELAY
    773: 114,                   # ARPHRD_LOCALTLK: LTALK
    774: 10,                    # ARPHRD_FDDI: FDDI
    784: 224, 785: 224, 786: 224, 787: 224,     # ARPHRD_FCPP, FCAL, FCPL, FCFABRIC: FC_2
    801: 105,                   # ARPHRD_IEEE80211: IEEE802_11
    802: 119,                   # ARPHRD_IEEE80211_PRISM: PRISM_HEADER
    803: 127,                   # ARPHRD_IEEE80211_RADIOTAP (monitor mode): IEEE802_11_RADIO
    804: 230,                   # ARPHRD_IEEE802154: IEEE802_15_4_NOFCS
    826: 271,                   # ARPHRD_VSOCKMON: VSOCK
}
# Hardware types libpcap captures cooked but writes with a link type of their
# own, whose records start with a 16-byte LINUX_SLL header (the netlink family
# is its protocol field, for nlmon devices).
_ARPHRD_COOKED_V1 = {
    824: 253,                   # ARPHRD_NETLINK (nlmon): NETLINK
    783: 144,                   # ARPHRD_IRDA: LINUX_IRDA
    8445: 177,                  # ARPHRD_LAPD: LINUX_LAPD
}
COOKED_LINKTYPES = frozenset({LINKTYPE_LINUX_SLL2, LINKTYPE_LINUX_SLL,
                              *_ARPHRD_COOKED_V1.values()})


def linktype_for_hatype(hatype: int) -> int:
    """The link type ringcap (like libpcap) captures an interface of ARPHRD_*
    type ``hatype`` with: Ethernet for Ethernet and loopback, raw IP for
    tun, WireGuard, ipip, sit and SLIP, libpcap's own link type for the
    kinds it captures as they are (802.11 monitor mode, token ring, FDDI,
    Cisco HDLC, 802.15.4, vsockmon, ...: written, not decoded; nlmon's
    NETLINK, IrDA and LAPD records start with a LINUX_SLL header), and a Linux
    cooked capture (LINUX_SLL2, built from the kernel's metadata) for
    everything else (PPP, gre, ip6gre, ip6tnl, ...): the bytes are then
    always what the link type says."""
    if hatype in _ARPHRD_ETHERNET:
        return LINKTYPE_ETHERNET
    if hatype in _ARPHRD_RAW_IP:
        return LINKTYPE_RAW
    return _ARPHRD_OWN_LINKTYPE.get(hatype) or _ARPHRD_COOKED_V1.get(hatype, LINKTYPE_LINUX_SLL2)


def linktypes_offered(linktype: int) -> tuple[int, ...]:
    """The link types a capture whose default is ``linktype`` can be switched
    to (tcpdump's ``-y``, listed by ``-L``), in libpcap's order: a cooked
    capture (``any``, PPP, gre, ...) as LINUX_SLL or LINUX_SLL2, every other
    kind as its own.  (libpcap also offers DOCSIS on Ethernet, for cable
    modem taps, which ringcap does not.)"""
    if linktype == LINKTYPE_LINUX_SLL2:
        return (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2)
    return (linktype,)
