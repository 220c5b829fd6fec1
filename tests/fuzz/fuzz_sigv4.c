/*
 * tests/fuzz/fuzz_sigv4.c - libFuzzer target for ingest/s3_auth.c and
 * ingest/s3_payload.c.
 *
 * Input layout (everything optional; missing parts are empty):
 *   byte 0       flags: bit 0 = sign the request first (round trip),
 *                bits 1-7 = feed step for the body (1 + value)
 *   then lines   "METHOD\n" "raw path\n" "raw query\n"
 *                "name:value\n" ... (headers) "\n"
 *   then         the request body, fed to the payload decoder
 *
 * Besides "no crash, no leak, no UB", two properties are checked:
 *   - a request signed with s3_auth_sign (flag bit 0, when the fuzzed
 *     parts do not themselves carry auth) parses and verifies;
 *   - the body, framed as aws-chunked with an unsigned CRC32 trailer in
 *     chunks chosen by the input, decodes back to the same bytes.
 */
#include "ingest/s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define SECRET "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define NOW 1369353600
#define MAX_HEADERS 32

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct input {
    uint8_t flags;
    char *method, *path, *query;
    struct rs_kv h[MAX_HEADERS + 4];
    size_t nh;
    const char *body;
    size_t body_len;
};

/* Split a copy of the input (copy is NUL-padded and owned by the caller). */
static void split(struct input *in, char *copy, size_t n)
{
    char *p = copy, *end = copy + n;
    char **fields[3] = {&in->method, &in->path, &in->query};

    memset(in, 0, sizeof(*in));
    if (n == 0) {
        in->method = in->path = in->query = copy;
        in->body = copy;
        return;
    }
    in->flags = (uint8_t)*p++;
    for (int i = 0; i < 3; i++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        *fields[i] = p;
        if (nl == NULL) {
            p = end;
            continue;
        }
        *nl = '\0';
        p = nl + 1;
    }
    while (p < end && in->nh < MAX_HEADERS) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *colon;
        if (nl == p) { /* empty line: body follows */
            p++;
            break;
        }
        if (nl)
            *nl = '\0';
        colon = strchr(p, ':');
        if (colon) {
            *colon = '\0';
            in->h[in->nh].name = p;
            in->h[in->nh].value = colon + 1;
            in->nh++;
        }
        p = nl ? nl + 1 : end;
    }
    in->body = p;
    in->body_len = (size_t)(end - p);
}

static const char *hget(const struct input *in, const char *name)
{
    for (size_t i = 0; i < in->nh; i++)
        if (strcasecmp(in->h[i].name, name) == 0)
            return in->h[i].value;
    return NULL;
}

static int sink_count(void *arg, const void *d, size_t n)
{
    (void)d;
    *(uint64_t *)arg += n;
    return RS_OK;
}

struct cmp {
    const char *want;
    size_t len, off;
    bool ok;
};

static int sink_compare(void *arg, const void *d, size_t n)
{
    struct cmp *c = arg;
    if (c->off + n > c->len || memcmp(c->want + c->off, d, n) != 0)
        c->ok = false;
    c->off += n;
    return RS_OK;
}

/* The payload decoder on the fuzzed body, options from the headers. */
static void run_payload(struct rs_arena *a, const struct s3_auth *auth,
                        const struct input *in)
{
    struct s3_payload_opts o = {0};
    struct s3_payload *p;
    const char *msg;
    uint64_t got = 0;
    int sink_rc = 0;
    size_t step = 1 + (in->flags >> 1);

    o.auth = auth;
    o.content_md5 = hget(in, "content-md5");
    o.decoded_length = hget(in, "x-amz-decoded-content-length");
    o.trailer = hget(in, "x-amz-trailer");
    o.checksum_algorithm = hget(in, "x-amz-sdk-checksum-algorithm");
    for (size_t i = 0; i < in->nh; i++) {
        enum s3_cksum c = s3_cksum_from_header(in->h[i].name);
        if (c != S3_CKSUM_NONE) {
            o.header_cksum = c;
            o.header_cksum_value = in->h[i].value;
            break;
        }
    }
    if (s3_payload_new(a, &p, &o, &msg) != S3E_NONE)
        return;
    for (size_t i = 0; i < in->body_len; i += step) {
        size_t m = in->body_len - i < step ? in->body_len - i : step;
        if (s3_payload_feed(p, in->body + i, m, sink_count, &got, &sink_rc,
                            &msg) != S3E_NONE)
            return;
    }
    if (s3_payload_finish(p, &msg) == S3E_NONE) {
        const char *b64;
        uint8_t md5[16];
        if (s3_payload_decoded_size(p) != got)
            abort();
        s3_payload_md5(p, md5);
        (void)s3_payload_checksum(p, &b64); /* result unused: smoke */
    }
}

