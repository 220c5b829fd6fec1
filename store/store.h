/*
 * store/store.h - objects and metadata: the one API the gateway, the admin
 * tools and the workers use to reach the index (RocksDB) and the data
 * (storage groups behind a backend ops table).
 *
 * The store knows nothing of HTTP or S3 error codes: functions return
 * rs_err codes (core/rs.h) with a detail message.  Every function here is
 * thread-safe: a struct store is shared by all connection threads.
 *
 * Durability: a function that changes state returns RS_OK only after the
 * data (fdatasync of files and of new directory entries) and the index
 * entry (RocksDB write with sync) are on stable storage; for a small
 * object (merge path, store/merge.c) after its write-ahead-log record is,
 * from which a restart rebuilds data and index entry.
 *
 * Memory: results that carry strings are allocated from the caller's
 * arena (`struct rs_arena *a`) and live as long as it does.
 */
#ifndef STORE_H
#define STORE_H

#include "core/rs.h"

struct store;
struct store_writer;
struct store_reader;

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */
/* ------------------------------------------------------------------ */

/*
 * Open (creating when missing) the index and the storage groups named in
 * cfg.  RS_EBUSY when another process holds the index (a running server);
 * the message says so.  Starts the background garbage collector, which
 * removes data of deleted or overwritten objects after cfg->gc_delay.
 */
int store_open(struct store **out, const struct rs_config *cfg);
void store_close(struct store *s); /* NULL does nothing */

/* ------------------------------------------------------------------ */
/* Users                                                                */
/* ------------------------------------------------------------------ */

struct store_user {
    char name[65];          /* unique user name, 1..64 bytes */
    char access_key[129];   /* unique */
    char secret_key[129];
    char display_name[129];
    char email[257];
    int64_t created_ns;
    bool root;              /* the node's root user (admin endpoint) */
};

/* RS_EEXIST when the name or the access key is taken. */
int store_user_create(struct store *s, const struct store_user *u);
/* Fill an empty access_key (20 characters, A-Z0-9) and an empty secret_key
 * (40 characters, A-Za-z0-9) of u with random ones, as AWS shapes them. */
void store_user_generate_keys(struct store_user *u);
int store_user_get(struct store *s, struct store_user *out, const char *name);
int store_user_by_access_key(struct store *s, struct store_user *out,
                             const char *access_key);
/* Calls cb for every user in name order; a non-zero return stops it and is
 * returned. */
int store_user_list(struct store *s,
                    int (*cb)(void *arg, const struct store_user *u),
                    void *arg);
/* RS_ECONFLICT when the user still owns buckets. */
int store_user_remove(struct store *s, const char *name);

/* ------------------------------------------------------------------ */
/* Access control: canned ACLs and explicit grants                      */
/* ------------------------------------------------------------------ */

enum store_perm {
    STORE_PERM_READ = 1,
    STORE_PERM_WRITE = 2,
    STORE_PERM_READ_ACP = 4,
    STORE_PERM_WRITE_ACP = 8,
    STORE_PERM_FULL_CONTROL = 15,
};

enum store_grantee_kind {
    STORE_GRANTEE_USER,          /* id = user name (canonical id) */
    STORE_GRANTEE_ALL_USERS,     /* http://acs.amazonaws.com/groups/global/AllUsers */
    STORE_GRANTEE_AUTH_USERS,    /* .../global/AuthenticatedUsers */
};

struct store_grant {
    enum store_grantee_kind kind;
    char *id;                    /* user name for STORE_GRANTEE_USER */
    unsigned perm;               /* enum store_perm bits */
};

/* An ACL: owner always has FULL_CONTROL implicitly in addition to grants. */
struct store_acl {
    char *owner;                 /* user name */
    struct store_grant *grants;
    size_t ngrants;
};

/* ------------------------------------------------------------------ */
/* Buckets                                                              */
/* ------------------------------------------------------------------ */

struct store_bucket {
    char *name;
    int64_t created_ns;
    char *region;
    struct store_acl acl;        /* acl.owner is the bucket's owner */
};

/* RS_EEXIST when the name is taken (by anyone). */
int store_bucket_create(struct store *s, const struct store_bucket *b);
int store_bucket_get(struct store *s, struct rs_arena *a,
                     struct store_bucket *out, const char *name);
