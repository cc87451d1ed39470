"""`ringcap -r BIG -w PART -C/-G/-W [-z CMD]` splits a file as a capture splits its output.

`tcpdump -r big.pcap -w part -C 100` is the well-known way to cut a capture;
ringcap refused -C, -G and -W with -r as unknown options (status 2) and
ignored -z.  Now they take the capture's rules and its sink: the parts are,
byte for byte, the files the capture's PcapSink writes for those packets,
-G cuts by the packets' timestamps, and Ctrl-C or a full disk end the split
as they end a capture (the parts finished, the summary counted).
"""
from __future__ import annotations

import gzip
import os
import re
import signal
import struct
import subprocess
import sys
import time
import warnings

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap, wrpcapng

from conftest import wait_until
from test_linktypes import PACKAGE_ROOT, ringcap_cli, tcpdump

from ringcap import read_pcap
from ringcap.sinks import PcapSink, Rotation

T0 = 1_700_000_000


def _packets(count: int, step: float = 0.01, start: float = T0, size=lambda i: 40 + i % 300):
    packets = []
    for i in range(count):
        packet = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                  / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=1000 + i % 60000, dport=53)
                  / Raw(bytes([i % 256]) * size(i)))
        packet.time = start + i * step
        packets.append(packet)
    return packets


