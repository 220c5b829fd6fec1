/*
 * store/append.c - appendable objects: the log-based append write of
 * seed 003 (an object grows without being uploaded again).
 *
 * THE TAIL.  An object that grows by append keeps its bytes where they
 * are and gets new ones at the end of one container, its tail, in
 * block-sized slots: slot i of the tail is block data bytes followed by
 * the CRC32C of that block, exactly an extent of len = block, so the full
 * slots of a tail are one run of the ordinary layout (layout.c) however
 * many appends filled them.  The last, partial block (the open block) is
 * a run of its own flagged STORE_RUN_OPEN whose CRC lives in the layout,
 * not in the container: its slot's CRC field is written only when a later
 * append fills the block.  An append therefore writes only past the
 * object's last byte (data first, then that slot's CRC, then whole slots,
 * then the new open block's data: one contiguous sequential write) and
 * never rewrites a byte a reader can see, and the layout of an object
 * stays a handful of runs however long it grows: the cost of an append
 * does not grow with the object.
 *
 * Where the tail is (seed step 4), from the object's layout:
 *   - an object that grew by append before, or one uploaded whole
 *     ("atomic": its own container): the tail continues its last
 *     container, right after its last extent (or in its open block);
 *   - an object made by multipart upload: a new container (the parts'
 *     numbering continues in a new stripe);
 *   - a small object in a merged container (merge.c): its bytes are copied
 *     into a new container first, as the first bytes of the tail, and its
 *     merged extent is counted dead; the client never sees the move;
 *   - a missing object (position 0) or an empty one: a new container.
 *
 * THE JOURNAL (seed steps 3-6).  Every append keeps a record j/<bucket>/
 * <key> in the index that moves through INIT (before the checks),
 * WRITING (container and offset chosen, before any byte is written),
 * DATA (the bytes are durable) and COMPLETE, each transition written
 * with sync.  COMPLETE is written in the same index batch as the new
 * object record, so an append is complete exactly when its metadata is;
 * the record is then removed.  At open (store__append_recover) every
 * record not COMPLETE is rolled back: a tail container this append created
 * is removed, a continued one is cut back to where the append began.  So
 * after a crash an object is exactly its last acknowledged length: no
 * torn tail, no lost acknowledged append (and an unacknowledged one is
 * never finished, even when its bytes made it to disk).
 *
 * JOURNAL RECORD, version 1, 44 bytes, little-endian:
 *   0  u8      version = 1
 *   1  u8      state: 1 INIT, 2 WRITING, 3 DATA, 4 COMPLETE
 *   2  u8      group of the tail container
 *   3  u8      flags: bit 0 = the append created the tail container
 *   4  u8[16]  tail container name (zero before WRITING)
 *   20 u64     offset in the tail where this append's bytes begin
 *   28 u64     the object's length before the append (the position)
 *   36 u64     its length after (from DATA on)
 *
 * METADATA (seed step 5).  The object record keeps its usual members
 * (size, mtime, ACL, tags, headers) plus "appends" (how many appends it
 * took) and "crc64", the CRC-64/NVME of the whole content, kept
 * incrementally (computed once over the existing bytes at the first
 * append unless the upload stored one).  Its ETag becomes
 * "<crc64 as 16 hex digits>-<appends>": it changes with every append (an
 * If-Match reader sees the object grew) and, having a '-', no client
 * takes it for an MD5.  An object that grew by append is no longer a
 * multipart object (parts_count 0) and its only stored checksum is the
 * CRC64NVME.
 *
 * CONCURRENCY.  One append per object at a time: an appender claims the
 * object (struct app_claim; others wait for it) from open to the end of
 * commit, so two writers at the same position are served one after the
 * other and the second finds the new length (RS_ECONFLICT).  A PUT,
 * DELETE or tag change may still act meanwhile: commit re-reads the
 * record under the key lock, accepts tag and ACL changes (keeping them)
 * and fails with RS_ECONFLICT when the data changed.
 *
 * LOCKS: s->app_lock (the claims) is a leaf taken alone; commit takes the
 * bucket lock (read) then the key lock, as writer.c does.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JR_VERSION 1
#define JR_SIZE 44
#define JR_NEW 1

enum jr_state { JR_INIT = 1, JR_WRITING = 2, JR_DATA = 3, JR_COMPLETE = 4 };

/* Bytes gathered before one write to the tail. */
#define APP_BUF (1u << 20)

