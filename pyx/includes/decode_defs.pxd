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
    ETHERTYPE_ARP = 0x0806
    ETHERTYPE_MPLS = 0x8847
    ETHERTYPE_MPLS_MCAST = 0x8848
    ETHERTYPE_TEB = 0x6558       # transparent Ethernet bridging: GRE/Geneve carrying Ethernet
    ETHERTYPE_ERSPAN_2 = 0x88BE  # ERSPAN type II (type I when GRE has no sequence number)
    ETHERTYPE_ERSPAN_3 = 0x22EB
    ETHERTYPE_MIN = 0x0600       # below: an 802.3 length, not a type

    IPPROTO_IPIP = 4
    IPPROTO_IPV6 = 41
    IPPROTO_GRE = 47
    IPPROTO_PIM = 103
    UDP_PORT_VXLAN = 4789
    UDP_PORT_GENEVE = 6081

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
    MAX_MPLS_LABELS = 16
    MAX_TUNNEL_DEPTH = 4  # encapsulations decoded through; the next one is flagged, not entered
    # An inner network header starting further in is not decoded (TUNNEL_LIMIT): with
    # 16 IPv6 extension headers of 2 KiB after it, offsets still fit in uint16.
    MAX_INNER_OFFSET = 0x7F00
    DECODE_CHUNK = 128   # packets decoded before their columns are written out

    # Link types (the pcap LINKTYPE_* registry) of Batch.linktype that the decoder knows
    LINKTYPE_NULL = 0          # BSD loopback: 4-byte address family in the writer's byte order
    LINKTYPE_ETHERNET = 1
    LINKTYPE_RAW_12 = 12       # DLT_RAW as some platforms wrote it into files
    LINKTYPE_RAW_14 = 14       # DLT_RAW on OpenBSD
    LINKTYPE_RAW = 101         # raw IPv4 or IPv6, by the version nibble
    LINKTYPE_LOOP = 108        # OpenBSD loopback: address family in network byte order
    LINKTYPE_LINUX_SLL = 113   # Linux cooked capture v1 (16-byte header)
    LINKTYPE_IPV4 = 228
    LINKTYPE_IPV6 = 229
    LINKTYPE_LINUX_SLL2 = 276  # Linux cooked capture v2 (20-byte header)
    SLL_HLEN = 16
    SLL2_HLEN = 20
    # address families in NULL/LOOP headers (BSD values; IPv6 differs by system)
    BSD_AF_INET = 2
    BSD_AF_INET6_BSD = 24      # NetBSD, OpenBSD, BSD/OS
    BSD_AF_INET6_FREEBSD = 28
    BSD_AF_INET6_DARWIN = 30

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
    F_TUNNEL = 1 << 15            # decoded through at least one encapsulation
    F_TRUNCATED_INNER = 1 << 16   # a truncation inside an encapsulated packet
    F_TUNNEL_LIMIT = 1 << 17      # more than MAX_TUNNEL_DEPTH encapsulations, or MPLS labels
    F_IP_LENGTH_ZERO = 1 << 18    # IPv4 total length (IPv6 payload length) 0: decoded by the frame
    F_LLC = 1 << 19               # 802.3 frame: the type field is a length (eth_len)
    F_MPLS = 1 << 20              # an MPLS label stack
    F_BAD_TCP_OPTIONS = 1 << 21   # a TCP option's length is wrong or runs past the header
    F_BAD_TUNNEL = 1 << 22        # a tunnel header or inner frame runs past its packet


# decode options (the opts argument)
cdef enum:
    OPT_OUTER = 1 << 0        # do not enter encapsulations (tunnels="outer")
    OPT_TCP_OPTIONS = 1 << 1  # parse TCP options (a tcp_* option column was asked for)


# Headers.tunnel_type values
cdef enum:
    TUNNEL_NONE = 0
    TUNNEL_MPLS = 1
    TUNNEL_GRE = 2
    TUNNEL_VXLAN = 3
    TUNNEL_GENEVE = 4
    TUNNEL_IPIP = 5      # IPv4 or IPv6 directly in IPv4 or IPv6 (protocol 4 or 41)
    TUNNEL_ERSPAN = 6
    TUNNEL_PIM = 7       # a PIM Register message's encapsulated multicast packet


