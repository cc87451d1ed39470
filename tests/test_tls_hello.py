"""pyx/tls_hello.h: TLS hellos, JA4 and the QUIC client Initial, on real and published bytes.

The header is reached through ``ringcap._tls``, which copies every input into
an allocation of exactly its size (so the sanitizer run in
tests/test_sanitizers.py catches a read past the end).  What is checked:

* the primitives against published vectors: SHA-256 against hashlib, HMAC
  against Python's hmac, HKDF against RFC 5869, AES-128 against FIPS-197,
  AES-128-GCM against the GCM specification's test cases (McGrew & Viega,
  as NIST republished them);
* QUIC Initial keys and packets against RFC 9001 Appendix A (v1) and RFC 9369
  Appendix A (v2), byte for byte, and Initials built here (other versions,
  Python ssl ClientHellos, CRYPTO frames out of order) against tshark's own
  QUIC decryption;
* ClientHellos and ServerHellos made by Python's ssl (OpenSSL) for TLS 1.2
  and 1.3, field by field against tshark;
* JA4 against the examples in FoxIO's specification and against a reference
  written here in Python from that specification;
* truncation at every length, malformed lengths, and fuzzing (hypothesis and
  random mutation of the real hellos and the RFC Initial).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import random
import shutil
import ssl
import struct
import subprocess
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ringcap import _tls

BUDGET = float(os.environ.get("RINGCAP_FUZZ_SECONDS", "6"))
FUZZ = settings(max_examples=60, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))
GREASE = [0x0a0a + 0x1010 * i for i in range(16)]
QUIC_V1, QUIC_V2, QUIC_DRAFT29 = 0x00000001, 0x6B3343CF, 0xFF00001D


def for_a_while(test) -> int:
    """Run the hypothesis test until the fuzzing budget is spent; returns the rounds."""
    deadline = time.monotonic() + BUDGET
    rounds = 0
    while True:
        test()
        rounds += 1
        if time.monotonic() >= deadline:
            return rounds


# ------------------------------------------------------------ the header

HEADER_USE = r"""
#include "tls_hello.h"
int use(const uint8_t *p, size_t n, uint8_t *scratch, rc_tls_hello *h, rc_ja4_memo *memo) {
    uint32_t version; uint8_t dcid_len; const uint8_t *crypto; size_t crypto_len;
    uint8_t s[32] = {0}, k[16] = {0}, iv[12] = {0}, hp[16] = {0}, tag[16] = {0};
    rc_aes128_gcm_seal(k, iv, p, n, p, n, scratch, tag);
    return rc_tls_parse_record(p, n, 't', h) + rc_tls_parse_handshake(p, n, 'q', h)
        + rc_tls_parse_record_memo(p, n, 't', h, memo) + rc_tls_parse_handshake_memo(p, n, 'q', h, memo)
        + (int)(rc_tls_ja4_raw_key_of_record(p, n) & 1)
        + rc_quic_initial(p, n, scratch, n, &version, &dcid_len, &crypto, &crypto_len)
        + rc_quic_initial_keys(1, p, n, s, k, iv, hp) + rc_aes128_gcm_open(k, iv, p, n, p, n, tag, scratch)
        + rc_hkdf_expand_label(p, n, "x", 1, p, n, scratch, n);
}
"""


def test_the_header_is_plain_c_calling_nothing_but_memcpy_memset_memcmp(tmp_path):
    """Pure C99 that compiles without warnings and links to no library function but three
    (and libgcc's CPU feature word, for SHA-NI)."""
    (tmp_path / "use.c").write_text(HEADER_USE)
    pyx = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "pyx")
    for opt in ("-O0", "-O2"):
        subprocess.run(["gcc", "-std=c99", "-pedantic", "-Wall", "-Wextra", "-Wconversion",
                        "-Wno-sign-conversion", "-Werror", opt, "-fno-builtin", "-fno-stack-protector",
                        "-U_FORTIFY_SOURCE", "-I", pyx, "-c",
                        str(tmp_path / "use.c"), "-o", str(tmp_path / "use.o")], check=True)
        undefined = subprocess.run(["nm", "-u", str(tmp_path / "use.o")], capture_output=True, text=True,
                                   check=True).stdout.split()
        # beyond libc's three: libgcc's CPU feature words (is SHA-NI there?) and the GOT
        assert set(undefined) - {"U"} <= {"memcpy", "memset", "memcmp", "__cpu_model",
                                          "__cpu_features2", "_GLOBAL_OFFSET_TABLE_"}, (opt, undefined)


# ------------------------------------------------------------ primitives

def test_sha256_matches_hashlib_at_every_padding_boundary():
    rng = random.Random(1)
    for n in list(range(0, 200)) + [447, 448, 511, 512, 513, 1000, 4096, 65537]:
        data = bytes(rng.randrange(256) for _ in range(n))
        assert _tls.sha256(data) == hashlib.sha256(data).digest(), n
    assert _tls.sha256(b"abc").hex() == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")


def _padded(data: bytes) -> bytes:
    return data + b"\x80" + bytes((55 - len(data)) % 64) + (8 * len(data)).to_bytes(8, "big")


SHA256_IV = (0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
             0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19)


def test_sha256_both_compression_paths_match_hashlib():
    """The portable rounds and the SHA-NI ones (when the CPU has them: rc_sha256 then
    uses them, and the test above checks that path too) give hashlib's digests."""
    rng = random.Random(3)
    with open("/proc/cpuinfo") as cpuinfo:
        has_shani = "sha_ni" in cpuinfo.read().split()
    for n in list(range(0, 130)) + [1000, 4099]:
        data = bytes(rng.randrange(256) for _ in range(n))
        want = hashlib.sha256(data).digest()
        portable = _tls.sha256_compress(SHA256_IV, _padded(data), "portable")
        assert struct.pack(">8I", *portable) == want, n
        shani = _tls.sha256_compress(SHA256_IV, _padded(data), "shani")
        assert (shani is not None) == has_shani
        if shani is not None:
            assert struct.pack(">8I", *shani) == want, n
    with pytest.raises(ValueError, match="whole 64-byte blocks"):
        _tls.sha256_compress(SHA256_IV, b"abc", "portable")


