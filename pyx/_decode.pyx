# Header decoding and flow aggregation for ringcap batches.
#
# decode_batch walks every frame once, without the GIL, and writes one record
# per packet into caller-allocated columns, through VLAN tags, MPLS label
# stacks and tunnels (GRE, ERSPAN, VXLAN, Geneve, IP-in-IP) to the innermost
# packet.  Every read is preceded by a length check against caplen; debug
# builds also verify each read (see RINGCAP_CHECKED_READS) and count any that
# would overrun.  Malformed input is reported through per-packet flag bits,
# never by an exception.
#
# flow_hashes gives both directions of a conversation the same 64-bit hash;
# aggregate_flows folds packets into per-flow, per-direction counters through
# an open-addressing table that grows with the number of flows.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t, INT64_MIN, uintptr_t
from libc.string cimport memcpy, memset, memcmp
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from libc.stdlib cimport malloc, free, qsort
from cpython.buffer cimport (PyObject_CheckBuffer, PyObject_GetBuffer, PyBuffer_Release,
                             PyBUF_C_CONTIGUOUS, PyBUF_WRITABLE)

from includes.decode_defs cimport *

# Re-exported to Python by ringcap/decode.py.
FLAG_BITS = {
    "TRUNCATED_L2": F_TRUNCATED_L2,
    "TRUNCATED_L3": F_TRUNCATED_L3,
    "TRUNCATED_L4": F_TRUNCATED_L4,
    "TRUNCATED_PAYLOAD": F_TRUNCATED_PAYLOAD,
    "BAD_IP_VERSION": F_BAD_IP_VERSION,
    "BAD_IHL": F_BAD_IHL,
    "BAD_IP_LENGTH": F_BAD_IP_LENGTH,
    "BAD_L4_LENGTH": F_BAD_L4_LENGTH,
    "FRAGMENT": F_FRAGMENT,
    "NONFIRST_FRAGMENT": F_NONFIRST_FRAGMENT,
    "VLAN": F_VLAN,
    "QINQ": F_QINQ,
    "VLAN_FROM_METADATA": F_VLAN_FROM_METADATA,
    "IPV6_EXT_LIMIT": F_IPV6_EXT_LIMIT,
    "VLAN_LIMIT": F_VLAN_LIMIT,
    "TUNNEL": F_TUNNEL,
    "TRUNCATED_INNER": F_TRUNCATED_INNER,
    "TUNNEL_LIMIT": F_TUNNEL_LIMIT,
    "IP_LENGTH_ZERO": F_IP_LENGTH_ZERO,
    "LLC": F_LLC,
    "MPLS": F_MPLS,
    "BAD_TCP_OPTIONS": F_BAD_TCP_OPTIONS,
    "BAD_TUNNEL": F_BAD_TUNNEL,
}
TUNNEL_TYPES = {
    "MPLS": TUNNEL_MPLS, "GRE": TUNNEL_GRE, "VXLAN": TUNNEL_VXLAN, "GENEVE": TUNNEL_GENEVE,
    "IPIP": TUNNEL_IPIP, "ERSPAN": TUNNEL_ERSPAN, "PIM": TUNNEL_PIM,
}
TCP_OPTION_BITS = {
    "MSS": TCPOPT_MSS, "WSCALE": TCPOPT_WSCALE, "SACK_PERM": TCPOPT_SACK_PERM,
    "SACK": TCPOPT_SACK, "TIMESTAMP": TCPOPT_TIMESTAMP,
}
MAX_TUNNELS = MAX_TUNNEL_DEPTH
MAX_LABELS = MAX_MPLS_LABELS
CHECKED_READS = bool(RINGCAP_CHECKED_READS)
MAX_IPV6_EXTENSION_HEADERS = MAX_IPV6_EXT_HEADERS
# Every Headers column: (name, bytes per value, values per packet), in the order
# of _chunk_fields.  ringcap/decode.py builds its dtypes from it.
COLUMN_LAYOUT = (
    ('eth_src', 1, 6),
    ('eth_dst', 1, 6),
    ('ethertype', 2, 1),
    ('vlan_outer', 2, 1),
    ('vlan_inner', 2, 1),
    ('l3_offset', 2, 1),
    ('ip_version', 1, 1),
    ('ip_src', 1, 16),
    ('ip_dst', 1, 16),
    ('ipv4_src', 4, 1),
    ('ipv4_dst', 4, 1),
    ('ip_proto', 1, 1),
    ('ttl', 1, 1),
    ('ip_len', 4, 1),
    ('frag_offset', 2, 1),
    ('more_fragments', 1, 1),
    ('l4_offset', 2, 1),
    ('sport', 2, 1),
    ('dport', 2, 1),
    ('tcp_flags', 2, 1),
    ('tcp_seq', 4, 1),
    ('tcp_ack', 4, 1),
    ('tcp_window', 2, 1),
    ('icmp_type', 1, 1),
    ('icmp_code', 1, 1),
    ('payload_offset', 2, 1),
    ('payload_len', 4, 1),
    ('flags', 4, 1),
    ('tunnel_type', 1, 1),
    ('tunnel_id', 4, 1),
    ('tunnel_depth', 1, 1),
    ('inner_ethertype', 2, 1),
    ('outer_ip_version', 1, 1),
    ('outer_ip_src', 1, 16),
    ('outer_ip_dst', 1, 16),
    ('outer_ip_proto', 1, 1),
    ('outer_l3_offset', 2, 1),
    ('mpls_label', 4, 1),
    ('mpls_tc', 1, 1),
    ('mpls_bos', 1, 1),
    ('mpls_ttl', 1, 1),
    ('mpls_labels', 1, 1),
    ('gre_flags', 2, 1),
    ('gre_seq', 4, 1),
    ('geneve_opt_len', 2, 1),
    ('eth_len', 2, 1),
    ('llc_dsap', 1, 1),
    ('llc_ssap', 1, 1),
    ('arp_op', 2, 1),
    ('arp_sha', 1, 6),
    ('arp_spa', 4, 1),
    ('arp_tha', 1, 6),
    ('arp_tpa', 4, 1),
    ('ip_dscp', 1, 1),
    ('ip_ecn', 1, 1),
    ('ipv6_flow_label', 4, 1),
    ('tcp_options', 1, 1),
    ('tcp_mss', 2, 1),
    ('tcp_wscale', 1, 1),
    ('tcp_sack_blocks', 1, 1),
    ('tcp_tsval', 4, 1),
    ('tcp_tsecr', 4, 1),
    ('icmp_id', 2, 1),
    ('icmp_seq', 2, 1),
    ('sll_ifindex', 4, 1),
    ('sll_hatype', 2, 1),
    ('sll_pkttype', 1, 1),
    ('sll_halen', 1, 1),
    ('sll_addr', 1, 8),
)
# Link types (Batch.linktype values) decode_into knows; others are refused.
LINKTYPES = {
    "NULL": LINKTYPE_NULL, "EN10MB": LINKTYPE_ETHERNET, "RAW": LINKTYPE_RAW,
    "LOOP": LINKTYPE_LOOP, "LINUX_SLL": LINKTYPE_LINUX_SLL, "IPV4": LINKTYPE_IPV4,
    "IPV6": LINKTYPE_IPV6, "LINUX_SLL2": LINKTYPE_LINUX_SLL2,
}
# Raw IP as older files label it (DLT_RAW's platform values).
RAW_ALIASES = (LINKTYPE_RAW_12, LINKTYPE_RAW_14)
# What the 5-tuple path writes (see decode(..., columns=)).
FIVE_TUPLE_COLUMNS = ("ip_version", "ip_src", "ip_dst", "ip_proto", "sport", "dport", "flags")
_FIVE_TUPLE_SET = frozenset(FIVE_TUPLE_COLUMNS)
# What else the 5-tuple path decodes when asked (a flow meter's columns, and the
# payload the application pass reads): any other column takes the general path.
_FIVE_TUPLE_PATH_COLUMNS = _FIVE_TUPLE_SET | {
    "tcp_flags", "tcp_seq", "payload_len", "payload_offset", "tunnel_type", "tunnel_id",
    "vlan_outer", "vlan_inner", "ethertype"}

cdef const uint8_t *_V4_MAPPED_PREFIX = b"\0\0\0\0\0\0\0\0\0\0\xff\xff"
cdef Py_ssize_t _overruns = 0   # debug builds: reads that would have passed caplen
cdef uint8_t _no_bytes[1]


def overrun_count():
    """Reads past caplen seen by a debug build since the last reset (always 0 in release)."""
    return _overruns


def reset_overrun_count():
    global _overruns
    _overruns = 0


def _test_checked_read(const uint8_t[::1] buf, Py_ssize_t cap, Py_ssize_t k):
    """Tests only: rd16 of buf at k with caplen cap (counts an overrun in debug builds)."""
    if cap > buf.shape[0] or k < 0 or k + 2 > buf.shape[0]:
        raise ValueError("k and cap must lie inside buf")
    return rd16(&buf[0], k, cap)


# ---------------------------------------------------------------- reading bytes
cdef inline bint _overrun(Py_ssize_t k, Py_ssize_t width, Py_ssize_t cap) noexcept nogil:
    global _overruns
    if k < 0 or k + width > cap:
        _overruns += 1
        return True
    return False


cdef inline uint8_t rd8(const uint8_t *p, Py_ssize_t k, Py_ssize_t cap) noexcept nogil:
    if RINGCAP_CHECKED_READS and _overrun(k, 1, cap):
        return 0
    return p[k]


cdef inline uint16_t rd16(const uint8_t *p, Py_ssize_t k, Py_ssize_t cap) noexcept nogil:
    if RINGCAP_CHECKED_READS and _overrun(k, 2, cap):
        return 0
    return (<uint16_t>p[k] << 8) | p[k + 1]


cdef inline uint32_t rd32(const uint8_t *p, Py_ssize_t k, Py_ssize_t cap) noexcept nogil:
    if RINGCAP_CHECKED_READS and _overrun(k, 4, cap):
        return 0
    return ((<uint32_t>p[k] << 24) | (<uint32_t>p[k + 1] << 16)
            | (<uint32_t>p[k + 2] << 8) | p[k + 3])


cdef inline void rdcopy(uint8_t *dst, const uint8_t *p, Py_ssize_t k, Py_ssize_t width,
                        Py_ssize_t cap) noexcept nogil:
    if RINGCAP_CHECKED_READS and _overrun(k, width, cap):
        return
    memcpy(dst, p + k, width)


# ---------------------------------------------------------------- one packet
# A packet is decoded layer by layer into row j of a HeaderChunk (every field
# that is read is zero on entry: _fields_read).  Each function gets the frame
# (p, cap: never read at or past cap) and `end`, where the enclosing packet
# ends on the wire (the frame's length,
# or an outer IP/UDP payload's end): lengths claimed past it are flagged.
# Encapsulations re-enter _network for the inner packet after _enter_tunnel
# moved the outer IP fields to outer_* and cleared the rest; depth counts
# them, so recursion stops at MAX_TUNNEL_DEPTH.

cdef inline bint _is_vlan_tpid(uint16_t ethertype) noexcept nogil:
    return ethertype == ETHERTYPE_VLAN or ethertype == ETHERTYPE_QINQ or \
        ethertype == ETHERTYPE_QINQ_OLD


cdef inline bint _is_ipv6_ext(uint8_t nh) noexcept nogil:
    return nh == IPPROTO_HOPOPTS or nh == IPPROTO_ROUTING or nh == IPPROTO_FRAGMENT or \
        nh == IPPROTO_DSTOPTS or nh == IPPROTO_AH or nh == IPPROTO_MH or \
        nh == IPPROTO_HIP or nh == IPPROTO_SHIM6


