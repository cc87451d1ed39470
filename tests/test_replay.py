"""Replaying capture files through a TxRing (ringcap.replay), captured on the peer of a veth pair."""
from __future__ import annotations

import os
import re
import signal
import struct
import subprocess
import sys
import threading

import numpy as np
import pytest

import ringcap
from conftest import DEADLINE, TEST_ETHERTYPE, drain, frame_seq, make_frame, wait_until
from ringcap import Batch, RxRing
from ringcap.replay import Replayer

# Paced replays retire a block per timeout: a long timeout keeps the whole replay in the ring.
RING = dict(block_size=1 << 20, block_count=64, block_timeout_ms=100)


def ours(batches) -> Batch:
    batch = Batch.concat(batches)
    return batch[batch.protocol == TEST_ETHERTYPE]


def _file(tmp_path, n: int, gaps_ns, sizes=None, name="in.pcap") -> tuple:
    sizes = sizes or [60 + (i * 37) % 1400 for i in range(n)]
    frames = [make_frame(i, sizes[i]) for i in range(n)]
    ts = 1_600_000_000 * 10**9 + np.concatenate([[0], np.cumsum(gaps_ns)]).astype(np.int64)
    path = tmp_path / name
    ringcap.write_pcap(path, Batch.from_packets(frames, ts=ts))
    return path, frames, ts


@pytest.mark.parametrize("tx_ring", [False, True], ids=["sendmmsg", "tx-ring"])
def test_topspeed_sends_every_byte_in_order(veth, tmp_path, tx_ring):
    """Each frame once, in order, byte for byte, through either send path: 5000
    frames of 60 to 1514 bytes span three batches read from the file and five
    sendmmsg() calls (1024 frames at most each), or a ring's wrap-around."""
    sizes = [(60, 576, 1514, 60 + (i * 37) % 1400)[i % 4] for i in range(5000)]
    path, frames, _ = _file(tmp_path, 5000, np.full(4999, 1000), sizes=sizes)
    with RxRing(veth.b, **RING) as rx, Replayer(veth.a, tx_ring=tx_ring,
                                                frame_count=1024) as replayer:
        result = replayer.replay_file(path, topspeed=True)
        got = ours(drain(rx, idle=0.5))
        stats = rx.stats
    assert result.packets == 5000 and result.failed == 0 and result.loops == 1
    assert result.dropped == 0            # a veth's driver queue never refuses a frame
    assert result.bytes == sum(len(f) for f in frames)
    lost = stats.drops + stats.backlog_drops  # a loaded machine may drop on the receiving side
    if lost == 0:
        assert got.packets() == frames
    else:                                 # what arrived: each frame once, in order, intact
        seqs = [frame_seq(p) for p in got]
        assert seqs == sorted(set(seqs))
        assert all(p == frames[seq] for p, seq in zip(got.packets(), seqs))
        assert len(got) + lost >= 5000


def test_requested_pps_is_met_within_5_percent(veth, tmp_path):
    path, frames, _ = _file(tmp_path, 800, np.full(799, 10**6), sizes=[100] * 800)
    with RxRing(veth.b, **RING) as rx, Replayer(veth.a) as replayer:
        result = replayer.replay_file(path, pps=1000)
        got = ours(drain(rx, idle=0.5))
    assert len(got) == 800
    span = (int(got.ts[-1]) - int(got.ts[0])) / 1e9
    # never faster than asked (a late packet is sent at once, never ahead of its time); a
    # loaded machine may make it slower, so the bound below leaves it 5x
    assert 1000 / 5 < 799 / span < 1000 * 1.05
    assert 1000 / 5 < result.pps < 1000 * 1.05
    # packet i leaves no earlier than i ms after the first (less the first's own delay,
    # bounded by the 5 % above)
    assert np.all(np.diff(got.ts) >= 0)


def test_original_timing_is_kept(veth, tmp_path):
    """Stated tolerance: half the packets leave within 25 ms of their place in the file's
    timeline and every one within 750 ms (about 5 ms and 150 ms on a quiet machine; the
    room is for scheduling delays on a loaded 2-core machine: a late packet goes out at
    once, never early); the whole replay takes at least the file's duration less 5 %,
    and at most 750 ms more."""
    rng = np.random.default_rng(3)
    gaps = rng.integers(2_000_000, 20_000_000, size=119)
    path, frames, ts = _file(tmp_path, 120, gaps)
    with RxRing(veth.b, **RING) as rx, Replayer(veth.a) as replayer:
        replayer.replay_file(path)
        got = ours(drain(rx, idle=0.5))
    assert [frame_seq(p) for p in got] == list(range(120))
    want = (ts - ts[0]) / 1e9
    have = (got.ts - got.ts[0]) / 1e9
    error = np.abs(have - want)
    assert np.median(error) < 0.025 and np.max(error) < 0.750
    assert want[-1] * 0.95 <= have[-1] <= want[-1] + 0.750


