"""Lines of the protocols an office LAN or a VPN gateway carries, against tcpdump's.

IGMP, ESP, VRRP, spanning tree BPDUs, syslog, HSRP, LLDP, IKEv2 (pyx/text_lan.pxi),
built with scapy (explicit MAC addresses, written to files, never sent),
printed by `ringcap -r` and `tcpdump -r` with and without -v, -vv, -q and -e,
whole and cut after every byte past the IP (LLC) header: the lines must be
the same bytes.
"""
import struct

import pytest

import ringcap
from ringcap import _text

from test_printer import EXACT_ROOM_FLAGS, format_all, packets, ringcap_lines, tcpdump_lines

scapy = pytest.importorskip("scapy.all")
from scapy.all import IP, LLC, STP, UDP, Dot1Q, Dot3, Ether, IPv6, Raw  # noqa: E402
from scapy.layers.igmp import IGMP  # noqa: E402
from scapy.layers.igmp import IGMPv3_MQ, IGMPv3_MR, IGMPv3_MR_Group  # noqa: E402
from scapy.contrib.lldp import (LLDPDUChassisID, LLDPDUEndOfLLDPDU, LLDPDUManagementAddress,  # noqa: E402
                                LLDPDUPortDescription, LLDPDUPortID, LLDPDUSystemCapabilities,
                                LLDPDUSystemDescription, LLDPDUSystemName, LLDPDUTimeToLive)
from scapy.layers.hsrp import HSRP  # noqa: E402
from scapy.layers.ipsec import ESP  # noqa: E402
from scapy.layers.isakmp import ISAKMP  # noqa: E402
from scapy.layers.vrrp import VRRP, VRRPv3  # noqa: E402
from scapy.utils import checksum  # noqa: E402

A = "02:00:00:00:00:01"
FLAGS = [(), ("-v",), ("-vv",), ("-q",), ("-e",)]


def eth(dst="01:00:5e:00:00:16"):
    return Ether(src=A, dst=dst)


def cut_after_each_byte(frames):
    """Every frame cut after each of its bytes past the IP (LLC) header, and the wire lengths."""
    cut, wire = [], []
    for frame in frames:
        kind = int.from_bytes(frame[12:14], "big")
        first = 14 + ((frame[14] & 15) * 4 if kind == 0x0800 else
                      {0x86DD: 40, 0x88CC: 0, 0x8100: 4}.get(kind, 3))
        cut += [frame[:n] for n in range(first, len(frame) + 1)]
        wire += [len(frame)] * (len(frame) + 1 - first)
    return cut, wire


def assert_lines_are_tcpdumps(tmp_path, frames, name, flags_tried=FLAGS):
    whole = [bytes(f) for f in frames]
    for label, (built, wire) in (("whole", (whole, [len(f) for f in whole])),
                                 ("cut", cut_after_each_byte(whole))):
        path = tmp_path / f"{name}-{label}.pcap"
        batch = ringcap.Batch.from_packets(built, ts=[1_700_000_000_000_000_000 + i * 1000
                                                      for i in range(len(built))])
        batch.wirelen[:] = wire
        ringcap.write_pcap(path, batch, nanosecond=False)
        for flags in flags_tried:
            theirs = packets(tcpdump_lines(path, *flags))
            ours = packets(ringcap_lines(path, "-nn", *flags))
            differ = [(a, b) for a, b in zip(theirs, ours) if a != b]
            assert len(ours) == len(theirs) and not differ, \
                f"{label} {flags}: " + "\n".join(f"tcpdump: {a}\nringcap: {b}" for a, b in differ[:6])


def igmp_raw(kind, body=bytes([239, 1, 2, 3])):
    message = bytes([kind, 0, 0, 0]) + body
    return Raw(message[:2] + checksum(message).to_bytes(2, "big") + message[4:])


