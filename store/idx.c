/*
 * store/idx.c - the metadata index on RocksDB (idx_int.h has the API).
 * This is the only file in roadstore that calls the RocksDB C API.
 *
 * ONE DATABASE at cfg->index_dir (default DATA/index), opened with
 * create_if_missing, an LRU block cache of cfg->index_cache bytes and a
 * 10-bit bloom filter.  RocksDB's LOCK file keeps a second process out:
 * that failure is reported as RS_EBUSY.  Every state-changing write is a
 * WriteBatch committed with sync=true, except pending records (below).
 *
 * KEY SCHEMA, version 1.  The first byte names the family; "/" follows.
 * Bucket names (S3 rules: [a-z0-9.-]) never contain "/" or NUL; object keys
 * are any UTF-8 up to 1024 bytes without NUL, stored verbatim (no escaping:
 * "../", "%2F", spaces and newlines are bytes like the others), so byte
 * order of the keys is S3 listing order.
 *
 *   u/<user name>                      user record
 *   k/<access key>                     -> user name (raw bytes, not JSON)
 *   b/<bucket>                         bucket record (ACL, shard map)
 *   o/<bucket>/<shard:8 hex>/<key>     object record, engine "local"
 *   m/<bucket>/<key>\0<upload id>      multipart upload record; NUL sorts
 *                                      below every key byte, so the order
 *                                      is (key, upload id)
 *   q/<upload id>/<part:5 digits>      part record (00001..10000)
 *   g/<when:16 hex ns>/<container>     garbage: container to remove once
 *                                      older than gc_delay; time first so
 *                                      the collector scans oldest first
 *   p/<container>                      pending: a writer has this container
 *                                      open; written WITHOUT sync (it only
 *                                      needs to survive a process crash,
 *                                      which the OS page cache gives; a
 *                                      power cut loses the record and the
 *                                      container leaks, never data)
 *   c/<container>                      merged container record (binary,
 *                                      merge.c): written with sync once
 *                                      the container is durable
 *   x/<container>                      dead bytes and objects of a merged
 *                                      container: little-endian u64
 *                                      counters changed only by merge
 *                                      operands that add (idx_batch_add)
 *   w/applied                          last WAL sequence whose index
 *                                      changes are in this index (wal.c)
 *   e/<seq:16 hex>                     event outbox (outbox.c): one
 *                                      record per mutation, written in
 *                                      the batch of the change itself
 *   G/<group>                          event consumer group: filters
 *                                      and durable cursor (JSON, written
 *                                      by events/broker.c)
 *   D/<group>/<seq:16 hex>             an event that group gave up on
 *                                      (dead letter, JSON)
 *   n/<bucket>                         bucket notification configuration
 *                                      (JSON rules, ingest/s3_notify.c)
 *   l/<bucket>                         bucket lifecycle configuration
 *                                      (JSON rules, store/lifecycle.c)
 *   j/<bucket>/<key>                   append journal: the state of the
 *                                      append in progress on the object
 *                                      (binary, append.c); removed once
 *                                      complete or rolled back
 *
 * Values are JSON objects with "v":1 (encoded by store/rec.c), except k/
 * whose value is the user name, and the binary c/, x/, w/ and j/ values
 * (e/ values are JSON with "v":1 too, written by outbox.c).
 *
 * MERGE OPERATOR "roadstore.add64": a value and its operands are arrays
 * of little-endian u64; merging adds them element-wise (a shorter one
 * counts as zeros).  Counters updated by many writers thus need no
 * read-modify-write, and the order batches land in does not matter.
 *
 * SHARDS.  An object record lives in one shard of its bucket's shard map;
 * the shard id is part of the key, so moving a range to another shard (or
 * another engine) is a copy plus a map change, and a listing within a
 * shard is one range scan.  A listing across shards walks them in map
 * order (struct idx_objcur).
 *
 * LOCKS: none here; RocksDB is thread-safe.  Iterators read a snapshot.
 */
#include "store/idx_int.h"

