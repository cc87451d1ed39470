"""Pictures of a :class:`~ringcap.report.TrafficReport`: rates over time, protocol mix, top talkers.

matplotlib is optional (``pip install 'ringcap[plot]'``); it is imported on
first use, with the non-interactive Agg backend unless one is already chosen.
:func:`plot_report_html` draws the same panels with plotly, as one
self-contained interactive HTML page (zoom, hover), plotly coming with the
same extra.

    >>> from ringcap.report import file_report              # doctest: +SKIP
    >>> from ringcap.plots import plot_report                # doctest: +SKIP
    >>> report, _ = file_report("in.pcapng")                 # doctest: +SKIP
    >>> figure = plot_report(report, "traffic.png")          # doctest: +SKIP

The figure has four panels: packets per second and bits per second over
time (UTC dates on the axis; red marks where the capture recorded drops),
the protocol mix (share of packets per transport protocol) and the
conversations with the most bytes.
"""
from __future__ import annotations

import datetime as _dt
import os
from typing import Any

import numpy as np

from .report import TrafficReport

__all__ = ["plot_report", "plot_report_html"]

_BIT_UNITS = ((1e9, "Gbit/s"), (1e6, "Mbit/s"), (1e3, "kbit/s"), (1.0, "bit/s"))


def _matplotlib():
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("plotting needs matplotlib, which is not installed: "
                          "pip install 'ringcap[plot]'") from exc
    if "matplotlib.pyplot" not in __import__("sys").modules:
        matplotlib.use("Agg")
    import matplotlib.dates as mdates
    from matplotlib.figure import Figure
    return Figure, mdates


def _leaf_protocols(report: TrafficReport) -> list[tuple[str, int]]:
    """Packets per innermost protocol named (tcp, udp, icmp, arp, ...)."""
    rows = report.protocols()
    paths = {r["path"] for r in rows}
    leaves = []
    for r in rows:
        if not any(p.startswith(r["path"] + ":") for p in paths):
            leaves.append((r["path"].rsplit(":", 1)[-1], r["packets"]))
    merged: dict[str, int] = {}
    for name, packets in leaves:
        merged[name] = merged.get(name, 0) + packets
    return sorted(merged.items(), key=lambda kv: -kv[1])


def plot_report(report: TrafficReport, path: str | os.PathLike | None = None, *,
                top: int = 8, title: str | None = None, drops: list[tuple[int, int]] | None = None,
                dpi: int = 100) -> Any:
    """Draw the report; save it to ``path`` (PNG, SVG or PDF by suffix) when given.

    ``drops``: (time in ns, packets dropped) marks to draw on the rate
    panels (default: the report's own, from live batches and the files'
    statistics blocks).  Returns the matplotlib ``Figure``.
    """
    Figure, mdates = _matplotlib()
    figure = Figure(figsize=(12, 8), dpi=dpi, layout="constrained")
    grid = figure.add_gridspec(2, 2)
    ax_pps = figure.add_subplot(grid[0, 0])
    ax_bps = figure.add_subplot(grid[1, 0], sharex=ax_pps)
    ax_proto = figure.add_subplot(grid[0, 1])
    ax_top = figure.add_subplot(grid[1, 1])
    summary = report.summary()
    figure.suptitle(title or f"{summary['packets']:,} packets, {summary['data_size']:,} bytes "
                    f"over {summary['duration']:.1f} s")

    rates = report.rates()
    interval = rates["interval"]
    if rates["packets"]:
        start = rates["start_ts"]
        # One more edge than bins, so the last bin is drawn as wide as the others.
        times = [_dt.datetime.fromtimestamp((start + i * interval * 1e9) / 1e9, _dt.timezone.utc)
                 for i in range(len(rates["packets"]) + 1)]
        pps = np.asarray(rates["packets"] + rates["packets"][-1:], dtype=float) / interval
        bps = 8 * np.asarray(rates["bytes"] + rates["bytes"][-1:], dtype=float) / interval
        scale, unit = next(((s, u) for s, u in _BIT_UNITS if bps.max() >= s), _BIT_UNITS[-1])
        ax_pps.step(times, pps, where="post", color="tab:blue")
        ax_bps.step(times, bps / scale, where="post", color="tab:green")
        marks = report.drop_marks if drops is None else drops
        for ts, count in marks:
            when = _dt.datetime.fromtimestamp(ts / 1e9, _dt.timezone.utc)
            for ax in (ax_pps, ax_bps):
                ax.axvline(when, color="tab:red", alpha=0.6, linewidth=1)
        if marks:
            ax_pps.plot([], [], color="tab:red", label=f"drops ({sum(c for _, c in marks):,})")
            ax_pps.legend(loc="upper right")
        locator = mdates.AutoDateLocator()
        ax_bps.xaxis.set_major_locator(locator)
        ax_bps.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, tz=_dt.timezone.utc))
        ax_bps.set_ylabel(unit)
    else:
        ax_bps.set_ylabel("bit/s")
    ax_pps.set_title(f"Packets per second ({interval:g} s bins)")
    ax_pps.set_ylabel("packets/s")
    ax_pps.tick_params(labelbottom=False)
    ax_bps.set_title("Bits per second")
    ax_bps.set_xlabel("time (UTC)")
    for ax in (ax_pps, ax_bps):
        ax.grid(True, alpha=0.3)
        ax.set_ylim(bottom=0)

    mix = _leaf_protocols(report)[:top]
    total = max(summary["packets"], 1)
    names = [name for name, _ in mix][::-1]
    shares = [100.0 * packets / total for _, packets in mix][::-1]
    ax_proto.barh(names, shares, color="tab:purple")
    ax_proto.set_title("Protocol mix")
    ax_proto.set_xlabel("share of packets (%)")
    ax_proto.set_xlim(0, 100)
    for y, share in enumerate(shares):
        ax_proto.text(share + 1, y, f"{share:.1f}%", va="center")

    conversations = report.conversations(top)[::-1]
    labels = [f"{c['a']} \u2194 {c['b']}" for c in conversations]
    volume = [c["bytes"] for c in conversations]
    scale, unit = (1e6, "MB") if volume and max(volume) >= 1e6 else (1e3, "kB")
    ax_top.barh(labels, [v / scale for v in volume], color="tab:orange")
    ax_top.set_title(f"Top {len(conversations)} conversations")
    ax_top.set_xlabel(f"bytes ({unit})")
    ax_top.tick_params(axis="y", labelsize=8)

    if path is not None:
        figure.savefig(os.fspath(path))
    return figure


