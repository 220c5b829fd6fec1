/*
 * tests/unit/store/append_test.c - appendable objects (store/append.c):
 * growth of every kind of object byte for byte, the layout staying small,
 * the CRC64 kept incrementally, the checks (position, permission, number
 * of appends), one appender per object, a replaced object, and the
 * journal's state machine under kill -9 at each of its steps.
 *
 * The crash cases run this program again as a child through /proc/self/exe
 * ("--child-append DIR KIND"): it appends NACK chunks, recording each
 * acknowledged length in DIR/acked (fsync'ed), then appends once more with
 * ROADSTORE_CRASHPOINT naming a step of the journal, where it dies.  The
 * parent reopens the store and checks the object is exactly its last
 * acknowledged content (or, for a crash after COMPLETE was committed, that
 * plus the last chunk), the tail has no torn bytes, no journal record is
 * left, and the object takes the next append.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/store.h"
#include "store/store_int.h"
#include "store/idx_int.h"
#include "store_fixture.h"

#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

/* Append n bytes of p to bucket "bkt"/key at pos; the store's result. */
static int append_at(struct store *s, const char *key, uint64_t pos,
                     const uint8_t *p, size_t n, uint64_t *len_out)
{
    struct store_append_req req = {.bucket = "bkt", .key = key,
                                   .position = pos};
    struct store_appender *ap;
    struct rs_arena *a = rs_arena_new();
    struct store_obj info;
    uint64_t len = 0;
    bool too_many;
    int rc;

    rc = store_append_open(s, &ap, &req, &len, &too_many);
    if (rc == RS_OK) {
        /* in uneven pieces, as a body arrives */
        size_t off = 0, chunk = 777;
        while (rc == RS_OK && off < n) {
            size_t k = n - off < chunk ? n - off : chunk;
            rc = store_append_write(ap, p + off, k);
            off += k;
            chunk = chunk * 5 % 9001 + 1;
        }
        if (rc != RS_OK)
            store_append_abort(ap);
        else
            rc = store_append_commit(ap, a, &info, &len);
    }
    if (len_out)
        *len_out = len;
    rs_arena_free(a);
    return rc;
}

static void append_ok(struct store *s, const char *key, uint64_t pos,
                      const uint8_t *p, size_t n)
{
    uint64_t len;

    assert_int_equal(append_at(s, key, pos, p, n, &len), RS_OK);
    assert_int_equal(len, pos + n);
}

static void head(struct store *s, struct rs_arena *a, struct store_obj *o,
                 const char *key)
{
    assert_int_equal(store_object_head(s, a, o, "bkt", key), RS_OK);
}

static size_t layout_runs(const struct store_obj *o, struct store_run *last)
{
    struct store_layout l;
    size_t n;

    assert_int_equal(store__layout_decode(&l, o->_layout, o->_layout_len),
                     RS_OK);
    n = l.nruns;
    if (last && n)
        *last = l.runs[n - 1];
    store__layout_dispose(&l);
    return n;
}

/* Size of container name in group dir of f. */
static uint64_t container_size(const char *dir, const char *name)
{
    char path[512];
    struct stat st;

    snprintf(path, sizeof path, "%s/standard/%.2s/%.2s/%s", dir, name,
             name + 2, name);
    if (stat(path, &st) != 0)
        return UINT64_MAX;
    return (uint64_t)st.st_size;
}

/* No torn bytes: the tail container ends where the layout says. */
static void check_no_torn_tail(const char *dir, struct store *s,
                               const char *key)
{
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_run last = {0};

    head(s, a, &o, key);
    if (layout_runs(&o, &last) > 0 && !(last.flags & STORE_RUN_MERGED))
        assert_int_equal(container_size(dir, last.container),
                         store__run_end(&last));
    rs_arena_free(a);
}

static int journal_records(struct store *s)
{
    struct idx_iter *it;
    int n = 0;

    idx_iter_open(&it, s->ix, IDX_PREFIX_JOURNAL, 2);
    for (idx_iter_seek(it, IDX_PREFIX_JOURNAL, 2); idx_iter_valid(it);
         idx_iter_next(it))
        n++;
    idx_iter_close(it);
    return n;
}

/* ------------------------------------------------------------------ */
/* Growth                                                               */
/* ------------------------------------------------------------------ */

/* Sizes that land on, across and far past 4 KiB block boundaries. */
static const size_t sizes[] = {1, 4095, 1, 4096, 10000, 3, 8192, 4093,
                               70000, 5, 4096 * 3, 1, 1, 12345};
#define NSIZES (sizeof sizes / sizeof *sizes)

