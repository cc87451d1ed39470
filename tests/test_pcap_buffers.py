"""The file reader reuses its buffers: iterating a file allocates no window or
column buffer per batch, and batches a caller keeps are never overwritten."""
import weakref

import numpy as np
import pytest

import ringcap
from ringcap import Batch
from ringcap.pcapfile.reader import _MAP_WINDOW

BATCH = 2048
BATCHES = 50


@pytest.fixture(scope="module")
def mixed_file(tmp_path_factory):
    """A pcap of 60..1514-byte packets averaging about 750 bytes, bursty as a
    real network's: bulk transfers (90% full-size frames) alternate with
    chatter (20%) every BATCH packets, so batches differ in size."""
    rng = np.random.default_rng(19)
    n = BATCH * BATCHES
    bulk = (np.arange(n) // BATCH) % 2 == 0
    small = rng.random(n) < np.where(bulk, 0.1, 0.8)
    caplen = np.where(small, rng.integers(60, 120, n),
                      rng.integers(1100, 1515, n)).astype(np.uint32)
    data = rng.integers(0, 256, int(caplen.sum()), dtype=np.uint8)
    ts = 1_700_000_000 * 10**9 + np.cumsum(rng.integers(100, 20_000, n))
    source = Batch(ts=ts, caplen=caplen, data=data)
    path = tmp_path_factory.mktemp("buffers") / "mixed.pcap"
    ringcap.write_pcap(path, source)
    assert 700 < caplen.mean() < 800
    return path, source


class Distinct:
    """Counts distinct live objects by identity, holding no reference to them."""

    def __init__(self):
        self._seen = {}
        self.count = 0

    def add(self, obj) -> None:
        ref = self._seen.get(id(obj))
        if ref is None or ref() is not obj:
            self._seen[id(obj)] = weakref.ref(obj)
            self.count += 1


def test_iterating_reuses_window_and_column_buffers(mixed_file):
    path, source = mixed_file
    windows, columns = Distinct(), Distinct()
    start = batches = 0
    with ringcap.open_pcap(path, batch_packets=BATCH) as reader:
        for batch in reader:
            n = len(batch)
            assert batch.data.nbytes > 1 << 19
            windows.add(batch.data.base)     # what numpy says the view's memory is
            columns.add(batch.ts.base)
            assert np.array_equal(batch.ts, source.ts[start:start + n])
            assert batch[n - 1] == source[start + n - 1]
            start += n
            batches += 1
    assert batches == BATCHES and start == len(source)
    # never one per batch: maps of the file, one per _MAP_WINDOW bytes of it (the
    # file's own pages: nothing fresh), or pooled buffers (the pread fallback): the
    # window being read, the one the last batch views, one more
    maps = path.stat().st_size // _MAP_WINDOW + 1
    assert windows.count <= maps + 2 < batches, \
        f"{windows.count} window buffers for {batches} batches"
    assert columns.count <= 2, f"{columns.count} column buffers for {batches} batches"


def test_batches_kept_are_never_overwritten(mixed_file):
    path, source = mixed_file
    kept, kept_ts, starts = [], [], []
    start = 0
    with ringcap.open_pcap(path, batch_packets=BATCH) as reader:
        for k, batch in enumerate(reader):
            if k % 3 == 0:
                kept.append((start, batch))            # the whole batch
            elif k % 3 == 1:
                kept_ts.append((start, batch.ts[:10]))  # one column's view only
            start += len(batch)
    for start, batch in kept:
        n = len(batch)
        assert np.array_equal(batch.ts, source.ts[start:start + n])
        assert np.array_equal(batch.caplen, source.caplen[start:start + n])
        assert np.array_equal(batch.copy().data, source[start:start + n].copy().data)
        assert not batch.protocol.any() and not batch.ifindex.any()
    for start, ts in kept_ts:
        assert np.array_equal(ts, source.ts[start:start + 10])


def test_a_whole_file_read_is_one_batch_of_every_packet(mixed_file):
    path, source = mixed_file
    with ringcap.open_pcap(path, batch_packets=BATCH) as reader:
        first = reader.read(5)
        rest = reader.read()
    assert len(first) == 5 and len(rest) == len(source) - 5
    assert np.array_equal(rest.ts, source.ts[5:])
    assert np.array_equal(rest.copy().data, source[5:].copy().data)
    assert np.array_equal(first.copy().data, source[:5].copy().data)
