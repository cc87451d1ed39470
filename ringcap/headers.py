"""Decode a batch's frames into header columns, and fold them into flows.

``decode(batch)`` walks every frame once in compiled code (no GIL, never
reading past ``caplen``) and returns :class:`Headers`: one numpy array per
header field, one entry per packet, aligned with the batch.  Filtering stays
numpy: ``batch[h.dport == 443]``.  ``flows(batch)`` aggregates per 5-tuple
with both directions of a conversation in one row.

Malformed or truncated frames never raise: fields that could not be read are
0 and ``Headers.flags`` says why (see the ``TRUNCATED_*``/``BAD_*`` bits).

``ringcap.decode`` and ``ringcap.flows`` are the functions of this module;
its other names (:func:`flag_names`, the flag bits, the column tuples, the
address helpers) are imported from here: ``from ringcap.headers import VLAN``.
"""
from __future__ import annotations

from typing import Union

import numpy as np
import numpy.typing as npt

from . import _decode
from .appcolumns import APP_COLUMNS, APP_MALFORMED, APP_TRUNCATED, AppRows, app_column, app_selection
from .appcolumns import decode_app as _decode_app, split_names
from .batch import Batch, export_as
from .addresses import (_address_codes, _ip_text, address_bytes, ip_bytes, ip_strings,  # noqa: F401
                        mac_bytes, mac_strings)

__all__ = [
    "decode", "flows", "Headers", "HeadersBuffer", "FlowTable", "FlowWork", "HEADER_COLUMNS",
    "FIVE_TUPLE_COLUMNS",
    "FLOW_COLUMNS", "NO_TIMESTAMP",
    "ip_strings", "mac_strings", "ip_bytes", "mac_bytes", "address_bytes", "flag_names",
    "TRUNCATED_L2", "TRUNCATED_L3", "TRUNCATED_L4", "TRUNCATED_PAYLOAD", "TRUNCATED",
    "BAD_IP_VERSION", "BAD_IHL", "BAD_IP_LENGTH", "BAD_L4_LENGTH", "MALFORMED",
    "FRAGMENT", "NONFIRST_FRAGMENT", "VLAN", "QINQ", "VLAN_FROM_METADATA", "IPV6_EXT_LIMIT",
    "VLAN_LIMIT", "TUNNEL", "TRUNCATED_INNER", "TUNNEL_LIMIT", "IP_LENGTH_ZERO", "LLC", "MPLS",
    "BAD_TCP_OPTIONS", "BAD_TUNNEL", "DEFAULT_COLUMNS", "TUNNEL_TYPES", "TCP_OPTION_BITS",
    "MAX_TUNNEL_DEPTH",
]

# ---------------------------------------------------------------- flag bits
_BITS = {**_decode.FLAG_BITS, "APP_MALFORMED": APP_MALFORMED, "APP_TRUNCATED": APP_TRUNCATED}
#: The frame ends inside the Ethernet header or a VLAN tag.
TRUNCATED_L2: int = _BITS["TRUNCATED_L2"]
#: The frame ends inside the IPv4/IPv6 header, IPv4 options or IPv6 extension headers.
TRUNCATED_L3: int = _BITS["TRUNCATED_L3"]
#: The frame ends inside the TCP/UDP/SCTP/ICMP header or TCP options.
TRUNCATED_L4: int = _BITS["TRUNCATED_L4"]
#: Fewer bytes were captured than the IP length says (a snaplen cut).
TRUNCATED_PAYLOAD: int = _BITS["TRUNCATED_PAYLOAD"]
#: The IP version nibble disagrees with the ethertype.
BAD_IP_VERSION: int = _BITS["BAD_IP_VERSION"]
#: IPv4 header length field below 5 words.
BAD_IHL: int = _BITS["BAD_IHL"]
#: IP length shorter than the header, extension headers past it, or longer than the frame.
BAD_IP_LENGTH: int = _BITS["BAD_IP_LENGTH"]
#: Transport header past the IP length, TCP data offset below 5, or a UDP length that does not fit.
BAD_L4_LENGTH: int = _BITS["BAD_L4_LENGTH"]
#: An IP fragment (more-fragments set or a non-zero offset).
FRAGMENT: int = _BITS["FRAGMENT"]
#: A fragment with a non-zero offset: it carries no transport header.
NONFIRST_FRAGMENT: int = _BITS["NONFIRST_FRAGMENT"]
#: At least one VLAN tag (in the bytes or in the kernel's metadata).
VLAN: int = _BITS["VLAN"]
#: Two or more VLAN tags (802.1ad QinQ).
QINQ: int = _BITS["QINQ"]
#: The outer VLAN tag was stripped from the bytes and taken from ``Batch.vlan_tci``.
VLAN_FROM_METADATA: int = _BITS["VLAN_FROM_METADATA"]
#: More IPv6 extension headers than the decoder follows (16); ``ip_proto`` is the last one seen.
IPV6_EXT_LIMIT: int = _BITS["IPV6_EXT_LIMIT"]
#: More than 8 VLAN tags: the frame is not decoded past them (``ethertype`` 0).
VLAN_LIMIT: int = _BITS["VLAN_LIMIT"]
#: Decoded through at least one encapsulation: the usual columns hold the inner packet.
TUNNEL: int = _BITS["TUNNEL"]
#: A truncation bit was set inside an encapsulated packet.
TRUNCATED_INNER: int = _BITS["TRUNCATED_INNER"]
#: More than ``MAX_TUNNEL_DEPTH`` encapsulations, 16 MPLS labels, or an inner header
#: starting past byte 32,512 (offsets are uint16): not decoded past them.
TUNNEL_LIMIT: int = _BITS["TUNNEL_LIMIT"]
#: IPv4 total length (IPv6 payload length) 0, as TSO/GRO segments show on the host:
#: decoded by the frame's length.
IP_LENGTH_ZERO: int = _BITS["IP_LENGTH_ZERO"]
#: An 802.3 frame: its type field is a length (``eth_len``), ``ethertype`` is 0.
LLC: int = _BITS["LLC"]
#: An MPLS label stack (``mpls_*`` columns).
MPLS: int = _BITS["MPLS"]
#: A TCP option with a wrong length, or running past the TCP header.
BAD_TCP_OPTIONS: int = _BITS["BAD_TCP_OPTIONS"]
#: A tunnel header (GRE, VXLAN, Geneve, ERSPAN, MPLS) or the frame inside it runs
#: past the end of the packet that carries it.
BAD_TUNNEL: int = _BITS["BAD_TUNNEL"]
#: Any truncation bit.
TRUNCATED: int = (TRUNCATED_L2 | TRUNCATED_L3 | TRUNCATED_L4 | TRUNCATED_PAYLOAD
                  | TRUNCATED_INNER)
