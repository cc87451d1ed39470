"""The header pass's list of the packets that may carry an application message.

When application columns are asked for, ``decode``'s header pass lists the
packets that may carry a message (by their ports and their payload's first
bytes, read while the packet is in cache: a TLS hello, an HTTP head or a
QUIC Initial as the decoders take them) and the application pass visits
only those (docs/decode.md, "Application columns").  The list must never
drop a message: on traffic of real programs (tests/recorded.py's full
recording: ping, dig, curl over HTTP/1.1 and TLS, iperf3 TCP and UDP, whose
random payloads start with every byte), on synthetic traffic, on built
messages on every port pairing, cut before, at and after their payload's
first byte, in tunnels, VLANs and fragments, and on random payloads and real
messages with bytes changed (hypothesis), every application column and
APP_* flag is what the application pass gives looking at every packet (the
rule as it was before the list), and what each packet gives alone.  And
the list is short: random payloads are listed one in thousands, not one in
ten as by their first byte alone.
"""
from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.dns import DNS, DNSQR
from scapy.layers.inet import IP, TCP, UDP, fragment
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import GRE, Dot1Q, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

import ringcap
from ringcap import Batch, _decode, appcolumns, decode, read_pcap
from ringcap.appcolumns import NEEDED_HEADER_COLUMNS, StringColumn
from ringcap.headers import FIVE_TUPLE_COLUMNS, HeadersBuffer
from ringcap.testing import _ipv4_frame, _tcp, _udp, named_traffic, synthetic_traffic

from test_app_decode import ALL_APP, _relinked, built_messages
from test_tls_hello import RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL

# The column groups asked for: the list depends on the protocols they need.
GROUPS = {
    "all": ALL_APP,
    "app_proto": ("app_proto",),
    "names": ("dns_qname", "tls_sni", "http_host"),
    "dns": tuple(n for n in ALL_APP if n.startswith("dns_")),
    "http": ("http_status",),
    "tls": ("tls_sni", "tls_ja4"),
    "quic": ("quic_version",),
    "dhcp": ("dhcp_hostname",),
    "ntp": ("ntp_mode",),
    "dns+ntp": ("dns_qtype", "ntp_stratum"),
}
APP_BITS = appcolumns.APP_MALFORMED | appcolumns.APP_TRUNCATED


@pytest.fixture(scope="module")
def recorded_all(netns, tmp_path_factory):
    """Every program of tests/recorded.py, recorded in the session's namespace."""
    import recorded
    missing = recorded.missing_tools()
    if missing:
        pytest.fail(f"recording needs {missing} (.ci/apt-packages)")
    return recorded.record(tmp_path_factory.mktemp("candidates") / "all.pcap")


_TOKEN = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ-"
QUIC_VERSIONS = {1, 0x6B3343CF} | set(range(0xFF00001D, 0xFF000023))


def starts_message_on_no_port(payload: bytes, tcp: bool) -> bool:
    """The header pass's rule, written out again: whether a payload (captured
    bytes) on no port of DNS, DHCP or NTP is listed with every protocol
    asked for.  TCP: a TLS handshake record (SSL 3.0 to TLS 1.3) carrying a
    hello, or four bytes that may begin an HTTP/1.x head (a method of A-Z and
    '-' then a space, or "HTTP"); UDP: a QUIC long header of a known version
    from 1200 bytes on."""
    if tcp:
        return (len(payload) >= 6 and payload[0] == 22 and payload[1] == 3 and payload[2] <= 4
                and payload[5] in (1, 2)) or (
            len(payload) >= 4 and 0x41 <= payload[0] <= 0x5A and payload[1] in _TOKEN
            and payload[2] in _TOKEN and (payload[3] in _TOKEN or payload[3] == 0x20))
    return len(payload) >= 1200 and payload[0] >= 0xC0 \
        and int.from_bytes(payload[1:5], "big") in QUIC_VERSIONS


def _payload_start(frame: bytes) -> int:
    """Where the TCP/UDP payload starts in a built Ethernet frame."""
    packet = Ether(frame)
    layer = packet[TCP] if TCP in packet else packet[UDP]
    return len(frame) - len(bytes(layer.payload))


