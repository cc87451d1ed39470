"""Capture files: round trips, hand-built pcap/pcapng files, malformed input, streaming."""
import collections
import os
import stat
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ringcap
from ringcap import Batch
from ringcap.pcap import (CaptureSummary, PcapFormatError, PcapTruncatedError,
                          PcapTruncatedWarning, PcapWriter, capture_to_file, open_pcap,
                          read_pcap, write_pcap)

T0 = 1_700_000_000_123_456_789
Stats = collections.namedtuple("Stats", "packets drops")
StatsIf = collections.namedtuple("StatsIf", "packets drops if_drops")


def make_batch(n=50, seed=0, ifindex=None, pkttype=None, t0=T0):
    rng = np.random.default_rng(seed)
    packets = [rng.integers(0, 256, int(rng.integers(14, 300)), dtype=np.uint8).tobytes()
               for _ in range(n)]
    ts = t0 + np.cumsum(rng.integers(1, 10**7, n))
    extra = {}
    if ifindex is not None:
        extra["ifindex"] = ifindex
    if pkttype is not None:
        extra["pkttype"] = pkttype
    return Batch.from_packets(packets, ts=ts, **extra)


# ---------------------------------------------------------------- hand-built files

def pcap_header(order="<", nano=True, snaplen=65535, linktype=1):
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    return struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)


def pcap_record(order, sec, frac, data, wirelen=None):
    return struct.pack(order + "IIII", sec, frac, len(data),
                       len(data) if wirelen is None else wirelen) + data


def ng_block(order, btype, body):
    body = body + b"\0" * (-len(body) % 4)
    n = 12 + len(body)
    return struct.pack(order + "II", btype, n) + body + struct.pack(order + "I", n)


def ng_opt(order, code, value):
    return struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)


def ng_shb(order):
    return ng_block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def ng_idb(order, name=None, tsresol=None, tsoffset=None, snaplen=0, linktype=1):
    opts = b""
    if name is not None:
        opts += ng_opt(order, 2, name.encode())
    if tsresol is not None:
        opts += ng_opt(order, 9, bytes([tsresol]))
    if tsoffset is not None:
        opts += ng_opt(order, 14, struct.pack(order + "q", tsoffset))
    if opts:
        opts += ng_opt(order, 0, b"")
    return ng_block(order, 1, struct.pack(order + "HHI", linktype, 0, snaplen) + opts)


def ng_epb(order, iface, units, data, wirelen=None, flags=None):
    body = struct.pack(order + "IIIII", iface, units >> 32, units & 0xFFFFFFFF, len(data),
                       len(data) if wirelen is None else wirelen)
    body += data + b"\0" * (-len(data) % 4)
    if flags is not None:
        body += ng_opt(order, 2, struct.pack(order + "I", flags)) + ng_opt(order, 0, b"")
    return ng_block(order, 6, body)


def ng_spb(order, data, wirelen=None):
    return ng_block(order, 3, struct.pack(order + "I", len(data) if wirelen is None else wirelen)
                    + data)


def ng_isb(order, iface, units, recv, drop):
    opts = (ng_opt(order, 4, struct.pack(order + "Q", recv))
            + ng_opt(order, 5, struct.pack(order + "Q", drop)) + ng_opt(order, 0, b""))
    return ng_block(order, 5, struct.pack(order + "III", iface, units >> 32, units & 0xFFFFFFFF)
                    + opts)


def write_bytes(path, raw):
    path.write_bytes(raw)
    return path


# ---------------------------------------------------------------- round trips

@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_round_trip_keeps_bytes_timestamps_and_lengths(tmp_path, fmt):
    batch = make_batch(200)
    batch.wirelen = batch.caplen + 7          # (from_packets aliases wirelen to caplen)
    path = tmp_path / f"a.{fmt}"
    assert write_pcap(path, batch, format=fmt) == 200
    back = read_pcap(path)
    assert len(back) == 200
    assert back.packets() == batch.packets()
    np.testing.assert_array_equal(back.ts, batch.ts)
    np.testing.assert_array_equal(back.caplen, batch.caplen)
    np.testing.assert_array_equal(back.wirelen, batch.wirelen)
    assert back.ts.dtype == np.int64 and back.caplen.dtype == np.uint32


def test_pcap_file_header_and_record_layout(tmp_path):
    batch = Batch.from_packets([b"\x01\x02\x03", b"abcdef"], ts=[T0, T0 + 5])
    path = tmp_path / "x.pcap"
    write_pcap(path, batch, snaplen=1500)
    raw = path.read_bytes()
    assert struct.unpack("<IHHiIII", raw[:24]) == (0xA1B23C4D, 2, 4, 0, 0, 1500, 1)
    sec, frac = divmod(T0, 10**9)
    assert raw[24:40] == struct.pack("<IIII", sec, frac, 3, 3)
    assert raw[40:43] == b"\x01\x02\x03"
    assert raw[43:59] == struct.pack("<IIII", sec, frac + 5, 6, 6)
    assert raw[59:] == b"abcdef"


