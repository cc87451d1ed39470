"""The options of rotated output files (-C, -G, -W, -z, ...), shared by the
capture (`ringcap -i IF -w F`) and the split of a file (`ringcap -r IN -w F`).

Only argparse and the checks load here: the sinks (rotation, the -z runner,
:mod:`ringcap.cli.rotated`) are imported when a command opens its output,
so reading a file without them starts as fast as before.
"""
from __future__ import annotations

import os

from .datasets import is_dataset
from .options import (CliError, parse_count, parse_file_count, parse_rotation_seconds,
                      parse_size, size_type, tcpdump_checked)


def parse_file_size(text: str) -> int:
    """``-C``: millions of bytes, as tcpdump, or a size with a suffix (100M)."""
    return parse_size(text, unit=1_000_000, what="file size (-C)")


def add_rotation_arguments(group) -> None:
    """-C, -G and -W, as tcpdump spells them."""
    group.add_argument("-C", dest="file_size", metavar="SIZE",
                       type=tcpdump_checked(parse_file_size, "invalid file size {}",
                                            "-C takes millions of bytes, or a size with a "
                                            "suffix k, M or G (e.g. 100M)"),
                       help="start a new file when the current one would pass SIZE "
                            "(millions of bytes, as tcpdump, or with a suffix: 100M)")
    group.add_argument("-G", dest="rotate_seconds", metavar="SECONDS",
                       type=tcpdump_checked(parse_rotation_seconds,
                                            "invalid number of seconds {}",
                                            "-G takes seconds, e.g. 30, 1.5, 500ms, 10m or 2h"),
                       help="start a new file every SECONDS (0: never); strftime patterns in FILE "
                            "(%%Y%%m%%d-%%H%%M%%S) name them")
    group.add_argument("-W", dest="file_count", metavar="N",
                       type=tcpdump_checked(parse_file_count,
                                            "invalid number of output files {}"),
                       help="with -C: a ring of N files, reused in turn; with -G: stop after "
                            "N files (alone: no effect, as tcpdump)")


def add_file_arguments(own) -> None:
    """ringcap's own: --post-rotate-jobs and --hidden-until-complete."""
    own.add_argument("--post-rotate-jobs", metavar="N", type=size_type(
                     parse_count, what="post-rotate jobs"), help="-z commands running at once "
                     "(default: the number of CPUs); the next files wait their turn")
    own.add_argument("--hidden-until-complete", dest="hidden_until_complete",
                     action="store_true",
                     help="write each file as .NAME.PID.inprogress beside NAME and rename it "
                          "into place when it is complete, so that readers (Spark streaming, "
                          "globs) never see a partial file; a killed capture leaves only "
                          "complete files and hidden ones")


def check_file_options(args) -> None:
    """The combinations refused before anything is opened (status 2).

    ``-W N`` without ``-C`` or ``-G`` (or with ``-G 0``) is dropped: tcpdump
    4.99 takes it and writes the one file ``-w`` names."""
    if (args.file_size or args.rotate_seconds or args.file_count
            or args.post_rotate) and not args.write:
        raise CliError("-C, -G, -W and -z apply to files: add -w FILE", status=2)
    if args.hidden_until_complete and (not args.write or is_dataset(args)):
        raise CliError("--hidden-until-complete applies to pcap/pcapng files: add -w FILE "
                       "(datasets are always written so)", status=2)
    if args.post_rotate_jobs and not args.post_rotate:
        raise CliError("--post-rotate-jobs limits the -z commands: add -z CMD", status=2)
    if args.file_count and not (args.file_size or args.rotate_seconds) and not is_dataset(args):
        args.file_count = None


def check_output_folder(target: str, args) -> None:
    """-w FILE's folder must exist (checked before anything is opened), unless
    -G's strftime patterns name it (``-w '%Y-%m-%d/%H.pcap'``, as tcpdump
    takes it): that folder is known only when a file is opened, which then
    says what was wrong."""
    folder = os.path.dirname(os.path.abspath(target)) or "."
    if args.rotate_seconds and "%" in folder:
        return
    if not os.path.isdir(folder):
        raise CliError(f"cannot write to {target}: the folder {folder} does not exist")


def open_failed(exc: OSError, target) -> CliError:
    """The error for a -w output that could not be opened: a failed first
    write names the file and says what failed itself; otherwise the file
    named is the one made (-G: the template's strftime filled in)."""
    text = str(exc.strerror or exc)
    if text.startswith("writing to "):
        return CliError(text)
    return CliError(f"cannot write to {exc.filename if exc.filename is not None else target}: "
                    f"{text}")


def report_post_rotate(args, sink, stream) -> None:
    """After the summary: the -z files that waited for a slot, and the commands that failed."""
    runner = getattr(sink, "_on_file_done", None)
    if runner is None or not hasattr(runner, "failures"):
        return
    try:
        if runner.waited:
            limit = runner.max_running
            print(f"ringcap: -z: {runner.waited} of {runner.started} files waited for a free "
                  f"slot (at most {limit} command{'s' if limit != 1 else ''} at once)",
                  file=stream)
        for path, code in runner.failures:
            print(f"ringcap: -z {args.post_rotate} {path} exited with status {code}",
                  file=stream)
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------------- -r
def add_split_arguments(parser) -> None:
    """-C, -G, -W and the file options for `ringcap -r IN -w OUT` (-z is readflags')."""
    group = parser.add_argument_group(
        "splitting the -w file, by the capture's rules (see `ringcap capture`)")
    add_rotation_arguments(group)
    add_file_arguments(group)


def splitting(args) -> bool:
    """Whether ``-w`` is cut into several files (``-C`` or ``-G``)."""
    return bool(args.file_size or args.rotate_seconds)


def check_split(args) -> None:
    """-r's file options, checked as the capture checks them, before anything is opened.

    tcpdump runs -z only on the files -C/-G finish: without them -r ignores it."""
    if not splitting(args) and args.post_rotate is not None:
        args.post_rotate = args.post_rotate_jobs = None
    check_file_options(args)
    if args.write == "-" and splitting(args):
        raise CliError("-C, -G and -W need a file name, not -w -")
    if args.write == "-" and args.hidden_until_complete:
        raise CliError("--hidden-until-complete renames files into place: give -w a file "
                       "name, not -", status=2)
