"""Flow records with statistics and expiry, like a flow exporter (nfstream, IPFIX).

:func:`flow_features` and the streaming :class:`FlowMeter` fold decoded
packets into flow records: per direction and both, packets, bytes, packet
size and inter-arrival statistics, TCP flag counts, retransmissions and the
handshake's round-trip times.  A 5-tuple is split into several records by an
idle timeout and an active timeout, and each record says why it ended
(``expiration_id``).  At most ``max_flows`` flows are open at once: past
that the least recently active one is ended early (:data:`EXPIRED_EVICTED`)
and counted, so memory is bounded whatever the traffic.  The per-packet work runs in compiled code without the
GIL (``pyx/_flowmeter.pyx``); the flow key is :attr:`Headers.flow_hash`.

:func:`ringcap.flows` stays the one-row-per-5-tuple summary of a batch.
"""
from __future__ import annotations

from typing import Iterable, Iterator, Union

import numpy as np

from . import _flowmeter
from .appcolumns import APP_PROTOCOLS, StringColumn, host_name
from .batch import Batch, export_as
from .headers import FIVE_TUPLE_COLUMNS, Headers, HeadersBuffer, ip_strings

__all__ = ["FlowMeter", "FlowRecords", "flow_features", "FLOW_RECORD_COLUMNS",
           "FLOW_FEATURE_COLUMNS", "EXPIRED_IDLE", "EXPIRED_ACTIVE", "EXPIRED_END",
           "EXPIRED_EVICTED", "DEFAULT_MAX_FLOWS", "FLUSH_CHUNK_RECORDS", "NO_TIMESTAMP",
           "NO_RTT", "NAME_COLUMNS", "FLOW_NAME_COLUMNS"]

#: ``expiration_id``: no packet for ``idle_timeout`` (nfstream's 0).
EXPIRED_IDLE: int = _flowmeter.EXPIRATION_IDS["idle"]
#: ``expiration_id``: the record lasted ``active_timeout`` (nfstream's 1).
EXPIRED_ACTIVE: int = _flowmeter.EXPIRATION_IDS["active"]
#: ``expiration_id``: still open at the end (:meth:`FlowMeter.flush`).
EXPIRED_END: int = _flowmeter.EXPIRATION_IDS["end"]
#: ``expiration_id``: ended early, least recently active, to keep at most ``max_flows``
#: open (IPFIX's flowEndReason "lack of resources"); :attr:`FlowMeter.evicted` counts them.
EXPIRED_EVICTED: int = _flowmeter.EXPIRATION_IDS["evicted"]
#: Default :class:`FlowMeter` bound on open flows (about 0.8 KiB each: some 400 MiB at most).
DEFAULT_MAX_FLOWS = 500_000
#: Records per chunk of :meth:`FlowMeter.flush_chunks` (and so of :meth:`FlowMeter.flush`'s work).
FLUSH_CHUNK_RECORDS = 65_536
#: First/last seen of a direction without packets (numpy's NaT).
NO_TIMESTAMP = np.iinfo(np.int64).min
#: ``tcp_server_rtt_ns``/``tcp_client_rtt_ns`` when that part of the handshake was not seen.
NO_RTT = -1
#: Names a :class:`FlowMeter` keeps before it first drops those no open flow holds
#: (then at twice what it kept): its memory follows the open flows, not every name seen.
NAMES_KEPT_FLOOR = 65_536

#: The decoded columns the meter reads: the 5-tuple, TCP flags, sequence numbers, payload
#: length, and the tunnel and VLAN columns that can split flows.
FLOW_FEATURE_COLUMNS: tuple[str, ...] = FIVE_TUPLE_COLUMNS + (
    "tcp_flags", "tcp_seq", "payload_len", "tunnel_type", "tunnel_id", "vlan_outer", "vlan_inner")
_TAG_COLUMNS = ("tunnel_type", "tunnel_id", "vlan_outer", "vlan_inner")
#: The application columns the meter reads for the names of a flow (``FlowMeter(names=True)``).
FLOW_NAME_COLUMNS: tuple[str, ...] = ("app_proto", "dns_qr", "dns_qname", "http_host",
                                      "http_user_agent", "tls_sni", "tls_ja4")
