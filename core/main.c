/*
 * core/main.c - the roadstore binary: `roadstore server`, `roadstore admin`
 * (core/admin.c) and `roadstore version`.
 *
 * The server runs in the foreground, logs to stderr, and on SIGTERM or
 * SIGINT stops accepting, finishes requests in flight, closes the store
 * (flushing the index) and exits 0.  Signals are taken with sigwait() on
 * the main thread; every other thread has them blocked.
 */
#include "core/rs.h"
#include "core/main_int.h"
#include "events/events.h"
#include "ingest/ingest.h"
#include "store/store.h"

#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ROADSTORE_VERSION "0.1.0"

static void usage(FILE *f)
{
    fprintf(f,
        "usage: roadstore server [--config FILE] [--data DIR] "
        "[--listen HOST:PORT] [--region NAME]\n"
        "                        [--events tcp://HOST:PORT] "
        "[--broker tcp://HOST:PORT]\n"
        "       roadstore admin [--data DIR] [--config FILE] "
        "[--endpoint URL] user create NAME\n"
        "                 [--access-key K --secret-key S] "
        "[--display-name D] [--email E]\n"
        "       roadstore admin [...] user list | user info NAME | "
        "user remove NAME\n"
        "       roadstore events tail [--config FILE] [--bucket B] "
        "[--endpoint tcp://HOST:PORT]\n"
        "       roadstore events tail --data DIR --from SEQ [--bucket B]"
        "   (the outbox of a stopped node)\n"
        "       roadstore events stats | dlq [--group G] | group delete "
        "NAME  [--data DIR] [--endpoint URL]\n"
        "       roadstore version\n");
}

/* Parse the options common to server and admin; argv is consumed up to
 * the first word that is not an option. */
int rs_main_options(struct rs_config *cfg, struct main_opts *mo, int argc,
                    char **argv, int *next)
{
    const char *config = NULL, *data = NULL, *listen = NULL, *region = NULL;
    const char *events = NULL, *broker = NULL;
    int i, rc;

    memset(mo, 0, sizeof(*mo));
    for (i = 0; i < argc; i++) {
        const char *a = argv[i];
        const char **dst = NULL;

        if (!strcmp(a, "--config"))
            dst = &config;
        else if (!strcmp(a, "--data"))
            dst = &data;
        else if (!strcmp(a, "--listen"))
            dst = &listen;
        else if (!strcmp(a, "--region"))
            dst = &region;
        else if (!strcmp(a, "--events"))
            dst = &events;
        else if (!strcmp(a, "--broker"))
            dst = &broker;
        else if (!strcmp(a, "--endpoint"))
            dst = &mo->endpoint;
        else
            break;
        if (i + 1 >= argc) {
            fprintf(stderr, "roadstore: %s needs a value\n", a);
            return RS_EINVAL;
        }
        *dst = argv[++i];
    }
    *next = i;
    rs_config_init(cfg);
    if (config && (rc = rs_config_load(cfg, config))) {
        fprintf(stderr, "roadstore: %s\n", rs_err_msg());
        return rc;
    }
    if (data) {
        free(cfg->data_dir);
        cfg->data_dir = rs_xstrdup(data);
    }
    if (listen) {
        free(cfg->listen);
        cfg->listen = rs_xstrdup(listen);
    }
    if (region) {
        free(cfg->region);
        cfg->region = rs_xstrdup(region);
    }
    if (events) {
        free(cfg->events_publish);
        cfg->events_publish = rs_xstrdup(events);
    }
    if (broker) {
        free(cfg->events_broker);
        cfg->events_broker = rs_xstrdup(broker);
    }
    mo->data_given = data != NULL || config != NULL;
    rs_config_finish(cfg);
    return RS_OK;
}

/* Write a small file atomically (temp, fsync, rename, fsync dir). */
int rs_main_write_file(const char *dir, const char *name, const char *text,
                       mode_t mode)
{
    char path[4096], tmp[4200];
    size_t len = strlen(text);
    int fd, dfd;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0)
        return rs_err_errno(errno, "open %s", tmp);
    if (write(fd, text, len) != (ssize_t)len || fsync(fd)) {
        int e = errno;

        close(fd);
        return rs_err_errno(e, "write %s", tmp);
    }
    close(fd);
    if (rename(tmp, path))
        return rs_err_errno(errno, "rename %s", tmp);
    dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* best effort: the file is only a convenience */
        close(dfd);
    }
    return RS_OK;
}

