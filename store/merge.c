/*
 * store/merge.c - the merge path for small objects: objects of at most
 * cfg->small_threshold bytes are packed into merged containers behind the
 * write-ahead log (wal.c), as the small-file design of seed 004 describes.
 *
 * CONTAINERS.  A merged container is an ordinary container (writer.c
 * format: extents of data followed by their CRC32C array) that holds the
 * extents of many objects of one bucket and one storage group, back to
 * back.  Per (bucket, group) one container is open for new objects: the
 * "head"; each object appended to it is a "tail", recorded in the object's
 * own index entry as a one-run layout {container, offset, len} flagged
 * STORE_RUN_MERGED (layout.c).  So the index has the seed's two levels:
 * the object's name (what listing walks) leads to the container and the
 * range within it (what a read needs), one lookup and one positioned read.
 *
 * PUT.  store__merge_put, under the bucket (read) and key locks:
 *   1. reserve the object's extent at the end of the open container (a
 *      new container when this one would pass cfg->merge_threshold) and
 *      copy data and CRCs into the container's memory: from now on the
 *      container is the object's cache;
 *   2. log a record holding the metadata and the extent (wal_enqueue),
 *      and wait for its group commit (wal_wait): one write and one
 *      fdatasync for every PUT of the batch;
 *   3. the batch's leader writes the index entries of the whole batch as
 *      one RocksDB batch WITHOUT sync (merge_apply), together with
 *      w/applied = the batch's last sequence;
 *   4. answer.  The object is readable at once, from memory.
 * The WAL is the one synchronous write of a PUT.
 *
 * WHY REPLAY IS EXACT.  RocksDB recovers a prefix of its write sequence,
 * and a synced write makes every write before it durable.  Index batches
 * of the merge path are written by one leader at a time, in sequence
 * order.  So after a crash, w/applied = S means every record up to S is in
 * the index (possibly changed since by later durable writes), and no
 * write made after a lost batch survived.  Replay therefore applies
 * exactly the records with seq > S, in order, with the same function as
 * the live path (for a compaction move, the same condition is re-checked
 * against the same state).
 *
 * FLUSH.  A flusher thread seals a container when it reaches
 * merge_threshold, when it has had no write for idle_flush_ms, when the
 * memory bound is hit, or at close; once no record of it is in flight it
 * writes the container to its storage group (one sequential write, then
 * fdatasync and the directory entry), then writes c/<container> (the
 * member list: offset, span and key of every object logged into it) WITH
 * sync, which also makes every earlier index write durable.  Then the
 * container leaves memory (readers switch to the file) and WAL segments
 * older than every container still in memory are removed.
 *
 * REPLAY at open: every intact record whose container has no c/ record
 * (not yet flushed) puts its extent back at its offset in a rebuilt
 * container (sealed, flushed soon after); records with seq > w/applied are
 * applied to the index.  A torn last record is dropped by its CRC.
 *
 * DEAD BYTES.  Deleting or overwriting a merged object adds its span to
 * the container's x/ counters (idx_batch_add: a merge operand, no read) in
 * the same batch that drops the reference.  Compaction (compact.c) uses
 * them to pick containers.
 *
 * MEMORY.  Container memory is allocated in chunks (never moved, so
 * readers and the WAL point into it) and counted against cfg->merge_cache;
 * a writer that would pass it seals everything and waits for the flusher,
 * or fails with RS_ENOSPC when flushing fails for lack of space.
 *
 * LOCKS: m->lock guards the container table, the open-container map,
 * reservations, members and counters; it is taken after the key lock and
 * before the WAL's lock, and never held across I/O or a wait on the WAL.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MERGE_HASH 1024
#define WAL_TYPE_PUT 1
#define WAL_TYPE_FLUSHED 2           /* payload: a container name */
/* Fixed part of a PUT record's payload (format below). */
#define PUT_FIXED 104
/* Flags of a PUT record. */
#define PUT_MOVE 1
#define PUT_COPY 2                   /* its event is ObjectCreated:Copy */

/*
 * PUT RECORD PAYLOAD, version 1 (little-endian):
 *   0   u8      group
 *   1   u8      flags: PUT_MOVE = apply only while the key's data is still
 *               the merged extent at (old container, old offset);
 *               PUT_COPY = the object was made by a copy (its event)
 *   2   u16     bucket length      4  u16  key length     6  u16 zero
 *   8   u32     record (JSON) length
 *   12  u32     CRC block size of the extent
 *   16  u64     data length (0: no extent, container all zero)
 *   24  u64     offset of the extent in the container
 *   32  char[32] container name
 *   64  u64     old offset          72  char[32] old container (moves)
 *   104 bucket, key, record, then the extent (data and CRCs)
 */

struct member {
    uint64_t offset;
    uint32_t span;
    char *key;
};

struct merge_ctr {
    struct merge_ctr *next;          /* m->table chain */
    char name[STORE_CNAME_SIZE];
    char *bucket;
    uint8_t group;
    bool sealed;                     /* takes no new objects */
    bool flushing;
    bool gone;                       /* out of the table (flushed) */
    uint32_t refs;                   /* table + readers + flusher */
    uint32_t inflight;               /* reserved, not yet done */
    uint64_t len;                    /* bytes reserved */
    uint64_t min_seg;                /* oldest WAL segment it may be in */
    int64_t last_ns;                 /* last reservation, monotonic */
    uint64_t chunk;                  /* bytes per chunk (m->chunk) */
    uint8_t **chunks;                /* each chunk bytes, never moved */
    size_t nchunks, maxchunks;
    struct member *members;
    size_t nmembers, memcap;
    uint64_t member_bytes;
};

/* The open container of a bucket, per group. */
struct merge_open {
    struct merge_open *next;
    char *bucket;
    struct merge_ctr *c[STORE_NGROUPS];
};

struct merge {
    struct store *s;
    struct wal *wal;
    uint64_t small, threshold, cache_max, chunk;
    int64_t idle_ns;
    uint32_t block;

    pthread_mutex_t lock;
    pthread_cond_t space;            /* cache bytes were freed */
    pthread_cond_t kick;             /* wake the flusher */
    struct merge_ctr *table[MERGE_HASH];
    struct merge_open *open[MERGE_HASH];
    uint64_t cache_used;
    uint64_t ncontainers;
    bool want_space;                 /* a writer waits for memory */
    bool kicked;                     /* work for the flusher arrived */
    bool stop;
    int flush_err;                   /* last flush failure, 0 after a
                                        success */
    pthread_t flusher;
    bool running;
    struct rs_histogram *flush_hist; /* seconds per container flush */

    /* Counters, under lock. */
    uint64_t disk_containers, disk_bytes, disk_objects; /* c/ records */
    uint64_t flushes, flush_bytes, flush_errors;
    double flush_seconds;
    uint64_t objects, bytes;         /* logged since open */
    struct wal_replay_stats replay;
};

/* A PUT in flight: what the batch leader needs to apply it. */
struct merge_put {
    const char *bucket, *key;
    const struct idx_shardmap *map;
    const char *json;                /* the record (puts) */
    size_t jlen;
    const void *layout;              /* the new layout (moves) */
    size_t layout_len;
    bool move;
    char old_container[STORE_CNAME_SIZE];
    uint64_t old_offset;
    uint64_t nold;                   /* garbage records staged */
    const char *event;               /* outbox record (puts; not moves) */
    uint64_t evseq;                  /* its sequence once staged */
};

