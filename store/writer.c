/*
 * store/writer.c - object and part writers; this file writes containers
 * and so specifies their format.
 *
 * CONTAINER FORMAT, version 1.  A container is a file (or backend object)
 * named by 32 random hex digits, written by exactly one writer, front to
 * back, and never modified after its commit.  It holds one object's data
 * (or one multipart part's) as a sequence of extents:
 *
 *     extent := data[len] crc[ceil(len / block)]
 *
 * where data is one stripe of the object (cfg->stripe_size bytes; the last
 * stripe is shorter) and crc[i] is the CRC-32C (Castagnoli, rs_crc32c
 * starting from 0) of data block i, blocks being cfg->block_size bytes
 * from the start of the extent (the last block is shorter), each stored as
 * 4 bytes little-endian.  Extents follow each other with no padding, so
 * an extent of len bytes spans len + 4 * ceil(len / block) bytes and the
 * next one starts right after it.  The container has no header: what it
 * holds is described by the layout (layout.c) in the index, which records
 * container, offset, len and block of every extent.  The version of this
 * format is the layout's version.
 *
 * A torn container (a crash while writing) is never referenced: only a
 * committed layout points into a container, and commit syncs the data
 * first.  The crashed writer's container is found through its pending
 * record (p/, idx.c) and removed as garbage at the next start.
 *
 * SMALL OBJECTS.  An object writer keeps the object in memory while it is
 * at most cfg->small_threshold bytes; if it ends there, commit hands it to
 * the merge path (merge.c: a shared container behind the WAL) and this
 * file writes nothing.  Only once it grows past the threshold does the
 * writer create its container (and pending record) and stream as below.
 *
 * MEMORY.  A writer buffers at most STORE_WRITE_BUF bytes (1 MiB, rounded
 * down to whole blocks) plus the CRC array of the current stripe, or the
 * small object (at most cfg->small_threshold); a large object itself is
 * never held in memory.
 *
 * COMMIT ORDER.  fdatasync the container, fsync its new directory entry
 * (the backend does both in sync; fan-out dirs were made durable when
 * created), then one index batch with sync: the new object (or part)
 * record, garbage records for what it replaces, removal of the pending
 * record.  Before the batch the object is invisible; after it, complete.
 *
 * LOCKS: a writer is used by one thread.  Commit takes the bucket lock
 * (read) then the key lock (store_int.h has the order).
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

struct store_writer {
    struct store *s;
    char *bucket;
    char *key;
    char *class_name;            /* S3 storage class as given */
    char *upload_id;             /* part writer: its upload; else NULL */
    uint32_t part;               /* part writer: part number */
    uint8_t group;               /* enum store_class */
    char container[STORE_CNAME_SIZE];
    struct store_bk_file *f;     /* created at the first flush */
    uint64_t limit;              /* most bytes accepted */
    uint64_t size;               /* bytes accepted so far */
    uint64_t coff;               /* bytes appended to the container */
    uint64_t stripe_start;       /* container offset of this stripe */
    uint64_t stripe_len;         /* data bytes of this stripe so far */
    uint8_t *buf;                /* whole blocks of the current stripe */
    size_t buflen, bufcap;
    uint32_t *crcs;              /* CRCs of the stripe's flushed blocks */
    size_t ncrcs, crccap;
    struct store_layout layout;  /* extents written so far */
    int failed;                  /* rs_err of a failed write, else 0;
                                    then only abort is valid */
    bool pended;                 /* its pending record is written */
    bool small;                  /* still a candidate for the merge path:
                                    everything so far is in sbuf */
    uint8_t *sbuf;               /* the object while small */
    size_t sbuflen, sbufcap;
};

/* ------------------------------------------------------------------ */
/* Open                                                                 */
/* ------------------------------------------------------------------ */

static struct store_writer *writer_new(struct store *s, const char *bucket,
                                       const char *key, uint8_t group,
                                       uint64_t limit)
{
    struct store_writer *w = rs_xcalloc(1, sizeof *w);

    w->s = s;
    w->bucket = rs_xstrdup(bucket);
    w->key = rs_xstrdup(key);
    w->group = group;
    w->limit = limit;
    store__new_name(w->container);
    w->bufcap = STORE_WRITE_BUF / s->block_size * s->block_size;
    if (w->bufcap == 0)
        w->bufcap = s->block_size;
    w->crccap = (size_t)((s->stripe_size + s->block_size - 1) /
                         s->block_size);
    w->crcs = rs_xmalloc(w->crccap * sizeof *w->crcs);
    return w;
}

