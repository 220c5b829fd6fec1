/*
 * storebench: the store engine alone, in process, without HTTP.
 *
 *   storebench --data DIR [--size S] [--concurrency N] [--duration SEC]
 *              [--small-threshold BYTES] [--check] [--no-events]
 *
 * N threads each write whole objects of S bytes through the store's own
 * writer API (store_writer_open / write / commit), exactly what the
 * gateway calls for a PUT once the request is parsed and authenticated,
 * for SEC seconds.  Every commit is durable when it returns (the merge
 * path's WAL record is fdatasync'ed, the striped path's container and
 * directory are).  --small-threshold 0 forces the striped path (one
 * container file per object); the default is the config default (merge
 * path for objects <= 1 MiB).  --check reads every object back afterwards
 * and compares it byte for byte.
 *
 * This separates what the storage design costs from what the HTTP layer
 * costs: set beside `rsbench fsyncfiles` (one file + fdatasync per
 * object) it tells whether group commit beats one fsync per object on
 * this disk, whatever the CPU of the gateway.  Prints one human line and
 * one "STOREBENCH key=value ..." line.
 */
#include "core/rs.h"
#include "store/store.h"

#include <getopt.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static struct {
    const char *data;
    uint64_t size;
    int conc;
    double duration;
    int64_t small_threshold;   /* -1: config default */
    bool check;
    bool no_events;            /* the outbox off ([events] enabled) */
} o = {NULL, 4096, 64, 5.0, -1, false, false};

static struct store *g_store;
static atomic_bool g_stop;
static double g_t0;

struct worker {
    pthread_t tid;
    int id;
    uint64_t ops, errs;
    double *lat;               /* seconds per commit, first ops of them */
    size_t nlat, caplat;
};

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Object i of worker w: a window of a random pattern at an offset derived
 * from both, so a read of the wrong object or offset is caught by --check
 * and making a body costs nothing. */
#define PAT_LEN (8u << 20)
static uint8_t *g_pat;

static const uint8_t *body_of(int w, uint64_t i)
{
    uint64_t x = ((uint64_t)w * 1000003u + i * 7919u) * 4099u;

    return g_pat + x % (PAT_LEN - o.size + 1);
}

static void make_pattern(void)
{
    uint64_t x = 0x2545f4914f6cdd1dull;

    g_pat = rs_xmalloc(PAT_LEN);
    for (size_t k = 0; k + 8 <= PAT_LEN; k += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        memcpy(g_pat + k, &x, 8);
    }
}

static int put_one(int w, uint64_t i, const uint8_t *body)
{
    struct store_writer *wr;
    struct store_obj info = {0};
    char key[64];
    int rc;

    snprintf(key, sizeof key, "w%03d/%010" PRIu64, w, i);
    if ((rc = store_writer_open(g_store, &wr, "bench", key, NULL)) != RS_OK)
        return rc;
    if ((rc = store_writer_write(wr, body, o.size)) != RS_OK) {
        store_writer_abort(wr);
        return rc;
    }
    info.etag = "0123456789abcdef0123456789abcdef";
    info.acl.owner = "bench";
    return store_writer_commit(wr, &info);
}

