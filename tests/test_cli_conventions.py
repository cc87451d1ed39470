"""Where a tcpdump user saw ringcap differ from tcpdump 4.99, against the real tcpdump.

Each test runs both programs (subprocesses) on the same arguments and
compares standard output, standard error and the exit status.  ringcap's
errors always start with its own prefix, ``ringcap: `` where tcpdump's say
``tcpdump: ``, and may add ``; what to do`` where ringcap takes more forms
than tcpdump (sizes with suffixes, durations): the tests allow exactly that.
"""
from __future__ import annotations

import os
import pwd
import re
import struct
import subprocess
import sys

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

import ringcap
from conftest import TEST_ETHERTYPE, RingcapProcess, frame_seq, make_frame
from ringcap import TxRing
from test_linktypes import PACKAGE_ROOT, ringcap_cli


def run_tcpdump(*args):
    return subprocess.run(["tcpdump", *map(str, args)], capture_output=True, text=True,
                          timeout=60)


def assert_same_refusal(theirs, ours) -> None:
    """Both stop with status 1 and nothing on stdout; ringcap in tcpdump's words."""
    assert theirs.returncode == 1 and theirs.stdout == "", theirs.stderr
    assert theirs.stderr.startswith("tcpdump: ") and theirs.stderr.count("\n") == 1
    words = theirs.stderr[len("tcpdump: "):-1]
    assert (ours.returncode, ours.stdout) == (1, ""), ours.stderr
    assert ours.stderr in (f"ringcap: {words}\n",) or (
        ours.stderr.startswith(f"ringcap: {words}; ") and ours.stderr.count("\n") == 1), \
        (ours.stderr, words)


@pytest.fixture
def sample(tmp_path):
    path = tmp_path / "sample.pcap"
    wrpcap(str(path), [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                       / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=40000 + i, dport=41000)
                       / Raw(b"v" * 12) for i in range(4)])
    return path


REFUSED = [("-c", "0"), ("-c", "abc"), ("-c", "-1"), ("-c", "2147483648"), ("-c", "0x10"),
           ("-C", "0"), ("-C", "abc"), ("-C", "-1"), ("-C", "1x"),
           ("-G", "-1"), ("-G", "-5"),
           ("-W", "0"), ("-W", "abc"), ("-W", "-1"), ("-W", "0x3"),
           ("-s", "-1"), ("-s", "abc"), ("-s", "300000"),
           ("-B", "0"), ("-B", "abc"), ("-B", "-1"), ("-Q", "bogus"), ("-Q", ""),
           ("-c", "0", "-C", "0"), ("-C", "0", "-c", "0"),       # the first one is named
           # a value with a minus sign that is no plain number: argparse's "expected
           # one argument", status 2, where tcpdump refuses the value
           ("-G", "-5s"), ("-G", "-1.5"), ("-c", "-5s"), ("-C", "-1x"), ("-W", "-3x"),
           ("-s", "-7k"), ("-B", "-2k")]


@pytest.mark.parametrize("options", REFUSED, ids=" ".join)
@pytest.mark.parametrize("mode", ["read", "capture"])
def test_values_tcpdump_refuses_are_refused_in_its_words(tmp_path, mode, options):
    """`-c 0` was argparse's usage error (`argument -c: bad packet count ...`,
    status 2): tcpdump checks these values itself, before anything is opened,
    and says `invalid packet count 0` with status 1.  Capturing, the interface
    does not exist (nothing is opened even if a value passed)."""
    source = ("-r", tmp_path / "missing.pcap") if mode == "read" else ("-i", "nosuch0")
    output = ("-w", tmp_path / "out.pcap")
    theirs = run_tcpdump(*source, *output, *options)
    ours = ringcap_cli(*map(str, (*source, *output, *options)))
    assert_same_refusal(theirs, ours)
    assert sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.parametrize("options", [("-c", "2x"), ("-c", " 3"), ("-W", "2x", "-C", "1"),
                                     ("-G", "0"), ("-G", "abc"), ("-G", "0", "-C", "1"),
                                     ("-G", "0", "-W", "3"), ("-W", "3")],
                         ids=" ".join)
