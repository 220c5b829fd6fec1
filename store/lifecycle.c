/*
 * store/lifecycle.c - bucket lifecycle: the rules of a bucket's S3
 * LifecycleConfiguration (stored here, parsed and validated by the
 * gateway, ingest/s3_lifecycle.c) and the runner that applies them:
 * expiry, transition to the low-frequency storage group, and abort of
 * stale multipart uploads.
 *
 * RECORD.  l/<bucket> -> JSON, version 1:
 *   {"v":1,"rules":[{"id":S,"on":B,"legacy":B,"and":B,"prefix":S,
 *     "tags":[[K,V],..],"gt":N,"lt":N,"exp_days":N,"exp_date":NS,
 *     "exp_dm":0|1,"tr":[{"days":N,"date":NS,"class":S,"newer":N}],
 *     "abort":N,"nc_exp_days":N,"nc_exp_newer":N,"nc_tr":[..]}]}
 * Members a rule does not have are left out.  Deleted with the bucket.
 *
 * DUE TIMES.  An action of Days on an object is due at its creation time
 * (the record's mtime: S3's "creation time"; a transition keeps it) plus
 * Days, rounded up to the next midnight UTC, as S3 does.  With
 * [lifecycle] day_seconds other than 86400 (tests) a day is that many
 * seconds and nothing is rounded (Ceph RGW's rgw_lc_debug_interval).  A
 * Date action is due from that date on.  Expiration wins over transition;
 * of several due transitions the one due last (the coldest stage) is
 * taken, and an object only ever moves down the ladder STANDARD ->
 * STANDARD_IA / INTELLIGENT_TIERING -> ONEZONE_IA -> GLACIER_IR ->
 * GLACIER -> DEEP_ARCHIVE.
 *
 * A PASS (store_lifecycle_run, or the runner thread every interval)
 * walks the l/ records, and for each bucket its objects in pages of
 * LC_PAGE keys (store_object_list: one short iterator per page, no lock
 * held between objects) and its multipart uploads likewise.  For each
 * object it decides, then acts, and every action re-checks, under the
 * key's lock and in the critical section of the index batch that makes
 * the change, that the object is still the one evaluated (same ETag,
 * mtime and size, and the rules still say so; tags may have changed):
 *
 *   expiry     store_object_delete_if: the record goes, its data becomes
 *              garbage (its own containers) or dead bytes (a merged
 *              extent: compaction gives the space back), and the event
 *              LifecycleExpiration:Delete is in the same batch;
 *   transition the bytes are copied into the low-frequency group, then
 *              one synced batch swaps the record's layout and storage
 *              class (ETag, mtime, metadata, tags, ACL unchanged), turns
 *              the old data into garbage / dead bytes and writes the
 *              event LifecycleTransition.  An object that changed
 *              meanwhile keeps its record and the copy is discarded.
 *              A large object is copied into a new container of its own
 *              (writer.c's raw writer: its pending record makes a crash
 *              leave only garbage); a small merged object is
 *              moved through the merge path with a compaction move
 *              (store__merge_move) whose new extent is in a merged
 *              container of the target group, then relabelled; a crash
 *              between the two leaves it in the target group labelled
 *              with its old class, and the next pass only relabels it.
 *   abort      store_upload_abort of an upload initiated DaysAfter-
 *              Initiation days ago (its parts become garbage).
 *
 * Events of the runner name the requester "roadstore:lifecycle" (S3
 * uses the principal "s3.amazonaws.com").
 *
 * CACHE.  GET and HEAD answer x-amz-expiration from the rules, so the
 * decoded configurations are cached by bucket, checked against a
 * generation bumped by every change.
 *
 * LOCKS: lc->cache_lock guards the cache (a leaf); lc->pass_lock makes
 * passes one at a time; lc->run_lock guards the runner's stop flag.
 */
#include "store/store_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LC_PAGE 1000
#define LC_CACHE_SLOTS 256
#define LC_CACHE_MAX 4096
#define LC_REQUESTER "roadstore:lifecycle"
#define NS 1000000000LL

struct lc_entry {
    struct lc_entry *next;
    char *bucket;
    uint64_t gen;
    bool has;                        /* the bucket has a configuration */
    struct rs_arena *a;              /* cfg's strings */
    struct store_lc_config cfg;
};

struct store_lc {
    int day_seconds;
    pthread_mutex_t cache_lock;
    atomic_uint_fast64_t gen;
    struct lc_entry *slots[LC_CACHE_SLOTS];
    size_t nentries;

    pthread_mutex_t pass_lock;
    pthread_mutex_t stats_lock;      /* totals */
    struct store_lc_stats totals;

    pthread_mutex_t run_lock;
    pthread_cond_t run_cond;
    bool stop, running;
    int interval;
    pthread_t thread;
};

/* ------------------------------------------------------------------ */
/* Record codec                                                         */
/* ------------------------------------------------------------------ */

static json_t *tr_json(const struct store_lc_transition *t, size_t n)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < n; i++) {
        json_t *o = json_object();
        if (t[i].days >= 0)
            json_object_set_new(o, "days", json_integer(t[i].days));
        else
            json_object_set_new(o, "date", json_integer(t[i].date_ns));
        if (t[i].storage_class)
            json_object_set_new(o, "class",
                                json_string(t[i].storage_class));
        if (t[i].newer >= 0)
            json_object_set_new(o, "newer", json_integer(t[i].newer));
        json_array_append_new(arr, o);
    }
    return arr;
}

