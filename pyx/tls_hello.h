/* tls_hello.h: TLS ClientHello/ServerHello fields, the JA4 fingerprint and the
 * QUIC client Initial, in pure C (static inline, no allocation, nothing from
 * libc but memcpy/memset/memcmp, no OpenSSL; the QUIC Initial needs SHA-256,
 * HMAC, HKDF, AES-128 and GCM, which are here too).  On x86-64 SHA-256 uses
 * the SHA extensions when the CPU has them (libgcc's CPU feature word says
 * so; define RC_NO_SHANI to leave them out).
 *
 * Contract (every function):
 *   - reads only p[0 .. len-1]; every length field is checked with arithmetic
 *     that cannot overflow before any pointer is formed from it;
 *   - writes only *out (and scratch[0 .. scratch_len-1] for QUIC);
 *   - loops are bounded by the input length (each step consumes bytes);
 *   - uses at most ~7 KiB of stack; thread-safe (no static mutable state).
 *
 * rc_tls_hello, filled by the two parsers below.  Offsets are relative to
 * the buffer passed in; a length of 0 means absent.
 *   legacy_version  the hello's legacy_version field
 *   version         ClientHello: highest value in supported_versions (GREASE
 *                   skipped), else legacy_version.  ServerHello: the
 *                   supported_versions selection if present, else legacy.
 *   sni_off/len     the first host_name in server_name (ClientHello)
 *   alpn_off/len    the first protocol in ALPN (ClientHello; ServerHello in
 *                   TLS 1.2, where it is not encrypted); with repeated
 *                   extensions, the first non-empty name, as for SNI
 *   ja4             NUL-terminated JA4 (36 chars, FoxIO's JA4 spec) of a
 *                   complete, well-formed ClientHello; "" otherwise (not a
 *                   ClientHello, truncated, malformed, quic_or_tcp == 0, or
 *                   more than RC_TLS_LIST_MAX ciphers/extensions/signature
 *                   algorithms, which no real client sends)
 *   cipher          ServerHello: the chosen cipher suite
 *   is_client, is_server   which hello it is
 *   truncated       the message goes on past the end of the buffer (snaplen,
 *                   or a hello split over TCP segments/records/QUIC packets);
 *                   the fields read completely before the cut are set, a field
 *                   cut in the middle is left absent
 *   malformed       a length or value is inconsistent with its container;
 *                   fields read before the inconsistency are kept, but users
 *                   should treat the message as garbage
 *
 * int rc_tls_parse_record(p, len, quic_or_tcp, out)
 *   p: a TLS record (a TCP payload): type 22, version 3.x, length, then a
 *   handshake message.  quic_or_tcp: JA4's first character: 't' (TLS over
 *   TCP), 'q' (QUIC), 'd' (DTLS); 0 skips the JA4 (faster).  Returns 1 when
 *   the bytes are (the start of) a ClientHello or ServerHello, whatever the
 *   flags; 0 otherwise (and *out is all zero).
 * int rc_tls_parse_record_memo(p, len, quic_or_tcp, out, memo)
 *   The same, the JA4 (whole, or its hash parts) looked up in and added to
 *   *memo (rc_ja4_memo, zeroed by the caller; NULL: none) instead of made
 *   anew for every hello, and a hello's extensions read by a layout kept
 *   there (rc_tls_layout) when their headers are a kept one's: same result,
 *   less work when hellos repeat.
 * int rc_tls_parse_handshake(p, len, quic_or_tcp, out)
 * int rc_tls_parse_handshake_memo(p, len, quic_or_tcp, out, memo)
 *   The same for a bare handshake message (type, 24-bit length, body), as
 *   QUIC's CRYPTO frames carry it.
 * int rc_quic_initial(p, len, scratch, scratch_len, &version, &dcid_len,
 *                     &crypto, &crypto_len)
 *   p: a UDP payload.  Returns 1 when it starts with a client Initial packet
 *   of QUIC v1 (RFC 9001), v2 (RFC 9369) or drafts 29-34 whose protection
 *   was removed with the keys derived from its Destination Connection ID and
 *   the version's initial salt and whose AEAD tag verified; the CRYPTO frames
 *   of that packet are then copied to scratch at their offsets, and
 *   *crypto = scratch, *crypto_len = the bytes present from offset 0 without
 *   a gap (a hello continued in a later packet ends there: parse it with
 *   rc_tls_parse_handshake, which reports truncated).  Returns 0 otherwise.
 *   *version and *dcid_len are set as soon as a long-header Initial of a
 *   known version is recognised (also when 0 is returned later, e.g. the
 *   packet is cut short or is a server Initial); all outputs are zero/NULL
 *   when nothing was recognised.  No state is kept across packets.
 */
#ifndef RINGCAP_TLS_HELLO_H
#define RINGCAP_TLS_HELLO_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* ------------------------------------------------------------------ bytes */

static inline uint16_t rc_be16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rc_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void rc_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}
static inline void rc_put_be64(uint8_t *p, uint64_t v)
{
    rc_put_be32(p, (uint32_t)(v >> 32)); rc_put_be32(p + 4, (uint32_t)v);
}
static inline uint32_t rc_ror32(uint32_t x, unsigned n) { return (x >> n) | (x << (32 - n)); }

/* ---------------------------------------------------------------- SHA-256 */

#define RC_SHA256_LEN 32

typedef struct {
    uint32_t h[8];
    uint64_t total;      /* bytes hashed */
    uint8_t buf[64];
    size_t fill;
} rc_sha256_ctx;

static const uint32_t rc_sha256_k[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline void rc_sha256_init(rc_sha256_ctx *c)
{
    static const uint32_t iv[8] = {
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
        0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19,
    };
    memcpy(c->h, iv, sizeof iv);
    c->total = 0;
    c->fill = 0;
}

/* Portable compression: the 64 rounds unrolled, the working variables
 * renamed instead of moved, the schedule kept in a ring of 16 words. */
#define RC_SHA_S0(x) (rc_ror32(x, 2) ^ rc_ror32(x, 13) ^ rc_ror32(x, 22))
#define RC_SHA_S1(x) (rc_ror32(x, 6) ^ rc_ror32(x, 11) ^ rc_ror32(x, 25))
#define RC_SHA_G0(x) (rc_ror32(x, 7) ^ rc_ror32(x, 18) ^ ((x) >> 3))
#define RC_SHA_G1(x) (rc_ror32(x, 17) ^ rc_ror32(x, 19) ^ ((x) >> 10))
#define RC_SHA_W(i) (w[(i) & 15] += RC_SHA_G1(w[((i) - 2) & 15]) + w[((i) - 7) & 15] \
                                     + RC_SHA_G0(w[((i) - 15) & 15]))
#define RC_SHA_R(a, b, c, d, e, f, g, h, i, wi) do {                                   \
        uint32_t t1_ = h + RC_SHA_S1(e) + (g ^ (e & (f ^ g))) + rc_sha256_k[i] + (wi); \
        d += t1_;                                                                      \
        h = t1_ + RC_SHA_S0(a) + ((a & b) | (c & (a | b)));                            \
    } while (0)
#define RC_SHA_8(i, W) do {                                                            \
        RC_SHA_R(a, b, c, d, e, f, g, k, (i) + 0, W((i) + 0));                         \
        RC_SHA_R(k, a, b, c, d, e, f, g, (i) + 1, W((i) + 1));                         \
        RC_SHA_R(g, k, a, b, c, d, e, f, (i) + 2, W((i) + 2));                         \
        RC_SHA_R(f, g, k, a, b, c, d, e, (i) + 3, W((i) + 3));                         \
        RC_SHA_R(e, f, g, k, a, b, c, d, (i) + 4, W((i) + 4));                         \
        RC_SHA_R(d, e, f, g, k, a, b, c, (i) + 5, W((i) + 5));                         \
        RC_SHA_R(c, d, e, f, g, k, a, b, (i) + 6, W((i) + 6));                         \
        RC_SHA_R(b, c, d, e, f, g, k, a, (i) + 7, W((i) + 7));                         \
    } while (0)
#define RC_SHA_WFIRST(i) (w[i])

static inline void rc_sha256_blocks_c(uint32_t h[8], const uint8_t *p, size_t blocks)
{
    uint32_t w[16], a, b, c, d, e, f, g, k;
    int i;
    for (; blocks; blocks--, p += 64) {
        for (i = 0; i < 16; i++)
            w[i] = rc_be32(p + 4 * i);
        a = h[0]; b = h[1]; c = h[2]; d = h[3]; e = h[4]; f = h[5]; g = h[6]; k = h[7];
        RC_SHA_8(0, RC_SHA_WFIRST);
        RC_SHA_8(8, RC_SHA_WFIRST);
        RC_SHA_8(16, RC_SHA_W);
        RC_SHA_8(24, RC_SHA_W);
        RC_SHA_8(32, RC_SHA_W);
        RC_SHA_8(40, RC_SHA_W);
        RC_SHA_8(48, RC_SHA_W);
        RC_SHA_8(56, RC_SHA_W);
        h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
    }
}

/* With the x86 SHA extensions (SHA-NI: Intel since Goldmont/Ice Lake, AMD
 * since Zen) a block takes a tenth of the instructions; chosen at run time
 * from libgcc's CPU feature word, so the same build runs everywhere. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(RC_NO_SHANI)
#define RC_SHANI 1
#include <immintrin.h>

__attribute__((target("sha,sse4.1")))
static void rc_sha256_blocks_ni(uint32_t h[8], const uint8_t *p, size_t blocks)
{
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i s0, s1, t, abef, cdgh, m, w[16];
    int i;
    t = _mm_loadu_si128((const __m128i *)(const void *)h);
    s1 = _mm_loadu_si128((const __m128i *)(const void *)(h + 4));
    t = _mm_shuffle_epi32(t, 0xB1);               /* CDAB */
    s1 = _mm_shuffle_epi32(s1, 0x1B);             /* EFGH */
    s0 = _mm_alignr_epi8(t, s1, 8);               /* ABEF */
    s1 = _mm_blend_epi16(s1, t, 0xF0);            /* CDGH */
    for (; blocks; blocks--, p += 64) {
        abef = s0;
        cdgh = s1;
        for (i = 0; i < 4; i++)
            w[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(p + 16 * i)), bswap);
        for (i = 4; i < 16; i++)
            w[i] = _mm_sha256msg2_epu32(
                _mm_add_epi32(_mm_sha256msg1_epu32(w[i - 4], w[i - 3]), _mm_alignr_epi8(w[i - 1], w[i - 2], 4)),
                w[i - 1]);
        for (i = 0; i < 16; i++) {
            m = _mm_add_epi32(w[i], _mm_loadu_si128((const __m128i *)(const void *)(rc_sha256_k + 4 * i)));
            s1 = _mm_sha256rnds2_epu32(s1, s0, m);
            s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(m, 0x0E));
        }
        s0 = _mm_add_epi32(s0, abef);
        s1 = _mm_add_epi32(s1, cdgh);
    }
    t = _mm_shuffle_epi32(s0, 0x1B);              /* FEBA */
    s1 = _mm_shuffle_epi32(s1, 0xB1);             /* DCHG */
    s0 = _mm_blend_epi16(t, s1, 0xF0);            /* DCBA */
    s1 = _mm_alignr_epi8(s1, t, 8);               /* HGFE */
    _mm_storeu_si128((__m128i *)(void *)h, s0);
    _mm_storeu_si128((__m128i *)(void *)(h + 4), s1);
}
#endif

static inline void rc_sha256_blocks(uint32_t h[8], const uint8_t *p, size_t blocks)
{
#ifdef RC_SHANI
    if (__builtin_cpu_supports("sha")) {
        rc_sha256_blocks_ni(h, p, blocks);
        return;
    }
#endif
    rc_sha256_blocks_c(h, p, blocks);
}

