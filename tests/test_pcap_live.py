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
