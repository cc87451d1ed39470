# Streaming flow metering: per-flow, per-direction statistics with idle and
# active expiry, like a NetFlow/IPFIX exporter or nfstream's meter.
#
# The meter keeps its open flows in a C array of Flow structs found through an
# open-addressing table keyed by the symmetric flow hash that _decode computes
# (Headers.flow_hash).  Open flows also sit on a doubly linked list in order of
# their last packet, so that idle flows are found at its head in O(1) before
# every packet.  Expired flows are copied into an output buffer that the
# Python layer (ringcap/flowmeter.py) takes as a numpy structured array and
# turns into columns.  Everything per packet runs without the GIL.
#
# With max_flows set, a packet that would open one flow more than that first
# evicts the least recently active flow (the list's head) as a record with
# expiration_id EXPIRED_EVICTED, IPFIX's "lack of resources" end reason, and
# counts it: memory is bounded by max_flows whatever the traffic.

from libc.stdint cimport (uint8_t, uint16_t, uint32_t, uint64_t, int8_t, int32_t, int64_t,
                          INT64_MIN, INT64_MAX)
from libc.string cimport memcpy, memset
from libc.stdlib cimport malloc, realloc, free
cimport numpy as cnp
import numpy as np

cnp.import_array()

cdef extern from *:
    int __builtin_ctz(unsigned int x) nogil

cdef enum:
    SIDE_SRC2DST = 0
    SIDE_DST2SRC = 1
    SIDE_BIDIRECTIONAL = 2
    N_FLAG_COUNTS = 9        # fin syn rst psh ack urg ece cwr, then syn+ack
    # Values of Flow.expiration_id (nfstream's 0 and 1, and one for the end).
    EXPIRED_IDLE = 0
    EXPIRED_ACTIVE = 1
    EXPIRED_END = 2
    EXPIRED_EVICTED = 3

EXPIRATION_IDS = {"idle": EXPIRED_IDLE, "active": EXPIRED_ACTIVE, "end": EXPIRED_END,
                  "evicted": EXPIRED_EVICTED}
#: Bytes each open flow takes (its entry and, at worst, its share of the hash table).
FLOW_BYTES = sizeof(Flow) + 4 * sizeof(int64_t)
# The order of Side.flag_packets.
FLAG_COUNT_NAMES = ("fin", "syn", "rst", "psh", "ack", "urg", "ece", "cwr", "synack")

cdef struct Side:
    uint64_t packets
    uint64_t bytes
    int64_t first_seen       # ns; INT64_MIN while the side has no packets
    int64_t last_seen
    uint64_t min_ps
    uint64_t max_ps
    double mean_ps
    double m2_ps             # Welford's sum of squared deviations
    int64_t min_piat
    int64_t max_piat
    double mean_piat
    double m2_piat
    uint64_t flag_packets[N_FLAG_COUNTS]
    uint64_t retransmissions
    uint32_t seq_end         # highest sequence number + length seen (TCP)
    uint32_t has_seq

cdef struct Flow:
    uint64_t hash            # the table's: flow_hash mixed with the keyed part of tag
    uint64_t flow_hash       # Headers.flow_hash of the packets
    uint64_t tag             # tunnel and VLAN of the first packet (see ringcap/flowmeter.py)
    uint8_t ip_src[16]       # the first packet's source: the src2dst side
    uint8_t ip_dst[16]
    uint16_t sport
    uint16_t dport
    uint8_t ip_version
    uint8_t ip_proto
    int8_t syn_side          # side of the first SYN without ACK, -1 before it
    int8_t expiration_id
    int64_t syn_ts           # handshake times, -1 until seen
    int64_t synack_ts
    int64_t ack_ts
    uint32_t names[3]        # server name, client fingerprint, user agent: ids from the caller, 0: none
    uint32_t dns_queries     # DNS queries seen in the flow
    int64_t prev             # the list in order of last packet (free list: next only)
    int64_t next
    Side side[3]


cdef Flow _probe_flow


