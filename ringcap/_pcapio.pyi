"""Type stubs for ringcap._pcapio (compiled from pyx/_pcapio.pyx)."""
import enum

import numpy as np
import numpy.typing as npt

MAX_BLOCK_LENGTH: int

class Status(enum.IntEnum):
    OK = 0
    END = 1
    TRUNCATED = 2
    BAD_CAPLEN = 3
    BAD_BLOCK_LENGTH = 4
    LENGTH_MISMATCH = 5
    OTHER_BLOCK = 6
    BAD_INTERFACE = 7
    BAD_TIMESTAMP = 8
    BAD_PACKET = 9
    DATA_FULL = 10

class TsMode(enum.IntEnum):
    TS_MULTIPLY = 0
    TS_DIVIDE = 1
    TS_BINARY = 2
    TS_BINARY_FLOAT = 3

_I64 = npt.NDArray[np.int64]
_I32 = npt.NDArray[np.int32]
_U32 = npt.NDArray[np.uint32]
_U8 = npt.NDArray[np.uint8]

def ts_units_to_ns(t: int, mode: int, param: int) -> int: ...
def pack(data: _U8, offset: _I64, caplen: _U32, out: _U8) -> int: ...
def from_cooked_headers(linktype: npt.NDArray[np.uint16], data: _U8, offset: _I64,
                        caplen: _U32, pkttype: _U8, protocol: npt.NDArray[np.uint16]) -> int: ...
def interface_ids(ifindex: _I32, linktype: npt.NDArray[np.uint16], known_ifindex: _I32,
                  known_linktype: npt.NDArray[np.uint16], known_id: _U32, start: int,
                  out: _U32) -> int: ...
def gather(chosen: _I64, count: int, data_len: int, ts: _I64, caplen: _U32, wirelen: _U32,
           offset: _I64, ifindex: _I32, pkttype: _U8,
           protocol: npt.NDArray[np.uint16], vlan_tci: npt.NDArray[np.uint16],
           vlan_tpid: npt.NDArray[np.uint16], rxhash: _U32, status: _U32,
           linktype: npt.NDArray[np.uint16], out_ts: _I64, out_caplen: _U32,
           out_wirelen: _U32, out_offset: _I64, out_ifindex: _I32,
           out_pkttype: _U8, out_protocol: npt.NDArray[np.uint16],
           out_vlan_tci: npt.NDArray[np.uint16], out_vlan_tpid: npt.NDArray[np.uint16],
           out_rxhash: _U32, out_status: _U32, out_linktype: npt.NDArray[np.uint16]) -> int: ...
def write_all(fd: int, buf: _U8, stop: int, progress: _I64) -> None: ...
def record_boundary(buf: _U8, head: int, used: int, stop: int, pcapng: bool,
                    header: int) -> tuple[int, int, int, bool]: ...
def reserve_space(fd: int, offset: int, length: int) -> int: ...
def release_space(fd: int, offset: int, length: int) -> int: ...
def build_pcap(ts: _I64, caplen: _U32, wirelen: _U32, offset: _I64, data: _U8,
               start: int, stop: int, snaplen: int, nanosecond: bool,
               out: _U8) -> tuple[int, int, int, int]: ...
def build_epb(ts: _I64, caplen: _U32, wirelen: _U32, offset: _I64, data: _U8,
              pkttype: _U8, iface_id: _U32, start: int, stop: int, snaplen: int,
              flags: bool, out: _U8) -> tuple[int, int, int, int]: ...
def parse_pcap(buf: _U8, pos: int, swap: bool, nanosecond: bool, max_caplen: int, base: int,
               ts: _I64, caplen: _U32, wirelen: _U32, offset: _I64,
               copy_to: _U8 | None = None, copy_start: int = 0
               ) -> tuple[int, int, int, int, int]: ...
def parse_pcapng(buf: _U8, pos: int, swap: bool, if_mode: _I32, if_param: _I64,
                 if_offset_ns: _I64, if_snaplen: _U32, if_base: int, base: int,
                 ts: _I64, caplen: _U32, wirelen: _U32, offset: _I64, ifindex: _I32,
                 pkttype: _U8, copy_to: _U8 | None = None, copy_start: int = 0
                 ) -> tuple[int, int, int, int, int]: ...

def first_out_of_bounds(offset: _I64, caplen: _U32, data_len: int) -> int: ...
