/* libpcap's own BPF filter over a capture file's packets, in C: the reference
 * for ringcap's interpreter in benchmarks/bench_print.py.
 *
 *   gcc -O2 -o ref_bpf ref_bpf.c -l:libpcap.so.0.8
 *   ./ref_bpf FILE MAX_PACKETS 'expression' ...
 *
 * Loads up to MAX_PACKETS packets into memory (one buffer, packed like a
 * ringcap batch), then for each expression runs pcap_offline_filter() over all
 * of them five times and prints "expression<TAB>ns per packet<TAB>matches",
 * timed with the process CPU clock.  Declares the few libpcap symbols it uses,
 * so no libpcap-dev headers are needed.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

typedef struct pcap pcap_t;
struct bpf_insn { unsigned short code; unsigned char jt, jf; uint32_t k; };
struct bpf_program { unsigned int bf_len; struct bpf_insn *bf_insns; };
struct pcap_pkthdr { struct timeval ts; uint32_t caplen; uint32_t len; };

pcap_t *pcap_open_offline(const char *, char *);
int pcap_next_ex(pcap_t *, struct pcap_pkthdr **, const unsigned char **);
int pcap_compile(pcap_t *, struct bpf_program *, const char *, int, uint32_t);
int pcap_offline_filter(const struct bpf_program *, const struct pcap_pkthdr *,
                        const unsigned char *);
void pcap_freecode(struct bpf_program *);
char *pcap_geterr(pcap_t *);
void pcap_close(pcap_t *);

static double cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

int main(int argc, char **argv) {
    char err[256];
    if (argc < 4) {
        fprintf(stderr, "usage: %s FILE MAX_PACKETS EXPRESSION...\n", argv[0]);
        return 2;
    }
    long max = atol(argv[2]);
    pcap_t *p = pcap_open_offline(argv[1], err);
    if (!p) {
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    struct pcap_pkthdr *headers = malloc(max * sizeof *headers);
    size_t *offsets = malloc(max * sizeof *offsets);
    size_t cap = 1 << 26, used = 0;
    unsigned char *data = malloc(cap);
    long n = 0;
    struct pcap_pkthdr *h;
    const unsigned char *bytes;
    while (n < max && pcap_next_ex(p, &h, &bytes) == 1) {
        if (used + h->caplen > cap) {
            cap *= 2;
            data = realloc(data, cap);
        }
        memcpy(data + used, bytes, h->caplen);
        headers[n] = *h;
        offsets[n] = used;
        used += h->caplen;
        n++;
    }
    for (int e = 3; e < argc; e++) {
        struct bpf_program prog;
        if (pcap_compile(p, &prog, argv[e], 1, 0xFFFFFFFF) != 0) {
            fprintf(stderr, "%s: %s\n", argv[e], pcap_geterr(p));
            return 1;
        }
        long matches = 0;
        double start = cpu_seconds();
        for (int r = 0; r < 5; r++) {
            matches = 0;
            for (long i = 0; i < n; i++)
                matches += pcap_offline_filter(&prog, &headers[i], data + offsets[i]) != 0;
        }
        double ns = (cpu_seconds() - start) / 5 / n * 1e9;
        printf("%s\t%.1f\t%ld\n", argv[e], ns, matches);
        pcap_freecode(&prog);
    }
    pcap_close(p);
    return 0;
}
