/*
 * ingest/gw_http.c - the HTTP side of the gateway, on libmicrohttpd (the
 * only file with the S3 request lifecycle on MHD; gw_admin.c adds the
 * admin endpoint).
 *
 * Threads: MHD runs one thread per connection (MHD_USE_THREAD_PER_CONNECTION)
 * so that a request blocked on fdatasync stalls only its own connection.
 * Everything in a request runs on that connection's thread; the request
 * (struct s3_req) and its arena belong to it.
 *
 * Lifecycle of a request, as MHD calls us:
 *   uri_log_cb        first thing after the request line: the raw URI as
 *                     sent (MHD would otherwise unescape it, and SigV4
 *                     needs the bytes the client signed); creates s3_req.
 *   access_cb, 1st    headers complete: addressing, SigV4, routing, bucket
 *                     load, authorization, then either an immediate
 *                     response (errors: no 100-continue is sent, so the
 *                     client never sends the body) or "continue".
 *   access_cb, data   body bytes (HTTP chunked framing already removed):
 *                     through the payload decoder to the store writer or
 *                     the XML buffer.  Never more than one MHD read buffer
 *                     is held; bodies are never accumulated in memory
 *                     except bounded XML bodies.
 *   access_cb, last   *upload_data_size == 0: finish the payload checks,
 *                     execute the op, queue the response.
 *   completed_cb      after the response is sent (or the connection died):
 *                     access log, metrics, abort of an unfinished writer,
 *                     arena freed.
 * An error in the middle of a body cannot be answered before the body ends
 * (MHD queues responses only before or after the upload); the rest of the
 * body is read and discarded, then the error is answered.
 */
#include "ingest/ingest.h"
#include "ingest/s3_int.h"
#include "ingest/gw_int.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define GW_STREAM_BLOCK (256 * 1024) /* response body read size */
/* Bodies up to this size are read (and every CRC checked) before the
 * status line goes out: a damaged small object is a 500, not a cut
 * connection.  Larger ones stream. */
#define GW_PREREAD_MAX (1024 * 1024)

struct gw {
    struct MHD_Daemon *daemon;
    struct store *store;
    const struct rs_config *cfg;
    _Atomic long open_connections;
    _Atomic uint64_t request_seq;
    struct rs_counter *bytes_in;
    struct rs_counter *bytes_out;
    struct gw_events_ops events;
};

void gw_set_events_ops(struct gw *g, const struct gw_events_ops *ops)
{
    g->events = *ops;
}

char *gw__events_stats(const struct gw *g)
{
    return g->events.stats ? g->events.stats(g->events.arg) : NULL;
}

int gw__events_group_delete(const struct gw *g, const char *group)
{
    if (!g->events.group_delete)
        return rs_err_set(RS_ESHUTDOWN, "no consumer-group broker runs");
    return g->events.group_delete(g->events.arg, group);
}

/* ------------------------------------------------------------------ */
/* Request accessors and response helpers                               */
/* ------------------------------------------------------------------ */

const char *s3_req_header(const struct s3_req *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nheaders; i++)
        if (!strcasecmp(r->headers[i].name, name))
            return r->headers[i].value;
    return NULL;
}

const char *s3_req_param(const struct s3_req *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->nparams; i++)
        if (!strcmp(r->params[i].name, name))
            return r->params[i].value;
    return NULL;
}

bool s3_req_has_param(const struct s3_req *r, const char *name)
{
    return s3_req_param(r, name) != NULL;
}

void s3_rsp_header(struct s3_req *r, const char *name, const char *value)
{
    if (r->nrsp_headers == r->caprsp_headers) {
        size_t cap = r->caprsp_headers ? 2 * r->caprsp_headers : 16;
        struct rs_kv *h = rs_arena_alloc(r->a, cap * sizeof(*h));

        if (r->nrsp_headers)
            memcpy(h, r->rsp_headers, r->nrsp_headers * sizeof(*h));
        r->rsp_headers = h;
        r->caprsp_headers = cap;
    }
    r->rsp_headers[r->nrsp_headers].name = rs_arena_strdup(r->a, name);
    r->rsp_headers[r->nrsp_headers].value = rs_arena_strdup(r->a, value);
    r->nrsp_headers++;
}

