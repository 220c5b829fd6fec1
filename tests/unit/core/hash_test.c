/*
 * tests/unit/core/hash_test.c - core/hash.c: digests against FIPS/RFC
 * vectors, HMAC-SHA256 against RFC 4231, the three CRCs against their
 * catalogue check values and a bitwise reference over many lengths,
 * alignments and split points, the S3 base64 form of CRC-64/NVME, hex,
 * base64 (RFC 4648 vectors and strict decoding), random bytes and
 * constant-time comparison.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rs.h"

static void hex_of(char *out, const uint8_t *p, size_t n)
{
    rs_hex(out, p, n);
}

static void test_hash_md5_vectors(void **state)
{
    struct rs_md5 h;
    uint8_t d[16];
    char hex[33];

    (void)state;
    rs_md5_init(&h);
    rs_md5_final(&h, d);
    hex_of(hex, d, 16);
    assert_string_equal(hex, "d41d8cd98f00b204e9800998ecf8427e");

    rs_md5_init(&h);
    rs_md5_update(&h, "a", 1);
    rs_md5_update(&h, "bc", 2);
    rs_md5_final(&h, d);
    hex_of(hex, d, 16);
    assert_string_equal(hex, "900150983cd24fb0d6963f7d28e17f72");
}

static void test_hash_sha1_vectors(void **state)
{
    struct rs_sha1 h;
    uint8_t d[20];
    char hex[41];

    (void)state;
    rs_sha1_init(&h);
    rs_sha1_update(&h, "abc", 3);
    rs_sha1_final(&h, d);
    hex_of(hex, d, 20);
    assert_string_equal(hex, "a9993e364706816aba3e25717850c26c9cd0d89d");
}

static void test_hash_sha256_incremental_matches_oneshot(void **state)
{
    struct rs_sha256 h;
    uint8_t d1[32], d2[32];
    char hex[65];
    static const char msg[] =
        "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

    (void)state;
    rs_sha256(d1, "abc", 3);
    hex_of(hex, d1, 32);
    assert_string_equal(hex, "ba7816bf8f01cfea414140de5dae2223"
                             "b00361a396177a9cb410ff61f20015ad");
    rs_sha256(d1, "", 0);
    hex_of(hex, d1, 32);
    assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb924"
                             "27ae41e4649b934ca495991b7852b855");

    rs_sha256(d1, msg, strlen(msg));
    rs_sha256_init(&h);
    for (size_t i = 0; i < strlen(msg); i++)
        rs_sha256_update(&h, msg + i, 1);
    rs_sha256_final(&h, d2);
    assert_memory_equal(d1, d2, 32);
    hex_of(hex, d1, 32);
    assert_string_equal(hex, "248d6a61d20638b8e5c026930c3e6039"
                             "a33ce45964ff2167f6ecedd419db06c1");
}

static void test_hash_hmac_sha256_rfc4231(void **state)
{
    uint8_t key[131], mac[32];
    char hex[65];

    (void)state;
    /* case 1 */
    memset(key, 0x0b, 20);
    rs_hmac_sha256(mac, key, 20, "Hi There", 8);
    hex_of(hex, mac, 32);
    assert_string_equal(hex, "b0344c61d8db38535ca8afceaf0bf12b"
                             "881dc200c9833da726e9376c2e32cff7");
    /* case 2 */
    rs_hmac_sha256(mac, "Jefe", 4, "what do ya want for nothing?", 28);
    hex_of(hex, mac, 32);
    assert_string_equal(hex, "5bdcc146bf60754e6a042426089575c7"
                             "5a003f089d2739839dec58b964ec3843");
    /* case 6: key longer than the block is hashed first */
    memset(key, 0xaa, 131);
    rs_hmac_sha256(mac, key, 131,
                   "Test Using Larger Than Block-Size Key - Hash Key First",
                   54);
    hex_of(hex, mac, 32);
    assert_string_equal(hex, "60e431591ee0b67f0d8a26aacbf5b77f"
                             "8e0bc6213728c5140546040f0ee37f54");
}

/* Bitwise references, independent of the table and SSE code. */
static uint32_t ref_crc32c(uint32_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
    }
    return ~crc;
}

static uint64_t ref_crc64nvme(uint64_t crc, const uint8_t *p, size_t n)
{
    crc = ~crc;
    while (n--) {
        crc ^= *p++;
        for (int k = 0; k < 8; k++)
            crc = (crc & 1) ? (crc >> 1) ^ 0x9A6C9329AC4BC9B5ull : crc >> 1;
    }
    return ~crc;
}