def built_frames() -> tuple[list[bytes], list[int], list[int]]:
    """(frames, caplen, payload start): every built message on every port
    pairing of the application ports (and others), over TCP and UDP, each
    whole and cut one byte before its payload, at it (nothing of it captured)
    and after its first byte; then tunnelled, tagged and fragmented messages
    (payload start 0: not given)."""
    payloads = [bytes(f[UDP].payload) if UDP in f else bytes(f[TCP].payload)
                for f in map(Ether, built_messages())]
    payloads += [RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL,
                 b"\x17\x03\x03\x00\x05hello", b"\x40" + bytes(1299), b"\xc0" + bytes(1299),
                 b"ZZZZ", b"@", b"[", b"\x16"]
    ports = (53, 5353, 5355, 67, 68, 123, 443, 80, 3000)
    frames, caplen, starts = [], [], []
    ip = Ether() / IP(src="10.0.0.1", dst="10.0.0.2")
    for payload in payloads:
        for sport in ports:
            for dport in ports:
                for transport in (UDP(sport=sport, dport=dport),
                                  TCP(sport=sport, dport=dport, flags="PA")):
                    frame = bytes(ip / transport / Raw(payload))
                    start = _payload_start(frame)
                    for cut in (start - 1, start, start + 1, len(frame)):
                        frames.append(frame)
                        caplen.append(cut)
                        starts.append(start)
    question = DNS(id=9, rd=1, qd=DNSQR(qname="inner.example", qtype="A"))
    hello = payloads[8]                                   # a TLS 1.3 ClientHello
    others = [
        Ether() / IP() / UDP(sport=40000, dport=4789) / VXLAN(vni=7) / Ether() / IP()
        / UDP(sport=3000, dport=53) / question,
        Ether() / IP() / GRE() / IP() / TCP(sport=3000, dport=443, flags="PA") / Raw(hello),
        Ether() / Dot1Q(vlan=5) / Dot1Q(vlan=6) / IP() / UDP(sport=53, dport=3000) / question,
        Ether() / IPv6() / TCP(sport=3000, dport=8080, flags="PA") / Raw(b"GET / HTTP/1.1\r\n\r\n"),
        Ether() / IPv6() / UDP(sport=3000, dport=53) / question,
    ]
    others += fragment(Ether() / IP() / UDP(sport=3000, dport=53)
                       / DNS(id=3, qd=DNSQR(qname="f" * 60 + ".example")), fragsize=48)
    for packet in others:
        frames.append(bytes(packet))
        caplen.append(len(frames[-1]))
        starts.append(0)
    return frames, caplen, starts


def _batch(frames: list[bytes], caplen: list[int]) -> Batch:
    data, offset = bytearray(), []
    for frame, cut in zip(frames, caplen):
        offset.append(len(data))
        data += frame[:cut] + b"\xee" * 3          # bytes past caplen that must not count
    return Batch(ts=np.zeros(len(frames)), caplen=caplen, offset=offset,
                 wirelen=[len(f) for f in frames], data=np.frombuffer(bytes(data), np.uint8))


def _every_packet_looked_at(batch: Batch, names, tunnels: str = "inner") -> dict:
    """The application pass over every packet (no list from the header pass)."""
    h = decode(batch, columns=NEEDED_HEADER_COLUMNS, tunnels=tunnels)
    columns = {name: getattr(h, name).copy() for name in NEEDED_HEADER_COLUMNS}
    return appcolumns.decode_app(batch, columns, set(names))[0]


def _assert_same(got, want, names, where: str) -> None:
    for name in names:
        a, b = got[name], want[name]
        if isinstance(b, StringColumn):
            assert np.array_equal(a.offsets, b.offsets) and np.array_equal(a.data, b.data), \
                (where, name)
        else:
            np.testing.assert_array_equal(a, b, err_msg=f"{where}: {name}")
    np.testing.assert_array_equal(got["flags"] & APP_BITS, want["flags"] & APP_BITS,
                                  err_msg=f"{where}: APP_* flags")


