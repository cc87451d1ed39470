"""`ringcap capture` (also plain `ringcap -i IFACE ...`): tcpdump's capture, streamed.

Parses the options, opens the output (before the ring, so a bad path fails
at once), opens the ring, and hands both to :func:`ringcap.sinks.pump`,
which streams every batch into the sink, finishes the files on SIGINT,
SIGTERM and SIGHUP and returns the counts printed at the end.
"""
from __future__ import annotations

import contextlib
import errno
import _socket
import os
import stat
import sys
import time

from .. import _ring
from ..linktypes import (LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_NAMES,
                         decoded_linktype_names, linktype_description, linktype_name)
from ..bpf import compile_filter
from ..pcapfile import DEFAULT_SNAPLEN
from ..ring import RxRing, interface_linktypes
from ..sinks import PcapSink, Rotation, Sink
from ..sinks.pcap import format_for_path
from ..sinks.driving import StopSignals, pump
from .datasets import DATASET_FORMATS, add_dataset_options, is_dataset, open_dataset_sink
from .fileoptions import (add_file_arguments, add_rotation_arguments, check_file_options,
                          check_output_folder, open_failed, report_post_rotate)
from .interfaces import (check_linktype_offered, default_interface, is_down, list_interfaces,
                         linktype_option, list_linktypes, resolve_numbers)
from .options import (CliError, add_packet_options, describe_error, filter_expression,
                      interface_list, output_error, parse_count, parse_seconds, parse_size,
                      parse_snaplen, printer_options, silence_stdout, size_type, tcpdump_checked,
                      SNAPLEN_WORDS)
from .privileges import check_later_files, drop_privileges, lookup_user
from .rotated import post_rotate_command
from .status import StatusLine, print_summary

MiB = 1 << 20
DEFAULT_RING_BYTES = 256 * MiB
MIN_BLOCK_SIZE = 256 * 1024
PACKET_OUTGOING = 4
DEFAULT_BLOCK_TIMEOUT_MS = 10
# Into one pcap file written straight from the ring (-w FILE, no -U): libpcap's
# timeout, which tcpdump -w gives the kernel too (pcap_set_timeout(1000)).  A block
# is handed over when full or after this long: 10 ms cost -w a wake-up, poll() and
# writev() per part-filled block: 17-36% of its capture CPU on 1M 60-byte frames (docs/cli.md)
FILE_BLOCK_TIMEOUT_MS = 1000
IMMEDIATE_BLOCK_TIMEOUT_MS = 1      # the kernel's shortest (tp_retire_blk_tov is in ms)


