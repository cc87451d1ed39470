/* ref_ring: the plain C TPACKET_V3 reference for ringcap's benchmarks.
 *
 * The benchmark compiles this with `gcc -O2` at run time.  It does what a
 * hand-written C capture loop does: walk the ring's blocks, copy every
 * packet's metadata and bytes into reused columnar arrays (the same columns
 * as a ringcap Batch, or only ts/len/offset/bytes with --cols min), and hand
 * each block back to the kernel once it is drained.  It also holds the C
 * traffic source (PACKET_TX_RING) so every reader sees the same traffic.
 *
 * Modes (results are printed as one JSON object on stdout):
 *   rx    IFACE N       pre-filled ring: print "ready", wait until N packets
 *                       sit in retired blocks (and, with --go-line, until a
 *                       line arrives on stdin), then time only the drain
 *   live  IFACE SECS    poll + drain concurrently with a sender until stdin
 *                       closes (or SECS pass), then drain what is left
 *   synth FILE REPEAT   drain blocks read from FILE (built by the benchmark)
 *   tx    IFACE N SIZE  send N frames of SIZE bytes as fast as possible
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define ETHERTYPE_BENCH 0x88B5 /* IEEE local experimental */

static size_t block_size = 4u << 20;
static unsigned block_count = 64;
static unsigned block_timeout_ms = 10;
static unsigned snaplen = 65535;
static size_t batch_packets = 65536;
static size_t room_per_packet = 2048; /* data bytes per batch slot */
static int full_columns = 1;
static unsigned wait_ms = 20000;
static int go_line = 0; /* rx: start draining when a line arrives on stdin */

struct columns {
    int64_t *ts;
    uint32_t *caplen, *wirelen, *rxhash, *status;
    int64_t *offset;
    int32_t *ifindex;
    uint8_t *pkttype;
    uint16_t *protocol, *vlan_tci, *vlan_tpid;
    uint8_t *data;
    size_t max_packets, data_bytes;
    size_t n, pos;      /* fill level of the current batch */
    uint64_t batches;   /* batches handed out */
};

struct totals {
    uint64_t packets, bytes;
};

static void die(const char *what)
{
    fprintf(stderr, "ref_ring: %s: %s\n", what, strerror(errno));
    exit(2);
}

static int64_t clock_ns(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (int64_t)t.tv_sec * 1000000000LL + t.tv_nsec;
}

/* Zeroed memory; large blocks get transparent huge pages, as numpy gives
 * its large arrays (so neither side of a comparison wins on TLB misses). */
static void *xcalloc(size_t n, size_t size)
{
    size_t bytes = n * size;
    if (bytes < (4u << 20)) {
        void *p = calloc(n, size);
        if (!p)
            die("calloc");
        return p;
    }
    void *p = NULL;
    size_t rounded = (bytes + (2u << 20) - 1) & ~(size_t)((2u << 20) - 1);
    if (posix_memalign(&p, 2u << 20, rounded) != 0)
        die("posix_memalign");
    madvise(p, rounded, MADV_HUGEPAGE);
    memset(p, 0, bytes);
    return p;
}

static void columns_init(struct columns *c, size_t max_packets, size_t data_bytes)
{
    memset(c, 0, sizeof(*c));
    c->max_packets = max_packets;
    c->data_bytes = data_bytes;
    c->ts = xcalloc(max_packets, sizeof(int64_t));
    c->caplen = xcalloc(max_packets, sizeof(uint32_t));
    c->wirelen = xcalloc(max_packets, sizeof(uint32_t));
    c->offset = xcalloc(max_packets, sizeof(int64_t));
    c->ifindex = xcalloc(max_packets, sizeof(int32_t));
    c->pkttype = xcalloc(max_packets, 1);
    c->protocol = xcalloc(max_packets, sizeof(uint16_t));
    c->vlan_tci = xcalloc(max_packets, sizeof(uint16_t));
    c->vlan_tpid = xcalloc(max_packets, sizeof(uint16_t));
    c->rxhash = xcalloc(max_packets, sizeof(uint32_t));
    c->status = xcalloc(max_packets, sizeof(uint32_t));
    c->data = xcalloc(data_bytes, 1);
    /* touch everything once so page faults are not timed: a reused batch is warm */
    memset(c->ts, 1, max_packets * sizeof(int64_t));
    memset(c->caplen, 1, max_packets * sizeof(uint32_t));
    memset(c->wirelen, 1, max_packets * sizeof(uint32_t));
    memset(c->offset, 1, max_packets * sizeof(int64_t));
    memset(c->ifindex, 1, max_packets * sizeof(int32_t));
    memset(c->pkttype, 1, max_packets);
    memset(c->protocol, 1, max_packets * sizeof(uint16_t));
    memset(c->vlan_tci, 1, max_packets * sizeof(uint16_t));
    memset(c->vlan_tpid, 1, max_packets * sizeof(uint16_t));
    memset(c->rxhash, 1, max_packets * sizeof(uint32_t));
    memset(c->status, 1, max_packets * sizeof(uint32_t));
    memset(c->data, 1, data_bytes);
}

