# Tunnels in packet lines (included by _text.pyx): after the outer packet,
# tcpdump 4.99 goes on to print the packet inside on the same line: GRE
# ("GREv0, length 36: IP a > b: ..."), IP-in-IP (4in4, 6in4, 4in6, 6in6),
# VXLAN ("VXLAN, flags [I] (0x08), vni 42" and a new line), Geneve and MPLS
# label stacks.  One level is printed; a tunnel inside a tunnel prints as
# before (ip-proto-47, "UDP, length N").  Every function here returns NULL
# when it does not print the packet as tcpdump does (a header cut short or
# claiming more than its packet holds, a payload tcpdump decodes with code
# ringcap does not have): the caller then prints its line without the
# tunnel, from the same place, over what was written.

cdef enum:
    MAX_MPLS_PRINTED = 16    # labels in a stack printed as tcpdump; a longer one is not
    INNER_IPV6_EXT_MAX = 16  # extension headers walked in an inner IPv6 packet (as the decoder)


cdef inline bint _tunnel_port(uint16_t port) noexcept nogil:
    return port == 4789 or port == 6081


cdef inline bint _inner_ip_fields(const uint8_t *p, Py_ssize_t cap, Py_ssize_t at,
                                  Py_ssize_t length, uint8_t version, Py_ssize_t *l4,
                                  uint8_t *proto, Py_ssize_t *ip_len,
                                  uint32_t *dflags) noexcept nogil:
    # IN an IP packet of `version` at `at`, `length` bytes long in its tunnel;
    # OUT what the decoder gives put_ip for an outer packet.  False: a packet
    # this printer leaves to the line without the tunnel (cut before its
    # transport header or in its IPv6 extension headers, a length past its
    # tunnel's).
    cdef Py_ssize_t ihl, total, cur, hlen
    cdef uint16_t frag
    cdef uint8_t nh
    cdef int count = 0
    dflags[0] = 0
    if version == 4:
        if at + 20 > cap or p[at] >> 4 != 4:
            return False
        ihl = (p[at] & 0x0F) * 4
        total = rd16(p + at + 2)
        if ihl < 20 or total < ihl or total > length or at + ihl > cap:
            return False
        frag = rd16(p + at + 6)
        if frag & 0x3FFF:
            dflags[0] = F_FRAGMENT | (F_NONFIRST_FRAGMENT if frag & 0x1FFF else 0)
        proto[0] = p[at + 9]
        ip_len[0] = total
        l4[0] = 0 if frag & 0x1FFF else at + ihl
        return True
    if at + 40 > cap or p[at] >> 4 != 6:
        return False
    total = 40 + <Py_ssize_t>rd16(p + at + 4)
    nh = p[at + 6]
    if total == 40 and nh != 59 or total > length:
        return False
    cur = at + 40
    while _is_ipv6_ext(nh):        # the extension headers, as the decoder walks them
        if count == INNER_IPV6_EXT_MAX or cur + 8 > at + total or cur + 8 > cap:
            return False
        if nh == 44:
            hlen = 8
            frag = rd16(p + cur + 2)
            dflags[0] |= F_FRAGMENT | (F_NONFIRST_FRAGMENT if frag & 0xFFF8 else 0)
        elif nh == 51:
            hlen = (<Py_ssize_t>p[cur + 1] + 2) * 4
        else:
            hlen = (<Py_ssize_t>p[cur + 1] + 1) * 8
        if cur + hlen > at + total or cur + hlen > cap:
            return False
        nh = p[cur]
        cur += hlen
        count += 1
        if dflags[0] & F_NONFIRST_FRAGMENT:
            break
    proto[0] = nh
    ip_len[0] = total
    l4[0] = 0 if nh == 59 or dflags[0] & F_NONFIRST_FRAGMENT else cur
    return True


cdef uint8_t *put_inner_ip(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                           Py_ssize_t at, Py_ssize_t length, uint8_t version) noexcept nogil:
    # The IP packet inside a tunnel, as an outer one ("IP " unless -e).
    cdef Py_ssize_t l4, ip_len
    cdef uint8_t proto
    cdef uint32_t dflags
    if not _inner_ip_fields(p, cap, at, length, version, &l4, &proto, &ip_len, &dflags):
        return NULL
    st.tunnel_depth += 1
    w = put_ip(w, st, p, cap, at, l4, version, proto, ip_len, dflags, not st.link_header)
    st.tunnel_depth -= 1
    return w


