"""Traffic reports (ringcap.report) against capinfos and tshark on the same files."""
from __future__ import annotations

import json
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest

import ringcap
from ringcap.report import TrafficReport, file_report

scapy = pytest.importorskip("scapy.all")


def corpus(count: int = 3000, seed: int = 7) -> ringcap.Batch:
    """Mixed traffic: IPv4/IPv6 TCP/UDP/ICMP between a few hosts, ARP, VLAN, fragments."""
    from scapy.all import ARP, ICMP, IP, TCP, UDP, Dot1Q, Ether, IPv6, ICMPv6EchoRequest, Raw
    rng = np.random.default_rng(seed)
    hosts4 = [f"10.1.0.{i}" for i in range(1, 7)]
    hosts6 = [f"fd00::{i:x}" for i in range(1, 5)]
    frames, ts = [], []
    t = 1_700_000_000 * 10**9
    for i in range(count):
        t += int(rng.integers(1, 5_000_000))
        kind = int(rng.integers(0, 9))
        size = int(rng.choice([0, 10, 100, 400, 1000, 1400]))
        eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
        a, b = rng.choice(len(hosts4), 2, replace=False)
        c, d = rng.choice(len(hosts6), 2, replace=False)
        if kind == 0:
            p = eth / IP(src=hosts4[a], dst=hosts4[b]) / TCP(sport=1000 + a, dport=80, flags="S")
        elif kind == 1:
            p = eth / IP(src=hosts4[a], dst=hosts4[b]) / TCP(sport=2000, dport=443, flags="PA") \
                / Raw(bytes(size))
        elif kind == 2:
            p = eth / IP(src=hosts4[a], dst=hosts4[b]) / UDP(sport=5353, dport=9999) / Raw(bytes(size))
        elif kind == 3:
            p = eth / IP(src=hosts4[a], dst=hosts4[b]) / ICMP() / Raw(bytes(size))
        elif kind == 4:
            p = eth / IPv6(src=hosts6[c], dst=hosts6[d]) / TCP(sport=3000, dport=22) / Raw(bytes(size))
        elif kind == 5:
            p = eth / IPv6(src=hosts6[c], dst=hosts6[d]) / UDP(sport=4000, dport=9999) / Raw(bytes(size))
        elif kind == 6:
            p = eth / IPv6(src=hosts6[c], dst=hosts6[d]) / ICMPv6EchoRequest()
        elif kind == 7:
            p = Ether(src="02:00:00:00:00:03", dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=hosts4[a], pdst=hosts4[b])
        else:
            p = eth / Dot1Q(vlan=int(rng.integers(1, 100))) / IP(src=hosts4[a], dst=hosts4[b]) \
                / UDP(sport=53, dport=53) / Raw(bytes(size))
        frames.append(bytes(p))
        ts.append(t)
    return ringcap.Batch.from_packets(frames, ts=ts)


@pytest.fixture(scope="module")
def capture_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("report") / "mixed.pcapng"
    ringcap.write_pcap(path, corpus(), format="pcapng")
    return path


def _capinfos(path) -> dict[str, str]:
    out = subprocess.run(["capinfos", "-M", str(path)], capture_output=True, text=True,
                         check=True).stdout
    return {k.strip(): v.strip() for k, _, v in (line.partition(":") for line in out.splitlines())}


def _tshark(path, *stats) -> str:
    args = ["tshark", "-n", "-r", str(path), "-q"]
    for s in stats:
        args += ["-z", s]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def test_summary_matches_capinfos(capture_file):
    report, infos = file_report(capture_file)
    cap = _capinfos(capture_file)
    s = report.summary()
    assert s["packets"] == int(cap["Number of packets"])
    assert s["data_size"] == int(cap["Data size"].split()[0])
    assert infos[0].file_size == int(cap["File size"].split()[0])
    assert s["duration"] == pytest.approx(float(cap["Capture duration"].split()[0]), abs=1e-9)
    assert s["data_byte_rate"] == pytest.approx(float(cap["Data byte rate"].split()[0]), rel=1e-3)
    assert s["data_bit_rate"] == pytest.approx(float(cap["Data bit rate"].split()[0]), rel=1e-3)
    assert s["average_packet_size"] == pytest.approx(
        float(cap["Average packet size"].split()[0]), abs=0.01)
    assert s["average_packet_rate"] == pytest.approx(
        float(cap["Average packet rate"].split()[0]), rel=1e-3)
    assert infos[0].format == "pcapng"


_UNITS = {"bytes": 1, "kB": 1000, "MB": 1000**2, "GB": 1000**3}


def _tshark_conversations(text: str) -> dict[tuple[str, str], tuple]:
    """(A, B) -> (frames A->B, bytes A->B as tshark rounds them, frames B->A, bytes B->A).

    tshark prints bytes with SI units ("28 kB"): kept as (number, unit)."""
    rows = {}
    for line in text.splitlines():
        m = re.match(r"(\S+)\s+<->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\w+)\s+(\d+)\s+(\d+)\s+(\w+)",
                     line)
        if m:
            a, b, f_ba, n_ba, u_ba, f_ab, n_ab, u_ab = m.groups()
            rows[(a, b)] = (int(f_ab), (int(n_ab), u_ab), int(f_ba), (int(n_ba), u_ba))
    return rows