def test_microsecond_pcap_truncates_to_microseconds(tmp_path):
    batch = make_batch(20)
    path = tmp_path / "us.pcap"
    write_pcap(path, batch, nanosecond=False)
    assert struct.unpack("<I", path.read_bytes()[:4])[0] == 0xA1B2C3D4
    with open_pcap(path) as reader:
        assert reader.nanosecond is False
        back = reader.read()
    np.testing.assert_array_equal(back.ts, batch.ts // 1000 * 1000)
    assert back.packets() == batch.packets()


def test_snaplen_cuts_packets_but_keeps_wire_length(tmp_path):
    batch = Batch.from_packets([bytes(range(100)), b"short"], ts=[T0, T0])
    for fmt in ("pcap", "pcapng"):
        path = tmp_path / f"snap.{fmt}"
        write_pcap(path, batch, format=fmt, snaplen=64)
        back = read_pcap(path)
        assert back.packets() == [bytes(range(64)), b"short"]
        assert back.caplen.tolist() == [64, 5]
        assert back.wirelen.tolist() == [100, 5]


def test_multiple_batches_and_small_write_buffer(tmp_path):
    batches = [make_batch(300, seed=s, t0=T0 + s * 10**12) for s in range(4)]
    path = tmp_path / "multi.pcapng"
    with PcapWriter(path, format="pcapng", buffer_size=64 * 1024) as writer:
        for b in batches:
            writer.write(b)
        writer.write(Batch.from_packets([]))
        assert writer.packets_written == 1200
    back = read_pcap(path)
    assert back.packets() == Batch.concat(batches).packets()
    assert os.path.getsize(path) == writer.bytes_written


def test_write_accepts_sliced_and_masked_batches(tmp_path):
    batch = make_batch(100)
    picked = batch[::3][batch[::3].caplen > 100]
    path = tmp_path / "sliced.pcap"
    write_pcap(path, [picked, batch[10:12]])
    assert read_pcap(path).packets() == picked.packets() + batch[10:12].packets()


def test_jumbo_packet_larger_than_write_buffer(tmp_path):
    big = (np.arange(200_000) % 251).astype(np.uint8).tobytes()
    batch = Batch.from_packets([b"a" * 60, big, b"b" * 60], ts=[T0] * 3)
    for fmt in ("pcap", "pcapng"):
        path = tmp_path / f"jumbo.{fmt}"
        with PcapWriter(path, format=fmt, buffer_size=64 * 1024) as writer:
            writer.write(batch)
        assert read_pcap(path).packets() == batch.packets()


def test_pcapng_interfaces_get_their_own_idb_and_names(tmp_path):
    batch = make_batch(30, ifindex=[7 if i % 2 else 9 for i in range(30)])
    batch.interfaces = {7: "veth-a", 9: "veth-b"}
    path = tmp_path / "ifs.pcapng"
    write_pcap(path, batch, format="pcapng")
    with open_pcap(path) as reader:
        back = reader.read()
        names = [(i.index, i.name, i.tsresol) for i in reader.interfaces]
    # file positions in order of first appearance: ifindex 9 first, then 7
    assert names == [(0, "veth-b", 9), (1, "veth-a", 9)]
    assert back.ifindex.tolist() == [0 if i % 2 == 0 else 1 for i in range(30)]
    assert back.interfaces == {0: "veth-b", 1: "veth-a"}
    assert back.packets() == batch.packets()


def test_pcapng_interface_name_fallbacks(tmp_path, monkeypatch):
    import _socket      # (what the writer asks: not socket.py, for start-up)
    monkeypatch.setattr(_socket, "if_indextoname",
                        lambda i: "hostif" if i == 3 else (_ for _ in ()).throw(OSError(6, "nope")))
    batch = make_batch(3, ifindex=[3, 4, 5])
    path = tmp_path / "names.pcapng"
    write_pcap(path, batch, format="pcapng", interfaces={5: "given"})
    assert read_pcap(path).interfaces == {0: "hostif", 1: "if4", 2: "given"}


def test_plain_pcap_writes_all_interfaces_into_one_stream(tmp_path):
    batch = make_batch(10, ifindex=np.arange(10) % 3)
    path = tmp_path / "mixed.pcap"
    write_pcap(path, batch)
    back = read_pcap(path)
    assert back.packets() == batch.packets()
    assert back.ifindex.tolist() == [0] * 10
    assert back.interfaces is None


def test_pkttype_survives_pcapng_through_epb_flags(tmp_path):
    kinds = [ringcap.batch.PACKET_HOST, ringcap.batch.PACKET_BROADCAST,
             ringcap.batch.PACKET_MULTICAST, ringcap.batch.PACKET_OTHERHOST,
             ringcap.batch.PACKET_OUTGOING]
    batch = make_batch(5, pkttype=kinds)
    path = tmp_path / "flags.pcapng"
    write_pcap(path, batch, format="pcapng")
    assert read_pcap(path).pkttype.tolist() == kinds
    write_pcap(path, batch, format="pcapng", flags=False, overwrite=True)
    assert read_pcap(path).pkttype.tolist() == [0] * 5
    assert read_pcap(path).packets() == batch.packets()


def test_isb_carries_drops_and_reads_back(tmp_path):
    batch = make_batch(10, ifindex=[4] * 10)
    path = tmp_path / "stats.pcapng"
    with PcapWriter(path, format="pcapng") as writer:
        writer.write(batch)
        writer.write_stats(Stats(packets=15, drops=5), ts=T0 + 10**10)
        writer.write_stats(StatsIf(packets=40, drops=7, if_drops=2), ts=T0 + 2 * 10**10)
    with open_pcap(path) as reader:
        back = reader.read()
        stats = reader.stats
    assert [(s.interface, s.ts, s.received, s.dropped, s.os_dropped) for s in stats] == [
        (0, T0 + 10**10, 15, 5, 5), (0, T0 + 2 * 10**10, 40, 9, 7)]
    assert back.drops == 9      # growth of isb_ifdrop seen while reading this batch
    assert len(back) == 10


def test_close_with_stats(tmp_path):
    path = tmp_path / "closing.pcapng"
    writer = PcapWriter(path, format="pcapng")
    writer.write(make_batch(3, ifindex=[5] * 3))
    writer.close(stats=StatsIf(packets=9, drops=6, if_drops=0))
    with pytest.raises(ValueError, match="closed"):
        writer.close(stats=Stats(1, 1))
    plain = PcapWriter(tmp_path / "plain.pcap")
    plain.write(make_batch(2))
    with pytest.raises(ValueError, match="format='pcapng'"):
        plain.close(stats=Stats(1, 1))
    plain.close()
    assert len(read_pcap(tmp_path / "plain.pcap")) == 2       # nothing lost
    with open_pcap(path) as reader:
        assert reader.read().drops == 6
        assert [(s.interface, s.received, s.dropped) for s in reader.stats] == [(0, 9, 6)]


def test_write_stats_before_any_packet_declares_an_interface(tmp_path):
    path = tmp_path / "nopackets.pcapng"
    with PcapWriter(path, format="pcapng", interfaces={0: "any"}) as writer:
        writer.write_stats(Stats(0, 3))
    with open_pcap(path) as reader:
        batches = list(reader)
        assert [i.name for i in reader.interfaces] == ["any"]
    assert [(len(b), b.drops) for b in batches] == [(0, 3)]


def test_write_stats_on_pcap_is_refused(tmp_path):
    with PcapWriter(tmp_path / "x.pcap") as writer:
        with pytest.raises(ValueError, match="format='pcapng'"):
            writer.write_stats(Stats(1, 1))
        with pytest.raises(ValueError, match="pcapng"):
            writer.add_interface(1)


# ---------------------------------------------------------------- files and permissions

def test_files_are_private_by_default(tmp_path):
    path = tmp_path / "private.pcap"
    write_pcap(path, make_batch(2))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_existing_file_is_narrowed(tmp_path):
    path = tmp_path / "old.pcap"
    path.write_bytes(b"old")
    os.chmod(path, 0o666)
    write_pcap(path, make_batch(2), overwrite=True)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert len(read_pcap(path)) == 2


def test_mode_option_widens_on_request(tmp_path):
    path = tmp_path / "shared.pcapng"
    old = os.umask(0o022)
    try:
        write_pcap(path, make_batch(2), format="pcapng", mode=0o644)
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o644


def test_writer_rejects_bad_options_and_timestamps(tmp_path):
    with pytest.raises(ValueError, match="format"):
        PcapWriter(tmp_path / "a", format="erf")
    with pytest.raises(ValueError, match="snaplen"):
        PcapWriter(tmp_path / "a", snaplen=0)
    batch = make_batch(5)
    batch.ts[3] = -1
    path = tmp_path / "neg.pcap"
    with PcapWriter(path) as writer:
        with pytest.raises(ValueError, match="packet 3 has timestamp -1"):
            writer.write(batch)
        assert writer.packets_written == 0
    assert os.path.getsize(path) == 24
    batch.ts[3] = (1 << 32) * 10**9       # 2106: past a pcap's 32-bit seconds
    with PcapWriter(tmp_path / "late.pcap") as writer:
        with pytest.raises(ValueError, match="2106"):
            writer.write(batch)
    write_pcap(tmp_path / "late.pcapng", batch, format="pcapng")
    assert read_pcap(tmp_path / "late.pcapng").ts[3] == (1 << 32) * 10**9


def test_writer_closed_and_unclosed(tmp_path):
    writer = PcapWriter(tmp_path / "c.pcap")
    writer.close()
    writer.close()
    assert writer.closed
    with pytest.raises(ValueError, match="closed"):
        writer.write(make_batch(1))
    leaked = PcapWriter(tmp_path / "leak.pcap")
    leaked.write(make_batch(3))
    with pytest.warns(ResourceWarning, match="unclosed PcapWriter"):
        del leaked
        import gc
        gc.collect()
    assert len(read_pcap(tmp_path / "leak.pcap")) == 3     # flushed on collection


def test_reader_closed_and_unclosed(tmp_path):
    path = tmp_path / "r.pcap"
    write_pcap(path, make_batch(3))
    reader = open_pcap(path)
    reader.close()
    reader.close()
    with pytest.raises(ValueError, match="closed"):
        reader.read()
    leaked = open_pcap(path)
    with pytest.warns(ResourceWarning, match="unclosed PcapReader"):
        del leaked
        import gc
        gc.collect()


# ---------------------------------------------------------------- reading hand-built files

@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [True, False])
def test_pcap_both_byte_orders_and_precisions(tmp_path, order, nano):
    raw = pcap_header(order, nano) + pcap_record(order, 1_600_000_000, 999, b"\xaa" * 20, 60)
    raw += pcap_record(order, 1_600_000_001, 5, b"\xbb" * 3)
    batch = read_pcap(write_bytes(tmp_path / "f.pcap", raw))
    scale = 1 if nano else 1000
    assert batch.ts.tolist() == [1_600_000_000 * 10**9 + 999 * scale, 1_600_000_001 * 10**9 + 5 * scale]
    assert batch.packets() == [b"\xaa" * 20, b"\xbb" * 3]
    assert batch.wirelen.tolist() == [60, 3]


