/*
 * tests/unit/ingest/s3_auth_v2_test.c - ingest/s3_auth_v2.c: AWS
 * Signature Version 2 checked against the examples of the S3 guide
 * "Signing and authenticating REST requests" (Object GET, Object PUT,
 * List, Fetch ACL, Upload with amz headers, and the query-string example),
 * canonicalisation of sub-resources and amz headers written out by hand,
 * the x-amz-date form, the path-style "/bucket/" alternative, and every
 * error: expired URL, clock skew, wrong secret, malformed credentials.
 *
 * The example signatures below are AWS's published values; each was also
 * recomputed independently with `openssl dgst -sha1 -hmac`.
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
#define T_GET 1175024202LL /* Tue, 27 Mar 2007 19:36:42 +0000 */

struct req {
    const char *method;
    const char *path;
    const char *query;
    struct rs_kv h[16];
    size_t nh;
    int64_t now;
    int skew;
};

static void req_init(struct req *r, const char *method, const char *path,
                     const char *query, int64_t now)
{
    memset(r, 0, sizeof(*r));
    r->method = method;
    r->path = path;
    r->query = query;
    r->now = now;
    r->skew = 900;
}

static void hdr(struct req *r, const char *name, const char *value)
{
    assert_true(r->nh < 16);
    r->h[r->nh].name = (char *)name;
    r->h[r->nh].value = (char *)value;
    r->nh++;
}

static void input_of(const struct req *r, struct s3_auth_input *in)
{
    memset(in, 0, sizeof(*in));
    in->method = r->method;
    in->raw_path = r->path;
    in->raw_query = r->query;
    in->headers = r->h;
    in->nheaders = r->nh;
    in->now_sec = r->now;
    in->clock_skew = r->skew;
    in->region = "us-east-1";
}

static enum s3_errcode parse(struct rs_arena *a, struct s3_auth_v2 *v,
                             const struct req *r, const char *vhost,
                             const char **msg)
{
    struct s3_auth_input in;
    const char *m = NULL;

    input_of(r, &in);
    if (!msg)
        msg = &m;
    return s3_auth_v2_parse(a, v, &in, vhost, msg);
}

/* Base64 HMAC-SHA1 of sts: what a client would send. */
static const char *sign(struct rs_arena *a, const char *sts,
                        const char *secret)
{
    uint8_t mac[20];
    char *b64 = rs_arena_alloc(a, 32);

    rs_hmac_sha1(mac, secret, strlen(secret), sts, strlen(sts));
    rs_base64(b64, mac, sizeof(mac));
    return b64;
}

static int setup(void **state)
{
    *state = rs_arena_new();
    return 0;
}

static int teardown(void **state)
{
    rs_arena_free(*state);
    return 0;
}

static void test_s3_auth_v2_present_detects_header_and_query_forms(
    void **state)
{
    struct req r;
    struct s3_auth_input in;

    (void)state;
    req_init(&r, "GET", "/", NULL, T_GET);
    input_of(&r, &in);
    assert_false(s3_auth_v2_present(&in));
    hdr(&r, "Authorization", "AWS " AK ":sig=");
    input_of(&r, &in);
    assert_true(s3_auth_v2_present(&in));
    r.h[0].value = "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/"
                   "s3/aws4_request, SignedHeaders=host, Signature=00";
    input_of(&r, &in);
    assert_false(s3_auth_v2_present(&in));
    req_init(&r, "GET", "/b/k", "AWSAccessKeyId=" AK
             "&Expires=1175139620&Signature=abc", T_GET);
    input_of(&r, &in);
    assert_true(s3_auth_v2_present(&in));
    req_init(&r, "GET", "/b/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256"
             "&X-Amz-Signature=abc", T_GET);
    input_of(&r, &in);
    assert_false(s3_auth_v2_present(&in));
}

