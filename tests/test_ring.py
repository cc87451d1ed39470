"""RxRing and TxRing for real, on veth pairs inside the session's private namespace."""
import gc
import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

import ringcap
from conftest import (DEADLINE, TEST_ETHERTYPE, Tap, drain, frame_seq, mac_bytes, make_frame,
                      rings_bound_to, sh, wait_for_packets, wait_until)
from ringcap import Batch, RxRing, TxRing
from ringcap.batch import (LINKTYPE_LINUX_SLL2, PACKET_BROADCAST, PACKET_HOST, PACKET_MULTICAST, PACKET_OTHERHOST,
                           PACKET_OUTGOING, TP_STATUS_VLAN_TPID_VALID, TP_STATUS_VLAN_VALID)

SMALL = dict(block_size=1 << 20, block_count=16, block_timeout_ms=5)


def ours(batch):
    """Only the frames the test sent (the namespace is quiet, but be exact)."""
    return batch[batch.protocol == TEST_ETHERTYPE]


def collect(ring, idle=0.3, max_packets=65536):
    return ours(Batch.concat(drain(ring, idle, max_packets)))


def test_frames_come_back_exact_and_in_order(veth):
    sizes = [60, 61, 64, 100, 127, 512, 1000, 1499, 1514, 2000, 4096, 8000, 9014]
    frames = [make_frame(i, sizes[i % len(sizes)]) for i in range(2000)]
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a, frame_size=16384, frame_count=256) as tx:
        assert tx.send(frames) == len(frames)
        got = collect(rx)
        stats = rx.stats
    assert len(got) == len(frames)
    assert got.packets() == frames                          # every byte, in order
    assert got.caplen.tolist() == [len(f) for f in frames]
    assert got.wirelen.tolist() == [len(f) for f in frames]
    assert np.all(np.diff(got.ts) >= 0)                     # never backwards
    now = time.time_ns()
    assert now - 60 * 10**9 < got.ts[0] <= now              # integer ns since the epoch
    assert np.all(got.ifindex == veth.index_b)
    assert np.all(got.pkttype == PACKET_BROADCAST)
    assert stats.drops == 0 and stats.delivered >= len(frames)
    assert stats.delivered + stats.drops == stats.packets


def test_a_million_frames_arrive_with_zero_drops(veth):
    n = 1_000_000
    base = make_frame(0, 60)
    payload = np.frombuffer(base * n, dtype=np.uint8).reshape(n, 60).copy()
    payload[:, 14:18] = np.arange(n, dtype=">u4").view(np.uint8).reshape(n, 4)
    batch = Batch(ts=np.zeros(n, dtype=np.int64), caplen=np.full(n, 60, dtype=np.uint32),
                  data=payload.reshape(-1))
    # A V3 block is handed over when full or when its timeout expires: at this
    # rate 10 ms blocks would go out a quarter full, so the ring holds all of
    # the traffic only with a timeout longer than the send.
    with RxRing(veth.b, block_size=4 << 20, block_count=64, block_timeout_ms=2000) as rx, \
            TxRing(veth.a) as tx:
        assert tx.send(batch) == n
        out = Batch.empty(65536, 65536 * 64)
        seqs = []
        while True:
            got = rx.read(65536, timeout=3, out=out)
            if not len(got):
                break
            mine = ours(got)
            starts = mine.offset + 14
            seqs.append((mine.data[starts].astype(np.uint32) << 24)
                        | (mine.data[starts + 1].astype(np.uint32) << 16)
                        | (mine.data[starts + 2].astype(np.uint32) << 8)
                        | mine.data[starts + 3].astype(np.uint32))
        stats = rx.stats
    seqs = np.concatenate(seqs)
    assert len(seqs) == n
    assert np.array_equal(seqs, np.arange(n, dtype=np.uint32))
    assert stats.drops == 0 and stats.freeze_count == 0
    assert stats.packets == stats.delivered


def test_a_ring_that_overflows_counts_every_loss(veth):
    n = 30000
    frames = [make_frame(i, 60) for i in range(n)]
    with RxRing(veth.b, snaplen=1500, block_size=1 << 16, block_count=2,
                block_timeout_ms=1000) as rx, TxRing(veth.a) as tx:
        tx.send(frames)
        batches = drain(rx, idle=1.5)
        stats = rx.stats
    got = Batch.concat(batches)
    assert stats.drops > 0, "a 128 KiB ring cannot hold 30000 frames"
    assert len(got) == stats.delivered
    assert stats.delivered + stats.drops == stats.packets
    assert stats.packets + stats.if_drops + stats.backlog_drops >= n
    assert sum(b.drops for b in batches) <= stats.drops
    seqs = [frame_seq(p) for p in ours(got)]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)   # no repeats, in order


