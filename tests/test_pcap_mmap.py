"""The file reader maps capture files instead of copying them, and stays safe.

A file another program truncates while it is mapped would kill the reader with
SIGBUS; ringcap's guard turns that into the reader's truncation warning (or
error with strict=True) at the right offset, batches already returned read
their bytes or zeros, and every other SIGBUS still reaches faulthandler and the
default action.  Each of these runs in a subprocess, whose exit status and
stderr say whether it survived.  The mapped reader gives the values the
pread reader gives, on every format, and leaves no map behind.
"""
import ast
import contextlib
import gc
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import ringcap
from ringcap import _filemap
from ringcap.pcapfile.reader import PcapReader
from conftest import mapped_bytes
from test_pcap import (make_batch, ng_block, ng_epb, ng_idb, ng_isb, ng_shb, ng_spb,
                       pcap_header, pcap_record, sample_files, write_bytes)

# the ringcap under test (a checkout built in place, or installed), first on the path
ENV = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(ringcap.__file__))}

RECORD = 1016                      # 16-byte record header + 1000 bytes: packet i starts with i
SETUP = """
import faulthandler, os, subprocess, sys, warnings, numpy as np, ringcap
frames = [i.to_bytes(4, "big") + bytes([i % 251 + 1]) * 996 for i in range(5000)]
ringcap.write_pcap("big.pcap", ringcap.Batch.from_packets(frames))
"""


def run_script(code: str, tmp_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", SETUP + textwrap.dedent(code)],
                          cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)


def maps_of(path) -> list[str]:
    with open("/proc/self/maps") as f:
        return [line for line in f if line.rstrip().endswith(str(path))]


# ---------------------------------------------------------------- truncated while read

READ_WHILE_CUT = """
strict = {strict}
if {faulthandler_before}:
    faulthandler.enable()
seen, kept, caught = [], [], []
with warnings.catch_warnings(record=True) as warned:
    warnings.simplefilter("always")
    try:
        with ringcap.open_pcap("big.pcap", batch_packets=100, strict=strict) as reader:
            if {faulthandler_after}:
                faulthandler.enable()     # replaces ringcap's SIGBUS handler; reading restores it
            for batch in reader:
                if not seen:
                    kept.append(batch)
                seen.extend(int.from_bytes(p[:4], "big") for p in batch.packets())
                if len(seen) == 100:      # another program cuts the file
                    {cut}
    except ringcap.PcapTruncatedError as error:
        caught.append(error)
for problem in caught + [w.message for w in warned]:
    print("PROBLEM", type(problem).__name__, problem.offset, problem)
first = kept[0]
intact = [int.from_bytes(p[:4], "big") for p in first.packets()] == list(range(100))
print("SEEN", seen == list(range(len(seen))), len(seen), "KEPT", intact)
"""

# Cuts inside the next batch's records (100..199).  At a page boundary, reading them
# touches pages the cut took (SIGBUS without the guard); in the middle of a page, the
# rest of the page reads as zeros, which must not become packets.
CUTS = {   # name: (bytes left, from this process or another)
    "mid-window": (24 + RECORD * 150 + 500, "os.truncate('big.pcap', {size})"),
    "page-boundary": (4096 * 37, "os.truncate('big.pcap', {size})"),
    "other-process": (4096 * 37,
                      "subprocess.run(['truncate', '-s', '{size}', 'big.pcap'], check=True)"),
}


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize("cut", sorted(CUTS))
def test_a_file_cut_while_iterated_gives_the_truncation_at_its_offset(tmp_path, cut, strict):
    size, how = CUTS[cut]
    proc = run_script(READ_WHILE_CUT.format(strict=strict, faulthandler_before=False,
                                            faulthandler_after=False,
                                            cut=how.format(size=size)), tmp_path)
    assert proc.returncode == 0, f"died with status {proc.returncode}: {proc.stderr[-2000:]}"
    problem, seen = proc.stdout.splitlines()
    record = (size - 24) // RECORD             # the record the cut runs through
    offset = 24 + RECORD * record
    kind = "PcapTruncatedError" if strict else "PcapTruncatedWarning"
    assert problem.startswith(f"PROBLEM {kind} {offset} big.pcap: the file shrank while being "
                              f"read: it had {24 + RECORD * 5000} bytes when opened, and the "
                              f"record at byte offset {offset} runs past its end at {size}")
    assert seen == f"SEEN True {record} KEPT True"


