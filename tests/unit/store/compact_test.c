/*
 * tests/unit/store/compact_test.c - compaction (store/compact.c) and fsck
 * (store/fsck.c) of merged containers, through the store API on real
 * RocksDB and real files.
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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define NOBJ 20

/* Merge path on, flushed only by a clean close (no idle flush: a slow
 * machine must not split the test's container), collector with no delay,
 * background compaction off (the tests run it). */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct store_bucket b = {.name = "bkt", .region = "us-east-1"};

    fx_tmpdir_create(f->dir, sizeof f->dir, "compact");
    fx_cfg_make(&f->cfg, f->dir, FX_BLOCK, FX_STRIPE, 0);
    f->cfg.small_threshold = 1u << 20;
    f->cfg.idle_flush_ms = 600000;
    f->cfg.compact_dead_percent = 0;
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    b.acl.owner = "alice";
    assert_int_equal(store_bucket_create(f->s, &b), RS_OK);
    *state = f;
    return 0;
}

static size_t obj_size(int i)
{
    return 1000 + (size_t)i * 777;
}

/* The merged container of key. */
static void container_of(struct store *s, const char *key, char *out)
{
    struct rs_arena *a = rs_arena_new();
    struct store_layout l;
    struct store_obj o;

    assert_int_equal(store_object_head(s, a, &o, "bkt", key), RS_OK);
    assert_int_equal(store__layout_decode(&l, o._layout, o._layout_len),
                     RS_OK);
    assert_int_equal(l.nruns, 1);
    assert_true(l.runs[0].flags & STORE_RUN_MERGED);
    memcpy(out, l.runs[0].container, STORE_CNAME_SIZE);
    store__layout_dispose(&l);
    rs_arena_free(a);
}

static bool container_file(struct fx *f, const char *name)
{
    char path[512];
    struct stat sb;

    snprintf(path, sizeof path, "%s/standard/%.2s/%.2s/%s", f->dir, name,
             name + 2, name);
    return stat(path, &sb) == 0;
}

static void put_all(struct fx *f, uint8_t **data)
{
    for (int i = 0; i < NOBJ; i++) {
        char key[32];
        snprintf(key, sizeof key, "obj-%02d", i);
        data[i] = fx_pattern(obj_size(i), (uint32_t)i + 7);
        fx_put_ok(f->s, key, data[i], obj_size(i));
    }
    fx_reopen(f);                /* a clean close flushes */
}

static void free_all(uint8_t **data)
{
    for (int i = 0; i < NOBJ; i++)
        free(data[i]);
}

static void test_compact_moves_live_objects_and_frees_the_container(
    void **state)
{
    struct fx *f = *state;
    uint8_t *data[NOBJ];
    char old[STORE_CNAME_SIZE], now[STORE_CNAME_SIZE];
    struct store_compact_stats st;
    struct store_fsck_opts fo = {0};
    struct store_fsck_report fr;
    struct rs_kv tag = {"plate", "ABC123"};
    struct rs_arena *a;
    struct store_obj before, after;
    size_t removed = 0;

    put_all(f, data);
    container_of(f->s, "obj-00", old);
    assert_true(container_file(f, old));

    /* Below the threshold: nothing happens. */
    assert_int_equal(store_compact(f->s, 50, &st), RS_OK);
    assert_int_equal(st.containers_scanned, 1);
    assert_int_equal(st.containers_compacted, 0);

    /* Delete 15 of 20, tag a survivor, remember its metadata. */
    for (int i = 0; i < NOBJ; i++) {
        char key[32];
        if (i % 4 == 0)
            continue;
        snprintf(key, sizeof key, "obj-%02d", i);
        assert_int_equal(store_object_delete(f->s, "bkt", key), RS_OK);
    }
    assert_int_equal(store_object_set_tags(f->s, "bkt", "obj-04", &tag, 1),
                     RS_OK);
    a = rs_arena_new();
    assert_int_equal(store_object_head(f->s, a, &before, "bkt", "obj-04"),
                     RS_OK);

    assert_int_equal(store_compact(f->s, 50, &st), RS_OK);
    assert_int_equal(st.containers_compacted, 1);
    assert_int_equal(st.objects_moved, 5);
    assert_int_equal(st.errors, 0);

    /* Survivors: same bytes, in a new container, metadata kept. */
    for (int i = 0; i < NOBJ; i += 4) {
        char key[32];
        snprintf(key, sizeof key, "obj-%02d", i);
        fx_check_obj(f->s, key, data[i], obj_size(i));
        container_of(f->s, key, now);
        assert_string_not_equal(now, old);
    }
    assert_int_equal(store_object_head(f->s, a, &after, "bkt", "obj-04"),
                     RS_OK);
    assert_string_equal(after.etag, before.etag);
    assert_int_equal(after.mtime_ns, before.mtime_ns);
    assert_int_equal(after.ntags, 1);
    assert_string_equal(after.tags[0].value, "ABC123");
    rs_arena_free(a);

    /* The old container goes with the collector. */
    assert_int_equal(store__gc_pass(f->s, &removed), RS_OK);
    assert_true(removed >= 1);
    assert_false(container_file(f, old));

    /* And the store agrees with itself. */
    assert_int_equal(store_fsck(f->s, &fo, &fr), RS_OK);
    assert_int_equal(fr.objects, 5);
    assert_int_equal(fr.missing + fr.corrupt + fr.orphans + fr.unreferenced +
                         fr.counters,
                     0);
    /* After a restart too. */
    fx_reopen(f);
    for (int i = 0; i < NOBJ; i += 4) {
        char key[32];
        snprintf(key, sizeof key, "obj-%02d", i);
        fx_check_obj(f->s, key, data[i], obj_size(i));
    }
    assert_false(container_file(f, old));
    free_all(data);
}

