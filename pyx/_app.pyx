# Application-layer columns: DNS, HTTP/1.x, DHCPv4, NTP, TLS and QUIC hellos.
#
# decode_app runs after the header pass (pyx/_decode.pyx) and reads what it
# wrote: ip_proto, the ports and each packet's payload offset and length.
# Packets that carry no TCP/UDP payload cost one test.  Each message is
# decoded from the packet that starts it; nothing is reassembled.  A message
# that goes on past its packet (or past the captured bytes) is decoded as far
# as it was captured and flagged APP_TRUNCATED; one that cannot be what its
# port or first bytes say is flagged APP_MALFORMED.  Every read is bounded by
# the captured payload (debug builds also count any read that would overrun,
# as _decode does).  A field that could not be read is 0 or the empty string,
# never a guess.
#
# Strings are stored Arrow-style: per column an int32 offsets array of n + 1
# entries (the caller's) and one byte buffer that grows as strings are
# appended (malloc'd here, copied once into a numpy array, or bytes, at the
# end).  The bytes are UTF-8: control characters and bytes that do not form
# UTF-8 are written as \xNN.
#
# The module imports numpy only when a call makes numpy arrays: `ringcap
# fields` runs the pass over array.array columns without it (start-up).

from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t, int32_t, int64_t, INT32_MAX, uintptr_t
from libc.string cimport memchr, memcpy, memset
from libc.stdlib cimport malloc, calloc, realloc, free
from cpython.buffer cimport (PyObject_CheckBuffer, PyObject_GetBuffer, PyBuffer_Release,
                             PyBUF_C_CONTIGUOUS, PyBUF_WRITABLE, PyBUF_FORMAT)
from cpython.bytes cimport PyBytes_FromStringAndSize

from includes.decode_defs cimport RINGCAP_CHECKED_READS, IPPROTO_TCP, IPPROTO_UDP
from includes.decode_defs cimport (CAND_UDP_PORT, CAND_UDP_KNOWN, CAND_TCP_PORT,
                                   CAND_TCP_KNOWN, CAND_QUIC, CAND_TLS, CAND_HTTP,
                                   app_tls_hello_start, app_quic_initial_start)

cdef extern from "<arpa/inet.h>" nogil:
    const char *inet_ntop(int af, const void *src, char *dst, unsigned int size)
    int AF_INET
    int AF_INET6

cdef extern from *:
    """
    #define rc_prefetch(p) __builtin_prefetch((const void *)(p))
    """
    void rc_prefetch(const void *p) nogil

cdef extern from "tls_hello.h" nogil:
    ctypedef struct rc_tls_hello:
        uint16_t legacy_version, version
        uint32_t sni_off, sni_len
        uint32_t alpn_off, alpn_len
        char ja4[37]
        uint16_t cipher
        uint8_t is_client, is_server, truncated, malformed
    ctypedef struct rc_ja4_memo:
        pass
    int rc_tls_parse_record_memo(const uint8_t *p, size_t len, char quic_or_tcp, rc_tls_hello *out,
                                 rc_ja4_memo *memo)
    int rc_tls_parse_handshake_memo(const uint8_t *p, size_t len, char quic_or_tcp,
                                    rc_tls_hello *out, rc_ja4_memo *memo)
    int rc_quic_initial(const uint8_t *p, size_t len, uint8_t *scratch, size_t scratch_len,
                        uint32_t *version, uint8_t *dcid_len, const uint8_t **crypto,
                        size_t *crypto_len)

cdef enum:
    # app_proto values
    APP_NONE = 0
    APP_DNS = 1
    APP_HTTP = 2
    APP_TLS = 3
    APP_DHCP = 4
    APP_NTP = 5
    APP_QUIC = 6
    # bits in the header flags column (high bits: the header pass uses the low ones)
    F_APP_MALFORMED = 1 << 29     # not what its port or first bytes say: columns left empty
    F_APP_TRUNCATED = 1 << 30     # the message goes on past this packet or the captured bytes
    # limits
    DNS_MAX_NAME = 255            # wire octets of a name (RFC 1035 3.1)
    DNS_MAX_JUMPS = 128           # compression pointers followed in one name
    DNS_MAX_ANSWERS = 64          # answer records looked through for the first A/AAAA
    NAME_ROOM = 4 * DNS_MAX_NAME + 8
    HTTP_MAX_TOKEN = 24           # longest request method accepted
    QUIC_SCRATCH = 65536 + 64     # any UDP payload, decrypted, fits
    # _port_kind bits: the protocols a port number belongs to
    PORT_DNS_UDP = 1              # 53, mDNS 5353, LLMNR 5355
    PORT_DNS_TCP = 2              # 53, 5355
    PORT_DHCP = 4                 # 67, 68
    PORT_NTP = 8                  # 123

FLAG_BITS = {"APP_MALFORMED": F_APP_MALFORMED, "APP_TRUNCATED": F_APP_TRUNCATED}
APP_PROTOCOLS = {"dns": APP_DNS, "http": APP_HTTP, "tls": APP_TLS, "dhcp": APP_DHCP,
                 "ntp": APP_NTP, "quic": APP_QUIC}
CHECKED_READS = bool(RINGCAP_CHECKED_READS)

# Every application column: (name, numpy dtype or "str", values per packet).
# Fixed-width columns of the protocols asked for are always all filled (they
# are cheap); string columns only when asked for.
COLUMN_LAYOUT = (
    ("app_proto", "u1", 1),
    ("dns_id", "u2", 1),
    ("dns_qr", "u1", 1),
    ("dns_opcode", "u1", 1),
    ("dns_rcode", "u1", 1),
    ("dns_qname", "str", 1),
    ("dns_qtype", "u2", 1),
    ("dns_ancount", "u2", 1),
    ("dns_answer", "str", 1),
    ("http_method", "str", 1),
    ("http_host", "str", 1),
    ("http_path", "str", 1),
    ("http_user_agent", "str", 1),
    ("http_status", "u2", 1),
    ("dhcp_msg_type", "u1", 1),
    ("dhcp_client_mac", "u1", 6),
    ("dhcp_hostname", "str", 1),
    ("dhcp_requested_ip", "u4", 1),
    ("ntp_version", "u1", 1),
    ("ntp_mode", "u1", 1),
    ("ntp_stratum", "u1", 1),
    ("tls_handshake", "u1", 1),
    ("tls_version", "u2", 1),
    ("tls_cipher", "u2", 1),
    ("tls_sni", "str", 1),
    ("tls_alpn", "str", 1),
    ("tls_ja4", "str", 1),
    ("quic_version", "u4", 1),
    ("quic_dcid_len", "u1", 1),
)

cdef const char *_HEX = b"0123456789abcdef"
cdef Py_ssize_t _overruns = 0   # debug builds: reads that would have passed the captured bytes


def overrun_count():
    """Reads past the captured payload seen by a debug build since the last reset (always 0 in release)."""
    return _overruns


def reset_overrun_count():
    global _overruns
    _overruns = 0


# ---------------------------------------------------------------- reading bytes
cdef inline bint _overrun(Py_ssize_t k, Py_ssize_t width, Py_ssize_t n) noexcept nogil:
    global _overruns
    if k < 0 or k + width > n:
        _overruns += 1
        return True
    return False


cdef inline uint8_t rd8(const uint8_t *p, Py_ssize_t k, Py_ssize_t n) noexcept nogil:
    if RINGCAP_CHECKED_READS and _overrun(k, 1, n):
        return 0
    return p[k]


cdef inline uint16_t rd16(const uint8_t *p, Py_ssize_t k, Py_ssize_t n) noexcept nogil:
    if RINGCAP_CHECKED_READS and _overrun(k, 2, n):
        return 0
    return (<uint16_t>p[k] << 8) | p[k + 1]


cdef inline uint32_t rd32(const uint8_t *p, Py_ssize_t k, Py_ssize_t n) noexcept nogil:
    if RINGCAP_CHECKED_READS and _overrun(k, 4, n):
        return 0
    return ((<uint32_t>p[k] << 24) | (<uint32_t>p[k + 1] << 16)
            | (<uint32_t>p[k + 2] << 8) | p[k + 3])


# ---------------------------------------------------------------- string columns
cdef struct StrCol:
    int32_t *offsets       # n + 1 entries (the caller's array); NULL: column not wanted
    uint8_t *data          # malloc'd, grows by doubling
    Py_ssize_t length, capacity
    Py_ssize_t filled      # offsets[0..filled] are set


cdef inline void _fill(int32_t *offsets, Py_ssize_t start, Py_ssize_t stop,
                       int32_t value) noexcept nogil:
    # offsets[start:stop] = value: the rows without a string (most rows), 16
    # at a time by a fixed-size copy, which compiles to wide stores (-O2 does
    # not vectorize a loop of unknown length: it stored one a time)
    cdef int32_t block[16]
    cdef Py_ssize_t k
    if stop - start >= 16:
        for k in range(16):
            block[k] = value
        while start + 16 <= stop:
            memcpy(offsets + start, block, sizeof(block))
            start += 16
    for k in range(start, stop):
        offsets[k] = value


cdef uint8_t *_reserve(StrCol *s, Py_ssize_t i, Py_ssize_t need, bint *failed) noexcept nogil:
    # Room for up to `need` bytes of packet i's string (packets come in order);
    # NULL when the column is not wanted or memory ran out (*failed set).
    cdef Py_ssize_t capacity
    cdef uint8_t *grown
    if s.offsets == NULL:
        return NULL
    if s.filled < i:
        _fill(s.offsets, s.filled + 1, i + 1, <int32_t>s.length)
        s.filled = i
    if s.length + need > s.capacity:
        capacity = 2 * s.capacity
        if capacity < s.length + need:
            capacity = s.length + need
        if capacity < 4096:
            capacity = 4096
        if capacity > INT32_MAX:            # int32 offsets, as Arrow's string type
            if s.length + need > INT32_MAX:
                failed[0] = True
                return NULL
            capacity = INT32_MAX
        grown = <uint8_t *>realloc(s.data, capacity)
        if grown == NULL:
            failed[0] = True
            return NULL
        s.data = grown
        s.capacity = capacity
    return s.data + s.length


