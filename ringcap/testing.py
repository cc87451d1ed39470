"""Synthetic packets for tests, benchmarks and docs.

``build_blocks`` lays TPACKET_V3 blocks out exactly as the kernel does, with
a status that says ``TP_STATUS_USER``, ready to be walked by
``ringcap._ring._test_drain_blocks`` (unprivileged drain tests, the
synthetic-ring benchmark).  ``synthetic_traffic`` makes a batch of realistic
Ethernet/IP conversations (IPv4 and IPv6, TCP and UDP, a few ARP frames) in
numpy, fast enough for millions of packets.

``named_traffic`` makes DNS, TLS and HTTP messages that name servers (for the
application columns' examples).

``ipv4_batch`` builds a Batch of Ethernet/IPv4/TCP-or-UDP frames from
per-packet header values, vectorized (a million frames in well under a
second), for the flow tests and benchmarks.
"""
from __future__ import annotations

import ssl
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


def _conversation_headers(k: int, ipv6: bool, tcp: bool) -> tuple[bytes, bytes]:
    """Ethernet + IP + TCP/UDP headers of conversation ``k``, client->server and back,
    with length fields and the TCP sequence number left 0 (patched per packet)."""
    client_mac, server_mac = bytes([2, 0, 0, 0, k >> 8 & 0xFF, k & 0xFF]), b"\x02\x00\x00\x00\xff\xfe"
    cport, sport = 20000 + (k * 7919) % 40000, (443, 53, 80, 8080)[k % 4]
    if ipv6:
        client_ip = b"\x20\x01\x0d\xb8" + bytes(10) + k.to_bytes(2, "big")
        server_ip = b"\x20\x01\x0d\xb8\xff" + bytes(9) + (k % 200 + 1).to_bytes(2, "big")
    else:
        client_ip = bytes([10, 0, k >> 8 & 0xFF, k & 0xFF])
        server_ip = bytes([192, 168, 0, k % 200 + 1])
    proto = 6 if tcp else 17

    def one(src_mac, dst_mac, src_ip, dst_ip, src_port, dst_port) -> bytes:
        if ipv6:
            l3 = struct.pack(">IHBB", 6 << 28, 0, proto, 64) + src_ip + dst_ip
            ethertype = 0x86DD
        else:
            l3 = struct.pack(">BBHHHBBH", 0x45, 0, 0, 0, 0x4000, 64, proto, 0) + src_ip + dst_ip
            ethertype = 0x0800
        if tcp:
            l4 = struct.pack(">HHIIBBHHH", src_port, dst_port, 0, 0, 0x50, 0x18, 502, 0, 0)
        else:
            l4 = struct.pack(">HHHH", src_port, dst_port, 0, 0)
        return dst_mac + src_mac + struct.pack(">H", ethertype) + l3 + l4

    return (one(client_mac, server_mac, client_ip, server_ip, cport, sport),
            one(server_mac, client_mac, server_ip, client_ip, sport, cport))


