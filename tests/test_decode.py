"""Header decoding and flows, checked against dpkt on a corpus scapy builds.

scapy builds the frames, dpkt parses them independently, and every field
ringcap decodes is compared with dpkt's reading.  Then every frame is cut at
every length to check truncation flags and that complete layers still decode
the same; hypothesis throws random and mutated bytes at the decoder.  Run
these against a debug build too (docs/decode.md) to have every read checked
against caplen.
"""
from __future__ import annotations

import importlib
import ipaddress
import struct

import dpkt
import numpy as np
import pytest
from hypothesis import example, given, settings, HealthCheck
from hypothesis import strategies as st

from scapy.contrib.lldp import (LLDPDUChassisID, LLDPDUEndOfLLDPDU, LLDPDUPortID,
                                LLDPDUTimeToLive)
from scapy.layers.inet import ICMP, IP, TCP, UDP, IPOption_Router_Alert
from scapy.layers.inet6 import (ICMPv6EchoRequest, IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment,
                                IPv6ExtHdrHopByHop, IPv6ExtHdrRouting)
from scapy.layers.l2 import ARP, Dot1AD, Dot1Q, Ether
from scapy.layers.sctp import SCTP, SCTPChunkData
from scapy.packet import Raw

import ringcap
from ringcap import _decode, _text
D = importlib.import_module("ringcap.headers")   # the module; ringcap.decode is the function
from ringcap.batch import TP_STATUS_VLAN_TPID_VALID, TP_STATUS_VLAN_VALID, Batch

SRC_MAC, DST_MAC = "02:00:00:00:00:01", "02:00:00:00:00:02"


def eth(**kw):
    return Ether(src=SRC_MAC, dst=DST_MAC, **kw)


def _corpus() -> dict[str, bytes]:
    v4 = dict(src="10.1.2.3", dst="192.168.7.9", ttl=61)
    v6 = dict(src="2001:db8::1", dst="2001:db8:ffff::2", hlim=33)
    frames = {
        "ipv4_tcp_syn": eth() / IP(**v4) / TCP(sport=40000, dport=443, seq=123456789, ack=0,
                                               flags="S", window=64240,
                                               options=[("MSS", 1460), ("NOP", None)]),
        "ipv4_tcp_data": eth() / IP(**v4) / TCP(sport=40000, dport=443, seq=7, ack=99,
                                                flags="PA", window=501) / Raw(b"GET / HTTP/1.1\r\n"),
        "ipv4_options_tcp": eth() / IP(options=[IPOption_Router_Alert()], **v4)
        / TCP(sport=1, dport=2, flags="FA") / Raw(b"x" * 7),
        "ipv4_udp": eth() / IP(**v4) / UDP(sport=5353, dport=53) / Raw(b"q" * 29),
        "ipv4_icmp": eth() / IP(**v4) / ICMP(type=8, code=0, id=7, seq=1) / Raw(b"ping" * 4),
        "ipv4_icmp_unreach": eth() / IP(**v4) / ICMP(type=3, code=3) / Raw(b"\x45" + b"\0" * 27),
        "ipv4_sctp": eth() / IP(**v4) / SCTP(sport=2905, dport=2906, tag=5)
        / SCTPChunkData(data=b"sigtran"),
        "ipv4_gre_unknown_payload": eth() / IP(proto=47, **v4) / Raw(b"\0\0\x12\x34" + b"z" * 20),
        "ipv4_frag_first": eth() / IP(flags="MF", frag=0, id=9, **v4)
        / UDP(sport=1000, dport=2000, len=1008) / Raw(b"a" * 16),
        "ipv4_frag_middle": eth() / IP(flags="MF", frag=3, id=9, proto=17, **v4) / Raw(b"b" * 24),
        "ipv4_frag_last": eth() / IP(frag=6, id=9, proto=17, **v4) / Raw(b"c" * 8),
        "ipv6_tcp": eth() / IPv6(**v6) / TCP(sport=443, dport=50000, seq=1, ack=2, flags="SA",
                                              window=1000) / Raw(b"hello"),
        "ipv6_udp": eth() / IPv6(**v6) / UDP(sport=546, dport=547) / Raw(b"dhcp6"),
        "ipv6_ext_udp": eth() / IPv6(**v6) / IPv6ExtHdrHopByHop() / IPv6ExtHdrDestOpt()
        / IPv6ExtHdrRouting(addresses=["2001:db8::99"]) / UDP(sport=7, dport=9) / Raw(b"e" * 10),
        "ipv6_icmpv6": eth() / IPv6(**v6) / ICMPv6EchoRequest(id=1, seq=2, data=b"abc"),
        "ipv6_sctp": eth() / IPv6(**v6) / SCTP(sport=36412, dport=36412) / SCTPChunkData(data=b"s1ap"),
        "ipv6_frag_first": eth() / IPv6(**v6) / IPv6ExtHdrFragment(offset=0, m=1, id=77)
        / TCP(sport=80, dport=81, flags="A") / Raw(b"f" * 24),
        "ipv6_frag_next": eth() / IPv6(**v6) / IPv6ExtHdrFragment(offset=5, m=0, id=77, nh=6)
        / Raw(b"g" * 16),
        "dot1q_ipv4_udp": eth() / Dot1Q(vlan=100, prio=5) / IP(**v4) / UDP(sport=1, dport=2)
        / Raw(b"v" * 10),
        "qinq_ipv4_tcp": eth() / Dot1AD(vlan=10) / Dot1Q(vlan=20) / IP(**v4)
        / TCP(sport=22, dport=3333, flags="R"),
        "dot1q_ipv6_icmpv6": eth() / Dot1Q(vlan=4094) / IPv6(**v6) / ICMPv6EchoRequest(),
        "arp": eth() / ARP(op=1, psrc="10.0.0.1", pdst="10.0.0.2", hwsrc=SRC_MAC),
        "lldp": Ether(src=SRC_MAC, dst="01:80:c2:00:00:0e")
        / LLDPDUChassisID(subtype=4, id=SRC_MAC) / LLDPDUPortID(subtype=5, id="eth0")
        / LLDPDUTimeToLive(ttl=120) / LLDPDUEndOfLLDPDU(),
    }
    out = {name: bytes(frame) for name, frame in frames.items()}
    # Ethernet padding after a short IP packet must not count as payload.
    out["ipv4_udp_padded"] = out["ipv4_udp"][:14] + bytes(
        IP(**v4) / UDP(sport=9, dport=9) / Raw(b"p")) + b"\0" * 20
    return out


CORPUS = _corpus()