static char *config_encode(const struct store_lc_config *c)
{
    json_t *rules = json_array(), *doc;
    char *s, *r;

    for (size_t i = 0; i < c->nrules; i++) {
        const struct store_lc_rule *u = &c->rules[i];
        json_t *o = json_object();

        json_object_set_new(o, "id", json_string(u->id ? u->id : ""));
        json_object_set_new(o, "on", json_boolean(u->enabled));
        if (u->legacy)
            json_object_set_new(o, "legacy", json_true());
        if (u->and)
            json_object_set_new(o, "and", json_true());
        if (u->prefix)
            json_object_set_new(o, "prefix", json_string(u->prefix));
        if (u->ntags) {
            json_t *t = json_array();
            for (size_t k = 0; k < u->ntags; k++)
                json_array_append_new(t, json_pack("[s,s]", u->tags[k].name,
                                                   u->tags[k].value));
            json_object_set_new(o, "tags", t);
        }
        if (u->has_size_gt)
            json_object_set_new(o, "gt", json_integer((json_int_t)u->size_gt));
        if (u->has_size_lt)
            json_object_set_new(o, "lt", json_integer((json_int_t)u->size_lt));
        if (u->exp_days > 0)
            json_object_set_new(o, "exp_days", json_integer(u->exp_days));
        if (u->exp_has_date)
            json_object_set_new(o, "exp_date", json_integer(u->exp_date_ns));
        if (u->exp_delete_marker >= 0)
            json_object_set_new(o, "exp_dm",
                                json_integer(u->exp_delete_marker));
        if (u->ntransitions)
            json_object_set_new(o, "tr", tr_json(u->transitions,
                                                 u->ntransitions));
        if (u->abort_days > 0)
            json_object_set_new(o, "abort", json_integer(u->abort_days));
        if (u->nc_exp_days >= 0)
            json_object_set_new(o, "nc_exp_days",
                                json_integer(u->nc_exp_days));
        if (u->nc_exp_newer >= 0)
            json_object_set_new(o, "nc_exp_newer",
                                json_integer(u->nc_exp_newer));
        if (u->nc_ntransitions)
            json_object_set_new(o, "nc_tr", tr_json(u->nc_transitions,
                                                    u->nc_ntransitions));
        json_array_append_new(rules, o);
    }
    doc = json_pack("{s:i,s:o}", "v", 1, "rules", rules);
    s = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    r = rs_xstrdup(s ? s : "{}");
    free(s);
    return r;
}

static int64_t jint(json_t *o, const char *k, int64_t dflt)
{
    json_t *v = json_object_get(o, k);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : dflt;
}

static char *jstra(struct rs_arena *a, json_t *o, const char *k)
{
    const char *v = json_string_value(json_object_get(o, k));
    return v ? rs_arena_strdup(a, v) : NULL;
}

static struct store_lc_transition *tr_decode(struct rs_arena *a, json_t *arr,
                                             size_t *n_out)
{
    struct store_lc_transition *t;
    size_t n = json_array_size(arr), i;
    json_t *o;

    *n_out = n;
    if (!n)
        return NULL;
    t = rs_arena_alloc(a, n * sizeof *t);
    json_array_foreach(arr, i, o) {
        t[i].days = (int32_t)jint(o, "days", -1);
        t[i].date_ns = jint(o, "date", 0);
        t[i].storage_class = jstra(a, o, "class");
        t[i].newer = (int32_t)jint(o, "newer", -1);
    }
    return t;
}

static int config_decode(struct rs_arena *a, struct store_lc_config *out,
                         const char *v, size_t n)
{
    json_error_t err;
    json_t *doc = json_loadb(v, n, 0, &err), *rules, *o;
    size_t i;

    memset(out, 0, sizeof *out);
    rules = json_object_get(doc, "rules");
    if (!json_is_array(rules)) {
        json_decref(doc);
        return rs_err_set(RS_ECORRUPT, "lifecycle record unreadable");
    }
    out->nrules = json_array_size(rules);
    out->rules = rs_arena_alloc(a, (out->nrules ? out->nrules : 1) *
                                       sizeof *out->rules);
    memset(out->rules, 0, (out->nrules ? out->nrules : 1) *
                              sizeof *out->rules);
    json_array_foreach(rules, i, o) {
        struct store_lc_rule *u = &out->rules[i];
        json_t *t = json_object_get(o, "tags"), *kv;
        size_t k;

        u->id = jstra(a, o, "id");
        u->enabled = json_is_true(json_object_get(o, "on"));
        u->legacy = json_is_true(json_object_get(o, "legacy"));
        u->and = json_is_true(json_object_get(o, "and"));
        u->prefix = jstra(a, o, "prefix");
        u->ntags = json_array_size(t);
        if (u->ntags) {
            u->tags = rs_arena_alloc(a, u->ntags * sizeof *u->tags);
            json_array_foreach(t, k, kv) {
                const char *kn = json_string_value(json_array_get(kv, 0));
                const char *vv = json_string_value(json_array_get(kv, 1));
                u->tags[k].name = rs_arena_strdup(a, kn ? kn : "");
                u->tags[k].value = rs_arena_strdup(a, vv ? vv : "");
            }
        }
        u->has_size_gt = json_object_get(o, "gt") != NULL;
        u->size_gt = (uint64_t)jint(o, "gt", 0);
        u->has_size_lt = json_object_get(o, "lt") != NULL;
        u->size_lt = (uint64_t)jint(o, "lt", 0);
        u->exp_days = (int32_t)jint(o, "exp_days", 0);
        u->exp_has_date = json_object_get(o, "exp_date") != NULL;
        u->exp_date_ns = jint(o, "exp_date", 0);
        u->exp_delete_marker = (int)jint(o, "exp_dm", -1);
        u->transitions = tr_decode(a, json_object_get(o, "tr"),
                                   &u->ntransitions);
        u->abort_days = (int32_t)jint(o, "abort", 0);
        u->nc_exp_days = (int32_t)jint(o, "nc_exp_days", -1);
        u->nc_exp_newer = (int32_t)jint(o, "nc_exp_newer", -1);
        u->nc_transitions = tr_decode(a, json_object_get(o, "nc_tr"),
                                      &u->nc_ntransitions);
    }
    json_decref(doc);
    return RS_OK;
}

