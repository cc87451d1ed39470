# The kernel-facing core of ringcap: AF_PACKET sockets with a TPACKET_V3
# receive ring (RxRingCore) and a TPACKET_V2 transmit ring (TxRingCore).
#
#   setup     socket -> PACKET_VERSION -> options/filter -> PACKET_*_RING -> mmap -> bind
#   drain     drain_ring(): walks ready blocks by pointer, copies packets into
#             caller-allocated columns, hands each block back when it is empty
#   fill      fill_tx_ring(): copies frames into free TX slots, flushes with sendto
#
# Errors from system calls go through raise_os_error(), the one path from
# errno to OSError.  The Python layer (ringcap/ring.py) validates arguments,
# allocates the output arrays and gives the public names.
import warnings

cimport cython
from cpython.buffer cimport PyBUF_FORMAT, PyBUF_ND
from cpython.exc cimport PyErr_CheckSignals
from libc.errno cimport errno, EINTR, EAGAIN, EIO, ENOBUFS
from libc.stdint cimport int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t
from libc.string cimport memcpy, memmove, memset, strerror
from libc.time cimport time_t
from posix.unistd cimport pread

from includes.linux_packet cimport *
from includes.posix_net cimport *
from includes.linux_tstamp cimport *
from includes.posix_file cimport iovec, writev

cdef extern from "<time.h>" nogil:
    struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk, timespec *tp)
    int CLOCK_MONOTONIC


# --------------------------------------------------------------------------
# errno -> OSError

_HINTS = {
    1: "capturing needs root or CAP_NET_RAW: run with sudo, or grant the "
       "interpreter the capability with `sudo setcap cap_net_raw+ep <python>`",   # EPERM
    13: "capturing needs root or CAP_NET_RAW: run with sudo, or grant the "
        "interpreter the capability with `sudo setcap cap_net_raw+ep <python>`",  # EACCES
    12: "the kernel could not allocate that much ring memory; ask for a smaller "
        "ring (fewer blocks or smaller block_size)",                              # ENOMEM
    19: "no such network interface; list them with `ip link`",                   # ENODEV
    100: "the interface went down or away; bring it up (`ip link set <iface> up`) "
         "and open a new ring",                                                    # ENETDOWN
    90: "the frame is larger than the interface MTU; raise the MTU or send smaller frames",  # EMSGSIZE
}


cdef int raise_os_error(int err, str what) except -1:
    """Raise OSError(err, "<what>: <strerror>; <hint>") so Python picks the subclass."""
    message = f"{what}: {strerror(err).decode()}"
    hint = _HINTS.get(err)
    if hint:
        message += f"; {hint}"
    raise OSError(err, message)


cdef inline int check(int rc, str what) except -1:
    """Raise for a failed call returning -1 with errno set; pass other values through."""
    if rc < 0:
        raise_os_error(errno, what)
    return rc


def _format_size(size_t n):
    for unit, shift in (("GiB", 30), ("MiB", 20), ("KiB", 10)):
        if n >= (<size_t>1 << shift) and n % (<size_t>1 << shift) == 0:
            return f"{n >> shift} {unit}"
    return f"{n} bytes"


cdef double monotonic() noexcept nogil:
    cdef timespec t
    clock_gettime(CLOCK_MONOTONIC, &t)
    return t.tv_sec + t.tv_nsec * 1e-9


cdef int set_int_option(int fd, int level, int name, int value, str what) except -1:
    return check(setsockopt(fd, level, name, &value, sizeof(value)), what)


cdef int attach_filter(int fd, const uint8_t[::1] program, int option=SO_ATTACH_FILTER,
                       int level=SOL_SOCKET) except -1:
    """SO_ATTACH_FILTER (or another option taking a struct sock_fprog, such as
    PACKET_FANOUT_DATA) with a classic BPF program packed as struct sock_filter[]."""
    cdef sock_fprog prog
    cdef Py_ssize_t count = program.shape[0] // sizeof(sock_filter)
    if count == 0 or count > 0xFFFF or program.shape[0] % sizeof(sock_filter):
        raise ValueError(f"a BPF program is 1 to 65535 whole 8-byte instructions "
                         f"(the kernel takes at most 4096), got {program.shape[0]} bytes")
    prog.len = <unsigned short>count
    prog.filter = <sock_filter *>&program[0]
    if setsockopt(fd, level, option, &prog, sizeof(prog)) < 0:
        err = errno
        if err == 22 and prog.len > 4096:   # BPF_MAXINSNS
            raise ValueError(f"the {prog.len}-instruction BPF program is longer than the "
                             f"kernel's limit of 4096 instructions (BPF_MAXINSNS); simplify "
                             f"the filter")
        if err == 22:   # EINVAL: the kernel's verifier refused the program
            raise ValueError(f"the kernel rejected the {prog.len}-instruction BPF program "
                             f"(invalid opcode, jump or return); check it with `tcpdump -d`")
        name = "SO_ATTACH_FILTER" if option == SO_ATTACH_FILTER else "PACKET_FANOUT_DATA"
        raise_os_error(err, f"setsockopt({name}) with {prog.len} instructions")
    return 0


# `ret #0`: accept nothing.  A socket joining a fanout group must be bound
# first, so it carries this filter from creation until it has joined;
# otherwise it would see every packet on its own for a moment.
cdef uint8_t[8] DROP_ALL_PROGRAM = [0x06, 0, 0, 0, 0, 0, 0, 0]


def interface_index(str name):
    """The ifindex of interface ``name``; OSError(ENODEV) naming it if there is none."""
    cdef bytes raw = name.encode(errors="surrogateescape")
    if not raw or len(raw) >= IF_NAMESIZE or b"\0" in raw:
        shown = repr(name) if len(name) <= 40 else f"{name[:40]!r}... ({len(name)} characters)"
        raise ValueError(f"{shown} is not a valid interface name (1 to {IF_NAMESIZE - 1} bytes, "
                         f"no NUL); list the interfaces with `ip link`")
    cdef unsigned int index = if_nametoindex(raw)
    if index == 0:
        err = errno
        if err == 19 or err == 0:
            raise OSError(19, f"no network interface named {name!r} in this network "
                              f"namespace; list them with `ip link`")
        raise_os_error(err, f"if_nametoindex({name!r})")
    return index


def interface_name(unsigned int index):
    """The name of interface ``index``, or None if there is none."""
    cdef char buf[64]
    if if_indextoname(index, buf) == NULL:
        return None
    return buf.decode()


# --------------------------------------------------------------------------
# Receive timestamps

TIMESTAMPING = {"software": 1, "hardware": 2}


cdef int get_ts_info(int fd, str iface, ethtool_ts_info *info) except -1:
    """ETHTOOL_GET_TS_INFO (what `ethtool -T <iface>` prints) into ``info``."""
    cdef ifreq req
    cdef bytes name = iface.encode()
    memset(&req, 0, sizeof(req))
    memset(info, 0, sizeof(ethtool_ts_info))
    memcpy(req.ifr_name, <const char *>name, min(len(name), 15))
    info.cmd = ETHTOOL_GET_TS_INFO
    req.ifr_data = <char *>info
    check(ioctl(fd, SIOCETHTOOL, &req), f"ioctl(SIOCETHTOOL, ETHTOOL_GET_TS_INFO) on {iface}")
    return 0


def interface_hatype(str iface):
    """The ARPHRD_* hardware type of ``iface`` (SIOCGIFHWADDR; what
    /sys/class/net/IFACE/type shows, but asked of this network namespace;
    needs no privilege)."""
    cdef ifreq req
    cdef bytes name = iface.encode(errors="surrogateescape")
    cdef int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0)
    if fd < 0:
        raise_os_error(errno, "socket(AF_INET, SOCK_DGRAM)")
    memset(&req, 0, sizeof(req))
    memcpy(req.ifr_name, <const char *>name, min(len(name), 15))
    try:
        check(ioctl(fd, SIOCGIFHWADDR, &req), f"ioctl(SIOCGIFHWADDR) on {iface}")
    finally:
        close(fd)
    return req.ifr_hwaddr.sa_family


def timestamping_capabilities(str iface):
    """``(so_timestamping, rx_filters, phc_index)`` of ``iface``, as
    `ethtool -T` reports them (SOF_TIMESTAMPING_* and HWTSTAMP_FILTER_* bits)."""
    cdef ethtool_ts_info info
    cdef int fd = open_packet_socket(0)
    try:
        get_ts_info(fd, iface, &info)
    finally:
        close(fd)
    return info.so_timestamping, info.rx_filters, info.phc_index


cdef int enable_timestamping(int fd, str iface, int mode) except -1:
    """Ask for software (1) or hardware (2) receive timestamps on the socket.

    Software: SO_TIMESTAMPING with RX_SOFTWARE makes the stack stamp packets
    when they arrive (rather than when they are copied into the ring), and
    PACKET_TIMESTAMP puts that stamp in the ring (TP_STATUS_TS_SOFTWARE).
    Hardware, as libpcap does it: check the NIC has raw hardware receive
    stamps (ETHTOOL_GET_TS_INFO), turn them on for every packet
    (SIOCSHWTSTAMP, HWTSTAMP_FILTER_ALL; needs CAP_NET_ADMIN), then ask for
    them in the ring (TP_STATUS_TS_RAW_HARDWARE on each packet that has one)."""
    cdef ethtool_ts_info info
    cdef hwtstamp_config config
    cdef ifreq req
    cdef bytes name
    cdef int flags
    if mode == 2:
        get_ts_info(fd, iface, &info)
        if not (info.so_timestamping & SOF_TIMESTAMPING_RAW_HARDWARE
                and info.so_timestamping & SOF_TIMESTAMPING_RX_HARDWARE
                and info.rx_filters & (1 << HWTSTAMP_FILTER_ALL)):
            raise OSError(95, f"{iface} cannot stamp received packets in hardware (`ethtool -T "
                              f"{iface}` shows no hardware-receive capability with filter "
                              f"'all'); use timestamping='software'")
        name = iface.encode()
        memset(&req, 0, sizeof(req))
        memset(&config, 0, sizeof(config))
        memcpy(req.ifr_name, <const char *>name, min(len(name), 15))
        config.tx_type = HWTSTAMP_TX_OFF
        config.rx_filter = HWTSTAMP_FILTER_ALL
        req.ifr_data = <char *>&config
        if ioctl(fd, SIOCSHWTSTAMP, &req) < 0:
            err = errno
            if err == 1:
                raise PermissionError(1, f"turning on hardware timestamps on {iface} "
                                         f"(SIOCSHWTSTAMP) needs CAP_NET_ADMIN; run as root or "
                                         f"use timestamping='software'")
            raise_os_error(err, f"ioctl(SIOCSHWTSTAMP, HWTSTAMP_FILTER_ALL) on {iface}")
        flags = SOF_TIMESTAMPING_RX_HARDWARE | SOF_TIMESTAMPING_RAW_HARDWARE
    else:
        flags = SOF_TIMESTAMPING_RX_SOFTWARE | SOF_TIMESTAMPING_SOFTWARE
    set_int_option(fd, SOL_SOCKET, SO_TIMESTAMPING, flags, "setsockopt(SO_TIMESTAMPING)")
    set_int_option(fd, SOL_PACKET, PACKET_TIMESTAMP,
                   SOF_TIMESTAMPING_RAW_HARDWARE if mode == 2 else SOF_TIMESTAMPING_SOFTWARE,
                   "setsockopt(PACKET_TIMESTAMP)")
    return 0


cdef int open_packet_socket(int protocol, bint cooked=False) except -1:
    # cooked: SOCK_DGRAM, frames without their link-layer header (libpcap's
    # cooked mode, for `any` and interfaces without a usable link header)
    cdef int fd = socket(AF_PACKET, (SOCK_DGRAM if cooked else SOCK_RAW) | SOCK_CLOEXEC,
                         htons(<uint16_t>protocol))
    if fd < 0:
        raise_os_error(errno, "socket(AF_PACKET, SOCK_RAW)")
    return fd


