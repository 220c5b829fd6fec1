/*
 * tests/unit/store/lifecycle_test.c - bucket lifecycle (store/lifecycle.c):
 * rule matching, due times, the configuration record, and passes of the
 * runner on a real store: expiry (conditional on the object being the
 * one evaluated), transition to the low-frequency group (same bytes,
 * ETag and metadata), and the dead bytes an expired merged object leaves
 * for compaction.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "store/store.h"
#include "store/store_int.h"
#include "store_fixture.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define DAY_NS (86400LL * 1000000000LL)
#define SEC_NS 1000000000LL

/* A store with the merge path on (flushed only by close), no collector
 * delay, no background compaction, and lifecycle days of 1 s. */
static int setup(void **state)
{
    struct fx *f = calloc(1, sizeof *f);
    struct store_bucket b = {.name = "bkt", .region = "us-east-1"};

    fx_tmpdir_create(f->dir, sizeof f->dir, "lifecycle");
    fx_cfg_make(&f->cfg, f->dir, FX_BLOCK, FX_STRIPE, 0);
    f->cfg.small_threshold = 64u << 10;
    f->cfg.idle_flush_ms = 600000;
    f->cfg.compact_dead_percent = 0;
    f->cfg.lifecycle_day_seconds = 1;
    assert_int_equal(store_open(&f->s, &f->cfg), RS_OK);
    b.acl.owner = "alice";
    assert_int_equal(store_bucket_create(f->s, &b), RS_OK);
    *state = f;
    return 0;
}

static struct store_obj obj_of(const char *key, uint64_t size,
                               struct rs_kv *tags, size_t ntags)
{
    struct store_obj o;

    memset(&o, 0, sizeof o);
    o.bucket = "bkt";
    o.key = (char *)key;
    o.size = size;
    o.tags = tags;
    o.ntags = ntags;
    o.storage_class = "STANDARD";
    return o;
}

static void test_rule_matching(void **state)
{
    struct rs_kv want[2] = {{"team", "ops"}, {"tier", "cold"}};
    struct rs_kv has_both[3] = {{"x", "1"}, {"tier", "cold"},
                                {"team", "ops"}};
    struct rs_kv has_one[1] = {{"team", "ops"}};
    struct rs_kv wrong_value[2] = {{"team", "ops"}, {"tier", "hot"}};
    struct store_lc_rule r;
    struct store_obj o;

    (void)state;
    memset(&r, 0, sizeof r);
    /* an empty filter matches everything */
    o = obj_of("any/key", 10, NULL, 0);
    assert_true(store_lc_rule_matches(&r, &o));
    /* prefix */
    r.prefix = "logs/";
    assert_false(store_lc_rule_matches(&r, &o));
    o.key = "logs/2024/a";
    assert_true(store_lc_rule_matches(&r, &o));
    o.key = "logs";
    assert_false(store_lc_rule_matches(&r, &o));
    /* tags: every rule tag, key and value, on the object */
    memset(&r, 0, sizeof r);
    r.tags = want;
    r.ntags = 2;
    o = obj_of("k", 10, has_both, 3);
    assert_true(store_lc_rule_matches(&r, &o));
    o = obj_of("k", 10, has_one, 1);
    assert_false(store_lc_rule_matches(&r, &o));
    o = obj_of("k", 10, wrong_value, 2);
    assert_false(store_lc_rule_matches(&r, &o));
    o = obj_of("k", 10, NULL, 0);
    assert_false(store_lc_rule_matches(&r, &o));
    /* sizes are strict bounds */
    memset(&r, 0, sizeof r);
    r.has_size_gt = true;
    r.size_gt = 100;
    o = obj_of("k", 100, NULL, 0);
    assert_false(store_lc_rule_matches(&r, &o));
    o.size = 101;
    assert_true(store_lc_rule_matches(&r, &o));
    r.has_size_lt = true;
    r.size_lt = 200;
    o.size = 200;
    assert_false(store_lc_rule_matches(&r, &o));
    o.size = 199;
    assert_true(store_lc_rule_matches(&r, &o));
    /* And: prefix, tags and sizes together */
    r.and = true;
    r.prefix = "v/";
    r.tags = want;
    r.ntags = 2;
    o = obj_of("v/clip", 150, has_both, 3);
    assert_true(store_lc_rule_matches(&r, &o));
    o.key = "w/clip";
    assert_false(store_lc_rule_matches(&r, &o));
    o = obj_of("v/clip", 150, has_one, 1);
    assert_false(store_lc_rule_matches(&r, &o));
    o = obj_of("v/clip", 250, has_both, 3);
    assert_false(store_lc_rule_matches(&r, &o));
}

