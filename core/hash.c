/*
 * core/hash.c - hashes, checksums and encodings: MD5, SHA-1, SHA-256 and
 * HMAC-SHA256 (OpenSSL EVP), CRC-32 (zlib), CRC-32C and CRC-64/NVME (here),
 * hex and base64, random bytes and constant-time comparison.
 *
 * DESIGN
 * - The EVP_MD objects are fetched once (pthread_once) and shared: in
 *   OpenSSL 3 an implicit fetch per EVP_DigestInit_ex costs a lock and a
 *   property query, which shows on per-chunk signature checks.  Each
 *   streaming context owns one EVP_MD_CTX, allocated at _init and freed at
 *   _final.
 * - HMAC-SHA256 is written out (RFC 2104) over the shared SHA-256 digest
 *   rather than through EVP_MAC, for the same reason.
 * - CRC-32C uses the SSE4.2 crc32 instruction when the CPU has it (checked
 *   once at runtime) and slicing-by-8 tables otherwise.  CRC-64/NVME (the
 *   x-amz-checksum-crc64nvme algorithm: width 64, poly 0xAD93D23594C93659,
 *   reflected, init and xorout all ones, check 0xAE8B14860A799888) uses
 *   slicing-by-8.  Tables are built once, on first use.
 * - All functions are thread-safe.  Out of memory aborts (STYLE 4).
 */
#include "core/rs.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <zlib.h>

#if defined(__x86_64__)
#include <nmmintrin.h>
#endif

/* ------------------------------------------------------------------ */
/* EVP digests                                                          */
/* ------------------------------------------------------------------ */

static pthread_once_t md_once = PTHREAD_ONCE_INIT;
static EVP_MD *md_md5, *md_sha1, *md_sha256;

static void md_fetch_all(void)
{
    md_md5 = EVP_MD_fetch(NULL, "MD5", NULL);
    md_sha1 = EVP_MD_fetch(NULL, "SHA1", NULL);
    md_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

static const EVP_MD *md_get(EVP_MD **slot, const char *name)
{
    pthread_once(&md_once, md_fetch_all);
    if (*slot == NULL) {
        /* No provider for a digest we need (a FIPS-only build without
         * MD5, say): nothing sensible can continue. */
        fprintf(stderr, "roadstore: OpenSSL has no %s digest\n", name);
        abort();
    }
    return *slot;
}

static void *md_ctx_new(const EVP_MD *md)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestInit_ex(ctx, md, NULL) != 1) {
        fprintf(stderr, "roadstore: EVP_DigestInit_ex failed\n");
        abort();
    }
    return ctx;
}

static void md_ctx_update(void *ctx, const void *p, size_t n)
{
    if (n == 0)
        return;
    if (EVP_DigestUpdate(ctx, p, n) != 1) {
        fprintf(stderr, "roadstore: EVP_DigestUpdate failed\n");
        abort();
    }
}

static void md_ctx_final(void *ctx, uint8_t *out)
{
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx, out, &len) != 1) {
        fprintf(stderr, "roadstore: EVP_DigestFinal_ex failed\n");
        abort();
    }
    EVP_MD_CTX_free(ctx);
}

void rs_md5_init(struct rs_md5 *h)
{
    h->_ctx = md_ctx_new(md_get(&md_md5, "MD5"));
}

void rs_md5_update(struct rs_md5 *h, const void *p, size_t n)
{
    md_ctx_update(h->_ctx, p, n);
}

void rs_md5_final(struct rs_md5 *h, uint8_t out[16])
{
    md_ctx_final(h->_ctx, out);
    h->_ctx = NULL;
}

void rs_sha256_init(struct rs_sha256 *h)
{
    h->_ctx = md_ctx_new(md_get(&md_sha256, "SHA256"));
}

void rs_sha256_update(struct rs_sha256 *h, const void *p, size_t n)
{
    md_ctx_update(h->_ctx, p, n);
}

void rs_sha256_final(struct rs_sha256 *h, uint8_t out[32])
{
    md_ctx_final(h->_ctx, out);
    h->_ctx = NULL;
}

void rs_sha1_init(struct rs_sha1 *h)
{
    h->_ctx = md_ctx_new(md_get(&md_sha1, "SHA1"));
}

void rs_sha1_update(struct rs_sha1 *h, const void *p, size_t n)
{
    md_ctx_update(h->_ctx, p, n);
}

void rs_sha1_final(struct rs_sha1 *h, uint8_t out[20])
{
    md_ctx_final(h->_ctx, out);
    h->_ctx = NULL;
}

