"""Send capture files back out through a ``TxRing``, paced like ``tcpreplay``.

:class:`Replayer` reads a file batch by batch (memory bounded by one batch)
and hands packets to the transmit ring in groups when they are due:

- original timing (``speed=1.0``; ``speed=2.0`` twice as fast),
- a fixed packet rate (``pps=``), or a fixed bit rate (``mbps=``),
- ``topspeed=True``: as fast as the ring takes them.

``loop=N`` sends the file N times back to back (0: until stopped).  A
packet that cannot be sent (larger than the interface's MTU or the ring's
frame) is counted in ``failed`` and skipped, like tcpreplay's "Failed
packets"; frames the driver queue refused are in ``dropped``.

    >>> from ringcap.replay import Replayer            # doctest: +SKIP
    >>> with Replayer("veth0") as replayer:             # doctest: +SKIP
    ...     result = replayer.replay_file("in.pcap", pps=10_000)
"""
from __future__ import annotations

import math
import os
import stat
import struct
import sys
import time
import warnings
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from . import _ring
from .batch import LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_RAW, Batch
from .pcapfile import DEFAULT_SNAPLEN, PcapFormatError, PcapTruncatedWarning, open_pcap
from .ring import TxRing, _interface_mtu, _resolve_interface, linktype_for_hatype

__all__ = ["Replayer", "ReplayResult", "replay_file"]

_SPIN_SECONDS = 0.0005      # below this, wait by spinning rather than sleeping
# Packets per batch read from the file: small enough that its window (about 3 MB
# of 1500-byte frames) stays in cache between reading and sending, large enough
# that the per-batch Python costs little (profiled: 2048 read the 790-byte mix
# 1.2-1.6x faster than 16384).
_BATCH_PACKETS = 2048
# The buffer a classic pcap file is read into at top speed (``TxSocketCore.send_pcap``):
# reused for the whole file, small enough to stay in the CPU's cache between the
# read and the kernel's copy of each frame.
_TOPSPEED_BUFFER = 256 << 10
_PCAP_MAGICS = (0xA1B2C3D4, 0xA1B23C4D)       # microsecond, nanosecond timestamps


_RAW_IP_LINKTYPES = (LINKTYPE_RAW, 12, 14, LINKTYPE_IPV4, LINKTYPE_IPV6)


@dataclass(frozen=True)
class ReplayResult:
    """What a replay did: packets and bytes sent, failures, and the rate achieved."""

    packets: int
    bytes: int
    failed: int
    dropped: int
    seconds: float
    loops: int

    @property
    def pps(self) -> float:
        return self.packets / self.seconds if self.seconds > 0 else 0.0

    @property
    def mbps(self) -> float:
        return 8 * self.bytes / self.seconds / 1e6 if self.seconds > 0 else 0.0

    def describe(self, iface: str) -> str:
        """tcpreplay's closing lines."""
        return (f"Actual: {self.packets} packets ({self.bytes} bytes) sent in "
                f"{self.seconds:.6f} seconds\n"
                f"Rated: {self.bytes / self.seconds if self.seconds else 0:.1f} Bps, "
                f"{self.mbps:.2f} Mbps, {self.pps:.2f} pps\n"
                f"Statistics for network device: {iface}\n"
                f"\tSuccessful packets:        {self.packets - self.dropped}\n"
                f"\tFailed packets:            {self.failed}\n"
                f"\tDropped by driver queue:   {self.dropped}\n"
                f"\tLoops:                     {self.loops}")


def _positive(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value}")
    return value


def _pacing(speed, pps, mbps, topspeed, loop, duration) -> tuple:
    """The pacing arguments checked: (speed, pps, mbps, topspeed, loop, duration)."""
    speed, pps, mbps = _positive("speed", speed), _positive("pps", pps), _positive("mbps", mbps)
    duration = _positive("duration", duration)
    modes = sum(x is not None for x in (speed, pps, mbps)) + bool(topspeed)
    if modes > 1:
        raise ValueError("choose one of speed=, pps=, mbps= and topspeed=True")
    if modes == 0:
        speed = 1.0
    loop = int(loop)
    if loop < 0:
        raise ValueError(f"loop must be >= 0 (0: until stopped), got {loop}")
    return speed, pps, mbps, bool(topspeed), loop, duration