# The columns of a flow meter (ringcap.flowmeter) with names: the 5-tuple path
# decodes them, and lists the packets itself.
FLOW_COLUMNS = FIVE_TUPLE_COLUMNS + ("tcp_flags", "tcp_seq", "payload_len",
                                             "payload_offset", "tunnel_type", "tunnel_id",
                                             "vlan_outer", "vlan_inner")


def _listed(batch: Batch, names, columns=NEEDED_HEADER_COLUMNS) -> np.ndarray:
    """The packets the header pass lists for the application columns ``names``,
    decoding the header ``columns``."""
    ports, rule, rows = appcolumns.app_selection(set(names), len(batch))
    out = {name: np.zeros((len(batch), width) if width > 1 else len(batch), dtype=f"u{size}")
           for name, size, width in _decode.COLUMN_LAYOUT if name in columns}
    arrays = [np.ascontiguousarray(getattr(batch, name), dtype=dtype) for name, dtype in (
        ("data", np.uint8), ("offset", np.int64), ("caplen", np.uint32), ("wirelen", np.uint32),
        ("status", np.uint32), ("vlan_tci", np.uint16), ("vlan_tpid", np.uint16))]
    count = _decode.decode_into(*arrays, out, False,
                                np.ascontiguousarray(batch.linktype, dtype=np.uint16),
                                ports, rule, rows)
    return rows[:count]


def _check(batch: Batch, where: str) -> int:
    """Every group decodes as the pass looking at every packet; returns the messages."""
    found = 0
    for group, names in GROUPS.items():
        for tunnels in ("inner", "outer"):
            want = _every_packet_looked_at(batch, names, tunnels)
            got = decode(batch, columns=("flags",) + names, tunnels=tunnels)
            _assert_same(got, want, names, f"{where}, {group}, tunnels={tunnels}")
        reused = HeadersBuffer(("flags",) + names).decode(batch)
        _assert_same(reused, _every_packet_looked_at(batch, names), names, f"{where}, {group}, "
                     "HeadersBuffer")
        # with a flow meter's columns the 5-tuple path lists the packets: the same list
        np.testing.assert_array_equal(_listed(batch, names, FLOW_COLUMNS), _listed(batch, names),
                                      err_msg=f"{where}, {group}: the 5-tuple path's list")
        flow = HeadersBuffer(FLOW_COLUMNS + names).decode(batch)
        _assert_same(flow, _every_packet_looked_at(batch, names), names,
                     f"{where}, {group}, with the flow columns")
        if group == "all":
            found = int(np.count_nonzero(got["app_proto"]))
    return found


def test_the_list_drops_no_message_of_real_programs(recorded_all):
    """On the full recording (its iperf3 payloads are random: their first bytes
    made TLS, HTTP and QUIC candidates that are not messages; a few in a
    thousand packets may still be listed), on the same
    packets as raw IP, cooked v2 and NULL frames in one batch of mixed link
    types, and on each packet alone (a batch of 1), every group of columns is
    what the pass gives looking at every packet."""
    eth = read_pcap(recorded_all)
    assert len(eth) > 1000
    assert _check(eth, "recorded") >= 20
    listed = _listed(eth, ALL_APP)
    apps = decode(eth, columns=("app_proto",)).app_proto
    assert set(np.flatnonzero(apps)) <= set(listed.tolist())
    # iperf3's random payloads are not looked at again (by their first byte
    # alone, one TCP segment in ten and a quarter of the large datagrams were)
    without = set(listed.tolist()) - set(np.flatnonzero(apps).tolist())
    assert len(without) <= len(eth) // 1000, sorted(without)[:20]
    ip = [i for i in range(len(eth)) if bytes(eth[i][12:14]) in (b"\x08\x00", b"\x86\xdd")]
    mixed = []
    for k, name in enumerate(("RAW", "LINUX_SLL2", "NULL", "ETHERNET")):
        number = getattr(ringcap.batch, f"LINKTYPE_{name}")
        part = ip[k::4]
        frames = [bytes(eth[i]) for i in part]
        if name != "ETHERNET":
            frames = _relinked(frames, number)
        mixed.append(Batch.from_packets(frames, ts=eth.ts[part], linktype=number))
    assert _check(Batch.concat(mixed), "mixed link types") >= 20
    whole = decode(eth, columns=ALL_APP + ("flags",))
    for i in range(len(eth)):
        alone = decode(eth[i:i + 1], columns=ALL_APP + ("flags",))
        for name in ALL_APP:
            a, b = alone[name], whole[name]
            if isinstance(a, StringColumn):
                assert a[0] == b[i], (i, name)
            else:
                assert np.array_equal(a[0], b[i]), (i, name)
        assert alone.flags[0] & APP_BITS == whole.flags[i] & APP_BITS, i


