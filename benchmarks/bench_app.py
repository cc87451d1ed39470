"""Cost of the application columns (docs/decode.md, "Application columns").

Prints ns per packet of the application pass alone (``ringcap.appcolumns.decode_app``
on headers already decoded), best of --repeat in CPU time, per kind of packet:

* ``no app port``: synthetic TCP/UDP conversations (``ringcap.testing.synthetic_traffic``)
  whose payloads are no application message: what the pass costs packets that carry none;
* ``dns``, ``http``, ``tls``: the messages of ``ringcap.testing.named_traffic``, each kind
  alone, with the columns named on the row.

    python benchmarks/bench_app.py --repeat 7
"""
from __future__ import annotations

import argparse
import time

import ringcap
from ringcap import appcolumns
from ringcap.testing import named_traffic, synthetic_traffic


def cpu_best(function, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        function()
        best = min(best, time.process_time() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    named = ringcap.Batch.concat([named_traffic(3000, seed=1)] * 20)
    kinds = ringcap.decode(named, columns=("app_proto",)).app_proto
    cases = [("no app port", synthetic_traffic(200_000, conversations=300, seed=3),
              ("app_proto",)),
             ("no app port", synthetic_traffic(200_000, conversations=300, seed=3),
              tuple(appcolumns.APP_COLUMNS))]
    for name, number, columns in (
            ("dns", 1, ("dns_qtype",)), ("dns", 1, ("dns_qname", "dns_answer")),
            ("http", 2, ("http_status",)),
            ("http", 2, ("http_method", "http_path", "http_host", "http_user_agent")),
            ("tls", 3, ("tls_version", "tls_sni")), ("tls", 3, ("tls_sni", "tls_ja4"))):
        cases.append((name, named[kinds == number].copy(), columns))
    print("| packets | columns | ns/packet |")
    print("|---|---|---:|")
    for name, batch, columns in cases:
        headers = ringcap.decode(batch, columns=appcolumns.NEEDED_HEADER_COLUMNS)
        given = {n: getattr(headers, n) for n in appcolumns.NEEDED_HEADER_COLUMNS}
        seconds = cpu_best(lambda: appcolumns.decode_app(
            batch, dict(given, flags=headers.flags.copy()), set(columns)), args.repeat)
        shown = "all" if len(columns) > 6 else ", ".join(columns)
        print(f"| {name} | {shown} | {seconds / len(batch) * 1e9:.0f} |")


if __name__ == "__main__":
    main()
