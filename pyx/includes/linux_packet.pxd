# Declarations of the Linux packet-socket headers ringcap uses:
# <linux/if_packet.h>, <linux/if_ether.h>, <linux/filter.h>, <net/if.h>,
# plus the shims in compat.h.  Structs declare only the fields we touch.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "<linux/if_packet.h>" nogil:
    # socket options (level SOL_PACKET)
    int PACKET_ADD_MEMBERSHIP
    int PACKET_RX_RING
    int PACKET_STATISTICS
    int PACKET_VERSION
    int PACKET_TX_RING
    int PACKET_QDISC_BYPASS
    int PACKET_IGNORE_OUTGOING
    int PACKET_MR_PROMISC
    int PACKET_FANOUT
    int PACKET_FANOUT_DATA
    int PACKET_ROLLOVER_STATS

    int TPACKET_V2
    int TPACKET_V3

    uint32_t TP_STATUS_KERNEL
    uint32_t TP_STATUS_USER
    uint32_t TP_STATUS_LOSING
    uint32_t TP_STATUS_TS_SOFTWARE
    uint32_t TP_STATUS_TS_RAW_HARDWARE
    uint32_t TP_STATUS_VLAN_VALID
    uint32_t TP_STATUS_VLAN_TPID_VALID
    uint32_t TP_STATUS_AVAILABLE
    uint32_t TP_STATUS_SEND_REQUEST
    uint32_t TP_STATUS_SENDING
    uint32_t TP_STATUS_WRONG_FORMAT
    uint32_t TP_FT_REQ_FILL_RXHASH

    struct sockaddr_ll:
        unsigned short sll_family
        uint16_t sll_protocol          # network order
        int sll_ifindex
        unsigned short sll_hatype
        unsigned char sll_pkttype
        unsigned char sll_halen
        unsigned char sll_addr[8]

    struct packet_mreq:
        int mr_ifindex
        unsigned short mr_type
        unsigned short mr_alen
        unsigned char mr_address[8]

    struct tpacket_stats_v3:
        unsigned int tp_packets
        unsigned int tp_drops
        unsigned int tp_freeze_q_cnt

    struct tpacket_rollover_stats:
        uint64_t tp_all
        uint64_t tp_huge
        uint64_t tp_failed

    struct tpacket_req:
        unsigned int tp_block_size
        unsigned int tp_block_nr
        unsigned int tp_frame_size
        unsigned int tp_frame_nr

    struct tpacket_req3:
        unsigned int tp_block_size
        unsigned int tp_block_nr
        unsigned int tp_frame_size
        unsigned int tp_frame_nr
        unsigned int tp_retire_blk_tov
        unsigned int tp_sizeof_priv
        unsigned int tp_feature_req_word

    struct tpacket_hdr_variant1:
        uint32_t tp_rxhash
        uint32_t tp_vlan_tci
        uint16_t tp_vlan_tpid

    struct tpacket3_hdr:
        uint32_t tp_next_offset
        uint32_t tp_sec
        uint32_t tp_nsec
        uint32_t tp_snaplen
        uint32_t tp_len
        uint32_t tp_status
        uint16_t tp_mac
        uint16_t tp_net
        tpacket_hdr_variant1 hv1

    struct tpacket2_hdr:
        uint32_t tp_status
        uint32_t tp_len
        uint32_t tp_snaplen
        uint16_t tp_mac
        uint16_t tp_net

    struct tpacket_hdr_v1:
        uint32_t block_status
        uint32_t num_pkts
        uint32_t offset_to_first_pkt
        uint32_t blk_len
        uint64_t seq_num

    union tpacket_bd_header_u:
        tpacket_hdr_v1 bh1

    struct tpacket_block_desc:
        uint32_t version
        uint32_t offset_to_priv
        tpacket_bd_header_u hdr


cdef extern from "<linux/if_ether.h>" nogil:
    int ETH_P_ALL
    int ETH_P_8021Q
    int ETH_ALEN


cdef extern from "<linux/filter.h>" nogil:
    struct sock_filter:
        uint16_t code
        uint8_t jt
        uint8_t jf
        uint32_t k

    struct sock_fprog:
        unsigned short len
        sock_filter *filter


cdef extern from "<net/if.h>" nogil:
    unsigned int if_nametoindex(const char *ifname)
    char *if_indextoname(unsigned int ifindex, char *ifname)
    int IF_NAMESIZE


cdef extern from "compat.h" nogil:
    uint32_t rc_load_acquire_u32(uint32_t *p)
    void rc_store_release_u32(uint32_t *p, uint32_t v)
    size_t RC_TPACKET3_SLL_OFFSET
    size_t RC_TPACKET2_DATA_OFFSET
    size_t RC_BLOCK_DESC_SIZE
