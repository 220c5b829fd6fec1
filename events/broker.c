/*
 * events/broker.c - durable consumer groups: at-least-once delivery of the
 * outbox's events to worker processes over ZeroMQ (protocol in events.h).
 *
 * A GROUP is a name, a filter (bucket, key prefix, key suffix, event-name
 * prefixes) and a durable cursor: every matching event with a sequence at
 * or below the cursor was acknowledged by one of the group's workers (or
 * given up on: dead-lettered).  Groups live in the index (G/<group>,
 * store_events_group_*), so a group that was down, or a broker restarted
 * after kill -9, resumes from its cursor; what was in flight is delivered
 * again (at least once, never lost).  A group is created by the first
 * HELLO that names it, starting at the outbox head of that moment (the
 * events from then on); a later HELLO with a filter replaces the filter.
 *
 * Each group keeps a WINDOW: its matching events above the cursor, read
 * from the outbox in sequence order, at most WINDOW_MAX of them.  An event
 * is READY, INFLIGHT (sent to one worker, waiting for its ACK) or DONE.
 * An event is sent only when no earlier undone event of the window has
 * the same bucket/key: events of one object reach the group's workers one
 * at a time, in order.  A worker takes at most its credit of events at a
 * time; workers are served round-robin.  An event goes back to READY
 * when its worker NACKs it, when its ack is late (ack_timeout), or when
 * its worker falls silent (worker_timeout; workers ping every second).
 * After max_attempts deliveries it is dead-lettered (D/<group>/<seq>, with
 * sync) and counts as done.  The cursor moves past the DONE events at the
 * front of the window and is written (without sync) at most every 100 ms.
 *
 * One thread owns the ROUTER socket and every group; other threads only
 * read counters (stats) under the lock.
 */
#include "events/events_int.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define WINDOW_MAX 1024
#define ID_MAX 256                   /* ZeroMQ routing ids are <= 255 */
#define CURSOR_EVERY_NS 100000000LL
#define GONE_MAX 64

enum ev_state { EV_READY, EV_INFLIGHT, EV_DONE };

struct gev {
    uint64_t seq;
    enum ev_state state;
    int attempts;                    /* deliveries so far */
    int64_t deadline;                /* INFLIGHT: ack due (monotonic) */
    int64_t t_ns;                    /* commit time (wall clock) */
    struct worker *w;                /* INFLIGHT: whose */
    char *objkey;                    /* bucket/key: the ordering unit */
    char *topic, *msg;
};

struct worker {
    struct worker *next;             /* the group's list */
    unsigned char id[ID_MAX];
    size_t idlen;
    int credit, inflight;
    int64_t last_seen;
};

/* A WATCH client (`roadstore events tail --group`): gets a copy of every
 * event routed to the group, read on its own cursor, takes no part in
 * delivery. */
struct watcher {
    struct watcher *next;
    unsigned char id[ID_MAX];
    size_t idlen;
    uint64_t next_seq;               /* first not looked at */
    int64_t last_seen;
    unsigned outstanding;            /* COPYs sent, not yet SEEN */
};

/* COPYs a watcher may have outstanding: well below ZeroMQ's send
 * high-water mark (1,000 messages), past which a ROUTER drops. */
#define WATCH_WINDOW 256

struct filter {
    bool set;                        /* a worker gave one */
    char *bucket, *prefix, *suffix;
    char **events;                   /* name prefixes; none: all */
    size_t nevents;
};

struct group {
    struct group *next;
    char name[80];
    struct filter f;
    bool by_rules;                   /* created for a notification target:
                                        without rules it takes nothing */
    uint64_t cursor;                 /* done up to here */
    uint64_t next_seq;               /* first not read into the window */
    uint64_t saved_cursor;
    int64_t saved_at;
    struct gev *win[WINDOW_MAX];     /* by seq; win[0] the oldest undone */
    size_t nwin;
    struct worker *workers, *rr;     /* rr: next to serve */
    struct watcher *watchers;
    /* counters and a snapshot of the rest for other threads (under the
     * broker's lock) */
    uint64_t delivered, acked, redelivered, dead;
    uint64_t st_cursor, st_saved;
    size_t st_workers, st_inflight;
    /* rates over the last second or so (events/s) */
    double st_ack_rate, st_delivery_rate;
    uint64_t rate_acked, rate_delivered;
    int64_t rate_at;
};

struct ev_broker {
    struct store *s;
    void *zctx, *router;
    char *region;
    int ack_timeout_ns_s, max_attempts, worker_timeout_s;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;            /* groups list shape + counters */
    struct group *groups;
    struct rs_histogram *latency;    /* commit -> first delivery */
    struct ev_rules *rules;          /* bucket notification rules */
    uint64_t rules_gen;
    /* Group deletions asked by other threads (admin), done by this one. */
    struct del_req *dels;
    pthread_cond_t del_cond;
    /* Workers of deleted groups (the last GONE_MAX): told "group deleted"
     * again rather than "unknown worker", which would make them HELLO
     * the group back. */
    struct {
        unsigned char id[ID_MAX];
        size_t idlen;
    } gone[GONE_MAX];
    size_t ngone, gone_next;
};

struct del_req {
    struct del_req *next;
    const char *group;
    int rc;
    bool done;
    char msg[160];
};

static void broker_free(struct ev_broker *b);
static bool watcher_msg(struct ev_broker *b, const void *id, size_t idlen,
                        char **f, int n);
static void metrics_writer(struct rs_buf *out, void *arg);

