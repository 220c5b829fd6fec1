/*
 * tests/unit/ingest/s3_object_test.c - the exported helpers of
 * ingest/s3_object.c: s3_parse_range (Range header semantics of RFC 7233
 * as S3 applies them: satisfiable ranges clamped to the object,
 * unsatisfiable ones InvalidRange, malformed or multiple ranges ignored)
 * and s3_etag_matches (If-Match / If-None-Match lists).
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

static void expect_range(const char *hdr, uint64_t size, uint64_t first,
                         uint64_t last)
{
    bool has = false;
    uint64_t f = 7777, l = 7777;
    enum s3_errcode e = s3_parse_range(hdr, size, &has, &f, &l);

    if (e != S3E_NONE || !has || f != first || l != last)
        fail_msg("'%s' size %llu: e=%d has=%d %llu-%llu, want %llu-%llu",
                 hdr, (unsigned long long)size, (int)e, (int)has,
                 (unsigned long long)f, (unsigned long long)l,
                 (unsigned long long)first, (unsigned long long)last);
}

static void expect_ignored(const char *hdr, uint64_t size)
{
    bool has = true;
    uint64_t f = 0, l = 0;
    enum s3_errcode e = s3_parse_range(hdr, size, &has, &f, &l);

    if (e != S3E_NONE || has)
        fail_msg("'%s' size %llu: e=%d has=%d, want ignored",
                 hdr ? hdr : "(null)", (unsigned long long)size, (int)e,
                 (int)has);
}

static void expect_invalid(const char *hdr, uint64_t size)
{
    bool has = true;
    uint64_t f = 0, l = 0;
    enum s3_errcode e = s3_parse_range(hdr, size, &has, &f, &l);

    if (e != S3E_INVALID_RANGE || has)
        fail_msg("'%s' size %llu: e=%d has=%d, want InvalidRange", hdr,
                 (unsigned long long)size, (int)e, (int)has);
}

static void test_s3_object_range_first_last(void **state)
{
    (void)state;
    expect_range("bytes=0-9", 100, 0, 9);
    expect_range("bytes=0-0", 100, 0, 0);
    expect_range("bytes=10-19", 100, 10, 19);
    expect_range("bytes=99-99", 100, 99, 99);
    expect_range("  bytes=1-2", 100, 1, 2);
}

static void test_s3_object_range_last_past_end_is_clamped(void **state)
{
    (void)state;
    expect_range("bytes=90-200", 100, 90, 99);
    expect_range("bytes=0-18446744073709551615", 100, 0, 99);
    expect_range("bytes=0-99", 100, 0, 99);
}

static void test_s3_object_range_open_ended(void **state)
{
    (void)state;
    expect_range("bytes=10-", 100, 10, 99);
    expect_range("bytes=0-", 1, 0, 0);
    expect_range("bytes=99-", 100, 99, 99);
}

static void test_s3_object_range_suffix(void **state)
{
    (void)state;
    expect_range("bytes=-10", 100, 90, 99);
    expect_range("bytes=-1", 100, 99, 99);
    expect_range("bytes=-100", 100, 0, 99);
    /* a suffix longer than the object is the whole object */
    expect_range("bytes=-500", 100, 0, 99);
    expect_range("bytes=-18446744073709551615", 100, 0, 99);
}

static void test_s3_object_range_unsatisfiable_is_invalid_range(void **state)
{
    (void)state;
    expect_invalid("bytes=100-", 100);
    expect_invalid("bytes=100-200", 100);
    expect_invalid("bytes=1000-1001", 100);
    expect_invalid("bytes=-0", 100);
    /* an empty object has no satisfiable byte range */
    expect_invalid("bytes=0-", 0);
    expect_invalid("bytes=0-0", 0);
    expect_invalid("bytes=-5", 0);
}

