/*
 * store/mpu.c - multipart uploads: create, look up, list, complete, abort
 * (part writers are in writer.c).
 *
 * RECORDS (idx.c, rec.c): m/<bucket>/<key>\0<upload id> holds the upload
 * with the metadata of the final object; q/<upload id>/<nnnnn> holds each
 * part with its own layout (one container per part).  Upload ids are 128
 * random bits in hex: unguessable and URL-safe.
 *
 * COMPLETION builds the object's layout by concatenating the named parts'
 * layouts (no data is copied) and, in one synced batch, writes the object
 * record, deletes the upload and every part record, and makes garbage of
 * the parts not named and of the object it replaces.
 *
 * LOCKS: the upload's lock is the key lock of (bucket, key), also taken by
 * part commits, so completion sees a stable set of parts; the bucket lock
 * (read) keeps the bucket alive.  Order as in store_int.h.
 */
#include "store/store_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------------ */
/* Create, get                                                          */
/* ------------------------------------------------------------------ */

int store_upload_create(struct store *s, struct rs_arena *a,
                        const char **upload_id_out,
                        const struct store_upload *u)
{
    struct store_upload rec = *u;
    struct idx_shardmap *m = NULL;
    enum store_class cls;
    pthread_rwlock_t *bl;
    struct idx_batch *b;
    char id[STORE_CNAME_SIZE];
    char k[IDX_KEY_MAX];
    size_t kl;
    char *v;
    int rc;

    *upload_id_out = NULL;
    if ((rc = store__check_key(u->key)) != RS_OK)
        return rc;
    if ((rc = store_class_parse(&cls, u->info.storage_class)) != RS_OK)
        return rc;
    store__new_name(id);
    if (rec.initiated_ns == 0)
        rec.initiated_ns = rs_now_ns();
    if (!rec.info.storage_class || !*rec.info.storage_class)
        rec.info.storage_class = "STANDARD";
    rec.info.parts_count = 0;
    v = store__upload_encode(&rec);
    kl = idx_key_upload(k, u->bucket, u->key, id);

    bl = store__bucket_lock(s, u->bucket);
    pthread_rwlock_rdlock(bl);
    if ((rc = store__bucket_map(&m, s, u->bucket)) == RS_OK) {
        b = idx_batch_begin(s->ix);
        idx_batch_put(b, k, kl, v, strlen(v));
        rc = idx_batch_commit(b, true);
    }
    pthread_rwlock_unlock(bl);
    store__shardmap_free(m);
    free(v);
    if (rc == RS_OK)
        *upload_id_out = rs_arena_strdup(a, id);
    return rc;
}

int store_upload_get(struct store *s, struct rs_arena *a,
                     struct store_upload *out, const char *bucket,
                     const char *key, const char *upload_id)
{
    char k[IDX_KEY_MAX];
    size_t kl, vl;
    char *v;
    int rc;

    memset(out, 0, sizeof *out);
    if (store__check_key(key) != RS_OK || !upload_id || !*upload_id ||
        strlen(upload_id) > 64 || strlen(bucket) > 63)
        return rs_err_set(RS_ENOTFOUND, "no such upload");
    kl = idx_key_upload(k, bucket, key, upload_id);
    if ((rc = idx_get(&v, &vl, s->ix, k, kl)) != RS_OK)
        return rc == RS_ENOTFOUND
                   ? rs_err_set(rc, "no upload %s for %s/%s", upload_id,
                                bucket, key)
                   : rc;
    rc = store__upload_decode(a, out, v, vl);
    free(v);
    if (rc != RS_OK)
        return rc;
    out->bucket = rs_arena_strdup(a, bucket);
    out->key = rs_arena_strdup(a, key);
    out->upload_id = rs_arena_strdup(a, upload_id);
    out->info.bucket = out->bucket;
    out->info.key = out->key;
    return RS_OK;
}

/* ------------------------------------------------------------------ */
/* Parts                                                                */
/* ------------------------------------------------------------------ */