def record_dtype():
    """The numpy structured dtype that mirrors the C Flow struct (offsets from the compiler)."""
    cdef Flow *f = &_probe_flow
    cdef Side *s = &_probe_flow.side[0]
    cdef char *fb = <char *>f
    cdef char *sb = <char *>s
    side = np.dtype({
        "names": ["packets", "bytes", "first_seen", "last_seen", "min_ps", "max_ps", "mean_ps",
                  "m2_ps", "min_piat", "max_piat", "mean_piat", "m2_piat", "flag_packets",
                  "retransmissions"],
        "formats": [np.uint64, np.uint64, np.int64, np.int64, np.uint64, np.uint64, np.float64,
                    np.float64, np.int64, np.int64, np.float64, np.float64,
                    (np.uint64, (N_FLAG_COUNTS,)), np.uint64],
        "offsets": [<char *>&s.packets - sb, <char *>&s.bytes - sb, <char *>&s.first_seen - sb,
                    <char *>&s.last_seen - sb, <char *>&s.min_ps - sb, <char *>&s.max_ps - sb,
                    <char *>&s.mean_ps - sb, <char *>&s.m2_ps - sb, <char *>&s.min_piat - sb,
                    <char *>&s.max_piat - sb, <char *>&s.mean_piat - sb, <char *>&s.m2_piat - sb,
                    <char *>&s.flag_packets[0] - sb, <char *>&s.retransmissions - sb],
        "itemsize": sizeof(Side),
    })
    return np.dtype({
        "names": ["flow_hash", "tag", "ip_src", "ip_dst", "sport", "dport", "ip_version",
                  "ip_proto", "expiration_id", "syn_ts", "synack_ts", "ack_ts", "names",
                  "dns_queries", "side"],
        "formats": [np.uint64, np.uint64, (np.uint8, (16,)), (np.uint8, (16,)), np.uint16,
                    np.uint16, np.uint8, np.uint8, np.int8, np.int64, np.int64, np.int64,
                    (np.uint32, (3,)), np.uint32, (side, (3,))],
        "offsets": [<char *>&f.flow_hash - fb, <char *>&f.tag - fb,
                    <char *>&f.ip_src[0] - fb, <char *>&f.ip_dst[0] - fb,
                    <char *>&f.sport - fb, <char *>&f.dport - fb, <char *>&f.ip_version - fb,
                    <char *>&f.ip_proto - fb, <char *>&f.expiration_id - fb,
                    <char *>&f.syn_ts - fb, <char *>&f.synack_ts - fb, <char *>&f.ack_ts - fb,
                    <char *>&f.names[0] - fb, <char *>&f.dns_queries - fb,
                    <char *>&f.side[0] - fb],
        "itemsize": sizeof(Flow),
    })


RECORD_DTYPE = record_dtype()


cdef inline uint64_t _mix(uint64_t x) noexcept nogil:
    # murmur3's 64-bit finaliser (as _decode's flow hash)
    x ^= x >> 33
    x *= 0xFF51AFD7ED558CCDULL
    x ^= x >> 33
    x *= 0xC4CEB9FE1A85EC53ULL
    x ^= x >> 33
    return x


cdef inline void _side_start(Side *s) noexcept nogil:
    memset(s, 0, sizeof(Side))
    s.first_seen = INT64_MIN
    s.last_seen = INT64_MIN


cdef inline void _side_add(Side *s, int64_t t, uint64_t size) noexcept nogil:
    # One packet into a side's counters: Welford's update for the means and
    # squared deviations of sizes and inter-arrival times.
    cdef uint64_t k = s.packets
    cdef int64_t piat
    cdef uint64_t udiff
    cdef double delta, x
    if k == 0:
        s.first_seen = t
        s.min_ps = size
        s.max_ps = size
        s.mean_ps = <double>size
    else:
        if size < s.min_ps:
            s.min_ps = size
        if size > s.max_ps:
            s.max_ps = size
        x = <double>size
        delta = x - s.mean_ps
        s.mean_ps += delta / <double>(k + 1)
        s.m2_ps += delta * (x - s.mean_ps)
        # t >= last_seen; the difference is taken unsigned and saturated, so that
        # even timestamps 2**63 apart cannot overflow
        udiff = <uint64_t>t - <uint64_t>s.last_seen
        piat = <int64_t>udiff if udiff <= <uint64_t>INT64_MAX else INT64_MAX
        if k == 1:
            s.min_piat = piat
            s.max_piat = piat
            s.mean_piat = <double>piat
        else:
            if piat < s.min_piat:
                s.min_piat = piat
            if piat > s.max_piat:
                s.max_piat = piat
            x = <double>piat
            delta = x - s.mean_piat
            s.mean_piat += delta / <double>k
            s.m2_piat += delta * (x - s.mean_piat)
    s.last_seen = t
    s.packets = k + 1
    s.bytes += size


