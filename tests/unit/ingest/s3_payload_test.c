/*
 * tests/unit/ingest/s3_payload_test.c - ingest/s3_payload.c: the AWS
 * chunked-upload example (65536 + 1024 bytes of 'a', every chunk signature
 * from the documentation) fed in many split sizes; signed and unsigned
 * trailers as the SDKs send them (with and without the final empty line);
 * Content-MD5, x-amz-checksum-* headers and trailers, the signed SHA-256,
 * x-amz-decoded-content-length; and every malformed body giving its S3
 * error.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ingest/s3_int.h"

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define T0 1369353600 /* 2013-05-24T00:00:00Z */
#define AMZ_DATE "20130524T000000Z"
#define SCOPE "20130524/us-east-1/s3/aws4_request"
#define EMPTY_SHA \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

#define SEED_SIG "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
#define SIG1 "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648"
#define SIG2 "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497"
#define SIG3 "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

/* Parse and verify a PUT with the given x-amz-content-sha256; for the
 * STREAMING-AWS4-HMAC-SHA256-PAYLOAD case the headers are those of the AWS
 * example, so the seed signature is the documented one. */
static void make_auth(struct rs_arena *a, struct s3_auth *auth,
                      const char *content_sha256, const char *signature)
{
    struct rs_kv h[10];
    size_t n = 0;
    char authz[512];
    struct s3_auth_input in;
    const char *msg;
    struct rs_buf b;

    h[n++] = (struct rs_kv){"Host", "s3.amazonaws.com"};
    h[n++] = (struct rs_kv){"x-amz-date", AMZ_DATE};
    h[n++] = (struct rs_kv){"x-amz-storage-class", "REDUCED_REDUNDANCY"};
    h[n++] = (struct rs_kv){"x-amz-content-sha256", (char *)content_sha256};
    h[n++] = (struct rs_kv){"Content-Encoding", "aws-chunked"};
    h[n++] = (struct rs_kv){"x-amz-decoded-content-length", "66560"};
    h[n++] = (struct rs_kv){"Content-Length", "66824"};
    if (signature != NULL) {
        snprintf(authz, sizeof(authz), "AWS4-HMAC-SHA256 Credential=" AK "/"
                 SCOPE ",SignedHeaders=content-encoding;content-length;host;"
                 "x-amz-content-sha256;x-amz-date;x-amz-decoded-content-"
                 "length;x-amz-storage-class,Signature=%s", signature);
    } else {
        rs_buf_init(&b, SIZE_MAX);
        assert_int_equal(s3_auth_sign(&b, AK, SK, "us-east-1", "PUT",
                                      "/examplebucket/chunkObject.txt", NULL,
                                      h, n, NULL), RS_OK);
        snprintf(authz, sizeof(authz), "%s", b.data);
        rs_buf_dispose(&b);
    }
    h[n++] = (struct rs_kv){"Authorization", authz};
    in = (struct s3_auth_input){
        .method = "PUT",
        .raw_path = "/examplebucket/chunkObject.txt",
        .headers = h,
        .nheaders = n,
        .now_sec = T0,
        .clock_skew = 900,
        .region = "us-east-1",
    };
    assert_int_equal(s3_auth_parse(a, auth, &in, &msg), S3E_NONE);
    assert_int_equal(s3_auth_verify(auth, SK), S3E_NONE);
}

/* Independent chunk / trailer signer (the AWS formulas). */
static void test_key(uint8_t k[32])
{
    rs_hmac_sha256(k, "AWS4" SK, 4 + strlen(SK), "20130524", 8);
    rs_hmac_sha256(k, k, 32, "us-east-1", 9);
    rs_hmac_sha256(k, k, 32, "s3", 2);
    rs_hmac_sha256(k, k, 32, "aws4_request", 12);
}

static void chunk_sig(char out[65], const char *prev, const void *d,
                      size_t n)
{
    uint8_t k[32], h[32];
    char hex[65], sts[512];

    test_key(k);
    rs_sha256(h, d, n);
    rs_hex(hex, h, 32);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-PAYLOAD\n" AMZ_DATE "\n"
             SCOPE "\n%s\n" EMPTY_SHA "\n%s", prev, hex);
    rs_hmac_sha256(h, k, 32, sts, strlen(sts));
    rs_hex(out, h, 32);
}

