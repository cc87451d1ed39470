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
import importlib as _importlib
import os as _os
import sys as _sys

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)

_COMMAND_LINE = (_sys.argv[:1] == ["-m"]
                 or _os.path.basename(_sys.argv[0] if _sys.argv else "") == "ringcap")
# What the command line added to the environment for itself (below): the
# commands it runs for the user (-z) get the environment without it.
_ENVIRON_ADDED: tuple = ()

# numpy's wheels bundle OpenBLAS, which starts a thread per further core as
# numpy loads; each spins waiting for work for 2**28 TSC cycles (~0.1 s of a
# core's CPU, when one is free: a third of a process that streams a million
# packets) before it sleeps.  With OPENBLAS_THREAD_TIMEOUT=4 (log2 of the
# cycles; OpenBLAS takes 4 to 30) the spin is its least, 16 cycles: the
# threads sleep at once, wake when BLAS is given work and sleep again as soon
# as it is done.  A timeout the user set is left be.
_BLAS_SPIN = "OPENBLAS_THREAD_TIMEOUT"


def _short_spin_on() -> bool:
    if _BLAS_SPIN in _os.environ or "GOTO_THREAD_TIMEOUT" in _os.environ:
        return False                         # the user's choice
    _os.environ[_BLAS_SPIN] = "4"
    return True


if _COMMAND_LINE:
    # The command line (`python -m ringcap`, `ringcap`) does no linear algebra:
    # no BLAS thread pool at all, and if the user asks for one, threads that
    # sleep at once.  It imports numpy only when a command needs batches
    # (`ringcap -w` never does).  Its own processes (workers) get the same
    # environment; the -z commands get the user's (_ENVIRON_ADDED).
    if "OPENBLAS_NUM_THREADS" not in _os.environ:
        _os.environ["OPENBLAS_NUM_THREADS"] = "1"
        _ENVIRON_ADDED += ("OPENBLAS_NUM_THREADS",)
    if _short_spin_on():
        _ENVIRON_ADDED += (_BLAS_SPIN,)


if TYPE_CHECKING:              # what type checkers see; at run time, __getattr__ below
    from . import names
    from .batch import Batch
    from .bpf import compile_filter
    from .capturing import CaptureInterruptedWarning, capture, capture_to_file
    from .fanout import Fanout
    from .flowmeter import FlowMeter, FlowRecords, flow_features
    from .headers import FlowTable, Headers, decode, flows
    from .parallel import ParallelCapture
    from .poolstats import PoolStats, WorkerDiedError
    from .timeorder import merge
    from .pcapfile import (PcapFormatError, PcapReader, PcapTruncatedError,
                           PcapTruncatedWarning, PcapWriter, open_pcap, read_pcap, write_pcap)
    from .ring import RingView, RxRing, Stats, TxRing
    from .sinks.parquet import FlowSink, ParquetSink

# Public name -> the module that defines it.  They are imported on first
# use (PEP 562), so `python -m ringcap -i eth0 -w f.pcap` imports the ring,
# the filter and the pcap sink, not the pool, the decoders or Parquet:
# start-up is a cost of every command (see docs/cli.md).
_HOMES = {
    "Batch": "batch",
    "FlowTable": "headers", "Headers": "headers", "decode": "headers", "flows": "headers",
    "FlowMeter": "flowmeter", "FlowRecords": "flowmeter", "flow_features": "flowmeter",
    "compile_filter": "bpf",
    "Fanout": "fanout",
    "ParallelCapture": "parallel", "PoolStats": "poolstats", "WorkerDiedError": "poolstats",
    "merge": "timeorder",
    "RingView": "ring", "RxRing": "ring", "Stats": "ring", "TxRing": "ring",
    "PcapFormatError": "pcapfile", "PcapReader": "pcapfile", "PcapTruncatedError": "pcapfile",
    "PcapTruncatedWarning": "pcapfile", "PcapWriter": "pcapfile", "open_pcap": "pcapfile",
    "read_pcap": "pcapfile", "write_pcap": "pcapfile",
    "CaptureInterruptedWarning": "capturing", "capture": "capturing",
    "capture_to_file": "capturing",
    "FlowSink": "sinks.parquet", "ParquetSink": "sinks.parquet",   # pyarrow: when one is made
}

__all__ = ["Batch", "Fanout", "ParallelCapture", "PoolStats", "WorkerDiedError", "merge",
           "RxRing", "TxRing", "RingView", "Stats", "capture",
           "CaptureInterruptedWarning", "compile_filter",
           "PcapWriter", "PcapReader", "write_pcap", "read_pcap", "open_pcap", "capture_to_file",
           "PcapFormatError", "PcapTruncatedError", "PcapTruncatedWarning",
           "decode", "flows", "Headers", "FlowTable", "FlowMeter", "FlowRecords",
           "flow_features", "names", "ParquetSink", "FlowSink"]


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is not None:
        value = getattr(_importlib.import_module(f"{__name__}.{home}"), name)
    elif not name.startswith("__"):
        try:                                  # a submodule: ringcap.names, ringcap.report, ...
            value = _importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


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


if not _COMMAND_LINE:
    # A library user gets numpy now, as always (the command line: when it
    # needs it); loaded here, with the short spin, and the environment put
    # back afterwards (child processes see the user's)
    _spin = "numpy" not in _sys.modules and _short_spin_on()
    try:
        from . import batch as _batch  # noqa: E402,F401
    finally:
        if _spin:
            _os.environ.pop(_BLAS_SPIN, None)
    del _spin
