"""tcpdump's capture options given with -r, against tcpdump 4.99 on the same files.

A script written for tcpdump (``tcpdump -i eth0 -p -B 4096 -U -r old.pcap``,
a wrapper that always passes ``-p -U``) ran with tcpdump and failed with
ringcap, which refused those options as unknown (status 2).  tcpdump checks
their values before it opens the file, ignores the live ones (-Q filters no
file by direction), flushes -w per packet with -U and gives up root with -Z.
"""
from __future__ import annotations

import os
import pwd
import subprocess

import pytest
from scapy.layers.inet import IP, UDP
from scapy.layers.l2 import CookedLinux, Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from test_linktypes import ringcap_cli, tcpdump

OUTGOING, HOST = 4, 0


def _cooked_file(folder) -> str:
    """A LINUX_SLL file of received and sent packets (what -Q would choose between)."""
    path = str(folder / "cooked.pcap")
    wrpcap(path, [CookedLinux(pkttype=OUTGOING if i % 2 else HOST, lladdrtype=1, lladdrlen=6,
                              src=b"\x02\x00\x00\x00\x00\x01\x00\x00", proto=0x800)
                  / IP(src="10.7.0.1", dst="10.7.0.2") / UDP(sport=3000 + i, dport=4000)
                  / Raw(b"q" * i) for i in range(6)])
    return path


def _ethernet_file(path) -> str:
    wrpcap(str(path), [Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
                       / IP(src="10.7.0.3", dst="10.7.0.4") / UDP(sport=5000 + i, dport=4001)
                       / Raw(b"e" * 20) for i in range(4)])
    return str(path)


ACCEPTED = [
    ("-Q", "in"), ("-Q", "out"), ("-Q", "OUT"), ("-Q", "inout"), ("--direction=in",),
    ("-p",), ("-B", "4096"), ("-B", "4096x"), ("-B", "4194305"), ("--buffer-size", "1"),
    ("-i", "eth0"), ("-i", "nosuch0"), ("--interface", "any"), ("-I",), ("-j", "host"),
    ("-j", "ADAPTER_UNSYNCED"), ("-J",), ("-L",), ("--immediate-mode",), ("-N",), ("-O",),
    ("-z", "gzip"), ("-z", "no-such-command"), ("-U",), ("--packet-buffered",),
    ("-i", "eth0", "-p", "-B", "4096", "-U", "-Q", "in", "-O"),
]


@pytest.mark.parametrize("options", ACCEPTED, ids=" ".join)
def test_capture_options_with_r_print_what_tcpdump_prints(tmp_path, options):
    """Accepted and, for printing, ignored: every packet of the file in both
    directions (tcpdump 4.99 applies -Q only to a live capture), filtered by
    the expression as without them."""
    path = _cooked_file(tmp_path)
    for expression in ((), ("udp", "and", "src", "port", "3001", "or", "src", "port", "3002")):
        theirs = tcpdump("-nn", "-e", *options, "-r", path, *expression)
        ours = ringcap_cli("-nn", "-e", *options, "-r", path, *expression)
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == theirs.stdout
        assert len(ours.stdout.splitlines()) == (2 if expression else 6)
        assert "Out" in ours.stdout and "In" in ours.stdout


@pytest.mark.parametrize("options", [("-U",), ("-p", "-U", "-Q", "in", "-B", "4096"),
                                     ("-z", "gzip")], ids=" ".join)
def test_capture_options_with_r_write_the_file_tcpdump_writes(tmp_path, options):
    """With -w: the same file, byte for byte (-U flushes it per batch; -z runs
    only on files -C/-G finish, and tcpdump runs nothing here)."""
    path = _cooked_file(tmp_path)
    theirs, ours = tmp_path / "t.pcap", tmp_path / "r.pcap"
    tcpdump(*options, "-r", path, "-w", str(theirs), "udp")
    done = ringcap_cli(*options, "-r", path, "-w", str(ours), "udp")
    assert done.returncode == 0, done.stderr
    assert ours.read_bytes() == theirs.read_bytes()
    assert sorted(os.listdir(tmp_path)) == ["cooked.pcap", "r.pcap", "t.pcap"]


@pytest.mark.parametrize("options,words", [
    (("-B", "0"), "invalid packet buffer size 0"),
    (("-B", "abc"), "invalid packet buffer size abc"),
    (("-B", "-5"), "invalid packet buffer size -5"),
    (("-B", "2097152"), "invalid packet buffer size 2097152"),     # 2 GiB: a C int overflows
    (("-Q", "bogus"), "unknown capture direction `bogus'"),
    (("-Q", ""), "unknown capture direction `'"),
    (("-j", "bogus"), "invalid time stamp type bogus"),
])
def test_bad_capture_option_values_with_r_are_refused_as_tcpdump(tmp_path, options, words):
    """Refused before the file is opened (a missing file is not mentioned),
    status 1, in tcpdump's words."""
    missing = str(tmp_path / "missing.pcap")
    theirs = subprocess.run(["tcpdump", *options, "-r", missing], capture_output=True,
                            text=True, timeout=60)
    assert (theirs.returncode, theirs.stdout, theirs.stderr) == (1, "", f"tcpdump: {words}\n")
    ours = ringcap_cli(*options, "-r", missing)
    assert (ours.returncode, ours.stdout) == (1, "")
    assert ours.stderr.startswith(f"ringcap: {words}") and "missing" not in ours.stderr


