"""The drain loop on synthetic TPACKET_V3 blocks: no privileges needed."""
import numpy as np
import pytest

from ringcap import Batch
from ringcap._ring import _test_drain_blocks, _test_ready_bounds
from ringcap.testing import (TP_STATUS_KERNEL, TP_STATUS_USER, TP_STATUS_VLAN_TPID_VALID,
                             TP_STATUS_VLAN_VALID, SyntheticPacket, block_status, build_blocks,
                             uniform_blocks)

BLOCK = 8192


def packet(i, size=60, **kw):
    data = bytes([0xFF] * 6 + [2, 0, 0, 0, 0, 1, 0x88, 0xB5]) + i.to_bytes(4, "big")
    data += bytes((i + k) & 0xFF for k in range(size - len(data)))
    return SyntheticPacket(data, sec=1700000000 + i, nsec=i * 1000 + 7, **kw)


def test_drains_every_field_and_hands_blocks_back():
    pkts = [[packet(0, 60, ifindex=3, pkttype=1, protocol=0x88B5, rxhash=0xDEADBEEF),
             packet(1, 1500, wirelen=1600)], [packet(2, 61)]]
    blocks = build_blocks(pkts, BLOCK)
    out = Batch.empty(16, 1 << 16)
    n, used = _test_drain_blocks(blocks, BLOCK, out)
    assert n == 3 and used == 60 + 1500 + 61
    assert out[0] == pkts[0][0].data and out[1] == pkts[0][1].data and out[2] == pkts[1][0].data
    assert out.ts.tolist() == [1700000000 * 10**9 + 7, 1700000001 * 10**9 + 1007,
                               1700000002 * 10**9 + 2007]
    assert out.caplen.tolist() == [60, 1500, 61]
    assert out.wirelen.tolist() == [60, 1600, 61]
    assert out.offset.tolist() == [0, 60, 1560]
    assert out.ifindex[0] == 3 and out.pkttype[0] == 1 and out.protocol[0] == 0x88B5
    assert out.rxhash[0] == 0xDEADBEEF and out.status[0] == TP_STATUS_USER
    assert block_status(blocks, BLOCK) == [TP_STATUS_KERNEL, TP_STATUS_KERNEL]


def test_stops_at_a_block_the_kernel_still_owns():
    blocks = build_blocks([[packet(0)], [packet(1)]], BLOCK)
    blocks[BLOCK + 8] = TP_STATUS_KERNEL      # second block not handed over yet
    out = Batch.empty(16, 1 << 16)
    n, _ = _test_drain_blocks(blocks, BLOCK, out)
    assert n == 1 and out[0] == packet(0).data


@pytest.mark.parametrize("step", [1, 2, 3, 5, 7])
def test_reads_resume_mid_block_without_loss_or_repetition(step):
    pkts = [[packet(b * 10 + i, 60 + 13 * i) for i in range(b + 3)] for b in range(4)]
    flat = [p for blk in pkts for p in blk]
    blocks = build_blocks(pkts, BLOCK)
    state = {"block": 0, "left": 0, "next_offset": 0}
    out = Batch.empty(8, 1 << 16)
    seen = []
    while True:
        n, _ = _test_drain_blocks(blocks, BLOCK, out, max_packets=step, state=state)
        if n == 0:
            break
        assert n <= step
        seen.extend(out.packets())
        # a block goes back only once all its packets were copied
        copied = len(seen)
        done_blocks = 0
        total = 0
        for blk in pkts:
            total += len(blk)
            if total <= copied:
                done_blocks += 1
        statuses = block_status(blocks, BLOCK)
        assert statuses[:done_blocks] == [TP_STATUS_KERNEL] * done_blocks
        assert all(s & TP_STATUS_USER for s in statuses[done_blocks:])
    assert seen == [p.data for p in flat]


