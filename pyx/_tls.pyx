# Test access to pyx/tls_hello.h: the TLS hello parsers, JA4, the QUIC client
# Initial and the hashes and ciphers under them, one call per byte string.
#
# The decoder proper (ringcap's application columns) calls the header from
# its own nogil pass; this module only lets tests reach every function.  Each
# input is first copied into a malloc'd buffer of exactly its size, so that
# under AddressSanitizer (tests/test_sanitizers.py) reading one byte past the
# end aborts the run instead of reading a neighbour.

from libc.stdint cimport uint8_t, uint32_t
from libc.stdlib cimport calloc, malloc, free
from libc.string cimport memcpy, memset

from includes.tls_defs cimport *


cdef class _Exact:
    """A private copy of a byte string in an allocation of exactly its size."""
    cdef uint8_t *p
    cdef size_t n

    def __cinit__(self, const uint8_t[:] data):
        self.n = data.shape[0]
        self.p = <uint8_t *>malloc(self.n) if self.n else NULL
        if self.n and self.p == NULL:
            raise MemoryError()
        if self.n:
            memcpy(self.p, &data[0], self.n)

    def __dealloc__(self):
        free(self.p)


cdef char _proto(str quic_or_tcp) except? -1:
    if quic_or_tcp == "":
        return 0
    if quic_or_tcp not in ("t", "q", "d"):
        raise ValueError(f"quic_or_tcp must be 't', 'q', 'd' or '' (no JA4), not {quic_or_tcp!r}")
    return ord(quic_or_tcp)


cdef dict _hello(int found, rc_tls_hello *h, const uint8_t *buf):
    return {
        "found": bool(found),
        "is_client": bool(h.is_client), "is_server": bool(h.is_server),
        "truncated": bool(h.truncated), "malformed": bool(h.malformed),
        "legacy_version": h.legacy_version, "version": h.version, "cipher": h.cipher,
        "sni_off": h.sni_off, "sni_len": h.sni_len,
        "sni": buf[h.sni_off:h.sni_off + h.sni_len] if h.sni_len else None,
        "alpn_off": h.alpn_off, "alpn_len": h.alpn_len,
        "alpn": buf[h.alpn_off:h.alpn_off + h.alpn_len] if h.alpn_len else None,
        "ja4": h.ja4.decode("ascii"),
    }


def parse_tls_record(data, str quic_or_tcp="t") -> dict:
    """rc_tls_parse_record on a TLS record (a TCP payload)."""
    cdef _Exact b = _Exact(data)
    cdef rc_tls_hello h
    cdef char proto = _proto(quic_or_tcp)
    cdef int found
    memset(&h, 0xAB, sizeof(h))      # the parser must set every field
    with nogil:
        found = rc_tls_parse_record(b.p, b.n, proto, &h)
    return _hello(found, &h, b.p)


def parse_tls_records_memo(list records, str quic_or_tcp="t") -> list:
    """rc_tls_parse_record_memo on each record in turn, one JA4 memo for all
    (as the application pass keeps one per batch).  quic_or_tcp: one
    character for every record, or one per record."""
    cdef list copies = [_Exact(r) for r in records]
    cdef _Exact b
    cdef rc_tls_hello h
    cdef char proto
    cdef int found
    cdef Py_ssize_t k
    cdef rc_ja4_memo *memo
    cdef list out = []
    if len(quic_or_tcp) > 1 and len(quic_or_tcp) != len(records):
        raise ValueError("quic_or_tcp: one character, or one per record")
    protos = [_proto(c) for c in (quic_or_tcp * len(records) if len(quic_or_tcp) <= 1 else quic_or_tcp)]
    memo = <rc_ja4_memo *>calloc(1, sizeof(rc_ja4_memo))
    if memo == NULL:
        raise MemoryError()
    try:
        for k in range(len(copies)):
            b = copies[k]
            proto = protos[k] if quic_or_tcp else 0
            memset(&h, 0xAB, sizeof(h))
            with nogil:
                found = rc_tls_parse_record_memo(b.p, b.n, proto, &h, memo)
            out.append(_hello(found, &h, b.p))
        return out
    finally:
        free(memo)