#: Any malformed-header bit.
MALFORMED: int = (BAD_IP_VERSION | BAD_IHL | BAD_IP_LENGTH | BAD_L4_LENGTH | IPV6_EXT_LIMIT
                  | VLAN_LIMIT | TUNNEL_LIMIT | BAD_TCP_OPTIONS | BAD_TUNNEL)

#: ``tunnel_type`` values: name -> number (0: no encapsulation).
TUNNEL_TYPES: dict[str, int] = dict(_decode.TUNNEL_TYPES)
#: ``tcp_options`` bits: MSS, WSCALE, SACK_PERM, SACK, TIMESTAMP.
TCP_OPTION_BITS: dict[str, int] = dict(_decode.TCP_OPTION_BITS)
#: Encapsulations decoded through; one more sets ``TUNNEL_LIMIT``.
MAX_TUNNEL_DEPTH: int = _decode.MAX_TUNNELS


def flag_names(flags: int) -> list[str]:
    """Names of the bits set in one ``flags`` value, e.g. ``['VLAN', 'TRUNCATED_L4']``."""
    flags = int(flags)
    return [name for name, bit in _BITS.items() if flags & bit]


# ---------------------------------------------------------------- Headers
#: Column name -> (dtype, values per packet), every column ``decode`` can fill.
#: The names are a public contract; docs/decode.md describes each.
HEADER_COLUMNS: dict[str, tuple[np.dtype, int]] = {
    name: (np.dtype(np.bool_) if name == "more_fragments" else np.dtype(f"u{itemsize}"), width)
    for name, itemsize, width in _decode.COLUMN_LAYOUT
}

#: What ``decode(batch)`` fills without ``columns=``: the link, IP and
#: transport columns, ``flags`` and the tunnel summary.  The other columns
#: (tunnel details, ARP, LLC, TCP options, ICMP echo, DSCP/ECN, flow label)
#: cost only when asked for: ``columns=[...]`` or ``columns="all"``.
DEFAULT_COLUMNS: tuple[str, ...] = tuple(HEADER_COLUMNS)[
    :list(HEADER_COLUMNS).index("flags") + 1] + ("tunnel_type", "tunnel_id")


#: The columns of the fast 5-tuple path: ``decode(batch, columns=FIVE_TUPLE_COLUMNS)``.
FIVE_TUPLE_COLUMNS: tuple[str, ...] = tuple(_decode.FIVE_TUPLE_COLUMNS)


def _allocate(n: int, names) -> dict[str, np.ndarray]:
    return {name: np.empty((n, width) if width > 1 else n, dtype=dtype)
            for name, (dtype, width) in HEADER_COLUMNS.items() if name in names}