static void trailer_sig(char out[65], const char *prev, const char *canon)
{
    uint8_t k[32], h[32];
    char hex[65], sts[512];

    test_key(k);
    rs_sha256(h, canon, strlen(canon));
    rs_hex(hex, h, 32);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-TRAILER\n" AMZ_DATE "\n"
             SCOPE "\n%s\n%s", prev, hex);
    rs_hmac_sha256(h, k, 32, sts, strlen(sts));
    rs_hex(out, h, 32);
}

static void put_chunk(struct rs_buf *b, const char *data, size_t n,
                      const char *sig)
{
    if (sig)
        assert_int_equal(rs_buf_printf(b, "%zx;chunk-signature=%s\r\n", n,
                                       sig), RS_OK);
    else
        assert_int_equal(rs_buf_printf(b, "%zx\r\n", n), RS_OK);
    assert_int_equal(rs_buf_append(b, data, n), RS_OK);
    if (n > 0)
        assert_int_equal(rs_buf_puts(b, "\r\n"), RS_OK);
}

/* The body of the AWS chunked-upload example. */
static void example_body(struct rs_buf *b, char **data_out)
{
    char *data = malloc(66560);

    assert_non_null(data);
    memset(data, 'a', 66560);
    rs_buf_init(b, SIZE_MAX);
    put_chunk(b, data, 65536, SIG1);
    put_chunk(b, data + 65536, 1024, SIG2);
    put_chunk(b, "", 0, SIG3);
    assert_int_equal(rs_buf_puts(b, "\r\n"), RS_OK);
    *data_out = data;
}

struct collect {
    struct rs_buf out;
    int fail_after; /* sink fails once this many bytes arrived (-1 never) */
};

static int sink(void *arg, const void *d, size_t n)
{
    struct collect *c = arg;
    if (c->fail_after >= 0 && c->out.len + n > (size_t)c->fail_after)
        return RS_ENOSPC;
    return rs_buf_append(&c->out, d, n);
}

/* Feed body in pieces of step bytes, then finish; the first error. */
static enum s3_errcode run(struct s3_payload *p, const char *body, size_t n,
                           size_t step, struct collect *c, const char **msg)
{
    int sink_rc = 0;

    for (size_t i = 0; i < n; i += step) {
        size_t m = n - i < step ? n - i : step;
        enum s3_errcode e = s3_payload_feed(p, body + i, m, sink, c,
                                            &sink_rc, msg);
        if (e != S3E_NONE)
            return e;
    }
    return s3_payload_finish(p, msg);
}

static enum s3_errcode run_opts(const struct s3_payload_opts *o,
                                const char *body, size_t n, size_t step,
                                struct collect *c, const char **msg)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_payload *p;
    enum s3_errcode e = s3_payload_new(a, &p, o, msg);
    static char copy[512];

    if (e == S3E_NONE)
        e = run(p, body, n, step, c, msg);
    if (*msg) {
        snprintf(copy, sizeof(copy), "%s", *msg);
        *msg = copy;
    }
    rs_arena_free(a);
    return e;
}

static void b64_crc32(char out[16], const void *d, size_t n)
{
    uint32_t c = rs_crc32(0, d, n);
    uint8_t be[4] = {(uint8_t)(c >> 24), (uint8_t)(c >> 16),
                     (uint8_t)(c >> 8), (uint8_t)c};
    rs_base64(out, be, 4);
}

/* ------------------------------------------------------------------ */
/* The AWS example                                                      */
/* ------------------------------------------------------------------ */

static void test_s3_payload_aws_chunked_example_any_split(void **state)
{
    static const size_t steps[] = {1, 2, 3, 7, 64, 85, 4096, 65536, 1 << 20};
    struct rs_buf body;
    char *data;

    (void)state;
    example_body(&body, &data);
    assert_int_equal(body.len, 66824); /* the example's Content-Length */
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct rs_arena *a = rs_arena_new();
        struct s3_auth auth;
        struct s3_payload *p;
        struct s3_payload_opts o = {0};
        struct collect c = {.fail_after = -1};
        const char *msg;
        uint8_t md5[16], want[16];
        struct rs_md5 m;

        make_auth(a, &auth, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", SEED_SIG);
        o.auth = &auth;
        o.decoded_length = "66560";
        rs_buf_init(&c.out, SIZE_MAX);
        assert_int_equal(s3_payload_new(a, &p, &o, &msg), S3E_NONE);
        if (run(p, body.data, body.len, steps[i], &c, &msg) != S3E_NONE)
            fail_msg("step %zu: %s", steps[i], msg);
        assert_int_equal(c.out.len, 66560);
        assert_memory_equal(c.out.data, data, 66560);
        assert_true(s3_payload_decoded_size(p) == 66560);
        s3_payload_md5(p, md5);
        rs_md5_init(&m);
        rs_md5_update(&m, data, 66560);
        rs_md5_final(&m, want);
        assert_memory_equal(md5, want, 16);
        rs_buf_dispose(&c.out);
        rs_arena_free(a);
    }
    /* our own chunk signer agrees with the documented signatures */
    char s[65];
    chunk_sig(s, SEED_SIG, data, 65536);
    assert_string_equal(s, SIG1);
    chunk_sig(s, SIG1, data, 1024);
    assert_string_equal(s, SIG2);
    chunk_sig(s, SIG2, "", 0);
    assert_string_equal(s, SIG3);
    free(data);
    rs_buf_dispose(&body);
}

