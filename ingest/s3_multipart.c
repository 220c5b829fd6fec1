/*
 * ingest/s3_multipart.c - the multipart upload family of S3 operations:
 * CreateMultipartUpload, UploadPart, UploadPartCopy,
 * CompleteMultipartUpload, AbortMultipartUpload, ListParts and
 * ListMultipartUploads.
 *
 * Owns no long-lived state: uploads and parts live in the store
 * (store_upload_*, store_part_*), and everything here is per request, in
 * the request's arena, on the connection thread that serves it.
 *
 * DESIGN
 *   - Everything that can be refused without the body is refused in
 *     authorize: permission, the part number, the upload's existence and a
 *     declared size over cfg->max_part_size.  The client then never sends
 *     the body (no 100-continue goes out with an error).
 *   - UploadPart streams into a part writer opened in begin (r->writer);
 *     the gateway aborts that writer when the request ends without a
 *     commit, so error paths here only return.  Before committing we take
 *     the writer back from r->writer, since commit frees it whatever the
 *     result.
 *   - CompleteMultipartUpload validates the list the client sends against
 *     the parts the store has (order, existence, ETag, minimum size) and
 *     computes the S3 multipart ETag, hex(md5(md5_1 || ... || md5_N))-N;
 *     the store re-checks the parts (numbers and the ETags we validated)
 *     under the upload's lock and answers RS_ECONFLICT when one changed in
 *     between, which we answer as InvalidPart.
 *   - Whole-object checksum headers (x-amz-checksum-*) on
 *     CompleteMultipartUpload are ignored: we do not keep composite
 *     checksums (the op is marked S3_OP_OBJECT_CHECKSUM).
 */
#include "ingest/s3_int.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define MP_XMLNS "http://s3.amazonaws.com/doc/2006-03-01/"
#define MP_MAX_PART_NUMBER 10000
#define MP_MAX_LIST 1000        /* max-parts and max-uploads cap */
#define MP_MAX_LIST_ARG 2147483647ULL

static const char part_number_msg[] =
    "Part number must be an integer between 1 and 10000, inclusive";

/* Per-request state of the ops that address one upload (r->op_state). */
struct mp_state {
    const char *upload_id;       /* the uploadId parameter */
    uint32_t part_number;        /* UploadPart, UploadPartCopy */
    struct store_upload upload;  /* loaded in authorize */
    bool gone;                   /* Complete: the upload no longer exists
                                    (perhaps completed already) */
};

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static void xml_open(struct s3_req *r, const char *root)
{
    s3_rsp_xml_begin(r);
    (void)rs_buf_printf(&r->rsp_body, "<%s xmlns=\"" MP_XMLNS "\">", root);
}

static void xml_close(struct s3_req *r, const char *root)
{
    (void)rs_buf_printf(&r->rsp_body, "</%s>", root);
}

/* <name>"etag"</name>; the quotes come out as &quot;, which is valid. */
static void xml_etag(struct s3_req *r, struct rs_buf *b, const char *etag)
{
    s3_xml_elem(b, "ETag", rs_arena_sprintf(r->a, "\"%s\"", etag));
}

static enum s3_errcode require_perm(struct s3_req *r, unsigned perm)
{
    if (!s3_acl_allows(r, &r->bkt.acl, perm))
        return s3_fail(r, S3E_ACCESS_DENIED, NULL);
    return S3E_NONE;
}

/* Decimal digits only, at most max; false otherwise. */
static bool parse_bounded(const char *s, uint64_t max, uint64_t *out)
{
    if (!s || rs_parse_u64(out, s, strlen(s)) || *out > max) {
        rs_err_clear(); /* answered as an S3 error by the caller */
        return false;
    }
    return true;
}

/* The partNumber parameter: 1..10000, else InvalidArgument. */
static enum s3_errcode parse_part_number(struct s3_req *r, uint32_t *out)
{
    uint64_t n;

    if (!parse_bounded(s3_req_param(r, "partNumber"), MP_MAX_PART_NUMBER,
                       &n) ||
        n < 1)
        return s3_fail(r, S3E_INVALID_ARGUMENT, part_number_msg);
    *out = (uint32_t)n;
    return S3E_NONE;
}

/*
 * Load the upload named by ?uploadId for r->bucket / r->key into a new
 * mp_state (r->op_state).  NoSuchUpload when it is missing or belongs to
 * another key.
 */
static enum s3_errcode load_upload(struct s3_req *r, struct mp_state **out)
{
    struct mp_state *st = rs_arena_alloc(r->a, sizeof(*st));
    const char *id = s3_req_param(r, "uploadId");
    int rc;

    if (!id || !*id)
        return s3_fail(r, S3E_NO_SUCH_UPLOAD, NULL);
    rc = store_upload_get(r->store, r->a, &st->upload, r->bucket, r->key,
                          id);
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_UPLOAD), NULL);
    st->upload_id = id;
    r->op_state = st;
    *out = st;
    return S3E_NONE;
}