def add_arguments(parser) -> None:
    group = parser.add_argument_group("capture (as in tcpdump)")
    group.add_argument("-i", "--interface", dest="interfaces", action="append", metavar="IFACE",
                       help="interface to capture on: a name, a number from -D, or `any` for "
                            "all; default: the first of -D (up, running, not loopback)")
    group.add_argument("-D", "--list-interfaces", dest="list_interfaces", action="store_true",
                       help="list the interfaces (tcpdump's order, numbers and flags; then the "
                            "link type ringcap captures each with, ifindex and MTU) and exit")
    group.add_argument("-L", "--list-data-link-types", dest="list_linktypes", action="store_true",
                       help="list the link types the interface (-i) can be captured with "
                            "(-y chooses), and exit")
    group.add_argument("-y", "--linktype", dest="linktype", metavar="LINKTYPE",
                       help="capture with this link type, one of -L's list (e.g. -i any "
                            "-y LINUX_SLL for cooked v1 instead of v2)")
    group.add_argument("-w", dest="write", metavar="FILE",
                       help="write packets to FILE (pcap, or pcapng for a .pcapng name); "
                            "`-` writes a pcap stream to standard output")
    group.add_argument("-s", "--snapshot-length", dest="snaplen", metavar="SNAPLEN",
                       type=tcpdump_checked(parse_snaplen, SNAPLEN_WORDS,
                                            "-s takes bytes, or a size with a suffix (64k)"),
                       default=DEFAULT_SNAPLEN,
                       help=f"bytes kept per packet (0 or default: {DEFAULT_SNAPLEN})")
    group.add_argument("-p", "--no-promiscuous-mode", dest="no_promisc", action="store_true",
                       help="do not put the interface in promiscuous mode (on by default)")
    group.add_argument("-B", "--buffer-size", dest="ring_bytes", metavar="KiB",
                       type=tcpdump_checked(parse_ring_size, "invalid packet buffer size {}",
                                            "-B takes KiB, or a size with a suffix (256M)"),
                       help="ring size in KiB (suffixes: -B 256M); default 256 MiB")
    add_rotation_arguments(group)
    group.add_argument("-z", dest="post_rotate", metavar="CMD",
                       help="run `CMD FILE` on each finished file (e.g. -z gzip), in the "
                            "background, at most --post-rotate-jobs at once")
    group.add_argument("-Z", "--relinquish-privileges", dest="owner", metavar="USER",
                       help="once the ring and the first file are open, give up root and run "
                            "as USER (its groups too); the files and -z commands are USER's")
    group.add_argument("-Q", "--direction", dest="direction", metavar="in|out|inout",
                       type=tcpdump_checked(parse_direction, "unknown capture direction `{}'",
                                            "-Q takes in, out or inout"),
                       default="inout",
                       help="packets to capture by direction (default inout; any case)")
    group.add_argument("-U", "--packet-buffered", dest="packet_buffered", action="store_true",
                       help="write each batch to the file as it arrives, not in large writes")
    group.add_argument("--immediate-mode", dest="immediate_mode", action="store_true",
                       help="deliver packets as they arrive: the kernel hands each block of "
                            "the ring over within 1 ms (--block-timeout 1)")
    add_packet_options(parser)
    own = parser.add_argument_group("ringcap's own")
    own.add_argument("--duration", metavar="SECONDS",
                     type=size_type(parse_seconds, what="duration"),
                     help="stop after SECONDS (also 500ms, 10m, 2h)")
    own.add_argument("--format", choices=("pcap", "pcapng") + DATASET_FORMATS,
                     help="file format (default: pcapng for a .pcapng name, else pcap); "
                          "parquet or flows: -w ROOT/ is a Parquet dataset folder")
    own.add_argument("--block-size", metavar="BYTES", type=size_type(parse_size,
                     what="block size"), help="ring block size (default: the smallest power of two "
                     "of at least 256 KiB that holds snaplen bytes, 512 KiB for the default)")
    own.add_argument("--block-count", metavar="N", type=size_type(parse_count,
                     what="block count"), help="ring blocks (default: ring size / block size)")
    own.add_argument("--block-timeout", metavar="MS", type=size_type(parse_count,
                     what="block timeout"),
                     help=f"hand a partly filled block over after MS milliseconds "
                          f"({DEFAULT_BLOCK_TIMEOUT_MS}; {FILE_BLOCK_TIMEOUT_MS}, libpcap's, "
                          f"into one pcap file: -w FILE without -U, rotation or --print)")
    own.add_argument("--workers", metavar="N", type=size_type(parse_count, what="workers"),
                     default=1, help="capture with N processes in one fanout group; with -w, "
                     "{worker} in FILE writes one file per worker, else one file")
    own.add_argument("--fanout", choices=("hash", "lb", "cpu", "rollover", "random", "qm"),
                     default="hash", help="how --workers share the packets (default hash: "
                     "each flow to one worker)")
    add_file_arguments(own)
    own.add_argument("--status", dest="status", action="store_true", default=None,
                     help="show the live status line even when stderr is not a terminal")
    own.add_argument("--no-status", dest="status", action="store_false",
                     help="no live status line")
    add_dataset_options(parser)


def parse_direction(text: str) -> str:
    """-Q: in, out or inout, in any case (tcpdump compares with strcasecmp)."""
    direction = str(text).lower()
    if direction not in ("in", "out", "inout"):
        raise ValueError(text)
    return direction


# ---------------------------------------------------------------------- ring
def parse_ring_size(text: str) -> int:
    """-B: KiB as in tcpdump (-B 4096 is 4 MiB), or bytes with a suffix (-B 256M)."""
    text = str(text).strip()
    if text[-1:].isalpha():
        return parse_size(text, what="ring size (-B)")
    return parse_size(text, unit=1024, what="ring size (-B)")


# libpcap's floor for a cooked capture (`-i any`): the 20-byte LINUX_SLL2 header
# and one byte of the packet, so `-s 10` never cuts the link header itself
COOKED_MIN_SNAPLEN = 21


