"""ringcap's classic-BPF interpreter against libpcap's (pcap_offline_filter), packet by packet,
and `ringcap -r FILE EXPRESSION` against `tcpdump -r FILE EXPRESSION`."""
import ctypes
import os
import random
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import assume, given, settings, strategies as st

import ringcap
from ringcap import _bpf
from ringcap.bpf import (SOCK_FILTER, CompiledFilter, _BpfInsn, _BpfProgram, _load_libpcap,
                         compile_filter, filter_batch, filter_mask)
from test_printer import PACKAGE_ROOT, sample_frames, write_file

EXPRESSIONS = [
    "", "tcp", "udp", "icmp", "icmp6", "arp", "ip", "ip6", "vlan", "vlan 100", "vlan and udp",
    "tcp port 40001", "portrange 40000-40010", "host 10.1.0.1", "src host 10.1.0.2",
    "net 10.1.0.0/16", "ether host 02:00:00:00:00:01", "ether broadcast", "ether multicast",
    "ether proto 0x1234", "tcp[tcpflags] & tcp-syn != 0", "tcp[tcpflags] & (tcp-fin|tcp-rst) != 0",
    "tcp[13] = 0x18", "icmp[icmptype] = icmp-echo", "ip[6:2] & 0x1fff != 0", "ip[8] < 10",
    "len > 100", "len <= 60", "greater 200", "less 70", "ip proto 253", "ip6 and udp",
    "ip6 host 2001:db8::1", "ip6 net fe80::/10", "udp and not port 40040", "tcp[20:4] = 0x020405b4",
    "ip[2:2] - ((ip[0] & 0xf) << 2) > 40", "ip[0] & 0xf > 5 or tcp[12] & 0xf0 > 0x50",
    "(tcp or udp) and (src port 40001 or dst port 40040)", "tcp[((tcp[12:1] & 0xf0) >> 2):4] = 0x68656c6c",
    "ip and ip[9] * 2 = 34", "ip and ip[9] / 3 = 2", "ip and ip[9] % 5 = 1", "ip and (ip[9] ^ 0xff) = 0xf9",
    "arp[6:2] = 2", "ether[0] & 1 = 0", "not ip and not ip6", "ip multicast", "ip6 multicast",
    "tcp and tcp[tcpflags] & tcp-ack = 0",
]


class PcapPkthdr(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long),
                ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


def libpcap_verdicts(instructions, packets):
    """libpcap's own bpf_filter over each (bytes, wirelen): True where accepted."""
    lib = _load_libpcap()
    lib.pcap_offline_filter.restype = ctypes.c_int
    lib.pcap_offline_filter.argtypes = [ctypes.POINTER(_BpfProgram), ctypes.POINTER(PcapPkthdr),
                                        ctypes.c_char_p]
    insns = (_BpfInsn * len(instructions))(*[_BpfInsn(*i) for i in instructions])
    program = _BpfProgram(len(instructions), insns)
    out = []
    for raw, wirelen in packets:
        header = PcapPkthdr(0, 0, len(raw), wirelen)
        out.append(lib.pcap_offline_filter(ctypes.byref(program), ctypes.byref(header),
                                           raw) != 0)
    return out


def ours(instructions, packets):
    batch = ringcap.Batch.from_packets([raw for raw, _ in packets],
                                       ts=np.zeros(len(packets), dtype=np.int64))
    batch.wirelen[:] = [w for _, w in packets]
    return list(filter_mask(batch, instructions))


def random_frames(count, seed):
    rng = random.Random(seed)
    frames = sample_frames()
    out = []
    for _ in range(count):
        f = bytearray(rng.choice(frames))
        for _ in range(rng.randrange(4)):      # a few flipped bytes
            f[rng.randrange(len(f))] = rng.randrange(256)
        cut = rng.choice([len(f), len(f), rng.randrange(len(f) + 1)])
        out.append((bytes(f[:cut]), len(f)))
    return out


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_expressions_agree_with_libpcap_packet_by_packet(expression):
    packets = [(f, len(f)) for f in sample_frames()]
    packets += random_frames(300, zlib.crc32(expression.encode()))
    insns = compile_filter(expression)
    assert ours(insns, packets) == libpcap_verdicts(insns, packets)


