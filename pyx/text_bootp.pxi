# BOOTP/DHCP under -v and -vv as tcpdump 4.99's bootp_print prints it (included
# by _text.pyx after text_app.pxi, whose put_udp_app calls put_bootp_verbose).
# Every read is bounded by `end`; output stays under APP_BUDGET bytes.

# ---------------------------------------------------------------- BOOTP/DHCP under -v
cdef const char *_bootp_tag(uint8_t t) noexcept nogil:
    # print-bootp.c's tag2str as tcpdump 4.99.3 has it (checked tag by tag
    # against its output): the format letter, then the name;
    # NULL for a tag it does not name ("Unknown", its format from the length)
    if t == 0: return b" PAD"
    if t == 1: return b"iSubnet-Mask"
    if t == 2: return b"LTime-Zone"
    if t == 3: return b"iDefault-Gateway"
    if t == 4: return b"iTime-Server"
    if t == 5: return b"iIEN-Name-Server"
    if t == 6: return b"iDomain-Name-Server"
    if t == 7: return b"iLOG"
    if t == 8: return b"iCS"
    if t == 9: return b"iLPR-Server"
    if t == 10: return b"iIM"
    if t == 11: return b"iRL"
    if t == 12: return b"aHostname"
    if t == 13: return b"sBS"
    if t == 14: return b"aDP"
    if t == 15: return b"aDomain-Name"
    if t == 16: return b"iSS"
    if t == 17: return b"aRP"
    if t == 18: return b"aEP"
    if t == 19: return b"BIPF"
    if t == 20: return b"BSRT"
    if t == 21: return b"pPF"
    if t == 22: return b"sRSZ"
    if t == 23: return b"bTTL"
    if t == 24: return b"lMTU-Timeout"
    if t == 25: return b"sMTU-Table"
    if t == 26: return b"sMTU"
    if t == 27: return b"BLSN"
    if t == 28: return b"iBR"
    if t == 29: return b"BMD"
    if t == 30: return b"BMS"
    if t == 31: return b"BRouter-Discovery"
    if t == 32: return b"iRSA"
    if t == 33: return b"pStatic-Route"
    if t == 34: return b"BUT"
    if t == 35: return b"lAT"
    if t == 36: return b"BIE"
    if t == 37: return b"bTT"
    if t == 38: return b"lKI"
    if t == 39: return b"BKG"
    if t == 40: return b"aYD"
    if t == 41: return b"iYS"
    if t == 42: return b"iNTP"
    if t == 43: return b"bVendor-Option"
    if t == 44: return b"iNetbios-Name-Server"
    if t == 45: return b"iWDD"
    if t == 46: return b"$Netbios-Node"
    if t == 47: return b"aNetbios-Scope"
    if t == 48: return b"iXFS"
    if t == 49: return b"iXDM"
    if t == 50: return b"iRequested-IP"
    if t == 51: return b"lLease-Time"
    if t == 52: return b"$OO"
    if t == 53: return b" DHCP-Message"
    if t == 54: return b"iServer-ID"
    if t == 55: return b"bParameter-Request"
    if t == 56: return b"aMSG"
    if t == 57: return b"sMSZ"
    if t == 58: return b"lRN"
    if t == 59: return b"lRB"
    if t == 60: return b"aVendor-Class"
    if t == 61: return b"$Client-ID"
    if t == 64: return b"sN+D"
    if t == 65: return b"iN+S"
    if t == 66: return b"aTFTP"
    if t == 67: return b"aBF"
    if t == 68: return b"iMH"
    if t == 69: return b"iSMTP"
    if t == 70: return b"iPOP3"
    if t == 71: return b"iNNTP"
    if t == 72: return b"iWWW"
    if t == 73: return b"iFG"
    if t == 74: return b"iIRC"
    if t == 75: return b"iSTS"
    if t == 76: return b"iSTDA"
    if t == 77: return b"$User-Class"
    if t == 78: return b"bSLP-DA"
    if t == 79: return b"bSLP-SCOPE"
    if t == 80: return b"aSLP-NA"
    if t == 81: return b"$FQDN"
    if t == 82: return b"$Agent-Information"
    if t == 83: return b"bARMT"
    if t == 88: return b"aTZSTR"
    if t == 89: return b"bFQDNS"
    if t == 90: return b"bAUTH"
    if t == 91: return b"LLast-Transaction-Time"
    if t == 92: return b"iAssociated-IP"
    if t == 93: return b"sARCH"
    if t == 94: return b"bNDI"
    if t == 95: return b"aLDAP"
    if t == 97: return b"bGUID"
    if t == 98: return b"aUAP"
    if t == 100: return b"aPOSIX-TZ"
    if t == 101: return b"aTZ-Name"
    if t == 112: return b"iNI"
    if t == 113: return b"aNITAG"
    if t == 114: return b"aURL"
    if t == 116: return b"BNOAUTO"
    if t == 117: return b"sNSSEARCH"
    if t == 118: return b"iSUBNET"
    if t == 121: return b"$Classless-Static-Route"
    if t == 150: return b"iTFTP-Server-Address"
    if t == 161: return b"aMUD-URL"
    if t == 249: return b"$Classless-Static-Route-Microsoft"
    if t == 255: return b" END"
    return NULL


