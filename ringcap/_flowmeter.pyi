"""Type stubs for the compiled flow meter (pyx/_flowmeter.pyx)."""
import numpy as np
import numpy.typing as npt

EXPIRATION_IDS: dict[str, int]
FLAG_COUNT_NAMES: tuple[str, ...]
RECORD_DTYPE: np.dtype
FLOW_BYTES: int

def record_dtype() -> np.dtype: ...

class Meter:
    idle_timeout: int
    active_timeout: int
    clock: int
    packets: int
    skipped: int
    broken: bool
    active_flows: int
    pending_records: int
    key_mask: int
    max_flows: int
    evicted: int
    def __init__(self, idle_timeout: int, active_timeout: int, key_mask: int = 0,
                 max_flows: int = 0) -> None: ...
    def update(
        self,
        ip_version: npt.NDArray[np.uint8],
        ip_src: npt.NDArray[np.uint8],
        ip_dst: npt.NDArray[np.uint8],
        sport: npt.NDArray[np.uint16],
        dport: npt.NDArray[np.uint16],
        ip_proto: npt.NDArray[np.uint8],
        tcp_flags: npt.NDArray[np.uint16],
        tcp_seq: npt.NDArray[np.uint32],
        payload_len: npt.NDArray[np.uint32],
        ts: npt.NDArray[np.int64],
        wirelen: npt.NDArray[np.uint32],
        hashes: npt.NDArray[np.uint64],
        tags: npt.NDArray[np.uint64],
        names: npt.NDArray[np.uint32] | None = ...,
    ) -> None: ...
    def expire_idle(self, now: int) -> None: ...
    def expire_all(self, limit: int = -1) -> int: ...
    def names_in_use(self, used: npt.NDArray[np.uint8]) -> None: ...
    def renumber_names(self, new_ids: npt.NDArray[np.uint32]) -> None: ...
    def take_records(self) -> np.ndarray: ...