def test_hmac_sha256_matches_python_hmac_for_short_and_long_keys():
    rng = random.Random(2)
    for key_len in (0, 1, 20, 32, 63, 64, 65, 131):
        key = bytes(rng.randrange(256) for _ in range(key_len))
        for n in (0, 1, 55, 64, 200):
            data = bytes(rng.randrange(256) for _ in range(n))
            assert _tls.hmac_sha256(key, data) == hmac.new(key, data, hashlib.sha256).digest()
    # RFC 4231 test case 2
    assert _tls.hmac_sha256(b"Jefe", b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")


@pytest.mark.parametrize("ikm, salt, info, length, prk, okm", [
    # RFC 5869 A.1, A.2, A.3
    ("0b" * 22, "000102030405060708090a0b0c", "f0f1f2f3f4f5f6f7f8f9", 42,
     "077709362c2e32df0ddc3f0dc47bba6390b6c73bb50f9c3122ec844ad7c2b3e5",
     "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"),
    (bytes(range(0x00, 0x50)).hex(), bytes(range(0x60, 0xb0)).hex(), bytes(range(0xb0, 0x100)).hex(),
     82, "06a6b88c5853361a06104c9ceb35b45cef760014904671014a193f40c15fc244",
     "b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e"
     "09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"),
    ("0b" * 22, "", "", 42,
     "19ef24a32c717b167f33a91d6f648bdf96596776afdb6377ac434c1c293ccb04",
     "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"),
])
def test_hkdf_rfc5869_vectors(ikm, salt, info, length, prk, okm):
    got_prk = _tls.hkdf_extract(bytes.fromhex(salt), bytes.fromhex(ikm))
    assert got_prk.hex() == prk
    assert _tls.hkdf_expand(got_prk, bytes.fromhex(info), length).hex() == okm


def _ref_expand_label(secret: bytes, label: bytes, context: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + bytes([len(context)]) + context
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(secret, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


def test_hkdf_expand_label_matches_a_python_reference_and_refuses_the_impossible():
    secret = bytes(range(32))
    for label, context, length in [(b"quic key", b"", 16), (b"client in", b"", 32),
                                   (b"c hs traffic", bytes(range(32)), 32), (b"x" * 249, b"", 100),
                                   (b"derived", b"\x01" * 255, 8160)]:
        assert _tls.hkdf_expand_label(secret, label, context, length) == \
            _ref_expand_label(secret, label, context, length)
    with pytest.raises(ValueError):
        _tls.hkdf_expand(secret, b"", 255 * 32 + 1)
    with pytest.raises(ValueError):
        _tls.hkdf_expand_label(secret, b"x" * 250, b"", 16)


def test_aes128_fips197_vectors():
    # FIPS-197 Appendix B and Appendix C.1
    assert _tls.aes128_encrypt_block(bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c"),
                                     bytes.fromhex("3243f6a8885a308d313198a2e0370734")).hex() == \
        "3925841d02dc09fbdc118597196a0b32"
    assert _tls.aes128_encrypt_block(bytes.fromhex("000102030405060708090a0b0c0d0e0f"),
                                     bytes.fromhex("00112233445566778899aabbccddeeff")).hex() == \
        "69c4e0d86a7b0430d8cdb78070b4c55a"


GCM_CASES = [
    # The GCM specification's test cases 1-4 (AES-128, 96-bit IV)
    ("00" * 16, "00" * 12, "", "", "", "58e2fccefa7e3061367f1d57a4e7455a"),
    ("00" * 16, "00" * 12, "", "00" * 16, "0388dace60b6a392f328c2b971b2fe78",
     "ab6e47d42cec13bdf53a67b21257bddf"),
    ("feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525"
     "b16aedf5aa0de657ba637b391aafd255",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa05"
     "1ba30b396a0aac973d58e091473f5985", "4d5c2af327cd64a62cf35abd2ba6fab4"),
    ("feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525"
     "b16aedf5aa0de657ba637b39",
     "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa05"
     "1ba30b396a0aac973d58e091", "5bc94fbc3221a5db94fae95ae7121a47"),
]


@pytest.mark.parametrize("key, iv, aad, pt, ct, tag", GCM_CASES)
def test_aes128_gcm_specification_vectors(key, iv, aad, pt, ct, tag):
    key, iv, aad, pt, ct, tag = map(bytes.fromhex, (key, iv, aad, pt, ct, tag))
    assert _tls.gcm_seal(key, iv, aad, pt) == (ct, tag)
    assert _tls.gcm_open(key, iv, aad, ct, tag) == pt
    bad = bytes([tag[0] ^ 1]) + tag[1:]
    assert _tls.gcm_open(key, iv, aad, ct, bad) is None
    if ct:
        assert _tls.gcm_open(key, iv, aad, bytes([ct[0] ^ 0x80]) + ct[1:], tag) is None
    assert _tls.gcm_open(key, iv, aad + b"\x00", ct, tag) is None


def test_aes128_gcm_round_trips_at_every_length():
    rng = random.Random(3)
    key, iv = bytes(rng.randrange(256) for _ in range(16)), bytes(rng.randrange(256) for _ in range(12))
    for n in range(0, 70):
        pt, aad = os.urandom(n), os.urandom(n % 37)
        ct, tag = _tls.gcm_seal(key, iv, aad, pt)
        assert len(ct) == n and _tls.gcm_open(key, iv, aad, ct, tag) == pt


# ------------------------------------------------------ QUIC: RFC vectors

def test_quic_initial_keys_rfc9001_and_rfc9369():
    dcid = bytes.fromhex("8394c8f03e515708")
    secret, key, iv, hp = _tls.quic_initial_keys(QUIC_V1, dcid)
    assert secret.hex() == "c00cf151ca5be075ed0ebfb5c80323c42d6b7db67881289af4008f1f6c357aea"
    assert (key.hex(), iv.hex(), hp.hex()) == (
        "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2")
    secret, key, iv, hp = _tls.quic_initial_keys(QUIC_V2, dcid)
    assert secret.hex() == "14ec9d6eb9fd7af83bf5a668bc17a7e283766aade7ecd0891f70f9ff7f4bf47b"
    assert (key.hex(), iv.hex(), hp.hex()) == (
        "8b1a0bc121284290a29e0971b5cd045d", "91f73e2351d8fa91660e909f", "45b95e15235d6f45a6b19cbcb0294ba9")
    assert _tls.quic_initial_keys(0x12345678, dcid) is None


# RFC 9001 A.2 (and RFC 9369 A.2, which protects the same payload): the
# client's CRYPTO frame, a ClientHello for example.com, then PADDING.
RFC_CRYPTO_FRAME = bytes.fromhex(
    "060040f1010000ed0303ebf8fa56f12939b9584a3896472ec40bb863cfd3e868"
    "04fe3a47f06a2b69484c00000413011302010000c000000010000e00000b6578"
    "616d706c652e636f6dff01000100000a00080006001d00170018001000070005"
    "04616c706e000500050100000000003300260024001d00209370b2c9caa47fba"
    "baf4559fedba753de171fa71f50f1ce15d43e994ec74d748002b000302030400"
    "0d0010000e0403050306030203080408050806002d00020101001c0002400100"
    "3900320408ffffffffffffffff05048000ffff07048000ffff08011001048000"
    "75300901100f088394c8f03e51570806048000ffff")
RFC_PAYLOAD = RFC_CRYPTO_FRAME + bytes(917)
RFC_CLIENT_HELLO = RFC_CRYPTO_FRAME[4:]
RFC_DCID = bytes.fromhex("8394c8f03e515708")

RFC9001_CLIENT_INITIAL = bytes.fromhex(
    "c000000001088394c8f03e5157080000449e7b9aec34d1b1c98dd7689fb8ec11"
    "d242b123dc9bd8bab936b47d92ec356c0bab7df5976d27cd449f63300099f399"
    "1c260ec4c60d17b31f8429157bb35a1282a643a8d2262cad67500cadb8e7378c"
    "8eb7539ec4d4905fed1bee1fc8aafba17c750e2c7ace01e6005f80fcb7df6212"
    "30c83711b39343fa028cea7f7fb5ff89eac2308249a02252155e2347b63d58c5"
    "457afd84d05dfffdb20392844ae812154682e9cf012f9021a6f0be17ddd0c208"
    "4dce25ff9b06cde535d0f920a2db1bf362c23e596d11a4f5a6cf3948838a3aec"
    "4e15daf8500a6ef69ec4e3feb6b1d98e610ac8b7ec3faf6ad760b7bad1db4ba3"
    "485e8a94dc250ae3fdb41ed15fb6a8e5eba0fc3dd60bc8e30c5c4287e53805db"
    "059ae0648db2f64264ed5e39be2e20d82df566da8dd5998ccabdae053060ae6c"
    "7b4378e846d29f37ed7b4ea9ec5d82e7961b7f25a9323851f681d582363aa5f8"
    "9937f5a67258bf63ad6f1a0b1d96dbd4faddfcefc5266ba6611722395c906556"
    "be52afe3f565636ad1b17d508b73d8743eeb524be22b3dcbc2c7468d54119c74"
    "68449a13d8e3b95811a198f3491de3e7fe942b330407abf82a4ed7c1b311663a"
    "c69890f4157015853d91e923037c227a33cdd5ec281ca3f79c44546b9d90ca00"
    "f064c99e3dd97911d39fe9c5d0b23a229a234cb36186c4819e8b9c5927726632"
    "291d6a418211cc2962e20fe47feb3edf330f2c603a9d48c0fcb5699dbfe58964"
    "25c5bac4aee82e57a85aaf4e2513e4f05796b07ba2ee47d80506f8d2c25e50fd"
    "14de71e6c418559302f939b0e1abd576f279c4b2e0feb85c1f28ff18f58891ff"
    "ef132eef2fa09346aee33c28eb130ff28f5b766953334113211996d20011a198"
    "e3fc433f9f2541010ae17c1bf202580f6047472fb36857fe843b19f5984009dd"
    "c324044e847a4f4a0ab34f719595de37252d6235365e9b84392b061085349d73"
    "203a4a13e96f5432ec0fd4a1ee65accdd5e3904df54c1da510b0ff20dcc0c77f"
    "cb2c0e0eb605cb0504db87632cf3d8b4dae6e705769d1de354270123cb11450e"
    "fc60ac47683d7b8d0f811365565fd98c4c8eb936bcab8d069fc33bd801b03ade"
    "a2e1fbc5aa463d08ca19896d2bf59a071b851e6c239052172f296bfb5e724047"
    "90a2181014f3b94a4e97d117b438130368cc39dbb2d198065ae3986547926cd2"
    "162f40a29f0c3c8745c0f50fba3852e566d44575c29d39a03f0cda721984b6f4"
    "40591f355e12d439ff150aab7613499dbd49adabc8676eef023b15b65bfc5ca0"
    "6948109f23f350db82123535eb8a7433bdabcb909271a6ecbcb58b936a88cd4e"
    "8f2e6ff5800175f113253d8fa9ca8885c2f552e657dc603f252e1a8e308f76f0"
    "be79e2fb8f5d5fbbe2e30ecadd220723c8c0aea8078cdfcb3868263ff8f09400"
    "54da48781893a7e49ad5aff4af300cd804a6b6279ab3ff3afb64491c85194aab"
    "760d58a606654f9f4400e8b38591356fbf6425aca26dc85244259ff2b19c41b9"
    "f96f3ca9ec1dde434da7d2d392b905ddf3d1f9af93d1af5950bd493f5aa731b4"
    "056df31bd267b6b90a079831aaf579be0a39013137aac6d404f518cfd4684064"
    "7e78bfe706ca4cf5e9c5453e9f7cfd2b8b4c8d169a44e55c88d4a9a7f9474241"
    "e221af44860018ab0856972e194cd934")

RFC9369_CLIENT_INITIAL = bytes.fromhex(
    "d76b3343cf088394c8f03e5157080000449ea0c95e82ffe67b6abcdb4298b485"
    "dd04de806071bf03dceebfa162e75d6c96058bdbfb127cdfcbf903388e99ad04"
    "9f9a3dd4425ae4d0992cfff18ecf0fdb5a842d09747052f17ac2053d21f57c5d"
    "250f2c4f0e0202b70785b7946e992e58a59ac52dea6774d4f03b55545243cf1a"
    "12834e3f249a78d395e0d18f4d766004f1a2674802a747eaa901c3f10cda5500"
    "cb9122faa9f1df66c392079a1b40f0de1c6054196a11cbea40afb6ef5253cd68"
    "18f6625efce3b6def6ba7e4b37a40f7732e093daa7d52190935b8da58976ff33"
    "12ae50b187c1433c0f028edcc4c2838b6a9bfc226ca4b4530e7a4ccee1bfa2a3"
    "d396ae5a3fb512384b2fdd851f784a65e03f2c4fbe11a53c7777c023462239dd"
    "6f7521a3f6c7d5dd3ec9b3f233773d4b46d23cc375eb198c63301c21801f6520"
    "bcfb7966fc49b393f0061d974a2706df8c4a9449f11d7f3d2dcbb90c6b877045"
    "636e7c0c0fe4eb0f697545460c806910d2c355f1d253bc9d2452aaa549e27a1f"
    "ac7cf4ed77f322e8fa894b6a83810a34b361901751a6f5eb65a0326e07de7c12"
    "16ccce2d0193f958bb3850a833f7ae432b65bc5a53975c155aa4bcb4f7b2c4e5"
    "4df16efaf6ddea94e2c50b4cd1dfe06017e0e9d02900cffe1935e0491d77ffb4"
    "fdf85290fdd893d577b1131a610ef6a5c32b2ee0293617a37cbb08b847741c3b"
    "8017c25ca9052ca1079d8b78aebd47876d330a30f6a8c6d61dd1ab5589329de7"
    "14d19d61370f8149748c72f132f0fc99f34d766c6938597040d8f9e2bb522ff9"
    "9c63a344d6a2ae8aa8e51b7b90a4a806105fcbca31506c446151adfeceb51b91"
    "abfe43960977c87471cf9ad4074d30e10d6a7f03c63bd5d4317f68ff325ba3bd"
    "80bf4dc8b52a0ba031758022eb025cdd770b44d6d6cf0670f4e990b22347a7db"
    "848265e3e5eb72dfe8299ad7481a408322cac55786e52f633b2fb6b614eaed18"
    "d703dd84045a274ae8bfa73379661388d6991fe39b0d93debb41700b41f90a15"
    "c4d526250235ddcd6776fc77bc97e7a417ebcb31600d01e57f32162a8560cacc"
    "7e27a096d37a1a86952ec71bd89a3e9a30a2a26162984d7740f81193e8238e61"
    "f6b5b984d4d3dfa033c1bb7e4f0037febf406d91c0dccf32acf423cfa1e70710"
    "10d3f270121b493ce85054ef58bada42310138fe081adb04e2bd901f2f13458b"
    "3d6758158197107c14ebb193230cd1157380aa79cae1374a7c1e5bbcb80ee23e"
    "06ebfde206bfb0fcbc0edc4ebec309661bdd908d532eb0c6adc38b7ca7331dce"
    "8dfce39ab71e7c32d318d136b6100671a1ae6a6600e3899f31f0eed19e3417d1"
    "34b90c9058f8632c798d4490da4987307cba922d61c39805d072b589bd52fdf1"
    "e86215c2d54e6670e07383a27bbffb5addf47d66aa85a0c6f9f32e59d85a44dd"
    "5d3b22dc2be80919b490437ae4f36a0ae55edf1d0b5cb4e9a3ecabee93dfc6e3"
    "8d209d0fa6536d27a5d6fbb17641cde27525d61093f1b28072d111b2b4ae5f89"
    "d5974ee12e5cf7d5da4d6a31123041f33e61407e76cffcdcfd7e19ba58cf4b53"
    "6f4c4938ae79324dc402894b44faf8afbab35282ab659d13c93f70412e85cb19"
    "9a37ddec600545473cfb5a05e08d0b209973b2172b4d21fb69745a262ccde96b"
    "a18b2faa745b6fe189cf772a9f84cbfc")

# RFC 9001 A.3: the server's Initial (protected with keys from the client's DCID,
# which the packet does not carry): recognised, never decrypted.
RFC9001_SERVER_INITIAL = bytes.fromhex(
    "cf000000010008f067a5502a4262b5004075c0d95a482cd0991cd25b0aac406a"
    "5816b6394100f37a1c69797554780bb38cc5a99f5ede4cf73c3ec2493a1839b3"
    "dbcba3f6ea46c5b7684df3548e7ddeb9c3bf9c73cc3f3bded74b562bfb19fb84"
    "022f8ef4cdd93795d77d06edbb7aaf2f58891850abbdca3d20398c276456cbc4"
    "2158407dd074ee")


def varint(v: int) -> bytes:
    if v < 1 << 6:
        return bytes([v])
    if v < 1 << 14:
        return struct.pack("!H", 0x4000 | v)
    if v < 1 << 30:
        return struct.pack("!I", 0x80000000 | v)
    return struct.pack("!Q", 0xC000000000000000 | v)


def crypto_frame(offset: int, data: bytes) -> bytes:
    return b"\x06" + varint(offset) + varint(len(data)) + data


def protect_client_initial(version: int, dcid: bytes, payload: bytes, *, scid: bytes = b"",
                           token: bytes = b"", pn: int = 0, pn_len: int = 4,
                           pad_to: int | None = 1200) -> bytes:
    """A client Initial as RFC 9001 5 builds it, with the header's primitives."""
    _, key, iv, hp = _tls.quic_initial_keys(version, dcid)
    first = 0xC0 | ((1 if version == QUIC_V2 else 0) << 4) | (pn_len - 1)

    def header(payload_len: int) -> bytes:
        return (bytes([first]) + struct.pack("!I", version) + bytes([len(dcid)]) + dcid
                + bytes([len(scid)]) + scid + varint(len(token)) + token
                + struct.pack("!H", 0x4000 | (pn_len + payload_len + 16)))

    if pad_to:
        payload += bytes(max(0, pad_to - len(header(0)) - pn_len - len(payload) - 16))
    payload += bytes(max(0, 4 - pn_len - len(payload)))   # PADDING so that there is a sample
    aad = header(len(payload)) + pn.to_bytes(pn_len, "big")
    nonce = bytes(a ^ b for a, b in zip(iv, pn.to_bytes(12, "big")))
    ct, tag = _tls.gcm_seal(key, nonce, aad, payload)
    packet = bytearray(aad + ct + tag)
    pn_off = len(aad) - pn_len
    mask = _tls.aes128_encrypt_block(hp, bytes(packet[pn_off + 4:pn_off + 20]))
    packet[0] ^= mask[0] & 0x0F
    for i in range(pn_len):
        packet[pn_off + i] ^= mask[1 + i]
    return bytes(packet)


@pytest.mark.parametrize("version, published, sample, mask", [
    (QUIC_V1, RFC9001_CLIENT_INITIAL, "d1b1c98dd7689fb8ec11d242b123dc9b", "437b9aec36"),
    (QUIC_V2, RFC9369_CLIENT_INITIAL, "ffe67b6abcdb4298b485dd04de806071", "94a0c95e80")])
def test_rfc_client_initial_decrypts_to_the_published_client_hello(version, published, sample, mask):
    assert len(published) == 1200
    # header protection: the published sample and mask (the packet number starts at byte 18)
    assert published[22:38].hex() == sample
    hp = _tls.quic_initial_keys(version, RFC_DCID)[3]
    assert _tls.aes128_encrypt_block(hp, published[22:38])[:5].hex() == mask
    # the primitives protect the RFC's payload into exactly the RFC's packet
    assert protect_client_initial(version, RFC_DCID, RFC_PAYLOAD, pn=2, pad_to=None) == published
    got = _tls.quic_initial(published)
    assert got == {"version": version, "dcid_len": 8, "crypto": RFC_CLIENT_HELLO}
    hello = _tls.parse_tls_handshake(got["crypto"], "q")
    assert hello["found"] and hello["is_client"] and not hello["truncated"] and not hello["malformed"]
    assert hello["sni"] == b"example.com" and hello["alpn"] == b"alpn"
    assert hello["version"] == 0x0304 and hello["legacy_version"] == 0x0303
    assert hello["ja4"] == reference_ja4(got["crypto"], "q")
    assert hello["ja4"].startswith("q13d0211an_")


@pytest.mark.parametrize("published", [RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL])
def test_a_damaged_or_cut_initial_is_recognised_but_never_decrypted(published):
    version = QUIC_V1 if published is RFC9001_CLIENT_INITIAL else QUIC_V2
    for at in (0, 1, 5, 6, 18, 19, 20, 22, 40, 600, 1183, 1199):
        damaged = bytearray(published)
        damaged[at] ^= 0x04
        found, got_version, dcid_len, crypto = _tls.quic_initial_probe(bytes(damaged))
        assert not found and crypto is None, at
        if at >= 14:                     # the version and DCID were intact
            assert (got_version, dcid_len) == (version, 8), at
    for cut in range(len(published)):
        found, got_version, dcid_len, crypto = _tls.quic_initial_probe(published[:cut])
        assert not found and crypto is None
        assert (got_version, dcid_len) == ((version, 8) if cut >= 14 else (0, 0)), cut
    # more datagram after the packet (coalesced packets) does not matter
    assert _tls.quic_initial(published + b"\x00" * 30)["crypto"] == RFC_CLIENT_HELLO


def test_server_initials_short_headers_and_other_udp_are_not_client_initials():
    assert _tls.quic_initial_probe(RFC9001_SERVER_INITIAL)[:3] == (0, QUIC_V1, 0)
    for datagram in (b"", b"\xc0", RFC9001_CLIENT_INITIAL[:6], b"\x40" + bytes(1199),
                     b"\xc0\x00\x00\x00\x00" + bytes(100),        # version negotiation
                     b"\xe0" + RFC9001_CLIENT_INITIAL[1:],       # a Handshake packet of v1
                     b"\xc0\x12\x34\x56\x78" + bytes(1195),      # unknown version
                     b"\xc0\x00\x00\x00\x01\x15" + bytes(1194),  # DCID longer than 20 bytes
                     bytes(range(256)) * 5):
        assert _tls.quic_initial_probe(datagram)[0] == 0


def test_crypto_frames_out_of_order_with_gaps_and_a_small_scratch():
    hello = RFC_CLIENT_HELLO
    pieces = [crypto_frame(100, hello[100:]), b"\x01", crypto_frame(0, hello[:40]), b"\x00" * 7,
              b"\x02\x05\x00\x01\x01\x02\x03", crypto_frame(40, hello[40:100])]
    packet = protect_client_initial(QUIC_V1, b"\x01\x02\x03\x04", b"".join(pieces))
    assert _tls.quic_initial(packet) == {"version": 1, "dcid_len": 4, "crypto": hello}
    # a gap: everything up to it, and the hello reads as truncated
    gap = protect_client_initial(QUIC_V1, b"\x01\x02\x03\x04", b"".join(pieces[:5]))
    got = _tls.quic_initial(gap)
    assert got["crypto"] == hello[:40]
    parsed = _tls.parse_tls_handshake(got["crypto"], "q")
    assert parsed["found"] and parsed["truncated"] and parsed["ja4"] == ""
    # a scratch smaller than the hello keeps what fits
    for size in (0, 1, 39, 41, 150, len(hello) - 1):
        assert _tls.quic_initial(packet, scratch_len=size)["crypto"] == hello[:size], size
    # an unknown frame type ends the frames; what came before stays
    stopped = protect_client_initial(QUIC_V1, b"\x09", crypto_frame(0, hello[:50]) + b"\x1f"
                                     + crypto_frame(50, hello[50:]))
    assert _tls.quic_initial(stopped)["crypto"] == hello[:50]


# ------------------------------------------------------ ClientHello builders

def ext(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def sni_ext(name: bytes) -> bytes:
    return ext(0, struct.pack("!HBH", len(name) + 3, 0, len(name)) + name)


def alpn_ext(*protocols: bytes) -> bytes:
    body = b"".join(bytes([len(p)]) + p for p in protocols)
    return ext(16, struct.pack("!H", len(body)) + body)


def versions_ext(*versions: int) -> bytes:
    return ext(0x2B, bytes([2 * len(versions)]) + b"".join(struct.pack("!H", v) for v in versions))


def sigalgs_ext(*algs: int) -> bytes:
    return ext(13, struct.pack("!H", 2 * len(algs)) + b"".join(struct.pack("!H", a) for a in algs))


def client_hello(ciphers, extensions, *, version=0x0303, session_id=b"\x11" * 32) -> bytes:
    body = (struct.pack("!H", version) + bytes(range(32)) + bytes([len(session_id)]) + session_id
            + struct.pack("!H", 2 * len(ciphers)) + b"".join(struct.pack("!H", c) for c in ciphers)
            + b"\x01\x00")
    if extensions is not None:
        joined = b"".join(extensions)
        body += struct.pack("!H", len(joined)) + joined
    return b"\x01" + len(body).to_bytes(3, "big") + body


def record(handshake: bytes, version: int = 0x0301) -> bytes:
    return struct.pack("!BHH", 22, version, len(handshake)) + handshake


# -------------------------------------------- JA4, written from the spec

def reference_parse(hs: bytes) -> dict:
    """A ClientHello's JA4 inputs, read with Python slicing (raises on anything short)."""
    if hs[0] != 1 or int.from_bytes(hs[1:4], "big") != len(hs) - 4:
        raise ValueError("not one whole ClientHello")
    pos = 4 + 2 + 32
    pos += 1 + hs[pos]
    n = int.from_bytes(hs[pos:pos + 2], "big")
    ciphers = [int.from_bytes(hs[i:i + 2], "big") for i in range(pos + 2, pos + 2 + n, 2)]
    pos += 2 + n
    pos += 1 + hs[pos]
    out = {"ciphers": ciphers, "exts": [], "sigs": [], "sni": None, "alpn": None,
           "version": int.from_bytes(hs[4:6], "big"), "has_sni": False}
    if pos == len(hs):
        return out
    end = pos + 2 + int.from_bytes(hs[pos:pos + 2], "big")
    assert end == len(hs)
    pos += 2
    while pos < end:
        kind, n = struct.unpack("!HH", hs[pos:pos + 4])
        body = hs[pos + 4:pos + 4 + n]
        assert len(body) == n
        out["exts"].append(kind)
        if kind == 0:                    # the first non-empty host_name
            out["has_sni"] = True
            at = 2
            while at < len(body):
                name = body[at + 3:at + 3 + int.from_bytes(body[at + 1:at + 3], "big")]
                if body[at] == 0 and name and out["sni"] is None:
                    out["sni"] = name
                at += 3 + len(name)
        elif kind == 16 and len(body) > 2 and body[2] and out["alpn"] is None:
            out["alpn"] = body[3:3 + body[2]]
        elif kind == 0x2B:
            offered = [int.from_bytes(body[i:i + 2], "big") for i in range(1, len(body), 2)]
            offered = [v for v in offered if v not in GREASE]
            if offered:
                out["version"] = max(offered)
        elif kind == 13:
            out["sigs"] += [int.from_bytes(body[i:i + 2], "big") for i in range(2, len(body), 2)]
        pos += 4 + n
    return out


def ja4_from(proto: str, version: int, has_sni: bool, ciphers, exts, sigs, alpn: bytes | None) -> str:
    """JA4 as FoxIO's JA4.md (technical_details) defines it."""
    ciphers = [c for c in ciphers if c not in GREASE]
    exts = [e for e in exts if e not in GREASE]
    sigs = [s for s in sigs if s not in GREASE]
    codes = {0x0304: "13", 0x0303: "12", 0x0302: "11", 0x0301: "10", 0x0300: "s3", 0x0002: "s2",
             0xFEFF: "d1", 0xFEFD: "d2", 0xFEFC: "d3"}
    if not alpn:
        alpn_code = "00"
    elif chr(alpn[0]).isalnum() and chr(alpn[-1]).isalnum() and alpn[0] < 128 and alpn[-1] < 128:
        alpn_code = chr(alpn[0]) + chr(alpn[-1])
    else:
        alpn_code = alpn.hex()[0] + alpn.hex()[-1]
    a = (f"{proto}{codes.get(version, '00')}{'d' if has_sni else 'i'}"
         f"{min(len(ciphers), 99):02d}{min(len(exts), 99):02d}{alpn_code}")

    def hash12(text: str) -> str:
        return hashlib.sha256(text.encode()).hexdigest()[:12] if text else "000000000000"

    b = hash12(",".join(f"{c:04x}" for c in sorted(ciphers)))
    kept = sorted(e for e in exts if e not in (0x0000, 0x0010))
    c_text = ",".join(f"{e:04x}" for e in kept)
    if kept and sigs:
        c_text += "_" + ",".join(f"{s:04x}" for s in sigs)
    return f"{a}_{b}_{hash12(c_text)}"


def reference_ja4(hs: bytes, proto: str = "t") -> str:
    f = reference_parse(hs)
    return ja4_from(proto, f["version"], f["has_sni"], f["ciphers"], f["exts"], f["sigs"], f["alpn"])


# JA4.md's worked example: its ciphers, extensions (in their order, with
# SNI and ALPN) and signature algorithms.
SPEC_CIPHERS = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013,
                0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
SPEC_EXTS = [0x001B, 0x0000, 0x0033, 0x0010, 0x4469, 0x0017, 0x002D, 0x000D, 0x0005, 0x0023, 0x0012,
             0x002B, 0xFF01, 0x000B, 0x000A, 0x0015]
SPEC_SIGS = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601]


def spec_hello(*, sigs=SPEC_SIGS, grease=False) -> bytes:
    bodies = {0x0000: sni_ext(b"example.com"), 0x0010: alpn_ext(b"h2", b"http/1.1"),
              0x002B: versions_ext(*(([0x1A1A] if grease else []) + [0x0304, 0x0303])),
              0x000D: sigalgs_ext(*(([0xFAFA] if grease else []) + list(sigs)))}
    extensions = [bodies.get(e, ext(e, b"\x00" if e == 0x0015 else b"")) for e in SPEC_EXTS]
    ciphers = list(SPEC_CIPHERS)
    if grease:
        extensions = [ext(0x2A2A, b"")] + extensions[:5] + [ext(0xEAEA, b"\x00")] + extensions[5:]
        ciphers = [0x8A8A] + ciphers[:7] + [0xDADA] + ciphers[7:]
    return client_hello(ciphers, extensions)


def test_ja4_of_the_specification_example():
    hello = _tls.parse_tls_record(record(spec_hello()))
    assert hello["ja4"] == "t13d1516h2_8daaf6152771_e5627efa2ab1"       # JA4.md, "Example"
    assert hello["sni"] == b"example.com" and hello["alpn"] == b"h2" and hello["version"] == 0x0304
    # GREASE anywhere changes nothing (JA4.md: "ignore GREASE values anywhere")
    greasy = _tls.parse_tls_record(record(spec_hello(grease=True)))
    assert greasy["ja4"] == "t13d1516h2_8daaf6152771_e5627efa2ab1" and greasy["version"] == 0x0304
    # "If there are no signature algorithms ... the string ends without an underscore"
    no_sigs = _tls.parse_tls_handshake(spec_hello(sigs=[]))
    assert no_sigs["ja4"] == "t13d1516h2_8daaf6152771_6d807ffa2a79"
    assert _tls.parse_tls_handshake(spec_hello(), "q")["ja4"].startswith("q13d1516h2_")
    assert _tls.parse_tls_handshake(spec_hello(), "")["ja4"] == ""      # JA4 skipped on request


# Two ClientHellos from FoxIO's own test capture tls3.pcapng (streams 7 and 9), as
# their JA4_ro lists them (original order, GREASE removed), with the JA4 that
# their Python and Rust implementations publish for them (python/test/testdata/
# tls3.pcapng.json, rust/ja4/src/snapshots/ja4__insta@tls3.pcapng.snap).
PUBLISHED = [
    ("1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035",
     "0023,0033,ff01,000a,0012,0005,0017,4469,0000,001b,000d,002d,000b,002b,0010,0015",
     "0403,0804,0401,0503,0805,0501,0806,0601", "t13d1516h2_8daaf6152771_e5627efa2ab1"),
    ("1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035",
     "0033,000a,0005,000d,0012,0000,0010,002b,0023,001b,0017,002d,ff01,4469,000b,0029",
     "0403,0804,0401,0503,0805,0501,0806,0601", "t13d1516h2_8daaf6152771_9b887d9acb53"),
]


@pytest.mark.parametrize("ciphers, extensions, sigalgs, published", PUBLISHED)
def test_ja4_of_hellos_from_the_ja4_authors_test_capture(ciphers, extensions, sigalgs, published):
    sigs = [int(x, 16) for x in sigalgs.split(",")]
    bodies = {0x0000: sni_ext(b"darksail.ai"), 0x0010: alpn_ext(b"h2", b"http/1.1"),
              0x002B: versions_ext(0x0304, 0x0303), 0x000D: sigalgs_ext(*sigs)}
    kinds = [int(x, 16) for x in extensions.split(",")]
    hs = client_hello([int(x, 16) for x in ciphers.split(",")],
                      [bodies.get(k, ext(k, b"")) for k in kinds])
    got = _tls.parse_tls_record(record(hs))
    assert got["ja4"] == published and got["sni"] == b"darksail.ai"
    assert reference_ja4(hs) == published


@pytest.mark.parametrize("alpn, code", [
    # JA4.md, "ALPN Extension Value"
    (b"h2", "h2"), (b"http/1.1", "h1"), (b"h", "hh"), (b"\xab", "ab"), (b"\xab\xcd", "ad"),
    (b"\x30\xab", "3b"), (b"\x30\x31\xab\xcd", "3d"), (b"\x30\xab\xcd\x31", "01"), (None, "00"),
])
def test_ja4_alpn_characters(alpn, code):
    extensions = [sni_ext(b"a.example"), sigalgs_ext(0x0403)]
    if alpn is not None:
        extensions.append(alpn_ext(alpn, b"h2"))
    hs = client_hello([0x1301], extensions)
    got = _tls.parse_tls_handshake(hs)
    assert got["ja4"][8:10] == code
    assert got["ja4"] == reference_ja4(hs)


def test_ja4_counts_stop_at_99_and_empty_lists_hash_to_zeros():
    many = client_hello(list(range(1, 151)), [ext(0x7000 + i, b"") for i in range(120)])
    got = _tls.parse_tls_handshake(many)
    assert got["ja4"][3:8] == "i9999" and got["ja4"] == reference_ja4(many)
    bare = client_hello([], None, version=0x0301)
    assert _tls.parse_tls_handshake(bare)["ja4"] == "t10i000000_000000000000_000000000000"
    only_named = client_hello([0x002F], [sni_ext(b"x.example"), alpn_ext(b"h2")])
    assert _tls.parse_tls_handshake(only_named)["ja4"].endswith("_000000000000")
    assert _tls.parse_tls_handshake(only_named)["ja4"] == reference_ja4(only_named)
    # the version: highest non-GREASE supported_versions entry, else the hello's field
    for offered, want in [([0x0A0A, 0x0303, 0x0304], 0x0304), ([0xFAFA], 0x0303), ([0x0302], 0x0302)]:
        hs = client_hello([0x1301], [versions_ext(*offered)])
        assert _tls.parse_tls_handshake(hs)["version"] == want, offered
        assert _tls.parse_tls_handshake(hs)["ja4"] == reference_ja4(hs)


def test_more_entries_than_kept_leave_the_ja4_empty_but_the_fields_set():
    hs = client_hello(list(range(1, 1100)), [sni_ext(b"big.example")])
    got = _tls.parse_tls_handshake(hs)
    assert got["sni"] == b"big.example" and not got["malformed"] and got["ja4"] == ""


def test_the_ja4_memo_of_raw_lists_gives_each_hello_its_own_fingerprint():
    """A batch's JA4s come from a memo keyed by each hello's raw lists (cipher
    and signature algorithm bytes, extension types as sent) with a cheap key
    (their lengths and ends).  Hellos that share that key, or share the lists
    but not the protocol, version or ALPN the JA4 also holds, must each get
    their own fingerprint: the one they get alone and the reference's."""
    ciphers = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013,
               0xC014, 0x009C]
    sigs = [0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, 0x0201, 0x0203]
    padding = [ext(0x0017, b""), ext(0x0023, b""), ext(0x002D, b"\x01\x01"), ext(0xFF01, b"\x00")]

    def hello(c=ciphers, s=sigs, alpn=(b"h2",), versions=(0x0304, 0x0303), name=b"a.example",
              extra=(), order=None):
        bodies = ([sni_ext(name)] if name else []) + [alpn_ext(*alpn), versions_ext(*versions),
                                                      sigalgs_ext(*s)] + padding + list(extra)
        if order:
            bodies = [bodies[k] for k in order]
        return record(client_hello(c, bodies))

    middle_ciphers = ciphers[:4] + [ciphers[5], ciphers[4]] + ciphers[6:]  # same set and ends
    other_cipher = ciphers[:5] + [0x0035] + ciphers[6:]                   # one value, the middle
    middle_sigs = sigs[:4] + [sigs[5], sigs[4]] + sigs[6:]                 # JA4 keeps their order
    cases = {
        "base": hello(),
        "another name": hello(name=b"bb.example"),                 # same lists: a hit
        "alpn http/1.1": hello(alpn=(b"http/1.1",)),               # same lists, other ALPN
        "alpn non-alnum": hello(alpn=(b"\x01x",)),
        "tls 1.2": hello(versions=(0x0303,)),                      # same lists, other version
        "ciphers reordered in the middle": hello(c=middle_ciphers),
        "another cipher in the middle": hello(c=other_cipher),
        "sigalgs reordered in the middle": hello(s=middle_sigs),
        "no sni": hello(name=b""),
        # extension types go four to a word, the first high: [0, 0x2b, 0x0d] and
        # [0x2b, 0x0d] are the same word (their counts differ)
        "three": record(client_hello(ciphers, [sni_ext(b"c.example"), versions_ext(0x0304),
                                               sigalgs_ext(*sigs)])),
        "two": record(client_hello(ciphers, [versions_ext(0x0304), sigalgs_ext(*sigs)])),
        "extensions reordered": hello(order=[0, 1, 2, 3, 5, 4, 6, 7]),
        "grease": hello(c=[0x0A0A] + ciphers, extra=[ext(0x1A1A, b"")]),
        "other grease": hello(c=[0x2A2A] + ciphers, extra=[ext(0x3A3A, b"")]),
        "two sigalgs extensions": hello(extra=[sigalgs_ext(0x0807)]),
        "lists too long to keep": hello(c=ciphers + list(range(0x0100, 0x0100 + 120))),
    }
    key = {name: _tls.ja4_raw_key(r) for name, r in cases.items()}
    # the collisions meant: the key is equal, the lists are not, the JA4s differ
    for name in ("another name", "alpn http/1.1", "alpn non-alnum", "tls 1.2",
                 "ciphers reordered in the middle", "another cipher in the middle",
                 "sigalgs reordered in the middle"):
        assert key[name] == key["base"] != 0, name
    assert key["two"] == key["three"] != 0
    alone = {name: _tls.parse_tls_record(r)["ja4"] for name, r in cases.items()}
    for name in ("alpn http/1.1", "alpn non-alnum", "tls 1.2", "another cipher in the middle",
                 "sigalgs reordered in the middle", "no sni"):
        assert alone[name] != alone["base"], name
    assert alone["two"] != alone["three"]
    assert alone["ciphers reordered in the middle"] == alone["base"]      # sorted: same JA4
    assert key["two sigalgs extensions"] == 0 and key["lists too long to keep"] == 0
    for name, r in cases.items():
        assert alone[name] == reference_ja4(r[5:]), name
    # one memo, every order of the cases (each after each), over TCP and QUIC ('t' and 'q')
    rng = random.Random(4)
    names = list(cases)
    for round_ in range(30):
        order = rng.sample(names, len(names)) * 2 + [rng.choice(names) for _ in range(30)]
        protos = "".join(rng.choice("tq") for _ in order)
        got = _tls.parse_tls_records_memo([cases[n] for n in order], protos)
        want = [p + alone[n][1:] for n, p in zip(order, protos)]
        assert [g["ja4"] for g in got] == want, round_
        assert [g["sni"] for g in got] == [_tls.parse_tls_record(cases[n])["sni"] for n in order]


def layout_cases() -> dict[str, bytes]:
    """ClientHello records for the layout memo: a base, and hellos equal to it
    but for a byte or two (two lengths: four), whose extension blocks have
    its length and first header (the layout's key); cut ones, and one with
    more extensions than a layout keeps."""
    ciphers = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xCCA9]
    sigs = [0x0403, 0x0804, 0x0401, 0x0503]

    def hello(name=b"a.example", alpn=b"h2", versions=(0x0304, 0x0303), s=sigs, share=b"\x01" * 36,
              middle=(ext(0x0017, b""), ext(0x002D, b"\x01\x01")), pad=b"\x00" * 20, grease=0x0A0A,
              c=ciphers):
        return record(client_hello(c, [sni_ext(name), ext(grease, b""), alpn_ext(alpn),
                                       versions_ext(*versions), *middle, sigalgs_ext(*s),
                                       ext(0x0033, struct.pack("!HHH", 34, 0x001D, 32) + share[:32]),
                                       ext(0x0015, pad)]))

    base = hello()
    one_byte = {
        "another name, same length": hello(name=b"b.example"),
        "another key share": hello(share=b"\x01" * 31 + b"\x02"),
        "alpn h3": hello(alpn=b"h3"),
        "alpn not alphanumeric": hello(alpn=b"h\x01"),
        "versions 1.2 first": hello(versions=(0x0303, 0x0304)),
        "versions only 1.2 twice": hello(versions=(0x0303, 0x0303)),
        "a signature algorithm": hello(s=[0x0403, 0x0804, 0x0401, 0x0603]),
        "a cipher suite": hello(c=ciphers[:-1] + [0xCCA8]),
        "two cipher suites swapped": hello(c=ciphers[:3] + [ciphers[4], ciphers[3]] + ciphers[5:]),
        "a grease cipher suite": hello(c=ciphers[:-1] + [0x0A0A]),
        "another grease type": hello(grease=0x1A1A),
        "an extension type": hello(middle=(ext(0x0016, b""), ext(0x002D, b"\x01\x01"))),
        "a type that is read": hello(middle=(ext(0x0010, b""), ext(0x002D, b"\x01\x01"))),
        "lengths moved between two": hello(middle=(ext(0x0017, b"\x00"), ext(0x002D, b"\x01"))),
        "padding type": hello(pad=b"\x00" * 19 + b"\x01"),
    }
    bad = bytearray(base)
    bad[bad.index(b"a.example") - 1] = 10          # the name's length: past its list
    one_byte["sni name length"] = bytes(bad)
    bad = bytearray(base)
    bad[bad.index(b"\x02h2") - 1] = 4               # the ALPN list's length
    one_byte["alpn list length"] = bytes(bad)
    bad = bytearray(base)
    bad[bad.index(b"\x04\x03\x04\x03\x03")] = 3    # supported_versions' list length: odd
    one_byte["versions list length"] = bytes(bad)
    many = record(client_hello(ciphers, [sni_ext(b"c.example")] + [ext(0x4000 + k, b"") for k in range(40)]
                               + [alpn_ext(b"h2")] * 7))
    cases = {"base": base, **one_byte, "many extensions": many,
             "cut": base[:-30], "cut in the headers": base[:len(base) - 60]}
    return cases


def test_the_layout_memo_reads_each_hello_as_the_walk_does():
    """With a memo, a hello whose extension block has the length and first
    header of one seen before is not walked: its extension headers are
    compared with those kept, all at once, and only the SNI, ALPN,
    signature_algorithms and supported_versions extensions are read, at the
    places kept.  Hellos equal to a kept one but for a byte or two (two lengths:
    four), in a header or in a body, must get what they get alone: every
    field, flag and the JA4 (kept with the layout, with the cipher suites and
    signature algorithms it was made from); so must cut hellos and ones with
    too many extensions to keep."""
    cases = layout_cases()
    base = cases["base"]
    first = 5 + 4 + 2 + 32 + 1 + 32 + 2 + 2 * 6 + 2 + 2     # the first extension's header
    assert base[first:first + 4] == b"\x00\x00\x00\x0e"
    for name, r in cases.items():         # the layout's key: the block's length, the first header
        if name in ("base", "many extensions", "cut", "cut in the headers"):
            continue
        assert len(r) == len(base) and r[first:first + 4] == base[first:first + 4], name
        assert sum(a != b for a, b in zip(r, base)) <= (4 if name == "lengths moved between two" else 2), name
    alone = {name: _tls.parse_tls_record(r) for name, r in cases.items()}
    assert alone["alpn h3"]["alpn"] == b"h3" and alone["versions only 1.2 twice"]["version"] == 0x0303
    for name in ("sni name length", "alpn list length", "versions list length"):
        assert alone[name]["malformed"] and not alone["base"]["malformed"], name
    assert alone["cut"]["truncated"] and alone["cut in the headers"]["truncated"]
    for name in ("alpn not alphanumeric", "a signature algorithm", "an extension type",
                 "a type that is read", "versions only 1.2 twice", "a cipher suite",
                 "a grease cipher suite"):
        assert alone[name]["ja4"] != alone["base"]["ja4"], name
    for name in ("another grease type", "two cipher suites swapped", "another key share"):
        assert alone[name]["ja4"] == alone["base"]["ja4"], name
    # each after the base (the layout kept), after itself, and in random orders
    rng = random.Random(7)
    names = [n for n in cases if n != "base"]
    orders = [["base", n, n, "base"] for n in names]
    orders += [rng.sample(list(cases), len(cases)) * 3 for _ in range(20)]
    for order in orders:
        got = _tls.parse_tls_records_memo([cases[n] for n in order])
        for name, g in zip(order, got):
            assert g == alone[name], (order, name)


# ------------------------------------------------- hellos from Python's ssl

def ssl_client_hello(server_hostname: str | None, alpn, maximum) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.maximum_version = maximum
    if alpn:
        ctx.set_alpn_protocols(alpn)
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname=server_hostname)
    with pytest.raises(ssl.SSLWantReadError):
        conn.do_handshake()
    return outgoing.read()


