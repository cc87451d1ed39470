"""The readers compared by the benchmarks, each doing the same job on the same traffic.

Every reader is a small class with the same three steps, so the scenarios in
``bench_ring.py`` can treat ringcap, the peers and the C loop alike:

``open(iface, expect_packets, frame_len, geometry)`` sets up the capture
handle (before any traffic is sent); ``read(timeout_s)`` consumes what is ready (at most one
batch, or one packet for per-packet APIs) and returns how many packets it
took; ``stats()`` returns the socket drop count; ``close()`` releases
everything.  The timed part is only ``read`` calls.
"""
from __future__ import annotations

import select
import socket
import struct

BATCH = 65536                 # max packets per batch for every batch API
SNAPLEN = 65535
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_STATISTICS = 6
SO_RCVBUFFORCE = 33


class Unavailable(Exception):
    """The reader cannot run here (package missing, API absent); the reason is the message."""


class Reader:
    name = "?"
    per_packet = False        # one packet per read() call
    last_frame: bytes | None = None   # the newest frame, where the API keeps bytes cheaply

    def open(self, iface: str, expect_packets: int, frame_len: int, geometry: dict) -> None:
        raise NotImplementedError

    def read(self, timeout_s: float) -> int:
        raise NotImplementedError

    def stats(self) -> dict:
        return {}

    def close(self) -> None:
        pass


# ---------------------------------------------------------------- ringcap
def _ringcap():
    try:
        import ringcap
    except ImportError as exc:  # pragma: no cover - depends on the build
        raise Unavailable(f"ringcap not importable: {exc}") from None
    if not hasattr(ringcap, "RxRing"):
        raise Unavailable("ringcap.RxRing is not built yet")
    return ringcap


class _RingcapBase(Reader):
    def open(self, iface, expect_packets, frame_len, geometry):
        ringcap = _ringcap()
        self._ringcap = ringcap
        self.ring = ringcap.RxRing(
            iface, snaplen=SNAPLEN, block_size=geometry["block_size"],
            block_count=geometry["block_count"], block_timeout_ms=geometry["block_timeout_ms"])

    def stats(self):
        st = self.ring.stats
        return {"drops": int(st.drops), "if_drops_reported": int(getattr(st, "if_drops", 0) or 0),
                "freeze_count": int(st.freeze_count)}

    def close(self):
        ring = getattr(self, "ring", None)
        if ring is not None:
            ring.close()
            self.ring = None


class RingcapOut(_RingcapBase):
    """``ring.read(BATCH, out=batch)``: copying read into one reused Batch."""
    name = "ringcap read(out=)"

    def open(self, iface, expect_packets, frame_len, geometry):
        super().open(iface, expect_packets, frame_len, geometry)
        self.out = self._ringcap.Batch.empty(BATCH, BATCH * max(frame_len, 64))
        for array in self.out._store.values():
            array.fill(1)   # a reused batch is warm: no first-touch page faults in the timing
        self.last = None

    def read(self, timeout_s):
        b = self.ring.read(BATCH, timeout=timeout_s, out=self.out)
        self.last = b
        return len(b)


class RingcapAlloc(_RingcapBase):
    """``ring.read(BATCH)``: copying read that allocates new arrays per batch."""
    name = "ringcap read()"

    def read(self, timeout_s):
        b = self.ring.read(BATCH, timeout=timeout_s)
        self.last = b
        return len(b)


class RingcapView(_RingcapBase):
    """``ring.read_view(BATCH)``: zero-copy batch over the ring, released per batch."""
    name = "ringcap read_view()"

    def open(self, iface, expect_packets, frame_len, geometry):
        ringcap = _ringcap()
        if not hasattr(ringcap.RxRing, "read_view"):
            raise Unavailable("RxRing.read_view is not implemented yet")
        super().open(iface, expect_packets, frame_len, geometry)

    def read(self, timeout_s):
        with self.ring.read_view(BATCH, timeout=timeout_s) as b:
            n = len(b)
            if n:
                self.last_frame = b[n - 1]
            return n


