/*
 * tests/unit/ingest/s3_auth_test.c - ingest/s3_auth.c: the AWS S3 SigV4
 * examples from "Signature Calculations for the Authorization Header:
 * Transferring Payload in a Single Chunk", "... Multiple Chunks" (the
 * seed signature) and "Authenticating Requests: Using Query Parameters",
 * canonicalisation of paths, queries and headers checked against canonical
 * requests written out by hand, and every error the parser answers.
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
#define EMPTY_SHA \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define HOST "examplebucket.s3.amazonaws.com"

struct req {
    const char *method;
    const char *path;
    const char *query;
    struct rs_kv h[24];
    size_t nh;
    int64_t now;
    const char *region;
};

static void req_init(struct req *r, const char *method, const char *path,
                     const char *query)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->path = path;
    r->query = query;
    r->now = T0;
    r->region = "us-east-1";
}

static void hdr(struct req *r, const char *name, const char *value)
{
    assert_true(r->nh < 24);
    r->h[r->nh].name = (char *)name;
    r->h[r->nh].value = (char *)value;
    r->nh++;
}

static enum s3_errcode parse(struct rs_arena *a, struct s3_auth *auth,
                             const struct req *r, const char **msg)
{
    struct s3_auth_input in = {
        .method = r->method,
        .raw_path = r->path,
        .raw_query = r->query,
        .headers = r->h,
        .nheaders = r->nh,
        .now_sec = r->now,
        .clock_skew = 900,
        .region = r->region,
    };
    return s3_auth_parse(a, auth, &in, msg);
}

/* Parse and verify with the example secret; returns the first failure. */
static enum s3_errcode check(const struct req *r, const char **msg)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_auth auth;
    enum s3_errcode e = parse(a, &auth, r, msg);

    if (e == S3E_NONE && !auth.anonymous)
        e = s3_auth_verify(&auth, SK);
    static char copy[1024];
    if (*msg != NULL) { /* outlive the arena */
        snprintf(copy, sizeof(copy), "%s", *msg);
        *msg = copy;
    }
    rs_arena_free(a);
    return e;
}

/* The last line of the string to sign is hex(sha256(canonical request)). */
static void assert_creq(const struct s3_auth *auth, const char *creq)
{
    uint8_t d[32];
    char hex[65];
    const char *last = strrchr(auth->_string_to_sign, '\n');

    assert_non_null(last);
    rs_sha256(d, creq, strlen(creq));
    rs_hex(hex, d, 32);
    if (strcmp(last + 1, hex) != 0)
        fail_msg("canonical request differs from:\n%s", creq);
}

/* An independent signer: signature of a canonical request. */
static void sign_creq(char sig[65], const char *creq)
{
    uint8_t d[32], k[32];
    char hex[65], sts[256];

    rs_sha256(d, creq, strlen(creq));
    rs_hex(hex, d, 32);
    snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256\n" AMZ_DATE "\n"
             "20130524/us-east-1/s3/aws4_request\n%s", hex);
    rs_hmac_sha256(k, "AWS4" SK, 4 + strlen(SK), "20130524", 8);
    rs_hmac_sha256(k, k, 32, "us-east-1", 9);
    rs_hmac_sha256(k, k, 32, "s3", 2);
    rs_hmac_sha256(k, k, 32, "aws4_request", 12);
    rs_hmac_sha256(d, k, 32, sts, strlen(sts));
    rs_hex(sig, d, 32);
}

static char *authz_for(const char *signed_headers, const char *sig)
{
    static char buf[512];
    snprintf(buf, sizeof(buf), "AWS4-HMAC-SHA256 Credential=" AK
             "/20130524/us-east-1/s3/aws4_request, SignedHeaders=%s, "
             "Signature=%s", signed_headers, sig);
    return buf;
}

/* ------------------------------------------------------------------ */
/* AWS documentation examples                                           */
/* ------------------------------------------------------------------ */

static void get_object_req(struct req *r, const char *authz)
{
    req_init(r, "GET", "/test.txt", NULL);
    hdr(r, "Host", HOST);
    hdr(r, "Range", "bytes=0-9");
    hdr(r, "x-amz-content-sha256", EMPTY_SHA);
    hdr(r, "x-amz-date", AMZ_DATE);
    if (authz)
        hdr(r, "Authorization", authz);
}