cdef int bind_packet_socket(int fd, int ifindex, int protocol, str iface) except -1:
    cdef sockaddr_ll addr
    memset(&addr, 0, sizeof(addr))
    addr.sll_family = AF_PACKET
    addr.sll_protocol = htons(<uint16_t>protocol)
    addr.sll_ifindex = ifindex
    return check(bind(fd, <sockaddr *>&addr, sizeof(addr)),
                 f"bind(AF_PACKET) to {iface}")


# --------------------------------------------------------------------------
# The drain: ready V3 blocks -> columns

cdef struct Columns:
    # OUT: one entry per packet (capacity max_packets), bytes packed in data
    int64_t *ts
    uint32_t *caplen
    uint32_t *wirelen
    int64_t *offset
    int32_t *ifindex
    uint8_t *pkttype
    uint16_t *protocol
    uint16_t *vlan_tci
    uint16_t *vlan_tpid
    uint32_t *rxhash
    uint32_t *status
    uint16_t *linktype
    uint8_t *data
    Py_ssize_t max_packets
    int64_t data_size
    int64_t data_start      # IN: where in data the first packet goes


cdef struct Cursor:
    # INOUT: where the reader stands in the ring
    uint8_t *ring           # start of the mapping
    size_t block_size
    uint32_t block_count
    uint32_t block          # block being read (or next to be read)
    uint32_t left           # packets of `block` not yet copied; 0: not started
    uint32_t next_offset    # offset in `block` of the next packet
    bint reinsert_vlan
    uint32_t block_flags    # TP_STATUS_LOSING of the block being read, given to its packets
    uint32_t snaplen        # bytes kept per packet, whatever the filter returned
    uint32_t held_first     # zero-copy views: first block kept from the kernel
    uint32_t held           # zero-copy views: blocks finished but not handed back
    uint16_t linktype       # LINKTYPE_* of the frames the ring delivers
    uint8_t cooked          # SOCK_DGRAM: the length of the cooked header written before
                            # each frame (20: LINUX_SLL2; 16: a LINUX_SLL header, which
                            # libpcap writes for NETLINK, LINUX_IRDA, LINUX_LAPD); 0: none
    bint can_id_order       # a CAN device: each frame's CAN ID put in network byte order


cdef inline tpacket_block_desc *block_at(Cursor *cur, uint32_t index) noexcept nogil:
    return <tpacket_block_desc *>(cur.ring + <size_t>index * cur.block_size)


cdef inline void release_block(Cursor *cur) noexcept nogil:
    """Hand the current block back to the kernel and move to the next one."""
    cdef tpacket_block_desc *desc = block_at(cur, cur.block)
    rc_store_release_u32(&desc.hdr.bh1.block_status, TP_STATUS_KERNEL)
    cur.left = 0
    cur.block += 1
    if cur.block == cur.block_count:
        cur.block = 0


cdef inline void hold_block(Cursor *cur) noexcept nogil:
    """Move past a finished block without handing it back (a view still points into it)."""
    if cur.held == 0:
        cur.held_first = cur.block
    cur.held += 1
    cur.left = 0
    cur.block += 1
    if cur.block == cur.block_count:
        cur.block = 0


cdef inline void release_held(Cursor *cur) noexcept nogil:
    """Hand back the blocks a released view held."""
    cdef uint32_t i, index = cur.held_first
    for i in range(cur.held):
        rc_store_release_u32(&block_at(cur, index).hdr.bh1.block_status, TP_STATUS_KERNEL)
        index += 1
        if index == cur.block_count:
            index = 0
    cur.held = 0


cdef inline bint open_block(Cursor *cur) noexcept nogil:
    """Start reading the current block if the kernel has handed it over."""
    cdef tpacket_block_desc *desc = block_at(cur, cur.block)
    if not (rc_load_acquire_u32(&desc.hdr.bh1.block_status) & TP_STATUS_USER):
        return False
    cur.left = desc.hdr.bh1.num_pkts
    cur.next_offset = desc.hdr.bh1.offset_to_first_pkt
    # V3 sets LOSING on the block (drops since the last PACKET_STATISTICS
    # read when it was closed), never on its packets: pass it on to them.
    cur.block_flags = desc.hdr.bh1.block_status & TP_STATUS_LOSING
    if cur.can_id_order:
        can_ids_to_network_order(desc, cur.left, cur.next_offset, cur.block_size)
    return True


cdef void can_ids_to_network_order(tpacket_block_desc *desc, uint32_t packets,
                                   uint32_t offset, uint32_t block_size) noexcept nogil:
    """LINKTYPE_CAN_SOCKETCAN has the CAN ID (a CAN XL frame's priority/VCID
    word) in network byte order; the kernel gives it in host order.  As libpcap
    does, the first 32-bit word of every frame of a CAN device is converted,
    in place, once, when its block is opened (so reads, views and file writes
    all see it so).  A layout reaching past the block is left alone."""
    cdef tpacket3_hdr *hdr
    cdef uint8_t *frame
    cdef uint32_t word
    while packets and offset + sizeof(tpacket3_hdr) <= block_size:
        hdr = <tpacket3_hdr *>(<uint8_t *>desc + offset)
        if hdr.tp_snaplen >= 4 and <size_t>offset + hdr.tp_mac + hdr.tp_snaplen <= block_size:
            frame = <uint8_t *>hdr + hdr.tp_mac
            memcpy(&word, frame, 4)
            frame[0] = <uint8_t>(word >> 24)
            frame[1] = <uint8_t>(word >> 16)
            frame[2] = <uint8_t>(word >> 8)
            frame[3] = <uint8_t>word
        if hdr.tp_next_offset == 0:
            break
        offset += hdr.tp_next_offset
        packets -= 1


cdef inline tpacket3_hdr *next_packet(Cursor *cur, bint hold) noexcept nogil:
    """The next packet to read, opening the next ready block if needed; NULL
    when none is ready.  Empty blocks (retired by timeout) are handed back, or
    held when `hold` (a view is reading: blocks go back only on release)."""
    while cur.left == 0:
        if hold and cur.held >= cur.block_count:
            return NULL         # every block is held by the view being built
        if not open_block(cur):
            return NULL
        if cur.left == 0:
            if hold:
                hold_block(cur)
            else:
                release_block(cur)
    return <tpacket3_hdr *>(<uint8_t *>block_at(cur, cur.block) + cur.next_offset)


cdef inline tpacket3_hdr *packet_done(Cursor *cur, tpacket3_hdr *hdr, bint hold) noexcept nogil:
    """Step past `hdr`; a finished block is handed back (or held).  Returns
    the next packet of the same block, or NULL after its last one."""
    cur.left -= 1
    if cur.left:
        cur.next_offset += hdr.tp_next_offset
        return <tpacket3_hdr *>(<uint8_t *>hdr + hdr.tp_next_offset)
    if hold:
        hold_block(cur)
    else:
        release_block(cur)
    return NULL


cdef inline uint16_t tag_protocol(tpacket3_hdr *hdr) noexcept nogil:
    if not hdr.tp_status & TP_STATUS_VLAN_VALID:
        return 0
    if hdr.tp_status & TP_STATUS_VLAN_TPID_VALID:
        return hdr.hv1.tp_vlan_tpid
    return ETH_P_8021Q


cdef inline void write_tag(uint8_t *dst, tpacket3_hdr *hdr) noexcept nogil:
    """The 4-byte 802.1Q/802.1ad tag the kernel stripped, in wire order."""
    cdef uint16_t tpid = tag_protocol(hdr)
    cdef uint32_t tci = hdr.hv1.tp_vlan_tci
    dst[0] = <uint8_t>(tpid >> 8)
    dst[1] = <uint8_t>(tpid & 0xff)
    dst[2] = <uint8_t>((tci >> 8) & 0xff)
    dst[3] = <uint8_t>(tci & 0xff)


cdef inline void store_metadata(Columns *out, Py_ssize_t n, tpacket3_hdr *hdr,
                                uint32_t caplen, uint32_t wirelen,
                                uint32_t block_flags) noexcept nogil:
    cdef sockaddr_ll *sll = <sockaddr_ll *>(<uint8_t *>hdr + RC_TPACKET3_SLL_OFFSET)
    out.ts[n] = <int64_t>hdr.tp_sec * 1000000000 + hdr.tp_nsec
    out.caplen[n] = caplen
    out.wirelen[n] = wirelen
    out.ifindex[n] = sll.sll_ifindex
    out.pkttype[n] = sll.sll_pkttype
    out.protocol[n] = ntohs(sll.sll_protocol)
    out.vlan_tci[n] = <uint16_t>(hdr.hv1.tp_vlan_tci if hdr.tp_status & TP_STATUS_VLAN_VALID else 0)
    out.vlan_tpid[n] = tag_protocol(hdr)
    out.rxhash[n] = hdr.hv1.tp_rxhash
    out.status[n] = hdr.tp_status | block_flags


cdef inline void fill_linktype(uint16_t *linktype, Py_ssize_t n, uint16_t value) noexcept nogil:
    # One link type per ring: written after the loop, in a pass the compiler
    # vectorizes, so the per-packet loop is the one it was before link types.
    cdef Py_ssize_t i = 0
    cdef uint64_t word = <uint64_t>value * <uint64_t>0x0001000100010001
    while i + 4 <= n:               # four at a time (gcc -O2 does not vectorize this loop)
        memcpy(linktype + i, &word, 8)
        i += 4
    while i < n:
        linktype[i] = value
        i += 1


cdef enum:
    SLL2_HLEN = 20
    SLL_HLEN = 16
    LINKTYPE_LINUX_SLL2 = 276
    LINKTYPE_LINUX_SLL = 113         # -y LINUX_SLL: tcpdump's cooked v1 on `any`


cdef uint8_t cooked_header_length(bint cooked, unsigned int linktype) noexcept nogil:
    """The cooked header a SOCK_DGRAM ring writes before each frame: libpcap's
    16-byte LINUX_SLL header for LINUX_SLL itself (chosen with tcpdump's -y)
    and the link types defined with it (netlink monitors, IrDA, vISDN LAPD:
    253, 144, 177), else LINUX_SLL2's 20 bytes."""
    if not cooked:
        return 0
    if linktype == LINKTYPE_LINUX_SLL or linktype == 253 or linktype == 144 or linktype == 177:
        return SLL_HLEN
    return SLL2_HLEN


cdef inline void write_sll2(uint8_t *dst, uint32_t room, tpacket3_hdr *hdr) noexcept nogil:
    """The first `room` (at most 20) bytes of the LINUX_SLL2 header of a
    cooked frame, built from its sockaddr_ll as libpcap builds it: protocol,
    reserved, interface index, hardware type, packet type, address length
    and 8 address bytes, integers in network byte order."""
    cdef sockaddr_ll *sll = <sockaddr_ll *>(<uint8_t *>hdr + RC_TPACKET3_SLL_OFFSET)
    cdef uint8_t h[SLL2_HLEN]
    cdef uint32_t ifindex = <uint32_t>sll.sll_ifindex
    cdef uint16_t hatype = sll.sll_hatype
    memcpy(h, &sll.sll_protocol, 2)          # already in network byte order
    h[2] = 0
    h[3] = 0
    h[4] = <uint8_t>(ifindex >> 24)
    h[5] = <uint8_t>(ifindex >> 16)
    h[6] = <uint8_t>(ifindex >> 8)
    h[7] = <uint8_t>ifindex
    h[8] = <uint8_t>(hatype >> 8)
    h[9] = <uint8_t>hatype
    h[10] = sll.sll_pkttype
    h[11] = sll.sll_halen
    memcpy(h + 12, sll.sll_addr, 8)
    memcpy(dst, h, room if room < SLL2_HLEN else SLL2_HLEN)


