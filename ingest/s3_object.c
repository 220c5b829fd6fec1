/*
 * ingest/s3_object.c - the object operations: PutObject, GetObject,
 * HeadObject, DeleteObject, DeleteObjects, CopyObject, and the helpers
 * they share with multipart (metadata from headers, response headers,
 * copy source, ranges, conditionals).
 *
 * execute stages speak only the store API; S3 codes stay here.
 */
#include "ingest/s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define S3_MAX_META_BYTES 2048 /* AWS: user metadata limit */
#define S3_COPY_CHUNK (1024 * 1024)

/* Headers stored with an object and returned on GET/HEAD. */
static const char *const stored_headers[] = {
    "Content-Type", "Content-Encoding", "Content-Disposition",
    "Content-Language", "Cache-Control", "Expires",
};
#define NSTORED (sizeof(stored_headers) / sizeof(stored_headers[0]))

/* ------------------------------------------------------------------ */
/* Shared helpers                                                       */
/* ------------------------------------------------------------------ */

static void hex_md5(char out[33], const uint8_t md5[16])
{
    rs_hex(out, md5, 16);
}

bool s3_etag_matches(const char *header, const char *etag)
{
    const char *p = header;

    while (*p) {
        const char *end;
        size_t n;

        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        if (*p == '*')
            return true;
        if (!strncmp(p, "W/", 2))
            p += 2;
        if (*p == '"') {
            end = strchr(p + 1, '"');
            if (!end)
                return false;
            n = (size_t)(end - p - 1);
            if (n == strlen(etag) && !strncmp(p + 1, etag, n))
                return true;
            p = end + 1;
        } else {
            n = strcspn(p, ", ");
            if (n == strlen(etag) && !strncmp(p, etag, n))
                return true;
            p += n;
        }
    }
    return false;
}

/* Remove the aws-chunked token from a Content-Encoding list. */
static char *strip_aws_chunked(struct s3_req *r, const char *v)
{
    struct rs_buf b;
    const char *p = v;
    char *out;

    rs_buf_init(&b, 4096);
    while (*p) {
        size_t n = strcspn(p, ",");
        const char *s = p;
        size_t m = n;

        while (m && *s == ' ') {
            s++;
            m--;
        }
        while (m && s[m - 1] == ' ')
            m--;
        if (m && !(m == 11 && !strncasecmp(s, "aws-chunked", 11))) {
            if (b.len)
                (void)rs_buf_puts(&b, ",");
            (void)rs_buf_append(&b, s, m);
        }
        p += n;
        if (*p == ',')
            p++;
    }
    out = b.len ? rs_arena_strndup(r->a, b.data, b.len) : NULL;
    rs_buf_dispose(&b);
    return out;
}

enum s3_errcode s3_tags_from_query(struct s3_req *r, const char *q,
                                   struct rs_kv **tags, size_t *ntags)
{
    size_t cap = 0, n = 0, i;
    struct rs_kv *t = NULL;
    const char *p = q;

    while (p && *p) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        char *k, *v;

        if (len) {
            k = s3_url_decode(r->a, p, eq ? (size_t)(eq - p) : len);
            v = eq ? s3_url_decode(r->a, eq + 1, len - (size_t)(eq - p) - 1)
                   : rs_arena_strdup(r->a, "");
            if (!k || !v)
                return S3E_INVALID_TAG;
            /* application/x-www-form-urlencoded: '+' is a space */
            for (char *c = k; *c; c++)
                if (*c == '+')
                    *c = ' ';
            for (char *c = v; *c; c++)
                if (*c == '+')
                    *c = ' ';
            if (!*k || strlen(k) > 128 || strlen(v) > 256)
                return S3E_INVALID_TAG;
            for (i = 0; i < n; i++)
                if (!strcmp(t[i].name, k))
                    return S3E_INVALID_TAG;
            if (n == cap) {
                struct rs_kv *nt;

                cap = cap ? cap * 2 : 8;
                nt = rs_arena_alloc(r->a, cap * sizeof(*nt));
                if (n)
                    memcpy(nt, t, n * sizeof(*nt));
                t = nt;
            }
            t[n].name = k;
            t[n].value = v;
            n++;
        }
        if (!end)
            break;
        p = end + 1;
    }
    if (n > 10)
        return S3E_INVALID_TAG;
    *tags = t;
    *ntags = n;
    return S3E_NONE;
}

enum s3_errcode s3_obj_info_from_request(struct s3_req *r,
                                         struct store_obj *info)
{
    const char *cls = s3_req_header(r, "x-amz-storage-class");
    const char *tagging = s3_req_header(r, "x-amz-tagging");
    enum store_class c;
    size_t i, meta_bytes = 0;
    enum s3_errcode e;