static void test_s3_auth_aws_example_get_object(void **state)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_auth auth;
    struct req r;
    const char *msg;

    (void)state;
    get_object_req(&r, "AWS4-HMAC-SHA256 Credential=" AK "/20130524/"
                   "us-east-1/s3/aws4_request,SignedHeaders=host;range;"
                   "x-amz-content-sha256;x-amz-date,Signature="
                   "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c"
                   "6036bdb41");
    assert_int_equal(parse(a, &auth, &r, &msg), S3E_NONE);
    assert_false(auth.anonymous);
    assert_false(auth.presigned);
    assert_string_equal(auth.access_key, AK);
    assert_string_equal(auth.date, "20130524");
    assert_string_equal(auth.region, "us-east-1");
    assert_string_equal(auth.scope, "20130524/us-east-1/s3/aws4_request");
    assert_int_equal(auth.payload_mode, S3_PAYLOAD_SIGNED);
    assert_string_equal(auth.payload_sha256, EMPTY_SHA);
    assert_string_equal(auth._string_to_sign,
                        "AWS4-HMAC-SHA256\n20130524T000000Z\n"
                        "20130524/us-east-1/s3/aws4_request\n"
                        "7344ae5b7ee6c3e7e6b0fe0640412a37625d1fbfff95c48bbb2"
                        "dc43964946972");
    assert_int_equal(s3_auth_verify(&auth, SK), S3E_NONE);
    assert_int_equal(s3_auth_verify(&auth, "wrong"),
                     S3E_SIGNATURE_DOES_NOT_MATCH);
    rs_arena_free(a);
}

static void test_s3_auth_sign_reproduces_get_object_example(void **state)
{
    struct rs_buf b;
    struct req r;

    (void)state;
    get_object_req(&r, NULL);
    rs_buf_init(&b, SIZE_MAX);
    assert_int_equal(s3_auth_sign(&b, AK, SK, "us-east-1", "GET",
                                  "/test.txt", NULL, r.h, r.nh, EMPTY_SHA),
                     RS_OK);
    assert_string_equal(b.data,
                        "AWS4-HMAC-SHA256 Credential=" AK "/20130524/"
                        "us-east-1/s3/aws4_request, SignedHeaders=host;"
                        "range;x-amz-content-sha256;x-amz-date, Signature="
                        "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91"
                        "039c6036bdb41");
    rs_buf_dispose(&b);
}

static void test_s3_auth_aws_example_put_object_dollar_in_key(void **state)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_auth auth;
    struct req r;
    const char *msg;

    (void)state;
    req_init(&r, "PUT", "/test$file.text", NULL);
    hdr(&r, "Host", HOST);
    hdr(&r, "Date", "Fri, 24 May 2013 00:00:00 GMT");
    hdr(&r, "Authorization",
        authz_for("date;host;x-amz-content-sha256;x-amz-date;"
                  "x-amz-storage-class",
                  "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0e"
                  "ce108bd"));
    hdr(&r, "x-amz-date", AMZ_DATE);
    hdr(&r, "x-amz-storage-class", "REDUCED_REDUNDANCY");
    hdr(&r, "x-amz-content-sha256", "44ce7dd67c959e0d3524ffac1771dfbba87d2b"
                                    "6b4b4e99e42034a8b803f8b072");
    assert_int_equal(parse(a, &auth, &r, &msg), S3E_NONE);
    assert_creq(&auth,
                "PUT\n/test%24file.text\n\n"
                "date:Fri, 24 May 2013 00:00:00 GMT\n"
                "host:" HOST "\n"
                "x-amz-content-sha256:44ce7dd67c959e0d3524ffac1771dfbba87d2b"
                "6b4b4e99e42034a8b803f8b072\n"
                "x-amz-date:20130524T000000Z\n"
                "x-amz-storage-class:REDUCED_REDUNDANCY\n\n"
                "date;host;x-amz-content-sha256;x-amz-date;"
                "x-amz-storage-class\n"
                "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f"
                "8b072");
    assert_int_equal(s3_auth_verify(&auth, SK), S3E_NONE);
    rs_arena_free(a);
}

static void test_s3_auth_aws_example_get_lifecycle(void **state)
{
    struct req r;
    const char *msg = NULL;

    (void)state;
    req_init(&r, "GET", "/", "lifecycle");
    hdr(&r, "Host", HOST);
    hdr(&r, "x-amz-date", AMZ_DATE);
    hdr(&r, "x-amz-content-sha256", EMPTY_SHA);
    hdr(&r, "Authorization",
        authz_for("host;x-amz-content-sha256;x-amz-date",
                  "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a013"
                  "6783543"));
    assert_int_equal(check(&r, &msg), S3E_NONE);
}