static size_t lc_key(char *k, const char *bucket)
{
    return (size_t)snprintf(k, IDX_KEY_MAX, "l/%s", bucket);
}

int store_lifecycle_put(struct store *s, const char *bucket,
                        const struct store_lc_config *c)
{
    pthread_rwlock_t *bl = store__bucket_lock(s, bucket);
    struct idx_shardmap *m = NULL;
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    size_t kl = lc_key(k, bucket);
    int rc;

    /* Under the bucket lock: a bucket delete takes the record with it. */
    pthread_rwlock_rdlock(bl);
    if ((rc = store__bucket_map(&m, s, bucket)) != RS_OK)
        goto out;
    b = idx_batch_begin(s->ix);
    if (c && c->nrules > 0) {
        char *v = config_encode(c);
        idx_batch_put(b, k, kl, v, strlen(v));
        free(v);
    } else {
        idx_batch_delete(b, k, kl);
    }
    rc = idx_batch_commit(b, true);
    store__lifecycle_changed(s);
out:
    pthread_rwlock_unlock(bl);
    store__shardmap_free(m);
    return rc;
}

int store_lifecycle_get(struct store *s, struct rs_arena *a,
                        struct store_lc_config *out, const char *bucket)
{
    char k[IDX_KEY_MAX];
    size_t vl;
    char *v;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = idx_get(&v, &vl, s->ix, k, lc_key(k, bucket))) != RS_OK)
        return rc == RS_ENOTFOUND
                   ? rs_err_set(rc, "bucket %s has no lifecycle "
                                "configuration", bucket)
                   : rc;
    rc = config_decode(a, out, v, vl);
    free(v);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Rules                                                                */
/* ------------------------------------------------------------------ */

bool store_lc_rule_matches(const struct store_lc_rule *r,
                           const struct store_obj *o)
{
    if (r->prefix && strncmp(o->key, r->prefix, strlen(r->prefix)) != 0)
        return false;
    if (r->has_size_gt && !(o->size > r->size_gt))
        return false;
    if (r->has_size_lt && !(o->size < r->size_lt))
        return false;
    for (size_t i = 0; i < r->ntags; i++) {
        bool found = false;
        for (size_t j = 0; j < o->ntags && !found; j++)
            found = !strcmp(o->tags[j].name, r->tags[i].name) &&
                    !strcmp(o->tags[j].value, r->tags[i].value);
        if (!found)
            return false;
    }
    return true;
}

int64_t store_lc_due_ns(int64_t t_ns, int32_t days, int day_seconds)
{
    int64_t day = (int64_t)(day_seconds > 0 ? day_seconds : 86400) * NS;
    int64_t span, due;

    /* Days of 100,000 ("never") pass 2262: never due, not due at once */
    if (__builtin_mul_overflow((int64_t)days, day, &span) ||
        __builtin_add_overflow(t_ns, span, &due))
        return INT64_MAX;
    if (day_seconds == 86400 || day_seconds <= 0) {
        /* S3: rounded up to the next midnight UTC */
        int64_t rem = due % (86400 * NS);
        if (rem > 0 && __builtin_add_overflow(due, 86400 * NS - rem, &due))
            return INT64_MAX;
    }
    return due;
}

/* Position on the ladder objects move down; -1 for an unknown class. */
static int class_rank(const char *c)
{
    static const char *const ladder[][2] = {
        {"STANDARD", "0"}, {"REDUCED_REDUNDANCY", "0"},
        {"STANDARD_IA", "1"}, {"INTELLIGENT_TIERING", "1"},
        {"ONEZONE_IA", "2"}, {"GLACIER_IR", "3"}, {"GLACIER", "4"},
        {"DEEP_ARCHIVE", "5"},
    };

    if (!c || !*c)
        return 0;
    for (size_t i = 0; i < sizeof ladder / sizeof *ladder; i++)
        if (!strcmp(c, ladder[i][0]))
            return ladder[i][1][0] - '0';
    return -1;
}

enum lc_act { LC_NONE, LC_EXPIRE, LC_TRANSITION };

struct lc_decision {
    enum lc_act act;
    const char *rule_id;
    const char *storage_class;       /* transition target */
};

