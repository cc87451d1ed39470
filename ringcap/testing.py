"""Synthetic TPACKET_V3 blocks, laid out exactly as the kernel lays them out.

Used by the unprivileged tests of the drain loop and by the synthetic-ring
benchmark: ``build_blocks`` packs packets into blocks whose status says
``TP_STATUS_USER``, ready to be walked by ``ringcap._ring._test_drain_blocks``.

``ipv4_batch`` builds a Batch of Ethernet/IPv4/TCP-or-UDP frames from
per-packet header values, vectorized (a million frames in well under a
second), for the flow tests and benchmarks.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import _ring
from .batch import Batch

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


def ipv4_batch(ts, ip_src, ip_dst, sport, dport, ip_proto, *, tcp_flags=None, tcp_seq=None,
               tcp_ack=None, payload_len=None, snaplen: int | None = None) -> Batch:
    """A Batch of Ethernet/IPv4 frames, TCP (``ip_proto`` 6) or UDP (anything else as 17).

    Every argument is one value per packet (or a scalar): ``ip_src``/``ip_dst``
    as uint32 host-order addresses, ``payload_len`` bytes of zeros after the
    transport header.  ``snaplen`` cuts the captured bytes (``wirelen`` keeps
    the full length).  Checksums are left 0.
    """
    ts = np.asarray(ts, dtype=np.int64)
    n = ts.shape[0]

    def col(value, dtype):
        return np.broadcast_to(np.asarray(0 if value is None else value, dtype=dtype), (n,))

    proto = np.where(col(ip_proto, np.uint8) == 6, 6, 17).astype(np.uint8)
    tcp = proto == 6
    payload = col(payload_len, np.uint32).astype(np.int64)
    l4_len = np.where(tcp, 20, 8)
    wirelen = 14 + 20 + l4_len + payload
    if int(wirelen.max(initial=0)) > 65535 + 14:
        raise ValueError("payload_len too large for an IPv4 packet")
    caplen = wirelen if snaplen is None else np.minimum(wirelen, snaplen)
    offset = np.zeros(n, dtype=np.int64)
    if n:
        np.cumsum(caplen[:-1], out=offset[1:])
    header = np.zeros((n, 54), dtype=np.uint8)

    def put(at, value, width, dtype=np.uint32):
        value = col(value, dtype).astype(np.uint64)
        for k in range(width):
            header[:, at + k] = (value >> np.uint64(8 * (width - 1 - k))) & np.uint64(0xFF)

    header[:, 0:6] = (2, 0, 0, 0, 0, 2)
    header[:, 6:12] = (2, 0, 0, 0, 0, 1)
    put(12, 0x0800, 2)
    header[:, 14] = 0x45
    put(16, wirelen - 14, 2, np.int64)
    header[:, 22] = 64
    header[:, 23] = proto
    put(26, ip_src, 4)
    put(30, ip_dst, 4)
    put(34, sport, 2)
    put(36, dport, 2)
    put(38, np.where(tcp, col(tcp_seq, np.uint32), 8 + payload), 4, np.int64)
    tcp_rest = np.zeros((n, 12), dtype=np.uint8)
    ack = col(tcp_ack, np.uint32).astype(np.uint64)
    for k in range(4):
        tcp_rest[:, k] = (ack >> np.uint64(8 * (3 - k))) & np.uint64(0xFF)
    flags = col(tcp_flags, np.uint16)
    tcp_rest[:, 4] = 0x50 | ((flags >> 8) & 1)
    tcp_rest[:, 5] = flags & 0xFF
    tcp_rest[:, 6:8] = (0xFF, 0xFF)
    header[tcp, 42:54] = tcp_rest[tcp]
    udp = ~tcp
    header[udp, 38:40] = header[udp, 40:42]     # the UDP length sits in bytes 38-39
    header[udp, 40:42] = 0
    data = np.zeros(int(caplen.sum()), dtype=np.uint8)
    head_len = np.minimum(np.where(tcp, 54, 42), caplen)
    for k in range(54):
        rows = head_len > k
        data[offset[rows] + k] = header[rows, k]
    return Batch(ts=ts, caplen=caplen, wirelen=wirelen, offset=offset, data=data)
