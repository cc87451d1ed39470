# Header decoding and flow aggregation for ringcap batches.
#
# decode_batch walks every frame once, without the GIL, and writes one record
# per packet into caller-allocated columns.  Every read is preceded by a
# length check against caplen; debug builds also verify each read (see
# RINGCAP_CHECKED_READS) and count any that would overrun.  Malformed input
# is reported through per-packet flag bits, never by an exception.
#
# flow_hashes gives both directions of a conversation the same 64-bit hash;
# aggregate_flows folds packets into per-flow, per-direction counters through
# an open-addressing table that grows with the number of flows.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t, INT64_MIN
from libc.string cimport memcpy, memset, memcmp
from cpython.mem cimport PyMem_Malloc, PyMem_Free
from libc.stdlib cimport malloc, free
cimport numpy as cnp

from includes.decode_defs cimport *

cnp.import_array()

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
}
CHECKED_READS = bool(RINGCAP_CHECKED_READS)
MAX_IPV6_EXTENSION_HEADERS = MAX_IPV6_EXT_HEADERS
# What the 5-tuple path writes (see decode(..., columns=)).
FIVE_TUPLE_COLUMNS = ("ip_version", "ip_src", "ip_dst", "ip_proto", "sport", "dport", "flags")

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
cdef inline bint _is_vlan_tpid(uint16_t ethertype) noexcept nogil:
    return ethertype == ETHERTYPE_VLAN or ethertype == ETHERTYPE_QINQ or \
        ethertype == ETHERTYPE_QINQ_OLD


cdef inline bint _is_ipv6_ext(uint8_t nh) noexcept nogil:
    return nh == IPPROTO_HOPOPTS or nh == IPPROTO_ROUTING or nh == IPPROTO_FRAGMENT or \
        nh == IPPROTO_DSTOPTS or nh == IPPROTO_AH or nh == IPPROTO_MH or \
        nh == IPPROTO_HIP or nh == IPPROTO_SHIM6


cdef inline void _transport(const uint8_t *p, Py_ssize_t cap, Py_ssize_t l4,
                            Py_ssize_t ip_end, uint8_t proto, uint8_t icmp_proto,
                            HeaderChunk *c, Py_ssize_t j) noexcept nogil:
    # IN p/cap: the frame; l4: transport start; ip_end: end of the IP packet
    # (may lie past cap); OUT c row j: transport and payload fields, flags.
    cdef Py_ssize_t hlen, ulen
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
        c.icmp_type[j] = rd8(p, l4, cap)
        c.icmp_code[j] = rd8(p, l4 + 1, cap)
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
        if l4 + hlen > cap:
            c.flags[j] |= F_TRUNCATED_L4
            return
    elif proto == IPPROTO_UDP and not (c.flags[j] & F_FRAGMENT):
        ulen = rd16(p, l4 + 4, cap)
        if ulen < 8 or l4 + ulen > ip_end:
            c.flags[j] |= F_BAD_L4_LENGTH
            return
        ip_end = l4 + ulen
    c.payload_offset[j] = <uint16_t>(l4 + hlen)
    c.payload_len[j] = <uint32_t>(ip_end - l4 - hlen)


cdef inline void _ipv4(const uint8_t *p, Py_ssize_t cap, Py_ssize_t wire, Py_ssize_t l3,
                       HeaderChunk *c, Py_ssize_t j) noexcept nogil:
    cdef Py_ssize_t ihl, ip_end
    cdef uint16_t frag
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
    ip_end = l3 + c.ip_len[j]
    if ip_end > cap:
        c.flags[j] |= F_TRUNCATED_PAYLOAD
    if c.more_fragments[j] or c.frag_offset[j]:
        c.flags[j] |= F_FRAGMENT
        if c.frag_offset[j]:
            c.flags[j] |= F_NONFIRST_FRAGMENT
    if ihl < 20:
        c.flags[j] |= F_BAD_IHL
        return
    if c.ip_len[j] < ihl or ip_end > wire:
        c.flags[j] |= F_BAD_IP_LENGTH
        return
    if l3 + ihl > cap:
        c.flags[j] |= F_TRUNCATED_L3
        return
    if c.frag_offset[j]:
        c.payload_offset[j] = <uint16_t>(l3 + ihl)
        c.payload_len[j] = <uint32_t>(ip_end - l3 - ihl)
        return
    _transport(p, cap, l3 + ihl, ip_end, c.ip_proto[j], IPPROTO_ICMP, c, j)