bool store__merge_small(const struct store *s, uint64_t n)
{
    return s->mg && n <= s->mg->small;
}

/* ------------------------------------------------------------------ */
/* Containers in memory                                                 */
/* ------------------------------------------------------------------ */

/* Under lock. */
static struct merge_ctr *ctr_lookup(struct merge *m, const char *name)
{
    struct merge_ctr *c = m->table[rs_fnv1a64(name) % MERGE_HASH];
    while (c && strcmp(c->name, name) != 0)
        c = c->next;
    return c;
}

/* New container in the table.  Under lock. */
static struct merge_ctr *ctr_new(struct merge *m, const char *name,
                                 const char *bucket, uint8_t group)
{
    struct merge_ctr *c = rs_xcalloc(1, sizeof *c);
    uint64_t h = rs_fnv1a64(name) % MERGE_HASH;

    memcpy(c->name, name, STORE_CNAME_SIZE);
    c->bucket = rs_xstrdup(bucket);
    c->group = group;
    c->refs = 1;                     /* the table's */
    c->min_seg = UINT64_MAX;
    c->last_ns = rs_mono_ns();
    c->chunk = m->chunk;
    c->maxchunks = (size_t)((m->threshold + 2 * m->chunk) / m->chunk);
    c->chunks = rs_xcalloc(c->maxchunks, sizeof *c->chunks);
    c->next = m->table[h];
    m->table[h] = c;
    m->ncontainers++;
    return c;
}

static void ctr_free(struct merge_ctr *c)
{
    for (size_t i = 0; i < c->maxchunks; i++)
        free(c->chunks[i]);
    for (size_t i = 0; i < c->nmembers; i++)
        free(c->members[i].key);
    free(c->members);
    free(c->chunks);
    free(c->bucket);
    free(c);
}

/* Drop a reference; frees a container out of the table.  Under lock. */
static void ctr_unref(struct merge *m, struct merge_ctr *c)
{
    (void)m;
    if (--c->refs == 0)
        ctr_free(c);
}

/* Make [off, off+n) addressable (allocating chunks).  Under lock. */
static void ctr_reserve(struct merge *m, struct merge_ctr *c, uint64_t off,
                        uint64_t n)
{
    size_t first = (size_t)(off / m->chunk);
    size_t last = (size_t)((off + n - 1) / m->chunk);

    for (size_t i = first; i <= last && i < c->maxchunks; i++) {
        if (!c->chunks[i]) {
            c->chunks[i] = rs_xcalloc(1, (size_t)m->chunk);
            m->cache_used += m->chunk;
        }
        if (i + 1 > c->nchunks)
            c->nchunks = i + 1;
    }
}

/* iov pieces for [off, off+n) of a container; returns their count. */
static int ctr_iov(struct merge *m, struct merge_ctr *c, uint64_t off,
                   uint64_t n, struct iovec *iov, int max)
{
    int k = 0;

    while (n > 0 && k < max) {
        size_t ci = (size_t)(off / m->chunk);
        uint64_t co = off % m->chunk;
        uint64_t take = m->chunk - co < n ? m->chunk - co : n;

        iov[k].iov_base = c->chunks[ci] + co;
        iov[k++].iov_len = (size_t)take;
        off += take;
        n -= take;
    }
    return k;
}

static void ctr_write(struct merge *m, struct merge_ctr *c, uint64_t off,
                      const void *p, uint64_t n)
{
    struct iovec iov[8];
    int k = ctr_iov(m, c, off, n, iov, 8);
    const uint8_t *src = p;

    for (int i = 0; i < k; i++) {
        memcpy(iov[i].iov_base, src, iov[i].iov_len);
        src += iov[i].iov_len;
    }
}

void store__merge_read(struct merge_ctr *c, void *p, size_t n, uint64_t off,
                       size_t *got)
{
    uint8_t *dst = p;
    size_t done = 0;

    /* Only ranges of logged objects are read (their layouts come from the
     * index, written after the reservation), so every chunk they touch
     * exists and no lock is needed: chunks never move. */
    while (done < n) {
        uint64_t o = off + done;
        size_t ci = (size_t)(o / c->chunk);
        uint64_t co = o % c->chunk;
        size_t take = (size_t)(c->chunk - co < n - done ? c->chunk - co
                                                         : n - done);

        if (ci >= c->maxchunks)
            break;
        if (!c->chunks[ci])
            memset(dst + done, 0, take);     /* a hole: never referenced */
        else
            memcpy(dst + done, c->chunks[ci] + co, take);
        done += take;
    }
    *got = done;
}

struct merge_ctr *store__merge_find(struct store *s, const char *name)
{
    struct merge *m = s->mg;
    struct merge_ctr *c;

    if (!m)
        return NULL;
    pthread_mutex_lock(&m->lock);
    c = ctr_lookup(m, name);
    if (c)
        c->refs++;
    pthread_mutex_unlock(&m->lock);
    return c;
}

void store__merge_unref(struct store *s, struct merge_ctr *c)
{
    pthread_mutex_lock(&s->mg->lock);
    ctr_unref(s->mg, c);
    pthread_mutex_unlock(&s->mg->lock);
}

/* ------------------------------------------------------------------ */
/* The open container of (bucket, group)                                */
/* ------------------------------------------------------------------ */

/* Under lock. */
static struct merge_open *open_entry(struct merge *m, const char *bucket,
                                     bool create)
{
    uint64_t h = rs_fnv1a64(bucket) % MERGE_HASH;
    struct merge_open *o = m->open[h];

    while (o && strcmp(o->bucket, bucket) != 0)
        o = o->next;
    if (!o && create) {
        o = rs_xcalloc(1, sizeof *o);
        o->bucket = rs_xstrdup(bucket);
        o->next = m->open[h];
        m->open[h] = o;
    }
    return o;
}

/* Seal c: it takes no new objects.  Under lock. */
static void ctr_seal(struct merge *m, struct merge_ctr *c)
{
    struct merge_open *o;

    if (c->sealed)
        return;
    c->sealed = true;
    o = open_entry(m, c->bucket, false);
    if (o && o->c[c->group] == c)
        o->c[c->group] = NULL;
    m->kicked = true;
    pthread_cond_signal(&m->kick);
}

/* ------------------------------------------------------------------ */
/* Dead bytes                                                           */
/* ------------------------------------------------------------------ */

void store__merge_dead(struct idx_batch *b, const struct store_run *r)
{
    char k[IDX_KEY_MAX];
    size_t klen = idx_key_dead(k, r->container);
    uint64_t v[2];

    v[0] = store__extent_span(r->len, r->block) * r->count;
    v[1] = r->count;
    idx_batch_add(b, k, klen, v, 2);
}

void store__merge_dead_get(struct store *s, const char *container,
                           uint64_t *bytes, uint64_t *objs)
{
    char k[IDX_KEY_MAX];
    size_t vlen = 0;
    char *v = NULL;

    *bytes = *objs = 0;
    if (idx_get(&v, &vlen, s->ix, k, idx_key_dead(k, container)) != RS_OK)
        return;
    if (vlen >= 8)
        *bytes = rs_get64le((const uint8_t *)v);
    if (vlen >= 16)
        *objs = rs_get64le((const uint8_t *)v + 8);
    free(v);
}

/* ------------------------------------------------------------------ */
/* Applying records to the index                                        */
/* ------------------------------------------------------------------ */

