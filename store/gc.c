/*
 * store/gc.c - the garbage collector: removes containers nobody
 * references any more (data of overwritten and deleted objects, replaced
 * and unused parts, aborted uploads, crashed writers).
 *
 * RECORDS.  Whoever makes a container unreferenced stages, in the same
 * synced batch that drops the reference, a garbage record
 * g/<when>/<container> -> {"v":1,"group":N} (idx.c, rec.c).  A container is
 * referenced by at most one record at a time (an object, or a part until
 * completion hands it to the object), so it becomes garbage exactly once.
 *
 * THREAD.  One background thread (started by store_open, stopped by
 * store_close) wakes every second, or when kicked, and runs a pass: scan
 * g/ oldest first; stop at the first record younger than gc_delay; skip
 * containers pinned by open readers (reader.c), which stay for a later
 * pass; otherwise remove the container from its group (unlink + directory
 * fsync; "not found" counts as removed), then delete the record.  Records
 * are deleted in synced batches of up to GC_BATCH.  A crash between the
 * removal and the record's deletion only repeats the removal.  The c/
 * and x/ records of a merged container (merge.c) are deleted in the same
 * batch as its g/ record.  Runs in merged containers never make garbage
 * records when their object goes: they add dead bytes (merge.c), and
 * compaction (compact.c) turns a container into garbage once nothing
 * live is left in it.
 *
 * RECOVERY.  At open, every pending record p/<container> is a container
 * of a writer that never committed or aborted (the process died): it
 * becomes garbage.
 *
 * LOCKS: gc_lock guards the stop and kick flags (with gc_cond); a pass
 * takes pin_lock briefly per container through store__pin_doom.  Passes
 * run in the collector thread, or in a caller of store__gc_pass; two
 * passes at once are harmless (removal is idempotent).
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define GC_BATCH 128

void store__garbage_add_one(struct idx_batch *b, const char *container,
                            uint8_t group)
{
    char k[IDX_KEY_MAX];
    size_t klen = idx_key_garbage(k, rs_now_ns(), container);
    char *v = store__garbage_encode(group);

    idx_batch_put(b, k, klen, v, strlen(v));
    free(v);
}

size_t store__garbage_add(struct idx_batch *b, const struct store_layout *l)
{
    size_t n = 0;

    for (size_t i = 0; i < l->nruns; i++) {
        /* A merged container is shared: only this object's bytes die. */
        if (l->runs[i].flags & STORE_RUN_MERGED) {
            store__merge_dead(b, &l->runs[i]);
            continue;
        }
        /* A container's runs are adjacent (reader.c, run_is_repeat). */
        if (i > 0 && strcmp(l->runs[i].container,
                            l->runs[i - 1].container) == 0)
            continue;
        store__garbage_add_one(b, l->runs[i].container, l->runs[i].group);
        n++;
    }
    return n;
}

int store__gc_recover(struct store *s)
{
    struct idx_iter *it;
    struct idx_batch *b;
    uint64_t pending = 0, moved = 0;
    int rc;

    /* Pending -> garbage. */
    idx_iter_open(&it, s->ix, IDX_PREFIX_PENDING, 2);
    b = idx_batch_begin(s->ix);
    for (idx_iter_seek(it, IDX_PREFIX_PENDING, 2); idx_iter_valid(it);
         idx_iter_next(it)) {
        size_t klen, vlen;
        const char *k = idx_iter_key(it, &klen);
        const char *v = idx_iter_value(it, &vlen);
        char name[STORE_CNAME_SIZE];
        uint8_t group;

        if (klen != 2 + STORE_CONTAINER_NAME_LEN ||
            store__rec_group(&group, v, vlen) != RS_OK) {
            rs_warn("store: dropping malformed pending record (%zu bytes)",
                    klen);
            idx_batch_delete(b, k, klen);
            continue;
        }
        memcpy(name, k + 2, STORE_CONTAINER_NAME_LEN);
        name[STORE_CONTAINER_NAME_LEN] = '\0';
        idx_batch_delete(b, k, klen);
        store__garbage_add_one(b, name, group);
        moved++;
    }
    rc = idx_iter_status(it);
    idx_iter_close(it);
    if (rc != RS_OK) {
        idx_batch_abort(b);
        return rc;
    }
    if ((rc = idx_batch_commit(b, true)) != RS_OK)
        return rc;
    if (moved)
        rs_info("store: %llu containers of interrupted writes queued for "
                "removal", (unsigned long long)moved);

    /* Count garbage. */
    idx_iter_open(&it, s->ix, IDX_PREFIX_GARBAGE, 2);
    for (idx_iter_seek(it, IDX_PREFIX_GARBAGE, 2); idx_iter_valid(it);
         idx_iter_next(it))
        pending++;
    rc = idx_iter_status(it);
    idx_iter_close(it);
    atomic_store(&s->gc_pending, pending);
    return rc;
}