/* The running broker, for the metrics writer (registered once). */
static pthread_mutex_t g_metrics_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ev_broker *g_metrics_broker;
static bool g_metrics_registered;


/* ------------------------------------------------------------------ */
/* Filters and group records                                            */
/* ------------------------------------------------------------------ */

static void filter_free(struct filter *f)
{
    free(f->bucket);
    free(f->prefix);
    free(f->suffix);
    for (size_t i = 0; i < f->nevents; i++)
        free(f->events[i]);
    free(f->events);
    memset(f, 0, sizeof *f);
}

static char *dupstr(json_t *j, const char *k)
{
    const char *v = json_string_value(json_object_get(j, k));
    return v && *v ? rs_xstrdup(v) : NULL;
}

/* "s3:ObjectCreated:*" and "ObjectCreated:" both mean the prefix
 * "ObjectCreated:". */
static char *event_prefix(const char *e)
{
    char *p;
    size_t n;

    if (!strncmp(e, "s3:", 3))
        e += 3;
    p = rs_xstrdup(e);
    n = strlen(p);
    if (n && p[n - 1] == '*')
        p[n - 1] = '\0';
    return p;
}

static int filter_parse(struct filter *f, json_t *j)
{
    json_t *ev = json_object_get(j, "events"), *e;
    size_t i;

    memset(f, 0, sizeof *f);
    if (j && !json_is_object(j))
        return rs_err_set(RS_EINVAL, "filter is not a JSON object");
    f->bucket = dupstr(j, "bucket");
    f->prefix = dupstr(j, "prefix");
    f->suffix = dupstr(j, "suffix");
    f->set = f->bucket || f->prefix || f->suffix ||
             (json_is_array(ev) && json_array_size(ev));
    if (json_is_array(ev) && json_array_size(ev)) {
        f->events = rs_xcalloc(json_array_size(ev), sizeof *f->events);
        json_array_foreach(ev, i, e)
            if (json_is_string(e))
                f->events[f->nevents++] = event_prefix(json_string_value(e));
    }
    return RS_OK;
}

static json_t *filter_json(const struct filter *f)
{
    return ev_filter_json(f->bucket, f->prefix, f->suffix,
                          (const char *const *)f->events, f->nevents);
}

static bool filter_match(const struct filter *f, const char *bucket,
                         const char *key, const char *name)
{
    size_t kl = strlen(key);

    if (f->bucket && strcmp(f->bucket, bucket) != 0)
        return false;
    if (f->prefix && strncmp(key, f->prefix, strlen(f->prefix)) != 0)
        return false;
    if (f->suffix && (kl < strlen(f->suffix) ||
                      strcmp(key + kl - strlen(f->suffix), f->suffix) != 0))
        return false;
    if (f->nevents == 0)
        return true;
    for (size_t i = 0; i < f->nevents; i++)
        if (!strncmp(name, f->events[i], strlen(f->events[i])))
            return true;
    return false;
}

/* Write the group record: {"v":1, "filter":{...}, "cursor":N}. */
static void group_save(struct ev_broker *b, struct group *g, bool sync)
{
    json_t *j = json_pack("{s:i, s:o, s:I, s:b}", "v", 1, "filter",
                          filter_json(&g->f), "cursor",
                          (json_int_t)g->cursor, "notify", g->by_rules);
    char *s = json_dumps(j, JSON_COMPACT);

    if (!s || store_events_group_put(b->s, g->name, s, sync) != RS_OK)
        rs_warn("events: group %s: cursor not saved: %s", g->name,
                rs_err_msg());
    else
        g->saved_cursor = g->cursor;
    pthread_mutex_lock(&b->lock);
    g->st_saved = g->saved_cursor;
    pthread_mutex_unlock(&b->lock);
    g->saved_at = rs_mono_ns();
    free(s);
    json_decref(j);
}

static struct group *group_find(struct ev_broker *b, const char *name)
{
    for (struct group *g = b->groups; g; g = g->next)
        if (!strcmp(g->name, name))
            return g;
    return NULL;
}

static struct group *group_new(struct ev_broker *b, const char *name)
{
    struct group *g = rs_xcalloc(1, sizeof *g);

    snprintf(g->name, sizeof g->name, "%s", name);
    pthread_mutex_lock(&b->lock);
    g->next = b->groups;
    b->groups = g;
    pthread_mutex_unlock(&b->lock);
    return g;
}

static int load_group(void *arg, const char *name, const char *json,
                      size_t len)
{
    struct ev_broker *b = arg;
    json_error_t err;
    json_t *j = json_loadb(json, len, 0, &err);
    struct group *g;

    if (!strncmp(name, EV_WEBHOOK_GROUP_PREFIX,
                 strlen(EV_WEBHOOK_GROUP_PREFIX))) {
        json_decref(j);
        return 0;                    /* webhook.c's */
    }
    if (!json_is_object(j)) {
        rs_warn("events: group record %s unreadable; skipped", name);
        json_decref(j);
        return 0;
    }
    g = group_new(b, name);
    filter_parse(&g->f, json_object_get(j, "filter"));
    g->by_rules = json_is_true(json_object_get(j, "notify"));
    g->cursor = g->saved_cursor = g->st_cursor = g->st_saved =
        (uint64_t)json_integer_value(json_object_get(j, "cursor"));
    g->next_seq = g->cursor + 1;
    json_decref(j);
    return 0;
}

/* ------------------------------------------------------------------ */
/* Sending                                                              */
/* ------------------------------------------------------------------ */

