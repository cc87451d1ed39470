"""What the capture says while it runs (the status line) and when it ends (the summary)."""
from __future__ import annotations


def _si(value: float, unit: str) -> str:
    for prefix in ("", "k", "M", "G", "T"):
        if abs(value) < 1000 or prefix == "T":
            return f"{value:.0f} {prefix}{unit}" if not prefix else f"{value:.1f} {prefix}{unit}"
        value /= 1000
    return f"{value:.1f} {unit}"


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600:d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class StatusLine:
    """A one-line live status on a terminal (stderr), redrawn in place:
    packets, packets/s, bytes/s, kernel and interface drops, elapsed time and
    the file being written.  Call it with a :class:`~ringcap.sinks.driving.Progress`."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self._last = (0, 0.0, 0)
        self._shown = False

    def format(self, progress) -> str:
        packets0, elapsed0, bytes0 = self._last
        span = progress.elapsed - elapsed0
        rate = (progress.packets - packets0) / span if span > 0 else 0.0
        byte_rate = (progress.bytes - bytes0) / span if span > 0 else 0.0
        self._last = (progress.packets, progress.elapsed, progress.bytes)
        text = (f"{progress.packets:,} packets  {_si(rate, 'pkt/s')}  {_si(byte_rate, 'B/s')}  "
                f"drops: {progress.drops:,} kernel, {progress.if_drops:,} interface  "
                f"{_clock(progress.elapsed)}")
        if progress.files:
            text += f"  -> {progress.files[-1]}"
        return text

    def __call__(self, progress) -> None:
        try:
            self.stream.write("\r" + self.format(progress) + "\x1b[K")
            self.stream.flush()
            self._shown = True
        except (OSError, ValueError):
            pass

    def clear(self) -> None:
        if self._shown:
            try:
                self.stream.write("\r\x1b[K")
                self.stream.flush()
            except (OSError, ValueError):
                pass
            self._shown = False


def summary_lines(result) -> list[str]:
    """tcpdump's closing lines, plus ringcap's own counts where they are not zero."""
    stats = result.stats
    lost = result.summary.lost          # accepted by the sink, then lost by a failed write
    lines = [f"{result.packets - lost} packets captured"]
    if stats is not None:
        lines += [f"{stats.packets} packets received by filter",
                  f"{stats.drops} packets dropped by kernel",
                  f"{stats.if_drops} packets dropped by interface"]
        if stats.backlog_drops:
            lines.append(f"{stats.backlog_drops} packets dropped by the input backlog "
                         f"(all interfaces)")
        if result.unread:
            lines.append(f"{result.unread} packets left unread in the ring")
    if result.skipped:
        lines.append(f"{result.skipped} packets skipped (-Q)")
    refused = result.summary.refused
    if refused:
        lines.append(f"{refused} packets not written after the file limit (-W)")
    unwritten = result.unwritten - refused + lost
    if unwritten > 0:
        why = {"count": "read past -c", "error": "the output failed",
               "worker": "a worker was killed before writing them"}.get(
            result.stopped_by, "the output closed or stopped")
        lines.append(f"{unwritten} packets read from the ring but not written ({why})")
    return lines + written_lines(result.summary)


def written_lines(summary) -> list[str]:
    """The files a sink's :class:`~ringcap.sinks.SinkSummary` names, first and last."""
    files = [f for f in summary.files if f != "-"]
    if len(files) == 1:
        return [f"written to {files[0]}"]
    if files:
        return [f"written to {len(files)} files, {files[0]} ... {files[-1]}"]
    return []


def print_summary(result, stream) -> None:
    try:
        print("\n".join(summary_lines(result)), file=stream, flush=True)
    except (OSError, ValueError):
        pass