def test_the_list_drops_no_built_message_cut_anywhere_around_its_first_byte():
    """Built messages on every port pairing, cut before, at and after their
    payload's first byte (a packet whose first payload byte was not captured
    is not listed, nor one with only that byte, which starts no message a
    decoder takes; the whole ones are, when TCP content starts a TLS hello or
    an HTTP head), in VXLAN, GRE, QinQ, IPv6 and fragments: every group of columns
    as the pass looking at every packet gives, also in batches larger than
    the header pass's chunk of 128 packets with messages on its edges."""
    frames, caplen, starts = built_frames()
    batch = _batch(frames, caplen)
    assert _check(batch, "built") > 500
    listed = set(_listed(batch, ALL_APP).tolist())
    cut_before = [i for i, (cut, start) in enumerate(zip(caplen, starts)) if cut <= start]
    assert len(cut_before) > 1000 and not listed & set(cut_before)
    h = decode(batch, columns=NEEDED_HEADER_COLUMNS)
    first_byte_only = [i for i, (cut, start) in enumerate(zip(caplen, starts))
                       if cut == start + 1 and h.ip_proto[i] == 6 and h.sport[i] == 3000
                       and h.dport[i] == 443]
    starts_message = [frames[i][caplen[i] - 1] in b"\x16ABCDEFGHIJKLMNOPQRSTUVWXYZ"
                      for i in first_byte_only]
    assert sum(starts_message) >= 3 and not listed & set(first_byte_only)
    whole = [i for i, (cut, start) in enumerate(zip(caplen, starts))
             if start and cut == len(frames[i]) and h.ip_proto[i] == 6 and h.sport[i] == 3000
             and h.dport[i] == 443]
    expected = [starts_message_on_no_port(frames[i][starts[i]:], tcp=True) for i in whole]
    assert 3 <= sum(expected) < len(whole)
    assert expected == [i in listed for i in whole]
    for shift in range(0, 140, 7):          # messages on both sides of chunk edges
        _check(Batch.concat([_batch(frames[:shift], caplen[:shift]),
                             _batch(frames[shift:shift + 400], caplen[shift:shift + 400])]),
               f"shifted by {shift}")


def test_packets_that_cannot_carry_a_message_are_not_listed():
    """What the list is for: TLS application data, empty segments, UDP on other
    ports (or QUIC short headers and small datagrams) and ARP are never looked
    at again; a ClientHello, an HTTP request, DNS and a QUIC Initial are, and
    only when their protocol is asked for."""
    from ringcap import testing
    hello = next(bytes(Ether(f)[TCP].payload) for f in built_messages()[8:9])
    kinds = {
        "tls data": testing._tcp(40000, 443, b"\x17\x03\x03\x00\x03abc"),
        "ack": testing._tcp(40000, 443, b""),
        "udp other": testing._udp(40000, 9999, b"\xc0" + bytes(200)),
        "quic short": testing._udp(40000, 443, b"\x40" + bytes(1299)),
        "http body": testing._tcp(80, 40000, b"<html>" * 10),
        "hello": testing._tcp(40000, 443, hello),
        "request": testing._tcp(40000, 80, b"GET / HTTP/1.1\r\n\r\n"),
        "dns": testing._udp(40000, 53, bytes(DNS(id=1, qd=DNSQR(qname="x.example")))),
        "quic": testing._udp(40000, 443, RFC9001_CLIENT_INITIAL),
        "get on dns port": testing._tcp(40000, 53, b"GET / HTTP/1.1\r\n\r\n"),
    }
    names = list(kinds)
    frames = [testing._ipv4_frame(0x0A000001, 0x0A000002, 6 if k not in
                                  ("udp other", "quic short", "dns", "quic") else 17, kinds[k])
              for k in names]
    frames.append(bytes(Ether(type=0x0806) / Raw(bytes(28))))
    batch = Batch.from_packets(frames * 300)
    for columns, expected in (
            (ALL_APP, {"hello", "request", "dns", "quic", "get on dns port"}),
            (("tls_sni",), {"hello", "quic"}),
            (("http_host",), {"request"}),
            (("dns_qname",), {"dns", "get on dns port"}),
            (("ntp_mode",), set())):
        listed = _listed(batch, columns)
        want = [i for i in range(len(batch)) if i % len(frames) < len(names)
                and names[i % len(frames)] in expected]
        assert listed.tolist() == want, columns
    assert _listed(batch, ("dns_qname",)).dtype == np.int64


