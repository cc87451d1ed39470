"""A capture_to_file writer killed with SIGKILL leaves a readable prefix of the traffic.

Twenty captures of sequence-numbered traffic on a veth pair are each killed
at a random moment.  Every file must read back as whole records (at most one
partial record at the very end, reported by PcapTruncatedWarning) whose
packets are exactly the first packets sent: no gap, no duplicate, no garbage.
"""
import os
import random
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import pytest

import ringcap
from ringcap import Batch, TxRing, open_pcap
from ringcap.pcap import PcapTruncatedWarning

from conftest import frame_seq, make_frame

ENV = {**os.environ, "PYTHONPATH": str(Path(ringcap.__file__).resolve().parent.parent)}
RUNS = 20


def read_back(path) -> tuple[list[int], bool]:
    """Sequence numbers in the file, and whether it ended in a partial record."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        seqs = []
        with open_pcap(path) as reader:
            for batch in reader:
                seqs.extend(frame_seq(p) for p in batch.packets())
    others = [w for w in caught if not issubclass(w.category, PcapTruncatedWarning)]
    assert not others, [str(w.message) for w in others]
    return seqs, bool(caught)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("fmt", ["pcapng", "pcap"])
def test_sigkilled_writer_leaves_complete_records_of_a_prefix(veth, tmp_path, fmt):
    rng = random.Random(9)
    frames = [make_frame(seq, size=rng.randrange(60, 1500)) for seq in range(20000)]
    outcomes = []
    with TxRing(veth.a) as tx:
        for run in range(RUNS // 2):
            path = tmp_path / f"killed{run}.{fmt}"
            script = (f"import ringcap; ringcap.capture_to_file({veth.b!r}, {str(path)!r}, "
                      f"duration=120, format={fmt!r}, buffer_size=65536, flush_interval=0.05)")
            # cwd: not the checkout, whose ringcap has no compiled modules in CI
            proc = subprocess.Popen([sys.executable, "-c", script], env=ENV, cwd=tmp_path,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            try:
                deadline = time.monotonic() + 60
                while not (path.exists() and path.stat().st_size) and proc.poll() is None:
                    assert time.monotonic() < deadline, "the capture never started"
                    time.sleep(0.01)
                assert proc.poll() is None, proc.stderr.read().decode()
                # the ring is bound before the file is created; send in small bursts
                kill_at = time.monotonic() + rng.uniform(0.05, 0.8)
                sent = 0
                while time.monotonic() < kill_at and sent < len(frames):
                    burst = Batch.from_packets(frames[sent:sent + 50])
                    sent += tx.send(burst)
                    time.sleep(0.002)
                proc.send_signal(signal.SIGKILL)
                proc.wait(30)
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
                proc.stderr.close()
            seqs, partial = read_back(path)
            assert seqs == list(range(len(seqs))), f"run {run}: not a prefix of what was sent"
            assert len(seqs) <= sent
            outcomes.append((len(seqs), sent, partial))
    # the kills landed at different points: not every file is empty or complete
    assert any(n > 0 for n, _, _ in outcomes), outcomes
    assert len({n for n, _, _ in outcomes}) > 1, outcomes
