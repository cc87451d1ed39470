"""Capture-file records (pcap and pcapng), built and parsed without the GIL.

Builders turn batch columns into record headers followed by packet bytes in
one caller-allocated output buffer, so the Python layer writes in large
chunks.  Parsers walk a buffer (usually a read-only map of the file) and fill
batch columns; they stop with a status code at anything they cannot decide
alone: a pcapng block that is not a packet, a corrupt length, the end of the
buffer.  All multi-byte fields are read with memcpy, so no alignment is
assumed.
"""
from cpython.exc cimport PyErr_CheckSignals
from libc.errno cimport errno, EINTR, EIO
from libc.stdint cimport INT64_MAX, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memset, strerror
from posix.types cimport off_t

from includes.posix_file cimport FALLOC_FL_KEEP_SIZE, FALLOC_FL_PUNCH_HOLE, fallocate, write


cpdef enum Status:
    OK = 0                 # stopped on a count or capacity limit
    END = 1                # buffer ends exactly at a record boundary
    TRUNCATED = 2          # a record runs past the end of the buffer
    BAD_CAPLEN = 3         # captured length larger than the record or any sane snaplen
    BAD_BLOCK_LENGTH = 4   # pcapng block length too small, unaligned or huge
    LENGTH_MISMATCH = 5    # pcapng leading and trailing block lengths disagree
    OTHER_BLOCK = 6        # pcapng block the packet loop does not handle
    BAD_INTERFACE = 7      # packet names an interface the section has not described
    BAD_TIMESTAMP = 8      # timestamp outside what the format (writing) or int64 ns (reading) can hold
    BAD_PACKET = 9         # (writing) offset/caplen outside the batch data
    DATA_FULL = 10         # (reading with a copy) next packet does not fit the data buffer


cdef enum:
    # pcapng block types and the one option the packet loop reads
    BT_SHB = 0x0A0D0D0A
    BT_PB = 2              # obsolete Packet Block: an EPB with a 16-bit interface id
    BT_SPB = 3
    BT_EPB = 6
    EPB_FLAGS_OPTION = 2

# pcapng blocks longer than this are treated as corrupt (libpcap uses 16 MiB).
MAX_BLOCK_LENGTH = 64 * 1024 * 1024
cdef uint32_t _MAX_BLOCK_LENGTH = MAX_BLOCK_LENGTH

cpdef enum TsMode:
    # how a pcapng interface's timestamp units become ns (see ts_units_to_ns)
    TS_MULTIPLY = 0        # units of 10**-k s, k <= 9: multiply by 10**(9-k)
    TS_DIVIDE = 1          # units of 10**-k s, k > 9: divide by 10**(k-9)
    TS_BINARY = 2          # units of 2**-k s, k <= 34: exact integer arithmetic
    TS_BINARY_FLOAT = 3    # units of 2**-k s, k > 34: through a double

# pkttype (linux/if_packet.h) <-> epb_flags direction and reception type
cdef uint32_t[8] _PKTTYPE_TO_FLAGS
_PKTTYPE_TO_FLAGS[:] = [
    1 | (1 << 2),   # PACKET_HOST: inbound, unicast
    1 | (3 << 2),   # PACKET_BROADCAST: inbound, broadcast
    1 | (2 << 2),   # PACKET_MULTICAST: inbound, multicast
    1 | (4 << 2),   # PACKET_OTHERHOST: inbound, promiscuous
    2,              # PACKET_OUTGOING: outbound
    0, 0, 0,        # LOOPBACK, USER, KERNEL: no pcapng equivalent
]


cdef struct Result:
    Py_ssize_t count      # records consumed
    Py_ssize_t pos        # buffer position where the next record starts
    Py_ssize_t nbytes     # bytes written to the output / copy buffer
    int status
    int64_t value         # the offending value when status is an error


cdef extern from *:
    """
    /* _prefetch_next runs at every record of a view walk, and gcc -O2 left it a
       call (36 instructions a packet on the uniform mix); force it inline in each
       walk.  The names are Cython's for _pcapio's Prefetch and _prefetch_next
       (tests/test_pcap_mmap.py checks that the module has no such function). */
    struct __pyx_t_7ringcap_7_pcapio_Prefetch;
    static inline __attribute__((always_inline)) void __pyx_f_7ringcap_7_pcapio__prefetch_next(
        struct __pyx_t_7ringcap_7_pcapio_Prefetch *, uint8_t const *, Py_ssize_t, Py_ssize_t,
        Py_ssize_t);
    """
    void __builtin_prefetch(const void *address) noexcept nogil

cdef enum:
    # A walk over a view waits on memory once per record unless the next headers
    # are prefetched, and only each record says where the next one starts.
    # Records averaging under PREFETCH_SMALL bytes: every line PREFETCH_AHEAD
    # bytes ahead (nearly every line holds a header).  Larger: only where the
    # next PREFETCH_RECORDS headers start if they are as long as this record or
    # the one before, since pulling every line through the cache made the walk
    # memory-bound (recorded traffic, 1.3 KB records: 25% less CPU; the
    # IMIX/uniform mixes keep every line, which is faster there).  In a run of
    # one length a record asks only for the header PREFETCH_RECORDS past the
    # next (the records before asked for the nearer ones); the whole plan again
    # at a change of length and at the first record in a new 2**PREFETCH_MAPPED_SHIFT
    # bytes, which the walk has just faulted in (the kernel maps 64 KiB around a
    # fault; a prefetch into a page not yet mapped is dropped, so what the records
    # before asked for there went unheard).  8 ahead (it was 4 when each record
    # asked for all 4): the walk over the recorded mix, map populated, 22.3 ->
    # 17.2 ms; mapped by faults as the reader does, 54.2 -> 52.5 ms; 4 ahead,
    # 21.5 and 55.0 ms; 12 and 16 ahead, 17.8 and 19.1 ms populated.
    PREFETCH_AHEAD = 4096
    PREFETCH_SMALL = 1024
    PREFETCH_RECORDS = 8
    PREFETCH_MAPPED_SHIFT = 16


