/*
 * ingest/s3_auth_v2.c - AWS Signature Version 2, in the Authorization
 * header ("AWS AccessKeyId:Signature") and in query strings
 * (AWSAccessKeyId, Signature, Expires).
 *
 * S3 still accepts SigV2, and clients still send it: boto3 before 1.36
 * presigns GET URLs with SigV2 unless told otherwise, and old tools sign
 * every request with it.  The payload is never signed in V2, so the body
 * is checked only against Content-MD5 / x-amz-checksum-* (s3_payload.c).
 *
 *   StringToSign = Verb "\n" Content-MD5 "\n" Content-Type "\n"
 *                  Date-or-Expires "\n" CanonicalizedAmzHeaders
 *                  CanonicalizedResource
 *   Signature    = Base64(HMAC-SHA1(secret, StringToSign))
 *
 * Date is empty when x-amz-date is sent (it is then an amz header); for
 * query authentication it is the Expires value.  CanonicalizedResource is
 * "/bucket" for virtual-host requests, then the path as sent, then the
 * sub-resources of interest, sorted, decoded.
 */
#include "ingest/s3_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Query parameters that are part of the V2 canonical resource. */
static const char *const v2_subresources[] = {
    "accelerate", "acl", "analytics", "cors", "delete", "inventory",
    "legal-hold", "lifecycle", "location", "logging", "metrics",
    "notification", "object-lock", "partNumber", "policy", "replication",
    "requestPayment", "response-cache-control",
    "response-content-disposition", "response-content-encoding",
    "response-content-language", "response-content-type",
    "response-expires", "restore", "retention", "select", "select-type",
    "tagging", "torrent", "uploadId", "uploads", "versionId", "versioning",
    "versions", "website",
};

static bool is_subresource(const char *name, size_t n)
{
    size_t i;

    for (i = 0; i < sizeof(v2_subresources) / sizeof(v2_subresources[0]);
         i++)
        if (strlen(v2_subresources[i]) == n &&
            !strncmp(v2_subresources[i], name, n))
            return true;
    return false;
}

static const char *header(const struct s3_auth_input *in, const char *name)
{
    size_t i;

    for (i = 0; i < in->nheaders; i++)
        if (!strcasecmp(in->headers[i].name, name))
            return in->headers[i].value;
    return NULL;
}

/* The raw value of query parameter name (not decoded), or NULL. */
static const char *raw_param(struct rs_arena *a, const char *query,
                             const char *name)
{
    size_t nl = strlen(name);
    const char *p = query;

    while (p && *p) {
        size_t len = strcspn(p, "&");

        if (len > nl && p[nl] == '=' && !strncmp(p, name, nl))
            return rs_arena_strndup(a, p + nl + 1, len - nl - 1);
        p += len;
        if (*p == '&')
            p++;
    }
    return NULL;
}

bool s3_auth_v2_present(const struct s3_auth_input *in)
{
    const char *auth = header(in, "Authorization");

    if (auth)
        return !strncmp(auth, "AWS ", 4);
    return in->raw_query && strstr(in->raw_query, "AWSAccessKeyId=") &&
           strstr(in->raw_query, "Signature=");
}

struct amz_hdr {
    char *name;   /* lower case */
    const char *value;
    size_t pos;   /* order in the request: repeated headers keep it */
};