static void test_s3_auth_aws_example_list_objects(void **state)
{
    struct req r;
    const char *msg = NULL;

    (void)state;
    req_init(&r, "GET", "/", "max-keys=2&prefix=J");
    hdr(&r, "Host", HOST);
    hdr(&r, "x-amz-date", AMZ_DATE);
    hdr(&r, "x-amz-content-sha256", EMPTY_SHA);
    hdr(&r, "Authorization",
        authz_for("host;x-amz-content-sha256;x-amz-date",
                  "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef"
                  "69dc6f7"));
    assert_int_equal(check(&r, &msg), S3E_NONE);
}

#define PRESIGN_Q                                                          \
    "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE" \
    "%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="              \
    "20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
#define PRESIGN_SIG \
    "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"

static void test_s3_auth_aws_example_presigned_get(void **state)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_auth auth;
    struct req r;
    const char *msg;

    (void)state;
    req_init(&r, "GET", "/test.txt",
             PRESIGN_Q "&X-Amz-Signature=" PRESIGN_SIG);
    hdr(&r, "Host", HOST);
    assert_int_equal(parse(a, &auth, &r, &msg), S3E_NONE);
    assert_true(auth.presigned);
    assert_int_equal(auth.payload_mode, S3_PAYLOAD_UNSIGNED);
    assert_int_equal(s3_auth_verify(&auth, SK), S3E_NONE);
    rs_arena_free(a);

    /* one second before expiry still good, one after expired */
    r.now = T0 + 86400;
    assert_int_equal(check(&r, &msg), S3E_NONE);
    r.now = T0 + 86401;
    assert_int_equal(check(&r, &msg), S3E_ACCESS_DENIED);
    assert_string_equal(msg, "Request has expired");
    /* presigned URLs ignore the clock skew into the past */
    r.now = T0 + 3600;
    assert_int_equal(check(&r, &msg), S3E_NONE);
    r.now = T0 - 3600;
    assert_int_equal(check(&r, &msg), S3E_ACCESS_DENIED);
    assert_string_equal(msg, "Request is not valid yet");
}

static void test_s3_auth_presign_reproduces_example(void **state)
{
    struct rs_buf b;
    struct rs_kv h = {"Host", HOST};

    (void)state;
    rs_buf_init(&b, SIZE_MAX);
    assert_int_equal(s3_auth_presign(&b, AK, SK, "us-east-1", "GET",
                                     "/test.txt", NULL, &h, 1, AMZ_DATE,
                                     86400), RS_OK);
    assert_string_equal(b.data, PRESIGN_Q "&X-Amz-Signature=" PRESIGN_SIG);
    rs_buf_dispose(&b);
}

static void test_s3_auth_aws_example_chunked_seed(void **state)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_auth auth;
    struct req r;
    const char *msg;

    (void)state;
    req_init(&r, "PUT", "/examplebucket/chunkObject.txt", NULL);
    hdr(&r, "Host", "s3.amazonaws.com");
    hdr(&r, "x-amz-date", AMZ_DATE);
    hdr(&r, "x-amz-storage-class", "REDUCED_REDUNDANCY");
    hdr(&r, "Authorization",
        authz_for("content-encoding;content-length;host;x-amz-content-sha256;"
                  "x-amz-date;x-amz-decoded-content-length;"
                  "x-amz-storage-class",
                  "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9f"
                  "a80a0a9"));
    hdr(&r, "x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD");
    hdr(&r, "Content-Encoding", "aws-chunked");
    hdr(&r, "x-amz-decoded-content-length", "66560");
    hdr(&r, "Content-Length", "66824");
    assert_int_equal(parse(a, &auth, &r, &msg), S3E_NONE);
    assert_int_equal(auth.payload_mode, S3_PAYLOAD_STREAMING_SIGNED);
    assert_int_equal(s3_auth_verify(&auth, SK), S3E_NONE);
    assert_string_equal(auth.signature, "4f232c4386841ef735655705268965c44a0"
                                        "e4690baa4adea153f7db9fa80a0a9");
    rs_arena_free(a);
}

/* ------------------------------------------------------------------ */
/* Canonicalisation                                                     */
/* ------------------------------------------------------------------ */

/* Encode a key as botocore and the JS SDK v3 send it. */
static void client_path(char *out, size_t cap, const char *bucket,
                        const char *key)
{
    struct rs_buf b;

    rs_buf_init(&b, SIZE_MAX);
    assert_int_equal(rs_buf_printf(&b, "/%s/", bucket), RS_OK);
    assert_int_equal(s3_url_encode(&b, key, strlen(key), false), RS_OK);
    assert_true(b.len < cap);
    memcpy(out, b.data, b.len + 1);
    rs_buf_dispose(&b);
}