def _as_tshark(nbytes: int, unit: str) -> tuple[int, str]:
    return (nbytes // _UNITS[unit], unit)


def test_conversations_and_endpoints_match_tshark(capture_file):
    report, _ = file_report(capture_file)
    expected = _tshark_conversations(_tshark(capture_file, "conv,ip", "conv,ipv6"))
    assert len(expected) > 20
    got = {(c["a"], c["b"]): c for c in report.conversations()}
    assert set(got) == set(expected)             # same pairs, same A/B orientation
    for key, (f_ab, b_ab, f_ba, b_ba) in expected.items():
        c = got[key]
        assert (c["packets_ab"], c["packets_ba"]) == (f_ab, f_ba), key
        assert _as_tshark(c["bytes_ab"], b_ab[1]) == b_ab, key
        assert _as_tshark(c["bytes_ba"], b_ba[1]) == b_ba, key
    # Exact bytes: aggregate tshark's own per-frame fields.
    fields = subprocess.run(
        ["tshark", "-n", "-r", str(capture_file), "-T", "fields", "-e", "ip.src", "-e", "ip.dst",
         "-e", "ipv6.src", "-e", "ipv6.dst", "-e", "frame.len"],
        capture_output=True, text=True, check=True).stdout
    exact: dict[tuple[str, str], int] = {}
    for line in fields.splitlines():
        src4, dst4, src6, dst6, length = line.split("\t")
        src, dst = (src4, dst4) if src4 else (src6, dst6)
        if src:
            exact[(src, dst)] = exact.get((src, dst), 0) + int(length)
    for (a, b), c in got.items():
        assert c["bytes_ab"] == exact.get((a, b), 0) and c["bytes_ba"] == exact.get((b, a), 0)
    endpoints = _tshark(capture_file, "endpoints,ip", "endpoints,ipv6")
    tshark_eps = {}
    for line in endpoints.splitlines():       # endpoints are printed as exact numbers
        m = re.match(r"([0-9a-f.:]+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s*$", line)
        if m and (":" in m.group(1) or m.group(1).count(".") == 3):
            tshark_eps[m.group(1)] = tuple(int(x) for x in m.groups()[1:])
    assert len(tshark_eps) == 10
    ours = {e["address"]: (e["packets"], e["bytes"], e["tx_packets"], e["tx_bytes"],
                           e["rx_packets"], e["rx_bytes"]) for e in report.endpoints()}
    assert ours == tshark_eps


def test_protocol_hierarchy_matches_tshark(capture_file):
    report, _ = file_report(capture_file)
    text = _tshark(capture_file, "io,phs")
    stack: list[str] = []
    tshark_phs = {}
    for line in text.splitlines():
        m = re.match(r"^(\s*)(\S+)\s+frames:(\d+)\s+bytes:(\d+)", line)
        if not m:
            continue
        depth = len(m.group(1)) // 2
        stack[depth:] = [m.group(2)]
        tshark_phs[":".join(stack)] = (int(m.group(3)), int(m.group(4)))
    ours = {p["path"]: (p["packets"], p["bytes"]) for p in report.protocols()}
    # tshark goes on into application protocols (data, dns, ...): compare the layers both show.
    for path, value in ours.items():
        assert tshark_phs.get(path) == value, path
    assert {"eth", "eth:ip", "eth:ip:tcp", "eth:ip:udp", "eth:ip:icmp", "eth:ipv6:tcp",
            "eth:ipv6:icmpv6", "eth:arp", "eth:vlan:ip:udp"} <= set(ours)


def _phs(path) -> dict[str, tuple[int, int]]:
    """tshark's protocol hierarchy of path: {"eth:ip:udp": (frames, bytes)}."""
    stack: list[str] = []
    rows = {}
    for line in _tshark(path, "io,phs").splitlines():
        m = re.match(r"^(\s*)(\S+)\s+frames:(\d+)\s+bytes:(\d+)", line)
        if m:
            depth = len(m.group(1)) // 2
            stack[depth:] = [m.group(2)]
            rows[":".join(stack)] = (int(m.group(3)), int(m.group(4)))
    return rows


def _pcap_of(path, linktype: int, frames: list[bytes]) -> str:
    records = b"".join(struct.pack("<IIII", 1000 + i, 0, len(f), len(f)) + f
                       for i, f in enumerate(frames))
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype) + records)
    return str(path)


_UDP4 = bytes.fromhex("4500001c000100004011f9cb0a0000010a000002") + struct.pack("!HHHH", 1000, 53, 8, 0)
_UDP6 = (bytes.fromhex("6000000000081140") + bytes(15) + b"\x01" + bytes(15) + b"\x02"
         + struct.pack("!HHHH", 1000, 53, 8, 0))


@pytest.mark.parametrize("linktype,frames,root", [
    (101, [_UDP4, _UDP6], "raw"),                        # tun and VPN devices
    (228, [_UDP4], None),                                # raw IPv4: no link layer
    (229, [_UDP6], None),
    (0, [struct.pack("<I", 2) + _UDP4], "null"),
    (108, [struct.pack(">I", 2) + _UDP4], "null"),
    (113, [struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, 0x0800) + _UDP4], "sll"),
    (276, [struct.pack("!HHIHBB8s", 0x86DD, 0, 2, 1, 0, 6, b"\x02" * 8) + _UDP6], "sll"),  # any
    (227, [struct.pack("!IBBBB8s", 0x300, 8, 0, 0, 0, b"\x01" * 8)] * 3, "can"),
])
def test_protocol_hierarchy_starts_at_each_link_layer_as_tshark_does(
        tmp_path, linktype, frames, root):
    """stats and top put every packet under `eth`, whatever its link type: a tun
    or `-i any` capture read as Ethernet, and CAN frames as eth."""
    path = _pcap_of(tmp_path / "f.pcap", linktype, frames)
    report, _ = file_report(path)
    ours = {p["path"]: (p["packets"], p["bytes"]) for p in report.protocols()}
    theirs = _phs(path)
    for name, value in ours.items():
        assert theirs.get(name) == value, (name, ours, theirs)
    top = [name for name in ours if ":" not in name]
    assert top == ([root] if root else sorted({"ip" if f[0] >> 4 == 4 else "ipv6"
                                               for f in frames}))
    assert sum(ours[name][0] for name in top) == len(frames)


