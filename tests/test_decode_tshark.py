"""The decoder field by field against tshark, on a corpus scapy builds.

scapy builds tunnels (MPLS, GRE with each option, ERSPAN, VXLAN, Geneve,
IP-in-IP), ARP, TCP with every option, ICMP echo, fragments, 802.3/LLC/STP
and damaged frames; every frame is also cut at every byte, once by a snaplen
(the wire length kept) and once on the wire.  One tshark run reads the whole
corpus, and each column is compared with tshark's field, inner headers with
tshark's innermost occurrence:

* a value ringcap reports (non-zero) is the one tshark shows;
* where ringcap sets no truncation or malformation bit, every field equals
  tshark's (tshark's "no field" counting as 0), and ringcap found as many IP
  headers as tshark did;
* where only ``TRUNCATED_PAYLOAD`` is set, every header was captured, and
  the same holds.

tshark comes from .ci/apt-packages.
"""
from __future__ import annotations

import importlib
import shutil
import subprocess

import numpy as np
import pytest

from scapy.contrib.erspan import ERSPAN_II, ERSPAN_III
from scapy.contrib.geneve import GENEVE
from scapy.contrib.mpls import MPLS
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import ICMPv6EchoReply, ICMPv6EchoRequest, IPv6
from scapy.layers.l2 import ARP, GRE, LLC, STP, Dot3, Ether
from scapy.layers.vxlan import VXLAN
from scapy.packet import Raw

import ringcap
from ringcap import Batch, _decode

D = importlib.import_module("ringcap.headers")

pytestmark = pytest.mark.skipif(shutil.which("tshark") is None,
                                reason="tshark not installed (apt-get install tshark)")

MAC_A, MAC_B = "02:00:00:00:00:0a", "02:00:00:00:00:0b"


def _eth():
    return Ether(src=MAC_A, dst=MAC_B)


def _inner_tcp():
    return IP(src="10.1.1.1", dst="10.2.2.2", ttl=17, tos=0xB8) / TCP(
        sport=41000, dport=443, seq=1000, ack=2000, flags="PA", window=321,
        options=[("Timestamp", (123456, 654321)), ("NOP", None), ("NOP", None)]) / Raw(b"inner")


def _inner_udp6():
    return IPv6(src="2001:db8::10", dst="2001:db8::20", hlim=9, tc=0x2D, fl=0xABCDE) \
        / UDP(sport=5353, dport=5354) / Raw(b"six")


