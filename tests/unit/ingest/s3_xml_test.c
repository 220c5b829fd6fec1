/*
 * tests/unit/ingest/s3_xml_test.c - ingest/s3_xml.c: request bodies of
 * DeleteObjects, CompleteMultipartUpload and PutObjectTagging parsed into
 * the arena tree (namespaces dropped, entities and character references
 * decoded, CDATA merged), malformed documents rejected as MalformedXML,
 * external and internal entities never expanded (XXE), and the writers
 * s3_xml_elem / _u64 / _key / _time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ingest/s3_int.h"

static int setup(void **state)
{
    *state = rs_arena_new();
    return 0;
}

static int teardown(void **state)
{
    rs_arena_free(*state);
    return 0;
}

static struct s3_xnode *parse_ok(struct rs_arena *a, const char *xml)
{
    struct s3_xnode *root = NULL;
    enum s3_errcode e = s3_xml_parse(a, &root, xml, strlen(xml));

    if (e != S3E_NONE)
        fail_msg("parse failed (%d) for:\n%s", (int)e, xml);
    assert_non_null(root);
    return root;
}

static void test_s3_xml_parses_delete_objects(void **state)
{
    struct rs_arena *a = *state;
    const struct s3_xnode *root, *o;

    root = parse_ok(a,
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<Delete xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
        "  <Quiet>true</Quiet>\n"
        "  <Object><Key>photos/a&amp;b.jpg</Key></Object>\n"
        "  <Object>\n"
        "    <Key>c&lt;d&gt;&quot;e&apos;</Key>\n"
        "    <VersionId>null</VersionId>\n"
        "  </Object>\n"
        "  <Object><Key>caf\xc3\xa9 &#x41;&#66;</Key></Object>\n"
        "</Delete>\n");
    assert_string_equal(root->name, "Delete");
    assert_null(root->next);
    assert_string_equal(s3_xml_child_text(root, "Quiet"), "true");
    o = s3_xml_child(root, "Object");
    assert_non_null(o);
    assert_string_equal(s3_xml_child_text(o, "Key"), "photos/a&b.jpg");
    assert_null(s3_xml_child_text(o, "VersionId"));
    o = s3_xml_next(o, "Object");
    assert_non_null(o);
    assert_string_equal(s3_xml_child_text(o, "Key"), "c<d>\"e'");
    assert_string_equal(s3_xml_child_text(o, "VersionId"), "null");
    o = s3_xml_next(o, "Object");
    assert_non_null(o);
    assert_string_equal(s3_xml_child_text(o, "Key"), "caf\xc3\xa9 AB");
    assert_null(s3_xml_next(o, "Object"));
    assert_null(s3_xml_child(root, "Nope"));
}

static void test_s3_xml_parses_complete_multipart_upload(void **state)
{
    struct rs_arena *a = *state;
    const struct s3_xnode *root, *p;
    const char *etags[] = { "\"a54357aff0632cce46d942af68356b38\"",
                            "\"0c78aef83f66abc1fa1e8477f296d394\"",
                            "\"acbd18db4cc2f85cedef654fccc4a4d8\"" };
    int n = 0;

    root = parse_ok(a,
        "<CompleteMultipartUpload "
        "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Part><PartNumber>1</PartNumber>"
        "<ETag>&quot;a54357aff0632cce46d942af68356b38&quot;</ETag></Part>"
        "<Part><PartNumber>2</PartNumber>"
        "<ETag>\"0c78aef83f66abc1fa1e8477f296d394\"</ETag></Part>"
        "<Part><ETag>&#34;acbd18db4cc2f85cedef654fccc4a4d8&#34;</ETag>"
        "<PartNumber>3</PartNumber>"
        "<ChecksumCRC32>AAAAAA==</ChecksumCRC32></Part>"
        "</CompleteMultipartUpload>");
    assert_string_equal(root->name, "CompleteMultipartUpload");
    for (p = s3_xml_child(root, "Part"); p; p = s3_xml_next(p, "Part")) {
        char num[16];

        assert_true(n < 3);
        snprintf(num, sizeof(num), "%d", n + 1);
        assert_string_equal(s3_xml_child_text(p, "PartNumber"), num);
        assert_string_equal(s3_xml_child_text(p, "ETag"), etags[n]);
        n++;
    }
    assert_int_equal(n, 3);
}

static void test_s3_xml_drops_namespace_prefixes(void **state)
{
    struct rs_arena *a = *state;
    const struct s3_xnode *root, *tagset, *tag;

    root = parse_ok(a,
        "<s3:Tagging xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<s3:TagSet>"
        "<s3:Tag><s3:Key>project</s3:Key><s3:Value>road</s3:Value></s3:Tag>"
        "<Tag><Key>empty</Key><Value/></Tag>"
        "</s3:TagSet></s3:Tagging>");
    assert_string_equal(root->name, "Tagging");
    tagset = s3_xml_child(root, "TagSet");
    assert_non_null(tagset);
    tag = s3_xml_child(tagset, "Tag");
    assert_non_null(tag);
    assert_string_equal(s3_xml_child_text(tag, "Key"), "project");
    assert_string_equal(s3_xml_child_text(tag, "Value"), "road");
    tag = s3_xml_next(tag, "Tag");
    assert_non_null(tag);
    assert_string_equal(s3_xml_child_text(tag, "Key"), "empty");
    /* an empty element is present with empty text */
    assert_string_equal(s3_xml_child_text(tag, "Value"), "");
    assert_null(s3_xml_next(tag, "Tag"));
}