/* What the rules of c say about o at now. */
static struct lc_decision decide(const struct store_lc_config *c,
                                 const struct store_obj *o, int64_t now,
                                 int day_s)
{
    struct lc_decision d = {LC_NONE, NULL, NULL};
    int64_t best_due = INT64_MIN;

    for (size_t i = 0; i < c->nrules; i++) {
        const struct store_lc_rule *r = &c->rules[i];
        int64_t due;

        if (!r->enabled || !store_lc_rule_matches(r, o))
            continue;
        if (r->exp_days > 0 || r->exp_has_date) {
            due = r->exp_days > 0
                      ? store_lc_due_ns(o->mtime_ns, r->exp_days, day_s)
                      : r->exp_date_ns;
            if (due <= now) {
                d.act = LC_EXPIRE;
                d.rule_id = r->id;
                d.storage_class = NULL;
                return d;
            }
        }
        for (size_t k = 0; k < r->ntransitions; k++) {
            const struct store_lc_transition *t = &r->transitions[k];
            due = t->days >= 0 ? store_lc_due_ns(o->mtime_ns, t->days, day_s)
                               : t->date_ns;
            if (due <= now && due > best_due &&
                class_rank(t->storage_class) > class_rank(o->storage_class)) {
                best_due = due;
                d.act = LC_TRANSITION;
                d.rule_id = r->id;
                d.storage_class = t->storage_class;
            }
        }
    }
    return d;
}

/* ------------------------------------------------------------------ */
/* The configuration cache                                              */
/* ------------------------------------------------------------------ */

static void entry_free(struct lc_entry *e)
{
    rs_arena_free(e->a);
    free(e->bucket);
    free(e);
}

static void cache_clear(struct store_lc *lc)
{
    for (size_t i = 0; i < LC_CACHE_SLOTS; i++) {
        while (lc->slots[i]) {
            struct lc_entry *e = lc->slots[i];
            lc->slots[i] = e->next;
            entry_free(e);
        }
    }
    lc->nentries = 0;
}

/* The cached configuration of bucket, loaded when stale.  Under
 * cache_lock; NULL when the bucket has none. */
static const struct store_lc_config *cache_get(struct store *s,
                                               const char *bucket)
{
    struct store_lc *lc = s->lc;
    uint64_t gen = atomic_load(&lc->gen);
    size_t slot = rs_fnv1a64(bucket) % LC_CACHE_SLOTS;
    struct lc_entry *e;
    int rc;

    for (e = lc->slots[slot]; e; e = e->next)
        if (!strcmp(e->bucket, bucket))
            break;
    if (e && e->gen == gen)
        return e->has ? &e->cfg : NULL;
    if (!e) {
        if (lc->nentries >= LC_CACHE_MAX)
            cache_clear(lc);
        e = rs_xcalloc(1, sizeof *e);
        e->bucket = rs_xstrdup(bucket);
        e->next = lc->slots[slot];
        lc->slots[slot] = e;
        lc->nentries++;
    }
    rs_arena_free(e->a);
    e->a = rs_arena_new();
    rc = store_lifecycle_get(s, e->a, &e->cfg, bucket);
    e->has = rc == RS_OK;
    /* An index error is not cached: the next request tries again. */
    e->gen = rc == RS_OK || rc == RS_ENOTFOUND ? gen : gen - 1;
    return e->has ? &e->cfg : NULL;
}

bool store_lifecycle_expiry(struct store *s, struct rs_arena *a,
                            const struct store_obj *o, int64_t *when_ns,
                            const char **rule_id)
{
    const struct store_lc_config *c;
    bool found = false;

    pthread_mutex_lock(&s->lc->cache_lock);
    c = cache_get(s, o->bucket);
    for (size_t i = 0; c && i < c->nrules; i++) {
        const struct store_lc_rule *r = &c->rules[i];
        int64_t due;

        if (!r->enabled || !(r->exp_days > 0 || r->exp_has_date) ||
            !store_lc_rule_matches(r, o))
            continue;
        due = r->exp_days > 0
                  ? store_lc_due_ns(o->mtime_ns, r->exp_days,
                                    s->lc->day_seconds)
                  : r->exp_date_ns;
        if (!found || due < *when_ns) {
            found = true;
            *when_ns = due;
            *rule_id = rs_arena_strdup(a, r->id ? r->id : "");
        }
    }
    pthread_mutex_unlock(&s->lc->cache_lock);
    return found;
}

void store__lifecycle_changed(struct store *s)
{
    if (s->lc)
        atomic_fetch_add(&s->lc->gen, 1);
}

/* ------------------------------------------------------------------ */
/* Acting on one object                                                 */
/* ------------------------------------------------------------------ */

/* What was evaluated: the action stands only for this very object. */
struct lc_eval {
    struct store *s;
    uint64_t gen;                /* configurations' generation of cfg */
    const struct store_lc_config *cfg;
    int64_t now;
    int day_s;
    const char *etag;
    int64_t mtime_ns;
    uint64_t size;
    struct lc_decision d;
};

static bool same_object(const struct lc_eval *ev, const struct store_obj *o)
{
    return o->mtime_ns == ev->mtime_ns && o->size == ev->size &&
           !strcmp(o->etag ? o->etag : "", ev->etag ? ev->etag : "");
}

/* store_obj_pred: the object is unchanged and the rules still say so. */
static bool still_due(void *arg, const struct store_obj *o)
{
    struct lc_eval *ev = arg;
    struct lc_decision d;

    /* a configuration replaced or deleted meanwhile stops its actions */
    if (atomic_load(&ev->s->lc->gen) != ev->gen || !same_object(ev, o))
        return false;
    d = decide(ev->cfg, o, ev->now, ev->day_s);
    return d.act == ev->d.act &&
           (d.act != LC_TRANSITION ||
            !strcmp(d.storage_class, ev->d.storage_class));
}

