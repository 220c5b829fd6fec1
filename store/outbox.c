/*
 * store/outbox.c - the event outbox: every mutation of an object writes
 * one event record in the same atomic index batch as the change itself,
 * so a crash can never leave an object without its event nor an event for
 * a change that did not happen.  The event subsystem (events/) reads the
 * outbox and delivers from it; it never has to trust a second log.
 *
 * SEQUENCE.  Events are numbered by one counter for the node; the key is
 * e/<seq as 16 hex digits>, so the outbox is in sequence order.  A
 * sequence is taken when the record is staged and its commit may finish
 * after a later one's, so readers only see up to the *head*: the highest
 * sequence below which every staged record was committed or abandoned
 * (the in-flight set below).  A failed commit leaves a gap, never a
 * reordering.  Since the counter only grows, it is also monotonic per
 * bucket and per key (the S3 "sequencer").
 *
 * RECORD, version 1: compact JSON, rendered into the S3 event message by
 * events/ off the request path:
 *   {"v":1, "n":"ObjectCreated:Put", "t":<ns>, "b":bucket, "k":key,
 *    "s":size, "e":etag, "c":storage class, "o":bucket owner,
 *    "r":requester,
 *    "id":request id, "ip":source ip, "m":{user metadata},
 *    "a":[old length, new length] (appends)}
 * Members a mutation does not have are left out.
 *
 * Request context (who asked) comes from thread-local storage the gateway
 * sets per request (store_event_context); a record built off a request
 * (WAL replay, a background task) has none, except the lifecycle
 * runner's, whose requester is "roadstore:lifecycle" (lifecycle.c).
 *
 * LOCKS: ev_lock guards the counter and the in-flight set; a leaf.
 */
#include "store/store_int.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const names[STORE_EV_COUNT] = {
    [STORE_EV_DEFAULT] = "ObjectCreated:Put",
    [STORE_EV_PUT] = "ObjectCreated:Put",
    [STORE_EV_COPY] = "ObjectCreated:Copy",
    [STORE_EV_COMPLETE_MULTIPART] = "ObjectCreated:CompleteMultipartUpload",
    [STORE_EV_APPEND] = "ObjectCreated:Append",
    [STORE_EV_DELETE] = "ObjectRemoved:Delete",
    [STORE_EV_TAGGING_PUT] = "ObjectTagging:Put",
    [STORE_EV_TAGGING_DELETE] = "ObjectTagging:Delete",
    [STORE_EV_ACL_PUT] = "ObjectAcl:Put",
    [STORE_EV_LIFECYCLE_TRANSITION] = "LifecycleTransition",
    [STORE_EV_LIFECYCLE_EXPIRATION] = "LifecycleExpiration:Delete",
};

const char *store_event_name(enum store_event_kind kind)
{
    return (unsigned)kind < STORE_EV_COUNT ? names[kind] : names[0];
}

/* ------------------------------------------------------------------ */
/* Request context                                                      */
/* ------------------------------------------------------------------ */

static _Thread_local char ctx_id[40], ctx_user[72], ctx_ip[48];

void store_event_context(const char *request_id, const char *requester,
                         const char *source_ip)
{
    snprintf(ctx_id, sizeof ctx_id, "%s", request_id ? request_id : "");
    snprintf(ctx_user, sizeof ctx_user, "%s", requester ? requester : "");
    snprintf(ctx_ip, sizeof ctx_ip, "%s", source_ip ? source_ip : "");
}

/* ------------------------------------------------------------------ */
/* Records                                                              */
/* ------------------------------------------------------------------ */

static void set_str(json_t *j, const char *k, const char *v)
{
    if (v && *v)
        json_object_set_new(j, k, json_string(v));
}