def igmp_frames():
    def ip(**kw):
        return IP(src="10.0.0.1", dst="224.0.0.22", ttl=1, **kw)
    records = [IGMPv3_MR_Group(rtype=4, maddr="239.1.1.1"),
               IGMPv3_MR_Group(rtype=1, maddr="239.2.2.2", srcaddrs=["10.1.1.1", "10.1.1.2"]),
               IGMPv3_MR_Group(rtype=9, maddr="239.3.3.3")]
    return [
        eth() / ip() / IGMP(type=0x16, gaddr="239.1.2.3"),
        eth() / ip() / IGMP(type=0x17, gaddr="239.1.2.3"),
        eth() / ip() / IGMP(type=0x12, gaddr="239.1.2.3"),
        eth() / ip() / IGMP(type=0x11, gaddr="0.0.0.0", mrcode=100),
        eth() / ip() / IGMP(type=0x11, gaddr="239.9.9.9", mrcode=20),
        eth() / ip() / IGMP(type=0x11, gaddr="0.0.0.0", mrcode=0),
        eth() / ip() / IGMP(type=0x16, gaddr="239.1.2.3", chksum=0x1234),     # -v: bad cksum
        eth() / ip(proto=2) / igmp_raw(0x30),                                  # igmp-48
        eth() / ip(proto=2) / igmp_raw(0x12, bytes([239, 1, 2, 3, 0, 0, 0, 0])),  # [len 12]
        eth() / ip(proto=2) / igmp_raw(0x22, bytes(4) + bytes(2)),             # [invalid len 10]
        eth() / ip() / IGMPv3_MR(records=records),
        eth() / ip() / IGMPv3_MR(numgrp=5, records=records[:1]),                # invalid number
        eth() / ip() / IGMPv3_MQ(mrcode=100, gaddr="0.0.0.0"),
        eth() / ip() / IGMPv3_MQ(mrcode=200, gaddr="239.1.1.1", srcaddrs=["10.9.9.9", "10.9.9.8"]),
        eth() / ip() / IGMPv3_MQ(mrcode=25, gaddr="239.1.1.1", srcaddrs=["10.9.9.9"]),
        eth() / ip() / IGMPv3_MQ(mrcode=255, gaddr="239.1.1.1", numsrc=9),
    ]


def test_igmp_lines_are_tcpdumps(tmp_path):
    # ringcap printed " ip-proto-2 8" for every one of these
    assert_lines_are_tcpdumps(tmp_path, igmp_frames(), "igmp")


def esp_frames():
    v4 = dict(src="10.0.0.1", dst="10.0.0.2")
    return [
        eth() / IP(**v4) / ESP(spi=0x1234, seq=5, data=b"x" * 40),
        eth() / IP(**v4) / ESP(spi=0xDEADBEEF, seq=0xFFFFFFF0, data=b""),
        eth() / IP(**v4, flags="MF") / ESP(spi=7, seq=1, data=b"z" * 8),
        eth("02:00:00:00:00:02") / IPv6(src="2001:db8::1", dst="2001:db8::2")
        / ESP(spi=0x99, seq=1, data=b"y" * 24),
    ]


def test_esp_lines_are_tcpdumps(tmp_path):
    # ringcap printed " ip-proto-50 48"
    assert_lines_are_tcpdumps(tmp_path, esp_frames(), "esp")


def vrrp_frames():
    def ip(ttl=255):
        return IP(src="10.0.0.1", dst="224.0.0.18", ttl=ttl)
    v6 = bytes([0x31, 7, 100, 2, 0, 100, 0, 0]) + bytes(15) + b"\x01" + bytes(15) + b"\x02"
    return [
        eth() / ip() / VRRP(vrid=7, priority=100, addrlist=["10.0.0.254"]),
        eth() / ip() / VRRP(vrid=7, priority=100, addrlist=["10.0.0.254", "10.0.0.253"],
                            authtype=1, auth1=0x70617373, auth2=0x0A000000),
        eth() / ip(64) / VRRP(vrid=7, priority=100, addrlist=["10.0.0.254"], chksum=0x4321),
        eth() / ip() / VRRP(vrid=8, priority=5, authtype=7, addrlist=["10.0.0.1"]),
        eth() / ip() / VRRPv3(vrid=7, priority=100, addrlist=["10.0.0.254"]),
        eth() / ip() / VRRPv3(vrid=7, priority=100, addrlist=["10.0.0.254"], chksum=1),
        eth() / ip() / VRRP(version=2, type=3, vrid=7),
        eth() / ip() / VRRP(version=1, vrid=7),
        eth("02:00:00:00:00:02") / IPv6(src="fe80::1", dst="ff02::12", hlim=255, nh=112) / Raw(v6),
        eth("02:00:00:00:00:02") / IPv6(src="fe80::1", dst="ff02::12", hlim=1, nh=112) / Raw(v6),
    ]


