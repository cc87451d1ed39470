"""Type stubs for the compiled header decoder (pyx/_decode.pyx)."""
import numpy as np
import numpy.typing as npt

FLAG_BITS: dict[str, int]
CHECKED_READS: bool
MAX_IPV6_EXTENSION_HEADERS: int
FIVE_TUPLE_COLUMNS: tuple[str, ...]
COLUMN_LAYOUT: tuple[tuple[str, int, int], ...]
TUNNEL_TYPES: dict[str, int]
TCP_OPTION_BITS: dict[str, int]
MAX_TUNNELS: int
MAX_LABELS: int
LINKTYPES: dict[str, int]
RAW_ALIASES: tuple[int, int]

def unsupported_linktype_message(linktype: int, index: int) -> str: ...

def overrun_count() -> int: ...
def reset_overrun_count() -> None: ...
def _test_set_fast_path(enabled: bool) -> None: ...
def _test_checked_read(buf: bytes, cap: int, k: int) -> int: ...
def decode_into(
    data: npt.NDArray[np.uint8],
    offset: npt.NDArray[np.int64],
    caplen: npt.NDArray[np.uint32],
    wirelen: npt.NDArray[np.uint32],
    status: npt.NDArray[np.uint32],
    vlan_tci: npt.NDArray[np.uint16],
    vlan_tpid: npt.NDArray[np.uint16],
    out: dict[str, np.ndarray],
    outer: bool = ...,
    linktype: npt.NDArray[np.uint16] | None = ...,
    app_ports: npt.NDArray[np.uint8] | None = ...,
    app_rule: int = ...,
    app_rows: npt.NDArray[np.int64] | None = ...,
) -> int | None: ...
def flow_hashes(
    ip_version: npt.NDArray[np.uint8],
    ip_src: npt.NDArray[np.uint8],
    ip_dst: npt.NDArray[np.uint8],
    sport: npt.NDArray[np.uint16],
    dport: npt.NDArray[np.uint16],
    ip_proto: npt.NDArray[np.uint8],
    out: npt.NDArray[np.uint64],
) -> None: ...
def aggregate_flows(
    ip_version: npt.NDArray[np.uint8],
    ip_src: npt.NDArray[np.uint8],
    ip_dst: npt.NDArray[np.uint8],
    sport: npt.NDArray[np.uint16],
    dport: npt.NDArray[np.uint16],
    ip_proto: npt.NDArray[np.uint8],
    tcp_flags: npt.NDArray[np.uint16],
    ts: npt.NDArray[np.int64],
    wirelen: npt.NDArray[np.uint32],
    hashes: npt.NDArray[np.uint64],
    tags: npt.NDArray[np.uint64],
    packet_flow: npt.NDArray[np.int64],
    first_packet: npt.NDArray[np.int64],
    packets: npt.NDArray[np.uint64],
    nbytes: npt.NDArray[np.uint64],
    first_ts: npt.NDArray[np.int64],
    last_ts: npt.NDArray[np.int64],
    flags_union: npt.NDArray[np.uint16],
) -> int: ...