/* Whether the record at k holds exactly the merged extent (name, off). */
static bool still_at(const char *json, size_t len, const char *name,
                     uint64_t off)
{
    struct store_layout l;
    bool at;

    if (store__rec_layout(&l, json, len) != RS_OK)
        return false;
    at = l.nruns == 1 && (l.runs[0].flags & STORE_RUN_MERGED) &&
         strcmp(l.runs[0].container, name) == 0 && l.runs[0].offset == off;
    store__layout_dispose(&l);
    return at;
}

/* Stage one PUT in b: the new record, garbage or dead bytes for what it
 * replaces.  RS_ECONFLICT for a move whose object changed. */
static int apply_one(struct store *s, struct idx_batch *b,
                     struct merge_put *p)
{
    struct store_layout old = {0};
    char *oldv = NULL, *moved = NULL;
    size_t vlen;
    int rc;

    rc = idx_obj_get(&oldv, &vlen, s->ix, p->map, p->bucket, p->key);
    if (rc != RS_OK && rc != RS_ENOTFOUND)
        return rc;
    if (p->move) {
        /* A move keeps the record as it is now (tags or ACL may have
         * changed since the mover read it) and swaps the layout. */
        if (rc == RS_ENOTFOUND ||
            !still_at(oldv, vlen, p->old_container, p->old_offset)) {
            free(oldv);
            return rs_err_set(RS_ECONFLICT, "%s/%s changed while being "
                              "moved", p->bucket, p->key);
        }
        moved = store__rec_set_layout(oldv, vlen, p->layout, p->layout_len);
        if (!moved) {
            free(oldv);
            return rs_err_set(RS_ECORRUPT, "%s/%s: record unreadable",
                              p->bucket, p->key);
        }
    }
    if (rc == RS_OK && store__rec_layout(&old, oldv, vlen) != RS_OK) {
        rs_warn("store: %s/%s: replaced record unreadable (%s); its data "
                "is not collected", p->bucket, p->key, rs_err_msg());
        memset(&old, 0, sizeof old);
    }
    free(oldv);
    if (moved)
        idx_obj_put(b, p->map, p->bucket, p->key, moved, strlen(moved));
    else
        idx_obj_put(b, p->map, p->bucket, p->key, p->json, p->jlen);
    free(moved);
    /* Its event, in the same batch (a move changes nothing visible). */
    if (p->event)
        p->evseq = store__event_add_raw(s, b, p->event);
    p->nold = store__garbage_add(b, &old);
    store__layout_dispose(&old);
    return RS_OK;
}

static void put_applied(struct idx_batch *b, uint64_t seq)
{
    uint8_t v[8];

    rs_put64le(v, seq);
    idx_batch_put(b, IDX_KEY_WAL_APPLIED, strlen(IDX_KEY_WAL_APPLIED),
                  (const char *)v, 8);
}

/* The batch leader's apply (wal_apply_fn): one unsynced index batch. */
static int merge_apply(void *ctx, struct wal_rec **recs, size_t n)
{
    struct store *s = ctx;
    struct idx_batch *b = idx_batch_begin(s->ix);
    uint64_t nold = 0;
    int rc;

    for (size_t i = 0; i < n; i++) {
        struct merge_put *p = recs[i]->arg;
        if (!p)
            continue;                /* a FLUSHED record: nothing to index */
        recs[i]->rc = apply_one(s, b, p);
        if (recs[i]->rc == RS_OK)
            nold += p->nold;
    }
    put_applied(b, recs[n - 1]->seq);
    /* No sync: the WAL is durable, and replay rewrites what a crash
     * loses (see the top of this file), events included. */
    rc = idx_batch_commit(b, false);
    for (size_t i = 0; i < n; i++) {
        struct merge_put *p = recs[i]->arg;
        if (p)
            store__event_done(s, p->evseq);
    }
    if (rc == RS_OK)
        atomic_fetch_add(&s->gc_pending, nold);
    return rc;
}

/* ------------------------------------------------------------------ */
/* PUT                                                                  */
/* ------------------------------------------------------------------ */

/* Bytes of new chunks a reservation of span in c (NULL: a new container)
 * would allocate.  Under lock. */
static uint64_t chunks_needed(struct merge *m, struct merge_ctr *c,
                              uint64_t span)
{
    uint64_t off = c && !(c->len > 0 && c->len + span > m->threshold)
                       ? c->len
                       : 0;
    uint64_t need = 0;

    for (uint64_t i = off / m->chunk; i <= (off + span - 1) / m->chunk; i++)
        if (!c || off == 0 || i >= c->maxchunks || !c->chunks[i])
            need += m->chunk;
    return need;
}

/*
 * Reserve span bytes for an object of bucket in group: the open
 * container, or a new one.  Waits while the memory bound would be passed
 * (sealing everything so the flusher frees memory); RS_ENOSPC when the
 * flusher cannot write for lack of space.  Returns the container
 * referenced, with the offset in *off and inflight counted.  Under lock.
 */
static int reserve(struct merge *m, const char *bucket, uint8_t group,
                   uint64_t span, struct merge_ctr **out, uint64_t *off)
{
    struct merge_open *o;
    struct merge_ctr *c;

    for (;;) {
        struct timespec ts;

        o = open_entry(m, bucket, true);
        c = o->c[group];
        if (m->cache_used == 0 ||
            m->cache_used + chunks_needed(m, c, span) <= m->cache_max)
            break;
        /* Waiting is right while the flusher makes progress; when it
         * fails, say why instead of hanging the client. */
        if (m->flush_err == RS_ENOSPC)
            return rs_err_set(RS_ENOSPC, "merge cache full and the storage "
                              "group is out of space");
        if (m->flush_err)
            return rs_err_set(RS_EIO, "merge cache full and flushing fails "
                              "(%s)", rs_strerror(m->flush_err));
        if (m->stop)
            return rs_err_set(RS_ESHUTDOWN, "store is closing");
        m->want_space = true;
        m->kicked = true;
        pthread_cond_signal(&m->kick);
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_sec += 1;
        (void)pthread_cond_timedwait(&m->space, &m->lock, &ts);
    }
    if (c && c->len > 0 && c->len + span > m->threshold) {
        ctr_seal(m, c);
        c = NULL;
    }
    if (!c) {
        char name[STORE_CNAME_SIZE];
        store__new_name(name);
        c = ctr_new(m, name, bucket, group);
        o->c[group] = c;
    }
    *off = c->len;
    ctr_reserve(m, c, c->len, span);
    c->len += span;
    c->inflight++;
    c->refs++;
    c->last_ns = rs_mono_ns();
    *out = c;
    return RS_OK;
}

/* Add a member (an object logged into c).  Under lock, or on a container
 * only the caller sees. */
static void ctr_add_member(struct merge_ctr *c, uint64_t off, uint64_t span,
                           const char *key)
{
    if (c->nmembers == c->memcap) {
        c->memcap = c->memcap ? 2 * c->memcap : 16;
        c->members = rs_xrealloc(c->members, c->memcap * sizeof *c->members);
    }
    c->members[c->nmembers].offset = off;
    c->members[c->nmembers].span = (uint32_t)span;
    c->members[c->nmembers++].key = rs_xstrdup(key);
    c->member_bytes += span;
    if (off + span > c->len)
        c->len = off + span;
}