cdef inline void _tcp_options(const uint8_t *p, Py_ssize_t cap, Py_ssize_t l4, Py_ssize_t hlen,
                              HeaderChunk *c, Py_ssize_t j) noexcept nogil:
    # IN: a TCP header at l4 of hlen bytes (> 20); options are read as far
    # as they were captured.  OUT c row j: tcp_options bits and values.
    cdef Py_ssize_t k = l4 + 20, hend = l4 + hlen, end = l4 + hlen, olen
    cdef uint8_t kind
    if end > cap:
        end = cap
    while k < end:
        kind = rd8(p, k, cap)
        if kind == 0:          # end of options
            return
        if kind == 1:          # no-operation
            k += 1
            continue
        if k + 2 > end:        # cut by the capture, or running past the header
            if k + 2 > hend:
                c.flags[j] |= F_BAD_TCP_OPTIONS
            return
        olen = rd8(p, k + 1, cap)
        if olen < 2:
            c.flags[j] |= F_BAD_TCP_OPTIONS
            return
        if k + olen > end:
            if k + olen > hend:
                c.flags[j] |= F_BAD_TCP_OPTIONS
            return
        if kind == 2 and olen == 4:
            c.tcp_options[j] |= TCPOPT_MSS
            c.tcp_mss[j] = rd16(p, k + 2, cap)
        elif kind == 3 and olen == 3:
            c.tcp_options[j] |= TCPOPT_WSCALE
            c.tcp_wscale[j] = rd8(p, k + 2, cap)
        elif kind == 4 and olen == 2:
            c.tcp_options[j] |= TCPOPT_SACK_PERM
        elif kind == 5 and olen >= 10 and (olen - 2) % 8 == 0:
            c.tcp_options[j] |= TCPOPT_SACK
            c.tcp_sack_blocks[j] = <uint8_t>((olen - 2) // 8)
        elif kind == 8 and olen == 10:
            c.tcp_options[j] |= TCPOPT_TIMESTAMP
            c.tcp_tsval[j] = rd32(p, k + 2, cap)
            c.tcp_tsecr[j] = rd32(p, k + 6, cap)
        elif 2 <= kind <= 5 or kind == 8:
            c.flags[j] |= F_BAD_TCP_OPTIONS
        k += olen


cdef void _transport(const uint8_t *p, Py_ssize_t cap, Py_ssize_t l4, Py_ssize_t ip_end,
                     uint8_t proto, uint8_t icmp_proto, HeaderChunk *c, Py_ssize_t j,
                     int depth, uint32_t opts) noexcept nogil:
    # IN p/cap: the frame; l4: transport start; ip_end: end of the IP packet
    # (may lie past cap); OUT c row j: transport and payload fields, flags,
    # or the encapsulated packet's.
    cdef Py_ssize_t hlen, ulen
    cdef uint8_t icmp_type
    if proto == IPPROTO_GRE:
        c.l4_offset[j] = <uint16_t>l4
        _gre(p, cap, l4, ip_end, c, j, depth, opts)
        return
    if proto == IPPROTO_PIM and l4 + 8 <= ip_end and l4 + 9 <= cap \
            and rd8(p, l4, cap) == 0x21 and (rd8(p, l4 + 8, cap) >> 4 == 4
                                              or rd8(p, l4 + 8, cap) >> 4 == 6):
        # PIMv2 Register (RFC 7761 4.9.3): 4-byte PIM header, 4 bytes of
        # flags, then the multicast packet, IPv4 or IPv6 by its version
        if _enter_tunnel(c, j, TUNNEL_PIM, 0, depth, opts):
            _network(p, cap, ip_end, l4 + 8, ETHERTYPE_IPV4 if rd8(p, l4 + 8, cap) >> 4 == 4
                     else ETHERTYPE_IPV6, c, j, depth + 1, opts)
        else:
            c.l4_offset[j] = <uint16_t>l4
            c.payload_offset[j] = <uint16_t>(l4 + 8)
            c.payload_len[j] = <uint32_t>(ip_end - l4 - 8)
        return
    if proto == IPPROTO_IPIP or proto == IPPROTO_IPV6:
        if _enter_tunnel(c, j, TUNNEL_IPIP, 0, depth, opts):
            _network(p, cap, ip_end, l4, ETHERTYPE_IPV4 if proto == IPPROTO_IPIP
                     else ETHERTYPE_IPV6, c, j, depth + 1, opts)
        else:
            c.l4_offset[j] = <uint16_t>l4
            c.payload_offset[j] = <uint16_t>l4
            c.payload_len[j] = <uint32_t>(ip_end - l4)
        return
    c.l4_offset[j] = <uint16_t>l4
    if proto == IPPROTO_TCP:
        hlen = 20
    elif proto == IPPROTO_UDP or proto == icmp_proto:
        hlen = 8
    elif proto == IPPROTO_SCTP:
        hlen = 12
    else:
        c.payload_offset[j] = <uint16_t>l4
        c.payload_len[j] = <uint32_t>(ip_end - l4)
        return
    if l4 + hlen > ip_end:
        c.flags[j] |= F_BAD_L4_LENGTH
        return
    if l4 + hlen > cap:
        c.flags[j] |= F_TRUNCATED_L4
        return
    if proto == icmp_proto:
        icmp_type = rd8(p, l4, cap)
        c.icmp_type[j] = icmp_type
        c.icmp_code[j] = rd8(p, l4 + 1, cap)
        if (icmp_proto == IPPROTO_ICMP and (icmp_type == 0 or icmp_type == 8)) or \
                (icmp_proto == IPPROTO_ICMPV6 and (icmp_type == 128 or icmp_type == 129)):
            c.icmp_id[j] = rd16(p, l4 + 4, cap)
            c.icmp_seq[j] = rd16(p, l4 + 6, cap)
    else:
        c.sport[j] = rd16(p, l4, cap)
        c.dport[j] = rd16(p, l4 + 2, cap)
    if proto == IPPROTO_TCP:
        c.tcp_seq[j] = rd32(p, l4 + 4, cap)
        c.tcp_ack[j] = rd32(p, l4 + 8, cap)
        c.tcp_flags[j] = rd16(p, l4 + 12, cap) & 0x01FF
        c.tcp_window[j] = rd16(p, l4 + 14, cap)
        hlen = (rd8(p, l4 + 12, cap) >> 4) * 4
        if hlen < 20 or l4 + hlen > ip_end:
            c.flags[j] |= F_BAD_L4_LENGTH
            return
        if hlen > 20 and (opts & OPT_TCP_OPTIONS):
            _tcp_options(p, cap, l4, hlen, c, j)
        if l4 + hlen > cap:
            c.flags[j] |= F_TRUNCATED_L4
            return
    elif proto == IPPROTO_UDP:
        # The UDP length field gives the payload, also for a first fragment
        # (whose datagram continues in later fragments).
        ulen = rd16(p, l4 + 4, cap)
        if ulen < 8:
            c.flags[j] |= F_BAD_L4_LENGTH
            return
        if l4 + ulen > ip_end and not (c.flags[j] & (F_FRAGMENT | F_BAD_IP_LENGTH
                                                     | F_IP_LENGTH_ZERO)):
            c.flags[j] |= F_BAD_L4_LENGTH
            return
        # A first fragment's datagram continues in later fragments; past an
        # IP length that ran past the frame the frame holds fewer bytes
        # (TRUNCATED_PAYLOAD says so).  Either way the UDP length counts.
        if not (c.flags[j] & F_FRAGMENT) and (c.dport[j] == UDP_PORT_VXLAN
                                              or c.dport[j] == UDP_PORT_GENEVE):
            c.payload_offset[j] = <uint16_t>(l4 + 8)
            c.payload_len[j] = <uint32_t>(ulen - 8)
            if l4 + ulen < ip_end:      # the tunnelled frame ends with the datagram,
                ip_end = l4 + ulen      # or with the frame if that comes first
            if c.dport[j] == UDP_PORT_VXLAN:
                _vxlan(p, cap, l4 + 8, ip_end, c, j, depth, opts)
            else:
                _geneve(p, cap, l4 + 8, ip_end, c, j, depth, opts)
            return
        ip_end = l4 + ulen
    c.payload_offset[j] = <uint16_t>(l4 + hlen)
    c.payload_len[j] = <uint32_t>(ip_end - l4 - hlen)


cdef inline Py_ssize_t _ip_end(Py_ssize_t l3, Py_ssize_t claimed, Py_ssize_t end,
                               HeaderChunk *c, Py_ssize_t j) noexcept nogil:
    # Where the IP packet at l3 is decoded to: its claimed length, or the
    # frame's end when that length runs past it (flagged) or is 0 (TSO/GRO).
    if claimed == 0:
        c.flags[j] |= F_IP_LENGTH_ZERO
        return end
    if l3 + claimed > end:
        c.flags[j] |= F_BAD_IP_LENGTH
        return end
    return l3 + claimed


cdef void _ipv4(const uint8_t *p, Py_ssize_t cap, Py_ssize_t end, Py_ssize_t l3,
                HeaderChunk *c, Py_ssize_t j, int depth, uint32_t opts) noexcept nogil:
    cdef Py_ssize_t ihl, ip_end
    cdef uint16_t frag
    cdef uint8_t tos
    cdef uint8_t *ip_src = c.ip_src + 16 * j
    cdef uint8_t *ip_dst = c.ip_dst + 16 * j
    if l3 + 20 > cap:
        c.flags[j] |= F_TRUNCATED_L3
        return
    if rd8(p, l3, cap) >> 4 != 4:
        c.flags[j] |= F_BAD_IP_VERSION
        return
    c.ip_version[j] = 4
    ihl = (rd8(p, l3, cap) & 0x0F) * 4
    tos = rd8(p, l3 + 1, cap)
    c.ip_dscp[j] = tos >> 2
    c.ip_ecn[j] = tos & 3
    c.ip_len[j] = rd16(p, l3 + 2, cap)
    frag = rd16(p, l3 + 6, cap)
    c.frag_offset[j] = (frag & 0x1FFF) * 8
    c.more_fragments[j] = (frag >> 13) & 1
    c.ttl[j] = rd8(p, l3 + 8, cap)
    c.ip_proto[j] = rd8(p, l3 + 9, cap)
    c.ipv4_src[j] = rd32(p, l3 + 12, cap)
    c.ipv4_dst[j] = rd32(p, l3 + 16, cap)
    memcpy(ip_src, _V4_MAPPED_PREFIX, 12)
    memcpy(ip_dst, _V4_MAPPED_PREFIX, 12)
    rdcopy(ip_src + 12, p, l3 + 12, 4, cap)
    rdcopy(ip_dst + 12, p, l3 + 16, 4, cap)
    if l3 + <Py_ssize_t>c.ip_len[j] > cap:
        c.flags[j] |= F_TRUNCATED_PAYLOAD
    if c.more_fragments[j] or c.frag_offset[j]:
        c.flags[j] |= F_FRAGMENT
        if c.frag_offset[j]:
            c.flags[j] |= F_NONFIRST_FRAGMENT
    if ihl < 20:
        c.flags[j] |= F_BAD_IHL
        return
    if c.ip_len[j] and c.ip_len[j] < ihl:
        c.flags[j] |= F_BAD_IP_LENGTH
        return
    ip_end = _ip_end(l3, c.ip_len[j], end, c, j)
    if c.ip_len[j] == 0:
        c.ip_len[j] = <uint32_t>(ip_end - l3)     # as Wireshark: the length the frame gives
    if ip_end > cap:
        c.flags[j] |= F_TRUNCATED_PAYLOAD
    if l3 + ihl > ip_end:     # a zero length on a frame too short for the header
        c.flags[j] |= F_BAD_IP_LENGTH
        return
    if l3 + ihl > cap:
        c.flags[j] |= F_TRUNCATED_L3
        return
    if c.frag_offset[j]:
        c.payload_offset[j] = <uint16_t>(l3 + ihl)
        c.payload_len[j] = <uint32_t>(ip_end - l3 - ihl)
        return
    if c.more_fragments[j] and c.ip_proto[j] != IPPROTO_UDP and c.ip_proto[j] != IPPROTO_TCP \
            and c.ip_proto[j] != IPPROTO_ICMP and c.ip_proto[j] != IPPROTO_SCTP:
        # a first fragment of an encapsulation: not entered
        c.l4_offset[j] = <uint16_t>(l3 + ihl)
        c.payload_offset[j] = <uint16_t>(l3 + ihl)
        c.payload_len[j] = <uint32_t>(ip_end - l3 - ihl)
        return
    _transport(p, cap, l3 + ihl, ip_end, c.ip_proto[j], IPPROTO_ICMP, c, j, depth, opts)


cdef void _ipv6(const uint8_t *p, Py_ssize_t cap, Py_ssize_t end, Py_ssize_t l3,
                HeaderChunk *c, Py_ssize_t j, int depth, uint32_t opts) noexcept nogil:
    cdef Py_ssize_t ip_end, cur, hlen
    cdef uint8_t nh
    cdef int count = 0
    cdef uint16_t frag
    cdef uint32_t first_word
    if l3 + 40 > cap:
        c.flags[j] |= F_TRUNCATED_L3
        return
    if rd8(p, l3, cap) >> 4 != 6:
        c.flags[j] |= F_BAD_IP_VERSION
        return
    c.ip_version[j] = 6
    first_word = rd32(p, l3, cap)
    c.ip_dscp[j] = (first_word >> 22) & 0x3F
    c.ip_ecn[j] = (first_word >> 20) & 3
    c.ipv6_flow_label[j] = first_word & 0xFFFFF
    c.ip_len[j] = 40 + <uint32_t>rd16(p, l3 + 4, cap)
    nh = rd8(p, l3 + 6, cap)
    c.ip_proto[j] = nh
    c.ttl[j] = rd8(p, l3 + 7, cap)
    rdcopy(c.ip_src + 16 * j, p, l3 + 8, 16, cap)
    rdcopy(c.ip_dst + 16 * j, p, l3 + 24, 16, cap)
    if l3 + <Py_ssize_t>c.ip_len[j] > cap:
        c.flags[j] |= F_TRUNCATED_PAYLOAD
    if c.ip_len[j] == 40 and nh != IPPROTO_NONE and end > l3 + 40:
        ip_end = _ip_end(l3, 0, end, c, j)    # payload length 0 (jumbogram, TSO)
        c.ip_len[j] = <uint32_t>(ip_end - l3)
    else:
        ip_end = _ip_end(l3, c.ip_len[j], end, c, j)
    if ip_end > cap:
        c.flags[j] |= F_TRUNCATED_PAYLOAD
    cur = l3 + 40
    # ip_proto follows the chain: where the chain stops (cut, limit, bad
    # length) it holds the extension header that could not be read.
    while _is_ipv6_ext(nh):
        if count == MAX_IPV6_EXT_HEADERS:
            c.flags[j] |= F_IPV6_EXT_LIMIT
            return
        if cur + 8 > ip_end:
            c.flags[j] |= F_BAD_IP_LENGTH
            return
        if cur + 8 > cap:
            c.flags[j] |= F_TRUNCATED_L3
            return
        if nh == IPPROTO_FRAGMENT:
            hlen = 8
            frag = rd16(p, cur + 2, cap)
            c.frag_offset[j] = frag & 0xFFF8
            c.more_fragments[j] = frag & 1
            c.flags[j] |= F_FRAGMENT
            if c.frag_offset[j]:
                c.flags[j] |= F_NONFIRST_FRAGMENT
        elif nh == IPPROTO_AH:
            hlen = (<Py_ssize_t>rd8(p, cur + 1, cap) + 2) * 4
        else:
            hlen = (<Py_ssize_t>rd8(p, cur + 1, cap) + 1) * 8
        if cur + hlen > ip_end:
            c.flags[j] |= F_BAD_IP_LENGTH
            return
        if cur + hlen > cap:
            c.flags[j] |= F_TRUNCATED_L3
            return
        nh = rd8(p, cur, cap)
        c.ip_proto[j] = nh
        cur += hlen
        count += 1
        if c.flags[j] & F_NONFIRST_FRAGMENT:
            c.payload_offset[j] = <uint16_t>cur
            c.payload_len[j] = <uint32_t>(ip_end - cur)
            return
    if nh == IPPROTO_NONE:
        return
    if c.more_fragments[j] and nh != IPPROTO_UDP and nh != IPPROTO_TCP \
            and nh != IPPROTO_ICMPV6 and nh != IPPROTO_SCTP:
        c.l4_offset[j] = <uint16_t>cur
        c.payload_offset[j] = <uint16_t>cur
        c.payload_len[j] = <uint32_t>(ip_end - cur)
        return
    _transport(p, cap, cur, ip_end, nh, IPPROTO_ICMPV6, c, j, depth, opts)


cdef inline void _arp(const uint8_t *p, Py_ssize_t cap, Py_ssize_t l3, HeaderChunk *c,
                      Py_ssize_t j) noexcept nogil:
    # Operation of any ARP; addresses of Ethernet/IPv4 ARP (RFC 826).  An
    # ARP packet is 8 bytes and two pairs of addresses of the lengths it
    # states (28 for Ethernet/IPv4): cut before its end, it is truncated.
    if l3 + 8 > cap:
        c.flags[j] |= F_TRUNCATED_L3
        return
    c.arp_op[j] = rd16(p, l3 + 6, cap)
    if l3 + 8 + 2 * (<Py_ssize_t>rd8(p, l3 + 4, cap) + rd8(p, l3 + 5, cap)) > cap:
        c.flags[j] |= F_TRUNCATED_L3
        return
    if rd16(p, l3, cap) != 1 or rd16(p, l3 + 2, cap) != ETHERTYPE_IPV4 \
            or rd8(p, l3 + 4, cap) != 6 or rd8(p, l3 + 5, cap) != 4:
        return
    rdcopy(c.arp_sha + 6 * j, p, l3 + 8, 6, cap)
    c.arp_spa[j] = rd32(p, l3 + 14, cap)
    rdcopy(c.arp_tha + 6 * j, p, l3 + 18, 6, cap)
    c.arp_tpa[j] = rd32(p, l3 + 24, cap)


cdef bint _enter_tunnel(HeaderChunk *c, Py_ssize_t j, uint8_t kind, uint32_t tunnel_id,
                        int depth, uint32_t opts) noexcept nogil:
    # An encapsulation of this kind starts here.  Records it in tunnel_*;
    # returns True when the inner packet is to be decoded, having moved the
    # current IP header to outer_* and cleared the network and transport
    # fields for it.
    c.tunnel_type[j] = kind
    c.tunnel_id[j] = tunnel_id
    if opts & OPT_OUTER:
        return False
    if depth >= MAX_TUNNEL_DEPTH:
        c.flags[j] |= F_TUNNEL_LIMIT
        return False
    c.flags[j] |= F_TUNNEL
    c.tunnel_depth[j] = <uint8_t>(depth + 1)
    if c.ip_version[j]:     # (an MPLS stack has no IP header of its own: keep the last one)
        c.outer_ip_version[j] = c.ip_version[j]
        c.outer_ip_proto[j] = c.ip_proto[j]
        c.outer_l3_offset[j] = c.l3_offset[j]
        memcpy(c.outer_ip_src + 16 * j, c.ip_src + 16 * j, 16)
        memcpy(c.outer_ip_dst + 16 * j, c.ip_dst + 16 * j, 16)
    memset(c.ip_src + 16 * j, 0, 16)
    memset(c.ip_dst + 16 * j, 0, 16)
    c.inner_ethertype[j] = 0
    c.l3_offset[j] = 0
    c.ip_version[j] = 0
    c.ip_proto[j] = 0
    c.ttl[j] = 0
    c.more_fragments[j] = 0
    c.ipv4_src[j] = 0
    c.ipv4_dst[j] = 0
    c.ip_len[j] = 0
    c.frag_offset[j] = 0
    c.l4_offset[j] = 0
    c.sport[j] = 0
    c.dport[j] = 0
    c.tcp_flags[j] = 0
    c.tcp_window[j] = 0
    c.tcp_seq[j] = 0
    c.tcp_ack[j] = 0
    c.payload_offset[j] = 0
    c.payload_len[j] = 0
    c.ip_dscp[j] = 0
    c.ip_ecn[j] = 0
    c.ipv6_flow_label[j] = 0
    return True


cdef void _gre(const uint8_t *p, Py_ssize_t cap, Py_ssize_t g, Py_ssize_t end,
               HeaderChunk *c, Py_ssize_t j, int depth, uint32_t opts) noexcept nogil:
    # GRE (RFC 2784/2890, and RFC 1701's routing) at g: checksum, key,
    # sequence and routing fields in any combination; IPv4, IPv6, Ethernet,
    # MPLS and ERSPAN payloads.  Version 1 (PPTP's enhanced GRE, carrying
    # PPP) is read, not entered.
    cdef uint16_t word, proto, sre_family
    cdef Py_ssize_t k = g + 4, inner
    cdef uint32_t key = 0, session
    cdef uint8_t kind = TUNNEL_GRE, sre_length, frame_type
    cdef int sres = 0
    if g + 4 > end:
        c.flags[j] |= F_BAD_L4_LENGTH
        return
    if g + 4 > cap:
        c.flags[j] |= F_TRUNCATED_L4
        return
    word = rd16(p, g, cap)
    proto = rd16(p, g + 2, cap)
    c.gre_flags[j] = word
    if word & 0x0007:            # version 1 (PPTP) or unknown: not entered
        c.tunnel_type[j] = TUNNEL_GRE
        return
    if word & 0xC000:            # checksum and offset: present with C or R (RFC 1701)
        k += 4
    if word & 0x2000:
        k += 4
    if word & 0x1000:
        k += 4
    if k > end:
        c.flags[j] |= F_BAD_L4_LENGTH
        return
    if k > cap:
        c.flags[j] |= F_TRUNCATED_L4
        return
    k = g + 4 + (4 if word & 0xC000 else 0)
    if word & 0x2000:
        key = rd32(p, k, cap)
        k += 4
    if word & 0x1000:
        c.gre_seq[j] = rd32(p, k, cap)
        k += 4
    if word & 0x4000:
        # source route entries: family(2) offset(1) length(1) and length
        # bytes, until the NULL entry (family 0, length 0)
        while True:
            if k + 4 > end or sres == 64:
                c.flags[j] |= F_BAD_TUNNEL
                c.tunnel_type[j] = TUNNEL_GRE
                return
            if k + 4 > cap:
                c.flags[j] |= F_TRUNCATED_L4
                c.tunnel_type[j] = TUNNEL_GRE
                return
            sre_family = rd16(p, k, cap)
            sre_length = rd8(p, k + 3, cap)
            if sre_family != 0 and sre_family != 0x0800 and sre_family != 0xC200:
                c.tunnel_type[j] = TUNNEL_GRE     # not RFC 1701/1702 routing: read, not entered
                c.tunnel_id[j] = key
                return
            k += 4 + sre_length
            sres += 1
            if sre_family == 0 and sre_length == 0:
                break
    c.payload_offset[j] = <uint16_t>k
    c.payload_len[j] = <uint32_t>(end - k)
    inner = k
    if proto == ETHERTYPE_ERSPAN_2 or proto == ETHERTYPE_ERSPAN_3:
        kind = TUNNEL_ERSPAN
        frame_type = 0
        if proto == ETHERTYPE_ERSPAN_2 and not (word & 0x1000):
            key = 0              # ERSPAN type I: no ERSPAN header
        else:
            if inner + 8 > end or (proto == ETHERTYPE_ERSPAN_3 and inner + 12 > end):
                c.flags[j] |= F_BAD_L4_LENGTH
                c.tunnel_type[j] = kind
                return
            if inner + 8 > cap or (proto == ETHERTYPE_ERSPAN_3 and inner + 12 > cap):
                c.flags[j] |= F_TRUNCATED_L4
                c.tunnel_type[j] = kind
                return
            session = rd16(p, inner + 2, cap) & 0x03FF
            key = session
            if rd8(p, inner, cap) >> 4 != (1 if proto == ETHERTYPE_ERSPAN_2 else 2):
                c.tunnel_type[j] = kind      # a version this decoder does not know
                c.tunnel_id[j] = key
                return
            if proto == ETHERTYPE_ERSPAN_2:
                inner += 8
            else:
                frame_type = (rd8(p, inner + 10, cap) >> 2) & 0x1F
                if rd8(p, inner + 11, cap) & 1:   # O flag: platform-specific subheader
                    inner += 8
                inner += 12
        if frame_type != 0 and frame_type != 2:   # neither Ethernet nor IP: not entered
            c.tunnel_type[j] = kind
            c.tunnel_id[j] = key
            return
        if not _enter_tunnel(c, j, kind, key, depth, opts):
            return
        if frame_type == 2:                       # ERSPAN III carrying an IP packet
            if inner + 1 > cap:
                c.flags[j] |= F_TRUNCATED_L3
            elif rd8(p, inner, cap) >> 4 == 4:
                _network(p, cap, end, inner, ETHERTYPE_IPV4, c, j, depth + 1, opts)
            elif rd8(p, inner, cap) >> 4 == 6:
                _network(p, cap, end, inner, ETHERTYPE_IPV6, c, j, depth + 1, opts)
            return
        _ethernet(p, cap, end, inner, c, j, depth + 1, opts)
        return
    if proto != ETHERTYPE_IPV4 and proto != ETHERTYPE_IPV6 and proto != ETHERTYPE_TEB \
            and proto != ETHERTYPE_MPLS and proto != ETHERTYPE_MPLS_MCAST:
        c.tunnel_type[j] = TUNNEL_GRE
        c.tunnel_id[j] = key
        return
    if not _enter_tunnel(c, j, TUNNEL_GRE, key, depth, opts):
        return
    if proto == ETHERTYPE_TEB:
        _ethernet(p, cap, end, inner, c, j, depth + 1, opts)
    else:
        _network(p, cap, end, inner, proto, c, j, depth + 1, opts)


cdef void _vxlan(const uint8_t *p, Py_ssize_t cap, Py_ssize_t v, Py_ssize_t end,
                 HeaderChunk *c, Py_ssize_t j, int depth, uint32_t opts) noexcept nogil:
    # VXLAN (RFC 7348) at v: 8 bytes, then Ethernet.  The VNI counts when
    # the I flag is set.
    cdef uint32_t vni = 0
    if v + 8 > end:
        c.tunnel_type[j] = TUNNEL_VXLAN
        c.flags[j] |= F_BAD_TUNNEL
        return
    if v + 8 > cap:
        c.tunnel_type[j] = TUNNEL_VXLAN
        c.flags[j] |= F_TRUNCATED_L4
        return
    if rd8(p, v, cap) & 0x08:
        vni = rd32(p, v + 4, cap) >> 8
    if _enter_tunnel(c, j, TUNNEL_VXLAN, vni, depth, opts):
        _ethernet(p, cap, end, v + 8, c, j, depth + 1, opts)


cdef void _geneve(const uint8_t *p, Py_ssize_t cap, Py_ssize_t g, Py_ssize_t end,
                  HeaderChunk *c, Py_ssize_t j, int depth, uint32_t opts) noexcept nogil:
    # Geneve (RFC 8926) at g: 8 bytes and options, then Ethernet or IP.
    cdef Py_ssize_t optlen
    cdef uint16_t proto
    if g + 8 > end:
        c.tunnel_type[j] = TUNNEL_GENEVE
        c.flags[j] |= F_BAD_TUNNEL
        return
    if g + 8 > cap:
        c.tunnel_type[j] = TUNNEL_GENEVE
        c.flags[j] |= F_TRUNCATED_L4
        return
    optlen = (rd8(p, g, cap) & 0x3F) * 4
    c.geneve_opt_len[j] = <uint16_t>optlen
    proto = rd16(p, g + 2, cap)
    if rd8(p, g, cap) >> 6 != 0:     # a version this decoder does not know: not entered
        c.tunnel_type[j] = TUNNEL_GENEVE
        c.tunnel_id[j] = rd32(p, g + 4, cap) >> 8
        return
    if g + 8 + optlen > end:
        c.tunnel_type[j] = TUNNEL_GENEVE
        c.tunnel_id[j] = rd32(p, g + 4, cap) >> 8
        c.flags[j] |= F_BAD_TUNNEL
        return
    if g + 8 + optlen > cap:
        c.tunnel_type[j] = TUNNEL_GENEVE
        c.tunnel_id[j] = rd32(p, g + 4, cap) >> 8
        c.flags[j] |= F_TRUNCATED_L4
        return
    if proto != ETHERTYPE_TEB and proto != ETHERTYPE_IPV4 and proto != ETHERTYPE_IPV6:
        c.tunnel_type[j] = TUNNEL_GENEVE
        c.tunnel_id[j] = rd32(p, g + 4, cap) >> 8
        return
    if not _enter_tunnel(c, j, TUNNEL_GENEVE, rd32(p, g + 4, cap) >> 8, depth, opts):
        return
    if proto == ETHERTYPE_TEB:
        _ethernet(p, cap, end, g + 8 + optlen, c, j, depth + 1, opts)
    else:
        _network(p, cap, end, g + 8 + optlen, proto, c, j, depth + 1, opts)


cdef void _mpls(const uint8_t *p, Py_ssize_t cap, Py_ssize_t end, Py_ssize_t pos,
                HeaderChunk *c, Py_ssize_t j, int depth, uint32_t opts) noexcept nogil:
    # An MPLS label stack at pos (RFC 3032).  The first stack of a packet
    # fills mpls_*: the outermost label's fields and the stack depth.  The
    # payload's version nibble says IPv4 or IPv6 (no control word support).
    cdef uint32_t entry = 0
    cdef int count = 0
    cdef bint first = c.mpls_labels[j] == 0
    cdef uint8_t nibble
    c.flags[j] |= F_MPLS
    while True:
        if count == MAX_MPLS_LABELS:
            c.flags[j] |= F_TUNNEL_LIMIT
            return
        if pos + 4 > cap:
            c.flags[j] |= F_TRUNCATED_L2
            return
        if pos + 4 > end:
            c.flags[j] |= F_BAD_TUNNEL
            return
        entry = rd32(p, pos, cap)
        if first:
            if count == 0:
                c.mpls_label[j] = entry >> 12
                c.mpls_tc[j] = (entry >> 9) & 7
                c.mpls_bos[j] = (entry >> 8) & 1
                c.mpls_ttl[j] = entry & 0xFF
            c.mpls_labels[j] = <uint8_t>(count + 1)
        count += 1
        pos += 4
        if entry & 0x100:
            break
    if not _enter_tunnel(c, j, TUNNEL_MPLS, entry >> 12, depth, opts):
        return
    if pos + 1 > cap:
        c.flags[j] |= F_TRUNCATED_L3
        return
    nibble = rd8(p, pos, cap) >> 4
    if nibble == 4:
        _network(p, cap, end, pos, ETHERTYPE_IPV4, c, j, depth + 1, opts)
    elif nibble == 6:
        _network(p, cap, end, pos, ETHERTYPE_IPV6, c, j, depth + 1, opts)


cdef void _network(const uint8_t *p, Py_ssize_t cap, Py_ssize_t end, Py_ssize_t l3,
                   uint16_t ethertype, HeaderChunk *c, Py_ssize_t j, int depth,
                   uint32_t opts) noexcept nogil:
    # The network layer `ethertype` at l3.
    if l3 > MAX_INNER_OFFSET:
        c.flags[j] |= F_TUNNEL_LIMIT
        return
    c.inner_ethertype[j] = ethertype
    c.l3_offset[j] = <uint16_t>l3
    if ethertype == ETHERTYPE_IPV4:
        _ipv4(p, cap, end, l3, c, j, depth, opts)
    elif ethertype == ETHERTYPE_IPV6:
        _ipv6(p, cap, end, l3, c, j, depth, opts)
    elif ethertype == ETHERTYPE_ARP:
        _arp(p, cap, l3, c, j)
    elif ethertype == ETHERTYPE_MPLS or ethertype == ETHERTYPE_MPLS_MCAST:
        _mpls(p, cap, end, l3, c, j, depth, opts)


cdef void _ethernet(const uint8_t *p, Py_ssize_t cap, Py_ssize_t end, Py_ssize_t pos,
                    HeaderChunk *c, Py_ssize_t j, int depth, uint32_t opts) noexcept nogil:
    # An encapsulated Ethernet frame at pos: its VLAN tags are skipped (the
    # eth_*/vlan_* columns describe the frame on the wire), its network
    # layer decoded.
    cdef uint16_t ethertype
    cdef int ntags = 0
    if pos + ETH_HLEN > end:
        c.flags[j] |= F_BAD_TUNNEL
        return
    if pos + ETH_HLEN > cap:
        c.flags[j] |= F_TRUNCATED_L2
        return
    pos += 12
    ethertype = rd16(p, pos, cap)
    while _is_vlan_tpid(ethertype):
        if ntags == MAX_VLAN_TAGS:
            c.flags[j] |= F_VLAN_LIMIT
            return
        if pos + 6 > cap:
            c.flags[j] |= F_TRUNCATED_L2
            return
        ethertype = rd16(p, pos + 4, cap)
        pos += 4
        ntags += 1
    if ethertype < ETHERTYPE_MIN:
        return
    _network(p, cap, end, pos + 2, ethertype, c, j, depth, opts)


cdef void decode_packet(const uint8_t *p, Py_ssize_t cap, Py_ssize_t wire, uint32_t status,
                        uint16_t meta_tci, uint16_t meta_tpid, HeaderChunk *c,
                        Py_ssize_t j, uint32_t opts) noexcept nogil:
    # IN p: the frame's first byte; cap: bytes captured (never read past);
    # wire: length on the wire (for IP length sanity); status/meta_*: the
    # kernel's VLAN metadata; opts: OPT_* bits.  OUT c row j, which must be
    # all zero: the fields the frame has.
    cdef Py_ssize_t pos = 12
    cdef uint16_t ethertype, tci, tpid
    cdef int ntags = 0
    if cap < ETH_HLEN:
        c.flags[j] = F_TRUNCATED_L2
        return
    rdcopy(c.eth_dst + 6 * j, p, 0, 6, cap)
    rdcopy(c.eth_src + 6 * j, p, 6, 6, cap)
    ethertype = rd16(p, 12, cap)
    if status & TP_STATUS_VLAN_VALID:
        tpid = meta_tpid if (status & TP_STATUS_VLAN_TPID_VALID) and meta_tpid else ETHERTYPE_VLAN
        # A tag the reader re-inserted into the bytes is parsed from there;
        # otherwise it was stripped and is the outermost tag.
        if ethertype == tpid and cap >= 16 and rd16(p, 14, cap) == meta_tci:
            wire += 4   # the kernel's length may not count the re-inserted tag
        else:
            c.vlan_outer[j] = meta_tci & 0x0FFF
            c.flags[j] |= F_VLAN_FROM_METADATA
            ntags = 1
    while _is_vlan_tpid(ethertype):
        if ntags == MAX_VLAN_TAGS:
            c.flags[j] |= F_VLAN_LIMIT
            ethertype = 0
            break
        if pos + 6 > cap:
            c.flags[j] |= F_TRUNCATED_L2
            ethertype = 0
            break
        tci = rd16(p, pos + 2, cap) & 0x0FFF
        if ntags == 0:
            c.vlan_outer[j] = tci
        elif ntags == 1:
            c.vlan_inner[j] = tci
        ntags += 1
        ethertype = rd16(p, pos + 4, cap)
        pos += 4
    if ntags:
        c.flags[j] |= F_VLAN
        if ntags > 1:
            c.flags[j] |= F_QINQ
    if c.flags[j] & (F_TRUNCATED_L2 | F_VLAN_LIMIT):
        return
    if ethertype < ETHERTYPE_MIN:
        # 802.3: a length, then an LLC header (STP, NetBIOS, IPX...)
        c.eth_len[j] = ethertype
        c.flags[j] |= F_LLC
        c.l3_offset[j] = <uint16_t>(pos + 2)
        if pos + 3 <= cap:
            c.llc_dsap[j] = rd8(p, pos + 2, cap)
        if pos + 4 <= cap:
            c.llc_ssap[j] = rd8(p, pos + 3, cap)
        return
    c.ethertype[j] = ethertype
    _network(p, cap, wire, pos + 2, ethertype, c, j, 0, opts)
    if c.tunnel_depth[j] and (c.flags[j] & (F_TRUNCATED_L2 | F_TRUNCATED_L3 | F_TRUNCATED_L4)):
        c.flags[j] |= F_TRUNCATED_INNER


# ---------------------------------------------------------------- other link layers
# Frames whose link layer is not Ethernet (Batch.linktype).  The network
# layer and everything above it is decoded as for Ethernet; eth_*/vlan_*
# stay 0 unless the frame carries VLAN tags, and `ethertype` holds the
# network protocol as an ethertype (from the cooked header's protocol field,
# the raw packet's version nibble, or the loopback address family).

cdef inline bint _supported_linktype(uint16_t linktype) noexcept nogil:
    return linktype == LINKTYPE_ETHERNET or linktype == LINKTYPE_LINUX_SLL2 \
        or linktype == LINKTYPE_RAW or linktype == LINKTYPE_LINUX_SLL \
        or linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP \
        or linktype == LINKTYPE_IPV4 or linktype == LINKTYPE_IPV6 \
        or linktype == LINKTYPE_RAW_12 or linktype == LINKTYPE_RAW_14


cdef void _typed_payload(const uint8_t *p, Py_ssize_t cap, Py_ssize_t wire, Py_ssize_t q,
                         uint16_t proto, HeaderChunk *c, Py_ssize_t j,
                         uint32_t opts) noexcept nogil:
    # The payload at q of a header whose type field said `proto` (an
    # ethertype): VLAN tags in the bytes, then the network layer.
    cdef int ntags = 0
    if c.flags[j] & F_VLAN_FROM_METADATA:
        ntags = 1
    while _is_vlan_tpid(proto):
        if ntags == MAX_VLAN_TAGS:
            c.flags[j] |= F_VLAN_LIMIT
            return
        if q + 4 > cap:
            c.flags[j] |= F_TRUNCATED_L2
            return
        if ntags == 0:
            c.vlan_outer[j] = rd16(p, q, cap) & 0x0FFF
        elif ntags == 1:
            c.vlan_inner[j] = rd16(p, q, cap) & 0x0FFF
        ntags += 1
        proto = rd16(p, q + 2, cap)
        q += 4
    if ntags:
        c.flags[j] |= F_VLAN
        if ntags > 1:
            c.flags[j] |= F_QINQ
    if proto < ETHERTYPE_MIN:
        # Linux's pseudo-protocols (ETH_P_802_2 LLC, ETH_P_802_3 Novell, ...):
        # nothing decoded past the link header
        return
    c.ethertype[j] = proto
    _network(p, cap, wire, q, proto, c, j, 0, opts)


cdef inline void _raw_ip(const uint8_t *p, Py_ssize_t cap, Py_ssize_t wire, Py_ssize_t l3,
                         HeaderChunk *c, Py_ssize_t j, uint32_t opts) noexcept nogil:
    # Raw IP at l3: IPv4 or IPv6 by the version nibble.
    cdef uint8_t version
    if l3 + 1 > cap:
        c.flags[j] |= F_TRUNCATED_L3
        return
    version = rd8(p, l3, cap) >> 4
    if version == 4:
        c.ethertype[j] = ETHERTYPE_IPV4
        _network(p, cap, wire, l3, ETHERTYPE_IPV4, c, j, 0, opts)
    elif version == 6:
        c.ethertype[j] = ETHERTYPE_IPV6
        _network(p, cap, wire, l3, ETHERTYPE_IPV6, c, j, 0, opts)
    else:
        c.flags[j] |= F_BAD_IP_VERSION


cdef inline uint16_t _loopback_family(uint32_t family) noexcept nogil:
    # The ethertype of a NULL/LOOP header's address family (either byte
    # order: families are small numbers, so one with its upper half set was
    # written little-endian), or 0.
    if family & 0xFFFF0000U:
        family = ((family >> 24) | ((family >> 8) & 0xFF00) | ((family << 8) & 0xFF0000)
                  | (family << 24))
    if family == BSD_AF_INET:
        return ETHERTYPE_IPV4
    if family == BSD_AF_INET6_BSD or family == BSD_AF_INET6_FREEBSD \
            or family == BSD_AF_INET6_DARWIN:
        return ETHERTYPE_IPV6
    return 0


cdef void decode_link(const uint8_t *p, Py_ssize_t cap, Py_ssize_t wire, uint16_t linktype,
                      uint32_t status, uint16_t meta_tci, HeaderChunk *c, Py_ssize_t j,
                      uint32_t opts) noexcept nogil:
    # decode_packet for a frame of a supported link type other than
    # Ethernet.  OUT c row j (all zero on entry).
    cdef uint16_t proto
    cdef uint8_t halen
    if linktype == LINKTYPE_LINUX_SLL2 or linktype == LINKTYPE_LINUX_SLL:
        if status & TP_STATUS_VLAN_VALID:    # a tag the kernel stripped (not in the bytes)
            c.vlan_outer[j] = meta_tci & 0x0FFF
            c.flags[j] |= F_VLAN_FROM_METADATA | F_VLAN
        if linktype == LINKTYPE_LINUX_SLL2:
            # protocol(2) reserved(2) ifindex(4) hatype(2) pkttype(1) halen(1) addr(8)
            if cap < SLL2_HLEN:
                c.flags[j] |= F_TRUNCATED_L2
                return
            proto = rd16(p, 0, cap)
            c.sll_ifindex[j] = rd32(p, 4, cap)
            c.sll_hatype[j] = rd16(p, 8, cap)
            c.sll_pkttype[j] = rd8(p, 10, cap)
            halen = rd8(p, 11, cap)
            rdcopy(c.sll_addr + 8 * j, p, 12, 8, cap)
            c.sll_halen[j] = halen
            _typed_payload(p, cap, wire, SLL2_HLEN, proto, c, j, opts)
        else:
            # pkttype(2) hatype(2) halen(2) addr(8) protocol(2)
            if cap < SLL_HLEN:
                c.flags[j] |= F_TRUNCATED_L2
                return
            c.sll_pkttype[j] = <uint8_t>rd16(p, 0, cap)
            c.sll_hatype[j] = rd16(p, 2, cap)
            halen = <uint8_t>(rd16(p, 4, cap) if rd16(p, 4, cap) < 255 else 255)
            rdcopy(c.sll_addr + 8 * j, p, 6, 8, cap)
            c.sll_halen[j] = halen
            _typed_payload(p, cap, wire, SLL_HLEN, rd16(p, 14, cap), c, j, opts)
    elif linktype == LINKTYPE_RAW or linktype == LINKTYPE_RAW_12 \
            or linktype == LINKTYPE_RAW_14:
        _raw_ip(p, cap, wire, 0, c, j, opts)
    elif linktype == LINKTYPE_IPV4:
        c.ethertype[j] = ETHERTYPE_IPV4
        _network(p, cap, wire, 0, ETHERTYPE_IPV4, c, j, 0, opts)
    elif linktype == LINKTYPE_IPV6:
        c.ethertype[j] = ETHERTYPE_IPV6
        _network(p, cap, wire, 0, ETHERTYPE_IPV6, c, j, 0, opts)
    elif linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
        # The family is in the writer's byte order (NULL) or network order
        # (LOOP, though writers got it wrong).
        if cap < 4:
            c.flags[j] |= F_TRUNCATED_L2
            return
        proto = _loopback_family(rd32(p, 0, cap))
        if proto:
            c.ethertype[j] = proto
            _network(p, cap, wire, 4, proto, c, j, 0, opts)
    if c.tunnel_depth[j] and (c.flags[j] & (F_TRUNCATED_L2 | F_TRUNCATED_L3 | F_TRUNCATED_L4)):
        c.flags[j] |= F_TRUNCATED_INNER


cdef inline void decode_frame(const uint8_t *p, Py_ssize_t cap, Py_ssize_t wire,
                              uint16_t linktype, uint32_t status, uint16_t meta_tci,
                              uint16_t meta_tpid, HeaderChunk *c, Py_ssize_t j,
                              uint32_t opts) noexcept nogil:
    if linktype == LINKTYPE_ETHERNET:
        decode_packet(p, cap, wire, status, meta_tci, meta_tpid, c, j, opts)
    else:
        decode_link(p, cap, wire, linktype, status, meta_tci, c, j, opts)


cdef bint _fast_path = True   # tests turn it off to check it against the general path


def _test_set_fast_path(bint enabled):
    """Tests only: enable or disable the plain IPv4/IPv6 TCP/UDP shortcuts."""
    global _fast_path
    _fast_path = enabled


# ---------------------------------------------------------------- shortcuts
# The common case, a plain IPv4 or IPv6 TCP/UDP packet, takes a straight run
# instead of the layer-by-layer decoder.  The shortcuts and the loops around
# them are fused over the kind of link header, so that each kind gets its own
# copy with the IP header at a constant offset (a shared copy with the offset
# in a variable cost up to 1.5x Ethernet's instructions; see docs/decode.md).
# Packets are handed to them in runs of one link type.

cdef struct EthernetLink:     # EN10MB: IP after 14 bytes (untagged)
    char unused
cdef struct Sll2Link:         # LINUX_SLL2: 20 bytes, protocol at 0
    char unused
cdef struct SllLink:          # LINUX_SLL: 16 bytes, protocol at 14
    char unused
cdef struct RawLink:          # RAW (and 12, 14), IPV4, IPV6: IP at 0
    char unused
cdef struct LoopbackLink:     # NULL, LOOP: 4-byte address family
    char unused

ctypedef fused LinkKind:
    EthernetLink
    Sll2Link
    SllLink
    RawLink
    LoopbackLink


cdef inline Py_ssize_t _link_hlen(LinkKind *kind) noexcept nogil:
    # Where the network layer starts (a constant in each copy).
    if LinkKind is EthernetLink:
        return ETH_HLEN
    elif LinkKind is Sll2Link:
        return SLL2_HLEN
    elif LinkKind is SllLink:
        return SLL_HLEN
    elif LinkKind is LoopbackLink:
        return 4
    else:
        return 0


cdef inline bint _link_says(LinkKind *kind, const uint8_t *p, Py_ssize_t cap,
                            uint16_t ethertype, uint16_t claimed) noexcept nogil:
    # Whether the link header (captured whole) says the network layer is
    # `ethertype`.  claimed: a raw link type's protocol (IPV4, IPV6), or 0
    # for RAW, whose packets are IPv4 or IPv6 by their version nibble (the
    # shortcuts check it).
    if LinkKind is EthernetLink:
        return rd16(p, 12, cap) == ethertype
    elif LinkKind is Sll2Link:
        return rd16(p, 0, cap) == ethertype
    elif LinkKind is SllLink:
        return rd16(p, 14, cap) == ethertype
    elif LinkKind is LoopbackLink:
        return _loopback_family(rd32(p, 0, cap)) == ethertype
    else:
        return claimed == 0 or claimed == ethertype


cdef inline uint16_t _claimed_protocol(uint16_t linktype) noexcept nogil:
    # The network protocol a raw link type fixes, or 0 (see _link_says).
    if linktype == LINKTYPE_IPV4:
        return ETHERTYPE_IPV4
    if linktype == LINKTYPE_IPV6:
        return ETHERTYPE_IPV6
    return 0


cdef inline void _link_fields(LinkKind *kind, const uint8_t *p, Py_ssize_t cap,
                              HeaderChunk *c, Py_ssize_t j) noexcept nogil:
    # The link-layer columns of row j, as decode_packet and decode_link
    # write them for an untagged frame.
    if LinkKind is EthernetLink:
        rdcopy(c.eth_dst + 6 * j, p, 0, 6, cap)
        rdcopy(c.eth_src + 6 * j, p, 6, 6, cap)
    elif LinkKind is Sll2Link:
        c.sll_ifindex[j] = rd32(p, 4, cap)
        c.sll_hatype[j] = rd16(p, 8, cap)
        c.sll_pkttype[j] = rd8(p, 10, cap)
        c.sll_halen[j] = rd8(p, 11, cap)
        rdcopy(c.sll_addr + 8 * j, p, 12, 8, cap)
    elif LinkKind is SllLink:
        c.sll_pkttype[j] = <uint8_t>rd16(p, 0, cap)
        c.sll_hatype[j] = rd16(p, 2, cap)
        c.sll_halen[j] = <uint8_t>(rd16(p, 4, cap) if rd16(p, 4, cap) < 255 else 255)
        rdcopy(c.sll_addr + 8 * j, p, 6, 8, cap)


cdef inline bint _plain_ipv4(LinkKind *kind, const uint8_t *p, Py_ssize_t cap,
                             Py_ssize_t wire, uint32_t status, uint16_t claimed,
                             HeaderChunk *c, Py_ssize_t j, uint32_t opts) noexcept nogil:
    # The common case in one straight run: an untagged frame whose link
    # header says IPv4, IPv4 without options or fragmentation, a complete
    # TCP or UDP header (not a UDP tunnel).  Fills row j (all zero on entry)
    # exactly as decode_packet/decode_link would and returns True; returns
    # False, having written nothing, for anything else.
    cdef Py_ssize_t l3 = _link_hlen(kind), l4 = l3 + 20, ip_end, hlen
    cdef uint8_t proto
    cdef uint16_t dport
    if cap < l4 + 8 or (status & TP_STATUS_VLAN_VALID) or not _fast_path:
        return False
    if not _link_says(kind, p, cap, ETHERTYPE_IPV4, claimed) or rd8(p, l3, cap) != 0x45 \
            or rd16(p, l3 + 6, cap) & 0x3FFF:
        return False
    ip_end = l3 + <Py_ssize_t>rd16(p, l3 + 2, cap)
    if ip_end > wire:
        return False
    proto = rd8(p, l3 + 9, cap)
    dport = rd16(p, l4 + 2, cap)
    if proto == IPPROTO_TCP:
        if cap < l4 + 20 or ip_end < l4 + 20:
            return False
        hlen = (rd8(p, l4 + 12, cap) >> 4) * 4
        if hlen < 20 or l4 + hlen > ip_end or l4 + hlen > cap:
            return False
    elif proto == IPPROTO_UDP:
        if ip_end < l4 + 8 or rd16(p, l4 + 4, cap) < 8 \
                or l4 + <Py_ssize_t>rd16(p, l4 + 4, cap) > ip_end \
                or dport == UDP_PORT_VXLAN or dport == UDP_PORT_GENEVE:
            return False
        hlen = 8
        ip_end = l4 + <Py_ssize_t>rd16(p, l4 + 4, cap)
    else:
        return False
    _link_fields(kind, p, cap, c, j)
    memcpy(c.ip_src + 16 * j, _V4_MAPPED_PREFIX, 12)
    memcpy(c.ip_dst + 16 * j, _V4_MAPPED_PREFIX, 12)
    rdcopy(c.ip_src + 16 * j + 12, p, l3 + 12, 4, cap)
    rdcopy(c.ip_dst + 16 * j + 12, p, l3 + 16, 4, cap)
    c.ethertype[j] = ETHERTYPE_IPV4
    c.inner_ethertype[j] = ETHERTYPE_IPV4
    c.l3_offset[j] = <uint16_t>l3
    c.ip_version[j] = 4
    c.ip_dscp[j] = rd8(p, l3 + 1, cap) >> 2
    c.ip_ecn[j] = rd8(p, l3 + 1, cap) & 3
    c.ip_len[j] = rd16(p, l3 + 2, cap)
    c.ttl[j] = rd8(p, l3 + 8, cap)
    c.ip_proto[j] = proto
    c.ipv4_src[j] = rd32(p, l3 + 12, cap)
    c.ipv4_dst[j] = rd32(p, l3 + 16, cap)
    c.l4_offset[j] = <uint16_t>l4
    c.sport[j] = rd16(p, l4, cap)
    c.dport[j] = dport
    if proto == IPPROTO_TCP:
        c.tcp_seq[j] = rd32(p, l4 + 4, cap)
        c.tcp_ack[j] = rd32(p, l4 + 8, cap)
        c.tcp_flags[j] = rd16(p, l4 + 12, cap) & 0x01FF
        c.tcp_window[j] = rd16(p, l4 + 14, cap)
        if hlen > 20 and (opts & OPT_TCP_OPTIONS):
            _tcp_options(p, cap, l4, hlen, c, j)
    c.payload_offset[j] = <uint16_t>(l4 + hlen)
    c.payload_len[j] = <uint32_t>(ip_end - l4 - hlen)
    if l3 + <Py_ssize_t>c.ip_len[j] > cap:
        c.flags[j] |= F_TRUNCATED_PAYLOAD
    return True


# ---------------------------------------------------------------- the batch loop
cdef struct PacketColumns:
    # A batch's bytes and per-packet columns, as plain pointers (IN).
    const uint8_t *data
    Py_ssize_t data_len
    const int64_t *offset
    const uint32_t *caplen
    const uint32_t *wirelen
    const uint32_t *status
    const uint16_t *vlan_tci
    const uint16_t *vlan_tpid
    const uint16_t *linktype      # NULL: all Ethernet


cdef inline Py_ssize_t _run_end(const PacketColumns *b, Py_ssize_t i,
                                Py_ssize_t end) noexcept nogil:
    # The end (at most `end`) of the run of packets from i on with packet
    # i's link type.
    cdef uint16_t linktype
    if b.linktype == NULL:
        return end
    linktype = b.linktype[i]
    i += 1
    while i < end and b.linktype[i] == linktype:
        i += 1
    return i


cdef extern from *:
    """
    #define rc_prefetch_read(p) __builtin_prefetch((const void *)(p))
    """
    void _prefetch "rc_prefetch_read"(const void *p) noexcept nogil


cdef enum:
    # packets ahead whose first two lines _decode_rows prefetches.  A burst over
    # the whole chunk first (128 packets, 256 lines) left the loop waiting on
    # DRAM at each packet's first read once the batch outgrew the L3 (57% of
    # decode_batch's samples on one load; at-scale tls-heavy, header pass 90 ->
    # 44 ms a million packets rolling 8-16 ahead)
    _ROWS_AHEAD = 8


cdef Py_ssize_t _decode_rows(LinkKind *kind, PacketColumns b, Py_ssize_t first,
                             Py_ssize_t lo, Py_ssize_t hi, HeaderChunk *c,
                             uint32_t opts) noexcept nogil:
    # Rows lo..hi-1 of c from packets first+lo.., all of this kind of link
    # layer.  Returns -1, or the index of the first packet whose bytes lie
    # outside the data.  (b by value: stores into c cannot alias it, so its
    # pointers stay put across the loop.)
    cdef Py_ssize_t j, i, cap, wire
    cdef int64_t start
    cdef uint16_t linktype = LINKTYPE_ETHERNET if b.linktype == NULL else b.linktype[first + lo]
    cdef uint16_t claimed = _claimed_protocol(linktype)
    cdef uintptr_t ahead
    for j in range(lo, hi):
        i = first + j
        if j + _ROWS_AHEAD < hi:
            ahead = <uintptr_t>b.data + <uintptr_t>b.offset[i + _ROWS_AHEAD]
            _prefetch(<const void *>ahead)
            _prefetch(<const void *>(ahead + 64))
        start = b.offset[i]
        cap = b.caplen[i]
        if start < 0 or start > b.data_len or cap > b.data_len - start:   # cannot overflow
            return i
        wire = b.wirelen[i]
        if wire < cap:
            wire = cap
        if not _plain_ipv4(kind, b.data + start, cap, wire, b.status[i], claimed, c, j, opts):
            if LinkKind is EthernetLink:
                decode_packet(b.data + start, cap, wire, b.status[i], b.vlan_tci[i],
                              b.vlan_tpid[i], c, j, opts)
            else:
                decode_link(b.data + start, cap, wire, linktype, b.status[i], b.vlan_tci[i],
                            c, j, opts)
    return -1


cdef uint8_t _first_byte_rule[256]    # the CAND_* rules a payload's first byte may pass
for _byte in range(256):
    _first_byte_rule[_byte] = (CAND_TLS if _byte == 22 else 0) \
        | (CAND_HTTP if 0x41 <= _byte <= 0x5A else 0) | (CAND_QUIC if _byte >= 0xC0 else 0)


cdef inline bint _app_candidate(const PacketColumns *b, Py_ssize_t i, uint32_t plen,
                                Py_ssize_t start, uint8_t proto, uint16_t sport, uint16_t dport,
                                const AppCandidates *app) noexcept nogil:
    # Whether packet i, just decoded by the 5-tuple path (payload of plen bytes
    # at start, ip_proto, ports), may carry an application message, as
    # _app_candidates decides (the packets without a payload, ACKs, cost no call).
    if plen == 0 or start == 0 or start >= b.caplen[i] \
            or (proto != IPPROTO_TCP and proto != IPPROTO_UDP):
        return False
    if proto == IPPROTO_UDP and plen < 1200:
        # no rule reads a UDP payload this short: its ports alone decide (the
        # call for it was 42 instructions a packet of `stats` on 64-byte UDP)
        return ((app.ports[sport] | app.ports[dport]) & CAND_UDP_PORT) != 0
    return _app_payload_candidate(b, i, plen, start, proto, sport, dport, app)


cdef bint _app_payload_candidate(const PacketColumns *b, Py_ssize_t i, uint32_t plen,
                                 Py_ssize_t start, uint8_t proto, uint16_t sport,
                                 uint16_t dport, const AppCandidates *app) noexcept nogil:
    # _app_candidates' rule for one packet (the 5-tuple path's, which lists
    # packets one at a time; the chunk pass keeps its own loop, branch-free and
    # inlined: tests/test_app_candidates.py checks that the two lists agree):
    # packet i, with a TCP or UDP payload of plen bytes at start, captured.
    cdef Py_ssize_t cap = b.caplen[i], n
    cdef uint8_t kinds, rules, shift
    cdef const uint8_t *p
    # a port's CAND_TCP_* bits are its CAND_UDP_* bits shifted by 2
    shift = 2 if proto == IPPROTO_TCP else 0
    kinds = ((app.ports[sport] | app.ports[dport]) >> shift) & (CAND_UDP_PORT | CAND_UDP_KNOWN)
    # the rules that apply to TCP payloads, and to UDP ones from 1200 bytes
    rules = (app.rule & (CAND_TLS | CAND_HTTP)) if proto == IPPROTO_TCP \
        else ((app.rule & CAND_QUIC) if plen >= 1200 else 0)
    p = b.data + b.offset[i] + start
    # on no known port: the rules the first byte passes (start < cap: captured)
    rules = _first_byte_rule[p[0]] & rules & (0 if kinds else 0xFF)
    if rules:
        n = cap - start
        if n > plen:
            n = plen              # Ethernet padding after the payload
        rules = ((rules & CAND_TLS) != 0 and app_tls_hello_start(p, n)) \
            or ((rules & CAND_HTTP) != 0 and app_http_head_start(p, n)) \
            or ((rules & CAND_QUIC) != 0 and app_quic_initial_start(p, n))
    return (kinds & CAND_UDP_PORT) != 0 or rules != 0


cdef void _app_candidates(const PacketColumns *b, Py_ssize_t first, Py_ssize_t m,
                          const HeaderChunk *c, AppCandidates *app) noexcept nogil:
    # Append to app.rows those of packets first..first+m-1 (rows 0..m-1 of c,
    # just decoded: their bytes are still in cache) that may carry an
    # application message, by the rule of pyx/_app.pyx's pass, which applies
    # it again to the packets it is given: TCP or UDP with payload captured,
    # on a port of a protocol asked for, or (elsewhere) whose payload starts
    # a QUIC Initial, a TLS hello or an HTTP head as its decoder requires
    # (includes/decode_defs.pxd).  Each packet costs the read of its first
    # payload byte, a few table reads and one store, without a branch on
    # what it holds (whether a payload starts a message is not predictable);
    # only those whose first byte passes (one random TCP payload in ten, a
    # quarter of large UDP ones) are read further.
    cdef Py_ssize_t j, start, cap, n, count = app.count
    cdef uint32_t plen
    cdef uint8_t proto, kinds, rules, shift
    cdef const uint8_t *ports = app.ports
    cdef const uint8_t *p
    cdef int64_t *rows = app.rows
    cdef const uint8_t *data = b.data
    cdef const int64_t *offset = b.offset + first
    cdef const uint32_t *caplen = b.caplen + first
    # the rules that apply to TCP payloads, and to UDP ones from 1200 bytes
    cdef uint8_t tcp_rules = app.rule & (CAND_TLS | CAND_HTTP)
    cdef uint8_t udp_rules = app.rule & CAND_QUIC
    for j in range(m):
        plen = c.payload_len[j]
        start = c.payload_offset[j]
        proto = c.ip_proto[j]
        cap = caplen[j]
        if plen == 0 or start == 0 or start >= cap \
                or (proto != IPPROTO_TCP and proto != IPPROTO_UDP):
            continue
        # a port's CAND_TCP_* bits are its CAND_UDP_* bits shifted by 2
        shift = 2 if proto == IPPROTO_TCP else 0
        kinds = ((ports[c.sport[j]] | ports[c.dport[j]]) >> shift) \
            & (CAND_UDP_PORT | CAND_UDP_KNOWN)
        rules = tcp_rules if proto == IPPROTO_TCP else (udp_rules if plen >= 1200 else 0)
        p = data + offset[j] + start
        # on no known port: the rules the first byte passes (start < cap: captured)
        rules = _first_byte_rule[p[0]] & rules & (0 if kinds else 0xFF)
        if rules:
            n = cap - start
            if n > plen:
                n = plen              # Ethernet padding after the payload
            rules = ((rules & CAND_TLS) != 0 and app_tls_hello_start(p, n)) \
                or ((rules & CAND_HTTP) != 0 and app_http_head_start(p, n)) \
                or ((rules & CAND_QUIC) != 0 and app_quic_initial_start(p, n))
        rows[count] = first + j        # in range: count <= first + j < n
        count += (kinds & CAND_UDP_PORT) | (rules != 0)
    app.count = count


cdef enum:
    _MAX_READ_FIELDS = MAX_COLUMNS + 24


cdef struct ReadFields:
    # The spans of a HeaderChunk that a call of decode_batch reads, cleared per chunk.
    Py_ssize_t count
    uint8_t *start[_MAX_READ_FIELDS]
    Py_ssize_t size[_MAX_READ_FIELDS]


cdef inline void _add_field(ReadFields *f, void *start, Py_ssize_t row_bytes) noexcept nogil:
    # A field (all DECODE_CHUNK rows) in address order, joined to a span it touches.
    cdef uint8_t *at = <uint8_t *>start
    cdef Py_ssize_t size = row_bytes * DECODE_CHUNK, k = 0, i
    while k < f.count and f.start[k] + f.size[k] < at:
        k += 1
    if k < f.count and f.start[k] <= at + size:        # overlaps or touches span k
        if at < f.start[k]:
            f.size[k] += f.start[k] - at
            f.start[k] = at
        if at + size > f.start[k] + f.size[k]:
            f.size[k] = at + size - f.start[k]
        while k + 1 < f.count and f.start[k + 1] <= f.start[k] + f.size[k]:
            if f.start[k + 1] + f.size[k + 1] > f.start[k] + f.size[k]:
                f.size[k] = f.start[k + 1] + f.size[k + 1] - f.start[k]
            for i in range(k + 1, f.count - 1):
                f.start[i] = f.start[i + 1]
                f.size[i] = f.size[i + 1]
            f.count -= 1
        return
    for i in range(f.count, k, -1):
        f.start[i] = f.start[i - 1]
        f.size[i] = f.size[i - 1]
    f.start[k] = at
    f.size[k] = size
    f.count += 1


cdef void _fields_read(const HeaderColumns *cols, HeaderChunk *c, bint app,
                       ReadFields *f) noexcept nogil:
    # OUT f: the fields of c that decode_batch reads, which must be 0 where a
    # packet has no value: the columns it copies out, those the decoder reads
    # back (a flag it ORs in, a length or fragment field it tests, the IP
    # fields _enter_tunnel moves to outer_*, the MPLS depth, TCP option bits),
    # and, with app, those _app_candidates reads.  The decoder only writes the
    # other fields, which nothing reads: they need no clearing (the whole chunk,
    # 29 KiB, was cleared per chunk: 2% of `ringcap -r`).  A field the decoder
    # comes to read belongs in this list.
    cdef Py_ssize_t k
    f.count = 0
    for k in range(cols.count):
        _add_field(f, <void *>cols.src[k], cols.row_bytes[k])
    _add_field(f, c.flags, sizeof(c.flags[0]))
    _add_field(f, c.dport, sizeof(c.dport[0]))
    _add_field(f, c.frag_offset, sizeof(c.frag_offset[0]))
    _add_field(f, c.more_fragments, sizeof(c.more_fragments[0]))
    _add_field(f, c.ip_len, sizeof(c.ip_len[0]))
    _add_field(f, c.ip_proto, sizeof(c.ip_proto[0]))
    _add_field(f, c.ip_version, sizeof(c.ip_version[0]))
    _add_field(f, c.l3_offset, sizeof(c.l3_offset[0]))
    _add_field(f, c.ip_src, 16)
    _add_field(f, c.ip_dst, 16)
    _add_field(f, c.mpls_labels, sizeof(c.mpls_labels[0]))
    _add_field(f, c.tcp_options, sizeof(c.tcp_options[0]))
    _add_field(f, c.tunnel_depth, sizeof(c.tunnel_depth[0]))
    if app:
        _add_field(f, c.payload_len, sizeof(c.payload_len[0]))
        _add_field(f, c.payload_offset, sizeof(c.payload_offset[0]))
        _add_field(f, c.sport, sizeof(c.sport[0]))


cdef Py_ssize_t decode_batch(const PacketColumns *b, Py_ssize_t n, const HeaderColumns *cols,
                             HeaderChunk *c, uint32_t opts, AppCandidates *app) noexcept nogil:
    # IN b: the batch, n packets, every link type supported; opts: OPT_*
    # bits.  OUT cols: one entry per packet in each listed column; app (NULL:
    # no application columns asked for): the packets that may carry an
    # application message.  c: scratch.  Returns -1, or the index of the
    # first packet whose bytes lie outside the data.
    #
    # Packets are decoded DECODE_CHUNK at a time into c, which stays in
    # cache, then copied out column by column: storing every column packet
    # by packet interleaves dozens of write streams, more than the
    # prefetchers follow.
    cdef Py_ssize_t j, end, m, k, first = 0, width, bad
    cdef uint16_t linktype
    cdef ReadFields read
    _fields_read(cols, c, app != NULL, &read)
    while first < n:
        m = n - first
        if m > DECODE_CHUNK:
            m = DECODE_CHUNK
        for k in range(read.count):
            memset(read.start[k], 0, read.size[k])
        # each packet's first line, where its headers are: the header pass
        # waited on memory once per packet when packets span cache lines
        # (flow_features on recorded traffic: 10% less CPU)
        # and its second: a TCP header and its options, and the first payload
        # byte _app_candidates reads, are often there, where the reader's walk
        # over the record headers did not go (a prefetch never faults; reading
        # and decoding the recorded mix for `ringcap -r`: 6% less CPU)
        # (the first _ROWS_AHEAD packets of the chunk here; _decode_rows the rest,
        # rolling ahead)
        for k in range(m if m < _ROWS_AHEAD else _ROWS_AHEAD):
            _prefetch(<const void *>(<uintptr_t>b.data + <uintptr_t>b.offset[first + k]))
            _prefetch(<const void *>(<uintptr_t>b.data + <uintptr_t>b.offset[first + k] + 64))
        j = 0
        while j < m:
            end = _run_end(b, first + j, first + m) - first
            linktype = LINKTYPE_ETHERNET if b.linktype == NULL else b.linktype[first + j]
            if linktype == LINKTYPE_ETHERNET:
                bad = _decode_rows(<EthernetLink *>NULL, b[0], first, j, end, c, opts)
            elif linktype == LINKTYPE_LINUX_SLL2:
                bad = _decode_rows(<Sll2Link *>NULL, b[0], first, j, end, c, opts)
            elif linktype == LINKTYPE_LINUX_SLL:
                bad = _decode_rows(<SllLink *>NULL, b[0], first, j, end, c, opts)
            elif linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
                bad = _decode_rows(<LoopbackLink *>NULL, b[0], first, j, end, c, opts)
            else:
                bad = _decode_rows(<RawLink *>NULL, b[0], first, j, end, c, opts)
            if bad >= 0:
                return bad
            j = end
        if app != NULL:
            _app_candidates(b, first, m, c, app)
        for k in range(cols.count):
            width = cols.row_bytes[k]
            memcpy(cols.dst[k] + width * first, cols.src[k], width * m)
        first += m
    return -1


cdef struct FiveTupleOnly:     # _five_tuple_rows' copies: the 5-tuple's columns only,
    char unused
cdef struct FlowColumns:       # or a flow meter's too (and the list)
    char unused
cdef struct ReportColumns:     # or the report's: payload_len, payload_offset and ethertype
    char unused                # (and the list, or not), none of the others: no NULL tests

ctypedef fused ColumnSet:
    FiveTupleOnly
    FlowColumns
    ReportColumns


cdef enum:
    _PREFETCH_AHEAD = 16   # packets ahead whose lines the 5-tuple path prefetches
    _PREFETCH_BYTES = 256  # ... when packets are this far apart on average
    _PREFETCH_LIST_BYTES = 128   # ... or this far, with the list


cdef inline void _five_tuple_extra(ColumnSet *column_set, FiveTupleColumns *cols, Py_ssize_t i,
                                   uint16_t tcp_flags, uint32_t tcp_seq,
                                   Py_ssize_t payload_offset, Py_ssize_t payload_len,
                                   uint16_t ethertype) noexcept nogil:
    # The flow meter's columns of a packet the 5-tuple path took (untagged, not
    # tunnelled: those columns are 0), where asked for.
    if ColumnSet is ReportColumns:
        # (nine NULL tests a packet were 27 of `stats`'s instructions, callgrind)
        cols.payload_len[i] = <uint32_t>payload_len
        cols.payload_offset[i] = <uint16_t>payload_offset
        cols.ethertype[i] = ethertype
        return
    if cols.tcp_flags != NULL:
        cols.tcp_flags[i] = tcp_flags
    if cols.tcp_seq != NULL:
        cols.tcp_seq[i] = tcp_seq
    if cols.payload_len != NULL:
        cols.payload_len[i] = <uint32_t>payload_len
    if cols.payload_offset != NULL:
        cols.payload_offset[i] = <uint16_t>payload_offset
    if cols.tunnel_type != NULL:
        cols.tunnel_type[i] = 0
    if cols.tunnel_id != NULL:
        cols.tunnel_id[i] = 0
    if cols.vlan_outer != NULL:
        cols.vlan_outer[i] = 0
    if cols.vlan_inner != NULL:
        cols.vlan_inner[i] = 0
    if cols.ethertype != NULL:
        cols.ethertype[i] = ethertype


cdef Py_ssize_t _five_tuple_rows(LinkKind *kind, ColumnSet *column_set, PacketColumns b,
                                 Py_ssize_t lo, Py_ssize_t hi, FiveTupleColumns *cols,
                                 HeaderChunk *c, Py_ssize_t *pending, Py_ssize_t *rows,
                                 uint32_t opts, AppCandidates *app) noexcept nogil:
    # decode_five_tuple for packets lo..hi-1, all of this kind of link layer
    # (column_set: FlowColumns when any of the flow meter's columns or the list
    # is asked for; the copy for the 5-tuple alone has none of their code).
    # INOUT rows: the rows of c in use (pending: their packets).  Returns -1,
    # or the index of the first packet whose bytes lie outside the data.
    cdef Py_ssize_t i, cap, wire, ip_end, hlen, k = rows[0]
    cdef Py_ssize_t l3 = _link_hlen(kind), l4 = l3 + 20, l4v6 = l3 + 40
    cdef const uint8_t *p
    cdef uint8_t proto
    cdef uint16_t dport
    cdef int64_t start
    cdef uintptr_t ahead
    # Plain pointers in locals (b is passed by value): stores through the
    # uint8_t column pointers could alias structs behind pointers and
    # globals, forcing reloads each packet.
    cdef uint8_t *ip_src = cols.ip_src
    cdef uint8_t *ip_dst = cols.ip_dst
    cdef uint8_t *ip_version = cols.ip_version
    cdef uint8_t *ip_proto = cols.ip_proto
    cdef uint16_t *sport = cols.sport
    cdef uint16_t *dport_col = cols.dport
    cdef uint32_t *flags = cols.flags
    cdef bint fast = _fast_path
    cdef uint16_t linktype = LINKTYPE_ETHERNET if b.linktype == NULL else b.linktype[lo]
    cdef uint16_t claimed = _claimed_protocol(linktype)
    # packets of some hundred bytes on average, or with the list (its payload
    # bytes) of two lines: prefetch (small packets lie in lines the hardware
    # already streams in; on 64-byte frames the list's prefetches were 8 of
    # `stats`'s instructions a packet, callgrind)
    cdef Py_ssize_t apart = _PREFETCH_BYTES
    if ColumnSet is not FiveTupleOnly:
        if app != NULL:
            apart = _PREFETCH_LIST_BYTES
    cdef bint prefetch = hi - lo > _PREFETCH_AHEAD \
        and b.offset[hi - 1] - b.offset[lo] >= apart * (hi - 1 - lo)
    for i in range(lo, hi):
        if k == DECODE_CHUNK:
            _flush_five_tuple(cols, c, pending, k, &b, app)
            k = 0
        if prefetch and i + _PREFETCH_AHEAD < hi:
            # a packet's first line some packets ahead: on large packets each is a
            # miss the run would wait on, one after the other; with the list, its
            # second line too, where the first payload byte it reads often is
            # (a prefetch never faults)
            ahead = <uintptr_t>b.data + <uintptr_t>b.offset[i + _PREFETCH_AHEAD]
            _prefetch(<const void *>ahead)
            if ColumnSet is not FiveTupleOnly:
                if app != NULL:
                    _prefetch(<const void *>(ahead + 64))
        start = b.offset[i]
        cap = b.caplen[i]
        if start < 0 or start > b.data_len or cap > b.data_len - start:   # cannot overflow
            rows[0] = k
            return i
        wire = b.wirelen[i]
        if wire < cap:
            wire = cap
        p = b.data + start
        if fast and cap >= l4 + 20 and not (b.status[i] & TP_STATUS_VLAN_VALID) \
                and _link_says(kind, p, cap, ETHERTYPE_IPV4, claimed) \
                and rd8(p, l3, cap) == 0x45 and not (rd16(p, l3 + 6, cap) & 0x3FFF):
            ip_end = l3 + <Py_ssize_t>rd16(p, l3 + 2, cap)
            proto = rd8(p, l3 + 9, cap)
            hlen = (rd8(p, l4 + 12, cap) >> 4) * 4
            dport = rd16(p, l4 + 2, cap)
            if ip_end <= wire and ((proto == IPPROTO_TCP and hlen >= 20 and l4 + hlen <= ip_end
                                    and l4 + hlen <= cap)
                                   or (proto == IPPROTO_UDP and rd16(p, l4 + 4, cap) >= 8
                                       and l4 + <Py_ssize_t>rd16(p, l4 + 4, cap) <= ip_end
                                       and dport != UDP_PORT_VXLAN
                                       and dport != UDP_PORT_GENEVE)):
                memset(ip_src + 16 * i, 0, 10)
                memset(ip_src + 16 * i + 10, 0xFF, 2)
                memset(ip_dst + 16 * i, 0, 10)
                memset(ip_dst + 16 * i + 10, 0xFF, 2)
                rdcopy(ip_src + 16 * i + 12, p, l3 + 12, 4, cap)
                rdcopy(ip_dst + 16 * i + 12, p, l3 + 16, 4, cap)
                ip_version[i] = 4
                ip_proto[i] = proto
                sport[i] = rd16(p, l4, cap)
                dport_col[i] = dport
                flags[i] = F_TRUNCATED_PAYLOAD if ip_end > cap else 0
                if ColumnSet is not FiveTupleOnly:
                    # (the IPv6 branch below repeats these lines with l4v6: one inline
                    # function for both was not inlined by gcc -O2 and cost the flow
                    # meter's decode 17 instructions a packet, callgrind, 7 Dec 2026)
                    if proto == IPPROTO_UDP:
                        hlen = 8
                        ip_end = l4 + <Py_ssize_t>rd16(p, l4 + 4, cap)
                    _five_tuple_extra(column_set, cols, i, rd16(p, l4 + 12, cap) & 0x01FF
                                      if proto == IPPROTO_TCP else 0,
                                      rd32(p, l4 + 4, cap) if proto == IPPROTO_TCP else 0,
                                      l4 + hlen, ip_end - l4 - hlen, ETHERTYPE_IPV4)
                    if app != NULL:
                        app.rows[app.count] = i
                        app.count += _app_candidate(&b, i, <uint32_t>(ip_end - l4 - hlen),
                                                    l4 + hlen, proto, sport[i], dport, app)
                continue
        elif fast and cap >= l4v6 + 8 and not (b.status[i] & TP_STATUS_VLAN_VALID) \
                and _link_says(kind, p, cap, ETHERTYPE_IPV6, claimed) \
                and rd8(p, l3, cap) >> 4 == 6:
            # IPv6 straight to TCP or UDP, no extension headers
            ip_end = l4v6 + <Py_ssize_t>rd16(p, l3 + 4, cap)
            proto = rd8(p, l3 + 6, cap)
            dport = rd16(p, l4v6 + 2, cap)
            if ip_end <= wire and ip_end > l4v6 \
                    and ((proto == IPPROTO_TCP and cap >= l4v6 + 20
                          and (rd8(p, l4v6 + 12, cap) >> 4) >= 5
                          and l4v6 + (rd8(p, l4v6 + 12, cap) >> 4) * 4 <= ip_end
                          and l4v6 + (rd8(p, l4v6 + 12, cap) >> 4) * 4 <= cap)
                         or (proto == IPPROTO_UDP and rd16(p, l4v6 + 4, cap) >= 8
                             and l4v6 + <Py_ssize_t>rd16(p, l4v6 + 4, cap) <= ip_end
                             and dport != UDP_PORT_VXLAN and dport != UDP_PORT_GENEVE)):
                rdcopy(ip_src + 16 * i, p, l3 + 8, 16, cap)
                rdcopy(ip_dst + 16 * i, p, l3 + 24, 16, cap)
                ip_version[i] = 6
                ip_proto[i] = proto
                sport[i] = rd16(p, l4v6, cap)
                dport_col[i] = dport
                flags[i] = F_TRUNCATED_PAYLOAD if ip_end > cap else 0
                if ColumnSet is not FiveTupleOnly:
                    if proto == IPPROTO_TCP:
                        hlen = (rd8(p, l4v6 + 12, cap) >> 4) * 4
                    else:
                        hlen = 8
                        ip_end = l4v6 + <Py_ssize_t>rd16(p, l4v6 + 4, cap)
                    _five_tuple_extra(column_set, cols, i, rd16(p, l4v6 + 12, cap) & 0x01FF
                                      if proto == IPPROTO_TCP else 0,
                                      rd32(p, l4v6 + 4, cap) if proto == IPPROTO_TCP else 0,
                                      l4v6 + hlen, ip_end - l4v6 - hlen, ETHERTYPE_IPV6)
                    if app != NULL:
                        app.rows[app.count] = i
                        app.count += _app_candidate(&b, i, <uint32_t>(ip_end - l4v6 - hlen),
                                                    l4v6 + hlen, proto, sport[i], dport, app)
                continue
        if LinkKind is EthernetLink:
            decode_packet(p, cap, wire, b.status[i], b.vlan_tci[i], b.vlan_tpid[i], c, k, opts)
        else:
            decode_link(p, cap, wire, linktype, b.status[i], b.vlan_tci[i], c, k, opts)
        pending[k] = i
        k += 1
    rows[0] = k
    return -1


cdef inline Py_ssize_t _five_tuple_run(ColumnSet *column_set, uint16_t linktype,
                                       const PacketColumns *b, Py_ssize_t lo, Py_ssize_t hi,
                                       FiveTupleColumns *cols, HeaderChunk *c,
                                       Py_ssize_t *pending, Py_ssize_t *rows, uint32_t opts,
                                       AppCandidates *app) noexcept nogil:
    # _five_tuple_rows' copy for this link type
    if linktype == LINKTYPE_ETHERNET:
        return _five_tuple_rows(<EthernetLink *>NULL, column_set, b[0], lo, hi, cols, c,
                                pending, rows, opts, app)
    if linktype == LINKTYPE_LINUX_SLL2:
        return _five_tuple_rows(<Sll2Link *>NULL, column_set, b[0], lo, hi, cols, c, pending,
                                rows, opts, app)
    if linktype == LINKTYPE_LINUX_SLL:
        return _five_tuple_rows(<SllLink *>NULL, column_set, b[0], lo, hi, cols, c, pending,
                                rows, opts, app)
    if linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
        return _five_tuple_rows(<LoopbackLink *>NULL, column_set, b[0], lo, hi, cols, c,
                                pending, rows, opts, app)
    return _five_tuple_rows(<RawLink *>NULL, column_set, b[0], lo, hi, cols, c, pending, rows,
                            opts, app)


cdef int _compare_rows(const void *a, const void *b) noexcept nogil:
    cdef int64_t x = (<const int64_t *>a)[0], y = (<const int64_t *>b)[0]
    return (x > y) - (x < y)


cdef Py_ssize_t decode_five_tuple(const PacketColumns *b, Py_ssize_t n, FiveTupleColumns *cols,
                                  HeaderChunk *c, uint32_t opts,
                                  AppCandidates *app) noexcept nogil:
    # decode_batch for FIVE_TUPLE_COLUMNS and any of a flow meter's columns
    # (FiveTupleColumns; app: NULL, or the packets that may carry an
    # application message, as decode_batch lists them).  Untagged IPv4 (no options,
    # not fragmented) and IPv6 (no extension headers) TCP/UDP packets (not
    # UDP tunnels) take a short inline run straight to the columns; the
    # others are decoded into c and copied out DECODE_CHUNK at a time.  The
    # values are the same either way.
    cdef Py_ssize_t i = 0, end, bad, rows = 0, k
    cdef Py_ssize_t pending[DECODE_CHUNK]   # packet index of each row of c
    cdef uint16_t linktype
    cdef bint flow = cols.tcp_flags != NULL or cols.tcp_seq != NULL \
        or cols.payload_len != NULL or cols.payload_offset != NULL \
        or cols.tunnel_type != NULL or cols.tunnel_id != NULL \
        or cols.vlan_outer != NULL or cols.vlan_inner != NULL or cols.ethertype != NULL \
        or app != NULL
    cdef bint report = cols.payload_len != NULL and cols.payload_offset != NULL \
        and cols.ethertype != NULL and cols.tcp_flags == NULL and cols.tcp_seq == NULL \
        and cols.tunnel_type == NULL and cols.tunnel_id == NULL and cols.vlan_outer == NULL \
        and cols.vlan_inner == NULL
    memset(c, 0, sizeof(HeaderChunk))
    while i < n:
        end = _run_end(b, i, n)
        linktype = LINKTYPE_ETHERNET if b.linktype == NULL else b.linktype[i]
        if report:
            bad = _five_tuple_run(<ReportColumns *>NULL, linktype, b, i, end, cols, c, pending,
                                  &rows, opts, app)
        elif flow:
            bad = _five_tuple_run(<FlowColumns *>NULL, linktype, b, i, end, cols, c, pending,
                                  &rows, opts, app)
        else:
            bad = _five_tuple_run(<FiveTupleOnly *>NULL, linktype, b, i, end, cols, c, pending,
                                  &rows, opts, app)
        if bad >= 0:
            return bad
        i = end
    if rows:
        _flush_five_tuple(cols, c, pending, rows, b, app)
    if app != NULL:
        # the packets the general decoder took were listed when their chunk was
        # copied out, after later ones: the list is in packet order again
        for k in range(1, app.count):
            if app.rows[k] < app.rows[k - 1]:
                qsort(app.rows, app.count, sizeof(int64_t), _compare_rows)
                break
    return -1


cdef void _flush_five_tuple(FiveTupleColumns *cols, HeaderChunk *c, const Py_ssize_t *pending,
                            Py_ssize_t k, const PacketColumns *b,
                            AppCandidates *app) noexcept nogil:
    # Copy rows 0..k-1 of c to the packets they belong to (and list those that
    # may carry an application message), then clear c.
    cdef Py_ssize_t r, i
    for r in range(k):
        i = pending[r]
        memcpy(cols.ip_src + 16 * i, c.ip_src + 16 * r, 16)
        memcpy(cols.ip_dst + 16 * i, c.ip_dst + 16 * r, 16)
        cols.ip_version[i] = c.ip_version[r]
        cols.ip_proto[i] = c.ip_proto[r]
        cols.sport[i] = c.sport[r]
        cols.dport[i] = c.dport[r]
        cols.flags[i] = c.flags[r]
        if cols.tcp_flags != NULL:
            cols.tcp_flags[i] = c.tcp_flags[r]
        if cols.tcp_seq != NULL:
            cols.tcp_seq[i] = c.tcp_seq[r]
        if cols.payload_len != NULL:
            cols.payload_len[i] = c.payload_len[r]
        if cols.payload_offset != NULL:
            cols.payload_offset[i] = c.payload_offset[r]
        if cols.tunnel_type != NULL:
            cols.tunnel_type[i] = c.tunnel_type[r]
        if cols.tunnel_id != NULL:
            cols.tunnel_id[i] = c.tunnel_id[r]
        if cols.vlan_outer != NULL:
            cols.vlan_outer[i] = c.vlan_outer[r]
        if cols.vlan_inner != NULL:
            cols.vlan_inner[i] = c.vlan_inner[r]
        if cols.ethertype != NULL:
            cols.ethertype[i] = c.ethertype[r]
        if app != NULL:
            app.rows[app.count] = i
            app.count += _app_candidate(b, i, c.payload_len[r], c.payload_offset[r],
                                        c.ip_proto[r], c.sport[r], c.dport[r], app)
    memset(c, 0, sizeof(HeaderChunk))


cdef void *_column(dict out, str name, Py_ssize_t n, Py_ssize_t itemsize,
                   Py_ssize_t row_bytes) except? NULL:
    # A pointer into out[name] after checking it can hold n rows; NULL when
    # out has no such column (it is not decoded).  Any writable C-contiguous
    # buffer will do (numpy arrays, array.array: the command line prints a
    # file without numpy); out keeps the object, so its memory stays put.
    cdef Py_buffer view
    cdef void *data
    obj = out.get(name)
    if obj is None:
        return NULL
    if not PyObject_CheckBuffer(obj):
        raise TypeError(f"column {name!r} must be an array (numpy or any buffer), "
                        f"got {type(obj).__name__}")
    try:
        PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE)
    except (BufferError, ValueError, TypeError):     # (read-only, strided)
        view.buf = NULL
    if view.buf == NULL:
        raise ValueError(f"column {name!r} must be a writable C-contiguous array with at least "
                         f"{n} rows of {row_bytes} bytes")
    ok = (view.ndim > 0 and view.shape[0] >= n and view.itemsize == itemsize
          and view.len == view.shape[0] * row_bytes)
    data = view.buf
    PyBuffer_Release(&view)
    if not ok:
        raise ValueError(f"column {name!r} must be a writable C-contiguous array with at least "
                         f"{n} rows of {row_bytes} bytes")
    return data