/* The pending record of the writer's container, deliberately without
 * sync (idx.c explains); written when the container is created. */
static int writer_pend(struct store_writer *w)
{
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    size_t klen;
    char *v;
    int rc;

    klen = idx_key_pending(k, w->container);
    v = store__pending_encode(w->group, rs_now_ns());
    b = idx_batch_begin(w->s->ix);
    idx_batch_put(b, k, klen, v, strlen(v));
    free(v);
    if ((rc = idx_batch_commit(b, false)) == RS_OK)
        w->pended = true;
    return rc;
}

int store_writer_open(struct store *s, struct store_writer **out,
                      const char *bucket, const char *key,
                      const char *storage_class)
{
    enum store_class cls;
    struct idx_shardmap *m;
    int rc;

    *out = NULL;
    if ((rc = store__check_key(key)) != RS_OK)
        return rc;
    if ((rc = store_class_parse(&cls, storage_class)) != RS_OK)
        return rc;
    if (!s->groups[cls].g)
        return rs_err_set(RS_EINVAL, "storage class %s: its group has no "
                          "directories", storage_class);
    /* Fail fast on a missing bucket; commit checks again under the lock. */
    if ((rc = store__bucket_map(&m, s, bucket)) != RS_OK)
        return rc;
    store__shardmap_free(m);
    *out = writer_new(s, bucket, key, (uint8_t)cls, s->max_object_size);
    (*out)->small = store__merge_small(s, 0);
    (*out)->class_name = rs_xstrdup(storage_class && *storage_class
                                        ? storage_class
                                        : "STANDARD");
    return RS_OK;
}

/* ------------------------------------------------------------------ */
/* Write                                                                */
/* ------------------------------------------------------------------ */

static int writer_append(struct store_writer *w, const void *p, size_t n)
{
    struct store_group *g = &w->s->groups[w->group];
    int rc;

    if (!w->f) {
        if (!w->pended && (rc = writer_pend(w)) != RS_OK)
            return rc;
        if ((rc = g->ops->open(&w->f, g->g, w->container,
                               STORE_BK_CREATE)) != RS_OK)
            return rc;
    }
    if ((rc = w->f->ops->append(w->f, p, n)) != RS_OK)
        return rc;
    w->coff += n;
    return RS_OK;
}

/* Checksum and append the buffered blocks. */
static int writer_flush(struct store_writer *w)
{
    uint32_t block = w->s->block_size;
    size_t n;

    if (w->buflen == 0)
        return RS_OK;
    for (size_t i = 0; i < w->buflen; i += block) {
        size_t bn = w->buflen - i < block ? w->buflen - i : block;
        w->crcs[w->ncrcs++] = rs_crc32c(0, w->buf + i, bn);
    }
    n = w->buflen;
    w->buflen = 0;
    return writer_append(w, w->buf, n);
}

/* Close the current stripe: append its CRC array, record the extent. */
static int writer_end_stripe(struct store_writer *w)
{
    uint8_t le[4 * 64];
    size_t i = 0;
    int rc;

    if (w->stripe_len == 0)
        return RS_OK;
    while (i < w->ncrcs) {
        size_t k = 0;
        for (; k < 64 && i < w->ncrcs; k++, i++) {
            uint32_t c = w->crcs[i];
            le[4 * k] = (uint8_t)c;
            le[4 * k + 1] = (uint8_t)(c >> 8);
            le[4 * k + 2] = (uint8_t)(c >> 16);
            le[4 * k + 3] = (uint8_t)(c >> 24);
        }
        if ((rc = writer_append(w, le, 4 * k)) != RS_OK)
            return rc;
    }
    store__layout_add(&w->layout, w->container, w->group, w->s->block_size,
                      w->stripe_start, w->stripe_len);
    w->ncrcs = 0;
    w->stripe_len = 0;
    w->stripe_start = w->coff;
    return RS_OK;
}