char *store__event_encode(struct store *st, const struct store_event *e)
{
    json_t *j = json_object();
    const struct store_obj *o = e->obj;
    struct rs_arena *a = rs_arena_new();
    struct store_bucket bk;
    char *s, *r;

    json_object_set_new(j, "v", json_integer(1));
    json_object_set_new(j, "n", json_string(store_event_name(e->kind)));
    json_object_set_new(j, "t", json_integer(rs_now_ns()));
    json_object_set_new(j, "b", json_string(e->bucket));
    json_object_set_new(j, "k", json_string(e->key));
    if (o) {
        json_object_set_new(j, "s", json_integer((json_int_t)o->size));
        set_str(j, "e", o->etag);
        set_str(j, "c", o->storage_class);
        if (o->nmeta) {
            json_t *m = json_object();
            for (size_t i = 0; i < o->nmeta; i++)
                json_object_set_new(m, o->meta[i].name,
                                    json_string(o->meta[i].value));
            json_object_set_new(j, "m", m);
        }
    }
    if (e->kind == STORE_EV_APPEND)
        json_object_set_new(j, "a", json_pack("[I,I]",
                                              (json_int_t)e->old_len,
                                              (json_int_t)e->new_len));
    /* S3 names the bucket's owner (the metadata cache makes this cheap) */
    if (store_bucket_get(st, a, &bk, e->bucket) == RS_OK)
        set_str(j, "o", bk.acl.owner);
    rs_arena_free(a);
    set_str(j, "r", ctx_user);
    set_str(j, "id", ctx_id);
    set_str(j, "ip", ctx_ip);
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    r = rs_xstrdup(s ? s : "{}");
    free(s);
    return r;
}

/* ------------------------------------------------------------------ */
/* Sequence and the in-flight set                                       */
/* ------------------------------------------------------------------ */

/* The sequence in a key: exactly 16 hex digits at p (RocksDB keys are not
 * NUL-terminated: never let strtoull run past them). */
static uint64_t key_seq(const char *p, size_t avail)
{
    uint64_t v = 0;

    for (size_t i = 0; i < 16 && i < avail; i++) {
        char c = p[i];
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0)
            break;
        v = v << 4 | (uint64_t)d;
    }
    return v;
}

/* Call fn for every record whose key starts with prefix, from the key
 * from (NULL: the first), in key order; a non-zero return stops the scan
 * and is returned, else the iterator's status. */
static int scan(struct store *s, const char *prefix, size_t plen,
                const char *from, size_t fromlen,
                int (*fn)(void *arg, const char *k, size_t kl, const char *v,
                          size_t vl),
                void *arg)
{
    struct idx_iter *it;
    int rc = RS_OK;

    idx_iter_open(&it, s->ix, prefix, plen);
    for (idx_iter_seek(it, from ? from : prefix, from ? fromlen : plen);
         idx_iter_valid(it); idx_iter_next(it)) {
        size_t kl, vl;
        const char *k = idx_iter_key(it, &kl);
        const char *v = idx_iter_value(it, &vl);

        if ((rc = fn(arg, k, kl, v, vl)) != 0)
            break;
    }
    if (rc == RS_OK)
        rc = idx_iter_status(it);
    idx_iter_close(it);
    return rc;
}

/* A scan that hands cb the name after the 2-byte prefix ("G/", "n/"). */
struct named {
    int (*cb)(void *arg, const char *name, const char *json, size_t len);
    void *arg;
};

static int named_one(void *arg, const char *k, size_t kl, const char *v,
                     size_t vl)
{
    struct named *n = arg;
    char name[80];

    snprintf(name, sizeof name, "%.*s", (int)(kl - 2), k + 2);
    return n->cb(n->arg, name, v, vl);
}

/* Stage the deletion of every key scanned (arg: the batch). */
static int delete_one(void *arg, const char *k, size_t kl, const char *v,
                      size_t vl)
{
    (void)v;
    (void)vl;
    idx_batch_delete(arg, k, kl);
    return 0;
}

struct store_outbox {
    pthread_mutex_t lock;
    pthread_cond_t cond;             /* head moved */
    uint64_t next;                   /* next sequence to hand out */
    uint64_t *inflight;              /* staged, not yet done (unsorted) */
    size_t ninflight, cap;
    uint64_t first;                  /* oldest kept, 0: none known */
};

