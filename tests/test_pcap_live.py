"""A live ring streamed to a capture file, for real, on a veth pair."""
import threading

from conftest import DEADLINE, drain, make_frame, rings_bound_to, wait_until
from ringcap import RxRing, TxRing, open_pcap, read_pcap
from ringcap.pcap import capture_to_file

SMALL = dict(block_size=1 << 20, block_count=16, block_timeout_ms=5)
# blocks handed over every 100 ms, not 5: the ring holds all 5000 frames even if a loaded
# machine stretches the send over many block timeouts
ROOMY = dict(SMALL, block_timeout_ms=100)


def test_capture_to_file_streams_exact_packets_and_the_counts(veth, tmp_path):
    path = tmp_path / "live.pcapng"
    frames = [make_frame(i, 60 + (i * 7) % 1400) for i in range(5000)]
    result = {}

    def capture():
        result["summary"] = capture_to_file(veth.b, path, count=5000, duration=20,
                                            batch_packets=512, ring_options=ROOMY)

    thread = threading.Thread(target=capture)
    thread.start()
    wait_until(lambda: rings_bound_to(veth.index_b) or not thread.is_alive(),
               what="capture_to_file's ring to open")
    with TxRing(veth.a) as tx:
        tx.send(frames)
    thread.join(DEADLINE)
    summary = result["summary"]
    assert (summary.packets, summary.received, summary.drops) == (5000, 5000, 0)
    batch = read_pcap(path)
    assert batch.packets() == frames
    assert batch.wirelen.tolist() == [len(f) for f in frames]
    with open_pcap(path) as reader:
        for _ in reader:
            pass
        assert [i.name for i in reader.interfaces] == [veth.b]
        assert reader.stats[-1].received == 5000 and reader.stats[-1].os_dropped == 0


def test_loss_in_the_ring_survives_into_the_file(veth, tmp_path):
    path = tmp_path / "lossy.pcapng"
    with RxRing(veth.b, snaplen=1500, block_size=1 << 16, block_count=2,
                block_timeout_ms=1000) as rx, TxRing(veth.a) as tx:
        tx.send([make_frame(i) for i in range(20000)])
        summary = capture_to_file(rx, path, duration=2.0)
        drain(rx)          # nothing may be left behind unaccounted
        stats = rx.stats
    assert summary.drops > 0 and summary.drops == stats.drops
    assert summary.received == stats.packets
    batch = read_pcap(path)
    assert len(batch) == summary.packets == stats.delivered
    assert batch.drops == summary.drops


def _records_and_batches(ring_options, iface, frames, *, snaplen, nanosecond, tx_iface):
    """The same packets written to pcap twice: records straight from one ring's
    blocks (write_from_ring) and batches read from a second ring (write)."""
    import tempfile
    import time

    from ringcap import Batch, PcapWriter
    with tempfile.TemporaryDirectory() as folder:
        direct, batched = f"{folder}/direct.pcap", f"{folder}/batched.pcap"
        t0 = time.time_ns()
        with RxRing(iface, **ring_options) as rx_direct, RxRing(iface, **ring_options) as rx, \
                TxRing(tx_iface) as tx:
            assert rx_direct.reads_records
            tx.send(frames)
            with PcapWriter(direct, snaplen=snaplen, nanosecond=nanosecond,
                            linktype=rx_direct.linktype) as writer:
                written = 0

                def more():
                    nonlocal written
                    n, nbytes = writer.write_from_ring(rx_direct, 7, timeout=0.05)
                    assert nbytes <= n * snaplen
                    written += n
                    return written >= len(frames) and n == 0
                wait_until(more, what="the frames to reach the file")
                assert rx_direct.stats.delivered == written
            got = Batch.concat(drain(rx))
            with PcapWriter(batched, snaplen=snaplen, nanosecond=nanosecond,
                            linktype=rx.linktype) as writer:
                writer.write(got)
        t1 = time.time_ns()
        return read_pcap(direct), read_pcap(batched), t0, t1