def test_sizes_and_rates_count_every_packet(capture_file):
    batch = ringcap.read_pcap(capture_file)
    report = TrafficReport(interval=0.5)
    for start in range(0, len(batch), 700):          # streaming equals one pass
        report.update(batch[start:start + 700])
    sizes = report.packet_sizes()
    edges = [0, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120, 1 << 40]
    expected = np.histogram(batch.wirelen, bins=edges)[0]
    assert [s["packets"] for s in sizes] == expected.tolist()
    rates = report.rates()
    assert sum(rates["packets"]) == len(batch)
    assert sum(rates["bytes"]) == int(batch.wirelen.sum())
    bins = batch.ts // 500_000_000
    assert rates["packets"][0] == int(np.count_nonzero(bins == bins.min()))
    whole = TrafficReport(interval=0.5)
    whole.update(batch)
    assert whole.to_dict() == report.to_dict()


def test_report_is_json_ready(capture_file):
    report, _ = file_report(capture_file)
    again = json.loads(json.dumps(report.to_dict(top=5)))
    assert len(again["conversations"]) == 5
    assert again["summary"]["packets"] == 3000


def test_filter_expression_counts_only_matching_packets(capture_file):
    report, _ = file_report(capture_file, filter="udp and not vlan")
    batch = ringcap.read_pcap(capture_file)
    h = ringcap.decode(batch)
    expected = (h.ip_proto == 17) & ((h.flags & ringcap.headers.VLAN) == 0)
    assert report.packets == int(expected.sum())
    assert {p["path"] for p in report.protocols()} == {"eth", "eth:ip", "eth:ip:udp",
                                                        "eth:ipv6", "eth:ipv6:udp"}


def test_rate_bins_widen_instead_of_growing_and_streaming_equals_one_pass():
    from ringcap.report import MAX_RATE_INTERVALS
    rng = np.random.default_rng(3)
    # a busy minute, then single packets scattered over ten years
    ts = np.sort(np.concatenate([1_700_000_000 * 10**9 + rng.integers(0, 60 * 10**9, 5000),
                                 1_700_000_000 * 10**9 + rng.integers(0, 10 * 365 * 86400 * 10**9,
                                                                      200)]))
    batch = ringcap.Batch.from_packets([bytes(60 + i % 900) for i in range(len(ts))], ts=ts)
    report = TrafficReport(interval=0.01)
    for start in range(0, len(batch), 300):
        report.update(batch[start:start + 300])
        assert len(report._bins) <= MAX_RATE_INTERVALS          # bounded while folding
        assert len(report.rates()["packets"]) <= MAX_RATE_INTERVALS
    rates = report.rates()
    width = round(rates["interval"] / rates["requested_interval"])
    assert width > 1 and str(width).strip("0") == "1"           # a power of ten
    assert sum(rates["packets"]) == len(batch)
    assert sum(rates["bytes"]) == int(batch.wirelen.sum())
    bins = batch.ts // report.interval_ns
    assert rates["start_ts"] == int(bins.min()) * report.interval_ns
    assert rates["packets"] == np.bincount(bins - bins.min()).tolist()
    whole = TrafficReport(interval=0.01)
    whole.update(batch)
    assert whole.to_dict() == report.to_dict()


def test_drop_marks_stay_bounded_and_keep_every_drop():
    from ringcap.report import MAX_RATE_INTERVALS
    report = TrafficReport()
    for i in range(3 * MAX_RATE_INTERVALS):       # a drop every 10 ms for five minutes
        report.add_drop_mark(1_700_000_000 * 10**9 + i * 10**7, 2)
        assert len(report.drop_marks) <= MAX_RATE_INTERVALS
    assert sum(count for _, count in report.drop_marks) == 6 * MAX_RATE_INTERVALS
    assert report.drop_marks[0][0] == 1_700_000_000 * 10**9
    assert report.drop_marks == sorted(report.drop_marks)


