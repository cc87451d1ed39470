"""Issue 9, the ring side: hostile arguments, dead interfaces, statistics
from anywhere, timestamp and loss bits.  Real rings on veth pairs in the
session's private namespace."""
import os
import signal
import threading
import time

import numpy as np
import pytest

from conftest import (TEST_ETHERTYPE, Tap, frame_seq, make_frame, sh, wait_for_packets,
                      wait_until)
from ringcap import Batch, RxRing, TxRing, capture

SMALL = dict(block_size=1 << 20, block_count=16, block_timeout_ms=5)


def ours(batch):
    return batch[batch.protocol == TEST_ETHERTYPE]


@pytest.mark.parametrize("timeout", [float("nan"), float("inf"), -1.0])
def test_read_refuses_nan_infinite_and_negative_timeouts(veth, timeout):
    with RxRing(veth.b, **SMALL) as rx:
        with pytest.raises(ValueError, match="timeout must be"):
            rx.read(timeout=timeout)
        with pytest.raises(ValueError, match="timeout must be"):
            rx.read_view(timeout=timeout)


def test_read_refuses_a_timeout_string(veth):
    with RxRing(veth.b, **SMALL) as rx:
        with pytest.raises(TypeError, match="timeout must be a number of seconds or None, got str"):
            rx.read(timeout="0")


def test_read_refuses_a_huge_max_packets_with_a_value_error(veth):
    with RxRing(veth.b, **SMALL) as rx:
        with pytest.raises(ValueError, match="max_packets must be at most 4294967295, got 9223372036854775808"):
            rx.read(max_packets=2**63, timeout=0)
        with pytest.raises(ValueError, match="max_packets must be at most"):
            rx.read_view(max_packets=2**64, timeout=0)
        assert len(rx.read(max_packets=2**32 - 1, timeout=0)) == 0


@pytest.mark.parametrize("duration", [float("nan"), float("inf"), 0, -3])
def test_capture_refuses_durations_that_never_or_already_end(veth, duration):
    with pytest.raises(ValueError, match="duration must be"):
        capture(veth.b, duration=duration)


# ---------------------------------------------------------------- statistics from anywhere

def _send(iface, frames):
    with TxRing(iface) as tx:
        assert tx.send(frames) == len(frames)


@pytest.mark.timeout(60)
def test_stats_from_a_signal_handler_that_interrupted_a_blocking_read(veth):
    durations, seen = [], []

    def handler(signum, frame):
        t0 = time.monotonic()
        seen.append(rx.stats)
        durations.append(time.monotonic() - t0)

    with RxRing(veth.b, **SMALL) as rx:
        _send(veth.a, [make_frame(i) for i in range(20)])
        wait_for_packets(rx, 20)
        assert len(ours(Batch.concat([rx.read(timeout=1), rx.read(timeout=0.2)]))) == 20
        previous = signal.signal(signal.SIGUSR1, handler)
        stop = threading.Event()

        def ring_the_bell():
            while not stop.wait(0.05):
                os.kill(os.getpid(), signal.SIGUSR1)
        bell = threading.Thread(target=ring_the_bell)
        bell.start()
        try:
            assert len(rx.read(timeout=0.6)) == 0      # nothing comes: the handler runs inside
        finally:
            stop.set()
            bell.join()
            signal.signal(signal.SIGUSR1, previous)
    assert len(durations) >= 3
    # the bound; the best of several calls, so a descheduled thread cannot fail it
    assert min(durations) < 0.1
    assert all(s.delivered >= 20 and s.packets >= 20 and s.pending == 0 for s in seen)


@pytest.mark.timeout(60)
def test_stats_from_another_thread_while_a_read_waits_without_timeout(veth):
    durations, seen = [], []
    with RxRing(veth.b, **SMALL) as rx:
        def ask():
            time.sleep(0.2)                     # the read below is waiting by now
            for _ in range(5):
                t0 = time.monotonic()
                seen.append(rx.stats)
                durations.append(time.monotonic() - t0)
        asker = threading.Thread(target=ask)

        def end_the_read():
            # once the five calls are done, or after 2 s, so that a stats call that
            # waits for the read shows as a slow call rather than a hang
            asker.join(2.0)
            _send(veth.a, [make_frame(7)])
        ender = threading.Thread(target=end_the_read)
        asker.start()
        ender.start()
        try:
            got = rx.read(timeout=None)
        finally:
            asker.join()
            ender.join()
    assert len(ours(got)) == 1
    assert len(seen) == 5 and min(durations) < 0.1
    assert all(s.packets == 0 and s.delivered == 0 for s in seen)