/* Write into the container, stripe by stripe. */
static int writer_stream(struct store_writer *w, const void *p, size_t n)
{
    const uint8_t *c = p;
    int rc;

    if (!w->buf && n > 0)
        w->buf = rs_xmalloc(w->bufcap);
    while (n > 0) {
        uint64_t room = w->s->stripe_size - w->stripe_len;
        size_t take = w->bufcap - w->buflen;

        if (take > n)
            take = n;
        if (take > room)
            take = (size_t)room;
        memcpy(w->buf + w->buflen, c, take);
        w->buflen += take;
        w->stripe_len += take;
        w->size += take;
        c += take;
        n -= take;
        if (w->buflen == w->bufcap || w->stripe_len == w->s->stripe_size) {
            if ((rc = writer_flush(w)) != RS_OK)
                goto fail;
        }
        if (w->stripe_len == w->s->stripe_size) {
            if ((rc = writer_end_stripe(w)) != RS_OK)
                goto fail;
        }
    }
    return RS_OK;
fail:
    w->failed = rc;
    return rc;
}

int store_writer_write(struct store_writer *w, const void *p, size_t n)
{
    int rc;

    if (w->failed)
        return rs_err_set(w->failed, "writer of %s/%s failed earlier",
                          w->bucket, w->key);
    if (n > w->limit - w->size) {
        w->failed = RS_ETOOBIG;
        return rs_err_set(RS_ETOOBIG, "%s/%s: larger than %llu bytes",
                          w->bucket, w->key, (unsigned long long)w->limit);
    }
    if (w->small) {
        if (store__merge_small(w->s, w->size + n)) {
            /* Still small: keep it for the merge path. */
            if (w->sbuflen + n > w->sbufcap) {
                size_t cap = w->sbufcap ? 2 * w->sbufcap : 64u << 10;
                while (cap < w->sbuflen + n)
                    cap *= 2;
                w->sbuf = rs_xrealloc(w->sbuf, cap);
                w->sbufcap = cap;
            }
            memcpy(w->sbuf + w->sbuflen, p, n);
            w->sbuflen += n;
            w->size += n;
            return RS_OK;
        }
        /* Too large after all: stream what was kept, then the rest. */
        w->small = false;
        w->size = 0;
        rc = writer_stream(w, w->sbuf, w->sbuflen);
        free(w->sbuf);
        w->sbuf = NULL;
        w->sbuflen = w->sbufcap = 0;
        if (rc != RS_OK)
            return rc;
    }
    return writer_stream(w, p, n);
}

uint64_t store_writer_size(const struct store_writer *w)
{
    return w->size;
}

/* ------------------------------------------------------------------ */
/* Abort and commit                                                     */
/* ------------------------------------------------------------------ */

static void writer_free(struct store_writer *w)
{
    if (w->f)
        w->f->ops->close(w->f);
    store__layout_dispose(&w->layout);
    free(w->buf);
    free(w->crcs);
    free(w->bucket);
    free(w->key);
    free(w->class_name);
    free(w->upload_id);
    free(w->sbuf);
    free(w);
}

/* Remove the container and its pending record; the writer stays. */
static void writer_discard(struct store_writer *w)
{
    struct store_group *g = &w->s->groups[w->group];
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    size_t klen;
    int rc;

    if (w->f) {
        w->f->ops->close(w->f);
        w->f = NULL;
        rc = g->ops->remove(g->g, w->container);
        if (rc != RS_OK && rc != RS_ENOTFOUND) {
            /* Leave the pending record: the next start collects it. */
            rs_warn("store: cannot remove aborted container %s: %s",
                    w->container, rs_err_msg());
            return;
        }
    }
    if (!w->pended)
        return;
    klen = idx_key_pending(k, w->container);
    b = idx_batch_begin(w->s->ix);
    idx_batch_delete(b, k, klen);
    w->pended = false;
    /* No sync, like the put: a lost delete only makes the next start
     * look for an already removed container. */
    if (idx_batch_commit(b, false) != RS_OK)
        rs_warn("store: cannot drop pending record %s: %s", w->container,
                rs_err_msg());
}

void store_writer_abort(struct store_writer *w)
{
    if (!w)
        return;
    writer_discard(w);
    writer_free(w);
}

/* Flush what is buffered, close the stripe, sync the container, and
 * encode the layout (malloc'ed). */
