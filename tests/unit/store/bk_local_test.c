/*
 * tests/unit/store/bk_local_test.c - the local-file backend
 * (store/bk_local.c) and the backend registry (store/bk.c), on real files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/store_backend.h"
#include "store_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define NAME "c0ffee0123456789abcdef0123456789"

struct bk_fx {
    char dir[256];
    char d1[300], d2[300];
    struct store_bk_group *g;
};

static int bk_fx_setup(void **state)
{
    struct bk_fx *f = calloc(1, sizeof *f);
    const char *dirs[2];

    fx_tmpdir_create(f->dir, sizeof f->dir, "bk");
    snprintf(f->d1, sizeof f->d1, "%s/disk1/standard", f->dir);
    snprintf(f->d2, sizeof f->d2, "%s/disk2/standard", f->dir);
    dirs[0] = f->d1;
    dirs[1] = f->d2;
    assert_int_equal(bk_local_ops.group_open(&f->g, dirs, 2), RS_OK);
    *state = f;
    return 0;
}

static int bk_fx_teardown(void **state)
{
    struct bk_fx *f = *state;
    bk_local_ops.group_close(f->g);
    fx_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static void test_bk_local_group_open_creates_dirs(void **state)
{
    struct bk_fx *f = *state;
    struct stat st;

    assert_int_equal(stat(f->d1, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(stat(f->d2, &st), 0);
    assert_ptr_equal(f->g->ops, &bk_local_ops);
}

static void test_bk_local_append_read_stat_sync(void **state)
{
    struct bk_fx *f = *state;
    struct store_bk_file *w, *r;
    char buf[64];
    size_t got;
    uint64_t size;

    assert_int_equal(bk_local_ops.open(&w, f->g, NAME, STORE_BK_CREATE),
                     RS_OK);
    assert_ptr_equal(w->ops, &bk_local_ops);
    assert_int_equal(w->ops->append(w, "hello ", 6), RS_OK);
    assert_int_equal(w->ops->append(w, "world", 5), RS_OK);
    assert_int_equal(w->ops->sync(w), RS_OK);
    assert_int_equal(w->ops->stat(w, &size), RS_OK);
    assert_int_equal(size, 11);

    assert_int_equal(bk_local_ops.open(&r, f->g, NAME, STORE_BK_READ), RS_OK);
    assert_int_equal(r->ops->read_at(r, buf, 5, 6, &got), RS_OK);
    assert_int_equal(got, 5);
    assert_memory_equal(buf, "world", 5);
    /* Short at the end. */
    assert_int_equal(r->ops->read_at(r, buf, 64, 8, &got), RS_OK);
    assert_int_equal(got, 3);
    assert_int_equal(r->ops->read_at(r, buf, 64, 100, &got), RS_OK);
    assert_int_equal(got, 0);

    assert_int_equal(w->ops->truncate(w, 5), RS_OK);
    assert_int_equal(r->ops->stat(r, &size), RS_OK);
    assert_int_equal(size, 5);
    assert_int_equal(w->ops->append(w, "!", 1), RS_OK);
    assert_int_equal(r->ops->read_at(r, buf, 64, 0, &got), RS_OK);
    assert_int_equal(got, 6);
    assert_memory_equal(buf, "hello!", 6);
    w->ops->close(w);
    r->ops->close(r);
    bk_local_ops.close(NULL);
}

static void test_bk_local_path_is_fanned_out_by_name(void **state)
{
    struct bk_fx *f = *state;
    struct store_bk_file *w;
    char p1[512], p2[512];
    struct stat st;
    int found = 0;

    assert_int_equal(bk_local_ops.open(&w, f->g, NAME, STORE_BK_CREATE),
                     RS_OK);
    w->ops->close(w);
    snprintf(p1, sizeof p1, "%s/c0/ff/%s", f->d1, NAME);
    snprintf(p2, sizeof p2, "%s/c0/ff/%s", f->d2, NAME);
    found += stat(p1, &st) == 0;
    found += stat(p2, &st) == 0;
    assert_int_equal(found, 1);
}

