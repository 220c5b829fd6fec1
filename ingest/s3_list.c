/*
 * ingest/s3_list.c - ListObjects (v1), ListObjectsV2 and
 * ListObjectVersions (every object is its only, "null", version: versioning
 * is never enabled on a roadstore bucket).
 *
 * One store_object_list call per request: a single range scan of the
 * index in key order, common prefixes skipped by seeking.
 */
#include "ingest/s3_int.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S3_XMLNS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
#define S3_MAX_KEYS 1000

enum list_kind { LIST_V1, LIST_V2, LIST_VERSIONS };

struct list_ctx {
    struct s3_req *r;
    enum list_kind kind;
    bool url;            /* encoding-type=url */
    bool owner;          /* include <Owner> */
    struct rs_buf items; /* Contents / Version entries */
    struct rs_buf prefixes;
    size_t count;
};

static enum s3_errcode list_authorize(struct s3_req *r)
{
    return s3_acl_allows(r, &r->bkt.acl, STORE_PERM_READ) ? S3E_NONE
                                                          : S3E_ACCESS_DENIED;
}

static int list_cb(void *arg, const struct store_list_entry *e)
{
    struct list_ctx *c = arg;
    struct rs_buf *b = &c->items;

    c->count++;
    if (e->prefix) {
        (void)rs_buf_puts(&c->prefixes, "<CommonPrefixes>");
        s3_xml_elem_key(&c->prefixes, "Prefix", e->prefix, c->url);
        (void)rs_buf_puts(&c->prefixes, "</CommonPrefixes>");
        return 0;
    }
    (void)rs_buf_puts(b, c->kind == LIST_VERSIONS ? "<Version>"
                                                  : "<Contents>");
    s3_xml_elem_key(b, "Key", e->obj->key, c->url);
    if (c->kind == LIST_VERSIONS) {
        s3_xml_elem(b, "VersionId", "null");
        s3_xml_elem(b, "IsLatest", "true");
    }
    s3_xml_elem_time(b, "LastModified", e->obj->mtime_ns);
    (void)rs_buf_puts(b, "<ETag>&quot;");
    (void)rs_buf_xml_escape(b, e->obj->etag);
    (void)rs_buf_puts(b, "&quot;</ETag>");
    s3_xml_elem_u64(b, "Size", e->obj->size);
    if (c->owner)
        s3_xml_owner(c->r, b, "Owner", e->obj->acl.owner);
    s3_xml_elem(b, "StorageClass", e->obj->storage_class
                                       ? e->obj->storage_class
                                       : "STANDARD");
    (void)rs_buf_puts(b, c->kind == LIST_VERSIONS ? "</Version>"
                                                  : "</Contents>");
    return 0;
}

static enum s3_errcode parse_max(struct s3_req *r, const char *name,
                                 size_t *out)
{
    const char *v = s3_req_param(r, name);
    uint64_t n;

    *out = S3_MAX_KEYS;
    if (!v)
        return S3E_NONE;
    if (rs_parse_u64(&n, v, strlen(v)))
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       "Provided max-keys not an integer or within integer "
                       "range");
    *out = n > S3_MAX_KEYS ? S3_MAX_KEYS : (size_t)n;
    return S3E_NONE;
}

static enum s3_errcode list_execute_kind(struct s3_req *r,
                                         enum list_kind kind)
{
    struct list_ctx c = { .r = r, .kind = kind };
    struct store_list_opts o = { 0 };
    const char *enc = s3_req_param(r, "encoding-type");
    const char *token = NULL, *start_after = NULL, *marker = NULL;
    const char *next = NULL;
    bool truncated = false;
    struct rs_buf *b = &r->rsp_body;
    enum s3_errcode e;
    int rc;