cdef uint8_t *put_inner_ether(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                              Py_ssize_t at, Py_ssize_t length) noexcept nogil:
    # An Ethernet frame inside a tunnel (tcpdump's ether_print): its MAC
    # addresses and type with -e, then its IPv4 or IPv6 packet or its ARP.
    cdef uint16_t t
    if at + 14 > cap or length < 14:
        return NULL
    t = rd16(p + at + 12)
    if t != 0x0800 and t != 0x86DD and (t != 0x0806 or at + 14 + 28 > cap):
        return NULL
    if st.link_header:
        w = put_mac(w, p + at + 6)
        w = put_s(w, b" > ")
        w = put_mac(w, p + at)
        w = put_s(w, b", ")
        w = put_ethertype(w, t, st.quiet)
        w = put_s(w, b", length ")
        w = put_u(w, <uint64_t>length)
        w = put_s(w, b": ")
    if t == 0x0806:
        if not st.link_header:
            w = put_s(w, b"ARP, ")
        return put_arp(w, p, cap, at + 14, length - 14, st.verbose)
    return put_inner_ip(w, st, p, cap, at + 14, length - 14, 4 if t == 0x0800 else 6)


cdef uint8_t _mpls_payload(const uint8_t *p, Py_ssize_t cap, Py_ssize_t at, Py_ssize_t length,
                           Py_ssize_t *inner) noexcept nogil:
    # An MPLS label stack at `at`: the IP version of what follows it as
    # tcpdump guesses it (from the last label, else from its first byte),
    # with OUT inner where it starts; 0 when this printer leaves it.
    cdef Py_ssize_t k = at
    cdef uint32_t entry = 0
    cdef uint8_t first
    while True:
        if k + 4 > cap or k + 4 > at + length or k - at >= 4 * MAX_MPLS_PRINTED:
            return 0
        entry = rd32(p + k)
        k += 4
        if entry & 0x100:
            break
    inner[0] = k
    if k >= cap or k >= at + length:
        return 0
    first = p[k]
    if entry >> 12 == 0 or entry >> 12 == 3:
        return 4 if first >> 4 == 4 else 0
    if entry >> 12 == 2:
        return 6 if first >> 4 == 6 else 0
    if 0x45 <= first <= 0x4F:
        return 4
    if 0x60 <= first <= 0x6F:
        return 6
    return 0


cdef bint _mpls_printable(PrintState *st, const uint8_t *p, Py_ssize_t cap, Py_ssize_t at,
                          Py_ssize_t length) noexcept nogil:
    # put_mpls would print this stack and its packet (it writes nothing).
    cdef Py_ssize_t inner, l4, ip_len
    cdef uint8_t version, proto
    cdef uint32_t dflags
    if st.tunnel_depth:
        return False
    version = _mpls_payload(p, cap, at, length, &inner)
    return version != 0 and _inner_ip_fields(p, cap, inner, at + length - inner, version,
                                             &l4, &proto, &ip_len, &dflags)


cdef uint8_t *put_mpls(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                       Py_ssize_t at, Py_ssize_t length) noexcept nogil:
    # "MPLS (label 100, tc 0, [S], ttl 64) IP a > b: ..."; -v puts each
    # further label and the packet on lines of their own.
    cdef Py_ssize_t inner, k = at
    cdef uint32_t entry
    cdef uint8_t version
    if st.tunnel_depth:
        return NULL
    version = _mpls_payload(p, cap, at, length, &inner)
    if version == 0:
        return NULL
    w = put_s(w, b"MPLS")
    while k < inner:
        entry = rd32(p + k)
        w = put_s(w, b"\n\t(label " if k > at and st.verbose else b" (label ")
        w = put_u(w, entry >> 12)
        if st.verbose and entry >> 12 < 16:     # the reserved labels, named at -v
            w = put_s(w, b" (IPv4 explicit NULL)" if entry >> 12 == 0 else
                      b" (router alert)" if entry >> 12 == 1 else
                      b" (IPv6 explicit NULL)" if entry >> 12 == 2 else
                      b" (implicit NULL)" if entry >> 12 == 3 else b" (rsvd)")
        w = put_s(w, b", tc ")
        w = put_u(w, (entry >> 9) & 7)
        if entry & 0x100:
            w = put_s(w, b", [S]")
        w = put_s(w, b", ttl ")
        w = put_u(w, entry & 0xFF)
        w = put_c(w, b')')
        k += 4
    w = put_s(w, b"\n\t" if st.verbose else b" ")
    return put_inner_ip(w, st, p, cap, inner, at + length - inner, version)


