"""`ringcap fields`: tshark's ``-T fields`` output, byte for byte, on traffic real
programs made (tests/recorded.py's recording, and test_app_decode's with mixed
case names, DHCP and user agents), on named_traffic and on scapy-built DNS
edge cases (several questions, the root, compression, truncated packets);
the numpy-free path against the batch path; errors."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.ntp import NTP
from scapy.packet import Raw
from scapy.utils import wrpcap

import ringcap
from ringcap.testing import named_traffic

from conftest import package_root
import recorded as recording
import test_app_decode

NAMES = ("dns.qry.name", "tls.handshake.extensions_server_name", "http.host")
ALL = NAMES + ("http.request.method", "http.request.uri", "http.user_agent",
               "dhcp.option.hostname")
FRAME = ("frame.number", "frame.time_epoch", "frame.len", "frame.cap_len")
NUMBERS = ("dns.id", "dns.flags.response", "dns.flags.opcode", "dns.flags.rcode",
           "dns.count.answers", "http.response.code", "ntp.flags.vn", "ntp.flags.mode",
           "ntp.stratum", "dhcp.option.dhcp", "dhcp.hw.mac_addr",
           "dhcp.option.requested_ip_address")
# a hook that reports, at exit, whether numpy was imported
NUMPY_AT_EXIT = ("import atexit, runpy, sys\n"
                 "atexit.register(lambda: print('NUMPY', 'numpy' in sys.modules, "
                 "file=sys.stderr, flush=True))\n"
                 "sys.argv[0] = 'ringcap'\n"
                 "runpy.run_module('ringcap', run_name='__main__', alter_sys=True)\n")


def tshark(path, fields, *extra) -> bytes:
    cmd = ["tshark", "-n", "-r", str(path), *extra, "-T", "fields"]
    for field in fields:
        cmd += ["-e", field]
    return subprocess.run(cmd, capture_output=True, check=True).stdout


def ringcap_fields(path, fields, *filter_words, batches=False) -> subprocess.CompletedProcess:
    """``ringcap fields -r path -e ...``; ``batches``: as pcapng (the batch path)."""
    if batches:
        converted = f"{path}.pcapng"
        ringcap.write_pcap(converted, ringcap.read_pcap(path), format="pcapng")
        path = converted
    argv = ["fields", "-r", str(path)]
    for field in fields:
        argv += ["-e", field]
    env = {**os.environ, "PYTHONPATH": package_root()}
    return subprocess.run([sys.executable, "-c", NUMPY_AT_EXIT, *argv, *filter_words],
                          capture_output=True, env=env, timeout=300)


def same_as_tshark(path, fields, *tshark_extra) -> bytes:
    """The lines of both paths, checked equal to tshark's; numpy only on the batch path."""
    theirs = tshark(path, fields, *tshark_extra)
    for batches in (False, True):
        ours = ringcap_fields(path, fields, batches=batches)
        assert ours.returncode == 0, ours.stderr
        assert f"NUMPY {batches}".encode() in ours.stderr, ours.stderr
        assert ours.stdout.splitlines() == theirs.splitlines()      # (a line's diff, if any)
        assert ours.stdout == theirs
    return theirs


def same_codes_as_tshark(path, *tshark_extra) -> list[bytes]:
    """http.response.code: the codes tshark prints, in its order, on both
    paths; tshark's in the line of the segment that completes a response's
    body (it reassembles TCP), ringcap's in that of the head's."""
    theirs = [code for code in tshark(path, ["http.response.code"], *tshark_extra).split()]
    for batches in (False, True):
        ours = ringcap_fields(path, ["http.response.code"], batches=batches)
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout.count(b"\n") == theirs_lines(path, *tshark_extra)
        assert ours.stdout.split() == theirs
    return theirs


def theirs_lines(path, *tshark_extra) -> int:
    return tshark(path, ["frame.number"], *tshark_extra).count(b"\n")


