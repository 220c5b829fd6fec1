/*
 * tests/unit/store/crashpoint_test.c - kill -9 at exact steps of the merge
 * path (rs_crashpoint, core/rs.h), then reopen: nothing acknowledged is
 * lost, nothing unacknowledged appears with wrong bytes, and the store
 * agrees with itself (fsck finds nothing, compaction can see every
 * container).
 *
 * Each case runs this program twice as a child through /proc/self/exe:
 *   --child-put DIR FIRST N   put objects FIRST..FIRST+N-1, recording each
 *                             acknowledged one in DIR/acked (fsync'ed),
 *                             then close the store (a clean close flushes)
 * the first child without a crash point (objects 0..19 acknowledged, then
 * it kills itself before closing, so they live in the WAL only), the
 * second with ROADSTORE_CRASHPOINT set, where it dies.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/store.h"
#include "store/store_int.h"
#include "store_fixture.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define NFIRST 20
#define NSECOND 10

static void cfg_make(struct rs_config *c, const char *dir)
{
    fx_cfg_make(c, dir, FX_BLOCK, FX_STRIPE, 0);
    c->small_threshold = 1u << 20;
    c->idle_flush_ms = 600000;   /* flush only at close */
    c->compact_dead_percent = 0;
}

static size_t obj_size(int i)
{
    return 500 + (size_t)i * 1237;
}

static void key_of(char *out, size_t n, int i)
{
    snprintf(out, n, "cp-%03d", i);
}

/* ------------------------------------------------------------------ */
/* The child                                                            */
/* ------------------------------------------------------------------ */

static int child_put(const char *dir, int first, int n, bool die)
{
    struct rs_config c;
    struct store *s;
    char path[512];
    int fd;

    cfg_make(&c, dir);
    if (store_open(&s, &c) != RS_OK)
        return 3;
    snprintf(path, sizeof path, "%s/acked", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0)
        return 4;
    for (int i = first; i < first + n; i++) {
        struct store_writer *w;
        struct store_obj info = {0};
        uint8_t *p = fx_pattern(obj_size(i), (uint32_t)i);
        char key[32], line[16];

        key_of(key, sizeof key, i);
        info.etag = "0";
        if (store_writer_open(s, &w, "bkt", key, "STANDARD") != RS_OK ||
            store_writer_write(w, p, obj_size(i)) != RS_OK ||
            store_writer_commit(w, &info) != RS_OK)
            return 5;
        free(p);
        snprintf(line, sizeof line, "%d\n", i);
        if (write(fd, line, strlen(line)) < 0 || fsync(fd) != 0)
            return 6;
    }
    close(fd);
    if (die)
        raise(SIGKILL);
    store_close(s);
    rs_config_dispose(&c);
    return 0;
}

/* Run a child; returns its wait status. */
static int spawn_child(const char *point, const char *dir, int first, int n,
                       bool die)
{
    char a1[16], a2[16];
    char *argv[] = {"crashpoint_test", die ? "--child-put-die" : "--child-put",
                    (char *)dir, a1, a2, NULL};

    snprintf(a1, sizeof a1, "%d", first);
    snprintf(a2, sizeof a2, "%d", n);
    return fx_spawn_crash(argv, point);
}

/* ------------------------------------------------------------------ */
/* The cases                                                            */
/* ------------------------------------------------------------------ */

static int acked_set(const char *dir, bool *acked, int max)
{
    char path[512], line[32];
    FILE *f;
    int n = 0;

    snprintf(path, sizeof path, "%s/acked", dir);
    memset(acked, 0, (size_t)max * sizeof *acked);
    if (!(f = fopen(path, "r")))
        return 0;
    while (fgets(line, sizeof line, f)) {
        int i = atoi(line);
        if (i >= 0 && i < max) {
            acked[i] = true;
            n++;
        }
    }
    fclose(f);
    return n;
}