/* Sign over exactly the path sent (as S3 clients do), then check. */
static void roundtrip_path(const char *path, const char *expect_uri)
{
    char creq[2048], sig[65], authz[512];
    struct rs_arena *a = rs_arena_new();
    struct s3_auth auth;
    struct req r;
    const char *msg;

    snprintf(creq, sizeof(creq), "GET\n%s\n\nhost:localhost:9000\n"
             "x-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:" AMZ_DATE
             "\n\nhost;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD",
             *path ? path : "/");
    sign_creq(sig, creq);
    snprintf(authz, sizeof(authz), "%s",
             authz_for("host;x-amz-content-sha256;x-amz-date", sig));
    req_init(&r, "GET", path, NULL);
    hdr(&r, "host", "localhost:9000");
    hdr(&r, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    hdr(&r, "x-amz-date", AMZ_DATE);
    hdr(&r, "authorization", authz);
    assert_int_equal(parse(a, &auth, &r, &msg), S3E_NONE);
    if (expect_uri != NULL) {
        snprintf(creq, sizeof(creq), "GET\n%s\n\nhost:localhost:9000\n"
                 "x-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:"
                 AMZ_DATE "\n\nhost;x-amz-content-sha256;x-amz-date\n"
                 "UNSIGNED-PAYLOAD", expect_uri);
        assert_creq(&auth, creq);
    }
    if (s3_auth_verify(&auth, SK) != S3E_NONE)
        fail_msg("signature over path %s not accepted", path);
    rs_arena_free(a);
}

static void test_s3_auth_keys_with_special_characters(void **state)
{
    static const char *const keys[] = {
        "plain.txt",
        "a b+c.txt",
        "dir//double/../dots/./x",
        "~tilde-_.",
        "!*'()",
        "$&=,;:@[]{}#?^`|\\\"<>",
        "caf\xc3\xa9/\xe6\x97\xa5\xe6\x9c\xac/\xf0\x9f\x98\x80",
        "100%.txt",
        "trailing/",
    };
    char path[1024];

    (void)state;
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
        client_path(path, sizeof(path), "bucket", keys[i]);
        /* what the client sends is already canonical */
        roundtrip_path(path, path);
    }
}