static int writer_finish(struct store_writer *w, void **blob_out,
                         size_t *len_out)
{
    int rc;

    *blob_out = NULL;
    if (w->failed)
        return rs_err_set(w->failed, "writer of %s/%s failed earlier",
                          w->bucket, w->key);
    if ((rc = writer_flush(w)) != RS_OK)
        return rc;
    if ((rc = writer_end_stripe(w)) != RS_OK)
        return rc;
    if (w->f && (rc = w->f->ops->sync(w->f)) != RS_OK)
        return rc;
    *blob_out = store__layout_encode(len_out, &w->layout);
    return RS_OK;
}

struct store_writer *store__writer_raw(struct store *s, const char *bucket,
                                       const char *key, uint8_t group)
{
    return writer_new(s, bucket, key, group, s->max_object_size);
}

int store__writer_seal(struct store_writer *w, void **blob, size_t *len,
                       const char **container)
{
    *container = w->container;
    return writer_finish(w, blob, len);
}

void store__writer_release(struct store_writer *w)
{
    if (w)
        writer_free(w);
}

/* Stage the removal of the pending record. */
static void writer_unpend(struct store_writer *w, struct idx_batch *b)
{
    char k[IDX_KEY_MAX];
    size_t klen;

    if (!w->pended)
        return;
    klen = idx_key_pending(k, w->container);
    idx_batch_delete(b, k, klen);
}

/*
 * Commit an object writer (store.h).  The record takes info's public
 * fields, except: bucket, key, size, mtime and layout come from the
 * writer, and storage_class is the one given at open (it chose where the
 * data went).  On success info->size and info->mtime_ns are set.
 * RS_ENOTFOUND when the bucket went away; disk and index errors as they
 * come.  The writer is freed either way; on failure its container too.
 */
