/*
 * tests/unit/store/wal_test.c - the write-ahead log of the merge path
 * (store/wal.c) on its own: group commit from many threads, the apply
 * callback, replay of intact, torn and damaged segments, segment rolling,
 * retirement, and reopening after replay.  Real files in a fresh temporary
 * directory per test; no mocks.
 *
 * Record layout on disk (wal.c, "RECORD FORMAT"): a 24-byte header (magic,
 * type, len, CRC-32C, seq) then the payload; the tests parse segments with
 * their own reader so damage lands exactly where intended.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/store_int.h"
#include "store_fixture.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define REC_TYPE 7

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

struct wfx {
    char dir[256];       /* fx_tmpdir_create */
    char wal[300];       /* dir/log: created by wal_open / wal_replay */
};

static int wfx_setup(void **state)
{
    struct wfx *f = calloc(1, sizeof *f);
    fx_tmpdir_create(f->dir, sizeof f->dir, "wal");
    snprintf(f->wal, sizeof f->wal, "%s/log", f->dir);
    *state = f;
    return 0;
}

static int wfx_teardown(void **state)
{
    struct wfx *f = *state;
    fx_tmpdir_remove(f->dir);
    free(f);
    return 0;
}

static void le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t rd64(const uint8_t *p)
{
    return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32;
}

/* Payload bytes of record i of writer t: 8 id bytes, then noise. */
static size_t pl_len(uint32_t t, uint32_t i)
{
    return 8 + (t * 131u + i * 977u) % 3000u;
}

static uint8_t *pl_make(uint32_t t, uint32_t i, size_t *n_out)
{
    size_t n = pl_len(t, i);
    uint8_t *p = malloc(n);
    uint8_t *noise = fx_pattern(n - 8, t * 100003u + i + 1);

    le32(p, t);
    le32(p + 4, i);
    memcpy(p + 8, noise, n - 8);
    free(noise);
    *n_out = n;
    return p;
}

/* Fill r with p[n] in three pieces (the log gathers them). */
static void rec_fill(struct wal_rec *r, uint8_t *p, size_t n)
{
    size_t a = n / 3, b = 2 * n / 3;

    memset(r, 0, sizeof *r);
    r->iov[0].iov_base = p;
    r->iov[0].iov_len = a;
    r->iov[1].iov_base = p + a;
    r->iov[1].iov_len = b - a;
    r->iov[2].iov_base = p + b;
    r->iov[2].iov_len = n - b;
    r->niov = 3;
}

/* Log record i of writer t and wait for it; its seq in *seq. */
static int log_one(struct wal *w, uint32_t t, uint32_t i, uint64_t *seq)
{
    struct wal_rec r;
    size_t n;
    uint8_t *p = pl_make(t, i, &n);
    int rc;

    rec_fill(&r, p, n);
    wal_enqueue(w, &r, REC_TYPE);
    rc = wal_wait(w, &r);
    if (seq)
        *seq = r.seq;
    free(p);
    return rc;
}

/* What wal_replay delivered. */
struct crec {
    uint64_t seg, seq;
    uint8_t type;
    uint8_t *p;
    size_t len;
};

struct coll {
    struct crec *r;
    size_t n, cap;
    size_t stop_at;      /* non-zero: return RS_ECORRUPT at this record */
};

static int coll_cb(void *arg, uint64_t seg, uint64_t seq, uint8_t type,
                   const uint8_t *p, size_t len)
{
    struct coll *c = arg;

    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 64;
        c->r = realloc(c->r, c->cap * sizeof *c->r);
    }
    c->r[c->n].seg = seg;
    c->r[c->n].seq = seq;
    c->r[c->n].type = type;
    c->r[c->n].p = malloc(len ? len : 1);
    memcpy(c->r[c->n].p, p, len);
    c->r[c->n].len = len;
    c->n++;
    if (c->stop_at && c->n == c->stop_at)
        return rs_err_set(RS_ECORRUPT, "stop here");
    return RS_OK;
}

