/*
 * ingest/s3_append.c - AppendObject: the web layer of seed 003's append
 * (the store's half, with the journal, is store/append.c).
 *
 * Two request forms, one operation:
 *   PUT|POST /bucket/key?append&position=N     (Ceph RGW, Aliyun OSS)
 *   PUT /bucket/key  with  x-amz-write-offset-bytes: N      (AWS S3)
 * N must be the object's current length; 0 on a missing key creates it.
 *
 * Validation before anything is touched (seed step 2): N missing, empty,
 * not all digits or above 2^63-1 is 400 InvalidArgument.  A wrong N is
 * answered in the dialect of the form: 409 PositionNotEqualToLength for
 * ?append (RGW), 400 InvalidWriteOffset for the header (AWS); both carry
 * the current length in x-amz-next-append-position (and in the error
 * body, as <NextAppendPosition>).  The AWS form refuses an empty body (400
 * InvalidRequest), as AWS does.  Permission: WRITE on the bucket, here,
 * and WRITE on the object's ACL, checked by the store after it logged the
 * append (seed step 3).  Too many appends: 400 TooManyParts; past the
 * object size limit: 400 EntityTooLarge.
 *
 * The answer: 200 with ETag, x-amz-next-append-position and
 * x-rgw-next-append-position (the new length) and
 * x-amz-checksum-crc64nvme of the whole object.  The body was checked on
 * the way in like a PutObject's (Content-MD5, x-amz-checksum-*,
 * SigV4 payload hash) before commit; a failed check appends nothing.
 */
#include "ingest/s3_int.h"

#include <stdio.h>
#include <string.h>

struct append_state {
    uint64_t position;
    bool aws;                  /* the x-amz-write-offset-bytes form */
    struct store_obj create;   /* metadata if the append creates it */
};

/* N as S3 sends it: 1..20 digits (leading zeros allowed), at most
 * 2^63-1. */
static bool parse_position(uint64_t *out, const char *s)
{
    uint64_t v = 0;
    size_t n;

    if (!s || !(n = strlen(s)) || n > 20)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        if (v > ((uint64_t)INT64_MAX - (uint64_t)(s[i] - '0')) / 10)
            return false;
        v = v * 10 + (uint64_t)(s[i] - '0');
    }
    if (v > (uint64_t)INT64_MAX)
        return false;
    *out = v;
    return true;
}

static bool object_allows(void *arg, const struct store_acl *acl)
{
    return s3_acl_allows(arg, acl, STORE_PERM_WRITE);
}

static void next_position(struct s3_req *r, uint64_t len)
{
    s3_rsp_headerf(r, "x-amz-next-append-position", "%llu",
                   (unsigned long long)len);
    s3_rsp_headerf(r, "x-rgw-next-append-position", "%llu",
                   (unsigned long long)len);
}

static enum s3_errcode append_authorize(struct s3_req *r)
{
    if (!s3_acl_allows(r, &r->bkt.acl, STORE_PERM_WRITE))
        return S3E_ACCESS_DENIED;
    return S3E_NONE;
}

static enum s3_errcode append_begin(struct s3_req *r)
{
    struct append_state *st = rs_arena_alloc(r->a, sizeof(*st));
    const char *hdr = s3_req_header(r, "x-amz-write-offset-bytes");
    const char *dl = s3_req_header(r, "x-amz-decoded-content-length");
    struct store_append_req req = {0};
    uint64_t len = r->content_length, cur = 0;
    bool too_many = false;
    enum s3_errcode e;
    int rc;

    r->op_state = st;
    st->aws = hdr && !s3_req_has_param(r, "append");
    if (!parse_position(&st->position,
                        st->aws ? hdr : s3_req_param(r, "position")))
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       st->aws ? "x-amz-write-offset-bytes must be a "
                                 "non-negative integer"
                               : "position must be a non-negative integer");
    if (dl && rs_parse_u64(&len, dl, strlen(dl)))
        return S3E_INVALID_ARGUMENT;
    if (st->aws && (r->has_content_length || dl) && len == 0)
        return s3_fail(r, S3E_INVALID_REQUEST, "Request body cannot be "
                       "empty when 'write offset' is specified.");
    if ((r->has_content_length || dl) && len > r->cfg->max_part_size)
        return S3E_ENTITY_TOO_LARGE;
    if ((e = s3_obj_info_from_request(r, &st->create)))
        return e;
    req.bucket = r->bucket;
    req.key = r->key;
    req.position = st->position;
    req.allowed = object_allows;
    req.allowed_arg = r;
    req.create = &st->create;
    rc = store_append_open(r->store, &r->appender, &req, &cur, &too_many);
    if (rc == RS_OK)
        return S3E_NONE;
    if (rc == RS_ECONFLICT) {
        next_position(r, cur);
        r->err_extra = rs_arena_sprintf(
            r->a, "<NextAppendPosition>%llu</NextAppendPosition>",
            (unsigned long long)cur);
        return st->aws ? S3E_INVALID_WRITE_OFFSET
                       : S3E_POSITION_NOT_EQUAL_TO_LENGTH;
    }
    if (rc == RS_ETOOBIG && too_many)
        return S3E_TOO_MANY_PARTS;
    return s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET);
}

static enum s3_errcode append_execute(struct s3_req *r)
{
    struct append_state *st = r->op_state;
    struct store_appender *ap = r->appender;
    struct store_obj info;
    uint64_t cur = 0;
    char b64[16];
    int rc;

    r->appender = NULL; /* commit frees it whatever happens */
    rc = store_append_commit(ap, r->a, &info, &cur);
    if (rc == RS_ECONFLICT) {
        next_position(r, cur);
        return st->aws ? S3E_INVALID_WRITE_OFFSET
                       : S3E_POSITION_NOT_EQUAL_TO_LENGTH;
    }
    if (rc)
        return s3_error_from_rs(rc, S3E_INTERNAL_ERROR);
    s3_rsp_headerf(r, "ETag", "\"%s\"", info.etag);
    next_position(r, info.size);
    rs_crc64nvme_b64(b64, info.crc64);
    s3_rsp_header(r, "x-amz-checksum-crc64nvme", b64);
    s3_rsp_header(r, "x-amz-checksum-type", "FULL_OBJECT");
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_append_object = {
    "AppendObject", S3_OP_WRITE | S3_OP_BODY_STREAM | S3_OP_NO_MD5,
    append_authorize,
    append_begin, append_execute,
};
