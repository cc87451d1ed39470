"""ringcap.stopsignals: the one class every loop that ends on SIGINT, SIGTERM
and SIGHUP uses (the capture, ``-r`` reading, the pool, replay, ``top``)."""
import os
import signal
import subprocess
import sys
import threading

from ringcap.stopsignals import STOP_SIGNALS, StopSignals, signal_name


def test_signal_names_are_the_enums():
    for number in signal.Signals:
        assert signal_name(number) == number.name
    assert signal_name(200) == "signal 200"


def test_a_signal_is_recorded_and_the_handler_restored():
    before = signal.getsignal(signal.SIGTERM)
    seen = []
    with StopSignals(on_signal=seen.append) as stop:
        assert not stop.requested and stop.signal_name is None
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.requested and stop()
        assert stop.received == [signal.SIGTERM, signal.SIGINT]
        assert stop.signal_name == "SIGTERM"
    assert seen == [signal.SIGTERM, signal.SIGINT]
    assert signal.getsignal(signal.SIGTERM) == before


def test_an_ignored_hangup_stays_ignored_but_an_ignored_interrupt_is_taken():
    # as tcpdump: SIGHUP under nohup stays ignored; SIGINT and SIGTERM are
    # always the program's (a background job's ignored SIGINT included)
    previous = {s: signal.getsignal(s) for s in STOP_SIGNALS}
    try:
        for s in STOP_SIGNALS:
            signal.signal(s, signal.SIG_IGN)
        with StopSignals() as stop:
            assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
            os.kill(os.getpid(), signal.SIGHUP)
            assert not stop.requested
            os.kill(os.getpid(), signal.SIGINT)
            assert stop.received == [signal.SIGINT]
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def test_ignore_after_and_none_outside_the_main_thread():
    previous = signal.getsignal(signal.SIGHUP)
    try:
        with StopSignals((signal.SIGHUP,), ignore_after=True):
            pass
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        signal.signal(signal.SIGHUP, previous)
    installed = []

    def other_thread():
        with StopSignals() as stop:
            installed.append(dict(stop._saved))

    thread = threading.Thread(target=other_thread)
    thread.start()
    thread.join()
    assert installed == [{}]


def test_out_of_order_exits_hand_the_signal_on():
    # two of these, ended out of order: the first's handler stays installed
    # and from then on passes the signal to the second's
    first = StopSignals((signal.SIGUSR1,)).__enter__()
    second = StopSignals((signal.SIGUSR1,)).__enter__()
    try:
        first.__exit__(None, None, None)
        assert signal.getsignal(signal.SIGUSR1) == second._handle
        second.__exit__(None, None, None)
        # second put back first's handler, which now hands on to the default
        assert signal.getsignal(signal.SIGUSR1) == first._handle
        assert first._passed_on == {signal.SIGUSR1: signal.SIG_DFL}
    finally:
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
    code = ("import os, signal\n"
            "from ringcap.stopsignals import StopSignals\n"
            "a = StopSignals((signal.SIGUSR1,)).__enter__()\n"
            "b = StopSignals((signal.SIGUSR1,)).__enter__()\n"
            "a.__exit__(None, None, None); b.__exit__(None, None, None)\n"
            "os.kill(os.getpid(), signal.SIGUSR1)\n"
            "print('survived')\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == -signal.SIGUSR1, (done.returncode, done.stdout, done.stderr)
    assert "survived" not in done.stdout
