"""Flow records: ringcap's FlowMeter against nfstream on the same pcap, same run.

A pcap of generated conversations is written first (TCP with handshakes,
data, retransmissions and FIN; UDP request/response; silences longer than the
idle timeout and flows longer than the active timeout, so that both split
flows).  Timestamps are whole milliseconds, so nfstream's millisecond clock
and ringcap's nanosecond clock make the same expiry decisions.

Then, each the best of ``--repeat`` runs:

* nfstream ``NFStreamer(source=pcap, statistical_analysis=True,
  n_dissections=0)`` with the same timeouts, iterating every flow;
* ``ringcap.flow_features(ringcap.open_pcap(pcap))``: reading, decoding and
  metering, end to end;
* the parts: ``decode(batch, columns=FLOW_FEATURE_COLUMNS)`` and
  ``FlowMeter.update`` on decoded headers.

(wall time, and CPU time of the process and its finished children: nfstream
meters in worker processes, so on a busy machine its wall time hides part of
its cost), and the two tools' records are compared flow by flow: the number of
records, and per record its key, packets and bytes in each direction and
why it ended.  Peers: benchmarks/requirements.txt (nfstream).

    python benchmarks/bench_flows.py --packets 1000000 --repeat 3
"""
from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time

import numpy as np

import ringcap
from ringcap.flowmeter import EXPIRED_END, FLOW_FEATURE_COLUMNS, FlowMeter
from ringcap.testing import ipv4_batch

MS = 1_000_000


