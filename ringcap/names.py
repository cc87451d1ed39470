"""Names for the integer codes in ringcap's columns.

The numpy columns stay integers (fast, exact, what the kernel and the wire
say).  These helpers give the names people read: IP protocols (``tcp``,
``udp``, ``icmp``, ...), Ethernet types (``ipv4``, ``arp``, ``ipv6``, ...),
packet types (``host``, ``broadcast``, ``multicast``, ``otherhost``,
``outgoing``), TCP flags as letters (``"SA"`` for SYN+ACK, ``"FPA"`` for
FIN+PSH+ACK) and the kernel's ``TP_STATUS_*`` bits.  Each helper takes a
scalar (and returns a ``str``) or an array (and returns an object array of
``str``, looked up once per distinct value), and the pandas/Arrow exports use
the same vocabularies for their Categorical/dictionary columns.

    >>> from ringcap.names import tcp_flag_names, ip_proto_names
    >>> tcp_flag_names(0x12)
    'SA'
    >>> tcp_flag_names(0x1B)
    'FSPA'
    >>> list(ip_proto_names([6, 17, 1, 253]))
    ['tcp', 'udp', 'icmp', '253']

TCP flag letters follow the order of the bits, lowest first, with one
letter per flag: F(IN) S(YN) R(ST) P(SH) A(CK) U(RG) E(CE) C(WR) N(S).
tcpdump prints ACK as ``.`` inside brackets (``[S.]``); Wireshark and scapy
use these letters, which stay readable outside brackets and sort into
stable categories.
"""
from __future__ import annotations

from typing import Callable, Mapping, Union, overload

import numpy as np
import numpy.typing as npt

from . import textnames as _textnames
from .textnames import ethertype_name as _ethertype_name
from .textnames import ip_proto_name as _ip_proto_name
from .appcolumns import APP_PROTO_NAMES
from .batch import (PACKET_BROADCAST, PACKET_HOST, PACKET_KERNEL, PACKET_LOOPBACK,
                    PACKET_MULTICAST, PACKET_OTHERHOST, PACKET_OUTGOING, PACKET_USER)

__all__ = [
    "IP_PROTOCOLS", "ETHERTYPES", "PACKET_TYPES", "TCP_FLAG_LETTERS", "STATUS_BITS",
    "TUNNEL_TYPE_NAMES", "ip_proto_names", "ethertype_names", "tunnel_type_names",
    "app_proto_names",
    "pkttype_names", "tcp_flag_names", "status_names", "names_for", "NAMED_COLUMNS",
    "lookup_tables",
]

#: IANA protocol numbers -> the lowercase keywords tcpdump and Wireshark use
#: (defined in :mod:`ringcap.textnames`, which needs no numpy).
IP_PROTOCOLS: dict[int, str] = _textnames.IP_PROTOCOLS

#: Ethernet types (host order) -> short names.
ETHERTYPES: dict[int, str] = _textnames.ETHERTYPES

#: ``pkttype`` values (linux/if_packet.h ``PACKET_*``) -> names.
PACKET_TYPES: dict[int, str] = {
    PACKET_HOST: "host", PACKET_BROADCAST: "broadcast", PACKET_MULTICAST: "multicast",
    PACKET_OTHERHOST: "otherhost", PACKET_OUTGOING: "outgoing", PACKET_LOOPBACK: "loopback",
    PACKET_USER: "user", PACKET_KERNEL: "kernel",
}

#: ``tunnel_type`` values (``ringcap.headers.TUNNEL_TYPES``) -> names.
TUNNEL_TYPE_NAMES: dict[int, str] = {
    0: "none", 1: "mpls", 2: "gre", 3: "vxlan", 4: "geneve", 5: "ipip", 6: "erspan", 7: "pim",
}

#: One letter per TCP flag bit, lowest bit first (FIN=0x01 ... NS=0x100).
TCP_FLAG_LETTERS = "FSRPAUECN"

#: ``status`` bits (``TP_STATUS_*``) -> lowercase names.
STATUS_BITS: dict[int, str] = {
    1 << 0: "user", 1 << 1: "copy", 1 << 2: "losing", 1 << 3: "csum_not_ready",
    1 << 4: "vlan_valid", 1 << 5: "blk_tmo", 1 << 6: "vlan_tpid_valid",
    1 << 7: "csum_valid", 1 << 8: "gso_tcp", 1 << 29: "ts_software",
    1 << 30: "ts_sys_hardware", 1 << 31: "ts_raw_hardware",
}

Codes = Union[int, np.integer, npt.ArrayLike]