@pytest.mark.parametrize("step", [1, 7, 333])
def test_reads_of_odd_sizes_resume_mid_block(veth, step):
    frames = [make_frame(i, 60 + i % 50) for i in range(1500)]
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx:
        tx.send(frames)
        wait_for_packets(rx, len(frames))
        parts = []
        while True:
            b = rx.read(step, timeout=0.3)
            if not len(b):
                break
            assert len(b) <= step
            parts.append(b)
    assert ours(Batch.concat(parts)).packets() == frames


def test_out_batch_is_refilled_in_place(veth):
    frames = [make_frame(i, 100) for i in range(300)]
    out = Batch.empty(128, 128 * 2048)
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx:
        tx.send(frames)
        wait_for_packets(rx, len(frames))
        first = rx.read(100, timeout=1, out=out)
        assert first is out and len(out) == 100
        ts_view = out.ts
        kept = out.copy()
        second = rx.read(100, timeout=1, out=out)
        assert second is out and len(out) == 100
        assert np.shares_memory(ts_view, out.ts)
        rest = collect(rx)
    assert kept.packets() == frames[:100] and out.packets() == frames[100:200]
    assert rest.packets() == frames[200:]
    with pytest.raises(ValueError, match="Batch.empty"):
        with RxRing(veth.b, **SMALL) as rx:
            rx.read(out=kept)


def test_append_adds_reads_to_one_batch_until_its_buffers_are_full(veth):
    frames = [make_frame(i, 60 + i % 200) for i in range(300)]
    out = Batch.empty(250, 250 * 300)
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx:
        with pytest.raises(ValueError, match="out="):
            rx.read(append=True)
        tx.send(frames[:100])
        wait_for_packets(rx, 100)
        assert len(rx.read(60, timeout=1, out=out)) == 60
        data_view = out.data
        assert rx.read(40, timeout=1, out=out, append=True) is out and len(out) == 100
        tx.send(frames[100:])
        wait_for_packets(rx, len(frames))
        while len(rx.read(1000, timeout=0.2, out=out, append=True)) < 250:
            pass
        assert len(rx.read(10, timeout=0.2, out=out, append=True)) == 250   # full: no change
        assert np.shares_memory(data_view, out.data)
        assert out.drops == 0
        assert out.packets() == frames[:250]           # offsets point into the one buffer
        assert np.array_equal(out.offset[1:], out.offset[:-1] + out.caplen[:-1])
        rest = collect(rx)
    assert rest.packets() == frames[250:]


class Sender(threading.Thread):
    """Sends alternating ethertypes on `iface` until stopped."""

    def __init__(self, iface, sizes=(60,)):
        super().__init__(daemon=True)
        self.iface, self.sizes, self.stop, self.sent = iface, sizes, threading.Event(), 0

    def run(self):
        with TxRing(self.iface, frame_count=256) as tx:
            seq = 0
            while not self.stop.is_set():
                frames = [make_frame(seq + i, self.sizes[i % len(self.sizes)],
                                     ethertype=TEST_ETHERTYPE + (i % 2)) for i in range(64)]
                seq += tx.send(frames)
                self.sent = seq
                time.sleep(0.001)


@pytest.mark.parametrize("spec", [
    "ether proto 0x88b5",
    [(0x28, 0, 0, 12), (0x15, 0, 1, TEST_ETHERTYPE), (0x06, 0, 0, 0x40000), (0x06, 0, 0, 0)],
])
def test_filter_holds_from_the_first_packet(veth, spec):
    sender = Sender(veth.a)
    sender.start()
    try:
        # traffic of both kinds is flowing before the ring opens
        wait_until(lambda: sender.sent >= 256, what="the sender's first frames")
        for _ in range(3):
            with RxRing(veth.b, filter=spec, **SMALL) as rx:
                first = rx.read(timeout=DEADLINE)
                rest = [rx.read(timeout=0.05) for _ in range(5)]
            got = Batch.concat([first] + rest)
            assert len(first) > 0
            assert set(got.protocol.tolist()) == {TEST_ETHERTYPE}
            assert all(frame_seq(p) % 2 == 0 for p in got)
    finally:
        sender.stop.set()
        sender.join()