/* Tests: SHA-NI forced; 0 (h untouched) when the CPU or the build lacks it. */
static inline int rc_sha256_blocks_ni_run(uint32_t h[8], const uint8_t *p, size_t blocks)
{
#ifdef RC_SHANI
    if (__builtin_cpu_supports("sha")) {
        rc_sha256_blocks_ni(h, p, blocks);
        return 1;
    }
#endif
    (void)h; (void)p; (void)blocks;
    return 0;
}

static inline void rc_sha256_block(uint32_t h[8], const uint8_t *p)
{
    rc_sha256_blocks(h, p, 1);
}

static inline void rc_sha256_update(rc_sha256_ctx *c, const uint8_t *p, size_t n)
{
    if (n == 0)
        return;                      /* p may be NULL then (memcpy must not see it) */
    c->total += n;
    if (c->fill) {
        size_t take = 64 - c->fill;
        if (take > n)
            take = n;
        memcpy(c->buf + c->fill, p, take);
        c->fill += take; p += take; n -= take;
        if (c->fill < 64)
            return;
        rc_sha256_block(c->h, c->buf);
        c->fill = 0;
    }
    if (n >= 64) {
        rc_sha256_blocks(c->h, p, n / 64);
        p += n & ~(size_t)63;
        n &= 63;
    }
    if (n) {
        memcpy(c->buf, p, n);
        c->fill = n;
    }
}

static inline void rc_sha256_final(rc_sha256_ctx *c, uint8_t out[RC_SHA256_LEN])
{
    uint64_t bits = c->total * 8;
    int i;
    c->buf[c->fill++] = 0x80;
    if (c->fill > 56) {
        memset(c->buf + c->fill, 0, 64 - c->fill);
        rc_sha256_block(c->h, c->buf);
        c->fill = 0;
    }
    memset(c->buf + c->fill, 0, 56 - c->fill);
    rc_put_be64(c->buf + 56, bits);
    rc_sha256_block(c->h, c->buf);
    for (i = 0; i < 8; i++)
        rc_put_be32(out + 4 * i, c->h[i]);
}

static inline void rc_sha256(const uint8_t *p, size_t n, uint8_t out[RC_SHA256_LEN])
{
    rc_sha256_ctx c;
    rc_sha256_init(&c);
    rc_sha256_update(&c, p, n);
    rc_sha256_final(&c, out);
}

/* ------------------------------------------------------ HMAC-SHA256, HKDF */

typedef struct {
    rc_sha256_ctx inner, outer;
} rc_hmac_ctx;

static inline void rc_hmac_init(rc_hmac_ctx *m, const uint8_t *key, size_t key_len)
{
    uint8_t k[64], pad[64];
    int i;
    memset(k, 0, sizeof k);
    if (key_len > 64)
        rc_sha256(key, key_len, k);
    else if (key_len)
        memcpy(k, key, key_len);
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x36;
    rc_sha256_init(&m->inner);
    rc_sha256_update(&m->inner, pad, 64);
    for (i = 0; i < 64; i++)
        pad[i] = k[i] ^ 0x5c;
    rc_sha256_init(&m->outer);
    rc_sha256_update(&m->outer, pad, 64);
}

static inline void rc_hmac_update(rc_hmac_ctx *m, const uint8_t *p, size_t n)
{
    rc_sha256_update(&m->inner, p, n);
}

static inline void rc_hmac_final(rc_hmac_ctx *m, uint8_t out[RC_SHA256_LEN])
{
    uint8_t ih[RC_SHA256_LEN];
    rc_sha256_final(&m->inner, ih);
    rc_sha256_update(&m->outer, ih, sizeof ih);
    rc_sha256_final(&m->outer, out);
}

static inline void rc_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *p, size_t n,
                                  uint8_t out[RC_SHA256_LEN])
{
    rc_hmac_ctx m;
    rc_hmac_init(&m, key, key_len);
    rc_hmac_update(&m, p, n);
    rc_hmac_final(&m, out);
}

/* RFC 5869 HKDF-Extract: PRK = HMAC(salt, IKM) */
static inline void rc_hkdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                                   size_t ikm_len, uint8_t prk[RC_SHA256_LEN])
{
    rc_hmac_sha256(salt, salt_len, ikm, ikm_len, prk);
}

/* RFC 5869 HKDF-Expand; returns 0 if out_len > 255 * 32. */
static inline int rc_hkdf_expand(const uint8_t *prk, size_t prk_len, const uint8_t *info,
                                 size_t info_len, uint8_t *out, size_t out_len)
{
    uint8_t t[RC_SHA256_LEN];
    size_t done = 0, t_len = 0;
    uint8_t counter = 1;
    if (out_len > 255 * RC_SHA256_LEN)
        return 0;
    while (done < out_len) {
        rc_hmac_ctx m;
        size_t take;
        rc_hmac_init(&m, prk, prk_len);
        rc_hmac_update(&m, t, t_len);
        rc_hmac_update(&m, info, info_len);
        rc_hmac_update(&m, &counter, 1);
        rc_hmac_final(&m, t);
        t_len = sizeof t;
        take = out_len - done < sizeof t ? out_len - done : sizeof t;
        memcpy(out + done, t, take);
        done += take;
        counter++;
    }
    return 1;
}

/* The HkdfLabel of RFC 8446 7.1 into info (at least 514 bytes); its length,
 * or 0 if the label or context is too long for it. */
static inline size_t rc_hkdf_label(const char *label, size_t label_len, const uint8_t *context,
                                   size_t context_len, size_t out_len, uint8_t *info)
{
    size_t n = 0;
    if (label_len > 255 - 6 || context_len > 255 || out_len > 0xffff)
        return 0;
    info[n++] = (uint8_t)(out_len >> 8);
    info[n++] = (uint8_t)out_len;
    info[n++] = (uint8_t)(6 + label_len);
    memcpy(info + n, "tls13 ", 6);
    n += 6;
    if (label_len)
        memcpy(info + n, label, label_len);
    n += label_len;
    info[n++] = (uint8_t)context_len;
    if (context_len)
        memcpy(info + n, context, context_len);
    return n + context_len;
}

/* RFC 8446 HKDF-Expand-Label(secret, "tls13 " + label, context, out_len);
 * returns 0 if the label or context is too long for the HkdfLabel. */
static inline int rc_hkdf_expand_label(const uint8_t *secret, size_t secret_len, const char *label,
                                       size_t label_len, const uint8_t *context, size_t context_len,
                                       uint8_t *out, size_t out_len)
{
    uint8_t info[2 + 1 + 255 + 1 + 255];
    size_t n = rc_hkdf_label(label, label_len, context, context_len, out_len, info);
    if (n == 0)
        return 0;
    return rc_hkdf_expand(secret, secret_len, info, n, out, out_len);
}

/* Expand-Label with an empty context to at most 32 bytes, the HMAC key
 * already prepared (QUIC derives three keys from one secret). */
static inline void rc_hkdf_expand_label32(const rc_hmac_ctx *keyed, const char *label, size_t label_len,
                                          uint8_t *out, size_t out_len)
{
    uint8_t info[2 + 1 + 255 + 1 + 255], t[RC_SHA256_LEN], one = 1;
    size_t n = rc_hkdf_label(label, label_len, NULL, 0, out_len, info);
    rc_hmac_ctx m = *keyed;
    rc_hmac_update(&m, info, n);
    rc_hmac_update(&m, &one, 1);
    rc_hmac_final(&m, t);
    memcpy(out, t, out_len);
}

/* ------------------------------------------------- AES-128 (encrypt only) */

static const uint8_t rc_aes_sbox[256] = {
    0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5, 0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76,
    0xca, 0x82, 0xc9, 0x7d, 0xfa, 0x59, 0x47, 0xf0, 0xad, 0xd4, 0xa2, 0xaf, 0x9c, 0xa4, 0x72, 0xc0,
    0xb7, 0xfd, 0x93, 0x26, 0x36, 0x3f, 0xf7, 0xcc, 0x34, 0xa5, 0xe5, 0xf1, 0x71, 0xd8, 0x31, 0x15,
    0x04, 0xc7, 0x23, 0xc3, 0x18, 0x96, 0x05, 0x9a, 0x07, 0x12, 0x80, 0xe2, 0xeb, 0x27, 0xb2, 0x75,
    0x09, 0x83, 0x2c, 0x1a, 0x1b, 0x6e, 0x5a, 0xa0, 0x52, 0x3b, 0xd6, 0xb3, 0x29, 0xe3, 0x2f, 0x84,
    0x53, 0xd1, 0x00, 0xed, 0x20, 0xfc, 0xb1, 0x5b, 0x6a, 0xcb, 0xbe, 0x39, 0x4a, 0x4c, 0x58, 0xcf,
    0xd0, 0xef, 0xaa, 0xfb, 0x43, 0x4d, 0x33, 0x85, 0x45, 0xf9, 0x02, 0x7f, 0x50, 0x3c, 0x9f, 0xa8,
    0x51, 0xa3, 0x40, 0x8f, 0x92, 0x9d, 0x38, 0xf5, 0xbc, 0xb6, 0xda, 0x21, 0x10, 0xff, 0xf3, 0xd2,
    0xcd, 0x0c, 0x13, 0xec, 0x5f, 0x97, 0x44, 0x17, 0xc4, 0xa7, 0x7e, 0x3d, 0x64, 0x5d, 0x19, 0x73,
    0x60, 0x81, 0x4f, 0xdc, 0x22, 0x2a, 0x90, 0x88, 0x46, 0xee, 0xb8, 0x14, 0xde, 0x5e, 0x0b, 0xdb,
    0xe0, 0x32, 0x3a, 0x0a, 0x49, 0x06, 0x24, 0x5c, 0xc2, 0xd3, 0xac, 0x62, 0x91, 0x95, 0xe4, 0x79,
    0xe7, 0xc8, 0x37, 0x6d, 0x8d, 0xd5, 0x4e, 0xa9, 0x6c, 0x56, 0xf4, 0xea, 0x65, 0x7a, 0xae, 0x08,
    0xba, 0x78, 0x25, 0x2e, 0x1c, 0xa6, 0xb4, 0xc6, 0xe8, 0xdd, 0x74, 0x1f, 0x4b, 0xbd, 0x8b, 0x8a,
    0x70, 0x3e, 0xb5, 0x66, 0x48, 0x03, 0xf6, 0x0e, 0x61, 0x35, 0x57, 0xb9, 0x86, 0xc1, 0x1d, 0x9e,
    0xe1, 0xf8, 0x98, 0x11, 0x69, 0xd9, 0x8e, 0x94, 0x9b, 0x1e, 0x87, 0xe9, 0xce, 0x55, 0x28, 0xdf,
    0x8c, 0xa1, 0x89, 0x0d, 0xbf, 0xe6, 0x42, 0x68, 0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16,
};