static void coll_free(struct coll *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->r[i].p);
    free(c->r);
    memset(c, 0, sizeof *c);
}

/* Fail unless replayed record r is exactly record (t, i). */
static void check_payload(const struct crec *r, uint32_t t, uint32_t i)
{
    size_t n;
    uint8_t *p = pl_make(t, i, &n);

    assert_int_equal(r->type, REC_TYPE);
    assert_int_equal(r->len, n);
    assert_memory_equal(r->p, p, n);
    free(p);
}

static void seg_file(char *out, size_t n, const char *dir, uint64_t id)
{
    snprintf(out, n, "%s/wal-%016" PRIx64 ".log", dir, id);
}

/* Sorted ids of the wal-*.log files in dir; returns how many. */
static size_t dir_segments(const char *dir, uint64_t *ids, size_t max)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    assert_non_null(d);
    while ((e = readdir(d)) != NULL) {
        unsigned long long id;
        char tail[8];
        if (strlen(e->d_name) != 24 ||
            sscanf(e->d_name, "wal-%16llx%7s", &id, tail) != 2 ||
            strcmp(tail, ".log") != 0)
            continue;
        assert_true(n < max);
        ids[n++] = id;
    }
    closedir(d);
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && ids[j - 1] > ids[j]; j--) {
            uint64_t x = ids[j];
            ids[j] = ids[j - 1];
            ids[j - 1] = x;
        }
    return n;
}

static uint8_t *slurp(const char *path, size_t *n_out)
{
    struct stat sb;
    int fd = open(path, O_RDONLY);
    uint8_t *p;

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &sb), 0);
    p = malloc((size_t)sb.st_size + 1);
    assert_int_equal(read(fd, p, (size_t)sb.st_size), sb.st_size);
    close(fd);
    *n_out = (size_t)sb.st_size;
    return p;
}

/* Offsets of the records of a segment file (by the format), in offs;
 * returns their count, which must cover the file exactly. */
static size_t seg_offsets(const char *path, size_t *offs, size_t max,
                          size_t *size_out)
{
    size_t n, off = 0, k = 0;
    uint8_t *p = slurp(path, &n);

    while (off < n) {
        assert_true(n - off >= WAL_HDR);
        assert_int_equal(rd32(p + off), 0x4c575352u);
        assert_true(k < max);
        offs[k++] = off;
        off += WAL_HDR + rd32(p + off + 8);
    }
    assert_int_equal(off, n);
    free(p);
    *size_out = n;
    return k;
}

static void patch_file(const char *path, off_t at, const void *p, size_t n)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, p, n, at), (ssize_t)n);
    close(fd);
}

/* The apply callback's state: order checks and injected failures. */
struct apply_ctx {
    pthread_mutex_t mu;
    uint64_t last;          /* last seq applied */
    uint64_t calls, recs, misordered, max_batch;
    int fail_batch;         /* next batch: return RS_EIO */
    int fail_second;        /* next batch: recs[1] fails alone */
};