/* RS_ECONFLICT when it holds objects or multipart uploads. */
int store_bucket_delete(struct store *s, const char *name);
int store_bucket_set_acl(struct store *s, const char *name,
                         const struct store_acl *acl);
/* All buckets in name order (owner filter NULL for all). */
int store_bucket_list(struct store *s, struct rs_arena *a, const char *owner,
                      int (*cb)(void *arg, const struct store_bucket *b),
                      void *arg);

/* ------------------------------------------------------------------ */
/* Objects                                                              */
/* ------------------------------------------------------------------ */

enum store_class {
    STORE_CLASS_STANDARD = 0,       /* storage group "standard" */
    STORE_CLASS_LOW_FREQUENCY = 1,  /* storage group "low-frequency" */
};

/*
 * An object's metadata.  The gateway fills the public fields before
 * store_writer_commit(); the store fills size, mtime_ns and the private
 * layout.  Strings and arrays belong to the arena the record was read into
 * (or to the caller, when passed in).
 */
struct store_obj {
    char *bucket;
    char *key;
    uint64_t size;
    int64_t mtime_ns;
    char *etag;                 /* without quotes: hex md5, or hex-N */
    char *storage_class;        /* S3 name as given: STANDARD, STANDARD_IA,
                                   GLACIER, ...; selects the group */
    struct store_acl acl;       /* acl.owner is the object's owner */
    struct rs_kv *headers;      /* stored response headers: Content-Type,
                                   Content-Encoding, Content-Disposition,
                                   Content-Language, Cache-Control, Expires,
                                   names in canonical case */
    size_t nheaders;
    struct rs_kv *meta;         /* x-amz-meta-* (name without the prefix,
                                   lower case) */
    size_t nmeta;
    struct rs_kv *tags;         /* object tags, in the order given */
    size_t ntags;
    struct rs_kv *checksums;    /* e.g. {"CRC32", base64}, full-object */
    size_t nchecksums;
    uint32_t parts_count;       /* 0 for a simple PUT, N for multipart */
    uint64_t *part_sizes;       /* parts_count sizes, for partNumber GETs */
    /* Appendable objects (store_append_*): set by the store. */
    uint32_t appends;           /* appends that made it grow; 0 for an
                                   object that never grew by append */
    uint64_t crc64;             /* appends > 0: CRC-64/NVME of the whole
                                   content, kept incrementally */
    /* In: which event a commit of this object writes (a copy says
     * STORE_EV_COPY); not stored. */
    uint8_t event;
    /* private: the data layout, filled and read by the store only */
    void *_layout;
    size_t _layout_len;
};

/* Map an S3 storage class name to its group; RS_EINVAL if unknown. */
int store_class_parse(enum store_class *out, const char *s3_name);

/*
 * Metadata of bucket/key into *out.  RS_ENOTFOUND when there is none.
 */
int store_object_head(struct store *s, struct rs_arena *a,
                      struct store_obj *out, const char *bucket,
                      const char *key);

/*
 * Streaming write of a whole object.  Data goes to a new container in the
 * group chosen by storage_class, never replacing the old object until
 * commit: store_writer_commit() syncs data and directory entries, then
 * writes the index entry with sync, atomically replacing any previous
 * object (whose data becomes garbage).  store_writer_abort() (also valid
 * after a failed write) removes what was written.  A writer is used by one
 * thread at a time.
 *
 * store_writer_write returns RS_ENOSPC / RS_EIO on disk failures,
 * RS_ETOOBIG past cfg->max_object_size.
 */
int store_writer_open(struct store *s, struct store_writer **out,
                      const char *bucket, const char *key,
                      const char *storage_class);
int store_writer_write(struct store_writer *w, const void *p, size_t n);
/* Bytes written so far. */
uint64_t store_writer_size(const struct store_writer *w);
/* info: the metadata to store (bucket, key, size and layout are set by the
 * store).  Frees the writer whatever the result. */
int store_writer_commit(struct store_writer *w, struct store_obj *info);
void store_writer_abort(struct store_writer *w); /* NULL does nothing */

/*
 * Open the data of an object described by obj (from store_object_head).
 * The reader holds the object's data open: a concurrent overwrite or delete
 * does not change what it returns.  RS_ENOTFOUND if the data went away
 * between head and open (the caller retries the head).
 */
