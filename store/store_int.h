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
 *         lifecycle.c bucket lifecycle rules and their runner thread
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
#include <sys/uio.h>
#include <stdatomic.h>

#define STORE_NGROUPS 2
#define STORE_KEY_LOCKS 256
#define STORE_BUCKET_LOCKS 64
#define STORE_PIN_BUCKETS 1024
/* Slots of each table of the metadata cache (mcache.c). */
#define STORE_MCACHE_SLOTS 1024
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
    /* Their decoded forms (mcache.c). */
    struct store_mcache *mc;
    /* Objects with an append in progress (append.c): one at a time per
     * object; app_lock is taken before any bucket or key lock. */
    pthread_mutex_t app_lock;
    pthread_cond_t app_cond;
    struct app_claim *claims;
    uint32_t max_appends;
    /* Event outbox (outbox.c); NULL when events are off. */
    struct store_outbox *ob;
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

    /* Compaction (compact.c): one pass at a time (compact_lock); the
     * thread's stop flag is guarded by gc_lock. */
    pthread_mutex_t compact_lock;
    bool compact_stop;
    bool compact_running;
    pthread_cond_t compact_cond;
    pthread_t compact_thread;
    unsigned compact_percent;
    int compact_interval;            /* seconds */
    atomic_uint_fast64_t compactions, compacted_objects, compacted_bytes;

    /* The merge path (merge.c); NULL when cfg->small_threshold is 0. */
    struct merge *mg;
    /* Open container handles (reader.c, "file cache"). */
    pthread_mutex_t files_lock;
    struct store_file *files[STORE_PIN_BUCKETS];
    struct store_file *files_lru;    /* oldest unused first */
    struct store_file *files_mru;
    size_t nfiles, max_files;

    /* Bucket lifecycle (lifecycle.c): runner, pass lock, counters and the
     * cache of decoded configurations. */
    struct store_lc *lc;
};

/* ------------------------------------------------------------------ */
/* Layout (layout.c)                                                    */
/* ------------------------------------------------------------------ */

/* count consecutive extents of len data bytes each, back to back in one
 * container from offset, each followed by its CRC array. */
/* store_run.flags */
#define STORE_RUN_MERGED 1           /* container shared (merge.c) */
#define STORE_RUN_OPEN 2             /* the open (partial) last block of
                                        an appendable object; its CRC is
                                        open_crc (layout.c, append.c) */

struct store_run {
    char container[STORE_CNAME_SIZE];
    uint8_t group;                   /* enum store_class */
    uint8_t flags;                   /* STORE_RUN_MERGED */
    uint32_t block;                  /* CRC block size of these extents */
    uint64_t offset;                 /* container offset of extent 0 */
    uint64_t len;                    /* data bytes per extent */
    uint32_t count;                  /* extents in the run, >= 1 */
    uint32_t open_crc;               /* STORE_RUN_OPEN: CRC32C of the
                                        len bytes */
};

struct store_layout {
    struct store_run *runs;          /* malloc'ed */
    size_t nruns, cap;
    uint64_t size;                   /* sum of all extents' data */
};

/* Bytes an extent of len data bytes takes in its container. */
uint64_t store__extent_span(uint64_t len, uint32_t block);
/* Container offset just past the run's last byte (data or CRC). */
uint64_t store__run_end(const struct store_run *r);
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

/* ------------------------------------------------------------------ */
/* Metadata cache (mcache.c): decoded user and bucket records           */
/* ------------------------------------------------------------------ */

void store__mcache_init(struct store *s);
void store__mcache_fini(struct store *s);
/* After every committed change of a user or bucket record. */
void store__mcache_changed(struct store *s);
/* Take the generation before reading the index; pass it to the _put. */
uint64_t store__mcache_gen(struct store *s);
bool store__mcache_user(struct store *s, struct store_user *out,
                        const char *access_key);
void store__mcache_user_put(struct store *s, uint64_t gen,
                            const struct store_user *u);
/* out (strings in a) and map_out (malloc'ed) may each be NULL. */
bool store__mcache_bucket(struct store *s, struct rs_arena *a,
                          struct store_bucket *out,
                          struct idx_shardmap **map_out, const char *name);
void store__mcache_bucket_put(struct store *s, uint64_t gen,
                              const struct store_bucket *b,
                              const struct idx_shardmap *map);

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
/* Replace the layout only (compaction moves). */
char *store__rec_set_layout(const char *json, size_t len, const void *layout,
                            size_t layout_len);
/* Replace the storage class and, when layout is not NULL, the layout
 * (lifecycle transitions). */
char *store__rec_set_class(const char *json, size_t len,
                           const char *storage_class, const void *layout,
                           size_t layout_len);

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

/* Read all of o (a small object: it fits in memory) into *out (reader.c;
 * malloc'ed, also on failure: the caller frees it), every block
 * verified; a short read is RS_ECORRUPT (compaction's and the lifecycle's
 * moves of merged objects). */
