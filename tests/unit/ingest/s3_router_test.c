/*
 * tests/unit/ingest/s3_router_test.c - ingest/s3_router.c: s3_route picks
 * the operation from method x target (service, bucket, object) x
 * sub-resource, sends unimplemented sub-resources to NotImplemented and
 * unknown methods to MethodNotAllowed, and ignores parameters that are not
 * sub-resources (listing options, response-*, the SDKs' x-id).  Requests
 * are built by hand in an arena, as gw_http.c would fill them.
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

/*
 * Build a request: target "/" (service), "/b" (bucket) or "/b/k..."
 * (object); query "a&b=c" split into decoded params (no percent-escapes
 * used here); headers "Name: value" strings, NULL-terminated.
 */
static struct s3_req *mkreq(struct rs_arena *a, const char *method,
                            const char *target, const char *query,
                            const char *const *headers)
{
    struct s3_req *r = rs_arena_alloc(a, sizeof(*r));
    size_t n = 0;

    r->a = a;
    r->method = rs_arena_strdup(a, method);
    if (target[0] == '/' && target[1]) {
        const char *slash = strchr(target + 1, '/');

        if (slash) {
            r->bucket = rs_arena_strndup(a, target + 1,
                                         (size_t)(slash - target - 1));
            r->key = rs_arena_strdup(a, slash + 1);
        } else {
            r->bucket = rs_arena_strdup(a, target + 1);
        }
    }
    if (query && *query) {
        const char *p = query;

        r->params = rs_arena_alloc(a, 32 * sizeof(*r->params));
        while (*p) {
            size_t len = strcspn(p, "&");
            const char *eq = memchr(p, '=', len);

            assert_true(r->nparams < 32);
            if (eq) {
                r->params[r->nparams].name =
                    rs_arena_strndup(a, p, (size_t)(eq - p));
                r->params[r->nparams].value =
                    rs_arena_strndup(a, eq + 1, len - (size_t)(eq - p) - 1);
            } else {
                r->params[r->nparams].name = rs_arena_strndup(a, p, len);
                r->params[r->nparams].value = rs_arena_strdup(a, "");
            }
            r->nparams++;
            p += len;
            if (*p == '&')
                p++;
        }
        r->raw_query = rs_arena_strdup(a, query);
    }
    while (headers && headers[n])
        n++;
    if (n) {
        size_t i;

        r->headers = rs_arena_alloc(a, n * sizeof(*r->headers));
        for (i = 0; i < n; i++) {
            const char *colon = strchr(headers[i], ':');

            assert_non_null(colon);
            r->headers[i].name = rs_arena_strndup(
                a, headers[i], (size_t)(colon - headers[i]));
            r->headers[i].value = rs_arena_strdup(a, colon + 2);
        }
        r->nheaders = n;
    }
    return r;
}

static void expect_route(const char *method, const char *target,
                         const char *query, const char *const *headers,
                         const struct s3_op *want)
{
    struct rs_arena *a = rs_arena_new();
    const struct s3_op *got = s3_route(mkreq(a, method, target, query,
                                             headers));

    if (got != want)
        fail_msg("%s %s?%s: got %s, want %s", method, target,
                 query ? query : "", got ? got->name : "(null)", want->name);
    rs_arena_free(a);
}

#define R(m, t, q, op) expect_route(m, t, q, NULL, &op)

static const char *const copy_src[] = { "x-amz-copy-source: /src/key", NULL };
static const char *const copy_src_mixed_case[] = {
    "Content-Length: 0", "X-Amz-Copy-Source: src/key%20x", NULL };

static void test_s3_router_service_get_lists_buckets(void **state)
{
    (void)state;
    R("GET", "/", NULL, s3_op_list_buckets);
    R("GET", "/", "x-id=ListBuckets", s3_op_list_buckets);
    R("PUT", "/", NULL, s3_op_method_not_allowed);
    R("DELETE", "/", NULL, s3_op_method_not_allowed);
    R("POST", "/", NULL, s3_op_method_not_allowed);
}

static void test_s3_router_bucket_get_sub_resources(void **state)
{
    (void)state;
    R("GET", "/b", NULL, s3_op_list_objects);
    R("GET", "/b", "prefix=a/&delimiter=/&max-keys=10&marker=m",
      s3_op_list_objects);
    R("GET", "/b", "list-type=2", s3_op_list_objects_v2);
    R("GET", "/b", "list-type=2&continuation-token=t&start-after=s",
      s3_op_list_objects_v2);
    R("GET", "/b", "list-type=3", s3_op_not_implemented);
    R("GET", "/b", "acl", s3_op_get_bucket_acl);
    R("GET", "/b", "acl=", s3_op_get_bucket_acl);
    R("GET", "/b", "location", s3_op_get_bucket_location);
    R("GET", "/b", "uploads", s3_op_list_multipart_uploads);
    R("GET", "/b", "uploads&prefix=x&max-uploads=3",
      s3_op_list_multipart_uploads);
    R("GET", "/b", "versioning", s3_op_get_bucket_versioning);
    R("GET", "/b", "versions", s3_op_list_object_versions);
    R("GET", "/b", "tagging", s3_op_not_implemented);
}

