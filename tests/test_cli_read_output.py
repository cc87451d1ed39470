"""`ringcap -r` at the edges a tcpdump user meets: output that cannot go
where it should (a closed standard output, `>&-`; a full one, /dev/full) and
file headers libpcap adjusts (a snapshot length over INT_MAX), NULL/LOOP
families tcpdump does not know, UDP lengths that do not fit, compared with
tcpdump 4.99.3 on the same file, on the numpy-free path and the batch path
(``RINGCAP_READ_BATCHES=1``)."""
import os
import shlex
import struct
import subprocess
import sys

import pytest

import ringcap

PACKAGE_ROOT = os.path.dirname(os.path.dirname(ringcap.__file__))


def _pcap(path, count: int = 200, snaplen: int = 262144) -> None:
    """``count`` UDP frames: more lines than tcpdump's stdio buffer (4 KiB), which
    it reports failing to write only when full, not at exit."""
    frame = bytes.fromhex("020000000002" "020000000001" "0800") + bytes.fromhex(
        "4500001c0001000040110000" "0a000001" "0a000002") + struct.pack(">HHHH", 9, 9, 8, 0)
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, 1)
                     + (struct.pack("<IIII", 1_700_000_000, 0, len(frame), len(frame))
                        + frame) * count)


def _closed_stdout(command: list[str], env=None) -> subprocess.CompletedProcess:
    """``command >&-`` (its fd 1 closed), run by the shell."""
    return subprocess.run(["bash", "-c", shlex.join(command) + " >&-"], cwd="/",
                          capture_output=True, text=True, timeout=120, env=env)


@pytest.mark.parametrize("batches", [False, True])
@pytest.mark.parametrize("options", [[], ["-w", "-"], ["--count"]])
def test_closed_stdout_is_an_error_not_a_traceback(tmp_path, batches, options):
    path = tmp_path / "one.pcap"
    _pcap(path)
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    env.pop("RINGCAP_READ_BATCHES", None)
    if batches:
        env["RINGCAP_READ_BATCHES"] = "1"
    ours = _closed_stdout([sys.executable, "-m", "ringcap", "-nn", "-r", str(path), *options],
                          env)
    assert "Traceback" not in ours.stderr, ours.stderr
    assert ours.stderr == ("ringcap: Unable to write output: Bad file descriptor (standard "
                           "output is closed); redirect it (> out.txt, > /dev/null) or give "
                           "-w FILE\n")
    assert ours.returncode == 14
    if not options:             # tcpdump's words and status for the same
        theirs = _closed_stdout(["tcpdump", "-nn", "-r", str(path)])
        assert theirs.stderr.splitlines()[-1] == \
            "tcpdump: Unable to write output: Bad file descriptor"
        assert theirs.returncode == ours.returncode


def test_closed_stdout_does_not_matter_with_w_file(tmp_path):
    path = tmp_path / "one.pcap"
    _pcap(path)
    out = tmp_path / "out.pcap"
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    ours = _closed_stdout([sys.executable, "-m", "ringcap", "-r", str(path), "-w", str(out)], env)
    assert (ours.returncode, ours.stderr.splitlines()[-1]) == (0, "200 packets read")
    assert out.read_bytes()[24:] == path.read_bytes()[24:]


@pytest.mark.parametrize("batches", [False, True])
@pytest.mark.parametrize("options", [[], ["-x", "udp"], ["-l"]])
def test_a_full_standard_output_is_tcpdumps_write_error(tmp_path, batches, options):
    """Printing into /dev/full (every write: No space left on device), as
    into a full disk: tcpdump's ``Unable to write output: ...`` and status 14
    after the summary (ringcap said only "No space left on device", status 1)."""
    path = tmp_path / "many.pcap"
    _pcap(path, 20_000)
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    env.pop("RINGCAP_READ_BATCHES", None)
    if batches:
        env["RINGCAP_READ_BATCHES"] = "1"
    with open("/dev/full", "wb") as full:
        ours = subprocess.run([sys.executable, "-m", "ringcap", "-nn", "-r", str(path), *options],
                              stdout=full, stderr=subprocess.PIPE, text=True, env=env, cwd="/",
                              timeout=120)
        theirs = subprocess.run(["tcpdump", "-nn", "-r", str(path), *options], stdout=full,
                                stderr=subprocess.PIPE, text=True, timeout=120)
    assert "Traceback" not in ours.stderr, ours.stderr
    last = ours.stderr.splitlines()[-1]
    assert last == "ringcap: Unable to write output: No space left on device", ours.stderr
    assert theirs.stderr.splitlines()[-1] == \
        "tcpdump: Unable to write output: No space left on device"
    assert ours.returncode == theirs.returncode == 14
    assert ours.stderr.splitlines()[-2].endswith(" packets read" if options[-1:] != ["udp"]
                                                 else " matched the filter")