int store_reader_open(struct store *s, struct store_reader **out,
                      const struct store_obj *obj);
/* Read up to n bytes at off into p; *got is 0 only at end of object.
 * Every block is checked against its stored checksum: RS_ECORRUPT on a
 * mismatch, never wrong bytes. */
int store_reader_read(struct store_reader *r, uint64_t off, void *p,
                      size_t n, size_t *got);
void store_reader_close(struct store_reader *r); /* NULL does nothing */

/* RS_ENOTFOUND when there was no object (S3 still answers 204). */
int store_object_delete(struct store *s, const char *bucket, const char *key);

/* Replace tags / ACL of an existing object atomically (read-modify-write
 * under the key's lock); RS_ENOTFOUND when there is none. */
int store_object_set_tags(struct store *s, const char *bucket,
                          const char *key, const struct rs_kv *tags,
                          size_t ntags);
int store_object_set_acl(struct store *s, const char *bucket,
                         const char *key, const struct store_acl *acl);

/* ------------------------------------------------------------------ */
/* Listing                                                              */
/* ------------------------------------------------------------------ */

struct store_list_opts {
    const char *prefix;      /* NULL or "" for all */
    const char *delimiter;   /* NULL or "" for none */
    const char *start_after; /* list keys strictly greater; NULL for none */
    size_t max_keys;         /* entries + common prefixes, 0 allowed */
};

/*
 * One entry of a listing: an object (obj != NULL) or a common prefix
 * (prefix != NULL).  Both live in the arena.
 */
struct store_list_entry {
    const struct store_obj *obj;
    const char *prefix;
};

/*
 * List bucket in key order, one range scan over the index: calls cb for up
 * to max_keys entries.  *truncated tells whether more remain, and
 * *next_out (arena) is the last key or common prefix returned, which the
 * caller passes as start_after to continue.  Objects under a common
 * prefix are skipped by seeking, not by reading them.
 */
int store_object_list(struct store *s, struct rs_arena *a, const char *bucket,
                      const struct store_list_opts *o,
                      int (*cb)(void *arg, const struct store_list_entry *e),
                      void *arg, bool *truncated, const char **next_out);

/* ------------------------------------------------------------------ */
/* Events: the outbox (outbox.c)                                        */
/* ------------------------------------------------------------------ */

/* What a mutation was, for its event (the S3 event names). */
enum store_event_kind {
    STORE_EV_DEFAULT = 0,       /* the operation's own (a write: Put) */
    STORE_EV_PUT,               /* ObjectCreated:Put */
    STORE_EV_COPY,              /* ObjectCreated:Copy */
    STORE_EV_COMPLETE_MULTIPART,/* ObjectCreated:CompleteMultipartUpload */
    STORE_EV_APPEND,            /* ObjectCreated:Append */
    STORE_EV_DELETE,            /* ObjectRemoved:Delete */
    STORE_EV_TAGGING_PUT,       /* ObjectTagging:Put */
    STORE_EV_TAGGING_DELETE,    /* ObjectTagging:Delete */
    STORE_EV_ACL_PUT,           /* ObjectAcl:Put */
    STORE_EV_LIFECYCLE_TRANSITION, /* LifecycleTransition */
    STORE_EV_LIFECYCLE_EXPIRATION, /* LifecycleExpiration:Delete */
    STORE_EV_COUNT
};

/*
 * Delete bucket/key only if still(arg, record) says yes for the record
 * read under the key's lock, in the same critical section as the index
 * batch that deletes it (with its event ev, which carries the deleted
 * record's size and ETag): RS_ECONFLICT when it says no, RS_ENOTFOUND
 * when there is no object.  The lifecycle's expiry uses it so that an
 * object overwritten after it was evaluated is never deleted.
 */
typedef bool (*store_obj_pred)(void *arg, const struct store_obj *now);
int store_object_delete_if(struct store *s, const char *bucket,
                           const char *key, store_obj_pred still, void *arg,
                           enum store_event_kind ev);

/* The S3 event name of kind ("ObjectCreated:Put"). */
const char *store_event_name(enum store_event_kind kind);

/*
 * Who asked, for the events of the mutations this thread makes next: the
 * gateway sets it per request (strings copied; NULLs clear it).
 */