static void send_frames(struct ev_broker *b, const struct worker *w,
                        const char *const *f, int n)
{
    zmq_send(b->router, w->id, w->idlen, ZMQ_SNDMORE);
    for (int i = 0; i < n; i++)
        zmq_send(b->router, f[i], strlen(f[i]), i + 1 < n ? ZMQ_SNDMORE : 0);
}

static void send_to_id(struct ev_broker *b, const void *id, size_t idlen,
                       const char *what, const char *arg)
{
    zmq_send(b->router, id, idlen, ZMQ_SNDMORE);
    zmq_send(b->router, what, strlen(what), ZMQ_SNDMORE);
    zmq_send(b->router, arg, strlen(arg), 0);
}

/* ------------------------------------------------------------------ */
/* The window                                                           */
/* ------------------------------------------------------------------ */

static void gev_free(struct gev *e)
{
    free(e->objkey);
    free(e->topic);
    free(e->msg);
    free(e);
}

/* Does the event go to g: its workers' filter, or a bucket notification
 * rule that targets it; a group with neither takes everything. */
static bool group_match(struct ev_broker *b, const struct group *g,
                        const char *bucket, const char *key, const char *name,
                        const char **config_id)
{
    bool notified = ev_rules_has_target(b->rules, EV_TARGET_ZMQ, g->name);

    *config_id = NULL;
    if (!g->f.set && !notified)
        return !g->by_rules;         /* a worker that asked for everything */
    if (notified && ev_rules_match(b->rules, EV_TARGET_ZMQ, g->name, bucket,
                                   key, name, config_id))
        return true;
    return g->f.set && filter_match(&g->f, bucket, key, name);
}

/* Reload the notification rules when they changed; a group they name that
 * does not exist yet starts where its configuration was written. */
static void rules_refresh(struct ev_broker *b)
{
    uint64_t gen = store_notification_gen(b->s);
    const char *names[256];
    uint64_t since[256];
    size_t n;

    if (gen == b->rules_gen)
        return;
    ev_rules_free(b->rules);
    b->rules = ev_rules_load(b->s);
    b->rules_gen = gen;
    n = ev_rules_targets(b->rules, EV_TARGET_ZMQ, names, since, 256);
    for (size_t i = 0; i < n; i++) {
        struct group *g;
        if (group_find(b, names[i]))
            continue;
        g = group_new(b, names[i]);
        g->by_rules = true;
        g->cursor = g->st_cursor = since[i];
        g->next_seq = since[i] + 1;
        group_save(b, g, true);
        rs_info("events: group %s created by a bucket notification "
                "configuration (from sequence %llu)", g->name,
                (unsigned long long)since[i] + 1);
    }
}

struct fill_arg {
    struct ev_broker *b;
    struct group *g;
    uint64_t last;                   /* last sequence looked at */
    size_t seen;
};

static int fill_one(void *arg, uint64_t seq, const char *json, size_t len)
{
    struct fill_arg *a = arg;
    struct group *g = a->g;
    const char *config_id = NULL;
    struct ev_rec r;
    struct gev *e;

    a->last = seq;
    a->seen++;
    if (!ev_rec_parse(&r, json, len))
        return 0;
    if (!group_match(a->b, g, r.bucket, r.key, r.name, &config_id)) {
        ev_rec_free(&r);
        return 0;
    }
    e = rs_xcalloc(1, sizeof *e);
    e->seq = seq;
    e->t_ns = r.t_ns;
    e->objkey = rs_xmalloc(strlen(r.bucket) + strlen(r.key) + 2);
    sprintf(e->objkey, "%s/%s", r.bucket, r.key);
    ev_rec_free(&r);
    if (ev_render(&e->msg, &e->topic, seq, json, len, a->b->region,
                  config_id) != RS_OK) {
        gev_free(e);
        return 0;
    }
    g->win[g->nwin++] = e;
    return g->nwin == WINDOW_MAX;    /* full: stop here */
}

#define FILL_MAX 4096

/* Read matching events above next_seq into the window, up to head. */
static void fill(struct ev_broker *b, struct group *g, uint64_t head)
{
    struct fill_arg a = {b, g, g->next_seq - 1, 0};

    if (g->nwin == WINDOW_MAX || g->next_seq > head)
        return;
    /* a positive result: fill_one stopped the read (window full) */
    if (store_events_read(b->s, g->next_seq - 1, head, FILL_MAX, fill_one,
                          &a) < 0) {
        rs_warn("events: group %s: outbox read failed: %s", g->name,
                rs_err_msg());
        return;
    }
    /* Stopped early (window full, or the read's limit): continue after
     * the last one looked at; else everything up to head is settled (gaps
     * are failed commits). */
    if (g->nwin == WINDOW_MAX || a.seen == FILL_MAX)
        g->next_seq = a.last + 1;
    else
        g->next_seq = head + 1;
}

/* May e go out: no earlier undone event of the same object? */
static bool key_free(const struct group *g, size_t i)
{
    for (size_t j = 0; j < i; j++)
        if (g->win[j]->state != EV_DONE &&
            !strcmp(g->win[j]->objkey, g->win[i]->objkey))
            return false;
    return true;
}

static struct worker *pick_worker(struct group *g)
{
    struct worker *w = g->rr ? g->rr : g->workers;

    for (struct worker *start = w; w;) {
        struct worker *nx = w->next ? w->next : g->workers;
        if (w->inflight < w->credit) {
            g->rr = nx;
            return w;
        }
        w = nx;
        if (w == start)
            break;
    }
    return NULL;
}