struct app_claim {
    struct app_claim *next;
    char *bucket, *key;
};

struct store_appender {
    struct store *s;
    char *bucket, *key;
    struct app_claim *claim;
    char jkey[IDX_KEY_MAX];
    size_t jklen;

    bool exists;
    uint64_t position;             /* length before */
    char *oldv;                    /* the record at open (NULL: none) */
    size_t oldvlen;
    struct store_layout old;       /* its layout */
    struct store_obj create;       /* metadata for a new object */
    struct rs_arena *a;            /* create's strings */
    uint32_t appends;              /* appends before this one */

    /* The new layout: the old one without its open run, plus the full
     * slots written, plus the new open run at commit. */
    struct store_layout l;
    struct store_run dead;         /* merged extent moved out, or none */
    bool has_dead;
    char container[STORE_CNAME_SIZE];
    uint8_t group;
    bool newc;                     /* this append creates the tail */
    struct store_bk_file *f;
    uint64_t start;                /* tail offset of this append's bytes */
    uint64_t slot;                 /* tail offset of the open block */
    uint64_t open_len;             /* bytes in the open block */
    uint32_t open_crc;
    uint8_t *buf;                  /* bytes to write at the tail's end */
    size_t buflen;
    uint64_t size;                 /* the object's length so far */
    uint64_t crc64;
    bool failed;
};

/* ------------------------------------------------------------------ */
/* Claims                                                               */
/* ------------------------------------------------------------------ */

static struct app_claim *claim(struct store *s, const char *bucket,
                               const char *key)
{
    struct app_claim *c = rs_xcalloc(1, sizeof *c);

    c->bucket = rs_xstrdup(bucket);
    c->key = rs_xstrdup(key);
    pthread_mutex_lock(&s->app_lock);
    for (;;) {
        struct app_claim *p;
        for (p = s->claims; p; p = p->next)
            if (!strcmp(p->key, key) && !strcmp(p->bucket, bucket))
                break;
        if (!p)
            break;
        pthread_cond_wait(&s->app_cond, &s->app_lock);
    }
    c->next = s->claims;
    s->claims = c;
    pthread_mutex_unlock(&s->app_lock);
    return c;
}

static void unclaim(struct store *s, struct app_claim *c)
{
    struct app_claim **pp;

    if (!c)
        return;
    pthread_mutex_lock(&s->app_lock);
    for (pp = &s->claims; *pp; pp = &(*pp)->next)
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    pthread_cond_broadcast(&s->app_cond);
    pthread_mutex_unlock(&s->app_lock);
    free(c->bucket);
    free(c->key);
    free(c);
}

/* ------------------------------------------------------------------ */
/* Journal                                                              */
/* ------------------------------------------------------------------ */