# Headers.tcp_options bits
cdef enum:
    TCPOPT_MSS = 1 << 0
    TCPOPT_WSCALE = 1 << 1
    TCPOPT_SACK_PERM = 1 << 2
    TCPOPT_SACK = 1 << 3
    TCPOPT_TIMESTAMP = 1 << 4


# DECODE_CHUNK packets' worth of every Headers column, decoded here (in
# cache) before being copied to the caller's columns.  The decoder writes
# only the fields a packet has: the fields a call reads are zeroed per chunk
# (_decode.pyx's _fields_read), the others never are.
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
    # added columns (asked for with decode(columns=...))
    uint16_t eth_len[DECODE_CHUNK]
    uint8_t llc_dsap[DECODE_CHUNK]
    uint8_t llc_ssap[DECODE_CHUNK]
    uint16_t inner_ethertype[DECODE_CHUNK]
    uint8_t ip_dscp[DECODE_CHUNK]
    uint8_t ip_ecn[DECODE_CHUNK]
    uint32_t ipv6_flow_label[DECODE_CHUNK]
    uint16_t arp_op[DECODE_CHUNK]
    uint8_t arp_sha[DECODE_CHUNK * 6]
    uint8_t arp_tha[DECODE_CHUNK * 6]
    uint32_t arp_spa[DECODE_CHUNK]
    uint32_t arp_tpa[DECODE_CHUNK]
    uint8_t tcp_options[DECODE_CHUNK]
    uint16_t tcp_mss[DECODE_CHUNK]
    uint8_t tcp_wscale[DECODE_CHUNK]
    uint8_t tcp_sack_blocks[DECODE_CHUNK]
    uint32_t tcp_tsval[DECODE_CHUNK]
    uint32_t tcp_tsecr[DECODE_CHUNK]
    uint16_t icmp_id[DECODE_CHUNK]
    uint16_t icmp_seq[DECODE_CHUNK]
    uint8_t tunnel_type[DECODE_CHUNK]
    uint8_t tunnel_depth[DECODE_CHUNK]
    uint32_t tunnel_id[DECODE_CHUNK]
    uint8_t outer_ip_version[DECODE_CHUNK]
    uint8_t outer_ip_proto[DECODE_CHUNK]
    uint16_t outer_l3_offset[DECODE_CHUNK]
    uint8_t outer_ip_src[DECODE_CHUNK * 16]
    uint8_t outer_ip_dst[DECODE_CHUNK * 16]
    uint32_t mpls_label[DECODE_CHUNK]
    uint8_t mpls_tc[DECODE_CHUNK]
    uint8_t mpls_bos[DECODE_CHUNK]
    uint8_t mpls_ttl[DECODE_CHUNK]
    uint8_t mpls_labels[DECODE_CHUNK]
    uint16_t gre_flags[DECODE_CHUNK]
    uint32_t gre_seq[DECODE_CHUNK]
    uint16_t geneve_opt_len[DECODE_CHUNK]
    # Linux cooked captures (LINUX_SLL, LINUX_SLL2)
    uint32_t sll_ifindex[DECODE_CHUNK]
    uint16_t sll_hatype[DECODE_CHUNK]
    uint8_t sll_pkttype[DECODE_CHUNK]
    uint8_t sll_halen[DECODE_CHUNK]
    uint8_t sll_addr[DECODE_CHUNK * 8]


# Where decode_batch writes: for each decoded column, the caller's array,
# the matching HeaderChunk field and its bytes per packet.
cdef enum:
    MAX_COLUMNS = 80

ctypedef struct HeaderColumns:
    Py_ssize_t count
    uint8_t *dst[MAX_COLUMNS]
    const uint8_t *src[MAX_COLUMNS]
    Py_ssize_t row_bytes[MAX_COLUMNS]