cdef const char *_DHCP_MESSAGES[9]
_DHCP_MESSAGES[:] = [b"", b"Discover", b"Offer", b"Request", b"Decline", b"ACK", b"NACK",
                     b"Release", b"Inform"]


cdef uint8_t *put_bootp_text(uint8_t *w, const uint8_t *t, Py_ssize_t size,
                             bint *cut) noexcept nogil:
    # nd_printztn: a name field up to its first NUL, then the closing quote
    # (at most 4 bytes a byte: 514 for the 128-byte file name); a field with
    # no NUL in it ends the text with bootp_print's " [|bootp]" (NULL returned
    # through *cut)
    cdef Py_ssize_t k = 0
    while k < size and t[k]:
        w = put_printable(w, t[k])
        k += 1
    w = put_c(w, b'"')
    if k == size:
        cut[0] = True
        return put_s(w, b" [|bootp]")
    return w


cdef uint8_t *put_bootp_verbose(uint8_t *w, const uint8_t *m, Py_ssize_t end,
                                Py_ssize_t length, int verbose) noexcept nogil:
    # bootp_print's -v and -vv detail after "BOOTP/DHCP, ..., length N": the
    # header's fields, then each RFC 1048 option by name.  NULL (the caller
    # keeps its generic line) for what it does not print exactly as tcpdump
    # 4.99 does: a message not captured whole or shorter than its fixed part,
    # CMU vendor data, -vvv, and options printed by special code (agent
    # information, classless routes, user class, extended tags, FQDN shorter
    # than 3 bytes).  Output stays under APP_BUDGET: every item (at most 128 bytes of
    # text) is written only after checking the room left.
    cdef uint8_t *limit = w + APP_BUDGET - 256
    cdef uint8_t htype = m[1], hlen = m[2], tag, c, b
    cdef Py_ssize_t pos, n, k, idx
    cdef const char *name
    cdef uint32_t v
    cdef bint cut = False
    if verbose > 2 or end < length or length < 240:
        return NULL
    if htype != 1:
        w = put_s(w, b", htype ")
        w = put_u(w, htype)
    if htype != 1 or hlen != 6:
        w = put_s(w, b", hlen ")
        w = put_u(w, hlen)
    if m[3]:
        w = put_s(w, b", hops ")
        w = put_u(w, m[3])
    if rd32(m + 4):
        w = put_s(w, b", xid 0x")
        w = put_hex(w, rd32(m + 4))
    if rd16(m + 8):
        w = put_s(w, b", secs ")
        w = put_u(w, rd16(m + 8))
    w = put_s(w, b", Flags [Broadcast]" if m[10] & 0x80 else b", Flags [none]")
    if verbose > 1:
        w = put_s(w, b" (0x")
        w = put_hex_pad(w, rd16(m + 10), 4)
        w = put_c(w, b')')
    if rd32(m + 12):
        w = put_s(w, b"\n\t  Client-IP ")
        w = put_ipv4(w, m + 12)
    if rd32(m + 16):
        w = put_s(w, b"\n\t  Your-IP ")
        w = put_ipv4(w, m + 16)
    if rd32(m + 20):
        w = put_s(w, b"\n\t  Server-IP ")
        w = put_ipv4(w, m + 20)
    if rd32(m + 24):
        w = put_s(w, b"\n\t  Gateway-IP ")
        w = put_ipv4(w, m + 24)
    if htype == 1 and hlen == 6:
        w = put_s(w, b"\n\t  Client-Ethernet-Address ")
        w = put_mac(w, m + 28)
    if m[44]:
        w = put_s(w, b"\n\t  sname \"")
        w = put_bootp_text(w, m + 44, 64, &cut)
        if cut:
            return w
    if m[108]:
        w = put_s(w, b"\n\t  file \"")
        w = put_bootp_text(w, m + 108, 128, &cut)
        if cut:
            return w
    v = rd32(m + 236)
    if v != 0x63825363:
        if m[236] == b'C' and m[237] == b'M' and m[238] == b'U' and m[239] == 0:
            return NULL
        if v:
            w = put_s(w, b"\n\t  Vendor-#0x")
            w = put_hex(w, v)
        return w
    w = put_s(w, b"\n\t  Vendor-rfc1048 Extensions\n\t    Magic Cookie 0x63825363")
    pos = 240
    while pos < end:
        if w > limit:
            return NULL
        tag = m[pos]
        pos += 1
        if tag == 0:
            continue
        if tag == 255:
            return w
        if tag == 126 or tag == 127:
            return NULL
        name = _bootp_tag(tag)
        if pos >= end:
            return put_s(w, b" [|bootp]")
        n = m[pos]
        pos += 1
        w = put_s(w, b"\n\t    ")
        if name == NULL:
            w = put_s(w, b"Unknown")
            c = b'b' if n & 1 else (b's' if n & 2 else b'l')
        else:
            c = <uint8_t>name[0]
            w = put_s(w, name + 1)
        w = put_s(w, b" (")
        w = put_u(w, tag)
        w = put_s(w, b"), length ")
        w = put_u(w, <uint64_t>n)
        if n:
            w = put_s(w, b": ")
        if pos + n > end:
            return put_s(w, b" [|bootp]")
        if tag == 53 and n == 1:
            if 1 <= m[pos] <= 8:
                w = put_s(w, _DHCP_MESSAGES[m[pos]])
            else:
                w = put_s(w, b"Unknown (")
                w = put_u(w, m[pos])
                w = put_c(w, b')')
            pos += 1
            continue
        if tag == 55:
            for idx in range(n):
                if w > limit:
                    return NULL
                w = put_s(w, b", " if idx % 4 else b"\n\t      ")
                name = _bootp_tag(m[pos + idx])
                if name == NULL:
                    w = put_s(w, b"Unknown")
                else:
                    w = put_s(w, name + 1)
                w = put_s(w, b" (")
                w = put_u(w, m[pos + idx])
                w = put_c(w, b')')
            pos += n
            continue
        k = 0
        if c == b'$':
            if n < 1:
                return NULL
            b = m[pos]
            if tag == 46 or tag == 52:
                k = 1
                if tag == 46 and (b == 1 or b == 2 or b == 4 or b == 8):
                    w = put_s(w, b"b-node" if b == 1 else b"p-node" if b == 2 else
                              b"m-node" if b == 4 else b"h-node")
                elif tag == 52 and 1 <= b <= 3:
                    w = put_s(w, b"file" if b == 1 else b"sname" if b == 2 else b"file+sname")
                else:
                    w = put_c(w, b'#')
                    w = put_u(w, b)
            elif tag == 81 and n >= 3:
                # RFC 4702's flags, the two rcodes when set, then the name
                if b & 0xF0:
                    return NULL     # 4.99's "[ERROR: MBZ nibble ...]"
                if b:
                    w = put_c(w, b'[')
                    if b & 1: w = put_c(w, b'S')
                    if b & 2: w = put_c(w, b'O')
                    if b & 4: w = put_c(w, b'E')
                    if b & 8: w = put_c(w, b'N')
                    w = put_s(w, b"] ")
                if m[pos + 1] or m[pos + 2]:
                    w = put_u(w, m[pos + 1])
                    w = put_c(w, b'/')
                    w = put_u(w, m[pos + 2])
                    w = put_c(w, b' ')
                w = put_c(w, b'"')
                for k in range(pos + 3, pos + n):
                    if w > limit:
                        return NULL
                    w = put_printable(w, m[k])
                w = put_c(w, b'"')
                k = n
            elif tag == 61 and b == 0:
                w = put_c(w, b'"')
                for k in range(pos + 1, pos + n):
                    if w > limit:
                        return NULL
                    w = put_printable(w, m[k])
                w = put_c(w, b'"')
                k = n
            elif tag == 61:
                if b == 1: w = put_s(w, b"ether ")
                elif b == 6: w = put_s(w, b"ieee802 ")
                elif b == 7: w = put_s(w, b"arcnet ")
                elif b == 15: w = put_s(w, b"frelay ")
                elif b == 23: w = put_s(w, b"strip ")
                elif b == 24: w = put_s(w, b"ieee1394 ")
                else:
                    w = put_s(w, b"hardware-type ")
                    w = put_u(w, b)
                    w = put_s(w, b", ")
                for k in range(pos + 1, pos + n):
                    if w > limit:
                        return NULL
                    if k > pos + 1:
                        w = put_c(w, b':')
                    w = put_hex_pad(w, m[k], 2)
                k = n
            else:
                return NULL
        elif c == b'a':
            w = put_c(w, b'"')
            for k in range(n):
                if w > limit:
                    return NULL
                w = put_printable(w, m[pos + k])
            w = put_c(w, b'"')
            k = n
        elif c == b'i' or c == b'l' or c == b'L':
            while n - k >= 4:
                if w > limit:
                    return NULL
                if k:
                    w = put_c(w, b',')
                if c == b'i':
                    w = put_ipv4(w, m + pos + k)
                elif c == b'L':
                    v = rd32(m + pos + k)
                    if v >> 31:
                        w = put_c(w, b'-')
                        v = (~v) + 1
                    w = put_u(w, v)
                else:
                    w = put_u(w, rd32(m + pos + k))
                k += 4
        elif c == b'p':
            while n - k >= 8:
                if w > limit:
                    return NULL
                if k:
                    w = put_c(w, b',')
                w = put_c(w, b'(')
                w = put_ipv4(w, m + pos + k)
                w = put_c(w, b':')
                w = put_ipv4(w, m + pos + k + 4)
                w = put_c(w, b')')
                k += 8
        elif c == b's':
            while n - k >= 2:
                if w > limit:
                    return NULL
                if k:
                    w = put_c(w, b',')
                w = put_u(w, rd16(m + pos + k))
                k += 2
        elif c == b'B':
            while k < n:
                if w > limit:
                    return NULL
                if k:
                    w = put_c(w, b',')
                b = m[pos + k]
                if b == 0: w = put_c(w, b'N')
                elif b == 1: w = put_c(w, b'Y')
                else:
                    w = put_u(w, b)
                    w = put_c(w, b'?')
                k += 1
        else:
            while k < n:
                if w > limit:
                    return NULL
                if k:
                    w = put_c(w, b':' if c == b'x' else b'.')
                if c == b'x':
                    w = put_hex_pad(w, m[pos + k], 2)
                else:
                    w = put_u(w, m[pos + k])
                k += 1
        pos += n
        if n - k:
            w = put_s(w, b"\n\t  trailing data length ")
            w = put_u(w, <uint64_t>(n - k))
    return w