int store__outbox_open(struct store *s, bool enabled)
{
    struct store_outbox *ob;
    struct idx_iter *it;
    pthread_condattr_t ca;
    int rc;

    if (!enabled)
        return RS_OK;
    ob = rs_xcalloc(1, sizeof *ob);
    pthread_mutex_init(&ob->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ob->cond, &ca);
    pthread_condattr_destroy(&ca);
    ob->next = 1;
    idx_iter_open(&it, s->ix, IDX_PREFIX_EVENT, 2);
    idx_iter_seek_last(it);
    if (idx_iter_valid(it)) {
        size_t kl;
        const char *k = idx_iter_key(it, &kl);
        ob->next = key_seq(k + 2, kl - 2) + 1;
    }
    idx_iter_seek(it, IDX_PREFIX_EVENT, 2);
    if (idx_iter_valid(it)) {
        size_t kl;
        const char *k = idx_iter_key(it, &kl);
        ob->first = key_seq(k + 2, kl - 2);
    }
    rc = idx_iter_status(it);
    idx_iter_close(it);
    s->ob = ob;
    return rc;
}

void store__outbox_close(struct store *s)
{
    if (!s->ob)
        return;
    pthread_mutex_destroy(&s->ob->lock);
    pthread_cond_destroy(&s->ob->cond);
    free(s->ob->inflight);
    free(s->ob);
    s->ob = NULL;
}

uint64_t store__event_add(struct store *s, struct idx_batch *b,
                          const struct store_event *e)
{
    char *v;
    uint64_t seq;

    if (!s->ob)
        return 0;
    v = store__event_encode(s, e);
    seq = store__event_add_raw(s, b, v);
    free(v);
    return seq;
}

uint64_t store__event_add_raw(struct store *s, struct idx_batch *b,
                              const char *v)
{
    struct store_outbox *ob = s->ob;
    char k[IDX_KEY_MAX];
    uint64_t seq;

    if (!ob)
        return 0;
    pthread_mutex_lock(&ob->lock);
    seq = ob->next++;
    if (ob->ninflight == ob->cap) {
        ob->cap = ob->cap ? 2 * ob->cap : 64;
        ob->inflight = rs_xrealloc(ob->inflight,
                                   ob->cap * sizeof *ob->inflight);
    }
    ob->inflight[ob->ninflight++] = seq;
    if (!ob->first)
        ob->first = seq;
    pthread_mutex_unlock(&ob->lock);
    idx_batch_put(b, k, idx_key_event(k, seq), v, strlen(v));
    return seq;
}

void store__event_done(struct store *s, uint64_t seq)
{
    struct store_outbox *ob = s->ob;

    if (!ob || !seq)
        return;
    pthread_mutex_lock(&ob->lock);
    for (size_t i = 0; i < ob->ninflight; i++)
        if (ob->inflight[i] == seq) {
            ob->inflight[i] = ob->inflight[--ob->ninflight];
            break;
        }
    pthread_cond_broadcast(&ob->cond);
    pthread_mutex_unlock(&ob->lock);
}

/* Under lock. */
static uint64_t head_locked(const struct store_outbox *ob)
{
    uint64_t h = ob->next - 1;

    for (size_t i = 0; i < ob->ninflight; i++)
        if (ob->inflight[i] - 1 < h)
            h = ob->inflight[i] - 1;
    return h;
}

uint64_t store_events_head(struct store *s)
{
    uint64_t h;

    if (!s->ob)
        return 0;
    pthread_mutex_lock(&s->ob->lock);
    h = head_locked(s->ob);
    pthread_mutex_unlock(&s->ob->lock);
    return h;
}

uint64_t store_events_wait(struct store *s, uint64_t after, int timeout_ms)
{
    struct store_outbox *ob = s->ob;
    struct timespec ts;
    uint64_t h;

    if (!ob)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&ob->lock);
    while ((h = head_locked(ob)) <= after &&
           pthread_cond_timedwait(&ob->cond, &ob->lock, &ts) == 0)
        ;
    h = head_locked(ob);
    pthread_mutex_unlock(&ob->lock);
    return h;
}