static void test_s3_router_bucket_unimplemented_sub_resources(void **state)
{
    static const char *const unsupported[] = {
        "cors", "policy", "website", "encryption",
        "logging", "replication", "object-lock",
        "publicAccessBlock", "ownershipControls", "accelerate",
        "requestPayment", "analytics", "metrics", "inventory",
        "intelligent-tiering", "policyStatus",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++) {
        R("GET", "/b", unsupported[i], s3_op_not_implemented);
        R("PUT", "/b", unsupported[i], s3_op_not_implemented);
        R("DELETE", "/b", unsupported[i], s3_op_not_implemented);
    }
    R("GET", "/b", "prefix=p&cors", s3_op_not_implemented);
    /* lifecycle: GET, PUT and DELETE on buckets (s3_lifecycle.c), not on
     * objects */
    R("GET", "/b", "lifecycle", s3_op_get_bucket_lifecycle);
    R("GET", "/b", "prefix=p&lifecycle", s3_op_get_bucket_lifecycle);
    R("PUT", "/b", "lifecycle", s3_op_put_bucket_lifecycle);
    R("DELETE", "/b", "lifecycle", s3_op_delete_bucket_lifecycle);
    R("POST", "/b", "lifecycle", s3_op_not_implemented);
    R("GET", "/b/k", "lifecycle", s3_op_not_implemented);
    R("PUT", "/b/k", "lifecycle", s3_op_not_implemented);
    /* notification: GET and PUT only (an empty configuration removes) */
    R("GET", "/b", "notification", s3_op_get_bucket_notification);
    R("PUT", "/b", "notification", s3_op_put_bucket_notification);
    R("DELETE", "/b", "notification", s3_op_not_implemented);
    R("GET", "/b/k", "notification", s3_op_not_implemented);
}

static void test_s3_router_bucket_other_methods(void **state)
{
    (void)state;
    R("HEAD", "/b", NULL, s3_op_head_bucket);
    R("PUT", "/b", NULL, s3_op_create_bucket);
    R("PUT", "/b", "acl", s3_op_put_bucket_acl);
    R("PUT", "/b", "versioning", s3_op_not_implemented);
    R("PUT", "/b", "tagging", s3_op_not_implemented);
    R("DELETE", "/b", NULL, s3_op_delete_bucket);
    R("DELETE", "/b", "tagging", s3_op_not_implemented);
    R("POST", "/b", "delete", s3_op_delete_objects);
    R("POST", "/b", "delete=", s3_op_delete_objects);
    R("POST", "/b", NULL, s3_op_not_implemented);
    R("PATCH", "/b", NULL, s3_op_method_not_allowed);
    R("OPTIONS", "/b", NULL, s3_op_method_not_allowed);
}

static void test_s3_router_object_get_head(void **state)
{
    (void)state;
    R("GET", "/b/k", NULL, s3_op_get_object);
    R("GET", "/b/dir/sub/k.txt", NULL, s3_op_get_object);
    R("GET", "/b/k", "acl", s3_op_get_object_acl);
    R("GET", "/b/k", "tagging", s3_op_get_object_tagging);
    R("GET", "/b/k", "uploadId=abc", s3_op_list_parts);
    R("GET", "/b/k", "uploadId=abc&max-parts=2&part-number-marker=1",
      s3_op_list_parts);
    R("HEAD", "/b/k", NULL, s3_op_head_object);
    R("HEAD", "/b/k", "partNumber=1", s3_op_head_object);
}

static void test_s3_router_object_put_variants(void **state)
{
    (void)state;
    R("PUT", "/b/k", NULL, s3_op_put_object);
    expect_route("PUT", "/b/k", NULL, copy_src, &s3_op_copy_object);
    expect_route("PUT", "/b/k", NULL, copy_src_mixed_case,
                 &s3_op_copy_object);
    R("PUT", "/b/k", "partNumber=1&uploadId=u", s3_op_upload_part);
    R("PUT", "/b/k", "uploadId=u&partNumber=10000", s3_op_upload_part);
    expect_route("PUT", "/b/k", "partNumber=2&uploadId=u", copy_src,
                 &s3_op_upload_part_copy);
    /* partNumber without uploadId still goes to UploadPart, which
     * answers InvalidArgument */
    R("PUT", "/b/k", "partNumber=1", s3_op_upload_part);
    R("PUT", "/b/k", "acl", s3_op_put_object_acl);
    R("PUT", "/b/k", "tagging", s3_op_put_object_tagging);
}

