"""The printer's remembered texts against tcpdump: what the formatter keeps from
line to line instead of making again (the "a.p > b.q: " of a TCP/UDP
conversation) must never be reused for a packet it does not fit.

Every file here is made so that a stale text would show: neighbours that
differ in one byte only, IPv4 and IPv6 packets whose address bytes agree,
both directions of a conversation, and more conversations than the table
holds, interleaved so that they evict one another.
"""
import os
import random
import subprocess
import sys

import pytest

import ringcap

scapy = pytest.importorskip("scapy.all")
from scapy.all import IP, TCP, UDP, Ether, IPv6, IPv6ExtHdrDestOpt  # noqa: E402

PACKAGE_ROOT = os.path.dirname(os.path.dirname(ringcap.__file__))
A, B = "02:00:00:00:00:01", "02:00:00:00:00:02"


def _lines(argv):
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT, "TZ": "UTC"}
    proc = subprocess.run(argv, cwd="/", env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def _same_as_tcpdump(path, count, *flags):
    ours = _lines([sys.executable, "-m", "ringcap", "-nn", *flags, "-r", str(path)])
    theirs = _lines(["tcpdump", "-nn", *flags, "-r", str(path)])
    assert len(ours) == len(theirs)
    assert len(ours) == count or "-v" in flags      # (-v: two lines a packet)
    bad = [(o, t) for o, t in zip(ours, theirs) if o != t and not t.startswith(o + ": ")]
    assert not bad, f"{flags}: {len(bad)} lines differ; first:\nringcap: {bad[0][0]}\n" \
                    f"tcpdump: {bad[0][1]}"
    return ours


def _near_pairs():
    """(version, src, dst, sport, dport): conversations that differ from one
    another in one byte, or only in which family their bytes are read as."""
    pairs = []
    for last in (1, 2, 3, 129):
        pairs.append((4, f"10.0.0.{last}", "10.0.0.9", 40000, 443))
        pairs.append((4, "10.0.0.9", f"10.0.0.{last}", 443, 40000))        # the reply
    for port in (40000, 40001, 40256, 296, 1):
        pairs.append((4, "10.0.0.1", "10.0.0.9", port, 443))
        pairs.append((4, "10.0.0.1", "10.0.0.9", 443, port))                # ports swapped
    pairs.append((4, "10.0.0.9", "10.0.0.1", 40000, 443))                   # addresses swapped
    # the IPv4 addresses' bytes as the first bytes of IPv6 ones (0a00:0001::),
    # and IPv4-mapped and -compatible forms of the same address
    pairs += [(6, "a00:1::", "a00:9::", 40000, 443), (6, "a00:1::", "a00:9::", 443, 40000),
              (6, "::ffff:10.0.0.1", "::ffff:10.0.0.9", 40000, 443),
              (6, "::10.0.0.1", "::10.0.0.9", 40000, 443),
              (6, "2001:db8::1", "2001:db8::9", 40000, 443),
              (6, "2001:db8::1", "2001:db8::8", 40000, 443),
              (6, "2001:db8::101", "2001:db8::9", 40000, 443),
              (6, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe",
               "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535, 65534)]   # the longest text
    return pairs


def _frame(version, src, dst, sport, dport, udp, i):
    # TCP segments carry Linux's nop,nop,TS block, and their acknowledgement
    # numbers, windows and time stamps change now and then by one (the line's
    # kept parts: a stale one would show)
    ip = IP(src=src, dst=dst) if version == 4 else IPv6(src=src, dst=dst)
    stamps = (1000 + i // 3, 2**32 - 1 - i // 4) if i % 5 else (1000 + i // 3, 255 + i // 7)
    l4 = UDP(sport=sport, dport=dport) if udp else \
        TCP(sport=sport, dport=dport, flags="PA", seq=1000 + i, ack=7 + i // 6,
            window=(502, 503, 65535, 247)[i // 4 % 4],
            options=[("NOP", None), ("NOP", None), ("Timestamp", stamps)])
    return bytes(Ether(src=A, dst=B) / ip / l4 / (b"x" * (i % 7)))


def test_conversation_texts_never_go_stale(tmp_path):
    # near neighbours in random order, each often right after another it
    # differs from in one byte, then 600 conversations (far more than the
    # table's slots) visited in an order that keeps evicting them, with
    # returns to earlier ones; TCP and UDP alike
    rng = random.Random(4)
    near = _near_pairs()
    wide = [(4, f"10.{c % 250}.{c // 250}.1", f"10.{c % 250}.{c // 250}.2", 1024 + c, 53)
            for c in range(300)]
    wide += [(6, f"2001:db8::{c:x}", f"2001:db8:1::{c:x}", 53, 1024 + c) for c in range(300)]
    frames = []
    for i in range(3000):
        pair = rng.choice(near) if i % 3 else rng.choice(wide[:50 + i // 10])
        frames.append(_frame(*pair, udp=bool(rng.getrandbits(1)), i=i))
    for pair in near:                        # each right after its neighbours
        frames.append(_frame(*pair, udp=False, i=len(frames)))
    batch = ringcap.Batch.from_packets(frames, ts=[1_700_000_000 * 10**9 + i * 1000
                                                   for i in range(len(frames))])
    path = tmp_path / "pairs.pcap"
    ringcap.write_pcap(path, batch, nanosecond=False)
    lines = _same_as_tcpdump(path, len(frames))
    assert any(" a00:1::.40000 > a00:9::.443: " in l for l in lines)
    assert any(" 10.0.0.1.40000 > 10.0.0.9.443: " in l for l in lines)
    assert sum("options [nop,nop,TS val " in l for l in lines) > 1000
    for flags in (("-e",), ("-q",), ("-v",)):
        _same_as_tcpdump(path, len(frames), *flags)


def _segment(src, dst, sport, dport, flags, seq, ack, data=b"", inner=None):
    ip = IP(src=src, dst=dst) if ":" not in src else IPv6(src=src, dst=dst) / inner
    return bytes(Ether(src=A, dst=B) / ip
                 / TCP(sport=sport, dport=dport, flags=flags, seq=seq % 2**32, ack=ack % 2**32)
                 / data)


def test_relative_sequence_numbers_survive_the_table_moving(tmp_path):
    # a conversation's text keeps where its initial sequence numbers are in
    # the table of conversations.  Here the table grows (its entries move)
    # four times under 5,000 IPv6 conversations whose lines take no kept text
    # (a destination options header: "DSTOPT" between the addresses and the
    # ports), while the first conversation's text stays; then its other side
    # sends a SYN with new numbers, recorded where the entry is now, and the
    # first side's next segment must count from them
    rng = random.Random(8)
    a, b = "10.7.0.1", "10.7.0.2"
    frames = [_segment(a, b, 40000, 443, "S", 1000, 0),
              _segment(b, a, 443, 40000, "SA", 2**32 - 3, 1001)]
    for r in range(3):
        frames.append(_segment(a, b, 40000, 443, "PA", 1001 + 10 * r, 2**32 - 2, b"x" * 10))
    for c in range(5000):               # the table: 1,024 -> 16,384 conversations
        v6 = f"2001:db8:{c // 250:x}::{c % 250 + 1:x}"
        frames.append(_segment(v6, "2001:db8:ff::1", 1024 + c, 80, "SA", rng.randrange(2**32),
                               rng.randrange(2**32), inner=IPv6ExtHdrDestOpt()))
    frames.append(_segment(b, a, 443, 40000, "SA", 5000, 600))   # new numbers, this side first
    frames.append(_segment(a, b, 40000, 443, "PA", 610, 5001, b"x" * 10))
    # the same 4-tuple, a new connection from the first side
    frames += [_segment(a, b, 40000, 443, "S", 555, 0), _segment(b, a, 443, 40000, "SA", 666, 556),
               _segment(a, b, 40000, 443, "PA", 556, 667, b"z" * 3)]
    batch = ringcap.Batch.from_packets(frames, ts=[1_700_000_000 * 10**9 + i * 1000
                                                   for i in range(len(frames))])
    path = tmp_path / "seqs.pcap"
    ringcap.write_pcap(path, batch, nanosecond=False)
    lines = _same_as_tcpdump(path, len(frames))
    assert "DSTOPT 1024 > 80: Flags [S.]" in lines[5]
    assert "seq 11:21, ack 1, win" in lines[3]
    assert "seq 11:21, ack 1, win" in lines[-4]
    assert "seq 1:4, ack 1, win" in lines[-1]


def test_a_scan_prints_without_the_table_and_then_with_it_again(tmp_path):
    # a new conversation every packet (more than PAIR_MISSES in a row) makes
    # the printer go without its table for a while; lines of the conversations
    # it knows, within that while and after it, are still tcpdump's
    rng = random.Random(5)
    near = _near_pairs()
    frames = [_frame(*pair, udp=False, i=i) for i, pair in enumerate(near)]
    for i in range(3000):
        if i % 40 == 39:                     # a known conversation among the scan
            frames.append(_frame(*rng.choice(near), udp=bool(i % 3), i=i))
        else:
            frames.append(_frame(4, f"10.66.{i // 250}.{i % 250}", "10.0.0.9", 40000 + i, 443,
                                 udp=bool(i % 2), i=i))
    frames += [_frame(*pair, udp=False, i=4000 + i) for i, pair in enumerate(near * 3)]
    batch = ringcap.Batch.from_packets(frames, ts=[1_700_000_000 * 10**9 + i * 1000
                                                   for i in range(len(frames))])
    path = tmp_path / "scan.pcap"
    ringcap.write_pcap(path, batch, nanosecond=False)
    for flags in ((), ("-S",)):
        _same_as_tcpdump(path, len(frames), *flags)