#: The string columns of a flow record, and ``dns_queries``.
NAME_COLUMNS: tuple[str, ...] = ("server_name", "client_fingerprint", "user_agent", "dns_queries")
# A packet's tag for the meter: tunnel_type, tunnel_id, outer and inner VLAN id in one word
# (the compiled meter puts it together from these columns).
_TAG_SHIFTS = {"tunnel_type": 56, "tunnel_id": 24, "vlan_outer": 12, "vlan_inner": 0}
_TAG_TYPES = (("tunnel_type", np.uint8), ("tunnel_id", np.uint32), ("vlan_outer", np.uint16),
              ("vlan_inner", np.uint16))
_TAG_MASKS = {"tunnel_type": 0xFF, "tunnel_id": 0xFFFFFFFF, "vlan_outer": 0xFFF,
              "vlan_inner": 0xFFF}
_TUNNEL_KEY = (0xFF << 56) | (0xFFFFFFFF << 24)
_VLAN_KEY = 0xFFFFFF

_SIDES = (("bidirectional", 2), ("src2dst", 0), ("dst2src", 1))
_FLAGS = tuple(_flowmeter.FLAG_COUNT_NAMES)
# nfstream's order of the TCP flag counters, then ours.
_FLAG_ORDER = ("syn", "cwr", "ece", "urg", "ack", "psh", "rst", "fin", "synack")


def _record_columns() -> tuple[str, ...]:
    names = ["ip_version", "ip_proto", "ip_src", "ip_dst", "sport", "dport",
             "tunnel_type", "tunnel_id", "vlan_outer", "vlan_inner", "flow_hash", "expiration_id"]
    for side, _ in _SIDES:
        names += [f"{side}_first_seen", f"{side}_last_seen", f"{side}_duration_ns",
                  f"{side}_packets", f"{side}_bytes"]
    for side, _ in _SIDES:
        names += [f"{side}_min_ps", f"{side}_mean_ps", f"{side}_stddev_ps", f"{side}_max_ps"]
    for side, _ in _SIDES:
        names += [f"{side}_min_piat_ns", f"{side}_mean_piat_ns", f"{side}_stddev_piat_ns",
                  f"{side}_max_piat_ns"]
    for side, _ in _SIDES:
        names += [f"{side}_{flag}_packets" for flag in _FLAG_ORDER]
    for side, _ in _SIDES:
        names.append(f"{side}_retransmissions")
    names += ["tcp_server_rtt_ns", "tcp_client_rtt_ns"]
    return tuple(names) + NAME_COLUMNS


#: Flow record columns, in order.  See :class:`FlowRecords` and docs/flows.md.
FLOW_RECORD_COLUMNS: tuple[str, ...] = _record_columns()
#: Timestamp columns (int64 ns since the epoch; NO_TIMESTAMP for a silent direction).
TIMESTAMP_COLUMNS: tuple[str, ...] = tuple(
    f"{side}_{edge}_seen" for side, _ in _SIDES for edge in ("first", "last"))
#: Round-trip-time columns (int64 ns; NO_RTT when not seen).
RTT_COLUMNS: tuple[str, ...] = ("tcp_server_rtt_ns", "tcp_client_rtt_ns")


def _sample_stddev(m2: np.ndarray, samples: np.ndarray) -> np.ndarray:
    # sqrt(M2 / (n - 1)); 0 with fewer than two samples (as nfstream).
    out = np.zeros(len(m2), dtype=np.float64)
    many = samples > 1
    out[many] = np.sqrt(np.maximum(m2[many], 0.0) / (samples[many] - 1))
    return out


