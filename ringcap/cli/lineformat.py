"""tcpdump's printing options as ``ringcap._text.LineFormatter`` takes them.

Shared by :class:`ringcap.cli.printer.PacketPrinter` (batches) and
:mod:`ringcap.cli.fileprint` (a pcap file printed without batches), so it
needs no numpy.
"""
from __future__ import annotations

import time

from .. import _text

__all__ = ["TIMESTAMP_MODES", "PAYLOAD_MODES", "line_formatter", "one_utc_offset", "write_whole"]

#: ``timestamps=`` values and the tcpdump flag each matches (an int counts
#: tcpdump's ``-t`` flags: 0 is "time", 1 "none", ... 5 "since_first").
TIMESTAMP_MODES = {
    "time": "HH:MM:SS.frac in local time (tcpdump's default)",
    "none": "no timestamp (-t)",
    "epoch": "seconds since the epoch (-tt)",
    "delta": "time since the previous packet (-ttt)",
    "date": "YYYY-MM-DD HH:MM:SS.frac in local time (-tttt)",
    "since_first": "time since the first packet (-ttttt)",
}
_T_FLAGS = ("time", "none", "epoch", "delta", "date", "since_first")
#: ``payload=`` values -> (dump, from the link header on); tcpdump's letters work too.
PAYLOAD_MODES = {
    None: (None, False), "hex": ("hex", False), "hexascii": ("hexascii", False),
    "ascii": ("ascii", False), "x": ("hex", False), "xx": ("hex", True),
    "X": ("hexascii", False), "XX": ("hexascii", True), "A": ("ascii", False),
    "AA": ("ascii", True),
}


def line_formatter(*, verbose: int = 0, link_header: bool = False, payload: str | None = None,
                   payload_link: bool = False, quiet: bool = False, timestamps="time",
                   nanosecond: bool = False, absolute_seq: bool = False, number: bool = False,
                   no_checksums: bool = False) -> _text.LineFormatter:
    """The formatter for these options (see :class:`~ringcap.cli.printer.PacketPrinter`);
    ValueError naming a wrong value."""
    if isinstance(timestamps, int) and not isinstance(timestamps, bool):
        if not 0 <= timestamps < len(_T_FLAGS):
            raise ValueError(f"tcpdump has -t to -ttttt; got {timestamps} t flags")
        timestamps = _T_FLAGS[timestamps]
    if timestamps not in TIMESTAMP_MODES:
        raise ValueError(f"timestamps must be one of {', '.join(TIMESTAMP_MODES)}, "
                         f"got {timestamps!r}")
    if payload not in PAYLOAD_MODES:
        raise ValueError(f"payload must be None, 'hex', 'hexascii' or 'ascii' (or tcpdump's "
                         f"x, xx, X, XX, A), got {payload!r}")
    payload, from_link = PAYLOAD_MODES[payload]
    return _text.LineFormatter(
        link_header=bool(link_header), quiet=int(bool(quiet)), verbose=int(verbose),
        payload=payload, payload_link=bool(payload_link or from_link),
        timestamps=timestamps, nano=bool(nanosecond), absolute_seq=bool(absolute_seq),
        number=bool(number), no_checksums=bool(no_checksums))


def one_utc_offset(first: int, last: int, lo: int, hi: int) -> int | None:
    """Local time's offset from UTC (s) for packets stamped ``first`` and
    ``last`` (ns), ``lo`` to ``hi`` in all, if it is one offset throughout;
    None if it changes inside (a daylight-saving switch: one per packet then).
    Four look-ups of whole seconds, no division of every timestamp."""
    offset = time.localtime(first // 1_000_000_000).tm_gmtoff
    if time.localtime(last // 1_000_000_000).tm_gmtoff == offset \
            and time.localtime(lo // 1_000_000_000).tm_gmtoff == offset \
            and time.localtime(hi // 1_000_000_000).tm_gmtoff == offset:
        return offset
    return None


def write_whole(out, data) -> None:
    """Write all of ``data`` to the binary stream ``out``.

    A buffered stream's ``write`` returns a short count when a signal comes
    while it is blocked on a full pipe and the handler returns (ringcap's stop
    handlers only record the signal): the rest of the lines would be lost
    while the summary still counted their packets."""
    with memoryview(data) as view:
        while view.nbytes:
            written = out.write(view)
            if written is None or written >= view.nbytes:   # (None: a stream that takes all)
                break
            view = view[written:]

