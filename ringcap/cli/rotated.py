"""Rotated ``-w`` files: the ``-z`` runner, and `ringcap -r BIG -w PART -C/-G/-W` (a split).

tcpdump users cut a big capture so (``tcpdump -r big.pcap -w part -C 100``).
ringcap takes these options with ``-r`` by its capture's rules, not
tcpdump's: the ``-w`` sink is the capture's :class:`~ringcap.sinks.PcapSink`
with the same :class:`~ringcap.sinks.Rotation`, file names, ``-z`` runner
and hidden names, so the parts are the files a capture of those packets
would have written.  ``-C`` never lets a file pass SIZE (tcpdump starts the
next file only after passing it); ``-G`` cuts by the packets' timestamps
(tcpdump's wall clock would put a whole file read in a second into one
part), and its strftime patterns name each part by its first packet's time.
``-z`` runs on every finished part, the last one too.  SIGINT, SIGTERM and
SIGHUP stop the split as they stop a capture: the parts written are
finished, ``-z`` runs on them, the summary is printed and the status is 0.

Loaded only by a command that writes such files (printing a file needs none
of it): the options themselves are :mod:`ringcap.cli.fileoptions`'.
"""
from __future__ import annotations

import os
import sys
import time
import warnings

from .. import _ENVIRON_ADDED, pcapfile
from ..sinks.driving import StopSignals
from ..sinks.rotating import PostRotateCommand, Rotation
from .fileoptions import report_post_rotate, splitting
from .status import written_lines


def post_rotate_command(args) -> PostRotateCommand | None:
    """-z: the command runner, with its bound (--post-rotate-jobs)."""
    if not args.post_rotate:
        return None

    def on_limit(limit: int) -> None:
        running = "1 command is" if limit == 1 else f"{limit} commands are"
        print(f"ringcap: -z: {running} running, the limit (--post-rotate-jobs); "
              f"the next files wait their turn, none is skipped", file=sys.stderr, flush=True)

    # the user's environment: without what the command line set for itself
    env = {name: value for name, value in os.environ.items() if name not in _ENVIRON_ADDED}
    return PostRotateCommand(args.post_rotate, max_running=args.post_rotate_jobs,
                             on_limit=on_limit, env=env)


def first_packet_time(reader) -> int:
    """The timestamp (ns) of the first packet of ``reader``'s file, read by a
    second reader of the same open file; now if it holds none.  (The reader,
    and numpy with it, is loaded here: a capture to a file never needs them.)"""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")     # (a cut file: the main reader says so)
            with pcapfile.open_pcap(f"/proc/self/fd/{reader._fd}", batch_packets=1) as peek:
                batch = peek.read(1)
                if len(batch):
                    return int(batch.ts[0])
    except (OSError, ValueError, pcapfile.PcapFormatError):
        pass
    return time.time_ns()


class SplitOutput:
    """-r's ``-w`` by the capture's rules: made before the first file is read,
    it turns SIGINT, SIGTERM and SIGHUP into a stop request (:attr:`stopped`,
    seen at the end of a batch); :meth:`sink_options` are the rotation's
    keywords for the sink; :meth:`finish` says what the capture says at its end."""

    def __init__(self, args) -> None:
        self.args = args
        self._signals = StopSignals(ignore_after=getattr(args, "as_program", False)).__enter__()

    @property
    def stopped(self) -> bool:
        return self._signals.requested

    def sink_options(self, reader) -> dict:
        """Keywords for the ``-w`` :class:`~ringcap.sinks.PcapSink`."""
        args = self.args
        options = {"atomic": True} if args.hidden_until_complete else {}
        if not splitting(args):
            return options
        options["rotation"] = Rotation(max_bytes=args.file_size, seconds=args.rotate_seconds,
                                       max_files=args.file_count)
        options["on_file_done"] = post_rotate_command(args)
        if args.rotate_seconds:
            # the first part is opened before the first packet is read: name it by
            # that packet's time (a capture names it by the clock, which is then)
            first = first_packet_time(reader)
            options["clock"] = lambda: first
        return options

    def finish(self, sink) -> None:
        """After ``N packets read``: the file limit, the packets in the files,
        the files, the -z commands; then the signals are given back."""
        self._signals.__exit__(None, None, None)
        if sink is None:
            return
        summary = sink.close()          # (closed already: its summary)
        lines = []
        if sink.done:
            lines.append(f"ringcap: maximum file limit reached: {self.args.file_count}")
        lines.append(f"{summary.packets - summary.lost} packets written")
        if summary.refused:
            lines.append(f"{summary.refused} packets not written after the file limit (-W)")
        try:
            print("\n".join(lines + written_lines(summary)), file=sys.stderr, flush=True)
        except (OSError, ValueError):
            pass
        report_post_rotate(self.args, sink, sys.stderr)
