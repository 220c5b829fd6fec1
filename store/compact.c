/*
 * store/compact.c - compaction of merged containers: space of deleted and
 * overwritten small objects comes back.
 *
 * A merged container (merge.c) on disk has a c/ record listing its members
 * (offset, span, key) and x/ counters of its dead bytes and objects.  Its
 * live bytes are member bytes minus dead bytes; its dead share is
 * 1 - live / length (length counts holes of failed writes too).  A
 * container whose dead share reaches the threshold is compacted:
 *
 *   1. every member whose object still lives at that extent (its index
 *      record is a one-run merged layout at exactly this container and
 *      offset) is read through an ordinary reader (checksums verified) and
 *      moved: logged again through the WAL into the open container of its
 *      bucket with a "move" record, whose apply keeps the object's current
 *      record and swaps only its layout, and only while the object is still
 *      at the old extent (a concurrent overwrite, delete, tag or ACL change
 *      wins: RS_ECONFLICT, skipped);
 *   2. when every member is done, one synced batch deletes the c/ record
 *      and stages the container as garbage: the collector (gc.c) removes
 *      it after gc_delay, once no reader has it pinned, with its x/ record.
 *
 * Reads and writes go on meanwhile: readers of the old extent hold a pin,
 * new writers see the moved record.  A crash in the middle leaves the c/
 * record in place, so the next pass resumes; moves already made are
 * durable through the WAL (merge.c explains replay).  A member that cannot
 * be read (I/O error, checksum failure) stops compaction of its container,
 * which stays as it is for fsck to report.
 *
 * A background thread (started by store_open when cfg->compact_dead_percent
 * is not 0 and the merge path is on) runs a pass every
 * cfg->compact_interval seconds; store_compact runs one on request.
 *
 * LOCKS: compact_lock makes passes one at a time (the thread's and
 * `roadstore admin compact`'s); moves take the bucket and key locks inside
 * store__merge_move.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The object record of bucket/key, if its data is the merged extent at
 * (name, off); *obj in a. */
static int live_here(struct store *s, struct rs_arena *a,
                     struct store_obj *obj, struct store_run *run,
                     const char *bucket, const char *key, const char *name,
                     uint64_t off)
{
    struct store_layout l;
    int rc;

    rc = store_object_head(s, a, obj, bucket, key);
    if (rc != RS_OK)
        return rc;
    if (!obj->_layout ||
        store__layout_decode(&l, obj->_layout, obj->_layout_len) != RS_OK)
        return RS_ENOTFOUND;
    rc = RS_ENOTFOUND;
    if (l.nruns == 1 && (l.runs[0].flags & STORE_RUN_MERGED) &&
        l.runs[0].count == 1 && strcmp(l.runs[0].container, name) == 0 &&
        l.runs[0].offset == off) {
        *run = l.runs[0];
        rc = RS_OK;
    }
    store__layout_dispose(&l);
    return rc;
}

/* Move one member out; RS_OK also when it is not live here any more. */
static int move_member(struct store *s, const char *bucket,
                       const struct store_ctr_member *mb, const char *name,
                       uint64_t *moved, uint64_t *bytes)
{
    struct rs_arena *a = rs_arena_new();
    struct store_obj obj;
    struct store_run run;
    uint8_t *data = NULL;
    int rc;

    rc = live_here(s, a, &obj, &run, bucket, mb->key, name, mb->offset);
    if (rc == RS_ENOTFOUND) {
        rc = RS_OK;                  /* deleted or replaced: dead */
        goto out;
    }
    if (rc != RS_OK)
        goto out;
    if ((rc = store__read_whole(s, &obj, &data)) != RS_OK)
        goto out;
    rc = store__merge_move(s, bucket, mb->key, &run, run.group, data,
                           obj.size);
    if (rc == RS_ECONFLICT) {
        rc = RS_OK;                  /* changed meanwhile: not ours */
        goto out;
    }
    if (rc == RS_OK) {
        (*moved)++;
        *bytes += obj.size;
    }
out:
    if (rc != RS_OK)
        rs_warn("store: compaction of %s: %s/%s: %s", name, bucket, mb->key,
                rs_err_msg());
    free(data);
    rs_arena_free(a);
    return rc;
}

static int compact_one(struct store *s, const char *name,
                       const struct store_ctr_rec *c,
                       struct store_compact_stats *st)
{
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    int rc;

    for (size_t i = 0; i < c->nmembers; i++) {
        rc = move_member(s, c->bucket, &c->members[i], name,
                         &st->objects_moved, &st->bytes_moved);
        if (rc != RS_OK)
            return rc;
    }
    b = idx_batch_begin(s->ix);
    idx_batch_delete(b, k, idx_key_container(k, name));
    store__garbage_add_one(b, name, c->group);
    if ((rc = idx_batch_commit(b, true)) != RS_OK)
        return rc;
    atomic_fetch_add(&s->gc_pending, 1);
    store__merge_gone(s, c->length, c->nmembers);
    st->containers_compacted++;
    st->bytes_freed += c->length;
    return RS_OK;
}

static int compact_pass(struct store *s, unsigned min_dead_percent,
                        struct store_compact_stats *st)
{
    struct idx_iter *it;
    char (*names)[STORE_CNAME_SIZE] = NULL;
    size_t n = 0, cap = 0;
    int rc;