static void test_compact_of_a_dead_container_moves_nothing(void **state)
{
    struct fx *f = *state;
    uint8_t *data[NOBJ];
    char old[STORE_CNAME_SIZE];
    struct store_compact_stats st;
    struct store_stats ss;
    size_t removed = 0;

    put_all(f, data);
    container_of(f->s, "obj-00", old);
    assert_int_equal(store_get_stats(f->s, &ss), RS_OK);
    assert_int_equal(ss.merge.containers_on_disk, 1);
    for (int i = 0; i < NOBJ; i++) {
        char key[32];
        snprintf(key, sizeof key, "obj-%02d", i);
        assert_int_equal(store_object_delete(f->s, "bkt", key), RS_OK);
    }
    assert_int_equal(store_compact(f->s, 90, &st), RS_OK);
    assert_int_equal(st.containers_compacted, 1);
    assert_int_equal(st.objects_moved, 0);
    assert_int_equal(store__gc_pass(f->s, &removed), RS_OK);
    assert_false(container_file(f, old));
    assert_int_equal(store_get_stats(f->s, &ss), RS_OK);
    assert_int_equal(ss.merge.containers_on_disk, 0);
    assert_int_equal(ss.merge.compactions, 1);
    /* Nothing left to compact. */
    assert_int_equal(store_compact(f->s, 0, &st), RS_OK);
    assert_int_equal(st.containers_scanned, 0);
    free_all(data);
}

struct problems {
    int orphan, corrupt, missing, counter;
};

static void collect(void *arg, const char *kind, const char *msg)
{
    struct problems *p = arg;

    (void)msg;
    if (!strcmp(kind, "orphan"))
        p->orphan++;
    else if (!strcmp(kind, "corrupt"))
        p->corrupt++;
    else if (!strcmp(kind, "missing"))
        p->missing++;
    else if (!strcmp(kind, "dead-counter"))
        p->counter++;
}

