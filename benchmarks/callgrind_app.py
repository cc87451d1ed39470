"""Run the application pass once on one kind of message, for instruction counts under callgrind.

The messages of ``ringcap.testing.named_traffic`` of one kind (dns, http, tls)
with the columns given; only the compiled pass is counted (headers are
decoded outside it):

    valgrind --tool=callgrind --collect-atstart=no \\
        --toggle-collect='__pyx_pw_7ringcap_4_app_*decode_app' \\
        python benchmarks/callgrind_app.py http http_method,http_path,http_host,http_user_agent

"Collected" divided by the packet count printed is instructions per packet.
"""
from __future__ import annotations

import sys

import ringcap
from ringcap import appcolumns
from ringcap.testing import named_traffic

PORTS = {"dns": 53, "http": 80, "tls": 443}    # named_traffic's servers


def main() -> None:
    kind, columns = sys.argv[1], tuple(sys.argv[2].split(","))
    named = ringcap.Batch.concat([named_traffic(3000, seed=1)] * 10)
    h = ringcap.decode(named, columns=("sport", "dport"))    # no application pass here
    batch = named[(h.dport == PORTS[kind]) | (h.sport == PORTS[kind])].copy()
    headers = ringcap.decode(batch, columns=appcolumns.NEEDED_HEADER_COLUMNS)
    given = {n: getattr(headers, n) for n in appcolumns.NEEDED_HEADER_COLUMNS}
    appcolumns.decode_app(batch, dict(given, flags=headers.flags.copy()), set(columns))
    print(f"{len(batch)} packets", file=sys.stderr)


if __name__ == "__main__":
    main()