/* Copy the packets of one retired block into the columns.  Batches are
 * handed out (counters reset) whenever the next packet would not fit, as a
 * reader with a reused `out=` batch does.  The columns and totals are worked
 * on as locals: stores through the uint8_t data pointer may alias anything,
 * so fields reached through a pointer would be reloaded after every copy. */
__attribute__((noinline)) void drain_block(struct tpacket_block_desc *bd, struct columns *cp,
                                           struct totals *tp)
{
    struct columns c = *cp;
    struct totals t = *tp;
    const int full = full_columns;
    uint32_t num = bd->hdr.bh1.num_pkts;
    const uint8_t *p = (const uint8_t *)bd + bd->hdr.bh1.offset_to_first_pkt;
    for (uint32_t k = 0; k < num; k++) {
        const struct tpacket3_hdr *h = (const struct tpacket3_hdr *)p;
        uint32_t len = h->tp_snaplen;
        uint32_t st = h->tp_status;
        uint32_t extra = (full && (st & TP_STATUS_VLAN_VALID)) ? 4 : 0;
        if (c.n == c.max_packets || c.pos + len + extra > c.data_bytes) {
            c.batches++;
            c.n = 0;
            c.pos = 0;
        }
        size_t i = c.n;
        const uint8_t *frame = p + h->tp_mac;
        c.ts[i] = (int64_t)h->tp_sec * 1000000000LL + h->tp_nsec;
        c.caplen[i] = len + extra;
        c.offset[i] = (int64_t)c.pos;
        if (extra) {
            /* put the stripped 802.1Q tag back between the MACs and the type */
            uint16_t tpid = (st & TP_STATUS_VLAN_TPID_VALID) ? h->hv1.tp_vlan_tpid : ETH_P_8021Q;
            uint16_t be[2] = {htons(tpid), htons((uint16_t)h->hv1.tp_vlan_tci)};
            uint8_t *d = c.data + c.pos;
            memcpy(d, frame, 12);
            memcpy(d + 12, be, 4);
            memcpy(d + 16, frame + 12, len - 12);
        } else {
            memcpy(c.data + c.pos, frame, len);
        }
        c.pos += len + extra;
        if (full) {
            const struct sockaddr_ll *sll =
                (const struct sockaddr_ll *)(p + TPACKET_ALIGN(sizeof(struct tpacket3_hdr)));
            c.wirelen[i] = h->tp_len + extra;
            c.ifindex[i] = sll->sll_ifindex;
            c.pkttype[i] = sll->sll_pkttype;
            c.protocol[i] = ntohs(sll->sll_protocol);
            c.vlan_tci[i] = (uint16_t)h->hv1.tp_vlan_tci;
            c.vlan_tpid[i] = h->hv1.tp_vlan_tpid;
            c.rxhash[i] = h->hv1.tp_rxhash;
            c.status[i] = st;
        }
        c.n = i + 1;
        t.packets++;
        t.bytes += len;
        p += h->tp_next_offset;
    }
    *cp = c;
    *tp = t;
}

static uint64_t minor_faults; /* rx: page faults taken inside the timed drain */

struct ring {
    int fd;
    uint8_t *map;
    size_t map_len;
    unsigned next; /* next block to read */
};