cdef inline uint8_t *put_gre_flags(uint8_t *w, uint16_t flags) noexcept nogil:
    # ", Flags [key present, sequence# present]" (tcpdump's bittok2str)
    cdef bint any = False
    w = put_s(w, b", Flags [")
    if flags & 0x8000:
        w = put_s(w, b"checksum present")
        any = True
    if flags & 0x4000:
        w = put_s(w, b", routing present" if any else b"routing present")
        any = True
    if flags & 0x2000:
        w = put_s(w, b", key present" if any else b"key present")
        any = True
    if flags & 0x1000:
        w = put_s(w, b", sequence# present" if any else b"sequence# present")
        any = True
    if flags & 0x0800:
        w = put_s(w, b", source routing present" if any else b"source routing present")
        any = True
    if flags & 0x0080:
        w = put_s(w, b", ack present" if any else b"ack present")
        any = True
    if not any:
        w = put_s(w, b"none")
    return put_c(w, b']')


cdef inline uint8_t *put_gre_proto(uint8_t *w, uint16_t prot) noexcept nogil:
    # -e: ", proto IPv4 (0x0800)"
    cdef const char *name = _ethertype_name(prot)
    w = put_s(w, b", proto ")
    if prot == 0x6558:
        w = put_s(w, b"TEB")
    elif prot == 0x880B:
        w = put_s(w, b"PPP")
    elif name == NULL:
        w = put_s(w, b"unknown")
    else:
        w = put_s(w, name)
    w = put_s(w, b" (0x")
    w = put_hex_pad(w, prot, 4)
    return put_c(w, b')')


cdef uint8_t *put_gre(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                      Py_ssize_t g, Py_ssize_t length) noexcept nogil:
    # After "a > b: ": GRE (RFC 2784/2890; version 1 is PPTP's) and what it carries.
    cdef uint16_t flags, prot
    cdef Py_ssize_t k = g + 4
    if st.tunnel_depth or length < 4 or g + 4 > cap:
        return NULL
    flags = rd16(p + g)
    prot = rd16(p + g + 2)
    if flags & 0x4000 or (flags & 7) == 1 and flags & 0x1000:
        return NULL                 # source routes; PPTP's PPP
    w = put_s(w, b"GREv")
    w = put_u(w, flags & 7)
    if flags & 7 > 1:
        return put_s(w, b" ERROR: unknown-version")
    if st.verbose:
        w = put_gre_flags(w, flags)
    if flags & 7 == 1:              # PPTP: a call id in the key's place, an ack
        if flags & 0x2000:
            if k + 4 > g + length or k + 4 > cap:
                return NULL
            w = put_s(w, b", call ")
            w = put_u(w, rd16(p + k + 2))
            k += 4
        if flags & 0x0080:
            if k + 4 > g + length or k + 4 > cap:
                return NULL
            w = put_s(w, b", ack ")
            w = put_u(w, rd32(p + k))
            k += 4
        w = put_s(w, b", no-payload")
        if st.link_header:
            w = put_gre_proto(w, prot)
        w = put_s(w, b", length ")
        return put_u(w, <uint64_t>length)
    if flags & 0x8000:
        if k + 4 > g + length or k + 4 > cap:
            return NULL
        if st.verbose:
            w = put_s(w, b", sum 0x")
            w = put_hex(w, rd16(p + k))
        w = put_s(w, b", off 0x")
        w = put_hex(w, rd16(p + k + 2))
        k += 4
    if flags & 0x2000:
        if k + 4 > g + length or k + 4 > cap:
            return NULL
        w = put_s(w, b", key=0x")
        w = put_hex(w, rd32(p + k))
        k += 4
    if flags & 0x1000:
        if k + 4 > g + length or k + 4 > cap:
            return NULL
        w = put_s(w, b", seq ")
        w = put_u(w, rd32(p + k))
        k += 4
    if st.link_header:
        if _ethertype_name(prot) == NULL and prot != 0x6558 and prot != 0x88BE \
                and prot != 0x0000:
            return NULL             # tcpdump names more types than this printer
        w = put_gre_proto(w, prot)
    w = put_s(w, b", length ")
    w = put_u(w, <uint64_t>length)
    w = put_s(w, b"\n\t" if st.verbose else b": ")
    length -= k - g
    if prot == 0x0800 or prot == 0x86DD:
        return put_inner_ip(w, st, p, cap, k, length, 4 if prot == 0x0800 else 6)
    if prot == 0x6558:
        return put_inner_ether(w, st, p, cap, k, length)
    if prot == 0x8847 or prot == 0x8848:
        return put_mpls(w, st, p, cap, k, length)
    if prot == 0x883E or prot == 0x8137 or prot == 0x809B \
            or prot == 0x00FE or prot == 0x894F or prot == 0x2000 or prot == 0x2001:
        return NULL                 # payloads tcpdump decodes
    w = put_s(w, b"gre-proto-0x")
    return put_hex(w, prot)