static void test_s3_object_range_malformed_is_ignored(void **state)
{
    (void)state;
    expect_ignored(NULL, 100);
    expect_ignored("", 100);
    expect_ignored("bytes=", 100);
    expect_ignored("bytes=-", 100);
    expect_ignored("bytes=abc", 100);
    expect_ignored("bytes=a-b", 100);
    expect_ignored("bytes=5", 100);
    expect_ignored("bytes=5-2", 100);     /* last < first */
    expect_ignored("bytes=1-2-3", 100);
    expect_ignored("bytes=-x", 100);
    expect_ignored("bytes=+1-2", 100);
    expect_ignored("items=0-9", 100);     /* unknown unit */
    expect_ignored("Bytes 0-9", 100);
    expect_ignored("bytes=99999999999999999999-", 100);
}

static void test_s3_object_range_multiple_ranges_are_ignored(void **state)
{
    (void)state;
    expect_ignored("bytes=0-9,20-29", 100);
    expect_ignored("bytes=0-9, 20-29", 100);
    expect_ignored("bytes=-5,0-1", 100);
    /* even when every part is unsatisfiable: whole object, not 416 */
    expect_ignored("bytes=200-300,400-500", 100);
}

static void test_s3_object_etag_matches_quoted_and_bare(void **state)
{
    const char *etag = "d41d8cd98f00b204e9800998ecf8427e";

    (void)state;
    assert_true(s3_etag_matches("\"d41d8cd98f00b204e9800998ecf8427e\"", etag));
    assert_true(s3_etag_matches("d41d8cd98f00b204e9800998ecf8427e", etag));
    assert_true(s3_etag_matches("  \"d41d8cd98f00b204e9800998ecf8427e\"  ",
                                etag));
    assert_false(s3_etag_matches("\"d41d8cd98f00b204e9800998ecf8427f\"",
                                 etag));
    /* prefixes and extensions of the ETag do not match */
    assert_false(s3_etag_matches("\"d41d8cd98f00b204e9800998ecf8427\"", etag));
    assert_false(s3_etag_matches("\"d41d8cd98f00b204e9800998ecf8427e0\"",
                                 etag));
    assert_false(s3_etag_matches("d41d8cd98f00b204e9800998ecf8427", etag));
    assert_false(s3_etag_matches("\"\"", etag));
    assert_false(s3_etag_matches("", etag));
    /* unterminated quote */
    assert_false(s3_etag_matches("\"d41d8cd98f00b204e9800998ecf8427e", etag));
    /* multipart ETags */
    assert_true(s3_etag_matches("\"abc123-3\"", "abc123-3"));
    assert_false(s3_etag_matches("\"abc123\"", "abc123-3"));
}

static void test_s3_object_etag_matches_weak_star_and_lists(void **state)
{
    const char *etag = "abc";

    (void)state;
    assert_true(s3_etag_matches("W/\"abc\"", etag));
    assert_true(s3_etag_matches("*", etag));
    assert_true(s3_etag_matches(" *", etag));
    assert_true(s3_etag_matches("\"x\", \"abc\"", etag));
    assert_true(s3_etag_matches("\"x\",\"y\",\"abc\"", etag));
    assert_true(s3_etag_matches("\"abc\",\"y\"", etag));
    assert_true(s3_etag_matches("x, abc", etag));
    assert_true(s3_etag_matches("W/\"x\", W/\"abc\"", etag));
    assert_true(s3_etag_matches("\"x\", *", etag));
    assert_false(s3_etag_matches("\"x\", \"y\"", etag));
    assert_false(s3_etag_matches("\"ab\", \"abcd\", bc", etag));
    assert_false(s3_etag_matches(", ,", etag));
    /* a comma inside quotes is part of the tag */
    assert_false(s3_etag_matches("\"x,abc\"", etag));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_s3_object_range_first_last),
        cmocka_unit_test(test_s3_object_range_last_past_end_is_clamped),
        cmocka_unit_test(test_s3_object_range_open_ended),
        cmocka_unit_test(test_s3_object_range_suffix),
        cmocka_unit_test(test_s3_object_range_unsatisfiable_is_invalid_range),
        cmocka_unit_test(test_s3_object_range_malformed_is_ignored),
        cmocka_unit_test(test_s3_object_range_multiple_ranges_are_ignored),
        cmocka_unit_test(test_s3_object_etag_matches_quoted_and_bare),
        cmocka_unit_test(test_s3_object_etag_matches_weak_star_and_lists),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
