"""`ringcap top -i IFACE` / `ringcap top -r FILE`: the busiest flows, hosts and protocols.

Live (``-i``), a table on the terminal redraws every ``--interval`` seconds
with packets/s, bits/s and share of each flow, host and protocol over the
last interval, plus totals and the kernel's drops, until Ctrl-C (or
``--duration``); then the final totals are printed.  Live, each table that
grows with the traffic (flows, IP conversations, names) keeps at most
``--max-entries`` keys, the rest counted in an "other" row.  From a file (``-r``)
the table is printed once, with rates averaged over the file's duration.
Sort by ``--sort bytes`` (default) or ``packets``.  ``--by server_name``
makes the first table one row per server name (a conversation's TLS SNI,
else HTTP host, else DNS query name) instead of per flow.  rich draws the table
(``pip install 'ringcap[top]'``).
"""
from __future__ import annotations

import heapq
import os
import shlex
import sys
import time

from ..names import ip_proto_names
from ..report import LINK_PROTOCOL_NAMES, NAME_KINDS, TrafficReport, file_report
from ..ring import RxRing
from ..sinks.driving import StopSignals
from ..textnames import ip_text
from .interfaces import check_linktype_offered, interface_linktype, linktype_option
from .read import check_file_linktype_option
from .status import _si
from .options import (CliError, describe_error, filter_expression, interface_list,
                      parse_count, parse_seconds, size_type)


