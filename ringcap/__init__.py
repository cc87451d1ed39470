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
import sys as _sys

from .batch import Batch
from .headers import FlowTable, Headers, decode, flows
from .flowmeter import FlowMeter, FlowRecords, flow_features
from . import names
from . import export              # registers to_arrow()/to_pandas() of batches, headers, flows
from .bpf import compile_filter
from .fanout import Fanout
from .parallel import ParallelCapture, PoolStats, WorkerDiedError, merge
from .ring import RingView, RxRing, Stats, TxRing
from .pcapfile import (PcapFormatError, PcapReader, PcapTruncatedError, PcapTruncatedWarning,
                       PcapWriter, open_pcap, read_pcap, write_pcap)
from .capturing import CaptureInterruptedWarning, capture, capture_to_file
from .sinks.parquet import FlowSink, ParquetSink      # pyarrow is imported when one is made

__all__ = ["Batch", "Fanout", "ParallelCapture", "PoolStats", "WorkerDiedError", "merge",
           "RxRing", "TxRing", "RingView", "Stats", "capture",
           "CaptureInterruptedWarning", "compile_filter",
           "PcapWriter", "PcapReader", "write_pcap", "read_pcap", "open_pcap", "capture_to_file",
           "PcapFormatError", "PcapTruncatedError", "PcapTruncatedWarning",
           "decode", "flows", "Headers", "FlowTable", "FlowMeter", "FlowRecords",
           "flow_features", "names", "ParquetSink", "FlowSink"]
__version__ = "0.1.0"


class _MovedModules:
    """Say where a module that is no more went, instead of a bare "No module named".

    On ``sys.meta_path`` after every other finder, so it is asked only about
    names nothing else can import.
    """

    MOVED = {"ringcap.decode": "ringcap.decode is the decode() function, no longer a module: "
                               "import the names of its module from ringcap.headers "
                               "(from ringcap.headers import FIVE_TUPLE_COLUMNS)"}

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        if fullname in cls.MOVED:
            raise ModuleNotFoundError(cls.MOVED[fullname], name=fullname)
        return None


if not any(isinstance(finder, type) and finder.__name__ == "_MovedModules"
           for finder in _sys.meta_path):
    _sys.meta_path.append(_MovedModules)