class Headers:
    """Decoded header fields of a batch: one numpy array per field, aligned with it.

    Entry ``i`` of every column describes packet ``i`` of the batch.  Fields
    a packet does not have (ports of an ARP frame, the IPv4 columns of IPv6)
    are 0; ``flags`` tells truncated and malformed packets apart.

    Link: ``eth_src``, ``eth_dst`` (uint8, shape (n, 6); 0 unless the
    packet's link type is Ethernet); ``ethertype`` after any VLAN tags (for
    other link types the network protocol as an ethertype); ``vlan_outer``,
    ``vlan_inner`` (VLAN ids, 0 when absent; the ``VLAN``/``QINQ`` flags say
    whether a tag was present).  Linux cooked captures (on request):
    ``sll_ifindex`` (SLL2 only), ``sll_hatype``, ``sll_pkttype``,
    ``sll_halen``, ``sll_addr`` (uint8, shape (n, 8)).

    Network: ``l3_offset``; ``ip_version`` (4, 6 or 0); ``ip_src``,
    ``ip_dst`` (uint8, shape (n, 16), IPv4 stored IPv4-mapped
    ``::ffff:a.b.c.d``); ``ipv4_src``, ``ipv4_dst`` (uint32, host order, 0
    unless IPv4); ``ip_proto`` (after IPv6 extension headers); ``ttl`` (TTL
    or hop limit); ``ip_len`` (whole IP packet, for IPv6 40 + payload length);
    ``frag_offset`` (bytes); ``more_fragments`` (bool).

    Transport: ``l4_offset``; ``sport``, ``dport`` (TCP, UDP, SCTP);
    ``tcp_flags`` (9 bits, FIN=0x01 ... NS=0x100), ``tcp_seq``, ``tcp_ack``,
    ``tcp_window``; ``icmp_type``, ``icmp_code`` (ICMP and ICMPv6).

    ``payload_offset``/``payload_len``: application data after the transport
    header, by the headers' lengths (the capture may hold fewer bytes, see
    ``TRUNCATED_PAYLOAD``).  Offsets count from the start of the frame.

    Tunnels: the network and transport columns describe the innermost
    packet; ``tunnel_type``, ``tunnel_id`` (MPLS bottom label, GRE key,
    VNI, ERSPAN session), ``tunnel_depth`` and ``outer_*`` (the IP header
    around the innermost encapsulation) the way there; ``mpls_*``,
    ``gre_*``, ``geneve_opt_len`` the encapsulation headers.  More columns,
    decoded when asked for: ``eth_len``/``llc_*`` (802.3), ``arp_*``,
    ``ip_dscp``/``ip_ecn``/``ipv6_flow_label``, ``tcp_options`` (bits of
    :data:`TCP_OPTION_BITS`) with ``tcp_mss``, ``tcp_wscale``,
    ``tcp_sack_blocks``, ``tcp_tsval``, ``tcp_tsecr``, and
    ``icmp_id``/``icmp_seq`` (echo).  docs/decode.md has the table.

    ``ts``, ``wirelen`` and ``linktype`` are the batch's arrays (not copies), kept so that
    :func:`flows` and exports need only the headers (``linktype`` is None for
    headers built without a batch).  Headers made with
    ``decode(batch, columns=...)`` hold only those columns.
    """

    __slots__ = tuple(HEADER_COLUMNS) + ("ts", "wirelen", "linktype", "_names", "_flow_hash", "_app",
                                         "_app_rows")

    # Column types for type checkers (tests/test_typing.py keeps them equal to HEADER_COLUMNS).
    eth_src: npt.NDArray[np.uint8]
    eth_dst: npt.NDArray[np.uint8]
    ethertype: npt.NDArray[np.uint16]
    vlan_outer: npt.NDArray[np.uint16]
    vlan_inner: npt.NDArray[np.uint16]
    l3_offset: npt.NDArray[np.uint16]
    ip_version: npt.NDArray[np.uint8]
    ip_src: npt.NDArray[np.uint8]
    ip_dst: npt.NDArray[np.uint8]
    ipv4_src: npt.NDArray[np.uint32]
    ipv4_dst: npt.NDArray[np.uint32]
    ip_proto: npt.NDArray[np.uint8]
    ttl: npt.NDArray[np.uint8]
    ip_len: npt.NDArray[np.uint32]
    frag_offset: npt.NDArray[np.uint16]
    more_fragments: npt.NDArray[np.bool_]
    l4_offset: npt.NDArray[np.uint16]
    sport: npt.NDArray[np.uint16]
    dport: npt.NDArray[np.uint16]
    tcp_flags: npt.NDArray[np.uint16]
    tcp_seq: npt.NDArray[np.uint32]
    tcp_ack: npt.NDArray[np.uint32]
    tcp_window: npt.NDArray[np.uint16]
    icmp_type: npt.NDArray[np.uint8]
    icmp_code: npt.NDArray[np.uint8]
    payload_offset: npt.NDArray[np.uint16]
    payload_len: npt.NDArray[np.uint32]
    flags: npt.NDArray[np.uint32]
    tunnel_type: npt.NDArray[np.uint8]
    tunnel_id: npt.NDArray[np.uint32]
    tunnel_depth: npt.NDArray[np.uint8]
    inner_ethertype: npt.NDArray[np.uint16]
    outer_ip_version: npt.NDArray[np.uint8]
    outer_ip_src: npt.NDArray[np.uint8]
    outer_ip_dst: npt.NDArray[np.uint8]
    outer_ip_proto: npt.NDArray[np.uint8]
    outer_l3_offset: npt.NDArray[np.uint16]
    mpls_label: npt.NDArray[np.uint32]
    mpls_tc: npt.NDArray[np.uint8]
    mpls_bos: npt.NDArray[np.uint8]
    mpls_ttl: npt.NDArray[np.uint8]
    mpls_labels: npt.NDArray[np.uint8]
    gre_flags: npt.NDArray[np.uint16]
    gre_seq: npt.NDArray[np.uint32]
    geneve_opt_len: npt.NDArray[np.uint16]
    eth_len: npt.NDArray[np.uint16]
    llc_dsap: npt.NDArray[np.uint8]
    llc_ssap: npt.NDArray[np.uint8]
    arp_op: npt.NDArray[np.uint16]
    arp_sha: npt.NDArray[np.uint8]
    arp_spa: npt.NDArray[np.uint32]
    arp_tha: npt.NDArray[np.uint8]
    arp_tpa: npt.NDArray[np.uint32]
    ip_dscp: npt.NDArray[np.uint8]
    ip_ecn: npt.NDArray[np.uint8]
    ipv6_flow_label: npt.NDArray[np.uint32]
    tcp_options: npt.NDArray[np.uint8]
    tcp_mss: npt.NDArray[np.uint16]
    tcp_wscale: npt.NDArray[np.uint8]
    tcp_sack_blocks: npt.NDArray[np.uint8]
    tcp_tsval: npt.NDArray[np.uint32]
    tcp_tsecr: npt.NDArray[np.uint32]
    icmp_id: npt.NDArray[np.uint16]
    icmp_seq: npt.NDArray[np.uint16]
    sll_ifindex: npt.NDArray[np.uint32]
    sll_hatype: npt.NDArray[np.uint16]
    sll_pkttype: npt.NDArray[np.uint8]
    sll_halen: npt.NDArray[np.uint8]
    sll_addr: npt.NDArray[np.uint8]
    ts: npt.NDArray[np.int64]
    wirelen: npt.NDArray[np.uint32]
    linktype: npt.NDArray[np.uint16] | None

    def __init__(self, columns: dict[str, np.ndarray], ts: np.ndarray, wirelen: np.ndarray, app_rows=None,
                 linktype: np.ndarray | None = None):
        self._names = tuple(name for name in HEADER_COLUMNS if name in columns)
        if "flags" not in self._names:
            raise ValueError("Headers need at least the flags column")
        for name in self._names:
            setattr(self, name, columns[name])
        self.ts = ts
        self.wirelen = wirelen
        self.linktype = linktype    # the batch's, where known: exports leave eth_* of others empty
        self._flow_hash = columns.get("flow_hash")
        # application columns (ringcap.appcolumns): numpy arrays and StringColumns
        self._app = {name: columns[name] for name in APP_COLUMNS if name in columns}
        self._app_rows: AppRows | None = app_rows     # decode(out=self) fills these again

    def __getattr__(self, name):
        # Only reached for slots never set (columns left out by decode(columns=...))
        # and for the application columns.
        if name in APP_COLUMNS:
            return app_column(self._app, name)      # or AttributeError saying how to ask
        if name in HEADER_COLUMNS:
            raise AttributeError(
                f"column {name!r} was not decoded: these headers hold {', '.join(self._names)}; "
                f"call ringcap.decode(batch, columns=\"all\") to get every column")
        raise AttributeError(f"'Headers' object has no attribute {name!r}")

    def __len__(self) -> int:
        return self.flags.shape[0]

    def __getitem__(self, index):
        """``headers["sport"]`` is a column; a slice, boolean mask or integer array
        gives the rows as Headers; an int gives one row as a dict."""
        if isinstance(index, str):
            if index in self._names or index in self._app or index in ("ts", "wirelen", "flow_hash"):
                return getattr(self, index)
            raise KeyError(f"Headers has no column {index!r}; decoded: {', '.join(self.names)}")
        if isinstance(index, (int, np.integer)):
            return {name: column[index] for name, column in self.columns().items()}
        columns = {name: column[index] for name, column in self.columns().items()}
        if self._flow_hash is not None:
            columns["flow_hash"] = self._flow_hash[index]
        return Headers(columns, self.ts[index], self.wirelen[index],
                       linktype=None if self.linktype is None else self.linktype[index])

    @property
    def names(self) -> tuple[str, ...]:
        """The decoded column names, in the contract's order (application columns last)."""
        return self._names + tuple(self._app)

    def columns(self) -> dict[str, np.ndarray]:
        """Column name -> array (a StringColumn for string columns), in the contract's order."""
        return {**{name: getattr(self, name) for name in self._names}, **self._app}

    @property
    def flow_hash(self) -> np.ndarray:
        """Symmetric 64-bit hash of (addresses, ports, ip_proto) per packet; 0 for non-IP.

        Both directions of a conversation share the value.  Computed on
        first use, in one compiled pass.
        """
        if self._flow_hash is None:
            out = np.empty(len(self), dtype=np.uint64)
            _decode.flow_hashes(self.ip_version, self.ip_src, self.ip_dst, self.sport,
                                self.dport, self.ip_proto, out)
            self._flow_hash = out
        return self._flow_hash

    def ip_src_str(self) -> np.ndarray:
        """``ip_src`` as printable strings (None where the packet is not IP)."""
        return ip_strings(self.ip_src, self.ip_version)

    def ip_dst_str(self) -> np.ndarray:
        """``ip_dst`` as printable strings (None where the packet is not IP)."""
        return ip_strings(self.ip_dst, self.ip_version)

    def eth_src_str(self) -> np.ndarray:
        """``eth_src`` as ``aa:bb:cc:dd:ee:ff`` strings."""
        return mac_strings(self.eth_src)

    def eth_dst_str(self) -> np.ndarray:
        """``eth_dst`` as ``aa:bb:cc:dd:ee:ff`` strings."""
        return mac_strings(self.eth_dst)

    def outer_ip_src_str(self) -> np.ndarray:
        """``outer_ip_src`` as printable strings (None where no IP header was outside)."""
        return ip_strings(self.outer_ip_src, self.outer_ip_version)

    def outer_ip_dst_str(self) -> np.ndarray:
        """``outer_ip_dst`` as printable strings (None where no IP header was outside)."""
        return ip_strings(self.outer_ip_dst, self.outer_ip_version)

    def to_arrow(self, **options):
        """A pyarrow Table of the columns; see :func:`ringcap.export.headers_to_arrow`."""
        return export_as(self, "arrow", options)

    def to_pandas(self, **options):
        """A pandas DataFrame of the columns; see :func:`ringcap.export.headers_to_pandas`."""
        return export_as(self, "pandas", options)

    def __repr__(self) -> str:
        n = len(self)
        ip = int(np.count_nonzero(self.ip_version))
        bad = int(np.count_nonzero(self.flags & (TRUNCATED | MALFORMED)))
        return f"<Headers {n} packets, {ip} IP, {bad} truncated or malformed>"


