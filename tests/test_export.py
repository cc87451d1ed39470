"""Arrow and pandas exports of batches, decoded headers and flow tables."""
from __future__ import annotations

import importlib
import os
import sys

import numpy as np
import pyarrow as pa
import pandas as pd
import pytest

import ringcap
from ringcap import export
from ringcap.batch import Batch

D = importlib.import_module("ringcap.headers")


def _frame(src: int, dst: int, sport: int, dport: int, payload: bytes = b"") -> bytes:
    ip_len = 20 + 8 + len(payload)
    ip = (bytes([0x45, 0, ip_len >> 8, ip_len & 0xFF, 0, 1, 0, 0, 64, 17, 0, 0])
          + bytes([10, 0, 0, src]) + bytes([10, 0, 0, dst]))
    udp = sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + (8 + len(payload)).to_bytes(2, "big") \
        + b"\0\0"
    return b"\x02\0\0\0\0\x02" + b"\x02\0\0\0\0\x01" + b"\x08\x00" + ip + udp + payload


@pytest.fixture
def batch():
    frames = [_frame(1, 2, 1000, 53, b"q"), _frame(2, 1, 53, 1000, b"answer"),
              b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + b"\0" * 28, _frame(3, 2, 7, 443)]
    ts = np.array([1_700_000_000_000_000_001, 1_700_000_000_500_000_000,
                   1_700_000_001_000_000_000, 1_700_000_002_000_000_007], dtype=np.int64)
    return Batch.from_packets(frames, ts=ts, ifindex=[3, 3, 4, 3])


def _address(array: pa.Array, index: int = 1) -> int:
    return array.buffers()[index].address


def test_batch_to_arrow_zero_copy(batch):
    table = batch.to_arrow()
    assert table.schema.field("ts").type == pa.timestamp("ns", tz="UTC")
    assert table.column("ts").cast(pa.int64()).to_pylist() == batch.ts.tolist()
    assert table.column("data").to_pylist() == batch.packets()
    assert table.column("ifindex").to_pylist() == [3, 3, 4, 3]
    assert "offset" not in table.column_names
    data = table.column("data").chunk(0)
    assert _address(data, 2) == batch.data.ctypes.data          # packet bytes shared
    assert _address(table.column("rxhash").chunk(0)) == batch.rxhash.ctypes.data
    assert _address(table.column("ts").chunk(0)) == batch.ts.ctypes.data


def test_unpacked_batch_to_arrow_packs_first(batch):
    subset = batch[np.array([True, False, True, True])]
    assert not subset.is_packed()
    table = subset.to_arrow()
    assert table.column("data").to_pylist() == subset.packets()
    assert table.num_rows == 3


def test_batch_to_arrow_with_decoded_columns(batch):
    table = batch.to_arrow(decode=True, data=False)
    assert "data" not in table.column_names
    assert table.schema.field("ip_src").type == pa.binary(16)
    assert table.schema.field("eth_src").type == pa.binary(6)
    assert table.column("dport").to_pylist() == [53, 1000, 0, 443]
    assert table.column("ip_src").to_pylist()[0] == b"\0" * 10 + b"\xff\xff" + bytes([10, 0, 0, 1])
    text = batch.to_arrow(decode=True, addresses="str")
    assert pa.types.is_dictionary(text.schema.field("ip_src").type)
    assert text.column("ip_src").to_pylist() == ["10.0.0.1", "10.0.0.2", None, "10.0.0.3"]
    assert text.column("eth_dst").to_pylist()[2] == "ff:ff:ff:ff:ff:ff"