static void dead_letter(struct ev_broker *b, struct group *g, struct gev *e,
                        const char *why)
{
    json_error_t err;
    json_t *j = json_pack_ex(&err, 0, "{s:I, s:i, s:s, s:s, s:s}", "seq",
                             (json_int_t)e->seq, "attempts", e->attempts,
                             "reason", why, "topic", e->topic, "event",
                             e->msg);
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    int rc = s ? store_events_dlq_put(b->s, g->name, e->seq, s)
               : rs_err_set(RS_ERR, "cannot encode the dead letter: %s",
                            err.text);

    if (rc != RS_OK)
        rs_warn("events: group %s: dead letter %llu not written: %s (%d)",
                g->name, (unsigned long long)e->seq, rs_err_msg(), rc);
    else
        rs_warn("events: group %s: event %llu dead-lettered after %d "
                "attempts (%s)", g->name, (unsigned long long)e->seq,
                e->attempts, why);
    free(s);
    json_decref(j);
    e->state = EV_DONE;
    pthread_mutex_lock(&b->lock);
    g->dead++;
    pthread_mutex_unlock(&b->lock);
}

static void dispatch(struct ev_broker *b, struct group *g)
{
    for (size_t i = 0; i < g->nwin; i++) {
        struct gev *e = g->win[i];
        struct worker *w;
        char seq[24], att[16];
        const char *f[5];

        if (e->state != EV_READY || !key_free(g, i))
            continue;
        if (e->attempts >= b->max_attempts) {
            dead_letter(b, g, e, "max attempts");
            continue;
        }
        if (!(w = pick_worker(g)))
            return;
        e->attempts++;
        e->state = EV_INFLIGHT;
        e->w = w;
        e->deadline = rs_mono_ns() + (int64_t)b->ack_timeout_ns_s *
                                         1000000000LL;
        w->inflight++;
        snprintf(seq, sizeof seq, "%llu", (unsigned long long)e->seq);
        snprintf(att, sizeof att, "%d", e->attempts);
        f[0] = "EVENT";
        f[1] = seq;
        f[2] = att;
        f[3] = e->topic;
        f[4] = e->msg;
        send_frames(b, w, f, 5);
        pthread_mutex_lock(&b->lock);
        g->delivered++;
        if (e->attempts > 1)
            g->redelivered++;
        pthread_mutex_unlock(&b->lock);
        if (e->attempts == 1 && e->t_ns)
            rs_histogram_observe(b->latency,
                                 (double)(rs_now_ns() - e->t_ns) / 1e9);
    }
}

/* Drop DONE events at the front; move and (now and then) save the
 * cursor. */
static void advance(struct ev_broker *b, struct group *g)
{
    size_t n = 0;

    while (n < g->nwin && g->win[n]->state == EV_DONE)
        gev_free(g->win[n++]);
    if (n) {
        memmove(g->win, g->win + n, (g->nwin - n) * sizeof *g->win);
        g->nwin -= n;
    }
    g->cursor = g->nwin ? g->win[0]->seq - 1 : g->next_seq - 1;
    if (g->cursor != g->saved_cursor &&
        rs_mono_ns() - g->saved_at >= CURSOR_EVERY_NS)
        group_save(b, g, false);
}

static void requeue(struct group *g, struct gev *e)
{
    if (e->w)
        e->w->inflight--;
    e->w = NULL;
    e->state = EV_READY;
    (void)g;
}

/* Late acks and silent workers. */
static void expire(struct ev_broker *b, struct group *g, int64_t now)
{
    struct worker **pw = &g->workers;

    for (size_t i = 0; i < g->nwin; i++)
        if (g->win[i]->state == EV_INFLIGHT && g->win[i]->deadline < now)
            requeue(g, g->win[i]);
    while (*pw) {
        struct worker *w = *pw;
        if (now - w->last_seen > (int64_t)b->worker_timeout_s * 1000000000LL) {
            rs_info("events: group %s: a worker fell silent; its events go "
                    "to the others", g->name);
            for (size_t i = 0; i < g->nwin; i++)
                if (g->win[i]->w == w)
                    requeue(g, g->win[i]);
            *pw = w->next;
            if (g->rr == w)
                g->rr = NULL;
            free(w);
            continue;
        }
        pw = &w->next;
    }
}

/* ------------------------------------------------------------------ */
/* Messages from workers                                                */
/* ------------------------------------------------------------------ */

static struct worker *worker_find(struct ev_broker *b, const void *id,
                                  size_t idlen, struct group **gout)
{
    for (struct group *g = b->groups; g; g = g->next)
        for (struct worker *w = g->workers; w; w = w->next)
            if (w->idlen == idlen && !memcmp(w->id, id, idlen)) {
                *gout = g;
                return w;
            }
    return NULL;
}

static void worker_drop(struct group *g, struct worker *w)
{
    struct worker **pw;

    for (size_t i = 0; i < g->nwin; i++)
        if (g->win[i]->w == w)
            requeue(g, g->win[i]);
    for (pw = &g->workers; *pw; pw = &(*pw)->next)
        if (*pw == w) {
            *pw = w->next;
            break;
        }
    if (g->rr == w)
        g->rr = NULL;
    free(w);
}