def test_conversations_fold_in_small_batches_as_in_one_pass():
    """Conversations and endpoints streamed in small batches through the
    compiled table equal an independent per-packet count: A is the first
    packet's source, times are the first and last packets', most bytes first;
    the table holds one entry per conversation seen so far, nothing per packet."""
    from ringcap.testing import synthetic_traffic
    batch = synthetic_traffic(20_000, conversations=300, seed=5, ipv6_share=0.3)
    report = TrafficReport()
    for start in range(0, len(batch), 700):
        part = batch[start:start + 700]
        report.update(part)
        seen = ringcap.decode(batch[:start + len(part)])
        pairs = {tuple(sorted((bytes(seen.ip_src[i]), bytes(seen.ip_dst[i]))))
                 for i in np.flatnonzero(seen.ip_version).tolist()}
        assert len(report._conversations) == len(pairs)
    h = ringcap.decode(batch)
    expected: dict = {}
    for i in np.flatnonzero(h.ip_version).tolist():
        src, dst = bytes(h.ip_src[i]), bytes(h.ip_dst[i])
        key = tuple(sorted((src, dst)))
        entry = expected.setdefault(key, {"a": src, "ab": [0, 0], "ba": [0, 0], "ts": []})
        side = "ab" if src == entry["a"] else "ba"
        entry[side][0] += 1
        entry[side][1] += int(batch.wirelen[i])
        entry["ts"].append(int(batch.ts[i]))
    text = {}
    for key in expected:
        for address in key:
            text[address] = str(ringcap.headers.ip_strings(
                np.frombuffer(address, np.uint8).reshape(1, 16))[0])
    got = report.conversations()
    assert len(got) == len(expected)
    by_pair = {(c["a"], c["b"]): c for c in got}
    for key, e in expected.items():
        a = e["a"]
        b = key[1] if key[0] == a else key[0]
        c = by_pair[(text[a], text[b])]
        assert (c["packets_ab"], c["bytes_ab"]) == tuple(e["ab"])
        assert (c["packets_ba"], c["bytes_ba"]) == tuple(e["ba"])
        assert c["rel_start"] == (min(e["ts"]) - report.first_ts) / 1e9
        assert c["duration"] == (max(e["ts"]) - min(e["ts"])) / 1e9
    assert [c["bytes"] for c in got] == sorted((c["bytes"] for c in got), reverse=True)
    assert report.conversations(top=7) == got[:7]
    endpoints: dict = {}
    for c in got:
        for me, tx, rx in ((c["a"], "ab", "ba"), (c["b"], "ba", "ab")):
            e = endpoints.setdefault(me, [0, 0, 0, 0])
            e[0] += c[f"packets_{tx}"]
            e[1] += c[f"bytes_{tx}"]
            e[2] += c[f"packets_{rx}"]
            e[3] += c[f"bytes_{rx}"]
    want = sorted(({"address": k, "packets": v[0] + v[2], "bytes": v[1] + v[3],
                    "tx_packets": v[0], "tx_bytes": v[1], "rx_packets": v[2], "rx_bytes": v[3]}
                   for k, v in endpoints.items()), key=lambda r: (-r["bytes"], r["address"]))
    assert report.endpoints() == want
    assert report.endpoints(top=5) == want[:5]
    whole = TrafficReport()
    whole.update(batch)
    assert whole.to_dict() == report.to_dict()


def test_compiled_endpoints_sum_each_address_exactly_once():
    """ConversationTable.endpoints() sums every conversation into both of its
    addresses through a hash table over the 16 address bytes: every address
    once (IPv4-mapped and IPv6 mixed, addresses equal in one 8-byte half,
    more addresses than the table's first slots), in the order first met
    (lows, then highs), with the version of the first conversation met."""
    from ringcap._conversations import ConversationTable
    rng = np.random.default_rng(7)
    pool = np.zeros((300, 16), np.uint8)
    pool[:200, 10:12] = 0xFF                                  # ::ffff:a.b.c.d
    pool[:200, 12:] = rng.integers(0, 256, (200, 4), dtype=np.uint8)
    pool[200:] = rng.integers(0, 256, (100, 16), dtype=np.uint8)
    pool[250:, :8] = pool[200, :8]                            # one first half, many second
    pool[280:, 8:] = pool[201, 8:]                            # one second half, many first
    n = 20000
    src, dst = pool[rng.integers(0, 300, n)], pool[rng.integers(0, 300, n)]
    version = np.where((src[:, 10] == 0xFF) & (dst[:, 10] == 0xFF), 4, 6).astype(np.uint8)
    wirelen = rng.integers(60, 1500, n).astype(np.uint32)
    table = ConversationTable()
    for lo in range(0, n, 3001):             # several batches
        hi = min(n, lo + 3001)
        table.add(src[lo:hi], dst[lo:hi], version[lo:hi], np.arange(lo, hi, dtype=np.int64),
                  wirelen[lo:hi])
    want: dict[bytes, list[int]] = {}
    for s, d, w in zip(src, dst, wirelen.tolist()):
        tx, rx = want.setdefault(bytes(s), [0, 0, 0, 0]), want.setdefault(bytes(d), [0, 0, 0, 0])
        tx[0] += 1
        tx[1] += w
        rx[2] += 1
        rx[3] += w
    c = table.columns(np.arange(len(table)))
    met = [bytes(a) for a in c["low"]] + [bytes(a) for a in c["high"]]
    order = list(dict.fromkeys(met))
    e = table.endpoints()
    assert [bytes(a) for a in e["address"]] == order
    assert len(order) == len(want)
    for k, name in enumerate(("tx_packets", "tx_bytes", "rx_packets", "rx_bytes")):
        assert e[name].tolist() == [want[a][k] for a in order], name
    first_version = {}
    for a, v in zip(met, np.concatenate([c["version"], c["version"]]).tolist()):
        first_version.setdefault(a, v)
    assert e["version"].tolist() == [first_version[a] for a in order]
    assert table.totals().tolist() == c["bytes"].sum(axis=1).tolist()
    some = np.array([5, 0, len(table) - 1, 5])
    assert table.columns(some)["first_ts"].tolist() == c["first_ts"][some].tolist()
    with pytest.raises(IndexError, match="no conversation"):
        table.columns(np.array([len(table)]))