int store_part_list(struct store *s, struct rs_arena *a, const char *bucket,
                    const char *key, const char *upload_id, uint32_t marker,
                    size_t max,
                    int (*cb)(void *arg, const struct store_part *p),
                    void *arg, bool *truncated)
{
    struct store_upload u;
    struct idx_iter *it;
    char k[IDX_KEY_MAX];
    size_t kl, n = 0;
    int rc;

    *truncated = false;
    if ((rc = store_upload_get(s, a, &u, bucket, key, upload_id)) != RS_OK)
        return rc;
    kl = idx_key_part_prefix(k, upload_id);
    idx_iter_open(&it, s->ix, k, kl);
    kl = idx_key_part(k, upload_id, marker >= 10000 ? 10001 : marker + 1);
    for (idx_iter_seek(it, k, kl); idx_iter_valid(it); idx_iter_next(it)) {
        struct store_part p;
        size_t vl;
        const char *v = idx_iter_value(it, &vl);

        if (max && n == max) {
            *truncated = true;
            break;
        }
        if ((rc = store__part_decode(a, &p, v, vl)) != RS_OK)
            break;
        n++;
        if ((rc = cb(arg, &p)) != 0)
            break;
    }
    if (rc == RS_OK)
        rc = idx_iter_status(it);
    idx_iter_close(it);
    return rc;
}

/* One part of an upload, as completion sees it. */
struct mpu_part {
    uint32_t number;
    char *etag;                 /* malloc'ed */
    uint64_t size;
    struct store_layout l;
    bool used;
};

static void parts_free(struct mpu_part *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(p[i].etag);
        store__layout_dispose(&p[i].l);
    }
    free(p);
}

/* All parts of an upload in number order, with their layouts; the batch,
 * when given, gets the deletion of every part record. */
static int parts_load(struct store *s, struct mpu_part **out, size_t *n_out,
                      const char *upload_id, struct idx_batch *b)
{
    struct rs_arena *a = rs_arena_new();
    struct mpu_part *v = NULL;
    size_t n = 0, cap = 0;
    struct idx_iter *it;
    char k[IDX_KEY_MAX];
    size_t kl;
    int rc = RS_OK;

    kl = idx_key_part_prefix(k, upload_id);
    idx_iter_open(&it, s->ix, k, kl);
    for (idx_iter_seek(it, k, kl); idx_iter_valid(it); idx_iter_next(it)) {
        size_t rkl, vl;
        const char *rk = idx_iter_key(it, &rkl);
        const char *rv = idx_iter_value(it, &vl);
        struct store_part p;

        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            v = rs_xrealloc(v, cap * sizeof *v);
        }
        memset(&v[n], 0, sizeof v[n]);
        if ((rc = store__part_decode(a, &p, rv, vl)) != RS_OK)
            break;
        if ((rc = store__rec_layout(&v[n].l, rv, vl)) != RS_OK)
            break;
        v[n].number = p.number;
        v[n].size = p.size;
        v[n].etag = rs_xstrdup(p.etag ? p.etag : "");
        n++;
        if (b)
            idx_batch_delete(b, rk, rkl);
    }
    if (rc == RS_OK)
        rc = idx_iter_status(it);
    idx_iter_close(it);
    rs_arena_free(a);
    if (rc != RS_OK) {
        if (v && n < cap)
            store__layout_dispose(&v[n].l);
        parts_free(v, n);
        return rc;
    }
    *out = v;
    *n_out = n;
    return RS_OK;
}