@pytest.mark.parametrize("when", ["before", "after"])
def test_the_guard_works_with_faulthandler_enabled_before_or_after_opening(tmp_path, when):
    size = 4096 * 37
    proc = run_script(READ_WHILE_CUT.format(strict=False, faulthandler_before=when == "before",
                                            faulthandler_after=when == "after",
                                            cut=f"os.truncate('big.pcap', {size})"), tmp_path)
    assert proc.returncode == 0, f"died with status {proc.returncode}: {proc.stderr[-2000:]}"
    assert "Fatal Python error" not in proc.stderr
    problem, seen = proc.stdout.splitlines()
    assert problem.startswith(f"PROBLEM PcapTruncatedWarning {24 + RECORD * 149} ")
    assert seen == "SEEN True 149 KEPT True"


def test_batches_kept_read_their_bytes_or_zeros_after_the_file_is_cut(tmp_path):
    # (faulthandler on as `python -X faulthandler` and pytest have it: before reading)
    proc = run_script("""
    faulthandler.enable()
    whole = ringcap.read_pcap("big.pcap")
    with ringcap.open_pcap("big.pcap", batch_packets=100) as reader:
        first = reader.read(10)
    os.truncate("big.pcap", 4096 * 3 + 100)
    packets = whole.packets() + first.packets()       # every byte touched
    good = [i for i, p in enumerate(packets) if p == frames[i % 5000]]
    zero = [i for i, p in enumerate(packets) if not any(p)]
    each = all(((np.frombuffer(p, np.uint8) == np.frombuffer(frames[i % 5000], np.uint8))
                | (np.frombuffer(p, np.uint8) == 0)).all() for i, p in enumerate(packets))
    print(len(packets), len(good), len(zero), each, len(ringcap.decode(whole)))
    """, tmp_path)
    assert proc.returncode == 0, f"died with status {proc.returncode}: {proc.stderr[-2000:]}"
    # 12 packets lie wholly before the cut (twice: in both batches), one across it,
    # the rest wholly past it; every byte reads as itself or as zero
    assert proc.stdout.split() == ["5010", str(12 + 10), str(5010 - 22 - 1), "True", "5000"]


SIGBUS_ELSEWHERE = """
import ctypes, mmap
if {before}:
    faulthandler.enable()
with ringcap.open_pcap("big.pcap") as reader:      # installs ringcap's SIGBUS handler
    batch = reader.read(10)
    if {after}:
        faulthandler.enable()
        reader.read(10)                              # ... and installs it again on top
with open("other.bin", "wb") as f:
    f.write(bytes(1 << 20))
with open("other.bin", "r+b") as f:
    other = mmap.mmap(f.fileno(), 1 << 20, access=mmap.ACCESS_COPY)
os.truncate("other.bin", 0)
print("touching", flush=True)
ctypes.string_at(ctypes.addressof(ctypes.c_char.from_buffer(other)) + 500000, 1)
print("survived", flush=True)
"""


@pytest.mark.parametrize("faulthandler_on", ["off", "before", "after"])
def test_a_sigbus_outside_ringcaps_maps_still_kills_the_process(tmp_path, faulthandler_on):
    proc = run_script(SIGBUS_ELSEWHERE.format(before=faulthandler_on == "before",
                                              after=faulthandler_on == "after"), tmp_path)
    assert proc.returncode == -signal.SIGBUS, (proc.returncode, proc.stderr[-2000:])
    assert proc.stdout.split() == ["touching"]
    if faulthandler_on == "off":
        assert "Fatal Python error" not in proc.stderr
    else:                                            # the traceback, once
        assert proc.stderr.count("Fatal Python error: Bus error") == 1, proc.stderr[-2000:]
        assert "line " in proc.stderr


def test_reading_reinstalls_the_guard_after_faulthandler_replaces_it(tmp_path):
    proc = run_script("""
    from ringcap import _filemap
    faulthandler.enable()
    with ringcap.open_pcap("big.pcap", batch_packets=100) as reader:
        reader.read(100)
        on_top = [_filemap.guard_installed()]
        faulthandler.disable()                   # (faulthandler's handler, installed again)
        faulthandler.enable()
        on_top.append(_filemap.guard_installed())
        reader.read(100)                         # each read puts the guard back on top
        on_top.append(_filemap.guard_installed())
    print(on_top)
    """, tmp_path)
    assert proc.returncode == 0, f"died with status {proc.returncode}: {proc.stderr[-2000:]}"
    assert proc.stdout.split("\n")[0] == "[True, False, True]"


# ---------------------------------------------------------------- the same values as pread

