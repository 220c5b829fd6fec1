/*
 * tests/unit/core/err_test.c - core/err.c: the fixed strings of every
 * code, the per-thread detail message, and rs_err_errno's mapping of errno
 * values with strerror appended.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rs.h"

static void test_err_strerror_has_text_for_every_code(void **state)
{
    int code;

    (void)state;
    assert_string_equal(rs_strerror(RS_OK), "success");
    assert_string_equal(rs_strerror(RS_ENOTFOUND), "not found");
    assert_string_equal(rs_strerror(RS_ETOOBIG), "too big");
    assert_string_equal(rs_strerror(RS_ENOSPC), "no space left");
    for (code = RS_ESHUTDOWN; code <= RS_OK; code++) {
        assert_non_null(rs_strerror(code));
        assert_string_not_equal(rs_strerror(code), "unknown error");
    }
    assert_string_equal(rs_strerror(-99), "unknown error");
    assert_string_equal(rs_strerror(5), "unknown error");
}

static void test_err_set_returns_code_and_formats_message(void **state)
{
    (void)state;
    assert_int_equal(rs_err_set(RS_EINVAL, "bad %s %d", "size", 42),
                     RS_EINVAL);
    assert_string_equal(rs_err_msg(), "bad size 42");
    assert_int_equal(rs_err_set(RS_ECORRUPT, "block %u", 7u), RS_ECORRUPT);
    assert_string_equal(rs_err_msg(), "block 7");
    rs_err_clear();
    assert_string_equal(rs_err_msg(), "");
}

static void test_err_long_message_is_truncated_safely(void **state)
{
    char big[2000];

    (void)state;
    memset(big, 'm', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(rs_err_set(RS_ERR, "%s", big), RS_ERR);
    assert_true(strlen(rs_err_msg()) > 100);
    assert_true(strlen(rs_err_msg()) < sizeof(big) - 1);
    assert_int_equal(rs_err_msg()[0], 'm');
    /* errno variant with a full buffer must not overflow either */
    assert_int_equal(rs_err_errno(ENOENT, "%s", big), RS_ENOTFOUND);
    assert_true(strlen(rs_err_msg()) < sizeof(big) - 1);
}

static void test_err_errno_maps_to_rs_codes(void **state)
{
    static const struct { int e, rs; } map[] = {
        { ENOENT, RS_ENOTFOUND }, { ENOSPC, RS_ENOSPC },
        { EDQUOT, RS_ENOSPC },    { EACCES, RS_EDENIED },
        { EPERM, RS_EDENIED },    { EEXIST, RS_EEXIST },
        { EBUSY, RS_EBUSY },      { EAGAIN, RS_EBUSY },
        { EINVAL, RS_EINVAL },    { EFBIG, RS_ETOOBIG },
        { EIO, RS_EIO },          { EXDEV, RS_EIO },
        { EROFS, RS_EIO },
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
        int rc = rs_err_errno(map[i].e, "op %zu", i);

        if (rc != map[i].rs)
            fail_msg("errno %d (%s): got %d, want %d", map[i].e,
                     strerror(map[i].e), rc, map[i].rs);
    }
}

static void test_err_errno_message_carries_strerror(void **state)
{
    char want[256];

    (void)state;
    assert_int_equal(rs_err_errno(ENOENT, "open %s", "/x/y"), RS_ENOTFOUND);
    snprintf(want, sizeof(want), "open /x/y: %s", strerror(ENOENT));
    assert_string_equal(rs_err_msg(), want);
    assert_int_equal(rs_err_errno(ENOSPC, "write"), RS_ENOSPC);
    snprintf(want, sizeof(want), "write: %s", strerror(ENOSPC));
    assert_string_equal(rs_err_msg(), want);
}

static void *other_thread(void *arg)
{
    (void)rs_err_set(RS_EIO, "from the other thread");
    snprintf(arg, 64, "%s", rs_err_msg());
    return NULL;
}

static void test_err_message_is_per_thread(void **state)
{
    pthread_t t;
    char seen[64] = "";

    (void)state;
    (void)rs_err_set(RS_EINVAL, "main thread");
    assert_int_equal(pthread_create(&t, NULL, other_thread, seen), 0);
    assert_int_equal(pthread_join(t, NULL), 0);
    assert_string_equal(seen, "from the other thread");
    assert_string_equal(rs_err_msg(), "main thread");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_err_strerror_has_text_for_every_code),
        cmocka_unit_test(test_err_set_returns_code_and_formats_message),
        cmocka_unit_test(test_err_long_message_is_truncated_safely),
        cmocka_unit_test(test_err_errno_maps_to_rs_codes),
        cmocka_unit_test(test_err_errno_message_carries_strerror),
        cmocka_unit_test(test_err_message_is_per_thread),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