cdef inline void _ipv6(const uint8_t *p, Py_ssize_t cap, Py_ssize_t wire, Py_ssize_t l3,
                       HeaderChunk *c, Py_ssize_t j) noexcept nogil:
    cdef Py_ssize_t ip_end, cur, hlen
    cdef uint8_t nh
    cdef int count = 0
    cdef uint16_t frag
    if l3 + 40 > cap:
        c.flags[j] |= F_TRUNCATED_L3
        return
    if rd8(p, l3, cap) >> 4 != 6:
        c.flags[j] |= F_BAD_IP_VERSION
        return
    c.ip_version[j] = 6
    c.ip_len[j] = 40 + <uint32_t>rd16(p, l3 + 4, cap)
    nh = rd8(p, l3 + 6, cap)
    c.ttl[j] = rd8(p, l3 + 7, cap)
    rdcopy(c.ip_src + 16 * j, p, l3 + 8, 16, cap)
    rdcopy(c.ip_dst + 16 * j, p, l3 + 24, 16, cap)
    ip_end = l3 + c.ip_len[j]
    if ip_end > cap:
        c.flags[j] |= F_TRUNCATED_PAYLOAD
    if ip_end > wire:
        c.flags[j] |= F_BAD_IP_LENGTH
        c.ip_proto[j] = nh
        return
    cur = l3 + 40
    while _is_ipv6_ext(nh):
        if count == MAX_IPV6_EXT_HEADERS:
            c.flags[j] |= F_IPV6_EXT_LIMIT
            c.ip_proto[j] = nh
            return
        if cur + 8 > ip_end:
            c.flags[j] |= F_BAD_IP_LENGTH
            c.ip_proto[j] = nh
            return
        if cur + 8 > cap:
            c.flags[j] |= F_TRUNCATED_L3
            c.ip_proto[j] = nh
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
            c.ip_proto[j] = nh
            return
        if cur + hlen > cap:
            c.flags[j] |= F_TRUNCATED_L3
            c.ip_proto[j] = nh
            return
        nh = rd8(p, cur, cap)
        cur += hlen
        count += 1
        if c.flags[j] & F_NONFIRST_FRAGMENT:
            break
    c.ip_proto[j] = nh
    if c.flags[j] & F_NONFIRST_FRAGMENT:
        c.payload_offset[j] = <uint16_t>cur
        c.payload_len[j] = <uint32_t>(ip_end - cur)
        return
    if nh == IPPROTO_NONE:
        return
    _transport(p, cap, cur, ip_end, nh, IPPROTO_ICMPV6, c, j)


cdef void decode_packet(const uint8_t *p, Py_ssize_t cap, Py_ssize_t wire, uint32_t status,
                        uint16_t meta_tci, uint16_t meta_tpid, HeaderChunk *c,
                        Py_ssize_t j) noexcept nogil:
    # IN p: the frame's first byte; cap: bytes captured (never read past);
    # wire: length on the wire (for IP length sanity); status/meta_*: the
    # kernel's VLAN metadata.  OUT c row j, which must be all zero: the
    # fields the frame has.
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
    c.ethertype[j] = ethertype
    if not (c.flags[j] & (F_TRUNCATED_L2 | F_VLAN_LIMIT)):
        c.l3_offset[j] = <uint16_t>(pos + 2)
        if ethertype == ETHERTYPE_IPV4:
            _ipv4(p, cap, wire, pos + 2, c, j)
        elif ethertype == ETHERTYPE_IPV6:
            _ipv6(p, cap, wire, pos + 2, c, j)


cdef bint _fast_path = True   # tests turn it off to check it against the general path


def _test_set_fast_path(bint enabled):
    """Tests only: enable or disable the plain IPv4/IPv6 TCP/UDP shortcuts."""
    global _fast_path
    _fast_path = enabled