/* The user a listing shows as initiator and owner of an upload. */
static const char *upload_owner(const struct s3_req *r,
                                const struct store_upload *u)
{
    if (u->info.acl.owner && *u->info.acl.owner)
        return u->info.acl.owner;
    return r->bkt.acl.owner;
}

static const char *storage_class_or_default(const char *sc)
{
    return sc && *sc ? sc : "STANDARD";
}

/* "x-amz-checksum-crc32" for the algorithm name "CRC32" (arena). */
static char *checksum_header_name(struct s3_req *r, const char *alg)
{
    char *h = rs_arena_sprintf(r->a, "x-amz-checksum-%s", alg);
    char *p;

    for (p = h; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    return h;
}

/* Trim ASCII whitespace in place (XML text may carry indentation). */
static const char *trim(struct s3_req *r, const char *s)
{
    size_t n;

    while (*s && isspace((unsigned char)*s))
        s++;
    n = strlen(s);
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    return rs_arena_strndup(r->a, s, n);
}

/* An ETag as a client sends it back: whitespace and quotes optional. */
static const char *unquote_etag(struct s3_req *r, const char *s)
{
    size_t n;

    s = trim(r, s);
    n = strlen(s);
    if (n >= 2 && s[0] == '"' && s[n - 1] == '"')
        return rs_arena_strndup(r->a, s + 1, n - 2);
    return s;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* A part's ETag (hex MD5) back to its 16 bytes; false when it is not one. */
static bool etag_to_md5(const char *etag, uint8_t out[16])
{
    size_t i;

    if (strlen(etag) != 32)
        return false;
    for (i = 0; i < 16; i++) {
        int hi = hexval(etag[2 * i]), lo = hexval(etag[2 * i + 1]);

        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/* max-parts / max-uploads: default 1000, capped at 1000, InvalidArgument
 * when not an integer in 0..2147483647. */
static enum s3_errcode parse_max(struct s3_req *r, const char *name,
                                 size_t *out)
{
    const char *v = s3_req_param(r, name);
    uint64_t n;

    *out = MP_MAX_LIST;
    if (!v)
        return S3E_NONE;
    if (!parse_bounded(v, MP_MAX_LIST_ARG, &n))
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       rs_arena_sprintf(r->a,
                                        "Argument %s must be an integer "
                                        "between 0 and 2147483647",
                                        name));
    *out = n > MP_MAX_LIST ? MP_MAX_LIST : (size_t)n;
    return S3E_NONE;
}

/* ------------------------------------------------------------------ */
/* CreateMultipartUpload: POST /bucket/key?uploads                      */
/* ------------------------------------------------------------------ */

static enum s3_errcode authorize_write(struct s3_req *r)
{
    return require_perm(r, STORE_PERM_WRITE);
}

static enum s3_errcode authorize_read(struct s3_req *r)
{
    return require_perm(r, STORE_PERM_READ);
}

/* x-amz-checksum-algorithm on create: its canonical name, or NULL. */
static enum s3_errcode create_checksum_algorithm(struct s3_req *r,
                                                 const char **out)
{
    static const enum s3_cksum algs[] = {
        S3_CKSUM_CRC32, S3_CKSUM_CRC32C, S3_CKSUM_CRC64NVME, S3_CKSUM_SHA1,
        S3_CKSUM_SHA256,
    };
    const char *v = s3_req_header(r, "x-amz-checksum-algorithm");
    size_t i;

    *out = NULL;
    if (!v)
        return S3E_NONE;
    for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++) {
        if (!strcasecmp(v, s3_cksum_name(algs[i]))) {
            *out = s3_cksum_name(algs[i]);
            return S3E_NONE;
        }
    }
    return s3_fail(r, S3E_INVALID_REQUEST,
                   "Checksum algorithm provided is unsupported. Please try "
                   "again with any of the valid types: [CRC32, CRC32C, "
                   "CRC64NVME, SHA1, SHA256]");
}

static enum s3_errcode create_execute(struct s3_req *r)
{
    struct store_upload u;
    const char *upload_id = NULL, *alg;
    enum s3_errcode e;
    int rc;

    memset(&u, 0, sizeof(u));
    e = s3_obj_info_from_request(r, &u.info);
    if (e)
        return s3_fail(r, e, NULL);
    e = create_checksum_algorithm(r, &alg);
    if (e)
        return e;
    u.info.bucket = r->bucket;
    u.info.key = r->key;
    u.bucket = r->bucket;
    u.key = r->key;
    u.initiated_ns = rs_now_ns();
    rc = store_upload_create(r->store, r->a, &upload_id, &u);
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET), NULL);

    xml_open(r, "InitiateMultipartUploadResult");
    s3_xml_elem(&r->rsp_body, "Bucket", r->bucket);
    s3_xml_elem(&r->rsp_body, "Key", r->key);
    s3_xml_elem(&r->rsp_body, "UploadId", upload_id);
    xml_close(r, "InitiateMultipartUploadResult");
    if (alg)
        s3_rsp_header(r, "x-amz-checksum-algorithm", alg);
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_create_multipart = {
    "CreateMultipartUpload", S3_OP_WRITE, authorize_write, NULL,
    create_execute,
};

/* ------------------------------------------------------------------ */
/* UploadPart: PUT /bucket/key?partNumber=N&uploadId=ID                 */
/* ------------------------------------------------------------------ */

/* Permission, part number, the upload, a declared size that is too big:
 * all before the client sends the body. */
static enum s3_errcode upload_part_authorize(struct s3_req *r)
{
    struct mp_state *st;
    const char *len;
    uint32_t number = 0;
    uint64_t n;
    enum s3_errcode e;

    if ((e = require_perm(r, STORE_PERM_WRITE)))
        return e;
    if (!s3_req_has_param(r, "uploadId"))
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       "This operation does not accept partNumber without "
                       "uploadId");
    if ((e = parse_part_number(r, &number)))
        return e;
    if ((e = load_upload(r, &st)))
        return e;
    st->part_number = number;
    /* aws-chunked bodies declare the object bytes apart from the framing */
    len = s3_req_header(r, "x-amz-decoded-content-length");
    if (!len)
        len = s3_req_header(r, "Content-Length");
    if (len && parse_bounded(len, UINT64_MAX, &n) &&
        n > r->cfg->max_part_size)
        return s3_fail(r, S3E_ENTITY_TOO_LARGE,
                       "Your proposed upload exceeds the maximum allowed "
                       "size");
    return S3E_NONE;
}