cdef Py_ssize_t _chunk_fields(HeaderChunk *c, const uint8_t **src) noexcept:
    # OUT src: for each column of COLUMN_LAYOUT, in order, its field in c.
    # Returns the number of columns.
    src[0] = <const uint8_t *>c.eth_src
    src[1] = <const uint8_t *>c.eth_dst
    src[2] = <const uint8_t *>c.ethertype
    src[3] = <const uint8_t *>c.vlan_outer
    src[4] = <const uint8_t *>c.vlan_inner
    src[5] = <const uint8_t *>c.l3_offset
    src[6] = <const uint8_t *>c.ip_version
    src[7] = <const uint8_t *>c.ip_src
    src[8] = <const uint8_t *>c.ip_dst
    src[9] = <const uint8_t *>c.ipv4_src
    src[10] = <const uint8_t *>c.ipv4_dst
    src[11] = <const uint8_t *>c.ip_proto
    src[12] = <const uint8_t *>c.ttl
    src[13] = <const uint8_t *>c.ip_len
    src[14] = <const uint8_t *>c.frag_offset
    src[15] = <const uint8_t *>c.more_fragments
    src[16] = <const uint8_t *>c.l4_offset
    src[17] = <const uint8_t *>c.sport
    src[18] = <const uint8_t *>c.dport
    src[19] = <const uint8_t *>c.tcp_flags
    src[20] = <const uint8_t *>c.tcp_seq
    src[21] = <const uint8_t *>c.tcp_ack
    src[22] = <const uint8_t *>c.tcp_window
    src[23] = <const uint8_t *>c.icmp_type
    src[24] = <const uint8_t *>c.icmp_code
    src[25] = <const uint8_t *>c.payload_offset
    src[26] = <const uint8_t *>c.payload_len
    src[27] = <const uint8_t *>c.flags
    src[28] = <const uint8_t *>c.tunnel_type
    src[29] = <const uint8_t *>c.tunnel_id
    src[30] = <const uint8_t *>c.tunnel_depth
    src[31] = <const uint8_t *>c.inner_ethertype
    src[32] = <const uint8_t *>c.outer_ip_version
    src[33] = <const uint8_t *>c.outer_ip_src
    src[34] = <const uint8_t *>c.outer_ip_dst
    src[35] = <const uint8_t *>c.outer_ip_proto
    src[36] = <const uint8_t *>c.outer_l3_offset
    src[37] = <const uint8_t *>c.mpls_label
    src[38] = <const uint8_t *>c.mpls_tc
    src[39] = <const uint8_t *>c.mpls_bos
    src[40] = <const uint8_t *>c.mpls_ttl
    src[41] = <const uint8_t *>c.mpls_labels
    src[42] = <const uint8_t *>c.gre_flags
    src[43] = <const uint8_t *>c.gre_seq
    src[44] = <const uint8_t *>c.geneve_opt_len
    src[45] = <const uint8_t *>c.eth_len
    src[46] = <const uint8_t *>c.llc_dsap
    src[47] = <const uint8_t *>c.llc_ssap
    src[48] = <const uint8_t *>c.arp_op
    src[49] = <const uint8_t *>c.arp_sha
    src[50] = <const uint8_t *>c.arp_spa
    src[51] = <const uint8_t *>c.arp_tha
    src[52] = <const uint8_t *>c.arp_tpa
    src[53] = <const uint8_t *>c.ip_dscp
    src[54] = <const uint8_t *>c.ip_ecn
    src[55] = <const uint8_t *>c.ipv6_flow_label
    src[56] = <const uint8_t *>c.tcp_options
    src[57] = <const uint8_t *>c.tcp_mss
    src[58] = <const uint8_t *>c.tcp_wscale
    src[59] = <const uint8_t *>c.tcp_sack_blocks
    src[60] = <const uint8_t *>c.tcp_tsval
    src[61] = <const uint8_t *>c.tcp_tsecr
    src[62] = <const uint8_t *>c.icmp_id
    src[63] = <const uint8_t *>c.icmp_seq
    src[64] = <const uint8_t *>c.sll_ifindex
    src[65] = <const uint8_t *>c.sll_hatype
    src[66] = <const uint8_t *>c.sll_pkttype
    src[67] = <const uint8_t *>c.sll_halen
    src[68] = <const uint8_t *>c.sll_addr
    return 69