def test_batch_to_pandas(batch):
    frame = batch.to_pandas(decode=True)
    assert str(frame["ts"].dtype) == "datetime64[ns, UTC]"
    assert frame["ts"].iloc[0] == pd.Timestamp(1_700_000_000_000_000_001, unit="ns", tz="UTC")
    assert frame["data"].tolist() == batch.packets()
    assert frame["ip_dst"].tolist()[:2] == ["10.0.0.2", "10.0.0.1"]
    assert frame["ip_src"].isna().tolist() == [False, False, True, False]
    assert frame["payload_len"].tolist() == [1, 6, 0, 0]
    assert isinstance(frame["ip_src"].dtype, pd.CategoricalDtype)
    assert sorted(frame["ip_src"].cat.categories) == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
    top = frame.groupby("ip_src", observed=True)["wirelen"].sum()
    assert top["10.0.0.2"] == len(batch[1])
    assert frame["eth_dst"].tolist()[2] == "ff:ff:ff:ff:ff:ff"


@pytest.mark.parametrize("columns", [["ip_src"], ["ip_dst", "sport"], ["outer_ip_src"]])
def test_addresses_asked_for_alone_are_null_where_there_is_no_ip(batch, columns):
    # Without ip_version the exports showed the ARP frame's missing IP source as "::".
    h = ringcap.decode(batch, columns=columns)
    name = columns[0]
    expected = [name.startswith("outer")] * 2 + [True] + [name.startswith("outer")]
    assert h.to_pandas(ts=False)[name].isna().tolist() == expected
    assert h.to_arrow(addresses="str").column(name).is_null().to_pylist() == expected
    assert "::" not in h.to_pandas(ts=False)[name].tolist()


def test_a_parquet_sink_of_addresses_alone_still_decodes_into_its_own_columns(batch, tmp_path):
    # The sink decodes into arrays of the columns it was given (out=): the address
    # columns' version column is added only where out has room for it.
    import pyarrow.dataset as ds
    from ringcap.sinks.parquet import ParquetSink
    sink = ParquetSink(tmp_path, columns=["ts", "ip_src", "sport"], worker=0, host="h")
    sink.write(batch)
    sink.close()
    table = ds.dataset(tmp_path, format="parquet", partitioning="hive").to_table()
    assert table.column("sport").to_pylist() == [1000, 53, 0, 7]
    assert "ip_version" not in table.column_names


def test_headers_exports(batch):
    h = ringcap.decode(batch)
    table = h.to_arrow()
    assert table.column_names[0] == "ts"
    assert table.column_names[1:] == list(D.DEFAULT_COLUMNS)
    ip_src = table.column("ip_src").chunk(0)
    assert _address(ip_src) == h.ip_src.ctypes.data
    assert _address(table.column("sport").chunk(0)) == h.sport.ctypes.data
    assert table.column("more_fragments").type == pa.bool_()
    frame = h.to_pandas(addresses="bytes", ts=False)
    assert frame["ip_dst"].iloc[0] == b"\0" * 10 + b"\xff\xff" + bytes([10, 0, 0, 2])
    assert frame["eth_src"].iloc[0] == b"\x02\0\0\0\0\x01"
    five = D.decode(batch, columns=D.FIVE_TUPLE_COLUMNS).to_pandas()
    assert list(five.columns) == ["ts", *D.FIVE_TUPLE_COLUMNS]


def test_flow_exports(batch):
    table = ringcap.flows(batch)
    arrow = table.to_arrow(addresses="str")
    assert arrow.column("ip_src").to_pylist() == ["10.0.0.1", "10.0.0.3"]
    assert arrow.column("packets").to_pylist() == [2, 1]
    assert arrow.column("first_ts_rev").null_count == 1
    assert arrow.column("first_ts_rev").cast(pa.int64()).to_pylist()[0] == batch.ts[1]
    frame = table.to_pandas()
    assert frame["last_ts_rev"].isna().tolist() == [False, True]
    assert frame["bytes"].tolist() == [len(batch[0]) + len(batch[1]), len(batch[3])]
    assert frame["first_ts"].iloc[0] == pd.Timestamp(int(batch.ts[0]), unit="ns", tz="UTC")
    assert export.to_arrow(table).num_rows == 2
    assert len(export.to_pandas(ringcap.decode(batch))) == 4