# ---------------------------------------------------------------- reference decoder
def reference(frame: bytes) -> dict:
    """What dpkt reads from a complete frame, in ringcap's column terms."""
    e = dpkt.ethernet.Ethernet(frame)
    tags = getattr(e, "vlan_tags", []) or []
    exp = {
        "eth_src": e.src, "eth_dst": e.dst, "ethertype": tags[-1].type if tags else e.type,
        "vlan_outer": tags[0].id if tags else 0,
        "vlan_inner": tags[1].id if len(tags) > 1 else 0,
        "l3_offset": 14 + 4 * len(tags),
    }
    ip = e.data
    l3 = exp["l3_offset"]
    if isinstance(ip, dpkt.ip.IP):
        exp.update(ip_version=4, ip_src=b"\0" * 10 + b"\xff\xff" + ip.src,
                   ip_dst=b"\0" * 10 + b"\xff\xff" + ip.dst,
                   ipv4_src=struct.unpack("!I", ip.src)[0],
                   ipv4_dst=struct.unpack("!I", ip.dst)[0], ip_proto=ip.p, ttl=ip.ttl,
                   ip_len=ip.len, frag_offset=ip.offset * 8,
                   more_fragments=bool(ip.mf))
        l4 = l3 + ip.hl * 4
        ip_end = l3 + ip.len
        nonfirst = exp["frag_offset"] > 0
    elif isinstance(ip, dpkt.ip6.IP6):
        frag = ip.extension_hdrs.get(44)
        exp.update(ip_version=6, ip_src=ip.src, ip_dst=ip.dst, ipv4_src=0, ipv4_dst=0,
                   ip_proto=ip.p, ttl=ip.hlim, ip_len=40 + ip.plen,
                   frag_offset=frag.frag_off * 8 if frag else 0,
                   more_fragments=bool(frag.m_flag) if frag else False)
        l4 = l3 + 40 + sum(len(bytes(h)) for h in ip.all_extension_headers)
        ip_end = l3 + 40 + ip.plen
        nonfirst = exp["frag_offset"] > 0
    else:
        return exp
    payload = ip.data
    exp["l4_offset"] = 0 if nonfirst else l4
    if nonfirst:
        exp["payload_offset"] = l4
    elif isinstance(payload, dpkt.tcp.TCP):
        exp.update(sport=payload.sport, dport=payload.dport, tcp_flags=payload.flags,
                   tcp_seq=payload.seq, tcp_ack=payload.ack, tcp_window=payload.win,
                   payload_offset=l4 + payload.off * 4)
    elif isinstance(payload, dpkt.udp.UDP):
        exp.update(sport=payload.sport, dport=payload.dport, payload_offset=l4 + 8)
        ip_end = l4 + payload.ulen     # also in a first fragment: the datagram's length
    elif isinstance(payload, dpkt.sctp.SCTP):
        exp.update(sport=payload.sport, dport=payload.dport, payload_offset=l4 + 12)
    elif isinstance(payload, (dpkt.icmp.ICMP, dpkt.icmp6.ICMP6)):
        exp.update(icmp_type=payload.type, icmp_code=payload.code, payload_offset=l4 + 8)
    elif ip.p == 47:    # GRE without options, carrying a protocol ringcap does not enter
        exp.update(payload_offset=l4 + 4, tunnel_type=D.TUNNEL_TYPES["GRE"])
    else:
        exp["payload_offset"] = l4
    exp["payload_len"] = ip_end - exp["payload_offset"]
    return exp


def row(headers: D.Headers, i: int) -> dict:
    out = {}
    for name, column in headers.columns().items():
        value = column[i]
        out[name] = value.tobytes() if column.ndim == 2 else value.item()
    return out


def decode_one(frame: bytes, **columns) -> dict:
    return row(D.decode(Batch.from_packets([frame], **columns)), 0)


# ---------------------------------------------------------------- agreement with dpkt
@pytest.mark.parametrize("name", sorted(CORPUS))
def test_fields_agree_with_dpkt(name):
    frame = CORPUS[name]
    got = decode_one(frame)
    expected = reference(frame)
    for field, value in expected.items():
        assert got[field] == value, f"{name}: {field} is {got[field]!r}, dpkt says {value!r}"
    # every field dpkt has no opinion on is zero
    for field, value in got.items():
        if field not in expected and field != "flags":
            assert value in (0, False, b"\0" * 6, b"\0" * 16), f"{name}: {field}={value!r}"


def test_corpus_flags():
    h = D.decode(Batch.from_packets(CORPUS.values()))
    flags = dict(zip(CORPUS, h.flags.tolist()))
    assert flags["ipv4_tcp_syn"] == 0
    assert flags["ipv4_frag_first"] == D.FRAGMENT
    assert flags["ipv4_frag_middle"] == D.FRAGMENT | D.NONFIRST_FRAGMENT
    assert flags["ipv6_frag_next"] == D.FRAGMENT | D.NONFIRST_FRAGMENT
    assert flags["dot1q_ipv4_udp"] == D.VLAN
    assert flags["qinq_ipv4_tcp"] == D.VLAN | D.QINQ
    assert flags["arp"] == 0 and flags["lldp"] == 0
    assert all(f & (D.TRUNCATED | D.MALFORMED) == 0 for f in flags.values())


def test_addresses_and_filters():
    batch = Batch.from_packets(CORPUS.values())
    h = ringcap.decode(batch)
    names = list(CORPUS)
    src = h.ip_src_str()
    assert src[names.index("ipv4_udp")] == "10.1.2.3"
    assert src[names.index("ipv6_tcp")] == "2001:db8::1"
    assert src[names.index("arp")] is None
    assert h.eth_src_str()[0] == SRC_MAC
    assert h.eth_dst_str()[names.index("lldp")] == "01:80:c2:00:00:0e"
    https = batch[h.dport == 443]
    assert https.packets() == [CORPUS["ipv4_tcp_syn"], CORPUS["ipv4_tcp_data"]]
    from_v6 = (h.ip_src == D.ip_bytes("2001:db8::1")).all(axis=1)
    assert from_v6.sum() == sum(n.startswith(("ipv6", "dot1q_ipv6")) for n in names)
    assert ((h.eth_src == D.mac_bytes(SRC_MAC)).all(axis=1)).all()
    assert D.flag_names(D.VLAN | D.TRUNCATED_L4) == ["TRUNCATED_L4", "VLAN"]
    with pytest.raises(ValueError, match="not a MAC"):
        D.mac_bytes("02:00")


# ---------------------------------------------------------------- truncation
def expected_truncation(full: dict, k: int, frame: bytes | None = None) -> int:
    """The truncation bit a frame cut to k bytes must carry (0 when complete)."""
    if k < 14 or k < full["l3_offset"]:
        return D.TRUNCATED_L2
    l3 = full["l3_offset"]
    if full["ethertype"] == 0x0806:    # ARP: 8 bytes and the two address pairs it states
        size = 28 if frame is None or len(frame) < l3 + 8 else 8 + 2 * (frame[l3 + 4] + frame[l3 + 5])
        return D.TRUNCATED_L3 if k < l3 + size else 0
    if not full["ip_version"]:
        return 0
    fixed = 20 if full["ip_version"] == 4 else 40
    header_end = full["l4_offset"] or full["payload_offset"]
    if k < l3 + fixed or k < header_end:
        return D.TRUNCATED_L3
    if full["l4_offset"] and full["ip_proto"] in (1, 6, 17, 47, 58, 132) \
            and k < full["payload_offset"]:
        return D.TRUNCATED_L4
    if k < l3 + full["ip_len"]:
        return D.TRUNCATED_PAYLOAD
    return 0


