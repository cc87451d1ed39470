"""Replaying capture files through a TxRing (ringcap.replay), captured on the peer of a veth pair."""
from __future__ import annotations

import numpy as np
import pytest

import ringcap
from conftest import TEST_ETHERTYPE, drain, frame_seq, make_frame
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