def ring_geometry(args, snaplen: int) -> tuple[int, int]:
    """(block_size, block_count) from -B and --block-size/--block-count.

    Blocks are the smallest power of two that holds a packet of snaplen, at
    least 256 KiB (512 KiB for the default snaplen, as libpcap would choose):
    at low rates the kernel hands blocks over by their timeout, part full, so
    many small blocks hold far more of the traffic than a few large ones.
    """
    page = os.sysconf("SC_PAGESIZE")
    need = -(-(snaplen + 256) // page) * page
    total = args.ring_bytes or DEFAULT_RING_BYTES
    block_size = args.block_size
    if block_size is None:
        block_size = MIN_BLOCK_SIZE
        while block_size < need:
            block_size *= 2
        while block_size // 2 >= need and block_size * 8 > total:
            block_size //= 2      # a small ring still gets 8 or more blocks
    if args.block_count is not None:
        return block_size, args.block_count
    return block_size, max(1, -(-total // block_size))


def ring_options(args, iface, snaplen: int, filter_text: str | None) -> dict:
    block_size, block_count = ring_geometry(args, snaplen)
    return dict(snaplen=snaplen, block_size=block_size, block_count=block_count,
                block_timeout_ms=args.block_timeout,
                promisc=not args.no_promisc and iface is not None,
                ignore_outgoing=args.direction == "in", filter=filter_text,
                linktype=args.linktype)


def describe_linktypes(linktypes: dict[int, int], label) -> str:
    """tcpdump's "link-type EN10MB (Ethernet)", per interface when they differ."""
    kinds = set(linktypes.values())
    if len(kinds) == 1:
        kind = kinds.pop()
        return f"link-type {linktype_description(kind)}"
    names = dict([label]) if isinstance(label, tuple) else dict(label or {})
    return "link-types " + ", ".join(f"{names.get(i, i)} {linktype_name(t)}"
                                     for i, t in linktypes.items())


def check_decodable(args, linktypes: dict[int, int], label) -> None:
    """Printing (and datasets of header columns) need link types ringcap
    decodes: an interface of another kind (802.11 monitor mode, CAN, netlink
    monitor, ...) is refused before the capture starts, naming its link type;
    pcap and pcapng files of it are written (-w)."""
    if args.write and not is_dataset(args) and not args.print_too:
        return
    names = dict([label]) if isinstance(label, tuple) else dict(label or {})
    for index, kind in linktypes.items():
        if kind not in LINKTYPE_NAMES:
            doing = "prints" if not args.write or args.print_too else "writes datasets of"
            raise CliError(f"{names.get(index, 'any')} has link-type "
                           f"{linktype_description(kind)}, which ringcap does not decode; "
                           f"ringcap {doing} {decoded_linktype_names()} captures: write "
                           "this one to a pcap file (-w FILE) and read it with tcpdump "
                           "or Wireshark")


def run_workers(args, iface, snaplen: int, filter_text: str | None, label, linktypes,
                stop=None) -> int:
    """--workers N: the same capture by a pool of processes."""
    from .pool import per_worker_files, run_pool
    if args.write and not per_worker_files(args) and not is_dataset(args):
        sink = open_file_sink(args, snaplen, label, linktypes)
    elif args.write:
        sink = None
    else:
        sink = open_printer(args, sys.stdout)
    result = run_pool(args, iface, snaplen, ring_options(args, iface, snaplen, filter_text),
                      sink, linktypes, stop)
    print_summary(result, sys.stderr)
    return 0


def open_ring(args, iface, snaplen: int, filter_text: str | None):
    try:
        return RxRing(iface, **ring_options(args, iface, snaplen, filter_text))
    except PermissionError as exc:
        python = os.path.realpath(sys.executable)
        raise CliError(
            f"no permission to capture ({os.strerror(exc.errno or 1)}): capturing needs "
            f"CAP_NET_RAW. "
            f"Run as root, or give the interpreter the capability once: "
            f"sudo setcap cap_net_raw=eip {python}") from None
    except OSError as exc:
        if exc.errno == errno.ENODEV:
            raise CliError(f"{exc.args[1] if len(exc.args) > 1 else exc}; or see `ringcap -D`"
                           .replace("; list them with `ip link`", "")) from None
        raise


# ---------------------------------------------------------------------- sinks
class PrinterSink(Sink):
    """Packets printed one line each on standard output (no -w)."""

    def __init__(self, printer, stream, flush: bool) -> None:
        super().__init__()
        self._printer = printer
        self._stream = stream
        self._flush_each = flush
        self._bytes = 0
        self.output_error = None       # a failed write of the lines (a full disk)

    def _failed(self, exc: OSError) -> OSError:
        self.output_error = exc
        return exc

    @property
    def bytes_written(self) -> int:
        return self._bytes

    @bytes_written.setter
    def bytes_written(self, value) -> None:
        pass

    def _write(self, batch) -> int:
        try:
            self._printer.print_batch(batch)
            if self._flush_each:
                self._stream.flush()
        except OSError as exc:
            raise self._failed(exc)
        self.packets_written += len(batch)
        self._bytes += batch.nbytes
        return len(batch)

    def _flush(self) -> None:
        try:
            self._stream.flush()
        except OSError as exc:
            raise self._failed(exc)

    def _close(self, stats) -> None:
        self._flush()


class CountingSink(PrinterSink):
    """--count without -w: packets counted, nothing printed (tcpdump --count)."""

    def __init__(self) -> None:
        super().__init__(None, None, False)

    def _write(self, batch) -> int:
        self.packets_written += len(batch)
        self._bytes += batch.nbytes
        return len(batch)

    def _flush(self) -> None:
        pass

    def _close(self, stats) -> None:
        pass


def open_printer(args, stream) -> Sink:
    if args.count_only:
        return CountingSink()
    from .printer import PacketPrinter
    printer = PacketPrinter(stream, **printer_options(args))
    flush = args.line_buffered or stream.isatty()
    return PrinterSink(printer, stream, flush)


def _is_terminal(path: str) -> bool:
    """-w /dev/stdout (or /dev/tty, /dev/pts/N) onto a terminal, as -w - is refused."""
    try:
        if not stat.S_ISCHR(os.stat(path).st_mode):
            return False        # (never opened here: a FIFO's reader would see an end)
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False            # absent, or opened for real later (with its own error)
    try:
        return os.isatty(fd)
    finally:
        os.close(fd)


def open_file_sink(args, snaplen: int, iface_label, linktypes: dict[int, int]) -> Sink:
    if is_dataset(args):
        if args.file_size or args.file_count:
            raise CliError(f"-C and -W do not apply to --format {args.format}: a dataset's "
                           "files end with -G SECONDS, --rotate-rows N and the partitions")
        on_done = post_rotate_command(args)
        return open_dataset_sink(args, args.write, rotate_seconds=args.rotate_seconds,
                                 owner=args.owner, on_file_done=on_done)
    rotation = Rotation(max_bytes=args.file_size, seconds=args.rotate_seconds,
                        max_files=args.file_count)
    target = args.write
    to_stdout = target == "-"
    if to_stdout and rotation.active:
        raise CliError("-C, -G and -W need a file name, not -w -")
    if to_stdout and args.hidden_until_complete:
        raise CliError("--hidden-until-complete renames files into place: give -w a file "
                       "name, not -", status=2)
    if to_stdout and sys.stdout.isatty():
        raise CliError("-w - writes binary pcap to standard output, which is a terminal: "
                       "pipe it (| tcpdump -r -) or redirect it (> file.pcap)")
    if not to_stdout:
        if _is_terminal(target):
            raise CliError(f"-w {target} is a terminal: a pcap file is binary; pipe it "
                           "(-w - | tcpdump -r -) or redirect it (> file.pcap)")
        if os.path.isdir(target):
            raise CliError(f"cannot write to {target}: it is a directory; give a file name, "
                           "or --format parquet for a dataset")
        check_output_folder(target, args)
    on_done = post_rotate_command(args)
    kinds = set(linktypes.values())
    if len(kinds) > 1 and format_for_path(None if to_stdout else target, args.format) == "pcap":
        raise CliError(f"cannot write {target} as pcap: the interfaces have different "
                       f"{describe_linktypes(linktypes, iface_label)[5:]}, and a pcap file "
                       "holds one; write pcapng (--format pcapng or a .pcapng name) or "
                       "capture on `any` (one cooked LINUX_SLL2 capture)")
    try:
        return PcapSink(sys.stdout.buffer if to_stdout else target, format=args.format,
                        snaplen=snaplen, nanosecond=args.precision == "nano",
                        linktype=kinds.pop() if len(kinds) == 1 else None,
                        linktypes=linktypes, rotation=rotation, interface=iface_label,
                        flush_every_batch=args.packet_buffered or to_stdout,
                        owner=None if to_stdout else args.owner, on_file_done=on_done,
                        atomic=args.hidden_until_complete)
    except OSError as exc:
        raise open_failed(exc, target) from None


# ---------------------------------------------------------------------- run
def check_tcpdump_modes(args) -> None:
    """--immediate-mode, --print and --count, as far as ringcap has them."""
    if args.immediate_mode:
        # libpcap's immediate mode leaves TPACKET_V3 (whose blocks wait for their
        # timeout) for V2; ringcap keeps V3 with the shortest block timeout
        if args.block_timeout not in (None, IMMEDIATE_BLOCK_TIMEOUT_MS):
            raise CliError(f"--immediate-mode is --block-timeout {IMMEDIATE_BLOCK_TIMEOUT_MS}: "
                           f"give one of them, not both", status=2)
        args.block_timeout = IMMEDIATE_BLOCK_TIMEOUT_MS
    args.block_timeout_given = args.block_timeout is not None
    if args.block_timeout is None:
        args.block_timeout = DEFAULT_BLOCK_TIMEOUT_MS
    if args.print_too and args.write == "-":
        raise CliError("--print with -w -: the packets' lines and the pcap stream would "
                       "share standard output; write a file (-w FILE --print)", status=2)
    if args.print_too and args.write and args.workers > 1:
        raise CliError("--print with -w is not available with --workers; print the file "
                       "afterwards (ringcap -r FILE)", status=2)


def run(args) -> int:
    check_tcpdump_modes(args)
    if args.list_interfaces:
        return list_interfaces(sys.stdout)
    if args.write == "":
        # (a script's `-w "$OUT"` with OUT unset printed the packets instead)
        raise CliError("-w needs a file name (or - for standard output), got an empty one",
                       status=2)
    check_file_options(args)
    if args.interfaces:
        names = resolve_numbers(interface_list(args.interfaces))
    else:
        names = [default_interface()]       # tcpdump's choice: the first of -D
    if args.list_linktypes:
        for name in names:
            list_linktypes(name, sys.stderr)        # (where tcpdump -L writes it)
        return 0
    linktype = linktype_option(args.linktype, names)
    iface = names[0] if len(names) == 1 else names      # a list: one ring per interface
    if args.workers > 1:
        from .pool import check_pool_arguments
        check_pool_arguments(args, names)
    snaplen = args.snaplen or DEFAULT_SNAPLEN       # (-s checked as parsed: at most 262144)
    filter_text = filter_expression(args)
    if filter_text is not None:
        compile_filter(filter_text, snaplen=snaplen)   # a bad filter: libpcap's message, now
    label = None                # the interface(s) the pcapng files describe first
    if iface is not None:
        label = {}
        for name in names:
            try:
                label[_ring.interface_index(name)] = name
            except OSError:
                raise CliError(f"no interface named {name!r} here; see the list with "
                               f"`ringcap -D`") from None
            if is_down(name):
                # tcpdump refuses it too ("That device is not up"): no file is made
                raise CliError(f"{name} is down; bring it up (`ip link set {name} up`) "
                               f"and run again")
    linktypes = interface_linktypes(dict(label) if label else {0: None})
    if linktype is not None:
        check_linktype_offered(linktype, args.linktype,
                               (((label or {}).get(index), kind)
                                for index, kind in linktypes.items()))
        linktypes = dict.fromkeys(linktypes, linktype)
    if linktype is not None:
        print(f"ringcap: data link type {linktype_name(linktype)}", file=sys.stderr)
    check_decodable(args, linktypes, label)
    if {LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2} & set(linktypes.values()) \
            and snaplen < COOKED_MIN_SNAPLEN:
        snaplen = COOKED_MIN_SNAPLEN
    if len(label or {}) == 1:
        label = next(iter(label.items()))
    # the interface column of datasets: each packet's ifindex named (`any`: every interface)
    args.interface_names = dict([label]) if isinstance(label, tuple) else \
        label or dict(_socket.if_nameindex())

    user = check_user(args) if args.owner is not None else None

    # From here on SIGINT, SIGTERM and SIGHUP only ask the capture to stop: a
    # second Ctrl-C while the files are finished (or the ring unmapped), or,
    # run as a program, after that while it exits, is ignored.
    with StopSignals(ignore_after=getattr(args, "as_program", False)) as stop:
        return _capture(args, stop, iface, names, label, snaplen, filter_text, linktypes,
                        user)


def check_user(args):
    """-Z USER: who to become, checked before anything is opened (None: stay as we are)."""
    user = lookup_user(args.owner)
    if args.workers > 1:
        raise CliError("-Z is not available with --workers: the capture processes would keep "
                       "running as root; capture with one process to run as "
                       f"{user.name}", status=2)
    if os.geteuid() != 0:
        if user.uid != os.geteuid():
            raise CliError(f"-Z {user.name}: becoming another user needs root (ringcap runs as "
                           f"uid {os.geteuid()}); run it as root or leave -Z out")
        return None                     # already that user: nothing to give up
    check_later_files(user, args, is_dataset(args))
    return user


def _missing_folders(path: str) -> list[str]:
    """The folders a dataset root at ``path`` will create, outermost first."""
    missing = []
    folder = os.path.abspath(path)
    while not os.path.isdir(folder) and os.path.dirname(folder) != folder:
        missing.insert(0, folder)
        folder = os.path.dirname(folder)
    return missing


def _warm_up_dataset(args) -> None:
    """-Z with a dataset: write a few packets into a throwaway dataset first.

    Writing Parquet imports much of pyarrow (and pandas) on first use; after
    the drop the user may not be allowed to read the installation (a venv
    under /root), so those imports must happen while ringcap is still root.
    """
    tcp = bytes.fromhex("02000000000202000000000108004500002800014000400600000a0000010a000002"
                        "9c4001bb000000010000000050022000000000000000")
    udp6 = bytes.fromhex("020000000002020000000001" "86dd6000000000101140" + "20010db8" + "00" * 11
                         + "01" + "20010db8" + "00" * 11 + "02" + "9c410035001000000000000000000000")
    import tempfile

    from ..batch import Batch
    now = time.time_ns()
    batch = Batch.from_packets([tcp, udp6, tcp], ts=[now, now + 1000, now + 2000])
    with tempfile.TemporaryDirectory(prefix="ringcap-warm-up-") as folder:
        sink = open_dataset_sink(args, os.path.join(folder, "dataset"),
                                 rotate_seconds=args.rotate_seconds)
        try:
            sink.write(batch)
        finally:
            sink.close()


def block_timeout_for(args, sink, names) -> int:
    """The ring's block timeout: the one given (--block-timeout,
    --immediate-mode), else FILE_BLOCK_TIMEOUT_MS when the packets go as pcap
    records straight from one interface's ring into one file (nobody reads
    them as they come: the kernel's part-filled blocks would only cost
    wake-ups), else DEFAULT_BLOCK_TIMEOUT_MS.  -U, -w -, a FIFO or device
    (-w /dev/stdout), pcapng, rotation, --print and -Q out keep the short one."""
    if getattr(args, "block_timeout_given", True):
        return args.block_timeout
    if (isinstance(sink, PcapSink) and sink.format == "pcap" and not sink.stream
            and not sink.rotation.active and len(names) == 1 and not args.packet_buffered
            and not args.print_too and args.direction != "out" and _regular_file(args.write)):
        return FILE_BLOCK_TIMEOUT_MS
    return DEFAULT_BLOCK_TIMEOUT_MS


def _regular_file(path) -> bool:
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True         # not there yet (--hidden-until-complete): made a regular file


def _makes_batches(args, sink, ring) -> bool:
    """Whether :func:`pump` will read batches (numpy) rather than have the
    sink write pcap records straight from the ring's blocks."""
    ring_writer = getattr(sink, "ring_writer", None)
    return args.direction == "out" or args.print_too or ring_writer is None \
        or ring_writer(ring) is None


class PrintAlongside:
    """--print with -w: the packets written are printed too (tcpdump --print).

    It is the pump's ``select``, which sees each batch before the sink does
    (``keep``, -Q out's mask, first) and so prints it; -c, which the pump
    applies after ``select``, is applied here the same way."""

    def __init__(self, args, keep=None) -> None:
        from .printer import PacketPrinter
        self.printer = PacketPrinter(sys.stdout, **printer_options(args))
        self.flush_each = args.line_buffered or sys.stdout.isatty()
        self.keep = keep
        self.left = args.count
        self.broken = False       # the printed lines' reader has gone

    def __call__(self, batch):
        mask = self.keep(batch) if self.keep is not None else None
        shown = batch if mask is None else batch[mask]
        if self.left is not None:
            shown = shown[:self.left]
            self.left -= len(shown)
        try:
            self.printer.print_batch(shown)
            if self.flush_each:
                self.printer.flush()
        except BrokenPipeError:
            self.broken = True
            raise
        return mask


def _import_batch_modules() -> None:
    """numpy and the batch modules, imported before "listening on".

    They load lazily (a plain pcap file never needs them).  A capture that
    makes batches (pcapng, rotation, -Q out, ...) would otherwise load them
    with its first batch: a 60-150 ms stall of the drain just as the traffic
    starts, which a small ring (-B) pays in kernel drops.  With -Z they are
    needed now anyway: after the drop the user may not be allowed to read the
    installation (a venv under /root), as for :func:`_warm_up_dataset`.
    """
    from .. import ringview  # noqa: F401  (numpy and ringcap.batch with it)


def _capture(args, stop, iface, names, label, snaplen, filter_text, linktypes,
             user=None) -> int:
    existed = args.write not in (None, "-") and os.path.lexists(args.write)
    # a dataset's root, made as root when the sink opens: USER makes the partitions in it
    made_for_user = _missing_folders(args.write) if user is not None and is_dataset(args) else []
    if user is not None and is_dataset(args) and args.workers <= 1:
        _warm_up_dataset(args)
    if args.workers > 1:
        return run_workers(args, iface, snaplen, filter_text, label, linktypes, stop)
    if args.write:
        sink = open_file_sink(args, snaplen, label, linktypes)
    else:
        sink = open_printer(args, sys.stdout)
    args.block_timeout = block_timeout_for(args, sink, names)
    try:
        ring = open_ring(args, iface, snaplen, filter_text)
    except BaseException:
        sink.close()
        if args.write not in (None, "-") and not existed:
            for path in sink.files:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        raise
    with ring:
        if user is not None or _makes_batches(args, sink, ring):
            _import_batch_modules()
        if user is not None:
            try:
                for folder in made_for_user:
                    os.chown(folder, user.uid, user.gid)
                drop_privileges(user)
            except (CliError, OSError):
                sink.close()
                raise
            print(f"ringcap: dropped privileges to {user}", file=sys.stderr)
        where = ",".join(names) if iface is not None else "any"
        print(f"ringcap: listening on {where}, {describe_linktypes(linktypes, label)}, "
              f"snapshot length {snaplen} bytes, ring {ring.block_count} x "
              f"{ring.block_size // 1024} KiB", file=sys.stderr, flush=True)
        show = args.status if args.status is not None else (
            sys.stderr.isatty() and not args.quiet and
            (args.write not in (None, "-") and not args.print_too or not sys.stdout.isatty()))
        status = StatusLine(sys.stderr) if show else None
        select = None
        if args.direction == "out":
            def select(batch):
                return batch.pkttype == PACKET_OUTGOING
        if args.print_too and args.write:
            select = PrintAlongside(args, select)
        error = None
        try:
            result = pump(ring, sink, count=args.count, duration=args.duration, stop=stop,
                          select=select, progress=status, reuse_batch=True)
        except BrokenPipeError as exc:
            error, result = exc, exc.pump_result
        except OSError as exc:
            if not hasattr(exc, "pump_result"):
                raise
            error, result = exc, exc.pump_result
        if isinstance(select, PrintAlongside):
            try:
                select.printer.flush()
            except BrokenPipeError as exc:
                error = error or exc
                select.broken = True
        if status is not None:
            status.clear()
    if isinstance(error, BrokenPipeError):
        silence_stdout()
        # printed lines whose reader has gone (`| head -1`): tcpdump's `Unable to
        # write output: Broken pipe`, status 14, after the summary as for -r; a
        # pcap stream (-w -, a FIFO) into a closed pipe ends quietly, as tcpdump's
        printed = type(sink) is PrinterSink or getattr(select, "broken", False)
        error = output_error(error) if printed else None
    elif error is not None and error is getattr(sink, "output_error", None):
        error = output_error(error)   # the lines on a full disk: tcpdump's words, as -r
    if result.stopped_by == "files":
        print(f"ringcap: maximum file limit reached: {args.file_count}", file=sys.stderr)
    print_summary(result, sys.stderr)
    report_post_rotate(args, sink, sys.stderr)
    if isinstance(error, CliError):
        raise error
    if error is not None:
        raise CliError(f"capture stopped: {describe_error(error)}")
    return 0