    memset(st, 0, sizeof *st);
    if (!s->mg)
        return RS_OK;
    /* Pick first (the iterator's snapshot), then compact: a move writes
     * the index, so do not hold the iterator across it. */
    if ((rc = idx_iter_open(&it, s->ix, IDX_PREFIX_CONTAINER, 2)) != RS_OK)
        return rc;
    for (idx_iter_seek(it, IDX_PREFIX_CONTAINER, 2); idx_iter_valid(it);
         idx_iter_next(it)) {
        size_t klen, vlen;
        const char *k = idx_iter_key(it, &klen);
        const char *v = idx_iter_value(it, &vlen);
        struct store_ctr_rec c;
        uint64_t dead, dobjs, live;
        char name[STORE_CNAME_SIZE];

        if (klen != 2 + STORE_CONTAINER_NAME_LEN)
            continue;
        memcpy(name, k + 2, STORE_CONTAINER_NAME_LEN);
        name[STORE_CONTAINER_NAME_LEN] = '\0';
        st->containers_scanned++;
        if (store__ctr_decode(&c, v, vlen) != RS_OK) {
            rs_warn("store: container record %s unreadable: %s", name,
                    rs_err_msg());
            continue;
        }
        store__merge_dead_get(s, name, &dead, &dobjs);
        live = c.member_bytes > dead ? c.member_bytes - dead : 0;
        st->bytes_total += c.length;
        st->bytes_live += live;
        if (c.length > 0 &&
            (c.length - live) * 100 >= (uint64_t)min_dead_percent * c.length) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                names = rs_xrealloc(names, cap * sizeof *names);
            }
            memcpy(names[n++], name, STORE_CNAME_SIZE);
        }
        store__ctr_rec_dispose(&c);
    }
    rc = idx_iter_status(it);
    idx_iter_close(it);

    for (size_t i = 0; i < n && rc == RS_OK; i++) {
        char key[IDX_KEY_MAX];
        size_t klen = idx_key_container(key, names[i]), vlen;
        struct store_ctr_rec c;
        char *v;

        if (idx_get(&v, &vlen, s->ix, key, klen) != RS_OK)
            continue;                /* compacted meanwhile */
        if (store__ctr_decode(&c, v, vlen) == RS_OK) {
            if (compact_one(s, names[i], &c, st) != RS_OK)
                st->errors++;
            store__ctr_rec_dispose(&c);
        }
        free(v);
    }
    free(names);
    if (rc == RS_OK) {
        atomic_fetch_add(&s->compactions, st->containers_compacted);
        atomic_fetch_add(&s->compacted_objects, st->objects_moved);
        atomic_fetch_add(&s->compacted_bytes, st->bytes_freed);
    }
    return rc;
}

int store_compact(struct store *s, unsigned min_dead_percent,
                  struct store_compact_stats *st)
{
    int rc;

    pthread_mutex_lock(&s->compact_lock);
    rc = compact_pass(s, min_dead_percent, st);
    pthread_mutex_unlock(&s->compact_lock);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The background thread                                                */
/* ------------------------------------------------------------------ */

static void *compact_main(void *arg)
{
    struct store *s = arg;

    pthread_mutex_lock(&s->gc_lock);
    while (!s->compact_stop) {
        struct timespec ts;
        struct store_compact_stats st;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_sec += s->compact_interval;
        while (!s->compact_stop &&
               pthread_cond_timedwait(&s->compact_cond, &s->gc_lock,
                                      &ts) == 0)
            ;
        if (s->compact_stop)
            break;
        pthread_mutex_unlock(&s->gc_lock);
        if (store_compact(s, s->compact_percent, &st) != RS_OK)
            rs_warn("store: compaction pass failed: %s", rs_err_msg());
        else if (st.containers_compacted > 0)
            rs_info("store: compaction: %llu containers, %llu objects "
                    "moved, %llu bytes to be freed",
                    (unsigned long long)st.containers_compacted,
                    (unsigned long long)st.objects_moved,
                    (unsigned long long)st.bytes_freed);
        pthread_mutex_lock(&s->gc_lock);
    }
    pthread_mutex_unlock(&s->gc_lock);
    return NULL;
}

int store__compact_start(struct store *s, const struct rs_config *cfg)
{
    pthread_condattr_t ca;
    int e;

    if (!s->mg || cfg->compact_dead_percent <= 0)
        return RS_OK;
    s->compact_percent = (unsigned)cfg->compact_dead_percent;
    s->compact_interval = cfg->compact_interval > 0 ? cfg->compact_interval
                                                    : 60;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->compact_cond, &ca);
    pthread_condattr_destroy(&ca);
    s->compact_stop = false;
    if ((e = pthread_create(&s->compact_thread, NULL, compact_main, s)) != 0)
        return rs_err_errno(e, "start compaction");
    s->compact_running = true;
    return RS_OK;
}

void store__compact_stop(struct store *s)
{
    if (!s->compact_running)
        return;
    pthread_mutex_lock(&s->gc_lock);
    s->compact_stop = true;
    pthread_cond_signal(&s->compact_cond);
    pthread_mutex_unlock(&s->gc_lock);
    pthread_join(s->compact_thread, NULL);
    pthread_cond_destroy(&s->compact_cond);
    s->compact_running = false;
}