def _columns_from_records(records: np.ndarray, vocabulary: np.ndarray | None = None
                          ) -> dict[str, np.ndarray]:
    columns = {name: np.ascontiguousarray(records[name]) for name in
               ("ip_version", "ip_proto", "ip_src", "ip_dst", "sport", "dport", "expiration_id")}
    columns["flow_hash"] = np.ascontiguousarray(records["flow_hash"])
    tag = records["tag"]
    for name, shift in _TAG_SHIFTS.items():
        dtype = np.uint8 if name == "tunnel_type" else (np.uint32 if name == "tunnel_id"
                                                        else np.uint16)
        columns[name] = ((tag >> np.uint64(shift)) & np.uint64(_TAG_MASKS[name])).astype(dtype)
    sides = records["side"]
    for side, index in _SIDES:
        s = sides[:, index]
        packets = np.ascontiguousarray(s["packets"])
        first = np.ascontiguousarray(s["first_seen"])
        last = np.ascontiguousarray(s["last_seen"])
        columns[f"{side}_first_seen"] = first
        columns[f"{side}_last_seen"] = last
        duration = np.where(packets > 0, last.view(np.uint64) - first.view(np.uint64), 0)
        columns[f"{side}_duration_ns"] = np.minimum(duration, np.iinfo(np.int64).max).astype(
            np.int64)
        columns[f"{side}_packets"] = packets
        columns[f"{side}_bytes"] = np.ascontiguousarray(s["bytes"])
        columns[f"{side}_min_ps"] = np.ascontiguousarray(s["min_ps"])
        columns[f"{side}_mean_ps"] = np.ascontiguousarray(s["mean_ps"])
        columns[f"{side}_stddev_ps"] = _sample_stddev(s["m2_ps"], packets)
        columns[f"{side}_max_ps"] = np.ascontiguousarray(s["max_ps"])
        intervals = np.where(packets > 0, packets - 1, 0)
        columns[f"{side}_min_piat_ns"] = np.ascontiguousarray(s["min_piat"])
        columns[f"{side}_mean_piat_ns"] = np.ascontiguousarray(s["mean_piat"])
        columns[f"{side}_stddev_piat_ns"] = _sample_stddev(s["m2_piat"], intervals)
        columns[f"{side}_max_piat_ns"] = np.ascontiguousarray(s["max_piat"])
        counts = s["flag_packets"]
        for k, flag in enumerate(_FLAGS):
            columns[f"{side}_{flag}_packets"] = np.ascontiguousarray(counts[:, k])
    columns["src2dst_retransmissions"] = np.ascontiguousarray(sides[:, 0]["retransmissions"])
    columns["dst2src_retransmissions"] = np.ascontiguousarray(sides[:, 1]["retransmissions"])
    columns["bidirectional_retransmissions"] = (columns["src2dst_retransmissions"]
                                                + columns["dst2src_retransmissions"])
    syn, synack, ack = records["syn_ts"], records["synack_ts"], records["ack_ts"]
    columns["tcp_server_rtt_ns"] = np.where(synack >= 0, synack - syn, NO_RTT)
    columns["tcp_client_rtt_ns"] = np.where(ack >= 0, ack - synack, NO_RTT)
    if vocabulary is None:
        vocabulary = np.array([None], dtype=object)
    ids = records["names"]
    for k, name in enumerate(NAME_COLUMNS[:3]):
        columns[name] = vocabulary[ids[:, k]]
    columns["dns_queries"] = np.ascontiguousarray(records["dns_queries"])
    return {name: columns[name] for name in FLOW_RECORD_COLUMNS}


_EMPTY_COLUMNS: dict[str, np.ndarray] | None = None    # FlowRecords.empty()'s, zero-length