LAYER_FIELDS = {
    "l2": ("eth_src", "eth_dst", "ethertype", "vlan_outer", "vlan_inner", "l3_offset"),
    "l3": ("ip_version", "ip_src", "ip_dst", "ipv4_src", "ipv4_dst", "ip_proto", "ttl",
           "ip_len", "frag_offset", "more_fragments"),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_every_truncation(name):
    frame = CORPUS[name]
    full = decode_one(frame)
    cuts = [frame[:k] for k in range(len(frame))]
    h = D.decode(Batch.from_packets(cuts, wirelen=np.full(len(cuts), len(frame))))
    for k in range(len(frame)):
        got = row(h, k)
        want = expected_truncation(full, k)
        if want:
            assert got["flags"] & want, f"{name}[:{k}]: flags {D.flag_names(got['flags'])}, " \
                                        f"expected {D.flag_names(want)}"
        else:
            assert got == full, f"{name}[:{k}] decodes differently from the whole frame"
        # no deeper layer is claimed than the bytes allow
        for field in ("l3_offset", "l4_offset", "payload_offset"):
            assert got[field] <= k
        if want == D.TRUNCATED_L2:
            assert got["ip_version"] == 0 and got["l3_offset"] == 0
            continue
        for field in LAYER_FIELDS["l2"]:
            assert got[field] == full[field], f"{name}[:{k}]: {field}"
        if full["ip_version"] and k >= full["l3_offset"] + (20 if full["ip_version"] == 4 else 40):
            for field in LAYER_FIELDS["l3"]:
                if field in ("ip_proto", "frag_offset", "more_fragments") \
                        and full["ip_version"] == 6 and want == D.TRUNCATED_L3:
                    continue  # these come from extension headers the cut left out
                assert got[field] == full[field], f"{name}[:{k}]: {field}"
        if want in (D.TRUNCATED_PAYLOAD, 0):
            assert got == {**full, "flags": full["flags"] | want}


# ---------------------------------------------------------------- malformed headers
def _ipv4_udp() -> bytearray:
    return bytearray(CORPUS["ipv4_udp"])


def test_malformed_lengths_are_flagged():
    cases = {}
    bad_ihl = _ipv4_udp(); bad_ihl[14] = 0x44
    cases["bad_ihl"] = (bad_ihl, D.BAD_IHL)
    short_len = _ipv4_udp(); short_len[16:18] = (10).to_bytes(2, "big")
    cases["ip_len_below_header"] = (short_len, D.BAD_IP_LENGTH)
    bad_version = _ipv4_udp(); bad_version[14] = 0x65
    cases["bad_version"] = (bad_version, D.BAD_IP_VERSION)
    udp_len = _ipv4_udp(); udp_len[38:40] = (3).to_bytes(2, "big")
    cases["udp_len_below_8"] = (udp_len, D.BAD_L4_LENGTH)
    tcp = bytearray(CORPUS["ipv4_tcp_data"]); tcp[46] = 0x40
    cases["tcp_offset_4"] = (tcp, D.BAD_L4_LENGTH)
    for name, (frame, bit) in cases.items():
        got = decode_one(bytes(frame))
        assert got["flags"] & bit, f"{name}: {D.flag_names(got['flags'])}"
        assert got["payload_len"] == 0 and got["payload_offset"] == 0, name


def test_ipv6_extension_chain_limit():
    chain = IPv6(src="2001:db8::1", dst="2001:db8::2")
    for _ in range(D._decode.MAX_IPV6_EXTENSION_HEADERS + 2):
        chain = chain / IPv6ExtHdrDestOpt()
    frame = bytes(eth() / chain / UDP(sport=1, dport=2))
    got = decode_one(frame)
    assert got["flags"] & D.IPV6_EXT_LIMIT
    assert got["ip_proto"] == 60 and got["l4_offset"] == 0 and got["sport"] == 0
    # at the limit exactly, the chain is followed to UDP
    chain = IPv6(src="2001:db8::1", dst="2001:db8::2")
    for _ in range(D._decode.MAX_IPV6_EXTENSION_HEADERS):
        chain = chain / IPv6ExtHdrDestOpt()
    got = decode_one(bytes(eth() / chain / UDP(sport=1, dport=2)))
    assert got["flags"] == 0 and got["ip_proto"] == 17 and got["dport"] == 2


# ---------------------------------------------------------------- VLAN metadata
def _untagged_and_tagged():
    inner = IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2) / Raw(b"m" * 12)
    return bytes(eth() / inner), bytes(eth() / Dot1Q(vlan=100, prio=1) / inner)


def test_vlan_only_in_metadata():
    untagged, tagged = _untagged_and_tagged()
    got = decode_one(untagged, status=[TP_STATUS_VLAN_VALID], vlan_tci=[0x2064],
                     vlan_tpid=[0])
    plain = decode_one(untagged)
    assert got["vlan_outer"] == 100 and got["vlan_inner"] == 0
    assert got["flags"] == D.VLAN | D.VLAN_FROM_METADATA
    assert got["l3_offset"] == 14
    assert {k: v for k, v in got.items() if k not in ("vlan_outer", "flags")} == \
        {k: v for k, v in plain.items() if k not in ("vlan_outer", "flags")}


def test_vlan_reinserted_by_the_ring():
    untagged, tagged = _untagged_and_tagged()
    # the kernel's length did not count the tag the reader put back
    got = decode_one(tagged, wirelen=[len(untagged)], status=[TP_STATUS_VLAN_VALID],
                     vlan_tci=[0x2064])
    assert got == decode_one(tagged)
    assert got["vlan_outer"] == 100 and got["l3_offset"] == 18 and got["flags"] == D.VLAN


def test_stripped_outer_tag_with_inner_tag_in_bytes():
    untagged, tagged = _untagged_and_tagged()
    tagged_20 = bytes(eth() / Dot1Q(vlan=20) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP())
    got = decode_one(tagged_20, status=[TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID],
                     vlan_tci=[10], vlan_tpid=[0x88A8])
    assert (got["vlan_outer"], got["vlan_inner"]) == (10, 20)
    assert got["flags"] == D.VLAN | D.QINQ | D.VLAN_FROM_METADATA
    assert got["ethertype"] == 0x0800 and got["ip_version"] == 4


