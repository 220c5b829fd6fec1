/*
 * store/fsck.c - `roadstore admin fsck`: walk the index and the
 * containers, report what does not agree, and with repair fix it.
 *
 * Checks, in order:
 *   1. every object record: each extent's container exists (on disk, or
 *      in memory for a merged container not yet flushed) and is long
 *      enough; with verify, every byte is read back through a reader, so
 *      every CRC32C block is checked ("missing", "corrupt");
 *   2. part records of open multipart uploads: their containers exist;
 *   3. merged containers (c/ records): their x/ dead counters agree with
 *      the live bytes the object records point at ("dead-counter"); one
 *      that no object uses any more is "unreferenced";
 *   4. every container file of every group is referenced by an object, a
 *      part, a pending writer, a garbage record or a c/ record; one that
 *      is not is an "orphan" (a writer that died between its container and
 *      its pending record, or a lost record).
 *
 * Repair: an object whose data is missing or corrupt cannot be read
 * correctly ever again, so its record is removed (and listed in the
 * report: restore it from elsewhere); dead counters are rewritten;
 * unreferenced merged containers and orphans are handed to the collector
 * (garbage records: removed after gc_delay).  Nothing is removed at once.
 *
 * Safe on a running node (readers and writers go on; a container created
 * during the walk is covered by its pending record or is in memory), but
 * the dead-counter rewrite races with concurrent deletes: repair offline.
 */
#include "store/store_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A set of container names with the live bytes that point into each. */
struct cset_ent {
    char name[STORE_CNAME_SIZE];     /* "" when free */
    uint64_t live_bytes, live_objs;
};

struct cset {
    struct cset_ent *e;
    size_t cap, n;
};

static struct cset_ent *cset_find(struct cset *c, const char *name,
                                  bool add)
{
    if (add && (c->n + 1) * 2 > c->cap) {
        struct cset old = *c;
        c->cap = c->cap ? 2 * c->cap : 1024;
        c->e = rs_xcalloc(c->cap, sizeof *c->e);
        c->n = 0;
        for (size_t i = 0; i < old.cap; i++)
            if (old.e[i].name[0]) {
                struct cset_ent *d = cset_find(c, old.e[i].name, true);
                *d = old.e[i];
            }
        free(old.e);
    }
    if (c->cap == 0)
        return NULL;
    for (size_t i = rs_fnv1a64(name) % c->cap;; i = (i + 1) % c->cap) {
        if (!c->e[i].name[0]) {
            if (!add)
                return NULL;
            memcpy(c->e[i].name, name, STORE_CNAME_SIZE);
            c->n++;
            return &c->e[i];
        }
        if (strcmp(c->e[i].name, name) == 0)
            return &c->e[i];
    }
}

struct fsck {
    struct store *s;
    const struct store_fsck_opts *o;
    struct store_fsck_report *r;
    struct cset refs;                /* referenced by objects and parts */
    struct cset known;               /* pending, garbage, c/ */
};

