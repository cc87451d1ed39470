"""tcpdump's capture options given with ``-r``/``-V``, treated as tcpdump 4.99 treats them.

tcpdump parses every option before it looks at ``-r``, so a script written
for a capture (``tcpdump -i eth0 -p -B 4096 -U -w out.pcap -r old.pcap``)
also runs on a file.  Each value is checked as tcpdump checks it, before the
file is opened: a bad one stops with tcpdump's words and status 1.  Then:

- ``-U`` keeps its meaning: the ``-w`` file is flushed after each batch
  (tcpdump: after each packet); printing is not changed (that is ``-l``).
- ``-Z USER``, run as root, keeps its meaning: the input and the ``-w`` file
  are opened, the ``-w`` file is given to USER, and root is given up for
  USER before the first packet (later ``-V`` files are opened as USER).
  Not run as root, tcpdump ignores it, and so does ringcap.
- ``-i``, ``-p``, ``-B``, ``-I``, ``-j``, ``-J``, ``-L``, ``-Q``,
  ``--immediate-mode`` are ignored: libpcap applies them to a live capture
  only (tcpdump 4.99 does not filter a file by ``-Q``'s direction).  ``-z``
  without ``-C``/``-G`` is ignored too (see :mod:`ringcap.cli.readsplit`).
  ``-N`` (host names without their domain) and ``-O`` (libpcap's optimizer
  off) change nothing ringcap prints or selects: it looks no name up, and
  both programs pass the same packets.
"""
from __future__ import annotations

import os
import re

from .options import MAXIMUM_SNAPLEN, SNAPLEN_WORDS, CliError, atoi, c_int

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    from .privileges import User

# libpcap's names for -j (pcap_tstamp_type_name_to_val, any case)
TIME_STAMP_TYPES = ("host", "host_lowprec", "host_hiprec", "adapter", "adapter_unsynced",
                    "host_hiprec_unsynced")
DIRECTIONS = ("in", "out", "inout")


def add_arguments(parser) -> None:
    group = parser.add_argument_group(
        "capture options accepted with -r, as tcpdump accepts them (see `ringcap capture`)")
    group.add_argument("-i", "--interface", dest="interfaces", action="append",
                       metavar="IFACE", help="ignored, as by tcpdump -r")
    group.add_argument("-p", "--no-promiscuous-mode", dest="no_promisc", action="store_true",
                       help="ignored")
    group.add_argument("-B", "--buffer-size", dest="ring_bytes", metavar="KiB",
                       help="checked as tcpdump checks it, then ignored")
    group.add_argument("-I", "--monitor-mode", dest="monitor_mode", action="store_true",
                       help="ignored")
    group.add_argument("-j", "--time-stamp-type", dest="time_stamp_type", metavar="TYPE",
                       help="a libpcap name (" + ", ".join(TIME_STAMP_TYPES) + "); ignored")
    group.add_argument("-J", "--list-time-stamp-types", dest="list_time_stamp_types",
                       action="store_true", help="ignored")
    group.add_argument("-L", "--list-data-link-types", dest="list_linktypes",
                       action="store_true", help="ignored")
    group.add_argument("-Q", "--direction", dest="direction", metavar="in|out|inout",
                       help="checked, then ignored: tcpdump filters no file by direction")
    group.add_argument("--immediate-mode", dest="immediate_mode", action="store_true",
                       help="ignored")
    group.add_argument("-U", "--packet-buffered", dest="packet_buffered", action="store_true",
                       help="with -w: flush the file after each batch")
    group.add_argument("-z", dest="post_rotate", metavar="CMD",
                       help="with -C/-G: run `CMD FILE` on each finished part, as a capture does; "
                            "without them ignored, as by tcpdump")
    group.add_argument("-Z", "--relinquish-privileges", dest="owner", metavar="USER",
                       help="run as root: open the file (and -w FILE, given to USER), then "
                            "give up root for USER")
    group.add_argument("-N", dest="strip_domains", action="store_true",
                       help="ignored: ringcap prints no host names")
    group.add_argument("-O", "--no-optimize", dest="no_optimize", action="store_true",
                       help="ignored: the optimized filter passes the same packets")


def buffer_size_ok(text: str) -> bool:
    """tcpdump's test of ``-B``: ``atoi(text) * 1024 > 0``, in C ints (so
    ``-B 4096x`` passes, ``-B abc``, ``-B 0`` and ``-B 2097152`` do not)."""
    return c_int(atoi(text) * 1024) > 0


def snaplen_ok(text: str) -> bool:
    """tcpdump's test of ``-s``: all of ``text`` a C number (``strtol`` base 0:
    ``0x100``, ``010``), as an ``int`` from 0 to 262144 (no suffix: ``-s 10M``
    is refused).  Reading a file, the value is not used: packets keep their
    length, and ``-w`` writes the file's snapshot length."""
    match = re.fullmatch(r"[ \t\n\v\f\r]*([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)", text)
    if not match:
        return False
    sign, digits = match.groups()
    number = int(digits, 0 if digits[:2].lower() == "0x" else 8 if digits[0] == "0" else 10)
    number = max(-(1 << 63), min(-number if sign == "-" else number, (1 << 63) - 1))
    return 0 <= c_int(number) <= MAXIMUM_SNAPLEN


def check(args) -> None:
    """Check the values as tcpdump does before it opens anything (status 1);
    ``args.drop_to`` becomes the :class:`User` that ``-Z`` names, when run as root."""
    if args.snaplen is not None and not snaplen_ok(args.snaplen):
        raise CliError(SNAPLEN_WORDS.replace("{}", args.snaplen), status=1)
    if args.ring_bytes is not None and not buffer_size_ok(args.ring_bytes):
        raise CliError(f"invalid packet buffer size {args.ring_bytes}", status=1)
    if args.direction is not None and args.direction.lower() not in DIRECTIONS:
        raise CliError(f"unknown capture direction `{args.direction}'; -Q takes in, out or "
                       "inout (and a file is read whole whatever it says, as by tcpdump)",
                       status=1)
    if args.time_stamp_type is not None \
            and args.time_stamp_type.lower() not in TIME_STAMP_TYPES:
        raise CliError(f"invalid time stamp type {args.time_stamp_type}; -j takes one of "
                       + ", ".join(TIME_STAMP_TYPES), status=1)
    args.drop_to = None
    if args.owner is not None and (os.getuid() == 0 or os.geteuid() == 0):
        # (here, with -Z only, and before the drop: it imports inspect, 30-80 M
        # instructions that every other `-r` would pay at start-up)
        from .privileges import lookup_user
        try:
            args.drop_to = lookup_user(args.owner)
        except CliError:
            raise CliError(f"Couldn't find user '{args.owner}' (-Z); give an existing user "
                           "name (e.g. -Z nobody)", status=1) from None


def needs_batches(args) -> bool:
    """Whether an option given here is applied only by the batch loop of
    :mod:`ringcap.cli.read` (``-Z``'s drop, made after the output is opened)."""
    return getattr(args, "drop_to", None) is not None


def sink_options(args) -> dict:
    """Keywords for the ``-w`` sink: ``-U``'s flush, ``-Z``'s owner (a file's, not a stream's)."""
    owner = args.drop_to.name if args.drop_to is not None and args.write != "-" else None
    return {"flush_every_batch": args.packet_buffered, "owner": owner}


def give_up_root(args) -> None:
    """``-Z``: become USER, once, after the first file and the output are open."""
    user: User | None = getattr(args, "drop_to", None)
    if user is not None:
        from .privileges import drop_privileges      # (imported by check() already)
        args.drop_to = None
        drop_privileges(user)