cdef inline bint _plain_ipv4(const uint8_t *p, Py_ssize_t cap, Py_ssize_t wire, uint32_t status,
                             HeaderChunk *c, Py_ssize_t j) noexcept nogil:
    # The common case in one straight run: untagged Ethernet, IPv4 without
    # options or fragmentation, complete TCP or UDP header.  Fills row j
    # (all zero on entry) exactly as decode_packet would and returns True;
    # returns False, having written nothing, for anything else.
    cdef Py_ssize_t ip_end, hlen
    cdef uint8_t proto
    if cap < 42 or (status & TP_STATUS_VLAN_VALID) or not _fast_path:
        return False
    if rd16(p, 12, cap) != ETHERTYPE_IPV4 or rd8(p, 14, cap) != 0x45 \
            or rd16(p, 20, cap) & 0x3FFF:
        return False
    ip_end = 14 + <Py_ssize_t>rd16(p, 16, cap)
    if ip_end > wire:
        return False
    proto = rd8(p, 23, cap)
    if proto == IPPROTO_TCP:
        if cap < 54 or ip_end < 54:
            return False
        hlen = (rd8(p, 46, cap) >> 4) * 4
        if hlen < 20 or 34 + hlen > ip_end or 34 + hlen > cap:
            return False
    elif proto == IPPROTO_UDP:
        if ip_end < 42 or rd16(p, 38, cap) < 8 or 34 + <Py_ssize_t>rd16(p, 38, cap) > ip_end:
            return False
        hlen = 8
        ip_end = 34 + <Py_ssize_t>rd16(p, 38, cap)
    else:
        return False
    rdcopy(c.eth_dst + 6 * j, p, 0, 6, cap)
    rdcopy(c.eth_src + 6 * j, p, 6, 6, cap)
    memcpy(c.ip_src + 16 * j, _V4_MAPPED_PREFIX, 12)
    memcpy(c.ip_dst + 16 * j, _V4_MAPPED_PREFIX, 12)
    rdcopy(c.ip_src + 16 * j + 12, p, 26, 4, cap)
    rdcopy(c.ip_dst + 16 * j + 12, p, 30, 4, cap)
    c.ethertype[j] = ETHERTYPE_IPV4
    c.l3_offset[j] = 14
    c.ip_version[j] = 4
    c.ip_len[j] = rd16(p, 16, cap)
    c.ttl[j] = rd8(p, 22, cap)
    c.ip_proto[j] = proto
    c.ipv4_src[j] = rd32(p, 26, cap)
    c.ipv4_dst[j] = rd32(p, 30, cap)
    c.l4_offset[j] = 34
    c.sport[j] = rd16(p, 34, cap)
    c.dport[j] = rd16(p, 36, cap)
    if proto == IPPROTO_TCP:
        c.tcp_seq[j] = rd32(p, 38, cap)
        c.tcp_ack[j] = rd32(p, 42, cap)
        c.tcp_flags[j] = rd16(p, 46, cap) & 0x01FF
        c.tcp_window[j] = rd16(p, 48, cap)
    c.payload_offset[j] = <uint16_t>(34 + hlen)
    c.payload_len[j] = <uint32_t>(ip_end - 34 - hlen)
    if 14 + <Py_ssize_t>c.ip_len[j] > cap:
        c.flags[j] = F_TRUNCATED_PAYLOAD
    return True