HEADS = [bytes.fromhex("020000000002020000000001") + tail for tail in (
    bytes.fromhex("0800450000"), bytes.fromhex("86dd6000000000"), bytes.fromhex("0806"),
    bytes.fromhex("810000640800"), bytes.fromhex("8100006486dd"), b"")]
COMPILED = {e: compile_filter(e) for e in ["tcp", "udp port 40040", "icmp6", "vlan 100 and ip",
                                           "ip[6:2] & 0x1fff != 0", "tcp[tcpflags] & tcp-syn != 0",
                                           "ip6 and tcp port 40001", "arp[6:2] = 1", "len > 80",
                                           "ip and ip[2:2] - ((ip[0] & 0xf) << 2) > 20"]}


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(HEADS), st.binary(max_size=90), st.integers(0, 2)),
                min_size=1, max_size=10))
def test_generated_packets_get_libpcaps_verdicts(parts):
    # frames that start like Ethernet/IP/VLAN/ARP and go on at random, some cut short
    packets = []
    for head, body, cut in parts:
        frame = head + body
        packets.append((frame[:len(frame) - cut * len(body) // 3], len(frame)))
    for insns in COMPILED.values():
        assert ours(insns, packets) == libpcap_verdicts(insns, packets)


# ---------------------------------------------------------------- random programs
LOADS = [0x20, 0x28, 0x30, 0x40, 0x48, 0x50, 0x00, 0x60, 0x80, 0x01, 0x61, 0x81, 0xB1]
ALU = [op | src for op in (0x00, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70, 0x90, 0xA0)
       for src in (0x00, 0x08)] + [0x80]
JUMPS = [op | src for op in (0x10, 0x20, 0x30, 0x40) for src in (0x00, 0x08)]


@st.composite
def programs(draw):
    n = draw(st.integers(1, 24))
    insns = []
    for i in range(n - 1):
        kind = draw(st.sampled_from(["ld", "ld", "alu", "alu", "jmp", "ja", "st", "misc", "ret"]))
        small_k = draw(st.one_of(st.integers(0, 80), st.integers(0, 0xFFFFFFFF)))
        left = n - i - 2          # instructions after the next one
        if kind == "ld":
            code = draw(st.sampled_from(LOADS))
            k = draw(st.integers(0, 15)) if code in (0x60, 0x61) else small_k
            insns.append((code, 0, 0, k))
        elif kind == "alu":
            code = 0x04 | draw(st.sampled_from(ALU))
            k = small_k
            if code & 0xF0 in (0x30, 0x90) and not code & 0x08:
                k = draw(st.integers(1, 0xFFFFFFFF))
            if code & 0xF0 in (0x60, 0x70) and not code & 0x08:
                k = draw(st.integers(0, 31))
            insns.append((code, 0, 0, k))
        elif kind == "jmp":
            insns.append((0x05 | draw(st.sampled_from(JUMPS)), draw(st.integers(0, max(0, left))),
                          draw(st.integers(0, max(0, left))), small_k))
        elif kind == "ja":
            insns.append((0x05, 0, 0, draw(st.integers(0, max(0, left)))))
        elif kind == "st":
            insns.append((draw(st.sampled_from([0x02, 0x03])), 0, 0, draw(st.integers(0, 15))))
        elif kind == "misc":
            insns.append((draw(st.sampled_from([0x07, 0x87])), 0, 0, 0))
        else:
            insns.append((draw(st.sampled_from([0x06, 0x16])), 0, 0, small_k))
    insns.append((draw(st.sampled_from([0x06, 0x16])), 0, 0,
                  draw(st.integers(0, 0xFFFFFFFF))))
    # a ja in the last slot but one would jump past the end when n is small
    return [(c, jt, jf, k) if not (c == 0x05 and i + 1 + k >= n) else (0x06, 0, 0, 1)
            for i, (c, jt, jf, k) in enumerate(insns)]


@settings(max_examples=400, deadline=None)
@given(programs(), st.lists(st.tuples(st.binary(max_size=64), st.integers(0, 3)), min_size=1,
                            max_size=8))
def test_random_programs_agree_with_libpcap(program, raw):
    packets = [(b, len(b) + extra) for b, extra in raw]
    packed = np.array(program, dtype=SOCK_FILTER).view(np.uint8)
    try:
        _bpf.check_program(packed)
    except ValueError as exc:       # reads of never-written scratch memory: refused, as the kernel
        assert "before every path" in str(exc)
        assume(False)
    assert ours(program, packets) == libpcap_verdicts(program, packets)


def test_return_values_loads_and_scratch_memory():
    packet = bytes(range(64))
    run = lambda prog, wire=64: _bpf._test_run_one(  # noqa: E731
        np.array(prog, dtype=SOCK_FILTER).view(np.uint8), np.frombuffer(packet, np.uint8), wire)
    assert run([(0x20, 0, 0, 4), (0x16, 0, 0, 0)]) == 0x04050607          # ld word, ret A
    assert run([(0x28, 0, 0, 62), (0x16, 0, 0, 0)]) == 0x3E3F              # last halfword
    assert run([(0x28, 0, 0, 63), (0x16, 0, 0, 0)]) == 0                   # past caplen: reject
    assert run([(0x20, 0, 0, 0xFFFFFFFE), (0x16, 0, 0, 0)]) == 0           # k near 2**32
    assert run([(0xB1, 0, 0, 14), (0x87, 0, 0, 0), (0x16, 0, 0, 0)]) == (14 & 0xF) * 4   # msh, txa
    assert run([(0x01, 0, 0, 60), (0x50, 0, 0, 3), (0x16, 0, 0, 0)]) == 63                # ldb ind
    assert run([(0x01, 0, 0, 61), (0x50, 0, 0, 3), (0x16, 0, 0, 0)]) == 0                 # past end
    assert run([(0x80, 0, 0, 0), (0x16, 0, 0, 0)], wire=1500) == 1500      # ld len: wire length
    assert run([(0x00, 0, 0, 7), (0x02, 0, 0, 15), (0x00, 0, 0, 0), (0x61, 0, 0, 15),
                (0x87, 0, 0, 0), (0x16, 0, 0, 0)]) == 7                   # st, ldx mem, txa
    assert run([(0x00, 0, 0, 9), (0x01, 0, 0, 0), (0x3C, 0, 0, 0), (0x16, 0, 0, 0)]) == 0  # A/0
    assert run([(0x00, 0, 0, 1), (0x01, 0, 0, 40), (0x6C, 0, 0, 0), (0x16, 0, 0, 0)]) == 0  # A<<40
    assert run([(0x00, 0, 0, 5), (0x84, 0, 0, 0), (0x16, 0, 0, 0)]) == 0xFFFFFFFB          # neg
    assert run([(0x00, 0, 0, 5), (0x45, 1, 0, 4), (0x06, 0, 0, 1), (0x06, 0, 0, 2)]) == 2  # jset


@pytest.mark.parametrize("program, message", [
    ([(0x06, 0, 0, 0)] * 4097, "1 to 4096"),
    ([(0xFFFF, 0, 0, 0), (0x06, 0, 0, 0)], "unknown"),
    ([(0x15, 5, 0, 0), (0x06, 0, 0, 0)], "past the end"),
    ([(0x05, 0, 0, 1), (0x06, 0, 0, 0)], "past the end"),
    ([(0x60, 0, 0, 16), (0x06, 0, 0, 0)], "scratch slot 16"),
    ([(0x02, 0, 0, 99), (0x06, 0, 0, 0)], "scratch slot 99"),
    ([(0x34, 0, 0, 0), (0x06, 0, 0, 0)], "division by the constant 0"),
    ([(0x64, 0, 0, 32), (0x06, 0, 0, 0)], "shift by 32"),
    ([(0x00, 0, 0, 0)], "return"),
    ([(0x0E, 0, 0, 0)], "unknown return opcode"),       # ret X: the kernel refuses it too
    ([(0x60, 0, 0, 3), (0x16, 0, 0, 0)], "before every path"),
    ([(0x15, 1, 0, 0), (0x02, 0, 0, 3), (0x60, 0, 0, 3), (0x16, 0, 0, 0)], "before every path"),
])
def test_programs_the_kernel_would_refuse_are_refused(program, message):
    packed = np.array(program, dtype=SOCK_FILTER).view(np.uint8)
    with pytest.raises(ValueError, match=message):
        _bpf.check_program(packed)


def test_compiled_filter_selects_a_batch():
    frames = sample_frames()
    batch = ringcap.Batch.from_packets(frames, ts=np.arange(len(frames)))
    udp = CompiledFilter("udp")
    picked = udp(batch)
    assert "udp" in repr(udp)
    expected = [f for f, ok in zip(frames, libpcap_verdicts(udp.instructions,
                                                            [(f, len(f)) for f in frames])) if ok]
    assert picked.packets() == expected and 0 < len(expected) < len(frames)
    assert filter_batch(batch, "udp").packets() == expected
    with pytest.raises(ValueError, match="invalid capture filter"):
        CompiledFilter("udp and and")


def test_selection_gathers_what_the_mask_picks_into_reused_columns():
    """Selection (what the filtered loops run) picks exactly libpcap's packets,
    in order, with every column of each, for one link type and for a batch that
    mixes Ethernet with raw IP (each its own program, the runs merged), and
    reuses its columns from batch to batch."""
    from ringcap.batch import COLUMNS, LINKTYPE_RAW
    from ringcap.bpf import LinkTypeFilter, Selection
    frames = [f for f, _ in random_frames(600, 7)] + sample_frames()
    ether = ringcap.Batch.from_packets(frames, ts=np.arange(len(frames)),
                                       ifindex=np.arange(len(frames)) % 5)
    ether.rxhash[:] = np.arange(len(frames)) * 7
    # the same packets without their Ethernet header, as a raw IP interface gives them
    raw = ether.copy()
    raw.offset += 14
    raw.caplen[:] = np.maximum(raw.caplen.astype(np.int64) - 14, 0)
    raw.offset[raw.caplen == 0] = 0
    raw.linktype[:] = LINKTYPE_RAW
    mixed = ringcap.Batch.concat([ether, raw])[np.argsort(np.r_[np.arange(len(frames)) * 2,
                                                                np.arange(len(frames)) * 2 + 1],
                                                          kind="stable")]
    expression = "udp or tcp port 443"
    selection = Selection(LinkTypeFilter(expression))
    columns = None
    for batch in [mixed, ether, mixed[:301], mixed]:      # the largest first: no growing
        reference = LinkTypeFilter(expression).mask(batch)
        expected = batch[reference]
        picked = selection.select(batch)
        assert 0 < len(picked) < len(batch) and selection.examined == len(batch)
        for name in COLUMNS:
            assert np.array_equal(getattr(picked, name), getattr(expected, name)), name
        assert picked.packets() == expected.packets()
        if columns is not None:           # the memory of the batch before
            assert np.shares_memory(picked.ts, columns)
        columns = picked.ts
    kinds = set(mixed.linktype.tolist())
    assert kinds == {1, LINKTYPE_RAW} and len(LinkTypeFilter(expression).mask(mixed)) == len(mixed)
    # the first k only: `-c`; examined stops at the last one taken
    first = selection.select(mixed, limit=5)
    where = np.flatnonzero(LinkTypeFilter(expression).mask(mixed))
    assert np.array_equal(first.ts, mixed.ts[where[:5]]) and selection.examined == where[4] + 1
    # all accepted: the batch itself; none: an empty batch
    assert Selection("len >= 0").select(mixed) is mixed
    assert len(Selection("tcp port 1").select(mixed)) == 0
    # a strided slice (columns not contiguous) and an empty batch
    every_other = mixed[::2]
    assert Selection(expression).select(every_other).packets() == \
        every_other[LinkTypeFilter(expression).mask(every_other)].packets()
    assert len(Selection(expression).select(mixed[:0])) == 0


# ---------------------------------------------------------------- the command line
def run(*args):
    return subprocess.run([sys.executable, "-m", "ringcap", *args], cwd="/", timeout=120,
                          env={**os.environ, "PYTHONPATH": PACKAGE_ROOT},
                          capture_output=True, text=True)


def tcpdump_selects(path, expression, tmp_path):
    """The packets tcpdump keeps: `tcpdump -r FILE -w OUT EXPRESSION`."""
    out = tmp_path / "tcpdump.pcap"
    proc = subprocess.run(["tcpdump", "-r", str(path), "-w", str(out), *expression.split()],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return ringcap.read_pcap(out).packets()


@pytest.fixture(scope="module")
def mixed_file(tmp_path_factory):
    packets = random_frames(3000, 1) + [(f, len(f)) for f in sample_frames()]
    frames = [raw for raw, _ in packets]
    path = tmp_path_factory.mktemp("bpf") / "mixed.pcap"
    batch = ringcap.Batch.from_packets(frames, ts=1_700_000_000 * 10**9 + np.arange(len(frames)))
    batch.wirelen[:] = [w for _, w in packets]
    ringcap.write_pcap(path, batch, nanosecond=False)
    return path, len(frames)


@pytest.mark.parametrize("expression", ["tcp", "udp and port 40040", "icmp or arp", "vlan",
                                        "not ip"])
def test_read_with_a_filter_matches_tcpdump(mixed_file, expression, tmp_path):
    path, total = mixed_file
    want = tcpdump_selects(path, expression, tmp_path)
    assert want
    proc = run("-nn", "-q", "-t", "-r", str(path), *expression.split())
    assert proc.returncode == 0, proc.stderr
    assert f"{total} packets read, {len(want)} matched the filter" in proc.stderr
    out = tmp_path / "ringcap.pcap"
    proc = run("-r", str(path), "-w", str(out), *expression.split())
    assert proc.returncode == 0, proc.stderr
    assert ringcap.read_pcap(out).packets() == want


def test_read_filters_into_a_file_that_tcpdump_reads(mixed_file, tmp_path):
    path, total = mixed_file
    out = tmp_path / "udp.pcapng"
    proc = run("read", str(path), "-w", str(out), "udp")      # options after the file, as tcpdump
    assert proc.returncode == 0, proc.stderr
    want = tcpdump_selects(path, "udp", tmp_path)
    assert out.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"         # .pcapng suffix: pcapng
    assert tcpdump_selects(out, "", tmp_path) == want
    assert f"{total} packets read, {len(want)} matched the filter" in proc.stderr


def test_read_count_stops_after_count_matches(mixed_file):
    path, total = mixed_file
    proc = run("-r", str(path), "-c", "3", "tcp")
    assert proc.returncode == 0, proc.stderr
    assert len(proc.stdout.splitlines()) == 3
    assert "3 matched the filter" in proc.stderr


@pytest.mark.parametrize("args, status, words", [
    (("-r", "/nonexistent/x.pcap"), 1, "No such file"),
    (("-r", "{path}", "tcp", "and"), 1, "invalid capture filter"),
    (("-r", "{path}", "port", "99999"), 1, "invalid capture filter"),
    (("read",), 2, "give a file to read"),
    (("-r", "{notpcap}"), 1, "not a pcap"),
    (("-r", "{path}", "-w", "/nonexistent/dir/out.pcap"), 1, "does not exist"),
])
def test_read_errors_are_one_line(mixed_file, tmp_path, args, status, words):
    path, _ = mixed_file
    notpcap = tmp_path / "text.pcap"
    notpcap.write_text("hello, this is not a capture file\n")
    proc = run(*(a.format(path=path, notpcap=notpcap) for a in args))
    assert proc.returncode == status, proc.stderr
    lines = [l for l in proc.stderr.splitlines() if not l.startswith("reading from file")]
    assert len(lines) == 1 and lines[0].startswith("ringcap: "), proc.stderr
    assert words in lines[0] and "Traceback" not in proc.stderr


def test_read_into_a_closed_pipe_stops_as_tcpdump(mixed_file):
    """3,000 lines fill the pipe: closed after the first, the next write
    fails; tcpdump's words and status 14 (it was status 0, silently)."""
    path, _ = mixed_file
    proc = subprocess.Popen([sys.executable, "-m", "ringcap", "-r", str(path)], cwd="/",
                            env={**os.environ, "PYTHONPATH": PACKAGE_ROOT},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    first = proc.stdout.readline()
    proc.stdout.close()                 # as `| head -1` does
    err = proc.stderr.read().decode()
    proc.stderr.close()
    assert proc.wait(timeout=60) == 14, err
    assert first.startswith(b"22:13:20") or first[:2].isdigit()
    assert err.endswith("\nringcap: Unable to write output: Broken pipe\n"), err
    assert "Traceback" not in err


def test_a_raw_ip_file_is_filtered_into_a_file_and_printed(tmp_path):
    from test_printer import IP, TCP, UDP
    frames = [bytes(IP(src="1.2.3.4", dst="5.6.7.8") / UDP(sport=40000, dport=40001)),
              bytes(IP(src="1.2.3.4", dst="5.6.7.8") / TCP(sport=40000, dport=40001))] * 3
    path = tmp_path / "raw.pcap"
    with ringcap.PcapWriter(str(path), nanosecond=False) as writer:
        writer.write(ringcap.Batch.from_packets(frames, ts=np.arange(len(frames)),
                                                linktype=101))     # LINKTYPE_RAW
    proc = run("-r", str(path))
    assert proc.returncode == 0 and "link-type RAW (Raw IP)" in proc.stderr
    assert proc.stdout.count("IP 1.2.3.4.40000 > 5.6.7.8.40001: UDP, length 0") == 3
    out = tmp_path / "udp.pcap"
    proc = run("-r", str(path), "-w", str(out), "udp")
    assert proc.returncode == 0, proc.stderr
    assert tcpdump_selects(out, "", tmp_path) == tcpdump_selects(path, "udp", tmp_path)
    assert len(ringcap.read_pcap(out)) == 3


# ---------------------------------------------------------------- protochain: backward jumps
def chained_frames():
    """IPv4/IPv6 frames with and without extension-header chains before TCP, UDP and ICMPv6,
    some cut short, for the `protochain` loops libpcap compiles with a backward `ja`."""
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.inet6 import (ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt,
                                    IPv6ExtHdrFragment, IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)
    from scapy.layers.ipsec import AH
    from scapy.layers.l2 import ARP, Ether
    eth = lambda: Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")  # noqa: E731
    v6 = lambda: IPv6(src="2001:db8::1", dst="2001:db8::2")                # noqa: E731
    v4 = lambda: IP(src="10.1.0.1", dst="10.1.0.2")                        # noqa: E731
    tcp, udp = TCP(sport=40001, dport=80), UDP(sport=40002, dport=53)
    many = IPv6ExtHdrDestOpt()
    for _ in range(60):                       # a long chain: 60 trips round the loop
        many = many / IPv6ExtHdrDestOpt()
    layers = [
        v6() / tcp, v6() / udp, v6() / ICMPv6EchoRequest(),
        v6() / IPv6ExtHdrHopByHop() / tcp, v6() / IPv6ExtHdrHopByHop() / udp,
        v6() / IPv6ExtHdrHopByHop() / IPv6ExtHdrRouting() / IPv6ExtHdrDestOpt() / tcp,
        v6() / IPv6ExtHdrFragment() / tcp, v6() / IPv6ExtHdrFragment() / udp,
        v6() / IPv6ExtHdrDestOpt() / ICMPv6EchoRequest(),
        v6() / AH(spi=1, icv=b"\0" * 12) / tcp, v6() / AH(spi=2, icv=b"\0" * 12) / udp,
        v6() / many / tcp, v6() / many / udp,
        v4() / tcp, v4() / udp, v4() / AH(spi=3, icv=b"\0" * 12) / udp,
        v4() / AH(spi=4, icv=b"\0" * 12) / tcp, ARP(),
    ]
    frames = [bytes(eth() / layer / b"payload") for layer in layers]
    packets = [(f, len(f)) for f in frames]
    packets += [(f[:cut], len(f)) for f in frames for cut in (20, 54, 62, 70, len(f) - 9)
                if cut < len(f)]
    return packets


PROTOCHAINS = ["ip6 protochain 6", "ip protochain 17", "ip6 protochain 17", "ip6 protochain 58",
               "ip protochain 6", "protochain 6", "ip6 protochain 6 and port 80",
               "not ip6 protochain 17", "ip6 protochain 6 or ip protochain 17"]


@pytest.mark.parametrize("optimize", [True, False])
@pytest.mark.parametrize("expression", PROTOCHAINS)
def test_protochain_backward_jumps_run_as_libpcap_runs_them(expression, optimize):
    insns = compile_filter(expression, optimize=optimize)
    assert any(c == 0x05 and k >= 1 << 31 for c, _, _, k in insns)     # a backward ja
    packets = chained_frames()
    want = libpcap_verdicts(insns, packets)
    assert 0 < sum(want) < len(packets)
    assert ours(insns, packets) == want


@pytest.mark.parametrize("expression", EXPRESSIONS)
def test_unoptimized_programs_are_accepted_and_agree_with_libpcap(expression):
    insns = compile_filter(expression, optimize=False)
    packets = [(f, len(f)) for f in sample_frames()] + chained_frames()
    assert ours(insns, packets) == libpcap_verdicts(insns, packets)


@pytest.mark.parametrize("expression", ["ip6 protochain 6", "ip protochain 17",
                                        "ip6 protochain 17 or arp"])
def test_read_with_protochain_matches_tcpdump(expression, tmp_path):
    packets = chained_frames()
    path = tmp_path / "chains.pcap"
    batch = ringcap.Batch.from_packets([raw for raw, _ in packets],
                                       ts=1_700_000_000 * 10**9 + np.arange(len(packets)))
    batch.wirelen[:] = [w for _, w in packets]
    ringcap.write_pcap(path, batch, nanosecond=False)
    want = tcpdump_selects(path, expression, tmp_path)
    assert 0 < len(want) < len(packets)
    out = tmp_path / "ringcap.pcap"
    proc = run("-r", str(path), "-w", str(out), expression)
    assert proc.returncode == 0, proc.stderr
    assert ringcap.read_pcap(out).packets() == want
    assert f"{len(packets)} packets read, {len(want)} matched the filter" in proc.stderr


def test_a_program_that_loops_forever_rejects_instead_of_hanging():
    loop = [(0x05, 0, 0, 0xFFFFFFFF), (0x06, 0, 0, 1)]           # ja to itself: libpcap hangs
    batch = ringcap.Batch.from_packets([b"\xff" * 1500] * 2000, ts=np.arange(2000))
    assert not filter_mask(batch, loop).any()
    # a bounded loop (a counter in scratch memory) runs to its end: 5 backward jumps
    count = [(0x00, 0, 0, 0), (0x02, 0, 0, 0),                  # M[0] = 0
             (0x60, 0, 0, 0), (0x04, 0, 0, 1), (0x02, 0, 0, 0),  # M[0] += 1
             (0x15, 1, 0, 6), (0x05, 0, 0, (-5) & 0xFFFFFFFF),   # until 6: back to 2
             (0x16, 0, 0, 0)]                                     # ret A
    assert _bpf._test_run_one(np.array(count, dtype=SOCK_FILTER).view(np.uint8),
                              np.zeros(0, np.uint8), 0) == 6
    assert libpcap_verdicts(count, [(b"", 0)]) == [True]


@pytest.mark.parametrize("program, message", [
    ([(0x05, 0, 0, (-2) & 0xFFFFFFFF), (0x06, 0, 0, 0)], "before the start"),
    ([(0x06, 0, 0, 0), (0x05, 0, 0, 0x7FFFFFFF), (0x06, 0, 0, 0)], "past the end"),
    # forward paths store M[0] before instruction 3; the backward jump from 5 does not
    ([(0x30, 0, 0, 0), (0x15, 0, 3, 1), (0x02, 0, 0, 0), (0x60, 0, 0, 0), (0x06, 0, 0, 1),
      (0x05, 0, 0, (-3) & 0xFFFFFFFF), (0x06, 0, 0, 0)], "before every path"),
])
def test_backward_jumps_out_of_range_or_around_a_store_are_refused(program, message):
    with pytest.raises(ValueError, match=message):
        _bpf.check_program(np.array(program, dtype=SOCK_FILTER).view(np.uint8))
    with pytest.raises(ValueError, match=message):
        CompiledFilter(program)


def test_a_live_filter_with_a_backward_jump_says_what_to_do():
    from ringcap.bpf import build_program
    with pytest.raises(ValueError, match=r"backward jump.*kernel.*ringcap -r FILE"):
        build_program("ip6 protochain 6", snaplen=65535)