class PreadReader(PcapReader):
    _MAP_FILES = False


def _hand_built_files(tmp_path):
    files = []
    for order in "<>":
        for nano in (True, False):
            raw = pcap_header(order, nano)
            for i in range(40):
                raw += pcap_record(order, 1_600_000_000 + i, 999 * i, bytes([i]) * (i * 37 % 1500))
            files.append(write_bytes(tmp_path / f"p{order == '<'}{nano}.pcap", raw))
    le, be = "<", ">"
    raw = ng_shb(le) + ng_block(le, 4, b"\x00" * 8) + ng_idb(le, "eth0")
    raw += ng_idb(le, "eth1", tsresol=9) + ng_idb(le, None, tsresol=0x80 | 20, tsoffset=100)
    for i in range(30):
        raw += ng_epb(le, i % 3, 1_600_000_000_000_001 + i, bytes([i]) * (i * 53 % 1500),
                      flags=2 if i % 2 else None)
    raw += ng_spb(le, b"simple-packet", wirelen=13) + ng_isb(le, 1, 1_600_000_005 * 10**9, 10, 4)
    raw += ng_shb(be) + ng_idb(be, "wlan0", tsresol=3, snaplen=4)
    for i in range(30):
        raw += ng_epb(be, 0, 1_600_000_007_123 + i, bytes([i]) * (i * 11 % 300))
    files.append(write_bytes(tmp_path / "multi.pcapng", raw))
    _, samples = sample_files()
    for fmt in ("pcap", "pcapng"):
        files.append(write_bytes(tmp_path / f"cut.{fmt}", samples[fmt][:-7]))  # a partial record
    return files


def _read_all(cls, path, batch_packets, strict=False):
    out = []
    with cls(path, batch_packets=batch_packets, strict=strict) as reader:
        try:
            for batch in reader:
                out.append(batch.copy())
        except ringcap.PcapFormatError as error:
            out.append((type(error).__name__, error.offset, str(error)))
        out.append([(s.interface, s.ts, s.received, s.dropped) for s in reader.stats])
        out.append(reader.interfaces)
    return out


def _same(a, b) -> bool:
    if isinstance(a, ringcap.Batch):
        return (isinstance(b, ringcap.Batch) and a.packets() == b.packets()
                and all(np.array_equal(getattr(a, c), getattr(b, c)) for c in
                        ("ts", "caplen", "wirelen", "ifindex", "pkttype", "linktype"))
                and a.drops == b.drops and a.interfaces == b.interfaces)
    return a == b


@pytest.mark.parametrize("batch_packets", [1, 7, 65536])
def test_mapped_reads_equal_pread_reads_on_every_format(tmp_path, batch_packets):
    for path in _hand_built_files(tmp_path):
        for strict in (False, True):
            warns = not strict and "cut" in path.name     # (the partial record at the end)
            with pytest.warns(ringcap.PcapTruncatedWarning) if warns else contextlib.nullcontext():
                mapped = _read_all(PcapReader, path, batch_packets, strict)
            with pytest.warns(ringcap.PcapTruncatedWarning) if warns else contextlib.nullcontext():
                pread = _read_all(PreadReader, path, batch_packets, strict)
            assert len(mapped) == len(pread) > 2, path.name
            assert all(_same(a, b) for a, b in zip(mapped, pread)), path.name
        whole = ringcap.read_pcap(path) if "cut" not in path.name else None
        if whole is not None:     # read_pcap: one batch viewing one map of the file
            assert _same(whole, ringcap.Batch.concat(
                [b for b in _read_all(PreadReader, path, 65536)[:-2]]))


def test_a_batch_views_the_map_of_the_file_without_a_copy(tmp_path):
    path = tmp_path / "f.pcap"
    ringcap.write_pcap(path, make_batch(200))
    with ringcap.open_pcap(path) as reader:
        batch = reader.read(50)
        assert isinstance(reader._map, _filemap.FileMap) and reader._mapped
        assert not batch.data.flags.writeable
        with pytest.raises(ValueError):
            batch.data[0] = 1
    assert len(maps_of(path)) >= 1           # the batch keeps its map after close
    assert batch.packets() == make_batch(200)[:50].packets()


# ---------------------------------------------------------------- no map outlives its batches