# ---------------------------------------------------------------- the batch loop
cdef Py_ssize_t decode_batch(const uint8_t *data, Py_ssize_t data_len,
                             const int64_t[::1] offset, const uint32_t[::1] caplen,
                             const uint32_t[::1] wirelen, const uint32_t[::1] status,
                             const uint16_t[::1] vlan_tci, const uint16_t[::1] vlan_tpid,
                             HeaderColumns cols, HeaderChunk *c) except -2 nogil:
    # IN data/data_len: the batch's bytes; offset..vlan_tpid: its columns.
    # OUT cols: one entry per packet; NULL columns are skipped.  c: scratch.
    # Returns -1, or the index of the first packet whose bytes lie outside
    # data.
    #
    # Packets are decoded DECODE_CHUNK at a time into c, which stays in
    # cache, then copied out column by column: storing 28 columns packet by
    # packet interleaves 28 write streams, more than the prefetchers follow.
    cdef Py_ssize_t i, j, m, first = 0, n = offset.shape[0], cap, wire
    cdef int64_t start
    cdef const int64_t *offset_p = &offset[0]
    cdef const uint32_t *caplen_p = &caplen[0]
    cdef const uint32_t *wirelen_p = &wirelen[0]
    cdef const uint32_t *status_p = &status[0]
    cdef const uint16_t *vlan_tci_p = &vlan_tci[0]
    cdef const uint16_t *vlan_tpid_p = &vlan_tpid[0]
    while first < n:
        m = n - first
        if m > DECODE_CHUNK:
            m = DECODE_CHUNK
        memset(c, 0, sizeof(HeaderChunk))
        for j in range(m):
            i = first + j
            start = offset_p[i]
            cap = caplen_p[i]
            if start < 0 or start > data_len or cap > data_len - start:   # cannot overflow
                return i
            wire = wirelen_p[i]
            if wire < cap:
                wire = cap
            if not _plain_ipv4(data + start, cap, wire, status_p[i], c, j):
                decode_packet(data + start, cap, wire, status_p[i], vlan_tci_p[i],
                              vlan_tpid_p[i], c, j)
        if cols.eth_src != NULL:
            memcpy(cols.eth_src + 6 * first, c.eth_src, 6 * m)
        if cols.eth_dst != NULL:
            memcpy(cols.eth_dst + 6 * first, c.eth_dst, 6 * m)
        if cols.ip_src != NULL:
            memcpy(cols.ip_src + 16 * first, c.ip_src, 16 * m)
        if cols.ip_dst != NULL:
            memcpy(cols.ip_dst + 16 * first, c.ip_dst, 16 * m)
        if cols.ethertype != NULL:
            memcpy(cols.ethertype + first, c.ethertype, m * sizeof(c.ethertype[0]))
        if cols.vlan_outer != NULL:
            memcpy(cols.vlan_outer + first, c.vlan_outer, m * sizeof(c.vlan_outer[0]))
        if cols.vlan_inner != NULL:
            memcpy(cols.vlan_inner + first, c.vlan_inner, m * sizeof(c.vlan_inner[0]))
        if cols.l3_offset != NULL:
            memcpy(cols.l3_offset + first, c.l3_offset, m * sizeof(c.l3_offset[0]))
        if cols.ip_version != NULL:
            memcpy(cols.ip_version + first, c.ip_version, m * sizeof(c.ip_version[0]))
        if cols.ipv4_src != NULL:
            memcpy(cols.ipv4_src + first, c.ipv4_src, m * sizeof(c.ipv4_src[0]))
        if cols.ipv4_dst != NULL:
            memcpy(cols.ipv4_dst + first, c.ipv4_dst, m * sizeof(c.ipv4_dst[0]))
        if cols.ip_proto != NULL:
            memcpy(cols.ip_proto + first, c.ip_proto, m * sizeof(c.ip_proto[0]))
        if cols.ttl != NULL:
            memcpy(cols.ttl + first, c.ttl, m * sizeof(c.ttl[0]))
        if cols.ip_len != NULL:
            memcpy(cols.ip_len + first, c.ip_len, m * sizeof(c.ip_len[0]))
        if cols.frag_offset != NULL:
            memcpy(cols.frag_offset + first, c.frag_offset, m * sizeof(c.frag_offset[0]))
        if cols.more_fragments != NULL:
            memcpy(cols.more_fragments + first, c.more_fragments, m * sizeof(c.more_fragments[0]))
        if cols.l4_offset != NULL:
            memcpy(cols.l4_offset + first, c.l4_offset, m * sizeof(c.l4_offset[0]))
        if cols.sport != NULL:
            memcpy(cols.sport + first, c.sport, m * sizeof(c.sport[0]))
        if cols.dport != NULL:
            memcpy(cols.dport + first, c.dport, m * sizeof(c.dport[0]))
        if cols.tcp_flags != NULL:
            memcpy(cols.tcp_flags + first, c.tcp_flags, m * sizeof(c.tcp_flags[0]))
        if cols.tcp_seq != NULL:
            memcpy(cols.tcp_seq + first, c.tcp_seq, m * sizeof(c.tcp_seq[0]))
        if cols.tcp_ack != NULL:
            memcpy(cols.tcp_ack + first, c.tcp_ack, m * sizeof(c.tcp_ack[0]))
        if cols.tcp_window != NULL:
            memcpy(cols.tcp_window + first, c.tcp_window, m * sizeof(c.tcp_window[0]))
        if cols.icmp_type != NULL:
            memcpy(cols.icmp_type + first, c.icmp_type, m * sizeof(c.icmp_type[0]))
        if cols.icmp_code != NULL:
            memcpy(cols.icmp_code + first, c.icmp_code, m * sizeof(c.icmp_code[0]))
        if cols.payload_offset != NULL:
            memcpy(cols.payload_offset + first, c.payload_offset, m * sizeof(c.payload_offset[0]))
        if cols.payload_len != NULL:
            memcpy(cols.payload_len + first, c.payload_len, m * sizeof(c.payload_len[0]))
        if cols.flags != NULL:
            memcpy(cols.flags + first, c.flags, m * sizeof(c.flags[0]))
        first += m
    return -1


