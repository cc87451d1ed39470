"""Synthetic TPACKET_V3 blocks, laid out exactly as the kernel lays them out.

Used by the unprivileged tests of the drain loop and by the synthetic-ring
benchmark: ``build_blocks`` packs packets into blocks whose status says
``TP_STATUS_USER``, ready to be walked by ``ringcap._ring._test_drain_blocks``.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import _ring

TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
_ALIGN = 16
_LAYOUT = _ring.LAYOUT
# Where the kernel puts the MAC header for Ethernet: TPACKET_ALIGN(TPACKET3_HDRLEN + 16) - 14.
MAC_OFFSET = ((_LAYOUT["sll_offset"] + _LAYOUT["sockaddr_ll_size"] + 16 + _ALIGN - 1)
              & ~(_ALIGN - 1)) - 14


def _align(n: int) -> int:
    return (n + _ALIGN - 1) & ~(_ALIGN - 1)


@dataclass
class SyntheticPacket:
    data: bytes
    sec: int = 0
    nsec: int = 0
    wirelen: int | None = None
    status: int = TP_STATUS_USER
    ifindex: int = 1
    pkttype: int = 0
    protocol: int = 0x0800
    rxhash: int = 0
    vlan_tci: int = 0
    vlan_tpid: int = 0


def build_blocks(blocks: Sequence[Sequence[SyntheticPacket]], block_size: int,
                 status: int = TP_STATUS_USER) -> bytearray:
    """Concatenated V3 blocks, block ``i`` holding ``blocks[i]`` (may be empty)."""
    out = bytearray(block_size * len(blocks))
    first = _LAYOUT["block_desc_size"]
    for b, packets in enumerate(blocks):
        base = b * block_size
        pos = first
        for i, p in enumerate(packets):
            need = MAC_OFFSET + len(p.data)
            if pos + need > block_size:
                raise ValueError(f"block {b} cannot hold packet {i} ({len(p.data)} bytes)")
            last = i == len(packets) - 1
            next_offset = 0 if last else _align(need)
            struct.pack_into(
                "<IIIIIIHHIIH", out, base + pos,
                next_offset, p.sec, p.nsec, len(p.data),
                len(p.data) if p.wirelen is None else p.wirelen,
                p.status, MAC_OFFSET, MAC_OFFSET + 14,
                p.rxhash, p.vlan_tci, p.vlan_tpid)
            struct.pack_into("<H", out, base + pos + _LAYOUT["sll_offset"], 17)  # AF_PACKET
            struct.pack_into(">H", out, base + pos + _LAYOUT["sll_offset"] + 2, p.protocol)
            struct.pack_into("<iHBB", out, base + pos + _LAYOUT["sll_offset"] + 4,
                             p.ifindex, 1, p.pkttype, 6)
            out[base + pos + MAC_OFFSET: base + pos + need] = p.data
            pos += _align(need)
        # block descriptor: version, offset_to_priv, then tpacket_hdr_v1
        struct.pack_into("<IIIIIIQ", out, base, 3, first, status, len(packets), first,
                         pos, b + 1)
    return out


def block_status(blocks: bytearray, block_size: int) -> list[int]:
    """The status word of every block (TP_STATUS_KERNEL once a drain handed it back)."""
    return [struct.unpack_from("<I", blocks, off + 8)[0]
            for off in range(0, len(blocks), block_size)]


def uniform_blocks(n_packets: int, frame_len: int, block_size: int) -> tuple[bytearray, int]:
    """Blocks filled with ``n_packets`` frames of ``frame_len`` bytes, built with numpy
    (fast enough for benchmark-sized rings).  Returns (blocks, packets_per_block)."""
    stride = _align(MAC_OFFSET + frame_len)
    first = _LAYOUT["block_desc_size"]
    per_block = (block_size - first) // stride
    if per_block < 1:
        raise ValueError("frame_len does not fit the block")
    n_blocks = -(-n_packets // per_block)
    out = bytearray(block_size * n_blocks)
    proto = build_blocks([[SyntheticPacket(bytes(range(256)) * (frame_len // 256)
                                           + bytes(range(frame_len % 256)))]], block_size)
    packet_image = np.frombuffer(proto, dtype=np.uint8)[first:first + stride].copy()
    view = np.frombuffer(out, dtype=np.uint8).reshape(n_blocks, block_size)
    for b in range(n_blocks):
        count = min(per_block, n_packets - b * per_block)
        region = view[b, first:first + count * stride].reshape(count, stride)
        region[:] = packet_image
        # next_offset of each packet but the last
        region[:-1, 0:4] = np.frombuffer(struct.pack("<I", stride), dtype=np.uint8)
        region[-1, 0:4] = 0
        # timestamps: sec = 1, nsec = packet index
        nsec = np.arange(b * per_block, b * per_block + count, dtype=np.uint32)
        region[:, 4:8] = np.frombuffer(struct.pack("<I", 1), dtype=np.uint8)
        region[:, 8:12] = nsec.view(np.uint8).reshape(count, 4)
        struct.pack_into("<IIIIIIQ", out, b * block_size, 3, first, TP_STATUS_USER, count,
                         first, first + count * stride, b + 1)
    return out, per_block
