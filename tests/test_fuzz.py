"""Fuzzing with a fixed time budget: hostile batches, damaged capture files, random frames.

Each target runs hypothesis repeatedly until its share of the budget is spent
(``RINGCAP_FUZZ_SECONDS``, default 6 s per target; the sanitizer run in
``tests/test_sanitizers.py`` gives it more).  Anything but the documented
errors fails: a crash, an unexpected exception, a packet outside its data.
Under the AddressSanitizer build an out-of-bounds read anywhere aborts the run.
"""
import os
import struct
import tempfile
import time
import warnings

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ringcap
from ringcap import Batch, PcapWriter, decode, flows, open_pcap, read_pcap
from ringcap.headers import FIVE_TUPLE_COLUMNS
from ringcap.pcap import PcapFormatError, PcapTruncatedWarning

BUDGET = float(os.environ.get("RINGCAP_FUZZ_SECONDS", "6"))
FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))


def for_a_while(test) -> int:
    """Run the hypothesis test ``test`` until the budget is spent; returns the rounds."""
    deadline = time.monotonic() + BUDGET
    rounds = 0
    while True:
        test()
        rounds += 1
        if time.monotonic() >= deadline:
            return rounds


EXTREME = st.sampled_from([0, 1, 59, 60, 61, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**62,
                           2**63 - 1, 2**63 - 30, -1, -2**63, -60])


def int_column(bound_lo, bound_hi):
    return st.one_of(EXTREME, st.integers(bound_lo, bound_hi))


def consume(batch: Batch) -> None:
    """Every consumer that forms pointers; each may refuse with ValueError, nothing else."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for use in (
            lambda: decode(batch),
            lambda: decode(batch, columns=FIVE_TUPLE_COLUMNS),
            lambda: flows(batch),
            lambda: batch.copy(),
            lambda: batch.packets(),
            lambda: batch[len(batch) - 1] if len(batch) else b"",
            lambda: _write(null, batch, "pcap"),
            lambda: _write(null, batch, "pcapng"),
        ):
            try:
                use()
            except ValueError:
                pass
    finally:
        os.close(null)


def _write(fd, batch, fmt):
    with PcapWriter(fd, format=fmt) as writer:
        writer.write(batch)


@st.composite
def hostile_batches(draw):
    n = draw(st.integers(0, 6))
    data = draw(st.binary(max_size=200))
    columns = {
        "ts": draw(st.lists(int_column(-10, 10**18), min_size=n, max_size=n)),
        "caplen": draw(st.lists(int_column(0, 300), min_size=n, max_size=n)),
        "offset": draw(st.lists(int_column(-5, 300), min_size=n, max_size=n)),
        "wirelen": draw(st.lists(int_column(0, 2000), min_size=n, max_size=n)),
        "status": draw(st.lists(int_column(0, 2**32 - 1), min_size=n, max_size=n)),
    }
    return data, columns


def test_fuzz_batch_construction_with_hostile_columns():
    @FUZZ
    @given(hostile_batches(), st.data())
    def check(case, extra):
        data, columns = case
        converted = {}
        for name, values in columns.items():
            dtype = ringcap.batch.COLUMNS[name]
            info = np.iinfo(dtype)
            converted[name] = np.array([v if info.min <= v <= info.max else info.max
                                        for v in values], dtype=dtype)
        try:
            batch = Batch(data=data, **converted)
        except ValueError:
            return
        for i in range(len(batch)):               # construction promised this
            start, length = int(batch.offset[i]), int(batch.caplen[i])
            assert 0 <= start and start + length <= len(data)
        consume(batch)
        if len(batch):                            # columns are writable: break one afterwards
            i = extra.draw(st.integers(0, len(batch) - 1))
            batch.offset[i] = extra.draw(st.integers(-2**63, 2**63 - 1))
            batch.caplen[i] = extra.draw(st.integers(0, 2**32 - 1))
            consume(batch)

    assert for_a_while(check) >= 1


def _sample_file(fmt: str) -> bytes:
    frames = [bytes(range(i, i + 60 + 7 * i)) for i in range(6)]
    batch = Batch.from_packets([bytes(f[j] % 256 for j in range(len(f))) for f in frames],
                               ts=np.arange(6, dtype=np.int64) * 10**9 + 123,
                               ifindex=np.array([1, 2, 1, 2, 1, 2], dtype=np.int32))
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "f")
        with PcapWriter(path, format=fmt) as writer:
            writer.write(batch)
            if fmt == "pcapng":
                writer.write_stats(type("S", (), {"packets": 9, "drops": 3})())
        with open(path, "rb") as f:
            return f.read()


SAMPLES = {fmt: _sample_file(fmt) for fmt in ("pcap", "pcapng")}


@st.composite
def damaged_files(draw):
    raw = bytearray(SAMPLES[draw(st.sampled_from(["pcap", "pcapng"]))])
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flip", "word", "cut", "insert"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if kind == "flip" and raw:
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "word" and len(raw) >= 4:
            at = min(at, len(raw) - 4)
            value = draw(st.sampled_from([0, 1, 12, 0xFFFFFFFF, 0x7FFFFFFF, 0x80000000, 6, 5]))
            raw[at:at + 4] = struct.pack("<I", value)
        elif kind == "cut":
            del raw[at:]
        elif kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=40))
    return bytes(raw)


def test_fuzz_reading_damaged_capture_files():
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "damaged")

        @FUZZ
        @given(damaged_files())
        def check(raw):
            with open(path, "wb") as f:
                f.write(raw)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PcapTruncatedWarning)
                try:
                    batch = read_pcap(path)
                    batch.validate()
                    consume(batch)
                except PcapFormatError:
                    pass
                try:
                    with open_pcap(path, batch_packets=2) as reader:
                        out = Batch.empty(4, data_bytes=256)
                        for _ in range(50):
                            if not len(reader.read(out=out)):
                                break
                            out.validate()
                except (PcapFormatError, ValueError):
                    pass

        assert for_a_while(check) >= 1


def test_fuzz_decoding_random_frames():
    ethertypes = st.sampled_from([b"\x08\x00", b"\x86\xdd", b"\x81\x00", b"\x88\xa8", b"\x08\x06"])

    @FUZZ
    @given(st.lists(st.tuples(ethertypes, st.binary(max_size=120), st.integers(0, 6)),
                    max_size=12))
    def check(frames):
        packets = []
        for ethertype, body, ihl in frames:
            if ethertype == b"\x08\x00" and body:
                body = bytes([0x40 | ihl]) + body[1:]
            packets.append(bytes(12) + ethertype + body)
        batch = Batch.from_packets(packets)
        headers = decode(batch)
        assert len(headers) == len(packets)
        assert len(decode(batch, columns=FIVE_TUPLE_COLUMNS)) == len(packets)
        flows(batch)

    assert for_a_while(check) >= 1
