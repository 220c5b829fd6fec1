/*
 * store/rec.c - the records of the index, as JSON (jansson).  Every record
 * is one JSON object with "v":1; a reader rejects another version with
 * RS_ECORRUPT, so a future v2 writer must come with a v2 reader.  Keys of
 * the index (idx.c) carry the names (user, bucket, object key, upload id,
 * part number); the values below carry the rest.
 *
 *   user    {"v":1,"name":S,"access_key":S,"secret_key":S,
 *            "display_name":S,"email":S,"created":NS,"root":B}
 *   bucket  {"v":1,"created":NS,"region":S,"acl":ACL,
 *            "shards":[{"id":N,"lo":S,"engine":"local"},...]}
 *           shards ordered by lo, the first with lo "" (idx_int.h)
 *   object  {"v":1,"size":N,"mtime":NS,"etag":S,"class":S,"acl":ACL,
 *            "headers":KV,"meta":KV,"tags":KV,"checksums":KV,
 *            "parts":[N,...],"layout":B64}
 *           "parts" only for multipart objects (sizes of the parts);
 *           "layout" is the layout blob (layout.c) in standard base64
 *   upload  {"v":1,"initiated":NS,"info":OBJECT}  (OBJECT without layout)
 *   part    {"v":1,"size":N,"mtime":NS,"etag":S,"checksums":KV,
 *            "layout":B64}
 *   garbage {"v":1,"group":N}      pending {"v":1,"group":N,"t":NS}
 *
 *   ACL = {"owner":S,"grants":[{"kind":"user"|"all"|"auth","id":S,
 *          "perm":N},...]}      KV = [[name,value],...] in order
 *
 * Strings are UTF-8 as JSON requires.  A header or metadata value that is
 * not valid UTF-8 (HTTP allows Latin-1 bytes) is stored as the Latin-1
 * reading of its bytes, which is what the gateway would print anyway.
 * NS are nanoseconds since the epoch; N fit in a signed 64-bit integer.
 */
#include "store/store_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#define REC_VERSION 1

/* ------------------------------------------------------------------ */
/* Encoding helpers                                                     */
/* ------------------------------------------------------------------ */

static json_t *jstr(const char *s)
{
    json_t *j;
    size_t n, o = 0;
    char *tmp;

    if (!s)
        return json_null();
    if ((j = json_string(s)))
        return j;
    /* Not UTF-8: take the bytes as Latin-1. */
    n = strlen(s);
    tmp = rs_xmalloc(2 * n + 1);
    for (size_t i = 0; i < n; i++) {
        uint8_t c = (uint8_t)s[i];
        if (c < 0x80) {
            tmp[o++] = (char)c;
        } else {
            tmp[o++] = (char)(0xc0 | c >> 6);
            tmp[o++] = (char)(0x80 | (c & 0x3f));
        }
    }
    tmp[o] = '\0';
    j = json_string(tmp);
    free(tmp);
    return j ? j : json_string("");
}

static json_t *jkv(const struct rs_kv *kv, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("[oo]", jstr(kv[i].name),
                                           jstr(kv[i].value)));
    return a;
}

static const char *grantee_name(enum store_grantee_kind k)
{
    switch (k) {
    case STORE_GRANTEE_ALL_USERS:
        return "all";
    case STORE_GRANTEE_AUTH_USERS:
        return "auth";
    case STORE_GRANTEE_USER:
    default:
        return "user";
    }
}

static json_t *jacl(const struct store_acl *acl)
{
    json_t *g = json_array();
    for (size_t i = 0; i < acl->ngrants; i++) {
        const struct store_grant *gr = &acl->grants[i];
        json_array_append_new(g, json_pack("{s:s,s:o,s:I}", "kind",
                                           grantee_name(gr->kind), "id",
                                           jstr(gr->id), "perm",
                                           (json_int_t)gr->perm));
    }
    return json_pack("{s:o,s:o}", "owner", jstr(acl->owner), "grants", g);
}

static json_t *jlayout(const void *layout, size_t len)
{
    char *b64 = rs_xmalloc(4 * ((len + 2) / 3) + 1);
    json_t *j;

    rs_base64(b64, layout, len);
    j = json_string(b64);
    free(b64);
    return j;
}

static char *dump(json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT);
    char *r;

    json_decref(j);
    /* Hand out memory from our allocator, not jansson's (STYLE 4). */
    r = rs_xstrdup(s ? s : "{}");
    free(s);
    return r;
}