static void on_hello(struct ev_broker *b, const void *id, size_t idlen,
                     char **f, int n)
{
    struct group *g, *og;
    struct worker *w;
    json_error_t err;
    json_t *j = NULL;
    bool fresh = false;
    int credit = n >= 4 ? atoi(f[3]) : 16;

    if (n < 2 || !store_events_group_name_ok(f[1]) ||
        !strncmp(f[1], EV_WEBHOOK_GROUP_PREFIX,
                 strlen(EV_WEBHOOK_GROUP_PREFIX))) {
        send_to_id(b, id, idlen, "ERROR", "HELLO needs a valid group name");
        return;
    }
    if (n >= 3 && *f[2]) {
        j = json_loads(f[2], 0, &err);
        if (!json_is_object(j)) {
            json_decref(j);
            send_to_id(b, id, idlen, "ERROR", "bad filter JSON");
            return;
        }
    }
    if ((w = worker_find(b, id, idlen, &og)) != NULL)
        worker_drop(og, w);          /* a second HELLO: start over */
    /* A group a notification configuration names is created by the rules
     * (from where the configuration was written), not by its first
     * worker. */
    rules_refresh(b);
    if (!(g = group_find(b, f[1]))) {
        g = group_new(b, f[1]);
        g->cursor = store_events_head(b->s);
        g->next_seq = g->cursor + 1;
        fresh = true;
    }
    if (j) {
        filter_free(&g->f);
        filter_parse(&g->f, j);
        json_decref(j);
    }
    /* The group record is there before the WELCOME (with sync): a worker
     * that was welcomed gets every event from here on, restart or not. */
    if (fresh || j)
        group_save(b, g, true);
    else
        group_save(b, g, false);
    w = rs_xcalloc(1, sizeof *w);
    memcpy(w->id, id, idlen);
    w->idlen = idlen;
    w->credit = credit > 0 ? credit : 16;
    w->last_seen = rs_mono_ns();
    w->next = g->workers;
    g->workers = w;
    send_to_id(b, id, idlen, "WELCOME", g->name);
}

static void on_ack(struct ev_broker *b, struct group *g, struct worker *w,
                   uint64_t seq, bool ok)
{
    for (size_t i = 0; i < g->nwin; i++) {
        struct gev *e = g->win[i];
        if (e->seq != seq)
            continue;
        if (e->state != EV_INFLIGHT || e->w != w)
            return;                  /* late: it went to another worker */
        w->inflight--;
        e->w = NULL;
        if (ok) {
            e->state = EV_DONE;
            pthread_mutex_lock(&b->lock);
            g->acked++;
            pthread_mutex_unlock(&b->lock);
        } else {
            e->state = EV_READY;
        }
        return;
    }
}

/* WATCH <group> [live|backlog|SEQ]: copies of the group's events from
 * now on, from its cursor (backlog: also those not acknowledged yet), or
 * after SEQ (a watcher coming back). */
static void on_watch(struct ev_broker *b, const void *id, size_t idlen,
                     char **f, int n)
{
    struct watcher *w;
    struct group *g;

    rules_refresh(b);
    if (n < 2 || !(g = group_find(b, f[1]))) {
        send_to_id(b, id, idlen, "ERROR", n < 2 ? "WATCH needs a group"
                                                : "no such group");
        return;
    }
    {
        char *bye[] = {"BYE"};           /* a second WATCH: start over */
        watcher_msg(b, id, idlen, bye, 1);
    }
    w = rs_xcalloc(1, sizeof *w);
    memcpy(w->id, id, idlen);
    w->idlen = idlen;
    w->last_seen = rs_mono_ns();
    if (n >= 3 && !strcmp(f[2], "backlog"))
        w->next_seq = g->cursor + 1;
    else if (n >= 3 && f[2][0] >= '0' && f[2][0] <= '9')
        w->next_seq = strtoull(f[2], NULL, 10) + 1;
    else
        w->next_seq = store_events_head(b->s) + 1;
    w->next = g->watchers;
    g->watchers = w;
    send_to_id(b, id, idlen, "WATCHING", g->name);
}

/* Free g's watchers (b not NULL: tell them why first). */
static void watchers_free(struct ev_broker *b, struct group *g,
                          const char *why)
{
    while (g->watchers) {
        struct watcher *w = g->watchers;
        if (b)
            send_to_id(b, w->id, w->idlen, "ERROR", why);
        g->watchers = w->next;
        free(w);
    }
}

/* A watcher's message (PING, SEEN <n>: n COPYs consumed, BYE): true when
 * id is a watcher's. */
static bool watcher_msg(struct ev_broker *b, const void *id, size_t idlen,
                        char **f, int n)
{
    for (struct group *g = b->groups; g; g = g->next)
        for (struct watcher **pw = &g->watchers; *pw; pw = &(*pw)->next) {
            struct watcher *w = *pw;
            if (w->idlen != idlen || memcmp(w->id, id, idlen))
                continue;
            if (!strcmp(f[0], "BYE")) {
                *pw = w->next;
                free(w);
                return true;
            }
            w->last_seen = rs_mono_ns();
            if (!strcmp(f[0], "SEEN") && n >= 2) {
                unsigned long k = strtoul(f[1], NULL, 10);
                w->outstanding = k >= w->outstanding
                                     ? 0 : w->outstanding - (unsigned)k;
            }
            return true;
        }
    return false;
}

struct watch_arg {
    struct ev_broker *b;
    struct group *g;
    struct watcher *w;
    size_t seen;
    bool full;                       /* the watcher's window is */
};