static bool layout_in_group(const void *blob, size_t n, uint8_t group)
{
    struct store_layout l;
    bool in = true;

    if (!blob || !n)
        return true;
    if (store__layout_decode(&l, blob, n) != RS_OK)
        return false;
    for (size_t i = 0; i < l.nruns && in; i++)
        in = l.runs[i].group == group;
    store__layout_dispose(&l);
    return in;
}

/* What a transition's swap changes and expects (store_obj_edit args). */
struct lc_swap {
    struct lc_eval *ev;
    const void *expect;          /* the layout copied, or NULL */
    size_t expect_len;
    uint8_t group;
    const void *nl;              /* the new layout, or NULL: class only */
    size_t nll;
};

/* store_obj_pred: still the evaluated object, still due for this
 * transition, its layout exactly the one copied (expect) or, with
 * nothing copied, entirely in the target group already. */
static bool swap_still(void *arg, const struct store_obj *o)
{
    const struct lc_swap *w = arg;

    if (!still_due(w->ev, o))
        return false;
    if (!w->expect)
        return layout_in_group(o->_layout, o->_layout_len, w->group);
    return o->_layout_len == w->expect_len &&
           (!w->expect_len || !memcmp(o->_layout, w->expect, w->expect_len));
}

static char *swap_edit(const char *v, size_t vl, const void *arg)
{
    const struct lc_swap *w = arg;

    return store__rec_set_class(v, vl, w->ev->d.storage_class, w->nl,
                                w->nll);
}

/*
 * The transition's index change (store__obj_update: under the key lock,
 * one synced batch with the LifecycleTransition event): storage class
 * and, when w->nl is set, the layout (the old data becomes garbage or
 * dead bytes, the new container's pending record, `pending`, goes).
 */
static int transition_commit(struct store *s, const char *bucket,
                             const char *key, struct lc_swap *w,
                             const char *pending)
{
    struct store_obj_edit ed = {swap_edit, w, swap_still, w, w->nl != NULL,
                                pending};

    return store__obj_update(s, bucket, key, &ed,
                             STORE_EV_LIFECYCLE_TRANSITION);
}

/*
 * Copy o's bytes into a new container of group (writer.c's raw writer:
 * the striped format with its pending record, so a crash leaves garbage,
 * never a leak), synced; every block read is verified by the reader.
 * *wout is the writer to release or abort, also on failure.
 */
static int copy_container(struct store *s, const struct store_obj *o,
                          uint8_t group, struct store_writer **wout,
                          void **blob, size_t *blen, const char **name)
{
    struct store_writer *w = store__writer_raw(s, o->bucket, o->key, group);
    struct store_reader *r = NULL;
    size_t cap = STORE_WRITE_BUF;
    uint64_t off = 0;
    uint8_t *buf;
    int rc;

    *wout = w;
    *blob = NULL;
    if ((rc = store_reader_open(s, &r, o)) != RS_OK)
        return rc;
    buf = rs_xmalloc(cap);
    while (rc == RS_OK && off < o->size) {
        size_t got = 0, want = o->size - off < cap ? (size_t)(o->size - off)
                                                     : cap;
        rc = store_reader_read(r, off, buf, want, &got);
        if (rc == RS_OK && got == 0)
            rc = rs_err_set(RS_ECORRUPT, "%s/%s: short read", o->bucket,
                            o->key);
        if (rc == RS_OK)
            rc = store_writer_write(w, buf, got);
        off += got;
    }
    store_reader_close(r);
    free(buf);
    if (rc == RS_OK)
        rc = store__writer_seal(w, blob, blen, name);
    return rc;
}

/* Move o to ev->d.storage_class's group, keeping everything else. */
static int transition(struct store *s, const struct store_obj *o,
                      struct lc_eval *ev)
{
    struct lc_swap sw = {ev, NULL, 0, 0, NULL, 0};
    enum store_class cls;
    struct store_layout l = {0};
    uint8_t *data = NULL;
    int rc;