/* The object members, shared by object and upload records. */
static json_t *jobj(const struct store_obj *o)
{
    json_t *j = json_object();

    json_object_set_new(j, "v", json_integer(REC_VERSION));
    json_object_set_new(j, "size", json_integer((json_int_t)o->size));
    json_object_set_new(j, "mtime", json_integer(o->mtime_ns));
    json_object_set_new(j, "etag", jstr(o->etag));
    json_object_set_new(j, "class", jstr(o->storage_class));
    json_object_set_new(j, "acl", jacl(&o->acl));
    json_object_set_new(j, "headers", jkv(o->headers, o->nheaders));
    json_object_set_new(j, "meta", jkv(o->meta, o->nmeta));
    json_object_set_new(j, "tags", jkv(o->tags, o->ntags));
    json_object_set_new(j, "checksums", jkv(o->checksums, o->nchecksums));
    if (o->parts_count > 0) {
        json_t *p = json_array();
        for (uint32_t i = 0; i < o->parts_count; i++)
            json_array_append_new(
                p, json_integer(o->part_sizes ? (json_int_t)o->part_sizes[i]
                                              : 0));
        json_object_set_new(j, "parts", p);
    }
    if (o->appends > 0) {
        char crc[17];
        snprintf(crc, sizeof crc, "%016llx", (unsigned long long)o->crc64);
        json_object_set_new(j, "appends", json_integer(o->appends));
        json_object_set_new(j, "crc64", json_string(crc));
    }
    return j;
}

/* ------------------------------------------------------------------ */
/* Decoding helpers                                                     */
/* ------------------------------------------------------------------ */

static int jload(json_t **out, const char *json, size_t len,
                 const char *what)
{
    json_error_t e;
    json_t *j = json_loadb(json, len, 0, &e);
    json_t *v;

    *out = NULL;
    if (!j || !json_is_object(j))
        goto bad;
    v = json_object_get(j, "v");
    if (!json_is_integer(v) || json_integer_value(v) != REC_VERSION) {
        json_decref(j);
        return rs_err_set(RS_ECORRUPT, "%s record: unknown version", what);
    }
    *out = j;
    return RS_OK;
bad:
    json_decref(j);
    return rs_err_set(RS_ECORRUPT, "%s record: bad JSON: %s", what,
                      j ? "not an object" : e.text);
}

static char *astr(struct rs_arena *a, json_t *j, const char *name)
{
    json_t *v = json_object_get(j, name);
    return json_is_string(v) ? rs_arena_strdup(a, json_string_value(v))
                             : NULL;
}

static int64_t jint(json_t *j, const char *name)
{
    json_t *v = json_object_get(j, name);
    return json_is_integer(v) ? (int64_t)json_integer_value(v) : 0;
}

static void cstr(char *out, size_t cap, json_t *j, const char *name)
{
    json_t *v = json_object_get(j, name);
    const char *s = json_is_string(v) ? json_string_value(v) : "";
    size_t n = strlen(s);

    if (n >= cap)
        n = cap - 1;
    memcpy(out, s, n);
    out[n] = '\0';
}

static void akv(struct rs_arena *a, struct rs_kv **out, size_t *n, json_t *j,
                const char *name)
{
    json_t *arr = json_object_get(j, name);
    size_t i, k = 0;
    json_t *e;

    *out = NULL;
    *n = 0;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return;
    *out = rs_arena_alloc(a, json_array_size(arr) * sizeof **out);
    json_array_foreach(arr, i, e) {
        const char *nm = json_string_value(json_array_get(e, 0));
        const char *vl = json_string_value(json_array_get(e, 1));
        if (!nm)
            continue;
        (*out)[k].name = rs_arena_strdup(a, nm);
        (*out)[k].value = rs_arena_strdup(a, vl ? vl : "");
        k++;
    }
    *n = k;
}