cdef Py_ssize_t decode_five_tuple(const uint8_t *data, Py_ssize_t data_len,
                                  const int64_t[::1] offset, const uint32_t[::1] caplen,
                                  const uint32_t[::1] wirelen, const uint32_t[::1] status,
                                  const uint16_t[::1] vlan_tci, const uint16_t[::1] vlan_tpid,
                                  HeaderColumns cols, HeaderChunk *c) except -2 nogil:
    # decode_batch for exactly FIVE_TUPLE_COLUMNS.  Untagged IPv4 (no options,
    # not fragmented) and IPv6 (no extension headers) TCP/UDP packets take a
    # short inline run straight to the columns; the others are decoded
    # into c and copied out DECODE_CHUNK at a time.  The values are the same
    # either way.
    cdef Py_ssize_t i, n = offset.shape[0], cap, wire, ip_end, hlen, k = 0
    cdef const uint8_t *p
    cdef uint8_t proto
    cdef int64_t start
    cdef Py_ssize_t pending[DECODE_CHUNK]   # packet index of each row of c
    # Plain pointers in locals: stores through the uint8_t column pointers
    # could alias memoryview structs and globals, forcing reloads each packet.
    cdef const int64_t *offset_p = &offset[0]
    cdef const uint32_t *caplen_p = &caplen[0]
    cdef const uint32_t *wirelen_p = &wirelen[0]
    cdef const uint32_t *status_p = &status[0]
    cdef uint8_t *ip_src = cols.ip_src
    cdef uint8_t *ip_dst = cols.ip_dst
    cdef uint8_t *ip_version = cols.ip_version
    cdef uint8_t *ip_proto = cols.ip_proto
    cdef uint16_t *sport = cols.sport
    cdef uint16_t *dport = cols.dport
    cdef uint32_t *flags = cols.flags
    cdef bint fast = _fast_path
    memset(c, 0, sizeof(HeaderChunk))
    for i in range(n + 1):
        if k == DECODE_CHUNK or (i == n and k):
            _flush_five_tuple(cols, c, pending, k)
            k = 0
        if i == n:
            break
        start = offset_p[i]
        cap = caplen_p[i]
        if start < 0 or start > data_len or cap > data_len - start:   # cannot overflow
            return i
        wire = wirelen_p[i]
        if wire < cap:
            wire = cap
        p = data + start
        if fast and cap >= 54 and not (status_p[i] & TP_STATUS_VLAN_VALID) \
                and rd16(p, 12, cap) == ETHERTYPE_IPV4 and rd8(p, 14, cap) == 0x45 \
                and not (rd16(p, 20, cap) & 0x3FFF):
            ip_end = 14 + <Py_ssize_t>rd16(p, 16, cap)
            proto = rd8(p, 23, cap)
            hlen = (rd8(p, 46, cap) >> 4) * 4
            if ip_end <= wire and ((proto == IPPROTO_TCP and hlen >= 20 and 34 + hlen <= ip_end
                                    and 34 + hlen <= cap)
                                   or (proto == IPPROTO_UDP and rd16(p, 38, cap) >= 8
                                       and 34 + <Py_ssize_t>rd16(p, 38, cap) <= ip_end)):
                memset(ip_src + 16 * i, 0, 10)
                memset(ip_src + 16 * i + 10, 0xFF, 2)
                memset(ip_dst + 16 * i, 0, 10)
                memset(ip_dst + 16 * i + 10, 0xFF, 2)
                rdcopy(ip_src + 16 * i + 12, p, 26, 4, cap)
                rdcopy(ip_dst + 16 * i + 12, p, 30, 4, cap)
                ip_version[i] = 4
                ip_proto[i] = proto
                sport[i] = rd16(p, 34, cap)
                dport[i] = rd16(p, 36, cap)
                flags[i] = F_TRUNCATED_PAYLOAD if ip_end > cap else 0
                continue
        elif fast and cap >= 62 and not (status_p[i] & TP_STATUS_VLAN_VALID) \
                and rd16(p, 12, cap) == ETHERTYPE_IPV6 and rd8(p, 14, cap) >> 4 == 6:
            # IPv6 straight to TCP or UDP, no extension headers
            ip_end = 54 + <Py_ssize_t>rd16(p, 18, cap)
            proto = rd8(p, 20, cap)
            if ip_end <= wire and ((proto == IPPROTO_TCP and cap >= 74
                                    and (rd8(p, 66, cap) >> 4) >= 5
                                    and 54 + (rd8(p, 66, cap) >> 4) * 4 <= ip_end
                                    and 54 + (rd8(p, 66, cap) >> 4) * 4 <= cap)
                                   or (proto == IPPROTO_UDP and rd16(p, 58, cap) >= 8
                                       and 54 + <Py_ssize_t>rd16(p, 58, cap) <= ip_end)):
                rdcopy(ip_src + 16 * i, p, 22, 16, cap)
                rdcopy(ip_dst + 16 * i, p, 38, 16, cap)
                ip_version[i] = 6
                ip_proto[i] = proto
                sport[i] = rd16(p, 54, cap)
                dport[i] = rd16(p, 56, cap)
                flags[i] = F_TRUNCATED_PAYLOAD if ip_end > cap else 0
                continue
        decode_packet(p, cap, wire, status_p[i], vlan_tci[i], vlan_tpid[i], c, k)
        pending[k] = i
        k += 1
    return -1


