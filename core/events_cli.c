/*
 * core/events_cli.c - `roadstore events`: look at the event stream.
 *
 *   roadstore events tail [--config FILE] [--endpoint tcp://H:P]
 *                         [--bucket B] [--count N] [--timeout S]
 *       subscribe to the running server's PUB endpoint ([events] publish
 *       of the config, or --endpoint) and print each event as one JSON
 *       line (the S3 event message) as it happens;
 *   roadstore events tail --data DIR --from SEQ [--bucket B] [--count N]
 *       print the events kept in the outbox of a stopped node, from
 *       sequence SEQ + 1 on (what a crash left is all there);
 *   roadstore events tail --group G [--backlog] [--config FILE]
 *                         [--endpoint tcp://H:P] [--bucket B] [--count N]
 *                         [--timeout S]
 *       print the events the broker ([events] broker, or --endpoint)
 *       routes to consumer group G, from now on or (--backlog) from the
 *       group's cursor, without taking them from its workers.
 *
 * --count stops after N events; --timeout stops (status 3) when no event
 * came for S seconds.  Output is flushed per line, so a pipe sees events
 * as they come.
 *
 *   roadstore events stats [--data DIR | --config FILE] [--endpoint URL]
 *       each consumer group: cursor, lag (events committed above the
 *       cursor), workers, events in flight, delivered / acknowledged /
 *       delivered again / dead-lettered, acknowledged and delivered per
 *       second over the last second, and each webhook target, as JSON;
 *   roadstore events dlq [--group G] [--data DIR] [--endpoint URL]
 *       the events a group gave up on (after [events] max_attempts), as
 *       JSON.
 *   roadstore events group delete NAME [--data DIR] [--endpoint URL]
 *       remove a consumer group: its workers are told, its cursor and
 *       dead letters go, and the outbox no longer keeps events for it.
 * All ask the running server (through its admin endpoint, signed with
 * the root keys, like `roadstore admin`) or work on a stopped node's
 * index.
 */
#include "core/rs.h"
#include "core/main_int.h"
#include "ingest/ingest.h"
#include "events/events.h"
#include "store/store.h"

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(void)
{
    fprintf(stderr,
            "usage: roadstore events tail [--config FILE] [--endpoint "
            "tcp://HOST:PORT] [--bucket B] [--count N] [--timeout S]\n"
            "       roadstore events tail --data DIR --from SEQ [--bucket "
            "B] [--count N]\n"
            "       roadstore events tail --group G [--backlog] [--endpoint "
            "tcp://HOST:PORT] [--bucket B] [--count N] [--timeout S]\n"
            "       roadstore events stats [--data DIR] [--endpoint URL]\n"
            "       roadstore events dlq [--group G] [--data DIR] "
            "[--endpoint URL]\n"
            "       roadstore events group delete NAME [--data DIR] "
            "[--endpoint URL]\n");
}

struct dump {
    const char *bucket;
    const char *region;
    long count, printed;
};

static int dump_one(void *arg, uint64_t seq, const char *json, size_t len)
{
    struct dump *d = arg;
    char *msg, *topic;
    size_t bl = d->bucket ? strlen(d->bucket) : 0;

    if (ev_render(&msg, &topic, seq, json, len, d->region, NULL) != RS_OK) {
        fprintf(stderr, "roadstore: event %llu: %s\n",
                (unsigned long long)seq, rs_err_msg());
        return 0;
    }
    if (!bl || (!strncmp(topic, d->bucket, bl) && topic[bl] == '/')) {
        printf("%s\n", msg);
        d->printed++;
    }
    free(msg);
    free(topic);
    return d->count > 0 && d->printed >= d->count;
}