/* Run the example body with one edit; expect e. */
static void example_edit(void (*edit)(struct rs_buf *b), const char *dlen,
                         enum s3_errcode want)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_auth auth;
    struct s3_payload_opts o = {0};
    struct collect c = {.fail_after = -1};
    struct rs_buf body;
    char *data;
    const char *msg = NULL;
    enum s3_errcode e;

    example_body(&body, &data);
    edit(&body);
    make_auth(a, &auth, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", SEED_SIG);
    o.auth = &auth;
    o.decoded_length = dlen;
    rs_buf_init(&c.out, SIZE_MAX);
    e = run_opts(&o, body.data, body.len, 1000, &c, &msg);
    if (e != want)
        fail_msg("got %d (%s), want %d", e, msg ? msg : "", want);
    rs_buf_dispose(&c.out);
    rs_buf_dispose(&body);
    free(data);
    rs_arena_free(a);
}

static void edit_none(struct rs_buf *b) { (void)b; }
static void edit_flip_data(struct rs_buf *b) { b->data[5000] = 'b'; }
static void edit_truncate_data(struct rs_buf *b) { b->len = 30000; }
static void edit_drop_final(struct rs_buf *b)
{
    b->len -= strlen("0;chunk-signature=" SIG3 "\r\n\r\n");
}
static void edit_drop_final_crlf(struct rs_buf *b) { b->len -= 2; }
static void edit_bad_sig(struct rs_buf *b)
{
    char *s = strstr(b->data, SIG1);
    s[10] = s[10] == '0' ? '1' : '0';
}
static void edit_bad_hex(struct rs_buf *b) { b->data[0] = 'z'; }
static void edit_no_crlf_after_data(struct rs_buf *b)
{
    char *s = strstr(b->data, "\r\n4" "00;"); /* end of chunk 1 */
    s[0] = 'X';
}
static void edit_missing_sig(struct rs_buf *b)
{
    /* "10000;chunk-signature=" -> "10000;chunk-signaturX=" */
    b->data[20] = 'X';
}

static void test_s3_payload_example_edits_give_right_errors(void **state)
{
    (void)state;
    example_edit(edit_none, NULL, S3E_NONE);
    example_edit(edit_none, "66561", S3E_INCOMPLETE_BODY);
    example_edit(edit_none, "66559", S3E_INCOMPLETE_BODY);
    example_edit(edit_drop_final_crlf, "66560", S3E_NONE);
    example_edit(edit_flip_data, "66560", S3E_SIGNATURE_DOES_NOT_MATCH);
    example_edit(edit_bad_sig, "66560", S3E_SIGNATURE_DOES_NOT_MATCH);
    example_edit(edit_missing_sig, "66560", S3E_SIGNATURE_DOES_NOT_MATCH);
    example_edit(edit_truncate_data, "66560", S3E_INCOMPLETE_BODY);
    example_edit(edit_drop_final, "66560", S3E_INCOMPLETE_BODY);
    example_edit(edit_bad_hex, "66560", S3E_INVALID_REQUEST);
    example_edit(edit_no_crlf_after_data, "66560", S3E_INVALID_REQUEST);
}