static int watch_one(void *arg, uint64_t seq, const char *json, size_t len)
{
    struct watch_arg *a = arg;
    const char *config_id = NULL;
    char *msg = NULL, *topic = NULL, num[24];
    struct ev_rec r;

    if (a->w->outstanding >= WATCH_WINDOW) {
        a->full = true;
        return 1;                    /* this one on a later turn */
    }
    a->w->next_seq = seq + 1;
    a->seen++;
    if (!ev_rec_parse(&r, json, len))
        return 0;
    if (group_match(a->b, a->g, r.bucket, r.key, r.name, &config_id) &&
        ev_render(&msg, &topic, seq, json, len, a->b->region,
                  config_id) == RS_OK) {
        const char *fr[] = {"COPY", num, topic, msg};
        snprintf(num, sizeof num, "%llu", (unsigned long long)seq);
        zmq_send(a->b->router, a->w->id, a->w->idlen, ZMQ_SNDMORE);
        for (int i = 0; i < 4; i++)
            zmq_send(a->b->router, fr[i], strlen(fr[i]),
                     i < 3 ? ZMQ_SNDMORE : 0);
        a->w->outstanding++;
    }
    free(msg);
    free(topic);
    ev_rec_free(&r);
    return 0;
}

/* Feed g's watchers up to head; drop the silent ones. */
static void watch(struct ev_broker *b, struct group *g, uint64_t head,
                  int64_t now)
{
    struct watcher **pw = &g->watchers;

    while (*pw) {
        struct watcher *w = *pw;
        struct watch_arg a = {b, g, w, 0, false};

        if (now - w->last_seen > (int64_t)b->worker_timeout_s * 1000000000LL) {
            *pw = w->next;
            free(w);
            continue;
        }
        /* everything up to head is settled (gaps are failed commits)
         * unless the read stopped at its limit or the watcher's window:
         * then the rest on a later turn */
        if (w->next_seq <= head && w->outstanding < WATCH_WINDOW &&
            store_events_read(b->s, w->next_seq - 1, head, FILL_MAX,
                              watch_one, &a) >= 0 &&
            a.seen < FILL_MAX && !a.full)
            w->next_seq = head + 1;
        pw = &w->next;
    }
}

static void on_message(struct ev_broker *b)
{
    char *f[6] = {0};
    unsigned char id[ID_MAX];
    int idlen, n = 0, more = 1;
    size_t ml = sizeof more;
    struct group *g;
    struct worker *w;

    idlen = zmq_recv(b->router, id, sizeof id, 0);
    if (idlen < 0)
        return;
    zmq_getsockopt(b->router, ZMQ_RCVMORE, &more, &ml);
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, b->router, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        if (n < 6) {
            f[n] = rs_xmalloc(zmq_msg_size(&m) + 1);
            memcpy(f[n], zmq_msg_data(&m), zmq_msg_size(&m));
            f[n][zmq_msg_size(&m)] = '\0';
            n++;
        }
        more = zmq_msg_more(&m);
        zmq_msg_close(&m);
    }
    if (n == 0)
        goto out;
    if (!strcmp(f[0], "HELLO")) {
        on_hello(b, id, (size_t)idlen, f, n);
        goto out;
    }
    if (!strcmp(f[0], "WATCH")) {
        on_watch(b, id, (size_t)idlen, f, n);
        goto out;
    }
    if (watcher_msg(b, id, (size_t)idlen, f, n))
        goto out;
    if (!(w = worker_find(b, id, (size_t)idlen, &g))) {
        /* Not (or no longer) known: after a broker restart or a timeout
         * the worker must say HELLO again; one whose group was deleted is
         * told so. */
        bool gone = false;
        for (size_t k = 0; k < b->ngone && !gone; k++)
            gone = b->gone[k].idlen == (size_t)idlen &&
                   !memcmp(b->gone[k].id, id, (size_t)idlen);
        if (strcmp(f[0], "BYE") != 0)
            send_to_id(b, id, (size_t)idlen, "ERROR",
                       gone ? "group deleted" : "unknown worker: HELLO");
        goto out;
    }
    w->last_seen = rs_mono_ns();
    if (!strcmp(f[0], "ACK") && n >= 2)
        on_ack(b, g, w, strtoull(f[1], NULL, 10), true);
    else if (!strcmp(f[0], "NACK") && n >= 2)
        on_ack(b, g, w, strtoull(f[1], NULL, 10), false);
    else if (!strcmp(f[0], "BYE"))
        worker_drop(g, w);
    /* PING: last_seen is all it is for */
out:
    for (int i = 0; i < n; i++)
        free(f[i]);
}

/* ------------------------------------------------------------------ */
/* The thread                                                           */
/* ------------------------------------------------------------------ */

/* Remove group g: its workers are told, its cursor and dead letters go.
 * A group a notification configuration names, or a webhook's, is the
 * configuration's to remove. */
static void group_remove(struct ev_broker *b, struct del_req *d)
{
    struct group *g = group_find(b, d->group), **pg;

    if (!strncmp(d->group, EV_WEBHOOK_GROUP_PREFIX,
                 strlen(EV_WEBHOOK_GROUP_PREFIX))) {
        d->rc = RS_EINVAL;
        snprintf(d->msg, sizeof d->msg, "%s is a webhook's: remove its "
                 "notification configuration", d->group);
        return;
    }
    if (!g) {
        d->rc = RS_ENOTFOUND;
        snprintf(d->msg, sizeof d->msg, "no group %s", d->group);
        return;
    }
    if (ev_rules_has_target(b->rules, EV_TARGET_ZMQ, g->name)) {
        d->rc = RS_ECONFLICT;
        snprintf(d->msg, sizeof d->msg, "a bucket notification "
                 "configuration targets %s: remove it first", g->name);
        return;
    }
    while (g->workers) {
        struct worker *w = g->workers;
        size_t k = b->gone_next++ % GONE_MAX;
        send_to_id(b, w->id, w->idlen, "ERROR", "group deleted");
        memcpy(b->gone[k].id, w->id, w->idlen);
        b->gone[k].idlen = w->idlen;
        if (b->ngone < GONE_MAX)
            b->ngone++;
        worker_drop(g, w);
    }
    d->rc = store_events_group_delete(b->s, g->name, true);
    if (d->rc != RS_OK) {
        snprintf(d->msg, sizeof d->msg, "%s", rs_err_msg());
        return;
    }
    pthread_mutex_lock(&b->lock);
    for (pg = &b->groups; *pg; pg = &(*pg)->next)
        if (*pg == g) {
            *pg = g->next;
            break;
        }
    pthread_mutex_unlock(&b->lock);
    for (size_t i = 0; i < g->nwin; i++)
        gev_free(g->win[i]);
    watchers_free(b, g, "group deleted");
    filter_free(&g->f);
    rs_info("events: group %s deleted", g->name);
    free(g);
}