cdef inline void _count_flags(Side *s, uint16_t tcp_flags) noexcept nogil:
    # Packets with each of the 8 flag bits, then with SYN and ACK both: only the
    # bits set are visited (an ACK is one).  A direction's counts only: the
    # bidirectional side's are their sums, made when the record is taken out.
    cdef unsigned int bits = tcp_flags & 0xFF
    while bits:
        s.flag_packets[__builtin_ctz(bits)] += 1
        bits &= bits - 1
    if (tcp_flags & 0x12) == 0x12:
        s.flag_packets[8] += 1


cdef inline bint _same16(const uint8_t *a, const uint8_t *b) noexcept nogil:
    # 16 bytes equal, as two 8-byte loads (memcmp was a call per comparison)
    cdef uint64_t a0, a1, b0, b1
    memcpy(&a0, a, 8)
    memcpy(&a1, a + 8, 8)
    memcpy(&b0, b, 8)
    memcpy(&b1, b + 8, 8)
    return ((a0 ^ b0) | (a1 ^ b1)) == 0


cdef inline void _tcp_sequence(Side *s, uint32_t seq, uint32_t payload_len,
                               uint16_t tcp_flags) noexcept nogil:
    # A segment whose sequence range ends at or before the highest end already
    # seen in this direction is a retransmission (or a reordered segment).
    cdef uint32_t length = payload_len + (tcp_flags & 0x01) + ((tcp_flags >> 1) & 0x01)
    cdef uint32_t end
    if length == 0 or (tcp_flags & 0x04):       # pure ACKs and resets carry no range
        return
    end = seq + length
    if s.has_seq and <int32_t>(end - s.seq_end) <= 0:
        s.retransmissions += 1
    else:
        s.seq_end = end
        s.has_seq = 1


