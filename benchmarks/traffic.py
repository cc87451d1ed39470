"""Realistic benchmark traffic, built here and cached (never committed).

Every speed claim is measured on each of these mixes (``mixes(quick)``):

``uniform``   64-byte Ethernet/IPv4/UDP frames of 256 flows (the traffic the
              older benchmarks used), and ``uniform-1400`` (1400-byte frames)
``imix``      IMIX 7:4:1 of 64/576/1500-byte frames over 20,000+ two-way
              flows: TCP with its handshake, data, ACKs and FIN teardown,
              UDP request/response, a fifth of the flows IPv6; valid IP,
              TCP and UDP checksums; random (incompressible) payloads
``large``     the same generator weighted to big frames (ACKs and 1514-byte
              data segments), averaging about 800 bytes per packet
``recorded``  real programs recorded in a private network namespace by
              ``tests/recorded.py`` (iperf3 TCP and UDP, curl over HTTP/1.1
              and TLS 1.2/1.3, DNS against dnsmasq, ping), repeated with
              shifted timestamps up to the mix's packet count

Files live in ``benchmarks/_traffic/`` (``RINGCAP_TRAFFIC_DIR`` moves it),
named by mix, size and seed, and are rebuilt when missing or when this
generator's version changes.  Deterministic for a seed (the recorded mix is
as deterministic as the programs are).

    python benchmarks/traffic.py [--quick] [--table]    # build and print the histograms

The recorded mix needs root (a network namespace) and iperf3, dnsmasq, dig,
curl, openssl, ping and tcpdump (``apt-get install iperf3 dnsmasq-base dnsutils
curl openssl iputils-ping tcpdump ethtool``).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
if any((REPO / "ringcap").glob("_ring*.so")):
    sys.path.insert(0, str(REPO))   # an in-place build of this checkout; else the installed ringcap
sys.path.insert(0, str(REPO / "tests"))   # recorded.py: the recording code the tests share

import ringcap  # noqa: E402
from ringcap import Batch  # noqa: E402

VERSION = 2            # bump when the generator changes: cached files are rebuilt
CACHE = Path(os.environ.get("RINGCAP_TRAFFIC_DIR", HERE / "_traffic"))
START_NS = 1_700_000_000 * 10**9

#: (frame sizes, weights) of the synthetic mixes
IMIX = ((64, 576, 1500), (7, 4, 1))
LARGE = ((64, 576, 1024, 1514), (40, 10, 10, 40))

#: packets per mix: (quick, full)
PACKETS = {"uniform": (200_000, 1_000_000), "uniform-1400": (100_000, 300_000),
           "imix": (200_000, 500_000), "large": (100_000, 300_000),
           "recorded": (200_000, 400_000)}
FLOWS = {"imix": (20_000, 50_000), "large": (2_000, 5_000)}

SYN, FIN, PSH, ACK = 0x02, 0x01, 0x08, 0x10
# Payloads are random bytes, which is what encrypted protocols carry: the
# server ports are those of encrypted protocols, so that no decoder (tcpdump's,
# tshark's) parses random bytes as DNS, HTTP or NTP (the recorded mix has those).
TCP_PORTS = np.array([443, 443, 443, 443, 443, 443, 22, 993, 8443, 995])
UDP_PORTS = np.array([443, 443, 443, 443, 443, 51820, 4500, 1194])


# ----------------------------------------------------------------- checksums
def _sum16(rows: np.ndarray) -> np.ndarray:
    """Per row, the sum of the big-endian 16-bit words of ``rows`` (a 2-D uint8
    array; an odd last byte counts as its high byte), as uint64."""
    hi = rows[:, 0::2].astype(np.uint64).sum(axis=1)
    lo = rows[:, 1::2].astype(np.uint64).sum(axis=1)
    return (hi << np.uint64(8)) + lo


def _fold(total: np.ndarray) -> np.ndarray:
    for _ in range(4):
        total = (total & np.uint64(0xFFFF)) + (total >> np.uint64(16))
    return (~total) & np.uint64(0xFFFF)


def _put16(rows: np.ndarray, at: int, values) -> None:
    values = np.asarray(values, dtype=np.uint64)
    rows[:, at] = (values >> np.uint64(8)) & np.uint64(0xFF)
    rows[:, at + 1] = values & np.uint64(0xFF)


def _put32(rows: np.ndarray, at: int, values) -> None:
    values = np.asarray(values, dtype=np.uint64)
    for k in range(4):
        rows[:, at + k] = (values >> np.uint64(24 - 8 * k)) & np.uint64(0xFF)


# ----------------------------------------------------------------- flows
def flow_traffic(packets: int, flows: int, sizes, weights, *, seed: int = 0,
                 ipv6_share: float = 0.2, tcp_share: float = 0.7,
                 span_s: float = 60.0) -> Batch:
    """``packets`` Ethernet frames of ``flows`` two-way conversations, in time order.

    TCP flows (``tcp_share``) open with SYN, SYN-ACK, ACK and close with
    FIN-ACK, ACK, FIN-ACK, ACK, with sequence and acknowledgement numbers that
    follow the bytes each side sent; UDP flows start with the client's
    datagram.  Frame sizes are drawn so that the whole file has ``sizes`` in
    the proportions ``weights`` (control packets and pure ACKs take the
    smallest size; IPv6 TCP's smallest frame is 74 bytes, its headers'
    length).  IPv4 header, TCP and UDP checksums are valid; payloads are
    random bytes; frames shorter than their class are padded with zeros.
    """
    rng = np.random.default_rng(seed)
    sizes = np.asarray(sizes, dtype=np.int64)
    weights = np.asarray(weights, dtype=np.float64) / np.sum(weights)
    is_tcp = rng.random(flows) < tcp_share
    v6 = rng.random(flows) < ipv6_share
    floor = np.where(is_tcp, 8, 2)                       # TCP: handshake, teardown, one data
    if int(floor.sum()) > packets:
        raise ValueError(f"{flows} flows need at least {int(floor.sum())} packets")
    share = rng.pareto(1.1, flows) + 0.05                # a few heavy flows, many small ones
    count = floor + rng.multinomial(packets - int(floor.sum()), share / share.sum())
    n = int(count.sum())
    flow = np.repeat(np.arange(flows), count)
    first = np.cumsum(count) - count
    pos = np.arange(n) - first[flow]
    last = pos == count[flow] - 1
    tcp = is_tcp[flow]

    # direction (1: server to client) and TCP flags
    back = rng.random(n) < 0.6
    back[pos == 0] = False
    flags = np.zeros(n, dtype=np.int64)
    control = np.zeros(n, dtype=bool)
    if tcp.any():
        from_end = count[flow] - 1 - pos
        for where, direction, f in ((pos == 0, False, SYN), (pos == 1, True, SYN | ACK),
                                    (pos == 2, False, ACK), (from_end == 3, False, FIN | ACK),
                                    (from_end == 2, True, ACK), (from_end == 1, True, FIN | ACK),
                                    (from_end == 0, False, ACK)):
            sel = tcp & where
            back[sel] = direction
            flags[sel] = f
            control |= sel
    # size classes: exact counts over the file, control packets in the smallest
    target = np.floor(weights * n).astype(np.int64)
    target[0] += n - int(target.sum())
    free = ~control
    small_left = target[0] - int(control.sum())
    if small_left < 0:
        raise ValueError("too many control packets for the smallest size's share: more packets "
                         "per flow are needed")
    classes = np.repeat(np.arange(len(sizes)), np.concatenate([[small_left], target[1:]]))
    rng.shuffle(classes)
    klass = np.zeros(n, dtype=np.int64)
    klass[free] = classes
    v6p = v6[flow]
    header = 14 + np.where(v6p, 40, 20) + np.where(tcp, 20, 8)
    payload = np.where(control, 0, np.maximum(sizes[klass] - header, 0))
    data_tcp = tcp & ~control
    flags[data_tcp] = np.where(payload[data_tcp] > 0, PSH | ACK, ACK)
    frame = np.maximum(header + payload, np.where(control | (payload == 0), sizes[klass], 0))
    frame = np.maximum(frame, 60)

    # sequence numbers: bytes (and SYN/FIN) each side sent before this packet
    consumed = payload + ((flags & SYN) > 0) + ((flags & FIN) > 0)
    isn = rng.integers(0, 1 << 32, (flows, 2))
    before = np.zeros((2, n), dtype=np.int64)
    for side in (0, 1):
        mine = np.where(back == bool(side), consumed, 0)
        total = np.cumsum(mine)
        excl = total - mine
        before[side] = excl - excl[first][flow]
    side = back.astype(np.int64)
    seq = (isn[flow, side] + before[side, np.arange(n)]) & 0xFFFFFFFF
    ack = (isn[flow, 1 - side] + before[1 - side, np.arange(n)]) & 0xFFFFFFFF
    ack[(flags & ACK) == 0] = 0

    # times: flows start over the span; a round trip of a few ms, data gaps per flow
    start = rng.integers(0, int(span_s * 1e9), flows)
    rtt = rng.integers(200_000, 30_000_000, flows)
    gap_mean = rng.choice(np.array([20_000, 200_000, 2_000_000, 50_000_000]), flows,
                          p=[0.4, 0.3, 0.2, 0.1])
    gap = rng.exponential(gap_mean[flow]).astype(np.int64) + 1_000
    gap[pos <= 2] = rtt[flow][pos <= 2] // 2
    gap[pos == 0] = 0
    t = np.cumsum(gap)
    t = start[flow] + t - t[first][flow]
    order = np.argsort(t, kind="stable")

    # addresses and ports
    client4 = (10 << 24) + (rng.integers(0, 1 << 14, flows) << 2) + 1
    server4 = (172 << 24) + (16 << 16) + rng.integers(1, 2048, flows)
    client_port = rng.integers(32768, 61000, flows)
    server_port = np.where(is_tcp, rng.choice(TCP_PORTS, flows), rng.choice(UDP_PORTS, flows))
    ip_id = rng.integers(0, 1 << 16, (flows, 2))

    offset = np.zeros(n, dtype=np.int64)
    pieces = []
    at = 0
    for key in np.unique(np.stack([frame, v6p, tcp]), axis=1).T:
        length, is6, istcp = int(key[0]), bool(key[1]), bool(key[2])
        members = np.flatnonzero((frame == length) & (v6p == is6) & (tcp == istcp))
        for chunk in np.array_split(members, max(1, len(members) * length // (32 << 20) + 1)):
            rows = _frame_rows(rng, chunk, length, is6, istcp, flow, back, flags, seq, ack,
                               payload, header, client4, server4, client_port, server_port,
                               ip_id, pos)
            offset[chunk] = at + np.arange(len(chunk), dtype=np.int64) * length
            at += rows.size
            pieces.append(rows.reshape(-1))
    data = np.concatenate(pieces)
    ts = START_NS + t
    ethertype = np.where(v6p, 0x86DD, 0x0800)
    return Batch(ts=ts[order], caplen=frame[order], offset=offset[order], data=data,
                 protocol=ethertype[order])


def _frame_rows(rng, idx, length, v6, tcp, flow, back, flags, seq, ack, payload, header,
                client4, server4, client_port, server_port, ip_id, pos) -> np.ndarray:
    """The frames of packets ``idx`` (all ``length`` bytes, one IP version and
    transport), one per row, checksums filled in."""
    m = len(idx)
    f, b = flow[idx], back[idx]
    rows = rng.integers(0, 256, (m, length), dtype=np.uint8)
    hdr = int(header[idx[0]]) if m else 0
    pay = payload[idx]
    # zero padding after the payload (control packets and short frames)
    end = hdr + pay
    rows[np.arange(length)[None, :] >= end[:, None]] = 0
    client_mac = np.stack([np.full(m, 2), np.zeros(m), (f >> 16) & 0xFF, (f >> 8) & 0xFF,
                           f & 0xFF, np.ones(m)], axis=1).astype(np.uint8)
    router_mac = np.array([2, 0, 0, 0xFF, 0xFF, 0xFE], dtype=np.uint8)
    rows[:, 0:6] = np.where(b[:, None], client_mac, router_mac)
    rows[:, 6:12] = np.where(b[:, None], router_mac, client_mac)
    proto = 6 if tcp else 17
    l4_len = hdr - 14 - (40 if v6 else 20) + pay
    if v6:
        _put16(rows, 12, np.full(m, 0x86DD))
        rows[:, 14] = 0x60
        rows[:, 15:18] = 0
        rows[:, 15] = (f & 0x0F).astype(np.uint8)        # a flow label per flow
        rows[:, 16] = (f >> 4) & 0xFF
        rows[:, 17] = (f >> 12) & 0xFF
        _put16(rows, 18, l4_len)
        rows[:, 20] = proto
        rows[:, 21] = np.where(b, 57, 64)
        client = np.zeros((m, 16), dtype=np.uint8)
        client[:, 0:4] = (0x20, 0x01, 0x0D, 0xB8)
        client[:, 4:6] = (0x00, 0x0C)
        client[:, 12:16] = np.stack([(f >> 24) & 0xFF, (f >> 16) & 0xFF, (f >> 8) & 0xFF,
                                     f & 0xFF], axis=1)
        server = np.zeros((m, 16), dtype=np.uint8)
        server[:, 0:4] = (0x20, 0x01, 0x0D, 0xB8)
        server[:, 4:6] = (0x00, 0x5E)
        server[:, 14] = (server4[f] >> 8) & 0xFF
        server[:, 15] = server4[f] & 0xFF
        rows[:, 22:38] = np.where(b[:, None], server, client)
        rows[:, 38:54] = np.where(b[:, None], client, server)
        l4 = 54
        pseudo = _sum16(rows[:, 22:54]) + l4_len.astype(np.uint64) + np.uint64(proto)
    else:
        _put16(rows, 12, np.full(m, 0x0800))
        rows[:, 14] = 0x45
        rows[:, 15] = 0
        _put16(rows, 16, 20 + l4_len)
        _put16(rows, 18, (ip_id[f, b.astype(np.int64)] + pos[idx]) & 0xFFFF)
        _put16(rows, 20, np.full(m, 0x4000))               # DF
        rows[:, 22] = np.where(b, 57, 64)
        rows[:, 23] = proto
        rows[:, 24:26] = 0
        src = np.where(b, server4[f], client4[f])
        dst = np.where(b, client4[f], server4[f])
        _put32(rows, 26, src)
        _put32(rows, 30, dst)
        _put16(rows, 24, _fold(_sum16(rows[:, 14:34])))
        l4 = 34
        pseudo = _sum16(rows[:, 26:34]) + l4_len.astype(np.uint64) + np.uint64(proto)
    sport = np.where(b, server_port[f], client_port[f])
    dport = np.where(b, client_port[f], server_port[f])
    _put16(rows, l4, sport)
    _put16(rows, l4 + 2, dport)
    if tcp:
        _put32(rows, l4 + 4, seq[idx])
        _put32(rows, l4 + 8, ack[idx])
        rows[:, l4 + 12] = 0x50
        rows[:, l4 + 13] = flags[idx]
        _put16(rows, l4 + 14, np.full(m, 64240))
        rows[:, l4 + 16:l4 + 20] = 0                       # checksum, urgent pointer
        check_at = l4 + 16
    else:
        _put16(rows, l4 + 4, l4_len)
        rows[:, l4 + 6:l4 + 8] = 0
        check_at = l4 + 6
    # the transport checksum over the segment (not the Ethernet padding)
    seg_end = l4 + l4_len
    total = pseudo.copy()
    for seg_len in np.unique(seg_end):
        sel = seg_end == seg_len
        total[sel] += _sum16(rows[sel, l4:seg_len])
    check = _fold(total)
    if not tcp:
        check[check == 0] = 0xFFFF
    _put16(rows, check_at, check)
    return rows


def uniform_traffic(packets: int, frame_len: int, flows: int = 256, seed: int = 0) -> Batch:
    """``packets`` Ethernet/IPv4/UDP frames of ``frame_len`` bytes, ``flows`` flows in turn,
    1 µs apart, valid checksums (the uniform frames of the older benchmarks)."""
    rng = np.random.default_rng(seed)
    n = packets
    f = np.arange(n) % flows
    rows = np.zeros((n, frame_len), dtype=np.uint8)
    rows[:, 42:] = rng.integers(0, 256, (n, frame_len - 42), dtype=np.uint8)
    rows[:, 0:6] = (2, 0, 0, 0, 0, 2)
    rows[:, 6:12] = (2, 0, 0, 0, 0, 1)
    rows[:, 12:14] = (0x08, 0x00)
    rows[:, 14] = 0x45
    _put16(rows, 16, np.full(n, frame_len - 14))
    _put16(rows, 18, np.arange(n) & 0xFFFF)
    _put16(rows, 20, np.full(n, 0x4000))
    rows[:, 22] = 64
    rows[:, 23] = 17
    _put32(rows, 26, np.full(n, (10 << 24) + (1 << 16) + 1))
    _put32(rows, 30, (10 << 24) + (2 << 16) + f)
    _put16(rows, 24, _fold(_sum16(rows[:, 14:34])))
    _put16(rows, 34, 40000 + f)
    _put16(rows, 36, np.full(n, 9))
    _put16(rows, 38, np.full(n, frame_len - 34))
    udp_len = np.uint64(frame_len - 34)
    check = _fold(_sum16(rows[:, 26:34]) + udp_len + np.uint64(17) + _sum16(rows[:, 34:]))
    check[check == 0] = 0xFFFF
    _put16(rows, 40, check)
    return Batch(ts=START_NS + np.arange(n, dtype=np.int64) * 1000,
                 caplen=np.full(n, frame_len, dtype=np.uint32), data=rows.reshape(-1))


# ----------------------------------------------------------------- files
def _path(name: str, packets: int, seed: int) -> Path:
    return CACHE / f"{name}-{packets}-s{seed}-v{VERSION}.pcap"


def _write(path: Path, batch: Batch) -> Path:
    CACHE.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    with ringcap.PcapWriter(str(part)) as writer:
        for i in range(0, len(batch), 65536):
            writer.write(batch[i:i + 65536])
    os.replace(part, path)
    return path


def _cached(name: str, packets: int, seed: int, build) -> Path:
    path = _path(name, packets, seed)
    if not path.exists():
        _write(path, build())
    return path


def _count(quick: bool, name: str) -> int:
    return PACKETS[name][0 if quick else 1]


def uniform(quick: bool = False, frame_len: int = 64, seed: int = 0) -> Path:
    """Uniform frames of ``frame_len`` bytes (``uniform``: 64 B; ``uniform-1400``)."""
    name = "uniform" if frame_len == 64 else f"uniform-{frame_len}"
    n = _count(quick, name if name in PACKETS else "uniform")
    return _cached(name, n, seed, lambda: uniform_traffic(n, frame_len, seed=seed))


def imix(quick: bool = False, seed: int = 0) -> Path:
    """IMIX 7:4:1 of 64/576/1500-byte frames over 20,000+ two-way flows."""
    n, flows = _count(quick, "imix"), FLOWS["imix"][0 if quick else 1]
    return _cached("imix", n, seed, lambda: flow_traffic(n, flows, *IMIX, seed=seed))


def large(quick: bool = False, seed: int = 0) -> Path:
    """Big frames: ACKs and full-size data segments, about 800 bytes on average."""
    n, flows = _count(quick, "large"), FLOWS["large"][0 if quick else 1]
    return _cached("large", n, seed, lambda: flow_traffic(n, flows, *LARGE, seed=seed))


def recorded(quick: bool = False) -> Path:
    """Real programs recorded in a private network namespace (``tests/recorded.py``),
    repeated with shifted timestamps up to the mix's packet count."""
    import recorded as recording
    n = _count(quick, "recorded")
    path = CACHE / f"recorded-{n}-v{VERSION}-r{recording.VERSION}.pcap"
    if path.exists():
        return path
    source = CACHE / f"recorded-source-{'quick' if quick else 'full'}-r{recording.VERSION}.pcap"
    if not source.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        recording.record_in_new_netns(source, scale=1 if quick else 3)
    with ringcap.open_pcap(str(source)) as reader:
        one = Batch.concat([b.copy() for b in reader])
    span = int(one.ts[-1] - one.ts[0]) + 1_000_000
    CACHE.mkdir(parents=True, exist_ok=True)
    part = path.with_suffix(".part")
    written = 0
    with ringcap.PcapWriter(str(part)) as writer:
        k = 0
        while written < n:
            piece = one[:n - written] if n - written < len(one) else one
            shifted = piece.copy()
            shifted.ts[:] = piece.ts + k * span
            writer.write(shifted)
            written += len(piece)
            k += 1
    os.replace(part, path)
    return path