static void test_append_creates_and_grows_byte_for_byte(void **state)
{
    struct fx *f = *state;
    size_t total = 0;
    uint8_t *all;
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    char prev_etag[64] = "";

    for (size_t i = 0; i < NSIZES; i++)
        total += sizes[i];
    all = fx_pattern(total, 7);
    total = 0;
    for (size_t i = 0; i < NSIZES; i++) {
        append_ok(f->s, "grow", total, all + total, sizes[i]);
        total += sizes[i];
        fx_check_obj(f->s, "grow", all, total);
        head(f->s, a, &o, "grow");
        assert_int_equal(o.appends, i + 1);
        assert_true(o.crc64 == rs_crc64nvme(0, all, total));
        /* the ETag changes with every append */
        assert_string_not_equal(o.etag, prev_etag);
        snprintf(prev_etag, sizeof prev_etag, "%s", o.etag);
    }
    /* odd ranges across slots and the open block */
    fx_check_range(f->s, "grow", all, 4095, 4099);
    fx_check_range(f->s, "grow", all, total - 7, 7);
    /* and it all survives a restart */
    fx_reopen(f);
    fx_check_obj(f->s, "grow", all, total);
    check_no_torn_tail(f->dir, f->s, "grow");
    free(all);
    rs_arena_free(a);
}

static void test_append_layout_does_not_grow_with_appends(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    uint8_t *all = fx_pattern(300 * 1000, 8);
    struct store_obj o;
    size_t runs10 = 0;

    for (int i = 0; i < 300; i++) {
        append_ok(f->s, "many", (uint64_t)i * 1000, all + i * 1000, 1000);
        if (i == 9) {
            head(f->s, a, &o, "many");
            runs10 = layout_runs(&o, NULL);
        }
    }
    head(f->s, a, &o, "many");
    /* one run of full slots and the open block, however many appends */
    assert_true(layout_runs(&o, NULL) <= 2);
    assert_int_equal(layout_runs(&o, NULL), runs10);
    fx_check_obj(f->s, "many", all, 300 * 1000);
    free(all);
    rs_arena_free(a);
}

/* ------------------------------------------------------------------ */
/* Every kind of object                                                 */
/* ------------------------------------------------------------------ */

static void grow_and_check(struct fx *f, const char *key, uint8_t *base,
                           size_t n0, uint32_t seed)
{
    size_t extra[] = {1, 5000, 4096, 70001};
    size_t total = n0, cap = n0;
    uint8_t *all;

    for (size_t i = 0; i < 4; i++)
        cap += extra[i];
    all = malloc(cap);
    memcpy(all, base, n0);
    for (size_t i = 0; i < 4; i++) {
        uint8_t *p = fx_pattern(extra[i], seed + (uint32_t)i);
        memcpy(all + total, p, extra[i]);
        append_ok(f->s, key, total, p, extra[i]);
        total += extra[i];
        free(p);
        fx_check_obj(f->s, key, all, total);
    }
    fx_check_range(f->s, key, all, n0 > 3 ? n0 - 3 : 0, 10);
    check_no_torn_tail(f->dir, f->s, key);
    free(all);
}

static void test_append_to_object_uploaded_whole(void **state)
{
    struct fx *f = *state;
    size_t n = 3 * FX_STRIPE + 7;
    uint8_t *p = fx_pattern(n, 11);
    struct rs_arena *a = rs_arena_new();
    struct store_obj o;
    struct store_run before = {0}, after = {0};

    fx_put_ok(f->s, "whole", p, n);
    head(f->s, a, &o, "whole");
    layout_runs(&o, &before);
    grow_and_check(f, "whole", p, n, 100);
    /* seed step 4: written from the end of its last data object */
    head(f->s, a, &o, "whole");
    layout_runs(&o, &after);
    assert_string_equal(before.container, after.container);
    /* the CRC64 covers the uploaded bytes too (computed at the first
     * append) */
    assert_int_equal(fx_count_containers(f, "standard"), 1);
    free(p);
    rs_arena_free(a);
}

static void test_append_to_empty_object(void **state)
{
    struct fx *f = *state;
    uint8_t none[1] = {0};

    fx_put_ok(f->s, "empty", none, 0);
    grow_and_check(f, "empty", none, 0, 200);
}

