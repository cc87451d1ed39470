"""The front door for capturing: :func:`capture` and :func:`capture_to_file`.

Each opens (or takes) an :class:`~ringcap.RxRing` and a sink (a
:class:`~ringcap.sinks.collect.BatchCollector` for :func:`capture`, a
:class:`~ringcap.sinks.PcapSink` for :func:`capture_to_file`) and drives
them with :func:`ringcap.sinks.driving.pump`, the capture loop the command
line drives too.  With ``workers=N`` the source is a pool of processes
instead, run by :mod:`ringcap.parallel`'s own helpers.  This module sits
above ``ring``, ``parallel``, ``sinks`` and ``pcapfile``; none of them
imports it.
"""
from __future__ import annotations

import contextlib
import inspect
import os
import socket
import warnings
from typing import Mapping

from ._validate import check_count, check_seconds
from .batch import Batch, linktype_name
from .parallel import ParallelCapture, capture_parallel, capture_to_file_parallel
from .pcapfile import PcapWriter
from .progress import progress_callback
from .ring import RxRing
from .sinks import PcapSink, PostRotateCommand, Rotation
from .sinks.collect import BatchCollector
from .sinks.driving import CaptureSummary, StopSignals, pump

__all__ = ["capture", "capture_to_file", "CaptureInterruptedWarning"]


class CaptureInterruptedWarning(UserWarning):
    """:func:`capture` was interrupted (Ctrl-C, "interrupt kernel") and returned
    the packets it had captured until then."""


def _accepted(target, skip) -> list[str]:
    parameters = inspect.signature(target).parameters.values()
    return [p.name for p in parameters if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)
            and p.name not in ("self",) + tuple(skip)]


def _check_keywords(function: str, given: Mapping, target_name: str, accepted: list[str], *,
                    argument: str | None = None) -> None:
    """Raise TypeError naming ``function`` (the name the caller used, not the
    class the keywords go to) for a keyword that is not ``accepted``."""
    unknown = [name for name in given if name not in accepted]
    if unknown:
        where = f"{argument} of {function}()" if argument else f"{function}()"
        raise TypeError(f"{where} got an unexpected keyword argument {unknown[0]!r}; "
                        f"the {target_name} options are: {', '.join(accepted)}")


_RING_OPTIONS = _accepted(RxRing, skip=("iface",))
_POOL_OPTIONS = _accepted(ParallelCapture, skip=("iface", "workers"))
_POOL_OPTIONS += [name for name in _RING_OPTIONS if name not in _POOL_OPTIONS]  # to each ring
_WRITER_OPTIONS = _accepted(PcapWriter, skip=("path",))


def capture(iface: str | None = None, count: int | None = None,
            duration: float | None = None, *, progress=None,
            workers: int | None = None, **options) -> Batch:
    """Capture until ``count`` packets or ``duration`` seconds, whichever comes first.

    With neither, capture until interrupted.  Ctrl-C (in Jupyter: "interrupt
    kernel") does not lose anything: the packets captured so far, including
    those still waiting in the ring, are returned, with a
    :class:`CaptureInterruptedWarning` saying so.

    ``options`` are those of :class:`~ringcap.RxRing`; an unknown one is a
    TypeError naming this function.  Returns one packed batch that
    owns its memory; its ``drops`` is the kernel's drop count for the whole
    capture.  Memory grows with the packets captured, not with the number of
    reads.  ``progress``: True shows a progress bar (packets, rate, drops,
    elapsed; needs ``tqdm``, ``pip install ringcap[progress]``), False
    hides it, a callable receives :class:`ringcap.sinks.Progress` snapshots;
    None (default) shows it when running interactively and tqdm is installed.
    ``workers=N`` captures with a :class:`ringcap.ParallelCapture` of N
    processes instead (``options`` are then its options) and returns the
    packets merged in time order.
    """
    if workers is not None:
        _check_keywords("capture", options, "ParallelCapture and RxRing", _POOL_OPTIONS)
        return capture_parallel(iface, count, duration, workers=workers, **options)
    _check_keywords("capture", options, "RxRing", _RING_OPTIONS)
    count = check_count("count", count, allow_none=True)
    duration = check_seconds("duration", duration, allow_none=True, allow_zero=False)
    collector = BatchCollector()
    with RxRing(iface, **options) as ring, \
            progress_callback(progress, total=count, what=iface or "all interfaces") as show:
        result = pump(ring, collector, count=count, duration=duration, progress=show,
                      reuse_batch=True, views=False)     # packed reads copy fastest
    if result.stopped_by in ("KeyboardInterrupt", "SIGINT"):
        warnings.warn(f"capture interrupted after {result.packets} packets; returning them",
                      CaptureInterruptedWarning, stacklevel=2)
    return collector.batch()


