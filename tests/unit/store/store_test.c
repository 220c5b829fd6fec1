/*
 * tests/unit/store/store_test.c - the store facade (store/store.c with
 * writer.c and reader.c) on a real RocksDB and real files in a fresh
 * temporary directory per test.  No mocks.
 *
 * Tests that need a second process (index lock) re-run this program with
 * a --child-* argument through /proc/self/exe.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/store.h"
#include "store/store_int.h"
#include "store_fixture.h"

#include <dirent.h>
#include <stdatomic.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Short names for the fixture's geometry (fx_setup), used throughout. */
#define BLOCK FX_BLOCK
#define STRIPE FX_STRIPE

/* ------------------------------------------------------------------ */
/* Helpers (the fixture and data helpers are in store_fixture.c)        */
/* ------------------------------------------------------------------ */

static char found_path[1024];
static int find_cb(const char *p, const struct stat *sb, int flag,
                   struct FTW *ftw)
{
    (void)sb;
    (void)ftw;
    if (flag == FTW_F) {
        snprintf(found_path, sizeof found_path, "%s", p);
        return 1;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* Put / get                                                            */
/* ------------------------------------------------------------------ */

static void test_store_put_get_roundtrips_every_size(void **state)
{
    struct fx *f = *state;
    const size_t sizes[] = {0, 1, BLOCK - 1, BLOCK, BLOCK + 1, STRIPE - 1,
                            STRIPE, STRIPE + 1, 3 * STRIPE + 17,
                            (3u << 20) + 5};
    char key[32];

    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        uint8_t *p = fx_pattern(sizes[i], (uint32_t)i + 1);
        snprintf(key, sizeof key, "obj-%zu", sizes[i]);
        fx_put_ok(f->s, key, p, sizes[i]);
        fx_check_obj(f->s, key, p, sizes[i]);
        free(p);
    }
}

static void test_store_put_get_default_stripe_plus_one(void **state)
{
    struct fx *f = *state;
    size_t n = (8u << 20) + 1;
    uint8_t *p = fx_pattern(n, 99);
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_layout l;

    fx_put_ok(f->s, "big", p, n);
    fx_check_obj(f->s, "big", p, n);
    /* Two stripes: a run of one 8 MiB extent and a run of one 1-byte one. */
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "big"), RS_OK);
    assert_int_equal(store__layout_decode(&l, o._layout, o._layout_len),
                     RS_OK);
    assert_int_equal(l.nruns, 2);
    assert_int_equal(l.runs[0].len, 8u << 20);
    assert_int_equal(l.runs[1].len, 1);
    assert_string_equal(l.runs[0].container, l.runs[1].container);
    store__layout_dispose(&l);
    rs_arena_free(a);
    free(p);
}

static void test_store_layout_of_many_stripes_is_compact(void **state)
{
    struct fx *f = *state;
    size_t n = 40 * STRIPE + 3;
    uint8_t *p = fx_pattern(n, 5);
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_layout l;

    fx_put_ok(f->s, "many", p, n);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "many"), RS_OK);
    assert_int_equal(store__layout_decode(&l, o._layout, o._layout_len),
                     RS_OK);
    assert_int_equal(l.nruns, 2);
    assert_int_equal(l.runs[0].count, 40);
    assert_true(o._layout_len < 128);
    store__layout_dispose(&l);
    fx_check_obj(f->s, "many", p, n);
    rs_arena_free(a);
    free(p);
}

static void test_store_range_reads_at_odd_offsets(void **state)
{
    struct fx *f = *state;
    size_t n = 5 * STRIPE + 333;
    uint8_t *p = fx_pattern(n, 7);
    const uint64_t offs[] = {0, 1, BLOCK - 1, BLOCK, BLOCK + 1, STRIPE - 3,
                             STRIPE, 2 * STRIPE + 4095, n - 1, n - 334};
    const size_t lens[] = {1, 2, 3, BLOCK, BLOCK + 2, STRIPE + 7, 333};

    fx_put_ok(f->s, "r", p, n);
    for (size_t i = 0; i < sizeof offs / sizeof *offs; i++) {
        for (size_t j = 0; j < sizeof lens / sizeof *lens; j++) {
            size_t len = lens[j];
            if (offs[i] + len > n)
                len = (size_t)(n - offs[i]);
            fx_check_range(f->s, "r", p, offs[i], len);
        }
    }
    free(p);
}

static void test_store_read_past_end_is_short(void **state)
{
    struct fx *f = *state;
    uint8_t *p = fx_pattern(1000, 3), buf[2000];
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_reader *r;
    size_t got;

    fx_put_ok(f->s, "short", p, 1000);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "short"), RS_OK);
    assert_int_equal(store_reader_open(f->s, &r, &o), RS_OK);
    assert_int_equal(store_reader_read(r, 900, buf, sizeof buf, &got),
                     RS_OK);
    assert_int_equal(got, 100);
    assert_memory_equal(buf, p + 900, 100);
    assert_int_equal(store_reader_read(r, 5000, buf, 10, &got), RS_OK);
    assert_int_equal(got, 0);
    store_reader_close(r);
    rs_arena_free(a);
    free(p);
}

