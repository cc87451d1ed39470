"""PcapWriter under stress: full disks, interrupted writes, two threads, planted links.

What is in the file must be exactly what the writer reports: whole records
up to the last one it counted, never a record cut in half or rewritten.
"""
import errno
import os
import signal
import stat
import subprocess
import threading
import time
import warnings

import numpy as np
import pytest

import ringcap
from ringcap import Batch, PcapWriter, open_pcap, read_pcap, write_pcap
from ringcap.pcap import PcapTruncatedWarning

PACKAGE_ROOT = os.path.dirname(os.path.dirname(ringcap.__file__))


class Stats:
    def __init__(self, packets, drops):
        self.packets, self.drops = packets, drops


def numbered(n: int, size: int = 1000, first: int = 0) -> Batch:
    """``n`` packets of ``size`` bytes carrying their sequence number."""
    frames = [(first + i).to_bytes(8, "big") + bytes([(first + i) & 0xFF]) * (size - 8)
              for i in range(n)]
    return Batch.from_packets(frames, ts=np.arange(first, first + n, dtype=np.int64) * 1000)


def sequence(batch: Batch) -> list[int]:
    return [int.from_bytes(p[:8], "big") for p in batch.packets()]


def read_complete(path) -> Batch:
    """Read a file, failing on any warning (a partial record would warn)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return read_pcap(path)


# ---------------------------------------------------------------- names

def test_existing_file_is_replaced_unless_overwrite_is_false(tmp_path):
    """As tcpdump -w, numpy.save and DataFrame.to_csv: writing again replaces the file."""
    path = tmp_path / "old.pcap"
    path.write_bytes(b"precious" * 1000)
    os.chmod(path, 0o644)
    assert write_pcap(path, numbered(2)) == 2
    assert sequence(read_complete(path)) == [0, 1]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600          # narrowed to mode
    with PcapWriter(path, format="pcapng") as writer:          # the class too
        writer.write(numbered(3))
    assert sequence(read_complete(path)) == [0, 1, 2]
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match=r"old\.pcap already exists and overwrite=False"):
        write_pcap(path, numbered(5), overwrite=False)
    assert path.read_bytes() == before


@pytest.mark.parametrize("overwrite", [False, True])
def test_planted_symlink_is_never_followed(tmp_path, overwrite):
    victim = tmp_path / "victim"
    victim.write_bytes(b"do not touch")
    os.chmod(victim, 0o644)
    link = tmp_path / "out.pcap"
    link.symlink_to(victim)
    expected = FileExistsError if not overwrite else OSError
    with pytest.raises(expected) as info:
        PcapWriter(link, overwrite=overwrite)
    if overwrite:
        assert info.value.errno == errno.ELOOP and "symbolic link" in str(info.value)
    assert victim.read_bytes() == b"do not touch"
    assert stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert link.is_symlink()
    dangling = tmp_path / "dangling.pcap"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(expected):
        PcapWriter(dangling, overwrite=overwrite)
    assert not (tmp_path / "nowhere").exists()


def test_a_name_someone_else_holds_in_a_shared_folder_is_refused(tmp_path):
    """A file or FIFO another user left in a sticky folder anyone can write
    (/tmp): writing the capture into it would hand it to that user (the FIFO's
    reader), and opening the FIFO hung until someone read it.  Ours, or the
    folder owner's, is replaced as before."""
    import sys
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    planted = shared / "cap.pcap"
    planted.write_bytes(b"theirs")
    os.chown(planted, 65534, 65534)
    with pytest.raises(PermissionError, match=r"cap\.pcap is a file of uid 65534 in .*anyone can"):
        PcapWriter(planted)
    assert planted.read_bytes() == b"theirs"
    fifo = shared / "fifo.pcap"
    os.mkfifo(fifo)
    os.chown(fifo, 65534, 65534)
    script = (f"from ringcap import PcapWriter\ntry:\n    PcapWriter({str(fifo)!r})\n"
              "except PermissionError as e:\n    print(e)")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=60, cwd="/", env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
    assert "is a FIFO of uid 65534" in done.stdout, done.stderr
    os.chown(planted, os.geteuid(), os.getegid())      # our own: replaced, as tcpdump does
    with PcapWriter(planted) as writer:
        writer.write(numbered(2))
    assert sequence(read_complete(planted)) == [0, 1]


# ---------------------------------------------------------------- threads