cdef inline void write_sll(uint8_t *dst, uint32_t room, tpacket3_hdr *hdr) noexcept nogil:
    """The first `room` (at most 16) bytes of a LINUX_SLL (v1) header, as
    libpcap writes it: packet type, hardware type, address length, 8 address
    bytes, protocol, in network byte order."""
    cdef sockaddr_ll *sll = <sockaddr_ll *>(<uint8_t *>hdr + RC_TPACKET3_SLL_OFFSET)
    cdef uint8_t h[SLL_HLEN]
    h[0] = 0
    h[1] = sll.sll_pkttype
    h[2] = <uint8_t>(sll.sll_hatype >> 8)
    h[3] = <uint8_t>sll.sll_hatype
    h[4] = 0
    h[5] = sll.sll_halen
    memcpy(h + 6, sll.sll_addr, 8)
    memcpy(h + 14, &sll.sll_protocol, 2)     # already in network byte order
    memcpy(dst, h, room if room < SLL_HLEN else SLL_HLEN)


cdef inline void write_cooked(uint8_t *dst, uint32_t room, tpacket3_hdr *hdr,
                              uint8_t hlen) noexcept nogil:
    if hlen == SLL_HLEN:
        write_sll(dst, room, hdr)
    else:
        write_sll2(dst, room, hdr)


cdef inline uint32_t cooked_length(Cursor *cur, tpacket3_hdr *hdr) noexcept nogil:
    """The bytes written before a cooked packet's frame: its cooked header,
    and on a LINUX_SLL ring (tcpdump's -y LINUX_SLL) the 802.1Q tag the
    kernel stripped, put back after the header as libpcap does (its
    vlan_offset 14 for LINUX_SLL: the tag takes the protocol field's place,
    the protocol follows it).  libpcap puts no tag back on LINUX_SLL2."""
    if (cur.linktype == LINKTYPE_LINUX_SLL and cur.reinsert_vlan
            and hdr.tp_status & TP_STATUS_VLAN_VALID):
        return SLL_HLEN + 4
    return cur.cooked


cdef inline void write_cooked_head(uint8_t *dst, uint32_t room, tpacket3_hdr *hdr,
                                   uint32_t hlen, uint8_t cooked) noexcept nogil:
    """The first `room` (at most `hlen`, from cooked_length) bytes before a
    cooked packet's frame."""
    cdef uint8_t h[SLL_HLEN + 4]
    if cooked != SLL_HLEN:
        write_sll2(dst, room, hdr)
        return
    write_sll(h, SLL_HLEN, hdr)
    if hlen > SLL_HLEN:
        h[18] = h[14]                   # the protocol, after the tag
        h[19] = h[15]
        write_tag(h + 14, hdr)
    memcpy(dst, h, room if room < hlen else hlen)


cdef Py_ssize_t drain_ring(Cursor *cursor,     # INOUT
                           Columns *columns,   # OUT
                           int64_t *data_used,  # OUT: end of the bytes written
                           bint *data_full,  # OUT: stopped because the next packet did not fit
                           ) noexcept nogil:
    """Copy ready packets into `columns` until it is full or no block is ready.

    Returns the number of packets copied.  A read may stop inside a block;
    the cursor remembers where, and the block goes back to the kernel only
    after its last packet was copied.
    """
    # Work on local copies: byte stores through uint8_t* may alias anything
    # in memory, which would make the compiler reload every column pointer
    # and cursor field after each packet; locals stay in registers.
    cdef Cursor cur_local = cursor[0]
    cdef Columns out_local = columns[0]
    cdef Cursor *cur = &cur_local
    cdef Columns *out = &out_local
    cdef Py_ssize_t n = 0
    cdef int64_t pos = out.data_start
    cdef tpacket3_hdr *hdr
    cdef uint8_t *frame
    cdef uint32_t snap, wire, st
    cdef bint tagged
    cdef uint8_t tag[4]
    data_full[0] = False
    if cur.cooked:
        if cur.cooked == SLL2_HLEN:
            n = drain_cooked_sll2_loop(cur, out, &pos, data_full)
        else:
            n = drain_cooked_sll_loop(cur, out, &pos, data_full)
        cursor[0] = cur_local
        data_used[0] = pos
        fill_linktype(out.linktype, n, cur.linktype)
        return n
    # Within a block the next packet is one add away (packet_done returns
    # it), as in a hand-written C loop; next_packet, which finds the block's
    # address and opens the next block, runs only at block boundaries.
    hdr = NULL
    while n < out.max_packets:
        if hdr == NULL:             # at the start, and after a block's last packet
            hdr = next_packet(cur, False)
            if hdr == NULL:
                break
        frame = <uint8_t *>hdr + hdr.tp_mac
        snap = hdr.tp_snaplen
        wire = hdr.tp_len
        st = hdr.tp_status
        # The kernel strips the VLAN tag into the header; put it back in the
        # bytes (as libpcap does) when the frame is long enough to hold MACs,
        # counted in both lengths and then cut to the snaplen, as libpcap cuts.
        tagged = (cur.reinsert_vlan and (st & TP_STATUS_VLAN_VALID)
                  and snap >= 2 * ETH_ALEN)
        if tagged:
            snap += 4
            wire += 4
        if snap > cur.snaplen:      # a filter returning more than snaplen
            snap = cur.snaplen
        if pos + snap > out.data_size:
            data_full[0] = True
            break
        out.offset[n] = pos
        # before the copy: after a memcpy the compiler must assume the header
        # changed and would load its fields again
        store_metadata(out, n, hdr, snap, wire, cur.block_flags)
        if tagged:
            memcpy(out.data + pos, frame, 2 * ETH_ALEN)
            if snap >= 16:
                write_tag(out.data + pos + 2 * ETH_ALEN, hdr)
                memcpy(out.data + pos + 16, frame + 2 * ETH_ALEN, snap - 16)
            else:                   # a snaplen under 16: the start of the tag
                write_tag(tag, hdr)
                memcpy(out.data + pos + 2 * ETH_ALEN, tag, snap - 2 * ETH_ALEN)
        else:
            memcpy(out.data + pos, frame, snap)
        pos += snap
        n += 1
        hdr = packet_done(cur, hdr, False)
    cursor[0] = cur_local
    data_used[0] = pos
    fill_linktype(out.linktype, n, cur.linktype)
    return n


# The two cooked headers as types, so that the one loop below compiles to one
# loop per header (a fused-type specialisation) with the header's length and
# writer fixed at compile time.  Choosing them per packet in one compiled loop
# cost every `any` packet 7 instructions (callgrind, 64-byte packets, 180 ->
# 187); an inline function given the length as a literal was not inlined into
# its two callers by gcc -O2 and cost 12 (177 -> 189).
cdef struct Sll2Header:
    uint8_t bytes[SLL2_HLEN]

cdef struct SllHeader:
    uint8_t bytes[SLL_HLEN]

ctypedef fused CookedHeader:
    Sll2Header
    SllHeader


cdef Py_ssize_t cooked_loop(CookedHeader *layout,  # IN: NULL; its type picks the header
                            Cursor *cur,      # INOUT
                            Columns *out,     # OUT
                            int64_t *data_pos,  # INOUT: where the next packet's bytes go
                            bint *data_full,  # OUT
                            ) noexcept nogil:
    """drain_ring's loop for a cooked (SOCK_DGRAM) ring: each packet is a
    cooked header built from its sockaddr_ll, then the frame from its
    network header."""
    cdef uint32_t hlen = sizeof(CookedHeader)
    cdef Py_ssize_t n = 0
    cdef int64_t pos = data_pos[0]
    cdef tpacket3_hdr *hdr
    cdef uint32_t snap, wire
    while n < out.max_packets:
        hdr = next_packet(cur, False)
        if hdr == NULL:
            break
        if CookedHeader is SllHeader:
            hlen = cooked_length(cur, hdr)      # a VLAN tag put back after it (-y LINUX_SLL)
        snap = hdr.tp_snaplen + hlen
        wire = hdr.tp_len + hlen
        if snap > cur.snaplen:
            snap = cur.snaplen
        if pos + snap > out.data_size:
            data_full[0] = True
            break
        out.offset[n] = pos
        if CookedHeader is Sll2Header:
            write_sll2(out.data + pos, snap, hdr)
        else:
            write_cooked_head(out.data + pos, snap, hdr, hlen, SLL_HLEN)
        # tp_mac read here, not kept in a register across the header's
        # stores: 4 instructions a packet fewer
        if snap > hlen:
            memcpy(out.data + pos + hlen, <uint8_t *>hdr + hdr.tp_mac, snap - hlen)
        pos += snap
        store_metadata(out, n, hdr, snap, wire, cur.block_flags)
        n += 1
        packet_done(cur, hdr, False)
    data_pos[0] = pos
    return n


cdef Py_ssize_t drain_cooked_sll2(Cursor *cur, Columns *out, int64_t *data_pos,
                                  bint *data_full) noexcept nogil:
    """The LINUX_SLL2 (20-byte) rings, `any` among them."""
    return cooked_loop(<Sll2Header *>NULL, cur, out, data_pos, data_full)


cdef Py_ssize_t drain_cooked_sll(Cursor *cur, Columns *out, int64_t *data_pos,
                                 bint *data_full) noexcept nogil:
    """The LINUX_SLL (16-byte) rings: netlink monitors, IrDA, LAPD."""
    return cooked_loop(<SllHeader *>NULL, cur, out, data_pos, data_full)


ctypedef Py_ssize_t (*CookedLoop)(Cursor *, Columns *, int64_t *, bint *) noexcept nogil
# called through pointers, so that the compiler inlines neither loop into
# drain_ring: inlined, each made the Ethernet loop there 1 instruction a
# packet slower (91.2 -> 90.2 with both out of line)
cdef CookedLoop drain_cooked_sll2_loop = drain_cooked_sll2
cdef CookedLoop drain_cooked_sll_loop = drain_cooked_sll


cdef inline void put_u32(uint8_t *dst, uint32_t value) noexcept nogil:
    memcpy(dst, &value, 4)