def test_no_map_is_left_after_close_and_the_batches_are_gone(tmp_path):
    path = tmp_path / "f.pcap"
    ringcap.write_pcap(path, make_batch(2000))
    gc.collect()                             # (maps of batches earlier tests dropped)
    before = _filemap.live_maps()
    batches = []
    with ringcap.open_pcap(path, batch_packets=300) as reader:
        batches.extend(reader)
    whole = ringcap.read_pcap(path)
    assert maps_of(path) and sum(len(b) for b in batches) == len(whole) == 2000
    del batches, whole
    gc.collect()
    assert maps_of(path) == [] and _filemap.live_maps() == before
    fds = len(os.listdir("/proc/self/fd"))
    for _ in range(1000):
        with ringcap.open_pcap(path, batch_packets=500) as reader:
            for batch in reader:
                pass
        del batch
    assert maps_of(path) == [] and _filemap.live_maps() == before
    assert len(os.listdir("/proc/self/fd")) <= fds


def test_dropped_pages_of_a_map_are_unmapped_and_read_the_same_again(tmp_path):
    data = os.urandom(64 * 4096 + 100)
    path = tmp_path / "f.bin"
    path.write_bytes(data)
    fd = os.open(path, os.O_RDONLY)
    try:
        m = _filemap.FileMap(fd, 0, len(data))
        view = memoryview(m)
        assert bytes(view) == data and mapped_bytes(path) >= 64 * 4 * 1024
        m.drop(4096 + 1, 60 * 4096 + 5)     # whole pages only: 2..59
        assert mapped_bytes(path) <= (64 * 4 + 4 - 58 * 4) * 1024
        m.drop(-10, 1 << 40)                # clamped to the map; the last partial page too
        assert mapped_bytes(path) == 0
        assert bytes(view) == data          # read again: mapped again, same bytes
        view.release()
        del m
    finally:
        os.close(fd)


def vm_flags(path) -> list[str]:
    """The VmFlags of each map of ``path`` in this process (/proc/self/smaps)."""
    flags, ours = [], False
    with open("/proc/self/smaps") as smaps:
        for line in smaps:
            if line[:1] in "0123456789abcdef" and "-" in line.split()[0]:
                ours = line.rstrip("\n").endswith(" " + str(path))
            elif ours and line.startswith("VmFlags:"):
                flags.append(line.split()[1:])
    return flags


def test_maps_ask_for_large_folios_so_evicted_pages_come_back_in_them(tmp_path):
    # MADV_HUGEPAGE ("hg"): the pages a walk faults back in after the page
    # cache evicted them are read in folios of up to 2 MiB, not 4 KiB ones every
    # later run maps a page at a time (a 512 MiB hole of the 1.37 GB recorded
    # file: 133,661 pages in 4 KiB folios after `ringcap fields` read it back,
    # 2,593 with the hint); MADV_SEQUENTIAL ("sr") as before
    path = tmp_path / "f.pcap"
    ringcap.write_pcap(str(path), make_batch(64))
    fd = os.open(path, os.O_RDONLY)
    try:
        m = _filemap.FileMap(fd, 0, os.path.getsize(path))
        [flags] = vm_flags(path)
        assert "hg" in flags and "sr" in flags
        del m
        assert vm_flags(path) == []
        with ringcap.open_pcap(str(path)) as reader:     # the reader's maps are FileMaps
            batch = next(iter(reader))
            assert vm_flags(path) and all("hg" in f for f in vm_flags(path))
            del batch
    finally:
        os.close(fd)


# ---------------------------------------------------------------- what a walk prefetches

