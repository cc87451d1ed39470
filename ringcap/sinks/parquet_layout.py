"""How a Parquet dataset's columns are laid out in its files: encodings,
statistics, compression and pages.

These are pyarrow writer options only, chosen per column by CPU time per
packet (``benchmarks/bench_parquet.py``) on the mixes of
``benchmarks/traffic.py``, files no bigger; ``docs/datasets.md`` ("Speed")
has the measurements.  What a file holds (its schema and values) does not
depend on them, and every Parquet reader reads what they give.  Also the
Arrow arrays the writer is handed, made over numpy columns without a copy.
"""
from __future__ import annotations

import functools
import inspect

import numpy as np

#: Delta-encoded (bit-packed differences): ts (near-sorted: 2-3 bytes a value before
#: compression) and the lengths, which a dictionary of ~1500 values encoded at 1.7x the cost.
DELTA_COLUMNS = frozenset({"ts", "ts_ns", "caplen", "wirelen", "ip_len", "payload_len"})
#: PLAIN, no dictionary: columns almost always zero or constant, values that never
#: repeat, and the MAC/IPv4 addresses, ports and TCP window (on IMIX, large and
#: recorded traffic 15-40 % cheaper than a dictionary, files no bigger but by a few
#: hundredths of a byte on recorded).  The rest take a dictionary: as fast, smaller.
PLAIN_COLUMNS = frozenset({
    "ifindex", "pkttype", "linktype", "vlan_tci", "vlan_tpid", "rxhash", "status", "vlan_outer",
    "vlan_inner", "l3_offset", "frag_offset", "more_fragments", "tcp_seq", "tcp_ack",
    "icmp_type", "icmp_code", "flags", "tunnel_type", "tunnel_id", "tunnel_depth",
    "outer_l3_offset", "mpls_tc", "mpls_bos", "mpls_ttl", "mpls_labels", "gre_flags",
    "gre_seq", "geneve_opt_len", "eth_len", "llc_dsap", "llc_ssap", "arp_op", "ip_dscp",
    "ip_ecn", "ipv6_flow_label", "tcp_wscale", "tcp_sack_blocks", "tcp_tsval", "tcp_tsecr",
    "icmp_id", "icmp_seq", "sll_ifindex", "sll_hatype", "sll_pkttype", "sll_halen", "data",
    "eth_src", "eth_dst", "ipv4_src", "ipv4_dst", "sport", "dport", "tcp_window"})
#: No min/max statistics: the addresses (MAC, IP, IPv4: byte-string compares, 8 % of
#: the sink's instructions on IMIX for the IP ones alone, and a row group of a quarter
#: million packets spans nearly every address seen, so no reader could skip one by
#: them), the frame bytes, and the ``host``/``interface`` labels (one value a file as
#: a rule: 5 % of the time).  Every other column keeps its min/max: ``ts`` above all,
#: which DuckDB, Spark and Polars skip row groups by, and the cheap small codes.
NO_STATISTICS = frozenset({"eth_src", "eth_dst", "ip_src", "ip_dst", "ipv4_src", "ipv4_dst",
                           "outer_ip_src", "outer_ip_dst", "arp_sha", "arp_tha", "sll_addr",
                           "data", "host", "interface"})


#: Data pages end before this many bytes of encoded values (pyarrow's default:
#: 1 MiB).  zstd picks its tables by the size it is given: up to 256 KiB it
#: uses a larger hash table at its default level, which finds the repeats in
#: PLAIN addresses and ports that a 1 MiB page misses (those columns would
#: grow by a tenth).  Checked every 1024 rows, so 8 KiB below the 256 KiB.
PAGE_BYTES = 248 << 10
#: Rows a data page may hold.  Recent pyarrow cuts pages at 20,000 rows by
#: default (for page indexes, which these files do not have): 13 pages per
#: column of a row group, each compressed with a fresh zstd context, about a
#: tenth of the sink's CPU time, and bigger files (deltas and runs restart on
#: every page).  Here pages end by size only, as older pyarrow has them.
PAGE_ROWS = 1 << 30


@functools.lru_cache(maxsize=None)
def _writer_takes(option: str) -> bool:
    import pyarrow.parquet
    return option in inspect.signature(pyarrow.parquet.ParquetWriter.__init__).parameters


def writer_options(schema, compression, compression_level, timestamp_unit,
                   payload_compression=None) -> dict:
    """The keywords of ``pyarrow.parquet.ParquetWriter`` for a file of ``schema``."""
    names = schema.names
    options = {"compression": compression, "compression_level": compression_level,
               "write_statistics": [name for name in names if name not in NO_STATISTICS],
               "store_schema": True,
               "use_dictionary": [name for name in names
                                  if name not in PLAIN_COLUMNS and name not in DELTA_COLUMNS],
               "column_encoding": {name: "DELTA_BINARY_PACKED" if name in DELTA_COLUMNS
                                   else "PLAIN" for name in names
                                   if name in DELTA_COLUMNS or name in PLAIN_COLUMNS}}
    if "data" in names and payload_compression != compression:
        others = [name for name in names if name != "data"]
        options["compression"] = {**{name: compression for name in others},
                                  "data": payload_compression}
        if compression_level is not None:
            options["compression_level"] = {name: compression_level for name in others}
    options["data_page_size"] = PAGE_BYTES
    if _writer_takes("max_rows_per_page"):
        options["max_rows_per_page"] = PAGE_ROWS
    if timestamp_unit != "ns":
        options.update(coerce_timestamps=timestamp_unit, allow_truncated_timestamps=True)
    return options




# pa.array() would import pandas (pyarrow checks every argument for pandas
# types): 0.3-0.6 s of CPU and some 50 MB on a process's first row group.
def arrow_column(pa, arrow_type, values: np.ndarray, valid: np.ndarray | None = None):
    """An Arrow array of ``arrow_type`` over the numpy column ``values`` (no copy
    but for booleans, which Arrow keeps as bits); ``valid``: False where null."""
    rows = len(values)
    bitmap = None if valid is None else pa.py_buffer(np.packbits(valid, bitorder="little"))
    if values.dtype == np.bool_:
        values = np.packbits(values, bitorder="little")
    return pa.Array.from_buffers(arrow_type, rows,
                                 [bitmap, pa.py_buffer(np.ascontiguousarray(values))])


def arrow_strings(pa, names):
    """An Arrow ``string`` array of ``names``."""
    encoded = [name.encode() for name in names]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(data) for data in encoded], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(encoded),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])
