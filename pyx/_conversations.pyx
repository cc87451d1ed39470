# The compiled cores of ringcap.report: IP conversations (tshark -z conv,ip)
# and the per-packet counters (capinfos's summary, the protocol hierarchy's
# keys, Wireshark's packet-length buckets, packets per rate interval), folded
# packet by packet with no allocation per batch.
#
# Conversations:
# One entry per unordered address pair, found through an open-addressing table
# keyed by a hash of the 32 address bytes.  Entries sit in a C array in the
# order their conversations first appeared, so the table needs no sort to keep
# that order.  Memory is the conversations seen (an entry and two slots each);
# nothing is kept per packet.  ringcap/reportcore.py ranks and names them
# (ranked, endpoint_rows: lists, no numpy, which `ringcap stats FILE` does
# not import); columns, totals and endpoints give numpy columns.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t, INT32_MAX, INT64_MIN
from libc.string cimport memcpy, memset
from libc.stdlib cimport malloc, realloc, free, qsort
from array import array

cdef struct Conversation:
    uint8_t low[16]          # the smaller address, compared as bytes
    uint8_t high[16]
    uint64_t hash
    int64_t packets[2]       # [0]: low -> high, [1]: high -> low
    int64_t bytes[2]
    int64_t first_ts
    int64_t last_ts
    uint8_t version
    uint8_t a_high           # the first packet's source is the high address


cdef extern from *:
    uint64_t __builtin_bswap64(uint64_t x) noexcept nogil


cdef inline void _count(Conversation *c, int swap, int64_t ts, uint32_t wirelen) noexcept nogil:
    # one packet of the conversation, from its low address (swap 0) or its high one
    c.packets[swap] += 1
    c.bytes[swap] += wirelen
    if ts < c.first_ts:
        c.first_ts = ts
    if ts > c.last_ts:
        c.last_ts = ts


cdef struct Endpoint:
    uint64_t hash
    uint64_t address[2]      # the 16 address bytes as they are
    int64_t sums[4]          # packets and bytes sent, packets and bytes received
    uint8_t version


cdef inline uint64_t _word(const uint8_t *p) noexcept nogil:
    # 8 address bytes as they lie, in one load
    cdef uint64_t w
    memcpy(&w, p, 8)
    return w


cdef inline bint _above(uint64_t x0, uint64_t x1, uint64_t y0, uint64_t y1) noexcept nogil:
    # memcmp(x, y, 16) > 0 for the 16 bytes x0 x1 and y0 y1 as they lie in memory
    if x0 != y0:
        return __builtin_bswap64(x0) > __builtin_bswap64(y0)
    return __builtin_bswap64(x1) > __builtin_bswap64(y1)


cdef inline bint _holds(const Conversation *c, uint64_t l0, uint64_t l1, uint64_t h0,
                        uint64_t h1) noexcept nogil:
    # c.low == l0 l1 and c.high == h0 h1
    return ((_word(c.low) ^ l0) | (_word(c.low + 8) ^ l1) | (_word(c.high) ^ h0)
            | (_word(c.high + 8) ^ h1)) == 0


cdef inline uint64_t _mix(uint64_t h, uint64_t w) noexcept nogil:
    h ^= w * <uint64_t>0x9E3779B97F4A7C15
    h ^= h >> 29
    h *= <uint64_t>0xBF58476D1CE4E5B9
    return h ^ (h >> 32)


cdef inline uint64_t _hash(uint64_t l0, uint64_t l1, uint64_t h0, uint64_t h1) noexcept nogil:
    # the low address's 16 bytes, then the high one's, as words: a multiply per
    # word, summed, then one mixing round (the four rounds of _mix this
    # replaced were 26 of the conversation table's 129 instructions a packet,
    # callgrind, 7 Dec 2026); equal hashes only make probes longer
    return _mix(<uint64_t>0x243F6A8885A308D3,
                l0 * <uint64_t>0xD6E8FEB86659FD93 + l1 * <uint64_t>0xA0761D6478BD642F
                + h0 * <uint64_t>0xE7037ED1A0B428DB + h1 * <uint64_t>0x8EBC6AF09C88C6E3) \
        & _hash_mask


