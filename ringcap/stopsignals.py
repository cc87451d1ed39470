"""Stop signals: SIGINT, SIGTERM and SIGHUP recorded as a request to stop.

One class for every loop that ends on them (a capture, ``-r`` reading, the
pool, replay, ``top``).  It uses ``_signal``, not ``signal``: the latter
imports ``enum`` on every start of the command line, which ``-r`` and ``-w``
do not otherwise need.
"""
from __future__ import annotations

import _signal
import os

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    from typing import Callable

STOP_SIGNALS = (_signal.SIGINT, _signal.SIGTERM, _signal.SIGHUP)
# signal.Signals' names, as signal builds them (SIG..., not SIG_DFL/SIG_IGN)
_NAMES: dict = {}
for _name, _number in vars(_signal).items():
    if _name.startswith("SIG") and not _name.startswith("SIG_") and isinstance(_number, int):
        # of two names for a number, the enum's: the first in sorted order
        _NAMES[_number] = min(_name, _NAMES.get(_number, _name))


def signal_name(signum: int) -> str:
    """``SIGINT`` for 2, as ``signal.Signals(signum).name``."""
    return _NAMES.get(signum, f"signal {signum}")


def _pass_on(handler, signum: int, frame) -> None:
    """Do what ``handler`` (a saved signal disposition) would have done."""
    if callable(handler):
        handler(signum, frame)
    elif handler == _signal.SIG_DFL:
        _signal.signal(signum, _signal.SIG_DFL)
        os.kill(os.getpid(), signum)
    # SIG_IGN: nothing


class StopSignals:
    """Turn SIGINT, SIGTERM and SIGHUP into a stop request while active.

    ``with StopSignals() as stop:`` installs handlers that only record the
    signal (so nothing is interrupted half-way: a second Ctrl-C while files
    are being finished changes nothing); ``stop.requested`` is true after the
    first one and ``stop.signal_name`` names it.  As tcpdump does, a SIGHUP
    that is ignored (a program run under ``nohup``) stays ignored.  The
    previous handlers come back on exit (``ignore_after=True``: the signals
    are ignored from then on, for a program that is about to exit).  Outside
    the main thread, handlers cannot be installed and this does nothing.
    ``on_signal(signum)`` is called from the handler.
    """

    def __init__(self, signals=STOP_SIGNALS, on_signal: Callable | None = None,
                 only_default: bool = False, ignore_after: bool = False) -> None:
        self.signals = tuple(signals)
        self.only_default = only_default
        self.ignore_after = ignore_after
        self.received: list[int] = []
        self._saved: dict = {}
        self._passed_on: dict = {}
        self._on_signal = on_signal

    @property
    def requested(self) -> bool:
        return bool(self.received)

    @property
    def signal_name(self) -> str | None:
        return signal_name(self.received[0]) if self.received else None

    def _handle(self, signum, frame) -> None:
        if signum in self._passed_on:       # ended, but still installed: not ours any more
            _pass_on(self._passed_on[signum], signum, frame)
            return
        self.received.append(signum)
        if self._on_signal is not None:
            self._on_signal(signum)

    def __enter__(self) -> "StopSignals":
        for signum in self.signals:
            try:
                previous = _signal.getsignal(signum)
                if signum == _signal.SIGHUP and previous == _signal.SIG_IGN:
                    continue        # run under nohup: keep ignoring hangups, as tcpdump
                if self.only_default and previous not in (
                        _signal.SIG_DFL, _signal.default_int_handler):
                    continue        # someone else handles it: leave it to them
                self._saved[signum] = _signal.signal(signum, self._handle)
            except ValueError:      # not the main thread: left as they are
                break
            except OSError:
                pass
        return self

    def __exit__(self, *exc) -> None:
        for signum, previous in self._saved.items():
            if self.ignore_after:
                previous = _signal.SIG_IGN
            previous = previous if previous is not None else _signal.SIG_DFL
            restored = False
            if _signal.getsignal(signum) == self._handle:
                try:
                    _signal.signal(signum, previous)
                    restored = True
                except ValueError:  # not the main thread
                    pass
            if not restored:
                # someone installed a handler over ours (two of these ended out of
                # order), or this is not the main thread: ours may come back, so
                # from now on it hands the signal to the one it had replaced
                self._passed_on[signum] = previous
        self._saved.clear()

    def __call__(self) -> bool:
        return self.requested