def _raw_pcap(path, linktype: int, records) -> None:
    """A classic pcap file of ``records`` (bytes), each whole, at time 1 s."""
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype) + b"".join(
        struct.pack("<IIII", 1, 0, len(r), len(r)) + r for r in records))


def _prints_as_tcpdump(path, option_sets, check) -> None:
    """`ringcap -r PATH OPTIONS` prints byte for byte what tcpdump prints, on
    the path without batches and on the batch path, under each option set;
    ``check(tcpdump's output, options)`` asserts it shows what the test is about."""
    for options in option_sets:
        theirs = subprocess.run(["tcpdump", "-r", str(path), *options], capture_output=True,
                                timeout=60)
        assert check(theirs.stdout, options), (options, theirs.stdout)
        for batches in (False, True):
            ours = subprocess.run([sys.executable, "-m", "ringcap", "-r", str(path), *options],
                                  capture_output=True, timeout=60, env=_env(batches))
            assert ours.stdout == theirs.stdout, (options, batches, ours.stdout, theirs.stdout)


def _env(batches: bool) -> dict:
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    env.pop("RINGCAP_READ_BATCHES", None)
    if batches:
        env["RINGCAP_READ_BATCHES"] = "1"
    return env


@pytest.mark.parametrize("snaplen", [0, 65535, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF])
def test_a_header_snaplen_over_int_max_is_libpcaps_262144(tmp_path, snaplen):
    """libpcap takes a header's snapshot length of 0 or over INT_MAX as 262144
    (pcap_adjust_snapshot): tcpdump says so, compiles the filter with it and
    writes it to -w; ringcap said "snapshot length 4294967295" and wrote it."""
    path = tmp_path / "snap.pcap"
    _pcap(path, 3, snaplen)
    theirs = subprocess.run(["tcpdump", "-nn", "-r", str(path), "-w", str(tmp_path / "t.pcap"),
                             "udp"], capture_output=True, text=True, timeout=60)
    said = theirs.stderr.splitlines()[0]
    assert said.endswith(f"snapshot length {snaplen if 0 < snaplen < 1 << 31 else 262144}")
    for batches in (False, True):
        ours = subprocess.run([sys.executable, "-m", "ringcap", "-nn", "-r", str(path), "udp"],
                              capture_output=True, text=True, timeout=60, env=_env(batches))
        assert (ours.returncode, ours.stderr.splitlines()[0]) == (0, said), ours.stderr
        assert ours.stdout.count("\n") == 3
    subprocess.run([sys.executable, "-m", "ringcap", "-r", str(path), "-w",
                    str(tmp_path / "o.pcap"), "udp"], check=True, env=_env(False), timeout=60)
    assert (tmp_path / "o.pcap").read_bytes()[:24] == (tmp_path / "t.pcap").read_bytes()[:24]


