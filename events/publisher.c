/*
 * events/publisher.c - the publisher thread of `roadstore server`: reads
 * the outbox (store_events_*) in sequence order and sends each event on a
 * ZeroMQ PUB socket as [topic "BUCKET/EVENTNAME", S3 event message JSON];
 * once a minute it removes from the outbox the events older than
 * [events] retention.
 *
 * It starts at the outbox head of the moment it starts: PUB subscribers
 * are live listeners (events.h), so there is nobody to send the past to.
 * The socket is an XPUB, so the thread sees subscriptions come and go: an
 * event no subscriber's topic prefix matches is not even rendered (the
 * S3 message costs more CPU to build than the PUT's own index write).
 * The ZeroMQ socket is used by this thread only (ZeroMQ sockets are not
 * thread-safe); the send never blocks (a slow subscriber's queue is
 * bounded by the high-water mark, past which PUB drops for it alone).
 */
#include "events/events_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define PRUNE_EVERY_NS (60LL * 1000000000LL)
#define BATCH 512
#define SUBS_MAX 256

struct ev_publisher {
    struct store *s;
    void *zctx, *pub;
    char *region;
    int retention;               /* seconds */
    pthread_t thread;
    atomic_bool stop;
    uint64_t cursor;             /* last sequence published */
    atomic_uint_fast64_t published, pruned, cursor_pub;
    /* Topic prefixes someone subscribes to (XPUB tells the first
     * subscription of a prefix and the last unsubscription). */
    char *subs[SUBS_MAX];
    size_t nsubs;
};

/* Take the subscription messages queued on the XPUB socket. */
static void subs_update(struct ev_publisher *p)
{
    char buf[512];
    int n;

    while ((n = zmq_recv(p->pub, buf, sizeof buf - 1, ZMQ_DONTWAIT)) > 0) {
        size_t i;
        if (n > (int)sizeof buf - 1)
            n = (int)sizeof buf - 1;
        buf[n] = '\0';
        for (i = 0; i < p->nsubs; i++)
            if (!strcmp(p->subs[i], buf + 1))
                break;
        if (buf[0] == 1 && i == p->nsubs && p->nsubs < SUBS_MAX) {
            p->subs[p->nsubs++] = rs_xstrdup(buf + 1);
        } else if (buf[0] == 0 && i < p->nsubs) {
            free(p->subs[i]);
            p->subs[i] = p->subs[--p->nsubs];
        }
    }
}

/* Does anyone subscribe to a prefix of bucket/name? */
static bool wanted(const struct ev_publisher *p, const char *json,
                   size_t len)
{
    char topic[160];
    struct ev_rec r;
    bool want = false;

    if (p->nsubs == 0)
        return false;
    if (!ev_rec_parse(&r, json, len))
        return true;             /* let the renderer judge it */
    snprintf(topic, sizeof topic, "%s/%s", r.bucket, r.name);
    ev_rec_free(&r);
    for (size_t i = 0; i < p->nsubs && !want; i++)
        want = !strncmp(topic, p->subs[i], strlen(p->subs[i]));
    return want;
}

struct send_arg {
    struct ev_publisher *p;
    uint64_t last;
};

static int send_one(void *arg, uint64_t seq, const char *json, size_t len)
{
    struct send_arg *a = arg;
    char *msg, *topic;

    a->last = seq;
    if (!wanted(a->p, json, len))
        return 0;
    if (ev_render(&msg, &topic, seq, json, len, a->p->region, NULL) !=
        RS_OK) {
        rs_warn("events: outbox record %llu skipped: %s",
                (unsigned long long)seq, rs_err_msg());
        return 0;
    }
    if (zmq_send(a->p->pub, topic, strlen(topic), ZMQ_SNDMORE) < 0 ||
        zmq_send(a->p->pub, msg, strlen(msg), 0) < 0)
        rs_warn("events: send of %llu failed: %s", (unsigned long long)seq,
                zmq_strerror(zmq_errno()));
    else
        atomic_fetch_add(&a->p->published, 1);
    free(msg);
    free(topic);
    return 0;
}

/* Sequence of the first event younger than the retention: everything
 * below it goes.  Reads record times from the oldest on. */
struct age_arg {
    int64_t cutoff_ns;
    uint64_t below;
};

static int find_young(void *arg, uint64_t seq, const char *json, size_t len)
{
    struct age_arg *a = arg;
    struct ev_rec r;
    int64_t ns = 0;

    if (ev_rec_parse(&r, json, len)) {
        ns = r.t_ns;
        ev_rec_free(&r);
    }
    if (ns >= a->cutoff_ns)
        return 1;                /* stop: this one stays */
    a->below = seq + 1;
    return 0;
}

