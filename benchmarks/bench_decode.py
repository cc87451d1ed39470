"""Header decoding and flow aggregation: ringcap against dpkt, scapy and pandas, same run.

Two corpora, built here in memory:

* ``ipv4-tcp``: plain Ethernet/IPv4/TCP frames, addresses and ports varied;
* ``mixed``: IPv4 and IPv6, TCP/UDP/ICMP/ICMPv6/SCTP, options and extension
  headers, fragments, 802.1Q and QinQ, ARP and LLDP, a few truncated frames;
* ``tunnels``: the ``mixed`` frames and as many tunnelled ones in turn: MPLS
  (1-3 labels), GRE (with key and sequence, IPv4/IPv6/Ethernet payloads),
  ERSPAN II, VXLAN, Geneve, IP-in-IP and two-deep nestings, TCP with
  options inside, a few truncated.

For each, ns per packet of:

* ``ringcap.decode(batch)`` (the default columns, fresh arrays), with
  ``out=`` (reused arrays), the same with ``columns="all"`` (every column,
  TCP options parsed), and with ``columns=FIVE_TUPLE_COLUMNS`` (the 5-tuple
  path, fresh arrays and ``out=``), also on one 16k-packet batch decoded over and over (its bytes stay
  in cache, as a ring's recent blocks do);
* the floor for any pass over the batch: numpy reading its bytes once;
* dpkt: ``Ethernet(frame)`` per packet, reading the same 5-tuple fields;
* scapy: ``Ether(frame)`` per packet, reading the same fields (on a sample:
  it is slow).

Then ``ringcap.flows(headers)`` against a pandas groupby over the decoded
columns producing the same per-flow, per-direction counts.  Each figure is
the best of ``--repeat`` runs, in the process's CPU time by default
(``--clock cpu``: steady when other work shares the machine; ``--clock wall``
for elapsed time); ratios are against dpkt (decode) and pandas (flows)
measured in the same run.  Peers: benchmarks/requirements.txt.

    python benchmarks/bench_decode.py --packets 1000000 --repeat 5
"""
from __future__ import annotations

import argparse
import importlib
import platform
import struct
import time

import numpy as np

import ringcap
from ringcap import Batch

D = importlib.import_module("ringcap.headers")


# ---------------------------------------------------------------- corpora
def _ipv4_tcp_frames(count: int, rng) -> list[bytes]:
    import dpkt
    frames = []
    for i in range(count):
        tcp = dpkt.tcp.TCP(sport=int(rng.integers(1024, 65535)), dport=443, seq=i, ack=i * 3,
                           flags=0x18, win=501, data=b"x" * int(rng.integers(0, 64)))
        ip = dpkt.ip.IP(src=bytes([10, 0, i >> 8 & 0xFF, i & 0xFF]),
                        dst=bytes([192, 168, 0, int(rng.integers(1, 250))]), p=6, ttl=64,
                        data=tcp)
        ip.len = len(bytes(ip))
        frames.append(bytes(dpkt.ethernet.Ethernet(src=b"\x02\0\0\0\0\x01",
                                                   dst=b"\x02\0\0\0\0\x02", type=0x0800,
                                                   data=ip)))
    return frames