cdef inline bint record_header(uint8_t *rec, Cursor *cur, tpacket3_hdr *hdr, uint32_t cap,
                               bint nanosecond, uint32_t *snap_out) noexcept nogil:
    """Write the 16-byte pcap record header of the packet at ``hdr`` to ``rec``:
    its bytes as written (a cooked header or a stripped VLAN tag put back
    counted), cut to ``cap``.  Sets ``snap_out``; True when the tag goes back."""
    cdef uint32_t snap = hdr.tp_snaplen, wire = hdr.tp_len
    cdef bint tagged = False
    if cur.cooked:
        snap += cooked_length(cur, hdr)
        wire += cooked_length(cur, hdr)
    else:
        tagged = (cur.reinsert_vlan and (hdr.tp_status & TP_STATUS_VLAN_VALID)
                  and snap >= 2 * ETH_ALEN)
        if tagged:
            snap += 4
            wire += 4
    if snap > cap:
        snap = cap
    if wire < snap:
        wire = snap
    put_u32(rec, <uint32_t>hdr.tp_sec)
    put_u32(rec + 4, hdr.tp_nsec if nanosecond else hdr.tp_nsec // 1000)
    put_u32(rec + 8, snap)
    put_u32(rec + 12, wire)
    snap_out[0] = snap
    return tagged


cdef Py_ssize_t drain_records(Cursor *cursor,      # INOUT
                              uint8_t *out,        # OUT: records from out[pos[0]] on
                              int64_t size,        # IN: bytes of out
                              int64_t *position,   # INOUT: where the next record goes
                              Py_ssize_t max_packets,
                              uint32_t snaplen,    # IN: the file's snaplen
                              bint nanosecond,
                              int64_t *data_bytes,  # OUT: captured bytes of the records
                              ) noexcept nogil:
    """Write ready packets as pcap records (16-byte header in host byte order,
    then the bytes) straight from the ring's blocks into `out`, until it
    cannot hold the next record or no block is ready; returns the packets
    written.  The bytes are those drain_ring would copy (VLAN tags put back,
    LINUX_SLL2 headers on a cooked ring), cut to the smaller of the ring's
    and the file's snaplen; no per-packet columns are kept."""
    cdef Cursor cur_local = cursor[0]
    cdef Cursor *cur = &cur_local
    cdef Py_ssize_t n = 0
    cdef int64_t pos = position[0], kept = 0
    cdef tpacket3_hdr *hdr
    cdef uint8_t *frame
    cdef uint8_t *rec
    cdef uint8_t head[16]
    cdef uint8_t rh[16]                 # the record header, written once there is room
    cdef uint32_t snap, hlen, cap = cur.snaplen if cur.snaplen < snaplen else snaplen
    cdef bint tagged
    while n < max_packets:
        hdr = next_packet(cur, False)
        if hdr == NULL:
            break
        frame = <uint8_t *>hdr + hdr.tp_mac
        tagged = record_header(rh, cur, hdr, cap, nanosecond, &snap)
        if pos + 16 + snap > size:
            break
        rec = out + pos
        memcpy(rec, rh, 16)
        rec += 16
        if cur.cooked:
            hlen = cooked_length(cur, hdr)
            write_cooked_head(rec, snap, hdr, hlen, cur.cooked)
            if snap > hlen:
                memcpy(rec + hlen, frame, snap - hlen)
        elif tagged:
            # MACs, the tag, then the rest (a file snaplen under 16 cuts the head)
            memcpy(head, frame, 2 * ETH_ALEN)
            write_tag(head + 2 * ETH_ALEN, hdr)
            memcpy(rec, head, snap if snap < 16 else 16)
            if snap > 16:
                memcpy(rec + 16, frame + 2 * ETH_ALEN, snap - 16)
        else:
            memcpy(rec, frame, snap)
        pos += 16 + snap
        kept += snap
        n += 1
        packet_done(cur, hdr, False)
    cursor[0] = cur_local
    position[0] = pos
    data_bytes[0] = kept
    return n


# Records written in place: record headers (and small frames) are built in a
# staging buffer, large frames go to the file straight from the ring's blocks,
# one writev() for many records; blocks go back to the kernel once written.

cdef enum:
    GATHER_IOVECS = 1024        # IOV_MAX: iovecs per writev()
    GATHER_IN_PLACE = 512       # frames of this many bytes or more are not copied


cdef struct Gather:
    # one writev() being assembled
    iovec iov[GATHER_IOVECS]
    int niov
    uint8_t *staging            # record headers, small frames, VLAN/SLL2 heads
    int64_t staging_size
    int64_t staged
    int64_t *ends               # per record: where it ends, in bytes of this writev
    Py_ssize_t max_records
    Py_ssize_t records
    int64_t total


cdef struct GatherResult:
    Py_ssize_t taken            # packets taken from the ring
    Py_ssize_t written          # of those, complete records in the file
    int64_t nbytes              # bytes of those records
    int64_t partial             # bytes of the next record that reached the file (a failed write)
    int err                     # errno of a failed write, else 0


cdef inline void gather_staged(Gather *g, int64_t nbytes) noexcept nogil:
    """The `nbytes` just built at the end of staging join the writev."""
    cdef iovec *last = g.iov + g.niov - 1 if g.niov else NULL
    if last != NULL and <uint8_t *>last.iov_base + last.iov_len == g.staging + g.staged:
        last.iov_len += nbytes
    else:
        g.iov[g.niov].iov_base = g.staging + g.staged
        g.iov[g.niov].iov_len = nbytes
        g.niov += 1
    g.staged += nbytes
    g.total += nbytes


cdef inline void gather_in_place(Gather *g, uint8_t *bytes_, uint32_t nbytes) noexcept nogil:
    g.iov[g.niov].iov_base = bytes_
    g.iov[g.niov].iov_len = nbytes
    g.niov += 1
    g.total += nbytes


cdef bint gather_flush(int fd, Gather *g, Cursor *cur, GatherResult *res) noexcept nogil:
    """writev() the records assembled, then hand back the blocks they came from;
    True if the write failed (res says how far it got)."""
    cdef iovec *iov = g.iov
    cdef int left = g.niov, err = 0
    cdef ssize_t rc
    cdef int64_t done = 0
    cdef Py_ssize_t complete = 0
    while left > 0:
        rc = writev(fd, iov, left)
        if rc < 0:
            if errno == EINTR:
                continue
            err = errno
            break
        if rc == 0:
            err = EIO
            break
        done += rc
        while left > 0 and <size_t>rc >= iov.iov_len:
            rc -= iov.iov_len
            iov += 1
            left -= 1
        if left > 0:
            iov.iov_base = <uint8_t *>iov.iov_base + rc
            iov.iov_len -= rc
    if err:
        while complete < g.records and g.ends[complete] <= done:
            complete += 1
        res.partial = done - (g.ends[complete - 1] if complete else 0)
        res.err = err
    else:
        complete = g.records
    res.written += complete
    res.nbytes += g.ends[complete - 1] if complete else 0
    release_held(cur)
    g.niov = 0
    g.staged = 0
    g.records = 0
    g.total = 0
    return err != 0


cdef void write_ring_records(Cursor *cursor,        # INOUT
                             int fd,                # IN: a regular file, at its end
                             Gather *g,             # scratch: staging and ends set
                             Py_ssize_t max_packets,
                             uint32_t snaplen,      # IN: the file's snaplen
                             bint nanosecond,
                             GatherResult *res,     # OUT
                             ) noexcept nogil:
    """Write ready packets to `fd` as pcap records, the bytes drain_records
    would build, until no block is ready, `max_packets` or a failed write.
    Frames of GATHER_IN_PLACE bytes or more are written from the ring's
    blocks, which are held until their records are in the file."""
    cdef Cursor cur_local = cursor[0]
    cdef Cursor *cur = &cur_local
    cdef tpacket3_hdr *hdr
    cdef uint8_t *frame
    cdef uint8_t *rec
    cdef uint8_t head[16]
    cdef uint8_t rh[16]                 # the record header, staged once there is room
    cdef uint32_t snap, hlen = 0, cap = cur.snaplen if cur.snaplen < snaplen else snaplen
    cdef bint tagged, in_place
    memset(res, 0, sizeof(GatherResult))
    g.niov = 0
    g.staged = 0
    g.records = 0
    g.total = 0
    while res.taken < max_packets:
        hdr = next_packet(cur, True)
        if hdr == NULL:
            break
        frame = <uint8_t *>hdr + hdr.tp_mac
        tagged = record_header(rh, cur, hdr, cap, nanosecond, &snap)
        in_place = snap >= GATHER_IN_PLACE
        if cur.cooked:
            hlen = cooked_length(cur, hdr)
        if (g.records == g.max_records or g.niov + 3 > GATHER_IOVECS
                or g.staged + 16 + (hlen if in_place else snap) > g.staging_size):
            if gather_flush(fd, g, cur, res):
                break
        rec = g.staging + g.staged
        memcpy(rec, rh, 16)
        gather_staged(g, 16)
        rec += 16
        if cur.cooked:
            write_cooked_head(rec, snap, hdr, hlen, cur.cooked)
            if in_place:
                gather_staged(g, hlen)
                gather_in_place(g, frame, snap - hlen)
            else:
                if snap > hlen:
                    memcpy(rec + hlen, frame, snap - hlen)
                gather_staged(g, snap)
        elif tagged:
            memcpy(head, frame, 2 * ETH_ALEN)
            write_tag(head + 2 * ETH_ALEN, hdr)
            memcpy(rec, head, snap if snap < 16 else 16)
            if in_place:
                gather_staged(g, 16)
                gather_in_place(g, frame + 2 * ETH_ALEN, snap - 16)
            else:
                if snap > 16:
                    memcpy(rec + 16, frame + 2 * ETH_ALEN, snap - 16)
                gather_staged(g, snap)
        elif in_place:
            gather_in_place(g, frame, snap)
        else:
            memcpy(rec, frame, snap)
            gather_staged(g, snap)
        g.ends[g.records] = g.total
        g.records += 1
        res.taken += 1
        packet_done(cur, hdr, True)
    if g.records and not res.err:
        gather_flush(fd, g, cur, res)
    release_held(cur)           # (a failed write: the packets not written are lost)
    cursor[0] = cur_local


cdef Py_ssize_t view_ring(Cursor *cur,     # INOUT
                          Columns *out,    # OUT: metadata; offset is into the mapping
                          ) noexcept nogil:
    """Like drain_ring, but copy no bytes: each offset points at the packet in
    the mapping, and finished blocks are held (not handed back) until
    release_held().  Stripped VLAN tags are written back in place, into the
    padding the kernel leaves before each frame."""
    cdef Py_ssize_t n = 0
    cdef tpacket3_hdr *hdr
    cdef uint8_t *frame
    cdef uint32_t snap, wire, hlen
    cdef size_t room = RC_TPACKET3_SLL_OFFSET + sizeof(sockaddr_ll) + 4
    while n < out.max_packets:
        hdr = next_packet(cur, True)
        if hdr == NULL:
            break
        frame = <uint8_t *>hdr + hdr.tp_mac
        snap = hdr.tp_snaplen
        wire = hdr.tp_len
        if cur.cooked:
            # The LINUX_SLL2 header is written in place before the frame, as
            # libpcap does: a SOCK_DGRAM ring leaves room there (tp_mac is
            # 96, past the sockaddr_ll at 48..68).  A layout without room
            # (never seen) gives an empty packet, not a mislabelled one.
            hlen = cooked_length(cur, hdr)
            if hdr.tp_mac >= RC_TPACKET3_SLL_OFFSET + sizeof(sockaddr_ll) + hlen:
                frame -= hlen
                write_cooked_head(frame, hlen, hdr, hlen, cur.cooked)
                snap += hlen
            else:
                snap = 0
            wire += hlen
        # tp_mac >= room always holds for the kernel's layout (82 >= 72 on
        # Ethernet); the check only keeps a hostile layout from writing
        # outside the packet's slot.
        elif (cur.reinsert_vlan and hdr.tp_status & TP_STATUS_VLAN_VALID
                and snap >= 2 * ETH_ALEN and hdr.tp_mac >= room):
            memmove(frame - 4, frame, 2 * ETH_ALEN)
            frame -= 4
            write_tag(frame + 2 * ETH_ALEN, hdr)
            snap += 4
            wire += 4
        if snap > cur.snaplen:
            snap = cur.snaplen
        out.offset[n] = frame - cur.ring
        store_metadata(out, n, hdr, snap, wire, cur.block_flags)
        n += 1
        packet_done(cur, hdr, True)
    fill_linktype(out.linktype, n, cur.linktype)
    return n


cdef int ready_bounds(Cursor *cur, int64_t max_packets,
                      int64_t *packets, int64_t *data_bytes) noexcept nogil:
    """Upper bounds of what a drain of up to max_packets could copy now, from
    the block headers only."""
    cdef uint32_t i, index = cur.block
    cdef tpacket_block_desc *desc
    cdef int64_t pk = 0, nbytes = 0
    for i in range(cur.block_count):
        if pk >= max_packets:
            break
        desc = block_at(cur, index)
        if not (rc_load_acquire_u32(&desc.hdr.bh1.block_status) & TP_STATUS_USER):
            break
        if i == 0 and cur.left:
            pk += cur.left
        else:
            pk += desc.hdr.bh1.num_pkts
        nbytes += desc.hdr.bh1.blk_len
        index += 1
        if index == cur.block_count:
            index = 0
    packets[0] = pk
    # room for re-inserted VLAN tags or cooked headers
    data_bytes[0] = nbytes + (cur.cooked if cur.cooked else 4) * pk
    return 0


cdef int fill_columns(Columns *cols, dict store, Py_ssize_t max_packets) except -1:
    """Point `cols` at the arrays of a batch store (validated by their memoryviews)."""
    cdef int64_t[::1] ts = store["ts"]
    cdef uint32_t[::1] caplen = store["caplen"]
    cdef uint32_t[::1] wirelen = store["wirelen"]
    cdef int64_t[::1] offset = store["offset"]
    cdef int32_t[::1] ifindex = store["ifindex"]
    cdef uint8_t[::1] pkttype = store["pkttype"]
    cdef uint16_t[::1] protocol = store["protocol"]
    cdef uint16_t[::1] vlan_tci = store["vlan_tci"]
    cdef uint16_t[::1] vlan_tpid = store["vlan_tpid"]
    cdef uint32_t[::1] rxhash = store["rxhash"]
    cdef uint32_t[::1] status = store["status"]
    cdef uint16_t[::1] linktype = store["linktype"]
    cdef uint8_t[::1] data = store["data"]
    cdef Py_ssize_t cap = ts.shape[0]
    if min(caplen.shape[0], wirelen.shape[0], offset.shape[0], ifindex.shape[0],
           pkttype.shape[0], protocol.shape[0], vlan_tci.shape[0], vlan_tpid.shape[0],
           rxhash.shape[0], status.shape[0], linktype.shape[0]) < cap:
        raise ValueError("the batch's column buffers have different lengths")
    if data.shape[0] == 0 or cap == 0:
        raise ValueError("the output batch has no room (capacity 0)")
    cols.ts = &ts[0]
    cols.caplen = &caplen[0]
    cols.wirelen = &wirelen[0]
    cols.offset = &offset[0]
    cols.ifindex = &ifindex[0]
    cols.pkttype = &pkttype[0]
    cols.protocol = &protocol[0]
    cols.vlan_tci = &vlan_tci[0]
    cols.vlan_tpid = &vlan_tpid[0]
    cols.rxhash = &rxhash[0]
    cols.status = &status[0]
    cols.linktype = &linktype[0]
    cols.data = &data[0]
    cols.max_packets = min(cap, max_packets)
    cols.data_size = data.shape[0]
    cols.data_start = 0
    return 0


# --------------------------------------------------------------------------
# Receive ring


@cython.final
cdef class RingMapping:
    """Owns the ring's mmap; exports it as a read-only buffer.

    Zero-copy batches are numpy views of this object, so the mapping lives
    as long as any of them does, even past the ring's close(): a stale view
    can never touch unmapped memory."""
    cdef uint8_t *ptr
    cdef size_t size

    def __cinit__(self):
        self.ptr = NULL
        self.size = 0

    def __getbuffer__(self, Py_buffer *view, int flags):
        view.buf = self.ptr
        view.len = self.size
        view.readonly = 1
        view.itemsize = 1
        view.format = NULL
        if flags & PyBUF_FORMAT:
            view.format = b"B"
        view.ndim = 1
        view.shape = NULL
        if flags & PyBUF_ND:
            view.shape = <Py_ssize_t *>&self.size
        view.strides = NULL
        view.suboffsets = NULL
        view.internal = NULL
        view.obj = self

    def __releasebuffer__(self, Py_buffer *view):
        pass

    def __dealloc__(self):
        if self.ptr != NULL:
            munmap(self.ptr, self.size)


cdef RingMapping map_ring(int fd, size_t size, str what):
    cdef void *mapped = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)
    if mapped == MAP_FAILED:
        raise_os_error(errno, f"mmap of the {_format_size(size)} {what}")
    cdef RingMapping mapping = RingMapping.__new__(RingMapping)
    mapping.ptr = <uint8_t *>mapped
    mapping.size = size
    return mapping