def synthetic_traffic(count: int, *, conversations: int = 64, start_ns: int = 1_700_000_000 * 10**9,
                      span_ns: int = 10**9, seed: int = 0, max_payload: int = 1400,
                      ipv6_share: float = 0.2, arp_share: float = 0.01,
                      random_payload: bool = False) -> Batch:
    """A batch of ``count`` Ethernet frames from ``conversations`` two-way conversations.

    Conversation ``k`` is TCP (two in three) or UDP, IPv4 or (a share
    ``ipv6_share`` of them) IPv6, between client ``10.0.x.y`` /
    ``2001:db8::k`` port 20000+ and a server on port 443, 53, 80 or 8080.
    About 60 % of its packets go client->server.  Payloads are 0 to
    ``max_payload`` bytes (IP and UDP lengths match them) of zeros, or with
    ``random_payload=True`` of random bytes (which do not compress); frames
    are padded to 60 bytes, and a share ``arp_share`` of the frames are ARP
    (not IP: no flow counts them).  Timestamps are sorted,
    spread over ``span_ns`` from ``start_ns``.  Deterministic for a ``seed``.
    """
    count = int(count)
    if count < 0 or conversations < 1:
        raise ValueError("count must be >= 0 and conversations >= 1")
    rng = np.random.default_rng(seed)
    v6 = rng.random(conversations) < ipv6_share
    is_tcp = np.arange(conversations) % 3 != 2
    width = 14 + 40 + 20
    templates = np.zeros((conversations, 2, width), dtype=np.uint8)
    header_len = np.zeros(conversations, dtype=np.int64)
    for k in range(conversations):
        forward, back = _conversation_headers(k, bool(v6[k]), bool(is_tcp[k]))
        templates[k, 0, :len(forward)] = np.frombuffer(forward, dtype=np.uint8)
        templates[k, 1, :len(back)] = np.frombuffer(back, dtype=np.uint8)
        header_len[k] = len(forward)
    arp = np.frombuffer(b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01\x08\x06"
                        + struct.pack(">HHBBH", 1, 0x0800, 6, 4, 1) + b"\x02\x00\x00\x00\x00\x01"
                        + bytes([10, 0, 0, 1]) + bytes(6) + bytes([10, 0, 0, 2]), dtype=np.uint8)

    conv = rng.integers(0, conversations, count)
    back = rng.random(count) >= 0.6
    is_arp = rng.random(count) < arp_share
    payload = rng.integers(0, max_payload + 1, count).astype(np.int64)
    hlen = np.where(is_arp, arp.shape[0], header_len[conv])
    payload[is_arp] = 0
    caplen = np.maximum(hlen + payload, 60).astype(np.uint32)
    offset = np.zeros(count, dtype=np.int64)
    if count:
        np.cumsum(caplen[:-1], dtype=np.int64, out=offset[1:])
    total = int(caplen.sum(dtype=np.int64))
    data = rng.integers(0, 256, total, dtype=np.uint8) if random_payload else \
        np.zeros(total, dtype=np.uint8)
    rows = templates[conv, back.astype(np.intp)]                   # (count, width)
    rows[is_arp] = 0
    rows[is_arp, :arp.shape[0]] = arp
    ip = ~is_arp
    ip_len = (hlen - 14 + payload)
    v6_rows = ip & v6[conv]
    v4_rows = ip & ~v6[conv]

    def put16(mask, at, values):
        rows[mask, at] = (values[mask] >> 8) & 0xFF
        rows[mask, at + 1] = values[mask] & 0xFF

    put16(v4_rows, 16, ip_len)
    put16(v6_rows, 18, ip_len - 40)
    l4 = np.where(v6[conv], 54, 34)
    udp = ip & ~is_tcp[conv]
    for off in (34, 54):
        sel = udp & (l4 == off)
        put16(sel, off + 4, hlen - off + payload)
    tcp = ip & is_tcp[conv]
    seq = np.zeros(count, dtype=np.int64)
    if count:
        seq = (np.cumsum(payload) - payload + 1000 * conv) & 0xFFFFFFFF
    for off in (34, 54):
        sel = tcp & (l4 == off)
        for i in range(4):
            rows[sel, off + 4 + i] = (seq[sel] >> (24 - 8 * i)) & 0xFF
    # copy each header row into its frame (only the header's bytes), a byte column at a time
    head = np.minimum(hlen, caplen)
    for k in range(width):
        has = head > k
        data[offset[has] + k] = rows[has, k]
    ts = start_ns + np.sort(rng.integers(0, max(int(span_ns), 1), count))
    ethertype = np.where(is_arp, 0x0806, np.where(v6[conv], 0x86DD, 0x0800)).astype(np.uint16)
    return Batch(ts=ts, caplen=caplen, offset=offset, data=data, wirelen=caplen,
                 ifindex=np.full(count, 2, dtype=np.int32), protocol=ethertype)


# ---------------------------------------------------------------- named traffic
_DOMAINS = ("example.com", "cdn.example.net", "api.example.org", "mail.example.com",
            "static.example.net", "login.example.org", "updates.example.com", "tracker.example.net",
            "news.example.org", "video.example.com", "maps.example.net", "shop.example.org")