def test_values_tcpdump_reads_with_atoi_are_taken_as_it_takes_them(sample, tmp_path, options):
    """tcpdump reads -c, -W and -G with atoi: `-c 2x` is 2, `-G 0` (and
    `-G abc`) no rotation by time, and `-G 0 -W 3` or `-W 3` alone one file
    (ringcap said "-W needs -C or -G").  The same packets printed, the same files."""
    theirs_dir, ours_dir = tmp_path / "t", tmp_path / "r"
    theirs_dir.mkdir()
    ours_dir.mkdir()
    if options[0] == "-c":     # (-C, -G and -W without -w: ringcap refuses, tcpdump ignores)
        theirs = run_tcpdump("-nn", "-r", sample, *options)
        ours = ringcap_cli("-nn", "-r", str(sample), *options)
        assert ours.returncode == theirs.returncode == 0, ours.stderr
        assert ours.stdout == theirs.stdout != ""
    # (-Z root: Debian's tcpdump writes as its own user otherwise)
    done = run_tcpdump("-Z", "root", "-r", sample, "-w", theirs_dir / "o.pcap", *options)
    assert done.returncode == 0, done.stderr
    mine = ringcap_cli("-r", str(sample), "-w", str(ours_dir / "o.pcap"), *options)
    assert mine.returncode == 0, mine.stderr
    theirs_files = sorted(p.name for p in theirs_dir.iterdir())
    assert sorted(p.name for p in ours_dir.iterdir()) == theirs_files
    for name in theirs_files:
        assert (ours_dir / name).read_bytes() == (theirs_dir / name).read_bytes(), name


def _into_a_closed_pipe(command) -> tuple[int, str, bytes]:
    """(status, stderr, first line) with standard output closed after its
    first line, as by `| head -1`."""
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd="/", env={**os.environ, "PYTHONPATH": PACKAGE_ROOT})
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.stderr.close()
    return proc.wait(timeout=120), err, first


@pytest.mark.parametrize("batches", [False, True], ids=["lean", "batches"])
@pytest.mark.parametrize("options", [(), ("--print", "-w", "{out}"), ("-w", "-")],
                         ids=" ".join)
def test_a_closed_pipe_stops_printing_as_tcpdump(tmp_path, options, batches, monkeypatch):
    """`ringcap -r F | head -1` ended with status 0, silently; tcpdump says
    `Unable to write output: Broken pipe` and exits 14 when printed lines
    cannot be written.  A pcap stream (`-w -`) into a closed pipe: tcpdump
    stops with status 0 and no word, and so does ringcap (after its summary)."""
    if batches:
        monkeypatch.setenv("RINGCAP_READ_BATCHES", "1")
    path = tmp_path / "many.pcap"
    wrpcap(str(path), [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                       / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=40000, dport=41000)
                       / Raw(b"p" * 60)] * 5000)        # 300 KB of lines: more than a pipe holds
    options = [o.replace("{out}", str(tmp_path / "o.pcap")) for o in options]
    status, err, first = _into_a_closed_pipe(["tcpdump", "-nn", "-r", str(path), *options])
    mine, my_err, my_first = _into_a_closed_pipe(
        [sys.executable, "-m", "ringcap", "-nn", "-r", str(path), *options])
    assert mine == status == (0 if options[:1] == ["-w"] else 14), (err, my_err)
    assert my_first == first
    theirs_last = err.splitlines()[-1]
    if status == 14:
        assert theirs_last == "tcpdump: Unable to write output: Broken pipe"
        assert my_err.splitlines()[-1] == "ringcap: Unable to write output: Broken pipe"
    else:
        assert theirs_last.startswith("reading from file")
        assert "ringcap:" not in my_err and re.fullmatch(r"\d+ packets read",
                                                           my_err.splitlines()[-1])