# ---------------------------------------------------------------- libpcap peers
def _pcap_buffer_bytes(expect_packets: int, frame_len: int, geometry: dict) -> int:
    """libpcap's buffer_size: the same memory as ringcap's ring when live; when
    pre-filling, enough that the ring never overflows (libpcap's small blocks
    waste little to timer retirement)."""
    ring_bytes = geometry["block_size"] * geometry["block_count"]
    if not geometry.get("prefill"):
        return ring_bytes
    per_packet = ((82 + frame_len + 15) & ~15)
    return min(max(ring_bytes, int(expect_packets * per_packet * 1.5)), 1 << 30)


class _PcapyBase(Reader):
    def open(self, iface, expect_packets, frame_len, geometry):
        try:
            import pcapy
        except ImportError as exc:
            raise Unavailable(f"pcapy-ng not installed: {exc}") from None
        p = pcapy.create(iface)
        p.set_snaplen(SNAPLEN)
        p.set_promisc(False)
        p.set_timeout(geometry["block_timeout_ms"])
        p.set_buffer_size(_pcap_buffer_bytes(expect_packets, frame_len, geometry))
        p.activate()
        # libpcap's TPACKET_V3 poll waits without a timeout when the ring is
        # idle; be non-blocking and poll the fd ourselves, as ringcap does.
        p.setnonblock(1)
        self.p = p
        self.fd = p.getfd()

    def read(self, timeout_s):
        k = self.read_ready()
        if k or timeout_s <= 0:
            return k
        select.select([self.fd], [], [], timeout_s)
        return self.read_ready()

    def stats(self):
        recv, drop, ifdrop = self.p.stats()
        return {"drops": int(drop), "if_drops_reported": int(ifdrop)}

    def close(self):
        p = getattr(self, "p", None)
        if p is not None:
            p.close()
            self.p = None


class PcapyNextBatch(_PcapyBase):
    name = "pcapy-ng next_batch"

    def open(self, *args):
        super().open(*args)
        if not hasattr(self.p, "next_batch"):
            self.close()
            raise Unavailable("this pcapy-ng has no next_batch (needs 2.x)")

    def read_ready(self):
        buf, meta = self.p.next_batch(BATCH)
        if meta:
            _, _, off, caplen = struct.unpack_from("=IIII", meta, len(meta) - 16)
            self.last_frame = buf[off:off + caplen]
        return len(meta) // 16


class PcapyNext(_PcapyBase):
    name = "pcapy-ng next"
    per_packet = True

    def read_ready(self):
        hdr, data = self.p.next()
        return 0 if hdr is None else 1


class PypcapReadpkts(Reader):
    name = "pypcap readpkts"

    def open(self, iface, expect_packets, frame_len, geometry):
        try:
            import pcap
        except ImportError as exc:
            raise Unavailable(f"pypcap not installed: {exc}") from None
        self.p = pcap.pcap(name=iface, snaplen=SNAPLEN, promisc=False,
                           timeout_ms=geometry["block_timeout_ms"], immediate=False,
                           timestamp_in_ns=True,
                           buffer_size=_pcap_buffer_bytes(expect_packets, frame_len, geometry))
        self.p.setnonblock(True)   # see _PcapyBase.open
        self.fd = self.p.fileno()

    def read(self, timeout_s):
        pkts = self.p.readpkts()
        if not pkts and timeout_s > 0:
            select.select([self.fd], [], [], timeout_s)
            pkts = self.p.readpkts()
        if pkts:
            self.last_frame = pkts[-1][1]
        return len(pkts)

    def stats(self):
        recv, drop, ifdrop = self.p.stats()
        return {"drops": int(drop), "if_drops_reported": int(ifdrop)}

    def close(self):
        p = getattr(self, "p", None)
        if p is not None:
            p.close()
            self.p = None