def test_snaplen_truncates_and_keeps_wire_length(veth):
    frames = [make_frame(i, 300) for i in range(50)]
    with RxRing(veth.b, snaplen=100, **SMALL) as rx, TxRing(veth.a) as tx:
        tx.send(frames)
        got = collect(rx)
    assert got.caplen.tolist() == [100] * 50 and got.wirelen.tolist() == [300] * 50
    assert got.packets() == [f[:100] for f in frames]


def test_ignore_outgoing(veth):
    frames = [make_frame(i) for i in range(100)]
    with RxRing(veth.a, **SMALL) as both, RxRing(veth.a, ignore_outgoing=True, **SMALL) as inbound, \
            TxRing(veth.a, qdisc_bypass=False) as tx:
        tx.send(frames)
        seen = collect(both)
        seen_in = collect(inbound, idle=0.1)
    assert seen.packets() == frames and np.all(seen.pkttype == PACKET_OUTGOING)
    assert len(seen_in) == 0


def test_pkttype_tells_host_broadcast_multicast_otherhost(veth):
    dsts = [mac_bytes(veth.mac_b), b"\xff" * 6, b"\x01\x00\x5e\x00\x00\x01",
            b"\x02\x11\x22\x33\x44\x55"]
    frames = [make_frame(i, dst=dsts[i]) for i in range(4)]
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx:
        tx.send(frames)
        got = collect(rx)
    assert got.packets() == frames
    assert got.pkttype.tolist() == [PACKET_HOST, PACKET_BROADCAST, PACKET_MULTICAST,
                                    PACKET_OTHERHOST]


def test_all_interfaces_are_told_apart_by_ifindex(veth):
    from conftest import VethPair
    other = VethPair()
    try:
        with RxRing(None, filter="ether proto 0x88b5", **SMALL) as rx, \
                TxRing(veth.a) as tx1, TxRing(other.a) as tx2:
            tx1.send([make_frame(i) for i in range(0, 10)])
            tx2.send([make_frame(i) for i in range(10, 20)])
            got = collect(rx)
    finally:
        other.delete()
    # all interfaces: a cooked capture, each frame behind a LINUX_SLL2 header
    # (20 bytes, not Ethernet's 14) naming its interface, as tcpdump -i any writes
    assert got.linktype.tolist() == [LINKTYPE_LINUX_SLL2] * 20
    by_seq = {frame_seq(p[6:]): int(ix) for p, ix in zip(got, got.ifindex)}
    assert by_seq == {**{i: veth.index_b for i in range(10)},
                      **{i: other.index_b for i in range(10, 20)}}
    assert {frame_seq(p[6:]): int.from_bytes(p[4:8], "big") for p in got} == by_seq
    assert got.interfaces is None


def test_vlan_tags_are_restored_and_reported(veth):
    plain = make_frame(1, 80)
    dot1q = plain[:12] + b"\x81\x00\xa0\x0a" + plain[12:]            # PCP 5, VID 10
    qinq = plain[:12] + b"\x88\xa8\x00\x64\x81\x00\x00\x0a" + plain[12:]
    with RxRing(veth.b, **SMALL) as rx, RxRing(veth.b, reinsert_vlan=False, **SMALL) as raw, \
            TxRing(veth.a) as tx:
        tx.send([dot1q, qinq, plain])
        got = Batch.concat(drain(rx))
        stripped = Batch.concat(drain(raw, idle=0.05))
    assert got.packets() == [dot1q, qinq, plain]
    assert got.vlan_tci.tolist() == [0xA00A, 0x0064, 0]
    assert got.vlan_tpid.tolist() == [0x8100, 0x88A8, 0]
    assert got.status[0] & TP_STATUS_VLAN_VALID and got.status[1] & TP_STATUS_VLAN_TPID_VALID
    assert not got.status[2] & TP_STATUS_VLAN_VALID
    assert stripped.packets() == [plain, plain[:12] + b"\x81\x00\x00\x0a" + plain[12:], plain]
    assert stripped.vlan_tci.tolist() == [0xA00A, 0x0064, 0]