def test_second_thread_is_refused_while_the_writer_works(tmp_path):
    read_end, write_end = os.pipe()
    try:
        writer = PcapWriter(write_end, buffer_size=64 * 1024)
        blocked = threading.Event()
        first_error = []

        def fill():
            blocked.set()
            try:
                writer.write(numbered(400))      # 400 KB: blocks on the unread pipe
                writer.flush()
            except BaseException as error:        # pragma: no cover - reported below
                first_error.append(error)

        thread = threading.Thread(target=fill)
        thread.start()
        blocked.wait()
        deadline = time.monotonic() + 30
        while not writer._lock.locked() and time.monotonic() < deadline:
            time.sleep(0.001)                    # until the first thread is inside write()
        time.sleep(0.05)
        refused = None
        try:
            writer.write(numbered(1, first=10**6))
        except RuntimeError as error:
            refused = error
        assert refused is not None, "the second caller was let in"
        assert "busy with another call" in str(refused)
        chunks = []
        reader = threading.Thread(target=lambda: chunks.extend(iter(
            lambda: os.read(read_end, 1 << 16), b"")))
        reader.start()
        thread.join(30)
        assert not first_error, first_error
        writer.close()
        os.close(write_end)
        write_end = -1
        reader.join(30)
        path = tmp_path / "piped.pcap"
        path.write_bytes(b"".join(chunks))
        back = read_complete(path)
        # the refused packet (sequence 10**6) never reached the file
        assert sequence(back) == list(range(400))
        assert writer.packets_written == writer.packets_flushed == 400
    finally:
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


# ---------------------------------------------------------------- interrupted writes

class Interrupt(Exception):
    pass


def test_interrupted_write_keeps_the_rest_in_order(tmp_path):
    read_end, write_end = os.pipe()

    def interrupt(signum, frame):
        raise Interrupt()

    old = signal.signal(signal.SIGALRM, interrupt)
    try:
        writer = PcapWriter(write_end, format="pcapng", buffer_size=256 * 1024)
        writer.write(numbered(200))
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        with pytest.raises(Interrupt):
            writer.flush()                       # the pipe holds 64 KiB: blocks, then EINTR
        assert 0 < writer.bytes_flushed < writer.bytes_written
        assert writer.packets_flushed < 200
        chunks = []
        reader = threading.Thread(target=lambda: chunks.extend(iter(
            lambda: os.read(read_end, 1 << 16), b"")))
        reader.start()
        writer.close(stats=Stats(200, 0))
        os.close(write_end)
        write_end = -1
        reader.join(30)
        assert writer.packets_flushed == 200 and writer.bytes_flushed == writer.bytes_written
        path = tmp_path / "resumed.pcapng"
        path.write_bytes(b"".join(chunks))
        assert len(chunks) and path.stat().st_size == writer.bytes_written
        with open_pcap(path) as reader_:
            batch = reader_.read()
            assert sequence(batch) == list(range(200))
            assert [(s.received, s.dropped) for s in reader_.stats] == [(200, 0)]
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        os.close(read_end)
        if write_end >= 0:
            os.close(write_end)


# ---------------------------------------------------------------- flushing

def test_records_reach_the_file_within_the_flush_bounds(tmp_path):
    path = tmp_path / "bounded.pcap"
    with PcapWriter(path, buffer_size=64 * 1024, flush_interval=0.05) as writer:
        assert path.stat().st_size == 24                 # the header is out at once
        writer.write(numbered(300))                      # 300 KB through a 64 KiB buffer
        assert path.stat().st_size >= 24 + 300 * 1016 - 64 * 1024
        assert path.stat().st_size == 24 + writer.bytes_flushed - 24
        time.sleep(0.1)
        writer.tick()                                    # interval passed: all of it out
        assert path.stat().st_size == writer.bytes_written == writer.bytes_flushed
        assert sequence(read_complete(path)) == list(range(300))
    with PcapWriter(tmp_path / "slow.pcap", flush_interval=3600) as writer:
        writer.write(numbered(5))
        writer.tick()
        assert (tmp_path / "slow.pcap").stat().st_size == 24 and writer.packets_flushed == 0
    with pytest.raises(ValueError, match="flush_interval"):
        PcapWriter(tmp_path / "x.pcap", flush_interval=float("nan"))
    assert not (tmp_path / "x.pcap").exists()


# ---------------------------------------------------------------- full disk

