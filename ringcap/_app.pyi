"""Type stubs for ringcap._app (compiled from pyx/_app.pyx)."""
from typing import Any, Iterable, Sequence

import numpy as np
import numpy.typing as npt

FLAG_BITS: dict[str, int]
APP_PROTOCOLS: dict[str, int]
CHECKED_READS: bool
COLUMN_LAYOUT: tuple[tuple[str, str, int], ...]

def overrun_count() -> int: ...
def reset_overrun_count() -> None: ...
def decode_app(data: npt.NDArray[np.uint8], offset: npt.NDArray[np.int64],
               caplen: npt.NDArray[np.uint32], ip_proto: npt.NDArray[np.uint8],
               sport: npt.NDArray[np.uint16], dport: npt.NDArray[np.uint16],
               payload_offset: npt.NDArray[np.uint16], payload_len: npt.NDArray[np.uint32],
               flags: npt.NDArray[np.uint32], fixed: dict[str, Any], strings: dict[str, Any],
               protocols: Iterable[str],
               rows: npt.NDArray[np.int64] | None = ...,
               clear: npt.NDArray[np.int64] | None = ...,
               as_bytes: bool = ..., tshark_text: bool = ...) -> dict[str, Any]: ...
def decode_strings(data: Any, offset: Any, caplen: Any, ip_proto: Any, sport: Any, dport: Any,
                   payload_offset: Any, payload_len: Any, flags: Any, protocols: Iterable[str],
                   rows: Any, app_proto: Any, dns_qr: Any,
                   offsets: dict[str, Any]) -> dict[str, list[tuple[int, str]]]: ...
def candidate_rule(protocols: Iterable[str]) -> tuple[bytes, int]: ...
def field_lines(out: bytearray, start: int, n: int,
                columns: Sequence[tuple[Any, ...]], separator: int = ...,
                quote: int = ...) -> tuple[int, int]: ...
def _test_dns_name(message: bytes, pos: int, captured: int = ...) -> tuple[Any, int]: ...
