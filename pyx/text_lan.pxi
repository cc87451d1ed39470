# Protocols of an office LAN or a VPN gateway in packet lines (included by
# _text.pyx), printed as tcpdump 4.99 prints them where ringcap printed a
# generic line (" ip-proto-2 8", "UDP, length 35", an LLC header's): IGMP,
# ESP and VRRP (put_ip_lan), IKEv2 without -v, syslog, HSRP, and VQP and
# RADIUS cut short (put_udp_lan), spanning tree BPDUs (put_stp_llc), LLDP
# without -v (put_lldp).
# Every function returns NULL where it does not print the packet as tcpdump
# does; the caller then prints its generic line.  Lists of addresses stop
# with "[...]" after LIST_BUDGET bytes of text (MSTP's instances after four
# times that, a syslog message after twice that, its -vv dump after 1 KiB;
# tcpdump prints them all), so a line stays within bytes_needed.


cdef inline uint8_t *put_trunc(uint8_t *w, const char *proto) noexcept nogil:
    # tcpdump's nd_print_trunc: " [|proto]" after what was printed
    w = put_s(w, b" [|")
    w = put_s(w, proto)
    return put_c(w, b']')


cdef inline bint _cksum_bad(uint32_t s) noexcept nogil:
    # in_cksum over what was summed (the checksum field included) is not 0
    return _fold(s) != 0xFFFF


