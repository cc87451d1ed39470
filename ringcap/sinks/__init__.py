"""Sinks: the one way batches leave ringcap over time (files, streams, datasets).

The protocol every sink follows (:class:`Sink`)::

    sink.write(batch) -> int     append the packets; returns how many were taken
                                 (fewer only once sink.done)
    sink.flush()                 hand buffered bytes to the operating system
    sink.tick(now_ns=None)       housekeeping on a quiet link (finish files whose
                                 time is up); call it when a read returns nothing
    sink.done                    True once the sink takes no more packets
                                 (e.g. -W N files with -G)
    sink.close(stats=None)       finish every file, writing stats (a ring's Stats)
      -> SinkSummary             where the format keeps them; idempotent
    sink.packets_written, sink.bytes_written
    sink.packets_in_files        of those, in records the OS already holds (what a
                                 SIGKILL leaves; the pool's workers publish it)
    sink.files                   finished files, in order
    with sink: ...               closes on the way out

Rotation (size, time, packet count, file count), partitioning by a
per-packet key, atomic write-then-rename, file owner, permissions and the
post-rotate hook live once, in :class:`RotatingSink`; a file format only
supplies a *part* (one open file: ``write``, ``flush``, ``close(stats)``,
``packets_written``, ``bytes_written``, ``record_sizes``).  :class:`PcapSink`
is the pcap/pcapng one; :class:`ParquetSink` and :class:`FlowSink` write
Hive-partitioned Parquet datasets of packets or flow records.  The command line, :func:`ringcap.capture_to_file`
and the worker pool all drive sinks; none writes files its own way.

A sink is used from one thread at a time.  The drivers finish it on every
exit path (Ctrl-C, SIGTERM, errors) by calling ``close(stats)``.
"""
from .._lazy import lazy_attributes as _lazy_attributes

from .base import Sink, SinkSummary
from .driving import CaptureSummary
from .pcap import PcapPart, PcapSink, format_for_path
from .rotating import (FileSlot, PostRotateCommand, RotatingSink, Rotation, TcpdumpNaming,
                       resolve_owner)

__all__ = ["Sink", "SinkSummary", "RotatingSink", "Rotation", "FileSlot", "TcpdumpNaming",
           "PostRotateCommand", "resolve_owner", "PcapSink", "PcapPart", "format_for_path",
           "ParquetSink", "FlowSink", "DatasetWorkers", "CaptureSummary"]


# The Parquet sinks (pyarrow, the decoders, the flow meter) load on first
# use, so capturing to pcap does not pay for importing them.
__getattr__ = _lazy_attributes(__name__, dict.fromkeys(("ParquetSink", "FlowSink",
                                                       "DatasetWorkers"), f"{__name__}.parquet"))


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
