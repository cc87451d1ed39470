"""libpcap through ctypes: its filter compiler (what tcpdump would attach or
run) and its names of link types.  Loaded only when a filter is compiled
(:func:`ringcap.bpf.compile_filter`): a capture without one imports no ctypes.
"""
from __future__ import annotations

import ctypes
import re
import struct
import sys

from ._validate import shorten

PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF


class BpfInsn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(BpfInsn))]


_libpcap = None


def load():
    global _libpcap
    if _libpcap is not None:
        return _libpcap
    # the sonames, found by the dynamic loader: ctypes.util.find_library would
    # run `ldconfig -p` (a process) on every command that compiles a filter
    for name in ("libpcap.so.1", "libpcap.so.0.8", "libpcap.so"):
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_compile.restype = ctypes.c_int
        lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(BpfProgram),
                                     ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.argtypes = [ctypes.POINTER(BpfProgram)]
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        lib.pcap_fopen_offline.restype = ctypes.c_void_p
        lib.pcap_fopen_offline.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.pcap_create.restype = ctypes.c_void_p
        lib.pcap_create.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
        lib.pcap_set_buffer_size.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.pcap_set_snaplen.argtypes = [ctypes.c_void_p, ctypes.c_int]
        lib.pcap_activate.argtypes = [ctypes.c_void_p]
        _libpcap = lib
        return lib
    raise RuntimeError(
        "compiling a tcpdump-syntax filter needs libpcap, which was not found; install it "
        "(Debian/Ubuntu: `apt-get install libpcap0.8`, Fedora: `dnf install libpcap`) or pass "
        "a compiled program as a list of (code, jt, jf, k) tuples, e.g. from `tcpdump -dd`")


def _libc():
    """The C library's stdio calls for an in-memory stream (FILE * as void *)."""
    libc = ctypes.CDLL(None)
    libc.fmemopen.restype = ctypes.c_void_p
    libc.fmemopen.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_char_p]
    libc.fwrite.restype = ctypes.c_size_t
    libc.fwrite.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_size_t, ctypes.c_void_p]
    libc.rewind.argtypes = [ctypes.c_void_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    return libc


def _savefile_handle(lib, linktype: int, snaplen: int, swapped: bool):
    """A libpcap handle on an empty pcap file of ``linktype`` (a ``LINKTYPE_*``
    value, in the other byte order when ``swapped``): programs compiled on it
    mean what they mean to ``tcpdump -r`` (for NULL and LOOP, libpcap then
    tests every system's address family for IPv6, in the file's byte order)."""
    order = (">" if sys.byteorder == "little" else "<") if swapped else "="
    header = struct.pack(order + "IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype)
    # a stream in memory (glibc's fmemopen, libpcap's pcap_fopen_offline):
    # no file on disk, no /proc, and no `tempfile` import (5-10 ms of start-up)
    libc = _libc()
    stream = libc.fmemopen(None, len(header), b"w+")
    if not stream:
        raise MemoryError("fmemopen() of a 24-byte pcap header for libpcap's filter compiler failed")
    errbuf = ctypes.create_string_buffer(256)
    handle = None
    try:
        if libc.fwrite(header, 1, len(header), stream) == len(header):
            libc.rewind(stream)
            handle = lib.pcap_fopen_offline(stream, errbuf)
        else:
            errbuf.value = b"the header could not be written to the in-memory stream"
    finally:
        if not handle:                     # on success pcap_close() closes the stream
            libc.fclose(stream)
    if not handle:
        raise ValueError(f"libpcap cannot compile filters for link type {linktype}: "
                         f"{errbuf.value.decode(errors='replace')}")
    return handle


def _live_handle(lib, interface: str, snaplen: int):
    """An activated libpcap handle on ``interface`` (a tiny buffer), or None.

    Programs compiled on it mean what they mean to ``tcpdump -i``: on Linux
    libpcap then tests VLAN tags in the kernel's metadata (``SKF_AD_VLAN_TAG``)
    as well as in the bytes, since the kernel takes them out of the frame
    before the socket filter runs.  A handle on a file or ``pcap_open_dead``
    tests the bytes only, and a live ``vlan`` filter would match nothing."""
    errbuf = ctypes.create_string_buffer(256)
    handle = lib.pcap_create(interface.encode(errors="surrogateescape"), errbuf)
    if not handle:
        return None
    lib.pcap_set_buffer_size(handle, 1 << 16)
    lib.pcap_set_snaplen(handle, snaplen)
    if lib.pcap_activate(handle) < 0:
        lib.pcap_close(handle)
        return None
    return handle


def compile_program(expression: str, snaplen: int, linktype: int, optimize: bool, *,
                    file_linktype: int | None, swapped: bool,
                    live_interface: str | None) -> list[tuple[int, int, int, int]]:
    """:func:`ringcap.bpf.compile_filter`'s compilation, by libpcap."""
    lib = load()
    handle = None
    if file_linktype is not None:     # for packets read from a file of this LINKTYPE_*
        handle = _savefile_handle(lib, int(file_linktype), snaplen, swapped)
    elif live_interface is not None and re.search(r"\bvlan\b", expression):
        handle = _live_handle(lib, live_interface, snaplen)   # (only `vlan` differs)
    if handle is None and file_linktype is None:
        handle = lib.pcap_open_dead(linktype, snaplen)
    if not handle:
        raise MemoryError("pcap_open_dead failed")
    program = BpfProgram()
    try:
        rc = lib.pcap_compile(handle, ctypes.byref(program), expression.encode(),
                              int(optimize), PCAP_NETMASK_UNKNOWN)
        if rc != 0:
            message = lib.pcap_geterr(handle).decode(errors="replace")
            raise ValueError(f"invalid capture filter {shorten(repr(expression))}: "
                             f"{shorten(message, 300)}")
        try:
            return [(program.bf_insns[i].code, program.bf_insns[i].jt,
                     program.bf_insns[i].jf, program.bf_insns[i].k)
                    for i in range(program.bf_len)]
        finally:
            lib.pcap_freecode(ctypes.byref(program))
    finally:
        lib.pcap_close(handle)


def knows_linktype(name: str) -> bool:
    """Whether libpcap has a data link type of this name (``DOCSIS``), as
    tcpdump's ``-y`` looks it up (pcap_datalink_name_to_val)."""
    lib = load()
    lib.pcap_datalink_name_to_val.restype = ctypes.c_int
    lib.pcap_datalink_name_to_val.argtypes = [ctypes.c_char_p]
    return lib.pcap_datalink_name_to_val(name.encode(errors="replace")) >= 0


def lib_version() -> str | None:
    """libpcap's version line (``pcap_lib_version()``), as ``tcpdump --version`` prints it."""
    version = getattr(load(), "pcap_lib_version", None)
    if version is None:
        return None
    version.restype = ctypes.c_char_p
    return version().decode()