cdef class PacketSocket:
    """An AF_PACKET socket and its mapped ring: what both rings share.

    close() is idempotent; a socket collected while open warns with
    ResourceWarning and closes itself."""
    cdef int fd
    cdef RingMapping mapping
    cdef readonly int ifindex
    cdef readonly str iface

    def __cinit__(self):
        self.fd = -1

    cdef int _check_open(self) except -1:
        if self.fd < 0:
            raise ValueError("I/O operation on a closed ring")
        return 0

    @property
    def closed(self):
        return self.fd < 0

    def fileno(self):
        self._check_open()
        return self.fd

    def close(self):
        """Close the socket and drop the mapping (a zero-copy batch still alive
        keeps the mapping until it goes)."""
        self.mapping = None
        if self.fd >= 0:
            close(self.fd)
            self.fd = -1

    def __del__(self):
        if self.fd >= 0:
            kind = type(self).__name__.replace("Core", "")
            warnings.warn(f"unclosed {kind} on {self.iface}: call close() or use `with`",
                          ResourceWarning, source=self)
            self.close()

    def __dealloc__(self):
        if self.fd >= 0:
            close(self.fd)


@cython.final
cdef class RxRingCore(PacketSocket):
    """An AF_PACKET socket with a mapped TPACKET_V3 receive ring.

    Arguments are validated by ringcap.RxRing; this class only talks to the
    kernel.  ``program`` is a packed ``struct sock_filter[]`` (or None); it is
    attached before the socket is bound, so no packet that fails it is ever
    queued.
    """
    cdef Cursor cursor
    cdef public bint stop_requested
    cdef readonly uint64_t packets, drops, freeze_count, delivered
    # A dead ring (its socket reported an error: the interface went down or
    # away) delivers what it holds, then every read raises dead_error.
    cdef readonly int dead_errno
    cdef readonly str dead_error
    cdef double dead_deadline
    cdef double retire_s            # block_timeout_ms, in seconds

    def __init__(self, int ifindex, str iface, *, unsigned int block_size, unsigned int block_count,
                 unsigned int block_timeout_ms, unsigned int snaplen=262144,
                 const uint8_t[::1] program=None, bint promisc=False,
                 bint ignore_outgoing=False, bint reinsert_vlan=True, int timestamping=0,
                 object memberships=None, long fanout=-1,
                 const uint8_t[::1] fanout_program=None, int fanout_bpf_fd=-1,
                 unsigned int linktype=1, bint cooked=False, bint can_id_order=False):
        cdef tpacket_req3 req
        cdef packet_mreq mreq
        self.ifindex = ifindex
        self.iface = iface
        # Protocol 0: the socket receives nothing until bind(), so the filter
        # and ring are in place before the first packet arrives.
        self.fd = open_packet_socket(0, cooked)
        try:
            set_int_option(self.fd, SOL_PACKET, PACKET_VERSION, TPACKET_V3,
                           "setsockopt(PACKET_VERSION, TPACKET_V3)")
            if ignore_outgoing:
                set_int_option(self.fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, 1,
                               "setsockopt(PACKET_IGNORE_OUTGOING) (needs Linux 4.20)")
            if timestamping:
                enable_timestamping(self.fd, iface, timestamping)
            if fanout >= 0:
                attach_filter(self.fd, DROP_ALL_PROGRAM)
            elif program is not None:
                attach_filter(self.fd, program)
            memset(&req, 0, sizeof(req))
            req.tp_block_size = block_size
            req.tp_block_nr = block_count
            req.tp_frame_size = block_size     # V3 packs frames freely; one "frame" per block
            req.tp_frame_nr = block_count
            req.tp_retire_blk_tov = block_timeout_ms
            self.retire_s = block_timeout_ms / 1000.0
            req.tp_feature_req_word = TP_FT_REQ_FILL_RXHASH
            total = <size_t>block_size * block_count
            check(setsockopt(self.fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)),
                  f"setsockopt(PACKET_RX_RING) with {block_count} blocks of "
                  f"{_format_size(block_size)} ({_format_size(total)} in all)")
            self.mapping = map_ring(self.fd, total, "receive ring")
            self.cursor.ring = self.mapping.ptr
            self.cursor.held = 0
            self.cursor.block_size = block_size
            self.cursor.block_count = block_count
            self.cursor.block = 0
            self.cursor.left = 0
            self.cursor.reinsert_vlan = reinsert_vlan
            self.cursor.snaplen = snaplen
            self.cursor.cooked = cooked_header_length(cooked, linktype)
            self.cursor.can_id_order = can_id_order
            self.cursor.linktype = (LINKTYPE_LINUX_SLL2 if self.cursor.cooked == SLL2_HLEN
                                    else <uint16_t>linktype)
            bind_packet_socket(self.fd, ifindex, ETH_P_ALL, iface)
            if promisc:
                for index, name in (memberships or [(ifindex, iface)]):
                    memset(&mreq, 0, sizeof(mreq))
                    mreq.mr_ifindex = index
                    mreq.mr_type = PACKET_MR_PROMISC
                    check(setsockopt(self.fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq,
                                     sizeof(mreq)),
                          f"setsockopt(PACKET_ADD_MEMBERSHIP, promiscuous) on {name}")
            if fanout >= 0:
                # Fanout needs a bound socket (the group hooks the same
                # interface and protocol); the gate filter kept it empty so far.
                self._join_fanout(fanout, fanout_program, fanout_bpf_fd)
                self.set_filter(program)
        except BaseException:
            self.close()
            raise

    cdef int _join_fanout(self, long fanout, const uint8_t[::1] fanout_program,
                          int fanout_bpf_fd) except -1:
        cdef int arg = <int>fanout
        cdef uint32_t bpf_fd
        check(setsockopt(self.fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof(arg)),
              f"setsockopt(PACKET_FANOUT) joining group {fanout & 0xffff}")
        if fanout_program is not None:
            attach_filter(self.fd, fanout_program, PACKET_FANOUT_DATA, SOL_PACKET)
        elif fanout_bpf_fd >= 0:
            bpf_fd = <uint32_t>fanout_bpf_fd
            check(setsockopt(self.fd, SOL_PACKET, PACKET_FANOUT_DATA, &bpf_fd, sizeof(bpf_fd)),
                  f"setsockopt(PACKET_FANOUT_DATA) with eBPF program fd {fanout_bpf_fd}")
        return 0

    def fanout_group(self):
        """getsockopt(PACKET_FANOUT): ``group id | (mode | flags) << 16``, 0 if none."""
        self._check_open()
        cdef int value = 0
        cdef socklen_t length = sizeof(value)
        check(getsockopt(self.fd, SOL_PACKET, PACKET_FANOUT, &value, &length),
              "getsockopt(PACKET_FANOUT)")
        return value

    def rollover_stats(self):
        """(rolled over, rolled over because huge, rollover failed) from
        PACKET_ROLLOVER_STATS, or None when the socket has no rollover."""
        self._check_open()
        cdef tpacket_rollover_stats st
        cdef socklen_t length = sizeof(st)
        memset(&st, 0, sizeof(st))
        if getsockopt(self.fd, SOL_PACKET, PACKET_ROLLOVER_STATS, &st, &length) < 0:
            err = errno
            if err == 22:       # EINVAL: not in a group with rollover
                return None
            raise_os_error(err, "getsockopt(PACKET_ROLLOVER_STATS)")
        return st.tp_all, st.tp_huge, st.tp_failed

    def set_filter(self, const uint8_t[::1] program):
        """Replace the socket filter (None: accept everything)."""
        self._check_open()
        cdef int unused = 0
        if program is not None:
            attach_filter(self.fd, program)
        elif setsockopt(self.fd, SOL_SOCKET, SO_DETACH_FILTER, &unused, sizeof(unused)) < 0:
            err = errno
            if err != 2:        # ENOENT: there was none
                raise_os_error(err, "setsockopt(SO_DETACH_FILTER)")

    def close_gate(self):
        """Accept no more packets (a filter that drops all); what is in the
        ring stays readable, and the statistics stop moving once the packets
        already past the old filter have landed."""
        self._check_open()
        attach_filter(self.fd, DROP_ALL_PROGRAM)

    def wait(self, double timeout):
        """Block until a packet is ready, ``timeout`` seconds pass (negative: no limit)
        or stop_requested is set.  Ctrl-C raises KeyboardInterrupt.  Returns True
        if a block is ready."""
        self._check_open()
        cdef pollfd pfd
        cdef int rc, err, slice_ms, soerr
        cdef socklen_t soerr_len
        cdef double deadline = monotonic() + timeout if timeout >= 0 else -1.0
        cdef double remaining
        while True:
            if self._block_ready():
                return True
            if self.dead_errno:
                self._check_dead()              # raises once the ring has nothing left
            if self.stop_requested:
                return False
            slice_ms = 50       # short slices: Ctrl-C and close() from another thread act promptly
            if deadline >= 0:
                remaining = deadline - monotonic()
                if remaining <= 0:
                    return False
                if remaining * 1000 < slice_ms:
                    slice_ms = <int>(remaining * 1000) + 1
            pfd.fd = self.fd
            pfd.events = POLLIN | POLLERR
            pfd.revents = 0
            with nogil:
                rc = poll(&pfd, 1, slice_ms)
                err = errno
            if rc < 0 and err != EINTR:
                raise_os_error(err, "poll() on the capture socket")
            PyErr_CheckSignals()
            if rc > 0 and pfd.revents & (POLLERR | POLLHUP | POLLNVAL) and not self.dead_errno:
                soerr = 0
                soerr_len = sizeof(soerr)
                getsockopt(self.fd, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len)
                if soerr:
                    self._die(soerr)
                elif pfd.revents & (POLLHUP | POLLNVAL):
                    self._die(100)      # ENETDOWN

    cdef int _die(self, int err) except -1:
        """The socket reported ``err`` (ENETDOWN: the interface went down or was
        deleted).  The kernel stops queueing to it, but packets it already
        accepted are in the ring, the last of them in the block it was filling,
        which its block timer still hands over: keep reading until every
        accepted packet is delivered or that timer must have fired."""
        gone = if_nametoindex(self.iface.encode()) != <unsigned int>self.ifindex
        what = ("was deleted or moved to another network namespace" if gone
                else "went down")
        self.dead_errno = err
        self.dead_error = (f"capturing on {self.iface}: {strerror(err).decode()}; the interface "
                           f"{what}, so this ring is dead: open a new one "
                           f"(`ip link set {self.iface} up` if it is down)")
        # accept nothing more, should the interface come back: the counts are final
        attach_filter(self.fd, DROP_ALL_PROGRAM)
        self.dead_deadline = monotonic() + 2 * self.retire_s + 0.25
        return 0

    cdef int _check_dead(self) except -1:
        """Raise the dead ring's error once nothing it accepted is left to read
        (or the kernel's block timer had more than enough time to hand it over)."""
        self.update_stats()
        cdef int64_t unread = (<int64_t>self.packets - <int64_t>self.drops
                               - <int64_t>self.delivered)
        if unread <= 0 or monotonic() >= self.dead_deadline:
            raise OSError(self.dead_errno, self.dead_error)
        return 0

    def ready_bounds(self, int64_t max_packets):
        """(packets, data_bytes): upper bounds of what a drain of up to
        ``max_packets`` could copy right now."""
        self._check_open()
        cdef int64_t packets, nbytes
        ready_bounds(&self.cursor, max_packets, &packets, &nbytes)
        return min(packets, max_packets), nbytes

    def drain(self, dict store, Py_ssize_t max_packets, Py_ssize_t start=0,
              int64_t data_start=0):
        """Copy ready packets into the arrays of ``store`` from row ``start`` and
        byte ``data_start`` on; returns (packets, end of the bytes written).

        Raises ValueError if the next packet cannot fit in an empty data buffer.
        """
        self._check_open()
        cdef Columns cols
        cdef int64_t used
        cdef bint full
        cdef Py_ssize_t n
        fill_columns(&cols, store, start + max_packets)
        if start < 0 or start > cols.max_packets or data_start < 0 or data_start > cols.data_size:
            raise ValueError(f"drain start ({start}, {data_start}) lies outside the batch")
        cols.ts += start
        cols.caplen += start
        cols.wirelen += start
        cols.offset += start
        cols.ifindex += start
        cols.pkttype += start
        cols.protocol += start
        cols.vlan_tci += start
        cols.vlan_tpid += start
        cols.rxhash += start
        cols.status += start
        cols.linktype += start
        cols.max_packets -= start
        cols.data_start = data_start
        if cols.max_packets == 0:
            return 0, data_start
        with nogil:
            n = drain_ring(&self.cursor, &cols, &used, &full)
        if n == 0 and full and data_start == 0:
            raise ValueError(f"the output batch's data buffer ({cols.data_size} bytes) "
                             f"cannot hold the next packet; give it at least snaplen + 4 bytes")
        self.delivered += n
        return n, used

    def view(self, dict store, Py_ssize_t max_packets):
        """Fill the metadata columns of ``store`` for ready packets without
        copying their bytes; returns (packets, mapping) where each offset
        points into ``mapping``.  The blocks stay ours until release_view()."""
        self._check_open()
        cdef Columns cols
        cdef Py_ssize_t n
        fill_columns(&cols, store, max_packets)
        with nogil:
            n = view_ring(&self.cursor, &cols)
        self.delivered += n
        return n, self.mapping

    def drain_records(self, uint8_t[::1] out, int64_t start, Py_ssize_t max_packets,
                      uint32_t snaplen, bint nanosecond):
        """Write ready packets as pcap records (host byte order, nanosecond or
        microsecond fractions, cut to ``snaplen``) into ``out`` from byte
        ``start`` on, straight from the ring's blocks; returns (packets, end of
        the records, captured bytes).  Stops when the next record does not
        fit, after ``max_packets``, or when no block is ready."""
        self._check_open()
        cdef int64_t pos = start, kept = 0
        cdef Py_ssize_t n
        if start < 0 or start > out.shape[0]:
            raise ValueError(f"record start {start} lies outside the buffer of {out.shape[0]} bytes")
        if max_packets <= 0 or start == out.shape[0]:
            return 0, start, 0
        with nogil:
            n = drain_records(&self.cursor, &out[0], out.shape[0], &pos, max_packets, snaplen,
                              nanosecond, &kept)
        self.delivered += n
        return n, pos, kept

    def write_records(self, int fd, uint8_t[::1] staging, int64_t[::1] ends,
                      Py_ssize_t max_packets, uint32_t snaplen, bint nanosecond,
                      double linger=0.0):
        """Write ready packets to the regular file ``fd`` as pcap records (as
        drain_records builds them), frames of 512 bytes or more straight from
        the ring's blocks, headers and small frames through ``staging``;
        ``ends`` (int64) bounds the records per writev().  With ``linger`` > 0,
        go on waiting for blocks and writing them until ``linger`` seconds
        after the call (see _next_block for what ends it sooner).  Returns
        (packets taken, records complete in the file, their bytes, bytes of a
        record cut short, errno of a failed write or 0)."""
        self._check_open()
        cdef Gather g
        cdef GatherResult res, one
        cdef double deadline = monotonic() + linger
        if self.cursor.held:
            raise ValueError("blocks are held for a zero-copy view: release it first")
        if staging.shape[0] < 4096 or ends.shape[0] < 1:
            raise ValueError("write_records needs at least 4096 bytes of staging and one end")
        if max_packets <= 0:
            return 0, 0, 0, 0, 0
        g.staging = &staging[0]
        g.staging_size = staging.shape[0]
        g.ends = &ends[0]
        g.max_records = ends.shape[0]
        memset(&res, 0, sizeof(res))
        while True:
            with nogil:
                write_ring_records(&self.cursor, fd, &g, max_packets - res.taken, snaplen,
                                   nanosecond, &one)
            self.delivered += one.taken
            res.taken += one.taken
            res.written += one.written
            res.nbytes += one.nbytes
            res.partial, res.err = one.partial, one.err
            if one.err or res.taken >= max_packets or not self._next_block(deadline):
                break
        return res.taken, res.written, res.nbytes, res.partial, res.err

    cdef inline bint _block_ready(self) noexcept:
        """Whether the cursor has a packet, opening ready blocks (and giving back
        those the kernel retired by timeout with no packets) to find one."""
        while True:
            if self.cursor.left:
                return True
            if not open_block(&self.cursor):
                return False
            if self.cursor.left:
                return True
            release_block(&self.cursor)         # retired by timeout with no packets

    cdef bint _next_block(self, double deadline) noexcept:
        """Wait until the next block is ready (True) or ``deadline``: the
        loop of write_records(linger=) without a return to Python per
        wake-up.  Anything the caller must see returns False at once, to be
        handled by the next wait(): a signal (poll() interrupted; one that
        lands during a write waits for the deadline), stop_requested, a socket
        error, a dead ring."""
        cdef pollfd pfd
        cdef int rc, slice_ms
        cdef double remaining
        while True:
            if self._block_ready():
                return True
            if self.dead_errno or self.stop_requested:
                return False
            remaining = deadline - monotonic()
            if remaining <= 0:
                return False
            slice_ms = 50 if remaining * 1000 >= 50 else <int>(remaining * 1000) + 1
            pfd.fd = self.fd
            pfd.events = POLLIN | POLLERR
            pfd.revents = 0
            with nogil:
                rc = poll(&pfd, 1, slice_ms)
            if rc < 0 or (rc > 0 and pfd.revents & (POLLERR | POLLHUP | POLLNVAL)):
                return False

    @property
    def held_blocks(self):
        """Blocks kept from the kernel for an unreleased zero-copy batch."""
        return self.cursor.held

    def release_view(self):
        """Hand back the blocks held for zero-copy batches."""
        if self.fd >= 0:
            release_held(&self.cursor)

    def close(self):
        """Take the last statistics window, then close: the totals stay
        readable and final."""
        if self.fd >= 0:
            try:
                self.update_stats()
            except OSError:
                pass
        PacketSocket.close(self)

    def update_stats(self):
        """Read PACKET_STATISTICS (which resets the kernel's counters) and add it to
        the running totals; returns the (packets, drops, freeze_count) of this window.

        One getsockopt with the GIL held: it never blocks and no Python code
        runs between the read and the update, so callers on other threads or
        in signal handlers need no lock.  A no-op (zeros) once closed."""
        if self.fd < 0:
            return 0, 0, 0
        cdef tpacket_stats_v3 st
        cdef socklen_t length = sizeof(st)
        memset(&st, 0, sizeof(st))
        check(getsockopt(self.fd, SOL_PACKET, PACKET_STATISTICS, &st, &length),
              "getsockopt(PACKET_STATISTICS)")
        self.packets += st.tp_packets       # includes the drops
        self.drops += st.tp_drops
        self.freeze_count += st.tp_freeze_q_cnt
        return st.tp_packets, st.tp_drops, st.tp_freeze_q_cnt