static void *work(void *arg)
{
    struct worker *w = arg;

    while (!atomic_load(&g_stop)) {
        double t = now();

        if (put_one(w->id, w->ops, body_of(w->id, w->ops)) != RS_OK) {
            w->errs++;
            if (w->errs == 1)
                fprintf(stderr, "storebench: %s\n", rs_err_msg());
            break;
        }
        t = now() - t;
        if (w->nlat == w->caplat) {
            w->caplat = w->caplat ? w->caplat * 2 : 4096;
            w->lat = rs_xrealloc(w->lat, w->caplat * sizeof *w->lat);
        }
        w->lat[w->nlat++] = t;
        w->ops++;
        if (now() - g_t0 >= o.duration)
            atomic_store(&g_stop, true);
    }
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* Read every object back and compare; the number of mismatches. */
static uint64_t check(struct worker *ws)
{
    uint8_t *got = rs_xmalloc(o.size);
    uint64_t bad = 0;

    for (int w = 0; w < o.conc; w++) {
        for (uint64_t i = 0; i < ws[w].ops; i++) {
            struct rs_arena *a = rs_arena_new();
            struct store_reader *r;
            struct store_obj info;
            char key[64];
            size_t n = 0;

            snprintf(key, sizeof key, "w%03d/%010" PRIu64, w, i);
            const uint8_t *want = body_of(w, i);
            if (store_object_head(g_store, a, &info, "bench", key) != RS_OK ||
                store_reader_open(g_store, &r, &info) != RS_OK) {
                bad++;
                rs_arena_free(a);
                continue;
            }
            while (n < o.size) {
                size_t k = 0;
                if (store_reader_read(r, n, got + n, o.size - n, &k) !=
                        RS_OK || k == 0)
                    break;
                n += k;
            }
            store_reader_close(r);
            if (n != o.size || info.size != o.size ||
                memcmp(want, got, o.size) != 0)
                bad++;
            rs_arena_free(a);
        }
    }
    free(got);
    return bad;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: storebench --data DIR [--size S] [--concurrency N] "
            "[--duration SEC] [--small-threshold BYTES] [--check] "
            "[--no-events]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    static const struct option lo[] = {
        {"data", required_argument, NULL, 'd'},
        {"size", required_argument, NULL, 's'},
        {"concurrency", required_argument, NULL, 'c'},
        {"duration", required_argument, NULL, 't'},
        {"small-threshold", required_argument, NULL, 'm'},
        {"check", no_argument, NULL, 'k'},
        {"no-events", no_argument, NULL, 'e'},
        {NULL, 0, NULL, 0},
    };
    struct store_bucket bk = {0};
    struct rs_config cfg;
    struct worker *ws;
    uint64_t ops = 0, errs = 0, bad = 0;
    double el, *lat;
    size_t nlat = 0;
    int c;

    while ((c = getopt_long(argc, argv, "", lo, NULL)) != -1) {
        switch (c) {
        case 'd': o.data = optarg; break;
        case 's':
            if (rs_parse_size(&o.size, optarg) != RS_OK || o.size == 0)
                usage();
            break;
        case 'c': o.conc = atoi(optarg); break;
        case 't': o.duration = atof(optarg); break;
        case 'm': o.small_threshold = atoll(optarg); break;
        case 'k': o.check = true; break;
        case 'e': o.no_events = true; break;
        default: usage();
        }
    }
    if (!o.data || o.conc < 1 || o.duration <= 0 || o.size > PAT_LEN / 2)
        usage();
    make_pattern();

    rs_config_init(&cfg);
    free(cfg.data_dir);
    cfg.data_dir = rs_xstrdup(o.data);
    if (o.small_threshold >= 0)
        cfg.small_threshold = (uint64_t)o.small_threshold;
    cfg.events_enabled = !o.no_events;
    rs_config_finish(&cfg);
    if (store_open(&g_store, &cfg) != RS_OK) {
        fprintf(stderr, "storebench: open %s: %s\n", o.data, rs_err_msg());
        return 1;
    }
    bk.name = "bench";
    bk.region = "us-east-1";
    bk.acl.owner = "bench";
    c = store_bucket_create(g_store, &bk);
    if (c != RS_OK && c != RS_EEXIST) {
        fprintf(stderr, "storebench: bucket: %s\n", rs_err_msg());
        return 1;
    }

    ws = rs_xcalloc((size_t)o.conc, sizeof *ws);
    g_t0 = now();
    for (int i = 0; i < o.conc; i++) {
        ws[i].id = i;
        if (pthread_create(&ws[i].tid, NULL, work, &ws[i])) {
            perror("pthread_create");
            return 1;
        }
    }
    for (int i = 0; i < o.conc; i++) {
        pthread_join(ws[i].tid, NULL);
        ops += ws[i].ops;
        errs += ws[i].errs;
        nlat += ws[i].nlat;
    }
    el = now() - g_t0;
    lat = rs_xmalloc((nlat ? nlat : 1) * sizeof *lat);
    nlat = 0;
    for (int i = 0; i < o.conc; i++) {
        memcpy(lat + nlat, ws[i].lat, ws[i].nlat * sizeof *lat);
        nlat += ws[i].nlat;
    }
    qsort(lat, nlat, sizeof *lat, cmp_double);
    if (o.check)
        bad = check(ws);

    double p50 = nlat ? lat[nlat / 2] * 1e3 : 0;
    double p99 = nlat ? lat[(size_t)((double)nlat * 0.99)] * 1e3 : 0;
    printf("storebench put size=%" PRIu64 " conc=%d path=%s ok=%" PRIu64
           " err=%" PRIu64 " time=%.2fs %.1f ops/s p50=%.3fms p99=%.3fms%s\n",
           o.size, o.conc,
           cfg.small_threshold >= o.size ? "merge" : "striped", ops, errs, el,
           (double)ops / el, p50, p99,
           o.check ? (bad ? " CHECK FAILED" : " check=ok") : "");
    printf("STOREBENCH mode=put events=%s size=%" PRIu64 " conc=%d path=%s "
           "ok=%" PRIu64
           " err=%" PRIu64 " time=%.3f ops_per_s=%.1f p50_ms=%.3f "
           "p99_ms=%.3f check_bad=%" PRIu64 "\n",
           o.no_events ? "off" : "on", o.size, o.conc,
           cfg.small_threshold >= o.size ? "merge" : "striped", ops, errs, el,
           (double)ops / el, p50, p99, bad);
    store_close(g_store);
    for (int i = 0; i < o.conc; i++)
        free(ws[i].lat);
    free(ws);
    free(lat);
    free(g_pat);
    rs_config_dispose(&cfg);
    return errs || bad ? 1 : 0;
}
