/*
 * tests/unit/store/mpu_test.c - multipart uploads (store/mpu.c with the
 * part writers of writer.c) on a real RocksDB and real files.
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
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Short names for the fixture's geometry (fx_setup), used throughout. */
#define BLOCK FX_BLOCK
#define STRIPE FX_STRIPE

/* ------------------------------------------------------------------ */
/* Multipart helpers (the fixture is in store_fixture.c)                */
/* ------------------------------------------------------------------ */

static const char *new_upload(struct fx *f, struct rs_arena *a,
                              const char *key, const char *cls)
{
    struct store_upload u = {0};
    const char *id;

    u.bucket = "bkt";
    u.key = (char *)key;
    u.info.storage_class = (char *)cls;
    u.info.acl.owner = "alice";
    u.info.meta = (struct rs_kv[]){{"camera", "c1"}};
    u.info.nmeta = 1;
    assert_int_equal(store_upload_create(f->s, a, &id, &u), RS_OK);
    assert_non_null(id);
    return id;
}

static void md5hex(char *out, const uint8_t *p, size_t n)
{
    struct rs_md5 h;
    uint8_t d[16];
    rs_md5_init(&h);
    rs_md5_update(&h, p, n);
    rs_md5_final(&h, d);
    rs_hex(out, d, 16);
}

static int put_part(struct fx *f, const char *key, const char *id,
                    uint32_t num, const uint8_t *p, size_t n, char *etag_out)
{
    struct store_writer *w;
    struct store_part info = {0};
    char etag[33];
    int rc;

    if ((rc = store_part_writer_open(f->s, &w, "bkt", key, id, num)) != RS_OK)
        return rc;
    for (size_t off = 0; off < n; off += 5000) {
        size_t k = n - off < 5000 ? n - off : 5000;
        assert_int_equal(store_writer_write(w, p + off, k), RS_OK);
    }
    md5hex(etag, p, n);
    info.etag = etag;
    if (etag_out)
        strcpy(etag_out, etag);
    return store_part_writer_commit(w, &info);
}

/* The S3 etag of a multipart object from its parts' hex etags. */
static void mpu_etag(char *out, char etags[][33], size_t n)
{
    struct rs_md5 h;
    uint8_t d[16];

    rs_md5_init(&h);
    for (size_t i = 0; i < n; i++) {
        uint8_t b[16];
        for (int j = 0; j < 16; j++) {
            unsigned v;
            sscanf(etags[i] + 2 * j, "%2x", &v);
            b[j] = (uint8_t)v;
        }
        rs_md5_update(&h, b, 16);
    }
    rs_md5_final(&h, d);
    rs_hex(out, d, 16);
    sprintf(out + 32, "-%zu", n);
}

/* ------------------------------------------------------------------ */
/* Tests                                                                */
/* ------------------------------------------------------------------ */