static void aacl(struct rs_arena *a, struct store_acl *acl, json_t *j)
{
    json_t *g, *e;
    size_t i, k = 0;

    memset(acl, 0, sizeof *acl);
    if (!json_is_object(j))
        return;
    acl->owner = astr(a, j, "owner");
    g = json_object_get(j, "grants");
    if (!json_is_array(g) || json_array_size(g) == 0)
        return;
    acl->grants = rs_arena_alloc(a, json_array_size(g) * sizeof *acl->grants);
    json_array_foreach(g, i, e) {
        struct store_grant *gr = &acl->grants[k++];
        const char *kind = json_string_value(json_object_get(e, "kind"));
        gr->kind = STORE_GRANTEE_USER;
        if (kind && strcmp(kind, "all") == 0)
            gr->kind = STORE_GRANTEE_ALL_USERS;
        else if (kind && strcmp(kind, "auth") == 0)
            gr->kind = STORE_GRANTEE_AUTH_USERS;
        gr->id = astr(a, e, "id");
        gr->perm = (unsigned)jint(e, "perm");
    }
    acl->ngrants = k;
}

/* Decode the "layout" member into a malloc'ed blob. */
static int jlayout_blob(void **out, size_t *len_out, json_t *j)
{
    json_t *v = json_object_get(j, "layout");
    const char *s;
    size_t n;
    int got;

    *out = NULL;
    *len_out = 0;
    if (!v)
        return RS_OK;
    if (!json_is_string(v))
        return rs_err_set(RS_ECORRUPT, "record: layout is not a string");
    s = json_string_value(v);
    n = json_string_length(v);
    *out = rs_xmalloc(3 * (n / 4) + 3);
    got = rs_base64_decode(*out, 3 * (n / 4) + 3, s, n);
    if (got < 0) {
        free(*out);
        *out = NULL;
        return rs_err_set(RS_ECORRUPT, "record: layout is not base64");
    }
    *len_out = (size_t)got;
    return RS_OK;
}

static int aobj(struct rs_arena *a, struct store_obj *out, json_t *j)
{
    json_t *parts = json_object_get(j, "parts");
    void *blob;
    size_t blen;
    int rc;

    out->size = (uint64_t)jint(j, "size");
    out->mtime_ns = jint(j, "mtime");
    out->etag = astr(a, j, "etag");
    out->storage_class = astr(a, j, "class");
    aacl(a, &out->acl, json_object_get(j, "acl"));
    akv(a, &out->headers, &out->nheaders, j, "headers");
    akv(a, &out->meta, &out->nmeta, j, "meta");
    akv(a, &out->tags, &out->ntags, j, "tags");
    akv(a, &out->checksums, &out->nchecksums, j, "checksums");
    out->parts_count = 0;
    out->part_sizes = NULL;
    out->appends = (uint32_t)jint(j, "appends");
    out->crc64 = 0;
    if (out->appends > 0) {
        json_t *c = json_object_get(j, "crc64");
        if (json_is_string(c))
            out->crc64 = strtoull(json_string_value(c), NULL, 16);
    }
    if (json_is_array(parts) && json_array_size(parts) > 0) {
        size_t i;
        json_t *e;
        out->parts_count = (uint32_t)json_array_size(parts);
        out->part_sizes = rs_arena_alloc(a, out->parts_count *
                                                sizeof *out->part_sizes);
        json_array_foreach(parts, i, e)
            out->part_sizes[i] = (uint64_t)json_integer_value(e);
    }
    if ((rc = jlayout_blob(&blob, &blen, j)) != RS_OK)
        return rc;
    out->_layout = NULL;
    out->_layout_len = blen;
    if (blob) {
        out->_layout = rs_arena_alloc(a, blen);
        memcpy(out->_layout, blob, blen);
        free(blob);
    }
    return RS_OK;
}

/* ------------------------------------------------------------------ */
/* Objects                                                              */
/* ------------------------------------------------------------------ */

char *store__obj_encode(const struct store_obj *o, const void *layout,
                        size_t layout_len)
{
    json_t *j = jobj(o);
    json_object_set_new(j, "layout", jlayout(layout, layout_len));
    return dump(j);
}

int store__obj_decode(struct rs_arena *a, struct store_obj *out,
                      const char *bucket, const char *key, const char *json,
                      size_t len)
{
    json_t *j;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = jload(&j, json, len, "object")) != RS_OK)
        return rc;
    out->bucket = rs_arena_strdup(a, bucket);
    out->key = rs_arena_strdup(a, key);
    rc = aobj(a, out, j);
    json_decref(j);
    return rc;
}

int store__rec_layout(struct store_layout *l, const char *json, size_t len)
{
    json_t *j;
    void *blob;
    size_t blen;
    int rc;

    memset(l, 0, sizeof *l);
    if ((rc = jload(&j, json, len, "object")) != RS_OK)
        return rc;
    rc = jlayout_blob(&blob, &blen, j);
    json_decref(j);
    if (rc != RS_OK)
        return rc;
    if (!blob)
        return rs_err_set(RS_ECORRUPT, "record without layout");
    rc = store__layout_decode(l, blob, blen);
    free(blob);
    return rc;
}