static void test_store_metadata_roundtrips(void **state)
{
    struct fx *f = *state;
    struct rs_kv hdr[] = {{"Content-Type", "video/mp4"},
                          {"Cache-Control", "no-cache"}};
    struct rs_kv meta[] = {{"camera", "g7-north"}, {"lane", "3"}};
    struct rs_kv tags[] = {{"plate", "ABC123"}};
    struct store_grant g = {STORE_GRANTEE_ALL_USERS, NULL, STORE_PERM_READ};
    struct store_obj info = {0}, o;
    struct store_writer *w;
    struct rs_arena *a = rs_arena_new();

    assert_int_equal(store_writer_open(f->s, &w, "bkt", "meta/1",
                                       "STANDARD_IA"), RS_OK);
    assert_int_equal(store_writer_write(w, "hello", 5), RS_OK);
    info.etag = "5d41402abc4b2a76b9719d911017c592";
    info.headers = hdr;
    info.nheaders = 2;
    info.meta = meta;
    info.nmeta = 2;
    info.tags = tags;
    info.ntags = 1;
    info.acl.owner = "alice";
    info.acl.grants = &g;
    info.acl.ngrants = 1;
    assert_int_equal(store_writer_commit(w, &info), RS_OK);
    assert_int_equal(info.size, 5);

    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "meta/1"), RS_OK);
    assert_string_equal(o.bucket, "bkt");
    assert_string_equal(o.key, "meta/1");
    assert_int_equal(o.size, 5);
    assert_true(o.mtime_ns > 0);
    assert_string_equal(o.etag, info.etag);
    assert_string_equal(o.storage_class, "STANDARD_IA");
    assert_int_equal(o.nheaders, 2);
    assert_string_equal(o.headers[1].name, "Cache-Control");
    assert_int_equal(o.nmeta, 2);
    assert_string_equal(o.meta[0].value, "g7-north");
    assert_int_equal(o.ntags, 1);
    assert_string_equal(o.tags[0].value, "ABC123");
    assert_string_equal(o.acl.owner, "alice");
    assert_int_equal(o.acl.ngrants, 1);
    assert_int_equal(o.acl.grants[0].kind, STORE_GRANTEE_ALL_USERS);
    assert_int_equal(o.acl.grants[0].perm, STORE_PERM_READ);
    assert_int_equal(o.parts_count, 0);
    /* Low-frequency class: the data is in the low-frequency group. */
    assert_int_equal(fx_count_containers(f, "low-frequency"), 1);
    assert_int_equal(fx_count_containers(f, "standard"), 0);
    rs_arena_free(a);
}

static void test_store_class_parse_maps_s3_names(void **state)
{
    enum store_class c;
    (void)state;

    assert_int_equal(store_class_parse(&c, "STANDARD"), RS_OK);
    assert_int_equal(c, STORE_CLASS_STANDARD);
    assert_int_equal(store_class_parse(&c, "REDUCED_REDUNDANCY"), RS_OK);
    assert_int_equal(c, STORE_CLASS_STANDARD);
    assert_int_equal(store_class_parse(&c, NULL), RS_OK);
    assert_int_equal(c, STORE_CLASS_STANDARD);
    const char *low[] = {"STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
                         "GLACIER", "GLACIER_IR", "DEEP_ARCHIVE"};
    for (size_t i = 0; i < 6; i++) {
        assert_int_equal(store_class_parse(&c, low[i]), RS_OK);
        assert_int_equal(c, STORE_CLASS_LOW_FREQUENCY);
    }
    assert_int_equal(store_class_parse(&c, "PLATINUM"), RS_EINVAL);
}

/* ------------------------------------------------------------------ */
/* Overwrite, delete, tags, ACL                                         */
/* ------------------------------------------------------------------ */

static void test_store_overwrite_keeps_old_reader_bytes(void **state)
{
    struct fx *f = *state;
    size_t n1 = 3 * STRIPE + 11, n2 = 1234;
    uint8_t *p1 = fx_pattern(n1, 1), *p2 = fx_pattern(n2, 2);
    uint8_t *buf = malloc(n1);
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_reader *r;
    size_t got, done = 0;

    fx_put_ok(f->s, "k", p1, n1);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "k"), RS_OK);
    assert_int_equal(store_reader_open(f->s, &r, &o), RS_OK);
    fx_put_ok(f->s, "k", p2, n2);
    fx_check_obj(f->s, "k", p2, n2);
    /* The old reader reads the old bytes, whole. */
    while (done < n1) {
        assert_int_equal(store_reader_read(r, done, buf + done, n1 - done,
                                           &got), RS_OK);
        assert_true(got > 0);
        done += got;
    }
    assert_memory_equal(buf, p1, n1);
    store_reader_close(r);
    free(buf);
    free(p1);
    free(p2);
    rs_arena_free(a);
}

static void test_store_overwrite_makes_old_data_garbage(void **state)
{
    struct fx *f = *state;
    uint8_t *p = fx_pattern(100, 1);
    struct store_stats st;

    fx_put_ok(f->s, "g", p, 100);
    assert_int_equal(store_get_stats(f->s, &st), RS_OK);
    assert_int_equal(st.gc_pending, 0);
    fx_put_ok(f->s, "g", p, 50);
    assert_int_equal(store_get_stats(f->s, &st), RS_OK);
    assert_int_equal(st.gc_pending, 1);
    assert_int_equal(fx_count_containers(f, "standard"), 2);
    free(p);
}