static void test_s3_xml_merges_cdata_into_text(void **state)
{
    struct rs_arena *a = *state;
    const struct s3_xnode *root;

    root = parse_ok(a, "<Delete><Object><Key>a<![CDATA[<b>&c]]>d</Key>"
                       "</Object></Delete>");
    assert_string_equal(
        s3_xml_child_text(s3_xml_child(root, "Object"), "Key"), "a<b>&cd");
}

static void test_s3_xml_malformed_documents_are_malformed_xml(void **state)
{
    static const char *const bad[] = {
        "not xml at all",
        "<Delete>",
        "<Delete><Object></Delete>",
        "<Delete></Deleted>",
        "<Delete><Key>a & b</Key></Delete>",
        "<Delete><Key>&undefined;</Key></Delete>",
        "<a/><b/>",
        "<?xml version=\"1.0\"?>",
        "<Delete attr=noquotes/>",
        "   ",
    };
    struct rs_arena *a = *state;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct s3_xnode *root = NULL;

        if (s3_xml_parse(a, &root, bad[i], strlen(bad[i])) !=
            S3E_MALFORMED_XML)
            fail_msg("accepted: %s", bad[i]);
    }
    {
        struct s3_xnode *root = NULL;

        assert_int_equal(s3_xml_parse(a, &root, "", 0), S3E_MALFORMED_XML);
        /* only n bytes count: a truncated document is malformed */
        assert_int_equal(s3_xml_parse(a, &root, "<Delete></Delete>", 10),
                         S3E_MALFORMED_XML);
    }
}

/* True when any text in the tree contains s. */
static bool tree_contains(const struct s3_xnode *n, const char *s)
{
    for (; n; n = n->next) {
        if (n->text && strstr(n->text, s))
            return true;
        if (tree_contains(n->child, s))
            return true;
    }
    return false;
}

static void test_s3_xml_external_entity_is_not_expanded(void **state)
{
    struct rs_arena *a = *state;
    char path[] = "/tmp/rs_xxe_secret_XXXXXX";
    char xml[1024];
    struct s3_xnode *root = NULL;
    enum s3_errcode e;
    int fd;

    fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "XXE-SECRET-CONTENT", 18), 18);
    close(fd);
    snprintf(xml, sizeof(xml),
             "<?xml version=\"1.0\"?>\n"
             "<!DOCTYPE Delete [<!ENTITY xxe SYSTEM \"file://%s\">]>\n"
             "<Delete><Object><Key>k&xxe;</Key></Object></Delete>", path);
    e = s3_xml_parse(a, &root, xml, strlen(xml));
    if (e == S3E_NONE) {
        const char *key =
            s3_xml_child_text(s3_xml_child(root, "Object"), "Key");

        assert_false(tree_contains(root, "XXE-SECRET"));
        assert_non_null(key);
        assert_null(strstr(key, "SECRET"));
    } else {
        assert_int_equal(e, S3E_MALFORMED_XML);
    }

    /* an external DTD is not loaded either */
    snprintf(xml, sizeof(xml),
             "<?xml version=\"1.0\"?>\n"
             "<!DOCTYPE Delete SYSTEM \"file://%s\">\n"
             "<Delete><Quiet>true</Quiet></Delete>", path);
    root = NULL;
    e = s3_xml_parse(a, &root, xml, strlen(xml));
    if (e == S3E_NONE)
        assert_false(tree_contains(root, "XXE-SECRET"));
    else
        assert_int_equal(e, S3E_MALFORMED_XML);
    unlink(path);
}