static void test_s3_payload_oversize_header_line(void **state)
{
    struct s3_auth auth = {.anonymous = true,
                           .payload_mode =
                               S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER};
    struct s3_payload_opts o = {.auth = &auth};
    struct collect c = {.fail_after = -1};
    char *body = malloc(5000);
    const char *msg = NULL;

    (void)state;
    memset(body, '0', 5000); /* a size line that never ends */
    rs_buf_init(&c.out, SIZE_MAX);
    assert_int_equal(run_opts(&o, body, 5000, 5000, &c, &msg),
                     S3E_INVALID_REQUEST);
    /* also when it arrives a byte at a time */
    assert_int_equal(run_opts(&o, body, 5000, 1, &c, &msg),
                     S3E_INVALID_REQUEST);
    memset(body, '1', 20);
    memcpy(body + 20, "\r\n", 2); /* more than 16 hex digits */
    assert_int_equal(run_opts(&o, body, 22, 22, &c, &msg),
                     S3E_INVALID_REQUEST);
    rs_buf_dispose(&c.out);
    free(body);
}

/* ------------------------------------------------------------------ */
/* Trailers                                                             */
/* ------------------------------------------------------------------ */

static const char OBJ[] = "Hello, trailers! 0123456789";

/* The body botocore / the JS SDK v3 send for STREAMING-UNSIGNED-
 * PAYLOAD-TRAILER with x-amz-trailer: x-amz-checksum-crc32. */
static void unsigned_trailer_body(struct rs_buf *b, const char *crc,
                                  const char *ending)
{
    rs_buf_init(b, SIZE_MAX);
    put_chunk(b, OBJ, 10, NULL);
    put_chunk(b, OBJ + 10, sizeof(OBJ) - 1 - 10, NULL);
    assert_int_equal(rs_buf_printf(b, "0\r\nx-amz-checksum-crc32:%s%s", crc,
                                   ending), RS_OK);
}

static void test_s3_payload_unsigned_trailer_crc32(void **state)
{
    static const char *const endings[] = {"\r\n\r\n", "\r\n", "",
                                          "\n\n", "\r\n\r\n\r\n"};
    struct s3_auth auth = {.payload_mode =
                               S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER};
    struct s3_payload_opts o = {
        .auth = &auth,
        .trailer = "x-amz-checksum-crc32",
        .checksum_algorithm = "CRC32",
        .decoded_length = "27",
    };
    char crc[16];
    const char *msg = NULL;

    (void)state;
    b64_crc32(crc, OBJ, sizeof(OBJ) - 1);
    for (size_t i = 0; i < sizeof(endings) / sizeof(endings[0]); i++) {
        for (size_t step = 1; step <= 64; step *= 4) {
            struct rs_buf body;
            struct collect c = {.fail_after = -1};
            struct rs_arena *a = rs_arena_new();
            struct s3_payload *p;
            const char *b64;

            rs_buf_init(&c.out, SIZE_MAX);
            unsigned_trailer_body(&body, crc, endings[i]);
            assert_int_equal(s3_payload_new(a, &p, &o, &msg), S3E_NONE);
            if (run(p, body.data, body.len, step, &c, &msg) != S3E_NONE)
                fail_msg("ending %zu step %zu: %s", i, step, msg);
            assert_string_equal(c.out.data, OBJ);
            assert_int_equal(s3_payload_checksum(p, &b64), S3_CKSUM_CRC32);
            assert_string_equal(b64, crc);
            rs_buf_dispose(&body);
            rs_buf_dispose(&c.out);
            rs_arena_free(a);
        }
    }
}

