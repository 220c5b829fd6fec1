/*
 * tests/unit/store/layout_test.c - the layout blob (store/layout.c): run
 * merging, concatenation and the version 1 encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#define C1 "00112233445566778899aabbccddeeff"
#define C2 "ffeeddccbbaa99887766554433221100"

static void test_layout_extent_span_counts_crcs(void **state)
{
    (void)state;
    assert_int_equal(store__extent_span(1, 4096), 5);
    assert_int_equal(store__extent_span(4096, 4096), 4100);
    assert_int_equal(store__extent_span(4097, 4096), 4105);
}

static void test_layout_merges_consecutive_equal_stripes(void **state)
{
    struct store_layout l = {0};
    uint64_t span = store__extent_span(65536, 4096);
    (void)state;

    for (int i = 0; i < 100; i++)
        store__layout_add(&l, C1, 0, 4096, i * span, 65536);
    store__layout_add(&l, C1, 0, 4096, 100 * span, 7);
    assert_int_equal(l.nruns, 2);
    assert_int_equal(l.runs[0].count, 100);
    assert_int_equal(l.runs[1].offset, 100 * span);
    assert_int_equal(l.size, 100 * 65536 + 7);
    /* Not contiguous, other container, other group: new runs. */
    store__layout_add(&l, C1, 0, 4096, 999999, 7);
    store__layout_add(&l, C2, 0, 4096, 999999 + 7 + 4, 7);
    store__layout_add(&l, C2, 1, 4096, 999999 + 22, 7);
    assert_int_equal(l.nruns, 5);
    store__layout_dispose(&l);
}

static void test_layout_encodes_and_decodes_version_1(void **state)
{
    struct store_layout l = {0}, d;
    size_t n;
    uint8_t *b;
    (void)state;

    store__layout_add(&l, C1, 0, 4096, 0, 65536);
    store__layout_add(&l, C1, 0, 4096, 65536 + 64, 65536);
    store__layout_add(&l, C2, 1, 65536, 0, 3);
    b = store__layout_encode(&n, &l);
    assert_int_equal(n, 16 + 44 * 2);
    assert_int_equal(b[0], 1);
    assert_int_equal(store__layout_decode(&d, b, n), RS_OK);
    assert_int_equal(d.nruns, 2);
    assert_int_equal(d.size, 2 * 65536 + 3);
    assert_string_equal(d.runs[0].container, C1);
    assert_string_equal(d.runs[1].container, C2);
    assert_int_equal(d.runs[0].count, 2);
    assert_int_equal(d.runs[1].group, 1);
    assert_int_equal(d.runs[1].block, 65536);
    store__layout_dispose(&d);

    /* Damage: wrong version, wrong length, wrong size. */
    b[0] = 2;
    assert_int_equal(store__layout_decode(&d, b, n), RS_ECORRUPT);
    b[0] = 1;
    assert_int_equal(store__layout_decode(&d, b, n - 1), RS_ECORRUPT);
    b[8] ^= 1;
    assert_int_equal(store__layout_decode(&d, b, n), RS_ECORRUPT);
    assert_int_equal(store__layout_decode(&d, b, 3), RS_ECORRUPT);
    free(b);
    store__layout_dispose(&l);
}

static void test_layout_empty_object_has_no_runs(void **state)
{
    struct store_layout l = {0}, d;
    size_t n;
    void *b;
    (void)state;

    b = store__layout_encode(&n, &l);
    assert_int_equal(n, 16);
    assert_int_equal(store__layout_decode(&d, b, n), RS_OK);
    assert_int_equal(d.nruns, 0);
    assert_int_equal(d.size, 0);
    free(b);
}

static void test_layout_append_concatenates_parts(void **state)
{
    struct store_layout p1 = {0}, p2 = {0}, all = {0};
    (void)state;

    store__layout_add(&p1, C1, 0, 4096, 0, 100);
    store__layout_add(&p2, C2, 0, 4096, 0, 50);
    store__layout_add(&p2, C2, 0, 4096, 54, 50);
    store__layout_append(&all, &p1);
    store__layout_append(&all, &p2);
    assert_int_equal(all.nruns, 2);
    assert_int_equal(all.size, 200);
    assert_int_equal(all.runs[1].count, 2);
    store__layout_dispose(&p1);
    store__layout_dispose(&p2);
    store__layout_dispose(&all);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_layout_extent_span_counts_crcs),
        cmocka_unit_test(test_layout_merges_consecutive_equal_stripes),
        cmocka_unit_test(test_layout_encodes_and_decodes_version_1),
        cmocka_unit_test(test_layout_empty_object_has_no_runs),
        cmocka_unit_test(test_layout_append_concatenates_parts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