def add_arguments(parser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("-i", dest="interfaces", action="append", metavar="IFACE",
                        help="capture live on IFACE (`any`: all interfaces)")
    source.add_argument("-r", dest="read", metavar="FILE", help="summarize a pcap/pcapng file")
    parser.add_argument("-y", dest="linktype", metavar="LINKTYPE",
                        help="capture live with this link type, as `ringcap -i IFACE -y`: one "
                             "of `ringcap -i IFACE -L`'s list (e.g. -i any -y LINUX_SLL); "
                             "with -r, checked and ignored as tcpdump -r does")
    parser.add_argument("--sort", choices=("bytes", "packets"), default="bytes",
                        help="order rows by bytes (default) or packets")
    parser.add_argument("--by", choices=("flow", "server_name"), default="flow",
                        help="first table: one row per 5-tuple flow (default) or per server "
                             "name (TLS SNI, else HTTP host, else DNS query name)")
    parser.add_argument("--rows", metavar="N", type=size_type(parse_count, what="--rows"),
                        default=10, help="rows per table (10)")
    parser.add_argument("--interval", metavar="SECONDS", default=1.0,
                        type=size_type(parse_seconds, what="--interval"),
                        help="refresh and rate interval, live (1 s)")
    parser.add_argument("--max-entries", metavar="N", type=size_type(_parse_max_entries),
                        default=DEFAULT_MAX_ENTRIES,
                        help="live: keep at most N flows, IP conversations and names of each "
                             "kind (as ntopng's --max-num-flows); past it the least active "
                             "are dropped and counted as other (%(default)s; 0: no bound)")
    parser.add_argument("--duration", metavar="SECONDS",
                        type=size_type(parse_seconds, what="--duration"),
                        help="stop a live view after SECONDS")
    parser.add_argument("-F", dest="filter_file", metavar="FILE",
                        help="read the filter expression from FILE")
    parser.add_argument("--filter", dest="filter_option", metavar="EXPRESSION",
                        help="a tcpdump filter expression (or give it as the last words)")
    parser.add_argument("expression", nargs="*", metavar="EXPRESSION",
                        help="a tcpdump filter expression")


#: A live view's bound per table (``--max-entries``): about 530 bytes of memory per
#: flow with its IP conversation, 110 per name (docs/analysis.md).
DEFAULT_MAX_ENTRIES = 100_000


def _parse_max_entries(text: str) -> int | None:
    try:
        value = int(str(text).strip(), 10)
    except ValueError:
        value = parse_count(text, what="--max-entries")     # (its words for a non-number)
    if value < 0 or value == 1:
        raise ValueError(f"bad --max-entries {text!r}: give at least 2 (or 0: no bound)")
    return parse_count(text, what="--max-entries") if value else None


def _rich():
    try:
        import rich  # noqa: F401
        from rich.console import Console, Group
        from rich.table import Table
    except ImportError:
        raise CliError("`ringcap top` draws with rich, which is not installed: "
                       "pip install 'ringcap[top]'") from None
    return Console, Group, Table


def _endpoint(address: bytes, port: int, version: int, proto: int) -> str:
    text = ip_text(address)
    if proto not in (6, 17, 132):
        return text
    return f"[{text}]:{port}" if version == 6 else f"{text}:{port}"


def _since(packets: int, nbytes: int, p0: int, b0: int) -> tuple[int, int]:
    """The totals a rate counts from: ``(p0, b0)``, or 0 when the row holds less
    (dropped by ``--max-entries`` since, and seen again from 0)."""
    return (p0, b0) if packets >= p0 and nbytes >= b0 else (0, 0)


def flow_rows(report: TrafficReport, previous: dict | None, span: float,
              sort: str, rows: int) -> list[dict]:
    """The busiest 5-tuple flows: totals, and rates over the last ``span`` seconds
    (from ``previous`` totals; without them, over the whole span); ties in
    address order (A, then B: address, then port).  Only the rows shown are
    formatted: a live view of 100,000 flows formatted them all at every
    refresh (10 s, the ring meanwhile unread and dropping)."""
    live = previous is not None
    by_bytes = sort == "bytes"
    ranks = []
    for key, (shown, packets, nbytes) in report.flow_totals().items():
        p0, b0 = (previous.get(key, (None, 0, 0))[1:] if live else (0, 0))
        p0, b0 = _since(packets, nbytes, p0, b0)
        total = nbytes if by_bytes else packets
        since = total - (b0 if by_bytes else p0) if span > 0 else 0    # (its rate: 0)
        ranks.append((-(since if live else total), -total, shown[2], shown[3],
                      (shown, packets, nbytes, p0, b0)))
    out = []
    for *_, (shown, packets, nbytes, p0, b0) in heapq.nsmallest(rows, ranks):
        version, proto, a, b = shown
        out.append({
            "proto": str(ip_proto_names(proto)),
            "a": _endpoint(a[:16], int.from_bytes(a[16:], "big"), version, proto),
            "b": _endpoint(b[:16], int.from_bytes(b[16:], "big"), version, proto),
            "packets": packets, "bytes": nbytes,
            "pps": (packets - p0) / span if span > 0 else 0.0,
            "bps": 8 * (nbytes - b0) / span if span > 0 else 0.0,
        })
    return out


def name_rows(report: TrafficReport, previous: dict | None, span: float,
              sort: str, rows: int) -> list[dict]:
    """The busiest server names (flows, packets, bytes of the conversations that
    named them), with rates as :func:`flow_rows`."""
    out = []
    for name, (count, packets, nbytes) in report.server_name_totals().items():
        p0, b0 = (previous.get(name, (0, 0, 0))[1:] if previous is not None else (0, 0))
        p0, b0 = _since(packets, nbytes, p0, b0)
        out.append({"name": name, "flows": count, "packets": packets, "bytes": nbytes,
                    "pps": (packets - p0) / span if span > 0 else 0.0,
                    "bps": 8 * (nbytes - b0) / span if span > 0 else 0.0})
    field = "bytes" if sort == "bytes" else "packets"
    rate = "bps" if sort == "bytes" else "pps"
    live = previous is not None
    out.sort(key=lambda r: (-(r[rate] if live else r[field]), -r[field], r["name"]))
    return out[:rows]


def _tables(report: TrafficReport, previous, prev_hosts, prev_protos, span: float, args,
            title: str):
    Console, Group, Table = _rich()
    from rich.markup import escape      # addresses like [2001:db8::1]:443 are not markup
    sort = args.sort
    total_bytes = max(report.wire_size, 1)
    total_packets = max(report.packets, 1)

    def share(r):
        return 100.0 * (r["bytes"] / total_bytes if sort == "bytes" else r["packets"] / total_packets)

    table = Table(title=escape(title), title_justify="left", expand=False)
    if args.by == "server_name":
        for name, justify in (("server name", "left"), ("flows", "right"), ("packets", "right"),
                              ("bytes", "right"), ("pkt/s", "right"), ("bit/s", "right"),
                              ("share", "right")):
            table.add_column(name, justify=justify, no_wrap=True)
        for r in name_rows(report, previous, span, sort, args.rows):
            table.add_row(escape(r["name"]), str(r["flows"]), str(r["packets"]), str(r["bytes"]),
                          f"{r['pps']:.1f}", _si(r["bps"], "bit/s"), f"{share(r):.1f}%")
    else:
        for name, justify in (("proto", "left"), ("A", "left"), ("B", "left"),
                              ("packets", "right"), ("bytes", "right"), ("pkt/s", "right"),
                              ("bit/s", "right"), ("share", "right")):
            table.add_column(name, justify=justify, no_wrap=True)
        for r in flow_rows(report, previous, span, sort, args.rows):
            table.add_row(r["proto"], escape(r["a"]), escape("\u2194 " + r["b"]),
                          str(r["packets"]), str(r["bytes"]),
                          f"{r['pps']:.1f}", _si(r["bps"], "bit/s"), f"{share(r):.1f}%")
    other = report.dropped()["flows"]
    if other["keys"]:
        # what the bound dropped: the rows of a flow table plus this one are the totals
        label = f"other ({other['keys']} flows dropped from the table)"
        if args.by == "server_name":
            table.add_row(label, "", str(other["packets"]), str(other["bytes"]), "", "",
                          f"{share(other):.1f}%")
        else:
            table.add_row("", label, "", str(other["packets"]), str(other["bytes"]), "", "",
                          f"{share(other):.1f}%")
    hosts = Table(title="Hosts", title_justify="left")
    for name in ("address", "packets", "bytes", "pkt/s", "bit/s", "share"):
        hosts.add_column(name, justify="left" if name == "address" else "right", no_wrap=True)
    for e in host_rows(report, sort, args.rows):
        p0, b0 = prev_hosts.get(e["raw"], (0, 0)) if prev_hosts is not None else (0, 0)
        p0, b0 = _since(e["packets"], e["bytes"], p0, b0)
        hosts.add_row(escape(e["address"]), str(e["packets"]), str(e["bytes"]),
                      f"{(e['packets'] - p0) / span if span > 0 else 0:.1f}",
                      _si(8 * (e["bytes"] - b0) / span if span > 0 else 0, "bit/s"),
                      f"{100.0 * e[sort] / (total_bytes if sort == 'bytes' else total_packets):.1f}%")
    protos = Table(title="Protocols", title_justify="left")
    for name in ("protocol", "packets", "bytes", "pkt/s", "share"):
        protos.add_column(name, justify="left" if name == "protocol" else "right", no_wrap=True)
    # the link layer's own row is the whole link: shown are the protocols above it
    # (a raw IPv4/IPv6 capture has none, its hierarchy starting at ip/ipv6)
    rows = [p for p in report.protocols() if ":" in p["path"] or not _is_link(p["path"])]
    rows.sort(key=lambda p: -p[sort])
    for p in rows[:args.rows]:
        p0 = prev_protos.get(p["path"], 0) if prev_protos is not None else 0
        protos.add_row(escape(p["path"]), str(p["packets"]), str(p["bytes"]),
                       f"{(p['packets'] - p0) / span if span > 0 else 0:.1f}",
                       f"{100.0 * p[sort] / (total_bytes if sort == 'bytes' else total_packets):.1f}%")
    return Group(table, hosts, protos)


def host_rows(report: TrafficReport, sort: str, rows: int) -> list[dict]:
    """The IP endpoints with the most bytes (or packets; ties: the most bytes),
    then in address order; only the rows shown are named."""
    by_bytes = sort == "bytes"
    ranks = ((-(nbytes if by_bytes else packets), -nbytes, raw, packets)
             for raw, (packets, nbytes) in report.endpoint_totals().items())
    return [{"address": ip_text(raw), "raw": raw, "packets": packets, "bytes": -minus_bytes}
            for _, minus_bytes, raw, packets in heapq.nsmallest(rows, ranks)]


def _dropped_keys(report: TrafficReport) -> str:
    """The title's note of what ``--max-entries`` dropped ("" while nothing)."""
    dropped = report.dropped()
    parts = [f"{dropped[table]['keys']} {what}" for table, what in
             (("flows", "flows"), ("conversations", "IP conversations"))
             if dropped[table]["keys"]]
    names = sum(dropped[kind]["keys"] for kind in NAME_KINDS)
    if names:
        parts.append(f"{names} names")
    if not parts:
        return ""
    return f"; --max-entries {report.max_entries}: dropped {', '.join(parts)} (counted as other)"


def _is_link(protocol: str) -> bool:
    return protocol in LINK_PROTOCOL_NAMES.values() or protocol.startswith("linktype_")


def _snapshot(report: TrafficReport):
    flows = dict(report.server_name_totals() if report.track_names else report.flow_totals())
    hosts = report.endpoint_totals()
    protos = {p["path"]: p["packets"] for p in report.protocols()}
    return flows, hosts, protos


def _console(Console):
    if sys.stdout.isatty():
        return Console()
    return Console(width=200, color_system=None, highlight=False)


def _from_file(args, filter_text) -> int:
    Console, _, _ = _rich()
    report = TrafficReport(track_flows=True, track_names=args.by == "server_name")
    file_report([args.read], filter=filter_text, report=report)
    span = report.duration
    title = (f"{args.read}: {report.packets} packets, {report.wire_size} bytes over {span:.3f} s "
             f"(rates averaged over the file)")
    _console(Console).print(_tables(report, None, None, None, span, args, title))
    return 0


def _live(args, filter_text) -> int:
    Console, _, _ = _rich()
    from rich.live import Live
    names = interface_list(args.interfaces)
    iface = names if len(names) > 1 else names[0]
    linktype = linktype_option(args.linktype, names)
    if linktype is not None:
        captured = []
        for name in names:
            try:
                captured.append((name, interface_linktype(name)))
            except OSError:
                pass            # (no such interface: the ring says so, as without -y)
        check_linktype_offered(linktype, args.linktype, captured)
    report = TrafficReport(track_flows=True, track_names=args.by == "server_name",
                           max_entries=args.max_entries)
    console = _console(Console)
    start = time.monotonic()
    deadline = None if args.duration is None else start + args.duration
    error = None
    with StopSignals() as stop, RxRing(iface, filter=filter_text, block_timeout_ms=50,
                                             linktype=linktype) as ring:
        where = ", ".join(n or "any" for n in names)
        last = time.monotonic()
        previous = _snapshot(report)
        with Live(console=console, auto_refresh=False, transient=False) as live:
            while not stop.requested:
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    break
                try:
                    batch = ring.read(65536, timeout=min(0.1, args.interval))
                except OSError as exc:
                    # the interface went away: its ring delivered every packet it
                    # held before saying so; the totals are final, draw them
                    error = exc
                    break
                report.update(batch)
                now = time.monotonic()
                if now - last >= args.interval:
                    span = now - last
                    stats = ring.stats
                    title = (f"{where}: {report.packets} packets, {report.wire_size} bytes in "
                             f"{now - start:.0f} s; drops: {stats.drops} kernel, "
                             f"{stats.if_drops} interface{_dropped_keys(report)}")
                    live.update(_tables(report, *previous, span, args, title), refresh=True)
                    previous = _snapshot(report)
                    last = now
            # drain what the ring still holds, so the totals count every delivered packet
            while error is None:
                batch = ring.read(65536, timeout=0)
                if not len(batch):
                    break
                report.update(batch)
            stats = ring.stats
            elapsed = time.monotonic() - start
            title = (f"{where}: {report.packets} packets, {report.wire_size} bytes in "
                     f"{elapsed:.1f} s (totals; rates averaged); drops: {stats.drops} kernel, "
                     f"{stats.if_drops} interface{_dropped_keys(report)}")
            live.update(_tables(report, None, None, None, elapsed, args, title), refresh=True)
    print(f"{stats.packets} packets received by filter, {stats.drops} dropped by kernel",
          file=sys.stderr)
    if error is not None:
        raise CliError(f"capture stopped: {describe_error(error)}")
    return 0


def run(args) -> int:
    args.expression = args.expression or []
    if not args.read and not args.interfaces:
        if args.expression and os.path.isfile(args.expression[0]):
            # (the words after it: a filter, as tcpdump reads them)
            path, *words = args.expression
            command = shlex.join(["ringcap", "top", "-r", path, *words])
            raise CliError(f"to summarize the file {path}, give it with -r, as "
                           f"tcpdump takes it: {command}", status=2)
        raise CliError("give a source: -i IFACE to watch live, or -r FILE to summarize a file", status=2)
    if args.filter_option:
        args.expression = [args.filter_option] + args.expression
    filter_text = filter_expression(args)
    if args.read:
        check_file_linktype_option(args.linktype)      # as `ringcap -r FILE -y ...`
        return _from_file(args, filter_text)
    return _live(args, filter_text)
