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
# What the command line added to the environment for itself: the commands it
# runs for the user (-z) get the environment without it.
_ENVIRON_ADDED: tuple = ()
if _COMMAND_LINE and "OPENBLAS_NUM_THREADS" not in _os.environ:
    # The command line (`python -m ringcap`, `ringcap`) does no linear algebra:
    # no BLAS thread pool at all (its threads would sleep at once, below).
    _os.environ["OPENBLAS_NUM_THREADS"] = "1"
    _ENVIRON_ADDED = ("OPENBLAS_NUM_THREADS",)

# numpy's wheels bundle OpenBLAS, which starts a thread per further core as
# numpy loads; each spins waiting for work for 2**28 TSC cycles (~0.1 s of a
# core's CPU, when one is free: a third of a process that streams a million
# packets) before it sleeps.  While numpy loads, the spin is cut to OpenBLAS's
# least, 16 cycles: the threads sleep at once, wake when BLAS is given work
# and sleep again as soon as it is done.  The environment is put back (child
# processes see the user's); a timeout the user set, or numpy loaded first,
# is left be.  numpy may load later than ringcap (the command line imports it
# only for what needs it: `ringcap -w` never does), so this happens around
# numpy's loading itself, wherever that import is (_LoadHooks below).
_BLAS_SPIN = "OPENBLAS_THREAD_TIMEOUT"


class _Loading:
    """A loader that runs ``before()``/``after()`` around another's exec_module,
    then gives the module its own loader back (``__loader__``, ``__spec__``)."""

    def __init__(self, loader, before, after) -> None:
        self._loader, self._before, self._after = loader, before, after

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module) -> None:
        state = self._before()
        try:
            self._loader.exec_module(module)
        finally:
            if getattr(module, "__loader__", None) is self:
                module.__loader__ = self._loader
            spec = getattr(module, "__spec__", None)
            if spec is not None and spec.loader is self:
                spec.loader = self._loader
            self._after(module, state)

    def __getattr__(self, name: str):
        if name == "_loader":                # (not set yet: copy, pickle)
            raise AttributeError(name)
        return getattr(self._loader, name)


def _short_spin_on():
    if _BLAS_SPIN in _os.environ or "GOTO_THREAD_TIMEOUT" in _os.environ:
        return False                         # the user's choice
    _os.environ[_BLAS_SPIN] = "4"            # log2 of the cycles; OpenBLAS takes 4 to 30
    return True


def _short_spin_off(module, was_set: bool) -> None:
    if was_set:
        _os.environ.pop(_BLAS_SPIN, None)


def _batch_loaded(module, state) -> None:
    if hasattr(module, "register_exporter"):        # (not if its import failed)
        for kind in ("arrow", "pandas"):
            module.register_exporter(object, kind, _export_on_first_use(kind))


class _LoadHooks:
    """First on ``sys.meta_path`` until numpy and ringcap.batch have loaded:
    numpy loads with OpenBLAS's short spin, and ringcap.batch gets the
    exporters that import :mod:`ringcap.export` on first use."""

    HOOKS = {"numpy": (_short_spin_on, _short_spin_off),
             "ringcap.batch": (lambda: None, _batch_loaded)}

    @classmethod
    def find_spec(cls, fullname, path=None, target=None):
        hooks = cls.HOOKS.get(fullname)
        if hooks is None:
            return None
        if all(name in _sys.modules for name in cls.HOOKS) or fullname in _sys.modules:
            return None
        for finder in _sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is cls or find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                if spec.loader is not None and hasattr(spec.loader, "exec_module"):
                    spec.loader = _Loading(spec.loader, *hooks)
                return spec
        return None



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


def _export_on_first_use(kind: str):
    """``obj.to_arrow()``/``to_pandas()`` before ``ringcap.export`` was imported:
    import it (it registers the real exporters, for the classes themselves,
    found before this one on ``object``) and export."""
    def export(obj, **options):
        _importlib.import_module(f"{__name__}.export")
        for cls in type(obj).__mro__[:-1]:
            function = _sys.modules[f"{__name__}.batch"]._EXPORTERS.get((cls, kind))
            if function is not None:
                return function(obj, **options)
        raise TypeError(f"no {kind} export is registered for {type(obj).__name__}")
    return export


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


if "numpy" in _sys.modules:
    _LoadHooks.HOOKS = {"ringcap.batch": _LoadHooks.HOOKS["ringcap.batch"]}
_sys.meta_path[:] = [finder for finder in _sys.meta_path    # (once, also after a reload)
                     if not (isinstance(finder, type) and finder.__name__ == "_LoadHooks")]
_sys.meta_path.insert(0, _LoadHooks)
if not _COMMAND_LINE:
    # A library user gets numpy now, as always (the command line: when it needs it)
    from . import batch as _batch  # noqa: E402,F401