def test_a_walk_over_large_records_prefetches_their_headers_not_every_line():
    # 1514-byte frames with 66-byte ACKs among them, as a TCP transfer records: the
    # walk prefetches the rest of each record's packet headers (the filter and the
    # decoder read them next) and where the next headers start, never the payload
    # lines between
    sizes = [1530] * 20 + [82] + [1530] * 20 + [82, 82] + [1530] * 20
    starts = [int(s) for s in np.cumsum([0] + sizes)]
    end = starts[-1]
    plans = ringcap._pcapio._test_prefetch_plan(sizes, end)
    assert all(len(plan) <= 18 and max(plan, default=0) < end for plan in plans)
    own = [[starts[i] + k for k in (64, 112) if k < size] for i, size in enumerate(sizes)]
    assert own[20] == [starts[20] + 64]                 # an ACK's headers end in its second line
    block = [start >> 16 for start in starts]           # the 64 KiB a fault maps
    assert block[46] != block[45] and len(set(block[:-1])) == 2
    for i, plan in enumerate(plans):
        assert plan[:len(own[i])] == own[i], i
        if i and set(sizes[i - 1:i + 10]) == {1530} and block[i] == block[i - 1]:
            # within a run only the header 8 past the next, newly reachable: the
            # records before asked for those nearer
            assert plan[len(own[i]):] == [s for s in starts[i + 9:i + 10] if s < end], i
    # the first record asks for the next 8 headers on, as a record after a change of
    # size does, and the first record in a new 64 KiB (the walk has just faulted
    # it in: what the records before asked for there went unheard)
    assert plans[0][2:] == [starts[9]] + starts[2:9]
    assert plans[46][2:] == [starts[55]] + starts[48:55]
    # within a run every header was asked for 2 to 9 records before it, by one record
    # (or two, the second in a new 64 KiB): the old plan asked 4 times, 2 to 5 before
    for j in range(2, len(sizes)):
        if set(sizes[max(j - 10, 0):j]) == {1530}:
            asked = [i for i in range(max(j - 9, 0), j) if starts[j] in plans[i]]
            assert 1 <= len(asked) <= 2 and max(asked) <= j - 2, j
    # after an ACK, the header past the next is fetched by the size before it
    assert starts[22] in plans[20]
    # 63 records of 1.2 KB: about 2 look-aheads a record besides each record's own
    # headers (the plan before asked for 4 in a run, 8 at a change)
    ahead = [line for i, plan in enumerate(plans) for line in plan[len(own[i]):]]
    assert len(ahead) < 3 * len(sizes)


def test_the_walks_prefetch_plan_is_inlined_in_each_walk():
    # gcc -O2 left _prefetch_next a call (36 instructions a packet); the module forces
    # it inline by Cython's name for it, which must still be the name it generates
    symbols = subprocess.run(["nm", ringcap._pcapio.__file__], capture_output=True,
                             text=True, check=True).stdout
    assert "_pcapio__prefetch_after_change" in symbols     # the names nm shows: Cython's
    assert "_pcapio__prefetch_next" not in symbols


def test_a_walk_over_small_records_prefetches_every_line_ahead():
    sizes = [80] * 200                              # 64-byte frames: a header in every line
    plans = ringcap._pcapio._test_prefetch_plan(sizes, 80 * 200)
    lines = [line for plan in plans for line in plan]
    assert lines == list(range(0, 80 * 200, 64))    # each line once, in order, none past the end
    assert plans[0] == list(range(0, 4096, 64))     # 4 KiB ahead from the first record


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
def test_a_file_of_large_records_cut_while_iterated_reads_every_packet_before_the_cut(tmp_path,
                                                                                      fmt):
    # the prefetches of headers past the cut (pages the file no longer backs) never
    # fault; what is read equals a read of the file as cut (a copy cut beforehand)
    proc = subprocess.run([sys.executable, "-c", textwrap.dedent(f"""
        import os, shutil, warnings, ringcap
        frames = [i.to_bytes(4, "big") + bytes(1510) if i % 3 else i.to_bytes(4, "big") + bytes(62)
                  for i in range(20000)]
        ringcap.write_pcap("large.{fmt}", ringcap.Batch.from_packets(frames), format="{fmt}")
        shutil.copy("large.{fmt}", "cut.{fmt}")
        os.truncate("cut.{fmt}", 4096 * 1000)

        def read(path, cut=False):
            seen = []
            with warnings.catch_warnings(record=True) as warned:
                warnings.simplefilter("always")
                with ringcap.open_pcap(path, batch_packets=1000) as reader:
                    for batch in reader:
                        seen.extend(int.from_bytes(p[:4], "big") for p in batch.packets())
                        if cut and len(seen) == 1000:
                            os.truncate(path, 4096 * 1000)
            return (seen == list(range(len(seen))), len(seen),
                    [(type(w.message).__name__, w.message.offset) for w in warned])

        print(read("large.{fmt}", cut=True))
        print(read("cut.{fmt}"))
        """)], cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"died with status {proc.returncode}: {proc.stderr[-2000:]}"
    while_cut, cut_before = proc.stdout.splitlines()
    ok, count, warned = ast.literal_eval(while_cut)
    assert ok and 3000 < count < 5000 and [kind for kind, _ in warned] == ["PcapTruncatedWarning"]
    assert while_cut == cut_before.replace("cut.", "large.")
    if fmt == "pcap":
        ends = np.cumsum([16 + (1514 if i % 3 else 66) for i in range(20000)]) + 24
        assert count == int(np.searchsorted(ends, 4096 * 1000, side="right"))
        assert warned == [("PcapTruncatedWarning", int(ends[count - 1]))]