void store_event_context(const char *request_id, const char *requester,
                         const char *source_ip);

/*
 * The outbox: every mutation writes one event record in the same atomic
 * index batch as the change, numbered by a sequence that grows by one per
 * event (gaps only where a commit failed).  head is the highest sequence
 * whose predecessors are all committed or abandoned: readers never see a
 * later event before an earlier one.
 */
uint64_t store_events_head(struct store *s);
/* Wait until head > after or timeout_ms passed; returns head. */
uint64_t store_events_wait(struct store *s, uint64_t after, int timeout_ms);
/* Events after < seq <= upto in order (at most max, 0 = all): cb gets the
 * record (JSON, "v":1, outbox.c documents it); a non-zero return stops
 * the read and is returned (so an rs_err is negative, a stop positive). */
int store_events_read(struct store *s, uint64_t after, uint64_t upto,
                      size_t max,
                      int (*cb)(void *arg, uint64_t seq, const char *json,
                                size_t len),
                      void *arg);
/* Drop events with seq < below (delivered everywhere, or expired). */
int store_events_prune(struct store *s, uint64_t below);
/* Sequence of the oldest event kept (0: none). */
uint64_t store_events_first(struct store *s);

/*
 * Durable state of the event subsystem's consumer groups (events/broker.c
 * owns the formats; the store keeps the bytes): one record per group
 * ("G/<group>") and one per dead-lettered event ("D/<group>/<seq>").
 * Group records are written without sync unless sync is set (a cursor
 * that lags after a power cut means redelivery, which at-least-once
 * allows).  Names are 1..64 bytes of [A-Za-z0-9._-].
 */
int store_events_group_put(struct store *s, const char *group,
                           const char *json, bool sync);
bool store_events_group_name_ok(const char *group);
/* Remove a group's record, and its dead letters too when asked. */
int store_events_group_delete(struct store *s, const char *group,
                              bool dead_letters);
int store_events_group_list(struct store *s,
                            int (*cb)(void *arg, const char *group,
                                      const char *json, size_t len),
                            void *arg);
int store_events_dlq_put(struct store *s, const char *group, uint64_t seq,
                         const char *json);

/*
 * Bucket notification configurations (n/<bucket>; the gateway parses the
 * S3 XML, events/ reads the rules): json NULL removes.  Every change bumps
 * store_notification_gen, so readers know to reload.
 */
int store_notification_put(struct store *s, const char *bucket,
                           const char *json);
/* *json_out malloc'ed; RS_ENOTFOUND when the bucket has none. */
int store_notification_get(struct store *s, const char *bucket,
                           char **json_out);
int store_notification_list(struct store *s,
                            int (*cb)(void *arg, const char *bucket,
                                      const char *json, size_t len),
                            void *arg);
uint64_t store_notification_gen(struct store *s);
/* group NULL: every group's, in (group, seq) order. */
int store_events_dlq_list(struct store *s, const char *group,
                          int (*cb)(void *arg, const char *group,
                                    uint64_t seq, const char *json,
                                    size_t len),
                          void *arg);

/* ------------------------------------------------------------------ */
/* Appends (append.c): the log-based append write of seed 003           */
/* ------------------------------------------------------------------ */

struct store_appender;

struct store_append_req {
    const char *bucket;
    const char *key;
    uint64_t position;           /* must equal the object's length */
    /* May the requester write this existing object under its ACL?  NULL
     * allows; the bucket's permission is the caller's business. */
    bool (*allowed)(void *arg, const struct store_acl *object_acl);
    void *allowed_arg;
    /* Metadata of an object the append creates (position 0 on a missing
     * key): storage_class, acl, headers, meta as for a PUT.  May be NULL
     * (STANDARD, owner-less ACL). */
    const struct store_obj *create;
};

/*
 * Begin an append to bucket/key.  Waits while another append to the same
 * object is in progress, then checks it: RS_EDENIED (allowed said no),
 * RS_ECONFLICT (position is not the object's length), RS_ETOOBIG (the
 * object already has cfg->max_appends appends: *too_many set).  In every
 * case *length_out is the object's current length (0 when missing), so
 * the caller can report it.  A writer is used by one thread.
 */
int store_append_open(struct store *s, struct store_appender **out,
                      const struct store_append_req *req,
                      uint64_t *length_out, bool *too_many);
