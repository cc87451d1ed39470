"""Option parsing shared by the commands: sizes, durations, interfaces, and
the tcpdump flag set that ``capture`` and ``read`` both take.

Values are checked as they are parsed, so a bad ``-C 10X`` or ``-G -1``
stops the command with one line before anything is opened.
"""
from __future__ import annotations

import argparse
import math
import os
import re
import sys

from .. import __version__


class CliError(Exception):
    """A problem to report as one line, ``ringcap: MESSAGE``, with exit ``status``."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit status 2."""

    def error(self, message: str):
        raise CliError(f"{message} (see `{self.prog} --help`)", status=2)

    def _get_formatter(self):
        # argparse's formatter asks shutil for the terminal's width (shutil
        # imports bz2, lzma and zlib: ~4 ms of every start, for each
        # add_argument); the same answer, as shutil.get_terminal_size gives it
        try:
            columns = int(os.environ.get("COLUMNS", 0))
        except ValueError:
            columns = 0
        if columns <= 0:
            try:
                columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
            except (AttributeError, ValueError, OSError):
                columns = 0
        return self.formatter_class(prog=self.prog, width=(columns or 80) - 2)


# ---------------------------------------------------------------------- values
# (patterns, compiled by re on first use: compiling both costs every command
# 3-4 M instructions, most of which parse no size or duration)
_SIZE = r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([kKmMgGtT]?)(i?[bB])?\s*$"
_BINARY = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_size(text: str, unit: int = 1, what: str = "size") -> int:
    """A byte count from ``text``: a number in ``unit`` bytes, or with a binary
    suffix k, M, G, T (optionally followed by ``iB``/``B``): ``10M`` is
    10 MiB whatever ``unit`` is.  tcpdump's ``-C 10`` is ``unit=1_000_000``."""
    match = re.match(_SIZE, str(text))
    if not match:
        raise ValueError(f"bad {what} {text!r}: give a number, optionally with a suffix "
                         "k, M or G (e.g. 100M)")
    number, suffix, _ = match.groups()
    scale = _BINARY[suffix.lower()] if suffix else unit
    value = float(number) * scale
    if not math.isfinite(value) or value < 1 or value >= 1 << 62:
        raise ValueError(f"bad {what} {text!r}: must be at least 1 byte and less than 4 EiB")
    return int(value)


_SECONDS = r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|min|h|d)?\s*$"
_TIME_UNITS = {None: 1.0, "s": 1.0, "ms": 1e-3, "m": 60.0, "min": 60.0, "h": 3600.0, "d": 86400.0}


def parse_seconds(text: str, what: str = "duration") -> float:
    """Positive finite seconds from ``30``, ``1.5``, ``500ms``, ``10m``, ``2h``."""
    match = re.match(_SECONDS, str(text))
    if not match:
        raise ValueError(f"bad {what} {text!r}: give seconds, e.g. 30, 1.5, 500ms, 10m or 2h")
    value = float(match.group(1)) * _TIME_UNITS[match.group(2)]
    if not (math.isfinite(value) and 0 < value < 1e9):
        raise ValueError(f"bad {what} {text!r}: must be more than 0 and finite")
    return value


def parse_count(text: str, what: str = "count") -> int:
    try:
        value = int(str(text).strip(), 10)
    except ValueError:
        raise ValueError(f"bad {what} {text!r}: give a whole number") from None
    if value <= 0:
        raise ValueError(f"bad {what} {text!r}: must be positive")
    if value >= 1 << 62:
        raise ValueError(f"bad {what} {text!r}: too large (at most {(1 << 62) - 1})")
    return value


def _argtype(parse, *args, **kwargs):
    def convert(text):
        try:
            return parse(text, *args, **kwargs)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = parse.__name__.replace("parse_", "")
    return convert


size_type = _argtype          # size_type(parse_size, unit, what)


