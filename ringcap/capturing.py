"""The front door for capturing: :func:`capture_to_file`.

It chooses the source (a ring, or a pool of workers) and the sink, and
drives them with :func:`ringcap.sinks.driving.pump`.
"""
from __future__ import annotations

import contextlib
import os
import socket
from typing import Mapping

from .pcapfile import CaptureSummary

__all__ = ["capture_to_file"]


def _pcap_linktype(ring, format: str, path) -> int | None:
    """The link type of a ring's packets for the file header; a pcap file
    cannot hold a ring whose interfaces differ (say which and what to do)."""
    linktype = ring.linktype
    if linktype is None and format == "pcap":
        from .batch import linktype_name
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
                    **writer_options) -> CaptureSummary:
    """Capture from a ring (or an interface name) straight into a file, streaming.

    ``source`` is an open ring (left open), an interface name or a list of
    them (pcapng: one interface block and statistics block each), for which an
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
    files; ``mode`` (0o600) their permissions; an existing file is replaced
    only with ``overwrite=True`` (a ring of files with ``max_files`` replaces
    its own).  ``progress``: as for
    :func:`ringcap.capture`.  Other keywords go to :class:`PcapWriter`.
    ``workers=N`` captures the interface with N processes (see
    :func:`ringcap.parallel.capture_to_file_parallel`: ``{worker}`` in
    ``path`` writes one file per worker).
    """
    from .progress import progress_callback
    from .sinks import PcapSink, PostRotateCommand, Rotation
    from .sinks.driving import StopSignals, pump

    if duration is not None:
        duration = float(duration)
        if not (0 < duration < float("inf")):
            raise ValueError(f"duration must be positive, finite seconds, got {duration}")
    if count is not None and int(count) <= 0:
        raise ValueError(f"count must be positive, got {count}")
    if format is None:
        format = "pcap" if os.fspath(path).lower().endswith(".pcap") else "pcapng"
    if workers is not None:
        from .parallel import capture_to_file_parallel
        return capture_to_file_parallel(source, path, workers=workers, count=count,
                                        duration=duration, format=format,
                                        ring_options=ring_options, **writer_options)
    rotation = Rotation(max_bytes=file_size, seconds=rotate_seconds, max_files=max_files)
    on_done = PostRotateCommand(post_rotate) if isinstance(post_rotate, str) else post_rotate
    mode = writer_options.pop("mode", 0o600)
    overwrite = writer_options.pop("overwrite", False)
    part_options = {k: writer_options.pop(k) for k in ("snaplen", "nanosecond", "linktype")
                    if k in writer_options}
    own_ring = isinstance(source, (str, bytes, list, tuple))
    if own_ring:
        from . import RxRing                 # the ring is optional for file work
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
                        stats_source=lambda: ring.stats, writer_options=writer_options,
                        linktypes=linktypes, **part_options)
        stop = StopSignals() if signals else None
        with contextlib.ExitStack() as stack:
            if stop is not None:
                stack.enter_context(stop)
            show = stack.enter_context(progress_callback(progress, total=count,
                                                         what=str(source) if own_ring else ""))
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
