/*
 * tests/unit/store/idx_test.c - the RocksDB index (store/idx.c): records,
 * batches, prefix iterators, key schema helpers and routing of object
 * keys through a shard map.  Real RocksDB in a temporary directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/idx_int.h"
#include "store_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct idx_fx {
    char dir[256];
    struct idx *ix;
};

static int idx_fx_setup(void **state)
{
    struct idx_fx *f = calloc(1, sizeof *f);
    fx_tmpdir_create(f->dir, sizeof f->dir, "idx");
    assert_int_equal(idx_open(&f->ix, f->dir, 1u << 20), RS_OK);
    *state = f;
    return 0;
}

static int idx_fx_teardown(void **state)
{
    struct idx_fx *f = *state;
    idx_close(f->ix);
    fx_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static void put(struct idx *ix, const char *k, size_t kl, const char *v)
{
    struct idx_batch *b = idx_batch_begin(ix);
    idx_batch_put(b, k, kl, v, strlen(v));
    assert_int_equal(idx_batch_commit(b, true), RS_OK);
}

static void test_idx_batch_applies_puts_and_deletes_atomically(void **state)
{
    struct idx_fx *f = *state;
    struct idx_batch *b;
    char *v;
    size_t vl;

    put(f->ix, "u/a", 3, "1");
    b = idx_batch_begin(f->ix);
    idx_batch_put(b, "u/b", 3, "2", 1);
    idx_batch_delete(b, "u/a", 3);
    assert_int_equal(idx_batch_count(b), 2);
    assert_int_equal(idx_batch_commit(b, true), RS_OK);
    assert_int_equal(idx_get(&v, &vl, f->ix, "u/a", 3), RS_ENOTFOUND);
    assert_null(v);
    assert_int_equal(idx_get(&v, &vl, f->ix, "u/b", 3), RS_OK);
    assert_int_equal(vl, 1);
    assert_string_equal(v, "2");
    free(v);
    /* An aborted batch changes nothing. */
    b = idx_batch_begin(f->ix);
    idx_batch_delete(b, "u/b", 3);
    idx_batch_abort(b);
    assert_int_equal(idx_get(&v, &vl, f->ix, "u/b", 3), RS_OK);
    free(v);
    idx_batch_abort(NULL);
}

static void test_idx_iter_stays_within_prefix(void **state)
{
    struct idx_fx *f = *state;
    struct idx_iter *it;
    const char *keys[] = {"a/1", "b/", "b/1", "b/2", "b0", "c/"};
    size_t n = 0, kl;

    for (size_t i = 0; i < 6; i++)
        put(f->ix, keys[i], strlen(keys[i]), "x");
    assert_int_equal(idx_iter_open(&it, f->ix, "b/", 2), RS_OK);
    for (idx_iter_seek(it, "", 0); idx_iter_valid(it); idx_iter_next(it)) {
        const char *k = idx_iter_key(it, &kl);
        assert_memory_equal(k, "b/", 2);
        n++;
    }
    assert_int_equal(n, 3);
    assert_int_equal(idx_iter_status(it), RS_OK);
    idx_iter_seek(it, "b/15", 4);
    assert_true(idx_iter_valid(it));
    assert_memory_equal(idx_iter_key(it, &kl), "b/2", 3);
    idx_iter_close(it);
}

static void test_idx_upload_keys_order_by_key_then_id(void **state)
{
    struct idx_fx *f = *state;
    char k[IDX_KEY_MAX], p[IDX_KEY_MAX];
    size_t kl, pl, n = 0;
    struct idx_iter *it;
    const char *want[] = {"a|2", "a|9", "a/b|1", "ab|0"};

    kl = idx_key_upload(k, "bk", "a/b", "1");
    put(f->ix, k, kl, "x");
    kl = idx_key_upload(k, "bk", "a", "9");
    put(f->ix, k, kl, "x");
    kl = idx_key_upload(k, "bk", "ab", "0");
    put(f->ix, k, kl, "x");
    kl = idx_key_upload(k, "bk", "a", "2");
    put(f->ix, k, kl, "x");
    kl = idx_key_upload(k, "bk2", "a", "2");   /* other bucket */
    put(f->ix, k, kl, "x");
    pl = idx_key_upload_prefix(p, "bk");
    assert_int_equal(idx_iter_open(&it, f->ix, p, pl), RS_OK);
    for (idx_iter_seek(it, p, pl); idx_iter_valid(it); idx_iter_next(it)) {
        const char *rk = idx_iter_key(it, &kl);
        char got[64];
        size_t keylen = strlen(rk + pl);   /* up to the NUL */
        snprintf(got, sizeof got, "%.*s|%.*s", (int)keylen, rk + pl,
                 (int)(kl - pl - keylen - 1), rk + pl + keylen + 1);
        assert_string_equal(got, want[n]);
        n++;
    }
    assert_int_equal(n, 4);
    idx_iter_close(it);
}