@pytest.mark.timeout(60)
def test_releasing_a_view_never_waits_for_the_ring_lock(veth):
    with RxRing(veth.b, **SMALL) as rx:
        _send(veth.a, [make_frame(i) for i in range(10)])
        wait_for_packets(rx, 10)
        view = rx.read_view(timeout=1)
        assert len(ours(view)) == 10 and rx._core.held_blocks >= 1
        previous = signal.signal(signal.SIGUSR1, lambda *_: view.release())
        try:
            # a signal handler runs while this thread is inside an operation
            # holding the ring's lock (as it would during a read)
            with rx._operation():
                os.kill(os.getpid(), signal.SIGUSR1)
                for _ in range(100):            # the handler runs between bytecodes
                    if view.released:
                        break
                    time.sleep(0.001)
                assert view.released
            assert rx._core.held_blocks == 0    # handed back when the operation ended
        finally:
            signal.signal(signal.SIGUSR1, previous)
        # and from another thread while this one holds the lock
        _send(veth.a, [make_frame(i) for i in range(10, 20)])
        wait_for_packets(rx, 20)
        view = rx.read_view(timeout=1)
        assert len(ours(view)) == 10 and rx._core.held_blocks >= 1
        took = []

        def release():
            t0 = time.monotonic()
            view.release()
            took.append(time.monotonic() - t0)
        with rx._operation():
            t = threading.Thread(target=release)
            t.start()
            t.join(5)
            assert took and took[0] < 2.5 and view.released     # (not held up for the join)
        assert rx._core.held_blocks == 0
        _send(veth.a, [make_frame(20)])
        assert frame_seq(ours(rx.read(timeout=1))[0]) == 20   # the ring reads on


def test_batch_drops_add_up_to_the_ring_drops_when_stats_are_read_between(veth):
    n = 30000
    frames = [make_frame(i, 60) for i in range(n)]
    batches = []
    with RxRing(veth.b, snaplen=1500, block_size=1 << 16, block_count=2,
                block_timeout_ms=1000) as rx:
        sender = threading.Thread(target=_send, args=(veth.a, frames))
        sender.start()
        while True:
            batch = rx.read(timeout=1.5)
            if not len(batch) and not sender.is_alive():
                break
            batches.append(batch)
            time.sleep(0.005)                   # the ring overflows meanwhile ...
            rx.stats                            # ... and this takes the kernel's window
        sender.join()
        stats = rx.stats
    assert stats.drops > 0, "a 128 KiB ring cannot hold 30000 frames"
    assert sum(b.drops for b in batches) == stats.drops
    assert sum(len(b) for b in batches) == stats.delivered
    assert stats.delivered + stats.drops == stats.packets


def test_stats_after_close_are_the_final_counts(veth):
    with RxRing(veth.b, **SMALL) as rx:
        _send(veth.a, [make_frame(i) for i in range(30)])
        wait_for_packets(rx, 30)
        got = rx.read(max_packets=10, timeout=1)
    assert len(got) == 10
    final = rx.stats
    assert final.packets >= 30 and final.delivered == 10 and final.drops == 0
    assert final.pending == final.packets - 10      # never read: counted as unread
    assert rx.stats == final


# ---------------------------------------------------------------- a dead ring says so

class SeqSender(threading.Thread):
    """Sends sequence-numbered frames on `iface` until stopped or the interface is gone."""

    def __init__(self, iface):
        super().__init__(daemon=True)
        self.iface, self.stop, self.sent, self.error = iface, threading.Event(), 0, None

    def run(self):
        tx = TxRing(self.iface, frame_count=256)
        try:
            while not self.stop.is_set():
                self.sent += tx.send([make_frame(self.sent + i) for i in range(64)])
                time.sleep(0.0005)
        except (OSError, ValueError) as exc:       # the interface went away under us
            self.error = exc
        finally:
            tx.close()


def _read_until_dead(rx, limit=20):
    batches = []
    for _ in range(limit):
        try:
            batches.append(rx.read(timeout=2))
        except OSError as exc:
            return batches, exc
    raise AssertionError("the ring never said it was dead")


