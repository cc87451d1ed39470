"""`ringcap stats FILE...`: capinfos and Wireshark's Statistics menu in one report.

Reads each file batch by batch into a :class:`ringcap.report.TrafficReport`
and prints the summary (per file and, for several files, in total), the
protocol hierarchy, IP conversations and endpoints, the packet-length
distribution, the rate over time and the top names (DNS queries, TLS server
names, HTTP hosts); ``--json`` prints the same as JSON.  One classic pcap
file is read without batches, and without numpy
(:mod:`ringcap.cli.filestats`: a third of the command's start-up).
"""
from __future__ import annotations

import contextlib
import os
import sys
import time

from ..linktypes import linktype_description
from ..reportcore import MAX_RATE_INTERVALS, ReportCounts
from . import filestats
from .jsontext import dumps_indent1
from .options import (KILLED_BY_SIGPIPE, CliError, output_error, parse_count, parse_seconds,
                      require_stdout, size_type)

# capinfos's end when its reader has gone (`| head -1`): killed by SIGPIPE
BROKEN_PIPE_STATUS = KILLED_BY_SIGPIPE


def add_arguments(parser) -> None:
    parser.add_argument("files", nargs="*", metavar="FILE", help="pcap or pcapng files")
    parser.add_argument("-r", dest="read", action="append", default=[], metavar="FILE",
                        help="a file to read, as tcpdump and tshark take it (may repeat; "
                             "the same as giving FILE)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--top", metavar="N", type=size_type(parse_count, what="--top"),
                        default=10, help="conversations and endpoints to show (10)")
    parser.add_argument("--interval", metavar="SECONDS", default=1.0,
                        type=size_type(parse_seconds, what="--interval"),
                        help="width of the rate-over-time bins (1 s)")
    parser.add_argument("-f", "--filter", metavar="EXPRESSION",
                        help="count only packets matching a tcpdump filter expression")


def _when(ts: int | None) -> str:
    if ts is None:
        return "n/a"
    # (time.gmtime: datetime's strftime formats the same fields; importing
    # datetime was 3.6 M instructions of the command's start-up)
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ts // 10**9)) \
        + f".{ts % 10**9:09d} UTC"


def _summary_lines(s: dict) -> list[str]:
    return [
        f"Number of packets:   {s['packets']}",
        f"Data size:           {s['data_size']} bytes",
        f"Captured size:       {s['captured_size']} bytes",
        f"Capture duration:    {s['duration']:.9f} seconds",
        f"First packet time:   {_when(s['first_ts'])}",
        f"Last packet time:    {_when(s['last_ts'])}",
        f"Data byte rate:      {s['data_byte_rate']:.2f} bytes/sec",
        f"Data bit rate:       {s['data_bit_rate']:.2f} bits/sec",
        f"Average packet size: {s['average_packet_size']:.2f} bytes",
        f"Average packet rate: {s['average_packet_rate']:.2f} packets/sec",
        f"Strict time order:   {s['time_ordered']}",
    ]