# ---------------------------------------------------------------- API edges
def test_column_selection_and_reuse():
    batch = Batch.from_packets(CORPUS.values())
    full = D.decode(batch)
    five = D.decode(batch, columns=D.FIVE_TUPLE_COLUMNS)
    assert five.names == D.FIVE_TUPLE_COLUMNS
    for name in D.FIVE_TUPLE_COLUMNS:
        np.testing.assert_array_equal(getattr(five, name), getattr(full, name))
    some = D.decode(batch, columns=["ttl", "dport"])
    assert some.names == ("ttl", "dport", "flags")
    np.testing.assert_array_equal(some.ttl, full.ttl)
    with pytest.raises(AttributeError, match="was not decoded"):
        some.sport
    with pytest.raises(ValueError, match="unknown Headers column"):
        D.decode(batch, columns=["port"])
    big = D.decode(Batch.from_packets([b"\0" * 60] * (len(batch) + 5)), columns="all")
    full = D.decode(batch, columns="all")
    reused = D.decode(batch, out=big)
    assert len(reused) == len(batch)
    assert reused.dport.base is big.dport.base or np.shares_memory(reused.dport, big.dport)
    for name in D.HEADER_COLUMNS:
        np.testing.assert_array_equal(getattr(reused, name), getattr(full, name))
    with pytest.raises(ValueError, match="room for"):
        D.decode(Batch.concat([batch, batch]), out=full)
    sub = full[full.ip_version == 6]
    assert len(sub) == int((full.ip_version == 6).sum())
    assert row(full, 0) == {k: (v.tobytes() if isinstance(v, np.ndarray) else v.item())
                            for k, v in full[0].items()}


def test_bad_batches_raise_clearly():
    with pytest.raises(TypeError, match="Batch.from_packets"):
        D.decode([b"\0" * 60])
    batch = Batch.from_packets([b"\0" * 60, b"\0" * 60])
    batch.offset[1] = 100
    with pytest.raises(ValueError, match="packet 1 lies outside"):
        D.decode(batch)
    assert len(D.decode(Batch.from_packets([]))) == 0
    assert len(D.flows(Batch.from_packets([]))) == 0


def test_non_contiguous_batch_columns():
    batch = Batch.from_packets(CORPUS.values())
    every_other = batch[::2]
    np.testing.assert_array_equal(D.decode(every_other).dport, D.decode(batch).dport[::2])


# ---------------------------------------------------------------- fast paths agree
# The flow meter's columns (and `stats`'s ethertype), which the 5-tuple path also decodes
# when asked with it.
FLOW_PATH_COLUMNS = D.FIVE_TUPLE_COLUMNS + ("tcp_flags", "tcp_seq", "payload_len",
                                            "payload_offset", "tunnel_type", "tunnel_id",
                                            "vlan_outer", "vlan_inner", "ethertype")
# The report's (`ringcap stats`): the 5-tuple path's copy without the flow meter's NULL tests.
REPORT_PATH_COLUMNS = D.FIVE_TUPLE_COLUMNS + ("payload_len", "payload_offset", "ethertype")


def _fast_and_general(batch):
    _decode._test_set_fast_path(True)
    fast = D.decode(batch, columns="all")
    five = D.decode(batch, columns=D.FIVE_TUPLE_COLUMNS)
    flow = D.decode(batch, columns=FLOW_PATH_COLUMNS)
    _decode._test_set_fast_path(False)
    try:
        general = D.decode(batch, columns="all")
        general_five = D.decode(batch, columns=D.FIVE_TUPLE_COLUMNS)
        general_flow = D.decode(batch, columns=FLOW_PATH_COLUMNS)
    finally:
        _decode._test_set_fast_path(True)
    for name in D.HEADER_COLUMNS:
        np.testing.assert_array_equal(getattr(fast, name), getattr(general, name), err_msg=name)
    # BAD_TCP_OPTIONS is looked for only when a TCP option column is decoded
    options_checked = {"flags": lambda flags: flags & ~np.uint32(D.BAD_TCP_OPTIONS)}
    for name in D.FIVE_TUPLE_COLUMNS:
        same = options_checked.get(name, lambda values: values)
        np.testing.assert_array_equal(same(getattr(five, name)), same(getattr(general, name)),
                                      err_msg=name)
        np.testing.assert_array_equal(same(getattr(general_five, name)),
                                      same(getattr(general, name)))
    for name in FLOW_PATH_COLUMNS:      # the 5-tuple path with a flow meter's columns
        same = options_checked.get(name, lambda values: values)
        np.testing.assert_array_equal(same(getattr(flow, name)), same(getattr(general, name)),
                                      err_msg=f"flow columns: {name}")
        np.testing.assert_array_equal(same(getattr(general_flow, name)),
                                      same(getattr(general, name)),
                                      err_msg=f"flow columns, general path: {name}")
    report = D.decode(batch, columns=REPORT_PATH_COLUMNS)
    for name in REPORT_PATH_COLUMNS:
        same = options_checked.get(name, lambda values: values)
        np.testing.assert_array_equal(same(getattr(report, name)), same(getattr(general, name)),
                                      err_msg=f"report columns: {name}")
    return general


def test_fast_path_matches_general_path_on_corpus():
    frames = list(CORPUS.values())
    cuts = [f[:k] for f in frames for k in range(0, len(f), 3)]
    _fast_and_general(Batch.from_packets(frames + cuts))


def test_every_link_type_cut_at_every_byte_reads_nothing_past_caplen():
    """Frames of each link type the decoder knows, whole and cut at every byte,
    in both byte orders for NULL/LOOP: the shortcuts agree with the general
    path, and (debug build) no read passes caplen."""
    packets = [bytes(IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=2) / Raw(b"x")),
               bytes(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=3, dport=4)),
               bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP(sport=5, dport=6)),
               bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrFragment()
                     / UDP(sport=7, dport=8))]
    cooked2 = struct.pack(">HHIHBB8s", 0x0800, 0, 3, 1, 0, 6, b"\x02" * 8)
    headers = {
        0: [b"\x02\0\0\0", b"\0\0\0\x02", b"\x18\0\0\0", b"\0\0\0\x1e"],
        108: [b"\0\0\0\x02", b"\x1c\0\0\0"],
        113: [struct.pack(">HHH8sH", 4, 1, 6, b"\x02" * 8, 0x0800),
              struct.pack(">HHH8sH", 0, 1, 6, b"\x02" * 8, 0x86DD),
              struct.pack(">HHH8sH", 0, 1, 6, b"\x02" * 8, 0x8100) + b"\0\x05\x08\0"],
        276: [cooked2, b"\x86\xdd" + cooked2[2:], b"\x81\x00" + cooked2[2:] + b"\0\x05\x08\0"],
        101: [b""], 12: [b""], 14: [b""], 228: [b""], 229: [b""],
    }
    frames, kinds = [], []
    for linktype, heads in headers.items():
        for head in heads:
            for packet in packets:
                whole = head + packet
                for cut in range(len(whole) + 1):
                    frames.append(whole[:cut])
                    kinds.append(linktype)
    _decode.reset_overrun_count()
    h = _fast_and_general(Batch.from_packets(frames, linktype=np.array(kinds)))
    assert _decode.overrun_count() == 0, "a read went past caplen (debug build)"
    assert set(np.array(kinds)[h.ip_version > 0].tolist()) == set(headers)   # each decoded


