"""Printable strings and byte rows for the address columns of Headers and flow tables.

``ip_strings``/``mac_strings`` format an ``ip_*``/``eth_*`` column once per
distinct address (captures repeat a few addresses many times);
``ip_bytes``/``mac_bytes`` give the row to compare a column with.
:mod:`ringcap.headers` re-exports these names, where users import them.
"""
from __future__ import annotations

import ipaddress

import numpy as np

from .textnames import ip_text as _ip_text

__all__ = ["ip_strings", "mac_strings", "ip_bytes", "mac_bytes", "address_bytes"]


def _unique_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of one row per distinct value, inverse) for 6-, 8- or 16-byte rows.

    Sorts integer words rather than raw bytes (numpy's sort of void rows is
    many times slower).
    """
    n, width = rows.shape
    if width in (6, 8):
        padded = np.zeros((n, 8), dtype=np.uint8)
        padded[:, :width] = rows
        _, first, inverse = np.unique(padded.view(np.uint64).ravel(), return_index=True,
                                      return_inverse=True)
        return first, inverse.ravel()
    words = rows.view(np.uint64)            # (n, 2)
    order = np.lexsort((words[:, 1], words[:, 0]))
    ordered = words[order]
    starts = np.ones(n, dtype=bool)
    starts[1:] = (ordered[1:] != ordered[:-1]).any(axis=1)
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(starts) - 1
    return order[starts], inverse


def _distinct_rows(rows: np.ndarray, width: int, make) -> tuple[list, np.ndarray]:
    """(make(bytes) per distinct row, code of each row): the formatting runs
    once per distinct value, as captures repeat a few addresses many times."""
    rows = np.ascontiguousarray(rows, dtype=np.uint8)
    if rows.ndim != 2 or rows.shape[1] != width:
        raise ValueError(f"expected an array of shape (n, {width}), got {rows.shape}")
    if rows.shape[0] == 0:
        return [], np.empty(0, dtype=np.intp)
    first, inverse = _unique_rows(rows)
    return [make(rows[i].tobytes()) for i in first], inverse


def _per_distinct_row(rows: np.ndarray, width: int, make) -> np.ndarray:
    values, codes = _distinct_rows(rows, width, make)
    table = np.empty(len(values), dtype=object)
    table[:] = values
    return table[codes]


def _address_codes(column: np.ndarray, ip_version=None) -> tuple[list[str], np.ndarray]:
    """(printable addresses, code per row; -1 where ``ip_version`` is 0) for
    an address column: the parts of a categorical/dictionary column."""
    column = np.asarray(column)
    width = column.shape[1] if column.ndim == 2 else 0
    fmt = _ip_text if width == 16 else (lambda raw: raw.hex(":"))
    width = width if width in (6, 8, 16) else 16    # anything else: _distinct_rows says so
    if ip_version is None:
        return _distinct_rows(column, width, fmt)
    is_ip = np.asarray(ip_version) != 0
    values, ip_codes = _distinct_rows(column[is_ip], width, fmt)
    codes = np.full(len(is_ip), -1, dtype=np.intp)
    codes[is_ip] = ip_codes
    return values, codes


def _link_address_codes(column: np.ndarray, length: np.ndarray) -> tuple[list[str], np.ndarray]:
    """(printable addresses, code per row; -1 where ``length`` is 0) for
    ``sll_addr``: each row's first ``length`` bytes (at most 8), as tcpdump
    and Wireshark print them; the bytes past it are not the address (the
    kernel leaves them unspecified)."""
    column = np.ascontiguousarray(column, dtype=np.uint8)
    length = np.minimum(np.asarray(length), 8).astype(np.uint8)
    if column.ndim != 2 or column.shape[1] != 8 or length.shape != column.shape[:1]:
        raise ValueError(f"expected (n, 8) addresses and n lengths, got {column.shape} "
                         f"and {length.shape}")
    keyed = np.zeros((len(length), 16), dtype=np.uint8)    # the address, cut, then its length
    keyed[:, :8] = np.where(np.arange(8) < length[:, None], column, 0)
    keyed[:, 8] = length
    present = length != 0
    values, present_codes = _distinct_rows(keyed[present], 16, lambda raw: raw[:raw[8]].hex(":"))
    codes = np.full(len(length), -1, dtype=np.intp)
    codes[present] = present_codes
    return values, codes


def address_bytes(column: np.ndarray) -> np.ndarray:
    """An object array of ``bytes`` (6 or 16 each) for an address column."""
    column = np.asarray(column)
    return _per_distinct_row(column, column.shape[1] if column.ndim == 2 else 0, bytes)


def ip_strings(column: np.ndarray, ip_version: np.ndarray | None = None) -> np.ndarray:
    """Printable addresses for an ``ip_src``/``ip_dst`` column (object array of str).

    IPv4-mapped entries print as dotted quads.  With ``ip_version``, entries
    of non-IP packets are None.
    """
    text = _per_distinct_row(column, 16, _ip_text)
    if ip_version is not None:
        text[np.asarray(ip_version) == 0] = None
    return text


def mac_strings(column: np.ndarray) -> np.ndarray:
    """Printable ``aa:bb:cc:dd:ee:ff`` strings for an ``eth_src``/``eth_dst`` column."""
    return _per_distinct_row(column, 6, lambda raw: raw.hex(":"))


def ip_bytes(address: str) -> np.ndarray:
    """The 16-byte row for an address, to compare with ``ip_src``/``ip_dst``.

    ``(h.ip_src == ip_bytes("10.0.0.1")).all(axis=1)`` is a packet mask.
    """
    parsed = ipaddress.ip_address(address)
    if parsed.version == 4:
        parsed = ipaddress.IPv6Address(b"\0" * 10 + b"\xff\xff" + parsed.packed)
    return np.frombuffer(parsed.packed, dtype=np.uint8).copy()


def mac_bytes(address: str) -> np.ndarray:
    """The 6-byte row for ``aa:bb:cc:dd:ee:ff`` (or ``-`` separated), to compare with ``eth_*``."""
    digits = address.replace(":", "").replace("-", "")
    try:
        raw = bytes.fromhex(digits)
    except ValueError:
        raw = b""
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {address!r} (expected aa:bb:cc:dd:ee:ff)")
    return np.frombuffer(raw, dtype=np.uint8).copy()


# Users import these from ringcap.headers (its reference documents them there).
for _public in (ip_strings, mac_strings, ip_bytes, mac_bytes, address_bytes):
    _public.__module__ = "ringcap.headers"
