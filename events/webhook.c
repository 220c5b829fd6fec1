/*
 * events/webhook.c - webhook targets of bucket notification rules
 * (arn:roadstore:webhook:::URL): the server POSTs each matching event
 * (the S3 event message, Content-Type application/json) to the URL, in
 * sequence order, at least once.
 *
 * The queue is the outbox itself: each URL has a cursor kept like a
 * consumer group's, in a G/ record named "webhook.<16 hex of its FNV-1a>"
 * ({"v":1, "url":URL, "cursor":N}), and the outbox keeps every event a
 * cursor has not passed (the publisher's pruning respects G/ records).  So
 * a receiver that is down for an hour, or a server restarted meanwhile,
 * gets every event when it returns, in order.
 *
 * One thread serves every URL: for each, the events above its cursor are
 * rendered and POSTed one by one over a kept-alive connection (libcurl,
 * 10 s timeout).  A 2xx moves the cursor.  A connection failure, a 5xx,
 * 408 or 429 is retried after 1, 2, 4 ... up to 60 s, for as long as it
 * takes (the receiver is down: wait for it).  Any other answer (a 4xx: the
 * receiver refuses this event) counts as an attempt; after [events]
 * max_attempts the event goes to the dead-letter list under the webhook's
 * group name and the cursor moves on.  The cursor is saved (without sync)
 * at most every 100 ms and at stop.
 */
#include "events/events_int.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOOK_MAX 64
#define BACKOFF_MAX_NS (60LL * 1000000000LL)
#define SAVE_EVERY_NS 100000000LL

struct hook {
    char name[40];                   /* webhook.<hex> */
    char *url;
    uint64_t cursor, saved;
    int64_t saved_at;
    int64_t next_try;                /* monotonic; 0: now */
    int64_t backoff;
    int attempts;                    /* of the event at cursor + 1 */
    CURL *curl;
    uint64_t delivered, failures, dead;
    bool live;                       /* still named by a rule */
};

struct ev_webhooks {
    struct store *s;
    char *region;
    int max_attempts;
    pthread_t thread;
    atomic_bool stop;
    pthread_mutex_t lock;            /* hooks[] shape and counters */
    struct hook *hooks[HOOK_MAX];
    size_t n;
    struct ev_rules *rules;
    uint64_t rules_gen;
};

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static void hook_save(struct ev_webhooks *w, struct hook *h, bool sync)
{
    json_t *j = json_pack("{s:i, s:s, s:I}", "v", 1, "url", h->url, "cursor",
                          (json_int_t)h->cursor);
    char *s = json_dumps(j, JSON_COMPACT);

    if (s && store_events_group_put(w->s, h->name, s, sync) == RS_OK) {
        pthread_mutex_lock(&w->lock);
        h->saved = h->cursor;
        pthread_mutex_unlock(&w->lock);
    } else
        rs_warn("events: webhook %s: cursor not saved: %s", h->url,
                rs_err_msg());
    h->saved_at = rs_mono_ns();
    free(s);
    json_decref(j);
}

/* Cursors of webhook groups written before (a restart). */
struct find_arg {
    const char *name;
    uint64_t cursor;
    bool found;
};

static int find_group(void *arg, const char *group, const char *json,
                      size_t len)
{
    struct find_arg *a = arg;

    if (strcmp(group, a->name) != 0)
        return 0;
    a->cursor = ev_group_cursor(json, len);
    a->found = true;
    return 1;
}

