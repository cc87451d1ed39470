"""Traffic reports: what ``capinfos`` and Wireshark's Statistics menu tell, from the columns.

:class:`TrafficReport` folds batches one at a time (memory bounded by the
number of distinct conversations, never by packets) into:

- a summary like ``capinfos`` (packets, data size, first/last time,
  duration, byte/bit/packet rates, average packet size); as in capinfos,
  "data size" and the rates count bytes on the wire (``captured_size`` is
  what the file holds, less when the capture was cut at a snaplen);
- a protocol hierarchy like Wireshark's (``tshark -z io,phs``), named with
  Wireshark's protocol abbreviations (``eth``, ``vlan``, ``ip``, ``ipv6``,
  ``arp``, ``tcp``, ``udp``, ``icmp``, ...);
- IP conversations and endpoints like ``tshark -z conv,ip`` / ``-z endpoints,ip``
  (address A is the source of the conversation's first packet; bytes are
  frame lengths on the wire, as Wireshark counts them);
- the packet-length distribution in Wireshark's buckets (0-19, 20-39, ...,
  5120 and greater), by frame length;
- packets and bytes per time interval, at most :data:`MAX_RATE_INTERVALS`
  of them: when the capture spans more, the interval is widened tenfold
  (again if need be) while folding, so a file whose timestamps span years
  costs no more than one spanning minutes.

:func:`file_report` runs it over capture files and adds what only the files
know (format, link type, snaplen, interfaces, recorded drops).  The
``ringcap stats`` command prints it, or its JSON form (:meth:`TrafficReport.to_dict`).

    >>> import ringcap
    >>> from ringcap.report import TrafficReport
    >>> report = TrafficReport()
    >>> report.update(ringcap.Batch.from_packets([bytes(60)], ts=[10**9]))
    >>> report.packets, report.data_size, report.captured_size
    (1, 60, 60)
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Iterable, Sequence

import numpy as np

from .appcolumns import APP_PROTOCOLS, host_name
from .batch import LINKTYPE_NAMES, Batch
from .headers import FIVE_TUPLE_COLUMNS, QINQ, VLAN, FlowWork, HeadersBuffer, flows, ip_strings
from .names import ethertype_names, ip_proto_names
from ._conversations import ConversationTable, PacketCounters, count_bins
from .filtering import LinkTypeFilter, Selection
from .pcapfile import open_pcap
from .pcapfile.buffers import batch_packets_for

_DECODED_LINKTYPES = np.array(sorted(LINKTYPE_NAMES), dtype=np.uint16)
_DECODED_LINKTYPE_SET = frozenset(LINKTYPE_NAMES)


def _all_decoded(linktype: np.ndarray) -> bool:
    """Whether every packet has a link type ringcap decodes: a batch of one link type
    (the usual case: two reductions, nothing allocated) is checked by that type."""
    if not linktype.shape[0]:
        return True
    first = int(linktype[0])
    if linktype.min() == first == linktype.max():
        return first in _DECODED_LINKTYPE_SET
    return bool(np.isin(linktype, _DECODED_LINKTYPES).all())

__all__ = ["TrafficReport", "FileInfo", "file_report", "SIZE_BUCKETS", "PROTOCOL_NAMES",
           "MAX_RATE_INTERVALS", "NAME_KINDS"]

#: Most rate intervals a report keeps; past it the interval is widened tenfold.
MAX_RATE_INTERVALS = 10_000

#: Lower bounds of Wireshark's packet-length buckets ("Packet Lengths" statistics).
SIZE_BUCKETS: tuple[int, ...] = (0, 20, 40, 80, 160, 320, 640, 1280, 2560, 5120)

#: Wireshark's abbreviations where they differ from :mod:`ringcap.names`.
PROTOCOL_NAMES: dict[str, str] = {"ipv4": "ip", "qinq": "vlan"}

#: The first level of the protocol hierarchy, per link type, as Wireshark
#: names the link layer's protocol (``tshark -z io,phs``); the raw IPv4/IPv6
#: link types have none (their hierarchy starts at ``ip``/``ipv6``).  Other
#: link types are ``linktype_<n>``.
LINK_PROTOCOL_NAMES: dict[int, str | None] = {
    0: "null", 1: "eth", 6: "tr", 10: "fddi", 12: "raw", 14: "raw", 101: "raw",
    104: "chdlc", 105: "wlan", 107: "fr", 108: "null", 113: "sll", 114: "llap",
    119: "prism", 127: "radiotap", 129: "arcnet", 144: "irda", 177: "lapd",
    202: "ax25_kiss", 224: "fc", 227: "can", 228: None, 229: None, 230: "wpan",
    253: "netlink", 271: "vsock", 276: "sll",
}

_REPORT_COLUMNS = ("ethertype", "ip_version", "ip_src", "ip_dst", "ip_proto", "flags")
_FLOW_REPORT_COLUMNS = tuple(sorted(set(_REPORT_COLUMNS) | set(FIVE_TUPLE_COLUMNS)))
# What the names need (track_names=True): DNS query names, TLS SNI, HTTP hosts.
_NAME_COLUMNS = ("app_proto", "dns_qr", "dns_qname", "tls_sni", "tls_handshake", "http_host")
#: The kinds of names a report counts (``top_names()``), most specific first:
#: a flow's server name is its SNI, else its HTTP host, else its DNS query name.
NAME_KINDS: tuple[str, ...] = ("tls_sni", "http_host", "dns_query")


def _bucket_label(i: int) -> str:
    lo = SIZE_BUCKETS[i]
    if i + 1 == len(SIZE_BUCKETS):
        return f"{lo} and greater"
    return f"{lo}-{SIZE_BUCKETS[i + 1] - 1}"


class _ConversationTable:
    """IP conversations, one row per unordered address pair, folded packet by
    packet in compiled code (``ringcap._conversations``): a hash table of the
    conversations seen, in the order they first appeared, with packets and
    bytes per direction and the first and last timestamps.  Memory is the
    conversations; nothing is kept per packet."""

    def __init__(self) -> None:
        self._core = ConversationTable()
        self.generation = 0         # packets added so far changed the table this often
        self._endpoints: dict[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self._core)

    def add(self, h, ts: np.ndarray, wirelen: np.ndarray) -> None:
        self.generation += 1
        self._endpoints = None
        c = np.ascontiguousarray          # (no copy: the columns are contiguous)
        self._core.add(c(h.ip_src), c(h.ip_dst), c(h.ip_version), c(ts, np.int64),
                       c(wirelen, np.uint32))

    def totals(self) -> np.ndarray:
        """Bytes of each conversation (both directions), in the order they appeared."""
        return self._core.totals()

    def columns(self, rows: np.ndarray) -> dict[str, np.ndarray]:
        """The conversations ``rows`` (in the order they appeared, counted from 0):
        low and high address ((n, 16) bytes, low < high as bytes), their IP
        version, whether A (the source of the first packet) is the high
        address, packets and bytes (n, 2) low -> high and high -> low, first
        and last timestamp."""
        return self._core.columns(np.ascontiguousarray(rows, np.intp))

    def endpoints(self) -> dict[str, np.ndarray]:
        """Each address once: address ((m, 16) bytes), version, tx/rx packets
        and bytes (the same object until packets are added)."""
        if self._endpoints is None:
            self._endpoints = self._core.endpoints()
        return self._endpoints


@dataclass
class FileInfo:
    """What a capture file says about itself (``capinfos``'s file lines)."""

    path: str
    format: str
    file_size: int
    linktypes: list[int]
    snaplen: int | None
    nanosecond: bool
    interfaces: list[dict[str, Any]] = field(default_factory=list)
    received: int | None = None
    dropped: int | None = None


class TrafficReport:
    """Fold batches into summary, protocol, conversation, endpoint, size and rate statistics.

    ``interval`` is the width of the rate bins in seconds (widened tenfold,
    as often as needed, to keep at most :data:`MAX_RATE_INTERVALS` bins from
    the first packet's to the last's).  Call
    :meth:`update` with each batch, then read the attributes or
    :meth:`to_dict`.  Only IP packets make conversations and endpoints.
    """

    def __init__(self, *, interval: float = 1.0, track_flows: bool = False,
                 track_names: bool = False) -> None:
        interval = float(interval)
        if not np.isfinite(interval) or interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval}")
        self.interval_ns = max(1, int(round(interval * 1e9)))
        self.requested_interval_ns = self.interval_ns
        self.packets = 0
        self.wire_size = 0          # bytes on the wire: capinfos's "Data size"
        self.captured_size = 0      # bytes captured (what the files hold)
        self.first_ts: int | None = None
        self.last_ts: int | None = None
        self.time_ordered = True
        self.drops = 0              # batch-level drop counts seen (live captures)
        #: (time in ns, packets dropped) where drops were seen: live batches and
        #: the files' statistics blocks; past MAX_RATE_INTERVALS marks, those of
        #: one rate interval (or a wider one) are merged into its first.
        self.drop_marks: list[tuple[int, int]] = []
        # wire bytes, times, protocol keys and length buckets, packet by packet
        self._counters = PacketCounters(SIZE_BUCKETS[1:])
        self._bins: dict[int, list[int]] = {}   # bin (ts // interval_ns) -> [packets, bytes]
        self._bin_span: tuple[int, int] | None = None   # first and last bin seen
        self._bin_packets = np.zeros(0, np.int64)       # one batch's bins (reused)
        self._bin_bytes = np.zeros(0, np.int64)
        self._conversations = _ConversationTable()
        self.track_flows = bool(track_flows)
        self._headers = HeadersBuffer(      # reused batch after batch
            (_FLOW_REPORT_COLUMNS if self.track_flows else _REPORT_COLUMNS)
            + (_NAME_COLUMNS + ("sport", "dport") if track_names else ()),
            flow_hash=self.track_flows)
        self._flow_work = FlowWork() if self.track_flows else None
        self._lengths = np.zeros(0, np.int32)       # a string column's lengths (reused)
        # canonical 5-tuple key -> [shown key (first packet's direction), packets, bytes]
        self._flows: dict[bytes, list] = {}
        self.track_names = bool(track_names)
        # kind -> name -> messages (DNS queries, ClientHellos, HTTP requests)
        self._names: dict[str, dict[str, int]] = {kind: {} for kind in NAME_KINDS}
        self._flow_names: dict[bytes, str] = {}     # canonical flow key -> server name

    # ------------------------------------------------------------------ folding
    def update(self, batch: Batch) -> None:
        """Add the packets of ``batch``."""
        n = len(batch)
        self.drops += int(batch.drops)
        if batch.drops and n:
            self.add_drop_mark(int(batch.ts[-1]), int(batch.drops))
        if n == 0:
            return
        c = np.ascontiguousarray          # (no copy: the columns are contiguous)
        if _all_decoded(batch.linktype):
            headers = self._headers.decode(batch)
            ts, wirelen = self._count(batch, c(headers.ethertype), c(headers.ip_proto),
                                      c(headers.ip_version), c(headers.flags))
        else:
            # packets of link types ringcap does not decode (CAN, 802.11 monitor mode,
            # netlink, ...): counted, timed and sized with the others, in their order, as
            # capinfos does, with no protocol beyond their link layer (keys 0)
            decoded = np.isin(batch.linktype, _DECODED_LINKTYPES)
            whole, batch = batch, batch[decoded]
            headers = self._headers.decode(batch)
            keys = []
            for name, dtype in (("ethertype", np.uint16), ("ip_proto", np.uint8),
                                ("ip_version", np.uint8), ("flags", np.uint32)):
                keys.append(np.zeros(n, dtype))
                keys[-1][decoded] = getattr(headers, name)
            self._count(whole, *keys)
            if not len(batch):
                return
            ts, wirelen = c(batch.ts, np.int64), c(batch.wirelen, np.uint32)
        server_names = self._add_names(headers) if self.track_names else {}
        if self.track_flows:
            self._add_flows(headers, server_names)
        self._conversations.add(headers, ts, wirelen)

    def _count(self, batch: Batch, ethertype, ip_proto, ip_version, flags):
        """Fold ``batch``'s times, sizes and protocol keys in; returns its
        (ts, wirelen) columns."""
        c = np.ascontiguousarray
        ts, wirelen = c(batch.ts, np.int64), c(batch.wirelen, np.uint32)
        # one compiled pass: times, wire bytes, protocol keys, length buckets
        lo, hi, wire, captured, backwards = self._counters.add(
            c(batch.linktype, np.uint16), ethertype, ip_proto, ip_version, flags, wirelen,
            c(batch.caplen, np.uint32), ts, VLAN, QINQ)
        if backwards:
            self.time_ordered = False
        self.first_ts = lo if self.first_ts is None else min(self.first_ts, lo)
        self.last_ts = hi if self.last_ts is None else max(self.last_ts, hi)
        self.packets += len(batch)
        self.captured_size += captured
        self.wire_size += wire
        self._add_rates(ts, wirelen, lo, hi)
        return ts, wirelen

    def add_drop_mark(self, ts: int, dropped: int) -> None:
        """Note ``dropped`` packets lost at time ``ts`` (ns), keeping the marks bounded."""
        self.drop_marks.append((ts, dropped))
        if len(self.drop_marks) <= MAX_RATE_INTERVALS:
            return
        width = self.interval_ns
        while True:
            merged: dict[int, list[int]] = {}
            for when, count in self.drop_marks:
                entry = merged.setdefault(when // width, [when, 0])
                entry[0] = min(entry[0], when)
                entry[1] += count
            if len(merged) <= MAX_RATE_INTERVALS // 2:
                break
            width *= 10
        self.drop_marks = sorted((when, count) for when, count in merged.values())

    def _protocol_totals(self) -> dict[str, list[int]]:
        """Protocol path -> [packets, bytes], from the counters' keys (each
        packet counts at every level of its path)."""
        uniq, counts, sizes = self._counters.protocol_keys()
        totals: dict[str, list[int]] = {}
        ethertypes = ethertype_names(((uniq >> 16) & 0xFFFF).astype(np.uint16))
        protos = ip_proto_names(((uniq >> 8) & 0xFF).astype(np.uint8))
        for i, value in enumerate(uniq.tolist()):
            linktype = value >> 32
            link = LINK_PROTOCOL_NAMES.get(linktype, f"linktype_{linktype}")
            path = [link] if link else []
            if value & 1:
                path.append("vlan")
            if value & 2:
                path.append("vlan")
            ethertype = (value >> 16) & 0xFFFF
            if ethertype:
                name = str(ethertypes[i])
                path.append(PROTOCOL_NAMES.get(name, name))
            if (value >> 2) & 0x3F and (value >> 8) & 0xFF:
                path.append(str(protos[i]))
            if not path:                    # raw IPv4/IPv6 that did not decode as IP
                path = ["data"]
            for depth in range(1, len(path) + 1):
                entry = totals.setdefault(":".join(path[:depth]), [0, 0])
                entry[0] += int(counts[i])
                entry[1] += int(sizes[i])
        return totals

    def _add_rates(self, ts: np.ndarray, wirelen: np.ndarray, first_ts: int, last_ts: int) -> None:
        lo, hi = first_ts // self.interval_ns, last_ts // self.interval_ns
        if self._bin_span is not None:
            lo, hi = min(lo, self._bin_span[0]), max(hi, self._bin_span[1])
        factor = 1
        while hi // factor - lo // factor >= MAX_RATE_INTERVALS:
            factor *= 10
        if factor > 1:
            # (ts // i) // f == ts // (i * f): merge the bins kept so far
            merged: dict[int, list[int]] = {}
            for b, (p, nbytes) in self._bins.items():
                entry = merged.setdefault(b // factor, [0, 0])
                entry[0] += p
                entry[1] += nbytes
            self._bins = merged
            self.interval_ns *= factor
            lo, hi = lo // factor, hi // factor
        self._bin_span = (lo, hi)
        # this batch's bins (at most MAX_RATE_INTERVALS), counted into reused arrays
        first, count = first_ts // self.interval_ns, last_ts // self.interval_ns
        count -= first - 1
        if self._bin_packets.shape[0] < count:
            self._bin_packets = np.zeros(count, np.int64)
            self._bin_bytes = np.zeros(count, np.int64)
        packets, nbytes = self._bin_packets[:count], self._bin_bytes[:count]
        count_bins(ts, wirelen, self.interval_ns, first, packets, nbytes)
        for i in np.flatnonzero(packets).tolist():
            entry = self._bins.setdefault(first + i, [0, 0])
            entry[0] += int(packets[i])
            entry[1] += int(nbytes[i])
        packets[:] = 0
        nbytes[:] = 0

    def _add_names(self, h) -> dict[int, str]:
        # Count the names the messages carry; returns packet -> its server name.
        server: dict[int, str] = {}
        columns = {"tls_sni": h.tls_sni, "http_host": h.http_host, "dns_query": h.dns_qname}
        for kind in NAME_KINDS:
            column = columns[kind]
            if column.offsets[-1] == column.offsets[0]:
                continue                 # no packet of the batch carries one
            carriers = self._carriers(column)
            if kind == "dns_query":
                carriers = carriers[(h.app_proto[carriers] == APP_PROTOCOLS["dns"])
                                    & (h.dns_qr[carriers] == 0)]
            counts = self._names[kind]
            for i in carriers.tolist():
                name = column[i]
                if kind == "http_host":
                    name = host_name(name)
                counts[name] = counts.get(name, 0) + 1
                server.setdefault(i, name)
        return server

    def _carriers(self, column) -> np.ndarray:
        """The rows of ``column`` (a StringColumn) that hold a string, found through
        a reused array of lengths (only the rows found are allocated)."""
        n = len(column)
        if self._lengths.shape[0] < n:
            self._lengths = np.empty(n, np.int32)
        lengths = self._lengths[:n]
        np.subtract(column.offsets[1:], column.offsets[:-1], out=lengths)
        return np.flatnonzero(lengths)

    def _add_flows(self, h, server_names: dict[int, str] | None = None) -> None:
        table = flows(h, work=self._flow_work)
        if not len(table):
            return
        flow_of = table.packet_flow
        named = {}
        for i, name in (server_names or {}).items():
            named.setdefault(int(flow_of[i]), name)
        src = np.ascontiguousarray(table.ip_src)
        dst = np.ascontiguousarray(table.ip_dst)
        ends_a = np.concatenate([src, table.sport.astype(">u2").view(np.uint8).reshape(-1, 2)], 1)
        ends_b = np.concatenate([dst, table.dport.astype(">u2").view(np.uint8).reshape(-1, 2)], 1)
        proto = table.ip_proto
        for i in range(len(table)):
            a, b = ends_a[i].tobytes(), ends_b[i].tobytes()
            key = bytes([int(proto[i])]) + (a + b if a <= b else b + a)
            entry = self._flows.get(key)
            if entry is None:
                entry = self._flows[key] = [(int(table.ip_version[i]), int(proto[i]), a, b), 0, 0]
            entry[1] += int(table.packets[i])
            entry[2] += int(table.bytes[i])
            if i in named and key not in self._flow_names:
                self._flow_names[key] = named[i]

    # ------------------------------------------------------------------ results
    def flow_totals(self) -> dict[bytes, tuple[tuple, int, int]]:
        """Per 5-tuple conversation (``track_flows=True``): key -> ((ip_version,
        ip_proto, (addr, port) A, (addr, port) B), packets, bytes).  Both
        directions count; A is the source of the first packet seen."""
        if not self.track_flows:
            raise ValueError("this report does not track flows: TrafficReport(track_flows=True)")
        return {key: (shown, packets, nbytes) for key, (shown, packets, nbytes)
                in self._flows.items()}

    def top_names(self, top: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """The names seen (``track_names=True``), most frequent first, per kind of
        :data:`NAME_KINDS`: ``{"name": ..., "count": messages}`` (DNS queries, TLS
        ClientHellos, HTTP requests; HTTP hosts lower-cased without a port)."""
        if not self.track_names:
            raise ValueError("this report does not track names: TrafficReport(track_names=True)")
        return {kind: [{"name": name, "count": count} for name, count in
                       sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]]
                for kind, counts in self._names.items()}

    def server_name_totals(self) -> dict[str, tuple[int, int, int]]:
        """Per server name (``track_flows=True, track_names=True``): (flows,
        packets, bytes) of the 5-tuple conversations whose first message naming a
        server (SNI, else HTTP host, else DNS query) named it, as nfstream's
        ``requested_server_name``.  Conversations that named none are left out."""
        if not (self.track_flows and self.track_names):
            raise ValueError("server names need TrafficReport(track_flows=True, track_names=True)")
        totals: dict[str, list[int]] = {}
        for key, name in self._flow_names.items():
            _, packets, nbytes = self._flows[key]
            entry = totals.setdefault(name, [0, 0, 0])
            entry[0] += 1
            entry[1] += packets
            entry[2] += nbytes
        return {name: (f, p, b) for name, (f, p, b) in totals.items()}

    @property
    def data_size(self) -> int:
        """Bytes on the wire, capinfos's "Data size" (``captured_size``: bytes captured)."""
        return self.wire_size

    @property
    def duration(self) -> float:
        """Seconds from the first to the last packet (0 for fewer than two)."""
        if self.first_ts is None or self.last_ts is None:
            return 0.0
        return (self.last_ts - self.first_ts) / 1e9

    def summary(self) -> dict[str, Any]:
        """capinfos's numbers: packets, sizes, times, rates."""
        duration = self.duration
        return {
            "packets": self.packets,
            "data_size": self.data_size,
            "wire_size": self.wire_size,
            "captured_size": self.captured_size,
            "first_ts": self.first_ts,
            "last_ts": self.last_ts,
            "duration": duration,
            "data_byte_rate": self.data_size / duration if duration > 0 else 0.0,
            "data_bit_rate": 8 * self.data_size / duration if duration > 0 else 0.0,
            "average_packet_size": self.data_size / self.packets if self.packets else 0.0,
            "average_packet_rate": self.packets / duration if duration > 0 else 0.0,
            "time_ordered": self.time_ordered,
            "drops": self.drops,
        }

    def protocols(self) -> list[dict[str, Any]]:
        """Protocol hierarchy, depth first: ``{"path": "eth:ip:tcp", "packets", "bytes"}``."""
        return [{"path": path, "packets": v[0], "bytes": v[1]}
                for path, v in sorted(self._protocol_totals().items(),
                                      key=lambda kv: kv[0].split(":"))]

    def _conversation_columns(self, top: int | None = None) -> dict[str, np.ndarray]:
        """The conversations as columns, A (the first packet's source) and B
        oriented, most bytes first (ties: the earlier first packet, then the
        conversation seen first).  With ``top`` (>= 0), only the rows that can
        be among the first ``top`` (those with as many bytes as the top-th or
        more), in the same order: a report of 50,000 conversations copies out,
        sorts and turns round the few it shows."""
        table = self._conversations
        cached = getattr(self, "_columns_of", None)
        if cached is not None and cached[0] == table.generation and cached[1] == top:
            return cached[2]                # nothing folded in since
        total = table.totals()
        n = len(total)
        rows = np.arange(n)
        if top is not None and 0 <= top < n:
            rows = rows[:0] if top == 0 else np.flatnonzero(total >= np.partition(total, n - top)[n - top])
        t = table.columns(rows)
        order = np.lexsort((rows, t["first_ts"], -total[rows]))
        a_high = t["a_high"][order]
        low, high = t["low"][order], t["high"][order]
        forward = a_high.astype(np.intp)             # column of the A -> B direction
        rows = np.arange(len(order))
        packets, nbytes = t["packets"][order], t["bytes"][order]
        columns = {
            "a": np.where(a_high[:, None], high, low), "b": np.where(a_high[:, None], low, high),
            "version": t["version"][order],
            "packets_ab": packets[rows, forward], "packets_ba": packets[rows, 1 - forward],
            "bytes_ab": nbytes[rows, forward], "bytes_ba": nbytes[rows, 1 - forward],
            "first_ts": t["first_ts"][order], "last_ts": t["last_ts"][order],
        }
        self._columns_of = (table.generation, top, columns)
        return columns

    def conversations(self, top: int | None = None) -> list[dict[str, Any]]:
        """IP conversations, most bytes first (``tshark -z conv,ip``)."""
        c = self._conversation_columns(top)
        if top is not None:
            c = {name: column[:top] for name, column in c.items()}
        if not len(c["version"]):
            return []
        a = ip_strings(np.ascontiguousarray(c["a"]), c["version"])
        b = ip_strings(np.ascontiguousarray(c["b"]), c["version"])
        start = self.first_ts or 0
        columns = [c[name].tolist() for name in ("packets_ab", "bytes_ab", "packets_ba",
                                                  "bytes_ba", "first_ts", "last_ts")]
        return [{
            "a": str(a[i]), "b": str(b[i]),
            "packets_ab": pab, "bytes_ab": bab, "packets_ba": pba, "bytes_ba": bba,
            "packets": pab + pba, "bytes": bab + bba,
            "rel_start": (first - start) / 1e9,
            "duration": (last - first) / 1e9,
        } for i, (pab, bab, pba, bba, first, last) in enumerate(zip(*columns))]

    def endpoints(self, top: int | None = None) -> list[dict[str, Any]]:
        """IP endpoints, most bytes first, then by address (``tshark -z endpoints,ip``)."""
        e = self._conversations.endpoints()      # summed in compiled code, unsorted
        if not len(e["version"]):
            return []
        total = e["tx_bytes"] + e["rx_bytes"]
        candidates = np.arange(len(total))
        if top is not None and top < len(total):
            if top <= 0:
                return []
            # only those that can make the top (ties at the cut included) get a name
            cut = np.partition(total, len(total) - top)[len(total) - top]
            candidates = np.flatnonzero(total >= cut)
        names = ip_strings(e["address"][candidates], e["version"][candidates])
        ranked = sorted(range(len(candidates)),
                        key=lambda k: (-int(total[candidates[k]]), names[k]))[:top]
        tx_p, tx_b, rx_p, rx_b = (e[name][candidates].tolist() for name in
                                  ("tx_packets", "tx_bytes", "rx_packets", "rx_bytes"))
        return [{"address": str(names[i]), "packets": tx_p[i] + rx_p[i],
                 "bytes": tx_b[i] + rx_b[i], "tx_packets": tx_p[i], "tx_bytes": tx_b[i],
                 "rx_packets": rx_p[i], "rx_bytes": rx_b[i]} for i in ranked]

    def packet_sizes(self) -> list[dict[str, Any]]:
        """Frame-length distribution in Wireshark's buckets."""
        total = max(self.packets, 1)
        sizes, size_bytes = self._counters.size_packets, self._counters.size_bytes
        return [{"range": _bucket_label(i), "packets": int(sizes[i]),
                 "bytes": int(size_bytes[i]), "percent": 100.0 * int(sizes[i]) / total}
                for i in range(len(SIZE_BUCKETS))]

    def rates(self) -> dict[str, Any]:
        """Packets and bytes per interval from the first packet's interval to the last's.

        ``interval`` is the width used (at most :data:`MAX_RATE_INTERVALS`
        intervals; wider than ``requested_interval`` when the capture spans more).
        """
        if not self._bins:
            return {"interval": self.interval_ns / 1e9,
                    "requested_interval": self.requested_interval_ns / 1e9, "start_ts": None,
                    "packets": [], "bytes": []}
        first, last = min(self._bins), max(self._bins)
        packets = [0] * (last - first + 1)
        nbytes = [0] * (last - first + 1)
        for b, (p, s) in self._bins.items():
            packets[b - first] = p
            nbytes[b - first] = s
        return {"interval": self.interval_ns / 1e9,
                "requested_interval": self.requested_interval_ns / 1e9,
                "start_ts": first * self.interval_ns, "packets": packets, "bytes": nbytes}

    def to_dict(self, top: int | None = None) -> dict[str, Any]:
        """Everything, JSON-ready (what ``ringcap stats --json`` prints)."""
        return {
            "summary": self.summary(),
            "protocols": self.protocols(),
            "conversations": self.conversations(top),
            "endpoints": self.endpoints(top),
            "packet_sizes": self.packet_sizes(),
            "rates": self.rates(),
            **({"names": self.top_names(top)} if self.track_names else {}),
        }


_FIRST_BATCH = 4096


def file_report(paths: str | os.PathLike | Sequence[str | os.PathLike], *,
                filter: str | None = None, interval: float = 1.0,
                batch_packets: int | None = None,
                report: TrafficReport | None = None) -> tuple[TrafficReport, list[FileInfo]]:
    """Read capture files batch by batch into one :class:`TrafficReport`.

    ``filter`` is a tcpdump expression applied to every packet first.
    ``report``: fold into this report (e.g. one made with ``track_flows=True``)
    instead of a new one with ``interval``.  ``batch_packets``: packets per
    batch; by default 8192 for the first batch, which keeps a batch of
    1500-byte packets at 12 MB (as fast as 65536 once the reader reuses its
    windows; before, 65536 took 2.3x the CPU on 790-byte packets), then
    batches of about 4 MB, up to 32,768 packets, for files of smaller packets
    (``pcapfile.buffers.batch_packets_for``: a fifth less CPU for the report of
    a million 64-byte frames).
    Returns the report and one :class:`FileInfo` per file.
    """
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    if report is None:
        report = TrafficReport(interval=interval)
    infos: list[FileInfo] = []
    for path in paths:
        with open_pcap(path, batch_packets=_FIRST_BATCH if batch_packets is None
                       else batch_packets) as reader:
            sized = batch_packets is not None
            for batch in _filtered(reader, filter):
                if not sized and len(batch):    # small packets: larger batches after the first
                    reader.batch_packets = batch_packets_for(batch, least=_FIRST_BATCH)
                    sized = True
                report.update(batch)
            info = _file_info(path, reader)
            infos.append(info)
            previous: dict[int, int] = {}
            for s in reader.stats:       # drops between successive statistics blocks
                dropped = s.dropped or 0
                grew = dropped - previous.get(s.interface, 0)
                if grew > 0:
                    report.add_drop_mark(s.ts, grew)
                previous[s.interface] = dropped
    return report, infos


def _filtered(batches: Iterable[Batch], filter: str | None) -> Iterable[Batch]:
    if filter is None:
        yield from batches
        return
    # compiled once per link type; each batch's packets gathered into reused columns
    yield from Selection(LinkTypeFilter(filter))(batches)


def _file_info(path, reader) -> FileInfo:
    interfaces = [{"index": i.index, "name": i.name, "linktype": i.linktype,
                   "snaplen": i.snaplen} for i in reader.interfaces]
    received = dropped = None
    last: dict[int, Any] = {}
    for s in reader.stats:          # the last statistics block of each interface counts
        last[s.interface] = s
    if last:
        received = sum(s.received or 0 for s in last.values())
        dropped = sum(s.dropped or 0 for s in last.values())
    linktypes = sorted({i.linktype for i in reader.interfaces}) or (
        [reader.linktype] if reader.linktype is not None else [])
    return FileInfo(path=os.fspath(path), format=reader.format,
                    file_size=os.path.getsize(path), linktypes=linktypes,
                    snaplen=reader.snaplen, nanosecond=bool(reader.nanosecond),
                    interfaces=interfaces, received=received, dropped=dropped)