cdef uint8_t *put_igmpv3_query(uint8_t *w, int verbose, const uint8_t *m, Py_ssize_t end,
                               Py_ssize_t length, bint *cut) noexcept nogil:
    # " v3 [max resp time 2.0s] [gaddr 239.1.1.1, 1 source(s)]"
    # OUT cut: the message ends (end: its bytes captured) before what is to print
    cdef uint32_t mrc, mrt
    cdef Py_ssize_t nsrcs, i
    cdef uint8_t *listed = w
    w = put_s(w, b" v3")
    if length < 12 or length & 3:
        w = put_s(w, b" [invalid len ")
        w = put_u(w, <uint64_t>length)
        return put_c(w, b']')
    if end < 2:
        cut[0] = True
        return w
    mrc = m[1]
    mrt = mrc if mrc < 128 else ((mrc & 0x0F) | 0x10) << (((mrc & 0x70) >> 4) + 3)
    if mrc != 100:
        w = put_s(w, b" [max resp time ")
        if mrt < 600:
            w = put_u(w, mrt // 10)
            w = put_c(w, b'.')
            w = put_u(w, mrt % 10)
            w = put_c(w, b's')
        else:
            w = put_relts(w, mrt // 10)         # (text_app.pxi)
        w = put_c(w, b']')
    if end < 8:
        cut[0] = True
        return w
    if rd32(m + 4) == 0:
        return w
    w = put_s(w, b" [gaddr ")
    w = put_ipv4(w, m + 4)
    if end < 12:
        cut[0] = True
        return w
    nsrcs = rd16(m + 10)
    if nsrcs > 0:
        if length < 12 + nsrcs * 4:
            w = put_s(w, b" [invalid number of sources]")
        elif verbose > 1:
            w = put_s(w, b" {")
            for i in range(nsrcs):
                if end < 16 + i * 4:
                    cut[0] = True
                    return w
                if w - listed >= LIST_BUDGET:
                    w = put_s(w, b" [...]")
                    break
                w = put_c(w, b' ')
                w = put_ipv4(w, m + 12 + i * 4)
            w = put_s(w, b" }")
        else:
            w = put_s(w, b", ")
            w = put_u(w, <uint64_t>nsrcs)
            w = put_s(w, b" source(s)")
    return put_c(w, b']')


cdef uint8_t *put_igmpv3_report(uint8_t *w, int verbose, const uint8_t *m, Py_ssize_t end,
                                Py_ssize_t length, bint *cut) noexcept nogil:
    # ", 2 group record(s)" and, with -v, " [gaddr 239.1.1.1 to_ex, 0 source(s)]"
    # per record (-vv: the sources in braces).  OUT cut: as put_igmpv3_query's
    cdef Py_ssize_t ngroups, group = 8, nsrcs, i, j
    cdef uint8_t kind
    cdef uint8_t *listed = w
    if length < 16 or length & 3:
        w = put_s(w, b" [invalid len ")
        w = put_u(w, <uint64_t>length)
        return put_c(w, b']')
    if end < 8:
        cut[0] = True
        return w
    ngroups = rd16(m + 6)
    w = put_s(w, b", ")
    w = put_u(w, <uint64_t>ngroups)
    w = put_s(w, b" group record(s)")
    if not verbose:
        return w
    for i in range(ngroups):
        if length < group + 8:
            return put_s(w, b" [invalid number of groups]")
        if end < group + 8:
            cut[0] = True
            return w
        if w - listed >= LIST_BUDGET:
            return put_s(w, b" [...]")
        w = put_s(w, b" [gaddr ")
        w = put_ipv4(w, m + group + 4)
        kind = m[group]
        if kind == 1: w = put_s(w, b" is_in")
        elif kind == 2: w = put_s(w, b" is_ex")
        elif kind == 3: w = put_s(w, b" to_in")
        elif kind == 4: w = put_s(w, b" to_ex")
        elif kind == 5: w = put_s(w, b" allow")
        elif kind == 6: w = put_s(w, b" block")
        else:
            w = put_s(w, b"  [v3-report-#")
            w = put_u(w, kind)
            w = put_c(w, b']')
        nsrcs = rd16(m + group + 2)
        if length < group + 8 + nsrcs * 4:
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
                if end < group + 12 + j * 4:
                    cut[0] = True
                    return w
                if w - listed >= LIST_BUDGET:
                    return put_s(w, b" [...]")
                w = put_c(w, b' ')
                w = put_ipv4(w, m + group + 8 + j * 4)
            w = put_s(w, b" }")
        group += 8 + nsrcs * 4
        w = put_c(w, b']')
    return w


cdef uint8_t *put_igmp(uint8_t *w, PrintState *st, const uint8_t *m, Py_ssize_t end,
                       Py_ssize_t length) noexcept nogil:
    # tcpdump's igmp_print: "igmp v2 report 239.1.2.3", "igmp query v2",
    # "igmp v3 report, 1 group record(s)"; -v: a bad checksum.  NULL for the
    # types tcpdump hands to other printers (DVMRP, PIMv1, mtrace).
    cdef uint8_t t
    cdef bint cut = False
    if st.quiet:
        return put_s(w, b"igmp")
    if end < 1:
        return put_trunc(w, b"igmp")
    t = m[0]
    if t == 0x13 or t == 0x14 or t == 0x1E or t == 0x1F:
        return NULL
    if t == 0x11:
        w = put_s(w, b"igmp query")
        if length >= 12:
            w = put_igmpv3_query(w, st.verbose, m, end, length, &cut)
        else:
            if end < 2:
                return put_trunc(w, b"igmp")
            if m[1]:
                w = put_s(w, b" v2")
                if m[1] != 100:
                    w = put_s(w, b" [max resp time ")
                    w = put_u(w, m[1])
                    w = put_c(w, b']')
            else:
                w = put_s(w, b" v1")
            if end < 8:
                return put_trunc(w, b"igmp")
            if rd32(m + 4):
                w = put_s(w, b" [gaddr ")
                w = put_ipv4(w, m + 4)
                w = put_c(w, b']')
            if length != 8:
                w = put_s(w, b" [len ")
                w = put_u(w, <uint64_t>length)
                w = put_c(w, b']')
    elif t == 0x12 or t == 0x16 or t == 0x17:
        if end < 8:             # (the address is read before anything is printed)
            return put_trunc(w, b"igmp")
        w = put_s(w, b"igmp v1 report " if t == 0x12 else
                  (b"igmp v2 report " if t == 0x16 else b"igmp leave "))
        w = put_ipv4(w, m + 4)
        if t == 0x12 and length != 8:
            w = put_s(w, b" [len ")
            w = put_u(w, <uint64_t>length)
            w = put_c(w, b']')
    elif t == 0x22:
        w = put_s(w, b"igmp v3 report")
        w = put_igmpv3_report(w, st.verbose, m, end, length, &cut)
    else:
        w = put_s(w, b"igmp-")
        w = put_u(w, t)
    if cut:
        return put_trunc(w, b"igmp")
    if st.verbose and length >= 4 and length <= end and _cksum_bad(_sum16(0, m, length)):
        w = put_s(w, b" bad igmp cksum ")
        w = put_hex(w, rd16(m + 2))
        w = put_c(w, b'!')
    return w


cdef uint8_t *put_esp(uint8_t *w, const uint8_t *m, Py_ssize_t end,
                      Py_ssize_t length) noexcept nogil:
    # tcpdump's esp_print without keys: "ESP(spi=0x00001234,seq=0x5), length 48"
    # (it wants a byte past the 8-byte header captured)
    if end <= 8:
        return put_trunc(w, b"esp")
    w = put_s(w, b"ESP(spi=0x")
    w = put_hex_pad(w, rd32(m), 8)
    w = put_s(w, b",seq=0x")
    w = put_hex(w, rd32(m + 4))
    w = put_s(w, b"), length ")
    return put_u(w, <uint64_t>length)


cdef uint8_t *put_vrrp(uint8_t *w, PrintState *st, const uint8_t *m, Py_ssize_t end,
                       Py_ssize_t length, const uint8_t *ip, uint8_t ip_version) noexcept nogil:
    # tcpdump's vrrp_print (ip: the IPv4 or IPv6 header): "VRRPv2, Advertisement,
    # vrid 7, prio 100, authtype none, intvl 1s, length 20"; -v: a bad
    # checksum, the addresses and a simple password
    cdef uint8_t version, kind, auth = 0, c
    cdef uint8_t ttl = ip[8] if ip_version == 4 else ip[7]
    cdef int addr_len = 4 if ip_version == 4 else 16
    cdef Py_ssize_t naddrs, i, at
    cdef uint32_t s
    if end < 1:             # (the protocol's name is printed before its first byte is read)
        return put_trunc(put_s(w, b"VRRP"), b"vrrp")
    version = m[0] >> 4
    kind = m[0] & 0x0F
    w = put_s(w, b"VRRPv")
    w = put_u(w, version)
    if kind == 1:
        w = put_s(w, b", Advertisement")
    else:
        w = put_s(w, b", unknown type (")
        w = put_u(w, kind)
        w = put_c(w, b')')
    if ttl != 255:
        w = put_s(w, b", (ttl ")
        w = put_u(w, ttl)
        w = put_c(w, b')')
    if version < 2 or version > 3 or kind != 1:
        return w
    if end < 3:
        return put_trunc(w, b"vrrp")
    w = put_s(w, b", vrid ")
    w = put_u(w, m[1])
    w = put_s(w, b", prio ")
    w = put_u(w, m[2])
    if version == 2:
        if end < 5:
            return put_trunc(w, b"vrrp")
        auth = m[4]
        w = put_s(w, b", authtype ")
        # (tok2str with no default: an unknown type is "#N")
        if auth == 0: w = put_s(w, b"none")
        elif auth == 1: w = put_s(w, b"simple")
        elif auth == 2: w = put_s(w, b"ah")
        else:
            w = put_c(w, b'#')
            w = put_u(w, auth)
        if end < 6:
            return put_trunc(w, b"vrrp")
        w = put_s(w, b", intvl ")
        w = put_u(w, m[5])
        w = put_s(w, b"s, length ")
    else:
        if end < 6:
            return put_trunc(w, b"vrrp")
        w = put_s(w, b", intvl ")
        w = put_u(w, (<uint32_t>(m[4] & 0x0F) << 8) | m[5])
        w = put_s(w, b"cs, length ")
    w = put_u(w, <uint64_t>length)
    if not st.verbose:
        return w
    naddrs = m[3]
    if length <= end:
        if version == 2:
            s = _sum16(0, m, length)
        else:
            # over the pseudo-header of RFC 768 / RFC 8200 (length < 65536)
            s = _sum16(0, ip + 12, 8) if ip_version == 4 else _sum16(0, ip + 8, 32)
            s = _sum16(s + 112 + <uint32_t>length, m, length)
        if _cksum_bad(s):
            w = put_s(w, b", (bad vrrp cksum ")
            w = put_hex(w, rd16(m + 6))
            w = put_c(w, b')')
    w = put_s(w, b", addrs")
    if naddrs > 1:
        w = put_c(w, b'(')
        w = put_u(w, <uint64_t>naddrs)
        w = put_c(w, b')')
    w = put_c(w, b':')
    at = 8
    for i in range(naddrs):
        if end < at + addr_len:
            return put_trunc(w, b"vrrp")
        w = put_c(w, b' ' if i == 0 else b',')
        w = put_ipv4(w, m + at) if addr_len == 4 else put_ipv6(w, m + at)
        at += addr_len
    if version == 2 and auth == 1:
        # nd_printjnp: up to 8 bytes, to the first NUL
        w = put_s(w, b" auth \"")
        for i in range(8):
            if end < at + i + 1:
                return put_trunc(w, b"vrrp")
            c = m[at + i]
            if c == 0:
                break
            w = put_printable(w, c)             # (text_app.pxi)
        w = put_c(w, b'"')
    return w


cdef uint8_t *put_ip_lan(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                         Py_ssize_t l3, Py_ssize_t l4, Py_ssize_t l4_len, uint8_t version,
                         uint8_t proto) noexcept nogil:
    # After "a > b: ": IGMP, ESP or VRRP as tcpdump prints them, or NULL (the
    # caller's " ip-proto-N LENGTH").  The message's bytes: those captured,
    # up to the length its IP header gives.
    cdef Py_ssize_t end = cap - l4
    if end > l4_len:
        end = l4_len
    if proto == 50:
        return put_esp(w, p + l4, end, l4_len)
    if proto == 112:
        return put_vrrp(w, st, p + l4, end, l4_len, p + l3, version)
    if proto == 2 and version == 4:
        return put_igmp(w, st, p + l4, end, l4_len)
    return NULL


cdef uint8_t *put_udp_cut(uint8_t *w, uint16_t sport, uint16_t dport,
                          Py_ssize_t end) noexcept nogil:
    # A VQP datagram of under 8 bytes (its header) or a RADIUS one of under
    # 20 (end: the bytes there are): tcpdump's " [|vqp]", " [|radius]"; NULL
    # for any other (ringcap prints "UDP, length N" where tcpdump decodes them)
    if sport == 1589 or dport == 1589:
        return put_trunc(w, b"vqp") if end < 8 else NULL
    if sport == 1645 or dport == 1645 or sport == 1646 or dport == 1646 or \
            sport == 1812 or dport == 1812 or sport == 1813 or dport == 1813:
        return put_trunc(w, b"radius") if end < 20 else NULL
    return NULL


cdef inline uint8_t *put_stp_time(uint8_t *w, uint16_t v) noexcept nogil:
    # printf's "%.2fs" of v / 256 seconds (exact in binary: ties to even)
    cdef uint32_t scaled = <uint32_t>v * 100
    cdef uint32_t cents = scaled >> 8, rest = scaled & 0xFF
    if rest > 128 or (rest == 128 and cents & 1):
        cents += 1
    w = put_u(w, cents // 100)
    w = put_c(w, b'.')
    w = put_u_pad(w, cents % 100, 2)
    return put_c(w, b's')


cdef uint8_t *put_bridge_id(uint8_t *w, const uint8_t *b) noexcept nogil:
    # "8000.02:00:00:00:00:09": priority and system id, then the MAC address
    w = put_hex_pad(w, rd16(b), 4)
    w = put_c(w, b'.')
    return put_mac(w, b + 2)


cdef uint8_t *put_stp_flags(uint8_t *w, uint8_t flags) noexcept nogil:
    # bittok2str's "[Topology change, Proposal, Learn, ...]" ("[none]")
    cdef const char *names[8]
    cdef int i
    cdef bint first = True
    names[:] = [b"Topology change", b"Proposal", NULL, NULL, b"Learn", b"Forward",
                b"Agreement", b"Topology change ACK"]
    w = put_c(w, b'[')
    for i in range(8):
        if flags & (1 << i) and names[i] != NULL:
            if not first:
                w = put_s(w, b", ")
            w = put_s(w, names[i])
            first = False
    if first:
        w = put_s(w, b"none")
    return put_c(w, b']')


cdef inline uint8_t *put_port_role(uint8_t *w, uint8_t flags) noexcept nogil:
    cdef uint8_t role = (flags >> 2) & 3
    return put_s(w, b"Unknown" if role == 0 else (b"Alternate" if role == 1 else
                                                  (b"Root" if role == 2 else b"Designated")))


cdef uint8_t *put_stp_timers(uint8_t *w, const uint8_t *b) noexcept nogil:
    # a BPDU's four timers (b: the BPDU, 35 bytes of it there)
    w = put_s(w, b"\n\tmessage-age ")
    w = put_stp_time(w, rd16(b + 27))
    w = put_s(w, b", max-age ")
    w = put_stp_time(w, rd16(b + 29))
    w = put_s(w, b", hello-time ")
    w = put_stp_time(w, rd16(b + 31))
    w = put_s(w, b", forwarding-delay ")
    return put_stp_time(w, rd16(b + 33))


cdef uint8_t *put_mstp(uint8_t *w, int verbose, const uint8_t *b, Py_ssize_t end,
                       Py_ssize_t length, bint *cut) noexcept nogil:
    # 802.1s: ", CIST Flags [...], length N"; -v its CIST and MSTI records.
    # OUT cut: the BPDU ends (end: its bytes captured) before what is to print
    cdef Py_ssize_t i, at, left
    cdef uint8_t c
    cdef uint8_t *listed = w
    w = put_s(w, b", CIST Flags ")
    w = put_stp_flags(w, b[4])
    w = put_s(w, b", length ")
    w = put_u(w, <uint64_t>length)
    if not verbose:
        return w
    if end < 36:
        cut[0] = True
        return w
    w = put_s(w, b"\n\tport-role ")
    w = put_port_role(w, b[4])
    w = put_s(w, b", CIST root-id ")
    w = put_bridge_id(w, b + 5)
    w = put_s(w, b", CIST ext-pathcost ")
    w = put_u(w, rd32(b + 13))
    w = put_s(w, b"\n\tCIST regional-root-id ")
    w = put_bridge_id(w, b + 17)
    w = put_s(w, b", CIST port-id ")
    w = put_hex_pad(w, rd16(b + 25), 4)
    w = put_c(w, b',')
    w = put_stp_timers(w, b)
    if end < 38:
        cut[0] = True
        return w
    w = put_s(w, b"\n\tv3len ")
    w = put_u(w, rd16(b + 36))
    w = put_s(w, b", MCID Name ")
    for i in range(32):             # nd_printjnp: to the first NUL
        if end < 40 + i:
            cut[0] = True
            return w
        c = b[39 + i]
        if c == 0:
            break
        w = put_printable(w, c)
    # (each printf's fields are read before it prints: cut between them)
    if end < 89:
        cut[0] = True
        return w
    w = put_s(w, b", rev ")
    w = put_u(w, rd16(b + 71))
    w = put_s(w, b",\n\t\tdigest ")
    for i in range(4):
        w = put_hex_pad(w, rd32(b + 73 + 4 * i), 8)
    w = put_s(w, b", ")
    if end < 93:
        cut[0] = True
        return w
    w = put_s(w, b"CIST int-root-pathcost ")
    w = put_u(w, rd32(b + 89))
    w = put_c(w, b',')
    if end < 101:
        cut[0] = True
        return w
    w = put_s(w, b"\n\tCIST bridge-id ")
    w = put_bridge_id(w, b + 93)
    w = put_s(w, b", ")
    if end < 102:
        cut[0] = True
        return w
    w = put_s(w, b"CIST remaining-hops ")
    w = put_u(w, b[101])
    left = rd16(b + 36) - 64 if rd16(b + 36) > 64 else 0
    at = 102
    while left >= 16:
        if w - listed >= 4 * LIST_BUDGET:     # (some 20 to 40 MSTIs; the standard has up to 64)
            return put_s(w, b"\n\t[...]")
        if end < at + 3:
            cut[0] = True
            return w
        w = put_s(w, b"\n\tMSTI ")
        w = put_u(w, rd16(b + at + 1) & 0x0FFF)
        w = put_s(w, b", Flags ")
        w = put_stp_flags(w, b[at])
        w = put_s(w, b", port-role ")
        w = put_port_role(w, b[at])
        if end < at + 13:
            cut[0] = True
            return w
        w = put_s(w, b"\n\t\tMSTI regional-root-id ")
        w = put_bridge_id(w, b + at + 1)
        w = put_s(w, b", pathcost ")
        w = put_u(w, rd32(b + at + 9))
        if end < at + 16:
            cut[0] = True
            return w
        w = put_s(w, b"\n\t\tMSTI bridge-prio ")
        w = put_u(w, b[at + 13] >> 4)
        w = put_s(w, b", port-prio ")
        w = put_u(w, b[at + 14] >> 4)
        w = put_s(w, b", hops ")
        w = put_u(w, b[at + 15])
        left -= 16
        at += 16
    return w


cdef uint8_t *put_stp(uint8_t *w, int verbose, const uint8_t *b, Py_ssize_t end,
                      Py_ssize_t length) noexcept nogil:
    # tcpdump's stp_print: "STP 802.1d, Config, Flags [none], bridge-id
    # 8000.02:00:00:00:00:01.8001, length 35" (-v: timers and root on lines
    # of their own), "STP 802.1d, Topology Change", RSTP and MSTP; NULL for
    # SPB (802.1aq), which ringcap leaves to the LLC line
    cdef uint8_t version, kind
    cdef bint cut = False
    cdef Py_ssize_t v3
    if length < 4:
        return put_s(w, b" (invalid)")
    if end < 2:
        return put_trunc(w, b"stp")
    if rd16(b):
        w = put_s(w, b"unknown STP version, length ")
        return put_u(w, <uint64_t>length)
    if end < 3:
        return put_trunc(w, b"stp")
    version = b[2]
    if version == 4:
        return NULL
    w = put_s(w, b"STP ")
    if version == 0: w = put_s(w, b"802.1d")
    elif version == 2: w = put_s(w, b"802.1w")
    elif version == 3: w = put_s(w, b"802.1s")
    else:
        w = put_s(w, b"Unknown STP protocol (0x")
        w = put_hex_pad(w, version, 2)
        return put_c(w, b')')
    if end < 4:
        return put_trunc(w, b"stp")
    kind = b[3]
    if kind == 0: w = put_s(w, b", Config")
    elif kind == 2: w = put_s(w, b", Rapid STP")
    elif kind == 0x80: w = put_s(w, b", Topology Change")
    else:
        w = put_s(w, b", Unknown BPDU Type (0x")
        w = put_hex_pad(w, kind, 2)
        w = put_c(w, b')')
    if kind == 0 or (kind == 2 and version == 2):
        if length < (35 if kind == 0 else 36):
            return put_s(w, b" (invalid)")
        if end < 5:
            return put_trunc(w, b"stp")
        w = put_s(w, b", Flags ")
        w = put_stp_flags(w, b[4])
        if end < 27:            # the bridge id and port id are read before printing
            return put_trunc(w, b"stp")
        w = put_s(w, b", bridge-id ")
        w = put_bridge_id(w, b + 17)
        w = put_c(w, b'.')
        w = put_hex_pad(w, rd16(b + 25), 4)
        w = put_s(w, b", length ")
        w = put_u(w, <uint64_t>length)
        if not verbose:
            return w
        if end < 35:
            return put_trunc(w, b"stp")
        w = put_stp_timers(w, b)
        w = put_s(w, b"\n\troot-id ")
        w = put_bridge_id(w, b + 5)
        w = put_s(w, b", root-pathcost ")
        w = put_u(w, rd32(b + 13))
        if version == 2:
            w = put_s(w, b", port-role ")
            w = put_port_role(w, b[4])
    elif kind == 2 and version == 3:
        if length < 102:
            return put_s(w, b" (invalid)")
        if end < 36:
            return put_trunc(w, b"stp")
        if b[35] != 0:
            return put_s(w, b" (invalid)")
        if end < 38:
            return put_trunc(w, b"stp")
        v3 = rd16(b + 36) + 2
        if length < 36 + v3:
            return put_s(w, b" (invalid)")
        w = put_mstp(w, verbose, b, end, length, &cut)
        if cut:
            return put_trunc(w, b"stp")
    return w


cdef uint8_t *put_stp_llc(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                          Py_ssize_t at, Py_ssize_t length) noexcept nogil:
    # An 802.2 LLC PDU at `at` (length: its bytes, the 802.3 length field's)
    # carrying a spanning tree BPDU (SAPs 0x42, UI): tcpdump prints the LLC
    # header only with -e ("LLC, dsap STP (0x42) Individual, ssap STP (0x42)
    # Command, ctrl 0x03: "), then the BPDU.  NULL for any other PDU.
    cdef Py_ssize_t end
    cdef uint8_t *said
    if cap < at + 3 or (p[at] & 0xFE) != 0x42 or (p[at + 1] & 0xFE) != 0x42 or p[at + 2] != 3:
        return NULL
    end = cap - at - 3
    if end > length - 3:
        end = length - 3 if length >= 3 else 0
    if st.link_header:
        w = put_s(w, b"LLC, dsap STP (0x42) ")
        w = put_s(w, b"Group" if p[at] & 1 else b"Individual")
        w = put_s(w, b", ssap STP (0x42) ")
        w = put_s(w, b"Response" if p[at + 1] & 1 else b"Command")
        w = put_s(w, b", ctrl 0x03: ")
    return put_stp(w, st.verbose, p + at + 3, end, length - 3 if length >= 3 else 0)


cdef enum:
    SYSLOG_DUMPED = 1024     # -vv: the bytes of a message dumped (RFC 3164's most)


cdef const char *_SYSLOG_FACILITIES[24]
_SYSLOG_FACILITIES[:] = [b"kernel", b"user", b"mail", b"daemon", b"auth", b"syslog", b"lpr",
                         b"news", b"uucp", b"cron", b"authpriv", b"ftp", b"ntp", b"security",
                         b"console", b"cron", b"local0", b"local1", b"local2", b"local3",
                         b"local4", b"local5", b"local6", b"local7"]
cdef const char *_SYSLOG_SEVERITIES[8]
_SYSLOG_SEVERITIES[:] = [b"emergency", b"alert", b"critical", b"error", b"warning", b"notice",
                         b"info", b"debug"]


cdef inline uint8_t *put_syslog_facility(uint8_t *w, uint32_t facility) noexcept nogil:
    if facility < 24:
        return put_s(w, _SYSLOG_FACILITIES[facility])
    w = put_s(w, b"unknown (")
    w = put_u(w, facility)
    return put_c(w, b')')


cdef uint8_t *put_syslog(uint8_t *w, int verbose, const uint8_t *m, Py_ssize_t end,
                         Py_ssize_t length) noexcept nogil:
    # tcpdump's syslog_print: "SYSLOG user.notice, length: 35"; -v: "SYSLOG,
    # length: 35", the facility and severity and the message on lines of
    # their own (-vv: and the datagram in hex)
    cdef Py_ssize_t at = 1, i
    cdef uint32_t pri = 0, facility, severity
    cdef uint8_t *listed
    if end < 1:
        return put_trunc(w, b"syslog")
    if m[0] != b'<':
        return put_s(w, b" (invalid)")
    while at <= 3:
        if end <= at:
            return put_trunc(w, b"syslog")
        if m[at] < b'0' or m[at] > b'9':
            break
        pri = pri * 10 + (m[at] - 48)      # (48: '0')
        at += 1
    if end <= at:
        return put_trunc(w, b"syslog")
    if m[at] != b'>':
        return put_s(w, b" (invalid)")
    at += 1
    facility = (pri & 0x3F8) >> 3
    severity = pri & 7
    if not verbose:
        w = put_s(w, b"SYSLOG ")
        w = put_syslog_facility(w, facility)
        w = put_c(w, b'.')
        w = put_s(w, _SYSLOG_SEVERITIES[severity])
        w = put_s(w, b", length: ")
        return put_u(w, <uint64_t>length)
    w = put_s(w, b"SYSLOG, length: ")
    w = put_u(w, <uint64_t>length)
    w = put_s(w, b"\n\tFacility ")
    w = put_syslog_facility(w, facility)
    w = put_s(w, b" (")
    w = put_u(w, facility)
    w = put_s(w, b"), Severity ")
    w = put_s(w, _SYSLOG_SEVERITIES[severity])
    w = put_s(w, b" (")
    w = put_u(w, severity)
    w = put_s(w, b")\n\tMsg: ")
    listed = w
    for i in range(at, length):         # nd_printn: every byte, as fn_print_char
        if i >= end:
            return put_trunc(w, b"syslog")
        if w - listed >= 2 * LIST_BUDGET:
            w = put_s(w, b" [...]")
            break
        w = put_printable(w, m[i])
    if verbose > 1:
        w = put_hexdump_lead(w, m, end if end <= SYSLOG_DUMPED else SYSLOG_DUMPED, False,
                             b"\n\t0x")
        if end > SYSLOG_DUMPED:
            w = put_s(w, b"\n\t[...]")
    return w


cdef uint8_t *put_hsrp(uint8_t *w, int verbose, const uint8_t *m, Py_ssize_t end,
                       Py_ssize_t length) noexcept nogil:
    # tcpdump's hsrp_print: "HSRPv0-hello 20: state=active group=1
    # addr=10.0.0.254"; -v: " hellotime=3s holdtime=10s priority=120 auth="cisco""
    cdef uint8_t state, c
    cdef int i
    if end < 1:
        return put_trunc(w, b"hsrp")
    w = put_s(w, b"HSRPv")
    w = put_u(w, m[0])
    if m[0] != 0:
        return w
    w = put_c(w, b'-')
    if end < 2:
        return put_trunc(w, b"hsrp")
    if m[1] < 3:
        w = put_s(w, b"hello " if m[1] == 0 else (b"coup " if m[1] == 1 else b"resign "))
    else:
        w = put_s(w, b"unknown (")
        w = put_u(w, m[1])
        w = put_s(w, b") ")
    w = put_u(w, <uint64_t>length)
    w = put_s(w, b": ")
    if end < 3:
        return put_trunc(w, b"hsrp")
    state = m[2]
    w = put_s(w, b"state=")
    if state == 0: w = put_s(w, b"initial")
    elif state == 1: w = put_s(w, b"learn")
    elif state == 2: w = put_s(w, b"listen")
    elif state == 4: w = put_s(w, b"speak")
    elif state == 8: w = put_s(w, b"standby")
    elif state == 16: w = put_s(w, b"active")
    else:
        w = put_s(w, b"Unknown (")
        w = put_u(w, state)
        w = put_c(w, b')')
    w = put_c(w, b' ')
    if end < 7:
        return put_trunc(w, b"hsrp")
    w = put_s(w, b"group=")
    w = put_u(w, m[6])
    w = put_c(w, b' ')
    if end < 8:
        return put_trunc(w, b"hsrp")
    if m[7] != 0:
        w = put_s(w, b"[reserved=")
        w = put_u(w, m[7])
        w = put_s(w, b"!] ")
    if end < 20:
        return put_trunc(w, b"hsrp")
    w = put_s(w, b"addr=")
    w = put_ipv4(w, m + 16)
    if not verbose:
        return w
    w = put_s(w, b" hellotime=")
    w = put_relts(w, m[3])
    w = put_s(w, b" holdtime=")
    w = put_relts(w, m[4])
    w = put_s(w, b" priority=")
    w = put_u(w, m[5])
    w = put_s(w, b" auth=\"")
    for i in range(8):                  # nd_printjnp: to the first NUL
        c = m[8 + i]
        if c == 0:
            break
        w = put_printable(w, c)
    return put_c(w, b'"')


cdef uint8_t *put_udp_lan(uint8_t *w, int verbose, uint16_t sport, uint16_t dport,
                          const uint8_t *m, Py_ssize_t end, Py_ssize_t length) noexcept nogil:
    # After "a.p > b.q: ": IKEv2 (500), syslog (514), HSRP (1985), and VQP and RADIUS
    # datagrams too short for their header, as tcpdump prints them; NULL for
    # any other datagram.  m: the payload, end: its bytes captured, length:
    # its length by the UDP header.
    if sport == 500 or dport == 500:
        return put_isakmp(w, verbose, m, end)
    if sport == 514 or dport == 514:
        return put_syslog(w, verbose, m, end, length)
    if sport == 1985 or dport == 1985:
        return put_hsrp(w, verbose, m, end, length)
    return put_udp_cut(w, sport, dport, end) if end < 20 else NULL


cdef uint8_t *put_lldp(uint8_t *w, const uint8_t *p, Py_ssize_t cap, Py_ssize_t at,
                       Py_ssize_t length) noexcept nogil:
    # tcpdump's lldp_print without -v: "LLDP, length 46" and ": " and the
    # system name for each System Name TLV ("LLDP, length 46: sw1"); the
    # TLVs walked to the end TLV, " [|lldp]" at one not captured whole
    cdef Py_ssize_t left = length, pos = at, tlv_len, i
    cdef uint16_t tlv
    cdef uint8_t c
    cdef uint8_t *listed
    w = put_s(w, b"LLDP, length ")
    w = put_u(w, <uint64_t>length)
    listed = w
    while left >= 2:
        if pos + 2 > cap:
            return put_trunc(w, b"lldp")
        tlv = rd16(p + pos)
        tlv_len = tlv & 0x1FF
        left -= 2
        pos += 2
        if (tlv >> 9) == 0 or tlv_len == 0:
            break
        if pos + tlv_len > cap or left < tlv_len:
            return put_trunc(w, b"lldp")
        if (tlv >> 9) == 5:
            if w - listed >= LIST_BUDGET:
                return put_s(w, b" [...]")
            w = put_s(w, b": ")
            for i in range(tlv_len):        # nd_printjnp: to the first NUL
                c = p[pos + i]
                if c == 0:
                    break
                w = put_printable(w, c)
        left -= tlv_len
        pos += tlv_len
    return w


cdef const char *_IKE_EXCHANGES[38]           # (tcpdump's etypestr; NULL: "#N")
_IKE_EXCHANGES[:6] = [b"none", b"base", b"ident", b"auth", b"agg", b"inf"]
_IKE_EXCHANGES[32:] = [b"oakley-quick", b"oakley-newgroup", b"ikev2_init", b"ikev2_auth",
                       b"child_sa", b"inf2"]


cdef uint8_t *put_isakmp(uint8_t *w, int verbose, const uint8_t *m, Py_ssize_t end) noexcept nogil:
    # tcpdump's isakmp_print without -v for IKEv2: "isakmp: parent_sa
    # ikev2_init[I]" (" child_sa " past the first exchange; the flags I, V, R);
    # " [|isakmp]" for a header not captured whole.  NULL (the generic line)
    # for IKEv1, whose I/R tcpdump takes from the cookies of the packets
    # before, and under -v, where tcpdump details the payloads.
    cdef uint8_t major, kind, flags
    if end < 28:
        return put_trunc(w, b"isakmp")
    major = m[17] >> 4
    if major == 1 or verbose:
        return NULL
    w = put_s(w, b"isakmp:")
    if major != 2:
        return w
    w = put_s(w, b" parent_sa " if rd32(m + 20) == 0 else b" child_sa  ")
    kind = m[18]
    if kind < 38 and _IKE_EXCHANGES[kind] != NULL:
        w = put_s(w, _IKE_EXCHANGES[kind])
    else:
        w = put_c(w, b'#')
        w = put_u(w, kind)
    flags = m[19]
    if flags:
        w = put_c(w, b'[')
        if flags & 0x08:
            w = put_c(w, b'I')
        if flags & 0x10:
            w = put_c(w, b'V')
        if flags & 0x20:
            w = put_c(w, b'R')
        w = put_c(w, b']')
    return w