/* Te0[x] = (2*S[x], S[x], S[x], 3*S[x]); the other three columns are rotations. */
static const uint32_t rc_aes_te0[256] = {
    0xc66363a5, 0xf87c7c84, 0xee777799, 0xf67b7b8d, 0xfff2f20d, 0xd66b6bbd, 0xde6f6fb1, 0x91c5c554,
    0x60303050, 0x02010103, 0xce6767a9, 0x562b2b7d, 0xe7fefe19, 0xb5d7d762, 0x4dababe6, 0xec76769a,
    0x8fcaca45, 0x1f82829d, 0x89c9c940, 0xfa7d7d87, 0xeffafa15, 0xb25959eb, 0x8e4747c9, 0xfbf0f00b,
    0x41adadec, 0xb3d4d467, 0x5fa2a2fd, 0x45afafea, 0x239c9cbf, 0x53a4a4f7, 0xe4727296, 0x9bc0c05b,
    0x75b7b7c2, 0xe1fdfd1c, 0x3d9393ae, 0x4c26266a, 0x6c36365a, 0x7e3f3f41, 0xf5f7f702, 0x83cccc4f,
    0x6834345c, 0x51a5a5f4, 0xd1e5e534, 0xf9f1f108, 0xe2717193, 0xabd8d873, 0x62313153, 0x2a15153f,
    0x0804040c, 0x95c7c752, 0x46232365, 0x9dc3c35e, 0x30181828, 0x379696a1, 0x0a05050f, 0x2f9a9ab5,
    0x0e070709, 0x24121236, 0x1b80809b, 0xdfe2e23d, 0xcdebeb26, 0x4e272769, 0x7fb2b2cd, 0xea75759f,
    0x1209091b, 0x1d83839e, 0x582c2c74, 0x341a1a2e, 0x361b1b2d, 0xdc6e6eb2, 0xb45a5aee, 0x5ba0a0fb,
    0xa45252f6, 0x763b3b4d, 0xb7d6d661, 0x7db3b3ce, 0x5229297b, 0xdde3e33e, 0x5e2f2f71, 0x13848497,
    0xa65353f5, 0xb9d1d168, 0x00000000, 0xc1eded2c, 0x40202060, 0xe3fcfc1f, 0x79b1b1c8, 0xb65b5bed,
    0xd46a6abe, 0x8dcbcb46, 0x67bebed9, 0x7239394b, 0x944a4ade, 0x984c4cd4, 0xb05858e8, 0x85cfcf4a,
    0xbbd0d06b, 0xc5efef2a, 0x4faaaae5, 0xedfbfb16, 0x864343c5, 0x9a4d4dd7, 0x66333355, 0x11858594,
    0x8a4545cf, 0xe9f9f910, 0x04020206, 0xfe7f7f81, 0xa05050f0, 0x783c3c44, 0x259f9fba, 0x4ba8a8e3,
    0xa25151f3, 0x5da3a3fe, 0x804040c0, 0x058f8f8a, 0x3f9292ad, 0x219d9dbc, 0x70383848, 0xf1f5f504,
    0x63bcbcdf, 0x77b6b6c1, 0xafdada75, 0x42212163, 0x20101030, 0xe5ffff1a, 0xfdf3f30e, 0xbfd2d26d,
    0x81cdcd4c, 0x180c0c14, 0x26131335, 0xc3ecec2f, 0xbe5f5fe1, 0x359797a2, 0x884444cc, 0x2e171739,
    0x93c4c457, 0x55a7a7f2, 0xfc7e7e82, 0x7a3d3d47, 0xc86464ac, 0xba5d5de7, 0x3219192b, 0xe6737395,
    0xc06060a0, 0x19818198, 0x9e4f4fd1, 0xa3dcdc7f, 0x44222266, 0x542a2a7e, 0x3b9090ab, 0x0b888883,
    0x8c4646ca, 0xc7eeee29, 0x6bb8b8d3, 0x2814143c, 0xa7dede79, 0xbc5e5ee2, 0x160b0b1d, 0xaddbdb76,
    0xdbe0e03b, 0x64323256, 0x743a3a4e, 0x140a0a1e, 0x924949db, 0x0c06060a, 0x4824246c, 0xb85c5ce4,
    0x9fc2c25d, 0xbdd3d36e, 0x43acacef, 0xc46262a6, 0x399191a8, 0x319595a4, 0xd3e4e437, 0xf279798b,
    0xd5e7e732, 0x8bc8c843, 0x6e373759, 0xda6d6db7, 0x018d8d8c, 0xb1d5d564, 0x9c4e4ed2, 0x49a9a9e0,
    0xd86c6cb4, 0xac5656fa, 0xf3f4f407, 0xcfeaea25, 0xca6565af, 0xf47a7a8e, 0x47aeaee9, 0x10080818,
    0x6fbabad5, 0xf0787888, 0x4a25256f, 0x5c2e2e72, 0x381c1c24, 0x57a6a6f1, 0x73b4b4c7, 0x97c6c651,
    0xcbe8e823, 0xa1dddd7c, 0xe874749c, 0x3e1f1f21, 0x964b4bdd, 0x61bdbddc, 0x0d8b8b86, 0x0f8a8a85,
    0xe0707090, 0x7c3e3e42, 0x71b5b5c4, 0xcc6666aa, 0x904848d8, 0x06030305, 0xf7f6f601, 0x1c0e0e12,
    0xc26161a3, 0x6a35355f, 0xae5757f9, 0x69b9b9d0, 0x17868691, 0x99c1c158, 0x3a1d1d27, 0x279e9eb9,
    0xd9e1e138, 0xebf8f813, 0x2b9898b3, 0x22111133, 0xd26969bb, 0xa9d9d970, 0x078e8e89, 0x339494a7,
    0x2d9b9bb6, 0x3c1e1e22, 0x15878792, 0xc9e9e920, 0x87cece49, 0xaa5555ff, 0x50282878, 0xa5dfdf7a,
    0x038c8c8f, 0x59a1a1f8, 0x09898980, 0x1a0d0d17, 0x65bfbfda, 0xd7e6e631, 0x844242c6, 0xd06868b8,
    0x824141c3, 0x299999b0, 0x5a2d2d77, 0x1e0f0f11, 0x7bb0b0cb, 0xa85454fc, 0x6dbbbbd6, 0x2c16163a,
};

typedef struct {
    uint32_t rk[44];
} rc_aes128;

static inline void rc_aes128_init(rc_aes128 *a, const uint8_t key[16])
{
    static const uint8_t rcon[10] = {0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x1b, 0x36};
    int i;
    for (i = 0; i < 4; i++)
        a->rk[i] = rc_be32(key + 4 * i);
    for (i = 4; i < 44; i++) {
        uint32_t t = a->rk[i - 1];
        if (i % 4 == 0) {
            t = ((uint32_t)rc_aes_sbox[(t >> 16) & 0xff] << 24) | ((uint32_t)rc_aes_sbox[(t >> 8) & 0xff] << 16)
                | ((uint32_t)rc_aes_sbox[t & 0xff] << 8) | rc_aes_sbox[t >> 24];
            t ^= (uint32_t)rcon[i / 4 - 1] << 24;
        }
        a->rk[i] = a->rk[i - 4] ^ t;
    }
}

static inline void rc_aes128_encrypt(const rc_aes128 *a, const uint8_t in[16], uint8_t out[16])
{
    const uint32_t *rk = a->rk;
    uint32_t s0 = rc_be32(in) ^ rk[0], s1 = rc_be32(in + 4) ^ rk[1];
    uint32_t s2 = rc_be32(in + 8) ^ rk[2], s3 = rc_be32(in + 12) ^ rk[3];
    uint32_t t0, t1, t2, t3;
    int r;
#define RC_TE(x, rot) ((rot) ? rc_ror32(rc_aes_te0[(x) & 0xff], (rot)) : rc_aes_te0[(x) & 0xff])
#define RC_AES_COL(a0, a1, a2, a3, k) \
    (RC_TE((a0) >> 24, 0) ^ RC_TE((a1) >> 16, 8) ^ RC_TE((a2) >> 8, 16) ^ RC_TE((a3), 24) ^ (k))
    for (r = 1; r < 10; r++) {
        rk += 4;
        t0 = RC_AES_COL(s0, s1, s2, s3, rk[0]);
        t1 = RC_AES_COL(s1, s2, s3, s0, rk[1]);
        t2 = RC_AES_COL(s2, s3, s0, s1, rk[2]);
        t3 = RC_AES_COL(s3, s0, s1, s2, rk[3]);
        s0 = t0; s1 = t1; s2 = t2; s3 = t3;
    }
#undef RC_AES_COL
#undef RC_TE
    rk += 4;
#define RC_AES_LAST(a0, a1, a2, a3, k)                                                        \
    ((((uint32_t)rc_aes_sbox[(a0) >> 24] << 24) | ((uint32_t)rc_aes_sbox[((a1) >> 16) & 0xff] << 16) \
      | ((uint32_t)rc_aes_sbox[((a2) >> 8) & 0xff] << 8) | rc_aes_sbox[(a3) & 0xff]) ^ (k))
    rc_put_be32(out, RC_AES_LAST(s0, s1, s2, s3, rk[0]));
    rc_put_be32(out + 4, RC_AES_LAST(s1, s2, s3, s0, rk[1]));
    rc_put_be32(out + 8, RC_AES_LAST(s2, s3, s0, s1, rk[2]));
    rc_put_be32(out + 12, RC_AES_LAST(s3, s0, s1, s2, rk[3]));
#undef RC_AES_LAST
}

/* ------------------------------------------------------------ AES-128-GCM */

/* Key schedule, GHASH tables (Shoup's 4-bit method) and J0 for one key and
 * 96-bit IV. */
typedef struct {
    rc_aes128 aes;
    uint64_t hh[16], hl[16];
    uint8_t j0[16];
} rc_gcm;

/* A running GHASH: y ^= block; y *= H, block by block. */
typedef struct {
    uint8_t y[16];
    size_t fill;
} rc_ghash;

static inline void rc_gcm_init(rc_gcm *g, const uint8_t key[16], const uint8_t iv[12])
{
    uint8_t h[16] = {0};
    uint64_t vh, vl;
    int i, j;
    rc_aes128_init(&g->aes, key);
    rc_aes128_encrypt(&g->aes, h, h);
    vh = ((uint64_t)rc_be32(h) << 32) | rc_be32(h + 4);
    vl = ((uint64_t)rc_be32(h + 8) << 32) | rc_be32(h + 12);
    g->hl[8] = vl;
    g->hh[8] = vh;
    g->hh[0] = 0;
    g->hl[0] = 0;
    for (i = 4; i > 0; i >>= 1) {
        uint64_t t = (vl & 1) * 0xe1000000u;
        vl = (vh << 63) | (vl >> 1);
        vh = (vh >> 1) ^ (t << 32);
        g->hl[i] = vl;
        g->hh[i] = vh;
    }
    for (i = 2; i <= 8; i *= 2) {
        vh = g->hh[i];
        vl = g->hl[i];
        for (j = 1; j < i; j++) {
            g->hh[i + j] = vh ^ g->hh[j];
            g->hl[i + j] = vl ^ g->hl[j];
        }
    }
    memcpy(g->j0, iv, 12);
    rc_put_be32(g->j0 + 12, 1);
}

/* x = x * H in GF(2^128) */
static inline void rc_gcm_mult(const rc_gcm *g, uint8_t x[16])
{
    static const uint64_t last4[16] = {
        0x0000, 0x1c20, 0x3840, 0x2460, 0x7080, 0x6ca0, 0x48c0, 0x54e0,
        0xe100, 0xfd20, 0xd940, 0xc560, 0x9180, 0x8da0, 0xa9c0, 0xb5e0};
    uint8_t lo = x[15] & 0xf, hi, rem;
    uint64_t zh = g->hh[lo], zl = g->hl[lo];
    int i;
    for (i = 15; i >= 0; i--) {
        lo = x[i] & 0xf;
        hi = (x[i] >> 4) & 0xf;
        if (i != 15) {
            rem = (uint8_t)(zl & 0xf);
            zl = (zh << 60) | (zl >> 4);
            zh = (zh >> 4) ^ (last4[rem] << 48);
            zh ^= g->hh[lo];
            zl ^= g->hl[lo];
        }
        rem = (uint8_t)(zl & 0xf);
        zl = (zh << 60) | (zl >> 4);
        zh = (zh >> 4) ^ (last4[rem] << 48);
        zh ^= g->hh[hi];
        zl ^= g->hl[hi];
    }
    rc_put_be64(x, zh);
    rc_put_be64(x + 8, zl);
}

static inline void rc_ghash_update(const rc_gcm *g, rc_ghash *s, const uint8_t *p, size_t n)
{
    while (n) {
        size_t take = 16 - s->fill, i;
        if (take > n)
            take = n;
        for (i = 0; i < take; i++)
            s->y[s->fill + i] ^= p[i];
        s->fill += take;
        p += take;
        n -= take;
        if (s->fill == 16) {
            rc_gcm_mult(g, s->y);
            s->fill = 0;
        }
    }
}

/* End of the AAD or of the ciphertext: a partial block counts zero-padded. */
static inline void rc_ghash_pad(const rc_gcm *g, rc_ghash *s)
{
    if (s->fill) {
        rc_gcm_mult(g, s->y);
        s->fill = 0;
    }
}