static void test_s3_router_object_delete_post(void **state)
{
    (void)state;
    R("DELETE", "/b/k", NULL, s3_op_delete_object);
    R("DELETE", "/b/k", "uploadId=u", s3_op_abort_multipart);
    R("DELETE", "/b/k", "tagging", s3_op_delete_object_tagging);
    R("POST", "/b/k", "uploads", s3_op_create_multipart);
    R("POST", "/b/k", "uploads=", s3_op_create_multipart);
    R("POST", "/b/k", "uploadId=u", s3_op_complete_multipart);
    R("POST", "/b/k", NULL, s3_op_not_implemented);
    R("POST", "/b/k", "restore", s3_op_not_implemented);
    R("POST", "/b/k", "select&select-type=2", s3_op_not_implemented);
    R("PATCH", "/b/k", NULL, s3_op_method_not_allowed);
    R("OPTIONS", "/b/k", NULL, s3_op_method_not_allowed);
}

static void test_s3_router_object_unimplemented_sub_resources(void **state)
{
    static const char *const write_offset[] = {
        "x-amz-write-offset-bytes: 100", NULL };

    (void)state;
    R("GET", "/b/k", "retention", s3_op_not_implemented);
    R("GET", "/b/k", "legal-hold", s3_op_not_implemented);
    R("GET", "/b/k", "attributes", s3_op_not_implemented);
    R("GET", "/b/k", "torrent", s3_op_not_implemented);
    R("PUT", "/b/k", "retention", s3_op_not_implemented);
    R("PUT", "/b/k", "renameObject", s3_op_not_implemented);
    R("DELETE", "/b/k", "legal-hold", s3_op_not_implemented);
    /* Appends name an object, never a copy, a part or a bucket. */
    expect_route("PUT", "/b/k", "partNumber=1&uploadId=u", write_offset,
                 &s3_op_not_implemented);
    expect_route("PUT", "/b/k", NULL, (const char *const[]){
                     "x-amz-write-offset-bytes: 0",
                     "x-amz-copy-source: /s/k", NULL },
                 &s3_op_not_implemented);
    expect_route("PUT", "/b", NULL, write_offset, &s3_op_not_implemented);
    R("PUT", "/b", "append&position=0", s3_op_not_implemented);
}

static void test_s3_router_object_append_forms(void **state)
{
    static const char *const write_offset[] = {
        "x-amz-write-offset-bytes: 100", NULL };

    (void)state;
    expect_route("PUT", "/b/k", NULL, write_offset, &s3_op_append_object);
    R("PUT", "/b/k", "append&position=10", s3_op_append_object);
    R("POST", "/b/k", "append&position=0", s3_op_append_object);
    /* Validation of the position is the op's (400 InvalidArgument). */
    R("PUT", "/b/k", "append", s3_op_append_object);
}

static void test_s3_router_ignores_non_sub_resource_params(void **state)
{
    (void)state;
    R("GET", "/b/k", "x-id=GetObject", s3_op_get_object);
    R("GET", "/b/k", "response-content-type=text/plain"
      "&response-cache-control=no-cache&versionId=null", s3_op_get_object);
    R("GET", "/b/k", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Expires=60"
      "&X-Amz-Signature=00", s3_op_get_object);
    R("PUT", "/b/k", "x-id=PutObject", s3_op_put_object);
    R("DELETE", "/b/k", "x-id=DeleteObject", s3_op_delete_object);
    R("POST", "/b", "delete&x-id=DeleteObjects", s3_op_delete_objects);
    R("PUT", "/b/k", "x-id=UploadPart&partNumber=1&uploadId=u",
      s3_op_upload_part);
    R("GET", "/b", "x-id=ListObjects&encoding-type=url", s3_op_list_objects);
    R("GET", "/b", "unknownparam=1", s3_op_list_objects);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_router_service_get_lists_buckets),
        cmocka_unit_test(test_s3_router_bucket_get_sub_resources),
        cmocka_unit_test(test_s3_router_bucket_unimplemented_sub_resources),
        cmocka_unit_test(test_s3_router_bucket_other_methods),
        cmocka_unit_test(test_s3_router_object_get_head),
        cmocka_unit_test(test_s3_router_object_put_variants),
        cmocka_unit_test(test_s3_router_object_delete_post),
        cmocka_unit_test(test_s3_router_object_unimplemented_sub_resources),
        cmocka_unit_test(test_s3_router_object_append_forms),
        cmocka_unit_test(test_s3_router_ignores_non_sub_resource_params),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
