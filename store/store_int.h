/*
 * store/store_int.h - what the files of store/ share and nobody else sees:
 * the struct store, the in-memory data layout of an object, record codecs
 * (rec.c), the pin set (reader.c), garbage helpers (gc.c) and locking.
 *
 * Files:  store.c  lifecycle, users, buckets, objects, listing, stats
 *         writer.c object and part writers; the container format
 *         reader.c readers, checksum verification, the pin set
 *         layout.c the layout blob format
 *         rec.c    JSON records
 *         mpu.c    multipart uploads
 *         gc.c     the garbage collector thread
 *         idx.c    the RocksDB index;  bk*.c  data backends
 *
 * LOCK ORDER (take left before right, never the reverse):
 *     bucket_locks[h(bucket)]  ->  key_locks[h(bucket/key)]  ->  meta_lock
 *     ->  pin_lock;   gc_lock is taken alone.
 * No lock is held across a data write or sync; commit holds the bucket
 * (read) and key locks across one index batch with sync.
 */
#ifndef STORE_INT_H
#define STORE_INT_H

#include "store/idx_int.h"
#include "store/store.h"
#include "store/store_backend.h"

#include <pthread.h>
#include <stdatomic.h>

#define STORE_NGROUPS 2
#define STORE_KEY_LOCKS 256
#define STORE_BUCKET_LOCKS 64
#define STORE_PIN_BUCKETS 1024
#define STORE_CNAME_SIZE (STORE_CONTAINER_NAME_LEN + 1)
/* Largest write buffer of a writer; a multiple of the block size below. */
#define STORE_WRITE_BUF (1u << 20)

struct store_group {
    const struct store_backend_ops *ops;
    struct store_bk_group *g;        /* NULL when the group has no dirs */
};

/* A pinned container: readers hold refs; the collector marks doomed while
 * it removes the container, and a reader that meets a doomed one gives up
 * with RS_ENOTFOUND (its object was replaced more than gc_delay ago). */
struct store_pin {
    struct store_pin *next;
    char name[STORE_CNAME_SIZE];
    uint32_t refs;
    bool doomed;
};

struct store {
    struct idx *ix;
    struct store_group groups[STORE_NGROUPS];
    uint64_t stripe_size;            /* bytes of data per extent */
    uint32_t block_size;             /* bytes per CRC32C block */
    int gc_delay;                    /* seconds */
    uint64_t max_object_size;
    uint64_t max_part_size;

    /* Users and bucket records: create, remove, ACL changes. */
    pthread_mutex_t meta_lock;
    /* Per bucket (striped by hash of the name): read-held by everything
     * that adds to a bucket (commits, upload creation, deletes), write-held
     * by store_bucket_delete while it checks emptiness and deletes. */
    pthread_rwlock_t bucket_locks[STORE_BUCKET_LOCKS];
    /* Per object key (striped by hash of bucket/key): commits, deletes,
     * tag and ACL updates, part commits and completion of uploads of the
     * key. */
    pthread_mutex_t key_locks[STORE_KEY_LOCKS];

    /* Containers pinned by open readers. */
    pthread_mutex_t pin_lock;
    struct store_pin *pins[STORE_PIN_BUCKETS];

    /* Garbage collector. */
    pthread_mutex_t gc_lock;         /* guards gc_stop, gc_kick */
    pthread_cond_t gc_cond;
    bool gc_stop;
    bool gc_kick;                    /* run a pass now (tests, deletes) */
    bool gc_running;
    pthread_t gc_thread;
    atomic_uint_fast64_t gc_pending; /* g/ records */
    atomic_uint_fast64_t gc_removed; /* containers removed since open */
};

/* ------------------------------------------------------------------ */
/* Layout (layout.c)                                                    */
/* ------------------------------------------------------------------ */

/* count consecutive extents of len data bytes each, back to back in one
 * container from offset, each followed by its CRC array. */
struct store_run {
    char container[STORE_CNAME_SIZE];
    uint8_t group;                   /* enum store_class */
    uint32_t block;                  /* CRC block size of these extents */
    uint64_t offset;                 /* container offset of extent 0 */
    uint64_t len;                    /* data bytes per extent */
    uint32_t count;                  /* extents in the run, >= 1 */
};

struct store_layout {
    struct store_run *runs;          /* malloc'ed */
    size_t nruns, cap;
    uint64_t size;                   /* sum of all extents' data */
};

/* Bytes an extent of len data bytes takes in its container. */
uint64_t store__extent_span(uint64_t len, uint32_t block);
/* Append an extent, merging it into the last run where it continues it. */
void store__layout_add(struct store_layout *l, const char *container,
                       uint8_t group, uint32_t block, uint64_t offset,
                       uint64_t len);