def _contiguous(array: np.ndarray, dtype) -> np.ndarray:
    return np.ascontiguousarray(array, dtype=dtype)


def _column_names(columns, out: Headers | None = None) -> set[str]:
    """The columns ``decode(columns=..., out=...)`` fills."""
    if columns is None:
        return set(DEFAULT_COLUMNS) if out is None else set(out.names)
    if isinstance(columns, str) and columns == "all":
        return set(HEADER_COLUMNS)
    names = {columns} if isinstance(columns, str) else set(columns)
    unknown = sorted(names.difference(HEADER_COLUMNS, APP_COLUMNS))
    if unknown:
        raise ValueError(f"unknown Headers column(s) {unknown}; choose from "
                         f"{', '.join(HEADER_COLUMNS)}, {', '.join(APP_COLUMNS)} "
                         "(or columns='all' for every header column)")
    names.add("flags")
    # an address column comes with the version column that says which rows are IP: without
    # it the export could not tell a packet without an IP header (null) from "::"
    # (into out=, only where out has room for it)
    # (and sll_addr with sll_halen, the part of its 8 bytes that is the address)
    for version, addresses in (("ip_version", {"ip_src", "ip_dst"}),
                               ("outer_ip_version", {"outer_ip_src", "outer_ip_dst"}),
                               ("sll_halen", {"sll_addr"})):
        if names & addresses and (out is None or version in out.names):
            names.add(version)
    return names