static struct tpacket_block_desc *ring_block(struct ring *r, unsigned i)
{
    return (struct tpacket_block_desc *)(r->map + (size_t)i * block_size);
}

static void ring_open(struct ring *r, const char *iface)
{
    r->fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
    if (r->fd < 0)
        die("socket(AF_PACKET)");
    int v = TPACKET_V3;
    if (setsockopt(r->fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0)
        die("setsockopt(PACKET_VERSION)");
    struct tpacket_req3 req;
    memset(&req, 0, sizeof(req));
    req.tp_block_size = (unsigned)block_size;
    req.tp_block_nr = block_count;
    req.tp_frame_size = TPACKET_ALIGN(TPACKET3_HDRLEN + ETH_HLEN + 4 + 16);
    if (req.tp_frame_size < 2048)
        req.tp_frame_size = 2048;
    req.tp_frame_nr = (unsigned)(block_size / req.tp_frame_size) * block_count;
    req.tp_retire_blk_tov = block_timeout_ms;
    if (setsockopt(r->fd, SOL_PACKET, PACKET_RX_RING, &req, sizeof(req)) < 0)
        die("setsockopt(PACKET_RX_RING)");
    r->map_len = block_size * block_count;
    r->map = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd, 0);
    if (r->map == MAP_FAILED)
        die("mmap");
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_ALL);
    sll.sll_ifindex = (int)if_nametoindex(iface);
    if (!sll.sll_ifindex)
        die(iface);
    if (bind(r->fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
        die("bind");
    r->next = 0;
}

static void ring_stats(struct ring *r, uint64_t *packets, uint64_t *drops, uint64_t *freezes)
{
    struct tpacket_stats_v3 st;
    socklen_t len = sizeof(st);
    if (getsockopt(r->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len) < 0)
        die("getsockopt(PACKET_STATISTICS)");
    *packets += st.tp_packets;
    *drops += st.tp_drops;
    *freezes += st.tp_freeze_q_cnt;
}

/* Drain every retired block from r->next on; returns blocks drained. */
static unsigned ring_drain(struct ring *r, struct columns *c, struct totals *t)
{
    unsigned drained = 0;
    for (;;) {
        struct tpacket_block_desc *bd = ring_block(r, r->next);
        if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
            return drained;
        drain_block(bd, c, t);
        __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        r->next = (r->next + 1) % block_count;
        drained++;
    }
}

static void print_result(const char *mode, struct totals *t, int64_t cpu_ns, int64_t wall_ns,
                         uint64_t kpackets, uint64_t kdrops, uint64_t kfreezes, uint64_t batches)
{
    printf("{\"mode\": \"%s\", \"packets\": %llu, \"bytes\": %llu, \"cpu_ns\": %lld, "
           "\"wall_ns\": %lld, \"kernel_packets\": %llu, \"drops\": %llu, "
           "\"freeze_count\": %llu, \"batches\": %llu, \"columns\": \"%s\", "
           "\"minor_faults\": %llu}\n",
           mode, (unsigned long long)t->packets, (unsigned long long)t->bytes, (long long)cpu_ns,
           (long long)wall_ns, (unsigned long long)kpackets, (unsigned long long)kdrops,
           (unsigned long long)kfreezes, (unsigned long long)batches,
           full_columns ? "full" : "min", (unsigned long long)minor_faults);
    fflush(stdout);
}

static int mode_rx(const char *iface, uint64_t want)
{
    struct ring r;
    struct columns c;
    struct totals t = {0, 0};
    uint64_t kp = 0, kd = 0, kf = 0;
    columns_init(&c, batch_packets, batch_packets * room_per_packet);
    ring_open(&r, iface);
    printf("ready\n");
    fflush(stdout);
    /* count packets in retired blocks without handing any back */
    uint64_t ready = 0;
    unsigned seen = 0;
    int64_t deadline = clock_ns(CLOCK_MONOTONIC) + (int64_t)wait_ms * 1000000LL;
    while (ready < want && seen < block_count) {
        struct tpacket_block_desc *bd = ring_block(&r, seen);
        if (__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER) {
            ready += bd->hdr.bh1.num_pkts;
            seen++;
            continue;
        }
        if (clock_ns(CLOCK_MONOTONIC) > deadline)
            break;
        usleep(1000);
    }
    /* the benchmark says when: after the same settling wait an in-process
     * reader gets, so both start draining a ring that has sat equally long */
    char go[16];
    if (go_line && !fgets(go, sizeof(go), stdin))
        die("waiting for the go line on stdin");
    struct rusage ru0, ru1;
    getrusage(RUSAGE_THREAD, &ru0);
    int64_t w0 = clock_ns(CLOCK_MONOTONIC);
    int64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    ring_drain(&r, &c, &t);
    int64_t t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    int64_t w1 = clock_ns(CLOCK_MONOTONIC);
    getrusage(RUSAGE_THREAD, &ru1);
    ring_stats(&r, &kp, &kd, &kf);
    minor_faults = (uint64_t)(ru1.ru_minflt - ru0.ru_minflt);
    print_result("rx", &t, t1 - t0, w1 - w0, kp, kd, kf, c.batches + (c.n > 0));
    munmap(r.map, r.map_len);
    close(r.fd);
    return 0;
}

static int mode_live(const char *iface, double seconds)
{
    struct ring r;
    struct columns c;
    struct totals t = {0, 0};
    uint64_t kp = 0, kd = 0, kf = 0;
    columns_init(&c, batch_packets, batch_packets * room_per_packet);
    ring_open(&r, iface);
    printf("ready\n");
    fflush(stdout);
    /* run until stdin closes (the benchmark's "sender done") or `seconds` pass,
     * then drain what the block timeout still retires */
    int64_t w0 = clock_ns(CLOCK_MONOTONIC);
    int64_t end = w0 + (int64_t)(seconds * 1e9);
    int64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    struct pollfd pfd[2] = {{.fd = r.fd, .events = POLLIN | POLLERR}, {.fd = 0, .events = POLLIN}};
    int64_t idle_since = 0;
    for (;;) {
        int64_t now = clock_ns(CLOCK_MONOTONIC);
        if (now > end)
            break;
        if (ring_drain(&r, &c, &t)) {
            idle_since = 0;
            continue;
        }
        if (pfd[1].fd < 0) {
            if (!idle_since)
                idle_since = now;
            else if (now - idle_since > (int64_t)(3 * block_timeout_ms + 50) * 1000000LL)
                break;
        }
        if (poll(pfd, 2, 5) < 0 && errno != EINTR)
            die("poll");
        if (pfd[1].revents) {
            char junk[64];
            if (read(0, junk, sizeof(junk)) <= 0)
                pfd[1].fd = -1;
        }
    }
    int64_t t1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    int64_t w1 = clock_ns(CLOCK_MONOTONIC);
    ring_stats(&r, &kp, &kd, &kf);
    print_result("live", &t, t1 - t0, w1 - w0, kp, kd, kf, c.batches + (c.n > 0));
    munmap(r.map, r.map_len);
    close(r.fd);
    return 0;
}

static int mode_synth(const char *path, unsigned repeat)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die(path);
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = xcalloc((size_t)size, 1);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size)
        die("read blocks");
    fclose(f);
    unsigned nblocks = (unsigned)((size_t)size / block_size);
    uint64_t per_pass = 0;
    for (unsigned b = 0; b < nblocks; b++)
        per_pass += ((struct tpacket_block_desc *)(buf + (size_t)b * block_size))->hdr.bh1.num_pkts;
    struct columns c;
    size_t maxp = per_pass < batch_packets ? per_pass : batch_packets;
    columns_init(&c, maxp, maxp * room_per_packet);
    struct totals t = {0, 0};
    int64_t cpu = 0, best = INT64_MAX;
    for (unsigned rep = 0; rep < repeat; rep++) {
        int64_t t0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        for (unsigned b = 0; b < nblocks; b++) {
            struct tpacket_block_desc *bd = (struct tpacket_block_desc *)(buf + (size_t)b * block_size);
            if (!(__atomic_load_n(&bd->hdr.bh1.block_status, __ATOMIC_ACQUIRE) & TP_STATUS_USER))
                break;
            drain_block(bd, &c, &t);
            __atomic_store_n(&bd->hdr.bh1.block_status, TP_STATUS_KERNEL, __ATOMIC_RELEASE);
        }
        int64_t pass = clock_ns(CLOCK_THREAD_CPUTIME_ID) - t0;
        cpu += pass;
        if (pass < best)
            best = pass;
        for (unsigned b = 0; b < nblocks; b++)
            ((struct tpacket_block_desc *)(buf + (size_t)b * block_size))->hdr.bh1.block_status = TP_STATUS_USER;
    }
    /* "wall_ns" carries the best single pass (per_pass packets) */
    print_result("synth", &t, cpu, best, per_pass, 0, 0, c.batches + (c.n > 0));
    free(buf);
    return 0;
}