cdef Py_ssize_t _first_unsupported(const uint16_t *linktype, Py_ssize_t n,
                                   bint *all_ethernet) noexcept nogil:
    # The first packet whose link type decode_link cannot decode, or -1.
    # OUT all_ethernet: every packet is Ethernet (the loops then skip the test).
    cdef Py_ssize_t i
    cdef bint ethernet = True
    cdef uint16_t known = LINKTYPE_ETHERNET   # the last one found supported: runs cost one test
    for i in range(n):
        if linktype[i] != known:
            ethernet = False
            if not _supported_linktype(linktype[i]):
                all_ethernet[0] = False
                return i
            known = linktype[i]
    all_ethernet[0] = ethernet
    return -1


def unsupported_linktype_message(int linktype, Py_ssize_t index):
    """The error for packet ``index`` of link type ``linktype``, which decode_into refuses."""
    return (f"packet {index} has link type {linktype}, which ringcap does not decode "
            f"(it decodes {', '.join(f'{name} ({value})' for name, value in LINKTYPES.items())}"
            f" and raw IP as {RAW_ALIASES[0]} or {RAW_ALIASES[1]}); select the packets of "
            f"known link types first, e.g. batch[batch.linktype == 1]")


# Column names whose values need the TCP options parsed.
_TCP_OPTION_COLUMNS = frozenset(("tcp_options", "tcp_mss", "tcp_wscale", "tcp_sack_blocks",
                                 "tcp_tsval", "tcp_tsecr"))