/* Object GET: virtual-host bucket awsexamplebucket1. */
static void test_s3_auth_v2_aws_example_object_get(void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;

    req_init(&r, "GET", "/photos/puppy.jpg", NULL, T_GET);
    hdr(&r, "Host", "awsexamplebucket1.us-west-1.s3.amazonaws.com");
    hdr(&r, "Date", "Tue, 27 Mar 2007 19:36:42 +0000");
    hdr(&r, "Authorization", "AWS " AK ":qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL), S3E_NONE);
    assert_string_equal(v.access_key, AK);
    assert_string_equal(v.signature, "qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
    assert_false(v.presigned);
    assert_int_equal(v.when, T_GET);
    assert_string_equal(v.string_to_sign,
                        "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n"
                        "/awsexamplebucket1/photos/puppy.jpg");
    assert_int_equal(s3_auth_v2_verify(&v, SK), S3E_NONE);
}

/* The same request sent path-style signs the same string. */
static void test_s3_auth_v2_path_style_signs_same_resource(void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;

    req_init(&r, "GET", "/awsexamplebucket1/photos/puppy.jpg", NULL, T_GET);
    hdr(&r, "Host", "s3.us-west-1.amazonaws.com");
    hdr(&r, "Date", "Tue, 27 Mar 2007 19:36:42 +0000");
    hdr(&r, "Authorization", "AWS " AK ":qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
    assert_int_equal(parse(a, &v, &r, NULL, NULL), S3E_NONE);
    assert_string_equal(v.string_to_sign,
                        "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n"
                        "/awsexamplebucket1/photos/puppy.jpg");
    assert_null(v.alt_string_to_sign);
    assert_int_equal(s3_auth_v2_verify(&v, SK), S3E_NONE);
}

/* Object PUT: Content-Type is signed, Content-Length is not. */
static void test_s3_auth_v2_aws_example_object_put(void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;

    req_init(&r, "PUT", "/photos/puppy.jpg", NULL, T_GET + 6543);
    hdr(&r, "Content-Type", "image/jpeg");
    hdr(&r, "Content-Length", "94328");
    hdr(&r, "Host", "awsexamplebucket1.s3.us-west-1.amazonaws.com");
    hdr(&r, "Date", "Tue, 27 Mar 2007 21:15:45 +0000");
    hdr(&r, "Authorization", "AWS " AK ":iqRzw+ileNPu1fhspnRs8nOjjIA=");
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL), S3E_NONE);
    assert_string_equal(v.string_to_sign,
                        "PUT\n\nimage/jpeg\nTue, 27 Mar 2007 21:15:45 +0000\n"
                        "/awsexamplebucket1/photos/puppy.jpg");
    assert_int_equal(s3_auth_v2_verify(&v, SK), S3E_NONE);
}

/* List: listing parameters are not part of the canonical resource. */
static void test_s3_auth_v2_aws_example_list(void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;

    req_init(&r, "GET", "/", "prefix=photos&max-keys=50&marker=puppy",
             T_GET + 359);
    hdr(&r, "User-Agent", "Mozilla/5.0");
    hdr(&r, "Host", "awsexamplebucket1.us-west-1.s3.amazonaws.com");
    hdr(&r, "Date", "Tue, 27 Mar 2007 19:42:41 +0000");
    hdr(&r, "Authorization", "AWS " AK ":m0WP8eCtspQl5Ahe6L1SozdX9YA=");
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL), S3E_NONE);
    assert_string_equal(v.string_to_sign,
                        "GET\n\n\nTue, 27 Mar 2007 19:42:41 +0000\n"
                        "/awsexamplebucket1/");
    assert_int_equal(s3_auth_v2_verify(&v, SK), S3E_NONE);
}

/* Fetch: the acl sub-resource is part of the canonical resource. */
static void test_s3_auth_v2_aws_example_fetch_acl(void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;

    req_init(&r, "GET", "/", "acl", T_GET + 484);
    hdr(&r, "Host", "awsexamplebucket1.s3.us-west-1.amazonaws.com");
    hdr(&r, "Date", "Tue, 27 Mar 2007 19:44:46 +0000");
    hdr(&r, "Authorization", "AWS " AK ":82ZHiFIjc+WbcwFKGUVEQspPn+0=");
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL), S3E_NONE);
    assert_string_equal(v.string_to_sign,
                        "GET\n\n\nTue, 27 Mar 2007 19:44:46 +0000\n"
                        "/awsexamplebucket1/?acl");
    assert_int_equal(s3_auth_v2_verify(&v, SK), S3E_NONE);
}

