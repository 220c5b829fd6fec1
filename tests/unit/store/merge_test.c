/*
 * tests/unit/store/merge_test.c - the merge path for small objects
 * (store/merge.c with its WAL, store/wal.c) through the public store API,
 * with a look at the index where the design promises something there
 * (layouts flagged STORE_RUN_MERGED, c/ container records, x/ dead
 * counters, w/applied).  Real RocksDB and real files in a fresh temporary
 * directory per test; no mocks.
 *
 * Crash tests re-run this program with --child-crash* DIR through
 * /proc/self/exe: the child PUTs objects and kills itself with SIGKILL, so
 * nothing is flushed or closed; the parent then reopens the store.
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
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define BLOCK FX_BLOCK
#define SMALL (1u << 20)            /* small_threshold of every test */

/* ------------------------------------------------------------------ */
/* Configuration and fixture                                            */
/* ------------------------------------------------------------------ */

/* The merge path on: objects <= 1 MiB merged; threshold and cache 0 keep
 * the config defaults (128 MiB, 512 MiB).  Background compaction off: it
 * would move objects these tests look at. */
static void mcfg_make(struct rs_config *c, const char *dir, int idle_ms,
                      uint64_t threshold, uint64_t cache)
{
    rs_config_init(c);
    free(c->data_dir);
    c->data_dir = rs_xstrdup(dir);
    c->block_size = BLOCK;
    c->stripe_size = FX_STRIPE;
    c->gc_delay = 3600;
    c->index_cache = 4u << 20;
    c->small_threshold = SMALL;
    if (threshold)
        c->merge_threshold = threshold;
    if (cache)
        c->merge_cache = cache;
    c->idle_flush_ms = idle_ms;
    c->compact_dead_percent = 0;
    rs_config_finish(c);
}

static struct fx *mfx_new(int idle_ms, uint64_t threshold, uint64_t cache)
{
    struct fx *f = calloc(1, sizeof *f);
    struct store_bucket b = {.name = "bkt", .region = "us-east-1"};

    fx_tmpdir_create(f->dir, sizeof f->dir, "merge");
    mcfg_make(&f->cfg, f->dir, idle_ms, threshold, cache);
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    b.acl.owner = "alice";
    assert_int_equal(store_bucket_create(f->s, &b), RS_OK);
    return f;
}

/* Containers stay in memory (no idle flush during the test). */
static int setup_lazy(void **state)
{
    *state = mfx_new(60000, 0, 0);
    return 0;
}

static int setup_idle50(void **state)
{
    *state = mfx_new(50, 0, 0);
    return 0;
}

static int setup_small_containers(void **state)
{
    *state = mfx_new(60000, 256u << 10, 0);
    return 0;
}

static int setup_tight_memory(void **state)
{
    *state = mfx_new(20, 1u << 20, 8u << 20);
    return 0;
}

/* A bare fixture: directory and config, no store (crash tests). */
static int setup_dir_only(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    fx_tmpdir_create(f->dir, sizeof f->dir, "merge");
    mcfg_make(&f->cfg, f->dir, 60000, 0, 0);
    *state = f;
    return 0;
}

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

/* Buffers of the running test, freed by its teardown (also when an
 * assertion ends the test early). */
static void **kept;
static size_t nkept, capkept;

static void *keep(void *p)
{
    if (nkept == capkept) {
        capkept = capkept ? 2 * capkept : 256;
        kept = realloc(kept, capkept * sizeof *kept);
    }
    kept[nkept++] = p;
    return p;
}

static uint8_t *pat(size_t n, uint32_t seed)
{
    return keep(fx_pattern(n, seed));
}

static int mteardown(void **state)
{
    for (size_t i = 0; i < nkept; i++)
        free(kept[i]);
    nkept = 0;
    return fx_teardown(state);
}

/* A PUT without cmocka asserts (threads, child processes). */
static int plain_put(struct store *s, const char *key, const uint8_t *p,
                     size_t n)
{
    struct store_writer *w;
    struct store_obj info = {0};
    size_t off = 0, chunk = 5000;
    int rc;

    if ((rc = store_writer_open(s, &w, "bkt", key, NULL)) != RS_OK)
        return rc;
    while (off < n) {
        size_t k = n - off < chunk ? n - off : chunk;
        if ((rc = store_writer_write(w, p + off, k)) != RS_OK) {
            store_writer_abort(w);
            return rc;
        }
        off += k;
        chunk = chunk * 7 % 30011 + 1;
    }
    info.etag = "0123456789abcdef0123456789abcdef";
    info.acl.owner = "alice";
    return store_writer_commit(w, &info);
}

/* Read all of bucket/key into a malloc'ed buffer without cmocka asserts;
 * RS_OK only when the size is n and the bytes are p. */
static int plain_check(struct store *s, const char *key, const uint8_t *p,
                       size_t n)
{
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_reader *r = NULL;
    uint8_t *buf = malloc(n + 1);
    size_t done = 0, got;
    int rc;

    if ((rc = store_object_head(s, a, &o, "bkt", key)) != RS_OK)
        goto out;
    if (o.size != n) {
        rc = RS_ECORRUPT;
        goto out;
    }
    if ((rc = store_reader_open(s, &r, &o)) != RS_OK)
        goto out;
    while (done < n) {
        rc = store_reader_read(r, done, buf + done, n - done, &got);
        if (rc != RS_OK)
            goto out;
        if (got == 0) {
            rc = RS_ECORRUPT;
            goto out;
        }
        done += got;
    }
    rc = memcmp(buf, p, n) == 0 ? RS_OK : RS_ECORRUPT;
out:
    store_reader_close(r);
    free(buf);
    rs_arena_free(a);
    return rc;
}