static int apply_cb(void *ctx, struct wal_rec **recs, size_t n)
{
    struct apply_ctx *a = ctx;
    int rc = RS_OK;

    pthread_mutex_lock(&a->mu);
    a->calls++;
    if (n > a->max_batch)
        a->max_batch = n;
    for (size_t i = 0; i < n; i++) {
        if (recs[i]->seq != a->last + 1)
            a->misordered++;
        a->last = recs[i]->seq;
        a->recs++;
    }
    if (a->fail_batch) {
        a->fail_batch = 0;
        rc = rs_err_set(RS_EIO, "injected index failure");
    } else if (a->fail_second && n >= 2) {
        a->fail_second = 0;
        recs[1]->rc = rs_err_set(RS_ECONFLICT, "injected record failure");
    }
    pthread_mutex_unlock(&a->mu);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Many writers                                                         */
/* ------------------------------------------------------------------ */

#define NTHREADS 16
#define NPER 50

struct wth {
    struct wal *w;
    uint32_t t;
    uint64_t seqs[NPER];
    int errors;
};

static void *writer_main(void *arg)
{
    struct wth *th = arg;

    for (uint32_t i = 0; i < NPER; i++)
        if (log_one(th->w, th->t, i, &th->seqs[i]) != RS_OK)
            th->errors++;
    return NULL;
}

/* 16 threads x 50 records through w; fails on any error. */
static void run_writers(struct wal *w, struct wth *th)
{
    pthread_t tid[NTHREADS];

    for (uint32_t t = 0; t < NTHREADS; t++) {
        th[t].w = w;
        th[t].t = t;
        th[t].errors = 0;
        assert_int_equal(pthread_create(&tid[t], NULL, writer_main, &th[t]),
                         0);
    }
    for (int t = 0; t < NTHREADS; t++)
        assert_int_equal(pthread_join(tid[t], NULL), 0);
    for (int t = 0; t < NTHREADS; t++)
        assert_int_equal(th[t].errors, 0);
}

static void test_wal_threads_replay_in_seq_order_with_payloads(void **state)
{
    struct wfx *f = *state;
    struct wth *th = calloc(NTHREADS, sizeof *th);
    struct wal *w;
    struct coll c = {0};
    struct wal_replay_stats rs;
    uint8_t seen[NTHREADS][NPER];

    assert_int_equal(wal_open(&w, f->wal, 0, 1, NULL, NULL), RS_OK);
    run_writers(w, th);
    wal_close(w);

    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_OK);
    assert_int_equal(c.n, NTHREADS * NPER);
    assert_int_equal(rs.records, NTHREADS * NPER);
    assert_int_equal(rs.torn_bytes, 0);
    assert_int_equal(rs.bad_segments, 0);
    assert_int_equal(rs.max_seq, NTHREADS * NPER);
    memset(seen, 0, sizeof seen);
    for (size_t k = 0; k < c.n; k++) {
        uint32_t t, i;
        /* Sequence order, every number once: 1..800. */
        assert_int_equal(c.r[k].seq, k + 1);
        assert_true(c.r[k].len >= 8);
        t = rd32(c.r[k].p);
        i = rd32(c.r[k].p + 4);
        assert_true(t < NTHREADS && i < NPER);
        assert_int_equal(seen[t][i], 0);
        seen[t][i] = 1;
        /* The seq its writer was given is the one it was logged under. */
        assert_int_equal(th[t].seqs[i], c.r[k].seq);
        check_payload(&c.r[k], t, i);
    }
    /* Each writer's records in its own order. */
    for (int t = 0; t < NTHREADS; t++)
        for (int i = 1; i < NPER; i++)
            assert_true(th[t].seqs[i] > th[t].seqs[i - 1]);
    coll_free(&c);
    free(th);
}

static void test_wal_group_commit_batches_fsyncs(void **state)
{
    struct wfx *f = *state;
    struct wth *th = calloc(NTHREADS, sizeof *th);
    struct wal *w;
    struct wal_stats st;
    uint64_t batches = 0, in_multi = 0;

    assert_int_equal(wal_open(&w, f->wal, 0, 1, NULL, NULL), RS_OK);
    run_writers(w, th);
    wal_get_stats(w, &st);
    wal_close(w);
    assert_int_equal(st.records, NTHREADS * NPER);
    assert_true(st.fsyncs > 0);
    assert_true(st.fsyncs < st.records);
    assert_int_equal(st.failed_batches, 0);
    /* One fsync per batch: the histogram counts the batches. */
    for (int b = 0; b < WAL_BATCH_BUCKETS; b++) {
        batches += st.batch_hist[b];
        if (b > 0)
            in_multi += st.batch_hist[b];
    }
    assert_int_equal(batches, st.fsyncs);
    assert_true(in_multi > 0);
    {
        uint64_t bytes = 0;
        for (uint32_t t = 0; t < NTHREADS; t++)
            for (uint32_t i = 0; i < NPER; i++)
                bytes += WAL_HDR + pl_len(t, i);
        assert_int_equal(st.bytes, bytes);
    }
    free(th);
}

