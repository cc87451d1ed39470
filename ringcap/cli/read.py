"""`ringcap read FILE [EXPRESSION]` and `ringcap -r FILE [EXPRESSION]`: tcpdump -r.

A classic pcap file that is only printed goes through
:mod:`ringcap.cli.fileprint`, which makes no batches and needs no numpy (its
start-up); everything else is read batch by batch (memory stays flat
whatever its size).  A filter expression is compiled by libpcap for the
file's link type and run by ringcap's BPF interpreter; the packets that pass are
printed one line each (see :mod:`ringcap.cli.printer`) or, with ``-w``,
written to another capture file.  A summary of how many packets were read
and matched goes to standard error.
"""
from __future__ import annotations

import contextlib
import os
import stat
import sys


from . import fileoptions, fileprint, readflags
from .options import (CliError, add_packet_options, filter_expression, output_error,
                      printer_options, require_stdout)
from ..bpf import libpcap_knows_linktype
from ..linktypes import LINKTYPE_NAMES, decoded_linktype_names, linktype_description
from ..pcapfile import PcapFormatError
from ..pcapfile.formats import carries_direction, libpcap_snaplen

def add_arguments(parser) -> None:
    group = parser.add_argument_group("reading (as in tcpdump)")
    group.add_argument("-r", dest="read", metavar="FILE",
                       help="the pcap or pcapng file to read (`ringcap read FILE` also works; "
                            "-r - : standard input)")
    group.add_argument("-V", dest="file_list", metavar="FILELIST",
                       help="read the capture files named in FILELIST, one a line, one "
                            "after another (-V - : the names from standard input)")
    group.add_argument("-s", "--snapshot-length", dest="snaplen", metavar="SNAPLEN",
                       help="checked as tcpdump checks it (0 to 262144); reading a file keeps "
                            "the file's own snapshot length")
    group.add_argument("-w", dest="write", metavar="FILE",
                       help="write the packets that pass the filter to FILE instead of "
                            "printing them (-w - : to standard output)")
    group.add_argument("-y", "--linktype", dest="linktype", metavar="LINKTYPE",
                       help="accepted as tcpdump accepts it: a data link type libpcap names "
                            "is ignored (a file is read with its own); another is an error")
    own = parser.add_argument_group("ringcap's own")
    own.add_argument("--format", choices=("pcap", "pcapng"), default=None,
                     help="format of -w FILE (default: from its suffix, .pcapng writes pcapng)")
    add_packet_options(parser)
    readflags.add_arguments(parser)
    fileoptions.add_split_arguments(parser)


def _open_writer(args, reader):
    to_stdout = args.write == "-"
    if not to_stdout:
        if os.path.isdir(args.write):
            raise CliError(f"cannot write to {args.write}: it is a directory; give a file name")
        fileoptions.check_output_folder(args.write, args)
        if args.read != "-" and os.path.exists(args.write) \
                and os.path.samefile(args.write, args.read):
            raise CliError(f"-w {args.write} is the file being read; give another name")
    # (imported here: printing, what -r does without -w, needs no sink, and the
    # sinks' package, with its rotation rules and signal handling, is 5% of its start-up)
    from ..sinks.pcap import PcapSink
    try:
        return PcapSink(sys.stdout.buffer if to_stdout else args.write, format=args.format,
                        snaplen=libpcap_snaplen(reader.snaplen),
                        nanosecond=args.precision == "nano" or bool(reader.nanosecond),
                        linktype=reader.linktype,
                        writer_options={"flags": carries_direction(reader)},
                        **readflags.sink_options(args),
                        **(args.split.sink_options(reader) if args.split else {}))
    except OSError as exc:
        raise fileoptions.open_failed(exc, args.write) from None


# packets per batch: windows of a few MiB, which stay in the pool; 65,536 packets
# of 1500 bytes would be 100 MB windows, whose first use (page faults) costs
# about as much as reading a 200 MB file.  Each stage (filter, decode, format)
# walks the batch's headers again, and 4096 packets' header lines, columns and
# lines of text stay in the CPU's cache between the stages where 8192 did not
# (the recorded mix of 1,195-byte packets: 13% less CPU for the loop)
READ_BATCH = 4096
# after the first batch, files of small packets are read in larger batches, up
# to READ_BATCH_MAX packets or about READ_WINDOW_BYTES: each batch costs some
# 0.1 ms of Python (reading, filtering, decoding, formatting calls), 12 ms over
# a million 60-byte frames in batches of 8192
READ_BATCH_MAX = 32768
READ_WINDOW_BYTES = 4 << 20


def _file_list(name: str) -> list[str]:
    """The capture files named in ``-V FILELIST``, one a line (blank lines skipped)."""
    try:
        if name == "-":
            text = sys.stdin.read()
        else:
            with open(name, encoding="utf-8", errors="surrogateescape") as f:
                text = f.read()
    except OSError as exc:
        raise CliError(f"cannot read the file list (-V) {name}: {exc.strerror}") from None
    paths = [line.rstrip("\r\n") for line in text.splitlines() if line.strip()]
    if not paths:
        raise CliError(f"the file list (-V) {name} names no files; give one capture file a line")
    return paths


