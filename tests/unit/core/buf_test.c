/*
 * tests/unit/core/buf_test.c - core/buf.c: appending and growth, the hard
 * limit (RS_ETOOBIG leaves the buffer unchanged), printf, XML escaping of
 * the five entities and control characters, reset and detach.
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

static void test_buf_append_grows_and_stays_nul_terminated(void **state)
{
    struct rs_buf b;
    size_t i;

    (void)state;
    rs_buf_init(&b, SIZE_MAX);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(rs_buf_append(&b, "ab", 2), RS_OK);
    assert_int_equal(b.len, 2);
    assert_string_equal(b.data, "ab");
    assert_int_equal(rs_buf_puts(&b, "cd"), RS_OK);
    assert_string_equal(b.data, "abcd");
    for (i = 0; i < 10000; i++)
        assert_int_equal(rs_buf_append(&b, &"0123456789"[i % 10], 1), RS_OK);
    assert_int_equal(b.len, 10004);
    assert_int_equal(b.data[b.len], '\0');
    assert_true(b.cap > b.len);
    for (i = 0; i < 10000; i++)
        assert_int_equal(b.data[4 + i], '0' + (int)(i % 10));
    /* binary data with NUL bytes */
    rs_buf_reset(&b);
    assert_int_equal(rs_buf_append(&b, "a\0b", 3), RS_OK);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);
    /* zero-length append */
    assert_int_equal(rs_buf_append(&b, NULL, 0), RS_OK);
    assert_int_equal(b.len, 3);
    rs_buf_dispose(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
}

static void test_buf_limit_returns_etoobig_and_leaves_buffer_unchanged(
    void **state)
{
    struct rs_buf b;

    (void)state;
    rs_buf_init(&b, 8);
    assert_int_equal(rs_buf_puts(&b, "hello"), RS_OK);
    assert_int_equal(rs_buf_puts(&b, "worl"), RS_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    assert_non_null(strstr(rs_err_msg(), "8"));
    assert_int_equal(rs_buf_printf(&b, "%d", 1234), RS_ETOOBIG);
    assert_int_equal(b.len, 5);
    assert_string_equal(b.data, "hello");
    assert_int_equal(rs_buf_xml_escape(&b, "&"), RS_ETOOBIG);
    /* exactly up to the limit is fine */
    assert_int_equal(rs_buf_puts(&b, "abc"), RS_OK);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "helloabc");
    assert_int_equal(rs_buf_append(&b, "x", 1), RS_ETOOBIG);
    assert_string_equal(b.data, "helloabc");
    assert_int_equal(rs_buf_append(&b, "", 0), RS_OK);
    /* a huge n must not wrap the check */
    assert_int_equal(rs_buf_append(&b, "x", SIZE_MAX), RS_ETOOBIG);
    assert_int_equal(b.len, 8);
    rs_buf_dispose(&b);

    rs_buf_init(&b, 0);
    assert_int_equal(rs_buf_puts(&b, "a"), RS_ETOOBIG);
    assert_int_equal(b.len, 0);
    rs_buf_dispose(&b);
}

static void test_buf_printf_formats_and_appends(void **state)
{
    struct rs_buf b;
    char big[3001];

    (void)state;
    rs_buf_init(&b, SIZE_MAX);
    assert_int_equal(rs_buf_printf(&b, "<%s>%llu", "n",
                                   (unsigned long long)UINT64_MAX), RS_OK);
    assert_int_equal(rs_buf_printf(&b, "%s", ""), RS_OK);
    assert_int_equal(rs_buf_printf(&b, "|%5d|", 42), RS_OK);
    assert_string_equal(b.data, "<n>18446744073709551615|   42|");
    assert_int_equal(b.len, strlen(b.data));
    memset(big, 'z', 3000);
    big[3000] = '\0';
    assert_int_equal(rs_buf_printf(&b, "%s!", big), RS_OK);
    assert_int_equal(b.len, 30 + 3001);
    assert_int_equal(b.data[b.len - 1], '!');
    assert_int_equal(b.data[b.len], '\0');
    rs_buf_dispose(&b);
}

