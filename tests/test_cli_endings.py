"""How ringcap's commands end where the tool each imitates ends: a reader
of standard output that has gone (`| head -1`), a missing file, odd headers.

Each test runs the real tool (tcpdump 4.99, tshark, capinfos) beside
ringcap on the same input and compares the exit status and the words.
"""
from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys

import pytest

from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

import ringcap
from conftest import DEADLINE, TEST_ETHERTYPE, RingcapProcess, make_frame, wait_until
from ringcap import TxRing
from test_linktypes import PACKAGE_ROOT

RINGCAP = [sys.executable, "-m", "ringcap"]


def _into_a_closed_pipe(command) -> tuple[int, str, bytes]:
    """(status, stderr, first line) with standard output closed after its
    first line, as by `| head -1`."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, cwd="/",
                            env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return proc.wait(timeout=120), err, first


def _many_packets(path, count=5000):
    wrpcap(str(path), [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                       / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=40000, dport=41000)
                       / Raw(b"p" * 60)] * count)     # more lines than a pipe holds


def test_fields_into_a_closed_pipe_ends_as_tshark(tmp_path):
    """`ringcap fields ... | head -1` exited 0; tshark -T fields exits 2, saying nothing."""
    path = tmp_path / "many.pcap"
    _many_packets(path, 50000)
    fields = ["-r", str(path), "-T", "fields", "-e", "frame.number", "-e", "frame.len"]
    status, err, first = _into_a_closed_pipe(["tshark", "-n", *fields])
    mine, my_err, my_first = _into_a_closed_pipe([*RINGCAP, "fields", "-n", *fields])
    assert first == my_first == b"1\t102\n"
    assert status == 2 and "Broken pipe" not in err, err
    assert (mine, my_err) == (2, "")


def test_stats_into_a_closed_pipe_ends_as_capinfos(tmp_path):
    """`ringcap stats F... | head -1` exited 0; capinfos is killed by SIGPIPE
    (the shell's status 141), saying nothing."""
    path = tmp_path / "small.pcap"
    _many_packets(path, 3)
    files = [str(path)] * 300                   # more report than a pipe holds
    status, err, first = _into_a_closed_pipe(["capinfos", *files])
    mine, my_err, my_first = _into_a_closed_pipe([*RINGCAP, "stats", *files])
    assert first == my_first == f"File name:           {path}\n".encode()
    assert status == -signal.SIGPIPE and err == ""
    assert (mine, my_err) == (-signal.SIGPIPE, "")


def _capture_into_a_closed_pipe(veth, command) -> tuple[int, str]:
    """A live capture printing onto a pipe closed after its first line,
    while frames keep coming: (status, stderr)."""
    proc = RingcapProcess("-n", "-i", veth.b, "ether", "proto", hex(TEST_ETHERTYPE),
                          stdout=subprocess.PIPE, command=command)
    proc.wait_for("listening on")
    frames = [make_frame(i, 100) for i in range(200)]
    with TxRing(veth.a) as tx:
        tx.send(frames)
        assert proc.proc.stdout.readline()
        proc.proc.stdout.close()

        def exited():
            if proc.proc.poll() is None:
                tx.send(frames)         # the next lines meet the closed pipe
            return proc.proc.poll() is not None
        wait_until(exited, DEADLINE, "the capture to end", interval=0.05)
    status = proc.finish()
    return status, proc.err


def test_live_printing_into_a_closed_pipe_ends_as_tcpdump(veth):
    """`ringcap -i IF | head -1` printed its summary and exited 0; tcpdump
    says `Unable to write output: Broken pipe` and exits 14 (ringcap says it
    after its summary, as `-r` does)."""
    status, err = _capture_into_a_closed_pipe(veth, ["tcpdump"])
    mine, my_err = _capture_into_a_closed_pipe(veth, None)
    assert status == 14 and err.splitlines()[-1] == "tcpdump: Unable to write output: Broken pipe"
    assert mine == 14, my_err
    assert my_err.splitlines()[-1] == "ringcap: Unable to write output: Broken pipe"
    assert "packets captured" in my_err


def test_a_missing_file_is_said_in_each_tools_words(tmp_path):
    """`fields` said `X: No such file or directory` and `stats` `X: no such
    file`, both status 1; tshark and capinfos say `The file "X" doesn't
    exist.`, status 2, and `-r` keeps tcpdump's words and status 1."""
    missing = str(tmp_path / "nope.pcap")
    for tool, ours in [(["tshark", "-r", missing, "-T", "fields", "-e", "frame.len"],
                        ["fields", "-r", missing, "-e", "frame.len"]),
                       (["capinfos", missing], ["stats", missing]),
                       (["tcpdump", "-r", missing], ["-r", missing])]:
        theirs = subprocess.run(tool, capture_output=True, text=True, timeout=60)
        mine = subprocess.run([*RINGCAP, *ours], capture_output=True, text=True, timeout=60,
                              cwd="/", env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
        words = theirs.stderr.splitlines()[-1].split(": ", 1)[1]
        assert (mine.returncode, mine.stdout) == (theirs.returncode, ""), mine.stderr
        assert mine.stderr == f"ringcap: {words}\n"


def _pcap_with_linktype_field(path, field: int) -> None:
    frame = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(
        src="10.9.0.1", dst="10.9.0.2") / UDP(sport=40000, dport=41000) / Raw(b"x" * 20)
    data = bytes(frame)
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, field)
                     + struct.pack("<IIII", 1, 0, len(data), len(data)) + data)