def test_pcap_records_straight_from_the_ring_are_what_batches_make(veth):
    """write_from_ring (the `ringcap -w` path) writes each packet as the batch
    path does: VLAN tags put back, cut to the file's snaplen, wire length kept,
    microseconds when asked; and ends each call between records (7 at a time)."""
    plain = [make_frame(i, 60 + (i * 37) % 1400) for i in range(40)]
    tagged = [f[:12] + b"\x81\x00\xa0\x0a" + f[12:] for f in plain[:10]]
    qinq = [f[:12] + b"\x88\xa8\x00\x64\x81\x00\x00\x0a" + f[12:] for f in plain[10:15]]
    frames = tagged + qinq + plain[15:]
    for snaplen in (65535, 100, 14):
        direct, batched, t0, t1 = _records_and_batches(
            SMALL, veth.b, frames, snaplen=snaplen, nanosecond=snaplen != 100,
            tx_iface=veth.a)
        assert direct.packets() == batched.packets() == [f[:snaplen] for f in frames]
        assert direct.wirelen.tolist() == [len(f) for f in frames]
        assert direct.linktype.tolist() == batched.linktype.tolist()
        slack = 1000 if snaplen == 100 else 0            # microsecond files
        assert t0 - slack <= int(direct.ts.min()) and int(direct.ts.max()) <= t1
        if snaplen == 100:
            assert (direct.ts % 1000 == 0).all()


def test_pcap_records_of_a_cooked_ring_carry_the_sll2_header(veth):
    frames = [make_frame(i, 60 + i * 50) for i in range(20)]
    direct, batched, _, _ = _records_and_batches(SMALL, None, frames, snaplen=200,
                                                 nanosecond=True, tx_iface=veth.a)
    # on `any` each frame is seen arriving at veth.b (a TxRing bypasses the taps on
    # the way out), as the 20-byte LINUX_SLL2 header, then the frame from its
    # network header on
    payloads = [f[14:][:180] for f in frames]
    ours = [p for p in direct.packets() if p[20:] in payloads]
    assert sorted(p[20:] for p in ours) == sorted(payloads)
    assert ours == [p for p in batched.packets() if p[20:] in payloads]
    assert {p[:12] for p in ours} == {b"\x88\xb5\x00\x00" + veth.index_b.to_bytes(4, "big")
                                      + b"\x00\x01\x01\x06"}   # Ethernet, broadcast, 6-byte MAC
    assert {p[12:20] for p in ours} == {bytes.fromhex("0200000000010000")}
    assert set(direct.linktype.tolist()) == {276}


def test_large_frames_go_from_the_ring_blocks_straight_into_the_file(veth, tmp_path):
    """Into a regular file, write_from_ring writes each call's records at once
    (writev), frames of 512 bytes or more straight from the ring's blocks:
    the file is what batches make of the same packets (VLAN tags put back
    in front of the in-place bytes, cut to snaplen), and nothing waits in
    the writer's buffer for a flush."""
    from ringcap import PcapWriter
    plain = [make_frame(i, 600 + (i * 97) % 900 if i % 3 else 60 + i) for i in range(60)]
    tagged = [f[:12] + b"\x81\x00\xa0\x0a" + f[12:] for f in plain[:20]]
    frames = tagged + plain[20:]
    for snaplen in (65535, 700):
        direct, batched, _, _ = _records_and_batches(
            SMALL, veth.b, frames, snaplen=snaplen, nanosecond=True, tx_iface=veth.a)
        assert direct.packets() == batched.packets() == [f[:snaplen] for f in frames]
        assert direct.wirelen.tolist() == [len(f) for f in frames]
    path = tmp_path / "at-once.pcap"
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx, \
            PcapWriter(path, linktype=rx.linktype) as writer:
        tx.send(frames)
        written = 0

        def more():
            nonlocal written
            written += writer.write_from_ring(rx, 1000, timeout=0.05)[0]
            return written >= len(frames)
        wait_until(more, what="the frames to reach the file")
        assert written == len(frames)
        assert path.stat().st_size == 24 + sum(16 + len(f) for f in frames)
    assert read_pcap(path).packets() == frames