cdef inline void _commit(StrCol *s, Py_ssize_t i, Py_ssize_t used) noexcept nogil:
    s.length += used
    s.offsets[i + 1] = <int32_t>s.length
    s.filled = i + 1


cdef inline void _finish(StrCol *s, Py_ssize_t n) noexcept nogil:
    if s.offsets == NULL:
        return
    if s.filled < n:
        _fill(s.offsets, s.filled + 1, n + 1, <int32_t>s.length)
        s.filled = n


cdef inline Py_ssize_t _utf8_run(const uint8_t *p, Py_ssize_t k, Py_ssize_t end) noexcept nogil:
    # Length of the well-formed UTF-8 sequence (2-4 bytes) starting at p[k], or 0.
    cdef uint8_t c = p[k]
    cdef Py_ssize_t need, j
    cdef uint8_t lo = 0x80, hi = 0xBF
    if 0xC2 <= c <= 0xDF:
        need = 2
    elif 0xE0 <= c <= 0xEF:
        need = 3
        if c == 0xE0:
            lo = 0xA0
        elif c == 0xED:
            hi = 0x9F
    elif 0xF0 <= c <= 0xF4:
        need = 4
        if c == 0xF0:
            lo = 0x90
        elif c == 0xF4:
            hi = 0x8F
    else:
        return 0
    if k + need > end:
        return 0
    if not (lo <= p[k + 1] <= hi):
        return 0
    for j in range(2, need):
        if not (0x80 <= p[k + j] <= 0xBF):
            return 0
    return need


cdef uint8_t _plain_byte[2][256]    # [lower][byte]: a printable ASCII byte as _text
for _byte in range(256):            # writes it (A-Z lower-cased in [1]); else 0
    _plain_byte[0][_byte] = _byte if 0x20 <= _byte < 0x7F else 0
    _plain_byte[1][_byte] = (_byte + 0x20 if 0x41 <= _byte <= 0x5A else _byte) \
        if 0x20 <= _byte < 0x7F else 0


cdef Py_ssize_t _text(uint8_t *w, const uint8_t *p, Py_ssize_t k, Py_ssize_t end,
                      bint lower) noexcept nogil:
    # IN p[k:end] (already checked to lie inside the captured bytes); OUT w
    # (room for 4 * (end - k) bytes): UTF-8 text, control characters and
    # bytes that are not UTF-8 as \xNN, ASCII lower-cased if `lower`.
    # Returns the bytes written.
    cdef Py_ssize_t o = 0, run, j
    cdef uint8_t c, t
    cdef uint64_t x, upper
    cdef const uint8_t *plain = _plain_byte[1 if lower else 0]
    while k < end:
        if k + 8 <= end:
            # Eight bytes at a time while all are printable ASCII (0x20-0x7E):
            # no byte below 0x20, none at 0x7F or above; upper-case letters get
            # 0x20 added together.  Otherwise byte by byte below.
            memcpy(&x, p + k, 8)
            if ((x - 0x2020202020202020ULL) & ~x & 0x8080808080808080ULL) == 0 \
                    and ((x + 0x0101010101010101ULL) | x) & 0x8080808080808080ULL == 0:
                if lower:
                    upper = (x + 0x3F3F3F3F3F3F3F3FULL) & ~(x + 0x2525252525252525ULL) \
                        & 0x8080808080808080ULL
                    x |= upper >> 2
                memcpy(w + o, &x, 8)
                o += 8
                k += 8
                continue
        c = p[k]
        t = plain[c]
        if t:
            w[o] = t
            o += 1
            k += 1
            continue
        run = _utf8_run(p, k, end) if c >= 0x80 else 0
        if run:
            for j in range(run):
                w[o + j] = p[k + j]
            o += run
            k += run
            continue
        w[o] = 0x5C        # backslash
        w[o + 1] = 0x78    # x
        w[o + 2] = _HEX[c >> 4]
        w[o + 3] = _HEX[c & 15]
        o += 4
        k += 1
    return o


cdef inline void _put_text(StrCol *s, Py_ssize_t i, const uint8_t *p, Py_ssize_t k,
                           Py_ssize_t end, bint lower, bint *failed) noexcept nogil:
    cdef uint8_t *w = _reserve(s, i, 4 * (end - k), failed)
    if w != NULL:
        _commit(s, i, _text(w, p, k, end, lower))


cdef inline void _put_bytes(StrCol *s, Py_ssize_t i, const char *text, Py_ssize_t size,
                            bint *failed) noexcept nogil:
    cdef uint8_t *w = _reserve(s, i, size, failed)
    if w != NULL:
        memcpy(w, text, size)
        _commit(s, i, size)


# ---------------------------------------------------------------- the output
cdef struct AppColumns:
    uint8_t *app_proto
    uint16_t *dns_id
    uint8_t *dns_qr
    uint8_t *dns_opcode
    uint8_t *dns_rcode
    uint16_t *dns_qtype
    uint16_t *dns_ancount
    uint16_t *http_status
    uint8_t *dhcp_msg_type
    uint8_t *dhcp_client_mac
    uint32_t *dhcp_requested_ip
    uint8_t *ntp_version
    uint8_t *ntp_mode
    uint8_t *ntp_stratum
    uint8_t *tls_handshake
    uint16_t *tls_version
    uint16_t *tls_cipher
    uint32_t *quic_version
    uint8_t *quic_dcid_len
    StrCol dns_qname
    StrCol dns_answer
    StrCol http_method
    StrCol http_host
    StrCol http_path
    StrCol http_user_agent
    StrCol dhcp_hostname
    StrCol tls_sni
    StrCol tls_alpn
    StrCol tls_ja4
    uint32_t *flags
    uint8_t *scratch           # QUIC: the decrypted Initial
    rc_ja4_memo *ja4_memo      # JA4 hash parts of this batch's hellos (tls_ja4 wanted)
    bint failed                # out of memory
    bint tshark_text           # strings as tshark shows them (decode_app's tshark_text)


# ---------------------------------------------------------------- DNS
cdef inline Py_ssize_t _label_text(uint8_t *w, const uint8_t *p, Py_ssize_t length,
                                   bint lower) noexcept nogil:
    # _text(w, p, 0, length, lower) for one label (room for 4 * length bytes):
    # labels are short, where _text's eight-byte steps seldom apply and its
    # byte loop cost 20-odd instructions a byte (a third of the application
    # pass on DNS queries, callgrind); a table, a store and an OR a byte here,
    # and _text only for a label with a byte it must escape or keep as UTF-8.
    cdef Py_ssize_t j
    cdef uint8_t t, escaped = 0
    cdef const uint8_t *plain = _plain_byte[1 if lower else 0]
    for j in range(length):
        t = plain[p[j]]
        w[j] = t
        escaped |= t == 0
    if escaped:
        return _text(w, p, 0, length, lower)
    return length


cdef Py_ssize_t _dns_skip_name(const uint8_t *m, Py_ssize_t n, Py_ssize_t pos) noexcept nogil:
    # Position after the (possibly compressed) name at pos; -1 if it runs
    # past the captured bytes, -2 if it is malformed.
    cdef Py_ssize_t wire = 0
    cdef uint8_t length
    while True:
        if pos >= n:
            return -1
        length = rd8(m, pos, n)
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2 if pos + 2 <= n else -1
        if length & 0xC0:
            return -2
        wire += length + 1
        if wire >= DNS_MAX_NAME:
            return -2
        pos += length + 1


cdef Py_ssize_t _dns_name(const uint8_t *m, Py_ssize_t n, Py_ssize_t full, Py_ssize_t pos,
                          uint8_t *out, Py_ssize_t *after, bint lower=True) noexcept nogil:
    # IN m: a DNS message, n bytes captured of its `full`; pos: a name in it.
    # OUT out (NAME_ROOM bytes; NULL: the name is only checked and walked,
    # for the fields after it, and 0 returned for its length): the name decompressed, lower-cased
    # (unless not `lower`), labels
    # joined by dots, no trailing dot (the root is ""); *after: where the
    # name ends in the message (after its first pointer).  Returns the text
    # length, -1 if the name runs past the captured bytes, -2 if malformed
    # (a label type other than 0 or pointer, more than 255 octets, a pointer
    # outside the message or a loop of pointers).
    cdef Py_ssize_t wire = 1, o = 0, jumps = 0, target
    cdef uint8_t length
    after[0] = -1
    while True:
        if pos >= n:
            return -1 if pos < full else -2
        length = rd8(m, pos, n)
        if length == 0:
            if after[0] < 0:
                after[0] = pos + 1
            return o
        if length & 0xC0 == 0xC0:
            if pos + 2 > n:
                return -1 if pos + 2 <= full else -2
            target = ((length & 0x3F) << 8) | rd8(m, pos + 1, n)
            if after[0] < 0:
                after[0] = pos + 2
            jumps += 1
            if jumps > DNS_MAX_JUMPS or target < 12 or target >= full:
                return -2
            pos = target
            continue
        if length & 0xC0:
            return -2
        wire += length + 1
        if wire > DNS_MAX_NAME:
            return -2
        if pos + 1 + length > n:
            return -1 if pos + 1 + length <= full else -2
        if out != NULL:
            if o:
                out[o] = 0x2E
                o += 1
            o += _label_text(out + o, m + pos + 1, length, lower)
        pos += 1 + length


cdef inline Py_ssize_t _shown_name(uint8_t *w, Py_ssize_t length) noexcept nogil:
    # tshark_text: a name of `length` bytes at w as tshark shows it (the root: <Root>)
    if length == 0:
        memcpy(w, b"<Root>", 6)
        return 6
    return length


cdef Py_ssize_t _more_questions(const uint8_t *m, Py_ssize_t n, Py_ssize_t full, Py_ssize_t pos,
                                Py_ssize_t count, StrCol *s, Py_ssize_t i, Py_ssize_t used,
                                bint *failed) noexcept nogil:
    # tshark_text: the questions after the first (count in all, the second at
    # pos), each appended as ",name" to the `used` bytes of packet i's string,
    # not yet committed, while they are whole (name, type and class captured,
    # as tshark adds a question); returns the string's bytes.
    cdef uint8_t *w
    cdef Py_ssize_t k, length, after
    for k in range(1, count):
        w = _reserve(s, i, used + 1 + NAME_ROOM, failed)
        if w == NULL:
            return used
        length = _dns_name(m, n, full, pos, w + used + 1, &after, False)
        if length < 0 or after + 4 > n:
            return used
        w[used] = 0x2C
        used += 1 + _shown_name(w + used + 1, length)
        pos = after + 4
    return used