static void test_append_to_multipart_object(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct store_upload u = {.bucket = "bkt", .key = "mp"};
    size_t n1 = 100000, n2 = 33333;
    uint8_t *p = fx_pattern(n1 + n2, 12);
    uint32_t nums[2] = {1, 2};
    struct store_obj info = {0}, o;
    const char *id;

    u.info.acl.owner = "alice";
    assert_int_equal(store_upload_create(f->s, a, &id, &u), RS_OK);
    for (int i = 0; i < 2; i++) {
        struct store_writer *w;
        struct store_part part = {0};
        assert_int_equal(store_part_writer_open(f->s, &w, "bkt", "mp", id,
                                                nums[i]), RS_OK);
        assert_int_equal(store_writer_write(w, i ? p + n1 : p,
                                            i ? n2 : n1), RS_OK);
        part.etag = "0123456789abcdef0123456789abcdef";
        assert_int_equal(store_part_writer_commit(w, &part), RS_OK);
    }
    info.etag = "0123456789abcdef0123456789abcdef-2";
    info.acl.owner = "alice";
    {
        const char *etags[2] = {"0123456789abcdef0123456789abcdef",
                                "0123456789abcdef0123456789abcdef"};
        assert_int_equal(store_upload_complete_etags(f->s, "bkt", "mp", id,
                                                     nums, etags, 2, &info),
                         RS_OK);
    }
    grow_and_check(f, "mp", p, n1 + n2, 300);
    head(f->s, a, &o, "mp");
    assert_int_equal(o.parts_count, 0);   /* now an appendable object */
    assert_true(o.crc64 != 0);
    free(p);
    rs_arena_free(a);
}

static void test_append_to_merged_small_object(void **state)
{
    struct fx *f = *state;
    struct rs_config c;
    struct rs_arena *a = rs_arena_new();
    uint8_t *p = fx_pattern(5000, 13);
    struct store_obj o;
    struct store_run last = {0};

    /* this case needs the merge path on */
    store_close(f->s);
    fx_cfg_make(&c, f->dir, FX_BLOCK, FX_STRIPE, 3600);
    c.small_threshold = 1u << 20;
    assert_int_equal(store_open(&f->s, &c), RS_OK);
    fx_put_ok(f->s, "small", p, 5000);
    head(f->s, a, &o, "small");
    layout_runs(&o, &last);
    assert_true(last.flags & STORE_RUN_MERGED);
    grow_and_check(f, "small", p, 5000, 400);
    /* moved out of the merged container, transparently */
    head(f->s, a, &o, "small");
    layout_runs(&o, &last);
    assert_false(last.flags & STORE_RUN_MERGED);
    store_close(f->s);
    rs_config_dispose(&c);
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    free(p);
    rs_arena_free(a);
}

/* ------------------------------------------------------------------ */
/* Checks                                                               */
/* ------------------------------------------------------------------ */

static bool deny(void *arg, const struct store_acl *acl)
{
    (void)arg;
    (void)acl;
    return false;
}

static void test_append_checks_position_permission_and_count(void **state)
{
    struct fx *f = *state;
    uint8_t *p = fx_pattern(100, 14);
    struct store_append_req req = {.bucket = "bkt", .key = "chk"};
    struct store_appender *ap = NULL;
    uint64_t len = 99;
    bool too_many;

    /* missing object: only position 0 */
    assert_int_equal(append_at(f->s, "chk", 5, p, 10, &len), RS_ECONFLICT);
    assert_int_equal(len, 0);
    append_ok(f->s, "chk", 0, p, 10);
    assert_int_equal(append_at(f->s, "chk", 9, p + 10, 10, &len),
                     RS_ECONFLICT);
    assert_int_equal(len, 10);
    assert_int_equal(append_at(f->s, "chk", 11, p + 10, 10, &len),
                     RS_ECONFLICT);
    fx_check_obj(f->s, "chk", p, 10);

    req.position = 10;
    req.allowed = deny;
    assert_int_equal(store_append_open(f->s, &ap, &req, &len, &too_many),
                     RS_EDENIED);
    assert_null(ap);
    assert_int_equal(len, 10);
    fx_check_obj(f->s, "chk", p, 10);

    /* max_appends: reopen with 3 */
    f->cfg.max_appends = 3;
    fx_reopen(f);
    append_ok(f->s, "chk", 10, p + 10, 10);
    append_ok(f->s, "chk", 20, p + 20, 10);
    req.position = 30;
    req.allowed = NULL;
    assert_int_equal(store_append_open(f->s, &ap, &req, &len, &too_many),
                     RS_ETOOBIG);
    assert_true(too_many);
    fx_check_obj(f->s, "chk", p, 30);
    assert_int_equal(journal_records(f->s), 0);
    free(p);
}

struct racer {
    struct store *s;
    const uint8_t *p;
    int rc;
    uint64_t len;
};

static void *race(void *arg)
{
    struct racer *r = arg;

    r->rc = append_at(r->s, "race", 100, r->p, 1000, &r->len);
    return NULL;
}

