"""Live capture and transmit: `RxRing`, `TxRing` and `Stats`.

These classes validate arguments, allocate batches and keep the statistics;
the socket, the mapping and the drain loop live in the compiled
``ringcap._ring`` module.  It is one module of some 1,000 lines because the
pieces share one lifetime: a ring's handle, its per-interface cores, the
views that lend its blocks (:class:`~ringcap.ringview.RingView`, a batch, in
its own module) and the leases that give them back close together, under the
ring's lock.  What is built on rings (the worker pool, the front door
``capture()``) lives elsewhere.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import _socket      # (socket.py's enums cost start-up: 12 M instructions)
import select
import struct
import sys
import time
import _thread      # (threading and weakref: 3 M instructions of every start)
import _weakref

from . import _ring
from ._frozen import frozen
from ._lazy import lazy_attributes as _lazy_attributes
from ._validate import check_count, check_seconds, shorten
from .arphrd import (COOKED_LINKTYPES, LINKTYPE_CAN_SOCKETCAN, linktype_for_hatype,
                     linktypes_offered)
from .bpf import FilterSpec, pack_program, skip_outgoing_on
from .fanout import (Fanout, cbpf_program, explain_join_error, join_argument,
                     load_ebpf_socket_filter, register as _register_fanout)
from .linktypes import LINKTYPE_LINUX_SLL2, linktype_name, linktype_value

TYPE_CHECKING = False      # (typing.TYPE_CHECKING without importing typing: start-up)
if TYPE_CHECKING:
    from typing import Iterator, Sequence, TypeVar, Union

    from .batch import Batch
    from .ringview import RingView

    _Handle = TypeVar("_Handle", bound="_RingHandle")

# Batches (numpy) are made by the first read: a ring whose packets go straight
# into a pcap file (write_records, `ringcap -w`) never imports numpy.

PAGE_SIZE = os.sysconf("SC_PAGESIZE")
MiB = 1 << 20
# Per-block and per-packet headers the kernel puts in a V3 block (block
# descriptor, tpacket3_hdr, sockaddr_ll, alignment): a block must hold them
# plus snaplen bytes.
RING_OVERHEAD = 256
MAX_SNAPLEN = 262144
READ_DATA_BYTES = 16 * MiB
# A ring is under 4 GiB, so no read can ever return more packets than this.
MAX_READ_PACKETS = (1 << 32) - 1


@frozen
class Stats:
    """Cumulative counters since the ring was opened.

    ``packets``: packets the socket saw (passed the filter), delivered or not,
    as the kernel's ``PACKET_STATISTICS`` counts them (libpcap's ``ps_recv``).
    ``drops``: of those, dropped because the ring was full (``ps_drop``).
    ``freeze_count``: times the kernel froze the queue on a full ring.
    ``delivered``: packets copied out into batches by this ring.
    ``if_drops``: receive drops of the interface (all interfaces when capturing
    on all) since open, from ``/proc/net/dev`` (libpcap's ``ps_ifdrop``).
    ``backlog_drops``: packets the kernel dropped because a CPU's input backlog
    (``net.core.netdev_max_backlog``) was full, since open; this counter is
    system-wide, not per interface.
    ``rollover``, ``rollover_huge``, ``rollover_failed``: for a ring in a
    fanout group with rollover (``PACKET_ROLLOVER_STATS``): packets sent on to
    another ring of the group because this one was full, of those the ones
    moved because this ring took far more than its share, and packets no
    ring had room for; None without rollover.
    ``per_interface``: for a ring on a list of interfaces, ``{ifindex:
    Stats}`` (the fields above are then their sums); None otherwise.

    Packets still waiting in the ring are counted in ``packets`` but not yet
    in ``delivered``: once the ring is drained, ``delivered + drops == packets``.
    """

    packets: int = 0
    drops: int = 0
    freeze_count: int = 0
    delivered: int = 0
    if_drops: int = 0
    backlog_drops: int = 0
    rollover: int | None = None
    rollover_huge: int | None = None
    rollover_failed: int | None = None
    per_interface: dict | None = None

    @property
    def pending(self) -> int:
        """Packets accepted by the socket but not yet read."""
        return self.packets - self.drops - self.delivered


def _interface_rx_drops(name) -> int:
    """Receive drops of one interface, a list of them, or all (None), in this
    network namespace."""
    names = None if name is None else ({name} if isinstance(name, str) else set(name))
    total = 0
    try:
        with open("/proc/thread-self/net/dev") as f:
            lines = f.readlines()[2:]
    except OSError:
        return 0
    for line in lines:
        ifname, _, fields = line.partition(":")
        if names is None or ifname.strip() in names:
            total += int(fields.split()[3])
    return total


def _backlog_drops() -> int:
    try:
        with open("/proc/net/softnet_stat") as f:
            return sum(int(line.split()[1], 16) for line in f)
    except OSError:
        return 0


def ioctl_socket():
    """A UDP socket for interface ioctls, closed when the ``with`` block ends."""
    return contextlib.closing(_socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM))


def _interface_mtu(name: str) -> int:
    """The MTU of ``name`` (SIOCGIFMTU; sysfs may show another namespace)."""
    with ioctl_socket() as sock:
        request = struct.pack("16si", name.encode(), 0)
        return struct.unpack("16si", fcntl.ioctl(sock, _SIOCGIFMTU, request))[1]


_SIOCGIFMTU = 0x8921


def _check_positive_int(name: str, value) -> int:
    return check_count(name, value)


def _interface_list(iface) -> list[str] | None:
    """None (all interfaces) or the list of interface names asked for."""
    if iface is None or isinstance(iface, str):
        return None if iface is None else [iface]
    if isinstance(iface, bytes):
        raise TypeError("iface must be a str (or a list of them), not bytes")
    try:
        names = list(iface)
    except TypeError:
        raise TypeError(f"iface must be an interface name, a list of names or None, got "
                        f"{type(iface).__name__}") from None
    if not names:
        raise ValueError("iface is an empty list; give at least one interface, or None for all")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"interface names must be str, got {type(name).__name__}")
    if len(set(names)) != len(names):
        raise ValueError(f"interface listed twice in {names}")
    return names


class _CoreSet:
    """One RxRingCore per interface, read as if they were one ring: waits
    poll all sockets, a drain takes from each in turn (round robin, so a
    busy interface cannot starve the others) and orders the rows of the
    batch by time."""

    def __init__(self, cores: list) -> None:
        self.cores = cores
        self._next = 0

    @property
    def stop_requested(self) -> bool:
        return any(core.stop_requested for core in self.cores)

    @stop_requested.setter
    def stop_requested(self, value: bool) -> None:
        for core in self.cores:
            core.stop_requested = value

    @property
    def closed(self) -> bool:
        return all(core.closed for core in self.cores)

    def close(self) -> None:
        for core in self.cores:
            core.close()

    def fileno(self) -> int:
        raise ValueError("a ring on several interfaces has one socket per interface; "
                         "there is no single fileno()")

    def _check_open(self) -> None:
        if any(core.closed for core in self.cores):
            raise ValueError("I/O operation on a closed ring")

    def _rotation(self) -> list:
        k = self._next % len(self.cores)
        self._next += 1
        return self.cores[k:] + self.cores[:k]

    def wait(self, timeout: float) -> bool:
        self._check_open()
        deadline = None if timeout < 0 else time.monotonic() + timeout
        poller = select.poll()
        for core in self.cores:
            poller.register(core.fileno(), select.POLLIN | select.POLLERR)
        while True:
            if any(core.wait(0.0) for core in self.cores):
                return True
            if self.stop_requested:
                return False
            slice_ms = 50
            if deadline is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                slice_ms = min(slice_ms, int(remaining * 1000) + 1)
            for fd, events in poller.poll(slice_ms):
                if events & (select.POLLERR | select.POLLHUP | select.POLLNVAL):
                    for core in self.cores:
                        if core.fileno() == fd:
                            core.wait(0.001)      # raises the socket's error
                            break

    def ready_bounds(self, max_packets: int) -> tuple[int, int]:
        packets = nbytes = 0
        for core in self.cores:
            p, b = core.ready_bounds(max_packets)
            packets += p
            nbytes += b
        return min(packets, max_packets), nbytes

    def drain(self, store: dict, max_packets: int, start: int = 0,
              data_start: int = 0) -> tuple[int, int]:
        total, pos, sources = 0, data_start, 0
        for core in self._rotation():
            if total >= max_packets:
                break
            if not core.wait(0.0):
                continue
            # (the first drain raises if the empty buffer cannot hold one packet)
            n, pos = core.drain(store, max_packets - total, start + total, pos)
            if not n:
                break                       # ready but nothing fitted: the buffer is full
            total += n
            sources += 1
        if sources > 1:
            import numpy as np

            from .batch import COLUMNS
            rows = slice(start, start + total)
            order = np.argsort(store["ts"][rows], kind="stable")
            for name in COLUMNS:
                store[name][rows] = store[name][rows][order]
        return total, pos

    def view(self, store: dict, max_packets: int):
        for core in self._rotation():
            if core.wait(0.0):
                return core.view(store, max_packets)
        return 0, None

    @property
    def held_blocks(self) -> int:
        return sum(core.held_blocks for core in self.cores)

    def release_view(self) -> None:
        for core in self.cores:
            core.release_view()

    def update_stats(self) -> tuple[int, int, int]:
        windows = [core.update_stats() for core in self.cores]
        return tuple(sum(w[i] for w in windows) for i in range(3))

    def __getattr__(self, name):
        if name in ("packets", "drops", "freeze_count", "delivered"):
            return sum(getattr(core, name) for core in self.cores)
        raise AttributeError(name)


def interface_linktypes(where: dict[int, str | None],
                        linktype: int | None = None) -> dict[int, int]:
    """``{ifindex: linktype}`` a ring captures ``{ifindex: name}`` with (name
    None: all interfaces, a cooked capture): ``linktype`` if given (tcpdump's
    ``-y``; ValueError unless every interface offers it), else each one's
    default."""
    chosen = {i: LINKTYPE_LINUX_SLL2 if n is None else
              linktype_for_hatype(_ring.interface_hatype(n)) for i, n in where.items()}
    if linktype is None:
        return chosen
    for i, n in where.items():
        offered = linktypes_offered(chosen[i])
        if linktype not in offered:
            raise ValueError(
                f"{linktype_name(linktype)} is not one of the link types {n or 'any'} is "
                f"captured with; it offers {', '.join(map(linktype_name, offered))}")
        chosen[i] = linktype
    return chosen


def _loopback_index() -> int:
    """The ifindex of this network namespace's loopback (0 if it has none)."""
    try:
        return _ring.interface_index("lo")
    except OSError:
        return 0


def _resolve_interface(iface: str | None) -> tuple[int, str]:
    if iface is None:
        return 0, "all interfaces"
    if not isinstance(iface, str):
        raise TypeError(f"iface must be an interface name (str) or None, got {type(iface).__name__}")
    return _ring.interface_index(iface), iface


class _BufferPool:
    """Column and data buffers for reads without ``out=``, recycled once no
    batch uses them any more.

    Allocating fresh arrays for every batch, while the previous batch is
    still alive, makes the allocator hand out new pages that the kernel must
    fault in and zero (about 20 ns per 64-byte packet).  A buffer is reused
    only when nothing but the pool refers to any of its arrays: every batch
    column and every slice of one holds a reference to its base array, so a
    batch the caller still has keeps its buffer out of reuse.
    """

    SIZE = 3     # the batch being filled, the caller's last one, one spare

    def __init__(self, data_bytes: int) -> None:
        self._data_bytes = data_bytes
        self._stores: list[dict] = []

    @staticmethod
    def _unused(store: dict) -> bool:
        # references: the store dict, the loop variable, getrefcount's argument
        return all(sys.getrefcount(array) <= 3 for array in store.values())

    def take(self, packets: int, nbytes: int) -> dict:
        for store in self._stores:
            if (store["ts"].shape[0] >= packets and store["data"].shape[0] >= nbytes
                    and self._unused(store)):
                return store
        import numpy as np

        from .batch import COLUMNS
        capacity = max(packets, 65536)
        store = {name: np.empty(capacity, dtype=dt) for name, dt in COLUMNS.items()}
        store["data"] = np.empty(max(nbytes, self._data_bytes), dtype=np.uint8)
        self._stores.append(store)
        if len(self._stores) > self.SIZE:
            self._stores.pop(0)
        return store


class _RingHandle:
    """Lifetime plumbing both rings share: the compiled core, the lock every
    operation holds so close() never pulls the mapping from under it, the
    context manager and fileno()."""

    _core = None
    _kind = "ring"
    _owner = None            # thread running an operation under _lock
    _close_pending = False

    @contextlib.contextmanager
    def _operation(self):
        """Hold the lock for one read/send; a close() asked for meanwhile on this
        same thread (from a signal handler) is carried out on the way out, and
        so is work deferred by callers that would not wait for the lock."""
        try:
            with self._lock:
                self._owner = _thread.get_ident()
                try:
                    yield self._open_core()
                finally:
                    self._owner = None
                    if self._close_pending:
                        self._core.close()
                    self._run_deferred_locked()
        finally:
            # A caller that found the lock taken just before we let it go left
            # its work to us: pick it up now that the lock is free.
            self._run_deferred()

    def _run_deferred_locked(self) -> None:
        """Work left for the lock holder (called with the lock held)."""

    def _run_deferred(self) -> None:
        """Run deferred work if the lock can be had without waiting."""

    def _open_core(self):
        core = self._core
        if core is None or core.closed or self._close_pending:
            raise ValueError(f"I/O operation on a closed {self._kind}")
        return core

    @property
    def closed(self) -> bool:
        return self._core is None or self._core.closed or self._close_pending

    def close(self) -> None:
        """Release the socket and the ring mapping.  Safe to call twice, from
        another thread, or from a signal handler that interrupted a read."""
        core = self._core
        if core is None:
            return
        self._interrupt(core)
        if self._owner == _thread.get_ident():
            # called from a signal handler inside our own read: that read
            # holds the lock, so it closes the ring when it returns
            self._close_pending = True
            return
        with self._lock:
            core.close()

    def _interrupt(self, core) -> None:
        """Make an operation in progress return promptly."""

    def __enter__(self: _Handle) -> _Handle:
        self._open_core()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fileno(self) -> int:
        return self._open_core().fileno()


class _Lease:
    """The ring blocks one RingView holds.  Releasing never waits for the
    ring's lock, so it is safe from a signal handler and from any thread."""

    __slots__ = ("ring", "released", "__weakref__")

    def __init__(self, ring: "RxRing") -> None:
        self.ring = ring
        self.released = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.ring._release_view(self)


class RxRing(_RingHandle):
    """Capture packets from a TPACKET_V3 ring into columnar batches.

    ``iface=None`` captures on all interfaces (the ``ifindex`` column tells
    them apart); a list of names captures that set, with one socket and ring
    per interface read together (each batch in time order, per-interface
    counters in :attr:`stats_by_interface`).  The ring is ``block_count`` blocks of ``block_size`` bytes;
    the kernel hands a block over when it is full or ``block_timeout_ms``
    after its first packet, so that timeout bounds the delay at low rates.
    ``filter`` is a tcpdump-syntax string or a classic BPF program as
    ``(code, jt, jf, k)`` tuples; it is attached before the socket is bound,
    so no packet that fails it ever shows up.  ``snaplen`` caps the bytes kept
    per packet.  ``ignore_outgoing=True`` asks the kernel not to deliver
    packets this host sends; ``promisc=True`` puts the interface in
    promiscuous mode while the ring is open.  Stripped VLAN tags are put back
    into the bytes unless ``reinsert_vlan=False``; they are always in
    ``vlan_tci``/``vlan_tpid``.  ``fanout`` (a :class:`ringcap.Fanout`) opens
    the ring in a fanout group, sharing the packets with the group's other
    rings; :attr:`fanout` then gives the group to open them with.
    ``timestamping``: None stamps each packet when the kernel copies it into
    the ring; ``"software"`` when the stack receives it (``SO_TIMESTAMPING``);
    ``"hardware"`` with the network card's clock (``SIOCSHWTSTAMP`` +
    ``PACKET_TIMESTAMP``; ``OSError`` where the card cannot, as on veth).
    :attr:`Batch.ts_source` tells, per packet, which stamp it got.
    ``linktype`` (a ``LINKTYPE_*`` value or tcpdump's name, ``"LINUX_SLL"``)
    chooses among the link types the interface offers, as tcpdump's ``-y``:
    all interfaces and the cooked kinds are captured as ``LINUX_SLL2`` unless
    ``linktype="LINUX_SLL"`` asks for libpcap's 16-byte v1 header (tcpdump's
    default on PPP, gre and ip6tnl devices); ValueError for one it does not offer.

    Use as a context manager, or call :meth:`close`.  Iterating yields
    batches until the ring is closed.
    """

    _kind = "RxRing"
    _view_lease = None

    def __init__(
        self,
        iface: str | None = None,
        *,
        snaplen: int = 65535,
        block_size: int = 4 * MiB,
        block_count: int = 64,
        block_timeout_ms: int = 10,
        promisc: bool = False,
        ignore_outgoing: bool = False,
        filter: FilterSpec = None,
        reinsert_vlan: bool = True,
        fanout: Fanout | None = None,
        timestamping: str | None = None,
        linktype: int | str | None = None,
    ) -> None:
        snaplen = _check_positive_int("snaplen", snaplen)
        if linktype is not None:
            linktype = linktype_value(linktype)
        block_size = _check_positive_int("block_size", block_size)
        block_count = _check_positive_int("block_count", block_count)
        block_timeout_ms = _check_positive_int("block_timeout_ms", block_timeout_ms)
        if snaplen > MAX_SNAPLEN:
            raise ValueError(f"snaplen must be at most {MAX_SNAPLEN}, got {snaplen}")
        if block_size % PAGE_SIZE:
            raise ValueError(f"block_size must be a multiple of the page size ({PAGE_SIZE} bytes), "
                             f"got {block_size}")
        if block_size < snaplen + RING_OVERHEAD:
            raise ValueError(
                f"snaplen {snaplen} does not fit a block of {block_size} bytes: a block must hold "
                f"snaplen + {RING_OVERHEAD} bytes of headers; raise block_size or lower snaplen")
        if block_size * block_count >= 1 << 32:
            raise ValueError(
                f"a ring of {block_count} blocks of {block_size} bytes is "
                f"{block_size * block_count / 2**30:.1f} GiB; the kernel allows under 4 GiB per ring")
        if block_timeout_ms > 60000:
            raise ValueError(f"block_timeout_ms must be at most 60000, got {block_timeout_ms}")
        if promisc and iface is None:
            raise ValueError("promisc=True needs an interface: promiscuous mode is per interface")
        if fanout is not None and not isinstance(fanout, Fanout):
            raise TypeError(f"fanout must be a ringcap.Fanout, got {type(fanout).__name__}")
        if timestamping is not None and timestamping not in _ring.TIMESTAMPING:
            raise ValueError(f"timestamping must be None, 'software' or 'hardware', got "
                             f"{shorten(repr(timestamping))}")
        if timestamping == "hardware" and iface is None:
            raise ValueError("timestamping='hardware' needs an interface: hardware timestamps "
                             "are switched on per network card")
        names = _interface_list(iface)
        if fanout is not None and names is not None and len(names) > 1:
            raise ValueError("fanout works per interface: a group spreads the packets of one "
                             "interface (or of all, iface=None); open one group per interface")
        pack_program(filter, snaplen)     # a bad filter fails before any syscall
        if names is None:
            where = {0: None}
        else:
            where = {_resolve_interface(n)[0]: n for n in names}
            if len(where) != len(names):
                raise ValueError(f"{names} names one interface twice")
        # Each interface is captured with its own link type (all of them at
        # once, iface=None, as a cooked capture), its filter compiled for it.
        linktypes = interface_linktypes(where, linktype)
        named = {lt: n for (i, n), lt in zip(where.items(), linktypes.values())}
        programs = {lt: pack_program(filter, snaplen, lt, named[lt])
                    for lt in set(linktypes.values())}
        # As libpcap does, the loopback's packets are taken once, arriving:
        # leaving, each would be seen a second time.
        loopback = _loopback_index()
        # So does it with a CAN device's: the CAN stack loops each frame sent back
        # as received, and libpcap takes no packet leaving a CAN device.
        programs = {i: skip_outgoing_on(i, programs[lt], snaplen)
                    if n is not None and lt == LINKTYPE_CAN_SOCKETCAN
                    else programs[lt] if n is not None and i != loopback
                    else skip_outgoing_on(loopback, programs[lt], snaplen)
                    for (i, n), lt in zip(where.items(), linktypes.values())}
        if names is not None and len(names) == 1:
            iface = names[0]
        self.iface = iface
        self.ifindex = next(iter(where)) if len(where) == 1 else 0      # 0: several or all
        self.snaplen = snaplen
        self.block_size = block_size
        self.block_count = block_count
        self.block_timeout_ms = block_timeout_ms
        self.linktypes: dict[int, int] = linktypes
        self._interfaces = {i: n for i, n in where.items() if n} or None
        self._names = names
        self._lock = _thread.allocate_lock()
        self._view_lease: _weakref.ref | None = None
        self._release_pending = False
        self._rollover: dict[int, tuple | None] = {}
        # the cumulative drops and freezes already reported in batches
        self._batch_drops = self._batch_freezes = 0
        # A read() that allocates keeps its data under this size, so that the
        # allocator recycles freed batches instead of mapping (and the kernel
        # zero-filling) fresh pages for every batch.
        self._read_bytes = max(READ_DATA_BYTES, snaplen + 4)
        self._buffers = _BufferPool(self._read_bytes)
        self._if_drops0 = {i: _interface_rx_drops(n) for i, n in where.items()}
        self._backlog0 = _backlog_drops()
        options = dict(block_size=block_size, block_count=block_count,
                       block_timeout_ms=block_timeout_ms, snaplen=snaplen,
                       promisc=promisc, ignore_outgoing=ignore_outgoing,
                       reinsert_vlan=reinsert_vlan,
                       timestamping=_ring.TIMESTAMPING.get(timestamping, 0))
        self._fanout = fanout
        if fanout is not None:
            linktype = linktypes[self.ifindex]
            self._core = self._open_in_group(fanout, self.ifindex, iface or "all interfaces",
                                             dict(options, **self._link_options(
                                                 linktype, programs[self.ifindex])))
            return
        cores: list = []
        try:
            for index, name in where.items():
                cores.append(_ring.RxRingCore(index, name or "all interfaces", **options,
                                              **self._link_options(linktypes[index],
                                                                   programs[index])))
        except BaseException:
            for core in cores:
                core.close()
            raise
        self._core = cores[0] if len(cores) == 1 else _CoreSet(cores)

    @staticmethod
    def _link_options(linktype: int, program) -> dict:
        return dict(linktype=linktype, cooked=linktype in COOKED_LINKTYPES, program=program,
                    can_id_order=linktype == LINKTYPE_CAN_SOCKETCAN)

    @property
    def linktype(self) -> int | None:
        """The link type (``LINKTYPE_*``) of every packet this ring delivers, or
        None when its interfaces differ (see :attr:`linktypes`): Ethernet,
        raw IP (tun, WireGuard, IP tunnels) or Linux cooked v2 (all
        interfaces, and interfaces without a usable link header)."""
        kinds = set(self.linktypes.values())
        return kinds.pop() if len(kinds) == 1 else None

    def _open_in_group(self, fanout: Fanout, ifindex: int, where: str, options: dict):
        bpf_fd, own_fd, fanout_program = -1, False, None
        if fanout.mode == "cbpf":
            fanout_program = cbpf_program(fanout.program)
        elif fanout.mode == "ebpf":
            if isinstance(fanout.program, (bytes, bytearray, memoryview)):
                bpf_fd, own_fd = load_ebpf_socket_filter(fanout.program), True
            elif isinstance(fanout.program, int) and not isinstance(fanout.program, bool):
                bpf_fd = fanout.program
            else:
                raise TypeError("an ebpf fanout program is a loaded program's fd (int) or "
                                "its instructions (bytes)")
        try:
            core = _ring.RxRingCore(ifindex, where, fanout=join_argument(fanout),
                                    fanout_program=fanout_program, fanout_bpf_fd=bpf_fd,
                                    **options)
        except OSError as exc:
            if exc.errno in (22, 28, 114) and "PACKET_FANOUT)" in str(exc):
                raise explain_join_error(exc, fanout, where) from None
            raise
        finally:
            if own_fd:
                os.close(bpf_fd)          # the group holds its own reference
        group = core.fanout_group() & 0xFFFF
        _register_fanout(group, fanout, where, self)
        self._fanout = fanout.joined(group)
        return core

    @property
    def interfaces(self) -> dict[int, str] | None:
        """``{ifindex: name}`` of the interfaces captured; None for all."""
        return dict(self._interfaces) if self._interfaces else None

    @property
    def fanout(self) -> Fanout | None:
        """The fanout group this ring is in (with its group id, also when the
        kernel chose it), to open the group's other rings with; None if none."""
        return self._fanout

    def close_gate(self) -> None:
        """Stop accepting packets while keeping what the ring holds readable.

        Packets already past the filter still land (within the block timeout);
        once :attr:`stats` shows no pending packet, everything the ring took
        was read.  Used to stop a fanout member without losing what the
        kernel gave it."""
        with self._operation() as core:
            for one in getattr(core, "cores", [core]):
                one.close_gate()

    # ------------------------------------------------------------------ lifetime
    def _interrupt(self, core) -> None:
        core.stop_requested = True        # a waiting read returns an empty batch

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        where = ",".join(self._names) if self._names else "all interfaces"
        return (f"<RxRing {where} {state}, {self.block_count} x {self.block_size} bytes, "
                f"snaplen {self.snaplen}>")

    # ------------------------------------------------------------------ reading
    def read(self, max_packets: int = 65536, timeout: float | None = None, *,
             out: Batch | None = None, append: bool = False) -> Batch:
        """Return the packets that are ready, at most ``max_packets``.

        Waits up to ``timeout`` seconds (None: until at least one packet is
        ready; 0: not at all) and returns an empty batch on timeout.  A read
        may stop in the middle of a kernel block; the next read resumes
        exactly there.  A batch read without ``out`` holds at most 16 MiB of
        packet bytes (or one packet, if larger); the rest waits for the next
        read.

        With ``out`` (a batch from :meth:`Batch.empty`), the packets are
        written into its buffers and ``out`` itself is returned: no memory is
        allocated, and whatever was read into ``out`` before is overwritten;
        with ``append=True`` as well, the packets are added after those already
        in ``out`` (at most ``max_packets`` more, as many as its buffers still
        hold) and its ``drops``/``freeze_count`` add up the reads.
        """
        max_packets = check_count("max_packets", max_packets, maximum=MAX_READ_PACKETS)
        wait_s = self._timeout_seconds(timeout)
        if out is not None and out._store is None:
            raise ValueError("out= must be a reusable batch made by Batch.empty()")
        if append and out is None:
            raise ValueError("append=True adds to a batch: give it as out=")
        with self._operation() as core:
            self._check_no_view()
            ready = core.wait(wait_s)
            if out is None:
                if ready:
                    packets, nbytes = core.ready_bounds(max_packets)
                    nbytes = min(nbytes, packets * (self.snaplen + 4), self._read_bytes)
                else:
                    packets, nbytes = 0, 0
                store = self._buffers.take(packets, nbytes)
                if packets:
                    n, used = core.drain(store, packets)
                else:
                    n, used = 0, 0
                drops, freezes = self._window(core)
                from .batch import Batch
                batch = Batch._from_store(store, n, used, drops, freezes, self._interfaces)
                batch._store = None       # not reusable: its arrays are this batch's own
                return batch
            start, data_start = (len(out), len(out.data)) if append else (0, 0)
            room = min(max_packets, out._store["ts"].shape[0] - start)
            n, used = core.drain(out._store, room, start, data_start) if ready and room else \
                (0, data_start)
            drops, freezes = self._window(core)
            if append:
                drops, freezes = out.drops + drops, out.freeze_count + freezes
            out.drops, out.freeze_count, out.interfaces = drops, freezes, self._interfaces
            out._set_length(start + n, used)
            return out

    def read_view(self, max_packets: int = 65536, timeout: float | None = None) -> RingView:
        """Like :meth:`read`, but without copying packet bytes: the returned
        :class:`RingView` points into the ring, and its blocks go back to the
        kernel only when it is released (``with ring.read_view() as view:``).
        One view may be outstanding at a time; reading again before releasing
        it raises ValueError."""
        max_packets = check_count("max_packets", max_packets, maximum=MAX_READ_PACKETS)
        wait_s = self._timeout_seconds(timeout)
        with self._operation() as core:
            self._check_no_view()
            ready = core.wait(wait_s)
            packets = core.ready_bounds(max_packets)[0] if ready else 0
            store = self._buffers.take(packets, 1) if packets else {}
            n, mapping = core.view(store, packets) if packets else (0, None)
            drops, freezes = self._window(core)
            from .ringview import RingView
            view = RingView._over(store, n, mapping, drops, freezes, self._interfaces,
                                  _Lease(self))
            if core.held_blocks or n:
                self._view_lease = _weakref.ref(view._lease)
            else:
                view._lease.released = True
            return view

    @property
    def reads_records(self) -> bool:
        """True when :meth:`read_records` can be used: a ring on one socket (a
        ring on several interfaces puts their packets in time order, in batches)."""
        return isinstance(self._core, _ring.RxRingCore)

    def read_records(self, out, start: int, max_packets: int,
                     timeout: float | None = None, *, snaplen: int,
                     nanosecond: bool = True) -> tuple[int, int, int]:
        """Write ready packets as pcap records into the bytes ``out`` (a uint8
        array) from byte ``start`` on, straight from the ring's blocks: no
        batch, no columns.  Each record is the 16-byte pcap record header in
        host byte order (seconds, nanoseconds or with ``nanosecond=False``
        microseconds, captured and wire length), then the packet's bytes as
        :meth:`read` gives them, cut to ``snaplen``.  Waits like :meth:`read`;
        stops when the next record would not fit, after ``max_packets``, or
        when nothing more is ready.  Returns ``(packets, end of the records,
        captured bytes)``.  This is how a pcap file is written from a capture
        (:meth:`ringcap.PcapWriter.write_from_ring`)."""
        return self._records("drain_records", (0, start, 0), timeout, out, start,
                             check_count("max_packets", max_packets, maximum=MAX_READ_PACKETS),
                             snaplen, nanosecond)

    def write_records(self, fd: int, staging, ends, max_packets: int,
                      timeout: float | None = None, *, snaplen: int,
                      nanosecond: bool = True,
                      linger: float = 0.0) -> tuple[int, int, int, int, int]:
        """Write ready packets to the regular file ``fd`` (at its end) as the
        pcap records :meth:`read_records` builds, with ``writev()``: frames of
        512 bytes or more go to the file straight from the ring's blocks (the
        kernel's copy into the page cache is their only one), record headers
        and smaller frames through ``staging`` (uint8, at least 4096 bytes);
        ``ends`` (int64) bounds the records per ``writev()``.  Waits like
        :meth:`read`.  With ``linger`` seconds (> 0), once packets came it
        goes on writing blocks as they become ready until ``linger`` seconds
        after the call, in compiled code: one call per ``linger`` rather than
        one per wake-up, for a caller that would call again at once.  A
        signal that interrupts its wait, :meth:`close` from another thread or
        an error of the socket ends it sooner.  Returns ``(packets taken,
        records complete in the file, their bytes, bytes of a record cut
        short, errno)``: a failed write (errno not 0) ends the call, and the
        packets taken past the complete records are not in the file."""
        linger = check_seconds("linger", linger)
        return self._records("write_records", (0, 0, 0, 0, 0), timeout, fd, staging, ends,
                             check_count("max_packets", max_packets, maximum=MAX_READ_PACKETS),
                             snaplen, nanosecond, linger)

    def _records(self, method: str, nothing: tuple, timeout: float | None, *args):
        """Wait like :meth:`read`, then run the core's record loop ``method``
        (``nothing`` if no packet became ready); one socket only."""
        wait_s = self._timeout_seconds(timeout)
        with self._operation() as core:
            if not isinstance(core, _ring.RxRingCore):
                raise ValueError("a ring on several interfaces is read in batches (read(), "
                                 "read_view()), which put their packets in time order")
            self._check_no_view()
            if not core.wait(wait_s):
                return nothing
            return getattr(core, method)(*args)

    def _check_no_view(self) -> None:
        ref = self._view_lease
        if ref is None:
            return
        lease = ref()
        if lease is not None and not lease.released:
            raise ValueError("a RingView from this ring is still held: release() it (or use "
                             "`with ring.read_view() as view:`) before reading again")
        # its batch is gone without release: its blocks can go back
        self._view_lease = None
        self._core.release_view()

    def _window(self, core) -> tuple[int, int]:
        """Drops and freezes since the previous batch.  Taken from the
        cumulative counters, so a ``stats`` read in between (from another
        thread or a signal handler), which consumes the kernel's window, takes
        nothing from the next batch's count."""
        core.update_stats()
        drops, freezes = core.drops, core.freeze_count
        window = drops - self._batch_drops, freezes - self._batch_freezes
        self._batch_drops, self._batch_freezes = drops, freezes
        return window

    def _release_view(self, lease: _Lease) -> None:
        # Never wait for the lock: a signal handler that interrupted an
        # operation on this thread would wait forever, and another thread
        # would wait as long as a read(timeout=None) does.  Whoever holds the
        # lock hands the blocks back on its way out (_operation).
        self._release_pending = True
        self._run_deferred()

    def _run_deferred(self) -> None:
        while self._release_pending and self._lock.acquire(blocking=False):
            try:
                self._run_deferred_locked()
            finally:
                self._lock.release()

    def _run_deferred_locked(self) -> None:
        if not self._release_pending:
            return
        self._release_pending = False
        ref = self._view_lease
        lease = None if ref is None else ref()
        if ref is not None and (lease is None or lease.released):
            self._view_lease = None
            if not self.closed:
                self._core.release_view()

    @staticmethod
    def _timeout_seconds(timeout: float | None) -> float:
        seconds = check_seconds("timeout", timeout, allow_none=True,
                                none_means="waiting until a packet arrives")
        return -1.0 if seconds is None else seconds

    def __iter__(self) -> Iterator[Batch]:
        """Yield non-empty batches until the ring is closed (from another thread,
        a signal handler, or by breaking out of the loop and closing)."""
        while not self.closed:
            try:
                batch = self.read()
            except ValueError:
                if self.closed:
                    return
                raise
            if len(batch):
                yield batch

    @property
    def stats(self) -> Stats:
        """Cumulative :class:`Stats` since the ring was opened."""
        by_interface = self.stats_by_interface
        if len(by_interface) == 1:
            return next(iter(by_interface.values()))
        total = {name: sum(getattr(st, name) for st in by_interface.values())
                 for name in ("packets", "drops", "freeze_count", "delivered", "if_drops")}
        return Stats(**total, backlog_drops=next(iter(by_interface.values())).backlog_drops,
                     per_interface=by_interface)

    @property
    def stats_by_interface(self) -> dict[int, Stats]:
        """:class:`Stats` per interface, by ifindex (0 for a ring on all
        interfaces); one entry unless the ring was opened on a list.

        Takes no lock: readable at any time, from any thread and from a
        signal handler that interrupted a read, and after close() (the
        final counts, taken when the ring closed)."""
        core = self._core
        cores = getattr(core, "cores", [core])
        backlog = max(0, _backlog_drops() - self._backlog0)
        result = {}
        for one, (index, drops0) in zip(cores, self._if_drops0.items()):
            # one getsockopt under the GIL, which never blocks; a no-op once closed
            one.update_stats()
            if self._fanout is not None and not one.closed:
                self._rollover[index] = one.rollover_stats()
            rollover = self._rollover.get(index)
            name = self._interfaces.get(index) if self._interfaces else None
            result[index] = Stats(
                packets=one.packets, drops=one.drops, freeze_count=one.freeze_count,
                delivered=one.delivered,
                if_drops=max(0, _interface_rx_drops(name) - drops0),
                backlog_drops=backlog,
                rollover=None if rollover is None else rollover[0],
                rollover_huge=None if rollover is None else rollover[1],
                rollover_failed=None if rollover is None else rollover[2])
        return result


class TxRing(_RingHandle):
    """Send batches of frames through a ``PACKET_TX_RING``.

    Each frame slot holds up to ``frame_size - 32`` bytes of packet
    (``frame_size`` a multiple of 16; 2048 fits a 1500-byte MTU, use 16384 for
    jumbo frames).  ``qdisc_bypass=True`` hands frames straight to the driver,
    skipping the queueing discipline (and the copies that packet sockets on
    this host would otherwise see as outgoing).
    """

    _kind = "TxRing"

    def __init__(self, iface: str, *, frame_size: int = 2048, frame_count: int = 4096,
                 qdisc_bypass: bool = True) -> None:
        frame_size = _check_positive_int("frame_size", frame_size)
        frame_count = _check_positive_int("frame_count", frame_count)
        if frame_size % 16 or frame_size < 64:
            raise ValueError(f"frame_size must be a multiple of 16 and at least 64, got {frame_size}")
        # A block holds a whole number of frames and is a whole number of pages.
        block_size = -(-frame_size // PAGE_SIZE) * PAGE_SIZE
        per_block = block_size // frame_size
        frame_count = -(-frame_count // per_block) * per_block
        if block_size * (frame_count // per_block) >= 1 << 32:
            raise ValueError("the transmit ring must be under 4 GiB; lower frame_count or frame_size")
        if iface is None:
            raise ValueError("TxRing needs an interface to send on")
        ifindex, name = _resolve_interface(iface)
        self.iface = iface
        self.frame_size = frame_size
        self.frame_count = frame_count
        self._lock = _thread.allocate_lock()     # one sender at a time; close() waits for it
        self._core = _ring.TxRingCore(ifindex, name, frame_size=frame_size,
                                      frame_count=frame_count, block_size=block_size,
                                      qdisc_bypass=qdisc_bypass)

    @property
    def max_frame(self) -> int:
        """The largest frame one slot holds, in bytes."""
        return self.frame_size - _ring.LAYOUT["tx_data_offset"]

    @property
    def sent(self) -> int:
        """Frames handed to the kernel since open."""
        return 0 if self._core is None else self._core.sent

    @property
    def dropped(self) -> int:
        """Of those, frames the kernel dropped because the driver's queue was
        full (``sendto`` answered ENOBUFS)."""
        return 0 if self._core is None else self._core.dropped

    def send(self, packets: Union[Batch, Sequence[bytes]]) -> int:
        """Send ``packets`` (a Batch, or a sequence of bytes-like frames); waits for
        free frames when the ring is full.  Returns the number of frames sent."""
        import numpy as np

        from .batch import Batch
        if not isinstance(packets, Batch):
            packets = Batch.from_packets(packets)
        packets.validate()                       # before _check_frame_sizes reads headers
        offset = np.ascontiguousarray(packets.offset)
        caplen = np.ascontiguousarray(packets.caplen)
        data = np.ascontiguousarray(packets.data)
        with self._operation() as core:
            if len(offset) == 0:
                return 0
            self._check_frame_sizes(offset, caplen, data)
            return core.send(offset, caplen, data)

    def _check_frame_sizes(self, offset, caplen, data) -> None:
        """Refuse, before sending anything, frames the kernel would refuse: shorter
        than an Ethernet header, or longer than the MTU (+4 for a VLAN-tagged frame)."""
        import numpy as np
        short = np.flatnonzero(caplen < 14)
        if len(short):
            i = int(short[0])
            raise ValueError(f"packet {i} has {int(caplen[i])} bytes, less than an Ethernet "
                             f"header (14); nothing was sent")
        over = np.flatnonzero(caplen > self.max_frame)
        if len(over):
            i = int(over[0])
            raise ValueError(f"packet {i} has {int(caplen[i])} bytes but a frame of this ring "
                             f"holds at most {self.max_frame}; open the TxRing with a larger "
                             f"frame_size; nothing was sent")
        mtu = _interface_mtu(self.iface)
        long = np.flatnonzero(caplen > mtu + 14)
        for i in long.tolist():
            start = int(offset[i])
            tagged = int(data[start + 12]) << 8 | int(data[start + 13]) in (0x8100, 0x88A8)
            if not tagged or int(caplen[i]) > mtu + 18:
                raise ValueError(
                    f"packet {i} has {int(caplen[i])} bytes but the MTU of {self.iface} is {mtu} "
                    f"(at most {mtu + 14}-byte frames, {mtu + 18} with a VLAN tag); raise it with "
                    f"`ip link set {self.iface} mtu N` or send smaller frames; nothing was sent")

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<TxRing {self.iface} {state}, {self.frame_count} x {self.frame_size} bytes>"


# RingView is a Batch (numpy): defined in ringcap.ringview, found here too
__getattr__ = _lazy_attributes(__name__, {"RingView": "ringcap.ringview"})