int store_writer_commit(struct store_writer *w, struct store_obj *info)
{
    struct store *s = w->s;
    struct idx_shardmap *m = NULL;
    struct store_layout old = {0};
    struct store_obj rec;
    struct store_event ev = {0};
    pthread_rwlock_t *bl;
    pthread_mutex_t *kl;
    struct idx_batch *b;
    size_t blen, nold = 0, vlen;
    uint64_t evseq;
    void *blob = NULL;
    char *val = NULL, *oldv = NULL;
    int rc;

    if (w->upload_id) {
        rc = rs_err_set(RS_EINVAL, "part writer committed as an object");
        goto out_nolock;
    }
    if (w->small && !w->failed) {
        /* The merge path (merge.c): logged, not written to a container
         * of its own. */
        rc = store__merge_put(s, w->bucket, w->key, w->class_name, w->group,
                              w->sbuf, w->sbuflen, info);
        if (rc == RS_OK) {
            info->_layout = NULL;
            info->_layout_len = 0;
        }
        writer_free(w);
        return rc;
    }
    if ((rc = writer_finish(w, &blob, &blen)) != RS_OK)
        goto out_nolock;

    rec = *info;
    rec.bucket = w->bucket;
    rec.key = w->key;
    rec.size = w->size;
    rec.mtime_ns = rs_now_ns();
    rec.storage_class = w->class_name;
    rec.parts_count = 0;
    rec.part_sizes = NULL;
    val = store__obj_encode(&rec, blob, blen);

    bl = store__bucket_lock(s, w->bucket);
    kl = store__key_lock(s, w->bucket, w->key);
    pthread_rwlock_rdlock(bl);
    pthread_mutex_lock(kl);
    if ((rc = store__bucket_map(&m, s, w->bucket)) != RS_OK)
        goto out;
    rc = idx_obj_get(&oldv, &vlen, s->ix, m, w->bucket, w->key);
    if (rc == RS_OK) {
        if ((rc = store__rec_layout(&old, oldv, vlen)) != RS_OK) {
            /* A damaged old record must not block the overwrite that
             * repairs it; its containers leak.  Say so. */
            rs_warn("store: %s/%s: replaced record unreadable (%s); its "
                    "data is not collected", w->bucket, w->key,
                    rs_err_msg());
            memset(&old, 0, sizeof old);
        }
    } else if (rc != RS_ENOTFOUND) {
        goto out;
    }
    b = idx_batch_begin(s->ix);
    idx_obj_put(b, m, w->bucket, w->key, val, strlen(val));
    nold = store__garbage_add(b, &old);
    writer_unpend(w, b);
    ev.kind = info->event ? info->event : STORE_EV_PUT;
    ev.bucket = w->bucket;
    ev.key = w->key;
    ev.obj = &rec;
    evseq = store__event_add(s, b, &ev);
    rc = idx_batch_commit(b, true);
    store__event_done(s, evseq);
    if (rc == RS_OK) {
        atomic_fetch_add(&s->gc_pending, nold);
        info->size = rec.size;
        info->mtime_ns = rec.mtime_ns;
        info->_layout = NULL;
        info->_layout_len = 0;
    }
out:
    pthread_mutex_unlock(kl);
    pthread_rwlock_unlock(bl);
out_nolock:
    if (rc != RS_OK)
        writer_discard(w);
    store__layout_dispose(&old);
    store__shardmap_free(m);
    free(oldv);
    free(val);
    free(blob);
    writer_free(w);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Part writers                                                         */
/* ------------------------------------------------------------------ */

int store_part_writer_open(struct store *s, struct store_writer **out,
                           const char *bucket, const char *key,
                           const char *upload_id, uint32_t part_number)
{
    struct rs_arena *a;
    struct store_upload u;
    enum store_class cls;
    int rc;

    *out = NULL;
    if (part_number < 1 || part_number > 10000)
        return rs_err_set(RS_EINVAL, "part number %u not in 1..10000",
                          part_number);
    a = rs_arena_new();
    rc = store_upload_get(s, a, &u, bucket, key, upload_id);
    if (rc == RS_OK)
        rc = store_class_parse(&cls, u.info.storage_class);
    if (rc == RS_OK && !s->groups[cls].g)
        rc = rs_err_set(RS_EINVAL, "storage class %s: its group has no "
                        "directories", u.info.storage_class);
    rs_arena_free(a);
    if (rc != RS_OK)
        return rc;
    *out = writer_new(s, bucket, key, (uint8_t)cls, s->max_part_size);
    (*out)->upload_id = rs_xstrdup(upload_id);
    (*out)->part = part_number;
    return RS_OK;
}

int store_part_writer_commit(struct store_writer *w,
                             const struct store_part *info)
{
    struct store *s = w->s;
    struct store_layout old = {0};
    struct store_part rec;
    pthread_rwlock_t *bl;
    pthread_mutex_t *kl;
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    size_t klen, blen, vlen, nold = 0;
    void *blob = NULL;
    char *val = NULL, *v = NULL;
    int rc;

    if (!w->upload_id) {
        rc = rs_err_set(RS_EINVAL, "object writer committed as a part");
        goto out_nolock;
    }
    if ((rc = writer_finish(w, &blob, &blen)) != RS_OK)
        goto out_nolock;
    rec = *info;
    rec.number = w->part;
    rec.size = w->size;
    rec.mtime_ns = rs_now_ns();
    val = store__part_encode(&rec, blob, blen);

    bl = store__bucket_lock(s, w->bucket);
    kl = store__key_lock(s, w->bucket, w->key);
    pthread_rwlock_rdlock(bl);
    pthread_mutex_lock(kl);
    klen = idx_key_upload(k, w->bucket, w->key, w->upload_id);
    if ((rc = idx_get(&v, &vlen, s->ix, k, klen)) != RS_OK) {
        if (rc == RS_ENOTFOUND)
            rs_err_set(rc, "no upload %s for %s/%s", w->upload_id,
                       w->bucket, w->key);
        goto out;
    }
    free(v);
    v = NULL;
    klen = idx_key_part(k, w->upload_id, w->part);
    rc = idx_get(&v, &vlen, s->ix, k, klen);
    if (rc == RS_OK) {
        if (store__rec_layout(&old, v, vlen) != RS_OK) {
            rs_warn("store: upload %s part %u: replaced record unreadable "
                    "(%s); its data is not collected", w->upload_id,
                    w->part, rs_err_msg());
            memset(&old, 0, sizeof old);
        }
    } else if (rc != RS_ENOTFOUND) {
        goto out;
    }
    b = idx_batch_begin(s->ix);
    idx_batch_put(b, k, klen, val, strlen(val));
    nold = store__garbage_add(b, &old);
    writer_unpend(w, b);
    rc = idx_batch_commit(b, true);
    if (rc == RS_OK)
        atomic_fetch_add(&s->gc_pending, nold);
out:
    pthread_mutex_unlock(kl);
    pthread_rwlock_unlock(bl);
out_nolock:
    if (rc != RS_OK)
        writer_discard(w);
    store__layout_dispose(&old);
    free(v);
    free(val);
    free(blob);
    writer_free(w);
    return rc;
}