@pytest.fixture
def small_fs(tmp_path):
    """A 2 MiB tmpfs mounted for this test (root only), unmounted after."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small file system needs root")
    mnt = tmp_path / "small"
    mnt.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m,mode=0700", "tmpfs", str(mnt)],
                   check=True, capture_output=True)
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=True, capture_output=True)


def fill_until_full(writer) -> OSError:
    first = 0
    with pytest.raises(OSError) as info:
        while first < 100000:
            writer.write(numbered(50, first=first))
            first += 50
    return info.value


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("reserve", [True, False], ids=["reserved", "plain-writes"])
def test_full_disk_leaves_complete_records_and_says_so(small_fs, fmt, reserve):
    path = small_fs / f"full.{fmt}"
    writer = PcapWriter(path, format=fmt, buffer_size=64 * 1024)
    if not reserve:
        writer._reserve_ok = False           # a file system without fallocate
    error = fill_until_full(writer)
    assert error.errno == errno.ENOSPC
    assert "last complete record" in str(error)
    assert writer.failed is not None and writer.packets_lost > 0
    # the write that failed says so (it said "an earlier write failed")
    assert str(error).startswith(f"[Errno {errno.ENOSPC}] writing to {path} failed: No space "
                                 f"left on device ({writer.packets_flushed} of "
                                 f"{writer.packets_flushed + writer.packets_lost} packets "
                                 "written; "), error
    assert writer.packets_written == writer.packets_flushed
    assert os.stat(path).st_size == writer.bytes_flushed
    on_disk = writer.packets_flushed
    with pytest.raises(OSError, match="earlier write failed"):
        writer.write(numbered(1))
    with pytest.raises(OSError, match="earlier write failed"):
        writer.flush()
    # free space, as the user would; close must still not rewrite anything
    filler = small_fs / "filler"
    if fmt == "pcapng":
        with pytest.raises(OSError, match="earlier write failed"):
            writer.close(stats=Stats(on_disk + writer.packets_lost + 7, 7))
    else:
        with pytest.raises(OSError, match="earlier write failed"):
            writer.close()
    assert not filler.exists()
    writer.close()                           # idempotent, quiet the second time
    back = read_complete(path)
    assert sequence(back) == list(range(on_disk))
    if fmt == "pcapng":
        with open_pcap(path) as reader:
            reader.read()
            stats = [(s.received, s.dropped) for s in reader.stats]
        if reserve:
            assert stats == [(on_disk + writer.packets_lost + 7, 7)]


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_a_first_write_that_fails_says_what_failed_not_an_earlier_one(fmt):
    """/dev/full takes not even the file header: the error said "an earlier
    write failed" of the first write."""
    with pytest.raises(OSError) as info:
        PcapWriter("/dev/full", format=fmt)
    assert info.value.errno == errno.ENOSPC
    assert str(info.value) == (f"[Errno {errno.ENOSPC}] writing to /dev/full failed: No space "
                               "left on device (nothing is in it, not even the file header); "
                               "write to a new file")
    with open("/dev/full", "wb") as full:
        with pytest.raises(OSError, match="^.Errno 28. writing to <fd [0-9]+> failed: No space"):
            PcapWriter(full, format=fmt)


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_a_descriptor_opened_for_appending_keeps_what_the_file_held(small_fs, fmt):
    """`ringcap -w - >> file`: a descriptor opened with O_APPEND says offset 0
    while the bytes land at the end.  Taking 0 for the start, a pcapng writer's
    close punched its reserve's hole into the old bytes (1 MiB of them zeroed),
    and a failed write cut the file at the wrong place."""
    path = small_fs / f"appended.{fmt}"
    old = bytes(range(256)) * 2048                     # 512 KiB that must survive
    path.write_bytes(old)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    try:
        writer = PcapWriter(fd, format=fmt, buffer_size=64 * 1024)
        writer.write(numbered(100))
        writer.flush()
        raw = numbered(1)
        raw.linktype[:] = 101                          # a pcap header's link type stays
        if fmt == "pcap":
            with pytest.raises(ValueError, match="link type"):
                writer.write(raw)
        error = fill_until_full(writer)
        assert error.errno == errno.ENOSPC
        with pytest.raises(OSError, match="earlier write failed"):
            writer.close()
    finally:
        os.close(fd)
    data = path.read_bytes()
    assert data[:len(old)] == old
    assert len(data) == len(old) + writer.bytes_flushed
    rest = small_fs.parent / f"rest.{fmt}"
    rest.write_bytes(data[len(old):])
    assert writer.packets_flushed > 100
    assert sequence(read_complete(rest)) == \
        list(range(100)) + list(range(writer.packets_flushed - 100))