def conversations(packets: int, seed: int = 1):
    """A Batch of about ``packets`` packets of generated conversations, in time order."""
    rng = np.random.default_rng(seed)
    flows = max(1, packets // 20)
    count = np.clip(rng.geometric(1 / 20, flows), 3, 2000)
    long_lived = rng.random(flows) < 0.003                         # 1-3 hours, cut by active
    count[long_lived] = rng.integers(300, 900, int(long_lived.sum()))
    keep = np.cumsum(count) <= packets
    count, long_lived = count[keep], long_lived[keep]
    flows = len(count)
    tcp = rng.random(flows) < 0.7
    client = (10 << 24) + rng.integers(1, 1 << 16, flows)
    server = (192 << 24) + (168 << 16) + rng.integers(1, 512, flows)
    cport = rng.integers(1024, 65535, flows)
    cport[np.isin(cport, (4789, 6081))] += 1       # not VXLAN's or Geneve's: ringcap decodes those
    sport = rng.choice(np.array([80, 443, 53, 22, 8080, 5353]), flows)
    start = rng.integers(0, 3_600_000, flows)                      # ms within an hour
    mean_gap = np.where(rng.random(flows) < 0.05, 5_000, 40)       # a few slow flows
    mean_gap[long_lived] = 12_000
    n = int(count.sum())
    flow = np.repeat(np.arange(flows), count)
    first = np.repeat(np.cumsum(count) - count, count)
    pos = np.arange(n) - first
    gap = rng.exponential(mean_gap[flow]).astype(np.int64) + 1
    silent = rng.random(n) < 0.002                                 # silences past idle
    gap[silent] = rng.integers(130_000, 400_000, int(silent.sum()))
    gap[pos == 0] = 0
    t = np.cumsum(gap)
    t = start[flow] + t - t[first]
    reverse = (rng.random(n) < 0.45) & (pos > 0)
    reverse[(pos == 1) & tcp[flow]] = True                         # the SYN-ACK
    reverse[(pos == 2) & tcp[flow]] = False                        # the handshake's ACK
    payload = np.where(pos < 3, 0, rng.integers(0, 1400, n))
    payload[~tcp[flow]] = rng.integers(20, 600, int((~tcp[flow]).sum()))
    flags = np.full(n, 0x18, dtype=np.uint16)                      # PSH|ACK
    flags[payload == 0] = 0x10
    flags[pos == 0] = 0x02
    flags[pos == 1] = 0x12
    flags[pos == count[flow] - 1] = 0x11                           # FIN|ACK
    seq = np.zeros(n, dtype=np.int64)
    for side in (False, True):                                     # per-direction sequence
        mine = np.where(reverse == side, payload, 0)
        total = np.cumsum(mine)
        seq = np.where(reverse == side, total - mine - (total - mine)[first], seq)
    seq = (seq + 1000) & 0xFFFFFFFF
    redo = (rng.random(n) < 0.003) & (pos > 3) & tcp[flow]         # retransmissions
    seq[redo] = seq[np.flatnonzero(redo) - 1]
    src = np.where(reverse, server[flow], client[flow])
    dst = np.where(reverse, client[flow], server[flow])
    sp = np.where(reverse, sport[flow], cport[flow])
    dp = np.where(reverse, cport[flow], sport[flow])
    order = np.argsort(t, kind="stable")
    return ipv4_batch(ts=t[order] * MS + 1_700_000_000_000 * MS, ip_src=src[order],
                      ip_dst=dst[order], sport=sp[order], dport=dp[order],
                      ip_proto=np.where(tcp[flow], 6, 17)[order], tcp_flags=flags[order],
                      tcp_seq=seq[order], payload_len=payload[order])


def _cpu() -> float:
    # this process and its finished children (nfstream meters in worker processes)
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def best(fn, repeat: int):
    """(best wall seconds, best CPU seconds, result) over ``repeat`` runs."""
    walls, cpus, result = [], [], None
    for _ in range(repeat):
        start, cpu = time.perf_counter(), _cpu()
        result = fn()
        walls.append(time.perf_counter() - start)
        cpus.append(_cpu() - cpu)
    return min(walls), min(cpus), result


def run_nfstream(path, idle, active, meters):
    from nfstream import NFStreamer
    rows = []
    for f in NFStreamer(source=path, statistical_analysis=True, n_dissections=0,
                        idle_timeout=idle, active_timeout=active, n_meters=meters):
        rows.append((f.src_ip, f.src_port, f.dst_ip, f.dst_port, f.protocol,
                     f.bidirectional_first_seen_ms, f.src2dst_packets, f.src2dst_bytes,
                     f.dst2src_packets, f.dst2src_bytes, f.expiration_id,
                     tuple(getattr(f, name) for name, _ in _STATISTICS)))
    return rows


# nfstream's statistics compared, with ringcap's column and scale (ns -> ms).
_STATISTICS = (
    ("bidirectional_duration_ms", ("bidirectional_duration_ns", 1e-6)),
    ("bidirectional_min_ps", ("bidirectional_min_ps", 1)),
    ("bidirectional_mean_ps", ("bidirectional_mean_ps", 1)),
    ("bidirectional_stddev_ps", ("bidirectional_stddev_ps", 1)),
    ("src2dst_max_ps", ("src2dst_max_ps", 1)),
    ("dst2src_mean_ps", ("dst2src_mean_ps", 1)),
    ("bidirectional_mean_piat_ms", ("bidirectional_mean_piat_ns", 1e-6)),
    ("bidirectional_stddev_piat_ms", ("bidirectional_stddev_piat_ns", 1e-6)),
    ("src2dst_max_piat_ms", ("src2dst_max_piat_ns", 1e-6)),
    ("dst2src_min_piat_ms", ("dst2src_min_piat_ns", 1e-6)),
    ("src2dst_syn_packets", ("src2dst_syn_packets", 1)),
    ("dst2src_ack_packets", ("dst2src_ack_packets", 1)),
    ("bidirectional_psh_packets", ("bidirectional_psh_packets", 1)),
    ("bidirectional_fin_packets", ("bidirectional_fin_packets", 1)),
)


def run_ringcap(path, idle, active):
    with ringcap.open_pcap(path, batch_packets=65536) as reader:
        return ringcap.flow_features(reader, idle_timeout=idle, active_timeout=active)


def compare(records, rows):
    """(records only ringcap has, only nfstream has, common records whose packets, bytes
    or reason differ, common records whose statistics differ)."""
    src, dst = records.ip_src_str(), records.ip_dst_str()
    ours, stats = {}, {}
    columns = [getattr(records, ours_name) * scale for _, (ours_name, scale) in _STATISTICS]
    for k in range(len(records)):
        key = (src[k], int(records.sport[k]), dst[k], int(records.dport[k]),
               int(records.ip_proto[k]), int(records.bidirectional_first_seen[k]) // MS)
        reason = int(records.expiration_id[k])
        ours[key] = (int(records.src2dst_packets[k]), int(records.src2dst_bytes[k]),
                     int(records.dst2src_packets[k]), int(records.dst2src_bytes[k]),
                     0 if reason == EXPIRED_END else reason)   # nfstream: 0 at the end too
        stats[key] = np.array([float(column[k]) for column in columns])
    theirs = {tuple(row[:6]): tuple(row[6:11]) for row in rows}
    their_stats = {tuple(row[:6]): np.array(row[11], dtype=float) for row in rows}
    common = ours.keys() & theirs.keys()
    differ = sum(1 for key in common if ours[key] != theirs[key])
    stats_differ = sum(1 for key in common
                       if not np.allclose(stats[key], their_stats[key], rtol=1e-9, atol=1e-9))
    return (len(ours.keys() - theirs.keys()), len(theirs.keys() - ours.keys()), differ,
            stats_differ)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--packets", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--idle-timeout", type=int, default=120, help="seconds (nfstream's)")
    parser.add_argument("--active-timeout", type=int, default=1800, help="seconds (nfstream's)")
    parser.add_argument("--nfstream-meters", type=int, default=1,
                        help="nfstream's n_meters (metering processes); 0: one per core")
    args = parser.parse_args()
    batch = conversations(args.packets)
    n = len(batch)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "conversations.pcap")
        ringcap.write_pcap(path, batch)
        print(f"# flow records: {n:,} packets ({os.path.getsize(path) / 1e6:.0f} MB pcap), "
              f"idle {args.idle_timeout} s, active {args.active_timeout} s, "
              f"best of {args.repeat}")
        print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
              f"Python {platform.python_version()}\n")
        t_nf, c_nf, rows = best(lambda: run_nfstream(path, args.idle_timeout, args.active_timeout,
                                               args.nfstream_meters), args.repeat)
        t_rc, c_rc, records = best(lambda: run_ringcap(path, args.idle_timeout, args.active_timeout),
                             args.repeat)
        headers = ringcap.decode(batch, columns=FLOW_FEATURE_COLUMNS)
        t_decode, c_decode, _ = best(lambda: ringcap.decode(batch, columns=FLOW_FEATURE_COLUMNS),
                           args.repeat)

        def meter_only():
            meter = FlowMeter(idle_timeout=args.idle_timeout, active_timeout=args.active_timeout)
            return len(meter.update(headers)) + len(meter.flush())
        t_meter, c_meter, _ = best(meter_only, args.repeat)
    only_ours, only_theirs, differ, stats_differ = compare(records, rows)
    print("| what | records | ns/packet | packets/s | vs nfstream | CPU ns/packet | "
          "vs nfstream (CPU) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for what, seconds, cpu, count in (
            (f"nfstream (statistical_analysis, n_dissections=0, n_meters="
             f"{args.nfstream_meters})", t_nf, c_nf, len(rows)),
            ("ringcap.flow_features(open_pcap(path)), end to end", t_rc, c_rc, len(records)),
            ("  decode(batch, columns=FLOW_FEATURE_COLUMNS)", t_decode, c_decode, None),
            ("  FlowMeter.update(headers) + flush()", t_meter, c_meter, None)):
        print(f"| {what} | {'' if count is None else f'{count:,}'} | {seconds * 1e9 / n:,.1f} | "
              f"{n / seconds:,.0f} | {t_nf / seconds:.1f}x | {cpu * 1e9 / n:,.1f} | "
              f"{c_nf / cpu:.1f}x |")
    reasons = np.bincount(records.expiration_id, minlength=3)
    print(f"\nringcap records by expiration_id (idle, active, end): {reasons.tolist()}")
    print(f"records only ringcap has: {only_ours}; only nfstream has: {only_theirs}; "
          f"common records whose per-direction packets, bytes or reason differ: {differ}; "
          f"whose statistics differ ({len(_STATISTICS)} compared: "
          f"{', '.join(name for name, _ in _STATISTICS)}): {stats_differ}")


if __name__ == "__main__":
    main()