static struct store_merge_stats mstats(struct store *s)
{
    struct store_stats st;
    assert_int_equal(store_get_stats(s, &st), RS_OK);
    assert_true(st.merge.enabled);
    return st.merge;
}

/* The layout of bucket "bkt"/key (must exist) into *l (dispose it). */
static void obj_layout(struct store *s, const char *key,
                       struct store_layout *l)
{
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;

    memset(l, 0, sizeof *l);
    assert_int_equal(store_object_head(s, a, &o, "bkt", key), RS_OK);
    if (o._layout)
        assert_int_equal(store__layout_decode(l, o._layout, o._layout_len),
                         RS_OK);
    rs_arena_free(a);
}

/* The merged run of key: one run, flagged merged, n bytes. */
static struct store_run merged_run(struct store *s, const char *key,
                                   size_t n)
{
    struct store_layout l;
    struct store_run r;

    obj_layout(s, key, &l);
    assert_int_equal(l.nruns, 1);
    assert_true(l.runs[0].flags & STORE_RUN_MERGED);
    assert_int_equal(l.runs[0].count, 1);
    assert_int_equal(l.runs[0].len, n);
    assert_int_equal(l.runs[0].block, BLOCK);
    assert_int_equal(l.runs[0].group, STORE_CLASS_STANDARD);
    r = l.runs[0];
    store__layout_dispose(&l);
    return r;
}

/* x/<container>: dead bytes and dead objects (0, 0 when absent). */
static void dead_counters(struct store *s, const char *container,
                          uint64_t *bytes, uint64_t *objects)
{
    char k[IDX_KEY_MAX], *v = NULL;
    size_t klen = idx_key_dead(k, container), vlen = 0;
    int rc = idx_get(&v, &vlen, s->ix, k, klen);
    const uint8_t *p = (const uint8_t *)v;

    *bytes = *objects = 0;
    if (rc == RS_ENOTFOUND)
        return;
    assert_int_equal(rc, RS_OK);
    assert_int_equal(vlen, 16);
    for (int i = 7; i >= 0; i--) {
        *bytes = *bytes << 8 | p[i];
        *objects = *objects << 8 | p[8 + i];
    }
    free(v);
}

/* The c/<container> record, decoded; false when there is none. */
static bool ctr_record(struct store *s, const char *container,
                       struct store_ctr_rec *out)
{
    char k[IDX_KEY_MAX], *v = NULL;
    size_t klen = idx_key_container(k, container), vlen = 0;
    int rc = idx_get(&v, &vlen, s->ix, k, klen);

    if (rc == RS_ENOTFOUND)
        return false;
    assert_int_equal(rc, RS_OK);
    assert_int_equal(store__ctr_decode(out, v, vlen), RS_OK);
    free(v);
    return true;
}

/* Number of wal-*.log files in dir/wal; the newest id in *newest. */
static int wal_segments(const char *dir, uint64_t *newest)
{
    char path[512];
    DIR *d;
    struct dirent *e;
    int n = 0;

    snprintf(path, sizeof path, "%s/wal", dir);
    d = opendir(path);
    assert_non_null(d);
    if (newest)
        *newest = 0;
    while ((e = readdir(d)) != NULL) {
        unsigned long long id;
        if (strncmp(e->d_name, "wal-", 4) != 0 ||
            strlen(e->d_name) != 24 ||
            strcmp(e->d_name + 20, ".log") != 0 ||
            sscanf(e->d_name + 4, "%16llx", &id) != 1)
            continue;
        n++;
        if (newest && id > *newest)
            *newest = id;
    }
    closedir(d);
    return n;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Poll the merge stats until at most want containers are in memory, up
 * to timeout_ms; returns the last count. */
static uint64_t wait_containers_open(struct store *s, uint64_t want,
                                     int timeout_ms)
{
    int64_t end = now_ms() + timeout_ms;
    uint64_t n;

    for (;;) {
        n = mstats(s).containers_open;
        if (n <= want || now_ms() > end)
            return n;
        usleep(10 * 1000);
    }
}

/* Range reads at odd offsets and across block boundaries. */
static void check_ranges(struct store *s, const char *key, const uint8_t *p,
                         size_t n)
{
    const size_t offs[][2] = {
        {1, n > 2 ? n - 2 : 0}, {(n / 2) | 1, n - ((n / 2) | 1)},
        {BLOCK - 3, 9},          {n > 0 ? n - 1 : 0, 1},
        {777, 5001},             {2 * BLOCK + 1, BLOCK + 5},
    };

    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
        size_t off = offs[i][0], len = offs[i][1];
        if (len == 0 || off >= n || off + len > n)
            continue;
        fx_check_range(s, key, p, off, len);
    }
}

/* ------------------------------------------------------------------ */
/* Round trips, read-your-writes, flush at close                         */
/* ------------------------------------------------------------------ */

static const size_t rt_sizes[] = {0, 1, 4095, 4096, 4097, 65536, SMALL};
#define RT_N (sizeof rt_sizes / sizeof *rt_sizes)
#define RT_BIG ((size_t)SMALL + 1)

static void rt_check_all(struct store *s, uint8_t **p, uint8_t *big)
{
    char key[32];

    for (size_t i = 0; i < RT_N; i++) {
        snprintf(key, sizeof key, "obj-%zu", rt_sizes[i]);
        fx_check_obj(s, key, p[i], rt_sizes[i]);
        check_ranges(s, key, p[i], rt_sizes[i]);
    }
    fx_check_obj(s, "big", big, RT_BIG);
    check_ranges(s, "big", big, RT_BIG);
    fx_check_range(s, "big", big, SMALL - 5, 6);
}

