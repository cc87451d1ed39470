"""Application columns (DNS, HTTP/1.x, DHCPv4, NTP, TLS) against tshark, on traffic real programs made.

One module-scoped recording in the session's private namespace: tcpdump -w on
lo while dig asks a local dnsmasq (UDP and TCP, A, AAAA, NXDOMAIN, a refused
name, mixed case), curl fetches from Python's http.server (HTTP/1.1, a 404, a
POST) and from ``openssl s_server`` over TLS 1.2 and 1.3 with SNI and ALPN,
and a scapy-built NTP and DHCP exchange goes through real UDP sockets.  Every
application column is compared, packet by packet, with tshark's field
(``-o tcp.desegment_tcp_streams:FALSE``: tshark too reads each segment
alone).  scapy-built DNS edge cases (compression pointers, pointer loops,
255-octet names, every truncation) and a fuzz test over mutated real messages
check the bounds: never an exception, never a value that depends on bytes
past ``caplen``.

dnsmasq and dig come from .ci/apt-packages (dnsmasq, bind9-dnsutils).
"""
from __future__ import annotations

import ipaddress
import os
import random
import re
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.layers.ntp import NTP
from scapy.packet import Raw
from scapy.utils import wrpcap

import ringcap
from ringcap import Batch, _app, decode, read_pcap
from ringcap.appcolumns import APP_COLUMNS, APP_PROTOCOLS, STRING_COLUMNS, StringColumn
from ringcap.headers import APP_MALFORMED, APP_TRUNCATED, flag_names

from conftest import DEADLINE, package_root, wait_until
import test_tls_hello
from test_tls_hello import RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL

ALL_APP = tuple(APP_COLUMNS)
TOOLS = ("tcpdump", "tshark", "dnsmasq", "dig", "curl", "openssl")

# Column -> tshark field (first occurrence).  docs/decode.md has the same table.
TSHARK_FIELDS = {
    "dns_id": "dns.id", "dns_qr": "dns.flags.response", "dns_opcode": "dns.flags.opcode",
    "dns_rcode": "dns.flags.rcode", "dns_qname": "dns.qry.name", "dns_qtype": "dns.qry.type",
    "dns_ancount": "dns.count.answers", "dns_a": "dns.a", "dns_aaaa": "dns.aaaa",
    "http_method": "http.request.method", "http_host": "http.host",
    "http_path": "http.request.uri", "http_user_agent": "http.user_agent",
    "http_status": "http.response.code",
    "dhcp_msg_type": "dhcp.option.dhcp", "dhcp_client_mac": "dhcp.hw.mac_addr",
    "dhcp_hostname": "dhcp.option.hostname",
    "dhcp_requested_ip": "dhcp.option.requested_ip_address",
    "ntp_version": "ntp.flags.vn", "ntp_mode": "ntp.flags.mode", "ntp_stratum": "ntp.stratum",
    "tls_handshake": "tls.handshake.type", "tls_sni": "tls.handshake.extensions_server_name",
    "tls_alpn": "tls.handshake.extensions_alpn_str",
    "tls_supported_version": "tls.handshake.extensions.supported_version",
    "tls_legacy_version": "tls.handshake.version",
    "tls_cipher": "tls.handshake.ciphersuite",
}


def tshark_fields(pcap, fields: dict[str, str], extra=()) -> list[dict[str, str]]:
    """One dict per frame: our name -> tshark's first value ('' when absent)."""
    names = list(fields)
    cmd = ["tshark", "-r", str(pcap), "-n", "-o", "tcp.desegment_tcp_streams:FALSE",
           "-d", "tcp.port==8443,tls", "-T", "fields", "-E", "separator=\t",
           "-E", "occurrence=f", *extra]
    for name in names:
        cmd += ["-e", fields[name]]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.split("\n")[:-1]:
        rows.append(dict(zip(names, line.split("\t"))))
    return rows


def as_int(text: str) -> int:
    if text in ("True", "False"):
        return int(text == "True")
    return int(text, 0) if text else 0



def test_repeated_fields_trimmed_values_and_odd_request_lines_as_documented_against_tshark(
        tmp_path):
    """docs/decode.md's rules where a message repeats a field or bends the format,
    checked against tshark's first occurrence: first question, first Host, first
    host_name SNI (other name types skipped), values trimmed of surrounding spaces
    and tabs (tshark keeps the trailing ones), folded lines left out, absolute URIs
    in http_path with no Host guessed, an empty server_name extension malformed."""
    eth_ip = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1",
                                                                          dst="10.0.0.2")

    def http(port, text):
        return eth_ip / TCP(sport=port, dport=80, flags="PA", seq=1) / Raw(text)

    def hello(port, *extensions):
        return eth_ip / TCP(sport=port, dport=443, flags="PA", seq=1) / Raw(
            test_tls_hello.record(test_tls_hello.client_hello([0x1301], list(extensions))))

    def snis(*entries):
        listed = b"".join(bytes([kind]) + len(name).to_bytes(2, "big") + name
                          for kind, name in entries)
        return test_tls_hello.ext(0, len(listed).to_bytes(2, "big") + listed)

    frames = [
        eth_ip / UDP(sport=3000, dport=53) / DNS(id=1, qd=[DNSQR(qname="First.example"),
                                                         DNSQR(qname="second.example")]),
        http(4000, b"GET / HTTP/1.1\r\nHost: one.example\r\nHost: two.example\r\n\r\n"),
        http(4001, b"GET / HTTP/1.1\r\nhOsT:\t trim.example \t\r\nUser-Agent:  ua/1  \r\n\r\n"),
        http(4002, b"GET / HTTP/1.1\r\nHost: f.example\r\nUser-Agent: a/1\r\n (more)\r\n\r\n"),
        http(4003, b"GET http://abs.example/p?q=1 HTTP/1.0\r\n\r\n"),
        hello(4004, snis((0, b"one.example"), (0, b"two.example"))),
        hello(4005, snis((1, b"not-a-host"), (0, b"host.example"))),
        hello(4006, test_tls_hello.ext(0, b"")),
    ]
    pcap = tmp_path / "repeated.pcap"
    wrpcap(str(pcap), frames)
    fields = {"dns_qname": "dns.qry.name", "http_host": "http.host",
              "http_path": "http.request.uri", "http_user_agent": "http.user_agent",
              "tls_sni": "tls.handshake.extensions_server_name"}
    shark = tshark_fields(pcap, fields)
    h = decode(read_pcap(pcap), columns=tuple(fields) + ("app_proto",))
    assert [h.dns_qname[0], shark[0]["dns_qname"]] == ["first.example", "First.example"]
    assert [h.http_host[1], shark[1]["http_host"]] == ["one.example", "one.example"]
    assert [h.http_host[2], h.http_user_agent[2]] == ["trim.example", "ua/1"]
    # (tshark's field output writes the tab as "\\t")
    assert [shark[2]["http_host"], shark[2]["http_user_agent"]] == ["trim.example \\t", "ua/1  "]
    assert h.http_user_agent[3] == shark[3]["http_user_agent"] == "a/1"
    assert h.http_path[4] == shark[4]["http_path"] == "http://abs.example/p?q=1"
    assert h.http_host[4] == shark[4]["http_host"] == ""
    assert h.tls_sni[5] == shark[5]["tls_sni"] == "one.example"
    assert [h.tls_sni[6], shark[6]["tls_sni"]] == ["host.example", "not-a-host"]
    assert h.tls_sni[7] == "" and h.flags[7] & APP_MALFORMED
    assert not np.any(h.flags[:7] & APP_MALFORMED)



def test_http_request_target_is_read_without_doubled_spaces(tmp_path):
    """A request line with doubled spaces around its target (some clients write
    them; servers such as nginx accept them) gives the target itself, not a
    path starting or ending with a space; method and Host as tshark reads them."""
    eth_ip = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1",
                                                                          dst="10.0.0.2")
    lines = [b"GET  /two HTTP/1.1", b"GET /before   HTTP/1.1", b"GET   HTTP/1.1"]
    frames = [eth_ip / TCP(sport=4100 + k, dport=80, flags="PA", seq=1)
              / Raw(line + b"\r\nHost: h.example\r\n\r\n") for k, line in enumerate(lines)]
    pcap = tmp_path / "spaces.pcap"
    wrpcap(str(pcap), frames)
    shark = tshark_fields(pcap, {"http_method": "http.request.method", "http_host": "http.host"})
    h = decode(read_pcap(pcap), columns=("http_method", "http_path", "http_host"))
    assert list(h.http_path) == ["/two", "/before", ""]
    assert list(h.http_method) == [row["http_method"] for row in shark] == ["GET"] * 3
    assert list(h.http_host) == [row["http_host"] for row in shark] == ["h.example"] * 3



def test_dhcp_hostname_ending_in_nuls_is_the_name_tshark_shows(tmp_path):
    """Some DHCP clients end option 12 with a NUL (RFC 2132 says they should not);
    the column holds the name, as tshark shows it, not ``name\\x00``."""
    frames = [Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff")
              / IP(src="0.0.0.0", dst="255.255.255.255") / UDP(sport=68, dport=67)
              / BOOTP(op=1, chaddr=bytes.fromhex("020000000001"))
              / DHCP(options=[("message-type", "request"), ("hostname", name), "end"])
              for name in (b"laptop-7\x00", b"phone\x00\x00", b"plain")]
    pcap = tmp_path / "dhcp.pcap"
    wrpcap(str(pcap), frames)
    shark = tshark_fields(pcap, {"dhcp_hostname": "dhcp.option.hostname"})
    h = decode(read_pcap(pcap), columns=("dhcp_hostname", "dhcp_msg_type"))
    assert list(h.dhcp_hostname) == [row["dhcp_hostname"] for row in shark] \
        == ["laptop-7", "phone", "plain"]
    assert h.dhcp_msg_type.tolist() == [3, 3, 3]



