"""`PcapSink`: pcap or pcapng files (rotated or not) and pcap streams (``-w -``)."""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)

from ..pcapfile import DEFAULT_SNAPLEN, PcapWriter
from .rotating import Rotation, RotatingSink, TcpdumpNaming

if TYPE_CHECKING:
    import numpy as np


def format_for_path(path, format: str | None = None) -> str:
    """``format`` if given, else pcapng for a ``.pcapng`` name, pcap otherwise."""
    if format is not None:
        if format not in ("pcap", "pcapng"):
            raise ValueError(f"format must be 'pcap' or 'pcapng', got {format!r}")
        return format
    if isinstance(path, (str, bytes, os.PathLike)) and \
            os.fsdecode(path).lower().endswith((".pcapng", ".ntar")):
        return "pcapng"
    return "pcap"


class PcapPart:
    """One pcap/pcapng file of a :class:`PcapSink` (the part protocol of
    :mod:`ringcap.sinks.rotating`), over :class:`~ringcap.PcapWriter`."""

    def __init__(self, target, mode: int = 0o600, *, format: str = "pcap",
                 snaplen: int = DEFAULT_SNAPLEN, nanosecond: bool = True,
                 linktype: int | None = None, interface=None,
                 flush_every_batch: bool = False, overwrite: bool = True,
                 writer_options: dict | None = None,
                 linktypes: dict[int, int] | None = None) -> None:
        options = dict(format=format, snaplen=snaplen, nanosecond=nanosecond, linktype=linktype,
                       **(writer_options or {}))
        if isinstance(target, (str, bytes, os.PathLike)):
            options["mode"] = mode
            options["overwrite"] = overwrite
        self.writer = PcapWriter(target, **options)
        self.format = format
        self.snaplen = int(snaplen)
        self._flush_every_batch = flush_every_batch
        # interface: (ifindex, name), or {ifindex: name} for a ring on several
        declared = dict([interface]) if isinstance(interface, tuple) else dict(interface or {})
        self._stats_ifindex = next(iter(declared), None)
        if format == "pcapng":
            for ifindex, name in declared.items():
                self.writer.add_interface(ifindex, name, (linktypes or {}).get(ifindex, linktype))

    @property
    def packets_written(self) -> int:
        return self.writer.packets_written

    @property
    def bytes_written(self) -> int:
        return self.writer.bytes_written

    @property
    def packets_in_files(self) -> int:
        """Packets in complete records handed to the operating system (not
        those still in the writer's buffer)."""
        return self.writer.packets_flushed

    @property
    def bytes_in_files(self) -> int:
        return self.writer.bytes_flushed

    def record_sizes(self, batch) -> np.ndarray:
        import numpy as np
        kept = np.minimum(batch.caplen, self.snaplen).astype(np.int64)
        if self.format == "pcap":
            return kept + 16
        return 32 + ((kept + 3) & ~3) + (12 if self.writer.flags else 0)

    def write(self, batch) -> None:
        self.writer.write(batch)
        if self._flush_every_batch:
            self.writer.flush()

    def flush(self) -> None:
        self.writer.flush()

    def tick(self) -> None:
        """Flush if the oldest buffered record has waited the writer's flush_interval."""
        self.writer.tick()

    def close(self, stats=None) -> None:
        writer = self.writer
        if writer.closed:
            return
        try:
            if stats is not None and self.format == "pcapng":
                writer.write_stats(stats, ifindex=self._stats_ifindex)
        finally:
            writer.close()