static void test_merge_sizes_roundtrip_from_memory_then_file(void **state)
{
    struct fx *f = *state;
    uint8_t *p[RT_N], *big = pat(RT_BIG, 77);
    char key[32], cname[STORE_CNAME_SIZE] = "";
    uint64_t spans = 0, next_off = 0;
    struct store_merge_stats ms;
    struct store_layout l;
    struct store_ctr_rec cr;

    for (size_t i = 0; i < RT_N; i++) {
        p[i] = pat(rt_sizes[i], (uint32_t)i + 1);
        snprintf(key, sizeof key, "obj-%zu", rt_sizes[i]);
        fx_put_ok(f->s, key, p[i], rt_sizes[i]);
        /* Readable at once, before any container file exists. */
        fx_check_obj(f->s, key, p[i], rt_sizes[i]);
        check_ranges(f->s, key, p[i], rt_sizes[i]);
        assert_int_equal(fx_count_containers(f, "standard"), 0);
        if (rt_sizes[i] == 0) {
            obj_layout(f->s, key, &l);
            assert_int_equal(l.nruns, 0);
            store__layout_dispose(&l);
            continue;
        }
        {
            struct store_run r = merged_run(f->s, key, rt_sizes[i]);
            /* One container, objects back to back in PUT order. */
            if (!cname[0])
                memcpy(cname, r.container, sizeof cname);
            assert_string_equal(r.container, cname);
            assert_int_equal(r.offset, next_off);
            next_off += store__extent_span(rt_sizes[i], BLOCK);
            spans += store__extent_span(rt_sizes[i], BLOCK);
        }
    }
    ms = mstats(f->s);
    assert_int_equal(ms.containers_open, 1);
    assert_int_equal(ms.objects_in_memory, RT_N - 1);
    assert_int_equal(ms.bytes_in_memory, spans);
    assert_int_equal(ms.wal_records, RT_N);
    assert_int_equal(ms.flushes, 0);
    assert_true(ms.cache_bytes >= spans);
    assert_false(ctr_record(f->s, cname, &cr));

    /* One byte over the threshold: striped into a container of its own. */
    fx_put_ok(f->s, "big", big, RT_BIG);
    obj_layout(f->s, "big", &l);
    assert_true(l.nruns >= 1);
    for (size_t i = 0; i < l.nruns; i++) {
        assert_int_equal(l.runs[i].flags & STORE_RUN_MERGED, 0);
        assert_string_not_equal(l.runs[i].container, cname);
    }
    assert_int_equal(l.size, RT_BIG);
    store__layout_dispose(&l);
    assert_int_equal(fx_count_containers(f, "standard"), 1);
    assert_int_equal(mstats(f->s).wal_records, RT_N);
    rt_check_all(f->s, p, big);

    /* Clean close flushes the merged container and retires the log. */
    store_close(f->s);
    f->s = NULL;
    assert_int_equal(fx_count_containers(f, "standard"), 2);
    /* Clean close leaves no WAL segment at all: nothing to replay. */
    assert_int_equal(wal_segments(f->dir, NULL), 0);
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    ms = mstats(f->s);
    assert_int_equal(ms.containers_open, 0);
    assert_int_equal(ms.cache_bytes, 0);
    rt_check_all(f->s, p, big);

    /* The container record lists every member with its place. */
    assert_true(ctr_record(f->s, cname, &cr));
    assert_string_equal(cr.bucket, "bkt");
    assert_int_equal(cr.group, STORE_CLASS_STANDARD);
    assert_int_equal(cr.nmembers, RT_N - 1);
    assert_int_equal(cr.length, spans);
    assert_int_equal(cr.member_bytes, spans);
    for (size_t i = 0; i < cr.nmembers; i++) {
        struct store_run r;
        size_t n;
        assert_int_equal(sscanf(cr.members[i].key, "obj-%zu", &n), 1);
        r = merged_run(f->s, cr.members[i].key, n);
        assert_string_equal(r.container, cname);
        assert_int_equal(cr.members[i].offset, r.offset);
        assert_int_equal(cr.members[i].span, store__extent_span(n, BLOCK));
    }
    store__ctr_rec_dispose(&cr);

    /* Clean shutdown leaves an empty WAL (store_int.h): nothing to
     * replay, and only the new active segment in the directory. */
    assert_int_equal(wal_segments(f->dir, NULL), 1);
    assert_int_equal(ms.replay_records, 0);
}

/* Empty objects take the merge path too: logged, no extent. */
static void test_merge_empty_object_is_logged_and_counted(void **state)
{
    struct fx *f = *state;
    struct store_merge_stats ms;
    struct store_layout l;

    fx_put_ok(f->s, "empty", (const uint8_t *)"", 0);
    fx_check_obj(f->s, "empty", (const uint8_t *)"", 0);
    obj_layout(f->s, "empty", &l);
    assert_int_equal(l.nruns, 0);
    store__layout_dispose(&l);
    ms = mstats(f->s);
    assert_int_equal(ms.wal_records, 1);
    assert_int_equal(ms.containers_open, 0);
    assert_int_equal(ms.objects_in_memory, 0);
    /* objects_logged: objects logged since start (store.h). */
    assert_int_equal(ms.objects_logged, 1);
    fx_reopen(f);
    fx_check_obj(f->s, "empty", (const uint8_t *)"", 0);
}

/* ------------------------------------------------------------------ */
/* Idle flush                                                           */
/* ------------------------------------------------------------------ */