void rs_sha256(uint8_t out[32], const void *p, size_t n)
{
    unsigned int len = 0;
    if (EVP_Digest(p, n, out, &len, md_get(&md_sha256, "SHA256"), NULL) != 1) {
        fprintf(stderr, "roadstore: EVP_Digest failed\n");
        abort();
    }
}

/* HMAC-SHA256 per RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)). */
void rs_hmac_sha256(uint8_t out[32], const void *key, size_t keylen,
                    const void *msg, size_t msglen)
{
    uint8_t k[64], pad[64], inner[32];
    struct rs_sha256 h;

    memset(k, 0, sizeof(k));
    if (keylen > sizeof(k))
        rs_sha256(k, key, keylen);
    else if (keylen > 0)
        memcpy(k, key, keylen);

    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x36;
    rs_sha256_init(&h);
    rs_sha256_update(&h, pad, sizeof(pad));
    rs_sha256_update(&h, msg, msglen);
    rs_sha256_final(&h, inner);

    for (size_t i = 0; i < sizeof(pad); i++)
        pad[i] = k[i] ^ 0x5c;
    rs_sha256_init(&h);
    rs_sha256_update(&h, pad, sizeof(pad));
    rs_sha256_update(&h, inner, sizeof(inner));
    rs_sha256_final(&h, out);

    OPENSSL_cleanse(k, sizeof(k));
    OPENSSL_cleanse(pad, sizeof(pad));
}

/* ------------------------------------------------------------------ */
/* CRCs                                                                 */
/* ------------------------------------------------------------------ */

uint32_t rs_crc32(uint32_t crc, const void *p, size_t n)
{
    if (n == 0)
        return crc;
    return (uint32_t)crc32_z(crc, p, n);
}

#define CRC32C_POLY 0x82F63B78u             /* 0x1EDC6F41 reflected */
#define CRC64NVME_POLY 0x9A6C9329AC4BC9B5ull /* 0xAD93D23594C93659 refl. */

static uint32_t crc32c_table[8][256];
static uint64_t crc64_table[8][256];
static bool crc32c_hw;
static pthread_once_t crc_once = PTHREAD_ONCE_INIT;

static void crc_tables_init(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        uint64_t d = i;
        for (int k = 0; k < 8; k++) {
            c = (c & 1) ? (c >> 1) ^ CRC32C_POLY : c >> 1;
            d = (d & 1) ? (d >> 1) ^ CRC64NVME_POLY : d >> 1;
        }
        crc32c_table[0][i] = c;
        crc64_table[0][i] = d;
    }
    for (uint32_t i = 0; i < 256; i++) {
        for (int t = 1; t < 8; t++) {
            uint32_t c = crc32c_table[t - 1][i];
            uint64_t d = crc64_table[t - 1][i];
            crc32c_table[t][i] = (c >> 8) ^ crc32c_table[0][c & 0xff];
            crc64_table[t][i] = (d >> 8) ^ crc64_table[0][d & 0xff];
        }
    }
#if defined(__x86_64__)
    __builtin_cpu_init();
    crc32c_hw = __builtin_cpu_supports("sse4.2");
#endif
}

static inline uint64_t load_le64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    v = __builtin_bswap64(v);
#endif
    return v;
}

static uint32_t crc32c_sw(uint32_t c, const uint8_t *p, size_t n)
{
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        c = (c >> 8) ^ crc32c_table[0][(c ^ *p++) & 0xff];
        n--;
    }
    while (n >= 8) {
        uint64_t v = load_le64(p) ^ c;
        c = crc32c_table[7][v & 0xff] ^ crc32c_table[6][(v >> 8) & 0xff] ^
            crc32c_table[5][(v >> 16) & 0xff] ^
            crc32c_table[4][(v >> 24) & 0xff] ^
            crc32c_table[3][(v >> 32) & 0xff] ^
            crc32c_table[2][(v >> 40) & 0xff] ^
            crc32c_table[1][(v >> 48) & 0xff] ^ crc32c_table[0][v >> 56];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = (c >> 8) ^ crc32c_table[0][(c ^ *p++) & 0xff];
    return c;
}

#if defined(__x86_64__)
__attribute__((target("sse4.2")))
static uint32_t crc32c_hw_run(uint32_t c, const uint8_t *p, size_t n)
{
    uint64_t c64;

    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        c = _mm_crc32_u8(c, *p++);
        n--;
    }
    c64 = c;
    while (n >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = _mm_crc32_u64(c64, v);
        p += 8;
        n -= 8;
    }
    c = (uint32_t)c64;
    while (n-- > 0)
        c = _mm_crc32_u8(c, *p++);
    return c;
}
#endif