def decode_into(const uint8_t[::1] data, const int64_t[::1] offset, const uint32_t[::1] caplen,
                const uint32_t[::1] wirelen, const uint32_t[::1] status,
                const uint16_t[::1] vlan_tci, const uint16_t[::1] vlan_tpid, dict out,
                bint outer=False, const uint16_t[::1] linktype=None,
                const uint8_t[::1] app_ports=None, uint32_t app_rule=0,
                int64_t[::1] app_rows=None):
    """Decode every packet of a batch's columns into the arrays of ``out``.

    ``out`` maps Headers column names to arrays with room for
    ``len(offset)`` packets; columns it lacks are not written.  ``outer``:
    stop at the first encapsulation instead of decoding the inner packet.
    ``linktype``: each packet's link type (``Batch.linktype``; None: all
    Ethernet).  Raises ValueError if a packet lies outside ``data`` or has a
    link type the decoder does not know (naming it); malformed packets are
    flagged, not raised.

    ``app_ports``, ``app_rule``, ``app_rows`` (application columns asked
    for; ``_app.candidate_rule`` gives the first two): also write into
    ``app_rows`` (room for every packet) the indices of the packets that may
    carry an application message, reading each TCP/UDP payload's first bytes
    while the packet is in cache, and return how many (else None).
    """
    cdef Py_ssize_t n = offset.shape[0], bad, k, count
    cdef HeaderColumns cols
    cdef FiveTupleColumns five
    cdef PacketColumns packets
    cdef const uint8_t *base = _no_bytes
    cdef const uint8_t *fields[MAX_COLUMNS]
    cdef uint8_t *dst
    cdef HeaderChunk *chunk
    cdef uint32_t opts = OPT_OUTER if outer else 0
    cdef const uint16_t *linktype_p = NULL
    cdef bint all_ethernet = False
    cdef AppCandidates app
    cdef AppCandidates *app_p = NULL
    if linktype is not None:
        if linktype.shape[0] != n:
            raise ValueError(f"linktype has {linktype.shape[0]} entries, offset has {n}")
        if n:
            linktype_p = &linktype[0]
            with nogil:
                bad = _first_unsupported(linktype_p, n, &all_ethernet)
            if bad >= 0:
                raise ValueError(unsupported_linktype_message(linktype[bad], bad))
            if all_ethernet:
                linktype_p = NULL
    for name, length in (("caplen", caplen.shape[0]), ("wirelen", wirelen.shape[0]),
                         ("status", status.shape[0]), ("vlan_tci", vlan_tci.shape[0]),
                         ("vlan_tpid", vlan_tpid.shape[0])):
        if length != n:
            raise ValueError(f"{name} has {length} entries, offset has {n}")
    unknown = set(out) - {name for name, _, _ in COLUMN_LAYOUT}
    if unknown:
        raise ValueError(f"unknown Headers column(s) {sorted(unknown)}")
    if app_rows is not None:
        if app_ports is None or app_ports.shape[0] != 65536 or app_rows.shape[0] < n:
            raise ValueError("app_ports must have 65536 entries and app_rows room for every "
                             "packet")
        app.ports = &app_ports[0]
        app.rule = app_rule
        app.rows = &app_rows[0] if n else NULL
        app.count = 0
        app_p = &app
    if n == 0:
        return None if app_p == NULL else 0
    if data.shape[0]:
        base = &data[0]
    if not _TCP_OPTION_COLUMNS.isdisjoint(out):
        opts |= OPT_TCP_OPTIONS
    packets.data = base
    packets.data_len = data.shape[0]
    packets.offset = &offset[0]
    packets.caplen = &caplen[0]
    packets.wirelen = &wirelen[0]
    packets.status = &status[0]
    packets.vlan_tci = &vlan_tci[0]
    packets.vlan_tpid = &vlan_tpid[0]
    packets.linktype = linktype_p
    chunk = <HeaderChunk *>PyMem_Malloc(sizeof(HeaderChunk))
    if chunk == NULL:
        raise MemoryError("no memory for the decoder's scratch chunk")
    try:
        count = _chunk_fields(chunk, fields)
        cols.count = 0
        for k in range(count):
            name, itemsize, width = COLUMN_LAYOUT[k]
            dst = <uint8_t *>_column(out, name, n, itemsize, itemsize * width)
            if dst != NULL:
                cols.dst[cols.count] = dst
                cols.src[cols.count] = fields[k]
                cols.row_bytes[cols.count] = itemsize * width
                cols.count += 1
        if _FIVE_TUPLE_SET.issubset(out) and _FIVE_TUPLE_PATH_COLUMNS.issuperset(out):
            five.ip_version = <uint8_t *>_column(out, "ip_version", n, 1, 1)
            five.ip_src = <uint8_t *>_column(out, "ip_src", n, 1, 16)
            five.ip_dst = <uint8_t *>_column(out, "ip_dst", n, 1, 16)
            five.ip_proto = <uint8_t *>_column(out, "ip_proto", n, 1, 1)
            five.sport = <uint16_t *>_column(out, "sport", n, 2, 2)
            five.dport = <uint16_t *>_column(out, "dport", n, 2, 2)
            five.flags = <uint32_t *>_column(out, "flags", n, 4, 4)
            five.tcp_flags = <uint16_t *>_column(out, "tcp_flags", n, 2, 2)
            five.tcp_seq = <uint32_t *>_column(out, "tcp_seq", n, 4, 4)
            five.payload_len = <uint32_t *>_column(out, "payload_len", n, 4, 4)
            five.payload_offset = <uint16_t *>_column(out, "payload_offset", n, 2, 2)
            five.tunnel_type = <uint8_t *>_column(out, "tunnel_type", n, 1, 1)
            five.tunnel_id = <uint32_t *>_column(out, "tunnel_id", n, 4, 4)
            five.vlan_outer = <uint16_t *>_column(out, "vlan_outer", n, 2, 2)
            five.vlan_inner = <uint16_t *>_column(out, "vlan_inner", n, 2, 2)
            five.ethertype = <uint16_t *>_column(out, "ethertype", n, 2, 2)
            with nogil:
                bad = decode_five_tuple(&packets, n, &five, chunk, opts, app_p)
        else:
            with nogil:
                bad = decode_batch(&packets, n, &cols, chunk, opts, app_p)
    finally:
        PyMem_Free(chunk)
    if bad >= 0:
        raise ValueError(
            f"packet {bad} lies outside the batch's data (offset {offset[bad]}, caplen "
            f"{caplen[bad]}, {data.shape[0]} bytes of data); the batch's columns are "
            f"inconsistent: rebuild it with Batch(...) or Batch.copy()")
    return None if app_p == NULL else app.count


