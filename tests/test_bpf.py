"""Filters: tcpdump strings compiled by libpcap, raw programs validated."""
import shutil
import subprocess

import numpy as np
import pytest

from ringcap.bpf import SOCK_FILTER, build_program, compile_filter, validate_program


def test_compiled_filter_matches_tcpdump_dd():
    if shutil.which("tcpdump") is None:
        pytest.skip("tcpdump not installed")
    expr = "udp and dst port 53"
    out = subprocess.run(["tcpdump", "-dd", "-s", "262144", expr], capture_output=True,
                         text=True, check=True).stdout
    expected = [tuple(int(x, 0) for x in line.strip(" {},").split(","))
                for line in out.splitlines() if line.strip()]
    assert compile_filter(expr) == expected


def test_invalid_expression_is_a_value_error_naming_it():
    with pytest.raises(ValueError, match="invalid capture filter 'udp and and'"):
        compile_filter("udp and and")


def test_snaplen_caps_every_return():
    prog = build_program("udp", snaplen=96).view(SOCK_FILTER)
    rets = [int(k) for code, k in zip(prog["code"], prog["k"]) if code == 0x06]
    assert rets and max(rets) == 96 and 0 in rets
    accept_all = build_program(None, snaplen=128).view(SOCK_FILTER)
    assert accept_all.tolist() == [(0x06, 0, 0, 128)]
    assert build_program(None, snaplen=262144) is None


@pytest.mark.parametrize("program, message", [
    ([], "1 to 4096 instructions"),
    ([(0x06, 0, 0)], "expected"),
    ([(0x10000, 0, 0, 0)], "out of range"),
    ([(0x15, 5, 0, 1), (0x06, 0, 0, 0)], "jumps past the end"),
    ([(0x28, 0, 0, 12)], "must end with a return"),
    (b"\x06\x00", "not bytes"),
    (42, "sequence of"),
])
def test_bad_raw_programs_are_rejected_before_any_syscall(program, message):
    with pytest.raises(ValueError, match=message):
        build_program(program, snaplen=65535)


def test_raw_program_is_packed_as_sock_filter():
    prog = [(0x28, 0, 0, 12), (0x15, 0, 1, 0x88B5), (0x06, 0, 0, 0xFFFF), (0x06, 0, 0, 0)]
    assert validate_program(prog) == prog
    packed = build_program(prog, snaplen=1000)
    assert packed.dtype == np.uint8 and packed.shape == (32,)
    assert packed.view(SOCK_FILTER)["k"].tolist() == [12, 0x88B5, 1000, 0]


def test_missing_libpcap_says_how_to_install_it_or_what_to_pass(monkeypatch):
    import ctypes

    from ringcap import libpcap

    def no_library(name, *args, **kwargs):
        raise OSError(f"{name}: cannot open shared object file")

    monkeypatch.setattr(libpcap, "_libpcap", None)
    monkeypatch.setattr(ctypes, "CDLL", no_library)
    with pytest.raises(RuntimeError, match="apt-get install libpcap0.8.*tcpdump -dd"):
        compile_filter("udp")
    # a raw program needs no libpcap
    assert build_program([(0x06, 0, 0, 0xFFFF)], snaplen=100).view(SOCK_FILTER)["k"][0] == 100