def test_compiled_counters_match_numpy_on_many_protocols_and_times_before_1970():
    """The one compiled pass of TrafficReport.update (protocol keys in a table
    that grows, length buckets, times, wire bytes) and its rate bins give what
    numpy gives for the same packets, streamed in batches of 37: 150
    ethertypes (past the table's first 64 slots), timestamps before 1970
    (bins round down, as ``//`` does) and one that goes back across batches."""
    from ringcap.names import ethertype_names
    rng = np.random.default_rng(11)
    n = 3000
    ethertypes = (0x0900 + rng.integers(0, 150, n)).astype(np.uint16)
    sizes = rng.choice([14, 19, 20, 64, 100, 700, 1500, 5119, 5120, 9000], n)
    frames = [bytes(12) + int(e).to_bytes(2, "big") + bytes(int(s) - 14)
              for e, s in zip(ethertypes, sizes)]
    ts = np.sort(rng.integers(-30 * 10**9, 30 * 10**9, n))
    ts[2000] = ts[1000]                        # earlier than the packets before it
    batch = ringcap.Batch.from_packets(frames, ts=ts)
    report = TrafficReport(interval=0.25)
    for start in range(0, n, 37):
        report.update(batch[start:start + 37])
    wirelen = batch.wirelen.astype(np.int64)
    names = ethertype_names(ethertypes)
    expected = {"eth": [n, int(wirelen.sum())]}
    for name, length in zip(names.tolist(), wirelen.tolist()):
        entry = expected.setdefault(f"eth:{name}", [0, 0])
        entry[0] += 1
        entry[1] += length
    assert len(expected) == 151
    assert {p["path"]: [p["packets"], p["bytes"]] for p in report.protocols()} == expected
    buckets = np.searchsorted([20, 40, 80, 160, 320, 640, 1280, 2560, 5120], wirelen, side="right")
    assert [s["packets"] for s in report.packet_sizes()] == np.bincount(buckets, minlength=10).tolist()
    assert [s["bytes"] for s in report.packet_sizes()] == np.bincount(
        buckets, weights=wirelen, minlength=10).astype(np.int64).tolist()
    summary = report.summary()
    assert (summary["first_ts"], summary["last_ts"]) == (int(ts.min()), int(ts.max()))
    assert summary["data_size"] == int(wirelen.sum()) and summary["time_ordered"] is False
    bins = ts // 250_000_000
    rates = report.rates()
    assert rates["start_ts"] == int(bins.min()) * 250_000_000 and rates["start_ts"] < 0
    assert rates["packets"] == np.bincount(bins - bins.min()).tolist()
    assert rates["bytes"] == np.bincount(bins - bins.min(), weights=wirelen).astype(np.int64).tolist()
    ordered = TrafficReport()
    ordered.update(batch[:1000])
    ordered.update(batch[1000:2000])
    assert ordered.time_ordered is True
    ordered.update(batch[1999:2000])          # the same time again is still in order
    assert ordered.time_ordered is True
    ordered.update(batch[2000:2001])          # back to ts[1000]: across batches
    assert ordered.time_ordered is False


def test_top_conversations_keep_the_full_order_through_ties_at_the_cut():
    """conversations(top=k) sorts only the rows that can make the top k, yet
    gives the first k rows of the full order: most bytes, then the earlier
    first packet, then the conversation seen first, also among equal totals."""
    from scapy.all import IP, UDP, Ether
    frames, ts = [], []
    for i, (size, when) in enumerate([(100, 5), (100, 3), (300, 9), (100, 3), (100, 3), (50, 1),
                                      (300, 9), (100, 4)]):
        frames.append(bytes(Ether() / IP(src=f"10.0.0.{i + 1}", dst="10.9.9.9") / UDP()
                            / bytes(size)))
        ts.append(10**9 * when)
    report = TrafficReport()
    report.update(ringcap.Batch.from_packets(frames, ts=ts))
    everything = report.conversations()
    assert [c["a"] for c in everything] == [f"10.0.0.{i}" for i in (3, 7, 2, 4, 5, 8, 1, 6)]
    for k in range(0, 10):
        assert report.conversations(top=k) == everything[:k], k
    assert report.endpoints(top=1)[0]["address"] == "10.9.9.9"


def test_conversation_table_orders_addresses_as_their_bytes():
    """The compiled table compares addresses in 8-byte words: the low address
    of each pair is the smaller as bytes (first halves equal or not, equal
    addresses too), and a pair seen both ways is one conversation."""
    from ringcap._conversations import ConversationTable
    rng = np.random.default_rng(1)
    n = 5000
    src = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    dst = rng.integers(0, 256, (n, 16), dtype=np.uint8)
    dst[::7, :8] = src[::7, :8]
    dst[::11] = src[::11]
    table = ConversationTable()
    table.add(np.concatenate([src, dst]), np.concatenate([dst, src]),
              np.full(2 * n, 6, np.uint8), np.arange(2 * n, dtype=np.int64),
              np.full(2 * n, 60, np.uint32))
    pairs = {tuple(sorted((bytes(a), bytes(b)))) for a, b in zip(src, dst)}
    columns = table.columns()
    assert len(table) == len(pairs) == n
    assert {(bytes(lo), bytes(hi)) for lo, hi in zip(columns["low"], columns["high"])} == pairs
    assert (columns["packets"].sum(axis=1) == 2).all()


