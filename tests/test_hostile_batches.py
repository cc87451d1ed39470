"""Batches whose columns point outside their data must be refused, never followed.

An offset near 2**63 once passed the ``offset + caplen > len(data)`` check by
wrapping around in int64, and every consumer that forms pointers then read
far outside the buffer (a segmentation fault).  Each consumer runs in a
subprocess here, so a crash fails one test instead of killing the session.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import ringcap
from ringcap import Batch

# The subprocess imports the ringcap under test, wherever it lives.
ENV = {**os.environ, "PYTHONPATH": str(Path(ringcap.__file__).resolve().parent.parent)}

HUGE = 2**63 - 30       # offset + 60 wraps to a negative int64

SETUP = f"""
import numpy as np, ringcap, warnings
warnings.simplefilter("error")
b = ringcap.Batch(ts=[0, 0], caplen=[60, 60], offset=[0, 60], data=bytes(120))
b.offset[1] = {HUGE}                      # columns are plain writable arrays
"""


def run_consumer(code: str, tmp_path) -> subprocess.CompletedProcess:
    script = SETUP + "try:\n" + textwrap.indent(textwrap.dedent(code), "    ") + """
except ValueError as error:
    print("VALUEERROR", error)
else:
    print("NO ERROR")
"""
    return subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=ENV,
                          capture_output=True, text=True, timeout=120)


def assert_refused(proc: subprocess.CompletedProcess) -> None:
    assert proc.returncode == 0, f"crashed with status {proc.returncode}: {proc.stderr[-2000:]}"
    assert proc.stdout.startswith("VALUEERROR"), proc.stdout + proc.stderr
    assert "packet 1" in proc.stdout and "outside" in proc.stdout, proc.stdout


def test_constructor_refuses_an_offset_that_would_wrap_around():
    with pytest.raises(ValueError, match="packet 1 lies outside"):
        Batch(ts=[0, 0], caplen=[60, 60], offset=[0, HUGE], data=bytes(120))
    with pytest.raises(ValueError, match="packet 0 lies outside"):
        Batch(ts=[0], caplen=[2**32 - 1], offset=[1], data=bytes(10))
    with pytest.raises(ValueError, match="packet 0 lies outside"):
        Batch(ts=[0], caplen=[1], offset=[-1], data=bytes(10))
    with pytest.raises(ValueError, match="packet 0 lies outside"):
        Batch(ts=[0], caplen=[0], offset=[1], data=b"")      # b"" is 0 bytes, not one NUL
    assert len(Batch(ts=[0], caplen=[0], offset=[0], data=b"").data) == 0
    ok = Batch(ts=[0, 0], caplen=[60, 0], offset=[60, 120], data=bytes(120))  # edges are fine
    assert ok.packets() == [bytes(60), b""]


@pytest.mark.parametrize("code", [
    "ringcap.decode(b)",
    "from ringcap.headers import FIVE_TUPLE_COLUMNS; ringcap.decode(b, columns=FIVE_TUPLE_COLUMNS)",
    "ringcap.flows(b)",
    "ringcap.write_pcap('x.pcap', b)",
    "ringcap.write_pcap('x.pcapng', b, format='pcapng')",
    "b.copy()",
    "b.to_arrow()",
    "b[1]",
    "list(b)",
], ids=["decode", "decode-five-tuple", "flows", "write-pcap", "write-pcapng", "copy",
        "to_arrow", "getitem", "iter"])
def test_consumer_refuses_a_wrapped_offset(code, tmp_path):
    assert_refused(run_consumer(code, tmp_path))


def test_writer_keeps_nothing_of_a_refused_batch(tmp_path):
    proc = run_consumer("""
w = ringcap.PcapWriter('x.pcap')
good = ringcap.Batch.from_packets([bytes(60)])
w.write(good)
try:
    w.write(b)
finally:
    w.close()
    print(ringcap.read_pcap('x.pcap').caplen.tolist(), w.packets_written)
""", tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "[60] 1", proc.stdout


def test_validate_checks_dtypes_and_shapes():
    b = Batch.from_packets([b"abcd", b"ef"])
    assert b.validate() is b
    b.caplen = np.array([4], dtype=np.uint32)
    with pytest.raises(ValueError, match=r"'caplen' has shape \(1,\), expected \(2,\)"):
        b.copy()
    b = Batch.from_packets([b"abcd", b"ef"])
    b.offset = b.offset.astype(np.float64)
    with pytest.raises(ValueError, match="'offset' is float64, expected a numpy int64"):
        b.validate()
    b = Batch.from_packets([b"abcd", b"ef"])
    b.data = np.zeros((2, 3), dtype=np.uint8)
    with pytest.raises(ValueError, match="one-dimensional uint8"):
        b.validate()


def test_txring_refuses_a_wrapped_offset(veth, tmp_path):
    proc = run_consumer(f"""
with ringcap.TxRing({veth.a!r}) as tx:
    tx.send(b)
""", tmp_path)
    assert_refused(proc)


# ---------------------------------------------------------------- files that shrink while read

SHRINK_SETUP = """
import os, numpy as np, ringcap, warnings
warnings.simplefilter("error")
frames = [i.to_bytes(4, "big") + bytes(996) for i in range(5000)]
ringcap.write_pcap("big.pcap", ringcap.Batch.from_packets(frames))
"""


def run_script(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SHRINK_SETUP + textwrap.dedent(code)],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)


def test_a_file_shrinking_between_batches_is_an_error_not_a_bus_error(tmp_path):
    proc = run_script("""
seen = []
try:
    with ringcap.open_pcap("big.pcap", batch_packets=100) as reader:
        for batch in reader:
            seen.extend(int.from_bytes(p[:4], "big") for p in batch.packets())
            if len(seen) == 100:
                os.truncate("big.pcap", 50000)     # another program cuts the file
except (ringcap.PcapFormatError, ringcap.PcapTruncatedWarning) as error:
    print("ERROR", error.offset, error)
print("SEEN", seen == list(range(len(seen))), len(seen))
""", tmp_path)
    assert proc.returncode == 0, f"crashed with status {proc.returncode}: {proc.stderr[-2000:]}"
    error, seen = proc.stdout.splitlines()
    assert error.startswith("ERROR ") and "big.pcap: the file shrank while being read" in error
    assert "5080024 bytes when opened" in error
    offset = int(error.split()[1])
    assert 50000 <= offset and f"byte offset {offset}" in error
    assert seen.startswith("SEEN True ")
    assert 100 <= int(seen.split()[2]) < 5000


def test_batches_stay_valid_after_their_file_shrinks(tmp_path):
    # batches view a map of the file: what was cut away reads as zeros, never SIGBUS
    proc = run_script("""
batch = ringcap.read_pcap("big.pcap")
with ringcap.open_pcap("big.pcap") as reader:
    first = reader.read(10)
os.truncate("big.pcap", 0)
headers = ringcap.decode(batch)
ok = lambda packets, start: all(p == frames[start + i] or not any(p)
                                for i, p in enumerate(packets))
print(len(batch), len(batch.copy().data), len(headers), ok(first.packets(), 0),
      ok(batch.packets(), 0), ok([batch[4999]], 4999))
""", tmp_path)
    assert proc.returncode == 0, f"crashed with status {proc.returncode}: {proc.stderr[-2000:]}"
    assert proc.stdout.split() == ["5000", str(5000 * 1000), "5000", "True", "True", "True"]