    memset(info, 0, sizeof(*info));
    info->bucket = r->bucket;
    info->key = r->key;
    if (cls && *cls) {
        if (store_class_parse(&c, cls))
            return s3_fail(r, S3E_INVALID_STORAGE_CLASS, NULL);
        info->storage_class = rs_arena_strdup(r->a, cls);
    } else {
        info->storage_class = "STANDARD";
    }
    info->headers = rs_arena_alloc(r->a, NSTORED * sizeof(struct rs_kv));
    for (i = 0; i < NSTORED; i++) {
        const char *v = s3_req_header(r, stored_headers[i]);

        if (i == 1 && v)
            v = strip_aws_chunked(r, v);
        if (i == 0 && !v)
            v = "binary/octet-stream";
        if (!v)
            continue;
        info->headers[info->nheaders].name = (char *)stored_headers[i];
        info->headers[info->nheaders].value = rs_arena_strdup(r->a, v);
        info->nheaders++;
    }
    info->meta = rs_arena_alloc(r->a, (r->nheaders + 1) *
                                          sizeof(struct rs_kv));
    for (i = 0; i < r->nheaders; i++) {
        const char *n = r->headers[i].name;
        char *lname;

        if (strncasecmp(n, "x-amz-meta-", 11))
            continue;
        lname = rs_arena_strdup(r->a, n + 11);
        for (char *p = lname; *p; p++)
            if (*p >= 'A' && *p <= 'Z')
                *p = (char)(*p - 'A' + 'a');
        meta_bytes += strlen(lname) + strlen(r->headers[i].value);
        info->meta[info->nmeta].name = lname;
        info->meta[info->nmeta].value = r->headers[i].value;
        info->nmeta++;
    }
    if (meta_bytes > S3_MAX_META_BYTES)
        return s3_fail(r, S3E_METADATA_TOO_LARGE, NULL);
    if (tagging) {
        e = s3_tags_from_query(r, tagging, &info->tags, &info->ntags);
        if (e)
            return s3_fail(r, e, NULL);
    }
    e = s3_acl_from_headers(r, &info->acl,
                            r->authenticated ? r->user.name : r->bkt.acl.owner,
                            r->bkt.acl.owner);
    if (e)
        return s3_fail(r, e, NULL);
    return S3E_NONE;
}

void s3_obj_rsp_headers(struct s3_req *r, const struct store_obj *o)
{
    char date[40];
    size_t i;

    s3_rsp_headerf(r, "ETag", "\"%s\"", o->etag);
    rs_time_http(date, sizeof(date), o->mtime_ns);
    s3_rsp_header(r, "Last-Modified", date);
    s3_rsp_header(r, "Accept-Ranges", "bytes");
    for (i = 0; i < o->nheaders; i++)
        s3_rsp_header(r, o->headers[i].name, o->headers[i].value);
    for (i = 0; i < o->nmeta; i++) {
        char name[300];

        snprintf(name, sizeof(name), "x-amz-meta-%s", o->meta[i].name);
        s3_rsp_header(r, name, o->meta[i].value);
    }
    if (o->storage_class && strcmp(o->storage_class, "STANDARD"))
        s3_rsp_header(r, "x-amz-storage-class", o->storage_class);
    if (o->ntags)
        s3_rsp_headerf(r, "x-amz-tagging-count", "%zu", o->ntags);
    if (o->parts_count)
        s3_rsp_headerf(r, "x-amz-mp-parts-count", "%u", o->parts_count);
    if (o->appends) {
        /* An object that grew by append (s3_append.c): where the next
         * append goes (its CRC64 goes with whole-object answers, in the
         * GET/HEAD op). */
        s3_rsp_header(r, "x-amz-object-type", "Appendable");
        s3_rsp_headerf(r, "x-amz-next-append-position", "%llu",
                       (unsigned long long)o->size);
        s3_rsp_headerf(r, "x-rgw-next-append-position", "%llu",
                       (unsigned long long)o->size);
        s3_rsp_headerf(r, "x-amz-append-count", "%u", o->appends);
    }
}