cdef void _flush_five_tuple(HeaderColumns cols, HeaderChunk *c, const Py_ssize_t *pending,
                            Py_ssize_t k) noexcept nogil:
    # Copy rows 0..k-1 of c to the packets they belong to, then clear c.
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
    memset(c, 0, sizeof(HeaderChunk))


cdef void *_column(dict out, str name, Py_ssize_t n, Py_ssize_t itemsize,
                   Py_ssize_t row_bytes) except? NULL:
    # A pointer into out[name] after checking it can hold n rows; NULL when
    # out has no such column (it is not decoded).
    cdef cnp.ndarray array
    obj = out.get(name)
    if obj is None:
        return NULL
    if not isinstance(obj, cnp.ndarray):
        raise TypeError(f"column {name!r} must be a numpy array, got {type(obj).__name__}")
    array = <cnp.ndarray>obj
    if cnp.PyArray_NDIM(array) == 0 or cnp.PyArray_DIM(array, 0) < n \
            or cnp.PyArray_ITEMSIZE(array) != itemsize \
            or cnp.PyArray_NBYTES(array) != cnp.PyArray_DIM(array, 0) * row_bytes \
            or not cnp.PyArray_ISCARRAY(array):
        raise ValueError(f"column {name!r} must be a writable C-contiguous array with at least "
                         f"{n} rows of {row_bytes} bytes")
    return cnp.PyArray_DATA(array)