static enum s3_errcode upload_part_begin(struct s3_req *r)
{
    struct mp_state *st = r->op_state;
    int rc;

    rc = store_part_writer_open(r->store, &r->writer, r->bucket, r->key,
                                st->upload_id, st->part_number);
    if (rc) {
        r->writer = NULL;
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_UPLOAD), NULL);
    }
    return S3E_NONE;
}

static enum s3_errcode upload_part_execute(struct s3_req *r)
{
    struct mp_state *st = r->op_state;
    struct store_writer *w = r->writer;
    struct store_part part;
    struct rs_kv ck;
    enum s3_cksum alg;
    const char *b64 = NULL;
    uint8_t md5[16];
    char hex[33];
    int rc;

    if (!w)
        return s3_fail(r, S3E_INTERNAL_ERROR, NULL);
    memset(&part, 0, sizeof(part));
    part.size = s3_payload_decoded_size(r->payload);
    if (part.size > r->cfg->max_part_size)
        return s3_fail(r, S3E_ENTITY_TOO_LARGE,
                       "Your proposed upload exceeds the maximum allowed "
                       "size"); /* the gateway aborts r->writer */
    s3_payload_md5(r->payload, md5);
    rs_hex(hex, md5, sizeof(md5));
    part.number = st->part_number;
    part.mtime_ns = rs_now_ns();
    part.etag = hex;
    alg = s3_payload_checksum(r->payload, &b64);
    if (alg != S3_CKSUM_NONE && b64) {
        ck.name = rs_arena_strdup(r->a, s3_cksum_name(alg));
        ck.value = rs_arena_strdup(r->a, b64);
        part.checksums = &ck;
        part.nchecksums = 1;
    }
    r->writer = NULL; /* commit frees it whatever the result */
    rc = store_part_writer_commit(w, &part);
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_UPLOAD), NULL);
    s3_rsp_headerf(r, "ETag", "\"%s\"", hex);
    if (part.nchecksums)
        s3_rsp_header(r, checksum_header_name(r, ck.name), ck.value);
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_upload_part = {
    "UploadPart", S3_OP_WRITE | S3_OP_BODY_STREAM, upload_part_authorize,
    upload_part_begin, upload_part_execute,
};

/* ------------------------------------------------------------------ */
/* UploadPartCopy: PUT ...?partNumber&uploadId with x-amz-copy-source   */
/* ------------------------------------------------------------------ */

static enum s3_errcode upload_part_copy_authorize(struct s3_req *r)
{
    struct mp_state *st;
    uint32_t number = 0;
    enum s3_errcode e;

    if ((e = require_perm(r, STORE_PERM_WRITE)))
        return e;
    if (!s3_req_has_param(r, "uploadId"))
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       "This operation does not accept partNumber without "
                       "uploadId");
    if ((e = parse_part_number(r, &number)))
        return e;
    if ((e = load_upload(r, &st)))
        return e;
    st->part_number = number;
    return S3E_NONE;
}

/*
 * x-amz-copy-source-range: exactly "bytes=first-last" with
 * first <= last (InvalidArgument otherwise, as S3 answers), and last
 * inside the source (InvalidRange).  Absent: the whole source.
 */