enum s3_errcode s3_parse_range(const char *hdr, uint64_t size,
                               bool *has_range, uint64_t *first,
                               uint64_t *last)
{
    const char *p, *dash;
    uint64_t a, b;

    *has_range = false;
    if (!hdr)
        return S3E_NONE;
    while (*hdr == ' ')
        hdr++;
    if (strncmp(hdr, "bytes=", 6))
        return S3E_NONE; /* unknown unit: ignored, as S3 does */
    p = hdr + 6;
    if (strchr(p, ','))
        return S3E_NONE; /* multiple ranges: S3 sends the whole object */
    dash = strchr(p, '-');
    if (!dash)
        return S3E_NONE;
    if (dash == p) {
        /* suffix: the last N bytes */
        if (rs_parse_u64(&b, dash + 1, strlen(dash + 1)))
            return S3E_NONE;
        if (b == 0 || size == 0)
            return S3E_INVALID_RANGE;
        *first = b >= size ? 0 : size - b;
        *last = size - 1;
        *has_range = true;
        return S3E_NONE;
    }
    if (rs_parse_u64(&a, p, (size_t)(dash - p)))
        return S3E_NONE;
    if (dash[1] == '\0') {
        b = UINT64_MAX;
    } else if (rs_parse_u64(&b, dash + 1, strlen(dash + 1)) || b < a) {
        return S3E_NONE; /* syntactically invalid: ignored */
    }
    if (a >= size)
        return S3E_INVALID_RANGE;
    *first = a;
    *last = b >= size ? size - 1 : b;
    *has_range = true;
    return S3E_NONE;
}

/* RFC 7232 section 6 order, as S3 applies it. */
static enum s3_errcode check_conditions(struct s3_req *r,
                                        const struct store_obj *o,
                                        const char *if_match,
                                        const char *if_none_match,
                                        const char *if_mod_since,
                                        const char *if_unmod_since,
                                        bool is_copy)
{
    int64_t t, mtime = o->mtime_ns / 1000000000;

    if (if_match) {
        if (!s3_etag_matches(if_match, o->etag))
            return S3E_PRECONDITION_FAILED;
    } else if (if_unmod_since && !rs_time_parse(&t, if_unmod_since) &&
               mtime > t) {
        return S3E_PRECONDITION_FAILED;
    }
    if (if_none_match) {
        if (s3_etag_matches(if_none_match, o->etag))
            return is_copy ? S3E_PRECONDITION_FAILED : S3E_NOT_MODIFIED;
    } else if (if_mod_since && !rs_time_parse(&t, if_mod_since) &&
               mtime <= t && t <= rs_now_ns() / 1000000000) {
        return is_copy ? S3E_PRECONDITION_FAILED : S3E_NOT_MODIFIED;
    }
    (void)r;
    return S3E_NONE;
}

/* Load r->bucket/r->key; NoSuchKey, or AccessDenied when the requester may
 * not even list the bucket (S3 hides existence then). */
static enum s3_errcode load_object(struct s3_req *r, struct store_obj *o)
{
    int rc = store_object_head(r->store, r->a, o, r->bucket, r->key);

    if (rc == RS_ENOTFOUND)
        return s3_acl_allows(r, &r->bkt.acl, STORE_PERM_READ)
                   ? S3E_NO_SUCH_KEY
                   : S3E_ACCESS_DENIED;
    return s3_error_from_rs(rc, S3E_NO_SUCH_KEY);
}

/* ------------------------------------------------------------------ */
/* PutObject                                                            */
/* ------------------------------------------------------------------ */

struct put_state {
    struct store_obj info;
};

static enum s3_errcode put_authorize(struct s3_req *r)
{
    if (!s3_acl_allows(r, &r->bkt.acl, STORE_PERM_WRITE))
        return S3E_ACCESS_DENIED;
    return S3E_NONE;
}

/*
 * Conditional write (PutObject with If-Match / If-None-Match): checked
 * against the current object before any body byte is read.  If-Match
 * needs an object whose ETag matches ("*": any object); If-None-Match
 * fails when one matches ("*": when any exists).  PreconditionFailed
 * otherwise.  The check and the commit are not one atomic step: a write
 * that lands in between is not detected (that needs the store's commit to
 * compare the current version).
 */
static enum s3_errcode put_conditional_authorize(struct s3_req *r)
{
    const char *im = s3_req_header(r, "If-Match");
    const char *inm = s3_req_header(r, "If-None-Match");
    struct store_obj o;
    enum s3_errcode e;
    int rc;

    if ((e = put_authorize(r)))
        return e;
    if (!im && !inm)
        return S3E_NONE;
    rc = store_object_head(r->store, r->a, &o, r->bucket, r->key);
    if (rc && rc != RS_ENOTFOUND)
        return s3_error_from_rs(rc, S3E_NO_SUCH_KEY);
    if (im && (rc == RS_ENOTFOUND || !s3_etag_matches(im, o.etag)))
        return S3E_PRECONDITION_FAILED;
    if (inm && rc == RS_OK && s3_etag_matches(inm, o.etag))
        return S3E_PRECONDITION_FAILED;
    return S3E_NONE;
}

static enum s3_errcode put_begin(struct s3_req *r)
{
    struct put_state *st = rs_arena_alloc(r->a, sizeof(*st));
    const char *dl = s3_req_header(r, "x-amz-decoded-content-length");
    uint64_t len = r->content_length;
    enum s3_errcode e;
    int rc;