@pytest.mark.parametrize("direction,expected", [("IN", [0, 2, 4, 6]), ("Out", [1, 3, 5]),
                                                ("INOUT", list(range(7)))])
def test_direction_in_any_case_captures_what_tcpdump_captures(veth, tmp_path, direction,
                                                              expected):
    """`-Q IN` was refused (argparse's `invalid choice: 'IN'`, status 2);
    tcpdump takes the direction in any case.  Both capture veth.b at once:
    frames received (even numbers, sent from veth.a) and sent (odd, out of
    veth.b), and write the same packets."""
    ours, theirs = tmp_path / "ours.pcap", tmp_path / "theirs.pcap"
    common = ["-i", veth.b, "-Q", direction, "-c", len(expected), "--immediate-mode"]
    expression = ["ether", "proto", hex(TEST_ETHERTYPE)]
    # (-Z root: Debian's tcpdump writes -w as its own user otherwise)
    tcpdump = RingcapProcess(*common, "-Z", "root", "-w", theirs, *expression,
                             command=["tcpdump"])
    cli = RingcapProcess(*common, "-w", ours, *expression)
    tcpdump.wait_for("listening on")
    cli.wait_for("listening on")
    for seq in range(7):
        sender = veth.a if seq % 2 == 0 else veth.b
        with TxRing(sender, qdisc_bypass=False) as tx:     # (packet sockets see it leave)
            tx.send([make_frame(seq, 80)])
    assert cli.finish() == 0, cli.err
    assert tcpdump.finish() == 0, tcpdump.err
    got = [bytes(p) for p in ringcap.read_pcap(ours).packets()]
    want = [bytes(p) for p in ringcap.read_pcap(theirs).packets()]
    assert got == want and sorted(frame_seq(f) for f in got) == expected


def _dns_messages() -> list:
    """Queries and responses with each kind of record tcpdump prints: names
    compressed, several questions, -vv's authority and additional sections,
    EDNS, mDNS, over IPv4 and IPv6."""
    from scapy.layers.dns import (DNS, DNSQR, DNSRR, DNSRRMX, DNSRROPT, DNSRRSOA, DNSRRSRV,
                                  EDNS0TLV)
    from scapy.layers.inet6 import IPv6
    eth = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
    ask = eth / IP(src="10.9.0.1", dst="10.9.0.53") / UDP(sport=40000, dport=53)
    tell = eth / IP(src="10.9.0.53", dst="10.9.0.1") / UDP(sport=53, dport=40000)
    mdns = eth / IP(src="10.9.0.5", dst="224.0.0.251") / UDP(sport=5353, dport=5353)
    www, org = "www.example.com", "example.org"
    return [
        ask / DNS(id=0x1234, rd=1, qd=DNSQR(qname=www)),
        tell / DNS(id=0x1234, qr=1, aa=1, rd=1, ra=1, qd=DNSQR(qname=www),
                   an=[DNSRR(rrname=www, type="CNAME", rdata="web.example.com"),
                       DNSRR(rrname="web.example.com", rdata="93.184.216.34")]),
        ask / DNS(id=7, rd=1, qd=DNSQR(qname=org, qtype="AAAA"), ar=[DNSRROPT(
            rclass=4096, rdata=[EDNS0TLV(optcode=10, optdata=bytes(range(8)))])]),
        tell / DNS(id=7, qr=1, rd=1, ra=1, qd=DNSQR(qname=org, qtype="AAAA"),
                   an=[DNSRR(rrname=org, type="AAAA", rdata="2001:db8::1")],
                   ns=[DNSRR(rrname=org, type="NS", rdata="ns1.example.org")],
                   ar=[DNSRR(rrname="ns1.example.org", rdata="192.0.2.1"),
                       DNSRROPT(rclass=1232)]),
        tell / DNS(id=9, qr=1, rcode=3, qd=DNSQR(qname="nx.example.com", qtype="MX"),
                   ns=[DNSRRSOA(rrname="example.com", mname="ns.example.com",
                                rname="admin.example.com", serial=7, minimum=4)]),
        tell / DNS(id=1, qr=1, qd=DNSQR(qname="example.com", qtype="MX"),
                   an=[DNSRRMX(rrname="example.com", preference=10, exchange="mx.example.com"),
                       DNSRR(rrname="example.com", type="TXT", rdata=[b"v=spf1 -all", b"x"]),
                       DNSRRSRV(rrname="_sip._tcp.example.com", port=5060,
                                target="sip.example.com")]),
        ask / DNS(id=2, rd=1, qd=[DNSQR(qname="a.example.com"),
                                  DNSQR(qname="b.example.com", qtype="AAAA")]),
        mdns / DNS(qr=1, aa=1, an=[DNSRR(rrname="printer.local", rclass=0x8001,
                                         rdata="10.9.0.5")]),
        mdns / DNS(qd=DNSQR(qname="_ipp._tcp.local", qtype="PTR", unicastresponse=1)),
        eth / IPv6(src="2001:db8::1", dst="2001:db8::53") / UDP(sport=40001, dport=53)
        / DNS(id=3, rd=1, qd=DNSQR(qname="v6.example.com", qtype="AAAA")),
    ]