/* ------------------------------------------------------------------ */
/* The apply callback                                                   */
/* ------------------------------------------------------------------ */

static void test_wal_apply_sees_every_record_in_seq_order(void **state)
{
    struct wfx *f = *state;
    struct wth *th = calloc(NTHREADS, sizeof *th);
    struct apply_ctx a = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct wal *w;
    struct wal_stats st;

    assert_int_equal(wal_open(&w, f->wal, 0, 1, apply_cb, &a), RS_OK);
    run_writers(w, th);
    wal_get_stats(w, &st);
    wal_close(w);
    assert_int_equal(a.recs, NTHREADS * NPER);
    assert_int_equal(a.misordered, 0);
    assert_int_equal(a.last, NTHREADS * NPER);
    /* Called once per batch (= per fsync). */
    assert_int_equal(a.calls, st.fsyncs);
    assert_true(a.max_batch > 1);
    free(th);
}

static void test_wal_apply_error_fails_the_whole_batch(void **state)
{
    struct wfx *f = *state;
    struct apply_ctx a = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct wal *w;
    struct wal_rec r[3];
    uint8_t *p[3];
    size_t n[3];
    struct wal_stats st;
    int rc[3], rc3;

    assert_int_equal(wal_open(&w, f->wal, 0, 1, apply_cb, &a), RS_OK);
    /* Three queued records: the first waiter leads all three as one
     * batch, whose apply fails. */
    a.fail_batch = 1;
    for (uint32_t i = 0; i < 3; i++) {
        p[i] = pl_make(0, i, &n[i]);
        rec_fill(&r[i], p[i], n[i]);
        wal_enqueue(w, &r[i], REC_TYPE);
    }
    for (int i = 0; i < 3; i++)
        rc[i] = wal_wait(w, &r[i]);
    wal_get_stats(w, &st);
    /* The log goes on: the next batch succeeds. */
    rc3 = log_one(w, 0, 3, NULL);
    for (int i = 0; i < 3; i++)
        free(p[i]);
    wal_close(w);

    assert_int_equal(a.calls, 2);
    assert_int_equal(a.recs, 4);
    assert_int_equal(st.failed_batches, 1);
    assert_int_equal(rc3, RS_OK);
    /* store_int.h: the apply callback "returns an error to fail them
     * all". */
    assert_int_equal(rc[0], RS_EIO);
    assert_int_equal(rc[1], RS_EIO);
    assert_int_equal(rc[2], RS_EIO);
}

static void test_wal_apply_can_fail_one_record_alone(void **state)
{
    struct wfx *f = *state;
    struct apply_ctx a = {.mu = PTHREAD_MUTEX_INITIALIZER};
    struct wal *w;
    struct wal_rec r[3];
    uint8_t *p[3];
    size_t n[3];
    struct wal_stats st;
    int rc[3];

    assert_int_equal(wal_open(&w, f->wal, 0, 1, apply_cb, &a), RS_OK);
    a.fail_second = 1;
    for (uint32_t i = 0; i < 3; i++) {
        p[i] = pl_make(1, i, &n[i]);
        rec_fill(&r[i], p[i], n[i]);
        wal_enqueue(w, &r[i], REC_TYPE);
    }
    for (int i = 0; i < 3; i++)
        rc[i] = wal_wait(w, &r[i]);
    assert_int_equal(a.calls, 1);
    assert_int_equal(rc[0], RS_OK);
    assert_int_equal(rc[1], RS_ECONFLICT);
    assert_int_equal(rc[2], RS_OK);
    wal_get_stats(w, &st);
    assert_int_equal(st.failed_batches, 0);
    assert_int_equal(st.records, 3);
    for (int i = 0; i < 3; i++)
        free(p[i]);
    wal_close(w);
}

/* ------------------------------------------------------------------ */
/* Format                                                               */
/* ------------------------------------------------------------------ */

