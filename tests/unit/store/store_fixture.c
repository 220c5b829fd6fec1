/*
 * tests/unit/store/store_fixture.c - the fixture shared by the store unit
 * tests, as declared in store_fixture.h: temporary directories, the
 * struct fx store fixture (setup, teardown, reopen), the object data
 * helpers, and fx_run_child for tests that need a second process.  No
 * state of its own beyond the file counter that fx_count_containers hands
 * to nftw; one thread at a time.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store_fixture.h"

#include <errno.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

/* ------------------------------------------------------------------ */
/* Temporary directories                                               */
/* ------------------------------------------------------------------ */

void fx_tmpdir_create(char *dir, size_t size, const char *tag)
{
    snprintf(dir, size, "/tmp/rs-%s-test-XXXXXX", tag);
    assert_non_null(mkdtemp(dir));
}

static int rm_cb(const char *p, const struct stat *sb, int flag,
                 struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void fx_tmpdir_remove(const char *dir)
{
    /* Cleanup only: a directory left in /tmp must not fail a test that
     * passed, so the result is not checked. */
    (void)nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ------------------------------------------------------------------ */
/* Store fixture                                                       */
/* ------------------------------------------------------------------ */

void fx_cfg_make(struct rs_config *c, const char *dir, uint32_t block,
                 uint64_t stripe, int gc_delay)
{
    rs_config_init(c);
    free(c->data_dir);
    c->data_dir = rs_xstrdup(dir);
    c->block_size = block;
    c->stripe_size = stripe;
    c->gc_delay = gc_delay;
    c->index_cache = 4u << 20;
    /* These fixtures test the per-object container path; merge_test.c
     * turns the merge path on itself. */
    c->small_threshold = 0;
    rs_config_finish(c);
}

int fx_setup_with(void **state, uint32_t block, uint64_t stripe)
{
    struct fx *f = calloc(1, sizeof *f);
    struct store_bucket b = {.name = "bkt", .region = "us-east-1"};

    fx_tmpdir_create(f->dir, sizeof f->dir, "store");
    fx_cfg_make(&f->cfg, f->dir, block, stripe, 3600);
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    b.acl.owner = "alice";
    assert_int_equal(store_bucket_create(f->s, &b), RS_OK);
    *state = f;
    return 0;
}

int fx_setup(void **state)
{
    return fx_setup_with(state, FX_BLOCK, FX_STRIPE);
}

int fx_setup_default(void **state)
{
    return fx_setup_with(state, 0, 0);  /* 64 KiB blocks, 8 MiB stripes */
}

int fx_teardown(void **state)
{
    struct fx *f = *state;
    store_close(f->s);
    rs_config_dispose(&f->cfg);
    fx_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

void fx_reopen(struct fx *f)
{
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
}

/* ------------------------------------------------------------------ */
/* Object data                                                          */
/* ------------------------------------------------------------------ */

uint8_t *fx_pattern(size_t n, uint32_t seed)
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

/* The chunk sizes vary (7777, then chunk * 3 % 100003 + 1) so writes
 * straddle block and stripe boundaries at many different offsets. */
int fx_put_obj(struct store *s, const char *bucket, const char *key,
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

void fx_put_ok(struct store *s, const char *key, const uint8_t *p, size_t n)
{
    assert_int_equal(fx_put_obj(s, "bkt", key, p, n, NULL), RS_OK);
}

void fx_check_range(struct store *s, const char *key, const uint8_t *p,
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

void fx_check_obj(struct store *s, const char *key, const uint8_t *p,
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
        fx_check_range(s, key, p, 0, n);
    /* At the end: got 0. */
    assert_int_equal(store_reader_open(s, &r, &o), RS_OK);
    assert_int_equal(store_reader_read(r, n, tail, sizeof tail, &got), RS_OK);
    assert_int_equal(got, 0);
    store_reader_close(r);
    rs_arena_free(a);
}

/* nftw has no argument for its callback: count_cb counts into this. */
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

int fx_count_containers(struct fx *f, const char *group)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", f->dir, group);
    count_files_cb_n = 0;
    /* A group directory not created yet holds no containers: count 0. */
    (void)nftw(path, count_cb, 16, FTW_PHYS);
    return count_files_cb_n;
}

uint64_t fx_gc_pending(struct fx *f)
{
    struct store_stats st;
    assert_int_equal(store_get_stats(f->s, &st), RS_OK);
    return st.gc_pending;
}

/* ------------------------------------------------------------------ */
/* Child processes                                                      */
/* ------------------------------------------------------------------ */

/* /proc/self/exe is this program, whatever path it was started by. */
int fx_spawn_crash(char *const argv[], const char *point)
{
    char env_cp[128];
    char **envp;
    size_t ne = 0;
    pid_t pid;
    int st;

    while (environ[ne])
        ne++;
    envp = calloc(ne + 2, sizeof *envp);
    ne = 0;
    for (size_t i = 0; environ[i]; i++)
        if (strncmp(environ[i], "ROADSTORE_CRASHPOINT=", 21) != 0)
            envp[ne++] = environ[i];
    if (point) {
        snprintf(env_cp, sizeof env_cp, "ROADSTORE_CRASHPOINT=%s", point);
        envp[ne++] = env_cp;
    }
    assert_int_equal(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv,
                                 envp), 0);
    free(envp);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    return st;
}

int fx_run_child(const char *mode, const char *dir)
{
    char *argv[] = {program_invocation_short_name, (char *)mode, (char *)dir,
                    NULL};
    pid_t pid;
    int st;

    assert_int_equal(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv,
                                 environ), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    return WEXITSTATUS(st);
}