# ---------------------------------------------------------------- plain sockets
def _packet_statistics(sock: socket.socket) -> tuple[int, int]:
    packets, drops = struct.unpack("II", sock.getsockopt(SOL_PACKET, PACKET_STATISTICS, 8))
    return packets, drops


class SocketRecvInto(Reader):
    """A Python loop of ``recv_into`` on an AF_PACKET socket into one reused buffer.

    Per packet it keeps the length and offset (in Python lists), like a batch
    without the kernel's metadata; it gets no timestamps.
    """
    name = "socket.recv_into"
    per_packet = True

    def open(self, iface, expect_packets, frame_len, geometry):
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            # each queued skb costs its truesize (~1-3 KiB here) against the buffer;
            # live, it gets the memory ringcap's ring has
            if geometry.get("prefill"):
                rcvbuf = min(1 << 30, max(64 << 20, expect_packets * 4096))
            else:
                rcvbuf = geometry["block_size"] * geometry["block_count"]
            s.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            s.bind((iface, ETH_P_ALL))
        except BaseException:
            s.close()
            raise
        self.sock = s
        self.buf = bytearray(BATCH * max(frame_len, 64))
        self.view = memoryview(self.buf)
        self.pos = 0
        self.lengths: list[int] = []
        self.offsets: list[int] = []
        self.drops = 0
        self.stride = max(frame_len, 64)
        self.timeout = None

    def read(self, timeout_s):
        if self.pos + self.stride > len(self.buf):
            self.pos = 0
            self.lengths.clear()
            self.offsets.clear()
        try:
            if timeout_s == 0:
                n = self.sock.recv_into(self.view[self.pos:], self.stride, socket.MSG_DONTWAIT)
            else:
                if timeout_s != self.timeout:
                    self.sock.settimeout(timeout_s)
                    self.timeout = timeout_s
                n = self.sock.recv_into(self.view[self.pos:], self.stride)
        except (BlockingIOError, socket.timeout):
            return 0
        self.offsets.append(self.pos)
        self.lengths.append(n)
        self.pos += n
        return 1

    def stats(self):
        self.drops += _packet_statistics(self.sock)[1]
        return {"drops": self.drops}

    def close(self):
        sock = getattr(self, "sock", None)
        if sock is not None:
            self.view.release()
            sock.close()
            self.sock = None


class ScapySniff(Reader):
    """``scapy.sniff(opened_socket=..., count=n)`` on an L2 listen socket.

    scapy parses every packet into a Python object; only a small count is run.
    """
    name = "scapy sniff"
    per_packet = False

    def open(self, iface, expect_packets, frame_len, geometry):
        try:
            import scapy.layers.l2  # noqa: F401  (registers Ether, so frames are dissected)
            from scapy.arch.linux import L2ListenSocket
        except ImportError as exc:
            raise Unavailable(f"scapy not installed: {exc}") from None
        self.sock = L2ListenSocket(iface=iface, promisc=False)
        self.sock.ins.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, 256 << 20)
        self.want = expect_packets

    def read(self, timeout_s):
        from scapy.sendrecv import sniff
        got = sniff(opened_socket=self.sock, count=self.want, store=True,
                    timeout=max(timeout_s, 1.0))
        self.want -= len(got)
        return len(got)

    def stats(self):
        return {"drops": _packet_statistics(self.sock.ins)[1]}

    def close(self):
        sock = getattr(self, "sock", None)
        if sock is not None:
            sock.close()
            self.sock = None


PREFILLED_READERS = [RingcapOut, RingcapAlloc, RingcapView, PcapyNextBatch, PcapyNext,
                     PypcapReadpkts, SocketRecvInto, ScapySniff]
LIVE_READERS = [RingcapOut, RingcapView, PcapyNextBatch, PcapyNext, PypcapReadpkts,
                SocketRecvInto]