def test_vrrp_lines_are_tcpdumps(tmp_path):
    # ringcap printed " ip-proto-112 20"
    assert_lines_are_tcpdumps(tmp_path, vrrp_frames(), "vrrp")


@pytest.mark.parametrize("options", [{"verbose": 1, "payload": "XX"}, {"verbose": 2, "payload": "XX"},
                                     {"verbose": 2, "payload": "A", "link_header": True}])
def test_long_lan_lists_stay_within_the_promised_room(options):
    # IGMPv3 reports of thousands of records or sources, a query of thousands
    # of sources, an MSTP BPDU of 90 instances and a syslog message of 9,000
    # bytes: the -v lists stop after LIST_BUDGET bytes of text (the instances
    # after four times that, the message after twice that, its dump at 1 KiB)
    record = bytes([9, 0, 0, 0, 239, 1, 2, 3])
    sources = bytes([1, 0]) + struct.pack("!H", 2000) + bytes([239, 1, 2, 3]) + bytes(range(4)) * 2000
    messages = [struct.pack("!BBHHH", 0x22, 0, 0, 0, 1000) + record * 1000,
                struct.pack("!BBHHH", 0x22, 0, 0, 0, 1) + sources,
                struct.pack("!BBH4sBBH", 0x11, 200, 0, bytes([239, 1, 1, 1]), 0, 0, 2000)
                + bytes(range(4)) * 2000]
    frames = [bytes(12) + b"\x08\x00" + struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(message), 0, 0, 1,
                                                   2, 0) + bytes(8) + message for message in messages]
    # an MSTP BPDU of 90 instances in a 1500-byte frame, each printed in ~150 bytes
    bpdu = mstp_bpdu(90)
    frames.append(bytes(12) + struct.pack("!HBBB", len(bpdu) + 3, 0x42, 0x42, 3) + bpdu)
    # a syslog message of 9,000 bytes of 0xff ("M-^?" each under -v)
    message = b"<13>" + b"\xff" * 9000
    frames.append(bytes(12) + b"\x08\x00" + struct.pack("!BBHHHBBH", 0x45, 0, 28 + len(message), 0, 0, 1,
                                                        17, 0) + bytes(8)
                  + struct.pack("!HHHH", 514, 514, 8 + len(message), 0) + message)
    for frame in frames:
        text = format_all(ringcap.Batch.from_packets([frame], ts=[0]), **options)
        assert 1000 < len(text) <= _text.bytes_needed(len(frame))


def test_short_vqp_and_radius_datagrams_are_cut_as_tcpdump_says(tmp_path):
    # under VQP's 8-byte header or RADIUS's 20 bytes, tcpdump says " [|vqp]",
    # " [|radius]" where ringcap printed "UDP, length 0"; longer ones it decodes
    # (ringcap prints "UDP, length N": docs/printing.md)
    def ip(version):
        if version == 4:
            return eth("02:00:00:00:00:02") / IP(src="10.0.0.1", dst="10.0.0.2")
        return eth("02:00:00:00:00:02") / IPv6(src="2001:db8::1", dst="2001:db8::2")
    message = bytes([1, 1, 0, 20]) + bytes(16)
    frames = []
    for port, under in ((1589, 8), (1645, 20), (1646, 20), (1812, 20), (1813, 20)):
        for n in (0, 1, under - 1):
            frames.append(ip(4) / UDP(sport=40000, dport=port) / Raw(message[:n]))
        frames.append(ip(6) / UDP(sport=port, dport=40000))
    assert_lines_are_tcpdumps(tmp_path, frames, "udp-cut")


