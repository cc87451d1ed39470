"""`ringcap -r FILE [FILTER]` prints a classic pcap file without batches
(ringcap/cli/fileprint.py, no numpy): its standard output, standard error and
exit status must be, byte for byte, those of the batch path
(``RINGCAP_READ_BATCHES=1``), on files of every link type it prints, damaged
files, and the printing options."""
import os
import struct
import subprocess
import sys

import pytest

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, Dot1Q, Ether
from scapy.layers.dns import DNS, DNSQR
from scapy.packet import Raw
from conftest import mapped_bytes

MAC_A, MAC_B = "02:00:00:00:00:01", "02:00:00:00:00:02"


def _ip_packets() -> list[bytes]:
    """IP packets of the kinds the printer has lines for."""
    syn = IP(src="10.0.0.1", dst="10.0.0.2", id=7, flags="DF") / TCP(
        sport=40000, dport=80, flags="S", seq=1000, options=[("MSS", 1460), ("SAckOK", b""),
                                                            ("Timestamp", (1, 0)),
                                                            ("WScale", 7)])
    data = IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=80, dport=40000, flags="PA",
                                                   seq=5000, ack=1001) / Raw(b"HTTP/1.1 200 OK\r\n")
    dns = IP(src="10.0.0.1", dst="10.0.0.53") / UDP(sport=5353, dport=53) / DNS(
        rd=1, qd=DNSQR(qname="example.com"))
    ping = IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(id=3, seq=4) / Raw(b"x" * 24)
    fragment = IP(src="10.0.0.1", dst="10.0.0.2", frag=100, proto=17) / Raw(b"f" * 40)
    six = IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=1000, dport=2000) / Raw(b"v6")
    echo6 = IPv6(src="fd00::1", dst="fd00::2") / ICMPv6EchoRequest(id=1, seq=2)
    return [bytes(p) for p in (syn, data, dns, ping, fragment, six, echo6)]


def _ethernet_frames() -> list[bytes]:
    frames = [bytes(Ether(src=MAC_A, dst=MAC_B) / IP(p)) if p[0] >> 4 == 4
              else bytes(Ether(src=MAC_A, dst=MAC_B) / IPv6(p)) for p in _ip_packets()]
    frames.append(bytes(Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") / ARP(
        hwsrc=MAC_A, psrc="10.0.0.1", pdst="10.0.0.2")))
    frames.append(bytes(Ether(src=MAC_A, dst=MAC_B) / Dot1Q(vlan=42) / IP(
        src="10.0.0.1", dst="10.0.0.2") / UDP(sport=9, dport=9) / Raw(b"vlan")))
    frames.append(bytes(Ether(src=MAC_A, dst=MAC_B, type=0x88B5) / Raw(bytes(range(50)))))
    return frames


def _record(ts_ns: int, packet: bytes, order: str, nano: bool, caplen: int | None = None,
            wirelen: int | None = None) -> bytes:
    sec, frac = divmod(ts_ns, 1_000_000_000)
    frac = frac if nano else frac // 1000
    caplen = len(packet) if caplen is None else caplen
    return struct.pack(order + "IIII", sec, frac, caplen,
                       len(packet) if wirelen is None else wirelen) + packet


def _pcap(packets, linktype: int = 1, *, order: str = "<", nano: bool = False,
          snaplen: int = 262144, start_ns: int = 1_700_000_000_123_456_789,
          step_ns: int = 1_234_567) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    head = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)
    return head + b"".join(_record(start_ns + i * step_ns, p, order, nano)
                           for i, p in enumerate(packets))