static void test_due_times(void **state)
{
    /* 2014-01-15 10:30:00 UTC */
    int64_t t = 1389781800LL * SEC_NS;
    int64_t midnight = 1389744000LL * SEC_NS;     /* 2014-01-15 00:00 */

    (void)state;
    /* S3: creation + 3 days = 01-18 10:30, rounded up to 01-19 00:00 */
    assert_int_equal(store_lc_due_ns(t, 3, 86400), midnight + 4 * DAY_NS);
    assert_int_equal(store_lc_due_ns(t, 1, 86400), midnight + 2 * DAY_NS);
    /* exactly at midnight: already a midnight, not one more day */
    assert_int_equal(store_lc_due_ns(midnight, 2, 86400),
                     midnight + 2 * DAY_NS);
    /* one ns after midnight rounds to the next */
    assert_int_equal(store_lc_due_ns(midnight + 1, 0, 86400),
                     midnight + DAY_NS);
    /* a test day is taken literally, no rounding */
    assert_int_equal(store_lc_due_ns(t, 3, 2), t + 6 * SEC_NS);
    assert_int_equal(store_lc_due_ns(t + 7, 1, 1), t + 7 + SEC_NS);
    /* Days meant as "never" (past 2262 in nanoseconds) are never due,
     * not due at once through an overflow */
    assert_true(store_lc_due_ns(t, 100000, 86400) == INT64_MAX);
    assert_true(store_lc_due_ns(t, INT32_MAX, 86400) == INT64_MAX);
    assert_true(store_lc_due_ns(t, INT32_MAX, 1) > t);
}

/* A one-rule configuration; the caller fills the actions. */
static void one_rule(struct store_lc_config *c, struct store_lc_rule *r,
                     const char *id, const char *prefix)
{
    memset(r, 0, sizeof *r);
    r->id = (char *)id;
    r->enabled = true;
    r->prefix = (char *)prefix;
    r->exp_delete_marker = -1;
    r->nc_exp_days = r->nc_exp_newer = -1;
    c->rules = r;
    c->nrules = 1;
}

static void test_config_round_trip(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct store_lc_transition tr[2] = {
        {30, 0, "STANDARD_IA", -1}, {-1, 1893456000LL * SEC_NS, "GLACIER", -1}};
    struct rs_kv tags[1] = {{"k", "v"}};
    struct store_lc_config c, got;
    struct store_lc_rule r;

    one_rule(&c, &r, "rule-1", "logs/");
    r.and = true;
    r.tags = tags;
    r.ntags = 1;
    r.has_size_lt = true;
    r.size_lt = 4096;
    r.exp_days = 365;
    r.transitions = tr;
    r.ntransitions = 2;
    r.abort_days = 7;
    r.nc_exp_days = 9;
    assert_int_equal(store_lifecycle_get(f->s, a, &got, "bkt"), RS_ENOTFOUND);
    assert_int_equal(store_lifecycle_put(f->s, "bkt", &c), RS_OK);
    assert_int_equal(store_lifecycle_get(f->s, a, &got, "bkt"), RS_OK);
    assert_int_equal(got.nrules, 1);
    assert_string_equal(got.rules[0].id, "rule-1");
    assert_true(got.rules[0].enabled);
    assert_true(got.rules[0].and);
    assert_false(got.rules[0].legacy);
    assert_string_equal(got.rules[0].prefix, "logs/");
    assert_int_equal(got.rules[0].ntags, 1);
    assert_string_equal(got.rules[0].tags[0].value, "v");
    assert_false(got.rules[0].has_size_gt);
    assert_true(got.rules[0].has_size_lt);
    assert_int_equal(got.rules[0].size_lt, 4096);
    assert_int_equal(got.rules[0].exp_days, 365);
    assert_false(got.rules[0].exp_has_date);
    assert_int_equal(got.rules[0].exp_delete_marker, -1);
    assert_int_equal(got.rules[0].ntransitions, 2);
    assert_int_equal(got.rules[0].transitions[0].days, 30);
    assert_string_equal(got.rules[0].transitions[1].storage_class, "GLACIER");
    assert_int_equal(got.rules[0].transitions[1].days, -1);
    assert_int_equal(got.rules[0].transitions[1].date_ns,
                     1893456000LL * SEC_NS);
    assert_int_equal(got.rules[0].abort_days, 7);
    assert_int_equal(got.rules[0].nc_exp_days, 9);
    assert_int_equal(got.rules[0].nc_exp_newer, -1);
    /* removed; a missing bucket is an error */
    assert_int_equal(store_lifecycle_put(f->s, "bkt", NULL), RS_OK);
    assert_int_equal(store_lifecycle_get(f->s, a, &got, "bkt"), RS_ENOTFOUND);
    assert_int_equal(store_lifecycle_put(f->s, "nobkt", &c), RS_ENOTFOUND);
    rs_arena_free(a);
}

