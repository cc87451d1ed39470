# tcpdump-style packet lines for ringcap batches.
#
# LineFormatter.format() walks a batch's decoded offsets (ringcap.decode) and
# its bytes without the GIL and writes one line per packet, in tcpdump's
# compact form, into a caller-owned byte buffer: no snprintf, no per-packet
# allocation, every read checked against caplen.  It stops before a packet
# that might not fit so the caller can flush the buffer and call again.
# State that tcpdump carries from packet to packet (relative TCP sequence
# numbers, the previous timestamp for -ttt) lives in the formatter.

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t
from libc.string cimport memcpy, memset, memcmp, strlen
from libc.stdlib cimport calloc, free

from includes.text_defs cimport *

# The decoder's flag bits this module reads.
from includes.decode_defs cimport (F_TRUNCATED_L2, F_NONFIRST_FRAGMENT, F_VLAN_FROM_METADATA,
                                   F_BAD_IP_LENGTH, F_VLAN_LIMIT, F_FRAGMENT)

cdef extern from *:
    """
    #define RINGCAP_PREFETCH(p) __builtin_prefetch((const void *)(p))
    """
    void RINGCAP_PREFETCH(const uint8_t *p) nogil

cdef enum:
    LINKTYPE_NULL = 0        # the link types printed (Batch.linktype); RAW otherwise
    LINKTYPE_ETHERNET = 1
    LINKTYPE_LOOP = 108
    LINKTYPE_LINUX_SLL = 113
    LINKTYPE_LINUX_SLL2 = 276
    IFNAME_BYTES = 16        # one entry of format()'s interface-name table
    PREFETCH_AHEAD = 8       # packets: their headers are in cache by the time they print
    MAX_LINE = 8192          # a line and, for a tunnel, the line of the packet inside it
    # -v lists whose length grows with the packet (neighbor discovery options,
    # MLDv2 group records and sources) stop after this many bytes of text, so
    # a line stays within MAX_LINE however many entries a packet claims
    LIST_BUDGET = 1024
    MAX_VLAN_PRINTED = 8     # tags shown with -e; more print as "[...]"
    SEQ_TABLE_MIN = 1024
    SEQ_TABLE_MAX = 1 << 22  # conversations remembered before the table starts over

cdef const char *_HEX = b"0123456789abcdef"

TIMESTAMP_MODES = {"none": TS_NONE, "time": TS_TIME, "epoch": TS_EPOCH, "delta": TS_DELTA,
                   "date": TS_DATE, "since_first": TS_SINCE_FIRST}
PAYLOAD_MODES = {None: PAYLOAD_NONE, "hex": PAYLOAD_HEX, "hexascii": PAYLOAD_HEXASCII,
                 "ascii": PAYLOAD_ASCII}


def time_bounds(const int64_t[::1] ts):
    """``(first, last, least, most)`` of the timestamps ``ts`` (not empty): what
    the local time's offset for a run of packets is looked up by."""
    cdef Py_ssize_t n = ts.shape[0], i
    if n == 0:
        raise ValueError("time_bounds of no timestamps")
    cdef int64_t lo = ts[0], hi = ts[0]
    with nogil:
        for i in range(1, n):
            if ts[i] < lo:
                lo = ts[i]
            elif ts[i] > hi:
                hi = ts[i]
    return ts[0], ts[n - 1], lo, hi


def bytes_needed(Py_ssize_t caplen):
    """Room in the output buffer that one packet of ``caplen`` bytes may take."""
    return _need(caplen)