@pytest.mark.timeout(60)
def test_a_deleted_interface_delivers_what_the_ring_holds_then_says_it_is_dead(veth):
    # a long block timeout: thousands of packets sit in the block the kernel
    # is filling when the interface disappears
    with RxRing(veth.b, block_size=1 << 20, block_count=32, block_timeout_ms=300) as rx:
        sender = SeqSender(veth.a)
        sender.start()
        wait_until(lambda: rx.stats.packets >= 2000, what="2000 frames in the ring")
        first = rx.read(timeout=1)
        sh(f"ip link del {veth.a}")
        sender.join()
        batches, error = _read_until_dead(rx)
        stats = rx.stats
        assert error.errno == 100
        assert f"capturing on {veth.b}" in str(error) and "dead" in str(error)
        # every further read says the same, at once, whatever its timeout
        for call in (lambda: rx.read(timeout=None), lambda: rx.read(timeout=5),
                     lambda: rx.read_view(timeout=None), lambda: rx.read(timeout=0)):
            t0 = time.monotonic()
            with pytest.raises(OSError) as again:
                call()
            assert str(again.value) == str(error) and again.value.errno == 100
            assert time.monotonic() - t0 < 2.5         # not the 5 s timeout, nor forever
    got = ours(Batch.concat([first] + batches))
    seqs = [frame_seq(p) for p in got]
    assert len(got) > 1000 and stats.drops == 0
    # everything the socket accepted was delivered: nothing left unread
    assert stats.pending == 0 and stats.delivered == stats.packets
    assert stats.delivered + stats.drops + stats.pending == stats.packets
    assert len(set(seqs)) == len(seqs) and max(seqs) < sender.sent + 64
    assert set(seqs) == set(range(len(seqs))), "a gap: a packet neither delivered nor counted"


@pytest.mark.timeout(60)
def test_an_interface_that_went_down_leaves_a_dead_ring_with_final_counts(veth):
    with RxRing(veth.b, **SMALL) as rx:
        _send(veth.a, [make_frame(i) for i in range(50)])
        wait_for_packets(rx, 50)
        sh(f"ip link set {veth.b} down")
        batches, error = _read_until_dead(rx)
        assert "went down" in str(error) and veth.b in str(error)
        assert len(ours(Batch.concat(batches))) == 50
        sh(f"ip link set {veth.b} up")
        time.sleep(0.2)
        before = rx.stats
        _send(veth.a, [make_frame(i) for i in range(50, 60)])
        time.sleep(0.1)
        with pytest.raises(OSError, match="dead"):
            rx.read(timeout=1)
        assert rx.stats.packets == before.packets       # a dead ring takes nothing more
    assert rx.stats.pending == 0


# ---------------------------------------------------------------- hostile arguments

def test_a_filter_with_a_nul_is_refused_not_cut(netns):
    from ringcap.bpf import compile_filter
    with pytest.raises(ValueError, match=r"contains a NUL character at position 3"):
        compile_filter("udp\x00 and not udp")
    with pytest.raises(ValueError, match="NUL"):
        RxRing("lo", filter="udp\x00 and not udp")


def test_a_filter_over_the_kernel_limit_says_so_and_messages_stay_short(netns):
    many_hosts = " or ".join(f"ip6 net 2001:db8:{i:x}::/48" for i in range(400))
    with pytest.raises(ValueError) as info:
        RxRing("lo", filter=many_hosts)
    message = str(info.value)
    assert "more than the kernel's limit of 4096 (BPF_MAXINSNS)" in message
    assert f"({len(many_hosts) + 2} characters)" in message and len(message) < 400
    with pytest.raises(ValueError) as info:
        RxRing("lo", filter="nonsense and " + "udp and " * 130000 + "udp")
    assert "invalid capture filter" in str(info.value) and len(str(info.value)) < 600


def test_a_raw_program_over_the_kernel_limit_is_refused(netns):
    program = [(0x06, 0, 0, 0)] * 70000          # wraps an unsigned short if unchecked
    with pytest.raises(ValueError, match="1 to 4096 instructions, got 70000"):
        RxRing("lo", filter=program)


def test_a_huge_interface_name_is_a_short_value_error(netns):
    for call in (lambda: RxRing("x" * 70000), lambda: TxRing("x" * 70000),
                 lambda: RxRing(["lo", "y" * 70000])):
        with pytest.raises(ValueError, match=r"is not a valid interface name") as info:
            call()
        assert "(70000 characters)" in str(info.value) and len(str(info.value)) < 300


def test_txring_refuses_offsets_outside_the_data_with_a_value_error(veth):
    batch = Batch.from_packets([make_frame(i, 9000) for i in range(2)])
    batch.offset[1] = 2**63 - 30
    with TxRing(veth.a, frame_size=16384) as tx:
        with pytest.raises(ValueError, match="packet 1"):
            tx.send(batch)
        batch.offset[1] = -1
        with pytest.raises(ValueError, match="packet 1"):
            tx.send(batch)
        assert tx.sent == 0


# ---------------------------------------------------------------- timestamp and loss bits

