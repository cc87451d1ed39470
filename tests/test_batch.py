"""The Batch container: construction, indexing, copies and reuse."""
import numpy as np
import pytest

from ringcap import Batch


def sample():
    frames = [bytes([i]) * (10 + i) for i in range(6)]
    b = Batch.from_packets(frames, ts=np.arange(6, dtype=np.int64) * 1000 + 1_700_000_000 * 10**9,
                           ifindex=[1, 2, 1, 2, 1, 2])
    return b, frames


def test_from_packets_packs_bytes_and_offsets():
    b, frames = sample()
    assert len(b) == 6
    assert b.offset.tolist() == [0, 10, 21, 33, 46, 60]
    assert b.caplen.tolist() == [10, 11, 12, 13, 14, 15]
    assert b.packets() == frames and list(b) == frames
    assert b[-1] == frames[-1] and b.nbytes == sum(map(len, frames))
    assert b.is_packed()
    for name in ("ts", "caplen", "wirelen", "offset", "ifindex", "pkttype", "protocol",
                 "vlan_tci", "vlan_tpid", "rxhash", "status"):
        assert getattr(b, name).shape == (6,)
    assert b.ts.dtype == np.int64 and b.caplen.dtype == np.uint32 and b.ifindex.dtype == np.int32


def test_slices_and_masks_are_batches_sharing_data():
    b, frames = sample()
    s = b[2:5]
    assert isinstance(s, Batch) and s.packets() == frames[2:5] and s.data is b.data
    m = b[b.ifindex == 2]
    assert m.packets() == [frames[1], frames[3], frames[5]]
    assert m.ts.tolist() == [1000 + 1_700_000_000 * 10**9, 3000 + 1_700_000_000 * 10**9,
                             5000 + 1_700_000_000 * 10**9]
    assert b[np.array([4, 0])].packets() == [frames[4], frames[0]]
    assert not m.is_packed()
    with pytest.raises(IndexError, match="out of range"):
        b[6]
    with pytest.raises(IndexError, match="boolean mask"):
        b[np.array([True, False])]


def test_index_edge_cases():
    b, frames = sample()
    assert len(b[[]]) == 0 and len(b[np.array([], dtype=int)]) == 0
    with pytest.raises(IndexError, match="bool"):
        b[True]
    with pytest.raises(ValueError, match="one-dimensional"):
        Batch(ts=np.zeros((2, 2)), caplen=[1, 1], data=b"ab")


def test_copy_packs_and_owns_its_memory():
    b, frames = sample()
    m = b[b.ifindex == 1].copy()
    assert m.is_packed() and m.packets() == [frames[0], frames[2], frames[4]]
    assert m.data.shape[0] == 10 + 12 + 14
    assert not np.shares_memory(m.data, b.data)
    b.data[:] = 0
    assert m[0] == frames[0]


def test_concat_keeps_order_and_sums_drops():
    b, frames = sample()
    x, y = b[:2], b[3:]
    x.drops, y.drops = 2, 3
    c = Batch.concat([x, y])
    assert c.packets() == frames[:2] + frames[3:] and c.drops == 5 and c.is_packed()
    assert len(Batch.concat([])) == 0


def test_empty_batch_is_reusable_buffers():
    e = Batch.empty(8, 100)
    assert len(e) == 0 and e.capacity == (8, 100)
    with pytest.raises(ValueError, match="positive"):
        Batch.empty(0)


def test_columns_do_not_alias_each_other():
    b = Batch.from_packets([b"abcd", b"ef"])
    b.wirelen[:] = 100
    assert b.caplen.tolist() == [4, 2] and b.wirelen.tolist() == [100, 100]


def test_constructor_rejects_inconsistent_columns():
    with pytest.raises(ValueError, match="caplen has shape"):
        Batch(ts=[1, 2], caplen=[1], data=b"ab")
    with pytest.raises(ValueError, match="outside the batch.s data"):
        Batch(ts=[1], caplen=[5], data=b"ab")


def test_repr_is_readable():
    b, _ = sample()
    text = repr(b)
    assert "6 packets" in text and "75 bytes" in text and "2023-11-14T22:13:20.000000000Z" in text
    assert repr(Batch.from_packets([])) == "<Batch 0 packets, drops=0>"


def test_copy_packs_any_layout_byte_for_byte():
    """Packets out of order, overlapping, empty, at the very end of ``data``,
    as ring and file batches lay them out (with gaps): the copy holds exactly
    each packet's bytes, back to back."""
    rng = np.random.default_rng(5)
    data = rng.integers(0, 256, 5000, dtype=np.uint8)
    caplen = rng.integers(0, 300, 400).astype(np.uint32)
    caplen[:3] = 0
    offset = (rng.random(400) * (5000 - caplen)).astype(np.int64)
    offset[0], offset[1] = 5000, 0                       # empty packets at both ends
    offset[3], caplen[3] = 5000 - 17, 17                 # a packet ending at the last byte
    b = Batch(ts=np.arange(400, dtype=np.int64), caplen=caplen, data=data, offset=offset)
    c = b.copy()
    assert c.is_packed() and c.data.shape[0] == int(caplen.sum())
    assert c.packets() == [data[o:o + n].tobytes() for o, n in zip(offset, caplen)]
    assert len(Batch(ts=[], caplen=[], data=b"").copy()) == 0