def test_speed_loop_and_failed_packets(veth, tmp_path):
    sizes = [100] * 50
    sizes[10] = 9100                      # over the veth MTU (9000): cannot be sent
    path, frames, ts = _file(tmp_path, 50, np.full(49, 10_000_000), sizes=sizes)
    with RxRing(veth.b, **RING) as rx, Replayer(veth.a, frame_size=16384) as replayer:
        result = replayer.replay_file(path, speed=10.0, loop=3)
        got = ours(drain(rx, idle=0.5))
    assert result.loops == 3 and result.failed == 3 and result.packets == 147
    assert len(got) == 147
    assert [frame_seq(p) for p in got[:49]] == [i for i in range(50) if i != 10]
    assert 3 * 0.049 * 0.8 < result.seconds < 3 * 0.049 * 3


def test_bad_pacing_is_refused(veth, tmp_path):
    path, _, _ = _file(tmp_path, 2, [1000])
    with Replayer(veth.a) as replayer:
        with pytest.raises(ValueError, match="choose one"):
            replayer.replay_file(path, pps=10, topspeed=True)
        with pytest.raises(ValueError, match="positive"):
            replayer.replay_file(path, pps=float("nan"))
        with pytest.raises(ValueError, match="loop"):
            replayer.replay_file(path, loop=-1)


# ---------------------------------------------------------------- top speed from a classic pcap file
# (Replayer.replay_file(topspeed=True) through sendmmsg: TxSocketCore.send_pcap walks the file's
# records in C from a reused pread() buffer; pcapng and paced replays go batch by batch.)

def _classic_pcap(path, records, *, order="<", nanosecond=True, linktype=1, tail=b""):
    """A classic pcap file written by hand (any byte order), the records' bytes as given."""
    magic = 0xA1B23C4D if nanosecond else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for i, data in enumerate(records):
        out.append(struct.pack(order + "IIII", 1_600_000_000 + i, 0, len(data), len(data)) + data)
    path.write_bytes(b"".join(out) + tail)
    return path


def _received_in_order(got: Batch, frames: list[bytes], lost: int) -> None:
    if lost == 0:
        assert got.packets() == frames
    else:                                 # what arrived: each frame once, in order, intact
        seqs = [frame_seq(p) for p in got]
        assert seqs == sorted(set(seqs))
        assert all(p == frames[seq] for p, seq in zip(got.packets(), seqs))
        assert len(got) + lost >= len(frames)


@pytest.mark.parametrize("order,nanosecond", [("<", True), (">", False), (">", True)],
                         ids=["little-ns", "big-us", "big-ns"])
def test_topspeed_classic_pcap_sends_what_the_batch_path_would(veth, tmp_path, order, nanosecond):
    """3000 frames of 60 to 9014 bytes (about 9 MB: the 256 KiB read buffer refills many
    times, records cut at its end) sent once each, in order, byte for byte, in either byte
    order; failed, as by the batch path: a frame over the MTU (9100), one shorter than an
    Ethernet header (10 bytes) and one of 262144 bytes (larger than the buffer: skipped
    unread); sent: a VLAN-tagged frame 4 bytes over the untagged limit (9018)."""
    sizes = [(60, 1514, 9014, 4000, 700, 61)[i % 6] for i in range(3000)]
    frames = [make_frame(i, size) for i, size in enumerate(sizes)]
    tagged = make_frame(7, 9018, ethertype=0x8100)
    records = frames[:1000] + [make_frame(0, 9100), b"\x01" * 10, tagged,
                               bytes(262144)] + frames[1000:]
    path = _classic_pcap(tmp_path / "in.pcap", records, order=order, nanosecond=nanosecond)
    with RxRing(veth.b, **RING) as rx, Replayer(veth.a) as replayer:
        result = replayer.replay_file(path, topspeed=True)
        got = ours(drain(rx, idle=0.5))
        stats = rx.stats
    assert (result.packets, result.failed, result.loops) == (3001, 3, 1)
    assert result.bytes == sum(sizes) + 9018
    _received_in_order(got, frames, stats.drops + stats.backlog_drops)


def test_topspeed_pcap_of_another_link_type_fails_every_packet_once(veth, tmp_path):
    """Raw-IP records cannot go out of an Ethernet interface: all counted failed, and
    loop=0 ends after one pass instead of spinning on a file with nothing to send."""
    path = _classic_pcap(tmp_path / "raw.pcap", [b"\x45" + bytes(59)] * 20, linktype=101)
    with Replayer(veth.a) as replayer:
        result = replayer.replay_file(path, topspeed=True, loop=0)
    assert (result.packets, result.failed, result.loops) == (0, 20, 1)