def test_empty_block_is_skipped_and_returned():
    blocks = build_blocks([[], [packet(5)]], BLOCK)
    out = Batch.empty(4, 4096)
    n, _ = _test_drain_blocks(blocks, BLOCK, out)
    assert n == 1 and out[0] == packet(5).data
    assert block_status(blocks, BLOCK) == [TP_STATUS_KERNEL, TP_STATUS_KERNEL]


def test_stops_when_data_buffer_is_full_and_resumes():
    blocks = build_blocks([[packet(0, 1000), packet(1, 1000), packet(2, 1000)]], BLOCK)
    state = {"block": 0, "left": 0, "next_offset": 0}
    out = Batch.empty(16, 2500)
    n, used = _test_drain_blocks(blocks, BLOCK, out, state=state)
    assert (n, used, state["full"]) == (2, 2000, True)
    assert block_status(blocks, BLOCK) == [TP_STATUS_USER]    # not finished: still ours
    n, used = _test_drain_blocks(blocks, BLOCK, out, state=state)
    assert (n, used) == (1, 1000) and out[0] == packet(2, 1000).data
    assert block_status(blocks, BLOCK) == [TP_STATUS_KERNEL]


def test_vlan_tag_is_put_back_into_the_bytes():
    plain = packet(9, 64)
    tagged = SyntheticPacket(plain.data, sec=1, nsec=2, status=TP_STATUS_USER | TP_STATUS_VLAN_VALID,
                             vlan_tci=0x2064)
    qinq = SyntheticPacket(plain.data, status=TP_STATUS_USER | TP_STATUS_VLAN_VALID
                           | TP_STATUS_VLAN_TPID_VALID, vlan_tci=0x0123, vlan_tpid=0x88A8)
    blocks = build_blocks([[tagged, qinq]], BLOCK)
    out = Batch.empty(4, 4096)
    n, _ = _test_drain_blocks(blocks, BLOCK, out)
    assert n == 2
    assert out[0] == plain.data[:12] + b"\x81\x00\x20\x64" + plain.data[12:]
    assert out[1] == plain.data[:12] + b"\x88\xa8\x01\x23" + plain.data[12:]
    assert out.caplen.tolist() == [68, 68] and out.wirelen.tolist() == [68, 68]
    assert out.vlan_tci.tolist() == [0x2064, 0x0123]
    assert out.vlan_tpid.tolist() == [0x8100, 0x88A8]
    # without re-insertion the bytes stay as the kernel left them
    blocks = build_blocks([[tagged]], BLOCK)
    n, _ = _test_drain_blocks(blocks, BLOCK, out, reinsert_vlan=False)
    assert out[0] == plain.data and out.vlan_tci[0] == 0x2064 and out.vlan_tpid[0] == 0x8100


@pytest.mark.parametrize("snaplen", [8, 11, 12, 13, 14, 15, 16])
def test_a_snaplen_under_16_keeps_the_start_of_the_tag_as_libpcap(snaplen):
    """libpcap (pcap-linux.c) puts the tag back into a frame that holds the
    MACs (12 bytes), counts it in both lengths, then cuts to the snaplen;
    under 12 bytes it puts nothing back.  The loop put no tag back under 16."""
    plain = packet(9, 64)
    cut = SyntheticPacket(plain.data[:snaplen], wirelen=64,
                          status=TP_STATUS_USER | TP_STATUS_VLAN_VALID, vlan_tci=0x2064)
    blocks = build_blocks([[cut, cut]], BLOCK)
    out = Batch.empty(2, 2 * snaplen)           # no room past the two packets
    n, used = _test_drain_blocks(blocks, BLOCK, out, snaplen=snaplen)
    tagged = plain.data[:12] + b"\x81\x00\x20\x64" + plain.data[12:]
    if snaplen >= 12:
        assert out.packets() == [tagged[:snaplen]] * 2 and out.wirelen.tolist() == [68, 68]
    else:
        assert out.packets() == [plain.data[:snaplen]] * 2 and out.wirelen.tolist() == [64, 64]
    assert n == 2 and used == 2 * snaplen and out.vlan_tci.tolist() == [0x2064] * 2