    if (enc && strcmp(enc, "url"))
        return s3_fail(r, S3E_INVALID_ARGUMENT, "Invalid Encoding Method "
                       "specified in Request");
    /* allow-unordered (RGW's extension, which ceph/s3-tests checks): our
     * listings are always ordered, so it changes nothing, except that it
     * cannot be combined with a delimiter. */
    if (s3_req_param(r, "allow-unordered") &&
        !strcasecmp(s3_req_param(r, "allow-unordered"), "true") &&
        s3_req_param(r, "delimiter") && *s3_req_param(r, "delimiter"))
        return s3_fail(r, S3E_INVALID_ARGUMENT, "allow-unordered cannot be "
                       "used with a delimiter");
    c.url = enc != NULL;
    c.owner = kind != LIST_V2;
    if ((e = parse_max(r, "max-keys", &o.max_keys)))
        return e;
    o.prefix = s3_req_param(r, "prefix");
    o.delimiter = s3_req_param(r, "delimiter");
    if (kind == LIST_V1) {
        marker = s3_req_param(r, "marker");
        o.start_after = marker;
    } else if (kind == LIST_VERSIONS) {
        marker = s3_req_param(r, "key-marker");
        o.start_after = marker;
    } else {
        const char *fo = s3_req_param(r, "fetch-owner");

        c.owner = fo && !strcmp(fo, "true");
        token = s3_req_param(r, "continuation-token");
        start_after = s3_req_param(r, "start-after");
        if (token && *token) {
            size_t tl = strlen(token);
            uint8_t *dec = rs_arena_alloc(r->a, tl + 1);
            int n = rs_base64_decode(dec, tl + 1, token, tl);

            if (n < 0)
                return s3_fail(r, S3E_INVALID_ARGUMENT,
                               "The continuation token provided is "
                               "incorrect");
            dec[n] = '\0';
            o.start_after = (const char *)dec;
        } else {
            o.start_after = start_after;
        }
    }
    rs_buf_init(&c.items, SIZE_MAX);
    rs_buf_init(&c.prefixes, SIZE_MAX);
    rc = store_object_list(r->store, r->a, r->bucket, &o, list_cb, &c,
                           &truncated, &next);
    if (rc) {
        rs_buf_dispose(&c.items);
        rs_buf_dispose(&c.prefixes);
        return s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET);
    }

    s3_rsp_xml_begin(r);
    (void)rs_buf_printf(b, "<%s " S3_XMLNS ">",
                        kind == LIST_VERSIONS ? "ListVersionsResult"
                                              : "ListBucketResult");
    s3_xml_elem(b, "Name", r->bucket);
    s3_xml_elem_key(b, "Prefix", o.prefix ? o.prefix : "", c.url);
    if (kind == LIST_V1) {
        s3_xml_elem_key(b, "Marker", marker ? marker : "", c.url);
        if (truncated && next && o.delimiter && *o.delimiter)
            s3_xml_elem_key(b, "NextMarker", next, c.url);
    } else if (kind == LIST_VERSIONS) {
        s3_xml_elem_key(b, "KeyMarker", marker ? marker : "", c.url);
        s3_xml_elem(b, "VersionIdMarker",
                    s3_req_param(r, "version-id-marker")
                        ? s3_req_param(r, "version-id-marker")
                        : "");
        if (truncated && next) {
            s3_xml_elem_key(b, "NextKeyMarker", next, c.url);
            s3_xml_elem(b, "NextVersionIdMarker", "null");
        }
    } else {
        s3_xml_elem_u64(b, "KeyCount", c.count);
        if (token)
            s3_xml_elem(b, "ContinuationToken", token);
        if (truncated && next) {
            size_t nl = strlen(next);
            char *tok = rs_arena_alloc(r->a, 4 * ((nl + 2) / 3) + 1);

            rs_base64(tok, (const uint8_t *)next, nl);
            s3_xml_elem(b, "NextContinuationToken", tok);
        }
        if (start_after)
            s3_xml_elem_key(b, "StartAfter", start_after, c.url);
    }
    s3_xml_elem_u64(b, "MaxKeys", o.max_keys);
    if (o.delimiter && *o.delimiter)
        s3_xml_elem_key(b, "Delimiter", o.delimiter, c.url);
    s3_xml_elem(b, "IsTruncated", truncated ? "true" : "false");
    if (c.url)
        s3_xml_elem(b, "EncodingType", "url");
    if (c.items.len)
        (void)rs_buf_append(b, c.items.data, c.items.len);
    if (c.prefixes.len)
        (void)rs_buf_append(b, c.prefixes.data, c.prefixes.len);
    (void)rs_buf_printf(b, "</%s>", kind == LIST_VERSIONS
                                        ? "ListVersionsResult"
                                        : "ListBucketResult");
    rs_buf_dispose(&c.items);
    rs_buf_dispose(&c.prefixes);
    r->status = 200;
    return S3E_NONE;
}

static enum s3_errcode list_v1_execute(struct s3_req *r)
{
    return list_execute_kind(r, LIST_V1);
}

static enum s3_errcode list_v2_execute(struct s3_req *r)
{
    return list_execute_kind(r, LIST_V2);
}

static enum s3_errcode list_versions_execute(struct s3_req *r)
{
    return list_execute_kind(r, LIST_VERSIONS);
}

const struct s3_op s3_op_list_objects = {
    "ListObjects", 0, list_authorize, NULL, list_v1_execute,
};
const struct s3_op s3_op_list_objects_v2 = {
    "ListObjectsV2", 0, list_authorize, NULL, list_v2_execute,
};
const struct s3_op s3_op_list_object_versions = {
    "ListObjectVersions", 0, list_authorize, NULL, list_versions_execute,
};