/* The tag, after the AAD and the ciphertext went through rc_ghash_update. */
static inline void rc_gcm_tag(const rc_gcm *g, rc_ghash *s, uint64_t aad_len, uint64_t ct_len,
                              uint8_t tag[16])
{
    uint8_t lens[16], ek[16];
    int i;
    rc_ghash_pad(g, s);
    rc_put_be64(lens, aad_len * 8);
    rc_put_be64(lens + 8, ct_len * 8);
    rc_ghash_update(g, s, lens, 16);
    rc_aes128_encrypt(&g->aes, g->j0, ek);
    for (i = 0; i < 16; i++)
        tag[i] = ek[i] ^ s->y[i];
}

/* The keystream block for bytes [16*block, 16*block+16) of the payload. */
static inline void rc_gcm_keystream(const rc_gcm *g, size_t block, uint8_t ks[16])
{
    uint8_t ctr[16];
    memcpy(ctr, g->j0, 12);
    rc_put_be32(ctr + 12, (uint32_t)(2u + (uint32_t)block));
    rc_aes128_encrypt(&g->aes, ctr, ks);
}

static inline void rc_gcm_ctr(const rc_gcm *g, const uint8_t *in, size_t n, uint8_t *out)
{
    uint8_t ks[16];
    size_t i;
    for (i = 0; i < n; i++) {
        if (i % 16 == 0)
            rc_gcm_keystream(g, i / 16, ks);
        out[i] = in[i] ^ ks[i % 16];
    }
}

static inline void rc_aes128_gcm_seal(const uint8_t key[16], const uint8_t iv[12], const uint8_t *aad,
                                      size_t aad_len, const uint8_t *pt, size_t n, uint8_t *ct,
                                      uint8_t tag[16])
{
    rc_gcm g;
    rc_ghash s;
    memset(&s, 0, sizeof s);
    rc_gcm_init(&g, key, iv);
    rc_gcm_ctr(&g, pt, n, ct);
    rc_ghash_update(&g, &s, aad, aad_len);
    rc_ghash_pad(&g, &s);
    rc_ghash_update(&g, &s, ct, n);
    rc_gcm_tag(&g, &s, aad_len, n, tag);
}

/* 1 and the plaintext in pt if the tag verifies; 0 (pt untouched) if not. */
static inline int rc_aes128_gcm_open(const uint8_t key[16], const uint8_t iv[12], const uint8_t *aad,
                                     size_t aad_len, const uint8_t *ct, size_t n,
                                     const uint8_t tag[16], uint8_t *pt)
{
    rc_gcm g;
    rc_ghash s;
    uint8_t want[16];
    memset(&s, 0, sizeof s);
    rc_gcm_init(&g, key, iv);
    rc_ghash_update(&g, &s, aad, aad_len);
    rc_ghash_pad(&g, &s);
    rc_ghash_update(&g, &s, ct, n);
    rc_gcm_tag(&g, &s, aad_len, n, want);
    if (memcmp(want, tag, 16) != 0)
        return 0;
    rc_gcm_ctr(&g, ct, n, pt);
    return 1;
}

/* ---------------------------------------------------- TLS hello messages */

#define RC_TLS_LIST_MAX 1024       /* ciphers/extensions/sigalgs kept for JA4 */

typedef struct {
    uint16_t legacy_version, version;
    uint32_t sni_off, sni_len;
    uint32_t alpn_off, alpn_len;
    char ja4[37];
    uint16_t cipher;
    uint8_t is_client, is_server, truncated, malformed;
} rc_tls_hello;

/* What the JA4 needs beyond rc_tls_hello, collected while parsing.  With
 * want == RC_JA4_LISTS the three lists, GREASE left out; with RC_JA4_RAW
 * (a memo is at hand) only where the cipher and signature lists lie in the
 * buffer and the extension types as sent, GREASE included, four to a word
 * (the first in the high bits; the last word's unused high bits 0): the
 * memo's key, which is all most hellos need. */
enum { RC_JA4_NONE = 0, RC_JA4_LISTS = 1, RC_JA4_RAW = 2 };
/* The extension headers of a recent ClientHello (kept in rc_ja4_memo):
 * where each extension starts and its 4-byte header (type, length) as sent.
 * A client sends a server name the same extensions in the same sizes every
 * time, only their contents (key shares, the random) differ.  The walk
 * over the extensions is a chain of loads (each length says where the next
 * header is); a hello whose extension block has the length and the first
 * header of one kept is checked against it instead, every header at once
 * (independent loads), and only when all are equal are the four extensions
 * read that give fields (SNI, ALPN, signature algorithms, supported
 * versions), at the places kept: what the walk would have found, since the
 * places follow from the lengths.  Otherwise the hello is walked and kept. */
#define RC_TLS_LAYOUT_SLOTS 64
#define RC_TLS_LAYOUT_EXTS 32     /* hellos with more extensions are walked */
#define RC_TLS_LAYOUT_READ 6      /* extensions of those four types (more: walked) */
#define RC_TLS_LAYOUT_LISTS 192   /* cipher and signature algorithm bytes kept with the JA4 */

typedef struct {
    uint64_t key;                            /* block length << 32 | first header; 0: unused */
    uint8_t n, n_read;                       /* extensions; those of the four types */
    uint8_t read[RC_TLS_LAYOUT_READ];        /* their indexes, in order */
    uint16_t off[RC_TLS_LAYOUT_EXTS];        /* starts, from the block's first byte */
    uint32_t hdr[RC_TLS_LAYOUT_EXTS];        /* headers, bytes as sent */
    uint64_t ext_words[RC_TLS_LAYOUT_EXTS / 4];   /* rc_ja4_lists.ext_words of the walk */
    /* The JA4 of the last hello read with this layout, and its cipher suites
     * and (one) signature_algorithms list as sent: with the extension types
     * (the headers), all the JA4 takes from a hello besides what
     * rc_ja4_head writes anew for each.  ja4_ok: these are set. */
    uint8_t ja4_ok;
    uint16_t cipher_len, sig_len;
    char ja4[36];
    uint8_t lists[RC_TLS_LAYOUT_LISTS];      /* cipher bytes, then signature algorithm bytes */
} rc_tls_layout;

#define RC_JA4_EXT_WORDS 32        /* kept in words: 128 extension types */

typedef struct {
    uint16_t ciphers[RC_TLS_LIST_MAX], exts[RC_TLS_LIST_MAX], sigs[RC_TLS_LIST_MAX];
    size_t n_ciphers, n_exts, n_sigs;                   /* RC_JA4_RAW: n_exts counts all */
    size_t cipher_off, cipher_len, sig_off, sig_len;    /* RC_JA4_RAW: spans in the buffer */
    uint64_t ext_words[RC_JA4_EXT_WORDS];               /* RC_JA4_RAW: extension types */
    const uint64_t *ext_types;                          /* RC_JA4_RAW: ext_words or a layout's */
    int n_sig_exts;                                     /* RC_JA4_RAW: signature_algorithms seen */
    int has_sni, too_many;
    int want;                /* RC_JA4_NONE (no JA4 asked for), LISTS or RAW */
    rc_tls_layout *layouts;  /* RC_JA4_RAW: the memo's RC_TLS_LAYOUT_SLOTS */
    rc_tls_layout *layout;   /* RC_JA4_RAW: the one this hello's headers are (NULL: none) */
    int layout_read;         /* ... and it was read with it, not walked */
} rc_ja4_lists;

enum { RC_SPAN_OK = 0, RC_SPAN_CUT = 1, RC_SPAN_BAD = 2 };

/* Are n bytes at pos inside the structure ending at lim (else BAD), and
 * inside the buffer of len bytes (else CUT)?  Overflow-free. */
static inline int rc_tls_span(size_t pos, size_t n, size_t lim, size_t len)
{
    if (pos > lim || n > lim - pos)
        return RC_SPAN_BAD;
    if (pos > len || n > len - pos)
        return RC_SPAN_CUT;
    return RC_SPAN_OK;
}

/* pos + n, saturating (n is a decoded length, pos an offset into the buffer). */
static inline size_t rc_tls_end(size_t pos, size_t n)
{
    return n > SIZE_MAX - pos ? SIZE_MAX : pos + n;
}

static inline int rc_tls_grease(uint16_t v) { return (v & 0x0f0f) == 0x0a0a && (v >> 12) == ((v >> 4) & 0xf); }

static inline void rc_tls_keep(uint16_t *list, size_t *n, int *too_many, uint16_t v)
{
    if (*n < RC_TLS_LIST_MAX)
        list[(*n)++] = v;
    else
        *too_many = 1;
}

/* The 16-bit values at p[q .. end) (an even count), GREASE left out, added
 * to list; the room is checked once for the whole run. */
static inline void rc_tls_keep_list(const uint8_t *p, size_t q, size_t end, uint16_t *list,
                                    size_t *n, int *too_many)
{
    size_t k = *n;
    if ((end - q) / 2 > RC_TLS_LIST_MAX - k) {
        for (; q + 2 <= end; q += 2) {
            uint16_t v = rc_be16(p + q);
            if (!rc_tls_grease(v))
                rc_tls_keep(list, n, too_many, v);
        }
        return;
    }
    for (; q + 2 <= end; q += 2) {
        uint16_t v = rc_be16(p + q);
        list[k] = v;
        k += !rc_tls_grease(v);
    }
    *n = k;
}

/* One extension's body, fully present at [pos, end).  Returns RC_SPAN_OK or
 * RC_SPAN_BAD. */
__attribute__((always_inline))
static inline int rc_tls_extension(const uint8_t *p, size_t pos, size_t end, uint16_t type,
                                   int client, rc_tls_hello *out, rc_ja4_lists *j)
{
    size_t n = end - pos;
    switch (type) {
    case 0x0000: {      /* server_name: list of (type, name) */
        size_t lim, q;
        if (!client)
            return RC_SPAN_OK;       /* a server's is empty */
        j->has_sni = 1;
        if (n < 2 || rc_be16(p + pos) != n - 2)
            return RC_SPAN_BAD;
        lim = end;
        for (q = pos + 2; q < lim;) {
            size_t nl;
            if (lim - q < 3)
                return RC_SPAN_BAD;
            nl = rc_be16(p + q + 1);
            if (nl > lim - q - 3)
                return RC_SPAN_BAD;
            if (p[q] == 0 && out->sni_len == 0 && nl) {
                out->sni_off = (uint32_t)(q + 3);
                out->sni_len = (uint32_t)nl;
            }
            q += 3 + nl;
        }
        return RC_SPAN_OK;
    }
    case 0x0010: {      /* ALPN: list of <1..255> strings; the first one */
        size_t pl, q;
        if (n < 2 || rc_be16(p + pos) != n - 2)
            return RC_SPAN_BAD;
        if (n == 2)
            return RC_SPAN_OK;
        for (q = pos + 2; q < end; q += 1 + pl) {
            pl = p[q];
            if (pl > end - q - 1)
                return RC_SPAN_BAD;
            if (q == pos + 2 && pl && out->alpn_len == 0) {
                out->alpn_off = (uint32_t)(q + 1);
                out->alpn_len = (uint32_t)pl;
            }
        }
        return RC_SPAN_OK;
    }
    case 0x002b: {      /* supported_versions */
        size_t q;
        uint16_t best = 0;
        if (!client) {
            if (n != 2)
                return RC_SPAN_BAD;
            out->version = rc_be16(p + pos);
            return RC_SPAN_OK;
        }
        if (n < 1 || p[pos] != n - 1 || (p[pos] & 1))
            return RC_SPAN_BAD;
        for (q = pos + 1; q + 2 <= end; q += 2) {
            uint16_t v = rc_be16(p + q);
            if (!rc_tls_grease(v) && v > best)
                best = v;
        }
        if (best)
            out->version = best;
        return RC_SPAN_OK;
    }
    case 0x000d: {      /* signature_algorithms, in their order */
        if (!client)
            return RC_SPAN_OK;
        if (n < 2 || rc_be16(p + pos) != n - 2 || (n & 1))
            return RC_SPAN_BAD;
        if (j->want == RC_JA4_RAW) {
            j->sig_off = pos + 2;
            j->sig_len = n - 2;
            j->n_sig_exts++;
        } else if (j->want) {
            rc_tls_keep_list(p, pos + 2, end, j->sigs, &j->n_sigs, &j->too_many);
        }
        return RC_SPAN_OK;
    }
    default:
        return RC_SPAN_OK;
    }
}