/* RS_ETOOBIG past cfg->max_object_size; RS_ENOSPC, RS_EIO. */
int store_append_write(struct store_appender *ap, const void *p, size_t n);
/*
 * Make the append durable and visible: on RS_OK *info (strings in a) is
 * the object's new metadata (size = new length, etag, appends, crc64).
 * RS_ECONFLICT when the object was replaced or deleted meanwhile
 * (*length_out = its length now).  Frees the appender whatever the
 * result; nothing of a failed append remains.
 */
int store_append_commit(struct store_appender *ap, struct rs_arena *a,
                        struct store_obj *info, uint64_t *length_out);
void store_append_abort(struct store_appender *ap); /* NULL does nothing */

/* ------------------------------------------------------------------ */
/* Multipart uploads                                                    */
/* ------------------------------------------------------------------ */

struct store_upload {
    char *bucket;
    char *key;
    char *upload_id;
    int64_t initiated_ns;
    struct store_obj info;   /* metadata for the final object (class, acl,
                                headers, meta, tags) */
};

struct store_part {
    uint32_t number;         /* 1..10000 */
    uint64_t size;
    int64_t mtime_ns;
    char *etag;              /* hex md5, no quotes */
    struct rs_kv *checksums;
    size_t nchecksums;
};

/* Create an upload; *upload_id_out (arena) is a new unique id. */
int store_upload_create(struct store *s, struct rs_arena *a,
                        const char **upload_id_out,
                        const struct store_upload *u);
/* RS_ENOTFOUND when there is no such upload for bucket/key. */
int store_upload_get(struct store *s, struct rs_arena *a,
                     struct store_upload *out, const char *bucket,
                     const char *key, const char *upload_id);
/*
 * Write one part; same contract as an object writer (commit replaces a
 * part of the same number).  Commit with store_part_writer_commit.
 */
int store_part_writer_open(struct store *s, struct store_writer **out,
                           const char *bucket, const char *key,
                           const char *upload_id, uint32_t part_number);
int store_part_writer_commit(struct store_writer *w,
                             const struct store_part *info);
/* Parts in number order with number > marker, up to max (0 = all). */
int store_part_list(struct store *s, struct rs_arena *a, const char *bucket,
                    const char *key, const char *upload_id, uint32_t marker,
                    size_t max,
                    int (*cb)(void *arg, const struct store_part *p),
                    void *arg, bool *truncated);
/*
 * Make the object from the given parts (numbers strictly increasing, each
 * existing with the given etag; validated by the caller, re-checked here
 * under the upload's lock: RS_ECONFLICT if one changed, RS_ENOTFOUND if the
 * upload is gone).  No data is copied: the object's layout references the
 * parts' extents; parts not named become garbage.  info carries etag and
 * metadata for the final object; info->size is set here.
 */
int store_upload_complete(struct store *s, const char *bucket,
                          const char *key, const char *upload_id,
                          const uint32_t *part_numbers, size_t nparts,
                          struct store_obj *info);
/*
 * The same with the etag (hex md5, no quotes) the caller validated for
 * each part: a part whose etag differs now is RS_ECONFLICT.  (Added with
 * the implementation: store_upload_complete alone can re-check the parts
 * only through info->etag, when it is the S3 multipart etag
 * "hex(md5(md5_1..md5_N))-N"; it calls this with etags NULL.)
 */
int store_upload_complete_etags(struct store *s, const char *bucket,
                                const char *key, const char *upload_id,
                                const uint32_t *part_numbers,
                                const char *const *etags, size_t nparts,
                                struct store_obj *info);
int store_upload_abort(struct store *s, const char *bucket, const char *key,
                       const char *upload_id);
/*
 * Uploads of bucket in (key, upload id) order, keys with the prefix, after
 * (key_marker, upload_id_marker) as S3 defines; same delimiter and paging
 * contract as store_object_list (next_key/next_upload on truncation).
 */
struct store_upload_list_opts {
    const char *prefix;
    const char *delimiter;
    const char *key_marker;
    const char *upload_id_marker;
    size_t max_uploads;
};
struct store_upload_entry {
    const struct store_upload *upload;  /* or NULL for a common prefix */
    const char *prefix;
};
int store_upload_list(struct store *s, struct rs_arena *a, const char *bucket,
                      const struct store_upload_list_opts *o,
                      int (*cb)(void *arg, const struct store_upload_entry *e),
                      void *arg, bool *truncated);