def test_bad_options(batch):
    with pytest.raises(ValueError, match="addresses must be"):
        batch.to_arrow(addresses="text")
    with pytest.raises(TypeError, match="Batch, Headers, FlowTable or FlowRecords"):
        export.to_pandas([1, 2])


@pytest.mark.parametrize("module, extra, call", [
    ("pyarrow", "ringcap[arrow]", lambda b: b.to_arrow()),
    ("pandas", "ringcap[pandas]", lambda b: b.to_pandas()),
    ("pyarrow", "ringcap[arrow]", lambda b: ringcap.flows(b).to_arrow()),
    ("pandas", "ringcap[pandas]", lambda b: ringcap.decode(b).to_pandas()),
])
def test_missing_library_names_the_extra(monkeypatch, batch, module, extra, call):
    monkeypatch.setitem(sys.modules, module, None)   # makes `import module` fail
    with pytest.raises(ImportError, match=r"pip install '" + extra.replace("[", r"\[")
                       .replace("]", r"\]")):
        call(batch)


def test_core_imports_without_pyarrow_or_pandas():
    import subprocess
    code = ("import sys; sys.modules['pyarrow'] = None; sys.modules['pandas'] = None\n"
            "import ringcap, ringcap.export\n"
            "from ringcap import Batch\n"
            "b = Batch.from_packets([bytes(60)]); print(len(ringcap.flows(b)))")
    # run outside the source tree, importing the very ringcap under test
    package_root = os.path.dirname(os.path.dirname(ringcap.__file__))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd="/",
                         env={**os.environ, "PYTHONPATH": package_root})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "0"


def test_byte_lengths_export_as_int64_so_sums_never_wrap(batch):
    import polars as pl
    import pyarrow.compute as pc
    big = batch.copy()
    big.wirelen[:] = 3_000_000_000                  # jumbo-sized lies: 4 x 3 GB > 2**32
    total = 4 * 3_000_000_000
    frame = big.to_pandas(decode=True)
    for name in ("caplen", "wirelen", "ip_len", "payload_len"):
        assert frame[name].dtype == np.int64, name
    assert frame["wirelen"].sum() == total
    assert frame.groupby("ip_version")["wirelen"].sum().sum() == total
    assert int(frame["wirelen"].cumsum().iloc[-1]) == total
    table = big.to_arrow(decode=True, data=False)
    for name in ("caplen", "wirelen", "ip_len", "payload_len"):
        assert table.schema.field(name).type == pa.int64(), name
    assert pc.cumulative_sum(table["wirelen"]).to_pylist()[-1] == total    # uint32 wraps here
    assert pl.from_arrow(table).select(pl.col("wirelen").sum()).item() == total   # and here
    arrow_backed = table.to_pandas(types_mapper=pd.ArrowDtype)
    assert int(arrow_backed["wirelen"].cumsum().iloc[-1]) == total         # uint32 raises here
    headers = ringcap.decode(big).to_pandas()
    assert headers["payload_len"].dtype == np.int64 and headers["ip_len"].dtype == np.int64


def test_exports_work_before_ringcap_export_is_imported():
    """`import ringcap` does not import ringcap.export (pyarrow, pandas): the
    first to_arrow()/to_pandas() of a batch, headers or flow records imports
    it and exports, in a process that never named it."""
    import subprocess
    code = ("import sys, ringcap\n"
            "assert 'ringcap.export' not in sys.modules and 'pyarrow' not in sys.modules\n"
            "b = ringcap.Batch.from_packets([bytes(range(60))] * 3)\n"
            "print(b.to_arrow().num_rows, len(b.to_pandas()), len(ringcap.decode(b).to_pandas()),\n"
            "      'ringcap.export' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], cwd="/", capture_output=True, text=True,
                         timeout=120, env={**os.environ, "PYTHONPATH": os.path.dirname(
                             os.path.dirname(ringcap.__file__))})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["3", "3", "3", "True"]