def _files() -> dict[str, bytes]:
    eth = _ethernet_frames()
    ip = _ip_packets()
    v4 = [p for p in ip if p[0] >> 4 == 4]
    sll = [struct.pack(">HHH8sH", 0, 1, 6, bytes.fromhex("020000000001") + b"\0\0",
                       0x0800 if p[0] >> 4 == 4 else 0x86DD) + p for p in ip]
    sll2 = [struct.pack(">HHIHBB8s", 0x0800 if p[0] >> 4 == 4 else 0x86DD, 0, 1, 1, 0, 6,
                        bytes.fromhex("020000000001") + b"\0\0") + p for p in ip]
    null = [struct.pack("<I", 2 if p[0] >> 4 == 4 else 24) + p for p in ip]
    loop = [struct.pack(">I", 2 if p[0] >> 4 == 4 else 24) + p for p in ip]
    good = _pcap(eth)
    third = 24 + sum(16 + len(f) for f in eth[:3])          # where the 4th record starts
    files = {
        "en10mb": good,
        "en10mb-big-endian-ns": _pcap(eth, order=">", nano=True),
        "en10mb-fcs-bits-snaplen-0": _pcap(eth, 0x10000001, snaplen=0),
        "raw": _pcap(ip, 101),
        "raw-12": _pcap(ip, 12),
        "ipv4": _pcap(v4, 228),
        "linux-sll": _pcap(sll, 113),
        "linux-sll2": _pcap(sll2, 276),
        "linux-sll2-interfaces": _pcap([p[:4] + struct.pack(">I", index) + p[8:] for index in
                                        (1, 0, 7, 99999, 1, 7) for p in sll2], 276),
        "null": _pcap(null, 0),
        "null-big-endian": _pcap([struct.pack(">I", 2) + p for p in v4], 0, order=">"),
        "loop": _pcap(loop, 108),
        "unprintable-link-type": _pcap(eth, 147),
        "cut-mid-record": good[:-7],
        "cut-mid-header": good + _record(0, eth[0], "<", False)[:10],
        "bad-caplen": good[:third] + struct.pack("<IIII", 1, 0, 300_000, 300_000) + good[third:],
        "huge-caplen": good[:third] + struct.pack("<IIII", 1, 0, 0xFFFFFFFF, 60) + good[third:],
        "caplen-past-the-end": good + struct.pack("<IIII", 1, 0, 2000, 2000) + eth[0],
        "zero-length-record": good[:third] + struct.pack("<IIII", 1, 0, 0, 0) + good[third:],
        "snaplen-cut": _pcap([f[:40] for f in eth], snaplen=40)[:24] + b"".join(
            _record(i * 1000, f[:40], "<", False, wirelen=len(f)) for i, f in enumerate(eth)),
        "header-only": good[:24],
        "short-header": good[:20],
        "empty": b"",
        "not-a-capture": b"hello, this is not a capture file at all",
    }
    return files


OPTION_SETS = [
    [], ["-e"], ["-v"], ["-vv", "-K"], ["-q"], ["-x"], ["-XX"], ["-A"], ["-S", "-tt"],
    ["-tttt", "--nano"], ["-ttt", "-#"], ["-ttttt"], ["-t", "-c", "3"], ["-l"],
    ["tcp"], ["-c", "2", "udp or arp"], ["-e", "-c", "1", "not icmp"], ["ip6"],
    ["icmp and tcp"], ["-c", "0"], ["tcp port"], ["ether host 02:00:00:00:00:01"],
]