# ---------------------------------------------------------------- flows
cdef inline uint64_t _mix(uint64_t x) noexcept nogil:
    # murmur3's 64-bit finaliser
    x ^= x >> 33
    x *= 0xFF51AFD7ED558CCDULL
    x ^= x >> 33
    x *= 0xC4CEB9FE1A85EC53ULL
    x ^= x >> 33
    return x


cdef inline uint64_t _load64(const uint8_t *p) noexcept nogil:
    cdef uint64_t v
    memcpy(&v, p, 8)
    return v


cdef extern from *:
    uint64_t _bswap64 "__builtin_bswap64"(uint64_t x) noexcept nogil


cdef inline int _endpoint_cmp(const uint8_t *addr_a, uint16_t port_a,
                              const uint8_t *addr_b, uint16_t port_b) noexcept nogil:
    # memcmp's order of the addresses (byte by byte from the first), as two
    # big-endian 8-byte words: no call per packet; then the ports
    cdef uint64_t a = _bswap64(_load64(addr_a)), b = _bswap64(_load64(addr_b))
    if a == b:
        a = _bswap64(_load64(addr_a + 8))
        b = _bswap64(_load64(addr_b + 8))
    if a != b:
        return 1 if a > b else -1
    return <int>port_a - <int>port_b


cdef inline uint64_t _flow_hash(const uint8_t *src, uint16_t sport, const uint8_t *dst,
                                uint16_t dport, uint8_t proto) noexcept nogil:
    # Order the endpoints so that both directions hash identically.
    cdef const uint8_t *lo = src
    cdef const uint8_t *hi = dst
    cdef uint16_t lo_port = sport, hi_port = dport
    cdef uint64_t x
    if _endpoint_cmp(src, sport, dst, dport) > 0:
        lo, hi, lo_port, hi_port = dst, src, dport, sport
    # independent multiplies (they run in parallel), one finaliser for avalanche
    x = (_load64(lo) * 0x9E3779B97F4A7C15ULL) ^ (_load64(lo + 8) * 0xC2B2AE3D27D4EB4FULL) \
        ^ ((_load64(hi) ^ 0x165667B19E3779F9ULL) * 0xD6E8FEB86659FD93ULL) \
        ^ ((_load64(hi + 8) ^ 0x27D4EB2F165667C5ULL) * 0xFF51AFD7ED558CCDULL) \
        ^ (((<uint64_t>lo_port << 32) | (<uint64_t>hi_port << 16) | proto) * 0xC4CEB9FE1A85EC53ULL)
    x = _mix(x)
    return x if x else 1


