"""ringcap: Linux packet capture into numpy.

An AF_PACKET TPACKET_V3 ring is drained by a nogil Cython loop into columnar
:class:`Batch` objects (timestamps in integer ns, lengths, offsets, packed
bytes and the kernel's per-packet metadata).

    >>> import ringcap
    >>> batch = ringcap.capture("eth0", count=1000)       # doctest: +SKIP
    >>> with ringcap.RxRing("eth0", filter="udp") as ring:  # doctest: +SKIP
    ...     for batch in ring:
    ...         ...
"""
from .batch import Batch
from .headers import FlowTable, Headers, decode, flows
from .flowmeter import FlowMeter, FlowRecords, flow_features
from . import names
from .bpf import compile_filter
from .fanout import Fanout
from .parallel import ParallelCapture, PoolStats, WorkerDiedError, merge
from .ring import CaptureInterruptedWarning, RingView, RxRing, Stats, TxRing, capture
from .pcapfile import (PcapFormatError, PcapReader, PcapTruncatedError, PcapTruncatedWarning,
                       PcapWriter, open_pcap, read_pcap, write_pcap)
from .capturing import capture_to_file
from .sinks.parquet import FlowSink, ParquetSink      # pyarrow is imported when one is made

__all__ = ["Batch", "Fanout", "ParallelCapture", "PoolStats", "WorkerDiedError", "merge",
           "RxRing", "TxRing", "RingView", "Stats", "capture",
           "CaptureInterruptedWarning", "compile_filter",
           "PcapWriter", "PcapReader", "write_pcap", "read_pcap", "open_pcap", "capture_to_file",
           "PcapFormatError", "PcapTruncatedError", "PcapTruncatedWarning",
           "decode", "flows", "Headers", "FlowTable", "FlowMeter", "FlowRecords",
           "flow_features", "names", "ParquetSink", "FlowSink"]
__version__ = "0.1.0"