SSL_CASES = [
    ("www.example.com", ["h2", "http/1.1"], ssl.TLSVersion.TLSv1_3),
    ("api.example.org", ["http/1.1"], ssl.TLSVersion.TLSv1_2),
    ("no-alpn.example", None, ssl.TLSVersion.TLSv1_3),
    ("192.0.2.7", ["h2"], ssl.TLSVersion.TLSv1_3),          # an address: no SNI
    (None, None, ssl.TLSVersion.TLSv1_2),
]


@pytest.fixture(scope="module")
def ssl_hellos() -> list[bytes]:
    return [ssl_client_hello(*case) for case in SSL_CASES]


@pytest.fixture(scope="module")
def certificate(tmp_path_factory):
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is not installed: apt-get install openssl (in .ci/apt-packages)")
    where = tmp_path_factory.mktemp("cert")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-subj", "/CN=server.example", "-days", "2", "-keyout", str(where / "key.pem"),
                    "-out", str(where / "cert.pem")], check=True, capture_output=True)
    return where / "cert.pem", where / "key.pem"


def ssl_server_hello(client_hello_record: bytes, certificate, maximum) -> bytes:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(*map(str, certificate))
    ctx.maximum_version = maximum
    ctx.set_alpn_protocols(["http/1.1", "h2"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_side=True)
    incoming.write(client_hello_record)
    with pytest.raises(ssl.SSLWantReadError):
        conn.do_handshake()
    return outgoing.read()


def test_ssl_client_hellos_parse_completely(ssl_hellos):
    for (name, alpn, maximum), raw in zip(SSL_CASES, ssl_hellos):
        got = _tls.parse_tls_record(raw)
        assert got["found"] and got["is_client"] and not got["truncated"] and not got["malformed"]
        sends_sni = name is not None and not name[0].isdigit()
        assert got["sni"] == (name.encode() if sends_sni else None)
        assert got["alpn"] == (alpn[0].encode() if alpn else None)
        assert got["version"] == (0x0304 if maximum == ssl.TLSVersion.TLSv1_3 else 0x0303)
        assert got["ja4"] == reference_ja4(raw[5:]), (name, got["ja4"])
        assert got["ja4"][3] == ("d" if sends_sni else "i")


def tshark_fields(path, fields: list[str]) -> list[dict[str, list[str]]]:
    if shutil.which("tshark") is None:
        pytest.fail("tshark is not installed: apt-get install tshark (it is in .ci/apt-packages)")
    args = ["tshark", "-r", str(path), "-n", "-T", "fields", "-E", "separator=/t", "-E", "occurrence=a",
            "-E", "aggregator=/s"]
    for field in fields:
        args += ["-e", field]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rows = []
    for line in out.splitlines():
        cells = line.split("\t")
        rows.append({f: (c.split(" ") if c else []) for f, c in zip(fields, cells + [""] * len(fields))})
    return rows


def write_pcap(path, payloads, udp: bool):
    from scapy.layers.inet import IP, TCP, UDP
    from scapy.layers.l2 import Ether
    from scapy.packet import Raw
    from scapy.utils import wrpcap
    frames = []
    for i, payload in enumerate(payloads):
        l4 = UDP(sport=40000 + i, dport=443) if udp else TCP(sport=40000 + i, dport=443, flags="PA", seq=1000)
        frames.append(Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / l4 / Raw(payload))
    wrpcap(str(path), frames)


TLS_FIELDS = ["tls.handshake.type", "tls.handshake.extensions_server_name", "tls.handshake.extensions_alpn_str",
              "tls.handshake.extensions.supported_version", "tls.handshake.version", "tls.handshake.ciphersuite",
              "tls.handshake.extension.type", "tls.handshake.sig_hash_alg"]


def _number(text: str) -> int:
    return int(text, 0)


def assert_like_tshark(got: dict, shark: dict[str, list[str]], proto: str = "t"):
    """One hello, compared field by field with tshark's view of it."""
    kind = _number(shark["tls.handshake.type"][0])
    assert (got["is_client"], got["is_server"]) == (kind == 1, kind == 2)
    names = shark["tls.handshake.extensions_server_name"]
    assert got["sni"] == (names[0].encode() if names else None)
    alpns = shark["tls.handshake.extensions_alpn_str"]
    assert got["alpn"] == (alpns[0].encode() if alpns else None)
    offered = [v for v in map(_number, shark["tls.handshake.extensions.supported_version"]) if v not in GREASE]
    assert got["version"] == (max(offered) if offered else _number(shark["tls.handshake.version"][0]))
    if kind == 2:
        assert got["cipher"] == _number(shark["tls.handshake.ciphersuite"][0])
    else:                                # JA4 from tshark's fields, as FoxIO's ja4.py does it
        assert got["ja4"] == ja4_from(
            proto, got["version"], bool(names) or 0 in map(_number, shark["tls.handshake.extension.type"]),
            list(map(_number, shark["tls.handshake.ciphersuite"])),
            list(map(_number, shark["tls.handshake.extension.type"])),
            list(map(_number, shark["tls.handshake.sig_hash_alg"])), alpns[0].encode() if alpns else None)


def test_client_and_server_hellos_agree_with_tshark(ssl_hellos, certificate, tmp_path):
    records = list(ssl_hellos) + [record(spec_hello(grease=True))]
    for raw, (_, _, maximum) in zip(ssl_hellos[:3], SSL_CASES[:3]):
        records.append(ssl_server_hello(raw, certificate, maximum))
    write_pcap(tmp_path / "hellos.pcap", records, udp=False)
    rows = tshark_fields(tmp_path / "hellos.pcap", TLS_FIELDS)
    assert len(rows) == len(records)
    servers = 0
    for raw, shark in zip(records, rows):
        got = _tls.parse_tls_record(raw)
        assert got["found"] and not got["truncated"] and not got["malformed"]
        assert shark["tls.handshake.type"], f"tshark saw no handshake in {raw[:16].hex()}"
        assert_like_tshark(got, shark)
        servers += got["is_server"]
    assert servers == 3
    chosen = [_tls.parse_tls_record(r) for r in records[-3:]]
    assert [c["version"] for c in chosen] == [0x0304, 0x0303, 0x0304]
    assert chosen[0]["cipher"] in (0x1301, 0x1302, 0x1303) and chosen[1]["cipher"] > 0xC000


def test_quic_initials_agree_with_tshark(ssl_hellos, tmp_path):
    """tshark decrypts the RFC's packets and the ones built here with its own code."""
    tls13 = [h[5:] for h, case in zip(ssl_hellos, SSL_CASES) if case[2] == ssl.TLSVersion.TLSv1_3]
    built = []
    for i, hello in enumerate(tls13):
        pieces = [crypto_frame(60, hello[60:]), b"\x01\x00\x00", crypto_frame(0, hello[:60])]
        for version in (QUIC_V1, QUIC_DRAFT29):
            built.append(protect_client_initial(version, bytes([i + 1]) * (8 + i), b"".join(pieces),
                                                scid=b"\x5c" * 5, pn=i))
    datagrams = [RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL] + built
    decoded_by_tshark = 0
    for i, datagram in enumerate(datagrams):
        # one file each: tshark would take a second packet with the same DCID for
        # the same connection, and keep the first one's keys
        write_pcap(tmp_path / f"quic{i}.pcap", [datagram], udp=True)
        [shark] = tshark_fields(tmp_path / f"quic{i}.pcap", ["quic.version"] + TLS_FIELDS)
        got = _tls.quic_initial(datagram)
        assert got is not None
        assert got["version"] == _number(shark["quic.version"][0])
        hello = _tls.parse_tls_handshake(got["crypto"], "q")
        assert not hello["truncated"] and not hello["malformed"]
        assert hello["ja4"] == reference_ja4(got["crypto"], "q")
        if shark["tls.handshake.extensions_server_name"] or shark["tls.handshake.extensions_alpn_str"]:
            decoded_by_tshark += 1
            assert_like_tshark(hello, shark, "q")
    # tshark (4.0) decrypted every one of them, v2 and draft-29 too, and agreed
    assert decoded_by_tshark == len(datagrams)


# ------------------------------------------------ truncated and malformed

def test_every_truncation_of_real_hellos_is_flagged_and_keeps_only_whole_fields(ssl_hellos, certificate):
    server = ssl_server_hello(ssl_hellos[0], certificate, ssl.TLSVersion.TLSv1_3)
    for raw in list(ssl_hellos) + [record(spec_hello(grease=True)), server]:
        full = _tls.parse_tls_record(raw)
        rec_end = 5 + struct.unpack("!H", raw[3:5])[0]
        for cut in range(len(raw)):
            got = _tls.parse_tls_record(raw[:cut])
            if cut < 6:
                assert not got["found"]
                continue
            assert got["found"] and not got["malformed"], cut
            assert got["truncated"] == (cut < rec_end), cut
            if cut < rec_end:
                assert got["ja4"] == ""
            for field in ("sni", "alpn"):
                assert got[field] in (None, full[field]), (cut, field)
                if got[field] is not None:
                    assert got[f"{field}_off"] + got[f"{field}_len"] <= cut
        # and as bare handshake messages
        hs = raw[5:rec_end]
        for cut in range(1, len(hs)):
            got = _tls.parse_tls_handshake(hs[:cut])
            assert got["found"] and got["truncated"] and not got["malformed"] and got["ja4"] == ""


def _malformed(hs: bytes) -> dict:
    got = _tls.parse_tls_handshake(hs)
    assert got["found"] and got["malformed"] and not got["truncated"] and got["ja4"] == ""
    return got


def test_inconsistent_lengths_are_malformed():
    good = client_hello([0x1301, 0x1302], [sni_ext(b"ok.example"), alpn_ext(b"h2")])
    assert not _tls.parse_tls_handshake(good)["malformed"]
    at_ciphers = 4 + 2 + 32 + 1 + 32
    odd = bytearray(good)
    odd[at_ciphers + 1] = 3                              # an odd cipher_suites length
    _malformed(bytes(odd))
    long_session = bytearray(good)
    long_session[4 + 34] = 33                            # legacy_session_id over 32 bytes
    _malformed(bytes(long_session))
    _malformed(good[:1] + (len(good) - 4 - 3).to_bytes(3, "big") + good[4:-3])   # message shorter than its parts
    _malformed(good[:1] + (len(good) - 4 + 2).to_bytes(3, "big") + good[4:] + b"\x00\x00")  # trailing bytes
    ext_start = len(good) - len(sni_ext(b"ok.example")) - len(alpn_ext(b"h2"))
    too_long = bytearray(good)
    too_long[ext_start + 2:ext_start + 4] = struct.pack("!H", 0x4000)   # an extension past the block
    _malformed(bytes(too_long))
    bad_sni = bytearray(good)
    bad_sni[ext_start + 4:ext_start + 6] = struct.pack("!H", 99)        # server_name list length
    assert _malformed(bytes(bad_sni))["sni"] is None
    bad_alpn = client_hello([0x1301], [alpn_ext(b"h2", b"x" * 5)])
    broken = bad_alpn[:-6] + b"\x09" + bad_alpn[-5:]   # the second protocol runs past the list
    _malformed(broken)
    _malformed(client_hello([0x1301], [ext(0x2B, b"\x03\x03\x04\x03")]))   # odd supported_versions
    # a record longer than TLS allows
    assert _tls.parse_tls_record(b"\x16\x03\x01\x50\x00" + good)["malformed"]


def test_what_is_not_a_hello_is_not_found():
    for data in (b"", b"\x16", b"\x16\x03\x01\x00\x05", b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                 b"\x17\x03\x03\x00\x10" + bytes(16),          # application data
                 b"\x15\x03\x03\x00\x02\x02\x28",              # alert
                 b"\x16\x03\x03\x00\x04\x0b\x00\x00\x00",      # Certificate
                 b"\x16\x05\x01\x00\x04\x01\x00\x00\x00",      # not version 3.x
                 bytes(100)):
        got = _tls.parse_tls_record(data)
        assert not got["found"] and got["ja4"] == "" and got["sni"] is None and not got["malformed"]
    assert not _tls.parse_tls_handshake(b"\x0b\x00\x00\x00")["found"]


# --------------------------------------------------------------- fuzzing

def _seeds() -> list[bytes]:
    return [ssl_client_hello(*case)[5:] for case in SSL_CASES] + [
        spec_hello(grease=True), RFC_CLIENT_HELLO, client_hello([0x1301], [alpn_ext(b"\xab\xcd")])]


def mutate(draw, raw: bytearray) -> bytearray:
    for _ in range(draw(st.integers(0, 6))):
        kind = draw(st.sampled_from(["flip", "byte", "len16", "cut", "insert", "delete"]))
        at = draw(st.integers(0, max(len(raw) - 1, 0)))
        if kind == "flip" and raw:
            raw[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and raw:
            raw[at] = draw(st.sampled_from([0, 1, 2, 0x0A, 0x10, 0x2B, 0x7F, 0x80, 0xFF]))
        elif kind == "len16" and len(raw) >= 2:
            at = min(at, len(raw) - 2)
            raw[at:at + 2] = struct.pack("!H", draw(st.sampled_from([0, 1, 2, 3, 4, 0x7FFF, 0xFFFF, len(raw)])))
        elif kind == "cut":
            del raw[at:]
        elif kind == "insert":
            raw[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del raw[at:at + draw(st.integers(1, 8))]
    return raw


def check_hello(data: bytes, got: dict, proto: str = "t", is_record: bool = False) -> None:
    """What holds for any input: offsets inside it, flags consistent, JA4 right when set."""
    for field in ("sni", "alpn"):
        if got[f"{field}_len"]:
            assert got[f"{field}_off"] + got[f"{field}_len"] <= len(data)
    if not got["found"]:
        assert not (got["is_client"] or got["is_server"] or got["truncated"] or got["malformed"])
        return
    assert got["is_client"] != got["is_server"]
    if got["is_client"] and not got["truncated"] and not got["malformed"]:
        assert got["ja4"] or proto == ""          # a whole, well-formed ClientHello has its JA4
    if got["ja4"]:
        assert got["is_client"] and not got["truncated"] and not got["malformed"] and len(got["ja4"]) == 36
        # a complete, well-formed hello: the independent reader agrees on everything
        hs = data[5:5 + struct.unpack("!H", data[3:5])[0]] if is_record else data
        ref = reference_parse(hs[:4 + int.from_bytes(hs[1:4], "big")])
        assert got["ja4"] == ja4_from(proto, ref["version"], ref["has_sni"], ref["ciphers"], ref["exts"],
                                      ref["sigs"], ref["alpn"])
        assert got["sni"] == ref["sni"] and got["alpn"] == ref["alpn"]


def test_fuzz_mutated_hellos():
    seeds = _seeds()

    @FUZZ
    @given(st.data())
    def check(data):
        seed = data.draw(st.sampled_from(seeds))
        raw = bytes(mutate(data.draw, bytearray(seed)))
        if data.draw(st.integers(0, 9)) == 0:
            raw = data.draw(st.binary(max_size=300))
        got = _tls.parse_tls_handshake(raw)
        check_hello(raw, got)
        without_ja4 = _tls.parse_tls_handshake(raw, "")          # the same but for the JA4
        assert without_ja4 == {**got, "ja4": ""}
        as_record = record(raw)
        alone = _tls.parse_tls_record(as_record)
        check_hello(as_record, alone, is_record=True)
        check_hello(raw, _tls.parse_tls_record(raw), is_record=True)
        # with a memo, after its seed (whose layout and raw lists are kept): as alone
        seed_record = record(seed)
        memo = _tls.parse_tls_records_memo([seed_record, as_record, seed_record, as_record])
        assert memo == [_tls.parse_tls_record(seed_record), alone] * 2

    assert for_a_while(check) >= 1


def test_fuzz_quic_initials():
    """Damaged protected packets, and well-protected packets whose frames are damaged."""
    hello = RFC_CLIENT_HELLO

    @FUZZ
    @given(st.data())
    def check(data):
        draw = data.draw
        published = draw(st.sampled_from([RFC9001_CLIENT_INITIAL, RFC9369_CLIENT_INITIAL]))
        damaged = bytes(mutate(draw, bytearray(published)))
        found, _, _, crypto = _tls.quic_initial_probe(damaged, draw(st.integers(0, 600)))
        assert found == (damaged == published or damaged.startswith(published))
        # frames: CRYPTO pieces in any order, other frames between, then maybe garbage
        cuts = sorted(set(draw(st.lists(st.integers(1, len(hello) - 1), max_size=6))))
        bounds = list(zip([0] + cuts, cuts + [len(hello)]))
        chosen = draw(st.permutations(bounds))[:draw(st.integers(0, len(bounds)))]
        frames = []
        for start, end in chosen:
            frames.append(crypto_frame(start, hello[start:end]))
            frames.append(draw(st.sampled_from([b"", b"\x00" * 3, b"\x01", b"\x02\x00\x00\x00\x00",
                                                b"\x03\x01\x00\x00\x00\x01\x02\x03",
                                                b"\x1c\x00\x06\x02ab", b"\x1d\x00\x00"])))
        garbage = draw(st.one_of(st.just(b""), st.binary(max_size=40)))
        payload = bytes(mutate(draw, bytearray(b"".join(frames)))) if draw(st.booleans()) else b"".join(frames)
        scratch = draw(st.integers(0, 400))
        packet = protect_client_initial(draw(st.sampled_from([QUIC_V1, QUIC_V2, QUIC_DRAFT29])),
                                        draw(st.binary(min_size=0, max_size=20)), payload + garbage,
                                        pn=draw(st.integers(0, 255)), pn_len=draw(st.integers(1, 4)),
                                        pad_to=draw(st.sampled_from([None, 1200])))
        got = _tls.quic_initial(packet, scratch)
        assert got is not None and len(got["crypto"]) <= scratch
        if payload == b"".join(frames) and not garbage:
            covered = 0
            spans = [(s, min(e, scratch)) for s, e in chosen if s < scratch]
            while any(s <= covered < e for s, e in spans):
                covered = max(e for s, e in spans if s <= covered < e)
            assert got["crypto"] == hello[:covered]
        check_hello(got["crypto"], _tls.parse_tls_handshake(got["crypto"], "q"), "q")

    assert for_a_while(check) >= 1