def test_other_threads_run_while_a_read_blocks(veth):
    counter = [0]
    stop = threading.Event()

    def spin():
        while not stop.is_set():
            counter[0] += 1

    with RxRing(veth.b, **SMALL) as rx:
        worker = threading.Thread(target=spin)
        worker.start()
        before = counter[0]
        t0 = time.monotonic()
        batch = rx.read(timeout=0.5)
        elapsed = time.monotonic() - t0
        during = counter[0] - before
        stop.set()
        worker.join()
    assert len(batch) == 0 and 0.45 <= elapsed < 5
    assert during > 10000        # the worker held the GIL most of the half second


def test_ctrl_c_interrupts_a_blocking_read_and_the_ring_stays_usable(veth):
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx:
        timer = threading.Timer(0.2, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            rx.read(timeout=None)
        assert time.monotonic() - t0 < 10
        timer.join()
        tx.send([make_frame(7)])
        got = ours(rx.read(timeout=2))
        assert got.packets() == [make_frame(7)]
    assert rx.closed


def test_iteration_ends_when_another_thread_closes_the_ring(veth):
    rx = RxRing(veth.b, **SMALL)
    seen = []
    done = threading.Event()

    def consume():
        for batch in rx:
            seen.append(len(batch))
        done.set()

    thread = threading.Thread(target=consume)
    thread.start()
    with TxRing(veth.a) as tx:
        tx.send([make_frame(i) for i in range(10)])
        wait_until(lambda: sum(seen) >= 10, what="the iterating thread to get the 10 frames")
    t0 = time.monotonic()
    rx.close()
    assert time.monotonic() - t0 < 10
    assert done.wait(DEADLINE)
    thread.join()
    assert sum(seen) == 10


def test_capture_stops_at_count_or_duration(veth):
    frames = [make_frame(i, 70) for i in range(500)]
    result = {}

    def run():
        result["batch"] = ringcap.capture(veth.b, count=300, duration=5,
                                          filter="ether proto 0x88b5", **SMALL)

    thread = threading.Thread(target=run)
    thread.start()
    wait_until(lambda: rings_bound_to(veth.index_b) or not thread.is_alive(),
               what="capture()'s ring to open")
    with TxRing(veth.a) as tx:
        tx.send(frames)
    thread.join()
    batch = result["batch"]
    assert batch.packets() == frames[:300] and batch.is_packed() and batch.drops == 0
    t0 = time.monotonic()
    empty = ringcap.capture(veth.b, duration=0.3, **SMALL)
    assert 0.25 <= time.monotonic() - t0 < 10 and len(ours(empty)) == 0
    for bad in (float("nan"), float("inf"), 0):
        with pytest.raises(ValueError, match="duration"):
            ringcap.capture(veth.b, duration=bad)


def test_ctrl_c_during_capture_returns_every_packet_captured(veth):
    """Ctrl-C (a notebook's "interrupt kernel") ends capture() without losing a packet:
    the ones read and the ones still waiting in the ring come back, with a warning."""
    frames = [make_frame(i, 100) for i in range(3000)]

    # capture() handles Ctrl-C only where Python's default handler is in place
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler

    def send_then_interrupt():
        wait_until(lambda: rings_bound_to(veth.index_b)
                   and signal.getsignal(signal.SIGINT) is not signal.default_int_handler,
                   what="capture()'s ring to open and its Ctrl-C handler to be in place")
        with Tap(veth.b) as tap, TxRing(veth.a) as tx:
            tx.send(frames)
            tap.wait_for(len(frames))           # capture()'s ring has them too
        os.kill(os.getpid(), signal.SIGINT)

    # a long block timeout keeps packets in the ring until the interrupt
    sender = threading.Thread(target=send_then_interrupt)
    sender.start()
    try:
        with pytest.warns(ringcap.CaptureInterruptedWarning, match="3000 packets"):
            batch = ringcap.capture(veth.b, filter="ether proto 0x88b5",
                                    **{**SMALL, "block_timeout_ms": 1000})
    finally:
        sender.join()
    assert batch.packets() == frames and batch.drops == 0
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


# ---------------------------------------------------------------------- errors

def test_no_cap_net_raw_is_a_permission_error_saying_what_to_do(netns):
    code = ("import ringcap\n"
            "try:\n"
            "    ringcap.RxRing('lo', block_size=1 << 20, block_count=2)\n"
            "except PermissionError as e:\n"
            "    print('PermissionError', e)\n")

    def drop_net_raw():
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        PR_CAPBSET_DROP, CAP_NET_RAW = 24, 13
        if libc.prctl(PR_CAPBSET_DROP, CAP_NET_RAW, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl")

    # run outside the source tree, importing the very ringcap under test
    package_root = os.path.dirname(os.path.dirname(ringcap.__file__))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          preexec_fn=drop_net_raw, cwd="/",
                          env={**os.environ, "PYTHONPATH": package_root})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("PermissionError")
    assert "CAP_NET_RAW" in proc.stdout and "sudo" in proc.stdout and "setcap" in proc.stdout


def test_unknown_interface_is_named(netns):
    with pytest.raises(OSError, match="no network interface named 'nosuch0'") as info:
        RxRing("nosuch0", **SMALL)
    assert info.value.errno == 19
    with pytest.raises(OSError, match="'nosuch1'"):
        TxRing("nosuch1")


@pytest.mark.parametrize("kwargs, message", [
    (dict(block_size=5000), "multiple of the page size"),
    (dict(block_size=65536, snaplen=65535), "does not fit a block"),
    (dict(block_count=0), "block_count must be positive"),
    (dict(block_size=0), "block_size must be positive"),
    (dict(snaplen=0), "snaplen must be positive"),
    (dict(block_timeout_ms=0), "block_timeout_ms must be positive"),
    (dict(block_size=1 << 30, block_count=4), "under 4 GiB"),
    (dict(filter="tcp port port"), "invalid capture filter"),
    (dict(filter=[(0x28, 0, 0, 12)]), "return instruction"),
])
def test_bad_geometry_and_filters_fail_before_any_syscall(kwargs, message):
    # an interface that does not exist: the ValueError must come before the lookup
    with pytest.raises(ValueError, match=message):
        RxRing("nosuch0", **kwargs)


def test_kernel_refusing_the_ring_says_the_size_and_what_to_do():
    from ringcap._ring import _test_raise_os_error
    with pytest.raises(OSError) as info:
        _test_raise_os_error(12, "setsockopt(PACKET_RX_RING) with 64 blocks of 4 MiB (256 MiB in all)")
    text = str(info.value)
    assert info.value.errno == 12
    assert "64 blocks of 4 MiB (256 MiB in all)" in text and "smaller" in text


def _open_fds():
    return set(os.listdir("/proc/self/fd"))


def _socket_mappings():
    with open("/proc/self/maps") as f:
        return [line for line in f if "socket:" in line or "packet" in line.lower()]


def test_use_after_close_raises_and_nothing_outlives_close(veth):
    fds, maps = _open_fds(), _socket_mappings()
    rx = RxRing(veth.b, **SMALL)
    tx = TxRing(veth.a)
    assert len(_socket_mappings()) == len(maps) + 2
    rx.close()
    tx.close()
    rx.close()        # idempotent
    assert _open_fds() == fds and _socket_mappings() == maps
    assert rx.stats.packets == 0           # the final counts stay readable
    for call in (lambda: rx.read(timeout=0), rx.fileno, lambda: rx.__enter__(),
                 lambda: tx.send([make_frame(1)]), tx.fileno):
        with pytest.raises(ValueError, match="closed"):
            call()
    assert list(rx) == []


def test_an_unclosed_ring_warns(veth):
    rx = RxRing(veth.b, **SMALL)
    socket_fd = os.readlink(f"/proc/self/fd/{rx.fileno()}")
    with pytest.warns(ResourceWarning, match=f"unclosed RxRing on {veth.b}"):
        del rx
        gc.collect()
    # the warning also closed it: that socket is no longer open in this process
    open_now = [os.readlink(f"/proc/self/fd/{fd}") for fd in os.listdir("/proc/self/fd")
                if os.path.exists(f"/proc/self/fd/{fd}")]
    assert socket_fd not in open_now
    tx = TxRing(veth.a)
    with pytest.warns(ResourceWarning, match=f"unclosed TxRing on {veth.a}"):
        del tx
        gc.collect()


def test_frames_the_kernel_would_refuse_are_refused_before_sending(veth):
    sh(f"ip link set {veth.a} mtu 1500")
    tagged = make_frame(1, 1514)
    tagged = tagged[:12] + b"\x81\x00\x00\x05" + tagged[12:]          # 1518 bytes: allowed
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a, frame_size=4096) as tx:
        with pytest.raises(ValueError, match="at most 4064.*larger frame_size"):
            tx.send([make_frame(0, 5000)])
        with pytest.raises(ValueError, match="packet 1 has 10 bytes.*nothing was sent"):
            tx.send([make_frame(0), b"\xff" * 10])
        with pytest.raises(ValueError, match=f"packet 2 has 1515 bytes but the MTU of {veth.a} "
                                             f"is 1500.*nothing was sent"):
            tx.send([make_frame(0), tagged, make_frame(2, 1515)])
        assert tx.send([]) == 0
        assert tx.send([make_frame(0, 1514), tagged]) == 2
        got = Batch.concat(drain(rx))
    assert got.packets() == [make_frame(0, 1514), tagged]