static void do_deletes(struct ev_broker *b)
{
    struct del_req *d;

    pthread_mutex_lock(&b->lock);
    d = b->dels;
    b->dels = NULL;
    pthread_mutex_unlock(&b->lock);
    while (d) {
        struct del_req *next = d->next;
        group_remove(b, d);
        pthread_mutex_lock(&b->lock);
        d->done = true;
        pthread_cond_broadcast(&b->del_cond);
        pthread_mutex_unlock(&b->lock);
        d = next;
    }
}

int ev_broker_group_delete(struct ev_broker *b, const char *group)
{
    struct del_req d = {0};

    if (!b)
        return rs_err_set(RS_ESHUTDOWN, "no consumer-group broker runs");
    d.group = group;
    pthread_mutex_lock(&b->lock);
    d.next = b->dels;
    b->dels = &d;
    while (!d.done)
        pthread_cond_wait(&b->del_cond, &b->lock);
    pthread_mutex_unlock(&b->lock);
    return d.rc ? rs_err_set(d.rc, "%s", d.msg) : RS_OK;
}

static void *broker_main(void *arg)
{
    struct ev_broker *b = arg;

    while (!atomic_load(&b->stop)) {
        zmq_pollitem_t it = {b->router, 0, ZMQ_POLLIN, 0};
        uint64_t head;
        int64_t now;

        if (zmq_poll(&it, 1, 5) > 0)
            for (int k = 0; k < 1000 && !atomic_load(&b->stop); k++) {
                zmq_pollitem_t one = {b->router, 0, ZMQ_POLLIN, 0};
                if (zmq_poll(&one, 1, 0) <= 0)
                    break;
                on_message(b);
            }
        /* The head first, the rules second: a configuration change that
         * came before an event up to head is then in the rules. */
        head = store_events_head(b->s);
        rules_refresh(b);
        do_deletes(b);
        now = rs_mono_ns();
        for (struct group *g = b->groups; g; g = g->next) {
            size_t nw = 0, inflight = 0;
            expire(b, g, now);
            if (g->workers)
                fill(b, g, head);
            if (g->watchers)
                watch(b, g, head, now);
            dispatch(b, g);
            advance(b, g);
            for (struct worker *w = g->workers; w; w = w->next) {
                nw++;
                inflight += (size_t)w->inflight;
            }
            pthread_mutex_lock(&b->lock);
            g->st_cursor = g->cursor;
            g->st_workers = nw;
            g->st_inflight = inflight;
            if (now - g->rate_at >= 1000000000LL) {
                double dt = g->rate_at ? (double)(now - g->rate_at) / 1e9 : 0;
                if (dt > 0) {
                    g->st_ack_rate = (double)(g->acked - g->rate_acked) / dt;
                    g->st_delivery_rate =
                        (double)(g->delivered - g->rate_delivered) / dt;
                }
                g->rate_acked = g->acked;
                g->rate_delivered = g->delivered;
                g->rate_at = now;
            }
            pthread_mutex_unlock(&b->lock);
        }
    }
    for (struct group *g = b->groups; g; g = g->next)
        if (g->cursor != g->saved_cursor)
            group_save(b, g, true);
    return NULL;
}

int ev_broker_start(struct ev_broker **out, struct store *s,
                    const struct rs_config *cfg)
{
    struct ev_broker *b;
    int linger = 0, rc;

    *out = NULL;
    if (!cfg->events_enabled || !cfg->events_broker || !*cfg->events_broker)
        return RS_OK;
    b = rs_xcalloc(1, sizeof *b);
    b->s = s;
    b->region = rs_xstrdup(cfg->region ? cfg->region : "");
    b->ack_timeout_ns_s = cfg->events_ack_timeout > 0
                              ? cfg->events_ack_timeout : 30;
    b->max_attempts = cfg->events_max_attempts > 0
                          ? cfg->events_max_attempts : 5;
    b->worker_timeout_s = cfg->events_worker_timeout > 0
                              ? cfg->events_worker_timeout : 10;
    b->latency = rs_histogram_get("roadstore_events_delivery_seconds", "",
                                  "Seconds from an event's commit to its "
                                  "first delivery to a group's worker.");
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->del_cond, NULL);
    if ((rc = store_events_group_list(s, load_group, b)) != RS_OK)
        goto fail;
    b->zctx = zmq_ctx_new();
    b->router = b->zctx ? zmq_socket(b->zctx, ZMQ_ROUTER) : NULL;
    if (!b->router ||
        zmq_setsockopt(b->router, ZMQ_LINGER, &linger, sizeof linger) ||
        zmq_bind(b->router, cfg->events_broker)) {
        rc = rs_err_set(RS_EINVAL, "events: cannot bind the broker at %s: "
                        "%s", cfg->events_broker, zmq_strerror(zmq_errno()));
        goto fail;
    }
    if (pthread_create(&b->thread, NULL, broker_main, b) != 0) {
        rc = rs_err_set(RS_ERR, "events: cannot start the broker");
        goto fail;
    }
    rs_info("events: consumer-group broker on %s", cfg->events_broker);
    pthread_mutex_lock(&g_metrics_lock);
    g_metrics_broker = b;
    if (!g_metrics_registered) {
        rs_metrics_register_writer(metrics_writer, NULL);
        g_metrics_registered = true;
    }
    pthread_mutex_unlock(&g_metrics_lock);
    *out = b;
    return RS_OK;