cdef struct Prefetch:
    Py_ssize_t ahead      # every-line mode: the next line to prefetch
    Py_ssize_t at         # where the record before starts
    Py_ssize_t last       # the length of the record before
    Py_ssize_t mean       # running mean of record lengths (weight 1/8)
    int64_t* plan         # tests only: where the prefetches went (else NULL)
    Py_ssize_t planned


cdef inline void _fetch(Prefetch* p, const uint8_t* buf, Py_ssize_t at) noexcept nogil:
    if p.plan != NULL:
        p.plan[p.planned] = at
        p.planned += 1
    else:
        __builtin_prefetch(buf + at)


cdef void _prefetch_after_change(Prefetch* p, const uint8_t* buf, Py_ssize_t next,
                                Py_ssize_t length, Py_ssize_t end) noexcept nogil:
    """A record of a new length (``p.last`` the one before) or the first in a
    newly mapped 64 KiB: where the headers 1..PREFETCH_RECORDS - 1 records after
    ``next`` start by this length, and 1..PREFETCH_RECORDS by the length before
    if it differs, which the records before did not ask for (or not heard).
    Out of line: 13% of the recorded mix's records change length."""
    cdef Py_ssize_t k, at
    for k in range(1, PREFETCH_RECORDS):
        at = next + k * length
        if at < end:
            _fetch(p, buf, at)
    if p.last and p.last != length:
        for k in range(1, PREFETCH_RECORDS + 1):
            at = next + k * p.last
            if at < end:
                _fetch(p, buf, at)


cdef inline void _prefetch_next(Prefetch* p, const uint8_t* buf, Py_ssize_t pos,
                                Py_ssize_t length, Py_ssize_t end) noexcept nogil:
    """Prefetch where the records after the one at ``pos`` (``length`` bytes,
    header read) likely start; addresses stay below ``end`` (and a prefetch
    never faults, even on a page a truncated file no longer backs)."""
    cdef Py_ssize_t at, ahead
    p.mean = p.mean + ((length - p.mean) >> 3) if p.last else length
    if p.mean < PREFETCH_SMALL:
        ahead = p.ahead if p.ahead > pos else pos
        while ahead < pos + PREFETCH_AHEAD and ahead < end:
            _fetch(p, buf, ahead)
            ahead += 64
        p.ahead = ahead
    else:
        # this record's packet headers past its first line, which the filter and
        # the decoder read next (the walk itself reads only the record header)
        if length > 64 and pos + 64 < end:
            _fetch(p, buf, pos + 64)
            if length > 112 and pos + 112 < end:
                _fetch(p, buf, pos + 112)
        # in a run of one length the records 2..PREFETCH_RECORDS after this
        # one were asked for by the records before: only the newly reachable
        at = pos + length + PREFETCH_RECORDS * length
        if at < end:
            _fetch(p, buf, at)
        if length != p.last or (pos ^ p.at) >> PREFETCH_MAPPED_SHIFT:
            _prefetch_after_change(p, buf, pos + length, length, end)
        p.ahead = pos + length
        p.at = pos
    p.last = length


def _test_prefetch_plan(lengths, Py_ssize_t end):
    """For records of ``lengths`` bytes back to back from offset 0 in a buffer
    of ``end`` bytes: the offsets a view walk prefetches at each record."""
    cdef Prefetch p = Prefetch(0, 0, 0, 0, NULL, 0)
    cdef int64_t plan[128]           # >= PREFETCH_AHEAD / 64 + 2 * PREFETCH_RECORDS
    cdef Py_ssize_t pos = 0, k
    out = []
    for length in lengths:
        p.plan, p.planned = plan, 0
        _prefetch_next(&p, NULL, pos, length, end)
        out.append([plan[k] for k in range(p.planned)])
        pos += length
    return out


cdef inline uint32_t _bswap32(uint32_t v) noexcept nogil:
    return ((v & 0xFF) << 24) | ((v & 0xFF00) << 8) | ((v >> 8) & 0xFF00) | (v >> 24)


cdef inline uint16_t _bswap16(uint16_t v) noexcept nogil:
    return <uint16_t>((v << 8) | (v >> 8))


cdef inline uint32_t _u32(const uint8_t* p, bint swap) noexcept nogil:
    cdef uint32_t v
    memcpy(&v, p, 4)
    return _bswap32(v) if swap else v


cdef inline uint16_t _u16(const uint8_t* p, bint swap) noexcept nogil:
    cdef uint16_t v
    memcpy(&v, p, 2)
    return _bswap16(v) if swap else v


cdef inline void _put32(uint8_t* p, uint32_t v) noexcept nogil:
    memcpy(p, &v, 4)


cdef inline Py_ssize_t _pad4(Py_ssize_t n) noexcept nogil:
    return (n + 3) & ~(<Py_ssize_t>3)