def decode_into(const uint8_t[::1] data, const int64_t[::1] offset, const uint32_t[::1] caplen,
                const uint32_t[::1] wirelen, const uint32_t[::1] status,
                const uint16_t[::1] vlan_tci, const uint16_t[::1] vlan_tpid, dict out):
    """Decode every packet of a batch's columns into the arrays of ``out``.

    ``out`` maps Headers column names to arrays with room for
    ``len(offset)`` packets; columns it lacks are not written.  Raises ValueError if a packet lies outside
    ``data``; malformed packets are flagged, not raised.
    """
    cdef Py_ssize_t n = offset.shape[0], bad
    cdef HeaderColumns cols
    cdef const uint8_t *base = _no_bytes
    cdef bint five_tuple
    cdef HeaderChunk *chunk
    for name, length in (("caplen", caplen.shape[0]), ("wirelen", wirelen.shape[0]),
                         ("status", status.shape[0]), ("vlan_tci", vlan_tci.shape[0]),
                         ("vlan_tpid", vlan_tpid.shape[0])):
        if length != n:
            raise ValueError(f"{name} has {length} entries, offset has {n}")
    if n == 0:
        return
    if data.shape[0]:
        base = &data[0]
    cols.eth_src = <uint8_t *>_column(out, "eth_src", n, 1, 6)
    cols.eth_dst = <uint8_t *>_column(out, "eth_dst", n, 1, 6)
    cols.ethertype = <uint16_t *>_column(out, "ethertype", n, 2, 2)
    cols.vlan_outer = <uint16_t *>_column(out, "vlan_outer", n, 2, 2)
    cols.vlan_inner = <uint16_t *>_column(out, "vlan_inner", n, 2, 2)
    cols.l3_offset = <uint16_t *>_column(out, "l3_offset", n, 2, 2)
    cols.ip_version = <uint8_t *>_column(out, "ip_version", n, 1, 1)
    cols.ip_src = <uint8_t *>_column(out, "ip_src", n, 1, 16)
    cols.ip_dst = <uint8_t *>_column(out, "ip_dst", n, 1, 16)
    cols.ipv4_src = <uint32_t *>_column(out, "ipv4_src", n, 4, 4)
    cols.ipv4_dst = <uint32_t *>_column(out, "ipv4_dst", n, 4, 4)
    cols.ip_proto = <uint8_t *>_column(out, "ip_proto", n, 1, 1)
    cols.ttl = <uint8_t *>_column(out, "ttl", n, 1, 1)
    cols.ip_len = <uint32_t *>_column(out, "ip_len", n, 4, 4)
    cols.frag_offset = <uint16_t *>_column(out, "frag_offset", n, 2, 2)
    cols.more_fragments = <uint8_t *>_column(out, "more_fragments", n, 1, 1)
    cols.l4_offset = <uint16_t *>_column(out, "l4_offset", n, 2, 2)
    cols.sport = <uint16_t *>_column(out, "sport", n, 2, 2)
    cols.dport = <uint16_t *>_column(out, "dport", n, 2, 2)
    cols.tcp_flags = <uint16_t *>_column(out, "tcp_flags", n, 2, 2)
    cols.tcp_seq = <uint32_t *>_column(out, "tcp_seq", n, 4, 4)
    cols.tcp_ack = <uint32_t *>_column(out, "tcp_ack", n, 4, 4)
    cols.tcp_window = <uint16_t *>_column(out, "tcp_window", n, 2, 2)
    cols.icmp_type = <uint8_t *>_column(out, "icmp_type", n, 1, 1)
    cols.icmp_code = <uint8_t *>_column(out, "icmp_code", n, 1, 1)
    cols.payload_offset = <uint16_t *>_column(out, "payload_offset", n, 2, 2)
    cols.payload_len = <uint32_t *>_column(out, "payload_len", n, 4, 4)
    cols.flags = <uint32_t *>_column(out, "flags", n, 4, 4)
    five_tuple = set(out) == set(FIVE_TUPLE_COLUMNS)
    chunk = <HeaderChunk *>PyMem_Malloc(sizeof(HeaderChunk))
    if chunk == NULL:
        raise MemoryError("no memory for the decoder's scratch chunk")
    try:
        with nogil:
            if five_tuple:
                bad = decode_five_tuple(base, data.shape[0], offset, caplen, wirelen, status,
                                        vlan_tci, vlan_tpid, cols, chunk)
            else:
                bad = decode_batch(base, data.shape[0], offset, caplen, wirelen, status,
                                   vlan_tci, vlan_tpid, cols, chunk)
    finally:
        PyMem_Free(chunk)
    if bad >= 0:
        raise ValueError(
            f"packet {bad} lies outside the batch's data (offset {offset[bad]}, caplen "
            f"{caplen[bad]}, {data.shape[0]} bytes of data); the batch's columns are "
            f"inconsistent: rebuild it with Batch(...) or Batch.copy()")


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


cdef inline int _endpoint_cmp(const uint8_t *addr_a, uint16_t port_a,
                              const uint8_t *addr_b, uint16_t port_b) noexcept nogil:
    cdef int c = memcmp(addr_a, addr_b, 16)
    if c:
        return c
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
                    int64_t[::1] packet_flow, int64_t[::1] first_packet,
                    uint64_t[:, ::1] packets, uint64_t[:, ::1] nbytes,
                    int64_t[:, ::1] first_ts, int64_t[:, ::1] last_ts,
                    uint16_t[:, ::1] flags_union):
    """Fold packets into flows in one pass; returns the number of flows.

    IN: the decoded 5-tuple columns, ``tcp_flags``, ``ts``, ``wirelen`` and
    ``hashes`` (from :func:`flow_hashes`).  OUT ``packet_flow``: flow index
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
                    if ip_proto[j] == ip_proto[i]:
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
