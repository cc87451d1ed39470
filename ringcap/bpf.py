"""Classic BPF programs for capture filters.

A filter is either a tcpdump-syntax string, compiled here by libpcap's own
compiler (loaded with ctypes at run time, :mod:`ringcap.libpcap`: libpcap is never in the capture
path), or a raw program as a sequence of ``(code, jt, jf, k)`` tuples, like
the output of ``tcpdump -dd``.
"""
from __future__ import annotations

import struct
from collections.abc import Sequence

from ._lazy import lazy_attributes as _lazy_attributes
from ._validate import shorten
from .linktypes import LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    import numpy as np

    from .filtering import (SOCK_FILTER, CompiledFilter, LinkTypeFilter, Selection,
                            filter_batch, filter_mask)

Instruction = tuple[int, int, int, int]
FilterSpec = str | Sequence[Instruction] | None

BPF_MAXINSNS = 4096
DLT_EN10MB = 1
# Link types whose libpcap DLT_ value differs on Linux (libpcap's
# linktype_to_dlt, which it does not export): its compiler wants the DLT_.
_DLT_FOR_LINKTYPE = {100: 11, 101: 12, 106: 19}
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF

# struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }
# struct sock_filter: code, jt, jf, k (ringcap.filtering.SOCK_FILTER as a numpy dtype)
_SOCK_FILTER = struct.Struct("<HBBI")

_BPF_CLASS_RET = 0x06
_BPF_RVAL_MASK = 0x18
_BPF_K = 0x00
_BPF_JA = 0x05          # BPF_JMP | BPF_JA


def compile_filter(expression: str, snaplen: int = 262144, linktype: int = DLT_EN10MB,
                   optimize: bool = True, *, file_linktype: int | None = None,
                   swapped: bool = False,
                   live_interface: str | None = None) -> list[Instruction]:
    """Compile a tcpdump-syntax ``expression`` into classic BPF instructions.

    ``live_interface``: for a socket filter on this (Ethernet) interface, the
    program libpcap attaches there (``vlan`` also tests the tag the kernel
    keeps beside the frame), compiled on a briefly opened libpcap handle;
    without it (or if that cannot be opened) as for a savefile.
    Raises ValueError with libpcap's message if the expression is invalid,
    and for a NUL character (C would silently cut the expression there).
    """
    if not isinstance(expression, str):
        raise TypeError(f"a filter expression must be a str, got {type(expression).__name__}")
    if "\0" in expression:
        raise ValueError(f"the capture filter {shorten(repr(expression))} contains a NUL "
                         f"character at position {expression.index(chr(0))}; libpcap would "
                         f"ignore everything after it")
    from . import libpcap
    return libpcap.compile_program(expression, snaplen, linktype, optimize,
                                   file_linktype=file_linktype, swapped=swapped,
                                   live_interface=live_interface)


def libpcap_knows_linktype(name: str) -> bool:
    """Whether libpcap has a data link type of this name (``DOCSIS``), as
    tcpdump's ``-y`` looks it up (pcap_datalink_name_to_val)."""
    from . import libpcap
    return libpcap.knows_linktype(name)


def dlt_for_linktype(linktype: int) -> int:
    """libpcap's ``DLT_*`` value on Linux for a ``Batch.linktype`` (``LINKTYPE_*``) value:
    what :func:`compile_filter` wants for packets of that link type."""
    return _DLT_FOR_LINKTYPE.get(int(linktype), int(linktype))


# Ancillary loads (linux/filter.h): offsets SKF_AD_OFF + SKF_AD_* read the
# packet's metadata instead of its bytes.
_SKF_AD_OFF = (1 << 32) - 0x1000
_SKF_AD_PROTOCOL, _SKF_AD_PKTTYPE, _SKF_AD_IFINDEX, _SKF_AD_HATYPE = 0, 4, 8, 28
_BPF_LD, _BPF_LDX = 0x00, 0x01
_BPF_ABS, _BPF_IND, _BPF_MSH = 0x20, 0x40, 0xA0
# Where a field of the cooked headers is, and the ancillary load that gives it.
_COOKED_FIELDS = {
    LINKTYPE_LINUX_SLL2: (20, {0: _SKF_AD_PROTOCOL, 4: _SKF_AD_IFINDEX, 8: _SKF_AD_HATYPE,
                               10: _SKF_AD_PKTTYPE}),
    LINKTYPE_LINUX_SLL: (16, {14: _SKF_AD_PROTOCOL, 0: _SKF_AD_PKTTYPE}),
}
# NETLINK, LINUX_IRDA and LINUX_LAPD captures carry a LINUX_SLL header (libpcap)
_COOKED_FIELDS.update(dict.fromkeys((253, 144, 177), _COOKED_FIELDS[LINKTYPE_LINUX_SLL]))