static int tail_outbox(struct rs_config *cfg, uint64_t from, struct dump *d)
{
    struct store *s;
    int rc;

    cfg->events_enabled = true;
    if ((rc = store_open(&s, cfg)) != RS_OK) {
        fprintf(stderr, "roadstore: %s%s\n", rs_err_msg(),
                rc == RS_EBUSY ? " (the server runs: tail it live, without "
                                 "--from)"
                               : "");
        return 1;
    }
    rc = store_events_read(s, from, store_events_head(s), 0, dump_one, d);
    fflush(stdout);
    store_close(s);
    return rc < 0 ? 1 : 0;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

/* Live events: the publisher's (group NULL) or those routed to group. */
static int tail_live(const char *endpoint, const char *group, bool backlog,
                     struct dump *d, int timeout_s)
{
    struct ev_sub *sub;
    char prefix[80] = "";
    int rc = 0;

    if (d->bucket)
        snprintf(prefix, sizeof prefix, "%s/", d->bucket);
    if ((group ? ev_sub_watch(&sub, endpoint, group, backlog)
               : ev_sub_open(&sub, endpoint, prefix)) != RS_OK) {
        fprintf(stderr, "roadstore: %s\n", rs_err_msg());
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    while (!stop && (d->count <= 0 || d->printed < d->count)) {
        const char *topic, *msg;
        int r = ev_sub_recv(sub, &topic, &msg,
                            timeout_s > 0 ? timeout_s * 1000 : -1);
        if (r == RS_EBUSY) {
            rc = 3;
            break;
        }
        if (r == RS_ENOTFOUND) {
            fprintf(stderr, "roadstore: %s\n", rs_err_msg());
            rc = 1;
            break;
        }
        if (r != RS_OK)
            break;
        if (group && *prefix && strncmp(topic, prefix, strlen(prefix)))
            continue;            /* a watcher gets every bucket's */
        printf("%s\n", msg);
        fflush(stdout);
        d->printed++;
    }
    ev_sub_close(sub);
    return rc;
}

/* ------------------------------------------------------------------ */
/* stats and dlq                                                        */
/* ------------------------------------------------------------------ */

static int group_cb(void *arg, const char *group, const char *json,
                    size_t len)
{
    json_t **arr = arg;
    json_error_t err;
    json_t *j = json_loadb(json, len, 0, &err);

    json_array_append_new(*arr, json_pack(
        "{s:s, s:I, s:O}", "group", group, "cursor",
        (json_int_t)json_integer_value(json_object_get(j, "cursor")),
        "filter", json_object_get(j, "filter") ? json_object_get(j, "filter")
                                               : json_null()));
    json_decref(j);
    return 0;
}

static int dlq_cb(void *arg, const char *group, uint64_t seq,
                  const char *json, size_t len)
{
    json_t **arr = arg;
    json_error_t err;
    json_t *j = json_loadb(json, len, 0, &err);

    if (!json_is_object(j)) {
        json_decref(j);
        j = json_object();
    }
    json_object_set_new(j, "group", json_string(group));
    json_object_set_new(j, "seq", json_integer((json_int_t)seq));
    json_array_append_new(*arr, j);
    return 0;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2));
    printf("%s\n", s ? s : "null");
    free(s);
    json_decref(j);
}

/* stats or dlq: through the running server, or from a stopped node. */
static int cmd_state(struct rs_config *cfg, const struct main_opts *mo,
                     bool dlq, const char *group)
{
    struct rs_kv param = {"group", (char *)group};
    char path[128], endpoint[300];
    struct store *s;
    json_t *arr;
    int rc;

    snprintf(path, sizeof path, "/_roadstore/admin/events/%s",
             dlq ? "dlq" : "stats");
    if (mo->endpoint) {
        rc = rs_main_remote_call(mo->endpoint, cfg, false, "GET", path,
                                 &param, group ? 1 : 0);
        if (rc)
            fprintf(stderr, "roadstore: %s\n", rs_err_msg());
        return rc ? 1 : 0;
    }
    rc = store_open(&s, cfg);
    if (rc == RS_EBUSY &&
        rs_main_running_endpoint(cfg, endpoint, sizeof endpoint) == RS_OK) {
        rc = rs_main_remote_call(endpoint, cfg, true, "GET", path, &param,
                                 group ? 1 : 0);
        if (rc)
            fprintf(stderr, "roadstore: %s\n", rs_err_msg());
        return rc ? 1 : 0;
    }
    if (rc != RS_OK) {
        fprintf(stderr, "roadstore: %s\n", rs_err_msg());
        return 1;
    }
    arr = json_array();
    if (dlq) {
        rc = store_events_dlq_list(s, group, dlq_cb, &arr);
        if (rc == RS_OK)
            print_json(arr);
        else
            json_decref(arr);
    } else {
        uint64_t head = store_events_head(s);
        rc = store_events_group_list(s, group_cb, &arr);
        if (rc == RS_OK) {
            size_t i;
            json_t *g;
            json_array_foreach(arr, i, g)
                json_object_set_new(
                    g, "lag",
                    json_integer((json_int_t)(head -
                        (uint64_t)json_integer_value(
                            json_object_get(g, "cursor")))));
            print_json(json_pack("{s:I, s:o, s:b}", "head", (json_int_t)head,
                                 "groups", arr, "offline", 1));
        } else {
            json_decref(arr);
        }
    }
    if (rc)
        fprintf(stderr, "roadstore: %s\n", rs_err_msg());
    store_close(s);
    return rc ? 1 : 0;
}