def ja4_raw_key(data) -> int:
    """The JA4 memo's cheap key of a ClientHello record's raw lists (0: not kept)."""
    cdef _Exact b = _Exact(data)
    return rc_tls_ja4_raw_key_of_record(b.p, b.n)


def parse_tls_handshake(data, str quic_or_tcp="t") -> dict:
    """rc_tls_parse_handshake on a bare handshake message."""
    cdef _Exact b = _Exact(data)
    cdef rc_tls_hello h
    cdef char proto = _proto(quic_or_tcp)
    cdef int found
    memset(&h, 0xAB, sizeof(h))
    with nogil:
        found = rc_tls_parse_handshake(b.p, b.n, proto, &h)
    return _hello(found, &h, b.p)


def quic_initial_probe(data, size_t scratch_len=4096) -> tuple:
    """(returned, version, dcid_len, crypto bytes) of rc_quic_initial."""
    cdef _Exact b = _Exact(data)
    cdef uint8_t *scratch = <uint8_t *>malloc(scratch_len) if scratch_len else NULL
    cdef uint32_t version = 0xdeadbeef
    cdef uint8_t dcid_len = 0xee
    cdef const uint8_t *crypto = <const uint8_t *>b.p
    cdef size_t crypto_len = 12345
    cdef int found
    if scratch_len and scratch == NULL:
        raise MemoryError()
    try:
        with nogil:
            found = rc_quic_initial(b.p, b.n, scratch, scratch_len, &version, &dcid_len,
                                    &crypto, &crypto_len)
        if found:
            assert crypto == scratch or (crypto_len == 0 and scratch == NULL)
            payload = crypto[:crypto_len] if crypto_len else b""
        else:
            assert crypto == NULL and crypto_len == 0
            payload = None
        return found, version, dcid_len, payload
    finally:
        free(scratch)


def quic_initial(data, size_t scratch_len=4096):
    """{version, dcid_len, crypto} if rc_quic_initial decrypted a client Initial, else None."""
    found, version, dcid_len, crypto = quic_initial_probe(data, scratch_len)
    if not found:
        return None
    return {"version": version, "dcid_len": dcid_len, "crypto": crypto}


def quic_initial_keys(uint32_t version, dcid):
    """(secret, key, iv, hp) of a client Initial, or None for an unknown version."""
    cdef _Exact d = _Exact(dcid)
    cdef uint8_t secret[32]
    cdef uint8_t key[16]
    cdef uint8_t iv[12]
    cdef uint8_t hp[16]
    if not rc_quic_initial_keys(version, d.p, d.n, secret, key, iv, hp):
        return None
    return secret[:32], key[:16], iv[:12], hp[:16]


def sha256(data) -> bytes:
    cdef _Exact b = _Exact(data)
    cdef uint8_t out[32]
    rc_sha256(b.p, b.n, out)
    return out[:32]