static void test_store_delete_removes_object(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_stats st;
    uint8_t *p = fx_pattern(10, 1);

    fx_put_ok(f->s, "d", p, 10);
    assert_int_equal(store_object_delete(f->s, "bkt", "d"), RS_OK);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "d"),
                     RS_ENOTFOUND);
    assert_int_equal(store_object_delete(f->s, "bkt", "d"), RS_ENOTFOUND);
    assert_int_equal(store_object_delete(f->s, "nobucket", "d"),
                     RS_ENOTFOUND);
    assert_int_equal(store_get_stats(f->s, &st), RS_OK);
    assert_int_equal(st.gc_pending, 1);
    /* Empty objects have no container and leave no garbage. */
    fx_put_ok(f->s, "e", p, 0);
    assert_int_equal(store_object_delete(f->s, "bkt", "e"), RS_OK);
    assert_int_equal(store_get_stats(f->s, &st), RS_OK);
    assert_int_equal(st.gc_pending, 1);
    free(p);
    rs_arena_free(a);
}

static void test_store_set_tags_and_acl_replace_only_them(void **state)
{
    struct fx *f = *state;
    struct rs_kv tags[] = {{"a", "1"}, {"b", "2"}};
    struct store_grant g = {STORE_GRANTEE_USER, "bob", STORE_PERM_READ_ACP};
    struct store_acl acl = {"alice", &g, 1};
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    uint8_t *p = fx_pattern(5000, 4);

    fx_put_ok(f->s, "t", p, 5000);
    assert_int_equal(store_object_set_tags(f->s, "bkt", "t", tags, 2), RS_OK);
    assert_int_equal(store_object_set_acl(f->s, "bkt", "t", &acl), RS_OK);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "t"), RS_OK);
    assert_int_equal(o.ntags, 2);
    assert_string_equal(o.tags[1].name, "b");
    assert_int_equal(o.acl.ngrants, 1);
    assert_string_equal(o.acl.grants[0].id, "bob");
    assert_int_equal(o.size, 5000);
    fx_check_obj(f->s, "t", p, 5000);
    assert_int_equal(store_object_set_tags(f->s, "bkt", "none", tags, 2),
                     RS_ENOTFOUND);
    assert_int_equal(store_object_set_acl(f->s, "bkt", "none", &acl),
                     RS_ENOTFOUND);
    free(p);
    rs_arena_free(a);
}

static void test_store_max_object_size_is_etoobig(void **state)
{
    struct fx *f = *state;
    struct store_writer *w;
    uint8_t buf[600] = {0};

    store_close(f->s);
    f->cfg.max_object_size = 1000;
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    assert_int_equal(store_writer_open(f->s, &w, "bkt", "big", NULL), RS_OK);
    assert_int_equal(store_writer_write(w, buf, 600), RS_OK);
    assert_int_equal(store_writer_write(w, buf, 600), RS_ETOOBIG);
    store_writer_abort(w);
    assert_int_equal(fx_count_containers(f, "standard"), 0);
}

static void test_store_writer_abort_leaves_nothing(void **state)
{
    struct fx *f = *state;
    struct store_writer *w;
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_stats st;
    uint8_t *p = fx_pattern(3 * STRIPE, 9);

    assert_int_equal(store_writer_open(f->s, &w, "bkt", "ab", NULL), RS_OK);
    assert_int_equal(store_writer_write(w, p, 3 * STRIPE), RS_OK);
    store_writer_abort(w);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "ab"),
                     RS_ENOTFOUND);
    assert_int_equal(fx_count_containers(f, "standard"), 0);
    fx_reopen(f);
    assert_int_equal(store_get_stats(f->s, &st), RS_OK);
    assert_int_equal(st.gc_pending, 0);
    free(p);
    rs_arena_free(a);
}

static void test_store_writer_rejects_bad_input(void **state)
{
    struct fx *f = *state;
    struct store_writer *w;
    char longkey[1100];

    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = '\0';
    assert_int_equal(store_writer_open(f->s, &w, "nobucket", "k", NULL),
                     RS_ENOTFOUND);
    assert_int_equal(store_writer_open(f->s, &w, "bkt", "k", "GOLD"),
                     RS_EINVAL);
    assert_int_equal(store_writer_open(f->s, &w, "bkt", "", NULL),
                     RS_EINVAL);
    assert_int_equal(store_writer_open(f->s, &w, "bkt", longkey, NULL),
                     RS_EINVAL);
    assert_int_equal(store_writer_open(f->s, &w, "bkt", "bad\xff", NULL),
                     RS_EINVAL);
    longkey[1024] = '\0';
    assert_int_equal(store_writer_open(f->s, &w, "bkt", longkey, NULL),
                     RS_OK);
    store_writer_abort(w);
}

/* ------------------------------------------------------------------ */
/* Corruption                                                           */
/* ------------------------------------------------------------------ */

