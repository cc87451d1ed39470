# Application lines as tcpdump prints them without -v (included by _text.pyx):
# DNS (udp/tcp 53, mDNS 5353), BOOTP/DHCP, NTP, ESP in UDP (4500) and the first line of HTTP.
# Every read is bounded by `end` (the captured end of the message); output
# stays under APP_BUDGET bytes, so _need's MAX_LINE covers it.

cdef enum:
    APP_BUDGET = 2048
    DNS_PRINT_JUMPS = 128


cdef const char *_dns_type_name(uint16_t t) noexcept nogil:
    if t == 1: return b"A"
    if t == 2: return b"NS"
    if t == 3: return b"MD"
    if t == 4: return b"MF"
    if t == 5: return b"CNAME"
    if t == 6: return b"SOA"
    if t == 7: return b"MB"
    if t == 8: return b"MG"
    if t == 9: return b"MR"
    if t == 10: return b"NULL"
    if t == 11: return b"WKS"
    if t == 12: return b"PTR"
    if t == 13: return b"HINFO"
    if t == 14: return b"MINFO"
    if t == 15: return b"MX"
    if t == 16: return b"TXT"
    if t == 17: return b"RP"
    if t == 18: return b"AFSDB"
    if t == 19: return b"X25"
    if t == 20: return b"ISDN"
    if t == 21: return b"RT"
    if t == 22: return b"NSAP"
    if t == 23: return b"NSAP_PTR"
    if t == 24: return b"SIG"
    if t == 25: return b"KEY"
    if t == 26: return b"PX"
    if t == 27: return b"GPOS"
    if t == 28: return b"AAAA"
    if t == 29: return b"LOC"
    if t == 30: return b"NXT"
    if t == 31: return b"EID"
    if t == 32: return b"NIMLOC"
    if t == 33: return b"SRV"
    if t == 34: return b"ATMA"
    if t == 35: return b"NAPTR"
    if t == 36: return b"KX"
    if t == 37: return b"CERT"
    if t == 38: return b"A6"
    if t == 39: return b"DNAME"
    if t == 40: return b"SINK"
    if t == 41: return b"OPT"
    if t == 42: return b"APL"
    if t == 43: return b"DS"
    if t == 44: return b"SSHFP"
    if t == 45: return b"IPSECKEY"
    if t == 46: return b"RRSIG"
    if t == 47: return b"NSEC"
    if t == 48: return b"DNSKEY"
    if t == 99: return b"SPF"
    if t == 100: return b"UINFO"
    if t == 101: return b"UID"
    if t == 102: return b"GID"
    if t == 103: return b"UNSPEC"
    if t == 104: return b"UNSPECA"
    if t == 249: return b"TKEY"
    if t == 250: return b"TSIG"
    if t == 251: return b"IXFR"
    if t == 252: return b"AXFR"
    if t == 253: return b"MAILB"
    if t == 254: return b"MAILA"
    if t == 255: return b"ANY"
    return NULL


cdef inline uint8_t *put_dns_type(uint8_t *w, uint16_t t) noexcept nogil:
    cdef const char *name = _dns_type_name(t)
    if name != NULL:
        return put_s(w, name)
    w = put_s(w, b"Type")
    return put_u(w, t)


cdef inline uint8_t *put_dns_class(uint8_t *w, uint16_t c) noexcept nogil:
    # tcpdump's ns_class2str, " CHAOS" or " (Class 9)"; IN is never printed
    if c == 3: return put_s(w, b" CHAOS")
    if c == 4: return put_s(w, b" HS")
    if c == 255: return put_s(w, b" ANY")
    w = put_s(w, b" (Class ")
    w = put_u(w, c)
    return put_c(w, b')')


cdef inline uint8_t *put_printable(uint8_t *w, uint8_t c) noexcept nogil:
    # tcpdump's fn_print_char: M- for the high bit, ^ for control characters
    if c >= 0x80:
        w = put_s(w, b"M-")
        c &= 0x7F
    if c < 0x20 or c == 0x7F:
        w = put_c(w, b'^')
        c ^= 0x40
    return put_c(w, <char>c)