# --------------------------------------------------------------------------
# Transmit ring

cdef struct TxCursor:
    uint8_t *ring
    size_t frame_size
    size_t block_size
    uint32_t frames_per_block
    uint32_t frame_count
    uint32_t frame            # next frame to fill
    uint32_t pending          # frames marked SEND_REQUEST since the last flush


cdef inline tpacket2_hdr *tx_frame_at(TxCursor *cur, uint32_t index) noexcept nogil:
    # Frames never straddle blocks: the kernel finds frame i at block
    # i / frames_per_block, slot i % frames_per_block, so when frame_size does
    # not divide block_size each block ends in unused bytes.
    return <tpacket2_hdr *>(cur.ring + <size_t>(index // cur.frames_per_block) * cur.block_size
                            + <size_t>(index % cur.frames_per_block) * cur.frame_size)


cdef inline tpacket2_hdr *tx_frame(TxCursor *cur) noexcept nogil:
    return tx_frame_at(cur, cur.frame)


cdef Py_ssize_t fill_tx_ring(TxCursor *cur,                 # INOUT
                             const int64_t *offset,         # IN
                             const uint32_t *caplen,        # IN
                             const uint8_t *data,           # IN
                             Py_ssize_t start, Py_ssize_t stop,
                             uint32_t *busy_status,         # OUT: status of the frame that stopped us
                             ) noexcept nogil:
    """Copy packets [start, stop) into free frames, marking each SEND_REQUEST.

    Stops early at the first frame the kernel still owns; returns the index of
    the next packet to send."""
    cdef Py_ssize_t i = start
    cdef tpacket2_hdr *hdr
    cdef uint32_t st
    busy_status[0] = 0
    while i < stop:
        hdr = tx_frame(cur)
        st = rc_load_acquire_u32(&hdr.tp_status)
        if st != TP_STATUS_AVAILABLE:
            busy_status[0] = st
            break
        memcpy(<uint8_t *>hdr + RC_TPACKET2_DATA_OFFSET, data + offset[i], caplen[i])
        hdr.tp_len = caplen[i]
        rc_store_release_u32(&hdr.tp_status, TP_STATUS_SEND_REQUEST)
        cur.pending += 1
        cur.frame += 1
        if cur.frame == cur.frame_count:
            cur.frame = 0
        i += 1
    return i


@cython.final
cdef class TxRingCore(PacketSocket):
    """An AF_PACKET socket with a mapped TPACKET_V2 transmit ring."""
    cdef TxCursor cursor
    cdef readonly uint64_t sent, dropped
    cdef readonly size_t max_frame

    def __init__(self, int ifindex, str iface, *, unsigned int frame_size,
                 unsigned int frame_count, unsigned int block_size, bint qdisc_bypass=True):
        cdef tpacket_req req
        if frame_size < RC_TPACKET2_DATA_OFFSET + 14 or block_size < frame_size or frame_count == 0:
            raise ValueError("a transmit ring needs frame_size >= 46, block_size >= frame_size "
                             "and frame_count > 0")
        self.ifindex = ifindex
        self.iface = iface
        self.fd = open_packet_socket(0)      # protocol 0: this socket never receives
        try:
            set_int_option(self.fd, SOL_PACKET, PACKET_VERSION, TPACKET_V2,
                           "setsockopt(PACKET_VERSION, TPACKET_V2)")
            if qdisc_bypass:
                set_int_option(self.fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1,
                               "setsockopt(PACKET_QDISC_BYPASS)")
            memset(&req, 0, sizeof(req))
            req.tp_block_size = block_size
            req.tp_frame_size = frame_size
            req.tp_block_nr = frame_count // (block_size // frame_size)
            req.tp_frame_nr = frame_count
            total = <size_t>block_size * req.tp_block_nr
            check(setsockopt(self.fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)),
                  f"setsockopt(PACKET_TX_RING) with {frame_count} frames of "
                  f"{_format_size(frame_size)} ({_format_size(total)} in all)")
            self.mapping = map_ring(self.fd, total, "transmit ring")
            self.cursor.ring = self.mapping.ptr
            self.cursor.frame_size = frame_size
            self.cursor.block_size = block_size
            self.cursor.frames_per_block = block_size // frame_size
            self.cursor.frame_count = frame_count
            self.cursor.frame = 0
            self.cursor.pending = 0
            self.max_frame = frame_size - RC_TPACKET2_DATA_OFFSET
            bind_packet_socket(self.fd, ifindex, 0, iface)
        except BaseException:
            self.close()
            raise

    cdef int _flush(self, bint wait) except -1:
        """Ask the kernel to send every SEND_REQUEST frame (sendto with no data).
        Returns -2 (no exception set) if the kernel refused a frame as malformed."""
        cdef ssize_t rc
        cdef int err
        cdef int flags = 0 if wait else MSG_DONTWAIT
        while True:
            with nogil:
                rc = sendto(self.fd, NULL, 0, flags, NULL, 0)
                err = errno
            if rc >= 0:
                break
            if err == EINTR:
                PyErr_CheckSignals()
                continue
            if err == EAGAIN or err == ENOBUFS:
                # ENOBUFS: the driver's queue was full and the kernel dropped the
                # frame it was sending (and freed its slot); count it, back off
                if err == ENOBUFS:
                    self.dropped += 1
                if not wait:
                    break
                self._wait_free_frame()
                continue
            if err == 22 or err == 90:        # EINVAL, EMSGSIZE: a frame was refused
                return -2
            raise_os_error(err, f"sendto() flushing the transmit ring of {self.iface}")
        self.cursor.pending = 0
        return 0

    cdef Py_ssize_t _recover_refused(self) except -1:
        """After the kernel refused a frame: it stopped there, leaving it
        TP_STATUS_WRONG_FORMAT and the frames after it queued.  Make them all
        free again and move our cursor back to the refused one, which is where
        the kernel will look next.  Returns how many queued frames preceded it
        (those were sent)."""
        cdef uint32_t start = (self.cursor.frame + self.cursor.frame_count
                               - self.cursor.pending) % self.cursor.frame_count
        cdef uint32_t k, index, refused = self.cursor.pending
        cdef tpacket2_hdr *hdr
        for k in range(self.cursor.pending):
            index = (start + k) % self.cursor.frame_count
            hdr = tx_frame_at(&self.cursor, index)
            if rc_load_acquire_u32(&hdr.tp_status) == TP_STATUS_WRONG_FORMAT:
                refused = k
                break
        for k in range(refused, self.cursor.pending):
            index = (start + k) % self.cursor.frame_count
            hdr = tx_frame_at(&self.cursor, index)
            rc_store_release_u32(&hdr.tp_status, TP_STATUS_AVAILABLE)
        self.cursor.frame = (start + refused) % self.cursor.frame_count
        self.cursor.pending = 0
        return refused

    cdef int _wait_free_frame(self) except -1:
        cdef pollfd pfd
        cdef int rc, err
        pfd.fd = self.fd
        pfd.events = POLLOUT | POLLERR
        pfd.revents = 0
        with nogil:
            rc = poll(&pfd, 1, 50)
            err = errno
        if rc < 0 and err != EINTR:
            raise_os_error(err, "poll() on the transmit socket")
        PyErr_CheckSignals()
        return 0

    def send(self, const int64_t[::1] offset, const uint32_t[::1] caplen,
             const uint8_t[::1] data):
        """Send every packet; waits for free frames when the ring is full.
        Returns the number of packets handed to the kernel."""
        self._check_open()
        cdef Py_ssize_t n = offset.shape[0], i = 0, j
        cdef uint32_t busy
        cdef const uint8_t *base = &data[0] if data.shape[0] else NULL
        if caplen.shape[0] != n:
            raise ValueError("offset and caplen differ in length")
        for j in range(n):
            if caplen[j] > self.max_frame:
                raise ValueError(f"packet {j} has {caplen[j]} bytes but a frame of this ring "
                                 f"holds at most {self.max_frame}; open the TxRing with a "
                                 f"larger frame_size")
            if offset[j] < 0 or offset[j] > data.shape[0] or caplen[j] > data.shape[0] - offset[j]:
                raise ValueError(f"packet {j} lies outside the data buffer")
        cdef Py_ssize_t first_queued, bad
        while True:
            first_queued = i - self.cursor.pending
            if i < n:
                with nogil:
                    i = fill_tx_ring(&self.cursor, &offset[0], &caplen[0], base, i, n, &busy)
                first_queued = i - self.cursor.pending
                if i < n and not self.cursor.pending:
                    self._wait_free_frame()      # the kernel still holds every frame
                    continue
            if not self.cursor.pending:
                break
            # ring full or all queued: push what is queued
            if self._flush(True) == -2:
                bad = first_queued + self._recover_refused()
                self.sent += bad
                raise ValueError(
                    f"the kernel refused packet {bad} ({caplen[bad]} bytes) for {self.iface}: "
                    f"shorter than an Ethernet header or longer than the MTU allows; the "
                    f"{bad} packets before it were sent, it and the rest were not")
            if i >= n:
                break
        self.sent += n
        return n