static void hex2bin(uint8_t *out, const char *hex)
{
    for (int i = 0; i < 16; i++) {
        int hi = hex[2 * i], lo = hex[2 * i + 1];
        hi = hi <= '9' ? hi - '0' : hi - 'a' + 10;
        lo = lo <= '9' ? lo - '0' : lo - 'a' + 10;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
}

static void bin2hex(char *out, const uint8_t *bin)
{
    static const char hex[] = "0123456789abcdef";

    for (int i = 0; i < 16; i++) {
        out[2 * i] = hex[bin[i] >> 4];
        out[2 * i + 1] = hex[bin[i] & 15];
    }
    out[32] = '\0';
}

static void jr_encode(uint8_t *v, const struct store_appender *ap,
                      enum jr_state st)
{
    memset(v, 0, JR_SIZE);
    v[0] = JR_VERSION;
    v[1] = (uint8_t)st;
    v[2] = ap->group;
    v[3] = ap->newc ? JR_NEW : 0;
    if (st >= JR_WRITING)
        hex2bin(v + 4, ap->container);
    rs_put64le(v + 20, ap->start);
    rs_put64le(v + 28, ap->position);
    rs_put64le(v + 36, st >= JR_DATA ? ap->size : ap->position);
}

/* Write the journal record in state st, with sync. */
static int jr_put(struct store_appender *ap, enum jr_state st)
{
    struct idx_batch *b = idx_batch_begin(ap->s->ix);
    uint8_t v[JR_SIZE];

    jr_encode(v, ap, st);
    idx_batch_put(b, ap->jkey, ap->jklen, (const char *)v, JR_SIZE);
    return idx_batch_commit(b, true);
}

/* Remove the journal record (no sync: a record left by a crash is rolled
 * back, or found complete, at the next open). */
static void jr_drop(struct store *s, const char *k, size_t klen)
{
    struct idx_batch *b = idx_batch_begin(s->ix);

    idx_batch_delete(b, k, klen);
    if (idx_batch_commit(b, false) != RS_OK)
        rs_warn("store: cannot remove append journal record: %s",
                rs_err_msg());
}

/*
 * Undo the bytes of an append that did not complete: remove the tail
 * container it created, or cut the continued one back to where the append
 * began.  Both only touch bytes no committed layout references.
 */
static int roll_back(struct store *s, const char *container, uint8_t group,
                     bool newc, uint64_t start)
{
    struct store_group *g;
    struct store_bk_file *f;
    int rc;

    if (group >= STORE_NGROUPS || !s->groups[group].g)
        return rs_err_set(RS_ECORRUPT, "append journal: bad group %u",
                          group);
    g = &s->groups[group];
    if (newc) {
        rc = g->ops->remove(g->g, container);
        return rc == RS_ENOTFOUND ? RS_OK : rc;
    }
    rc = g->ops->open(&f, g->g, container, STORE_BK_APPEND);
    if (rc == RS_ENOTFOUND)
        return RS_OK;
    if (rc != RS_OK)
        return rc;
    if (g->ops->truncate && (rc = g->ops->truncate(f, start)) == RS_OK)
        rc = f->ops->sync(f);
    g->ops->close(f);
    return rc;
}

int store__append_recover(struct store *s)
{
    struct idx_iter *it;
    int rc = RS_OK;
    size_t rolled = 0, done = 0;

    idx_iter_open(&it, s->ix, IDX_PREFIX_JOURNAL, 2);
    for (idx_iter_seek(it, IDX_PREFIX_JOURNAL, 2); idx_iter_valid(it);
         idx_iter_next(it)) {
        size_t kl, vl;
        const char *k = idx_iter_key(it, &kl);
        const uint8_t *v = (const uint8_t *)idx_iter_value(it, &vl);
        char container[STORE_CNAME_SIZE];

        if (vl != JR_SIZE || v[0] != JR_VERSION) {
            rs_warn("store: append journal record %.*s unreadable (%zu "
                    "bytes); dropped", (int)kl, k, vl);
        } else if (v[1] == JR_COMPLETE) {
            done++;
        } else if (v[1] >= JR_WRITING) {
            bin2hex(container, v + 4);
            rc = roll_back(s, container, v[2], (v[3] & JR_NEW) != 0,
                           rs_get64le(v + 20));
            if (rc != RS_OK)
                break;
            rolled++;
        }
        jr_drop(s, k, kl);
    }
    if (rc == RS_OK)
        rc = idx_iter_status(it);
    idx_iter_close(it);
    if (rolled || done)
        rs_info("store: append journal: %zu interrupted appends rolled "
                "back, %zu completed ones pruned", rolled, done);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Writing the tail                                                     */
/* ------------------------------------------------------------------ */

static int tail_write(struct store_appender *ap)
{
    int rc;

    if (ap->buflen == 0)
        return RS_OK;
    rs_crashpoint("append-writing");
    rc = ap->f->ops->append(ap->f, ap->buf, ap->buflen);
    ap->buflen = 0;
    return rc;
}

static int tail_put(struct store_appender *ap, const void *p, size_t n)
{
    memcpy(ap->buf + ap->buflen, p, n);
    ap->buflen += n;
    return ap->buflen >= APP_BUF ? tail_write(ap) : RS_OK;
}

/* Feed n bytes into the open block, closing full blocks into slots. */
static int tail_add(struct store_appender *ap, const uint8_t *p, size_t n)
{
    uint32_t block = ap->s->block_size;
    int rc;

    while (n > 0) {
        size_t k = block - ap->open_len;
        if (k > n)
            k = n;
        if (k > APP_BUF - ap->buflen)
            k = APP_BUF - ap->buflen;
        memcpy(ap->buf + ap->buflen, p, k);
        ap->buflen += k;
        ap->open_crc = rs_crc32c(ap->open_crc, p, k);
        ap->open_len += k;
        p += k;
        n -= k;
        if (ap->open_len == block) {
            uint8_t le[4];
            rs_put32le(le, ap->open_crc);
            if (ap->buflen + 4 > APP_BUF && (rc = tail_write(ap)) != RS_OK)
                return rc;
            if ((rc = tail_put(ap, le, 4)) != RS_OK)
                return rc;
            store__layout_add(&ap->l, ap->container, ap->group, block,
                              ap->slot, block);
            ap->slot += (uint64_t)block + 4;
            ap->open_len = 0;
            ap->open_crc = 0;
        } else if (ap->buflen >= APP_BUF &&
                   (rc = tail_write(ap)) != RS_OK) {
            return rc;
        }
    }
    return RS_OK;
}

int store_append_write(struct store_appender *ap, const void *p, size_t n)
{
    int rc;

    if (ap->failed)
        return rs_err_set(RS_EIO, "append already failed");
    if (n == 0)
        return RS_OK;
    if (n > ap->s->max_object_size || ap->size > ap->s->max_object_size - n) {
        ap->failed = true;
        return rs_err_set(RS_ETOOBIG, "object would pass %llu bytes",
                          (unsigned long long)ap->s->max_object_size);
    }
    ap->crc64 = rs_crc64nvme(ap->crc64, p, n);
    ap->size += n;
    if ((rc = tail_add(ap, p, n)) != RS_OK)
        ap->failed = true;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Open                                                                 */
/* ------------------------------------------------------------------ */

static void appender_free(struct store_appender *ap)
{
    if (!ap)
        return;
    if (ap->f)
        ap->f->ops->close(ap->f);
    unclaim(ap->s, ap->claim);
    store__layout_dispose(&ap->old);
    store__layout_dispose(&ap->l);
    rs_arena_free(ap->a);
    free(ap->oldv);
    free(ap->buf);
    free(ap->bucket);
    free(ap->key);
    free(ap);
}

/* The stored CRC64NVME of an uploaded object, if it has one. */
static bool stored_crc64(const struct store_obj *o, uint64_t *out)
{
    for (size_t i = 0; i < o->nchecksums; i++) {
        uint8_t raw[12];
        const char *v = o->checksums[i].value;
        if (strcmp(o->checksums[i].name, "CRC64NVME") != 0 || !v)
            continue;
        if (rs_base64_decode(raw, sizeof raw, v, strlen(v)) != 8)
            return false;
        *out = 0;
        for (int k = 0; k < 8; k++)
            *out = *out << 8 | raw[k];
        return true;
    }
    return false;
}

/* Read the object's current bytes: fold them into the CRC64 and, when
 * copy is set, into the tail (a merged object moving out). */
static int read_old(struct store_appender *ap, const struct store_obj *o,
                    bool copy)
{
    struct store_reader *r;
    uint8_t *buf = rs_xmalloc(1u << 20);
    uint64_t off = 0;
    int rc;

    if ((rc = store_reader_open(ap->s, &r, o)) != RS_OK) {
        free(buf);
        return rc;
    }
    while (off < o->size) {
        size_t got = 0;
        if ((rc = store_reader_read(r, off, buf, 1u << 20, &got)) != RS_OK)
            break;
        if (got == 0) {
            rc = rs_err_set(RS_ECORRUPT, "%s/%s: short read at %llu",
                            ap->bucket, ap->key, (unsigned long long)off);
            break;
        }
        ap->crc64 = rs_crc64nvme(ap->crc64, buf, got);
        if (copy && (rc = tail_add(ap, buf, got)) != RS_OK)
            break;
        off += got;
    }
    store_reader_close(r);
    free(buf);
    return rc;
}

/* dst = src, runs with their flags (store__layout_append re-adds runs as
 * plain extents). */
static void layout_copy(struct store_layout *dst, const struct store_layout *src)
{
    store__layout_dispose(dst);
    dst->nruns = dst->cap = src->nruns;
    dst->size = src->size;
    dst->runs = src->nruns ? rs_xmalloc(src->nruns * sizeof *dst->runs)
                           : NULL;
    if (src->nruns)
        memcpy(dst->runs, src->runs, src->nruns * sizeof *dst->runs);
}

/* Choose the tail, open it, and (for a merged object) copy its bytes. */
static int tail_open(struct store_appender *ap, const struct store_obj *o)
{
    struct store *s = ap->s;
    const struct store_run *last =
        ap->old.nruns ? &ap->old.runs[ap->old.nruns - 1] : NULL;
    bool merged = last && (last->flags & STORE_RUN_MERGED);
    bool multipart = o && o->parts_count > 0 && o->appends == 0;
    enum store_class cls = STORE_CLASS_STANDARD;
    struct store_group *g;
    int rc;

    store__layout_dispose(&ap->l);
    if (!last || merged || multipart) {
        if (o)
            (void)store_class_parse(&cls, o->storage_class);
        else if (ap->create.storage_class)
            (void)store_class_parse(&cls, ap->create.storage_class);
        ap->group = last ? last->group : (uint8_t)cls;
        ap->newc = true;
        store__new_name(ap->container);
        ap->slot = ap->start = 0;
        if (!merged)
            layout_copy(&ap->l, &ap->old);
    } else {
        ap->group = last->group;
        ap->newc = false;
        memcpy(ap->container, last->container, STORE_CNAME_SIZE);
        layout_copy(&ap->l, &ap->old);
        if (last->flags & STORE_RUN_OPEN) {
            /* Continue the open block: drop its run, keep its bytes. */
            ap->l.size -= last->len;
            ap->l.nruns--;
            ap->slot = last->offset;
            ap->open_len = last->len;
            ap->open_crc = last->open_crc;
            ap->start = last->offset + last->len;
        } else {
            ap->slot = ap->start = store__run_end(last);
        }
    }
    g = &s->groups[ap->group];
    if (!g->g)
        return rs_err_set(RS_EINVAL, "storage group %u has no directories",
                          ap->group);
    /* Durable intent before the first byte (seed step 4). */
    if ((rc = jr_put(ap, JR_WRITING)) != RS_OK)
        return rc;
    rs_crashpoint("append-journal-writing");
    if (ap->newc) {
        rc = g->ops->open(&ap->f, g->g, ap->container, STORE_BK_CREATE);
    } else {
        rc = g->ops->open(&ap->f, g->g, ap->container, STORE_BK_APPEND);
        /* Drop whatever a crashed append left past the last byte. */
        if (rc == RS_OK && g->ops->truncate)
            rc = g->ops->truncate(ap->f, ap->start);
        else if (rc == RS_OK)
            rc = rs_err_set(RS_EINVAL, "backend %s cannot cut a tail",
                            g->ops->name);
    }
    if (rc != RS_OK)
        return rc;
    if (merged) {
        ap->dead = *last;
        ap->has_dead = true;
        ap->crc64 = 0;
        return read_old(ap, o, true);
    }
    return RS_OK;
}

int store_append_open(struct store *s, struct store_appender **out,
                      const struct store_append_req *req,
                      uint64_t *length_out, bool *too_many)
{
    struct store_appender *ap;
    struct idx_shardmap *m = NULL;
    struct store_obj o;
    bool need_crc = false;
    int rc;

    *out = NULL;
    *length_out = 0;
    *too_many = false;
    if ((rc = store__check_key(req->key)) != RS_OK)
        return rc;
    if ((rc = store__bucket_map(&m, s, req->bucket)) != RS_OK)
        return rc;

    ap = rs_xcalloc(1, sizeof *ap);
    ap->s = s;
    ap->bucket = rs_xstrdup(req->bucket);
    ap->key = rs_xstrdup(req->key);
    ap->a = rs_arena_new();
    ap->buf = rs_xmalloc(APP_BUF);
    ap->position = req->position;
    ap->jklen = idx_key_journal(ap->jkey, req->bucket, req->key);
    if (req->create) {
        ap->create = *req->create;
        ap->create.storage_class =
            req->create->storage_class
                ? rs_arena_strdup(ap->a, req->create->storage_class)
                : NULL;
    }
    ap->claim = claim(s, req->bucket, req->key);

    /* Seed step 3: log, then check permission and length. */
    if ((rc = jr_put(ap, JR_INIT)) != RS_OK)
        goto fail;
    rs_crashpoint("append-journal-init");
    rc = idx_obj_get(&ap->oldv, &ap->oldvlen, s->ix, m, req->bucket,
                     req->key);
    if (rc == RS_OK) {
        ap->exists = true;
        if ((rc = store__obj_decode(ap->a, &o, req->bucket, req->key,
                                    ap->oldv, ap->oldvlen)) != RS_OK)
            goto fail;
        if (o._layout &&
            (rc = store__layout_decode(&ap->old, o._layout,
                                       o._layout_len)) != RS_OK)
            goto fail;
        *length_out = o.size;
        if (req->allowed && !req->allowed(req->allowed_arg, &o.acl)) {
            rc = rs_err_set(RS_EDENIED, "no write permission on %s/%s",
                            req->bucket, req->key);
            goto fail;
        }
    } else if (rc != RS_ENOTFOUND) {
        goto fail;
    }
    if (req->position != *length_out) {
        rc = rs_err_set(RS_ECONFLICT, "position %llu is not the length "
                        "%llu", (unsigned long long)req->position,
                        (unsigned long long)*length_out);
        goto fail;
    }
    ap->appends = ap->exists ? o.appends : 0;
    if (ap->appends >= s->max_appends) {
        *too_many = true;
        rc = rs_err_set(RS_ETOOBIG, "%s/%s has %u appends, the most "
                        "allowed", req->bucket, req->key, ap->appends);
        goto fail;
    }
    ap->size = *length_out;
    if (ap->exists && o.appends > 0)
        ap->crc64 = o.crc64;
    else if (!ap->exists || o.size == 0)
        ap->crc64 = 0;
    else if (!stored_crc64(&o, &ap->crc64))
        need_crc = true;            /* read below, unless copied */

    if ((rc = tail_open(ap, ap->exists ? &o : NULL)) != RS_OK)
        goto fail;
    if (need_crc && !ap->has_dead) {
        ap->crc64 = 0;
        if ((rc = read_old(ap, &o, false)) != RS_OK)
            goto fail;
    }
    store__shardmap_free(m);
    *out = ap;
    return RS_OK;
fail:
    store__shardmap_free(m);
    store_append_abort(ap);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Commit and abort                                                     */
/* ------------------------------------------------------------------ */

void store_append_abort(struct store_appender *ap)
{
    if (!ap)
        return;
    if (ap->f) {
        ap->f->ops->close(ap->f);
        ap->f = NULL;
    }
    if (ap->container[0] &&
        roll_back(ap->s, ap->container, ap->group, ap->newc, ap->start) !=
            RS_OK)
        rs_warn("store: %s/%s: cannot roll back an append (%s); the next "
                "start does", ap->bucket, ap->key, rs_err_msg());
    else
        jr_drop(ap->s, ap->jkey, ap->jklen);
    appender_free(ap);
}

/* The object's record with the append applied. */
static char *new_record(struct store_appender *ap, struct store_obj *cur,
                        const void *blob, size_t bloblen)
{
    char etag[40], b64[16];
    struct rs_kv *ck = rs_arena_alloc(ap->a, sizeof *ck);

    snprintf(etag, sizeof etag, "%016llx-%u",
             (unsigned long long)ap->crc64, ap->appends + 1);
    rs_crc64nvme_b64(b64, ap->crc64);
    ck->name = "CRC64NVME";
    ck->value = rs_arena_strdup(ap->a, b64);
    cur->size = ap->size;
    cur->mtime_ns = rs_now_ns();
    cur->etag = rs_arena_strdup(ap->a, etag);
    cur->appends = ap->appends + 1;
    cur->crc64 = ap->crc64;
    cur->checksums = ck;
    cur->nchecksums = 1;
    cur->parts_count = 0;
    cur->part_sizes = NULL;
    if (!cur->storage_class)
        cur->storage_class = "STANDARD";
    return store__obj_encode(cur, blob, bloblen);
}

int store_append_commit(struct store_appender *ap, struct rs_arena *a,
                        struct store_obj *info, uint64_t *length_out)
{
    struct store *s = ap->s;
    struct idx_shardmap *m = NULL;
    pthread_rwlock_t *bl;
    pthread_mutex_t *kl;
    struct idx_batch *b;
    struct store_obj cur;
    uint8_t jv[JR_SIZE];
    char *curv = NULL, *val = NULL;
    size_t curvlen = 0, bloblen;
    void *blob = NULL;
    int rc;

    *length_out = ap->position;
    if (ap->failed) {
        rc = rs_err_set(RS_EIO, "append failed before commit");
        goto fail;
    }
    /* The new open block, then the bytes durable (seed step 5). */
    if (ap->open_len > 0) {
        store__layout_add(&ap->l, ap->container, ap->group,
                          s->block_size, ap->slot, ap->open_len);
        ap->l.runs[ap->l.nruns - 1].flags = STORE_RUN_OPEN;
        ap->l.runs[ap->l.nruns - 1].open_crc = ap->open_crc;
    }
    if ((rc = tail_write(ap)) != RS_OK || (rc = ap->f->ops->sync(ap->f)) !=
                                              RS_OK)
        goto fail;
    rs_crashpoint("append-data-synced");
    if ((rc = jr_put(ap, JR_DATA)) != RS_OK)
        goto fail;
    rs_crashpoint("append-journal-data");
    blob = store__layout_encode(&bloblen, &ap->l);

    bl = store__bucket_lock(s, ap->bucket);
    kl = store__key_lock(s, ap->bucket, ap->key);
    pthread_rwlock_rdlock(bl);
    pthread_mutex_lock(kl);
    if ((rc = store__bucket_map(&m, s, ap->bucket)) != RS_OK)
        goto unlock;
    rc = idx_obj_get(&curv, &curvlen, s->ix, m, ap->bucket, ap->key);
    if (rc != RS_OK && rc != RS_ENOTFOUND)
        goto unlock;
    if ((rc == RS_OK) != ap->exists) {
        rc = rs_err_set(RS_ECONFLICT, "%s/%s was %s meanwhile", ap->bucket,
                        ap->key, ap->exists ? "deleted" : "created");
        goto changed;
    }
    if (ap->exists) {
        struct store_obj o;
        if ((rc = store__obj_decode(ap->a, &cur, ap->bucket, ap->key, curv,
                                    curvlen)) != RS_OK ||
            (rc = store__obj_decode(ap->a, &o, ap->bucket, ap->key,
                                    ap->oldv, ap->oldvlen)) != RS_OK)
            goto unlock;
        /* Tags and ACL may have changed meanwhile; the data may not. */
        if (cur.size != o.size || cur._layout_len != o._layout_len ||
            (cur._layout_len &&
             memcmp(cur._layout, o._layout, cur._layout_len) != 0)) {
            rc = rs_err_set(RS_ECONFLICT, "%s/%s changed meanwhile",
                            ap->bucket, ap->key);
            goto changed;
        }
    } else {
        cur = ap->create;
        cur.bucket = ap->bucket;
        cur.key = ap->key;
    }
    val = new_record(ap, &cur, blob, bloblen);
    b = idx_batch_begin(s->ix);
    idx_obj_put(b, m, ap->bucket, ap->key, val, strlen(val));
    if (ap->has_dead)
        store__merge_dead(b, &ap->dead);
    jr_encode(jv, ap, JR_COMPLETE);
    idx_batch_put(b, ap->jkey, ap->jklen, (const char *)jv, JR_SIZE);
    {
        /* the event carries old and new length: a worker processes only
         * the new bytes */
        struct store_event ev = {STORE_EV_APPEND, ap->bucket, ap->key, &cur,
                                 ap->position, ap->size};
        uint64_t evseq = store__event_add(s, b, &ev);
        rc = idx_batch_commit(b, true);
        store__event_done(s, evseq);
    }
    if (rc == RS_OK) {
        rs_crashpoint("append-complete");
        *length_out = ap->size;
        if (info) {
            rc = store__obj_decode(a, info, ap->bucket, ap->key, val,
                                   strlen(val));
            if (rc != RS_OK) /* it is committed: report it so */
                rc = RS_OK;
        }
    }
    goto unlock;
changed:
    *length_out = 0;
    if (curv && store__obj_decode(ap->a, &cur, ap->bucket, ap->key, curv,
                                  curvlen) == RS_OK)
        *length_out = cur.size;
unlock:
    pthread_mutex_unlock(kl);
    pthread_rwlock_unlock(bl);
    store__shardmap_free(m);
    free(curv);
    free(val);
    free(blob);
    if (rc != RS_OK)
        goto fail;
    ap->f->ops->close(ap->f);
    ap->f = NULL;
    jr_drop(s, ap->jkey, ap->jklen);
    appender_free(ap);
    return RS_OK;
fail:
    store_append_abort(ap);
    return rc;
}