    if ((rc = store_class_parse(&cls, ev->d.storage_class)) != RS_OK)
        return rc;
    sw.group = (uint8_t)cls;
    if (layout_in_group(o->_layout, o->_layout_len, (uint8_t)cls))
        /* same group (STANDARD_IA -> GLACIER), empty, or moved by a
         * pass that crashed before relabelling: the class only */
        return transition_commit(s, o->bucket, o->key, &sw, NULL);
    if (!s->groups[cls].g)
        return rs_err_set(RS_EINVAL, "storage class %s: its group has no "
                          "directories", ev->d.storage_class);
    if ((rc = store__layout_decode(&l, o->_layout, o->_layout_len)) != RS_OK)
        return rc;
    if (s->mg && l.nruns == 1 && (l.runs[0].flags & STORE_RUN_MERGED) &&
        l.runs[0].count == 1 && store__merge_small(s, o->size)) {
        /* A small merged object: a compaction move whose new extent is
         * in a merged container of the target group (applied only while
         * the object is still at its old extent), then the class.  The
         * rules are checked again just before the move, so that a change
         * seldom leaves moved bytes under the old class (harmless: the
         * bytes are right, only their group differs). */
        struct rs_arena *a = rs_arena_new();
        struct store_obj cur;

        rc = store_object_head(s, a, &cur, o->bucket, o->key);
        if (rc == RS_OK && !still_due(ev, &cur))
            rc = rs_err_set(RS_ECONFLICT, "%s/%s changed", o->bucket,
                            o->key);
        rs_arena_free(a);
        if (rc == RS_OK && (rc = store__read_whole(s, o, &data)) == RS_OK)
            rc = store__merge_move(s, o->bucket, o->key, &l.runs[0],
                                   (uint8_t)cls, data, (size_t)o->size);
        if (rc == RS_OK)
            rc = transition_commit(s, o->bucket, o->key, &sw, NULL);
    } else {
        struct store_writer *w = NULL;
        const char *name = NULL;
        void *blob = NULL;
        size_t blen = 0;

        rc = copy_container(s, o, (uint8_t)cls, &w, &blob, &blen, &name);
        if (rc == RS_OK) {
            rs_crashpoint("lifecycle-copied");
            sw.expect = o->_layout;
            sw.expect_len = o->_layout_len;
            sw.nl = blob;
            sw.nll = blen;
            rc = transition_commit(s, o->bucket, o->key, &sw, name);
        }
        free(blob);
        if (rc == RS_OK)
            store__writer_release(w);  /* the object references it now */
        else
            store_writer_abort(w);
    }
    store__layout_dispose(&l);
    free(data);
    return rc;
}

/* ------------------------------------------------------------------ */
/* A pass                                                               */
/* ------------------------------------------------------------------ */

struct lc_page {
    struct store *s;
    uint64_t gen;                    /* of cfg */
    const struct store_lc_config *cfg;
    struct store_lc_stats *st;
    int64_t now;
    char *last;                      /* malloc'ed: the page's last key */
    const struct store_obj **objs;   /* this page's, in its arena */
    size_t n, cap;
};

/* Listing callback: collect the page (nothing is changed while the
 * listing's iterator is open). */
static int object_cb(void *arg, const struct store_list_entry *le)
{
    struct lc_page *p = arg;

    if (!le->obj)
        return 0;
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->objs = rs_xrealloc(p->objs, p->cap * sizeof *p->objs);
    }
    p->objs[p->n++] = le->obj;
    return 0;
}

static void act_on(struct lc_page *p, const struct store_obj *o)
{
    struct lc_eval ev;
    int rc;

    p->st->objects_scanned++;
    memset(&ev, 0, sizeof ev);
    ev.s = p->s;
    ev.gen = p->gen;
    ev.cfg = p->cfg;
    ev.now = p->now;
    ev.day_s = p->s->lc->day_seconds;
    ev.etag = o->etag;
    ev.mtime_ns = o->mtime_ns;
    ev.size = o->size;
    ev.d = decide(p->cfg, o, p->now, ev.day_s);
    if (ev.d.act == LC_NONE)
        return;
    if (ev.d.act == LC_EXPIRE) {
        rc = store_object_delete_if(p->s, o->bucket, o->key, still_due, &ev,
                                    STORE_EV_LIFECYCLE_EXPIRATION);
        if (rc == RS_OK) {
            p->st->expired++;
            p->st->expired_bytes += o->size;
        }
    } else {
        rc = transition(p->s, o, &ev);
        if (rc == RS_OK) {
            p->st->transitioned++;
            p->st->transitioned_bytes += o->size;
        }
    }
    if (rc == RS_ECONFLICT || rc == RS_ENOTFOUND) {
        p->st->skipped++;        /* changed meanwhile: not ours */
    } else if (rc != RS_OK) {
        p->st->errors++;
        rs_warn("store: lifecycle: %s/%s: %s", o->bucket, o->key,
                rs_err_msg());
    }
    rs_crashpoint("lifecycle-object");
}

struct lc_upage {
    struct store *s;
    const struct store_lc_config *cfg;
    struct store_lc_stats *st;
    int64_t now;
    char *last_key, *last_id;        /* malloc'ed */
    const struct store_upload **ups; /* this page's, in its arena */
    size_t n, cap;
};

static int upload_cb(void *arg, const struct store_upload_entry *ue)
{
    struct lc_upage *p = arg;

    if (!ue->upload)
        return 0;
    if (p->n == p->cap) {
        p->cap = p->cap ? 2 * p->cap : 64;
        p->ups = rs_xrealloc(p->ups, p->cap * sizeof *p->ups);
    }
    p->ups[p->n++] = ue->upload;
    return 0;
}

static void abort_if_due(struct lc_upage *p, const struct store_upload *u)
{
    int rc;

    for (size_t i = 0; i < p->cfg->nrules; i++) {
        const struct store_lc_rule *r = &p->cfg->rules[i];

        /* S3 filters this action by prefix only */
        if (!r->enabled || r->abort_days <= 0 ||
            (r->prefix && strncmp(u->key, r->prefix, strlen(r->prefix))))
            continue;
        if (store_lc_due_ns(u->initiated_ns, r->abort_days,
                            p->s->lc->day_seconds) > p->now)
            continue;
        rc = store_upload_abort(p->s, u->bucket, u->key, u->upload_id);
        if (rc == RS_OK) {
            p->st->uploads_aborted++;
        } else if (rc != RS_ENOTFOUND) {
            p->st->errors++;
            rs_warn("store: lifecycle: abort %s/%s upload %s: %s",
                    u->bucket, u->key, u->upload_id, rs_err_msg());
        }
        return;
    }
}