static void test_merge_idle_container_is_flushed(void **state)
{
    struct fx *f = *state;
    const size_t n = 10000;
    uint8_t *p = pat(n, 31);
    struct store_merge_stats ms;
    struct store_run r;
    struct store_ctr_rec cr;

    fx_put_ok(f->s, "idle", p, n);
    r = merged_run(f->s, "idle", n);
    assert_int_equal(wait_containers_open(f->s, 0, 5000), 0);
    ms = mstats(f->s);
    assert_int_equal(ms.flushes, 1);
    assert_int_equal(ms.flush_bytes, store__extent_span(n, BLOCK));
    assert_int_equal(ms.objects_in_memory, 0);
    assert_int_equal(ms.cache_bytes, 0);
    assert_int_equal(ms.flush_errors, 0);
    assert_int_equal(fx_count_containers(f, "standard"), 1);
    assert_true(ctr_record(f->s, r.container, &cr));
    assert_int_equal(cr.nmembers, 1);
    assert_string_equal(cr.members[0].key, "idle");
    store__ctr_rec_dispose(&cr);
    /* Read from the file now. */
    fx_check_obj(f->s, "idle", p, n);
    check_ranges(f->s, "idle", p, n);
    /* The flush retired every segment but the active one. */
    assert_int_equal(wal_segments(f->dir, NULL), 1);
}

/*
 * A merged container that was flushed, emptied by deletes, compacted and
 * removed by the collector stays gone across a clean restart: replay must
 * not put its extents back from records still in the WAL.
 */
static void test_merge_restart_does_not_resurrect_removed_container(
    void **state)
{
    struct fx *f = *state;
    const size_t n = 10000;
    uint8_t *p = pat(n, 61);
    struct store_compact_stats cs;
    struct store_ctr_rec cr;
    struct store_run r;
    size_t removed = 0;

    store_close(f->s);
    f->cfg.gc_delay = 0;
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);

    fx_put_ok(f->s, "x", p, n);
    r = merged_run(f->s, "x", n);
    assert_int_equal(wait_containers_open(f->s, 0, 5000), 0);
    assert_int_equal(fx_count_containers(f, "standard"), 1);
    assert_true(ctr_record(f->s, r.container, &cr));
    store__ctr_rec_dispose(&cr);

    assert_int_equal(store_object_delete(f->s, "bkt", "x"), RS_OK);
    assert_int_equal(store_compact(f->s, 50, &cs), RS_OK);
    assert_int_equal(cs.containers_compacted, 1);
    assert_int_equal(store__gc_pass(f->s, &removed), RS_OK);
    assert_int_equal(removed, 1);
    assert_int_equal(fx_count_containers(f, "standard"), 0);
    assert_false(ctr_record(f->s, r.container, &cr));

    fx_reopen(f);
    (void)wait_containers_open(f->s, 0, 2000);
    assert_int_equal(mstats(f->s).containers_open, 0);
    assert_int_equal(fx_count_containers(f, "standard"), 0);
    assert_false(ctr_record(f->s, r.container, &cr));
}

/* ------------------------------------------------------------------ */
/* Small merge threshold: several containers                            */
/* ------------------------------------------------------------------ */

#define TH_N 40
#define TH_SIZE (20u << 10)

static void test_merge_threshold_splits_containers(void **state)
{
    struct fx *f = *state;
    const uint64_t thr = 256u << 10;
    const uint64_t span = store__extent_span(TH_SIZE, BLOCK);
    const uint64_t per = thr / span;              /* objects per container */
    const uint64_t want = (TH_N + per - 1) / per;
    uint8_t *p[TH_N];
    char key[32], names[TH_N][STORE_CNAME_SIZE];
    size_t ndistinct = 0;

    for (int i = 0; i < TH_N; i++) {
        p[i] = pat(TH_SIZE, 500u + (uint32_t)i);
        snprintf(key, sizeof key, "t%02d", i);
        fx_put_ok(f->s, key, p[i], TH_SIZE);
    }
    for (int i = 0; i < TH_N; i++) {
        struct store_run r;
        snprintf(key, sizeof key, "t%02d", i);
        r = merged_run(f->s, key, TH_SIZE);
        memcpy(names[i], r.container, STORE_CNAME_SIZE);
        /* Filled in order: object i is number i % per of container
         * i / per, and no container passes the threshold. */
        assert_int_equal(r.offset, (uint64_t)(i % per) * span);
        assert_true(r.offset + span <= thr);
        if (i % per == 0) {
            for (int j = 0; j < i; j++)
                assert_string_not_equal(names[j], names[i]);
            ndistinct++;
        } else {
            assert_string_equal(names[i], names[i - 1]);
        }
        fx_check_obj(f->s, key, p[i], TH_SIZE);
    }
    assert_int_equal(ndistinct, want);
    assert_true(want >= 3);

    /* The full ones are flushed without waiting for idleness; the last
     * one stays open. */
    assert_int_equal(wait_containers_open(f->s, 1, 5000), 1);
    assert_int_equal(fx_count_containers(f, "standard"), (int)want - 1);
    for (int i = 0; i < TH_N; i++) {
        snprintf(key, sizeof key, "t%02d", i);
        fx_check_obj(f->s, key, p[i], TH_SIZE);
    }

    fx_reopen(f);
    assert_int_equal(fx_count_containers(f, "standard"), (int)want);
    for (int i = 0; i < TH_N; i++) {
        snprintf(key, sizeof key, "t%02d", i);
        fx_check_obj(f->s, key, p[i], TH_SIZE);
        check_ranges(f->s, key, p[i], TH_SIZE);
    }
}

/* ------------------------------------------------------------------ */
/* Group commit under concurrency                                       */
/* ------------------------------------------------------------------ */

#define GC_THREADS 16
#define GC_PER 30

static size_t gc_size(int t, int i)
{
    return 1 + (size_t)((t * 7919 + i * 104729) % 40000);
}