static enum s3_errcode parse_copy_range(struct s3_req *r, uint64_t size,
                                        uint64_t *off, uint64_t *len)
{
    static const char bad[] =
        "The x-amz-copy-source-range value must be of the form "
        "bytes=first-last where first and last are the zero-based offsets "
        "of the first and last bytes to copy";
    const char *h = s3_req_header(r, "x-amz-copy-source-range");
    const char *dash;
    uint64_t first, last;

    if (!h) {
        *off = 0;
        *len = size;
        return S3E_NONE;
    }
    if (strncmp(h, "bytes=", 6))
        return s3_fail(r, S3E_INVALID_ARGUMENT, bad);
    h += 6;
    dash = strchr(h, '-');
    if (!dash || rs_parse_u64(&first, h, (size_t)(dash - h)) ||
        rs_parse_u64(&last, dash + 1, strlen(dash + 1)) || first > last) {
        rs_err_clear();
        return s3_fail(r, S3E_INVALID_ARGUMENT, bad);
    }
    if (last >= size)
        return s3_fail(r, S3E_INVALID_RANGE,
                       rs_arena_sprintf(r->a,
                                        "Range specified is not valid for "
                                        "source object of size: %llu",
                                        (unsigned long long)size));
    *off = first;
    *len = last - first + 1;
    return S3E_NONE;
}

static enum s3_errcode upload_part_copy_execute(struct s3_req *r)
{
    struct mp_state *st = r->op_state;
    struct s3_copy_src src;
    struct store_writer *w = NULL;
    struct store_part part;
    uint64_t off = 0, len = 0;
    uint8_t md5[16];
    char hex[33];
    enum s3_errcode e;
    int rc;

    memset(&src, 0, sizeof(src));
    if ((e = s3_copy_source(r, &src)))
        return s3_fail(r, e, NULL);
    if ((e = parse_copy_range(r, src.obj.size, &off, &len)))
        return e;
    if (len > r->cfg->max_part_size)
        return s3_fail(r, S3E_INVALID_REQUEST,
                       rs_arena_sprintf(r->a,
                                        "The specified copy source is "
                                        "larger than the maximum allowable "
                                        "size for a copy source: %llu",
                                        (unsigned long long)
                                            r->cfg->max_part_size));
    rc = store_part_writer_open(r->store, &w, r->bucket, r->key,
                                st->upload_id, st->part_number);
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_UPLOAD), NULL);
    r->writer = w; /* aborted by the gateway if we return early */
    if ((e = s3_copy_data(r, w, &src.obj, off, len, md5)))
        return s3_fail(r, e, NULL);
    rs_hex(hex, md5, sizeof(md5));
    memset(&part, 0, sizeof(part));
    part.number = st->part_number;
    part.size = len;
    part.mtime_ns = rs_now_ns();
    part.etag = hex;
    r->writer = NULL; /* commit frees it whatever the result */
    rc = store_part_writer_commit(w, &part);
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_UPLOAD), NULL);

    xml_open(r, "CopyPartResult");
    s3_xml_elem_time(&r->rsp_body, "LastModified", part.mtime_ns);
    xml_etag(r, &r->rsp_body, hex);
    xml_close(r, "CopyPartResult");
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_upload_part_copy = {
    "UploadPartCopy", S3_OP_WRITE, upload_part_copy_authorize, NULL,
    upload_part_copy_execute,
};

/* ------------------------------------------------------------------ */
/* CompleteMultipartUpload: POST /bucket/key?uploadId=ID                */
/* ------------------------------------------------------------------ */

/*
 * A missing upload is not an error yet: S3 answers a repeated
 * CompleteMultipartUpload of an upload it completed with the same result
 * (clients retry completions that timed out), so complete_execute decides
 * once it has the part list.
 */
static enum s3_errcode complete_authorize(struct s3_req *r)
{
    struct mp_state *st = rs_arena_alloc(r->a, sizeof(*st));
    const char *id = s3_req_param(r, "uploadId");
    enum s3_errcode e;
    int rc;

    if ((e = require_perm(r, STORE_PERM_WRITE)))
        return e;
    if (!id || !*id)
        return s3_fail(r, S3E_NO_SUCH_UPLOAD, NULL);
    memset(st, 0, sizeof(*st));
    st->upload_id = id;
    r->op_state = st;
    rc = store_upload_get(r->store, r->a, &st->upload, r->bucket, r->key,
                          id);
    if (rc == RS_ENOTFOUND) {
        rs_err_clear();
        st->gone = true;
        return S3E_NONE;
    }
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_UPLOAD), NULL);
    return S3E_NONE;
}

/* Stored parts by number, 1..10000 (arena). */
struct part_table {
    struct s3_req *r;
    struct store_part **by_number; /* MP_MAX_PART_NUMBER + 1 slots */
};

static int collect_part(void *arg, const struct store_part *p)
{
    struct part_table *t = arg;
    struct store_part *copy;

    if (p->number < 1 || p->number > MP_MAX_PART_NUMBER)
        return 0;
    copy = rs_arena_alloc(t->r->a, sizeof(*copy));
    *copy = *p; /* strings are in the request arena already */
    t->by_number[p->number] = copy;
    return 0;
}