# ---------------------------------------------------------------- hypothesis
def _check_invariants(batch, h):
    caplen = batch.caplen.astype(np.int64)
    for field in ("l3_offset", "l4_offset", "payload_offset"):
        assert (getattr(h, field) <= caplen).all(), field
    short = caplen < 14
    assert (h.flags[short] & D.TRUNCATED_L2).all()
    ip = h.ip_version > 0
    assert ((h.l3_offset[ip] >= 14)).all()
    # an IP packet whose length runs past the capture says so
    past = ip & (h.l3_offset.astype(np.int64) + h.ip_len > caplen)
    assert (h.flags[past] & D.TRUNCATED_PAYLOAD).all()
    assert _decode.overrun_count() == 0, "a read went past caplen (debug build)"


frames_strategy = st.lists(st.binary(max_size=160), min_size=1, max_size=12)
meta_strategy = st.tuples(st.sampled_from([0, TP_STATUS_VLAN_VALID,
                                           TP_STATUS_VLAN_VALID | TP_STATUS_VLAN_TPID_VALID]),
                          st.integers(0, 0xFFFF), st.sampled_from([0, 0x8100, 0x88A8]))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames_strategy, meta_strategy, st.integers(0, 64))
def test_random_bytes_never_crash(frames, meta, extra_wire):
    status, tci, tpid = meta
    n = len(frames)
    batch = Batch.from_packets(frames, wirelen=[len(f) + extra_wire for f in frames],
                               status=[status] * n, vlan_tci=[tci] * n, vlan_tpid=[tpid] * n)
    h = _fast_and_general(batch)
    _check_invariants(batch, h)
    table = D.flows(h)
    assert int(table.packets.sum()) + table.skipped == n


ETHERTYPE_PREFIXES = [b"\x08\x00\x45", b"\x08\x00\x46", b"\x86\xdd\x60", b"\x81\x00\x00\x05\x08\x00\x45",
                      b"\x88\xa8\x00\x01\x81\x00\x00\x02\x86\xdd\x60"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(sorted(CORPUS)), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)),
                                                 max_size=6), st.integers(0, 200))
@example("arp", [(14, 1)], 22)       # ARP of another hardware type, cut in its addresses
def test_mutated_corpus_frames(name, flips, cut):
    frame = bytearray(CORPUS[name])
    for pos, value in flips:
        if pos < len(frame):
            frame[pos] = value
    frame = bytes(frame)
    batch = Batch.from_packets([frame, frame[:cut]], wirelen=[len(frame), len(frame)])
    h = _fast_and_general(batch)
    _check_invariants(batch, h)
    whole, cut_row = row(h, 0), row(h, 1)
    if cut < len(frame):
        want = expected_truncation(whole, cut, frame) if not whole["flags"] & D.MALFORMED else 0
        if want:
            assert cut_row["flags"] & D.TRUNCATED, (name, cut, D.flag_names(cut_row["flags"]))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(ETHERTYPE_PREFIXES), st.binary(min_size=0, max_size=120))
def test_random_ip_headers(prefix, rest):
    frame = b"\x02" * 12 + prefix + rest
    batch = Batch.from_packets([frame])
    h = _fast_and_general(batch)
    _check_invariants(batch, h)


def test_checked_reads_count_overruns_only_in_debug_builds():
    _decode.reset_overrun_count()
    assert _decode._test_checked_read(b"\x01\x02\x03", 3, 1) == 0x0203
    assert _decode.overrun_count() == 0
    past = _decode._test_checked_read(b"\x01\x02\x03\x04", 3, 2)   # byte 3 is past caplen
    if _decode.CHECKED_READS:      # debug build: refused and counted
        assert past == 0 and _decode.overrun_count() == 1
    else:                          # release build: no check compiled in
        assert past == 0x0304 and _decode.overrun_count() == 0
    _decode.reset_overrun_count()


# ---------------------------------------------------------------- flows
def _conversation():
    a, b = "10.0.0.1", "10.0.0.2"
    c6, d6 = "2001:db8::a", "2001:db8::b"
    packets = [
        (100, eth() / IP(src=a, dst=b) / TCP(sport=1111, dport=80, flags="S")),
        (200, eth() / IP(src=b, dst=a) / TCP(sport=80, dport=1111, flags="SA")),
        (300, eth() / IP(src=a, dst=b) / TCP(sport=1111, dport=80, flags="A") / Raw(b"x" * 10)),
        (150, eth() / IPv6(src=c6, dst=d6) / UDP(sport=5, dport=6) / Raw(b"y" * 3)),
        (50, eth() / IP(src=b, dst=a) / TCP(sport=80, dport=1111, flags="FA")),
        (400, eth() / ARP()),
        (500, eth() / IP(src=a, dst=b) / TCP(sport=2222, dport=80, flags="S")),
        (600, eth() / IPv6(src=c6, dst=d6) / UDP(sport=5, dport=6)),
        (700, eth() / IP(src=a, dst=b) / ICMP()),
    ]
    frames = [bytes(p) for _, p in packets]
    return Batch.from_packets(frames, ts=[t for t, _ in packets]), frames


def _python_flows(batch, frames):
    """The same aggregation in plain Python over dpkt's parse."""
    table = {}
    order = []
    for t, frame in zip(batch.ts.tolist(), frames):
        ip = dpkt.ethernet.Ethernet(frame).data
        if not isinstance(ip, (dpkt.ip.IP, dpkt.ip6.IP6)):
            continue
        l4 = ip.data
        sport, dport = getattr(l4, "sport", 0), getattr(l4, "dport", 0)
        src = ipaddress.ip_address(ip.src).exploded
        dst = ipaddress.ip_address(ip.dst).exploded
        key = (ip.p, frozenset([(src, sport), (dst, dport)]))
        if key not in table:
            table[key] = {"fwd": (src, sport), "dir": {0: [], 1: []}}
            order.append(key)
        d = 0 if table[key]["fwd"] == (src, sport) else 1
        table[key]["dir"][d].append((t, len(frame), getattr(l4, "flags", 0)
                                     if isinstance(l4, dpkt.tcp.TCP) else 0))
    return [table[k] for k in order]


