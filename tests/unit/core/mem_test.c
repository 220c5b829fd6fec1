/*
 * tests/unit/core/mem_test.c - core/mem.c: the x-allocators and the
 * per-request arena (16-byte alignment, zeroed memory, large allocations in
 * their own blocks without disturbing earlier ones, cleanups in reverse
 * order, strdup/strndup/sprintf).
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

static void test_mem_xstrdup_and_xstrndup_copy_and_terminate(void **state)
{
    char *a, *b;

    (void)state;
    a = rs_xstrdup("hello");
    b = rs_xstrndup("hello world", 5);
    assert_string_equal(a, "hello");
    assert_string_equal(b, "hello");
    assert_ptr_not_equal(a, b);
    free(a);
    free(b);
    a = rs_xstrndup("", 0);
    assert_string_equal(a, "");
    free(a);
}

static void test_mem_xcalloc_zeroes_and_xrealloc_keeps_bytes(void **state)
{
    unsigned char *p;
    size_t i;

    (void)state;
    p = rs_xcalloc(100, 3);
    for (i = 0; i < 300; i++)
        assert_int_equal(p[i], 0);
    memset(p, 0x5a, 300);
    p = rs_xrealloc(p, 100000);
    for (i = 0; i < 300; i++)
        assert_int_equal(p[i], 0x5a);
    free(p);
    /* zero-sized requests still give a pointer that can be freed */
    p = rs_xmalloc(0);
    assert_non_null(p);
    free(p);
}

static void test_mem_arena_allocations_are_16_aligned_and_zeroed(void **state)
{
    struct rs_arena *a = rs_arena_new();
    size_t sizes[] = { 1, 3, 7, 15, 16, 17, 31, 33, 100, 1000, 4095, 4096,
                       4097, 9000, 1, 2 };
    size_t i, j;

    (void)state;
    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        unsigned char *p = rs_arena_alloc(a, sizes[i]);

        assert_non_null(p);
        assert_int_equal((uintptr_t)p % 16, 0);
        for (j = 0; j < sizes[i]; j++)
            assert_int_equal(p[j], 0);
        memset(p, 0xff, sizes[i]); /* dirty it: later blocks must not */
    }
    /* many small ones across block boundaries */
    for (i = 0; i < 2000; i++) {
        unsigned char *p = rs_arena_alloc(a, 24);

        assert_int_equal((uintptr_t)p % 16, 0);
        for (j = 0; j < 24; j++)
            assert_int_equal(p[j], 0);
        memset(p, 0xff, 24);
    }
    rs_arena_free(a);
}

static void test_mem_arena_allocations_do_not_overlap(void **state)
{
    struct rs_arena *a = rs_arena_new();
    unsigned char *p[64];
    size_t n[64];
    size_t i, j;

    (void)state;
    for (i = 0; i < 64; i++) {
        /* mix of small and large (> half a block) allocations */
        n[i] = (i % 5 == 0) ? 5000 + i * 97 : 10 + i * 13;
        p[i] = rs_arena_alloc(a, n[i]);
        memset(p[i], (int)i + 1, n[i]);
    }
    for (i = 0; i < 64; i++)
        for (j = 0; j < n[i]; j++)
            assert_int_equal(p[i][j], (unsigned char)(i + 1));
    rs_arena_free(a);
}

static void test_mem_arena_large_allocation_is_usable_and_keeps_block(
    void **state)
{
    struct rs_arena *a = rs_arena_new();
    char *small1, *big, *small2;
    size_t big_n = 1u << 20;
    size_t i;

    (void)state;
    small1 = rs_arena_alloc(a, 32);
    memcpy(small1, "before the big one", 19);
    big = rs_arena_alloc(a, big_n);
    assert_int_equal((uintptr_t)big % 16, 0);
    for (i = 0; i < big_n; i++)
        assert_int_equal(big[i], 0);
    memset(big, 'x', big_n);
    small2 = rs_arena_alloc(a, 32);
    memcpy(small2, "after the big one", 18);
    /* the small allocation after a big one still comes from the first
     * block: it sits right behind small1 */
    assert_ptr_equal(small2, small1 + 32);
    assert_string_equal(small1, "before the big one");
    assert_string_equal(small2, "after the big one");
    for (i = 0; i < big_n; i++)
        if (big[i] != 'x')
            fail_msg("big allocation clobbered at %zu", i);
    rs_arena_free(a);
}