def _mixed_frames(count: int, rng) -> list[bytes]:
    from scapy.contrib.lldp import (LLDPDUChassisID, LLDPDUEndOfLLDPDU, LLDPDUPortID,
                                    LLDPDUTimeToLive)
    from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert
    from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrHopByHop
    from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
    from scapy.layers.sctp import SCTP, SCTPChunkData
    from scapy.packet import Raw
    mac = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    frames = []
    for i in range(count):
        sport = int(rng.integers(1024, 65535))
        a4, b4 = f"10.0.{i >> 8 & 255}.{i & 255}", f"172.16.0.{i % 200 + 1}"
        a6, b6 = f"2001:db8::{i:x}", "2001:db8:1::1"
        kind = i % 16
        if kind < 5:
            p = Ether(**mac) / IP(src=a4, dst=b4) / TCP(sport=sport, dport=443, flags="PA") \
                / Raw(b"t" * (i % 40))
        elif kind < 7:
            p = Ether(**mac) / IP(src=a4, dst=b4) / UDP(sport=sport, dport=53) / Raw(b"u" * 30)
        elif kind == 7:
            p = Ether(**mac) / IPv6(src=a6, dst=b6) / TCP(sport=sport, dport=80, flags="S")
        elif kind == 8:
            p = Ether(**mac) / IPv6(src=a6, dst=b6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt() \
                / UDP(sport=sport, dport=4789) / Raw(b"v" * 20)
        elif kind == 9:
            p = Ether(**mac) / Dot1Q(vlan=100) / IP(src=a4, dst=b4) / TCP(sport=sport, dport=22)
        elif kind == 10:
            p = Ether(**mac) / Dot1AD(vlan=10) / Dot1Q(vlan=20) / IPv6(src=a6, dst=b6) \
                / ICMPv6EchoRequest()
        elif kind == 11:
            p = Ether(**mac) / IP(src=a4, dst=b4, options=[IPOption_Router_Alert()]) / ICMP()
        elif kind == 12:
            p = Ether(**mac) / IP(src=a4, dst=b4, flags="MF", frag=i % 3 * 100, proto=17) \
                / Raw(b"f" * 48)
        elif kind == 13:
            p = Ether(**mac) / IP(src=a4, dst=b4) / SCTP(sport=2905, dport=2905) \
                / SCTPChunkData(data=b"s" * 16)
        elif kind == 14:
            p = Ether(**mac) / ARP(psrc=a4, pdst=b4, hwsrc=mac["src"])
        else:
            p = Ether(src=mac["src"], dst="01:80:c2:00:00:0e") \
                / LLDPDUChassisID(subtype=4, id=mac["src"]) / LLDPDUPortID(subtype=5, id="eth0") \
                / LLDPDUTimeToLive(ttl=120) / LLDPDUEndOfLLDPDU()
        frame = bytes(p)
        if i % 97 == 0:
            frame = frame[:int(rng.integers(10, len(frame)))]
        frames.append(frame)
    return frames


def _tunnel_frames(count: int, rng) -> list[bytes]:
    from scapy.contrib.erspan import ERSPAN_II
    from scapy.contrib.geneve import GENEVE
    from scapy.contrib.mpls import MPLS
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import GRE, Ether
    from scapy.layers.vxlan import VXLAN
    from scapy.packet import Raw
    mac = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    mixed = _mixed_frames(count // 2, rng)
    frames = []
    for i in range(count - len(mixed)):
        sport = int(rng.integers(1024, 65535))
        inner4 = IP(src=f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}", dst="10.255.0.1") \
            / TCP(sport=sport, dport=443, flags="PA",
                  options=[("NOP", None), ("NOP", None), ("Timestamp", (i, i + 1))]) \
            / Raw(b"t" * (i % 64))
        inner6 = IPv6(src=f"2001:db8::{i:x}", dst="2001:db8:1::1") / UDP(sport=sport, dport=53) \
            / Raw(b"u" * 24)
        outer = IP(src="192.0.2.1", dst=f"198.51.100.{i % 250 + 1}")
        kind = i % 10
        if kind == 0:
            p = Ether(**mac) / MPLS(label=16 + i % 1000, s=1, ttl=64) / inner4
        elif kind == 1:
            p = Ether(**mac) / MPLS(label=100, s=0) / MPLS(label=200, s=0) \
                / MPLS(label=300 + i % 50, s=1) / inner6
        elif kind == 2:
            p = Ether(**mac) / outer / GRE(key_present=1, key=i % 64, seqnum_present=1,
                                           sequence_number=i) / inner4
        elif kind == 3:
            p = Ether(**mac) / outer / GRE(proto=0x6558) / Ether(**mac) / inner6
        elif kind == 4:
            p = Ether(**mac) / outer / GRE(seqnum_present=1, proto=0x88BE) \
                / ERSPAN_II(session_id=i % 1023) / Ether(**mac) / inner4
        elif kind == 5:
            p = Ether(**mac) / outer / UDP(sport=sport, dport=4789) / VXLAN(vni=i % 4096) \
                / Ether(**mac) / inner4
        elif kind == 6:
            p = Ether(**mac) / outer / UDP(sport=sport, dport=6081) \
                / GENEVE(vni=i % 4096, proto=0x6558) / Ether(**mac) / inner6
        elif kind == 7:
            p = Ether(**mac) / outer / inner4
        elif kind == 8:
            p = Ether(**mac) / IPv6(src="2001:db8:ff::1", dst="2001:db8:ff::2") / inner4
        else:    # two deep: VXLAN over MPLS
            p = Ether(**mac) / MPLS(label=77, s=1) / outer / UDP(sport=sport, dport=4789) \
                / VXLAN(vni=5) / Ether(**mac) / inner4
        frame = bytes(p)
        if i % 97 == 0:
            frame = frame[:int(rng.integers(10, len(frame)))]
        frames.append(frame)
    mixed_then_tunnels = []
    for a, b in zip(mixed, frames):
        mixed_then_tunnels += [a, b]
    return mixed_then_tunnels


def _tile(frames: list[bytes], packets: int) -> Batch:
    reps = -(-packets // len(frames))
    return Batch.from_packets((frames * reps)[:packets],
                              ts=np.arange(packets, dtype=np.int64) * 1000)


# ---------------------------------------------------------------- timers
def ratio(reference: float, seconds: float) -> str:
    value = reference / seconds
    return f"{value:,.0f}x" if value >= 10 else f"{value:.2g}x"


CLOCK = time.process_time   # --clock wall: time.perf_counter


def best(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = CLOCK()
        fn()
        times.append(CLOCK() - start)
    return min(times)


def dpkt_five_tuple(frames):
    import dpkt
    out = []
    for frame in frames:
        try:
            ip = dpkt.ethernet.Ethernet(frame).data
        except (dpkt.UnpackError, dpkt.NeedData):
            out.append(None)
            continue
        l4 = getattr(ip, "data", None)
        out.append((getattr(ip, "src", None), getattr(ip, "dst", None), getattr(ip, "p", None),
                    getattr(l4, "sport", None), getattr(l4, "dport", None)))
    return out


def scapy_five_tuple(frames):
    from scapy.layers.inet import IP
    from scapy.layers.inet6 import IPv6
    from scapy.layers.l2 import Ether
    out = []
    for frame in frames:
        try:
            p = Ether(frame)
        except struct.error:   # scapy gives up on frames shorter than a header
            out.append(None)
            continue
        ip = p.getlayer(IP) or p.getlayer(IPv6)
        if ip is None:
            out.append(None)
            continue
        l4 = ip.payload
        out.append((ip.src, ip.dst, getattr(ip, "proto", getattr(ip, "nh", None)),
                    getattr(l4, "sport", None), getattr(l4, "dport", None)))
    return out


def pandas_flows(h):
    """The flows() result computed with numpy + a pandas groupby over decoded columns."""
    import pandas as pd
    ip = h.ip_version > 0
    src = h.ip_src[ip].view("V16").ravel()
    dst = h.ip_dst[ip].view("V16").ravel()
    # endpoints as integer ids so pandas can group them
    _, ids = np.unique(np.concatenate([src, dst]), return_inverse=True)
    ids = ids.ravel()
    a, b = ids[:len(src)], ids[len(src):]
    sport, dport = h.sport[ip].astype(np.int64), h.dport[ip].astype(np.int64)
    key_a = a * 65536 + sport
    key_b = b * 65536 + dport
    lo, hi = np.minimum(key_a, key_b), np.maximum(key_a, key_b)
    frame = pd.DataFrame({"lo": lo, "hi": hi, "proto": h.ip_proto[ip], "fwd": key_a <= key_b,
                          "ts": h.ts[ip], "bytes": h.wirelen[ip].astype(np.int64),
                          "flags": h.tcp_flags[ip]})
    grouped = frame.groupby(["lo", "hi", "proto", "fwd"], sort=False)
    table = grouped.agg(packets=("ts", "size"), bytes=("bytes", "sum"), first_ts=("ts", "min"),
                        last_ts=("ts", "max"),
                        tcp_flags=("flags", lambda s: np.bitwise_or.reduce(s.to_numpy())))
    return table


def pandas_flows_no_flags(h):
    """As pandas_flows, without the TCP-flag union (which needs a Python callback)."""
    import pandas as pd
    ip = h.ip_version > 0
    src = h.ip_src[ip].view("V16").ravel()
    dst = h.ip_dst[ip].view("V16").ravel()
    _, ids = np.unique(np.concatenate([src, dst]), return_inverse=True)
    ids = ids.ravel()
    a, b = ids[:len(src)], ids[len(src):]
    key_a = a * 65536 + h.sport[ip].astype(np.int64)
    key_b = b * 65536 + h.dport[ip].astype(np.int64)
    frame = pd.DataFrame({"lo": np.minimum(key_a, key_b), "hi": np.maximum(key_a, key_b),
                          "proto": h.ip_proto[ip], "fwd": key_a <= key_b, "ts": h.ts[ip],
                          "bytes": h.wirelen[ip].astype(np.int64)})
    return frame.groupby(["lo", "hi", "proto", "fwd"], sort=False).agg(
        packets=("ts", "size"), bytes=("bytes", "sum"), first_ts=("ts", "min"),
        last_ts=("ts", "max"))


# ---------------------------------------------------------------- main
def run(args) -> None:
    rng = np.random.default_rng(1)
    corpora = {
        "ipv4-tcp": _ipv4_tcp_frames(args.distinct, rng),
        "mixed": _mixed_frames(args.distinct, rng),
        "tunnels": _tunnel_frames(args.distinct, rng),
    }
    n = args.packets
    print(f"# ringcap decode benchmark: {n} packets per corpus, best of {args.repeat}, "
          f"{args.clock} time")
    print(f"# {platform.processor() or platform.machine()}, Python {platform.python_version()},"
          f" numpy {np.__version__}\n")
    print("| corpus | what | ns/packet | vs dpkt |")
    print("|---|---|---:|---:|")
    headers_for_flows = {}
    for name, frames in corpora.items():
        batch = _tile(frames, n)
        full = ringcap.decode(batch)
        every = ringcap.decode(batch, columns="all")
        five = ringcap.decode(batch, columns=D.FIVE_TUPLE_COLUMNS)
        small = batch[:16384].copy()
        words = batch.data[:batch.data.shape[0] // 8 * 8].view(np.uint64)
        sample = batch.packets()[:args.sample]
        scapy_sample = sample[:args.scapy_sample]
        t_dpkt = best(lambda: dpkt_five_tuple(sample), args.repeat) / len(sample)
        t_scapy = best(lambda: scapy_five_tuple(scapy_sample), max(1, args.repeat // 2)) \
            / len(scapy_sample)
        rows = [
            ("decode, default columns", best(lambda: ringcap.decode(batch), args.repeat) / n),
            ("decode, default columns, out=", best(lambda: ringcap.decode(batch, out=full),
                                                  args.repeat) / n),
            (f"decode, all {len(every.names)} columns", best(
                lambda: ringcap.decode(batch, columns="all"), args.repeat) / n),
            (f"decode, all {len(every.names)} columns, out=", best(
                lambda: ringcap.decode(batch, out=every), args.repeat) / n),
            ("decode, 5-tuple path", best(lambda: ringcap.decode(
                batch, columns=D.FIVE_TUPLE_COLUMNS), args.repeat) / n),
            ("decode, 5-tuple path, out=", best(lambda: ringcap.decode(
                batch, columns=D.FIVE_TUPLE_COLUMNS, out=five), args.repeat) / n),
            ("decode, 5-tuple path, 16k-packet batch (in cache)",
             best(lambda: ringcap.decode(small, columns=D.FIVE_TUPLE_COLUMNS),
                  64 * args.repeat) / len(small)),
            ("floor: reading the bytes once (numpy OR-reduce)",
             best(lambda: np.bitwise_or.reduce(words), args.repeat) / n),
            ("dpkt Ethernet(frame) per packet", t_dpkt),
            ("scapy Ether(frame) per packet", t_scapy),
        ]
        for what, seconds in rows:
            print(f"| {name} | {what} | {seconds * 1e9:,.1f} | {ratio(t_dpkt, seconds)} |")
        headers_for_flows[name] = full
    print()
    print("| corpus | flows | what | ns/packet | vs pandas |")
    print("|---|---:|---|---:|---:|")
    for name, h in headers_for_flows.items():
        table = ringcap.flows(h)
        t_flows = best(lambda: ringcap.flows(h), args.repeat)
        t_hash = best(lambda: D.Headers(
            {k: getattr(h, k) for k in h.names}, h.ts, h.wirelen).flow_hash, args.repeat)
        t_pandas = best(lambda: pandas_flows(h), args.repeat)
        t_pandas_plain = best(lambda: pandas_flows_no_flags(h), args.repeat)
        check = pandas_flows_no_flags(h)
        assert len(check) == int((table.packets_fwd > 0).sum() + (table.packets_rev > 0).sum()), \
            "pandas and ringcap disagree on the number of flow directions"
        for what, seconds in (("ringcap.flows(headers)", t_flows),
                              ("flow_hash only", t_hash),
                              ("pandas groupby (with TCP-flag union)", t_pandas),
                              ("pandas groupby (no flag union)", t_pandas_plain)):
            print(f"| {name} | {len(table):,} | {what} | {seconds * 1e9 / n:,.1f} | "
                  f"{ratio(t_pandas, seconds)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000, help="packets per corpus")
    parser.add_argument("--distinct", type=int, default=20_000,
                        help="distinct frames built per corpus (tiled up to --packets)")
    parser.add_argument("--sample", type=int, default=20_000, help="packets dpkt parses")
    parser.add_argument("--scapy-sample", type=int, default=2_000, help="packets scapy parses")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--clock", choices=("cpu", "wall"), default="cpu",
                        help="cpu: the process's CPU time (user + system, so page faults "
                             "count), steady on a shared machine; wall: elapsed time")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    run(args)


if __name__ == "__main__":
    main()
