"""`ringcap stats [--json] FILE` of a classic pcap file reads it without
batches (ringcap/cli/filestats.py, no numpy): its standard output, standard
error and exit status must be, byte for byte, those of the batch path
(``RINGCAP_READ_BATCHES=1``), on files of every link type it decodes, names
(DNS, TLS, HTTP), conversations with ties, times that go back or span
years, damaged files, and the report's options."""
import os
import ssl
import struct
import subprocess
import sys

import pytest

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Dot1Q, Ether
from scapy.packet import Raw

from test_app_decode import client_hello
from test_cli_read_lean import FILES as READ_FILES
from test_cli_read_lean import MAC_A, MAC_B, _ethernet_frames, _pcap, _record


def _named_frames() -> list[bytes]:
    """Frames whose names the report counts, and some it must not count."""
    eth = Ether(src=MAC_A, dst=MAC_B)
    v4 = IP(src="10.0.0.1", dst="10.0.0.9")
    v6 = IPv6(src="fd00::1", dst="fd00::9")
    http = b"GET / HTTP/1.1\r\nHost: Web.Example:8080\r\nUser-Agent: t\r\n\r\n"
    frames = [
        eth / v4 / TCP(sport=40001, dport=443, flags="PA") / Raw(
            client_hello(ssl.TLSVersion.TLSv1_3, "Shop.Example")),
        eth / v6 / TCP(sport=40002, dport=443, flags="PA") / Raw(
            client_hello(ssl.TLSVersion.TLSv1_2, "shop.example")),
        eth / v4 / TCP(sport=40003, dport=80, flags="PA") / Raw(http),
        eth / v6 / TCP(sport=40004, dport=8080, flags="PA") / Raw(
            b"GET /x HTTP/1.1\r\nHost: [fd00::9]:80\r\n\r\n"),
        eth / Dot1Q(vlan=5) / v4 / UDP(sport=5000, dport=53) / DNS(rd=1, qd=DNSQR(
            qname="a.example")),
        eth / v4 / UDP(sport=53, dport=5000) / DNS(qr=1, qd=DNSQR(qname="answer.example"),
                                                   an=DNSRR(rrname="answer.example",
                                                            rdata="10.1.1.1")),
        eth / v6 / UDP(sport=5001, dport=53) / DNS(rd=1, qd=DNSQR(qname="b.example")),
        eth / v4 / UDP(sport=5002, dport=53) / DNS(rd=1, qd=DNSQR(qname="a.example")),
    ]
    return [bytes(f) for f in frames]


def _conversations() -> list[bytes]:
    """Many address pairs, equal totals among them (the order's ties), and
    IPv6 addresses that print through ipaddress (a zero first 96 bits)."""
    eth = Ether(src=MAC_A, dst=MAC_B)
    frames = []
    for i in range(40):
        frames.append(bytes(eth / IP(src=f"10.1.{i % 7}.{i % 5 + 1}", dst=f"10.2.0.{i % 3 + 1}")
                            / UDP(sport=1000 + i, dport=9) / Raw(bytes(10 * (i % 4)))))
    for src, dst in (("::10.0.0.1", "::1"), ("::", "fe80::1"), ("2001:db8::1", "::ffff:0:1")):
        frames.append(bytes(eth / IPv6(src=src, dst=dst) / UDP(sport=1, dport=2) / Raw(b"x")))
    return frames


def _times(packets, stamps, **head) -> bytes:
    """A pcap file of ``packets`` at the times ``stamps`` (ns)."""
    return _pcap([])[:24] if not packets else _pcap(packets[:1], **head)[:24] + b"".join(
        _record(ts, p, "<", False) for ts, p in zip(stamps, packets))


def _files() -> dict[str, bytes]:
    eth = _ethernet_frames()
    named = _named_frames()
    pairs = _conversations()
    back = [1_700_000_000_000_000_000 + step * 1_000_000 for step in (0, 5, 3, 9, 9, 1, 20)] * 3
    files = {name: data for name, data in READ_FILES.items()}
    files.update({
        "names": _pcap(named * 3 + eth, step_ns=300_000_000),
        "names-big-endian-ns": _pcap(named + eth, order=">", nano=True),
        "conversations": _pcap(pairs * 2, step_ns=7_000_000),
        "time-goes-back": _times((eth * 3)[:len(back)], back),
        "spans-years": _times(eth, [1_000_000_000 * 86400 * 365 * k + 17 for k in
                                    range(len(eth))]),
    })
    return files


OPTION_SETS = [
    [], ["--json"], ["--top", "1", "--interval", "0.001"],
    ["--top", "0", "--json", "--interval", "1e-9"], ["-f", "tcp or udp port 53"],
    ["--json", "-f", "ip6", "--top", "2"], ["-f", "tcp port"],
]


