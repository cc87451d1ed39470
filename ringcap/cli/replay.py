"""`ringcap replay FILE -i IFACE`: send a capture file out of an interface, like tcpreplay.

Pacing: the file's own timing (``--speed X`` scales it), ``--pps N``,
``--mbps N`` or ``--topspeed``; ``--loop N`` repeats the file (0: until
Ctrl-C).  Ctrl-C, SIGTERM and SIGHUP stop after the packets in flight and
still print the summary (exit 0 on Ctrl-C, as tcpreplay).
"""
from __future__ import annotations

import os
import signal
import sys

from ..linktypes import linktype_description
from ..pcapfile import open_pcap
from ..sinks.driving import StopSignals
from .options import CliError, parse_seconds, size_type
from ..replay import Replayer


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"bad number {text!r}") from None
    if not (value > 0 and value < float("inf")):
        raise ValueError(f"bad number {text!r}: must be positive and finite")
    return value


def _loop_count(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise ValueError(f"bad loop count {text!r}: give a whole number (0: forever)") from None
    if value < 0:
        raise ValueError(f"bad loop count {text!r}: 0 (forever) or more")
    return value


def add_arguments(parser) -> None:
    parser.add_argument("file", metavar="FILE", help="pcap or pcapng file to send")
    parser.add_argument("-i", "--intf1", dest="interface", required=True, metavar="IFACE",
                        help="interface to send on (tcpreplay's -i)")
    pace = parser.add_mutually_exclusive_group()
    pace.add_argument("-x", "--multiplier", "--speed", dest="speed", metavar="X",
                      type=size_type(_positive_float),
                      help="the file's timing, X times faster (1: as captured)")
    pace.add_argument("-p", "--pps", dest="pps", metavar="N", type=size_type(_positive_float),
                      help="packets per second")
    pace.add_argument("-M", "--mbps", dest="mbps", metavar="N", type=size_type(_positive_float),
                      help="megabits per second")
    pace.add_argument("-t", "--topspeed", dest="topspeed", action="store_true",
                      help="as fast as the interface takes them")
    parser.add_argument("-l", "--loop", dest="loop", metavar="N", type=size_type(_loop_count),
                        default=1, help="send the file N times (0: until interrupted)")
    parser.add_argument("--duration", metavar="SECONDS",
                        type=size_type(parse_seconds, what="duration"),
                        help="stop after SECONDS")


def _link_type_warning(path: str, iface: str, replayer: Replayer) -> str | None:
    """A warning when the file's (first interface's) link type is not one the
    interface sends: its packets would all be counted failed, with no reason given."""
    if path == "-" or not os.path.isfile(path):
        return None             # (a pipe is read once, by the replay)
    try:
        with open_pcap(path) as reader:
            linktype = reader.linktype
    except (OSError, ValueError):
        return None             # the replay says what is wrong, in its own words
    if linktype is None or linktype in replayer.linktypes:
        return None
    return (f"ringcap: warning: {path} has link type {linktype_description(linktype)} and "
            f"{iface} sends {linktype_description(replayer.linktype)}: its packets are "
            f"counted as failed, not sent")


def run(args) -> int:
    try:
        replayer = Replayer(args.interface)
    except OSError as exc:
        if exc.errno == 19:      # ENODEV
            raise CliError(f"no interface {args.interface!r}; `ringcap -D` lists them") from None
        raise
    warning = _link_type_warning(args.file, args.interface, replayer)
    if warning:
        print(warning, file=sys.stderr, flush=True)
    with replayer, StopSignals(on_signal=lambda signum: replayer.stop()) as stop:
        result = replayer.replay_file(args.file, speed=args.speed, pps=args.pps,
                                      mbps=args.mbps, topspeed=args.topspeed,
                                      loop=args.loop, duration=args.duration)
    print(result.describe(args.interface), file=sys.stderr)
    if stop.requested and stop.received[0] != signal.SIGINT:
        return 128 + stop.received[0]
    return 0