@contextlib.contextmanager
def _opened(path: str):
    """The reader of ``path``; ``-`` is standard input when it is a file
    (``ringcap -r - < in.pcap``).  Capture files are read by position, so a
    pipe is refused rather than copied: a stream that does not end
    (``tcpdump -w - | ringcap -r -``) would fill the disk and print nothing."""
    from ..pcapfile.reader import open_pcap      # (numpy: batches)
    source = path
    if path == "-":
        try:
            mode = os.fstat(sys.stdin.fileno()).st_mode
        except (OSError, ValueError, AttributeError):
            raise CliError("-r -: standard input is closed; redirect a capture file into it "
                           "(ringcap -r - < in.pcap)") from None
        if not stat.S_ISREG(mode):
            raise CliError("-r -: standard input is not a file (a pipe or a terminal), and "
                           "ringcap reads capture files by position, not as a stream; save "
                           "the stream to a file first "
                           "(... > in.pcap; ringcap -r in.pcap) or redirect a file "
                           "(ringcap -r - < in.pcap)")
        source = f"/proc/self/fd/{sys.stdin.fileno()}"
    try:
        reader = open_pcap(source, batch_packets=READ_BATCH)
    except FileNotFoundError:
        raise CliError(f"{path}: No such file or directory") from None
    except PcapFormatError as exc:
        raise CliError(str(exc).replace(source, path)) from None
    with reader:
        reader.path = path        # messages name "-", not /proc/self/fd/0
        yield reader


def check_file_linktype_option(text: str | None) -> None:
    """tcpdump's check of ``-y`` when reading a file, made before the file is
    opened: a name libpcap knows passes (and is not used: a file is read with its
    own link type), any other is an error (status 1)."""
    if text is not None and ("\0" in text or not libpcap_knows_linktype(text)):
        raise CliError(f"invalid data link type {text}; -y takes a libpcap name "
                       "(EN10MB, LINUX_SLL, ...), and a file is read with its own link type "
                       "whatever -y says", status=1)


def run(args) -> int:
    check_file_linktype_option(args.linktype)
    readflags.check(args)
    fileoptions.check_split(args)
    if args.drop_to is not None:            # (-Z run as root; privileges is loaded then)
        from .privileges import check_later_files
        check_later_files(args.drop_to, args)   # the parts after the first: as USER
    path = args.read
    words = list(args.expression)
    if path is None and args.file_list is None:
        if not words:
            raise CliError("give a file to read: `ringcap read FILE [EXPRESSION]` or "
                           "`ringcap -r FILE [EXPRESSION]`", status=2)
        path = words.pop(0)
        args.expression = words
    if path is not None and args.file_list is not None:
        raise CliError("give either -r FILE or -V FILELIST, not both", status=2)
    paths = [path] if path is not None else _file_list(args.file_list)
    _check_stdout(args)
    args.read = paths[0]
    expression = filter_expression(args)
    state = _ReadState()
    args.split = None
    if fileoptions.splitting(args) or args.hidden_until_complete:
        from .rotated import SplitOutput    # (printing a file needs no rotation)
        args.split = state.split = SplitOutput(args)
    plain = _plain_pcap_to_print(args, paths)
    # (a -C/-G split has the capture's handling of these signals)
    with fileprint.ReadInterrupts(active=state.split is None) as state.interrupts:
        try:
            if plain is not None:
                with contextlib.closing(plain):
                    fileprint.print_file(args, plain, expression, state)
            for path in paths if plain is None else ():
                if state.halted():
                    break
                args.read = path
                _read_file(args, path, expression, state)
        finally:
            failed = None
            try:
                if state.sink is not None:
                    state.sink.close()
            finally:
                if state.printer is not None:
                    try:
                        state.printer.flush()
                    except BrokenPipeError:
                        pass
                    except OSError as exc:
                        failed = output_error(exc)
                if state.opened:
                    _summary(state.read, state.matched, expression is not None)
                if state.split is not None:
                    state.split.finish(state.sink)
            if failed is not None:
                raise failed
    if args.count_only:
        # tcpdump --count: the number of packets that matched, on standard output
        print(f"{state.matched} packet{'' if state.matched == 1 else 's'}", flush=True)
    return 0


def _check_stdout(args) -> None:
    """Refuse a closed standard output (``ringcap -r F >&-``: Python's
    ``sys.stdout`` is None) when the packets, ``-w -`` or ``--count`` go
    there: tcpdump says ``Unable to write output: Bad file descriptor``
    (status 14); ringcap failed with a traceback, or printed nothing and
    exited 0."""
    if args.write in (None, "-") or args.print_too or args.count_only:
        require_stdout(" or give -w FILE")