_AGENTS = ("curl/8.5.0", "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
           "python-requests/2.32.3")


def _ipv4_frame(src: int, dst: int, proto: int, transport: bytes) -> bytes:
    header = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(transport), 0, 0x4000, 64, proto, 0,
                         src.to_bytes(4, "big"), dst.to_bytes(4, "big"))
    total = sum(struct.unpack("!10H", header))
    total = (total & 0xFFFF) + (total >> 16)
    total = (total & 0xFFFF) + (total >> 16)
    header = header[:10] + struct.pack("!H", ~total & 0xFFFF) + header[12:]
    return (b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
            + header + transport)


def _udp(sport: int, dport: int, payload: bytes) -> bytes:
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def _tcp(sport: int, dport: int, payload: bytes, seq: int = 1) -> bytes:
    return struct.pack("!HHIIBBHHH", sport, dport, seq, 1, 5 << 4, 0x18, 502, 0, 0) + payload


def _dns_name(name: str) -> bytes:
    return b"".join(bytes([len(label)]) + label.encode() for label in name.split(".")) + b"\0"


def _client_hello(name: str, newest: bool) -> bytes:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if not newest:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2", "http/1.1"] if newest else ["http/1.1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    connection = context.wrap_bio(incoming, outgoing, server_hostname=name)
    try:
        connection.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def named_traffic(sessions: int = 500, *, hosts: int = 12, seed: int = 0,
                  start_ns: int = 1_700_000_000 * 10**9) -> Batch:
    """A batch of application messages that name servers, for the names examples:
    per session a host (10.0.0.1 ...) resolves a name (DNS query and A answer
    from 10.0.0.53), then opens TLS to it (a real ClientHello from Python's
    ``ssl``, TLS 1.3 or 1.2: two JA4 fingerprints) or sends an HTTP/1.1 GET
    with a User-Agent.  Popular names come up more often (Zipf-like)."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, len(_DOMAINS) + 1)
    picks = rng.choice(len(_DOMAINS), size=sessions, p=weights / weights.sum())
    resolver = 0x0A000035
    hellos: dict[tuple[str, bool], bytes] = {}
    frames: list[bytes] = []
    for k in range(sessions):
        client = 0x0A000001 + int(rng.integers(hosts))
        name = _DOMAINS[picks[k]]
        server = 0xC0000200 + int(picks[k]) + 1           # 192.0.2.x
        port = 20000 + k % 15536          # (+30000 for TCP stays a port: sessions reuse them)
        query = struct.pack("!HHHHHH", k & 0xFFFF, 0x0100, 1, 0, 0, 0) + _dns_name(name) \
            + b"\0\x01\0\x01"
        answer = struct.pack("!HHHHHH", k & 0xFFFF, 0x8180, 1, 1, 0, 0) + _dns_name(name) \
            + b"\0\x01\0\x01" + b"\xc0\x0c\0\x01\0\x01\0\0\x01\x2c\0\x04" + server.to_bytes(4, "big")
        frames.append(_ipv4_frame(client, resolver, 17, _udp(port, 53, query)))
        frames.append(_ipv4_frame(resolver, client, 17, _udp(53, port, answer)))
        if rng.random() < 0.7:
            newest = bool(client % 3)
            hello = hellos.get((name, newest))
            if hello is None:
                hello = hellos[(name, newest)] = _client_hello(name, newest)
            frames.append(_ipv4_frame(client, server, 6, _tcp(port + 30000, 443, hello)))
        else:
            request = (f"GET /index.html HTTP/1.1\r\nHost: {name}\r\nUser-Agent: "
                       f"{_AGENTS[client % len(_AGENTS)]}\r\nAccept: */*\r\n\r\n").encode()
            frames.append(_ipv4_frame(client, server, 6, _tcp(port + 30000, 80, request)))
    ts = start_ns + np.arange(len(frames), dtype=np.int64) * 1_000_000
    return Batch.from_packets(frames, ts=ts)