static void test_mpu_complete_concatenates_parts_without_copy(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    const size_t sz[3] = {STRIPE + 4465, 2 * STRIPE + 1, 5};
    size_t total = sz[0] + sz[1] + sz[2];
    uint8_t *all = fx_pattern(total, 77);
    char etags[3][33], final[48];
    uint32_t nums[3] = {1, 2, 3};
    const char *id = new_upload(f, a, "video/clip.mp4", NULL);
    struct store_obj info = {0}, o;
    struct store_layout l;
    int before;

    /* Upload out of order. */
    assert_int_equal(put_part(f, "video/clip.mp4", id, 3, all + sz[0] + sz[1],
                              sz[2], etags[2]), RS_OK);
    assert_int_equal(put_part(f, "video/clip.mp4", id, 1, all, sz[0],
                              etags[0]), RS_OK);
    assert_int_equal(put_part(f, "video/clip.mp4", id, 2, all + sz[0], sz[1],
                              etags[1]), RS_OK);
    before = fx_count_containers(f, "standard");
    assert_int_equal(before, 3);

    mpu_etag(final, etags, 3);
    info.etag = final;
    info.acl.owner = "alice";
    assert_int_equal(store_upload_complete(f->s, "bkt", "video/clip.mp4", id,
                                           nums, 3, &info), RS_OK);
    assert_int_equal(info.size, total);
    assert_int_equal(info.parts_count, 3);
    /* No data copied: the same containers. */
    assert_int_equal(fx_count_containers(f, "standard"), 3);
    assert_int_equal(fx_gc_pending(f), 0);

    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "video/clip.mp4"),
                     RS_OK);
    assert_int_equal(o.size, total);
    assert_string_equal(o.etag, final);
    assert_int_equal(o.parts_count, 3);
    assert_int_equal(o.part_sizes[0], sz[0]);
    assert_int_equal(o.part_sizes[1], sz[1]);
    assert_int_equal(o.part_sizes[2], sz[2]);
    assert_int_equal(store__layout_decode(&l, o._layout, o._layout_len),
                     RS_OK);
    /* part 1: STRIPE + tail; part 2: 2 x STRIPE + 1 byte; part 3: 5. */
    assert_int_equal(l.nruns, 5);
    assert_int_equal(l.size, total);
    store__layout_dispose(&l);

    fx_check_obj(f->s, "video/clip.mp4", all, total);
    /* Reads across part boundaries. */
    fx_check_range(f->s, "video/clip.mp4", all, sz[0] - 3, 10);
    fx_check_range(f->s, "video/clip.mp4", all, sz[0] + sz[1] - 1, 6);
    /* The upload is gone. */
    {
        struct store_upload u;
        assert_int_equal(store_upload_get(f->s, a, &u, "bkt",
                                          "video/clip.mp4", id),
                         RS_ENOTFOUND);
    }
    /* Reopen: still there. */
    fx_reopen(f);
    fx_check_obj(f->s, "video/clip.mp4", all, total);
    free(all);
    rs_arena_free(a);
}

static void test_mpu_reuploaded_part_replaces_older(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    uint8_t *p1 = fx_pattern(9000, 1), *p2 = fx_pattern(7000, 2);
    const char *id = new_upload(f, a, "k", NULL);
    char e1[33], e2[33];
    uint32_t nums[1] = {1};
    const char *ets[1];
    struct store_obj info = {0};
    bool trunc;

    assert_int_equal(put_part(f, "k", id, 1, p1, 9000, e1), RS_OK);
    assert_int_equal(fx_gc_pending(f), 0);
    assert_int_equal(put_part(f, "k", id, 1, p2, 7000, e2), RS_OK);
    assert_int_equal(fx_gc_pending(f), 1);
    /* The stale etag no longer matches. */
    ets[0] = e1;
    assert_int_equal(store_upload_complete_etags(f->s, "bkt", "k", id, nums,
                                                 ets, 1, &info),
                     RS_ECONFLICT);
    ets[0] = e2;
    assert_int_equal(store_upload_complete_etags(f->s, "bkt", "k", id, nums,
                                                 ets, 1, &info), RS_OK);
    fx_check_obj(f->s, "k", p2, 7000);
    (void)trunc;
    free(p1);
    free(p2);
    rs_arena_free(a);
}