def test_topspeed_truncated_file_warns_after_sending_every_whole_record(veth, tmp_path):
    frames = [make_frame(i, 1000) for i in range(300)]
    path = _classic_pcap(tmp_path / "cut.pcap", frames,
                         tail=struct.pack("<IIII", 1, 0, 1000, 1000) + bytes(500))
    size = path.stat().st_size
    with RxRing(veth.b, **RING) as rx, Replayer(veth.a) as replayer:
        with pytest.warns(ringcap.PcapTruncatedWarning,
                          match=f"partial record at byte offset {size - 516} "
                                f"\\(file size {size}\\)"):
            result = replayer.replay_file(path, topspeed=True)
        got = ours(drain(rx, idle=0.5))
        stats = rx.stats
    assert (result.packets, result.failed, result.bytes) == (300, 0, 300_000)
    _received_in_order(got, frames, stats.drops + stats.backlog_drops)


def test_topspeed_corrupt_record_raises_after_sending_the_ones_before(veth, tmp_path):
    frames = [make_frame(i, 200) for i in range(50)]
    path = _classic_pcap(tmp_path / "bad.pcap", frames,
                         tail=struct.pack("<IIII", 1, 0, 0x7FFFFFFF, 60) + bytes(60))
    with RxRing(veth.b, **RING) as rx, Replayer(veth.a) as replayer:
        with pytest.raises(ringcap.PcapFormatError,
                           match=f"corrupt file at byte offset {24 + 50 * 216}: record claims a "
                                 f"captured length of 2147483647 bytes"):
            replayer.replay_file(path, topspeed=True)
        got = ours(drain(rx, idle=0.5))
        stats = rx.stats
    _received_in_order(got, frames, stats.drops + stats.backlog_drops)


def test_topspeed_loops_deadline_and_stop(veth, tmp_path):
    frames = [make_frame(i, 100) for i in range(2000)]
    path = _classic_pcap(tmp_path / "loop.pcap", frames)
    with Replayer(veth.a) as replayer:
        result = replayer.replay_file(path, topspeed=True, loop=3)
        assert (result.packets, result.loops, result.bytes) == (6000, 3, 600_000)
        timed = replayer.replay_file(path, topspeed=True, loop=0, duration=0.3)
        # ends at the first group of 1024 frames after the deadline
        assert 0.3 <= timed.seconds < 0.3 + 30 and timed.packets >= 1024
        assert timed.loops >= 1 and timed.failed == 0
        stopper = threading.Timer(0.3, replayer.stop)
        stopper.start()
        try:
            stopped = replayer.replay_file(path, topspeed=True, loop=0)
        finally:
            stopper.join()
        assert stopped.packets >= 1024 and stopped.seconds >= 0.3
        again = replayer.replay_file(path, topspeed=True)     # a stop does not outlive its replay
        assert again.packets == 2000


def test_cli_replay_topspeed_forever_stops_on_ctrl_c(veth, tmp_path):
    """`ringcap replay -t -l 0` runs the compiled loop until SIGINT, then prints the summary
    and exits 0 (tcpreplay's behaviour)."""
    path = _classic_pcap(tmp_path / "forever.pcap", [make_frame(i, 500) for i in range(1000)])
    root = os.path.dirname(os.path.dirname(ringcap.__file__))
    proc = subprocess.Popen([sys.executable, "-m", "ringcap", "replay", "-t", "-l", "0",
                             str(path), "-i", veth.a], cwd="/", env={**os.environ,
                             "PYTHONPATH": root}, stderr=subprocess.PIPE, text=True)
    try:
        start = _rx_packets(veth.b)
        wait_until(lambda: _rx_packets(veth.b) - start > 5000, what="5000 frames on the peer")
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=DEADLINE)[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stderr.close()
    assert proc.returncode == 0, err
    sent = int(re.search(r"Actual: (\d+) packets \((\d+) bytes\)", err).group(1))
    assert sent > 5000 and "Failed packets:            0" in err and "Traceback" not in err


def _rx_packets(iface: str) -> int:
    """The peer's receive counter in this namespace (/proc/net/dev: /sys shows another's)."""
    with open("/proc/net/dev") as f:
        for line in f.read().splitlines()[2:]:
            name, _, counters = line.partition(":")
            if name.strip() == iface:
                return int(counters.split()[1])
    raise KeyError(iface)


def test_topspeed_from_a_named_pipe_is_refused_at_once(veth, tmp_path):
    """A FIFO is not opened to look at its header (that open waits for a writer,
    forever if none comes): the reader refuses it, as for any replay."""
    fifo = tmp_path / "fifo.pcap"
    os.mkfifo(fifo)
    outcome = []

    def replay():
        try:
            with Replayer(veth.a) as replayer:
                replayer.replay_file(fifo, topspeed=True)
        except Exception as exc:
            outcome.append(exc)

    worker = threading.Thread(target=replay, daemon=True)
    worker.start()
    worker.join(timeout=DEADLINE)
    if worker.is_alive():                 # unblock it: a writer that goes at once
        with open(fifo, "wb"):
            pass
        worker.join(timeout=DEADLINE)
        pytest.fail("replay_file() waited for a writer on the FIFO")
    [error] = outcome
    assert isinstance(error, ringcap.PcapFormatError) and "not a regular file" in str(error)