static void run_case(const char *point)
{
    char dir[256];
    struct rs_config c;
    struct store *s;
    struct store_bucket b = {.name = "bkt", .region = "us-east-1"};
    bool acked[NFIRST + NSECOND];
    struct store_fsck_opts fo = {.verify = true};
    struct store_fsck_report fr;
    struct store_compact_stats cs;
    struct rs_arena *a = rs_arena_new();
    int st, n;

    fx_tmpdir_create(dir, sizeof dir, "crashpoint");
    cfg_make(&c, dir);
    assert_int_equal(store_open(&s, &c), RS_OK);
    b.acl.owner = "alice";
    assert_int_equal(store_bucket_create(s, &b), RS_OK);
    store_close(s);

    /* Phase 1: acknowledged, then killed: in the WAL only. */
    st = spawn_child(NULL, dir, 0, NFIRST, true);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    /* Phase 2: replays them, puts more, closes; dies at the point. */
    st = spawn_child(point, dir, NFIRST, NSECOND, false);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);

    n = acked_set(dir, acked, NFIRST + NSECOND);
    assert_true(n >= NFIRST);
    assert_int_equal(store_open(&s, &c), RS_OK);
    for (int i = 0; i < NFIRST + NSECOND; i++) {
        char key[32];
        struct store_obj o;
        uint8_t *p = fx_pattern(obj_size(i), (uint32_t)i);
        int rc;

        key_of(key, sizeof key, i);
        rc = store_object_head(s, a, &o, "bkt", key);
        if (acked[i]) {
            assert_int_equal(rc, RS_OK);
        } else if (rc != RS_OK) {
            /* Never acknowledged and not there: allowed. */
            assert_int_equal(rc, RS_ENOTFOUND);
            free(p);
            continue;
        }
        /* There: its bytes are exactly what was written. */
        fx_check_obj(s, key, p, obj_size(i));
        free(p);
    }
    /* The store agrees with itself. */
    assert_int_equal(store_fsck(s, &fo, &fr), RS_OK);
    assert_int_equal(fr.missing + fr.corrupt + fr.orphans + fr.unreferenced +
                         fr.counters,
                     0);
    /* Every merged container is known to compaction (a full rewrite
     * scans them all and keeps every object). */
    store_close(s);
    assert_int_equal(store_open(&s, &c), RS_OK);
    assert_int_equal(store_compact(s, 0, &cs), RS_OK);
    assert_true(cs.containers_scanned >= 1);
    assert_int_equal(cs.errors, 0);
    for (int i = 0; i < NFIRST + NSECOND; i++) {
        char key[32];
        struct store_obj o;
        uint8_t *p;

        key_of(key, sizeof key, i);
        if (store_object_head(s, a, &o, "bkt", key) != RS_OK) {
            assert_false(acked[i]);
            continue;
        }
        p = fx_pattern(obj_size(i), (uint32_t)i);
        fx_check_obj(s, key, p, obj_size(i));
        free(p);
    }
    store_close(s);
    rs_config_dispose(&c);
    rs_arena_free(a);
    fx_tmpdir_remove(dir);
}

/* Right after a PUT's record is durable and indexed, before the caller
 * hears of it. */
static void test_crash_after_put_logged(void **state)
{
    (void)state;
    run_case("merge-put-logged");
}

/* After the WAL write, before its fdatasync: the batch was never
 * acknowledged. */
static void test_crash_after_wal_write(void **state)
{
    (void)state;
    run_case("wal-written");
}

/* A flushed container file is synced but nothing says so yet: replay
 * must rebuild it in memory and write it again over the old file. */
static void test_crash_after_flush_synced(void **state)
{
    (void)state;
    run_case("merge-flush-synced");
}

/* The FLUSHED record is logged but the c/ record is not written: replay
 * must not rebuild the container, and must write its c/ record. */
static void test_crash_after_flushed_logged(void **state)
{
    (void)state;
    run_case("merge-flushed-logged");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crash_after_put_logged),
        cmocka_unit_test(test_crash_after_wal_write),
        cmocka_unit_test(test_crash_after_flush_synced),
        cmocka_unit_test(test_crash_after_flushed_logged),
    };

    if (argc == 5 && strcmp(argv[1], "--child-put") == 0)
        return child_put(argv[2], atoi(argv[3]), atoi(argv[4]), false);
    if (argc == 5 && strcmp(argv[1], "--child-put-die") == 0)
        return child_put(argv[2], atoi(argv[3]), atoi(argv[4]), true);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