def test_pcapng_sections_interfaces_resolutions_and_blocks(tmp_path):
    le, be = "<", ">"
    raw = ng_shb(le)
    raw += ng_block(le, 4, b"\x00" * 8)                         # name resolution block: skipped
    raw += ng_idb(le, "eth0")                                   # default: microseconds
    raw += ng_idb(le, "eth1", tsresol=9)
    raw += ng_idb(le, None, tsresol=0x80 | 20, tsoffset=100)    # 2**-20 s units, +100 s
    raw += ng_epb(le, 0, 1_600_000_000_000_001, b"p0")
    raw += ng_epb(le, 1, 1_600_000_000_000_000_002, b"p1", flags=2)
    raw += ng_block(le, 0x40000BAD, b"custom!!")                 # custom block: skipped
    raw += ng_epb(le, 2, (1_600_000_000 << 20) + (1 << 19), b"p2")
    raw += ng_spb(le, b"simple-packet", wirelen=13)
    raw += ng_isb(le, 1, 1_600_000_005_000_000_000, 10, 4)
    # second section, big-endian, with its own interface numbering
    raw += ng_shb(be)
    raw += ng_idb(be, "wlan0", tsresol=3, snaplen=4)
    raw += ng_epb(be, 0, 1_600_000_007_123, b"\x01\x02\x03")
    raw += ng_spb(be, b"\x09\x08\x07\x06\x05\x04", wirelen=6)     # snaplen 4 applies
    path = write_bytes(tmp_path / "f.pcapng", raw)
    with open_pcap(path) as reader:
        batch = reader.read()
        ifaces = [(i.index, i.name, i.section, i.tsresol, i.tsoffset, i.snaplen)
                  for i in reader.interfaces]
        stats = reader.stats
    assert ifaces == [(0, "eth0", 0, 6, 0, 0), (1, "eth1", 0, 9, 0, 0),
                      (2, None, 0, 0x80 | 20, 100, 0), (3, "wlan0", 1, 3, 0, 4)]
    assert batch.packets() == [b"p0", b"p1", b"p2", b"simple-packet", b"\x01\x02\x03",
                               b"\x09\x08\x07\x06"]
    assert batch.ts.tolist() == [1_600_000_000_000_001_000, 1_600_000_000_000_000_002,
                                 1_600_000_100_500_000_000, 0, 1_600_000_007_123_000_000, 0]
    assert batch.ifindex.tolist() == [0, 1, 2, 0, 3, 3]
    assert batch.pkttype.tolist() == [0, 4, 0, 0, 0, 0]
    assert batch.wirelen.tolist() == [2, 2, 2, 13, 3, 6]
    assert batch.interfaces == {0: "eth0", 1: "eth1", 3: "wlan0"}
    assert [(s.interface, s.ts, s.received, s.dropped) for s in stats] == [
        (1, 1_600_000_005_000_000_000, 10, 4)]
    assert batch.drops == 4