def test_reserved_bits_of_the_link_type_field_are_refused_as_libpcap_and_wireshark_do(
        tmp_path):
    """The header's link type was masked with 0xFFFF, so 0x00010001 read as
    Ethernet; libpcap keeps the reserved bits 16-25 (tcpdump: `unknown data
    link type 65537`) and Wireshark refuses them (`network type reserved
    field not zero`).  The FCS-length bits (26-31) are no part of the type."""
    for field in (0x00010001, 0x03FF0001):
        path = tmp_path / f"reserved-{field:x}.pcap"
        _pcap_with_linktype_field(path, field)
        tcpdump = subprocess.run(["tcpdump", "-nr", path], capture_output=True, text=True,
                                 timeout=60)
        assert tcpdump.returncode == 1 and "unknown data link type" in tcpdump.stderr
        tshark = subprocess.run(["tshark", "-r", path], capture_output=True, text=True,
                                timeout=60)
        assert "reserved field not zero" in tshark.stderr and tshark.stdout == ""
        for command in (["-nr", path], ["fields", "-r", path, "-e", "frame.len"],
                        ["stats", path]):
            mine = subprocess.run([*RINGCAP, *map(str, command)], capture_output=True,
                                  text=True, timeout=60, cwd="/",
                                  env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
            assert (mine.returncode, mine.stdout) == (1, ""), (command, mine.stderr)
            assert mine.stderr == (
                f"ringcap: {path}: the pcap header's link-type field 0x{field:08x} has "
                f"reserved bits set (0x{field & 0x03FF0000:08x}), which neither libpcap nor "
                f"Wireshark reads: the header is damaged, or was written by a program that "
                f"puts something else there\n")
        with pytest.raises(ringcap.PcapFormatError, match="reserved bits set"):
            ringcap.read_pcap(path)
    fcs = tmp_path / "fcs.pcap"
    _pcap_with_linktype_field(fcs, 0x04000001 | 2 << 28)      # an FCS of 2 x 16 bits
    tcpdump = subprocess.run(["tcpdump", "-nr", fcs], capture_output=True, text=True,
                             timeout=60)
    mine = subprocess.run([*RINGCAP, "-nr", str(fcs)], capture_output=True, text=True,
                          timeout=60, cwd="/", env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
    assert mine.returncode == tcpdump.returncode == 0, mine.stderr
    assert mine.stdout == tcpdump.stdout and "link-type EN10MB" in mine.stderr


@pytest.mark.parametrize("size", [4, 8, 23])
def test_a_pcap_cut_in_its_file_header_ends_as_one_cut_in_pcapng(tmp_path, size):
    """`ringcap -r` of a pcap whose file header is cut short said `int()
    argument must be a string... not 'NoneType'` (the reader left its link
    type None) before its warning; tcpdump says `truncated dump file`,
    status 1.  It now ends as a pcapng file cut in its first block does:
    an empty Ethernet capture, the warning naming what was cut, status 1."""
    path = tmp_path / "cut.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)[:size])
    tcpdump = subprocess.run(["tcpdump", "-nr", path], capture_output=True, text=True,
                             timeout=60)
    assert tcpdump.returncode == 1 and "truncated dump file" in tcpdump.stderr
    warning = (f"ringcap: warning: {path}: file ends in a partial pcap file header at byte "
               f"offset 0 (file size {size}); every complete packet before it was read\n")
    for command in (["-nr", path], ["-r", path, "-w", tmp_path / "copy.pcap"]):
        mine = subprocess.run([*RINGCAP, *map(str, command)], capture_output=True, text=True,
                              timeout=60, cwd="/", env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
        assert (mine.returncode, mine.stdout) == (1, ""), (command, mine.stderr)
        assert mine.stderr == (f"reading from file {path}, link-type EN10MB (Ethernet), "
                               f"snapshot length 262144\n0 packets read\n" + warning)
    with pytest.warns(ringcap.PcapTruncatedWarning):
        with ringcap.open_pcap(path) as reader:
            assert (reader.linktype, len(reader.read())) == (1, 0)


def _interrupted(command, signum, ignored=()) -> tuple[int, str, int]:
    """(status, stderr, lines printed) of a command signalled once it has
    printed its first lines; ``ignored``: signals it starts with ignored."""
    status, err, printed = _interrupted_output(command, signum, ignored)
    return status, err, printed.count(b"\n")


def _interrupted_output(command, signum, ignored=()) -> tuple[int, str, bytes]:
    """(status, stderr, what it printed) of a command signalled once it has
    printed its first lines; ``ignored``: signals it starts with ignored."""
    def ignore():
        for number in ignored:
            signal.signal(number, signal.SIG_IGN)
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, cwd="/", preexec_fn=ignore,
                            env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
    printed = proc.stdout.read(100_000)      # it is printing: the pipe holds it back
    proc.send_signal(signum)
    printed += proc.stdout.read()
    err = proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    return proc.wait(timeout=120), err, printed


def _big_file(tmp_path, count: int) -> tuple:
    """A pcap and a pcapng file of ``count`` copies of one UDP frame."""
    frame = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                  / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=40000, dport=41000)
                  / Raw(b"s" * 18))
    big = tmp_path / "big.pcap"
    big.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                    + (struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame) * count)
    padded = frame + bytes(-len(frame) % 4)
    epb = struct.pack("<IIIIIII", 6, 32 + len(padded), 0, 0, 1_000_000, len(frame),
                      len(frame)) + padded + struct.pack("<I", 32 + len(padded))
    ng = tmp_path / "big.pcapng"
    ng.write_bytes(struct.pack("<IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)
                   + struct.pack("<IIHHII", 1, 20, 1, 0, 65535, 20) + epb * count)
    return big, ng, len(frame)


def test_a_stop_signal_ends_fields_as_tshark(tmp_path):
    """Ctrl-C on `ringcap fields -r BIG` ended with status 130, SIGTERM and
    SIGHUP killed it; tshark -T fields stops with whole lines and status 2 on
    all three, and so does ringcap now (pcap and pcapng)."""
    count = 400_000
    big, ng, size = _big_file(tmp_path, count)
    fields = ["-e", "frame.number", "-e", "frame.len"]
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        status, err, printed = _interrupted_output(
            ["tshark", "-r", big, "-T", "fields", *fields], signum)
        assert status == 2 and 0 < printed.count(b"\n") < count, (signum, err)
        for path in (big, ng):
            mine, my_err, mine_printed = _interrupted_output(
                [*RINGCAP, "fields", "-r", str(path), *fields], signum)
            assert mine == 2 and my_err == "", (signum, path, my_err)
            lines = mine_printed.count(b"\n")
            assert 0 < lines < count
            assert mine_printed == b"".join(b"%d\t%d\n" % (number, size)
                                            for number in range(1, lines + 1))


def test_a_stop_signal_ends_reading_a_file_as_tcpdump(tmp_path):
    """Ctrl-C on `ringcap -r BIG` ended with status 130 (SIGTERM and SIGHUP
    killed it), a line cut half-way; tcpdump -r stops and exits 0.  ringcap
    now stops at the end of a chunk: whole lines, the summary counting them,
    every record of -w whole, status 0."""
    frame = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                  / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=40000, dport=41000)
                  / Raw(b"s" * 18))
    count = 400_000
    record = struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame
    big = tmp_path / "big.pcap"
    big.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                    + record * count)
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        status, err, lines = _interrupted(["tcpdump", "-nr", big], signum)
        assert status == 0 and 0 < lines < count, (signum, err)
        for options in ([], ["--print", "-w", tmp_path / "part.pcap"]):
            mine, my_err, my_lines = _interrupted(
                [*RINGCAP, "-nr", big, *map(str, options)], signum)
            assert mine == 0, (signum, options, my_err)
            assert 0 < my_lines < count
            assert my_err.splitlines()[-1] == f"{my_lines} packets read", my_err
            if options:
                assert len(ringcap.read_pcap(tmp_path / "part.pcap")) == my_lines


