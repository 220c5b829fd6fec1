/*
 * store/store.c - the store facade (store.h): lifecycle, users, buckets,
 * object metadata operations, listing and statistics.  Writers and readers
 * are in writer.c and reader.c, multipart uploads in mpu.c, the collector
 * in gc.c; store_int.h lists the files and the lock order.
 *
 * DATA.  struct store (store_int.h) owns the index (idx.c, one RocksDB),
 * one backend group per storage class (bk_local.c), the lock arrays and
 * the collector thread.  Storage classes map to two groups:
 *   STANDARD, REDUCED_REDUNDANCY                      -> standard
 *   STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING,
 *   GLACIER, GLACIER_IR, DEEP_ARCHIVE                 -> low-frequency
 * and the class name as given is kept in the object record.
 *
 * LISTING.  A bucket's objects are one ordered key range per shard
 * (idx.c); store_object_list walks them with one cursor, seeking past a
 * whole common prefix instead of reading the keys under it.
 *
 * THREADS.  Every function is callable from any thread.  Locks are
 * described in store_int.h; here: meta_lock serializes user and bucket
 * record changes, bucket locks keep a bucket from disappearing under a
 * commit, key locks serialize changes of one key.
 */
#include "store/store_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

/* ------------------------------------------------------------------ */
/* Small helpers                                                        */
/* ------------------------------------------------------------------ */

static uint64_t fnv(const char *a, const char *b)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *a; a++) {
        h ^= (uint8_t)*a;
        h *= 1099511628211ULL;
    }
    if (b) {
        h ^= '/';
        h *= 1099511628211ULL;
        for (; *b; b++) {
            h ^= (uint8_t)*b;
            h *= 1099511628211ULL;
        }
    }
    return h;
}

pthread_mutex_t *store__key_lock(struct store *s, const char *bucket,
                                 const char *key)
{
    return &s->key_locks[fnv(bucket, key) % STORE_KEY_LOCKS];
}

pthread_rwlock_t *store__bucket_lock(struct store *s, const char *bucket)
{
    return &s->bucket_locks[fnv(bucket, NULL) % STORE_BUCKET_LOCKS];
}

void store__new_name(char *out)
{
    uint8_t r[16];
    rs_random(r, sizeof r);
    rs_hex(out, r, sizeof r);
}