static void test_bk_local_names_spread_over_dirs(void **state)
{
    struct bk_fx *f = *state;
    char name[40];
    int in1 = 0;

    for (int i = 0; i < 64; i++) {
        struct store_bk_file *w;
        char p[512];
        struct stat st;

        snprintf(name, sizeof name, "%08x%024x", (unsigned)i * 2654435761u,
                 (unsigned)i);
        assert_int_equal(bk_local_ops.open(&w, f->g, name, STORE_BK_CREATE),
                         RS_OK);
        w->ops->close(w);
        snprintf(p, sizeof p, "%s/%.2s/%.2s/%s", f->d1, name, name + 2, name);
        in1 += stat(p, &st) == 0;
    }
    assert_true(in1 > 8 && in1 < 56);
}

static void test_bk_local_errors_map_to_rs_codes(void **state)
{
    struct bk_fx *f = *state;
    struct store_bk_file *w;

    assert_int_equal(bk_local_ops.open(&w, f->g, NAME, STORE_BK_READ),
                     RS_ENOTFOUND);
    assert_null(w);
    assert_int_equal(bk_local_ops.remove(f->g, NAME), RS_ENOTFOUND);
    assert_int_equal(bk_local_ops.open(&w, f->g, NAME, STORE_BK_CREATE),
                     RS_OK);
    w->ops->close(w);
    assert_int_equal(bk_local_ops.open(&w, f->g, NAME, STORE_BK_CREATE),
                     RS_EEXIST);
    assert_int_equal(bk_local_ops.open(&w, f->g, "../../etc/passwd",
                                       STORE_BK_READ), RS_EINVAL);
    assert_int_equal(bk_local_ops.open(&w, f->g, "C0FFEE0123456789ABCDEF0123456789",
                                       STORE_BK_READ), RS_EINVAL);
    assert_int_equal(bk_local_ops.remove(f->g, NAME), RS_OK);
    assert_int_equal(bk_local_ops.open(&w, f->g, NAME, STORE_BK_READ),
                     RS_ENOTFOUND);
}

static void test_bk_local_open_reader_survives_remove(void **state)
{
    struct bk_fx *f = *state;
    struct store_bk_file *w, *r;
    char buf[4];
    size_t got;

    assert_int_equal(bk_local_ops.open(&w, f->g, NAME, STORE_BK_CREATE),
                     RS_OK);
    assert_int_equal(w->ops->append(w, "data", 4), RS_OK);
    assert_int_equal(bk_local_ops.open(&r, f->g, NAME, STORE_BK_READ), RS_OK);
    assert_int_equal(bk_local_ops.remove(f->g, NAME), RS_OK);
    assert_int_equal(r->ops->read_at(r, buf, 4, 0, &got), RS_OK);
    assert_int_equal(got, 4);
    w->ops->close(w);
    r->ops->close(r);
}

static void test_bk_local_statfs_reports_space(void **state)
{
    struct bk_fx *f = *state;
    uint64_t used, avail;

    assert_int_equal(bk_local_ops.statfs(f->g, &used, &avail), RS_OK);
    assert_true(avail > 0);
}

static void test_bk_registry_finds_local_and_refuses_duplicates(void **state)
{
    static struct store_backend_ops fake, old;
    (void)state;

    assert_ptr_equal(store_backend_find("local"), &bk_local_ops);
    assert_null(store_backend_find("rados"));
    assert_int_equal(store_backend_register(&bk_local_ops), RS_EEXIST);
    fake = bk_local_ops;
    fake.name = "fake";
    assert_int_equal(store_backend_register(&fake), RS_OK);
    assert_ptr_equal(store_backend_find("fake"), &fake);
    old = bk_local_ops;
    old.name = "old";
    old.version = STORE_BACKEND_VERSION + 1;
    assert_int_equal(store_backend_register(&old), RS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_bk_local_group_open_creates_dirs,
                                        bk_fx_setup, bk_fx_teardown),
        cmocka_unit_test_setup_teardown(test_bk_local_append_read_stat_sync,
                                        bk_fx_setup, bk_fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_bk_local_path_is_fanned_out_by_name, bk_fx_setup,
            bk_fx_teardown),
        cmocka_unit_test_setup_teardown(test_bk_local_names_spread_over_dirs,
                                        bk_fx_setup, bk_fx_teardown),
        cmocka_unit_test_setup_teardown(test_bk_local_errors_map_to_rs_codes,
                                        bk_fx_setup, bk_fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_bk_local_open_reader_survives_remove, bk_fx_setup,
            bk_fx_teardown),
        cmocka_unit_test_setup_teardown(test_bk_local_statfs_reports_space,
                                        bk_fx_setup, bk_fx_teardown),
        cmocka_unit_test(test_bk_registry_finds_local_and_refuses_duplicates),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