/* ------------------------------------------------------------------ */
/* Bucket lifecycle (lifecycle.c)                                       */
/* ------------------------------------------------------------------ */

/* The S3 LifecycleConfiguration of a bucket, validated by the gateway.
 * Strings and arrays belong to an arena (or the caller). */
#define STORE_LC_MAX_RULES 1000

struct store_lc_transition {
    int32_t days;                /* Days (>= 0), or -1 when date is used */
    int64_t date_ns;             /* Date (midnight UTC) when days < 0 */
    char *storage_class;         /* S3 name (STANDARD_IA, GLACIER, ...) */
    int32_t newer;               /* NewerNoncurrentVersions, -1: none */
};

struct store_lc_rule {
    char *id;                    /* 1..255 bytes */
    bool enabled;                /* Status */
    /* Filter.  legacy: the rule had a top-level <Prefix> (no Filter);
     * and: the Filter was an <And>; otherwise at most one of the
     * criteria below is set (an empty Filter matches everything). */
    bool legacy, and;
    char *prefix;                /* NULL: none */
    struct rs_kv *tags;          /* every one must be on the object */
    size_t ntags;
    bool has_size_gt, has_size_lt;
    uint64_t size_gt, size_lt;   /* ObjectSizeGreaterThan / LessThan */
    /* Expiration: days > 0, or has_date, or delete_marker >= 0. */
    int32_t exp_days;            /* 0: none */
    bool exp_has_date;
    int64_t exp_date_ns;
    int exp_delete_marker;       /* ExpiredObjectDeleteMarker: -1 none */
    struct store_lc_transition *transitions;
    size_t ntransitions;
    int32_t abort_days;          /* AbortIncompleteMultipartUpload
                                    DaysAfterInitiation, 0: none */
    /* Noncurrent-version actions: kept and given back, never acted on
     * (roadstore has no versioning). */
    int32_t nc_exp_days, nc_exp_newer;   /* -1: none */
    struct store_lc_transition *nc_transitions; /* days = NoncurrentDays */
    size_t nc_ntransitions;
};

struct store_lc_config {
    struct store_lc_rule *rules;
    size_t nrules;
};

/* Store (nrules > 0) or remove (c NULL or no rules) the configuration of
 * bucket; RS_ENOTFOUND when the bucket does not exist. */
int store_lifecycle_put(struct store *s, const char *bucket,
                        const struct store_lc_config *c);
/* RS_ENOTFOUND when the bucket has none (or does not exist). */
int store_lifecycle_get(struct store *s, struct rs_arena *a,
                        struct store_lc_config *out, const char *bucket);

/* Does rule r select object o (prefix, tags, sizes)? */
bool store_lc_rule_matches(const struct store_lc_rule *r,
                           const struct store_obj *o);
/* When an action of `days` days on something made at t_ns is due:
 * t + days * day_seconds, rounded up to the next midnight UTC when
 * day_seconds is 86400 (S3), exact otherwise. */
int64_t store_lc_due_ns(int64_t t_ns, int32_t days, int day_seconds);

/*
 * The expiration an enabled rule of o's bucket gives o, for the
 * x-amz-expiration header: the earliest one; false when none.  *rule_id
 * in a.  Reads a cached copy of the configuration (no index read when it
 * did not change).
 */
bool store_lifecycle_expiry(struct store *s, struct rs_arena *a,
                            const struct store_obj *o, int64_t *when_ns,
                            const char **rule_id);

struct store_lc_stats {
    uint64_t passes;
    uint64_t buckets, objects_scanned;
    uint64_t expired, expired_bytes;
    uint64_t transitioned, transitioned_bytes;
    uint64_t uploads_aborted;
    uint64_t skipped;            /* changed while being acted on */
    uint64_t errors;
    double last_pass_seconds;
};

/*
 * Run one lifecycle pass now (bucket NULL: every bucket with a
 * configuration) in the calling thread; passes are one at a time.  *out
 * gets this pass's counts.  Objects are visited in bounded batches; every
 * action is conditional on the object being the one evaluated.
 */