int store__read_whole(struct store *s, const struct store_obj *o,
                      uint8_t **out);

/* ------------------------------------------------------------------ */
/* Open container handles (reader.c)                                    */
/* ------------------------------------------------------------------ */

/* A cached open handle of a container; shared by readers (read_at is
 * safe concurrently). */
struct store_file {
    struct store_file *next;         /* hash chain */
    struct store_file *lru_prev, *lru_next; /* when refs == 0 */
    char name[STORE_CNAME_SIZE];
    uint8_t group;
    uint32_t refs;
    struct store_bk_file *f;
};

/* A referenced handle of container name in group (opened when not
 * cached); RS_ENOTFOUND when the container does not exist. */
int store__file_get(struct store *s, struct store_file **out, uint8_t group,
                    const char *name);
void store__file_put(struct store *s, struct store_file *f);
/* Close the cached handle of name, if unused (before removing it). */
void store__file_forget(struct store *s, const char *name);
void store__files_close(struct store *s);

/* ------------------------------------------------------------------ */
/* Write-ahead log (wal.c)                                              */
/* ------------------------------------------------------------------ */

#define WAL_HDR 24
#define WAL_BATCH_BUCKETS 9          /* batch sizes <=1,2,4..128, more */

struct wal;

/* A record to log.  The owner fills iov/niov (the payload, at most 6
 * pieces; it must stay valid until wal_wait returns) and arg; the log
 * fills the rest. */
struct wal_rec {
    struct wal_rec *next;
    uint64_t seq;                    /* assigned by wal_enqueue */
    uint64_t seg;                    /* segment id when enqueued: the
                                        record is in it or a later one */
    struct iovec iov[6];
    int niov;
    uint8_t hdr[WAL_HDR];
    int rc;                          /* result, set by the batch */
    bool done;
    pthread_cond_t wake;             /* its owner waits here (wal_wait):
                                        woken when done, or to lead */
    void *arg;                       /* the owner's */
};

/* Called by the leader of a batch after its records are durable, in
 * sequence order; sets recs[i]->rc where one record fails alone, and
 * returns an error to fail them all. */
typedef int (*wal_apply_fn)(void *ctx, struct wal_rec **recs, size_t n);
/* Called by wal_replay for each intact record, in log order. */
typedef int (*wal_replay_fn)(void *arg, uint64_t seg, uint64_t seq,
                             uint8_t type, const uint8_t *payload,
                             size_t len);

struct wal_stats {
    uint64_t fsyncs, records, bytes, failed_batches;
    uint64_t batch_hist[WAL_BATCH_BUCKETS];  /* batches by record count */
    uint64_t segments;
};

struct wal_replay_stats {
    uint64_t segments, records, bytes, torn_bytes, bad_segments;
    uint64_t max_seq, max_segment;
    double seconds;
};

/* Read every segment of dir, oldest first, calling cb per record. */
int wal_replay(const char *dir, wal_replay_fn cb, void *arg,
               struct wal_replay_stats *st);
/* Open the log for writing (a new segment after those present); the next
 * record gets sequence next_seq. */
int wal_open(struct wal **out, const char *dir, uint64_t seg_max,
             uint64_t next_seq, wal_apply_fn apply, void *ctx);
void wal_close(struct wal *w);
void wal_enqueue(struct wal *w, struct wal_rec *r, uint8_t type);
/* Wait until r is durable and applied (leading a batch when needed). */
int wal_wait(struct wal *w, struct wal_rec *r);
uint64_t wal_active_segment(struct wal *w);
/* Remove every segment with id < below except the active one.  The
 * caller has made the index durable first. */
int wal_retire(struct wal *w, uint64_t below);
/* Remove every segment, the active one too (clean close: nothing is
 * queued and the index holds everything durably). */
int wal_drop_all(struct wal *w);
void wal_get_stats(struct wal *w, struct wal_stats *out);

/* ------------------------------------------------------------------ */
/* The merge path (merge.c)                                             */
/* ------------------------------------------------------------------ */

struct merge;

int store__merge_open(struct store *s, const struct rs_config *cfg);
/* Flush everything and stop (clean shutdown leaves an empty WAL). */
void store__merge_close(struct store *s);
/* Whether an object of n bytes takes the merge path. */
bool store__merge_small(const struct store *s, uint64_t n);
/*
 * Store data[n] as bucket/key through the WAL (store_writer_commit's
 * contract: info's public fields are the metadata; size, mtime set on
 * success).  class_name selects the group.
 */
int store__merge_put(struct store *s, const char *bucket, const char *key,
                     const char *class_name, uint8_t group,
                     const void *data, size_t n, struct store_obj *info);