cdef void _dns(const uint8_t *m, Py_ssize_t n, Py_ssize_t full, Py_ssize_t i,
               AppColumns *c) noexcept nogil:
    # IN m: a DNS message (n bytes captured of its `full`).
    cdef Py_ssize_t pos, after, k, length, rdlen
    cdef uint16_t qdcount, ancount, rtype
    cdef char text[48]
    cdef uint8_t *w
    c.app_proto[i] = APP_DNS
    if n >= 4:                   # of a header cut short, what was captured (as tshark)
        c.dns_id[i] = rd16(m, 0, n)
        c.dns_qr[i] = rd8(m, 2, n) >> 7
        c.dns_opcode[i] = (rd8(m, 2, n) >> 3) & 0x0F
        c.dns_rcode[i] = rd8(m, 3, n) & 0x0F
    if n >= 8:
        c.dns_ancount[i] = rd16(m, 6, n)
    if n < 12:
        c.flags[i] |= F_APP_TRUNCATED if full >= 12 else F_APP_MALFORMED
        return
    qdcount = rd16(m, 4, n)
    ancount = rd16(m, 6, n)
    if n < full:
        c.flags[i] |= F_APP_TRUNCATED
    pos = 12
    if qdcount:
        # the name straight into the column (committed below once it is whole);
        # NULL when not wanted or out of memory: only walked
        w = _reserve(&c.dns_qname, i, NAME_ROOM, &c.failed)
        length = _dns_name(m, n, full, pos, w, &after, not c.tshark_text)
        if length == -2:
            c.flags[i] |= F_APP_MALFORMED
            return
        if length == -1:
            c.flags[i] |= F_APP_TRUNCATED
            return
        if after + 4 > n:
            c.flags[i] |= F_APP_TRUNCATED if after + 4 <= full else F_APP_MALFORMED
            return
        c.dns_qtype[i] = rd16(m, after, n)
        if w != NULL:
            if c.tshark_text:
                length = _more_questions(m, n, full, after + 4, qdcount, &c.dns_qname, i,
                                         _shown_name(w, length), &c.failed)
            _commit(&c.dns_qname, i, length)
        pos = after + 4
        for k in range(1, qdcount):
            pos = _dns_skip_name(m, n, pos)
            if pos < 0 or pos + 4 > n:
                return
            pos += 4
    # the first A or AAAA record of the answer section
    if c.dns_answer.offsets == NULL:
        return
    for k in range(min(<Py_ssize_t>ancount, DNS_MAX_ANSWERS)):
        pos = _dns_skip_name(m, n, pos)
        if pos < 0 or pos + 10 > n:
            return
        rtype = rd16(m, pos, n)
        rdlen = rd16(m, pos + 8, n)
        pos += 10
        if pos + rdlen > n:
            return
        if (rtype == 1 and rdlen == 4) or (rtype == 28 and rdlen == 16):
            if RINGCAP_CHECKED_READS and _overrun(pos, rdlen, n):
                return
            if rtype == 1:
                _put_bytes(&c.dns_answer, i, text, _ipv4_text(text, m + pos), &c.failed)
            elif inet_ntop(AF_INET6, m + pos, text, 48) != NULL:
                _put_bytes(&c.dns_answer, i, text, _cstrlen(text, 47), &c.failed)
            return
        pos += rdlen