static void test_store_corrupt_byte_gives_ecorrupt(void **state)
{
    struct fx *f = *state;
    size_t n = 2 * STRIPE;
    uint8_t *p = fx_pattern(n, 11), buf[100], c;
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_reader *r;
    char path[512];
    size_t got;
    int fd;

    fx_put_ok(f->s, "c", p, n);
    snprintf(path, sizeof path, "%s/standard", f->dir);
    found_path[0] = '\0';
    nftw(path, find_cb, 16, FTW_PHYS);
    assert_true(found_path[0] != '\0');
    /* Flip one byte in block 3 of the second extent. */
    fd = open(found_path, O_RDWR);
    assert_true(fd >= 0);
    off_t at = (off_t)(STRIPE + 4 * (STRIPE / BLOCK) + 3 * BLOCK + 17);
    assert_int_equal(pread(fd, &c, 1, at), 1);
    c ^= 0x40;
    assert_int_equal(pwrite(fd, &c, 1, at), 1);
    close(fd);

    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "c"), RS_OK);
    assert_int_equal(store_reader_open(f->s, &r, &o), RS_OK);
    /* Other blocks still read fine... */
    assert_int_equal(store_reader_read(r, 0, buf, sizeof buf, &got), RS_OK);
    assert_memory_equal(buf, p, sizeof buf);
    assert_int_equal(store_reader_read(r, STRIPE + 2 * BLOCK, buf, 10, &got),
                     RS_OK);
    /* ...the damaged one never returns bytes. */
    assert_int_equal(store_reader_read(r, STRIPE + 3 * BLOCK + 100, buf, 10,
                                       &got), RS_ECORRUPT);
    assert_int_equal(got, 0);
    assert_int_equal(store_reader_read(r, STRIPE, buf, sizeof buf, &got),
                     RS_OK);
    store_reader_close(r);
    free(p);
    rs_arena_free(a);
}

static void test_store_truncated_container_gives_ecorrupt(void **state)
{
    struct fx *f = *state;
    uint8_t *p = fx_pattern(10000, 12), buf[100];
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_reader *r;
    char path[512];
    size_t got;

    fx_put_ok(f->s, "t", p, 10000);
    snprintf(path, sizeof path, "%s/standard", f->dir);
    nftw(path, find_cb, 16, FTW_PHYS);
    assert_int_equal(truncate(found_path, 9000), 0);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "t"), RS_OK);
    assert_int_equal(store_reader_open(f->s, &r, &o), RS_OK);
    assert_int_equal(store_reader_read(r, 9500, buf, 10, &got), RS_ECORRUPT);
    store_reader_close(r);
    free(p);
    rs_arena_free(a);
}

/* ------------------------------------------------------------------ */
/* Listing                                                              */
/* ------------------------------------------------------------------ */

struct collected {
    char *items[64];   /* "k:<key>" or "p:<prefix>" */
    size_t n;
};

static int collect_cb(void *arg, const struct store_list_entry *e)
{
    struct collected *c = arg;
    char buf[1200];
    snprintf(buf, sizeof buf, "%s:%s", e->obj ? "k" : "p",
             e->obj ? e->obj->key : e->prefix);
    assert_true(c->n < 64);
    c->items[c->n++] = strdup(buf);
    return 0;
}

static void collected_free(struct collected *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->items[i]);
    c->n = 0;
}

static void list(struct store *s, struct collected *c, const char *prefix,
                 const char *delim, const char *after, size_t max,
                 bool *trunc, const char **next, struct rs_arena *a)
{
    struct store_list_opts o = {prefix, delim, after, max};
    assert_int_equal(store_object_list(s, a, "bkt", &o, collect_cb, c, trunc,
                                       next), RS_OK);
}

static const char *const list_keys[] = {
    "../up",          "a",         "a%2Fb",        "a/b",
    "a/c/d",          "a/c/e",     "a/d",          "b c",
    "line\nbreak",    "photos/2024/01/x.jpg",      "photos/2024/02/y.jpg",
    "photos/readme",  "z",         "\xc3\xbc/x",   "\xe6\x97\xa5\xe6\x9c\xac/\xe8\xaa\x9e",
};
#define NLIST (sizeof list_keys / sizeof *list_keys)

static void put_list_keys(struct store *s)
{
    /* Insert in reverse to show the order comes from the index. */
    for (size_t i = NLIST; i-- > 0;)
        assert_int_equal(fx_put_obj(s, "bkt", list_keys[i],
                                 (const uint8_t *)"x", 1, NULL), RS_OK);
}

static void test_store_list_returns_keys_in_byte_order(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct collected c = {0};
    const char *next;
    bool trunc;

    put_list_keys(f->s);
    list(f->s, &c, NULL, NULL, NULL, 1000, &trunc, &next, a);
    assert_int_equal(c.n, NLIST);
    for (size_t i = 0; i < NLIST; i++) {
        assert_string_equal(c.items[i] + 2, list_keys[i]);
        if (i)
            assert_true(strcmp(list_keys[i - 1], list_keys[i]) < 0);
    }
    assert_false(trunc);
    assert_string_equal(next, "\xe6\x97\xa5\xe6\x9c\xac/\xe8\xaa\x9e");
    collected_free(&c);
    rs_arena_free(a);
}