def test_flows_against_python_aggregation():
    batch, frames = _conversation()
    result = ringcap.flows(batch)
    expected = _python_flows(batch, frames)
    assert len(result) == len(expected) == 4
    assert result.skipped == 1
    for i, exp in enumerate(expected):
        for d, side in enumerate(("fwd", "rev")):
            pkts = exp["dir"][d]
            assert getattr(result, f"packets_{side}")[i] == len(pkts)
            assert getattr(result, f"bytes_{side}")[i] == sum(p[1] for p in pkts)
            flags = 0
            for p in pkts:
                flags |= p[2]
            assert getattr(result, f"tcp_flags_{side}")[i] == flags
            if pkts:
                assert getattr(result, f"first_ts_{side}")[i] == min(p[0] for p in pkts)
                assert getattr(result, f"last_ts_{side}")[i] == max(p[0] for p in pkts)
            else:
                assert getattr(result, f"first_ts_{side}")[i] == D.NO_TIMESTAMP
        every = exp["dir"][0] + exp["dir"][1]
        assert result.first_ts[i] == min(p[0] for p in every)
        assert result.last_ts[i] == max(p[0] for p in every)
        assert result.packets[i] == len(every)
    assert result.ip_src_str().tolist() == ["10.0.0.1", "2001:db8::a", "10.0.0.1", "10.0.0.1"]
    assert result.sport.tolist() == [1111, 5, 2222, 0]
    np.testing.assert_array_equal(result.packet_flow, [0, 0, 0, 1, 0, -1, 2, 1, 3])
    # both directions hash alike, different conversations apart
    h = D.decode(batch)
    assert h.flow_hash[0] == h.flow_hash[1] == h.flow_hash[4]
    assert len({h.flow_hash[0], h.flow_hash[3], h.flow_hash[6], h.flow_hash[8]}) == 4
    assert h.flow_hash[5] == 0
    same = D.flows(h)
    np.testing.assert_array_equal(same.bytes, result.bytes)
    five = D.flows(D.decode(batch, columns=D.FIVE_TUPLE_COLUMNS))
    np.testing.assert_array_equal(five.packets_rev, result.packets_rev)
    assert not five.tcp_flags_fwd.any()
    with pytest.raises(ValueError, match="5-tuple columns"):
        D.flows(D.decode(batch, columns=["ttl"]))


def test_flows_many_packets_match_numpy_grouping():
    rng = np.random.default_rng(7)
    n = 5000
    hosts = rng.integers(1, 20, size=(n, 2))
    ports = rng.integers(1, 6, size=(n, 2))
    frames = [bytes(eth() / IP(src=f"10.0.0.{s}", dst=f"10.0.1.{d}")
                    / UDP(sport=int(ps), dport=int(pd)))
              if i % 2 else
              bytes(eth() / IP(src=f"10.0.1.{d}", dst=f"10.0.0.{s}")
                    / UDP(sport=int(pd), dport=int(ps)))
              for i, ((s, d), (ps, pd)) in enumerate(zip(hosts, ports))]
    batch = Batch.from_packets(frames, ts=np.arange(n))
    table = D.flows(batch)
    keys = {(int(s), int(d), int(ps), int(pd)) for (s, d), (ps, pd) in zip(hosts, ports)}
    assert len(table) == len(keys)
    assert int(table.packets.sum()) == n
    # every packet's flow row has its endpoints, one way or the other
    h = D.decode(batch)
    rows = table.packet_flow
    src_row = table.ip_src[rows]
    same = (src_row == h.ip_src).all(axis=1) & (table.sport[rows] == h.sport)
    flipped = (src_row == h.ip_dst).all(axis=1) & (table.sport[rows] == h.dport)
    assert (same | flipped).all()
    assert int(table.packets_fwd.sum()) == int(same.sum())


def test_batches_read_from_a_capture_file_decode_the_same(tmp_path):
    batch = Batch.from_packets(CORPUS.values(), ts=np.arange(len(CORPUS)) * 1000)
    path = tmp_path / "corpus.pcap"
    ringcap.write_pcap(path, batch)
    again = ringcap.read_pcap(path)
    original, from_file = D.decode(batch, columns="all"), D.decode(again, columns="all")
    for name in D.HEADER_COLUMNS:
        np.testing.assert_array_equal(getattr(from_file, name), getattr(original, name), name)
    np.testing.assert_array_equal(D.flows(again).bytes, D.flows(batch).bytes)


@pytest.mark.network
def test_live_vlan_frames_decode_like_the_frames_sent(veth):
    """Through a veth pair: the kernel strips the outer tag; with and without the
    ring putting it back, decode() sees the tags and headers that were sent."""
    from conftest import drain
    from ringcap import RxRing, TxRing
    inner = IP(src="10.9.8.7", dst="10.9.8.6") / UDP(sport=4000, dport=4001) / Raw(b"live" * 5)
    dot1q = bytes(eth() / Dot1Q(vlan=10, prio=5) / inner)
    qinq = bytes(eth() / Dot1AD(vlan=100) / Dot1Q(vlan=10) / inner)
    plain = bytes(eth() / inner)
    small = dict(block_size=1 << 20, block_count=4, block_timeout_ms=5)
    with RxRing(veth.b, **small) as rx, RxRing(veth.b, reinsert_vlan=False, **small) as raw, \
            TxRing(veth.a) as tx:
        tx.send([dot1q, qinq, plain])
        restored = Batch.concat(drain(rx))
        stripped = Batch.concat(drain(raw, idle=0.05))
    sent = D.decode(Batch.from_packets([dot1q, qinq, plain]))
    for got in (D.decode(restored), D.decode(stripped)):
        assert len(got) == 3
        assert got.vlan_outer.tolist() == [10, 100, 0]
        assert got.vlan_inner.tolist() == [0, 10, 0]
        assert (got.flags & (D.VLAN | D.QINQ)).tolist() == [D.VLAN, D.VLAN | D.QINQ, 0]
        for name in ("ip_src", "ip_dst", "ip_proto", "sport", "dport", "payload_len", "ip_len"):
            np.testing.assert_array_equal(getattr(got, name), getattr(sent, name), name)
        assert not (got.flags & (D.TRUNCATED | D.MALFORMED)).any()
    assert (D.decode(stripped).flags[:2] & D.VLAN_FROM_METADATA).all()
    assert not (D.decode(restored).flags & D.VLAN_FROM_METADATA).any()