char *store__rec_set_tags(const char *json, size_t len,
                          const struct rs_kv *tags, size_t ntags)
{
    json_t *j;
    if (jload(&j, json, len, "object") != RS_OK)
        return NULL;
    json_object_set_new(j, "tags", jkv(tags, ntags));
    return dump(j);
}

char *store__rec_set_layout(const char *json, size_t len, const void *layout,
                            size_t layout_len)
{
    json_t *j;
    if (jload(&j, json, len, "object") != RS_OK)
        return NULL;
    json_object_set_new(j, "layout", jlayout(layout, layout_len));
    return dump(j);
}

char *store__rec_set_class(const char *json, size_t len,
                           const char *storage_class, const void *layout,
                           size_t layout_len)
{
    json_t *j;
    if (jload(&j, json, len, "object") != RS_OK)
        return NULL;
    json_object_set_new(j, "class", jstr(storage_class));
    if (layout)
        json_object_set_new(j, "layout", jlayout(layout, layout_len));
    return dump(j);
}

char *store__rec_set_acl(const char *json, size_t len,
                         const struct store_acl *acl)
{
    json_t *j;
    if (jload(&j, json, len, "object") != RS_OK)
        return NULL;
    json_object_set_new(j, "acl", jacl(acl));
    return dump(j);
}

/* ------------------------------------------------------------------ */
/* Users                                                                */
/* ------------------------------------------------------------------ */

char *store__user_encode(const struct store_user *u)
{
    return dump(json_pack("{s:i,s:o,s:o,s:o,s:o,s:o,s:I,s:b}", "v",
                          REC_VERSION, "name", jstr(u->name), "access_key",
                          jstr(u->access_key), "secret_key",
                          jstr(u->secret_key), "display_name",
                          jstr(u->display_name), "email", jstr(u->email),
                          "created", (json_int_t)u->created_ns, "root",
                          (int)u->root));
}

int store__user_decode(struct store_user *out, const char *json, size_t len)
{
    json_t *j;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = jload(&j, json, len, "user")) != RS_OK)
        return rc;
    cstr(out->name, sizeof out->name, j, "name");
    cstr(out->access_key, sizeof out->access_key, j, "access_key");
    cstr(out->secret_key, sizeof out->secret_key, j, "secret_key");
    cstr(out->display_name, sizeof out->display_name, j, "display_name");
    cstr(out->email, sizeof out->email, j, "email");
    out->created_ns = jint(j, "created");
    out->root = json_is_true(json_object_get(j, "root"));
    json_decref(j);
    return RS_OK;
}

/* ------------------------------------------------------------------ */
/* Buckets                                                              */
/* ------------------------------------------------------------------ */

char *store__bucket_encode(const struct store_bucket *b,
                           const struct idx_shardmap *m)
{
    json_t *sh = json_array();
    for (size_t i = 0; i < m->n; i++)
        json_array_append_new(sh, json_pack("{s:I,s:o,s:s}", "id",
                                            (json_int_t)m->shards[i].id,
                                            "lo", jstr(m->shards[i].lo),
                                            "engine",
                                            m->shards[i].ops->name));
    return dump(json_pack("{s:i,s:I,s:o,s:o,s:o}", "v", REC_VERSION,
                          "created", (json_int_t)b->created_ns, "region",
                          jstr(b->region), "acl", jacl(&b->acl), "shards",
                          sh));
}

void store__shardmap_free(struct idx_shardmap *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->n; i++)
        free(m->shards[i].lo);
    free(m->shards);
    free(m);
}

