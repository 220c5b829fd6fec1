/*
 * tests/unit/core/time_test.c - core/time.c: the ISO 8601 and HTTP date
 * formats, parsing the three HTTP date forms of RFC 7231 section 7.1.1.1
 * (its own example instant, Sun, 06 Nov 1994 08:49:37 GMT), the SigV4
 * basic format and ISO 8601, and rejection of malformed dates.
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

#define NS 1000000000LL
#define RFC7231_T 784111777LL /* Sun, 06 Nov 1994 08:49:37 GMT */
#define SIGV4_T 1369353600LL  /* 2013-05-24T00:00:00Z */

static void test_time_iso8601_format_with_milliseconds(void **state)
{
    char out[32];

    (void)state;
    rs_time_iso8601(out, sizeof(out), 0);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    rs_time_iso8601(out, sizeof(out), SIGV4_T * NS + 123456789);
    assert_string_equal(out, "2013-05-24T00:00:00.123Z");
    rs_time_iso8601(out, sizeof(out), 1136214245LL * NS + 999999999);
    assert_string_equal(out, "2006-01-02T15:04:05.999Z");
    /* leap day */
    rs_time_iso8601(out, sizeof(out), 951782400LL * NS + 5000000);
    assert_string_equal(out, "2000-02-29T00:00:00.005Z");
}

static void test_time_http_format_is_rfc1123_gmt(void **state)
{
    char out[32];

    (void)state;
    rs_time_http(out, sizeof(out), RFC7231_T * NS + 999000000);
    assert_string_equal(out, "Sun, 06 Nov 1994 08:49:37 GMT");
    rs_time_http(out, sizeof(out), 0);
    assert_string_equal(out, "Thu, 01 Jan 1970 00:00:00 GMT");
    rs_time_http(out, sizeof(out), 1136214245LL * NS);
    assert_string_equal(out, "Mon, 02 Jan 2006 15:04:05 GMT");
    rs_time_http(out, sizeof(out), 1175024202LL * NS);
    assert_string_equal(out, "Tue, 27 Mar 2007 19:36:42 GMT");
}

static void expect_parse(const char *s, int64_t want)
{
    int64_t got = -1;
    int rc = rs_time_parse(&got, s);

    if (rc != RS_OK)
        fail_msg("'%s': rs_time_parse failed (%d: %s)", s, rc, rs_err_msg());
    if (got != want)
        fail_msg("'%s': got %lld, want %lld", s, (long long)got,
                 (long long)want);
}

static void test_time_parse_rfc1123(void **state)
{
    (void)state;
    expect_parse("Sun, 06 Nov 1994 08:49:37 GMT", RFC7231_T);
    expect_parse("Tue, 27 Mar 2007 19:36:42 +0000", 1175024202);
    expect_parse("Fri, 24 May 2013 00:00:00 UTC", SIGV4_T);
    expect_parse("Fri, 24 May 2013 00:00:00", SIGV4_T);
}

static void test_time_parse_rfc850(void **state)
{
    (void)state;
    expect_parse("Sunday, 06-Nov-94 08:49:37 GMT", RFC7231_T);
    expect_parse("Friday, 24-May-13 00:00:00 GMT", SIGV4_T);
}

static void test_time_parse_asctime(void **state)
{
    (void)state;
    expect_parse("Sun Nov  6 08:49:37 1994", RFC7231_T);
    expect_parse("Fri May 24 00:00:00 2013", SIGV4_T);
}

static void test_time_parse_sigv4_basic_format(void **state)
{
    (void)state;
    expect_parse("20130524T000000Z", SIGV4_T);
    expect_parse("19941106T084937Z", RFC7231_T);
}

static void test_time_parse_iso8601(void **state)
{
    (void)state;
    expect_parse("2013-05-24T00:00:00Z", SIGV4_T);
    expect_parse("2013-05-24T00:00:00.000Z", SIGV4_T);
    expect_parse("2013-05-24T00:00:00.123456Z", SIGV4_T);
    expect_parse("1994-11-06T08:49:37", RFC7231_T);
}

static void test_time_http_format_round_trips(void **state)
{
    static const int64_t secs[] = { 0, 86399, RFC7231_T, SIGV4_T,
                                    1136214245, 4102444800LL /* 2100 */ };
    char out[32];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(secs) / sizeof(secs[0]); i++) {
        rs_time_http(out, sizeof(out), secs[i] * NS);
        expect_parse(out, secs[i]);
        rs_time_iso8601(out, sizeof(out), secs[i] * NS);
        expect_parse(out, secs[i]);
    }
}

static void test_time_parse_rejects_garbage(void **state)
{
    static const char *const bad[] = {
        "",
        "garbage",
        "2013",
        "Sun, 06 Nov 1994",
        "Sun, 06 Nov 1994 08:49:37 GMT trailing",
        "Sun, 06 Nov 1994 08:49:37 EST",
        "Sun, 06 Xyz 1994 08:49:37 GMT",
        "Sun, 32 Nov 1994 08:49:37 GMT",
        "Sun, 06 Nov 1994 25:49:37 GMT",
        "2013-13-24T00:00:00Z",
        "20130524T000000",
        "2013-05-24 00:00:00 junk",
        "1369353600",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int64_t t = 12345;

        if (rs_time_parse(&t, bad[i]) != RS_EINVAL)
            fail_msg("'%s' was accepted as %lld", bad[i], (long long)t);
    }
    {
        int64_t t;

        assert_int_equal(rs_time_parse(&t, NULL), RS_EINVAL);
    }
}

static void test_time_clocks_are_sane(void **state)
{
    int64_t now = rs_now_ns(), m1, m2;

    (void)state;
    assert_true(now > 1577836800LL * NS); /* after 2020-01-01 */
    m1 = rs_mono_ns();
    m2 = rs_mono_ns();
    assert_true(m1 > 0);
    assert_true(m2 >= m1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_iso8601_format_with_milliseconds),
        cmocka_unit_test(test_time_http_format_is_rfc1123_gmt),
        cmocka_unit_test(test_time_parse_rfc1123),
        cmocka_unit_test(test_time_parse_rfc850),
        cmocka_unit_test(test_time_parse_asctime),
        cmocka_unit_test(test_time_parse_sigv4_basic_format),
        cmocka_unit_test(test_time_parse_iso8601),
        cmocka_unit_test(test_time_http_format_round_trips),
        cmocka_unit_test(test_time_parse_rejects_garbage),
        cmocka_unit_test(test_time_clocks_are_sane),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