static void test_wal_record_format_matches_spec(void **state)
{
    struct wfx *f = *state;
    struct wal *w;
    struct wal_rec r;
    char path[512];
    uint8_t payload[] = "hello, log";
    uint8_t h[WAL_HDR], *p;
    size_t n;
    uint32_t crc;

    assert_int_equal(wal_open(&w, f->wal, 0, 41, NULL, NULL), RS_OK);
    assert_int_equal(wal_active_segment(w), 1);
    memset(&r, 0, sizeof r);
    r.iov[0].iov_base = payload;
    r.iov[0].iov_len = 4;
    r.iov[1].iov_base = payload + 4;
    r.iov[1].iov_len = sizeof payload - 4;
    r.niov = 2;
    wal_enqueue(w, &r, 9);
    assert_int_equal(r.seq, 41);
    assert_int_equal(wal_wait(w, &r), RS_OK);
    wal_close(w);

    seg_file(path, sizeof path, f->wal, 1);
    p = slurp(path, &n);
    assert_int_equal(n, WAL_HDR + sizeof payload);
    assert_memory_equal(p, "RSWL", 4);
    assert_int_equal(p[4], 9);
    assert_int_equal(p[5] | p[6] | p[7], 0);
    assert_int_equal(rd32(p + 8), sizeof payload);
    assert_int_equal(rd64(p + 16), 41);
    memcpy(h, p, WAL_HDR);
    le32(h + 12, 0);
    crc = rs_crc32c(0, h, WAL_HDR);
    crc = rs_crc32c(crc, payload, sizeof payload);
    assert_int_equal(rd32(p + 12), crc);
    assert_memory_equal(p + WAL_HDR, payload, sizeof payload);
    free(p);
}

/* ------------------------------------------------------------------ */
/* Torn tails and damage                                                */
/* ------------------------------------------------------------------ */

#define NSINGLE 20

/* NSINGLE records of writer 0 in one segment (id 1); offsets in offs. */
static void write_single_segment(struct wfx *f, char *path, size_t pathsz,
                                 size_t *offs, size_t *size)
{
    struct wal *w;

    assert_int_equal(wal_open(&w, f->wal, 0, 1, NULL, NULL), RS_OK);
    for (uint32_t i = 0; i < NSINGLE; i++)
        assert_int_equal(log_one(w, 0, i, NULL), RS_OK);
    wal_close(w);
    seg_file(path, pathsz, f->wal, 1);
    assert_int_equal(seg_offsets(path, offs, NSINGLE + 1, size), NSINGLE);
}

static void check_prefix(const struct coll *c, size_t n)
{
    assert_int_equal(c->n, n);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(c->r[k].seq, k + 1);
        check_payload(&c->r[k], 0, (uint32_t)k);
    }
}

static void test_wal_torn_tail_in_last_record_is_dropped(void **state)
{
    struct wfx *f = *state;
    char path[512];
    size_t offs[NSINGLE + 1], size, cut;
    struct coll c = {0};
    struct wal_replay_stats rs;

    write_single_segment(f, path, sizeof path, offs, &size);
    /* Cut in the middle of the last record's payload. */
    cut = offs[NSINGLE - 1] + WAL_HDR + pl_len(0, NSINGLE - 1) / 2;
    assert_true(cut < size);
    assert_int_equal(truncate(path, (off_t)cut), 0);
    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_OK);
    check_prefix(&c, NSINGLE - 1);
    assert_int_equal(rs.records, NSINGLE - 1);
    assert_int_equal(rs.max_seq, NSINGLE - 1);
    assert_true(rs.torn_bytes > 0);
    assert_int_equal(rs.torn_bytes, cut - offs[NSINGLE - 1]);
    assert_int_equal(rs.bad_segments, 0);
    coll_free(&c);

    /* Cut inside its header: 10 bytes of it left. */
    cut = offs[NSINGLE - 1] + 10;
    assert_int_equal(truncate(path, (off_t)cut), 0);
    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_OK);
    check_prefix(&c, NSINGLE - 1);
    assert_int_equal(rs.torn_bytes, 10);
    coll_free(&c);
}