class FlowRecords:
    """Flow records, columnar: one row per flow record, one numpy array per column.

    Key: ``ip_version``, ``ip_proto``, ``ip_src``, ``ip_dst`` (16 bytes,
    IPv4-mapped), ``sport``, ``dport`` as in the record's first packet, so
    ``src2dst`` is the direction of that packet; ``tunnel_type``,
    ``tunnel_id``, ``vlan_outer``, ``vlan_inner`` of that packet (part of
    the key when the meter splits tunnels or VLANs); ``flow_hash`` (the
    5-tuple's, both directions share it).  ``expiration_id``: :data:`EXPIRED_IDLE`,
    :data:`EXPIRED_ACTIVE`, :data:`EXPIRED_END` or :data:`EXPIRED_EVICTED`.

    Per side (``bidirectional``, ``src2dst``, ``dst2src``): ``_first_seen``,
    ``_last_seen`` (int64 ns since the epoch, :data:`NO_TIMESTAMP` for a
    silent direction), ``_duration_ns``, ``_packets``, ``_bytes`` (wire
    lengths); packet size ``_min_ps``, ``_mean_ps``, ``_stddev_ps``,
    ``_max_ps`` (bytes, sample standard deviation, 0 below two packets);
    inter-arrival time ``_min_piat_ns``, ``_mean_piat_ns``,
    ``_stddev_piat_ns``, ``_max_piat_ns`` (between consecutive packets of that
    side; 0 below two packets); packets with each TCP flag
    ``_syn_packets`` ... ``_fin_packets`` and ``_synack_packets`` (SYN and ACK
    both set); ``_retransmissions`` (TCP segments whose sequence range ends
    at or before the highest end already seen in that direction).

    ``tcp_server_rtt_ns``: first SYN to the SYN-ACK answering it;
    ``tcp_client_rtt_ns``: that SYN-ACK to the client's first ACK;
    :data:`NO_RTT` (-1) when not captured.  Their sum is the handshake's RTT.

    Names (object arrays of ``str``, None where none was seen; in Arrow and
    Parquet dictionary-encoded strings, in pandas Categoricals):
    ``server_name``, the first TLS SNI (also from a QUIC Initial), else HTTP
    ``Host`` (lower-cased, without a port), else DNS query name of the flow,
    as nfstream's ``requested_server_name``; ``client_fingerprint``, the
    first ClientHello's JA4; ``user_agent``, the first HTTP User-Agent;
    ``dns_queries``, the DNS queries in the flow.  Each is read from the
    first packet of its message, without reassembly (see docs/decode.md).

    docs/flows.md maps the names to nfstream's.
    """

    __slots__ = ("_columns",)

    def __init__(self, columns: dict[str, np.ndarray]):
        missing = [name for name in FLOW_RECORD_COLUMNS if name not in columns]
        if missing:
            raise ValueError(f"flow records need the columns {missing}")
        self._columns = {name: columns[name] for name in FLOW_RECORD_COLUMNS}

    @classmethod
    def _from_records(cls, records: np.ndarray, vocabulary: np.ndarray | None = None
                      ) -> "FlowRecords":
        return cls(_columns_from_records(records, vocabulary))

    @classmethod
    def empty(cls) -> "FlowRecords":
        """No records."""
        global _EMPTY_COLUMNS
        if _EMPTY_COLUMNS is None:      # (some 90 numpy calls: made once, the arrays shared)
            _EMPTY_COLUMNS = _columns_from_records(np.empty(0, dtype=_flowmeter.RECORD_DTYPE))
        return cls(_EMPTY_COLUMNS)

    @classmethod
    def concat(cls, parts: Iterable["FlowRecords"]) -> "FlowRecords":
        """The records of ``parts`` one after the other."""
        parts = list(parts)
        if not parts:
            return cls.empty()
        return cls({name: np.concatenate([p._columns[name] for p in parts])
                    for name in FLOW_RECORD_COLUMNS})

    def __getattr__(self, name):
        if name.startswith("_"):       # e.g. copy/pickle probing before _columns is set
            raise AttributeError(name)
        try:
            return self._columns[name]
        except KeyError:
            raise AttributeError(f"'FlowRecords' has no column {name!r}") from None

    def __getitem__(self, index):
        """``records["src2dst_packets"]`` is a column; a slice, boolean mask or
        integer array gives those rows as FlowRecords."""
        if isinstance(index, str):
            if index in self._columns:
                return self._columns[index]
            raise KeyError(f"FlowRecords has no column {index!r}; see FLOW_RECORD_COLUMNS")
        if isinstance(index, (int, np.integer)):
            index = slice(index, index + 1 if index != -1 else None)
        return FlowRecords({name: array[index] for name, array in self._columns.items()})

    def __len__(self) -> int:
        return self._columns["flow_hash"].shape[0]

    @property
    def names(self) -> tuple[str, ...]:
        return FLOW_RECORD_COLUMNS

    def columns(self) -> dict[str, np.ndarray]:
        """Column name -> array, in :data:`FLOW_RECORD_COLUMNS` order."""
        return dict(self._columns)

    def ip_src_str(self) -> np.ndarray:
        """``ip_src`` as printable strings."""
        return ip_strings(self._columns["ip_src"])

    def ip_dst_str(self) -> np.ndarray:
        """``ip_dst`` as printable strings."""
        return ip_strings(self._columns["ip_dst"])

    def to_arrow(self, **options):
        """A pyarrow Table; see :func:`ringcap.export.records_to_arrow`."""
        return export_as(self, "arrow", options)

    def to_pandas(self, **options):
        """A pandas DataFrame; see :func:`ringcap.export.records_to_pandas`."""
        return export_as(self, "pandas", options)

    def __repr__(self) -> str:
        return (f"<FlowRecords {len(self)} records, "
                f"{int(self._columns['bidirectional_packets'].sum())} packets>")


