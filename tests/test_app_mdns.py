"""mDNS (UDP 5353) and LLMNR (UDP 5355) decode as DNS (issue 21), field by field as
tshark reads them, and print as tcpdump prints them.

Built with scapy: mDNS questions with the unicast-response bit (class 0x8001),
answers with the cache-flush bit and no question, a PTR browse, a legacy
unicast query to 5353 from another port; LLMNR queries and responses over
IPv4 and IPv6 (responses go back to the asker's port).
"""
from __future__ import annotations

import subprocess
import sys

from scapy.layers.dns import DNS, DNSQR, DNSRR
from scapy.layers.inet import IP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.utils import wrpcap

from ringcap import decode, read_pcap
from ringcap.appcolumns import APP_PROTOCOLS

from test_app_decode import as_int, tshark_fields

FIELDS = {"dns_id": "dns.id", "dns_qr": "dns.flags.response", "dns_opcode": "dns.flags.opcode",
          "dns_rcode": "dns.flags.rcode", "dns_qname": "dns.qry.name",
          "dns_qtype": "dns.qry.type", "dns_ancount": "dns.count.answers", "dns_a": "dns.a",
          "dns_aaaa": "dns.aaaa", "protocols": "frame.protocols"}


def _frames() -> list:
    v4 = Ether(src="02:00:00:00:00:01", dst="01:00:5e:00:00:fb") / IP(src="10.0.0.1",
                                                                     dst="224.0.0.251")
    v6 = Ether(src="02:00:00:00:00:01", dst="33:33:00:01:00:03") / IPv6(src="fe80::1",
                                                                       dst="ff02::1:3")
    back6 = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / IPv6(src="fe80::2",
                                                                          dst="fe80::1")
    back4 = Ether(src="02:00:00:00:00:02", dst="02:00:00:00:00:01") / IP(src="10.0.0.2",
                                                                        dst="10.0.0.1")

    def rr(name, kind, data, flush=0):
        return DNSRR(rrname=name, type=kind, rdata=data, cacheflush=flush)
    mdns, llmnr = UDP(sport=5353, dport=5353), UDP(sport=5355, dport=5355)
    return [
        v4 / mdns / DNS(id=0, qd=DNSQR(qname="Printer.local", qtype="A", unicastresponse=1)),
        v4 / mdns / DNS(id=0, qr=1, aa=1, qd=[], an=rr("printer.local", "A", "10.0.0.9")),
        v4 / mdns / DNS(id=0, qr=1, aa=1, qd=[],
                        an=rr("printer.local", "AAAA", "fe80::9", flush=1)),
        v4 / mdns / DNS(id=0, qd=DNSQR(qname="_ipp._tcp.local", qtype="PTR")),
        v4 / UDP(sport=40002, dport=5353) / DNS(id=5, qd=DNSQR(qname="legacy.local")),
        v6 / llmnr / DNS(id=77, qd=DNSQR(qname="WinHost", qtype="AAAA")),
        back6 / UDP(sport=5355, dport=40000) / DNS(
            id=77, qr=1, qd=DNSQR(qname="winhost", qtype="AAAA"),
            an=rr("winhost", "AAAA", "fe80::7")),
        v4 / UDP(sport=40001, dport=5355) / DNS(id=78, qd=DNSQR(qname="winhost", qtype="A")),
        back4 / UDP(sport=5355, dport=40001) / DNS(
            id=78, qr=1, rcode=0, qd=DNSQR(qname="winhost", qtype="A"),
            an=rr("winhost", "A", "10.0.0.7")),
        back4 / UDP(sport=5355, dport=40001) / DNS(
            id=79, qr=1, rcode=3, qd=DNSQR(qname="nobody", qtype="A")),
    ]


def test_mdns_and_llmnr_are_dns_columns_as_tshark_reads_them(tmp_path):
    pcap = tmp_path / "mdns.pcap"
    wrpcap(str(pcap), _frames())
    columns = tuple(name for name in FIELDS if name.startswith("dns_") and
                    name not in ("dns_a", "dns_aaaa")) + ("dns_answer", "app_proto")
    h = decode(read_pcap(pcap), columns=columns)
    shark = tshark_fields(pcap, FIELDS)
    assert len(shark) == len(h) == 10
    kinds = [row["protocols"].rsplit(":", 1)[1] for row in shark]
    assert kinds == ["mdns"] * 5 + ["llmnr"] * 5          # tshark's dissectors, ours: DNS
    assert h.app_proto.tolist() == [APP_PROTOCOLS["dns"]] * 10
    for i, row in enumerate(shark):
        for name in ("dns_id", "dns_qr", "dns_opcode", "dns_rcode", "dns_qtype", "dns_ancount"):
            assert int(h[name][i]) == as_int(row[name]), (i, name, row)
        assert h.dns_qname[i] == row["dns_qname"].lower(), (i, row)     # ours lower-cased
        assert h.dns_answer[i] == (row["dns_a"] or row["dns_aaaa"]), (i, row)
    assert list(h.dns_qname[:3]) == ["printer.local", "", ""]
    assert list(h.dns_answer[5:9]) == ["", "fe80::7", "", "10.0.0.7"]


def test_mdns_and_llmnr_print_as_tcpdump_prints_them(tmp_path):
    pcap = tmp_path / "mdns.pcap"
    wrpcap(str(pcap), _frames())
    ours = subprocess.run([sys.executable, "-m", "ringcap", "-nn", "-r", str(pcap)],
                          capture_output=True, text=True, check=True).stdout.splitlines()
    theirs = subprocess.run(["tcpdump", "-nn", "-r", str(pcap)], capture_output=True, text=True,
                            check=True).stdout.splitlines()
    assert ours == theirs and len(ours) == 10
    assert "A (QU)? Printer.local." in ours[0] and "(Cache flush) AAAA fe80::9" in ours[2]
    assert ours[5].endswith("UDP, length 25")       # LLMNR: tcpdump does not decode it