/* Upload: Content-MD5, amz headers lower-cased, sorted, repeated ones
 * joined with commas; CNAME-style bucket static.example.com. */
static void test_s3_auth_v2_aws_example_upload_with_amz_headers(void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;

    req_init(&r, "PUT", "/db-backup.dat.gz", NULL, T_GET + 5366);
    hdr(&r, "User-Agent", "curl/7.15.5");
    hdr(&r, "Host", "static.example.com:8080");
    hdr(&r, "Date", "Tue, 27 Mar 2007 21:06:08 +0000");
    hdr(&r, "x-amz-acl", "public-read");
    hdr(&r, "content-type", "application/x-download");
    hdr(&r, "Content-MD5", "4gJE4saaMU4BqNR0kLY+lw==");
    hdr(&r, "X-Amz-Meta-ReviewedBy", "joe@example.com");
    hdr(&r, "X-Amz-Meta-ReviewedBy", "jane@example.com");
    hdr(&r, "X-Amz-Meta-FileChecksum", "0x02661779");
    hdr(&r, "X-Amz-Meta-ChecksumAlgorithm", "crc32");
    hdr(&r, "Content-Disposition", "attachment; filename=database.dat");
    hdr(&r, "Content-Encoding", "gzip");
    hdr(&r, "Content-Length", "5913339");
    hdr(&r, "Authorization", "AWS " AK ":jtBQa0Aq+DkULFI8qrpwIjGEx0E=");
    assert_int_equal(parse(a, &v, &r, "static.example.com", NULL), S3E_NONE);
    assert_string_equal(v.string_to_sign,
                        "PUT\n"
                        "4gJE4saaMU4BqNR0kLY+lw==\n"
                        "application/x-download\n"
                        "Tue, 27 Mar 2007 21:06:08 +0000\n"
                        "x-amz-acl:public-read\n"
                        "x-amz-meta-checksumalgorithm:crc32\n"
                        "x-amz-meta-filechecksum:0x02661779\n"
                        "x-amz-meta-reviewedby:"
                        "joe@example.com,jane@example.com\n"
                        "/static.example.com/db-backup.dat.gz");
    assert_int_equal(s3_auth_v2_verify(&v, SK), S3E_NONE);
}

/* Query-string authentication: Expires takes the place of Date. */
static void test_s3_auth_v2_aws_example_query_string(void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;
    const char *msg = NULL;
    const char *q = "AWSAccessKeyId=" AK "&Expires=1175139620"
                    "&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D";

    req_init(&r, "GET", "/photos/puppy.jpg", q, 1175139620LL - 3600);
    hdr(&r, "Host", "johnsmith.s3.amazonaws.com");
    assert_int_equal(parse(a, &v, &r, "johnsmith", NULL), S3E_NONE);
    assert_true(v.presigned);
    assert_string_equal(v.access_key, AK);
    assert_string_equal(v.signature, "NpgCjnDzrM+WFzoENXmpNDUsSn8=");
    assert_string_equal(v.string_to_sign,
                        "GET\n\n\n1175139620\n/johnsmith/photos/puppy.jpg");
    assert_int_equal(s3_auth_v2_verify(&v, SK), S3E_NONE);
    assert_int_equal(s3_auth_v2_verify(&v, "wrong"),
                     S3E_SIGNATURE_DOES_NOT_MATCH);

    /* still valid in the second it expires, not after */
    r.now = 1175139620LL;
    assert_int_equal(parse(a, &v, &r, "johnsmith", NULL), S3E_NONE);
    r.now = 1175139621LL;
    assert_int_equal(parse(a, &v, &r, "johnsmith", &msg),
                     S3E_ACCESS_DENIED);
    assert_non_null(msg);
    assert_non_null(strstr(msg, "expired"));
}