cdef inline int64_t _units_to_ns(uint64_t t, int mode, int64_t param) noexcept nogil:
    if mode == TS_MULTIPLY:
        return <int64_t>(t * <uint64_t>param)
    if mode == TS_DIVIDE:
        return <int64_t>(t // <uint64_t>param)
    if mode == TS_BINARY:
        # param = exponent <= 34, so the fractional product stays below 2**64
        return <int64_t>((t >> param) * 1000000000ULL
                         + (((t & ((1ULL << param) - 1)) * 1000000000ULL) >> param))
    return <int64_t>(<double>t * 1e9 / (<double>2.0 ** param))


cdef extern from *:
    bint _mul_overflows "__builtin_mul_overflow"(uint64_t a, uint64_t b, uint64_t* product) nogil


cdef inline bint _units_to_ns_checked(uint64_t t, int mode, int64_t param, int64_t offset,
                                      int64_t* ns) noexcept nogil:
    # _units_to_ns plus the interface's offset, False where the sum passes int64 ns (2262)
    cdef uint64_t whole
    if mode == TS_MULTIPLY:
        if _mul_overflows(t, <uint64_t>param, &whole):
            return False
    elif mode == TS_DIVIDE:
        whole = t // <uint64_t>param             # param >= 10: below 2**64 / 10
    elif mode == TS_BINARY:
        if (t >> param) > <uint64_t>INT64_MAX // 1000000000ULL:
            return False
        whole = ((t >> param) * 1000000000ULL
                 + (((t & ((1ULL << param) - 1)) * 1000000000ULL) >> param))
    else:
        if <double>t * 1e9 / (<double>2.0 ** param) >= 9.2233720368547758e18:
            return False
        whole = <uint64_t>(<double>t * 1e9 / (<double>2.0 ** param))
    if whole > <uint64_t>INT64_MAX or (offset > 0 and <int64_t>whole > INT64_MAX - offset):
        return False
    ns[0] = <int64_t>whole + offset
    return True


def ts_units_to_ns(uint64_t t, int mode, int64_t param):
    """Convert a pcapng timestamp in interface units to ns (for tests and ISBs)."""
    return _units_to_ns(t, mode, param)


def first_out_of_bounds(const int64_t[::1] offset, const uint32_t[::1] caplen,
                        int64_t data_len):
    """The first packet ``i`` whose bytes ``data[offset[i]:offset[i] + caplen[i]]``
    do not lie in ``data_len`` bytes, or -1: ``Batch.validate``'s check in one
    pass that allocates nothing (no sum is formed, so nothing can overflow)."""
    cdef Py_ssize_t i, bad = -1, n = offset.shape[0]
    if caplen.shape[0] != n:
        raise ValueError(f"{n} offsets but {caplen.shape[0]} lengths")
    with nogil:
        for i in range(n):
            if offset[i] < 0 or offset[i] > data_len or caplen[i] > data_len - offset[i]:
                bad = i
                break
    return bad


def pack(const uint8_t[::1] data, const int64_t[::1] offset, const uint32_t[::1] caplen,
         uint8_t[::1] out):
    """Copy each packet's bytes, ``data[offset[i]:offset[i] + caplen[i]]``,
    back to back into ``out``; returns the bytes written.  Every range is
    checked against ``data`` and ``out`` before any byte moves (a batch of a
    ring or a file has gaps between packets: ``Batch.copy`` packs it)."""
    cdef Py_ssize_t i, n = offset.shape[0], at = 0, size = data.shape[0]
    cdef Py_ssize_t room = out.shape[0]
    cdef int64_t start
    if caplen.shape[0] != n:
        raise ValueError(f"{n} offsets but {caplen.shape[0]} lengths")
    for i in range(n):           # in arithmetic that cannot overflow: no sum is formed
        start = offset[i]
        if start < 0 or start > size or caplen[i] > size - start:
            raise IndexError(f"packet {i} (bytes {start}..{start + caplen[i]}) lies outside "
                             f"the batch's {size} data bytes")
        if caplen[i] > room - at:
            raise IndexError(f"{out.shape[0]} bytes cannot hold the packets (packet {i})")
        at += caplen[i]
    if at == 0:
        return 0
    cdef const uint8_t *src = &data[0]
    cdef uint8_t *dst = &out[0]
    at = 0
    with nogil:
        for i in range(n):
            memcpy(dst + at, src + offset[i], caplen[i])
            at += caplen[i]
    return at


def gather(const int64_t[::1] chosen, Py_ssize_t count, Py_ssize_t data_len,
           const int64_t[::1] ts, const uint32_t[::1] caplen, const uint32_t[::1] wirelen,
           const int64_t[::1] offset, const int32_t[::1] ifindex, const uint8_t[::1] pkttype,
           const uint16_t[::1] protocol, const uint16_t[::1] vlan_tci,
           const uint16_t[::1] vlan_tpid, const uint32_t[::1] rxhash,
           const uint32_t[::1] status, const uint16_t[::1] linktype,
           int64_t[::1] out_ts, uint32_t[::1] out_caplen, uint32_t[::1] out_wirelen,
           int64_t[::1] out_offset, int32_t[::1] out_ifindex, uint8_t[::1] out_pkttype,
           uint16_t[::1] out_protocol, uint16_t[::1] out_vlan_tci,
           uint16_t[::1] out_vlan_tpid, uint32_t[::1] out_rxhash,
           uint32_t[::1] out_status, uint16_t[::1] out_linktype):
    """Copy row ``chosen[k]`` of every batch column into row ``k`` of the
    ``out_`` columns, for ``k < count``, in one pass (a filtered loop's
    ``batch[indexes]`` into buffers it reuses).  The offsets keep pointing
    into the same data, as ``batch[indexes]``'s do; every chosen packet is
    checked to lie inside its ``data_len`` bytes first.  Returns ``count``."""
    cdef Py_ssize_t n = ts.shape[0], k
    cdef int64_t i
    if not (caplen.shape[0] == wirelen.shape[0] == offset.shape[0] == ifindex.shape[0]
            == pkttype.shape[0] == protocol.shape[0] == vlan_tci.shape[0]
            == vlan_tpid.shape[0] == rxhash.shape[0] == status.shape[0]
            == linktype.shape[0] == n):
        raise ValueError("the batch's columns differ in length")
    if count < 0 or count > chosen.shape[0] or min(
            out_ts.shape[0], out_caplen.shape[0], out_wirelen.shape[0], out_offset.shape[0],
            out_ifindex.shape[0], out_pkttype.shape[0], out_protocol.shape[0],
            out_vlan_tci.shape[0], out_vlan_tpid.shape[0], out_rxhash.shape[0],
            out_status.shape[0], out_linktype.shape[0]) < count:
        raise ValueError(f"gather: no room for {count} rows")
    for k in range(count):
        i = chosen[k]
        if i < 0 or i >= n:
            raise IndexError(f"row {i} out of range for a batch of {n}")
        if offset[i] < 0 or offset[i] > data_len or caplen[i] > data_len - offset[i]:
            raise ValueError(f"packet {i} lies outside the batch's {data_len} data bytes")
    with nogil:
        for k in range(count):
            i = chosen[k]
            out_ts[k] = ts[i]
            out_caplen[k] = caplen[i]
            out_wirelen[k] = wirelen[i]
            out_offset[k] = offset[i]
            out_ifindex[k] = ifindex[i]
            out_pkttype[k] = pkttype[i]
            out_protocol[k] = protocol[i]
            out_vlan_tci[k] = vlan_tci[i]
            out_vlan_tpid[k] = vlan_tpid[i]
            out_rxhash[k] = rxhash[i]
            out_status[k] = status[i]
            out_linktype[k] = linktype[i]
    return count


cdef enum:
    # cooked link types: the header holds what the ring's pkttype and protocol columns do
    LINKTYPE_LINUX_SLL = 113       # pkttype: big-endian 16 bits at byte 0; protocol at 14
    LINKTYPE_LINUX_SLL2 = 276      # protocol at byte 0; pkttype: byte 10
    LINKTYPE_NETLINK = 253         # (nlmon) these three start with a LINUX_SLL header,
    LINKTYPE_LINUX_IRDA = 144      # the netlink family its protocol for NETLINK
    LINKTYPE_LINUX_LAPD = 177


cdef inline bint _sll_v1_header(uint16_t linktype) noexcept nogil:
    return (linktype == LINKTYPE_LINUX_SLL or linktype == LINKTYPE_NETLINK
            or linktype == LINKTYPE_LINUX_IRDA or linktype == LINKTYPE_LINUX_LAPD)


def from_cooked_headers(const uint16_t[::1] linktype, const uint8_t[::1] data,  # IN
                        const int64_t[::1] offset, const uint32_t[::1] caplen,  # IN
                        uint8_t[::1] pkttype, uint16_t[::1] protocol):          # OUT
    """Set ``pkttype[i]`` and ``protocol[i]`` (host order) from the Linux
    cooked header of each LINUX_SLL or LINUX_SLL2 packet (and NETLINK,
    LINUX_IRDA, LINUX_LAPD, which start with a LINUX_SLL one): what the
    kernel said when it was captured, as a live capture has them.  Other
    packets, and a field a packet was captured too short to hold, keep
    theirs.  A v1 packet type above 255 (no ``PACKET_*``) gives 0.  Returns
    the number of cooked packets."""
    cdef Py_ssize_t n = linktype.shape[0], i, done = 0
    cdef Py_ssize_t size = data.shape[0]
    cdef int64_t at
    cdef uint32_t value
    if offset.shape[0] != n or caplen.shape[0] != n or pkttype.shape[0] != n \
            or protocol.shape[0] != n:
        raise ValueError("the batch's columns differ in length")
    with nogil:
        for i in range(n):
            at = offset[i]
            if at < 0 or at > size or caplen[i] > size - at:
                continue                    # (not the packet's bytes: leave it)
            if linktype[i] == LINKTYPE_LINUX_SLL2 and caplen[i] >= 2:
                protocol[i] = (<uint16_t>data[at] << 8) | data[at + 1]
                if caplen[i] >= 11:
                    pkttype[i] = data[at + 10]
                done += 1
            elif _sll_v1_header(linktype[i]) and caplen[i] >= 2:
                value = (<uint32_t>data[at] << 8) | data[at + 1]
                pkttype[i] = value if value <= 255 else 0
                if caplen[i] >= 16:
                    protocol[i] = (<uint16_t>data[at + 14] << 8) | data[at + 15]
                done += 1
    return done


def interface_ids(const int32_t[::1] ifindex, const uint16_t[::1] linktype,
                  const int32_t[::1] known_ifindex, const uint16_t[::1] known_linktype,
                  const uint32_t[::1] known_id, Py_ssize_t start, uint32_t[::1] out):
    """pcapng interface ids: ``out[i]`` becomes ``known_id[j]`` where packet ``i``'s
    ``(ifindex, linktype)`` is ``known_ifindex[j], known_linktype[j]``, from
    packet ``start`` on.  Stops at the first packet whose pair is not known
    (the writer describes it and calls again from there) and returns its
    index, or the packet count when every pair was known."""
    cdef Py_ssize_t n = ifindex.shape[0], known = known_id.shape[0], i, j, last = 0
    cdef Py_ssize_t stop = n
    if linktype.shape[0] != n or out.shape[0] < n or known_ifindex.shape[0] != known \
            or known_linktype.shape[0] != known or start < 0:
        raise ValueError("interface_ids: columns of different lengths")
    if known == 0:
        return start if start < n else n
    with nogil:
        for i in range(start, n):
            if ifindex[i] != known_ifindex[last] or linktype[i] != known_linktype[last]:
                for j in range(known):      # interfaces are few; the last one is the usual hit
                    if ifindex[i] == known_ifindex[j] and linktype[i] == known_linktype[j]:
                        last = j
                        break
                else:
                    stop = i
                    break
            out[i] = known_id[last]
    return stop


# ---------------------------------------------------------------------- writing

def write_all(int fd, const uint8_t[::1] buf, Py_ssize_t stop, int64_t[::1] progress):
    """Write ``buf[progress[0]:stop]`` to ``fd``, keeping ``progress[0]`` at the
    number of bytes of ``buf`` written so far.

    Interrupted writes run the signal handlers (which may raise, e.g.
    KeyboardInterrupt) and go on; whatever stops the loop, ``progress[0]``
    says exactly how much reached the file.  Raises OSError on a failed write.
    """
    cdef Py_ssize_t done = progress[0]
    cdef ssize_t rc
    cdef int err
    if stop > buf.shape[0] or done < 0 or done > stop:
        raise IndexError(f"cannot write bytes {done}:{stop} of a {buf.shape[0]}-byte buffer")
    while done < stop:
        with nogil:
            rc = write(fd, &buf[done], stop - done)
            err = errno if rc < 0 else 0
        if rc > 0:
            done += rc
            progress[0] = done
            if done < stop:
                PyErr_CheckSignals()      # a signal cuts a pipe write short: run its handler
        elif rc == 0:
            raise OSError(EIO, "write() wrote nothing")
        elif err == EINTR:
            PyErr_CheckSignals()
        else:
            raise OSError(err, strerror(err).decode("utf-8", "replace"))


def record_boundary(const uint8_t[::1] buf, Py_ssize_t head, Py_ssize_t used,
                    Py_ssize_t stop, bint pcapng, Py_ssize_t header):
    """Find the last record boundary at or before ``stop`` in a writer's buffer.

    ``buf[head:used]`` holds whole records as this module builds them (native
    byte order), the first of them a ``header``-byte pcap file header when
    ``header`` is not 0.  Returns ``(boundary, next_boundary, packets,
    next_is_packet)``: the last boundary <= ``stop``; where the record
    starting there ends (``boundary`` itself when none does); the packet
    records before it; whether the record starting there is a packet.
    """
    cdef Py_ssize_t pos = head, length, packets = 0
    cdef bint packet
    if head < 0 or used > buf.shape[0] or head > used:
        raise IndexError("buffer range outside the buffer")
    while pos < used:
        if header:
            length, packet = header, False
        elif pcapng:
            if used - pos < 8:
                raise ValueError(f"writer buffer holds a broken record at {pos}")
            packet = _u32(&buf[pos], False) == BT_EPB
            length = _u32(&buf[pos + 4], False)
        else:
            if used - pos < 16:
                raise ValueError(f"writer buffer holds a broken record at {pos}")
            length, packet = 16 + <Py_ssize_t>_u32(&buf[pos + 8], False), True
        if length <= 0 or length > used - pos:
            raise ValueError(f"writer buffer holds a broken record at {pos}")
        if length > stop - pos:
            return pos, pos + length, packets, packet
        packets += packet
        header = 0
        pos += length
    return pos, pos, packets, False


def release_space(int fd, off_t offset, off_t length):
    """Give back blocks reserved by :func:`reserve_space` (punch a hole; size unchanged)."""
    cdef int rc, err = 0
    with nogil:
        rc = fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length)
        err = errno if rc < 0 else 0
    return err