def test_pcapng_obsolete_packet_block(tmp_path):
    le = "<"
    units = 1_600_000_000_000_000_000
    body = struct.pack(le + "HHIIII", 1, 0, units >> 32, units & 0xFFFFFFFF, 5, 9) + b"hello\0\0\0"
    raw = ng_shb(le) + ng_idb(le, "a") + ng_idb(le, "b", tsresol=9) + ng_block(le, 2, body)
    batch = read_pcap(write_bytes(tmp_path / "pb.pcapng", raw))
    assert batch.packets() == [b"hello"]
    assert batch.ifindex.tolist() == [1] and batch.wirelen.tolist() == [9]
    assert batch.ts.tolist() == [units]


def test_pcapng_binary_resolution_beyond_exact_range():
    mode, param = ringcap.pcapfile.reader._tsresol_mode(0x80 | 40)
    value = ringcap._pcapio.ts_units_to_ns(3 << 40, int(mode), int(param))
    assert value == 3 * 10**9
    mode, param = ringcap.pcapfile.reader._tsresol_mode(12)           # picoseconds
    assert ringcap._pcapio.ts_units_to_ns(1_234_567, int(mode), int(param)) == 1234


# ---------------------------------------------------------------- batches, views and out=

def test_open_pcap_batches_are_bounded_and_complete(tmp_path):
    batch = make_batch(1000)
    for fmt in ("pcap", "pcapng"):
        path = tmp_path / f"big.{fmt}"
        write_pcap(path, batch, format=fmt)
        with open_pcap(path, batch_packets=128) as reader:
            parts = list(reader)
        assert [len(p) for p in parts] == [128] * 7 + [104]
        assert all(p.data.nbytes < 128 * 400 for p in parts)
        joined = Batch.concat(parts)
        assert joined.packets() == batch.packets()
        np.testing.assert_array_equal(joined.ts, batch.ts)


def test_data_is_a_view_of_the_mapped_file_and_outlives_close(tmp_path):
    batch = make_batch(100)
    path = tmp_path / "view.pcap"
    write_pcap(path, batch)
    reader = open_pcap(path)
    first = reader.read(10)
    assert not first.data.flags.owndata and not first.data.flags.writeable
    reader.close()
    assert first.packets() == batch[:10].packets()     # still readable after close
    kept = read_pcap(path)
    assert kept.data.base is not None
    del first
    assert kept.packets() == batch.packets()


def test_read_into_reusable_batch(tmp_path):
    batch = make_batch(300, ifindex=[2] * 300, pkttype=[4] * 300)
    path = tmp_path / "out.pcapng"
    write_pcap(path, batch, format="pcapng")
    out = Batch.empty(100, data_bytes=100 * 300)
    out.rxhash[:] = 0
    out._store["rxhash"][:] = 77                 # stale values from an earlier use
    got = []
    with open_pcap(path) as reader:
        while True:
            res = reader.read(out=out)
            assert res is out
            if not len(out):
                break
            assert out.rxhash.tolist() == [0] * len(out)
            got.extend(out.packets())
            assert out.pkttype.tolist() == [4] * len(out)
            assert out.data.flags.writeable
    assert got == batch.packets()