    r->op_state = st;
    if (dl && rs_parse_u64(&len, dl, strlen(dl)))
        return S3E_INVALID_ARGUMENT;
    if ((r->has_content_length || dl) && len > r->cfg->max_part_size)
        return S3E_ENTITY_TOO_LARGE;
    if ((e = s3_obj_info_from_request(r, &st->info)))
        return e;
    rc = store_writer_open(r->store, &r->writer, r->bucket, r->key,
                           st->info.storage_class);
    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET);
    return S3E_NONE;
}

/* Add the checksum the client sent or asked for to info and the reply. */
static void put_checksum(struct s3_req *r, struct store_obj *info)
{
    const char *b64 = NULL;
    enum s3_cksum c = s3_payload_checksum(r->payload, &b64);
    char name[48];

    if (c == S3_CKSUM_NONE || !b64)
        return;
    info->checksums = rs_arena_alloc(r->a, sizeof(struct rs_kv));
    info->checksums[0].name = (char *)s3_cksum_name(c);
    info->checksums[0].value = rs_arena_strdup(r->a, b64);
    info->nchecksums = 1;
    snprintf(name, sizeof(name), "x-amz-checksum-%s", s3_cksum_name(c));
    for (char *p = name; *p; p++)
        if (*p >= 'A' && *p <= 'Z')
            *p = (char)(*p - 'A' + 'a');
    s3_rsp_header(r, name, b64);
}

static enum s3_errcode put_execute(struct s3_req *r)
{
    struct put_state *st = r->op_state;
    struct store_writer *w = r->writer;
    uint8_t md5[16];
    char etag[33];
    int rc;

    if (store_writer_size(w) > r->cfg->max_part_size)
        return S3E_ENTITY_TOO_LARGE;
    s3_payload_md5(r->payload, md5);
    hex_md5(etag, md5);
    st->info.etag = etag;
    put_checksum(r, &st->info);
    r->writer = NULL; /* commit frees the writer whatever happens */
    rc = store_writer_commit(w, &st->info);
    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET);
    s3_rsp_headerf(r, "ETag", "\"%s\"", etag);
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_put_object = {
    "PutObject", S3_OP_WRITE | S3_OP_BODY_STREAM, put_conditional_authorize,
    put_begin, put_execute,
};

/* ------------------------------------------------------------------ */
/* GetObject and HeadObject                                             */
/* ------------------------------------------------------------------ */

struct get_state {
    struct store_obj obj;
};

static enum s3_errcode get_authorize(struct s3_req *r)
{
    struct get_state *st = rs_arena_alloc(r->a, sizeof(*st));
    const char *vid = s3_req_param(r, "versionId");
    enum s3_errcode e;

    r->op_state = st;
    if (vid && strcmp(vid, "null"))
        return s3_fail(r, S3E_INVALID_ARGUMENT, "Invalid version id specified");
    if ((e = load_object(r, &st->obj)))
        return e;
    if (!s3_acl_allows(r, &st->obj.acl, STORE_PERM_READ))
        return S3E_ACCESS_DENIED;
    return S3E_NONE;
}

/* response-* query parameters override the stored headers. */
static void apply_overrides(struct s3_req *r)
{
    static const struct { const char *param, *header; } ov[] = {
        { "response-content-type", "Content-Type" },
        { "response-content-language", "Content-Language" },
        { "response-expires", "Expires" },
        { "response-cache-control", "Cache-Control" },
        { "response-content-disposition", "Content-Disposition" },
        { "response-content-encoding", "Content-Encoding" },
    };
    size_t i, j;

    for (i = 0; i < sizeof(ov) / sizeof(ov[0]); i++) {
        const char *v = s3_req_param(r, ov[i].param);
        bool replaced = false;

        if (!v)
            continue;
        for (j = 0; j < r->nrsp_headers; j++) {
            if (!strcasecmp(r->rsp_headers[j].name, ov[i].header)) {
                r->rsp_headers[j].value = rs_arena_strdup(r->a, v);
                replaced = true;
            }
        }
        if (!replaced)
            s3_rsp_header(r, ov[i].header, v);
    }
}

static enum s3_errcode get_execute(struct s3_req *r)
{
    struct get_state *st = r->op_state;
    struct store_obj *o = &st->obj;
    const char *pn = s3_req_param(r, "partNumber");
    uint64_t first = 0, last = 0;
    bool has_range = false;
    enum s3_errcode e;
    int rc, tries;