def flow_hashes(const uint8_t[::1] ip_version, const uint8_t[:, ::1] ip_src,
                const uint8_t[:, ::1] ip_dst, const uint16_t[::1] sport,
                const uint16_t[::1] dport, const uint8_t[::1] ip_proto, uint64_t[::1] out):
    """Symmetric 64-bit flow hash per packet into ``out`` (0 for non-IP packets)."""
    cdef Py_ssize_t i, n = ip_version.shape[0]
    _check_flow_inputs(n, ip_src, ip_dst, sport, dport, ip_proto)
    if out.shape[0] != n:
        raise ValueError(f"out has {out.shape[0]} entries, expected {n}")
    if n == 0:
        return
    with nogil:
        _flow_hash_loop(n, &ip_version[0], &ip_src[0, 0], &ip_dst[0, 0], &sport[0], &dport[0],
                        &ip_proto[0], &out[0])


cdef void _flow_hash_loop(Py_ssize_t n, const uint8_t *ip_version, const uint8_t *ip_src,
                          const uint8_t *ip_dst, const uint16_t *sport, const uint16_t *dport,
                          const uint8_t *ip_proto, uint64_t *out) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(n):
        if ip_version[i] == 0:
            out[i] = 0
        else:
            out[i] = _flow_hash(ip_src + 16 * i, sport[i], ip_dst + 16 * i, dport[i], ip_proto[i])


