"""Classic BPF programs for capture filters.

A filter is either a tcpdump-syntax string, compiled here by libpcap's own
compiler (loaded with ctypes at run time: libpcap is never in the capture
path), or a raw program as a sequence of ``(code, jt, jf, k)`` tuples, like
the output of ``tcpdump -dd``.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from typing import Sequence, Union

import numpy as np

from ._validate import shorten
from . import _bpf

Instruction = tuple[int, int, int, int]
FilterSpec = Union[str, Sequence[Instruction], None]

BPF_MAXINSNS = 4096
DLT_EN10MB = 1
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF

# struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }
SOCK_FILTER = np.dtype([("code", "<u2"), ("jt", "u1"), ("jf", "u1"), ("k", "<u4")])

_BPF_CLASS_RET = 0x06
_BPF_RVAL_MASK = 0x18
_BPF_K = 0x00
_BPF_JA = 0x05          # BPF_JMP | BPF_JA


class _BpfInsn(ctypes.Structure):
    _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte),
                ("jf", ctypes.c_ubyte), ("k", ctypes.c_uint32)]


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_BpfInsn))]


_libpcap = None


def _load_libpcap():
    global _libpcap
    if _libpcap is not None:
        return _libpcap
    names = [ctypes.util.find_library("pcap"), "libpcap.so.1", "libpcap.so.0.8", "libpcap.so"]
    for name in names:
        if not name:
            continue
        try:
            lib = ctypes.CDLL(name)
        except OSError:
            continue
        lib.pcap_open_dead.restype = ctypes.c_void_p
        lib.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
        lib.pcap_compile.restype = ctypes.c_int
        lib.pcap_compile.argtypes = [ctypes.c_void_p, ctypes.POINTER(_BpfProgram),
                                     ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32]
        lib.pcap_geterr.restype = ctypes.c_char_p
        lib.pcap_geterr.argtypes = [ctypes.c_void_p]
        lib.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
        lib.pcap_close.argtypes = [ctypes.c_void_p]
        _libpcap = lib
        return lib
    raise RuntimeError(
        "compiling a tcpdump-syntax filter needs libpcap, which was not found; install it "
        "(Debian/Ubuntu: `apt-get install libpcap0.8`, Fedora: `dnf install libpcap`) or pass "
        "a compiled program as a list of (code, jt, jf, k) tuples, e.g. from `tcpdump -dd`")


def compile_filter(expression: str, snaplen: int = 262144, linktype: int = DLT_EN10MB,
                   optimize: bool = True) -> list[Instruction]:
    """Compile a tcpdump-syntax ``expression`` into classic BPF instructions.

    Raises ValueError with libpcap's message if the expression is invalid,
    and for a NUL character (C would silently cut the expression there).
    """
    if not isinstance(expression, str):
        raise TypeError(f"a filter expression must be a str, got {type(expression).__name__}")
    if "\0" in expression:
        raise ValueError(f"the capture filter {shorten(repr(expression))} contains a NUL "
                         f"character at position {expression.index(chr(0))}; libpcap would "
                         f"ignore everything after it")
    lib = _load_libpcap()
    handle = lib.pcap_open_dead(linktype, snaplen)
    if not handle:
        raise MemoryError("pcap_open_dead failed")
    program = _BpfProgram()
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


def build_program(spec: FilterSpec, snaplen: int) -> np.ndarray | None:
    """The packed ``struct sock_filter[]`` to attach for ``spec`` and ``snaplen``.

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
        insns = compile_filter(spec, snaplen=snaplen)
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
    return np.array(capped, dtype=SOCK_FILTER).view(np.uint8)


# ---------------------------------------------------------------- filtering batches
class CompiledFilter:
    """A filter compiled once and run over batches by ringcap's own interpreter.

    ``spec`` is a tcpdump-syntax string (compiled by libpcap for
    ``linktype``/``snaplen``, as ``tcpdump -r`` does) or a raw program of
    ``(code, jt, jf, k)`` tuples.  :meth:`mask` runs the classic-BPF program
    over every packet of a batch in compiled code without the GIL, with
    libpcap's and the kernel's semantics (a load past the captured bytes
    rejects the packet).
    """

    __slots__ = ("expression", "instructions", "program")

    def __init__(self, spec: Union[str, Sequence[Instruction]], *, snaplen: int = 262144,
                 linktype: int = DLT_EN10MB) -> None:
        if isinstance(spec, str):
            self.expression: str | None = spec
            insns = compile_filter(spec, snaplen=snaplen, linktype=linktype)
        elif isinstance(spec, (bytes, bytearray)):
            raise ValueError("a filter must be a tcpdump-syntax str or a sequence of "
                             "(code, jt, jf, k) tuples, not bytes")
        else:
            self.expression = None
            insns = validate_program(spec)
        self.instructions: list[Instruction] = insns
        self.program = np.array(insns, dtype=SOCK_FILTER).view(np.uint8)
        _bpf.check_program(self.program)

    def mask(self, batch) -> np.ndarray:
        """A boolean array: True where the program accepts the packet."""
        n = len(batch)
        out = np.zeros(n, dtype=np.uint8)
        _bpf.run_filter(self.program, np.ascontiguousarray(batch.data, dtype=np.uint8),
                        np.ascontiguousarray(batch.offset, dtype=np.int64),
                        np.ascontiguousarray(batch.caplen, dtype=np.uint32),
                        np.ascontiguousarray(batch.wirelen, dtype=np.uint32), out)
        return out.view(np.bool_)

    def __call__(self, batch):
        """The packets of ``batch`` the program accepts, as a batch (sharing its data)."""
        return batch[self.mask(batch)]

    def __repr__(self) -> str:
        what = repr(self.expression) if self.expression is not None else "raw program"
        return f"<CompiledFilter {what}, {len(self.instructions)} instructions>"


def _compiled(spec) -> CompiledFilter:
    return spec if isinstance(spec, CompiledFilter) else CompiledFilter(spec)


def filter_mask(batch, filter) -> np.ndarray:
    """Boolean mask of the packets of ``batch`` that ``filter`` accepts.

    ``filter``: a tcpdump-syntax string, a raw program, or a
    :class:`CompiledFilter` (compile once when filtering many batches).
    """
    return _compiled(filter).mask(batch)


def filter_batch(batch, filter):
    """The packets of ``batch`` that ``filter`` accepts (see :func:`filter_mask`)."""
    return _compiled(filter)(batch)