static void refresh(struct ev_webhooks *w)
{
    uint64_t gen = store_notification_gen(w->s);
    const char *urls[HOOK_MAX];
    uint64_t since[HOOK_MAX];
    size_t n;

    if (gen == w->rules_gen)
        return;
    ev_rules_free(w->rules);
    w->rules = ev_rules_load(w->s);
    w->rules_gen = gen;
    n = ev_rules_targets(w->rules, EV_TARGET_WEBHOOK, urls, since, HOOK_MAX);
    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->n; i++)
        w->hooks[i]->live = false;
    for (size_t i = 0; i < n; i++) {
        struct hook *h = NULL;
        struct find_arg fa = {NULL, 0, false};
        for (size_t j = 0; j < w->n; j++)
            if (!strcmp(w->hooks[j]->url, urls[i]))
                h = w->hooks[j];
        if (h) {
            h->live = true;
            continue;
        }
        if (w->n == HOOK_MAX) {
            rs_warn("events: more than %d webhook targets; %s ignored",
                    HOOK_MAX, urls[i]);
            continue;
        }
        h = rs_xcalloc(1, sizeof *h);
        snprintf(h->name, sizeof h->name, EV_WEBHOOK_GROUP_PREFIX "%016llx",
                 (unsigned long long)rs_fnv1a64(urls[i]));
        h->url = rs_xstrdup(urls[i]);
        h->live = true;
        fa.name = h->name;
        (void)store_events_group_list(w->s, find_group, &fa);
        /* where it stopped, but never before its configuration (a target
         * removed and added again does not get the gap) */
        h->cursor = fa.found && fa.cursor > since[i] ? fa.cursor : since[i];
        h->curl = curl_easy_init();
        w->hooks[w->n++] = h;
        pthread_mutex_unlock(&w->lock);
        hook_save(w, h, true);
        pthread_mutex_lock(&w->lock);
        rs_info("events: webhook %s from sequence %llu", h->url,
                (unsigned long long)h->cursor + 1);
    }
    /* Targets no rule names any more: forget them, cursor included (the
     * outbox need not keep events for them). */
    for (size_t i = 0; i < w->n;) {
        struct hook *h = w->hooks[i];
        if (h->live) {
            i++;
            continue;
        }
        w->hooks[i] = w->hooks[--w->n];
        pthread_mutex_unlock(&w->lock);
        /* (its dead letters stay for `roadstore events dlq`) */
        if (store_events_group_delete(w->s, h->name, false) != RS_OK)
            rs_warn("events: webhook %s: record not removed: %s", h->url,
                    rs_err_msg());
        rs_info("events: webhook %s removed", h->url);
        curl_easy_cleanup(h->curl);
        free(h->url);
        free(h);
        pthread_mutex_lock(&w->lock);
    }
    pthread_mutex_unlock(&w->lock);
}

/* POST one message; the HTTP status, or 0 when it did not get through. */
static long post(struct hook *h, const char *topic, const char *msg)
{
    struct curl_slist *hd = NULL;
    char th[300];
    long code = 0;

    snprintf(th, sizeof th, "X-Roadstore-Topic: %s", topic);
    hd = curl_slist_append(hd, "Content-Type: application/json");
    hd = curl_slist_append(hd, th);
    curl_easy_setopt(h->curl, CURLOPT_URL, h->url);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDS, msg);
    curl_easy_setopt(h->curl, CURLOPT_POSTFIELDSIZE, (long)strlen(msg));
    curl_easy_setopt(h->curl, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h->curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(h->curl, CURLOPT_CONNECTTIMEOUT, 5L);
    curl_easy_setopt(h->curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h->curl, CURLOPT_WRITEFUNCTION, discard);
    if (curl_easy_perform(h->curl) == CURLE_OK)
        curl_easy_getinfo(h->curl, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hd);
    return code;
}

struct deliver_arg {
    struct ev_webhooks *w;
    struct hook *h;
    bool blocked;                    /* stop: wait before going on */
};

static int deliver_one(void *arg, uint64_t seq, const char *json, size_t len)
{
    struct deliver_arg *a = arg;
    struct hook *h = a->h;
    char *msg = NULL, *topic = NULL;
    const char *config_id = NULL;
    struct ev_rec r;
    bool ours = false;
    long code;

    if (ev_rec_parse(&r, json, len)) {
        ours = ev_rules_match(a->w->rules, EV_TARGET_WEBHOOK, h->url,
                              r.bucket, r.key, r.name, &config_id) &&
               ev_render(&msg, &topic, seq, json, len, a->w->region,
                         config_id) == RS_OK;
        ev_rec_free(&r);
    }
    if (!ours) {
        h->cursor = seq;             /* not for this URL */
        return 0;
    }
    code = post(h, topic, msg);
    if (code >= 200 && code < 300) {
        h->cursor = seq;
        h->attempts = 0;
        h->backoff = 0;
        pthread_mutex_lock(&a->w->lock);
        h->delivered++;
        pthread_mutex_unlock(&a->w->lock);
    } else if (code == 0 || code >= 500 || code == 408 || code == 429) {
        /* the receiver is not there: wait for it, however long */
        h->backoff = h->backoff ? h->backoff * 2 : 1000000000LL;
        if (h->backoff > BACKOFF_MAX_NS)
            h->backoff = BACKOFF_MAX_NS;
        h->next_try = rs_mono_ns() + h->backoff;
        pthread_mutex_lock(&a->w->lock);
        h->failures++;
        pthread_mutex_unlock(&a->w->lock);
        a->blocked = true;
    } else if (++h->attempts >= a->w->max_attempts) {
        json_t *j = json_pack("{s:I, s:i, s:s, s:s, s:s}", "seq",
                              (json_int_t)seq, "attempts", h->attempts,
                              "reason", "webhook refused the event",
                              "topic", topic, "event", msg);
        char *s = json_dumps(j, JSON_COMPACT);
        if (!s || store_events_dlq_put(a->w->s, h->name, seq, s) != RS_OK)
            rs_warn("events: webhook %s: dead letter %llu not written",
                    h->url, (unsigned long long)seq);
        free(s);
        json_decref(j);
        rs_warn("events: webhook %s answered %ld to event %llu %d times: "
                "dead-lettered", h->url, code, (unsigned long long)seq,
                h->attempts);
        h->cursor = seq;
        h->attempts = 0;
        pthread_mutex_lock(&a->w->lock);
        h->dead++;
        pthread_mutex_unlock(&a->w->lock);
    } else {
        h->next_try = rs_mono_ns() + 1000000000LL;
        a->blocked = true;
    }
    free(msg);
    free(topic);
    return a->blocked || atomic_load(&a->w->stop);
}