/* Frame the body as aws-chunked with a CRC32 trailer; must round trip. */
static void run_chunked_round_trip(struct rs_arena *a, const struct input *in)
{
    struct s3_auth auth = {.anonymous = true,
                           .payload_mode =
                               S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER};
    struct s3_payload_opts o = {.auth = &auth,
                                .trailer = "x-amz-checksum-crc32"};
    struct s3_payload *p;
    struct rs_buf b;
    struct cmp c = {in->body, in->body_len, 0, true};
    const char *msg;
    char crc[16];
    uint32_t v = rs_crc32(0, in->body, in->body_len);
    uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16),
                     (uint8_t)(v >> 8), (uint8_t)v};
    size_t chunk = 1 + (in->flags >> 1) * 3;
    int sink_rc = 0;

    rs_base64(crc, be, 4);
    rs_buf_init(&b, SIZE_MAX);
    for (size_t i = 0; i < in->body_len; i += chunk) {
        size_t m = in->body_len - i < chunk ? in->body_len - i : chunk;
        if (rs_buf_printf(&b, "%zx;ext=1\r\n", m) != RS_OK ||
            rs_buf_append(&b, in->body + i, m) != RS_OK ||
            rs_buf_puts(&b, "\r\n") != RS_OK)
            abort();
    }
    if (rs_buf_printf(&b, "0\r\nx-amz-checksum-crc32:%s\r\n\r\n", crc) !=
        RS_OK)
        abort();
    if (s3_payload_new(a, &p, &o, &msg) != S3E_NONE ||
        s3_payload_feed(p, b.data, b.len, sink_compare, &c, &sink_rc,
                        &msg) != S3E_NONE ||
        s3_payload_finish(p, &msg) != S3E_NONE || !c.ok ||
        c.off != in->body_len) {
        fprintf(stderr, "chunked round trip failed: %s\n", msg ? msg : "");
        abort();
    }
    rs_buf_dispose(&b);
}

static bool is_token(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
              (*s >= '0' && *s <= '9') || strchr("!#$%&'*+-.^_`|~", *s)))
            return false;
    return true;
}

/* Can s3_auth_sign's output be expected to verify for this input? */
static bool signable(const struct input *in)
{
    if (in->method[0] == '\0' || strstr(in->query, "X-Amz-") ||
        strstr(in->query, "AWSAccessKeyId"))
        return false;
    for (size_t i = 0; i < in->nh; i++) {
        const char *n = in->h[i].name;
        if (!is_token(n) || strcasecmp(n, "authorization") == 0 ||
            strcasecmp(n, "x-amz-date") == 0 ||
            strcasecmp(n, "x-amz-content-sha256") == 0 ||
            strcasecmp(n, "date") == 0)
            return false;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = calloc(1, size + 1);
    struct rs_arena *a = rs_arena_new();
    struct input in;
    struct s3_auth auth;
    struct s3_auth_input ai;
    struct rs_buf authz;
    const char *msg;
    enum s3_errcode e;
    bool expect_ok = false;

    memcpy(copy, data, size);
    split(&in, copy, size);
    rs_buf_init(&authz, SIZE_MAX);

    if ((in.flags & 1) && signable(&in)) {
        in.h[in.nh++] = (struct rs_kv){"x-amz-date", "20130524T000000Z"};
        in.h[in.nh++] = (struct rs_kv){"x-amz-content-sha256",
                                       "UNSIGNED-PAYLOAD"};
        if (s3_auth_sign(&authz, "AK", SECRET, "us-east-1", in.method,
                         in.path, in.query, in.h, in.nh, NULL) != RS_OK)
            abort();
        in.h[in.nh++] = (struct rs_kv){"Authorization", authz.data};
        expect_ok = true;
    }

    ai = (struct s3_auth_input){
        .method = in.method,
        .raw_path = in.path,
        .raw_query = in.query[0] ? in.query : NULL,
        .headers = in.h,
        .nheaders = in.nh,
        .now_sec = NOW,
        .clock_skew = 900,
        .region = "us-east-1",
    };
    e = s3_auth_parse(a, &auth, &ai, &msg);
    if (e == S3E_NONE && !auth.anonymous)
        e = s3_auth_verify(&auth, SECRET);
    if (expect_ok && e != S3E_NONE) {
        fprintf(stderr, "signed request rejected: %d %s\n", e,
                msg ? msg : "");
        abort();
    }
    if (e == S3E_NONE)
        run_payload(a, &auth, &in);
    run_payload(a, NULL, &in);
    run_chunked_round_trip(a, &in);

    rs_buf_dispose(&authz);
    rs_arena_free(a);
    free(copy);
    return 0;
}
