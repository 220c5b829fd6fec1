/*
 * tests/unit/events/broker_test.c - durable consumer groups: the broker
 * (events/broker.c) and the worker client (events/worker.c) over real
 * ZeroMQ TCP sockets on loopback, with a real store whose outbox they
 * read.  Delivery and ack, filters, one event per object at a time in
 * order, NACK and redelivery, dead letters, a silent worker's events
 * going to another, and a broker restart resuming from the cursor.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "events/events.h"
#include "store/store.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <zmq.h>

struct bt {
    char dir[256];
    char endpoint[64];
    struct rs_config cfg;
    struct store *s;
    struct ev_broker *b;
};

static int free_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t l = sizeof a;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &l), 0);
    port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void tmpdir(char *out, size_t n)
{
    snprintf(out, n, "/tmp/rs-broker-test-XXXXXX");
    assert_non_null(mkdtemp(out));
}

static void start_broker(struct bt *t)
{
    int rc = ev_broker_start(&t->b, t->s, &t->cfg);

    if (rc != RS_OK)
        fail_msg("broker: %s", rs_err_msg());
    assert_non_null(t->b);
}

static int setup(void **state)
{
    struct bt *t = calloc(1, sizeof *t);
    struct store_bucket b = {.name = "cams", .region = "us-east-1"};

    tmpdir(t->dir, sizeof t->dir);
    rs_config_init(&t->cfg);
    free(t->cfg.data_dir);
    t->cfg.data_dir = rs_xstrdup(t->dir);
    t->cfg.index_cache = 4u << 20;
    t->cfg.small_threshold = 0;
    snprintf(t->endpoint, sizeof t->endpoint, "tcp://127.0.0.1:%d",
             free_port());
    free(t->cfg.events_broker);
    t->cfg.events_broker = rs_xstrdup(t->endpoint);
    t->cfg.events_ack_timeout = 1;
    t->cfg.events_max_attempts = 3;
    t->cfg.events_worker_timeout = 2;
    rs_config_finish(&t->cfg);
    assert_int_equal(store_open(&t->s, &t->cfg), RS_OK);
    b.acl.owner = "alice";
    assert_int_equal(store_bucket_create(t->s, &b), RS_OK);
    start_broker(t);
    *state = t;
    return 0;
}

static int teardown(void **state)
{
    struct bt *t = *state;
    char cmd[300];

    ev_broker_stop(t->b);
    store_close(t->s);
    rs_config_dispose(&t->cfg);
    snprintf(cmd, sizeof cmd, "rm -rf %s", t->dir);
    (void)system(cmd);
    free(t);
    return 0;
}

static void put(struct bt *t, const char *key)
{
    struct store_writer *w;
    struct store_obj info = {0};

    assert_int_equal(store_writer_open(t->s, &w, "cams", key, NULL), RS_OK);
    assert_int_equal(store_writer_write(w, key, strlen(key)), RS_OK);
    info.etag = "0123456789abcdef0123456789abcdef";
    info.acl.owner = "alice";
    assert_int_equal(store_writer_commit(w, &info), RS_OK);
}

/* The object key of a delivered S3 event message. */
static void key_of(char *out, size_t n, const char *msg)
{
    const char *p = strstr(msg, "\"key\":\"");

    assert_non_null(p);
    snprintf(out, n, "%s", p + 7);
    out[strcspn(out, "\"")] = '\0';
}

static struct ev_worker *join(struct bt *t, const char *group,
                              const struct ev_filter *f, int credit)
{
    struct ev_worker *w;
    struct ev_delivery d;

    assert_int_equal(ev_worker_open(&w, t->endpoint, group, f, credit),
                     RS_OK);
    /* let HELLO land (the group starts at the head of that moment) */
    assert_int_equal(ev_worker_recv(w, &d, 300), RS_EBUSY);
    return w;
}

static void test_broker_delivers_filtered_events_once_acked(void **state)
{
    struct bt *t = *state;
    static const char *const created[] = {"s3:ObjectCreated:*", NULL};
    struct ev_filter f = {"cams", "plates/", ".jpg", created};
    struct ev_worker *w = join(t, "plates", &f, 4);
    struct ev_delivery d;
    char key[64];
    uint64_t last = 0;

    put(t, "plates/1.jpg");
    put(t, "plates/2.txt");          /* suffix */
    put(t, "video/3.jpg");           /* prefix */
    put(t, "plates/4.jpg");
    assert_int_equal(store_object_delete(t->s, "cams", "plates/1.jpg"),
                     RS_OK);          /* not a creation */
    for (int i = 0; i < 2; i++) {
        assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
        assert_true(d.seq > last);
        last = d.seq;
        assert_int_equal(d.attempt, 1);
        key_of(key, sizeof key, d.msg);
        assert_string_equal(key, i ? "plates/4.jpg" : "plates/1.jpg");
        assert_string_equal(d.topic, "cams/ObjectCreated:Put");
        assert_int_equal(ev_worker_ack(w, d.seq), RS_OK);
    }
    /* acked: never again */
    assert_int_equal(ev_worker_recv(w, &d, 2500), RS_EBUSY);
    ev_worker_close(w);
}

