"""Names and text for one value at a time, without numpy: protocol numbers
(:mod:`ringcap.names` maps them over columns), IP addresses
(:mod:`ringcap.addresses`) and HTTP hosts as server names.  What
``ringcap stats FILE`` prints goes through here, whether or not it read
the file in numpy batches."""
from __future__ import annotations

import _socket      # (socket's own C module: `import socket` makes its enums, 13 M
                    # instructions, ~3 ms of every `ringcap -r` and `stats` start-up)

#: IANA protocol numbers -> the lowercase keywords tcpdump and Wireshark use.
IP_PROTOCOLS: dict[int, str] = {
    1: "icmp", 2: "igmp", 4: "ipip", 6: "tcp", 8: "egp", 17: "udp",
    27: "rdp", 33: "dccp", 41: "ipv6", 43: "ipv6-route", 44: "ipv6-frag", 46: "rsvp",
    47: "gre", 50: "esp", 51: "ah", 58: "icmpv6", 59: "ipv6-nonxt", 60: "ipv6-opts",
    88: "eigrp", 89: "ospf", 103: "pim", 112: "vrrp", 115: "l2tp", 132: "sctp",
    135: "mobility", 136: "udplite", 137: "mpls-in-ip", 143: "ethernet",
}

#: Ethernet types (host order) -> short names.
ETHERTYPES: dict[int, str] = {
    0x0800: "ipv4", 0x0806: "arp", 0x0842: "wol", 0x22F0: "avtp", 0x6558: "teb",
    0x8035: "rarp", 0x809B: "appletalk", 0x8100: "vlan", 0x8137: "ipx", 0x8808: "ethernet-flow",
    0x8809: "slow", 0x86DD: "ipv6", 0x8847: "mpls", 0x8848: "mpls-multicast",
    0x8863: "pppoe-discovery", 0x8864: "pppoe", 0x888E: "eapol", 0x88A8: "qinq",
    0x88B5: "local-experimental-1", 0x88B6: "local-experimental-2", 0x88CC: "lldp",
    0x88E5: "macsec", 0x88F7: "ptp", 0x8902: "cfm", 0x8906: "fcoe", 0x9000: "loopback",
}


def ip_proto_name(value: int) -> str:
    """The name of an IP protocol number (``"none"`` for 0, the number for one without a name)."""
    # 0 is what the decoder reports for frames without an IP header (it follows
    # IPv6 extension headers, so hop-by-hop options never end up here).
    return "none" if value == 0 else IP_PROTOCOLS.get(value, str(value))


def ethertype_name(value: int) -> str:
    """The name of an Ethernet type (``"none"`` for 0, ``0x....`` for one without a name)."""
    if value in ETHERTYPES:
        return ETHERTYPES[value]
    return "none" if value == 0 else f"0x{value:04x}"


def ip_text(raw: bytes) -> str:
    """An address column's 16 bytes as text: IPv4-mapped ones as dotted quads."""
    # inet_ntop: ~4x ipaddress's speed, same text, but for a zero first 96
    # bits (::, ::1, IPv4-compatible), which it prints as ::a.b.c.d: those
    # get ipaddress's text here (importing ipaddress was 5.5 M instructions
    # of `ringcap stats`'s start-up)
    if raw[:12] == b"\0\0\0\0\0\0\0\0\0\0\xff\xff":
        return _socket.inet_ntop(_socket.AF_INET, raw[12:])
    if len(raw) != 16:
        raise ValueError(f"an IP address column's entry is 16 bytes, not {len(raw)}")
    if not any(raw[:12]):
        high, low = raw[12] << 8 | raw[13], raw[14] << 8 | raw[15]
        return f"::{high:x}:{low:x}" if high else (f"::{low:x}" if low else "::")
    return _socket.inet_ntop(_socket.AF_INET6, raw)


def host_name(host: str) -> str:
    """An HTTP ``Host`` value as a server name: lower-case, without a port
    (``"Web.Example:8080"`` -> ``"web.example"``, ``"[2001:db8::1]:80"`` -> ``"[2001:db8::1]"``)."""
    host = host.lower()
    if host.startswith("[") and "]" in host:
        return host[:host.index("]") + 1]
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host