def corpus() -> dict[str, bytes]:
    outer4 = dict(src="192.0.2.1", dst="198.51.100.2", ttl=64)
    outer6 = dict(src="2001:db8:ff::1", dst="2001:db8:ff::2")
    every_option = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (1, 2)), ("NOP", None),
                    ("WScale", 7)]
    frames = {
        # TCP options, one at a time and all together
        "tcp_syn_every_option": _eth() / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=1, dport=2, flags="S", options=every_option),
        "tcp_mss": _eth() / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=3, dport=4, flags="S", options=[("MSS", 536)]),
        "tcp_wscale": _eth() / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=3, dport=4, flags="SA", options=[("WScale", 14), ("NOP", None)]),
        "tcp_sack_1": _eth() / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=5, dport=6, flags="A", options=[("NOP", None), ("NOP", None),
                                                    ("SAck", (100, 200))]),
        "tcp_sack_3_ts": _eth() / IP(src="10.0.0.1", dst="10.0.0.2")
        / TCP(sport=5, dport=6, flags="A", options=[
            ("NOP", None), ("NOP", None), ("Timestamp", (7, 8)),
            ("SAck", (100, 200, 300, 400, 500, 600))]) / Raw(b"d" * 9),
        "tcp6_options": _eth() / IPv6(src="2001:db8::1", dst="2001:db8::2", tc=0x01, fl=7)
        / TCP(sport=7, dport=8, flags="S", options=every_option),
        # ICMP echo
        "icmp_echo": _eth() / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8, id=0x1234,
                                                                       seq=77) / Raw(b"p" * 8),
        "icmp_echo_reply": _eth() / IP(src="10.0.0.2", dst="10.0.0.1", tos=0x03)
        / ICMP(type=0, id=0x1234, seq=77),
        "icmpv6_echo": _eth() / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / ICMPv6EchoRequest(id=99, seq=3, data=b"abc"),
        "icmpv6_echo_reply": _eth() / IPv6(src="2001:db8::2", dst="2001:db8::1")
        / ICMPv6EchoReply(id=99, seq=3),
        # ARP
        "arp_request": _eth() / ARP(op=1, hwsrc=MAC_A, psrc="10.0.0.1", pdst="10.0.0.2"),
        "arp_reply": Ether(src=MAC_B, dst=MAC_A) / ARP(op=2, hwsrc=MAC_B, psrc="10.0.0.2",
                                                       hwdst=MAC_A, pdst="10.0.0.1"),
        # fragments
        "ipv4_udp_first_fragment": _eth() / IP(flags="MF", frag=0, id=5, **outer4)
        / UDP(sport=10, dport=20, len=3008) / Raw(b"f" * 32),
        "ipv4_udp_last_fragment": _eth() / IP(frag=100, id=5, proto=17, **outer4)
        / Raw(b"g" * 24),
        # 802.3 / LLC / STP
        "stp": Dot3(src=MAC_A, dst="01:80:c2:00:00:00") / LLC() / STP(),
        "llc_netbios": Dot3(src=MAC_A, dst="03:00:00:00:00:01") / LLC(dsap=0xF0, ssap=0xF0,
                                                                        ctrl=3) / Raw(b"n" * 30),
        # MPLS, 1-3 labels
        "mpls_1": _eth() / MPLS(label=16, cos=5, s=1, ttl=63) / _inner_tcp(),
        "mpls_2": _eth() / MPLS(label=1000, cos=1, s=0, ttl=62) / MPLS(label=2000, s=1, ttl=61)
        / _inner_tcp(),
        "mpls_3_ipv6": _eth() / MPLS(label=1048575, s=0, ttl=2) / MPLS(label=17, s=0, ttl=3)
        / MPLS(label=18, s=1, ttl=4) / _inner_udp6(),
        # GRE, each option, IPv4/IPv6/Ethernet payloads
        "gre_plain_ipv4": _eth() / IP(**outer4) / GRE() / _inner_tcp(),
        "gre_checksum": _eth() / IP(**outer4) / GRE(chksum_present=1) / _inner_tcp(),
        "gre_key": _eth() / IP(**outer4) / GRE(key_present=1, key=0xCAFE) / _inner_tcp(),
        "gre_sequence": _eth() / IP(**outer4) / GRE(seqnum_present=1, sequence_number=41)
        / _inner_tcp(),
        "gre_all_options_ipv6": _eth() / IP(**outer4)
        / GRE(chksum_present=1, key_present=1, key=7, seqnum_present=1, sequence_number=8)
        / _inner_udp6(),
        "gre_ethernet": _eth() / IP(**outer4) / GRE(proto=0x6558, key_present=1, key=3)
        / Ether(src="02:00:00:00:01:01", dst="02:00:00:00:01:02") / _inner_tcp(),
        "gre_over_ipv6": _eth() / IPv6(**outer6) / GRE() / _inner_tcp(),
        "erspan_2": _eth() / IP(**outer4) / GRE(seqnum_present=1, sequence_number=1, proto=0x88BE)
        / ERSPAN_II(session_id=101, vlan=0) / Ether(src="02:00:00:00:02:01",
                                                    dst="02:00:00:00:02:02") / _inner_tcp(),
        "erspan_3": _eth() / IP(**outer4) / GRE(seqnum_present=1, sequence_number=2, proto=0x22EB)
        / ERSPAN_III(session_id=202) / Ether(src="02:00:00:00:03:01", dst="02:00:00:00:03:02")
        / _inner_udp6(),
        # VXLAN and Geneve
        "vxlan": _eth() / IP(**outer4) / UDP(sport=50000, dport=4789) / VXLAN(vni=4242)
        / Ether(src="02:00:00:00:04:01", dst="02:00:00:00:04:02") / _inner_tcp(),
        "vxlan_ipv6_outer": _eth() / IPv6(**outer6) / UDP(sport=50001, dport=4789)
        / VXLAN(vni=0xFFFFFF) / Ether() / _inner_udp6(),
        "vxlan_arp": _eth() / IP(**outer4) / UDP(sport=50002, dport=4789) / VXLAN(vni=9)
        / Ether(src=MAC_A, dst="ff:ff:ff:ff:ff:ff") / ARP(op=1, hwsrc=MAC_A, psrc="10.9.0.1",
                                                          pdst="10.9.0.2"),
        "geneve_ethernet": _eth() / IP(**outer4) / UDP(sport=50003, dport=6081)
        / GENEVE(vni=77, proto=0x6558) / Ether() / _inner_tcp(),
        "geneve_ipv4_options": _eth() / IP(**outer4) / UDP(sport=50004, dport=6081)
        / GENEVE(vni=78, proto=0x0800, optionlen=2, options=b"\x01\x02\x03\x01" + b"\xaa" * 4)
        / _inner_tcp(),
        # IP-in-IP
        "ipip": _eth() / IP(**outer4) / _inner_tcp(),
        "ipv6_in_ipv4": _eth() / IP(**outer4) / _inner_udp6(),
        "ipv4_in_ipv6": _eth() / IPv6(**outer6) / _inner_tcp(),
        "ipv6_in_ipv6": _eth() / IPv6(**outer6) / _inner_udp6(),
    }
    out = {name: bytes(frame) for name, frame in frames.items()}
    # IPv4 total length 0, as a TSO/GRO segment captured on the host
    tso = bytearray(bytes(_eth() / IP(src="10.0.0.1", dst="10.0.0.2")
                          / TCP(sport=9, dport=10, flags="A", seq=5) / Raw(b"t" * 1400)))
    tso[16:18] = b"\0\0"
    out["ipv4_total_length_0"] = bytes(tso)
    # an IP length past the frame: cut on the wire
    long_frame = bytes(_eth() / IP(src="10.0.0.1", dst="10.0.0.2")
                       / TCP(sport=11, dport=12, flags="PA", seq=6) / Raw(b"l" * 200))
    out["ipv4_cut_on_the_wire"] = long_frame[:90]
    long6 = bytes(_eth() / IPv6(src="2001:db8::1", dst="2001:db8::2")
                  / UDP(sport=13, dport=14) / Raw(b"m" * 200))
    out["ipv6_cut_on_the_wire"] = long6[:80]
    return out