def mstp_bpdu(instances=2, name=b"region1", v1_length=0):
    """An 802.1s BPDU: CIST fields, the MST configuration and `instances` MSTI records."""
    bpdu = struct.pack("!HBBB8sI8sHHHHHB", 0, 3, 2, 0x7C, bytes.fromhex("8000020000000009"), 20000,
                       bytes.fromhex("8000020000000001"), 0x8001, 256, 20 * 256, 2 * 256, 15 * 256,
                       v1_length)
    bpdu += struct.pack("!HB32sH16sI8sB", 64 + 16 * instances, 0, name, 3, bytes(range(16)), 7,
                        bytes.fromhex("7000020000000001"), 19)
    for i in range(instances):
        bpdu += struct.pack("!BH6sIBBB", 0x78 | (i & 1), 0x8000 | (i + 1),
                            bytes.fromhex("020000000009"), 100 * i, 0x80, 0x80, 20)
    return bpdu


def stp_frames():
    def dot3():
        return Dot3(src=A, dst="01:80:c2:00:00:00")

    def llc(bpdu, sap=0x42):
        return dot3() / LLC(dsap=sap, ssap=sap, ctrl=3) / Raw(bpdu)
    return [
        dot3() / LLC() / STP(rootid=32768, rootmac="02:00:00:00:00:09", pathcost=4, bridgeid=32769,
                             bridgemac=A, portid=0x8001, age=1, maxage=20, hellotime=2, fwddelay=15),
        # timers in 1/256 s: printf's rounding of 0.125, 0.375, 0.0078125, 255.99
        dot3() / LLC() / STP(version=2, bpdutype=2, bpduflags=0x3C, rootmac="02:00:00:00:00:09",
                             age=0.125, maxage=0.375, hellotime=0.0078125, fwddelay=255.99) / b"\x00",
        dot3() / LLC() / STP(bpdutype=0x80),
        llc(b"\x00\x00\x00\x80"),
        dot3() / LLC() / STP(bpduflags=0x81),
        dot3() / LLC() / STP(version=2, bpdutype=2, bpduflags=0x7E) / b"\x00",
        dot3() / LLC() / STP(version=2, bpdutype=2, bpduflags=0x08) / b"\x00",
        dot3() / LLC() / STP(version=2, bpdutype=0),
        dot3() / LLC() / STP(version=0, bpdutype=2),
        dot3() / LLC() / STP(version=0, bpdutype=7),
        dot3() / LLC() / STP(version=9),
        llc(b"\x00\x01\x00\x00"),                  # unknown STP version
        llc(b"\x00\x00\x00"),                       # (invalid): under 4 bytes
        llc(bytes(20)),                              # (invalid): a Config under 35
        llc(b"\x00\x00\x02\x02" + bytes(31)),         # (invalid): RSTP under 36
        llc(STP().build(), sap=0x43),                # group DSAP, response SSAP
        llc(mstp_bpdu()),
        llc(mstp_bpdu(0, b"x" * 32)),
        llc(mstp_bpdu(1, v1_length=1)),              # (invalid)
        llc(mstp_bpdu(1)[:60]),                      # (invalid): v3 length past the BPDU
        llc(mstp_bpdu(3, b"caf\xe9\x01")),
    ]


def test_spanning_tree_lines_are_tcpdumps(tmp_path):
    # ringcap printed "LLC, dsap STP (0x42) Individual, ssap STP (0x42) Command,
    # ctrl 0x03, length 35" for every BPDU
    assert_lines_are_tcpdumps(tmp_path, stp_frames(), "stp")