def test_ready_bounds_cover_what_a_drain_copies():
    pkts = [[packet(i, 100 + i) for i in range(5)], [packet(7, 900)], []]
    blocks = build_blocks(pkts, BLOCK)
    blocks[2 * BLOCK + 8] = TP_STATUS_KERNEL
    packets, nbytes = _test_ready_bounds(blocks, BLOCK)
    assert packets == 6
    assert _test_ready_bounds(blocks, BLOCK, 3)[0] == 5     # whole blocks: 5 >= 3
    assert _test_ready_bounds(blocks, BLOCK, 3)[1] < nbytes
    out = Batch.empty(16, 1 << 16)
    n, used = _test_drain_blocks(blocks, BLOCK, out)
    assert n == 6 and used <= nbytes


def test_uniform_blocks_match_the_general_builder():
    blocks, per_block = uniform_blocks(1000, 64, 1 << 16)
    out = Batch.empty(2000, 1 << 20)
    n, used = _test_drain_blocks(blocks, 1 << 16, out)
    assert n == 1000 and used == 64000
    assert np.all(out.caplen == 64)
    assert np.array_equal(out.ts, 10**9 + np.arange(1000))
    assert out[999] == bytes(range(64))


def test_snaplen_is_enforced_whatever_the_filter_returned():
    blocks = build_blocks([[packet(0, 300), packet(1, 50)]], BLOCK)
    out = Batch.empty(4, 4096)
    n, used = _test_drain_blocks(blocks, BLOCK, out, snaplen=100)
    assert out.caplen.tolist() == [100, 50] and out.wirelen.tolist() == [300, 50]
    assert out[0] == packet(0, 300).data[:100] and used == 150
    # a re-inserted tag counts against snaplen too
    tagged = SyntheticPacket(packet(2, 100).data, status=TP_STATUS_USER | TP_STATUS_VLAN_VALID,
                             vlan_tci=7)
    blocks = build_blocks([[tagged]], BLOCK)
    _test_drain_blocks(blocks, BLOCK, out, snaplen=64)
    assert out.caplen[0] == 64 and out.wirelen[0] == 104
    assert out[0] == tagged.data[:12] + b"\x81\x00\x00\x07" + tagged.data[12:60]


@pytest.mark.parametrize("corrupt, message", [
    (lambda b: b.__setitem__(slice(16, 20), (BLOCK).to_bytes(4, "little")), "outside the block"),
    (lambda b: b.__setitem__(slice(48 + 12, 48 + 16), (BLOCK).to_bytes(4, "little")),
     "data lies outside"),
    (lambda b: b.__setitem__(slice(48, 52), bytes(4)), "no next_offset"),
])
def test_hand_built_blocks_are_checked_before_the_walk(corrupt, message):
    blocks = build_blocks([[packet(0), packet(1)]], BLOCK)
    corrupt(blocks)
    with pytest.raises(ValueError, match=message):
        _test_drain_blocks(blocks, BLOCK, Batch.empty(4, 4096))


def test_bad_walker_arguments_are_value_errors():
    out = Batch.empty(4, 4096)
    with pytest.raises(ValueError, match="whole number"):
        _test_drain_blocks(bytearray(0), BLOCK, out)
    with pytest.raises(ValueError, match="whole number"):
        _test_ready_bounds(b"\0" * 64, 0)
    blocks = build_blocks([[packet(0)]], BLOCK)
    with pytest.raises(ValueError, match="outside the blocks"):
        _test_drain_blocks(blocks, BLOCK, out, state={"block": 10**6, "left": 0, "next_offset": 0})