#include <rocksdb/c.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct idx {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_block_based_table_options_t *topts;
    rocksdb_cache_t *cache;
    rocksdb_writeoptions_t *wo_sync;
    rocksdb_writeoptions_t *wo_nosync;
    rocksdb_readoptions_t *ro;
    rocksdb_mergeoperator_t *mergeop;
    char *dir;
};

struct idx_batch {
    struct idx *ix;
    rocksdb_writebatch_t *wb;
    size_t n;                 /* operations staged */
};

struct idx_iter {
    struct idx *ix;
    rocksdb_readoptions_t *ro;
    rocksdb_iterator_t *it;
    char *lo, *hi;            /* bounds: prefix and its successor */
    size_t lolen, hilen;
    bool has_hi;
};

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

/* Map a RocksDB status string to an rs_err, set the message and free. */
static int idx_err(char *err, const char *what)
{
    int code = RS_EIO;

    /* Another process: "While lock file: .../LOCK: Resource temporarily
     * unavailable"; this process: "lock hold by current process". */
    if (strstr(err, "lock") && (strstr(err, "Resource temporarily") ||
                                strstr(err, "unavailable") ||
                                strstr(err, "hold by current process")))
        code = RS_EBUSY;
    else if (strstr(err, "No space left"))
        code = RS_ENOSPC;
    else if (strstr(err, "Corruption"))
        code = RS_ECORRUPT;
    if (code == RS_EBUSY)
        rs_err_set(code, "%s: the index is locked by another process "
                   "(is a roadstore server running on this data "
                   "directory?): %s", what, err);
    else
        rs_err_set(code, "%s: %s", what, err);
    rocksdb_free(err);
    return code;
}

/* ------------------------------------------------------------------ */
/* The add64 merge operator                                             */
/* ------------------------------------------------------------------ */

static void add64_into(uint8_t *acc, size_t acclen, const char *v,
                       size_t vlen)
{
    for (size_t i = 0; i + 8 <= vlen && i + 8 <= acclen; i += 8)
        rs_put64le(acc + i, rs_get64le(acc + i) +
                                rs_get64le((const uint8_t *)v + i));
}

static char *add64_merge(const char *existing, size_t elen,
                         const char *const *ops, const size_t *oplens,
                         int nops, unsigned char *success, size_t *outlen)
{
    size_t n = existing ? elen : 0;
    uint8_t *acc;

    for (int i = 0; i < nops; i++)
        if (oplens[i] > n)
            n = oplens[i];
    n -= n % 8;
    /* RocksDB frees the result with free(). */
    acc = calloc(1, n ? n : 1);
    if (!acc) {
        *success = 0;
        return NULL;
    }
    if (existing)
        add64_into(acc, n, existing, elen);
    for (int i = 0; i < nops; i++)
        add64_into(acc, n, ops[i], oplens[i]);
    *success = 1;
    *outlen = n;
    return (char *)acc;
}

static char *add64_full(void *state, const char *key, size_t klen,
                        const char *existing, size_t elen,
                        const char *const *ops, const size_t *oplens,
                        int nops, unsigned char *success, size_t *outlen)
{
    (void)state;
    (void)key;
    (void)klen;
    return add64_merge(existing, elen, ops, oplens, nops, success, outlen);
}

static char *add64_partial(void *state, const char *key, size_t klen,
                           const char *const *ops, const size_t *oplens,
                           int nops, unsigned char *success, size_t *outlen)
{
    (void)state;
    (void)key;
    (void)klen;
    return add64_merge(NULL, 0, ops, oplens, nops, success, outlen);
}

static void add64_delete(void *state, const char *v, size_t vlen)
{
    (void)state;
    (void)vlen;
    free((void *)v);
}

static void add64_destroy(void *state)
{
    (void)state;
}

