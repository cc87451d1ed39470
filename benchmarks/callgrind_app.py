"""Decode one batch once with application columns, for instruction counts under callgrind.

The messages of ``ringcap.testing.named_traffic`` of one kind (dns, http, tls),
or (kind ``none``) packets that carry no application message:
``synthetic_traffic``'s packets with random payloads, less those to or from
port 53 (TCP and UDP on ports 80, 443 and 8080, and 1 % ARP).  The batch is
decoded once with ``NEEDED_HEADER_COLUMNS`` and the application columns given
(``-``: none).  Only the header pass (``decode_batch``, where the packets that
may carry a message are listed) and the application pass are counted (the
batch is chosen outside them, with the 5-tuple path):

    valgrind --tool=callgrind --collect-atstart=no \\
        --toggle-collect='__pyx_f_7ringcap_7_decode_decode_batch' \\
        --toggle-collect='__pyx_pw_7ringcap_4_app_*decode_app' \\
        python benchmarks/callgrind_app.py none tls_sni,http_host

"Collected" divided by the packet count printed is instructions per packet;
less the same command's with ``-`` for the columns, what the application
columns add.  A third argument ``reuse`` decodes the batch twice into one
``HeadersBuffer`` (as ringcap's own loops do; divide by twice the packets):
the second pass zeroes only the rows of the fixed-width application columns
that the first listed, where a fresh decode zeroes whole columns (inside the
count: the pass makes them).
"""
from __future__ import annotations

import sys

import ringcap
from ringcap import appcolumns
from ringcap.headers import FIVE_TUPLE_COLUMNS, HeadersBuffer
from ringcap.testing import named_traffic, synthetic_traffic

PORTS = {"dns": 53, "http": 80, "tls": 443}    # named_traffic's servers


def main() -> None:
    kind = sys.argv[1]
    columns = () if sys.argv[2] == "-" else tuple(sys.argv[2].split(","))
    if kind == "none":
        mixed = synthetic_traffic(100_000, conversations=300, seed=3, random_payload=True)
        h = ringcap.decode(mixed, columns=FIVE_TUPLE_COLUMNS)    # not counted
        batch = mixed[(h.sport != 53) & (h.dport != 53)].copy()
    else:
        named = ringcap.Batch.concat([named_traffic(3000, seed=1)] * 10)
        h = ringcap.decode(named, columns=FIVE_TUPLE_COLUMNS)    # not counted
        batch = named[(h.dport == PORTS[kind]) | (h.sport == PORTS[kind])].copy()
    if sys.argv[3:] == ["reuse"]:
        buffer = HeadersBuffer(appcolumns.NEEDED_HEADER_COLUMNS + columns)
        buffer.decode(batch)
        buffer.decode(batch)
        print(f"{len(batch)} packets, decoded twice", file=sys.stderr)
        return
    ringcap.decode(batch, columns=appcolumns.NEEDED_HEADER_COLUMNS + columns)
    print(f"{len(batch)} packets", file=sys.stderr)


if __name__ == "__main__":
    main()