cdef Py_ssize_t _dns_put_name(uint8_t **w, const uint8_t *m, Py_ssize_t end,
                              Py_ssize_t pos) noexcept nogil:
    # tcpdump's fqdn_print: labels, each followed by '.', the root as ".".
    # m: the DNS message, end: its captured end.  Returns the position after
    # the name in the message, or -1 (cut or malformed), or -3 after printing
    # "<BAD PTR>" for a pointer that does not move backwards (tcpdump's rule,
    # BIND's too: it also ends every pointer loop).
    cdef Py_ssize_t after = -1, jumps = 0, wire = 0, k, max_offset = pos, target
    cdef uint8_t length
    if pos >= end:
        return -1
    if m[pos] == 0:
        w[0] = put_c(w[0], b'.')
        return pos + 1
    while True:
        if pos >= end:
            return -1
        length = m[pos]
        if length == 0:
            return after if after >= 0 else pos + 1
        if length & 0xC0 == 0xC0:
            if pos + 2 > end:
                return -1
            if after < 0:
                after = pos + 2
            target = ((length & 0x3F) << 8) | m[pos + 1]
            if target >= max_offset:
                w[0] = put_s(w[0], b"<BAD PTR>")
                return -3
            max_offset = target
            jumps += 1
            pos = target
            if jumps > DNS_PRINT_JUMPS:
                return -1
            continue
        if length & 0xC0:
            return -1
        wire += length + 1
        if wire > 255 or pos + 1 + length > end:
            return -1
        for k in range(pos + 1, pos + 1 + length):
            w[0] = put_printable(w[0], m[k])
        w[0] = put_c(w[0], b'.')
        pos += 1 + length