CORPUS = corpus()

# ---------------------------------------------------------------- tshark
FIELDS = (
    "frame.protocols", "eth.src", "eth.dst", "eth.type", "eth.len", "llc.dsap", "llc.ssap",
    "mpls.label", "mpls.exp", "mpls.bottom", "mpls.ttl",
    "ip.version", "ip.src", "ip.dst", "ip.proto", "ip.ttl", "ip.len", "ip.dsfield.dscp",
    "ip.dsfield.ecn", "ip.frag_offset", "ip.flags.mf",
    "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.hlim", "ipv6.plen", "ipv6.tclass.dscp",
    "ipv6.tclass.ecn", "ipv6.flow",
    "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags",
    "tcp.window_size_value", "tcp.len", "tcp.options.mss_val", "tcp.options.wscale.shift",
    "tcp.options.sack_perm", "tcp.options.sack.count", "tcp.options.timestamp.tsval",
    "tcp.options.timestamp.tsecr",
    "udp.srcport", "udp.dstport", "udp.length",
    "icmp.type", "icmp.code", "icmp.ident", "icmp.seq",
    "icmpv6.type", "icmpv6.code", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
    "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.hw_mac", "arp.dst.proto_ipv4",
    "gre.flags_and_version", "gre.key", "gre.sequence_number", "vxlan.vni", "geneve.vni",
    "erspan.spanid",
)