static void test_store_list_delimiter_rolls_up_common_prefixes(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct collected c = {0};
    const char *next;
    bool trunc;
    const char *want[] = {"p:../",     "k:a",       "k:a%2Fb", "p:a/",
                          "k:b c",     "k:line\nbreak",        "p:photos/",
                          "k:z",       "p:\xc3\xbc/",
                          "p:\xe6\x97\xa5\xe6\x9c\xac/"};

    put_list_keys(f->s);
    list(f->s, &c, "", "/", NULL, 1000, &trunc, &next, a);
    assert_int_equal(c.n, sizeof want / sizeof *want);
    for (size_t i = 0; i < c.n; i++)
        assert_string_equal(c.items[i], want[i]);
    assert_false(trunc);
    collected_free(&c);

    /* Within a prefix. */
    list(f->s, &c, "a/", "/", NULL, 1000, &trunc, &next, a);
    assert_int_equal(c.n, 3);
    assert_string_equal(c.items[0], "k:a/b");
    assert_string_equal(c.items[1], "p:a/c/");
    assert_string_equal(c.items[2], "k:a/d");
    collected_free(&c);

    list(f->s, &c, "photos/2024/", "/", NULL, 1000, &trunc, &next, a);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.items[0], "p:photos/2024/01/");
    assert_string_equal(c.items[1], "p:photos/2024/02/");
    collected_free(&c);

    /* Prefix without delimiter; prefix matching nothing. */
    list(f->s, &c, "a", NULL, NULL, 1000, &trunc, &next, a);
    assert_int_equal(c.n, 6);
    collected_free(&c);
    list(f->s, &c, "nothing", "/", NULL, 1000, &trunc, &next, a);
    assert_int_equal(c.n, 0);
    assert_false(trunc);
    /* A multi-byte delimiter. */
    list(f->s, &c, "", "c/", NULL, 1000, &trunc, &next, a);
    assert_string_equal(c.items[4], "p:a/c/");
    collected_free(&c);
    rs_arena_free(a);
}

static void test_store_list_pages_with_max_keys_and_start_after(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct collected all = {0}, page = {0};
    const char *delims[] = {NULL, "/"};

    put_list_keys(f->s);
    for (size_t d = 0; d < 2; d++) {
        for (size_t max = 1; max <= 4; max++) {
            const char *after = NULL, *next;
            bool trunc = true;
            size_t seen = 0, pages = 0;

            list(f->s, &all, NULL, delims[d], NULL, 1000, &trunc, &next, a);
            assert_false(trunc);
            trunc = true;
            while (trunc) {
                list(f->s, &page, NULL, delims[d], after, max, &trunc, &next,
                     a);
                assert_true(page.n <= max);
                for (size_t i = 0; i < page.n; i++)
                    assert_string_equal(page.items[i], all.items[seen + i]);
                seen += page.n;
                after = next;
                collected_free(&page);
                assert_true(++pages < 100);
            }
            assert_int_equal(seen, all.n);
            collected_free(&all);
        }
    }
    rs_arena_free(a);
}

static void test_store_list_start_after_is_exclusive(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct collected c = {0};
    const char *next;
    bool trunc;

    put_list_keys(f->s);
    list(f->s, &c, NULL, NULL, "a/c/d", 2, &trunc, &next, a);
    assert_int_equal(c.n, 2);
    assert_string_equal(c.items[0], "k:a/c/e");
    assert_string_equal(c.items[1], "k:a/d");
    assert_true(trunc);
    assert_string_equal(next, "a/d");
    collected_free(&c);
    /* start_after that is not a key, and past everything. */
    list(f->s, &c, NULL, NULL, "a/c/dd", 1, &trunc, &next, a);
    assert_string_equal(c.items[0], "k:a/c/e");
    collected_free(&c);
    list(f->s, &c, NULL, NULL, "\xff", 10, &trunc, &next, a);
    assert_int_equal(c.n, 0);
    assert_false(trunc);
    /* start_after below the prefix starts at the prefix. */
    list(f->s, &c, "photos/", NULL, "a", 10, &trunc, &next, a);
    assert_int_equal(c.n, 3);
    collected_free(&c);
    rs_arena_free(a);
}

static void test_store_list_max_keys_zero_gives_nothing(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct collected c = {0};
    const char *next = "x";
    bool trunc = true;

    put_list_keys(f->s);
    list(f->s, &c, NULL, NULL, NULL, 0, &trunc, &next, a);
    assert_int_equal(c.n, 0);
    assert_false(trunc);
    assert_null(next);
    {
        struct store_list_opts o = {0};
        assert_int_equal(store_object_list(f->s, a, "nobucket", &o,
                                           collect_cb, &c, &trunc, &next),
                         RS_ENOTFOUND);
    }
    rs_arena_free(a);
}

static void test_store_list_returns_full_metadata(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    uint8_t *p = fx_pattern(777, 1);
    struct collected c = {0};
    const char *next;
    bool trunc;

    assert_int_equal(fx_put_obj(f->s, "bkt", "m", p, 777, "GLACIER"), RS_OK);
    list(f->s, &c, NULL, NULL, NULL, 10, &trunc, &next, a);
    assert_int_equal(c.n, 1);
    collected_free(&c);
    {
        struct store_obj o;
        assert_int_equal(store_object_head(f->s, a, &o, "bkt", "m"), RS_OK);
        assert_string_equal(o.storage_class, "GLACIER");
        assert_int_equal(o.size, 777);
    }
    free(p);
    rs_arena_free(a);
}

/* ------------------------------------------------------------------ */
/* Buckets and users                                                    */
/* ------------------------------------------------------------------ */

static int count_bucket_cb(void *arg, const struct store_bucket *b)
{
    (void)b;
    (*(int *)arg)++;
    return 0;
}