def _run(path, options, batches: bool, env=None, cwd="/"):
    env = dict(env or os.environ)
    env.pop("RINGCAP_READ_BATCHES", None)
    if batches:
        env["RINGCAP_READ_BATCHES"] = "1"
    proc = subprocess.run([sys.executable, "-m", "ringcap", "-nn", "-r", str(path), *options],
                          capture_output=True, cwd=cwd, env=env, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


FILES = _files()


@pytest.mark.parametrize("name", sorted(FILES))
def test_printing_a_file_without_batches_prints_what_batches_print(tmp_path, name):
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(FILES[name])
    env = {**os.environ, "TZ": "America/New_York"}
    for options in OPTION_SETS:
        lean = _run(path, options, False, env)
        batches = _run(path, options, True, env)
        assert lean == batches, (name, options, lean[2][-1500:], batches[2][-1500:])
    assert b"reading from file" in lean[2] or lean[0] != 0


@pytest.mark.parametrize("name", ["en10mb", "cut-mid-record", "bad-caplen", "linux-sll2",
                                  "not-a-capture"])
def test_standard_input_redirected_from_a_file(tmp_path, name):
    """`ringcap -r - < FILE`: the same on both paths (messages name "-"); a
    pipe is refused by both in the same words."""
    path = tmp_path / "in.pcap"
    path.write_bytes(FILES[name])
    results = []
    for batches in (False, True):
        env = {name: value for name, value in os.environ.items()
               if name != "RINGCAP_READ_BATCHES"}
        if batches:
            env["RINGCAP_READ_BATCHES"] = "1"
        for options in ([], ["-e", "-c", "4", "ip or arp"]):
            with open(path, "rb") as stdin:
                proc = subprocess.run([sys.executable, "-m", "ringcap", "-nn", "-r", "-",
                                       *options], stdin=stdin, capture_output=True, cwd="/",
                                      env=env, timeout=300)
            results.append((proc.returncode, proc.stdout, proc.stderr))
        piped = subprocess.run([sys.executable, "-m", "ringcap", "-nn", "-r", "-"],
                               input=FILES[name], capture_output=True, cwd="/", env=env,
                               timeout=300)
        results.append((piped.returncode, piped.stdout, piped.stderr))
    assert results[:3] == results[3:]
    assert b"standard input is not a file" in results[2][2]
    assert name == "not-a-capture" or b"reading from file -, link-type" in results[0][2]


def test_the_lean_path_prints_the_good_files_with_ringcaps_own_lines(tmp_path):
    """The comparison above is between two paths of this code: here the lean
    one's lines are checked as they should read (an ARP, a DNS query, the
    damaged record's warning and status 1), with no numpy loaded."""
    path = tmp_path / "cut.pcap"
    path.write_bytes(FILES["cut-mid-record"])
    hook = ("import atexit, runpy, sys\n"
            "atexit.register(lambda: print('NUMPY', 'numpy' in sys.modules, file=sys.stderr))\n"
            "sys.argv[0] = 'ringcap'\n"
            "runpy.run_module('ringcap', run_name='__main__', alter_sys=True)\n")
    proc = subprocess.run([sys.executable, "-c", hook, "-nn", "-tt", "-r", str(path)],
                          capture_output=True, text=True, cwd="/", timeout=300)
    lines = proc.stdout.splitlines()
    assert proc.returncode == 1, proc.stderr
    assert lines[2] == ("1700000000.125925 IP 10.0.0.1.5353 > 10.0.0.53.53: 0+ A? "
                        "example.com. (29)")
    assert lines[7].endswith("ARP, Request who-has 10.0.0.2 tell 10.0.0.1, length 28")
    assert len(lines) == 9                     # the last (unknown ethertype) was cut
    assert "9 packets read" in proc.stderr
    assert "ringcap: warning: " in proc.stderr and "partial record at byte offset" in proc.stderr
    assert "NUMPY False" in proc.stderr


def test_a_file_across_a_daylight_saving_switch(tmp_path):
    """Local times per packet where the UTC offset changes inside a chunk."""
    eth = _ethernet_frames()
    # Europe/Berlin went from +1 to +2 at 2026-03-29 01:00 UTC
    start = 1_774_745_400 * 1_000_000_000 - 1800 * 1_000_000_000
    path = tmp_path / "dst.pcap"
    path.write_bytes(_pcap(eth * 40, start_ns=start, step_ns=10 * 1_000_000_000))
    env = {**os.environ, "TZ": "Europe/Berlin"}
    for options in ([], ["-tttt"], ["-c", "5", "udp"]):
        lean = _run(path, options, False, env)
        assert lean == _run(path, options, True, env), options
    assert b" 02:59:" in lean[1] or b"01:" in lean[1]


def test_a_large_file_read_in_many_windows(tmp_path):
    """40 MB of 1400-byte frames (windows of the file of 16 MiB, records across
    their ends), cut inside its last record: the same lines, counts, -c cut and
    warning; and a broken pipe after the first line (`| head -1`): status 14."""
    frame = _ethernet_frames()[1][:54] + bytes(1346)
    frame = frame[:16] + struct.pack(">H", len(frame) - 14) + frame[18:]
    n = 29_000
    data = _pcap([frame] * n)
    path = tmp_path / "large.pcap"
    path.write_bytes(data[:-100])
    for options in ([], ["-c", str(n - 2)], ["-c", str(n - 1), "tcp"], ["-c", "20000", "-x"]):
        lean = _run(path, options, False)
        assert lean == _run(path, options, True), (options, lean[2][-1000:])
    assert lean[1].count(b"\n") > 20000
    for batches in (False, True):
        env = dict(os.environ)
        env.pop("RINGCAP_READ_BATCHES", None)
        if batches:
            env["RINGCAP_READ_BATCHES"] = "1"
        proc = subprocess.Popen([sys.executable, "-m", "ringcap", "-nn", "-r", str(path)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd="/", env=env)
        first = proc.stdout.readline()
        proc.stdout.close()
        err = proc.stderr.read()
        proc.stderr.close()
        result = (first, proc.wait(timeout=300), err)
        if batches:
            assert result == lean_pipe, (result, lean_pipe)
        lean_pipe = result
    read = int(lean_pipe[2].splitlines()[-2].split()[0])      # "N packets read"
    assert lean_pipe[1] == 14 and 0 < read < n        # tcpdump's status and words
    assert lean_pipe[2].endswith(b"\nringcap: Unable to write output: Broken pipe\n")


SHRINK_SCRIPT = r"""
import os, shutil, sys, warnings
from array import array
from ringcap.cli import fileprint
from ringcap.pcapfile.reader import open_pcap
lean = sys.argv[1] == "lean"
shutil.copy("full.pcap", "big.pcap")
seen = 0
with warnings.catch_warnings(record=True) as warned:
    warnings.simplefilter("always")
    if lean:
        source = fileprint.open_plain_pcap("big.pcap")
        chunks = fileprint._Chunks(source)
        while True:
            n = chunks.next(100)
            if n == 0:
                break
            seen += n
            if seen == 100:
                os.truncate("big.pcap", int(sys.argv[2]))
        chunks.release()
        source.close()
    else:
        with open_pcap("big.pcap", batch_packets=100) as reader:
            for batch in reader:
                seen += len(batch)
                if seen == 100:
                    os.truncate("big.pcap", int(sys.argv[2]))
for w in warned:
    print("PROBLEM", type(w.message).__name__, w.message.offset, w.message)
print("SEEN", seen)
"""


@pytest.mark.parametrize("cut", [24 + 76 * 150 + 30, 4096 * 3])
def test_a_file_cut_while_printed_says_so_as_the_reader_does(tmp_path, cut):
    """Another program truncates the file being read (inside a record, or at
    a page boundary, whose pages then read as zeros under the map's guard):
    the lean walk stops at the same record with the reader's warning."""
    frames = [struct.pack(">I", i) + bytes(56) for i in range(5000)]
    (tmp_path / "full.pcap").write_bytes(_pcap(frames))
    out = {}
    for mode in ("lean", "reader"):
        proc = subprocess.run([sys.executable, "-c", SHRINK_SCRIPT, mode, str(cut)],
                              capture_output=True, text=True, cwd=tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr[-2000:]
        out[mode] = proc.stdout
    assert out["lean"] == out["reader"]
    record = (cut - 24) // 76
    assert f"SEEN {record}" in out["lean"]
    assert (f"PROBLEM PcapTruncatedWarning {24 + 76 * record} big.pcap: the file shrank while "
            f"being read: it had {24 + 76 * 5000} bytes when opened") in out["lean"]


def _walk(path, want: int, each=None) -> list[tuple]:
    """Every record of ``path`` as _Chunks gives them: (ts, caplen, wirelen, packet)."""
    from ringcap.cli import fileprint
    source = fileprint.open_plain_pcap(str(path))
    chunks = fileprint._Chunks(source)
    records = []
    try:
        while (n := chunks.next(want)) > 0:
            data = chunks.data
            for i in range(n):
                at = chunks.offset[i]
                records.append((chunks.ts[i], chunks.caplen[i], chunks.wirelen[i],
                                bytes(data[at:at + chunks.caplen[i]])))
            if each is not None:
                each()
    finally:
        chunks.release()
        source.close()
    return records


def test_the_walk_holds_the_pages_of_a_few_chunks_of_a_large_file(tmp_path):
    """The lean walk maps the file once and unmaps what it has left behind:
    no more than the unmapping step and a chunk or two of a 40 MB file are
    mapped at any time (16 MiB windows held up to 16 MiB)."""
    frame = _ethernet_frames()[1][:54] + bytes(1346)
    path = tmp_path / "large.pcap"
    path.write_bytes(_pcap([frame] * 29_000))
    mapped = []
    records = _walk(path, 1000, lambda: mapped.append(mapped_bytes(path)))
    assert len(records) == 29_000 and records[-1][3] == frame
    assert len(mapped) == 29 and min(mapped) > 0
    assert max(mapped) <= 8 << 20, mapped


def test_records_across_the_ends_of_windows_are_read_whole(tmp_path, monkeypatch):
    """Files bigger than one map (1 TiB) are walked in windows; a chunk that runs
    past a window's end is parsed again in a larger window: windows of 64 KiB
    over records of every size give the records a single map gives."""
    from ringcap.cli import fileprint
    frames = [frame[:14] + bytes(range(256)) * (k % 7) for k, frame in
              enumerate(_ethernet_frames() * 40)]
    path = tmp_path / "sizes.pcap"
    path.write_bytes(_pcap(frames))
    whole = _walk(path, 64)
    assert [r[3] for r in whole] == frames
    monkeypatch.setattr(fileprint, "_MAP_MOST", 64 << 10)
    monkeypatch.setattr(fileprint, "_DROP_EVERY", 4096)
    assert _walk(path, 64) == whole
    assert _walk(path, 7) == whole