cdef uint64_t _hash_mask = ~(<uint64_t>0)    # tests: 0 makes every pair's hash collide


def _test_set_hash_mask(uint64_t mask):
    """Tests only: AND every conversation hash with ``mask`` (0: all collide)."""
    global _hash_mask
    _hash_mask = mask


cdef struct Rank:
    int64_t total                # bytes, both directions
    int64_t first_ts
    Py_ssize_t row               # entry: the order seen


cdef int _rank_order(const void *x, const void *y) noexcept nogil:
    # most bytes first, then the earlier first packet, then the one seen first
    cdef const Rank *a = <const Rank *>x
    cdef const Rank *b = <const Rank *>y
    if a.total != b.total:
        return -1 if a.total > b.total else 1
    if a.first_ts != b.first_ts:
        return -1 if a.first_ts < b.first_ts else 1
    return -1 if a.row < b.row else (1 if a.row > b.row else 0)


cdef int64_t _kth_largest(int64_t *v, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    # The k-th largest of v[0..n) (1 <= k <= n), v reordered: quickselect
    # (what np.partition does), so that only the rows that can make a top k
    # are sorted
    cdef Py_ssize_t lo = 0, hi = n - 1, i, j, want = k - 1
    cdef int64_t pivot, t
    while lo < hi:
        pivot = v[lo + (hi - lo) // 2]
        i, j = lo, hi
        while i <= j:
            while v[i] > pivot:
                i += 1
            while v[j] < pivot:
                j -= 1
            if i <= j:
                t = v[i]
                v[i] = v[j]
                v[j] = t
                i += 1
                j -= 1
        if want <= j:
            hi = j
        elif want >= i:
            lo = i
        else:
            break
    return v[want]


cdef class ConversationTable:
    """The compiled core of ringcap.report's conversation table."""
    cdef Conversation *entries
    cdef Py_ssize_t count, capacity
    cdef Py_ssize_t *slots          # open addressing: entry index or -1
    cdef Py_ssize_t nslots
    cdef uint64_t last_pair[4]      # the last packet's source and destination bytes,
    cdef Py_ssize_t last_entry      # its entry (-1: none yet)
    cdef int last_swap              # and whether its source was the high address

    def __cinit__(self):
        self.capacity = 1024
        self.nslots = 2048
        self.entries = <Conversation *>malloc(self.capacity * sizeof(Conversation))
        self.slots = <Py_ssize_t *>malloc(self.nslots * sizeof(Py_ssize_t))
        if self.entries == NULL or self.slots == NULL:
            raise MemoryError("no memory for a conversation table")
        memset(self.slots, 0xff, self.nslots * sizeof(Py_ssize_t))
        self.last_entry = -1

    def __dealloc__(self):
        free(self.entries)
        free(self.slots)

    def __len__(self):
        return self.count

    cdef bint _grow(self) noexcept nogil:
        # entries and slots double together: the load factor stays at most 1/2
        cdef Py_ssize_t size = 2 * self.nslots, k, slot
        cdef Conversation *more = <Conversation *>realloc(
            self.entries, 2 * self.capacity * sizeof(Conversation))
        if more == NULL:
            return False
        self.entries = more
        self.capacity *= 2
        cdef Py_ssize_t *bigger = <Py_ssize_t *>malloc(size * sizeof(Py_ssize_t))
        if bigger == NULL:
            return False
        memset(bigger, 0xff, size * sizeof(Py_ssize_t))
        for k in range(self.count):
            slot = <Py_ssize_t>(self.entries[k].hash & <uint64_t>(size - 1))
            while bigger[slot] >= 0:
                slot = (slot + 1) & (size - 1)
            bigger[slot] = k
        free(self.slots)
        self.slots = bigger
        self.nslots = size
        return True

    cdef Py_ssize_t _insert(self, Py_ssize_t slot, uint64_t h, const uint8_t *low,
                            const uint8_t *high, int64_t ts, uint8_t version,
                            int swap) noexcept nogil:
        # A new conversation in the free slot its probe ended at; its entry, or -1
        # when no memory is left to grow the table
        cdef Conversation *c
        cdef Py_ssize_t e
        if self.count == self.capacity:
            if not self._grow():
                return -1
            slot = <Py_ssize_t>(h & <uint64_t>(self.nslots - 1))
            while self.slots[slot] >= 0:
                slot = (slot + 1) & (self.nslots - 1)
        e = self.count
        self.count += 1
        self.slots[slot] = e
        c = &self.entries[e]
        memcpy(c.low, low, 16)
        memcpy(c.high, high, 16)
        c.hash = h
        c.packets[0] = c.packets[1] = 0
        c.bytes[0] = c.bytes[1] = 0
        c.first_ts = c.last_ts = ts
        c.version = version
        c.a_high = swap
        return e

    def add(self, const uint8_t[:, ::1] ip_src not None, const uint8_t[:, ::1] ip_dst not None,
            const uint8_t[::1] ip_version not None, const int64_t[::1] ts not None,
            const uint32_t[::1] wirelen not None):
        """Fold the packets whose ip_version is not 0 (the header columns of a
        decoded batch, its timestamps and wire lengths)."""
        cdef Py_ssize_t n = ip_version.shape[0], i, slot, e
        if not (ip_src.shape[0] == ip_dst.shape[0] == ts.shape[0] == wirelen.shape[0] == n) \
                or ip_src.shape[1] != 16 or ip_dst.shape[1] != 16:
            raise ValueError("columns of different lengths, or addresses not 16 bytes wide")
        cdef const uint8_t *src
        cdef const uint8_t *dst
        cdef uint64_t h, s0, s1, d0, d1, l0, l1, h0, h1
        cdef int swap
        cdef Conversation *c
        cdef bint failed = False
        # (in locals: stores through the entries could alias self's fields; the
        # addresses as words in registers: copied to the stack as two 16-byte
        # arrays, with memcmp's order and the hash read back from there, the
        # table took 132 instructions a packet on uniform frames, callgrind)
        cdef Conversation *entries = self.entries
        cdef Py_ssize_t *slots = self.slots
        cdef Py_ssize_t mask = self.nslots - 1, last_entry = self.last_entry
        cdef int last_swap = self.last_swap
        cdef uint64_t last0 = self.last_pair[0], last1 = self.last_pair[1]
        cdef uint64_t last2 = self.last_pair[2], last3 = self.last_pair[3]
        with nogil:
            for i in range(n):
                if ip_version[i] == 0:
                    continue
                src = &ip_src[i, 0]
                dst = &ip_dst[i, 0]
                s0, s1, d0, d1 = _word(src), _word(src + 8), _word(dst), _word(dst + 8)
                # the pair of the packet before, in the same direction (a
                # conversation's packets come in runs: 34% of IMIX's, 99.8% of the
                # recorded mix's) keeps its entry: no ordering, hashing or probing
                if last_entry < 0 or ((s0 ^ last0) | (s1 ^ last1)
                                      | (d0 ^ last2) | (d1 ^ last3)) != 0:
                    swap = _above(s0, s1, d0, d1)
                    if swap:
                        l0, l1, h0, h1 = d0, d1, s0, s1
                    else:
                        l0, l1, h0, h1 = s0, s1, d0, d1
                    h = _hash(l0, l1, h0, h1)
                    slot = <Py_ssize_t>(h & <uint64_t>mask)
                    while True:
                        e = slots[slot]
                        if e < 0:
                            break
                        c = &entries[e]
                        if c.hash == h and _holds(c, l0, l1, h0, h1):
                            break
                        slot = (slot + 1) & mask
                    if e < 0:
                        e = self._insert(slot, h, dst if swap else src, src if swap else dst,
                                         ts[i], ip_version[i], swap)
                        if e < 0:
                            failed = True
                            break
                        entries, slots, mask = self.entries, self.slots, self.nslots - 1
                    last0, last1, last2, last3 = s0, s1, d0, d1
                    last_entry, last_swap = e, swap
                _count(&entries[last_entry], last_swap, ts[i], wirelen[i])
        self.last_pair[0], self.last_pair[1] = last0, last1
        self.last_pair[2], self.last_pair[3] = last2, last3
        self.last_entry, self.last_swap = last_entry, last_swap
        if failed:
            raise MemoryError("no memory for more conversations")

    def ranked(self, Py_ssize_t limit=-1):
        """The conversations, most bytes first (ties: the earlier first packet,
        then the one seen first), the first ``limit`` (-1: all): a list of
        (A, B, version, packets A->B, bytes A->B, packets B->A, bytes B->A,
        first_ts, last_ts), A and B 16 address bytes, A the source of the
        conversation's first packet."""
        cdef Py_ssize_t n = self.count, m = 0, i
        cdef Rank *ranks = <Rank *>malloc((n + 1) * sizeof(Rank))
        cdef int64_t *totals = <int64_t *>malloc((n + 1) * sizeof(int64_t))
        cdef int64_t cut = INT64_MIN, total
        cdef Conversation *c
        cdef int forward
        if ranks == NULL or totals == NULL:
            free(ranks)
            free(totals)
            raise MemoryError("no memory to rank the conversations")
        if limit < 0 or limit > n:
            limit = n
        with nogil:
            if 0 < limit < n:       # only those with as many bytes as the limit-th, or more
                for i in range(n):
                    totals[i] = self.entries[i].bytes[0] + self.entries[i].bytes[1]
                cut = _kth_largest(totals, n, limit)
            for i in range(n if limit else 0):
                total = self.entries[i].bytes[0] + self.entries[i].bytes[1]
                if total >= cut:
                    ranks[m].total = total
                    ranks[m].first_ts = self.entries[i].first_ts
                    ranks[m].row = i
                    m += 1
            qsort(ranks, m, sizeof(Rank), _rank_order)
        free(totals)
        out = []
        try:
            for i in range(limit):
                c = &self.entries[ranks[i].row]
                forward = c.a_high           # packets[forward]: A -> B
                low, high = c.low[:16], c.high[:16]
                out.append((high if forward else low, low if forward else high, c.version,
                            c.packets[forward], c.bytes[forward], c.packets[1 - forward],
                            c.bytes[1 - forward], c.first_ts, c.last_ts))
        finally:
            free(ranks)
        return out

    def totals(self):
        """Bytes of each conversation, both directions, in the order they first
        appeared (int64)."""
        import numpy as np
        cdef Py_ssize_t i
        out = np.empty(self.count, np.int64)
        cdef int64_t[::1] total = out
        with nogil:
            for i in range(self.count):
                total[i] = self.entries[i].bytes[0] + self.entries[i].bytes[1]
        return out

    def columns(self, const Py_ssize_t[::1] rows=None):
        """The conversations in the order they first appeared (or those of
        ``rows``, entry numbers in that order, in the order given), as numpy
        columns: low and high (n, 16) uint8, version, a_high (bool), packets
        and bytes (n, 2) int64 (low -> high, high -> low), first_ts, last_ts."""
        import numpy as np
        cdef bint every = rows is None
        cdef Py_ssize_t n = self.count if every else rows.shape[0], i
        if not every:
            for i in range(n):
                if not 0 <= rows[i] < self.count:
                    raise IndexError(f"no conversation {rows[i]}: the table holds {self.count}")
        low = np.empty((n, 16), np.uint8)
        high = np.empty((n, 16), np.uint8)
        version = np.empty(n, np.uint8)
        a_high = np.empty(n, np.bool_)
        packets = np.empty((n, 2), np.int64)
        nbytes = np.empty((n, 2), np.int64)
        first_ts = np.empty(n, np.int64)
        last_ts = np.empty(n, np.int64)
        cdef uint8_t[:, ::1] lo = low, hi = high
        cdef uint8_t[::1] ver = version
        cdef uint8_t[::1] ah = a_high.view(np.uint8)
        cdef int64_t[:, ::1] pk = packets, by = nbytes
        cdef int64_t[::1] ft = first_ts, lt = last_ts
        cdef Conversation *c
        with nogil:
            for i in range(n):
                c = &self.entries[i if every else rows[i]]
                memcpy(&lo[i, 0], c.low, 16)
                memcpy(&hi[i, 0], c.high, 16)
                ver[i] = c.version
                ah[i] = c.a_high
                pk[i, 0] = c.packets[0]
                pk[i, 1] = c.packets[1]
                by[i, 0] = c.bytes[0]
                by[i, 1] = c.bytes[1]
                ft[i] = c.first_ts
                lt[i] = c.last_ts
        return {"low": low, "high": high, "version": version, "a_high": a_high,
                "packets": packets, "bytes": nbytes, "first_ts": first_ts, "last_ts": last_ts}

    def endpoints(self):
        """The addresses of the conversations, each once (tshark -z endpoints,ip),
        in the order first met going through every conversation's low address,
        then every high one: address (m, 16) uint8, version (that of the first
        conversation met with it), packets and bytes sent (tx_*) and received
        (rx_*), int64.  One hash table over the addresses, no sort."""
        import numpy as np
        cdef Py_ssize_t m, i, k
        cdef Endpoint *ends = self._endpoint_sums(&m)
        address = np.empty((m, 16), np.uint8)
        version = np.empty(m, np.uint8)
        sums = np.empty((4, m), np.int64)       # tx packets, tx bytes, rx packets, rx bytes
        cdef uint8_t[:, ::1] addr = address
        cdef uint8_t[::1] ver = version
        cdef int64_t[:, ::1] out = sums
        with nogil:
            for i in range(m):
                memcpy(&addr[i, 0], ends[i].address, 16)
                ver[i] = ends[i].version
                for k in range(4):
                    out[k, i] = ends[i].sums[k]
        free(ends)
        return {"address": address, "version": version, "tx_packets": sums[0],
                "tx_bytes": sums[1], "rx_packets": sums[2], "rx_bytes": sums[3]}

    def endpoint_rows(self, Py_ssize_t limit=-1):
        """What :meth:`endpoints` gives, as a list of (address (16 bytes),
        version, tx packets, tx bytes, rx packets, rx bytes), without numpy;
        with ``limit`` >= 0, only the endpoints that can be among the
        ``limit`` with the most bytes (those with as many as the limit-th or
        more), in the same order."""
        cdef Py_ssize_t m, i
        cdef Endpoint *ends = self._endpoint_sums(&m)
        cdef Endpoint *d
        cdef int64_t *totals = NULL
        cdef int64_t cut = INT64_MIN
        try:
            if 0 <= limit < m:
                if limit == 0:
                    return []
                totals = <int64_t *>malloc(m * sizeof(int64_t))
                if totals == NULL:
                    raise MemoryError("no memory to rank the endpoints")
                for i in range(m):
                    totals[i] = ends[i].sums[1] + ends[i].sums[3]
                cut = _kth_largest(totals, m, limit)
            out = []
            for i in range(m):
                d = &ends[i]
                if d.sums[1] + d.sums[3] >= cut:
                    out.append(((<uint8_t *>d.address)[:16], d.version, d.sums[0], d.sums[1],
                                d.sums[2], d.sums[3]))
            return out
        finally:
            free(totals)
            free(ends)

    cdef Endpoint *_endpoint_sums(self, Py_ssize_t *count) except NULL:
        # The endpoints (malloc'd: the caller frees them) and in *count how many.
        cdef Py_ssize_t n = self.count, nslots = 16, m = 0, i, side, slot
        cdef int32_t e
        while nslots < 4 * n:
            nslots *= 2
        if 2 * n >= INT32_MAX:
            raise MemoryError("too many conversations to sum their endpoints")
        # one entry (64 bytes: a cache line) per address; a probe reads the slot
        # and at most the entry's first 24 bytes
        cdef int32_t *slots = <int32_t *>malloc(nslots * sizeof(int32_t))
        cdef Endpoint *ends = <Endpoint *>malloc((2 * n + 1) * sizeof(Endpoint))
        if slots == NULL or ends == NULL:
            free(slots)
            free(ends)
            raise MemoryError("no memory to sum the endpoints")
        cdef Conversation *c
        cdef Endpoint *d
        cdef const uint8_t *a
        cdef uint64_t h
        cdef uint64_t w[2]
        memset(slots, 0xff, nslots * sizeof(int32_t))
        with nogil:
            for side in range(2):               # 0: the low addresses, 1: the high ones
                for i in range(n):
                    c = &self.entries[i]
                    a = &c.high[0] if side else &c.low[0]
                    memcpy(w, a, 16)
                    h = _mix(_mix(<uint64_t>0x243F6A8885A308D3, w[0]), w[1])
                    slot = <Py_ssize_t>(h & <uint64_t>(nslots - 1))
                    while True:
                        e = slots[slot]
                        if e < 0 or (ends[e].hash == h and ends[e].address[0] == w[0]
                                     and ends[e].address[1] == w[1]):
                            break
                        slot = (slot + 1) & (nslots - 1)
                    if e < 0:
                        e = <int32_t>m
                        m += 1
                        slots[slot] = e
                        d = &ends[e]
                        d.hash = h
                        d.address[0] = w[0]
                        d.address[1] = w[1]
                        d.version = c.version
                        memset(d.sums, 0, sizeof(d.sums))
                    d = &ends[e]
                    # the low address sends low -> high ([0]), the high one high -> low
                    d.sums[0] += c.packets[side]
                    d.sums[1] += c.bytes[side]
                    d.sums[2] += c.packets[1 - side]
                    d.sums[3] += c.bytes[1 - side]
        free(slots)
        count[0] = m
        return ends


cdef inline int64_t _floor_div(int64_t a, int64_t b) noexcept nogil:
    # Python's (and numpy's) a // b for b > 0: rounds down, also for a < 0
    cdef int64_t q = a // b
    if (a % b) != 0 and a < 0:
        q -= 1
    return q


cdef class PacketCounters:
    """The counters of ringcap.report's TrafficReport that look at each packet
    once: wire bytes, first and last timestamp and whether they ever went
    back, packets and wire bytes per protocol-hierarchy key (link type,
    ethertype, IP protocol, IP version, VLAN and QinQ bits; an open-addressing table
    that grows) and per packet-length bucket.  Rate bins are counted per
    batch into arrays the caller owns (``count_bins``)."""
    cdef int64_t *keys
    cdef int64_t *key_packets
    cdef int64_t *key_bytes
    cdef Py_ssize_t nkeys, nslots          # keys held, slots (a power of two)
    cdef uint32_t edges[16]
    cdef Py_ssize_t nedges
    cdef readonly object size_packets, size_bytes    # int64 per bucket (array)
    cdef readonly int64_t max_ts                     # INT64_MIN before any packet

    def __cinit__(self, bucket_edges):
        """``bucket_edges``: the lower bounds of the length buckets after the
        first (a packet of length L goes into the bucket of the last edge <= L)."""
        edges = [int(e) for e in bucket_edges]
        if len(edges) > 16 or edges != sorted(edges):
            raise ValueError("at most 16 ascending bucket edges")
        self.nedges = len(edges)
        for i, e in enumerate(edges):
            self.edges[i] = e
        self.nslots = 64
        self.keys = <int64_t *>malloc(self.nslots * sizeof(int64_t))
        self.key_packets = <int64_t *>malloc(self.nslots * sizeof(int64_t))
        self.key_bytes = <int64_t *>malloc(self.nslots * sizeof(int64_t))
        if self.keys == NULL or self.key_packets == NULL or self.key_bytes == NULL:
            raise MemoryError("no memory for packet counters")
        memset(self.keys, 0xff, self.nslots * sizeof(int64_t))      # -1: a free slot
        self.size_packets = array("q", bytes(8 * (self.nedges + 1)))
        self.size_bytes = array("q", bytes(8 * (self.nedges + 1)))
        self.max_ts = INT64_MIN

    def __dealloc__(self):
        free(self.keys)
        free(self.key_packets)
        free(self.key_bytes)

    cdef bint _grow(self) noexcept nogil:
        cdef Py_ssize_t size = 2 * self.nslots, i, slot
        cdef int64_t *keys = <int64_t *>malloc(size * sizeof(int64_t))
        cdef int64_t *packets = <int64_t *>malloc(size * sizeof(int64_t))
        cdef int64_t *nbytes = <int64_t *>malloc(size * sizeof(int64_t))
        if keys == NULL or packets == NULL or nbytes == NULL:
            free(keys)
            free(packets)
            free(nbytes)
            return False
        memset(keys, 0xff, size * sizeof(int64_t))
        for i in range(self.nslots):
            if self.keys[i] < 0:
                continue
            slot = <Py_ssize_t>(_mix(0, <uint64_t>self.keys[i]) & <uint64_t>(size - 1))
            while keys[slot] >= 0:
                slot = (slot + 1) & (size - 1)
            keys[slot] = self.keys[i]
            packets[slot] = self.key_packets[i]
            nbytes[slot] = self.key_bytes[i]
        free(self.keys)
        free(self.key_packets)
        free(self.key_bytes)
        self.keys, self.key_packets, self.key_bytes = keys, packets, nbytes
        self.nslots = size
        return True

    def add(self, const uint16_t[::1] linktype not None,
            const uint16_t[::1] ethertype not None, const uint8_t[::1] ip_proto not None,
            const uint8_t[::1] ip_version not None, const uint32_t[::1] flags not None,
            const uint32_t[::1] wirelen not None, const uint32_t[::1] caplen not None,
            const int64_t[::1] ts not None, uint32_t vlan_bit, uint32_t qinq_bit):
        """Fold a batch (its link types, decoded columns, wire and captured
        lengths and timestamps).  Returns (smallest ts, largest ts, wire bytes,
        captured bytes, whether some ts is earlier than one before it, in this
        batch or an earlier one), or None for an empty batch."""
        cdef Py_ssize_t n = ts.shape[0], i, slot, b
        if not (linktype.shape[0] == ethertype.shape[0] == ip_proto.shape[0]
                == ip_version.shape[0] == flags.shape[0] == wirelen.shape[0]
                == caplen.shape[0] == n):
            raise ValueError("columns of different lengths")
        cdef int64_t lo = 0, hi = INT64_MIN, running = self.max_ts, t, key, last_key = -1
        cdef Py_ssize_t last_slot = -1
        cdef uint64_t wire = 0, captured = 0
        cdef uint32_t w, f
        cdef bint backwards = False, failed = False
        cdef int64_t[::1] sp = self.size_packets, sb = self.size_bytes
        cdef uint32_t last_w = 0
        # a run's counts of one length bucket and one protocol key, in registers
        # until the bucket or key changes (in memory each packet, they were 12
        # of `stats`'s instructions a packet on 64-byte frames, callgrind)
        cdef int64_t size_run = 0, size_run_bytes = 0, key_run = 0, key_run_bytes = 0
        if n == 0:
            return None
        lo = ts[0]
        with nogil:
            b = 0
            while b < self.nedges and last_w >= self.edges[b]:
                b += 1
            for i in range(n):
                t = ts[i]
                if t < running:
                    backwards = True
                else:
                    running = t
                if t < lo:
                    lo = t
                if t > hi:
                    hi = t
                w = wirelen[i]
                wire += w
                captured += caplen[i]
                if w != last_w:        # (the bucket of the packet before, else)
                    sp[b] += size_run
                    sb[b] += size_run_bytes
                    size_run = size_run_bytes = 0
                    b = 0
                    while b < self.nedges and w >= self.edges[b]:
                        b += 1
                    last_w = w
                size_run += 1
                size_run_bytes += w
                f = flags[i]
                key = ((<int64_t>linktype[i] << 32)
                       | (<int64_t>ethertype[i] << 16) | (<int64_t>ip_proto[i] << 8)
                       | (<int64_t>ip_version[i] << 2) | (<int64_t>((f & qinq_bit) != 0) << 1)
                       | <int64_t>((f & vlan_bit) != 0))
                if key != last_key:
                    if last_slot >= 0:
                        self.key_packets[last_slot] += key_run
                        self.key_bytes[last_slot] += key_run_bytes
                        key_run = key_run_bytes = 0
                    slot = <Py_ssize_t>(_mix(0, <uint64_t>key) & <uint64_t>(self.nslots - 1))
                    while self.keys[slot] >= 0 and self.keys[slot] != key:
                        slot = (slot + 1) & (self.nslots - 1)
                    if self.keys[slot] < 0:
                        if 2 * (self.nkeys + 1) > self.nslots:
                            if not self._grow():
                                failed = True
                                break
                            slot = <Py_ssize_t>(_mix(0, <uint64_t>key) & <uint64_t>(self.nslots - 1))
                            while self.keys[slot] >= 0:
                                slot = (slot + 1) & (self.nslots - 1)
                        self.keys[slot] = key
                        self.key_packets[slot] = 0
                        self.key_bytes[slot] = 0
                        self.nkeys += 1
                    last_key, last_slot = key, slot
                key_run += 1
                key_run_bytes += w
            sp[b] += size_run
            sb[b] += size_run_bytes
            if last_slot >= 0:
                self.key_packets[last_slot] += key_run
                self.key_bytes[last_slot] += key_run_bytes
        if failed:
            raise MemoryError("no memory for more protocol keys")
        self.max_ts = running
        return lo, hi, wire, captured, backwards

    def protocol_keys(self):
        """[(key, packets, wire bytes)], keys ascending."""
        cdef Py_ssize_t i
        return sorted([(self.keys[i], self.key_packets[i], self.key_bytes[i])
                       for i in range(self.nslots) if self.keys[i] >= 0])


def count_bins(const int64_t[::1] ts not None, const uint32_t[::1] wirelen not None,
               int64_t interval_ns, int64_t first_bin, int64_t[::1] packets not None,
               int64_t[::1] nbytes not None):
    """Add each packet to ``packets``/``nbytes`` at ``ts // interval_ns - first_bin``
    (which must be within the arrays: ValueError otherwise, nothing added)."""
    cdef Py_ssize_t n = ts.shape[0], i, j, nbins = packets.shape[0]
    cdef int64_t b = -1, t, bin_start = 0, bin_end = 0, run_packets = 0, run_bytes = 0
    cdef bint outside = False
    if wirelen.shape[0] != n or nbytes.shape[0] != nbins or interval_ns <= 0:
        raise ValueError("columns of different lengths, or an interval not positive")
    with nogil:
        # packets come mostly in time order: divide only when one leaves the bin
        # before, and count a bin's run in registers (the pass for the smallest
        # and largest time this had first, and a bin's counts in memory, were 9
        # of `stats`'s instructions a packet on 64-byte frames, callgrind)
        for i in range(n):
            t = ts[i]
            if b < 0 or t < bin_start or t >= bin_end:
                if b >= 0:
                    packets[b] += run_packets
                    nbytes[b] += run_bytes
                b = _floor_div(t, interval_ns) - first_bin
                if b < 0 or b >= nbins:
                    outside = True
                    break
                bin_start = (b + first_bin) * interval_ns
                bin_end = bin_start + interval_ns
                run_packets = run_bytes = 0
            run_packets += 1
            run_bytes += wirelen[i]
        if outside:
            for j in range(i):          # (nothing added: the packets before, taken back)
                b = _floor_div(ts[j], interval_ns) - first_bin
                packets[b] -= 1
                nbytes[b] -= wirelen[j]
        elif b >= 0:
            packets[b] += run_packets
            nbytes[b] += run_bytes
    if outside:
        raise ValueError("a timestamp outside the bins")


def keep_conversations(ConversationTable table not None, const Py_ssize_t[::1] rows not None):
    """Keep only the conversations of ``rows`` (entry numbers, ascending: the
    order they first appeared stays), dropping the others and rehashing the
    kept ones; what a bounded report (``TrafficReport(max_entries=...)``) does
    when its table is full.  The arrays keep their size for the conversations
    to come."""
    cdef Py_ssize_t n = rows.shape[0], i, slot, size = table.nslots
    for i in range(n):
        if not 0 <= rows[i] < table.count or (i and rows[i] <= rows[i - 1]):
            raise ValueError("rows must be ascending entry numbers of the table")
    with nogil:
        for i in range(n):
            if rows[i] != i:
                table.entries[i] = table.entries[rows[i]]
        table.count = n
        table.last_entry = -1       # (the last packet's entry moved or went: look it up again)
        memset(table.slots, 0xff, size * sizeof(Py_ssize_t))
        for i in range(n):
            slot = <Py_ssize_t>(table.entries[i].hash & <uint64_t>(size - 1))
            while table.slots[slot] >= 0:
                slot = (slot + 1) & (size - 1)
            table.slots[slot] = i
