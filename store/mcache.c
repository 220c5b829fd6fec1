/*
 * mcache.c - decoded user and bucket records, kept in memory.
 *
 * Every request authenticates (user by access key: two index reads and a
 * JSON decode) and most look up their bucket (an index read and a JSON
 * decode, twice on a PUT: once in the gateway for the ACL, once in the
 * store for the shard map).  Users and bucket records change rarely, so
 * their decoded forms are cached here: two direct-mapped tables, a slot
 * chosen by the FNV-1a hash of the access key or bucket name, a collision
 * simply replacing the slot.
 *
 * Coherence is by one generation number.  Every committed change of a user
 * or bucket record (store.c, under meta_lock) calls store__mcache_changed()
 * after its commit, which bumps the generation; a slot is valid only while
 * its generation is current.  A reader that misses takes the generation
 * before it reads the index and fills the slot only if the generation is
 * still the same, so a fill can never bring back a record older than a
 * change that completed meanwhile.  The price of one number for all is
 * that any change empties the whole cache, which is fine for records that
 * change a few times a day.
 */
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

struct mc_user {
    uint64_t gen;                    /* 0 = empty */
    struct store_user u;
};

struct mc_bucket {
    uint64_t gen;                    /* 0 = empty */
    struct rs_arena *a;              /* owns b's strings */
    struct store_bucket b;
    struct idx_shardmap *map;
};

struct store_mcache {
    pthread_mutex_t lock;
    uint64_t gen;                    /* starts at 1 */
    struct mc_user users[STORE_MCACHE_SLOTS];
    struct mc_bucket buckets[STORE_MCACHE_SLOTS];
};

static size_t slot_of(const char *name)
{
    return (size_t)(rs_fnv1a64(name) % STORE_MCACHE_SLOTS);
}

void store__mcache_init(struct store *s)
{
    s->mc = rs_xcalloc(1, sizeof *s->mc);
    pthread_mutex_init(&s->mc->lock, NULL);
    s->mc->gen = 1;
}

void store__mcache_fini(struct store *s)
{
    if (!s->mc)
        return;
    for (size_t i = 0; i < STORE_MCACHE_SLOTS; i++) {
        rs_arena_free(s->mc->buckets[i].a);
        store__shardmap_free(s->mc->buckets[i].map);
    }
    pthread_mutex_destroy(&s->mc->lock);
    free(s->mc);
    s->mc = NULL;
}

uint64_t store__mcache_gen(struct store *s)
{
    uint64_t g;

    pthread_mutex_lock(&s->mc->lock);
    g = s->mc->gen;
    pthread_mutex_unlock(&s->mc->lock);
    return g;
}

void store__mcache_changed(struct store *s)
{
    pthread_mutex_lock(&s->mc->lock);
    s->mc->gen++;
    pthread_mutex_unlock(&s->mc->lock);
}

bool store__mcache_user(struct store *s, struct store_user *out,
                        const char *access_key)
{
    struct mc_user *e = &s->mc->users[slot_of(access_key)];
    bool hit;

    pthread_mutex_lock(&s->mc->lock);
    hit = e->gen == s->mc->gen && strcmp(e->u.access_key, access_key) == 0;
    if (hit)
        *out = e->u;
    pthread_mutex_unlock(&s->mc->lock);
    return hit;
}

void store__mcache_user_put(struct store *s, uint64_t gen,
                            const struct store_user *u)
{
    struct mc_user *e = &s->mc->users[slot_of(u->access_key)];

    pthread_mutex_lock(&s->mc->lock);
    if (gen == s->mc->gen) {
        e->gen = gen;
        e->u = *u;
    }
    pthread_mutex_unlock(&s->mc->lock);
}

static void copy_acl(struct rs_arena *a, struct store_acl *dst,
                     const struct store_acl *src)
{
    dst->owner = src->owner ? rs_arena_strdup(a, src->owner) : NULL;
    dst->ngrants = src->ngrants;
    dst->grants = NULL;
    if (!src->ngrants)
        return;
    dst->grants = rs_arena_alloc(a, src->ngrants * sizeof *dst->grants);
    for (size_t i = 0; i < src->ngrants; i++) {
        dst->grants[i] = src->grants[i];
        if (src->grants[i].id)
            dst->grants[i].id = rs_arena_strdup(a, src->grants[i].id);
    }
}

static void copy_bucket(struct rs_arena *a, struct store_bucket *dst,
                        const struct store_bucket *src)
{
    *dst = *src;
    dst->name = rs_arena_strdup(a, src->name);
    dst->region = src->region ? rs_arena_strdup(a, src->region) : NULL;
    copy_acl(a, &dst->acl, &src->acl);
}

static struct idx_shardmap *copy_map(const struct idx_shardmap *src)
{
    struct idx_shardmap *m = rs_xcalloc(1, sizeof *m);

    m->n = src->n;
    m->shards = rs_xcalloc(src->n, sizeof *m->shards);
    for (size_t i = 0; i < src->n; i++) {
        m->shards[i] = src->shards[i];
        m->shards[i].lo = rs_xstrdup(src->shards[i].lo);
    }
    return m;
}

bool store__mcache_bucket(struct store *s, struct rs_arena *a,
                          struct store_bucket *out,
                          struct idx_shardmap **map_out, const char *name)
{
    struct mc_bucket *e = &s->mc->buckets[slot_of(name)];
    bool hit;

    pthread_mutex_lock(&s->mc->lock);
    hit = e->gen == s->mc->gen && strcmp(e->b.name, name) == 0;
    if (hit) {
        if (out)
            copy_bucket(a, out, &e->b);
        if (map_out)
            *map_out = copy_map(e->map);
    }
    pthread_mutex_unlock(&s->mc->lock);
    return hit;
}

void store__mcache_bucket_put(struct store *s, uint64_t gen,
                              const struct store_bucket *b,
                              const struct idx_shardmap *map)
{
    struct mc_bucket *e = &s->mc->buckets[slot_of(b->name)];
    struct rs_arena *old_a = NULL;
    struct idx_shardmap *old_map = NULL;
    struct rs_arena *a = rs_arena_new();
    struct idx_shardmap *m = copy_map(map);
    struct store_bucket copy;

    copy_bucket(a, &copy, b);
    pthread_mutex_lock(&s->mc->lock);
    if (gen == s->mc->gen) {
        old_a = e->a;
        old_map = e->map;
        e->gen = gen;
        e->a = a;
        e->b = copy;
        e->map = m;
        a = NULL;
        m = NULL;
    }
    pthread_mutex_unlock(&s->mc->lock);
    rs_arena_free(old_a);
    store__shardmap_free(old_map);
    rs_arena_free(a);
    store__shardmap_free(m);
}
