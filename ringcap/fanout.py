"""Fanout: the kernel spreads one stream of packets over several rings.

Rings opened with the same :class:`Fanout` group (``PACKET_FANOUT``) each get
a share of the packets instead of a copy: by flow hash, round robin, the
receiving CPU, and so on.  This is how several processes (see
:class:`ringcap.ParallelCapture`) capture one busy interface together.
"""
from __future__ import annotations

import os
import struct
import _thread
from collections.abc import Sequence

from ._frozen import frozen
from ._validate import _is_integer
from .bpf import Instruction, compile_filter, pack, validate_program

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    from weakref import WeakSet

# linux/if_packet.h
MODES = {"hash": 0, "lb": 1, "cpu": 2, "rollover": 3, "random": 4, "qm": 5, "cbpf": 6,
         "ebpf": 7}
FLAG_ROLLOVER = 0x1000
FLAG_UNIQUEID = 0x2000
FLAG_IGNORE_OUTGOING = 0x4000      # Linux 4.20
FLAG_DEFRAG = 0x8000
MAX_MEMBERS = 256                  # PACKET_FANOUT_MAX, the default group size
DLT_RAW = 12                       # raw IP, as libpcap numbers it on Linux

FanoutProgram = str | Sequence[Instruction] | bytes | int | None


@frozen
class Fanout:
    """A fanout group to open rings in (``RxRing(..., fanout=Fanout(...))``).

    ``mode`` picks the ring for each packet: ``"hash"`` (flow hash: both
    directions of a flow land in one ring), ``"lb"`` (round robin),
    ``"cpu"`` (the CPU that received the packet, modulo the group size),
    ``"rollover"`` (fill one ring, then the next), ``"random"``, ``"qm"``
    (the NIC's receive queue), ``"cbpf"`` (a classic BPF ``program`` returns
    the ring's index) or ``"ebpf"`` (an eBPF socket-filter ``program`` does).

    ``group_id`` (0-65535) names the group within the network namespace;
    ``None`` asks the kernel for an unused one (``PACKET_FANOUT_FLAG_UNIQUEID``)
    when the first ring opens; that ring's :attr:`RxRing.fanout` then carries
    the id to give to the others.  Flags: ``defrag`` reassembles IP
    fragments before choosing (so they follow their flow), ``rollover``
    sends a packet to another ring when the chosen one is full (counted in
    ``Stats.rollover``), ``ignore_outgoing`` leaves out packets this host
    sends (Linux 4.20).

    ``program``: for ``"cbpf"``, a tcpdump-syntax expression (matching
    packets go to ring 1, the others to ring 0) or a classic BPF program as
    ``(code, jt, jf, k)`` tuples whose return value, modulo the group size,
    is the ring index.  The kernel runs it on a received packet from its
    network header on (the Ethernet header already pulled): absolute loads
    count from the IP header, and expressions are compiled for raw IP, so
    link-layer terms (``ether ...``, ``vlan``) do not apply.  For ``"ebpf"``, the file descriptor of a loaded
    ``BPF_PROG_TYPE_SOCKET_FILTER`` program, or its instructions as bytes
    (``struct bpf_insn[]``), loaded with :func:`load_ebpf_socket_filter`.
    """

    group_id: int | None = None
    mode: str = "hash"
    defrag: bool = False
    rollover: bool = False
    ignore_outgoing: bool = False
    program: FanoutProgram = None

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"unknown fanout mode {self.mode!r}; choose one of "
                             f"{', '.join(MODES)}")
        if self.group_id is not None:
            if not _is_integer(self.group_id):
                raise TypeError(f"group_id must be an int or None, got "
                                f"{type(self.group_id).__name__}")
            if not 0 <= int(self.group_id) <= 0xFFFF:
                raise ValueError(f"group_id must be 0 to 65535, got {self.group_id}")
        if self.rollover and self.mode == "rollover":
            raise ValueError("rollover=True adds rollover to another mode; mode='rollover' "
                             "already is rollover (the kernel refuses both together)")
        if self.mode in ("cbpf", "ebpf") and self.program is None:
            raise ValueError(f"mode={self.mode!r} needs program= (what picks the ring)")
        if self.mode not in ("cbpf", "ebpf") and self.program is not None:
            raise ValueError(f"program= is only for mode='cbpf' or 'ebpf', not {self.mode!r}")

    @property
    def type_flags(self) -> int:
        """The mode and flags as ``PACKET_FANOUT`` takes them (upper 16 bits)."""
        value = MODES[self.mode]
        if self.rollover:
            value |= FLAG_ROLLOVER
        if self.ignore_outgoing:
            value |= FLAG_IGNORE_OUTGOING
        if self.defrag:
            value |= FLAG_DEFRAG
        return value

    def joined(self, group_id: int) -> "Fanout":
        """The same settings with a fixed ``group_id`` (to open more members)."""
        return Fanout(**{**vars(self), "group_id": int(group_id)})

    def describe(self) -> str:
        flags = [name for name in ("defrag", "rollover", "ignore_outgoing") if getattr(self, name)]
        group = "a new group" if self.group_id is None else f"group {self.group_id}"
        return f"{group}, mode {self.mode!r}" + (f" with {'+'.join(flags)}" if flags else "")


def cbpf_program(program) -> bytes:
    """The packed ``struct sock_filter[]`` for a cbpf fanout ``program``."""
    if isinstance(program, str):
        # A capture filter returns snaplen (match) or 0; make a match pick ring 1.
        # The kernel runs the program on received packets from the network
        # header on, so compile for raw IP rather than Ethernet.
        insns = [(c, jt, jf, 1 if (c & 0x07) == 0x06 and (c & 0x18) == 0 and k else k)
                 for c, jt, jf, k in compile_filter(program, linktype=DLT_RAW)]
    elif isinstance(program, (bytes, bytearray, int)):
        raise ValueError("a cbpf fanout program is a tcpdump-syntax str or (code, jt, jf, k) "
                         "tuples")
    else:
        insns = validate_program(program)
    return pack(insns)