/* Read "access_key=..." / "secret_key=..." from DATA/root.credentials. */
int rs_main_read_root(const char *data_dir, char *ak, size_t akcap, char *sk,
                      size_t skcap)
{
    char path[4096], line[512];
    FILE *f;
    int found = 0;

    snprintf(path, sizeof(path), "%s/root.credentials", data_dir);
    f = fopen(path, "r");
    if (!f)
        return rs_err_errno(errno, "open %s", path);
    while (fgets(line, sizeof(line), f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!strncmp(line, "access_key=", 11)) {
            snprintf(ak, akcap, "%s", line + 11);
            found |= 1;
        } else if (!strncmp(line, "secret_key=", 11)) {
            snprintf(sk, skcap, "%s", line + 11);
            found |= 2;
        }
    }
    fclose(f);
    return found == 3 ? RS_OK
                      : rs_err_set(RS_ECORRUPT, "%s is incomplete", path);
}

/*
 * The root user: created on first start from ROADSTORE_ACCESS_KEY /
 * ROADSTORE_SECRET_KEY, the config, or generated; its keys are kept in
 * DATA/root.credentials (0600) for the admin tool, and printed.
 */
static int ensure_root(struct store *s, const struct rs_config *cfg)
{
    const char *ak = getenv("ROADSTORE_ACCESS_KEY");
    const char *sk = getenv("ROADSTORE_SECRET_KEY");
    struct store_user u;
    char text[600];
    int rc;

    if (!ak || !*ak)
        ak = cfg->root_access_key;
    if (!sk || !*sk)
        sk = cfg->root_secret_key;
    rc = store_user_get(s, &u, "root");
    if (rc == RS_ENOTFOUND) {
        memset(&u, 0, sizeof(u));
        snprintf(u.name, sizeof(u.name), "root");
        snprintf(u.display_name, sizeof(u.display_name), "root");
        if (ak && *ak)
            snprintf(u.access_key, sizeof(u.access_key), "%s", ak);
        if (sk && *sk)
            snprintf(u.secret_key, sizeof(u.secret_key), "%s", sk);
        store_user_generate_keys(&u);
        u.root = true;
        u.created_ns = rs_now_ns();
        rc = store_user_create(s, &u);
    } else if (rc == RS_OK && ak && *ak && strcmp(ak, u.access_key)) {
        rs_warn("root user already exists with access key %s; "
                "ROADSTORE_ACCESS_KEY is only used on first start",
                u.access_key);
    }
    if (rc)
        return rc;
    snprintf(text, sizeof(text), "access_key=%s\nsecret_key=%s\n",
             u.access_key, u.secret_key);
    rc = rs_main_write_file(cfg->data_dir, "root.credentials", text, 0600);
    if (rc)
        return rc;
    rs_info("root credentials: access key %s, secret key %s (also in "
            "%s/root.credentials)", u.access_key, u.secret_key,
            cfg->data_dir);
    return RS_OK;
}

static enum rs_log_level parse_level(const char *s)
{
    if (s && !strcmp(s, "debug"))
        return RS_LOG_DEBUG;
    if (s && !strcmp(s, "warn"))
        return RS_LOG_WARN;
    if (s && !strcmp(s, "error"))
        return RS_LOG_ERROR;
    return RS_LOG_INFO;
}

/*
 * Descriptors: raise the soft limit to the hard one, and keep the cache of
 * open container handles within what is left after connections and the
 * index (RocksDB keeps its table files open) so that neither starves.
 */
static void fit_descriptors(struct rs_config *cfg)
{
    struct rlimit rl;
    long room;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur == RLIM_INFINITY)
        return;
    /* Connections, the index's files, WAL, listen socket and slack. */
    room = (long)rl.rlim_cur - cfg->max_connections - 1024;
    if (room < 64)
        room = 64;
    if (cfg->open_files > room) {
        rs_warn("descriptor limit %llu: open_files lowered from %d to %ld "
                "(raise the limit with ulimit -n)",
                (unsigned long long)rl.rlim_cur, cfg->open_files, room);
        cfg->open_files = (int)room;
    }
}

struct events_parts {
    struct ev_broker *broker;
    struct ev_webhooks *hooks;
};

/* GET /_roadstore/admin/events/stats: the broker's groups and the
 * webhook targets in one document. */
