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
                              Py_ssize_t pos, const uint8_t *limit) noexcept nogil:
    # tcpdump's fqdn_print: labels, each followed by '.', the root as ".".
    # m: the DNS message, end: its captured end.  Returns the position after
    # the name in the message; -1 (fall back: a label type that is neither a
    # length nor a pointer, a name over 255 bytes, text that could pass
    # `limit`); -3 where tcpdump's line ends with [|domain]: the name cut
    # short (a label printed up to the captured end, as nd_printn does) or
    # "<BAD PTR>" printed for a pointer that does not move backwards
    # (tcpdump's rule, BIND's too: it also ends every pointer loop); or -4
    # where the capture ends just after a label's length byte (fqdn_print
    # stops there without an error: its caller finds the record cut).
    cdef Py_ssize_t after = -1, jumps = 0, wire = 0, k, max_offset = pos, target
    cdef uint8_t length
    cdef bint first_pointer
    if pos >= end:
        return -3
    length = m[pos]
    if length == 0:
        w[0] = put_c(w[0], b'.')
        return pos + 1
    if length & 0xC0 == 0x40 or length & 0xC0 == 0x80:
        return -1
    first_pointer = length & 0xC0 == 0xC0
    pos += 1
    while length and pos < end:
        if length & 0xC0 == 0xC0:
            if after < 0:
                after = pos + 1
            target = ((length & 0x3F) << 8) | m[pos]
            if target >= max_offset:
                w[0] = put_s(w[0], b"<BAD PTR>")
                return -3
            max_offset = target
            jumps += 1
            if jumps > DNS_PRINT_JUMPS:
                return -1
            pos = target
            length = m[pos]
            if length & 0xC0 == 0x40 or length & 0xC0 == 0x80:
                return -1
            pos += 1
            continue
        wire += length + 1
        if wire > 255 or w[0] + 4 * length + 1 > limit:
            return -1
        for k in range(pos, pos + length if pos + length <= end else end):
            w[0] = put_printable(w[0], m[k])
        if pos + length > end:
            return -3           # the label cut short
        pos += length
        w[0] = put_c(w[0], b'.')
        if pos >= end:
            return -3           # the next length byte not captured
        length = m[pos]
        if length & 0xC0 == 0x40 or length & 0xC0 == 0x80:
            return -1
        pos += 1
    if length:                  # the capture ends after a length byte
        return -3 if first_pointer and after < 0 else -4
    return after if after >= 0 else pos


cdef Py_ssize_t _dns_skip(const uint8_t *m, Py_ssize_t end, Py_ssize_t pos) noexcept nogil:
    # tcpdump's ns_nskip: the position after the name at pos (after a
    # pointer's two bytes, the second captured or not), -1 where a length
    # byte is past end, -2 for a label type that is neither a length nor a
    # pointer.
    cdef uint8_t length
    while pos < end:
        length = m[pos]
        if length == 0:
            return pos + 1
        if length & 0xC0 == 0xC0:
            return pos + 2
        if length & 0xC0:
            return -2
        pos += 1 + length
    return -1