static void test_hash_crc_check_values(void **state)
{
    (void)state;
    assert_int_equal(rs_crc32(0, "123456789", 9), 0xCBF43926u);
    assert_int_equal(rs_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_true(rs_crc64nvme(0, "123456789", 9) == 0xAE8B14860A799888ull);
    assert_int_equal(rs_crc32(0, "", 0), 0);
    assert_int_equal(rs_crc32c(0, "", 0), 0);
    assert_true(rs_crc64nvme(0, "", 0) == 0);
    /* incremental: feed the previous value back */
    assert_int_equal(rs_crc32c(rs_crc32c(0, "1234", 4), "56789", 5),
                     0xE3069283u);
    assert_true(rs_crc64nvme(rs_crc64nvme(0, "12345", 5), "6789", 4) ==
                0xAE8B14860A799888ull);
    assert_int_equal(rs_crc32(rs_crc32(0, "123", 3), "456789", 6),
                     0xCBF43926u);
}

static void test_hash_crc_matches_reference_all_alignments(void **state)
{
    uint8_t buf[300];

    (void)state;
    for (size_t i = 0; i < sizeof(buf); i++)
        buf[i] = (uint8_t)(i * 131 + 7);
    for (size_t off = 0; off < 9; off++) {
        for (size_t len = 0; off + len <= sizeof(buf); len += 13) {
            assert_int_equal(rs_crc32c(0, buf + off, len),
                             ref_crc32c(0, buf + off, len));
            assert_true(rs_crc64nvme(0, buf + off, len) ==
                        ref_crc64nvme(0, buf + off, len));
            /* split at every third byte */
            uint32_t c = 0;
            uint64_t d = 0;
            for (size_t k = 0; k < len; k += 3) {
                size_t m = len - k < 3 ? len - k : 3;
                c = rs_crc32c(c, buf + off + k, m);
                d = rs_crc64nvme(d, buf + off + k, m);
            }
            assert_int_equal(c, ref_crc32c(0, buf + off, len));
            assert_true(d == ref_crc64nvme(0, buf + off, len));
        }
    }
}

static void test_hash_crc_large_buffer(void **state)
{
    size_t n = (1 << 20) + 5;
    uint8_t *p = malloc(n);

    (void)state;
    assert_non_null(p);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(i ^ (i >> 8));
    assert_int_equal(rs_crc32c(0, p, n), ref_crc32c(0, p, n));
    assert_true(rs_crc64nvme(0, p, n) == ref_crc64nvme(0, p, n));
    free(p);
}

/*
 * Streaming must not depend on where the caller's reads happen to end:
 * every two-piece split of a 1000-byte buffer, then seeded random
 * multi-piece splits, each against the one-shot value and the reference.
 * 1000 bytes crosses the 8-byte slicing loop many times over, so splits
 * land on every alignment of both pieces.
 */
static void test_hash_crc64nvme_streaming_every_split(void **state)
{
    uint8_t buf[1000];
    uint32_t seed = 12345;
    uint64_t whole;

    (void)state;
    for (size_t i = 0; i < sizeof(buf); i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (uint8_t)(seed >> 16);
    }
    whole = rs_crc64nvme(0, buf, sizeof(buf));
    assert_true(whole == ref_crc64nvme(0, buf, sizeof(buf)));

    for (size_t k = 0; k <= sizeof(buf); k++) {
        uint64_t d = rs_crc64nvme(0, buf, k);
        d = rs_crc64nvme(d, buf + k, sizeof(buf) - k);
        assert_true(d == whole);
    }

    for (int round = 0; round < 200; round++) {
        uint64_t d = 0;
        size_t off = 0;
        while (off < sizeof(buf)) {
            seed = seed * 1103515245u + 12345u;
            size_t m = (seed >> 16) % 40; /* 0..39: empty pieces too */
            if (m > sizeof(buf) - off)
                m = sizeof(buf) - off;
            d = rs_crc64nvme(d, buf + off, m);
            off += m;
        }
        assert_true(d == whole);
    }
}

static void test_hash_crc64nvme_b64(void **state)
{
    char out[13];
    uint8_t raw[9];

    (void)state;
    /* check value 0xAE8B14860A799888: bytes ae 8b 14 86 0a 79 98 88 */
    rs_crc64nvme_b64(out, rs_crc64nvme(0, "123456789", 9));
    assert_string_equal(out, "rosUhgp5mIg=");
    rs_crc64nvme_b64(out, rs_crc64nvme(0, "", 0));
    assert_string_equal(out, "AAAAAAAAAAA=");
    /* big-endian whatever the host: the first byte is the top one */
    memset(out, 'x', sizeof(out));
    rs_crc64nvme_b64(out, 0x0102030405060708ull);
    assert_string_equal(out, "AQIDBAUGBwg=");
    assert_int_equal(strlen(out), 12);
    assert_int_equal(rs_base64_decode(raw, sizeof(raw), out, 12), 8);
    for (int i = 0; i < 8; i++)
        assert_int_equal(raw[i], i + 1);
    rs_crc64nvme_b64(out, UINT64_MAX);
    assert_string_equal(out, "//////////8=");
}

static void test_hash_hex(void **state)
{
    char out[9];
    static const uint8_t b[] = {0x00, 0x9f, 0xa0, 0xff};

    (void)state;
    rs_hex(out, b, 4);
    assert_string_equal(out, "009fa0ff");
    rs_hex(out, b, 0);
    assert_string_equal(out, "");
}

static void test_hash_base64_rfc4648(void **state)
{
    static const char *const v[][2] = {
        {"", ""},          {"f", "Zg=="},         {"fo", "Zm8="},
        {"foo", "Zm9v"},   {"foob", "Zm9vYg=="},  {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
    };
    char enc[16];
    uint8_t dec[16];

    (void)state;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        size_t n = strlen(v[i][0]);
        rs_base64(enc, (const uint8_t *)v[i][0], n);
        assert_string_equal(enc, v[i][1]);
        assert_int_equal(rs_base64_decode(dec, sizeof(dec), v[i][1],
                                          strlen(v[i][1])), (int)n);
        assert_memory_equal(dec, v[i][0], n);
    }
    /* all byte values round trip */
    uint8_t all[256], back[256];
    char e[4 * 86 + 1];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    rs_base64(e, all, 256);
    assert_int_equal(rs_base64_decode(back, sizeof(back), e, strlen(e)), 256);
    assert_memory_equal(all, back, 256);
}

static void test_hash_base64_decode_is_strict(void **state)
{
    uint8_t out[16];
    static const char *const bad[] = {
        "Zg=",      /* length not a multiple of 4 */
        "Zg=a",     /* data after padding */
        "Z===",     /* three pad characters */
        "====",
        "Zh==",     /* non-zero bits under the padding */
        "Zm9=",
        "Zm9v\n",
        "Zm 9",
        "Zm9v====",
        "Zg==Zg==", /* padding in the middle */
        "Zm-_",     /* URL alphabet */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(rs_base64_decode(out, sizeof(out), bad[i],
                                          strlen(bad[i])), -1);
    /* output capacity is respected */
    assert_int_equal(rs_base64_decode(out, 2, "Zm9v", 4), -1);
    assert_int_equal(rs_base64_decode(out, 3, "Zm9v", 4), 3);
}

static void test_hash_random_and_ct_equal(void **state)
{
    uint8_t a[32], b[32];

    (void)state;
    rs_random(a, sizeof(a));
    rs_random(b, sizeof(b));
    assert_memory_not_equal(a, b, sizeof(a));
    rs_random(a, 0);
    assert_true(rs_ct_equal("abc", "abc", 3));
    assert_false(rs_ct_equal("abc", "abd", 3));
    assert_true(rs_ct_equal("x", "y", 0));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hash_md5_vectors),
        cmocka_unit_test(test_hash_sha1_vectors),
        cmocka_unit_test(test_hash_sha256_incremental_matches_oneshot),
        cmocka_unit_test(test_hash_hmac_sha256_rfc4231),
        cmocka_unit_test(test_hash_crc_check_values),
        cmocka_unit_test(test_hash_crc_matches_reference_all_alignments),
        cmocka_unit_test(test_hash_crc_large_buffer),
        cmocka_unit_test(test_hash_crc64nvme_streaming_every_split),
        cmocka_unit_test(test_hash_crc64nvme_b64),
        cmocka_unit_test(test_hash_hex),
        cmocka_unit_test(test_hash_base64_rfc4648),
        cmocka_unit_test(test_hash_base64_decode_is_strict),
        cmocka_unit_test(test_hash_random_and_ct_equal),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
