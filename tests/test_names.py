"""Names for integer codes (ringcap.names), columns by name, and modules that are not shadowed."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import numpy as np
import pytest

import ringcap
from ringcap import names


def _tcp_frame(flags: int, sport: int = 40000, dport: int = 443, reply: bool = False) -> bytes:
    eth = bytes(6) + bytes.fromhex("020000000001") + b"\x08\x00"
    hosts = [10, 0, 0, 2, 10, 0, 0, 1] if reply else [10, 0, 0, 1, 10, 0, 0, 2]
    ip = bytes.fromhex("45000028000040004006") + b"\x00\x00" + bytes(hosts)
    tcp = (sport.to_bytes(2, "big") + dport.to_bytes(2, "big") + (1).to_bytes(4, "big")
           + (0).to_bytes(4, "big") + bytes([0x50, flags]) + b"\xff\xff" + bytes(4))
    return eth + ip + tcp


def _udp_frame() -> bytes:
    eth = bytes(6) + bytes.fromhex("020000000001") + b"\x08\x00"
    ip = bytes.fromhex("4500001c000040004011") + b"\x00\x00" + bytes([10, 0, 0, 1, 10, 0, 0, 3])
    return eth + ip + bytes.fromhex("303900350008") + b"\x00\x00"


def _arp_frame() -> bytes:
    return b"\xff" * 6 + bytes.fromhex("020000000001") + b"\x08\x06" + bytes(28)


def test_tcp_flag_letters_match_the_bits():
    assert names.tcp_flag_names(0x02) == "S"
    assert names.tcp_flag_names(0x12) == "SA"
    assert names.tcp_flag_names(0x19) == "FPA"
    assert names.tcp_flag_names(0x1B) == "FSPA"     # FIN|SYN|PSH|ACK, not decoder flags
    assert names.tcp_flag_names(0) == ""
    assert names.tcp_flag_names(0x1FF) == "FSRPAUECN"
    values = np.arange(512, dtype=np.uint16)
    got = names.tcp_flag_names(values)
    for v in (1, 4, 8, 0x20, 0x40, 0x80, 0x100, 0x14, 0x11):
        expected = "".join(letter for bit, letter in enumerate("FSRPAUECN") if v >> bit & 1)
        assert got[v] == expected
    assert len(set(got.tolist())) == 512
    with pytest.raises(TypeError, match="integer"):
        names.tcp_flag_names(np.array([1.5]))


def test_vocabularies():
    assert list(names.ip_proto_names([6, 17, 1, 58, 132, 47, 0, 253])) == [
        "tcp", "udp", "icmp", "icmpv6", "sctp", "gre", "none", "253"]
    assert names.ip_proto_names(np.uint8(17)) == "udp"
    assert list(names.pkttype_names(np.array([0, 1, 2, 3, 4], np.uint8))) == [
        "host", "broadcast", "multicast", "otherhost", "outgoing"]
    assert list(names.ethertype_names([0x0800, 0x86DD, 0x0806, 0, 0x1234])) == [
        "ipv4", "ipv6", "arp", "none", "0x1234"]
    assert names.status_names(0x1 | 0x10 | (1 << 29)) == "user|vlan_valid|ts_software"
    assert names.status_names(1 << 20) == "0x100000"
    assert names.status_names(np.array([0, 4], np.uint32)).tolist() == ["", "losing"]


def _mixed_batch() -> ringcap.Batch:
    frames = [_tcp_frame(0x02), _tcp_frame(0x12, 443, 40000, reply=True), _udp_frame(), _arp_frame(),
              _tcp_frame(0x18)]
    return ringcap.Batch.from_packets(frames, pkttype=[0, 0, 1, 1, 4])


def test_columns_by_name():
    batch = _mixed_batch()
    assert batch["ts"] is batch.ts
    assert batch["data"] is batch.data
    with pytest.raises(KeyError, match="no column 'sport'"):
        batch["sport"]
    h = ringcap.decode(batch)
    assert h["sport"] is h.sport
    assert h["ts"] is batch.ts
    with pytest.raises(KeyError, match="no column"):
        h["nope"]
    f = ringcap.flows(h)
    assert f["packets"] is f.packets
    assert f["packets"].tolist() == [3, 1]       # the ARP frame is not IP
    with pytest.raises(KeyError, match="no column"):
        f["nope"]


def test_pandas_exports_name_the_codes():
    pd = pytest.importorskip("pandas")
    batch = _mixed_batch()
    frame = batch.to_pandas(decode=True)
    assert isinstance(frame["ip_proto"].dtype, pd.CategoricalDtype)
    assert frame["ip_proto"].tolist() == ["tcp", "tcp", "udp", "none", "tcp"]
    assert frame["tcp_flags"].tolist() == ["S", "SA", "", "", "PA"]
    assert frame["pkttype"].tolist() == ["host", "host", "broadcast", "broadcast", "outgoing"]
    assert frame["ethertype"].tolist() == ["ipv4", "ipv4", "ipv4", "arp", "ipv4"]
    assert frame.groupby("ip_proto", observed=True).size().to_dict() == {
        "none": 1, "tcp": 3, "udp": 1}
    raw = batch.to_pandas(decode=True, names=False)
    assert raw["ip_proto"].tolist() == [6, 6, 17, 0, 6]
    assert raw["tcp_flags"].dtype == np.uint16
    flows = ringcap.flows(batch).to_pandas()
    assert flows["tcp_flags_fwd"].tolist() == ["SPA", ""]     # first packet's direction
    assert flows["tcp_flags_rev"].tolist() == ["SA", ""]


def test_arrow_exports_are_dictionaries():
    pa = pytest.importorskip("pyarrow")
    table = _mixed_batch().to_arrow(decode=True)
    assert pa.types.is_dictionary(table.schema.field("ip_proto").type)
    assert table.column("tcp_flags").to_pylist() == ["S", "SA", "", "", "PA"]
    assert table.column("pkttype").to_pylist()[2] == "broadcast"
    plain = _mixed_batch().to_arrow(decode=True, names=False)
    assert plain.schema.field("ip_proto").type == pa.uint8()


def test_decode_is_the_function_and_help_shows_its_docstring():
    import pydoc
    import ringcap.headers as headers
    assert inspect.isfunction(ringcap.decode) and ringcap.decode is headers.decode
    assert headers.flag_names(headers.VLAN) == ["VLAN"]
    assert isinstance(ringcap.decode(_mixed_batch()), ringcap.Headers)
    text = pydoc.render_doc(ringcap.decode, renderer=pydoc.plaintext)
    assert "Decode every frame of ``batch``" in text
    assert "Malformed or truncated frames never raise" not in text    # the module's docstring
    assert "Decode every frame" in pydoc.render_doc("ringcap.decode", renderer=pydoc.plaintext)
    # no module hides behind the function, and the old import says where its names went
    with pytest.raises(ModuleNotFoundError, match="no longer a module: .* from ringcap.headers"):
        importlib.import_module("ringcap.decode")
    with pytest.raises(ModuleNotFoundError, match="ringcap.headers"):
        exec("from ringcap.decode import FIVE_TUPLE_COLUMNS", {})


def test_no_module_is_shadowed_by_a_function():
    for info in pkgutil.iter_modules(ringcap.__path__):
        module = importlib.import_module(f"ringcap.{info.name}")
        assert getattr(ringcap, info.name) is module, info.name


def test_decode_takes_every_argument_it_declares():
    batch = _mixed_batch()
    for name, parameter in inspect.signature(ringcap.decode).parameters.items():
        if name not in ("batch", "out"):
            ringcap.decode(batch, **{name: parameter.default})
