"""Type stubs for ringcap._text (compiled from pyx/_text.pyx)."""
import numpy as np
import numpy.typing as npt

TIMESTAMP_MODES: dict[str, int]
PAYLOAD_MODES: dict[str | None, int]

def time_bounds(ts: npt.NDArray[np.int64]) -> tuple[int, int, int, int]: ...
def bytes_needed(caplen: int) -> int: ...

def address_text(rows: npt.NDArray[np.uint8], valid: npt.NDArray[np.uint8] | None = ...
                 ) -> tuple[npt.NDArray[np.int32], npt.NDArray[np.uint8]]: ...

class LineFormatter:
    def __init__(self, *, link_header: bool = ..., quiet: int = ..., verbose: int = ...,
                 payload: str | None = ..., payload_link: bool = ..., timestamps: str = ...,
                 nano: bool = ..., absolute_seq: bool = ...,
                 number: bool = ..., no_checksums: bool = ...) -> None: ...
    @property
    def tcp_conversations(self) -> int: ...
    def format(self, data: npt.NDArray[np.uint8], offset: npt.NDArray[np.int64],
               caplen: npt.NDArray[np.uint32], wirelen: npt.NDArray[np.uint32],
               ts: npt.NDArray[np.int64], status: npt.NDArray[np.uint32],
               vlan_tci: npt.NDArray[np.uint16], ethertype: npt.NDArray[np.uint16],
               l3_offset: npt.NDArray[np.uint16], l4_offset: npt.NDArray[np.uint16],
               ip_version: npt.NDArray[np.uint8], ip_proto: npt.NDArray[np.uint8],
               ip_len: npt.NDArray[np.uint32], flags: npt.NDArray[np.uint32],
               gmtoff: npt.NDArray[np.int64], start: int,
               out: npt.NDArray[np.uint8], linktype: npt.NDArray[np.uint16] | None = ...,
               ifnames: npt.NDArray[np.uint8] | None = ...,
               ifname_index: npt.NDArray[np.uint16] | None = ...) -> tuple[int, int]: ...
