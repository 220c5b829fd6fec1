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

#include <dirent.h>
#include <fcntl.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define BLOCK 4096u
#define STRIPE 65536u

/* ------------------------------------------------------------------ */
/* Fixture                                                              */
/* ------------------------------------------------------------------ */

struct fx {
    char dir[256];
    struct rs_config cfg;
    struct store *s;
};

static void cfg_make(struct rs_config *c, const char *dir, uint32_t block,
                     uint64_t stripe, int gc_delay)
{
    rs_config_init(c);
    free(c->data_dir);
    c->data_dir = rs_xstrdup(dir);
    c->block_size = block;
    c->stripe_size = stripe;
    c->gc_delay = gc_delay;
    c->index_cache = 4u << 20;
    rs_config_finish(c);
}

static int fx_setup_with(void **state, uint32_t block, uint64_t stripe)
{
    struct fx *f = calloc(1, sizeof *f);
    struct store_bucket b = {.name = "bkt", .region = "us-east-1"};

    snprintf(f->dir, sizeof f->dir, "/tmp/rs-store-test-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    cfg_make(&f->cfg, f->dir, block, stripe, 3600);
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    b.acl.owner = "alice";
    assert_int_equal(store_bucket_create(f->s, &b), RS_OK);
    *state = f;
    return 0;
}

static int fx_setup(void **state)
{
    return fx_setup_with(state, BLOCK, STRIPE);
}

static int fx_setup_default(void **state)
{
    return fx_setup_with(state, 0, 0);  /* 64 KiB blocks, 8 MiB stripes */
}

static int rm_cb(const char *p, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int fx_teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    rs_config_dispose(&f->cfg);
    nftw(f->dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void fx_reopen(struct fx *f)
{
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static uint8_t *pattern(size_t n, uint32_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    uint32_t x = seed * 2654435761u + 1;
    for (size_t i = 0; i < n; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (uint8_t)x;
    }
    return p;
}

/* Write n bytes in uneven chunks and commit. */
static int put_obj(struct store *s, const char *bucket, const char *key,
                   const uint8_t *p, size_t n, const char *cls)
{
    struct store_writer *w;
    struct store_obj info = {0};
    size_t off = 0, chunk = 7777;
    int rc;

    if ((rc = store_writer_open(s, &w, bucket, key, cls)) != RS_OK)
        return rc;
    while (off < n) {
        size_t k = n - off < chunk ? n - off : chunk;
        if ((rc = store_writer_write(w, p + off, k)) != RS_OK) {
            store_writer_abort(w);
            return rc;
        }
        off += k;
        chunk = chunk * 3 % 100003 + 1;
    }
    assert_int_equal(store_writer_size(w), n);
    info.etag = "0123456789abcdef0123456789abcdef";
    info.acl.owner = "alice";
    return store_writer_commit(w, &info);
}

static void put_ok(struct store *s, const char *key, const uint8_t *p,
                   size_t n)
{
    assert_int_equal(put_obj(s, "bkt", key, p, n, NULL), RS_OK);
}

/* Read [off, off+n) through a fresh reader and compare. */
static void check_range(struct store *s, const char *key, const uint8_t *p,
                        uint64_t off, size_t n)
{
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_reader *r;
    uint8_t *buf = malloc(n + 1);
    size_t done = 0, got;

    assert_int_equal(store_object_head(s, a, &o, "bkt", key), RS_OK);
    assert_int_equal(store_reader_open(s, &r, &o), RS_OK);
    while (done < n) {
        assert_int_equal(store_reader_read(r, off + done, buf + done,
                                           n - done, &got), RS_OK);
        assert_true(got > 0);
        done += got;
    }
    assert_memory_equal(buf, p + off, n);
    store_reader_close(r);
    free(buf);
    rs_arena_free(a);
}

static void check_obj(struct store *s, const char *key, const uint8_t *p,
                      size_t n)
{
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_reader *r;
    uint8_t tail[8];
    size_t got;

    assert_int_equal(store_object_head(s, a, &o, "bkt", key), RS_OK);
    assert_int_equal(o.size, n);
    if (n)
        check_range(s, key, p, 0, n);
    /* At the end: got 0. */
    assert_int_equal(store_reader_open(s, &r, &o), RS_OK);
    assert_int_equal(store_reader_read(r, n, tail, sizeof tail, &got), RS_OK);
    assert_int_equal(got, 0);
    store_reader_close(r);
    rs_arena_free(a);
}

static int count_files_cb_n;
static int count_cb(const char *p, const struct stat *sb, int flag,
                    struct FTW *ftw)
{
    (void)p;
    (void)sb;
    (void)ftw;
    if (flag == FTW_F)
        count_files_cb_n++;
    return 0;
}

/* Containers in a group directory. */
static int count_containers(struct fx *f, const char *group)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->dir, group);
    count_files_cb_n = 0;
    nftw(path, count_cb, 16, FTW_PHYS);
    return count_files_cb_n;
}


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

static uint64_t gc_pending(struct fx *f)
{
    struct store_stats st;
    assert_int_equal(store_get_stats(f->s, &st), RS_OK);
    return st.gc_pending;
}

static void test_gc_removes_replaced_containers_after_delay(void **state)
{
    struct fx *f = *state;
    uint8_t *p = pattern(3 * STRIPE, 1);

    set_gc_delay(f, 2);
    put_ok(f->s, "k", p, 3 * STRIPE);
    put_ok(f->s, "k", p, STRIPE);
    assert_int_equal(count_containers(f, "standard"), 2);
    assert_int_equal(gc_now(f), 0);          /* younger than gc_delay */
    assert_int_equal(count_containers(f, "standard"), 2);
    sleep(3);
    /* The collector thread may have been first. */
    assert_true(gc_now(f) <= 1);
    assert_int_equal(count_containers(f, "standard"), 1);
    assert_int_equal(gc_pending(f), 0);
    check_obj(f->s, "k", p, STRIPE);
    free(p);
}

static void test_gc_keeps_container_pinned_by_reader(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    uint8_t *p1 = pattern(2 * STRIPE + 9, 1), *p2 = pattern(10, 2);
    uint8_t *buf = malloc(2 * STRIPE + 9);
    struct store_obj o;
    struct store_reader *r;
    size_t got, done = 0;

    set_gc_delay(f, 0);
    put_ok(f->s, "k", p1, 2 * STRIPE + 9);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "k"), RS_OK);
    assert_int_equal(store_reader_open(f->s, &r, &o), RS_OK);
    put_ok(f->s, "k", p2, 10);
    assert_int_equal(gc_now(f), 0);          /* pinned */
    assert_int_equal(count_containers(f, "standard"), 2);
    assert_int_equal(gc_pending(f), 1);
    while (done < 2 * STRIPE + 9) {
        assert_int_equal(store_reader_read(r, done, buf + done,
                                           2 * STRIPE + 9 - done, &got),
                         RS_OK);
        done += got;
    }
    assert_memory_equal(buf, p1, done);
    store_reader_close(r);
    assert_true(gc_now(f) <= 1); /* or the thread was first */
    assert_int_equal(count_containers(f, "standard"), 1);
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
    uint8_t *p = pattern(100, 3);

    set_gc_delay(f, 0);
    put_ok(f->s, "a", p, 100);
    put_ok(f->s, "a", p, 50);
    put_ok(f->s, "b", p, 100);
    assert_int_equal(store_object_delete(f->s, "bkt", "b"), RS_OK);
    for (int i = 0; i < 100 && gc_pending(f) > 0; i++)
        usleep(50 * 1000);
    assert_int_equal(gc_pending(f), 0);
    assert_int_equal(count_containers(f, "standard"), 1);
    free(p);
}