def _plain_pcap_to_print(args, paths: list[str]):
    """The one file to print, opened, when it can be printed without batches
    (:mod:`ringcap.cli.fileprint`: no numpy, 60-70 ms of start-up): a classic
    pcap file of a link type it prints, read alone, without -w, --count or a
    -Z that gives up root (after the batch path's output is open); else None."""
    if args.write is not None or args.count_only or len(paths) != 1 \
            or readflags.needs_batches(args) or os.environ.get("RINGCAP_READ_BATCHES"):
        return None
    return fileprint.open_plain_pcap(paths[0])


class _ReadState:
    """What carries from one file to the next under -V: the printer (packet
    numbers, relative TCP numbers, the previous timestamp) or the output
    file, and the counts."""

    def __init__(self) -> None:
        self.printer = None
        self.sink = None
        self.read = self.matched = 0
        self.opened = False
        self.split = None           # -C/-G/--hidden-until-complete: the capture's rules
        self.interrupts = None      # fileprint.ReadInterrupts, without a split

    def halted(self) -> bool:
        """-W's last file is finished, or a signal asked the reading to stop."""
        return (self.sink is not None and self.sink.done) or \
            (self.split is not None and self.split.stopped) or \
            (self.interrupts is not None and bool(self.interrupts.received))


def _read_file(args, path: str, expression, state: _ReadState) -> None:
    """Print (or write) the packets of one file.

    As in tcpdump, ``-c`` counts each file of ``-V`` on its own (tcpdump runs
    one ``pcap_loop`` of ``-c`` packets per file), while packet numbers
    (``-#``) and times (``-ttt``) carry on from file to file."""
    from ..filtering import LinkTypeFilter, Selection       # (numpy: batches)
    from ..pcapfile.buffers import batch_packets_for
    from .printer import PacketPrinter
    matched = 0
    printing = (args.write is None or args.print_too) and not args.count_only
    with _opened(path) as reader:
        linktype = reader.linktype
        if printing and linktype not in LINKTYPE_NAMES:
            raise CliError(f"{path} has link-type {linktype_description(linktype)}; ringcap "
                           f"prints {decoded_linktype_names()} captures (filtering it into "
                           "a file with -w works)")
        # as tcpdump: the file's line, then the filter compiled for its link type
        print(f"reading from file {path}, link-type {linktype_description(linktype)}, snapshot "
              f"length {libpcap_snaplen(reader.snaplen)}", file=sys.stderr, flush=True)
        if linktype == 276 and printing:
            # the names are this host's for the file's interface indexes, as tcpdump's
            print("Warning: interface names might be incorrect", file=sys.stderr, flush=True)
        compiled = None
        if expression is not None:
            # libpcap's program for each link type in the file (per interface in pcapng)
            compiled = LinkTypeFilter(expression, snaplen=libpcap_snaplen(reader.snaplen),
                                      swapped=reader.format == "pcap" and reader._swap)
            try:
                compiled.for_linktype(linktype)
            except ValueError as exc:
                raise CliError(str(exc)) from None
        if args.write is not None and state.sink is None:
            state.sink = _open_writer(args, reader)
        readflags.give_up_root(args)        # -Z: the file and the output are open
        if printing and state.printer is None:
            state.printer = PacketPrinter(sys.stdout, **printer_options(args))
        state.opened = True         # the summary is due from here on
        printer, sink = state.printer, state.sink
        flush_each = args.line_buffered or (printer is not None and sys.stdout.isatty())
        sized = False
        selection = None if compiled is None else Selection(compiled)
        for batch in reader:
            examined = len(batch)
            if not sized and examined:      # the first batch: size the others
                reader.batch_packets = batch_packets_for(
                    batch, least=READ_BATCH, most=READ_BATCH_MAX, window_bytes=READ_WINDOW_BYTES)
                sized = True
            if selection is not None:
                batch = selection.select(
                    batch, None if args.count is None else args.count - matched)
                examined = selection.examined
            elif args.count is not None and matched + len(batch) >= args.count:
                batch = batch[:args.count - matched]
                examined = len(batch)
            state.read += examined
            state.matched += len(batch)
            matched += len(batch)
            try:
                if sink is not None:
                    sink.write(batch)       # (-w - into a closed pipe: tcpdump stops quietly)
                if printer is not None:
                    try:
                        printer.print_batch(batch)
                        if flush_each:
                            printer.flush()
                    except OSError as exc:    # standard output: a broken pipe too (status 14)
                        raise output_error(exc) from None
            except ValueError as exc:    # a link type ringcap cannot print, or that
                raise CliError(str(exc)) from None     # a pcap output cannot hold
            if args.count is not None and matched >= args.count or state.halted():
                break


def _summary(read: int, matched: int, filtered: bool) -> None:
    try:
        if filtered:
            print(f"{read} packets read, {matched} matched the filter", file=sys.stderr,
                  flush=True)
        else:
            print(f"{read} packets read", file=sys.stderr, flush=True)
    except (OSError, ValueError):
        pass