static void test_idx_garbage_key_roundtrips_and_sorts_by_time(void **state)
{
    char k1[IDX_KEY_MAX], k2[IDX_KEY_MAX], name[33];
    const char *c = "0123456789abcdef0123456789abcdef";
    size_t l1 = idx_key_garbage(k1, 1000, c);
    size_t l2 = idx_key_garbage(k2, 0x10000, c);
    int64_t t;

    (void)state;
    assert_true(memcmp(k1, k2, l1 < l2 ? l1 : l2) < 0);
    assert_int_equal(idx_key_garbage_parse(&t, name, k2, l2), RS_OK);
    assert_int_equal(t, 0x10000);
    assert_string_equal(name, c);
    assert_int_equal(idx_key_garbage_parse(&t, name, "g/x", 3), RS_ECORRUPT);
}

static void test_idx_part_keys_sort_numerically(void **state)
{
    char k1[IDX_KEY_MAX], k2[IDX_KEY_MAX];
    size_t l1 = idx_key_part(k1, "id", 9);
    size_t l2 = idx_key_part(k2, "id", 10);

    (void)state;
    assert_int_equal(l1, l2);
    assert_true(memcmp(k1, k2, l1) < 0);
    assert_memory_equal(k1, "q/id/00009", l1);
}

/* A map of three shards: [""..."g"), ["g".."p"), ["p"...). */
static struct idx_shardmap *three_shards(void)
{
    static struct idx_shard sh[3];
    static struct idx_shardmap m = {sh, 3};
    sh[0] = (struct idx_shard){0, "", idx_shard_engine("local")};
    sh[1] = (struct idx_shard){7, "g", idx_shard_engine("local")};
    sh[2] = (struct idx_shard){3, "p", idx_shard_engine("local")};
    return &m;
}

static void test_idx_objects_route_by_shard_map(void **state)
{
    struct idx_fx *f = *state;
    struct idx_shardmap *m = three_shards();
    const char *keys[] = {"a", "f/zz", "g", "hello", "o\xff", "p", "zz",
                          "\xe6\x97\xa5"};
    struct idx_batch *b = idx_batch_begin(f->ix);
    struct idx_objcur *c;
    const char *k, *v;
    size_t vl, n = 0;
    char *gv;

    assert_ptr_equal(idx_shard_for(m, "a"), &m->shards[0]);
    assert_ptr_equal(idx_shard_for(m, "g"), &m->shards[1]);
    assert_ptr_equal(idx_shard_for(m, "fzzz"), &m->shards[0]);
    assert_ptr_equal(idx_shard_for(m, "q"), &m->shards[2]);
    for (size_t i = 0; i < 8; i++)
        idx_obj_put(b, m, "bk", keys[i], keys[i], strlen(keys[i]));
    assert_int_equal(idx_batch_commit(b, true), RS_OK);

    /* The shard id is part of the stored key. */
    assert_int_equal(idx_get(&gv, &vl, f->ix, "o/bk/00000007/hello", 19),
                     RS_OK);
    free(gv);
    assert_int_equal(idx_obj_get(&gv, &vl, f->ix, m, "bk", "zz"), RS_OK);
    assert_string_equal(gv, "zz");
    free(gv);
    assert_int_equal(idx_obj_get(&gv, &vl, f->ix, m, "bk2", "zz"),
                     RS_ENOTFOUND);

    /* One cursor walks all shards in key order. */
    assert_int_equal(idx_objcur_open(&c, f->ix, m, "bk"), RS_OK);
    assert_int_equal(idx_objcur_seek(c, ""), RS_OK);
    while (idx_objcur_get(c, &k, &v, &vl) == RS_OK) {
        assert_string_equal(k, keys[n]);
        assert_int_equal(vl, strlen(keys[n]));
        n++;
        assert_int_equal(idx_objcur_next(c), RS_OK);
    }
    assert_int_equal(n, 8);
    /* Seeking into a gap at the end of a shard lands in the next. */
    assert_int_equal(idx_objcur_seek(c, "o\xff\x01"), RS_OK);
    assert_int_equal(idx_objcur_get(c, &k, &v, &vl), RS_OK);
    assert_string_equal(k, "p");
    assert_int_equal(idx_objcur_seek(c, "\xff"), RS_OK);
    assert_int_equal(idx_objcur_get(c, &k, &v, &vl), RS_ENOTFOUND);
    idx_objcur_close(c);

    /* Deleting goes to the right shard. */
    b = idx_batch_begin(f->ix);
    idx_obj_del(b, m, "bk", "hello");
    assert_int_equal(idx_batch_commit(b, true), RS_OK);
    assert_int_equal(idx_obj_get(&gv, &vl, f->ix, m, "bk", "hello"),
                     RS_ENOTFOUND);
}