def syslog_hsrp_frames():
    def ip(version=4):
        if version == 4:
            return eth("02:00:00:00:00:02") / IP(src="10.0.0.1", dst="10.0.0.2")
        return eth("02:00:00:00:00:02") / IPv6(src="2001:db8::1", dst="2001:db8::2")
    messages = [b"<13>Dec  8 01:00:00 host app: hello", b"<0>x", b"<191>kernel says\x01\x7f\xff\n",
                b"<999>big", b"<1234>too many", b"13>no", b"<13", b"<>empty", b"<", b"<1a>bad", b"<13>",
                b"<165>1 2003-10-11T22:14:15.003Z host.example.com evntslog - ID47 "
                b"[exampleSDID@32473 iut=\"3\"] An application event log entry..."]
    frames = [ip() / UDP(sport=40000, dport=514) / Raw(m) for m in messages]
    frames += [
        ip(6) / UDP(sport=514, dport=514) / Raw(b"<34>su: 'su root' failed"),
        ip() / UDP(sport=514, dport=514),
        ip() / UDP(sport=1985, dport=1985) / HSRP(group=1, virtualIP="10.0.0.254"),
        ip() / UDP(sport=1985, dport=1985) / HSRP(opcode=1, state=8, group=2, priority=200, hellotime=1,
                                                  holdtime=200, auth=b"p\x01ss\x00\x00\x00\x00",
                                                  virtualIP="10.0.0.1", reserved=3),
        ip() / UDP(sport=1985, dport=1985) / HSRP(opcode=7, state=3, auth=b"12345678"),
        ip() / UDP(sport=1985, dport=1985) / Raw(b"\x02" + bytes(30)),
        ip(6) / UDP(sport=1985, dport=1985) / HSRP(group=1, virtualIP="10.0.0.254"),
        ip() / UDP(sport=1985, dport=1985),
        ip() / UDP(sport=1985, dport=1985) / HSRP(state=0) / Raw(b"extra"),
    ]
    return frames


def test_syslog_and_hsrp_lines_are_tcpdumps(tmp_path):
    # ringcap printed "UDP, length N" for both
    assert_lines_are_tcpdumps(tmp_path, syslog_hsrp_frames(), "syslog-hsrp")