static void test_store_bucket_lifecycle(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct store_bucket b = {.name = "two", .region = "eu"}, got;
    struct store_grant g = {STORE_GRANTEE_AUTH_USERS, NULL, STORE_PERM_READ};
    struct store_acl acl = {"bob", &g, 1};
    int n = 0;

    b.acl.owner = "bob";
    assert_int_equal(store_bucket_create(f->s, &b), RS_OK);
    assert_int_equal(store_bucket_create(f->s, &b), RS_EEXIST);
    assert_int_equal(store_bucket_get(f->s, a, &got, "two"), RS_OK);
    assert_string_equal(got.name, "two");
    assert_string_equal(got.region, "eu");
    assert_string_equal(got.acl.owner, "bob");
    assert_int_equal(store_bucket_set_acl(f->s, "two", &acl), RS_OK);
    assert_int_equal(store_bucket_get(f->s, a, &got, "two"), RS_OK);
    assert_int_equal(got.acl.ngrants, 1);
    assert_int_equal(got.acl.grants[0].kind, STORE_GRANTEE_AUTH_USERS);
    assert_int_equal(store_bucket_list(f->s, a, NULL, count_bucket_cb, &n),
                     RS_OK);
    assert_int_equal(n, 2);
    n = 0;
    assert_int_equal(store_bucket_list(f->s, a, "bob", count_bucket_cb, &n),
                     RS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_bucket_get(f->s, a, &got, "three"), RS_ENOTFOUND);
    assert_int_equal(store_bucket_delete(f->s, "two"), RS_OK);
    assert_int_equal(store_bucket_delete(f->s, "two"), RS_ENOTFOUND);
    assert_int_equal(store_bucket_get(f->s, a, &got, "two"), RS_ENOTFOUND);
    /* Re-created under another owner: read through the metadata cache,
     * the new record, not the cached old one. */
    b.acl.owner = "carol";
    assert_int_equal(store_bucket_create(f->s, &b), RS_OK);
    assert_int_equal(store_bucket_get(f->s, a, &got, "two"), RS_OK);
    assert_string_equal(got.acl.owner, "carol");
    assert_int_equal(got.acl.ngrants, 0);
    rs_arena_free(a);
}

static void test_store_bucket_delete_conflicts_when_not_empty(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct store_upload u = {.bucket = "bkt", .key = "up"};
    const char *id;

    fx_put_ok(f->s, "x", (const uint8_t *)"1", 1);
    assert_int_equal(store_bucket_delete(f->s, "bkt"), RS_ECONFLICT);
    assert_int_equal(store_object_delete(f->s, "bkt", "x"), RS_OK);
    assert_int_equal(store_upload_create(f->s, a, &id, &u), RS_OK);
    assert_int_equal(store_bucket_delete(f->s, "bkt"), RS_ECONFLICT);
    assert_int_equal(store_upload_abort(f->s, "bkt", "up", id), RS_OK);
    assert_int_equal(store_bucket_delete(f->s, "bkt"), RS_OK);
    rs_arena_free(a);
}

static void test_store_commit_into_deleted_bucket_is_enotfound(void **state)
{
    struct fx *f = *state;
    struct store_writer *w;
    struct store_obj info = {0};

    assert_int_equal(store_writer_open(f->s, &w, "bkt", "late", NULL), RS_OK);
    assert_int_equal(store_writer_write(w, "abc", 3), RS_OK);
    assert_int_equal(store_bucket_delete(f->s, "bkt"), RS_OK);
    assert_int_equal(store_writer_commit(w, &info), RS_ENOTFOUND);
    /* The writer's container went with it. */
    assert_int_equal(fx_count_containers(f, "standard"), 0);
}

static int count_user_cb(void *arg, const struct store_user *u)
{
    (void)u;
    (*(int *)arg)++;
    return 0;
}

static void test_store_users_create_get_remove(void **state)
{
    struct fx *f = *state;
    struct store_user u = {0}, got;
    int n = 0;

    snprintf(u.name, sizeof u.name, "alice");
    snprintf(u.access_key, sizeof u.access_key, "AKIAALICE");
    snprintf(u.secret_key, sizeof u.secret_key, "secret");
    snprintf(u.display_name, sizeof u.display_name, "Alice");
    u.created_ns = 42;
    assert_int_equal(store_user_create(f->s, &u), RS_OK);
    assert_int_equal(store_user_create(f->s, &u), RS_EEXIST);
    snprintf(u.name, sizeof u.name, "alice2");
    assert_int_equal(store_user_create(f->s, &u), RS_EEXIST); /* key taken */
    snprintf(u.access_key, sizeof u.access_key, "AKIAALICE2");
    assert_int_equal(store_user_create(f->s, &u), RS_OK);

    assert_int_equal(store_user_get(f->s, &got, "alice"), RS_OK);
    assert_string_equal(got.secret_key, "secret");
    assert_string_equal(got.display_name, "Alice");
    assert_int_equal(got.created_ns, 42);
    assert_int_equal(store_user_by_access_key(f->s, &got, "AKIAALICE2"),
                     RS_OK);
    assert_string_equal(got.name, "alice2");
    assert_int_equal(store_user_by_access_key(f->s, &got, "nope"),
                     RS_ENOTFOUND);
    assert_int_equal(store_user_list(f->s, count_user_cb, &n), RS_OK);
    assert_int_equal(n, 2);

    /* alice owns "bkt" (fixture). */
    assert_int_equal(store_user_remove(f->s, "alice"), RS_ECONFLICT);
    assert_int_equal(store_user_remove(f->s, "alice2"), RS_OK);
    assert_int_equal(store_user_get(f->s, &got, "alice2"), RS_ENOTFOUND);
    assert_int_equal(store_user_by_access_key(f->s, &got, "AKIAALICE2"),
                     RS_ENOTFOUND);
    /* The same access key given to a new user with a new secret: the
     * metadata cache must not answer with the removed user. */
    snprintf(u.name, sizeof u.name, "alice3");
    snprintf(u.secret_key, sizeof u.secret_key, "rotated");
    assert_int_equal(store_user_create(f->s, &u), RS_OK);
    assert_int_equal(store_user_by_access_key(f->s, &got, "AKIAALICE2"),
                     RS_OK);
    assert_string_equal(got.name, "alice3");
    assert_string_equal(got.secret_key, "rotated");
    assert_int_equal(store_user_remove(f->s, "alice3"), RS_OK);
    assert_int_equal(store_bucket_delete(f->s, "bkt"), RS_OK);
    assert_int_equal(store_user_remove(f->s, "alice"), RS_OK);
    assert_int_equal(store_user_remove(f->s, "alice"), RS_ENOTFOUND);
}