static void head(struct store *s, struct rs_arena *a, struct store_obj *o,
                 const char *key)
{
    assert_int_equal(store_object_head(s, a, o, "bkt", key), RS_OK);
}

/* The predicate of a conditional delete: the evaluated mtime. */
static bool same_mtime(void *arg, const struct store_obj *now)
{
    return now->mtime_ns == *(int64_t *)arg;
}

static void test_conditional_delete_spares_an_overwrite(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    uint8_t *v1 = fx_pattern(3000, 1), *v2 = fx_pattern(5000, 2);
    struct store_obj o;
    int64_t evaluated;

    fx_put_ok(f->s, "race", v1, 3000);
    head(f->s, a, &o, "race");
    evaluated = o.mtime_ns;
    /* a client overwrites after the evaluation */
    fx_put_ok(f->s, "race", v2, 5000);
    assert_int_equal(store_object_delete_if(f->s, "bkt", "race", same_mtime,
                                            &evaluated,
                                            STORE_EV_LIFECYCLE_EXPIRATION),
                     RS_ECONFLICT);
    fx_check_obj(f->s, "race", v2, 5000);
    /* the object evaluated is deleted */
    head(f->s, a, &o, "race");
    evaluated = o.mtime_ns;
    assert_int_equal(store_object_delete_if(f->s, "bkt", "race", same_mtime,
                                            &evaluated,
                                            STORE_EV_LIFECYCLE_EXPIRATION),
                     RS_OK);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "race"),
                     RS_ENOTFOUND);
    assert_int_equal(store_object_delete_if(f->s, "bkt", "race", same_mtime,
                                            &evaluated,
                                            STORE_EV_LIFECYCLE_EXPIRATION),
                     RS_ENOTFOUND);
    free(v1);
    free(v2);
    rs_arena_free(a);
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_expiry_pass(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    uint8_t *v = fx_pattern(200000, 3);
    struct store_lc_config c;
    struct store_lc_rule r;
    struct store_lc_stats st;
    struct store_obj o;
    char key[32];

    one_rule(&c, &r, "tmp", "tmp/");
    r.exp_days = 1;                  /* 1 s here */
    assert_int_equal(store_lifecycle_put(f->s, "bkt", &c), RS_OK);
    for (int i = 0; i < 5; i++) {
        snprintf(key, sizeof key, "tmp/%d", i);
        fx_put_ok(f->s, key, v, i == 0 ? 200000 : 100 + (size_t)i);
    }
    fx_put_ok(f->s, "keep", v, 100);
    /* not due yet */
    assert_int_equal(store_lifecycle_run(f->s, NULL, &st), RS_OK);
    assert_int_equal(st.expired, 0);
    assert_int_equal(st.objects_scanned, 6);
    sleep_ms(1200);
    /* tmp/1 is overwritten after it became due: it is new, not due */
    fx_put_ok(f->s, "tmp/1", v, 777);
    assert_int_equal(store_lifecycle_run(f->s, NULL, &st), RS_OK);
    assert_int_equal(st.expired, 4);
    assert_int_equal(st.expired_bytes, 200000 + 102 + 103 + 104);
    assert_int_equal(st.errors, 0);
    fx_check_obj(f->s, "tmp/1", v, 777);
    fx_check_obj(f->s, "keep", v, 100);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "tmp/0"),
                     RS_ENOTFOUND);
    /* x-amz-expiration's source: tmp/1 expires one day after its mtime */
    {
        int64_t when = 0;
        const char *id = NULL;
        head(f->s, a, &o, "tmp/1");
        assert_true(store_lifecycle_expiry(f->s, a, &o, &when, &id));
        assert_int_equal(when, o.mtime_ns + SEC_NS);
        assert_string_equal(id, "tmp");
        head(f->s, a, &o, "keep");
        assert_false(store_lifecycle_expiry(f->s, a, &o, &when, &id));
    }
    sleep_ms(1200);
    assert_int_equal(store_lifecycle_run(f->s, "bkt", &st), RS_OK);
    assert_int_equal(st.expired, 1);
    assert_int_equal(store_object_head(f->s, a, &o, "bkt", "tmp/1"),
                     RS_ENOTFOUND);
    /* a disabled rule does nothing */
    fx_put_ok(f->s, "tmp/9", v, 10);
    r.enabled = false;
    assert_int_equal(store_lifecycle_put(f->s, "bkt", &c), RS_OK);
    sleep_ms(1200);
    assert_int_equal(store_lifecycle_run(f->s, NULL, &st), RS_OK);
    assert_int_equal(st.expired, 0);
    fx_check_obj(f->s, "tmp/9", v, 10);
    free(v);
    rs_arena_free(a);
}

