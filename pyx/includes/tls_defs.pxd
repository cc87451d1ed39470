# Declarations for pyx/tls_hello.h: TLS ClientHello/ServerHello fields, JA4,
# the QUIC client Initial, and the hashes and ciphers under them.  The
# contract (bounds, flags, return values) is the comment at the top of the
# header.
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t


cdef extern from "tls_hello.h" nogil:
    ctypedef struct rc_tls_hello:
        uint16_t legacy_version
        uint16_t version         # highest supported_versions entry (ClientHello) or selection
        uint32_t sni_off         # offsets into the buffer passed in; len 0 = absent
        uint32_t sni_len
        uint32_t alpn_off        # the first ALPN protocol
        uint32_t alpn_len
        char ja4[37]             # NUL-terminated; "" unless a complete ClientHello
        uint16_t cipher          # ServerHello: the chosen cipher suite
        uint8_t is_client
        uint8_t is_server
        uint8_t truncated
        uint8_t malformed

    int rc_tls_parse_record(const uint8_t *p, size_t len, char quic_or_tcp, rc_tls_hello *out)
    # the same with a memo of JA4 parts shared by many hellos (zeroed by the caller)
    ctypedef struct rc_ja4_memo:
        pass
    int rc_tls_parse_record_memo(const uint8_t *p, size_t len, char quic_or_tcp, rc_tls_hello *out,
                                 rc_ja4_memo *memo)
    uint64_t rc_tls_ja4_raw_key_of_record(const uint8_t *p, size_t len)
    int rc_tls_parse_handshake(const uint8_t *p, size_t len, char quic_or_tcp, rc_tls_hello *out)
    int rc_quic_initial(const uint8_t *p, size_t len, uint8_t *scratch, size_t scratch_len,
                        uint32_t *version, uint8_t *dcid_len, const uint8_t **crypto,
                        size_t *crypto_len)
    int rc_quic_initial_keys(uint32_t version, const uint8_t *dcid, size_t dcid_len,
                             uint8_t *secret, uint8_t *key, uint8_t *iv, uint8_t *hp)

    # the primitives (tests check them against published vectors)
    void rc_sha256(const uint8_t *p, size_t n, uint8_t *out)
    # one compression path forced: the portable one, or SHA-NI (0 if absent)
    void rc_sha256_blocks_c(uint32_t *h, const uint8_t *p, size_t blocks)
    int rc_sha256_blocks_ni_run(uint32_t *h, const uint8_t *p, size_t blocks)
    void rc_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *p, size_t n,
                        uint8_t *out)
    void rc_hkdf_extract(const uint8_t *salt, size_t salt_len, const uint8_t *ikm,
                         size_t ikm_len, uint8_t *prk)
    int rc_hkdf_expand(const uint8_t *prk, size_t prk_len, const uint8_t *info, size_t info_len,
                       uint8_t *out, size_t out_len)
    int rc_hkdf_expand_label(const uint8_t *secret, size_t secret_len, const char *label,
                             size_t label_len, const uint8_t *context, size_t context_len,
                             uint8_t *out, size_t out_len)
    ctypedef struct rc_aes128:
        pass
    void rc_aes128_init(rc_aes128 *a, const uint8_t *key)
    void rc_aes128_encrypt(const rc_aes128 *a, const uint8_t *inp, uint8_t *out)
    void rc_aes128_gcm_seal(const uint8_t *key, const uint8_t *iv, const uint8_t *aad,
                            size_t aad_len, const uint8_t *pt, size_t n, uint8_t *ct,
                            uint8_t *tag)
    int rc_aes128_gcm_open(const uint8_t *key, const uint8_t *iv, const uint8_t *aad,
                           size_t aad_len, const uint8_t *ct, size_t n, const uint8_t *tag,
                           uint8_t *pt)