static void test_s3_auth_v2_query_string_missing_parts_is_access_denied(
    void **state)
{
    static const char *const bad[] = {
        "AWSAccessKeyId=" AK "&Signature=abc",             /* no Expires */
        "Expires=1175139620&Signature=abc",                /* no key */
        "AWSAccessKeyId=" AK "&Expires=1175139620",        /* no sig */
        "AWSAccessKeyId=" AK "&Expires=soon&Signature=abc",
        "AWSAccessKeyId=" AK "&Expires=-5&Signature=abc",
        "AWSAccessKeyId=" AK "&Expires=1175139620&Signature=%zz",
    };
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req_init(&r, "GET", "/photos/puppy.jpg", bad[i], 1175000000LL);
        if (parse(a, &v, &r, "johnsmith", NULL) != S3E_ACCESS_DENIED)
            fail_msg("accepted query: %s", bad[i]);
    }
}

static void test_s3_auth_v2_wrong_secret_or_tampering_does_not_match(
    void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;

    req_init(&r, "GET", "/photos/puppy.jpg", NULL, T_GET);
    hdr(&r, "Date", "Tue, 27 Mar 2007 19:36:42 +0000");
    hdr(&r, "Authorization", "AWS " AK ":qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL), S3E_NONE);
    assert_int_equal(s3_auth_v2_verify(&v, SK "x"),
                     S3E_SIGNATURE_DOES_NOT_MATCH);
    assert_int_equal(s3_auth_v2_verify(&v, ""),
                     S3E_SIGNATURE_DOES_NOT_MATCH);
    /* another object under the same signature */
    r.path = "/photos/kitten.jpg";
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL), S3E_NONE);
    assert_int_equal(s3_auth_v2_verify(&v, SK),
                     S3E_SIGNATURE_DOES_NOT_MATCH);
    /* another method */
    r.path = "/photos/puppy.jpg";
    r.method = "DELETE";
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL), S3E_NONE);
    assert_int_equal(s3_auth_v2_verify(&v, SK),
                     S3E_SIGNATURE_DOES_NOT_MATCH);
    /* a truncated signature */
    r.method = "GET";
    r.h[1].value = "AWS " AK ":qgk2+6Sv9/oM7G3qLEjTH1a1l1g";
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL), S3E_NONE);
    assert_int_equal(s3_auth_v2_verify(&v, SK),
                     S3E_SIGNATURE_DOES_NOT_MATCH);
}

static void test_s3_auth_v2_clock_skew_is_request_time_too_skewed(
    void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;

    req_init(&r, "GET", "/photos/puppy.jpg", NULL, T_GET + 900);
    hdr(&r, "Date", "Tue, 27 Mar 2007 19:36:42 +0000");
    hdr(&r, "Authorization", "AWS " AK ":qgk2+6Sv9/oM7G3qLEjTH1a1l1g=");
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL), S3E_NONE);
    r.now = T_GET - 900;
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL), S3E_NONE);
    r.now = T_GET + 901;
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL),
                     S3E_REQUEST_TIME_TOO_SKEWED);
    r.now = T_GET - 901;
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL),
                     S3E_REQUEST_TIME_TOO_SKEWED);
    r.now = T_GET + 60;
    r.skew = 30;
    assert_int_equal(parse(a, &v, &r, "awsexamplebucket1", NULL),
                     S3E_REQUEST_TIME_TOO_SKEWED);
}

