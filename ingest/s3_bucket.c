/*
 * ingest/s3_bucket.c - bucket operations: ListBuckets, CreateBucket,
 * DeleteBucket, HeadBucket, GetBucketLocation, GetBucketVersioning.
 */
#include "ingest/s3_int.h"
#include "ingest/gw_int.h"

#include <string.h>

#define S3_XMLNS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""

static enum s3_errcode need_auth(struct s3_req *r)
{
    return r->authenticated ? S3E_NONE : S3E_ACCESS_DENIED;
}

static enum s3_errcode need_owner(struct s3_req *r)
{
    if (!r->authenticated || strcmp(r->bkt.acl.owner, r->user.name))
        return S3E_ACCESS_DENIED;
    return S3E_NONE;
}

static enum s3_errcode need_read(struct s3_req *r)
{
    return s3_acl_allows(r, &r->bkt.acl, STORE_PERM_READ) ? S3E_NONE
                                                          : S3E_ACCESS_DENIED;
}

/* ListBuckets ------------------------------------------------------ */

static int list_buckets_cb(void *arg, const struct store_bucket *b)
{
    struct s3_req *r = arg;

    (void)rs_buf_puts(&r->rsp_body, "<Bucket>");
    s3_xml_elem(&r->rsp_body, "Name", b->name);
    s3_xml_elem_time(&r->rsp_body, "CreationDate", b->created_ns);
    (void)rs_buf_puts(&r->rsp_body, "</Bucket>");
    return 0;
}

static enum s3_errcode list_buckets_execute(struct s3_req *r)
{
    int rc;

    s3_rsp_xml_begin(r);
    (void)rs_buf_puts(&r->rsp_body, "<ListAllMyBucketsResult " S3_XMLNS ">");
    s3_xml_owner(r, &r->rsp_body, "Owner", r->user.name);
    (void)rs_buf_puts(&r->rsp_body, "<Buckets>");
    rc = store_bucket_list(r->store, r->a, r->user.name, list_buckets_cb, r);
    if (rc)
        return s3_error_from_rs(rc, S3E_INTERNAL_ERROR);
    (void)rs_buf_puts(&r->rsp_body, "</Buckets></ListAllMyBucketsResult>");
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_list_buckets = {
    "ListBuckets", S3_OP_NO_BUCKET, need_auth, NULL, list_buckets_execute,
};

/* CreateBucket ------------------------------------------------------ */

static enum s3_errcode create_authorize(struct s3_req *r)
{
    if (!gw__bucket_name_valid(r->bucket))
        return S3E_INVALID_BUCKET_NAME;
    return need_auth(r);
}

static enum s3_errcode create_execute(struct s3_req *r)
{
    struct store_bucket b, old;
    enum s3_errcode e;
    int rc;

    if (r->body.len) {
        const struct s3_xnode *root;
        const char *loc;

        if (s3_xml_parse(r->a, (struct s3_xnode **)&root, r->body.data,
                         r->body.len) ||
            strcmp(root->name, "CreateBucketConfiguration"))
            return S3E_MALFORMED_XML;
        loc = s3_xml_child_text(root, "LocationConstraint");
        if (loc && *loc && strcmp(loc, r->cfg->region))
            return s3_fail(r, S3E_INVALID_LOCATION_CONSTRAINT,
                           "The specified location-constraint is not "
                           "valid");
    }
    memset(&b, 0, sizeof(b));
    b.name = r->bucket;
    b.created_ns = rs_now_ns();
    b.region = r->cfg->region;
    e = s3_acl_from_headers(r, &b.acl, r->user.name, r->user.name);
    if (e)
        return e;
    rc = store_bucket_create(r->store, &b);
    if (rc == RS_EEXIST) {
        if (store_bucket_get(r->store, r->a, &old, r->bucket) != RS_OK ||
            strcmp(old.acl.owner, r->user.name))
            return S3E_BUCKET_ALREADY_EXISTS;
        /* S3's legacy rule for its first region: re-creating a bucket you
         * own answers 200 and resets its ACL; every other region answers
         * BucketAlreadyOwnedByYou. */
        if (strcmp(r->cfg->region, "us-east-1"))
            return S3E_BUCKET_ALREADY_OWNED_BY_YOU;
        rc = store_bucket_set_acl(r->store, r->bucket, &b.acl);
        if (rc)
            return s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET);
    } else if (rc) {
        return s3_error_from_rs(rc, S3E_INTERNAL_ERROR);
    }
    s3_rsp_headerf(r, "Location", "/%s", r->bucket);
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_create_bucket = {
    "CreateBucket", S3_OP_WRITE | S3_OP_NO_BUCKET | S3_OP_BODY_BUFFER,
    create_authorize, NULL, create_execute,
};

/* DeleteBucket ------------------------------------------------------ */

static enum s3_errcode delete_bucket_execute(struct s3_req *r)
{
    int rc = store_bucket_delete(r->store, r->bucket);

    if (rc == RS_ECONFLICT)
        return S3E_BUCKET_NOT_EMPTY;
    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET);
    r->status = 204;
    return S3E_NONE;
}

const struct s3_op s3_op_delete_bucket = {
    "DeleteBucket", S3_OP_WRITE, need_owner, NULL, delete_bucket_execute,
};

/* HeadBucket, GetBucketLocation, GetBucketVersioning ---------------- */

static enum s3_errcode head_bucket_execute(struct s3_req *r)
{
    s3_rsp_header(r, "x-amz-bucket-region", r->bkt.region ? r->bkt.region
                                                          : r->cfg->region);
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_head_bucket = {
    "HeadBucket", 0, need_read, NULL, head_bucket_execute,
};

static enum s3_errcode location_execute(struct s3_req *r)
{
    const char *region = r->bkt.region ? r->bkt.region : r->cfg->region;

    s3_rsp_xml_begin(r);
    if (!strcmp(region, "us-east-1")) {
        /* S3 reports the classic region as an empty constraint. */
        (void)rs_buf_puts(&r->rsp_body, "<LocationConstraint " S3_XMLNS
                                        "/>");
    } else {
        (void)rs_buf_puts(&r->rsp_body, "<LocationConstraint " S3_XMLNS ">");
        (void)rs_buf_xml_escape(&r->rsp_body, region);
        (void)rs_buf_puts(&r->rsp_body, "</LocationConstraint>");
    }
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_get_bucket_location = {
    "GetBucketLocation", 0, need_owner, NULL, location_execute,
};

static enum s3_errcode versioning_execute(struct s3_req *r)
{
    /* Versioning has never been enabled on a roadstore bucket: S3 answers
     * an empty configuration for such buckets. */
    s3_rsp_xml_begin(r);
    (void)rs_buf_puts(&r->rsp_body, "<VersioningConfiguration " S3_XMLNS
                                    "/>");
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_get_bucket_versioning = {
    "GetBucketVersioning", 0, need_owner, NULL, versioning_execute,
};