void s3_rsp_headerf(struct s3_req *r, const char *name, const char *fmt, ...)
{
    char buf[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    s3_rsp_header(r, name, buf);
}

void s3_rsp_xml_begin(struct s3_req *r)
{
    rs_buf_reset(&r->rsp_body);
    (void)rs_buf_puts(&r->rsp_body,
                      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    s3_rsp_header(r, "Content-Type", "application/xml");
}

enum s3_errcode s3_fail(struct s3_req *r, enum s3_errcode e, const char *msg)
{
    if (r->err == S3E_NONE) {
        r->err = e;
        r->body_err_msg = msg;
    }
    return e;
}

bool s3_acl_allows(const struct s3_req *r, const struct store_acl *acl,
                   unsigned perm)
{
    size_t i;

    /* The owner may always read and change the ACL; reading and writing
     * data needs a grant like anyone else's (an owner who removed their
     * own grant is refused, as in S3). */
    if (r->authenticated && acl->owner && !strcmp(acl->owner, r->user.name) &&
        (perm & ~(unsigned)(STORE_PERM_READ_ACP | STORE_PERM_WRITE_ACP)) == 0)
        return true;
    for (i = 0; i < acl->ngrants; i++) {
        const struct store_grant *g = &acl->grants[i];
        bool match = false;

        switch (g->kind) {
        case STORE_GRANTEE_ALL_USERS:
            match = true;
            break;
        case STORE_GRANTEE_AUTH_USERS:
            match = r->authenticated;
            break;
        case STORE_GRANTEE_USER:
            match = r->authenticated && g->id && !strcmp(g->id, r->user.name);
            break;
        }
        if (match && (g->perm & perm) == perm)
            return true;
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Parsing the request line and headers                                 */
/* ------------------------------------------------------------------ */

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind,
                                      const char *name, const char *value)
{
    struct s3_req *r = cls;

    (void)kind;
    if (r->nheaders % 16 == 0) {
        struct rs_kv *h = rs_arena_alloc(r->a, (r->nheaders + 16) *
                                                   sizeof(*h));

        if (r->nheaders)
            memcpy(h, r->headers, r->nheaders * sizeof(*h));
        r->headers = h;
    }
    r->headers[r->nheaders].name = (char *)name;
    r->headers[r->nheaders].value = (char *)(value ? value : "");
    r->nheaders++;
    return MHD_YES;
}

/* Split the raw query into decoded parameters. */
static enum s3_errcode parse_query(struct s3_req *r)
{
    const char *p = r->raw_query;
    size_t cap = 0;

    if (!p)
        return S3E_NONE;
    while (*p) {
        const char *end = strchr(p, '&');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *eq;
        struct s3_param prm;

        if (n) {
            /* '+' is a space in a query string, as the SigV4 canonical
             * query reads it (and RGW, MinIO); clients send %2B for '+'. */
            char *plain = rs_arena_strndup(r->a, p, n);

            for (char *c = plain; *c; c++)
                if (*c == '+')
                    *c = ' ';
            eq = memchr(plain, '=', n);
            prm.name = s3_url_decode(r->a, plain,
                                     eq ? (size_t)(eq - plain) : n);
            prm.value = eq ? s3_url_decode(r->a, eq + 1,
                                           n - (size_t)(eq - plain) - 1)
                           : rs_arena_strdup(r->a, "");
            if (!prm.name || !prm.value)
                return S3E_INVALID_URI;
            if (r->nparams == cap) {
                struct s3_param *np;

                cap = cap ? cap * 2 : 8;
                np = rs_arena_alloc(r->a, cap * sizeof(*np));
                if (r->nparams)
                    memcpy(np, r->params, r->nparams * sizeof(*np));
                r->params = np;
            }
            r->params[r->nparams++] = prm;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return S3E_NONE;
}

/*
 * Bucket and key from Host (virtual-host style, when the host is
 * BUCKET.<one of vhost_domains>) or from the path (path style).  Keys keep
 * every byte: "a//b", "../x" and "%2F" (decoded to '/') are stored as sent.
 */
static enum s3_errcode parse_addressing(struct s3_req *r)
{
    const char *host = s3_req_header(r, "Host");
    char *path = s3_url_decode(r->a, r->raw_path, strlen(r->raw_path));
    const char *doms = r->cfg->vhost_domains;

    if (!path || path[0] != '/')
        return S3E_INVALID_URI;
    if (host && doms && *doms) {
        size_t hlen = strcspn(host, ":");
        const char *d = doms;

        while (*d) {
            size_t dlen = strcspn(d, ", ");

            if (dlen && hlen > dlen + 1 && host[hlen - dlen - 1] == '.' &&
                !strncasecmp(host + hlen - dlen, d, dlen)) {
                r->bucket = rs_arena_strndup(r->a, host, hlen - dlen - 1);
                r->vhost = true;
                r->key = path[1] ? path + 1 : NULL;
                return S3E_NONE;
            }
            d += dlen;
            d += strspn(d, ", ");
        }
    }
    if (path[1]) {
        char *slash = strchr(path + 1, '/');

        if (slash) {
            r->bucket = rs_arena_strndup(r->a, path + 1,
                                         (size_t)(slash - path - 1));
            r->key = slash[1] ? slash + 1 : NULL;
        } else {
            r->bucket = path + 1;
        }
    }
    return S3E_NONE;
}

/* ------------------------------------------------------------------ */
/* Authentication                                                       */
/* ------------------------------------------------------------------ */

/* SigV2: the payload is unsigned; digests are still checked. */
static enum s3_errcode authenticate_v2(struct s3_req *r,
                                       const struct s3_auth_input *in)
{
    struct s3_auth_v2 v2;
    const char *msg = NULL;
    enum s3_errcode e;
    int rc;

    e = s3_auth_v2_parse(r->a, &v2, in, r->vhost ? r->bucket : NULL, &msg);
    if (e)
        return s3_fail(r, e, msg);
    rc = store_user_by_access_key(r->store, &r->user, v2.access_key);
    if (rc == RS_ENOTFOUND)
        return s3_fail(r, S3E_INVALID_ACCESS_KEY_ID, NULL);
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_INTERNAL_ERROR), NULL);
    if ((e = s3_auth_v2_verify(&v2, r->user.secret_key)))
        return s3_fail(r, e, NULL);
    memset(&r->auth, 0, sizeof(r->auth));
    snprintf(r->auth.access_key, sizeof(r->auth.access_key), "%s",
             v2.access_key);
    r->auth.presigned = v2.presigned;
    r->auth.payload_mode = S3_PAYLOAD_UNSIGNED;
    r->authenticated = true;
    return S3E_NONE;
}

enum s3_errcode gw__authenticate(struct s3_req *r)
{
    struct s3_auth_input in = {
        .method = r->method,
        .raw_path = r->raw_path,
        .raw_query = r->raw_query,
        .headers = r->headers,
        .nheaders = r->nheaders,
        .now_sec = rs_now_ns() / 1000000000,
        .clock_skew = r->cfg->clock_skew,
        .region = r->cfg->region,
    };
    const char *msg = NULL;
    enum s3_errcode e;
    int rc;

    if (s3_auth_v2_present(&in))
        return authenticate_v2(r, &in);
    e = s3_auth_parse(r->a, &r->auth, &in, &msg);
    if (e == S3E_AUTH_HEADER_MALFORMED && r->auth.region[0])
        r->err_extra = rs_arena_sprintf(r->a, "<Region>%s</Region>",
                                        r->cfg->region);
    if (e)
        return s3_fail(r, e, msg);
    if (r->auth.anonymous)
        return S3E_NONE;
    rc = store_user_by_access_key(r->store, &r->user, r->auth.access_key);
    if (rc == RS_ENOTFOUND)
        return s3_fail(r, S3E_INVALID_ACCESS_KEY_ID, NULL);
    if (rc)
        return s3_fail(r, s3_error_from_rs(rc, S3E_INTERNAL_ERROR), NULL);
    e = s3_auth_verify(&r->auth, r->user.secret_key);
    if (e)
        return s3_fail(r, e, NULL);
    r->authenticated = true;
    return S3E_NONE;
}

/* ------------------------------------------------------------------ */
/* Body                                                                 */
/* ------------------------------------------------------------------ */

static int sink_writer(void *arg, const void *p, size_t n)
{
    struct s3_req *r = arg;

    if (r->appender)
        return store_append_write(r->appender, p, n);
    return store_writer_write(r->writer, p, n);
}

static int sink_buffer(void *arg, const void *p, size_t n)
{
    struct s3_req *r = arg;

    return rs_buf_append(&r->body, p, n);
}

/* Header checks and payload decoder for an op that takes a body. */
static enum s3_errcode body_begin(struct s3_req *r)
{
    struct s3_payload_opts o = { 0 };
    const char *cl = s3_req_header(r, "Content-Length");
    const char *te = s3_req_header(r, "Transfer-Encoding");
    const char *msg = NULL;
    static const struct { const char *h; enum s3_cksum c; } cks[] = {
        { "x-amz-checksum-crc32", S3_CKSUM_CRC32 },
        { "x-amz-checksum-crc32c", S3_CKSUM_CRC32C },
        { "x-amz-checksum-crc64nvme", S3_CKSUM_CRC64NVME },
        { "x-amz-checksum-sha1", S3_CKSUM_SHA1 },
        { "x-amz-checksum-sha256", S3_CKSUM_SHA256 },
    };
    enum s3_errcode e;
    size_t i;

    if (cl) {
        if (rs_parse_u64(&r->content_length, cl, strlen(cl)))
            return s3_fail(r, S3E_INVALID_ARGUMENT, "Invalid Content-Length");
        r->has_content_length = true;
    } else if (!te && (r->op->flags & S3_OP_BODY_STREAM)) {
        return s3_fail(r, S3E_MISSING_CONTENT_LENGTH, NULL);
    }
    /* Anonymous aws-chunked bodies still need their framing removed. */
    o.auth = &r->auth;
    o.content_md5 = s3_req_header(r, "Content-MD5");
    o.decoded_length = s3_req_header(r, "x-amz-decoded-content-length");
    o.trailer = s3_req_header(r, "x-amz-trailer");
    o.checksum_algorithm = s3_req_header(r, "x-amz-sdk-checksum-algorithm");
    if (!o.checksum_algorithm)
        o.checksum_algorithm = s3_req_header(r, "x-amz-checksum-algorithm");
    for (i = 0; i < sizeof(cks) / sizeof(cks[0]); i++) {
        const char *v = (r->op->flags & S3_OP_OBJECT_CHECKSUM)
                            ? NULL
                            : s3_req_header(r, cks[i].h);

        if (v) {
            if (o.header_cksum != S3_CKSUM_NONE)
                return s3_fail(r, S3E_INVALID_REQUEST,
                               "Expecting a single x-amz-checksum- header. "
                               "Multiple checksum Types are not allowed.");
            o.header_cksum = cks[i].c;
            o.header_cksum_value = v;
        }
    }
    o.no_md5 = (r->op->flags & S3_OP_NO_MD5) != 0;
    e = s3_payload_new(r->a, &r->payload, &o, &msg);
    if (e)
        return s3_fail(r, e, msg);
    if (r->op->flags & S3_OP_BODY_BUFFER) {
        uint64_t lim = r->cfg->max_xml_body;

        if (r->has_content_length && r->content_length > lim &&
            !o.decoded_length)
            return s3_fail(r, S3E_MAX_MESSAGE_LENGTH_EXCEEDED, NULL);
        rs_buf_init(&r->body, lim);
    }
    if (r->op->begin) {
        e = r->op->begin(r);
        if (e)
            return s3_fail(r, e, NULL);
    }
    return S3E_NONE;
}

static void body_feed(struct s3_req *r, const char *data, size_t n)
{
    const char *msg = NULL;
    int sink_rc = 0;
    enum s3_errcode e;

    if (r->err != S3E_NONE || !r->payload)
        return; /* discarding the rest of a failed or body-less request */
    e = s3_payload_feed(r->payload, data, n,
                        (r->op->flags & S3_OP_BODY_STREAM) ? sink_writer
                                                           : sink_buffer,
                        r, &sink_rc, &msg);
    if (e == S3E_NONE)
        return;
    if (sink_rc) {
        r->body_rc = sink_rc;
        if (sink_rc == RS_ETOOBIG && (r->op->flags & S3_OP_BODY_BUFFER))
            e = S3E_MAX_MESSAGE_LENGTH_EXCEEDED;
        else
            e = s3_error_from_rs(sink_rc, S3E_INTERNAL_ERROR);
        rs_warn("%s: body write failed: %s", r->request_id, rs_err_msg());
        msg = NULL; /* the table's message, not the decoder's */
    }
    s3_fail(r, e, msg);
}

static void body_finish(struct s3_req *r)
{
    const char *msg = NULL;
    enum s3_errcode e;

    if (r->err != S3E_NONE || !r->payload)
        return;
    e = s3_payload_finish(r->payload, &msg);
    if (e)
        s3_fail(r, e, msg);
}

/* ------------------------------------------------------------------ */
/* Responses                                                            */
/* ------------------------------------------------------------------ */

struct gw_stream {
    struct gw *gw;
    struct store_reader *reader;
    uint64_t offset;
    uint64_t length;
    char request_id[17];
};

static ssize_t stream_read_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct gw_stream *st = cls;
    size_t got = 0, n;
    int rc;

    if (pos >= st->length)
        return MHD_CONTENT_READER_END_OF_STREAM;
    n = st->length - pos < max ? (size_t)(st->length - pos) : max;
    rc = store_reader_read(st->reader, st->offset + pos, buf, n, &got);
    if (rc || got == 0) {
        /* Headers are out already: cutting the connection short is the
         * only honest signal left (the client sees a short body). */
        rs_error("%s: read failed at %llu: %s: %s", st->request_id,
                 (unsigned long long)(st->offset + pos), rs_strerror(rc),
                 rs_err_msg());
        return MHD_CONTENT_READER_END_WITH_ERROR;
    }
    rs_counter_add(st->gw->bytes_out, got);
    return (ssize_t)got;
}

/* HEAD responses announce a length but MHD never asks for the body. */
static ssize_t no_body_cb(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)cls;
    (void)pos;
    (void)buf;
    (void)max;
    return MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free_cb(void *cls)
{
    struct gw_stream *st = cls;

    store_reader_close(st->reader);
    free(st);
}

static void error_body(struct s3_req *r)
{
    const struct s3_error_def *d = s3_error_def(r->err);
    const char *msg = r->body_err_msg ? r->body_err_msg : d->message;

    r->status = d->status;
    rs_buf_reset(&r->rsp_body);
    if (r->err == S3E_NOT_MODIFIED)
        return;
    s3_rsp_xml_begin(r);
    (void)rs_buf_printf(&r->rsp_body, "<Error><Code>%s</Code><Message>",
                        d->code);
    (void)rs_buf_xml_escape(&r->rsp_body, msg);
    (void)rs_buf_puts(&r->rsp_body, "</Message>");
    if (r->bucket) {
        (void)rs_buf_puts(&r->rsp_body, "<BucketName>");
        (void)rs_buf_xml_escape(&r->rsp_body, r->bucket);
        (void)rs_buf_puts(&r->rsp_body, "</BucketName>");
    }
    if (r->key && (r->err == S3E_NO_SUCH_KEY)) {
        (void)rs_buf_puts(&r->rsp_body, "<Key>");
        (void)rs_buf_xml_escape(&r->rsp_body, r->key);
        (void)rs_buf_puts(&r->rsp_body, "</Key>");
    }
    if (r->err_extra)
        (void)rs_buf_puts(&r->rsp_body, r->err_extra);
    (void)rs_buf_puts(&r->rsp_body, "<Resource>");
    (void)rs_buf_xml_escape(&r->rsp_body, r->raw_path ? r->raw_path : "/");
    (void)rs_buf_printf(&r->rsp_body,
                        "</Resource><RequestId>%s</RequestId>"
                        "<HostId>%s</HostId></Error>",
                        r->request_id, r->request_id);
}

/* Read a small body now, so a read error can still be an error
 * response; false (with r->err set) when it failed. */
static bool preread(struct s3_req *r, char **body_out)
{
    size_t got = 0;
    char *buf = rs_xmalloc((size_t)r->rsp_length);
    int rc = store_reader_read(r->rsp_reader, r->rsp_offset, buf,
                               (size_t)r->rsp_length, &got);

    if (rc == RS_OK && got == r->rsp_length) {
        *body_out = buf;
        return true;
    }
    rs_error("%s: read failed at %llu: %s: %s", r->request_id,
             (unsigned long long)r->rsp_offset, rs_strerror(rc),
             rs_err_msg());
    free(buf);
    /* The object's headers do not describe an error. */
    r->nrsp_headers = 0;
    s3_fail(r, S3E_INTERNAL_ERROR, "the object's data failed its checksum "
            "or could not be read");
    return false;
}

enum MHD_Result gw__respond(struct MHD_Connection *conn, struct s3_req *r)
{
    struct MHD_Response *rsp;
    enum MHD_Result ret;
    char *small = NULL;
    size_t i;

    if (r->err == S3E_NONE && r->rsp_reader && r->rsp_length > 0 &&
        r->rsp_length <= GW_PREREAD_MAX && strcmp(r->method, "HEAD"))
        (void)preread(r, &small);
    if (small) {
        store_reader_close(r->rsp_reader);
        r->rsp_reader = NULL;
        rs_counter_add(r->gw->bytes_out, r->rsp_length);
        rsp = MHD_create_response_from_buffer((size_t)r->rsp_length, small,
                                              MHD_RESPMEM_MUST_FREE);
        if (!rsp) {
            free(small);
            return MHD_NO;
        }
        if (r->status == 0)
            r->status = 200;
        goto headers;
    }
    if (r->err != S3E_NONE) {
        if (r->rsp_reader) {
            store_reader_close(r->rsp_reader);
            r->rsp_reader = NULL;
        }
        error_body(r);
    }
    if (r->status == 0)
        r->status = 200;
    if (r->rsp_reader && r->rsp_length > 0 && strcmp(r->method, "HEAD")) {
        struct gw_stream *st = rs_xcalloc(1, sizeof(*st));

        st->gw = r->gw;
        st->reader = r->rsp_reader;
        st->offset = r->rsp_offset;
        st->length = r->rsp_length;
        memcpy(st->request_id, r->request_id, sizeof(st->request_id));
        r->rsp_reader = NULL;
        /* MHD callocs a buffer of the block size per response: no larger
         * than the body, so small GETs do not zero 256 KiB each. */
        rsp = MHD_create_response_from_callback(
            st->length, st->length < GW_STREAM_BLOCK ? (size_t)st->length
                                                     : GW_STREAM_BLOCK,
            stream_read_cb, st, stream_free_cb);
        if (!rsp) {
            stream_free_cb(st);
            return MHD_NO;
        }
    } else if (r->rsp_reader || !strcmp(r->method, "HEAD")) {
        /* HEAD: no body, but Content-Length of what GET would send. */
        uint64_t len = r->rsp_reader ? r->rsp_length : r->rsp_body.len;

        store_reader_close(r->rsp_reader);
        r->rsp_reader = NULL;
        if (len)
            rsp = MHD_create_response_from_callback(len, 4096, no_body_cb,
                                                    NULL, NULL);
        else
            rsp = MHD_create_response_from_buffer(0, (void *)"",
                                                  MHD_RESPMEM_PERSISTENT);
    } else {
        size_t len;
        char *body = rs_buf_detach(&r->rsp_body, &len);

        rs_counter_add(r->gw->bytes_out, len);
        rsp = MHD_create_response_from_buffer(len, body,
                                              MHD_RESPMEM_MUST_FREE);
        if (!rsp) {
            free(body);
            return MHD_NO;
        }
    }
headers:
    MHD_add_response_header(rsp, "x-amz-request-id", r->request_id);
    MHD_add_response_header(rsp, "x-amz-id-2", r->request_id);
    MHD_add_response_header(rsp, "Server", "roadstore");
    for (i = 0; i < r->nrsp_headers; i++) {
        const char *v = r->rsp_headers[i].value;

        /* libmicrohttpd 0.9.75 refuses empty values; "name: " + one
         * space is read back as empty by every HTTP parser (OWS). */
        MHD_add_response_header(rsp, r->rsp_headers[i].name,
                                *v ? v : " ");
    }
    ret = MHD_queue_response(conn, (unsigned)r->status, rsp);
    MHD_destroy_response(rsp);
    return ret;
}

/* ------------------------------------------------------------------ */
/* Dispatch                                                             */
/* ------------------------------------------------------------------ */

/* S3 bucket name rules for new buckets (path-style compatible). */
bool gw__bucket_name_valid(const char *b)
{
    size_t n = strlen(b), i;
    int dots = 0, digits_only = 1;

    if (n < 3 || n > 63)
        return false;
    for (i = 0; i < n; i++) {
        char c = b[i];

        if (c == '.') {
            dots++;
            if (i == 0 || b[i - 1] == '.' || b[i - 1] == '-' ||
                (i + 1 < n && b[i + 1] == '-'))
                return false;
        } else if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                     c == '-')) {
            return false;
        } else if (!(c >= '0' && c <= '9')) {
            digits_only = 0;
        }
    }
    if (!((b[0] >= 'a' && b[0] <= 'z') || (b[0] >= '0' && b[0] <= '9')))
        return false;
    if (!((b[n - 1] >= 'a' && b[n - 1] <= 'z') ||
          (b[n - 1] >= '0' && b[n - 1] <= '9')))
        return false;
    if (dots == 3 && digits_only) {
        struct in_addr a;

        if (inet_pton(AF_INET, b, &a) == 1)
            return false; /* formatted as an IP address */
    }
    if (rs_str_startswith(b, "xn--") || rs_str_startswith(b, "sthree-"))
        return false;
    n = strlen(b);
    if (n > 8 && !strcmp(b + n - 8, "-s3alias"))
        return false;
    return true;
}