cdef Py_ssize_t _dns_skip(const uint8_t *m, Py_ssize_t end, Py_ssize_t pos) noexcept nogil:
    # The position after the name at pos: -1 where it runs past end, -2 for a
    # label type that is neither a length nor a pointer.
    cdef uint8_t length
    while pos < end:
        length = m[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2 if pos + 2 <= end else -1
        if length & 0xC0:
            return -2
        pos += 1 + length
    return -1


cdef Py_ssize_t _dns_put_answer(uint8_t **w, const uint8_t *m, Py_ssize_t end,
                                Py_ssize_t pos, bint mdns) noexcept nogil:
    # tcpdump's ns_rprint without -v: " TYPE data".  Returns the next record's position,
    # -1 (not printed as tcpdump does: the caller falls back), or -3 where tcpdump's
    # line ends here with [|domain] (a name's <BAD PTR>, data past the end).
    cdef uint16_t rtype, rclass
    cdef Py_ssize_t rdlen, rd, k, j
    cdef char text[48]
    pos = _dns_skip(m, end, pos)
    if pos < 0 or pos + 10 > end:
        return -1
    rtype = rd16(m + pos)
    rclass = rd16(m + pos + 2)
    rdlen = rd16(m + pos + 8)
    rd = pos + 10
    if rtype == 41:             # OPT
        w[0] = put_s(w[0], b" OPT UDPsize=")
        w[0] = put_u(w[0], rclass)
        return rd + rdlen if rd + rdlen <= end else -1
    # ns_rprint: the class if it is not IN, mDNS's cache-flush bit, then the type
    if (rclass & 0x7FFF if mdns else rclass) != 1:
        w[0] = put_dns_class(w[0], rclass & 0x7FFF if mdns else rclass)
    if mdns and rclass & 0x8000:
        w[0] = put_s(w[0], b" (Cache flush)")
    w[0] = put_c(w[0], b' ')
    w[0] = put_dns_type(w[0], rtype)
    if rd + rdlen > end:
        return -3              # data cut short: tcpdump ends the line after the type
    if rtype == 1 and rdlen == 4:
        w[0] = put_c(w[0], b' ')
        w[0] = put_ipv4(w[0], m + rd)
    elif rtype == 28 and rdlen == 16:
        w[0] = put_c(w[0], b' ')
        w[0] = put_ipv6(w[0], m + rd)
    elif rtype == 2 or rtype == 5 or rtype == 12 or rtype == 39:
        w[0] = put_c(w[0], b' ')
        k = _dns_put_name(w, m, end, rd)
        if k < 0:
            return k
    elif rtype == 15 and rdlen >= 3:
        w[0] = put_c(w[0], b' ')
        k = _dns_put_name(w, m, end, rd + 2)
        if k < 0:
            return k
        w[0] = put_c(w[0], b' ')
        w[0] = put_u(w[0], rd16(m + rd))
    elif rtype == 33 and rdlen >= 7:
        w[0] = put_c(w[0], b' ')
        k = _dns_put_name(w, m, end, rd + 6)
        if k < 0:
            return k
        w[0] = put_c(w[0], b':')
        w[0] = put_u(w[0], rd16(m + rd + 4))
        w[0] = put_c(w[0], b' ')
        w[0] = put_u(w[0], rd16(m + rd))
        w[0] = put_c(w[0], b' ')
        w[0] = put_u(w[0], rd16(m + rd + 2))
    elif rtype == 16:
        if rdlen > 256:
            return -1          # keeps the line within APP_BUDGET: fall back
        k = rd
        while k < rd + rdlen:
            if k + 1 + m[k] > rd + rdlen:
                return -1
            w[0] = put_s(w[0], b" \"")
            for j in range(k + 1, k + 1 + m[k]):
                w[0] = put_printable(w[0], m[j])
            k += 1 + m[k]
            w[0] = put_c(w[0], b'"')
    elif rtype != 6 and rtype != 13 and rtype != 47 and rtype != 46 and rtype != 48 \
            and rtype != 43 and rtype != 255 and rtype != 10:
        return -1              # a type whose data tcpdump prints in its own way: fall back
    return rd + rdlen


cdef const char *_dns_rcode_name(uint8_t rcode) noexcept nogil:
    if rcode == 0: return b""
    if rcode == 1: return b" FormErr"
    if rcode == 2: return b" ServFail"
    if rcode == 3: return b" NXDomain"
    if rcode == 4: return b" NotImp"
    if rcode == 5: return b" Refused"
    if rcode == 6: return b" YXDomain"
    if rcode == 7: return b" YXRRSet"
    if rcode == 8: return b" NXRRSet"
    if rcode == 9: return b" NotAuth"
    if rcode == 10: return b" NotZone"
    return NULL


cdef const char *_dns_opcode_name(uint8_t op) noexcept nogil:
    if op == 0: return b""
    if op == 1: return b" inv_q"
    if op == 2: return b" stat"
    if op == 4: return b" notify"
    if op == 5: return b" update"
    return NULL


cdef uint8_t *put_dns(uint8_t *w, const uint8_t *m, Py_ssize_t end, Py_ssize_t length,
                      bint mdns) noexcept nogil:
    # tcpdump's ns_print without -v: "4660+ [1au] A? example.com. (29)" or
    # "4660 1/0/0 A 10.0.0.1 (45)".  m/end: the message as captured; length:
    # its length on the wire.  Returns NULL where this does not print what
    # tcpdump prints (the caller keeps its generic line).
    cdef uint8_t *start = w
    cdef uint16_t b2, qdcount, ancount, nscount, arcount, qclass
    cdef uint8_t opcode, rcode
    cdef Py_ssize_t pos, k
    cdef const char *op_name
    cdef const char *rcode_name
    if end < 12:
        return NULL
    b2 = rd16(m + 2)
    opcode = (b2 >> 11) & 0x0F
    rcode = b2 & 0x0F
    qdcount = rd16(m + 4)
    ancount = rd16(m + 6)
    nscount = rd16(m + 8)
    arcount = rd16(m + 10)
    op_name = _dns_opcode_name(opcode)
    if op_name == NULL or opcode == 1:
        return NULL
    w = put_u(w, rd16(m))
    w = put_s(w, op_name)
    pos = 12
    if b2 & 0x8000:            # response
        rcode_name = _dns_rcode_name(rcode)
        if rcode_name == NULL:
            return NULL
        w = put_s(w, rcode_name)
        if b2 & 0x0400: w = put_c(w, b'*')
        if not b2 & 0x0080: w = put_c(w, b'-')
        if b2 & 0x0200: w = put_c(w, b'|')
        if b2 & 0x0020: w = put_c(w, b'$')
        if qdcount != 1:
            w = put_s(w, b" [")
            w = put_u(w, qdcount)
            w = put_s(w, b"q]")
        for k in range(qdcount):
            if k:
                w = put_c(w, b',')    # tcpdump's separator for each question it skips
            pos = _dns_skip(m, end, pos)
            if pos < 0 or pos + 4 > end:
                return NULL
            pos += 4
        w = put_c(w, b' ')
        w = put_u(w, ancount)
        w = put_c(w, b'/')
        w = put_u(w, nscount)
        w = put_c(w, b'/')
        w = put_u(w, arcount)
        for k in range(ancount):
            if k:
                w = put_c(w, b',')
            pos = _dns_put_answer(&w, m, end, pos, mdns)
            if pos == -3:
                return put_s(w, b" [|domain]")     # after "<BAD PTR>" or a type whose data is cut
            if pos < 0 or w - start > APP_BUDGET:
                return NULL
    else:
        if b2 & 0x0100: w = put_c(w, b'+')
        if b2 & 0x0010: w = put_c(w, b'%')
        if b2 & 0x6CF:
            w = put_s(w, b" [b2&3=0x")
            w = put_hex(w, b2)
            w = put_c(w, b']')
        if ancount:
            w = put_s(w, b" [")
            w = put_u(w, ancount)
            w = put_s(w, b"a]")
        if qdcount != 1:
            w = put_s(w, b" [")
            w = put_u(w, qdcount)
            w = put_s(w, b"q]")
        if nscount:
            w = put_s(w, b" [")
            w = put_u(w, nscount)
            w = put_s(w, b"n]")
        if arcount:
            w = put_s(w, b" [")
            w = put_u(w, arcount)
            w = put_s(w, b"au]")
        for k in range(qdcount):
            if k >= 4 or w - start > APP_BUDGET:
                return NULL
            # ns_qprint: " TYPE? name." (the class only if it is not IN; mDNS: " TYPE (QM)? name.");
            # a question cut short (its name or type and class past the end) ends the line
            # as tcpdump's truncation does
            k = _dns_skip(m, end, pos)
            if k == -1 or (k >= 0 and k + 4 > end):
                return put_s(w, b" [|domain]")
            if k < 0:
                return NULL
            qclass = rd16(m + k + 2)
            w = put_c(w, b' ')
            w = put_dns_type(w, rd16(m + k))
            if (qclass & 0x7FFF if mdns else qclass) != 1:
                w = put_dns_class(w, qclass & 0x7FFF if mdns else qclass)
            if mdns:           # the top bit of an mDNS question's class: unicast response wanted
                if qclass & 0x8000: w = put_s(w, b" (QU)")
                else: w = put_s(w, b" (QM)")
            w = put_s(w, b"? ")
            k = _dns_put_name(&w, m, end, pos)
            if k == -3:
                return put_s(w, b" [|domain]")     # after "<BAD PTR>"
            if k < 0:
                return NULL
            pos = k + 4
    w = put_s(w, b" (")
    w = put_u(w, <uint64_t>length)
    return put_c(w, b')')


cdef uint8_t *put_udp_natt(uint8_t *w, const uint8_t *p, Py_ssize_t cap, Py_ssize_t l4,
                           Py_ssize_t ulen) noexcept nogil:
    # UDP port 4500 (IPsec NAT traversal, RFC 3948), with or without -v: ESP
    # in UDP as tcpdump's isakmp_rfc3948_print and esp_print show it, a
    # keep-alive; NULL (the generic line) for IKE behind its non-ESP marker
    cdef Py_ssize_t end = cap - l4 - 8, length = ulen - 8
    cdef const uint8_t *m = p + l4 + 8
    if rd16(p + l4) != 4500 and rd16(p + l4 + 2) != 4500:
        return NULL
    if end > length:
        end = length
    if length == 1 and end >= 1 and m[0] == 0xFF:
        return put_s(w, b"isakmp-nat-keep-alive")
    if length < 4 or end < 4:
        return put_s(w, b" [|isakmp_rfc3948]")
    if rd32(m) == 0:
        return NULL
    if end <= 8:        # esp_print wants a byte past the header
        return put_s(w, b"UDP-encap:  [|esp]")
    w = put_s(w, b"UDP-encap: ESP(spi=0x")
    w = put_hex_pad(w, rd32(m), 8)
    w = put_s(w, b",seq=0x")
    w = put_hex(w, rd32(m + 4))
    w = put_s(w, b"), length ")
    return put_u(w, <uint64_t>length)


cdef uint8_t *put_udp_app(uint8_t *w, const uint8_t *p, Py_ssize_t cap, Py_ssize_t l4,
                          Py_ssize_t ulen) noexcept nogil:
    # After "a.p > b.q: ": the application line for a UDP datagram (ulen:
    # its UDP length), or NULL to print "UDP, length N".
    cdef uint16_t sport = rd16(p + l4), dport = rd16(p + l4 + 2)
    cdef const uint8_t *m = p + l4 + 8
    cdef Py_ssize_t end = cap - l4 - 8, length = ulen - 8
    cdef uint8_t mode
    if end > length:
        end = length
    if end < 0:
        return NULL
    if sport == 4500 or dport == 4500:
        return put_udp_natt(w, p, cap, l4, ulen)
    if sport == 123 or dport == 123:
        if end < 1:
            return NULL
        # ntp_print without -v: the first byte's version and mode, whatever the length
        mode = m[0] & 7
        w = put_s(w, b"NTPv")
        w = put_u(w, (m[0] >> 3) & 7)
        w = put_s(w, b", ")
        if mode == 0: w = put_s(w, b"unspecified")
        elif mode == 1: w = put_s(w, b"symmetric active")
        elif mode == 2: w = put_s(w, b"symmetric passive")
        elif mode == 3: w = put_s(w, b"Client")
        elif mode == 4: w = put_s(w, b"Server")
        elif mode == 5: w = put_s(w, b"Broadcast")
        elif mode == 6: w = put_s(w, b"Control Message")
        else: w = put_s(w, b"Reserved")
        w = put_s(w, b", length ")
        return put_u(w, <uint64_t>length)
    if sport == 67 or dport == 67 or sport == 68 or dport == 68:
        if end < 34 or (m[0] != 1 and m[0] != 2):
            return NULL
        w = put_s(w, b"BOOTP/DHCP, ")
        if m[0] == 1:
            w = put_s(w, b"Request")
            if m[1] == 1 and m[2] == 6:
                w = put_s(w, b" from ")
                w = put_mac(w, m + 28)
        else:
            w = put_s(w, b"Reply")
        w = put_s(w, b", length ")
        return put_u(w, <uint64_t>length)
    if (sport == 53 or dport == 53 or sport == 5353 or dport == 5353) and length < 12:
        w = put_s(w, b"domain [length ")      # domain_print's check of the header's length
        w = put_u(w, <uint64_t>length)
        return put_s(w, b" < 12] (invalid)")
    if sport == 53 or dport == 53:
        return put_dns(w, m, end, length, False)
    if sport == 5353 or dport == 5353:
        return put_dns(w, m, end, length, True)
    return NULL


cdef inline bint _http_port(uint16_t port) noexcept nogil:
    return port == 80 or port == 8080


# tcpdump's httpcmds (print-http.c): a first token that makes the line printed
cdef const char *_HTTP_METHODS[38]
_HTTP_METHODS[:] = [
    b"GET", b"PUT", b"COPY", b"HEAD", b"LOCK", b"MOVE", b"POLL", b"POST", b"BCOPY", b"BMOVE",
    b"MKCOL", b"TRACE", b"LABEL", b"MERGE", b"DELETE", b"SEARCH", b"UNLOCK", b"REPORT",
    b"UPDATE", b"NOTIFY", b"BDELETE", b"CONNECT", b"OPTIONS", b"CHECKIN", b"PROPFIND",
    b"CHECKOUT", b"CCM_POST", b"SUBSCRIBE", b"PROPPATCH", b"BPROPFIND", b"BPROPPATCH",
    b"UNCHECKOUT", b"MKACTIVITY", b"MKWORKSPACE", b"UNSUBSCRIBE", b"RPC_CONNECT",
    b"VERSION-CONTROL", b"BASELINE-CONTROL"]


cdef inline Py_ssize_t _token(const uint8_t *d, Py_ssize_t n, Py_ssize_t k,
                              Py_ssize_t *start) noexcept nogil:
    # tcpdump's fetch_token: the token at k (up to a space, CR or LF); returns
    # where the next one starts (spaces skipped), or -1 if none fits.
    cdef Py_ssize_t j = k
    while j < n and d[j] != b' ' and d[j] != b'\r' and d[j] != b'\n':
        if not (0x20 < d[j] < 0x7F) or j - k >= 32:
            return -1
        j += 1
    if j == k or j >= n:
        return -1
    start[0] = j
    while j < n and d[j] == b' ':
        j += 1
    return j


cdef bint _http_line_printed(const uint8_t *d, Py_ssize_t n) noexcept nogil:
    # txtproto_print's print_this: a known method, or a 3-digit second token
    cdef Py_ssize_t end1 = 0, end2 = 0, next1, next2, k, m
    cdef const char *method
    next1 = _token(d, n, 0, &end1)
    if next1 < 0:
        return False
    for m in range(38):
        method = _HTTP_METHODS[m]
        k = 0
        while k < end1 and method[k] and (d[k] | 0x20) == (<uint8_t>method[k] | 0x20):
            k += 1
        if k == end1 and method[k] == 0:
            return True
    next2 = _token(d, n, next1, &end2)
    return next2 >= 0 and end2 - next1 == 3 and b'0' <= d[next1] <= b'9' \
        and b'0' <= d[next1 + 1] <= b'9' and b'0' <= d[next1 + 2] <= b'9'


cdef uint8_t *put_tcp_app(uint8_t *w, const uint8_t *d, Py_ssize_t captured,
                          Py_ssize_t length, uint16_t sport, uint16_t dport) noexcept nogil:
    # After "..., length N": what tcpdump adds for the segment's data (d,
    # `captured` of `length` bytes), or w unchanged.
    cdef Py_ssize_t k
    cdef uint8_t *out
    if captured > length:
        captured = length
    if (sport == 53 or dport == 53) and length < 2:
        w = put_s(w, b" [DNS over TCP: length ")
        w = put_u(w, <uint64_t>length)
        return put_s(w, b" < 2] (invalid)")
    if (sport == 53 or dport == 53) and captured >= 2:
        if rd16(d) != length - 2:
            w = put_s(w, b" [prefix length(")
            w = put_u(w, rd16(d))
            w = put_s(w, b") != length(")
            w = put_u(w, <uint64_t>(length - 2))
            return put_s(w, b")] (invalid)")
        out = put_dns(put_c(w, b' '), d + 2, captured - 2, length - 2, False)
        return out if out != NULL else w
    if (_http_port(sport) or _http_port(dport)) and captured == length:
        w = put_s(w, b": HTTP")
        if not _http_line_printed(d, captured):
            return w
        # print_txt_line: the first line, if it is printable text ending in (CR)LF;
        # printable text to the segment's end is printed as cut short (" [|http]")
        for k in range(captured if captured < APP_BUDGET else APP_BUDGET):
            if d[k] == b'\n' or (d[k] == b'\r' and k + 1 < captured and d[k + 1] == b'\n'):
                w = put_s(w, b": ")
                memcpy(w, d, k)
                return w + k
            if not (0x20 <= d[k] < 0x7F or d[k] == b'\t'):
                return w
        if captured < APP_BUDGET:
            w = put_s(w, b": ")
            memcpy(w, d, captured)
            return put_s(w + captured, b" [|http]")
    return w