/* A record is done (logged or failed): count it, keep its member. */
static void ctr_done(struct merge *m, struct merge_ctr *c, bool ok,
                     uint64_t off, uint64_t span, const char *key)
{
    pthread_mutex_lock(&m->lock);
    if (ok) {
        ctr_add_member(c, off, span, key);
        m->objects++;
        m->bytes += span;
    }
    c->inflight--;
    if (c->sealed && c->inflight == 0) {
        m->kicked = true;
        pthread_cond_signal(&m->kick);
    }
    ctr_unref(m, c);
    pthread_mutex_unlock(&m->lock);
}

/* The fixed part of a PUT payload. */
static void put_fixed(uint8_t *h, uint8_t group, uint8_t flags,
                      size_t blen, size_t klen, size_t jlen, uint32_t block,
                      uint64_t n, uint64_t off, const char *name,
                      const char *old_name, uint64_t old_off)
{
    memset(h, 0, PUT_FIXED);
    h[0] = group;
    h[1] = flags;
    rs_put16le(h + 2, (uint16_t)blen);
    rs_put16le(h + 4, (uint16_t)klen);
    rs_put32le(h + 8, (uint32_t)jlen);
    rs_put32le(h + 12, block);
    rs_put64le(h + 16, n);
    rs_put64le(h + 24, off);
    if (name)
        memcpy(h + 32, name, STORE_CONTAINER_NAME_LEN);
    rs_put64le(h + 64, old_off);
    if (old_name)
        memcpy(h + 72, old_name, STORE_CONTAINER_NAME_LEN);
}

/* Extent bytes (data, then CRCs) of data[n] in block-sized blocks. */
static uint8_t *crc_array(const void *data, size_t n, uint32_t block,
                          size_t *len_out)
{
    size_t nb = (n + block - 1) / block;
    uint8_t *c = rs_xmalloc(4 * nb + 1);

    for (size_t i = 0; i < nb; i++) {
        size_t bl = n - i * block < block ? n - i * block : block;
        rs_put32le(c + 4 * i, rs_crc32c(0, (const uint8_t *)data + i * block,
                                   bl));
    }
    *len_out = 4 * nb;
    return c;
}

/* The PUT itself; move: the old location a compaction move replaces. */
static int merge_put(struct store *s, const char *bucket, const char *key,
                     const char *class_name, uint8_t group,
                     const void *data, size_t n, struct store_obj *info,
                     const struct store_run *move)
{
    struct merge *m = s->mg;
    struct idx_shardmap *map = NULL;
    struct merge_ctr *c = NULL;
    struct merge_put put = {0};
    struct store_layout l = {0};
    struct store_obj rec;
    struct wal_rec wr;
    pthread_rwlock_t *bl;
    pthread_mutex_t *kl;
    uint8_t fixed[PUT_FIXED];
    uint8_t *crcs = NULL, *meta = NULL;
    size_t ncrc = 0, blen = strlen(bucket), klen = strlen(key), jlen, mlen;
    uint64_t span = 0, off = 0;
    void *blob = NULL;
    size_t bloblen = 0;
    char *json = NULL, *event = NULL;
    int rc;

    if (n > 0) {
        crcs = crc_array(data, n, m->block, &ncrc);
        span = n + ncrc;
    }
    bl = store__bucket_lock(s, bucket);
    kl = store__key_lock(s, bucket, key);
    pthread_rwlock_rdlock(bl);
    pthread_mutex_lock(kl);
    if ((rc = store__bucket_map(&map, s, bucket)) != RS_OK)
        goto out;

    if (n > 0) {
        pthread_mutex_lock(&m->lock);
        rc = reserve(m, bucket, group, span, &c, &off);
        if (rc == RS_OK) {
            uint64_t seg = wal_active_segment(m->wal);
            if (seg < c->min_seg)
                c->min_seg = seg;
        }
        pthread_mutex_unlock(&m->lock);
        if (rc != RS_OK)
            goto out;
        ctr_write(m, c, off, data, n);
        ctr_write(m, c, off + n, crcs, ncrc);
        store__layout_add(&l, c->name, group, m->block, off, n);
        l.runs[0].flags = STORE_RUN_MERGED;
    }
    blob = store__layout_encode(&bloblen, &l);

    if (move) {
        /* The record is the one in the index at apply time. */
        json = rs_xstrdup("");
        rec.mtime_ns = 0;
    } else {
        rec = *info;
        rec.bucket = (char *)bucket;
        rec.key = (char *)key;
        rec.size = n;
        rec.mtime_ns = rs_now_ns();
        rec.storage_class = (char *)class_name;
        rec.parts_count = 0;
        rec.part_sizes = NULL;
        json = store__obj_encode(&rec, blob, bloblen);
        if (s->ob) {
            /* Built here, with this request's context; staged by the
             * batch leader in the batch of the index entry. */
            struct store_event ev = {
                info->event ? info->event : STORE_EV_PUT, bucket, key, &rec,
                0, 0};
            event = store__event_encode(s, &ev);
        }
    }
    jlen = strlen(json);

    put_fixed(fixed, group,
              move ? PUT_MOVE
                   : (info && info->event == STORE_EV_COPY ? PUT_COPY : 0),
              blen, klen, jlen, m->block,
              n, off, c ? c->name : NULL, move ? move->container : NULL,
              move ? move->offset : 0);
    mlen = PUT_FIXED + blen + klen + jlen;
    meta = rs_xmalloc(mlen);
    memcpy(meta, fixed, PUT_FIXED);
    memcpy(meta + PUT_FIXED, bucket, blen);
    memcpy(meta + PUT_FIXED + blen, key, klen);
    memcpy(meta + PUT_FIXED + blen + klen, json, jlen);

    put.bucket = bucket;
    put.key = key;
    put.map = map;
    put.json = json;
    put.jlen = jlen;
    put.event = event;
    put.layout = blob;
    put.layout_len = bloblen;
    if (move) {
        put.move = true;
        memcpy(put.old_container, move->container, STORE_CNAME_SIZE);
        put.old_offset = move->offset;
    }
    memset(&wr, 0, sizeof wr);
    wr.arg = &put;
    wr.iov[0].iov_base = meta;
    wr.iov[0].iov_len = mlen;
    wr.niov = 1;
    if (c)
        wr.niov += ctr_iov(m, c, off, span, wr.iov + 1, 5);
    wal_enqueue(m->wal, &wr, WAL_TYPE_PUT);
    rc = wal_wait(m->wal, &wr);
    rs_crashpoint("merge-put-logged");
    if (rc == RS_OK && info) {
        info->size = n;
        info->mtime_ns = rec.mtime_ns;
    }
    if (rc == RS_OK && !c) {
        pthread_mutex_lock(&m->lock);
        m->objects++;                /* ctr_done counts the others */
        pthread_mutex_unlock(&m->lock);
    }
out:
    pthread_mutex_unlock(kl);
    pthread_rwlock_unlock(bl);
    if (c)
        ctr_done(m, c, rc == RS_OK, off, span, key);
    store__layout_dispose(&l);
    store__shardmap_free(map);
    free(blob);
    free(json);
    free(event);
    free(meta);
    free(crcs);
    return rc;
}

int store__merge_put(struct store *s, const char *bucket, const char *key,
                     const char *class_name, uint8_t group,
                     const void *data, size_t n, struct store_obj *info)
{
    return merge_put(s, bucket, key, class_name, group, data, n, info,
                     NULL);
}

int store__merge_move(struct store *s, const char *bucket, const char *key,
                      const struct store_run *from, uint8_t group,
                      const void *data, size_t n)
{
    if (!s->mg)
        return rs_err_set(RS_EINVAL, "the merge path is off");
    return merge_put(s, bucket, key, "", group, data, n, NULL, from);
}