/* Headers, addressing, auth, routing, bucket and authorization. */
static enum s3_errcode request_begin(struct s3_req *r)
{
    enum s3_errcode e;
    size_t hdr_bytes = 0, i;
    int rc;

    for (i = 0; i < r->nheaders; i++)
        hdr_bytes += strlen(r->headers[i].name) +
                     strlen(r->headers[i].value) + 4;
    if (hdr_bytes > r->cfg->max_header_bytes)
        return s3_fail(r, S3E_INVALID_REQUEST,
                       "Your request header section exceeds the maximum "
                       "allowed size.");
    if ((e = parse_query(r)) || (e = parse_addressing(r)))
        return s3_fail(r, e, NULL);
    r->resource = r->raw_path;
    if (r->key && strlen(r->key) > 1024)
        return s3_fail(r, S3E_KEY_TOO_LONG, NULL);
    /* Routing needs no identity; done first, so an authentication failure
     * is logged and counted under its operation. */
    r->op = s3_route(r);
    if ((e = gw__authenticate(r)))
        return e;
    if (r->bucket && !(r->op->flags & S3_OP_NO_BUCKET)) {
        rc = store_bucket_get(r->store, r->a, &r->bkt, r->bucket);
        if (rc)
            return s3_fail(r, s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET), NULL);
        r->have_bkt = true;
    }
    if (r->op->authorize && (e = r->op->authorize(r)))
        return s3_fail(r, e, NULL);
    if (r->op->flags & (S3_OP_BODY_STREAM | S3_OP_BODY_BUFFER))
        return body_begin(r);
    return S3E_NONE;
}

