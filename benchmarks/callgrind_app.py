"""Run the application pass once on one kind of message, for instruction counts under callgrind.

The messages of ``ringcap.testing.named_traffic`` of one kind (dns, http, tls)
with the columns given, or (kind ``none``) packets that carry no application
message: ``synthetic_traffic``'s packets with random payloads, less those to
or from port 53 (TCP and UDP on ports 80, 443 and 8080, and 1 % ARP).  Only the compiled pass is counted (headers are
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
from ringcap.testing import named_traffic, synthetic_traffic

PORTS = {"dns": 53, "http": 80, "tls": 443}    # named_traffic's servers


def main() -> None:
    kind, columns = sys.argv[1], tuple(sys.argv[2].split(","))
    if kind == "none":
        mixed = synthetic_traffic(100_000, conversations=300, seed=3, random_payload=True)
        h = ringcap.decode(mixed, columns=("sport", "dport"))    # no application pass here
        batch = mixed[(h.sport != 53) & (h.dport != 53)].copy()
    else:
        named = ringcap.Batch.concat([named_traffic(3000, seed=1)] * 10)
        h = ringcap.decode(named, columns=("sport", "dport"))    # no application pass here
        batch = named[(h.dport == PORTS[kind]) | (h.sport == PORTS[kind])].copy()
    headers = ringcap.decode(batch, columns=appcolumns.NEEDED_HEADER_COLUMNS)
    given = {n: getattr(headers, n) for n in appcolumns.NEEDED_HEADER_COLUMNS}
    appcolumns.decode_app(batch, dict(given, flags=headers.flags.copy()), set(columns))
    print(f"{len(batch)} packets", file=sys.stderr)


if __name__ == "__main__":
    main()
