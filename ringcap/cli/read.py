"""`ringcap read FILE [EXPRESSION]` and `ringcap -r FILE [EXPRESSION]`: tcpdump -r.

The file is read batch by batch (memory stays flat whatever its size); a
filter expression is compiled by libpcap for the file's link type and run
over each batch by ringcap's BPF interpreter; the packets that pass are
printed one line each (see :mod:`ringcap.cli.printer`) or, with ``-w``,
written to another capture file.  A summary of how many packets were read
and matched goes to standard error.
"""
from __future__ import annotations

import os
import sys

import numpy as np

from .options import CliError, add_packet_options, filter_expression, printer_options
from ..batch import LINKTYPE_NAMES, linktype_description
from ..bpf import LinkTypeFilter
from ..pcapfile import PcapFormatError, open_pcap
from ..sinks import PcapSink
from .printer import PacketPrinter

def add_arguments(parser) -> None:
    group = parser.add_argument_group("reading (as in tcpdump)")
    group.add_argument("-r", dest="read", metavar="FILE",
                       help="the pcap or pcapng file to read (`ringcap read FILE` also works)")
    group.add_argument("-w", dest="write", metavar="FILE",
                       help="write the packets that pass the filter to FILE instead of "
                            "printing them (-w - : to standard output)")
    own = parser.add_argument_group("ringcap's own")
    own.add_argument("--format", choices=("pcap", "pcapng"), default=None,
                     help="format of -w FILE (default: from its suffix, .pcapng writes pcapng)")
    add_packet_options(parser)


def _linktype_name(linktype: int) -> str:
    """tcpdump's "EN10MB (Ethernet)"."""
    return linktype_description(linktype)


def _open_writer(args, reader):
    to_stdout = args.write == "-"
    if not to_stdout:
        if os.path.isdir(args.write):
            raise CliError(f"cannot write to {args.write}: it is a directory; give a file name")
        folder = os.path.dirname(os.path.abspath(args.write)) or "."
        if not os.path.isdir(folder):
            raise CliError(f"cannot write to {args.write}: the folder {folder} does not exist")
        if os.path.exists(args.write) and os.path.samefile(args.write, args.read):
            raise CliError(f"-w {args.write} is the file being read; give another name")
    try:
        return PcapSink(sys.stdout.buffer if to_stdout else args.write, format=args.format,
                        snaplen=reader.snaplen or 262144,
                        nanosecond=args.precision == "nano" or bool(reader.nanosecond),
                        linktype=reader.linktype)
    except OSError as exc:
        text = str(exc.strerror or exc)
        # a failed first write names the file and says what failed itself
        raise CliError(text if text.startswith("writing to ") else
                       f"cannot write to {args.write}: {text}") from None


# packets per batch: windows of a few MiB, which stay in the pool; 65,536 packets
# of 1500 bytes would be 100 MB windows, whose first use (page faults) costs
# about as much as reading a 200 MB file
READ_BATCH = 8192
# after the first batch, files of small packets are read in larger batches, up
# to READ_BATCH_MAX packets or about READ_WINDOW_BYTES: each batch costs some
# 0.1 ms of Python (reading, filtering, decoding, formatting calls), 12 ms over
# a million 60-byte frames in batches of 8192
READ_BATCH_MAX = 32768
READ_WINDOW_BYTES = 4 << 20


def run(args) -> int:
    path = args.read
    words = list(args.expression)
    if path is None:
        if not words:
            raise CliError("give a file to read: `ringcap read FILE [EXPRESSION]` or "
                           "`ringcap -r FILE [EXPRESSION]`", status=2)
        path = words.pop(0)
        args.expression = words
    args.read = path
    expression = filter_expression(args)
    try:
        reader = open_pcap(path, batch_packets=READ_BATCH)
    except FileNotFoundError:
        raise CliError(f"{path}: No such file or directory") from None
    except PcapFormatError as exc:
        raise CliError(str(exc)) from None
    with reader:
        linktype = reader.linktype
        compiled = None
        if expression is not None:
            # libpcap's program for each link type in the file (per interface in pcapng)
            compiled = LinkTypeFilter(expression, snaplen=reader.snaplen or 262144,
                                      swapped=reader.format == "pcap" and reader._swap)
            try:
                compiled.for_linktype(linktype)
            except ValueError as exc:
                raise CliError(str(exc)) from None
        if args.write is None and linktype not in LINKTYPE_NAMES:
            raise CliError(f"{path} has link-type {_linktype_name(linktype)}; ringcap prints "
                           f"{', '.join(sorted({n for n, _ in LINKTYPE_NAMES.values()}))} "
                           "captures (filtering it into a file with -w works)")
        print(f"reading from file {path}, link-type {_linktype_name(linktype)}, snapshot "
              f"length {reader.snaplen}", file=sys.stderr, flush=True)
        if args.write is not None:
            sink = _open_writer(args, reader)
            printer = None
        else:
            sink = None
            printer = PacketPrinter(sys.stdout, **printer_options(args))
        flush_each = args.line_buffered or (printer is not None and sys.stdout.isatty())
        read = matched = 0
        sized = False
        try:
            for batch in reader:
                examined = len(batch)
                if not sized and examined:      # the first batch: size the others
                    per_packet = (int(batch.caplen.sum()) + 16 * examined) / examined
                    reader.batch_packets = max(READ_BATCH, min(
                        READ_BATCH_MAX, int(READ_WINDOW_BYTES // per_packet)))
                    sized = True
                if compiled is not None:
                    chosen = np.flatnonzero(compiled.mask(batch))
                    if args.count is not None and matched + len(chosen) >= args.count:
                        chosen = chosen[:args.count - matched]
                        examined = int(chosen[-1]) + 1 if len(chosen) else 0
                    if len(chosen) < len(batch):
                        batch = batch[chosen]
                elif args.count is not None and matched + len(batch) >= args.count:
                    batch = batch[:args.count - matched]
                    examined = len(batch)
                read += examined
                matched += len(batch)
                try:
                    if printer is not None:
                        printer.print_batch(batch)
                        if flush_each:
                            printer.flush()
                    else:
                        sink.write(batch)
                except ValueError as exc:    # a link type ringcap cannot print, or that
                    raise CliError(str(exc)) from None     # a pcap output cannot hold
                if args.count is not None and matched >= args.count:
                    break
        finally:
            if sink is not None:
                sink.close()
            elif printer is not None:
                try:
                    printer.flush()
                except BrokenPipeError:
                    pass
            _summary(read, matched, compiled is not None)
    return 0


def _summary(read: int, matched: int, filtered: bool) -> None:
    try:
        if filtered:
            print(f"{read} packets read, {matched} matched the filter", file=sys.stderr,
                  flush=True)
        else:
            print(f"{read} packets read", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