def decode(batch: Batch, *, columns=None, out: Headers | None = None,
           tunnels: str = "inner") -> Headers:
    """Decode every frame of ``batch`` into :class:`Headers`.

    One compiled pass, no GIL, never reading past a packet's ``caplen``.
    Each packet is read by its link type (``batch.linktype``): Ethernet,
    Linux cooked v1/v2 (``LINUX_SLL``/``LINUX_SLL2``: ``sll_*`` columns),
    raw IP (``RAW``, also as 12 or 14, ``IPV4``, ``IPV6``) and BSD/OpenBSD
    loopback (``NULL``, ``LOOP``, either byte order).  The network and
    transport columns are the same whatever the link layer; ``eth_*`` stay
    zero where there is no Ethernet header, and ``ethertype`` holds the
    network protocol (from the link header, or the version nibble, or the
    address family).  A batch with a packet of another link type raises
    ValueError naming it.
    VLAN tags are read from the bytes; a tag the kernel stripped is taken
    from ``vlan_tci`` when ``status`` has ``TP_STATUS_VLAN_VALID`` (and
    counted as the outer tag).

    ``columns``: decode only these column names (``flags`` is always
    included, and ``ip_version`` with ``ip_src``/``ip_dst``, ``outer_ip_version``
    with ``outer_ip_*``, so exports tell a packet without IP from ``::``, and
    ``sll_halen`` with ``sll_addr``); ``"all"`` for every column of :data:`HEADER_COLUMNS`; by
    default :data:`DEFAULT_COLUMNS`.  Application columns (:mod:`ringcap.appcolumns`) are decoded only when named
    (docs/decode.md).  :data:`FIVE_TUPLE_COLUMNS` selects a shortcut for plain IPv4 TCP/UDP that is several times
    faster than the full decode; the values are the same.

    ``tunnels="inner"`` (default): encapsulations (MPLS, GRE, ERSPAN,
    VXLAN, Geneve, IP-in-IP) are decoded through, up to
    :data:`MAX_TUNNEL_DEPTH` deep; the usual columns hold the innermost
    packet, ``outer_*`` the IP header around the innermost encapsulation and
    ``tunnel_*`` that encapsulation.  ``tunnels="outer"``: stop at the first
    encapsulation (the usual columns hold the packet on the wire;
    ``tunnel_type``/``tunnel_id`` still name what it carries).

    ``out``: headers from an earlier ``decode`` with at least ``len(batch)`` rows; its arrays (application columns
    too, but for the strings) are overwritten and a view of their first rows returned (no allocation).  Raises
    ValueError when the batch's offsets point outside its data; never raises for the packets' contents.
    """
    if not isinstance(batch, Batch):
        raise TypeError(f"decode() takes a ringcap.Batch, got {type(batch).__name__}; "
                        "build one with Batch.from_packets([...]) for raw bytes")
    if tunnels not in ("inner", "outer"):
        raise ValueError(f"tunnels must be 'inner' or 'outer', got {tunnels!r}")
    n = len(batch)
    names, app_names, helpers = split_names(_column_names(columns, out))
    if out is not None:
        if len(out) < n:
            raise ValueError(f"out has room for {len(out)} packets, the batch has {n}")
        missing = sorted(names - set(out.names))
        if missing:
            raise ValueError(f"out lacks the column(s) {missing}")
        arrays = {name: getattr(out, name)[:n] for name in names}
        if app_names and out._app_rows is None:
            out._app_rows = AppRows(len(out))
        if helpers:     # only when application columns need them: kept with out's AppRows
            kept = out._app_rows.helpers
            if any(name not in kept or kept[name].shape[0] < n for name in helpers):
                kept.update(_allocate(max(n, len(out)), helpers))
            arrays.update((name, kept[name][:n]) for name in helpers)
    else:
        arrays = _allocate(n, names | helpers)
    raw = dict(arrays)
    if "more_fragments" in raw:
        raw["more_fragments"] = arrays["more_fragments"].view(np.uint8)
    # the header pass lists the packets to look at (into out's list buffer, if any)
    select = app_selection(app_names, n, None if out is None else out._app_rows)
    count = _decode.decode_into(
        _contiguous(batch.data, np.uint8), _contiguous(batch.offset, np.int64),
        _contiguous(batch.caplen, np.uint32), _contiguous(batch.wirelen, np.uint32),
        _contiguous(batch.status, np.uint32), _contiguous(batch.vlan_tci, np.uint16),
        _contiguous(batch.vlan_tpid, np.uint16), raw, tunnels == "outer",
        _contiguous(batch.linktype, np.uint16), *select)
    app_rows = None
    if app_names:   # out's application columns are filled again (AppRows), else fresh ones
        arrays, app_rows = _decode_app(batch, arrays, app_names, helpers, select[2][:count], out)
    return Headers(arrays, batch.ts, batch.wirelen, app_rows, batch.linktype)


