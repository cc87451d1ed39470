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


def _column_buffer_bytes(batch) -> int:
    return batch.ts.base.nbytes if batch.ts.base is not None else batch.ts.nbytes


def test_reading_a_small_file_whole_sizes_columns_by_its_packets(tmp_path):
    """read_pcap of 1,000 packets carves columns for about that many, not for a
    worst case: fresh pages of a buffer no packet uses are still zeroed (this
    was half of read_pcap's time on a 17 MB file of large packets)."""
    source = Batch(ts=np.arange(1000, dtype=np.int64) * 1000,
                   caplen=np.full(1000, 1400, np.uint32),
                   data=np.arange(1400 * 1000, dtype=np.uint64).astype(np.uint8))
    path = tmp_path / "small.pcap"
    ringcap.write_pcap(path, source)
    batch = ringcap.read_pcap(path)
    assert len(batch) == 1000 and np.array_equal(batch.copy().data, source.data)
    per_packet = sum(getattr(batch, name).itemsize for name in ringcap.batch.COLUMNS)
    assert _column_buffer_bytes(batch) <= 2 * 65536 * per_packet   # was 1 << 20 packets' worth


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_a_whole_file_whose_packets_shrink_reads_every_packet(tmp_path, fmt):
    """The columns grow by what the records so far say is left: 70,000 large
    packets then 300,000 small ones need more than that estimate, more than
    once, and the batch is still every packet, in order, once."""
    rng = np.random.default_rng(7)
    caplen = np.concatenate([np.full(70_000, 1500), rng.integers(40, 80, 300_000)]).astype(
        np.uint32)
    ts = np.cumsum(rng.integers(1, 1000, len(caplen))).astype(np.int64) * 1000
    data = rng.integers(0, 256, int(caplen.sum()), dtype=np.uint8)
    source = Batch(ts=ts, caplen=caplen, data=data)
    path = tmp_path / f"shrinking.{fmt}"
    ringcap.write_pcap(path, source, format=fmt)
    with ringcap.open_pcap(path) as reader:
        part = reader.read(len(caplen) - 3)
    for batch in (ringcap.read_pcap(path), part):
        n = len(batch)
        assert n in (len(caplen), len(caplen) - 3)
        assert np.array_equal(batch.ts, ts[:n]) and np.array_equal(batch.caplen, caplen[:n])
        assert np.array_equal(batch.copy().data, source[:n].copy().data)
        assert not batch.ifindex.any() and not batch.status.any()


def test_a_batch_of_many_new_interfaces_describes_them_in_one_pass(tmp_path, monkeypatch):
    """A pcapng file of 20,000 interfaces took 2 minutes to copy to pcapng (1 s to
    pcap): each new interface rebuilt the writer's table of the known ones and
    searched the batch again.  Now the new ones of a batch are described together,
    in order of appearance, with the same ids."""
    import numpy as np

    from ringcap import Batch, PcapWriter, open_pcap
    from ringcap import _pcapio
    n = 2000
    order = np.random.default_rng(3).permutation(n).astype(np.int32) + 1
    ifindex = np.concatenate([order, order[::-1]])
    batch = Batch.from_packets([bytes(60)] * len(ifindex), ifindex=ifindex)
    passes = []
    search = _pcapio.interface_ids
    monkeypatch.setattr(_pcapio, "interface_ids", lambda *a: passes.append(1) or search(*a))
    path = tmp_path / "many.pcapng"
    with PcapWriter(path, format="pcapng") as writer:
        writer.write(batch)
    assert len(passes) <= 3, len(passes)
    with open_pcap(path) as reader:
        back = Batch.concat(list(reader))
    assert len(back) == 2 * n
    # the ids: the interfaces in order of appearance
    assert back.ifindex.tolist() == list(range(n)) + list(range(n))[::-1]
