/*
 * store/idx_int.h - the metadata index, internal to store/.  idx.c is its
 * one implementation and the only file that calls RocksDB; the key schema
 * is specified at the top of idx.c.
 *
 * Two layers:
 *
 *  - Plain records (users, buckets, uploads, parts, garbage, pending):
 *    byte keys and values with point reads, prefix iterators and atomic
 *    write batches (idx_get, idx_iter_*, idx_batch_*).  Keys are built by
 *    the idx_key_* helpers, so the schema has one home.
 *
 *  - The object namespace, split into shards by key: each bucket carries a
 *    shard map (struct idx_shardmap, kept in the bucket record) of ordered
 *    boundary keys; shard i holds the object keys in [lo_i, lo_{i+1}).  A
 *    shard is served by an engine (struct idx_shard_ops) chosen by name in
 *    the map.  The only engine today, "local", keeps shards in this same
 *    RocksDB, so one batch is atomic across everything.  A distributed
 *    engine (Ceph RADOS omap, one object per shard) plugs in behind the
 *    same table: it stages its mutations in the batch it is given (see
 *    struct idx_batch in idx.c) and applies them at commit.  The store
 *    talks to objects only through idx_obj_* and struct idx_objcur, which
 *    route by the map.
 *
 * Thread-safety: an idx is shared by all threads; a batch, an iterator and
 * a cursor belong to one thread at a time.
 */
#ifndef IDX_INT_H
#define IDX_INT_H

#include "core/rs.h"

struct idx;
struct idx_batch;
struct idx_iter;
struct idx_shard_cur;
struct idx_objcur;

/* Longest key the helpers build: prefix + bucket (63) + key (1024) + id. */
#define IDX_KEY_MAX 1280
/* Longest object key accepted (S3: 1024 bytes of UTF-8). */
#define IDX_OBJ_KEY_MAX 1024

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */
/* ------------------------------------------------------------------ */

/* Open (creating) the RocksDB at dir with a block cache of cache_bytes.
 * RS_EBUSY when another process holds it. */
int idx_open(struct idx **out, const char *dir, uint64_t cache_bytes);
void idx_close(struct idx *ix); /* NULL does nothing */

/* A numeric RocksDB property ("rocksdb.estimate-num-keys"); 0 when the
 * engine does not know it. */
int idx_property(uint64_t *out, struct idx *ix, const char *name);

/* ------------------------------------------------------------------ */
/* Keys of plain records (schema in idx.c).  Each writes into out (at   */
/* least IDX_KEY_MAX bytes) and returns the key's length.               */
/* ------------------------------------------------------------------ */

size_t idx_key_user(char *out, const char *name);
size_t idx_key_access_key(char *out, const char *access_key);
size_t idx_key_bucket(char *out, const char *bucket);
size_t idx_key_upload(char *out, const char *bucket, const char *key,
                      const char *upload_id);
/* The part of an upload key before key: "m/<bucket>/". */
size_t idx_key_upload_prefix(char *out, const char *bucket);
size_t idx_key_part(char *out, const char *upload_id, uint32_t number);
size_t idx_key_part_prefix(char *out, const char *upload_id);
size_t idx_key_garbage(char *out, int64_t when_ns, const char *container);
/* Merged containers: "c/<container>" record, "x/<container>" counters. */
size_t idx_key_container(char *out, const char *container);
size_t idx_key_dead(char *out, const char *container);
size_t idx_key_pending(char *out, const char *container);
/* Append journal of an object: "j/<bucket>/<key>". */
size_t idx_key_journal(char *out, const char *bucket, const char *key);
#define IDX_PREFIX_JOURNAL "j/"
/* Event outbox: "e/<seq:16 hex>". */
size_t idx_key_event(char *out, uint64_t seq);
#define IDX_PREFIX_EVENT "e/"

/* Prefixes of whole record families: "u/", "b/", "g/", "p/". */
#define IDX_PREFIX_USER "u/"
#define IDX_PREFIX_BUCKET "b/"
#define IDX_PREFIX_GARBAGE "g/"
#define IDX_PREFIX_PENDING "p/"
#define IDX_PREFIX_CONTAINER "c/"
/* Last WAL sequence applied to the index (8 bytes little-endian). */
#define IDX_KEY_WAL_APPLIED "w/applied"

/* Parse a garbage key back: container name (33 bytes) and time. */
int idx_key_garbage_parse(int64_t *when_ns_out, char *container_out,
                          const char *k, size_t klen);

/* ------------------------------------------------------------------ */
/* Plain records                                                        */
/* ------------------------------------------------------------------ */

/* *val_out is malloc'ed (NUL-terminated, free()); RS_ENOTFOUND. */
int idx_get(char **val_out, size_t *len_out, struct idx *ix, const char *k,
            size_t klen);

/* Batches: every state change goes through one, committed with sync
 * (pending records are the documented exception). */
struct idx_batch *idx_batch_begin(struct idx *ix);
void idx_batch_put(struct idx_batch *b, const char *k, size_t klen,
                   const char *v, size_t vlen);