def test_a_frame_the_kernel_refuses_leaves_the_ring_usable(veth):
    good = [make_frame(i) for i in range(40)]
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a, frame_count=16) as tx:
        bad = Batch.from_packets(good[:5] + [b"\xff" * 10] + good[5:10])
        # bypass the size check: the kernel itself refuses the short frame
        with pytest.raises(ValueError, match="refused packet 5 .10 bytes.*5 packets before it "
                                             "were sent"):
            tx._core.send(bad.offset, bad.caplen, bad.data)
        assert tx.send(good) == 40
        got = ours(Batch.concat(drain(rx)))
    assert got.packets() == good[:5] + good


def test_stats_are_cumulative_and_batches_carry_their_window(veth):
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx:
        s0 = rx.stats
        assert (s0.packets, s0.drops, s0.delivered) == (0, 0, 0)
        tx.send([make_frame(i) for i in range(40)])
        got = collect(rx)
        s1 = rx.stats
        tx.send([make_frame(i) for i in range(60)])
        got2 = collect(rx)
        s2 = rx.stats
    assert len(got) == 40 and len(got2) == 60
    assert s1.packets == 40 and s2.packets == 100          # accumulated across reads
    assert s2.delivered == 100 and s2.drops == 0 and s2.pending == 0
    assert isinstance(s2.if_drops, int) and isinstance(s2.backlog_drops, int)


