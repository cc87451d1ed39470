"""The front door (ringcap.capturing): capture() and capture_to_file() take the
names their callers use, and refuse what they cannot do, before a ring opens;
the pump under them finishes a capture without spending CPU tcpdump does not."""
import os
import threading
import time

import pytest

import ringcap
from conftest import TEST_ETHERTYPE, make_frame, wait_until
from ringcap.sinks import PcapSink
from ringcap.sinks.driving import pump

SMALL = dict(block_size=1 << 20, block_count=16, block_timeout_ms=5)


def test_an_unknown_keyword_names_the_function_called_not_the_ring(veth, tmp_path):
    with pytest.raises(TypeError) as error:
        ringcap.capture(veth.b, count=1, snaplen_bytes=64)
    message = str(error.value)
    assert message.startswith("capture() got an unexpected keyword argument 'snaplen_bytes'")
    assert "snaplen" in message.split("options are:")[1] and "__init__" not in message
    with pytest.raises(TypeError, match=r"^capture\(\) got an unexpected keyword argument "
                                        r"'bogus'; the ParallelCapture and RxRing options"):
        ringcap.capture(veth.b, count=1, workers=2, bogus=1)
    path = tmp_path / "x.pcap"
    with pytest.raises(TypeError, match=r"^capture_to_file\(\) got an unexpected keyword "
                                        r"argument 'nanoseconds'; the PcapWriter options"):
        ringcap.capture_to_file(veth.b, path, count=1, nanoseconds=True)
    with pytest.raises(TypeError, match=r"^ring_options of capture_to_file\(\) got an "
                                        r"unexpected keyword argument 'snap'"):
        ringcap.capture_to_file(veth.b, path, count=1, ring_options={"snap": 64})
    assert not os.path.lexists(path)


def test_capture_to_file_with_workers_refuses_what_it_would_ignore(veth, tmp_path):
    path = tmp_path / "pool.pcapng"
    for option in ({"file_size": 1 << 20}, {"rotate_seconds": 5}, {"post_rotate": "gzip"},
                   {"owner": "root"}):
        with pytest.raises(ValueError, match=f"{next(iter(option))} cannot be used with workers"):
            ringcap.capture_to_file(veth.b, path, duration=0.5, workers=2, **option)
    assert not os.path.lexists(path)


def test_the_right_keywords_still_reach_the_ring(veth):
    frames = [make_frame(i, 300) for i in range(200)]
    result = {}

    def run():
        result["batch"] = ringcap.capture(veth.b, count=200, duration=10, snaplen=128,
                                          filter=f"ether proto {TEST_ETHERTYPE:#x}", **SMALL)

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    with ringcap.TxRing(veth.a) as tx:
        while thread.is_alive() and time.monotonic() < deadline:
            tx.send(frames)
            time.sleep(0.2)
    thread.join(30)
    batch = result["batch"]
    assert len(batch) == 200 and batch.caplen.max() == 128 and batch.wirelen.min() == 300


def test_capture_to_file_replaces_an_existing_file_as_tcpdump_does(veth, tmp_path):
    path = tmp_path / "again.pcapng"
    path.write_bytes(b"an older capture" * 100)
    frames = [make_frame(i, 200) for i in range(50)]
    result = {}

    def run():
        result["summary"] = ringcap.capture_to_file(
            veth.b, path, count=50, duration=10, signals=False,
            ring_options={**SMALL, "filter": f"ether proto {TEST_ETHERTYPE:#x}"})

    thread = threading.Thread(target=run)
    thread.start()
    deadline = time.monotonic() + 10
    with ringcap.TxRing(veth.a) as tx:
        while thread.is_alive() and time.monotonic() < deadline:
            tx.send(frames)
            time.sleep(0.2)
    thread.join(30)
    assert result["summary"].packets == 50
    assert len(ringcap.read_pcap(path)) == 50
    with pytest.raises(FileExistsError, match="overwrite=False"):
        ringcap.capture_to_file(veth.b, path, count=1, duration=1, signals=False,
                                overwrite=False, ring_options=SMALL)
    assert len(ringcap.read_pcap(path)) == 50


class _CountingRing:
    """A ring whose statistics reads and record writes are counted (the pump
    sees it as the ring itself)."""

    def __init__(self, ring) -> None:
        self._ring, self.stats_reads, self.waits = ring, 0, []

    def __getattr__(self, name):
        return getattr(self._ring, name)

    @property
    def stats(self):
        self.stats_reads += 1
        return self._ring.stats

    def write_records(self, *args, **kwargs):
        self.waits.append(args[4] if len(args) > 4 else kwargs.get("timeout"))
        return self._ring.write_records(*args, **kwargs)


def test_a_stop_before_the_last_block_retires_waits_for_it_in_one_wait(veth, tmp_path):
    """-w's ring hands a part-filled block over after 1000 ms: a stop that comes
    first keeps its packets, and waits for the block in one wait (it waited in
    50 ms slices, each a return to Python and a read of the ring's statistics,
    two /proc files: CPU that tcpdump's exit does not spend)."""
    frames = [make_frame(i, 60 + i) for i in range(5)]
    path = tmp_path / "last-block.pcap"
    with ringcap.RxRing(veth.b, snaplen=1500, block_size=1 << 16, block_count=4,
                        block_timeout_ms=1000) as rx, ringcap.TxRing(veth.a) as tx:
        ring = _CountingRing(rx)
        sink = PcapSink(str(path), linktype=rx.linktype)
        assert sink.ring_writer(ring) is not None          # records straight from the ring
        tx.send(frames)
        wait_until(lambda: rx.stats.pending >= len(frames), what="the frames in the ring")
        result = pump(ring, sink, stop=lambda: True, reuse_batch=True)
    got = [bytes(p) for p in ringcap.read_pcap(str(path)).packets()
           if p[12:14] == TEST_ETHERTYPE.to_bytes(2, "big")]
    assert got == frames and result.packets == result.stats.delivered
    assert result.stats.delivered + result.stats.drops == result.stats.packets
    # no slices: at most the stop's look (timeout 0) and one wait for the block
    assert [t for t in ring.waits if t] in ([], [pytest.approx(1.25, abs=0.25)])
    assert ring.stats_reads <= 3, ring.waits