int store_lifecycle_run(struct store *s, const char *bucket,
                        struct store_lc_stats *out);
/* Start the background runner (cfg [lifecycle]); the server calls it,
 * store_close stops it.  Does nothing when cfg->lifecycle_enabled is
 * false. */
int store_lifecycle_start(struct store *s, const struct rs_config *cfg);
/* Stop the runner and make a pass in progress (the runner's or one an
 * admin request runs) end after its current object; no pass starts
 * afterwards.  store_close does it too. */
void store_lifecycle_halt(struct store *s);
/* Totals since the store was opened (last_pass_seconds: the last pass). */
void store_lifecycle_totals(struct store *s, struct store_lc_stats *out);

/* ------------------------------------------------------------------ */
/* Maintenance of merged containers                                     */
/* ------------------------------------------------------------------ */

struct store_compact_stats {
    uint64_t containers_scanned;
    uint64_t bytes_total, bytes_live;      /* over scanned containers */
    uint64_t containers_compacted;         /* handed to the collector */
    uint64_t objects_moved, bytes_moved;
    uint64_t bytes_freed;                  /* container bytes released
                                              (after gc_delay) */
    uint64_t errors;                       /* containers left as they were
                                              because a member could not be
                                              read */
};

/*
 * Compact every merged container whose dead share (deleted and overwritten
 * objects) is at least min_dead_percent: move its live objects into new
 * containers and hand it to the collector.  Safe while reads and writes go
 * on.  0 compacts every container (a full rewrite).
 */
int store_compact(struct store *s, unsigned min_dead_percent,
                  struct store_compact_stats *out);

struct store_fsck_opts {
    bool repair;          /* fix what can be fixed (fsck.c says how) */
    bool verify;          /* read every object byte (checks every CRC) */
    /* Called for each problem: kind is "missing", "corrupt", "orphan",
     * "unreferenced", "dead-counter" or "error". */
    void (*report)(void *arg, const char *kind, const char *msg);
    void *arg;
};

struct store_fsck_report {
    uint64_t objects, parts, containers, merged_containers;
    uint64_t bytes_verified;
    uint64_t missing, corrupt, orphans, unreferenced, counters;
    uint64_t repaired;
};

/* Walk index and containers; see store/fsck.c. */
int store_fsck(struct store *s, const struct store_fsck_opts *o,
               struct store_fsck_report *out);

/* ------------------------------------------------------------------ */
/* Statistics for /_roadstore/metrics and health                         */
/* ------------------------------------------------------------------ */

/* The merge path and its WAL (all zero when the path is off). */
#define STORE_WAL_BATCH_BUCKETS 9    /* batches of <=1,2,4,..,128, more */
struct store_merge_stats {
    bool enabled;
    uint64_t cache_bytes;            /* memory held by unflushed
                                        containers */
    uint64_t cache_limit;
    uint64_t containers_open;        /* unflushed containers */
    uint64_t objects_in_memory, bytes_in_memory;
    uint64_t objects_logged, bytes_logged;   /* since start */
    uint64_t flushes, flush_bytes, flush_errors;
    double flush_seconds;            /* total time spent flushing */
    uint64_t replay_records;         /* WAL records replayed at start */
    double replay_seconds;
    uint64_t wal_fsyncs, wal_records, wal_bytes, wal_segments;
    uint64_t wal_failed_batches;
    uint64_t wal_batch_hist[STORE_WAL_BATCH_BUCKETS];
    /* Compaction (since start). */
    uint64_t compactions, compacted_objects, compacted_bytes_freed;
    /* Merged containers on disk (c/ records), their bytes and the
     * objects logged into them (live or since deleted). */
    uint64_t containers_on_disk, bytes_on_disk, objects_on_disk;
};

struct store_stats {
    uint64_t index_live_bytes;   /* RocksDB estimate-live-data-size */
    uint64_t index_sst_bytes;    /* total-sst-files-size */
    uint64_t index_memtable_bytes;
    uint64_t index_keys_estimate;
    uint64_t group_used_bytes[2];   /* per enum store_class */
    uint64_t group_free_bytes[2];
    uint64_t gc_pending;            /* containers waiting for removal */
    struct store_merge_stats merge;
};
int store_get_stats(struct store *s, struct store_stats *out);

#endif /* STORE_H */