def test_recorded_programs_fields_are_tsharks_byte_for_byte(netns, tmp_path):
    """dig, curl over HTTP/1.1 and TLS 1.2/1.3 (tests/recorded.py), tshark as a user runs it."""
    path = recording.record(tmp_path / "programs.pcap", programs=("dns", "http", "tls"))
    out = same_as_tshark(path, NAMES).decode()
    assert f"\t{recording.TLS_HOST}\t\n" in out
    assert f"\t\t{recording.HTTP_HOST}:{recording.HTTP_PORT}\n" in out
    assert f"\n{recording.HTTP_HOST}\t\t\n" in out
    same_as_tshark(path, ALL)
    numbers = tuple(field for field in NUMBERS if field != "http.response.code")
    out = same_as_tshark(path, numbers + ("dns.qry.name",)).decode()
    assert "\t0\t0\t\t0\t" + "\t" * 6 in out and "\t1\t0\t0\t" in out    # query, answer
    assert "\t1\t0\t3\t0\t" in out         # missing.example.test: NXDOMAIN, no answer
    assert b"200" in same_codes_as_tshark(path)


def test_mixed_case_names_dhcp_and_user_agents_are_tsharks(netns, tmp_path):
    """test_app_decode's recording: a mixed-case question (tshark keeps the
    case), HTTP with a user agent, a Host with a port, a POST, DHCP's
    hostname; TLS on 8443, which tshark dissects only when told (``-d``)."""
    path = test_app_decode._record(tmp_path)
    out = same_as_tshark(path, ALL, "-d", "tcp.port==8443,tls").decode()
    assert "Mixed.Case.Example.TEST\t" in out
    numbers = tuple(field for field in NUMBERS if field != "http.response.code")
    lines = same_as_tshark(path, numbers, "-d", "tcp.port==8443,tls").decode()
    assert "\t5\t00:00:00:00:00:00\t\n" in lines          # an ACK, its chaddr zero, shown
    assert same_codes_as_tshark(path, "-d", "tcp.port==8443,tls")
    assert "ringcap-test/1.0 (app columns)" in out and "lab-host-7" in out


def _edge_frames() -> list[bytes]:
    ether = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    ip = IP(src="10.0.0.1", dst="10.0.0.53")
    frames = []
    for dns in (
            DNS(id=1, qd=DNSQR(qname="one.example")),
            DNS(id=2, qd=[DNSQR(qname="First.Example"), DNSQR(qname="second.example"),
                          DNSQR(qname="THIRD.example", qtype="AAAA")]),
            DNS(id=3, qd=DNSQR(qname=".", qtype="NS")),                    # the root
            DNS(id=4, qd=[]),                                              # no question
            DNS(id=5, qr=1, qd=DNSQR(qname="answered.example"))):
        frames.append(bytes(ether / ip / UDP(sport=40000, dport=53) / dns))
    # a compression pointer in the second question
    header = bytes(DNS(id=6, qdcount=2, qd=[]))[:12]
    body = b"\x03www\x07example\x00\x00\x01\x00\x01" + b"\x04mail\xc0\x10\x00\x01\x00\x01"
    frames.append(bytes(ether / ip / UDP(sport=40001, dport=53) / Raw(header + body)))
    # an HTTP request and a packet with no name at all
    frames.append(bytes(ether / IP(src="10.0.0.1", dst="10.0.0.80") / TCP(sport=40002, dport=80,
                        flags="PA") / Raw(b"GET /a?b=1 HTTP/1.1\r\nHost: Web.Example\r\n"
                                          b"User-Agent: t/1\r\n\r\n")))
    frames.append(bytes(ether / ip / UDP(sport=40003, dport=9) / Raw(b"x" * 30)))
    return frames


def _cut_pcap(path, frames, caplens) -> None:
    """``frames`` written with the ``caplens`` given (None: whole) as a classic pcap."""
    cut = [len(f) if c is None else min(c, len(f)) for f, c in zip(frames, caplens)]
    ts = [1_700_000_000 * 10**9 + k * 1000 for k in range(len(frames))]
    ringcap.write_pcap(path, ringcap.Batch.from_packets(
        [f[:c] for f, c in zip(frames, cut)], ts=ts, wirelen=[len(f) for f in frames]))