def test_address_helpers_match_per_row_formatting():
    rng = np.random.default_rng(3)
    pool16 = rng.integers(0, 256, size=(40, 16), dtype=np.uint8)
    pool16[:20, :12] = np.frombuffer(b"\0" * 10 + b"\xff\xff", dtype=np.uint8)  # IPv4-mapped
    pool16[5] = 0
    rows16 = pool16[rng.integers(0, 40, size=3000)]
    expected = [str(ipaddress.IPv6Address(r.tobytes()).ipv4_mapped or
                    ipaddress.IPv6Address(r.tobytes())) for r in rows16]
    assert D.ip_strings(rows16).tolist() == expected
    assert D.address_bytes(rows16).tolist() == [r.tobytes() for r in rows16]
    rows6 = rng.integers(0, 256, size=(30, 6), dtype=np.uint8)[rng.integers(0, 30, size=2000)]
    assert D.mac_strings(rows6).tolist() == [r.tobytes().hex(":") for r in rows6]
    assert D.address_bytes(rows6).tolist() == [r.tobytes() for r in rows6]
    assert D.ip_strings(np.zeros((0, 16), np.uint8)).tolist() == []
    # runs of zero words in every place and length (where "::" goes), the
    # IPv4-compatible and -mapped forms, :: and ::1: the text is ipaddress's
    words = rng.choice(np.array([0, 0, 0, 1, 0xFFFF, 0xDB8, 0x2001], np.uint16), size=(20000, 8))
    words[:500, :6] = 0
    words[500:1000, :5] = 0
    words[500:1000, 5] = 0xFFFF
    rows = np.unique(words.astype(">u2").view(np.uint8).reshape(-1, 16), axis=0)
    expected = [str(ipaddress.IPv6Address(r.tobytes()).ipv4_mapped or
                    ipaddress.IPv6Address(r.tobytes())) for r in rows]
    assert D.ip_strings(rows).tolist() == expected
    with pytest.raises(ValueError, match=r"shape \(n, 16\)"):
        D.ip_strings(np.zeros((3, 4), np.uint8))
    # the compiled formatter behind the Spark source's text columns: the same
    # text, straight into an Arrow string array's offsets and bytes
    for rows, texts in ((rows, expected), (rows16, D.ip_strings(rows16).tolist()),
                        (rows6, D.mac_strings(rows6).tolist())):
        valid = (np.arange(len(rows)) % 5 != 0).astype(np.uint8)
        for mask, want in ((None, texts), (valid, [t if v else "" for t, v in zip(texts, valid)])):
            offsets, data = _text.address_text(np.ascontiguousarray(rows), mask)
            raw = data.tobytes()
            assert offsets[-1] == len(raw)
            assert [raw[a:b].decode() for a, b in zip(offsets[:-1], offsets[1:])] == want
    assert _text.address_text(np.zeros((0, 16), np.uint8))[0].tolist() == [0]
    with pytest.raises(ValueError, match="valid has 2 entries for 3 rows"):
        _text.address_text(np.zeros((3, 16), np.uint8), np.ones(2, np.uint8))


def test_a_deep_stack_of_vlan_tags_is_flagged_not_decoded():
    ip = bytes.fromhex("4500001c00000000401100000a0000010a000002") + bytes(8)
    frames = [b"\x02" * 12 + b"\x81\x00\x00\x01" * k + b"\x08\x00" + ip for k in (8, 9, 20000)]
    h = ringcap.decode(Batch.from_packets(frames))
    assert h.ip_version.tolist() == [4, 0, 0]
    assert not h.flags[0] & D.VLAN_LIMIT
    assert h.flags[1] & D.VLAN_LIMIT and h.flags[2] & D.VLAN_LIMIT
    assert h.flags[2] & D.MALFORMED and h.l3_offset[2] == 0


# ---------------------------------------------------------------- tunnels nested to the limit
def _encapsulate(kind: str, inner, n: int):
    """``inner`` (an IPv4 or IPv6 packet) inside one encapsulation of ``kind``."""
    from scapy.contrib.geneve import GENEVE
    from scapy.contrib.mpls import MPLS
    from scapy.layers.l2 import GRE
    from scapy.layers.vxlan import VXLAN
    outer = IP(src=f"192.0.2.{n}", dst=f"198.51.100.{n}")
    if kind == "gre":
        return outer / GRE(key_present=1, key=100 + n, seqnum_present=1, sequence_number=n) / inner
    if kind == "gre_eth":
        return outer / GRE(proto=0x6558) / Ether() / inner
    if kind == "vxlan":
        return outer / UDP(sport=40000 + n, dport=4789) / VXLAN(vni=1000 + n) / Ether() / inner
    if kind == "geneve":
        proto = 0x86DD if isinstance(inner, IPv6) else 0x0800
        return outer / UDP(sport=40000 + n, dport=6081) / GENEVE(vni=2000 + n, proto=proto) \
            / inner
    if kind == "ipip":
        return IPv6(src=f"2001:db8:{n}::1", dst=f"2001:db8:{n}::2") / inner
    if kind == "mpls_gre":
        return outer / GRE(proto=0x8847) / MPLS(label=300 + n, s=1, ttl=9) / inner
    raise AssertionError(kind)


TUNNEL_KINDS = ("gre", "gre_eth", "vxlan", "geneve", "ipip", "mpls_gre")
TUNNEL_IDS = {"gre": 100, "gre_eth": None, "vxlan": 1000, "geneve": 2000, "ipip": None,
              "mpls_gre": 300}


def _nested(kinds) -> bytes:
    packet = IP(src="10.7.7.1", dst="10.7.7.2") / TCP(sport=7001, dport=7002, flags="S")
    for n, kind in enumerate(kinds, 1):
        packet = _encapsulate(kind, packet, n)
    return bytes(eth() / packet)


@pytest.mark.parametrize("kind", [k for k in TUNNEL_KINDS if k != "mpls_gre"])
def test_tunnels_nested_to_the_limit(kind):
    limit = D.MAX_TUNNEL_DEPTH
    frames = [_nested([kind] * depth) for depth in range(1, limit + 2)]
    h = D.decode(Batch.from_packets(frames), columns="all")
    for depth in range(1, limit + 1):
        i = depth - 1
        assert h.flags[i] & (D.TUNNEL | D.TUNNEL_LIMIT | D.MALFORMED | D.TRUNCATED) == D.TUNNEL
        assert h.tunnel_depth[i] == depth
        assert h.ip_src_str()[i] == "10.7.7.1" and (h.sport[i], h.dport[i]) == (7001, 7002)
        # outer_* and tunnel_* describe the innermost encapsulation: the one built first
        if kind != "ipip":
            assert h.outer_ip_src_str()[i] == "192.0.2.1", (kind, depth)
        if TUNNEL_IDS[kind] is not None:
            assert h.tunnel_id[i] == TUNNEL_IDS[kind] + 1
    last = limit
    assert h.flags[last] & D.TUNNEL_LIMIT and h.tunnel_depth[last] == limit
    assert h.ip_src_str()[last] != "10.7.7.1"


def test_mpls_through_gre_counts_each_encapsulation():
    # MPLS inside GRE is two encapsulations: the limit is reached at half the GRE count
    frames = [_nested(["mpls_gre"] * depth) for depth in (1, 2, 3)]
    h = D.decode(Batch.from_packets(frames), columns="all")
    assert h.tunnel_depth.tolist() == [2, 4, 4]
    assert h.flags[2] & D.TUNNEL_LIMIT and not h.flags[1] & D.TUNNEL_LIMIT
    assert h.tunnel_type[1] == D.TUNNEL_TYPES["MPLS"] and h.tunnel_id[1] == 301
    assert h.dport[1] == 7002 and h.mpls_labels[1] == 1 and h.mpls_label[1] == 302


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(TUNNEL_KINDS), min_size=1, max_size=D.MAX_TUNNEL_DEPTH + 1),
       st.integers(0, 400), st.lists(st.tuples(st.integers(0, 300), st.integers(0, 255)),
                                     max_size=4), st.integers(0, 64))