static int amz_cmp(const void *a, const void *b)
{
    const struct amz_hdr *x = a, *y = b;
    int c = strcmp(x->name, y->name);

    if (c)
        return c;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Value with line folding removed and surrounding spaces trimmed. */
static void put_trimmed(struct rs_buf *b, const char *v)
{
    const char *end = v + strlen(v);

    while (v < end && isspace((unsigned char)*v))
        v++;
    while (end > v && isspace((unsigned char)end[-1]))
        end--;
    (void)rs_buf_append(b, v, (size_t)(end - v));
}

static void canonical_amz_headers(struct rs_arena *a, struct rs_buf *b,
                                  const struct s3_auth_input *in)
{
    struct amz_hdr *h = rs_arena_alloc(a, (in->nheaders + 1) * sizeof(*h));
    size_t n = 0, i;

    for (i = 0; i < in->nheaders; i++) {
        if (strncasecmp(in->headers[i].name, "x-amz-", 6))
            continue;
        h[n].name = rs_arena_strdup(a, in->headers[i].name);
        for (char *p = h[n].name; *p; p++)
            *p = (char)tolower((unsigned char)*p);
        h[n].value = in->headers[i].value;
        h[n].pos = n;
        n++;
    }
    qsort(h, n, sizeof(*h), amz_cmp);
    for (i = 0; i < n; i++) {
        if (i && !strcmp(h[i].name, h[i - 1].name)) {
            (void)rs_buf_puts(b, ",");
        } else {
            if (i)
                (void)rs_buf_puts(b, "\n");
            (void)rs_buf_printf(b, "%s:", h[i].name);
        }
        put_trimmed(b, h[i].value);
    }
    if (n)
        (void)rs_buf_puts(b, "\n");
}

struct sub {
    char *name;
    char *value; /* NULL when the parameter had no '=' */
};

static int sub_cmp(const void *a, const void *b)
{
    return strcmp(((const struct sub *)a)->name,
                  ((const struct sub *)b)->name);
}

static enum s3_errcode canonical_resource(struct rs_arena *a,
                                          struct rs_buf *b,
                                          const struct s3_auth_input *in,
                                          const char *vhost_bucket)
{
    struct sub *subs;
    size_t n = 0, cap = 8, i;
    const char *p = in->raw_query;

    if (vhost_bucket)
        (void)rs_buf_printf(b, "/%s", vhost_bucket);
    (void)rs_buf_puts(b, in->raw_path);
    subs = rs_arena_alloc(a, cap * sizeof(*subs));
    while (p && *p) {
        size_t len = strcspn(p, "&");
        const char *eq = memchr(p, '=', len);
        size_t nl = eq ? (size_t)(eq - p) : len;

        if (is_subresource(p, nl)) {
            if (n == cap) {
                struct sub *ns = rs_arena_alloc(a, 2 * cap * sizeof(*ns));

                memcpy(ns, subs, n * sizeof(*ns));
                subs = ns;
                cap *= 2;
            }
            subs[n].name = rs_arena_strndup(a, p, nl);
            subs[n].value = eq ? s3_url_decode(a, eq + 1,
                                               len - nl - 1)
                               : NULL;
            if (eq && !subs[n].value)
                return S3E_INVALID_URI;
            n++;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    qsort(subs, n, sizeof(*subs), sub_cmp);
    for (i = 0; i < n; i++) {
        (void)rs_buf_puts(b, i ? "&" : "?");
        (void)rs_buf_puts(b, subs[i].name);
        if (subs[i].value)
            (void)rs_buf_printf(b, "=%s", subs[i].value);
    }
    return S3E_NONE;
}

enum s3_errcode s3_auth_v2_parse(struct rs_arena *a, struct s3_auth_v2 *out,
                                 const struct s3_auth_input *in,
                                 const char *vhost_bucket,
                                 const char **msg_out)
{
    const char *auth = header(in, "Authorization");
    const char *md5 = header(in, "Content-MD5");
    const char *ctype = header(in, "Content-Type");
    const char *date;
    struct rs_buf sts;
    enum s3_errcode e;

    memset(out, 0, sizeof(*out));
    if (auth) {
        const char *ak = auth + 4 + strspn(auth + 4, " ");
        const char *colon = strrchr(ak, ':');
        size_t aklen;

        if (!colon)
            return S3E_ACCESS_DENIED;
        aklen = (size_t)(colon - ak);
        if (aklen == 0 || aklen >= sizeof(out->access_key) ||
            strlen(colon + 1) >= sizeof(out->signature))
            return S3E_ACCESS_DENIED;
        memcpy(out->access_key, ak, aklen);
        snprintf(out->signature, sizeof(out->signature), "%s", colon + 1);
        if (header(in, "x-amz-date")) {
            int64_t t;

            if (rs_time_parse(&t, header(in, "x-amz-date"))) {
                *msg_out = "AWS authentication requires a valid Date or "
                           "x-amz-date header";
                return S3E_ACCESS_DENIED;
            }
            out->when = t;
            date = "";
        } else {
            date = header(in, "Date");
            if (!date || rs_time_parse(&out->when, date)) {
                *msg_out = "AWS authentication requires a valid Date or "
                           "x-amz-date header";
                return S3E_ACCESS_DENIED;
            }
        }
        if (llabs(out->when - in->now_sec) > in->clock_skew)
            return S3E_REQUEST_TIME_TOO_SKEWED;
    } else {
        const char *ak = raw_param(a, in->raw_query, "AWSAccessKeyId");
        const char *sig = raw_param(a, in->raw_query, "Signature");
        const char *exp = raw_param(a, in->raw_query, "Expires");
        char *dak, *dsig;
        uint64_t t;

        if (!ak || !sig || !exp)
            return S3E_ACCESS_DENIED;
        dak = s3_url_decode(a, ak, strlen(ak));
        dsig = s3_url_decode(a, sig, strlen(sig));
        if (!dak || !dsig || strlen(dak) >= sizeof(out->access_key) ||
            strlen(dsig) >= sizeof(out->signature) ||
            rs_parse_u64(&t, exp, strlen(exp)))
            return S3E_ACCESS_DENIED;
        snprintf(out->access_key, sizeof(out->access_key), "%s", dak);
        snprintf(out->signature, sizeof(out->signature), "%s", dsig);
        if ((int64_t)t < in->now_sec) {
            *msg_out = "Request has expired";
            return S3E_ACCESS_DENIED;
        }
        out->presigned = true;
        date = exp;
    }
    rs_buf_init(&sts, 64 * 1024);
    (void)rs_buf_printf(&sts, "%s\n%s\n%s\n%s\n", in->method,
                        md5 ? md5 : "", ctype ? ctype : "", date);
    canonical_amz_headers(a, &sts, in);
    e = canonical_resource(a, &sts, in, vhost_bucket);
    if (e) {
        rs_buf_dispose(&sts);
        return e;
    }
    out->string_to_sign = rs_arena_strndup(a, sts.data, sts.len);
    rs_buf_dispose(&sts);
    /* A bucket-level request ("/bucket"): botocore signs "/bucket/". */
    if (!vhost_bucket && in->raw_path[0] == '/' && in->raw_path[1] &&
        !strchr(in->raw_path + 1, '/')) {
        const char *res = strstr(out->string_to_sign, in->raw_path);

        while (res && strstr(res + 1, in->raw_path))
            res = strstr(res + 1, in->raw_path);
        if (res) {
            size_t pre = (size_t)(res - out->string_to_sign) +
                         strlen(in->raw_path);

            out->alt_string_to_sign = rs_arena_sprintf(
                a, "%.*s/%s", (int)pre, out->string_to_sign,
                out->string_to_sign + pre);
        }
    }
    return S3E_NONE;
}

enum s3_errcode s3_auth_v2_verify(const struct s3_auth_v2 *v,
                                  const char *secret_key)
{
    uint8_t mac[20];
    char b64[32];

    const char *candidates[2] = { v->string_to_sign, v->alt_string_to_sign };
    int i;

    for (i = 0; i < 2 && candidates[i]; i++) {
        rs_hmac_sha1(mac, secret_key, strlen(secret_key), candidates[i],
                     strlen(candidates[i]));
        rs_base64(b64, mac, sizeof(mac));
        if (strlen(b64) == strlen(v->signature) &&
            rs_ct_equal(b64, v->signature, strlen(b64)))
            return S3E_NONE;
    }
    return S3E_SIGNATURE_DOES_NOT_MATCH;
}
