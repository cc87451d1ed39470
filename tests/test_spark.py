"""Spark reads captures directly: the pcap data source, its splits, modes and
streaming, and flows at cluster scale, checked against ringcap on one machine.

One Spark session for the whole run (conftest's ``spark``, local[2]); files are
written by tcpdump, editcap (tshark's wiretap) and ringcap itself.
"""
from __future__ import annotations

import gzip
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib

import numpy as np
import pytest

import ringcap
from conftest import DEADLINE, TEST_ETHERTYPE, RingcapProcess, make_frame, frame_seq, wait_until
from ringcap import Batch, read_pcap, write_pcap
from ringcap.batch import LINKTYPE_RAW
from ringcap.bpf import LinkTypeFilter
from ringcap.headers import HEADER_COLUMNS, ip_strings, mac_strings
import ringcap.spark
from ringcap.spark.source import BATCH_COLUMNS, Options
from ringcap.testing import synthetic_traffic

START = 1_700_000_000 * 10**9


@pytest.fixture(scope="module")
def pcap_spark(spark):
    ringcap.spark.register(spark)
    return spark


def raw_ip(batch: Batch) -> Batch:
    """The IP packets of an Ethernet batch without their Ethernet headers (LINKTYPE_RAW)."""
    h = ringcap.decode(batch)
    ip = batch[h.ip_version != 0]
    return Batch(ts=ip.ts, caplen=ip.caplen - 14, wirelen=ip.wirelen - 14,
                 offset=ip.offset + 14, data=ip.data,
                 linktype=np.full(len(ip), LINKTYPE_RAW, dtype=np.uint16))