/* One <Part> of the request, parsed. */
struct req_part {
    uint32_t number;
    const char *etag;  /* unquoted */
    const struct s3_xnode *node;
};

/*
 * The Part list of a CompleteMultipartUpload body: MalformedXML when the
 * body is not one or names no part, InvalidPartOrder unless the numbers
 * strictly ascend.
 */
static enum s3_errcode parse_complete_body(struct s3_req *r,
                                           struct req_part **out,
                                           size_t *n_out)
{
    struct s3_xnode *root = NULL;
    const struct s3_xnode *p;
    struct req_part *parts;
    size_t n = 0, i = 0;
    enum s3_errcode e;

    e = s3_xml_parse(r->a, &root, r->body.data ? r->body.data : "",
                     r->body.len);
    if (e)
        return s3_fail(r, e, NULL);
    if (strcmp(root->name, "CompleteMultipartUpload"))
        return s3_fail(r, S3E_MALFORMED_XML, NULL);
    for (p = s3_xml_child(root, "Part"); p; p = s3_xml_next(p, "Part"))
        n++;
    if (n == 0)
        return s3_fail(r, S3E_MALFORMED_XML, NULL);
    parts = rs_arena_alloc(r->a, n * sizeof(*parts));
    for (p = s3_xml_child(root, "Part"); p; p = s3_xml_next(p, "Part")) {
        const char *num = s3_xml_child_text(p, "PartNumber");
        const char *etag = s3_xml_child_text(p, "ETag");
        uint64_t v;

        if (!num || !parse_bounded(trim(r, num), UINT32_MAX, &v))
            return s3_fail(r, S3E_MALFORMED_XML, NULL);
        if (i && v <= parts[i - 1].number)
            return s3_fail(r, S3E_INVALID_PART_ORDER, NULL);
        parts[i].number = (uint32_t)v;
        parts[i].etag = etag ? unquote_etag(r, etag) : NULL;
        parts[i].node = p;
        i++;
    }
    *out = parts;
    *n_out = n;
    return S3E_NONE;
}

/* A Checksum<ALG> the client sends for a part must match the stored one
 * when we have one of that algorithm. */
static bool part_checksums_match(const struct req_part *rp,
                                 const struct store_part *sp)
{
    size_t i;

    for (i = 0; i < sp->nchecksums; i++) {
        const struct s3_xnode *c;

        for (c = rp->node->child; c; c = c->next) {
            if (strncmp(c->name, "Checksum", 8) ||
                strcasecmp(c->name + 8, sp->checksums[i].name))
                continue;
            if (c->text && strcmp(c->text, sp->checksums[i].value))
                return false;
        }
    }
    return true;
}

/* http://host/bucket/key as S3 gives it (key URL-encoded, '/' kept). */
static char *object_location(struct s3_req *r)
{
    const char *host = s3_req_header(r, "Host");
    struct rs_buf b;
    char *s;

    rs_buf_init(&b, SIZE_MAX);
    (void)rs_buf_printf(&b, "http://%s/", host ? host : r->cfg->listen);
    if (!r->vhost) {
        (void)s3_url_encode(&b, r->bucket, strlen(r->bucket), true);
        (void)rs_buf_puts(&b, "/");
    }
    (void)s3_url_encode(&b, r->key, strlen(r->key), false);
    s = rs_arena_strndup(r->a, b.data ? b.data : "", b.len);
    rs_buf_dispose(&b);
    return s;
}

static void complete_result(struct s3_req *r, const char *etag)
{
    xml_open(r, "CompleteMultipartUploadResult");
    s3_xml_elem(&r->rsp_body, "Location", object_location(r));
    s3_xml_elem(&r->rsp_body, "Bucket", r->bucket);
    s3_xml_elem(&r->rsp_body, "Key", r->key);
    xml_etag(r, &r->rsp_body, etag);
    xml_close(r, "CompleteMultipartUploadResult");
    r->status = 200;
}

/*
 * Complete of an upload that no longer exists: when the object at the key
 * is the multipart object these parts make (its ETag is the MD5 of the
 * named parts' MD5s, "-N"), the upload was completed with this very list
 * and the answer is the same success; otherwise NoSuchUpload.
 */