static void test_s3_auth_v2_malformed_header_is_access_denied(void **state)
{
    static const char *const bad[] = {
        "AWS " AK,          /* no colon */
        "AWS :sig",         /* empty key */
        "AWS " AK ":0123456789012345678901234567890123456789"
        "0123456789012345678901234567890", /* signature too long */
    };
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;
    size_t i;
    const char *msg;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        req_init(&r, "GET", "/b/k", NULL, T_GET);
        hdr(&r, "Date", "Tue, 27 Mar 2007 19:36:42 +0000");
        hdr(&r, "Authorization", bad[i]);
        if (parse(a, &v, &r, NULL, NULL) != S3E_ACCESS_DENIED)
            fail_msg("accepted Authorization: %s", bad[i]);
    }
    /* no date at all, or an unparseable one */
    req_init(&r, "GET", "/b/k", NULL, T_GET);
    hdr(&r, "Authorization", "AWS " AK ":abc=");
    msg = NULL;
    assert_int_equal(parse(a, &v, &r, NULL, &msg), S3E_ACCESS_DENIED);
    assert_non_null(msg);
    hdr(&r, "Date", "yesterday");
    assert_int_equal(parse(a, &v, &r, NULL, NULL), S3E_ACCESS_DENIED);
    req_init(&r, "GET", "/b/k", NULL, T_GET);
    hdr(&r, "Authorization", "AWS " AK ":abc=");
    hdr(&r, "x-amz-date", "not a date");
    assert_int_equal(parse(a, &v, &r, NULL, NULL), S3E_ACCESS_DENIED);
}

/* With x-amz-date the Date line is empty and x-amz-date is signed as an
 * amz header (the rule of the guide's "Time stamp requirement"). */
static void test_s3_auth_v2_x_amz_date_replaces_date(void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;
    const char *sts = "DELETE\n\n\n\n"
                      "x-amz-date:Tue, 27 Mar 2007 21:20:26 +0000\n"
                      "/awsexamplebucket1/photos/puppy.jpg";
    char auth[128];

    snprintf(auth, sizeof(auth), "AWS %s:%s", AK, sign(a, sts, SK));
    req_init(&r, "DELETE", "/awsexamplebucket1/photos/puppy.jpg", NULL,
             T_GET + 6224);
    hdr(&r, "User-Agent", "dotnet");
    hdr(&r, "Date", "Tue, 27 Mar 2007 21:20:27 +0000");
    hdr(&r, "x-amz-date", "Tue, 27 Mar 2007 21:20:26 +0000");
    hdr(&r, "Authorization", auth);
    assert_int_equal(parse(a, &v, &r, NULL, NULL), S3E_NONE);
    assert_string_equal(v.string_to_sign, sts);
    assert_int_equal(v.when, T_GET + 6224);
    assert_int_equal(s3_auth_v2_verify(&v, SK), S3E_NONE);
    /* skew is measured against x-amz-date, not Date */
    r.h[1].value = "Tue, 27 Mar 2007 23:20:27 +0000";
    assert_int_equal(parse(a, &v, &r, NULL, NULL), S3E_NONE);
    r.h[2].value = "Tue, 27 Mar 2007 23:20:27 +0000";
    assert_int_equal(parse(a, &v, &r, NULL, NULL),
                     S3E_REQUEST_TIME_TOO_SKEWED);
}

static void test_s3_auth_v2_subresources_sorted_decoded_others_dropped(
    void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;
    const char *sts = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n"
                      "/bucket/dir/key%20x"
                      "?acl&response-content-type=text/plain"
                      "&uploadId=u+1/2&versionId=abc";
    char auth[128];

    snprintf(auth, sizeof(auth), "AWS %s:%s", AK, sign(a, sts, SK));
    req_init(&r, "GET", "/bucket/dir/key%20x",
             "versionId=abc&x-id=GetObject&uploadId=u%2B1%2F2"
             "&prefix=p&response-content-type=text%2Fplain&acl", T_GET);
    hdr(&r, "Date", "Tue, 27 Mar 2007 19:36:42 +0000");
    hdr(&r, "Authorization", auth);
    assert_int_equal(parse(a, &v, &r, NULL, NULL), S3E_NONE);
    assert_string_equal(v.string_to_sign, sts);
    assert_int_equal(s3_auth_v2_verify(&v, SK), S3E_NONE);

    /* partNumber and uploadId of an UploadPart; uploads of Create */
    req_init(&r, "PUT", "/k", "partNumber=3&uploadId=XYZ", T_GET);
    hdr(&r, "Date", "Tue, 27 Mar 2007 19:36:42 +0000");
    hdr(&r, "Authorization", "AWS " AK ":x=");
    assert_int_equal(parse(a, &v, &r, "b", NULL), S3E_NONE);
    assert_string_equal(v.string_to_sign,
                        "PUT\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n"
                        "/b/k?partNumber=3&uploadId=XYZ");
    req_init(&r, "POST", "/k", "uploads", T_GET);
    hdr(&r, "Date", "Tue, 27 Mar 2007 19:36:42 +0000");
    hdr(&r, "Authorization", "AWS " AK ":x=");
    assert_int_equal(parse(a, &v, &r, "b", NULL), S3E_NONE);
    assert_string_equal(v.string_to_sign,
                        "POST\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n"
                        "/b/k?uploads");
}