@pytest.mark.parametrize("linktype", [0, 108])           # NULL, LOOP
@pytest.mark.parametrize("order", ["<", ">"])
def test_an_unknown_loopback_family_prints_as_tcpdump_prints_it(tmp_path, linktype, order):
    """tcpdump reads a NULL or LOOP header's family in the host's byte order
    (whatever the file's) and swaps it if its upper half is set; ringcap read
    it big-endian first, so `02 00 00 ff` printed `AF Unknown (4278190082)`
    where tcpdump prints `AF Unknown (33554687)`.  Known families (2, 24, 28,
    30, either order) were and are the same."""
    ip = bytes.fromhex("4500001c0001000040110000" "0a000001" "0a000002") + bytes.fromhex(
        "0009000900080000")
    families = ("020000ff", "01020304", "0000ff02", "00000002", "02000000", "0000001e")
    path = tmp_path / "loop.pcap"
    path.write_bytes(struct.pack(order + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
                     + b"".join(struct.pack(order + "IIII", 1, 0, 32, 32)
                                + bytes.fromhex(family) + ip for family in families))
    _prints_as_tcpdump(path, (["-nn"], ["-nn", "-e"]),
                       lambda printed, options: options[1:]
                       or printed.count(b"AF Unknown") == 3)


def test_udp_lengths_that_do_not_fit_print_as_tcpdump_prints_them(tmp_path):
    """A UDP length under 8, a UDP length past the IP payload, an IP payload
    shorter than the UDP header (IPv4, IPv6; -v and -vv check the checksum
    first): tcpdump 4.99.3 prints `truncated-udplength 4`, `[bad udp cksum
    ...] UDP, bad length 1 > 0` (both past the 8-byte header) and
    `truncated-udp 4`, and a port's protocol (DNS) over what the payload
    holds; ringcap printed `UDP, bad length 4 < 8`, `UDP, bad length 9 > 8`
    without the checksum (and for DNS), and `UDP, bad length 8 > 4`."""
    records = []
    for ulen in (0, 4, 7, 8, 9, 40):
        udp = struct.pack(">HHHH", 1, 2, ulen, 0x1234)
        records.append(bytes.fromhex("4500001c0001000040110000" "0a000001" "0a000002") + udp)
        records.append(bytes.fromhex("6000000000081140") + bytes(15) + b"\1" + bytes(15) + b"\2"
                       + udp)
    # a DNS query whose UDP length runs 20 bytes past the payload: the query, as tcpdump
    query = bytes.fromhex("123401000001000000000000076578616d706c6503636f6d0000010001")
    udp = struct.pack(">HHHH", 5353, 53, 8 + len(query) + 20, 0) + query
    records.append(struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                               bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + udp)
    for total in (24, 27):
        records.append(bytes.fromhex(f"4500{total:04x}0001000040110000" "0a000001" "0a000002")
                       + struct.pack(">HHHH", 1, 2, 8, 0))
    path = tmp_path / "udp.pcap"
    _raw_pcap(path, 101, records)
    _prints_as_tcpdump(path, (["-nn"], ["-nn", "-v"], ["-nn", "-vv"], ["-nn", "-q"]),
                       lambda printed, options: printed.count(b"\n") >= len(records))


def _ipv4_tcp(doff: int, options: bytes = b"", total: int | None = None) -> bytes:
    tcp = struct.pack(">HHIIBBHHH", 40000, 9, 1000, 2000, doff << 4, 0x18, 64240, 0, 0) + options
    total = 20 + len(tcp) if total is None else total
    return struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 1, 0x4000, 64, 6, 0,
                       bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])) + tcp


def test_damaged_tcp_headers_print_as_tcpdump_prints_them(tmp_path):
    """A TCP header length under 20 (tcpdump: ":  tcp 16 [bad hdr length ...",
    two spaces), one past the segment under -q (tcpdump: `tcp 4294967272
    [bad hdr length 44 - too long, > 20]`, its unsigned length), an option
    whose length does not fit (tcpdump ends the line at `[bad opt]`, with
    `]` unless it was the first option), and an IPv6 traffic class under 16
    (`class 0x0d`): ringcap printed one space, `tcp 0`, went on past
    `[bad opt]` with `], length N`, and `class 0xd`."""
    records = [
        _ipv4_tcp(4, total=40),                                 # header length 16
        _ipv4_tcp(11, bytes(24), total=40),                     # 44 bytes in a 20-byte segment
        _ipv4_tcp(6, bytes([5, 1, 1, 1])) + b"data",            # bad first option
        _ipv4_tcp(7, bytes([1, 1, 8, 12, 0, 0, 0, 0])) + b"x",  # bad after two nops
        _ipv4_tcp(7, bytes([1, 1, 4, 2, 0, 0, 0, 0])),          # good options, as before
    ]
    six = bytes.fromhex("60d00000") + struct.pack(">HBB", 20, 6, 64) + bytes(15) + b"\1" \
        + bytes(15) + b"\2" + _ipv4_tcp(5)[20:]
    records.append(six)
    path = tmp_path / "tcp.pcap"
    _raw_pcap(path, 101, records)
    _prints_as_tcpdump(path, (["-nn"], ["-nn", "-v"], ["-nn", "-q"], ["-nn", "-vv", "-S"]),
                       lambda printed, options: printed.count(b"\n") >= len(records))