cdef uint8_t *put_udp_tunnel(uint8_t *w, PrintState *st, const uint8_t *p, Py_ssize_t cap,
                             Py_ssize_t l4, Py_ssize_t ulen) noexcept nogil:
    # After "a.p > b.q: ": VXLAN (port 4789) or Geneve (6081), either port.
    cdef uint16_t sport = rd16(p + l4), dport = rd16(p + l4 + 2), prot
    cdef Py_ssize_t v = l4 + 8, length = ulen - 8, optlen
    cdef uint8_t flags
    if st.tunnel_depth or length < 8 or v + 8 > cap:
        return NULL
    flags = p[v]
    if sport == 4789 or dport == 4789:
        w = put_s(w, b"VXLAN, flags [I] (0x" if flags & 0x08 else b"VXLAN, flags [invalid] (0x")
        w = put_hex_pad(w, flags, 2)
        w = put_s(w, b"), vni ")
        w = put_u(w, rd32(p + v + 4) >> 8)
        w = put_c(w, b'\n')
        return put_inner_ether(w, st, p, cap, v + 8, length - 8)
    if sport != 6081 and dport != 6081:
        return NULL
    w = put_s(w, b"Geneve")
    if flags >> 6:
        w = put_s(w, b" ERROR: unknown-version ")
        return put_u(w, flags >> 6)
    optlen = (flags & 0x3F) * 4
    prot = rd16(p + v + 2)
    if (optlen and st.verbose) or v + 8 + optlen > cap or 8 + optlen > length:
        return NULL                 # options named at -v; cut short
    w = put_s(w, b", Flags [")
    if p[v + 1] & 0xC0 == 0:
        w = put_s(w, b"none")
    else:
        if p[v + 1] & 0x80:
            w = put_c(w, b'O')
        if p[v + 1] & 0x40:
            w = put_c(w, b'C')
    w = put_s(w, b"], vni 0x")
    w = put_hex(w, rd32(p + v + 4) >> 8)
    if p[v + 7]:
        w = put_s(w, b", rsvd 0x")
        w = put_hex(w, p[v + 7])
    if st.link_header:
        if prot != 0x0800 and prot != 0x86DD and prot != 0x6558:
            return NULL
        w = put_gre_proto(w, prot)
    if optlen:
        w = put_s(w, b", options [")
        w = put_u(w, <uint64_t>optlen)
        w = put_s(w, b" bytes]")
    w = put_s(w, b"\n\t" if st.verbose else b": ")
    if prot == 0x0800 or prot == 0x86DD:
        return put_inner_ip(w, st, p, cap, v + 8 + optlen, length - 8 - optlen,
                            4 if prot == 0x0800 else 6)
    if prot == 0x6558:
        return put_inner_ether(w, st, p, cap, v + 8 + optlen, length - 8 - optlen)
    return NULL