def cooked_socket_program(insns: Sequence[Instruction], linktype: int = LINKTYPE_LINUX_SLL2,
                          expression: str | None = None) -> list[Instruction]:
    """A program compiled for a cooked link type, rewritten for a ``SOCK_DGRAM``
    socket, as libpcap does for its cooked captures: the kernel runs the filter
    over the frame from its network header, with no cooked header before it,
    so loads past the header move back by its length and loads of its protocol,
    packet type, interface index and hardware type become the ancillary loads
    ``SKF_AD_*`` of the same values.  Raises ValueError for a load of another
    part of the header (the hardware address), which the kernel cannot give."""
    hlen, fields = _COOKED_FIELDS[linktype]
    out = []
    for code, jt, jf, k in insns:
        cls, mode = code & 0x07, code & 0xE0
        if (cls == _BPF_LD and mode in (_BPF_ABS, _BPF_IND)) or (cls == _BPF_LDX
                                                                 and mode == _BPF_MSH):
            if k >= _SKF_AD_OFF and cls == _BPF_LD and mode == _BPF_ABS:
                pass        # already the kernel's metadata (libpcap's `ifindex` on cooked v1)
            elif k >= hlen:
                k -= hlen
            elif cls == _BPF_LD and mode == _BPF_ABS and k in fields:
                k = _SKF_AD_OFF + fields[k]
            else:
                what = shorten(repr(expression)) if expression else "the filter"
                raise ValueError(
                    f"{what} reads byte {k} of the cooked header (the link-layer address), "
                    "which a capture on all interfaces cannot filter on in the kernel; "
                    "filter on protocols, addresses and ports instead")
        out.append((code, jt, jf, k))
    return out


def validate_program(program: Sequence[Instruction]) -> list[Instruction]:
    """Check a raw program's shape and field ranges; returns it as a list of tuples."""
    insns = []
    try:
        items = list(program)
    except TypeError:
        raise ValueError("a filter must be a tcpdump-syntax string or a sequence of "
                         "(code, jt, jf, k) tuples") from None
    if not 1 <= len(items) <= BPF_MAXINSNS:
        raise ValueError(f"a BPF program needs 1 to {BPF_MAXINSNS} instructions, got {len(items)}")
    for i, insn in enumerate(items):
        try:
            code, jt, jf, k = (int(x) for x in insn)
        except (TypeError, ValueError):
            raise ValueError(f"BPF instruction {i} is {insn!r}, expected (code, jt, jf, k)") from None
        if not (0 <= code <= 0xFFFF and 0 <= jt <= 0xFF and 0 <= jf <= 0xFF and 0 <= k <= 0xFFFFFFFF):
            raise ValueError(f"BPF instruction {i} {insn!r} has a field out of range "
                             f"(code u16, jt u8, jf u8, k u32)")
        if (code & 0x07) == 0x05:   # BPF_JMP: BPF_JA jumps by k, the others by jt/jf
            # libpcap's bpf_validate: ja's k is a signed 32-bit offset from the next
            # instruction (protochain loops backwards); jt/jf only go forwards
            reach = (k - (1 << 32) if k >= 1 << 31 else k) if (code & 0xF0) == 0 else max(jt, jf)
            if i + 1 + reach >= len(items):
                raise ValueError(f"BPF instruction {i} {insn!r} jumps past the end of the "
                                 f"program")
            if i + 1 + reach < 0:
                raise ValueError(f"BPF instruction {i} {insn!r} jumps before the start of the "
                                 f"program")
        insns.append((code, jt, jf, k))
    if (insns[-1][0] & 0x07) != _BPF_CLASS_RET:
        raise ValueError("a BPF program must end with a return instruction")
    return insns


def pack(insns: Sequence[Instruction]) -> bytes:
    """Instructions packed as the kernel's ``struct sock_filter[]``."""
    return b"".join(_SOCK_FILTER.pack(*insn) for insn in insns)


def build_program(spec: FilterSpec, snaplen: int,
                  linktype: int = DLT_EN10MB, interface: str | None = None) -> np.ndarray | None:
    """:func:`pack_program` as a uint8 numpy array (``.view(SOCK_FILTER)`` reads it)."""
    import numpy as np
    packed = pack_program(spec, snaplen, linktype, interface)
    return None if packed is None else np.frombuffer(bytearray(packed), dtype=np.uint8)