def reserve_space(int fd, off_t offset, off_t length):
    """Allocate disk blocks for ``offset:offset+length`` without changing the file size.

    ``fallocate(FALLOC_FL_KEEP_SIZE)``: later writes into the range cannot
    fail for lack of space.  Returns 0 or the errno (``ENOSPC``, or
    ``EOPNOTSUPP`` on file systems without it); never raises.
    """
    cdef int rc, err = 0
    with nogil:
        while True:
            rc = fallocate(fd, FALLOC_FL_KEEP_SIZE, offset, length)
            err = errno if rc < 0 else 0
            if err != EINTR:
                break
    return err


cdef inline int _record_lengths(int64_t ts, int64_t off, uint32_t caplen, uint32_t wirelen,
                                Py_ssize_t data_len, int64_t max_seconds, uint32_t snaplen,
                                uint32_t *cl, uint32_t *wl) noexcept nogil:
    """Check one packet of a batch being written and give the lengths its
    record gets: the wire length is at least the captured one, and the
    captured one at most snaplen."""
    if off < 0 or off > data_len or caplen > data_len - off:     # cannot overflow
        return BAD_PACKET
    if ts < 0 or ts // 1000000000 > max_seconds:
        return BAD_TIMESTAMP
    wl[0] = wirelen if wirelen > caplen else caplen
    cl[0] = caplen if caplen < snaplen else snaplen
    return OK