# ---------------------------------------------------------------------- zero copy

def test_zero_copy_view_reads_the_ring_in_place(veth):
    frames = [make_frame(i, 60 + (i * 37) % 1400) for i in range(3000)]
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx:
        tx.send(frames)
        wait_for_packets(rx, len(frames))
        got = []
        kept = None
        while True:
            with rx.read_view(500, timeout=0.3) as view:
                if not len(view):
                    break
                assert len(view) <= 500 and not view.data.flags.writeable
                mine = ours(view)
                got.extend(mine.packets())
                if kept is None:
                    kept = mine[:3].copy()
        assert view.released
        stats = rx.stats
    assert got == frames
    assert type(kept) is Batch and kept.packets() == frames[:3]
    assert stats.drops == 0 and stats.delivered == stats.packets


def test_a_released_view_raises_instead_of_returning_stale_bytes(veth):
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx:
        tx.send([make_frame(i) for i in range(10)])
        # the 5 ms retire timer may close a block mid-send: wait until every block holding
        # the ten has retired, so one view covers all of them
        wait_for_packets(rx, 10)
        view = rx.read_view(timeout=1)
        part = view[view.protocol == TEST_ETHERTYPE]
        assert len(part) == 10 and part[0] == make_frame(0)
        with pytest.raises(ValueError, match="still held"):
            rx.read(timeout=0)
        with pytest.raises(ValueError, match="still held"):
            rx.read_view(timeout=0)
        view.release()
        view.release()                          # idempotent
        for use in (lambda: view[0], lambda: part[0], lambda: view.data, view.packets,
                    view.copy, lambda: list(part)):
            with pytest.raises(ValueError, match="released"):
                use()
        assert len(view.ts) == len(view) and view.caplen[0] == 60   # metadata stays readable
        tx.send([make_frame(99)])
        assert ours(rx.read(timeout=1)).packets() == [make_frame(99)]