static void test_broker_one_event_per_object_at_a_time(void **state)
{
    struct bt *t = *state;
    struct ev_worker *w = join(t, "order", NULL, 16);
    struct ev_delivery d;
    uint64_t first;
    char key[64];

    put(t, "same");
    put(t, "same");
    put(t, "other");
    assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
    key_of(key, sizeof key, d.msg);
    assert_string_equal(key, "same");
    first = d.seq;
    /* the second "same" waits for the first's ack; "other" does not */
    assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
    key_of(key, sizeof key, d.msg);
    assert_string_equal(key, "other");
    assert_int_equal(ev_worker_recv(w, &d, 300), RS_EBUSY);
    assert_int_equal(ev_worker_ack(w, first), RS_OK);
    assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
    key_of(key, sizeof key, d.msg);
    assert_string_equal(key, "same");
    assert_true(d.seq > first);
    ev_worker_close(w);
}

static void test_broker_nack_redelivers_then_dead_letters(void **state)
{
    struct bt *t = *state;
    struct ev_worker *w = join(t, "poison", NULL, 4);
    struct ev_delivery d;
    uint64_t seq = 0;
    char *stats;

    put(t, "bad");
    for (int attempt = 1; attempt <= 3; attempt++) {
        assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
        assert_int_equal(d.attempt, attempt);
        if (seq)
            assert_int_equal(d.seq, seq);
        seq = d.seq;
        assert_int_equal(ev_worker_nack(w, d.seq), RS_OK);
    }
    /* max_attempts 3: dead-lettered, not delivered again */
    assert_int_equal(ev_worker_recv(w, &d, 1500), RS_EBUSY);
    stats = ev_broker_stats_json(t->b);
    assert_non_null(strstr(stats, "\"dead_lettered\":1"));
    free(stats);
    ev_worker_close(w);
}

static void test_broker_late_ack_redelivers(void **state)
{
    struct bt *t = *state;
    struct ev_worker *w = join(t, "slow", NULL, 4);
    struct ev_delivery d;
    uint64_t seq;

    put(t, "job");
    assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
    seq = d.seq;
    assert_int_equal(d.attempt, 1);
    /* no ack within ack_timeout (1 s): delivered again */
    assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
    assert_int_equal(d.seq, seq);
    assert_int_equal(d.attempt, 2);
    assert_int_equal(ev_worker_ack(w, d.seq), RS_OK);
    assert_int_equal(ev_worker_recv(w, &d, 2000), RS_EBUSY);
    ev_worker_close(w);
}

/* A worker that says HELLO, takes an event and falls silent (no pings, no
 * BYE: a crashed process): after worker_timeout (2 s) its event goes to
 * the other worker of the group. */
static void test_broker_silent_worker_loses_its_events(void **state)
{
    struct bt *t = *state;
    void *ctx = zmq_ctx_new(), *raw = zmq_socket(ctx, ZMQ_DEALER);
    struct ev_worker *live;
    struct ev_delivery d;
    char buf[4096];
    int linger = 0, n;

    zmq_setsockopt(raw, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(raw, t->endpoint), 0);
    zmq_send(raw, "HELLO", 5, ZMQ_SNDMORE);
    zmq_send(raw, "pool", 4, ZMQ_SNDMORE);
    zmq_send(raw, "", 0, ZMQ_SNDMORE);
    zmq_send(raw, "1", 1, 0);
    n = zmq_recv(raw, buf, sizeof buf, 0);          /* WELCOME */
    assert_int_equal(n, 7);
    assert_memory_equal(buf, "WELCOME", 7);
    while (zmq_recv(raw, buf, sizeof buf, ZMQ_DONTWAIT) >= 0)
        ;
    put(t, "crash-me");
    /* the silent one is alone in the group: it gets the event */
    n = zmq_recv(raw, buf, sizeof buf, 0);
    assert_int_equal(n, 5);
    assert_memory_equal(buf, "EVENT", 5);
    live = join(t, "pool", NULL, 4);
    /* within worker_timeout + a scan, the event moves to the live one */
    assert_int_equal(ev_worker_recv(live, &d, 6000), RS_OK);
    assert_true(d.attempt >= 2);   /* late acks may have counted too */
    assert_non_null(strstr(d.msg, "\"key\":\"crash-me\""));
    assert_int_equal(ev_worker_ack(live, d.seq), RS_OK);
    ev_worker_close(live);
    zmq_close(raw);
    zmq_ctx_term(ctx);
}