static void test_mpu_complete_conflicts_on_changed_or_missing_part(void **s_)
{
    struct fx *f = *s_;
    struct rs_arena *a = rs_arena_new();
    uint8_t *p = fx_pattern(3000, 3), *q = fx_pattern(3000, 4);
    const char *id = new_upload(f, a, "c", NULL);
    char etags[2][33], final[48];
    uint32_t nums[2] = {1, 2}, bad[2] = {1, 3}, dup[2] = {2, 1};
    struct store_obj info = {0};

    assert_int_equal(put_part(f, "c", id, 1, p, 3000, etags[0]), RS_OK);
    assert_int_equal(put_part(f, "c", id, 2, p, 3000, etags[1]), RS_OK);
    mpu_etag(final, etags, 2);
    /* Part 2 replaced after the caller computed the final etag. */
    assert_int_equal(put_part(f, "c", id, 2, q, 3000, NULL), RS_OK);
    info.etag = final;
    assert_int_equal(store_upload_complete(f->s, "bkt", "c", id, nums, 2,
                                           &info), RS_ECONFLICT);
    assert_int_equal(store_upload_complete(f->s, "bkt", "c", id, bad, 2,
                                           &info), RS_ECONFLICT);
    assert_int_equal(store_upload_complete(f->s, "bkt", "c", id, dup, 2,
                                           &info), RS_EINVAL);
    assert_int_equal(store_upload_complete(f->s, "bkt", "c", "nope", nums, 2,
                                           &info), RS_ENOTFOUND);
    /* Still completable with the right etag. */
    assert_int_equal(put_part(f, "c", id, 2, q, 3000, etags[1]), RS_OK);
    mpu_etag(final, etags, 2);
    assert_int_equal(store_upload_complete(f->s, "bkt", "c", id, nums, 2,
                                           &info), RS_OK);
    {
        uint8_t *both = malloc(6000);
        memcpy(both, p, 3000);
        memcpy(both + 3000, q, 3000);
        fx_check_obj(f->s, "c", both, 6000);
        free(both);
    }
    free(p);
    free(q);
    rs_arena_free(a);
}

static void test_mpu_complete_makes_unused_parts_and_old_object_garbage(
    void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    uint8_t *p = fx_pattern(4000, 5);
    const char *id;
    uint32_t nums[2] = {1, 3};
    struct store_obj info = {0};

    fx_put_ok(f->s, "o", p, 100);             /* replaced by the upload */
    id = new_upload(f, a, "o", NULL);
    for (uint32_t n = 1; n <= 4; n++)
        assert_int_equal(put_part(f, "o", id, n, p, 1000 * n, NULL), RS_OK);
    assert_int_equal(store_upload_complete(f->s, "bkt", "o", id, nums, 2,
                                           &info), RS_OK);
    assert_int_equal(info.size, 4000);
    /* parts 2 and 4, and the old object. */
    assert_int_equal(fx_gc_pending(f), 3);
    free(p);
    rs_arena_free(a);
}

static void test_mpu_abort_makes_every_part_garbage(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    uint8_t *p = fx_pattern(2000, 6);
    const char *id = new_upload(f, a, "ab", NULL);
    struct store_writer *w;
    struct store_upload u;

    for (uint32_t n = 1; n <= 3; n++)
        assert_int_equal(put_part(f, "ab", id, n, p, 2000, NULL), RS_OK);
    assert_int_equal(store_upload_abort(f->s, "bkt", "ab", id), RS_OK);
    assert_int_equal(fx_gc_pending(f), 3);
    assert_int_equal(store_upload_get(f->s, a, &u, "bkt", "ab", id),
                     RS_ENOTFOUND);
    assert_int_equal(store_upload_abort(f->s, "bkt", "ab", id), RS_ENOTFOUND);
    assert_int_equal(store_part_writer_open(f->s, &w, "bkt", "ab", id, 1),
                     RS_ENOTFOUND);
    free(p);
    rs_arena_free(a);
}

static void test_mpu_part_commit_after_abort_is_enotfound(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    const char *id = new_upload(f, a, "late", NULL);
    struct store_writer *w;
    struct store_part info = {0};

    assert_int_equal(store_part_writer_open(f->s, &w, "bkt", "late", id, 1),
                     RS_OK);
    assert_int_equal(store_writer_write(w, "abc", 3), RS_OK);
    assert_int_equal(store_upload_abort(f->s, "bkt", "late", id), RS_OK);
    assert_int_equal(store_part_writer_commit(w, &info), RS_ENOTFOUND);
    assert_int_equal(fx_count_containers(f, "standard"), 0);
    rs_arena_free(a);
}