def test_read_into_batch_limited_by_data_bytes(tmp_path):
    batch = Batch.from_packets([b"x" * 100] * 10, ts=[T0] * 10)
    path = tmp_path / "small.pcap"
    write_pcap(path, batch)
    with open_pcap(path) as reader:
        out = Batch.empty(10, data_bytes=350)
        assert len(reader.read(out=out)) == 3
        assert len(reader.read(out=out)) == 3
        with pytest.raises(ValueError, match="out= must be a reusable batch"):
            reader.read(out=make_batch(1))
    with open_pcap(path) as reader:
        with pytest.raises(ValueError, match="does not fit"):
            reader.read(out=Batch.empty(10, data_bytes=50))


def test_read_max_packets(tmp_path):
    batch = make_batch(50)
    path = tmp_path / "m.pcapng"
    write_pcap(path, batch, format="pcapng")
    assert read_pcap(path, max_packets=7).packets() == batch[:7].packets()
    with open_pcap(path) as reader:
        assert len(reader.read(0)) == 0
        assert reader.read(20).packets() == batch[:20].packets()
        assert reader.read().packets() == batch[20:].packets()
        assert len(reader.read()) == 0


# ---------------------------------------------------------------- bad input

def test_not_a_capture_file_shows_the_magic(tmp_path):
    path = write_bytes(tmp_path / "notes.txt", b"hello world, not a capture")
    with pytest.raises(PcapFormatError, match=r"not a pcap or pcapng file: magic number 0x68656c6c"):
        read_pcap(path)
    with pytest.raises(PcapFormatError, match="empty file"):
        read_pcap(write_bytes(tmp_path / "empty", b""))
    with pytest.raises(PcapFormatError, match="too short"):
        read_pcap(write_bytes(tmp_path / "two", b"\xd4\xc3"))
    with pytest.raises(PcapFormatError, match="modified pcap"):
        read_pcap(write_bytes(tmp_path / "mod", struct.pack("<I", 0xA1B2CD34) + b"\0" * 20))
    with pytest.raises(PcapFormatError, match="not a regular file"):
        read_pcap(tmp_path)
    assert issubclass(PcapFormatError, ValueError)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_truncated_file_returns_complete_packets_and_warns_with_offset(tmp_path, fmt):
    batch = make_batch(20)
    path = tmp_path / f"t.{fmt}"
    write_pcap(path, batch, format=fmt)
    raw = path.read_bytes()
    # cut in the middle of packet 13's record
    with open_pcap(path) as reader:
        reader.read(13)
        start13 = reader._pos
    cut = write_bytes(tmp_path / f"cut.{fmt}", raw[:start13 + 9])
    with pytest.warns(PcapTruncatedWarning, match=f"byte offset {start13}") as caught:
        got = read_pcap(cut)
    assert caught[0].message.offset == start13
    assert got.packets() == batch[:13].packets()
    with pytest.raises(PcapTruncatedError, match=f"partial .* at byte offset {start13}") as info:
        read_pcap(cut, strict=True)
    assert info.value.offset == start13
    # strict iteration still hands over the good packets first
    with open_pcap(cut, strict=True, batch_packets=100) as reader:
        assert len(reader.read(100)) == 13
        with pytest.raises(PcapTruncatedError):
            reader.read(100)


def test_truncated_file_header(tmp_path):
    path = write_bytes(tmp_path / "h.pcap", pcap_header()[:10])
    with pytest.warns(PcapTruncatedWarning, match="file header at byte offset 0"):
        assert len(read_pcap(path)) == 0
    with pytest.raises(PcapTruncatedError):
        read_pcap(path, strict=True)


def test_pcap_corrupt_caplen_names_the_offset(tmp_path):
    raw = pcap_header() + pcap_record("<", 1, 2, b"ok")
    bad_at = len(raw)
    raw += struct.pack("<IIII", 1, 2, 0x7FFFFFF0, 10) + b"junk" * 10
    path = write_bytes(tmp_path / "bad.pcap", raw)
    with pytest.raises(PcapFormatError, match=f"byte offset {bad_at}.*2147483632") as info:
        read_pcap(path)
    assert info.value.offset == bad_at
    with open_pcap(path) as reader:
        assert reader.read().packets() == [b"ok"]          # good packets first
        with pytest.raises(PcapFormatError):
            reader.read()


@pytest.mark.parametrize("damage, message", [
    ("trailer", "lengths disagree"),
    ("unaligned", "invalid length 45"),
    ("huge", "invalid length 4294967292"),
    ("tiny", "invalid length 8"),
    ("caplen", "captured length of 9999"),
    ("interface", "interface 5"),
])
def test_pcapng_corrupt_blocks_name_the_offset(tmp_path, damage, message):
    le = "<"
    head = ng_shb(le) + ng_idb(le, "x", tsresol=9) + ng_epb(le, 0, 5, b"good")
    bad = bytearray(ng_epb(le, 0, 6, b"badpacket"))
    if damage == "trailer":
        bad[-4:] = struct.pack("<I", 999)
    elif damage == "unaligned":
        bad[4:8] = struct.pack("<I", 45)
    elif damage == "huge":
        bad[4:8] = struct.pack("<I", 0xFFFFFFFC)
    elif damage == "tiny":
        bad[4:8] = struct.pack("<I", 8)
    elif damage == "caplen":
        bad[20:24] = struct.pack("<I", 9999)
    elif damage == "interface":
        bad[8:12] = struct.pack("<I", 5)
    path = write_bytes(tmp_path / "bad.pcapng", head + bytes(bad) + ng_epb(le, 0, 7, b"after"))
    with pytest.raises(PcapFormatError, match=f"byte offset {len(head)}: .*{message}") as info:
        read_pcap(path)
    assert info.value.offset == len(head)
    with open_pcap(path) as reader:
        assert reader.read().packets() == [b"good"]


