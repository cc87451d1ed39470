"""Parquet datasets: ParquetSink and FlowSink, read back by pyarrow, DuckDB and Spark."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import ringcap
from conftest import RingcapProcess, Tap
from ringcap import Batch, FlowSink, ParquetSink
from ringcap.appcolumns import APP_COLUMNS
from ringcap.headers import FLOW_COLUMNS, HEADER_COLUMNS, NO_TIMESTAMP
from ringcap.sinks.parquet import (DEFAULT_PACKET_COLUMNS, FRAME_OFFSET_COLUMNS, NOT_BY_DEFAULT,
                                   PACKET_COLUMNS, HivePartitions, merge_flow_tables)
from ringcap.testing import synthetic_traffic

duckdb = pytest.importorskip("duckdb")

HOUR = 3600 * 10**9
# 2023-11-14 22:00:00 UTC: an hour boundary.
BOUNDARY = 1_699_999_200 * 10**9
PACKAGE_ROOT = os.path.dirname(os.path.dirname(ringcap.__file__))


def with_ts_ns(columns) -> list[str]:
    """A dataset's column names: ``ts_ns`` follows ``ts`` (the default µs unit)."""
    columns = list(columns)
    return columns[:1] + ["ts_ns"] + columns[1:] if columns[:1] == ["ts"] else columns