static void test_buf_xml_escape_entities(void **state)
{
    struct rs_buf b;

    (void)state;
    rs_buf_init(&b, SIZE_MAX);
    assert_int_equal(rs_buf_xml_escape(&b, "a&b<c>d\"e'f"), RS_OK);
    assert_string_equal(b.data, "a&amp;b&lt;c&gt;d&quot;e&apos;f");
    rs_buf_reset(&b);
    assert_int_equal(rs_buf_xml_escape(&b, "&&<<"), RS_OK);
    assert_string_equal(b.data, "&amp;&amp;&lt;&lt;");
    rs_buf_reset(&b);
    assert_int_equal(rs_buf_xml_escape(&b, "plain text/key-1.txt"), RS_OK);
    assert_string_equal(b.data, "plain text/key-1.txt");
    rs_buf_reset(&b);
    assert_int_equal(rs_buf_xml_escape(&b, ""), RS_OK);
    assert_int_equal(b.len, 0);
    rs_buf_dispose(&b);
}

static void test_buf_xml_escape_control_chars_and_keeps_utf8(void **state)
{
    struct rs_buf b;

    (void)state;
    rs_buf_init(&b, SIZE_MAX);
    assert_int_equal(rs_buf_xml_escape(&b, "a\rb\nc\td"), RS_OK);
    assert_string_equal(b.data, "a&#13;b&#10;c&#9;d");
    rs_buf_reset(&b);
    assert_int_equal(rs_buf_xml_escape(&b, "\x01x\x1f\x7f"), RS_OK);
    assert_string_equal(b.data, "&#x1;x&#x1F;\x7f");
    rs_buf_reset(&b);
    /* UTF-8 passes through untouched */
    assert_int_equal(rs_buf_xml_escape(&b, "caf\xc3\xa9 \xe2\x82\xac"), RS_OK);
    assert_string_equal(b.data, "caf\xc3\xa9 \xe2\x82\xac");
    rs_buf_dispose(&b);
}

static void test_buf_reset_empties_but_keeps_storage(void **state)
{
    struct rs_buf b;
    char *before;

    (void)state;
    rs_buf_init(&b, SIZE_MAX);
    rs_buf_reset(&b); /* no data yet: must not crash */
    assert_int_equal(rs_buf_puts(&b, "something"), RS_OK);
    before = b.data;
    rs_buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(b.data, "");
    assert_ptr_equal(b.data, before);
    assert_int_equal(rs_buf_puts(&b, "x"), RS_OK);
    assert_string_equal(b.data, "x");
    rs_buf_dispose(&b);
}

static void test_buf_detach_hands_over_bytes_and_empties(void **state)
{
    struct rs_buf b;
    size_t len = 99;
    char *p;

    (void)state;
    rs_buf_init(&b, 100);
    assert_int_equal(rs_buf_puts(&b, "payload"), RS_OK);
    p = rs_buf_detach(&b, &len);
    assert_string_equal(p, "payload");
    assert_int_equal(len, 7);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_int_equal(b.limit, 100);
    free(p);
    /* reusable afterwards, limit kept */
    assert_int_equal(rs_buf_puts(&b, "again"), RS_OK);
    assert_string_equal(b.data, "again");
    rs_buf_dispose(&b);

    /* detaching an empty buffer gives an empty, freeable string */
    rs_buf_init(&b, SIZE_MAX);
    len = 99;
    p = rs_buf_detach(&b, &len);
    assert_non_null(p);
    assert_string_equal(p, "");
    assert_int_equal(len, 0);
    free(p);
    p = rs_buf_detach(&b, NULL);
    assert_string_equal(p, "");
    free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_buf_append_grows_and_stays_nul_terminated),
        cmocka_unit_test(
            test_buf_limit_returns_etoobig_and_leaves_buffer_unchanged),
        cmocka_unit_test(test_buf_printf_formats_and_appends),
        cmocka_unit_test(test_buf_xml_escape_entities),
        cmocka_unit_test(test_buf_xml_escape_control_chars_and_keeps_utf8),
        cmocka_unit_test(test_buf_reset_empties_but_keeps_storage),
        cmocka_unit_test(test_buf_detach_hands_over_bytes_and_empties),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
