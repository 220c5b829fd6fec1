/*
 * tests/unit/core/str_test.c - core/str.c: prefix test, strict decimal
 * parsing (digits only, overflow at UINT64_MAX) and sizes with k/M/G/T
 * suffixes (powers of 1024).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rs.h"

static void test_str_startswith(void **state)
{
    (void)state;
    assert_true(rs_str_startswith("x-amz-meta-a", "x-amz-"));
    assert_true(rs_str_startswith("abc", ""));
    assert_true(rs_str_startswith("abc", "abc"));
    assert_false(rs_str_startswith("ab", "abc"));
    assert_false(rs_str_startswith("X-amz-", "x-amz-"));
}

static int u64(uint64_t *out, const char *s)
{
    return rs_parse_u64(out, s, strlen(s));
}

static void test_str_parse_u64_accepts_digits_up_to_max(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(u64(&v, "0"), RS_OK);
    assert_int_equal(v, 0);
    assert_int_equal(u64(&v, "000123"), RS_OK);
    assert_int_equal(v, 123);
    assert_int_equal(u64(&v, "18446744073709551615"), RS_OK);
    assert_true(v == UINT64_MAX);
    assert_int_equal(u64(&v, "18446744073709551610"), RS_OK);
    assert_true(v == UINT64_MAX - 5);
    /* only n bytes are looked at */
    assert_int_equal(rs_parse_u64(&v, "123456", 3), RS_OK);
    assert_int_equal(v, 123);
    assert_int_equal(rs_parse_u64(&v, "42abc", 2), RS_OK);
    assert_int_equal(v, 42);
}

static void test_str_parse_u64_rejects_overflow(void **state)
{
    uint64_t v = 7;

    (void)state;
    assert_int_equal(u64(&v, "18446744073709551616"), RS_EINVAL);
    assert_int_equal(u64(&v, "18446744073709551620"), RS_EINVAL);
    assert_int_equal(u64(&v, "99999999999999999999"), RS_EINVAL);
    assert_int_equal(u64(&v, "184467440737095516150"), RS_EINVAL);
    assert_int_equal(v, 7); /* untouched on error */
}

static void test_str_parse_u64_rejects_non_digits(void **state)
{
    static const char *const bad[] = { "", "-1", "+1", " 1", "1 ", "12a",
                                       "0x10", "1.0", "1e3", "a" };
    uint64_t v = 7;
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (u64(&v, bad[i]) != RS_EINVAL)
            fail_msg("'%s' accepted as %llu", bad[i], (unsigned long long)v);
    assert_int_equal(v, 7);
    assert_int_equal(rs_parse_u64(&v, "12", 0), RS_EINVAL);
    /* an embedded NUL is not a digit */
    assert_int_equal(rs_parse_u64(&v, "1\0002", 3), RS_EINVAL);
}

static void test_str_parse_size_suffixes_are_powers_of_1024(void **state)
{
    static const struct { const char *s; uint64_t v; } ok[] = {
        { "0", 0 },
        { "100", 100 },
        { "64k", 64ULL << 10 },
        { "64K", 64ULL << 10 },
        { "64KB", 64ULL << 10 },
        { "64kb", 64ULL << 10 },
        { "8M", 8ULL << 20 },
        { "8m", 8ULL << 20 },
        { "1G", 1ULL << 30 },
        { "5g", 5ULL << 30 },
        { "5T", 5ULL << 40 },
        { "8M ", 8ULL << 20 },
        { "16777215T", 16777215ULL << 40 },
        { "17179869183G", 17179869183ULL << 30 },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        uint64_t v = 0;
        int rc = rs_parse_size(&v, ok[i].s);

        if (rc != RS_OK || v != ok[i].v)
            fail_msg("'%s': rc %d value %llu, want %llu", ok[i].s, rc,
                     (unsigned long long)v, (unsigned long long)ok[i].v);
    }
}

static void test_str_parse_size_rejects_malformed_and_overflow(void **state)
{
    static const char *const bad[] = {
        "", "M", "KB", "8Q", "8 M", "1.5G", "-1M", "8MM",
        "16777216T",     /* 2^64 */
        "17179869184G",  /* 2^64 */
        "99999999999999999999",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        uint64_t v = 7;

        if (rs_parse_size(&v, bad[i]) != RS_EINVAL)
            fail_msg("'%s' accepted as %llu", bad[i], (unsigned long long)v);
        assert_int_equal(v, 7);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_str_startswith),
        cmocka_unit_test(test_str_parse_u64_accepts_digits_up_to_max),
        cmocka_unit_test(test_str_parse_u64_rejects_overflow),
        cmocka_unit_test(test_str_parse_u64_rejects_non_digits),
        cmocka_unit_test(test_str_parse_size_suffixes_are_powers_of_1024),
        cmocka_unit_test(test_str_parse_size_rejects_malformed_and_overflow),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
