"""Decode one batch of one link type once, for instruction counts under callgrind.

The ``ipv4-tcp`` corpus of bench_decode.py behind the link layer named
(EN10MB, RAW, SLL2, SLL, NULL), decoded once with the default columns
(``default``) or the 5-tuple columns (``five``); callgrind counts the decoder's instructions only (the
batch is built outside the counted call), which, unlike times, do not move
with the load of a shared machine:

    valgrind --tool=callgrind --collect-atstart=no \\
        --toggle-collect='__pyx_pf_7ringcap_7_decode_10decode_into*' \\
        python benchmarks/callgrind_linktypes.py SLL2 default 100000

"Collected" divided by the packet count is instructions per packet.
"""
from __future__ import annotations

import struct
import sys

import numpy as np

from bench_decode import _ipv4_tcp_frames
from bench_linktypes import _time
from ringcap import Batch, _decode
import ringcap.headers as H
from ringcap.batch import LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NULL, LINKTYPE_RAW


def main() -> None:
    kind, columns, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    frames = _ipv4_tcp_frames(min(n, 20_000), np.random.default_rng(1))
    frames = (frames * (n // len(frames) + 1))[:n]
    cooked2 = struct.pack(">HHIHBB8s", 0x0800, 0, 2, 1, 0, 6, b"\x02" * 6 + b"\0\0")
    cooked1 = struct.pack(">HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", 0x0800)
    headers = {"EN10MB": (None, 1), "RAW": (b"", LINKTYPE_RAW),
               "SLL2": (cooked2, LINKTYPE_LINUX_SLL2), "SLL": (cooked1, LINKTYPE_LINUX_SLL),
               "NULL": (struct.pack("<I", 2), LINKTYPE_NULL)}
    header, linktype = headers[kind]
    batch = (Batch.from_packets(frames) if header is None else
             Batch.from_packets([header + f[14:] for f in frames], linktype=linktype))
    names = set(H.DEFAULT_COLUMNS) if columns == "default" else set(H.FIVE_TUPLE_COLUMNS)
    print(kind, columns, f"{_time(_decode, batch, names, True):.1f} ns/packet")


if __name__ == "__main__":
    main()