def join_argument(fanout: Fanout) -> int:
    """The int ``setsockopt(PACKET_FANOUT)`` takes: ``id | type_flags << 16``."""
    if fanout.group_id is None:
        return (fanout.type_flags | FLAG_UNIQUEID) << 16
    return int(fanout.group_id) | fanout.type_flags << 16


# --------------------------------------------------------------------------
# Groups this process has opened rings in, to say what clashed on EINVAL.

_groups: dict[int, tuple[Fanout, str, WeakSet]] = {}
_groups_lock = _thread.allocate_lock()


def register(group_id: int, fanout: Fanout, where: str, ring) -> None:
    from weakref import WeakSet     # (only rings in a group need it: start-up)
    with _groups_lock:
        entry = _groups.get(group_id)
        if entry is None or not entry[2]:
            entry = (fanout.joined(group_id), where, WeakSet())
            _groups[group_id] = entry
        entry[2].add(ring)


def explain_join_error(exc: OSError, fanout: Fanout, where: str) -> Exception:
    """A clear error for a failed ``setsockopt(PACKET_FANOUT)``."""
    want = fanout.describe()
    if exc.errno == 114:            # EALREADY
        return ValueError(f"joining {want} on {where}: this socket is already in a fanout "
                          f"group; a ring joins one group, once")
    if exc.errno == 28:             # ENOSPC
        return ValueError(f"joining {want} on {where}: the group is full ({MAX_MEMBERS} "
                          f"rings); use fewer workers or another group_id")
    if exc.errno != 22:             # EINVAL
        return exc
    with _groups_lock:
        entry = _groups.get(int(fanout.group_id)) if fanout.group_id is not None else None
    if entry is not None and entry[2]:
        have, have_where, _ = entry
        clashes = []
        if have.mode != fanout.mode:
            clashes.append(f"mode {have.mode!r} (asked {fanout.mode!r})")
        for flag in ("defrag", "rollover", "ignore_outgoing"):
            if getattr(have, flag) != getattr(fanout, flag):
                clashes.append(f"{flag}={getattr(have, flag)} (asked {getattr(fanout, flag)})")
        if have_where != where:
            clashes.append(f"interface {have_where} (asked {where})")
        if clashes:
            return ValueError(
                f"cannot join fanout group {fanout.group_id}: a ring of this process already "
                f"holds it with {', '.join(clashes)}; every member must use the same mode, "
                f"flags and interface; match them or pick another group_id (None: a new one)")
    return ValueError(
        f"the kernel refused to join {want} on {where} (EINVAL): either the group id is "
        f"already used in this network namespace with another mode, other flags or another "
        f"interface (every member must match; pick another group_id, or None for a fresh "
        f"one), or the interface is down (`ip link set {where} up`)")


# --------------------------------------------------------------------------
# eBPF: load a socket-filter program with bpf(2), no extra dependencies.

_SYS_BPF = {"x86_64": 321, "aarch64": 280, "armv7l": 386, "ppc64le": 361, "s390x": 351,
            "riscv64": 280, "i686": 357}
_BPF_PROG_LOAD = 5
_BPF_PROG_TYPE_SOCKET_FILTER = 1


def ebpf_instruction(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    """One ``struct bpf_insn`` (8 bytes), for building small programs by hand."""
    return struct.pack("<BBhi", code, (src & 0xF) << 4 | (dst & 0xF), off, imm)


def load_ebpf_socket_filter(instructions: bytes, *, log_size: int = 1 << 16) -> int:
    """Load eBPF ``instructions`` (``struct bpf_insn[]``) as a socket filter
    and return its file descriptor (close it with ``os.close`` once attached).

    Needs CAP_BPF or root (or unprivileged BPF enabled).  The verifier's log
    is in the error when the kernel refuses the program.
    """
    if not isinstance(instructions, (bytes, bytearray, memoryview)):
        raise TypeError("instructions must be bytes of struct bpf_insn (8 bytes each)")
    code = bytes(instructions)
    if not code or len(code) % 8:
        raise ValueError(f"eBPF instructions are 8 bytes each; got {len(code)} bytes")
    import ctypes
    import platform
    number = _SYS_BPF.get(platform.machine())
    if number is None:
        raise OSError(38, f"loading eBPF programs is not supported on {platform.machine()} "
                          f"by ringcap; load it yourself and pass its fd as program=")
    libc = ctypes.CDLL(None, use_errno=True)
    insns = ctypes.create_string_buffer(code, len(code))
    license_ = ctypes.create_string_buffer(b"GPL")
    log = ctypes.create_string_buffer(log_size)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into("<IIQQIIQ", attr, 0, _BPF_PROG_TYPE_SOCKET_FILTER, len(code) // 8,
                     ctypes.addressof(insns), ctypes.addressof(license_), 1, log_size,
                     ctypes.addressof(log))
    libc.syscall.restype = ctypes.c_long
    fd = libc.syscall(ctypes.c_long(number), ctypes.c_int(_BPF_PROG_LOAD), attr,
                      ctypes.c_uint(128))
    if fd < 0:
        err = ctypes.get_errno()
        text = log.value.decode(errors="replace").strip()
        hint = f"; verifier log: {text}" if text else ""
        if err in (1, 13):
            hint += "; loading eBPF needs CAP_BPF (or root)"
        raise OSError(err, f"bpf(BPF_PROG_LOAD) of a {len(code) // 8}-instruction socket "
                           f"filter: {os.strerror(err)}{hint}")
    return int(fd)