static void test_wal_garbage_after_last_record_is_dropped(void **state)
{
    struct wfx *f = *state;
    char path[512];
    size_t offs[NSINGLE + 1], size;
    struct coll c = {0};
    struct wal_replay_stats rs;
    uint8_t *junk = fx_pattern(37, 4242);

    write_single_segment(f, path, sizeof path, offs, &size);
    patch_file(path, (off_t)size, junk, 37);
    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_OK);
    check_prefix(&c, NSINGLE);
    assert_int_equal(rs.records, NSINGLE);
    assert_int_equal(rs.torn_bytes, 37);
    assert_int_equal(rs.bad_segments, 0);
    coll_free(&c);

    /* Garbage that starts like a record (magic, a length that fits, a
     * wrong CRC) is dropped as well. */
    {
        uint8_t h[37] = {0};
        le32(h, 0x4c575352u);
        h[4] = REC_TYPE;
        le32(h + 8, 13);
        le32(h + 12, 0xdeadbeefu);
        h[16] = NSINGLE + 1;
        patch_file(path, (off_t)size, h, sizeof h);
    }
    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_OK);
    check_prefix(&c, NSINGLE);
    assert_int_equal(rs.torn_bytes, 37);
    assert_int_equal(rs.max_seq, NSINGLE);
    coll_free(&c);
    free(junk);
}

static void test_wal_flipped_payload_byte_stops_that_segment(void **state)
{
    struct wfx *f = *state;
    char path[512];
    size_t offs[NSINGLE + 1], size;
    struct coll c = {0};
    struct wal_replay_stats rs;
    const size_t bad = 9;      /* index of the damaged record (seq 10) */
    uint8_t b;
    struct wal *w;

    write_single_segment(f, path, sizeof path, offs, &size);
    /* One byte in the middle of record 10's payload. */
    {
        int fd = open(path, O_RDWR);
        off_t at = (off_t)(offs[bad] + WAL_HDR + pl_len(0, bad) / 2);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &b, 1, at), 1);
        b ^= 0x20;
        assert_int_equal(pwrite(fd, &b, 1, at), 1);
        close(fd);
    }
    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_OK);
    check_prefix(&c, bad);
    assert_int_equal(rs.records, bad);
    /* The newest segment: the rest counts as its torn tail. */
    assert_int_equal(rs.torn_bytes, size - offs[bad]);
    coll_free(&c);

    /* Once a later segment exists, the damaged one is reported bad, and
     * replay goes on with the next segment. */
    assert_int_equal(wal_open(&w, f->wal, 0, NSINGLE + 1, NULL, NULL),
                     RS_OK);
    assert_int_equal(wal_active_segment(w), 2);
    for (uint32_t i = 0; i < 5; i++)
        assert_int_equal(log_one(w, 1, i, NULL), RS_OK);
    wal_close(w);
    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_OK);
    assert_int_equal(c.n, bad + 5);
    for (size_t k = 0; k < bad; k++) {
        assert_int_equal(c.r[k].seg, 1);
        check_payload(&c.r[k], 0, (uint32_t)k);
    }
    for (size_t k = 0; k < 5; k++) {
        assert_int_equal(c.r[bad + k].seg, 2);
        assert_int_equal(c.r[bad + k].seq, NSINGLE + 1 + k);
        check_payload(&c.r[bad + k], 1, (uint32_t)k);
    }
    assert_int_equal(rs.bad_segments, 1);
    assert_int_equal(rs.torn_bytes, 0);
    assert_int_equal(rs.segments, 2);
    coll_free(&c);
}

static void test_wal_replay_stops_at_callback_error(void **state)
{
    struct wfx *f = *state;
    char path[512];
    size_t offs[NSINGLE + 1], size;
    struct coll c = {.stop_at = 3};
    struct wal_replay_stats rs;

    write_single_segment(f, path, sizeof path, offs, &size);
    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_ECORRUPT);
    assert_int_equal(c.n, 3);
    coll_free(&c);
}