def test_signals_ignored_at_start_are_taken_as_tcpdump_takes_them(tmp_path):
    """A job started with `&` by a script starts with SIGINT ignored.  tcpdump
    -r still stops on SIGINT and SIGTERM, and keeps an ignored SIGHUP ignored
    (nohup).  `ringcap -r` kept the ignored SIGINT and SIGTERM ignored and
    printed the whole file."""
    count = 400_000
    big = _big_file(tmp_path, count)[0]
    for signum in (signal.SIGINT, signal.SIGTERM):
        for command in (["tcpdump", "-nr", big], [*RINGCAP, "-nr", big]):
            status, err, lines = _interrupted(command, signum, ignored=(signum,))
            assert status == 0 and 0 < lines < count, (command[0], signum, lines, err)
    for command in (["tcpdump", "-nr", big], [*RINGCAP, "-nr", big]):
        status, err, lines = _interrupted(command, signal.SIGHUP, ignored=(signal.SIGHUP,))
        assert status == 0 and lines == count, (command[0], lines, err)


def _capture_onto_a_full_disk(veth, command) -> tuple[int, str]:
    """A live capture printing onto /dev/full while frames come: (status, stderr)."""
    with open("/dev/full", "wb") as full:
        proc = RingcapProcess("-n", "-c", "1000", "-i", veth.b, "ether", "proto",
                              hex(TEST_ETHERTYPE), stdout=full, command=command)
    proc.wait_for("listening on")
    frames = [make_frame(i, 100) for i in range(200)]
    with TxRing(veth.a) as tx:
        def exited():
            if proc.proc.poll() is None:
                tx.send(frames)
            return proc.proc.poll() is not None
        wait_until(exited, DEADLINE, "the capture to end", interval=0.05)
    return proc.finish(), proc.err


def test_live_printing_onto_a_full_disk_ends_as_tcpdump(veth):
    """`ringcap -i IF > /dev/full` said `capture stopped: No space left on
    device`, status 1; tcpdump says `Unable to write output: No space left on
    device`, status 14, as `ringcap -r` does (after its summary)."""
    status, err = _capture_onto_a_full_disk(veth, ["tcpdump"])
    mine, my_err = _capture_onto_a_full_disk(veth, None)
    words = "Unable to write output: No space left on device"
    assert status == 14 and err.splitlines()[-1] == f"tcpdump: {words}", err
    assert mine == 14 and my_err.splitlines()[-1] == f"ringcap: {words}", my_err
    assert "packets captured" in my_err