    e = check_conditions(r, o, s3_req_header(r, "If-Match"),
                         s3_req_header(r, "If-None-Match"),
                         s3_req_header(r, "If-Modified-Since"),
                         s3_req_header(r, "If-Unmodified-Since"), false);
    if (e == S3E_NOT_MODIFIED) {
        /* 304 carries the validators but no body. */
        s3_rsp_headerf(r, "ETag", "\"%s\"", o->etag);
        return e;
    }
    if (e)
        return e;
    if (pn) {
        uint64_t n, off = 0, i;

        if (rs_parse_u64(&n, pn, strlen(pn)) || n < 1 || n > 10000)
            return s3_fail(r, S3E_INVALID_ARGUMENT,
                           "Part number must be an integer between 1 and "
                           "10000, inclusive");
        if (o->parts_count == 0) {
            if (n != 1)
                return S3E_INVALID_RANGE;
            if (o->size) {
                has_range = true;
                first = 0;
                last = o->size - 1;
            }
        } else {
            if (n > o->parts_count)
                return S3E_INVALID_RANGE;
            for (i = 0; i + 1 < n; i++)
                off += o->part_sizes[i];
            if (o->part_sizes[n - 1]) {
                has_range = true;
                first = off;
                last = off + o->part_sizes[n - 1] - 1;
            }
        }
    } else {
        e = s3_parse_range(s3_req_header(r, "Range"), o->size, &has_range,
                           &first, &last);
        if (e == S3E_INVALID_RANGE) {
            s3_rsp_headerf(r, "Content-Range", "bytes */%llu",
                           (unsigned long long)o->size);
            return e;
        }
    }
    for (tries = 0;; tries++) {
        rc = store_reader_open(r->store, &r->rsp_reader, o);
        if (rc != RS_ENOTFOUND || tries == 2)
            break;
        /* Overwritten between head and open: read the new version. */
        if ((e = load_object(r, o)))
            return e;
    }
    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_KEY);
    s3_obj_rsp_headers(r, o);
    s3_lifecycle_rsp_header(r, o);
    if (o->appends && !pn && !has_range) {
        /* The CRC64 of a grown object, always: a reader of a growing
         * object checks what it got without asking.  Never on a range:
         * clients would check the part against the whole. */
        char b64[16];

        rs_crc64nvme_b64(b64, o->crc64);
        s3_rsp_header(r, "x-amz-checksum-crc64nvme", b64);
        s3_rsp_header(r, "x-amz-checksum-type", "FULL_OBJECT");
    } else if (o->nchecksums && !pn && !has_range) {
        const char *mode = s3_req_header(r, "x-amz-checksum-mode");

        if (mode && !strcasecmp(mode, "ENABLED")) {
            char name[48];

            snprintf(name, sizeof(name), "x-amz-checksum-%s",
                     o->checksums[0].name);
            for (char *p = name; *p; p++)
                if (*p >= 'A' && *p <= 'Z')
                    *p = (char)(*p - 'A' + 'a');
            s3_rsp_header(r, name, o->checksums[0].value);
        }
    }
    apply_overrides(r);
    if (has_range) {
        r->status = 206;
        r->rsp_offset = first;
        r->rsp_length = last - first + 1;
        s3_rsp_headerf(r, "Content-Range", "bytes %llu-%llu/%llu",
                       (unsigned long long)first, (unsigned long long)last,
                       (unsigned long long)o->size);
    } else {
        r->status = 200;
        r->rsp_offset = 0;
        r->rsp_length = o->size;
    }
    return S3E_NONE;
}

const struct s3_op s3_op_get_object = {
    "GetObject", 0, get_authorize, NULL, get_execute,
};
const struct s3_op s3_op_head_object = {
    "HeadObject", 0, get_authorize, NULL, get_execute,
};

/* ------------------------------------------------------------------ */
/* DeleteObject and DeleteObjects                                       */
/* ------------------------------------------------------------------ */

static enum s3_errcode delete_execute(struct s3_req *r)
{
    int rc = store_object_delete(r->store, r->bucket, r->key);

    if (rc && rc != RS_ENOTFOUND)
        return s3_error_from_rs(rc, S3E_NO_SUCH_KEY);
    r->status = 204;
    return S3E_NONE;
}

const struct s3_op s3_op_delete_object = {
    "DeleteObject", S3_OP_WRITE, put_authorize, NULL, delete_execute,
};

static enum s3_errcode delete_objects_execute(struct s3_req *r)
{
    const struct s3_xnode *root, *obj;
    const char *quiet_s;
    bool quiet;
    size_t n = 0;
    enum s3_errcode e;
    struct rs_buf *b = &r->rsp_body;