cdef class Meter:
    """The compiled core of ringcap.FlowMeter; see ringcap/flowmeter.py."""
    cdef Flow *flows
    cdef Py_ssize_t capacity       # Flow entries allocated
    cdef Py_ssize_t used           # entries ever handed out (the rest of capacity is fresh)
    cdef int64_t free_head         # free list through Flow.next
    cdef int64_t lru_head, lru_tail
    cdef Py_ssize_t active
    cdef int64_t *slots            # open addressing: flow index or -1
    cdef Py_ssize_t nslots
    cdef Flow *out
    cdef Py_ssize_t out_count, out_capacity
    cdef readonly int64_t idle_timeout, active_timeout      # INT64_MAX: never
    cdef bint idle_expiry, active_expiry
    cdef readonly uint64_t key_mask     # the bits of a packet's tag that are part of the key
    cdef readonly int64_t clock     # latest packet time seen (ns), INT64_MIN before any
    cdef readonly uint64_t packets, skipped
    cdef readonly Py_ssize_t max_flows      # 0: no bound
    cdef readonly uint64_t evicted          # flows ended early to stay within max_flows
    cdef readonly bint broken

    def __cinit__(self, int64_t idle_timeout, int64_t active_timeout, uint64_t key_mask=0,
                  Py_ssize_t max_flows=0):
        if idle_timeout <= 0 or active_timeout <= 0:
            raise ValueError("timeouts must be positive numbers of nanoseconds")
        if max_flows < 0:
            raise ValueError("max_flows must be positive, or 0 for no bound")
        self.max_flows = max_flows
        self.key_mask = key_mask
        self.idle_timeout = idle_timeout
        self.active_timeout = active_timeout
        self.idle_expiry = idle_timeout != INT64_MAX
        self.active_expiry = active_timeout != INT64_MAX
        self.clock = INT64_MIN
        self.free_head = -1
        self.lru_head = -1
        self.lru_tail = -1
        self.capacity = 1024
        self.flows = <Flow *>malloc(self.capacity * sizeof(Flow))
        self.nslots = 2048
        self.slots = <int64_t *>malloc(self.nslots * sizeof(int64_t))
        self.out_capacity = 256
        self.out = <Flow *>malloc(self.out_capacity * sizeof(Flow))
        if self.flows == NULL or self.slots == NULL or self.out == NULL:
            raise MemoryError("no memory for a flow meter")
        memset(self.slots, 0xff, self.nslots * sizeof(int64_t))

    def __dealloc__(self):
        free(self.flows)
        free(self.slots)
        free(self.out)

    @property
    def active_flows(self):
        return self.active

    @property
    def pending_records(self):
        return self.out_count

    # ------------------------------------------------------------ table
    cdef inline Py_ssize_t _home(self, uint64_t hash) noexcept nogil:
        return <Py_ssize_t>(hash & <uint64_t>(self.nslots - 1))

    cdef bint _grow_slots(self) noexcept nogil:
        cdef Py_ssize_t size = 2 * self.nslots, k, slot
        cdef int64_t *bigger = <int64_t *>malloc(size * sizeof(int64_t))
        cdef int64_t f
        if bigger == NULL:
            return False
        memset(bigger, 0xff, size * sizeof(int64_t))
        for k in range(self.nslots):
            f = self.slots[k]
            if f >= 0:
                slot = <Py_ssize_t>(self.flows[f].hash & <uint64_t>(size - 1))
                while bigger[slot] >= 0:
                    slot = (slot + 1) & (size - 1)
                bigger[slot] = f
        free(self.slots)
        self.slots = bigger
        self.nslots = size
        return True

    cdef void _unlink_slot(self, int64_t f) noexcept nogil:
        # Backward-shift deletion keeps linear probing free of tombstones.
        cdef Py_ssize_t mask = self.nslots - 1
        cdef Py_ssize_t i = self._home(self.flows[f].hash), j, k
        while self.slots[i] != f:
            i = (i + 1) & mask
        j = i
        while True:
            j = (j + 1) & mask
            if self.slots[j] < 0:
                break
            k = self._home(self.flows[self.slots[j]].hash)
            if (i <= j and i < k <= j) or (i > j and (k > i or k <= j)):
                continue
            self.slots[i] = self.slots[j]
            i = j
        self.slots[i] = -1

    cdef int64_t _new_flow(self) noexcept nogil:
        # An unused Flow entry (-1 when out of memory).
        cdef int64_t f
        cdef Flow *bigger
        if self.free_head >= 0:
            f = self.free_head
            self.free_head = self.flows[f].next
            return f
        if self.used == self.capacity:
            bigger = <Flow *>realloc(self.flows, 2 * self.capacity * sizeof(Flow))
            if bigger == NULL:
                return -1
            self.flows = bigger
            self.capacity *= 2
        f = self.used
        self.used += 1
        return f

    # ------------------------------------------------------------ order of last packet
    cdef inline void _lru_remove(self, int64_t f) noexcept nogil:
        cdef Flow *flow = &self.flows[f]
        if flow.prev >= 0:
            self.flows[flow.prev].next = flow.next
        else:
            self.lru_head = flow.next
        if flow.next >= 0:
            self.flows[flow.next].prev = flow.prev
        else:
            self.lru_tail = flow.prev

    cdef inline void _lru_append(self, int64_t f) noexcept nogil:
        cdef Flow *flow = &self.flows[f]
        flow.prev = self.lru_tail
        flow.next = -1
        if self.lru_tail >= 0:
            self.flows[self.lru_tail].next = f
        else:
            self.lru_head = f
        self.lru_tail = f

    # ------------------------------------------------------------ expiry
    cdef bint _expire(self, int64_t f, int8_t reason) noexcept nogil:
        # Move flow f to the output buffer and free its entry; False when out of memory.
        cdef Flow *bigger
        cdef Flow *record
        cdef int b
        if self.out_count == self.out_capacity:
            bigger = <Flow *>realloc(self.out, 2 * self.out_capacity * sizeof(Flow))
            if bigger == NULL:
                return False
            self.out = bigger
            self.out_capacity *= 2
        self.flows[f].expiration_id = reason
        record = &self.out[self.out_count]
        memcpy(record, &self.flows[f], sizeof(Flow))
        for b in range(N_FLAG_COUNTS):
            record.side[SIDE_BIDIRECTIONAL].flag_packets[b] = \
                record.side[SIDE_SRC2DST].flag_packets[b] + record.side[SIDE_DST2SRC].flag_packets[b]
        self.out_count += 1
        self._unlink_slot(f)
        self._lru_remove(f)
        self.flows[f].next = self.free_head
        self.free_head = f
        self.active -= 1
        return True

    cdef bint _expire_idle(self, int64_t now) noexcept nogil:
        # now - last_seen >= idle_timeout; now >= last_seen (the clock only moves
        # forward), so the unsigned difference is exact and cannot overflow
        if not self.idle_expiry:
            return True
        while self.lru_head >= 0 and <uint64_t>now - <uint64_t>self.flows[self.lru_head] \
                .side[SIDE_BIDIRECTIONAL].last_seen >= <uint64_t>self.idle_timeout:
            if not self._expire(self.lru_head, EXPIRED_IDLE):
                return False
        return True

    # ------------------------------------------------------------ packets
    cdef Py_ssize_t _update(self, Py_ssize_t n, const uint8_t *ip_version, const uint8_t *ip_src,
                            const uint8_t *ip_dst, const uint16_t *sport, const uint16_t *dport,
                            const uint8_t *ip_proto, const uint16_t *tcp_flags,
                            const uint32_t *tcp_seq, const uint32_t *payload_len,
                            const int64_t *ts, const uint32_t *wirelen,
                            const uint64_t *hashes, const uint8_t *tunnel_type,
                            const uint32_t *tunnel_id, const uint16_t *vlan_outer,
                            const uint16_t *vlan_inner, Py_ssize_t named,
                            const int64_t *name_rows, const uint32_t *names) noexcept nogil:
        # tunnel_type ... vlan_inner: each NULL (zero) or per packet, the parts of
        # its tag (see ringcap/flowmeter.py).  name_rows: the `named` packets,
        # in increasing order, that carry a name: names holds 4 values for each,
        # ids of the server name, client fingerprint and user agent (0: none; a
        # flow keeps the first of each) and 1 if it is a DNS query.
        # Returns the number of packets taken (n unless memory ran out).
        cdef Py_ssize_t i, slot, mask, next_named = 0
        cdef int64_t f, t
        cdef uint64_t hash, keyed, tag
        cdef int d, k
        cdef uint16_t flags
        cdef Flow *flow
        cdef Side *sides
        cdef const uint8_t *src
        cdef const uint8_t *dst
        cdef const uint32_t *values
        for i in range(n):
            if ip_version[i] == 0:
                self.skipped += 1
                continue
            t = ts[i]
            if t < self.clock:          # time never runs backwards (as in nfstream)
                t = self.clock
            self.clock = t
            if self.idle_expiry and self.lru_head >= 0 \
                    and <uint64_t>t - <uint64_t>self.flows[self.lru_head] \
                    .side[SIDE_BIDIRECTIONAL].last_seen >= <uint64_t>self.idle_timeout:
                if not self._expire_idle(t):
                    return i
            tag = 0
            if tunnel_type != NULL:
                tag |= <uint64_t>tunnel_type[i] << 56
            if tunnel_id != NULL:
                tag |= <uint64_t>tunnel_id[i] << 24
            if vlan_outer != NULL:
                tag |= <uint64_t>(vlan_outer[i] & 0xFFF) << 12
            if vlan_inner != NULL:
                tag |= <uint64_t>(vlan_inner[i] & 0xFFF)
            keyed = tag & self.key_mask
            hash = hashes[i]
            if keyed:
                hash ^= _mix(keyed + 0x9E3779B97F4A7C15ULL)
            src = ip_src + 16 * i
            dst = ip_dst + 16 * i
            mask = self.nslots - 1
            slot = self._home(hash)
            d = -1
            while True:
                f = self.slots[slot]
                if f < 0:
                    break
                flow = &self.flows[f]
                if flow.hash == hash and flow.ip_proto == ip_proto[i] \
                        and flow.ip_version == ip_version[i] \
                        and (flow.tag & self.key_mask) == keyed:
                    if flow.sport == sport[i] and flow.dport == dport[i] \
                            and _same16(flow.ip_src, src) and _same16(flow.ip_dst, dst):
                        d = SIDE_SRC2DST
                        break
                    if flow.sport == dport[i] and flow.dport == sport[i] \
                            and _same16(flow.ip_src, dst) and _same16(flow.ip_dst, src):
                        d = SIDE_DST2SRC
                        break
                slot = (slot + 1) & mask
            if f >= 0 and self.active_expiry and <uint64_t>t - <uint64_t>self.flows[f].side[SIDE_BIDIRECTIONAL] \
                    .first_seen >= <uint64_t>self.active_timeout:      # t >= first_seen
                if not self._expire(f, EXPIRED_ACTIVE):
                    return i
                f = -1
            if f < 0:
                if self.max_flows and self.active >= self.max_flows:
                    if not self._expire(self.lru_head, EXPIRED_EVICTED):
                        return i
                    self.evicted += 1
                if 2 * (self.active + 1) > self.nslots and not self._grow_slots():
                    return i
                f = self._new_flow()
                if f < 0:
                    return i
                mask = self.nslots - 1
                slot = self._home(hash)
                while self.slots[slot] >= 0:
                    slot = (slot + 1) & mask
                self.slots[slot] = f
                flow = &self.flows[f]
                flow.hash = hash
                flow.flow_hash = hashes[i]
                flow.tag = tag
                memcpy(flow.ip_src, src, 16)
                memcpy(flow.ip_dst, dst, 16)
                flow.sport = sport[i]
                flow.dport = dport[i]
                flow.ip_version = ip_version[i]
                flow.ip_proto = ip_proto[i]
                flow.syn_side = -1
                flow.expiration_id = -1
                flow.syn_ts = -1
                flow.synack_ts = -1
                flow.ack_ts = -1
                flow.names[0] = flow.names[1] = flow.names[2] = 0
                flow.dns_queries = 0
                _side_start(&flow.side[0])
                _side_start(&flow.side[1])
                _side_start(&flow.side[2])
                self._lru_append(f)
                self.active += 1
                d = SIDE_SRC2DST
            else:
                flow = &self.flows[f]
                if self.lru_tail != f:
                    self._lru_remove(f)
                    self._lru_append(f)
            if next_named < named:
                while next_named < named and name_rows[next_named] < i:
                    next_named += 1           # (a non-IP packet's: no flow takes it)
                if next_named < named and name_rows[next_named] == i:
                    values = names + 4 * next_named
                    for k in range(3):
                        if flow.names[k] == 0:
                            flow.names[k] = values[k]
                    flow.dns_queries += values[3]
                    next_named += 1
            flags = tcp_flags[i]
            sides = flow.side
            _side_add(&sides[d], t, wirelen[i])
            _side_add(&sides[SIDE_BIDIRECTIONAL], t, wirelen[i])
            if flags:
                _count_flags(&sides[d], flags)
            if flow.ip_proto == 6:
                _tcp_sequence(&sides[d], tcp_seq[i], payload_len[i], flags)
                if (flags & 0x12) == 0x02:
                    if flow.syn_side < 0:
                        flow.syn_side = d
                        flow.syn_ts = t
                elif (flags & 0x12) == 0x12:
                    if flow.syn_side >= 0 and d != flow.syn_side and flow.synack_ts < 0:
                        flow.synack_ts = t
                elif flags & 0x10 and not flags & 0x04:
                    if flow.synack_ts >= 0 and d == flow.syn_side and flow.ack_ts < 0:
                        flow.ack_ts = t
            self.packets += 1
        return n

    def update(self, const uint8_t[::1] ip_version, const uint8_t[:, ::1] ip_src,
               const uint8_t[:, ::1] ip_dst, const uint16_t[::1] sport,
               const uint16_t[::1] dport, const uint8_t[::1] ip_proto,
               const uint16_t[::1] tcp_flags, const uint32_t[::1] tcp_seq,
               const uint32_t[::1] payload_len, const int64_t[::1] ts,
               const uint32_t[::1] wirelen, const uint64_t[::1] hashes,
               const uint8_t[::1] tunnel_type=None, const uint32_t[::1] tunnel_id=None,
               const uint16_t[::1] vlan_outer=None, const uint16_t[::1] vlan_inner=None,
               const int64_t[::1] name_rows=None, const uint32_t[:, ::1] names=None):
        """Fold packets into the open flows, expiring flows on the way (IN: columns, all n long;
        ``tunnel_type``, ``tunnel_id``, ``vlan_outer``, ``vlan_inner``: None (zero) or the parts
        of each packet's tag, of which ``key_mask``'s bits are part of the flow key;
        ``name_rows``: None, or the packets that carry a name, in increasing order, and
        ``names`` (len(name_rows), 4): their server name, fingerprint and user agent ids
        (0: none) and DNS query 0/1)."""
        cdef Py_ssize_t n = ip_version.shape[0], done, named = 0, k
        cdef const int64_t *rows_p = NULL
        cdef const uint32_t *names_p = NULL
        cdef const uint8_t *tunnel_type_p = NULL
        cdef const uint32_t *tunnel_id_p = NULL
        cdef const uint16_t *vlan_outer_p = NULL
        cdef const uint16_t *vlan_inner_p = NULL
        if self.broken:
            raise RuntimeError("this flow meter ran out of memory earlier; start a new one")
        if ip_src.shape[0] != n or ip_dst.shape[0] != n or ip_src.shape[1] != 16 \
                or ip_dst.shape[1] != 16:
            raise ValueError(f"ip_src and ip_dst must have shape ({n}, 16)")
        for name, length in (("sport", sport.shape[0]), ("dport", dport.shape[0]),
                             ("ip_proto", ip_proto.shape[0]), ("tcp_flags", tcp_flags.shape[0]),
                             ("tcp_seq", tcp_seq.shape[0]), ("payload_len", payload_len.shape[0]),
                             ("ts", ts.shape[0]), ("wirelen", wirelen.shape[0]),
                             ("hashes", hashes.shape[0]),
                             ("tunnel_type", n if tunnel_type is None else tunnel_type.shape[0]),
                             ("tunnel_id", n if tunnel_id is None else tunnel_id.shape[0]),
                             ("vlan_outer", n if vlan_outer is None else vlan_outer.shape[0]),
                             ("vlan_inner", n if vlan_inner is None else vlan_inner.shape[0])):
            if length != n:
                raise ValueError(f"{name} has {length} entries, expected {n}")
        if (name_rows is None) != (names is None):
            raise ValueError("name_rows and names go together")
        if name_rows is not None:
            named = name_rows.shape[0]
            if names.shape[0] != named or names.shape[1] != 4:
                raise ValueError(f"names must have shape ({named}, 4)")
            for k in range(named):
                if name_rows[k] < 0 or name_rows[k] >= n or (k and name_rows[k] <= name_rows[k - 1]):
                    raise ValueError("name_rows must be increasing packet indices below "
                                     f"{n}; entry {k} is {name_rows[k]}")
            if named:
                rows_p = &name_rows[0]
                names_p = &names[0, 0]
        if n == 0:
            return
        if tunnel_type is not None:
            tunnel_type_p = &tunnel_type[0]
        if tunnel_id is not None:
            tunnel_id_p = &tunnel_id[0]
        if vlan_outer is not None:
            vlan_outer_p = &vlan_outer[0]
        if vlan_inner is not None:
            vlan_inner_p = &vlan_inner[0]
        with nogil:
            done = self._update(n, &ip_version[0], &ip_src[0, 0], &ip_dst[0, 0], &sport[0],
                                &dport[0], &ip_proto[0], &tcp_flags[0], &tcp_seq[0],
                                &payload_len[0], &ts[0], &wirelen[0], &hashes[0],
                                tunnel_type_p, tunnel_id_p, vlan_outer_p, vlan_inner_p,
                                named, rows_p, names_p)
        if done < n:
            self.broken = True
            raise MemoryError(f"no memory for {self.active} open flows; packets from {done} "
                              f"of this batch were not counted")

    def expire_idle(self, int64_t now):
        """Expire the flows idle at time ``now`` (ns); the clock moves to ``now`` if later."""
        cdef bint ok
        if self.broken:
            raise RuntimeError("this flow meter ran out of memory earlier; start a new one")
        if now > self.clock:
            self.clock = now
        with nogil:
            ok = self._expire_idle(self.clock)
        if not ok:
            self.broken = True
            raise MemoryError("no memory for the expired flow records")

    def expire_all(self, Py_ssize_t limit=-1):
        """Expire every open flow (reason: end), oldest last packet first; at most
        ``limit`` of them when it is not negative.  Returns how many were expired."""
        cdef bint ok = True
        cdef Py_ssize_t done = 0
        with nogil:
            while self.lru_head >= 0 and ok and done != limit:
                ok = self._expire(self.lru_head, EXPIRED_END)
                done += ok
        if not ok:
            self.broken = True
            raise MemoryError("no memory for the expired flow records")
        return done

    def names_in_use(self, uint8_t[::1] used):
        """Set ``used[id]`` for every name id an open flow or a record not yet
        taken holds (ids past ``used`` are left alone)."""
        cdef Py_ssize_t size = used.shape[0], k
        cdef int64_t f = self.lru_head
        cdef uint32_t name
        cdef int b
        if size == 0:
            return
        with nogil:
            while f >= 0:
                for b in range(3):
                    name = self.flows[f].names[b]
                    if name < <uint64_t>size:
                        used[name] = 1
                f = self.flows[f].next
            for k in range(self.out_count):
                for b in range(3):
                    name = self.out[k].names[b]
                    if name < <uint64_t>size:
                        used[name] = 1

    def renumber_names(self, const uint32_t[::1] new_ids):
        """Replace every name id an open flow or a record not yet taken holds by
        ``new_ids[id]`` (the caller's vocabulary was compacted); every id held
        must be below ``len(new_ids)``."""
        cdef Py_ssize_t size = new_ids.shape[0], k
        cdef int64_t f = self.lru_head
        cdef uint32_t name
        cdef int b
        cdef bint ok = True
        with nogil:       # check first: a refused call changes nothing
            while f >= 0 and ok:
                for b in range(3):
                    ok = ok and self.flows[f].names[b] < <uint64_t>size
                f = self.flows[f].next
            for k in range(self.out_count):
                for b in range(3):
                    ok = ok and self.out[k].names[b] < <uint64_t>size
        if not ok:
            raise ValueError(f"a flow holds a name id past the {size} new ids given")
        f = self.lru_head
        with nogil:
            while f >= 0:
                for b in range(3):
                    self.flows[f].names[b] = new_ids[self.flows[f].names[b]]
                f = self.flows[f].next
            for k in range(self.out_count):
                for b in range(3):
                    self.out[k].names[b] = new_ids[self.out[k].names[b]]

    def take_records(self):
        """The expired flows since the last call, as a structured array of RECORD_DTYPE."""
        cdef cnp.ndarray records = np.empty(self.out_count, dtype=RECORD_DTYPE)
        if self.out_count:
            memcpy(cnp.PyArray_DATA(records), self.out, self.out_count * sizeof(Flow))
        self.out_count = 0
        if self.out_capacity > 4096:        # give back what a burst of expiries took
            free(self.out)
            self.out_capacity = 256
            self.out = <Flow *>malloc(self.out_capacity * sizeof(Flow))
            if self.out == NULL:
                self.broken = True
                raise MemoryError("no memory for a flow record buffer")
        return records