# --------------------------------------------------------------------------
# Sending with sendmmsg(): no ring

cdef enum:
    TX_MESSAGES = 1024          # UIO_MAXIOV: the most messages one sendmmsg() takes
    TX_RETRIES = 200            # ENOBUFS retries of one frame (1 ms apart) before it counts as dropped


cdef int set_send_buffer(int fd, size_t wanted) except -1:
    """Let ``wanted`` bytes of frames be in flight at once.  Every frame handed to
    the driver counts against SO_SNDBUF until the driver or peer frees it; at the
    default (about 200 KiB, some 80 frames of 1500 bytes) a send sleeps for the
    peer every few dozen frames.
    SO_SNDBUFFORCE passes net.core.wmem_max with CAP_NET_ADMIN; without it SO_SNDBUF
    is capped there by the kernel, which still works, only slower."""
    cdef int value = <int>min(wanted, <size_t>0x3FFFFFFF) // 2    # the kernel doubles it
    if setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &value, sizeof(value)) < 0:
        set_int_option(fd, SOL_SOCKET, SO_SNDBUF, value, "setsockopt(SO_SNDBUF)")
    return 0


@cython.final
cdef class TxSocketCore(PacketSocket):
    """An AF_PACKET socket that sends frames with sendmmsg(), up to 1024 a call.

    The kernel copies each frame into a buffer of its own, as it does for
    tcpreplay's and libpcap's send(); no ring.  On a virtual interface (veth,
    tun, bridge) this is the cheaper way: a transmit ring's frames are handed
    over by reference and copied again when the peer receives them."""
    cdef readonly uint64_t sent, dropped, retried
    cdef public bint stop_requested          # set to end send_pcap() after its group
    cdef mmsghdr messages[TX_MESSAGES]
    cdef iovec vectors[TX_MESSAGES]

    def __cinit__(self):
        cdef Py_ssize_t k
        memset(self.messages, 0, sizeof(self.messages))
        for k in range(TX_MESSAGES):
            self.messages[k].msg_hdr.msg_iov = &self.vectors[k]
            self.messages[k].msg_hdr.msg_iovlen = 1

    def __init__(self, int ifindex, str iface, *, bint qdisc_bypass=True):
        self.ifindex = ifindex
        self.iface = iface
        self.fd = open_packet_socket(0)      # protocol 0: this socket never receives
        try:
            if qdisc_bypass:
                set_int_option(self.fd, SOL_PACKET, PACKET_QDISC_BYPASS, 1,
                               "setsockopt(PACKET_QDISC_BYPASS)")
            set_send_buffer(self.fd, 8 << 20)
            bind_packet_socket(self.fd, ifindex, 0, iface)
        except BaseException:
            self.close()
            raise

    cdef int _wait_writable(self, int timeout_ms) except -1:
        cdef pollfd pfd
        cdef int rc, err
        pfd.fd = self.fd
        pfd.events = POLLOUT
        pfd.revents = 0
        with nogil:
            rc = poll(&pfd, 1, timeout_ms)
            err = errno
        if rc < 0 and err != EINTR:
            raise_os_error(err, "poll() on the sending socket")
        PyErr_CheckSignals()
        return 0

    cdef Py_ssize_t _send_group(self, Py_ssize_t m) except -1:
        """Hand ``messages[0:m]`` (their vectors filled in) to the kernel in order.
        A frame the driver's queue refuses (ENOBUFS) is sent again after a
        millisecond, up to TX_RETRIES times, then counted in ``dropped``.  Returns
        m, or the index of a frame the kernel refused (EINVAL, EMSGSIZE), the
        frames before it sent.  What it handed over is added to ``sent``."""
        cdef Py_ssize_t i = 0
        cdef int rc, err, retries = 0
        try:
            while i < m:
                with nogil:
                    rc = sendmmsg(self.fd, &self.messages[i], <unsigned int>(m - i), 0)
                    err = errno
                if rc > 0:
                    i += rc
                    retries = 0
                    continue
                if err == EINTR:
                    PyErr_CheckSignals()
                elif err == ENOBUFS:              # the driver's queue was full: it dropped frame i
                    if retries < TX_RETRIES:
                        retries += 1
                        self.retried += 1
                        self._wait_writable(1)
                    else:
                        self.dropped += 1
                        retries = 0
                        i += 1
                elif err == EAGAIN:
                    self._wait_writable(50)
                elif err == 22 or err == 90:      # EINVAL, EMSGSIZE: the kernel refused frame i
                    return i
                else:
                    raise_os_error(err, f"sendmmsg() on {self.iface}")
            return m
        finally:
            self.sent += i

    def send(self, const int64_t[::1] offset, const uint32_t[::1] caplen,
             const uint8_t[::1] data):
        """Send every frame in order.  A frame the driver's queue refuses (ENOBUFS)
        is sent again after a millisecond, up to 200 times, then counted in
        ``dropped``.  Returns the number of frames handed to the kernel."""
        self._check_open()
        cdef Py_ssize_t n = offset.shape[0], i = 0, j, k, m, done
        cdef const uint8_t *base = &data[0] if data.shape[0] else NULL
        if caplen.shape[0] != n:
            raise ValueError("offset and caplen differ in length")
        for j in range(n):
            if offset[j] < 0 or offset[j] > data.shape[0] or caplen[j] > data.shape[0] - offset[j]:
                raise ValueError(f"packet {j} lies outside the data buffer")
        while i < n:
            m = min(n - i, <Py_ssize_t>TX_MESSAGES)
            for k in range(m):
                self.vectors[k].iov_base = <void *>(base + offset[i + k])
                self.vectors[k].iov_len = caplen[i + k]
            done = self._send_group(m)
            i += done
            if done < m:
                raise ValueError(
                    f"the kernel refused packet {i} ({caplen[i]} bytes) for {self.iface}: "
                    f"shorter than an Ethernet header or longer than the MTU allows; the "
                    f"{i} packets before it were sent, it and the rest were not")
        return n

    def send_pcap(self, int fd, int64_t start, int64_t end, bint swapped, uint32_t max_caplen,
                  bint accept, uint32_t min_len, uint32_t max_len, uint32_t tagged_max_len,
                  double deadline, uint8_t[::1] buffer):
        """Send the records of a classic pcap file as fast as the socket takes
        them: ``fd`` read with pread() from byte ``start`` (the first record) to
        ``end`` (the file's size) into ``buffer``, reused, and each frame handed
        to sendmmsg() from there (no other copy, no per-packet Python).

        A record is sent if ``accept`` and ``min_len <= caplen <= max_len``, or
        if ``accept``, it is an 802.1Q/802.1ad-tagged Ethernet frame and
        ``14 <= caplen <= tagged_max_len``; the others count as failed.  The
        walk stops at the end (status 0), at a partial record (1: the file ends
        in it, or shrank meanwhile), at a record longer than ``max_caplen``
        (2: corrupt, its length in ``value``), once ``stop_requested`` is set (3) or
        at ``deadline`` (4, CLOCK_MONOTONIC seconds, as ``time.monotonic()``).
        Ctrl-C runs Python's signal handlers between groups of 1024 frames.

        Returns (packets, bytes, failed, status, pos, value): the frames handed
        to the kernel (those it dropped included) and their bytes, and the
        file offset where the walk stopped."""
        self._check_open()
        cdef int64_t cap = buffer.shape[0]
        if cap < <int64_t>max(max_len, tagged_max_len) + 16 or start < 0 or end < start:
            raise ValueError("send_pcap: the buffer must hold a 16-byte record header and "
                             "the largest frame to send, and start <= end")
        cdef uint8_t *buf = &buffer[0]
        cdef int64_t wstart = start, wend = start    # the file bytes buf[0:wend - wstart] hold
        cdef int64_t pos = start, keep, want
        cdef Py_ssize_t m, k, done
        cdef uint32_t caplen, value = 0
        cdef uint64_t packets = 0, nbytes = 0, failed = 0
        cdef const uint8_t *record
        cdef uint16_t tpid
        cdef ssize_t got
        cdef int status = -1, err = 0
        cdef bint refill
        cdef uint32_t shortest = min(min_len, 14)    # the shortest frame that may be sent
        while status < 0:
            m = 0
            refill = False
            with nogil:
                while m < TX_MESSAGES:
                    if pos >= end:
                        status = 0
                        break
                    if end - pos < 16:
                        status = 1
                        break
                    if pos + 16 > wend:
                        refill = True
                        break
                    record = buf + (pos - wstart)
                    caplen = load_u32(record + 8, swapped)
                    if caplen > max_caplen:
                        status, value = 2, caplen
                        break
                    if caplen > end - pos - 16:
                        status = 1
                        break
                    if accept and shortest <= caplen <= tagged_max_len:
                        if pos + 16 + caplen > wend:
                            refill = True
                            break
                        if caplen < min_len or caplen > max_len:
                            tpid = (record[16 + 12] << 8) | record[16 + 13]
                            if caplen < 14 or (tpid != 0x8100 and tpid != 0x88A8):
                                failed += 1
                                pos += 16 + caplen
                                continue
                        self.vectors[m].iov_base = <void *>(record + 16)
                        self.vectors[m].iov_len = caplen
                        m += 1
                    else:
                        failed += 1
                    pos += 16 + caplen
            if m:
                done = self._send_group(m)
                packets += done
                for k in range(done):
                    nbytes += self.vectors[k].iov_len
                if done < m:
                    raise ValueError(
                        f"the kernel refused a {self.vectors[done].iov_len}-byte frame for "
                        f"{self.iface}: shorter than its link header or longer than the "
                        f"MTU allows; the {packets} packets before it were sent")
            if refill:
                # the next record is not whole in the buffer: move its start to the
                # front and read on (a record skipped past the window starts afresh)
                keep = wend - pos if pos < wend else 0
                if keep:
                    memmove(buf, buf + (pos - wstart), <size_t>keep)
                wstart, wend = pos, pos + keep
                want = min(cap - keep, end - wend)
                with nogil:
                    while want > 0:
                        got = pread(fd, buf + (wend - wstart), <size_t>want, wend)
                        if got < 0:
                            err = errno
                            if err == EINTR:
                                continue
                            break
                        if got == 0:               # the file shrank since its size was taken
                            end = wend
                            break
                        wend += got
                        want -= got
                if err and err != EINTR:
                    raise_os_error(err, "pread() of the capture file")
            if status < 0:
                PyErr_CheckSignals()
                if self.stop_requested:
                    status = 3
                elif monotonic() >= deadline:
                    status = 4
        return packets, nbytes, failed, status, pos, value