def test_nested_tunnels_cut_and_mutated(kinds, cut, flips, extra_wire):
    frame = bytearray(_nested(kinds))
    whole = bytes(frame)
    for pos, value in flips:
        if pos < len(frame):
            frame[pos] = value
    frame = bytes(frame)
    frames = [whole, frame, frame[:cut], whole[:cut]]
    batch = Batch.from_packets(frames, wirelen=[len(whole), len(frame) + extra_wire,
                                                len(frame), len(whole)])
    h = _fast_and_general(batch)
    _check_invariants(batch, h)
    assert (h.tunnel_depth <= D.MAX_TUNNEL_DEPTH).all()
    if sum(2 if k == "mpls_gre" else 1 for k in kinds) <= D.MAX_TUNNEL_DEPTH:
        assert h.dport[0] == 7002 and not h.flags[0] & (D.TRUNCATED | D.MALFORMED)
    if cut < len(whole):
        assert h.flags[3] & D.TRUNCATED
    outer = D.decode(batch, columns="all", tunnels="outer")
    assert not (outer.flags & D.TUNNEL).any() and not outer.tunnel_depth.any()
    _check_invariants(batch, outer)


def test_flows_tell_tunnels_apart():
    from scapy.layers.vxlan import VXLAN
    inner = IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1000, dport=80, flags="S")
    reply = IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=80, dport=1000, flags="SA")

    def vxlan(vni, packet):
        return bytes(eth() / IP(src="192.0.2.1", dst="192.0.2.2") / UDP(sport=5000, dport=4789)
                     / VXLAN(vni=vni) / Ether() / packet)
    frames = [vxlan(1, inner), vxlan(2, inner), vxlan(1, reply), bytes(eth() / inner),
              vxlan(2, reply)]
    batch = Batch.from_packets(frames, ts=np.arange(5))
    table = ringcap.flows(batch)
    assert len(table) == 3
    assert table.tunnel_type.tolist() == [3, 3, 0] and table.tunnel_id.tolist() == [1, 2, 0]
    assert table.packets_fwd.tolist() == [1, 1, 1] and table.packets_rev.tolist() == [1, 1, 0]
    np.testing.assert_array_equal(table.packet_flow, [0, 1, 0, 2, 1])
    # one inner conversation when tunnels are not told apart
    merged = ringcap.flows(batch, split_tunnels=False)
    assert len(merged) == 1 and merged.packets.tolist() == [5]
    assert merged.tunnel_id.tolist() == [0]
    # the same from headers: with the tunnel columns split, without them merged
    assert len(ringcap.flows(ringcap.decode(batch))) == 3
    assert len(ringcap.flows(ringcap.decode(batch, columns=D.FIVE_TUPLE_COLUMNS))) == 1


def test_offsets_stay_in_range_through_long_extension_chains():
    """Offsets are uint16: an inner header too far into the frame is flagged, not wrapped."""
    def chain(inner: bytes, next_header: int, n: int) -> bytes:
        # IPv6 with 15 destination-options headers of 2 KiB (Pad1 options) before inner
        body = b""
        for k in range(15):
            body += bytes([next_header if k == 14 else 60, 255]) + b"\0" * 2046
        body += inner
        return bytes(IPv6(src=f"2001:db8::{n}", dst="2001:db8::ff", nh=60,
                          plen=min(len(body), 0xFFFF)))[:40] + body
    innermost = bytes(IPv6(src="2001:db8::1", dst="2001:db8::2") / UDP(sport=1, dport=2))
    one = chain(innermost, 41, 1)
    two = chain(one, 41, 2)
    frames = [bytes(eth(type=0x86DD)) + packet for packet in (one, two)]
    assert len(frames[1]) > 2 * 15 * 2048
    h = D.decode(Batch.from_packets(frames), columns="all")
    assert h.dport[0] == 2 and h.tunnel_depth[0] == 1 and h.l4_offset[0] == len(frames[0]) - 8
    assert not h.flags[0] & (D.TUNNEL_LIMIT | D.MALFORMED | D.TRUNCATED)
    # the innermost header starts past 0x7F00: its offsets could not be held
    assert h.flags[1] & D.TUNNEL_LIMIT and h.ip_version[1] == 0 and h.dport[1] == 0
    assert (h.payload_offset <= Batch.from_packets(frames).caplen).all()


def test_gre_versions_and_routing_are_read_not_entered():
    inner = bytes(IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=1, dport=2))
    outer = dict(src="192.0.2.1", dst="192.0.2.2", proto=47)
    pptp = b"\x30\x81\x88\x0b" + len(inner).to_bytes(2, "big") + b"\x00\x07" + inner  # version 1
    routing = b"\x40\x00\x08\x00" + b"\0" * 4 + inner
    plain = b"\x00\x00\x08\x00" + inner
    frames = [bytes(eth() / IP(**outer) / Raw(gre)) for gre in (pptp, routing, plain)]
    h = D.decode(Batch.from_packets(frames), columns="all")
    assert h.tunnel_type.tolist() == [D.TUNNEL_TYPES["GRE"]] * 3
    assert (h.flags & D.TUNNEL).astype(bool).tolist() == [False, False, True]
    assert not (h.flags & D.MALFORMED).any()
    assert h.ip_src_str().tolist() == ["192.0.2.1", "192.0.2.1", "10.0.0.1"]
    assert h.gre_flags.tolist()[:2] == [0x3081, 0x4000]


def test_a_column_asked_alone_is_the_column_of_a_full_decode():
    """decode_batch clears, per chunk of packets, only the scratch fields the
    call reads (the columns asked for, those the decoder reads back, the
    application pass's): each column decoded alone (or the application
    columns alone) over many chunks of mixed, cut, tunnelled and MPLS
    packets, whose rows before held other packets' values, equals the same
    column of a decode of every column."""
    from ringcap.appcolumns import APP_COLUMNS
    from ringcap.testing import named_traffic
    frames = list(CORPUS.values())
    frames += [frame[:cut] for frame in CORPUS.values() for cut in (14, 20, 34, 40, 54)]
    for kind in TUNNEL_KINDS:
        frames += [_nested([kind] * depth) for depth in range(1, D.MAX_TUNNEL_DEPTH + 2)]
    named = named_traffic(40, seed=11)
    pool = Batch.concat([Batch.from_packets(frames), named])
    order = np.concatenate([np.random.default_rng(k).permutation(len(pool)) for k in range(16)])
    batch = pool[order].copy()
    assert len(batch) > 20 * 128              # many chunks of the decoder's scratch
    full = D.decode(batch, columns="all")
    for name in D.HEADER_COLUMNS:
        alone = D.decode(batch, columns=[name])
        np.testing.assert_array_equal(getattr(alone, name), getattr(full, name), err_msg=name)
    app = tuple(APP_COLUMNS)
    alone = D.decode(batch, columns=app)
    everything = D.decode(batch, columns=tuple(D.HEADER_COLUMNS) + app)
    assert (alone["app_proto"] != 0).sum() > 100
    for name in app:
        mine, theirs = alone[name], everything[name]
        if hasattr(mine, "offsets"):
            np.testing.assert_array_equal(mine.offsets, theirs.offsets, err_msg=name)
            np.testing.assert_array_equal(mine.data, theirs.data, err_msg=name)
        else:
            np.testing.assert_array_equal(mine, theirs, err_msg=name)