/* ------------------------------------------------------------------ */
/* Container records                                                    */
/* ------------------------------------------------------------------ */

/*
 * c/<container> VALUE, version 1 (little-endian):
 *   0  u8   version = 1        1  u8  group      2  u16 bucket length
 *   4  u32  members            8  u64 container length in bytes
 *   16 u64  bytes of the members' extents
 *   24 bucket, then per member: u64 offset, u32 span, u16 key length, key
 */
static char *ctr_encode(const struct merge_ctr *c, size_t *len_out)
{
    size_t blen = strlen(c->bucket), n = 24 + blen;
    uint8_t *p, *q;

    for (size_t i = 0; i < c->nmembers; i++)
        n += 14 + strlen(c->members[i].key);
    p = rs_xmalloc(n);
    p[0] = 1;
    p[1] = c->group;
    rs_put16le(p + 2, (uint16_t)blen);
    rs_put32le(p + 4, (uint32_t)c->nmembers);
    rs_put64le(p + 8, c->len);
    rs_put64le(p + 16, c->member_bytes);
    memcpy(p + 24, c->bucket, blen);
    q = p + 24 + blen;
    for (size_t i = 0; i < c->nmembers; i++) {
        size_t kl = strlen(c->members[i].key);
        rs_put64le(q, c->members[i].offset);
        rs_put32le(q + 8, c->members[i].span);
        rs_put16le(q + 12, (uint16_t)kl);
        memcpy(q + 14, c->members[i].key, kl);
        q += 14 + kl;
    }
    *len_out = n;
    return (char *)p;
}

int store__ctr_decode(struct store_ctr_rec *out, const char *v, size_t n)
{
    const uint8_t *p = (const uint8_t *)v, *q, *end = p + n;
    size_t blen;

    memset(out, 0, sizeof *out);
    if (n < 24 || p[0] != 1 || p[1] >= STORE_NGROUPS)
        return rs_err_set(RS_ECORRUPT, "container record: bad header");
    blen = rs_get16le(p + 2);
    if (24 + blen > n)
        return rs_err_set(RS_ECORRUPT, "container record: short");
    out->group = p[1];
    out->length = rs_get64le(p + 8);
    out->member_bytes = rs_get64le(p + 16);
    out->bucket = rs_xstrndup((const char *)p + 24, blen);
    out->nmembers = rs_get32le(p + 4);
    out->members = rs_xcalloc(out->nmembers + 1, sizeof *out->members);
    q = p + 24 + blen;
    for (size_t i = 0; i < out->nmembers; i++) {
        size_t kl;
        if (end - q < 14 || (size_t)(end - q) < 14 + (kl = rs_get16le(q + 12))) {
            store__ctr_rec_dispose(out);
            return rs_err_set(RS_ECORRUPT, "container record: member %zu "
                              "cut", i);
        }
        out->members[i].offset = rs_get64le(q);
        out->members[i].span = rs_get32le(q + 8);
        out->members[i].key = rs_xstrndup((const char *)q + 14, kl);
        q += 14 + kl;
    }
    return RS_OK;
}

void store__ctr_rec_dispose(struct store_ctr_rec *r)
{
    for (size_t i = 0; r->members && i < r->nmembers; i++)
        free(r->members[i].key);
    free(r->members);
    free(r->bucket);
    memset(r, 0, sizeof *r);
}

/* ------------------------------------------------------------------ */
/* Flushing                                                             */
/* ------------------------------------------------------------------ */

/* Write c to its group, then its c/ record with sync.  Not under lock;
 * the flusher holds a reference and c is sealed with nothing in flight. */
static int flush_one(struct store *s, struct merge_ctr *c)
{
    struct merge *m = s->mg;
    struct store_group *g = &s->groups[c->group];
    struct store_bk_file *f = NULL;
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    size_t klen, vlen;
    char *v;
    int rc;

    if (c->nmembers == 0)
        return RS_OK;                /* every record failed: nothing */
    if (!g->g)
        return rs_err_set(RS_EINVAL, "container %s: group %u has no "
                          "directories", c->name, c->group);
    rc = g->ops->open(&f, g->g, c->name, STORE_BK_CREATE);
    if (rc == RS_EEXIST) {
        /* A flush cut short by a crash: no c/ record, so unreferenced. */
        (void)g->ops->remove(g->g, c->name);
        rc = g->ops->open(&f, g->g, c->name, STORE_BK_CREATE);
    }
    if (rc != RS_OK)
        return rc;
    for (uint64_t off = 0; off < c->len && rc == RS_OK;) {
        size_t ci = (size_t)(off / m->chunk);
        uint64_t take = m->chunk < c->len - off ? m->chunk : c->len - off;

        if (!c->chunks[ci]) {
            /* A hole of reservations that all failed: zeros. */
            pthread_mutex_lock(&m->lock);
            ctr_reserve(m, c, off, take);
            pthread_mutex_unlock(&m->lock);
        }
        rc = f->ops->append(f, c->chunks[ci], (size_t)take);
        off += take;
    }
    if (rc == RS_OK)
        rc = f->ops->sync(f);
    f->ops->close(f);
    if (rc != RS_OK) {
        (void)g->ops->remove(g->g, c->name);
        return rc;
    }
    rs_crashpoint("merge-flush-synced");
    /* Tell replay the container is on disk before anything can remove
     * its c/ record (compaction): its PUT records may stay in the WAL
     * longer than the container lives. */
    {
        struct wal_rec wr;

        memset(&wr, 0, sizeof wr);
        wr.iov[0].iov_base = c->name;
        wr.iov[0].iov_len = STORE_CONTAINER_NAME_LEN;
        wr.niov = 1;
        wal_enqueue(m->wal, &wr, WAL_TYPE_FLUSHED);
        if ((rc = wal_wait(m->wal, &wr)) != RS_OK)
            return rc;
    }
    rs_crashpoint("merge-flushed-logged");
    v = ctr_encode(c, &vlen);
    klen = idx_key_container(k, c->name);
    b = idx_batch_begin(s->ix);
    idx_batch_put(b, k, klen, v, vlen);
    free(v);
    return idx_batch_commit(b, true);
}

/* Remove every WAL segment older than all containers in memory. */
static void retire(struct store *s)
{
    struct merge *m = s->mg;
    uint64_t below = wal_active_segment(m->wal);
    struct idx_batch *b;
    uint8_t v[8];

    pthread_mutex_lock(&m->lock);
    for (size_t h = 0; h < MERGE_HASH; h++)
        for (struct merge_ctr *c = m->table[h]; c; c = c->next)
            if (c->min_seg < below)
                below = c->min_seg;
    pthread_mutex_unlock(&m->lock);
    /* A synced index write first: every index entry of the records in
     * those segments (objects of size 0 have no container) becomes
     * durable with it. */
    b = idx_batch_begin(s->ix);
    rs_put64le(v, below);
    idx_batch_put(b, "w/retired", 9, (const char *)v, 8);
    if (idx_batch_commit(b, true) != RS_OK) {
        rs_warn("store: cannot sync the index before retiring WAL "
                "segments: %s", rs_err_msg());
        return;
    }
    if (wal_retire(m->wal, below) != RS_OK)
        rs_warn("store: %s", rs_err_msg());
}

/*
 * One flusher round: seal what is full, idle or needed, flush sealed
 * containers with nothing in flight.  all: seal everything (close).
 * Returns how many containers were flushed.
 */