static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* "<32 hex>" -> 16 bytes; false when it is not that. */
static bool md5_of_hex(uint8_t out[16], const char *h)
{
    if (!h || strlen(h) != 32)
        return false;
    for (int i = 0; i < 16; i++) {
        int hi = unhex(h[2 * i]), lo = unhex(h[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return true;
}

/*
 * Without per-part etags from the caller, the parts are re-checked through
 * the final etag: the S3 multipart etag is md5(md5(part1) .. md5(partN))
 * in hex, "-N"; the caller computed it from the etags it validated, so a
 * part replaced since then changes it.  An etag of another form cannot be
 * checked this way and is accepted.
 */
static bool multipart_etag_matches(const char *etag,
                                   struct mpu_part *const *used, size_t n)
{
    char want[64], hex[33];
    uint8_t d[16];
    struct rs_md5 h;

    if (!etag || !strchr(etag, '-'))
        return true;
    snprintf(want, sizeof want, "-%zu", n);
    if (strlen(etag) != 32 + strlen(want) || strcmp(etag + 32, want) != 0)
        return true;
    rs_md5_init(&h);
    for (size_t i = 0; i < n; i++) {
        if (!md5_of_hex(d, used[i]->etag)) {
            rs_md5_final(&h, d);
            return true;
        }
        rs_md5_update(&h, d, 16);
    }
    rs_md5_final(&h, d);
    rs_hex(hex, d, 16);
    return strncasecmp(hex, etag, 32) == 0;
}

int store_upload_complete_etags(struct store *s, const char *bucket,
                                const char *key, const char *upload_id,
                                const uint32_t *part_numbers,
                                const char *const *etags, size_t nparts,
                                struct store_obj *info)
{
    struct rs_arena *a = rs_arena_new();
    struct idx_shardmap *m = NULL;
    struct mpu_part *parts = NULL, **used = NULL;
    struct store_layout l = {0}, old = {0};
    struct store_upload u;
    struct store_obj rec;
    pthread_rwlock_t *bl;
    pthread_mutex_t *kl;
    struct idx_batch *b = NULL;
    uint64_t *sizes = NULL;
    size_t nall = 0, j = 0, vl, ngarb = 0, blen = 0;
    char k[IDX_KEY_MAX];
    char *v = NULL, *val = NULL;
    void *blob = NULL;
    int rc;

    if (nparts == 0 || nparts > 10000) {
        rs_arena_free(a);
        return rs_err_set(RS_EINVAL, "%zu parts (1..10000)", nparts);
    }
    for (size_t i = 1; i < nparts; i++) {
        if (part_numbers[i] <= part_numbers[i - 1]) {
            rs_arena_free(a);
            return rs_err_set(RS_EINVAL, "part numbers not increasing");
        }
    }
    bl = store__bucket_lock(s, bucket);
    kl = store__key_lock(s, bucket, key);
    pthread_rwlock_rdlock(bl);
    pthread_mutex_lock(kl);
    if ((rc = store__bucket_map(&m, s, bucket)) != RS_OK)
        goto out;
    if ((rc = store_upload_get(s, a, &u, bucket, key, upload_id)) != RS_OK)
        goto out;
    b = idx_batch_begin(s->ix);
    if ((rc = parts_load(s, &parts, &nall, upload_id, b)) != RS_OK)
        goto out;

    used = rs_xcalloc(nparts, sizeof *used);
    sizes = rs_xcalloc(nparts, sizeof *sizes);
    for (size_t i = 0; i < nparts; i++) {
        while (j < nall && parts[j].number < part_numbers[i])
            j++;
        if (j == nall || parts[j].number != part_numbers[i]) {
            rc = rs_err_set(RS_ECONFLICT, "upload %s: part %u is missing",
                            upload_id, part_numbers[i]);
            goto out;
        }
        if (etags && etags[i] && strcasecmp(etags[i], parts[j].etag) != 0) {
            rc = rs_err_set(RS_ECONFLICT, "upload %s: part %u changed "
                            "(etag %s, expected %s)", upload_id,
                            part_numbers[i], parts[j].etag, etags[i]);
            goto out;
        }
        parts[j].used = true;
        used[i] = &parts[j];
        sizes[i] = parts[j].size;
        store__layout_append(&l, &parts[j].l);
    }
    if (!etags && !multipart_etag_matches(info->etag, used, nparts)) {
        rc = rs_err_set(RS_ECONFLICT, "upload %s: parts changed since the "
                        "etag %s was computed", upload_id, info->etag);
        goto out;
    }

    /* The replaced object, if any. */
    rc = idx_obj_get(&v, &vl, s->ix, m, bucket, key);
    if (rc == RS_OK) {
        if (store__rec_layout(&old, v, vl) != RS_OK) {
            rs_warn("store: %s/%s: replaced record unreadable (%s); its "
                    "data is not collected", bucket, key, rs_err_msg());
            memset(&old, 0, sizeof old);
        }
    } else if (rc != RS_ENOTFOUND) {
        goto out;
    }

    rec = *info;
    rec.bucket = (char *)bucket;
    rec.key = (char *)key;
    rec.size = l.size;
    rec.mtime_ns = rs_now_ns();
    rec.storage_class = u.info.storage_class ? u.info.storage_class
                                             : info->storage_class;
    rec.parts_count = (uint32_t)nparts;
    rec.part_sizes = sizes;
    blob = store__layout_encode(&blen, &l);
    val = store__obj_encode(&rec, blob, blen);
    idx_obj_put(b, m, bucket, key, val, strlen(val));
    idx_batch_delete(b, k, idx_key_upload(k, bucket, key, upload_id));
    for (size_t i = 0; i < nall; i++)
        if (!parts[i].used)
            ngarb += store__garbage_add(b, &parts[i].l);
    ngarb += store__garbage_add(b, &old);
    {
        struct store_event ev = {STORE_EV_COMPLETE_MULTIPART, bucket, key,
                                 &rec, 0, 0};
        uint64_t evseq = store__event_add(s, b, &ev);
        rc = idx_batch_commit(b, true);
        store__event_done(s, evseq);
    }
    b = NULL;
    if (rc == RS_OK) {
        atomic_fetch_add(&s->gc_pending, ngarb);
        info->size = rec.size;
        info->mtime_ns = rec.mtime_ns;
        info->parts_count = rec.parts_count;
        info->_layout = NULL;
        info->_layout_len = 0;
    }
out:
    pthread_mutex_unlock(kl);
    pthread_rwlock_unlock(bl);
    idx_batch_abort(b);
    parts_free(parts, nall);
    store__layout_dispose(&l);
    store__layout_dispose(&old);
    store__shardmap_free(m);
    free(used);
    free(sizes);
    free(v);
    free(val);
    free(blob);
    rs_arena_free(a);
    return rc;
}

int store_upload_complete(struct store *s, const char *bucket,
                          const char *key, const char *upload_id,
                          const uint32_t *part_numbers, size_t nparts,
                          struct store_obj *info)
{
    return store_upload_complete_etags(s, bucket, key, upload_id,
                                       part_numbers, NULL, nparts, info);
}

int store_upload_abort(struct store *s, const char *bucket, const char *key,
                       const char *upload_id)
{
    struct rs_arena *a = rs_arena_new();
    struct mpu_part *parts = NULL;
    struct store_upload u;
    pthread_rwlock_t *bl;
    pthread_mutex_t *kl;
    struct idx_batch *b = NULL;
    char k[IDX_KEY_MAX];
    size_t n = 0, ngarb = 0;
    int rc;

    if (store__check_key(key) != RS_OK) {
        rs_arena_free(a);
        return rs_err_set(RS_ENOTFOUND, "no such upload");
    }
    bl = store__bucket_lock(s, bucket);
    kl = store__key_lock(s, bucket, key);
    pthread_rwlock_rdlock(bl);
    pthread_mutex_lock(kl);
    if ((rc = store_upload_get(s, a, &u, bucket, key, upload_id)) != RS_OK)
        goto out;
    b = idx_batch_begin(s->ix);
    if ((rc = parts_load(s, &parts, &n, upload_id, b)) != RS_OK)
        goto out;
    for (size_t i = 0; i < n; i++)
        ngarb += store__garbage_add(b, &parts[i].l);
    idx_batch_delete(b, k, idx_key_upload(k, bucket, key, upload_id));
    rc = idx_batch_commit(b, true);
    b = NULL;
    if (rc == RS_OK)
        atomic_fetch_add(&s->gc_pending, ngarb);
out:
    pthread_mutex_unlock(kl);
    pthread_rwlock_unlock(bl);
    idx_batch_abort(b);
    parts_free(parts, n);
    rs_arena_free(a);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Listing uploads                                                      */
/* ------------------------------------------------------------------ */

static int bytes_cmp(const char *a, size_t an, const char *b, size_t bn)
{
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c != 0)
        return c;
    return an < bn ? -1 : an > bn;
}

int store_upload_list(struct store *s, struct rs_arena *a, const char *bucket,
                      const struct store_upload_list_opts *o,
                      int (*cb)(void *arg, const struct store_upload_entry *e),
                      void *arg, bool *truncated)
{
    const char *prefix = o->prefix ? o->prefix : "";
    const char *delim = o->delimiter && *o->delimiter ? o->delimiter : NULL;
    const char *kmark = o->key_marker && *o->key_marker ? o->key_marker
                                                        : NULL;
    const char *imark = kmark && o->upload_id_marker &&
                                *o->upload_id_marker
                            ? o->upload_id_marker
                            : NULL;
    size_t plen = strlen(prefix), dlen = delim ? strlen(delim) : 0;
    struct idx_shardmap *m = NULL;
    struct idx_iter *it = NULL;
    char pk[IDX_KEY_MAX], sk[IDX_KEY_MAX];
    size_t pkl, skl, count = 0;
    int rc;

    *truncated = false;
    if ((rc = store__bucket_map(&m, s, bucket)) != RS_OK)
        return rc;
    store__shardmap_free(m);
    if (o->max_uploads == 0)
        return RS_OK;
    pkl = idx_key_upload_prefix(pk, bucket);
    idx_iter_open(&it, s->ix, pk, pkl);
    /* Start at max(prefix, marker position). */
    memcpy(sk, pk, pkl);
    skl = pkl;
    if (kmark && strcmp(kmark, prefix) >= 0) {
        size_t ml = strlen(kmark);
        if (skl + ml + 66 > IDX_KEY_MAX)
            ml = IDX_KEY_MAX - skl - 66;
        memcpy(sk + skl, kmark, ml);
        skl += ml;
        if (imark) {
            sk[skl++] = '\0';
            memcpy(sk + skl, imark, strlen(imark));
            skl += strlen(imark);
        } else {
            sk[skl++] = '\x01';   /* past every upload of key_marker */
        }
    } else {
        memcpy(sk + skl, prefix, plen);
        skl += plen;
    }
    idx_iter_seek(it, sk, skl);
    while (idx_iter_valid(it)) {
        struct store_upload_entry e = {0};
        size_t kl;
        const char *rk = idx_iter_key(it, &kl);
        const char *key = rk + pkl;
        size_t keylen = strnlen(key, kl - pkl);
        const char *id = key + keylen + 1;
        size_t idlen = kl - pkl - keylen - 1;
        const char *d;

        if (keylen >= kl - pkl) {
            idx_iter_next(it);     /* malformed: no id */
            continue;
        }
        if (keylen < plen || memcmp(key, prefix, plen) != 0)
            break;
        if (kmark) {
            /* Only uploads after (key_marker, upload_id_marker). */
            int c = bytes_cmp(key, keylen, kmark, strlen(kmark));
            if (c == 0 && imark)
                c = bytes_cmp(id, idlen, imark, strlen(imark));
            if (c <= 0) {
                idx_iter_next(it);
                continue;
            }
        }
        d = delim ? strstr(key + plen, delim) : NULL;
        if (d) {
            size_t cplen = (size_t)(d - key) + dlen;
            char *cp = rs_arena_strndup(a, key, cplen);
            char *succ;

            if (!(kmark && strcmp(cp, kmark) <= 0)) {
                if (count == o->max_uploads) {
                    *truncated = true;
                    break;
                }
                e.prefix = cp;
                count++;
                if ((rc = cb(arg, &e)) != 0)
                    break;
            }
            succ = store__prefix_successor(cp);
            if (!*succ) {
                free(succ);
                break;
            }
            memcpy(sk, pk, pkl);
            skl = pkl + strlen(succ);
            memcpy(sk + pkl, succ, strlen(succ));
            free(succ);
            idx_iter_seek(it, sk, skl);
            continue;
        }
        if (count == o->max_uploads) {
            *truncated = true;
            break;
        }
        {
            struct store_upload *u = rs_arena_alloc(a, sizeof *u);
            size_t vl;
            const char *v = idx_iter_value(it, &vl);
            if ((rc = store__upload_decode(a, u, v, vl)) != RS_OK)
                break;
            u->bucket = rs_arena_strdup(a, bucket);
            u->key = rs_arena_strndup(a, key, keylen);
            u->upload_id = rs_arena_strndup(a, id, idlen);
            u->info.bucket = u->bucket;
            u->info.key = u->key;
            e.upload = u;
            count++;
            if ((rc = cb(arg, &e)) != 0)
                break;
        }
        idx_iter_next(it);
    }
    if (rc == RS_OK)
        rc = idx_iter_status(it);
    idx_iter_close(it);
    return rc;
}