static void test_append_racing_writers_one_wins(void **state)
{
    struct fx *f = *state;
    uint8_t *p = fx_pattern(100 + 8 * 1000, 15);
    struct racer r[8];
    pthread_t t[8];
    int wins = 0, winner = -1;
    uint8_t *want = malloc(1100);

    append_ok(f->s, "race", 0, p, 100);
    for (int i = 0; i < 8; i++) {
        r[i] = (struct racer){f->s, p + 100 + i * 1000, 0, 0};
        assert_int_equal(pthread_create(&t[i], NULL, race, &r[i]), 0);
    }
    for (int i = 0; i < 8; i++) {
        pthread_join(t[i], NULL);
        if (r[i].rc == RS_OK) {
            wins++;
            winner = i;
        } else {
            /* the loser sees the winner's length */
            assert_int_equal(r[i].rc, RS_ECONFLICT);
            assert_int_equal(r[i].len, 1100);
        }
    }
    assert_int_equal(wins, 1);
    memcpy(want, p, 100);
    memcpy(want + 100, p + 100 + winner * 1000, 1000);
    fx_check_obj(f->s, "race", want, 1100);
    free(want);
    free(p);
}

static void test_append_loses_to_an_overwrite(void **state)
{
    struct fx *f = *state;
    uint8_t *p = fx_pattern(50000, 16);
    struct store_append_req req = {.bucket = "bkt", .key = "ow",
                                   .position = 1000};
    struct store_appender *ap;
    struct rs_arena *a = rs_arena_new();
    struct store_obj info;
    uint64_t len;
    bool too_many;
    int before;

    append_ok(f->s, "ow", 0, p, 1000);
    before = fx_count_containers(f, "standard");
    assert_int_equal(store_append_open(f->s, &ap, &req, &len, &too_many),
                     RS_OK);
    assert_int_equal(store_append_write(ap, p + 1000, 20000), RS_OK);
    /* a PUT replaces the object meanwhile */
    fx_put_ok(f->s, "ow", p + 30000, 777);
    assert_int_equal(store_append_commit(ap, a, &info, &len), RS_ECONFLICT);
    assert_int_equal(len, 777);
    fx_check_obj(f->s, "ow", p + 30000, 777);
    assert_int_equal(journal_records(f->s), 0);
    /* the new object's container, and the old tail (now garbage, cut
     * back to its committed end) */
    assert_int_equal(fx_count_containers(f, "standard"), before + 1);
    /* appending to the new object works */
    append_ok(f->s, "ow", 777, p, 10);
    free(p);
    rs_arena_free(a);
}

/* ------------------------------------------------------------------ */
/* Crash at each step of the journal                                    */
/* ------------------------------------------------------------------ */

#define NACK 6
#define CHUNK(i) (1000 + (size_t)(i) * 3001)   /* crosses 4 KiB slots */

static const char *const points[] = {
    "append-journal-init", "append-journal-writing", "append-writing",
    "append-data-synced", "append-journal-data", "append-complete",
};
#define NPOINTS (sizeof points / sizeof *points)

static size_t total_of(int n)
{
    size_t t = 0;

    for (int i = 0; i < n; i++)
        t += CHUNK(i);
    return t;
}

/* kind "merged" has the merge path on (its first chunk, uploaded whole,
 * lands in a merged container); "whole" and "append" have it off. */
static void cfg_crash(struct rs_config *c, const char *dir, const char *kind)
{
    fx_cfg_make(c, dir, FX_BLOCK, FX_STRIPE, 3600);
    c->small_threshold = strcmp(kind, "merged") ? 0 : 1u << 20;
    c->idle_flush_ms = 600000;
}

/* The child: create the object of kind, NACK appends acknowledged, then
 * one more that dies at ROADSTORE_CRASHPOINT. */
