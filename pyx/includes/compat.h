/* Small C shims for ringcap's Cython code: barriers on the ring's status
 * words and the fixed offsets of the TPACKET headers. */
#ifndef RINGCAP_COMPAT_H
#define RINGCAP_COMPAT_H
#include <stdint.h>
#include <linux/if_packet.h>

/* The kernel publishes a block/frame by storing its status word last; an
 * acquire load orders our later reads of the payload after it, and a release
 * store makes our writes visible before the kernel may reuse the memory. */
static inline uint32_t rc_load_acquire_u32(uint32_t *p) {
    return __atomic_load_n((volatile uint32_t *)p, __ATOMIC_ACQUIRE);
}
static inline void rc_store_release_u32(uint32_t *p, uint32_t v) {
    __atomic_store_n((volatile uint32_t *)p, v, __ATOMIC_RELEASE);
}

/* struct sockaddr_ll follows each tpacket3_hdr at this offset. */
#define RC_TPACKET3_SLL_OFFSET TPACKET_ALIGN(sizeof(struct tpacket3_hdr))
/* TX frames (TPACKET_V2): the packet data starts here unless PACKET_TX_HAS_OFF. */
#define RC_TPACKET2_DATA_OFFSET (TPACKET2_HDRLEN - sizeof(struct sockaddr_ll))
/* The block descriptor the kernel puts at the start of every V3 block. */
#define RC_BLOCK_DESC_SIZE sizeof(struct tpacket_block_desc)
#endif