cdef inline Py_ssize_t _ipv4_text(char *out, const uint8_t *a) noexcept nogil:
    # "a.b.c.d" into out (16 bytes); returns its length
    cdef Py_ssize_t o = 0, k
    cdef uint8_t v
    for k in range(4):
        v = a[k]
        if v >= 100:
            out[o] = <char>(48 + v // 100)
            o += 1
        if v >= 10:
            out[o] = <char>(48 + (v // 10) % 10)
            o += 1
        out[o] = <char>(48 + v % 10)
        o += 1
        if k < 3:
            out[o] = b'.'
            o += 1
    return o


cdef inline Py_ssize_t _cstrlen(const char *s, Py_ssize_t most) noexcept nogil:
    cdef Py_ssize_t k = 0
    while k < most and s[k]:
        k += 1
    return k


cdef inline bint _dns_port(uint16_t port, bint tcp) noexcept nogil:
    return port == 53 or port == 5355 or (not tcp and port == 5353)


# ---------------------------------------------------------------- HTTP/1.x
cdef inline bint _upper_token(const uint8_t *m, Py_ssize_t n, Py_ssize_t *end) noexcept nogil:
    # A request method: 3 to HTTP_MAX_TOKEN upper-case letters (and '-'), then a space.
    cdef Py_ssize_t k = 0
    cdef uint8_t ch
    while k < n and k <= HTTP_MAX_TOKEN:
        ch = rd8(m, k, n)
        if ch == 0x20:
            end[0] = k
            return k >= 3
        if not (0x41 <= ch <= 0x5A or ch == 0x2D):
            return False
        k += 1
    return False


cdef inline bint _starts(const uint8_t *m, Py_ssize_t n, Py_ssize_t k, const char *s,
                         Py_ssize_t size) noexcept nogil:
    cdef Py_ssize_t j
    if k + size > n:
        return False
    for j in range(size):
        if rd8(m, k + j, n) != <uint8_t>s[j]:
            return False
    return True


cdef inline bint _name_is(const uint8_t *m, Py_ssize_t n, Py_ssize_t k, Py_ssize_t end,
                          const char *lower_name, Py_ssize_t size) noexcept nogil:
    # m[k:end] equals lower_name, ignoring ASCII case.
    cdef Py_ssize_t j
    cdef uint8_t ch
    if end - k != size:
        return False
    for j in range(size):
        ch = rd8(m, k + j, n)
        if 0x41 <= ch <= 0x5A:
            ch += 0x20
        if ch != <uint8_t>lower_name[j]:
            return False
    return True


cdef inline Py_ssize_t _find(const uint8_t *m, Py_ssize_t k, Py_ssize_t end,
                             uint8_t byte) noexcept nogil:
    # Index of the first `byte` in m[k:end] (end <= the captured bytes), or -1.
    # libc's memchr reads words at a time: the HTTP head is walked at a
    # fraction of an instruction per byte instead of a loop per byte.
    cdef const uint8_t *found
    if k >= end:
        return -1
    found = <const uint8_t *>memchr(m + k, byte, <size_t>(end - k))
    return -1 if found == NULL else found - m


cdef inline Py_ssize_t _line_end(const uint8_t *m, Py_ssize_t n, Py_ssize_t k) noexcept nogil:
    # Index of the '\n' ending the line at k, or -1 if the captured bytes end first.
    return _find(m, k, n, 0x0A)


cdef bint _http(const uint8_t *m, Py_ssize_t n, Py_ssize_t full, Py_ssize_t i,
                AppColumns *c) noexcept nogil:
    # IN m: a TCP payload (n bytes captured of `full`).  Returns False (and
    # writes nothing) unless it starts an HTTP/1.x request or response.
    cdef Py_ssize_t method_end = 0, eol, line_end, sp, k, colon, v, vend
    cdef uint16_t status = 0
    cdef bint request, want_host, want_agent
    cdef StrCol *target
    if _starts(m, n, 0, b"HTTP/1.", 7):
        if n < 12 or rd8(m, 8, n) != 0x20:
            return False
        status = 0
        for k in range(9, 12):
            if not (0x30 <= rd8(m, k, n) <= 0x39):
                return False
            status = status * 10 + (rd8(m, k, n) - 0x30)
        request = False
    elif _upper_token(m, n, &method_end):
        request = True
    else:
        return False
    eol = _line_end(m, n, 0)
    if request:
        # METHOD SP request-target SP HTTP/1.x, the whole line captured
        if eol < 0:
            return False
        line_end = eol - 1 if eol > 0 and rd8(m, eol - 1, n) == 0x0D else eol
        sp = line_end - 9
        if sp <= method_end or rd8(m, sp, n) != 0x20 \
                or not _starts(m, n, sp + 1, b"HTTP/1.", 7):
            return False
        c.app_proto[i] = APP_HTTP
        _put_text(&c.http_method, i, m, 0, method_end, False, &c.failed)
        # the request-target without the spaces a lenient client doubles around it
        v = method_end + 1
        while v < sp and rd8(m, v, n) == 0x20:
            v += 1
        vend = sp
        while vend > v and rd8(m, vend - 1, n) == 0x20:
            vend -= 1
        _put_text(&c.http_path, i, m, v, vend, False, &c.failed)
    else:
        c.app_proto[i] = APP_HTTP
        c.http_status[i] = status
        if eol < 0:
            c.flags[i] |= F_APP_TRUNCATED
            return True
    # header fields, up to the empty line; the first Host and User-Agent, if asked for
    want_host = c.http_host.offsets != NULL
    want_agent = c.http_user_agent.offsets != NULL
    k = eol + 1
    while True:
        eol = _line_end(m, n, k)
        if eol < 0:
            c.flags[i] |= F_APP_TRUNCATED    # the head goes on past this packet
            return True
        line_end = eol - 1 if eol > k and rd8(m, eol - 1, n) == 0x0D else eol
        if line_end == k:
            return True
        if request and (want_host or want_agent):
            colon = _find(m, k, line_end, 0x3A)
            target = NULL
            if colon < 0:
                pass
            elif want_host and _name_is(m, n, k, colon, b"host", 4):
                target = &c.http_host
                want_host = False
            elif want_agent and _name_is(m, n, k, colon, b"user-agent", 10):
                target = &c.http_user_agent
                want_agent = False
            if target != NULL:
                v = colon + 1
                while v < line_end and (rd8(m, v, n) == 0x20 or rd8(m, v, n) == 0x09):
                    v += 1
                vend = line_end
                while vend > v and (rd8(m, vend - 1, n) == 0x20 or rd8(m, vend - 1, n) == 0x09):
                    vend -= 1
                _put_text(target, i, m, v, vend, False, &c.failed)
        k = eol + 1


# ---------------------------------------------------------------- DHCPv4
cdef inline void _dhcp_client_mac(const uint8_t *m, Py_ssize_t n, Py_ssize_t i,
                                  AppColumns *c) noexcept nogil:
    if rd8(m, 1, n) == 1 and rd8(m, 2, n) == 6:          # Ethernet, 6-byte addresses
        if not (RINGCAP_CHECKED_READS and _overrun(28, 6, n)):
            memcpy(c.dhcp_client_mac + 6 * i, m + 28, 6)


cdef void _dhcp(const uint8_t *m, Py_ssize_t n, Py_ssize_t full, Py_ssize_t i,
                AppColumns *c) noexcept nogil:
    # IN m: a BOOTP message; options after the magic cookie at 236.
    cdef Py_ssize_t k, length, end
    cdef uint8_t code
    if n < 240:
        if full >= 240:
            c.app_proto[i] = APP_DHCP
            c.flags[i] |= F_APP_TRUNCATED
            if n >= 34:          # the client's address was captured (tshark shows it)
                _dhcp_client_mac(m, n, i, c)
        return
    if rd32(m, 236, n) != 0x63825363:
        return                   # BOOTP without DHCP options, or not BOOTP at all
    c.app_proto[i] = APP_DHCP
    if n < full:
        c.flags[i] |= F_APP_TRUNCATED
    _dhcp_client_mac(m, n, i, c)
    k = 240
    while k < n:
        code = rd8(m, k, n)
        if code == 255:
            return
        if code == 0:
            k += 1
            continue
        if k + 2 > n:
            return
        length = rd8(m, k + 1, n)
        if k + 2 + length > n:
            c.flags[i] |= F_APP_TRUNCATED if k + 2 + length <= full else F_APP_MALFORMED
            return
        if code == 53 and length == 1:
            c.dhcp_msg_type[i] = rd8(m, k + 2, n)
        elif code == 50 and length == 4:
            c.dhcp_requested_ip[i] = rd32(m, k + 2, n)
        elif code == 12 and length > 0 and c.dhcp_hostname.filled <= i:
            end = k + 2 + length
            while end > k + 2 and rd8(m, end - 1, n) == 0:
                end -= 1         # some clients end the name with NULs (RFC 2132: should not)
            _put_text(&c.dhcp_hostname, i, m, k + 2, end, False, &c.failed)
        k += 2 + length


# ---------------------------------------------------------------- NTP
cdef void _ntp(const uint8_t *m, Py_ssize_t n, Py_ssize_t full, Py_ssize_t i,
               AppColumns *c) noexcept nogil:
    cdef uint8_t mode
    if n < 2:
        if full >= 2:
            c.app_proto[i] = APP_NTP
            c.flags[i] |= F_APP_TRUNCATED
            if n == 1:           # the flags byte alone (tshark shows it)
                c.ntp_version[i] = (rd8(m, 0, n) >> 3) & 7
                c.ntp_mode[i] = rd8(m, 0, n) & 7
        return
    c.app_proto[i] = APP_NTP
    mode = rd8(m, 0, n) & 7
    c.ntp_version[i] = (rd8(m, 0, n) >> 3) & 7
    c.ntp_mode[i] = mode
    if mode <= 5:                # tshark shows the stratum of reserved mode 0 too
        c.ntp_stratum[i] = rd8(m, 1, n)
        if full < 48:
            c.flags[i] |= F_APP_MALFORMED
    if n < full:
        c.flags[i] |= F_APP_TRUNCATED


# ---------------------------------------------------------------- TLS and QUIC
cdef inline uint8_t *_reserve_inline(StrCol *s, Py_ssize_t i, Py_ssize_t need,
                                     bint *failed) noexcept nogil:
    # _reserve without its call when the row comes right after the last one
    # written and the bytes fit (hellos come in runs); otherwise _reserve.
    if s.offsets != NULL and s.filled == i and s.length + need <= s.capacity:
        return s.data + s.length
    return _reserve(s, i, need, failed)


cdef inline void _put_ja4(StrCol *s, Py_ssize_t i, const char *ja4, bint *failed) noexcept nogil:
    # always 36 characters: a copy of known size, inlined (not a call)
    cdef uint8_t *w = _reserve_inline(s, i, 36, failed)
    if w != NULL:
        memcpy(w, ja4, 36)
        _commit(s, i, 36)


cdef inline void _put_hello_text(StrCol *s, Py_ssize_t i, const uint8_t *p, Py_ssize_t k,
                                 Py_ssize_t end, bint lower, bint *failed) noexcept nogil:
    # _put_text with _reserve_inline
    cdef uint8_t *w = _reserve_inline(s, i, 4 * (end - k), failed)
    if w != NULL:
        _commit(s, i, _text(w, p, k, end, lower))


cdef void _hello_columns(const uint8_t *base, Py_ssize_t size, rc_tls_hello *h, Py_ssize_t i,
                         AppColumns *c) noexcept nogil:
    # base/size: the buffer h's offsets count from (the payload, or QUIC's
    # decrypted CRYPTO stream); offsets past it are not trusted.
    if h.truncated:
        c.flags[i] |= F_APP_TRUNCATED
    if h.malformed:
        c.flags[i] |= F_APP_MALFORMED
    if h.is_client:
        c.tls_handshake[i] = 1
    elif h.is_server:
        c.tls_handshake[i] = 2
        c.tls_cipher[i] = h.cipher
    else:
        return
    if h.truncated and h.version == h.legacy_version:
        c.tls_version[i] = 0     # supported_versions may be in the part not captured
    else:
        c.tls_version[i] = h.version
    if h.sni_len and h.sni_off + <Py_ssize_t>h.sni_len <= size:
        _put_hello_text(&c.tls_sni, i, base, h.sni_off, h.sni_off + h.sni_len,
                        not c.tshark_text, &c.failed)
    if h.alpn_len and h.alpn_off + <Py_ssize_t>h.alpn_len <= size:
        _put_hello_text(&c.tls_alpn, i, base, h.alpn_off, h.alpn_off + h.alpn_len, False,
                        &c.failed)
    if h.ja4[0]:
        _put_ja4(&c.tls_ja4, i, h.ja4, &c.failed)


cdef inline bint _tls_record_start(const uint8_t *m, Py_ssize_t n) noexcept nogil:
    # A handshake record (22) of SSL 3.0 to TLS 1.3's record version carrying
    # a hello (the header pass lists packets by the same test).
    return app_tls_hello_start(m, n)


cdef void _tls(const uint8_t *m, Py_ssize_t n, Py_ssize_t full, Py_ssize_t i,
               AppColumns *c) noexcept nogil:
    cdef rc_tls_hello h                     # every field set by the parser
    c.app_proto[i] = APP_TLS
    rc_tls_parse_record_memo(m, n, c't' if c.tls_ja4.offsets != NULL else 0, &h,  # 0: no JA4
                             c.ja4_memo)
    if n < full and h.truncated == 0 and not (h.is_client or h.is_server):
        c.flags[i] |= F_APP_TRUNCATED
    _hello_columns(m, n, &h, i, c)


cdef inline bint _quic_long_header(const uint8_t *m, Py_ssize_t n) noexcept nogil:
    # A long-header packet of a known QUIC version (RFC 9000 17.2) big enough
    # for a client Initial (1200 bytes, RFC 9000 14.1).
    # (The header pass lists packets by the same test.)
    return app_quic_initial_start(m, n)


cdef void _quic(const uint8_t *m, Py_ssize_t n, Py_ssize_t i, AppColumns *c) noexcept nogil:
    cdef rc_tls_hello h
    cdef uint32_t version = 0
    cdef uint8_t dcid_len = 0
    cdef const uint8_t *crypto = NULL
    cdef size_t crypto_len = 0
    if not rc_quic_initial(m, n, c.scratch, QUIC_SCRATCH, &version, &dcid_len, &crypto,
                           &crypto_len):
        return
    c.app_proto[i] = APP_QUIC
    c.quic_version[i] = version
    c.quic_dcid_len[i] = dcid_len
    rc_tls_parse_handshake_memo(crypto, crypto_len, c'q' if c.tls_ja4.offsets != NULL else 0, &h,
                                c.ja4_memo)
    _hello_columns(crypto, crypto_len, &h, i, c)


# ---------------------------------------------------------------- the pass
cdef uint8_t _port_kind[65536]     # PORT_* bits of each port number, set once at import


cdef void _init_port_kinds() noexcept:
    memset(_port_kind, 0, sizeof(_port_kind))
    _port_kind[53] = PORT_DNS_UDP | PORT_DNS_TCP
    _port_kind[5355] = PORT_DNS_UDP | PORT_DNS_TCP      # LLMNR
    _port_kind[5353] = PORT_DNS_UDP                     # mDNS
    _port_kind[67] = PORT_DHCP
    _port_kind[68] = PORT_DHCP
    _port_kind[123] = PORT_NTP


_init_port_kinds()


cdef uint32_t _want_bits(protocols) except? 0:
    cdef uint32_t want = 0
    for name in protocols:
        if name not in APP_PROTOCOLS:
            raise ValueError(f"unknown application protocol {name!r}; "
                             f"choose from {', '.join(APP_PROTOCOLS)}")
        want |= 1 << APP_PROTOCOLS[name]
    return want


def candidate_rule(protocols):
    """``(ports, rule)`` for the header pass (``_decode.decode_into``'s ``app_ports``
    and ``app_rule``) to list the packets that may carry a message of
    ``protocols``: the rule :func:`decode_app`'s loop applies, as a table
    (``bytes``) of each port's ``CAND_*`` bits and the rule bits."""
    cdef uint32_t want = _want_bits(protocols), rule = 0
    cdef bytearray ports = bytearray(65536)
    cdef uint8_t *table = <uint8_t *><char *>ports
    cdef uint8_t udp_kinds = 0
    cdef Py_ssize_t port
    if want & (1 << APP_DNS):
        udp_kinds |= PORT_DNS_UDP
    if want & (1 << APP_DHCP):
        udp_kinds |= PORT_DHCP
    if want & (1 << APP_NTP):
        udp_kinds |= PORT_NTP
    for port in range(65536):
        if _port_kind[port] & udp_kinds:
            table[port] |= CAND_UDP_PORT
        if _port_kind[port] & (PORT_DNS_UDP | PORT_DHCP | PORT_NTP):
            table[port] |= CAND_UDP_KNOWN
        if _port_kind[port] & PORT_DNS_TCP:
            table[port] |= CAND_TCP_KNOWN
            if want & (1 << APP_DNS):
                table[port] |= CAND_TCP_PORT
    if want & (1 << APP_QUIC):
        rule |= CAND_QUIC
    if want & (1 << APP_TLS):
        rule |= CAND_TLS
    if want & (1 << APP_HTTP):
        rule |= CAND_HTTP
    return bytes(ports), rule


cdef Py_ssize_t decode_app_batch(const uint8_t *data, Py_ssize_t data_len,
                                 const int64_t *offset, const uint32_t *caplen,
                                 const uint8_t *ip_proto, const uint16_t *sport,
                                 const uint16_t *dport, const uint16_t *payload_offset,
                                 const uint32_t *payload_len, const int64_t *rows,
                                 Py_ssize_t count, uint32_t want,
                                 AppColumns *c) noexcept nogil:
    # IN the batch and the header pass's columns; rows: the `count` packets
    # to look at, ascending (NULL: packets 0..count-1); want: bits (1 <<
    # APP_*) of the protocols asked for.  OUT c.  Returns the first packet
    # lying outside data, or -1.
    #
    # Most packets carry no message.  The header pass lists those that may
    # (rows; see candidate_rule), so that the others are never visited here;
    # the loop applies the same rule again (to every packet when rows is
    # NULL), from the header columns (and, for TCP, the payload's first
    # byte), before any call.  UDP is a candidate on a port of its protocols
    # (a 64 KiB table of port kinds, masked by what is wanted) or, for QUIC,
    # from 1200 bytes on; TCP on a DNS port, or when its first byte may start
    # a TLS record (22) or an HTTP/1.x head (A-Z).  (The header pass's list
    # is tighter: it tests the first bytes as the decoders do, see
    # includes/decode_defs.pxd; this loop's looser rule is the reference the
    # tests hold the list to when rows is NULL.)
    cdef Py_ssize_t i, r, start, captured, full, ahead, span, k
    cdef const uint8_t *m
    cdef uint8_t proto, kinds, first
    cdef uint16_t sp, dp
    cdef uint32_t plen
    cdef bint tcp
    cdef uint8_t udp_kinds = 0, tcp_kinds = 0
    cdef bint want_quic = (want & (1 << APP_QUIC)) != 0
    cdef bint want_tcp_content = (want & ((1 << APP_TLS) | (1 << APP_HTTP))) != 0
    if want & (1 << APP_DNS):
        udp_kinds |= PORT_DNS_UDP
        tcp_kinds |= PORT_DNS_TCP
    if want & (1 << APP_DHCP):
        udp_kinds |= PORT_DHCP
    if want & (1 << APP_NTP):
        udp_kinds |= PORT_NTP
    for r in range(count):
        i = rows[r] if rows != NULL else r
        # the payloads are read once each, far apart: ask for one a few packets ahead
        # (a prefetch never faults: the address is not checked, only formed
        # without pointer overflow)
        if r + 24 < count:
            ahead = rows[r + 24] if rows != NULL else r + 24
            if payload_len[ahead]:
                rc_prefetch(<const void *>(<uintptr_t>data + <uintptr_t>offset[ahead]
                                           + payload_offset[ahead]))
        # and, nearer, the rest of its first KiB: a message (a ClientHello, an
        # HTTP head) spans lines that its walk would otherwise miss one by one
        if r + 16 < count:
            ahead = rows[r + 16] if rows != NULL else r + 16
            span = min(<Py_ssize_t>payload_len[ahead], <Py_ssize_t>1024)
            k = 64
            while k < span:
                rc_prefetch(<const void *>(<uintptr_t>data + <uintptr_t>offset[ahead]
                                           + payload_offset[ahead] + <uintptr_t>k))
                k += 64
        plen = payload_len[i]
        proto = ip_proto[i]
        if plen == 0 or payload_offset[i] == 0:
            continue
        sp = sport[i]
        dp = dport[i]
        if proto == IPPROTO_UDP:
            kinds = (_port_kind[sp] | _port_kind[dp]) & (PORT_DNS_UDP | PORT_DHCP | PORT_NTP)
            if (kinds & udp_kinds) == 0 and not (kinds == 0 and want_quic and plen >= 1200):
                continue        # another protocol's port (or one not wanted), or no QUIC Initial
            tcp = False
        elif proto == IPPROTO_TCP:
            kinds = (_port_kind[sp] | _port_kind[dp]) & PORT_DNS_TCP
            if kinds == 0 and not want_tcp_content:
                continue
            tcp = True
        else:
            continue
        if offset[i] < 0 or offset[i] + caplen[i] > data_len:
            return i
        start = payload_offset[i]
        if start >= caplen[i]:
            continue                   # nothing of the payload captured
        m = data + offset[i] + start
        if tcp and kinds == 0:
            first = m[0]
            if first != 22 and not (0x41 <= first <= 0x5A):
                continue
        if c.failed:
            return -1
        captured = caplen[i] - start
        full = plen
        if captured > full:
            captured = full            # Ethernet padding after the payload
        if kinds & (PORT_DNS_UDP | PORT_DNS_TCP):
            if want & (1 << APP_DNS):
                if tcp:
                    # RFC 1035 4.2.2: a 2-byte length, then the message
                    if captured < 2:
                        continue
                    full = rd16(m, 0, captured)
                    if full < 12:
                        continue               # not the start of a message
                    if full + 2 > plen:
                        c.flags[i] |= F_APP_TRUNCATED   # goes on in later segments
                    captured = min(captured - 2, <Py_ssize_t>full)
                    m += 2
                _dns(m, captured, full, i, c)
            continue
        if tcp:
            if _tls_record_start(m, captured):
                if want & (1 << APP_TLS):
                    _tls(m, captured, full, i, c)
            elif want & (1 << APP_HTTP) and 0x41 <= m[0] <= 0x5A:
                _http(m, captured, full, i, c)
            continue
        if kinds & PORT_DHCP:
            if want & (1 << APP_DHCP):
                _dhcp(m, captured, full, i, c)
        elif kinds & PORT_NTP:
            if want & (1 << APP_NTP):
                _ntp(m, captured, full, i, c)
        elif want_quic and _quic_long_header(m, captured):
            if c.scratch == NULL:           # the first Initial of the batch
                c.scratch = <uint8_t *>malloc(QUIC_SCRATCH)
                if c.scratch == NULL:
                    c.failed = True
                    return -1
            _quic(m, captured, i, c)
    return -1


cdef enum:
    N_FIXED = 19                  # fixed-width columns of COLUMN_LAYOUT


cdef int _fixed_slots(AppColumns *c, void ***slot) except -1:
    # slot[k]: where the k-th fixed-width column of COLUMN_LAYOUT is pointed to
    slot[0] = <void **>&c.app_proto
    slot[1] = <void **>&c.dns_id
    slot[2] = <void **>&c.dns_qr
    slot[3] = <void **>&c.dns_opcode
    slot[4] = <void **>&c.dns_rcode
    slot[5] = <void **>&c.dns_qtype
    slot[6] = <void **>&c.dns_ancount
    slot[7] = <void **>&c.http_status
    slot[8] = <void **>&c.dhcp_msg_type
    slot[9] = <void **>&c.dhcp_client_mac
    slot[10] = <void **>&c.dhcp_requested_ip
    slot[11] = <void **>&c.ntp_version
    slot[12] = <void **>&c.ntp_mode
    slot[13] = <void **>&c.ntp_stratum
    slot[14] = <void **>&c.tls_handshake
    slot[15] = <void **>&c.tls_version
    slot[16] = <void **>&c.tls_cipher
    slot[17] = <void **>&c.quic_version
    slot[18] = <void **>&c.quic_dcid_len
    return 0


cdef void *_buffer(object obj, Py_ssize_t *rows, Py_ssize_t *itemsize, Py_ssize_t *size,
                   char *kind) except? NULL:
    # The memory of a writable C-contiguous buffer (numpy array, array.array),
    # its first dimension, item size, bytes and format's type letter; NULL when
    # obj is not such a buffer.  The caller keeps obj, so its memory stays put.
    cdef Py_buffer view
    cdef void *data = NULL
    if not PyObject_CheckBuffer(obj):
        return NULL
    try:
        PyObject_GetBuffer(obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE | PyBUF_FORMAT)
    except (BufferError, ValueError, TypeError):     # (read-only, strided)
        return NULL
    data = view.buf
    rows[0] = view.shape[0] if view.ndim > 0 else 0
    itemsize[0] = view.itemsize
    size[0] = view.len
    kind[0] = view.format[len(view.format) - 1] if view.format != NULL and view.format[0] else 0
    PyBuffer_Release(&view)
    return data


cdef Py_ssize_t _fixed(object obj, str name, Py_ssize_t n, Py_ssize_t itemsize,
                       Py_ssize_t width, void **data) except -1:
    # The rows of a fixed-width column array (at least n); its data in *data.
    cdef Py_ssize_t rows = 0, size = 0, got = 0
    cdef char kind = 0
    data[0] = _buffer(obj, &rows, &got, &size, &kind)
    if data[0] == NULL or rows < n or got != itemsize or size != rows * itemsize * width:
        raise ValueError(f"application column {name!r} must be a writable C-contiguous array "
                         f"with at least {n} rows of {itemsize * width} bytes")
    return rows


cdef void _clear_rows(uint8_t *column, Py_ssize_t row_bytes, const int64_t *rows,
                      Py_ssize_t count) noexcept nogil:
    # column[rows] = 0: the rows an earlier pass may have written
    cdef Py_ssize_t r
    if row_bytes == 1:
        for r in range(count):
            column[rows[r]] = 0
    elif row_bytes == 2:
        for r in range(count):
            (<uint16_t *>column)[rows[r]] = 0
    elif row_bytes == 4:
        for r in range(count):
            (<uint32_t *>column)[rows[r]] = 0
    else:
        for r in range(count):
            memset(column + rows[r] * row_bytes, 0, row_bytes)


cdef int _string_column(StrCol *s, dict strings, str name, Py_ssize_t n) except -1:
    cdef Py_ssize_t rows = 0, itemsize = 0, size = 0
    cdef char kind = 0
    s.offsets = NULL
    s.data = NULL
    s.length = s.capacity = s.filled = 0
    if name not in strings:
        return 0
    obj = strings[name]
    if obj is None:
        obj = strings[name] = _numpy().empty(n + 1, dtype=_numpy().int32)
    s.offsets = <int32_t *>_buffer(obj, &rows, &itemsize, &size, &kind)
    if s.offsets == NULL or itemsize != 4 or size != rows * 4 or (kind != c'i' and kind != c'l'):
        s.offsets = NULL
        raise ValueError(f"string column {name!r} needs a writable C-contiguous int32 array")
    if rows != n + 1:
        s.offsets = NULL
        raise ValueError(f"string column {name!r} needs {n + 1} offsets, got {rows}")
    s.offsets[0] = 0
    return 0


cdef object _string_data(StrCol *s, bint as_bytes):
    if s.offsets == NULL:
        return None
    if as_bytes:
        return PyBytes_FromStringAndSize(<char *>s.data, s.length) if s.length else b""
    if s.length == 0:
        return _no_bytes()
    out = _numpy().empty(s.length, dtype=_numpy().uint8)
    cdef uint8_t[::1] view = out
    memcpy(&view[0], s.data, s.length)
    return out


_STRING_NAMES = tuple(name for name, kind, _ in COLUMN_LAYOUT if kind == "str")
# (name, item size, width) of the fixed-width columns, in the order of _fixed_slots
_ITEMSIZE = {"u1": 1, "u2": 2, "u4": 4}
_FIXED_LAYOUT = tuple((name, _ITEMSIZE[kind], width)
                      for name, kind, width in COLUMN_LAYOUT if kind != "str")
assert len(_FIXED_LAYOUT) == N_FIXED
cdef Py_ssize_t _fixed_itemsize[N_FIXED]
cdef Py_ssize_t _fixed_width[N_FIXED]
for _k, (_, _size, _width) in enumerate(_FIXED_LAYOUT):
    _fixed_itemsize[_k] = _size
    _fixed_width[_k] = _width
_np = None                  # numpy, once a call makes numpy arrays
_NO_BYTES = None            # the bytes of a string column without a string: one read-only array
# and its offsets, all 0: views of one read-only zeroed array (its pages are
# never written), so that a column without a string costs no row at all
_ZEROS = None


cdef object _numpy():
    global _np
    if _np is None:
        import numpy
        _np = numpy
    return _np


cdef object _no_bytes():
    global _NO_BYTES
    if _NO_BYTES is None:
        _NO_BYTES = _numpy().empty(0, dtype=_numpy().uint8)
        _NO_BYTES.setflags(write=False)
    return _NO_BYTES


cdef object _zero_offsets(Py_ssize_t size):
    global _ZEROS
    if _ZEROS is None or _ZEROS.shape[0] < size:
        _ZEROS = _numpy().zeros(max(size, 0 if _ZEROS is None else 2 * _ZEROS.shape[0], 65537),
                                dtype=_numpy().int32)
        _ZEROS.setflags(write=False)
    return _ZEROS[:size]


_FIXED_INDEX = {name: k for k, (name, _, _) in enumerate(_FIXED_LAYOUT)}
_STRING_INDEX = {name: k for k, name in enumerate(_STRING_NAMES)}


def decode_app(const uint8_t[::1] data, const int64_t[::1] offset,
               const uint32_t[::1] caplen, const uint8_t[::1] ip_proto,
               const uint16_t[::1] sport, const uint16_t[::1] dport,
               const uint16_t[::1] payload_offset, const uint32_t[::1] payload_len,
               uint32_t[::1] flags, dict fixed, dict strings, protocols,
               const int64_t[::1] rows=None, const int64_t[::1] clear=None,
               bint as_bytes=False, bint tshark_text=False):
    """Decode the application messages of a batch into ``fixed`` and ``strings``.

    ``fixed``: name -> array of the fixed-width columns of
    :data:`COLUMN_LAYOUT` to fill (C-contiguous, at least a row per packet,
    zero where no message will be found: zeroed, or see ``clear``; None: a
    zeroed array of ``n`` rows is made and put in ``fixed``); the columns
    left out are not kept.  ``strings``: name -> int32 offsets array of
    ``n + 1`` entries for the string columns wanted (None: made and put in
    ``strings``); a column that gets no string is given a read-only view of
    zeros in its place instead of filling its array.  ``protocols``:
    names from :data:`APP_PROTOCOLS` to decode.  ``rows``: the only packets
    to look at, ascending (the header pass's list, see
    :func:`candidate_rule`); None: every packet.  ``clear``: rows of every
    array in ``fixed`` to zero first (those an earlier pass into the same
    arrays listed; the pass writes no others).  The APP_* flag bits are
    or-ed into ``flags``.  Returns name -> uint8 array of each wanted string
    column's bytes.  Raises ValueError if a packet lies outside ``data``.

    ``as_bytes`` (``ringcap fields``: no numpy): every array given (any
    writable buffer, e.g. ``array.array``), none None; the offsets of a
    column without a string are written (zeros) and the bytes returned are
    ``bytes``.  ``tshark_text``: strings as tshark's fields show them: every
    question of a DNS message, comma-joined, the root as ``<Root>``; names
    (``dns_qname``, ``tls_sni``) in their own case.
    """
    cdef Py_ssize_t n = offset.shape[0], bad = -1, k, count = n, previous = -1
    cdef Py_ssize_t given = 0, room = -1, length, cleared = 0
    cdef AppColumns c
    cdef uint32_t want = _want_bits(protocols)
    cdef const int64_t *rows_p = NULL
    cdef const int64_t *clear_p = NULL
    cdef const uint8_t *base = NULL
    cdef uint8_t empty[1]
    cdef uint8_t *scratch = NULL
    cdef StrCol *cols[10]
    cdef void **slot[N_FIXED]
    cdef uint8_t *column[N_FIXED]
    cdef Py_ssize_t row_bytes[N_FIXED]
    cdef Py_ssize_t itemsize, width
    if caplen.shape[0] != n or ip_proto.shape[0] != n or sport.shape[0] != n \
            or dport.shape[0] != n or payload_offset.shape[0] != n or payload_len.shape[0] != n \
            or flags.shape[0] != n:
        for name, length in (("caplen", caplen.shape[0]), ("ip_proto", ip_proto.shape[0]),
                             ("sport", sport.shape[0]), ("dport", dport.shape[0]),
                             ("payload_offset", payload_offset.shape[0]),
                             ("payload_len", payload_len.shape[0]), ("flags", flags.shape[0])):
            if length != n:
                raise ValueError(f"{name} has {length} entries, offset has {n}")
    if rows is not None:
        count = rows.shape[0]
        for k in range(count):
            if rows[k] <= previous or rows[k] >= n:
                raise ValueError(f"rows must be packet indices below {n}, ascending; "
                                 f"rows[{k}] is {rows[k]}")
            previous = rows[k]
        if count:
            rows_p = &rows[0]
    for name in strings:
        if name not in _STRING_INDEX:
            raise ValueError(f"not a string column: {name!r}")
    memset(&c, 0, sizeof(c))
    c.tshark_text = tshark_text
    cols[0] = &c.dns_qname
    cols[1] = &c.dns_answer
    cols[2] = &c.http_method
    cols[3] = &c.http_host
    cols[4] = &c.http_path
    cols[5] = &c.http_user_agent
    cols[6] = &c.dhcp_hostname
    cols[7] = &c.tls_sni
    cols[8] = &c.tls_alpn
    cols[9] = &c.tls_ja4
    if strings:
        for k in range(10):
            _string_column(cols[k], strings, _STRING_NAMES[k], n)
    _fixed_slots(&c, slot)
    for name, array in fixed.items():
        index = _FIXED_INDEX.get(name)
        if index is None:
            raise ValueError(f"not a fixed-width application column: {name!r}")
        k = index
        itemsize = _fixed_itemsize[k]
        width = _fixed_width[k]
        if array is None:
            shape = (n,)
            if width > 1:
                shape = (n, width)
            array = fixed[name] = _numpy().zeros(shape, dtype=f"u{itemsize}")
        row_bytes[given] = itemsize * width
        length = _fixed(array, name, n, itemsize, width, slot[k])
        column[given] = <uint8_t *>slot[k][0]
        given += 1
        if room < 0 or length < room:
            room = length
    if clear is not None and given:
        cleared = clear.shape[0]
        for k in range(cleared):
            if clear[k] < 0 or clear[k] >= room:
                raise ValueError(f"clear must be rows of the fixed-width columns (below {room}); "
                                 f"clear[{k}] is {clear[k]}")
        if cleared:
            clear_p = &clear[0]
    if n == 0:                      # an empty batch still clears what the one before wrote
        for k in range(given):
            _clear_rows(column[k], row_bytes[k], clear_p, cleared)
        return {name: b"" if as_bytes else _no_bytes() for name in strings}
    c.flags = &flags[0]
    base = &data[0] if data.shape[0] else empty
    try:
        if given < N_FIXED:
            # the columns not asked for: written (at the packets with a message)
            # to one buffer that is never read, so as to need no test per write
            scratch = <uint8_t *>malloc(8 * n)
            if scratch == NULL:
                raise MemoryError(f"no memory for {n} rows of scratch")
            for k in range(N_FIXED):
                if slot[k][0] == NULL:
                    slot[k][0] = scratch
        if c.tls_ja4.offsets != NULL:
            c.ja4_memo = <rc_ja4_memo *>calloc(1, sizeof(rc_ja4_memo))
            if c.ja4_memo == NULL:
                raise MemoryError("no memory for the JA4 memo")
        with nogil:
            if cleared:
                for k in range(given):
                    _clear_rows(column[k], row_bytes[k], clear_p, cleared)
            bad = decode_app_batch(base, data.shape[0], &offset[0], &caplen[0], &ip_proto[0],
                                   &sport[0], &dport[0], &payload_offset[0], &payload_len[0],
                                   rows_p, count, want, &c)
            for k in range(10):
                if cols[k].length:
                    _finish(cols[k], n)
        for k in range(10):
            if cols[k].offsets != NULL and cols[k].length == 0:
                if as_bytes:
                    _fill(cols[k].offsets, 1, n + 1, 0)
                else:
                    strings[_STRING_NAMES[k]] = _zero_offsets(n + 1)      # never filled
        if c.failed:
            raise MemoryError("no memory for the application string columns or QUIC's decryption "
                              "(or a column past 2 GiB in one batch: decode smaller batches)")
        if bad >= 0:
            raise ValueError(
                f"packet {bad} lies outside the batch's data (offset {offset[bad]}, caplen "
                f"{caplen[bad]}, {data.shape[0]} bytes of data)")
        return {_STRING_NAMES[k]: _string_data(cols[k], as_bytes) for k in range(10)
                if cols[k].offsets != NULL}
    finally:
        free(scratch)
        free(c.scratch)
        free(c.ja4_memo)
        for k in range(10):
            free(cols[k].data)



def decode_strings(const uint8_t[::1] data, const int64_t[::1] offset,
                   const uint32_t[::1] caplen, const uint8_t[::1] ip_proto,
                   const uint16_t[::1] sport, const uint16_t[::1] dport,
                   const uint16_t[::1] payload_offset, const uint32_t[::1] payload_len,
                   uint32_t[::1] flags, protocols, const int64_t[::1] rows not None,
                   app_proto not None, dns_qr not None, dict offsets not None):
    """:func:`decode_app` for callers without numpy (``ringcap stats FILE``):
    the fixed-width columns ``app_proto`` and ``dns_qr`` only, into buffers
    of at least a row per packet (zeroed first), and the string columns
    named by ``offsets`` (name -> int32 buffer of at least ``n + 1``
    entries, reused call after call: its first ``n + 1`` are overwritten),
    as lists.  ``rows``: the packets to look at, ascending, as the header
    pass listed them.  Returns name -> [(packet, string)] of the packets
    with a string in that column, in packet order."""
    cdef Py_ssize_t n = offset.shape[0], i
    cdef uint8_t[::1] proto_rows = app_proto, qr_rows = dns_qr
    cdef int32_t[::1] at
    cdef const uint8_t[::1] text
    if proto_rows.shape[0] < n or qr_rows.shape[0] < n:
        raise ValueError(f"app_proto and dns_qr need at least {n} rows")
    if n:
        memset(&proto_rows[0], 0, n)
        memset(&qr_rows[0], 0, n)
    wanted = {name: memoryview(column)[:n + 1] for name, column in offsets.items()}
    got = decode_app(data, offset, caplen, ip_proto, sport, dport, payload_offset, payload_len,
                     flags, {"app_proto": app_proto, "dns_qr": dns_qr}, wanted, protocols,
                     rows=rows, as_bytes=True)
    found = {}
    for name, column in wanted.items():
        strings = found[name] = []
        at = column
        text = got[name]
        if at[n] == 0:
            continue
        for i in range(n):
            if at[i + 1] > at[i]:
                strings.append((i, bytes(text[at[i]:at[i + 1]]).decode("utf-8")))
    return found

cdef enum:
    # kinds of field_lines' columns
    FIELD_TEXT = 0          # strings: int32 offsets and bytes
    FIELD_U32 = 1           # uint32 values, in decimal (frame.len)
    FIELD_TIME = 2          # int64 ns since the epoch, as seconds.nanoseconds (frame.time_epoch)
    FIELD_INDEX = 3         # base + the packet's index (or indices[i]) + 1 (frame.number)
    FIELD_U8 = 4            # uint8 values, in decimal (dns.flags.rcode)
    FIELD_U16 = 5           # uint16 values, in decimal (http.response.code)
    FIELD_HEX16 = 6         # uint16 values as 0x%04x (dns.id)
    FIELD_IPV4 = 7          # uint32 values (host order) as a.b.c.d
    FIELD_MAC = 8           # 6 bytes a row as aa:bb:cc:dd:ee:ff
    FIELD_MOST = 29         # bytes of a number field's text at most


cdef struct FieldColumn:
    int kind
    const int32_t *offsets
    const uint8_t *data
    const uint32_t *u32
    const int64_t *i64
    const uint8_t *u8
    const uint16_t *u16
    int64_t base
    # an application field's presence: app[i]'s bit in protocols, gate[i]
    # within [low, high] (gate NULL: no such test), the value nonzero if asked
    const uint8_t *app
    uint32_t protocols
    const uint8_t *gate
    uint8_t low, high
    bint nonzero
    # and (caplen NULL: no such test) at least `least` bytes of the payload
    # captured; over TCP, the whole payload (tshark reassembles nothing past
    # a segment cut short), elsewhere not APP_TRUNCATED where `whole_from`
    # (>= 0) bytes or more were captured
    const uint32_t *caplen
    const uint16_t *payload_offset
    const uint32_t *payload_len
    const uint8_t *ip_proto
    const uint32_t *flags
    Py_ssize_t least
    Py_ssize_t whole_from


_FIELD_KINDS = {"text": FIELD_TEXT, "u32": FIELD_U32, "time": FIELD_TIME, "index": FIELD_INDEX,
                "u8": FIELD_U8, "u16": FIELD_U16, "hex16": FIELD_HEX16, "ipv4": FIELD_IPV4,
                "mac": FIELD_MAC}
# the application kinds: their values' array, its item size and values a row
_APP_FIELD_KINDS = {FIELD_U8: (1, 1), FIELD_U16: (2, 1), FIELD_HEX16: (2, 1),
                    FIELD_IPV4: (4, 1), FIELD_MAC: (1, 6)}


cdef inline Py_ssize_t _decimal(uint8_t *w, uint64_t value) noexcept nogil:
    cdef uint8_t digits[20]
    cdef Py_ssize_t k = 0, j
    while True:
        digits[k] = 0x30 + value % 10
        value //= 10
        k += 1
        if value == 0:
            break
    for j in range(k):
        w[j] = digits[k - 1 - j]
    return k


cdef inline bint _present(FieldColumn *f, Py_ssize_t i) noexcept nogil:
    # whether packet i has the application field: tshark's empty field otherwise
    cdef Py_ssize_t captured
    if f.app == NULL:
        return True
    if not (f.protocols >> f.app[i]) & 1:
        return False
    if f.gate != NULL and not (f.low <= f.gate[i] <= f.high):
        return False
    if f.caplen != NULL:
        captured = <Py_ssize_t>f.caplen[i] - f.payload_offset[i]
        if captured > f.payload_len[i]:
            captured = f.payload_len[i]            # Ethernet padding after the payload
        if captured < f.least:
            return False
        if f.ip_proto[i] == IPPROTO_TCP:
            if captured < f.payload_len[i]:
                return False
        elif f.flags[i] & F_APP_TRUNCATED and 0 <= f.whole_from <= captured:
            return False
    if not f.nonzero:
        return True
    if f.kind == FIELD_U8:
        return f.u8[i] != 0
    if f.kind == FIELD_U16 or f.kind == FIELD_HEX16:
        return f.u16[i] != 0
    if f.kind == FIELD_IPV4:
        return f.u32[i] != 0
    return (f.u8[6 * i] | f.u8[6 * i + 1] | f.u8[6 * i + 2] | f.u8[6 * i + 3]
            | f.u8[6 * i + 4] | f.u8[6 * i + 5]) != 0


cdef inline Py_ssize_t _number_field(uint8_t *w, FieldColumn *f, Py_ssize_t i) noexcept nogil:
    cdef int64_t value, seconds, nanoseconds
    cdef Py_ssize_t o = 0, j
    cdef uint32_t address
    if not _present(f, i):
        return 0
    if f.kind == FIELD_U8:
        return _decimal(w, f.u8[i])
    if f.kind == FIELD_U16:
        return _decimal(w, f.u16[i])
    if f.kind == FIELD_HEX16:
        w[0] = 0x30
        w[1] = 0x78
        for j in range(4):
            w[2 + j] = _HEX[(f.u16[i] >> (12 - 4 * j)) & 0x0F]
        return 6
    if f.kind == FIELD_IPV4:
        address = f.u32[i]
        for j in range(4):
            o += _decimal(w + o, (address >> (24 - 8 * j)) & 0xFF)
            w[o] = 0x2E
            o += 1
        return o - 1
    if f.kind == FIELD_MAC:
        for j in range(6):
            w[3 * j] = _HEX[f.u8[6 * i + j] >> 4]
            w[3 * j + 1] = _HEX[f.u8[6 * i + j] & 0x0F]
            w[3 * j + 2] = 0x3A
        return 17
    if f.kind == FIELD_U32:
        return _decimal(w, f.u32[i])
    if f.kind == FIELD_INDEX:
        return _decimal(w, <uint64_t>(f.base + (f.i64[i] if f.i64 != NULL else i) + 1))
    value = f.i64[i]                    # FIELD_TIME
    seconds = value // 1000000000
    nanoseconds = value % 1000000000
    if nanoseconds < 0:
        seconds -= 1
        nanoseconds += 1000000000
    if seconds < 0:
        w[0] = 0x2D
        o = 1
        seconds = -seconds
    o += _decimal(w + o, <uint64_t>seconds)
    w[o] = 0x2E
    for j in range(9):
        w[o + 9 - j] = 0x30 + nanoseconds % 10
        nanoseconds //= 10
    return o + 10


cdef object _app_field(FieldColumn *f, Py_ssize_t k, tuple column, Py_ssize_t n):
    # f's values and presence from column (kind, values, presence); returns
    # the views to keep alive while f's pointers are used
    cdef const uint8_t[::1] u8_view
    cdef const uint16_t[::1] u16_view
    cdef const uint32_t[::1] u32_view
    cdef const uint8_t[::1] app_view
    cdef const uint8_t[::1] gate_view
    cdef const uint32_t[::1] caplen_view
    cdef const uint16_t[::1] offset_view
    cdef const uint32_t[::1] length_view
    cdef const uint8_t[::1] proto_view
    cdef const uint32_t[::1] flags_view
    itemsize, width = _APP_FIELD_KINDS[f.kind]
    values = column[1]
    if itemsize == 1:
        u8_view = values
        got = u8_view.shape[0]
        f.u8 = &u8_view[0] if got else NULL
        kept = [u8_view]
    elif itemsize == 2:
        u16_view = values
        got = u16_view.shape[0]
        f.u16 = &u16_view[0] if got else NULL
        kept = [u16_view]
    else:
        u32_view = values
        got = u32_view.shape[0]
        f.u32 = &u32_view[0] if got else NULL
        kept = [u32_view]
    if got < n * width:
        raise ValueError(f"column {k} has {got} values, fewer than {n * width}")
    presence = column[2] if len(column) > 2 else None
    if presence is None:
        return kept
    app, protocols, gate, low, high, nonzero, cut = presence
    app_view = app
    if app_view.shape[0] < n:
        raise ValueError(f"column {k}'s app_proto has {app_view.shape[0]} values, fewer than {n}")
    f.app = &app_view[0] if n else NULL
    f.protocols = protocols
    f.low, f.high, f.nonzero = low, high, nonzero
    kept.append(app_view)
    if gate is not None:
        gate_view = gate
        if gate_view.shape[0] < n:
            raise ValueError(f"column {k}'s gate has {gate_view.shape[0]} values, fewer than {n}")
        f.gate = &gate_view[0] if n else NULL
        kept.append(gate_view)
    if cut is not None:
        caplen, payload_offset, payload_len, ip_proto, flags, least, whole_from = cut
        caplen_view = caplen
        offset_view = payload_offset
        length_view = payload_len
        proto_view = ip_proto
        flags_view = flags
        kept += [caplen_view, offset_view, length_view, proto_view, flags_view]
        for name, got in (("caplen", caplen_view.shape[0]),
                          ("payload_offset", offset_view.shape[0]),
                          ("payload_len", length_view.shape[0]),
                          ("ip_proto", proto_view.shape[0]), ("flags", flags_view.shape[0])):
            if got < n:
                raise ValueError(f"column {k}'s {name} has {got} values, fewer than {n}")
        if n:
            f.caplen = &caplen_view[0]
            f.payload_offset = &offset_view[0]
            f.payload_len = &length_view[0]
            f.ip_proto = &proto_view[0]
            f.flags = &flags_view[0]
        f.least = least
        f.whole_from = whole_from
    return kept


cdef Py_ssize_t _empty_run(const FieldColumn *fields, Py_ssize_t count, Py_ssize_t i,
                           Py_ssize_t n) noexcept nogil:
    # How many rows from i on are empty in every text column of fields (all
    # columns a row at a time: the run ends at the first row any column has)
    cdef Py_ssize_t k, r = i
    while r < n:
        for k in range(count):
            if fields[k].offsets[r + 1] != fields[k].offsets[r]:
                return r - i
        r += 1
    return r - i


cdef void _repeat_line(uint8_t *w, Py_ssize_t count, Py_ssize_t run,
                       uint8_t separator) noexcept nogil:
    # run lines of count - 1 separators and a newline at w (run >= 1): one,
    # then doubled by copies of what is written
    cdef Py_ssize_t total = run * count, done = count, size
    memset(w, separator, count - 1)
    w[count - 1] = 0x0A
    while done < total:
        size = done if done < total - done else total - done
        memcpy(w + done, w, size)
        done += size


def field_lines(uint8_t[::1] out, Py_ssize_t start, Py_ssize_t n, columns,
                uint8_t separator=0x09, uint8_t quote=0):
    """Lines as tshark's ``-T fields`` prints them, for packets ``start`` to
    ``n - 1``, into ``out``: each packet's values of ``columns``,
    tab-separated, a newline after each.  A column is ``("text", offsets,
    data)`` (int32 offsets with ``n + 1`` entries, the strings' bytes),
    ``("u32", values)`` (decimal), ``("time", ns)`` (int64 ns since the
    epoch, as ``seconds.nanoseconds``) or ``("index", base, indices)``
    (``base`` + each packet's index, or ``indices[i]`` if not None, + 1).
    An application column is ``(kind, values, presence)``: kind ``"u8"``,
    ``"u16"`` (decimal), ``"hex16"`` (``0x%04x``), ``"ipv4"`` (uint32 in
    host order, dotted) or ``"mac"`` (6 uint8 a packet, ``aa:bb:...``);
    ``presence`` None (always shown) or ``(app_proto, protocols, gate, low,
    high, nonzero, cut)``: shown only where bit ``app_proto[i]`` of
    ``protocols`` is set, ``low <= gate[i] <= high`` (gate: a uint8 column
    or None), if ``nonzero`` the value is not 0, and if ``cut`` is
    ``(caplen, payload_offset, payload_len, ip_proto, flags, least,
    whole_from)`` (the header pass's columns), at least ``least`` bytes of
    the payload were captured; over TCP, all of it; elsewhere, not
    APP_TRUNCATED where ``whole_from`` (>= 0) bytes or more were captured;
    empty otherwise.  ``separator`` goes between the values (tshark's ``-E
    separator``); ``quote`` (a byte, 0: none) around each value that is not
    empty (``-E quote``).
    Returns ``(next packet, bytes written)``: it stops before a line that
    does not fit in what is left of ``out`` (the caller writes ``out`` and
    calls again; a line longer than ``out`` raises ValueError)."""
    cdef Py_ssize_t k, i = start, used = 0, need, length, mark, count = len(columns)
    cdef const int32_t[::1] offsets_view
    cdef const uint8_t[::1] data_view
    cdef const uint32_t[::1] u32_view
    cdef const int64_t[::1] i64_view
    cdef FieldColumn *fields = NULL
    cdef FieldColumn *f
    cdef uint8_t *w = &out[0] if out.shape[0] else NULL
    cdef bint all_text = True
    cdef Py_ssize_t run, room, copied
    kept = []                       # the views, alive while their pointers are used
    if count == 0:
        raise ValueError("field_lines needs at least one column")
    fields = <FieldColumn *>calloc(count, sizeof(FieldColumn))
    try:
        if fields == NULL:
            raise MemoryError("no memory for the field columns")
        for k, column in enumerate(columns):
            f = &fields[k]
            if column[0] not in _FIELD_KINDS:
                raise ValueError(f"column {k}: unknown kind {column[0]!r}; "
                                 f"choose from {', '.join(_FIELD_KINDS)}")
            f.kind = _FIELD_KINDS[column[0]]
            all_text = all_text and f.kind == FIELD_TEXT
            if f.kind == FIELD_TEXT:
                offsets_view = column[1]
                data_view = column[2]
                if offsets_view.shape[0] < n + 1:
                    raise ValueError(f"column {k} has {offsets_view.shape[0]} offsets, "
                                     f"fewer than {n + 1}")
                kept.append((offsets_view, data_view))
                f.offsets = &offsets_view[0]
                f.data = &data_view[0] if data_view.shape[0] else NULL
                if f.offsets[n] > data_view.shape[0] or f.offsets[start] < 0:
                    raise ValueError(f"column {k}'s offsets run outside its "
                                     f"{data_view.shape[0]} bytes")
            elif f.kind in _APP_FIELD_KINDS:
                kept.append(_app_field(f, k, column, n))
            elif f.kind == FIELD_U32:
                u32_view = column[1]
                if u32_view.shape[0] < n:
                    raise ValueError(f"column {k} has {u32_view.shape[0]} values, fewer than {n}")
                kept.append(u32_view)
                f.u32 = &u32_view[0] if n else NULL
            elif f.kind == FIELD_INDEX and column[2] is None:
                f.base = column[1]
            else:
                i64_view = column[2] if f.kind == FIELD_INDEX else column[1]
                if i64_view.shape[0] < n:
                    raise ValueError(f"column {k} has {i64_view.shape[0]} values, fewer than {n}")
                kept.append(i64_view)
                f.i64 = &i64_view[0] if n else NULL
                if f.kind == FIELD_INDEX:
                    f.base = column[1]
        with nogil:
            while i < n:
                if all_text:
                    # most packets carry none of the names: their lines are
                    # `count` - 1 separators and a newline (empty values are
                    # never quoted), written a run at a time
                    # (the row by row path below cost ~100 instructions a
                    # packet on the recorded mix, `ringcap fields`' three names)
                    run = _empty_run(fields, count, i, n)
                    room = (out.shape[0] - used) // count
                    if run > room:
                        run = room
                    if run > 0:
                        _repeat_line(w + used, count, run, separator)
                        used += run * count
                        i += run
                        continue
                need = count * 3 if quote else count
                for k in range(count):
                    f = &fields[k]
                    need += f.offsets[i + 1] - f.offsets[i] if f.kind == FIELD_TEXT else FIELD_MOST
                if used + need > out.shape[0]:
                    break
                for k in range(count):
                    f = &fields[k]
                    if quote:
                        w[used] = quote
                        used += 1
                    mark = used
                    if f.kind == FIELD_TEXT:
                        length = f.offsets[i + 1] - f.offsets[i]
                        if length:
                            memcpy(w + used, f.data + f.offsets[i], length)
                            used += length
                    else:
                        used += _number_field(w + used, f, i)
                    if quote:
                        if used == mark:
                            used -= 1           # an empty value: no quotes, as tshark
                        else:
                            w[used] = quote
                            used += 1
                    w[used] = separator if k + 1 < count else 0x0A
                    used += 1
                i += 1
        if i == start and start < n:
            raise ValueError(f"the line of packet {start} is longer than the {out.shape[0]} "
                             "bytes of the output buffer")
        return i, used
    finally:
        free(fields)


def _test_dns_name(const uint8_t[::1] message, Py_ssize_t pos, Py_ssize_t captured=-1):
    """Tests only: (name, position after it) of the name at ``pos``; name is
    None when it runs past the captured bytes, False when malformed."""
    cdef uint8_t out[NAME_ROOM]
    cdef Py_ssize_t after = -1, length, full = message.shape[0]
    cdef const uint8_t *m = &message[0] if full else NULL
    if captured < 0 or captured > full:
        captured = full
    if m == NULL:
        return None, -1
    length = _dns_name(m, captured, full, pos, out, &after)
    if length == -1:
        return None, after
    if length == -2:
        return False, after
    return (<char *>out)[:length].decode(), after