def _cut_everywhere(path, packets) -> int:
    """A pcap file of each packet cut after each byte of its UDP payload (the
    snapshot length's cut: the wire length stays)."""
    records = []
    for packet in packets:
        raw = bytes(packet)
        payload = len(raw) - len(bytes(packet[UDP].payload))
        records += [(raw[:cut], len(raw)) for cut in range(payload, len(raw) + 1)]
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for i, (data, wirelen) in enumerate(records):
            f.write(struct.pack("<IIII", 1_700_000_000 + i, 0, len(data), wirelen) + data)
    return len(records)


@pytest.mark.parametrize("flags", [("-n",), ("-nn",), ("-nn", "-v"), ("-nn", "-vv"),
                                   ("-nn", "-vvv")], ids=" ".join)
def test_dns_cut_by_the_snapshot_length_is_printed_as_tcpdump(tmp_path, flags):
    """A DNS message cut short (by -s, or a capture file's snaplen) was a bare
    `UDP, length N` line wherever the cut fell in the header, a response's
    question or a record's fixed part; tcpdump prints what it can, then
    `[|domain]` (or, where its record loop stops at the captured end without
    an error, the message length).  Every cut point of each message, both
    print paths (the numpy-free one and batches), against tcpdump."""
    path = tmp_path / "cut.pcap"
    count = _cut_everywhere(path, _dns_messages())
    theirs = run_tcpdump(*flags, "-r", path)
    assert theirs.returncode == 0, theirs.stderr
    lines = [l for l in theirs.stdout.splitlines() if not l[:1].isspace()]   # (not -v's 2nd)
    assert len(lines) == count and theirs.stdout.count("[|domain]") > count // 2
    for batches in ("", "1"):
        ours = subprocess.run([sys.executable, "-m", "ringcap", *flags, "-r", str(path)],
                              capture_output=True, text=True, cwd="/", timeout=120,
                              env={**os.environ, "PYTHONPATH": PACKAGE_ROOT,
                                   "RINGCAP_READ_BATCHES": batches})
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == theirs.stdout, "\n".join(
            f"{t}\n{o}" for t, o in zip(theirs.stdout.splitlines(), ours.stdout.splitlines())
            if t != o)[:3000]



@pytest.fixture
def reachable_folder():
    """A folder under /tmp that every user can reach (pytest's tmp_path is
    root's alone, 0700), removed afterwards."""
    import shutil
    import tempfile
    folder = tempfile.mkdtemp(prefix="ringcap-z-", dir="/tmp")
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder)