static void problem(struct fsck *f, const char *kind, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(struct fsck *f, const char *kind, const char *fmt, ...)
{
    char msg[2048];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (f->o->report)
        f->o->report(f->o->arg, kind, msg);
}

/* Does the extent run exist with all its bytes?  RS_OK, RS_ENOTFOUND
 * (container missing) or RS_ECORRUPT (short). */
static int run_present(struct fsck *f, const struct store_run *run)
{
    struct store_file *sf;
    struct merge_ctr *mc;
    uint64_t need = store__run_end(run);
    uint64_t size = 0;
    int rc;

    if ((run->flags & STORE_RUN_MERGED) &&
        (mc = store__merge_find(f->s, run->container)) != NULL) {
        store__merge_unref(f->s, mc);
        return RS_OK;
    }
    rc = store__file_get(f->s, &sf, run->group, run->container);
    if (rc != RS_OK)
        return rc;
    rc = sf->f->ops->stat(sf->f, &size);
    store__file_put(f->s, sf);
    if (rc == RS_OK && size < need)
        rc = rs_err_set(RS_ECORRUPT, "container %s has %llu of %llu bytes",
                        run->container, (unsigned long long)size,
                        (unsigned long long)need);
    return rc;
}

/* Read the whole object: every block's CRC is checked. */
static int verify_data(struct fsck *f, const char *bucket, const char *key)
{
    struct rs_arena *a = rs_arena_new();
    struct store_reader *rd = NULL;
    struct store_obj o;
    uint8_t *buf = rs_xmalloc(1u << 20);
    uint64_t off = 0;
    int rc;

    if ((rc = store_object_head(f->s, a, &o, bucket, key)) != RS_OK ||
        (rc = store_reader_open(f->s, &rd, &o)) != RS_OK)
        goto out;
    while (off < o.size) {
        size_t got = 0;
        if ((rc = store_reader_read(rd, off, buf, 1u << 20, &got)) != RS_OK)
            break;
        if (got == 0) {
            rc = rs_err_set(RS_ECORRUPT, "%s/%s: short at %llu", bucket, key,
                            (unsigned long long)off);
            break;
        }
        off += got;
        f->r->bytes_verified += got;
    }
    store_reader_close(rd);
out:
    free(buf);
    rs_arena_free(a);
    return rc;
}

/* Remove a broken object record (repair). */
static int drop_object(struct fsck *f, const struct idx_shardmap *m,
                       const char *bucket, const char *key,
                       const struct store_layout *l)
{
    struct idx_batch *b = idx_batch_begin(f->s->ix);
    pthread_rwlock_t *bl = store__bucket_lock(f->s, bucket);
    pthread_mutex_t *kl = store__key_lock(f->s, bucket, key);
    size_t n;
    int rc;

    pthread_rwlock_rdlock(bl);
    pthread_mutex_lock(kl);
    idx_obj_del(b, m, bucket, key);
    n = store__garbage_add(b, l);
    rc = idx_batch_commit(b, true);
    pthread_mutex_unlock(kl);
    pthread_rwlock_unlock(bl);
    if (rc == RS_OK) {
        atomic_fetch_add(&f->s->gc_pending, n);
        f->r->repaired++;
    }
    return rc;
}

static int check_object(struct fsck *f, const struct idx_shardmap *m,
                        const char *bucket, const char *key,
                        const char *val, size_t vlen)
{
    struct store_layout l;
    const char *kind = NULL;
    char why[512] = "";
    int rc;

    f->r->objects++;
    if (store__rec_layout(&l, val, vlen) != RS_OK) {
        problem(f, "corrupt", "%s/%s: record unreadable: %s", bucket, key,
                rs_err_msg());
        f->r->corrupt++;
        return RS_OK;
    }
    for (size_t i = 0; i < l.nruns; i++) {
        const struct store_run *run = &l.runs[i];

        cset_find(&f->refs, run->container, true);
        if (!kind && (rc = run_present(f, run)) != RS_OK) {
            kind = rc == RS_ENOTFOUND ? "missing" : "corrupt";
            snprintf(why, sizeof why, "%s", rs_err_msg());
        }
    }
    if (!kind && f->o->verify && l.size > 0) {
        rc = verify_data(f, bucket, key);
        if (rc == RS_ECORRUPT) {
            kind = "corrupt";
            snprintf(why, sizeof why, "%s", rs_err_msg());
        } else if (rc != RS_OK && rc != RS_ENOTFOUND) {
            kind = "corrupt";
            snprintf(why, sizeof why, "read failed: %s", rs_err_msg());
        }
    }
    if (kind) {
        if (kind[0] == 'm')
            f->r->missing++;
        else
            f->r->corrupt++;
        problem(f, kind, "%s/%s: %s%s", bucket, key, why,
                f->o->repair ? " (record removed)" : "");
        if (f->o->repair) {
            if (drop_object(f, m, bucket, key, &l) == RS_OK)
                goto out;            /* its bytes are dead now */
            problem(f, "error", "%s/%s: cannot remove record: %s", bucket,
                    key, rs_err_msg());
        }
    }
    /* Live bytes in merged containers, for the dead counters. */
    for (size_t i = 0; i < l.nruns; i++) {
        const struct store_run *run = &l.runs[i];
        struct cset_ent *e;

        if (!(run->flags & STORE_RUN_MERGED))
            continue;
        e = cset_find(&f->refs, run->container, true);
        e->live_bytes += run->count * store__extent_span(run->len, run->block);
        e->live_objs += run->count;
    }
out:
    store__layout_dispose(&l);
    return RS_OK;
}

static int walk_objects(struct fsck *f)
{
    struct idx_iter *it;
    int rc;

    if ((rc = idx_iter_open(&it, f->s->ix, IDX_PREFIX_BUCKET, 2)) != RS_OK)
        return rc;
    for (idx_iter_seek(it, IDX_PREFIX_BUCKET, 2);
         rc == RS_OK && idx_iter_valid(it); idx_iter_next(it)) {
        size_t klen;
        const char *k = idx_iter_key(it, &klen);
        char *bucket = rs_xstrndup(k + 2, klen - 2);
        struct idx_shardmap *m = NULL;
        struct idx_objcur *c = NULL;

        if (store__bucket_map(&m, f->s, bucket) == RS_OK &&
            idx_objcur_open(&c, f->s->ix, m, bucket) == RS_OK) {
            const char *key, *val;
            size_t vlen;
            int r;

            r = idx_objcur_seek(c, "");
            while (r == RS_OK &&
                   (r = idx_objcur_get(c, &key, &val, &vlen)) == RS_OK) {
                char *kc = rs_xstrdup(key), *vc = rs_xstrndup(val, vlen);
                check_object(f, m, bucket, kc, vc, vlen);
                free(kc);
                free(vc);
                r = idx_objcur_next(c);
            }
            if (r != RS_OK && r != RS_ENOTFOUND)
                rc = r;
        }
        idx_objcur_close(c);
        store__shardmap_free(m);
        free(bucket);
    }
    if (rc == RS_OK)
        rc = idx_iter_status(it);
    idx_iter_close(it);
    return rc;
}

/* Parts (q/), pending (p/), garbage (g/): containers they name. */
static int walk_family(struct fsck *f, const char *prefix)
{
    struct idx_iter *it;
    int rc;

    if ((rc = idx_iter_open(&it, f->s->ix, prefix, 2)) != RS_OK)
        return rc;
    for (idx_iter_seek(it, prefix, 2); idx_iter_valid(it);
         idx_iter_next(it)) {
        size_t klen, vlen;
        const char *k = idx_iter_key(it, &klen);
        const char *v = idx_iter_value(it, &vlen);
        char name[STORE_CNAME_SIZE];

        if (prefix[0] == 'q') {
            struct store_layout l;
            if (store__rec_layout(&l, v, vlen) != RS_OK)
                continue;
            for (size_t i = 0; i < l.nruns; i++) {
                struct store_run run = l.runs[i];
                cset_find(&f->refs, run.container, true);
                if (run_present(f, &run) != RS_OK)
                    problem(f, "missing", "part record %.*s: %s",
                            (int)klen, k, rs_err_msg());
            }
            f->r->parts++;
            store__layout_dispose(&l);
            continue;
        }
        if (klen < STORE_CONTAINER_NAME_LEN)
            continue;
        /* p/<name>, g/<when>/<name>, c/<name>: the name ends the key. */
        memcpy(name, k + klen - STORE_CONTAINER_NAME_LEN,
               STORE_CONTAINER_NAME_LEN);
        name[STORE_CONTAINER_NAME_LEN] = '\0';
        cset_find(&f->known, name, true);
    }
    rc = idx_iter_status(it);
    idx_iter_close(it);
    return rc;
}

static int put_dead(struct fsck *f, const char *name, uint64_t bytes,
                    uint64_t objs)
{
    struct idx_batch *b = idx_batch_begin(f->s->ix);
    char k[IDX_KEY_MAX];
    uint8_t v[16];

    rs_put64le(v, bytes);
    rs_put64le(v + 8, objs);
    idx_batch_put(b, k, idx_key_dead(k, name), (const char *)v, 16);
    return idx_batch_commit(b, true);
}

static int garbage(struct fsck *f, const char *name, uint8_t group,
                   bool drop_ctr)
{
    struct idx_batch *b = idx_batch_begin(f->s->ix);
    char k[IDX_KEY_MAX];
    int rc;

    if (drop_ctr)
        idx_batch_delete(b, k, idx_key_container(k, name));
    store__garbage_add_one(b, name, group);
    rc = idx_batch_commit(b, true);
    if (rc == RS_OK) {
        atomic_fetch_add(&f->s->gc_pending, 1);
        f->r->repaired++;
    }
    return rc;
}

static int walk_merged(struct fsck *f)
{
    struct idx_iter *it;
    int rc;

    if ((rc = idx_iter_open(&it, f->s->ix, IDX_PREFIX_CONTAINER, 2)) !=
        RS_OK)
        return rc;
    for (idx_iter_seek(it, IDX_PREFIX_CONTAINER, 2); idx_iter_valid(it);
         idx_iter_next(it)) {
        size_t klen, vlen;
        const char *k = idx_iter_key(it, &klen);
        const char *v = idx_iter_value(it, &vlen);
        struct store_ctr_rec c;
        struct cset_ent *e;
        char name[STORE_CNAME_SIZE];
        uint64_t dead = 0, dobjs = 0, want, want_objs;

        if (klen != 2 + STORE_CONTAINER_NAME_LEN)
            continue;
        memcpy(name, k + 2, STORE_CONTAINER_NAME_LEN);
        name[STORE_CONTAINER_NAME_LEN] = '\0';
        cset_find(&f->known, name, true);
        if (store__ctr_decode(&c, v, vlen) != RS_OK) {
            problem(f, "corrupt", "container record %s: %s", name,
                    rs_err_msg());
            f->r->corrupt++;
            continue;
        }
        f->r->merged_containers++;
        e = cset_find(&f->refs, name, false);
        if (!e) {
            f->r->unreferenced++;
            problem(f, "unreferenced", "merged container %s (%llu bytes): "
                    "no object uses it%s", name,
                    (unsigned long long)c.length,
                    f->o->repair ? " (handed to the collector)" : "");
            if (f->o->repair && garbage(f, name, c.group, true) == RS_OK)
                store__merge_gone(f->s, c.length, c.nmembers);
            store__ctr_rec_dispose(&c);
            continue;
        }
        store__merge_dead_get(f->s, name, &dead, &dobjs);
        want = c.member_bytes > e->live_bytes ? c.member_bytes - e->live_bytes
                                              : 0;
        want_objs = c.nmembers > e->live_objs ? c.nmembers - e->live_objs : 0;
        if (dead != want || dobjs != want_objs) {
            f->r->counters++;
            problem(f, "dead-counter", "merged container %s: %llu dead "
                    "bytes (%llu objects) recorded, %llu (%llu) by the "
                    "index%s", name, (unsigned long long)dead,
                    (unsigned long long)dobjs, (unsigned long long)want,
                    (unsigned long long)want_objs,
                    f->o->repair ? " (rewritten)" : "");
            if (f->o->repair && put_dead(f, name, want, want_objs) == RS_OK)
                f->r->repaired++;
        }
        store__ctr_rec_dispose(&c);
    }
    rc = idx_iter_status(it);
    idx_iter_close(it);
    return rc;
}

struct orphan_walk {
    struct fsck *f;
    uint8_t group;
};

static int orphan_cb(void *arg, const char *name, uint64_t size)
{
    struct orphan_walk *w = arg;
    struct fsck *f = w->f;

    struct merge_ctr *mc;
    char k[IDX_KEY_MAX], *v;

    f->r->containers++;
    if (cset_find(&f->refs, name, false) || cset_find(&f->known, name, false))
        return 0;
    /* Written since the walk began (a flush in progress or just done)? */
    if ((mc = store__merge_find(f->s, name)) != NULL) {
        store__merge_unref(f->s, mc);
        return 0;
    }
    if (idx_get(&v, NULL, f->s->ix, k, idx_key_container(k, name)) ==
        RS_OK) {
        free(v);
        return 0;
    }
    f->r->orphans++;
    problem(f, "orphan", "container %s (%llu bytes) in group %u: nothing "
            "refers to it%s", name, (unsigned long long)size, w->group,
            f->o->repair ? " (handed to the collector)" : "");
    if (f->o->repair)
        (void)garbage(f, name, w->group, false);
    return 0;
}

int store_fsck(struct store *s, const struct store_fsck_opts *o,
               struct store_fsck_report *out)
{
    struct fsck f = { .s = s, .o = o, .r = out };
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = walk_objects(&f)) == RS_OK &&
        (rc = walk_family(&f, "q/")) == RS_OK &&
        (rc = walk_family(&f, IDX_PREFIX_PENDING)) == RS_OK &&
        (rc = walk_family(&f, IDX_PREFIX_GARBAGE)) == RS_OK &&
        (rc = walk_merged(&f)) == RS_OK) {
        for (uint8_t g = 0; g < STORE_NGROUPS && rc == RS_OK; g++) {
            struct orphan_walk w = { &f, g };
            if (s->groups[g].g && s->groups[g].ops->list)
                rc = s->groups[g].ops->list(s->groups[g].g, orphan_cb, &w);
        }
    }
    free(f.refs.e);
    free(f.known.e);
    return rc;
}