static char *events_stats(void *arg)
{
    struct events_parts *p = arg;
    char *b = ev_broker_stats_json(p->broker);
    char *h = ev_webhooks_stats_json(p->hooks);
    json_error_t err;
    json_t *doc = json_loads(b, 0, &err), *hooks = json_loads(h, 0, &err);
    char *s, *r;

    if (!doc)
        doc = json_object();
    json_object_set_new(doc, "webhooks", hooks ? hooks : json_array());
    s = json_dumps(doc, JSON_COMPACT);
    r = rs_xstrdup(s ? s : "{}");
    free(s);
    free(b);
    free(h);
    json_decref(doc);
    return r;
}

static int events_group_delete(void *arg, const char *group)
{
    struct events_parts *p = arg;

    return ev_broker_group_delete(p->broker, group);
}

static int cmd_server(int argc, char **argv)
{
    struct rs_config cfg;
    struct main_opts mo;
    struct store *s = NULL;
    struct gw *g = NULL;
    struct ev_publisher *pub = NULL;
    struct ev_broker *broker = NULL;
    struct ev_webhooks *hooks = NULL;
    struct events_parts parts;
    sigset_t set;
    char url[300];
    int sig = 0, next, rc;
    int64_t t0 = rs_mono_ns();

    if (rs_main_options(&cfg, &mo, argc, argv, &next))
        return 2;
    if (next != argc) {
        usage(stderr);
        return 2;
    }
    rs_log_set_level(parse_level(cfg.log_level));
    /* Block the signals before any thread starts; main takes them. */
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);
    fit_descriptors(&cfg);

    if ((rc = rs_mkdirs(cfg.data_dir, true)) || (rc = store_open(&s, &cfg)) ||
        (rc = ensure_root(s, &cfg)) || (rc = gw_start(&g, &cfg, s))) {
        rs_error("cannot start: %s: %s", rs_strerror(rc), rs_err_msg());
        store_close(s);
        rs_config_dispose(&cfg);
        return 1;
    }
    /* Events stay in the outbox whatever happens here; a port taken by
     * another process must not keep the store from serving. */
    if (ev_publisher_start(&pub, s, &cfg) != RS_OK)
        rs_warn("%s; events are kept in the outbox but not published",
                rs_err_msg());
    if (ev_broker_start(&broker, s, &cfg) != RS_OK)
        rs_warn("%s; consumer groups are not served (their events are "
                "kept)", rs_err_msg());
    if (ev_webhooks_start(&hooks, s, &cfg) != RS_OK)
        rs_warn("%s; webhooks are not served (their events are kept)",
                rs_err_msg());
    if (store_lifecycle_start(s, &cfg) != RS_OK)
        rs_warn("%s; lifecycle rules run only through `roadstore admin "
                "lifecycle run`", rs_err_msg());
    parts.broker = broker;
    parts.hooks = hooks;
    {
        struct gw_events_ops ops = {events_stats, events_group_delete,
                                    &parts};
        gw_set_events_ops(g, &ops);
    }
    snprintf(url, sizeof(url), "http://%s\n", cfg.listen);
    if (rs_main_write_file(cfg.data_dir, "server.endpoint", url, 0644))
        rs_warn("cannot record the endpoint: %s", rs_err_msg());
    rs_info("roadstore %s serving S3 on http://%s (data %s, region %s) "
            "ready in %.1f ms", ROADSTORE_VERSION, cfg.listen, cfg.data_dir,
            cfg.region, (double)(rs_mono_ns() - t0) / 1e6);

    while (sigwait(&set, &sig) == 0 && sig != SIGTERM && sig != SIGINT)
        ;
    rs_info("signal %d: stopping", sig);
    store_lifecycle_halt(s);     /* a pass an admin request runs, too */
    gw_stop(g);
    ev_webhooks_stop(hooks);
    ev_broker_stop(broker);
    ev_publisher_stop(pub);
    store_close(s);
    {
        char path[4200];

        snprintf(path, sizeof(path), "%s/server.endpoint", cfg.data_dir);
        (void)unlink(path); /* absent is fine */
    }
    rs_info("stopped");
    rs_config_dispose(&cfg);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "server"))
        return cmd_server(argc - 2, argv + 2);
    if (!strcmp(argv[1], "admin"))
        return rs_main_admin(argc - 2, argv + 2);
    if (!strcmp(argv[1], "events"))
        return rs_main_events(argc - 2, argv + 2);
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("roadstore %s\n", ROADSTORE_VERSION);
        return 0;
    }
    if (!strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "-h")) {
        usage(stdout);
        return 0;
    }
    usage(stderr);
    return 2;
}