static size_t flush_round(struct store *s, bool all)
{
    struct merge *m = s->mg;
    struct merge_ctr **todo = NULL;
    size_t ntodo = 0, cap = 0, done = 0;
    int64_t now = rs_mono_ns();
    bool failed = false;

    pthread_mutex_lock(&m->lock);
    for (size_t h = 0; h < MERGE_HASH; h++)
        for (struct merge_ctr *c = m->table[h]; c; c = c->next) {
            if (!c->sealed && (all || m->want_space ||
                               c->len >= m->threshold ||
                               now - c->last_ns >= m->idle_ns))
                ctr_seal(m, c);
            if (!c->sealed || c->flushing || c->inflight > 0)
                continue;
            if (ntodo == cap) {
                cap = cap ? 2 * cap : 16;
                todo = rs_xrealloc(todo, cap * sizeof *todo);
            }
            c->flushing = true;
            c->refs++;
            todo[ntodo++] = c;
        }
    m->want_space = false;
    pthread_mutex_unlock(&m->lock);

    for (size_t i = 0; i < ntodo; i++) {
        struct merge_ctr *c = todo[i];
        struct timespec t0, t1;
        int rc;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        rc = flush_one(s, c);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        pthread_mutex_lock(&m->lock);
        c->flushing = false;
        if (rc == RS_OK) {
            struct merge_ctr **pp =
                &m->table[rs_fnv1a64(c->name) % MERGE_HASH];
            while (*pp != c)
                pp = &(*pp)->next;
            *pp = c->next;
            c->gone = true;
            m->ncontainers--;
            for (size_t j = 0; j < c->nchunks; j++)
                if (c->chunks[j])
                    m->cache_used -= m->chunk;
            m->flushes++;
            m->flush_bytes += c->len;
            if (c->nmembers > 0) {
                m->disk_containers++;
                m->disk_bytes += c->len;
                m->disk_objects += c->nmembers;
            }
            m->flush_seconds += (double)(t1.tv_sec - t0.tv_sec) +
                                (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
            rs_histogram_observe(m->flush_hist,
                                 (double)(t1.tv_sec - t0.tv_sec) +
                                     (double)(t1.tv_nsec - t0.tv_nsec) /
                                         1e9);
            m->flush_err = 0;
            c->refs--;               /* the table's; ours remains */
            done++;
        } else {
            m->flush_errors++;
            m->flush_err = rc;
            failed = true;
            rs_warn("store: flush of merged container %s failed: %s",
                    c->name, rs_err_msg());
        }
        ctr_unref(m, c);             /* ours */
        pthread_cond_broadcast(&m->space);
        pthread_mutex_unlock(&m->lock);
    }
    free(todo);
    if (done > 0 || (all && !failed))
        retire(s);
    return done;
}

static void *flusher_main(void *arg)
{
    struct store *s = arg;
    struct merge *m = s->mg;

    pthread_mutex_lock(&m->lock);
    while (!m->stop) {
        struct timespec ts;
        int64_t wait_ns = m->idle_ns / 4 > 10000000 ? m->idle_ns / 4
                                                     : 10000000;

        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += wait_ns % 1000000000;
        ts.tv_sec += wait_ns / 1000000000 + ts.tv_nsec / 1000000000;
        ts.tv_nsec %= 1000000000;
        if (!m->kicked)
            (void)pthread_cond_timedwait(&m->kick, &m->lock, &ts);
        m->kicked = false;
        if (m->stop)
            break;
        pthread_mutex_unlock(&m->lock);
        if (flush_round(s, false) == 0 && m->flush_err) {
            /* Back off while the disk refuses (out of space). */
            struct timespec d = { 0, 200000000 };
            nanosleep(&d, NULL);
        }
        pthread_mutex_lock(&m->lock);
    }
    pthread_mutex_unlock(&m->lock);
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Replay                                                               */
/* ------------------------------------------------------------------ */

/* A container replay learned about: flushed per the log (a FLUSHED
 * record) or per the index (a c/ record). */
struct replay_ctr {
    char name[STORE_CNAME_SIZE];
    int state;                       /* 0 unknown, 1 c/ present, 2 c/
                                        missing: rebuild it */
    struct merge_ctr *late;          /* state 2: members gathered */
};

struct replay {
    struct store *s;
    uint64_t applied;
    uint64_t placed, reapplied, skipped, rebuilt;
    struct replay_ctr *ctrs;
    size_t nctrs, cap;
};

static struct replay_ctr *replay_ctr(struct replay *r, const char *name,
                                     bool add)
{
    for (size_t i = 0; i < r->nctrs; i++)
        if (strcmp(r->ctrs[i].name, name) == 0)
            return &r->ctrs[i];
    if (!add)
        return NULL;
    if (r->nctrs == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 16;
        r->ctrs = rs_xrealloc(r->ctrs, r->cap * sizeof *r->ctrs);
    }
    memset(&r->ctrs[r->nctrs], 0, sizeof r->ctrs[r->nctrs]);
    memcpy(r->ctrs[r->nctrs].name, name, STORE_CONTAINER_NAME_LEN);
    return &r->ctrs[r->nctrs++];
}

static bool has_ctr_record(struct store *s, const char *name)
{
    char k[IDX_KEY_MAX];
    char *v;

    if (idx_get(&v, NULL, s->ix, k, idx_key_container(k, name)) != RS_OK)
        return false;
    free(v);
    return true;
}

/*
 * Is the container of a logged extent already on disk?  Yes when its c/
 * record exists, or when the log has its FLUSHED record: then the file
 * is complete, and if the crash came before its c/ record was written,
 * the members are gathered here to write it (replay_finish).
 */
static bool replay_flushed(struct replay *r, const char *name,
                           const char *bucket, uint8_t group, uint64_t off,
                           uint64_t span, const char *key)
{
    struct replay_ctr *rc = replay_ctr(r, name, false);

    if (!rc) {
        if (!has_ctr_record(r->s, name))
            return false;            /* never flushed: back into memory */
        rc = replay_ctr(r, name, true);
        rc->state = 1;
        return true;
    }
    if (rc->state == 0) {
        rc->state = has_ctr_record(r->s, name) ? 1 : 2;
        if (rc->state == 2) {
            rc->late = rs_xcalloc(1, sizeof *rc->late);
            memcpy(rc->late->name, name, STORE_CNAME_SIZE);
            rc->late->bucket = rs_xstrdup(bucket);
            rc->late->group = group;
        }
    }
    if (rc->state == 2)
        ctr_add_member(rc->late, off, span, key);
    return true;
}

static char *ctr_encode(const struct merge_ctr *c, size_t *len_out);

/* Write the c/ records a crash kept from being written; free the list. */
static int replay_finish(struct replay *r)
{
    int rc = RS_OK;

    for (size_t i = 0; i < r->nctrs; i++) {
        struct merge_ctr *c = r->ctrs[i].late;
        if (!c)
            continue;
        if (rc == RS_OK) {
            struct idx_batch *b = idx_batch_begin(r->s->ix);
            char k[IDX_KEY_MAX];
            size_t vlen;
            char *v = ctr_encode(c, &vlen);

            idx_batch_put(b, k, idx_key_container(k, c->name), v, vlen);
            free(v);
            rc = idx_batch_commit(b, true);
            if (rc == RS_OK) {
                struct merge *m = r->s->mg;
                r->rebuilt++;
                m->disk_containers++;
                m->disk_bytes += c->len;
                m->disk_objects += c->nmembers;
            }
        }
        for (size_t j = 0; j < c->nmembers; j++)
            free(c->members[j].key);
        free(c->members);
        free(c->bucket);
        free(c);
    }
    free(r->ctrs);
    r->ctrs = NULL;
    r->nctrs = r->cap = 0;
    return rc;
}

/* Replay pass 1: the containers the log says were flushed. */
static int replay_scan(void *arg, uint64_t seg, uint64_t seq, uint8_t type,
                       const uint8_t *p, size_t len)
{
    (void)seg;
    (void)seq;
    if (type == WAL_TYPE_FLUSHED && len == STORE_CONTAINER_NAME_LEN) {
        char name[STORE_CNAME_SIZE];
        memcpy(name, p, STORE_CONTAINER_NAME_LEN);
        name[STORE_CONTAINER_NAME_LEN] = '\0';
        replay_ctr(arg, name, true);
    }
    return RS_OK;
}

static int replay_rec(void *arg, uint64_t seg, uint64_t seq, uint8_t type,
                      const uint8_t *p, size_t len)
{
    struct replay *r = arg;
    struct store *s = r->s;
    struct merge *m = s->mg;
    size_t blen, klen, jlen;
    uint64_t n, off, span = 0;
    uint32_t block;
    char name[STORE_CNAME_SIZE], bucket[64], *key;
    int rc = RS_OK;

    if (type == WAL_TYPE_FLUSHED)
        return RS_OK;                /* pass 1 took these */
    if (type != WAL_TYPE_PUT || len < PUT_FIXED)
        return rs_err_set(RS_ECORRUPT, "WAL record %llu: type %u, %zu "
                          "bytes", (unsigned long long)seq, type, len);
    blen = rs_get16le(p + 2);
    klen = rs_get16le(p + 4);
    jlen = rs_get32le(p + 8);
    block = rs_get32le(p + 12);
    n = rs_get64le(p + 16);
    off = rs_get64le(p + 24);
    if (n > 0 && block > 0)
        span = store__extent_span(n, block);
    if (blen == 0 || blen >= sizeof bucket || klen == 0 ||
        PUT_FIXED + blen + klen + jlen + span != len || p[0] >= STORE_NGROUPS)
        return rs_err_set(RS_ECORRUPT, "WAL record %llu: bad lengths",
                          (unsigned long long)seq);
    memcpy(bucket, p + PUT_FIXED, blen);
    bucket[blen] = '\0';
    key = rs_xstrndup((const char *)p + PUT_FIXED + blen, klen);
    memcpy(name, p + 32, STORE_CONTAINER_NAME_LEN);
    name[STORE_CONTAINER_NAME_LEN] = '\0';

    /* The extent, back into its container unless that was flushed. */
    if (span > 0 &&
        !replay_flushed(r, name, bucket, p[0], off, span, key)) {
        struct merge_ctr *c;

        pthread_mutex_lock(&m->lock);
        c = ctr_lookup(m, name);
        if (!c) {
            c = ctr_new(m, name, bucket, p[0]);
            c->sealed = true;
        }
        if (seg < c->min_seg)
            c->min_seg = seg;
        ctr_reserve(m, c, off, span);
        if (off + span > c->len)
            c->len = off + span;
        ctr_write(m, c, off, p + PUT_FIXED + blen + klen + jlen, span);
        c->inflight++;
        c->refs++;
        pthread_mutex_unlock(&m->lock);
        ctr_done(m, c, true, off, span, key);
        r->placed++;
    }

    /* The index entry, when the index lost it. */
    if (seq > r->applied) {
        struct merge_put put = {0};
        char *event = NULL;
        struct idx_shardmap *map = NULL;
        struct store_layout ml = {0};
        void *mblob = NULL;
        struct idx_batch *b;

        rc = store__bucket_map(&map, s, bucket);
        if (rc == RS_ENOTFOUND) {
            rs_warn("store: WAL record %llu: bucket %s is gone; skipped",
                    (unsigned long long)seq, bucket);
            r->skipped++;
            rc = RS_OK;
            goto out;
        }
        if (rc != RS_OK)
            goto out;
        put.bucket = bucket;
        put.key = key;
        put.map = map;
        put.json = (const char *)p + PUT_FIXED + blen + klen;
        put.jlen = jlen;
        put.move = (p[1] & PUT_MOVE) != 0;
        if (put.move) {
            store__layout_add(&ml, name, p[0], block, off, n);
            ml.runs[0].flags = STORE_RUN_MERGED;
            mblob = store__layout_encode(&put.layout_len, &ml);
            put.layout = mblob;
        }
        memcpy(put.old_container, p + 72, STORE_CONTAINER_NAME_LEN);
        put.old_container[STORE_CONTAINER_NAME_LEN] = '\0';
        put.old_offset = rs_get64le(p + 64);
        if (!put.move && s->ob) {
            /* The event lost with the index entry comes back with it (no
             * request context: this is not a request). */
            struct rs_arena *ea = rs_arena_new();
            struct store_obj eo;
            if (store__obj_decode(ea, &eo, bucket, key, put.json,
                                  put.jlen) == RS_OK) {
                struct store_event ev = {
                    (p[1] & PUT_COPY) ? STORE_EV_COPY : STORE_EV_PUT, bucket,
                    key, &eo, 0, 0};
                store_event_context(NULL, NULL, NULL);
                event = store__event_encode(s, &ev);
                put.event = event;
            }
            rs_arena_free(ea);
        }
        b = idx_batch_begin(s->ix);
        rc = apply_one(s, b, &put);
        if (rc == RS_ECONFLICT) {
            idx_batch_abort(b);
            r->skipped++;
            rc = RS_OK;
        } else if (rc == RS_OK) {
            put_applied(b, seq);
            rc = idx_batch_commit(b, false);
            if (rc == RS_OK) {
                atomic_fetch_add(&s->gc_pending, put.nold);
                r->reapplied++;
            }
        } else {
            idx_batch_abort(b);
        }
        store__event_done(s, put.evseq);
        free(event);
        store__layout_dispose(&ml);
        free(mblob);
        store__shardmap_free(map);
    }
out:
    free(key);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Open and close                                                       */
/* ------------------------------------------------------------------ */

/* Count the c/ records: merged containers on disk. */
static int count_disk(struct store *s)
{
    struct merge *m = s->mg;
    struct idx_iter *it;
    int rc;

    if ((rc = idx_iter_open(&it, s->ix, IDX_PREFIX_CONTAINER, 2)) != RS_OK)
        return rc;
    for (idx_iter_seek(it, IDX_PREFIX_CONTAINER, 2); idx_iter_valid(it);
         idx_iter_next(it)) {
        size_t vlen;
        const uint8_t *v = (const uint8_t *)idx_iter_value(it, &vlen);

        if (vlen < 24)
            continue;
        m->disk_containers++;
        m->disk_objects += rs_get32le(v + 4);
        m->disk_bytes += rs_get64le(v + 8);
    }
    rc = idx_iter_status(it);
    idx_iter_close(it);
    return rc;
}

int store__merge_open(struct store *s, const struct rs_config *cfg)
{
    struct merge *m;
    struct replay r = {0};
    struct idx_batch *b;
    char path[4096];
    const char *dir = cfg->wal_dir;
    char *v = NULL;
    size_t vlen;
    int rc, e;

    if (cfg->small_threshold == 0)
        return RS_OK;
    m = rs_xcalloc(1, sizeof *m);
    m->s = s;
    m->small = cfg->small_threshold;
    m->threshold = cfg->merge_threshold ? cfg->merge_threshold
                                        : 128u << 20;
    m->block = s->block_size;
    /* A chunk holds the largest extent, so an extent spans at most two. */
    m->chunk = store__extent_span(m->small, m->block);
    if (m->chunk < (4u << 20))
        m->chunk = 4u << 20;
    m->chunk = (m->chunk + 4095) / 4096 * 4096;
    m->cache_max = cfg->merge_cache > 2 * m->chunk ? cfg->merge_cache
                                                   : 2 * m->chunk;
    m->idle_ns = (int64_t)(cfg->idle_flush_ms > 0 ? cfg->idle_flush_ms
                                                  : 500) * 1000000LL;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->space, NULL);
    pthread_cond_init(&m->kick, NULL);
    m->flush_hist = rs_histogram_get("roadstore_merge_flush_duration_seconds",
                                     "", "Time to write one merged "
                                     "container to its storage group.");
    s->mg = m;

    if (!dir) {
        snprintf(path, sizeof path, "%s/wal",
                 cfg->data_dir ? cfg->data_dir : ".");
        dir = path;
    }
    rc = idx_get(&v, &vlen, s->ix, IDX_KEY_WAL_APPLIED,
                 strlen(IDX_KEY_WAL_APPLIED));
    if (rc == RS_OK && vlen == 8)
        r.applied = rs_get64le((const uint8_t *)v);
    else if (rc != RS_OK && rc != RS_ENOTFOUND)
        goto fail;
    free(v);
    if ((rc = count_disk(s)) != RS_OK)
        goto fail;
    r.s = s;
    {
        struct wal_replay_stats scan;
        rc = wal_replay(dir, replay_scan, &r, &scan);
        if (rc == RS_OK)
            rc = wal_replay(dir, replay_rec, &r, &m->replay);
        m->replay.seconds += scan.seconds;
    }
    if (rc == RS_OK)
        rc = replay_finish(&r);
    else
        (void)replay_finish(&r);
    if (rc != RS_OK)
        goto fail;
    if (m->replay.records > 0)
        rs_info("store: WAL replay: %llu records (%llu bytes) in %llu "
                "segments in %.3f s; %llu extents back in memory, %llu "
                "index entries rewritten, %llu skipped, %llu container "
                "records rebuilt, %llu torn bytes dropped",
                (unsigned long long)m->replay.records,
                (unsigned long long)m->replay.bytes,
                (unsigned long long)m->replay.segments, m->replay.seconds,
                (unsigned long long)r.placed,
                (unsigned long long)r.reapplied,
                (unsigned long long)r.skipped,
                (unsigned long long)r.rebuilt,
                (unsigned long long)m->replay.torn_bytes);
    /* What replay wrote to the index becomes durable now. */
    b = idx_batch_begin(s->ix);
    {
        uint8_t av[8];
        uint64_t a = m->replay.max_seq > r.applied ? m->replay.max_seq
                                                   : r.applied;
        rs_put64le(av, a);
        idx_batch_put(b, IDX_KEY_WAL_APPLIED, strlen(IDX_KEY_WAL_APPLIED),
                      (const char *)av, 8);
        if ((rc = idx_batch_commit(b, true)) != RS_OK)
            goto fail;
        if ((rc = wal_open(&m->wal, dir, cfg->wal_segment_size, a + 1,
                           merge_apply, s)) != RS_OK)
            goto fail;
    }
    if ((e = pthread_create(&m->flusher, NULL, flusher_main, s)) != 0) {
        rc = rs_err_errno(e, "start the merge flusher");
        goto fail;
    }
    m->running = true;
    return RS_OK;
fail:
    store__merge_close(s);
    return rc;
}

void store__merge_close(struct store *s)
{
    struct merge *m = s->mg;

    if (!m)
        return;
    if (m->running) {
        pthread_mutex_lock(&m->lock);
        m->stop = true;
        pthread_cond_broadcast(&m->kick);
        pthread_cond_broadcast(&m->space);
        pthread_mutex_unlock(&m->lock);
        pthread_join(m->flusher, NULL);
        m->running = false;
    }
    /* Writers are gone (the gateway stopped first): flush everything. */
    if (m->wal) {
        for (int tries = 0; tries < 3; tries++) {
            flush_round(s, true);
            if (m->ncontainers == 0)
                break;
        }
        if (m->ncontainers > 0)
            rs_warn("store: %llu merged containers could not be flushed; "
                    "the WAL keeps them for the next start",
                    (unsigned long long)m->ncontainers);
        else if (m->flush_err == 0 && wal_drop_all(m->wal) != RS_OK)
            rs_warn("store: %s", rs_err_msg());
    }
    for (size_t h = 0; h < MERGE_HASH; h++) {
        while (m->table[h]) {
            struct merge_ctr *c = m->table[h];
            m->table[h] = c->next;
            ctr_free(c);
        }
        while (m->open[h]) {
            struct merge_open *o = m->open[h];
            m->open[h] = o->next;
            free(o->bucket);
            free(o);
        }
    }
    wal_close(m->wal);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->space);
    pthread_cond_destroy(&m->kick);
    free(m);
    s->mg = NULL;
}

/* ------------------------------------------------------------------ */
/* Statistics                                                           */
/* ------------------------------------------------------------------ */

void store__merge_gone(struct store *s, uint64_t length, uint64_t members)
{
    struct merge *m = s->mg;

    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->disk_containers -= m->disk_containers ? 1 : 0;
    m->disk_bytes -= m->disk_bytes >= length ? length : m->disk_bytes;
    m->disk_objects -= m->disk_objects >= members ? members
                                                   : m->disk_objects;
    pthread_mutex_unlock(&m->lock);
}

void store__merge_stats(struct store *s, struct store_merge_stats *out)
{
    struct merge *m = s->mg;
    struct wal_stats ws;

    memset(out, 0, sizeof *out);
    if (!m)
        return;
    wal_get_stats(m->wal, &ws);
    pthread_mutex_lock(&m->lock);
    out->enabled = true;
    out->cache_bytes = m->cache_used;
    out->cache_limit = m->cache_max;
    out->containers_open = m->ncontainers;
    out->containers_on_disk = m->disk_containers;
    out->bytes_on_disk = m->disk_bytes;
    out->objects_on_disk = m->disk_objects;
    for (size_t h = 0; h < MERGE_HASH; h++)
        for (struct merge_ctr *c = m->table[h]; c; c = c->next) {
            out->objects_in_memory += c->nmembers;
            out->bytes_in_memory += c->member_bytes;
        }
    out->objects_logged = m->objects;
    out->bytes_logged = m->bytes;
    out->flushes = m->flushes;
    out->flush_bytes = m->flush_bytes;
    out->flush_seconds = m->flush_seconds;
    out->flush_errors = m->flush_errors;
    out->replay_records = m->replay.records;
    out->replay_seconds = m->replay.seconds;
    pthread_mutex_unlock(&m->lock);
    out->wal_fsyncs = ws.fsyncs;
    out->wal_records = ws.records;
    out->wal_bytes = ws.bytes;
    out->wal_segments = ws.segments;
    out->wal_failed_batches = ws.failed_batches;
    memcpy(out->wal_batch_hist, ws.batch_hist, sizeof ws.batch_hist);
}