static bool all_runs_in(const struct store_obj *o, uint8_t group, bool *merged)
{
    struct store_layout l;
    bool in = true;

    assert_int_equal(store__layout_decode(&l, o->_layout, o->_layout_len),
                     RS_OK);
    assert_true(l.nruns > 0);
    *merged = (l.runs[0].flags & STORE_RUN_MERGED) != 0;
    for (size_t i = 0; i < l.nruns; i++)
        in = in && l.runs[i].group == group;
    store__layout_dispose(&l);
    return in;
}

static void test_transition_keeps_object(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    size_t big = 300000, small = 3000;
    uint8_t *vb = fx_pattern(big, 4), *vs = fx_pattern(small, 5);
    struct store_lc_transition tr = {-1, 1577836800LL * SEC_NS,
                                     "STANDARD_IA", -1};  /* 2020-01-01 */
    struct rs_kv tags[1] = {{"camera", "17"}};
    struct store_obj before_b, before_s, o;
    struct store_lc_config c;
    struct store_lc_rule r;
    struct store_lc_stats st;
    bool merged;

    fx_put_ok(f->s, "cold/big", vb, big);
    fx_put_ok(f->s, "cold/small", vs, small);
    fx_put_ok(f->s, "hot/small", vs, small);
    assert_int_equal(store_object_set_tags(f->s, "bkt", "cold/big", tags, 1),
                     RS_OK);
    head(f->s, a, &before_b, "cold/big");
    head(f->s, a, &before_s, "cold/small");
    assert_true(all_runs_in(&before_b, STORE_CLASS_STANDARD, &merged));
    assert_false(merged);
    assert_true(all_runs_in(&before_s, STORE_CLASS_STANDARD, &merged));
    assert_true(merged);
    one_rule(&c, &r, "cold", "cold/");
    r.transitions = &tr;
    r.ntransitions = 1;
    assert_int_equal(store_lifecycle_put(f->s, "bkt", &c), RS_OK);
    assert_int_equal(store_lifecycle_run(f->s, NULL, &st), RS_OK);
    assert_int_equal(st.transitioned, 2);
    assert_int_equal(st.transitioned_bytes, big + small);
    assert_int_equal(st.errors, 0);

    head(f->s, a, &o, "cold/big");
    assert_string_equal(o.storage_class, "STANDARD_IA");
    assert_string_equal(o.etag, before_b.etag);
    assert_int_equal(o.mtime_ns, before_b.mtime_ns);
    assert_int_equal(o.size, big);
    assert_int_equal(o.ntags, 1);
    assert_string_equal(o.tags[0].value, "17");
    assert_string_equal(o.acl.owner, "alice");
    assert_true(all_runs_in(&o, STORE_CLASS_LOW_FREQUENCY, &merged));
    assert_false(merged);
    fx_check_obj(f->s, "cold/big", vb, big);

    head(f->s, a, &o, "cold/small");
    assert_string_equal(o.storage_class, "STANDARD_IA");
    assert_string_equal(o.etag, before_s.etag);
    assert_int_equal(o.mtime_ns, before_s.mtime_ns);
    assert_true(all_runs_in(&o, STORE_CLASS_LOW_FREQUENCY, &merged));
    assert_true(merged);
    fx_check_obj(f->s, "cold/small", vs, small);

    head(f->s, a, &o, "hot/small");
    assert_string_equal(o.storage_class, "STANDARD");
    assert_true(all_runs_in(&o, STORE_CLASS_STANDARD, &merged));

    /* the old container of the big object is garbage, the small one's
     * extent dead bytes; the next pass does nothing */
    assert_true(fx_gc_pending(f) >= 1);
    assert_int_equal(store_lifecycle_run(f->s, NULL, &st), RS_OK);
    assert_int_equal(st.transitioned, 0);
    /* after a restart (merged containers flushed) everything reads */
    fx_reopen(f);
    fx_check_obj(f->s, "cold/big", vb, big);
    fx_check_obj(f->s, "cold/small", vs, small);
    {
        struct store_fsck_opts fo = {false, true, NULL, NULL};
        struct store_fsck_report fr;
        assert_int_equal(store_fsck(f->s, &fo, &fr), RS_OK);
        assert_int_equal(fr.missing + fr.corrupt + fr.orphans +
                             fr.unreferenced + fr.counters, 0);
    }
    free(vb);
    free(vs);
    rs_arena_free(a);
}