# The columns of the 5-tuple path (decode_five_tuple writes them directly):
# the 5-tuple's always; each of the rest (a flow meter's) NULL unless asked for.
ctypedef struct FiveTupleColumns:
    uint8_t *ip_version
    uint8_t *ip_src
    uint8_t *ip_dst
    uint8_t *ip_proto
    uint16_t *sport
    uint16_t *dport
    uint32_t *flags
    uint16_t *tcp_flags
    uint32_t *tcp_seq
    uint32_t *payload_len
    uint16_t *payload_offset
    uint8_t *tunnel_type
    uint32_t *tunnel_id
    uint16_t *vlan_outer
    uint16_t *vlan_inner
    uint16_t *ethertype      # (0x0800 or 0x86DD on the short run: `stats` asks for it)


# The packets that may carry an application message, listed by the header
# pass while their bytes are in cache when application columns are asked for
# (pyx/_app.pyx builds the port table and then visits only those packets).
cdef enum:
    # bits of a port's entry in the table (the TCP bits are the UDP ones shifted by 2)
    CAND_UDP_PORT = 1        # a UDP port of a protocol asked for (DNS, DHCP, NTP)
    CAND_UDP_KNOWN = 2       # a UDP port of any of them (never tested for QUIC)
    CAND_TCP_PORT = 4        # a TCP port of DNS, DNS asked for
    CAND_TCP_KNOWN = 8       # a TCP port of DNS (its content is not looked at)
    # rule bits: what the payload of a packet on no port of the table must start
    CAND_QUIC = 1            # UDP: a long header of a known version, 1200 bytes captured
    CAND_TLS = 2             # TCP: a handshake record carrying a hello
    CAND_HTTP = 4            # TCP: the head of an HTTP/1.x request or response

ctypedef struct AppCandidates:
    const uint8_t *ports     # IN 65536 entries of CAND_*_PORT/KNOWN bits
    uint32_t rule            # IN CAND_QUIC, CAND_TLS, CAND_HTTP
    int64_t *rows            # OUT the candidates' packet indices, ascending (room for all)
    Py_ssize_t count         # OUT how many


# What a payload must start with for pyx/_app.pyx's decoders to find a
# message in it, for the header pass's list (pyx/_decode.pyx) and the
# decoders alike.  p: a payload, n >= 1 of its bytes captured (no more than
# its length).  Of random payloads (iperf3's) one in 400 million passes as TLS,
# one in 8,000 as HTTP, one in 2 billion as QUIC, where the first byte alone
# had passed one TCP payload in ten (22 or A-Z) and one large UDP one in four.
cdef inline bint app_tls_hello_start(const uint8_t *p, Py_ssize_t n) noexcept nogil:
    # a handshake record (22) of SSL 3.0 to TLS 1.3's record version whose
    # first message is a ClientHello (1) or ServerHello (2)
    return n >= 6 and p[0] == 22 and p[1] == 3 and p[2] <= 4 and (p[5] == 1 or p[5] == 2)


cdef inline bint _http_token_byte(uint8_t ch) noexcept nogil:
    return <uint8_t>(ch - 0x41) < 26 or ch == 0x2D


cdef inline bint app_http_head_start(const uint8_t *p, Py_ssize_t n) noexcept nogil:
    # "HTTP/1." or a request method (3 or more of A-Z and '-', the first a
    # letter, then a space): four bytes of which the first is A-Z, the next
    # two A-Z or '-' and the fourth A-Z, '-' or a space
    return n >= 4 and <uint8_t>(p[0] - 0x41) < 26 and _http_token_byte(p[1]) \
        and _http_token_byte(p[2]) and (_http_token_byte(p[3]) or p[3] == 0x20)


cdef inline bint app_quic_version_known(uint32_t version) noexcept nogil:
    # QUIC v1 (RFC 9000), v2 (RFC 9369) and drafts 29-34
    return version == 1 or version == <uint32_t>0x6b3343cf \
        or (<uint32_t>0xff00001d <= version <= <uint32_t>0xff000022)


cdef inline bint app_quic_initial_start(const uint8_t *p, Py_ssize_t n) noexcept nogil:
    # a long header (11xxxxxx) of a known version, big enough for a client
    # Initial (1200 bytes, RFC 9000 14.1)
    return n >= 1200 and (p[0] & 0xC0) == 0xC0 and app_quic_version_known(
        (<uint32_t>p[1] << 24) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 8) | p[4])