class HeadersBuffer:
    """Reused output columns for decoding batch after batch: ``decode(batch, out=...)``
    made easy.

    ``HeadersBuffer(columns).decode(batch)`` returns what ``decode(batch,
    columns=columns)`` returns, written into arrays kept from the previous
    call (they grow, doubling, when a batch is larger than any before), so a
    loop over batches allocates nothing per batch: fresh output columns cost
    several times the decode itself (page faults on first touch).  The
    Headers returned are valid until the next ``decode`` (application
    string columns too: their offsets are written again; only the strings'
    bytes are new each time); copy what you keep: ``h.to_arrow()`` shares
    their memory too (``to_pandas()`` copies).  ``flow_hash=True`` also
    fills ``Headers.flow_hash`` into a reused array.  Every loop of
    ringcap's own (sinks, flow meters, reports, the command line's printer)
    decodes this way.

        >>> buffer = HeadersBuffer(FIVE_TUPLE_COLUMNS)     # doctest: +SKIP
        >>> for batch in ringcap.open_pcap("day.pcap"):   # doctest: +SKIP
        ...     h = buffer.decode(batch)
    """

    def __init__(self, columns=None, *, tunnels: str = "inner", flow_hash: bool = False) -> None:
        if tunnels not in ("inner", "outer"):
            raise ValueError(f"tunnels must be 'inner' or 'outer', got {tunnels!r}")
        chosen, self.app_names, helpers = split_names(_column_names(columns))
        chosen |= helpers       # kept with the others; application columns in the AppRows
        self.names: tuple[str, ...] = tuple(name for name in HEADER_COLUMNS if name in chosen)
        self.tunnels = tunnels
        self._flow_hash = flow_hash
        self._out: Headers | None = None
        self._hash = np.empty(0, dtype=np.uint64)

    @property
    def capacity(self) -> int:
        """Rows the arrays hold now."""
        return 0 if self._out is None else len(self._out)

    def decode(self, batch: Batch) -> Headers:
        """``decode(batch)`` into the reused arrays (see the class)."""
        n = len(batch)
        if n > self.capacity:
            rows = max(n, 2 * self.capacity)
            self._out = Headers(_allocate(rows, self.names), _NO_ROWS_I64, _NO_ROWS_U32)
            if self.app_names:      # valid until the next decode: the strings' offsets too
                self._out._app_rows = AppRows(rows, reuse_strings=True)
            if self._flow_hash:
                self._hash = np.empty(rows, dtype=np.uint64)
        h = decode(batch, columns=self.names + tuple(self.app_names), out=self._out,
                   tunnels=self.tunnels)
        if self._flow_hash:
            _decode.flow_hashes(h.ip_version, h.ip_src, h.ip_dst, h.sport, h.dport,
                                h.ip_proto, self._hash[:n])
            h._flow_hash = self._hash[:n]
        return h


_NO_ROWS_I64 = np.zeros(0, dtype=np.int64)
_NO_ROWS_U32 = np.zeros(0, dtype=np.uint32)
# ---------------------------------------------------------------- flows
#: Flow table columns.  "fwd" is the direction of the flow's first packet (ip_src -> ip_dst).
FLOW_COLUMNS: tuple[str, ...] = (
    "ip_version", "ip_proto", "ip_src", "ip_dst", "sport", "dport", "tunnel_type", "tunnel_id",
    "flow_hash",
    "packets", "bytes", "first_ts", "last_ts",
    "packets_fwd", "bytes_fwd", "first_ts_fwd", "last_ts_fwd", "tcp_flags_fwd",
    "packets_rev", "bytes_rev", "first_ts_rev", "last_ts_rev", "tcp_flags_rev",
)

#: Per-direction first/last timestamp of a direction without packets (numpy's NaT).
NO_TIMESTAMP = np.iinfo(np.int64).min