def test_several_questions_root_compression_and_cut_packets_as_tshark(tmp_path):
    """Several questions comma-joined in their own case, <Root>, a name behind a
    pointer, no question, and the same messages cut short at every few bytes
    (tshark shows the questions that were captured whole)."""
    frames = _edge_frames()
    path = tmp_path / "edges.pcap"
    _cut_pcap(path, frames, [None] * len(frames))
    out = same_as_tshark(path, ALL).decode()
    assert "First.Example,second.example,THIRD.example\t" in out
    assert "<Root>\t" in out and "one.example,mail.example" not in out
    assert "www.example,mail.example\t" in out
    cut_frames, caplens = [], []
    for frame in frames[1:3] + frames[5:6]:     # DNS (an HTTP head cut short: tshark shows none)
        for caplen in range(42, len(frame), 3):
            cut_frames.append(frame)
            caplens.append(caplen)
    cut = tmp_path / "cut.pcap"
    _cut_pcap(cut, cut_frames, caplens)
    same_as_tshark(cut, FRAME + ALL)
    same_as_tshark(cut, NUMBERS)


def _number_frames() -> list[tuple[bytes, list]]:
    """(frame, caplens to cut it at too) of each protocol with numeric fields."""
    ether = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    client = IP(src="10.0.0.1", dst="10.0.0.2")
    server = IP(src="10.0.0.2", dst="10.0.0.1")
    answer = DNSRR(rrname="a.example", rdata="192.0.2.7")
    dns = [
        client / UDP(sport=40000, dport=53) / DNS(id=0x1234, qd=DNSQR(qname="a.example")),
        server / UDP(sport=53, dport=40000) / DNS(id=0xABCD, qr=1, rcode=3,
                                                  qd=DNSQR(qname="a.example")),
        server / UDP(sport=53, dport=40000) / DNS(id=0xFFFF, qr=1, opcode=2, aa=1,
                                                  qd=DNSQR(qname="a.example"),
                                                  an=[answer, answer]),
        IP(src="10.0.0.1", dst="224.0.0.251") / UDP(sport=5353, dport=5353)       # mDNS
        / DNS(id=0, qr=1, qd=[], an=[DNSRR(rrname="box.local", rdata="192.0.2.8")]),
        IP(src="10.0.0.1", dst="224.0.0.252") / UDP(sport=50001, dport=5355)      # LLMNR
        / DNS(id=7, qd=DNSQR(qname="box")),
        server / TCP(sport=53, dport=40001, flags="PA")                          # DNS over TCP
        / Raw(len(bytes(DNS(id=9, qr=1, qd=DNSQR(qname="a.example"), an=[answer]))).to_bytes(2, "big")
              + bytes(DNS(id=9, qr=1, qd=DNSQR(qname="a.example"), an=[answer]))),
    ]
    ntp = [client / UDP(sport=123, dport=123) / Raw(bytes([(4 << 3) | mode, 3 + mode]) + bytes(46))
           for mode in range(8)]
    ntp.append(server / UDP(sport=123, dport=123) / NTP(version=3, mode=4, stratum=2))
    dhcp = [IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)
            / BOOTP(chaddr=bytes.fromhex("0a1b2c3d4e5f"), xid=5)
            / DHCP(options=[("message-type", "request"), ("requested_addr", "192.168.1.50"),
                            ("hostname", "box"), "end"]),
            IP(src="192.168.1.1", dst="192.168.1.50") / UDP(sport=67, dport=68)
            / BOOTP(op=2, chaddr=bytes.fromhex("0a1b2c3d4e5f"), yiaddr="192.168.1.50")
            / DHCP(options=[("message-type", "ack"), "end"])]
    http = [server / TCP(sport=80, dport=40002, flags="PA")
            / Raw(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"),
            server / TCP(sport=8080, dport=40003, flags="PA")
            / Raw(b"HTTP/1.0 200 OK\r\nContent-Length: 4\r\n\r\nbody"),
            client / TCP(sport=40002, dport=80, flags="PA")
            / Raw(b"GET / HTTP/1.1\r\nHost: a.example\r\n\r\n")]
    frames = []
    for packet in dns + ntp + dhcp + http:
        frame = bytes(ether / packet)
        frames.append((frame, list(range(34 + 8, len(frame), 3 if len(frame) < 120 else 7))))
    return frames


def test_numeric_fields_of_built_packets_whole_and_cut_as_tshark(tmp_path):
    """DNS (query, NXDOMAIN, answers, mDNS, LLMNR, over TCP), NTP in all 8
    modes, DHCP request and ack, HTTP responses and a request: tshark's
    numbers (``0x1234``, rcode on responses only, a stratum but for control
    messages, the MAC and address as text), whole and cut at every few bytes
    (tshark shows what was captured of a DNS header or NTP's flags, the
    client MAC before DHCP's options, nothing of a cut TCP message)."""
    frames = _number_frames()
    path = tmp_path / "numbers.pcap"
    _cut_pcap(path, [frame for frame, _ in frames], [None] * len(frames))
    out = same_as_tshark(path, FRAME[:1] + NUMBERS).decode().splitlines()
    assert out[0] == "1\t0x1234\t0\t0\t\t0" + "\t" * 7
    assert out[1] == "2\t0xabcd\t1\t0\t3\t0" + "\t" * 7
    assert out[2] == "3\t0xffff\t1\t2\t0\t2" + "\t" * 7
    assert out[5].startswith("6\t0x0009\t1\t0\t0\t1\t")                 # over TCP
    assert out[6] == "7" + "\t" * 6 + "\t4\t0\t3" + "\t" * 3                # NTP mode 0
    assert out[12] == "13" + "\t" * 6 + "\t4\t6\t" + "\t" * 3                # control
    assert out[15] == "16" + "\t" * 10 + "3\t0a:1b:2c:3d:4e:5f\t192.168.1.50"
    assert out[17].endswith("\t404" + "\t" * 6) and out[18].endswith("\t200" + "\t" * 6)
    cut_frames, caplens = [], []
    for frame, cuts in frames:
        cut_frames += [frame] * len(cuts)
        caplens += cuts
    cut = tmp_path / "numbers-cut.pcap"
    _cut_pcap(cut, cut_frames, caplens)
    same_as_tshark(cut, FRAME[:1] + NUMBERS)


def test_fields_of_several_values_are_refused_saying_why(tmp_path):
    """tshark prints every question's type, every suite a ClientHello offers:
    ringcap's columns hold one, so those fields are refused (status 1)."""
    ours = ringcap_fields(tmp_path / "none.pcap", ["dns.id", "dns.qry.type",
                                                   "tls.handshake.ciphersuite"])
    assert (ours.returncode, ours.stdout) == (1, b"")
    assert ours.stderr.decode().startswith(
        "ringcap: Some fields can hold several values in a packet, where ringcap decodes "
        "one: dns.qry.type (a type per question (1,28 for two)); tls.handshake.ciphersuite "
        "(every suite a ClientHello offers)\n")
    ours = ringcap_fields(tmp_path / "none.pcap", ["dns_qtype"])
    assert ours.returncode == 1 and b"dns_qtype (a type per question" in ours.stderr


def test_named_traffic_fields_and_a_filter_as_tshark(tmp_path):
    """named_traffic's DNS, TLS (real ClientHellos of Python's ssl) and HTTP;
    a trailing tcpdump filter prints the lines tshark's -Y of it prints, with
    the frame numbers of the file; frame fields alone, with no name asked for."""
    path = tmp_path / "named.pcap"
    ringcap.write_pcap(path, named_traffic(300, seed=3))
    same_as_tshark(path, ALL)
    same_as_tshark(path, FRAME)
    fields = FRAME[:2] + NAMES + FRAME[2:]
    theirs = tshark(path, fields, "-Y", "tcp.port == 443 || udp.srcport == 53")
    for batches in (False, True):
        ours = ringcap_fields(path, fields, "tcp", "port", "443", "or", "udp", "src", "port",
                              "53", batches=batches)
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == theirs and theirs.count(b"\n") > 100
        assert not theirs.startswith(b"1\t")          # numbered as in the file


def test_unknown_fields_and_missing_files_are_errors(tmp_path):
    ours = ringcap_fields(tmp_path / "none.pcap", ["dns.qry.nam", "http.host", "bogus"])
    assert ours.returncode == 1 and ours.stdout == b""
    message = ours.stderr.decode()
    assert "Some fields aren't valid: dns.qry.nam, bogus; known fields: frame.number" in message
    assert "dns.qry.name" in message and "dns_qname" in message
    assert "decode()" not in message                 # (no lower-layer field was asked for)
    # tshark users' first fields: said where those values are
    ours = ringcap_fields(tmp_path / "none.pcap", ["ip.src", "dns.qry.name", "tcp.dstport"])
    assert ours.returncode == 1 and ours.stdout == b""
    message = ours.stderr.decode()
    assert "Some fields aren't valid: ip.src, tcp.dstport; known fields: " in message
    assert ("ip.src, tcp.dstport: ringcap fields prints the application fields; a packet's "
            "addresses, ports and protocols are in `ringcap -nn -r FILE`'s lines and in "
            "decode()'s columns") in message
    ours = ringcap_fields(tmp_path / "none.pcap", ["dns.qry.name"])
    assert ours.returncode == 2 and ours.stdout == b""            # tshark's words and status
    assert ours.stderr.decode().startswith(f'ringcap: The file "{tmp_path / "none.pcap"}" '
                                           f"doesn't exist.\n")


def test_column_names_give_the_same_text_as_tsharks_names(tmp_path):
    path = tmp_path / "edges.pcap"
    _cut_pcap(path, _edge_frames(), [None] * 8)
    by_tshark = ringcap_fields(path, ["dns.qry.name", "http.host"])
    by_column = ringcap_fields(path, ["dns_qname", "http_host"])
    assert by_tshark.returncode == by_column.returncode == 0
    assert by_tshark.stdout == by_column.stdout and b"<Root>" in by_column.stdout
    by_tshark = ringcap_fields(path, ["dns.id", "dns.flags.response", "dns.count.answers"])
    by_column = ringcap_fields(path, ["dns_id", "dns_qr", "dns_ancount"])
    assert by_tshark.returncode == by_column.returncode == 0
    assert by_tshark.stdout == by_column.stdout and b"0x0005\t1\t0\n" in by_column.stdout


def test_many_chunks_and_map_windows_number_and_name_as_tshark(tmp_path):
    """A 50 MB file (several of the lean path's 16 MiB windows, chunks of up
    to 32,768 packets): frame numbers and names go on across chunk and window
    edges, with and without a filter, on both paths."""
    named = list(named_traffic(2000, seed=9).packets())
    big = bytes(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=7, dport=9) / Raw(bytes(1400)))
    frames = []
    for packet in named:
        frames += [bytes(packet)] + [big] * 6
    path = tmp_path / "many.pcap"
    _cut_pcap(path, frames, [None] * len(frames))
    assert os.path.getsize(path) > 48 << 20
    fields = ("frame.number",) + NAMES + ("dns.id", "dns.flags.rcode", "dns.count.answers")
    same_as_tshark(path, fields)
    theirs = tshark(path, fields, "-Y", "!(udp.port == 9)")
    for batches in (False, True):
        ours = ringcap_fields(path, fields, "not", "udp", "port", "9", batches=batches)
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == theirs and theirs.count(b"\n") == len(named)