class _MessageSender:
    """Sends batches with sendmmsg() (``_ring.TxSocketCore``): what Replayer
    uses unless asked for a transmit ring."""

    def __init__(self, iface: str, mtu: int) -> None:
        ifindex, name = _resolve_interface(iface)
        self._core = _ring.TxSocketCore(ifindex, name)
        self.max_frame = mtu + 18          # an Ethernet header and a VLAN tag over the MTU

    @property
    def dropped(self) -> int:
        return self._core.dropped

    def send(self, batch: Batch) -> int:
        return self._core.send(np.ascontiguousarray(batch.offset),
                               np.ascontiguousarray(batch.caplen),
                               np.ascontiguousarray(batch.data))

    def request_stop(self) -> None:
        self._core.stop_requested = True

    def close(self) -> None:
        self._core.close()


class Replayer:
    """Owns a sending socket on ``iface`` and replays files through it.

    By default each packet goes out with ``sendmmsg()`` (up to 1024 packets a
    system call; the kernel copies each one, as for tcpreplay); ``tx_ring=True``
    sends through a :class:`~ringcap.TxRing` instead, whose ``frame_size`` must
    hold the largest packet to send (default: fits the interface's MTU).  The
    ring hands frames to the driver without a copy, which pays off only where
    the driver keeps them so (a physical NIC); on veth, tun or a bridge the
    kernel copies them again and sendmmsg is about twice as cheap.  Use as a
    context manager or call :meth:`close`.
    """

    def __init__(self, iface: str, *, frame_size: int | None = None,
                 frame_count: int = 4096, tx_ring: bool = False) -> None:
        mtu = _interface_mtu(iface)
        self.iface = iface
        self.mtu = mtu
        #: The link type the interface sends (Ethernet; raw IP for tun and IP
        #: tunnels): packets of another link type are counted as failed, never sent.
        self.linktype = linktype_for_hatype(_ring.interface_hatype(iface))
        #: The files' link types whose packets it sends: a raw IP device takes
        #: every raw IP link type (DLT_RAW as 12 or 14, IPV4, IPV6: the same bytes).
        self.linktypes: tuple[int, ...] = (
            _RAW_IP_LINKTYPES if self.linktype == LINKTYPE_RAW else (self.linktype,))
        if tx_ring:
            if frame_size is None:
                frame_size = max(2048, -(-(mtu + 18 + 32) // 16) * 16)
            self.ring = TxRing(iface, frame_size=frame_size, frame_count=frame_count)
        else:
            self.ring = _MessageSender(iface, mtu)
        self._stop = False

    def stop(self) -> None:
        """Ask a running replay to end after the group it is sending (signal-safe)."""
        self._stop = True
        if isinstance(self.ring, _MessageSender):
            self.ring.request_stop()

    def close(self) -> None:
        self.ring.close()

    def __enter__(self) -> "Replayer":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ sending
    def _sendable(self, batch: Batch) -> tuple[Batch, int]:
        ethernet = self.linktype == LINKTYPE_ETHERNET
        limit = min(self.ring.max_frame, self.mtu + (14 if ethernet else 0))
        ok = (batch.caplen >= (14 if ethernet else 1)) & (batch.caplen <= limit) \
            & (batch.linktype == self.linktype if len(self.linktypes) == 1
               else np.isin(batch.linktype, self.linktypes))
        if not ok.all() and ethernet:
            # A VLAN-tagged frame may be 4 bytes over the untagged limit.
            over = np.flatnonzero(~ok & (batch.caplen <= min(self.ring.max_frame, self.mtu + 18))
                                  & (batch.caplen >= 14))
            if over.size:
                starts = batch.offset[over]
                tpid = (batch.data[starts + 12].astype(np.uint16) << 8) | batch.data[starts + 13]
                tagged = over[((tpid == 0x8100) | (tpid == 0x88A8))
                              & (batch.linktype[over] == LINKTYPE_ETHERNET)]
                ok[tagged] = True
        failed = int(len(batch) - np.count_nonzero(ok))
        return (batch if failed == 0 else batch[ok]), failed

    def replay_batches(self, batches_factory, *, speed: float | None = None,
                       pps: float | None = None, mbps: float | None = None,
                       topspeed: bool = False, loop: int = 1,
                       duration: float | None = None) -> ReplayResult:
        """Replay the batches that ``batches_factory()`` yields, ``loop`` times."""
        speed, pps, mbps, topspeed, loop, duration = _pacing(speed, pps, mbps, topspeed, loop,
                                                             duration)
        self._stop = False
        sent = nbytes = failed = loops = 0
        dropped0 = self.ring.dropped
        start = time.monotonic()
        deadline = None if duration is None else start + duration
        due_base = 0.0          # seconds after start at which this loop's timeline begins
        while not self._stop and (loop == 0 or loops < loop):
            first_ts: int | None = None
            elapsed_in_loop = 0.0
            for batch in batches_factory():
                batch, bad = self._sendable(batch)
                failed += bad
                n = len(batch)
                if n == 0:
                    continue
                if first_ts is None:
                    first_ts = int(batch.ts[0])
                # When each packet is due, in seconds after `start`.
                if topspeed:
                    due = None
                elif speed is not None:
                    offsets = (batch.ts - first_ts).astype(np.float64) / 1e9 / speed
                    due = due_base + np.maximum(offsets, 0.0)
                elif pps is not None:
                    due = due_base + (sent + np.arange(n, dtype=np.float64)) / pps
                else:
                    cumulative = nbytes + np.cumsum(batch.caplen, dtype=np.float64) \
                        - batch.caplen
                    due = due_base + cumulative * 8 / (mbps * 1e6)
                i = 0
                part = None
                while i < n and not self._stop:
                    now = time.monotonic()
                    if deadline is not None and now >= deadline:
                        self._stop = True
                        break
                    if due is None:
                        j = n
                    else:
                        j = int(np.searchsorted(due, now - start, side="right"))
                        if j <= i:
                            wait = float(due[i]) - (now - start)
                            if wait > _SPIN_SECONDS:
                                time.sleep(min(wait - _SPIN_SECONDS / 2, 0.05))
                            continue
                        j = min(j, i + 1024)
                    part = batch[i:j]
                    self.ring.send(part)
                    sent += j - i
                    nbytes += part.nbytes
                    i = j
                if due is not None and n:
                    elapsed_in_loop = float(due[-1]) - due_base
                # Let go of this batch before the reader reads the next: it reuses a
                # window buffer only once no batch views it (fresh memory costs page faults).
                batch = part = due = None
                if self._stop:
                    break
            loops += 1
            if pps is None and mbps is None:
                due_base = max(due_base + elapsed_in_loop, time.monotonic() - start)
            if first_ts is None:       # an empty file: nothing to repeat
                break
        seconds = time.monotonic() - start
        return ReplayResult(packets=sent, bytes=nbytes, failed=failed,
                            dropped=self.ring.dropped - dropped0, seconds=seconds, loops=loops)

    def replay_file(self, path: str | os.PathLike, *, speed: float | None = None,
                    pps: float | None = None, mbps: float | None = None,
                    topspeed: bool = False, loop: int = 1,
                    duration: float | None = None) -> ReplayResult:
        """Replay a pcap/pcapng file; the pacing as for :meth:`replay_batches`.

        At top speed through sendmmsg() a classic pcap file is sent by one
        compiled loop (:meth:`_replay_pcap_at_topspeed`); other files, pacings
        and the transmit ring go batch by batch through :meth:`replay_batches`."""
        pacing = _pacing(speed, pps, mbps, topspeed, loop, duration)
        if pacing[3] and isinstance(self.ring, _MessageSender):
            result = self._replay_pcap_at_topspeed(path, loop=pacing[4], duration=pacing[5])
            if result is not None:
                return result

        def batches() -> Iterator[Batch]:
            with open_pcap(path, batch_packets=_BATCH_PACKETS) as reader:
                yield from reader
        return self.replay_batches(batches, speed=speed, pps=pps, mbps=mbps, topspeed=topspeed,
                                   loop=loop, duration=duration)

    def _replay_pcap_at_topspeed(self, path: str | os.PathLike, *, loop: int,
                                 duration: float | None) -> ReplayResult | None:
        """Send a classic pcap file as fast as the socket takes it, or None if
        ``path`` is something else (pcapng, a pipe, too short to tell): those go
        through the reader.  The file is read with pread() into one reused buffer
        and each frame handed to sendmmsg() from there by ``TxSocketCore.send_pcap``:
        no batches, no per-packet Python.  Which frames fail, and the errors and
        warnings of a corrupt or truncated file, are those of the batch path."""
        if os.fspath(path) == "-":
            return None
        try:
            # a pipe is never opened here: opening and closing it would take the
            # writer's only reader away before the batch path opens it
            if not stat.S_ISREG(os.stat(path).st_mode):
                return None
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK)
        except OSError:
            return None              # the reader says what is wrong, in its own words
        try:
            head = os.pread(fd, 24, 0)
            if len(head) < 24:
                return None
            for order in "<>":
                if struct.unpack_from(order + "I", head)[0] in _PCAP_MAGICS:
                    break
            else:
                return None
            snaplen, linktype = struct.unpack_from(order + "II", head, 16)
            swapped = order != ("<" if sys.byteorder == "little" else ">")
            max_caplen = max(DEFAULT_SNAPLEN, snaplen if snaplen <= 64 << 20 else 0)
            ethernet = self.linktype == LINKTYPE_ETHERNET
            # what _sendable() lets through, in C terms
            max_len = min(self.ring.max_frame, self.mtu + (14 if ethernet else 0))
            tagged_max_len = min(self.ring.max_frame, self.mtu + 18) if ethernet else max_len
            min_len = 14 if ethernet else 1
            accept = (linktype & 0xFFFF) in self.linktypes
            buffer = bytearray(max(_TOPSPEED_BUFFER, 2 * (tagged_max_len + 16)))
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
            core = self.ring._core
            self._stop = core.stop_requested = False
            sent = nbytes = failed = loops = 0
            dropped0 = self.ring.dropped
            start = time.monotonic()
            deadline = math.inf if duration is None else start + duration
            while not self._stop and (loop == 0 or loops < loop):
                size = os.fstat(fd).st_size
                packets, nb, bad, status, pos, value = core.send_pcap(
                    fd, 24, size, swapped, max_caplen, accept, min_len, max_len,
                    tagged_max_len, deadline, buffer)
                sent, nbytes, failed, loops = sent + packets, nbytes + nb, failed + bad, loops + 1
                if status == 1:
                    warnings.warn(PcapTruncatedWarning(
                        f"{os.fspath(path)}: file ends in a partial record at byte offset {pos} "
                        f"(file size {size}); every complete packet before it was read", pos),
                        stacklevel=3)
                elif status == 2:
                    raise PcapFormatError(
                        f"{os.fspath(path)}: corrupt file at byte offset {pos}: record claims a "
                        f"captured length of {value} bytes, more than the largest sane snapshot "
                        f"length ({max_caplen})", pos)
                elif status in (3, 4):
                    self._stop = True
                if packets == 0:     # nothing sendable in the file: nothing to repeat
                    break
            seconds = time.monotonic() - start
            return ReplayResult(packets=sent, bytes=nbytes, failed=failed,
                                dropped=self.ring.dropped - dropped0, seconds=seconds,
                                loops=loops)
        finally:
            os.close(fd)


def replay_file(path: str | os.PathLike, iface: str, **pacing) -> ReplayResult:
    """Replay ``path`` on ``iface`` once with a fresh :class:`Replayer`."""
    with Replayer(iface) as replayer:
        return replayer.replay_file(path, **pacing)