def _plotly():
    try:
        import plotly.graph_objects as go
        from plotly.subplots import make_subplots
    except ImportError as exc:
        raise ImportError("interactive plots need plotly, which is not installed: "
                          "pip install 'ringcap[plot]'") from exc
    return go, make_subplots


def plot_report_html(report: TrafficReport, path: str | os.PathLike | None = None, *,
                     top: int = 8, title: str | None = None,
                     drops: list[tuple[int, int]] | None = None) -> Any:
    """The panels of :func:`plot_report` as an interactive plotly figure (zoom, hover).

    Saved as one self-contained HTML file (plotly's JavaScript included, so it
    opens without a network) when ``path`` is given.  Returns the plotly
    ``Figure``.
    """
    go, make_subplots = _plotly()
    summary = report.summary()
    rates = report.rates()
    interval = rates["interval"]
    figure = make_subplots(
        rows=2, cols=2, shared_xaxes=False, horizontal_spacing=0.12, vertical_spacing=0.14,
        subplot_titles=(f"Packets per second ({interval:g} s bins)", "Protocol mix",
                        "Bits per second", f"Top {top} conversations"))
    if rates["packets"]:
        start = rates["start_ts"]
        times = [_dt.datetime.fromtimestamp((start + i * interval * 1e9) / 1e9, _dt.timezone.utc)
                 for i in range(len(rates["packets"]))]
        pps = np.asarray(rates["packets"], dtype=float) / interval
        bps = 8 * np.asarray(rates["bytes"], dtype=float) / interval
        scale, unit = next(((s, u) for s, u in _BIT_UNITS if bps.max() >= s), _BIT_UNITS[-1])
        figure.add_trace(go.Scatter(x=times, y=pps, mode="lines", line_shape="hv",
                                    name="packets/s"), row=1, col=1)
        figure.add_trace(go.Scatter(x=times, y=bps / scale, mode="lines", line_shape="hv",
                                    name=unit), row=2, col=1)
        for ts, count in (report.drop_marks if drops is None else drops):
            when = _dt.datetime.fromtimestamp(ts / 1e9, _dt.timezone.utc)
            for row in (1, 2):
                figure.add_vline(x=when, line_color="red", opacity=0.6, row=row, col=1)
        figure.update_yaxes(title_text=unit, row=2, col=1)
    figure.update_yaxes(title_text="packets/s", row=1, col=1, rangemode="tozero")
    figure.update_xaxes(title_text="time (UTC)", row=2, col=1)
    mix = _leaf_protocols(report)[:top]
    total = max(summary["packets"], 1)
    figure.add_trace(go.Bar(x=[100.0 * p / total for _, p in mix][::-1],
                            y=[name for name, _ in mix][::-1], orientation="h",
                            name="share of packets"), row=1, col=2)
    figure.update_xaxes(title_text="share of packets (%)", range=[0, 100], row=1, col=2)
    conversations = report.conversations(top)[::-1]
    figure.add_trace(go.Bar(x=[c["bytes"] for c in conversations],
                            y=[f"{c['a']} \u2194 {c['b']}" for c in conversations],
                            orientation="h", name="bytes"), row=2, col=2)
    figure.update_xaxes(title_text="bytes", row=2, col=2)
    figure.update_layout(
        title_text=title or f"{summary['packets']:,} packets, {summary['data_size']:,} bytes "
                            f"over {summary['duration']:.1f} s",
        showlegend=False, height=800, width=1200)
    if path is not None:
        figure.write_html(os.fspath(path), include_plotlyjs=True, full_html=True)
    return figure