static bool stopping(struct store *s)
{
    bool stop;

    pthread_mutex_lock(&s->lc->run_lock);
    stop = s->lc->stop;
    pthread_mutex_unlock(&s->lc->run_lock);
    return stop;
}

/* Whether the configurations changed since gen (the pass of a bucket
 * then stops; the next pass applies the new ones). */
static bool changed(struct store *s, uint64_t gen)
{
    return atomic_load(&s->lc->gen) != gen;
}

static int bucket_pass(struct store *s, const char *bucket,
                       const struct store_lc_config *cfg, uint64_t gen,
                       struct store_lc_stats *st)
{
    bool objects = false, uploads = false, truncated = true;
    int rc = RS_OK;

    for (size_t i = 0; i < cfg->nrules; i++) {
        const struct store_lc_rule *r = &cfg->rules[i];
        if (!r->enabled)
            continue;
        if (r->exp_days > 0 || r->exp_has_date || r->ntransitions)
            objects = true;
        if (r->abort_days > 0)
            uploads = true;
    }
    st->buckets++;
    if (objects) {
        struct lc_page p = {s, gen, cfg, st, 0, NULL, NULL, 0, 0};

        while (rc == RS_OK && truncated && !stopping(s) &&
               !changed(s, gen)) {
            struct rs_arena *a = rs_arena_new();
            struct store_list_opts o = {0};

            o.start_after = p.last ? rs_arena_strdup(a, p.last) : NULL;
            o.max_keys = LC_PAGE;
            p.n = 0;
            rc = store_object_list(s, a, bucket, &o, object_cb, &p,
                                   &truncated, NULL);
            p.now = rs_now_ns();
            for (size_t i = 0; rc == RS_OK && i < p.n && !stopping(s); i++)
                act_on(&p, p.objs[i]);
            if (p.n > 0) {
                free(p.last);
                p.last = rs_xstrdup(p.objs[p.n - 1]->key);
            }
            rs_arena_free(a);
            if (p.n == 0)
                break;
        }
        free(p.last);
        free(p.objs);
    }
    truncated = true;
    if (uploads && rc == RS_OK) {
        struct lc_upage p = {s, cfg, st, 0, NULL, NULL, NULL, 0, 0};

        while (rc == RS_OK && truncated && !stopping(s) &&
               !changed(s, gen)) {
            struct rs_arena *a = rs_arena_new();
            struct store_upload_list_opts o = {0};

            o.key_marker = p.last_key ? rs_arena_strdup(a, p.last_key)
                                      : NULL;
            o.upload_id_marker = p.last_id ? rs_arena_strdup(a, p.last_id)
                                           : NULL;
            o.max_uploads = LC_PAGE;
            p.n = 0;
            rc = store_upload_list(s, a, bucket, &o, upload_cb, &p,
                                   &truncated);
            p.now = rs_now_ns();
            for (size_t i = 0; rc == RS_OK && i < p.n && !changed(s, gen);
                 i++)
                abort_if_due(&p, p.ups[i]);
            if (p.n > 0) {
                free(p.last_key);
                free(p.last_id);
                p.last_key = rs_xstrdup(p.ups[p.n - 1]->key);
                p.last_id = rs_xstrdup(p.ups[p.n - 1]->upload_id);
            }
            rs_arena_free(a);
            if (p.n == 0)
                break;
        }
        free(p.last_key);
        free(p.last_id);
        free(p.ups);
    }
    if (rc == RS_ENOTFOUND)
        rc = RS_OK;              /* the bucket went away meanwhile */
    return rc;
}

/* Names of the buckets with a configuration (a snapshot). */
struct names {
    char **v;
    size_t n, cap;
};

static int name_cb(void *arg, const struct store_bucket *b)
{
    struct names *nm = arg;

    if (nm->n == nm->cap) {
        nm->cap = nm->cap ? 2 * nm->cap : 16;
        nm->v = rs_xrealloc(nm->v, nm->cap * sizeof *nm->v);
    }
    nm->v[nm->n++] = rs_xstrdup(b->name);
    return 0;
}

static int lc_pass(struct store *s, const char *only,
                   struct store_lc_stats *st)
{
    struct names nm = {0};
    int rc = RS_OK;

    if (only) {
        struct store_bucket b = {.name = (char *)only};
        name_cb(&nm, &b);
    } else {
        struct rs_arena *a = rs_arena_new();
        rc = store_bucket_list(s, a, NULL, name_cb, &nm);
        rs_arena_free(a);
    }
    for (size_t i = 0; i < nm.n && rc == RS_OK && !stopping(s); i++) {
        struct rs_arena *a = rs_arena_new();
        struct store_lc_config cfg;
        uint64_t gen = atomic_load(&s->lc->gen);
        int r2 = store_lifecycle_get(s, a, &cfg, nm.v[i]);

        if (r2 == RS_OK)
            r2 = bucket_pass(s, nm.v[i], &cfg, gen, st);
        if (r2 == RS_ENOTFOUND && only)
            rc = r2;
        else if (r2 != RS_OK && r2 != RS_ENOTFOUND) {
            st->errors++;
            rs_warn("store: lifecycle: bucket %s: %s", nm.v[i],
                    rs_err_msg());
        }
        rs_arena_free(a);
    }
    for (size_t i = 0; i < nm.n; i++)
        free(nm.v[i]);
    free(nm.v);
    return rc;
}