static bool utf8_valid(const uint8_t *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        uint8_t c = s[i];
        size_t len;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            len = 2;
            cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            len = 3;
            cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            len = 4;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (i + len > n)
            return false;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) ||
            (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

int store__check_key(const char *key)
{
    size_t n = key ? strlen(key) : 0;

    if (n == 0 || n > IDX_OBJ_KEY_MAX)
        return rs_err_set(RS_EINVAL, "object key of %zu bytes (1..%d)", n,
                          IDX_OBJ_KEY_MAX);
    if (!utf8_valid((const uint8_t *)key, n))
        return rs_err_set(RS_EINVAL, "object key is not UTF-8");
    return RS_OK;
}

/* Bucket names go into index keys between '/' separators: allow the S3
 * characters (and upper case and '_' for legacy names), nothing else. */
static int check_bucket(const char *name)
{
    size_t n = name ? strlen(name) : 0;

    if (n == 0 || n > 63)
        return rs_err_set(RS_EINVAL, "bucket name of %zu bytes (1..63)", n);
    for (size_t i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
            return rs_err_set(RS_EINVAL, "bad character in bucket name");
    }
    return RS_OK;
}

/* A bucket record from the index, decoded (either output may be NULL),
 * and put into the metadata cache. */
static int bucket_read(struct store *s, struct rs_arena *a,
                       struct store_bucket *out, struct idx_shardmap **map_out,
                       const char *name)
{
    uint64_t gen = store__mcache_gen(s);
    struct rs_arena *tmp = a ? NULL : rs_arena_new();
    struct idx_shardmap *m = NULL;
    struct store_bucket b;
    char k[IDX_KEY_MAX];
    size_t kl, vl;
    char *v;
    int rc;

    kl = idx_key_bucket(k, name);
    if ((rc = idx_get(&v, &vl, s->ix, k, kl)) != RS_OK) {
        rs_arena_free(tmp);
        return rc == RS_ENOTFOUND ? rs_err_set(rc, "no bucket %s", name)
                                  : rc;
    }
    rc = store__bucket_decode(a ? a : tmp, &b, &m, name, v, vl);
    free(v);
    if (rc == RS_OK) {
        store__mcache_bucket_put(s, gen, &b, m);
        if (out)
            *out = b;
        if (map_out) {
            *map_out = m;
            m = NULL;
        }
    }
    rs_arena_free(tmp);
    store__shardmap_free(m);
    return rc;
}

int store__bucket_map(struct idx_shardmap **out, struct store *s,
                      const char *bucket)
{
    int rc;

    *out = NULL;
    if ((rc = check_bucket(bucket)) != RS_OK)
        return rc == RS_EINVAL ? rs_err_set(RS_ENOTFOUND, "no bucket %s",
                                            bucket ? bucket : "")
                               : rc;
    if (store__mcache_bucket(s, NULL, NULL, out, bucket))
        return RS_OK;
    return bucket_read(s, NULL, NULL, out, bucket);
}

int store_class_parse(enum store_class *out, const char *s3_name)
{
    static const char *const standard[] = {"STANDARD", "REDUCED_REDUNDANCY"};
    static const char *const lowfreq[] = {
        "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING", "GLACIER",
        "GLACIER_IR", "DEEP_ARCHIVE"};

    *out = STORE_CLASS_STANDARD;
    if (!s3_name || !*s3_name)
        return RS_OK;
    for (size_t i = 0; i < sizeof standard / sizeof *standard; i++)
        if (strcmp(s3_name, standard[i]) == 0)
            return RS_OK;
    for (size_t i = 0; i < sizeof lowfreq / sizeof *lowfreq; i++) {
        if (strcmp(s3_name, lowfreq[i]) == 0) {
            *out = STORE_CLASS_LOW_FREQUENCY;
            return RS_OK;
        }
    }
    return rs_err_set(RS_EINVAL, "unknown storage class '%s'", s3_name);
}

/* ------------------------------------------------------------------ */
/* Lifecycle                                                            */
/* ------------------------------------------------------------------ */

static int open_group(struct store *s, enum store_class cls,
                      const struct rs_group_conf *gc, const char *data_dir,
                      const char *dflt)
{
    const char *dirs[RS_MAX_DISKS];
    char path[4096];
    int n = gc->ndirs;

    s->groups[cls].ops = store_backend_find("local");
    for (int i = 0; i < n && i < RS_MAX_DISKS; i++)
        dirs[i] = gc->dirs[i];
    if (n <= 0) {
        snprintf(path, sizeof path, "%s/%s", data_dir ? data_dir : ".",
                 dflt);
        dirs[0] = path;
        n = 1;
    }
    return s->groups[cls].ops->group_open(&s->groups[cls].g, dirs, n);
}

void store_close(struct store *s)
{
    if (!s)
        return;
    store__lifecycle_fini(s);    /* its runner uses everything below */
    store__compact_stop(s);
    store__gc_stop(s);
    if (s->ix)
        store__merge_close(s);
    store__files_close(s);
    for (int i = 0; i < STORE_NGROUPS; i++)
        if (s->groups[i].g)
            s->groups[i].ops->group_close(s->groups[i].g);
    idx_close(s->ix);
    store__outbox_close(s);
    for (size_t i = 0; i < STORE_PIN_BUCKETS; i++) {
        while (s->pins[i]) {
            struct store_pin *p = s->pins[i];
            s->pins[i] = p->next;
            free(p);
        }
    }
    store__mcache_fini(s);
    pthread_mutex_destroy(&s->app_lock);
    pthread_cond_destroy(&s->app_cond);
    pthread_mutex_destroy(&s->meta_lock);
    pthread_mutex_destroy(&s->pin_lock);
    pthread_mutex_destroy(&s->files_lock);
    pthread_mutex_destroy(&s->compact_lock);
    pthread_mutex_destroy(&s->gc_lock);
    pthread_cond_destroy(&s->gc_cond);
    for (int i = 0; i < STORE_BUCKET_LOCKS; i++)
        pthread_rwlock_destroy(&s->bucket_locks[i]);
    for (int i = 0; i < STORE_KEY_LOCKS; i++)
        pthread_mutex_destroy(&s->key_locks[i]);
    free(s);
}

int store_open(struct store **out, const struct rs_config *cfg)
{
    struct store *s = rs_xcalloc(1, sizeof *s);
    pthread_rwlockattr_t rwa;
    pthread_condattr_t ca;
    char path[4096];
    const char *index_dir = cfg->index_dir;
    int rc;

    *out = NULL;
    s->stripe_size = cfg->stripe_size ? cfg->stripe_size : 8u << 20;
    s->block_size = cfg->block_size ? cfg->block_size : 64u << 10;
    s->gc_delay = cfg->gc_delay < 0 ? 0 : cfg->gc_delay;
    s->max_object_size = cfg->max_object_size ? cfg->max_object_size
                                              : UINT64_MAX;
    s->max_part_size = cfg->max_part_size ? cfg->max_part_size : UINT64_MAX;

    pthread_mutex_init(&s->meta_lock, NULL);
    store__mcache_init(s);
    pthread_mutex_init(&s->app_lock, NULL);
    pthread_cond_init(&s->app_cond, NULL);
    s->max_appends = cfg->max_appends > 0 ? (uint32_t)cfg->max_appends
                                          : 10000;
    pthread_mutex_init(&s->pin_lock, NULL);
    pthread_mutex_init(&s->files_lock, NULL);
    pthread_mutex_init(&s->compact_lock, NULL);
    store__lifecycle_init(s, cfg);
    s->max_files = cfg->open_files > 0 ? (size_t)cfg->open_files : 1024;
    pthread_mutex_init(&s->gc_lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->gc_cond, &ca);
    pthread_condattr_destroy(&ca);
    /* Prefer writers: a bucket delete must not starve behind a stream of
     * commits. */
    pthread_rwlockattr_init(&rwa);
    pthread_rwlockattr_setkind_np(&rwa,
                                  PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    for (int i = 0; i < STORE_BUCKET_LOCKS; i++)
        pthread_rwlock_init(&s->bucket_locks[i], &rwa);
    pthread_rwlockattr_destroy(&rwa);
    for (int i = 0; i < STORE_KEY_LOCKS; i++)
        pthread_mutex_init(&s->key_locks[i], NULL);

    if (!index_dir) {
        snprintf(path, sizeof path, "%s/index",
                 cfg->data_dir ? cfg->data_dir : ".");
        index_dir = path;
    }
    if ((rc = rs_mkdirs(index_dir, true)) != RS_OK)
        goto fail;
    if ((rc = idx_open(&s->ix, index_dir, cfg->index_cache)) != RS_OK)
        goto fail;
    if ((rc = open_group(s, STORE_CLASS_STANDARD, &cfg->standard,
                         cfg->data_dir, "standard")) != RS_OK)
        goto fail;
    if ((rc = open_group(s, STORE_CLASS_LOW_FREQUENCY, &cfg->low_frequency,
                         cfg->data_dir, "low-frequency")) != RS_OK)
        goto fail;
    if ((rc = store__gc_recover(s)) != RS_OK)
        goto fail;
    /* Before replay: re-applied WAL records write their events. */
    if ((rc = store__outbox_open(s, cfg->events_enabled)) != RS_OK)
        goto fail;
    if ((rc = store__merge_open(s, cfg)) != RS_OK)
        goto fail;
    if ((rc = store__append_recover(s)) != RS_OK)
        goto fail;
    if ((rc = store__gc_start(s)) != RS_OK)
        goto fail;
    if ((rc = store__compact_start(s, cfg)) != RS_OK)
        goto fail;
    *out = s;
    return RS_OK;
fail:
    store_close(s);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Users                                                                */
/* ------------------------------------------------------------------ */

/* n characters drawn uniformly from alphabet (rejection sampling, so no
 * modulo bias); out[n] = '\0'. */
static void random_chars(char *out, size_t n, const char *alphabet)
{
    size_t alen = strlen(alphabet), limit = 256 - 256 % alen, i = 0;
    uint8_t raw[64];

    while (i < n) {
        size_t j;

        rs_random(raw, sizeof(raw));
        for (j = 0; j < sizeof(raw) && i < n; j++)
            if (raw[j] < limit)
                out[i++] = alphabet[raw[j] % alen];
    }
    out[n] = '\0';
}

void store_user_generate_keys(struct store_user *u)
{
    if (!u->access_key[0])
        random_chars(u->access_key, 20,
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789");
    if (!u->secret_key[0])
        random_chars(u->secret_key, 40,
                     "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                     "0123456789");
}

int store_user_create(struct store *s, const struct store_user *u)
{
    char ku[IDX_KEY_MAX], kk[IDX_KEY_MAX];
    size_t kul, kkl, vl;
    struct idx_batch *b;
    char *v;
    int rc;

    if (!u->name[0] || strchr(u->name, '/'))
        return rs_err_set(RS_EINVAL, "bad user name '%s'", u->name);
    if (!u->access_key[0])
        return rs_err_set(RS_EINVAL, "user %s: empty access key", u->name);
    kul = idx_key_user(ku, u->name);
    kkl = idx_key_access_key(kk, u->access_key);
    pthread_mutex_lock(&s->meta_lock);
    rc = idx_get(&v, &vl, s->ix, ku, kul);
    free(v);
    if (rc == RS_OK) {
        rc = rs_err_set(RS_EEXIST, "user %s exists", u->name);
        goto out;
    }
    if (rc != RS_ENOTFOUND)
        goto out;
    rc = idx_get(&v, &vl, s->ix, kk, kkl);
    free(v);
    if (rc == RS_OK) {
        rc = rs_err_set(RS_EEXIST, "access key %s is taken", u->access_key);
        goto out;
    }
    if (rc != RS_ENOTFOUND)
        goto out;
    v = store__user_encode(u);
    b = idx_batch_begin(s->ix);
    idx_batch_put(b, ku, kul, v, strlen(v));
    idx_batch_put(b, kk, kkl, u->name, strlen(u->name));
    free(v);
    rc = idx_batch_commit(b, true);
    store__mcache_changed(s);
out:
    pthread_mutex_unlock(&s->meta_lock);
    return rc;
}

int store_user_get(struct store *s, struct store_user *out, const char *name)
{
    char k[IDX_KEY_MAX];
    size_t kl = idx_key_user(k, name), vl;
    char *v;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = idx_get(&v, &vl, s->ix, k, kl)) != RS_OK)
        return rc == RS_ENOTFOUND ? rs_err_set(rc, "no user %s", name) : rc;
    rc = store__user_decode(out, v, vl);
    free(v);
    return rc;
}

int store_user_by_access_key(struct store *s, struct store_user *out,
                             const char *access_key)
{
    char k[IDX_KEY_MAX];
    size_t kl = idx_key_access_key(k, access_key), vl;
    char *name;
    int rc;

    uint64_t gen;

    memset(out, 0, sizeof *out);
    if (store__mcache_user(s, out, access_key))
        return RS_OK;
    gen = store__mcache_gen(s);
    if ((rc = idx_get(&name, &vl, s->ix, k, kl)) != RS_OK)
        return rc == RS_ENOTFOUND
                   ? rs_err_set(rc, "no user with access key %s", access_key)
                   : rc;
    rc = store_user_get(s, out, name);
    free(name);
    if (rc == RS_OK)
        store__mcache_user_put(s, gen, out);
    return rc;
}

int store_user_list(struct store *s,
                    int (*cb)(void *arg, const struct store_user *u),
                    void *arg)
{
    struct idx_iter *it;
    int rc = RS_OK;

    idx_iter_open(&it, s->ix, IDX_PREFIX_USER, 2);
    for (idx_iter_seek(it, IDX_PREFIX_USER, 2); idx_iter_valid(it);
         idx_iter_next(it)) {
        struct store_user u;
        size_t vl;
        const char *v = idx_iter_value(it, &vl);

        if ((rc = store__user_decode(&u, v, vl)) != RS_OK)
            break;
        if ((rc = cb(arg, &u)) != 0)
            break;
    }
    if (rc == RS_OK)
        rc = idx_iter_status(it);
    idx_iter_close(it);
    return rc;
}

/* Does any bucket belong to owner?  Under meta_lock. */
static int owns_buckets(struct store *s, bool *out, const char *owner)
{
    struct rs_arena *a = rs_arena_new();
    struct idx_iter *it;
    int rc = RS_OK;

    *out = false;
    idx_iter_open(&it, s->ix, IDX_PREFIX_BUCKET, 2);
    for (idx_iter_seek(it, IDX_PREFIX_BUCKET, 2);
         idx_iter_valid(it) && !*out; idx_iter_next(it)) {
        struct store_bucket b;
        size_t kl, vl;
        const char *k = idx_iter_key(it, &kl);
        const char *v = idx_iter_value(it, &vl);
        char *name = rs_arena_strndup(a, k + 2, kl - 2);

        if ((rc = store__bucket_decode(a, &b, NULL, name, v, vl)) != RS_OK)
            break;
        *out = b.acl.owner && strcmp(b.acl.owner, owner) == 0;
    }
    if (rc == RS_OK)
        rc = idx_iter_status(it);
    idx_iter_close(it);
    rs_arena_free(a);
    return rc;
}

int store_user_remove(struct store *s, const char *name)
{
    struct store_user u;
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    size_t kl;
    bool owns;
    int rc;

    pthread_mutex_lock(&s->meta_lock);
    if ((rc = store_user_get(s, &u, name)) != RS_OK)
        goto out;
    if ((rc = owns_buckets(s, &owns, name)) != RS_OK)
        goto out;
    if (owns) {
        rc = rs_err_set(RS_ECONFLICT, "user %s still owns buckets", name);
        goto out;
    }
    b = idx_batch_begin(s->ix);
    kl = idx_key_user(k, name);
    idx_batch_delete(b, k, kl);
    kl = idx_key_access_key(k, u.access_key);
    idx_batch_delete(b, k, kl);
    rc = idx_batch_commit(b, true);
    store__mcache_changed(s);
out:
    pthread_mutex_unlock(&s->meta_lock);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Buckets                                                              */
/* ------------------------------------------------------------------ */

int store_bucket_create(struct store *s, const struct store_bucket *bk)
{
    struct idx_shard one = {.id = 0, .lo = "", .ops = idx_shard_engine(NULL)};
    struct idx_shardmap m = {.shards = &one, .n = 1};
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    size_t kl, vl;
    char *v;
    int rc;

    if ((rc = check_bucket(bk->name)) != RS_OK)
        return rc;
    kl = idx_key_bucket(k, bk->name);
    pthread_mutex_lock(&s->meta_lock);
    rc = idx_get(&v, &vl, s->ix, k, kl);
    free(v);
    if (rc == RS_OK) {
        rc = rs_err_set(RS_EEXIST, "bucket %s exists", bk->name);
        goto out;
    }
    if (rc != RS_ENOTFOUND)
        goto out;
    v = store__bucket_encode(bk, &m);
    b = idx_batch_begin(s->ix);
    idx_batch_put(b, k, kl, v, strlen(v));
    free(v);
    rc = idx_batch_commit(b, true);
    store__mcache_changed(s);
out:
    pthread_mutex_unlock(&s->meta_lock);
    return rc;
}

int store_bucket_get(struct store *s, struct rs_arena *a,
                     struct store_bucket *out, const char *name)
{
    memset(out, 0, sizeof *out);
    if (check_bucket(name) != RS_OK)
        return rs_err_set(RS_ENOTFOUND, "no bucket %s", name ? name : "");
    if (store__mcache_bucket(s, a, out, NULL, name))
        return RS_OK;
    return bucket_read(s, a, out, NULL, name);
}

int store_bucket_delete(struct store *s, const char *name)
{
    pthread_rwlock_t *bl;
    struct idx_shardmap *m = NULL;
    struct idx_objcur *c = NULL;
    struct idx_iter *it = NULL;
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    const char *ok, *ov;
    size_t kl, ovl;
    int rc;

    if (check_bucket(name) != RS_OK)
        return rs_err_set(RS_ENOTFOUND, "no bucket %s", name ? name : "");
    bl = store__bucket_lock(s, name);
    pthread_rwlock_wrlock(bl);
    pthread_mutex_lock(&s->meta_lock);
    if ((rc = store__bucket_map(&m, s, name)) != RS_OK)
        goto out;
    idx_objcur_open(&c, s->ix, m, name);
    rc = idx_objcur_seek(c, "");
    if (rc == RS_OK)
        rc = idx_objcur_get(c, &ok, &ov, &ovl);
    if (rc == RS_OK) {
        rc = rs_err_set(RS_ECONFLICT, "bucket %s is not empty", name);
        goto out;
    }
    if (rc != RS_ENOTFOUND)
        goto out;
    kl = idx_key_upload_prefix(k, name);
    idx_iter_open(&it, s->ix, k, kl);
    idx_iter_seek(it, k, kl);
    if (idx_iter_valid(it)) {
        rc = rs_err_set(RS_ECONFLICT, "bucket %s has multipart uploads",
                        name);
        goto out;
    }
    if ((rc = idx_iter_status(it)) != RS_OK)
        goto out;
    b = idx_batch_begin(s->ix);
    kl = idx_key_bucket(k, name);
    idx_batch_delete(b, k, kl);
    /* its notification and lifecycle configurations go with it */
    idx_batch_delete(b, k, (size_t)snprintf(k, sizeof k, "n/%s", name));
    idx_batch_delete(b, k, (size_t)snprintf(k, sizeof k, "l/%s", name));
    rc = idx_batch_commit(b, true);
    store__mcache_changed(s);
    store__notification_changed();
    store__lifecycle_changed(s);
out:
    idx_iter_close(it);
    idx_objcur_close(c);
    store__shardmap_free(m);
    pthread_mutex_unlock(&s->meta_lock);
    pthread_rwlock_unlock(bl);
    return rc;
}

int store_bucket_set_acl(struct store *s, const char *name,
                         const struct store_acl *acl)
{
    struct rs_arena *a = rs_arena_new();
    struct idx_shardmap *m = NULL;
    struct store_bucket bk;
    struct idx_batch *b;
    char k[IDX_KEY_MAX];
    size_t kl, vl;
    char *v = NULL;
    int rc;

    if (check_bucket(name) != RS_OK) {
        rs_arena_free(a);
        return rs_err_set(RS_ENOTFOUND, "no bucket %s", name ? name : "");
    }
    kl = idx_key_bucket(k, name);
    pthread_mutex_lock(&s->meta_lock);
    if ((rc = idx_get(&v, &vl, s->ix, k, kl)) != RS_OK) {
        if (rc == RS_ENOTFOUND)
            rs_err_set(rc, "no bucket %s", name);
        goto out;
    }
    if ((rc = store__bucket_decode(a, &bk, &m, name, v, vl)) != RS_OK)
        goto out;
    free(v);
    bk.acl = *acl;
    v = store__bucket_encode(&bk, m);
    b = idx_batch_begin(s->ix);
    idx_batch_put(b, k, kl, v, strlen(v));
    rc = idx_batch_commit(b, true);
    store__mcache_changed(s);
out:
    pthread_mutex_unlock(&s->meta_lock);
    free(v);
    store__shardmap_free(m);
    rs_arena_free(a);
    return rc;
}

int store_bucket_list(struct store *s, struct rs_arena *a, const char *owner,
                      int (*cb)(void *arg, const struct store_bucket *b),
                      void *arg)
{
    struct idx_iter *it;
    int rc = RS_OK;

    idx_iter_open(&it, s->ix, IDX_PREFIX_BUCKET, 2);
    for (idx_iter_seek(it, IDX_PREFIX_BUCKET, 2); idx_iter_valid(it);
         idx_iter_next(it)) {
        struct store_bucket b;
        size_t kl, vl;
        const char *k = idx_iter_key(it, &kl);
        const char *v = idx_iter_value(it, &vl);
        char *name = rs_arena_strndup(a, k + 2, kl - 2);

        if ((rc = store__bucket_decode(a, &b, NULL, name, v, vl)) != RS_OK)
            break;
        if (owner && (!b.acl.owner || strcmp(owner, b.acl.owner) != 0))
            continue;
        if ((rc = cb(arg, &b)) != 0)
            break;
    }
    if (rc == RS_OK)
        rc = idx_iter_status(it);
    idx_iter_close(it);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Objects                                                              */
/* ------------------------------------------------------------------ */

int store_object_head(struct store *s, struct rs_arena *a,
                      struct store_obj *out, const char *bucket,
                      const char *key)
{
    struct idx_shardmap *m;
    size_t vl;
    char *v;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = store__check_key(key)) != RS_OK)
        return rc == RS_EINVAL ? rs_err_set(RS_ENOTFOUND, "no such key")
                               : rc;
    if ((rc = store__bucket_map(&m, s, bucket)) != RS_OK)
        return rc;
    rc = idx_obj_get(&v, &vl, s->ix, m, bucket, key);
    store__shardmap_free(m);
    if (rc != RS_OK)
        return rc == RS_ENOTFOUND
                   ? rs_err_set(rc, "no object %s in bucket %s", key, bucket)
                   : rc;
    rc = store__obj_decode(a, out, bucket, key, v, vl);
    free(v);
    return rc;
}

/* store_int.h */
int store__obj_update(struct store *s, const char *bucket, const char *key,
                      const struct store_obj_edit *ed,
                      enum store_event_kind ev)
{
    char *(*edit)(const char *v, size_t vl, const void *x) = ed->edit;
    store_obj_pred still = ed->still;
    struct store_event e = {ev, bucket, key, NULL, 0, 0};
    struct rs_arena *a = NULL;
    struct store_obj o;
    uint64_t evseq;
    pthread_rwlock_t *bl;
    pthread_mutex_t *kl;
    struct idx_shardmap *m = NULL;
    struct store_layout old = {0};
    struct idx_batch *b;
    size_t vl, ngarb = 0;
    char *v = NULL, *nv = NULL;
    char k[IDX_KEY_MAX];
    int rc;

    if ((rc = store__check_key(key)) != RS_OK)
        return rc == RS_EINVAL ? rs_err_set(RS_ENOTFOUND, "no such key")
                               : rc;
    if (check_bucket(bucket) != RS_OK)
        return rs_err_set(RS_ENOTFOUND, "no bucket %s", bucket);
    bl = store__bucket_lock(s, bucket);
    kl = store__key_lock(s, bucket, key);
    pthread_rwlock_rdlock(bl);
    pthread_mutex_lock(kl);
    if ((rc = store__bucket_map(&m, s, bucket)) != RS_OK)
        goto out;
    if ((rc = idx_obj_get(&v, &vl, s->ix, m, bucket, key)) != RS_OK) {
        if (rc == RS_ENOTFOUND)
            rs_err_set(rc, "no object %s in bucket %s", key, bucket);
        goto out;
    }
    if (still) {
        /* Conditional: the record as it is now, under the key lock. */
        a = rs_arena_new();
        if ((rc = store__obj_decode(a, &o, bucket, key, v, vl)) != RS_OK)
            goto out;
        if (!still(ed->still_arg, &o)) {
            rc = rs_err_set(RS_ECONFLICT, "%s/%s changed", bucket, key);
            goto out;
        }
        e.obj = &o;              /* a delete's event carries what went */
    }
    b = idx_batch_begin(s->ix);
    if (edit) {
        if (!(nv = edit(v, vl, ed->arg))) {
            idx_batch_abort(b);
            rc = RS_ECORRUPT;   /* message set by the decoder */
            goto out;
        }
        idx_obj_put(b, m, bucket, key, nv, strlen(nv));
        if (ed->relayout) {
            /* the old data goes; a new container is referenced now */
            if (store__rec_layout(&old, v, vl) != RS_OK)
                memset(&old, 0, sizeof old);
            ngarb = store__garbage_add(b, &old);
        }
        if (ed->unpend)
            idx_batch_delete(b, k, idx_key_pending(k, ed->unpend));
        e.obj = NULL;
        if (!a)
            a = rs_arena_new();
        if (store__obj_decode(a, &o, bucket, key, nv, strlen(nv)) == RS_OK)
            e.obj = &o;
    } else {
        if (store__rec_layout(&old, v, vl) != RS_OK) {
            rs_warn("store: %s/%s: deleted record unreadable (%s); its "
                    "data is not collected", bucket, key, rs_err_msg());
            memset(&old, 0, sizeof old);
        }
        idx_obj_del(b, m, bucket, key);
        ngarb = store__garbage_add(b, &old);
    }
    evseq = store__event_add(s, b, &e);
    rc = idx_batch_commit(b, true);
    store__event_done(s, evseq);
    if (rc == RS_OK)
        atomic_fetch_add(&s->gc_pending, ngarb);
out:
    rs_arena_free(a);
    pthread_mutex_unlock(kl);
    pthread_rwlock_unlock(bl);
    store__layout_dispose(&old);
    store__shardmap_free(m);
    free(v);
    free(nv);
    return rc;
}

int store_object_delete(struct store *s, const char *bucket, const char *key)
{
    struct store_obj_edit ed = {0};
    return store__obj_update(s, bucket, key, &ed, STORE_EV_DELETE);
}

int store_object_delete_if(struct store *s, const char *bucket,
                           const char *key, store_obj_pred still, void *arg,
                           enum store_event_kind ev)
{
    struct store_obj_edit ed = {.still = still, .still_arg = arg};
    return store__obj_update(s, bucket, key, &ed, ev);
}

struct tags_arg {
    const struct rs_kv *tags;
    size_t ntags;
};

static char *edit_tags(const char *v, size_t vl, const void *x)
{
    const struct tags_arg *t = x;
    return store__rec_set_tags(v, vl, t->tags, t->ntags);
}

static char *edit_acl(const char *v, size_t vl, const void *x)
{
    return store__rec_set_acl(v, vl, x);
}

int store_object_set_tags(struct store *s, const char *bucket,
                          const char *key, const struct rs_kv *tags,
                          size_t ntags)
{
    struct tags_arg t = {tags, ntags};
    struct store_obj_edit ed = {.edit = edit_tags, .arg = &t};
    return store__obj_update(s, bucket, key, &ed,
                             ntags ? STORE_EV_TAGGING_PUT
                                   : STORE_EV_TAGGING_DELETE);
}

int store_object_set_acl(struct store *s, const char *bucket,
                         const char *key, const struct store_acl *acl)
{
    struct store_obj_edit ed = {.edit = edit_acl, .arg = acl};
    return store__obj_update(s, bucket, key, &ed, STORE_EV_ACL_PUT);
}

/* ------------------------------------------------------------------ */
/* Listing                                                              */
/* ------------------------------------------------------------------ */

/* The smallest string greater than every string starting with p: p with
 * its last byte incremented (trailing 0xff bytes dropped); "" when none
 * exists (then nothing follows).  Malloc'ed. */
char *store__prefix_successor(const char *p)
{
    char *r = rs_xstrdup(p);
    size_t n = strlen(r);

    while (n > 0) {
        if ((uint8_t)r[n - 1] != 0xff) {
            r[n - 1] = (char)((uint8_t)r[n - 1] + 1);
            r[n] = '\0';
            return r;
        }
        r[--n] = '\0';
    }
    return r;
}

int store_object_list(struct store *s, struct rs_arena *a, const char *bucket,
                      const struct store_list_opts *o,
                      int (*cb)(void *arg, const struct store_list_entry *e),
                      void *arg, bool *truncated, const char **next_out)
{
    const char *prefix = o->prefix ? o->prefix : "";
    const char *delim = o->delimiter && *o->delimiter ? o->delimiter : NULL;
    const char *after = o->start_after && *o->start_after ? o->start_after
                                                          : NULL;
    size_t plen = strlen(prefix), dlen = delim ? strlen(delim) : 0;
    struct idx_shardmap *m = NULL;
    struct idx_objcur *c = NULL;
    size_t count = 0;
    int rc;

    *truncated = false;
    if (next_out)
        *next_out = NULL;
    if ((rc = store__bucket_map(&m, s, bucket)) != RS_OK)
        return rc;
    if (o->max_keys == 0)   /* S3 answers IsTruncated=false */
        goto out;
    idx_objcur_open(&c, s->ix, m, bucket);
    rc = idx_objcur_seek(c, after && strcmp(after, prefix) > 0 ? after
                                                              : prefix);
    while (rc == RS_OK) {
        struct store_list_entry e = {0};
        const char *k, *v;
        const char *d;
        size_t vl;

        rc = idx_objcur_get(c, &k, &v, &vl);
        if (rc != RS_OK)
            break;
        if (strncmp(k, prefix, plen) != 0)
            break;              /* past the prefix: done */
        if (after && strcmp(k, after) <= 0) {
            rc = idx_objcur_next(c);
            continue;
        }
        d = delim ? strstr(k + plen, delim) : NULL;
        if (d) {
            size_t cplen = (size_t)(d - k) + dlen;
            char *cp = rs_arena_strndup(a, k, cplen);
            char *succ;

            if (!(after && strcmp(cp, after) <= 0)) {
                if (count == o->max_keys) {
                    *truncated = true;
                    break;
                }
                e.prefix = cp;
                if (next_out)
                    *next_out = cp;
                count++;
                if ((rc = cb(arg, &e)) != 0)
                    break;
            }
            /* Skip everything under cp with one seek. */
            succ = store__prefix_successor(cp);
            if (!*succ) {
                free(succ);
                break;
            }
            rc = idx_objcur_seek(c, succ);
            free(succ);
            continue;
        }
        if (count == o->max_keys) {
            *truncated = true;
            break;
        }
        {
            struct store_obj *obj = rs_arena_alloc(a, sizeof *obj);
            if ((rc = store__obj_decode(a, obj, bucket, k, v, vl)) != RS_OK)
                break;
            e.obj = obj;
            if (next_out)
                *next_out = obj->key;
            count++;
            if ((rc = cb(arg, &e)) != 0)
                break;
        }
        rc = idx_objcur_next(c);
    }
    if (rc == RS_ENOTFOUND)
        rc = RS_OK;
out:
    idx_objcur_close(c);
    store__shardmap_free(m);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Statistics                                                           */
/* ------------------------------------------------------------------ */

int store_get_stats(struct store *s, struct store_stats *out)
{
    int rc;

    memset(out, 0, sizeof *out);
    idx_property(&out->index_live_bytes, s->ix,
                 "rocksdb.estimate-live-data-size");
    idx_property(&out->index_sst_bytes, s->ix,
                 "rocksdb.total-sst-files-size");
    idx_property(&out->index_memtable_bytes, s->ix,
                 "rocksdb.cur-size-all-mem-tables");
    idx_property(&out->index_keys_estimate, s->ix,
                 "rocksdb.estimate-num-keys");
    for (int i = 0; i < STORE_NGROUPS; i++) {
        struct store_group *g = &s->groups[i];
        if (!g->g || !g->ops->statfs)
            continue;
        if ((rc = g->ops->statfs(g->g, &out->group_used_bytes[i],
                                 &out->group_free_bytes[i])) != RS_OK)
            return rc;
    }
    out->gc_pending = atomic_load(&s->gc_pending);
    store__merge_stats(s, &out->merge);
    out->merge.compactions = atomic_load(&s->compactions);
    out->merge.compacted_objects = atomic_load(&s->compacted_objects);
    out->merge.compacted_bytes_freed = atomic_load(&s->compacted_bytes);
    return RS_OK;
}