    e = s3_xml_parse(r->a, (struct s3_xnode **)&root, r->body.data,
                     r->body.len);
    if (e || strcmp(root->name, "Delete"))
        return S3E_MALFORMED_XML;
    for (obj = s3_xml_child(root, "Object"); obj;
         obj = s3_xml_next(obj, "Object"))
        if (++n > 1000 || !s3_xml_child_text(obj, "Key"))
            return S3E_MALFORMED_XML;
    if (n == 0)
        return S3E_MALFORMED_XML;
    quiet_s = s3_xml_child_text(root, "Quiet");
    quiet = quiet_s && !strcasecmp(quiet_s, "true");
    s3_rsp_xml_begin(r);
    (void)rs_buf_puts(b, "<DeleteResult xmlns=\"http://s3.amazonaws.com/doc/"
                         "2006-03-01/\">");
    for (obj = s3_xml_child(root, "Object"); obj;
         obj = s3_xml_next(obj, "Object")) {
        const char *key = s3_xml_child_text(obj, "Key");
        const char *vid = s3_xml_child_text(obj, "VersionId");
        int rc = RS_OK;

        if (strlen(key) > 1024)
            rc = RS_ETOOBIG;
        else
            rc = store_object_delete(r->store, r->bucket, key);
        if (rc == RS_OK || rc == RS_ENOTFOUND) {
            if (quiet)
                continue;
            (void)rs_buf_puts(b, "<Deleted>");
            s3_xml_elem(b, "Key", key);
            if (vid)
                s3_xml_elem(b, "VersionId", vid);
            (void)rs_buf_puts(b, "</Deleted>");
        } else {
            const struct s3_error_def *d = s3_error_def(
                rc == RS_ETOOBIG ? S3E_KEY_TOO_LONG
                                 : s3_error_from_rs(rc, S3E_NO_SUCH_KEY));

            (void)rs_buf_puts(b, "<Error>");
            s3_xml_elem(b, "Key", key);
            s3_xml_elem(b, "Code", d->code);
            s3_xml_elem(b, "Message", d->message);
            (void)rs_buf_puts(b, "</Error>");
        }
    }
    (void)rs_buf_puts(b, "</DeleteResult>");
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_delete_objects = {
    "DeleteObjects", S3_OP_WRITE | S3_OP_BODY_BUFFER, put_authorize, NULL,
    delete_objects_execute,
};

/* ------------------------------------------------------------------ */
/* CopyObject                                                           */
/* ------------------------------------------------------------------ */

enum s3_errcode s3_copy_source(struct s3_req *r, struct s3_copy_src *out)
{
    const char *src = s3_req_header(r, "x-amz-copy-source");
    const char *q;
    char *dec, *slash;
    enum s3_errcode e;
    int rc;

    memset(out, 0, sizeof(*out));
    if (!src || !*src)
        return s3_fail(r, S3E_INVALID_ARGUMENT, "Copy Source must mention "
                       "the source bucket and key: sourcebucket/sourcekey");
    q = strchr(src, '?');
    if (q) {
        const char *vid = strstr(q, "versionId=");

        if (vid && strcmp(vid + 10, "null"))
            return s3_fail(r, S3E_INVALID_ARGUMENT,
                           "Invalid version id specified");
    }
    dec = s3_url_decode(r->a, src, q ? (size_t)(q - src) : strlen(src));
    if (!dec)
        return s3_fail(r, S3E_INVALID_ARGUMENT, "Invalid copy source");
    if (*dec == '/')
        dec++;
    slash = strchr(dec, '/');
    if (!slash || slash == dec || !slash[1])
        return s3_fail(r, S3E_INVALID_ARGUMENT, "Copy Source must mention "
                       "the source bucket and key: sourcebucket/sourcekey");
    out->bucket = rs_arena_strndup(r->a, dec, (size_t)(slash - dec));
    out->key = slash + 1;
    rc = store_bucket_get(r->store, r->a, &out->bkt, out->bucket);
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET), NULL);
    rc = store_object_head(r->store, r->a, &out->obj, out->bucket, out->key);
    if (rc == RS_ENOTFOUND)
        return s3_fail(r, s3_acl_allows(r, &out->bkt.acl, STORE_PERM_READ)
                              ? S3E_NO_SUCH_KEY
                              : S3E_ACCESS_DENIED,
                       NULL);
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_KEY), NULL);
    if (!s3_acl_allows(r, &out->obj.acl, STORE_PERM_READ))
        return s3_fail(r, S3E_ACCESS_DENIED, NULL);
    e = check_conditions(
        r, &out->obj, s3_req_header(r, "x-amz-copy-source-if-match"),
        s3_req_header(r, "x-amz-copy-source-if-none-match"),
        s3_req_header(r, "x-amz-copy-source-if-modified-since"),
        s3_req_header(r, "x-amz-copy-source-if-unmodified-since"), true);
    if (e)
        return s3_fail(r, e, NULL);
    return S3E_NONE;
}