/* ------------------------------------------------------------------ */
/* Reopen, lock, stats                                                  */
/* ------------------------------------------------------------------ */

static void test_store_reopen_keeps_everything(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct store_user u = {0}, gu;
    struct store_bucket gb;
    size_t n = 2 * STRIPE + 5;
    uint8_t *p = fx_pattern(n, 21);

    snprintf(u.name, sizeof u.name, "carol");
    snprintf(u.access_key, sizeof u.access_key, "AK");
    assert_int_equal(store_user_create(f->s, &u), RS_OK);
    fx_put_ok(f->s, "keep/me", p, n);
    fx_put_ok(f->s, "empty", p, 0);
    fx_reopen(f);
    fx_check_obj(f->s, "keep/me", p, n);
    fx_check_obj(f->s, "empty", p, 0);
    assert_int_equal(store_user_get(f->s, &gu, "carol"), RS_OK);
    assert_int_equal(store_bucket_get(f->s, a, &gb, "bkt"), RS_OK);
    free(p);
    rs_arena_free(a);
}

static void test_store_second_open_is_busy(void **state)
{
    struct fx *f = *state;
    struct store *s2;

    /* Another process. */
    assert_int_equal(fx_run_child("--child-open", f->dir), 0);
    /* This process, too. */
    assert_int_equal(store_open(&s2, &f->cfg), RS_EBUSY);
    assert_non_null(strstr(rs_err_msg(), "lock"));
}

static void test_store_stats_reports_index_and_groups(void **state)
{
    struct fx *f = *state;
    struct store_stats st;
    uint8_t *p = fx_pattern(1000, 1);

    fx_put_ok(f->s, "s", p, 1000);
    assert_int_equal(store_get_stats(f->s, &st), RS_OK);
    assert_true(st.index_keys_estimate > 0);
    assert_true(st.index_memtable_bytes > 0);
    assert_true(st.group_free_bytes[STORE_CLASS_STANDARD] > 0);
    assert_true(st.group_free_bytes[STORE_CLASS_LOW_FREQUENCY] > 0);
    assert_int_equal(st.gc_pending, 0);
    free(p);
}


/* ------------------------------------------------------------------ */
/* Concurrency                                                          */
/* ------------------------------------------------------------------ */

#include <pthread.h>

/* Version v of the hot object: 4 bytes of v, then fx_pattern(v). */
static uint8_t *version_bytes(uint32_t v, size_t *n_out)
{
    size_t n = 4 + (v * 7919u) % (3 * STRIPE);
    uint8_t *p = fx_pattern(n, v);
    memcpy(p, &v, 4);
    *n_out = n;
    return p;
}

struct race {
    struct store *s;
    uint32_t base;
    atomic_int stop;
    atomic_int reads;
};

static void *race_writer(void *arg)
{
    struct race *r = arg;
    for (uint32_t i = 0; i < 15; i++) {
        size_t n;
        uint8_t *p = version_bytes(r->base + i, &n);
        assert_int_equal(fx_put_obj(r->s, "bkt", "hot", p, n, NULL), RS_OK);
        free(p);
    }
    return NULL;
}

static void *race_reader(void *arg)
{
    struct race *r = arg;
    while (!atomic_load(&r->stop)) {
        struct rs_arena *a = rs_arena_new();
        struct store_obj o;
        struct store_reader *rd;
        uint8_t *buf, *want;
        size_t done = 0, got, n;
        uint32_t v;
        int rc = store_object_head(r->s, a, &o, "bkt", "hot");

        if (rc == RS_ENOTFOUND) {
            rs_arena_free(a);
            continue;
        }
        assert_int_equal(rc, RS_OK);
        rc = store_reader_open(r->s, &rd, &o);
        if (rc == RS_ENOTFOUND) {   /* collected since the head: retry */
            rs_arena_free(a);
            continue;
        }
        assert_int_equal(rc, RS_OK);
        buf = malloc(o.size);
        while (done < o.size) {
            assert_int_equal(store_reader_read(rd, done, buf + done,
                                               o.size - done, &got), RS_OK);
            assert_true(got > 0);
            done += got;
        }
        store_reader_close(rd);
        memcpy(&v, buf, 4);
        want = version_bytes(v, &n);
        assert_int_equal(n, o.size);
        assert_memory_equal(buf, want, n);
        free(want);
        free(buf);
        rs_arena_free(a);
        atomic_fetch_add(&r->reads, 1);
    }
    return NULL;
}