def _print_text(report, infos, top: int, out) -> None:
    w = out.write
    for info in infos:
        w(f"File name:           {info.path}\n")
        w(f"File type:           {info.format}\n")
        w(f"File size:           {info.file_size} bytes\n")
        # as tcpdump names them on its "reading from file" line, the number after
        names = ", ".join(f"{linktype_description(t)} = {t}" for t in info.linktypes)
        w(f"Link types:          {names or 'n/a'}\n")
        if info.snaplen is not None:
            w(f"Packet size limit:   {info.snaplen} bytes\n")
        if info.received is not None:
            w(f"Recorded by capture: {info.received} received, {info.dropped} dropped\n")
        if len(infos) > 1:
            w("\n")
    for line in _summary_lines(report.summary()):
        w(line + "\n")
    w("\nProtocol hierarchy                        packets        bytes\n")
    for row in report.protocols():
        depth = row["path"].count(":")
        name = "  " * depth + row["path"].rsplit(":", 1)[-1]
        w(f"  {name:<38} {row['packets']:>10} {row['bytes']:>12}\n")
    conversations = report.conversations(top)
    w(f"\nIP conversations (top {top} by bytes)\n")
    w(f"  {'Address A':<39} {'Address B':<39} {'A->B pkts':>10} {'A->B bytes':>12} "
      f"{'B->A pkts':>10} {'B->A bytes':>12} {'start':>12} {'duration':>10}\n")
    for c in conversations:
        w(f"  {c['a']:<39} {c['b']:<39} {c['packets_ab']:>10} {c['bytes_ab']:>12} "
          f"{c['packets_ba']:>10} {c['bytes_ba']:>12} {c['rel_start']:>12.6f} "
          f"{c['duration']:>10.4f}\n")
    w(f"\nIP endpoints (top {top} by bytes)\n")
    w(f"  {'Address':<39} {'packets':>10} {'bytes':>12} {'tx pkts':>10} {'tx bytes':>12} "
      f"{'rx pkts':>10} {'rx bytes':>12}\n")
    for e in report.endpoints(top):
        w(f"  {e['address']:<39} {e['packets']:>10} {e['bytes']:>12} {e['tx_packets']:>10} "
          f"{e['tx_bytes']:>12} {e['rx_packets']:>10} {e['rx_bytes']:>12}\n")
    w("\nPacket lengths          packets   percent\n")
    for row in report.packet_sizes():
        w(f"  {row['range']:<20} {row['packets']:>10} {row['percent']:>8.2f}%\n")
    rates = report.rates()
    if rates["packets"]:
        interval = rates["interval"]
        pps = [p / interval for p in rates["packets"]]
        bps = [8 * b / interval for b in rates["bytes"]]
        peak = max(range(len(pps)), key=pps.__getitem__)
        widened = (f"; --interval {rates['requested_interval']:g} s widened to keep at most "
                   f"{MAX_RATE_INTERVALS} intervals" if interval != rates["requested_interval"]
                   else "")
        w(f"\nRate over time ({len(pps)} intervals of {interval:g} s{widened})\n")
        w(f"  peak:    {pps[peak]:.1f} packets/s, {max(bps):.1f} bits/s "
          f"(at {_when(rates['start_ts'] + int(peak * interval * 1e9))})\n")
        w(f"  average: {sum(pps) / len(pps):.1f} packets/s, {sum(bps) / len(bps):.1f} bits/s\n")
    names = report.top_names(top)
    w(f"\nTop names (top {top})\n")
    for kind, title in (("dns_query", "DNS queries"), ("tls_sni", "TLS server names (SNI)"),
                        ("http_host", "HTTP hosts")):
        w(f"  {title}\n")
        for row in names[kind]:
            w(f"    {row['name']:<60} {row['count']:>10}\n")
        if not names[kind]:
            w("    (none)\n")


def _filter_hint(args, missing) -> str:
    """Words after ``-r FILE`` that are no files (``stats -r f.pcap udp port
    53``: tcpdump's way of giving a filter): how to give them as one."""
    if args.filter is not None or not args.read or not args.files or missing not in args.files \
            or any(os.path.exists(word) for word in args.files):
        return ""
    import shlex             # (a hint on an error: not at every start)
    reads = [word for path in args.read for word in ("-r", path)]
    command = shlex.join(["ringcap", "stats", *reads, "-f", " ".join(args.files)])
    return f"; to count only the packets a filter matches, give it with -f: {command}"


def run(args) -> int:
    files = args.read + args.files
    require_stdout()
    if not files:
        raise CliError("give the capture files to summarize: ringcap stats FILE... "
                       "(or -r FILE)", status=2)
    lean = filestats.lean_source(args, files)
    try:
        if lean is not None:
            with contextlib.closing(lean):
                report, infos = filestats.file_report(
                    lean, filter=args.filter,
                    report=ReportCounts(interval=args.interval, track_names=True))
        else:
            from ..report import TrafficReport, file_report     # (numpy: batches)
            report, infos = file_report(
                files, filter=args.filter,
                report=TrafficReport(interval=args.interval, track_names=True))
    except FileNotFoundError as exc:
        # capinfos's words and status
        hint = _filter_hint(args, exc.filename)
        raise CliError(f'The file "{exc.filename}" doesn\'t exist{hint or "."}',
                       status=2) from None
    out = sys.stdout
    try:
        if args.json:
            document = report.to_dict(top=args.top)
            document["files"] = [vars(info) for info in infos]
            # one write: json.dump writes each token (a system call apiece
            # under PYTHONUNBUFFERED=1: 1,200 for a one-file report); json's
            # bytes without importing json (ringcap.cli.jsontext)
            out.write(dumps_indent1(document) + "\n")
        else:
            _print_text(report, infos, args.top, out)
        out.flush()
    except BrokenPipeError:
        raise
    except OSError as exc:
        raise output_error(exc) from None
    return 0