static void test_wal_replay_of_empty_dir_finds_nothing(void **state)
{
    struct wfx *f = *state;
    struct coll c = {0};
    struct wal_replay_stats rs;
    struct stat sb;

    /* f->wal does not exist yet: replay creates it. */
    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_OK);
    assert_int_equal(c.n, 0);
    assert_int_equal(rs.records, 0);
    assert_int_equal(rs.segments, 0);
    assert_int_equal(rs.max_seq, 0);
    assert_int_equal(stat(f->wal, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
}

/* ------------------------------------------------------------------ */
/* Segments                                                             */
/* ------------------------------------------------------------------ */

static void test_wal_segments_roll_and_retire_keeps_active(void **state)
{
    struct wfx *f = *state;
    const uint64_t seg_max = 4096;
    const uint32_t nrec = 30;
    uint64_t ids[64], want_seg[30], nsim = 1, simsize = 0;
    struct wal *w;
    struct wal_stats st;
    struct coll c = {0};
    struct wal_replay_stats rs;
    size_t n, k;
    uint64_t mid, active;

    /* Where each record should land by the rolling rule: a new segment
     * when a non-empty one would pass seg_max. */
    for (uint32_t i = 0; i < nrec; i++) {
        uint64_t total = WAL_HDR + pl_len(2, i);
        if (simsize > 0 && simsize + total > seg_max) {
            nsim++;
            simsize = 0;
        }
        simsize += total;
        want_seg[i] = nsim;
    }
    assert_true(nsim >= 4);

    assert_int_equal(wal_open(&w, f->wal, seg_max, 1, NULL, NULL), RS_OK);
    for (uint32_t i = 0; i < nrec; i++)
        assert_int_equal(log_one(w, 2, i, NULL), RS_OK);
    n = dir_segments(f->wal, ids, 64);
    assert_int_equal(n, nsim);
    for (k = 0; k < n; k++)
        assert_int_equal(ids[k], k + 1);
    active = wal_active_segment(w);
    assert_int_equal(active, nsim);
    wal_get_stats(w, &st);
    assert_int_equal(st.segments, nsim);

    /* Every record in the segment the rule says, intact. */
    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_OK);
    assert_int_equal(c.n, nrec);
    for (k = 0; k < nrec; k++) {
        assert_int_equal(c.r[k].seg, want_seg[k]);
        assert_int_equal(c.r[k].seq, k + 1);
        check_payload(&c.r[k], 2, (uint32_t)k);
    }
    coll_free(&c);
    for (k = 0; k < n; k++) {
        char path[512];
        struct stat sb;
        seg_file(path, sizeof path, f->wal, ids[k]);
        assert_int_equal(stat(path, &sb), 0);
        assert_true((uint64_t)sb.st_size <= seg_max);
    }

    /* Retire below the middle: exactly the older ones go. */
    mid = 1 + nsim / 2;
    assert_int_equal(wal_retire(w, mid), RS_OK);
    n = dir_segments(f->wal, ids, 64);
    assert_int_equal(n, nsim - (mid - 1));
    for (k = 0; k < n; k++)
        assert_int_equal(ids[k], mid + k);
    wal_get_stats(w, &st);
    assert_int_equal(st.segments, n);

    /* Retire nothing. */
    assert_int_equal(wal_retire(w, 0), RS_OK);
    assert_int_equal(dir_segments(f->wal, ids, 64), n);

    /* Retire everything: the active segment stays. */
    assert_int_equal(wal_retire(w, UINT64_MAX), RS_OK);
    n = dir_segments(f->wal, ids, 64);
    assert_int_equal(n, 1);
    assert_int_equal(ids[0], active);
    wal_get_stats(w, &st);
    assert_int_equal(st.segments, 1);

    /* And it still takes records. */
    assert_int_equal(log_one(w, 3, 0, NULL), RS_OK);
    wal_close(w);
    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_OK);
    assert_true(c.n >= 1);
    assert_int_equal(c.r[c.n - 1].seq, nrec + 1);
    check_payload(&c.r[c.n - 1], 3, 0);
    for (k = 0; k < c.n; k++)
        assert_int_equal(c.r[k].seg, active);
    coll_free(&c);
}