/* The extensions at [pos, elim) of a buffer of len bytes (pos <= len: the
 * length field before them was inside it).  mode is j->want for a
 * ClientHello (RC_JA4_NONE for a ServerHello), a constant at each call, so
 * that each mode gets its own loop without tests of it per extension.
 * Each extension is checked against one end, the nearer of elim and the
 * buffer's, by its 4-byte header read as one word: pos + 4 and the next
 * extension's start cannot overflow (pos <= end <= len, a length is at most
 * 65535); one that crosses the end is told BAD or CUT by rc_tls_span. */
/* server_name, ALPN, signature_algorithms, supported_versions: the
 * extensions rc_tls_extension reads */
static inline int rc_tls_read_type(uint16_t type)
{
    return type <= 0x2b && ((0x0000080000012001ULL >> type) & 1);
}

/* The extensions of a ClientHello at [pos, elim), fully in the buffer
 * (elim <= len), when their headers are those of the layout kept for
 * their key: the four types' extensions read (RC_SPAN_OK or BAD, as the
 * walk would return), the raw extension types (mode RC_JA4_RAW) copied.
 * -1 when the headers differ (nothing read, nothing written). */
static inline int rc_tls_layout_read(const uint8_t *p, size_t pos, const rc_tls_layout *l,
                                     rc_tls_hello *out, rc_ja4_lists *j)
{
    uint32_t diff = 0, hdr;
    size_t k, q;
    int r;
    /* (every start + 4 <= the block's length, the same as this one's: the
     * layout was kept from a walk of a block of that length) */
    for (k = 0; k < l->n; k++) {
        memcpy(&hdr, p + pos + l->off[k], 4);
        diff |= hdr ^ l->hdr[k];
    }
    if (diff)
        return -1;
    for (k = 0; k < l->n_read; k++) {
        q = pos + l->off[l->read[k]];
        hdr = __builtin_bswap32(l->hdr[l->read[k]]);
        if ((r = rc_tls_extension(p, q + 4, q + 4 + (hdr & 0xffff), (uint16_t)(hdr >> 16), 1, out, j)))
            return r;
    }
    j->ext_types = l->ext_words;
    j->n_exts = l->n;
    return RC_SPAN_OK;
}

/* The extensions at [pos, elim) of a buffer of len bytes (pos <= len: the
 * length field before them was inside it).  mode is j->want for a
 * ClientHello (RC_JA4_NONE for a ServerHello), a constant at each call, so
 * that each mode gets its own loop without tests of it per extension.
 * Each extension is checked against one end, the nearer of elim and the
 * buffer's, by its 4-byte header read as one word: pos + 4 and the next
 * extension's start cannot overflow (pos <= end <= len, a length is at most
 * 65535); one that crosses the end is told BAD or CUT by rc_tls_span. */
__attribute__((always_inline))
static inline int rc_tls_ext_walk(const uint8_t *p, size_t len, size_t pos, size_t elim, int client,
                                  rc_tls_hello *out, rc_ja4_lists *j, const int mode)
{
    size_t end = elim < len ? elim : len, next, el = 0, n_raw = 0, base = pos;
    uint64_t ext_word = 0;
    uint32_t hdr;
    uint16_t type;
    rc_tls_layout *layout = NULL;
    unsigned n_read = 0;
    int r;
    if (mode == RC_JA4_RAW && j->layouts && elim <= len && elim - pos >= 4) {
        uint64_t key;
        memcpy(&hdr, p + pos, 4);
        key = ((uint64_t)(elim - pos) << 32) | hdr;
        /* two slots for a key (idx and its neighbour), as the raw memo */
        layout = &j->layouts[(key * 0x9e3779b97f4a7c15ULL) >> 58];
        if (layout->key != key && layout[(layout - j->layouts) & 1 ? -1 : 1].key == key)
            layout += (layout - j->layouts) & 1 ? -1 : 1;
        if (layout->key == key && (r = rc_tls_layout_read(p, pos, layout, out, j)) >= 0) {
            j->layout = layout;
            j->layout_read = 1;
            return r;
        }
        if (layout->key != key && layout->key) {
            rc_tls_layout *other = layout + ((layout - j->layouts) & 1 ? -1 : 1);
            if (!other->key)
                layout = other;
        }
        layout->key = 0;         /* kept again below if this walk ends well */
    }
    while (pos + 4 <= end) {
        memcpy(&hdr, p + pos, 4);
        if (mode == RC_JA4_RAW && layout && n_raw < RC_TLS_LAYOUT_EXTS) {
            layout->off[n_raw] = (uint16_t)(pos - base);
            layout->hdr[n_raw] = hdr;
        }
        hdr = __builtin_bswap32(hdr);
        type = (uint16_t)(hdr >> 16);
        el = hdr & 0xffff;
        next = pos + 4 + el;
        if (next > end)
            return rc_tls_span(pos + 4, el, elim, len);
        if (mode == RC_JA4_RAW) {
            /* as sent, the memo's key, four to a word (whole words stored: a
             * word read back from 2-byte stores would stall on store
             * forwarding).  Every extension stores its word, the index
             * wrapped: past RC_JA4_EXT_WORDS words the raw memo is not used
             * (rc_ja4_raw_fits), and the last word's high bits, left from
             * the word before, are cleared below. */
            ext_word = (ext_word << 16) | type;
            j->ext_words[(n_raw >> 2) & (RC_JA4_EXT_WORDS - 1)] = ext_word;
        } else if (mode == RC_JA4_LISTS && !rc_tls_grease(type)) {
            rc_tls_keep(j->exts, &j->n_exts, &j->too_many, type);
        }
        if (rc_tls_read_type(type)) {
            if (mode == RC_JA4_RAW && layout && n_read < RC_TLS_LAYOUT_READ && n_raw < RC_TLS_LAYOUT_EXTS)
                layout->read[n_read] = (uint8_t)n_raw;
            n_read++;
            if ((r = rc_tls_extension(p, pos + 4, next, type, client, out, j)))
                return r;
        }
        n_raw++;
        pos = next;
    }
    if (pos != elim)         /* pos < elim: a header crosses the end */
        return rc_tls_span(pos, 4, elim, len);
    if (mode == RC_JA4_RAW) {
        j->n_exts = n_raw;
        j->ext_types = j->ext_words;
        if ((n_raw & 3) && n_raw <= 4 * RC_JA4_EXT_WORDS)
            j->ext_words[n_raw >> 2] &= ((uint64_t)1 << (16 * (n_raw & 3))) - 1;
        if (layout && n_raw <= RC_TLS_LAYOUT_EXTS && n_read <= RC_TLS_LAYOUT_READ) {
            layout->n = (uint8_t)n_raw;
            layout->n_read = (uint8_t)n_read;
            memcpy(layout->ext_words, j->ext_words, sizeof layout->ext_words);
            memcpy(&hdr, p + base, 4);
            layout->key = ((uint64_t)(elim - base) << 32) | hdr;
            layout->ja4_ok = 0;
            j->layout = layout;
        }
    }
    return RC_SPAN_OK;
}

/* The body of a ClientHello (client=1) or ServerHello at [pos, lim) of a
 * buffer of len bytes.  Returns RC_SPAN_OK, CUT (truncated) or BAD. */
static inline int rc_tls_hello_body(const uint8_t *p, size_t len, size_t pos, size_t lim, int client,
                                    rc_tls_hello *out, rc_ja4_lists *j)
{
    int r;
    size_t n, elim;
    /* legacy_version, random */
    if ((r = rc_tls_span(pos, 34, lim, len)))
        return r;
    out->legacy_version = out->version = rc_be16(p + pos);
    pos += 34;
    /* legacy_session_id <0..32> */
    if ((r = rc_tls_span(pos, 1, lim, len)))
        return r;
    n = p[pos++];
    if (n > 32)
        return RC_SPAN_BAD;
    if ((r = rc_tls_span(pos, n, lim, len)))
        return r;
    pos += n;
    if (client) {
        /* cipher_suites <2..2^16-2> */
        if ((r = rc_tls_span(pos, 2, lim, len)))
            return r;
        n = rc_be16(p + pos);
        pos += 2;
        if (n & 1)
            return RC_SPAN_BAD;
        if ((r = rc_tls_span(pos, n, lim, len)))
            return r;
        if (j->want == RC_JA4_RAW) {
            j->cipher_off = pos;
            j->cipher_len = n;
        } else if (j->want) {
            rc_tls_keep_list(p, pos, pos + n, j->ciphers, &j->n_ciphers, &j->too_many);
        }
        pos += n;
        /* legacy_compression_methods <1..2^8-1> */
        if ((r = rc_tls_span(pos, 1, lim, len)))
            return r;
        n = p[pos++];
        if ((r = rc_tls_span(pos, n, lim, len)))
            return r;
        pos += n;
    } else {
        /* cipher_suite, legacy_compression_method */
        if ((r = rc_tls_span(pos, 3, lim, len)))
            return r;
        out->cipher = rc_be16(p + pos);
        pos += 3;
    }
    if (pos == lim)
        return RC_SPAN_OK;           /* no extensions (before TLS 1.2 they were optional) */
    if ((r = rc_tls_span(pos, 2, lim, len)))
        return r;
    n = rc_be16(p + pos);
    pos += 2;
    elim = rc_tls_end(pos, n);
    if (elim != lim)
        return RC_SPAN_BAD;          /* the extensions end where the message does */
    if (!client)
        return rc_tls_ext_walk(p, len, pos, elim, 0, out, j, RC_JA4_NONE);
    if (j->want == RC_JA4_RAW)
        return rc_tls_ext_walk(p, len, pos, elim, 1, out, j, RC_JA4_RAW);
    if (j->want == RC_JA4_LISTS)
        return rc_tls_ext_walk(p, len, pos, elim, 1, out, j, RC_JA4_LISTS);
    return rc_tls_ext_walk(p, len, pos, elim, 1, out, j, RC_JA4_NONE);
}

/* ------------------------------------------------------------------- JA4 */

static inline void rc_ja4_sort(uint16_t *a, size_t n)
{
    size_t start = n / 2, end = n, i, k;
    uint16_t t;
    if (n <= 48) {
        /* insertion sort: hellos list 10-30 values, often partly in order */
        for (i = 1; i < n; i++) {
            t = a[i];
            for (k = i; k > 0 && a[k - 1] > t; k--)
                a[k] = a[k - 1];
            a[k] = t;
        }
        return;
    }
    /* heapsort: bounded O(n log n) whatever the input */
    for (;;) {
        size_t root, child;
        if (start > 0) {
            start--;
        } else {
            end--;
            if (end == 0)
                return;
            t = a[end]; a[end] = a[0]; a[0] = t;
        }
        root = start;
        while ((child = 2 * root + 1) < end) {
            if (child + 1 < end && a[child] < a[child + 1])
                child++;
            if (a[root] >= a[child])
                break;
            t = a[root]; a[root] = a[child]; a[child] = t;
            root = child;
        }
    }
}

static const char rc_hex[] = "0123456789abcdef";

/* Feed "xxxx,yyyy,..." (4 lower-case hex digits each) to the hash, written
 * into a buffer first and hashed in runs of whole blocks (one hash call per
 * 320 bytes instead of one per value). */