static void test_mpu_upload_get_checks_bucket_key_and_id(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    const char *id = new_upload(f, a, "g", "GLACIER");
    const char *id2 = new_upload(f, a, "g", NULL);
    struct store_upload u;
    struct store_writer *w;

    assert_true(strlen(id) >= 32);
    assert_string_not_equal(id, id2);
    assert_int_equal(store_upload_get(f->s, a, &u, "bkt", "g", id), RS_OK);
    assert_string_equal(u.bucket, "bkt");
    assert_string_equal(u.key, "g");
    assert_string_equal(u.upload_id, id);
    assert_string_equal(u.info.storage_class, "GLACIER");
    assert_int_equal(u.info.nmeta, 1);
    assert_true(u.initiated_ns > 0);
    assert_int_equal(store_upload_get(f->s, a, &u, "other", "g", id),
                     RS_ENOTFOUND);
    assert_int_equal(store_upload_get(f->s, a, &u, "bkt", "g2", id),
                     RS_ENOTFOUND);
    assert_int_equal(store_upload_get(f->s, a, &u, "bkt", "g", "x"),
                     RS_ENOTFOUND);
    assert_int_equal(store_part_writer_open(f->s, &w, "bkt", "g", id, 0),
                     RS_EINVAL);
    assert_int_equal(store_part_writer_open(f->s, &w, "bkt", "g", id, 10001),
                     RS_EINVAL);
    /* Parts of a GLACIER upload go to the low-frequency group. */
    assert_int_equal(put_part(f, "g", id, 1, (const uint8_t *)"x", 1, NULL),
                     RS_OK);
    assert_int_equal(fx_count_containers(f, "low-frequency"), 1);
    {
        struct store_upload up = {.bucket = "nobucket", .key = "k"};
        const char *nid;
        assert_int_equal(store_upload_create(f->s, a, &nid, &up),
                         RS_ENOTFOUND);
    }
    rs_arena_free(a);
}

struct parts_seen {
    uint32_t nums[16];
    size_t n;
};

static int part_cb(void *arg, const struct store_part *p)
{
    struct parts_seen *s = arg;
    s->nums[s->n++] = p->number;
    assert_non_null(p->etag);
    assert_true(p->size > 0);
    return 0;
}

static void test_mpu_part_list_pages_by_marker(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    const char *id = new_upload(f, a, "pl", NULL);
    struct parts_seen s = {0};
    bool trunc;
    uint32_t have[] = {1, 2, 5, 9, 10, 11};

    for (size_t i = 0; i < 6; i++)
        assert_int_equal(put_part(f, "pl", id, have[i], (const uint8_t *)"ab",
                                  2, NULL), RS_OK);
    assert_int_equal(store_part_list(f->s, a, "bkt", "pl", id, 0, 0, part_cb,
                                     &s, &trunc), RS_OK);
    assert_int_equal(s.n, 6);
    assert_false(trunc);
    s.n = 0;
    assert_int_equal(store_part_list(f->s, a, "bkt", "pl", id, 2, 3, part_cb,
                                     &s, &trunc), RS_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.nums[0], 5);
    assert_int_equal(s.nums[2], 10);
    assert_true(trunc);
    s.n = 0;
    assert_int_equal(store_part_list(f->s, a, "bkt", "pl", id, 10, 3, part_cb,
                                     &s, &trunc), RS_OK);
    assert_int_equal(s.n, 1);
    assert_false(trunc);
    assert_int_equal(store_part_list(f->s, a, "bkt", "pl", "zz", 0, 0,
                                     part_cb, &s, &trunc), RS_ENOTFOUND);
    rs_arena_free(a);
}

struct ups {
    char *items[32];
    size_t n;
};

