"""Exported header columns of non-Ethernet captures, against tshark's fields.

A packet without an Ethernet header (Linux cooked, raw IP, BSD loopback)
has no ``eth.src``/``eth.dst`` in tshark: its ``eth_src``/``eth_dst`` are
missing in pandas (NaN) and null in Arrow with ``addresses="str"``, as the
IP addresses of non-IP packets are, not ``00:00:00:00:00:00`` (which an
Ethernet frame on ``lo`` really carries, and keeps).
"""
from __future__ import annotations

import subprocess

import pytest

import ringcap
from ringcap.batch import (LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2,
                           LINKTYPE_LOOP, LINKTYPE_NULL, LINKTYPE_RAW)
from test_linktypes import frame, printable_packets, text2pcap

ZERO_MACS = bytes(12)


def tshark_macs(path: str) -> list[tuple[str, str]]:
    done = subprocess.run(["tshark", "-r", path, "-n", "-T", "fields", "-e", "eth.src",
                           "-e", "eth.dst"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return [tuple(line.split("\t")) for line in done.stdout.rstrip("\n").split("\n")]


def as_text(value) -> str:
    return "" if value is None or value != value else str(value)   # NaN: missing


@pytest.mark.parametrize("linktype", [LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL,
                                      LINKTYPE_LINUX_SLL2, LINKTYPE_RAW, LINKTYPE_NULL,
                                      LINKTYPE_LOOP])
def test_mac_columns_are_missing_where_tshark_has_no_ethernet_header(tmp_path, linktype):
    """ringcap gave every cooked, raw IP and loopback packet the MACs
    00:00:00:00:00:00 in pandas and Arrow, where tshark has none."""
    frames = [frame(linktype, packet) for packet in printable_packets()]
    if linktype == LINKTYPE_ETHERNET:   # lo's frames: MACs of zeros, which are shown
        frames[0] = ZERO_MACS + frames[0][12:]
    path = text2pcap(tmp_path, "macs", frames, linktype, "pcap")
    want = tshark_macs(path)
    headers = ringcap.decode(ringcap.read_pcap(path))
    frame_of_headers = headers.to_pandas()
    got = [(as_text(src), as_text(dst))
           for src, dst in zip(frame_of_headers["eth_src"], frame_of_headers["eth_dst"])]
    assert got == want
    batch_frame = ringcap.read_pcap(path).to_pandas(decode=True)
    assert [as_text(v) for v in batch_frame["eth_src"]] == [src for src, _ in want]
    arrow = headers.to_arrow(addresses="str").column("eth_dst").to_pylist()
    assert [as_text(v) for v in arrow] == [dst for _, dst in want]
    sliced = headers[1:].to_pandas()       # rows of Headers keep their link types
    assert [as_text(v) for v in sliced["eth_src"]] == [src for src, _ in want[1:]]