# ---------------------------------------------------------------- more than a first byte
KNOWN_PORTS = (53, 5353, 5355, 67, 68, 123)
PORTS = KNOWN_PORTS + (443, 80, 8080, 3000, 5201)


def _messages() -> list[bytes]:
    """Payloads of real messages of every kind, and of near misses."""
    payloads = [bytes(Ether(f)[UDP].payload) if UDP in Ether(f) else bytes(Ether(f)[TCP].payload)
                for f in built_messages()]
    return payloads + [RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL,
                       b"POST /a HTTP/1.0\r\nHost: p.example\r\n\r\n",
                       b"M-SEARCH * HTTP/1.1\r\n\r\n", b"HTTP/1.0 200 OK\r\n\r\n",
                       b"GET / HTTP/1.1", b"\x16\x03\x01\x00\x05\x01\x00",
                       b"\x16\x03\x03\x00\x30\x02" + bytes(0x30)]


MESSAGES = _messages()


@st.composite
def payloads(draw) -> bytes:
    """Random bytes, or a real message with a few bytes changed (most often
    among its first six, which the rule reads), cut, or extended."""
    if draw(st.integers(0, 3)) == 0:
        return draw(st.binary(max_size=1500))
    data = bytearray(draw(st.sampled_from(MESSAGES)))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    for _ in range(rng.randint(0, 4)):
        edit = rng.randrange(4)
        if edit == 0 and data:                               # one of the first bytes
            data[rng.randrange(min(6, len(data)))] = rng.choice(
                (0, 1, 2, 3, 4, 5, 0x16, 0x20, 0x2D, 0x41, 0x5A, 0x5B, 0x40, 0xC0, 0xFF,
                 rng.randrange(256)))
        elif edit == 1 and data:                             # any byte
            data[rng.randrange(len(data))] = rng.randrange(256)
        elif edit == 2:                                      # cut
            del data[rng.randrange(len(data) + 1):]
        else:                                                # grown past 1200 bytes
            data += bytes(rng.randrange(256) for _ in range(rng.randrange(1300)))
    return bytes(data)


@settings(max_examples=150, deadline=None, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(payloads(), st.sampled_from(PORTS), st.sampled_from(PORTS),
                          st.booleans(), st.integers(0, 2000)), min_size=1, max_size=40))
def test_random_and_edited_messages_decode_as_with_every_packet_looked_at(packets):
    """Random payloads and real messages with bytes changed, cut and grown, on
    application ports and others, over TCP and UDP, captured whole or cut
    anywhere: with the header pass's list every group of columns and APP_*
    flags is what the application pass gives looking at every packet; and a
    packet on no port of DNS, DHCP or NTP is listed exactly when its captured
    payload passes the rule (``starts_message_on_no_port``)."""
    frames, caplen = [], []
    for payload, sport, dport, tcp, cut in packets:
        transport = _tcp(sport, dport, payload) if tcp else _udp(sport, dport, payload)
        frames.append(_ipv4_frame(0x0A000001, 0x0A000002, 6 if tcp else 17, transport))
        caplen.append(len(frames[-1]) if cut > 1000 else min(cut, len(frames[-1])))
    batch = _batch(frames, caplen)
    _check(batch, "hypothesis")
    listed = set(_listed(batch, ALL_APP).tolist())
    for i, (payload, sport, dport, tcp, _) in enumerate(packets):
        if sport in KNOWN_PORTS or dport in KNOWN_PORTS:
            continue
        start = 14 + 20 + (20 if tcp else 8)
        captured = payload[:max(caplen[i] - start, 0)]
        assert (i in listed) == (len(captured) > 0 and starts_message_on_no_port(captured, tcp)), i