cdef inline Py_ssize_t _need(Py_ssize_t caplen) noexcept nogil:
    # A hex dump takes at most 68 bytes per 16 bytes of packet (-X; the
    # unknown-ethertype dump too), -A one per byte plus a newline (both may
    # follow one packet), and everything else stays under MAX_LINE (VLAN
    # tags are printed up to MAX_VLAN_PRINTED).
    return MAX_LINE + (caplen // 16 + 2) * 80 + caplen + 2


# ---------------------------------------------------------------- writing text
cdef inline uint8_t *put_s(uint8_t *w, const char *s) noexcept nogil:
    # inlined with a literal, strlen is a constant and memcpy a few moves (a
    # loop over the bytes was a tenth of a TCP line's instructions)
    cdef size_t n = strlen(s)
    memcpy(w, s, n)
    return w + n


cdef inline uint8_t *put_c(uint8_t *w, char c) noexcept nogil:
    w[0] = <uint8_t>c
    return w + 1


# numbers below 2**32 by decimal.h's multiplications; larger ones (and
# padded ones that do not fit their width) by the loop below, with "00" "01"
# ... "99": two digits a division
cdef extern from "decimal.h" nogil:
    const uint64_t rc_pow10[10]
    uint8_t *rc_put_u32(uint8_t *w, uint32_t v)
    uint8_t *rc_put_u32_width(uint8_t *w, uint32_t v, int digits)

cdef const char *_PAIRS = (b"00010203040506070809101112131415161718192021222324"
                           b"25262728293031323334353637383940414243444546474849"
                           b"50515253545556575859606162636465666768697071727374"
                           b"75767778798081828384858687888990919293949596979899")


cdef inline int _digit_count(uint64_t v) noexcept nogil:
    cdef int n = 1
    while v >= 10000:
        v //= 10000
        n += 4
    if v >= 1000:
        return n + 3
    if v >= 100:
        return n + 2
    return n + 1 if v >= 10 else n


cdef inline void _put_digits(uint8_t *end, uint64_t v, int n) noexcept nogil:
    # the last n digits of v, ending just before `end`
    while n >= 2:
        end -= 2
        memcpy(end, _PAIRS + 2 * (v % 100), 2)
        v //= 100
        n -= 2
    if n:
        (end - 1)[0] = <uint8_t>(48 + v % 10)


cdef inline uint8_t *put_u(uint8_t *w, uint64_t v) noexcept nogil:
    cdef int n
    if v <= 0xFFFFFFFFu:
        return rc_put_u32(w, <uint32_t>v)
    n = _digit_count(v)
    _put_digits(w + n, v, n)
    return w + n


cdef inline uint8_t *put_u_pad(uint8_t *w, uint64_t v, int width) noexcept nogil:
    # v in exactly `width` decimal digits (zero-padded, higher digits dropped)
    if width <= 9 and v < rc_pow10[width]:
        return rc_put_u32_width(w, <uint32_t>v, width)
    _put_digits(w + width, v, width)
    return w + width


def _test_decimal(uint64_t v, int width=0):
    """put_u's text of v (put_u_pad's in `width` digits if width > 0), for tests."""
    cdef uint8_t buf[24]
    cdef uint8_t *end = put_u_pad(buf, v, width) if width > 0 else put_u(buf, v)
    return bytes(buf[:end - buf])


cdef inline uint8_t *put_hex_pad(uint8_t *w, uint64_t v, int width) noexcept nogil:
    cdef int i
    for i in range(width - 1, -1, -1):
        w[i] = <uint8_t>_HEX[v & 0xF]
        v >>= 4
    return w + width


cdef inline uint8_t *put_hex(uint8_t *w, uint64_t v) noexcept nogil:
    # minimal lowercase hex digits, like %x
    cdef int width = 1
    cdef uint64_t t = v >> 4
    while t:
        width += 1
        t >>= 4
    return put_hex_pad(w, v, width)


# Each byte value's decimal text (up to 3 digits, NUL-padded to 4) and length:
# an IPv4 address is four table copies.  Filled once at import.
cdef uint8_t _OCTET_TEXT[256][4]
cdef uint8_t _OCTET_LEN[256]


cdef void _fill_octets() noexcept nogil:
    cdef int v
    for v in range(256):
        memset(_OCTET_TEXT[v], 0, 4)
        _OCTET_LEN[v] = <uint8_t>(put_u(_OCTET_TEXT[v], v) - _OCTET_TEXT[v])


_fill_octets()


cdef inline uint8_t *put_octet(uint8_t *w, uint8_t v) noexcept nogil:
    # writes 4 bytes (the text, then padding the next write covers): callers
    # have MAX_LINE of room past any line
    memcpy(w, _OCTET_TEXT[v], 4)
    return w + _OCTET_LEN[v]


cdef inline uint8_t *put_ipv4(uint8_t *w, const uint8_t *a) noexcept nogil:
    w = put_octet(w, a[0])
    w[0] = b'.'
    w = put_octet(w + 1, a[1])
    w[0] = b'.'
    w = put_octet(w + 1, a[2])
    w[0] = b'.'
    return put_octet(w + 1, a[3])


cdef uint8_t *put_ipv6(uint8_t *w, const uint8_t *a) noexcept nogil:
    # inet_ntop's text: the longest run of two or more zero words becomes
    # "::" (the first of equal runs); ::a.b.c.d and ::ffff:a.b.c.d keep the
    # embedded IPv4 address dotted.
    cdef uint16_t words[8]
    cdef int i, best = -1, best_len = 0, cur = -1, cur_len = 0
    for i in range(8):
        words[i] = (<uint16_t>a[2 * i] << 8) | a[2 * i + 1]
        if words[i] == 0:
            if cur < 0:
                cur = i
                cur_len = 1
            else:
                cur_len += 1
            if cur_len > best_len:
                best = cur
                best_len = cur_len
        else:
            cur = -1
    if best_len < 2:
        best = -1
    i = 0
    while i < 8:
        if i == best:
            w = put_c(w, b':')
            i += best_len
            if i == 8:
                w = put_c(w, b':')
            continue
        if i:
            w = put_c(w, b':')
        if i == 6 and best == 0 and (best_len == 6 or (best_len == 7 and words[7] != 1)
                                     or (best_len == 5 and words[5] == 0xFFFF)):
            return put_ipv4(w, a + 12)
        w = put_hex(w, words[i])
        i += 1
    return w


cdef inline uint8_t *put_mac(uint8_t *w, const uint8_t *m) noexcept nogil:
    cdef int i
    for i in range(6):
        if i:
            w = put_c(w, b':')
        w = put_hex_pad(w, m[i], 2)
    return w


# ---------------------------------------------------------------- address columns
cdef uint8_t *put_ip_text(uint8_t *w, const uint8_t *a) noexcept nogil:
    # headers._ip_text's text of a 16-byte ip_src/ip_dst row: an IPv4-mapped
    # address as a dotted quad; zero first 96 bits as Python's ipaddress
    # writes them (hex: "::", "::1", "::102:304"), not inet_ntop's "::1.2.3.4";
    # every other address as inet_ntop does.
    cdef int i
    for i in range(10):
        if a[i]:
            return put_ipv6(w, a)
    if a[10] == 0xFF and a[11] == 0xFF:
        return put_ipv4(w, a + 12)
    if a[10] or a[11]:
        return put_ipv6(w, a)
    w = put_c(put_c(w, b':'), b':')
    if a[12] or a[13]:
        w = put_c(put_hex(w, rd16(a + 12)), b':')
        return put_hex(w, rd16(a + 14))
    if a[14] or a[15]:
        return put_hex(w, rd16(a + 14))
    return w


def address_text(const uint8_t[:, ::1] rows, const uint8_t[::1] valid=None):
    """The text of each row of an address column, as an Arrow ``string``
    array's buffers: ``(offsets, data)``, int32 offsets (n + 1) and the UTF-8
    bytes.  16-byte rows (``ip_src``/``ip_dst``) read as :func:`ringcap.headers.ip_strings`
    writes them, other widths (MACs) as ``bytes.hex(":")``; a row whose
    ``valid`` entry is 0 is empty (the caller marks it null)."""
    cdef Py_ssize_t n = rows.shape[0], width = rows.shape[1], i, j
    if valid is not None and valid.shape[0] != n:
        raise ValueError(f"valid has {valid.shape[0]} entries for {n} rows")
    if width < 1 or width > 64:
        raise ValueError(f"address rows of {width} bytes: expected 1 to 64 (16 for IP, 6 for MAC)")
    cdef Py_ssize_t most = 39 if width == 16 else 3 * width - 1
    if n > (0x7FFFFFFF // most):
        raise ValueError(f"{n} addresses do not fit one Arrow string array; pass fewer rows")
    import numpy as np      # (here: printing a file runs without numpy)
    offsets_array = np.empty(n + 1, dtype=np.int32)
    data_array = np.empty(max(n * most, 1), dtype=np.uint8)
    cdef int32_t[::1] offsets = offsets_array
    cdef uint8_t[::1] data = data_array
    cdef uint8_t *start = &data[0]
    cdef uint8_t *w = start
    cdef const uint8_t *row
    cdef bint every = valid is None
    with nogil:
        offsets[0] = 0
        for i in range(n):
            if every or valid[i]:
                row = &rows[i, 0]
                if width == 16:
                    w = put_ip_text(w, row)
                else:
                    for j in range(width):
                        if j:
                            w = put_c(w, b':')
                        w = put_hex_pad(w, row[j], 2)
            offsets[i + 1] = <int32_t>(w - start)
    return offsets_array, data_array[:offsets[n]]


# ---------------------------------------------------------------- reading bytes
cdef inline uint16_t rd16(const uint8_t *p) noexcept nogil:
    return (<uint16_t>p[0] << 8) | p[1]


cdef inline uint32_t rd32(const uint8_t *p) noexcept nogil:
    return (<uint32_t>p[0] << 24) | (<uint32_t>p[1] << 16) | (<uint32_t>p[2] << 8) | p[3]


# ---------------------------------------------------------------- timestamps
cdef inline void _civil(int64_t days, int64_t *year, int *month, int *day) noexcept nogil:
    # days since 1970-01-01 -> proleptic Gregorian date (H. Hinnant's algorithm)
    cdef int64_t z = days + 719468
    cdef int64_t era = (z if z >= 0 else z - 146096) // 146097
    cdef int64_t doe = z - era * 146097
    cdef int64_t yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    cdef int64_t doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    cdef int64_t mp = (5 * doy + 2) // 153
    day[0] = <int>(doy - (153 * mp + 2) // 5 + 1)
    month[0] = <int>(mp + 3 if mp < 10 else mp - 9)
    year[0] = yoe + era * 400 + (1 if month[0] <= 2 else 0)


cdef inline uint8_t *put_frac(uint8_t *w, int64_t ns, int nano) noexcept nogil:
    w = put_c(w, b'.')
    if nano:
        return put_u_pad(w, <uint64_t>ns, 9)
    return put_u_pad(w, (<uint64_t>ns) // 1000, 6)


cdef inline void _split(int64_t ts, int64_t *sec, int64_t *ns) noexcept nogil:
    sec[0] = ts // 1000000000
    ns[0] = ts - sec[0] * 1000000000
    if ns[0] < 0:
        sec[0] -= 1
        ns[0] += 1000000000


cdef uint8_t *put_hms(uint8_t *w, int64_t ts, int nano, bint signed) noexcept nogil:
    # HH:MM:SS.frac of a time of day, or of a duration (hours may pass 24)
    # after a sign column (' ' or '-') as tcpdump prints deltas
    cdef int64_t sec, ns
    if signed:
        w = put_c(w, b'-' if ts < 0 else b' ')
    if ts < 0:
        ts = -ts
    _split(ts, &sec, &ns)
    w = put_u_pad(w, <uint64_t>(sec // 3600), 2) if sec // 3600 < 100 else put_u(w, sec // 3600)
    w = put_c(w, b':')
    w = put_u_pad(w, <uint64_t>(sec // 60 % 60), 2)
    w = put_c(w, b':')
    w = put_u_pad(w, <uint64_t>(sec % 60), 2)
    return put_frac(w, ns, nano)


cdef uint8_t *put_number(uint8_t *w, PrintState *st) noexcept nogil:
    # tcpdump's "%5u  " before the timestamp
    cdef uint64_t n
    cdef int digits = 1
    st.numbered += 1
    n = st.numbered
    while n >= 10:
        n //= 10
        digits += 1
    while digits < 5:
        w = put_c(w, b' ')
        digits += 1
    w = put_u(w, st.numbered)
    return put_s(w, b"  ")


cdef uint8_t *put_timestamp(uint8_t *w, PrintState *st, int64_t ts, int64_t gmtoff) noexcept nogil:
    cdef int64_t sec, ns, local, days, year
    cdef int month, day
    cdef int mode = st.ts_mode
    cdef uint8_t hms[32]
    if mode == TS_NONE:
        return w
    if not st.nano:
        # libpcap hands tcpdump microseconds: a nanosecond file's stamps are
        # cut to whole microseconds before -ttt and -ttttt subtract them
        ts -= ts % 1000 if ts % 1000 >= 0 else ts % 1000 + 1000
    if not st.have_previous:
        st.have_previous = 1
        st.first_ts = ts
        st.previous_ts = ts
    if mode == TS_TIME and st.hms_valid and gmtoff == st.hms_gmtoff \
            and <uint64_t>(ts - st.hms_start) < 1000000000:
        # packets come many to a second: its "HH:MM:SS" was made for the first,
        # and the others need no division
        memcpy(w, st.hms_text, 8)
        w = put_frac(w + 8, ts - st.hms_start, st.nano)
        st.previous_ts = ts
        return put_c(w, b' ')
    if mode == TS_EPOCH:
        _split(ts, &sec, &ns)
        if sec < 0:
            w = put_c(w, b'-')
            sec = -sec
        w = put_u(w, <uint64_t>sec)
        w = put_frac(w, ns, st.nano)
    elif mode == TS_DELTA:
        w = put_hms(w, ts - st.previous_ts, st.nano, True)
    elif mode == TS_SINCE_FIRST:
        w = put_hms(w, ts - st.first_ts, st.nano, True)
    else:
        _split(ts, &sec, &ns)
        local = sec + gmtoff
        days = local // 86400
        if days * 86400 > local:        # (C division truncates: before 1970, floor it)
            days -= 1
        if mode == TS_DATE:
            _civil(days, &year, &month, &day)
            w = put_u_pad(w, <uint64_t>year, 4) if 0 <= year < 10000 else put_u(w, <uint64_t>year)
            w = put_c(w, b'-')
            w = put_u_pad(w, month, 2)
            w = put_c(w, b'-')
            w = put_u_pad(w, day, 2)
            w = put_c(w, b' ')
        if mode == TS_TIME:
            put_hms(hms, (local - days * 86400) * 1000000000, 0, False)
            memcpy(st.hms_text, hms, 8)
            st.hms_start = sec * 1000000000
            st.hms_gmtoff = gmtoff
            st.hms_valid = 1
            memcpy(w, st.hms_text, 8)
            w = put_frac(w + 8, ns, st.nano)
        else:
            w = put_hms(w, (local - days * 86400) * 1000000000 + ns, st.nano, False)
    st.previous_ts = ts
    return put_c(w, b' ')


# ---------------------------------------------------------------- TCP sequence numbers
cdef inline uint64_t _key_hash(const uint8_t *key) noexcept nogil:
    # the key's five 64-bit words, multiplied independently and mixed: a few
    # cycles, where a byte-at-a-time hash took a chain of 40 multiplications
    cdef uint64_t k[5]
    cdef uint64_t h
    memcpy(k, key, 40)
    h = (k[0] * 0x9E3779B97F4A7C15ULL + k[1] * 0xC2B2AE3D27D4EB4FULL
         + k[2] * 0x165667B19E3779F9ULL + k[3] * 0xD6E8FEB86659FD93ULL
         + k[4] * 0xFF51AFD7ED558CCDULL)
    h ^= h >> 32
    h *= 0xC4CEB9FE1A85EC53ULL
    return h ^ (h >> 29)


cdef inline bint _same_key(const uint8_t *a, const uint8_t *b) noexcept nogil:
    cdef uint64_t x[5]
    cdef uint64_t y[5]
    memcpy(x, a, 40)
    memcpy(y, b, 40)
    return ((x[0] ^ y[0]) | (x[1] ^ y[1]) | (x[2] ^ y[2]) | (x[3] ^ y[3]) | (x[4] ^ y[4])) == 0


cdef SeqEntry *_seq_slot(SeqTable *t, const uint8_t *key) noexcept nogil:
    # The entry for key, or the empty slot where it belongs; NULL without a table.
    cdef Py_ssize_t mask, i
    if t.entries == NULL:
        return NULL
    mask = t.capacity - 1
    i = <Py_ssize_t>(_key_hash(key) & <uint64_t>mask)
    while t.entries[i].used and not _same_key(t.entries[i].key, key):
        i = (i + 1) & mask
    return &t.entries[i]


cdef int _seq_grow(SeqTable *t) noexcept nogil:
    # Double the table (or start it over at the cap); -1 when memory ran out.
    cdef Py_ssize_t cap = SEQ_TABLE_MIN if t.capacity == 0 else t.capacity * 2
    cdef SeqEntry *old = t.entries
    cdef Py_ssize_t old_cap = t.capacity, i
    cdef SeqEntry *slot
    if cap > SEQ_TABLE_MAX:
        memset(t.entries, 0, t.capacity * sizeof(SeqEntry))
        t.count = 0
        t.moved += 1
        return 0
    t.entries = <SeqEntry *>calloc(cap, sizeof(SeqEntry))
    if t.entries == NULL:
        t.entries = old
        return -1
    t.moved += 1
    t.capacity = cap
    t.count = 0
    for i in range(old_cap):
        if old[i].used:
            slot = _seq_slot(t, old[i].key)
            slot[0] = old[i]
            t.count += 1
    free(old)
    return 0


cdef SeqEntry *_relative_seq(SeqTable *t, const uint8_t *src, const uint8_t *dst,
                             int addr_len, uint16_t sport, uint16_t dport, uint8_t tcp_flags,
                             uint32_t *seq, uint32_t *ack) noexcept nogil:
    # INOUT seq/ack: tcpdump's relative numbers.  The first ACK-flagged
    # packet of a conversation (or any SYN) records the initial numbers of
    # both directions; later packets print relative to them.  Returns the
    # conversation's entry (NULL when none could be kept: numbers stay absolute).
    cdef uint8_t key[40]
    cdef int rev = 0
    cdef SeqEntry *e
    cdef uint32_t ports
    if sport > dport or (sport == dport and memcmp(src, dst, addr_len) > 0):
        rev = 1
    memset(key, 0, 40)
    if rev:
        memcpy(key, dst, addr_len)
        memcpy(key + 16, src, addr_len)
        ports = (<uint32_t>dport << 16) | sport
    else:
        memcpy(key, src, addr_len)
        memcpy(key + 16, dst, addr_len)
        ports = (<uint32_t>sport << 16) | dport
    memcpy(key + 32, &ports, 4)
    key[36] = <uint8_t>addr_len
    if 2 * (t.count + 1) > t.capacity:
        _seq_grow(t)
    e = _seq_slot(t, key)
    if e == NULL:
        return NULL
    if not e.used or (tcp_flags & 0x02):
        if not e.used:
            if 2 * (t.count + 1) > t.capacity:    # the table could not grow: use absolute numbers
                return NULL
            t.count += 1
        memcpy(e.key, key, 40)
        e.used = 1
        if rev:
            e.ack = seq[0]
            e.seq = ack[0] - 1
        else:
            e.seq = seq[0]
            e.ack = ack[0] - 1
    elif rev:
        seq[0] -= e.ack
        ack[0] -= e.seq
    else:
        seq[0] -= e.seq
        ack[0] -= e.ack
    return e


# ---------------------------------------------------------------- names
cdef const char *_ethertype_name(uint16_t t) noexcept nogil:
    if t == 0x0800: return b"IPv4"
    if t == 0x86DD: return b"IPv6"
    if t == 0x0806: return b"ARP"
    if t == 0x8100: return b"802.1Q"
    if t == 0x88A8: return b"802.1Q-QinQ"
    if t == 0x9100: return b"802.1Q-9100"
    if t == 0x8035: return b"Reverse ARP"
    if t == 0x88CC: return b"LLDP"
    if t == 0x8847: return b"MPLS unicast"
    if t == 0x8848: return b"MPLS multicast"
    if t == 0x8863: return b"PPPoE D"
    if t == 0x8864: return b"PPPoE S"
    if t == 0x888E: return b"EAPOL"
    if t == 0x88F7: return b"PTP"
    if t == 0x8809: return b"Slow Protocols"
    if t == 0x9000: return b"Loopback"
    return NULL


cdef const char *_ipproto_name(uint8_t p) noexcept nogil:
    if p == 0: return b"Options"
    if p == 44: return b"Fragment"
    if p == 1: return b"ICMP"
    if p == 2: return b"IGMP"
    if p == 4: return b"IPIP"
    if p == 6: return b"TCP"
    if p == 17: return b"UDP"
    if p == 41: return b"IPv6"
    if p == 47: return b"GRE"
    if p == 50: return b"ESP"
    if p == 51: return b"AH"
    if p == 58: return b"ICMPv6"
    if p == 89: return b"OSPF"
    if p == 103: return b"PIM"
    if p == 112: return b"VRRP"
    if p == 132: return b"SCTP"
    return b"unknown"


cdef const char *_sap_name(uint8_t sap) noexcept nogil:
    sap &= 0xFE
    if sap == 0x00: return b"Null"
    if sap == 0x06: return b"IP"
    if sap == 0x42: return b"STP"
    if sap == 0xAA: return b"SNAP"
    if sap == 0xE0: return b"IPX"
    if sap == 0xF0: return b"NetBeui"
    if sap == 0xFE: return b"OSI"
    return b"Unknown"


cdef const char *_icmp_name(uint8_t t) noexcept nogil:
    if t == 0: return b"echo reply"
    if t == 4: return b"source quench"
    if t == 8: return b"echo request"
    if t == 10: return b"router solicitation"
    if t == 13: return b"time stamp request"
    if t == 14: return b"time stamp reply"
    if t == 15: return b"information request"
    if t == 16: return b"information reply"
    if t == 17: return b"address mask request"
    if t == 18: return b"address mask reply"
    return NULL


cdef const char *_icmp6_name(uint8_t t) noexcept nogil:
    if t == 1: return b"destination unreachable"
    if t == 2: return b"packet too big"
    if t == 3: return b"time exceeded in-transit"
    if t == 4: return b"parameter problem"
    if t == 128: return b"echo request"
    if t == 129: return b"echo reply"
    if t == 130: return b"multicast listener query"
    if t == 131: return b"multicast listener report"
    if t == 132: return b"multicast listener done"
    if t == 133: return b"router solicitation"
    if t == 134: return b"router advertisement"
    if t == 135: return b"neighbor solicitation"
    if t == 136: return b"neighbor advertisement"
    if t == 137: return b"redirect"
    if t == 143: return b"multicast listener report v2"
    return NULL


# ---------------------------------------------------------------- payload dumps
cdef inline bint _isgraph(uint8_t c) noexcept nogil:
    return 0x21 <= c <= 0x7E


cdef inline uint8_t *put_hexdump(uint8_t *w, const uint8_t *p, Py_ssize_t n,
                                 bint ascii) noexcept nogil:
    # tcpdump's -x (ascii False) / -X (ascii True) lines: "\n\t0x0010:  4500 003c ..."
    return put_hexdump_lead(w, p, n, ascii, b"\n\t0x")


cdef uint8_t *put_hexdump_lead(uint8_t *w, const uint8_t *p, Py_ssize_t n, bint ascii,
                               const char *lead) noexcept nogil:
    # the same lines after another lead (tcpdump's print_unknown_data "\n\t    ")
    cdef Py_ssize_t line, i, k, width
    for line in range(0, n, 16):
        w = put_s(w, lead)
        if line < 0x10000:                  # tcpdump's %04x: 0x10000 and up in full
            w = put_hex_pad(w, <uint64_t>line, 4)
        else:
            w = put_hex(w, <uint64_t>line)
        w = put_s(w, b": ")
        k = n - line if n - line < 16 else 16
        width = 0
        for i in range(k):
            if i % 2 == 0:
                w = put_c(w, b' ')
                width += 1
            w = put_hex_pad(w, p[line + i], 2)
            width += 2
        if ascii:
            while width < 40:
                w = put_c(w, b' ')
                width += 1
            w = put_s(w, b"  ")
            for i in range(k):
                w[0] = p[line + i] if _isgraph(p[line + i]) else 0x2E
                w += 1
    return w


cdef uint8_t *put_ascii(uint8_t *w, const uint8_t *p, Py_ssize_t n) noexcept nogil:
    # tcpdump's -A: printable bytes, tabs, spaces and newlines as they are,
    # anything else '.', except a CR, which is dropped before a LF and in the
    # last two bytes (tcpdump's ascii_print: "length > 1" after the CR)
    cdef Py_ssize_t i
    cdef uint8_t c
    w = put_c(w, b'\n')
    for i in range(n):
        c = p[i]
        if c == b'\r':
            if n - i - 1 > 1 and p[i + 1] != b'\n':
                w = put_c(w, b'.')
        elif _isgraph(c) or c == b'\t' or c == b' ' or c == b'\n':
            w = put_c(w, <char>c)
        else:
            w = put_c(w, b'.')
    return w


# ---------------------------------------------------------------- protocols
cdef uint8_t *put_tcp_options(uint8_t *w, const uint8_t *o, Py_ssize_t n, int rev,
                              uint32_t thseq, uint32_t thack, bint *bad) noexcept nogil:
    # ", options [mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7]"; an option
    # whose length does not fit ends the line as tcpdump ends it: "[bad opt]",
    # "]" unless it was the first, nothing after (*bad set)
    cdef Py_ssize_t i = 0, length, k
    cdef uint8_t kind
    cdef uint32_t s, e
    w = put_s(w, b", options [")
    while i < n:
        if i:
            w = put_c(w, b',')
        kind = o[i]
        if kind <= 1:
            w = put_s(w, b"eol" if kind == 0 else b"nop")
            i += 1
            if kind == 0:
                break
            continue
        if i + 1 >= n or o[i + 1] < 2 or i + o[i + 1] > n:
            bad[0] = True
            w = put_s(w, b"[bad opt]")
            return put_c(w, b']') if i else w
        length = o[i + 1]
        if kind == 2 and length == 4:
            w = put_s(w, b"mss ")
            w = put_u(w, rd16(o + i + 2))
        elif kind == 3 and length == 3:
            w = put_s(w, b"wscale ")
            w = put_u(w, o[i + 2])
        elif kind == 4 and length == 2:
            w = put_s(w, b"sackOK")
        elif kind == 5:
            w = put_s(w, b"sack")
            if (length - 2) % 8:
                w = put_s(w, b" invalid sack")
            else:
                w = put_c(w, b' ')
                w = put_u(w, (length - 2) // 8)
                w = put_c(w, b' ')
                for k in range(i + 2, i + length, 8):
                    s = rd32(o + k)
                    e = rd32(o + k + 4)
                    if rev:
                        s -= thseq
                        e -= thseq
                    else:
                        s -= thack
                        e -= thack
                    w = put_c(w, b'{')
                    w = put_u(w, s)
                    w = put_c(w, b':')
                    w = put_u(w, e)
                    w = put_c(w, b'}')
        elif kind == 8 and length == 10:
            w = put_s(w, b"TS val ")
            w = put_u(w, rd32(o + i + 2))
            w = put_s(w, b" ecr ")
            w = put_u(w, rd32(o + i + 6))
        else:
            w = put_s(w, b"unknown-")
            w = put_u(w, kind)
            if length > 2:
                w = put_s(w, b" 0x")
                for k in range(i + 2, i + length):
                    w = put_hex_pad(w, o[k], 2)
        i += length
    return put_c(w, b']')


cdef uint32_t _sum16(uint32_t s, const uint8_t *b, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i
    for i in range(0, n - 1, 2):
        s += (<uint32_t>b[i] << 8) | b[i + 1]
        if s >> 31:
            s = (s & 0xFFFF) + (s >> 16)
    if n & 1:
        s += <uint32_t>b[n - 1] << 8
    return s


cdef inline uint16_t _fold(uint32_t s) noexcept nogil:
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return <uint16_t>s


cdef inline bint _same_checksum(uint16_t a, uint16_t b) noexcept nogil:
    # ones' complement: 0x0000 and 0xffff are the same number
    return a == b or ((a == 0 or a == 0xFFFF) and (b == 0 or b == 0xFFFF))


cdef uint16_t _should_be(const uint8_t *src, const uint8_t *dst, int addr_len, uint8_t proto,
                         const uint8_t *seg, Py_ssize_t length, Py_ssize_t field) noexcept nogil:
    # The TCP/UDP checksum the segment should carry: the ones' complement sum
    # of the pseudo-header and the segment with its checksum field (at
    # `field`) taken as 0.
    cdef uint32_t s = 0
    s = _sum16(s, src, addr_len)
    s = _sum16(s, dst, addr_len)
    s += proto + (<uint32_t>length >> 16) + (<uint32_t>length & 0xFFFF)
    s = _sum16(s, seg, field)
    s = _sum16(s, seg + field + 2, length - field - 2)
    return <uint16_t>(~_fold(s) & 0xFFFF)


cdef uint8_t *put_bad_cksum(uint8_t *w, const uint8_t *d, Py_ssize_t n, Py_ssize_t field,
                            const char *lead, const char *tail) noexcept nogil:
    # -v: a header (IPv4) or message (ICMP) whose checksum does not add up, as
    # tcpdump: lead, the checksum it carries and, after "(->", the one it should
    # (in_cksum_shouldbe), in %x; nothing when it adds up
    cdef uint16_t sum = <uint16_t>(~_fold(_sum16(0, d, n)) & 0xFFFF), actual
    if sum == 0:
        return w
    actual = rd16(d + field)
    w = put_s(w, lead)
    w = put_hex(w, actual)
    w = put_s(w, b" (->")
    w = put_hex(w, _fold(<uint32_t>actual + sum))
    return put_s(w, tail)


cdef uint8_t *put_ipv4_timestamps(uint8_t *w, const uint8_t *o, Py_ssize_t length,
                                  Py_ssize_t avail) noexcept nogil:
    # tcpdump's ip_printts: " TS{TSONLY 1@ 2@}" (NULL: an entry past the captured bytes)
    cdef Py_ssize_t hoplen, ptr, k = 0
    cdef uint8_t kind
    cdef const char *mark = b" "
    if length < 4:             # (and its flags byte may lie past the header)
        w = put_s(w, b"[bad length ")
        w = put_u(w, <uint64_t>length)
        return put_c(w, b']')
    kind = o[3] & 0x0F
    w = put_s(w, b" TS{")
    hoplen = 8 if kind != 0 else 4
    if (length - 4) & (hoplen - 1):
        w = put_s(w, b"[bad length ")
        w = put_u(w, <uint64_t>length)
        w = put_c(w, b']')
    ptr = <Py_ssize_t>o[2] - 1
    if ptr < 4 or ((ptr - 4) & (hoplen - 1)) or ptr > length + 1:
        w = put_s(w, b"[bad ptr ")
        w = put_u(w, o[2])
        w = put_c(w, b']')
    if kind == 0 or kind == 1 or kind == 3:
        w = put_s(w, b"TSONLY" if kind == 0 else (b"TS+ADDR" if kind == 1 else b"PRESPEC"))
        k = 4
        while k < length:
            if ptr == k:
                mark = b" ^ "
            if k + hoplen > avail:
                return NULL
            w = put_s(w, mark)
            w = put_u(w, rd32(o + k + hoplen - 4))
            w = put_c(w, b'@')
            if hoplen == 8:
                w = put_ipv4(w, o + k)
            mark = b" "
            k += hoplen
    else:
        w = put_s(w, b"[bad ts type ")
        w = put_u(w, kind)
        w = put_c(w, b']')
    if ptr == k:
        w = put_s(w, b" ^ ")
    if o[3] >> 4:
        w = put_s(w, b" [")
        w = put_u(w, o[3] >> 4)
        return put_s(w, b" hops not recorded]} ")
    return put_c(w, b'}')


cdef uint8_t *put_ipv4_options(uint8_t *w, const uint8_t *o, Py_ssize_t n,
                               Py_ssize_t avail) noexcept nogil:
    # -v: tcpdump's ip_optprint over the n (at most 40) bytes of options, of
    # which `avail` bytes (and those after) were captured; NULL where an
    # address or time stamp runs past them (tcpdump's [truncated-option])
    cdef Py_ssize_t k = 0, length, j, ptr
    cdef uint8_t code
    while k < n:
        if k:
            w = put_c(w, b',')
        code = o[k]
        if code == 0: w = put_s(w, b"EOL")
        elif code == 1: w = put_s(w, b"NOP")
        elif code == 7: w = put_s(w, b"RR")
        elif code == 68: w = put_s(w, b"timestamp")
        elif code == 82: w = put_s(w, b"traceroute")
        elif code == 130: w = put_s(w, b"security")
        elif code == 131: w = put_s(w, b"LSRR")
        elif code == 137: w = put_s(w, b"SSRR")
        elif code == 148: w = put_s(w, b"RA")
        else:
            w = put_s(w, b"unknown ")
            w = put_u(w, code)
        if code == 0:
            return w
        length = 1
        if code != 1:
            length = o[k + 1] if k + 1 < n else 0
            if length < 2 or length > n - k:
                w = put_s(w, b" [bad length ")
                w = put_u(w, <uint64_t>length)
                return put_c(w, b']')
        if code == 148:
            if length < 4:
                w = put_s(w, b" [bad length ")
                w = put_u(w, <uint64_t>length)
                w = put_c(w, b']')
            elif rd16(o + k + 2):
                w = put_s(w, b" value ")
                w = put_u(w, rd16(o + k + 2))
        elif code == 68:
            w = put_ipv4_timestamps(w, o + k, length, avail - k)
            if w == NULL:
                return NULL
        elif code == 7 or code == 131 or code == 137:
            if length < 3:
                w = put_s(w, b" [bad length ")
                w = put_u(w, <uint64_t>length)
                w = put_c(w, b']')
            else:
                # ip_printroute: the addresses, "," after those already recorded
                if (length + 1) & 3:
                    w = put_s(w, b" [bad length ")
                    w = put_u(w, <uint64_t>length)
                    w = put_c(w, b']')
                ptr = <Py_ssize_t>o[k + 2] - 1
                if ptr < 3 or ((ptr + 1) & 3) or ptr > length + 1:
                    w = put_s(w, b" [bad ptr ")
                    w = put_u(w, o[k + 2])
                    w = put_c(w, b']')
                j = 3
                while j < length:
                    if k + j + 4 > avail:
                        return NULL
                    w = put_c(w, b' ')
                    w = put_ipv4(w, o + k + j)
                    if ptr > j:
                        w = put_c(w, b',')
                    j += 4
        k += length
    return w


# "Flags [S.]" of each value of the flags byte, made once at import (eight
# tests and copies a line before)
cdef uint8_t _TCP_FLAGS_TEXT[256][16]
cdef uint8_t _TCP_FLAGS_LEN[256]


cdef void _fill_tcp_flags() noexcept nogil:
    cdef int v
    cdef uint8_t *w
    for v in range(256):
        memset(_TCP_FLAGS_TEXT[v], 0, 16)
        w = put_s(_TCP_FLAGS_TEXT[v], b"Flags [")
        if v == 0:
            w = put_s(w, b"none")
        else:
            if v & 0x01: w = put_c(w, b'F')
            if v & 0x02: w = put_c(w, b'S')
            if v & 0x04: w = put_c(w, b'R')
            if v & 0x08: w = put_c(w, b'P')
            if v & 0x10: w = put_c(w, b'.')
            if v & 0x20: w = put_c(w, b'U')
            if v & 0x40: w = put_c(w, b'E')
            if v & 0x80: w = put_c(w, b'W')
        w = put_c(w, b']')
        _TCP_FLAGS_LEN[v] = <uint8_t>(w - _TCP_FLAGS_TEXT[v])


_fill_tcp_flags()


cdef inline uint8_t *put_kept(uint8_t *w, const KeptText *k) noexcept nogil:
    # k's text, copied whole (KEPT_TEXT bytes: the text, then padding the rest
    # of the line covers; a line has MAX_LINE of room)
    memcpy(w, k.text, KEPT_TEXT)
    return w + k.length


cdef inline uint8_t *keep(KeptText *k, uint64_t key, const uint8_t *start,
                          uint8_t *w) noexcept nogil:
    # OUT k: the text just written, start..w (at most KEPT_TEXT bytes), for key; returns w
    memcpy(k.text, start, KEPT_TEXT)
    k.length = <uint32_t>(w - start)
    k.key = key
    k.valid = 1
    return w


cdef inline uint8_t *put_kept_number(uint8_t *w, KeptText *k, const char *label,
                                     uint32_t value) noexcept nogil:
    # label and value (", ack N"): k's text when it was made for value, else
    # written and kept in k (k NULL: written only)
    cdef uint8_t *start
    if k != NULL and k.valid and k.key == value:
        return put_kept(w, k)
    start = w
    w = put_s(w, label)
    w = put_u(w, value)
    if k != NULL:
        keep(k, value, start, w)
    return w


cdef uint8_t *put_tcp(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                      Py_ssize_t l4, Py_ssize_t seg_len, const uint8_t *src,
                      const uint8_t *dst, int addr_len, bint fragmented,
                      PairText *pair) noexcept nogil:
    # After "a.sport > b.dport: ".  seg_len: TCP header + data, by the IP length.
    # pair: the text's entry (put_pair), which keeps the conversation's entry
    # of the sequence-number table (NULL: look it up every time)
    cdef Py_ssize_t hlen = (p[l4 + 12] >> 4) * 4
    cdef uint8_t flags = p[l4 + 13]
    cdef uint32_t seq = rd32(p + l4 + 4), ack = rd32(p + l4 + 8)
    cdef uint32_t thseq = 0, thack = 0
    cdef uint16_t sport = rd16(p + l4), dport = rd16(p + l4 + 2)
    cdef int rev = 0
    cdef Py_ssize_t data_len
    cdef bint bad_option = False
    cdef SeqEntry *e
    cdef uint16_t expected, actual
    cdef uint64_t stamps
    cdef uint8_t *start
    # (tcpdump's lengths here are unsigned: a header past the segment wraps)
    if hlen < 20:
        w = put_s(w, b" tcp ")
        w = put_u(w, <uint32_t>(seg_len - hlen))
        w = put_s(w, b" [bad hdr length ")
        w = put_u(w, hlen)
        return put_s(w, b" - too short, < 20]")
    if st.quiet:
        w = put_s(w, b"tcp ")
        w = put_u(w, <uint32_t>(seg_len - hlen))
        if hlen <= seg_len:
            return w
        w = put_s(w, b" [bad hdr length ")
        w = put_u(w, hlen)
        w = put_s(w, b" - too long, > ")
        w = put_u(w, <uint64_t>seg_len)
        return put_c(w, b']')
    memcpy(w, _TCP_FLAGS_TEXT[flags], 16)       # (a line has MAX_LINE of room)
    w += _TCP_FLAGS_LEN[flags]
    if not st.absolute_seq and (flags & 0x10):
        if pair != NULL and pair.seq != NULL and pair.seq_moved == st.seqs.moved \
                and not (flags & 0x02):
            # (what _relative_seq does for a conversation it knows, without the look-up)
            e = pair.seq
            rev = pair.seq_reversed
            if rev:
                seq -= e.ack
                ack -= e.seq
            else:
                seq -= e.seq
                ack -= e.ack
        else:
            e = _relative_seq(&st.seqs, src, dst, addr_len, sport, dport, flags, &seq, &ack)
            rev = sport > dport or (sport == dport and memcmp(src, dst, addr_len) > 0)
            if pair != NULL:
                pair.seq = e
                pair.seq_moved = st.seqs.moved
                pair.seq_reversed = rev
        if e != NULL:       # SACK blocks print relative to the conversation's initial numbers
            thseq = e.seq
            thack = e.ack
    if hlen > seg_len:
        w = put_s(w, b" [bad hdr length ")
        w = put_u(w, hlen)
        w = put_s(w, b" - too long, > ")
        w = put_u(w, <uint64_t>seg_len)
        return put_c(w, b']')
    if st.verbose and not st.no_checksums and not fragmented and l4 + seg_len <= cap:
        # -v: tcpdump checks the checksum when the whole segment was captured
        expected = _should_be(src, dst, addr_len, 6, p + l4, seg_len, 16)
        actual = rd16(p + l4 + 16)
        w = put_s(w, b", cksum 0x")
        w = put_hex_pad(w, actual, 4)
        if _same_checksum(actual, expected):
            w = put_s(w, b" (correct)")
        else:
            w = put_s(w, b" (incorrect -> 0x")
            w = put_hex_pad(w, expected, 4)
            w = put_c(w, b')')
    data_len = seg_len - hlen
    if st.verbose > 1 or data_len > 0 or (flags & 0x07):
        w = put_s(w, b", seq ")
        w = put_u(w, seq)
        if data_len > 0:
            w = put_c(w, b':')
            w = put_u(w, <uint32_t>(seq + <uint32_t>data_len))
    if flags & 0x10:
        w = put_kept_number(w, &pair.ack if pair != NULL else NULL, b", ack ", ack)
    w = put_kept_number(w, &pair.win if pair != NULL else NULL, b", win ", rd16(p + l4 + 14))
    if flags & 0x20:
        w = put_s(w, b", urg ")
        w = put_u(w, rd16(p + l4 + 18))
    if hlen > 20:
        if l4 + hlen > cap:
            return put_s(w, b", options [|tcp]")
        if hlen == 32 and rd32(p + l4 + 20) == 0x0101080A:
            # Linux's every segment after the handshake: what the loop below
            # prints for nop,nop,TS (1, 1, 8 of length 10), without the loop
            stamps = (<uint64_t>rd32(p + l4 + 24) << 32) | rd32(p + l4 + 28)
            if pair != NULL and pair.stamps.valid and pair.stamps.key == stamps:
                w = put_kept(w, &pair.stamps)
            else:
                start = w
                w = put_s(w, b", options [nop,nop,TS val ")
                w = put_u(w, rd32(p + l4 + 24))
                w = put_s(w, b" ecr ")
                w = put_u(w, rd32(p + l4 + 28))
                w = put_c(w, b']')
                if pair != NULL:
                    keep(&pair.stamps, stamps, start, w)
        else:
            w = put_tcp_options(w, p + l4 + 20, hlen - 20, rev, thseq, thack, &bad_option)
            if bad_option:
                return w
    if pair != NULL and pair.lengths.valid and pair.lengths.key == <uint64_t>data_len << 1:
        w = put_kept(w, &pair.lengths)
    else:
        start = w
        w = put_s(w, b", length ")
        w = put_u(w, <uint64_t>data_len)
        if pair != NULL:
            keep(&pair.lengths, <uint64_t>data_len << 1, start, w)
    if (flags & 0x04) and st.verbose and data_len > 0:
        w = put_rst_data(w, p + l4 + hlen, cap - l4 - hlen if cap > l4 + hlen else 0, data_len)
    elif data_len > 0 and l4 + hlen < cap and not fragmented:
        w = put_tcp_app(w, p + l4 + hlen, cap - l4 - hlen, data_len, sport, dport,
                        st.verbose)     # text_app.pxi
    return w


cdef uint8_t *put_rst_data(uint8_t *w, const uint8_t *d, Py_ssize_t captured,
                           Py_ssize_t length) noexcept nogil:
    # -v: the text a RST carries, " [RST data]" ("RST+" when cut at 30 bytes),
    # bytes shown as tcpdump's nd_printn does: M- for the high bit, ^ for controls
    cdef Py_ssize_t i
    cdef uint8_t c
    w = put_s(w, b" [RST")
    if length > 30:
        length = 30
        w = put_c(w, b'+')
    w = put_c(w, b' ')
    for i in range(length if length < captured else captured):
        c = d[i]
        if c & 0x80:
            c &= 0x7F
            w = put_s(w, b"M-")
        if c < 0x20 or c == 0x7F:
            c ^= 0x40
            w = put_c(w, b'^')
        w[0] = c
        w += 1
    return put_c(w, b']')


cdef uint8_t *put_addr(uint8_t *w, const uint8_t *a, int addr_len) noexcept nogil:
    if addr_len == 4:
        return put_ipv4(w, a)
    return put_ipv6(w, a)


cdef extern from *:
    """
    /* put_pair's lookup runs in every TCP/UDP line: inline it where put_ip
       calls it, and keep its rare miss (the text made anew) out of line so
       the lookup saves no registers.  The names are Cython's for _text's
       put_pair, _pair_text and the PrintState/PairText structs. */
    struct __pyx_t_8includes_9text_defs_PrintState;
    struct __pyx_t_8includes_9text_defs_PairText;
    static inline __attribute__((always_inline)) uint8_t *__pyx_f_7ringcap_5_text_put_pair(
        uint8_t *, struct __pyx_t_8includes_9text_defs_PrintState *, uint8_t const *,
        uint8_t const *, int, uint8_t const *, struct __pyx_t_8includes_9text_defs_PairText **);
    static __attribute__((noinline)) void __pyx_f_7ringcap_5_text__pair_text(
        struct __pyx_t_8includes_9text_defs_PairText *, uint64_t const *, uint8_t const *,
        uint8_t const *, int, uint8_t const *);
    """


cdef void _pair_text(PairText *e, const uint64_t *key, const uint8_t *src, const uint8_t *dst,
                     int addr_len, const uint8_t *ports) noexcept nogil:
    # OUT e: the text of key (put_pair's), made anew
    cdef uint8_t *t = put_addr(e.text, src, addr_len)
    t = rc_put_u32(put_c(t, b'.'), rd16(ports))
    t = put_addr(put_s(t, b" > "), dst, addr_len)
    t = rc_put_u32(put_c(t, b'.'), rd16(ports + 2))
    t = put_s(t, b": ")
    e.length = <uint32_t>(t - e.text)
    memcpy(e.key, key, 40)
    e.seq = NULL
    e.ack.valid = e.win.valid = e.stamps.valid = e.lengths.valid = 0


cdef inline uint8_t *put_pair(uint8_t *w, PrintState *st, const uint8_t *src,
                              const uint8_t *dst, int addr_len, const uint8_t *ports,
                              PairText **entry) noexcept nogil:
    # "src.sport > dst.dport: " of a TCP/UDP line.  Packets come from a few
    # conversations (89 on the recorded mix's 400,000 packets, 88% the same as
    # the line before), so the text is kept in a direct-mapped table by its
    # addresses, ports and IP version and copied whole (PAIR_TEXT bytes: the
    # text, then padding the rest of the line covers; a line has MAX_LINE of room).
    # Where every packet is a new conversation (a scan, the uniform mix's
    # 1,000,000 ports) the table only costs: after PAIR_MISSES misses in a row
    # put_ip goes without it for PAIR_REST lines
    cdef uint64_t k[5]
    cdef uint32_t raw = 0
    cdef PairText *e
    if addr_len == 4:
        memcpy(&raw, src, 4)
        k[0] = raw
        memcpy(&raw, dst, 4)
        k[2] = raw
        k[1] = k[3] = 0
    else:
        memcpy(k, src, 16)
        memcpy(&k[2], dst, 16)
    memcpy(&raw, ports, 4)
    k[4] = (<uint64_t>addr_len << 32) | raw
    e = &st.pairs[st.last_pair]         # (most lines: the line before's conversation)
    if ((e.key[0] ^ k[0]) | (e.key[1] ^ k[1]) | (e.key[2] ^ k[2]) | (e.key[3] ^ k[3])
            | (e.key[4] ^ k[4])) != 0:
        st.last_pair = (k[0] * 0x9E3779B97F4A7C15ULL + k[1] * 0xC2B2AE3D27D4EB4FULL
                        + k[2] * 0x165667B19E3779F9ULL + k[3] * 0xD6E8FEB86659FD93ULL
                        + k[4] * 0xFF51AFD7ED558CCDULL) >> (64 - PAIR_SLOT_BITS)
        e = &st.pairs[st.last_pair]
        if ((e.key[0] ^ k[0]) | (e.key[1] ^ k[1]) | (e.key[2] ^ k[2]) | (e.key[3] ^ k[3])
                | (e.key[4] ^ k[4])) != 0:
            _pair_text(e, k, src, dst, addr_len, ports)
            st.pair_misses += 1
            if st.pair_misses == PAIR_MISSES:   # a conversation a packet: keeping costs
                st.pair_misses = 0
                st.pair_rest = PAIR_REST
            entry[0] = e
            memcpy(w, e.text, PAIR_TEXT)
            return w + e.length
    st.pair_misses = 0
    memcpy(w, e.text, PAIR_TEXT)
    entry[0] = e
    return w + e.length


cdef uint8_t *put_icmp(uint8_t *w, const uint8_t *p, Py_ssize_t cap, Py_ssize_t l4,
                       Py_ssize_t plen) noexcept nogil:
    # "ICMP echo request, id 1, seq 2, length 64" (after "a > b: ")
    cdef uint8_t t = p[l4], code = p[l4 + 1]
    cdef const char *name
    cdef Py_ssize_t inner = l4 + 8, ihl
    cdef uint8_t proto
    w = put_s(w, b"ICMP ")
    if t == 0 or t == 8:
        w = put_s(w, _icmp_name(t))
        w = put_s(w, b", id ")
        w = put_u(w, rd16(p + l4 + 4))
        w = put_s(w, b", seq ")
        w = put_u(w, rd16(p + l4 + 6))
    elif t == 3 and code <= 4 and inner + 20 <= cap:
        ihl = (p[inner] & 0x0F) * 4
        proto = p[inner + 9]
        if code == 0:
            w = put_s(w, b"net ")
            w = put_ipv4(w, p + inner + 16)
            w = put_s(w, b" unreachable")
        elif code == 1:
            w = put_s(w, b"host ")
            w = put_ipv4(w, p + inner + 16)
            w = put_s(w, b" unreachable")
        elif code == 2:
            w = put_ipv4(w, p + inner + 16)
            w = put_s(w, b" protocol ")
            w = put_u(w, proto)
            w = put_s(w, b" unreachable")
        elif code == 3:
            w = put_ipv4(w, p + inner + 16)
            if ihl < 20 or inner + ihl + 4 > cap:
                w = put_s(w, b" port unreachable")
            else:
                if proto == 17:
                    w = put_s(w, b" udp port ")
                elif proto == 6:
                    w = put_s(w, b" tcp port ")
                else:
                    w = put_s(w, b" protocol ")
                    w = put_u(w, proto)
                    w = put_s(w, b" port ")
                w = put_u(w, rd16(p + inner + ihl + 2))
                w = put_s(w, b" unreachable")
        else:
            w = put_ipv4(w, p + inner + 16)
            w = put_s(w, b" unreachable - need to frag")
            if rd16(p + l4 + 6):
                w = put_s(w, b" (mtu ")
                w = put_u(w, rd16(p + l4 + 6))
                w = put_c(w, b')')
    elif t == 11:
        w = put_s(w, b"time exceeded in-transit" if code == 0 else b"ip reassembly time exceeded")
    elif t == 13:
        w = put_s(w, b"time stamp query id ")
        w = put_u(w, rd16(p + l4 + 4))
        w = put_s(w, b" seq ")
        w = put_u(w, rd16(p + l4 + 6))
    else:
        name = _icmp_name(t)
        if name != NULL:
            w = put_s(w, name)
        else:
            w = put_s(w, b"type-#")
            w = put_u(w, t)
    w = put_s(w, b", length ")
    return put_u(w, <uint64_t>plen)


cdef inline uint8_t *_put_icmp6_type(uint8_t *w, uint8_t t) noexcept nogil:
    # "ICMP6, echo request" or "ICMP6, unknown icmp6 type (200)"
    cdef const char *name = _icmp6_name(t)
    w = put_s(w, b"ICMP6, ")
    if name != NULL:
        return put_s(w, name)
    w = put_s(w, b"unknown icmp6 type (")
    w = put_u(w, t)
    return put_c(w, b')')


cdef uint8_t *put_icmp6(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                        Py_ssize_t l4, Py_ssize_t plen, const uint8_t *src,
                        const uint8_t *dst) noexcept nogil:
    # "ICMP6, echo request, id 3, seq 4, length 16"; -v as tcpdump: the
    # checksum verdict first, the length after the name of neighbor discovery
    # messages (and not at all for echo), link-layer address options below.
    cdef uint8_t t = p[l4]
    cdef bint nd = t == 133 or t == 134 or t == 135 or t == 136 or t == 137
    cdef uint16_t expected, actual
    cdef Py_ssize_t opt, olen, first_opt
    if st.verbose and l4 + plen <= cap and plen >= 4:
        expected = _should_be(src, dst, 16, 58, p + l4, plen, 2)
        actual = rd16(p + l4 + 2)
        if _same_checksum(actual, expected):
            w = put_s(w, b"[icmp6 sum ok] ")
        else:
            w = put_s(w, b"[bad icmp6 cksum 0x")
            w = put_hex_pad(w, actual, 4)
            w = put_s(w, b" -> 0x")
            w = put_hex_pad(w, expected, 4)
            w = put_s(w, b"!] ")
    w = _put_icmp6_type(w, t)
    if st.verbose and nd:
        w = put_s(w, b", length ")
        w = put_u(w, <uint64_t>plen)
    if t == 128 or t == 129:
        w = put_s(w, b", id ")
        w = put_u(w, rd16(p + l4 + 4))
        w = put_s(w, b", seq ")
        w = put_u(w, rd16(p + l4 + 6))
    elif (t == 135 or t == 136) and l4 + 24 <= cap:
        w = put_s(w, b", who has " if t == 135 else b", tgt is ")
        w = put_ipv6(w, p + l4 + 8)
        if t == 136 and st.verbose:
            w = put_s(w, b", Flags [")
            if p[l4 + 4] & 0xE0 == 0:
                w = put_s(w, b"none")
            else:
                first_opt = 1
                if p[l4 + 4] & 0x80:
                    w = put_s(w, b"router")
                    first_opt = 0
                if p[l4 + 4] & 0x40:
                    w = put_s(w, b"solicited" if first_opt else b", solicited")
                    first_opt = 0
                if p[l4 + 4] & 0x20:
                    w = put_s(w, b"override" if first_opt else b", override")
            w = put_c(w, b']')
    elif t == 2 and l4 + 8 <= cap:
        w = put_s(w, b", mtu ")
        w = put_u(w, rd32(p + l4 + 4))
    elif t == 143:
        w = put_s(w, b", ")
        w = put_u(w, rd16(p + l4 + 6))
        w = put_s(w, b" group record(s)")
        if st.verbose:
            w = put_mldv2_records(w, st.verbose, p, cap, l4, plen)
    elif t == 1 and p[l4 + 1] == 4 and l4 + 52 <= cap and (p[l4 + 14] == 6 or p[l4 + 14] == 17):
        # port unreachable: the quoted packet's destination, protocol and port
        w = put_s(w, b", unreachable port, ")
        w = put_ipv6(w, p + l4 + 32)
        w = put_s(w, b" udp port " if p[l4 + 14] == 17 else b" tcp port ")
        w = put_u(w, rd16(p + l4 + 50))
    elif t == 3 and p[l4 + 1] == 0 and l4 + 48 <= cap:
        w = put_s(w, b" for ")
        w = put_ipv6(w, p + l4 + 32)
    if not st.verbose:
        w = put_s(w, b", length ")
        return put_u(w, <uint64_t>plen)
    if t == 133 or t == 135 or t == 136:
        # -v: source/target link-layer address options, as tcpdump lists them
        opt = l4 + (8 if t == 133 else 24)
        listed = w
        while opt + 2 <= cap and opt + 2 <= l4 + plen and w - listed < LIST_BUDGET:
            olen = <Py_ssize_t>p[opt + 1] * 8
            if olen == 0 or opt + olen > cap or opt + olen > l4 + plen:
                break
            if (p[opt] == 1 or p[opt] == 2) and olen == 8:
                w = put_s(w, b"\n\t  source link-address option (1), length 8 (1): "
                          if p[opt] == 1 else
                          b"\n\t  destination link-address option (2), length 8 (1): ")
                w = put_mac(w, p + opt + 2)
                if st.verbose > 1:      # -vv: the option's bytes, as tcpdump
                    w = put_hexdump_lead(w, p + opt + 2, 6, False, b"\n\t    0x")
            elif not _nd_option_named(p[opt]) and olen <= 64:
                # types tcpdump has no name for (the nonce of duplicate address
                # detection): a dump, the last one printed at -v
                w = put_s(w, b"\n\t  unknown option (")
                w = put_u(w, p[opt])
                w = put_s(w, b"), length ")
                w = put_u(w, <uint64_t>olen)
                w = put_s(w, b" (")
                w = put_u(w, p[opt + 1])
                w = put_s(w, b"): ")
                if st.verbose == 1:
                    w = put_hexdump_lead(w, p + opt + 2, olen - 2, False, b"\n\t  0x")
                    break
                w = put_hexdump_lead(w, p + opt + 2, olen - 2, False, b"\n\t    0x")
            else:
                break           # other options: tcpdump details them; ringcap stops here
            opt += olen
    return w


cdef uint8_t *put_icmp6_cut(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                            Py_ssize_t l4, Py_ssize_t plen) noexcept nogil:
    # An ICMPv6 header cut short (1 to 7 bytes captured): as tcpdump, its type
    # and what the bytes captured give, then "[|icmp6]"
    cdef uint8_t t = p[l4]
    w = _put_icmp6_type(w, t)
    if st.verbose and 133 <= t <= 137:
        w = put_s(w, b", length ")
        w = put_u(w, <uint64_t>plen)
    if l4 + 2 <= cap:
        if t == 1 and (p[l4 + 1] == 4 or p[l4 + 1] == 0):
            w = put_s(w, b", unreachable port" if p[l4 + 1] == 4 else b", unreachable route")
        elif t == 131 or t == 132 or t == 133 or (t == 134 and not st.verbose):
            # nothing past the code is printed (without -v)
            if st.verbose:
                return w
            w = put_s(w, b", length ")
            return put_u(w, <uint64_t>plen)
    return put_s(w, b" [|icmp6]")


cdef inline bint _nd_option_named(uint8_t t) noexcept nogil:
    # the neighbor discovery options tcpdump names (and details)
    return t == 1 or t == 2 or t == 3 or t == 4 or t == 5 or t == 7 or t == 8 or \
        t == 25 or t == 31


cdef uint8_t *put_mldv2_records(uint8_t *w, int verbose, const uint8_t *p, Py_ssize_t cap,
                                Py_ssize_t l4, Py_ssize_t plen) noexcept nogil:
    # -v: an MLDv2 report's group records as tcpdump's mldv2_report_print
    # (" [gaddr ff02::fb to_ex, 0 source(s)]"; -vv lists the sources in braces)
    cdef Py_ssize_t ngroups = rd16(p + l4 + 6), i, j, group = 8, nsrcs, at
    cdef uint8_t kind
    cdef uint8_t *listed = w
    for i in range(ngroups):
        if w - listed >= LIST_BUDGET:
            break
        if plen < group + 20:
            return put_s(w, b" [invalid number of groups]")
        at = l4 + group
        if at + 20 > cap:
            return put_s(w, b" [|icmp6]")
        w = put_s(w, b" [gaddr ")
        w = put_ipv6(w, p + at + 4)
        kind = p[at]
        if kind == 1: w = put_s(w, b" is_in")
        elif kind == 2: w = put_s(w, b" is_ex")
        elif kind == 3: w = put_s(w, b" to_in")
        elif kind == 4: w = put_s(w, b" to_ex")
        elif kind == 5: w = put_s(w, b" allow")
        elif kind == 6: w = put_s(w, b" block")
        else:
            w = put_s(w, b"  [v2-report-#")
            w = put_u(w, kind)
            w = put_c(w, b']')
        nsrcs = rd16(p + at + 2)
        if plen < group + 20 + nsrcs * 16:
            w = put_s(w, b" [invalid number of sources ")
            w = put_u(w, <uint64_t>nsrcs)
            return put_c(w, b']')
        if verbose == 1:
            w = put_s(w, b", ")
            w = put_u(w, <uint64_t>nsrcs)
            w = put_s(w, b" source(s)")
        else:
            w = put_s(w, b" {")
            for j in range(nsrcs):
                if at + 36 + j * 16 > cap:
                    return put_s(w, b" [|icmp6]")
                if w - listed >= LIST_BUDGET:
                    break
                w = put_c(w, b' ')
                w = put_ipv6(w, p + at + 20 + j * 16)
            w = put_s(w, b" }")
        group += 20 + nsrcs * 16
        w = put_c(w, b']')
    return w


cdef inline bint _is_ipv6_ext(uint8_t nh) noexcept nogil:
    return nh == 0 or nh == 43 or nh == 44 or nh == 51 or nh == 60 or nh == 135 or \
        nh == 139 or nh == 140


cdef uint8_t *put_ipv6_options(uint8_t *w, const uint8_t *p, Py_ssize_t start,
                               Py_ssize_t end, const uint8_t *listed,
                               bint *cut) noexcept nogil:
    # -v: a hop-by-hop or destination options header's options, as tcpdump
    # prints them: "(rtalert: 0x0000) (padn)"; "[...]" once the extension
    # headers' text (from `listed`) reaches LIST_BUDGET
    cdef Py_ssize_t i = start
    while i < end:
        if w - listed >= LIST_BUDGET:
            cut[0] = True
            return put_s(w, b"[...]")
        if p[i] == 0:
            w = put_s(w, b"(pad1)")
            i += 1
            continue
        if i + 2 > end or i + 2 + p[i + 1] > end:
            return put_s(w, b"[trunc]")
        if p[i] == 1:
            w = put_s(w, b"(padn)")
        elif p[i] == 5 and p[i + 1] == 2:
            w = put_s(w, b"(rtalert: 0x")
            w = put_hex_pad(w, rd16(p + i + 2), 4)
            w = put_s(w, b") ")
        else:
            w = put_s(w, b"(opt_type 0x")
            w = put_hex_pad(w, p[i], 2)
            w = put_s(w, b": len=")
            w = put_u(w, p[i + 1])
            w = put_c(w, b')')
        i += 2 + p[i + 1]
    return w


cdef uint8_t *put_ipv6_ext(uint8_t *w, const uint8_t *p, Py_ssize_t cap, Py_ssize_t l3,
                           Py_ssize_t ip_len, Py_ssize_t l4, int verbose,
                           bint *more) noexcept nogil:
    # IPv6 extension headers as tcpdump names them on the way to the
    # transport header: "HBH ", "DSTOPT ", "frag (offset|length) ", ...
    # OUT more: False when nothing follows (a non-first fragment).  The
    # names and -v options stop with "[...] " after LIST_BUDGET bytes of
    # text: a chain of thousands of headers, or one of 2 KiB of 2-byte
    # options, stays within MAX_LINE.
    cdef uint8_t nh = p[l3 + 6]
    cdef Py_ssize_t cur = l3 + 40, hlen
    cdef uint16_t offset
    cdef const uint8_t *listed = w
    cdef bint cut = False
    more[0] = True
    while _is_ipv6_ext(nh) and cur + 8 <= cap and (l4 == 0 or cur < l4):
        if w - listed >= LIST_BUDGET:
            return put_s(w, b"[...] ")
        if nh == 44:
            offset = rd16(p + cur + 2) & 0xFFF8
            w = put_s(w, b"frag (")
            if verbose:
                w = put_s(w, b"0x")
                w = put_hex_pad(w, rd32(p + cur + 4), 8)
                w = put_c(w, b':')
            w = put_u(w, offset)
            w = put_c(w, b'|')
            w = put_u(w, <uint64_t>(ip_len - (cur - l3) - 8) if ip_len > cur - l3 + 8 else 0)
            w = put_s(w, b") ")
            hlen = 8
            if offset:
                more[0] = False
                return w
        else:
            if nh == 0:
                w = put_s(w, b"HBH ")
            elif nh == 60:
                w = put_s(w, b"DSTOPT ")
            elif nh == 43:
                w = put_s(w, b"srcrt ")
            elif nh == 51:
                w = put_s(w, b"AH ")
            else:
                w = put_s(w, b"ip-proto-")
                w = put_u(w, nh)
                w = put_c(w, b' ')
            hlen = (<Py_ssize_t>p[cur + 1] + 2) * 4 if nh == 51 else \
                (<Py_ssize_t>p[cur + 1] + 1) * 8
            if verbose and (nh == 0 or nh == 60) and cur + hlen <= cap:
                w = put_ipv6_options(w, p, cur + 2, cur + hlen, listed, &cut)
                w = put_c(w, b' ')
                if cut:
                    return w
        nh = p[cur]
        cur += hlen
    return w


cdef uint8_t *put_quoted_ipv4(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                              Py_ssize_t l4) noexcept nogil:
    # -v: the IPv4 packet an ICMP error quotes, on lines of its own as tcpdump
    # prints it ("\n\tIP (tos ...)\n    a.p > b.q: UDP, length 0"); one level only.
    cdef uint8_t t = p[l4]
    cdef Py_ssize_t inner = l4 + 8, ihl, inner_len
    cdef uint16_t frag
    cdef uint32_t flags = 0
    if not (t == 3 or t == 4 or t == 5 or t == 11 or t == 12) or inner + 20 > cap \
            or p[inner] >> 4 != 4:
        return w
    ihl = (p[inner] & 0x0F) * 4
    inner_len = rd16(p + inner + 2)
    if ihl < 20 or inner_len < ihl:
        return w
    frag = rd16(p + inner + 6)
    if frag & 0x1FFF:
        flags = F_NONFIRST_FRAGMENT | F_FRAGMENT
    elif frag & 0x2000:
        flags = F_FRAGMENT
    w = put_s(w, b"\n\t")
    # tcpdump's ip_print names the protocol ("IP ") only without -e, quoted or not
    return put_ip(w, st, p, cap, inner, inner + ihl if inner + ihl <= cap else 0, 4,
                  p[inner + 9], inner_len, flags, not st.link_header, True)


cdef uint8_t *put_ip_missing(uint8_t *w, const uint8_t *p, Py_ssize_t l3, uint8_t version,
                             Py_ssize_t wire_left) noexcept nogil:
    # tcpdump's "truncated-ip - N bytes missing! " ("truncated-ip6 - N bytes
    # missing!", no space) when the IP header claims more than the frame holds
    # (an IPv4 length under its header, an IPv6 payload length 0: not said)
    cdef Py_ssize_t claimed
    if version == 4:
        claimed = rd16(p + l3 + 2)
        if claimed < (p[l3] & 0x0F) * 4 or claimed <= wire_left:
            return w
        w = put_s(w, b"truncated-ip - ")
        w = put_u(w, <uint64_t>(claimed - wire_left))
        return put_s(w, b" bytes missing! ")
    claimed = rd16(p + l3 + 4)
    if claimed == 0 or claimed + 40 <= wire_left:
        return w
    w = put_s(w, b"truncated-ip6 - ")
    w = put_u(w, <uint64_t>(claimed + 40 - wire_left))
    return put_s(w, b" bytes missing!")


cdef uint8_t *put_ip(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                     Py_ssize_t l3, Py_ssize_t l4, uint8_t version, uint8_t proto,
                     Py_ssize_t ip_len, uint32_t dflags, bint prefix,
                     bint quoted=False, Py_ssize_t wire_left=-1) noexcept nogil:
    # An IPv4/IPv6 packet at l3 (transport at l4, 0 if unknown), after the link part.
    # wire_left: the frame's bytes from l3 on (the outermost IP packet), to say
    # as tcpdump how many its header's length claims past them
    cdef const uint8_t *src
    cdef const uint8_t *dst
    cdef int addr_len = 4 if version == 4 else 16
    cdef Py_ssize_t l4_len, ulen, usum_len
    cdef uint16_t frag, expected, actual
    cdef uint8_t tos
    cdef uint32_t flow
    cdef bint more = True, addrs_done = False
    cdef uint8_t *app
    cdef uint8_t *opts
    cdef Py_ssize_t ihl
    cdef PairText *pair = NULL
    if version == 4:
        if l3 + 20 > cap:      # tcpdump: "IP  [|ip]", but " [|ip6]" alone
            return put_s(w, b"IP  [|ip]") if prefix else put_s(w, b" [|ip]")
        src = p + l3 + 12
        dst = p + l3 + 16
    else:
        if l3 + 40 > cap:
            return put_s(w, b" [|ip6]")
        src = p + l3 + 8
        dst = p + l3 + 24
    if prefix:
        w = put_s(w, b"IP " if version == 4 else b"IP6 ")
    if version == 4 and (p[l3] & 0x0F) < 5:
        w = put_s(w, b"bad-hlen ")      # (tcpdump checks it first, at any -v)
        return put_u(w, (p[l3] & 0x0F) * 4)
    if version == 4 and 0 < rd16(p + l3 + 2) < (p[l3] & 0x0F) * 4:
        # a total length under the header's: tcpdump's one word for it, at any -v
        # (a length 0, a TSO/GRO segment's, is decoded by the frame's length)
        w = put_s(w, b"bad-len ")
        return put_u(w, rd16(p + l3 + 2))
    if wire_left >= 0:
        w = put_ip_missing(w, p, l3, version, wire_left)
    if st.verbose:
        w = put_c(w, b'(')
        if version == 4:
            tos = p[l3 + 1]
            frag = rd16(p + l3 + 6)
            w = put_s(w, b"tos 0x")
            w = put_hex(w, tos)
            if tos & 3:
                w = put_s(w, b",ECT(1)" if tos & 3 == 1 else (b",ECT(0)" if tos & 3 == 2 else b",CE"))
            w = put_s(w, b", ttl ")
            w = put_u(w, p[l3 + 8])
            w = put_s(w, b", id ")
            w = put_u(w, rd16(p + l3 + 4))
            w = put_s(w, b", offset ")
            w = put_u(w, (frag & 0x1FFF) * 8)
            w = put_s(w, b", flags [")
            if frag & 0xE000 == 0:
                w = put_s(w, b"none")
            else:                   # bittok2str's order: more fragments, don't fragment, reserved
                if frag & 0x2000:
                    w = put_s(w, b"+, " if frag & 0xC000 else b"+")
                if frag & 0x4000:
                    w = put_s(w, b"DF, " if frag & 0x8000 else b"DF")
                if frag & 0x8000:
                    w = put_s(w, b"rsvd")
            w = put_s(w, b"], proto ")
            w = put_s(w, _ipproto_name(p[l3 + 9]))
            w = put_s(w, b" (")
            w = put_u(w, p[l3 + 9])
            w = put_s(w, b"), length ")
            w = put_u(w, rd16(p + l3 + 2))
            ihl = (p[l3] & 0x0F) * 4
            opts = w
            if ihl > 20 and l3 + ihl <= cap:
                w = put_s(w, b", options (")
                opts = put_ipv4_options(w, p + l3 + 20, ihl - 20, cap - l3 - 20)
                if opts == NULL:
                    # tcpdump prints what it had, this line what it can: no options
                    w = put_s(w, b" [truncated-option]")
                else:
                    w = opts
                w = put_c(w, b')')
            if ihl >= 20 and l3 + ihl <= cap and not st.no_checksums:
                w = put_bad_cksum(w, p + l3, ihl, 10, b", bad cksum ", b")!")
            w = put_s(w, b")\n    ")
            if opts == NULL:
                w = put_addr(w, src, addr_len)
                w = put_s(w, b" > ")
                w = put_addr(w, dst, addr_len)
                return put_s(w, b":  [|ip]")
        else:
            tos = <uint8_t>((rd16(p + l3) >> 4) & 0xFF)
            flow = rd32(p + l3) & 0xFFFFF
            if tos:
                w = put_s(w, b"class 0x")
                w = put_hex_pad(w, tos, 2)          # (tcpdump's %02x)
                w = put_s(w, b", ")
            if flow:
                w = put_s(w, b"flowlabel 0x")
                w = put_hex_pad(w, flow, 5)
                w = put_s(w, b", ")
            w = put_s(w, b"hlim ")
            w = put_u(w, p[l3 + 7])
            w = put_s(w, b", next-header ")
            w = put_s(w, _ipproto_name(p[l3 + 6]))
            w = put_s(w, b" (")
            w = put_u(w, p[l3 + 6])
            w = put_s(w, b") payload length: ")
            w = put_u(w, rd16(p + l3 + 4))
            w = put_s(w, b") ")
    l4_len = ip_len - (l4 - l3) if l4 else 0
    if l4_len < 0:
        l4_len = 0
    if version == 6 and _is_ipv6_ext(p[l3 + 6]):
        # tcpdump: "a > b: HBH ICMP6, ...", "a > b: frag (0|28) 40000 > 40001: UDP, ..."
        w = put_addr(w, src, addr_len)
        w = put_s(w, b" > ")
        w = put_addr(w, dst, addr_len)
        w = put_s(w, b": ")
        w = put_ipv6_ext(w, p, cap, l3, ip_len, l4, st.verbose, &more)
        if not more or l4 == 0:
            return w - 1            # no transport part: drop the separating space
        addrs_done = True
    if not addrs_done and (l4 == 0 or (dflags & F_NONFIRST_FRAGMENT)):
        w = put_addr(w, src, addr_len)
        w = put_s(w, b" > ")
        w = put_addr(w, dst, addr_len)
        if dflags & F_NONFIRST_FRAGMENT:
            w = put_s(w, b": ip-proto-")
            return put_u(w, proto)
        if dflags & F_BAD_IP_LENGTH:
            return put_s(w, b": [bad ip length]")
        if version == 6 and proto == 59:
            return put_s(w, b": no next header")
        return put_s(w, b": [|ip]")
    if proto == 6 or proto == 17:
        if l4 + 4 > cap:
            if not addrs_done:
                w = put_addr(w, src, addr_len)
                w = put_s(w, b" > ")
                w = put_addr(w, dst, addr_len)
                w = put_s(w, b": ")
            # tcpdump: "a > b: [|tcp]" but "a > b:  [|udp]"
            return put_s(w, b"[|tcp]" if proto == 6 else b" [|udp]")
        if not addrs_done and st.pair_rest == 0:
            w = put_pair(w, st, src, dst, addr_len, p + l4, &pair)
        else:
            if not addrs_done:
                st.pair_rest -= 1
                w = put_addr(w, src, addr_len)
                w = put_c(w, b'.')
            w = put_u(w, rd16(p + l4))
            w = put_s(w, b" > ")
            if not addrs_done:
                w = put_addr(w, dst, addr_len)
                w = put_c(w, b'.')
            w = put_u(w, rd16(p + l4 + 2))
            w = put_s(w, b": ")
        if proto == 6:
            if l4 + 20 > cap:
                return put_s(w, b" [|tcp]")
            return put_tcp(w, st, p, cap, l4, l4_len, src, dst, addr_len,
                           (dflags & F_FRAGMENT) != 0, pair)
        if l4 + 8 > cap:
            return put_s(w, b" [|udp]")
        if l4_len < 8:          # an IP payload shorter than the UDP header
            w = put_s(w, b"truncated-udp ")
            return put_u(w, <uint64_t>l4_len)
        ulen = rd16(p + l4 + 4)
        if ulen < 8:            # (tcpdump 4.99.3's words; "bad length N < 8" is later's)
            w = put_s(w, b"truncated-udplength ")
            return put_u(w, <uint64_t>ulen)
        # a UDP length past the IP payload: tcpdump checks the checksum and
        # prints a port's protocol over the payload, or says by how much (both
        # counted past the 8-byte header)
        usum_len = ulen if ulen < l4_len else l4_len
        if st.verbose and not st.no_checksums and not (dflags & F_FRAGMENT) \
                and (version == 6 or st.verbose > 1):
            # tcpdump checks IPv6 UDP checksums at -v, IPv4 ones (optional there) at -vv
            actual = rd16(p + l4 + 6)
            if version == 4 and actual == 0:
                w = put_s(w, b"[no cksum] ")
            elif l4 + usum_len <= cap:
                expected = _should_be(src, dst, addr_len, 17, p + l4, usum_len, 6)
                if expected == 0:
                    expected = 0xFFFF
                if actual == expected:
                    w = put_s(w, b"[udp sum ok] ")
                else:
                    w = put_s(w, b"[bad udp cksum 0x")
                    w = put_hex_pad(w, actual, 4)
                    w = put_s(w, b" -> 0x")
                    w = put_hex_pad(w, expected, 4)
                    w = put_s(w, b"!] ")
        if not st.quiet and not (dflags & F_FRAGMENT):
            # (as tcpdump, a port's printer takes what is left of the payload)
            app = put_udp_app(w, st, p, cap, l4, usum_len)  # DNS, DHCP, NTP, VXLAN (text_app.pxi)
            if app != NULL:
                return app
        if ulen > l4_len:
            w = put_s(w, b"UDP, bad length ")
            w = put_u(w, <uint64_t>(ulen - 8))
            w = put_s(w, b" > ")
            return put_u(w, <uint64_t>(l4_len - 8))
        if pair != NULL and pair.lengths.valid and pair.lengths.key == (<uint64_t>(ulen - 8) << 1 | 1):
            return put_kept(w, &pair.lengths)
        app = w
        w = put_s(w, b"UDP, length ")
        w = put_u(w, <uint64_t>(ulen - 8))
        if pair != NULL:
            keep(&pair.lengths, <uint64_t>(ulen - 8) << 1 | 1, app, w)
        return w
    if not addrs_done:
        w = put_addr(w, src, addr_len)
        w = put_s(w, b" > ")
        w = put_addr(w, dst, addr_len)
        w = put_s(w, b": ")
    if proto == 1 and version == 4:
        if l4 + 8 > cap:
            return put_s(w, b" [|icmp]")
        w = put_icmp(w, p, cap, l4, l4_len)
        if st.verbose and not (dflags & F_FRAGMENT) and l4 + l4_len <= cap:
            w = put_bad_cksum(w, p + l4, l4_len, 2, b" (wrong icmp cksum ", b")!)")
        if st.verbose and not quoted:
            w = put_quoted_ipv4(w, st, p, cap, l4)
        return w
    if proto == 58 and version == 6:
        if l4 + 8 > cap:
            return put_icmp6_cut(w, st, p, cap, l4, l4_len) if l4 < cap else put_s(w, b" [|icmp6]")
        return put_icmp6(w, st, p, cap, l4, l4_len, src, dst)
    if (proto == 47 or proto == 4 or proto == 41) and not (dflags & F_FRAGMENT) \
            and st.tunnel_depth == 0:
        # the packet inside, as tcpdump (text_tunnel.pxi); NULL: the line without it
        app = put_gre(w, st, p, cap, l4, l4_len) if proto == 47 else \
            put_inner_ip(w, st, p, cap, l4, l4_len, 4 if proto == 4 else 6)
        if app != NULL:
            return app
    if proto == 59:                   # IPPROTO_NONE over IPv4 too (tcpdump's ip_demux)
        return put_s(w, b"no next header")
    app = put_ip_lan(w, st, p, cap, l3, l4, l4_len, version, proto)    # IGMP, ESP, VRRP (text_lan.pxi)
    if app != NULL:
        return app
    w = put_s(w, b" ip-proto-")       # tcpdump prints two spaces here
    w = put_u(w, proto)
    w = put_c(w, b' ')
    return put_u(w, <uint64_t>l4_len)


cdef uint8_t *put_arp(uint8_t *w, const uint8_t *p, Py_ssize_t cap, Py_ssize_t l3,
                      Py_ssize_t length, int verbose) noexcept nogil:
    # "Request who-has 10.0.0.2 tell 10.0.0.1, length 28" (Ethernet/IPv4 ARP)
    cdef uint16_t htype, ptype, op
    cdef uint8_t hln, pln
    cdef const uint8_t *sha
    cdef const uint8_t *spa
    cdef const uint8_t *tha
    cdef const uint8_t *tpa
    cdef int i
    cdef bint nonzero = False
    if l3 + 8 > cap:
        return put_s(w, b"[|ARP]")
    htype = rd16(p + l3)
    ptype = rd16(p + l3 + 2)
    hln = p[l3 + 4]
    pln = p[l3 + 5]
    op = rd16(p + l3 + 6)
    if verbose:
        if htype == 1:
            w = put_s(w, b"Ethernet (len ")
        else:
            w = put_s(w, b"Unknown Hardware (")
            w = put_u(w, htype)
            w = put_s(w, b") (len ")
        w = put_u(w, hln)
        w = put_s(w, b"), ")
        w = put_s(w, b"IPv4 (len " if ptype == 0x0800 else b"Unknown Protocol (len ")
        w = put_u(w, pln)
        w = put_s(w, b"), ")
    if htype != 1 or ptype != 0x0800 or hln != 6 or pln != 4 or l3 + 28 > cap or op < 1 or op > 4:
        if l3 + 28 > cap and htype == 1 and ptype == 0x0800 and hln == 6 and pln == 4:
            return put_s(w, b"[|ARP]")
        w = put_s(w, b"Unknown (op ")
        w = put_u(w, op)
        w = put_s(w, b"), length ")
        return put_u(w, <uint64_t>length)
    sha = p + l3 + 8
    spa = p + l3 + 14
    tha = p + l3 + 18
    tpa = p + l3 + 24
    if op == 1:
        w = put_s(w, b"Request who-has ")
        w = put_ipv4(w, tpa)
        for i in range(6):
            if tha[i]:
                nonzero = True
        if nonzero:
            w = put_s(w, b" (")
            w = put_mac(w, tha)
            w = put_c(w, b')')
        w = put_s(w, b" tell ")
        w = put_ipv4(w, spa)
    elif op == 2:
        w = put_s(w, b"Reply ")
        w = put_ipv4(w, spa)
        w = put_s(w, b" is-at ")
        w = put_mac(w, sha)
    elif op == 3:
        w = put_s(w, b"Reverse Request who-is ")
        w = put_mac(w, tha)
        w = put_s(w, b" tell ")
        w = put_mac(w, sha)
    else:
        w = put_s(w, b"Reverse Reply ")
        w = put_mac(w, tha)
        w = put_s(w, b" at ")
        w = put_ipv4(w, tpa)
    w = put_s(w, b", length ")
    return put_u(w, <uint64_t>length)


cdef uint8_t *put_ethertype(uint8_t *w, uint16_t t, int quiet) noexcept nogil:
    # "ethertype IPv4 (0x0800)" (-q: "IPv4")
    cdef const char *name = _ethertype_name(t)
    if quiet:
        if name == NULL:
            w = put_s(w, b"Unknown Ethertype (0x")
            w = put_hex_pad(w, t, 4)
            return put_c(w, b')')
        return put_s(w, name)
    w = put_s(w, b"ethertype ")
    if name == NULL:
        name = b"Unknown"
    w = put_s(w, name)
    w = put_s(w, b" (0x")
    w = put_hex_pad(w, t, 4)
    return put_c(w, b')')


cdef uint8_t *put_vlan_tag(uint8_t *w, uint16_t tci) noexcept nogil:
    # "vlan 100, p 3, " (", DEI" when set)
    w = put_s(w, b"vlan ")
    w = put_u(w, tci & 0x0FFF)
    w = put_s(w, b", p ")
    w = put_u(w, tci >> 13)
    if tci & 0x1000:
        w = put_s(w, b", DEI")
    return put_s(w, b", ")


cdef uint8_t *put_vlan(uint8_t *w, uint16_t tci, uint16_t next_type, int quiet) noexcept nogil:
    # "vlan 100, p 3, ethertype IPv4 (0x0800), "
    w = put_vlan_tag(w, tci)
    w = put_ethertype(w, next_type, quiet)
    return put_s(w, b", ")


cdef inline bint _is_vlan(uint16_t t) noexcept nogil:
    return t == 0x8100 or t == 0x88A8 or t == 0x9100


cdef const char *_sll_pkttype_name(uint16_t t) noexcept nogil:
    # tcpdump's sll_pkttype_values
    if t == 0:
        return b"In"
    if t == 1:
        return b"B"
    if t == 2:
        return b"M"
    if t == 3:
        return b"P"
    if t == 4:
        return b"Out"
    return b"?"


cdef inline uint8_t *put_padded(uint8_t *w, const char *s, int width, bint left) noexcept nogil:
    # printf's %-Ns (left) or %Ns
    cdef int n = 0
    while s[n] != 0:
        n += 1
    if not left:
        while n < width:
            w = put_c(w, b' ')
            width -= 1
    w = put_s(w, s)
    if left:
        while n < width:
            w = put_c(w, b' ')
            n += 1
    return w


cdef uint8_t *put_llc(uint8_t *w, const uint8_t *p, Py_ssize_t cap, Py_ssize_t at,
                      Py_ssize_t length) noexcept nogil:
    # The 802.2 LLC header at `at` of a PDU of `length` bytes (an 802.3
    # frame's, or a cooked capture's of protocol 802.2): "LLC, dsap STP (0x42)
    # Individual, ssap STP (0x42) Command, ctrl 0x03, length 35".
    if cap < at + 3:
        return put_s(w, b"LLC [|llc]")
    w = put_s(w, b"LLC, dsap ")
    w = put_s(w, _sap_name(p[at]))
    w = put_s(w, b" (0x")
    w = put_hex_pad(w, p[at], 2)
    w = put_s(w, b") Group") if p[at] & 1 else put_s(w, b") Individual")
    w = put_s(w, b", ssap ")
    w = put_s(w, _sap_name(p[at + 1]))
    w = put_s(w, b" (0x")
    w = put_hex_pad(w, p[at + 1] & 0xFE, 2)
    w = put_s(w, b") Response") if p[at + 1] & 1 else put_s(w, b") Command")
    w = put_s(w, b", ctrl 0x")
    if (p[at + 2] & 3) == 3 or cap < at + 4:
        w = put_hex_pad(w, p[at + 2], 2)
        w = put_s(w, b", length ")
        return put_u(w, length - 3 if length >= 3 else 0)
    w = put_hex_pad(w, p[at + 2] | (<uint16_t>p[at + 3] << 8), 4)
    w = put_s(w, b", length ")
    return put_u(w, length - 4 if length >= 4 else 0)


cdef uint8_t *put_not_ip(uint8_t *w, const uint8_t *p, Py_ssize_t cap, Py_ssize_t at,
                         int declared, bint prefix) noexcept nogil:
    # A payload the link layer calls IPv4 (declared 4), IPv6 (6) or, raw IP,
    # either (0), which the decoder did not take for one: tcpdump's words for
    # it (ip_print, ip6_print, ipN_print).  NULL where tcpdump says something
    # else (the caller dumps it).
    cdef uint8_t v
    if cap <= at:
        # nothing of it: tcpdump's ip_print stops reading the version (no "IP "
        # before it), ip6_print checks the header's length
        if declared == 4:
            return put_s(w, b" [|ip]")
        return put_s(w, b" [|ip6]") if declared == 6 else NULL
    v = p[at] >> 4
    if declared == 0:
        if v != 4 and v != 6:
            return put_u(put_s(w, b"unknown ip "), v)
        declared = v
    if declared == 4:
        if v != 4:
            if v == 6:
                return put_s(w, b"IP6, wrong link-layer encapsulation (invalid)")
            return put_s(put_u(put_s(w, b"IP"), v), b" (invalid)")
        if cap - at < 20:
            return put_s(w, b"IP  [|ip]") if prefix else put_s(w, b" [|ip]")
        return NULL
    if cap - at < 40:
        return put_s(w, b" [|ip6]")
    if v != 6:
        if prefix:
            w = put_s(w, b"IP6 ")
        return put_s(put_u(put_s(w, b"version error: "), v), b" != 6")
    return NULL


cdef uint8_t *put_cooked_type(uint8_t *w, uint16_t t, Py_ssize_t wire, int quiet) noexcept nogil:
    # sll_print's "ethertype IPv4 (0x0800), length N: " (-q: nothing)
    if quiet:
        return w
    if t <= 1500:
        if t == 1:
            w = put_s(w, b"802.3")
        elif t == 4:
            w = put_s(w, b"802.2")
        else:
            w = put_s(w, b"ethertype Unknown (0x")
            w = put_hex_pad(w, t, 4)
            w = put_c(w, b')')
    else:
        w = put_ethertype(w, t, 0)
    w = put_s(w, b", length ")
    w = put_u(w, <uint64_t>wire)
    return put_s(w, b": ")


cdef inline uint8_t *end_line(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                              Py_ssize_t hdrlen) noexcept nogil:
    # The end of every packet's output: the -x/-X/-A dump (from the link
    # header with -xx/-XX, else from `hdrlen`, past it), then the newline.
    cdef Py_ssize_t dump_from = 0 if st.payload_link else hdrlen
    if cap > dump_from:
        if st.payload == PAYLOAD_HEX:
            w = put_hexdump(w, p + dump_from, cap - dump_from, False)
        elif st.payload == PAYLOAD_HEXASCII:
            w = put_hexdump(w, p + dump_from, cap - dump_from, True)
        elif st.payload == PAYLOAD_ASCII:
            w = put_ascii(w, p + dump_from, cap - dump_from)
    return put_c(w, b'\n')


cdef uint8_t *put_cooked_tags(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                              Py_ssize_t wire, Py_ssize_t *pos, uint16_t *proto) noexcept nogil:
    # The 802.1Q tags after a cooked header, as tcpdump's sll_if_print and
    # sll2_if_print recurse through them: -e shows "vlan N, p P, " and,
    # unless -q, "ethertype T, " follows each tag (with or without -e).
    # INOUT pos: where the tag starts, then the payload; proto: the type
    # field before it, then the payload's type.  Returns NULL after "[|vlan]"
    # (a tag cut short, where tcpdump stops printing).
    cdef const char *name
    cdef uint16_t tci
    cdef int tags = 0
    while proto[0] == 0x8100:
        if cap - pos[0] < 4 or wire - pos[0] < 4:
            return NULL
        if tags == MAX_VLAN_PRINTED:
            proto[0] = 0                    # not printed through: a hex dump follows
            return put_s(w, b"[...], ")
        tci = rd16(p + pos[0])
        proto[0] = rd16(p + pos[0] + 2)
        if proto[0] <= 1500:
            proto[0] = 4                    # tcpdump's LINUX_SLL_P_802_2
        if st.link_header:
            w = put_vlan_tag(w, tci)
        if not st.quiet:
            name = _ethertype_name(proto[0])
            if name == NULL:
                name = b"Unknown"
            w = put_s(w, b"ethertype ")
            w = put_s(w, name)
            w = put_s(w, b", ")
        pos[0] += 4
        tags += 1
    return w


cdef inline const char *_bsd_af_name(uint32_t family) noexcept nogil:
    # tcpdump's bsd_af_values (af.c): the BSD address families a NULL/LOOP header names
    if family == 2:
        return b"IPv4"
    if family == 24 or family == 28 or family == 30:
        return b"IPv6"
    if family == 6:
        return b"NS"
    if family == 7:
        return b"ISO"
    if family == 16:
        return b"Appletalk"
    if family == 23:
        return b"IPX"
    return NULL


cdef uint8_t *put_cooked_header(uint8_t *w, PrintState *st, const uint8_t *p,
                                uint16_t linktype, Py_ssize_t length) noexcept nogil:
    # tcpdump's sll_print/sll2_print: LINUX_SLL2 "ifindex N MAC ", LINUX_SLL
    # "In  MAC " (packet type), then unless -q "ethertype T (0x..), length
    # N: " (the header's protocol field).
    if linktype == LINKTYPE_LINUX_SLL2:
        w = put_s(w, b"ifindex ")
        w = put_u(w, rd32(p + 4))
        w = put_c(w, b' ')
        if p[11] == 6:
            w = put_mac(w, p + 12)
            w = put_c(w, b' ')
        return put_cooked_type(w, rd16(p), length, st.quiet)
    w = put_padded(w, _sll_pkttype_name(rd16(p)), 3, False)
    w = put_c(w, b' ')
    if rd16(p + 4) == 6:
        w = put_mac(w, p + 6)
        w = put_c(w, b' ')
    return put_cooked_type(w, rd16(p + 14), length, st.quiet)


cdef inline bint _arp_cut(const uint8_t *p, Py_ssize_t cap, Py_ssize_t l3) noexcept nogil:
    # An ARP packet where tcpdump prints " [|arp]" alone: its printer stopped
    # inside the link layer's, so its -x/-X/-A dump the frame from the start
    return l3 + 8 > cap or (l3 + 28 > cap and rd16(p + l3) == 1 and rd16(p + l3 + 2) == 0x0800
                            and p[l3 + 4] == 6 and p[l3 + 5] == 4)


cdef uint8_t *format_other_link(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                                Py_ssize_t wire, uint16_t linktype, const char *ifname,
                                uint16_t ethertype, Py_ssize_t l3, Py_ssize_t l4,
                                uint8_t version, uint8_t proto, Py_ssize_t ip_len,
                                uint32_t dflags) noexcept nogil:
    # The rest of a line (after the timestamp) for the link types other than
    # Ethernet, as tcpdump prints them: LINUX_SLL2 ("eth0  In "; -e adds
    # "ifindex N MAC ethertype T, length N: "), LINUX_SLL (-e: " In MAC
    # ethertype T, length N: "), then for both any 802.1Q tags ("vlan N, p P,
    # ethertype T, ") and, without -e, the -e header before a payload of an
    # unknown type; raw IP (-e: "ip: ") and NULL/LOOP (-e: "AF IPv4 (2),
    # length N: "), then the network layer.
    cdef Py_ssize_t hdrlen, cooked_len
    cdef uint32_t family
    cdef const char *af_name
    cdef uint16_t cooked_type = 0
    cdef uint8_t *tagged
    cdef uint8_t *said
    cdef int declared
    cdef bint known = (ethertype == 0x0800 or ethertype == 0x86DD or ethertype == 0x0806) \
        and not (dflags & (F_TRUNCATED_L2 | F_VLAN_LIMIT))
    if linktype == LINKTYPE_LINUX_SLL2 or linktype == LINKTYPE_LINUX_SLL:
        if linktype == LINKTYPE_LINUX_SLL2:
            hdrlen = cooked_len = 20
            if cap < hdrlen:
                return end_line(put_s(w, b" [|sll2]"), st, p, cap, 0)
            if ifname == NULL:
                ifname = b"?"
            w = put_padded(w, ifname, 5, True)
            w = put_c(w, b' ')
            w = put_padded(w, _sll_pkttype_name(p[10]), 3, True)
            w = put_c(w, b' ')
            cooked_type = rd16(p)
        else:
            hdrlen = cooked_len = 16
            if cap < hdrlen:
                return end_line(put_s(w, b" [|sll]"), st, p, cap, 0)
            cooked_type = rd16(p + 14)
        if st.link_header:
            w = put_cooked_header(w, st, p, linktype, wire)
        if cooked_type == 0x8100:
            tagged = put_cooked_tags(w, st, p, cap, wire, &hdrlen, &cooked_type)
            if tagged == NULL:          # (all of it taken as header: only -xx/-XX dump it)
                return end_line(put_s(w, b" [|vlan]"), st, p, cap, cap)
            w = tagged
        # printed through only where tcpdump goes on (0x8100 tags, then IP or ARP)
        known = known and cooked_type == ethertype
        if cooked_type > 1500 and not known and not st.link_header:
            # tcpdump shows the header it did not show before the unknown payload
            # (its length: what follows the tags, plus a cooked header)
            w = put_cooked_header(w, st, p, linktype, wire - hdrlen + cooked_len)
        elif known and ethertype == 0x0806 and not st.link_header and not _arp_cut(p, cap, l3):
            w = put_s(w, b"ARP, ")
    elif linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
        hdrlen = 4
        if cap < hdrlen:
            return end_line(put_s(w, b" [|null]"), st, p, cap, 0)
        # tcpdump reads the family in this host's byte order (GET_HE_U_4, NULL
        # and LOOP alike, whatever the file's order), then swaps it if its
        # upper 16 bits are set: an unknown family prints as tcpdump prints it
        memcpy(&family, p, 4)
        if family & 0xFFFF0000U:
            family = ((family >> 24) | ((family >> 8) & 0xFF00) | ((family << 8) & 0xFF0000)
                      | (family << 24))
        # (tcpdump shows the header of a family it does not know without -e too)
        if st.link_header or not (family == 2 or family == 24 or family == 28 or family == 30):
            # null_hdr_print: "AF IPv4 (2)", or with -q "IPv4" ("Unknown AF 99")
            af_name = _bsd_af_name(family)
            if st.quiet:
                if af_name == NULL:
                    w = put_u(put_s(w, b"Unknown AF "), family)
                else:
                    w = put_s(w, af_name)
            else:
                w = put_s(w, b"AF ")
                if af_name == NULL:
                    af_name = b"Unknown"
                w = put_s(w, af_name)
                w = put_s(w, b" (")
                w = put_u(w, family)
                w = put_c(w, b')')
            w = put_s(w, b", length ")
            w = put_u(w, <uint64_t>wire)
            w = put_s(w, b": ")
    else:                       # RAW (12, 14, 101), IPV4, IPV6
        hdrlen = 0
        if st.link_header:
            w = put_s(w, b"ip: ")
    if known and ethertype == 0x0806:
        if _arp_cut(p, cap, l3):
            w = put_s(w, b" [|arp]")
            hdrlen = 0
        else:
            w = put_arp(w, p, cap, l3, wire - l3, st.verbose)
    elif (linktype == LINKTYPE_LINUX_SLL2 or linktype == LINKTYPE_LINUX_SLL) \
            and cooked_type == 4 and wire >= hdrlen:
        # LLC frames (STP, CDP, ...) on a cooked capture: as on Ethernet
        said = put_stp_llc(w, st, p, cap, hdrlen, wire - hdrlen)      # (text_lan.pxi)
        w = said if said != NULL else put_llc(w, p, cap, hdrlen, wire - hdrlen)
    elif known and version:
        w = put_ip(w, st, p, cap, l3, l4, version, proto, ip_len, dflags, not st.link_header,
                   False, wire - l3)
    else:
        said = NULL
        if not version and not (dflags & (F_TRUNCATED_L2 | F_VLAN_LIMIT)):
            if linktype == LINKTYPE_LINUX_SLL2 or linktype == LINKTYPE_LINUX_SLL:
                declared = 4 if cooked_type == 0x0800 else (6 if cooked_type == 0x86DD else -1)
            elif linktype == LINKTYPE_NULL or linktype == LINKTYPE_LOOP:
                declared = 4 if ethertype == 0x0800 else (6 if ethertype == 0x86DD else -1)
            else:
                declared = 0
            if declared >= 0:
                said = put_not_ip(w, p, cap, hdrlen, declared, not st.link_header)
                if declared == 4 and cap <= hdrlen:
                    hdrlen = 0      # tcpdump stopped inside its link printer: -x dumps it too
        if said != NULL:
            w = said
        elif st.quiet == 0 and st.payload != PAYLOAD_HEX and st.payload != PAYLOAD_HEXASCII \
                and cap > hdrlen:
            w = put_hexdump(w, p + hdrlen, cap - hdrlen, True)   # tcpdump's default print
    return end_line(w, st, p, cap, hdrlen)


cdef uint8_t *put_invalid_header(uint8_t *w, Py_ssize_t cap, Py_ssize_t wire) noexcept nogil:
    # tcpdump's line for a record whose lengths cannot be (print.c's sanity
    # checks): no time, nothing decoded, and the -ttt clock is not moved
    w = put_s(w, b"[Invalid header:")
    if cap == 0:
        w = put_s(w, b" caplen==0")
    if wire == 0:
        if cap == 0:
            w = put_c(w, b',')
        w = put_s(w, b" len==0")
    elif wire < cap:
        w = put_s(w, b" len(")
        w = put_u(w, <uint64_t>wire)
        w = put_s(w, b") < caplen(")
        w = put_u(w, <uint64_t>cap)
        w = put_c(w, b')')
    return put_s(w, b"]\n")


cdef uint8_t *format_packet(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                            Py_ssize_t wire, int64_t ts, int64_t gmtoff, uint32_t status,
                            uint16_t meta_tci, uint16_t ethertype, Py_ssize_t l3,
                            Py_ssize_t l4, uint8_t version, uint8_t proto, Py_ssize_t ip_len,
                            uint32_t dflags, uint16_t linktype=LINKTYPE_ETHERNET,
                            const char *ifname=NULL) noexcept nogil:
    # One packet's line(s), ending in '\n'.
    cdef Py_ssize_t pos, hdrlen
    cdef uint16_t t, outer_type
    cdef bint meta = (dflags & F_VLAN_FROM_METADATA) != 0
    cdef bint known, unknown_dump = False, mpls = False, lldp = False
    cdef uint8_t *said
    if st.number:
        w = put_number(w, st)
    if cap == 0 or wire == 0 or wire < cap:
        return put_invalid_header(w, cap, wire)
    w = put_timestamp(w, st, ts, gmtoff)
    if linktype != LINKTYPE_ETHERNET:
        return format_other_link(w, st, p, cap, wire, linktype, ifname, ethertype, l3, l4,
                                 version, proto, ip_len, dflags)
    if cap < 14:                # (tcpdump's -x dumps nothing of it, -xx all)
        return end_line(put_s(w, b" [|ether]"), st, p, cap, cap)
    t = rd16(p + 12)
    hdrlen = 14
    if t <= 1500:
        # 802.3 frame: the LLC header and the length of what follows it
        if st.link_header:
            w = put_mac(w, p + 6)
            w = put_s(w, b" > ")
            w = put_mac(w, p)
            w = put_s(w, b", 802.3, length ")
            w = put_u(w, t)
            w = put_s(w, b": ")
        said = put_stp_llc(w, st, p, cap, 14, t)        # spanning tree BPDUs (text_lan.pxi)
        w = said if said != NULL else put_llc(w, p, cap, 14, t)
    else:
        outer_type = 0x8100 if meta else t
        known = (ethertype == 0x0800 or ethertype == 0x86DD or ethertype == 0x0806) \
            and not (dflags & (F_TRUNCATED_L2 | F_VLAN_LIMIT))
        if not known and (ethertype == 0x8847 or ethertype == 0x8848) and l3 > 0 \
                and not (dflags & (F_TRUNCATED_L2 | F_VLAN_LIMIT)):
            mpls = known = _mpls_printable(st, p, cap, l3, wire - l3)   # text_tunnel.pxi
        if not known and ethertype == 0x88CC and l3 > 0 and not st.verbose \
                and not (dflags & (F_TRUNCATED_L2 | F_VLAN_LIMIT)):
            lldp = known = True         # LLDP without -v (text_lan.pxi)
        if st.link_header or not known:
            w = put_mac(w, p + 6)
            w = put_s(w, b" > ")
            w = put_mac(w, p)
            w = put_s(w, b", ")
            w = put_ethertype(w, outer_type, st.quiet)
            w = put_s(w, b", length ")
            w = put_u(w, <uint64_t>(wire + 4 if meta else wire))
            w = put_s(w, b": ")
            if meta:
                w = put_vlan(w, meta_tci, t, st.quiet)
            pos = 12
            while _is_vlan(rd16(p + pos)):
                if pos + 6 > cap:
                    w = put_s(w, b"[|vlan]")
                    break
                if pos >= 12 + 4 * MAX_VLAN_PRINTED:
                    w = put_s(w, b"[...], ")
                    break
                w = put_vlan(w, rd16(p + pos + 2), rd16(p + pos + 4), st.quiet)
                pos += 4
        if l3 > 0:
            hdrlen = l3
        if not known:
            if l3 == 0 or dflags & (F_TRUNCATED_L2 | F_VLAN_LIMIT):
                pass
            elif st.quiet == 0 and st.payload != PAYLOAD_HEX and st.payload != PAYLOAD_HEXASCII:
                unknown_dump = True     # tcpdump's default print; -x/-X replace it
        elif mpls:
            w = put_mpls(w, st, p, cap, l3, wire - l3)
        elif lldp:
            w = put_lldp(w, p, cap, l3, wire - l3)
        elif ethertype == 0x0806:
            if _arp_cut(p, cap, l3):
                w = put_s(w, b" [|arp]")
                hdrlen = 0
            else:
                if not st.link_header:
                    w = put_s(w, b"ARP, ")
                w = put_arp(w, p, cap, l3, wire - l3, st.verbose)
        else:
            said = NULL
            if not version:     # not the IP the ethertype says: tcpdump's words for it
                said = put_not_ip(w, p, cap, l3, 4 if ethertype == 0x0800 else 6,
                                  not st.link_header)
                if ethertype == 0x0800 and cap <= l3:
                    hdrlen = 0      # tcpdump stopped inside its link printer: -x dumps it too
            if said != NULL:
                w = said
            else:
                w = put_ip(w, st, p, cap, l3, l4,
                           version if version else (4 if ethertype == 0x0800 else 6),
                           proto, ip_len, dflags, not st.link_header, False, wire - l3)
    if unknown_dump and cap > hdrlen:
        w = put_hexdump(w, p + hdrlen, cap - hdrlen, True)
    return end_line(w, st, p, cap, hdrlen)


# ---------------------------------------------------------------- the formatter
cdef class LineFormatter:
    """tcpdump-style lines for batches; holds the state tcpdump keeps between packets.

    ``format(...)`` takes a batch's columns and its decoded offsets and
    fills ``out`` from the first byte; see ringcap.cli.printer for the
    Python wrapper.
    """
    cdef PrintState st

    def __cinit__(self):
        memset(&self.st, 0, sizeof(PrintState))

    def __init__(self, *, bint link_header=False, int quiet=0, int verbose=0, payload=None,
                 bint payload_link=False, timestamps="time", bint nano=False,
                 bint absolute_seq=False, bint number=False, bint no_checksums=False):
        if payload not in PAYLOAD_MODES:
            raise ValueError(f"payload must be one of {sorted(PAYLOAD_MODES, key=str)}, "
                             f"got {payload!r}")
        if timestamps not in TIMESTAMP_MODES:
            raise ValueError(f"timestamps must be one of {sorted(TIMESTAMP_MODES)}, "
                             f"got {timestamps!r}")
        self.st.link_header = link_header
        self.st.quiet = quiet
        self.st.verbose = verbose
        self.st.payload = PAYLOAD_MODES[payload]
        self.st.payload_link = payload_link
        self.st.ts_mode = TIMESTAMP_MODES[timestamps]
        self.st.nano = nano
        self.st.absolute_seq = absolute_seq
        self.st.no_checksums = no_checksums
        self.st.number = number

    def __dealloc__(self):
        free(self.st.seqs.entries)
        self.st.seqs.entries = NULL

    @property
    def tcp_conversations(self):
        """Conversations whose initial sequence numbers are remembered (for relative numbers)."""
        return self.st.seqs.count

    def format(self, const uint8_t[::1] data, const int64_t[::1] offset,
               const uint32_t[::1] caplen, const uint32_t[::1] wirelen, const int64_t[::1] ts,
               const uint32_t[::1] status, const uint16_t[::1] vlan_tci,
               const uint16_t[::1] ethertype, const uint16_t[::1] l3_offset,
               const uint16_t[::1] l4_offset, const uint8_t[::1] ip_version,
               const uint8_t[::1] ip_proto, const uint32_t[::1] ip_len,
               const uint32_t[::1] flags, const int64_t[::1] gmtoff, Py_ssize_t start,
               uint8_t[::1] out, const uint16_t[::1] linktype=None,
               const uint8_t[::1] ifnames=None, const uint16_t[::1] ifname_index=None):
        """Write lines for packets ``start``, ``start + 1``, ... into ``out``.

        ``linktype``: each packet's link type (None: all Ethernet); packets
        must be of the link types ringcap decodes.  ``ifnames``: NUL-padded
        interface names of 16 bytes each, and ``ifname_index`` each packet's
        entry (LINUX_SLL2 lines start with the interface's name).

        ``gmtoff`` holds the local time's offset from UTC in seconds: one
        value for the whole batch or one per packet.  Returns ``(next,
        nbytes)``: the first packet not written and the bytes used.  Stops
        early when the next packet might not fit (see :func:`bytes_needed`);
        raises ValueError when not even one packet fits or the columns
        disagree.
        """
        cdef Py_ssize_t n = offset.shape[0], i, room, cap
        cdef uint8_t *base
        cdef uint8_t *w
        cdef uint8_t *end
        cdef const uint8_t *p
        cdef const uint8_t *bytes_base
        cdef Py_ssize_t data_len = data.shape[0]
        cdef bint per_packet_offset = gmtoff.shape[0] == n
        for name, column in (("caplen", caplen), ("wirelen", wirelen), ("ts", ts),
                             ("status", status), ("vlan_tci", vlan_tci),
                             ("ethertype", ethertype), ("l3_offset", l3_offset),
                             ("l4_offset", l4_offset), ("ip_version", ip_version),
                             ("ip_proto", ip_proto), ("ip_len", ip_len), ("flags", flags)):
            if column.shape[0] != n:
                raise ValueError(f"{name} has {column.shape[0]} entries, offset has {n}")
        if gmtoff.shape[0] != 1 and not per_packet_offset:
            raise ValueError(f"gmtoff must hold 1 or {n} values, got {gmtoff.shape[0]}")
        cdef const uint16_t *linktype_p = NULL
        cdef const uint16_t *name_index_p = NULL
        cdef const char *names_p = NULL
        cdef Py_ssize_t name_count = 0
        if linktype is not None:
            if linktype.shape[0] != n:
                raise ValueError(f"linktype has {linktype.shape[0]} entries, offset has {n}")
            if n:
                linktype_p = &linktype[0]
        if ifnames is not None and ifname_index is not None and ifnames.shape[0]:
            if ifnames.shape[0] % IFNAME_BYTES or ifname_index.shape[0] != n:
                raise ValueError("ifnames must hold 16-byte entries and ifname_index one per packet")
            name_count = ifnames.shape[0] // IFNAME_BYTES
            for i in range(name_count):
                if ifnames[i * IFNAME_BYTES + IFNAME_BYTES - 1] != 0:
                    raise ValueError(f"interface name {i} is not NUL-terminated")
            for i in range(n):
                if ifname_index[i] >= name_count:
                    raise ValueError(f"ifname_index[{i}] is past the {name_count} names")
            names_p = <const char *>&ifnames[0]
            if n:
                name_index_p = &ifname_index[0]
        if start < 0 or start > n:
            raise ValueError(f"start {start} outside 0..{n}")
        for i in range(start, n):
            if offset[i] < 0 or caplen[i] > data_len or offset[i] > data_len - caplen[i]:
                raise ValueError(f"packet {i} lies outside data")
        if start == n:
            return n, 0
        if out.shape[0] < _need(caplen[start]):
            raise ValueError(f"out has {out.shape[0]} bytes; packet {start} needs "
                             f"{_need(caplen[start])}")
        base = &out[0]
        end = base + out.shape[0]
        bytes_base = &data[0] if data_len else NULL
        w = base
        with nogil:
            i = start
            while i < n:
                cap = caplen[i]
                if end - w < _need(cap):
                    break
                if bytes_base != NULL and i + PREFETCH_AHEAD < n:
                    RINGCAP_PREFETCH(bytes_base + offset[i + PREFETCH_AHEAD])
                p = bytes_base + offset[i] if bytes_base != NULL else <const uint8_t *>base
                if bytes_base == NULL:
                    cap = 0
                w = format_packet(w, &self.st, p, cap, wirelen[i], ts[i],
                                  gmtoff[i] if per_packet_offset else gmtoff[0], status[i],
                                  vlan_tci[i], ethertype[i], l3_offset[i], l4_offset[i],
                                  ip_version[i], ip_proto[i], ip_len[i], flags[i],
                                  LINKTYPE_ETHERNET if linktype_p == NULL else linktype_p[i],
                                  names_p + IFNAME_BYTES * name_index_p[i]
                                  if name_index_p != NULL else NULL)
                i += 1
        return i, w - base


include "text_app.pxi"
include "text_bootp.pxi"
include "text_tunnel.pxi"
include "text_lan.pxi"