void store__layout_append(struct store_layout *l,
                          const struct store_layout *more);
void store__layout_dispose(struct store_layout *l);
/* Encode into a malloc'ed blob. */
void *store__layout_encode(size_t *len_out, const struct store_layout *l);
/* Decode; RS_ECORRUPT on a malformed blob.  l must be zeroed or disposed. */
int store__layout_decode(struct store_layout *l, const void *p, size_t n);

/* ------------------------------------------------------------------ */
/* Records (rec.c): JSON with "v":1                                     */
/* ------------------------------------------------------------------ */

/* Every encoder returns a malloc'ed NUL-terminated string. */
char *store__obj_encode(const struct store_obj *o, const void *layout,
                        size_t layout_len);
/* Decode into *out, strings in a; bucket and key copied in. */
int store__obj_decode(struct rs_arena *a, struct store_obj *out,
                      const char *bucket, const char *key, const char *json,
                      size_t len);
/* Only the layout of an object or part record (malloc'ed blob). */
int store__rec_layout(struct store_layout *l, const char *json, size_t len);

char *store__user_encode(const struct store_user *u);
int store__user_decode(struct store_user *out, const char *json, size_t len);

char *store__bucket_encode(const struct store_bucket *b,
                           const struct idx_shardmap *m);
/* Either output may be NULL.  The map is malloc'ed: store__shardmap_free. */
int store__bucket_decode(struct rs_arena *a, struct store_bucket *out,
                         struct idx_shardmap **map_out, const char *name,
                         const char *json, size_t len);
void store__shardmap_free(struct idx_shardmap *m);

char *store__upload_encode(const struct store_upload *u);
int store__upload_decode(struct rs_arena *a, struct store_upload *out,
                         const char *json, size_t len);

char *store__part_encode(const struct store_part *p, const void *layout,
                         size_t layout_len);
int store__part_decode(struct rs_arena *a, struct store_part *out,
                       const char *json, size_t len);

/* Replace one member of a JSON record ("tags", "acl") and re-encode. */
char *store__rec_set_tags(const char *json, size_t len,
                          const struct rs_kv *tags, size_t ntags);
char *store__rec_set_acl(const char *json, size_t len,
                         const struct store_acl *acl);

/* Garbage {"v":1,"group":N} and pending {"v":1,"group":N,"t":NS}. */
char *store__garbage_encode(uint8_t group);
char *store__pending_encode(uint8_t group, int64_t t_ns);
/* The group of a garbage or pending record. */
int store__rec_group(uint8_t *out, const char *json, size_t len);

/* ------------------------------------------------------------------ */
/* store.c helpers shared by writer.c, mpu.c                            */
/* ------------------------------------------------------------------ */

pthread_mutex_t *store__key_lock(struct store *s, const char *bucket,
                                 const char *key);
pthread_rwlock_t *store__bucket_lock(struct store *s, const char *bucket);
/* The shard map of bucket (RS_ENOTFOUND with a message when the bucket
 * does not exist). */
int store__bucket_map(struct idx_shardmap **out, struct store *s,
                      const char *bucket);
/* New random container name (32 hex + NUL). */
void store__new_name(char *out);
/* Validate a key (1..1024 bytes of UTF-8); RS_EINVAL. */
int store__check_key(const char *key);
/* Smallest string above every string starting with p (malloc'ed); ""
 * when there is none. */
char *store__prefix_successor(const char *p);

/* ------------------------------------------------------------------ */
/* Garbage (gc.c)                                                       */
/* ------------------------------------------------------------------ */

/* Stage g/ records for every container of l in b; returns how many
 * (add them to gc_pending once b committed). */
size_t store__garbage_add(struct idx_batch *b, const struct store_layout *l);
/* Stage one g/ record for container of group. */
void store__garbage_add_one(struct idx_batch *b, const char *container,
                            uint8_t group);
/* Move every pending record left by a crashed writer to garbage. */
int store__gc_recover(struct store *s);
int store__gc_start(struct store *s);
void store__gc_stop(struct store *s);
/* Run one collection pass now, in the calling thread (tests, admin). */
int store__gc_pass(struct store *s, size_t *removed_out);

/* ------------------------------------------------------------------ */
/* Pins (reader.c)                                                      */
/* ------------------------------------------------------------------ */

/* Pin every container of l; RS_ENOTFOUND if one is being removed. */
int store__pin_layout(struct store *s, const struct store_layout *l);
void store__unpin_layout(struct store *s, const struct store_layout *l);
/* For the collector: mark name doomed unless pinned (true when doomed). */
bool store__pin_doom(struct store *s, const char *name);
void store__pin_undoom(struct store *s, const char *name);

#endif /* STORE_INT_H */