def test_client_hello_over_two_segments_gives_what_the_first_holds_and_no_guessed_version(
        tmp_path):
    """A ClientHello with a post-quantum key share (X25519MLKEM768, 1216 bytes, as
    Chrome and Firefox send by default) spans two TCP segments.  Nothing is
    reassembled: the first segment gives the SNI when it lies there, APP_TRUNCATED,
    no JA4 (it needs every extension) and tls_version 0, not the legacy 0x0303 that
    a supported_versions in the second segment would overrule (tshark, reassembling,
    reads TLS 1.3)."""
    key_share = test_tls_hello.ext(51, struct.pack("!HHH", 1256, 0x11EC, 1216) + bytes(1216)
                                   + struct.pack("!HH", 0x1D, 32) + bytes(32))
    padding = test_tls_hello.ext(21, bytes(300))
    versions = test_tls_hello.versions_ext(0x0304, 0x0303)
    eth_ip = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1",
                                                                          dst="10.0.0.2")
    frames = []
    for port, extensions in ((4300, [test_tls_hello.sni_ext(b"early.example"), key_share,
                                     padding, versions]),
                             (4301, [key_share, padding, versions,
                                     test_tls_hello.sni_ext(b"late.example")])):
        message = test_tls_hello.record(test_tls_hello.client_hello([0x1301], extensions))
        assert len(message) > 1448
        frames += [eth_ip / TCP(sport=port, dport=443, flags="PA", seq=1) / Raw(message[:1448]),
                   eth_ip / TCP(sport=port, dport=443, flags="PA", seq=1449)
                   / Raw(message[1448:])]
    pcap = tmp_path / "split-hello.pcap"
    wrpcap(str(pcap), frames)
    whole = subprocess.run(["tshark", "-r", str(pcap), "-n", "-T", "fields", "-e",
                            "tls.handshake.extensions.supported_version", "-E", "occurrence=f"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert whole == ["0x0304", "0x0304"]
    batch = read_pcap(pcap)
    h = decode(batch, columns=("tls_handshake", "tls_version", "tls_sni", "tls_ja4"))
    assert list(h.tls_sni) == ["early.example", "", "", ""]
    assert h.tls_handshake.tolist() == [1, 0, 1, 0]
    assert h.tls_version.tolist() == [0, 0, 0, 0]
    assert list(h.tls_ja4) == ["", "", "", ""]
    assert [bool(f & APP_TRUNCATED) for f in h.flags] == [True, False, True, False]
    records = ringcap.flow_features(batch)
    assert {int(port): name for port, name in zip(records.sport, records.server_name)} == {
        4300: "early.example", 4301: None}      # nfstream (nDPI reassembles) has late.example


# ---------------------------------------------------------------- recording
class Tcpdump:
    """tcpdump -w on an interface, started once it says it is listening."""

    def __init__(self, iface: str, path) -> None:
        self.path = path
        self.proc = subprocess.Popen(["tcpdump", "-i", iface, "-nn", "-U", "--immediate-mode",
                                      "-s", "0", "-w", str(path)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        try:
            wait_until(lambda: any("listening on" in line for line in self.lines) or
                       self.proc.poll() is not None, what="tcpdump to listen")
            assert self.proc.poll() is None, "tcpdump exited: " + "".join(self.lines)
        except BaseException:
            self.stop()
            raise

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line)

    def wait_for(self, expression: str) -> None:
        """Wait until the file holds a packet matching a filter (tcpdump -U writes each out)."""
        wait_until(lambda: subprocess.run(
            ["tcpdump", "-nn", "-r", str(self.path), "-c", "1", expression],
            capture_output=True, text=True).stdout.strip(), what=f"a packet of {expression!r}")

    def stop(self) -> None:
        """SIGINT, as a user stops it: it writes out what it holds and says what it captured."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(DEADLINE)
            self.reader.join(DEADLINE)
        finally:
            self.proc.stderr.close()
        assert any("packets captured" in line for line in self.lines), "".join(self.lines)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _run(*cmd: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DEADLINE)
    assert proc.returncode == 0, f"{cmd} failed: {proc.stderr[-2000:]}"
    return proc.stdout


def _dig(*args: str) -> str:
    return _run("dig", "@127.0.0.1", "+tries=1", "+time=10", *args)


def _udp_exchange(server_port: int, client_port: int, request: bytes, reply: bytes) -> None:
    """Send ``request`` from a socket on client_port to one on server_port, which answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        server.bind(("127.0.0.1", server_port))
        client.bind(("127.0.0.1", client_port))
        server.settimeout(DEADLINE)
        client.settimeout(DEADLINE)
        client.sendto(request, ("127.0.0.1", server_port))
        _, peer = server.recvfrom(65535)
        server.sendto(reply, peer)
        assert client.recvfrom(65535)[0] == reply


DHCP_MAC = "02:42:ac:11:00:07"


def _record(tmp) -> str:
    pcap = tmp / "app.pcap"
    servers = []
    dump = Tcpdump("lo", pcap)
    try:
        servers.append(subprocess.Popen(
            ["dnsmasq", "-k", "--conf-file=/dev/null", "--no-resolv", "--no-hosts",
             "--listen-address=127.0.0.1", "--bind-interfaces", "--port=53", "--user=root",
             "--pid-file=", "--address=/www.example.test/10.0.0.1",
             "--address=/v6.example.test/2001:db8::1", "--address=/nx.example.test/"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        (tmp / "www").mkdir()
        (tmp / "www" / "index.html").write_text("hello\n" * 50)
        servers.append(subprocess.Popen(
            [sys.executable, "-m", "http.server", "8080", "--bind", "127.0.0.1",
             "--directory", str(tmp / "www")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        _run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=tls.example.test",
             "-days", "2", "-keyout", str(tmp / "key.pem"), "-out", str(tmp / "cert.pem"))
        servers.append(subprocess.Popen(
            ["openssl", "s_server", "-accept", "127.0.0.1:8443", "-cert", str(tmp / "cert.pem"),
             "-key", str(tmp / "key.pem"), "-www", "-alpn", "http/1.1", "-quiet"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: _port_open(8080) and _port_open(8443), what="HTTP and TLS servers")
        wait_until(lambda: "10.0.0.1" in subprocess.run(
            ["dig", "@127.0.0.1", "+short", "+tries=1", "+time=1", "www.example.test"],
            capture_output=True, text=True).stdout, what="dnsmasq to answer")
        _dig("www.example.test", "A")
        _dig("v6.example.test", "AAAA")
        _dig("nx.example.test", "A")
        _dig("Mixed.Case.Example.TEST", "A")       # no upstream: REFUSED
        _dig("+tcp", "www.example.test", "A")
        _dig("+norecurse", "v6.example.test", "MX")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:   # a resolver of our own
            s.settimeout(DEADLINE)
            s.sendto(bytes(DNS(id=0x4242, rd=1, qd=DNSQR(qname="www.example.test", qtype="A"))),
                     ("127.0.0.1", 53))
            assert DNS(s.recv(4096)).an is not None
        _run("curl", "-s", "-o", "/dev/null", "-A", "ringcap-test/1.0 (app columns)",
             "http://127.0.0.1:8080/index.html?q=1&r=2")
        _run("curl", "-s", "-o", "/dev/null", "-H", "Host: Web.Example.Test:8080",
             "http://127.0.0.1:8080/missing/page")
        _run("curl", "-s", "-o", "/dev/null", "-d", "a=1", "http://127.0.0.1:8080/post")
        for version, name in (("--tlsv1.3", "tls13.example.test"), ("--tls-max", "tls12.example.test")):
            extra = ["--tlsv1.2", "--tls-max", "1.2"] if version == "--tls-max" else [version]
            _run("curl", "-s", "-k", "-o", "/dev/null", "--http1.1", *extra, "--resolve",
                 f"{name}:8443:127.0.0.1", f"https://{name}:8443/")
        _udp_exchange(123, 40123, bytes(NTP(version=4, mode=3)),
                      bytes(NTP(version=4, mode=4, stratum=2)))
        discover = BOOTP(op=1, chaddr=bytes.fromhex(DHCP_MAC.replace(":", "")) + b"\0" * 10,
                         xid=0x1234) / DHCP(options=[("message-type", "request"),
                                                     ("hostname", b"lab-host-7"),
                                                     ("requested_addr", "192.168.7.42"), "end"])
        offer = BOOTP(op=2, yiaddr="192.168.7.42", xid=0x1234) / DHCP(
            options=[("message-type", "ack"), ("server_id", "192.168.7.1"), "end"])
        _udp_exchange(67, 68, bytes(discover), bytes(offer))
        dump.wait_for("udp src port 67")            # the last packet sent
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(DEADLINE)
        dump.stop()
    return str(pcap)


@pytest.fixture(scope="module")
def recorded(netns, tmp_path_factory):
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the application tests need {missing}: apt-get install dnsmasq "
                    "bind9-dnsutils curl openssl tcpdump tshark (.ci/apt-packages)")
    return _record(tmp_path_factory.mktemp("app"))


# ---------------------------------------------------------------- the comparison
def _ours(h, name: str, i: int):
    column = h[name]
    if isinstance(column, StringColumn):
        return column[i]
    value = column[i]
    return value


def test_recorded_traffic_columns_equal_tshark_fields(recorded):
    batch = read_pcap(recorded)
    h = decode(batch, columns=("ip_proto", "sport", "dport") + ALL_APP)
    shark = tshark_fields(recorded, TSHARK_FIELDS)
    assert len(shark) == len(batch)
    proto = h.app_proto
    seen = {name: int(np.count_nonzero(proto == number)) for name, number in APP_PROTOCOLS.items()}
    # every kind of message was recorded and recognised
    assert seen["dns"] >= 14 and seen["http"] >= 6 and seen["tls"] >= 4, seen
    assert seen["ntp"] == 2 and seen["dhcp"] == 2, seen
    checked = 0
    for i, row in enumerate(shark):
        flags = int(h.flags[i])
        assert not flags & APP_MALFORMED, (i, flag_names(flags), row)
        what = f"frame {i + 1}: {row}"
        kind = int(proto[i])
        if row["dns_id"]:
            assert kind == APP_PROTOCOLS["dns"], what
            for name in ("dns_id", "dns_qr", "dns_opcode", "dns_rcode", "dns_qtype", "dns_ancount"):
                assert int(h[name][i]) == as_int(row[name]), (name, what)
            # tshark keeps the case; the column is lower-cased
            assert h.dns_qname[i] == row["dns_qname"].lower(), what
            assert h.dns_answer[i] == (row["dns_a"] or row["dns_aaaa"]), what
            checked += 1
        elif kind == APP_PROTOCOLS["dns"]:
            pytest.fail(f"DNS where tshark sees none: {what}")
        if row["http_method"] or row["http_status"]:
            assert kind == APP_PROTOCOLS["http"], what
            for name in ("http_method", "http_host", "http_path", "http_user_agent"):
                assert h[name][i] == row[name], (name, what)
            assert int(h.http_status[i]) == as_int(row["http_status"]), what
            checked += 1
        elif kind == APP_PROTOCOLS["http"]:
            pytest.fail(f"HTTP where tshark sees none: {what}")
        if row["ntp_mode"]:
            assert kind == APP_PROTOCOLS["ntp"], what
            for name in ("ntp_version", "ntp_mode", "ntp_stratum"):
                assert int(h[name][i]) == as_int(row[name]), (name, what)
            checked += 1
        if row["dhcp_msg_type"]:
            assert kind == APP_PROTOCOLS["dhcp"], what
            assert int(h.dhcp_msg_type[i]) == as_int(row["dhcp_msg_type"]), what
            assert h.dhcp_hostname[i] == row["dhcp_hostname"], what
            assert bytes(h.dhcp_client_mac[i]).hex(":") == row["dhcp_client_mac"], what
            requested = row["dhcp_requested_ip"]
            assert int(h.dhcp_requested_ip[i]) == (
                int(ipaddress.IPv4Address(requested)) if requested else 0), what
            checked += 1
        if row["tls_handshake"] in ("1", "2"):
            assert kind == APP_PROTOCOLS["tls"], what
            assert int(h.tls_handshake[i]) == int(row["tls_handshake"]), what
            assert h.tls_sni[i] == row["tls_sni"], what
            assert h.tls_alpn[i] == row["tls_alpn"], what
            version = row["tls_supported_version"] or row["tls_legacy_version"]
            assert int(h.tls_version[i]) == as_int(version), what
            if row["tls_handshake"] == "2":
                assert int(h.tls_cipher[i]) == as_int(row["tls_cipher"]), what
            else:
                assert h.tls_ja4[i].startswith(
                    ("t13d" if int(h.tls_version[i]) == 0x0304 else "t12d")), what
            checked += 1
    assert checked == sum(seen.values()) - seen["quic"] - seen["tls"] + int(
        np.count_nonzero(h.tls_handshake)), (checked, seen)
    # what was recorded, by value
    names = set(h.dns_qname.to_numpy()) - {None}
    assert {"www.example.test", "v6.example.test", "nx.example.test",
            "mixed.case.example.test"} <= names
    assert set(h.tls_sni.to_numpy()) - {None} == {"tls13.example.test", "tls12.example.test"}
    assert {"GET", "POST"} == set(h.http_method.to_numpy()) - {None}
    assert {200, 404, 501} & set(h.http_status.tolist()) >= {200, 404}


def _relinked(frames: list[bytes], linktype: int) -> list[bytes]:
    """The recorded Ethernet frames with their Ethernet header replaced by the
    link layer of ``linktype`` (cooked v1/v2, none, a NULL address family)."""
    out = []
    for i, frame in enumerate(frames):
        ethertype, ip = frame[12:14], frame[14:]
        v6 = ethertype == b"\x86\xdd"
        pkttype = 4 if i % 2 else 0                        # outgoing, host
        if linktype == ringcap.batch.LINKTYPE_LINUX_SLL2:
            head = (ethertype + b"\0\0" + (1).to_bytes(4, "big") + (772).to_bytes(2, "big")
                    + bytes([pkttype, 6]) + frame[6:12] + b"\0\0")
        elif linktype == ringcap.batch.LINKTYPE_LINUX_SLL:
            head = (pkttype.to_bytes(2, "big") + (772).to_bytes(2, "big") + (6).to_bytes(2, "big")
                    + frame[6:12] + b"\0\0" + ethertype)
        elif linktype == ringcap.batch.LINKTYPE_NULL:
            head = (30 if v6 else 2).to_bytes(4, sys.byteorder)
        else:
            head = b""
        out.append(head + ip)
    return out


@pytest.mark.parametrize("linktype", ["LINUX_SLL2", "LINUX_SLL", "RAW", "NULL"])
def test_application_columns_are_the_same_on_every_link_type(recorded, tmp_path, linktype):
    """The recorded Ethernet packets (and built DHCP, NTP and QUIC ones)
    rewritten as cooked v1/v2, raw-IP or NULL frames, written by ringcap's
    writer and read back, give every application column and APP_* flag as
    from Ethernet."""
    number = getattr(ringcap.batch, f"LINKTYPE_{linktype}")
    quic = [bytes(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=50000, dport=443)
                  / Raw(initial)) for initial in (RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL)]
    eth = Batch.concat([read_pcap(recorded), Batch.from_packets(built_messages() + quic)])
    kept = [i for i in range(len(eth)) if bytes(eth[i][12:14]) in (b"\x08\x00", b"\x86\xdd")]
    assert len(kept) > 100
    frames = _relinked([bytes(eth[i]) for i in kept], number)
    path = tmp_path / f"{linktype}.pcap"
    ringcap.write_pcap(path, Batch.from_packets(frames, ts=eth.ts[kept], linktype=number))
    other = read_pcap(path)
    assert set(other.linktype.tolist()) == {number} and len(other) == len(kept)
    columns = ("flags", "ip_proto", "sport", "dport") + ALL_APP
    want, got = decode(eth, columns=columns), decode(other, columns=columns)
    assert np.count_nonzero(got.app_proto) >= 30 and set(got.app_proto.tolist()) >= {1, 2, 3, 4, 5, 6}
    for name in columns[1:]:
        if isinstance(want[name], StringColumn):
            assert list(want[name][np.array(kept)]) == list(got[name]), name
        else:
            np.testing.assert_array_equal(got[name], want[name][kept], err_msg=name)
    app_bits = APP_MALFORMED | APP_TRUNCATED
    np.testing.assert_array_equal(got.flags & app_bits, want.flags[kept] & app_bits)


def test_dns_over_tcp_is_read_after_its_length_prefix(recorded):
    batch = read_pcap(recorded)
    h = decode(batch, columns=("ip_proto", "dport", "sport", "app_proto", "dns_qname",
                               "dns_answer", "dns_id"))
    tcp_dns = (h.ip_proto == 6) & ((h.dport == 53) | (h.sport == 53)) & (h.app_proto == 1)
    assert tcp_dns.sum() == 2        # the query and the answer
    assert list(h.dns_qname[tcp_dns]) == ["www.example.test"] * 2
    assert list(h.dns_answer[tcp_dns]) == ["", "10.0.0.1"]


# ---------------------------------------------------------------- strings
def test_string_columns_are_arrow_strings_without_copies_and_pandas_strings(recorded):
    pa = pytest.importorskip("pyarrow")
    batch = read_pcap(recorded)
    h = decode(batch, columns=("dns_qname", "tls_sni", "http_host"))
    qname = h.dns_qname
    assert isinstance(qname, StringColumn) and qname.offsets.dtype == np.int32
    assert len(qname) == len(batch) and qname.offsets[-1] == qname.data.shape[0]
    arrow = qname.to_arrow()
    assert arrow.type == pa.string()
    # the same memory, not a copy
    assert arrow.buffers()[1].address == qname.offsets.ctypes.data
    assert arrow.buffers()[2].address == qname.data.ctypes.data
    assert arrow.to_pylist() == list(qname.to_numpy())
    table = h.to_arrow()
    assert table.schema.field("tls_sni").type == pa.string()
    frame = h.to_pandas()
    assert str(frame["dns_qname"].dtype) == "string"
    assert frame["dns_qname"].dtype.storage == "pyarrow"
    top = frame["dns_qname"].value_counts()
    assert top.index[0] in ("www.example.test", "v6.example.test")
    # rows of headers keep their strings
    rows = h[h.dns_qname == "nx.example.test"]
    assert len(rows) == 2 and set(rows.dns_qname) == {"nx.example.test"}
    assert h[int(np.flatnonzero(h.dns_qname == "nx.example.test")[0])]["dns_qname"] \
        == "nx.example.test"


def test_app_proto_is_exported_as_names_as_ip_proto_is(recorded):
    """to_pandas()/to_arrow() made ip_proto and ethertype Categoricals of
    names but left app_proto a number (0, 1, 3...); it is now named the same
    way ("none", "dns", "tls"...), and names=False keeps the numbers."""
    pa = pytest.importorskip("pyarrow")
    h = decode(read_pcap(recorded), columns=("app_proto", "ip_proto"))
    names = {0: "none", **{number: name for name, number in APP_PROTOCOLS.items()}}
    want = [names[int(value)] for value in h.app_proto]
    assert {"none", "dns", "tls", "http"} <= set(want)
    frame = h.to_pandas()
    assert str(frame["app_proto"].dtype) == "category"
    assert frame["app_proto"].tolist() == want
    assert h.to_arrow().column("app_proto").type == pa.dictionary(pa.int32(), pa.string())
    assert h.to_arrow().column("app_proto").to_pylist() == want
    assert h.to_pandas(names=False)["app_proto"].dtype == np.uint8
    assert ringcap.names.app_proto_names(h.app_proto).tolist() == want
    codes, labels = ringcap.names.lookup_tables()["app_proto"]
    assert dict(zip(codes, labels)) == names


def test_string_column_indexing_and_comparison():
    column = StringColumn.from_strings(["a.example", None, "b", "a.example", "\u00e9t\u00e9"])
    assert list(column) == ["a.example", "", "b", "a.example", "\u00e9t\u00e9"]
    assert (column == "a.example").tolist() == [True, False, False, True, False]
    assert (column != "b").tolist() == [True, True, False, True, True]
    assert (column == "").tolist() == [False, True, False, False, False]
    assert list(column[1:4]) == ["", "b", "a.example"]
    assert list(column[np.array([4, 0])]) == ["\u00e9t\u00e9", "a.example"]
    assert list(column[column.lengths() > 1]) == ["a.example", "a.example", "\u00e9t\u00e9"]
    assert column.to_numpy().tolist() == ["a.example", None, "b", "a.example", "\u00e9t\u00e9"]
    with pytest.raises(IndexError):
        column[5]
    with pytest.raises(ValueError, match="offsets"):
        StringColumn(np.array([0, 5], dtype=np.int32), np.zeros(2, dtype=np.uint8))


def test_unknown_application_column_is_refused_naming_the_choices():
    batch = Batch.from_packets([bytes(Ether() / IP() / UDP(dport=53) / DNS())])
    with pytest.raises(ValueError, match="dns_qname"):
        decode(batch, columns=["dns_qnam"])


# ---------------------------------------------------------------- DNS edge cases
def _frames(*payloads: bytes, sport=53, dport=33333) -> Batch:
    return Batch.from_packets([bytes(Ether() / IP(src="10.0.0.53", dst="10.0.0.1")
                                     / UDP(sport=sport, dport=dport) / Raw(p))
                               for p in payloads])


def _dns_header(qd=1, an=0, flags=0x8180, ident=0x1234) -> bytes:
    return ident.to_bytes(2, "big") + flags.to_bytes(2, "big") + qd.to_bytes(2, "big") \
        + an.to_bytes(2, "big") + b"\0\0\0\0"


def _labels(name: str) -> bytes:
    return b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"


def test_dns_compression_pointers_are_followed_and_answers_read():
    # question www.example.com; answer name: pointer to the question; CNAME then A
    question = _labels("WWW.Example.com") + b"\0\x01\0\x01"
    cname = b"\xc0\x0c" + b"\0\x05\0\x01\0\0\0\x3c" + b"\0\x06" + b"\x03cdn\xc0\x10"
    a = b"\xc0\x2d" + b"\0\x01\0\x01\0\0\0\x3c\0\x04" + bytes([192, 0, 2, 7])
    message = _dns_header(an=2) + question + cname + a
    h = decode(_frames(message), columns=ALL_APP)
    assert h.dns_qname[0] == "www.example.com"
    assert h.dns_answer[0] == "192.0.2.7" and h.dns_ancount[0] == 2
    assert not h.flags[0] & (APP_TRUNCATED | APP_MALFORMED)
    # a name made only of a pointer to a pointer to a name
    assert _app._test_dns_name(message, 0x2D)[0] == "cdn.example.com"


def test_dns_pointer_loops_are_malformed_and_bounded():
    self_loop = _dns_header() + b"\xc0\x0c" + b"\0\x01\0\x01"
    two_loop = _dns_header() + b"\x01a\xc0\x0f" + b"\xc0\x0c" + b"\0\x01\0\x01"
    forward_out = _dns_header() + b"\xc0\xff" + b"\0\x01\0\x01"
    into_header = _dns_header() + b"\xc0\x02" + b"\0\x01\0\x01"
    h = decode(_frames(self_loop, two_loop, forward_out, into_header), columns=ALL_APP)
    assert list(h.dns_qname) == [""] * 4
    assert all(f & APP_MALFORMED for f in h.flags)
    assert (h.dns_id == 0x1234).all()          # the header was still read
    assert _app._test_dns_name(two_loop, 12)[0] is False


def test_dns_names_up_to_255_octets_and_no_further():
    longest = ".".join(["a" * 63] * 3 + ["b" * 61])          # 255 octets on the wire
    assert len(_labels(longest)) == 255
    too_long = ".".join(["a" * 63] * 3 + ["b" * 62])
    messages = [_dns_header(flags=0x0100) + _labels(n) + b"\0\x01\0\x01" for n in
                (longest, too_long)]
    h = decode(_frames(*messages, sport=33333, dport=53), columns=ALL_APP)
    assert h.dns_qname[0] == longest and not h.flags[0] & APP_MALFORMED
    assert h.dns_qname[1] == "" and h.flags[1] & APP_MALFORMED


def test_dns_truncated_at_every_length_is_flagged_never_garbage():
    question = _labels("cut.example.org") + b"\0\x1c\0\x01"
    answer = b"\xc0\x0c\0\x1c\0\x01\0\0\0\x3c\0\x10" + ipaddress.IPv6Address("2001:db8::5").packed
    full = bytes(Ether() / IP() / UDP(sport=53, dport=4000) / Raw(_dns_header(an=1) + question
                                                                   + answer))
    start = 14 + 20 + 8
    frames = [full[:k] for k in range(start + 1, len(full) + 1)]
    batch = Batch.from_packets(frames, wirelen=np.full(len(frames), len(full)))
    h = decode(batch, columns=ALL_APP)
    for k, frame in enumerate(frames):
        cut = len(frame) - start
        flags = int(h.flags[k])
        if cut < len(full) - start:
            assert flags & APP_TRUNCATED, cut
        assert not flags & APP_MALFORMED, cut
        name = h.dns_qname[k]
        assert name in ("", "cut.example.org"), (cut, name)
        assert (name == "cut.example.org") == (cut >= 12 + len(question)), cut
        assert h.dns_answer[k] in ("", "2001:db8::5")
        assert (h.dns_answer[k] != "") == (cut == len(full) - start)


def test_tcp_dns_split_over_segments_is_flagged_for_reassembly():
    message = _dns_header(flags=0x0100) + _labels("split.example") + b"\0\x01\0\x01"
    prefixed = (len(message) + 100).to_bytes(2, "big") + message    # says more follows
    batch = Batch.from_packets([bytes(Ether() / IP() / TCP(sport=40000, dport=53, flags="PA")
                                      / Raw(prefixed))])
    h = decode(batch, columns=ALL_APP)
    assert h.app_proto[0] == APP_PROTOCOLS["dns"] and h.flags[0] & APP_TRUNCATED
    assert h.dns_qname[0] == "split.example"


def test_http_head_split_over_segments_is_flagged():
    head = b"GET /a HTTP/1.1\r\nHost: h.example\r\nUser-Agent: x"
    batch = Batch.from_packets([bytes(Ether() / IP() / TCP(sport=40000, dport=80, flags="PA")
                                      / Raw(head))])
    h = decode(batch, columns=ALL_APP)
    assert h.app_proto[0] == APP_PROTOCOLS["http"] and h.flags[0] & APP_TRUNCATED
    assert (h.http_method[0], h.http_path[0], h.http_host[0]) == ("GET", "/a", "h.example")
    assert h.http_user_agent[0] == ""     # its line was not seen to the end


def test_non_utf8_and_control_bytes_are_escaped():
    head = b"GET /\xff\x01 HTTP/1.1\r\nHost: caf\xc3\xa9.example\r\n\r\n"
    batch = Batch.from_packets([bytes(Ether() / IP() / TCP(sport=40000, dport=80, flags="PA")
                                      / Raw(head))])
    h = decode(batch, columns=("http_path", "http_host"))
    assert h.http_path[0] == "/\\xff\\x01"
    assert h.http_host[0] == "caf\u00e9.example"


def _escaped(raw: bytes, lower: bool) -> str:
    """The text columns' rule: printable ASCII as is (A-Z lower-cased if asked),
    other single bytes as \\xNN."""
    out = []
    for b in raw:
        if 0x20 <= b < 0x7F:
            out.append(chr(b + 0x20) if lower and 0x41 <= b <= 0x5A else chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


# bytes 0x80-0xBF never start UTF-8: escaped, as control bytes are
@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from([b for b in range(0xC0) if b not in (0x0A, 0x0D, 0x3A)]
                                + list(range(0x20, 0x7F)) * 6),    # mostly printable runs
                max_size=40), st.integers(0, 15))
def test_text_columns_escape_and_lower_case_at_every_alignment(body, shift):
    """The copy of text columns (eight printable bytes at a time, byte by byte
    otherwise) gives the same as one byte at a time, wherever the bytes fall:
    an HTTP User-Agent (as is) and a DNS label (lower-cased)."""
    raw = b"@AZ[`az{" + bytes(body)          # the bytes around both ends of A-Z, then any
    value = b"<" + raw + b">"              # header values are trimmed of blanks at the ends
    head = (b"GET /" + b"p" * shift + b" HTTP/1.1\r\nUser-Agent: " + value + b"\r\n\r\n")
    batch = Batch.from_packets([bytes(Ether() / IP() / TCP(sport=40000, dport=80, flags="PA")
                                      / Raw(head))])
    assert decode(batch, columns=("http_user_agent",)).http_user_agent[0] == _escaped(value, False)
    label = (b"Ab" * 4 + raw.replace(b".", b"-"))[:63]
    message = _dns_header() + bytes([len(label)]) + label + b"\x07EXAMPLE\x00\x00\x01\x00\x01"
    name, _ = _app._test_dns_name(np.frombuffer(message, dtype=np.uint8), 12)
    assert name == _escaped(label, True) + ".example"


def test_dns_labels_with_every_byte_value():
    """A label's bytes pass a table of printable ASCII (lower-cased) and fall
    back to the escaping copy on any other byte: every byte value, at the
    start, middle and end of a label, before and after another label, gives the
    text columns' rule, read from a packet as decode reads it."""
    frames, expected = [], []
    for value in range(256):
        for label in (bytes([value]) + b"Ab", b"aB" + bytes([value]) + b"Cd9",
                      b"xYz-0123" + bytes([value])):
            query = _dns_header(flags=0x0100) + bytes([len(label)]) + label \
                + b"\x03COM\x00\x00\x01\x00\x01"
            frames.append(bytes(Ether() / IP() / UDP(sport=40000, dport=53) / Raw(query)))
            expected.append(_escaped(label, True) + ".com")
    h = decode(Batch.from_packets(frames), columns=("dns_qname",))
    assert list(h.dns_qname) == expected


# ---------------------------------------------------------------- bounds, by fuzzing
def client_hello(maximum: ssl.TLSVersion, name: str = "fuzz.example") -> bytes:
    """The TLS records of a ClientHello Python's ssl makes (no network: a memory BIO)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = maximum
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname=name)
    with pytest.raises(ssl.SSLWantReadError):
        conn.do_handshake()
    return outgoing.read()


def built_messages() -> list[bytes]:
    """Frames of every kind the application pass reads, built here."""
    eth_ip = Ether() / IP(src="10.0.0.1", dst="10.0.0.2")
    question = DNS(id=7, rd=1, qd=DNSQR(qname="a.example.org", qtype="AAAA"))
    answer = DNS(id=7, qr=1, qd=DNSQR(qname="a.example.org"),
                 an=[DNSRR(rrname="a.example.org", type="A", rdata="10.1.2.3"),
                     DNSRR(rrname="a.example.org", type="A", rdata="10.1.2.4")])
    dns_tcp = bytes(answer)
    return [bytes(f) for f in (
        eth_ip / UDP(sport=3000, dport=53) / question,
        eth_ip / UDP(sport=53, dport=3000) / answer,
        eth_ip / UDP(sport=5353, dport=5353) / answer,
        eth_ip / TCP(sport=53, dport=3000, flags="PA") / Raw(len(dns_tcp).to_bytes(2, "big")
                                                              + dns_tcp),
        eth_ip / TCP(sport=3000, dport=80, flags="PA") / Raw(
            b"GET /x?y=1 HTTP/1.1\r\nHost: h.example\r\nUser-Agent: u/1\r\n\r\n"),
        eth_ip / TCP(sport=80, dport=3000, flags="PA") / Raw(
            b"HTTP/1.1 302 Found\r\nLocation: /\r\n\r\n"),
        eth_ip / UDP(sport=68, dport=67) / BOOTP(chaddr=b"\x02" * 6) / DHCP(options=[
            ("message-type", "discover"), ("hostname", b"h"), ("requested_addr", "10.0.0.9"),
            "end"]),
        eth_ip / UDP(sport=123, dport=123) / NTP(version=3, mode=4, stratum=3),
        eth_ip / TCP(sport=3000, dport=443, flags="PA") / Raw(client_hello(ssl.TLSVersion.TLSv1_3)),
        eth_ip / TCP(sport=3000, dport=443, flags="PA") / Raw(client_hello(ssl.TLSVersion.TLSv1_2)),
    )]


def _mutate(rng: random.Random, frame: bytes) -> bytes:
    data = bytearray(frame)
    start = 14 + 20
    for _ in range(rng.randint(1, 8)):
        kind = rng.random()
        k = rng.randrange(start, len(data)) if len(data) > start else start
        if kind < 0.5 and k < len(data):
            data[k] = rng.randrange(256)
        elif kind < 0.7:
            data[k:k] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif kind < 0.85:
            del data[k:k + rng.randint(1, 16)]
        elif k + 2 <= len(data):
            data[k:k + 2] = rng.choice([b"\xc0\x0c", b"\xc0\x00", b"\xff\xff", b"\x3f\x3f"])
    return bytes(data)


def fuzz(seeds: list[bytes], seed: int) -> int:
    """Mutated seeds, each cut at a random caplen with random bytes after it in the
    batch's buffer: decoding twice, with those bytes changed, gives the same
    columns (a read past caplen would show), never raises, strings stay UTF-8,
    and a debug build counts no overrun.  Returns the frames tried."""
    rng = random.Random(seed)
    budget = time.monotonic() + float(os.environ.get("RINGCAP_FUZZ_SECONDS", "6"))
    _app.reset_overrun_count()
    tried = 0
    while time.monotonic() < budget or tried < 600:
        frames = [_mutate(rng, rng.choice(seeds)) for _ in range(200)]
        tried += len(frames)
        caplen = np.array([rng.randint(0, len(f)) if rng.random() < 0.4 else len(f)
                           for f in frames], dtype=np.uint32)
        offset = np.zeros(len(frames), dtype=np.int64)
        batches = []
        for _variant in range(2):
            data = bytearray()
            for k, frame in enumerate(frames):
                offset[k] = len(data)
                data += frame[:caplen[k]] + rng.randbytes(len(frame) - int(caplen[k]) + 64)
            batches.append(Batch(ts=np.zeros(len(frames)), caplen=caplen, offset=offset.copy(),
                                 wirelen=np.array([len(f) for f in frames]),
                                 data=np.frombuffer(bytes(data), dtype=np.uint8)))
        first, second = (decode(b, columns=("flags",) + ALL_APP) for b in batches)
        for name in ("flags",) + ALL_APP:
            a, b = first[name], second[name]
            if isinstance(a, StringColumn):
                assert np.array_equal(a.offsets, b.offsets) and np.array_equal(a.data, b.data), name
                a.data.tobytes().decode()          # valid UTF-8
            else:
                assert np.array_equal(a, b), name
    assert _app.overrun_count() == 0, "a read went past the captured bytes (debug build)"
    return tried


def test_built_messages_decode_as_built():
    h = decode(Batch.from_packets(built_messages()), columns=ALL_APP)
    assert h.app_proto.tolist() == [1, 1, 1, 1, 2, 2, 4, 5, 3, 3]
    assert list(h.dns_qname[:4]) == ["a.example.org"] * 4
    assert list(h.dns_answer[:4]) == ["", "10.1.2.3", "10.1.2.3", "10.1.2.3"]
    assert h.dns_qtype[0] == 28 and h.dns_ancount[1] == 2
    assert (h.http_method[4], h.http_path[4], h.http_host[4], h.http_user_agent[4]) == \
        ("GET", "/x?y=1", "h.example", "u/1")
    assert h.http_status[5] == 302
    assert (h.dhcp_msg_type[6], h.dhcp_hostname[6], h.dhcp_requested_ip[6]) == (1, "h", 0x0A000009)
    assert bytes(h.dhcp_client_mac[6]) == b"\x02" * 6
    assert (h.ntp_version[7], h.ntp_mode[7], h.ntp_stratum[7]) == (3, 4, 3)
    assert not (h.flags & (APP_TRUNCATED | APP_MALFORMED)).any()


def test_ja4_of_a_batch_is_each_hellos_own_whatever_repeats_and_collides():
    """The pass keeps memos of JA4 hash parts per batch (hellos repeat): every
    packet's tls_ja4 must still be the one its own hello gives alone (no memo)
    and the independent reference's, with 300 distinct hellos (more than the
    memo's 128 slots, so entries are replaced), repeats in the same order and
    with extensions shuffled (same sorted lists), lists longer than the memo
    keeps, and lists that differ in one value only."""
    from ringcap import _tls, testing
    from test_tls_hello import alpn_ext, client_hello, ext, record, reference_ja4, sigalgs_ext, \
        sni_ext, versions_ext
    rng = random.Random(21)
    hellos = []
    for k in range(300):
        ciphers = [0x1301, 0x1302, 0xC02B + k % 7] + rng.sample(range(0x0001, 0x00FF), 6 + k % 9)
        if k % 50 == 0:
            ciphers += list(range(0x0100, 0x0100 + 70))       # more than the memo keeps
        kinds = [0x0017, 0x0023, 0x002D, 0xFF01] + rng.sample(range(0x0040, 0x0060), k % 5)
        bodies = [sni_ext(b"h%d.example" % k), alpn_ext(b"h2"), versions_ext(0x0304, 0x0303),
                  sigalgs_ext(0x0403, 0x0804 + k % 3)] + [ext(kind, b"") for kind in kinds]
        hellos.append((ciphers, bodies))
    payloads = []
    for n, k in enumerate(rng.choices(range(300), k=1500)):
        ciphers, bodies = hellos[k]
        if n % 2:       # in the order first built (the memo of lists as sent), or shuffled
            bodies = rng.sample(bodies, len(bodies))
        payloads.append(record(client_hello(ciphers, bodies)))
    # one value apart: must not take its neighbour's memo entry
    payloads.append(record(client_hello(hellos[0][0][:-1] + [hellos[0][0][-1] ^ 1], hellos[0][1])))
    frames = [testing._ipv4_frame(0x0A000001, 0x0A000002, 6,
                                  testing._tcp(40000 + i % 20000, 443, p))
              for i, p in enumerate(payloads)]
    h = decode(Batch.from_packets(frames), columns=("tls_ja4",))
    alone = [_tls.parse_tls_record(p)["ja4"] for p in payloads]
    assert list(h.tls_ja4) == alone
    assert len(set(alone)) > 250
    for p, got in zip(payloads[:200], alone):
        assert got == reference_ja4(p[5:])


def test_hello_columns_of_a_batch_are_each_hellos_own_with_the_layout_memo():
    """The pass reads a hello whose extension headers it has seen (the JA4
    memo's layouts) without walking them, and writes runs of hellos' strings
    without a call per row: every row's TLS columns and flags must be those its
    hello gives alone, for hellos equal to another but for a byte or two (in a
    header, a read extension, the lists), cut or malformed, in runs and with
    other packets between."""
    from ringcap import _tls, testing
    from test_tls_hello import layout_cases
    cases = layout_cases()
    rng = random.Random(11)
    names = rng.choices(list(cases), k=600)
    frames = []
    for k, name in enumerate(names):
        frames.append(testing._ipv4_frame(0x0A000001, 0x0A000002, 6,
                                          testing._tcp(40000 + k, 443, cases[name])))
        if k % 7 == 3:            # a packet without a message between
            frames.append(testing._ipv4_frame(0x0A000002, 0x0A000001, 6,
                                              testing._tcp(443, 40000 + k, b"\x17\x03\x03\x00\x01x")))
    h = decode(Batch.from_packets(frames), columns=("tls_handshake", "tls_version", "tls_sni",
                                                    "tls_alpn", "tls_ja4", "flags"))
    hellos = h.tls_handshake == 1
    assert int(hellos.sum()) == len(names)
    flags = [flag_names(f) for f in h.flags[hellos]]
    for k, (name, row) in enumerate(zip(names, np.flatnonzero(hellos))):
        alone = _tls.parse_tls_record(cases[name])
        got = (h.tls_version[row], h.tls_sni[row], h.tls_alpn[row], h.tls_ja4[row])
        want = (alone["version"],
                alone["sni"].decode().lower() if alone["sni"] else "",
                "h\\x01" if alone["alpn"] == b"h\x01" else (alone["alpn"] or b"").decode(),
                alone["ja4"])
        assert got == want, (k, name)
        assert ("APP_TRUNCATED" in flags[k], "APP_MALFORMED" in flags[k]) == \
            (alone["truncated"], alone["malformed"]), (k, name)
    assert {"sni name length", "alpn h3", "a cipher suite", "cut"} <= set(names)


def _hello_lists(rec: bytes) -> list[tuple[int, int]]:
    """Where a ClientHello record's cipher suites and signature algorithms lie:
    [(start, end)] of the 2-byte values."""
    pos = 5 + 4 + 2 + 32
    pos += 1 + rec[pos]
    n = int.from_bytes(rec[pos:pos + 2], "big")
    spans = [(pos + 2, pos + 2 + n)]
    pos += 2 + n
    pos += 1 + rec[pos] + 2                  # compression methods, extensions' length
    while pos + 4 <= len(rec):
        kind, n = int.from_bytes(rec[pos:pos + 2], "big"), int.from_bytes(rec[pos + 2:pos + 4], "big")
        if kind == 13:
            spans.append((pos + 6, pos + 4 + n))
        pos += 4 + n
    return spans


def test_ja4_of_real_hellos_changed_in_their_lists_is_each_ones_own_in_one_batch():
    """Python ssl's ClientHellos (TLS 1.3 and 1.2) with values of their cipher and
    signature lists swapped, replaced or made GREASE in place: the same lengths,
    mostly the same ends, so many share the JA4 memo's cheap key.  In one batch,
    in random order and repeated, every packet's tls_ja4 must be its own hello's:
    the one it gets alone and the reference's."""
    from ringcap import _tls, testing
    from test_tls_hello import GREASE, reference_ja4
    rng = random.Random(7)
    seeds = [client_hello(ssl.TLSVersion.TLSv1_3), client_hello(ssl.TLSVersion.TLSv1_2)]
    variants = list(seeds)
    for k in range(120):
        data = bytearray(rng.choice(seeds))
        spans = _hello_lists(bytes(data))
        assert len(spans) == 2
        for _ in range(rng.randint(1, 3)):
            start, end = rng.choice(spans)
            values = (end - start) // 2
            i, j = rng.randrange(values), rng.randrange(values)
            a, b = start + 2 * i, start + 2 * j
            kind = rng.random()
            if kind < 0.5:                      # two values swap places
                data[a:a + 2], data[b:b + 2] = data[b:b + 2], data[a:a + 2]
            elif kind < 0.8:                    # one value replaced
                data[a:a + 2] = rng.randrange(1, 0xFF00).to_bytes(2, "big")
            else:                               # or made GREASE
                data[a:a + 2] = rng.choice(GREASE).to_bytes(2, "big")
        variants.append(bytes(data))
    payloads = [rng.choice(variants) for _ in range(600)]
    frames = [testing._ipv4_frame(0x0A000001, 0x0A000002, 6, testing._tcp(40000 + i, 443, p))
              for i, p in enumerate(payloads)]
    h = decode(Batch.from_packets(frames), columns=("tls_ja4", "tls_sni"))
    alone = {p: _tls.parse_tls_record(p)["ja4"] for p in variants}
    assert list(h.tls_ja4) == [alone[p] for p in payloads]
    assert set(h.tls_sni) == {"fuzz.example"}
    for p in variants:
        assert alone[p] == reference_ja4(p[5:])
    keys = [_tls.ja4_raw_key(p) for p in variants]
    assert len(set(alone.values())) > 60 and len(set(keys)) < len(set(alone.values()))


def test_asking_for_some_protocols_decodes_them_as_asking_for_all_does():
    """The pass lets packets go early from their ports and first byte, by the
    protocols asked for: every message's payload on every port pairing of
    every protocol's ports (TCP and UDP) must give the columns of the
    protocols asked for exactly as asking for every column does (a port of
    one protocol never makes another's message decode, asked for or not)."""
    payloads = [bytes(f[UDP].payload) if UDP in f else bytes(f[TCP].payload)
                for f in map(Ether, built_messages())]
    payloads += [RFC9001_CLIENT_INITIAL]
    ports = (53, 5353, 5355, 67, 68, 123, 443, 80, 3000)
    frames = []
    for payload in payloads:
        for sport in ports:
            for dport in ports:
                ip = Ether() / IP(src="10.0.0.1", dst="10.0.0.2")
                frames.append(bytes(ip / UDP(sport=sport, dport=dport) / Raw(payload)))
                frames.append(bytes(ip / TCP(sport=sport, dport=dport, flags="PA") / Raw(payload)))
    batch = Batch.from_packets(frames)
    everything = decode(batch, columns=ALL_APP)
    assert set(everything.app_proto.tolist()) == {0, 1, 2, 3, 4, 5, 6}
    groups = {"dns": ("dns_",), "http": ("http_",), "dhcp": ("dhcp_",), "ntp": ("ntp_",),
              "tls": ("tls_",), "quic": ("quic_",), "dns+ntp": ("dns_", "ntp_"),
              "http+tls": ("http_", "tls_")}
    for group, prefixes in groups.items():
        names = tuple(n for n in ALL_APP if n.startswith(prefixes))
        some = decode(batch, columns=names)
        for name in names:
            x, y = everything[name], some[name]
            if isinstance(x, StringColumn):
                assert list(x) == list(y), (group, name)
            else:
                assert np.array_equal(x, y), (group, name)


def _same_either_way(frames: list[bytes], caplen: list[int], tail_seed: int) -> None:
    """Decode the frames cut at caplen twice, with different bytes after each cut:
    the same columns (nothing read past caplen), valid UTF-8 strings."""
    rng = random.Random(tail_seed)
    results = []
    for _variant in range(2):
        data, offset = bytearray(), []
        for frame, cut in zip(frames, caplen):
            offset.append(len(data))
            data += frame[:cut] + rng.randbytes(len(frame) - cut + 64)
        batch = Batch(ts=np.zeros(len(frames)), caplen=caplen, offset=offset,
                      wirelen=[len(f) for f in frames],
                      data=np.frombuffer(bytes(data), dtype=np.uint8))
        results.append(decode(batch, columns=("flags",) + ALL_APP))
    for name in ("flags",) + ALL_APP:
        a, b = results[0][name], results[1][name]
        if isinstance(a, StringColumn):
            assert np.array_equal(a.offsets, b.offsets) and np.array_equal(a.data, b.data), name
            a.data.tobytes().decode()
        else:
            assert np.array_equal(a, b), name


def test_hypothesis_edits_of_real_messages_never_raise_nor_read_past_caplen():
    seeds = built_messages()

    @settings(max_examples=300, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.data())
    def edited(data):
        frame = bytearray(data.draw(st.sampled_from(seeds)))
        for _ in range(data.draw(st.integers(0, 6))):
            at = data.draw(st.integers(34, len(frame)))
            kind = data.draw(st.sampled_from(["set", "insert", "delete", "pointer"]))
            if kind == "set" and at < len(frame):
                frame[at] = data.draw(st.integers(0, 255))
            elif kind == "insert":
                frame[at:at] = data.draw(st.binary(min_size=1, max_size=12))
            elif kind == "delete":
                del frame[at:at + data.draw(st.integers(1, 40))]
            else:
                frame[at:at + 2] = data.draw(st.sampled_from(
                    [b"\xc0\x0c", b"\xc0\x00", b"\xff\xff", b"\x3f\x00", b"\r\n"]))
        cut = data.draw(st.integers(0, len(frame)))
        _same_either_way([bytes(frame)], [cut], data.draw(st.integers(0, 2**32)))

    _app.reset_overrun_count()
    edited()
    assert _app.overrun_count() == 0


def test_fuzz_built_messages_never_raise_nor_read_past_caplen():
    assert fuzz(built_messages(), 21) >= 600


def test_fuzz_recorded_messages_never_raise_nor_read_past_caplen(recorded):
    batch = read_pcap(recorded)
    h = decode(batch, columns=("app_proto",))
    seeds = [batch[i] for i in np.flatnonzero(h.app_proto)]
    assert len(seeds) >= 20
    assert fuzz(seeds, 2126) >= 600


# ---------------------------------------------------------------- QUIC
def test_quic_client_initials_of_rfc_9001_and_9369_give_version_and_sni_as_tshark(tmp_path):
    frames = [Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=50000, dport=443)
              / Raw(initial) for initial in (RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL)]
    pcap = tmp_path / "quic.pcap"
    wrpcap(str(pcap), frames)
    h = decode(read_pcap(str(pcap)), columns=ALL_APP)
    assert h.app_proto.tolist() == [APP_PROTOCOLS["quic"]] * 2
    assert h.quic_version.tolist() == [1, 0x6B3343CF]
    assert h.quic_dcid_len.tolist() == [8, 8]
    assert list(h.tls_sni) == ["example.com"] * 2
    assert all(ja4.startswith("q13d") for ja4 in h.tls_ja4)
    assert h.tls_handshake.tolist() == [1, 1]
    shark = tshark_fields(pcap, {"version": "quic.version", "sni":
                                 "tls.handshake.extensions_server_name"})
    assert [as_int(r["version"]) for r in shark] == h.quic_version.tolist()
    # tshark 4.0 decrypts v1 Initials only (QUIC v2 came in 4.2)
    assert shark[0]["sni"] == h.tls_sni[0]
    # a cut Initial cannot be decrypted: no columns, no exception
    cut = decode(Batch.from_packets([bytes(frames[0])[:600]], wirelen=[len(frames[0])]),
                 columns=ALL_APP)
    assert cut.app_proto[0] == 0 and cut.tls_sni[0] == ""


# ---------------------------------------------------------------- flows carry names
def test_flow_records_carry_server_name_fingerprint_user_agent_and_dns_queries(recorded):
    batch = read_pcap(recorded)
    records = ringcap.flow_features(batch)
    h = decode(batch, columns=("sport", "dport", "ip_proto") + ALL_APP)
    by_port = {}
    for k in range(len(records)):
        by_port.setdefault((int(records.sport[k]), int(records.dport[k])), []).append(k)

    def record_of(i):
        """The record holding packet i (the client's port is unique in this recording)."""
        key = (int(h.sport[i]), int(h.dport[i]))
        rows = by_port.get(key) or by_port.get(key[::-1])
        assert rows and len(rows) == 1, key
        return rows[0]

    hello = np.flatnonzero(h.tls_handshake == 1)
    assert len(hello) == 2
    for i in hello:
        k = record_of(i)
        assert records.server_name[k] == h.tls_sni[i]
        assert records.client_fingerprint[k] == h.tls_ja4[i] and h.tls_ja4[i]
    requests = np.flatnonzero(h.http_method != "")
    hosts = {records.server_name[record_of(i)] for i in requests}
    assert hosts == {"127.0.0.1", "web.example.test"}          # lower-case, port dropped
    agents = {records.user_agent[record_of(i)] for i in requests}
    assert "ringcap-test/1.0 (app columns)" in agents
    queries = np.flatnonzero((h.app_proto == APP_PROTOCOLS["dns"]) & (h.dns_qr == 0))
    for i in queries:
        k = record_of(i)
        assert records.server_name[k] == h.dns_qname[i]
        assert records.dns_queries[k] == 1
    # flows without names have none; the counts add up
    assert int(records.dns_queries.sum()) == len(queries)
    assert records.server_name[records.dport == 67].tolist() in ([], [None])
    # without names: the same records, the name columns empty
    plain = ringcap.flow_features(batch, names=False)
    assert len(plain) == len(records) and set(plain.server_name) == {None}
    assert np.array_equal(plain.bidirectional_packets, records.bidirectional_packets)


def test_flow_feature_parquet_has_dictionary_encoded_names(recorded, tmp_path):
    pq = pytest.importorskip("pyarrow.parquet")
    batch = read_pcap(recorded)
    sink = ringcap.FlowSink(tmp_path, interval=3600, features=True, worker=0)
    sink.write(batch)
    sink.close()
    files = [os.path.join(d, f) for d, _, names in os.walk(tmp_path) for f in names
             if f.endswith(".parquet")]
    assert len(files) == 1
    meta = pq.ParquetFile(files[0]).metadata
    columns = {meta.row_group(0).column(c).path_in_schema: meta.row_group(0).column(c)
               for c in range(meta.num_columns)}
    for name in ("server_name", "client_fingerprint", "user_agent"):
        assert "RLE_DICTIONARY" in columns[name].encodings or \
            "PLAIN_DICTIONARY" in columns[name].encodings, (name, columns[name].encodings)
    table = pq.read_table(files[0])
    names = set(table["server_name"].to_pylist()) - {None}
    assert {"tls13.example.test", "tls12.example.test", "www.example.test",
            "web.example.test"} <= names
    assert sum(table["dns_queries"].to_pylist()) == int(
        ringcap.flow_features(batch).dns_queries.sum())
    frame = ringcap.flow_features(batch).to_pandas()
    assert str(frame["server_name"].dtype) == "category"



def test_packet_parquet_dataset_holds_application_columns_as_decode_gives_them(recorded,
                                                                            tmp_path):
    """ParquetSink takes the application columns by name (as decode does): strings
    dictionary-encoded and null where a packet has none, fixed-width columns as
    decoded; across batches split over row groups, and across files whose
    dictionaries differ, read back by pyarrow and DuckDB."""
    import duckdb
    import pandas as pd
    import pyarrow as pa
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq
    batch = read_pcap(recorded)
    app = ("app_proto", "dns_qname", "dns_qtype", "dns_id", "dns_answer", "tls_sni", "tls_ja4",
           "http_host", "http_user_agent", "http_status", "dhcp_client_mac", "ntp_stratum")
    # ts is always written; "all" stays the header columns, as decode's "all"
    with pytest.raises(ValueError, match="unknown column"):
        ringcap.ParquetSink(tmp_path / "bad", columns=("ts", "dns_name"))
    h = decode(batch, columns=app)
    dns_rows = np.flatnonzero(h.app_proto == APP_PROTOCOLS["dns"])
    # the first file ends half way through the DNS messages: two files, two dictionaries
    sink = ringcap.ParquetSink(tmp_path / "ds", columns=("ts", "sport") + app, partition_by=(),
                               row_group_rows=7, rotate_rows=int(dns_rows[len(dns_rows) // 2]),
                               worker=0)
    for start in range(0, len(batch), 10):
        sink.write(batch[start:start + 10])
    sink.close()
    files = sorted(str(p) for p in (tmp_path / "ds").rglob("*.parquet"))
    assert len(files) >= 2
    assert pq.ParquetFile(files[0]).metadata.num_row_groups > 1
    dictionaries = []
    for path in files:
        meta = pq.ParquetFile(path).metadata
        chunk = {meta.row_group(0).column(c).path_in_schema: meta.row_group(0).column(c)
                 for c in range(meta.num_columns)}
        assert chunk["dns_qname"].has_dictionary_page, chunk["dns_qname"].encodings
        dictionaries.append(set(pq.read_table(path)["dns_qname"].to_pylist()) - {None})
    assert dictionaries[0] and dictionaries[1] and dictionaries[0] != dictionaries[1]
    table = ds.dataset(files, format="parquet").to_table()
    assert table.schema.field("dns_qname").type == pa.dictionary(pa.int32(), pa.string())
    assert table.schema.field("dns_id").type == "uint16"
    assert table.num_rows == len(batch)
    for name in app:
        got = table[name].to_pylist()
        if name in STRING_COLUMNS:
            assert got == [None if v is None else v for v in h[name].to_numpy()], name
        elif name == "dhcp_client_mac":
            assert got == [bytes(row) for row in h[name]], name
        else:
            assert got == h[name].tolist(), name
    assert int(np.count_nonzero(h.app_proto)) > 0 and set(got) > {0}
    counted = dict(duckdb.sql(
        f"select dns_qname, count(*) from read_parquet({files!r}) "
        "where dns_qname is not null group by 1").fetchall())
    expected = h.to_pandas()["dns_qname"].value_counts()
    assert counted == {name: int(n) for name, n in expected.items()}
    frame = pd.read_parquet(files)
    assert str(frame["tls_sni"].dtype) == "category"
    assert frame["tls_sni"].value_counts().to_dict() == {
        name: int(n) for name, n in h.to_pandas()["tls_sni"].value_counts().items()}
    assert {"www.example.test", "mixed.case.example.test"} <= set(counted)


# ---------------------------------------------------------------- printing as tcpdump
def _lines(*cmd: str) -> list[str]:
    env = {**os.environ, "PYTHONPATH": package_root()}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=DEADLINE)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout.splitlines()


def _compare_printing(pcap) -> tuple[list[str], list[tuple[str, str]]]:
    theirs = _lines("tcpdump", "-nn", "-r", str(pcap))
    ours = _lines(sys.executable, "-m", "ringcap", "-nn", "-r", str(pcap))
    assert len(ours) == len(theirs)
    return theirs, [(a, b) for a, b in zip(theirs, ours) if a != b]


def test_printed_lines_are_tcpdumps_on_the_recorded_traffic(recorded):
    theirs, differ = _compare_printing(recorded)
    applications = [line for line in theirs if ": HTTP" in line or " A? " in line
                    or "NTPv4" in line or "BOOTP/DHCP" in line or " 1/0/1 " in line]
    assert len(applications) >= 20
    assert differ == [], "\n".join(f"tcpdump: {a}\nringcap: {b}" for a, b in differ[:10])


def test_printed_lines_are_tcpdumps_on_built_messages(tmp_path):
    pcap = tmp_path / "built.pcap"
    eth_ip = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1",
                                                                          dst="10.0.0.2")
    extra = [
        eth_ip / UDP(sport=53, dport=3000) / DNS(id=9, qr=1, rcode=3, ra=1,
                                                 qd=DNSQR(qname="nx.example")),
        eth_ip / UDP(sport=53, dport=3000) / DNS(id=10, qr=1, aa=1, qd=DNSQR(qname="c.example"),
                                                 an=[DNSRR(rrname="c.example", type="CNAME",
                                                           rdata="d.example"),
                                                     DNSRR(rrname="d.example", type="AAAA",
                                                           rdata="2001:db8::7")]),
        eth_ip / UDP(sport=3000, dport=53) / DNS(id=11, rd=0, qd=DNSQR(qname="mx.example",
                                                                      qtype="MX")),
        eth_ip / UDP(sport=3000, dport=53) / DNS(id=12, qd=DNSQR(qname=".", qtype="NS")),
        eth_ip / UDP(sport=68, dport=67) / BOOTP(op=2, xid=5) / DHCP(options=[
            ("message-type", "offer"), "end"]),
        eth_ip / TCP(sport=80, dport=3000, flags="PA") / Raw(b"<html>body</html>"),
    ]
    wrpcap(str(pcap), [Ether(f) for f in built_messages()[:8]] + extra)
    _, differ = _compare_printing(pcap)
    assert differ == [], "\n".join(f"tcpdump: {a}\nringcap: {b}" for a, b in differ[:10])


def test_printed_dns_classes_mdns_bits_ntp_modes_and_cut_http_lines_are_tcpdumps(tmp_path):
    """Lines the printer once got wrong or left generic: mDNS questions' (QM)/(QU),
    the cache-flush bit before an answer's type, classes other than IN, the commas of a
    response's skipped questions, a DNS header too short, a question cut short, a DNS
    over TCP segment of one byte, name pointers that do not point backwards (tcpdump's
    <BAD PTR>, which also ends pointer loops), an answer's data cut short, NTP's eight
    modes at any length, and an HTTP first line without its line end."""
    pcap = tmp_path / "lines.pcap"
    eth_ip = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1",
                                                                          dst="10.0.0.2")
    name = b"\x04host\x05local\x00"
    record = name + b"\x00\x01%b\x00\x00\x00\x78\x00\x04\x0a\x00\x00\x09"
    response = b"\x00\x00\x84\x00\x00\x00\x00\x01\x00\x00\x00\x00"
    query = b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00"
    mdns, dns = UDP(sport=5353, dport=5353), UDP(sport=3000, dport=53)
    frames = [
        eth_ip / mdns / Raw(query + name + b"\x00\x0c\x00\x01"),            # (QM)
        eth_ip / mdns / Raw(query + name + b"\x00\x0c\x80\x01"),            # (QU)
        eth_ip / mdns / Raw(response + record % b"\x80\x01"),                # (Cache flush) A
        eth_ip / mdns / Raw(response + record % b"\x80\x03"),                # CHAOS (Cache flush)
        eth_ip / dns / Raw(response + record % b"\x00\x03"),                 # CHAOS A
        eth_ip / dns / Raw(query + name + b"\x00\x10\x00\x03"),            # TXT CHAOS?
        eth_ip / dns / Raw(query + name + b"\x00\x01\x00\x09"),            # A (Class 9)?
        eth_ip / UDP(sport=53, dport=3000) / DNS(id=5, qr=1, qd=[DNSQR(qname="a.example"),
                                                             DNSQR(qname="a.example",
                                                                   qtype="AAAA")]),
        eth_ip / dns / Raw(b"\x00\x01\x01"),                               # domain [length 3 < 12]
        eth_ip / dns / Raw(query + name[:6]),                                 # name cut: [|domain]
        eth_ip / dns / Raw(query + name + b"\x00\x01"),                      # class cut: [|domain]
        eth_ip / TCP(sport=3000, dport=53, flags="PA") / Raw(b"\x00"),       # DNS over TCP < 2
        eth_ip / dns / Raw(query + b"\xc0\x0c\x00\x01\x00\x01"),             # pointer to itself
        eth_ip / dns / Raw(query + b"\x03abc\xc0\x20\x00\x01\x00\x01\x03xyz\x00"),  # forward
        eth_ip / UDP(sport=53, dport=3000) / Raw(                         # CNAME's forward pointer
            b"\x00\x15\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x01c\x07example\x00\x00\x05\x00\x01"
            b"\xc0\x0c\x00\x05\x00\x01\x00\x00\x00\x3c\x00\x02\xc0\x30"),
        eth_ip / UDP(sport=53, dport=3000) / Raw(                         # an A record cut short
            b"\x00\x16\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00\x01c\x07example\x00\x00\x01\x00\x01"
            b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\x0a\x00"),
        *(eth_ip / UDP(sport=123, dport=123) / Raw(bytes([0x18 | mode]) + bytes(47))
          for mode in range(8)),
        eth_ip / UDP(sport=40000, dport=123) / Raw(b"\x16\x02\x00\x01" + bytes(8)),
        eth_ip / TCP(sport=3000, dport=80, flags="PA") / Raw(b"GET /cut HTTP/1.1"),
    ]
    wrpcap(str(pcap), frames)
    theirs, differ = _compare_printing(pcap)
    assert differ == [], "\n".join(f"tcpdump: {a}\nringcap: {b}" for a, b in differ)
    text = "\n".join(theirs)
    for shown in ("PTR (QM)? host.local.", "PTR (QU)? host.local.", "(Cache flush) A 10.0.0.9",
                  "CHAOS (Cache flush) A", " 1/0/0 CHAOS A ", "TXT CHAOS? ", "A (Class 9)? ",
                  "[2q], 0/0/0", "domain [length 3 < 12] (invalid)", "1+ [|domain]",
                  "[DNS over TCP: length 1 < 2] (invalid)", "A? <BAD PTR> [|domain]",
                  "A? abc.<BAD PTR> [|domain]", "1/0/0 CNAME <BAD PTR> [|domain]",
                  "22 1/0/0 A [|domain]",
                  "symmetric active",
                  "NTPv3, unspecified", "NTPv3, Reserved", "NTPv2, Control Message, length 12",
                  "HTTP: GET /cut HTTP/1.1 [|http]"):
        assert shown in text, shown


def _packets(lines: list[str]) -> list[list[str]]:
    # -v spreads a packet over lines: each starts with its timestamp
    packets: list[list[str]] = []
    for line in lines:
        if line[:2].isdigit() and line[2:3] == ":" or not packets:
            packets.append([])
        packets[-1].append(line)
    return packets


def _compare_verbose(pcap, flag: str, skip_ports=()) -> tuple[list[str], list]:
    theirs = _packets(_lines("tcpdump", "-nn", flag, "-r", str(pcap)))
    ours = _packets(_lines(sys.executable, "-m", "ringcap", "-nn", flag, "-r", str(pcap)))
    assert len(ours) == len(theirs)
    skipped = tuple(f".{port} " for port in skip_ports) + tuple(f".{port}:" for port in skip_ports)
    differ = [(a, b) for a, b in zip(theirs, ours)
              if a != b and not any(port in "\n".join(a) for port in skipped)]
    return [line for packet in theirs for line in packet], differ


def test_printed_lines_are_tcpdumps_under_v_and_vv_on_the_recorded_traffic(recorded):
    # Issue 21: DNS (answers' owner names, -vv's q:/ns:/ar: sections and EDNS
    # options), HTTP (every header line), NTP and DHCP (their lines of detail)
    # as tcpdump -v prints them
    for flag, shown in (("-v", (" www.example.test. A 10.0.0.1 ", "\tHost: 127.0.0.1:8080",
                                "\tUser-Agent: ringcap-test/1.0 (app columns)",
                                ", length: ", "\t  Transmit Timestamp:   ",
                                "\t  Client-Ethernet-Address 02:42:ac:11:00:07",
                                "\t    DHCP-Message (53), length 1: ", "\t  Your-IP 192.168.7.42")),
                        ("-vv", (" q: A? www.example.test. 1/0/", " ar: . OPT UDPsize=1232 [COOKIE ",
                                 "\tHost: Web.Example.Test:8080"))):
        theirs, differ = _compare_verbose(recorded, flag)
        assert differ == [], "\n".join(f"tcpdump: {a}\nringcap: {b}" for a, b in differ[:5])
        text = "\n".join(theirs)
        for line in shown:
            assert line in text, (flag, line)


def test_verbose_dns_and_http_lines_are_tcpdumps_on_built_messages(tmp_path):
    """EDNS options (a client and server cookie, padding, NSID, expire, an unknown
    code), the DO bit, SOA's data under -v, -vv's authority and additional sections of
    responses and queries, mDNS, TTLs under -vvv, HTTP headers with LF or CRLF line
    ends, a last line without its end, binary after the head, and -v's message cut
    before its first answer ("1/2/2  [|domain]", two spaces as tcpdump)."""
    from scapy.layers.dns import DNSRROPT, DNSRRSOA, EDNS0TLV
    pcap = tmp_path / "verbose.pcap"
    eth_ip = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1",
                                                                          dst="10.0.0.2")
    query, reply = UDP(sport=3000, dport=53), UDP(sport=53, dport=3000)
    frames = [
        eth_ip / query / DNS(id=1, qd=DNSQR(qname="a.example"), ar=DNSRROPT(
            rclass=4096, z=0x8000, rdata=[EDNS0TLV(optcode=10, optdata=bytes(range(24)))])),
        eth_ip / query / DNS(id=2, qd=DNSQR(qname="a.example"), ar=DNSRROPT(rclass=1232, rdata=[
            EDNS0TLV(optcode=12, optdata=bytes(20)), EDNS0TLV(optcode=3, optdata=b""),
            EDNS0TLV(optcode=9, optdata=b"\0\0\1\0"), EDNS0TLV(optcode=99, optdata=b"ab"),
            EDNS0TLV(optcode=11, optdata=b"\1\3"), EDNS0TLV(optcode=14, optdata=b"\0\1\0\2"),
            EDNS0TLV(optcode=15, optdata=b"\0\x0e"), EDNS0TLV(optcode=16, optdata=b"\1\2")])),
        eth_ip / reply / DNS(id=3, qr=1, aa=1, ra=1, qd=DNSQR(qname="example", qtype="SOA"),
                             an=DNSRRSOA(rrname="example", mname="ns.example", rname="admin.example",
                                         serial=7, refresh=3600, retry=600, expire=86400,
                                         minimum=60, ttl=3723)),
        eth_ip / reply / DNS(id=4, qr=1, qd=DNSQR(qname="x.example"),
                             an=DNSRR(rrname="x.example", rdata="10.1.1.1", ttl=90061),
                             ns=[DNSRR(rrname="example", type="NS", rdata="ns1.example"),
                                 DNSRR(rrname="example", type="NS", rdata="ns2.example")],
                             ar=[DNSRR(rrname="ns1.example", rdata="10.9.9.9"), DNSRROPT(rclass=512)]),
        eth_ip / reply / DNS(id=5, qr=1, rcode=3, qd=DNSQR(qname="nx.example"),
                             ns=DNSRRSOA(rrname="example", mname="ns.example", rname="h.example")),
        eth_ip / query / DNS(id=6, qd=DNSQR(qname="u.example"), an=DNSRR(rrname="u.example",
                                                                        rdata="1.2.3.4"),
                             ns=DNSRR(rrname="u.example", type="TXT", rdata="hi")),
        eth_ip / UDP(sport=5353, dport=5353) / DNS(
            id=0, qr=1, aa=1, an=DNSRR(rrname="h.local", rclass=0x8001, rdata="10.0.0.9", ttl=120),
            ar=DNSRR(rrname="h.local", type="AAAA", rclass=0x8001, rdata="fe80::1")),
    ]
    frames += [eth_ip / TCP(sport=3000 + i, dport=80, flags="PA", seq=1, ack=1) / Raw(head)
               for i, head in enumerate([
                   b"GET / HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n",
                   b"HTTP/1.0 200 OK\r\nServer: s\r\n\r\nbody\x00\x01",
                   b"GET /a HTTP/1.1\r\nHost: x", b"GET /a HTTP/1.1\r\nHost: x\r",
                   b"POST /p HTTP/1.1\nA: b\n\nx=1", b"GET /\r\nX:\ty\r\n\r\n"])]
    records = [(bytes(f), len(f)) for f in frames]
    records.append((bytes(frames[3])[:69], len(frames[3])))     # cut before its first answer
    with open(pcap, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for data, wire in records:
            f.write(struct.pack("<IIII", 1, 0, len(data), wire) + data)
    text = ""
    for flag in ("-v", "-vv", "-vvv"):
        theirs, differ = _compare_verbose(pcap, flag)
        assert differ == [], "\n".join(f"tcpdump: {a}\nringcap: {b}" for a, b in differ[:5])
        text += "\n".join(theirs)
    for shown in ("[COOKIE 0001020304050607 08090a0b0c0d0e0f1011121314151617]", "UDPsize=4096 DO",
                  "[PADDING (20),NSID,EXPIRE 256 sec,Opt99 6162,KEEPALIVE 25.9 sec,KEY-TAG 1 2,"
                  "Opt15 000e,CLIENT-TAG 0102]", "ns.example. admin.example. 7 3600",
                  " ns: example. NS ns1.example., example. NS ns2.example. ar:",
                  "h.local. [2m] A 10.0.0.9", "[1d1h1m1s] A 10.1.1.1",
                  "\tUser-Agent: t", "\tHost: x [|http]", "\tA: b", "4- 1/2/2  [|domain]"):
        assert shown in text, shown


def test_verbose_ntp_lines_are_tcpdumps_whatever_the_fields(tmp_path):
    """NTP under -v: every mode (time messages, control messages, the reserved
    mode), leap indicators, strata (unspecified, a primary reference's name,
    INFO_QUERY/INFO_REPLY, reserved), polls out of range, negative precision,
    zero and far stamps (tcpdump dates them all from 1900), deltas of either
    sign, key ids and digests, extra bytes, messages too short."""
    rng = random.Random(21)

    def stamp():
        kind = rng.random()
        if kind < 0.15:
            return bytes(8)
        if kind < 0.3:
            return struct.pack("!II", rng.choice([0x80000000, 0x7FFFFFFF, 0xFFFFFFFF, 1, 2208988800]),
                               rng.getrandbits(32))
        return struct.pack("!II", rng.getrandbits(32), rng.getrandbits(32))
    frames = []
    eth_ip = Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.1",
                                                                          dst="10.0.0.2")
    for _ in range(300):
        mode = rng.randrange(8)
        first = rng.choice([0, 0x40, 0x80, 0xC0]) | (rng.randrange(8) << 3) | mode
        if mode == 6:
            body = bytes([first, rng.getrandbits(8)]) + struct.pack(
                "!HHHHH", rng.getrandbits(16), rng.choice([0, rng.getrandbits(16)]), rng.getrandbits(16),
                rng.getrandbits(16), rng.choice([0, 4, 100])) + bytes(rng.choice([0, 4, 8]))
        else:
            body = bytes([first, rng.choice([0, 1, 2, 15, 16, 62, 63, 200]),
                          rng.choice([0, 6, 17, 31, 32, 127, 0xFF, 0xE1, 0xE0, 0x80]), rng.getrandbits(8)])
            body += struct.pack("!HHHH", *(rng.getrandbits(16) for _ in range(4)))
            body += rng.choice([b"GPS\0", b"\x01\x80\x7fA", struct.pack("!I", rng.getrandbits(32))])
            body += stamp() + stamp() + stamp() + stamp()
            body += bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 0, 4, 20, 24, 12])))
            body = body[:rng.choice([len(body)] * 8 + [47, 20, 1])]
        frames.append(eth_ip / UDP(sport=123, dport=rng.choice([123, 40000])) / Raw(body))
    pcap = tmp_path / "ntp.pcap"
    wrpcap(str(pcap), frames)
    for flag in ("-v", "-vv"):
        theirs, differ = _compare_verbose(pcap, flag)
        assert differ == [], "\n".join(f"tcpdump: {a}\nringcap: {b}" for a, b in differ[:5])
    text = "\n".join(theirs)
    for shown in ("Leap indicator: clock unsynchronized (192)", "Reference-ID: GPS^@", " INFO_QUERY",
                  "(1900-01-01T00:00:01Z)", "Originator - Receive Timestamp:  -", "\tKey id: ",
                  "\tAuthentication: ", "more bytes after the header)", "TO-BE-DONE", " (invalid)",
                  "poll -32, precision", "(1/2s)"):
        assert shown in text, shown


def test_verbose_dhcp_lines_are_tcpdumps_on_built_messages(tmp_path):
    """BOOTP/DHCP under -v and -vv: every message type and an unknown one, long
    Parameter-Request lists (named, unknown, PAD and END inside), every data
    format (addresses, pairs, signed and unsigned words, shorts, booleans, bytes,
    text with control and high bytes), unknown options by their length, Client-ID
    and FQDN, the overload option with sname and file text (one without its NUL),
    pad options, an option whose length runs past the message, trailing data,
    replies with every address field, other hardware types, hops, secs, the
    broadcast flag, a vendor area without the cookie.  What ringcap does not print
    as tcpdump does keeps the generic line (checked below), never a half-right one."""
    rng = random.Random(67)
    eth_ip = Ether(src="02:00:00:00:00:01", dst="ff:ff:ff:ff:ff:ff") / IP(src="0.0.0.0",
                                                                          dst="255.255.255.255")
    mac = bytes.fromhex("020000000001")
    some = [(1, b"\xff\xff\xff\x00"), (2, b"\xff\xff\xff\xf0"), (3, b"\x0a\0\0\1\x0a\0\0\2"),
            (6, b"\x08\x08\x08\x08"), (12, b"host\x01\xff"), (13, b"\x00\x10"), (15, b"example"),
            (19, b"\x00\x01\x02"), (21, b"\x0a\0\0\0\xff\0\0\0"), (23, b"\x40"), (33, bytes(8)),
            (43, b"\x01\x02\x03"), (46, b"\x08"), (50, b"\x0a\0\0\5"), (51, b"\0\0\x0e\x10"),
            (52, b"\x03"), (54, b"\x0a\0\0\1"), (57, b"\x05\xdc"), (58, b"\0\0\7\x08"),
            (60, b"MSFT 5.0"), (61, b"\x01" + mac), (61, b"\x00id"), (61, b"\x63\x01\x02"),
            (81, b"\x05\x00\x00h.example"), (81, b"\x00\x01\x02"), (93, b"\x00\x07"),
            (116, b"\x01"), (200, b"abc"), (201, b"abcd"), (202, b"ab"), (203, b""), (1, b"\xff\xff\xff"),
            (3, b""), (31, b"\x05")]
    frames = []
    for kind in range(1, 10):
        options = [("message-type", kind), (55, bytes(rng.sample(range(256), 30)))]
        options += some[4 * kind - 4:4 * kind] + rng.sample(some, 4) + ["pad"] * rng.randrange(3) + ["end"]
        frames.append(eth_ip / UDP(sport=68, dport=67) / BOOTP(
            chaddr=mac, xid=rng.getrandbits(32), secs=rng.choice([0, 3])) / DHCP(options=options))
    frames += [
        eth_ip / UDP(sport=67, dport=68) / BOOTP(
            op=2, htype=6, hlen=4, hops=2, secs=3, flags=0x8000, ciaddr="1.2.3.4", yiaddr="5.6.7.8",
            siaddr="9.9.9.9", giaddr="8.8.8.8") / DHCP(options=[("message-type", 5), "end"]),
        eth_ip / UDP(sport=68, dport=67) / BOOTP(chaddr=mac, hlen=8, sname=b"srv\x01\xc1",
                                                 file=b"boot/pxe") / DHCP(options=[(52, b"\x01"), "end"]),
        eth_ip / UDP(sport=68, dport=67) / BOOTP(chaddr=mac, file=b"f" * 128) / DHCP(options=["end"]),
        eth_ip / UDP(sport=68, dport=67) / BOOTP(chaddr=mac, options=b"") / Raw(
            b"\x63\x82\x53\x63\x35\x01\x03\x0c\x20abc"),                    # Hostname runs past the end
        eth_ip / UDP(sport=68, dport=67) / BOOTP(chaddr=mac, options=b"") / Raw(b"\x63\x82\x53\x63\x35"),
        eth_ip / UDP(sport=68, dport=67) / BOOTP(chaddr=mac, options=b"\0\0\0\x01"),
        eth_ip / UDP(sport=68, dport=67) / BOOTP(chaddr=mac, options=b"\0\0\0\0"),
        # the generic line: the vendor area of CMU, a relay agent's option
        eth_ip / UDP(sport=68, dport=67) / BOOTP(chaddr=mac, options=b"CMU\0" + bytes(60)),
        eth_ip / UDP(sport=68, dport=67) / BOOTP(chaddr=mac) / DHCP(
            options=[("message-type", 1), (82, b"\x01\x02ab"), "end"]),
    ]
    pcap = tmp_path / "dhcp.pcap"
    wrpcap(str(pcap), frames)
    text = ""
    for flag in ("-v", "-vv"):
        theirs = _packets(_lines("tcpdump", "-nn", flag, "-r", str(pcap)))
        ours = _packets(_lines(sys.executable, "-m", "ringcap", "-nn", flag, "-r", str(pcap)))
        assert len(ours) == len(theirs) == len(frames)
        assert ours[:-2] == theirs[:-2], "\n".join(
            f"tcpdump: {a}\nringcap: {b}" for a, b in zip(theirs[:-2], ours[:-2]) if a != b)
        for packet in ours[-2:]:
            assert re.search(r": (\[udp sum ok\] )?UDP, length \d+$", packet[1]) and len(packet) == 2, packet
        text += "\n".join(line for packet in theirs for line in packet)
    for shown in ("DHCP-Message (53), length 1: Inform", "DHCP-Message (53), length 1: Unknown (9)",
                  "\t      ", "Unknown (203), length 0", "Time-Zone (2), length 4: -16",
                  "IPF (19), length 3: N,Y,2?", "PF (21), length 8: (10.0.0.0:255.0.0.0)",
                  "Hostname (12), length 6: \"host^AM-^?\"", "Client-ID (61), length 7: ether 02:00",
                  "hardware-type 99, 01:02", "FQDN (81), length 12: [SE] \"h.example\"",
                  "FQDN (81), length 3: 1/2 \"\"", "OO (52), length 1: file+sname",
                  "\t  sname \"srv^AM-A\"", "\t  file \"boot/pxe\"", "\" [|bootp]",
                  "Hostname (12), length 32:  [|bootp]", "\t  trailing data length 3",
                  ", htype 6, hlen 4, hops 2, secs 3, Flags [Broadcast] (0x8000)",
                  "\t  Gateway-IP 8.8.8.8", "\t  Vendor-#0x1", ", hlen 8"):
        assert shown in text, shown


# ---------------------------------------------------------------- stats and top
def test_stats_counts_the_top_names_as_decode_does(recorded):
    import json
    document = json.loads("\n".join(_lines(sys.executable, "-m", "ringcap", "stats", "--json",
                                           "--top", "50", recorded)))
    h = decode(read_pcap(recorded), columns=ALL_APP)
    queries = (h.app_proto == APP_PROTOCOLS["dns"]) & (h.dns_qr == 0)
    expected = {}
    for name in h.dns_qname[queries]:
        expected[name] = expected.get(name, 0) + 1
    names = document["names"]
    assert {r["name"]: r["count"] for r in names["dns_query"]} == expected
    assert {r["name"]: r["count"] for r in names["tls_sni"]} == {
        "tls13.example.test": 1, "tls12.example.test": 1}
    assert {r["name"]: r["count"] for r in names["http_host"]} == {
        "127.0.0.1": 2, "web.example.test": 1}
    text = "\n".join(_lines(sys.executable, "-m", "ringcap", "stats", recorded))
    section = text.split("Top names (top 10)")[1]
    for name in ("www.example.test", "tls13.example.test", "web.example.test"):
        assert name in section


def test_top_by_server_name_sums_the_flows_that_named_each_server(recorded):
    lines = _lines(sys.executable, "-m", "ringcap", "top", "-r", recorded, "--by", "server_name",
                   "--rows", "50")
    shown = {}
    for line in lines:
        cells = [c.strip() for c in line.strip().strip("│┃").split("│")]
        if len(cells) == 7 and cells[1].isdigit():
            shown[cells[0]] = (int(cells[1]), int(cells[2]), int(cells[3]))
    records = ringcap.flow_features(read_pcap(recorded))
    expected = {}
    for k in range(len(records)):
        name = records.server_name[k]
        if name is not None:
            f, p, b = expected.get(name, (0, 0, 0))
            expected[name] = (f + 1, p + int(records.bidirectional_packets[k]),
                              b + int(records.bidirectional_bytes[k]))
    assert shown == expected and "tls12.example.test" in shown


# ---------------------------------------------------------------- against nfstream
def test_server_name_is_nfstreams_requested_server_name_per_flow(recorded):
    """Flow by flow (5-tuple of the first packet), ``server_name`` is nfstream's
    ``requested_server_name`` (nDPI, all dissections on) on the same pcap: TLS SNI,
    HTTP Host without its port, DNS query name lower-cased, nothing for NTP or a bare
    TCP connect.  One difference by design: nDPI names a DHCP flow by the client's
    hostname option (12); ringcap's server_name names servers only, so a DHCP flow has
    none, and its hostname stays in decode's ``dhcp_hostname`` (docs/flows.md)."""
    import nfstream

    batch = read_pcap(recorded)
    records = ringcap.flow_features(batch)
    theirs = nfstream.NFStreamer(source=recorded, n_dissections=20,
                                 statistical_analysis=False).to_pandas()
    ours = {(src, int(sp), dst, int(dp), int(proto)): name for src, sp, dst, dp, proto, name in
            zip(records.ip_src_str(), records.sport, records.ip_dst_str(), records.dport,
                records.ip_proto, records.server_name)}
    nf = {(row.src_ip, int(row.src_port), row.dst_ip, int(row.dst_port), int(row.protocol)):
          (None if not isinstance(row.requested_server_name, str) or not row.requested_server_name
           else row.requested_server_name) for row in theirs.itertuples()}
    assert set(ours) == set(nf)
    h = decode(batch, columns=("sport", "dport") + ALL_APP)
    dhcp_hostnames = {int(h.sport[i]): h.dhcp_hostname[i]
                      for i in np.flatnonzero(h.app_proto == APP_PROTOCOLS["dhcp"])
                      if h.dhcp_hostname[i]}
    differ = {key: (ours[key], nf[key]) for key in ours if ours[key] != nf[key]}
    assert differ == {("127.0.0.1", 68, "127.0.0.1", 67, 17): (None, dhcp_hostnames[68])}
    assert dhcp_hostnames[68] == "lab-host-7"
    named = {name for name in ours.values() if name}
    assert {"www.example.test", "v6.example.test", "nx.example.test", "mixed.case.example.test",
            "127.0.0.1", "web.example.test", "tls13.example.test", "tls12.example.test"} == named
    # the TCP DNS flow, the HTTP flows and both TLS versions are among the equal ones
    assert sum(1 for key, name in ours.items() if name and name == nf[key]) >= 12
