/*
 * tests/unit/store/gc_test.c - the garbage collector (store/gc.c) and the
 * pins of readers (reader.c), on a real RocksDB and real files.  The
 * crashed-writer test runs the writer in a child process (this program
 * with --child-crash-writer) that exits without commit or abort.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/store.h"
#include "store/store_int.h"
#include "store_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Short names for the fixture's geometry (fx_setup), used throughout. */
#define BLOCK FX_BLOCK
#define STRIPE FX_STRIPE

/* ------------------------------------------------------------------ */
/* Helpers (the fixture and data helpers are in store_fixture.c)        */
/* ------------------------------------------------------------------ */

static void set_gc_delay(struct fx *f, int delay)
{
    store_close(f->s);
    f->cfg.gc_delay = delay;
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
}

static size_t gc_now(struct fx *f)
{
    size_t removed = 99;
    assert_int_equal(store__gc_pass(f->s, &removed), RS_OK);
    return removed;
}

static void test_gc_removes_replaced_containers_after_delay(void **state)
{
    struct fx *f = *state;
    uint8_t *p = fx_pattern(3 * STRIPE, 1);

    set_gc_delay(f, 2);
    fx_put_ok(f->s, "k", p, 3 * STRIPE);
    fx_put_ok(f->s, "k", p, STRIPE);
    assert_int_equal(fx_count_containers(f, "standard"), 2);
    assert_int_equal(gc_now(f), 0);          /* younger than gc_delay */
    assert_int_equal(fx_count_containers(f, "standard"), 2);
    sleep(3);
    /* The collector thread may have been first. */
    assert_true(gc_now(f) <= 1);
    assert_int_equal(fx_count_containers(f, "standard"), 1);
    assert_int_equal(fx_gc_pending(f), 0);
    fx_check_obj(f->s, "k", p, STRIPE);
    free(p);
}

static void test_gc_keeps_container_pinned_by_reader(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    uint8_t *p1 = fx_pattern(2 * STRIPE + 9, 1), *p2 = fx_pattern(10, 2);
    uint8_t *buf = malloc(2 * STRIPE + 9);
    struct store_obj o;
    struct store_reader *r;
    size_t got, done = 0;

    set_gc_delay(f, 0);
    fx_put_ok(f->s, "k", p1, 2 * STRIPE + 9);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "k"), RS_OK);
    assert_int_equal(store_reader_open(f->s, &r, &o), RS_OK);
    fx_put_ok(f->s, "k", p2, 10);
    assert_int_equal(gc_now(f), 0);          /* pinned */
    assert_int_equal(fx_count_containers(f, "standard"), 2);
    assert_int_equal(fx_gc_pending(f), 1);
    while (done < 2 * STRIPE + 9) {
        assert_int_equal(store_reader_read(r, done, buf + done,
                                           2 * STRIPE + 9 - done, &got),
                         RS_OK);
        done += got;
    }
    assert_memory_equal(buf, p1, done);
    store_reader_close(r);
    assert_true(gc_now(f) <= 1); /* or the thread was first */
    assert_int_equal(fx_count_containers(f, "standard"), 1);
    /* A reader opened from the stale metadata now finds nothing. */
    assert_int_equal(store_reader_open(f->s, &r, &o), RS_ENOTFOUND);
    free(buf);
    free(p1);
    free(p2);
    rs_arena_free(a);
}

static void test_gc_thread_collects_in_background(void **state)
{
    struct fx *f = *state;
    uint8_t *p = fx_pattern(100, 3);

    set_gc_delay(f, 0);
    fx_put_ok(f->s, "a", p, 100);
    fx_put_ok(f->s, "a", p, 50);
    fx_put_ok(f->s, "b", p, 100);
    assert_int_equal(store_object_delete(f->s, "bkt", "b"), RS_OK);
    for (int i = 0; i < 100 && fx_gc_pending(f) > 0; i++)
        usleep(50 * 1000);
    assert_int_equal(fx_gc_pending(f), 0);
    assert_int_equal(fx_count_containers(f, "standard"), 1);
    free(p);
}

static void test_gc_pending_survives_reopen(void **state)
{
    struct fx *f = *state;
    uint8_t *p = fx_pattern(100, 3);

    fx_put_ok(f->s, "a", p, 100);
    fx_put_ok(f->s, "a", p, 50);
    fx_reopen(f);
    assert_int_equal(fx_gc_pending(f), 1);
    set_gc_delay(f, 0);
    assert_true(gc_now(f) <= 1); /* or the thread was first */
    assert_int_equal(fx_count_containers(f, "standard"), 1);
    free(p);
}

static void test_gc_crashed_writer_container_becomes_garbage(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;

    store_close(f->s);
    f->s = NULL;
    assert_int_equal(fx_run_child("--child-crash-writer", f->dir), 0);
    assert_int_equal(fx_count_containers(f, "standard"), 1);
    f->cfg.gc_delay = 3600;
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    assert_int_equal(fx_gc_pending(f), 1);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "crash"),
                     RS_ENOTFOUND);
    set_gc_delay(f, 0);
    assert_true(gc_now(f) <= 1); /* or the thread was first */
    assert_int_equal(fx_count_containers(f, "standard"), 0);
    rs_arena_free(a);
}

/* Child: write without commit, then die without cleaning up. */
static int child_crash_writer(const char *dir)
{
    struct rs_config c;
    struct store *s;
    struct store_writer *w;
    uint8_t *p = fx_pattern(3 * STRIPE, 8);

    fx_cfg_make(&c, dir, BLOCK, STRIPE, 3600);
    if (store_open(&s, &c) != RS_OK)
        _exit(10);
    if (store_writer_open(s, &w, "bkt", "crash", NULL) != RS_OK)
        _exit(11);
    if (store_writer_write(w, p, 3 * STRIPE) != RS_OK)
        _exit(12);
    _exit(0);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_gc_removes_replaced_containers_after_delay, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_gc_keeps_container_pinned_by_reader, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_gc_thread_collects_in_background,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_gc_pending_survives_reopen,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_gc_crashed_writer_container_becomes_garbage, fx_setup,
            fx_teardown),
    };

    if (argc == 3 && strcmp(argv[1], "--child-crash-writer") == 0)
        return child_crash_writer(argv[2]);
    rs_log_set_level(RS_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