static void test_gc_pending_survives_reopen(void **state)
{
    struct fx *f = *state;
    uint8_t *p = pattern(100, 3);

    put_ok(f->s, "a", p, 100);
    put_ok(f->s, "a", p, 50);
    fx_reopen(f);
    assert_int_equal(gc_pending(f), 1);
    set_gc_delay(f, 0);
    assert_true(gc_now(f) <= 1); /* or the thread was first */
    assert_int_equal(count_containers(f, "standard"), 1);
    free(p);
}

static int run_child(const char *mode, const char *dir)
{
    char *argv[] = {"gc_test", (char *)mode, (char *)dir, NULL};
    pid_t pid;
    int st;

    assert_int_equal(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv,
                                 environ), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}

static void test_gc_crashed_writer_container_becomes_garbage(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;

    store_close(f->s);
    f->s = NULL;
    assert_int_equal(run_child("--child-crash-writer", f->dir), 0);
    assert_int_equal(count_containers(f, "standard"), 1);
    f->cfg.gc_delay = 3600;
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    assert_int_equal(gc_pending(f), 1);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "crash"),
                     RS_ENOTFOUND);
    set_gc_delay(f, 0);
    assert_true(gc_now(f) <= 1); /* or the thread was first */
    assert_int_equal(count_containers(f, "standard"), 0);
    rs_arena_free(a);
}

/* Child: write without commit, then die without cleaning up. */
static int child_crash_writer(const char *dir)
{
    struct rs_config c;
    struct store *s;
    struct store_writer *w;
    uint8_t *p = pattern(3 * STRIPE, 8);

    cfg_make(&c, dir, BLOCK, STRIPE, 3600);
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

    (void)fx_setup_default;
    (void)check_range;
    if (argc == 3 && strcmp(argv[1], "--child-crash-writer") == 0)
        return child_crash_writer(argv[2]);
    rs_log_set_level(RS_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