/* events group delete NAME */
static int cmd_group_delete(struct rs_config *cfg, const struct main_opts *mo,
                            const char *group)
{
    char path[300], endpoint[300];
    struct store *s;
    int rc;

    snprintf(path, sizeof path, "/_roadstore/admin/events/groups/%s", group);
    if (mo->endpoint) {
        rc = rs_main_remote_call(mo->endpoint, cfg, false, "DELETE", path,
                                 NULL, 0);
    } else if ((rc = store_open(&s, cfg)) == RS_EBUSY &&
               rs_main_running_endpoint(cfg, endpoint, sizeof endpoint) ==
                   RS_OK) {
        rc = rs_main_remote_call(endpoint, cfg, true, "DELETE", path, NULL,
                                 0);
    } else if (rc == RS_OK) {
        rc = store_events_group_delete(s, group, true);
        if (rc == RS_OK)
            printf("{\"removed\": \"%s\"}\n", group);
        store_close(s);
    }
    if (rc)
        fprintf(stderr, "roadstore: %s\n", rs_err_msg());
    return rc ? 1 : 0;
}

int rs_main_events(int argc, char **argv)
{
    struct rs_config cfg;
    struct main_opts mo;
    struct dump d = {0};
    const char *from = NULL, *tail_group = NULL;
    bool backlog = false;
    int next, timeout_s = 0, rc;

    if (argc >= 1 && (!strcmp(argv[0], "stats") || !strcmp(argv[0], "dlq"))) {
        const char *group = NULL;
        bool dlq = !strcmp(argv[0], "dlq");

        if (rs_main_options(&cfg, &mo, argc - 1, argv + 1, &next))
            return 2;
        for (int i = next + 1; i < argc; i++) {
            if (dlq && i + 1 < argc && !strcmp(argv[i], "--group")) {
                group = argv[++i];
            } else {
                usage();
                rs_config_dispose(&cfg);
                return 2;
            }
        }
        rs_log_set_level(RS_LOG_WARN);
        rc = cmd_state(&cfg, &mo, dlq, group);
        rs_config_dispose(&cfg);
        return rc;
    }
    if (argc >= 3 && !strcmp(argv[0], "group") && !strcmp(argv[1], "delete")) {
        const char *group = argv[2];

        if (rs_main_options(&cfg, &mo, argc - 3, argv + 3, &next))
            return 2;
        if (next + 3 != argc) {
            usage();
            rs_config_dispose(&cfg);
            return 2;
        }
        rs_log_set_level(RS_LOG_WARN);
        rc = cmd_group_delete(&cfg, &mo, group);
        rs_config_dispose(&cfg);
        return rc;
    }
    if (argc < 1 || strcmp(argv[0], "tail") != 0) {
        usage();
        return 2;
    }
    if (rs_main_options(&cfg, &mo, argc - 1, argv + 1, &next))
        return 2;
    for (int i = next + 1; i < argc; i++) {
        if (!strcmp(argv[i], "--backlog")) {
            backlog = true;
            continue;
        }
        if (i + 1 >= argc) {
            usage();
            rs_config_dispose(&cfg);
            return 2;
        }
        if (!strcmp(argv[i], "--bucket"))
            d.bucket = argv[++i];
        else if (!strcmp(argv[i], "--from"))
            from = argv[++i];
        else if (!strcmp(argv[i], "--group"))
            tail_group = argv[++i];
        else if (!strcmp(argv[i], "--count"))
            d.count = atol(argv[++i]);
        else if (!strcmp(argv[i], "--timeout"))
            timeout_s = atoi(argv[++i]);
        else {
            usage();
            rs_config_dispose(&cfg);
            return 2;
        }
    }
    d.region = cfg.region;
    rs_log_set_level(RS_LOG_WARN);
    if ((from && tail_group) || (backlog && !tail_group)) {
        usage();
        rs_config_dispose(&cfg);
        return 2;
    }
    if (from)
        rc = tail_outbox(&cfg, strtoull(from, NULL, 10), &d);
    else if (tail_group)
        rc = tail_live(mo.endpoint ? mo.endpoint : cfg.events_broker,
                       tail_group, backlog, &d, timeout_s);
    else
        rc = tail_live(mo.endpoint ? mo.endpoint : cfg.events_publish, NULL,
                       false, &d, timeout_s);
    rs_config_dispose(&cfg);
    return rc;
}
