"""The `ringcap` command line: one module per subcommand, shared option parsing.

``ringcap COMMAND ...`` runs ``ringcap.cli.<module>.run(args)`` after that
module's ``add_arguments(parser)`` built its options.  Without a command,
tcpdump's habits apply: ``ringcap -i eth0 ...`` captures and ``ringcap -r
FILE ...`` reads a file.  Errors print one line (``ringcap: ...``) and exit
non-zero; ``--debug`` shows the traceback instead.
"""
from __future__ import annotations

import _signal              # (signal would import enum at every start)
import atexit
import contextlib
import gc
import importlib
import os
import sys
import warnings

from ..pcapfile import PcapTruncatedWarning
from .options import (KILLED_BY_SIGPIPE, CliError, Parser, add_common_options,
                      attach_signed_values, describe_error, print_version, silence_stdout)

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    from typing import NoReturn

# command -> (module in ringcap.cli, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "capture": ("capture", "capture packets to files, stdout or the terminal (tcpdump flags)"),
    "read": ("read", "print or filter the packets of a pcap/pcapng file (tcpdump -r)"),
    "fields": ("fields", "print application fields of a file's packets (tshark -T fields)"),
    "demo": ("demo", "capture self-made traffic in a private namespace (root)"),
    "stats": ("stats", "capinfos and Wireshark statistics of capture files (--json)"),
    "top": ("top", "a live table of the busiest flows, hosts and protocols"),
    "plot": ("plot", "plot rates, protocol mix and top conversations of a file to PNG"),
    "replay": ("replay", "send a capture file out of an interface (like tcpreplay)"),
    "convert": ("convert", "a pcap/pcapng file into a Parquet dataset, or pcap <-> pcapng"),
    "names": ("names", "export the names of codes (ip_proto, tcp_flags...) as SQL lookup tables"),
}

# Short options of tcpdump that take no value: a group such as "-nnr" ending
# in r means "read".
_FLAG_LETTERS = set("nvexXAqlStUpKOdDL#NIJ")


def _wants_read(argv: list[str]) -> bool:
    """True for tcpdump-style ``ringcap [flags] -r FILE ...``."""
    for arg in argv:
        if arg == "--":
            return False
        if arg in ("-r", "--read", "-V") or arg.startswith("--read="):
            return True
        if arg.startswith("-") and not arg.startswith("--") and len(arg) > 2:
            letters = arg[1:]
            for letter in "rV":
                if letter in letters:
                    before = letters[:letters.index(letter)]
                    if all(ch in _FLAG_LETTERS for ch in before):
                        return True
    return False


def _pick_command(argv: list[str]) -> tuple[str, list[str]]:
    if argv and argv[0] in COMMANDS:
        return argv[0], argv[1:]
    if _wants_read(argv):
        return "read", argv
    return "capture", argv


def _load(command: str):
    module_name, _ = COMMANDS[command]
    try:
        return importlib.import_module(f"{__name__}.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name == f"{__name__}.{module_name}":
            raise CliError(f"`ringcap {command}` is not available in this version of ringcap")
        raise


def build_parser(command: str, module) -> argparse.ArgumentParser:
    _, help_text = COMMANDS[command]
    parser = Parser(
        prog=f"ringcap {command}" if command != "capture" else "ringcap [capture]",
        description=help_text, add_help=False,
        epilog="Commands: " + ", ".join(COMMANDS) + ". See `ringcap COMMAND --help`.")
    add_common_options(parser)
    module.add_arguments(parser)
    return parser


def program() -> NoReturn:
    """The ``ringcap`` program (``python -m ringcap``): :func:`main`, then exit.

    Once the output is flushed and the exit handlers (:mod:`atexit`) have run,
    the process leaves with ``os._exit``: the interpreter's teardown, which
    frees every module and object one by one (about 15 ms of CPU with numpy
    loaded, more than the capture of 100,000 packets costs), does nothing
    for a command that has finished.  The usual exit is kept when other
    threads still run (it waits for them), and under a developer's ``-X dev``
    or ``-W`` (unclosed resources are reported at teardown).
    """
    status = main()
    if status == KILLED_BY_SIGPIPE:
        # as capinfos (SIGPIPE's default action): the shell sees 141
        _signal.signal(_signal.SIGPIPE, _signal.SIG_DFL)
        os.kill(os.getpid(), _signal.SIGPIPE)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BrokenPipeError:
            if stream is sys.stdout:
                silence_stdout()
        except (OSError, ValueError, AttributeError):
            pass
    # (threading is not imported to ask: without it, no thread the exit waits for
    # was started; importing it costs 2.5 M instructions)
    threading = sys.modules.get("threading")
    if (threading is not None and threading.active_count() > 1) \
            or sys.flags.dev_mode or sys.warnoptions:
        sys.exit(status)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()          # what the exit handlers wrote
    os._exit(status)


def main(argv: list[str] | None = None) -> int:
    """Run one command; warnings become ``ringcap: warning: ...`` lines on stderr.

    A capture file cut short (:class:`~ringcap.pcapfile.PcapTruncatedWarning`)
    is reported after the packets before it were used, and the exit status is
    1, as tcpdump does for a "truncated dump file".
    """
    # The filters in force stay: a library's DeprecationWarning is not shown to users.
    with warnings.catch_warnings(record=True) as caught:
        status = _main(argv)
    for warning in caught:
        message = str(warning.message).strip().splitlines()[0]
        print(f"ringcap: warning: {message}", file=sys.stderr)
        if issubclass(warning.category, PcapTruncatedWarning):
            status = status or 1
    return status


def _main(argv: list[str] | None) -> int:
    as_program = argv is None          # the process exits after this: see capture
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv
    if argv in ([], ["-h"], ["--help"]):
        argv = ["capture", "--help"]         # bare `ringcap` explains itself
    if "--version" in argv:
        print_version()
        return 0
    module = None
    try:
        command, rest = _pick_command(argv)
        if as_program:
            # Loading a command (numpy and the modules on it) makes objects
            # that live as long as the process, not garbage: no collections
            # while they are made (`python -m ringcap` stops them from its
            # start: 15 M instructions, ~3 ms, of `ringcap -r`)
            gc.disable()
        module = _load(command)
        if as_program:
            # what is imported now lives as long as the process: the garbage
            # collector need not walk it again on every collection while capturing
            gc.freeze()
            gc.enable()
        parser = build_parser(command, module)
        if command in ("capture", "read"):
            rest = attach_signed_values(rest)
        args = parser.parse_intermixed_args(rest)   # options after the expression, as GNU getopt
        args.command = command
        args.as_program = as_program
        return int(module.run(args) or 0)
    except CliError as exc:
        if debug:
            raise
        print(f"ringcap: {exc}", file=sys.stderr)
        return exc.status
    except KeyboardInterrupt:
        if debug:
            raise
        return 130
    except BrokenPipeError:
        # the reader of standard output has gone (`| head -1`): each command
        # ends as the tool it imitates does (fields: tshark's 2; stats:
        # capinfos's death by SIGPIPE), the others quietly with 0
        silence_stdout()
        return getattr(module, "BROKEN_PIPE_STATUS", 0)
    except (OSError, ValueError, TypeError, RuntimeError, ImportError) as exc:
        if debug:
            raise
        print(f"ringcap: {describe_error(exc)}", file=sys.stderr)
        return 1