int store_lifecycle_run(struct store *s, const char *bucket,
                        struct store_lc_stats *out)
{
    struct store_lc *lc = s->lc;
    struct store_lc_stats st;
    int64_t t0;
    int rc;

    memset(&st, 0, sizeof st);
    /* The runner's events (and an admin's) say who did it. */
    store_event_context(NULL, LC_REQUESTER, NULL);
    pthread_mutex_lock(&lc->pass_lock);
    t0 = rs_mono_ns();
    rc = lc_pass(s, bucket, &st);
    st.passes = 1;
    st.last_pass_seconds = (double)(rs_mono_ns() - t0) / 1e9;
    pthread_mutex_unlock(&lc->pass_lock);
    store_event_context(NULL, NULL, NULL);

    pthread_mutex_lock(&lc->stats_lock);
    lc->totals.passes++;
    lc->totals.buckets += st.buckets;
    lc->totals.objects_scanned += st.objects_scanned;
    lc->totals.expired += st.expired;
    lc->totals.expired_bytes += st.expired_bytes;
    lc->totals.transitioned += st.transitioned;
    lc->totals.transitioned_bytes += st.transitioned_bytes;
    lc->totals.uploads_aborted += st.uploads_aborted;
    lc->totals.skipped += st.skipped;
    lc->totals.errors += st.errors;
    lc->totals.last_pass_seconds = st.last_pass_seconds;
    pthread_mutex_unlock(&lc->stats_lock);
    if (out)
        *out = st;
    return rc;
}

void store_lifecycle_totals(struct store *s, struct store_lc_stats *out)
{
    pthread_mutex_lock(&s->lc->stats_lock);
    *out = s->lc->totals;
    pthread_mutex_unlock(&s->lc->stats_lock);
}

/* ------------------------------------------------------------------ */
/* The runner thread                                                    */
/* ------------------------------------------------------------------ */

static void *runner_main(void *arg)
{
    struct store *s = arg;
    struct store_lc *lc = s->lc;
    int wait_s = lc->interval < 60 ? lc->interval : 60;

    pthread_mutex_lock(&lc->run_lock);
    while (!lc->stop) {
        struct timespec ts;
        struct store_lc_stats st;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += wait_s;
        while (!lc->stop &&
               pthread_cond_timedwait(&lc->run_cond, &lc->run_lock,
                                      &ts) == 0)
            ;
        if (lc->stop)
            break;
        pthread_mutex_unlock(&lc->run_lock);
        if (store_lifecycle_run(s, NULL, &st) != RS_OK)
            rs_warn("store: lifecycle pass failed: %s", rs_err_msg());
        else if (st.expired + st.transitioned + st.uploads_aborted > 0)
            rs_info("store: lifecycle: %llu expired, %llu transitioned, "
                    "%llu uploads aborted in %.3f s",
                    (unsigned long long)st.expired,
                    (unsigned long long)st.transitioned,
                    (unsigned long long)st.uploads_aborted,
                    st.last_pass_seconds);
        wait_s = lc->interval;
        pthread_mutex_lock(&lc->run_lock);
    }
    pthread_mutex_unlock(&lc->run_lock);
    return NULL;
}

int store_lifecycle_start(struct store *s, const struct rs_config *cfg)
{
    struct store_lc *lc = s->lc;
    int e;

    if (!cfg->lifecycle_enabled || lc->running)
        return RS_OK;
    lc->interval = cfg->lifecycle_interval > 0 ? cfg->lifecycle_interval
                                               : 3600;
    lc->stop = false;
    if ((e = pthread_create(&lc->thread, NULL, runner_main, s)) != 0)
        return rs_err_errno(e, "start the lifecycle runner");
    lc->running = true;
    return RS_OK;
}

void store__lifecycle_init(struct store *s, const struct rs_config *cfg)
{
    struct store_lc *lc = rs_xcalloc(1, sizeof *lc);
    pthread_condattr_t ca;

    lc->day_seconds = cfg->lifecycle_day_seconds > 0
                          ? cfg->lifecycle_day_seconds
                          : 86400;
    pthread_mutex_init(&lc->cache_lock, NULL);
    pthread_mutex_init(&lc->pass_lock, NULL);
    pthread_mutex_init(&lc->stats_lock, NULL);
    pthread_mutex_init(&lc->run_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lc->run_cond, &ca);
    pthread_condattr_destroy(&ca);
    atomic_init(&lc->gen, 1);
    s->lc = lc;
}

void store_lifecycle_halt(struct store *s)
{
    struct store_lc *lc = s->lc;

    if (!lc)
        return;
    pthread_mutex_lock(&lc->run_lock);
    lc->stop = true;
    pthread_cond_signal(&lc->run_cond);
    pthread_mutex_unlock(&lc->run_lock);
}

void store__lifecycle_fini(struct store *s)
{
    struct store_lc *lc = s->lc;

    if (!lc)
        return;
    store_lifecycle_halt(s);
    if (lc->running) {
        pthread_join(lc->thread, NULL);
        lc->running = false;
    }
    cache_clear(lc);
    pthread_mutex_destroy(&lc->cache_lock);
    pthread_mutex_destroy(&lc->pass_lock);
    pthread_mutex_destroy(&lc->stats_lock);
    pthread_mutex_destroy(&lc->run_lock);
    pthread_cond_destroy(&lc->run_cond);
    free(lc);
    s->lc = NULL;
}