/* Send `count` frames of `size` bytes through PACKET_TX_RING.  Every frame
 * carries a 64-bit sequence number after the Ethernet header. */
static int mode_tx(const char *iface, uint64_t count, unsigned size)
{
    if (size < 60 || size > 9000) {
        fprintf(stderr, "ref_ring: frame size %u outside 60..9000\n", size);
        return 2;
    }
    int fd = socket(AF_PACKET, SOCK_RAW, 0);
    if (fd < 0)
        die("socket(AF_PACKET)");
    int v = TPACKET_V2;
    if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof(v)) < 0)
        die("setsockopt(PACKET_VERSION)");
    int one = 1;
    if (setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof(one)) < 0)
        die("setsockopt(PACKET_QDISC_BYPASS)");
    unsigned frame_size = 2048;
    while (frame_size < TPACKET2_HDRLEN + size)
        frame_size <<= 1;
    unsigned frame_nr = 8192 * 2048 / frame_size;
    struct tpacket_req req = {.tp_block_size = 1u << 22, .tp_frame_size = frame_size};
    req.tp_block_nr = frame_nr * frame_size / req.tp_block_size;
    req.tp_frame_nr = frame_nr;
    if (setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof(req)) < 0)
        die("setsockopt(PACKET_TX_RING)");
    size_t map_len = (size_t)req.tp_block_size * req.tp_block_nr;
    uint8_t *map = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
    if (map == MAP_FAILED)
        die("mmap");
    struct sockaddr_ll sll;
    memset(&sll, 0, sizeof(sll));
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETHERTYPE_BENCH);
    sll.sll_ifindex = (int)if_nametoindex(iface);
    if (!sll.sll_ifindex)
        die(iface);
    if (bind(fd, (struct sockaddr *)&sll, sizeof(sll)) < 0)
        die("bind");
    uint8_t tmpl[9000];
    memset(tmpl, 0, sizeof(tmpl));
    memset(tmpl, 0xff, 6); /* broadcast unless REF_RING_DST names a MAC */
    const char *dst = getenv("REF_RING_DST");
    if (dst) {
        unsigned m[6];
        if (sscanf(dst, "%x:%x:%x:%x:%x:%x", &m[0], &m[1], &m[2], &m[3], &m[4], &m[5]) == 6)
            for (int i = 0; i < 6; i++)
                tmpl[i] = (uint8_t)m[i];
    }
    const uint8_t src[6] = {0x02, 0, 0, 0, 0, 0x0a};
    memcpy(tmpl + 6, src, 6);
    tmpl[12] = ETHERTYPE_BENCH >> 8;
    tmpl[13] = ETHERTYPE_BENCH & 0xff;
    for (unsigned i = 22; i < size; i++)
        tmpl[i] = (uint8_t)i;
    int64_t w0 = clock_ns(CLOCK_MONOTONIC);
    int64_t c0 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    uint64_t sent = 0;
    unsigned slot = 0, pending = 0;
    while (sent < count) {
        struct tpacket2_hdr *h = (struct tpacket2_hdr *)(map + (size_t)slot * frame_size);
        unsigned status = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
        if (status == TP_STATUS_WRONG_FORMAT) {
            fprintf(stderr, "ref_ring: kernel rejected frame %u (TP_STATUS_WRONG_FORMAT)\n", slot);
            return 2;
        }
        if (status != TP_STATUS_AVAILABLE) {
            if (pending) {
                if (sendto(fd, NULL, 0, 0, NULL, 0) < 0 && errno != ENOBUFS && errno != EAGAIN)
                    die("sendto");
                pending = 0;
            } else {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                poll(&pfd, 1, 10);
            }
            continue;
        }
        uint8_t *d = (uint8_t *)h + TPACKET2_HDRLEN - sizeof(struct sockaddr_ll);
        memcpy(d, tmpl, size);
        memcpy(d + 14, &sent, 8);
        h->tp_len = size;
        __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
        slot = (slot + 1) % frame_nr;
        sent++;
        if (++pending == 256) {
            if (sendto(fd, NULL, 0, MSG_DONTWAIT, NULL, 0) < 0 && errno != ENOBUFS &&
                errno != EAGAIN)
                die("sendto");
            pending = 0;
        }
    }
    /* flush and wait until the kernel has sent every frame */
    for (;;) {
        if (sendto(fd, NULL, 0, 0, NULL, 0) < 0 && errno != ENOBUFS && errno != EAGAIN)
            die("sendto");
        unsigned busy = 0;
        for (unsigned i = 0; i < frame_nr; i++) {
            struct tpacket2_hdr *h = (struct tpacket2_hdr *)(map + (size_t)i * frame_size);
            unsigned s = __atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE);
            if (s == TP_STATUS_SEND_REQUEST || s == TP_STATUS_SENDING)
                busy++;
        }
        if (!busy)
            break;
        usleep(100);
    }
    int64_t c1 = clock_ns(CLOCK_PROCESS_CPUTIME_ID);
    int64_t w1 = clock_ns(CLOCK_MONOTONIC);
    printf("{\"mode\": \"tx\", \"packets\": %llu, \"bytes\": %llu, \"cpu_ns\": %lld, \"wall_ns\": %lld}\n",
           (unsigned long long)sent, (unsigned long long)sent * size, (long long)(c1 - c0),
           (long long)(w1 - w0));
    munmap(map, map_len);
    close(fd);
    return 0;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: ref_ring [options] rx IFACE N | live IFACE SECONDS | synth FILE REPEAT |"
            " tx IFACE N SIZE\n"
            "options: --block-size B --block-count N --timeout-ms T --snaplen S"
            " --batch P --room BYTES_PER_PACKET --cols full|min --wait-ms W --go-line 0|1\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int i = 1;
    for (; i < argc && strncmp(argv[i], "--", 2) == 0; i += 2) {
        if (i + 1 >= argc)
            usage();
        const char *o = argv[i], *v = argv[i + 1];
        if (!strcmp(o, "--block-size"))
            block_size = strtoull(v, NULL, 0);
        else if (!strcmp(o, "--block-count"))
            block_count = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(o, "--timeout-ms"))
            block_timeout_ms = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(o, "--snaplen"))
            snaplen = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(o, "--batch"))
            batch_packets = strtoull(v, NULL, 0);
        else if (!strcmp(o, "--room"))
            room_per_packet = strtoull(v, NULL, 0);
        else if (!strcmp(o, "--cols"))
            full_columns = strcmp(v, "min") != 0;
        else if (!strcmp(o, "--wait-ms"))
            wait_ms = (unsigned)strtoul(v, NULL, 0);
        else if (!strcmp(o, "--go-line"))
            go_line = atoi(v) != 0;
        else
            usage();
    }
    if (i >= argc || !block_size || !block_count || !batch_packets || room_per_packet < 64)
        usage();
    const char *mode = argv[i];
    int left = argc - i - 1;
    char **a = argv + i + 1;
    if (!strcmp(mode, "rx") && left == 2)
        return mode_rx(a[0], strtoull(a[1], NULL, 0));
    if (!strcmp(mode, "live") && left == 2)
        return mode_live(a[0], strtod(a[1], NULL));
    if (!strcmp(mode, "synth") && left == 2)
        return mode_synth(a[0], (unsigned)strtoul(a[1], NULL, 0));
    if (!strcmp(mode, "tx") && left == 3)
        return mode_tx(a[0], strtoull(a[1], NULL, 0), (unsigned)strtoul(a[2], NULL, 0));
    usage();
    return 2;
}