static int jshards(struct idx_shardmap **out, json_t *j, const char *name)
{
    json_t *arr = json_object_get(j, "shards");
    struct idx_shardmap *m;
    size_t i;
    json_t *e;

    *out = NULL;
    if (!json_is_array(arr) || json_array_size(arr) == 0)
        return rs_err_set(RS_ECORRUPT, "bucket %s: no shard map", name);
    m = rs_xcalloc(1, sizeof *m);
    m->shards = rs_xcalloc(json_array_size(arr), sizeof *m->shards);
    json_array_foreach(arr, i, e) {
        struct idx_shard *s = &m->shards[i];
        const char *lo = json_string_value(json_object_get(e, "lo"));
        const char *eng = json_string_value(json_object_get(e, "engine"));
        s->id = (uint32_t)jint(e, "id");
        s->lo = rs_xstrdup(lo ? lo : "");
        s->ops = idx_shard_engine(eng);
        m->n++;
        if (!s->ops || (i == 0 && s->lo[0] != '\0') ||
            (i > 0 && strcmp(m->shards[i - 1].lo, s->lo) >= 0)) {
            store__shardmap_free(m);
            return rs_err_set(RS_ECORRUPT, "bucket %s: bad shard %zu", name,
                              i);
        }
    }
    *out = m;
    return RS_OK;
}

int store__bucket_decode(struct rs_arena *a, struct store_bucket *out,
                         struct idx_shardmap **map_out, const char *name,
                         const char *json, size_t len)
{
    json_t *j;
    int rc;

    if ((rc = jload(&j, json, len, "bucket")) != RS_OK)
        return rc;
    if (out) {
        memset(out, 0, sizeof *out);
        out->name = rs_arena_strdup(a, name);
        out->created_ns = jint(j, "created");
        out->region = astr(a, j, "region");
        aacl(a, &out->acl, json_object_get(j, "acl"));
    }
    if (map_out)
        rc = jshards(map_out, j, name);
    json_decref(j);
    return rc;
}

/* ------------------------------------------------------------------ */
/* Uploads and parts                                                    */
/* ------------------------------------------------------------------ */

char *store__upload_encode(const struct store_upload *u)
{
    return dump(json_pack("{s:i,s:I,s:o}", "v", REC_VERSION, "initiated",
                          (json_int_t)u->initiated_ns, "info",
                          jobj(&u->info)));
}

int store__upload_decode(struct rs_arena *a, struct store_upload *out,
                         const char *json, size_t len)
{
    json_t *j, *info;
    int rc;

    if ((rc = jload(&j, json, len, "upload")) != RS_OK)
        return rc;
    out->initiated_ns = jint(j, "initiated");
    memset(&out->info, 0, sizeof out->info);
    info = json_object_get(j, "info");
    if (json_is_object(info))
        rc = aobj(a, &out->info, info);
    json_decref(j);
    return rc;
}

char *store__part_encode(const struct store_part *p, const void *layout,
                         size_t layout_len)
{
    return dump(json_pack("{s:i,s:I,s:I,s:I,s:o,s:o,s:o}", "v", REC_VERSION,
                          "n", (json_int_t)p->number, "size",
                          (json_int_t)p->size, "mtime",
                          (json_int_t)p->mtime_ns, "etag", jstr(p->etag),
                          "checksums", jkv(p->checksums, p->nchecksums),
                          "layout", jlayout(layout, layout_len)));
}

int store__part_decode(struct rs_arena *a, struct store_part *out,
                       const char *json, size_t len)
{
    json_t *j;
    int rc;

    memset(out, 0, sizeof *out);
    if ((rc = jload(&j, json, len, "part")) != RS_OK)
        return rc;
    out->number = (uint32_t)jint(j, "n");
    out->size = (uint64_t)jint(j, "size");
    out->mtime_ns = jint(j, "mtime");
    out->etag = astr(a, j, "etag");
    akv(a, &out->checksums, &out->nchecksums, j, "checksums");
    json_decref(j);
    return RS_OK;
}

/* ------------------------------------------------------------------ */
/* Garbage and pending                                                  */
/* ------------------------------------------------------------------ */

char *store__garbage_encode(uint8_t group)
{
    return dump(json_pack("{s:i,s:i}", "v", REC_VERSION, "group",
                          (int)group));
}

char *store__pending_encode(uint8_t group, int64_t t_ns)
{
    return dump(json_pack("{s:i,s:i,s:I}", "v", REC_VERSION, "group",
                          (int)group, "t", (json_int_t)t_ns));
}

int store__rec_group(uint8_t *out, const char *json, size_t len)
{
    json_t *j;
    int64_t g;
    int rc;

    *out = 0;
    if ((rc = jload(&j, json, len, "garbage")) != RS_OK)
        return rc;
    g = jint(j, "group");
    json_decref(j);
    if (g < 0 || g >= STORE_NGROUPS)
        return rs_err_set(RS_ECORRUPT, "garbage record: group %lld",
                          (long long)g);
    *out = (uint8_t)g;
    return RS_OK;
}