static void test_s3_auth_canonical_uri_normalises_encoding(void **state)
{
    (void)state;
    /* "%2F" inside a key stays encoded; lowercase hex is uppercased;
     * encoded unreserved characters are decoded; '$' is encoded. */
    roundtrip_path("/bucket/a%2Fb", "/bucket/a%2Fb");
    roundtrip_path("/bucket/a%2fb%7e%41", NULL);
    {
        struct rs_arena *a = rs_arena_new();
        struct s3_auth auth;
        struct req r;
        const char *msg;
        req_init(&r, "GET", "/bucket/a%2fb%7e%41$", NULL);
        hdr(&r, "host", "h");
        hdr(&r, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
        hdr(&r, "x-amz-date", AMZ_DATE);
        hdr(&r, "authorization", authz_for("host", EMPTY_SHA));
        assert_int_equal(parse(a, &auth, &r, &msg), S3E_NONE);
        assert_creq(&auth, "GET\n/bucket/a%2Fb~A%24\n\nhost:h\n\nhost\n"
                           "UNSIGNED-PAYLOAD");
        assert_non_null(auth._string_to_sign_alt);
        rs_arena_free(a);
    }
    /* clients that send reserved characters raw and sign them raw */
    roundtrip_path("/bucket/a=b,c!d(e)", NULL);
    roundtrip_path("", "/");
}

static void test_s3_auth_canonical_query(void **state)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_auth auth;
    struct req r;
    const char *msg;

    (void)state;
    req_init(&r, "GET", "/b", "b=2&a=1&a=0&c&&d=x%2Fy&e=a+b&f=%7e&g=%2a&"
                              "h=/;:@&uploads=");
    hdr(&r, "host", "h");
    hdr(&r, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    hdr(&r, "x-amz-date", AMZ_DATE);
    hdr(&r, "authorization", authz_for("host", EMPTY_SHA));
    assert_int_equal(parse(a, &auth, &r, &msg), S3E_NONE);
    assert_creq(&auth, "GET\n/b\na=0&a=1&b=2&c=&d=x%2Fy&e=a%20b&f=~&g=%2A&"
                       "h=%2F%3B%3A%40&uploads=\nhost:h\n\nhost\n"
                       "UNSIGNED-PAYLOAD");
    rs_arena_free(a);
}

static void test_s3_auth_canonical_headers_trim_and_join(void **state)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_auth auth;
    struct req r;
    const char *msg;

    (void)state;
    req_init(&r, "PUT", "/b/k", NULL);
    hdr(&r, "Host", "h");
    hdr(&r, "X-Amz-Meta-A", "  a    b \t c  ");
    hdr(&r, "x-amz-meta-r", "1");
    hdr(&r, "User-Agent", "not signed");
    hdr(&r, "X-AMZ-META-R", " 2 ");
    hdr(&r, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    hdr(&r, "X-Amz-Date", AMZ_DATE);
    hdr(&r, "Authorization",
        "AWS4-HMAC-SHA256  Credential=" AK "/20130524/us-east-1/s3/"
        "aws4_request ,SignedHeaders=host;x-amz-meta-a;x-amz-meta-r;"
        "x-amz-date,   Signature=" EMPTY_SHA);
    assert_int_equal(parse(a, &auth, &r, &msg), S3E_NONE);
    assert_creq(&auth, "PUT\n/b/k\n\nhost:h\nx-amz-meta-a:a b c\n"
                       "x-amz-meta-r:1,2\nx-amz-date:" AMZ_DATE "\n\n"
                       "host;x-amz-meta-a;x-amz-meta-r;x-amz-date\n"
                       "UNSIGNED-PAYLOAD");
    rs_arena_free(a);
}

static void test_s3_auth_payload_modes(void **state)
{
    static const struct {
        const char *v;
        enum s3_payload_mode m;
    } modes[] = {
        {"UNSIGNED-PAYLOAD", S3_PAYLOAD_UNSIGNED},
        {EMPTY_SHA, S3_PAYLOAD_SIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD", S3_PAYLOAD_STREAMING_SIGNED},
        {"STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
         S3_PAYLOAD_STREAMING_SIGNED_TRAILER},
        {"STREAMING-UNSIGNED-PAYLOAD-TRAILER",
         S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER},
    };
    struct rs_arena *a = rs_arena_new();
    struct s3_auth auth;
    const char *msg;

    (void)state;
    for (size_t i = 0; i < sizeof(modes) / sizeof(modes[0]); i++) {
        struct req r;
        req_init(&r, "PUT", "/b/k", NULL);
        hdr(&r, "host", "h");
        hdr(&r, "x-amz-content-sha256", modes[i].v);
        hdr(&r, "x-amz-date", AMZ_DATE);
        hdr(&r, "authorization", authz_for("host", EMPTY_SHA));
        assert_int_equal(parse(a, &auth, &r, &msg), S3E_NONE);
        assert_int_equal(auth.payload_mode, modes[i].m);
    }
    rs_arena_free(a);
}

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

static void base_req(struct req *r, const char *authz)
{
    req_init(r, "GET", "/b/k", NULL);
    hdr(r, "host", "h");
    hdr(r, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    hdr(r, "x-amz-date", AMZ_DATE);
    if (authz)
        hdr(r, "authorization", authz);
}

static void test_s3_auth_wrong_region(void **state)
{
    struct req r;
    const char *msg = NULL;

    (void)state;
    base_req(&r, authz_for("host", EMPTY_SHA));
    r.region = "eu-west-1";
    assert_int_equal(check(&r, &msg), S3E_AUTH_HEADER_MALFORMED);
    assert_string_equal(msg, "The authorization header is malformed; the "
                             "region 'us-east-1' is wrong; expecting "
                             "'eu-west-1'");

    req_init(&r, "GET", "/test.txt",
             PRESIGN_Q "&X-Amz-Signature=" PRESIGN_SIG);
    hdr(&r, "Host", HOST);
    r.region = "eu-west-1";
    assert_int_equal(check(&r, &msg), S3E_AUTH_QUERY_PARAMS_ERROR);
    assert_string_equal(msg, "Error parsing the X-Amz-Credential parameter; "
                             "the region 'us-east-1' is wrong; expecting "
                             "'eu-west-1'");
}

static void test_s3_auth_malformed_headers(void **state)
{
    static const struct {
        const char *authz;
        enum s3_errcode e;
    } cases[] = {
        {"AWS4-HMAC-SHA256 Credential=HAHAHA", S3E_AUTH_HEADER_MALFORMED},
        {"AWS4 HAHAHA", S3E_INVALID_ARGUMENT},
        {"", S3E_INVALID_ARGUMENT},
        {"AWS4-HMAC-SHA256", S3E_INVALID_ARGUMENT},
        {"AWS4-HMAC-SHA256 ", S3E_AUTH_HEADER_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/"
         "aws4_request, SignedHeaders=host", S3E_AUTH_HEADER_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/"
         "aws4_request, SignedHeaders=host, Signature=abc, Foo=bar",
         S3E_AUTH_HEADER_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, "
         "SignedHeaders=host, Signature=abc", S3E_AUTH_HEADER_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/2013052/us-east-1/s3/"
         "aws4_request, SignedHeaders=host, Signature=abc",
         S3E_AUTH_HEADER_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/ec2/"
         "aws4_request, SignedHeaders=host, Signature=abc",
         S3E_AUTH_HEADER_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/"
         "aws4_requestx, SignedHeaders=host, Signature=abc",
         S3E_AUTH_HEADER_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/"
         "aws4_request, SignedHeaders=, Signature=abc",
         S3E_AUTH_HEADER_MALFORMED},
        {"AWS4-HMAC-SHA256 Credential=" AK "/20130525/us-east-1/s3/"
         "aws4_request, SignedHeaders=host, Signature=abc",
         S3E_AUTH_HEADER_MALFORMED},
        /* well formed but wrong: signature check fails */
        {"AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/"
         "aws4_request, SignedHeaders=host, Signature=abc",
         S3E_SIGNATURE_DOES_NOT_MATCH},
        {"AWS4-HMAC-SHA256 Credential=AKIAIGR7ZNNBHC5BKSUB/20130524/"
         "us-east-1/s3/aws4_request,SignedHeaders=host;user-agent,"
         "Signature=FWeDfwojDSdS2Ztmpfeubhd9isU=",
         S3E_SIGNATURE_DOES_NOT_MATCH},
        {"AWS4-ECDSA-P256-SHA256 Credential=x", S3E_INVALID_ARGUMENT},
    };
    const char *msg;

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct req r;
        base_req(&r, cases[i].authz);
        msg = NULL;
        if (check(&r, &msg) != cases[i].e)
            fail_msg("case %zu (%s): got %d (%s), want %d", i,
                     cases[i].authz, check(&r, &msg), msg ? msg : "",
                     cases[i].e);
    }
}

static void test_s3_auth_credential_date_must_match(void **state)
{
    struct req r;
    const char *msg = NULL;

    (void)state;
    base_req(&r, "AWS4-HMAC-SHA256 Credential=" AK "/20130525/us-east-1/s3/"
                 "aws4_request, SignedHeaders=host, Signature=abc");
    assert_int_equal(check(&r, &msg), S3E_AUTH_HEADER_MALFORMED);
    assert_string_equal(msg, "The authorization header is malformed; Invalid "
                             "credential date \"20130525\". Date is not the "
                             "same as X-Amz-Date: \"20130524\".");
}

static void test_s3_auth_sigv2_rejected(void **state)
{
    struct req r;
    const char *msg = NULL;

    (void)state;
    base_req(&r, "AWS " AK ":frJIUN8DYpKDtOLCwo//yllqDzg=");
    assert_int_equal(check(&r, &msg), S3E_INVALID_REQUEST);
    assert_non_null(strstr(msg, "Please use AWS4-HMAC-SHA256."));

    req_init(&r, "GET", "/b/k", "AWSAccessKeyId=" AK "&Expires=1141889120&"
                                "Signature=vjbyPxybdZaNmGa%2ByT272YEAiv4%3D");
    hdr(&r, "host", "h");
    assert_int_equal(check(&r, &msg), S3E_INVALID_REQUEST);
    assert_non_null(strstr(msg, "Please use AWS4-HMAC-SHA256."));
}

static void test_s3_auth_two_mechanisms_rejected(void **state)
{
    struct req r;
    const char *msg = NULL;

    (void)state;
    base_req(&r, authz_for("host", EMPTY_SHA));
    r.query = PRESIGN_Q "&X-Amz-Signature=" PRESIGN_SIG;
    assert_int_equal(check(&r, &msg), S3E_INVALID_ARGUMENT);
}

static void test_s3_auth_missing_content_sha256(void **state)
{
    struct req r;
    const char *msg = NULL;

    (void)state;
    req_init(&r, "GET", "/b/k", NULL);
    hdr(&r, "host", "h");
    hdr(&r, "x-amz-date", AMZ_DATE);
    hdr(&r, "authorization", authz_for("host", EMPTY_SHA));
    assert_int_equal(check(&r, &msg), S3E_INVALID_REQUEST);
    assert_string_equal(msg, "Missing required header for this request: "
                             "x-amz-content-sha256");

    req_init(&r, "GET", "/b/k", NULL);
    hdr(&r, "host", "h");
    hdr(&r, "x-amz-date", AMZ_DATE);
    hdr(&r, "x-amz-content-sha256", "STREAMING-BOGUS");
    hdr(&r, "authorization", authz_for("host", EMPTY_SHA));
    assert_int_equal(check(&r, &msg), S3E_INVALID_ARGUMENT);
    hdr(&r, "x-amz-content-sha256", "abc"); /* first one counts */
    assert_int_equal(check(&r, &msg), S3E_INVALID_ARGUMENT);
}

static void test_s3_auth_dates(void **state)
{
    struct req r;
    const char *msg = NULL;
    const char *az = authz_for("host", EMPTY_SHA);
    char authz[512];

    (void)state;
    snprintf(authz, sizeof(authz), "%s", az);
    /* skew both ways */
    base_req(&r, authz);
    r.now = T0 + 901;
    assert_int_equal(check(&r, &msg), S3E_REQUEST_TIME_TOO_SKEWED);
    r.now = T0 - 901;
    assert_int_equal(check(&r, &msg), S3E_REQUEST_TIME_TOO_SKEWED);
    r.now = T0 + 900;
    assert_int_equal(check(&r, &msg), S3E_SIGNATURE_DOES_NOT_MATCH);

    /* bad, empty, missing and pre-epoch x-amz-date: AccessDenied */
    static const char *const bad[] = {"Bad Date", "", "19500707T215304Z",
                                      "20130524T000000", "20131324T000000Z"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req_init(&r, "GET", "/b/k", NULL);
        hdr(&r, "host", "h");
        hdr(&r, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
        hdr(&r, "x-amz-date", bad[i]);
        hdr(&r, "Date", "Fri, 24 May 2013 00:00:00 GMT");
        hdr(&r, "authorization", authz);
        assert_int_equal(check(&r, &msg), S3E_ACCESS_DENIED);
        assert_string_equal(msg, "AWS authentication requires a valid Date "
                                 "or x-amz-date header");
    }
    req_init(&r, "GET", "/b/k", NULL);
    hdr(&r, "host", "h");
    hdr(&r, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    hdr(&r, "authorization", authz);
    assert_int_equal(check(&r, &msg), S3E_ACCESS_DENIED);
    /* far future x-amz-date: skew */
    req_init(&r, "GET", "/b/k", NULL);
    hdr(&r, "host", "h");
    hdr(&r, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    hdr(&r, "x-amz-date", "99990707T215304Z");
    hdr(&r, "authorization", "AWS4-HMAC-SHA256 Credential=" AK "/99990707/"
                             "us-east-1/s3/aws4_request, SignedHeaders=host, "
                             "Signature=" EMPTY_SHA);
    assert_int_equal(check(&r, &msg), S3E_REQUEST_TIME_TOO_SKEWED);
    /* Date header alone is accepted and used as the request time */
    req_init(&r, "GET", "/b/k", NULL);
    hdr(&r, "host", "h");
    hdr(&r, "x-amz-content-sha256", "UNSIGNED-PAYLOAD");
    hdr(&r, "Date", "Fri, 24 May 2013 00:00:00 GMT");
    hdr(&r, "authorization", authz);
    assert_int_equal(check(&r, &msg), S3E_SIGNATURE_DOES_NOT_MATCH);
}

static void test_s3_auth_presigned_errors(void **state)
{
    struct req r;
    const char *msg = NULL;

    (void)state;
    req_init(&r, "GET", "/test.txt", NULL);
    hdr(&r, "Host", HOST);

    r.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=" PRESIGN_SIG;
    assert_int_equal(check(&r, &msg), S3E_AUTH_QUERY_PARAMS_ERROR);

    r.query = "X-Amz-Algorithm=AWS4-HMAC-SHA1&X-Amz-Credential=AKIAIOSFODNN7"
              "EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
              "20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host"
              "&X-Amz-Signature=" PRESIGN_SIG;
    assert_int_equal(check(&r, &msg), S3E_AUTH_QUERY_PARAMS_ERROR);

    /* X-Amz-Expires: out of range answers 403, as s3-tests expects */
    r.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7"
              "EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
              "20130524T000000Z&X-Amz-Expires=604801&X-Amz-SignedHeaders=host"
              "&X-Amz-Signature=" PRESIGN_SIG;
    assert_int_equal(check(&r, &msg), S3E_ACCESS_DENIED);
    r.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7"
              "EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
              "20130524T000000Z&X-Amz-Expires=0&X-Amz-SignedHeaders=host"
              "&X-Amz-Signature=" PRESIGN_SIG;
    assert_int_equal(check(&r, &msg), S3E_ACCESS_DENIED);
    r.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7"
              "EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
              "20130524T000000Z&X-Amz-Expires=-5&X-Amz-SignedHeaders=host"
              "&X-Amz-Signature=" PRESIGN_SIG;
    assert_int_equal(check(&r, &msg), S3E_AUTH_QUERY_PARAMS_ERROR);
    /* X-Amz-Expires stripped: fails on the signature (403) */
    r.query = "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7"
              "EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date="
              "20130524T000000Z&X-Amz-SignedHeaders=host"
              "&X-Amz-Signature=" PRESIGN_SIG;
    assert_int_equal(check(&r, &msg), S3E_SIGNATURE_DOES_NOT_MATCH);
    /* tampered query */
    r.query = PRESIGN_Q "&X-Amz-Signature=" PRESIGN_SIG "&extra=1";
    assert_int_equal(check(&r, &msg), S3E_SIGNATURE_DOES_NOT_MATCH);
    /* signed header missing from the request */
    req_init(&r, "GET", "/test.txt",
             PRESIGN_Q "&X-Amz-Signature=" PRESIGN_SIG);
    assert_int_equal(check(&r, &msg), S3E_SIGNATURE_DOES_NOT_MATCH);
}

static void test_s3_auth_anonymous(void **state)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_auth auth;
    struct req r;
    const char *msg;

    (void)state;
    base_req(&r, NULL);
    assert_int_equal(parse(a, &auth, &r, &msg), S3E_NONE);
    assert_true(auth.anonymous);
    assert_int_equal(auth.payload_mode, S3_PAYLOAD_UNSIGNED);

    req_init(&r, "PUT", "/b/k", "x=1");
    hdr(&r, "x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER");
    assert_int_equal(parse(a, &auth, &r, &msg), S3E_NONE);
    assert_true(auth.anonymous);
    assert_int_equal(auth.payload_mode,
                     S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER);
    rs_arena_free(a);
}

static void test_s3_auth_url_decode_encode(void **state)
{
    struct rs_arena *a = rs_arena_new();
    struct rs_buf b;

    (void)state;
    assert_string_equal(s3_url_decode(a, "a%20b+c%2F%7e", 13), "a b+c/~");
    assert_null(s3_url_decode(a, "%zz", 3));
    assert_null(s3_url_decode(a, "ab%4", 4));
    assert_null(s3_url_decode(a, "ab%", 3));
    assert_string_equal(s3_url_decode(a, "", 0), "");
    rs_buf_init(&b, SIZE_MAX);
    assert_int_equal(s3_url_encode(&b, "a b/~*\xc3\xa9", 8, false), RS_OK);
    assert_string_equal(b.data, "a%20b/~%2A%C3%A9");
    rs_buf_reset(&b);
    assert_int_equal(s3_url_encode(&b, "a/b", 3, true), RS_OK);
    assert_string_equal(b.data, "a%2Fb");
    rs_buf_dispose(&b);
    rs_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_auth_aws_example_get_object),
        cmocka_unit_test(test_s3_auth_sign_reproduces_get_object_example),
        cmocka_unit_test(test_s3_auth_aws_example_put_object_dollar_in_key),
        cmocka_unit_test(test_s3_auth_aws_example_get_lifecycle),
        cmocka_unit_test(test_s3_auth_aws_example_list_objects),
        cmocka_unit_test(test_s3_auth_aws_example_presigned_get),
        cmocka_unit_test(test_s3_auth_presign_reproduces_example),
        cmocka_unit_test(test_s3_auth_aws_example_chunked_seed),
        cmocka_unit_test(test_s3_auth_keys_with_special_characters),
        cmocka_unit_test(test_s3_auth_canonical_uri_normalises_encoding),
        cmocka_unit_test(test_s3_auth_canonical_query),
        cmocka_unit_test(test_s3_auth_canonical_headers_trim_and_join),
        cmocka_unit_test(test_s3_auth_payload_modes),
        cmocka_unit_test(test_s3_auth_wrong_region),
        cmocka_unit_test(test_s3_auth_malformed_headers),
        cmocka_unit_test(test_s3_auth_credential_date_must_match),
        cmocka_unit_test(test_s3_auth_sigv2_rejected),
        cmocka_unit_test(test_s3_auth_two_mechanisms_rejected),
        cmocka_unit_test(test_s3_auth_missing_content_sha256),
        cmocka_unit_test(test_s3_auth_dates),
        cmocka_unit_test(test_s3_auth_presigned_errors),
        cmocka_unit_test(test_s3_auth_anonymous),
        cmocka_unit_test(test_s3_auth_url_decode_encode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