@pytest.mark.parametrize("linktype", [113, 276, 101, 0], ids=["sll", "sll2", "raw", "null"])
def test_other_link_types_give_tsharks_lines(tmp_path, linktype):
    """named_traffic's frames as Linux cooked v1/v2, raw IP and BSD loopback captures."""
    import numpy as np
    frames = test_app_decode._relinked([bytes(p) for p in named_traffic(200, seed=4).packets()],
                                       linktype)
    path = tmp_path / f"linktype-{linktype}.pcap"
    ringcap.write_pcap(path, ringcap.Batch.from_packets(
        frames, ts=np.arange(len(frames), dtype=np.int64) * 1000,
        linktype=np.full(len(frames), linktype, np.uint16)), linktype=linktype)
    assert b"example" in same_as_tshark(path, ("frame.number",) + ALL)


def test_link_types_ringcap_does_not_decode_give_lines_without_names(tmp_path):
    """802.11 (105), radiotap (127) and USER0 (147) packets: tshark prints
    their frame fields and empty names, and so does ringcap, in a file of that
    link type alone and in a pcapng beside Ethernet (it stopped with 'packet 0
    has link type 105, which ringcap does not decode ... batch[batch.linktype
    == 1]', status 1)."""
    import numpy as np
    frames = [bytes(p) for p in named_traffic(60, seed=3).packets()]
    fields = FRAME + NAMES
    for linktype in (105, 127, 147):
        path = tmp_path / f"linktype-{linktype}.pcap"
        ringcap.write_pcap(path, ringcap.Batch.from_packets(
            frames, ts=np.arange(len(frames), dtype=np.int64) * 1000,
            linktype=np.full(len(frames), linktype, np.uint16)), linktype=linktype)
        theirs = tshark(path, fields)
        assert theirs.count(b"\n") == len(frames)
        ours = ringcap_fields(path, fields)
        assert (ours.returncode, ours.stdout) == (0, theirs), ours.stderr
    mixed = tmp_path / "mixed.pcapng"
    ringcap.write_pcap(mixed, ringcap.Batch.from_packets(
        frames, ts=np.arange(len(frames), dtype=np.int64) * 1000,
        linktype=np.array([1, 105] * (len(frames) // 2), np.uint16)), format="pcapng")
    theirs = tshark(mixed, fields)
    assert b"example" in theirs
    ours = ringcap_fields(mixed, fields)
    assert (ours.returncode, ours.stdout) == (0, theirs), ours.stderr


def test_a_line_longer_than_the_output_buffer(tmp_path):
    """A 60 KB URI of bytes written as ``\\xNN`` (240 KB a field), asked for
    20 times: 4.8 MB lines, over the 4 MiB buffer (it stopped: 'the line of
    packet 0 is longer than the 4194304 bytes of the output buffer'); tshark
    prints any line.  Each column holds what the field alone gives."""
    uri = b"/" + bytes(0x80 + k % 0x7F for k in range(60_000))
    packet = (Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
              / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1234, dport=80, flags="PA")
              / Raw(b"GET " + uri + b" HTTP/1.1\r\nHost: a.example\r\n\r\n"))
    path = tmp_path / "long.pcap"
    wrpcap(str(path), [packet, packet])
    alone = ringcap_fields(path, ["http.request.uri"])
    assert alone.returncode == 0 and alone.stdout.count(b"\\x") == 2 * 60_000, alone.stderr
    for batches in (False, True):
        ours = ringcap_fields(path, ["http.request.uri"] * 20, batches=batches)
        assert ours.returncode == 0, ours.stderr[-500:]
        assert ours.stdout.splitlines() == [b"\t".join([line] * 20)
                                            for line in alone.stdout.splitlines()]


def test_a_tshark_command_line_as_it_is(tmp_path):
    """`ringcap fields -n -r F -T fields -e ...`, tshark's words copied: its
    lines (-n and -T were 'unrecognized arguments', status 2); -Y, a display
    filter, refused saying how to give a filter."""
    packets = list(named_traffic(100, seed=5).packets())
    path = tmp_path / "named.pcap"
    wrpcap(str(path), packets)
    theirs = tshark(path, FRAME + NAMES)
    env = {**os.environ, "PYTHONPATH": package_root()}
    argv = [sys.executable, "-m", "ringcap", "fields", "-n", "-r", str(path), "-T", "fields"]
    for field in FRAME + NAMES:
        argv += ["-e", field]
    ours = subprocess.run(argv, capture_output=True, env=env, timeout=120)
    assert (ours.returncode, ours.stdout) == (0, theirs), ours.stderr
    refused = subprocess.run(argv + ["-Y", "dns"], capture_output=True, text=True, env=env,
                             timeout=120)
    assert (refused.returncode, refused.stdout) == (1, "")
    assert refused.stderr == ("ringcap: -Y dns: Wireshark's display filters are not read; give "
                              "a tcpdump filter after the fields, e.g. ringcap fields -r FILE "
                              "-e dns.qry.name udp port 53\n")


@pytest.mark.parametrize("options", [
    ("-E", "header=y"), ("-E", "separator=,"), ("-E", "separator=/s"), ("-E", "quote=d"),
    ("-E", "quote=s", "-E", "separator=;"), ("-E", "separator=ab"),
    ("-E", "header=y", "-E", "separator=/t", "-E", "quote=d", "-E", "header=n", "-E", "quote=n"),
], ids=" ".join)
def test_tsharks_line_options_give_its_lines(tmp_path, options):
    """`-E header=y`, `-E separator=,` and `-E quote=d`, as a tshark user
    writes them, were 'unrecognized arguments' (status 2).  Now tshark's
    lines: the names first, the separator between values (its first
    character; /t, /s), quotes around the values that are not empty."""
    frames = _number_frames()
    path = tmp_path / "numbers.pcap"
    _cut_pcap(path, [frame for frame, _ in frames], [None] * len(frames))
    fields = FRAME[:1] + ("dns.qry.name",) + NUMBERS
    theirs = tshark(path, fields, *options)
    assert (theirs == tshark(path, fields)) == (options[-1] == "quote=n")    # (the last wins)
    for batches in (False, True):
        ours = ringcap_fields(path, fields, *options, batches=batches)
        assert (ours.returncode, ours.stdout) == (0, theirs), ours.stderr


def test_a_packet_count_reads_the_first_packets_as_tshark(tmp_path):
    """tshark -c N reads the first N packets (a filter then prints those of
    them it accepts); `ringcap fields -c` was 'unrecognized arguments'.
    Counts inside the first chunk, at its end and past the file, both paths;
    tshark's refusals in its words, status 1."""
    packets = list(named_traffic(300, seed=7).packets())
    path = tmp_path / "named.pcap"
    wrpcap(str(path), packets)
    fields = FRAME[:1] + NAMES + ("dns.id",)
    for count in ("1", "7", "255", "256", "257", str(len(packets)), "5000"):
        theirs = tshark(path, fields, "-c", count)
        assert theirs.count(b"\n") == min(int(count), len(packets))
        for batches in (False, True):
            ours = ringcap_fields(path, fields, "-c", count, batches=batches)
            assert (ours.returncode, ours.stdout) == (0, theirs), ours.stderr
    theirs = subprocess.run(["tshark", "-r", str(path), "-c", "40", "-Y", "udp.port == 53",
                             "-T", "fields", "-e", "frame.number"], capture_output=True).stdout
    ours = ringcap_fields(path, ["frame.number"], "-c", "40", "udp", "port", "53")
    assert (ours.returncode, ours.stdout) == (0, theirs) and 0 < theirs.count(b"\n") < 40
    for value in ("0", "-1", "abc", "2x"):
        refused = subprocess.run(["tshark", "-r", str(path), "-c", value, "-T", "fields",
                                  "-e", "frame.number"], capture_output=True, text=True)
        ours = ringcap_fields(path, ["frame.number"], "-c", value)
        assert (ours.returncode, ours.stdout) == (refused.returncode, b"") == (1, b"")
        words = refused.stderr.splitlines()[-1].removeprefix("tshark: ")
        assert ours.stderr.decode().splitlines()[0] == f"ringcap: {words}"


def test_the_header_line_comes_once_the_file_is_open_as_tsharks(tmp_path):
    """-E header=y: tshark prints the names only once the file is open (a
    missing file: nothing on standard output, status 2; an empty capture:
    the names alone)."""
    empty = tmp_path / "empty.pcap"
    wrpcap(str(empty), [])
    for path, status in ((tmp_path / "missing.pcap", 2), (empty, 0)):
        theirs = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-E", "header=y",
                                 "-e", "frame.number", "-e", "dns.id"], capture_output=True)
        assert theirs.returncode == status
        for batches in (False, True) if status == 0 else (False,):
            ours = ringcap_fields(path, ["frame.number", "dns.id"], "-E", "header=y",
                                  batches=batches)
            assert (ours.returncode, ours.stdout) == (status, theirs.stdout), ours.stderr


@pytest.mark.parametrize("option, words", [
    ("quote=x", "ringcap takes tshark's header=y|n, separator=/t|/s|CHAR and quote=d|s|n"),
    ("separator=", "ringcap takes tshark's"), ("bom=y", "ringcap takes tshark's"),
    ("occurrence=l", "ringcap prints one value of each field a packet"),
])
def test_line_options_ringcap_does_not_take_are_refused_saying_which(tmp_path, option, words):
    path = tmp_path / "one.pcap"
    wrpcap(str(path), list(named_traffic(3, seed=5).packets()))
    ours = ringcap_fields(path, ["frame.number"], "-E", option)
    assert (ours.returncode, ours.stdout) == (1, b"")
    assert ours.stderr.decode().startswith(f"ringcap: -E {option}: {words}"), ours.stderr


def test_field_lines_numbers_their_presence_and_short_columns():
    """The compiled line writer alone: each number kind's text at its edges,
    a field empty where the protocol, gate, zero value or captured bytes say
    tshark has none, and a column shorter than the packets a clear error."""
    from array import array
    from ringcap import _app
    dns, ntp = _app.APP_PROTOCOLS["dns"], _app.APP_PROTOCOLS["ntp"]
    app = array("B", [dns, dns, ntp, 0])
    ids = array("H", [0xFFFF, 0x0A0B, 7, 7])
    qr = array("B", [1, 0, 1, 1])
    address = array("I", [0xFFFFFFFF, 0x0A000001, 0, 5])
    mac = array("B", [255] * 6 + [0x0A, 0x1B, 0x2C, 0x3D, 0x4E, 0x5F] + [0] * 12)
    caplen, payload_offset = array("I", [60, 45, 60, 60]), array("H", [42] * 4)
    payload_len, ip_proto, flags = array("I", [18] * 4), array("B", [17] * 4), array("I", [0] * 4)
    cut = (caplen, payload_offset, payload_len, ip_proto, flags, 4, -1)
    columns = [("hex16", ids, (app, 1 << dns, None, 0, 0, False, cut)),
               ("u16", ids, (app, 1 << dns, qr, 1, 1, False, None)),
               ("ipv4", address, (app, 1 << dns | 1 << ntp, None, 0, 0, True, None)),
               ("mac", mac, None), ("u8", qr, None)]
    out = bytearray(1024)
    lines = ("0xffff\t65535\t255.255.255.255\tff:ff:ff:ff:ff:ff\t1\n"
             "\t\t10.0.0.1\t0a:1b:2c:3d:4e:5f\t0\n"        # 3 bytes captured; a query
             "\t\t\t00:00:00:00:00:00\t1\n"                 # not DNS; address 0: none
             "\t\t\t00:00:00:00:00:00\t1\n")                # no protocol
    assert _app.field_lines(out, 0, 4, columns) == (4, len(lines))
    assert out[:len(lines)].decode() == lines
    with pytest.raises(ValueError, match="column 3 has 18 values, fewer than 24"):
        _app.field_lines(out, 0, 4, [("u8", qr, None), ("u8", qr, None), ("u8", qr, None),
                                     ("mac", mac[:18], None)])
    with pytest.raises(ValueError, match="column 0's gate has 2 values, fewer than 4"):
        _app.field_lines(out, 0, 4, [("u8", qr, (app, 2, qr[:2], 1, 1, False, None))])
    with pytest.raises(ValueError, match="column 0's flags has 1 values, fewer than 4"):
        _app.field_lines(out, 0, 4, [("u8", qr, (app, 2, None, 0, 0, False,
                                                  cut[:4] + (flags[:1], 4, -1)))])


def test_field_lines_runs_of_empty_lines_split_anywhere_by_the_buffer():
    """Text columns only: the rows where every column is empty are written a
    run at a time; each line is what the row by row writer gives, from any
    first row and with a buffer that ends a call at any point of a run."""
    from array import array
    from ringcap import _app
    rng = __import__("random").Random(21)
    n = 300
    strings = []
    for k in range(3):
        # long runs of empty rows, and rows where only this column has text
        values = [b"" if rng.random() < 0.9 else bytes(rng.choice(b"abc.") for _ in
                                                     range(rng.randint(1, 9))) for _ in range(n)]
        values[n // 2 + k] = b"x" * k       # rows near the middle: one column each
        strings.append(values)
    columns = []
    for values in strings:
        offsets = array("i", [0])
        for value in values:
            offsets.append(offsets[-1] + len(value))
        columns.append(("text", offsets, bytearray(b"".join(values))))
    expected = [b"\t".join(strings[k][i] for k in range(3)) + b"\n" for i in range(n)]
    for start in (0, 1, 149, 299):
        longest = len(max(expected, key=len))
        for size in (longest, longest + 1, longest + 2, 64, 1000, 4096):
            out, written, i = bytearray(size), b"", start
            while i < n:
                i, used = _app.field_lines(out, i, n, columns)
                written += bytes(out[:used])
            assert written == b"".join(expected[start:]), (start, size)