def _flag_string(value: int) -> str:
    return "".join(letter for bit, letter in enumerate(TCP_FLAG_LETTERS) if value >> bit & 1)


def _flag_strings() -> list[str]:
    """_flag_string(v) for every v below 2**9, by doubling (a tenth of the time
    of 512 calls: this table is made at every start of `ringcap stats`)."""
    table = [""]
    for letter in TCP_FLAG_LETTERS:
        table += [text + letter for text in table]
    return table


_TCP_FLAG_TABLE = np.array(_flag_strings(), dtype=object)


def _pkttype_name(value: int) -> str:
    return PACKET_TYPES.get(value, str(value))


def _status_name(value: int) -> str:
    names = [name for bit, name in STATUS_BITS.items() if value & bit]
    rest = value & ~sum(STATUS_BITS)
    if rest:
        names.append(f"0x{rest:x}")
    return "|".join(names)


def _tcp_flag_name(value: int) -> str:
    return _flag_string(value)


def _tunnel_type_name(value: int) -> str:
    return TUNNEL_TYPE_NAMES.get(value, str(value))


def _app_proto_name(value: int) -> str:
    return "none" if value == 0 else APP_PROTO_NAMES.get(value, str(value))


def _map_distinct(codes: np.ndarray, name: Callable[[int], str]) -> np.ndarray:
    """Apply ``name`` once per distinct code and spread the results (object array)."""
    flat = np.asarray(codes)
    if flat.dtype.kind not in "iub":
        raise TypeError(f"expected an integer column, got dtype {flat.dtype}")
    if flat.size == 0:
        return np.empty(flat.shape, dtype=object)
    uniq, inverse = np.unique(flat, return_inverse=True)
    table = np.array([name(int(v)) for v in uniq.tolist()], dtype=object)
    return table[inverse.reshape(flat.shape)]


def _named(codes, name: Callable[[int], str]):
    if isinstance(codes, (int, np.integer)) and not isinstance(codes, bool):
        return name(int(codes))
    return _map_distinct(np.asarray(codes), name)


@overload
def ip_proto_names(codes: int | np.integer) -> str: ...
@overload
def ip_proto_names(codes: npt.ArrayLike) -> npt.NDArray[np.object_]: ...
def ip_proto_names(codes):  # noqa: E302
    """``ip_proto`` values as protocol keywords (``tcp``, ``udp``, ``icmpv6``).

    Unknown numbers stay numbers (``"253"``); 0 is ``"none"``: the decoder's
    value for frames without an IP header.
    """
    return _named(codes, _ip_proto_name)


@overload
def ethertype_names(codes: int | np.integer) -> str: ...
@overload
def ethertype_names(codes: npt.ArrayLike) -> npt.NDArray[np.object_]: ...
def ethertype_names(codes):  # noqa: E302
    """Ethernet types as names (``ipv4``, ``arp``, ``ipv6``; 0: ``none``; unknown: ``0x88b5``)."""
    return _named(codes, _ethertype_name)


@overload
def pkttype_names(codes: int | np.integer) -> str: ...
@overload
def pkttype_names(codes: npt.ArrayLike) -> npt.NDArray[np.object_]: ...
def pkttype_names(codes):  # noqa: E302
    """``pkttype`` values as ``host``, ``broadcast``, ``multicast``, ``otherhost``, ``outgoing``, ..."""
    return _named(codes, _pkttype_name)


@overload
def tcp_flag_names(flags: int | np.integer) -> str: ...
@overload
def tcp_flag_names(flags: npt.ArrayLike) -> npt.NDArray[np.object_]: ...
def tcp_flag_names(flags):  # noqa: E302
    """TCP flag bits as letters: 0x02 -> ``"S"``, 0x12 -> ``"SA"``, 0x19 -> ``"FPA"``; 0 -> ``""``.

    Arrays are mapped through a 512-entry table (no per-packet Python work).
    """
    if isinstance(flags, (int, np.integer)) and not isinstance(flags, bool):
        value = int(flags)
        if not 0 <= value < 1 << 16:
            raise ValueError(f"TCP flags must fit 16 bits, got {value}")
        return _flag_string(value & 0x1FF)
    array = np.asarray(flags)
    if array.dtype.kind not in "iu":
        raise TypeError(f"expected an integer column of TCP flags, got dtype {array.dtype}")
    return _TCP_FLAG_TABLE[array.astype(np.intp) & 0x1FF]


@overload
def status_names(status: int | np.integer) -> str: ...
@overload
def status_names(status: npt.ArrayLike) -> npt.NDArray[np.object_]: ...
def status_names(status):  # noqa: E302
    """``status`` bits as ``|``-joined names, e.g. ``"user|vlan_valid|ts_software"``."""
    return _named(status, _status_name)