static int order[8];
static int norder;

static void record(void *arg)
{
    order[norder++] = *(int *)arg;
}

static void test_mem_arena_cleanups_run_in_reverse_order(void **state)
{
    struct rs_arena *a = rs_arena_new();
    static int ids[5] = { 1, 2, 3, 4, 5 };
    int i;

    (void)state;
    norder = 0;
    for (i = 0; i < 5; i++) {
        rs_arena_add_cleanup(a, record, &ids[i]);
        (void)rs_arena_alloc(a, 3000); /* cleanups spread over blocks */
    }
    assert_int_equal(norder, 0);
    rs_arena_free(a);
    assert_int_equal(norder, 5);
    for (i = 0; i < 5; i++)
        assert_int_equal(order[i], 5 - i);
}

static void free_it(void *p)
{
    free(p);
}

static void test_mem_arena_cleanup_frees_heap_memory(void **state)
{
    struct rs_arena *a = rs_arena_new();

    (void)state;
    /* under ASan/LSan this leaks unless the cleanup runs */
    rs_arena_add_cleanup(a, free_it, rs_xmalloc(1234));
    rs_arena_free(a);
}

static void test_mem_arena_strdup_strndup_sprintf(void **state)
{
    struct rs_arena *a = rs_arena_new();
    const char *src = "object/key.txt";
    char *s, *t, *u, *big;
    char longstr[10001];

    (void)state;
    s = rs_arena_strdup(a, src);
    assert_string_equal(s, src);
    assert_ptr_not_equal(s, src);
    assert_null(rs_arena_strdup(a, NULL));
    t = rs_arena_strndup(a, "abcdef", 3);
    assert_string_equal(t, "abc");
    t = rs_arena_strndup(a, "", 0);
    assert_string_equal(t, "");
    u = rs_arena_sprintf(a, "%s/%d/%05.1f/%c", "b", -42, 3.14159, 'z');
    assert_string_equal(u, "b/-42/003.1/z");
    u = rs_arena_sprintf(a, "%s", "");
    assert_string_equal(u, "");
    memset(longstr, 'q', 10000);
    longstr[10000] = '\0';
    big = rs_arena_sprintf(a, "<%s>", longstr);
    assert_int_equal(strlen(big), 10002);
    assert_int_equal(big[0], '<');
    assert_int_equal(big[10001], '>');
    assert_int_equal(big[5000], 'q');
    /* earlier strings unaffected */
    assert_string_equal(s, src);
    rs_arena_free(a);
}

static void test_mem_arena_free_null_is_a_no_op(void **state)
{
    (void)state;
    rs_arena_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mem_xstrdup_and_xstrndup_copy_and_terminate),
        cmocka_unit_test(test_mem_xcalloc_zeroes_and_xrealloc_keeps_bytes),
        cmocka_unit_test(test_mem_arena_allocations_are_16_aligned_and_zeroed),
        cmocka_unit_test(test_mem_arena_allocations_do_not_overlap),
        cmocka_unit_test(
            test_mem_arena_large_allocation_is_usable_and_keeps_block),
        cmocka_unit_test(test_mem_arena_cleanups_run_in_reverse_order),
        cmocka_unit_test(test_mem_arena_cleanup_frees_heap_memory),
        cmocka_unit_test(test_mem_arena_strdup_strndup_sprintf),
        cmocka_unit_test(test_mem_arena_free_null_is_a_no_op),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