static void test_wal_reopen_after_replay_continues_seq(void **state)
{
    struct wfx *f = *state;
    struct wal *w;
    struct coll c = {0};
    struct wal_replay_stats rs;
    uint64_t seq, ids[8];
    struct wal_stats st;

    assert_int_equal(wal_open(&w, f->wal, 0, 1, NULL, NULL), RS_OK);
    for (uint32_t i = 0; i < 5; i++) {
        assert_int_equal(log_one(w, 4, i, &seq), RS_OK);
        assert_int_equal(seq, i + 1);
    }
    wal_close(w);
    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_OK);
    assert_int_equal(rs.max_seq, 5);
    assert_int_equal(rs.max_segment, 1);
    coll_free(&c);

    assert_int_equal(wal_open(&w, f->wal, 0, rs.max_seq + 1, NULL, NULL),
                     RS_OK);
    /* A new segment after those present; the old one stays until
     * retired. */
    assert_int_equal(wal_active_segment(w), 2);
    wal_get_stats(w, &st);
    assert_int_equal(st.segments, 2);
    for (uint32_t i = 5; i < 10; i++) {
        assert_int_equal(log_one(w, 4, i, &seq), RS_OK);
        assert_int_equal(seq, i + 1);
    }
    wal_close(w);

    assert_int_equal(dir_segments(f->wal, ids, 8), 2);
    assert_int_equal(wal_replay(f->wal, coll_cb, &c, &rs), RS_OK);
    assert_int_equal(c.n, 10);
    assert_int_equal(rs.segments, 2);
    assert_int_equal(rs.max_seq, 10);
    for (size_t k = 0; k < 10; k++) {
        assert_int_equal(c.r[k].seq, k + 1);
        assert_int_equal(c.r[k].seg, k < 5 ? 1 : 2);
        check_payload(&c.r[k], 4, (uint32_t)k);
    }
    coll_free(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_wal_threads_replay_in_seq_order_with_payloads, wfx_setup,
            wfx_teardown),
        cmocka_unit_test_setup_teardown(test_wal_group_commit_batches_fsyncs,
                                        wfx_setup, wfx_teardown),
        cmocka_unit_test_setup_teardown(
            test_wal_apply_sees_every_record_in_seq_order, wfx_setup,
            wfx_teardown),
        cmocka_unit_test_setup_teardown(
            test_wal_apply_error_fails_the_whole_batch, wfx_setup,
            wfx_teardown),
        cmocka_unit_test_setup_teardown(
            test_wal_apply_can_fail_one_record_alone, wfx_setup,
            wfx_teardown),
        cmocka_unit_test_setup_teardown(test_wal_record_format_matches_spec,
                                        wfx_setup, wfx_teardown),
        cmocka_unit_test_setup_teardown(
            test_wal_torn_tail_in_last_record_is_dropped, wfx_setup,
            wfx_teardown),
        cmocka_unit_test_setup_teardown(
            test_wal_garbage_after_last_record_is_dropped, wfx_setup,
            wfx_teardown),
        cmocka_unit_test_setup_teardown(
            test_wal_flipped_payload_byte_stops_that_segment, wfx_setup,
            wfx_teardown),
        cmocka_unit_test_setup_teardown(
            test_wal_replay_stops_at_callback_error, wfx_setup,
            wfx_teardown),
        cmocka_unit_test_setup_teardown(
            test_wal_replay_of_empty_dir_finds_nothing, wfx_setup,
            wfx_teardown),
        cmocka_unit_test_setup_teardown(
            test_wal_segments_roll_and_retire_keeps_active, wfx_setup,
            wfx_teardown),
        cmocka_unit_test_setup_teardown(
            test_wal_reopen_after_replay_continues_seq, wfx_setup,
            wfx_teardown),
    };

    /* The damaged-segment test logs an error on purpose. */
    rs_log_set_level(RS_LOG_ERROR);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