def sha256_compress(state, data, str path) -> tuple | None:
    """SHA-256's compression of the whole 64-byte blocks of ``data`` from the
    8-word ``state``, by one path: "portable" or "shani" (None if the CPU
    lacks the SHA extensions).  Tests compare both with hashlib."""
    cdef _Exact b = _Exact(data)
    cdef uint32_t h[8]
    cdef int k
    if b.n % 64:
        raise ValueError("data must be whole 64-byte blocks")
    for k in range(8):
        h[k] = state[k]
    if path == "portable":
        rc_sha256_blocks_c(h, b.p, b.n // 64)
    elif path == "shani":
        if not rc_sha256_blocks_ni_run(h, b.p, b.n // 64):
            return None
    else:
        raise ValueError(f"unknown path {path!r}: portable or shani")
    return tuple(h[k] for k in range(8))


def hmac_sha256(key, data) -> bytes:
    cdef _Exact k = _Exact(key)
    cdef _Exact b = _Exact(data)
    cdef uint8_t out[32]
    rc_hmac_sha256(k.p, k.n, b.p, b.n, out)
    return out[:32]


def hkdf_extract(salt, ikm) -> bytes:
    cdef _Exact s = _Exact(salt)
    cdef _Exact i = _Exact(ikm)
    cdef uint8_t out[32]
    rc_hkdf_extract(s.p, s.n, i.p, i.n, out)
    return out[:32]


cdef bytes _expanded(int ok, uint8_t *out, size_t length):
    try:
        if not ok:
            raise ValueError(f"cannot expand to {length} bytes")
        return out[:length] if length else b""
    finally:
        free(out)


def hkdf_expand(prk, info, size_t length) -> bytes:
    cdef _Exact k = _Exact(prk)
    cdef _Exact i = _Exact(info)
    cdef uint8_t *out = <uint8_t *>malloc(length if length else 1)
    if out == NULL:
        raise MemoryError()
    return _expanded(rc_hkdf_expand(k.p, k.n, i.p, i.n, out, length), out, length)


def hkdf_expand_label(secret, bytes label, context, size_t length) -> bytes:
    cdef _Exact k = _Exact(secret)
    cdef _Exact c = _Exact(context)
    cdef uint8_t *out = <uint8_t *>malloc(length if length else 1)
    if out == NULL:
        raise MemoryError()
    return _expanded(rc_hkdf_expand_label(k.p, k.n, label, len(label), c.p, c.n, out, length),
                     out, length)


def aes128_encrypt_block(key, block) -> bytes:
    cdef _Exact k = _Exact(key)
    cdef _Exact b = _Exact(block)
    cdef rc_aes128 a
    cdef uint8_t out[16]
    if k.n != 16 or b.n != 16:
        raise ValueError("AES-128 takes a 16-byte key and a 16-byte block")
    rc_aes128_init(&a, k.p)
    rc_aes128_encrypt(&a, b.p, out)
    return out[:16]


def gcm_seal(key, iv, aad, plaintext) -> tuple:
    """(ciphertext, tag) of AES-128-GCM with a 96-bit IV."""
    cdef _Exact k = _Exact(key)
    cdef _Exact v = _Exact(iv)
    cdef _Exact a = _Exact(aad)
    cdef _Exact p = _Exact(plaintext)
    cdef uint8_t tag[16]
    cdef uint8_t *ct
    if k.n != 16 or v.n != 12:
        raise ValueError("AES-128-GCM takes a 16-byte key and a 12-byte IV")
    ct = <uint8_t *>malloc(p.n if p.n else 1)
    if ct == NULL:
        raise MemoryError()
    try:
        rc_aes128_gcm_seal(k.p, v.p, a.p, a.n, p.p, p.n, ct, tag)
        return (ct[:p.n] if p.n else b""), tag[:16]
    finally:
        free(ct)


def gcm_open(key, iv, aad, ciphertext, tag):
    """The plaintext if the tag verifies, else None."""
    cdef _Exact k = _Exact(key)
    cdef _Exact v = _Exact(iv)
    cdef _Exact a = _Exact(aad)
    cdef _Exact c = _Exact(ciphertext)
    cdef _Exact t = _Exact(tag)
    cdef uint8_t *pt
    if k.n != 16 or v.n != 12 or t.n != 16:
        raise ValueError("AES-128-GCM takes a 16-byte key, a 12-byte IV and a 16-byte tag")
    pt = <uint8_t *>malloc(c.n if c.n else 1)
    if pt == NULL:
        raise MemoryError()
    try:
        if not rc_aes128_gcm_open(k.p, v.p, a.p, a.n, c.p, c.n, t.p, pt):
            return None
        return pt[:c.n] if c.n else b""
    finally:
        free(pt)