struct gc_th {
    struct store *s;
    int t;
    int errors;
};

static void *gc_writer(void *arg)
{
    struct gc_th *th = arg;
    char key[32];

    for (int i = 0; i < GC_PER; i++) {
        size_t n = gc_size(th->t, i);
        uint8_t *p = fx_pattern(n, (uint32_t)(th->t * 1000 + i));
        snprintf(key, sizeof key, "g%02d-%02d", th->t, i);
        if (plain_put(th->s, key, p, n) != RS_OK)
            th->errors++;
        free(p);
    }
    return NULL;
}

static void gc_check_all(struct store *s)
{
    char key[32];

    for (int t = 0; t < GC_THREADS; t++)
        for (int i = 0; i < GC_PER; i++) {
            size_t n = gc_size(t, i);
            uint8_t *p = pat(n, (uint32_t)(t * 1000 + i));
            snprintf(key, sizeof key, "g%02d-%02d", t, i);
            fx_check_obj(s, key, p, n);
        }
}

static void test_merge_concurrent_puts_share_fsyncs(void **state)
{
    struct fx *f = *state;
    struct gc_th th[GC_THREADS];
    pthread_t tid[GC_THREADS];
    struct store_merge_stats ms;

    for (int t = 0; t < GC_THREADS; t++) {
        th[t] = (struct gc_th){.s = f->s, .t = t};
        assert_int_equal(pthread_create(&tid[t], NULL, gc_writer, &th[t]),
                         0);
    }
    for (int t = 0; t < GC_THREADS; t++)
        assert_int_equal(pthread_join(tid[t], NULL), 0);
    for (int t = 0; t < GC_THREADS; t++)
        assert_int_equal(th[t].errors, 0);

    ms = mstats(f->s);
    assert_int_equal(ms.wal_records, GC_THREADS * GC_PER);
    assert_int_equal(ms.objects_logged, GC_THREADS * GC_PER);
    assert_int_equal(ms.wal_failed_batches, 0);
    assert_true(ms.wal_fsyncs > 0);
    assert_true(ms.wal_fsyncs < ms.wal_records);
    gc_check_all(f->s);
    fx_reopen(f);
    gc_check_all(f->s);
}

/* ------------------------------------------------------------------ */
/* Overwrite and delete: dead bytes                                     */
/* ------------------------------------------------------------------ */

static void test_merge_overwrite_and_delete_count_dead_bytes(void **state)
{
    struct fx *f = *state;
    uint8_t *a1 = pat(10000, 1), *a2 = pat(5000, 2);
    uint8_t *b1 = pat(3000, 3), *c1 = pat(7000, 4);
    uint8_t *big = pat(RT_BIG, 5);
    struct store_run ra1, ra2, rb, rc1;
    struct rs_arena *ar = rs_arena_new();
    struct store_obj o;
    uint64_t db, dn, want_b = 0, want_n = 0;
    const char *cn;

    fx_put_ok(f->s, "a", a1, 10000);
    fx_put_ok(f->s, "b", b1, 3000);
    fx_put_ok(f->s, "c", c1, 7000);
    ra1 = merged_run(f->s, "a", 10000);
    rb = merged_run(f->s, "b", 3000);
    rc1 = merged_run(f->s, "c", 7000);
    cn = ra1.container;
    assert_string_equal(rb.container, cn);
    assert_string_equal(rc1.container, cn);
    dead_counters(f->s, cn, &db, &dn);
    assert_int_equal(db, 0);
    assert_int_equal(dn, 0);

    /* Overwrite: the old extent's span dies. */
    fx_put_ok(f->s, "a", a2, 5000);
    ra2 = merged_run(f->s, "a", 5000);
    assert_true(ra2.offset != ra1.offset ||
                strcmp(ra2.container, ra1.container) != 0);
    fx_check_obj(f->s, "a", a2, 5000);
    want_b += store__extent_span(10000, BLOCK);
    want_n += 1;
    dead_counters(f->s, cn, &db, &dn);
    assert_int_equal(db, want_b);
    assert_int_equal(dn, want_n);

    /* Delete: gone for HEAD, its span dies. */
    assert_int_equal(store_object_delete(f->s, "bkt", "a"), RS_OK);
    assert_int_equal(store_object_head(f->s, ar, &o, "bkt", "a"),
                     RS_ENOTFOUND);
    dead_counters(f->s, ra2.container, &db, &dn);
    assert_string_equal(ra2.container, cn);
    want_b += store__extent_span(5000, BLOCK);
    want_n += 1;
    assert_int_equal(db, want_b);
    assert_int_equal(dn, want_n);
    /* A second delete finds nothing and counts nothing. */
    assert_int_equal(store_object_delete(f->s, "bkt", "a"), RS_ENOTFOUND);
    dead_counters(f->s, cn, &db, &dn);
    assert_int_equal(db, want_b);
    assert_int_equal(dn, want_n);

    /* Overwritten by a large (striped) object: the merged span dies too. */
    fx_put_ok(f->s, "b", big, RT_BIG);
    want_b += store__extent_span(3000, BLOCK);
    want_n += 1;
    dead_counters(f->s, cn, &db, &dn);
    assert_int_equal(db, want_b);
    assert_int_equal(dn, want_n);
    fx_check_obj(f->s, "b", big, RT_BIG);
    /* Merged extents never become whole-container garbage. */
    assert_int_equal(fx_gc_pending(f), 0);

    /* All of it survives a restart (which flushes the container). */
    fx_reopen(f);
    assert_int_equal(store_object_head(f->s, ar, &o, "bkt", "a"),
                     RS_ENOTFOUND);
    dead_counters(f->s, cn, &db, &dn);
    assert_int_equal(db, want_b);
    assert_int_equal(dn, want_n);
    fx_check_obj(f->s, "b", big, RT_BIG);
    fx_check_obj(f->s, "c", c1, 7000);

    /* Deleting a member of the flushed container counts the same way. */
    assert_int_equal(store_object_delete(f->s, "bkt", "c"), RS_OK);
    want_b += store__extent_span(7000, BLOCK);
    want_n += 1;
    dead_counters(f->s, cn, &db, &dn);
    assert_int_equal(db, want_b);
    assert_int_equal(dn, want_n);
    fx_reopen(f);
    assert_int_equal(store_object_head(f->s, ar, &o, "bkt", "c"),
                     RS_ENOTFOUND);
    dead_counters(f->s, cn, &db, &dn);
    assert_int_equal(db, want_b);
    assert_int_equal(dn, want_n);

    rs_arena_free(ar);
}