LATEST_NS = 2**63 - 1      # 2262-04-11 23:47:16.854775807 UTC


@pytest.mark.parametrize("tsresol, tsoffset, last_units, first_beyond", [
    (None, None, LATEST_NS // 1000, LATEST_NS // 1000 + 1),             # microseconds
    (0, None, LATEST_NS // 10**9, LATEST_NS // 10**9 + 1),              # seconds
    (0x80 | 10, None, (LATEST_NS // 10**9) << 10, (LATEST_NS // 10**9 + 1) << 10),  # 2**-10 s
    (9, 100, LATEST_NS - 100 * 10**9, LATEST_NS - 100 * 10**9 + 1),     # ns, +100 s offset
    (None, None, LATEST_NS // 1000, 2**64 - 1),                         # the largest units
])
def test_pcapng_times_past_int64_nanoseconds_are_refused_not_wrapped(
        tmp_path, tsresol, tsoffset, last_units, first_beyond):
    # A pcapng timestamp is 64 bits of units (microseconds by default): from year 2262 on
    # it passes what int64 ns hold, and the reader wrapped it into 1702 and earlier.
    le = "<"
    head = (ng_shb(le) + ng_idb(le, "x", tsresol=tsresol, tsoffset=tsoffset)
            + ng_epb(le, 0, last_units, b"last"))
    path = write_bytes(tmp_path / "far.pcapng", head + ng_epb(le, 0, first_beyond, b"beyond"))
    with pytest.raises(PcapFormatError, match=f"byte offset {len(head)}: packet on interface 0 "
                                              "has a timestamp past 2262-04-11.*editcap -t"):
        read_pcap(path)
    with open_pcap(path) as reader:
        last = reader.read()
        assert last.packets() == [b"last"]
        assert 0 <= LATEST_NS - int(last.ts[0]) < 10**9        # the last second 2262 holds
        with pytest.raises(PcapFormatError, match="2262"):
            reader.read()


def test_pcapng_bad_section_header(tmp_path):
    raw = bytearray(ng_shb("<") + ng_idb("<"))
    raw[8:12] = b"\x00\x01\x02\x03"
    with pytest.raises(PcapFormatError, match="byte-order magic 00010203"):
        read_pcap(write_bytes(tmp_path / "bom.pcapng", bytes(raw)))
    raw = bytearray(ng_shb("<"))
    raw[12:14] = struct.pack("<H", 2)
    with pytest.raises(PcapFormatError, match="version 2.0"):
        read_pcap(write_bytes(tmp_path / "ver.pcapng", bytes(raw)))


def test_packet_before_any_interface_is_an_error(tmp_path):
    raw = ng_shb("<") + ng_spb("<", b"lonely")
    with pytest.raises(PcapFormatError, match="a packet block before any Interface Desc"):
        read_pcap(write_bytes(tmp_path / "noidb.pcapng", raw))


_SAMPLES = {}


def sample_files():
    """A small pcap and pcapng (two interfaces, an ISB) to damage, built once."""
    if not _SAMPLES:
        import tempfile
        batch = make_batch(12, seed=3, ifindex=[1, 2] * 6)
        with tempfile.TemporaryDirectory() as d:
            for fmt in ("pcap", "pcapng"):
                p = os.path.join(d, f"s.{fmt}")
                with PcapWriter(p, format=fmt, interfaces={1: "a", 2: "b"}) as w:
                    w.write(batch)
                    if fmt == "pcapng":
                        w.write_stats(Stats(20, 8))
                with open(p, "rb") as f:
                    _SAMPLES[fmt] = f.read()
        _SAMPLES["batch"] = batch
    return _SAMPLES["batch"], _SAMPLES


def _read_damaged(path):
    """Read a damaged file; return packets or the error/warnings it produced."""
    import warnings
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            batch = read_pcap(path)
        except PcapFormatError as error:
            assert error.offset is None or 0 <= error.offset <= os.path.getsize(path)
            return None, caught
    for w in caught:
        assert issubclass(w.category, PcapTruncatedWarning), w
        assert 0 <= w.message.offset <= os.path.getsize(path)
    assert int((batch.offset + batch.caplen).max(initial=0)) <= batch.data.shape[0]
    return batch, caught


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["pcap", "pcapng"]), cut=st.integers(min_value=0, max_value=10**6))
def test_property_truncation_keeps_a_prefix(tmp_path, fmt, cut):
    batch, files = sample_files()
    raw = files[fmt]
    cut = cut % (len(raw) + 1)
    path = tmp_path / f"cut.{fmt}"
    path.write_bytes(raw[:cut])
    got, caught = _read_damaged(path)
    if got is None:
        assert cut < 4 or (fmt == "pcapng" and cut < 28)   # nothing recognisable
        return
    packets = got.packets()
    assert packets == batch.packets()[:len(packets)]
    if cut < len(raw) and fmt == "pcap":
        assert (len(caught) == 1) == (cut not in _pcap_boundaries(raw))


def _pcap_boundaries(raw):
    pos, out = 24, {24}
    while pos < len(raw):
        pos += 16 + struct.unpack_from("<I", raw, pos + 8)[0]
        out.add(pos)
    return out


@settings(max_examples=300, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fmt=st.sampled_from(["pcap", "pcapng"]),
       flips=st.lists(st.tuples(st.integers(min_value=0, max_value=10**6),
                                st.integers(min_value=0, max_value=7)), min_size=1, max_size=4))
def test_property_bit_flips_never_crash(tmp_path, fmt, flips):
    _, files = sample_files()
    raw = bytearray(files[fmt])
    for where, bit in flips:
        raw[where % len(raw)] ^= 1 << bit
    path = tmp_path / f"flip.{fmt}"
    path.write_bytes(bytes(raw))
    got, _ = _read_damaged(path)
    if got is not None:
        assert len(got) <= 12 + len(raw) // 16
        import warnings
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with open_pcap(path, batch_packets=5) as reader:
                try:
                    assert sum(len(b) for b in reader) == len(got)
                except PcapFormatError:
                    pytest.fail("iteration failed where read_pcap succeeded")
            out = Batch.empty(4, data_bytes=8192)
            copied = []
            with open_pcap(path) as reader:
                while len(reader.read(out=out)):
                    copied.extend(out.packets())
            assert copied == got.packets()


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(sizes=st.lists(st.integers(min_value=0, max_value=1600), max_size=40),
       fmt=st.sampled_from(["pcap", "pcapng"]), nano=st.booleans(),
       ts=st.lists(st.integers(min_value=0, max_value=(1 << 32) * 10**9 - 1), max_size=40))
def test_property_round_trip(tmp_path, sizes, fmt, nano, ts):
    packets = [bytes((i * 7 + j) % 256 for j in range(n)) for i, n in enumerate(sizes)]
    stamps = (ts + [0] * len(packets))[:len(packets)]
    batch = Batch.from_packets(packets, ts=np.array(stamps, dtype=np.int64))
    path = tmp_path / f"rt.{fmt}"
    write_pcap(path, batch, format=fmt, nanosecond=nano, overwrite=True)
    back = read_pcap(path)
    assert back.packets() == packets
    expect = batch.ts if nano or fmt == "pcapng" else batch.ts // 1000 * 1000
    np.testing.assert_array_equal(back.ts, expect)


# ---------------------------------------------------------------- streaming from a ring

class FakeRing:
    """The ring's read()/stats interface, fed from prepared batches."""

    def __init__(self, batches, drops=0, ifindex=None):
        self.pending = Batch.concat(batches) if batches else Batch.from_packets([])
        self.reads = []
        self.delivered = 0
        self._drops = drops
        if ifindex is not None:
            self.ifindex = ifindex
        self.closed = False

    def read(self, max_packets, timeout):
        self.reads.append((max_packets, timeout))
        batch, self.pending = self.pending[:max_packets], self.pending[max_packets:]
        self.delivered += len(batch)
        return batch.copy()

    @property
    def stats(self):
        return Stats(packets=self.delivered + self._drops, drops=self._drops)

    def close(self):
        self.closed = True


def test_capture_to_file_from_a_ring_with_count(tmp_path):
    source = [make_batch(40, seed=s, ifindex=[3] * 40, t0=T0 + s * 10**12) for s in range(5)]
    ring = FakeRing(source, drops=17, ifindex=3)
    path = tmp_path / "live.pcapng"
    summary = capture_to_file(ring, path, count=100, batch_packets=32)
    assert summary == CaptureSummary(packets=100, bytes=Batch.concat(source)[:100].nbytes,
                                     received=100 + 17, drops=17)
    assert all(max_packets <= 32 for max_packets, _ in ring.reads)
    assert not ring.closed
    with open_pcap(path) as reader:
        back = reader.read()
        stats = reader.stats
    assert back.packets() == Batch.concat(source)[:100].packets()
    assert back.drops == 17
    assert [(s.received, s.dropped) for s in stats] == [(117, 17)]


def test_capture_to_file_with_duration_and_empty_reads(tmp_path):
    ring = FakeRing([make_batch(5)])
    path = tmp_path / "timed.pcap"
    summary = capture_to_file(ring, path, duration=0.3, format="pcap", timeout=0.05)
    assert summary.packets == 5 and summary.drops == 0
    assert len(ring.reads) > 2 and all(t <= 0.05 for _, t in ring.reads)
    assert len(read_pcap(path)) == 5
    for bad in (float("nan"), float("inf"), -1):
        with pytest.raises(ValueError, match="finite"):
            capture_to_file(FakeRing([]), tmp_path / "x.pcap", duration=bad)
    assert not os.path.exists(tmp_path / "x.pcap")


def test_capture_to_file_opens_and_closes_a_ring_by_name(tmp_path, monkeypatch):
    made = []

    def fake_ring(iface, **options):
        ring = FakeRing([make_batch(4, ifindex=[9] * 4)], drops=2, ifindex=9)
        made.append((iface, options, ring))
        return ring

    monkeypatch.setattr(ringcap.capturing, "RxRing", fake_ring)
    path = tmp_path / "byname.pcapng"
    summary = capture_to_file("veth0", path, count=4, ring_options={"snaplen": 128})
    assert summary.packets == 4 and summary.drops == 2
    (iface, options, ring), = made
    assert iface == "veth0" and options == {"snaplen": 128} and ring.closed
    back = read_pcap(path)
    assert back.interfaces == {0: "veth0"} and back.ifindex.tolist() == [0] * 4


def test_interrupted_capture_still_records_the_counts(tmp_path):
    class InterruptedRing(FakeRing):
        interrupted = False

        def read(self, max_packets, timeout):
            if len(self.reads) == 2 and not self.interrupted:
                self.interrupted = True
                raise KeyboardInterrupt
            return super().read(max_packets, timeout)

    ring = InterruptedRing([make_batch(30, ifindex=[1] * 30)], drops=4, ifindex=1)
    path = tmp_path / "interrupted.pcapng"
    # Ctrl-C stops the capture; what the ring still holds is written, and the summary returned
    summary = capture_to_file(ring, path, duration=60, batch_packets=10)
    assert summary.stopped_by == "KeyboardInterrupt"
    assert (summary.packets, summary.received, summary.drops) == (30, 34, 4)
    with open_pcap(path) as reader:
        batch = reader.read()
        assert [(s.received, s.dropped) for s in reader.stats] == [(34, 4)]
    assert batch.packets() == make_batch(30, ifindex=[1] * 30).packets() and batch.drops == 4


def test_fifo_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    with pytest.raises(PcapFormatError, match="not a regular file"):
        read_pcap(fifo)


def test_writer_on_an_open_file_object_and_descriptor(tmp_path):
    batch = make_batch(5)
    path = tmp_path / "fileobj.pcap"
    with open(path, "wb") as f:
        f.write(b"")
        with PcapWriter(f) as writer:
            writer.write(batch)
        assert not f.closed
    assert read_pcap(path).packets() == batch.packets()
    fd = os.open(tmp_path / "fd.pcapng", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        with PcapWriter(fd, format="pcapng") as writer:
            writer.write(batch)
            assert writer.path == f"<fd {fd}>"
        os.fstat(fd)                               # still open
    finally:
        os.close(fd)
    assert read_pcap(tmp_path / "fd.pcapng").packets() == batch.packets()


# ---------------------------------------------------------------- many interfaces

@pytest.mark.timeout(20)      # linear: ~0.4 s here; the quadratic parser took 207 s
def test_sixteen_thousand_interfaces_parse_in_linear_time(tmp_path):
    def block(btype, body):
        length = 12 + len(body)
        return struct.pack("<II", btype, length) + body + struct.pack("<I", length)

    n = 16000
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    idbs = [block(1, struct.pack("<HHI", 1, 0, 0) + struct.pack("<HH", 9, 1) + bytes([6 + i % 4])
                  + b"\0\0\0" + b"\0\0\0\0") for i in range(n)]
    epbs = [block(6, struct.pack("<IIIII", i, 0, 7, 4, 4) + b"abcd") for i in (0, n - 1)]
    path = tmp_path / "many.pcapng"
    path.write_bytes(shb + b"".join(idbs) + b"".join(epbs))
    with open_pcap(path) as reader:
        batch = reader.read()
        assert len(reader.interfaces) == n
    assert batch.ifindex.tolist() == [0, n - 1]
    # each interface keeps its own if_tsresol: 7 units of 10**-(6 + i % 4) s
    assert batch.ts.tolist() == [7 * 10**3, 7 * 10**(9 - (6 + (n - 1) % 4))]


# ---------------------------------------------------------------- parts of a file
def _read_in_parts(path, part: int, strict: bool = True):
    """Every part [k*part, (k+1)*part) read as ringcap.spark reads it: (ts, bytes)
    of each packet, and whether each part's end checked against the next part."""
    size = os.path.getsize(path)
    packets = []
    for start in range(0, size, part):
        end = start + part if start + part < size else None
        with ringcap.open_pcap(path, strict=strict) as probe:
            boundary = probe.next_boundary(start)
        with ringcap.PcapReader(path, end=end, strict=strict) as reader:
            reader.seek(boundary)
            for batch in reader:
                packets += list(zip(batch.ts.tolist(), batch.packets()))
            if end is not None and end <= reader.position < reader.size:
                assert reader.next_boundary(end) == reader.position, (start, end)
    return packets


@pytest.mark.parametrize("format", ["pcap", "pcapng"])
def test_parts_of_a_file_read_every_record_once(tmp_path, format):
    from ringcap.testing import synthetic_traffic
    # random payloads: many bytes that look like record headers to the resync
    traffic = synthetic_traffic(3000, conversations=200, seed=23, random_payload=True)
    path = tmp_path / f"t.{format}"
    ringcap.write_pcap(path, traffic, format=format, nanosecond=False)
    whole = list(zip(ringcap.read_pcap(path).ts.tolist(), ringcap.read_pcap(path).packets()))
    for part in (4096, 10007 if format == "pcap" else 10008, 1 << 20):
        assert sorted(_read_in_parts(path, part)) == sorted(whole), part
    # a file cut inside its last record: the parts give every complete packet, once
    data = path.read_bytes()
    cut = tmp_path / f"cut.{format}"
    cut.write_bytes(data[:len(data) - 100])
    with pytest.warns(ringcap.PcapTruncatedWarning):
        got = _read_in_parts(cut, 4096, strict=False)
    assert got == whole[:-1]


def test_next_boundary_and_seek_say_what_is_wrong(tmp_path):
    path = tmp_path / "t.pcap"
    start = 1_700_000_000 * 10**9
    ringcap.write_pcap(path, Batch.from_packets([b"\x00" * 60] * 3,
                                                ts=[start, start + 1, start + 2]))
    with ringcap.PcapReader(path) as reader:
        assert reader.next_boundary(0) == 24 and reader.next_boundary(25) == 24 + 76
        assert reader.next_boundary(10**6) == reader.size
        with pytest.raises(ValueError, match="outside"):
            reader.seek(-1)
    garbage = tmp_path / "garbage.pcap"
    garbage.write_bytes(path.read_bytes()[:24] + b"\xff" * 400_000)
    with ringcap.PcapReader(garbage) as reader:
        with pytest.raises(PcapFormatError, match="no record boundary within"):
            reader.next_boundary(100)