def _big_pcap(path, count: int, size: int = 200) -> str:
    """A pcap file of ``count`` Ethernet frames, written here with struct (fast)."""
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        frame = bytes.fromhex("020000000002020000000001") + b"\x88\xb5" + b"z" * (size - 14)
        for i in range(count):
            out.write(struct.pack("<IIII", T0 + i // 1000, i % 1000 * 1000, size, size))
            out.write(frame[:14] + i.to_bytes(8, "big") + frame[22:])
    return str(path)


def _records(paths) -> list[tuple[int, int, bytes]]:
    """(timestamp, wire length, bytes) of every packet, file after file; a
    file cut inside a record fails (the warning is an error)."""
    records = []
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            batch = read_pcap(path)
        records += zip(batch.ts.tolist(), batch.wirelen.tolist(), batch.packets())
    return records


def _bytes(path) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _frame_numbers(paths) -> list[int]:
    """The numbers that :func:`_big_pcap` wrote into the frames of ``paths``."""
    numbers = []
    for path in paths:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            batch = read_pcap(path)
        numbers += [int.from_bytes(p[14:22], "big") for p in batch.packets()]
    return numbers


def _parts(folder, prefix: str) -> list[str]:
    """PREFIX, PREFIX1, PREFIX2 ... in number order (tcpdump's -C names)."""
    names = [n for n in os.listdir(folder) if re.fullmatch(re.escape(prefix) + r"\d*", n)]
    names.sort(key=lambda n: int(n[len(prefix):] or 0))
    return [str(folder / n) for n in names]


def _capture_sink_files(source, folder, rotation: Rotation) -> list[str]:
    """The files the capture's sink writes for the packets of ``source``."""
    batch = read_pcap(source)
    sink = PcapSink(str(folder / "part"), rotation=rotation, snaplen=65535, nanosecond=False,
                    linktype=1)
    sink.write(batch)
    return list(sink.close().files)


def _split(*args, **options):
    return subprocess.run([sys.executable, "-m", "ringcap", *args], cwd="/", timeout=120,
                          env={**os.environ, "PYTHONPATH": PACKAGE_ROOT},
                          capture_output=True, text=True, **options)


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_C_parts_hold_every_packet_once_in_order_and_never_pass_the_size(tmp_path, kind):
    """-C 0.01: parts of at most 10,000 bytes, each ending where the next
    packet would pass it; together the input's packets, in order (ringcap's
    reader and tcpdump's lines); byte for byte the capture's sink's files."""
    source = str(tmp_path / f"in.{kind}")
    (wrpcap if kind == "pcap" else wrpcapng)(source, _packets(400))
    out = tmp_path / "out"
    out.mkdir()
    done = ringcap_cli("-r", source, "-w", str(out / "part"), "-C", "0.01")
    assert done.returncode == 0, done.stderr
    parts = _parts(out, "part")
    assert len(parts) >= 10
    assert _records(parts) == _records([source])
    theirs = tcpdump("-nn", "-tt", "-r", source).stdout
    assert "".join(tcpdump("-nn", "-tt", "-r", p).stdout for p in parts) == theirs
    sizes = [os.path.getsize(p) for p in parts]
    assert max(sizes) <= 10_000
    for part, following in zip(parts, parts[1:]):
        nxt = len(_records([following])[0][2]) + 16
        assert os.path.getsize(part) + nxt > 10_000, "a part ended before it was full"
    assert f"400 packets read\n400 packets written\nwritten to {len(parts)} files, " \
           f"{parts[0]} ... {parts[-1]}\n" in done.stderr
    if kind == "pcap":
        lib = tmp_path / "lib"
        lib.mkdir()
        expected = _capture_sink_files(source, lib, Rotation(max_bytes=10_000))
        assert [_bytes(p) for p in parts] == [_bytes(p) for p in expected]


def test_G_cuts_at_the_packets_time_and_names_parts_by_their_first_packet(tmp_path):
    """-G 2 over 10 s of packets (read in well under a second): five parts,
    each holding the packets of 2 s from its first, named by strftime of that
    packet's time (the first part too, opened before any packet is read)."""
    source = str(tmp_path / "in.pcap")
    wrpcap(source, _packets(100, step=0.1, start=T0 + 0.5))
    out = tmp_path / "out"
    out.mkdir()
    done = ringcap_cli("-r", source, "-w", str(out / "g-%Y%m%d-%H%M%S.pcap"), "-G", "2")
    assert done.returncode == 0, done.stderr
    parts = sorted(str(out / n) for n in os.listdir(out))
    starts = [T0 + 0.5 + 2 * k for k in range(5)]
    assert [os.path.basename(p) for p in parts] == [
        time.strftime("g-%Y%m%d-%H%M%S.pcap", time.localtime(s)) for s in starts]
    for part, start in zip(parts, starts):
        ts = [t / 1e9 for t, _, _ in _records([part])]
        assert len(ts) == 20 and abs(ts[0] - start) < 1e-6 and ts[-1] < start + 2
    assert _records(parts) == _records([source])


def test_G_with_W_stops_after_W_parts_as_a_capture_does(tmp_path):
    source = str(tmp_path / "in.pcap")
    wrpcap(source, _packets(100, step=0.1))
    out = tmp_path / "out"
    out.mkdir()
    done = ringcap_cli("-r", source, "-w", str(out / "g%S"), "-G", "2", "-W", "3")
    assert done.returncode == 0, done.stderr
    assert "ringcap: maximum file limit reached: 3" in done.stderr
    assert "60 packets written\n40 packets not written after the file limit (-W)" in done.stderr
    parts = sorted(str(out / n) for n in os.listdir(out))
    assert len(parts) == 3
    assert _records(parts) == _records([source])[:60]


def test_C_with_W_keeps_the_last_parts_in_a_ring_of_names(tmp_path):
    """-C -W 3: part0, part1, part2 reused in turn; what is left is the last
    three parts, the same bytes as the capture's sink writes."""
    source = str(tmp_path / "in.pcap")
    wrpcap(source, _packets(400))
    out = tmp_path / "out"
    out.mkdir()
    done = ringcap_cli("-r", source, "-w", str(out / "part"), "-C", "0.01", "-W", "3")
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(out)) == ["part0", "part1", "part2"]
    lib = tmp_path / "lib"
    lib.mkdir()
    expected = _capture_sink_files(source, lib, Rotation(max_bytes=10_000, max_files=3))
    assert [os.path.basename(p) for p in expected][-3:] == \
        [os.path.basename(p) for p in expected[-3:]]
    ours = [str(out / os.path.basename(p)) for p in expected]
    assert [_bytes(p) for p in ours] == [_bytes(p) for p in expected]
    # in ring order, the three parts are the input's last packets
    tail = _records(ours)
    assert tail == _records([source])[-len(tail):]
    assert f"written to 3 files, {ours[0]} ... {ours[-1]}" in done.stderr


def test_z_runs_on_each_finished_part_the_last_too(tmp_path):
    source = str(tmp_path / "in.pcap")
    wrpcap(source, _packets(400))
    out = tmp_path / "out"
    out.mkdir()
    done = ringcap_cli("-r", source, "-w", str(out / "part"), "-C", "0.01", "-z", "gzip")
    assert done.returncode == 0, done.stderr
    names = os.listdir(out)
    assert names and all(n.endswith(".gz") for n in names)
    lib = tmp_path / "lib"
    lib.mkdir()
    expected = _capture_sink_files(source, lib, Rotation(max_bytes=10_000))
    assert len(names) == len(expected)
    for path in expected:
        with gzip.open(out / (os.path.basename(path) + ".gz")) as f:
            assert f.read() == _bytes(path)


def test_V_files_are_split_as_one_stream(tmp_path):
    first, second = str(tmp_path / "a.pcap"), str(tmp_path / "b.pcap")
    wrpcap(first, _packets(150))
    wrpcap(second, _packets(150, start=T0 + 10))
    (tmp_path / "list").write_text(f"{first}\n{second}\n")
    out = tmp_path / "out"
    out.mkdir()
    done = ringcap_cli("-V", str(tmp_path / "list"), "-w", str(out / "part"), "-C", "0.01")
    assert done.returncode == 0, done.stderr
    assert _records(_parts(out, "part")) == _records([first, second])


@pytest.mark.parametrize("options, message, status", [
    (("-w", "-", "-C", "1"), "-C, -G and -W need a file name, not -w -", 1),
    (("-W", "3"), "-C, -G, -W and -z apply to files: add -w FILE", 2),
    (("-C", "1"), "-C, -G, -W and -z apply to files: add -w FILE", 2),
    (("-w", "OUT", "-C", "1", "--post-rotate-jobs", "2"), "add -z CMD", 2),
])
def test_split_options_are_checked_as_a_capture_checks_them(tmp_path, options, message, status):
    source = str(tmp_path / "in.pcap")
    wrpcap(source, _packets(3))
    options = [str(tmp_path / o) if o == "OUT" else o for o in options]
    done = ringcap_cli("-r", source, *options)
    assert done.returncode == status and message in done.stderr, done.stderr
    assert os.listdir(tmp_path) == ["in.pcap"]


@pytest.fixture
def tmpfs(tmp_path):
    mounted = []

    def mount(name: str, *options: str):
        folder = tmp_path / name
        folder.mkdir()
        subprocess.run(["mount", "-t", "tmpfs", "-o", ",".join(options), "tmpfs", str(folder)],
                       check=True, capture_output=True)
        mounted.append(folder)
        return folder

    yield mount
    for folder in mounted:
        subprocess.run(["umount", "-l", str(folder)], check=True, capture_output=True)


def test_a_full_disk_ends_the_split_with_its_error_and_the_counted_summary(tmp_path, tmpfs):
    """A 1 MiB tmpfs, 3 MB of packets in parts of 100 kB: the parts that fit
    are complete, the one that failed ends at a whole record, and "packets
    written" is what the files hold; status 1, no traceback."""
    source = _big_pcap(tmp_path / "in.pcap", 3000, size=1000)
    small = tmpfs("small", "size=1m")
    done = ringcap_cli("-r", source, "-w", str(small / "p"), "-C", "0.1")
    assert done.returncode == 1, done.stderr
    assert "No space left on device" in done.stderr and "Traceback" not in done.stderr
    held = _records(_parts(small, "p"))
    assert 0 < len(held) < 3000
    assert held == _records([source])[:len(held)]
    assert re.search(rf"^{len(held)} packets written$", done.stderr, re.M), done.stderr


def test_a_refused_folder_is_named_before_any_packet_is_read(tmp_path, tmpfs):
    source = str(tmp_path / "in.pcap")
    wrpcap(source, _packets(10))
    readonly = tmpfs("ro", "ro", "size=1m")
    done = ringcap_cli("-r", source, "-w", str(readonly / "p"), "-C", "1")
    assert done.returncode == 1
    assert f"ringcap: cannot write to {readonly / 'p'}: Read-only file system" in done.stderr
    assert "Traceback" not in done.stderr and "packets read" not in done.stderr


def test_ctrl_c_mid_split_finishes_the_parts_and_runs_z_on_them(tmp_path):
    """SIGINT while splitting: the split stops at a batch's end, every part
    written is complete and had -z run on it, the summary counts what the
    parts hold, every packet written is printed, and the status is 0, as a
    capture's.  (--print into a pipe read only after the signal holds the
    split mid-file until then.)"""
    source = _big_pcap(tmp_path / "in.pcap", 300_000)
    out = tmp_path / "out"
    out.mkdir()
    log = tmp_path / "z.log"
    script = tmp_path / "record.sh"
    script.write_text(f"#!/bin/sh\necho \"$1\" >> {log}\n")
    script.chmod(0o755)
    proc = subprocess.Popen(
        [sys.executable, "-m", "ringcap", "-r", source, "-w", str(out / "part"), "-C", "0.1",
         "-z", str(script), "--print", "-nn"], cwd="/", stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
    try:
        def blocked_on_the_pipe():          # (the kernel's pipe_write, or anon_pipe_write)
            with open(f"/proc/{proc.pid}/wchan") as wchan:
                return (out / "part1").exists() and wchan.read().endswith("pipe_write")
        wait_until(blocked_on_the_pipe, what="the second part, and a write to the full pipe")
        proc.send_signal(signal.SIGINT)
        printed, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    parts = _parts(out, "part")
    held = _frame_numbers(parts)
    assert 0 < len(held) < 300_000, err
    assert held == list(range(len(held)))          # the input's first packets, in order
    assert re.search(rf"^{len(held)} packets written$", err, re.M), err
    # every packet written was printed: the signal came while a write to the
    # full pipe blocked, and that write's short count once lost the rest
    # (a packet's line, then its unknown ethertype's hex dump on lines of its own)
    lines = [line for line in printed.splitlines() if not line.startswith("\t")]
    assert len(lines) == len(held), err
    assert sorted(log.read_text().split()) == sorted(parts)


def test_z_without_C_or_G_is_still_ignored_as_by_tcpdump(tmp_path):
    source = str(tmp_path / "in.pcap")
    wrpcap(source, _packets(5))
    done = ringcap_cli("-r", source, "-w", str(tmp_path / "o.pcap"), "-z", "gzip")
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(tmp_path)) == ["in.pcap", "o.pcap"]


@pytest.mark.parametrize("split", [("-C", "0.01"), ()], ids=["-C", "one file"])
def test_hidden_until_complete_renames_each_part_into_place(tmp_path, split):
    """--hidden-until-complete, as for a capture: the same files, none left hidden."""
    source = str(tmp_path / "in.pcap")
    wrpcap(source, _packets(400))
    plain, hidden = tmp_path / "plain", tmp_path / "hidden"
    plain.mkdir()
    hidden.mkdir()
    assert ringcap_cli("-r", source, "-w", str(plain / "part"), *split).returncode == 0
    done = ringcap_cli("-r", source, "-w", str(hidden / "part"), *split,
                       "--hidden-until-complete")
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(hidden)) == sorted(os.listdir(plain))
    for name in os.listdir(plain):
        assert _bytes(hidden / name) == _bytes(plain / name)