/* ------------------------------------------------------------------ */
/* Crash and replay                                                     */
/* ------------------------------------------------------------------ */

#define CRASH_N 200

static size_t crash_size(int i)
{
    if (i < 2)
        return (size_t)i;                        /* 0 and 1 byte */
    return (size_t)(((unsigned)i * 7919u) ^ ((unsigned)i << 9)) % 60001u;
}

static uint8_t *crash_data(int i)
{
    return fx_pattern(crash_size(i), 9000u + (uint32_t)i);
}

/* The child: PUT CRASH_N objects, record how many were acknowledged,
 * then die without closing anything. */
static int child_crash(const char *dir)
{
    struct rs_config c;
    struct store *s;
    struct store_bucket b = {.name = "bkt", .region = "us-east-1"};
    char key[32], path[512];
    int acked = 0, fd;

    mcfg_make(&c, dir, 600000, 0, 0);
    if (store_open(&s, &c) != RS_OK)
        return 10;
    b.acl.owner = "alice";
    if (store_bucket_create(s, &b) != RS_OK)
        return 11;
    for (int i = 0; i < CRASH_N; i++) {
        uint8_t *p = crash_data(i);
        snprintf(key, sizeof key, "c%03d", i);
        if (plain_put(s, key, p, crash_size(i)) == RS_OK)
            acked++;
        free(p);
    }
    snprintf(path, sizeof path, "%s/acked", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0 || dprintf(fd, "%d\n", acked) <= 0 || fsync(fd) != 0)
        return 12;
    close(fd);
    kill(getpid(), SIGKILL);
    return 13;
}

/* Run the crash child on f->dir and check it died by SIGKILL; returns
 * the number of acknowledged PUTs. */
static int run_crash_child(struct fx *f)
{
    char *argv[] = {program_invocation_short_name, "--child-crash", f->dir,
                    NULL};
    char path[512];
    pid_t pid;
    int st, acked = -1;
    FILE *fp;

    assert_int_equal(posix_spawn(&pid, "/proc/self/exe", NULL, NULL, argv,
                                 environ), 0);
    assert_int_equal(waitpid(pid, &st, 0), pid);
    if (WIFEXITED(st))
        fail_msg("crash child exited with status %d", WEXITSTATUS(st));
    assert_true(WIFSIGNALED(st));
    assert_int_equal(WTERMSIG(st), SIGKILL);
    snprintf(path, sizeof path, "%s/acked", f->dir);
    fp = fopen(path, "r");
    assert_non_null(fp);
    assert_int_equal(fscanf(fp, "%d", &acked), 1);
    fclose(fp);
    return acked;
}

/* A power cut that lost the unsynced tail of the index: every object
 * record of "bkt" and w/applied gone back to 0.  Returns how many object
 * records there were. */
static size_t lose_index_tail(struct fx *f)
{
    struct idx *ix;
    struct idx_objcur *cur;
    struct idx_shardmap *map = NULL;
    struct rs_arena *a = rs_arena_new();
    struct store_bucket bk;
    struct idx_batch *b;
    char k[IDX_KEY_MAX], *v;
    char **keys = NULL;
    size_t klen, vlen, n = 0, cap = 0;
    const uint8_t zero[8] = {0};

    assert_int_equal(idx_open(&ix, f->cfg.index_dir, 4u << 20), RS_OK);
    klen = idx_key_bucket(k, "bkt");
    assert_int_equal(idx_get(&v, &vlen, ix, k, klen), RS_OK);
    assert_int_equal(store__bucket_decode(a, &bk, &map, "bkt", v, vlen),
                     RS_OK);
    free(v);
    assert_non_null(map);

    assert_int_equal(idx_objcur_open(&cur, ix, map, "bkt"), RS_OK);
    assert_int_equal(idx_objcur_seek(cur, ""), RS_OK);
    for (;;) {
        const char *key, *val;
        size_t vl;
        int rc = idx_objcur_get(cur, &key, &val, &vl);
        if (rc == RS_ENOTFOUND)
            break;
        assert_int_equal(rc, RS_OK);
        if (n == cap) {
            cap = cap ? 2 * cap : 64;
            keys = realloc(keys, cap * sizeof *keys);
        }
        keys[n++] = strdup(key);
        assert_int_equal(idx_objcur_next(cur), RS_OK);
    }
    idx_objcur_close(cur);

    b = idx_batch_begin(ix);
    for (size_t i = 0; i < n; i++) {
        idx_obj_del(b, map, "bkt", keys[i]);
        free(keys[i]);
    }
    free(keys);
    idx_batch_put(b, IDX_KEY_WAL_APPLIED, strlen(IDX_KEY_WAL_APPLIED),
                  (const char *)zero, 8);
    assert_int_equal(idx_batch_commit(b, true), RS_OK);

    /* Really gone. */
    {
        const char *key, *val;
        size_t vl;
        assert_int_equal(idx_objcur_open(&cur, ix, map, "bkt"), RS_OK);
        assert_int_equal(idx_objcur_seek(cur, ""), RS_OK);
        assert_int_equal(idx_objcur_get(cur, &key, &val, &vl),
                         RS_ENOTFOUND);
        idx_objcur_close(cur);
    }
    store__shardmap_free(map);
    idx_close(ix);
    rs_arena_free(a);
    return n;
}