def test_batches_of_one_link_type_and_of_several_give_the_same_report():
    """update() takes a batch of one decoded link type without a per-packet
    check; batches mixing in link types it does not decode (CAN) still count
    those by size and time only, in their order.  Whatever the batching, the
    report is the same as packet by packet."""
    frames = corpus(300)
    can = bytes.fromhex("0000012304000000") + bytes(8)          # SocketCAN, 16 bytes
    packets = [frames[i] if i % 5 else can for i in range(len(frames))]
    linktype = np.array([1 if i % 5 else 227 for i in range(len(frames))], dtype=np.uint16)
    batch = ringcap.Batch.from_packets(packets, ts=frames.ts, linktype=linktype)
    mixed, ethernet, only_can = TrafficReport(), TrafficReport(), TrafficReport()
    mixed.update(batch)
    one_by_one = TrafficReport()
    for i in range(len(batch)):
        one_by_one.update(batch[i:i + 1])
    ethernet.update(batch[linktype == 1])
    only_can.update(batch[linktype == 227])
    assert mixed.to_dict() == one_by_one.to_dict()
    assert mixed.time_ordered          # (a mixed batch once read as out of order)
    assert mixed.packets == len(batch) == ethernet.packets + only_can.packets
    assert only_can.packets == len(batch) // 5 and only_can.protocols()[0]["packets"] \
        == only_can.packets
    assert {p["path"] for p in ethernet.protocols()} >= {"eth", "eth:ip", "eth:ip:tcp"}


def _reference_tables(paths) -> tuple[list[dict], list[dict]]:
    """Conversations and endpoints of capture files counted packet by packet in
    Python from decode()'s columns, in the report's order: conversations by
    most bytes, the earlier first packet, the one seen first; endpoints by
    most bytes, then address text (an address's text is that of the first
    conversation it was met in: low addresses first, then high ones)."""
    convs: dict = {}
    first_ts = None
    for path in paths:
        with ringcap.open_pcap(path, batch_packets=999) as reader:
            for batch in reader:
                h = ringcap.decode(batch, columns=("ip_version", "ip_src", "ip_dst"))
                for i in range(len(batch)):
                    ts, wire = int(batch.ts[i]), int(batch.wirelen[i])
                    first_ts = ts if first_ts is None else min(first_ts, ts)
                    if not h.ip_version[i]:
                        continue
                    src, dst = bytes(h.ip_src[i]), bytes(h.ip_dst[i])
                    c = convs.setdefault(tuple(sorted((src, dst))), {
                        "seen": len(convs), "a": src, "b": dst, "v": int(h.ip_version[i]),
                        "ab": [0, 0], "ba": [0, 0], "first": ts, "last": ts})
                    side = c["ab"] if src == c["a"] else c["ba"]
                    side[0] += 1
                    side[1] += wire
                    c["first"], c["last"] = min(c["first"], ts), max(c["last"], ts)

    def text(address: bytes, version: int) -> str:
        return str(ringcap.headers.ip_strings(np.frombuffer(address, np.uint8).reshape(1, 16),
                                              np.array([version], np.uint8))[0])
    conversations = [{
        "a": text(c["a"], c["v"]), "b": text(c["b"], c["v"]),
        "packets_ab": c["ab"][0], "bytes_ab": c["ab"][1], "packets_ba": c["ba"][0],
        "bytes_ba": c["ba"][1], "packets": c["ab"][0] + c["ba"][0],
        "bytes": c["ab"][1] + c["ba"][1], "rel_start": (c["first"] - first_ts) / 1e9,
        "duration": (c["last"] - c["first"]) / 1e9}
        for c in sorted(convs.values(), key=lambda c: (-(c["ab"][1] + c["ba"][1]), c["first"],
                                                       c["seen"]))]
    ends: dict = {}
    for side in (0, 1):
        for (low, high), c in sorted(convs.items(), key=lambda kv: kv[1]["seen"]):
            address = (low, high)[side]
            e = ends.setdefault(address, {"v": c["v"], "tx": [0, 0], "rx": [0, 0]})
            sends_ab = (address == c["a"]) != (low == high and side == 1)
            for mine, theirs in (("tx", "ab"), ("rx", "ba")) if sends_ab else (("tx", "ba"), ("rx", "ab")):
                e[mine][0] += c[theirs][0]
                e[mine][1] += c[theirs][1]
    endpoints = sorted(({"address": text(a, e["v"]), "packets": e["tx"][0] + e["rx"][0],
                         "bytes": e["tx"][1] + e["rx"][1], "tx_packets": e["tx"][0],
                         "tx_bytes": e["tx"][1], "rx_packets": e["rx"][0], "rx_bytes": e["rx"][1]}
                        for a, e in ends.items()), key=lambda r: (-r["bytes"], r["address"]))
    return conversations, endpoints