static const char *add64_name(void *state)
{
    (void)state;
    return "roadstore.add64";
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */
/* ------------------------------------------------------------------ */

void idx_close(struct idx *ix)
{
    if (!ix)
        return;
    if (ix->db) {
        /* Write the memtable to a table file: the next start then has no
         * log to replay, and the directory holds no stale log. */
        rocksdb_flushoptions_t *fo = rocksdb_flushoptions_create();
        char *err = NULL;

        rocksdb_flushoptions_set_wait(fo, 1);
        rocksdb_flush(ix->db, fo, &err);
        if (err) {
            rs_warn("index: flush at close: %s", err);
            rocksdb_free(err);
        }
        rocksdb_flushoptions_destroy(fo);
        rocksdb_close(ix->db);
    }
    rocksdb_writeoptions_destroy(ix->wo_sync);
    rocksdb_writeoptions_destroy(ix->wo_nosync);
    rocksdb_readoptions_destroy(ix->ro);
    rocksdb_options_destroy(ix->opts);
    rocksdb_block_based_options_destroy(ix->topts);
    rocksdb_cache_destroy(ix->cache);
    free(ix->dir);
    free(ix);
}

int idx_open(struct idx **out, const char *dir, uint64_t cache_bytes)
{
    struct idx *ix = rs_xcalloc(1, sizeof *ix);
    char *err = NULL;

    *out = NULL;
    ix->dir = rs_xstrdup(dir);
    ix->cache = rocksdb_cache_create_lru(cache_bytes ? cache_bytes
                                                     : 8u << 20);
    ix->topts = rocksdb_block_based_options_create();
    rocksdb_block_based_options_set_block_cache(ix->topts, ix->cache);
    /* The table options take ownership of the policy. */
    rocksdb_block_based_options_set_filter_policy(
        ix->topts, rocksdb_filterpolicy_create_bloom_full(10));
    ix->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(ix->opts, 1);
    rocksdb_options_set_block_based_table_factory(ix->opts, ix->topts);
    rocksdb_options_set_keep_log_file_num(ix->opts, 4);
    /* The options take ownership of the operator. */
    ix->mergeop = rocksdb_mergeoperator_create(NULL, add64_destroy,
                                               add64_full, add64_partial,
                                               add64_delete, add64_name);
    rocksdb_options_set_merge_operator(ix->opts, ix->mergeop);
    ix->wo_sync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(ix->wo_sync, 1);
    ix->wo_nosync = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(ix->wo_nosync, 0);
    ix->ro = rocksdb_readoptions_create();

    ix->db = rocksdb_open(ix->opts, dir, &err);
    if (err) {
        char what[512];
        int rc;

        snprintf(what, sizeof what, "open index %s", dir);
        rc = idx_err(err, what);
        ix->db = NULL;
        idx_close(ix);
        return rc;
    }
    *out = ix;
    return RS_OK;
}

int idx_property(uint64_t *out, struct idx *ix, const char *name)
{
    char *v = rocksdb_property_value(ix->db, name);

    *out = 0;
    if (v) {
        *out = strtoull(v, NULL, 10);
        rocksdb_free(v);
    }
    return RS_OK;
}

/* ------------------------------------------------------------------ */
/* Keys                                                                 */
/* ------------------------------------------------------------------ */

/* Append s to out at *n, bounded by IDX_KEY_MAX (callers validate
 * lengths before; the bound only keeps a bug from overflowing). */
static void kput(char *out, size_t *n, const char *s, size_t len)
{
    if (*n >= IDX_KEY_MAX)
        return;
    if (len > IDX_KEY_MAX - *n)
        len = IDX_KEY_MAX - *n;
    memcpy(out + *n, s, len);
    *n += len;
}

static size_t key2(char *out, const char *pfx, const char *a)
{
    size_t n = 0;
    kput(out, &n, pfx, strlen(pfx));
    kput(out, &n, a, strlen(a));
    return n;
}

size_t idx_key_user(char *out, const char *name)
{
    return key2(out, "u/", name);
}

size_t idx_key_access_key(char *out, const char *access_key)
{
    return key2(out, "k/", access_key);
}

size_t idx_key_bucket(char *out, const char *bucket)
{
    return key2(out, "b/", bucket);
}

size_t idx_key_upload_prefix(char *out, const char *bucket)
{
    size_t n = key2(out, "m/", bucket);
    kput(out, &n, "/", 1);
    return n;
}

size_t idx_key_upload(char *out, const char *bucket, const char *key,
                      const char *upload_id)
{
    size_t n = idx_key_upload_prefix(out, bucket);
    kput(out, &n, key, strlen(key));
    kput(out, &n, "\0", 1);
    kput(out, &n, upload_id, strlen(upload_id));
    return n;
}

size_t idx_key_part_prefix(char *out, const char *upload_id)
{
    size_t n = key2(out, "q/", upload_id);
    kput(out, &n, "/", 1);
    return n;
}

size_t idx_key_part(char *out, const char *upload_id, uint32_t number)
{
    char num[16];
    size_t n = idx_key_part_prefix(out, upload_id);
    int l = snprintf(num, sizeof num, "%05" PRIu32, number);
    kput(out, &n, num, (size_t)l);
    return n;
}

size_t idx_key_garbage(char *out, int64_t when_ns, const char *container)
{
    char t[24];
    size_t n = 0;
    int l = snprintf(t, sizeof t, "%016" PRIx64 "/",
                     (uint64_t)(when_ns < 0 ? 0 : when_ns));
    kput(out, &n, "g/", 2);
    kput(out, &n, t, (size_t)l);
    kput(out, &n, container, strlen(container));
    return n;
}

int idx_key_garbage_parse(int64_t *when_ns_out, char *container_out,
                          const char *k, size_t klen)
{
    char t[17];

    if (klen != 2 + 16 + 1 + 32 || memcmp(k, "g/", 2) != 0 || k[18] != '/')
        return rs_err_set(RS_ECORRUPT, "bad garbage key (%zu bytes)", klen);
    memcpy(t, k + 2, 16);
    t[16] = '\0';
    *when_ns_out = (int64_t)strtoull(t, NULL, 16);
    memcpy(container_out, k + 19, 32);
    container_out[32] = '\0';
    return RS_OK;
}

size_t idx_key_pending(char *out, const char *container)
{
    return key2(out, "p/", container);
}

size_t idx_key_container(char *out, const char *container)
{
    return key2(out, "c/", container);
}

size_t idx_key_dead(char *out, const char *container)
{
    return key2(out, "x/", container);
}

size_t idx_key_event(char *out, uint64_t seq)
{
    return (size_t)sprintf(out, "e/%016" PRIx64, seq);
}

size_t idx_key_journal(char *out, const char *bucket, const char *key)
{
    size_t n = key2(out, "j/", bucket);
    kput(out, &n, "/", 1);
    kput(out, &n, key, strlen(key));
    return n;
}

/* The object key prefix of a local shard: "o/<bucket>/<id:08x>/". */
static size_t key_obj_prefix(char *out, const char *bucket, uint32_t shard)
{
    char id[16];
    size_t n = key2(out, "o/", bucket);
    int l = snprintf(id, sizeof id, "/%08" PRIx32 "/", shard);
    kput(out, &n, id, (size_t)l);
    return n;
}

/* The smallest key greater than every key starting with p[0..n): drop
 * trailing 0xff bytes and increment the last.  false when none exists. */
static bool key_successor(char *p, size_t *n)
{
    while (*n > 0) {
        uint8_t c = (uint8_t)p[*n - 1];
        if (c != 0xff) {
            p[*n - 1] = (char)(c + 1);
            return true;
        }
        (*n)--;
    }
    return false;
}

/* ------------------------------------------------------------------ */
/* Plain records                                                        */
/* ------------------------------------------------------------------ */

int idx_get(char **val_out, size_t *len_out, struct idx *ix, const char *k,
            size_t klen)
{
    char *err = NULL;
    size_t vlen = 0;
    char *v = rocksdb_get(ix->db, ix->ro, k, klen, &vlen, &err);

    *val_out = NULL;
    if (len_out)
        *len_out = 0;
    if (err)
        return idx_err(err, "index read");
    if (!v)
        return RS_ENOTFOUND;   /* no message: callers say what was missing */
    *val_out = rs_xmalloc(vlen + 1);
    memcpy(*val_out, v, vlen);
    (*val_out)[vlen] = '\0';
    if (len_out)
        *len_out = vlen;
    rocksdb_free(v);
    return RS_OK;
}

struct idx_batch *idx_batch_begin(struct idx *ix)
{
    struct idx_batch *b = rs_xcalloc(1, sizeof *b);
    b->ix = ix;
    b->wb = rocksdb_writebatch_create();
    return b;
}

void idx_batch_put(struct idx_batch *b, const char *k, size_t klen,
                   const char *v, size_t vlen)
{
    rocksdb_writebatch_put(b->wb, k, klen, v, vlen);
    b->n++;
}

void idx_batch_add(struct idx_batch *b, const char *k, size_t klen,
                   const uint64_t *vals, size_t nvals)
{
    uint8_t v[8 * 8];

    if (nvals > 8)
        nvals = 8;
    for (size_t i = 0; i < nvals; i++)
        rs_put64le(v + 8 * i, vals[i]);
    rocksdb_writebatch_merge(b->wb, k, klen, (const char *)v, 8 * nvals);
    b->n++;
}

void idx_batch_delete(struct idx_batch *b, const char *k, size_t klen)
{
    rocksdb_writebatch_delete(b->wb, k, klen);
    b->n++;
}

size_t idx_batch_count(const struct idx_batch *b)
{
    return b->n;
}

void idx_batch_abort(struct idx_batch *b)
{
    if (!b)
        return;
    rocksdb_writebatch_destroy(b->wb);
    free(b);
}

int idx_batch_commit(struct idx_batch *b, bool sync)
{
    char *err = NULL;
    int rc = RS_OK;

    if (b->n > 0) {
        rocksdb_write(b->ix->db, sync ? b->ix->wo_sync : b->ix->wo_nosync,
                      b->wb, &err);
        if (err)
            rc = idx_err(err, "index write");
    }
    idx_batch_abort(b);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Iterators                                                            */
/* ------------------------------------------------------------------ */

int idx_iter_open(struct idx_iter **out, struct idx *ix, const char *prefix,
                  size_t plen)
{
    struct idx_iter *it = rs_xcalloc(1, sizeof *it);

    it->ix = ix;
    it->lo = rs_xmalloc(plen + 1);
    memcpy(it->lo, prefix, plen);
    it->lolen = plen;
    it->hi = rs_xmalloc(plen + 1);
    memcpy(it->hi, prefix, plen);
    it->hilen = plen;
    it->has_hi = key_successor(it->hi, &it->hilen);
    it->ro = rocksdb_readoptions_create();
    rocksdb_readoptions_set_iterate_lower_bound(it->ro, it->lo, it->lolen);
    if (it->has_hi)
        rocksdb_readoptions_set_iterate_upper_bound(it->ro, it->hi,
                                                    it->hilen);
    it->it = rocksdb_create_iterator(ix->db, it->ro);
    *out = it;
    return RS_OK;
}

void idx_iter_seek(struct idx_iter *it, const char *k, size_t klen)
{
    /* Seeking below the lower bound is the same as seeking to it. */
    if (klen < it->lolen || memcmp(k, it->lo, it->lolen) < 0)
        rocksdb_iter_seek(it->it, it->lo, it->lolen);
    else
        rocksdb_iter_seek(it->it, k, klen);
}

void idx_iter_seek_last(struct idx_iter *it)
{
    rocksdb_iter_seek_to_last(it->it);
}

bool idx_iter_valid(struct idx_iter *it)
{
    return rocksdb_iter_valid(it->it) != 0;
}

void idx_iter_next(struct idx_iter *it)
{
    rocksdb_iter_next(it->it);
}

const char *idx_iter_key(struct idx_iter *it, size_t *len_out)
{
    return rocksdb_iter_key(it->it, len_out);
}

const char *idx_iter_value(struct idx_iter *it, size_t *len_out)
{
    return rocksdb_iter_value(it->it, len_out);
}

int idx_iter_status(struct idx_iter *it)
{
    char *err = NULL;
    rocksdb_iter_get_error(it->it, &err);
    return err ? idx_err(err, "index scan") : RS_OK;
}

void idx_iter_close(struct idx_iter *it)
{
    if (!it)
        return;
    rocksdb_iter_destroy(it->it);
    rocksdb_readoptions_destroy(it->ro);
    free(it->lo);
    free(it->hi);
    free(it);
}

/* ------------------------------------------------------------------ */
/* Shard engine "local": shards in this RocksDB                         */
/* ------------------------------------------------------------------ */

struct idx_shard_cur {
    struct idx_iter *it;
    size_t plen;              /* length of the shard's key prefix */
    char *key;                /* NUL-terminated copy of the current key */
    size_t keycap;
};

static int local_get(char **val_out, size_t *len_out, struct idx *ix,
                     const struct idx_shard *sh, const char *bucket,
                     const char *key)
{
    char k[IDX_KEY_MAX];
    size_t n = key_obj_prefix(k, bucket, sh->id);
    kput(k, &n, key, strlen(key));
    return idx_get(val_out, len_out, ix, k, n);
}

static void local_put(struct idx_batch *b, const struct idx_shard *sh,
                      const char *bucket, const char *key, const char *val,
                      size_t vlen)
{
    char k[IDX_KEY_MAX];
    size_t n = key_obj_prefix(k, bucket, sh->id);
    kput(k, &n, key, strlen(key));
    idx_batch_put(b, k, n, val, vlen);
}

static void local_del(struct idx_batch *b, const struct idx_shard *sh,
                      const char *bucket, const char *key)
{
    char k[IDX_KEY_MAX];
    size_t n = key_obj_prefix(k, bucket, sh->id);
    kput(k, &n, key, strlen(key));
    idx_batch_delete(b, k, n);
}

static int local_cur_open(struct idx_shard_cur **out, struct idx *ix,
                          const struct idx_shard *sh, const char *bucket)
{
    struct idx_shard_cur *c = rs_xcalloc(1, sizeof *c);
    char k[IDX_KEY_MAX];

    c->plen = key_obj_prefix(k, bucket, sh->id);
    idx_iter_open(&c->it, ix, k, c->plen);
    *out = c;
    return RS_OK;
}

static void local_cur_seek(struct idx_shard_cur *c, const char *key)
{
    char k[IDX_KEY_MAX];
    size_t n = 0;
    kput(k, &n, c->it->lo, c->plen);
    kput(k, &n, key, strlen(key));
    idx_iter_seek(c->it, k, n);
}

static int local_cur_get(struct idx_shard_cur *c, const char **key_out,
                         const char **val_out, size_t *vlen_out)
{
    size_t klen;
    const char *k;

    if (!idx_iter_valid(c->it)) {
        int rc = idx_iter_status(c->it);
        return rc != RS_OK ? rc : RS_ENOTFOUND;
    }
    k = idx_iter_key(c->it, &klen);
    if (klen - c->plen + 1 > c->keycap) {
        c->keycap = klen - c->plen + 1;
        c->key = rs_xrealloc(c->key, c->keycap);
    }
    memcpy(c->key, k + c->plen, klen - c->plen);
    c->key[klen - c->plen] = '\0';
    *key_out = c->key;
    *val_out = idx_iter_value(c->it, vlen_out);
    return RS_OK;
}

static void local_cur_next(struct idx_shard_cur *c)
{
    idx_iter_next(c->it);
}

static void local_cur_close(struct idx_shard_cur *c)
{
    if (!c)
        return;
    idx_iter_close(c->it);
    free(c->key);
    free(c);
}

static const struct idx_shard_ops idx_local_shard_ops = {
    .version = IDX_SHARD_OPS_VERSION,
    .name = "local",
    .get = local_get,
    .put = local_put,
    .del = local_del,
    .cur_open = local_cur_open,
    .cur_seek = local_cur_seek,
    .cur_get = local_cur_get,
    .cur_next = local_cur_next,
    .cur_close = local_cur_close,
};

const struct idx_shard_ops *idx_shard_engine(const char *name)
{
    if (!name || strcmp(name, idx_local_shard_ops.name) == 0)
        return &idx_local_shard_ops;
    return NULL;
}

/* ------------------------------------------------------------------ */
/* Routing by shard map                                                 */
/* ------------------------------------------------------------------ */

static size_t shard_index(const struct idx_shardmap *m, const char *key)
{
    /* Last shard whose lo <= key; maps are short, binary search anyway. */
    size_t lo = 0, hi = m->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(m->shards[mid].lo, key) <= 0)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

const struct idx_shard *idx_shard_for(const struct idx_shardmap *m,
                                      const char *key)
{
    return &m->shards[shard_index(m, key)];
}

int idx_obj_get(char **val_out, size_t *len_out, struct idx *ix,
                const struct idx_shardmap *m, const char *bucket,
                const char *key)
{
    const struct idx_shard *sh = idx_shard_for(m, key);
    return sh->ops->get(val_out, len_out, ix, sh, bucket, key);
}

void idx_obj_put(struct idx_batch *b, const struct idx_shardmap *m,
                 const char *bucket, const char *key, const char *val,
                 size_t vlen)
{
    const struct idx_shard *sh = idx_shard_for(m, key);
    sh->ops->put(b, sh, bucket, key, val, vlen);
}

void idx_obj_del(struct idx_batch *b, const struct idx_shardmap *m,
                 const char *bucket, const char *key)
{
    const struct idx_shard *sh = idx_shard_for(m, key);
    sh->ops->del(b, sh, bucket, key);
}

struct idx_objcur {
    struct idx *ix;
    const struct idx_shardmap *m;   /* borrowed from the caller */
    char *bucket;
    size_t cur;                     /* index of the open shard */
    struct idx_shard_cur *sc;       /* NULL when none is open */
};

int idx_objcur_open(struct idx_objcur **out, struct idx *ix,
                    const struct idx_shardmap *m, const char *bucket)
{
    struct idx_objcur *c = rs_xcalloc(1, sizeof *c);
    c->ix = ix;
    c->m = m;
    c->bucket = rs_xstrdup(bucket);
    c->cur = SIZE_MAX;
    *out = c;
    return RS_OK;
}

static int objcur_use(struct idx_objcur *c, size_t i)
{
    const struct idx_shard *sh;

    if (c->cur == i && c->sc)
        return RS_OK;
    if (c->sc)
        c->m->shards[c->cur].ops->cur_close(c->sc);
    c->sc = NULL;
    c->cur = i;
    sh = &c->m->shards[i];
    return sh->ops->cur_open(&c->sc, c->ix, sh, c->bucket);
}

/* After a seek or next: while the shard is exhausted, go to the next. */
static int objcur_settle(struct idx_objcur *c)
{
    for (;;) {
        const char *k, *v;
        size_t vl;
        int rc = c->m->shards[c->cur].ops->cur_get(c->sc, &k, &v, &vl);
        if (rc != RS_ENOTFOUND || c->cur + 1 >= c->m->n)
            return rc == RS_ENOTFOUND ? RS_OK : rc;
        if ((rc = objcur_use(c, c->cur + 1)) != RS_OK)
            return rc;
        c->m->shards[c->cur].ops->cur_seek(c->sc, c->m->shards[c->cur].lo);
    }
}

int idx_objcur_seek(struct idx_objcur *c, const char *key)
{
    int rc = objcur_use(c, shard_index(c->m, key));
    if (rc != RS_OK)
        return rc;
    c->m->shards[c->cur].ops->cur_seek(c->sc, key);
    return objcur_settle(c);
}

int idx_objcur_get(struct idx_objcur *c, const char **key_out,
                   const char **val_out, size_t *vlen_out)
{
    if (!c->sc)
        return RS_ENOTFOUND;
    return c->m->shards[c->cur].ops->cur_get(c->sc, key_out, val_out,
                                             vlen_out);
}

int idx_objcur_next(struct idx_objcur *c)
{
    if (!c->sc)
        return RS_OK;
    c->m->shards[c->cur].ops->cur_next(c->sc);
    return objcur_settle(c);
}

void idx_objcur_close(struct idx_objcur *c)
{
    if (!c)
        return;
    if (c->sc)
        c->m->shards[c->cur].ops->cur_close(c->sc);
    free(c->bucket);
    free(c);
}