def test_named_and_random_traffic_decode_as_with_every_packet_looked_at():
    """ringcap.testing's traffic of DNS, TLS and HTTP sessions (the names
    examples and benchmarks), and its random-payload conversations on ports
    443, 53, 80 and 8080 over TCP and UDP, IPv4 and IPv6: every group of
    columns as the pass looking at every packet gives."""
    named = named_traffic(300, seed=2)
    assert _check(named, "named_traffic") == len(named)          # each packet a message
    mixed = synthetic_traffic(20_000, conversations=200, seed=5, random_payload=True)
    assert _check(mixed, "synthetic_traffic") > 1000


def test_named_traffic_of_more_sessions_than_ports_is_made_and_decoded():
    """named_traffic(20000) stopped on struct.error: the TLS/HTTP client port
    (20000 + session + 30000) passed 65535 from the 15,536th session on; the
    ports now cycle, and every message still decodes with its name."""
    from ringcap.headers import decode
    named = named_traffic(20_000, seed=3)
    h = decode(named, columns=("sport", "dport", "app_proto", "dns_qname"))
    assert len(named) > 2 * 20_000 and (h.app_proto != 0).all()
    assert int(h.sport.max()) <= 65535 and len(np.unique(h.sport[h.dport == 53])) == 15_536
    assert (h.dns_qname.lengths()[h.dport == 53] > 0).all()


def test_random_payloads_are_listed_one_in_thousands_not_one_in_ten():
    """iperf3-like traffic (random payloads on port 5201: TCP segments of 1 to
    1448 bytes, UDP datagrams of 1200 to 1448) on no application port: the
    first byte alone passes one TCP payload in ten (22 or A-Z) and a quarter
    of the datagrams (a QUIC long header's top bits); the rule, which reads
    the first six bytes as the decoders do, passes about one TCP payload in
    8,000 (four bytes that may begin an HTTP method) and no datagram.  The
    count listed is that of the rule written out again, and none of the
    packets carries a message."""
    rng = np.random.default_rng(21)
    tcp_sizes = rng.integers(1, 1449, 30_000)
    udp_sizes = rng.integers(1200, 1449, 10_000)
    payloads = [rng.bytes(int(size)) for size in tcp_sizes] \
        + [rng.bytes(int(size)) for size in udp_sizes]
    tcp = [True] * len(tcp_sizes) + [False] * len(udp_sizes)
    frames = [_ipv4_frame(0x0A000001, 0x0A000002, 6, _tcp(40000 + k % 7, 5201, payload))
              if is_tcp else
              _ipv4_frame(0x0A000001, 0x0A000002, 17, _udp(40000 + k % 7, 5201, payload))
              for k, (payload, is_tcp) in enumerate(zip(payloads, tcp))]
    batch = Batch.from_packets(frames)
    first_byte = sum(p[0] == 22 or 0x41 <= p[0] <= 0x5A if is_tcp else p[0] >= 0xC0
                     for p, is_tcp in zip(payloads, tcp))
    assert first_byte > 0.09 * 30_000 + 0.2 * 10_000            # what listing by it cost
    listed = _listed(batch, ALL_APP).tolist()
    assert listed == [i for i, (p, is_tcp) in enumerate(zip(payloads, tcp))
                      if starts_message_on_no_port(p, is_tcp)]
    assert len(listed) <= 12                                      # 3.7 expected of 30,000
    assert not any(i >= 30_000 for i in listed)
    assert not np.count_nonzero(decode(batch, columns=ALL_APP).app_proto)