struct read_arg {
    uint64_t upto;
    size_t max, n;
    int (*cb)(void *arg, uint64_t seq, const char *json, size_t len);
    void *arg;
    int stop;                        /* the callback's, or -1: a limit */
};

static int read_one(void *arg, const char *k, size_t kl, const char *v,
                    size_t vl)
{
    struct read_arg *a = arg;
    uint64_t seq = key_seq(k + 2, kl - 2);

    if (seq > a->upto || (a->max && a->n == a->max))
        return 1;
    a->n++;
    return (a->stop = a->cb(a->arg, seq, v, vl)) != 0;
}

int store_events_read(struct store *s, uint64_t after, uint64_t upto,
                      size_t max,
                      int (*cb)(void *arg, uint64_t seq, const char *json,
                                size_t len),
                      void *arg)
{
    struct read_arg a = {upto, max, 0, cb, arg, 0};
    char k[IDX_KEY_MAX];
    int rc = scan(s, IDX_PREFIX_EVENT, 2, k, idx_key_event(k, after + 1),
                  read_one, &a);

    return rc < 0 ? rc : a.stop;
}

struct prune_arg {
    struct idx_batch *b;
    uint64_t below;
};

static int prune_one(void *arg, const char *k, size_t kl, const char *v,
                     size_t vl)
{
    struct prune_arg *a = arg;

    if (key_seq(k + 2, kl - 2) >= a->below)
        return 1;
    return delete_one(a->b, k, kl, v, vl);
}

int store_events_prune(struct store *s, uint64_t below)
{
    struct idx_batch *b;
    int rc;

    if (!s->ob)
        return RS_OK;
    b = idx_batch_begin(s->ix);
    /* everything in [e/, e/<below>) */
    rc = scan(s, IDX_PREFIX_EVENT, 2, NULL, 0, prune_one,
              &(struct prune_arg){b, below});
    if (rc < 0 || idx_batch_count(b) == 0) {
        idx_batch_abort(b);
        return rc < 0 ? rc : RS_OK;
    }
    /* No sync: an event pruned twice costs nothing. */
    rc = idx_batch_commit(b, false);
    if (rc == RS_OK) {
        pthread_mutex_lock(&s->ob->lock);
        if (s->ob->first < below)
            s->ob->first = below < s->ob->next ? below : 0;
        pthread_mutex_unlock(&s->ob->lock);
    }
    return rc;
}

uint64_t store_events_first(struct store *s)
{
    uint64_t f;

    if (!s->ob)
        return 0;
    pthread_mutex_lock(&s->ob->lock);
    f = s->ob->first;
    pthread_mutex_unlock(&s->ob->lock);
    return f;
}

/* ------------------------------------------------------------------ */
/* Consumer groups and their dead letters                               */
/* ------------------------------------------------------------------ */

bool store_events_group_name_ok(const char *g)
{
    size_t n = g ? strlen(g) : 0;

    if (n == 0 || n > 64)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((g[i] >= 'a' && g[i] <= 'z') || (g[i] >= 'A' && g[i] <= 'Z') ||
              (g[i] >= '0' && g[i] <= '9') || g[i] == '.' || g[i] == '_' ||
              g[i] == '-'))
            return false;
    return true;
}

static int check_group(const char *g)
{
    return store_events_group_name_ok(g)
               ? RS_OK
               : rs_err_set(RS_EINVAL, "bad group name '%s' (1..64 of "
                            "A-Za-z0-9._-)", g ? g : "");
}

int store_events_group_put(struct store *s, const char *group,
                           const char *json, bool sync)
{
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    int rc;

    if ((rc = check_group(group)) != RS_OK)
        return rc;
    b = idx_batch_begin(s->ix);
    idx_batch_put(b, k, (size_t)snprintf(k, sizeof k, "G/%s", group), json,
                  strlen(json));
    return idx_batch_commit(b, sync);
}