enum s3_errcode s3_copy_data(struct s3_req *r, struct store_writer *w,
                             const struct store_obj *obj, uint64_t off,
                             uint64_t len, uint8_t md5_out[16])
{
    struct store_reader *rd = NULL;
    struct rs_md5 h;
    char *buf;
    int rc;

    rc = store_reader_open(r->store, &rd, obj);
    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_KEY);
    buf = rs_xmalloc(S3_COPY_CHUNK);
    rs_md5_init(&h);
    while (len > 0) {
        size_t want = len < S3_COPY_CHUNK ? (size_t)len : S3_COPY_CHUNK;
        size_t got = 0;

        rc = store_reader_read(rd, off, buf, want, &got);
        if (!rc && got == 0)
            rc = rs_err_set(RS_ECORRUPT, "source shorter than its size");
        if (!rc)
            rc = store_writer_write(w, buf, got);
        if (rc)
            break;
        rs_md5_update(&h, buf, got);
        off += got;
        len -= got;
    }
    rs_md5_final(&h, md5_out);
    free(buf);
    store_reader_close(rd);
    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_KEY);
    return S3E_NONE;
}

struct copy_state {
    struct s3_copy_src src;
};

static enum s3_errcode copy_authorize(struct s3_req *r)
{
    struct copy_state *st = rs_arena_alloc(r->a, sizeof(*st));

    r->op_state = st;
    if (!s3_acl_allows(r, &r->bkt.acl, STORE_PERM_WRITE))
        return S3E_ACCESS_DENIED;
    return s3_copy_source(r, &st->src);
}

static enum s3_errcode copy_execute(struct s3_req *r)
{
    struct copy_state *st = r->op_state;
    const struct store_obj *so = &st->src.obj;
    const char *mdir = s3_req_header(r, "x-amz-metadata-directive");
    const char *tdir = s3_req_header(r, "x-amz-tagging-directive");
    bool replace_meta = mdir && !strcasecmp(mdir, "REPLACE");
    bool replace_tags = tdir && !strcasecmp(tdir, "REPLACE");
    struct store_obj info;
    struct store_writer *w = NULL;
    uint8_t md5[16];
    char etag[33];
    enum s3_errcode e;
    int rc;

    if ((mdir && !replace_meta && strcasecmp(mdir, "COPY")) ||
        (tdir && !replace_tags && strcasecmp(tdir, "COPY")))
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       "Unknown metadata or tagging directive");
    if ((e = s3_obj_info_from_request(r, &info)))
        return e;
    if (!strcmp(st->src.bucket, r->bucket) && !strcmp(st->src.key, r->key) &&
        !replace_meta && !s3_req_header(r, "x-amz-storage-class") &&
        !s3_req_header(r, "x-amz-website-redirect-location") &&
        !s3_req_header(r, "x-amz-server-side-encryption"))
        return s3_fail(r, S3E_INVALID_REQUEST,
                       "This copy request is illegal because it is trying "
                       "to copy an object to itself without changing the "
                       "object's metadata, storage class, website redirect "
                       "location or encryption attributes.");
    if (!replace_meta) {
        info.headers = so->headers;
        info.nheaders = so->nheaders;
        info.meta = so->meta;
        info.nmeta = so->nmeta;
    }
    if (!replace_tags) {
        info.tags = so->tags;
        info.ntags = so->ntags;
    }
    rc = store_writer_open(r->store, &w, r->bucket, r->key,
                           info.storage_class);
    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET);
    e = s3_copy_data(r, w, so, 0, so->size, md5);
    if (e) {
        store_writer_abort(w);
        return e;
    }
    hex_md5(etag, md5);
    info.etag = etag;
    info.event = STORE_EV_COPY;
    rc = store_writer_commit(w, &info);
    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET);
    s3_rsp_xml_begin(r);
    (void)rs_buf_puts(&r->rsp_body,
                      "<CopyObjectResult xmlns=\"http://s3.amazonaws.com/doc/"
                      "2006-03-01/\">");
    s3_xml_elem_time(&r->rsp_body, "LastModified", info.mtime_ns
                                                       ? info.mtime_ns
                                                       : rs_now_ns());
    (void)rs_buf_printf(&r->rsp_body, "<ETag>&quot;%s&quot;</ETag>", etag);
    (void)rs_buf_puts(&r->rsp_body, "</CopyObjectResult>");
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_copy_object = {
    "CopyObject", S3_OP_WRITE, copy_authorize, NULL, copy_execute,
};

/* ------------------------------------------------------------------ */
/* Object tagging                                                       */
/* ------------------------------------------------------------------ */

static enum s3_errcode tagging_read_authorize(struct s3_req *r)
{
    struct get_state *st = rs_arena_alloc(r->a, sizeof(*st));
    enum s3_errcode e;

    r->op_state = st;
    if ((e = load_object(r, &st->obj)))
        return e;
    if (!s3_acl_allows(r, &st->obj.acl, STORE_PERM_READ))
        return S3E_ACCESS_DENIED;
    return S3E_NONE;
}