static int child_append(const char *dir, const char *kind)
{
    struct rs_config c;
    struct store *s;
    struct store_bucket b = {.name = "bkt", .region = "us-east-1"};
    uint8_t *p = fx_pattern(total_of(NACK + 1), 21);
    size_t at = 0;
    char path[512], line[32];
    int fd;

    cfg_crash(&c, dir, kind);
    if (store_open(&s, &c) != RS_OK)
        return 3;
    b.acl.owner = "alice";
    (void)store_bucket_create(s, &b);
    if (!strcmp(kind, "whole") || !strcmp(kind, "merged")) {
        /* the first chunk uploaded whole: in a merged container or its
         * own (cfg_crash) */
        if (fx_put_obj(s, "bkt", "obj", p, CHUNK(0), NULL) != RS_OK)
            return 4;
        at = 1;
    }
    snprintf(path, sizeof path, "%s/acked", dir);
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return 5;
    for (size_t i = at; i < NACK; i++) {
        uint64_t len;
        size_t off = total_of((int)i);
        if (append_at(s, "obj", off, p + off, CHUNK(i), &len) != RS_OK)
            return 6;
        snprintf(line, sizeof line, "%llu\n", (unsigned long long)len);
        if (write(fd, line, strlen(line)) < 0 || fsync(fd) != 0)
            return 7;
    }
    close(fd);
    /* the dying append: the parent armed the crash point for its pass */
    (void)append_at(s, "obj", total_of(NACK), p + total_of(NACK),
                    CHUNK(NACK), NULL);
    return 8;   /* the crash point did not fire */
}

static int spawn_child(const char *point, const char *dir, const char *kind)
{
    char *argv[] = {"append_test", "--child-append", (char *)dir,
                    (char *)kind, NULL};
    char cp[96];

    /* each acknowledged append passes each point once: die at the pass
     * of the next one */
    snprintf(cp, sizeof cp, "%s:%d", point,
             strcmp(kind, "append") ? NACK : NACK + 1);
    return fx_spawn_crash(argv, cp);
}

static uint64_t last_acked(const char *dir)
{
    char path[512], line[32];
    uint64_t last = 0;
    FILE *fp;

    snprintf(path, sizeof path, "%s/acked", dir);
    fp = fopen(path, "r");
    assert_non_null(fp);
    while (fgets(line, sizeof line, fp))
        last = strtoull(line, NULL, 10);
    fclose(fp);
    return last;
}

static void crash_case(const char *kind)
{
    uint8_t *p = fx_pattern(total_of(NACK + 1), 21);

    for (size_t i = 0; i < NPOINTS; i++) {
        char dir[256];
        struct rs_config c;
        struct store *s;
        uint64_t acked, len;
        int st;
        struct store_fsck_opts fo = {.verify = true};
        struct store_fsck_report rep;

        fx_tmpdir_create(dir, sizeof dir, "append-crash");
        st = spawn_child(points[i], dir, kind);
        if (!WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL)
            fail_msg("%s at %s: child did not die there (status %d)", kind,
                     points[i], st);
        acked = last_acked(dir);
        assert_int_equal(acked, total_of(NACK));

        cfg_crash(&c, dir, kind);
        assert_int_equal(store_open(&s, &c), RS_OK);
        assert_int_equal(journal_records(s), 0);
        /* Only a crash after COMPLETE keeps the last append (it was
         * committed, just not acknowledged); every other one leaves the
         * object at its last acknowledged length. */
        len = strcmp(points[i], "append-complete") ? acked
                                                   : total_of(NACK + 1);
        fx_check_obj(s, "obj", p, len);
        check_no_torn_tail(dir, s, "obj");
        assert_int_equal(store_fsck(s, &fo, &rep), RS_OK);
        if (rep.missing || rep.corrupt || rep.orphans)
            fail_msg("%s at %s: fsck missing %llu corrupt %llu orphans "
                     "%llu", kind, points[i],
                     (unsigned long long)rep.missing,
                     (unsigned long long)rep.corrupt,
                     (unsigned long long)rep.orphans);
        /* and the object takes the next append at that length */
        append_ok(s, "obj", len, p, 4097);
        store_close(s);
        rs_config_dispose(&c);
        fx_tmpdir_remove(dir);
    }
    free(p);
}

static void test_append_crash_at_each_step_created_by_append(void **state)
{
    (void)state;
    crash_case("append");
}

static void test_append_crash_at_each_step_merged_object(void **state)
{
    (void)state;
    crash_case("merged");
}

static void test_append_crash_at_each_step_uploaded_whole(void **state)
{
    (void)state;
    crash_case("whole");
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_append_creates_and_grows_byte_for_byte, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_append_layout_does_not_grow_with_appends, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_append_to_object_uploaded_whole,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_append_to_empty_object,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_append_to_multipart_object,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_append_to_merged_small_object,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_append_checks_position_permission_and_count, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_append_racing_writers_one_wins,
                                        fx_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_append_loses_to_an_overwrite,
                                        fx_setup, fx_teardown),
        cmocka_unit_test(test_append_crash_at_each_step_created_by_append),
        cmocka_unit_test(test_append_crash_at_each_step_merged_object),
        cmocka_unit_test(test_append_crash_at_each_step_uploaded_whole),
    };

    if (argc == 4 && !strcmp(argv[1], "--child-append"))
        return child_append(argv[2], argv[3]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
