/*
 * tests/fuzz/fuzz_xml.c - libFuzzer target for the XML request bodies:
 * s3_xml_parse on arbitrary bytes, then a walk of the tree the way the
 * DeleteObjects, CompleteMultipartUpload, Tagging, ACL and
 * CreateBucketConfiguration handlers read it.
 */
#include "ingest/s3_int.h"

#include <stddef.h>
#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t walk(const struct s3_xnode *n, int depth)
{
    size_t count = 0;

    for (; n && depth < 64; n = n->next) {
        count += strlen(n->name) + (n->text ? strlen(n->text) : 0);
        count += walk(n->child, depth + 1);
    }
    return count;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct rs_arena *a = rs_arena_new();
    struct s3_xnode *root = NULL;
    const struct s3_xnode *o;
    struct rs_buf out;

    if (s3_xml_parse(a, &root, (const char *)data, size) == S3E_NONE) {
        (void)walk(root, 0);
        for (o = s3_xml_child(root, "Object"); o; o = s3_xml_next(o, "Object"))
            (void)s3_xml_child_text(o, "Key");
        for (o = s3_xml_child(root, "Part"); o; o = s3_xml_next(o, "Part"))
            (void)s3_xml_child_text(o, "ETag");
        (void)s3_xml_child_text(s3_xml_child(root, "TagSet"), "Tag");
        (void)s3_xml_child_text(root, "LocationConstraint");
        rs_buf_init(&out, 1 << 20);
        if (root->text)
            s3_xml_elem(&out, "Echo", root->text);
        rs_buf_dispose(&out);
    }
    rs_arena_free(a);
    return 0;
}