def _run(path, options, batches: bool):
    env = dict(os.environ)
    env.pop("RINGCAP_READ_BATCHES", None)
    if batches:
        env["RINGCAP_READ_BATCHES"] = "1"
    proc = subprocess.run([sys.executable, "-m", "ringcap", "stats", *options, str(path)],
                          capture_output=True, cwd="/", env=env, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


FILES = _files()


@pytest.mark.parametrize("name", sorted(FILES))
def test_statistics_of_a_file_without_batches_are_those_of_batches(tmp_path, name):
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(FILES[name])
    for options in OPTION_SETS:
        lean = _run(path, options, False)
        batches = _run(path, options, True)
        assert lean == batches, (name, options, lean[2][-1500:], batches[2][-1500:])
    assert b"Number of packets" in _run(path, [], False)[1] or lean[0] != 0


def test_the_lean_report_counts_what_the_files_hold(tmp_path):
    """The comparison above is between two paths of this code: here the lean
    one's report is checked as it should read (names counted as messages,
    HTTP hosts as server names, DNS answers not counted; conversations in
    their order; a cut record's warning and status 1), with no numpy loaded."""
    import json
    path = tmp_path / "names.pcap"
    path.write_bytes(FILES["names"][:-5])
    hook = ("import atexit, runpy, sys\n"
            "atexit.register(lambda: print('NUMPY', 'numpy' in sys.modules, file=sys.stderr))\n"
            "sys.argv[0] = 'ringcap'\n"
            "runpy.run_module('ringcap', run_name='__main__', alter_sys=True)\n")
    proc = subprocess.run([sys.executable, "-c", hook, "stats", "--json", str(path)],
                          capture_output=True, text=True, cwd="/", timeout=300)
    assert proc.returncode == 1, proc.stderr
    assert "NUMPY False" in proc.stderr and "partial record at byte offset" in proc.stderr
    report = json.loads(proc.stdout)
    assert report["summary"]["packets"] == 3 * len(_named_frames()) + len(_ethernet_frames()) - 1
    names = {kind: {row["name"]: row["count"] for row in rows}
             for kind, rows in report["names"].items()}
    assert names == {"tls_sni": {"shop.example": 6},          # (ssl sends it lower-cased)
                     "http_host": {"web.example": 3, "[fd00::9]": 3},
                     "dns_query": {"a.example": 6, "b.example": 3, "example.com": 1}}
    first = report["conversations"][0]
    assert (first["a"], first["b"]) == ("10.0.0.1", "10.0.0.9")


def test_a_large_file_read_in_many_windows(tmp_path):
    """18 MB of 1400-byte frames (windows of 16 MiB, records across their
    ends) cut inside its last record, with and without a filter."""
    frame = _ethernet_frames()[1][:54] + bytes(1346)
    frame = frame[:16] + struct.pack(">H", len(frame) - 14) + frame[18:]
    data = _pcap([frame] * 13_000 + _named_frames(), step_ns=77_000)
    path = tmp_path / "large.pcap"
    path.write_bytes(data[:-100])
    for options in ([], ["--json", "-f", "tcp", "--interval", "0.01"]):
        lean = _run(path, options, False)
        assert lean == _run(path, options, True), (options, lean[2][-1000:])
    assert lean[0] == 1 and b"partial record" in lean[2] and b'"packets": 13004,' in lean[1]


def test_standard_input_is_refused_in_the_same_words(tmp_path):
    """`ringcap stats - < FILE`: both paths say that a capture is not read from
    standard input (the lean one had read it, then failed to find a file "-")."""
    path = tmp_path / "in.pcap"
    path.write_bytes(FILES["names"])
    results = []
    for batches in (False, True):
        env = {k: v for k, v in os.environ.items() if k != "RINGCAP_READ_BATCHES"}
        if batches:
            env["RINGCAP_READ_BATCHES"] = "1"
        with open(path, "rb") as stdin:
            proc = subprocess.run([sys.executable, "-m", "ringcap", "stats", "-"], stdin=stdin,
                                  capture_output=True, cwd="/", env=env, timeout=300)
        results.append((proc.returncode, proc.stdout, proc.stderr))
    assert results[0] == results[1]
    assert b"cannot read a capture from standard input" in results[0][2]


def test_a_count_too_large_is_not_called_negative(tmp_path):
    """`stats --top 99999999999999999999`: refused as too large (it said
    'must be positive'), as 0 is refused as not positive; status 2, both paths."""
    path = tmp_path / "in.pcap"
    path.write_bytes(FILES["names"])
    for top, reason in (("99999999999999999999", f"too large (at most {(1 << 62) - 1})"),
                        ("0", "must be positive")):
        for batches in (False, True):
            status, out, err = _run(path, ["--top", top], batches)
            assert (status, out) == (2, b""), err
            assert err.decode() == (f"ringcap: argument --top: bad --top '{top}': {reason} "
                                    "(see `ringcap stats --help`)\n")


def test_packet_times_and_json_read_as_datetime_and_json_dump_write_them(tmp_path):
    """The text report's first and last packet times (formatted with time.gmtime,
    without importing datetime) are datetime's UTC text to the nanosecond, up to
    2106; the JSON report, written in one piece, is json.dump's text."""
    import datetime
    import json
    stamps = [0, 1_700_000_000_123_456_789, 4_294_967_295_999_999_999]
    path = tmp_path / "times.pcap"
    path.write_bytes(_pcap([], nano=True) + b"".join(_record(ts, _ethernet_frames()[0], "<", True) for ts in stamps))
    status, out, err = _run(path, [], False)
    assert status == 0, err
    lines = dict(line.split(":", 1) for line in out.decode().splitlines() if ":" in line)

    def when(ts):
        t = datetime.datetime.fromtimestamp(ts // 10**9, datetime.timezone.utc)
        return t.strftime("%Y-%m-%d %H:%M:%S") + f".{ts % 10**9:09d} UTC"
    assert lines["First packet time"].strip() == when(stamps[0]) \
        == "1970-01-01 00:00:00.000000000 UTC"
    assert lines["Last packet time"].strip() == when(stamps[-1]) \
        == "2106-02-07 06:28:15.999999999 UTC"
    status, out, err = _run(path, ["--json"], False)
    assert status == 0 and out == (json.dumps(json.loads(out), indent=1) + "\n").encode(), err