def expected_rows(path: str, *, host=None, columns=None, filter=None) -> list[tuple]:
    """The rows the source should give for ``path``, built from read_pcap + decode."""
    batch = read_pcap(path)
    if filter is not None:
        batch = batch[LinkTypeFilter(filter).mask(batch)]
    options = Options.parse({} if columns is None else {"columns": columns})
    h = ringcap.decode(batch, columns="all")
    values = {"ts": (batch.ts // 1000).tolist(), "ts_ns": batch.ts.tolist()}
    for name in options.columns:
        if name in BATCH_COLUMNS:
            values[name] = getattr(batch, name).tolist()
        elif HEADER_COLUMNS[name][1] > 1:
            if name in ("ip_src", "ip_dst"):
                values[name] = list(ip_strings(h[name], h.ip_version))
            elif name in ("eth_src", "eth_dst"):     # none without an Ethernet header
                values[name] = [mac if linktype == 1 else None
                                for mac, linktype in zip(mac_strings(h[name]), batch.linktype)]
        else:
            values[name] = h[name].tolist()
    names = batch.interfaces or {}
    values["file"] = [os.path.abspath(path)] * len(batch)
    values["host"] = [host] * len(batch)
    values["interface"] = [names.get(int(i)) for i in batch.ifindex]
    values["_corrupt"] = [None] * len(batch)
    order = list(values)
    return sorted(zip(*(values[name] for name in order)), key=repr)


def spark_rows(frame, names) -> list[tuple]:
    table = frame.selectExpr(*[f"unix_micros(ts) AS ts" if n == "ts" else f"`{n}`"
                               for n in names]).toArrow()
    columns = [table[n].to_pylist() for n in names]
    return sorted(zip(*columns), key=repr)


# ---------------------------------------------------------------- files from three writers
@pytest.fixture(scope="module")
def capture_files(tmp_path_factory):
    """Captures of two link types written by ringcap, tcpdump and editcap."""
    folder = tmp_path_factory.mktemp("captures") / "host=probe-7"
    folder.mkdir()
    traffic = synthetic_traffic(3000, conversations=40, start_ns=START, span_ns=60 * 10**9,
                                seed=3)
    write_pcap(folder / "ringcap.pcap", traffic)
    write_pcap(folder / "ringcap.pcapng", traffic, format="pcapng")
    write_pcap(folder / "raw.pcap", raw_ip(traffic[:1500]))
    subprocess.run(["tcpdump", "-r", str(folder / "ringcap.pcap"), "-w",
                    str(folder / "tcpdump.pcap")], check=True, capture_output=True)
    subprocess.run(["editcap", "-F", "pcapng", str(folder / "raw.pcap"),
                    str(folder / "tshark.pcapng")], check=True, capture_output=True)
    return folder


def test_rows_equal_read_pcap_and_decode_for_files_of_three_writers(pcap_spark, capture_files):
    frame = pcap_spark.read.format("pcap").load(str(capture_files / "*.pcap*"))
    types = dict(frame.dtypes)
    assert (types["ts"], types["ts_ns"], types["caplen"], types["wirelen"], types["ip_src"],
            types["ip_len"], types["sport"], types["file"], types["host"]) == \
        ("timestamp", "bigint", "bigint", "bigint", "string", "bigint", "int", "string",
         "string")
    names = frame.columns
    got = spark_rows(frame, names)
    want = sorted((row for name in sorted(os.listdir(capture_files))
                   for row in expected_rows(str(capture_files / name), host="probe-7")),
                  key=repr)
    assert len(got) == len(want) == sum(len(read_pcap(capture_files / name))
                                        for name in os.listdir(capture_files))
    assert got == want
    counts = dict(frame.groupBy("file").count().collect())
    assert {os.path.basename(k): v for k, v in counts.items()} == {
        name: len(read_pcap(capture_files / name)) for name in os.listdir(capture_files)}
    linktypes = {r[0] for r in frame.select("linktype").distinct().collect()}
    assert linktypes == {1, LINKTYPE_RAW}


def test_filter_columns_payload_and_host_options(pcap_spark, capture_files):
    frame = (pcap_spark.read.format("pcap").option("filter", "tcp port 443")
             .option("columns", "ip_src,sport,dport,tcp_flags").option("payload", "true")
             .option("host", "sensor-a").load(f"{capture_files}/ringcap.pcapng,"
                                              f"{capture_files}/raw.pcap"))
    assert frame.columns == ["ts", "ts_ns", "ip_src", "sport", "dport", "tcp_flags", "data",
                             "file", "host", "interface", "_corrupt"]
    rows = frame.select("file", "ts_ns", "sport", "dport", "data", "host").collect()
    want = []
    for name in ("ringcap.pcapng", "raw.pcap"):
        batch = read_pcap(capture_files / name)
        batch = batch[LinkTypeFilter("tcp port 443").mask(batch)]
        h = ringcap.decode(batch)
        assert len(batch) and ((h.sport == 443) | (h.dport == 443)).all()
        want += [(name, t, s, d, bytes(p)) for t, s, d, p in
                 zip(batch.ts.tolist(), h.sport.tolist(), h.dport.tolist(), batch.packets())]
    assert sorted((os.path.basename(r.file), r.ts_ns, r.sport, r.dport, bytes(r.data))
                  for r in rows) == sorted(want)
    assert {r.host for r in rows} == {"sensor-a"}


def test_a_cooked_files_packet_type_and_address_read_as_in_pandas(pcap_spark, tmp_path):
    """A LINUX_SLL2 file: `pkttype` is each header's (0 before), and
    `sll_addr` its first sll_halen bytes, null without an address (all 8
    bytes before, 02:00:00:00:00:01:aa:bb), as to_pandas gives them."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import CookedLinuxV2
    from scapy.utils import wrpcap
    l3 = IP(src="10.5.0.1", dst="10.5.0.2") / UDP(sport=1000, dport=9)
    wrpcap(str(tmp_path / "any.pcap"), [
        CookedLinuxV2(proto=0x0800, ifindex=3, lladdrtype=1, pkttype=4, lladdrlen=6,
                      src=b"\x02\x00\x00\x00\x00\x01\xaa\xbb") / l3,
        CookedLinuxV2(proto=0x0800, ifindex=4, lladdrtype=0xFFFE, pkttype=0, lladdrlen=0,
                      src=b"\x00" * 8) / l3], linktype=276)
    frame = (pcap_spark.read.format("pcap").option("columns", "pkttype,sll_addr")
             .load(str(tmp_path / "any.pcap")))
    rows = sorted((r.pkttype, r.sll_addr) for r in frame.collect())
    assert rows == [(0, None), (4, "02:00:00:00:00:01")]
    ours = ringcap.decode(read_pcap(tmp_path / "any.pcap"), columns=["sll_addr"]).to_pandas()
    assert ours["sll_addr"].tolist()[0] == "02:00:00:00:00:01"


def test_mac_columns_are_null_without_an_ethernet_header_as_in_pandas(pcap_spark, tmp_path):
    """eth_src/eth_dst of a cooked or raw IP packet read 00:00:00:00:00:00;
    tshark has no eth.src there and to_pandas gives NaN: Spark gives null
    (an Ethernet frame's MACs, zeros on lo included, stay)."""
    from scapy.layers.inet import IP, UDP
    from scapy.layers.l2 import CookedLinuxV2, Ether
    from scapy.utils import wrpcap
    l3 = IP(src="10.5.0.1", dst="10.5.0.2") / UDP(sport=1000, dport=9)
    wrpcap(str(tmp_path / "any.pcap"), [
        CookedLinuxV2(proto=0x0800, ifindex=3, lladdrtype=1, pkttype=4, lladdrlen=6,
                      src=b"\x02\x00\x00\x00\x00\x01\0\0") / l3], linktype=276)
    wrpcap(str(tmp_path / "raw.pcap"), [l3], linktype=101)
    wrpcap(str(tmp_path / "eth.pcap"), [
        Ether(src="02:00:00:00:00:07", dst="02:00:00:00:00:08") / l3,
        Ether(src="00:00:00:00:00:00", dst="00:00:00:00:00:00") / l3])
    frame = (pcap_spark.read.format("pcap").option("columns", "eth_src,eth_dst")
             .load(str(tmp_path / "*.pcap")))
    rows = sorted(((os.path.basename(r.file), r.eth_src, r.eth_dst) for r in frame.collect()),
                  key=str)
    assert rows == sorted([("any.pcap", None, None), ("raw.pcap", None, None),
                           ("eth.pcap", "02:00:00:00:00:07", "02:00:00:00:00:08"),
                           ("eth.pcap", "00:00:00:00:00:00", "00:00:00:00:00:00")], key=str)
    for name in ("any", "raw"):
        ours = ringcap.decode(read_pcap(tmp_path / f"{name}.pcap")).to_pandas()
        assert ours["eth_src"].isna().all()


def test_packets_of_a_link_type_ringcap_does_not_decode_come_with_null_headers(
        pcap_spark, tmp_path):
    traffic = synthetic_traffic(300, start_ns=START, seed=9)
    write_pcap(tmp_path / "user0.pcap", traffic)
    data = bytearray((tmp_path / "user0.pcap").read_bytes())
    data[20:24] = (147).to_bytes(4, "little")          # LINKTYPE_USER0: bytes ringcap cannot name
    (tmp_path / "user0.pcap").write_bytes(bytes(data))
    frame = pcap_spark.read.format("pcap").option("mode", "FAILFAST").load(
        str(tmp_path / "user0.pcap"))
    rows = frame.select("ts_ns", "wirelen", "linktype", "ip_version", "ip_src").collect()
    assert sorted((r.ts_ns, r.wirelen) for r in rows) == \
        sorted(zip(traffic.ts.tolist(), traffic.wirelen.tolist()))
    assert {(r.linktype, r.ip_version, r.ip_src) for r in rows} == {(147, None, None)}


def test_bad_options_say_what_to_do(pcap_spark, capture_files):
    reader = pcap_spark.read.format("pcap")
    for option, value, message in (("columns", "ts,nope", "unknown column"),
                                   ("mode", "LENIENT", "give PERMISSIVE"),
                                   ("maxPartitionBytes", "-1", "positive whole number"),
                                   ("minPartitions", "none", "positive whole number"),
                                   ("filter", "tcp port", "invalid capture filter"),
                                   ("filter", "ether host 02:00:00:00:00:01",
                                    "raw.pcap: the filter cannot apply to its packets")):
        with pytest.raises(Exception, match=message):
            reader.option(option, value).load(str(capture_files / "raw.pcap")).collect()
        reader = pcap_spark.read.format("pcap")
    with pytest.raises(Exception, match="no files match"):
        reader.load(str(capture_files / "*.nothing")).collect()


# ---------------------------------------------------------------- splits
def crc_rows(batch: Batch) -> list[tuple]:
    return sorted(zip(batch.ts.tolist(), batch.caplen.tolist(),
                      [zlib.crc32(p) for p in batch.packets()]))


@pytest.mark.parametrize("format", ["pcap", "pcapng"])
def test_small_partitions_of_a_large_file_lose_and_duplicate_nothing(pcap_spark, tmp_path,
                                                                     format):
    # random payloads: plenty of bytes that look like record headers to a resync
    traffic = synthetic_traffic(12000, conversations=300, start_ns=START, span_ns=10**9,
                                seed=11, random_payload=True)
    path = tmp_path / f"big.{format}"
    write_pcap(path, traffic, format=format, nanosecond=False)
    size = os.path.getsize(path)
    frame = (pcap_spark.read.format("pcap").option("maxPartitionBytes", str(256 * 1024))
             .option("payload", "true").option("mode", "FAILFAST").load(str(path)))
    assert frame.rdd.getNumPartitions() == -(-size // (256 * 1024)) > 20
    got = sorted(tuple(r) for r in frame.selectExpr("ts_ns", "caplen", "crc32(data)").collect())
    assert got == crc_rows(read_pcap(path))


def test_small_files_are_packed_into_a_partition_per_core(pcap_spark, tmp_path):
    # Spark's maxSplitBytes: eight small files on local[2] make two tasks or so (the
    # files differ in size), not one (128 MiB per partition would pack all eight in one)
    traffic = synthetic_traffic(8000, conversations=50, start_ns=START, seed=12)
    for i in range(8):
        write_pcap(tmp_path / f"part-{i}.pcap", traffic[i * 1000:(i + 1) * 1000])
    frame = pcap_spark.read.format("pcap").option("mode", "FAILFAST").load(str(tmp_path))
    assert 2 <= frame.rdd.getNumPartitions() <= 3
    assert sorted(r.ts_ns for r in frame.select("ts_ns").collect()) == traffic.ts.tolist()
    four = (pcap_spark.read.format("pcap").option("minPartitions", "4")
            .option("mode", "FAILFAST").load(str(tmp_path)))
    assert 4 <= four.rdd.getNumPartitions() <= 5
    assert four.count() == len(traffic)


# ---------------------------------------------------------------- damage, both modes
@pytest.fixture(scope="module")
def damaged(tmp_path_factory):
    folder = tmp_path_factory.mktemp("damaged")
    traffic = synthetic_traffic(400, start_ns=START, seed=5)
    write_pcap(folder / "good.pcap", traffic)
    data = (folder / "good.pcap").read_bytes()
    records = 24 + np.cumsum(16 + traffic.caplen.astype(np.int64))
    cut = int(records[199]) + 10                      # inside record 201's header
    (folder / "truncated.pcap").write_bytes(data[:cut])
    bad = bytearray(data)
    at = int(records[99])                             # record 101's captured length
    bad[at + 8:at + 12] = (0x7FFFFFF0).to_bytes(4, "little")
    (folder / "corrupt.pcap").write_bytes(bytes(bad))
    (folder / "notes.pcap").write_text("not a capture\n")
    return folder, traffic, int(records[199]), at


def test_permissive_keeps_the_good_packets_and_reports_each_damaged_file(pcap_spark, damaged):
    folder, traffic, cut_at, bad_at = damaged
    frame = pcap_spark.read.format("pcap").load(str(folder))
    rows = frame.select("file", "ts_ns", "_corrupt").collect()
    by_file: dict = {}
    for row in rows:
        by_file.setdefault(os.path.basename(row.file), []).append(row)
    packets = {name: sorted(r.ts_ns for r in found if r._corrupt is None)
               for name, found in by_file.items()}
    assert packets == {"good.pcap": traffic.ts.tolist(), "truncated.pcap": traffic.ts[:200].tolist(),
                       "corrupt.pcap": traffic.ts[:100].tolist(), "notes.pcap": []}
    corrupt = {os.path.basename(r.file): r._corrupt for r in rows if r._corrupt is not None}
    assert set(corrupt) == {"truncated.pcap", "corrupt.pcap", "notes.pcap"}
    assert f"partial record at byte offset {cut_at}" in corrupt["truncated.pcap"]
    assert f"corrupt file at byte offset {bad_at}" in corrupt["corrupt.pcap"]
    assert "not a pcap or pcapng file" in corrupt["notes.pcap"]
    assert frame.where("_corrupt IS NOT NULL").count() == 3


@pytest.mark.parametrize("name, message", [
    ("truncated.pcap", "file ends in a partial record at byte offset"),
    ("corrupt.pcap", "corrupt file at byte offset"),
    ("notes.pcap", "not a pcap or pcapng file")])
def test_failfast_stops_with_the_file_and_offset(pcap_spark, damaged, name, message):
    folder = damaged[0]
    frame = pcap_spark.read.format("pcap").option("mode", "FAILFAST").load(str(folder / name))
    with pytest.raises(Exception) as info:
        frame.count()
    text = str(info.value)
    assert "mode FAILFAST" in text and str(folder / name) in text and message in text


def test_a_pcapng_of_two_sections_is_refused_in_parts_and_read_whole(pcap_spark, tmp_path):
    traffic = synthetic_traffic(1200, start_ns=START, seed=8)
    write_pcap(tmp_path / "a.pcapng", traffic[:600], format="pcapng")
    write_pcap(tmp_path / "b.pcapng", traffic[600:], format="pcapng")
    joined = tmp_path / "joined.pcapng"            # `cat a.pcapng b.pcapng`: two sections
    joined.write_bytes((tmp_path / "a.pcapng").read_bytes() + (tmp_path / "b.pcapng").read_bytes())
    parts = (pcap_spark.read.format("pcap").option("maxPartitionBytes", "65536")
             .option("mode", "FAILFAST").load(str(joined)))
    with pytest.raises(Exception, match="cannot be read apart; read it whole"):
        parts.count()
    whole = pcap_spark.read.format("pcap").option("mode", "FAILFAST").load(str(joined))
    assert sorted(r.ts_ns for r in whole.select("ts_ns").collect()) == traffic.ts.tolist()


# ---------------------------------------------------------------- gzip
def test_gzip_captures_are_read_whole(pcap_spark, tmp_path, capture_files):
    source = capture_files / "ringcap.pcapng"
    with open(source, "rb") as f, gzip.open(tmp_path / "a.pcapng.gz", "wb") as g:
        shutil.copyfileobj(f, g)
    packed = (tmp_path / "a.pcapng.gz").read_bytes()
    (tmp_path / "cut.pcap.gz").write_bytes(packed[:len(packed) // 2])
    frame = (pcap_spark.read.format("pcap").option("maxPartitionBytes", "65536")
             .load(str(tmp_path / "a.pcapng.gz")))
    assert frame.rdd.getNumPartitions() == 1
    got = sorted(tuple(r) for r in frame.select("ts_ns", "caplen", "interface").collect())
    batch = read_pcap(source)
    names = batch.interfaces or {}
    assert got == sorted(zip(batch.ts.tolist(), batch.caplen.tolist(),
                             [names.get(int(i)) for i in batch.ifindex]))
    cut = pcap_spark.read.format("pcap").load(str(tmp_path / "cut.pcap.gz"))
    rows = cut.select("file", "_corrupt").collect()
    damaged = [r for r in rows if r._corrupt is not None]
    assert len(damaged) == 1 and damaged[0].file == str(tmp_path / "cut.pcap.gz")
    assert str(tmp_path / "cut.pcap.gz") in damaged[0]._corrupt
    assert 0 < len(rows) - 1 < len(batch)



# ---------------------------------------------------------------- hidden until complete
class Sender(threading.Thread):
    """Keeps sending numbered test frames on an interface until stopped."""

    def __init__(self, iface, size=200):
        super().__init__(daemon=True)
        self.iface, self.size, self.seq = iface, size, 0
        self.running = True

    def run(self):
        with ringcap.TxRing(self.iface) as tx:
            while self.running:
                tx.send([make_frame(self.seq + i, self.size) for i in range(50)])
                self.seq += 50
                time.sleep(0.01)

    def stop(self):
        self.running = False
        if self.ident is not None:
            self.join()


OURS = ["ether", "proto", hex(TEST_ETHERTYPE)]


def finished(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if not n.startswith("."))


def hidden(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder) if n.startswith("."))


@pytest.mark.parametrize("stop", ["SIGINT", "SIGTERM", "-c", "-W", "SIGKILL"])
def test_hidden_until_complete_renames_the_last_file_on_every_exit(veth, tmp_path, stop):
    template = str(tmp_path / ("%s.pcap" if stop != "-c" else "c.pcap"))
    extra = {"-c": ["-c", "300"], "-W": ["-G", "1", "-W", "2"]}.get(stop, ["-G", "1"])
    cli = RingcapProcess("-i", veth.b, *extra, "--hidden-until-complete", "-w", template, *OURS)
    cli.wait_for("listening on")
    sender = Sender(veth.a)
    sender.start()
    try:
        # a file is written under its hidden name while it is open
        wait_until(lambda: hidden(tmp_path), what="the hidden file being written")
        if stop in ("-c", "-W"):
            code = cli.finish()                      # stops by itself
        else:
            if stop != "SIGKILL":
                wait_until(lambda: finished(tmp_path), what="a file renamed by rotation")
            code = cli.finish(getattr(signal, stop))
    finally:
        sender.stop()
    names, partial = finished(tmp_path), hidden(tmp_path)
    if stop == "SIGKILL":
        assert code == -signal.SIGKILL
        assert len(partial) == 1 and partial[0].endswith(".inprogress")
        assert all(len(read_pcap(tmp_path / n)) for n in names)
        return
    assert code == 0, cli.err
    assert partial == [] and names
    seqs = [frame_seq(p) for n in names for p in read_pcap(tmp_path / n).packets()]
    assert seqs == sorted(set(seqs))                 # in order, none twice
    captured = int(cli.err.split(" packets captured")[0].rsplit("\n", 1)[-1].strip())
    assert len(seqs) == captured
    if stop == "-c":
        assert names == ["c.pcap"] and captured == 300
    if stop == "-W":
        assert len(names) == 2


def test_capture_to_file_hidden_until_complete(veth, tmp_path):
    path = tmp_path / "api.pcap"
    result = {}
    thread = threading.Thread(target=lambda: result.update(summary=ringcap.capture_to_file(
        veth.b, str(path), count=100, hidden_until_complete=True, signals=False)))
    thread.start()
    sender = Sender(veth.a)
    try:
        wait_until(lambda: hidden(tmp_path), what="the hidden file being written")
        assert not path.exists()
        sender.start()
        thread.join(DEADLINE)
    finally:
        sender.stop()
    assert not thread.is_alive() and result["summary"].packets == 100
    assert finished(tmp_path) == ["api.pcap"] and hidden(tmp_path) == []
    assert len(read_pcap(path)) == 100


def test_hidden_until_complete_needs_a_file(tmp_path):
    out = subprocess.run([sys.executable, "-m", "ringcap", "-i", "lo",
                          "--hidden-until-complete", "-w", "-"], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": os.path.dirname(
                             os.path.dirname(ringcap.__file__))})
    assert out.returncode == 2 and "give -w a file name" in out.stderr, out.stderr


# ---------------------------------------------------------------- streaming
def test_streaming_query_sees_exactly_the_packets_of_the_finished_files(pcap_spark, veth,
                                                                          tmp_path):
    folder = tmp_path / "stream"
    folder.mkdir()
    cli = RingcapProcess("-i", veth.b, "-G", "2", "--hidden-until-complete", "-w",
                         f"{folder}/%s.pcap", *OURS)
    cli.wait_for("listening on")
    seen: list = []
    lock = threading.Lock()

    def collect(frame, batch_id):
        rows = frame.select("file", "ts_ns", "caplen", "_corrupt").collect()
        with lock:
            seen.extend(rows)

    query = (pcap_spark.readStream.format("pcap").option("columns", "caplen")
             .load(str(folder)).writeStream.foreachBatch(collect)
             .trigger(processingTime="1 second").start())
    sender = Sender(veth.a)
    sender.start()
    try:
        wait_until(lambda: len({r.file for r in list(seen)}) >= 2, timeout=DEADLINE * 2,
                   what="the query to read two finished files")
        # while ringcap writes: only files that were complete were read, each whole
        with lock:
            so_far = list(seen)
        for name in {r.file for r in so_far}:
            assert not os.path.basename(name).startswith(".")
            assert len([r for r in so_far if r.file == name]) == len(read_pcap(name))
    finally:
        sender.stop()
    assert cli.finish(signal.SIGINT) == 0, cli.err
    try:
        query.processAllAvailable()
    finally:
        query.stop()
    assert hidden(folder) == []
    want = sorted((str(folder / n), int(t), int(c)) for n in finished(folder)
                  for t, c in zip(read_pcap(folder / n).ts, read_pcap(folder / n).caplen))
    assert all(r._corrupt is None for r in seen)
    assert sorted((r.file, r.ts_ns, r.caplen) for r in seen) == want
    assert len(finished(folder)) >= 3


def test_streaming_offsets_stay_bounded_and_each_file_is_read_once(tmp_path):
    # 30 minutes of a capture rotated twice a minute: the offset keeps a high-water mark
    # and the files within maxFileAge of the newest, not every file ever seen
    from ringcap.spark.source import PcapStreamReader, spark_schema
    traffic = synthetic_traffic(20, start_ns=START, seed=21)
    options = {"path": str(tmp_path), "maxFileAge": "60s"}
    reader = PcapStreamReader(options, spark_schema(Options.parse(options)))
    offset = reader.initialOffset()
    written, read = [], []

    def put(name: str, mtime_ns: int) -> str:
        path = tmp_path / name
        write_pcap(path, traffic)
        os.utime(path, ns=(mtime_ns, mtime_ns))
        return str(path)

    def step() -> list[str]:
        nonlocal offset
        end = json.loads(json.dumps(reader.latestOffset(offset)))   # as Spark keeps it
        new = [split.path for part in reader.partitions(offset, end) for split in part.splits]
        offset = end
        return new

    for minute in range(30):
        for k in range(2):
            written.append(put(f"{minute:03d}-{k}.pcap", START + minute * 60 * 10**9 + k))
        read += step()
        assert len(offset["files"]) <= 4, offset     # this minute's files and the last's
    assert step() == []
    assert sorted(read) == sorted(written)           # each file once, none lost
    # a file that shows up late: read if within maxFileAge of the newest, else taken as done
    newest = START + 29 * 60 * 10**9
    recent = put("late-recent.pcap", newest - 30 * 10**9)
    put("late-old.pcap", newest - 3600 * 10**9)
    assert step() == [recent]
    assert step() == []
    with pytest.raises(ValueError, match="give a positive duration"):
        Options.parse({"maxFileAge": "soon"})


# ---------------------------------------------------------------- flows
def test_flows_equal_flows_and_flow_features_across_files_and_partitions(pcap_spark, tmp_path):
    traffic = synthetic_traffic(6000, conversations=50, start_ns=START, span_ns=30 * 10**9,
                                seed=17)
    # distinct times, so "the first packet" of a flow is the same in any order
    traffic.ts[:] = START + np.arange(len(traffic), dtype=np.int64) * 5_000_003
    merged = tmp_path / "merged.pcap"
    write_pcap(merged, traffic)
    parts = tmp_path / "parts"
    parts.mkdir()
    for i, start in enumerate(range(0, len(traffic), 1700)):     # flows cross the files
        write_pcap(parts / f"p{i}.pcapng", traffic[start:start + 1700], format="pcapng")
    packets = (pcap_spark.read.format("pcap").option("maxPartitionBytes", str(200 * 1024))
               .load(str(parts)))
    assert packets.rdd.getNumPartitions() > 4
    flows = ringcap.spark.flows(packets).toArrow()
    got = {name: flows[name].to_pylist() for name in flows.column_names}

    batch = read_pcap(merged)
    table = ringcap.flows(batch)
    records = ringcap.flow_features(batch, idle_timeout=None, active_timeout=None,
                                     names=False)
    assert flows.num_rows == len(table) == len(records) == 50
    key = list(zip(ip_strings(records["ip_src"]), records["sport"].tolist(),
                   ip_strings(records["ip_dst"]), records["dport"].tolist()))
    position = {k: i for i, k in enumerate(zip(got["ip_src"], got["sport"], got["ip_dst"],
                                               got["dport"]))}
    rows = [position[k] for k in key]          # each record's row, by its key and direction
    compared = 0
    for name in records.names:
        if name in ringcap.flowmeter.NAME_COLUMNS:
            continue                  # application names: not in spark.flows yet
        if name in ("ip_src", "ip_dst", "flow_hash", "expiration_id", "vlan_outer",
                    "vlan_inner", "tcp_server_rtt_ns", "tcp_client_rtt_ns") \
                or name.endswith("_retransmissions"):
            continue
        want = records[name]
        values = [got[name][i] for i in rows]
        if name.endswith("_seen"):
            values = [ringcap.flowmeter.NO_TIMESTAMP if v is None else v for v in values]
        if want.dtype.kind == "f":
            np.testing.assert_allclose(np.array(values, dtype=float), want, rtol=1e-9,
                                       atol=1e-6, err_msg=name)
        else:
            assert values == want.astype(np.int64).tolist(), name
        compared += 1
    assert compared == 72             # every statistic but the order- and TCP-state-dependent ones
    order = {k: i for i, k in enumerate(zip(ip_strings(table.ip_src), table.sport.tolist(),
                                            ip_strings(table.ip_dst), table.dport.tolist()))}
    mine = [order[k] for k in key]
    for name, theirs in (("src2dst_tcp_flags", table.tcp_flags_fwd),
                         ("dst2src_tcp_flags", table.tcp_flags_rev),
                         ("bidirectional_bytes", table.bytes),
                         ("bidirectional_first_seen", table.first_ts),
                         ("bidirectional_last_seen", table.last_ts)):
        assert [got[name][i] for i in rows] == theirs[mine].astype(np.int64).tolist(), name


@pytest.fixture(scope="module")
def recorded_names(netns, tmp_path_factory):
    """DNS, HTTP and TLS of real programs (tests/recorded.py), recorded in the session's
    namespace."""
    import recorded
    missing = recorded.missing_tools(("dns", "http", "tls"))
    if missing:
        pytest.fail(f"recording needs {missing} (.ci/apt-packages)")
    path = tmp_path_factory.mktemp("recorded") / "names.pcap"
    return recorded.record(path, programs=("dns", "http", "tls"))


def test_flows_names_equal_flow_features_on_recorded_traffic(pcap_spark, recorded_names,
                                                             tmp_path):
    batch = read_pcap(recorded_names)
    parts = tmp_path / "parts"
    parts.mkdir()
    step = -(-len(batch) // 3)                 # flows cross the files
    for i in range(3):
        write_pcap(parts / f"p{i}.pcapng", batch[i * step:(i + 1) * step], format="pcapng")
    packets = (pcap_spark.read.format("pcap").option("mode", "FAILFAST")
               .option("columns", ",".join(ringcap.spark.FLOW_PACKET_COLUMNS)).load(str(parts)))
    flows = ringcap.spark.flows(packets).toArrow()
    got = {name: flows[name].to_pylist() for name in flows.column_names}
    records = ringcap.flow_features(batch, idle_timeout=None, active_timeout=None)
    assert flows.num_rows == len(records)
    key = list(zip(ip_strings(records["ip_src"]), records["sport"].tolist(),
                   ip_strings(records["ip_dst"]), records["dport"].tolist(),
                   records["ip_proto"].tolist()))
    position = {k: i for i, k in enumerate(zip(got["ip_src"], got["sport"], got["ip_dst"],
                                               got["dport"], got["ip_proto"]))}
    rows = [position[k] for k in key]
    for name in ringcap.flowmeter.NAME_COLUMNS:
        want = [None if v is None else (int(v) if name == "dns_queries" else v)
                for v in records[name].tolist()]
        assert [got[name][i] for i in rows] == want, name
    # the recording has every kind of name
    servers = set(records["server_name"].tolist())
    assert "tls.example.test" in servers and any(s and s.endswith("example.test")
                                                 for s in servers - {"tls.example.test"})
    assert any(v for v in records["user_agent"].tolist())
    assert any(v for v in records["client_fingerprint"].tolist())
    assert int(records["dns_queries"].sum()) >= 4
    # without the application columns, the records have no names (the default columns)
    plain = ringcap.spark.flows(pcap_spark.read.format("pcap").load(str(parts)))
    assert "server_name" not in plain.columns
    with pytest.raises(ValueError, match="FLOW_PACKET_COLUMNS"):
        ringcap.spark.flows(pcap_spark.read.format("pcap").load(str(parts)), names=True)