def mixes(quick: bool = False, recorded_mix: bool = True) -> dict[str, Path]:
    """{mix name: pcap path} of every mix the claims run on, built if missing."""
    out = {"uniform": uniform(quick), "imix": imix(quick), "large": large(quick)}
    if recorded_mix:
        out["recorded"] = recorded(quick)
    return out


# ----------------------------------------------------------------- histograms
BINS = (0, 64, 65, 128, 256, 512, 577, 1024, 1500, 1515, 65536)


def histogram(path: Path) -> dict:
    """Packets, mean size and the share of frames per size range of a file."""
    sizes = []
    with ringcap.open_pcap(str(path)) as reader:
        for batch in reader:
            sizes.append(batch.wirelen.astype(np.int64))
    size = np.concatenate(sizes) if sizes else np.zeros(0, dtype=np.int64)
    counts, _ = np.histogram(size, bins=BINS)
    return {"packets": int(size.size), "mean": float(size.mean()) if size.size else 0.0,
            "bytes": int(size.sum()),
            "bins": [[BINS[i], BINS[i + 1] - 1, int(c)] for i, c in enumerate(counts)]}


def histogram_table(hists: dict[str, dict]) -> list[str]:
    """A markdown table: one row per mix, one column per size range (share of packets)."""
    names = list(hists)
    if not names:
        return []
    ranges = [(lo, hi) for lo, hi, _ in hists[names[0]]["bins"]]
    head = "| mix | packets | mean bytes | " + " | ".join(
        f"{lo}" if lo == hi else f"{lo}–{hi}" for lo, hi in ranges) + " |"
    lines = [head, "|---|---:|---:|" + "---:|" * len(ranges)]
    for name in names:
        h = hists[name]
        shares = [f"{100 * c / max(h['packets'], 1):.1f} %" for _, _, c in h["bins"]]
        lines.append(f"| {name} | {h['packets']:,} | {h['mean']:.0f} | " + " | ".join(shares)
                     + " |")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="the smaller files of --quick runs")
    parser.add_argument("--no-recorded", action="store_true",
                        help="only the synthetic mixes (no root needed)")
    parser.add_argument("--json", action="store_true", help="print the histograms as JSON")
    args = parser.parse_args(argv)
    paths = mixes(args.quick, recorded_mix=not args.no_recorded)
    paths["uniform-1400"] = uniform(args.quick, 1400)
    hists = {name: histogram(path) for name, path in paths.items()}
    if args.json:
        print(json.dumps({name: {**h, "path": str(paths[name])} for name, h in hists.items()},
                         indent=1))
    else:
        for name, path in paths.items():
            print(f"{name}: {path}")
        print("\n".join(histogram_table(hists)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
