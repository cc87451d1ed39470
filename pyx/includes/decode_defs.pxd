# Declarations for the header decoder (pyx/_decode.pyx): protocol numbers,
# the per-packet flag bits, the record one packet decodes into, and the
# read-checking switch of debug builds.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int64_t

cdef extern from *:
    """
    /* Debug builds (RINGCAP_CYTHON_DEBUG=1 defines CYTHON_TRACE_NOGIL) check
       every packet read against caplen; release builds trust the decoder's
       own length checks. */
    #if defined(CYTHON_TRACE_NOGIL) && CYTHON_TRACE_NOGIL
    #define RINGCAP_CHECKED_READS 1
    #else
    #define RINGCAP_CHECKED_READS 0
    #endif
    """
    const bint RINGCAP_CHECKED_READS


cdef enum:
    ETH_HLEN = 14
    ETHERTYPE_IPV4 = 0x0800
    ETHERTYPE_IPV6 = 0x86DD
    ETHERTYPE_VLAN = 0x8100      # 802.1Q
    ETHERTYPE_QINQ = 0x88A8      # 802.1ad service tag
    ETHERTYPE_QINQ_OLD = 0x9100  # pre-standard QinQ, still seen on switches

    IPPROTO_HOPOPTS = 0
    IPPROTO_ICMP = 1
    IPPROTO_TCP = 6
    IPPROTO_UDP = 17
    IPPROTO_ROUTING = 43
    IPPROTO_FRAGMENT = 44
    IPPROTO_ESP = 50
    IPPROTO_AH = 51
    IPPROTO_ICMPV6 = 58
    IPPROTO_NONE = 59
    IPPROTO_DSTOPTS = 60
    IPPROTO_SCTP = 132
    IPPROTO_MH = 135
    IPPROTO_HIP = 139
    IPPROTO_SHIM6 = 140

    MAX_IPV6_EXT_HEADERS = 16
    MAX_VLAN_TAGS = 8    # deeper stacks are not decoded (and would overflow uint16 offsets)
    DECODE_CHUNK = 128   # packets decoded before their columns are written out

    # linux/if_packet.h tp_status bits carried in Batch.status
    TP_STATUS_VLAN_VALID = 1 << 4
    TP_STATUS_VLAN_TPID_VALID = 1 << 6


# Bits of Headers.flags.  ringcap/decode.py re-exports them with docstrings.
cdef enum:
    F_TRUNCATED_L2 = 1 << 0       # ends inside the Ethernet header or a VLAN tag
    F_TRUNCATED_L3 = 1 << 1       # ends inside the IP header, its options or extension headers
    F_TRUNCATED_L4 = 1 << 2       # ends inside the TCP/UDP/SCTP/ICMP header or TCP options
    F_TRUNCATED_PAYLOAD = 1 << 3  # fewer bytes captured than the IP length says
    F_BAD_IP_VERSION = 1 << 4     # version nibble disagrees with the ethertype
    F_BAD_IHL = 1 << 5            # IPv4 header length below 20 bytes
    F_BAD_IP_LENGTH = 1 << 6      # IP length below the header, header chain past it, or past the frame
    F_BAD_L4_LENGTH = 1 << 7      # transport header past the IP length, TCP offset < 5, bad UDP length
    F_FRAGMENT = 1 << 8           # an IP fragment (more-fragments set or offset > 0)
    F_NONFIRST_FRAGMENT = 1 << 9  # offset > 0: no transport header in this packet
    F_VLAN = 1 << 10              # at least one VLAN tag
    F_QINQ = 1 << 11              # two or more VLAN tags
    F_VLAN_FROM_METADATA = 1 << 12  # outer tag came from vlan_tci, not from the bytes
    F_IPV6_EXT_LIMIT = 1 << 13    # more than MAX_IPV6_EXT_HEADERS extension headers
    F_VLAN_LIMIT = 1 << 14        # more than MAX_VLAN_TAGS VLAN tags: not decoded past them


# DECODE_CHUNK packets' worth of every Headers column, decoded here (in
# cache) before being copied to the caller's columns.  Zeroed per chunk:
# the decoder writes only the fields a packet has.
ctypedef struct HeaderChunk:
    uint16_t ethertype[DECODE_CHUNK]
    uint16_t vlan_outer[DECODE_CHUNK]
    uint16_t vlan_inner[DECODE_CHUNK]
    uint16_t l3_offset[DECODE_CHUNK]
    uint8_t ip_version[DECODE_CHUNK]
    uint8_t ip_proto[DECODE_CHUNK]
    uint8_t ttl[DECODE_CHUNK]
    uint8_t more_fragments[DECODE_CHUNK]
    uint32_t ipv4_src[DECODE_CHUNK]
    uint32_t ipv4_dst[DECODE_CHUNK]
    uint32_t ip_len[DECODE_CHUNK]
    uint16_t frag_offset[DECODE_CHUNK]
    uint16_t l4_offset[DECODE_CHUNK]
    uint16_t sport[DECODE_CHUNK]
    uint16_t dport[DECODE_CHUNK]
    uint16_t tcp_flags[DECODE_CHUNK]
    uint16_t tcp_window[DECODE_CHUNK]
    uint32_t tcp_seq[DECODE_CHUNK]
    uint32_t tcp_ack[DECODE_CHUNK]
    uint8_t icmp_type[DECODE_CHUNK]
    uint8_t icmp_code[DECODE_CHUNK]
    uint16_t payload_offset[DECODE_CHUNK]
    uint32_t payload_len[DECODE_CHUNK]
    uint32_t flags[DECODE_CHUNK]
    uint8_t eth_src[DECODE_CHUNK * 6]
    uint8_t eth_dst[DECODE_CHUNK * 6]
    uint8_t ip_src[DECODE_CHUNK * 16]
    uint8_t ip_dst[DECODE_CHUNK * 16]


# Where decode_batch writes: one pointer per Headers column, each with room
# for every packet of the batch (eth_* 6 bytes, ip_* 16 bytes per packet).
ctypedef struct HeaderColumns:
    uint8_t *eth_src
    uint8_t *eth_dst
    uint16_t *ethertype
    uint16_t *vlan_outer
    uint16_t *vlan_inner
    uint16_t *l3_offset
    uint8_t *ip_version
    uint8_t *ip_src
    uint8_t *ip_dst
    uint32_t *ipv4_src
    uint32_t *ipv4_dst
    uint8_t *ip_proto
    uint8_t *ttl
    uint32_t *ip_len
    uint16_t *frag_offset
    uint8_t *more_fragments
    uint16_t *l4_offset
    uint16_t *sport
    uint16_t *dport
    uint16_t *tcp_flags
    uint32_t *tcp_seq
    uint32_t *tcp_ack
    uint16_t *tcp_window
    uint8_t *icmp_type
    uint8_t *icmp_code
    uint16_t *payload_offset
    uint32_t *payload_len
    uint32_t *flags