def test_a_cooked_ring_writes_a_linux_sll2_header_before_each_frame():
    """SOCK_DGRAM rings (all interfaces, link-less ones): the drain builds the
    20-byte LINUX_SLL2 header from the packet's sockaddr_ll, as libpcap does."""
    import struct
    ip = [bytes([0x45]) + bytes(range(i, i + 39)) for i in range(3)]
    pkts = [[SyntheticPacket(ip[0], ifindex=7, pkttype=4, protocol=0x0800),
             SyntheticPacket(ip[1], ifindex=0x01020304, pkttype=0, protocol=0x86DD,
                             wirelen=1400)],
            [SyntheticPacket(ip[2], ifindex=2, pkttype=1, protocol=0x0806)]]
    out = Batch.empty(16, 1 << 16)
    n, used = _test_drain_blocks(build_blocks(pkts, BLOCK), BLOCK, out, cooked=True)
    assert n == 3 and used == 3 * 60
    headers = [struct.pack(">HHIHBB8s", 0x0800, 0, 7, 1, 4, 6, b"\0" * 8),
               struct.pack(">HHIHBB8s", 0x86DD, 0, 0x01020304, 1, 0, 6, b"\0" * 8),
               struct.pack(">HHIHBB8s", 0x0806, 0, 2, 1, 1, 6, b"\0" * 8)]
    assert out.packets() == [h + p for h, p in zip(headers, ip)]
    assert out.caplen.tolist() == [60, 60, 60] and out.wirelen.tolist() == [60, 1420, 60]
    assert out.linktype.tolist() == [276] * 3
    # snaplen counts the header, as in tcpdump's files
    for snaplen, kept in ((30, headers[0] + ip[0][:10]), (12, headers[0][:12])):
        out = Batch.empty(16, 1 << 16)
        _test_drain_blocks(build_blocks(pkts[:1], BLOCK), BLOCK, out, cooked=True,
                           snaplen=snaplen, max_packets=1)
        assert out[0] == kept and out.wirelen[0] == 60


@pytest.mark.parametrize("linktype", [253, 144, 177], ids=["NETLINK", "LINUX_IRDA", "LINUX_LAPD"])
def test_netlink_irda_and_lapd_rings_write_a_linux_sll_header_before_each_frame(linktype):
    """The link types libpcap defines with a cooked v1 header (nlmon, IrDA,
    LAPD devices): a 16-byte LINUX_SLL header (packet type, hardware type,
    address length, address, protocol: for nlmon the netlink family), and
    the ring's own link type on each packet (the drain wrote LINUX_SLL2)."""
    import struct
    msgs = [bytes(range(i, i + 24)) for i in range(3)]
    pkts = [[SyntheticPacket(msgs[0], ifindex=7, pkttype=4, protocol=0x0000),
             SyntheticPacket(msgs[1], ifindex=7, pkttype=0, protocol=0x0010, wirelen=900)],
            [SyntheticPacket(msgs[2], ifindex=7, pkttype=1, protocol=0x0806)]]
    out = Batch.empty(16, 1 << 16)
    n, used = _test_drain_blocks(build_blocks(pkts, BLOCK), BLOCK, out, cooked=True,
                                 linktype=linktype)
    assert n == 3 and used == 3 * 40
    headers = [struct.pack(">HHH8sH", pkttype, 1, 6, b"\0" * 8, protocol)
               for pkttype, protocol in ((4, 0x0000), (0, 0x0010), (1, 0x0806))]
    assert out.packets() == [h + m for h, m in zip(headers, msgs)]
    assert out.caplen.tolist() == [40, 40, 40] and out.wirelen.tolist() == [40, 916, 40]
    assert out.linktype.tolist() == [linktype] * 3
    out = Batch.empty(16, 1 << 16)
    _test_drain_blocks(build_blocks(pkts[:1], BLOCK), BLOCK, out, cooked=True,
                       linktype=linktype, snaplen=10, max_packets=1)
    assert out[0] == headers[0][:10] and out.wirelen[0] == 40