static void test_s3_payload_unsigned_trailer_errors(void **state)
{
    struct s3_auth auth = {.payload_mode =
                               S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER};
    struct s3_payload_opts o = {.auth = &auth,
                                .trailer = "x-amz-checksum-crc32"};
    struct collect c = {.fail_after = -1};
    struct rs_buf body;
    const char *msg = NULL;

    (void)state;
    rs_buf_init(&c.out, SIZE_MAX);
    /* wrong value */
    unsigned_trailer_body(&body, "AAAAAA==", "\r\n\r\n");
    assert_int_equal(run_opts(&o, body.data, body.len, 5, &c, &msg),
                     S3E_BAD_DIGEST);
    assert_string_equal(msg, "The CRC32 you specified did not match the "
                             "calculated checksum.");
    rs_buf_dispose(&body);
    /* malformed value */
    unsigned_trailer_body(&body, "AAAA", "\r\n\r\n");
    assert_int_equal(run_opts(&o, body.data, body.len, 5, &c, &msg),
                     S3E_INVALID_REQUEST);
    rs_buf_dispose(&body);
    /* declared trailer never sent */
    rs_buf_init(&body, SIZE_MAX);
    put_chunk(&body, OBJ, 5, NULL);
    assert_int_equal(rs_buf_puts(&body, "0\r\n\r\n"), RS_OK);
    assert_int_equal(run_opts(&o, body.data, body.len, 5, &c, &msg),
                     S3E_INVALID_REQUEST);
    rs_buf_dispose(&body);
    /* garbage trailer line */
    rs_buf_init(&body, SIZE_MAX);
    put_chunk(&body, OBJ, 5, NULL);
    assert_int_equal(rs_buf_puts(&body, "0\r\nnot a header\r\n\r\n"), RS_OK);
    assert_int_equal(run_opts(&o, body.data, body.len, 5, &c, &msg),
                     S3E_INVALID_REQUEST);
    rs_buf_dispose(&body);
    /* unsupported x-amz-trailer */
    o.trailer = "x-amz-checksum-md5";
    assert_int_equal(run_opts(&o, "", 0, 1, &c, &msg), S3E_INVALID_REQUEST);
    /* header and trailer both */
    o.trailer = "x-amz-checksum-crc32";
    o.header_cksum = S3_CKSUM_CRC32;
    o.header_cksum_value = "AAAAAA==";
    assert_int_equal(run_opts(&o, "", 0, 1, &c, &msg), S3E_INVALID_REQUEST);
    rs_buf_dispose(&c.out);
}

/* STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER with a CRC32C trailer. */
static void signed_trailer_body(struct rs_buf *b, const char *seed,
                                const char *crc_b64, bool tamper_sig,
                                bool tamper_value)
{
    char s1[65], s2[65], s0[65], ts[65], canon[128];

    chunk_sig(s1, seed, OBJ, 16);
    chunk_sig(s2, s1, OBJ + 16, sizeof(OBJ) - 1 - 16);
    chunk_sig(s0, s2, "", 0);
    snprintf(canon, sizeof(canon), "x-amz-checksum-crc32c:%s\n", crc_b64);
    trailer_sig(ts, s0, canon);
    if (tamper_sig)
        ts[0] = ts[0] == 'a' ? 'b' : 'a';
    rs_buf_init(b, SIZE_MAX);
    put_chunk(b, OBJ, 16, s1);
    put_chunk(b, OBJ + 16, sizeof(OBJ) - 1 - 16, s2);
    put_chunk(b, "", 0, s0);
    assert_int_equal(rs_buf_printf(b, "x-amz-checksum-crc32c:%s\r\n"
                                   "x-amz-trailer-signature:%s\r\n\r\n",
                                   tamper_value ? "AAAAAA==" : crc_b64, ts),
                     RS_OK);
}

static void test_s3_payload_signed_trailer_round_trip(void **state)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_auth auth;
    struct s3_payload_opts o = {0};
    struct collect c = {.fail_after = -1};
    struct rs_buf body;
    const char *msg = NULL;
    char crc[16];
    uint32_t v = rs_crc32c(0, OBJ, sizeof(OBJ) - 1);
    uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 8), (uint8_t)v};

    (void)state;
    rs_base64(crc, be, 4);
    make_auth(a, &auth, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER", NULL);
    o.auth = &auth;
    o.trailer = "x-amz-checksum-crc32c";
    rs_buf_init(&c.out, SIZE_MAX);

    signed_trailer_body(&body, auth.signature, crc, false, false);
    assert_int_equal(run_opts(&o, body.data, body.len, 3, &c, &msg),
                     S3E_NONE);
    assert_string_equal(c.out.data, OBJ);
    rs_buf_dispose(&body);

    signed_trailer_body(&body, auth.signature, crc, true, false);
    assert_int_equal(run_opts(&o, body.data, body.len, 3, &c, &msg),
                     S3E_SIGNATURE_DOES_NOT_MATCH);
    rs_buf_dispose(&body);

    /* a changed trailer value breaks the trailer signature */
    signed_trailer_body(&body, auth.signature, crc, false, true);
    assert_int_equal(run_opts(&o, body.data, body.len, 3, &c, &msg),
                     S3E_SIGNATURE_DOES_NOT_MATCH);
    rs_buf_dispose(&body);

    /* trailer signature missing altogether */
    signed_trailer_body(&body, auth.signature, crc, false, false);
    {
        char *t = strstr(body.data, "x-amz-trailer-signature");
        body.len = (size_t)(t - body.data);
    }
    assert_int_equal(run_opts(&o, body.data, body.len, 3, &c, &msg),
                     S3E_SIGNATURE_DOES_NOT_MATCH);
    rs_buf_dispose(&body);
    rs_buf_dispose(&c.out);
    rs_arena_free(a);
}