def test_only_pcapng_keeps_disk_space_reserved_past_the_end(small_fs):
    """The reserve is for pcapng's statistics block; a pcap file, which has no
    block to add after a failed write, is written with plain writes (on tmpfs
    fallocate() allocates and zeroes the pages a write then fills)."""
    for fmt in ("pcap", "pcapng"):
        path = small_fs / f"reserve.{fmt}"
        writer = PcapWriter(path, format=fmt, buffer_size=64 * 1024)
        try:
            writer.write(numbered(100))
            writer.flush()
            st = os.stat(path)
            allocated = st.st_blocks * 512
            if fmt == "pcap":
                assert allocated == -(-st.st_size // 4096) * 4096, (fmt, st)
            else:
                assert allocated >= st.st_size + 16 * 1024, (fmt, st)
        finally:
            writer.close()
        assert sequence(read_complete(path)) == list(range(100))


def test_full_disk_statistics_block_fits_the_reserved_space(small_fs):
    """With the space reserved, the final statistics block always fits."""
    path = small_fs / "stats.pcapng"
    writer = PcapWriter(path, format="pcapng", buffer_size=64 * 1024)
    writer.add_interface(3, "eth9")
    fill_until_full(writer)
    with pytest.raises(OSError, match="earlier write failed"):
        writer.close(stats=Stats(123456, 789))
    with open_pcap(path) as reader:
        batch = reader.read()
        assert len(batch) == writer.packets_flushed and batch.drops == 789
        assert [(s.interface, s.received, s.dropped) for s in reader.stats] == [(0, 123456, 789)]
        assert reader.interfaces[0].name == "eth9"


def test_a_quiet_sink_still_flushes_within_the_interval(tmp_path):
    from ringcap.sinks import PcapSink
    path = tmp_path / "quiet.pcap"
    sink = PcapSink(str(path), writer_options={"flush_interval": 0.05})
    try:
        sink.write(numbered(3))
        size = path.stat().st_size
        assert size == 24                     # still buffered
        time.sleep(0.1)
        sink.tick()                           # what the capture loop calls on a quiet link
        assert path.stat().st_size == 24 + 3 * 1016
    finally:
        sink.close()
    assert sequence(read_complete(path)) == [0, 1, 2]


def test_interfaces_described_before_a_failed_first_flush_stay_described(small_fs):
    """The first flush fails (the buffer is larger than the disk; the records
    that fit go out first): the interface block and the statistics must still
    agree in the file."""
    path = small_fs / "first.pcapng"
    writer = PcapWriter(path, format="pcapng", buffer_size=4 << 20)
    writer.add_interface(7, "eth7")
    fill_until_full(writer)
    assert writer.packets_flushed > 0 and writer.packets_lost > 0
    with pytest.raises(OSError, match="earlier write failed"):
        writer.close(stats=Stats(5000, 3))
    with open_pcap(path) as reader:
        assert len(reader.read()) == writer.packets_flushed
        assert [i.name for i in reader.interfaces] == ["eth7", "if0"]   # if0: the packets
        assert [(s.interface, s.received, s.dropped) for s in reader.stats] == [(0, 5000, 3)]


def test_pcapng_onto_a_full_disk_writes_the_records_that_fit_with_the_reserve(small_fs):
    """With the default 1 MiB buffer a pcapng writer that could not reserve
    the buffer's space and the reserve gave up the whole buffer: 1 MiB of
    records that would have fit were lost (on a 2 MiB tmpfs, a file of
    1 MiB).  It now writes the whole records that fit, keeping the reserve,
    and the statistics block still lands in it."""
    path = small_fs / "default-buffer.pcapng"
    writer = PcapWriter(path, format="pcapng")
    error = fill_until_full(writer)
    assert error.errno == errno.ENOSPC
    with pytest.raises(OSError, match="earlier write failed"):
        writer.close(stats=Stats(123, 4))
    record = 32 + 1000 + 12                  # an EPB of 1000 bytes, with its flags
    free = os.statvfs(small_fs).f_bavail * os.statvfs(small_fs).f_frsize
    assert free < 16 * 1024 + record + 8192, free         # full, but for the reserve's tail
    with open_pcap(path) as reader:
        batch = reader.read()
        assert [(s.received, s.dropped) for s in reader.stats] == [(123, 4)]
    assert sequence(batch) == list(range(writer.packets_flushed))
    assert os.stat(path).st_size > 2_000_000 - 16 * 1024 - record - 8192