static void test_fsck_finds_and_repairs(void **state)
{
    struct fx *f = *state;
    uint8_t *data[NOBJ];
    char ctr[STORE_CNAME_SIZE], path[512];
    struct problems pr = {0};
    struct store_fsck_opts fo = {.verify = true, .report = collect,
                                 .arg = &pr};
    struct store_fsck_report fr;
    struct rs_arena *a = rs_arena_new();
    struct store_reader *r;
    struct store_obj o;
    struct store_layout l;
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    uint64_t dead[2] = {12345, 1};
    uint8_t buf[64 * 1024];
    size_t got;
    int fd;

    put_all(f, data);
    container_of(f->s, "obj-03", ctr);

    /* 1. An orphan file nobody refers to. */
    snprintf(path, sizeof path, "%s/standard/ab", f->dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/standard/ab/cd", f->dir);
    mkdir(path, 0755);
    snprintf(path, sizeof path,
             "%s/standard/ab/cd/abcd0000000000000000000000000001", f->dir);
    fd = open(path, O_WRONLY | O_CREAT, 0644);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "junk", 4), 4);
    close(fd);

    /* 2. A flipped byte inside obj-03's data. */
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "obj-03"), RS_OK);
    assert_int_equal(store__layout_decode(&l, o._layout, o._layout_len),
                     RS_OK);
    snprintf(path, sizeof path, "%s/standard/%.2s/%.2s/%s", f->dir, ctr,
             ctr + 2, ctr);
    fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    {
        uint8_t c;
        off_t at = (off_t)l.runs[0].offset + 100;
        assert_int_equal(pread(fd, &c, 1, at), 1);
        c ^= 0x40;
        assert_int_equal(pwrite(fd, &c, 1, at), 1);
    }
    close(fd);
    store__layout_dispose(&l);

    /* 3. A dead counter that drifted. */
    b = idx_batch_begin(f->s->ix);
    idx_batch_add(b, k, idx_key_dead(k, ctr), dead, 2);
    assert_int_equal(idx_batch_commit(b, true), RS_OK);

    /* The damaged object is never served with wrong bytes. */
    assert_int_equal(store_reader_open(f->s, &r, &o), RS_OK);
    assert_int_equal(store_reader_read(r, 0, buf, sizeof buf, &got),
                     RS_ECORRUPT);
    store_reader_close(r);

    assert_int_equal(store_fsck(f->s, &fo, &fr), RS_OK);
    assert_int_equal(fr.objects, NOBJ);
    assert_int_equal(fr.orphans, 1);
    assert_int_equal(fr.corrupt, 1);
    assert_int_equal(fr.missing, 0);
    assert_int_equal(fr.counters, 1);
    assert_int_equal(fr.repaired, 0);
    assert_int_equal(pr.orphan, 1);
    assert_int_equal(pr.corrupt, 1);
    assert_int_equal(pr.counter, 1);

    /* Repair: the broken object's record goes, the counter is rewritten,
     * the orphan is handed to the collector. */
    memset(&pr, 0, sizeof pr);
    fo.repair = true;
    assert_int_equal(store_fsck(f->s, &fo, &fr), RS_OK);
    assert_true(fr.repaired >= 3);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "obj-03"),
                     RS_ENOTFOUND);
    assert_int_equal(store__gc_pass(f->s, NULL), RS_OK);
    assert_true(access(path, F_OK) == 0);      /* the shared container */
    snprintf(path, sizeof path,
             "%s/standard/ab/cd/abcd0000000000000000000000000001", f->dir);
    assert_true(access(path, F_OK) != 0);      /* the orphan */

    /* Clean now, and every other object intact. */
    memset(&pr, 0, sizeof pr);
    fo.repair = false;
    assert_int_equal(store_fsck(f->s, &fo, &fr), RS_OK);
    assert_int_equal(fr.orphans + fr.corrupt + fr.missing + fr.counters +
                         fr.unreferenced,
                     0);
    for (int i = 0; i < NOBJ; i++) {
        char key[32];
        if (i == 3)
            continue;
        snprintf(key, sizeof key, "obj-%02d", i);
        fx_check_obj(f->s, key, data[i], obj_size(i));
    }
    rs_arena_free(a);
    free_all(data);
}

static void test_fsck_reports_a_missing_container(void **state)
{
    struct fx *f = *state;
    uint8_t *data[NOBJ];
    char ctr[STORE_CNAME_SIZE], path[512];
    struct problems pr = {0};
    struct store_fsck_opts fo = {.verify = true, .report = collect,
                                 .arg = &pr};
    struct store_fsck_report fr;

    put_all(f, data);
    container_of(f->s, "obj-00", ctr);
    store_close(f->s);
    f->s = NULL;
    snprintf(path, sizeof path, "%s/standard/%.2s/%.2s/%s", f->dir, ctr,
             ctr + 2, ctr);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    assert_int_equal(store_fsck(f->s, &fo, &fr), RS_OK);
    assert_int_equal(fr.missing, NOBJ);
    assert_int_equal(pr.missing, NOBJ);
    free_all(data);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_compact_moves_live_objects_and_frees_the_container, setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_compact_of_a_dead_container_moves_nothing, setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_fsck_finds_and_repairs, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_fsck_reports_a_missing_container, setup, fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
