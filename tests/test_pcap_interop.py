"""Capture files against the tools people use: tcpdump, tshark, capinfos, editcap, dpkt.

ringcap writes, the tools read (same count, bytes, ns timestamps, interface
names, drop statistics); the tools write, ringcap and dpkt read and agree.
No network: traffic is synthesised, tools only rewrite files.  The tools come
from .ci/apt-packages (tcpdump, tshark) and the ``test`` extra (dpkt).
"""
import json
import shutil
import struct
import subprocess
from decimal import Decimal

import dpkt
import numpy as np
import pytest

from ringcap import Batch
from ringcap.pcap import PcapWriter, open_pcap, read_pcap, write_pcap

T0 = 1_700_000_000_123_456_789
TOOLS = ("tcpdump", "tshark", "capinfos", "editcap", "mergecap")
missing = [t for t in TOOLS if shutil.which(t) is None]
pytestmark = pytest.mark.skipif(
    bool(missing), reason=f"{', '.join(missing)} not installed (apt-get install tcpdump tshark)")


def run(*args) -> str:
    done = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"{args} failed: {done.stderr}"
    return done.stdout


def frames(n, seed=0, ifindex=None):
    """Ethernet frames with a local experimental ethertype: every tool prints one line each."""
    rng = np.random.default_rng(seed)
    packets = []
    for i in range(n):
        payload = rng.integers(0, 256, int(rng.integers(46, 600)), dtype=np.uint8).tobytes()
        packets.append(bytes.fromhex("020000000001") + bytes.fromhex("020000000002")
                       + struct.pack("!H", 0x88B5) + payload)
    ts = T0 + np.cumsum(rng.integers(1, 5 * 10**8, n))
    extra = {} if ifindex is None else {"ifindex": ifindex}
    batch = Batch.from_packets(packets, ts=ts, **extra)
    batch.wirelen = batch.caplen + np.arange(n, dtype=np.uint32) % 3
    return batch


def decimal_to_ns(text) -> int:
    return int(Decimal(text) * 10**9)


def tcpdump_view(path):
    """(ts_ns, bytes) per packet as tcpdump prints them."""
    out = run("tcpdump", "-r", str(path), "-nn", "-tt", "--nano", "-xx")
    packets = []
    for line in out.splitlines():
        if line.startswith("\t0x"):
            packets[-1][1].extend(bytes.fromhex("".join(line.split(":", 1)[1].split()[:8])))
        elif line and not line[0].isspace():
            packets.append((decimal_to_ns(line.split()[0]), bytearray()))
    return [(ts, bytes(data)) for ts, data in packets]


def tshark_view(path):
    """Per packet: ts_ns, wire length, captured bytes and interface name, from tshark's JSON."""
    doc = json.loads(run("tshark", "-r", str(path), "-T", "json", "-x"))
    rows = []
    for packet in doc:
        layers = packet["_source"]["layers"]
        frame = layers["frame"]
        raw = layers["frame_raw"]
        name = frame.get("frame.interface_id_tree", {}).get("frame.interface_name")
        rows.append((decimal_to_ns(frame["frame.time_epoch"]), int(frame["frame.len"]),
                     bytes.fromhex(raw[0] if isinstance(raw, list) else raw), name))
    return rows


def dpkt_view(path):
    """(ts_ns, bytes) per packet from dpkt, with exact decimal timestamps."""
    with open(path, "rb") as f:
        head = f.read(4)
        f.seek(0)
        reader = (dpkt.pcapng.Reader(f) if head == b"\n\r\r\n" else dpkt.pcap.Reader(f))
        reader._divisor = Decimal(int(reader._divisor))      # dpkt uses floats by default
        return [(decimal_to_ns(ts), bytes(buf)) for ts, buf in reader]


def ours(batch):
    return list(zip(batch.ts.tolist(), batch.packets()))


# ---------------------------------------------------------------- ringcap writes, tools read

@pytest.mark.parametrize("nano", [True, False])
def test_tcpdump_and_tshark_read_our_pcap(tmp_path, nano):
    batch = frames(60)
    path = tmp_path / "ours.pcap"
    write_pcap(path, batch, nanosecond=nano)
    expect_ts = batch.ts if nano else batch.ts // 1000 * 1000
    expected = list(zip(expect_ts.tolist(), batch.packets()))
    assert tcpdump_view(path) == expected
    shark = tshark_view(path)
    assert [(ts, data) for ts, _, data, _ in shark] == expected
    assert [wl for _, wl, _, _ in shark] == batch.wirelen.tolist()
    info = run("capinfos", "-c", "-M", str(path))
    assert "Number of packets:   60" in info


def test_tshark_and_capinfos_read_our_pcapng_interfaces_and_drops(tmp_path):
    batch = frames(40, ifindex=[11, 12, 11, 13] * 10)
    batch.interfaces = {11: "veth-in", 12: "veth-out", 13: "br0"}
    path = tmp_path / "ours.pcapng"
    with PcapWriter(path, format="pcapng") as writer:
        writer.write(batch)
        stats = type("Stats", (), {"packets": 52, "drops": 12})()
        writer.write_stats(stats, ifindex=11)
    assert tcpdump_view(path) == ours(batch)
    names = {11: "veth-in", 12: "veth-out", 13: "br0"}
    assert tshark_view(path) == [
        (ts, wl, data, names[i]) for ts, wl, data, i in
        zip(batch.ts.tolist(), batch.wirelen.tolist(), batch.packets(), batch.ifindex.tolist())]
    info = run("capinfos", "-M", str(path))
    assert "Number of packets:   40" in info
    assert "Number of interfaces in file: 3" in info
    for name in ("veth-in", "veth-out", "br0"):
        assert f"Name = {name}" in info
    assert "Time precision = nanoseconds (9)" in info
    assert "Number of stat entries = 1" in info
    # the Interface Statistics Block, as Wireshark's pcapng file dissector sees it
    blocks = run("tshark", "-r", str(path), "-X", "read_format:MIME Files Format", "-V")
    assert "Number of Received Packets: 52" in blocks
    assert "Number of Dropped Packets: 12" in blocks