def pack_program(spec: FilterSpec, snaplen: int,
                 linktype: int = DLT_EN10MB, interface: str | None = None) -> bytes | None:
    """The packed ``struct sock_filter[]`` to attach for ``spec`` and ``snaplen``.

    A tcpdump-syntax ``spec`` is compiled for the socket's ``linktype`` (a
    ``LINKTYPE_*`` value); for ``LINKTYPE_LINUX_SLL2`` (a cooked, ``SOCK_DGRAM``
    socket) it is rewritten as libpcap does (:func:`cooked_socket_program`); on
    an Ethernet ``interface``, as libpcap compiles it there (VLAN tags in the
    kernel's metadata, see :func:`compile_filter`).
    A raw program runs as given, over the bytes the socket sees.
    The kernel truncates each packet to the filter's return value, so this is
    also how snaplen is enforced: ``ret #k`` instructions are capped at
    ``snaplen`` (a program that accepts everything is used when no filter is
    given).  Returns None when nothing needs attaching.
    """
    if spec is None:
        if snaplen >= 262144:
            return None
        insns = [(_BPF_CLASS_RET | _BPF_K, 0, 0, snaplen)]
    elif isinstance(spec, str):
        insns = compile_filter(spec, snaplen=snaplen, linktype=dlt_for_linktype(linktype),
                               live_interface=interface if linktype == DLT_EN10MB else None)
        if linktype in _COOKED_FIELDS:
            insns = cooked_socket_program(insns, linktype, spec)
        if len(insns) > BPF_MAXINSNS:
            raise ValueError(
                f"the capture filter {shorten(repr(spec))} compiles to {len(insns)} BPF "
                f"instructions, more than the kernel's limit of {BPF_MAXINSNS} (BPF_MAXINSNS); "
                f"simplify it (e.g. a net or port range instead of a list of hosts or ports)")
    elif isinstance(spec, (bytes, bytearray)):
        raise ValueError("a filter must be a tcpdump-syntax str or a sequence of "
                         "(code, jt, jf, k) tuples, not bytes")
    else:
        insns = validate_program(spec)
    backward = next((i for i, (c, _, _, k) in enumerate(insns)
                     if c == _BPF_JA and k >= 1 << 31), None)
    if backward is not None:
        what = (f"the capture filter {shorten(repr(spec))} compiles to" if isinstance(spec, str)
                else "the filter program has")
        raise ValueError(
            f"{what} a backward jump (instruction {backward}; libpcap loops that way for "
            f"`protochain`), which the kernel's socket filter refuses; capture without this "
            f"filter into a file (-w) and apply it when reading (`ringcap -r FILE EXPRESSION`), "
            f"or use a filter without the loop (`ip6 and tcp` looks at the first header and "
            f"a fragment header only)")
    capped = [(c, jt, jf, min(k, snaplen) if (c & 0x07) == _BPF_CLASS_RET
               and (c & _BPF_RVAL_MASK) == _BPF_K else k) for c, jt, jf, k in insns]
    return pack(capped)


def skip_outgoing_on(ifindex: int, program: bytes | None, snaplen: int) -> bytes:
    """``program`` (packed, or None: accept) behind a prefix that drops packets
    leaving interface ``ifindex``: libpcap takes the loopback's packets once,
    arriving (leaving, each would be seen twice).  Uses the ancillary loads
    of packet type and interface index; the program's own jumps are relative,
    so it runs unchanged after the prefix."""
    if program is None:
        program = pack([(_BPF_CLASS_RET | _BPF_K, 0, 0, snaplen)])
    ld_b_abs, ld_w_abs, jeq_k = 0x30, 0x20, 0x15
    prefix = pack([
        (ld_b_abs, 0, 0, _SKF_AD_OFF + _SKF_AD_PKTTYPE),
        (jeq_k, 0, 3, 4),                       # PACKET_OUTGOING? else to the program
        (ld_w_abs, 0, 0, _SKF_AD_OFF + _SKF_AD_IFINDEX),
        (jeq_k, 0, 1, ifindex),                 # leaving ifindex: drop; else the program
        (_BPF_CLASS_RET | _BPF_K, 0, 0, 0),
    ])
    return prefix + bytes(program)


# Filtering batches (numpy) lives in ringcap.filtering; its names are also
# found here, where they were first, once asked for.
_IN_FILTERING = ("SOCK_FILTER", "CompiledFilter", "LinkTypeFilter", "Selection",
                 "filter_mask", "filter_batch")


__getattr__ = _lazy_attributes(__name__, {
    **{name: "ringcap.filtering" for name in _IN_FILTERING},
    # (ctypes: loaded when a filter is compiled)
    "_BpfInsn": "ringcap.libpcap:BpfInsn", "_BpfProgram": "ringcap.libpcap:BpfProgram",
    "_load_libpcap": "ringcap.libpcap:load"})