/* ------------------------------------------------------------------ */
/* Single-chunk payloads                                                */
/* ------------------------------------------------------------------ */

static void test_s3_payload_signed_sha256_mismatch(void **state)
{
    struct s3_auth auth = {.payload_mode = S3_PAYLOAD_SIGNED};
    struct s3_payload_opts o = {.auth = &auth};
    struct collect c = {.fail_after = -1};
    const char *msg = NULL;
    uint8_t d[32];

    (void)state;
    rs_sha256(d, "bar", 3);
    rs_hex(auth.payload_sha256, d, 32);
    rs_buf_init(&c.out, SIZE_MAX);
    assert_int_equal(run_opts(&o, "bar", 3, 1, &c, &msg), S3E_NONE);
    /* a body cut short by a lower Content-Length (s3-tests) */
    assert_int_equal(run_opts(&o, "ba", 2, 1, &c, &msg),
                     S3E_XAMZ_CONTENT_SHA256_MISMATCH);
    rs_buf_dispose(&c.out);
}

static void test_s3_payload_content_md5(void **state)
{
    struct s3_payload_opts o = {0};
    struct collect c = {.fail_after = -1};
    const char *msg = NULL;

    (void)state;
    rs_buf_init(&c.out, SIZE_MAX);
    o.content_md5 = "N7UdGUp1E+RbVvZSTy1R8g=="; /* md5("bar") */
    assert_int_equal(run_opts(&o, "bar", 3, 2, &c, &msg), S3E_NONE);
    assert_int_equal(run_opts(&o, "baz", 3, 2, &c, &msg), S3E_BAD_DIGEST);
    assert_string_equal(msg, "The Content-MD5 you specified did not match "
                             "what we received.");
    static const char *const bad[] = {"AWS4 HAHAHA", "", "N7UdGUp1E+Rb",
                                      "YWJj"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        o.content_md5 = bad[i];
        assert_int_equal(run_opts(&o, "bar", 3, 2, &c, &msg),
                         S3E_INVALID_DIGEST);
    }
    rs_buf_dispose(&c.out);
}

static void test_s3_payload_checksum_headers(void **state)
{
    struct s3_payload_opts o = {0};
    struct collect c = {.fail_after = -1};
    const char *msg = NULL;
    uint8_t d[32];
    char b64[48];

    (void)state;
    rs_buf_init(&c.out, SIZE_MAX);
    rs_sha256(d, "123456789", 9);
    rs_base64(b64, d, 32);
    o.header_cksum = S3_CKSUM_SHA256;
    o.header_cksum_value = b64;
    assert_int_equal(run_opts(&o, "123456789", 9, 4, &c, &msg), S3E_NONE);
    assert_int_equal(run_opts(&o, "123456780", 9, 4, &c, &msg),
                     S3E_BAD_DIGEST);
    assert_string_equal(msg, "The SHA256 you specified did not match the "
                             "calculated checksum.");
    o.header_cksum_value = "notbase64!";
    assert_int_equal(run_opts(&o, "", 0, 1, &c, &msg), S3E_INVALID_REQUEST);
    assert_string_equal(msg, "Value for x-amz-checksum-sha256 header is "
                             "invalid.");
    /* crc64nvme of "123456789" is 0xAE8B14860A799888 */
    o.header_cksum = S3_CKSUM_CRC64NVME;
    o.header_cksum_value = "rosUhgp5mIg=";
    assert_int_equal(run_opts(&o, "123456789", 9, 2, &c, &msg), S3E_NONE);
    /* crc32c of "123456789" is 0xE3069283 */
    o.header_cksum = S3_CKSUM_CRC32C;
    o.header_cksum_value = "4waSgw==";
    assert_int_equal(run_opts(&o, "123456789", 9, 2, &c, &msg), S3E_NONE);
    /* sha1 of "abc" */
    o.header_cksum = S3_CKSUM_SHA1;
    o.header_cksum_value = "qZk+NkcGgWq6PiVxeFDCbJzQ2J0=";
    assert_int_equal(run_opts(&o, "abc", 3, 2, &c, &msg), S3E_NONE);
    /* the SDK algorithm header must agree with the value sent */
    o.checksum_algorithm = "CRC32";
    assert_int_equal(run_opts(&o, "abc", 3, 2, &c, &msg),
                     S3E_INVALID_REQUEST);
    o.checksum_algorithm = "sha1";
    assert_int_equal(run_opts(&o, "abc", 3, 2, &c, &msg), S3E_NONE);
    o.checksum_algorithm = "MD5";
    assert_int_equal(run_opts(&o, "abc", 3, 2, &c, &msg),
                     S3E_INVALID_REQUEST);
    rs_buf_dispose(&c.out);
}