def test_tcpdump_rewrite_of_our_pcapng_is_byte_identical_in_packets(tmp_path):
    batch = frames(30)
    ours_path = tmp_path / "ours.pcapng"
    write_pcap(ours_path, batch, format="pcapng")
    theirs = tmp_path / "theirs.pcap"
    run("tcpdump", "-r", str(ours_path), "--time-stamp-precision=nano", "-w", str(theirs))
    assert dpkt_view(theirs) == ours(batch)


def test_streaming_into_tcpdump_through_a_pipe(tmp_path):
    batch = frames(40, seed=7)
    out = tmp_path / "piped.pcap"
    proc = subprocess.Popen(["tcpdump", "-r", "-", "--time-stamp-precision=nano", "-w", str(out)],
                            stdin=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        with PcapWriter(proc.stdin) as writer:
            writer.write(batch[:20])
            writer.flush()
            writer.write(batch[20:])
    finally:
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0
    assert dpkt_view(out) == ours(batch)


# ---------------------------------------------------------------- tools write, ringcap reads

def assert_same_as_dpkt(path, expected=None):
    ringcap_batch = read_pcap(path)
    reference = dpkt_view(path)
    assert ours(ringcap_batch) == reference
    if expected is not None:
        assert reference == expected
    return ringcap_batch


@pytest.mark.parametrize("precision", ["nano", "micro"])
def test_read_tcpdump_written_pcap(tmp_path, precision):
    batch = frames(80, seed=1)
    src = tmp_path / "src.pcap"
    write_pcap(src, batch)
    theirs = tmp_path / "tcpdump.pcap"
    run("tcpdump", "-r", str(src), f"--time-stamp-precision={precision}", "-w", str(theirs))
    magic = struct.unpack("<I", theirs.read_bytes()[:4])[0]
    assert magic == (0xA1B23C4D if precision == "nano" else 0xA1B2C3D4)
    scale = 1 if precision == "nano" else 1000
    got = assert_same_as_dpkt(
        theirs, list(zip((batch.ts // scale * scale).tolist(), batch.packets())))
    assert got.wirelen.tolist() == batch.wirelen.tolist()


def test_read_editcap_snapped_pcap(tmp_path):
    batch = frames(20, seed=2)
    src = tmp_path / "src.pcap"
    write_pcap(src, batch)
    theirs = tmp_path / "cut.pcap"
    run("editcap", "-s", "64", "-F", "nsecpcap", str(src), str(theirs))
    got = assert_same_as_dpkt(theirs)
    assert got.packets() == [p[:64] for p in batch.packets()]
    assert got.wirelen.tolist() == batch.wirelen.tolist()


def test_read_tshark_and_editcap_pcapng(tmp_path):
    batch = frames(50, seed=3)
    src = tmp_path / "src.pcap"
    write_pcap(src, batch)
    by_tshark = tmp_path / "tshark.pcapng"
    run("tshark", "-r", str(src), "-F", "pcapng", "-w", str(by_tshark))
    assert_same_as_dpkt(by_tshark, ours(batch))
    by_editcap = tmp_path / "editcap.pcapng"
    run("editcap", "-F", "pcapng", str(src), str(by_editcap))
    assert_same_as_dpkt(by_editcap, ours(batch))
    # and back to microsecond pcap, nanosecond pcap
    for fmt, scale in (("pcap", 1000), ("nsecpcap", 1)):
        back = tmp_path / f"back.{fmt}"
        run("editcap", "-F", fmt, str(by_editcap), str(back))
        assert_same_as_dpkt(back, list(zip((batch.ts // scale * scale).tolist(), batch.packets())))


def test_read_mergecap_multi_interface_pcapng_with_mixed_resolutions(tmp_path):
    a, b = frames(25, seed=4), frames(25, seed=5)
    pa, pb = tmp_path / "a.pcap", tmp_path / "b.pcap"
    write_pcap(pa, a, nanosecond=False)             # becomes if_tsresol 6 in pcapng
    write_pcap(pb, b)                               # nanoseconds
    ng_a, ng_b = tmp_path / "a.pcapng", tmp_path / "b.pcapng"
    run("editcap", "-F", "pcapng", str(pa), str(ng_a))
    run("editcap", "-F", "pcapng", str(pb), str(ng_b))
    merged = tmp_path / "merged.pcapng"
    run("mergecap", "-F", "pcapng", "-w", str(merged), str(ng_a), str(ng_b))
    with open_pcap(merged) as reader:
        got = reader.read()
        resolutions = sorted(i.tsresol for i in reader.interfaces)
    assert resolutions == [6, 9]
    reference = tshark_view(merged)
    assert [(ts, data) for ts, _, data, _ in reference] == ours(got)
    assert [wl for _, wl, _, _ in reference] == got.wirelen.tolist()
    expected = sorted(ours(Batch.from_packets(a.packets(), ts=a.ts // 1000 * 1000)) + ours(b))
    assert sorted(ours(got)) == expected
    # packets keep the interface they came from
    first_a = int(got.ifindex[got.packets().index(a.packets()[0])])
    first_b = int(got.ifindex[got.packets().index(b.packets()[0])])
    assert first_a != first_b
    assert sorted(set(got.ifindex.tolist())) == [0, 1]