def test_losing_from_the_block_descriptor_reaches_every_packet_of_the_block():
    from ringcap import _ring
    from ringcap.batch import TP_STATUS_LOSING
    from ringcap.testing import SyntheticPacket, build_blocks
    frames = [make_frame(i) for i in range(6)]
    quiet = build_blocks([[SyntheticPacket(f) for f in frames[:3]]], 4096)
    losing = build_blocks([[SyntheticPacket(f) for f in frames[3:]]], 4096,
                          status=1 | TP_STATUS_LOSING)
    out = Batch.empty(16, 1 << 14)
    _ring._test_drain_blocks(bytearray(quiet + losing), 4096, out)
    assert out.packets() == frames
    assert [bool(s & TP_STATUS_LOSING) for s in out.status] == [False] * 3 + [True] * 3
    assert out.losing and not out[:3].losing and out[3:].losing


@pytest.mark.timeout(60)
def test_a_deliberately_overflowed_ring_marks_its_packets_losing(veth):
    from ringcap.batch import TP_STATUS_LOSING
    with RxRing(veth.b, snaplen=1500, block_size=1 << 16, block_count=4,
                block_timeout_ms=20) as rx, Tap(veth.b) as tap:
        _send(veth.a, [make_frame(i) for i in range(100)])
        wait_for_packets(rx, 100)           # (statistics read before any drop)
        view = rx.read_view(timeout=1)      # holds a block: the ring cannot drain ...
        assert len(ours(view)) == 100 and not view.losing
        _send(veth.a, [make_frame(i) for i in range(100, 20100)])   # ... so it overflows
        view.release()
        # the block the kernel fills next is closed with drops counted: LOSING
        _send(veth.a, [make_frame(i) for i in range(20100, 20200)])
        tap.wait_for(20200)                 # (the tap's counts: rx's statistics stay unread)
        time.sleep(0.2)                     # ten block timeouts: the last block handed over
        batches = []
        while True:
            batch = rx.read(timeout=0.3)
            if not len(batch):
                break
            batches.append(batch)
        stats = rx.stats
    got = ours(Batch.concat(batches))
    assert stats.drops > 0
    assert any(b.losing for b in batches)
    seqs = np.array([frame_seq(p) for p in got])
    flagged = (got.status & TP_STATUS_LOSING) != 0
    # the last burst came after the drops and before any statistics read
    assert set(range(20100, 20200)) <= set(seqs[flagged].tolist())
    assert stats.delivered + stats.drops == stats.packets


def test_software_timestamping_is_named_per_packet(veth):
    from ringcap.batch import TS_NONE, TS_SOFTWARE, TS_SOURCE_NAMES
    frames = [make_frame(i) for i in range(20)]
    for mode in (None, "software"):
        with RxRing(veth.b, timestamping=mode, **SMALL) as rx:
            _send(veth.a, frames)
            wait_for_packets(rx, len(frames))
            got = ours(rx.read(timeout=1))
        assert got.packets() == frames
        if mode == "software":
            assert got.ts_source.tolist() == [TS_SOFTWARE] * 20
        else:
            # the kernel (tpacket_rcv) prefers a stamp the stack already took, and the
            # stack takes one whenever any socket on the machine asked for receive stamps
            # (chronyd, a capture with timestamping='software' moments before): without
            # the option a packet is TS_NONE or TS_SOFTWARE, and says which
            assert set(got.ts_source.tolist()) <= {TS_NONE, TS_SOFTWARE}
        assert [TS_SOURCE_NAMES[c] for c in got.ts_source] == [
            {TS_NONE: "none", TS_SOFTWARE: "software"}[c] for c in got.ts_source.tolist()]
        now = time.time_ns()
        assert np.all((now - 60 * 10**9 < got.ts) & (got.ts <= now))


def test_hardware_timestamping_where_the_card_cannot_is_a_clear_error(veth):
    from ringcap import _ring
    so_timestamping, rx_filters, phc = _ring.timestamping_capabilities(veth.b)
    assert so_timestamping & (1 << 3) and not so_timestamping & (1 << 6)  # RX_SOFTWARE, no RAW_HW
    assert phc == -1
    with pytest.raises(OSError, match=rf"{veth.b} cannot stamp received packets in hardware.*"
                                      r"timestamping='software'") as info:
        RxRing(veth.b, timestamping="hardware", **SMALL)
    assert info.value.errno == 95
    with pytest.raises(ValueError, match="needs an interface"):
        RxRing(None, timestamping="hardware")
    with pytest.raises(ValueError, match="timestamping must be None, 'software' or 'hardware'"):
        RxRing(veth.b, timestamping="adapter")