static void test_merged_expiry_makes_dead_bytes(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    uint8_t *v = fx_pattern(4000, 6);
    struct store_lc_config c;
    struct store_lc_rule r;
    struct store_lc_stats st;
    struct store_compact_stats cs;
    struct store_layout l;
    struct store_obj o;
    uint64_t dead, dobjs;
    char ctr[STORE_CNAME_SIZE], key[32];

    for (int i = 0; i < 20; i++) {
        snprintf(key, sizeof key, "m/%02d", i);
        fx_put_ok(f->s, key, v, 4000);
    }
    fx_reopen(f);                    /* flushed: the container has c/ */
    head(f->s, a, &o, "m/00");
    assert_int_equal(store__layout_decode(&l, o._layout, o._layout_len),
                     RS_OK);
    assert_true(l.runs[0].flags & STORE_RUN_MERGED);
    memcpy(ctr, l.runs[0].container, STORE_CNAME_SIZE);
    store__layout_dispose(&l);
    store__merge_dead_get(f->s, ctr, &dead, &dobjs);
    assert_int_equal(dead, 0);

    one_rule(&c, &r, "m", "m/");
    r.exp_days = 1;
    assert_int_equal(store_lifecycle_put(f->s, "bkt", &c), RS_OK);
    sleep_ms(1200);
    assert_int_equal(store_lifecycle_run(f->s, NULL, &st), RS_OK);
    assert_int_equal(st.expired, 20);
    store__merge_dead_get(f->s, ctr, &dead, &dobjs);
    assert_int_equal(dobjs, 20);
    assert_true(dead >= 20 * 4000);
    /* compaction gives the container back */
    assert_int_equal(store_compact(f->s, 50, &cs), RS_OK);
    assert_true(cs.containers_compacted >= 1);
    assert_int_equal(cs.objects_moved, 0);
    free(v);
    rs_arena_free(a);
}

static void test_abort_stale_uploads(void **state)
{
    struct fx *f = *state;
    struct rs_arena *a = rs_arena_new();
    struct store_upload u, got;
    struct store_lc_config c;
    struct store_lc_rule r;
    struct store_lc_stats st;
    const char *id1, *id2;

    memset(&u, 0, sizeof u);
    u.bucket = "bkt";
    u.key = "mp/one";
    u.info.storage_class = "STANDARD";
    u.info.acl.owner = "alice";
    assert_int_equal(store_upload_create(f->s, a, &id1, &u), RS_OK);
    u.key = "other/two";
    assert_int_equal(store_upload_create(f->s, a, &id2, &u), RS_OK);
    one_rule(&c, &r, "mp", "mp/");
    r.abort_days = 1;
    assert_int_equal(store_lifecycle_put(f->s, "bkt", &c), RS_OK);
    assert_int_equal(store_lifecycle_run(f->s, NULL, &st), RS_OK);
    assert_int_equal(st.uploads_aborted, 0);
    sleep_ms(1200);
    assert_int_equal(store_lifecycle_run(f->s, NULL, &st), RS_OK);
    assert_int_equal(st.uploads_aborted, 1);
    assert_int_equal(store_upload_get(f->s, a, &got, "bkt", "mp/one", id1),
                     RS_ENOTFOUND);
    assert_int_equal(store_upload_get(f->s, a, &got, "bkt", "other/two", id2),
                     RS_OK);
    rs_arena_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rule_matching),
        cmocka_unit_test(test_due_times),
        cmocka_unit_test_setup_teardown(test_config_round_trip, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_conditional_delete_spares_an_overwrite, setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_expiry_pass, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_transition_keeps_object, setup,
                                        fx_teardown),
        cmocka_unit_test_setup_teardown(test_merged_expiry_makes_dead_bytes,
                                        setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_abort_stale_uploads, setup,
                                        fx_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