def _pcap_linktype(ring, format: str, path) -> int | None:
    """The link type of a ring's packets for the file header; a pcap file
    cannot hold a ring whose interfaces differ (say which and what to do)."""
    linktype = ring.linktype
    if linktype is None and format == "pcap":
        names = ring.interfaces or {}
        kinds = ", ".join(f"{names.get(i, i)} {linktype_name(t)}"
                          for i, t in ring.linktypes.items())
        raise ValueError(f"cannot write {os.fspath(path)} as pcap: the interfaces have different "
                         f"link types ({kinds}) and a pcap file holds one; write pcapng "
                         "(an interface block per link type) or capture all interfaces "
                         "(`any`, one cooked LINUX_SLL2 capture)")
    return linktype


def capture_to_file(source, path, *, count: int | None = None, duration: float | None = None,
                    format: str | None = None, file_size: int | None = None,
                    rotate_seconds: float | None = None, max_files: int | None = None,
                    post_rotate=None, owner=None, progress=None, signals: bool = True,
                    batch_packets: int = 65536, timeout: float = 0.1,
                    ring_options: Mapping | None = None, workers: int | None = None,
                    hidden_until_complete: bool = False,
                    **writer_options) -> CaptureSummary:
    """Capture from a ring (or an interface name) straight into a file, streaming.

    ``source`` is an open ring (left open), an interface name, a list of
    them (pcapng: one interface block and statistics block each) or None (all
    interfaces, a cooked capture), for which an
    ``RxRing`` is opened with ``ring_options`` and closed afterwards.  Stops
    after ``count`` packets or ``duration`` seconds, or, with neither, when
    stopped: SIGINT (Ctrl-C), SIGTERM and SIGHUP end the capture cleanly
    (with ``signals=True``, when called from the main thread), as does a
    KeyboardInterrupt.  Every packet already captured is written, the files
    are finished, and the summary is returned all the same
    (``stopped_by`` says why it stopped).

    ``format``: ``"pcap"`` or ``"pcapng"`` (default: pcap for a ``.pcap``
    name, else pcapng).  pcapng files end with an Interface Statistics Block
    holding the ring's received and dropped counts, on every exit path.
    Rotation as tcpdump's: ``file_size`` bytes (``-C``), ``rotate_seconds``
    (``-G``, strftime patterns in ``path``), ``max_files`` (``-W``);
    ``post_rotate``: a command (``"gzip"``) run on each finished file, or a
    callable taking its path.  ``owner`` (user name or uid) is given the
    files; ``mode`` (0o600) their permissions; an existing file is replaced,
    as ``tcpdump -w`` does (``overwrite=False`` refuses it; a ring of files
    with ``max_files`` replaces its own files as it wraps).
    ``hidden_until_complete=True`` writes each file as ``.NAME.PID.inprogress``
    and renames it into place when complete (``--hidden-until-complete``), so
    readers never see a partial file.  ``progress``: as for
    :func:`ringcap.capture`.  Other keywords go to :class:`PcapWriter`.
    ``workers=N`` captures the interface with N processes (see
    :func:`ringcap.parallel.capture_to_file_parallel`: ``{worker}`` in
    ``path`` writes one file per worker).
    """
    if duration is not None:
        duration = float(duration)
        if not (0 < duration < float("inf")):
            raise ValueError(f"duration must be positive, finite seconds, got {duration}")
    if count is not None and int(count) <= 0:
        raise ValueError(f"count must be positive, got {count}")
    if format is None:
        format = "pcap" if os.fspath(path).lower().endswith(".pcap") else "pcapng"
    _check_keywords("capture_to_file", writer_options, "PcapWriter",
                    _WRITER_OPTIONS)
    if workers is None:
        _check_keywords("capture_to_file", ring_options or {}, "RxRing", _RING_OPTIONS,
                        argument="ring_options")
    else:
        _check_keywords("capture_to_file", ring_options or {}, "ParallelCapture and RxRing",
                        _POOL_OPTIONS, argument="ring_options")
    if workers is not None:
        pool_only = {"file_size": file_size, "rotate_seconds": rotate_seconds,
                     "max_files": max_files, "post_rotate": post_rotate, "owner": owner,
                     "hidden_until_complete": hidden_until_complete or None}
        given = [name for name, value in pool_only.items() if value is not None]
        if given:
            raise ValueError(f"capture_to_file(workers=...) writes no rotated or re-owned "
                             f"files: {', '.join(given)} cannot be used with workers "
                             f"(the command line's --workers -w FILE can)")
        return capture_to_file_parallel(source, path, workers=workers, count=count,
                                        duration=duration, format=format,
                                        ring_options=ring_options, **writer_options)
    rotation = Rotation(max_bytes=file_size, seconds=rotate_seconds, max_files=max_files)
    on_done = PostRotateCommand(post_rotate) if isinstance(post_rotate, str) else post_rotate
    mode = writer_options.pop("mode", 0o600)
    overwrite = writer_options.pop("overwrite", True)
    part_options = {k: writer_options.pop(k) for k in ("snaplen", "nanosecond", "linktype")
                    if k in writer_options}
    # (None: all interfaces, as for capture() and RxRing)
    own_ring = source is None or isinstance(source, (str, bytes, list, tuple))
    if not own_ring and not callable(getattr(source, "read", None)):
        raise TypeError(f"capture_to_file's source is an interface name, a list of them, "
                        f"None (all interfaces) or an open ring, got {type(source).__name__}")
    if own_ring:
        ring = RxRing(source, **dict(ring_options or {}))
    else:
        ring = source
    try:
        ifindex = getattr(ring, "ifindex", None)
        if own_ring and ifindex is None:
            try:
                ifindex = socket.if_nametoindex(source)
            except OSError:
                ifindex = 0
        several = getattr(ring, "interfaces", None) or {}
        if own_ring and len(several) > 1:
            interface = dict(several)       # one interface block (and statistics) each
        else:
            interface = (ifindex, os.fsdecode(source) if own_ring else None) if ifindex else None
        linktypes = getattr(ring, "linktypes", None)
        if linktypes and "linktype" not in part_options:
            part_options["linktype"] = _pcap_linktype(ring, format, path)
        sink = PcapSink(path, format=format, rotation=rotation, interface=interface,
                        owner=owner, mode=mode, on_file_done=on_done, overwrite=overwrite,
                        atomic=bool(hidden_until_complete),
                        stats_source=lambda: ring.stats, writer_options=writer_options,
                        linktypes=linktypes, **part_options)
        stop = StopSignals() if signals else None
        with contextlib.ExitStack() as stack:
            if stop is not None:
                stack.enter_context(stop)
            what = "" if not own_ring else "any" if source is None else str(source)
            show = stack.enter_context(progress_callback(progress, total=count, what=what))
            result = pump(ring, sink, count=count, duration=duration,
                          stop=stop if stop is not None else (lambda: False),
                          progress=show, batch_packets=batch_packets, poll=timeout,
                          reuse_batch=True)
    finally:
        if own_ring:
            ring.close()
    stats = result.stats
    return CaptureSummary(
        packets=result.packets, bytes=result.bytes,
        received=None if stats is None else int(stats.packets),
        drops=None if stats is None else int(stats.drops),
        files=result.summary.files, stopped_by=result.stopped_by,
        if_drops=getattr(stats, "if_drops", None), unread=result.unread)