def tcpdump_checked(parse, words: str, hint: str = ""):
    """The type of an option whose value tcpdump checks itself: a value
    ``parse`` refuses (ValueError) stops the command at once, in tcpdump's
    words (``words`` with the value for ``{}``) and with its status 1
    (``ringcap: invalid packet count abc``), then
    ``; hint`` where ringcap takes more than tcpdump.  (A CliError passes
    through argparse, which turns only ValueError and TypeError into its own
    usage error, status 2.)"""
    def convert(text):
        try:
            return parse(text)
        except ValueError:
            raise CliError(words.replace("{}", str(text)) + (f"; {hint}" if hint else ""),
                           status=1) from None
    convert.__name__ = parse.__name__.replace("parse_", "")
    return convert


def c_int(value: int) -> int:
    """``value`` as a C ``int`` holds it on this machine (two's complement, wrapped)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def atoi(text: str) -> int:
    """C's ``atoi`` as glibc's (``strtol`` base 10 into an ``int``): leading
    white space and a sign, then the digits up to the first other character;
    none: 0.  tcpdump reads ``-c``, ``-G``, ``-W`` and ``-B`` so."""
    match = re.match(r"[ \t\n\v\f\r]*([+-]?[0-9]+)", str(text))
    number = int(match.group(1)) if match else 0
    return c_int(max(-(1 << 63), min(number, (1 << 63) - 1)))      # strtol's range, then int


def parse_packet_count(text: str) -> int:
    """tcpdump's ``-c``: ``atoi``, more than 0 (``-c 10x`` is 10, as there)."""
    count = atoi(text)
    if count <= 0:
        raise ValueError(text)
    return count


def parse_file_count(text: str) -> int:
    """tcpdump's ``-W``: ``atoi``, more than 0."""
    return parse_packet_count(text)


def parse_rotation_seconds(text: str) -> float | None:
    """``-G``: ringcap's durations (``30``, ``1.5``, ``500ms``, ``10m``), else
    tcpdump's ``atoi``: below 0 is refused, 0 (``-G 0``, and ``-G abc`` as
    tcpdump reads it) is no rotation by time (None)."""
    try:
        return parse_seconds(text)
    except ValueError:
        seconds = atoi(text)
        if seconds < 0:
            raise
        return seconds or None


def parse_snaplen(text: str) -> int:
    """tcpdump's ``-s``: a byte count (suffixes as :func:`parse_size`) up to
    262144, 0 for the default."""
    if str(text).strip() == "0":
        return 0
    snaplen = parse_size(text, what="snaplen (-s)")
    if snaplen > MAXIMUM_SNAPLEN:
        raise ValueError(f"bad snaplen (-s) {text!r}: at most {MAXIMUM_SNAPLEN}")
    return snaplen


MAXIMUM_SNAPLEN = 262144          # tcpdump's, for -s
SNAPLEN_WORDS = "invalid snaplen {} (must be >= 0 and <= %d)" % MAXIMUM_SNAPLEN


def interface_list(values: list[str] | None) -> list[str | None]:
    """``-i`` values (repeatable, comma-separated) as names; ``any`` -> None
    (all interfaces).  No ``-i`` at all also means all interfaces."""
    names: list[str | None] = []
    for value in values or []:
        for name in value.split(","):
            name = name.strip()
            if not name:
                raise ValueError(f"bad interface list {value!r}: an empty name")
            if name == "any":
                names.append(None)
            elif name not in names:
                names.append(name)
    if None in names and len(names) > 1:
        raise ValueError("-i any already captures on every interface; give it alone")
    return names or [None]


