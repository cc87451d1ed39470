"""Batches, decoded headers and flow tables as pyarrow Tables and pandas DataFrames.

pyarrow and pandas are optional: ``pip install ringcap[arrow]``,
``ringcap[pandas]`` or ``ringcap[all]``.  They are imported on first use.

Arrow exports share memory with the numpy columns wherever Arrow's layout
allows (numbers, timestamps, fixed-width addresses, and the packet bytes of a
packed batch).  A table made from a reusable batch (``Batch.empty()`` passed
as ``out=``) therefore changes when the batch is refilled: export a
``batch.copy()`` to keep it.  pandas exports copy.

Lengths in bytes (``caplen``, ``wirelen``, and the decoded ``ip_len`` and
``payload_len``) are exported as int64, not as the uint32 the numpy columns
hold: sums of them never wrap past 4 GiB in any tool (polars and pyarrow's
``cumulative_sum`` keep a uint32 sum in 32 bits; pandas' default integer
is int64).  They are therefore copies, 8 bytes a packet each.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .appcolumns import StringColumn
from .batch import COLUMNS, LINKTYPE_ETHERNET, Batch, register_exporter
from .flowmeter import NAME_COLUMNS, RTT_COLUMNS, TIMESTAMP_COLUMNS, FlowRecords
from .addresses import _link_address_codes
from .headers import FlowTable, Headers, _address_codes, address_bytes
from .headers import decode as decode_batch
from .names import NAMED_COLUMNS, names_for

__all__ = [
    "to_arrow", "to_pandas", "batch_to_arrow", "batch_to_pandas", "headers_to_arrow",
    "headers_to_pandas", "flows_to_arrow", "flows_to_pandas", "records_to_arrow",
    "records_to_pandas",
]

_ADDRESS_WIDTH = {"eth_src": 6, "eth_dst": 6, "ip_src": 16, "ip_dst": 16, "arp_sha": 6,
                  "arp_tha": 6, "outer_ip_src": 16, "outer_ip_dst": 16, "sll_addr": 8,
                  "dhcp_client_mac": 6}
# IP address columns -> the column saying whether a packet has that header
_IP_VERSION_OF = {"ip_src": "ip_version", "ip_dst": "ip_version",
                  "outer_ip_src": "outer_ip_version", "outer_ip_dst": "outer_ip_version"}
#: Byte-length columns, exported as int64 so that every sum of them is 64-bit.
LENGTH_COLUMNS: tuple[str, ...] = ("caplen", "wirelen", "ip_len", "payload_len")


def _widened(name: str, array: np.ndarray) -> np.ndarray:
    return array.astype(np.int64) if name in LENGTH_COLUMNS else array


def _ip_version_of(headers, name: str):
    """The version column that says which rows of address column ``name`` are IP (or None)."""
    version = _IP_VERSION_OF.get(name)
    return getattr(headers, version, None) if version in headers.names else None


def _header_address_codes(headers, name: str, array: np.ndarray):
    """(printable addresses, code per row, -1 for none) of a Headers address
    column: ``sll_addr`` cut to ``sll_halen`` bytes, IP addresses only of IP packets."""
    if name == "sll_addr" and "sll_halen" in headers.names:
        return _link_address_codes(array, headers.sll_halen)
    if name in ("eth_src", "eth_dst") and getattr(headers, "linktype", None) is not None:
        # no Ethernet header (cooked, raw IP, loopback): none, not 00:00:00:00:00:00
        return _address_codes(array, np.asarray(headers.linktype) == LINKTYPE_ETHERNET)
    return _address_codes(array, _ip_version_of(headers, name))


def _pyarrow():
    try:
        import pyarrow
    except ImportError as exc:
        raise ImportError(
            "exporting to Arrow needs pyarrow, which is not installed: "
            "pip install 'ringcap[arrow]' (or 'ringcap[all]')") from exc
    return pyarrow


def _pandas():
    try:
        import pandas
    except ImportError as exc:
        raise ImportError(
            "exporting to pandas needs pandas, which is not installed: "
            "pip install 'ringcap[pandas]' (or 'ringcap[all]')") from exc
    return pandas


def _check_addresses(addresses: str) -> None:
    if addresses not in ("bytes", "str"):
        raise ValueError(f"addresses must be 'bytes' or 'str', got {addresses!r}")


# ---------------------------------------------------------------- arrow pieces
def _arrow_numeric(pa, array: np.ndarray):
    # pa.array on a contiguous numeric numpy array wraps its buffer (no copy).
    return pa.array(np.ascontiguousarray(array))


def _arrow_timestamp(pa, ts: np.ndarray, valid: np.ndarray | None = None):
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    kind = pa.timestamp("ns", tz="UTC")
    if valid is not None and not valid.all():
        return pa.array(ts, type=pa.int64(), mask=~valid).cast(kind)
    return pa.Array.from_buffers(kind, len(ts), [None, pa.py_buffer(ts)])


def _arrow_fixed_binary(pa, rows: np.ndarray, width: int):
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    return pa.Array.from_buffers(pa.binary(width), rows.shape[0], [None, pa.py_buffer(rows)])


def _arrow_packets(pa, batch: Batch):
    batch.validate()
    if not batch.is_packed():
        batch = batch.copy()
    n = len(batch)
    ends = np.empty(n + 1, dtype=np.int64)
    ends[:n] = batch.offset
    ends[n] = batch.data.shape[0]
    return pa.Array.from_buffers(
        pa.large_binary(), n, [None, pa.py_buffer(ends), pa.py_buffer(batch.data)])


def _arrow_addresses(pa, values: list[str], codes: np.ndarray):
    # Printable addresses as a dictionary array: each distinct address once.
    indices = pa.array(codes.astype(np.int32), mask=codes < 0)
    return pa.DictionaryArray.from_arrays(indices, pa.array(values, type=pa.string()))


def _arrow_named(pa, column: str, array: np.ndarray):
    # A code column with a vocabulary as a dictionary array: each name stored once.
    labels, codes = names_for(column, array)
    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)),
                                          pa.array(labels, type=pa.string()))


def _pandas_named(pd, column: str, array: np.ndarray):
    labels, codes = names_for(column, array)
    return pd.Categorical.from_codes(codes, categories=pd.Index(labels, dtype=object))


def _is_named(column: str, names: bool) -> bool:
    return names and column in NAMED_COLUMNS


def _pandas_addresses(pd, values: list[str], codes: np.ndarray):
    # Printable addresses as a Categorical: each distinct address once.
    return pd.Categorical.from_codes(codes, categories=pd.Index(values, dtype=object))


def _arrow_header_columns(pa, headers, addresses: str, names: bool) -> dict:
    out = {}
    for name, array in headers.columns().items():
        if isinstance(array, StringColumn):     # application strings: the same buffers
            out[name] = array.to_arrow()
        elif name in _ADDRESS_WIDTH:
            if addresses == "str":
                out[name] = _arrow_addresses(pa, *_header_address_codes(headers, name, array))
            else:
                out[name] = _arrow_fixed_binary(pa, array, _ADDRESS_WIDTH[name])
        elif _is_named(name, names):
            out[name] = _arrow_named(pa, name, array)
        else:
            out[name] = _arrow_numeric(pa, _widened(name, array))
    return out


# ---------------------------------------------------------------- Batch
def batch_to_arrow(batch: Batch, *, data: bool = True, decode: bool = False,
                   addresses: str = "bytes", names: bool = True):
    """A pyarrow Table with one row per packet.

    Columns: ``ts`` as ``timestamp[ns, tz=UTC]``, then ``caplen``,
    ``wirelen`` (int64, so sums never wrap), ``ifindex``, ``pkttype``,
    ``protocol``, ``vlan_tci``, ``vlan_tpid``, ``rxhash``, ``status``
    (zero-copy views of the numpy columns) and, with ``data=True``, ``data``: the packet bytes as
    ``large_binary``, built over ``batch.data`` without copying when the
    batch is packed (otherwise from a packed copy).  ``decode=True`` appends
    the :class:`~ringcap.headers.Headers` columns; ``addresses`` picks
    ``fixed_size_binary`` (``"bytes"``) or printable strings (``"str"``, a
    dictionary column: each distinct address stored once) for their MAC and
    IP addresses.  ``names=True`` turns the columns with a fixed vocabulary
    (``pkttype``, ``protocol``, ``status``, and decoded ``ethertype``,
    ``ip_proto``, ``tcp_flags``) into dictionary columns of the names in
    :mod:`ringcap.names` (``"host"``, ``"ipv4"``, ``"tcp"``, ``"SA"``);
    ``names=False`` keeps the integers.
    """
    pa = _pyarrow()
    _check_addresses(addresses)
    columns = {"ts": _arrow_timestamp(pa, batch.ts)}
    for name in COLUMNS:
        if name not in ("ts", "offset"):
            array = getattr(batch, name)
            columns[name] = (_arrow_named(pa, name, array) if _is_named(name, names)
                             else _arrow_numeric(pa, _widened(name, array)))
    if data:
        columns["data"] = _arrow_packets(pa, batch)
    if decode:
        columns.update(_arrow_header_columns(pa, decode_batch(batch), addresses, names))
    return pa.table(columns)


def batch_to_pandas(batch: Batch, *, data: bool = True, decode: bool = False,
                    addresses: str = "str", names: bool = True):
    """A pandas DataFrame with one row per packet.

    ``ts`` is ``datetime64[ns, UTC]``; ``caplen`` and ``wirelen`` (and the
    decoded ``ip_len``, ``payload_len``) are int64, so that a sum of bytes
    never wraps; the other batch columns keep their numpy dtypes (``offset``
    is left out), except that with ``names=True``
    ``pkttype``, ``protocol`` and ``status`` (and decoded ``ethertype``,
    ``ip_proto``, ``tcp_flags``) are Categoricals of their names
    (:mod:`ringcap.names`); ``data=True`` adds the packet
    bytes as a column of ``bytes``.  ``decode=True`` appends the decoded
    header columns (see :func:`headers_to_pandas` for ``addresses``).
    """
    pd = _pandas()
    _check_addresses(addresses)
    frame = {"ts": pd.to_datetime(np.asarray(batch.ts, dtype=np.int64), unit="ns", utc=True)}
    for name in COLUMNS:
        if name not in ("ts", "offset"):
            array = np.asarray(getattr(batch, name))
            frame[name] = (_pandas_named(pd, name, array) if _is_named(name, names)
                           else _widened(name, array))
    if data:
        packets = np.empty(len(batch), dtype=object)
        packets[:] = batch.packets()
        frame["data"] = packets
    if decode:
        frame.update(_pandas_header_columns(pd, decode_batch(batch), addresses, names))
    return pd.DataFrame(frame)


# ---------------------------------------------------------------- Headers
def headers_to_arrow(headers, *, addresses: str = "bytes", ts: bool = True, names: bool = True):
    """A pyarrow Table of decoded header columns, one row per packet.

    Numeric columns share memory with the numpy arrays; ``eth_*`` and
    ``ip_*`` become ``fixed_size_binary(6)``/``(16)`` over the same bytes,
    or with ``addresses="str"`` dictionary-encoded strings (null for the IP
    addresses of non-IP packets and the MACs of packets without an Ethernet header).  ``ts=True`` puts the
    batch's timestamps first as ``timestamp[ns, tz=UTC]``.  ``names=True``
    makes ``ethertype``, ``ip_proto`` and ``tcp_flags`` dictionary columns of
    their names (:mod:`ringcap.names`); ``names=False`` keeps the integers.
    """
    pa = _pyarrow()
    _check_addresses(addresses)
    columns = {"ts": _arrow_timestamp(pa, headers.ts)} if ts else {}
    columns.update(_arrow_header_columns(pa, headers, addresses, names))
    return pa.table(columns)


def _pandas_header_columns(pd, headers, addresses: str, names: bool) -> dict:
    out = {}
    for name, array in headers.columns().items():
        if isinstance(array, StringColumn):     # string[pyarrow] over the same buffers
            out[name] = pd.arrays.ArrowStringArray(array.to_arrow())
        elif name in _ADDRESS_WIDTH:
            if addresses == "str":
                out[name] = _pandas_addresses(pd, *_header_address_codes(headers, name, array))
            else:
                out[name] = address_bytes(array)
        elif _is_named(name, names):
            out[name] = _pandas_named(pd, name, array)
        else:
            out[name] = _widened(name, array)
    return out


def headers_to_pandas(headers, *, addresses: str = "str", ts: bool = True, names: bool = True):
    """A pandas DataFrame of decoded header columns, one row per packet.

    Addresses become printable strings (``addresses="str"``: a pandas
    Categorical, each distinct address formatted and stored once; NaN for
    the IP addresses of non-IP packets and the MACs of packets without an
    Ethernet header) or 6/16-byte ``bytes``
    (``"bytes"``).  Group on them with ``observed=True``.  ``ts=True`` adds
    the timestamps as ``datetime64[ns, UTC]``.  ``names=True`` makes
    ``ethertype``, ``ip_proto`` and ``tcp_flags`` Categoricals of their names
    (``"ipv4"``, ``"tcp"``, ``"SA"``; see :mod:`ringcap.names`).
    """
    pd = _pandas()
    _check_addresses(addresses)
    frame = {}
    if ts:
        frame["ts"] = pd.to_datetime(np.asarray(headers.ts, dtype=np.int64), unit="ns", utc=True)
    frame.update(_pandas_header_columns(pd, headers, addresses, names))
    return pd.DataFrame(frame)


# ---------------------------------------------------------------- flows
_FLOW_TIMES = ("first_ts", "last_ts", "first_ts_fwd", "last_ts_fwd", "first_ts_rev", "last_ts_rev")


def _arrow_flow_column(pa, name: str, array: np.ndarray, addresses: str, names: bool):
    """A flow table's or flow records' column that is not a time: addresses,
    named codes, numbers."""
    if name in ("ip_src", "ip_dst"):
        if addresses == "str":
            return _arrow_addresses(pa, *_address_codes(array))
        return _arrow_fixed_binary(pa, array, 16)
    if _is_named(name, names):
        return _arrow_named(pa, name, array)
    return _arrow_numeric(pa, array)


def _pandas_flow_column(pd, name: str, array: np.ndarray, addresses: str, names: bool):
    """The pandas twin of :func:`_arrow_flow_column`."""
    if name in ("ip_src", "ip_dst"):
        if addresses == "str":
            return _pandas_addresses(pd, *_address_codes(array))
        return address_bytes(array)
    if _is_named(name, names):
        return _pandas_named(pd, name, array)
    return array


def flows_to_arrow(table, *, addresses: str = "bytes", names: bool = True):
    """A pyarrow Table with one row per flow.

    Timestamps are ``timestamp[ns, tz=UTC]``, null for a direction without
    packets; ``ip_src``/``ip_dst`` are ``fixed_size_binary(16)`` or
    dictionary-encoded strings (``addresses="str"``); with ``names=True``
    ``ip_proto`` and the TCP flag unions are dictionary columns of names.
    """
    pa = _pyarrow()
    _check_addresses(addresses)
    columns = {}
    for name, array in table.columns().items():
        if name in _FLOW_TIMES:
            valid = table.packets_rev > 0 if name.endswith("_rev") else None
            columns[name] = _arrow_timestamp(pa, array, valid)
        else:
            columns[name] = _arrow_flow_column(pa, name, array, addresses, names)
    return pa.table(columns)


def flows_to_pandas(table, *, addresses: str = "str", names: bool = True):
    """A pandas DataFrame with one row per flow.

    Timestamps are ``datetime64[ns, UTC]`` (NaT for a direction without
    packets); addresses are Categorical strings or 16-byte ``bytes``; with
    ``names=True`` ``ip_proto`` and the TCP flag unions are Categoricals of
    names (``"tcp"``, ``"FSPA"``).
    """
    pd = _pandas()
    _check_addresses(addresses)
    frame = {}
    for name, array in table.columns().items():
        if name in _FLOW_TIMES:
            frame[name] = pd.to_datetime(array.view("datetime64[ns]"), utc=True)
        else:
            frame[name] = _pandas_flow_column(pd, name, array, addresses, names)
    return pd.DataFrame(frame)


# ---------------------------------------------------------------- flow records
_RECORD_STRINGS = NAME_COLUMNS[:3]      # server_name, client_fingerprint, user_agent


def records_to_arrow(records, *, addresses: str = "bytes", names: bool = True):
    """A pyarrow Table with one row per flow record (:class:`ringcap.FlowRecords`).

    ``*_first_seen``/``*_last_seen`` are ``timestamp[ns, tz=UTC]`` (null for
    a direction without packets); ``tcp_server_rtt_ns``/``tcp_client_rtt_ns``
    are ``duration[ns]``, null where the handshake was not captured; other
    durations and statistics stay numbers (ns, bytes); ``server_name``,
    ``client_fingerprint`` and ``user_agent`` are dictionary-encoded strings
    (null where none was seen); addresses and
    ``names`` (``ip_proto`` as a dictionary of names) as in :func:`flows_to_arrow`.
    """
    pa = _pyarrow()
    _check_addresses(addresses)
    columns = {}
    for name, array in records.columns().items():
        if name in TIMESTAMP_COLUMNS:
            columns[name] = _arrow_timestamp(pa, array, array != np.iinfo(np.int64).min)
        elif name in RTT_COLUMNS:
            columns[name] = pa.array(np.ascontiguousarray(array), type=pa.int64(),
                                     mask=array < 0).cast(pa.duration("ns"))
        elif name in _RECORD_STRINGS:       # each distinct name stored once
            columns[name] = pa.array(array, type=pa.string()).dictionary_encode()
        else:
            columns[name] = _arrow_flow_column(pa, name, array, addresses, names)
    return pa.table(columns)


def records_to_pandas(records, *, addresses: str = "str", names: bool = True):
    """A pandas DataFrame with one row per flow record (:class:`ringcap.FlowRecords`).

    ``*_first_seen``/``*_last_seen`` are ``datetime64[ns, UTC]`` (NaT for a
    direction without packets); the RTT columns ``timedelta64[ns]`` (NaT
    where not captured); ``server_name``, ``client_fingerprint`` and
    ``user_agent`` Categoricals (NaN where none was seen); addresses and
    ``names`` (``ip_proto`` as a Categorical of names) as in :func:`flows_to_pandas`.
    """
    pd = _pandas()
    _check_addresses(addresses)
    frame = {}
    for name, array in records.columns().items():
        if name in TIMESTAMP_COLUMNS:
            frame[name] = pd.to_datetime(array.view("datetime64[ns]"), utc=True)
        elif name in RTT_COLUMNS:
            frame[name] = pd.to_timedelta(np.where(array < 0, np.iinfo(np.int64).min, array)
                                          .view("timedelta64[ns]"))
        elif name in _RECORD_STRINGS:
            frame[name] = pd.Categorical(array)
        else:
            frame[name] = _pandas_flow_column(pd, name, array, addresses, names)
    return pd.DataFrame(frame)


# ---------------------------------------------------------------- dispatch
def to_arrow(obj: Batch | Headers | FlowTable | FlowRecords, **options: Any) -> Any:
    """A pyarrow Table from a :class:`Batch`, ``Headers``, ``FlowTable`` or ``FlowRecords``."""
    if isinstance(obj, Batch):
        return batch_to_arrow(obj, **options)
    if isinstance(obj, Headers):
        return headers_to_arrow(obj, **options)
    if isinstance(obj, FlowTable):
        return flows_to_arrow(obj, **options)
    if isinstance(obj, FlowRecords):
        return records_to_arrow(obj, **options)
    raise TypeError(f"to_arrow() takes a Batch, Headers, FlowTable or FlowRecords, "
                    f"got {type(obj).__name__}")


def to_pandas(obj: Batch | Headers | FlowTable | FlowRecords, **options: Any) -> Any:
    """A pandas DataFrame from a :class:`Batch`, ``Headers``, ``FlowTable`` or ``FlowRecords``."""
    if isinstance(obj, Batch):
        return batch_to_pandas(obj, **options)
    if isinstance(obj, Headers):
        return headers_to_pandas(obj, **options)
    if isinstance(obj, FlowTable):
        return flows_to_pandas(obj, **options)
    if isinstance(obj, FlowRecords):
        return records_to_pandas(obj, **options)
    raise TypeError(f"to_pandas() takes a Batch, Headers, FlowTable or FlowRecords, "
                    f"got {type(obj).__name__}")


# Batch.to_arrow(), Headers.to_pandas(), ... call these (see ringcap.batch.export_as).
for _cls, _arrow, _pandas_fn in ((Batch, batch_to_arrow, batch_to_pandas),
                                 (Headers, headers_to_arrow, headers_to_pandas),
                                 (FlowTable, flows_to_arrow, flows_to_pandas),
                                 (FlowRecords, records_to_arrow, records_to_pandas)):
    register_exporter(_cls, "arrow", _arrow)
    register_exporter(_cls, "pandas", _pandas_fn)
del _cls, _arrow, _pandas_fn