def lldp_frames():
    head = [LLDPDUChassisID(subtype=4, id=A), LLDPDUPortID(subtype=5, id="eth0"), LLDPDUTimeToLive(ttl=120)]
    end = LLDPDUEndOfLLDPDU()
    frames = [
        Ether(src=A, dst="01:80:c2:00:00:0e") / head[0] / head[1] / head[2]
        / LLDPDUSystemName(system_name="sw1") / end,
        Ether(src=A, dst="01:80:c2:00:00:0e") / head[0] / head[1] / head[2]
        / LLDPDUPortDescription(description="uplink") / LLDPDUSystemName(system_name="core.example.com")
        / LLDPDUSystemDescription(description="Linux 6.1")
        / LLDPDUSystemCapabilities(mac_bridge_available=1, mac_bridge_enabled=1)
        / LLDPDUManagementAddress(management_address_subtype=1, management_address="10.0.0.1",
                                  interface_numbering_subtype=2, interface_number=3) / end,
        Ether(src=A, dst="01:80:c2:00:00:0e") / head[0] / head[1] / head[2] / end,
        Ether(src=A, dst="01:80:c2:00:00:0e") / head[0] / head[1] / head[2]
        / LLDPDUSystemName(system_name="a\x00b") / LLDPDUSystemName(system_name="caf\xe9\x01\x7f") / end,
        Ether(src=A, dst="01:80:c2:00:00:0e") / head[0] / head[1] / head[2]
        / LLDPDUSystemName(system_name="no-end"),
        Ether(src=A, dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(b"\x0a\x10abc"),    # past the frame
        Ether(src=A, dst="01:80:c2:00:00:0e", type=0x88CC) / Raw(b"\x0a"),
        Ether(src=A, dst="01:80:c2:00:00:0e", type=0x88CC),
        Ether(src=A, dst="01:80:c2:00:00:0e") / Dot1Q(vlan=5, type=0x88CC) / head[0] / head[1] / head[2]
        / LLDPDUSystemName(system_name="tagged") / end,
    ]
    return frames


def test_lldp_lines_without_v_are_tcpdumps(tmp_path):
    # ringcap printed the MACs, "ethertype LLDP (0x88cc)" and a hex dump; without
    # -v tcpdump prints "LLDP, length 46: sw1" (the system names).  Under -v
    # tcpdump details every TLV and ringcap keeps the dump (docs/printing.md)
    assert_lines_are_tcpdumps(tmp_path, lldp_frames(), "lldp",
                              [(), ("-q",), ("-e",), ("-e", "-q"), ("-x",)])


@pytest.mark.parametrize("options", EXACT_ROOM_FLAGS)
def test_lan_frames_cut_anywhere_print_within_the_promised_room(options):
    # every built frame of this module cut after each of its bytes, in-process
    # (the sanitizer build runs this: no read past caplen, no write past the room)
    built = [bytes(f) for f in igmp_frames() + esp_frames() + vrrp_frames() + stp_frames()
             + syslog_hsrp_frames() + lldp_frames() + ikev2_frames()]
    frames = [f[:n] for f in built for n in range(14, len(f) + 1)]
    batch = ringcap.Batch.from_packets(frames, ts=[0] * len(frames))
    text = format_all(batch, **options)
    assert len(text) <= sum(_text.bytes_needed(len(f)) for f in frames)
    assert text.count(b"\n") >= len(frames)


@pytest.mark.parametrize("linktype", [113, 276])
def test_spanning_tree_on_a_cooked_capture_is_printed_as_tcpdump_does(tmp_path, linktype):
    # LINUX_SLL and LINUX_SLL2 (`-i any`), protocol 802.2: the BPDUs as on
    # Ethernet, whole and cut after every byte past the LLC header
    cooked = struct.pack("!HHH8sH", 0, 1, 6, bytes.fromhex("020000000001") + bytes(2), 4) \
        if linktype == 113 else \
        struct.pack("!HHIHBB8s", 4, 0, 1, 1, 0, 6, bytes.fromhex("020000000001") + bytes(2))
    path = tmp_path / "cooked.pcap"
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
        for i, frame in enumerate(bytes(f) for f in stp_frames()):
            record = cooked + frame[14:14 + int.from_bytes(frame[12:14], "big")]
            for n in range(len(cooked) + 3, len(record) + 1):
                out.write(struct.pack("<IIII", 1_700_000_000 + i, n, n, len(record)) + record[:n])
    for flags in FLAGS:
        theirs = packets(tcpdump_lines(path, *flags))
        ours = packets(ringcap_lines(path, "-nn", *flags))
        differ = [(a, b) for a, b in zip(theirs, ours) if a != b]
        assert len(ours) == len(theirs) and not differ, \
            f"{flags}: " + "\n".join(f"tcpdump: {a}\nringcap: {b}" for a, b in differ[:6])
    assert "STP 802.1s" in theirs[-1]


def ikev2_frames():
    def ip(version=4):
        if version == 4:
            return eth("02:00:00:00:00:02") / IP(src="10.0.0.1", dst="10.0.0.2")
        return eth("02:00:00:00:00:02") / IPv6(src="2001:db8::1", dst="2001:db8::2")

    def ike(exchange, flags=0x08, msgid=0, version=0x20):
        return ISAKMP(init_cookie=b"A" * 8, resp_cookie=b"B" * 8, exch_type=exchange, version=version,
                      flags=flags, id=msgid)
    frames = [ip() / UDP(sport=500, dport=500) / ike(kind, flags, msgid) / Raw(b"p" * 40)
              for kind, flags, msgid in ((34, 0x08, 0), (34, 0x20, 0), (35, 0x08, 1), (36, 0x28, 5),
                                         (37, 0x18, 7), (37, 0, 2), (99, 0x01, 0), (33, 0x30, 0))]
    return frames + [
        ip() / UDP(sport=500, dport=500) / ike(34, version=0x30),       # major 3: "isakmp:"
        ip(6) / UDP(sport=500, dport=500) / ike(34),
        ip() / UDP(sport=4500, dport=4500) / Raw(bytes(4)) / ike(35, msgid=1),
        ip() / UDP(sport=4500, dport=4500) / Raw(bytes(4) + b"short"),
        ip() / UDP(sport=500, dport=500) / Raw(b"short"),
        ip() / UDP(sport=500, dport=500),
    ]


def test_ikev2_lines_without_v_are_tcpdumps(tmp_path):
    # ringcap printed "UDP, length N" (and on port 4500 the same behind the
    # non-ESP marker); IKEv1's I/R tcpdump takes from earlier packets' cookies
    # and -v details the payloads: both keep the generic line (docs/printing.md)
    assert_lines_are_tcpdumps(tmp_path, ikev2_frames(), "ikev2", [(), ("-q",), ("-e",)])