/* Lowest durable cursor of the consumer groups (their G/ records). */
static int min_cursor(void *arg, const char *group, const char *json,
                      size_t len)
{
    uint64_t *m = arg;
    uint64_t v = ev_group_cursor(json, len);

    (void)group;
    if (v < *m)
        *m = v;
    return 0;
}

static void prune(struct ev_publisher *p)
{
    struct age_arg a = {rs_now_ns() - (int64_t)p->retention * 1000000000LL,
                        0};
    uint64_t first = store_events_first(p->s), groups = UINT64_MAX;

    /* Never past what was published: a subscriber must get it first. */
    (void)store_events_read(p->s, first ? first - 1 : 0, p->cursor, 100000,
                            find_young, &a);
    /* Never what a consumer group has not taken yet. */
    (void)store_events_group_list(p->s, min_cursor, &groups);
    if (groups != UINT64_MAX && a.below > groups + 1)
        a.below = groups + 1;
    if (a.below && store_events_prune(p->s, a.below) == RS_OK)
        atomic_fetch_add(&p->pruned, a.below - (first ? first : a.below));
}

static void *pub_main(void *arg)
{
    struct ev_publisher *p = arg;
    int64_t next_prune = rs_mono_ns();

    while (!atomic_load(&p->stop)) {
        uint64_t head = store_events_wait(p->s, p->cursor, 200);

        subs_update(p);
        while (head > p->cursor && !atomic_load(&p->stop)) {
            struct send_arg a = {p, p->cursor};
            if (store_events_read(p->s, p->cursor, head, BATCH, send_one,
                                  &a) != RS_OK) {
                rs_warn("events: outbox read failed: %s", rs_err_msg());
                break;
            }
            /* Gaps (failed commits) are skipped: up to head all is
             * settled. */
            p->cursor = a.last > p->cursor && a.last < head ? a.last : head;
            atomic_store(&p->cursor_pub, p->cursor);
        }
        if (rs_mono_ns() >= next_prune) {
            prune(p);
            next_prune = rs_mono_ns() + PRUNE_EVERY_NS;
        }
    }
    return NULL;
}

int ev_publisher_start(struct ev_publisher **out, struct store *s,
                       const struct rs_config *cfg)
{
    struct ev_publisher *p;
    int linger = 0, hwm = 100000;

    *out = NULL;
    if (!cfg->events_enabled || !cfg->events_publish ||
        !*cfg->events_publish)
        return RS_OK;
    p = rs_xcalloc(1, sizeof *p);
    p->s = s;
    p->region = rs_xstrdup(cfg->region ? cfg->region : "");
    p->retention = cfg->events_retention > 0 ? cfg->events_retention : 86400;
    p->zctx = zmq_ctx_new();
    p->pub = p->zctx ? zmq_socket(p->zctx, ZMQ_XPUB) : NULL;
    if (!p->pub)
        goto zfail;
    zmq_setsockopt(p->pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(p->pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_bind(p->pub, cfg->events_publish) != 0)
        goto zfail;
    p->cursor = store_events_head(s);
    atomic_store(&p->cursor_pub, p->cursor);
    if (pthread_create(&p->thread, NULL, pub_main, p) != 0) {
        zmq_close(p->pub);
        zmq_ctx_term(p->zctx);
        free(p->region);
        free(p);
        return rs_err_set(RS_ERR, "events: cannot start the publisher");
    }
    rs_info("events: publishing on %s from sequence %llu",
            cfg->events_publish, (unsigned long long)p->cursor + 1);
    *out = p;
    return RS_OK;
zfail: {
    int rc = rs_err_set(RS_EINVAL, "events: cannot bind %s: %s",
                        cfg->events_publish, zmq_strerror(zmq_errno()));
    if (p->pub)
        zmq_close(p->pub);
    if (p->zctx)
        zmq_ctx_term(p->zctx);
    free(p->region);
    free(p);
    return rc;
}
}

void ev_publisher_stop(struct ev_publisher *p)
{
    if (!p)
        return;
    atomic_store(&p->stop, true);
    pthread_join(p->thread, NULL);
    zmq_close(p->pub);
    zmq_ctx_term(p->zctx);
    for (size_t i = 0; i < p->nsubs; i++)
        free(p->subs[i]);
    free(p->region);
    free(p);
}

void ev_publisher_get_stats(struct ev_publisher *p,
                            struct ev_publisher_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!p)
        return;
    out->published = atomic_load(&p->published);
    out->cursor = atomic_load(&p->cursor_pub);
    out->head = store_events_head(p->s);
    out->pruned = atomic_load(&p->pruned);
}