static void test_s3_auth_v2_bad_percent_in_subresource_is_invalid_uri(
    void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;

    req_init(&r, "GET", "/b/k", "versionId=%zz", T_GET);
    hdr(&r, "Date", "Tue, 27 Mar 2007 19:36:42 +0000");
    hdr(&r, "Authorization", "AWS " AK ":x=");
    assert_int_equal(parse(a, &v, &r, NULL, NULL), S3E_INVALID_URI);
}

/* botocore signs a path-style bucket request as "/bucket/". */
static void test_s3_auth_v2_path_style_bucket_accepts_trailing_slash(
    void **state)
{
    struct rs_arena *a = *state;
    struct s3_auth_v2 v;
    struct req r;
    char auth[128];
    const char *with_slash = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n"
                             "/mybucket/?acl";
    const char *without = "GET\n\n\nTue, 27 Mar 2007 19:36:42 +0000\n"
                          "/mybucket?acl";

    snprintf(auth, sizeof(auth), "AWS %s:%s", AK, sign(a, with_slash, SK));
    req_init(&r, "GET", "/mybucket", "acl", T_GET);
    hdr(&r, "Date", "Tue, 27 Mar 2007 19:36:42 +0000");
    hdr(&r, "Authorization", auth);
    assert_int_equal(parse(a, &v, &r, NULL, NULL), S3E_NONE);
    assert_string_equal(v.string_to_sign, without);
    assert_non_null(v.alt_string_to_sign);
    assert_string_equal(v.alt_string_to_sign, with_slash);
    assert_int_equal(s3_auth_v2_verify(&v, SK), S3E_NONE);
    snprintf(auth, sizeof(auth), "AWS %s:%s", AK, sign(a, without, SK));
    r.h[1].value = auth;
    assert_int_equal(parse(a, &v, &r, NULL, NULL), S3E_NONE);
    assert_int_equal(s3_auth_v2_verify(&v, SK), S3E_NONE);
    assert_int_equal(s3_auth_v2_verify(&v, "other"),
                     S3E_SIGNATURE_DOES_NOT_MATCH);
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_s3_auth_v2_present_detects_header_and_query_forms),
        T(test_s3_auth_v2_aws_example_object_get),
        T(test_s3_auth_v2_path_style_signs_same_resource),
        T(test_s3_auth_v2_aws_example_object_put),
        T(test_s3_auth_v2_aws_example_list),
        T(test_s3_auth_v2_aws_example_fetch_acl),
        T(test_s3_auth_v2_aws_example_upload_with_amz_headers),
        T(test_s3_auth_v2_aws_example_query_string),
        T(test_s3_auth_v2_query_string_missing_parts_is_access_denied),
        T(test_s3_auth_v2_wrong_secret_or_tampering_does_not_match),
        T(test_s3_auth_v2_clock_skew_is_request_time_too_skewed),
        T(test_s3_auth_v2_malformed_header_is_access_denied),
        T(test_s3_auth_v2_x_amz_date_replaces_date),
        T(test_s3_auth_v2_subresources_sorted_decoded_others_dropped),
        T(test_s3_auth_v2_bad_percent_in_subresource_is_invalid_uri),
        T(test_s3_auth_v2_path_style_bucket_accepts_trailing_slash),
    };
#undef T

    return cmocka_run_group_tests(tests, NULL, NULL);
}