fail:
    broker_free(b);
    return rc;
}

static void broker_free(struct ev_broker *b)
{
    struct group *g;

    if (!b)
        return;
    if (b->router)
        zmq_close(b->router);
    if (b->zctx)
        zmq_ctx_term(b->zctx);
    while ((g = b->groups)) {
        b->groups = g->next;
        for (size_t i = 0; i < g->nwin; i++)
            gev_free(g->win[i]);
        while (g->workers) {
            struct worker *w = g->workers;
            g->workers = w->next;
            free(w);
        }
        watchers_free(NULL, g, NULL);
        filter_free(&g->f);
        free(g);
    }
    pthread_mutex_destroy(&b->lock);
    pthread_cond_destroy(&b->del_cond);
    ev_rules_free(b->rules);
    free(b->region);
    free(b);
}

void ev_broker_stop(struct ev_broker *b)
{
    if (!b)
        return;
    pthread_mutex_lock(&g_metrics_lock);
    if (g_metrics_broker == b)
        g_metrics_broker = NULL;
    pthread_mutex_unlock(&g_metrics_lock);
    atomic_store(&b->stop, true);
    pthread_join(b->thread, NULL);
    broker_free(b);
}

char *ev_broker_stats_json(struct ev_broker *b)
{
    json_t *arr = json_array(), *root;
    uint64_t head = b ? store_events_head(b->s) : 0;
    char *s, *r;

    if (b) {
        pthread_mutex_lock(&b->lock);
        for (struct group *g = b->groups; g; g = g->next)
            json_array_append_new(
                arr, json_pack("{s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I, "
                               "s:I, s:I, s:f, s:f}",
                               "group", g->name, "cursor",
                               (json_int_t)g->st_cursor, "lag",
                               (json_int_t)(head - g->st_cursor), "workers",
                               (json_int_t)g->st_workers, "inflight",
                               (json_int_t)g->st_inflight, "delivered",
                               (json_int_t)g->delivered, "acked",
                               (json_int_t)g->acked, "redelivered",
                               (json_int_t)g->redelivered, "dead_lettered",
                               (json_int_t)g->dead, "saved_cursor",
                               (json_int_t)g->st_saved, "acked_per_s",
                               g->st_ack_rate, "delivered_per_s",
                               g->st_delivery_rate));
        pthread_mutex_unlock(&b->lock);
    }
    root = json_pack("{s:I, s:o}", "head", (json_int_t)head, "groups", arr);
    s = json_dumps(root, JSON_COMPACT);
    json_decref(root);
    r = rs_xstrdup(s ? s : "{}");
    free(s);
    return r;
}

uint64_t ev_broker_min_cursor(struct ev_broker *b)
{
    uint64_t m = UINT64_MAX;

    if (!b)
        return m;
    pthread_mutex_lock(&b->lock);
    for (struct group *g = b->groups; g; g = g->next)
        if (g->st_saved < m)
            m = g->st_saved;
    pthread_mutex_unlock(&b->lock);
    return m;
}

/* Per-group lag and counters in /_roadstore/metrics. */
static void metrics_writer(struct rs_buf *out, void *arg)
{
    static const struct {
        const char *name, *type, *help;
    } fam[] = {
        {"roadstore_events_group_lag", "gauge",
         "Events committed above the group's cursor (not yet acknowledged "
         "or filtered)."},
        {"roadstore_events_group_delivered_total", "counter",
         "Deliveries to the group's workers (redeliveries included)."},
        {"roadstore_events_group_acked_total", "counter",
         "Events acknowledged by the group's workers."},
        {"roadstore_events_group_dead_lettered_total", "counter",
         "Events the group gave up on."},
    };
    struct ev_broker *b;
    uint64_t head;

    (void)arg;
    pthread_mutex_lock(&g_metrics_lock);
    if (!(b = g_metrics_broker)) {
        pthread_mutex_unlock(&g_metrics_lock);
        return;
    }
    head = store_events_head(b->s);
    pthread_mutex_lock(&b->lock);
    for (size_t f = 0; f < sizeof fam / sizeof *fam; f++) {
        rs_buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", fam[f].name,
                      fam[f].help, fam[f].name, fam[f].type);
        for (struct group *g = b->groups; g; g = g->next) {
            uint64_t v = f == 0   ? head - g->st_cursor
                         : f == 1 ? g->delivered
                         : f == 2 ? g->acked
                                  : g->dead;
            rs_buf_printf(out, "%s{group=\"%s\"} %llu\n", fam[f].name,
                          g->name, (unsigned long long)v);
        }
    }
    pthread_mutex_unlock(&b->lock);
    pthread_mutex_unlock(&g_metrics_lock);
}