void idx_batch_delete(struct idx_batch *b, const char *k, size_t klen);
/* Add nvals (<= 8) u64 counters to the value at k, element-wise, through
 * the "roadstore.add64" merge operator (idx.c): no read, any order. */
void idx_batch_add(struct idx_batch *b, const char *k, size_t klen,
                   const uint64_t *vals, size_t nvals);
size_t idx_batch_count(const struct idx_batch *b);
/* Apply atomically; frees b whatever the result. */
int idx_batch_commit(struct idx_batch *b, bool sync);
void idx_batch_abort(struct idx_batch *b); /* NULL does nothing */

/* Iterator over the keys starting with prefix, in byte order, on a
 * consistent snapshot.  Starts before the first key: call seek. */
int idx_iter_open(struct idx_iter **out, struct idx *ix, const char *prefix,
                  size_t plen);
/* Position at the first key >= k (k is a full key, prefix included). */
void idx_iter_seek(struct idx_iter *it, const char *k, size_t klen);
/* Position at the last key of the prefix. */
void idx_iter_seek_last(struct idx_iter *it);
bool idx_iter_valid(struct idx_iter *it);
void idx_iter_next(struct idx_iter *it);
/* Borrowed until the iterator moves. */
const char *idx_iter_key(struct idx_iter *it, size_t *len_out);
const char *idx_iter_value(struct idx_iter *it, size_t *len_out);
/* RS_OK, or the error that made the iterator invalid. */
int idx_iter_status(struct idx_iter *it);
void idx_iter_close(struct idx_iter *it); /* NULL does nothing */

/* ------------------------------------------------------------------ */
/* The object namespace: shards                                         */
/* ------------------------------------------------------------------ */

struct idx_shard_ops;

struct idx_shard {
    uint32_t id;                      /* unique within the bucket, never
                                         reused */
    char *lo;                         /* first key of the shard; "" for
                                         shards[0] */
    const struct idx_shard_ops *ops;  /* the engine holding it */
};

/* Ordered by lo; shards[0].lo is "". */
struct idx_shardmap {
    struct idx_shard *shards;
    size_t n;
};

#define IDX_SHARD_OPS_VERSION 1

/*
 * A shard engine.  Keys handed to it are object keys (no prefix), values
 * the encoded object records.  All slots are required.
 */
struct idx_shard_ops {
    int version;        /* IDX_SHARD_OPS_VERSION */
    const char *name;   /* name in the shard map: "local" */
    /* Point read: *val_out malloc'ed (free()); RS_ENOTFOUND. */
    int (*get)(char **val_out, size_t *len_out, struct idx *ix,
               const struct idx_shard *sh, const char *bucket,
               const char *key);
    /* Stage a put / delete in b, applied atomically at its commit. */
    void (*put)(struct idx_batch *b, const struct idx_shard *sh,
                const char *bucket, const char *key, const char *val,
                size_t vlen);
    void (*del)(struct idx_batch *b, const struct idx_shard *sh,
                const char *bucket, const char *key);
    /* Ordered cursor over the shard's keys, on a snapshot. */
    int (*cur_open)(struct idx_shard_cur **out, struct idx *ix,
                    const struct idx_shard *sh, const char *bucket);
    /* Position at the first key >= key. */
    void (*cur_seek)(struct idx_shard_cur *c, const char *key);
    /* Current entry: RS_OK, RS_ENOTFOUND past the end, or an error.
     * key (NUL-terminated) and val borrowed until the cursor moves. */
    int (*cur_get)(struct idx_shard_cur *c, const char **key_out,
                   const char **val_out, size_t *vlen_out);
    void (*cur_next)(struct idx_shard_cur *c);
    void (*cur_close)(struct idx_shard_cur *c);
};

/* The engine registered under name, or NULL. */
const struct idx_shard_ops *idx_shard_engine(const char *name);

/* The shard holding key. */
const struct idx_shard *idx_shard_for(const struct idx_shardmap *m,
                                      const char *key);

int idx_obj_get(char **val_out, size_t *len_out, struct idx *ix,
                const struct idx_shardmap *m, const char *bucket,
                const char *key);
void idx_obj_put(struct idx_batch *b, const struct idx_shardmap *m,
                 const char *bucket, const char *key, const char *val,
                 size_t vlen);
void idx_obj_del(struct idx_batch *b, const struct idx_shardmap *m,
                 const char *bucket, const char *key);

/* A cursor over a bucket's objects in key order across its shards. */
int idx_objcur_open(struct idx_objcur **out, struct idx *ix,
                    const struct idx_shardmap *m, const char *bucket);
/* First key >= key (crossing into later shards as needed). */
int idx_objcur_seek(struct idx_objcur *c, const char *key);
/* RS_OK with the entry, RS_ENOTFOUND at the end, or an error. */
int idx_objcur_get(struct idx_objcur *c, const char **key_out,
                   const char **val_out, size_t *vlen_out);
int idx_objcur_next(struct idx_objcur *c);
void idx_objcur_close(struct idx_objcur *c); /* NULL does nothing */

#endif /* IDX_INT_H */