int store_events_group_delete(struct store *s, const char *group,
                              bool dead_letters)
{
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    int rc;

    if ((rc = check_group(group)) != RS_OK)
        return rc;
    b = idx_batch_begin(s->ix);
    idx_batch_delete(b, k, (size_t)snprintf(k, sizeof k, "G/%s", group));
    if (dead_letters)
        rc = scan(s, k, (size_t)snprintf(k, sizeof k, "D/%s/", group), NULL,
                  0, delete_one, b);
    if (rc != RS_OK) {
        idx_batch_abort(b);
        return rc;
    }
    return idx_batch_commit(b, true);
}

int store_events_group_list(struct store *s,
                            int (*cb)(void *arg, const char *group,
                                      const char *json, size_t len),
                            void *arg)
{
    return scan(s, "G/", 2, NULL, 0, named_one, &(struct named){cb, arg});
}

int store_events_dlq_put(struct store *s, const char *group, uint64_t seq,
                         const char *json)
{
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    int rc;

    if ((rc = check_group(group)) != RS_OK)
        return rc;
    b = idx_batch_begin(s->ix);
    idx_batch_put(b, k,
                  (size_t)snprintf(k, sizeof k, "D/%s/%016llx", group,
                                   (unsigned long long)seq),
                  json, strlen(json));
    return idx_batch_commit(b, true);
}

struct dlq_arg {
    int (*cb)(void *arg, const char *group, uint64_t seq, const char *json,
              size_t len);
    void *arg;
};

/* D/<group>/<seq:16 hex> */
static int dlq_one(void *arg, const char *k, size_t kl, const char *v,
                   size_t vl)
{
    struct dlq_arg *a = arg;
    const char *slash = memchr(k + 2, '/', kl - 2);
    char name[80];

    if (!slash)
        return 0;
    snprintf(name, sizeof name, "%.*s", (int)(slash - k - 2), k + 2);
    return a->cb(a->arg, name,
                 key_seq(slash + 1, kl - (size_t)(slash + 1 - k)), v, vl);
}

int store_events_dlq_list(struct store *s, const char *group,
                          int (*cb)(void *arg, const char *group,
                                    uint64_t seq, const char *json,
                                    size_t len),
                          void *arg)
{
    char p[IDX_KEY_MAX];
    size_t pl;
    int rc;

    if (group && (rc = check_group(group)) != RS_OK)
        return rc;
    pl = group ? (size_t)snprintf(p, sizeof p, "D/%s/", group)
               : (size_t)snprintf(p, sizeof p, "D/");
    return scan(s, p, pl, NULL, 0, dlq_one, &(struct dlq_arg){cb, arg});
}

/* ------------------------------------------------------------------ */
/* Bucket notification configurations                                   */
/* ------------------------------------------------------------------ */

static atomic_uint_fast64_t notify_gen = 1;

int store_notification_put(struct store *s, const char *bucket,
                           const char *json)
{
    struct idx_batch *b = idx_batch_begin(s->ix);
    char k[IDX_KEY_MAX];
    size_t kl = (size_t)snprintf(k, sizeof k, "n/%s", bucket);
    int rc;

    if (json)
        idx_batch_put(b, k, kl, json, strlen(json));
    else
        idx_batch_delete(b, k, kl);
    rc = idx_batch_commit(b, true);
    atomic_fetch_add(&notify_gen, 1);
    return rc;
}

int store_notification_get(struct store *s, const char *bucket,
                           char **json_out)
{
    char k[IDX_KEY_MAX];
    size_t vl;

    return idx_get(json_out, &vl, s->ix, k,
                   (size_t)snprintf(k, sizeof k, "n/%s", bucket));
}

int store_notification_list(struct store *s,
                            int (*cb)(void *arg, const char *bucket,
                                      const char *json, size_t len),
                            void *arg)
{
    return scan(s, "n/", 2, NULL, 0, named_one, &(struct named){cb, arg});
}

void store__notification_changed(void)
{
    atomic_fetch_add(&notify_gen, 1);
}

uint64_t store_notification_gen(struct store *s)
{
    (void)s;
    return atomic_load(&notify_gen);
}