static enum s3_errcode complete_again(struct s3_req *r,
                                      const struct req_part *parts, size_t n)
{
    struct store_obj o;
    struct rs_md5 h;
    uint8_t md5[16], pmd5[16];
    char hex[33];
    size_t i;
    int rc;

    rc = store_object_head(r->store, r->a, &o, r->bucket, r->key);
    if (rc == RS_ENOTFOUND) {
        rs_err_clear();
        return s3_fail(r, S3E_NO_SUCH_UPLOAD, NULL);
    }
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_UPLOAD), NULL);
    if (o.parts_count != n)
        return s3_fail(r, S3E_NO_SUCH_UPLOAD, NULL);
    rs_md5_init(&h);
    for (i = 0; i < n; i++) {
        if (!parts[i].etag || !etag_to_md5(parts[i].etag, pmd5)) {
            rs_md5_final(&h, md5);
            return s3_fail(r, S3E_NO_SUCH_UPLOAD, NULL);
        }
        rs_md5_update(&h, pmd5, sizeof(pmd5));
    }
    rs_md5_final(&h, md5);
    rs_hex(hex, md5, sizeof(md5));
    if (strcmp(o.etag, rs_arena_sprintf(r->a, "%s-%zu", hex, n)))
        return s3_fail(r, S3E_NO_SUCH_UPLOAD, NULL);
    complete_result(r, o.etag);
    return S3E_NONE;
}

static enum s3_errcode complete_execute(struct s3_req *r)
{
    struct mp_state *st = r->op_state;
    struct part_table t;
    struct req_part *parts = NULL;
    struct store_obj info;
    uint32_t *numbers;
    const char **etags;
    uint64_t *sizes, total = 0;
    struct rs_md5 h;
    uint8_t md5[16];
    char hex[33];
    size_t n = 0, i;
    bool truncated = false;
    enum s3_errcode e;
    int rc;

    if ((e = parse_complete_body(r, &parts, &n)))
        return e;
    if (st->gone)
        return complete_again(r, parts, n);
    t.r = r;
    t.by_number = rs_arena_alloc(r->a, (MP_MAX_PART_NUMBER + 1) *
                                           sizeof(*t.by_number));
    rc = store_part_list(r->store, r->a, r->bucket, r->key, st->upload_id,
                         0, 0, collect_part, &t, &truncated);
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_UPLOAD), NULL);

    numbers = rs_arena_alloc(r->a, n * sizeof(*numbers));
    etags = rs_arena_alloc(r->a, n * sizeof(*etags));
    sizes = rs_arena_alloc(r->a, n * sizeof(*sizes));
    /* Every named part must exist with its ETag before sizes are judged:
     * InvalidPart wins over EntityTooSmall, as in S3. */
    for (i = 0; i < n; i++) {
        const struct store_part *sp = parts[i].number <= MP_MAX_PART_NUMBER
                                          ? t.by_number[parts[i].number]
                                          : NULL;

        if (!sp || !parts[i].etag || strcasecmp(parts[i].etag, sp->etag) ||
            !part_checksums_match(&parts[i], sp))
            return s3_fail(r, S3E_INVALID_PART, NULL);
    }
    rs_md5_init(&h);
    for (i = 0; i < n; i++) {
        const struct store_part *sp = parts[i].number <= MP_MAX_PART_NUMBER
                                          ? t.by_number[parts[i].number]
                                          : NULL;
        uint8_t pmd5[16];

        if (!sp || !parts[i].etag || strcasecmp(parts[i].etag, sp->etag) ||
            !part_checksums_match(&parts[i], sp)) {
            rs_md5_final(&h, md5);
            return s3_fail(r, S3E_INVALID_PART, NULL);
        }
        if (i + 1 < n && sp->size < r->cfg->min_part_size) {
            rs_md5_final(&h, md5);
            return s3_fail(r, S3E_ENTITY_TOO_SMALL,
                           "Your proposed upload is smaller than the "
                           "minimum allowed size");
        }
        if (!etag_to_md5(sp->etag, pmd5)) {
            rs_md5_final(&h, md5);
            rs_warn("%s: part %u of upload %s has a malformed ETag '%s'",
                    r->request_id, sp->number, st->upload_id, sp->etag);
            return s3_fail(r, S3E_INTERNAL_ERROR, NULL);
        }
        rs_md5_update(&h, pmd5, sizeof(pmd5));
        numbers[i] = parts[i].number;
        etags[i] = sp->etag;
        sizes[i] = sp->size;
        total += sp->size;
    }
    rs_md5_final(&h, md5);
    rs_hex(hex, md5, sizeof(md5));

    info = st->upload.info;
    info.bucket = r->bucket;
    info.key = r->key;
    info.size = total;
    info.etag = rs_arena_sprintf(r->a, "%s-%zu", hex, n);
    info.checksums = NULL; /* no composite checksums (see DESIGN) */
    info.nchecksums = 0;
    info.parts_count = (uint32_t)n;
    info.part_sizes = sizes;
    rc = store_upload_complete_etags(r->store, r->bucket, r->key,
                                     st->upload_id, numbers, etags, n,
                                     &info);
    if (rc == RS_ECONFLICT) {
        rs_err_clear(); /* a part changed under us: answered as S3 does */
        return s3_fail(r, S3E_INVALID_PART, NULL);
    }
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_UPLOAD), NULL);

    complete_result(r, info.etag);
    return S3E_NONE;
}