cdef _check_flow_inputs(Py_ssize_t n, const uint8_t[:, ::1] ip_src,
                        const uint8_t[:, ::1] ip_dst, const uint16_t[::1] sport,
                        const uint16_t[::1] dport, const uint8_t[::1] ip_proto):
    if ip_src.shape[0] != n or ip_dst.shape[0] != n or ip_src.shape[1] != 16 \
            or ip_dst.shape[1] != 16:
        raise ValueError(f"ip_src and ip_dst must have shape ({n}, 16)")
    if sport.shape[0] != n or dport.shape[0] != n or ip_proto.shape[0] != n:
        raise ValueError(f"sport, dport and ip_proto must have {n} entries")


cdef inline bint _same_direction(const uint8_t[:, ::1] ip_src, const uint8_t[:, ::1] ip_dst,
                                 const uint16_t[::1] sport, const uint16_t[::1] dport,
                                 Py_ssize_t i, Py_ssize_t j) noexcept nogil:
    return sport[i] == sport[j] and dport[i] == dport[j] and \
        memcmp(&ip_src[i, 0], &ip_src[j, 0], 16) == 0 and \
        memcmp(&ip_dst[i, 0], &ip_dst[j, 0], 16) == 0


cdef inline bint _reversed_direction(const uint8_t[:, ::1] ip_src, const uint8_t[:, ::1] ip_dst,
                                     const uint16_t[::1] sport, const uint16_t[::1] dport,
                                     Py_ssize_t i, Py_ssize_t j) noexcept nogil:
    return sport[i] == dport[j] and dport[i] == sport[j] and \
        memcmp(&ip_src[i, 0], &ip_dst[j, 0], 16) == 0 and \
        memcmp(&ip_dst[i, 0], &ip_src[j, 0], 16) == 0


cdef struct FlowSlot:
    uint64_t hash
    int64_t flow       # -1: empty


cdef FlowSlot *_new_table(Py_ssize_t size) noexcept nogil:
    cdef FlowSlot *table = <FlowSlot *>malloc(size * sizeof(FlowSlot))
    cdef Py_ssize_t k
    if table != NULL:
        for k in range(size):
            table[k].flow = -1
    return table


cdef FlowSlot *_grow_table(FlowSlot *table, Py_ssize_t size) noexcept nogil:
    # A table twice as large holding the entries of table (which is freed);
    # NULL (table kept) when out of memory.
    cdef Py_ssize_t k, slot, mask = 2 * size - 1
    cdef FlowSlot *bigger = _new_table(2 * size)
    if bigger == NULL:
        return NULL
    for k in range(size):
        if table[k].flow >= 0:
            slot = <Py_ssize_t>(table[k].hash & <uint64_t>mask)
            while bigger[slot].flow >= 0:
                slot = (slot + 1) & mask
            bigger[slot] = table[k]
    free(table)
    return bigger


def aggregate_flows(const uint8_t[::1] ip_version, const uint8_t[:, ::1] ip_src,
                    const uint8_t[:, ::1] ip_dst, const uint16_t[::1] sport,
                    const uint16_t[::1] dport, const uint8_t[::1] ip_proto,
                    const uint16_t[::1] tcp_flags, const int64_t[::1] ts,
                    const uint32_t[::1] wirelen, const uint64_t[::1] hashes,
                    const uint64_t[::1] tags,
                    int64_t[::1] packet_flow, int64_t[::1] first_packet,
                    uint64_t[:, ::1] packets, uint64_t[:, ::1] nbytes,
                    int64_t[:, ::1] first_ts, int64_t[:, ::1] last_ts,
                    uint16_t[:, ::1] flags_union):
    """Fold packets into flows in one pass; returns the number of flows.

    IN: the decoded 5-tuple columns, ``tcp_flags``, ``ts``, ``wirelen``,
    ``hashes`` (from :func:`flow_hashes`, with any tag mixed in) and ``tags``
    (packets with different tags, e.g. tunnels, are different flows).  OUT ``packet_flow``: flow index
    per packet (-1 for non-IP); ``first_packet``: the packet that opened
    each flow (its source is the forward side); ``packets``, ``nbytes``,
    ``first_ts``, ``last_ts``, ``flags_union``: shape (2, capacity), row 0
    forward and row 1 reverse.  Per-direction timestamps stay INT64_MIN
    while a direction has no packets.  The hash table is internal and grows
    with the number of flows, so it stays in cache when flows are few.
    """
    cdef Py_ssize_t n = ip_version.shape[0], i, f, j, slot, nflows = 0
    cdef Py_ssize_t size = 1024, mask = size - 1
    cdef int d
    cdef int64_t t
    cdef uint64_t hash
    cdef FlowSlot *table
    cdef FlowSlot *bigger
    _check_flow_inputs(n, ip_src, ip_dst, sport, dport, ip_proto)
    for name, length in (("tcp_flags", tcp_flags.shape[0]), ("ts", ts.shape[0]),
                         ("wirelen", wirelen.shape[0]), ("hashes", hashes.shape[0]),
                         ("tags", tags.shape[0]),
                         ("packet_flow", packet_flow.shape[0])):
        if length != n:
            raise ValueError(f"{name} has {length} entries, expected {n}")
    for rows, cols in ((packets.shape[0], packets.shape[1]), (nbytes.shape[0], nbytes.shape[1]),
                       (first_ts.shape[0], first_ts.shape[1]), (last_ts.shape[0], last_ts.shape[1]),
                       (flags_union.shape[0], flags_union.shape[1])):
        if rows != 2 or cols < n:
            raise ValueError(f"per-flow outputs must have shape (2, >= {n})")
    if first_packet.shape[0] < n:
        raise ValueError(f"first_packet needs room for {n} flows")
    with nogil:
        table = _new_table(size)
        for i in range(n):
            if table == NULL:
                break
            if ip_version[i] == 0:
                packet_flow[i] = -1
                continue
            hash = hashes[i]
            slot = <Py_ssize_t>(hash & <uint64_t>mask)
            d = -1
            while True:
                f = table[slot].flow
                if f < 0:
                    f = nflows
                    nflows += 1
                    table[slot].hash = hash
                    table[slot].flow = f
                    first_packet[f] = i
                    for d in range(2):
                        packets[d, f] = 0
                        nbytes[d, f] = 0
                        first_ts[d, f] = INT64_MIN
                        last_ts[d, f] = INT64_MIN
                        flags_union[d, f] = 0
                    d = 0
                    if 2 * nflows > size:     # keep the table at most half full
                        bigger = _grow_table(table, size)
                        if bigger == NULL:
                            free(table)
                        table = bigger
                        size *= 2
                        mask = size - 1
                    break
                if table[slot].hash == hash:
                    j = first_packet[f]
                    if ip_proto[j] == ip_proto[i] and tags[j] == tags[i]:
                        if _same_direction(ip_src, ip_dst, sport, dport, i, j):
                            d = 0
                            break
                        if _reversed_direction(ip_src, ip_dst, sport, dport, i, j):
                            d = 1
                            break
                slot = (slot + 1) & mask
            packet_flow[i] = f
            t = ts[i]
            if packets[d, f] == 0:
                first_ts[d, f] = t
                last_ts[d, f] = t
            else:
                if t < first_ts[d, f]:
                    first_ts[d, f] = t
                if t > last_ts[d, f]:
                    last_ts[d, f] = t
            packets[d, f] += 1
            nbytes[d, f] += wirelen[i]
            flags_union[d, f] |= tcp_flags[i]
        if table != NULL:
            free(table)
    if table == NULL:
        raise MemoryError(f"no memory for a flow table of {size} slots")
    return nflows