def test_stats_tables_equal_a_packet_by_packet_count_on_files_of_every_shape(tmp_path):
    """The conversations and endpoints `ringcap stats` prints (summed in compiled
    code, only the top rows copied out and sorted) equal a packet-by-packet
    count in Python, top or not, on files of every shape it reads: IPv4/IPv6,
    VLAN and QinQ, ARP and LLDP, fragments, an IPv4 address also met as an
    IPv4-mapped IPv6 one, more conversations than the table's first size,
    cooked and raw link types, several files at once, an empty file and one
    that ends inside a record."""
    import warnings
    from scapy.all import IP, UDP, Dot1AD, Dot1Q, Ether, IPv6, Raw, fragment
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    frames = [bytes(f) for f in corpus(1500, seed=3)]
    extra = [eth / Dot1AD(vlan=7) / Dot1Q(vlan=8) / IP(src="10.1.0.1", dst="10.1.0.9") / UDP(),
             eth / IPv6(src="::ffff:10.1.0.1", dst="::ffff:10.1.0.2") / UDP() / Raw(bytes(30)),
             eth / IPv6(src="::ffff:10.7.0.1", dst="::ffff:10.7.0.2") / UDP(),
             eth / IP(src="10.7.0.1", dst="10.7.0.3") / UDP(),
             eth / IP(src="10.1.0.5", dst="10.1.0.5") / UDP(),             # to itself
             Ether(src="02:00:00:00:00:01", dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(bytes(40))]
    extra += fragment(eth / IP(src="10.2.0.1", dst="10.2.0.2") / UDP() / Raw(bytes(3000)), 1000)
    extra += [eth / IP(src=f"10.{i >> 8}.{i & 255}.1", dst="10.255.0.1") / UDP() / Raw(bytes(i % 200))
              for i in range(1500)]                                   # past 1024 conversations
    frames += [bytes(p) for p in extra]
    ts = 1_700_000_000 * 10**9 + np.arange(len(frames)) * 997_000 - (np.arange(len(frames)) % 41 == 0) * 10**9
    ethernet = tmp_path / "eth.pcap"
    ringcap.write_pcap(ethernet, ringcap.Batch.from_packets(frames, ts=ts))
    ip_only = [f[14:] for f in frames if f[12:14] in (b"\x08\x00", b"\x86\xdd")]
    raw = _pcap_of(tmp_path / "raw.pcap", 101, ip_only[:700])
    cooked = _pcap_of(tmp_path / "sll.pcap", 113, [
        struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 8, int.from_bytes(f[12:14], "big")) + f[14:]
        for f in frames[:900]])
    empty = _pcap_of(tmp_path / "empty.pcap", 1, [])
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(ethernet.read_bytes()[:-25])
    for paths in ([str(ethernet)], [raw], [cooked], [empty], [str(cut)],
                  [str(ethernet), raw, cooked]):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ringcap.PcapTruncatedWarning)
            conversations, endpoints = _reference_tables(paths)
            report, _ = file_report(paths)
        assert report.conversations() == conversations, paths
        assert report.endpoints() == endpoints, paths
        for top in (1, 2, 5, 100):
            assert report.to_dict(top=top)["conversations"] == conversations[:top], (paths, top)
            assert report.endpoints(top) == endpoints[:top], (paths, top)
    assert len(conversations) > 1024 and any(e["address"] == "10.7.0.1" for e in endpoints)


def test_top_conversations_and_endpoints_are_the_full_orders_first_rows_among_many_ties():
    """The compiled table picks the rows that can make a top k by quickselect
    (the k-th largest total; ties at the cut kept) before it sorts and names
    them: for every k, conversations(top=k) and endpoints(top=k) are the
    first k rows of the full order, on thousands of conversations with few
    distinct totals (many ties, also at every cut)."""
    from ringcap._conversations import ConversationTable
    rng = np.random.default_rng(3)
    n = 6000
    src = np.zeros((n, 16), np.uint8)
    dst = np.zeros((n, 16), np.uint8)
    src[:, 10:12] = dst[:, 10:12] = 0xFF
    src[:, 12:] = rng.integers(0, 40, (n, 4), dtype=np.uint8)
    dst[:, 12:] = rng.integers(0, 50, (n, 4), dtype=np.uint8)
    wirelen = rng.choice([60, 120], n).astype(np.uint32)
    report = TrafficReport()
    report.first_ts = 0
    report._add_conversations(src, dst, np.full(n, 4, np.uint8),
                              rng.integers(0, 5, n).astype(np.int64), wirelen)
    table: ConversationTable = report._conversations
    everything, ends = report.conversations(), report.endpoints()
    assert len(everything) == len(table) > 1000 and len(ends) > 1000
    totals = [c["bytes"] for c in everything]
    assert totals == sorted(totals, reverse=True) and len(set(totals)) < len(totals) // 10
    for k in (0, 1, 2, 3, 5, 17, 100, 999, len(everything) - 1, len(everything),
              len(everything) + 5):
        assert report.conversations(top=k) == everything[:k], k
        assert report.endpoints(top=k) == ends[:k], k
    assert report.conversations(top=-3) == everything[:-3]
    assert report.endpoints(top=-1) == []