static void test_s3_xml_internal_entities_are_not_expanded(void **state)
{
    struct rs_arena *a = *state;
    struct s3_xnode *root = NULL;
    enum s3_errcode e;
    /* "billion laughs" shape, kept small: must not be substituted */
    const char *xml =
        "<?xml version=\"1.0\"?>\n"
        "<!DOCTYPE Delete [\n"
        " <!ENTITY lol \"LOLLOLLOL\">\n"
        " <!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">\n"
        "]>\n"
        "<Delete><Object><Key>&lol2;</Key></Object></Delete>";

    e = s3_xml_parse(a, &root, xml, strlen(xml));
    if (e == S3E_NONE)
        assert_false(tree_contains(root, "LOL"));
    else
        assert_int_equal(e, S3E_MALFORMED_XML);
}

static void test_s3_xml_elem_escapes_text(void **state)
{
    struct rs_buf b;

    (void)state;
    rs_buf_init(&b, SIZE_MAX);
    s3_xml_elem(&b, "Key", "a&b<c>\"d'e");
    assert_string_equal(b.data,
                        "<Key>a&amp;b&lt;c&gt;&quot;d&apos;e</Key>");
    rs_buf_reset(&b);
    s3_xml_elem(&b, "Key", "line\nbreak\x01");
    assert_string_equal(b.data, "<Key>line&#10;break&#x1;</Key>");
    rs_buf_reset(&b);
    s3_xml_elem(&b, "VersionId", NULL);
    assert_string_equal(b.data, "<VersionId></VersionId>");
    rs_buf_reset(&b);
    s3_xml_elem_u64(&b, "Size", UINT64_MAX);
    assert_string_equal(b.data, "<Size>18446744073709551615</Size>");
    rs_buf_reset(&b);
    s3_xml_elem_u64(&b, "Size", 0);
    assert_string_equal(b.data, "<Size>0</Size>");
    rs_buf_reset(&b);
    s3_xml_elem_time(&b, "LastModified", 1369353600LL * 1000000000 + 7000000);
    assert_string_equal(b.data,
                        "<LastModified>2013-05-24T00:00:00.007Z</LastModified>");
    rs_buf_dispose(&b);
}

static void test_s3_xml_elem_key_url_encodes_when_asked(void **state)
{
    struct rs_buf b;
    const char *key = "dir/a b+c&d<e>~_-.\xc3\xa9%";

    (void)state;
    rs_buf_init(&b, SIZE_MAX);
    s3_xml_elem_key(&b, "Key", key, true);
    assert_string_equal(b.data,
        "<Key>dir/a%20b%2Bc%26d%3Ce%3E~_-.%C3%A9%25</Key>");
    rs_buf_reset(&b);
    s3_xml_elem_key(&b, "Key", key, false);
    assert_string_equal(b.data,
        "<Key>dir/a b+c&amp;d&lt;e&gt;~_-.\xc3\xa9%</Key>");
    rs_buf_reset(&b);
    /* a control character that XML cannot carry is safe URL-encoded */
    s3_xml_elem_key(&b, "Prefix", "a\x01z", true);
    assert_string_equal(b.data, "<Prefix>a%01z</Prefix>");
    rs_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_s3_xml_parses_delete_objects,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_s3_xml_parses_complete_multipart_upload, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3_xml_drops_namespace_prefixes,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3_xml_merges_cdata_into_text,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_s3_xml_malformed_documents_are_malformed_xml, setup,
            teardown),
        cmocka_unit_test_setup_teardown(
            test_s3_xml_external_entity_is_not_expanded, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_s3_xml_internal_entities_are_not_expanded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_s3_xml_elem_escapes_text, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_s3_xml_elem_key_url_encodes_when_asked, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