cdef Result _build_pcap(
        const int64_t[::1] ts,          # IN
        const uint32_t[::1] caplen,     # IN
        const uint32_t[::1] wirelen,    # IN
        const int64_t[::1] offset,      # IN
        const uint8_t[::1] data,        # IN
        Py_ssize_t start, Py_ssize_t stop, uint32_t snaplen, bint nanosecond,
        uint8_t[::1] out,               # OUT
        ) noexcept nogil:
    cdef Result r
    cdef Py_ssize_t i, pos = 0, cap = out.shape[0], data_len = data.shape[0]
    cdef uint32_t cl, wl, frac
    cdef int64_t t
    cdef uint8_t* o = &out[0]
    cdef const uint8_t* d = &data[0] if data_len > 0 else NULL
    r.status = OK
    r.value = 0
    i = start
    while i < stop:
        t = ts[i]
        r.status = _record_lengths(t, offset[i], caplen[i], wirelen[i], data_len, 0xFFFFFFFFLL,
                                   snaplen, &cl, &wl)
        if r.status != OK:
            r.value = i
            break
        if pos + 16 + cl > cap:
            break
        frac = <uint32_t>(t % 1000000000)
        if not nanosecond:
            frac = frac // 1000
        _put32(o + pos, <uint32_t>(t // 1000000000))
        _put32(o + pos + 4, frac)
        _put32(o + pos + 8, cl)
        _put32(o + pos + 12, wl)
        if cl:
            memcpy(o + pos + 16, d + offset[i], cl)
        pos += 16 + cl
        i += 1
    r.count = i - start
    r.pos = i
    r.nbytes = pos
    return r


def build_pcap(const int64_t[::1] ts, const uint32_t[::1] caplen, const uint32_t[::1] wirelen,
               const int64_t[::1] offset, const uint8_t[::1] data,
               Py_ssize_t start, Py_ssize_t stop, uint32_t snaplen, bint nanosecond,
               uint8_t[::1] out):
    """Write pcap records for packets ``start:stop`` into ``out``.

    Stops early when the next record does not fit.  Returns
    ``(next_index, nbytes, status, bad_index)``.
    """
    cdef Result r
    if stop > ts.shape[0] or start < 0 or start > stop:
        raise IndexError(f"packet range {start}:{stop} outside a batch of {ts.shape[0]}")
    if out.shape[0] == 0:
        return start, 0, OK, 0
    with nogil:
        r = _build_pcap(ts, caplen, wirelen, offset, data, start, stop, snaplen, nanosecond, out)
    return r.pos, r.nbytes, r.status, r.value


cdef Result _build_epb(
        const int64_t[::1] ts,          # IN
        const uint32_t[::1] caplen,     # IN
        const uint32_t[::1] wirelen,    # IN
        const int64_t[::1] offset,      # IN
        const uint8_t[::1] data,        # IN
        const uint8_t[::1] pkttype,     # IN
        const uint32_t[::1] iface_id,   # IN  pcapng interface id of each packet
        Py_ssize_t start, Py_ssize_t stop, uint32_t snaplen, bint flags,
        uint8_t[::1] out,               # OUT
        ) noexcept nogil:
    cdef Result r
    cdef Py_ssize_t i, pos = 0, cap = out.shape[0], data_len = data.shape[0], padded, blen
    cdef uint32_t cl, wl, pt
    cdef int64_t t
    cdef uint8_t* o = &out[0]
    cdef const uint8_t* d = &data[0] if data_len > 0 else NULL
    r.status = OK
    r.value = 0
    i = start
    while i < stop:
        t = ts[i]
        r.status = _record_lengths(t, offset[i], caplen[i], wirelen[i], data_len,
                                   0x7FFFFFFFFFFFFFFFLL, snaplen, &cl, &wl)
        if r.status != OK:
            r.value = i
            break
        padded = _pad4(cl)
        blen = 32 + padded + (12 if flags else 0)
        if pos + blen > cap:
            break
        _put32(o + pos, BT_EPB)
        _put32(o + pos + 4, <uint32_t>blen)
        _put32(o + pos + 8, iface_id[i])
        _put32(o + pos + 12, <uint32_t>(<uint64_t>t >> 32))
        _put32(o + pos + 16, <uint32_t>(<uint64_t>t & 0xFFFFFFFFULL))
        _put32(o + pos + 20, cl)
        _put32(o + pos + 24, wl)
        if cl:
            memcpy(o + pos + 28, d + offset[i], cl)
        if padded > cl:
            memset(o + pos + 28 + cl, 0, padded - cl)
        if flags:
            pt = pkttype[i]
            _put32(o + pos + 28 + padded, EPB_FLAGS_OPTION | (4 << 16))
            _put32(o + pos + 32 + padded, _PKTTYPE_TO_FLAGS[pt] if pt < 8 else 0)
            _put32(o + pos + 36 + padded, 0)
        _put32(o + pos + blen - 4, <uint32_t>blen)
        pos += blen
        i += 1
    r.count = i - start
    r.pos = i
    r.nbytes = pos
    return r


def build_epb(const int64_t[::1] ts, const uint32_t[::1] caplen, const uint32_t[::1] wirelen,
              const int64_t[::1] offset, const uint8_t[::1] data, const uint8_t[::1] pkttype,
              const uint32_t[::1] iface_id, Py_ssize_t start, Py_ssize_t stop, uint32_t snaplen,
              bint flags, uint8_t[::1] out):
    """Write pcapng Enhanced Packet Blocks (ns timestamps) for packets ``start:stop``.

    With ``flags`` each block carries an ``epb_flags`` option derived from
    ``pkttype``.  Returns ``(next_index, nbytes, status, bad_index)``.
    """
    cdef Result r
    if stop > ts.shape[0] or start < 0 or start > stop:
        raise IndexError(f"packet range {start}:{stop} outside a batch of {ts.shape[0]}")
    if out.shape[0] == 0:
        return start, 0, OK, 0
    with nogil:
        r = _build_epb(ts, caplen, wirelen, offset, data, pkttype, iface_id,
                       start, stop, snaplen, flags, out)
    return r.pos, r.nbytes, r.status, r.value


# ---------------------------------------------------------------------- reading

cdef inline bint _place(Result* r, const uint8_t* src, uint32_t cl, Py_ssize_t src_pos,
                        int64_t base, uint8_t* copy_to, Py_ssize_t copy_cap,
                        int64_t* offset_out) noexcept nogil:
    """Record where packet bytes live: in the source (view) or copied out."""
    if copy_to == NULL:
        offset_out[0] = src_pos - base
        return True
    if r.nbytes + cl > copy_cap:
        return False
    if cl:
        memcpy(copy_to + r.nbytes, src + src_pos, cl)
    offset_out[0] = r.nbytes
    r.nbytes += cl
    return True


cdef Result _parse_pcap(
        const uint8_t* buf, Py_ssize_t pos, Py_ssize_t end,
        bint swap, int64_t frac_to_ns, uint32_t max_caplen,
        Py_ssize_t max_packets, int64_t base,
        uint8_t* copy_to, Py_ssize_t copy_cap, Py_ssize_t copy_start,
        int64_t* ts,            # OUT
        uint32_t* caplen,       # OUT
        uint32_t* wirelen,      # OUT
        int64_t* offset,        # OUT
        ) noexcept nogil:
    cdef Result r
    cdef Py_ssize_t n = 0
    cdef uint32_t cl
    cdef Prefetch ahead = Prefetch(pos, pos, 0, 0, NULL, 0)
    r.status = OK
    r.value = 0
    r.nbytes = copy_start
    while n < max_packets:
        if end - pos < 16:
            r.status = END if end == pos else TRUNCATED
            break
        cl = _u32(buf + pos + 8, swap)
        if copy_to == NULL:             # (a copy streams the bytes anyway)
            _prefetch_next(&ahead, buf, pos, 16 + <Py_ssize_t>cl, end)
        if cl > max_caplen:
            r.status = BAD_CAPLEN
            r.value = cl
            break
        if end - pos - 16 < cl:
            r.status = TRUNCATED
            break
        if not _place(&r, buf, cl, pos + 16, base, copy_to, copy_cap, offset + n):
            r.status = DATA_FULL
            r.value = cl
            break
        ts[n] = <int64_t>_u32(buf + pos, swap) * 1000000000 + <int64_t>_u32(buf + pos + 4, swap) * frac_to_ns
        caplen[n] = cl
        wirelen[n] = _u32(buf + pos + 12, swap)
        pos += 16 + cl
        n += 1
    r.count = n
    r.pos = pos
    return r


def parse_pcap(const uint8_t[::1] buf, Py_ssize_t pos, bint swap, bint nanosecond,
               uint32_t max_caplen, int64_t base,
               int64_t[::1] ts, uint32_t[::1] caplen, uint32_t[::1] wirelen, int64_t[::1] offset,
               uint8_t[::1] copy_to=None, Py_ssize_t copy_start=0):
    """Parse pcap records from ``buf[pos:]`` into the column arrays.

    At most ``len(ts)`` records.  Without ``copy_to``, ``offset`` receives
    the position of each packet in ``buf`` minus ``base``; with it, packet
    bytes are copied to ``copy_to[copy_start:]`` and ``offset`` indexes that.
    Returns ``(count, pos, nbytes, status, value)`` where ``pos`` is where
    the next record starts and ``nbytes`` the end of the copied data.
    """
    cdef Result r
    cdef Py_ssize_t max_packets = ts.shape[0]
    cdef uint8_t* dst = NULL
    cdef Py_ssize_t cap = 0
    if caplen.shape[0] < max_packets or wirelen.shape[0] < max_packets or offset.shape[0] < max_packets:
        raise ValueError("column arrays are shorter than ts")
    if pos < 0 or pos > buf.shape[0]:
        raise IndexError(f"position {pos} outside a buffer of {buf.shape[0]} bytes")
    if copy_to is not None:
        cap = copy_to.shape[0]
        if copy_start < 0 or copy_start > cap:
            raise IndexError(f"copy_start {copy_start} outside a buffer of {cap} bytes")
        dst = &copy_to[0] if cap else NULL
        if dst == NULL:
            return 0, pos, 0, DATA_FULL, 0
    if max_packets == 0 or buf.shape[0] == 0:
        return 0, pos, copy_start, (END if pos == buf.shape[0] else OK), 0
    with nogil:
        r = _parse_pcap(&buf[0], pos, buf.shape[0], swap, 1 if nanosecond else 1000, max_caplen,
                        max_packets, base, dst, cap, copy_start,
                        &ts[0], &caplen[0], &wirelen[0], &offset[0])
    return r.count, r.pos, r.nbytes, r.status, r.value


cdef Result _parse_pcapng(
        const uint8_t* buf, Py_ssize_t pos, Py_ssize_t end, bint swap,
        const int32_t* if_mode, const int64_t* if_param, const int64_t* if_offset_ns,
        const uint32_t* if_snaplen, Py_ssize_t n_if, int32_t if_base,
        Py_ssize_t max_packets, int64_t base,
        uint8_t* copy_to, Py_ssize_t copy_cap, Py_ssize_t copy_start,
        int64_t* ts,            # OUT
        uint32_t* caplen,       # OUT
        uint32_t* wirelen,      # OUT
        int64_t* offset,        # OUT
        int32_t* ifindex,       # OUT
        uint8_t* pkttype,       # OUT
        ) noexcept nogil:
    cdef Result r
    cdef Py_ssize_t n = 0, opos, oend
    cdef uint32_t btype, blen, cl, wl, iface, flags, code, olen
    cdef uint64_t units
    cdef Prefetch ahead = Prefetch(pos, pos, 0, 0, NULL, 0)
    r.status = OK
    r.value = 0
    r.nbytes = copy_start
    while n < max_packets:
        if end == pos:
            r.status = END
            break
        if end - pos < 12:
            r.status = TRUNCATED
            break
        btype = _u32(buf + pos, swap)
        if btype == BT_SHB:
            r.status = OTHER_BLOCK
            break
        blen = _u32(buf + pos + 4, swap)
        if copy_to == NULL:             # (as in _parse_pcap)
            _prefetch_next(&ahead, buf, pos, blen, end)
        if blen < 12 or blen % 4 != 0 or blen > _MAX_BLOCK_LENGTH:
            r.status = BAD_BLOCK_LENGTH
            r.value = blen
            break
        if <Py_ssize_t>blen > end - pos:
            r.status = TRUNCATED
            break
        if _u32(buf + pos + blen - 4, swap) != blen:
            r.status = LENGTH_MISMATCH
            r.value = _u32(buf + pos + blen - 4, swap)
            break
        if btype == BT_EPB or btype == BT_PB:
            if blen < 32:
                r.status = BAD_BLOCK_LENGTH
                r.value = blen
                break
            iface = _u32(buf + pos + 8, swap) if btype == BT_EPB else _u16(buf + pos + 8, swap)
            if iface >= n_if:
                r.status = BAD_INTERFACE
                r.value = iface
                break
            cl = _u32(buf + pos + 20, swap)
            if cl > blen - 32 or 32 + _pad4(cl) > blen:
                r.status = BAD_CAPLEN
                r.value = cl
                break
            wl = _u32(buf + pos + 24, swap)
            units = (<uint64_t>_u32(buf + pos + 12, swap) << 32) | _u32(buf + pos + 16, swap)
            flags = 0
            opos = pos + 28 + _pad4(cl)
            oend = pos + blen - 4
            while opos + 4 <= oend:
                code = _u16(buf + opos, swap)
                olen = _u16(buf + opos + 2, swap)
                if code == 0 or opos + 4 + olen > oend:
                    break
                if code == EPB_FLAGS_OPTION and olen == 4:
                    flags = _u32(buf + opos + 4, swap)
                opos += 4 + _pad4(olen)
            if not _units_to_ns_checked(units, if_mode[iface], if_param[iface],
                                        if_offset_ns[iface], ts + n):
                r.status = BAD_TIMESTAMP
                r.value = iface
                break
            if not _place(&r, buf, cl, pos + 28, base, copy_to, copy_cap, offset + n):
                r.status = DATA_FULL
                r.value = cl
                break
            caplen[n] = cl
            wirelen[n] = wl
            ifindex[n] = if_base + <int32_t>iface
            if (flags & 3) == 2:
                pkttype[n] = 4                       # PACKET_OUTGOING
            else:
                flags = (flags >> 2) & 7
                pkttype[n] = 1 if flags == 3 else 2 if flags == 2 else 3 if flags == 4 else 0
            n += 1
        elif btype == BT_SPB:
            if blen < 16:
                r.status = BAD_BLOCK_LENGTH
                r.value = blen
                break
            if n_if < 1:
                r.status = BAD_INTERFACE
                r.value = 0
                break
            wl = _u32(buf + pos + 8, swap)
            cl = blen - 16
            if wl < cl:
                cl = wl
            if if_snaplen[0] != 0 and if_snaplen[0] < cl:
                cl = if_snaplen[0]
            if not _place(&r, buf, cl, pos + 12, base, copy_to, copy_cap, offset + n):
                r.status = DATA_FULL
                r.value = cl
                break
            ts[n] = 0                                # simple packets carry no timestamp
            caplen[n] = cl
            wirelen[n] = wl
            ifindex[n] = if_base
            pkttype[n] = 0
            n += 1
        else:
            r.status = OTHER_BLOCK
            break
        pos += blen
    r.count = n
    r.pos = pos
    return r


def parse_pcapng(const uint8_t[::1] buf, Py_ssize_t pos, bint swap,
                 const int32_t[::1] if_mode, const int64_t[::1] if_param,
                 const int64_t[::1] if_offset_ns, const uint32_t[::1] if_snaplen,
                 int32_t if_base, int64_t base,
                 int64_t[::1] ts, uint32_t[::1] caplen, uint32_t[::1] wirelen,
                 int64_t[::1] offset, int32_t[::1] ifindex, uint8_t[::1] pkttype,
                 uint8_t[::1] copy_to=None, Py_ssize_t copy_start=0):
    """Parse pcapng packet blocks (EPB, SPB, obsolete PB) of one section from ``buf[pos:]``.

    The ``if_*`` arrays describe the section's interfaces in order: timestamp
    conversion mode and parameter, offset in ns, and snaplen.  ``if_base`` is
    added to the interface id to give ``ifindex``.  Stops with
    ``OTHER_BLOCK`` at any other block, leaving ``pos`` on it.  Returns
    ``(count, pos, nbytes, status, value)`` like :func:`parse_pcap`.
    """
    cdef Result r
    cdef Py_ssize_t max_packets = ts.shape[0]
    cdef Py_ssize_t n_if = if_mode.shape[0]
    cdef uint8_t* dst = NULL
    cdef Py_ssize_t cap = 0
    cdef int32_t dummy_mode = 0
    cdef int64_t dummy_param = 1, dummy_offset = 0
    cdef uint32_t dummy_snaplen = 0
    if (caplen.shape[0] < max_packets or wirelen.shape[0] < max_packets
            or offset.shape[0] < max_packets or ifindex.shape[0] < max_packets
            or pkttype.shape[0] < max_packets):
        raise ValueError("column arrays are shorter than ts")
    if if_param.shape[0] != n_if or if_offset_ns.shape[0] != n_if or if_snaplen.shape[0] != n_if:
        raise ValueError("interface arrays differ in length")
    if pos < 0 or pos > buf.shape[0]:
        raise IndexError(f"position {pos} outside a buffer of {buf.shape[0]} bytes")
    if copy_to is not None:
        cap = copy_to.shape[0]
        if copy_start < 0 or copy_start > cap:
            raise IndexError(f"copy_start {copy_start} outside a buffer of {cap} bytes")
        dst = &copy_to[0] if cap else NULL
        if dst == NULL:
            return 0, pos, 0, DATA_FULL, 0
    if max_packets == 0 or buf.shape[0] == 0:
        return 0, pos, copy_start, (END if pos == buf.shape[0] else OK), 0
    with nogil:
        r = _parse_pcapng(&buf[0], pos, buf.shape[0], swap,
                          &if_mode[0] if n_if else &dummy_mode,
                          &if_param[0] if n_if else &dummy_param,
                          &if_offset_ns[0] if n_if else &dummy_offset,
                          &if_snaplen[0] if n_if else &dummy_snaplen,
                          n_if, if_base, max_packets, base, dst, cap, copy_start,
                          &ts[0], &caplen[0], &wirelen[0], &offset[0], &ifindex[0], &pkttype[0])
    return r.count, r.pos, r.nbytes, r.status, r.value

