/*
 * core/metrics.c - the metrics registry and its Prometheus text rendering.
 *
 * Entries are kept in one registration-ordered list guarded by reg_lock
 * (taken to look up or add an entry, and while rendering).  Values are
 * updated with relaxed atomics and never take the lock.  Entries are never
 * freed: the set of label combinations is small and fixed by the program.
 */
#include "core/rs.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HIST_NBUCKETS 14

/* Upper bounds of the latency buckets, in seconds. */
static const double hist_bounds[HIST_NBUCKETS] = {
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
    0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
};

enum metric_kind { M_COUNTER, M_HISTOGRAM, M_GAUGE, M_WRITER };

struct rs_counter {
    _Atomic uint64_t value;
};

struct rs_histogram {
    _Atomic uint64_t buckets[HIST_NBUCKETS + 1]; /* last one is +Inf */
    _Atomic uint64_t sum_ns;                     /* sum in nanoseconds */
};

struct metric {
    struct metric *next;
    enum metric_kind kind;
    char *name;
    char *labels;
    char *help;
    union {
        struct rs_counter counter;
        struct rs_histogram hist;
        struct {
            double (*fn)(void *arg);
            void *arg;
        } gauge;
        struct {
            void (*fn)(struct rs_buf *out, void *arg);
            void *arg;
        } writer;
    } u;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER; /* guards list */
static struct metric *reg_head;
static struct metric **reg_tail = &reg_head;

static struct metric *metric_find_or_add(enum metric_kind kind,
                                         const char *name,
                                         const char *labels,
                                         const char *help)
{
    struct metric *m;

    pthread_mutex_lock(&reg_lock);
    for (m = reg_head; m; m = m->next) {
        if (m->kind == kind && !strcmp(m->name, name) &&
            !strcmp(m->labels, labels ? labels : ""))
            break;
    }
    if (!m) {
        m = rs_xcalloc(1, sizeof(*m));
        m->kind = kind;
        m->name = rs_xstrdup(name);
        m->labels = rs_xstrdup(labels ? labels : "");
        m->help = rs_xstrdup(help ? help : "");
        *reg_tail = m;
        reg_tail = &m->next;
    }
    pthread_mutex_unlock(&reg_lock);
    return m;
}

struct rs_counter *rs_counter_get(const char *name, const char *labels,
                                  const char *help)
{
    return &metric_find_or_add(M_COUNTER, name, labels, help)->u.counter;
}

void rs_counter_add(struct rs_counter *c, uint64_t n)
{
    atomic_fetch_add_explicit(&c->value, n, memory_order_relaxed);
}

void rs_gauge_register(const char *name, const char *help,
                       double (*fn)(void *arg), void *arg)
{
    struct metric *m = metric_find_or_add(M_GAUGE, name, NULL, help);

    m->u.gauge.fn = fn;
    m->u.gauge.arg = arg;
}

struct rs_histogram *rs_histogram_get(const char *name, const char *labels,
                                      const char *help)
{
    return &metric_find_or_add(M_HISTOGRAM, name, labels, help)->u.hist;
}

void rs_histogram_observe(struct rs_histogram *h, double seconds)
{
    int i;

    for (i = 0; i < HIST_NBUCKETS; i++)
        if (seconds <= hist_bounds[i])
            break;
    atomic_fetch_add_explicit(&h->buckets[i], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&h->sum_ns, (uint64_t)(seconds * 1e9),
                              memory_order_relaxed);
}

void rs_metrics_register_writer(void (*fn)(struct rs_buf *out, void *arg),
                                void *arg)
{
    char name[32];
    struct metric *m;
    static int n;

    pthread_mutex_lock(&reg_lock);
    snprintf(name, sizeof(name), "writer%d", n++);
    pthread_mutex_unlock(&reg_lock);
    m = metric_find_or_add(M_WRITER, name, NULL, NULL);
    m->u.writer.fn = fn;
    m->u.writer.arg = arg;
}

/* HELP and TYPE once per family: only before its first entry. */
static bool family_seen(struct metric *upto, struct metric *m)
{
    struct metric *p;

    for (p = reg_head; p && p != upto; p = p->next)
        if (p->kind == m->kind && !strcmp(p->name, m->name))
            return true;
    return false;
}

static int render_hist(struct rs_buf *out, struct metric *m)
{
    const char *sep = *m->labels ? "," : "";
    uint64_t cum = 0;
    int i, rc = 0;

    for (i = 0; i <= HIST_NBUCKETS && !rc; i++) {
        cum += atomic_load_explicit(&m->u.hist.buckets[i],
                                    memory_order_relaxed);
        if (i < HIST_NBUCKETS)
            rc = rs_buf_printf(out, "%s_bucket{%s%sle=\"%g\"} %llu\n",
                               m->name, m->labels, sep, hist_bounds[i],
                               (unsigned long long)cum);
        else
            rc = rs_buf_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %llu\n",
                               m->name, m->labels, sep,
                               (unsigned long long)cum);
    }
    if (!rc)
        rc = rs_buf_printf(out, "%s_sum%s%s%s %.9f\n%s_count%s%s%s %llu\n",
                           m->name, *m->labels ? "{" : "", m->labels,
                           *m->labels ? "}" : "",
                           (double)atomic_load(&m->u.hist.sum_ns) / 1e9,
                           m->name, *m->labels ? "{" : "", m->labels,
                           *m->labels ? "}" : "", (unsigned long long)cum);
    return rc;
}

int rs_metrics_render(struct rs_buf *out)
{
    static const char *types[] = { "counter", "histogram", "gauge", "" };
    struct metric *m;
    int rc = 0;

    pthread_mutex_lock(&reg_lock);
    for (m = reg_head; m && !rc; m = m->next) {
        if (m->kind == M_WRITER) {
            m->u.writer.fn(out, m->u.writer.arg);
            continue;
        }
        if (!family_seen(m, m))
            rc = rs_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", m->name,
                               m->help, m->name, types[m->kind]);
        if (rc)
            break;
        switch (m->kind) {
        case M_COUNTER:
            rc = rs_buf_printf(out, "%s%s%s%s %llu\n", m->name,
                               *m->labels ? "{" : "", m->labels,
                               *m->labels ? "}" : "",
                               (unsigned long long)atomic_load(
                                   &m->u.counter.value));
            break;
        case M_GAUGE:
            rc = rs_buf_printf(out, "%s %.17g\n", m->name,
                               m->u.gauge.fn(m->u.gauge.arg));
            break;
        case M_HISTOGRAM:
            rc = render_hist(out, m);
            break;
        case M_WRITER:
            break;
        }
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}