static int up_cb(void *arg, const struct store_upload_entry *e)
{
    struct ups *u = arg;
    char buf[300];
    if (e->upload)
        snprintf(buf, sizeof buf, "u:%s:%s", e->upload->key,
                 e->upload->upload_id);
    else
        snprintf(buf, sizeof buf, "p:%s", e->prefix);
    u->items[u->n++] = strdup(buf);
    return 0;
}

static void ups_free(struct ups *u)
{
    for (size_t i = 0; i < u->n; i++)
        free(u->items[i]);
    u->n = 0;
}

static void test_mpu_upload_list_orders_by_key_then_id(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    const char *keys[] = {"a", "a/b", "a/c", "b", "a"};
    const char *ids[5];
    struct ups u = {0};
    bool trunc;
    char want[300];

    for (size_t i = 0; i < 5; i++)
        ids[i] = new_upload(f, a, keys[i], NULL);
    {
        struct store_upload_list_opts o = {.max_uploads = 100};
        assert_int_equal(store_upload_list(f->s, a, "bkt", &o, up_cb, &u,
                                           &trunc), RS_OK);
        assert_int_equal(u.n, 5);
        assert_false(trunc);
        /* The two uploads of "a" first, in id order. */
        assert_true(strncmp(u.items[0], "u:a:", 4) == 0);
        assert_true(strncmp(u.items[1], "u:a:", 4) == 0);
        assert_true(strcmp(u.items[0], u.items[1]) < 0);
        assert_true(strncmp(u.items[2], "u:a/b:", 6) == 0);
        assert_true(strncmp(u.items[4], "u:b:", 4) == 0);
        ups_free(&u);
    }
    {
        struct store_upload_list_opts o = {.delimiter = "/",
                                           .max_uploads = 100};
        assert_int_equal(store_upload_list(f->s, a, "bkt", &o, up_cb, &u,
                                           &trunc), RS_OK);
        assert_int_equal(u.n, 4);
        assert_string_equal(u.items[2], "p:a/");
        ups_free(&u);
    }
    {
        /* Page of 1 after (a, first id): the second upload of "a". */
        const char *first = strcmp(ids[0], ids[4]) < 0 ? ids[0] : ids[4];
        const char *second = first == ids[0] ? ids[4] : ids[0];
        struct store_upload_list_opts o = {.key_marker = "a",
                                           .upload_id_marker = first,
                                           .max_uploads = 1};
        assert_int_equal(store_upload_list(f->s, a, "bkt", &o, up_cb, &u,
                                           &trunc), RS_OK);
        assert_int_equal(u.n, 1);
        snprintf(want, sizeof want, "u:a:%s", second);
        assert_string_equal(u.items[0], want);
        assert_true(trunc);
        ups_free(&u);
    }
    {
        struct store_upload_list_opts o = {.key_marker = "a",
                                           .max_uploads = 10,
                                           .prefix = "a"};
        assert_int_equal(store_upload_list(f->s, a, "bkt", &o, up_cb, &u,
                                           &trunc), RS_OK);
        assert_int_equal(u.n, 2);
        assert_true(strncmp(u.items[0], "u:a/b:", 6) == 0);
        ups_free(&u);
    }
    {
        struct store_upload_list_opts o = {.max_uploads = 0};
        assert_int_equal(store_upload_list(f->s, a, "bkt", &o, up_cb, &u,
                                           &trunc), RS_OK);
        assert_int_equal(u.n, 0);
        assert_false(trunc);
    }
    rs_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_mpu_complete_concatenates_parts_without_copy, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_mpu_reuploaded_part_replaces_older, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_mpu_complete_conflicts_on_changed_or_missing_part, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_mpu_complete_makes_unused_parts_and_old_object_garbage,
            fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_mpu_abort_makes_every_part_garbage, fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_mpu_part_commit_after_abort_is_enotfound, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_mpu_upload_get_checks_bucket_key_and_id, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_mpu_part_list_pages_by_marker,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_mpu_upload_list_orders_by_key_then_id, fx_setup,
            fx_teardown),
    };
    rs_log_set_level(RS_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