@pytest.mark.parametrize("linktype", [1, 101, 113])           # EN10MB, RAW, LINUX_SLL
def test_an_ip_length_past_the_frame_says_how_many_bytes_are_missing(tmp_path, linktype):
    """An IPv4 total length or IPv6 payload length claiming more than the
    frame holds (cut on the wire, or damaged): tcpdump starts the packet with
    `truncated-ip - 196 bytes missing! ` (IPv6: `truncated-ip6 - 32 bytes
    missing!`, no space), -v and -e too; ringcap said nothing.  An IPv4
    length under its header is tcpdump's `bad-len 12` (ringcap: `10.0.0.1 >
    10.0.0.2: [bad ip length]`); Ethernet padding (the frame past the IP
    length) says nothing."""
    v4 = _ipv4_tcp(5) + b"x" * 10
    six = bytes.fromhex("60000000") + struct.pack(">HBB", 20 + 10 + 32, 6, 64) + bytes(15) \
        + b"\1" + bytes(15) + b"\2" + v4[20:]
    packets = [_ipv4_tcp(5, total=40 + 10 + 196) + b"x" * 10, six,
               _ipv4_tcp(5, total=12) + b"x" * 10, v4 + bytes(6)]
    heads = {1: lambda ip: bytes.fromhex("020000000002020000000001")
             + (b"\x08\x00" if ip[0] >> 4 == 4 else b"\x86\xdd"),
             101: lambda ip: b"",
             113: lambda ip: struct.pack(">HHH8sH", 0, 1, 6, bytes(8),
                                         0x0800 if ip[0] >> 4 == 4 else 0x86DD)}
    frames = [heads[linktype](ip) + ip for ip in packets]
    path = tmp_path / "cut.pcap"
    _raw_pcap(path, linktype, frames)
    _prints_as_tcpdump(path, (["-nn"], ["-nn", "-v"], ["-nn", "-q"], ["-nn", "-e"]),
                       lambda printed, options: printed.count(b" bytes missing!") == 2)


def test_ipv4_header_length_and_no_next_header_print_as_tcpdump_prints_them(tmp_path):
    """An IPv4 header length under 20 is tcpdump's `bad-hlen 12` (ringcap:
    `10.0.0.1 > 10.0.0.2: [|ip]`), and protocol 59 (no next header) over
    IPv4 is `no next header` as over IPv6 (ringcap: ` ip-proto-59 20`)."""
    short = bytearray(_ipv4_tcp(5))
    short[0] = 0x43
    none = bytearray(_ipv4_tcp(5))
    none[9] = 59
    records = [bytes(short), bytes(none)]
    path = tmp_path / "hlen.pcap"
    _raw_pcap(path, 101, records)
    _prints_as_tcpdump(path, (["-nn"], ["-nn", "-v"], ["-nn", "-q"], ["-nn", "-e"]),
                       lambda printed, options: b"bad-hlen 12" in printed
                       and b"no next header" in printed)


@pytest.mark.parametrize("linktype", [1, 101])
def test_records_whose_lengths_cannot_be_print_tcpdumps_invalid_header(tmp_path, linktype):
    """A record with caplen 0, len 0, or len < caplen: tcpdump 4.99 prints
    `[Invalid header: caplen==0, len==0]`, `[Invalid header: len(10) <
    caplen(60)]` (no time, nothing decoded, the -ttt clock not moved);
    ringcap printed a time and `[|ether]`, or decoded the packet."""
    ip = bytes.fromhex("4500002e0001000040110000" "0a000001" "0a000002") + \
        struct.pack(">HHHH", 1, 2, 26, 0) + b"x" * 18
    frame = (bytes.fromhex("020000000002" "020000000001" "0800") if linktype == 1 else b"") + ip
    records = [(0, 0, b""), (len(frame), 10, frame), (len(frame), len(frame), frame),
               (0, 60, b""), (len(frame), 0, frame), (len(frame), len(frame), frame)]
    path = tmp_path / "invalid.pcap"
    path.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype)
                     + b"".join(struct.pack("<IIII", 1000 + i, 5, cap, wire) + data
                                for i, (cap, wire, data) in enumerate(records)))
    _prints_as_tcpdump(path, (["-nn"], ["-nn", "-#", "-e"], ["-nn", "-ttt"], ["-nn", "-x"],
                              ["-nn", "-v"]),
                       lambda printed, options: printed.count(b"[Invalid header:") == 4
                       and b"len(10) < caplen(" in printed)