class FlowTable:
    """Per-flow counters, one row per 5-tuple conversation, columnar.

    The forward direction is that of the flow's first packet: ``ip_src``
    (16 bytes, IPv4-mapped) port ``sport`` to ``ip_dst`` port ``dport``.
    For each direction (``_fwd``/``_rev``): packets, bytes (``wirelen``),
    first and last timestamp (ns; :data:`NO_TIMESTAMP` when a direction saw
    nothing) and the union of TCP flags.  ``packets``, ``bytes``,
    ``first_ts``, ``last_ts`` cover both directions.

    ``packet_flow[i]`` is the row of packet ``i`` of the input (-1 for
    packets that are not IP, which no flow counts: ``skipped`` of them).
    Packets without ports (ICMP, non-first fragments) form flows keyed by
    addresses and protocol with ports 0.
    """

    __slots__ = FLOW_COLUMNS + ("packet_flow", "skipped")

    # Column types for type checkers (tests/test_typing.py checks them against a real table).
    ip_version: npt.NDArray[np.uint8]
    ip_proto: npt.NDArray[np.uint8]
    ip_src: npt.NDArray[np.uint8]
    ip_dst: npt.NDArray[np.uint8]
    sport: npt.NDArray[np.uint16]
    dport: npt.NDArray[np.uint16]
    tunnel_type: npt.NDArray[np.uint8]
    tunnel_id: npt.NDArray[np.uint32]
    flow_hash: npt.NDArray[np.uint64]
    packets: npt.NDArray[np.uint64]
    bytes: npt.NDArray[np.uint64]
    first_ts: npt.NDArray[np.int64]
    last_ts: npt.NDArray[np.int64]
    packets_fwd: npt.NDArray[np.uint64]
    bytes_fwd: npt.NDArray[np.uint64]
    first_ts_fwd: npt.NDArray[np.int64]
    last_ts_fwd: npt.NDArray[np.int64]
    tcp_flags_fwd: npt.NDArray[np.uint16]
    packets_rev: npt.NDArray[np.uint64]
    bytes_rev: npt.NDArray[np.uint64]
    first_ts_rev: npt.NDArray[np.int64]
    last_ts_rev: npt.NDArray[np.int64]
    tcp_flags_rev: npt.NDArray[np.uint16]
    packet_flow: npt.NDArray[np.int64]
    skipped: int

    def __init__(self, columns: dict[str, np.ndarray], packet_flow: np.ndarray,
                 skipped: int | None = None):
        for name in FLOW_COLUMNS:
            setattr(self, name, columns[name])
        self.packet_flow = packet_flow
        self.skipped = int(np.count_nonzero(packet_flow < 0)) if skipped is None else skipped

    def __len__(self) -> int:
        return self.packets.shape[0]

    def __getitem__(self, name: str) -> np.ndarray:
        """``table["packets"]``: a column, as in pandas and Arrow."""
        if isinstance(name, str) and name in FLOW_COLUMNS:
            return getattr(self, name)
        raise KeyError(f"FlowTable has no column {name!r}; columns: {', '.join(FLOW_COLUMNS)}")

    def columns(self) -> dict[str, np.ndarray]:
        """Column name -> array, in :data:`FLOW_COLUMNS` order."""
        return {name: getattr(self, name) for name in FLOW_COLUMNS}

    def ip_src_str(self) -> np.ndarray:
        """``ip_src`` as printable strings."""
        return ip_strings(self.ip_src)

    def ip_dst_str(self) -> np.ndarray:
        """``ip_dst`` as printable strings."""
        return ip_strings(self.ip_dst)

    def to_arrow(self, **options):
        """A pyarrow Table; see :func:`ringcap.export.flows_to_arrow`."""
        return export_as(self, "arrow", options)

    def to_pandas(self, **options):
        """A pandas DataFrame; see :func:`ringcap.export.flows_to_pandas`."""
        return export_as(self, "pandas", options)

    def __repr__(self) -> str:
        return (f"<FlowTable {len(self)} flows, {int(self.packets.sum())} packets, "
                f"{self.skipped} non-IP packets skipped>")


def flows(source: Union[Batch, Headers], *, split_tunnels: bool = True,
          work: FlowWork | None = None) -> FlowTable:
    """Aggregate packets per 5-tuple, both directions in one row, in one compiled pass.

    ``source`` is a :class:`~ringcap.Batch` (decoded first) or the
    :class:`Headers` of one (with at least :data:`FIVE_TUPLE_COLUMNS`; without
    ``tcp_flags`` the flag unions are 0).  Flows appear in the order of their
    first packet.

    Tunnelled packets count by their inner 5-tuple; with ``split_tunnels``
    (default) the same inner 5-tuple in different tunnels (``tunnel_type``
    and ``tunnel_id``: another VNI, GRE key or MPLS label) makes different
    flows.  Headers decoded without those columns are not split.

    ``work``: a :class:`FlowWork` whose per-packet arrays are used again (a
    loop over batches allocates them once); the table's ``packet_flow`` is
    then valid until the next call with it.
    """
    if isinstance(source, Batch):
        headers = decode(source, columns=FIVE_TUPLE_COLUMNS + (
            ("tcp_flags", "tunnel_type", "tunnel_id") if split_tunnels else ("tcp_flags",)))
    elif isinstance(source, Headers):
        headers = source
    else:
        raise TypeError(f"flows() takes a Batch or Headers, got {type(source).__name__}")
    return _aggregate(headers, split_tunnels, work)


class FlowWork:
    """The per-packet work arrays of :func:`flows`, kept by a loop that folds
    batch after batch into flows (the flow sinks, the reports), so it allocates
    them once rather than per batch; only the flows' rows are made per batch.
    The ``packet_flow`` of a table made with one is valid until its next use."""

    __slots__ = ("rows", "_rows", "_pairs", "_tcp_flags", "_tags", "_zeros")

    def __init__(self) -> None:
        self.rows = 0

    def take(self, n: int):
        if n > self.rows:
            rows = max(n, 2 * self.rows)
            self._rows = np.empty((2, rows), dtype=np.int64)        # packet_flow, first_packet
            self._pairs = np.empty((4, 2 * rows), dtype=np.uint64)  # packets, bytes, first/last ts
            self._tcp_flags = np.empty(2 * rows, dtype=np.uint16)
            self._tags = np.empty((2, rows), dtype=np.uint64)       # tags, hashes with them
            self._zeros = np.zeros(rows, dtype=np.uint16)
            self.rows = rows
        # (2, n) arrays C-contiguous, as the compiled pass takes them
        pairs = [self._pairs[k, :2 * n].reshape(2, n) for k in range(4)]
        return (self._rows[0, :n], self._rows[1, :n], pairs[0], pairs[1],
                pairs[2].view(np.int64), pairs[3].view(np.int64),
                self._tcp_flags[:2 * n].reshape(2, n), self._tags[0, :n], self._tags[1, :n],
                self._zeros[:n])