static int count_cb(void *arg, const struct store_list_entry *e)
{
    if (e->obj)
        (*(size_t *)arg)++;
    return 0;
}

/* Every acknowledged object byte for byte, and nothing else listed. */
static void crash_check_all(struct store *s, int acked)
{
    struct rs_arena *a = rs_arena_new();
    struct store_list_opts o = {.max_keys = 10000};
    size_t listed = 0;
    bool trunc;
    char key[32];

    for (int i = 0; i < acked; i++) {
        uint8_t *p = keep(crash_data(i));
        snprintf(key, sizeof key, "c%03d", i);
        fx_check_obj(s, key, p, crash_size(i));
    }
    assert_int_equal(store_object_list(s, a, "bkt", &o, count_cb, &listed,
                                       &trunc, NULL), RS_OK);
    assert_false(trunc);
    assert_int_equal(listed, (size_t)acked);
    rs_arena_free(a);
}

/* What the crash tests share after the child: no container file, and a
 * store that opens and replays. */
static void crash_reopen_and_check(struct fx *f, int acked)
{
    struct store_merge_stats ms;

    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    ms = mstats(f->s);
    /* Every PUT record of the child, the torn one not counted. */
    assert_int_equal(ms.replay_records, CRASH_N);
    crash_check_all(f->s, acked);
    /* And again after a clean restart, from the flushed container. */
    fx_reopen(f);
    assert_int_equal(mstats(f->s).containers_open, 0);
    assert_int_equal(fx_count_containers(f, "standard"), 1);
    crash_check_all(f->s, acked);
}

static void test_merge_crash_replays_lost_index_tail(void **state)
{
    struct fx *f = *state;
    int acked = run_crash_child(f);

    assert_int_equal(acked, CRASH_N);
    /* (a) Nothing was flushed: every byte lived in memory and the WAL. */
    assert_int_equal(fx_count_containers(f, "standard"), 0);
    assert_int_equal(fx_count_containers(f, "low-frequency"), 0);
    /* (b) The index lost every object record and w/applied. */
    assert_int_equal(lose_index_tail(f), CRASH_N);
    crash_reopen_and_check(f, acked);
}

static void test_merge_crash_replays_with_index_intact(void **state)
{
    struct fx *f = *state;
    int acked = run_crash_child(f);

    assert_int_equal(acked, CRASH_N);
    assert_int_equal(fx_count_containers(f, "standard"), 0);
    crash_reopen_and_check(f, acked);
}

static void test_merge_crash_with_torn_last_record(void **state)
{
    struct fx *f = *state;
    int acked = run_crash_child(f);
    char path[512];
    uint64_t newest;
    uint8_t torn[37] = {0};
    int fd;

    assert_int_equal(acked, CRASH_N);
    assert_int_equal(fx_count_containers(f, "standard"), 0);
    assert_true(wal_segments(f->dir, &newest) >= 1);
    /* 37 bytes of a record whose write was cut short: a header that
     * promises 4000 bytes, then 13 of them. */
    torn[0] = 0x52;
    torn[1] = 0x53;
    torn[2] = 0x57;
    torn[3] = 0x4c;
    torn[4] = 1;
    torn[8] = 4000 & 0xff;
    torn[9] = 4000 >> 8;
    torn[16] = 0xff;
    memset(torn + 24, 0xab, 13);
    snprintf(path, sizeof path, "%s/wal/wal-%016" PRIx64 ".log", f->dir,
             newest);
    fd = open(path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, torn, sizeof torn), (ssize_t)sizeof torn);
    close(fd);
    /* Lose the index tail too, so every object comes from the WAL. */
    assert_int_equal(lose_index_tail(f), CRASH_N);
    crash_reopen_and_check(f, acked);
}

/* ------------------------------------------------------------------ */
/* Memory bound                                                         */
/* ------------------------------------------------------------------ */

#define MEM_THREADS 8
#define MEM_OBJECTS 300
#define MEM_SIZE (64u << 10)

struct mem_run {
    struct store *s;
    atomic_int next;             /* next object to PUT */
    atomic_int errors;
    atomic_int done;
    /* sampler */
    uint64_t samples, over, max_bytes, limit;
};

static void *mem_writer(void *arg)
{
    struct mem_run *m = arg;
    char key[32];
    int i;

    while ((i = atomic_fetch_add(&m->next, 1)) < MEM_OBJECTS) {
        uint8_t *p = fx_pattern(MEM_SIZE, 20000u + (uint32_t)i);
        snprintf(key, sizeof key, "m%03d", i);
        if (plain_put(m->s, key, p, MEM_SIZE) != RS_OK)
            atomic_fetch_add(&m->errors, 1);
        free(p);
    }
    return NULL;
}

static void *mem_sampler(void *arg)
{
    struct mem_run *m = arg;

    while (!atomic_load(&m->done)) {
        struct store_stats st;
        if (store_get_stats(m->s, &st) == RS_OK) {
            m->samples++;
            m->limit = st.merge.cache_limit;
            if (st.merge.cache_bytes > st.merge.cache_limit)
                m->over++;
            if (st.merge.cache_bytes > m->max_bytes)
                m->max_bytes = st.merge.cache_bytes;
        }
        usleep(500);
    }
    return NULL;
}

