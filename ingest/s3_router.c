/*
 * ingest/s3_router.c - picks the S3 operation for a request from its
 * method, its target (service, bucket or object) and its sub-resource.
 *
 * Sub-resources roadstore does not implement answer 501 NotImplemented,
 * never a wrong success.  Parameters that are not sub-resources (listing
 * options, response-* overrides, presign X-Amz-*, the SDKs' x-id) are left
 * to the op.
 */
#include "ingest/s3_int.h"

#include <string.h>

/* Sub-resources of S3 that roadstore does not implement (yet); lifecycle
 * is implemented on buckets only (s3_lifecycle.c). */
static const char *const unsupported[] = {
    "accelerate", "analytics", "attributes", "cors", "encryption",
    "intelligent-tiering", "inventory", "legal-hold", "lifecycle",
    "logging", "metrics", "object-lock",
    "ownershipControls", "policy", "policyStatus", "publicAccessBlock",
    "replication", "requestPayment", "restore", "retention", "select",
    "torrent", "website", "renameObject", "session",
};

/* An append (s3_append.c): ?append, or the AWS header. */
static bool is_append(const struct s3_req *r)
{
    return s3_req_has_param(r, "append") ||
           s3_req_header(r, "x-amz-write-offset-bytes") != NULL;
}

static bool has_unsupported(const struct s3_req *r)
{
    size_t i;

    for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (s3_req_has_param(r, unsupported[i]))
            return true;
    return false;
}

static const struct s3_op *route_service(const struct s3_req *r)
{
    if (!strcmp(r->method, "GET"))
        return &s3_op_list_buckets;
    return &s3_op_method_not_allowed;
}

static const struct s3_op *route_bucket(const struct s3_req *r)
{
    const char *m = r->method;

    if (is_append(r))
        return &s3_op_not_implemented;   /* appends name an object */

    if (!strcmp(m, "GET")) {
        if (s3_req_has_param(r, "acl"))
            return &s3_op_get_bucket_acl;
        if (s3_req_has_param(r, "location"))
            return &s3_op_get_bucket_location;
        if (s3_req_has_param(r, "uploads"))
            return &s3_op_list_multipart_uploads;
        if (s3_req_has_param(r, "versioning"))
            return &s3_op_get_bucket_versioning;
        if (s3_req_has_param(r, "versions"))
            return &s3_op_list_object_versions;
        if (s3_req_has_param(r, "notification"))
            return &s3_op_get_bucket_notification;
        if (s3_req_has_param(r, "lifecycle"))
            return &s3_op_get_bucket_lifecycle;
        if (s3_req_has_param(r, "tagging"))
            return &s3_op_not_implemented;
        if (has_unsupported(r))
            return &s3_op_not_implemented;
        if (s3_req_has_param(r, "list-type")) {
            const char *lt = s3_req_param(r, "list-type");

            return strcmp(lt, "2") ? &s3_op_not_implemented
                                   : &s3_op_list_objects_v2;
        }
        return &s3_op_list_objects;
    }
    if (!strcmp(m, "HEAD"))
        return &s3_op_head_bucket;
    if (!strcmp(m, "PUT")) {
        if (s3_req_has_param(r, "acl"))
            return &s3_op_put_bucket_acl;
        if (s3_req_has_param(r, "notification"))
            return &s3_op_put_bucket_notification;
        if (s3_req_has_param(r, "lifecycle"))
            return &s3_op_put_bucket_lifecycle;
        if (s3_req_has_param(r, "versioning") ||
            s3_req_has_param(r, "tagging") || has_unsupported(r))
            return &s3_op_not_implemented;
        return &s3_op_create_bucket;
    }
    if (!strcmp(m, "DELETE")) {
        if (s3_req_has_param(r, "lifecycle"))
            return &s3_op_delete_bucket_lifecycle;
        if (s3_req_has_param(r, "tagging") ||
            s3_req_has_param(r, "notification") || has_unsupported(r))
            return &s3_op_not_implemented;
        return &s3_op_delete_bucket;
    }
    if (!strcmp(m, "POST")) {
        if (s3_req_has_param(r, "delete"))
            return &s3_op_delete_objects;
        return &s3_op_not_implemented;
    }
    return &s3_op_method_not_allowed;
}

static const struct s3_op *route_object(const struct s3_req *r)
{
    const char *m = r->method;
    bool upload = s3_req_has_param(r, "uploadId");

    if (has_unsupported(r) || s3_req_has_param(r, "notification"))
        return &s3_op_not_implemented;
    if (!strcmp(m, "GET")) {
        if (s3_req_has_param(r, "acl"))
            return &s3_op_get_object_acl;
        if (s3_req_has_param(r, "tagging"))
            return &s3_op_get_object_tagging;
        if (upload)
            return &s3_op_list_parts;
        return &s3_op_get_object;
    }
    if (!strcmp(m, "HEAD"))
        return &s3_op_head_object;
    if (!strcmp(m, "PUT")) {
        if (s3_req_has_param(r, "acl"))
            return &s3_op_put_object_acl;
        if (s3_req_has_param(r, "tagging"))
            return &s3_op_put_object_tagging;
        if (is_append(r)) {
            /* Not together with a copy or a part: the AWS header on those
             * is not implemented, as before. */
            if (upload || s3_req_has_param(r, "partNumber") ||
                s3_req_header(r, "x-amz-copy-source"))
                return &s3_op_not_implemented;
            return &s3_op_append_object;
        }
        if (upload || s3_req_has_param(r, "partNumber")) {
            if (s3_req_header(r, "x-amz-copy-source"))
                return &s3_op_upload_part_copy;
            return &s3_op_upload_part;
        }
        if (s3_req_header(r, "x-amz-copy-source"))
            return &s3_op_copy_object;
        return &s3_op_put_object;
    }
    if (!strcmp(m, "DELETE")) {
        if (s3_req_has_param(r, "tagging"))
            return &s3_op_delete_object_tagging;
        if (upload)
            return &s3_op_abort_multipart;
        return &s3_op_delete_object;
    }
    if (!strcmp(m, "POST")) {
        if (s3_req_has_param(r, "uploads"))
            return &s3_op_create_multipart;
        if (upload)
            return &s3_op_complete_multipart;
        if (s3_req_has_param(r, "append"))
            return &s3_op_append_object;
        return &s3_op_not_implemented;
    }
    return &s3_op_method_not_allowed;
}

const struct s3_op *s3_route(const struct s3_req *r)
{
    if (!r->bucket)
        return route_service(r);
    if (!r->key)
        return route_bucket(r);
    return route_object(r);
}

/* ------------------------------------------------------------------ */
/* The fallback ops                                                     */
/* ------------------------------------------------------------------ */

static enum s3_errcode not_implemented(struct s3_req *r)
{
    return s3_fail(r, S3E_NOT_IMPLEMENTED, NULL);
}

static enum s3_errcode method_not_allowed(struct s3_req *r)
{
    return s3_fail(r, S3E_METHOD_NOT_ALLOWED, NULL);
}

/* Both answer before the bucket is loaded or any body is read. */
const struct s3_op s3_op_not_implemented = {
    "NotImplemented", S3_OP_NO_BUCKET, not_implemented, NULL, NULL,
};
const struct s3_op s3_op_method_not_allowed = {
    "MethodNotAllowed", S3_OP_NO_BUCKET, method_not_allowed, NULL, NULL,
};