/*
 * Read-modify-write of one object record (store.c) under the bucket
 * (read) and key locks, in one synced batch with its event ev.  edit
 * returns the new value (malloc'ed) or is NULL for a deletion (the old
 * layout becomes garbage); relayout: the edit replaced the layout, so the
 * old one becomes garbage too; unpend: a container whose pending record
 * the batch drops (the record references it now).  still (may be NULL)
 * sees the record as it is under the lock: false -> RS_ECONFLICT,
 * nothing written.  RS_ENOTFOUND without the object.
 */
struct store_obj_edit {
    char *(*edit)(const char *v, size_t vl, const void *arg);
    const void *arg;
    store_obj_pred still;
    void *still_arg;
    bool relayout;
    const char *unpend;
};
int store__obj_update(struct store *s, const char *bucket, const char *key,
                      const struct store_obj_edit *ed,
                      enum store_event_kind ev);

/*
 * A writer of a bare container of storage group `group`, outside any
 * object (a lifecycle transition's copy of bucket/key): fed with
 * store_writer_write, always striped, never merged.  store__writer_seal
 * syncs it and gives its layout (malloc'ed) and container name; the
 * caller drops the container's pending record (idx_key_pending) in the
 * batch that makes the object reference it, then store__writer_release
 * frees the writer and keeps the container; store_writer_abort removes
 * it instead.
 */
struct store_writer *store__writer_raw(struct store *s, const char *bucket,
                                       const char *key, uint8_t group);
int store__writer_seal(struct store_writer *w, void **blob, size_t *len,
                       const char **container);
void store__writer_release(struct store_writer *w);

/* Move the merged object bucket/key (data[n]) out of the extent `from`
 * into the open container of storage group `group` (compaction: the
 * same group; a lifecycle transition: the target's): its record keeps
 * everything but the layout.  RS_ECONFLICT when the object is no longer
 * at `from`. */
int store__merge_move(struct store *s, const char *bucket, const char *key,
                      const struct store_run *from, uint8_t group,
                      const void *data, size_t n);
/* A merged container still in memory, referenced; NULL when flushed. */
struct merge_ctr *store__merge_find(struct store *s, const char *name);
/* Copy up to n bytes at off of a container in memory; *got short only
 * at its end. */
void store__merge_read(struct merge_ctr *c, void *p, size_t n, uint64_t off,
                       size_t *got);
void store__merge_unref(struct store *s, struct merge_ctr *c);
void store__merge_stats(struct store *s, struct store_merge_stats *out);
/* A merged container left the disk accounting (compaction, fsck). */
void store__merge_gone(struct store *s, uint64_t length, uint64_t members);

/* A decoded c/ record (merge.c has the format). */
struct store_ctr_member {
    uint64_t offset;
    uint32_t span;
    char *key;
};
struct store_ctr_rec {
    uint8_t group;
    char *bucket;
    uint64_t length, member_bytes;
    struct store_ctr_member *members;
    size_t nmembers;
};
int store__ctr_decode(struct store_ctr_rec *out, const char *v, size_t n);
void store__ctr_rec_dispose(struct store_ctr_rec *r);

/* ------------------------------------------------------------------ */
/* Event outbox (outbox.c)                                              */
/* ------------------------------------------------------------------ */

struct store_event {
    enum store_event_kind kind;
    const char *bucket, *key;
    const struct store_obj *obj;     /* the object after the change; NULL
                                        for a delete */
    uint64_t old_len, new_len;       /* appends */
};

int store__outbox_open(struct store *s, bool enabled);
void store__outbox_close(struct store *s);
/* The record (malloc'ed JSON) of e, with this thread's request context. */
char *store__event_encode(struct store *s, const struct store_event *e);
/* Stage e's record in b under a new sequence (0 when events are off);
 * call store__event_done with it once b is committed or dropped. */
uint64_t store__event_add(struct store *s, struct idx_batch *b,
                          const struct store_event *e);
/* The same with a record already encoded. */
uint64_t store__event_add_raw(struct store *s, struct idx_batch *b,
                              const char *json);
void store__event_done(struct store *s, uint64_t seq);
/* A notification configuration changed (store_notification_gen moves). */
void store__notification_changed(void);

/* Finish or roll back every append journal record (append.c), at open. */
int store__append_recover(struct store *s);

/* Bucket lifecycle (lifecycle.c): state made by store_open, the runner
 * stopped and everything freed by store_close; _changed after a bucket's
 * configuration went with the bucket. */
void store__lifecycle_init(struct store *s, const struct rs_config *cfg);
void store__lifecycle_fini(struct store *s);
void store__lifecycle_changed(struct store *s);

/* Compaction thread (compact.c). */
int store__compact_start(struct store *s, const struct rs_config *cfg);
void store__compact_stop(struct store *s);

/* Dead bytes and objects of a merged container (its x/ counters; zeros
 * when it has none). */
void store__merge_dead_get(struct store *s, const char *container,
                           uint64_t *bytes, uint64_t *objs);
/* Stage dead-byte counters for a replaced merged run. */
void store__merge_dead(struct idx_batch *b, const struct store_run *r);

#endif /* STORE_INT_H */