class PcapSink(RotatingSink):
    """Packets into pcap or pcapng files, optionally rotated; or into a stream.

    ``target`` is a path (the name template with rotation, see
    :class:`~ringcap.sinks.rotating.TcpdumpNaming`), ``"-"`` for standard
    output, an open file descriptor, or a binary file object.  ``format``
    defaults from the name (``.pcapng`` writes pcapng, anything else pcap).
    ``snaplen`` is written into the file header and packets are cut to it.
    ``nanosecond=False`` writes microsecond pcap (``--time-stamp-precision
    micro``).  ``linktype``: the pcap header's link type (default: the first
    batch's; packets are always written with their own, see
    :class:`~ringcap.PcapWriter`); ``linktypes``: ``{ifindex: linktype}`` of
    the interfaces declared in pcapng files.  ``interface=(ifindex, name)`` (or ``{ifindex: name}`` for
    several) describes the capture's interfaces first in every pcapng file;
    the statistics given to :meth:`close` (and by ``stats_source`` at each
    rotation) go into each pcapng file's Interface Statistics Block.  ``flush_every_batch`` is tcpdump's ``-U``.
    ``overwrite=True`` (the default, as tcpdump) replaces an existing
    file of the same name; with False such a name is an error
    (``FileExistsError``).  ``writer_options`` go to each
    :class:`~ringcap.PcapWriter`.  Other
    keywords are those of :class:`~ringcap.sinks.RotatingSink`; a stream
    cannot rotate, change owner or be written atomically.
    """

    def __init__(self, target, *, format: str | None = None, snaplen: int = DEFAULT_SNAPLEN,
                 nanosecond: bool = True, linktype: int | None = None,
                 rotation: Rotation | None = None, interface: tuple[int, str] | None = None,
                 flush_every_batch: bool = False, overwrite: bool = True,
                 writer_options: dict | None = None, linktypes: dict[int, int] | None = None,
                 **options) -> None:
        self.stream = not isinstance(target, (str, bytes, os.PathLike)) or target == "-"
        self.format = format_for_path(None if self.stream else target, format)
        if self.stream:
            if rotation is not None and rotation.active:
                raise ValueError("cannot rotate a stream: give a file name to -w for -C/-G/-W")
            if options.get("owner") is not None or options.get("atomic"):
                raise ValueError("owner= and atomic= need a file name, not a stream")
            if target == "-":
                target = sys.stdout.buffer
        part_options = dict(format=self.format, snaplen=snaplen, nanosecond=nanosecond,
                            linktype=linktype, interface=interface,
                            flush_every_batch=flush_every_batch, overwrite=overwrite,
                            writer_options=writer_options, linktypes=linktypes)
        stream = target if self.stream else None

        def open_part(path, mode):
            # (not self: a sink in a cycle with its own closure is finished by
            # the garbage collector in any order, its writer perhaps first)
            return PcapPart(path if stream is None else stream, mode, **part_options)

        naming = (lambda slot: "-") if self.stream else TcpdumpNaming(target, rotation)
        self.snaplen = int(snaplen)
        super().__init__(open_part, naming, rotation, **options)
        if self.stream:
            self._owner = None

    def ring_writer(self, ring):
        """pcap records straight from the ring's blocks into the file
        (:meth:`~ringcap.PcapWriter.write_from_ring`), for one pcap file or
        stream with one link type; None with pcapng, rotation or a ring on
        several interfaces (batches are written then)."""
        state = self._states.get(None)
        part = state.part if state is not None else None
        if (self.format != "pcap" or self.rotation.active or self._partition is not None
                or part is None or not getattr(ring, "reads_records", False)
                or ring.linktype is None):
            return None
        writer = part.writer
        flush_each = part._flush_every_batch

        def write(max_packets: int, timeout: float | None,
                  linger: float | None = None) -> tuple[int, int]:
            # The pump calls again at once: into a file, go on writing blocks
            # as they come until the timeout (``linger``: until then instead),
            # rather than return per wake-up.
            self._check_open()
            n, nbytes = writer.write_from_ring(ring, max_packets, timeout,
                                               linger=(timeout or 0.0) if linger is None
                                               else linger)
            self.packets_written += n
            if n and flush_each and writer.failed is None:
                # A write that fails here is raised by the next call, as one
                # inside write_from_ring is: these n packets are counted first
                try:
                    writer.flush()
                except OSError:
                    if writer.failed is None:
                        raise
            return n, nbytes

        return write
