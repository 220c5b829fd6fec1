/*
 * tests/unit/store/outbox_test.c - the event outbox (store/outbox.c):
 * every mutation leaves one record in the batch of its change, sequences
 * grow by one, the head never passes an uncommitted record, records
 * survive a reopen and pruning drops only what is asked.
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

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct seen {
    uint64_t seq[64];
    char name[64][48];
    char key[64][32];
    size_t n;
};

static int collect(void *arg, uint64_t seq, const char *json, size_t len)
{
    struct seen *s = arg;
    char buf[4096];
    const char *p;

    if (s->n == 64)
        return 1;
    snprintf(buf, sizeof buf, "%.*s", (int)len, json);
    s->seq[s->n] = seq;
    if ((p = strstr(buf, "\"n\":\"")))
        sscanf(p + 5, "%47[^\"]", s->name[s->n]);
    if ((p = strstr(buf, "\"k\":\"")))
        sscanf(p + 5, "%31[^\"]", s->key[s->n]);
    s->n++;
    return 0;
}

static int events_setup(void **state)
{
    int rc = fx_setup(state);
    struct fx *f = *state;

    /* the fixture config has events on (the default) */
    assert_non_null(f->s->ob);
    return rc;
}

static void test_outbox_one_record_per_mutation_in_order(void **state)
{
    struct fx *f = *state;
    uint8_t *p = fx_pattern(3 * FX_STRIPE, 1);
    struct rs_kv tag = {"k", "v"};
    struct store_acl acl = {"alice", NULL, 0};
    struct seen s = {0};
    uint64_t h0 = store_events_head(f->s);

    fx_put_ok(f->s, "a", p, 100);
    fx_put_ok(f->s, "b", p, 3 * FX_STRIPE);
    assert_int_equal(store_object_set_tags(f->s, "bkt", "a", &tag, 1), RS_OK);
    assert_int_equal(store_object_set_tags(f->s, "bkt", "a", NULL, 0), RS_OK);
    assert_int_equal(store_object_set_acl(f->s, "bkt", "a", &acl), RS_OK);
    assert_int_equal(store_object_delete(f->s, "bkt", "a"), RS_OK);
    /* failures write nothing */
    assert_int_equal(store_object_delete(f->s, "bkt", "a"), RS_ENOTFOUND);
    assert_int_equal(store_events_head(f->s), h0 + 6);
    assert_int_equal(store_events_read(f->s, h0, store_events_head(f->s), 0,
                                       collect, &s), RS_OK);
    assert_int_equal(s.n, 6);
    for (size_t i = 0; i < s.n; i++)
        assert_int_equal(s.seq[i], h0 + 1 + i);
    assert_string_equal(s.name[0], "ObjectCreated:Put");
    assert_string_equal(s.key[0], "a");
    assert_string_equal(s.name[1], "ObjectCreated:Put");
    assert_string_equal(s.key[1], "b");
    assert_string_equal(s.name[2], "ObjectTagging:Put");
    assert_string_equal(s.name[3], "ObjectTagging:Delete");
    assert_string_equal(s.name[4], "ObjectAcl:Put");
    assert_string_equal(s.name[5], "ObjectRemoved:Delete");
    free(p);
}

static void test_outbox_survives_reopen_and_sequence_continues(void **state)
{
    struct fx *f = *state;
    uint8_t *p = fx_pattern(10, 2);
    struct seen s = {0};
    uint64_t h;

    fx_put_ok(f->s, "x", p, 10);
    fx_put_ok(f->s, "y", p, 10);
    h = store_events_head(f->s);
    fx_reopen(f);
    assert_int_equal(store_events_head(f->s), h);
    fx_put_ok(f->s, "z", p, 10);
    assert_int_equal(store_events_head(f->s), h + 1);
    assert_int_equal(store_events_read(f->s, 0, h + 1, 0, collect, &s),
                     RS_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.key[2], "z");
    assert_int_equal(s.seq[2], h + 1);
    free(p);
}