static void *hooks_main(void *arg)
{
    struct ev_webhooks *w = arg;

    while (!atomic_load(&w->stop)) {
        uint64_t head;
        bool idle = true;

        /* head before the rules (as in broker.c) */
        head = store_events_head(w->s);
        refresh(w);
        for (size_t i = 0; i < w->n && !atomic_load(&w->stop); i++) {
            struct hook *h = w->hooks[i];
            struct deliver_arg a = {w, h, false};
            if (!h->live || h->cursor >= head || rs_mono_ns() < h->next_try)
                continue;
            idle = false;
            /* a positive result: deliver_one stopped the read */
            if (store_events_read(w->s, h->cursor, head, 256, deliver_one,
                                  &a) < 0)
                rs_warn("events: webhook %s: outbox read failed: %s",
                        h->url, rs_err_msg());
            else if (!a.blocked && h->cursor < head)
                /* up to head all is settled: gaps are failed commits */
                h->cursor = head;
            if (h->cursor != h->saved &&
                rs_mono_ns() - h->saved_at >= SAVE_EVERY_NS)
                hook_save(w, h, false);
        }
        if (idle)
            (void)store_events_wait(w->s, head, 50);
    }
    for (size_t i = 0; i < w->n; i++)
        if (w->hooks[i]->cursor != w->hooks[i]->saved)
            hook_save(w, w->hooks[i], true);
    return NULL;
}

int ev_webhooks_start(struct ev_webhooks **out, struct store *s,
                      const struct rs_config *cfg)
{
    struct ev_webhooks *w;

    *out = NULL;
    if (!cfg->events_enabled)
        return RS_OK;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    w = rs_xcalloc(1, sizeof *w);
    w->s = s;
    w->region = rs_xstrdup(cfg->region ? cfg->region : "");
    w->max_attempts = cfg->events_max_attempts > 0 ? cfg->events_max_attempts
                                                   : 5;
    pthread_mutex_init(&w->lock, NULL);
    if (pthread_create(&w->thread, NULL, hooks_main, w) != 0) {
        pthread_mutex_destroy(&w->lock);
        free(w->region);
        free(w);
        return rs_err_set(RS_ERR, "events: cannot start the webhook thread");
    }
    *out = w;
    return RS_OK;
}

void ev_webhooks_stop(struct ev_webhooks *w)
{
    if (!w)
        return;
    atomic_store(&w->stop, true);
    pthread_join(w->thread, NULL);
    for (size_t i = 0; i < w->n; i++) {
        curl_easy_cleanup(w->hooks[i]->curl);
        free(w->hooks[i]->url);
        free(w->hooks[i]);
    }
    ev_rules_free(w->rules);
    pthread_mutex_destroy(&w->lock);
    free(w->region);
    free(w);
}

char *ev_webhooks_stats_json(struct ev_webhooks *w)
{
    json_t *arr = json_array();
    uint64_t head = w ? store_events_head(w->s) : 0;
    char *s, *r;

    if (w) {
        pthread_mutex_lock(&w->lock);
        for (size_t i = 0; i < w->n; i++) {
            struct hook *h = w->hooks[i];
            json_array_append_new(
                arr, json_pack("{s:s, s:s, s:I, s:I, s:I, s:I, s:b}",
                               "group", h->name, "url", h->url, "saved_cursor",
                               (json_int_t)h->saved, "delivered",
                               (json_int_t)h->delivered, "failures",
                               (json_int_t)h->failures, "dead_lettered",
                               (json_int_t)h->dead, "live", h->live));
        }
        pthread_mutex_unlock(&w->lock);
    }
    (void)head;
    s = json_dumps(arr, JSON_COMPACT);
    json_decref(arr);
    r = rs_xstrdup(s ? s : "[]");
    free(s);
    return r;
}