static void request_execute(struct s3_req *r)
{
    enum s3_errcode e;

    body_finish(r);
    if (r->err != S3E_NONE)
        return;
    e = r->op->execute(r);
    if (e)
        s3_fail(r, e, NULL);
}

/* Whether a body follows the headers (Content-Length > 0 or chunked). */
static bool request_has_body(const struct s3_req *r)
{
    const char *cl = s3_req_header(r, "Content-Length");

    if (s3_req_header(r, "Transfer-Encoding"))
        return true;
    return cl && strcmp(cl, "0") != 0;
}

/* The client's address as text ("-" when unknown). */
static void client_ip(struct MHD_Connection *conn, char *ip, size_t n)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    snprintf(ip, n, "-");
    if (!ci || !ci->client_addr)
        return;
    if (ci->client_addr->sa_family == AF_INET)
        inet_ntop(AF_INET, &((struct sockaddr_in *)ci->client_addr)->sin_addr,
                  ip, (socklen_t)n);
    else if (ci->client_addr->sa_family == AF_INET6)
        inet_ntop(AF_INET6,
                  &((struct sockaddr_in6 *)ci->client_addr)->sin6_addr, ip,
                  (socklen_t)n);
}

static enum MHD_Result access_cb(void *cls, struct MHD_Connection *conn,
                                 const char *url, const char *method,
                                 const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct gw *g = cls;
    struct s3_req *r = *con_cls;

    (void)url;
    (void)version;
    if (!r)
        return MHD_NO; /* uri_log_cb always runs first */
    if (!r->method) {
        /* First call: the headers are complete. */
        r->method = rs_arena_strdup(r->a, method);
        MHD_get_connection_values(conn, MHD_HEADER_KIND, collect_header, r);
        if (gw__internal_path(r)) {
            if (parse_query(r) != S3E_NONE)
                s3_fail(r, S3E_INVALID_URI, NULL);
            return gw__internal_request(conn, r) ? MHD_YES : MHD_NO;
        }
        {
            /* Who asks, for the events of what this request changes (the
             * whole request runs on this connection's thread). */
            char ip[INET6_ADDRSTRLEN];
            client_ip(conn, ip, sizeof ip);
            store_event_context(r->request_id, NULL, ip);
        }
        if (request_begin(r) != S3E_NONE && request_has_body(r))
            return gw__respond(conn, r); /* before the body: MHD closes */
        if (r->authenticated) {
            char ip[INET6_ADDRSTRLEN];
            client_ip(conn, ip, sizeof ip);
            store_event_context(r->request_id, r->user.name, ip);
        }
        /* A body-less request is answered on the final call, even when it
         * failed already: queued now, MHD would close the connection. */
        return MHD_YES;
    }
    if (r->internal)
        return gw__internal_body(conn, r, upload_data, upload_data_size);
    if (*upload_data_size) {
        rs_counter_add(g->bytes_in, *upload_data_size);
        body_feed(r, upload_data, *upload_data_size);
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (r->err == S3E_NONE)
        request_execute(r);
    return gw__respond(conn, r);
}

/* ------------------------------------------------------------------ */
/* Request start and end                                                */
/* ------------------------------------------------------------------ */

static void *uri_log_cb(void *cls, const char *uri, struct MHD_Connection *c)
{
    struct gw *g = cls;
    struct rs_arena *a = rs_arena_new();
    struct s3_req *r = rs_arena_alloc(a, sizeof(*r));
    uint64_t seq = atomic_fetch_add(&g->request_seq, 1);
    const char *q;

    (void)c;
    r->a = a;
    r->gw = g;
    r->store = g->store;
    r->cfg = g->cfg;
    r->start_mono_ns = rs_mono_ns();
    snprintf(r->request_id, sizeof(r->request_id), "%08X%08X",
             (unsigned)(rs_now_ns() / 1000000000), (unsigned)seq);
    rs_buf_init(&r->rsp_body, SIZE_MAX);
    r->raw_uri = rs_arena_strdup(a, uri ? uri : "/");
    q = strchr(r->raw_uri, '?');
    if (q) {
        r->raw_path = rs_arena_strndup(a, r->raw_uri,
                                       (size_t)(q - r->raw_uri));
        r->raw_query = rs_arena_strdup(a, q + 1);
    } else {
        r->raw_path = r->raw_uri;
    }
    return r;
}

static void completed_cb(void *cls, struct MHD_Connection *conn,
                         void **con_cls, enum MHD_RequestTerminationCode toe)
{
    struct s3_req *r = *con_cls;
    char ip[INET6_ADDRSTRLEN] = "-";
    double secs;

    (void)cls;
    if (!r)
        return;
    *con_cls = NULL;
    secs = (double)(rs_mono_ns() - r->start_mono_ns) / 1e9;
    if (r->writer) {
        store_writer_abort(r->writer);
        r->writer = NULL;
    }
    if (r->appender) {
        store_append_abort(r->appender);
        r->appender = NULL;
    }
    if (r->rsp_reader)
        store_reader_close(r->rsp_reader);
    client_ip(conn, ip, sizeof ip);
    gw__observe(r, secs);
    if (r->cfg->access_log && r->method)
        rs_info("access %s %s %s %s %s %s %d %s %.3fms%s", r->request_id, ip,
                r->authenticated ? r->user.name : "-", r->method,
                r->raw_uri, r->op ? r->op->name : "-", r->status,
                r->err ? s3_error_def(r->err)->code : "-", secs * 1e3,
                toe == MHD_REQUEST_TERMINATED_COMPLETED_OK ? ""
                                                           : " aborted");
    rs_buf_dispose(&r->body);
    rs_buf_dispose(&r->rsp_body);
    rs_arena_free(r->a);
}

static void connection_cb(void *cls, struct MHD_Connection *c,
                          void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct gw *g = cls;

    (void)c;
    (void)socket_context;
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        atomic_fetch_add(&g->open_connections, 1);
    else
        atomic_fetch_sub(&g->open_connections, 1);
}

static double open_connections_gauge(void *arg)
{
    struct gw *g = arg;

    return (double)atomic_load(&g->open_connections);
}

/* ------------------------------------------------------------------ */
/* Start and stop                                                       */
/* ------------------------------------------------------------------ */

static int parse_listen(struct sockaddr_in *sa, const char *listen)
{
    const char *colon = strrchr(listen, ':');
    char host[256];
    uint64_t port;

    memset(sa, 0, sizeof(*sa));
    sa->sin_family = AF_INET;
    if (!colon || (size_t)(colon - listen) >= sizeof(host) ||
        rs_parse_u64(&port, colon + 1, strlen(colon + 1)) || port > 65535)
        return rs_err_set(RS_EINVAL, "bad listen address '%s' (HOST:PORT)",
                          listen);
    memcpy(host, listen, (size_t)(colon - listen));
    host[colon - listen] = '\0';
    if (!strcmp(host, "localhost"))
        strcpy(host, "127.0.0.1");
    if (!*host || !strcmp(host, "*"))
        strcpy(host, "0.0.0.0");
    if (inet_pton(AF_INET, host, &sa->sin_addr) != 1)
        return rs_err_set(RS_EINVAL, "bad listen host '%s'", host);
    sa->sin_port = htons((uint16_t)port);
    return RS_OK;
}

int gw_start(struct gw **out, const struct rs_config *cfg, struct store *s)
{
    struct gw *g;
    struct sockaddr_in sa;
    int rc;

    rc = parse_listen(&sa, cfg->listen);
    if (rc)
        return rc;
    g = rs_xcalloc(1, sizeof(*g));
    g->store = s;
    g->cfg = cfg;
    g->bytes_in = rs_counter_get("roadstore_http_received_bytes_total", NULL,
                                 "Request body bytes received.");
    g->bytes_out = rs_counter_get("roadstore_http_sent_bytes_total", NULL,
                                  "Response body bytes sent.");
    rs_gauge_register("roadstore_open_connections",
                      "Client connections currently open.",
                      open_connections_gauge, g);
    gw__metrics_init(g->store);
    g->daemon = MHD_start_daemon(
        /* poll(), not select(): descriptors past FD_SETSIZE (1024) are
         * normal here (cached container handles, RocksDB files). */
        MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
            MHD_USE_POLL | MHD_USE_ERROR_LOG,
        0, NULL, NULL, access_cb, g,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
        MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, g,
        MHD_OPTION_NOTIFY_COMPLETED, completed_cb, g,
        MHD_OPTION_NOTIFY_CONNECTION, connection_cb, g,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)cfg->max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)cfg->idle_timeout,
        /* The pool holds headers and the read buffer; MHD zeroes it for
         * every request, so it costs per request: keep it small. */
        MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        (size_t)(cfg->max_header_bytes + 32 * 1024),
        MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t)(1024 * 1024),
        MHD_OPTION_END);
    if (!g->daemon) {
        free(g);
        return rs_err_set(RS_EIO, "cannot listen on %s (address in use?)",
                          cfg->listen);
    }
    *out = g;
    return RS_OK;
}

void gw_stop(struct gw *g)
{
    if (!g)
        return;
    MHD_stop_daemon(g->daemon);
    free(g);
}

struct store *gw__store(struct gw *g)
{
    return g->store;
}

const struct rs_config *gw__config(struct gw *g)
{
    return g->cfg;
}
