"""Synthetic TPACKET_V3 blocks, laid out byte for byte as the kernel writes them.

Used by the synthetic-ring benchmark (and its C reference, which reads the same
bytes from a file) so that the drain loops can be timed without a network.
Layouts follow linux/if_packet.h on a 64-bit little-endian machine.
"""
from __future__ import annotations

import numpy as np

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
ETH_HLEN = 14
ETHERTYPE_BENCH = 0x88B5

BLOCK_DESC_LEN = 48        # struct tpacket_block_desc with tpacket_hdr_v1
TPACKET3_HDR_LEN = 48      # struct tpacket3_hdr
SOCKADDR_LL_LEN = 20
# tp_mac as the kernel computes it for Ethernet:
# netoff = TPACKET_ALIGN(TPACKET3_HDRLEN + 16), macoff = netoff - 14
TPACKET3_HDRLEN = TPACKET3_HDR_LEN + SOCKADDR_LL_LEN
NET_OFFSET = (TPACKET3_HDRLEN + 16 + 15) & ~15
MAC_OFFSET = NET_OFFSET - ETH_HLEN


def align16(n: int) -> int:
    return (n + 15) & ~15


def packet_stride(frame_len: int) -> int:
    """Bytes one packet of ``frame_len`` takes in a block (tp_next_offset)."""
    return align16(MAC_OFFSET + frame_len)


def packets_per_block(block_size: int, frame_len: int) -> int:
    return (block_size - BLOCK_DESC_LEN) // packet_stride(frame_len)


def frame_bytes(frame_len: int, seq: int) -> np.ndarray:
    """An Ethernet frame like the benchmark sender's: MACs, 0x88B5, a u64 sequence number."""
    frame = (np.arange(frame_len, dtype=np.uint32) & 0xFF).astype(np.uint8)
    frame[0:6] = (0x02, 0, 0, 0, 0, 0x0B)
    frame[6:12] = (0x02, 0, 0, 0, 0, 0x0A)
    frame[12:14] = (ETHERTYPE_BENCH >> 8, ETHERTYPE_BENCH & 0xFF)
    frame[14:22] = np.frombuffer(np.uint64(seq).tobytes(), dtype=np.uint8)
    return frame


def build_blocks(block_count: int, block_size: int, frame_len: int, *, ifindex: int = 2,
                 start_ns: int = 1_700_000_000_000_000_000) -> tuple[np.ndarray, int]:
    """``block_count`` retired blocks, each filled with ``frame_len``-byte packets.

    Returns ``(buffer, packets)``: a uint8 array of ``block_count * block_size``
    bytes and the number of packets it holds.  Packet ``k`` carries sequence
    number ``k`` at byte 14 and timestamp ``start_ns + k`` ns.
    """
    if block_size % 4096 or block_size <= 0:
        raise ValueError(f"block_size must be a positive multiple of 4096, got {block_size}")
    if frame_len < ETH_HLEN + 8:
        raise ValueError(f"frame_len must be at least {ETH_HLEN + 8}, got {frame_len}")
    per_block = packets_per_block(block_size, frame_len)
    if per_block < 1:
        raise ValueError(f"a {frame_len}-byte packet does not fit a {block_size}-byte block")
    stride = packet_stride(frame_len)
    buf = np.zeros(block_count * block_size, dtype=np.uint8)
    template = np.zeros(block_size, dtype=np.uint8)
    u16 = template.view("<u2")
    u32 = template.view("<u4")
    starts = BLOCK_DESC_LEN + stride * np.arange(per_block, dtype=np.int64)
    w = starts // 4
    u32[w + 0] = stride                             # tp_next_offset
    u32[w[-1]] = 0                                  # last packet of a block: 0
    u32[w + 3] = frame_len                          # tp_snaplen
    u32[w + 4] = frame_len                          # tp_len
    u32[w + 5] = TP_STATUS_USER                     # tp_status
    u16[(starts + 24) // 2] = MAC_OFFSET            # tp_mac
    u16[(starts + 26) // 2] = NET_OFFSET            # tp_net
    u32[(starts + 28) // 4] = 0x5A5A0000 + np.arange(per_block, dtype=np.uint32)  # tp_rxhash
    sll = starts + TPACKET3_HDR_LEN
    u16[sll // 2] = 17                              # sll_family = AF_PACKET
    u16[(sll + 2) // 2] = ((ETHERTYPE_BENCH & 0xFF) << 8) | (ETHERTYPE_BENCH >> 8)  # big endian
    u32[(sll + 4) // 4] = ifindex
    u16[(sll + 8) // 2] = 1                         # ARPHRD_ETHER
    template[sll + 10] = 0                          # PACKET_HOST
    template[sll + 11] = 6                          # sll_halen
    frame = frame_bytes(frame_len, 0)
    for s in starts:
        template[s + MAC_OFFSET:s + MAC_OFFSET + frame_len] = frame
    # block descriptor
    u32[0] = 1                                      # version
    u32[1] = BLOCK_DESC_LEN                         # offset_to_priv
    u32[2] = TP_STATUS_USER                         # block_status
    u32[3] = per_block                              # num_pkts
    u32[4] = BLOCK_DESC_LEN                         # offset_to_first_pkt
    u32[5] = int(starts[-1]) + MAC_OFFSET + frame_len  # blk_len

    seq_cols = (starts + MAC_OFFSET + 14)
    for b in range(block_count):
        base = b * block_size
        block = buf[base:base + block_size]
        block[:] = template
        bu32 = block.view("<u4")
        bu64 = block.view("<u8")
        bu64[3] = b + 1                             # seq_num
        first = b * per_block
        ts = start_ns + first + np.arange(per_block, dtype=np.int64)
        bu32[w + 1] = (ts // 1_000_000_000).astype(np.uint32)   # tp_sec
        bu32[w + 2] = (ts % 1_000_000_000).astype(np.uint32)    # tp_nsec
        seq = (first + np.arange(per_block, dtype=np.uint64)).view(np.uint8).reshape(per_block, 8)
        block[seq_cols[:, None] + np.arange(8)] = seq
    return buf, block_count * per_block


def set_block_status(buf: np.ndarray, block_size: int, status: int) -> None:
    """Mark every block of ``buf`` as owned by user space (1) or the kernel (0)."""
    u32 = buf.view("<u4")
    u32[2::block_size // 4] = status


def block_status(buf: np.ndarray, block_size: int) -> np.ndarray:
    return buf.view("<u4")[2::block_size // 4].copy()