static void test_store_concurrent_overwrites_are_atomic_for_readers(
    void **state)
{
    struct fx *f = *state;
    struct race r[4];
    pthread_t w[4], rd[2];
    struct store_stats st;

    store_close(f->s);
    f->cfg.gc_delay = 0;    /* collect while readers run */
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    memset(r, 0, sizeof r);
    for (int i = 0; i < 4; i++) {
        r[i].s = f->s;
        r[i].base = 1000u * (uint32_t)(i + 1);
    }
    for (int i = 0; i < 2; i++)
        pthread_create(&rd[i], NULL, race_reader, &r[0]);
    for (int i = 0; i < 4; i++)
        pthread_create(&w[i], NULL, race_writer, &r[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(w[i], NULL);
    atomic_store(&r[0].stop, 1);
    for (int i = 0; i < 2; i++)
        pthread_join(rd[i], NULL);
    assert_true(atomic_load(&r[0].reads) > 0);
    /* 60 commits of one key: 59 replaced containers, all collectable. */
    for (int i = 0; i < 100; i++) {
        assert_int_equal(store_get_stats(f->s, &st), RS_OK);
        if (st.gc_pending == 0)
            break;
        usleep(50 * 1000);
    }
    assert_int_equal(st.gc_pending, 0);
    assert_int_equal(fx_count_containers(f, "standard"), 1);
}

struct churn {
    struct store *s;
    atomic_int stop;
    int enotfound;
};

static void *churn_writer(void *arg)
{
    struct churn *c = arg;
    for (int i = 0; !atomic_load(&c->stop) && i < 2000; i++) {
        char key[32];
        int rc;
        snprintf(key, sizeof key, "k%d", i % 3);
        rc = fx_put_obj(c->s, "b2", key, (const uint8_t *)"xyz", 3, NULL);
        if (rc == RS_ENOTFOUND) {
            c->enotfound++;
            break;
        }
        assert_int_equal(rc, RS_OK);
        rc = store_object_delete(c->s, "b2", key);
        assert_true(rc == RS_OK || rc == RS_ENOTFOUND);
    }
    return NULL;
}

static void test_store_bucket_delete_races_commits_safely(void **state)
{
    struct fx *f = *state;
    struct store_bucket b = {.name = "b2"};
    struct churn c = {.s = f->s};
    struct rs_arena *a = rs_arena_new();
    struct collected got = {0};
    pthread_t t;
    bool trunc;
    int rc, tries = 0;

    b.acl.owner = "alice";
    assert_int_equal(store_bucket_create(f->s, &b), RS_OK);
    pthread_create(&t, NULL, churn_writer, &c);
    do {
        rc = store_bucket_delete(f->s, "b2");
        assert_true(rc == RS_OK || rc == RS_ECONFLICT);
        tries++;
    } while (rc != RS_OK);
    pthread_join(t, NULL);
    /* Recreated, the bucket holds nothing left over from the race. */
    assert_int_equal(store_bucket_create(f->s, &b), RS_OK);
    {
        struct store_list_opts o = {.max_keys = 100};
        assert_int_equal(store_object_list(f->s, a, "b2", &o, collect_cb,
                                           &got, &trunc, NULL), RS_OK);
    }
    assert_int_equal(got.n, 0);
    assert_true(tries >= 1);
    rs_arena_free(a);
}

/* ------------------------------------------------------------------ */
/* Child processes                                                      */
/* ------------------------------------------------------------------ */

static int child_main(const char *mode, const char *dir)
{
    struct rs_config c;
    struct store *s;
    int rc;

    fx_cfg_make(&c, dir, BLOCK, STRIPE, 3600);
    rc = store_open(&s, &c);
    rs_config_dispose(&c);
    if (strcmp(mode, "--child-open") == 0) {
        if (rc == RS_OK)
            store_close(s);
        return rc == RS_EBUSY && strstr(rs_err_msg(), "another process")
                   ? 0
                   : 1;
    }
    return 2;
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_store_put_get_roundtrips_every_size, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_put_get_default_stripe_plus_one, fx_setup_default,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_layout_of_many_stripes_is_compact, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_range_reads_at_odd_offsets,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_read_past_end_is_short,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_metadata_roundtrips,
                                        fx_setup, fx_teardown),
        cmocka_unit_test(test_store_class_parse_maps_s3_names),
        cmocka_unit_test_setup_teardown(
            test_store_overwrite_keeps_old_reader_bytes, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_overwrite_makes_old_data_garbage, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_delete_removes_object,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_set_tags_and_acl_replace_only_them, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_max_object_size_is_etoobig,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_writer_abort_leaves_nothing,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_writer_rejects_bad_input,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_corrupt_byte_gives_ecorrupt,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_truncated_container_gives_ecorrupt, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_list_returns_keys_in_byte_order, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_list_delimiter_rolls_up_common_prefixes, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_list_pages_with_max_keys_and_start_after, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_list_start_after_is_exclusive, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_list_max_keys_zero_gives_nothing, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_list_returns_full_metadata,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_bucket_lifecycle, fx_setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_bucket_delete_conflicts_when_not_empty, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_commit_into_deleted_bucket_is_enotfound, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_users_create_get_remove,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_reopen_keeps_everything,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_store_second_open_is_busy,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_stats_reports_index_and_groups, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_concurrent_overwrites_are_atomic_for_readers, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_store_bucket_delete_races_commits_safely, fx_setup,
            fx_teardown),
    };

    if (argc == 3 && strncmp(argv[1], "--child-", 8) == 0)
        return child_main(argv[1], argv[2]);
    rs_log_set_level(RS_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
