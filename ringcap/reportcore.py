"""What :class:`ringcap.report.TrafficReport` counts and how it tells it, without numpy.

:class:`ReportCounts` folds columns (any buffers: numpy arrays or
``array``) into the summary, protocol keys, length buckets, rate bins, IP
conversations and names, all in compiled code (``ringcap._conversations``)
or plain Python, and turns them into the report's rows.  ``TrafficReport``
adds batches, flows and server names on top; ``ringcap stats FILE``
(:mod:`ringcap.cli.filestats`) folds a classic pcap file's records into it
directly, so the two print the same bytes by construction.
"""
from __future__ import annotations

import math
import os
from array import array
TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    from typing import Any

from ._conversations import ConversationTable, PacketCounters, count_bins
from ._decode import FLAG_BITS
from .textnames import ethertype_name, host_name, ip_proto_name, ip_text

__all__ = ["ReportCounts", "FileInfo", "file_info", "SIZE_BUCKETS", "PROTOCOL_NAMES", "LINK_PROTOCOL_NAMES",
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

#: The kinds of names a report counts (``top_names()``), most specific first:
#: a flow's server name is its SNI, else its HTTP host, else its DNS query name.
NAME_KINDS: tuple[str, ...] = ("tls_sni", "http_host", "dns_query")

_VLAN, _QINQ = FLAG_BITS["VLAN"], FLAG_BITS["QINQ"]


def _bucket_label(i: int) -> str:
    lo = SIZE_BUCKETS[i]
    if i + 1 == len(SIZE_BUCKETS):
        return f"{lo} and greater"
    return f"{lo}-{SIZE_BUCKETS[i + 1] - 1}"


class FileInfo:
    """What a capture file says about itself (``capinfos``'s file lines).

    (A plain class: `dataclasses` would be a quarter of ``ringcap stats``'s
    start-up, ``inspect`` with it.)"""

    def __init__(self, path: str, format: str, file_size: int, linktypes: list[int],
                 snaplen: int | None, nanosecond: bool,
                 interfaces: list[dict[str, Any]] | None = None, received: int | None = None,
                 dropped: int | None = None) -> None:
        self.path, self.format, self.file_size = path, format, file_size
        self.linktypes, self.snaplen, self.nanosecond = linktypes, snaplen, nanosecond
        self.interfaces = [] if interfaces is None else interfaces
        self.received, self.dropped = received, dropped

    def __repr__(self) -> str:
        return f"FileInfo({', '.join(f'{k}={v!r}' for k, v in vars(self).items())})"

    def __eq__(self, other) -> bool:
        return vars(self) == vars(other) if type(other) is FileInfo else NotImplemented

    __hash__ = None  # type: ignore[assignment]


class ReportCounts:
    """Summary, protocol, conversation, endpoint, size, rate and name
    statistics, folded from columns (see :class:`ringcap.report.TrafficReport`,
    which documents them)."""

    def __init__(self, *, interval: float = 1.0, track_names: bool = False) -> None:
        interval = float(interval)
        if not math.isfinite(interval) or interval <= 0:
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
        self._bin_packets = array("q")                  # one batch's bins (reused, zeros)
        self._bin_bytes = array("q")
        self._conversations = ConversationTable()
        self.track_names = bool(track_names)
        # kind -> name -> messages (DNS queries, ClientHellos, HTTP requests)
        self._names: dict[str, dict[str, int]] = {kind: {} for kind in NAME_KINDS}

    # ------------------------------------------------------------------ folding
    def _fold_counts(self, linktype, ethertype, ip_proto, ip_version, flags, wirelen, caplen, ts,
                     n: int) -> None:
        """Fold ``n`` packets' times, sizes and protocol keys (C-contiguous
        columns of Batch's and Headers' types)."""
        # one compiled pass: times, wire bytes, protocol keys, length buckets
        lo, hi, wire, captured, backwards = self._counters.add(
            linktype, ethertype, ip_proto, ip_version, flags, wirelen, caplen, ts, _VLAN, _QINQ)
        if backwards:
            self.time_ordered = False
        self.first_ts = lo if self.first_ts is None else min(self.first_ts, lo)
        self.last_ts = hi if self.last_ts is None else max(self.last_ts, hi)
        self.packets += n
        self.captured_size += captured
        self.wire_size += wire
        self._add_rates(ts, wirelen, lo, hi)

    def _add_conversations(self, ip_src, ip_dst, ip_version, ts, wirelen) -> None:
        """Fold the IP packets' address pairs (ip_src/ip_dst: (n, 16) bytes)."""
        self._conversations.add(ip_src, ip_dst, ip_version, ts, wirelen)

    def _count_name(self, kind: str, name: str) -> str:
        """Count one message naming ``name`` (of a kind of NAME_KINDS); returns
        the name counted (an HTTP host as a server name)."""
        if kind == "http_host":
            name = host_name(name)
        counts = self._names[kind]
        counts[name] = counts.get(name, 0) + 1
        return name

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

    def _add_rates(self, ts, wirelen, first_ts: int, last_ts: int) -> None:
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
        if len(self._bin_packets) < count:
            self._bin_packets = array("q", bytes(8 * count))
            self._bin_bytes = array("q", bytes(8 * count))
        packets, nbytes = self._bin_packets, self._bin_bytes
        count_bins(ts, wirelen, self.interval_ns, first,
                   memoryview(packets)[:count], memoryview(nbytes)[:count])
        for i in range(count):
            if packets[i]:
                entry = self._bins.setdefault(first + i, [0, 0])
                entry[0] += packets[i]
                entry[1] += nbytes[i]
                packets[i] = nbytes[i] = 0          # (zeros again for the next batch)

    # ------------------------------------------------------------------ results
    def _protocol_totals(self) -> dict[str, list[int]]:
        """Protocol path -> [packets, bytes], from the counters' keys (each
        packet counts at every level of its path)."""
        totals: dict[str, list[int]] = {}
        for value, packets, nbytes in self._counters.protocol_keys():
            linktype = value >> 32
            link = LINK_PROTOCOL_NAMES.get(linktype, f"linktype_{linktype}")
            path = [link] if link else []
            if value & 1:
                path.append("vlan")
            if value & 2:
                path.append("vlan")
            ethertype = (value >> 16) & 0xFFFF
            if ethertype:
                name = ethertype_name(ethertype)
                path.append(PROTOCOL_NAMES.get(name, name))
            if (value >> 2) & 0x3F and (value >> 8) & 0xFF:
                path.append(ip_proto_name((value >> 8) & 0xFF))
            if not path:                    # raw IPv4/IPv6 that did not decode as IP
                path = ["data"]
            for depth in range(1, len(path) + 1):
                entry = totals.setdefault(":".join(path[:depth]), [0, 0])
                entry[0] += packets
                entry[1] += nbytes
        return totals

    def top_names(self, top: int | None = None) -> dict[str, list[dict[str, Any]]]:
        """The names seen (``track_names=True``), most frequent first, per kind of
        :data:`NAME_KINDS`: ``{"name": ..., "count": messages}`` (DNS queries, TLS
        ClientHellos, HTTP requests; HTTP hosts lower-cased without a port)."""
        if not self.track_names:
            raise ValueError("this report does not track names: TrafficReport(track_names=True)")
        return {kind: [{"name": name, "count": count} for name, count in
                       sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:top]]
                for kind, counts in self._names.items()}

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

    def conversations(self, top: int | None = None) -> list[dict[str, Any]]:
        """IP conversations, most bytes first (ties: the earlier first packet,
        then the conversation seen first; ``tshark -z conv,ip``).  Only the
        first ``top`` are copied out of the compiled table and named."""
        rows = self._conversations.ranked(-1 if top is None or top < 0 else top)
        if top is not None and top < 0:
            rows = rows[:top]
        start = self.first_ts or 0
        return [{
            "a": ip_text(a), "b": ip_text(b),
            "packets_ab": pab, "bytes_ab": bab, "packets_ba": pba, "bytes_ba": bba,
            "packets": pab + pba, "bytes": bab + bba,
            "rel_start": (first - start) / 1e9,
            "duration": (last - first) / 1e9,
        } for a, b, _, pab, bab, pba, bba, first, last in rows]

    def endpoints(self, top: int | None = None) -> list[dict[str, Any]]:
        """IP endpoints, most bytes first, then by address (``tshark -z endpoints,ip``)."""
        if top is not None and top <= 0:
            return []
        # summed in compiled code, unsorted; only those that can make the top
        # (ties at the cut included) are copied out and named
        rows = self._conversations.endpoint_rows(-1 if top is None else top)
        named = sorted(((-(r[3] + r[5]), ip_text(r[0]), r) for r in rows),
                       key=lambda k: k[:2])[:top]
        return [{"address": name, "packets": tx_p + rx_p, "bytes": tx_b + rx_b,
                 "tx_packets": tx_p, "tx_bytes": tx_b, "rx_packets": rx_p, "rx_bytes": rx_b}
                for _, name, (_, _, tx_p, tx_b, rx_p, rx_b) in named]

    def packet_sizes(self) -> list[dict[str, Any]]:
        """Frame-length distribution in Wireshark's buckets."""
        total = max(self.packets, 1)
        sizes, size_bytes = self._counters.size_packets, self._counters.size_bytes
        return [{"range": _bucket_label(i), "packets": sizes[i],
                 "bytes": size_bytes[i], "percent": 100.0 * sizes[i] / total}
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


def file_info(path, reader) -> FileInfo:
    """What the file ``reader`` read (at ``path``) says about itself."""
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