static enum s3_errcode tagging_write_authorize(struct s3_req *r)
{
    struct get_state *st = rs_arena_alloc(r->a, sizeof(*st));
    enum s3_errcode e;

    r->op_state = st;
    if ((e = load_object(r, &st->obj)))
        return e;
    if (!s3_acl_allows(r, &st->obj.acl, STORE_PERM_WRITE) &&
        !s3_acl_allows(r, &r->bkt.acl, STORE_PERM_WRITE))
        return S3E_ACCESS_DENIED;
    return S3E_NONE;
}

static int tag_cmp(const void *a, const void *b)
{
    return strcmp(((const struct rs_kv *)a)->name,
                  ((const struct rs_kv *)b)->name);
}

/* Tags are listed sorted by key, whatever order they were set in (as RGW
 * keeps them; ceph/s3-tests compares the list). */
static enum s3_errcode get_tagging_execute(struct s3_req *r)
{
    struct get_state *st = r->op_state;
    struct rs_kv *tags = NULL;
    size_t i;

    if (st->obj.ntags) {
        tags = rs_arena_alloc(r->a, st->obj.ntags * sizeof(*tags));
        memcpy(tags, st->obj.tags, st->obj.ntags * sizeof(*tags));
        qsort(tags, st->obj.ntags, sizeof(*tags), tag_cmp);
    }
    s3_rsp_xml_begin(r);
    (void)rs_buf_puts(&r->rsp_body,
                      "<Tagging xmlns=\"http://s3.amazonaws.com/doc/"
                      "2006-03-01/\"><TagSet>");
    for (i = 0; i < st->obj.ntags; i++) {
        (void)rs_buf_puts(&r->rsp_body, "<Tag>");
        s3_xml_elem(&r->rsp_body, "Key", tags[i].name);
        s3_xml_elem(&r->rsp_body, "Value", tags[i].value);
        (void)rs_buf_puts(&r->rsp_body, "</Tag>");
    }
    (void)rs_buf_puts(&r->rsp_body, "</TagSet></Tagging>");
    r->status = 200;
    return S3E_NONE;
}

static enum s3_errcode put_tagging_execute(struct s3_req *r)
{
    const struct s3_xnode *root, *set, *tag;
    struct rs_kv *tags;
    size_t n = 0, i;
    int rc;

    if (s3_xml_parse(r->a, (struct s3_xnode **)&root, r->body.data,
                     r->body.len) ||
        strcmp(root->name, "Tagging") ||
        !(set = s3_xml_child(root, "TagSet")))
        return S3E_MALFORMED_XML;
    for (tag = s3_xml_child(set, "Tag"); tag; tag = s3_xml_next(tag, "Tag"))
        n++;
    if (n > 10)
        return s3_fail(r, S3E_INVALID_TAG,
                       "Object tags cannot be greater than 10");
    tags = rs_arena_alloc(r->a, (n + 1) * sizeof(*tags));
    n = 0;
    for (tag = s3_xml_child(set, "Tag"); tag; tag = s3_xml_next(tag, "Tag")) {
        const char *k = s3_xml_child_text(tag, "Key");
        const char *v = s3_xml_child_text(tag, "Value");

        if (!k || !v)
            return S3E_MALFORMED_XML;
        if (!*k || strlen(k) > 128 || strlen(v) > 256)
            return S3E_INVALID_TAG;
        for (i = 0; i < n; i++)
            if (!strcmp(tags[i].name, k))
                return s3_fail(r, S3E_INVALID_TAG,
                               "Cannot provide multiple Tags with the same "
                               "key");
        tags[n].name = (char *)k;
        tags[n].value = (char *)v;
        n++;
    }
    rc = store_object_set_tags(r->store, r->bucket, r->key, tags, n);
    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_KEY);
    r->status = 200;
    return S3E_NONE;
}

static enum s3_errcode delete_tagging_execute(struct s3_req *r)
{
    int rc = store_object_set_tags(r->store, r->bucket, r->key, NULL, 0);

    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_KEY);
    r->status = 204;
    return S3E_NONE;
}

const struct s3_op s3_op_get_object_tagging = {
    "GetObjectTagging", 0, tagging_read_authorize, NULL, get_tagging_execute,
};
const struct s3_op s3_op_put_object_tagging = {
    "PutObjectTagging", S3_OP_WRITE | S3_OP_BODY_BUFFER,
    tagging_write_authorize, NULL, put_tagging_execute,
};
const struct s3_op s3_op_delete_object_tagging = {
    "DeleteObjectTagging", S3_OP_WRITE, tagging_write_authorize, NULL,
    delete_tagging_execute,
};