# ---------------------------------------------------------------------- flag sets
def add_common_options(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("general")
    group.add_argument("-h", "--help", action="help", help="show this help and exit")
    group.add_argument("--debug", action="store_true",
                       help="show the full traceback on errors")
    group.add_argument("--version", action="store_true",
                       help="print the versions of ringcap and libpcap and exit")


def add_packet_options(parser: argparse.ArgumentParser) -> None:
    """The tcpdump flags shared by ``capture`` and ``read``: count, filter,
    and how packets are printed."""
    group = parser.add_argument_group("packets (as in tcpdump)")
    group.add_argument("-c", dest="count", metavar="COUNT",
                       type=tcpdump_checked(parse_packet_count, "invalid packet count {}"),
                       help="stop after COUNT packets")
    group.add_argument("-F", dest="filter_file", metavar="FILE",
                       help="read the filter expression from FILE (a command-line "
                            "expression is then ignored, as in tcpdump)")
    group.add_argument("-n", dest="numeric", action="count", default=0,
                       help="numeric addresses (-nn: ports too); ringcap never looks names up "
                            "anyway")
    group.add_argument("-v", dest="verbose", action="count", default=0,
                       help="more detail per packet (-vv, -vvv: more still)")
    group.add_argument("-e", dest="link_header", action="store_true",
                       help="print the link-level header (MAC addresses, VLAN)")
    group.add_argument("-x", dest="hex", action="count", default=0,
                       help="print each packet's payload in hex (-xx: with the link header)")
    group.add_argument("-X", dest="hex_ascii", action="count", default=0,
                       help="print payload in hex and ASCII (-XX: with the link header)")
    group.add_argument("-A", dest="ascii", action="store_true",
                       help="print payload in ASCII")
    group.add_argument("-q", dest="quiet", action="store_true",
                       help="quieter: shorter packet lines, no status line")
    group.add_argument("-t", dest="timestamps", action="count", default=0,
                       help="timestamps: -t none, -tt epoch seconds, -ttt delta to previous, "
                            "-tttt date and time, -ttttt delta to first")
    group.add_argument("-S", "--absolute-tcp-sequence-numbers", dest="absolute_seq",
                       action="store_true",
                       help="print absolute TCP sequence numbers, not relative to each "
                            "conversation's first")
    group.add_argument("-#", "--number", dest="number", action="store_true",
                       help="start each line with the packet's number (1, 2, ...)")
    group.add_argument("-l", dest="line_buffered", action="store_true",
                       help="flush standard output after each line (default on a terminal)")
    group.add_argument("--time-stamp-precision", dest="precision", choices=("micro", "nano"),
                       default="micro",
                       help="timestamp precision printed and written to pcap files "
                            "(micro, as tcpdump, or nano)")
    group.add_argument("--micro", dest="precision", action="store_const", const="micro",
                       help="--time-stamp-precision micro")
    group.add_argument("--nano", dest="precision", action="store_const", const="nano",
                       help="--time-stamp-precision nano")
    group.add_argument("--count", dest="count_only", action="store_true",
                       help="print no packets; reading a file (-r), print how many matched "
                            "(`N packets`) on standard output, as tcpdump --count")
    group.add_argument("--print", dest="print_too", action="store_true",
                       help="print the packets also when writing them with -w")
    group.add_argument("-K", "--dont-verify-checksums", dest="no_checksums",
                       action="store_true",
                       help="with -v, do not check IP, TCP and UDP checksums (those a card "
                            "that offloads them leaves wrong in outgoing packets)")
    group.add_argument("expression", nargs="*", metavar="EXPRESSION",
                       help="a tcpdump filter expression (libpcap syntax)")


def payload_mode(args) -> str | None:
    """tcpdump's payload flag as a string for the printer: ``"x"``, ``"xx"``,
    ``"X"``, ``"XX"``, ``"A"`` or None."""
    if args.hex_ascii:
        return "XX" if args.hex_ascii > 1 else "X"
    if args.hex:
        return "xx" if args.hex > 1 else "x"
    if args.ascii:
        return "A"
    return None


def printer_options(args) -> dict:
    """Keyword arguments for :class:`ringcap.cli.printer.PacketPrinter`."""
    return dict(numeric=args.numeric, verbose=args.verbose, link_header=args.link_header,
                payload=payload_mode(args), quiet=args.quiet, timestamps=args.timestamps,
                nanosecond=args.precision == "nano", absolute_seq=args.absolute_seq,
                number=args.number, no_checksums=args.no_checksums)


def filter_expression(args) -> str | None:
    """The filter from ``-F FILE`` or the command line words (None: no filter)."""
    if args.filter_file:
        try:
            with open(args.filter_file, encoding="utf-8") as f:
                text = f.read()
        except OSError as exc:
            raise CliError(f"cannot read the filter file (-F) {args.filter_file}: "
                           f"{exc.strerror}") from None
        except UnicodeDecodeError:
            raise CliError(f"the filter file (-F) {args.filter_file} is not text") from None
        # tcpdump allows '#' comments in a filter file
        text = " ".join(line.split("#", 1)[0] for line in text.splitlines()).strip()
        if args.expression:
            print("ringcap: warning: -F given, so the expression on the command line is ignored",
                  file=sys.stderr)
        return text or None
    return " ".join(args.expression).strip() or None


# ---------------------------------------------------------------------- output
def print_version(stream=None) -> None:
    stream = stream or sys.stdout
    print(f"ringcap version {__version__}", file=stream)
    try:
        from ..libpcap import lib_version
        version = lib_version()
        if version is not None:
            print(version, file=stream)
    except (OSError, ImportError, AttributeError, RuntimeError):
        print("libpcap not found (needed only for filter expressions)", file=stream)
    print(f"Python {sys.version.split()[0]}", file=stream)


# tcpdump's options whose value is a number it checks itself: a value with a
# minus sign (`-G -5s`) is theirs to refuse, not another option
_NUMBER_OPTIONS = frozenset(("-c", "-C", "-G", "-W", "-s", "-B"))


def attach_signed_values(argv: list[str]) -> list[str]:
    """``-G -5s`` as ``-G-5s``: argparse took a value starting with ``-`` and
    a digit (other than a plain negative number) for an option and said
    "expected one argument"; tcpdump says ``invalid number of seconds -5s``."""
    out: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            out += argv[i:]
            break
        value = argv[i + 1] if i + 1 < len(argv) else ""
        if arg in _NUMBER_OPTIONS and len(value) > 1 and value[0] == "-" \
                and (value[1].isdigit() or value[1] == "."):
            out.append(arg + value)
            i += 2
        else:
            out.append(arg)
            i += 1
    return out


# A command's status when its output's reader has gone, where the tool it
# imitates is killed by SIGPIPE (capinfos): the shell's 128 + 13; `ringcap`
# (the program) then kills itself with the signal, as capinfos dies.
KILLED_BY_SIGPIPE = 141


def silence_stdout() -> None:
    """After a broken pipe: point stdout at /dev/null so the interpreter's
    final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


def require_stdout(instead: str = "") -> None:
    """Refuse a closed standard output (``>&-``: Python's ``sys.stdout`` is
    None) before a command writes there: tcpdump's words and status, not a
    traceback; ``instead``: the command's other place for its output."""
    if sys.stdout is None:
        raise CliError("Unable to write output: Bad file descriptor (standard output is "
                       f"closed); redirect it (> out.txt, > /dev/null){instead}", status=14)


def output_error(exc: OSError) -> CliError:
    """A failed write of the printed packets to standard output (a full disk,
    an I/O error; not a broken pipe): tcpdump's words and status."""
    return CliError(f"Unable to write output: {exc.strerror or describe_error(exc)}", status=14)


def describe_error(exc: BaseException) -> str:
    """One line for an exception: its message, or for an OSError without one
    the system's wording and the file name."""
    if isinstance(exc, OSError) and exc.errno is not None:
        if len(exc.args) > 1 and exc.filename is None:
            return str(exc.args[1]).splitlines()[0]      # ringcap's own message
        text = exc.strerror or os.strerror(exc.errno)
        return f"{exc.filename}: {text}" if exc.filename is not None else text
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