int store__gc_pass(struct store *s, size_t *removed_out)
{
    int64_t now = rs_now_ns();
    int64_t delay = (int64_t)s->gc_delay * 1000000000LL;
    struct idx_iter *it;
    struct idx_batch *b;
    size_t removed = 0;
    int rc = RS_OK;

    idx_iter_open(&it, s->ix, IDX_PREFIX_GARBAGE, 2);
    b = idx_batch_begin(s->ix);
    for (idx_iter_seek(it, IDX_PREFIX_GARBAGE, 2); idx_iter_valid(it);
         idx_iter_next(it)) {
        size_t klen, vlen;
        const char *k = idx_iter_key(it, &klen);
        const char *v = idx_iter_value(it, &vlen);
        char name[STORE_CNAME_SIZE];
        struct store_group *g;
        int64_t when;
        uint8_t group;
        int r;

        if (idx_key_garbage_parse(&when, name, k, klen) != RS_OK ||
            store__rec_group(&group, v, vlen) != RS_OK) {
            rs_warn("store: dropping malformed garbage record: %s",
                    rs_err_msg());
            idx_batch_delete(b, k, klen);
            removed++;
            continue;
        }
        if (when > now - delay)
            break;              /* the rest is younger */
        g = &s->groups[group];
        if (!g->g) {
            rs_warn("store: garbage container %s in group %u, which has "
                    "no directories; kept", name, group);
            continue;
        }
        if (!store__pin_doom(s, name))
            continue;           /* a reader still uses it */
        store__file_forget(s, name);
        r = g->ops->remove(g->g, name);
        store__pin_undoom(s, name);
        if (r != RS_OK && r != RS_ENOTFOUND) {
            rs_warn("store: cannot remove container %s: %s", name,
                    rs_err_msg());
            continue;
        }
        idx_batch_delete(b, k, klen);
        {
            /* A merged container's records go with it (no-ops for the
             * others). */
            char ck[IDX_KEY_MAX];
            idx_batch_delete(b, ck, idx_key_container(ck, name));
            idx_batch_delete(b, ck, idx_key_dead(ck, name));
        }
        removed++;
        if (idx_batch_count(b) >= 3 * GC_BATCH) {
            if ((rc = idx_batch_commit(b, true)) != RS_OK) {
                b = NULL;
                break;
            }
            b = idx_batch_begin(s->ix);
        }
    }
    if (rc == RS_OK)
        rc = idx_iter_status(it);
    idx_iter_close(it);
    if (b) {
        int r = idx_batch_commit(b, true);
        if (rc == RS_OK)
            rc = r;
    }
    if (rc == RS_OK) {
        uint64_t p = atomic_load(&s->gc_pending);
        atomic_store(&s->gc_pending, p > removed ? p - removed : 0);
        atomic_fetch_add(&s->gc_removed, removed);
    }
    if (removed_out)
        *removed_out = removed;
    return rc;
}

static void *gc_main(void *arg)
{
    struct store *s = arg;

    pthread_mutex_lock(&s->gc_lock);
    while (!s->gc_stop) {
        struct timespec ts;

        if (!s->gc_kick) {
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_sec += 1;
            /* ETIMEDOUT is the normal wake-up. */
            (void)pthread_cond_timedwait(&s->gc_cond, &s->gc_lock, &ts);
        }
        if (s->gc_stop)
            break;
        s->gc_kick = false;
        pthread_mutex_unlock(&s->gc_lock);
        if (atomic_load(&s->gc_pending) > 0 && store__gc_pass(s, NULL) != RS_OK)
            rs_warn("store: garbage collection pass failed: %s",
                    rs_err_msg());
        pthread_mutex_lock(&s->gc_lock);
    }
    pthread_mutex_unlock(&s->gc_lock);
    return NULL;
}

int store__gc_start(struct store *s)
{
    int e;

    s->gc_stop = false;
    if ((e = pthread_create(&s->gc_thread, NULL, gc_main, s)) != 0)
        return rs_err_errno(e, "start garbage collector");
    s->gc_running = true;
    return RS_OK;
}

void store__gc_stop(struct store *s)
{
    if (!s->gc_running)
        return;
    pthread_mutex_lock(&s->gc_lock);
    s->gc_stop = true;
    pthread_cond_signal(&s->gc_cond);
    pthread_mutex_unlock(&s->gc_lock);
    pthread_join(s->gc_thread, NULL);
    s->gc_running = false;
}