static void test_merge_memory_bound_holds_under_load(void **state)
{
    struct fx *f = *state;
    struct mem_run m = {.s = f->s};
    pthread_t w[MEM_THREADS], smp;
    struct store_merge_stats ms;
    char key[32];

    assert_int_equal(pthread_create(&smp, NULL, mem_sampler, &m), 0);
    for (int t = 0; t < MEM_THREADS; t++)
        assert_int_equal(pthread_create(&w[t], NULL, mem_writer, &m), 0);
    for (int t = 0; t < MEM_THREADS; t++)
        assert_int_equal(pthread_join(w[t], NULL), 0);
    atomic_store(&m.done, 1);
    assert_int_equal(pthread_join(smp, NULL), 0);

    assert_int_equal(atomic_load(&m.errors), 0);
    assert_true(m.samples > 0);
    assert_int_equal(m.limit, 8u << 20);
    assert_true(m.max_bytes > 0);
    assert_int_equal(m.over, 0);
    ms = mstats(f->s);
    assert_true(ms.cache_bytes <= ms.cache_limit);
    assert_int_equal(ms.objects_logged, MEM_OBJECTS);
    assert_true(ms.flushes > 0);
    assert_int_equal(ms.flush_errors, 0);
    for (int i = 0; i < MEM_OBJECTS; i++) {
        uint8_t *p = pat(MEM_SIZE, 20000u + (uint32_t)i);
        snprintf(key, sizeof key, "m%03d", i);
        assert_int_equal(plain_check(f->s, key, p, MEM_SIZE), RS_OK);
    }
    /* Everything reaches disk soon (idle 20 ms). */
    assert_int_equal(wait_containers_open(f->s, 0, 5000), 0);
    ms = mstats(f->s);
    assert_int_equal(ms.cache_bytes, 0);
    assert_int_equal(fx_count_containers(f, "standard"), (int)ms.flushes);
}

/*
 * The bound is on memory, not on merging: with room in the open
 * container's memory, a PUT that allocates nothing must not wait for a
 * flush ("a writer that would pass it seals everything and waits").  One
 * writer, 32 objects of 64 KiB, merge_threshold 1 MiB, merge_cache 8 MiB:
 * 15 objects fit a container, so 3 containers, never 32.
 */
static void test_merge_memory_bound_still_merges(void **state)
{
    struct fx *f = *state;
    const int n = 32;
    const uint64_t span = store__extent_span(MEM_SIZE, BLOCK);
    const uint64_t per = (1u << 20) / span;
    char names[32][STORE_CNAME_SIZE], key[32];
    int distinct = 0;

    for (int i = 0; i < n; i++) {
        uint8_t *p = pat(MEM_SIZE, 30000u + (uint32_t)i);
        struct store_run r;
        snprintf(key, sizeof key, "s%02d", i);
        fx_put_ok(f->s, key, p, MEM_SIZE);
        r = merged_run(f->s, key, MEM_SIZE);
        memcpy(names[i], r.container, STORE_CNAME_SIZE);
    }
    for (int i = 0; i < n; i++) {
        int j = 0;
        while (j < i && strcmp(names[j], names[i]) != 0)
            j++;
        distinct += j == i;
    }
    for (int i = 0; i < n; i++) {
        uint8_t *p = pat(MEM_SIZE, 30000u + (uint32_t)i);
        snprintf(key, sizeof key, "s%02d", i);
        fx_check_obj(f->s, key, p, MEM_SIZE);
    }
    if ((uint64_t)distinct > (n + per - 1) / per + 1)
        fail_msg("%d objects of %u bytes in %d containers; %d fit in one",
                 n, MEM_SIZE, distinct, (int)per);
}

/* ------------------------------------------------------------------ */
/* main                                                                 */
/* ------------------------------------------------------------------ */

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_merge_sizes_roundtrip_from_memory_then_file, setup_lazy,
            mteardown),
        cmocka_unit_test_setup_teardown(
            test_merge_empty_object_is_logged_and_counted, setup_lazy,
            mteardown),
        cmocka_unit_test_setup_teardown(test_merge_idle_container_is_flushed,
                                        setup_idle50, mteardown),
        cmocka_unit_test_setup_teardown(
            test_merge_restart_does_not_resurrect_removed_container,
            setup_idle50, mteardown),
        cmocka_unit_test_setup_teardown(
            test_merge_threshold_splits_containers, setup_small_containers,
            mteardown),
        cmocka_unit_test_setup_teardown(
            test_merge_concurrent_puts_share_fsyncs, setup_lazy,
            mteardown),
        cmocka_unit_test_setup_teardown(
            test_merge_overwrite_and_delete_count_dead_bytes, setup_lazy,
            mteardown),
        cmocka_unit_test_setup_teardown(
            test_merge_crash_replays_lost_index_tail, setup_dir_only,
            mteardown),
        cmocka_unit_test_setup_teardown(
            test_merge_crash_replays_with_index_intact, setup_dir_only,
            mteardown),
        cmocka_unit_test_setup_teardown(
            test_merge_crash_with_torn_last_record, setup_dir_only,
            mteardown),
        cmocka_unit_test_setup_teardown(
            test_merge_memory_bound_holds_under_load, setup_tight_memory,
            mteardown),
        cmocka_unit_test_setup_teardown(
            test_merge_memory_bound_still_merges, setup_tight_memory,
            mteardown),
    };

    if (argc == 3 && strcmp(argv[1], "--child-crash") == 0)
        return child_crash(argv[2]);
    rs_log_set_level(RS_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