static inline void rc_ja4_hash_list(rc_sha256_ctx *c, const uint16_t *a, size_t n)
{
    uint8_t buf[320];
    size_t i, o = 0, skip = 1;      /* no comma before the first value */
    for (i = 0; i < n; i++) {
        uint16_t v = a[i];
        buf[o] = ',';
        buf[o + 1] = (uint8_t)rc_hex[v >> 12];
        buf[o + 2] = (uint8_t)rc_hex[(v >> 8) & 0xf];
        buf[o + 3] = (uint8_t)rc_hex[(v >> 4) & 0xf];
        buf[o + 4] = (uint8_t)rc_hex[v & 0xf];
        o += 5;
        if (o == sizeof buf) {
            rc_sha256_update(c, buf + skip, o - skip);
            o = skip = 0;
        }
    }
    if (o)
        rc_sha256_update(c, buf + skip, o - skip);
}

static inline void rc_ja4_hash12(rc_sha256_ctx *c, char *dst)
{
    uint8_t d[RC_SHA256_LEN];
    int i;
    rc_sha256_final(c, d);
    for (i = 0; i < 6; i++) {
        dst[2 * i] = rc_hex[d[i] >> 4];
        dst[2 * i + 1] = rc_hex[d[i] & 0xf];
    }
}

/* A memo of JA4 hash parts, for a caller that fingerprints many hellos
 * (a batch): most come from a few client programs, whose lists repeat.  Two
 * tables: one keyed by the lists as the hello sends them (GREASE left out),
 * which saves the sort too for clients that keep their order, and one by the
 * sorted lists (Chrome shuffles its extensions: their sorted list repeats).
 * A part is looked up by a 64-bit hash of its lists and taken only if the
 * lists stored with it are equal value by value: exact, never a guess.
 * Lists longer than RC_JA4_MEMO_VALUES are sorted and hashed each time.  The
 * caller owns the memo (zero it before use); not shared between threads. */
#define RC_JA4_MEMO_SLOTS 128
#define RC_JA4_MEMO_VALUES 62

typedef struct {
    uint64_t key;
    uint16_t n1, n2, used;
    uint16_t v[RC_JA4_MEMO_VALUES];
    char hash[12];
} rc_ja4_memo_entry;

/* In front of those, whole fingerprints keyed by the hello's raw lists: the
 * cipher suites and signature algorithms as their bytes lie in the hello,
 * the extension types in their order, GREASE values included.  Equal raw
 * lists give equal JA4 parts (counts, SNI flag, both hashes); what else the
 * JA4 holds (protocol, version, ALPN characters) is written per hello.  The
 * key is cheap (the lengths and each list's ends), only to pick a slot (one
 * of two): an entry is taken only when its bytes are all equal to the
 * hello's, so a key collision costs a miss, never a wrong fingerprint.  A
 * miss parses the lists and goes through the tables above; Chrome's hellos
 * (new GREASE values, shuffled extensions every time) always miss here and
 * hit there.  Lists of more than RC_JA4_RAW_BYTES (extension types counted
 * 8 bytes per 4), or with two signature_algorithms extensions, skip it. */
#define RC_JA4_RAW_SLOTS 64
#define RC_JA4_RAW_BYTES 256

typedef struct {
    uint64_t key;
    uint16_t cipher_len, n_exts, sig_len, used;
    uint8_t b[RC_JA4_RAW_BYTES];      /* cipher bytes, extension type words, sig bytes */
    char ja4[36];                     /* [0..2] and [8..9] rewritten per hello */
} rc_ja4_raw_entry;

typedef struct {
    rc_ja4_memo_entry e[2][RC_JA4_MEMO_SLOTS];    /* [0]: sorted lists, [1]: as sent */
    rc_ja4_raw_entry raw[RC_JA4_RAW_SLOTS];
    rc_tls_layout layout[RC_TLS_LAYOUT_SLOTS];
} rc_ja4_memo;

/* The slot of table t for lists a, b (NULL if too long to keep); *hit: its
 * hash is theirs. */
static inline rc_ja4_memo_entry *rc_ja4_memo_find(rc_ja4_memo *memo, int t, unsigned tag,
                                                  const uint16_t *a, size_t na, const uint16_t *b,
                                                  size_t nb, uint64_t *key_out, int *hit)
{
    rc_ja4_memo_entry *slot;
    uint64_t key;
    size_t i;
    *hit = 0;
    if (!memo || na + nb > RC_JA4_MEMO_VALUES)
        return NULL;
    key = 0x9e3779b97f4a7c15ULL * (tag + 1) ^ ((uint64_t)na << 32) ^ nb;
    for (i = 0; i < na; i++)
        key = (key ^ a[i]) * 0xff51afd7ed558ccdULL;
    for (i = 0; i < nb; i++)
        key = (key ^ b[i]) * 0xc4ceb9fe1a85ec53ULL;
    key ^= key >> 29;
    slot = &memo->e[t][(key >> 7) % RC_JA4_MEMO_SLOTS];
    *key_out = key;
    *hit = slot->used && slot->key == key && slot->n1 == na && slot->n2 == nb
        && (na == 0 || memcmp(slot->v, a, na * sizeof *a) == 0)
        && (nb == 0 || memcmp(slot->v + na, b, nb * sizeof *b) == 0);
    return slot;
}

static inline void rc_ja4_memo_keep(rc_ja4_memo_entry *slot, uint64_t key, const uint16_t *a,
                                    size_t na, const uint16_t *b, size_t nb, const char *hash)
{
    slot->key = key;
    slot->n1 = (uint16_t)na;
    slot->n2 = (uint16_t)nb;
    slot->used = 1;
    if (na)
        memcpy(slot->v, a, na * sizeof *a);
    if (nb)
        memcpy(slot->v + na, b, nb * sizeof *b);
    memcpy(slot->hash, hash, 12);
}

/* The 12 hex digits of SHA-256("a1,a2,..." sorted [+ "_" + "b1,b2,..." if
 * nb]) into dst; a is sorted in place. */
static inline void rc_ja4_part(rc_ja4_memo *memo, unsigned tag, uint16_t *a, size_t na,
                               const uint16_t *b, size_t nb, char *dst)
{
    rc_sha256_ctx c;
    rc_ja4_memo_entry *sent, *sorted;
    uint16_t as_sent[RC_JA4_MEMO_VALUES];
    uint64_t sent_key = 0, sorted_key = 0;
    int hit;
    sent = rc_ja4_memo_find(memo, 1, tag, a, na, b, nb, &sent_key, &hit);
    if (hit) {
        memcpy(dst, sent->hash, 12);
        return;
    }
    if (sent && na)
        memcpy(as_sent, a, na * sizeof *a);
    rc_ja4_sort(a, na);
    sorted = rc_ja4_memo_find(memo, 0, tag, a, na, b, nb, &sorted_key, &hit);
    if (hit) {
        memcpy(dst, sorted->hash, 12);
    } else {
        rc_sha256_init(&c);
        rc_ja4_hash_list(&c, a, na);
        if (nb) {
            rc_sha256_update(&c, (const uint8_t *)"_", 1);
            rc_ja4_hash_list(&c, b, nb);
        }
        rc_ja4_hash12(&c, dst);
        if (sorted)
            rc_ja4_memo_keep(sorted, sorted_key, a, na, b, nb, dst);
    }
    if (sent)
        rc_ja4_memo_keep(sent, sent_key, as_sent, na, b, nb, dst);
}

static inline int rc_ja4_alnum(uint8_t c)
{
    return (uint8_t)(c - '0') < 10 || (uint8_t)((c | 0x20) - 'a') < 26;    /* 0-9, A-Z, a-z */
}

/* What a JA4 takes from the hello besides its lists: protocol, version
 * (s[0..2]) and the ALPN characters (s[8..9]). */
__attribute__((always_inline))
static inline void rc_ja4_head(const uint8_t *p, char proto, const rc_tls_hello *out, char *s)
{
    const char *ver;
    switch (out->version) {
    case 0x0304: ver = "13"; break;
    case 0x0303: ver = "12"; break;
    case 0x0302: ver = "11"; break;
    case 0x0301: ver = "10"; break;
    case 0x0300: ver = "s3"; break;
    case 0x0002: ver = "s2"; break;
    case 0xfeff: ver = "d1"; break;
    case 0xfefd: ver = "d2"; break;
    case 0xfefc: ver = "d3"; break;
    default: ver = "00"; break;
    }
    s[0] = proto;
    s[1] = ver[0];
    s[2] = ver[1];
    if (out->alpn_len == 0) {
        s[8] = s[9] = '0';
    } else {
        uint8_t first = p[out->alpn_off], last = p[out->alpn_off + out->alpn_len - 1];
        if (rc_ja4_alnum(first) && rc_ja4_alnum(last)) {
            s[8] = (char)first;
            s[9] = (char)last;
        } else {             /* first and last characters of the value in hex */
            s[8] = rc_hex[first >> 4];
            s[9] = rc_hex[last & 0xf];
        }
    }
}

static inline void rc_ja4(const uint8_t *p, char proto, rc_tls_hello *out, rc_ja4_lists *j,
                          rc_ja4_memo *memo)
{
    char *s = out->ja4;
    size_t i, n;
    rc_ja4_head(p, proto, out, s);
    s[3] = j->has_sni ? 'd' : 'i';
    n = j->n_ciphers > 99 ? 99 : j->n_ciphers;
    s[4] = (char)('0' + n / 10);
    s[5] = (char)('0' + n % 10);
    n = j->n_exts > 99 ? 99 : j->n_exts;
    s[6] = (char)('0' + n / 10);
    s[7] = (char)('0' + n % 10);
    s[10] = '_';
    if (j->n_ciphers == 0) {
        memcpy(s + 11, "000000000000", 12);
    } else {
        rc_ja4_part(memo, 0, j->ciphers, j->n_ciphers, NULL, 0, s + 11);
    }
    s[23] = '_';
    /* extensions without SNI and ALPN, sorted; then the signature algorithms */
    for (i = n = 0; i < j->n_exts; i++)
        if (j->exts[i] != 0x0000 && j->exts[i] != 0x0010)
            j->exts[n++] = j->exts[i];
    if (n == 0) {
        memcpy(s + 24, "000000000000", 12);
    } else {
        rc_ja4_part(memo, 1, j->exts, n, j->sigs, j->n_sigs, s + 24);
    }
    s[36] = 0;
}

#if defined(__SSE2__) && !defined(RC_NO_SSE2)
#define RC_SSE2 1
#include <emmintrin.h>
#endif

/* A span's first 8 bytes and its last 8 (overlapping when it is shorter than
 * 16); a span shorter than 8 gives its bytes in a register, twice.  Reads
 * only [q, q + n). */
static inline void rc_ja4_ends(const uint8_t *q, size_t n, uint64_t *first, uint64_t *last)
{
    uint64_t w = 0;
    uint32_t w4;
    uint16_t w2;
    if (n >= 8) {
        memcpy(first, q, 8);
        memcpy(last, q + n - 8, 8);
        return;
    }
    if (n & 4) {
        memcpy(&w4, q, 4);
        w = w4;
        q += 4;
    }
    if (n & 2) {
        memcpy(&w2, q, 2);
        w = (w << 16) | w2;
        q += 2;
    }
    if (n & 1)
        w = (w << 8) | q[0];
    *first = *last = w;
}

/* 1 when the n bytes at a and b are equal: 16 (SSE2) or 8 at a time, the
 * last block overlapping the one before (no call, no byte loop). */
static inline int rc_ja4_same(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64_t x, y, diff = 0;
    size_t i;
#ifdef RC_SSE2
    if (n >= 16) {
        __m128i d = _mm_setzero_si128();
        for (i = 0; i + 16 <= n; i += 16)
            d = _mm_or_si128(d, _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(a + i)),
                                              _mm_loadu_si128((const __m128i *)(const void *)(b + i))));
        d = _mm_or_si128(d, _mm_xor_si128(_mm_loadu_si128((const __m128i *)(const void *)(a + n - 16)),
                                          _mm_loadu_si128((const __m128i *)(const void *)(b + n - 16))));
        return _mm_movemask_epi8(_mm_cmpeq_epi8(d, _mm_setzero_si128())) == 0xFFFF;
    }