static void test_outbox_head_waits_for_inflight_commits(void **state)
{
    struct fx *f = *state;
    struct idx_batch *b1 = idx_batch_begin(f->s->ix);
    struct idx_batch *b2 = idx_batch_begin(f->s->ix);
    struct store_event e = {STORE_EV_PUT, "bkt", "k", NULL, 0, 0};
    uint64_t h0 = store_events_head(f->s), s1, s2;

    s1 = store__event_add(f->s, b1, &e);
    s2 = store__event_add(f->s, b2, &e);
    assert_int_equal(s2, s1 + 1);
    /* the later one commits first: still nothing visible */
    assert_int_equal(idx_batch_commit(b2, true), RS_OK);
    store__event_done(f->s, s2);
    assert_int_equal(store_events_head(f->s), h0);
    /* the earlier one is abandoned: a gap, and the head moves past it */
    idx_batch_abort(b1);
    store__event_done(f->s, s1);
    assert_int_equal(store_events_head(f->s), s2);
    assert_int_equal(store_events_wait(f->s, h0, 10), s2);
}

static void test_outbox_prune_drops_only_older(void **state)
{
    struct fx *f = *state;
    uint8_t *p = fx_pattern(10, 3);
    struct seen s = {0};
    uint64_t h0 = store_events_head(f->s);

    for (int i = 0; i < 5; i++) {
        char k[8];
        snprintf(k, sizeof k, "p%d", i);
        fx_put_ok(f->s, k, p, 10);
    }
    assert_int_equal(store_events_prune(f->s, h0 + 3), RS_OK);
    assert_int_equal(store_events_read(f->s, 0, store_events_head(f->s), 0,
                                       collect, &s), RS_OK);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.seq[0], h0 + 3);
    assert_string_equal(s.key[0], "p2");
    free(p);
}

static int count_group(void *arg, const char *group, const char *json,
                       size_t len)
{
    assert_string_equal(group, "plates");
    assert_int_equal(len, strlen("{\"cursor\":7}"));
    assert_memory_equal(json, "{\"cursor\":7}", len);
    (*(int *)arg)++;
    return 0;
}

static int count_dlq(void *arg, const char *group, uint64_t seq,
                     const char *json, size_t len)
{
    assert_string_equal(group, "plates");
    assert_int_equal(seq, 42);
    assert_memory_equal(json, "{\"x\":1}", len);
    (*(int *)arg)++;
    return 0;
}

static void test_outbox_groups_and_dead_letters(void **state)
{
    struct fx *f = *state;
    int n = 0;

    assert_int_equal(store_events_group_put(f->s, "bad name", "{}", true),
                     RS_EINVAL);
    assert_int_equal(store_events_group_put(f->s, "plates", "{\"cursor\":7}",
                                            true), RS_OK);
    assert_int_equal(store_events_dlq_put(f->s, "plates", 42, "{\"x\":1}"),
                     RS_OK);
    fx_reopen(f);
    assert_int_equal(store_events_group_list(f->s, count_group, &n), RS_OK);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(store_events_dlq_list(f->s, "plates", count_dlq, &n),
                     RS_OK);
    assert_int_equal(n, 1);
    n = 0;
    assert_int_equal(store_events_dlq_list(f->s, NULL, count_dlq, &n), RS_OK);
    assert_int_equal(n, 1);
    assert_int_equal(store_events_group_delete(f->s, "plates", true), RS_OK);
    n = 0;
    assert_int_equal(store_events_group_list(f->s, count_group, &n), RS_OK);
    assert_int_equal(store_events_dlq_list(f->s, NULL, count_dlq, &n), RS_OK);
    assert_int_equal(n, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_outbox_one_record_per_mutation_in_order, events_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_outbox_survives_reopen_and_sequence_continues, events_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(
            test_outbox_head_waits_for_inflight_commits, events_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_outbox_prune_drops_only_older,
                                        events_setup, fx_teardown),
        cmocka_unit_test_setup_teardown(test_outbox_groups_and_dead_letters,
                                        events_setup, fx_teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