def test_lingering_write_takes_later_wake_ups_in_the_same_call_up_to_max_packets(
        veth, tmp_path):
    """write_from_ring(linger=) into a file (`ringcap -w`'s step): packets that
    come after the call has written its first blocks go into the file in the
    same call, up to exactly ``max_packets`` (-c); the rest stay in the ring
    for the next call."""
    from ringcap import PcapWriter
    first = [make_frame(i, 100) for i in range(50)]
    second = [make_frame(50 + i, 700) for i in range(80)]
    path = tmp_path / "linger.pcap"
    with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx, \
            PcapWriter(path, linktype=rx.linktype) as writer:
        def later():
            # the first burst is in the file: the call is past its first wake-up
            wait_until(lambda: path.stat().st_size >= 24 + 50 * 116,
                       what="the first burst in the file")
            tx.send(second)
        tx.send(first)
        thread = threading.Thread(target=later)
        thread.start()
        n, _ = writer.write_from_ring(rx, 100, timeout=DEADLINE, linger=DEADLINE)
        thread.join()
        assert n == 100
        assert path.stat().st_size == 24 + 50 * 116 + 50 * 716
        rest = []

        def all_in():
            rest.append(writer.write_from_ring(rx, 1000, timeout=0.05)[0])
            return sum(rest) >= 30
        wait_until(all_in, what="the rest of the second burst")
        assert sum(rest) == 30
    assert read_pcap(path).packets() == first + second


def test_a_signal_or_close_ends_a_lingering_write(veth, tmp_path):
    """A signal (Ctrl-C for `ringcap -w`) or close() from another thread ends a
    write_from_ring(linger=) long before its linger, with every packet taken
    written and counted."""
    import signal
    import time

    from ringcap import PcapWriter
    frames = [make_frame(i, 80 + i) for i in range(40)]
    main = threading.get_ident()
    signals = []
    previous = signal.signal(signal.SIGUSR1, lambda signum, frame: signals.append(signum))
    try:
        for how in ("signal", "close"):
            path = tmp_path / f"{how}.pcap"
            size = 24 + sum(16 + len(f) for f in frames)
            with RxRing(veth.b, **SMALL) as rx, TxRing(veth.a) as tx, \
                    PcapWriter(path, linktype=rx.linktype) as writer:
                returned = threading.Event()

                def poke():
                    wait_until(lambda: path.stat().st_size >= size, what="the frames in the file")
                    while not returned.is_set():
                        # (again until it returns: one landing during a write is seen later)
                        if how == "signal":
                            signal.pthread_kill(main, signal.SIGUSR1)
                        else:
                            rx.close()
                        returned.wait(0.02)
                thread = threading.Thread(target=poke)
                tx.send(frames)
                thread.start()
                started = time.monotonic()
                try:
                    n, _ = writer.write_from_ring(rx, 1000, timeout=DEADLINE, linger=4 * DEADLINE)
                finally:
                    returned.set()
                    thread.join()
                assert time.monotonic() - started < 2 * DEADLINE    # not at the linger's end
                assert n == len(frames) == writer.packets_written
            assert read_pcap(path).packets() == frames
        assert signals
    finally:
        signal.signal(signal.SIGUSR1, previous)


def test_large_cooked_frames_from_the_ring_carry_the_sll2_header(veth):
    frames = [make_frame(i, 600 + i * 40) for i in range(20)]
    direct, batched, _, _ = _records_and_batches(SMALL, None, frames, snaplen=65535,
                                                 nanosecond=True, tx_iface=veth.a)
    payloads = [f[14:] for f in frames]
    ours = [p for p in direct.packets() if p[20:] in payloads]
    assert sorted(p[20:] for p in ours) == sorted(payloads)
    assert ours == [p for p in batched.packets() if p[20:] in payloads]
    assert {p[:12] for p in ours} == {b"\x88\xb5\x00\x00" + veth.index_b.to_bytes(4, "big")
                                      + b"\x00\x01\x01\x06"}