#endif
    if (n < 8) {
        uint64_t xl, yl;
        rc_ja4_ends(a, n, &x, &xl);
        rc_ja4_ends(b, n, &y, &yl);
        return x == y;
    }
    for (i = 0; i + 8 <= n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        diff |= x ^ y;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return (diff | (x ^ y)) == 0;
}

/* The raw memo's key of a hello's lists: cipher bytes, extension types as
 * sent (rc_ja4_lists.ext_words), signature algorithm bytes.  Only to
 * pick a slot, so cheap: the three lengths and each list's first and last
 * 8 bytes (lists that differ only in between share a key and are told
 * apart by comparing them whole). */
static inline uint64_t rc_ja4_raw_key(const uint8_t *ciphers, size_t cipher_len, const uint8_t *exts,
                                      size_t ext_len, const uint8_t *sigs, size_t sig_len)
{
    uint64_t c0, c1, e0, e1, s0, s1, h;
    rc_ja4_ends(ciphers, cipher_len, &c0, &c1);
    rc_ja4_ends(exts, ext_len, &e0, &e1);
    rc_ja4_ends(sigs, sig_len, &s0, &s1);
    h = ((uint64_t)cipher_len << 48) ^ ((uint64_t)ext_len << 32) ^ ((uint64_t)sig_len << 16);
    h ^= c0 * 0x9e3779b97f4a7c15ULL ^ c1 * 0xff51afd7ed558ccdULL ^ e0 * 0xc4ceb9fe1a85ec53ULL
        ^ e1 * 0xd6e8feb86659fd93ULL ^ s0 * 0xa0761d6478bd642fULL ^ s1 * 0xe7037ed1a0b428dbULL;
    return h ^ (h >> 29);
}

/* 36 bytes, in words (a variable or odd-sized memcpy may become a call or a
 * slow string instruction). */
static inline void rc_copy36(char *dst, const char *src)
{
    uint64_t a, b, c, d;
    uint32_t e;
    memcpy(&a, src, 8); memcpy(&b, src + 8, 8); memcpy(&c, src + 16, 8); memcpy(&d, src + 24, 8);
    memcpy(&e, src + 32, 4);
    memcpy(dst, &a, 8); memcpy(dst + 8, &b, 8); memcpy(dst + 16, &c, 8); memcpy(dst + 24, &d, 8);
    memcpy(dst + 32, &e, 4);
}

/* Do a hello's raw lists (parsed with RC_JA4_RAW) fit a raw memo entry?
 * (One signature_algorithms extension at most: with more, the lists are
 * collected each time.)  *ext_bytes: the extension type words' size. */
static inline int rc_ja4_raw_fits(const rc_ja4_lists *j, size_t *ext_bytes)
{
    *ext_bytes = 8 * ((j->n_exts + 3) / 4);
    return j->n_sig_exts <= 1 && j->n_exts <= 4 * RC_JA4_EXT_WORDS
        && j->cipher_len + *ext_bytes + j->sig_len <= RC_JA4_RAW_BYTES;
}

/* The JA4 of a well-formed ClientHello parsed with want == RC_JA4_RAW (j:
 * its spans and raw extension types; the hello message's body is at
 * [body, lim) of the buffer of len bytes): from the raw memo when its lists
 * were seen, else the lists are collected by parsing the body again and the
 * JA4 made (and kept) as without the raw memo.  Sets out->ja4 or leaves it
 * "" exactly as rc_ja4 after a parse with RC_JA4_LISTS would. */
static inline void rc_ja4_memoized(const uint8_t *p, size_t len, size_t body, size_t lim, char proto,
                                   rc_tls_hello *out, rc_ja4_lists *j, rc_ja4_memo *memo)
{
    rc_ja4_raw_entry *slot = NULL;
    rc_tls_hello again;
    size_t ext_bytes;
    uint64_t key = 0;
    int r;
    if (rc_ja4_raw_fits(j, &ext_bytes)) {
        const uint8_t *ciphers = p + j->cipher_off, *sigs = p + j->sig_off;
        const uint8_t *exts = (const uint8_t *)j->ext_types;
        key = rc_ja4_raw_key(ciphers, j->cipher_len, exts, ext_bytes, sigs, j->sig_len);
        /* two slots per key (idx and its neighbour): two clients whose keys
         * land on one slot do not evict each other batch-long */
        slot = &memo->raw[(key >> 32) % RC_JA4_RAW_SLOTS];
        if (!(slot->used && slot->key == key)) {
            rc_ja4_raw_entry *other = &memo->raw[((key >> 32) % RC_JA4_RAW_SLOTS) ^ 1];
            if ((other->used && other->key == key) || (slot->used && !other->used))
                slot = other;
        }
        if (slot->used && slot->key == key && slot->cipher_len == j->cipher_len
            && slot->n_exts == j->n_exts && slot->sig_len == j->sig_len
            && rc_ja4_same(slot->b, ciphers, j->cipher_len)
            && rc_ja4_same(slot->b + j->cipher_len, exts, ext_bytes)
            && rc_ja4_same(slot->b + j->cipher_len + ext_bytes, sigs, j->sig_len)) {
            rc_copy36(out->ja4, slot->ja4);
            rc_ja4_head(p, proto, out, out->ja4);
            out->ja4[36] = 0;
            return;
        }
        /* the key bytes now, before the lists are collected into j */
        slot->used = 0;
        slot->key = key;
        slot->cipher_len = (uint16_t)j->cipher_len;
        slot->n_exts = (uint16_t)j->n_exts;
        slot->sig_len = (uint16_t)j->sig_len;
        memcpy(slot->b, ciphers, j->cipher_len);
        memcpy(slot->b + j->cipher_len, exts, ext_bytes);
        memcpy(slot->b + j->cipher_len + ext_bytes, sigs, j->sig_len);
    }
    /* a miss: the lists, as a parse without the raw memo collects them */
    memset(&again, 0, sizeof again);
    j->n_ciphers = j->n_exts = j->n_sigs = 0;
    j->has_sni = j->too_many = 0;
    j->want = RC_JA4_LISTS;
    r = rc_tls_hello_body(p, len, body, lim, 1, &again, j);
    if (r != RC_SPAN_OK || j->too_many)
        return;              /* (r cannot differ: the same bytes parsed well before) */
    rc_ja4(p, proto, out, j, memo);
    if (slot) {
        rc_copy36(slot->ja4, out->ja4);
        slot->used = 1;
    }
}

/* ------------------------------------------------------- the two parsers */

/* A handshake message at p[start ..], the buffer being len bytes long. */
static inline int rc_tls_handshake_at(const uint8_t *p, size_t len, size_t start, char proto,
                                      rc_tls_hello *out, rc_ja4_memo *memo)
{
    rc_ja4_lists j;
    int r, client;
    size_t lim;
    memset(out, 0, sizeof *out);
    if (start >= len || (p[start] != 1 && p[start] != 2))
        return 0;
    client = p[start] == 1;
    out->is_client = (uint8_t)client;
    out->is_server = (uint8_t)!client;
    if (len - start < 4) {
        out->truncated = 1;
        return 1;
    }
    lim = rc_tls_end(start + 4, ((size_t)p[start + 1] << 16) | ((size_t)p[start + 2] << 8) | p[start + 3]);
    j.n_ciphers = j.n_exts = j.n_sigs = 0;
    j.cipher_off = j.cipher_len = j.sig_off = j.sig_len = 0;
    j.n_sig_exts = 0;
    j.has_sni = j.too_many = 0;
    j.want = !proto ? RC_JA4_NONE : memo ? RC_JA4_RAW : RC_JA4_LISTS;
    j.layouts = memo ? memo->layout : NULL;
    j.layout = NULL;
    j.layout_read = 0;
    j.ext_types = j.ext_words;
    r = rc_tls_hello_body(p, len, start + 4, lim, client, out, &j);
    if (r == RC_SPAN_CUT) {
        out->truncated = 1;
    } else if (r == RC_SPAN_BAD) {
        out->malformed = 1;
    } else if (client && j.want == RC_JA4_RAW) {
        rc_tls_layout *l = j.layout;
        if (l && j.layout_read && l->ja4_ok && l->cipher_len == j.cipher_len && l->sig_len == j.sig_len
            && rc_ja4_same(l->lists, p + j.cipher_off, j.cipher_len)
            && rc_ja4_same(l->lists + j.cipher_len, p + j.sig_off, j.sig_len)) {
            /* the headers, the ciphers and the signature algorithms of the
             * layout's last hello: its JA4 but for what rc_ja4_head writes */
            rc_copy36(out->ja4, l->ja4);
            rc_ja4_head(p, proto, out, out->ja4);
            out->ja4[36] = 0;
        } else {
            rc_ja4_memoized(p, len, start + 4, lim, proto, out, &j, memo);
            if (l && out->ja4[0] && j.n_sig_exts <= 1 && j.cipher_len + j.sig_len <= sizeof l->lists) {
                l->cipher_len = (uint16_t)j.cipher_len;
                l->sig_len = (uint16_t)j.sig_len;
                memcpy(l->lists, p + j.cipher_off, j.cipher_len);
                memcpy(l->lists + j.cipher_len, p + j.sig_off, j.sig_len);
                rc_copy36(l->ja4, out->ja4);
                l->ja4_ok = 1;
            }
        }
    } else if (client && proto && !j.too_many) {
        rc_ja4(p, proto, out, &j, memo);
    }
    /* a field cut in the middle was never set; keep the others */
    return 1;
}

static inline int rc_tls_parse_handshake_memo(const uint8_t *p, size_t len, char quic_or_tcp,
                                              rc_tls_hello *out, rc_ja4_memo *memo)
{
    return rc_tls_handshake_at(p, len, 0, quic_or_tcp, out, memo);
}

static inline int rc_tls_parse_handshake(const uint8_t *p, size_t len, char quic_or_tcp, rc_tls_hello *out)
{
    return rc_tls_handshake_at(p, len, 0, quic_or_tcp, out, NULL);
}

static inline int rc_tls_parse_record_memo(const uint8_t *p, size_t len, char quic_or_tcp,
                                           rc_tls_hello *out, rc_ja4_memo *memo)
{
    size_t rec_len;
    int r;
    /* zeroed here as well as in rc_tls_handshake_at: without it gcc compiles the
     * application pass's loop, which inlines this test, two instructions a
     * packet longer, for every packet that is no hello */
    memset(out, 0, sizeof *out);
    /* content type handshake, record version 3.0-3.4, then hello type 1 or 2 */
    if (len < 6 || p[0] != 22 || p[1] != 3 || p[2] > 4 || (p[5] != 1 && p[5] != 2))
        return 0;
    rec_len = rc_be16(p + 3);
    if (rec_len > 16384 || rec_len == 0) {      /* a plaintext record holds at most 2^14 bytes */
        out->is_client = p[5] == 1;
        out->is_server = p[5] == 2;
        out->malformed = 1;
        return 1;
    }
    /* the handshake message as far as this record carries it */
    r = rc_tls_handshake_at(p, len - 5 > rec_len ? 5 + rec_len : len, 5, quic_or_tcp, out, memo);
    return r;
}

static inline int rc_tls_parse_record(const uint8_t *p, size_t len, char quic_or_tcp, rc_tls_hello *out)
{
    return rc_tls_parse_record_memo(p, len, quic_or_tcp, out, NULL);
}

/* Tests: the raw memo's key of the ClientHello in the TLS record p (len
 * bytes, exactly the record), as the memo computes it; 0 when the hello is
 * not complete and well-formed or its lists do not fit the raw memo. */