@pytest.mark.parametrize("mask", [2**64 - 1, 0], ids=["hashed", "every-hash-equal"])
def test_conversation_table_last_pair_shortcut_and_equal_hashes(mask):
    """The compiled table keeps the entry of the packet before when the next
    one has the same source and destination: runs of one pair, the pair
    turning round (B -> A after A -> B, then back), pairs that differ from the
    one before in one 8-byte word only, packets without IP inside a run, and
    runs that go on across add() calls (the batches' edges, empty batches
    too) count as a per-packet count does; so do they when every pair's hash
    is equal and only the addresses tell conversations apart."""
    from ringcap import _conversations
    from ringcap._conversations import ConversationTable
    rng = np.random.default_rng(19)
    pool = rng.integers(0, 256, (24, 16), dtype=np.uint8)
    pool[:12, :10], pool[:12, 10:12] = 0, 0xFF               # ::ffff:a.b.c.d
    for k in range(1, 24, 2):                                # neighbours differ in one word
        pool[k, :8] = pool[k - 1, :8]
    for k in range(2, 24, 4):
        pool[k, 8:] = pool[k - 1, 8:]
    rows = []                                                # (src, dst, version)
    while len(rows) < 6000:
        a, b = rng.integers(0, 24, 2)
        version = 4 if a < 12 and b < 12 else 6
        for turn in range(int(rng.integers(1, 4))):
            src, dst = (a, b) if turn % 2 == 0 else (b, a)
            for _ in range(int(rng.integers(1, 9))):
                rows.append((src, dst, version))
                if rng.random() < 0.05:
                    rows.append((int(rng.integers(0, 24)), int(rng.integers(0, 24)), 0))
    n = len(rows)
    src = pool[[r[0] for r in rows]]
    dst = pool[[r[1] for r in rows]]
    version = np.array([r[2] for r in rows], np.uint8)
    ts = rng.integers(0, 10**6, n).astype(np.int64)          # not in order: first/last
    wirelen = rng.integers(60, 1500, n).astype(np.uint32)
    want: dict = {}
    for i in np.flatnonzero(version).tolist():
        s, d = bytes(src[i]), bytes(dst[i])
        low, high = min(s, d), max(s, d)
        entry = want.setdefault((low, high), [int(version[i]), s > d, [0, 0], [0, 0], [], 0])
        side = int(s > d)
        entry[2][side] += 1
        entry[3][side] += int(wirelen[i])
        entry[4].append(int(ts[i]))
    cuts = sorted({0, n, *rng.integers(0, n, 60).tolist(), 1, 2, 2})
    _conversations._test_set_hash_mask(mask)
    try:
        table = ConversationTable()
        for lo, hi in zip(cuts, cuts[1:] + [n]):
            table.add(src[lo:hi], dst[lo:hi], version[lo:hi], ts[lo:hi], wirelen[lo:hi])
    finally:
        _conversations._test_set_hash_mask(2**64 - 1)
    c = table.columns()
    got = {(bytes(c["low"][k]), bytes(c["high"][k])):
           [int(c["version"][k]), bool(c["a_high"][k]), c["packets"][k].tolist(),
            c["bytes"][k].tolist(), [int(c["first_ts"][k]), int(c["last_ts"][k])]]
           for k in range(len(table))}
    assert len(table) == len(want) > 100
    assert list(got) == list(want)                            # the order first seen
    for key, (v, a_high, packets, nbytes, times, _) in want.items():
        assert got[key] == [v, a_high, packets, nbytes, [min(times), max(times)]], key


def test_compiled_counters_and_rate_bins_count_runs_of_one_size_key_and_bin():
    """The counters keep a run of one length bucket, one protocol key and one
    rate bin in registers until it changes (and across batches): runs of every
    length, cut anywhere by the batches, count what numpy counts; a timestamp
    outside count_bins's bins raises and leaves the bins as they were."""
    from array import array

    from ringcap._conversations import count_bins
    rng = np.random.default_rng(5)
    runs = rng.integers(1, 60, 200)
    sizes = np.repeat(rng.choice([60, 64, 100, 1500], len(runs)), runs)
    ethertypes = np.repeat(rng.choice([0x0800, 0x86DD, 0x0806, 0x88CC], len(runs)),
                           rng.permutation(runs)).astype(np.uint16)
    n = len(sizes)
    frames = [bytes(12) + int(e).to_bytes(2, "big") + bytes(int(s) - 14)
              for e, s in zip(ethertypes, sizes)]
    ts = np.cumsum(rng.integers(0, 40_000_000, n)) + 10**18
    batch = ringcap.Batch.from_packets(frames, ts=ts)
    report = TrafficReport(interval=0.1)
    start = 0
    for size in rng.integers(1, 300, n):
        report.update(batch[start:start + size])
        start += size
    wirelen = batch.wirelen.astype(np.int64)
    buckets = np.searchsorted([20, 40, 80, 160, 320, 640, 1280, 2560, 5120], wirelen, side="right")
    assert [s["packets"] for s in report.packet_sizes()] == np.bincount(buckets, minlength=10).tolist()
    assert [s["bytes"] for s in report.packet_sizes()] == np.bincount(
        buckets, weights=wirelen, minlength=10).astype(np.int64).tolist()
    protocols = {p["path"]: [p["packets"], p["bytes"]] for p in report.protocols()}
    for ethertype, name in ((0x0800, "eth:ip"), (0x86DD, "eth:ipv6"), (0x0806, "eth:arp")):
        mine = ethertypes == ethertype
        assert protocols[name] == [int(mine.sum()), int(wirelen[mine].sum())]
    bins = ts // 100_000_000 - ts.min() // 100_000_000
    rates = report.rates()
    assert rates["packets"] == np.bincount(bins).tolist()
    assert rates["bytes"] == np.bincount(bins, weights=wirelen).astype(np.int64).tolist()
    packets, nbytes = array("q", [5, 0, 7]), array("q", [50, 0, 70])
    times = np.array([0, 5, 10, 25, 31, 12], np.int64)
    with pytest.raises(ValueError, match="outside the bins"):
        count_bins(times, np.full(6, 3, np.uint32), 10, 0, memoryview(packets), memoryview(nbytes))
    assert (packets.tolist(), nbytes.tolist()) == ([5, 0, 7], [50, 0, 70])
    count_bins(times[:3], np.full(3, 3, np.uint32), 10, 0, memoryview(packets), memoryview(nbytes))
    assert (packets.tolist(), nbytes.tolist()) == ([7, 1, 7], [56, 3, 70])