def test_a_view_outliving_its_ring_cannot_crash(veth):
    rx = RxRing(veth.b, **SMALL)
    with TxRing(veth.a) as tx:
        tx.send([make_frame(i, 200) for i in range(5)])
    view = rx.read_view(timeout=1)
    raw = view.data                    # an array taken out before close
    first = view[0]
    rx.close()
    assert raw[int(view.offset[0]):int(view.offset[0]) + 200].tobytes() == first
    view.release()
    del raw, view


def test_dropped_view_gives_its_blocks_back(veth):
    with RxRing(veth.b, block_size=1 << 16, block_count=2, snaplen=1500,
                block_timeout_ms=5) as rx, TxRing(veth.a) as tx:
        tx.send([make_frame(i, 1000) for i in range(40)])
        view = rx.read_view(timeout=1)
        n = len(view)
        assert n > 0
        del view
        gc.collect()
        tx.send([make_frame(i, 1000) for i in range(40, 50)])
        rest = collect(rx)
        stats = rx.stats
    seqs = [frame_seq(p) for p in rest]
    assert seqs == list(range(n, n + len(seqs)))       # resumes right after the view
    assert n + len(seqs) + stats.drops == 50


def test_zero_copy_view_restores_vlan_tags_in_place(veth):
    plain = make_frame(1, 80)
    dot1q = plain[:12] + b"\x81\x00\x20\x07" + plain[12:]
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx:
        tx.send([dot1q, plain])
        wait_for_packets(rx, 2)             # both in retired blocks: one view holds both
        with rx.read_view(timeout=1) as view:
            assert view.packets() == [dot1q, plain]
            assert view.vlan_tci.tolist() == [0x2007, 0]


@pytest.mark.parametrize("snaplen", [12, 13, 14, 15])
def test_a_snaplen_under_16_keeps_the_start_of_the_vlan_tag_as_tcpdump(veth, tmp_path, snaplen):
    """RxRing(snaplen=N < 16): libpcap puts the stripped tag back into any
    frame that holds the MACs, counts it in both lengths and then cuts to N,
    so `tcpdump -s 14` keeps the MACs and 81 00.  The ring put no tag back
    under 16 bytes: its packets said 88 b5 (the inner type, as if untagged)
    and their wire length missed the tag.  read(), read_view() and records
    (write_from_ring, as `ringcap -w` writes) against tcpdump's file."""
    from test_linktypes_live import Tcpdump
    src = b"\x02\x00\x00\x00\x00\x01"
    plain = [make_frame(i, 60 + 7 * i, dst=b"\x02" * 6, src=src) for i in range(6)]
    frames = [f[:12] + b"\x81\x00\xa0\x0a" + f[12:] if i % 3 == 1 else
              f[:12] + b"\x88\xa8\x00\x64\x81\x00\x00\x0a" + f[12:] if i % 3 == 2 else f
              for i, f in enumerate(plain)]
    theirs, records = tmp_path / "tcpdump.pcap", tmp_path / "records.pcap"
    options = dict(SMALL, snaplen=snaplen, filter="ether src 02:00:00:00:00:01")
    # (no filter: tcpdump's takes nothing with -s under 14)
    tcpdump = Tcpdump(veth.b, str(theirs), "", options=("-s", str(snaplen)))
    try:
        with RxRing(veth.b, **options) as rx, RxRing(veth.b, **options) as viewed, \
                RxRing(veth.b, **options) as recorded:
            with TxRing(veth.a) as tx:
                tx.send(frames)
            for ring in (rx, viewed, recorded):
                wait_for_packets(ring, len(frames))
            got = rx.read(100, timeout=1)
            with viewed.read_view(timeout=1) as view:
                seen = (view.packets(), view.wirelen.tolist())
            with ringcap.PcapWriter(records, snaplen=snaplen) as writer:
                writer.write_from_ring(recorded, 100, timeout=1)
        wait_until(lambda: theirs.stat().st_size >= 24 + len(frames) * (16 + snaplen),
                   what="tcpdump's file to hold the frames")
    finally:
        tcpdump.finish()
    mine = ringcap.read_pcap(theirs)
    mine = mine[np.array([p[6:12] == src for p in mine.packets()], dtype=bool)]
    expected = (mine.packets(), mine.wirelen.tolist())
    assert expected == ([f[:snaplen] for f in frames], [len(f) for f in frames])
    assert (got.packets(), got.wirelen.tolist()) == expected
    assert seen == expected
    from_records = ringcap.read_pcap(records)
    assert (from_records.packets(), from_records.wirelen.tolist()) == expected