static void test_idx_keys_are_stored_verbatim(void **state)
{
    struct idx_fx *f = *state;
    struct idx_shard one = {0, "", idx_shard_engine(NULL)};
    struct idx_shardmap m = {&one, 1};
    const char *keys[] = {"../etc/passwd", "a%2Fb", "sp ace", "new\nline",
                          "./.", "//double"};
    struct idx_batch *b = idx_batch_begin(f->ix);
    char *v;
    size_t vl;

    for (size_t i = 0; i < 6; i++)
        idx_obj_put(b, &m, "bk", keys[i], "1", 1);
    assert_int_equal(idx_batch_commit(b, true), RS_OK);
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(idx_obj_get(&v, &vl, f->ix, &m, "bk", keys[i]),
                         RS_OK);
        free(v);
    }
    assert_int_equal(idx_obj_get(&v, &vl, f->ix, &m, "bk", "a/b"),
                     RS_ENOTFOUND);
}

static void test_idx_second_open_is_busy(void **state)
{
    struct idx_fx *f = *state;
    struct idx *ix2;

    assert_int_equal(idx_open(&ix2, f->dir, 1u << 20), RS_EBUSY);
    assert_null(ix2);
    assert_non_null(strstr(rs_err_msg(), "lock"));
}

static void test_idx_reopen_keeps_records(void **state)
{
    struct idx_fx *f = *state;
    char *v;
    size_t vl;
    uint64_t keys;

    put(f->ix, "b/x", 3, "{}");
    idx_close(f->ix);
    assert_int_equal(idx_open(&f->ix, f->dir, 1u << 20), RS_OK);
    assert_int_equal(idx_get(&v, &vl, f->ix, "b/x", 3), RS_OK);
    free(v);
    assert_int_equal(idx_property(&keys, f->ix, "rocksdb.estimate-num-keys"),
                     RS_OK);
    assert_true(keys >= 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_idx_batch_applies_puts_and_deletes_atomically, idx_fx_setup,
            idx_fx_teardown),
        cmocka_unit_test_setup_teardown(test_idx_iter_stays_within_prefix,
                                        idx_fx_setup, idx_fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_idx_upload_keys_order_by_key_then_id, idx_fx_setup,
            idx_fx_teardown),
        cmocka_unit_test(test_idx_garbage_key_roundtrips_and_sorts_by_time),
        cmocka_unit_test(test_idx_part_keys_sort_numerically),
        cmocka_unit_test_setup_teardown(test_idx_objects_route_by_shard_map,
                                        idx_fx_setup, idx_fx_teardown),
        cmocka_unit_test_setup_teardown(test_idx_keys_are_stored_verbatim,
                                        idx_fx_setup, idx_fx_teardown),
        cmocka_unit_test_setup_teardown(test_idx_second_open_is_busy,
                                        idx_fx_setup, idx_fx_teardown),
        cmocka_unit_test_setup_teardown(test_idx_reopen_keeps_records,
                                        idx_fx_setup, idx_fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