def test_grouped_flags_before_r_read_the_file(tmp_path):
    """``-Nr FILE``, ``-pUr FILE``: tcpdump's flag letters grouped before r."""
    path = _cooked_file(tmp_path)
    for group in ("-Nr", "-pUr", "-INr"):
        theirs = tcpdump("-nn", group, path)
        ours = ringcap_cli("-nn", group, path)
        assert ours.returncode == 0, ours.stderr
        assert ours.stdout == theirs.stdout and len(ours.stdout.splitlines()) == 6


def test_minus_z_user_gives_the_output_to_user_and_reads_on_as_user(tmp_path):
    """tcpdump -Z USER -r A -V ...: the first file and -w are opened as root
    (here in a folder only root may write to), -w is given to USER, and root
    is given up before the first packet: a second file USER may not read
    stops both with status 1, after the first file's packets were written."""
    assert os.geteuid() == 0, "the suite runs as root (namespaces)"
    nobody = pwd.getpwnam("nobody")
    folder = tmp_path / "root-only"
    folder.mkdir(mode=0o755)
    first = _ethernet_file(folder / "first.pcap")
    secret = _ethernet_file(folder / "secret.pcap")
    os.chmod(secret, 0o600)
    listing = folder / "list"
    listing.write_text(f"{first}\n{secret}\n")
    theirs, ours = folder / "t.pcap", folder / "r.pcap"
    done_theirs = subprocess.run(["tcpdump", "-Z", "nobody", "-V", str(listing), "-w",
                                  str(theirs)], capture_output=True, text=True, timeout=60)
    done_ours = ringcap_cli("-Z", "nobody", "-V", str(listing), "-w", str(ours))
    assert done_theirs.returncode == done_ours.returncode == 1
    for done in (done_theirs, done_ours):
        assert f"{secret}: Permission denied" in done.stderr, done.stderr
    for written in (theirs, ours):
        assert (written.stat().st_uid, written.stat().st_gid) == (nobody.pw_uid, nobody.pw_gid)
    assert ours.read_bytes() == theirs.read_bytes() and len(ours.read_bytes()) > 24
    # printing: the same lines, and the same stop at the file USER cannot read
    printed_theirs = subprocess.run(["tcpdump", "-nn", "-Z", "nobody", "-V", str(listing)],
                                    capture_output=True, text=True, timeout=60)
    printed_ours = ringcap_cli("-nn", "-Z", "nobody", "-V", str(listing))
    assert printed_ours.returncode == printed_theirs.returncode == 1
    assert printed_ours.stdout == printed_theirs.stdout and \
        len(printed_ours.stdout.splitlines()) == 4
    # as root (-Z root), or without -Z, both read the two files
    for options in (("-Z", "root"), ()):
        assert len(ringcap_cli("-nn", *options, "-V", str(listing)).stdout.splitlines()) == 8


def test_minus_z_unknown_user_is_refused_as_tcpdump(tmp_path):
    """tcpdump: "Couldn't find user 'X'", status 1 (it has made -w's file by
    then; ringcap refuses before it opens anything)."""
    path = _ethernet_file(tmp_path / "in.pcap")
    theirs = subprocess.run(["tcpdump", "-Z", "no-such-user", "-r", path], capture_output=True,
                            text=True, timeout=60)
    assert theirs.returncode == 1 and "Couldn't find user 'no-such-user'" in theirs.stderr
    ours = ringcap_cli("-Z", "no-such-user", "-r", path, "-w", str(tmp_path / "r.pcap"))
    assert (ours.returncode, ours.stdout) == (1, "")
    assert ours.stderr.startswith("ringcap: Couldn't find user 'no-such-user'"), ours.stderr
    assert sorted(os.listdir(tmp_path)) == ["in.pcap"]


@pytest.mark.parametrize("snaplen", ["40", "0x30", "010", " 40", "+40", "0", "262144",
                                     "4294967336"])
def test_minus_s_with_r_cuts_nothing_as_tcpdump(tmp_path, snaplen):
    """tcpdump -s N -r FILE: N is checked (C's strtol, base 0, into an int),
    then not used: the lines and the -w file are those of the file's packets."""
    path = _ethernet_file(tmp_path / "in.pcap")
    theirs, ours = tmp_path / "t.pcap", tmp_path / "r.pcap"
    tcpdump("-s", snaplen, "-r", path, "-w", str(theirs))
    done = ringcap_cli("-s", snaplen, "-r", path, "-w", str(ours))
    assert done.returncode == 0, done.stderr
    assert ours.read_bytes() == theirs.read_bytes() == (tmp_path / "in.pcap").read_bytes()
    printed = ringcap_cli("-nn", "-x", "-s", snaplen, "-r", path)
    assert printed.stdout == tcpdump("-nn", "-x", "-s", snaplen, "-r", path).stdout


@pytest.mark.parametrize("snaplen", ["10M", "abc", "-1", "262145", "40 ", "", "08", "0x"])
def test_bad_minus_s_with_r_is_refused_as_tcpdump(tmp_path, snaplen):
    """``-s 10M`` (a suffix ringcap's capture takes), ``-s 262145``: tcpdump -r
    refuses them with status 1 before it opens the file (ringcap took them)."""
    missing = str(tmp_path / "missing.pcap")
    words = f"invalid snaplen {snaplen} (must be >= 0 and <= 262144)"
    theirs = subprocess.run(["tcpdump", "-s", snaplen, "-r", missing], capture_output=True,
                            text=True, timeout=60)
    assert (theirs.returncode, theirs.stdout, theirs.stderr) == (1, "", f"tcpdump: {words}\n")
    ours = ringcap_cli("-s", snaplen, "-r", missing)
    assert (ours.returncode, ours.stdout, ours.stderr) == (1, "", f"ringcap: {words}\n")