def traffic(count=20000, *, start=BOUNDARY - 30 * 10**9, span=60 * 10**9, seed=0, **kw):
    """Synthetic conversations with strictly increasing timestamps (so rows sort exactly)."""
    batch = synthetic_traffic(count, seed=seed, **kw)
    batch.ts[:] = start + np.arange(count, dtype=np.int64) * (span // count)
    return batch


def write(sink, batch, step=1500):
    for start in range(0, len(batch), step):
        sink.write(batch[start:start + step])
    return sink.close()


def dataset_files(root):
    """(finished .parquet files, every other file) under root."""
    done, other = [], []
    for folder, _, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            (done if name.endswith(".parquet") and not name.startswith(".") else other).append(path)
    return sorted(done), sorted(other)


def duck(query: str):
    with duckdb.connect() as con:
        return con.sql(query).fetchall()


def glob(root) -> str:
    return f"read_parquet('{root}/**/*.parquet', hive_partitioning = true)"


# One conversation per row whichever way its packets went: the endpoints in byte order.
CONVERSATIONS_SQL = """
SELECT CASE WHEN ip_src < ip_dst OR (ip_src = ip_dst AND sport <= dport) THEN ip_src ELSE ip_dst END AS a_ip,
       CASE WHEN ip_src < ip_dst OR (ip_src = ip_dst AND sport <= dport) THEN sport ELSE dport END AS a_port,
       CASE WHEN ip_src < ip_dst OR (ip_src = ip_dst AND sport <= dport) THEN ip_dst ELSE ip_src END AS b_ip,
       CASE WHEN ip_src < ip_dst OR (ip_src = ip_dst AND sport <= dport) THEN dport ELSE sport END AS b_port,
       ip_proto, count(*) AS packets, sum(wirelen) AS bytes
FROM {source} WHERE ip_version <> 0 GROUP BY ALL
"""


def expected_conversations(batch) -> dict:
    table = ringcap.flows(batch)
    out = {}
    for i in range(len(table)):
        a = (bytes(table.ip_src[i]), int(table.sport[i]))
        b = (bytes(table.ip_dst[i]), int(table.dport[i]))
        lo, hi = (a, b) if a <= b else (b, a)
        out[(lo[0], lo[1], hi[0], hi[1], int(table.ip_proto[i]))] = (
            int(table.packets[i]), int(table.bytes[i]))
    return out


def as_conversations(rows) -> dict:
    return {(bytes(r[0]), int(r[1]), bytes(r[2]), int(r[3]), int(r[4])): (int(r[5]), int(r[6]))
            for r in rows}


# ---------------------------------------------------------------- packets
def test_packet_dataset_holds_every_column_and_duckdb_reads_it(tmp_path):
    batch = traffic(20000)
    root = tmp_path / "ds"
    summary = write(ParquetSink(root, worker=3, host="probe-1"), batch)
    files, others = dataset_files(root)
    assert others == [] and summary.packets == 20000 and list(summary.files) == files
    assert [os.path.relpath(f, root) for f in files] == [
        "date=2023-11-14/hour=21/part-probe-1-3-000000.parquet",
        "date=2023-11-14/hour=22/part-probe-1-3-000001.parquet"]
    assert all(os.stat(f).st_mode & 0o777 == 0o600 for f in files)

    table = pa.concat_tables([pq.read_table(f) for f in files])
    # ts in µs (what Spark reads with no settings), the exact nanoseconds beside it
    assert table.schema.field("ts").type == pa.timestamp("us", tz="UTC")
    assert table.column_names == with_ts_ns(DEFAULT_PACKET_COLUMNS)
    assert np.array_equal(table["ts"].cast(pa.int64()).to_numpy(), batch.ts // 1000)
    assert np.array_equal(table["ts_ns"].to_numpy(), batch.ts)
    assert table["host"].type == pa.dictionary(pa.int32(), pa.string())
    assert set(table["host"].to_pylist()) == {"probe-1"}
    assert set(table["interface"].to_pylist()) == {None}      # no interface named
    for name in ("caplen", "wirelen", "ifindex", "pkttype"):
        assert np.array_equal(table[name].to_numpy(), getattr(batch, name)), name
    headers = ringcap.decode(batch)
    decoded = [name for name in headers.names if name not in NOT_BY_DEFAULT]
    assert decoded == [name for name in table.column_names if name in HEADER_COLUMNS]
    for name in decoded:
        width = HEADER_COLUMNS[name][1]
        got = table[name]
        if width > 1:
            got = np.frombuffer(b"".join(got.to_pylist()), dtype=np.uint8).reshape(-1, width)
        else:
            got = got.to_numpy(zero_copy_only=False)
        assert np.array_equal(got, headers[name]), name

    rows = duck(f"SELECT date::VARCHAR, hour, count(*), min(ts) >= TIMESTAMP '2023-11-14 22:00:00' "
                f"FROM {glob(root)} GROUP BY ALL ORDER BY ALL")
    before = int(np.count_nonzero(batch.ts < BOUNDARY))
    assert rows == [("2023-11-14", 21, before, False), ("2023-11-14", 22, 20000 - before, True)]
    got = as_conversations(duck(CONVERSATIONS_SQL.format(source=glob(root))))
    assert got == expected_conversations(batch)


def test_a_batch_spanning_an_hour_boundary_splits_exactly_there(tmp_path):
    batch = traffic(4000, start=BOUNDARY - 2 * 10**6, span=4 * 10**6)      # 4 ms around it
    sink = ParquetSink(tmp_path, worker=0, host="h")
    sink.write(batch)                                                      # one batch
    # the new hour's packets finished the old hour's file, before close()
    assert [os.path.relpath(f, tmp_path) for f in sink.files] == [
        "date=2023-11-14/hour=21/part-h-0-000000.parquet"]
    sink.close()
    files, _ = dataset_files(tmp_path)
    assert len(files) == 2
    early, late = (pq.read_table(f)["ts_ns"].to_numpy() for f in files)
    assert "hour=21" in files[0] and "hour=22" in files[1]
    assert early.max() < BOUNDARY <= late.min()
    assert np.array_equal(np.concatenate([early, late]), batch.ts)


def test_partition_choices(tmp_path):
    batch = traffic(3000, start=BOUNDARY - 90 * 10**9, span=180 * 10**9)
    write(ParquetSink(tmp_path / "d", partition_by=("date",), worker=0, host="h"), batch)
    write(ParquetSink(tmp_path / "m", partition_by=("date", "hour", "minute"), worker=0), batch)
    write(ParquetSink(tmp_path / "n", partition_by=(), rotate_rows=1000, worker=0), batch)
    assert [os.path.relpath(f, tmp_path) for f in dataset_files(tmp_path / "d")[0]] == [
        "d/date=2023-11-14/part-h-0-000000.parquet"]
    minutes = [os.path.relpath(os.path.dirname(f), tmp_path / "m")
               for f in dataset_files(tmp_path / "m")[0]]
    assert minutes == ["date=2023-11-14/hour=21/minute=58", "date=2023-11-14/hour=21/minute=59",
                       "date=2023-11-14/hour=22/minute=00", "date=2023-11-14/hour=22/minute=01"]
    assert len(dataset_files(tmp_path / "n")[0]) == 3
    assert duck(f"SELECT count(*) FROM read_parquet('{tmp_path}/n/*.parquet')") == [(3000,)]
    with pytest.raises(ValueError, match="partition_by must be"):
        ParquetSink(tmp_path / "x", partition_by=("hour",))
    assert HivePartitions().folder(BOUNDARY // HOUR) == "date=2023-11-14/hour=22"


def test_rotation_by_rows_and_by_aligned_seconds(tmp_path):
    batch = traffic(10000, start=BOUNDARY + 10**9, span=50 * 10**9)         # 22:00:01 - 22:00:51
    write(ParquetSink(tmp_path / "rows", rotate_rows=3000, worker=0), batch, step=700)
    sizes = [pq.read_metadata(f).num_rows for f in dataset_files(tmp_path / "rows")[0]]
    assert sizes == [3000, 3000, 3000, 1000]

    write(ParquetSink(tmp_path / "secs", rotate_seconds=20, worker=0), batch, step=700)
    spans = []
    for f in dataset_files(tmp_path / "secs")[0]:
        ts = pq.read_table(f)["ts_ns"].to_numpy()
        spans.append(((int(ts.min()) - BOUNDARY) // 10**9, (int(ts.max()) - BOUNDARY) // 10**9))
    assert spans == [(1, 19), (20, 39), (40, 50)]          # :00-:20, :20-:40, :40-:60


def test_row_groups_columns_payload_and_stats(tmp_path):
    batch = traffic(5000)
    batch = batch[batch.ts >= BOUNDARY]
    sink = ParquetSink(tmp_path, columns=["ts", "wirelen", "ip_proto", "sport", "dport"],
                       include_payload=True, row_group_rows=1000, worker=0)
    for start in range(0, len(batch), 333):
        sink.write(batch[start:start + 333])
    stats = ringcap.Stats(packets=len(batch) + 7, drops=7, delivered=len(batch))
    sink.close(stats)
    [path] = dataset_files(tmp_path)[0]
    meta = pq.read_metadata(path)
    assert [meta.row_group(i).num_rows for i in range(meta.num_row_groups)] == \
        [1000] * (len(batch) // 1000) + ([len(batch) % 1000] if len(batch) % 1000 else [])
    assert json.loads(meta.metadata[b"ringcap.stats"]) == {
        "packets": len(batch) + 7, "drops": 7, "freeze_count": 0, "delivered": len(batch),
        "if_drops": 0, "backlog_drops": 0}
    table = pq.read_table(path)
    assert table.column_names == ["ts", "ts_ns", "wirelen", "ip_proto", "sport", "dport", "data"]
    assert table["data"].to_pylist() == batch.packets()
    # the frame bytes also bound a row group
    write(ParquetSink(tmp_path / "small", include_payload=True, row_group_bytes=100_000,
                      worker=0, columns=["ts"]), batch)
    meta = pq.read_metadata(dataset_files(tmp_path / "small")[0][0])
    groups = [meta.row_group(i).num_rows for i in range(meta.num_row_groups)]
    assert sum(groups) == len(batch) and len(groups) > 5
    # every column the decoder has, tunnels and TCP options included
    write(ParquetSink(tmp_path / "all", columns="all", worker=0), batch)
    table = pq.read_table(dataset_files(tmp_path / "all")[0][0])
    assert table.column_names == with_ts_ns(c for c in PACKET_COLUMNS
                                            if c != "data" and c not in APP_COLUMNS)
    headers = ringcap.decode(batch, columns="all")
    assert np.array_equal(table["tcp_options"].to_numpy(), headers["tcp_options"])


def test_default_columns_leave_out_metadata_and_offsets_and_columns_bring_them_back(tmp_path):
    batch = traffic(3000)
    batch = batch[batch.ts >= BOUNDARY]
    assert set(NOT_BY_DEFAULT) == {"protocol", "vlan_tci", "vlan_tpid", "rxhash", "status",
                                   "l3_offset", "l4_offset", "payload_offset"}
    assert not set(NOT_BY_DEFAULT) & set(DEFAULT_PACKET_COLUMNS)
    assert len(DEFAULT_PACKET_COLUMNS) == 35
    assert "linktype" in DEFAULT_PACKET_COLUMNS     # what the frame bytes are: tiny, essential
    write(ParquetSink(tmp_path / "default", worker=0), batch)
    table = pq.read_table(dataset_files(tmp_path / "default")[0][0])
    assert table.column_names == with_ts_ns(DEFAULT_PACKET_COLUMNS)
    # the offsets index the frame bytes: with them, they are part of the default
    write(ParquetSink(tmp_path / "frames", worker=0, include_payload=True), batch)
    table = pq.read_table(dataset_files(tmp_path / "frames")[0][0])
    assert [c for c in table.column_names if c in NOT_BY_DEFAULT] == list(FRAME_OFFSET_COLUMNS)
    assert table["data"].to_pylist() == batch.packets()
    headers = ringcap.decode(batch)
    for name in FRAME_OFFSET_COLUMNS:
        assert np.array_equal(table[name].to_numpy(), headers[name]), name
    # and columns= (or "all") brings back any of the others, with their values
    wanted = ["ts", "protocol", "vlan_tci", "rxhash", "status", "l4_offset"]
    write(ParquetSink(tmp_path / "chosen", worker=0, columns=wanted), batch)
    table = pq.read_table(dataset_files(tmp_path / "chosen")[0][0])
    assert table.column_names == with_ts_ns(wanted)
    for name in ("protocol", "vlan_tci", "rxhash", "status"):
        assert np.array_equal(table[name].to_numpy(), getattr(batch, name)), name
    assert np.array_equal(table["l4_offset"].to_numpy(), headers["l4_offset"])


def test_packet_columns_are_required_and_row_groups_carry_ts_statistics(tmp_path):
    batch = traffic(5000)
    batch = batch[batch.ts >= BOUNDARY]
    write(ParquetSink(tmp_path, row_group_rows=1000, worker=0), batch)
    [path] = dataset_files(tmp_path)[0]
    meta = pq.read_metadata(path)
    schema = meta.schema
    # no column but interface (null when unknown) can be null: every other one is
    # REQUIRED, none needs definition levels
    names = with_ts_ns(DEFAULT_PACKET_COLUMNS)
    assert [schema.column(i).max_definition_level for i in range(len(schema))] == \
        [int(name == "interface") for name in names]
    assert [f.name for f in pq.read_schema(path) if f.nullable] == ["interface"]
    # DuckDB and Spark skip row groups by ts: each row group has its exact min/max
    for i in range(meta.num_row_groups):
        column = meta.row_group(i).column(0)
        assert column.path_in_schema == "ts" and column.statistics.has_min_max
        rows = batch.ts[i * 1000:(i + 1) * 1000]
        assert (column.statistics.min_raw, column.statistics.max_raw) == \
            (int(rows.min()) // 1000, int(rows.max()) // 1000)
    # encodings as docs/datasets.md gives them; min/max on every column but the
    # addresses (MAC, IP, IPv4) and the host/interface labels
    group = meta.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    for name in ("ts", "ts_ns", "caplen", "wirelen", "ip_len", "payload_len"):
        assert "DELTA_BINARY_PACKED" in columns[name].encodings, name
    for name in ("tcp_seq", "tcp_ack", "flags", "vlan_outer", "eth_src", "eth_dst", "ipv4_src",
                 "ipv4_dst", "sport", "dport", "tcp_window"):
        assert "PLAIN" in columns[name].encodings, name
        assert "RLE_DICTIONARY" not in columns[name].encodings, name
    for name in ("ip_src", "ip_dst", "ip_proto", "ethertype", "ttl", "tcp_flags", "host",
                 "interface"):
        assert "RLE_DICTIONARY" in columns[name].encodings, name
    assert sorted(name for name, column in columns.items() if not column.is_stats_set) == \
        ["eth_dst", "eth_src", "host", "interface", "ip_dst", "ip_src", "ipv4_dst", "ipv4_src"]
    sport = ringcap.decode(batch[:1000], columns=["sport"])["sport"]
    assert (columns["sport"].statistics.min, columns["sport"].statistics.max) == \
        (int(sport.min()), int(sport.max()))


def _varint(buf, pos):
    value = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _thrift_struct(buf, pos, keep=None):
    """Skip (or read, into ``keep``: {field id: int}) one Thrift compact struct."""
    field = 0
    while True:
        head = buf[pos]
        pos += 1
        if head == 0:
            return pos
        kind, delta = head & 0x0F, head >> 4
        if delta:
            field += delta
        else:
            raw, pos = _varint(buf, pos)
            field = (raw >> 1) ^ -(raw & 1)
        pos = _thrift_value(buf, pos, kind, keep, field)


def _thrift_value(buf, pos, kind, keep=None, field=None):
    if kind in (1, 2):                                   # bool in the field header
        return pos
    if kind == 3:
        return pos + 1
    if kind in (4, 5, 6):                                # zigzag varints
        raw, pos = _varint(buf, pos)
        if keep is not None:
            keep[field] = (raw >> 1) ^ -(raw & 1)
        return pos
    if kind == 7:
        return pos + 8
    if kind == 8:
        size, pos = _varint(buf, pos)
        return pos + size
    if kind in (9, 10):                                  # list, set
        head = buf[pos]
        pos += 1
        size = head >> 4
        if size == 15:
            size, pos = _varint(buf, pos)
        for _ in range(size):
            pos = _thrift_value(buf, pos, head & 0x0F)
        return pos
    if kind == 12:
        inner = {} if keep is not None else None
        pos = _thrift_struct(buf, pos, inner)
        if keep is not None:
            keep[field] = inner
        return pos
    raise AssertionError(f"Thrift type {kind} not expected in a page header")


def data_pages(path, column: str) -> list[tuple[int, int]]:
    """(rows, bytes before compression) of each data page of ``column`` in row group 0,
    read from the page headers (pyarrow's metadata does not count pages)."""
    meta = pq.read_metadata(path).row_group(0)
    chunk = next(meta.column(i) for i in range(meta.num_columns)
                 if meta.column(i).path_in_schema == column)
    start = chunk.dictionary_page_offset or chunk.data_page_offset
    with open(path, "rb") as f:
        f.seek(start)
        buf = f.read(chunk.total_compressed_size)
    pages, pos = [], 0
    while pos < len(buf):
        header = {}
        pos = _thrift_struct(buf, pos, header)
        if header[1] == 0:                               # DATA_PAGE: num_values is field 1
            pages.append((header[5][1], header[2]))
        pos += header[3]                                 # the compressed page
    return pages


def test_pages_end_by_size_not_every_20000_rows(tmp_path):
    # zstd and pyarrow cost less per page on few big pages, and files come out smaller:
    # pages end before 248 KiB of values (ringcap.sinks.parquet_layout), not at
    # pyarrow's 20,000 rows
    from ringcap.sinks.parquet_layout import PAGE_BYTES
    rows = 100_000
    batch = traffic(rows, start=BOUNDARY, span=10**9)
    write(ParquetSink(tmp_path, row_group_rows=rows, worker=0), batch, step=30_000)
    [path] = dataset_files(tmp_path)[0]
    assert pq.read_metadata(path).row_group(0).num_rows == rows
    assert data_pages(path, "ts") == [(rows, data_pages(path, "ts")[0][1])]        # delta
    assert len(data_pages(path, "ip_proto")) == 1                                  # dictionary
    for name in ("sport", "tcp_seq", "vlan_outer"):                               # PLAIN, 4 bytes
        pages = data_pages(path, name)
        assert sum(n for n, _ in pages) == rows, name
        assert [n for n, _ in pages] == [PAGE_BYTES // 4, rows - PAGE_BYTES // 4], name
        assert all(size <= 256 << 10 for _, size in pages), name
    assert pq.read_table(path)["sport"].to_numpy().tolist() == \
        ringcap.decode(batch, columns=["sport"])["sport"].tolist()


def test_writing_packets_and_flows_imports_no_pandas(tmp_path):
    # pa.array() imports pandas (0.3-0.6 s of CPU and some 50 MB on a capture's first
    # row group): the sink hands Arrow its numpy columns with pa.Array.from_buffers
    code = textwrap.dedent(f"""
        import sys
        import ringcap
        from ringcap.testing import synthetic_traffic
        batch = synthetic_traffic(3000, seed=2)
        sink = ringcap.ParquetSink({str(tmp_path)!r}, worker=0,
                                   interface={{int(batch.ifindex[0]): "eth9"}})
        sink.write(batch)
        sink.close()
        flows = ringcap.FlowSink({str(tmp_path / "flows")!r}, worker=0)
        flows.write(batch)
        flows.close()
        print(sorted(name for name in sys.modules if name.split(".")[0] == "pandas"))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    packets = [f for f in dataset_files(tmp_path)[0] if "/flows/" not in f]
    table = pq.read_table(packets[0])
    assert table.num_rows == 3000 and set(table["interface"].to_pylist()) == {"eth9"}
    flow_files = dataset_files(tmp_path / "flows")[0]
    flows = pa.concat_tables([pq.read_table(f) for f in flow_files])
    non_ip = sum(int(pq.read_metadata(f).metadata.get(b"ringcap.non_ip_packets", b"0"))
                 for f in flow_files)
    assert int(flows["packets"].to_numpy().sum()) + non_ip == 3000
    assert flows["first_ts"].null_count == 0 and flows["ip_src"].type == pa.binary(16)


def test_bad_arguments_say_what_to_do(tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="unknown column.*'nope'"):
        ParquetSink(tmp_path, columns=["ts", "nope"])
    with pytest.raises(ValueError, match="needs the ts column"):
        ParquetSink(tmp_path, columns=["sport"])
    with pytest.raises(ValueError, match="compression 'lzma'"):
        ParquetSink(tmp_path, compression="lzma")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError, match="is a file"):
        ParquetSink(tmp_path / "file")
    with pytest.raises(NotADirectoryError):
        ParquetSink(tmp_path / "file" / "below")
    with pytest.raises(ValueError, match="divides the partition unit"):
        FlowSink(tmp_path, interval=7)
    with pytest.raises(ValueError, match="do not apply"):
        FlowSink(tmp_path, rotate_rows=10)
    with pytest.raises(ValueError, match="host must be a non-empty string"):
        ParquetSink(tmp_path, host="")
    with pytest.raises(TypeError, match=r"interface must be a name or a mapping"):
        ParquetSink(tmp_path, interface=5)
    with pytest.raises(ValueError, match="timestamp_unit must be 'us'"):
        ParquetSink(tmp_path, timestamp_unit="ps")
    (tmp_path / "a-file").write_bytes(b"")
    out = run_cli("names", "--export", tmp_path / "a-file")
    assert out.returncode == 1 and "it is a file; give a folder" in out.stderr
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    with pytest.raises(ImportError, match=r"pip install 'ringcap\[parquet\]'"):
        ParquetSink(tmp_path)


def test_core_imports_without_pyarrow():
    code = ("import sys; sys.modules['pyarrow'] = None; import ringcap; "
            "print(ringcap.ParquetSink.__name__)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONPATH": PACKAGE_ROOT}, cwd="/")
    assert out.returncode == 0 and out.stdout.strip() == "ParquetSink", out.stderr


def test_names_of_earlier_runs_are_never_reused(tmp_path):
    batch = traffic(1000, start=BOUNDARY, span=10**9)
    first = write(ParquetSink(tmp_path, worker=0, host="h"), batch).files
    second = write(ParquetSink(tmp_path, worker=0, host="h"), batch).files
    assert [os.path.basename(f) for f in first + second] == [
        "part-h-0-000000.parquet", "part-h-0-000001.parquet"]
    assert duck(f"SELECT count(*) FROM {glob(tmp_path)}") == [(2000,)]


# ---------------------------------------------------------------- flows
def test_merged_flow_tables_equal_flows_of_all_packets():
    batch = synthetic_traffic(30000, conversations=300, seed=5)
    whole = ringcap.flows(batch).columns()
    rng = np.random.default_rng(1)
    cuts = np.sort(rng.choice(np.arange(1, len(batch)), 40, replace=False))
    parts = [ringcap.flows(part).columns()
             for part in (batch[a:b] for a, b in zip([0, *cuts], [*cuts, len(batch)]))]
    merged = merge_flow_tables(parts)
    for name in FLOW_COLUMNS:
        assert np.array_equal(merged[name], whole[name]), name


def test_flow_dataset_per_interval_equals_flows_of_each_interval(tmp_path):
    batch = traffic(30000, start=BOUNDARY - 25 * 10**9, span=50 * 10**9, seed=2)
    write(FlowSink(tmp_path, interval=10, worker=0), batch, step=999)
    files, others = dataset_files(tmp_path)
    assert others == [] and len(files) == 6                       # 21:59:30 .. 22:00:25
    for path in files:
        table = pq.read_table(path)
        start = table["interval_start"].cast(pa.int64()).to_numpy() * 1000     # µs
        assert (start == start[0]).all()
        inside = batch[(batch.ts >= start[0]) & (batch.ts < start[0] + 10 * 10**9)]
        expected = ringcap.flows(inside)
        assert table.num_rows == len(expected)
        for name in ("packets", "bytes", "packets_rev", "sport", "dport", "ip_proto"):
            assert np.array_equal(table[name].to_numpy(),
                                  getattr(expected, name).astype(np.int64)), name
        first_rev = table["first_ts_rev"].cast(pa.int64()).to_numpy(zero_copy_only=False)
        assert table["first_ts_rev"].null_count == int(np.count_nonzero(
            expected.first_ts_rev == NO_TIMESTAMP))
        assert json.loads(pq.read_metadata(path).metadata[b"ringcap.non_ip_packets"]) == \
            expected.skipped
        del first_rev
        # the µs timestamps floor the exact nanoseconds kept beside them
        for name in ("first_ts", "last_ts"):
            assert np.array_equal(table[f"{name}_ns"].to_numpy(),
                                  getattr(expected, name).astype(np.int64)), name
            assert np.array_equal(table[name].cast(pa.int64()).to_numpy(),
                                  getattr(expected, name).astype(np.int64) // 1000), name
    # summed over the intervals: what flows() says of all the packets
    rows = duck(f"""
        SELECT CASE WHEN ip_src < ip_dst OR (ip_src = ip_dst AND sport <= dport) THEN ip_src ELSE ip_dst END,
               CASE WHEN ip_src < ip_dst OR (ip_src = ip_dst AND sport <= dport) THEN sport ELSE dport END,
               CASE WHEN ip_src < ip_dst OR (ip_src = ip_dst AND sport <= dport) THEN ip_dst ELSE ip_src END,
               CASE WHEN ip_src < ip_dst OR (ip_src = ip_dst AND sport <= dport) THEN dport ELSE sport END,
               ip_proto, sum(packets), sum(bytes)
        FROM {glob(tmp_path)} GROUP BY ALL""")
    assert as_conversations(rows) == expected_conversations(batch)


def test_flow_feature_dataset_holds_flow_meter_records_per_interval(tmp_path):
    batch = traffic(12000, start=BOUNDARY - 15 * 10**9, span=30 * 10**9, seed=3)
    write(FlowSink(tmp_path, interval=10, features=True, idle_timeout=5, worker=0), batch,
          step=777)
    files, others = dataset_files(tmp_path)
    assert others == [] and len(files) == 4         # :45-:50, :50-:00, :00-:10, :10-:15
    for path in files:
        table = pq.read_table(path)
        start = int(table["interval_start"].cast(pa.int64()).to_numpy()[0]) * 1000   # µs
        inside = batch[(batch.ts >= start) & (batch.ts < start + 10 * 10**9)]
        expected = ringcap.flow_features(inside, idle_timeout=5, active_timeout=None)
        assert table.num_rows == len(expected)
        order = np.lexsort((table["bidirectional_first_seen"].cast(pa.int64()).to_numpy(),
                            table["flow_hash"].to_numpy()))
        want = np.lexsort((expected["bidirectional_first_seen"],
                           expected["flow_hash"].view(np.int64)))
        for name in ("bidirectional_packets", "bidirectional_bytes", "src2dst_packets",
                     "dst2src_bytes", "bidirectional_max_ps", "src2dst_psh_packets"):
            assert table.schema.field(name).type == pa.int64()
            assert np.array_equal(table[name].to_numpy()[order],
                                  expected[name].astype(np.int64)[want]), name
        assert np.allclose(table["bidirectional_mean_piat_ns"].to_numpy()[order],
                           expected["bidirectional_mean_piat_ns"][want])
    assert duck(f"SELECT sum(bidirectional_packets) FROM {glob(tmp_path)}") == \
        [(int(ringcap.flows(batch).packets.sum()),)]
    with pytest.raises(ValueError, match="add flows=True"):
        ParquetSink(tmp_path, flow_features=True)


def test_flows_true_is_the_flow_sink(tmp_path):
    batch = traffic(2000, start=BOUNDARY, span=10**9)
    summary = write(ParquetSink(tmp_path, flows=True, flow_interval=60, worker=0), batch)
    [path] = summary.files
    assert pq.read_table(path).num_rows == len(ringcap.flows(batch))


# ---------------------------------------------------------------- a killed writer
WRITER = textwrap.dedent("""
    import sys, time
    import numpy as np
    import ringcap
    from ringcap.testing import synthetic_traffic
    root = sys.argv[1]
    batch = synthetic_traffic(40000, seed=7)
    batch.ts[:] = {start} + np.arange(len(batch), dtype=np.int64) * 1000
    sink = ringcap.ParquetSink(root, rotate_rows=8000, row_group_rows=1000, worker=0)
    # finish two files, then stop in the middle of the third (row groups on disk, no footer)
    i = 0
    while i < 18500:
        sink.write(batch[i:i + 500])
        i += 500
    print(len(sink.files), i, flush=True)
    time.sleep(600)
""")


@pytest.fixture(scope="module")
def killed_dataset(tmp_path_factory):
    """A dataset whose writer was SIGKILLed mid-file: (root, finished files, rows written)."""
    root = tmp_path_factory.mktemp("killed")
    script = WRITER.format(start=BOUNDARY)
    proc = subprocess.Popen([sys.executable, "-c", script, str(root)],
                            stdout=subprocess.PIPE, text=True, cwd="/",
                            env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
    try:
        line = proc.stdout.readline()
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stdout.close()
    finished, written = map(int, line.split())
    return root, finished, written


def test_a_killed_writer_leaves_complete_files_and_one_hidden_temporary(killed_dataset):
    root, finished, written = killed_dataset
    files, others = dataset_files(root)
    assert finished == 2 and len(files) == 2
    assert [pq.read_metadata(f).num_rows for f in files] == [8000, 8000]
    [temp] = others
    name = os.path.basename(temp)
    assert name.startswith(".part-") and name.endswith(".inprogress") and \
        os.path.dirname(temp) == os.path.dirname(files[0])
    with open(temp, "rb") as f:
        content = f.read()
    # the magic and two row groups, but no footer
    assert len(content) > 1000 and content.startswith(b"PAR1") and not content.endswith(b"PAR1")
    with pytest.raises(pa.ArrowInvalid):
        pq.read_metadata(temp)
    assert written > 16000
    assert duck(f"SELECT count(*) FROM {glob(root)}") == [(16000,)]


def test_a_full_disk_stops_with_an_error_and_no_half_file_in_sight(tmp_path, monkeypatch):
    real_write = pq.ParquetWriter.write_table
    calls = []

    def write_table(self, table, *args, **kwargs):   # the third row group finds the disk full
        calls.append(table.num_rows)
        if len(calls) >= 3:                          # pyarrow's own wording of ENOSPC
            raise OSError("Error writing bytes to file. Detail: [errno 28] No space left on "
                          "device")
        return real_write(self, table, *args, **kwargs)

    monkeypatch.setattr(pq.ParquetWriter, "write_table", write_table)
    batch = traffic(4000, start=BOUNDARY, span=10**9)
    sink = ParquetSink(tmp_path, rotate_rows=2000, row_group_rows=1000, worker=0)
    with pytest.raises(OSError, match="No space left") as failed:
        for start in range(0, len(batch), 500):
            sink.write(batch[start:start + 500])
    assert failed.value.errno == 28
    message = failed.value.args[1]
    assert "part-" in message and "000001.parquet:" in message and ".inprogress" not in message
    assert "the 1000 rows given to it are lost" in message and "removed" in message
    with pytest.raises(OSError, match="No space left"):
        sink.close()
    # the 500 rows accepted before the failing write are counted lost (the batch
    # whose write raised was never accepted)
    assert sink.closed and sink.packets_written == 2500 and sink.packets_lost == 500
    files, others = dataset_files(tmp_path)
    assert [pq.read_metadata(f).num_rows for f in files] == [2000]     # the finished file
    assert others == []                                                 # no hidden half file
    assert duck(f"SELECT count(*) FROM {glob(tmp_path)}") == [(2000,)]


def test_convert_onto_a_full_disk_names_the_file_and_the_rows_and_leaves_no_temporary(tmp_path):
    from ringcap.testing import synthetic_traffic
    source = tmp_path / "in.pcap"
    batch = synthetic_traffic(3000, random_payload=True, seed=2, start_ns=BOUNDARY)
    ringcap.write_pcap(source, batch)
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(mnt)],
                   check=True, capture_output=True)
    try:
        for extra in (["--payload", "--rotate-rows", "400"],
                      ["--format", "flows", "--flow-features"]):
            if extra[0] == "--format":               # leave 16 KiB free: the flows do not fit
                (mnt / "filler").write_bytes(os.urandom((1024 - 16) * 1024))
            out = run_cli("convert", source, f"{mnt}/ds/", *extra, "--compression", "none")
            assert out.returncode == 1, out.stderr
            lines = out.stderr.strip().splitlines()
            assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
            assert lines[0].startswith(f"ringcap: cannot write {mnt}/ds/date=2023-11-14/")
            assert ".parquet: No space left on device; the " in lines[0]
            assert re.search(r"the \d+ rows given to it are lost and its unfinished file was "
                             r"removed", lines[0]), lines[0]
            files, others = dataset_files(mnt / "ds")
            assert [o for o in others if o.endswith(".inprogress")] == []
            if extra[0] == "--payload":              # the files finished first are whole
                assert files and all(pq.read_metadata(f).num_rows == 400 for f in files)
                assert len(files) < 3000 // 400
            subprocess.run(["rm", "-rf", f"{mnt}/ds"], check=True)
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True, capture_output=True)


# ---------------------------------------------------------------- Spark
def test_spark_reads_the_datasets(spark, tmp_path, killed_dataset):
    batch = traffic(20000)
    packets_root, flows_root = tmp_path / "p", tmp_path / "f"
    write(ParquetSink(packets_root, worker=0), batch)
    write(FlowSink(flows_root, interval=20, worker=0), batch)

    frame = spark.read.parquet(str(packets_root))             # no settings
    types = dict(frame.dtypes)
    assert types["ts"] == "timestamp" and types["ts_ns"] == "bigint"
    assert types["date"] == "date" and types["hour"] == "int" and types["host"] == "string"
    assert types["ip_src"] == "binary" and types["wirelen"] == "bigint"
    frame.createOrReplaceTempView("packets")
    hours = spark.sql("SELECT hour, count(*) FROM packets GROUP BY hour ORDER BY hour").collect()
    before = int(np.count_nonzero(batch.ts < BOUNDARY))
    assert [tuple(r) for r in hours] == [(21, before), (22, 20000 - before)]
    rows = spark.sql(CONVERSATIONS_SQL.replace("GROUP BY ALL",
                                               "GROUP BY a_ip, a_port, b_ip, b_port, ip_proto")
                     .format(source="packets")).collect()
    expected = expected_conversations(batch)
    assert as_conversations(rows) == expected
    assert spark.sql("SELECT min(ts_ns), max(ts_ns) FROM packets").collect()[0] == \
        (int(batch.ts[0]), int(batch.ts[-1]))
    # a column of each encoding (delta, PLAIN, dictionary) reads back exactly
    headers = ringcap.decode(batch)
    sums = spark.sql("SELECT sum(caplen), sum(ip_len), sum(payload_len), sum(tcp_seq), "
                     "sum(flags), sum(ipv4_src), sum(ttl) FROM packets").collect()[0]
    assert tuple(sums) == (int(batch.caplen.sum()),) + tuple(
        int(headers[name].sum(dtype=np.int64)) for name in
        ("ip_len", "payload_len", "tcp_seq", "flags", "ipv4_src", "ttl"))

    spark.read.parquet(str(flows_root)).createOrReplaceTempView("flows")
    totals = spark.sql("""
        SELECT CASE WHEN ip_src < ip_dst OR (ip_src = ip_dst AND sport <= dport) THEN ip_src ELSE ip_dst END AS a,
               CASE WHEN ip_src < ip_dst OR (ip_src = ip_dst AND sport <= dport) THEN sport ELSE dport END AS ap,
               CASE WHEN ip_src < ip_dst OR (ip_src = ip_dst AND sport <= dport) THEN ip_dst ELSE ip_src END AS b,
               CASE WHEN ip_src < ip_dst OR (ip_src = ip_dst AND sport <= dport) THEN dport ELSE sport END AS bp,
               ip_proto, sum(packets), sum(bytes)
        FROM flows GROUP BY a, ap, b, bp, ip_proto""").collect()
    assert as_conversations(totals) == expected

    features_root = tmp_path / "ff"
    write(FlowSink(features_root, interval=20, features=True, worker=0), batch)
    assert spark.read.parquet(str(features_root)).selectExpr(
        "sum(bidirectional_packets)").first()[0] == int(ringcap.flows(batch).packets.sum())

    first = frame.orderBy("ts").first()["ts"]
    assert first.timestamp() == pytest.approx(batch.ts[0] / 1e9, abs=1e-6)

    root, _, _ = killed_dataset
    assert spark.read.parquet(str(root)).count() == 16000


# ---------------------------------------------------------------- from a live ring
def test_a_ring_pumped_into_a_dataset_keeps_every_packet(veth, tmp_path):
    from ringcap.sinks.driving import pump
    sent = synthetic_traffic(6000, seed=11, arp_share=0)
    sink = ParquetSink(tmp_path, worker=0, rotate_rows=2500, partition_by=(),  # no hour to cross
                       include_payload=True)
    with ringcap.RxRing(veth.b, filter="net 10.0.0.0/16 or net 2001:db8::/32",
                        block_timeout_ms=10) as ring:
        with ringcap.TxRing(veth.a) as tx:
            for start in range(0, len(sent), 500):
                tx.send(sent[start:start + 500])
        # views of the ring's blocks, released after each write: the sink copies at once
        result = pump(ring, sink, count=len(sent), duration=30, reuse_batch=True)
    assert result.packets == len(sent) and result.stopped_by == "count"
    files, others = dataset_files(tmp_path)
    assert others == [] and len(files) == 3
    rows = as_conversations(duck(CONVERSATIONS_SQL.format(source=glob(tmp_path))))
    assert rows == expected_conversations(sent)
    frames = pa.concat_tables([pq.read_table(f, columns=["data"]) for f in files])
    assert frames["data"].to_pylist() == sent.packets()
    footer = json.loads(pq.read_metadata(files[-1]).metadata[b"ringcap.stats"])
    assert footer["delivered"] >= len(sent) and footer["drops"] == 0


def test_two_pool_workers_write_one_dataset(veth, tmp_path):
    from ringcap import ParallelCapture
    from ringcap.sinks import DatasetWorkers
    sent = synthetic_traffic(6000, conversations=40, seed=12, arp_share=0)
    sinks = DatasetWorkers(tmp_path, partition_by=(), host="h")
    with ParallelCapture(veth.b, workers=2, mode="hash", sink=sinks,
                         filter="net 10.0.0.0/16 or net 2001:db8::/32",
                         block_size=1 << 20, block_count=16, block_timeout_ms=5) as pool:
        with ringcap.TxRing(veth.a) as tx:
            for start in range(0, len(sent), 500):
                tx.send(sent[start:start + 500])
        stats = pool.run(duration=1.5)
    files, others = dataset_files(tmp_path)
    assert others == []
    assert sorted(os.path.basename(f) for f in files) == [
        "part-h-0-000000.parquet", "part-h-1-000000.parquet"]
    assert stats.total.delivered == len(sent) and stats.total.drops == 0
    assert [pq.read_metadata(f).num_rows for f in files] == [s.delivered for s in stats.workers]
    source = f"read_parquet('{tmp_path}/*.parquet', filename = true)"
    assert as_conversations(duck(CONVERSATIONS_SQL.format(source=source))) == \
        expected_conversations(sent)
    # hash fanout is symmetric: each conversation, both directions, in one worker's file
    split = duck(f"SELECT count(DISTINCT filename) FROM {source} "
                 "GROUP BY least(ip_src || ip_dst, ip_dst || ip_src), ip_proto, "
                 "least(sport, dport), greatest(sport, dport)")
    assert len(split) == 40 and {n for (n,) in split} == {1}


# ---------------------------------------------------------------- the command line
def run_cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "ringcap", *map(str, args)], cwd="/",
                          env={**os.environ, "PYTHONPATH": PACKAGE_ROOT}, capture_output=True,
                          text=True, timeout=timeout)


def test_convert_a_capture_file_into_datasets_and_formats(tmp_path):
    batch = traffic(8000)
    source = tmp_path / "in.pcapng"
    ringcap.write_pcap(source, batch, format="pcapng")
    out = run_cli("convert", source, f"{tmp_path}/packets/", "--rotate-rows", 3000)
    assert out.returncode == 0, out.stderr
    assert "8000 packets read" in out.stderr and "8000 written" in out.stderr
    files, others = dataset_files(tmp_path / "packets")
    assert others == [] and len(files) == 4          # 21:59 and 22:00, 3000 rows a file
    assert duck(f"SELECT count(*) FROM {glob(tmp_path / 'packets')}") == [(8000,)]
    assert as_conversations(duck(CONVERSATIONS_SQL.format(source=glob(tmp_path / "packets")))) \
        == expected_conversations(batch)

    out = run_cli("convert", source, tmp_path / "flows", "--format", "flows",
                  "--flow-interval", "30", "--partition-by", "none")
    assert out.returncode == 0, out.stderr
    assert duck(f"SELECT sum(packets) FROM read_parquet('{tmp_path}/flows/*.parquet')") == \
        [(int(ringcap.flows(batch).packets.sum()),)]

    out = run_cli("convert", source, f"{tmp_path}/features/", "--format", "flows",
                  "--flow-features", "--idle-timeout", "2s")
    assert out.returncode == 0, out.stderr
    assert duck(f"SELECT sum(bidirectional_packets) FROM {glob(tmp_path / 'features')}") == \
        [(int(ringcap.flows(batch).packets.sum()),)]

    out = run_cli("convert", source, tmp_path / "out.pcap")
    assert out.returncode == 0, out.stderr
    back = ringcap.read_pcap(tmp_path / "out.pcap")
    assert back.packets() == batch.packets() and np.array_equal(back.ts, batch.ts)
    info = subprocess.run(["capinfos", "-t", "-c", str(tmp_path / "out.pcap")],
                          capture_output=True, text=True, check=True).stdout
    assert "pcap" in info and "8000" in info


def test_convert_keeps_what_the_filter_accepts(tmp_path):
    batch = traffic(3000)
    source = tmp_path / "in.pcap"
    ringcap.write_pcap(source, batch)
    out = run_cli("convert", source, tmp_path / "tcp.pcapng", "tcp", "and", "not", "port", "80")
    assert out.returncode == 0, out.stderr
    headers = ringcap.decode(batch)
    wanted = batch[(headers.ip_proto == 6) & (headers.sport != 80) & (headers.dport != 80)]
    assert 0 < len(wanted) < len(batch)
    assert ringcap.read_pcap(tmp_path / "tcp.pcapng").packets() == wanted.packets()
    tshark = subprocess.run(["tshark", "-r", str(tmp_path / "tcp.pcapng"), "-T", "fields",
                             "-e", "frame.number"], capture_output=True, text=True, check=True)
    assert len(tshark.stdout.split()) == len(wanted)
    out = run_cli("convert", source, f"{tmp_path}/udp/", "udp")
    assert out.returncode == 0, out.stderr
    assert duck(f"SELECT count(*), min(ip_proto), max(ip_proto) FROM {glob(tmp_path / 'udp')}") \
        == [(int(np.count_nonzero(headers.ip_proto == 17)), 17, 17)]


def test_convert_and_capture_refuse_what_cannot_work(tmp_path):
    out = run_cli("convert", tmp_path / "missing.pcap", tmp_path / "ds/")
    assert out.returncode == 1 and "no such file" in out.stderr and "Traceback" not in out.stderr
    source = tmp_path / "in.pcap"
    ringcap.write_pcap(source, traffic(10))
    (tmp_path / "plain").write_bytes(b"")
    out = run_cli("convert", source, tmp_path / "plain", "--format", "parquet")
    assert out.returncode == 1 and "it is a file" in out.stderr
    out = run_cli("convert", source, source)
    assert out.returncode == 1 and "being read" in out.stderr
    out = run_cli("convert", source, tmp_path / "f/", "--format", "flows", "--payload")
    assert out.returncode == 1 and "do not apply" in out.stderr
    out = run_cli("capture", "-w", tmp_path / "ds/", "--format", "parquet", "-C", "10", "-c", "1")
    assert out.returncode == 1 and "-C and -W do not apply" in out.stderr


def test_capture_with_two_workers_writes_one_dataset(veth, tmp_path):
    sent = synthetic_traffic(4000, conversations=40, seed=14, arp_share=0)
    root = tmp_path / "pool"
    cli = RingcapProcess("capture", "-i", veth.b, "--workers", "2", "-w", f"{root}/",
                         "--format", "parquet", "--partition-by", "none",
                         "net", "10.0.0.0/16", "or", "net", "2001:db8::/32")
    cli.wait_for("listening on")                                 # the rings are open
    with Tap(veth.b, filter=None) as tap, ringcap.TxRing(veth.a) as tx:
        for start in range(0, len(sent), 500):
            tx.send(sent[start:start + 500])
        tap.wait_for(len(sent))                                  # the workers' rings too
    assert cli.finish(signal.SIGINT) == 0, cli.err
    files, others = dataset_files(root)
    workers = sorted({os.path.basename(f).split("-")[-2] for f in files})
    assert others == [] and workers == ["0", "1"]            # each worker wrote its own files
    rows = duck(CONVERSATIONS_SQL.format(source=f"read_parquet('{root}/*.parquet')"))
    assert as_conversations(rows) == expected_conversations(sent)


def test_capture_writes_a_dataset(veth, tmp_path):
    sent = synthetic_traffic(3000, seed=13, arp_share=0)
    root = tmp_path / "live"
    cli = RingcapProcess("capture", "-i", veth.b, "-c", len(sent), "-w", f"{root}/",
                         "--format", "parquet", "--partition-by", "none",
                         "net", "10.0.0.0/16", "or", "net", "2001:db8::/32")
    cli.wait_for("listening on")                                 # the ring is open
    with ringcap.TxRing(veth.a) as tx:
        for start in range(0, len(sent), 500):
            tx.send(sent[start:start + 500])
    assert cli.finish() == 0, cli.err
    files, others = dataset_files(root)
    assert others == [] and len(files) == 1
    rows = duck(CONVERSATIONS_SQL.format(source=f"read_parquet('{root}/*.parquet')"))
    assert as_conversations(rows) == expected_conversations(sent)


# ---------------------------------------------------------------- the page that explains it
def test_the_python_blocks_of_docs_datasets_run_as_written(spark, tmp_path, monkeypatch, capsys):
    """docs/datasets.md's Python blocks, in order, in one namespace, in an empty folder.
    The Spark block's getOrCreate() gets this module's session (one JVM per run)."""
    # the page of this checkout (PACKAGE_ROOT is where ringcap is installed, in CI site-packages)
    page_path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                             "docs", "datasets.md")
    with open(page_path, encoding="utf-8") as f:
        page = f.read()
    blocks = [b.split("```", 1)[0] for b in page.split("```python\n")[1:]]
    assert len(blocks) >= 5
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    for number, block in enumerate(blocks, 1):
        exec(compile(block, f"docs/datasets.md python block {number}", "exec"), namespace)
    files, others = dataset_files(tmp_path / "dataset")
    assert others == [] and len(files) == 2         # 21:55-22:00 and 22:00-22:05
    assert namespace["spark"] is spark


def _scan_file(tmp_path, flows=100_000):
    """Each of `flows` UDP conversations sends one packet, then again once all have."""
    from ringcap.testing import ipv4_batch
    key = np.concatenate([np.arange(flows), np.arange(flows)])
    batch = ipv4_batch(ts=BOUNDARY + np.arange(2 * flows, dtype=np.int64) * 100_000,
                       ip_src=(10 << 24) + (1 << 16) + key // 50_000, ip_dst=(10 << 24) + 2,
                       sport=1024 + key % 50_000, dport=53, ip_proto=17, payload_len=20)
    source = tmp_path / "scan.pcap"
    ringcap.write_pcap(source, batch)
    return source, batch


def test_flow_datasets_hold_at_most_max_flows_from_the_command_line(tmp_path):
    source, batch = _scan_file(tmp_path)
    out = run_cli("convert", source, tmp_path / "features", "--format", "flows",
                  "--flow-features", "--max-flows", "5000", "--partition-by", "none",
                  "--flow-interval", "3600", timeout=300)
    assert out.returncode == 0, out.stderr
    [path] = dataset_files(tmp_path / "features")[0]
    metadata = pq.read_metadata(path)
    assert metadata.num_row_groups > 1                   # written as they expired
    evicted = int(metadata.metadata[b"ringcap.evicted_flows"])
    assert evicted >= 100_000                            # every first packet was evicted
    table = pq.read_table(path)
    assert table.num_rows == 200_000 and sum(table["bidirectional_packets"].to_pylist()) == len(batch)
    assert int(pa.compute.sum(pa.compute.equal(table["expiration_id"], 3)).as_py()) == evicted

    out = run_cli("convert", source, tmp_path / "counters", "--format", "flows",
                  "--max-flows", "1000", "--partition-by", "none", "--flow-interval", "3600",
                  timeout=300)
    assert out.returncode == 0, out.stderr
    [path] = dataset_files(tmp_path / "counters")[0]
    early = int(pq.read_metadata(path).metadata[b"ringcap.early_flow_rows"])
    assert early > 0
    rows = duck(f"SELECT ip_src, sport, count(*), sum(packets) FROM read_parquet('{path}') "
                "GROUP BY ALL")
    assert len(rows) == 100_000 and sum(n for *_, n in rows) == len(batch)
    assert {r for _, _, r, _ in rows} == {1, 2}          # some conversations cut in two rows
    assert 0 < early <= pq.read_metadata(path).num_rows == sum(r for _, _, r, _ in rows)

    out = run_cli("convert", source, tmp_path / "whole", "--format", "flows",
                  "--partition-by", "none", "--flow-interval", "3600", timeout=300)
    assert out.returncode == 0, out.stderr             # the default bound holds them all
    [path] = dataset_files(tmp_path / "whole")[0]
    assert pq.read_metadata(path).metadata[b"ringcap.early_flow_rows"] == b"0"
    assert pq.read_metadata(path).num_rows == 100_000


@pytest.mark.parametrize("features", [False, True])
def test_flows_of_traffic_without_ip_are_an_empty_file_with_the_schema(tmp_path, features):
    """No IP packets (ARP and LLDP only): an empty flows file with the schema and the
    packets counted in its footer, which pandas and DuckDB read as no rows; no
    temporary file left behind.  (Before: "Row group size cannot be 0", a
    .inprogress file left.)"""
    arp = bytes.fromhex("ffffffffffff020000000001" "0806" "0001080006040001"
                        "020000000001" "0a000001" "000000000000" "0a000002") + bytes(18)
    lldp = bytes.fromhex("0180c200000e020000000001" "88cc") + bytes(46)
    source = tmp_path / "no-ip.pcap"
    ringcap.write_pcap(source, Batch.from_packets([arp, lldp] * 10,
                                                  ts=np.arange(20) * 10**6 + BOUNDARY))
    out = run_cli("convert", source, tmp_path / "flows", "--format", "flows",
                  "--partition-by", "none", *(["--flow-features"] if features else []))
    assert out.returncode == 0, out.stderr
    [path], others = dataset_files(tmp_path / "flows")
    assert others == []
    metadata = pq.read_metadata(path)
    assert metadata.num_rows == 0
    assert metadata.metadata[b"ringcap.non_ip_packets"] == b"20"
    frame = pq.read_table(path).to_pandas()
    assert len(frame) == 0 and "interval_start" in frame.columns
    assert duck(f"SELECT count(*) FROM read_parquet('{path}')") == [(0,)]


# ---------------------------------------------------------------- Spark, DuckDB, Polars: as they are
def _rows_by_ts(rows):
    """(ts_ns, µs of ts, host, interface) rows sorted by ts_ns."""
    return sorted((int(a), int(b), c, d) for a, b, c, d in rows)


def _check_readers(spark, root, *, ts_ns, host, interfaces):
    """Spark (no settings), DuckDB and Polars read the packet dataset under ``root``: one
    row per packet, ``ts`` the µs floor of the exact ``ts_ns``, host and interface as given
    (``interfaces``: the interface of each packet, in ``ts_ns`` order)."""
    import polars as pl
    want = sorted(zip(ts_ns.tolist(), interfaces))
    want = [(t, t // 1000, host, name) for t, name in want]
    frame = spark.read.parquet(str(root))                  # a fresh read, no settings
    types = dict(frame.dtypes)
    assert (types["ts"], types["ts_ns"], types["host"], types["interface"]) == \
        ("timestamp", "bigint", "string", "string")
    got = frame.selectExpr("ts_ns", "unix_micros(ts)", "host", "interface").collect()
    assert _rows_by_ts(got) == want
    got = duck(f"SELECT ts_ns, epoch_us(ts), host, interface FROM "
               f"read_parquet('{root}/**/*.parquet')")
    assert _rows_by_ts(got) == want
    table = pl.read_parquet(f"{root}/**/*.parquet", hive_partitioning=False)
    assert table.schema["ts"] == pl.Datetime("us", "UTC") and table.schema["ts_ns"] == pl.Int64
    got = table.select(pl.col("ts_ns"), pl.col("ts").dt.epoch("us"),
                       pl.col("host").cast(pl.String), pl.col("interface").cast(pl.String))
    assert _rows_by_ts(got.rows()) == want


def test_spark_duckdb_and_polars_read_a_live_capture_dataset_as_it_is(spark, veth, tmp_path):
    sent = synthetic_traffic(2000, seed=21, arp_share=0)
    root = tmp_path / "live"
    cli = RingcapProcess("capture", "-i", veth.b, "-c", len(sent), "-w", f"{root}/",
                         "--format", "parquet", "--host", "sensor-7",
                         "net", "10.0.0.0/16", "or", "net", "2001:db8::/32")
    cli.wait_for("listening on")                                 # the ring is open
    with ringcap.TxRing(veth.a) as tx:
        for start in range(0, len(sent), 500):
            tx.send(sent[start:start + 500])
    assert cli.finish() == 0, cli.err
    files, others = dataset_files(root)
    assert others == [] and files and all("part-sensor-7-" in f for f in files)
    ts_ns = pa.concat_tables([pq.read_table(f, columns=["ts_ns"]) for f in files])["ts_ns"]
    ts_ns = np.sort(ts_ns.to_numpy())
    assert len(ts_ns) == len(sent)
    _check_readers(spark, root, ts_ns=ts_ns, host="sensor-7", interfaces=[veth.b] * len(sent))
    rows = duck(CONVERSATIONS_SQL.format(source=glob(root)))
    assert as_conversations(rows) == expected_conversations(sent)


def test_spark_duckdb_and_polars_read_converted_datasets_as_they_are(spark, tmp_path):
    batch = traffic(6000, seed=22)
    batch.ts[:] += np.arange(len(batch), dtype=np.int64) % 997        # nanoseconds that matter
    batch.ifindex[:] = np.where(np.arange(len(batch)) % 3 == 0, 6, 5)
    source = tmp_path / "in.pcapng"
    ringcap.write_pcap(source, batch, format="pcapng", interfaces={5: "tap-a", 6: "tap-b"})
    back = ringcap.read_pcap(source)
    assert np.array_equal(back.ts, batch.ts)
    out = run_cli("convert", source, f"{tmp_path}/packets/", "--host", "archive-1")
    assert out.returncode == 0, out.stderr
    names = {5: "tap-a", 6: "tap-b"}
    _check_readers(spark, tmp_path / "packets", ts_ns=back.ts, host="archive-1",
                   interfaces=[names[int(i)] for i in batch.ifindex[np.argsort(back.ts)]])
    # decoded values equal decode() of the same packets, in Spark with no settings
    headers = ringcap.decode(back)
    got = spark.read.parquet(f"{tmp_path}/packets").orderBy("ts_ns").select(
        "ts_ns", "sport", "dport", "ip_proto", "tcp_flags").collect()
    assert [tuple(r) for r in got] == list(zip(
        back.ts.tolist(), headers.sport.tolist(), headers.dport.tolist(),
        headers.ip_proto.tolist(), headers.tcp_flags.tolist()))

    # a pcap file names no interface: the column is null
    plain = tmp_path / "in.pcap"
    ringcap.write_pcap(plain, batch)
    out = run_cli("convert", plain, f"{tmp_path}/plain/", "--host", "archive-1")
    assert out.returncode == 0, out.stderr
    _check_readers(spark, tmp_path / "plain", ts_ns=batch.ts, host="archive-1",
                   interfaces=[None] * len(batch))

    # flows: timestamps in µs, first_ts_ns/last_ts_ns exact, host and interface
    out = run_cli("convert", source, f"{tmp_path}/flows/", "--format", "flows",
                  "--flow-interval", "3600", "--partition-by", "none", "--host", "archive-1")
    assert out.returncode == 0, out.stderr
    flows = spark.read.parquet(f"{tmp_path}/flows")
    assert dict(flows.dtypes)["first_ts"] == "timestamp"
    expected = ringcap.flows(back)
    row = flows.selectExpr("sum(packets)", "min(first_ts_ns)", "max(last_ts_ns)",
                           "min(unix_micros(first_ts))", "collect_set(host)").first()
    assert tuple(row) == (int(expected.packets.sum()), int(back.ts.min()), int(back.ts.max()),
                          int(back.ts.min()) // 1000, ["archive-1"])

    # --timestamp-unit ns keeps the old layout: ts in nanoseconds, no ts_ns
    out = run_cli("convert", source, f"{tmp_path}/nanos/", "--timestamp-unit", "ns")
    assert out.returncode == 0, out.stderr
    table = pq.read_table(dataset_files(tmp_path / "nanos")[0][0])
    assert table.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert "ts_ns" not in table.column_names
    out = run_cli("convert", source, f"{tmp_path}/bad/", "--host", " ")
    assert out.returncode == 1 and "--host needs a name" in out.stderr


def test_names_export_joins_in_spark_and_duckdb(spark, tmp_path):
    batch = traffic(4000, seed=23)
    source = tmp_path / "in.pcap"
    ringcap.write_pcap(source, batch)
    assert run_cli("convert", source, f"{tmp_path}/ds/").returncode == 0
    out = run_cli("names", "--export", tmp_path / "names")
    assert out.returncode == 0, out.stderr
    out = run_cli("names", "--export", tmp_path / "csv", "--format", "csv")
    assert out.returncode == 0, out.stderr
    tables = ringcap.names.lookup_tables()
    assert sorted(os.listdir(tmp_path / "names")) == sorted(f"{t}.parquet" for t in tables)
    assert sorted(os.listdir(tmp_path / "csv")) == sorted(f"{t}.csv" for t in tables)
    headers = ringcap.decode(batch)
    want_proto = {}
    for name in ringcap.names.ip_proto_names(headers.ip_proto[headers.ip_version != 0]):
        want_proto[name] = want_proto.get(name, 0) + 1
    want_flags = {}
    tcp = headers.ip_proto == 6
    for name in ringcap.names.tcp_flag_names(headers.tcp_flags[tcp]):
        want_flags[name] = want_flags.get(name, 0) + 1
    assert len(want_proto) >= 2 and want_flags

    for table in tables:
        spark.read.parquet(f"{tmp_path}/names/{table}.parquet").createOrReplaceTempView(table)
    spark.read.parquet(f"{tmp_path}/ds").createOrReplaceTempView("packets")
    rows = spark.sql("SELECT ip_proto.name, count(*) FROM packets JOIN ip_proto "
                     "USING (ip_proto) WHERE ip_version <> 0 GROUP BY ip_proto.name").collect()
    assert dict(map(tuple, rows)) == want_proto
    rows = spark.sql("SELECT tcp_flags.name, count(*) FROM packets JOIN tcp_flags "
                     "USING (tcp_flags) WHERE packets.ip_proto = 6 "
                     "GROUP BY tcp_flags.name").collect()
    assert dict(map(tuple, rows)) == want_flags

    names = tmp_path / "csv"
    rows = duck(f"SELECT n.name, count(*) FROM {glob(tmp_path / 'ds')} p "
                f"JOIN read_csv('{names}/ip_proto.csv') n USING (ip_proto) "
                "WHERE ip_version <> 0 GROUP BY ALL")
    assert dict(rows) == want_proto
    rows = duck(f"SELECT n.name, count(*) FROM {glob(tmp_path / 'ds')} p "
                f"JOIN read_parquet('{tmp_path}/names/tcp_flags.parquet') n USING (tcp_flags) "
                "WHERE ip_proto = 6 GROUP BY ALL")
    assert dict(rows) == want_flags