def test_interface_going_down_ends_a_read_with_a_clear_error(veth):
    with RxRing(veth.b, **SMALL) as rx:
        timer = threading.Timer(0.2, sh, (f"ip link set {veth.b} down",))
        timer.start()
        t0 = time.monotonic()
        with pytest.raises(OSError, match=f"capturing on {veth.b}: Network is down") as info:
            rx.read(timeout=30)
        timer.join()
        assert info.value.errno == 100 and time.monotonic() - t0 < 10


def test_close_from_a_signal_handler_ends_iteration(veth):
    rx = RxRing(veth.b, **SMALL)
    previous = signal.signal(signal.SIGALRM, lambda *_: rx.close())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        t0 = time.monotonic()
        batches = list(rx)                 # blocks until the handler closes the ring
        assert batches == [] and rx.closed and time.monotonic() - t0 < 10
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    with pytest.raises(ValueError, match="closed"):
        rx.read(timeout=0)


def test_snaplen_holds_even_when_the_filter_returns_the_whole_packet(veth):
    ld_len_ret_a = [(0x80, 0, 0, 0), (0x16, 0, 0, 0)]        # ld len; ret a
    frames = [make_frame(i, 1000) for i in range(20)]
    with RxRing(veth.b, snaplen=128, filter=ld_len_ret_a, **SMALL) as rx, TxRing(veth.a) as tx:
        tx.send(frames)
        got = collect(rx)
        tx.send(frames)
        wait_for_packets(rx, 2 * len(frames))
        with rx.read_view(timeout=1) as view:
            viewed = ours(view).packets()
    assert got.caplen.tolist() == [128] * 20 and got.wirelen.tolist() == [1000] * 20
    assert got.packets() == [f[:128] for f in frames]
    assert viewed == [f[:128] for f in frames]


def test_promisc_is_set_while_the_ring_is_open(veth):
    def promiscuity():      # the device's promiscuous-mode reference count
        return int(sh(f"ip -d -o link show {veth.b}").split(" promiscuity ")[1].split()[0])

    assert promiscuity() == 0
    with RxRing(veth.b, promisc=True, **SMALL):
        assert promiscuity() == 1
    assert promiscuity() == 0
    with pytest.raises(ValueError, match="promisc=True needs an interface"):
        RxRing(None, promisc=True, **SMALL)


def test_a_captured_batch_sent_back_out_is_the_same_bytes(veth):
    from conftest import VethPair
    other = VethPair()
    frames = [make_frame(i, 60 + 17 * i) for i in range(50)]
    try:
        with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx:
            tx.send(frames)
            first = collect(rx)
        every_other = first[::2]                    # not packed: offsets into shared data
        assert not every_other.is_packed()
        with RxRing(other.b, **SMALL) as rx2, TxRing(other.a) as tx2:
            assert tx2.send(every_other) == 25
            replayed = collect(rx2)
    finally:
        other.delete()
    assert replayed.packets() == frames[::2]


def test_batches_you_keep_are_never_overwritten_by_later_reads(veth):
    frames = [make_frame(i, 100 + i % 200) for i in range(3000)]
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx:
        kept = []
        for start in range(0, 3000, 300):
            tx.send(frames[start:start + 300])
            wait_for_packets(rx, start + 300)
            batch = ours(rx.read(300, timeout=1))
            if start % 600 == 0:
                kept.append((start, batch, batch.ts[:5], batch.data))   # batch, a slice, data
            del batch
        # buffers nobody holds are recycled: the pool stays small
        assert len(rx._buffers._stores) <= rx._buffers.SIZE
    for start, batch, ts_head, data in kept:
        assert batch.packets() == frames[start:start + len(batch)] and len(batch) > 0
        assert np.array_equal(ts_head, batch.ts[:5])


def test_tx_frames_that_do_not_divide_the_block(veth):
    """frame_size 9056 gives 12 KiB blocks of one frame each: frame i lives at block i, not at
    i * frame_size (the kernel's layout), or the kernel sends stale slots and stops early."""
    frames = [make_frame(i, 60 + (i * 37) % 8900) for i in range(600)]
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a, frame_size=9056, frame_count=64) as tx:
        assert tx.send(frames) == len(frames)
        got = collect(rx)
    assert got.packets() == frames