const struct s3_op s3_op_complete_multipart = {
    "CompleteMultipartUpload",
    S3_OP_WRITE | S3_OP_BODY_BUFFER | S3_OP_OBJECT_CHECKSUM,
    complete_authorize, NULL, complete_execute,
};

/* ------------------------------------------------------------------ */
/* AbortMultipartUpload: DELETE /bucket/key?uploadId=ID                 */
/* ------------------------------------------------------------------ */

static enum s3_errcode abort_execute(struct s3_req *r)
{
    const char *id = s3_req_param(r, "uploadId");
    int rc;

    if (!id || !*id)
        return s3_fail(r, S3E_NO_SUCH_UPLOAD, NULL);
    rc = store_upload_abort(r->store, r->bucket, r->key, id);
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_UPLOAD), NULL);
    r->status = 204;
    return S3E_NONE;
}

const struct s3_op s3_op_abort_multipart = {
    "AbortMultipartUpload", S3_OP_WRITE, authorize_write, NULL,
    abort_execute,
};

/* ------------------------------------------------------------------ */
/* ListParts: GET /bucket/key?uploadId=ID                               */
/* ------------------------------------------------------------------ */

struct list_parts_ctx {
    struct s3_req *r;
    struct rs_buf *out;
    size_t count;
    uint32_t last;     /* number of the last part listed */
    bool emit;         /* false for max-parts=0: only count */
};

static int list_part_cb(void *arg, const struct store_part *p)
{
    struct list_parts_ctx *c = arg;
    size_t i;

    c->count++;
    if (!c->emit)
        return 0;
    c->last = p->number;
    (void)rs_buf_puts(c->out, "<Part>");
    s3_xml_elem_u64(c->out, "PartNumber", p->number);
    s3_xml_elem_time(c->out, "LastModified", p->mtime_ns);
    xml_etag(c->r, c->out, p->etag);
    s3_xml_elem_u64(c->out, "Size", p->size);
    for (i = 0; i < p->nchecksums; i++)
        s3_xml_elem(c->out,
                    rs_arena_sprintf(c->r->a, "Checksum%s",
                                     p->checksums[i].name),
                    p->checksums[i].value);
    (void)rs_buf_puts(c->out, "</Part>");
    return 0;
}

static enum s3_errcode list_parts_execute(struct s3_req *r)
{
    struct list_parts_ctx c;
    struct mp_state *st;
    struct rs_buf parts;
    struct rs_buf *b = &r->rsp_body;
    const char *owner, *marker_s = s3_req_param(r, "part-number-marker");
    uint64_t marker = 0;
    size_t max;
    bool truncated = false;
    enum s3_errcode e;
    int rc;

    if ((e = parse_max(r, "max-parts", &max)))
        return e;
    if (marker_s && !parse_bounded(marker_s, MP_MAX_LIST_ARG, &marker))
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       "Argument part-number-marker must be an integer "
                       "between 0 and 2147483647");
    if ((e = load_upload(r, &st)))
        return e;

    rs_buf_init(&parts, SIZE_MAX);
    memset(&c, 0, sizeof(c));
    c.r = r;
    c.out = &parts;
    c.emit = max > 0;
    /* max-parts=0 lists nothing but still says whether parts remain */
    rc = store_part_list(r->store, r->a, r->bucket, r->key, st->upload_id,
                         (uint32_t)marker, max ? max : 1, list_part_cb, &c,
                         &truncated);
    if (rc) {
        rs_buf_dispose(&parts);
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_UPLOAD), NULL);
    }
    if (!max)
        truncated = truncated || c.count > 0;

    owner = upload_owner(r, &st->upload);
    xml_open(r, "ListPartsResult");
    s3_xml_elem(b, "Bucket", r->bucket);
    s3_xml_elem(b, "Key", r->key);
    s3_xml_elem(b, "UploadId", st->upload_id);
    s3_xml_owner(r, b, "Initiator", owner);
    s3_xml_owner(r, b, "Owner", owner);
    s3_xml_elem(b, "StorageClass",
                storage_class_or_default(st->upload.info.storage_class));
    s3_xml_elem_u64(b, "PartNumberMarker", marker);
    s3_xml_elem_u64(b, "NextPartNumberMarker", c.last);
    s3_xml_elem_u64(b, "MaxParts", max);
    s3_xml_elem(b, "IsTruncated", truncated ? "true" : "false");
    (void)rs_buf_append(b, parts.data ? parts.data : "", parts.len);
    xml_close(r, "ListPartsResult");
    rs_buf_dispose(&parts);
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_list_parts = {
    "ListParts", 0, authorize_read, NULL, list_parts_execute,
};

/* ------------------------------------------------------------------ */
/* ListMultipartUploads: GET /bucket?uploads                            */
/* ------------------------------------------------------------------ */