uint32_t rs_crc32c(uint32_t crc, const void *p, size_t n)
{
    uint32_t c = ~crc;

    pthread_once(&crc_once, crc_tables_init);
#if defined(__x86_64__)
    if (crc32c_hw)
        return ~crc32c_hw_run(c, p, n);
#endif
    return ~crc32c_sw(c, p, n);
}

uint64_t rs_crc64nvme(uint64_t crc, const void *data, size_t n)
{
    const uint8_t *p = data;
    uint64_t c = ~crc;

    pthread_once(&crc_once, crc_tables_init);
    while (n > 0 && ((uintptr_t)p & 7) != 0) {
        c = (c >> 8) ^ crc64_table[0][(c ^ *p++) & 0xff];
        n--;
    }
    while (n >= 8) {
        uint64_t v = load_le64(p) ^ c;
        c = crc64_table[7][v & 0xff] ^ crc64_table[6][(v >> 8) & 0xff] ^
            crc64_table[5][(v >> 16) & 0xff] ^
            crc64_table[4][(v >> 24) & 0xff] ^
            crc64_table[3][(v >> 32) & 0xff] ^
            crc64_table[2][(v >> 40) & 0xff] ^
            crc64_table[1][(v >> 48) & 0xff] ^ crc64_table[0][v >> 56];
        p += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = (c >> 8) ^ crc64_table[0][(c ^ *p++) & 0xff];
    return ~c;
}

/* ------------------------------------------------------------------ */
/* Encodings                                                            */
/* ------------------------------------------------------------------ */

void rs_hex(char *out, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void rs_base64(char *out, const uint8_t *p, size_t n)
{
    size_t i = 0, o = 0;

    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 | p[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)p[i] << 16;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = '=';
        out[o++] = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = '=';
    }
    out[o] = '\0';
}

/*
 * S3 shows a CRC64NVME (x-amz-checksum-crc64nvme, GetObjectAttributes) as
 * the base64 of its 8 bytes in big-endian order, whatever the host order,
 * so the bytes are laid out by shifts rather than copied from memory.
 */
void rs_crc64nvme_b64(char out[13], uint64_t crc)
{
    uint8_t be[8];

    for (int i = 0; i < 8; i++)
        be[i] = (uint8_t)(crc >> (56 - 8 * i));
    rs_base64(out, be, sizeof(be));
}

static int b64_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

/*
 * Strict: the length is a multiple of 4, '=' appears only as one or two
 * final characters, no whitespace, and the bits dropped by the padding are
 * zero (so every value has exactly one accepted spelling, as Go's
 * StdEncoding.Strict()).
 */
int rs_base64_decode(uint8_t *out, size_t outcap, const char *s, size_t n)
{
    size_t o = 0;

    if (n % 4 != 0)
        return -1;
    for (size_t i = 0; i < n; i += 4) {
        int v[4];
        int pad = 0;
        bool last = i + 4 == n;

        for (int k = 0; k < 4; k++) {
            unsigned char c = (unsigned char)s[i + k];
            if (c == '=' && last && k >= 2) {
                v[k] = 0;
                pad++;
                continue;
            }
            if (pad > 0)
                return -1; /* data after '=' */
            v[k] = b64_value(c);
            if (v[k] < 0)
                return -1;
        }
        uint32_t w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 |
                     (uint32_t)v[2] << 6 | (uint32_t)v[3];
        size_t nout = 3 - (size_t)pad;
        if (pad == 2 && (w & 0xffff) != 0)
            return -1;
        if (pad == 1 && (w & 0xff) != 0)
            return -1;
        if (o + nout > outcap)
            return -1;
        out[o++] = (uint8_t)(w >> 16);
        if (nout > 1)
            out[o++] = (uint8_t)(w >> 8);
        if (nout > 2)
            out[o++] = (uint8_t)w;
    }
    if (o > (size_t)INT32_MAX)
        return -1;
    return (int)o;
}

/* ------------------------------------------------------------------ */
/* Randomness and comparison                                            */
/* ------------------------------------------------------------------ */

void rs_random(void *out, size_t n)
{
    uint8_t *p = out;

    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "roadstore: getrandom: %s\n", strerror(errno));
            abort();
        }
        p += got;
        n -= (size_t)got;
    }
}

bool rs_ct_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

/* HMAC-SHA1, for Signature Version 2 only. */
void rs_hmac_sha1(uint8_t out[20], const void *key, size_t keylen,
                  const void *msg, size_t msglen)
{
    unsigned int len = 20;

    if (!HMAC(EVP_sha1(), key, (int)keylen, msg, msglen, out, &len)) {
        fprintf(stderr, "roadstore: HMAC-SHA1 failed\n");
        abort();
    }
}