def _timeout_ns(value, name: str) -> int:
    if value is None:
        return np.iinfo(np.int64).max
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number of seconds or None, got {value!r}") from None
    if not seconds > 0 or seconds > 9e9:
        raise ValueError(f"{name} must be a positive number of seconds (at most 9e9) or None "
                         f"for no timeout, got {value!r}")
    return max(1, round(seconds * 1e9))


def _max_flows(value) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"max_flows must be a whole number of flows or None, got {value!r}")
    if value < 1:
        raise ValueError(f"max_flows must be at least 1 (or None for no bound), got {value}")
    return int(value)


def _headers_for_meter(source, needed, buffer: HeadersBuffer) -> Headers:
    if isinstance(source, Batch):
        return buffer.decode(source)
    if isinstance(source, Headers):
        missing = [name for name in FLOW_FEATURE_COLUMNS if name not in source.names
                   and (name not in _TAG_COLUMNS or name in needed)]
        if missing:
            raise ValueError(f"flow features need the columns {missing}, which these headers "
                             f"lack: decode with columns=None or "
                             f"columns=ringcap.flowmeter.FLOW_FEATURE_COLUMNS")
        return source
    raise TypeError(f"expected a ringcap.Batch or Headers, got {type(source).__name__}")


class FlowMeter:
    """A streaming flow accumulator: feed batches, take flow records as they expire.

    ``idle_timeout``: a flow without packets for this many seconds ends
    (``expiration_id`` :data:`EXPIRED_IDLE`); ``active_timeout``: a flow is
    cut after lasting this many seconds, its next packet opens a new record
    (:data:`EXPIRED_ACTIVE`).  ``None`` turns a timeout off.  The defaults
    are nfstream's (120 s and 1800 s).  ``split_tunnels``: packets of the
    same inner 5-tuple in different tunnels (``tunnel_type``/``tunnel_id``:
    VNI, GRE key, MPLS label) are different flows; ``split_vlans``: so are
    packets with different VLAN ids (nfstream keys on the VLAN id).

    ``max_flows`` bounds the open flows (default :data:`DEFAULT_MAX_FLOWS`,
    ``None`` for no bound): a packet that would open one more first ends
    the least recently active flow, whose record comes out of that
    ``update`` with ``expiration_id`` :data:`EXPIRED_EVICTED` (IPFIX's "lack
    of resources"); :attr:`evicted` counts them.  Its later packets open a
    new record, so every packet is still in exactly one record.  This is what
    nfstream's and IPFIX exporters' flow caches do under a scan: memory stays
    at about ``max_flows`` times 0.8 KiB whatever the traffic.

    ``names`` (default True): records carry ``server_name``,
    ``client_fingerprint``, ``user_agent`` and ``dns_queries`` (see
    :class:`FlowRecords`), which costs the application pass of
    ``decode``; with Headers, from their application columns
    (:data:`FLOW_NAME_COLUMNS`) where decoded.  ``names=False`` leaves them
    empty.

    Protocol (for sinks): ``update(batch)`` folds the packets of a
    :class:`~ringcap.Batch` (or its :class:`Headers` with at least
    :data:`FLOW_FEATURE_COLUMNS`) into the open flows and returns the
    :class:`FlowRecords` that expired while doing so, in order of expiry;
    ``expire_idle(now)`` ends the flows idle at a wall-clock time in ns (for a
    live capture during a quiet spell); ``flush_chunks()`` ends every open
    flow (:data:`EXPIRED_END`), oldest last packet first, yielding records
    :data:`FLUSH_CHUNK_RECORDS` at a time; ``flush()`` returns them all at
    once.  The meter stays usable after either.  Memory holds the open flows
    only (at most ``max_flows``): a long capture streams through in bounded
    memory.

    Expiry is checked before every packet against the packet clock (the
    latest timestamp seen; an earlier timestamp counts as the clock, as in
    nfstream), so the records and their order do not depend on how the
    packets were cut into batches: feeding many small batches gives what
    one batch of all the packets gives.

        >>> meter = FlowMeter(idle_timeout=60)                 # doctest: +SKIP
        >>> for batch in ringcap.open_pcap("day.pcap"):       # doctest: +SKIP
        ...     sink.write(meter.update(batch))
        >>> sink.write(meter.flush())                         # doctest: +SKIP
    """

    def __init__(self, *, idle_timeout: float | None = 120.0,
                 active_timeout: float | None = 1800.0, split_tunnels: bool = True,
                 split_vlans: bool = False, max_flows: int | None = DEFAULT_MAX_FLOWS,
                 names: bool = True):
        key_mask = (_TUNNEL_KEY if split_tunnels else 0) | (_VLAN_KEY if split_vlans else 0)
        self._core = _flowmeter.Meter(_timeout_ns(idle_timeout, "idle_timeout"),
                                      _timeout_ns(active_timeout, "active_timeout"), key_mask,
                                      _max_flows(max_flows))
        self.max_flows = max_flows
        self.idle_timeout = idle_timeout
        self.active_timeout = active_timeout
        self._needed = (("tunnel_type", "tunnel_id") if split_tunnels else ()) + \
            (("vlan_outer", "vlan_inner") if split_vlans else ())
        self.names = bool(names)
        # the strings of the names seen, id -> str (0: none), and back
        self._vocabulary: list[str | None] = [None]
        self._ids: dict[str, int] = {}
        self._vocabulary_array = np.array([None], dtype=object)
        self._compact_at = NAMES_KEPT_FLOOR     # vocabulary size that drops unheld names
        self._headers = HeadersBuffer(FLOW_FEATURE_COLUMNS + (FLOW_NAME_COLUMNS if names else ()),
                                      flow_hash=True)   # reused
        # _packet_names' work, reused batch after batch (grown, never shrunk)
        self._name_ids = np.empty((0, 4), dtype=np.uint32)
        self._name_ends = np.empty((2, 0), dtype=np.int32)      # string offsets
        self._name_next = np.empty(0, dtype=np.int64)
        self._name_bytes = np.empty((2, 0), dtype=np.uint8)
        self._name_flags = np.empty((2, 0), dtype=np.bool_)
        self._all_rows = np.empty(0, dtype=np.int64)

    def _intern(self, column: StringColumn, rows: np.ndarray, out: np.ndarray,
                positions: np.ndarray, transform=None) -> None:
        # out[positions[k]] = the id of column[rows[k]] (a loop over the packets
        # that carry a name only).  Slices of one bytes object, and a per-call
        # cache of their ids, keep it at a dict lookup per packet.
        if not len(rows):
            return
        offsets = column.offsets           # only the rows' ends become Python ints
        data, starts, ends = column.data.tobytes(), offsets[rows].tolist(), offsets[rows + 1].tolist()
        seen: dict[bytes, int] = {}
        for at, start, end in zip(positions.tolist(), starts, ends):
            raw = data[start:end]
            number = seen.get(raw)
            if number is None:
                text = raw.decode()
                if transform is not None:
                    text = transform(text)
                number = self._ids.get(text, 0) if text else 0
                if text and not number:
                    number = self._ids[text] = len(self._vocabulary)
                    self._vocabulary.append(text)
                seen[raw] = number
            if number:
                out[at] = number

    def _packet_names(self, h: Headers, rows: np.ndarray | None
                      ) -> tuple[np.ndarray, np.ndarray] | tuple[None, None]:
        # (the packets looked at, in order: ``rows``, the packets the application pass
        # listed, or None: all; (len, 4) uint32 for each: server name, fingerprint and
        # user agent ids, DNS query 0/1, all 0 for a packet that names nothing), in
        # buffers reused batch after batch
        present = set(h.names)
        if not self.names or not present & set(FLOW_NAME_COLUMNS):
            return None, None
        if rows is None:
            if self._all_rows.shape[0] < len(h):
                self._all_rows = np.arange(len(h), dtype=np.int64)
            rows = self._all_rows[:len(h)]
        n = len(rows)
        if self._name_ids.shape[0] < n:
            self._name_ids = np.empty((n, 4), dtype=np.uint32)
            self._name_ends = np.empty((2, n), dtype=np.int32)
            self._name_next = np.empty(n, dtype=np.int64)
            self._name_bytes = np.empty((2, n), dtype=np.uint8)
            self._name_flags = np.empty((2, n), dtype=np.bool_)
        names = self._name_ids[:n]
        names[:] = 0
        server = names[:, 0]
        start, end = self._name_ends[0, :n], self._name_ends[1, :n]
        after = self._name_next[:n]
        proto, qr = self._name_bytes[0, :n], self._name_bytes[1, :n]
        holds, free = self._name_flags[0, :n], self._name_flags[1, :n]

        def carrying(column: StringColumn, unnamed: bool) -> np.ndarray:
            # the positions in rows whose packet holds a string (and no server name yet);
            # (take's mode="clip": with the default "raise", out= is written through a
            # fresh copy; the rows are in range)
            np.take(column.offsets, rows, out=start, mode="clip")
            np.add(rows, 1, out=after)
            np.take(column.offsets, after, out=end, mode="clip")
            np.greater(end, start, out=holds)
            if unnamed:
                np.equal(server, 0, out=free)
                np.logical_and(holds, free, out=holds)
            return np.flatnonzero(holds)

        for column, transform in (("tls_sni", None), ("http_host", host_name),
                                  ("dns_qname", None)):
            if column in present:
                at = carrying(h[column], True)
                self._intern(h[column], rows[at], server, at, transform)
        for k, column in ((1, "tls_ja4"), (2, "http_user_agent")):
            if column in present:
                at = carrying(h[column], False)
                self._intern(h[column], rows[at], names[:, k], at)
        if "app_proto" in present and "dns_qr" in present:
            np.take(h.app_proto, rows, out=proto, mode="clip")
            np.equal(proto, APP_PROTOCOLS["dns"], out=holds)
            np.take(h.dns_qr, rows, out=qr, mode="clip")
            np.equal(qr, 0, out=free)
            np.logical_and(holds, free, out=holds)
            names[:, 3] = holds
        if len(self._vocabulary) != len(self._vocabulary_array):
            self._vocabulary_array = np.array(self._vocabulary, dtype=object)
        # every row looked at, named or not (a row of zeros names nothing): no
        # fresh arrays for the packets that carry a name
        return np.ascontiguousarray(rows, dtype=np.int64), names

    def update(self, source: Union[Batch, Headers]) -> FlowRecords:
        """Fold a batch's packets in; the records that expired meanwhile."""
        h = _headers_for_meter(source, self._needed, self._headers)
        c = np.ascontiguousarray
        # our own decode lists the packets that may carry a name (the rest carry none)
        app_rows = h._app_rows if isinstance(source, Batch) else None
        name_rows, names = self._packet_names(h, None if app_rows is None else app_rows.written)
        self._core.update(
            c(h.ip_version, np.uint8), c(h.ip_src, np.uint8), c(h.ip_dst, np.uint8),
            c(h.sport, np.uint16), c(h.dport, np.uint16), c(h.ip_proto, np.uint8),
            c(h.tcp_flags, np.uint16), c(h.tcp_seq, np.uint32), c(h.payload_len, np.uint32),
            c(h.ts, np.int64), c(h.wirelen, np.uint32), c(h.flow_hash, np.uint64),
            *(c(h[name], dtype) if name in h.names else None for name, dtype in _TAG_TYPES),
            name_rows, names)
        records = self._take()
        if len(self._vocabulary) > self._compact_at:
            self._drop_unheld_names()
        return records

    def _drop_unheld_names(self) -> None:
        # Keep only the names an open flow holds, renumbered in the compiled meter:
        # without this every name ever seen (each DNS query name of a day) stayed,
        # and the vocabulary's array was rebuilt at that size for each new name.
        used = np.zeros(len(self._vocabulary), dtype=np.uint8)
        used[0] = 1
        self._core.names_in_use(used)
        keep = np.flatnonzero(used)
        new_ids = np.zeros(len(used), dtype=np.uint32)
        new_ids[keep] = np.arange(len(keep), dtype=np.uint32)
        self._core.renumber_names(new_ids)
        self._vocabulary = [self._vocabulary[k] for k in keep.tolist()]
        self._ids = {text: k for k, text in enumerate(self._vocabulary) if k}
        self._vocabulary_array = np.array(self._vocabulary, dtype=object)
        self._compact_at = max(NAMES_KEPT_FLOOR, 2 * len(self._vocabulary))

    def expire_idle(self, now: int | None = None) -> FlowRecords:
        """End the flows idle at ``now`` (int ns since the epoch; default: the packet clock)."""
        if now is not None:
            self._core.expire_idle(int(now))
        else:
            self._core.expire_idle(self._core.clock)
        return self._take()

    def flush(self) -> FlowRecords:
        """End every open flow (``expiration_id`` :data:`EXPIRED_END`) and return them all.

        Built from :meth:`flush_chunks`, so the work takes one chunk beside the
        records returned; to keep memory at one chunk, iterate
        :meth:`flush_chunks` and write each chunk out.
        """
        return FlowRecords.concat(self.flush_chunks())

    def flush_chunks(self, chunk_records: int = FLUSH_CHUNK_RECORDS) -> Iterator[FlowRecords]:
        """End every open flow, yielding the records ``chunk_records`` at a time,
        oldest last packet first (``expiration_id`` :data:`EXPIRED_END`).

        Flows not yet yielded stay open: stop early and they are still in the
        meter (the next ``flush`` ends them).
        """
        chunk = _max_flows(chunk_records)
        while self._core.active_flows:
            self._core.expire_all(chunk)
            yield self._take()

    def _take(self) -> FlowRecords:
        if not self._core.pending_records:      # (most batches end no flow)
            return FlowRecords.empty()
        return FlowRecords._from_records(self._core.take_records(), self._vocabulary_array)

    @property
    def active_flows(self) -> int:
        """Flows open now."""
        return self._core.active_flows

    @property
    def packets(self) -> int:
        """IP packets counted so far."""
        return self._core.packets

    @property
    def evicted(self) -> int:
        """Flows ended early (:data:`EXPIRED_EVICTED`) to keep at most ``max_flows`` open."""
        return self._core.evicted

    @property
    def skipped(self) -> int:
        """Packets that were not IP (no flow counts them)."""
        return self._core.skipped

    @property
    def clock(self) -> int:
        """The packet clock: latest timestamp seen, int ns (NO_TIMESTAMP before any)."""
        return self._core.clock

    def __repr__(self) -> str:
        return (f"<FlowMeter idle_timeout={self.idle_timeout} active_timeout="
                f"{self.active_timeout} max_flows={self.max_flows}: {self.active_flows} open "
                f"flows, {self.packets} packets, {self.evicted} evicted>")


def flow_features(source, *, idle_timeout: float | None = 120.0,
                  active_timeout: float | None = 1800.0, split_tunnels: bool = True,
                  split_vlans: bool = False,
                  max_flows: int | None = DEFAULT_MAX_FLOWS, names: bool = True) -> FlowRecords:
    """Flow records with statistics for a Batch, its Headers, or an iterable of either.

    One :class:`FlowMeter` pass over all the packets and a final flush: the
    records in order of expiry, then the flows still open at the end.
    ``ringcap.flow_features(ringcap.open_pcap(path))`` streams a file of any
    size with at most ``max_flows`` open flows (the records are kept).
    """
    meter = FlowMeter(idle_timeout=idle_timeout, active_timeout=active_timeout,
                      split_tunnels=split_tunnels, split_vlans=split_vlans, max_flows=max_flows,
                      names=names)
    if isinstance(source, (Batch, Headers)):
        source = (source,)
    parts = [meter.update(part) for part in source]
    parts.extend(meter.flush_chunks())
    parts = [part for part in parts if len(part)]
    return parts[0] if len(parts) == 1 else FlowRecords.concat(parts)