@overload
def tunnel_type_names(codes: int | np.integer) -> str: ...
@overload
def tunnel_type_names(codes: npt.ArrayLike) -> npt.NDArray[np.object_]: ...
def tunnel_type_names(codes):  # noqa: E302
    """``tunnel_type`` values as names (``none``, ``mpls``, ``gre``, ``vxlan``...)."""
    return _named(codes, _tunnel_type_name)


@overload
def app_proto_names(codes: int | np.integer) -> str: ...
@overload
def app_proto_names(codes: npt.ArrayLike) -> npt.NDArray[np.object_]: ...
def app_proto_names(codes):  # noqa: E302
    """``app_proto`` values as names (``dns``, ``http``, ``tls``, ``dhcp``,
    ``ntp``, ``quic``; 0: ``none``), as :data:`ringcap.appcolumns.APP_PROTOCOLS`."""
    return _named(codes, _app_proto_name)


#: Column name -> the helper that names its values.  The exports turn these
#: columns into pandas Categoricals / Arrow dictionary columns (``names=True``).
NAMED_COLUMNS: Mapping[str, Callable] = {
    "ip_proto": ip_proto_names,
    "ethertype": ethertype_names,
    "inner_ethertype": ethertype_names,
    "outer_ip_proto": ip_proto_names,
    "tunnel_type": tunnel_type_names,
    "app_proto": app_proto_names,
    "protocol": ethertype_names,
    "pkttype": pkttype_names,
    "sll_pkttype": pkttype_names,
    "tcp_flags": tcp_flag_names,
    "tcp_flags_fwd": tcp_flag_names,
    "tcp_flags_rev": tcp_flag_names,
    "status": status_names,
}


def names_for(column: str, codes: npt.ArrayLike) -> tuple[list[str], npt.NDArray[np.intp]]:
    """(categories, codes into them) naming an integer column: what exports build on.

    Categories are the names of the distinct values, in order of value; the
    codes are an index into them per row.  Used to build a pandas
    ``Categorical.from_codes`` or an Arrow ``DictionaryArray`` without a
    per-row string.
    """
    helper = NAMED_COLUMNS.get(column)
    if helper is None:
        raise KeyError(f"column {column!r} has no vocabulary; named columns: "
                       f"{', '.join(NAMED_COLUMNS)}")
    array = np.asarray(codes)
    uniq, inverse = np.unique(array, return_inverse=True)
    labels = [str(helper(int(v))) for v in uniq.tolist()]
    # Two values can share a name (e.g. TCP flags beyond the 9 defined bits):
    # merge them so categories stay unique.
    distinct: dict[str, int] = {}
    remap = np.empty(len(labels), dtype=np.intp)
    for i, label in enumerate(labels):
        remap[i] = distinct.setdefault(label, len(distinct))
    return list(distinct), remap[inverse.reshape(-1)].astype(np.intp, copy=False)


def lookup_tables() -> dict[str, tuple[list[int], list[str]]]:
    """The vocabularies as lookup tables for SQL: table name -> (codes, names).

    Each table is named for the dataset column it names (``ip_proto``,
    ``ethertype``, ``pkttype``, ``tunnel_type``, ``tcp_flags``, ``app_proto``), so a join
    reads ``JOIN ip_proto USING (ip_proto)``.  ``ip_proto`` lists all 256
    numbers and ``tcp_flags`` all 512 combinations (``""`` for none); the
    others list the known codes.  ``ringcap names --export DIR`` writes them.
    """
    return {
        "ip_proto": (list(range(256)), [_ip_proto_name(v) for v in range(256)]),
        "ethertype": (sorted(ETHERTYPES), [ETHERTYPES[v] for v in sorted(ETHERTYPES)]),
        "pkttype": (sorted(PACKET_TYPES), [PACKET_TYPES[v] for v in sorted(PACKET_TYPES)]),
        "tunnel_type": (sorted(TUNNEL_TYPE_NAMES),
                        [TUNNEL_TYPE_NAMES[v] for v in sorted(TUNNEL_TYPE_NAMES)]),
        "tcp_flags": (list(range(1 << len(TCP_FLAG_LETTERS))),
                      [_flag_string(v) for v in range(1 << len(TCP_FLAG_LETTERS))]),
        "app_proto": ([0, *sorted(APP_PROTO_NAMES)],
                      ["none", *(APP_PROTO_NAMES[v] for v in sorted(APP_PROTO_NAMES))]),
    }