cdef uint8_t *put_relts(uint8_t *w, uint32_t secs) noexcept nogil:
    # tcpdump's unsigned_relts_print: "1h2m3s", "0s"
    cdef const char *units = b"ywdhms"
    cdef uint32_t[6] sizes = [31536000, 604800, 86400, 3600, 60, 1]
    cdef int i
    if secs == 0:
        return put_s(w, b"0s")
    for i in range(6):
        if secs >= sizes[i]:
            w = put_u(w, secs // sizes[i])
            w = put_c(w, units[i])
            secs %= sizes[i]
    return w


cdef Py_ssize_t _dns_put_edns_options(uint8_t **w, const uint8_t *m, Py_ssize_t end,
                                      Py_ssize_t rd, Py_ssize_t rdlen,
                                      const uint8_t *limit) noexcept nogil:
    # An OPT record's options as tcpdump's eopt_print: " [COOKIE 0123..., PADDING (12)]".
    # Returns 0, -1 (an option printed in a way this does not: the generic
    # line), or -3 (an option past the captured end: tcpdump's [|domain]).
    cdef Py_ssize_t k = rd, stop = rd + rdlen, dlen, j
    cdef uint16_t opt
    w[0] = put_s(w[0], b" [")
    while k < stop:
        if k + 4 > end:
            return -3
        opt = rd16(m + k)
        dlen = rd16(m + k + 2)
        if k + 4 + dlen > end:
            return -3
        if dlen > 64 or w[0] + 2 * dlen + 24 > limit:
            return -1
        if opt == 1: w[0] = put_s(w[0], b"LLQ")
        elif opt == 2: w[0] = put_s(w[0], b"UL")
        elif opt == 3: w[0] = put_s(w[0], b"NSID")
        elif opt == 9: w[0] = put_s(w[0], b"EXPIRE")
        elif opt == 10: w[0] = put_s(w[0], b"COOKIE")
        elif opt == 11: w[0] = put_s(w[0], b"KEEPALIVE")
        elif opt == 12: w[0] = put_s(w[0], b"PADDING")
        elif opt == 14: w[0] = put_s(w[0], b"KEY-TAG")
        elif opt == 16: w[0] = put_s(w[0], b"CLIENT-TAG")
        elif opt == 17: w[0] = put_s(w[0], b"SERVER-TAG")
        elif opt == 0 or opt == 15 or opt > 17:     # tcpdump 4.99 knows no EDE (15)
            w[0] = put_s(w[0], b"Opt")
            w[0] = put_u(w[0], opt)
        else:
            return -1          # DAU, DHU, N3U, ECS, CHAIN: their data in ways of their own
        if dlen > 0:
            w[0] = put_c(w[0], b' ')
            if opt == 11:
                if dlen != 2:
                    return -1
                w[0] = put_u(w[0], rd16(m + k + 4) // 10)   # "%0.1f sec" of 100 ms units
                w[0] = put_c(w[0], b'.')
                w[0] = put_u(w[0], rd16(m + k + 4) % 10)
                w[0] = put_s(w[0], b" sec")
            elif opt == 14:
                if dlen % 2:
                    return -1
                for j in range(0, dlen, 2):
                    if j:
                        w[0] = put_c(w[0], b' ')
                    w[0] = put_u(w[0], rd16(m + k + 4 + j))
            elif opt == 12:
                w[0] = put_c(w[0], b'(')
                w[0] = put_u(w[0], <uint64_t>dlen)
                w[0] = put_c(w[0], b')')
            elif opt == 9:
                if dlen != 4:
                    return -1
                w[0] = put_u(w[0], rd32(m + k + 4))
                w[0] = put_s(w[0], b" sec")
            else:
                if opt == 10 and (dlen < 8 or (dlen > 8 and dlen < 16) or dlen > 40):
                    return -1
                for j in range(dlen):
                    if opt == 10 and j == 8:
                        w[0] = put_c(w[0], b' ')     # the client cookie, then the server's
                    w[0] = put_c(w[0], _HEX[m[k + 4 + j] >> 4])
                    w[0] = put_c(w[0], _HEX[m[k + 4 + j] & 15])
        k += 4 + dlen
        if k < stop:
            w[0] = put_c(w[0], b',')
    w[0] = put_c(w[0], b']')
    return 0


cdef Py_ssize_t _dns_put_answer(uint8_t **w, const uint8_t *m, Py_ssize_t end,
                                Py_ssize_t pos, bint mdns, int verbose,
                                const uint8_t *limit) noexcept nogil:
    # tcpdump's ns_rprint: " TYPE data", with -v " name. TYPE data" (-vvv: the
    # TTL too).  Returns the next record's position, -1 (not printed as
    # tcpdump does: the caller falls back), -3 where tcpdump's line ends
    # here with [|domain] (-v: the owner's name cut short or its <BAD PTR>;
    # data past the end), or -4 where the capture ends before the record's
    # fixed part (ns_rprint returns the captured end: no more records are
    # printed, and [|domain] follows only if the count wants more).  The text
    # of names, strings and options is checked against `limit` before it is
    # written; the rest of a record is under 100 bytes.
    cdef uint16_t rtype, rclass, cls
    cdef Py_ssize_t rdlen, rd, k, j
    if verbose:
        w[0] = put_c(w[0], b' ')
        k = _dns_put_name(w, m, end, pos, limit)
        if k < 0:
            return k
        pos = k
    else:
        pos = _dns_skip(m, end, pos)
        if pos == -1:
            return -4
        if pos < 0:
            return -1
    if pos + 10 > end:
        return -4
    rtype = rd16(m + pos)
    rclass = rd16(m + pos + 2)
    rdlen = rd16(m + pos + 8)
    rd = pos + 10
    # the class if it is not IN (nor an OPT's UDP size), mDNS's cache-flush bit
    cls = rclass & 0x7FFF if mdns else rclass
    if cls != 1 and rtype != 41:
        w[0] = put_dns_class(w[0], cls)
    if mdns and rclass & 0x8000:
        w[0] = put_s(w[0], b" (Cache flush)")
    if verbose > 2 and rtype != 41:
        w[0] = put_s(w[0], b" [")
        w[0] = put_relts(w[0], rd32(m + pos + 4))
        w[0] = put_c(w[0], b']')
    w[0] = put_c(w[0], b' ')
    w[0] = put_dns_type(w[0], rtype)
    if rd + rdlen > end:
        return -3              # data cut short: tcpdump ends the line after the type
    if rtype == 41:             # OPT: the UDP size in the class, the DO bit in the TTL
        w[0] = put_s(w[0], b" UDPsize=")
        w[0] = put_u(w[0], rclass)
        if rd16(m + pos + 6) & 0x8000:
            w[0] = put_s(w[0], b" DO")
        if rdlen:
            k = _dns_put_edns_options(w, m, end, rd, rdlen, limit)
            if k < 0:
                return k
    elif rtype == 1 and rdlen == 4:
        w[0] = put_c(w[0], b' ')
        w[0] = put_ipv4(w[0], m + rd)
    elif rtype == 28 and rdlen == 16:
        w[0] = put_c(w[0], b' ')
        w[0] = put_ipv6(w[0], m + rd)
    elif rtype == 2 or rtype == 5 or rtype == 12 or rtype == 39:
        w[0] = put_c(w[0], b' ')
        k = _dns_put_name(w, m, end, rd, limit)
        if k < 0 and k != -4:
            return k
    elif rtype == 6 and verbose:
        # -v: the primary server, the mailbox, serial, refresh, retry, expire, minimum
        w[0] = put_c(w[0], b' ')
        k = _dns_put_name(w, m, end, rd, limit)
        if k < 0:
            return -3 if k == -4 else k
        w[0] = put_c(w[0], b' ')
        k = _dns_put_name(w, m, end, k, limit)
        if k < 0:
            return -3 if k == -4 else k
        if k + 20 > end:
            return -3
        for j in range(5):
            w[0] = put_c(w[0], b' ')
            w[0] = put_u(w[0], rd32(m + k + 4 * j))
    elif rtype == 15 and rdlen >= 3:
        w[0] = put_c(w[0], b' ')
        k = _dns_put_name(w, m, end, rd + 2, limit)
        if k < 0 and k != -4:
            return k
        w[0] = put_c(w[0], b' ')
        w[0] = put_u(w[0], rd16(m + rd))
    elif rtype == 33 and rdlen >= 7:
        w[0] = put_c(w[0], b' ')
        k = _dns_put_name(w, m, end, rd + 6, limit)
        if k < 0 and k != -4:
            return k
        w[0] = put_c(w[0], b':')
        w[0] = put_u(w[0], rd16(m + rd + 4))
        w[0] = put_c(w[0], b' ')
        w[0] = put_u(w[0], rd16(m + rd))
        w[0] = put_c(w[0], b' ')
        w[0] = put_u(w[0], rd16(m + rd + 2))
    elif rtype == 16:
        k = rd
        while k < rd + rdlen:
            if k + 1 + m[k] > rd + rdlen or w[0] + 4 * m[k] + 3 > limit:
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


cdef Py_ssize_t _dns_put_question(uint8_t **w, const uint8_t *m, Py_ssize_t end,
                                  Py_ssize_t pos, bint mdns, const uint8_t *limit) noexcept nogil:
    # tcpdump's ns_qprint: " TYPE? name." (the class only if it is not IN;
    # mDNS: " TYPE (QM)? name.").  Returns the position after the question,
    # -1 (fall back) or -3 (tcpdump's line ends with [|domain] here: the
    # question cut short, or after "<BAD PTR>").
    cdef Py_ssize_t k = _dns_skip(m, end, pos)
    cdef uint16_t qclass
    if k == -1 or (k >= 0 and k + 4 > end):
        return -3
    if k < 0:
        return -1
    qclass = rd16(m + k + 2)
    w[0] = put_c(w[0], b' ')
    w[0] = put_dns_type(w[0], rd16(m + k))
    if (qclass & 0x7FFF if mdns else qclass) != 1:
        w[0] = put_dns_class(w[0], qclass & 0x7FFF if mdns else qclass)
    if mdns:           # the top bit of an mDNS question's class: unicast response wanted
        if qclass & 0x8000: w[0] = put_s(w[0], b" (QU)")
        else: w[0] = put_s(w[0], b" (QM)")
    w[0] = put_s(w[0], b"? ")
    k = _dns_put_name(w, m, end, pos, limit)
    return k + 4 if k >= 0 else k


cdef Py_ssize_t _dns_put_section(uint8_t **w, const uint8_t *m, Py_ssize_t end, Py_ssize_t pos,
                                 uint16_t count, const char *label, bint checked, bint mdns,
                                 int verbose, const uint8_t *limit) noexcept nogil:
    # A section's records as domain_print's loops: "label" (" ns:", " ar:",
    # or "" for the answers) before the first, "," between, the next only
    # while the message goes on; [|domain] (-3) where the count wants more
    # than was printed.  checked: the first record too only if the message
    # goes on (tcpdump: so for -vv's ns and ar, not for the answers).
    if count == 0:
        return pos
    if checked and pos >= end:
        return -3
    w[0] = put_s(w[0], label)
    while True:
        if w[0] > limit:
            return -1
        pos = _dns_put_answer(w, m, end, pos, mdns, verbose, limit)
        if pos == -4:
            pos = end           # ns_rprint's "the captured end"
        elif pos < 0:
            return pos
        count -= 1
        if count == 0:
            return pos
        if pos >= end:
            return -3
        w[0] = put_c(w[0], b',')


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
                      bint mdns, int verbose) noexcept nogil:
    # tcpdump's ns_print: "4660+ [1au] A? example.com. (29)" or
    # "4660 1/0/0 A 10.0.0.1 (45)"; -v names each record's owner, -vv adds a
    # response's questions (" q:") and every section (" ns:", " ar:").
    # m/end: the message as captured; length: its length on the wire.
    # Returns NULL where this does not print what tcpdump prints (the caller
    # keeps its generic line).  The text stays within APP_BUDGET bytes (plus
    # one record's fixed part, under 100).
    cdef uint8_t *start = w
    cdef const uint8_t *limit = w + APP_BUDGET
    cdef uint16_t b2, qdcount, ancount, nscount, arcount
    cdef uint8_t opcode, rcode
    cdef Py_ssize_t pos, k
    cdef const char *op_name
    cdef const char *rcode_name
    if end < 12:
        return put_s(w, b" [|domain]")     # the header cut short (its length is checked before)
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
                w = put_c(w, b',')    # tcpdump's separator for each question
            if verbose > 1:
                if w > limit:
                    return NULL
                w = put_s(w, b" q:")
                pos = _dns_put_question(&w, m, end, pos, mdns, limit)
                if pos == -3:
                    return put_s(w, b" [|domain]")
                if pos < 0:
                    return NULL
            else:
                # ns_nskip, then the type and class skipped unchecked (a
                # record after them is then found cut)
                pos = _dns_skip(m, end, pos)
                if pos == -1:
                    return put_s(w, b" [|domain]")
                if pos < 0:
                    return NULL
                pos += 4
        w = put_c(w, b' ')
        w = put_u(w, ancount)
        w = put_c(w, b'/')
        w = put_u(w, nscount)
        w = put_c(w, b'/')
        w = put_u(w, arcount)
        pos = _dns_put_section(&w, m, end, pos, ancount, b"", False, mdns, verbose, limit)
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
            if k >= 4 or w > limit:
                return NULL
            # a question cut short (its name or type and class past the end) ends the line
            # as tcpdump's truncation does
            pos = _dns_put_question(&w, m, end, pos, mdns, limit)
            if pos == -3:
                return put_s(w, b" [|domain]")
            if pos < 0:
                return NULL
        if verbose > 1:
            pos = _dns_put_section(&w, m, end, pos, ancount, b"", False, mdns, verbose, limit)
    if verbose > 1 and pos >= 0:
        pos = _dns_put_section(&w, m, end, pos, nscount, b" ns:", True, mdns, verbose, limit)
        if pos >= 0:
            pos = _dns_put_section(&w, m, end, pos, arcount, b" ar:", True, mdns, verbose, limit)
    if pos == -3:
        return put_s(w, b" [|domain]")
    if pos < 0:
        return NULL
    w = put_s(w, b" (")
    w = put_u(w, <uint64_t>length)
    return put_c(w, b')')


cdef uint8_t *put_udp_natt(uint8_t *w, const uint8_t *p, Py_ssize_t cap, Py_ssize_t l4,
                           Py_ssize_t ulen, int verbose) noexcept nogil:
    # UDP port 4500 (IPsec NAT traversal, RFC 3948), with or without -v: ESP
    # in UDP as tcpdump's isakmp_rfc3948_print and esp_print show it, a
    # keep-alive, IKEv2 behind its non-ESP marker without -v (text_lan.pxi);
    # NULL (the generic line) for other IKE
    cdef Py_ssize_t end = cap - l4 - 8, length = ulen - 8
    cdef const uint8_t *m = p + l4 + 8
    cdef uint8_t *said
    if rd16(p + l4) != 4500 and rd16(p + l4 + 2) != 4500:
        return NULL
    if end > length:
        end = length
    if length == 1 and end >= 1 and m[0] == 0xFF:
        return put_s(w, b"isakmp-nat-keep-alive")
    if length < 4 or end < 4:
        return put_s(w, b" [|isakmp_rfc3948]")
    if rd32(m) == 0:
        said = put_isakmp(put_s(w, b"NONESP-encap: "), verbose, m + 4, end - 4)
        return said
    if end <= 8:        # esp_print wants a byte past the header
        return put_s(w, b"UDP-encap:  [|esp]")
    w = put_s(w, b"UDP-encap: ESP(spi=0x")
    w = put_hex_pad(w, rd32(m), 8)
    w = put_s(w, b",seq=0x")
    w = put_hex(w, rd32(m + 4))
    w = put_s(w, b"), length ")
    return put_u(w, <uint64_t>length)


# The ports put_udp_app decodes, by their low byte: one look-up per port
# passes most datagrams by (the chain of comparisons below is for the rest)
cdef uint8_t _APP_PORT_LOW[256]
for _port in (53, 67, 68, 123, 4500, 5353, 4789, 6081, 500, 514, 1985):
    _APP_PORT_LOW[_port & 0xFF] = 1
del _port


cdef uint8_t *put_udp_app(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                          Py_ssize_t l4, Py_ssize_t ulen) noexcept nogil:
    # After "a.p > b.q: ": the application line for a UDP datagram (ulen:
    # its UDP length), or NULL to print "UDP, length N".
    cdef int verbose
    cdef uint16_t sport, dport
    cdef const uint8_t *m = p + l4 + 8
    cdef Py_ssize_t end = cap - l4 - 8, length = ulen - 8
    cdef uint8_t mode
    cdef uint8_t *said
    if not (_APP_PORT_LOW[p[l4 + 1]] | _APP_PORT_LOW[p[l4 + 3]]):
        if ulen >= 28 and cap - l4 >= 28:       # (VQP and RADIUS cut short: text_lan.pxi)
            return NULL
        return put_udp_cut(w, rd16(p + l4), rd16(p + l4 + 2), min(ulen, cap - l4) - 8)
    verbose = st.verbose
    sport = rd16(p + l4)
    dport = rd16(p + l4 + 2)
    if end > length:
        end = length
    if end < 0:
        return NULL
    if sport == 4500 or dport == 4500:
        return put_udp_natt(w, p, cap, l4, ulen, verbose)
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
        w = put_u(w, <uint64_t>length)
        return put_ntp_verbose(w, m, end, length) if verbose else w
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
        w = put_u(w, <uint64_t>length)
        return put_bootp_verbose(w, m, end, length, verbose) if verbose else w
    if (sport == 53 or dport == 53 or sport == 5353 or dport == 5353) and length < 12:
        w = put_s(w, b"domain [length ")      # domain_print's check of the header's length
        w = put_u(w, <uint64_t>length)
        return put_s(w, b" < 12] (invalid)")
    if sport == 53 or dport == 53:
        return put_dns(w, m, end, length, False, verbose)
    if sport == 5353 or dport == 5353:
        return put_dns(w, m, end, length, True, verbose)
    said = put_udp_lan(w, verbose, sport, dport, m, end, length)   # syslog, HSRP, ... (text_lan.pxi)
    if said != NULL:
        return said
    if _tunnel_port(sport) or _tunnel_port(dport):
        return put_udp_tunnel(w, st, p, cap, l4, ulen)      # VXLAN, Geneve (text_tunnel.pxi)
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


cdef uint8_t *put_http_lines(uint8_t *w, const uint8_t *d, Py_ssize_t length) noexcept nogil:
    # -v: txtproto_print's ", length: N" and every text line, each on a line of
    # its own after a tab, up to the first that is not printable text (a CR
    # without LF, a control byte); one without its line end is printed cut
    # short (" [|http]").  Lines stop with " [...]" after APP_BUDGET bytes.
    cdef uint8_t *limit = w + APP_BUDGET
    cdef Py_ssize_t k = 0, j
    w = put_s(w, b", length: ")
    w = put_u(w, <uint64_t>length)
    while k < length:
        j = k
        while j < length and d[j] != b'\n':
            if d[j] == b'\r':
                if j + 1 >= length or d[j + 1] != b'\n':
                    return w
                break
            if not (0x20 <= d[j] < 0x7F or d[j] == b'\t'):
                return w
            j += 1
        if w + (j - k) + 2 > limit:
            return put_s(w, b" [...]")
        w = put_s(w, b"\n\t")
        memcpy(w, d + k, j - k)
        w += j - k
        if j >= length:
            return put_s(w, b" [|http]")
        k = j + 1 if d[j] == b'\n' else j + 2
    return w


cdef uint8_t *put_tcp_app(uint8_t *w, const uint8_t *d, Py_ssize_t captured,
                          Py_ssize_t length, uint16_t sport, uint16_t dport,
                          int verbose) noexcept nogil:
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
        out = put_dns(put_c(w, b' '), d + 2, captured - 2, length - 2, False, verbose)
        return out if out != NULL else w
    if (_http_port(sport) or _http_port(dport)) and captured == length:
        w = put_s(w, b": HTTP")
        if not _http_line_printed(d, captured):
            return w
        if verbose:
            return put_http_lines(w, d, captured)
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


# ---------------------------------------------------------------- NTP under -v
cdef int64_t NTP_1900_TO_1970 = 2208988800     # seconds from NTP's epoch to the Unix one


cdef uint8_t *put_ntp_date(uint8_t *w, int64_t seconds) noexcept nogil:
    # gmtime's "%Y-%m-%dT%H:%M:%SZ" of seconds since 1970 (before it too)
    cdef int64_t days = seconds // 86400, rem = seconds % 86400, era, doe, yoe, doy, mp, year
    cdef int64_t day, month
    if rem < 0:
        rem += 86400
        days -= 1
    days += 719468                      # civil_from_days (H. Hinnant)
    era = (days if days >= 0 else days - 146096) // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    w = put_u_pad(w, <uint64_t>year, 4)
    w = put_c(w, b'-')
    w = put_u_pad(w, <uint64_t>month, 2)
    w = put_c(w, b'-')
    w = put_u_pad(w, <uint64_t>day, 2)
    w = put_c(w, b'T')
    w = put_u_pad(w, <uint64_t>(rem // 3600), 2)
    w = put_c(w, b':')
    w = put_u_pad(w, <uint64_t>(rem // 60 % 60), 2)
    w = put_c(w, b':')
    w = put_u_pad(w, <uint64_t>(rem % 60), 2)
    return put_c(w, b'Z')


cdef inline uint32_t _ntp_billionths(uint32_t fraction) noexcept nogil:
    # tcpdump's parts per billion of a 32-bit fraction, through a double as it does
    return <uint32_t>((<double>fraction / 4294967296.0) * 1000000000.0)


cdef uint8_t *put_ntp_time(uint8_t *w, const uint8_t *t) noexcept nogil:
    # p_ntp_time: "3952585659.764912403 (2025-04-02T12:27:39Z)"; tcpdump 4.99
    # dates every stamp in era 0 (from 1900), those of 2036 and later too
    cdef uint32_t i = rd32(t)
    w = put_u(w, i)
    w = put_c(w, b'.')
    w = put_u_pad(w, _ntp_billionths(rd32(t + 4)), 9)
    if i:
        w = put_s(w, b" (")
        w = put_ntp_date(w, <int64_t>i - NTP_1900_TO_1970)
        w = put_c(w, b')')
    return w


cdef uint8_t *put_ntp_delta(uint8_t *w, const uint8_t *old, const uint8_t *new) noexcept nogil:
    # p_ntp_delta: new - old as "+57.103835195", or new's time when old is zero
    cdef uint32_t u = rd32(new), ou = rd32(old), uf = rd32(new + 4), ouf = rd32(old + 4), i, f
    cdef bint negative
    if ou == 0 and ouf == 0:
        return put_ntp_time(w, new)
    if u > ou:
        negative = False
        i = u - ou
        f = uf - ouf
        if ouf > uf:
            i -= 1
    elif u < ou:
        negative = True
        i = ou - u
        f = ouf - uf
        if uf > ouf:
            i -= 1
    else:
        i = 0
        negative = uf <= ouf
        f = ouf - uf if negative else uf - ouf
    w = put_c(w, b'-' if negative else b'+')
    w = put_u(w, i)
    w = put_c(w, b'.')
    return put_u_pad(w, _ntp_billionths(f), 9)


cdef uint8_t *put_ntp_sfix(uint8_t *w, const uint8_t *s) noexcept nogil:
    # p_sfix: 16.16 fixed point as "%d.%06d"
    w = put_u(w, rd16(s))
    w = put_c(w, b'.')
    return put_u_pad(w, <uint32_t>((<double>rd16(s + 2) / 65536.0) * 1000000.0), 6)


cdef inline uint8_t *put_signed(uint8_t *w, int v) noexcept nogil:
    if v < 0:
        w = put_c(w, b'-')
        return put_u(w, <uint64_t>(-v))
    return put_u(w, <uint64_t>v)


cdef uint8_t *put_ntp_verbose(uint8_t *w, const uint8_t *m, Py_ssize_t end,
                              Py_ssize_t length) noexcept nogil:
    # ntp_print under -v: after "NTPv4, Client, length 48", tcpdump's lines of
    # detail (ntp_time_print, ntp_control_print).  NULL where the message was
    # not captured whole (the caller keeps its generic line).  Under 1 KiB.
    cdef uint8_t mode = m[0] & 7, leap = m[0] & 0xC0, stratum
    cdef int poll
    cdef uint16_t count
    cdef int k
    if end < length:
        return NULL
    w = put_s(w, b"\n\tLeap indicator: ")
    if leap == 0x40: w = put_s(w, b"+1s")
    elif leap == 0x80: w = put_s(w, b"-1s")
    elif leap == 0xC0: w = put_s(w, b"clock unsynchronized")
    w = put_s(w, b" (")
    w = put_u(w, leap)
    w = put_c(w, b')')
    if mode == 7:
        return w
    if mode == 6:
        if length < 12:
            return put_s(w, b" (invalid)")
        w = put_s(w, b", Response" if m[1] & 0x80 else b", Request")
        w = put_s(w, b", Error" if m[1] & 0x40 else b", OK")
        w = put_s(w, b", More" if m[1] & 0x20 else b", Last")
        w = put_s(w, b", OpCode=")
        w = put_u(w, m[1] & 0x1F)
        w = put_s(w, b"\n\tSequence=")
        w = put_u(w, rd16(m + 2))
        w = put_s(w, b", Status=")
        if rd16(m + 4):
            w = put_s(w, b"0x")
            w = put_hex(w, rd16(m + 4))
        else:
            w = put_c(w, b'0')
        w = put_s(w, b", Assoc.=")
        w = put_u(w, rd16(m + 6))
        w = put_s(w, b", Offset=")
        w = put_u(w, rd16(m + 8))
        w = put_s(w, b", Count=")
        count = rd16(m + 10)
        w = put_u(w, count)
        if 12 + <Py_ssize_t>count > length:
            return put_s(w, b" (invalid)")
        if count:
            w = put_s(w, b"\n\tTO-BE-DONE: data not interpreted")
        return w
    if length < 48:
        return put_s(w, b" (invalid)")
    stratum = m[1]
    w = put_s(w, b", Stratum ")
    w = put_u(w, stratum)
    if stratum == 0: w = put_s(w, b" (unspecified)")
    elif stratum == 1: w = put_s(w, b" (primary reference)")
    elif stratum <= 15: w = put_s(w, b" (secondary reference)")
    else: w = put_s(w, b" (reserved)")
    poll = <int>(<signed char>m[2])
    w = put_s(w, b", poll ")
    w = put_signed(w, poll)
    if poll <= -32 or poll >= 32:
        pass                    # p_poll: no interval that far out
    elif poll >= 0:
        w = put_s(w, b" (")
        w = put_u(w, <uint64_t>1 << poll)
        w = put_s(w, b"s)")
    else:
        w = put_s(w, b" (1/")
        w = put_u(w, <uint64_t>1 << (-poll))
        w = put_s(w, b"s)")
    w = put_s(w, b", precision ")
    w = put_signed(w, <int>(<signed char>m[3]))
    w = put_s(w, b"\n\tRoot Delay: ")
    w = put_ntp_sfix(w, m + 4)
    w = put_s(w, b", Root dispersion: ")
    w = put_ntp_sfix(w, m + 8)
    w = put_s(w, b", Reference-ID: ")
    if stratum == 0:
        w = put_s(w, b"(unspec)")
    elif stratum == 1:
        for k in range(4):
            w = put_printable(w, m[12 + k])
    elif stratum == 62 or stratum == 63:
        w = put_ipv4(w, m + 12)
        return put_s(w, b" INFO_QUERY" if stratum == 62 else b" INFO_REPLY")
    else:
        w = put_s(w, b"0x")
        w = put_hex_pad(w, rd32(m + 12), 8)
    w = put_s(w, b"\n\t  Reference Timestamp:  ")
    w = put_ntp_time(w, m + 16)
    w = put_s(w, b"\n\t  Originator Timestamp: ")
    w = put_ntp_time(w, m + 24)
    w = put_s(w, b"\n\t  Receive Timestamp:    ")
    w = put_ntp_time(w, m + 32)
    w = put_s(w, b"\n\t  Transmit Timestamp:   ")
    w = put_ntp_time(w, m + 40)
    w = put_s(w, b"\n\t    Originator - Receive Timestamp:  ")
    w = put_ntp_delta(w, m + 24, m + 32)
    w = put_s(w, b"\n\t    Originator - Transmit Timestamp: ")
    w = put_ntp_delta(w, m + 24, m + 40)
    if length == 52 or length == 68 or length == 72:
        w = put_s(w, b"\n\tKey id: ")
        w = put_u(w, rd32(m + 48))
        if length > 52:
            w = put_s(w, b"\n\tAuthentication: ")
            for k in range(52, length, 4):
                w = put_hex_pad(w, rd32(m + k), 8)
    elif length > 48:
        w = put_s(w, b"\n\t(")
        w = put_u(w, <uint64_t>(length - 48))
        w = put_s(w, b" more bytes after the header)")
    return w