cdef inline uint32_t load_u32(const uint8_t *p, bint swapped) noexcept nogil:
    cdef uint32_t v
    memcpy(&v, p, 4)
    if swapped:
        v = (v >> 24) | ((v >> 8) & 0xFF00) | ((v << 8) & 0xFF0000) | (v << 24)
    return v


# --------------------------------------------------------------------------
# Test wrappers: the block walker on synthetic TPACKET_V3 blocks, no privileges

cdef int check_synthetic_blocks(const uint8_t[::1] blocks, size_t block_size) except -1:
    """The kernel's layout promises, checked for blocks built by hand: every
    header and frame of a user-owned block lies inside that block."""
    if block_size < RC_BLOCK_DESC_SIZE or blocks.shape[0] == 0 or blocks.shape[0] % block_size:
        raise ValueError("blocks must be a non-empty whole number of block_size blocks, "
                         f"block_size at least {RC_BLOCK_DESC_SIZE}")
    cdef size_t b, off, k, base, end_hdr = RC_TPACKET3_SLL_OFFSET + sizeof(sockaddr_ll)
    cdef const tpacket_block_desc *desc
    cdef const tpacket3_hdr *hdr
    for b in range(blocks.shape[0] // block_size):
        base = b * block_size
        desc = <const tpacket_block_desc *>&blocks[base]
        if not desc.hdr.bh1.block_status & TP_STATUS_USER:
            continue
        off = desc.hdr.bh1.offset_to_first_pkt
        for k in range(desc.hdr.bh1.num_pkts):
            if off < RC_BLOCK_DESC_SIZE or off + end_hdr > block_size:
                raise ValueError(f"block {b}: packet {k} header at {off} lies outside the block")
            hdr = <const tpacket3_hdr *>&blocks[base + off]
            if hdr.tp_mac < end_hdr or off + hdr.tp_mac + hdr.tp_snaplen > block_size:
                raise ValueError(f"block {b}: packet {k} data lies outside the block")
            if k + 1 < desc.hdr.bh1.num_pkts:
                if hdr.tp_next_offset == 0:
                    raise ValueError(f"block {b}: packet {k} has no next_offset")
                off += hdr.tp_next_offset
    return 0


def _test_drain_blocks(uint8_t[::1] blocks, size_t block_size, out,
                       Py_ssize_t max_packets=-1, bint reinsert_vlan=True,
                       dict state=None, uint32_t snaplen=262144, bint check=True,
                       uint16_t linktype=1, bint cooked=False):
    """Drain a buffer of concatenated TPACKET_V3 blocks into ``out`` (a
    ``Batch.empty()``) exactly as a live ring would.  Blocks whose status has
    TP_STATUS_USER are read; each one read to the end gets TP_STATUS_KERNEL
    written back into ``blocks`` (pass a writable buffer).  ``state`` carries
    the cursor between calls (block, left, next_offset) to test resumption.
    The blocks' layout is checked first (``check=False`` skips that, for
    benchmarks timing the walk on blocks they built themselves).
    Returns (packets, data_bytes)."""
    cdef Cursor cur
    cdef Columns cols
    cdef int64_t used
    cdef bint full
    cdef Py_ssize_t n
    if check:
        check_synthetic_blocks(blocks, block_size)
    elif block_size == 0 or blocks.shape[0] == 0 or blocks.shape[0] % block_size:
        raise ValueError("blocks must be a non-empty whole number of block_size blocks")
    memset(&cur, 0, sizeof(cur))
    cur.ring = <uint8_t *>&blocks[0]
    cur.block_size = block_size
    cur.block_count = blocks.shape[0] // block_size
    cur.reinsert_vlan = reinsert_vlan
    cur.snaplen = snaplen
    cur.cooked = cooked_header_length(cooked, linktype)
    cur.linktype = LINKTYPE_LINUX_SLL2 if cur.cooked == SLL2_HLEN else linktype
    if state:
        if state["block"] >= cur.block_count or state["next_offset"] >= block_size:
            raise ValueError("state points outside the blocks")
        cur.block = state["block"]
        cur.left = state["left"]
        cur.next_offset = state["next_offset"]
        if cur.left > block_at(&cur, cur.block).hdr.bh1.num_pkts:
            raise ValueError("state has more packets left than its block holds")
    fill_columns(&cols, out._store, max_packets if max_packets >= 0 else (1 << 62))
    with nogil:
        n = drain_ring(&cur, &cols, &used, &full)
    if state is not None:
        state.update(block=cur.block, left=cur.left, next_offset=cur.next_offset, full=full)
    out._set_length(n, used)
    return n, used


def _test_ready_bounds(const uint8_t[::1] blocks, size_t block_size,
                       int64_t max_packets=1 << 62):
    cdef Cursor cur
    cdef int64_t packets, nbytes
    check_synthetic_blocks(blocks, block_size)
    memset(&cur, 0, sizeof(cur))
    cur.ring = <uint8_t *>&blocks[0]
    cur.block_size = block_size
    cur.block_count = blocks.shape[0] // block_size
    ready_bounds(&cur, max_packets, &packets, &nbytes)
    return packets, nbytes


def _test_raise_os_error(int err, str what):
    """Exercise the errno -> OSError path (for errors the tests cannot provoke)."""
    raise_os_error(err, what)


# The layout constants the synthetic-block builders in tests and benchmarks need.
LAYOUT = {
    "block_desc_size": RC_BLOCK_DESC_SIZE,
    "tpacket3_hdr_size": sizeof(tpacket3_hdr),
    "sll_offset": RC_TPACKET3_SLL_OFFSET,
    "sockaddr_ll_size": sizeof(sockaddr_ll),
    "tx_data_offset": RC_TPACKET2_DATA_OFFSET,
}