static void test_broker_restart_resumes_from_cursor(void **state)
{
    struct bt *t = *state;
    struct ev_worker *w = join(t, "resume", NULL, 8);
    struct ev_delivery d;
    char key[64];

    put(t, "r1");
    assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
    assert_int_equal(ev_worker_ack(w, d.seq), RS_OK);
    put(t, "r2");
    assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
    key_of(key, sizeof key, d.msg);
    assert_string_equal(key, "r2");
    /* r2 in flight, not acked: the broker goes away and comes back, with
     * r3 committed while it was down */
    ev_worker_close(w);
    ev_broker_stop(t->b);
    put(t, "r3");
    start_broker(t);
    assert_int_equal(ev_worker_open(&w, t->endpoint, "resume", NULL, 8),
                     RS_OK);
    /* r2 again (never acked), then r3; r1 never */
    assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
    key_of(key, sizeof key, d.msg);
    assert_string_equal(key, "r2");
    assert_int_equal(ev_worker_ack(w, d.seq), RS_OK);
    assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
    key_of(key, sizeof key, d.msg);
    assert_string_equal(key, "r3");
    assert_int_equal(ev_worker_ack(w, d.seq), RS_OK);
    assert_int_equal(ev_worker_recv(w, &d, 1000), RS_EBUSY);
    ev_worker_close(w);
}

/* More events than the window holds (1,024): all of them, in order. */
static void test_broker_window_refills(void **state)
{
    struct bt *t = *state;
    struct ev_worker *w = join(t, "bulk", NULL, 64);
    struct ev_delivery d;
    uint64_t first = store_events_head(t->s) + 1;
    static bool seen[1500];
    int n = 0;

    for (int i = 0; i < 1500; i++) {
        char k[16];
        snprintf(k, sizeof k, "b%04d", i);
        put(t, k);
    }
    /* (the puts took longer than ack_timeout: early deliveries may come
     * again; every event at least once, none outside the range) */
    memset(seen, 0, sizeof seen);
    while (n < 1500) {
        assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
        assert_true(d.seq >= first && d.seq < first + 1500);
        if (!seen[d.seq - first]) {
            seen[d.seq - first] = true;
            n++;
        }
        assert_int_equal(ev_worker_ack(w, d.seq), RS_OK);
    }
    /* all acked: nothing more, however long we wait past ack_timeout */
    while (ev_worker_recv(w, &d, 1500) == RS_OK)
        assert_int_equal(ev_worker_ack(w, d.seq), RS_OK);
    ev_worker_close(w);
}

static void test_broker_group_delete(void **state)
{
    struct bt *t = *state;
    struct ev_worker *w = join(t, "gone", NULL, 4);
    struct ev_delivery d;
    char *stats;

    put(t, "pending");                /* in flight when it goes */
    assert_int_equal(ev_worker_recv(w, &d, 5000), RS_OK);
    assert_int_equal(ev_broker_group_delete(t->b, "gone"), RS_OK);
    /* its worker is told */
    assert_int_equal(ev_worker_recv(w, &d, 3000), RS_EINVAL);
    ev_worker_close(w);
    stats = ev_broker_stats_json(t->b);
    assert_null(strstr(stats, "\"gone\""));
    free(stats);
    assert_int_equal(ev_broker_group_delete(t->b, "gone"), RS_ENOTFOUND);
    assert_int_equal(ev_broker_group_delete(t->b, "webhook.0123456789abcdef"),
                     RS_EINVAL);
    /* and after a restart it stays gone */
    ev_broker_stop(t->b);
    start_broker(t);
    stats = ev_broker_stats_json(t->b);
    assert_null(strstr(stats, "\"gone\""));
    free(stats);
}

static void test_broker_refuses_bad_group_name(void **state)
{
    struct bt *t = *state;
    struct ev_worker *w;
    struct ev_delivery d;

    assert_int_equal(ev_worker_open(&w, t->endpoint, "no spaces", NULL, 1),
                     RS_OK);
    assert_int_equal(ev_worker_recv(w, &d, 3000), RS_EINVAL);
    ev_worker_close(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(
            test_broker_delivers_filtered_events_once_acked, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_broker_one_event_per_object_at_a_time, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_broker_nack_redelivers_then_dead_letters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_late_ack_redelivers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_broker_silent_worker_loses_its_events, setup, teardown),
        cmocka_unit_test_setup_teardown(
            test_broker_restart_resumes_from_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_broker_window_refills, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_broker_group_delete, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_broker_refuses_bad_group_name,
                                        setup, teardown),
    };

    rs_log_set_level(RS_LOG_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