def test_strftime_folders_with_G_are_taken_as_tcpdump_takes_them(tmp_path):
    """-w 'DIR/%Y/part' -G: the folder is named by the packets' time, so it is
    not refused for not existing as written: an existing one gets the parts,
    a missing one is an error naming the folder made from the pattern, with
    status 1, as tcpdump's ('DIR/2026/t: No such file or directory'; its -G
    names by the clock, ringcap's by the packets: docs/cli.md)."""
    source = str(tmp_path / "in.pcap")
    wrpcap(source, _packets(5))
    year = time.strftime("%Y", time.localtime(T0))
    (tmp_path / year).mkdir()
    done = ringcap_cli("-r", source, "-w", str(tmp_path / "%Y" / "part"), "-G", "60")
    assert done.returncode == 0, done.stderr
    assert os.listdir(tmp_path / year) == ["part"]
    assert len(read_pcap(str(tmp_path / year / "part"))) == 5

    done = ringcap_cli("-r", source, "-w", str(tmp_path / "%Y-%m" / "part"), "-G", "60")
    month = time.strftime("%Y-%m", time.localtime(T0))
    assert done.returncode == 1
    assert f"cannot write to {tmp_path / month / 'part'}: No such file or directory" \
        in done.stderr, done.stderr
    # without -G the name is taken as written, and its folder must exist
    done = ringcap_cli("-r", source, "-w", str(tmp_path / "%Y" / "part"))
    assert done.returncode == 1
    assert f"the folder {tmp_path / '%Y'} does not exist" in done.stderr, done.stderr