static void test_s3_payload_algorithm_without_value_is_computed(void **state)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_payload_opts o = {.checksum_algorithm = "CRC64NVME"};
    struct s3_payload *p;
    struct collect c = {.fail_after = -1};
    const char *msg, *b64;

    (void)state;
    rs_buf_init(&c.out, SIZE_MAX);
    assert_int_equal(s3_payload_new(a, &p, &o, &msg), S3E_NONE);
    assert_int_equal(run(p, "123456789", 9, 3, &c, &msg), S3E_NONE);
    assert_int_equal(s3_payload_checksum(p, &b64), S3_CKSUM_CRC64NVME);
    assert_string_equal(b64, "rosUhgp5mIg=");
    rs_buf_dispose(&c.out);
    rs_arena_free(a);

    /* and none asked: none computed */
    a = rs_arena_new();
    o.checksum_algorithm = NULL;
    rs_buf_init(&c.out, SIZE_MAX);
    assert_int_equal(s3_payload_new(a, &p, &o, &msg), S3E_NONE);
    assert_int_equal(run(p, "x", 1, 1, &c, &msg), S3E_NONE);
    assert_int_equal(s3_payload_checksum(p, &b64), S3_CKSUM_NONE);
    rs_buf_dispose(&c.out);
    rs_arena_free(a);
}

static void test_s3_payload_sink_error_stops_and_is_reported(void **state)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_payload_opts o = {0};
    struct s3_payload *p;
    struct collect c = {.fail_after = 4};
    const char *msg;
    int sink_rc = 0;

    (void)state;
    rs_buf_init(&c.out, SIZE_MAX);
    assert_int_equal(s3_payload_new(a, &p, &o, &msg), S3E_NONE);
    assert_int_equal(s3_payload_feed(p, "abc", 3, sink, &c, &sink_rc, &msg),
                     S3E_NONE);
    assert_int_equal(s3_payload_feed(p, "def", 3, sink, &c, &sink_rc, &msg),
                     S3E_INTERNAL_ERROR);
    assert_int_equal(sink_rc, RS_ENOSPC);
    /* sticky */
    assert_int_equal(s3_payload_feed(p, "g", 1, sink, &c, &sink_rc, &msg),
                     S3E_INTERNAL_ERROR);
    assert_int_equal(s3_payload_finish(p, &msg), S3E_INTERNAL_ERROR);
    rs_buf_dispose(&c.out);
    rs_arena_free(a); /* releases the open digest contexts */
}

static void test_s3_payload_cksum_names(void **state)
{
    (void)state;
    assert_string_equal(s3_cksum_name(S3_CKSUM_CRC64NVME), "CRC64NVME");
    assert_int_equal(s3_cksum_from_name("crc32c"), S3_CKSUM_CRC32C);
    assert_int_equal(s3_cksum_from_name("CRC"), S3_CKSUM_NONE);
    assert_int_equal(s3_cksum_from_header("X-Amz-Checksum-Sha1"),
                     S3_CKSUM_SHA1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_payload_aws_chunked_example_any_split),
        cmocka_unit_test(test_s3_payload_example_edits_give_right_errors),
        cmocka_unit_test(test_s3_payload_oversize_header_line),
        cmocka_unit_test(test_s3_payload_unsigned_trailer_crc32),
        cmocka_unit_test(test_s3_payload_unsigned_trailer_errors),
        cmocka_unit_test(test_s3_payload_signed_trailer_round_trip),
        cmocka_unit_test(test_s3_payload_signed_sha256_mismatch),
        cmocka_unit_test(test_s3_payload_content_md5),
        cmocka_unit_test(test_s3_payload_checksum_headers),
        cmocka_unit_test(test_s3_payload_algorithm_without_value_is_computed),
        cmocka_unit_test(test_s3_payload_sink_error_stops_and_is_reported),
        cmocka_unit_test(test_s3_payload_cksum_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