static inline uint64_t rc_tls_ja4_raw_key_of_record(const uint8_t *p, size_t len)
{
    rc_tls_hello out;
    rc_ja4_lists j;
    size_t lim, ext_bytes;
    memset(&out, 0, sizeof out);
    memset(&j, 0, sizeof j);
    if (len < 9 || p[0] != 22 || p[5] != 1)
        return 0;
    lim = rc_tls_end(9, ((size_t)p[6] << 16) | ((size_t)p[7] << 8) | p[8]);
    j.want = RC_JA4_RAW;
    j.ext_types = j.ext_words;
    if (rc_tls_hello_body(p, len, 9, lim, 1, &out, &j) != RC_SPAN_OK || !rc_ja4_raw_fits(&j, &ext_bytes))
        return 0;
    return rc_ja4_raw_key(p + j.cipher_off, j.cipher_len, (const uint8_t *)j.ext_types, ext_bytes,
                          p + j.sig_off, j.sig_len);
}

/* ------------------------------------------------------------ QUIC Initial */

typedef struct {
    uint32_t version;
    uint8_t initial_type;    /* long-header packet type of Initial */
    uint8_t v2_labels;       /* "quicv2 key" etc. instead of "quic key" */
    uint8_t salt[20];
} rc_quic_version;

static inline const rc_quic_version *rc_quic_lookup(uint32_t version)
{
    static const rc_quic_version known[] = {
        {0x00000001u, 0, 0, {0x38, 0x76, 0x2c, 0xf7, 0xf5, 0x59, 0x34, 0xb3, 0x4d, 0x17,
                             0x9a, 0xe6, 0xa4, 0xc8, 0x0c, 0xad, 0xcc, 0xbb, 0x7f, 0x0a}},
        {0x6b3343cfu, 1, 1, {0x0d, 0xed, 0xe3, 0xde, 0xf7, 0x00, 0xa6, 0xdb, 0x81, 0x93,
                             0x81, 0xbe, 0x6e, 0x26, 0x9d, 0xcb, 0xf9, 0xbd, 0x2e, 0xd9}},
        /* drafts 29-32 share a salt; 33 and 34 use version 1's */
        {0xff00001du, 0, 0, {0xaf, 0xbf, 0xec, 0x28, 0x99, 0x93, 0xd2, 0x4c, 0x9e, 0x97,
                             0x86, 0xf1, 0x9c, 0x61, 0x11, 0xe0, 0x43, 0x90, 0xa8, 0x99}},
    };
    if (version >= 0xff00001du && version <= 0xff000020u)
        return &known[2];
    if (version == 0xff000021u || version == 0xff000022u)
        return &known[0];
    if (version == known[0].version)
        return &known[0];
    if (version == known[1].version)
        return &known[1];
    return NULL;
}

/* The client's Initial secret, key, IV and header-protection key for a
 * version and Destination Connection ID; 0 for an unknown version. */
static inline int rc_quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
                                       uint8_t secret[32], uint8_t key[16], uint8_t iv[12],
                                       uint8_t hp[16])
{
    const rc_quic_version *v = rc_quic_lookup(version);
    uint8_t initial[32];
    rc_hmac_ctx keyed;
    if (!v)
        return 0;
    rc_hkdf_extract(v->salt, sizeof v->salt, dcid, dcid_len, initial);
    rc_hmac_init(&keyed, initial, sizeof initial);
    rc_hkdf_expand_label32(&keyed, "client in", 9, secret, 32);
    rc_hmac_init(&keyed, secret, 32);
    if (v->v2_labels) {
        rc_hkdf_expand_label32(&keyed, "quicv2 key", 10, key, 16);
        rc_hkdf_expand_label32(&keyed, "quicv2 iv", 9, iv, 12);
        rc_hkdf_expand_label32(&keyed, "quicv2 hp", 9, hp, 16);
    } else {
        rc_hkdf_expand_label32(&keyed, "quic key", 8, key, 16);
        rc_hkdf_expand_label32(&keyed, "quic iv", 7, iv, 12);
        rc_hkdf_expand_label32(&keyed, "quic hp", 7, hp, 16);
    }
    return 1;
}

/* A variable-length integer (RFC 9000 16) at *pos of a buffer of len bytes. */
static inline int rc_quic_varint(const uint8_t *p, size_t len, size_t *pos, uint64_t *v)
{
    size_t n, i;
    if (*pos >= len)
        return 0;
    n = (size_t)1 << (p[*pos] >> 6);
    if (n > len - *pos)
        return 0;
    *v = p[*pos] & 0x3f;
    for (i = 1; i < n; i++)
        *v = (*v << 8) | p[*pos + i];
    *pos += n;
    return 1;
}

/* Reads the decrypted payload byte by byte: AES-CTR is seekable, so nothing
 * but one keystream block is held. */
typedef struct {
    const rc_gcm *g;
    const uint8_t *ct;
    size_t len;
    size_t block;            /* the block in ks, or SIZE_MAX */
    uint8_t ks[16];
} rc_quic_plain;

static inline uint8_t rc_quic_byte(rc_quic_plain *r, size_t i)
{
    if (i / 16 != r->block) {
        r->block = i / 16;
        rc_gcm_keystream(r->g, r->block, r->ks);
    }
    return r->ct[i] ^ r->ks[i % 16];
}

static inline int rc_quic_pvarint(rc_quic_plain *r, size_t *pos, uint64_t *v)
{
    size_t n, i;
    uint8_t b;
    if (*pos >= r->len)
        return 0;
    b = rc_quic_byte(r, *pos);
    n = (size_t)1 << (b >> 6);
    if (n > r->len - *pos)
        return 0;
    *v = b & 0x3f;
    for (i = 1; i < n; i++)
        *v = (*v << 8) | rc_quic_byte(r, *pos + i);
    *pos += n;
    return 1;
}

#define RC_QUIC_MAX_CRYPTO_FRAMES 64

static inline int rc_quic_initial(const uint8_t *p, size_t len, uint8_t *scratch, size_t scratch_len,
                                  uint32_t *version, uint8_t *dcid_len, const uint8_t **crypto,
                                  size_t *crypto_len)
{
    const rc_quic_version *vi;
    uint8_t secret[32], key[16], iv[12], hp[16], mask[16], b0, pn_bytes[4];
    uint8_t tag[16];
    const uint8_t *dcid;
    size_t pos, dl, sl, pn_off, pn_len, pkt_end, payload, ct_len, i, covered;
    size_t starts[RC_QUIC_MAX_CRYPTO_FRAMES], ends[RC_QUIC_MAX_CRYPTO_FRAMES], n_frames = 0;
    uint64_t v, pn = 0;
    uint32_t ver;
    rc_aes128 hpk;
    rc_gcm g;
    rc_ghash s;
    rc_quic_plain r;
    int changed;

    *version = 0;
    *dcid_len = 0;
    *crypto = NULL;
    *crypto_len = 0;
    /* long header: form, fixed bit, type, version, DCID, SCID */
    if (len < 7 || !(p[0] & 0x80))
        return 0;
    ver = rc_be32(p + 1);
    vi = rc_quic_lookup(ver);
    if (!vi || ((p[0] >> 4) & 3) != vi->initial_type)
        return 0;
    dl = p[5];
    pos = 6;
    if (dl > 20 || dl > len - pos)
        return 0;
    dcid = p + pos;
    pos += dl;
    *version = ver;
    *dcid_len = (uint8_t)dl;
    if (pos >= len)
        return 0;
    sl = p[pos++];
    if (sl > 20 || sl > len - pos)
        return 0;
    pos += sl;
    /* token, then the length of packet number + payload */
    if (!rc_quic_varint(p, len, &pos, &v) || v > len - pos)
        return 0;
    pos += (size_t)v;
    if (!rc_quic_varint(p, len, &pos, &v) || v > len - pos || v < 4 + 16)
        return 0;
    pn_off = pos;
    pkt_end = pos + (size_t)v;

    /* header protection: sample 16 bytes 4 bytes after the packet number start */
    rc_quic_initial_keys(ver, dcid, dl, secret, key, iv, hp);
    rc_aes128_init(&hpk, hp);
    rc_aes128_encrypt(&hpk, p + pn_off + 4, mask);
    b0 = p[0] ^ (mask[0] & 0x0f);
    pn_len = (size_t)(b0 & 3) + 1;
    for (i = 0; i < pn_len; i++) {
        pn_bytes[i] = p[pn_off + i] ^ mask[1 + i];
        pn = (pn << 8) | pn_bytes[i];
    }
    payload = pn_off + pn_len;
    ct_len = pkt_end - payload - 16;       /* >= 0: v >= 20 and pn_len <= 4 */

    /* AEAD: nonce = iv ^ packet number; AAD = the unprotected header */
    for (i = 0; i < 8; i++)
        iv[11 - i] ^= (uint8_t)(pn >> (8 * i));
    rc_gcm_init(&g, key, iv);
    memset(&s, 0, sizeof s);
    rc_ghash_update(&g, &s, &b0, 1);
    rc_ghash_update(&g, &s, p + 1, pn_off - 1);
    rc_ghash_update(&g, &s, pn_bytes, pn_len);
    rc_ghash_pad(&g, &s);
    rc_ghash_update(&g, &s, p + payload, ct_len);
    rc_gcm_tag(&g, &s, payload, ct_len, tag);
    if (memcmp(tag, p + payload + ct_len, 16) != 0)
        return 0;

    /* frames: copy CRYPTO data to its offset; stop at anything unexpected */
    r.g = &g;
    r.ct = p + payload;
    r.len = ct_len;
    r.block = SIZE_MAX;
    pos = 0;
    while (pos < ct_len) {
        uint64_t type, a, b, count, k;
        if (rc_quic_byte(&r, pos) == 0x00) {        /* PADDING, most of an Initial */
            pos++;
            continue;
        }
        if (!rc_quic_pvarint(&r, &pos, &type))
            break;
        if (type == 0x00 || type == 0x01)          /* PADDING (in more bytes), PING */
            continue;
        if (type == 0x02 || type == 0x03) {        /* ACK */
            if (!rc_quic_pvarint(&r, &pos, &a) || !rc_quic_pvarint(&r, &pos, &a)
                || !rc_quic_pvarint(&r, &pos, &count) || !rc_quic_pvarint(&r, &pos, &a))
                break;
            for (k = 0; k < count; k++)
                if (!rc_quic_pvarint(&r, &pos, &a) || !rc_quic_pvarint(&r, &pos, &a))
                    break;
            if (k < count)
                break;
            if (type == 0x03 && (!rc_quic_pvarint(&r, &pos, &a) || !rc_quic_pvarint(&r, &pos, &a)
                                 || !rc_quic_pvarint(&r, &pos, &a)))
                break;
            continue;
        }
        if (type == 0x1c || type == 0x1d) {        /* CONNECTION_CLOSE */
            if (!rc_quic_pvarint(&r, &pos, &a) || (type == 0x1c && !rc_quic_pvarint(&r, &pos, &a))
                || !rc_quic_pvarint(&r, &pos, &b) || b > ct_len - pos)
                break;
            pos += (size_t)b;
            continue;
        }
        if (type != 0x06)
            break;
        /* CRYPTO: offset, length, data */
        if (!rc_quic_pvarint(&r, &pos, &a) || !rc_quic_pvarint(&r, &pos, &b) || b > ct_len - pos)
            break;
        if (scratch && a < scratch_len) {
            size_t off = (size_t)a, n = (size_t)b;
            if (n > scratch_len - off)
                n = scratch_len - off;
            for (i = 0; i < n; i++)
                scratch[off + i] = rc_quic_byte(&r, pos + i);
            if (n && n_frames < RC_QUIC_MAX_CRYPTO_FRAMES) {
                starts[n_frames] = off;
                ends[n_frames] = off + n;
                n_frames++;
            }
        }
        pos += (size_t)b;
    }
    /* the bytes from offset 0 without a gap */
    covered = 0;
    do {
        changed = 0;
        for (i = 0; i < n_frames; i++)
            if (starts[i] <= covered && ends[i] > covered) {
                covered = ends[i];
                changed = 1;
            }
    } while (changed);
    *crypto = scratch;
    *crypto_len = covered;
    return 1;
}

#endif /* RINGCAP_TLS_HELLO_H */