def tshark_fields(path) -> list[dict[str, list[str]]]:
    """Per packet: field -> every occurrence, in order, as tshark prints them."""
    args = ["tshark", "-r", str(path), "-n", "-T", "fields", "-E", "separator=/t",
            "-E", "occurrence=a", "-E", "aggregator=|",
            "-o", "tcp.relative_sequence_numbers:FALSE", "-o", "tcp.analyze_sequence_numbers:FALSE",
            "-o", "ip.defragment:FALSE"]
    for field in FIELDS:
        args += ["-e", field]
    done = subprocess.run(args, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = []
    for line in done.stdout.rstrip("\n").split("\n"):
        values = line.split("\t")
        assert len(values) == len(FIELDS), line
        rows.append({f: (v.split("|") if v else []) for f, v in zip(FIELDS, values)})
    return rows


def number(text: str) -> int:
    if text in ("True", "False"):
        return int(text == "True")
    return int(text, 16) if text.startswith("0x") else int(text)


def mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def ip_row(text: str) -> bytes:
    import ipaddress
    address = ipaddress.ip_address(text)
    if address.version == 4:
        return b"\0" * 10 + b"\xff\xff" + address.packed
    return address.packed


def ip_layers(fields: dict[str, list[str]]) -> list[dict]:
    """tshark's IP headers in order (complete ones: with a destination
    address), stopping at ICMP (whose errors quote IP headers)."""
    layers = []
    seen = {"ip": 0, "ipv6": 0}
    for proto in fields["frame.protocols"][0].split(":") if fields["frame.protocols"] else []:
        if proto.startswith("icmp"):
            break
        if proto not in seen:
            continue
        k = seen[proto]
        seen[proto] += 1
        if k >= len(fields[f"{proto}.dst"]):
            break     # a cut header: the ones after it were not decoded either
        get = (lambda name, k=k, proto=proto: fields[f"{proto}.{name}"][k]
               if k < len(fields[f"{proto}.{name}"]) else None)
        if proto == "ip":
            layer = {"ip_version": 4, "ip_src": ip_row(get("src")), "ip_dst": ip_row(get("dst")),
                     "ip_proto": number(get("proto")), "ttl": number(get("ttl")),
                     "ip_len": number(get("len")), "ip_dscp": number(get("dsfield.dscp")),
                     "ip_ecn": number(get("dsfield.ecn")),
                     "frag_offset": number(get("frag_offset")) * 8,    # tshark: 8-byte units
                     "more_fragments": number(get("flags.mf"))}
        else:
            layer = {"ip_version": 6, "ip_src": ip_row(get("src")), "ip_dst": ip_row(get("dst")),
                     "ip_proto": number(get("nxt")), "ttl": number(get("hlim")),
                     "ip_len": 40 + number(get("plen")), "ip_dscp": number(get("tclass.dscp")),
                     "ip_ecn": number(get("tclass.ecn")), "ipv6_flow_label": number(get("flow"))}
        layers.append(layer)
    return layers


def last(fields, name, convert=number):
    values = fields[name]
    return convert(values[-1]) if values else 0


def first(fields, name, convert=number):
    values = fields[name]
    return convert(values[0]) if values else 0


def expected_fields(fields: dict[str, list[str]], got: dict) -> dict:
    """What tshark says about the columns ringcap filled for this packet."""
    exp = {
        "eth_src": first(fields, "eth.src", mac) or bytes(6),
        "eth_dst": first(fields, "eth.dst", mac) or bytes(6),
        "eth_len": first(fields, "eth.len"),
        "llc_dsap": first(fields, "llc.dsap"), "llc_ssap": first(fields, "llc.ssap"),
        "mpls_label": first(fields, "mpls.label"), "mpls_tc": first(fields, "mpls.exp"),
        "mpls_bos": first(fields, "mpls.bottom"), "mpls_ttl": first(fields, "mpls.ttl"),
        "mpls_labels": len(fields["mpls.label"]),
        "gre_flags": first(fields, "gre.flags_and_version"),
        "gre_seq": first(fields, "gre.sequence_number"),
        "arp_op": last(fields, "arp.opcode"),
        "arp_sha": last(fields, "arp.src.hw_mac", mac) or bytes(6),
        "arp_tha": last(fields, "arp.dst.hw_mac", mac) or bytes(6),
        "arp_spa": int.from_bytes(ip_row(fields["arp.src.proto_ipv4"][-1])[12:], "big")
        if fields["arp.src.proto_ipv4"] else 0,
        "arp_tpa": int.from_bytes(ip_row(fields["arp.dst.proto_ipv4"][-1])[12:], "big")
        if fields["arp.dst.proto_ipv4"] else 0,
    }
    types = D.TUNNEL_TYPES
    tunnel_ids = {types["VXLAN"]: "vxlan.vni", types["GENEVE"]: "geneve.vni",
                  types["ERSPAN"]: "erspan.spanid", types["GRE"]: "gre.key"}
    if got["tunnel_type"] in tunnel_ids:
        exp["tunnel_id"] = last(fields, tunnel_ids[got["tunnel_type"]])
    elif got["tunnel_type"] == types["MPLS"]:
        exp["tunnel_id"] = last(fields, "mpls.label")
    eth_types = fields["eth.type"]
    exp["ethertype"] = number(eth_types[0]) if eth_types else 0
    layers = ip_layers(fields)
    empty = {"ip_version": 0, "ip_src": bytes(16), "ip_dst": bytes(16), "ip_proto": 0, "ttl": 0,
             "ip_len": 0, "ip_dscp": 0, "ip_ecn": 0}
    inner = layers[-1] if layers and got["ip_version"] else dict(empty)
    outer_layers = layers[:-1] if got["ip_version"] else layers
    outer = outer_layers[-1] if outer_layers and got["tunnel_depth"] else dict(empty)
    exp.update(inner)
    if got["ip_version"] != 6:
        exp.setdefault("ipv6_flow_label", 0)
    for name in ("ip_version", "ip_src", "ip_dst", "ip_proto"):
        exp[f"outer_{name}"] = outer[name]
    exp["ip_layers"] = len(layers)
    proto = got["ip_proto"]
    if got["ip_version"] and proto == 6:
        options = fields
        exp.update(sport=last(fields, "tcp.srcport"), dport=last(fields, "tcp.dstport"),
                   tcp_seq=last(fields, "tcp.seq_raw"), tcp_ack=last(fields, "tcp.ack_raw"),
                   tcp_flags=last(fields, "tcp.flags") & 0x1FF,
                   tcp_window=last(fields, "tcp.window_size_value"),
                   tcp_mss=last(options, "tcp.options.mss_val"),
                   tcp_wscale=last(options, "tcp.options.wscale.shift"),
                   tcp_sack_blocks=last(options, "tcp.options.sack.count"),
                   tcp_tsval=last(options, "tcp.options.timestamp.tsval"),
                   tcp_tsecr=last(options, "tcp.options.timestamp.tsecr"))
        bits = D.TCP_OPTION_BITS
        exp["tcp_options"] = (bits["MSS"] * bool(fields["tcp.options.mss_val"])
                              | bits["WSCALE"] * bool(fields["tcp.options.wscale.shift"])
                              | bits["SACK_PERM"] * bool(fields["tcp.options.sack_perm"])
                              | bits["SACK"] * bool(fields["tcp.options.sack.count"])
                              | bits["TIMESTAMP"] * bool(fields["tcp.options.timestamp.tsval"]))
        if fields["tcp.len"]:
            exp["payload_len"] = last(fields, "tcp.len")
    elif got["ip_version"] and proto == 17 and not got["frag_offset"]:
        exp.update(sport=last(fields, "udp.srcport"), dport=last(fields, "udp.dstport"))
        if fields["udp.length"]:
            exp["payload_len"] = last(fields, "udp.length") - 8
    elif got["ip_version"] == 4 and proto == 1:
        exp.update(icmp_type=last(fields, "icmp.type"), icmp_code=last(fields, "icmp.code"),
                   icmp_id=last(fields, "icmp.ident"), icmp_seq=last(fields, "icmp.seq"))
    elif got["ip_version"] == 6 and proto == 58:
        exp.update(icmp_type=last(fields, "icmpv6.type"), icmp_code=last(fields, "icmpv6.code"),
                   icmp_id=last(fields, "icmpv6.echo.identifier"),
                   icmp_seq=last(fields, "icmpv6.echo.sequence_number"))
    return exp


def _value(column: np.ndarray, i: int):
    value = column[i]
    return value.tobytes() if column.ndim == 2 else int(value)


@pytest.fixture(scope="module")
def decoded(tmp_path_factory):
    """The corpus whole, cut by a snaplen at every byte, and cut on the wire at every
    byte: (names, batch, headers, tshark's fields), one tshark run over it all."""
    names, frames, wirelen = [], [], []
    for name, frame in CORPUS.items():
        names.append(name)
        frames.append(frame)
        wirelen.append(len(frame))
        for k in range(len(frame)):
            names += [f"{name}[:{k}] snaplen", f"{name}[:{k}] wire"]
            frames += [frame[:k], frame[:k]]
            wirelen += [len(frame), k]
    batch = Batch.from_packets(frames, wirelen=wirelen,
                               ts=np.arange(len(frames), dtype=np.int64) * 1000)
    path = tmp_path_factory.mktemp("tshark") / "corpus.pcap"
    ringcap.write_pcap(path, batch)
    fields = tshark_fields(path)
    assert len(fields) == len(frames)
    _decode.reset_overrun_count()
    headers = D.decode(batch, columns="all")
    assert _decode.overrun_count() == 0, "a read went past caplen (debug build)"
    return names, batch, headers, fields


COMPARED = ("eth_src", "eth_dst", "ethertype", "eth_len", "llc_dsap", "llc_ssap", "mpls_label",
            "mpls_tc", "mpls_bos", "mpls_ttl", "mpls_labels", "gre_flags", "gre_seq", "arp_op",
            "arp_sha", "arp_tha", "arp_spa", "arp_tpa", "tunnel_id", "ip_version", "ip_src",
            "ip_dst", "ip_proto", "ttl", "ip_len", "ip_dscp", "ip_ecn", "ipv6_flow_label",
            "frag_offset", "more_fragments", "outer_ip_version", "outer_ip_src", "outer_ip_dst",
            "outer_ip_proto", "sport", "dport", "tcp_seq", "tcp_ack", "tcp_flags", "tcp_window",
            "tcp_options", "tcp_mss", "tcp_wscale", "tcp_sack_blocks", "tcp_tsval", "tcp_tsecr",
            "payload_len", "icmp_type", "icmp_code", "icmp_id", "icmp_seq")


def test_every_field_agrees_with_tshark(decoded):
    names, batch, h, fields = decoded
    columns = h.columns()
    problems = []
    whole = 0
    for i, name in enumerate(names):
        got = {column: _value(array, i) for column, array in columns.items()}
        exp = expected_fields(fields[i], got)
        flags = got["flags"]
        damaged = flags & (D.TRUNCATED | D.MALFORMED) & ~D.TRUNCATED_PAYLOAD
        for column in COMPARED:
            if column not in exp:
                continue
            ours, theirs = got[column], exp[column]
            if ours == theirs:
                continue
            if column == "tcp_options" and damaged and ours & theirs == ours:
                continue    # tshark also shows an option cut after its first value
            if not damaged or (ours and ours not in (b"\0" * 6, b"\0" * 16)):
                problems.append(f"{name}: {column} is {ours!r}, tshark says {theirs!r} "
                                f"(flags {D.flag_names(flags)})")
        ours_layers = (got["ip_version"] > 0) + (got["outer_ip_version"] > 0)
        if not damaged and ours_layers != exp["ip_layers"] and got["tunnel_depth"] <= 1:
            problems.append(f"{name}: {ours_layers} IP headers decoded, tshark saw "
                            f"{exp['ip_layers']}")
        whole += " " not in name
    assert whole == len(CORPUS)
    import collections
    kinds = collections.Counter(p.split(":")[0].split("[")[0] + ":" + p.split(": ")[1].split(" ")[0]
                                for p in problems)
    assert not problems, f"{len(problems)} disagreements ({kinds}), first ones:\n" + \
        "\n".join(problems[:30])


def test_corpus_decodes_through_its_tunnels(decoded):
    """The whole frames: the tunnel each one is in, and nothing flagged but the damage meant."""
    names, batch, h, fields = decoded
    rows = {name: i for i, name in enumerate(names) if " " not in name}
    types = D.TUNNEL_TYPES
    want = {"mpls_1": "MPLS", "mpls_2": "MPLS", "mpls_3_ipv6": "MPLS", "gre_plain_ipv4": "GRE",
            "gre_checksum": "GRE", "gre_key": "GRE", "gre_sequence": "GRE",
            "gre_all_options_ipv6": "GRE", "gre_ethernet": "GRE", "gre_over_ipv6": "GRE",
            "erspan_2": "ERSPAN", "erspan_3": "ERSPAN", "vxlan": "VXLAN",
            "vxlan_ipv6_outer": "VXLAN", "vxlan_arp": "VXLAN", "geneve_ethernet": "GENEVE",
            "geneve_ipv4_options": "GENEVE", "ipip": "IPIP", "ipv6_in_ipv4": "IPIP",
            "ipv4_in_ipv6": "IPIP", "ipv6_in_ipv6": "IPIP"}
    for name, i in rows.items():
        flags = int(h.flags[i])
        assert h.tunnel_type[i] == types.get(want.get(name), 0), name
        if name in want:
            assert flags & D.TUNNEL and h.tunnel_depth[i] == 1, name
            if name == "vxlan_arp":
                assert h.inner_ethertype[i] == 0x0806 and h.arp_spa[i] == 0x0A090001
            else:
                assert h.ip_src_str()[i] in ("10.1.1.1", "2001:db8::10"), name
        expected_damage = {"ipv4_total_length_0": D.IP_LENGTH_ZERO,
                           "ipv4_cut_on_the_wire": D.BAD_IP_LENGTH | D.TRUNCATED_PAYLOAD,
                           "ipv6_cut_on_the_wire": D.BAD_IP_LENGTH | D.TRUNCATED_PAYLOAD,
                           }.get(name, 0)
        assert flags & (D.TRUNCATED | D.MALFORMED | D.IP_LENGTH_ZERO) == expected_damage, \
            (name, D.flag_names(flags))
    assert h.geneve_opt_len[rows["geneve_ipv4_options"]] == 8
    assert h.mpls_labels[rows["mpls_3_ipv6"]] == 3
    assert h.flags[rows["stp"]] & D.LLC and h.ethertype[rows["stp"]] == 0
    assert h.eth_len[rows["stp"]] == len(CORPUS["stp"]) - 14
    # damaged frames keep their transport fields
    for name in ("ipv4_total_length_0", "ipv4_cut_on_the_wire"):
        i = rows[name]
        assert h.tcp_flags[i] and h.sport[i] and h.tcp_seq[i], name
        assert h.payload_len[i] == len(CORPUS[name]) - 54, name
    i = rows["ipv6_cut_on_the_wire"]
    assert (h.sport[i], h.dport[i], h.payload_len[i]) == (13, 14, 200)   # UDP's length field
    i = rows["ipv4_udp_first_fragment"]
    assert h.payload_len[i] == 3000 and h.flags[i] & D.FRAGMENT


def test_truncation_inside_a_tunnel_is_told_apart(decoded):
    names, batch, h, fields = decoded
    headers_cut = (h.flags & (D.TRUNCATED_L2 | D.TRUNCATED_L3 | D.TRUNCATED_L4)) != 0
    inner = (h.flags & D.TRUNCATED_INNER) != 0
    np.testing.assert_array_equal(inner, headers_cut & (h.tunnel_depth > 0))
    # e.g. VXLAN cut inside the inner TCP header, by a snaplen
    vxlan = CORPUS["vxlan"]
    i = names.index(f"vxlan[:{len(vxlan) - 30}] snaplen")
    assert h.flags[i] & D.TRUNCATED_INNER and h.flags[i] & D.TRUNCATED_L4
    assert h.tunnel_id[i] == 4242 and h.ip_src_str()[i] == "10.1.1.1" and h.sport[i] == 0


def test_outer_mode_stops_at_the_first_encapsulation(decoded):
    names, batch, h, fields = decoded
    outer = ringcap.decode(batch, columns="all", tunnels="outer")
    rows = [i for i, name in enumerate(names) if " " not in name]
    for i in rows:
        exp = expected_fields(fields[i], {**{c: 0 for c in h.names}, "ip_version": 1,
                                          "tunnel_type": 0, "tunnel_depth": 0})
        layers = ip_layers(fields[i])
        assert not outer.flags[i] & D.TUNNEL and outer.tunnel_depth[i] == 0
        assert outer.tunnel_type[i] == h.tunnel_type[i] or h.flags[i] & D.TUNNEL_LIMIT
        if layers and h.tunnel_type[i] != D.TUNNEL_TYPES["MPLS"]:
            assert outer.ip_src[i].tobytes() == layers[0]["ip_src"], names[i]
        else:
            assert outer.ip_version[i] == 0, names[i]
        del exp
    with pytest.raises(ValueError, match="tunnels must be"):
        D.decode(batch, tunnels="both")


def test_tunnel_types_have_names_in_exports(decoded):
    from ringcap.names import TUNNEL_TYPE_NAMES, tunnel_type_names
    assert {TUNNEL_TYPE_NAMES[v] for v in D.TUNNEL_TYPES.values()} == \
        {name.lower() for name in D.TUNNEL_TYPES}
    names, batch, h, fields = decoded
    whole = h[np.array([" " not in name for name in names])]
    frame = whole.to_pandas(names=True)
    assert frame["tunnel_type"].tolist() == list(tunnel_type_names(whole.tunnel_type))
    assert set(frame["tunnel_type"]) >= {"none", "mpls", "gre", "vxlan", "geneve", "ipip",
                                         "erspan"}