def test_z_user_who_cannot_make_the_next_parts_is_refused_before_anything(reachable_folder):
    """`-r IN -w PART -C 1 -Z nobody` into a folder nobody cannot write: the
    first part was written (as root, then given to nobody) and the second
    failed after a million bytes (status 1); tcpdump stops before writing
    (status 1, no part), and the capture already refused this up front.
    `-r` now shares the capture's check: status 1, one line saying what to
    do, nothing written; so also for -G, as the capture (tcpdump, which opens
    -G's first file before it gives up root, fails only at the next one).
    Where nobody can create files, the parts are written."""
    assert os.geteuid() == 0, "the suite runs as root (namespaces)"
    path = os.path.join(reachable_folder, "in.pcap")
    wrpcap(path, [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                  / IP(src="10.9.0.1", dst="10.9.0.2") / UDP(sport=40000, dport=41000)
                  / Raw(bytes(1000))] * 1500)             # 1.6 MB: two parts with -C 1
    closed = os.path.join(reachable_folder, "closed")
    os.mkdir(closed, 0o755)                     # root's: nobody may not create files in it
    theirs = run_tcpdump("-r", path, "-w", os.path.join(closed, "t"), "-C", "1", "-Z", "nobody")
    assert (theirs.returncode, theirs.stdout) == (1, "") and "Permission denied" in theirs.stderr
    refusal = (f"ringcap: -Z nobody: the files after the first are created as nobody, who "
               f"cannot create files in {closed}; make the folder writable for nobody (e.g. "
               f"chown nobody {closed}) or leave -Z out\n")
    for rotation in (("-C", "1"), ("-G", "3600")):
        ours = ringcap_cli("-r", path, "-w", os.path.join(closed, "r"), *rotation, "-Z", "nobody")
        assert (ours.returncode, ours.stdout, ours.stderr) == (1, "", refusal)
    assert os.listdir(closed) == []
    writable = os.path.join(reachable_folder, "open")
    os.mkdir(writable, 0o755)
    os.chown(writable, pwd.getpwnam("nobody").pw_uid, -1)
    done = ringcap_cli("-r", path, "-w", os.path.join(writable, "r"), "-C", "1", "-Z", "nobody")
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(writable)) == ["r", "r1"]
    assert sum(len(ringcap.read_pcap(os.path.join(writable, p))) for p in ("r", "r1")) == 1500


@pytest.mark.parametrize("fmt", ["pcap", "pcapng"])
@pytest.mark.parametrize("command", [["fields", "-e", "frame.number", "-e", "dns.qry.name", "-r"],
                                     ["stats"], ["stats", "--json"]],
                         ids=["fields", "stats", "stats-json"])
def test_fields_and_stats_into_a_closed_or_full_stdout(tmp_path, command, fmt):
    """`ringcap fields`/`stats F >&-` and `> /dev/full`: the words and status
    of `ringcap -r F >&-` (tcpdump's), not a traceback (fields and stats wrote
    to sys.stdout, None when fd 1 is closed; stats said only 'No space left
    on device', status 1)."""
    from test_cli_read_output import _closed_stdout, _pcap
    path = tmp_path / "one.pcap"
    _pcap(path)
    if fmt == "pcapng":
        path = tmp_path / "one.pcapng"
        ringcap.write_pcap(path, ringcap.read_pcap(tmp_path / "one.pcap"), format="pcapng")
    env = {**os.environ, "PYTHONPATH": PACKAGE_ROOT}
    argv = [sys.executable, "-m", "ringcap", *command, str(path)]
    closed = _closed_stdout(argv, env)
    assert (closed.returncode, closed.stderr) == (
        14, "ringcap: Unable to write output: Bad file descriptor (standard output is closed); "
            "redirect it (> out.txt, > /dev/null)\n")
    with open("/dev/full", "wb") as full:
        ours = subprocess.run(argv, stdout=full, stderr=subprocess.PIPE, text=True, env=env,
                              timeout=120)
    assert (ours.returncode, ours.stderr) == (
        14, "ringcap: Unable to write output: No space left on device\n")