struct list_uploads_ctx {
    struct s3_req *r;
    struct rs_buf *uploads;    /* <Upload> elements */
    struct rs_buf *prefixes;   /* <CommonPrefixes> elements */
    bool url;                  /* encoding-type=url */
    bool emit;                 /* false for max-uploads=0: only count */
    size_t count;
    const char *next_key;      /* last key or common prefix listed */
    const char *next_upload;   /* last upload id listed, "" for a prefix */
};

static int list_upload_cb(void *arg, const struct store_upload_entry *e)
{
    struct list_uploads_ctx *c = arg;
    struct s3_req *r = c->r;
    const struct store_upload *u = e->upload;
    const char *owner;

    c->count++;
    if (!c->emit)
        return 0;
    if (!u) {
        c->next_key = e->prefix;
        c->next_upload = "";
        (void)rs_buf_puts(c->prefixes, "<CommonPrefixes>");
        s3_xml_elem_key(c->prefixes, "Prefix", e->prefix, c->url);
        (void)rs_buf_puts(c->prefixes, "</CommonPrefixes>");
        return 0;
    }
    c->next_key = u->key;
    c->next_upload = u->upload_id;
    owner = upload_owner(r, u);
    (void)rs_buf_puts(c->uploads, "<Upload>");
    s3_xml_elem_key(c->uploads, "Key", u->key, c->url);
    s3_xml_elem(c->uploads, "UploadId", u->upload_id);
    s3_xml_owner(r, c->uploads, "Initiator", owner);
    s3_xml_owner(r, c->uploads, "Owner", owner);
    s3_xml_elem(c->uploads, "StorageClass",
                storage_class_or_default(u->info.storage_class));
    s3_xml_elem_time(c->uploads, "Initiated", u->initiated_ns);
    (void)rs_buf_puts(c->uploads, "</Upload>");
    return 0;
}

static enum s3_errcode list_uploads_execute(struct s3_req *r)
{
    struct store_upload_list_opts o;
    struct list_uploads_ctx c;
    struct rs_buf uploads, prefixes;
    struct rs_buf *b = &r->rsp_body;
    const char *enc = s3_req_param(r, "encoding-type");
    const char *prefix = s3_req_param(r, "prefix");
    const char *delim = s3_req_param(r, "delimiter");
    const char *key_marker = s3_req_param(r, "key-marker");
    const char *id_marker = s3_req_param(r, "upload-id-marker");
    size_t max;
    bool truncated = false;
    enum s3_errcode e;
    int rc;

    if (enc && strcmp(enc, "url"))
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       "Invalid Encoding Method specified in Request");
    if ((e = parse_max(r, "max-uploads", &max)))
        return e;

    memset(&o, 0, sizeof(o));
    o.prefix = prefix;
    o.delimiter = delim;
    o.key_marker = key_marker;
    /* without key-marker, upload-id-marker is ignored (S3 says so) */
    o.upload_id_marker = key_marker && *key_marker ? id_marker : NULL;
    o.max_uploads = max ? max : 1;

    rs_buf_init(&uploads, SIZE_MAX);
    rs_buf_init(&prefixes, SIZE_MAX);
    memset(&c, 0, sizeof(c));
    c.r = r;
    c.uploads = &uploads;
    c.prefixes = &prefixes;
    c.url = enc != NULL;
    c.emit = max > 0;
    c.next_key = "";
    c.next_upload = "";
    rc = store_upload_list(r->store, r->a, r->bucket, &o, list_upload_cb,
                           &c, &truncated);
    if (rc) {
        rs_buf_dispose(&uploads);
        rs_buf_dispose(&prefixes);
        return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET), NULL);
    }
    if (!max)
        truncated = truncated || c.count > 0;

    xml_open(r, "ListMultipartUploadsResult");
    s3_xml_elem(b, "Bucket", r->bucket);
    s3_xml_elem_key(b, "KeyMarker", key_marker ? key_marker : "", c.url);
    s3_xml_elem(b, "UploadIdMarker", id_marker ? id_marker : "");
    s3_xml_elem_key(b, "NextKeyMarker", c.next_key, c.url);
    s3_xml_elem(b, "NextUploadIdMarker", c.next_upload);
    if (delim && *delim)
        s3_xml_elem_key(b, "Delimiter", delim, c.url);
    s3_xml_elem_key(b, "Prefix", prefix ? prefix : "", c.url);
    s3_xml_elem_u64(b, "MaxUploads", max);
    s3_xml_elem(b, "IsTruncated", truncated ? "true" : "false");
    (void)rs_buf_append(b, uploads.data ? uploads.data : "", uploads.len);
    (void)rs_buf_append(b, prefixes.data ? prefixes.data : "",
                        prefixes.len);
    if (c.url)
        s3_xml_elem(b, "EncodingType", "url");
    xml_close(r, "ListMultipartUploadsResult");
    rs_buf_dispose(&uploads);
    rs_buf_dispose(&prefixes);
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_list_multipart_uploads = {
    "ListMultipartUploads", 0, authorize_read, NULL, list_uploads_execute,
};