def _aggregate(headers: Headers, split_tunnels: bool, work: FlowWork | None) -> FlowTable:
    """:func:`flows` of decoded headers, with its work arrays from ``work`` (None: fresh)."""
    n = len(headers)
    missing = [name for name in FIVE_TUPLE_COLUMNS if name not in headers.names]
    if missing:
        raise ValueError(f"flows() needs the 5-tuple columns; these headers lack {missing}: "
                         "decode with columns=None or columns=FIVE_TUPLE_COLUMNS")
    if work is not None:
        (packet_flow, first_packet, packets, nbytes, first_ts, last_ts, tcp_flags, tags,
         table_hashes, zeros) = work.take(n)
    else:
        packet_flow = np.empty(n, dtype=np.int64)
        first_packet = np.empty(n, dtype=np.int64)
        packets = np.empty((2, n), dtype=np.uint64)
        nbytes = np.empty((2, n), dtype=np.uint64)
        first_ts = np.empty((2, n), dtype=np.int64)
        last_ts = np.empty((2, n), dtype=np.int64)
        tcp_flags = np.empty((2, n), dtype=np.uint16)
        tags = np.empty(n, dtype=np.uint64)
        table_hashes = np.empty(n, dtype=np.uint64)
        zeros = None
    if "tcp_flags" in headers.names:
        tcp_flags_in = headers.tcp_flags
    elif zeros is not None:
        tcp_flags_in = zeros
    else:   # e.g. headers from the 5-tuple path: no flags to unite
        tcp_flags_in = np.zeros(n, dtype=np.uint16)
    hashes = headers.flow_hash
    tunnelled = split_tunnels and "tunnel_type" in headers.names \
        and "tunnel_id" in headers.names
    if tunnelled and n and (headers.tunnel_type.max() or headers.tunnel_id.max()):
        # tag = tunnel_type << 32 | tunnel_id, computed in place
        np.copyto(tags, headers.tunnel_type, casting="unsafe")
        np.left_shift(tags, np.uint64(32), out=tags)
        np.copyto(table_hashes, headers.tunnel_id, casting="unsafe")
        np.bitwise_or(tags, table_hashes, out=tags)
        # the tag goes into the hash too, so different tunnels rarely share a slot chain
        with np.errstate(over="ignore"):
            np.multiply(tags, np.uint64(0x9E3779B97F4A7C15), out=table_hashes)
        np.bitwise_xor(table_hashes, hashes, out=table_hashes)
    else:       # no packet is tunnelled: tags 0, the hashes as they are
        tags[:] = 0
        table_hashes = hashes
    count = _decode.aggregate_flows(
        _contiguous(headers.ip_version, np.uint8), _contiguous(headers.ip_src, np.uint8),
        _contiguous(headers.ip_dst, np.uint8), _contiguous(headers.sport, np.uint16),
        _contiguous(headers.dport, np.uint16), _contiguous(headers.ip_proto, np.uint8),
        _contiguous(tcp_flags_in, np.uint16), _contiguous(headers.ts, np.int64),
        _contiguous(headers.wirelen, np.uint32), _contiguous(table_hashes, np.uint64),
        _contiguous(tags, np.uint64), packet_flow, first_packet, packets, nbytes, first_ts, last_ts, tcp_flags)
    first = first_packet[:count]
    columns = {
        "ip_version": headers.ip_version[first], "ip_proto": headers.ip_proto[first],
        "ip_src": headers.ip_src[first], "ip_dst": headers.ip_dst[first],
        "sport": headers.sport[first], "dport": headers.dport[first],
        "tunnel_type": (headers.tunnel_type[first] if tunnelled
                        else np.zeros(count, dtype=np.uint8)),
        "tunnel_id": (headers.tunnel_id[first] if tunnelled
                      else np.zeros(count, dtype=np.uint32)),
        "flow_hash": hashes[first],
    }
    for d, side in enumerate(("fwd", "rev")):
        columns[f"packets_{side}"] = packets[d, :count].copy()
        columns[f"bytes_{side}"] = nbytes[d, :count].copy()
        columns[f"first_ts_{side}"] = first_ts[d, :count].copy()
        columns[f"last_ts_{side}"] = last_ts[d, :count].copy()
        columns[f"tcp_flags_{side}"] = tcp_flags[d, :count].copy()
    columns["packets"] = columns["packets_fwd"] + columns["packets_rev"]
    columns["bytes"] = columns["bytes_fwd"] + columns["bytes_rev"]
    has_rev = columns["packets_rev"] > 0
    columns["first_ts"] = np.where(
        has_rev, np.minimum(columns["first_ts_fwd"], columns["first_ts_rev"]),
        columns["first_ts_fwd"])
    columns["last_ts"] = np.maximum(columns["last_ts_fwd"], columns["last_ts_rev"])
    # every packet not skipped counts in one flow's packets
    return FlowTable(columns, packet_flow, n - int(columns["packets"].sum()))
