/*
 * core/admin.c - `roadstore admin`: user management, maintenance of
 * merged containers (compact, fsck) and a lifecycle pass on request
 * (lifecycle run).
 *
 * Works on a stopped node by opening the store directly (--data DIR), and
 * on a running one through its admin endpoint (gw_admin.c), signed with
 * the root credentials: with --endpoint URL explicitly, or found from
 * DATA/server.endpoint when the running server holds the index.  Output
 * is JSON, the same either way.
 */
#include "core/main_int.h"
#include "ingest/ingest.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct user_args {
    const char *verb;     /* create, list, info, remove */
    const char *name;
    const char *access_key;
    const char *secret_key;
    const char *display_name;
    const char *email;
};

static json_t *user_json(const struct store_user *u, bool with_secret)
{
    json_t *j = json_pack("{s:s, s:s, s:s, s:s, s:b, s:I}", "name", u->name,
                          "access_key", u->access_key, "display_name",
                          u->display_name, "email", u->email, "root",
                          u->root, "created_ns", (json_int_t)u->created_ns);

    if (with_secret)
        json_object_set_new(j, "secret_key", json_string(u->secret_key));
    return j;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

    printf("%s\n", s ? s : "{}");
    free(s);
    json_decref(j);
}

static int list_cb(void *arg, const struct store_user *u)
{
    json_array_append_new(arg, user_json(u, false));
    return 0;
}

static int local_user(struct store *s, const struct user_args *ua)
{
    struct store_user u;
    int rc;

    if (!strcmp(ua->verb, "list")) {
        json_t *arr = json_array();

        rc = store_user_list(s, list_cb, arr);
        if (rc) {
            json_decref(arr);
            return rc;
        }
        print_json(arr);
        return RS_OK;
    }
    if (!strcmp(ua->verb, "info")) {
        rc = store_user_get(s, &u, ua->name);
        if (!rc)
            print_json(user_json(&u, true));
        return rc;
    }
    if (!strcmp(ua->verb, "remove")) {
        rc = store_user_remove(s, ua->name);
        if (!rc)
            print_json(json_pack("{s:s}", "removed", ua->name));
        return rc;
    }
    memset(&u, 0, sizeof(u));
    if (strlen(ua->name) >= sizeof(u.name) ||
        (ua->access_key && strlen(ua->access_key) >= sizeof(u.access_key)) ||
        (ua->secret_key && strlen(ua->secret_key) >= sizeof(u.secret_key)))
        return rs_err_set(RS_EINVAL, "name or key too long");
    snprintf(u.name, sizeof(u.name), "%s", ua->name);
    if (ua->access_key)
        snprintf(u.access_key, sizeof(u.access_key), "%s", ua->access_key);
    if (ua->secret_key)
        snprintf(u.secret_key, sizeof(u.secret_key), "%s", ua->secret_key);
    store_user_generate_keys(&u);
    snprintf(u.display_name, sizeof(u.display_name), "%s",
             ua->display_name ? ua->display_name : ua->name);
    snprintf(u.email, sizeof(u.email), "%s", ua->email ? ua->email : "");
    u.created_ns = rs_now_ns();
    rc = store_user_create(s, &u);
    if (!rc)
        print_json(user_json(&u, true));
    return rc;
}

/* Append a parameter when given (callers add them in name order). */
static void add_param(struct rs_kv *p, size_t *n, const char *name,
                      const char *v)
{
    if (!v)
        return;
    p[*n].name = (char *)name;
    p[*n].value = (char *)v;
    (*n)++;
}

/*
 * One admin request to a running server; prints the JSON answer.  Root
 * keys: for an explicit --endpoint, ROADSTORE_ACCESS_KEY/SECRET_KEY when
 * set, else the data dir's; for the server running on --data DIR
 * (own_data), that dir's.
 */
int rs_main_remote_call(const char *endpoint, const struct rs_config *cfg,
                        bool own_data, const char *method, const char *path,
                        const struct rs_kv *params, size_t np)
{
    const char *ak = getenv("ROADSTORE_ACCESS_KEY");
    const char *sk = getenv("ROADSTORE_SECRET_KEY");
    char fak[130], fsk[130];
    char *body = NULL;
    int status = 0, rc;

    if (!own_data && ak && *ak && sk && *sk) {
        /* as given */
    } else if (rs_main_read_root(cfg->data_dir, fak, sizeof(fak), fsk,
                                 sizeof(fsk)) == RS_OK) {
        ak = fak;
        sk = fsk;
    } else {
        return rs_err_set(RS_EINVAL,
                          "no root credentials: set ROADSTORE_ACCESS_KEY and "
                          "ROADSTORE_SECRET_KEY or give --data DIR");
    }
    rc = gw_admin_request(endpoint, ak, sk, cfg->region, method, path,
                          params, np, &status, &body);
    if (rc)
        return rc;
    if (status / 100 == 2)
        printf("%s\n", body);
    else
        rc = rs_err_set(status == 404   ? RS_ENOTFOUND
                        : status == 409 ? RS_EEXIST
                        : status == 403 ? RS_EDENIED
                                        : RS_ERR,
                        "server answered %d: %s", status, body);
    free(body);
    return rc;
}

static int remote_user(const char *endpoint, const struct rs_config *cfg,
                       const struct user_args *ua, bool own_data)
{
    struct rs_kv params[5];
    size_t np = 0;
    struct rs_buf path;
    const char *method = "GET";
    int rc;

    rs_buf_init(&path, 8192);
    (void)rs_buf_puts(&path, "/_roadstore/admin/users");
    if (!strcmp(ua->verb, "create")) {
        method = "POST";
        add_param(params, &np, "access-key", ua->access_key);
        add_param(params, &np, "display-name", ua->display_name);
        add_param(params, &np, "email", ua->email);
        add_param(params, &np, "name", ua->name);
        add_param(params, &np, "secret-key", ua->secret_key);
    } else if (strcmp(ua->verb, "list")) {
        (void)rs_buf_puts(&path, "/");
        (void)gw_url_encode(&path, ua->name);
        if (!strcmp(ua->verb, "remove"))
            method = "DELETE";
    }
    rc = rs_main_remote_call(endpoint, cfg, own_data, method, path.data,
                             params, np);
    rs_buf_dispose(&path);
    return rc;
}

/* Endpoint of the server running on this data dir (DATA/server.endpoint). */
int rs_main_running_endpoint(const struct rs_config *cfg, char *out,
                             size_t cap)
{
    char path[4200];
    FILE *f;

    snprintf(path, sizeof(path), "%s/server.endpoint", cfg->data_dir);
    f = fopen(path, "r");
    if (!f)
        return rs_err_set(RS_ENOTFOUND, "no %s", path);
    if (!fgets(out, (int)cap, f)) {
        fclose(f);
        return rs_err_set(RS_ENOTFOUND, "empty %s", path);
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return RS_OK;
}

static int parse_user_args(struct user_args *ua, int argc, char **argv)
{
    int i;

    memset(ua, 0, sizeof(*ua));
    if (argc < 2 || strcmp(argv[0], "user"))
        return RS_EINVAL;
    ua->verb = argv[1];
    i = 2;
    if (strcmp(ua->verb, "list")) {
        if (strcmp(ua->verb, "create") && strcmp(ua->verb, "info") &&
            strcmp(ua->verb, "remove"))
            return RS_EINVAL;
        if (i >= argc)
            return RS_EINVAL;
        ua->name = argv[i++];
    }
    for (; i < argc; i++) {
        const char **dst = NULL;

        if (!strcmp(argv[i], "--access-key"))
            dst = &ua->access_key;
        else if (!strcmp(argv[i], "--secret-key"))
            dst = &ua->secret_key;
        else if (!strcmp(argv[i], "--display-name"))
            dst = &ua->display_name;
        else if (!strcmp(argv[i], "--email"))
            dst = &ua->email;
        if (!dst || i + 1 >= argc || strcmp(ua->verb, "create"))
            return RS_EINVAL;
        *dst = argv[++i];
    }
    if ((ua->access_key == NULL) != (ua->secret_key == NULL))
        return RS_EINVAL;
    return RS_OK;
}

/* ------------------------------------------------------------------ */
/* compact and fsck                                                     */
/* ------------------------------------------------------------------ */

struct maint_args {
    const char *verb;     /* compact, fsck */
    char min_dead[16];    /* compact: percent */
    bool repair, verify;  /* fsck */
};

static int parse_maint_args(struct maint_args *ma, int argc, char **argv)
{
    uint64_t pct;

    memset(ma, 0, sizeof(*ma));
    if (argc < 1 || (strcmp(argv[0], "compact") && strcmp(argv[0], "fsck")))
        return RS_EINVAL;
    ma->verb = argv[0];
    snprintf(ma->min_dead, sizeof(ma->min_dead), "50");
    ma->verify = true;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(ma->verb, "compact") && !strcmp(argv[i], "--min-dead") &&
            i + 1 < argc) {
            if (rs_parse_u64(&pct, argv[i + 1], strlen(argv[i + 1])) ||
                pct > 100)
                return RS_EINVAL;
            snprintf(ma->min_dead, sizeof(ma->min_dead), "%u",
                     (unsigned)pct);
            i++;
        } else if (!strcmp(ma->verb, "fsck") && !strcmp(argv[i], "--repair")) {
            ma->repair = true;
        } else if (!strcmp(ma->verb, "fsck") &&
                   !strcmp(argv[i], "--no-verify")) {
            ma->verify = false;
        } else {
            return RS_EINVAL;
        }
    }
    return RS_OK;
}

/*
 * Run an admin verb: POST path?params through explicit_endpoint when one
 * is given; else here on the data directory (local(s, arg, &out), out
 * printed), or through the running server when it holds the directory.
 */
static int admin_call(struct rs_config *cfg, const char *explicit_endpoint,
                      const char *path, const struct rs_kv *params,
                      size_t np,
                      int (*local)(struct store *s, const void *arg,
                                   char **out),
                      const void *arg)
{
    struct store *s = NULL;
    char endpoint[300];
    char *out = NULL;
    int rc;

    if (explicit_endpoint)
        return rs_main_remote_call(explicit_endpoint, cfg, false, "POST",
                                   path, params, np);
    rc = store_open(&s, cfg);
    if (rc == RS_EBUSY &&
        rs_main_running_endpoint(cfg, endpoint, sizeof(endpoint)) == RS_OK)
        return rs_main_remote_call(endpoint, cfg, true, "POST", path, params,
                                   np);
    if (rc != RS_OK)
        return rc;
    rc = local(s, arg, &out);
    if (out)
        printf("%s\n", out);
    free(out);
    store_close(s);
    return rc;
}

static int maint_local(struct store *s, const void *arg, char **out)
{
    const struct maint_args *ma = arg;

    return gw_maint(s, ma->verb, (unsigned)atoi(ma->min_dead), ma->repair,
                    ma->verify, out);
}

static int maint(const struct maint_args *ma, struct rs_config *cfg,
                 const char *explicit_endpoint)
{
    struct rs_kv params[2];
    size_t np = 0;
    char path[64];

    snprintf(path, sizeof(path), "/_roadstore/admin/%s", ma->verb);
    if (!strcmp(ma->verb, "compact")) {
        add_param(params, &np, "min-dead", ma->min_dead);
    } else {
        if (ma->repair)
            add_param(params, &np, "repair", "1");
        if (!ma->verify)
            add_param(params, &np, "verify", "0");
    }
    return admin_call(cfg, explicit_endpoint, path, params, np, maint_local,
                      ma);
}

static int lifecycle_local(struct store *s, const void *arg, char **out)
{
    return gw_lifecycle_run(s, arg, out);
}

/* lifecycle run [--bucket B]: one lifecycle pass now, here or through
 * the running server. */
static int lifecycle_run(int argc, char **argv, struct rs_config *cfg,
                         const char *explicit_endpoint)
{
    const char *bucket = NULL;
    struct rs_kv params[1];
    size_t np = 0;

    if (argc < 2 || strcmp(argv[1], "run"))
        return rs_err_set(RS_EINVAL, "usage");
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--bucket") && i + 1 < argc)
            bucket = argv[++i];
        else
            return rs_err_set(RS_EINVAL, "usage");
    }
    add_param(params, &np, "bucket", bucket);
    return admin_call(cfg, explicit_endpoint,
                      "/_roadstore/admin/lifecycle/run", params, np,
                      lifecycle_local, bucket);
}

int rs_main_admin(int argc, char **argv)
{
    struct rs_config cfg;
    struct main_opts mo;
    struct user_args ua;
    struct store *s = NULL;
    char endpoint[300];
    int next, rc;

    if (rs_main_options(&cfg, &mo, argc, argv, &next))
        return 2;
    if (next < argc && (!strcmp(argv[next], "compact") ||
                        !strcmp(argv[next], "fsck"))) {
        struct maint_args ma;

        if (parse_maint_args(&ma, argc - next, argv + next)) {
            fprintf(stderr,
                    "usage: roadstore admin [--data DIR] [--config FILE] "
                    "[--endpoint URL] compact [--min-dead PERCENT]\n"
                    "       roadstore admin [...] fsck [--repair] "
                    "[--no-verify]\n");
            rs_config_dispose(&cfg);
            return 2;
        }
        rc = maint(&ma, &cfg, mo.endpoint);
        if (rc)
            fprintf(stderr, "roadstore admin: %s: %s\n", rs_strerror(rc),
                    rs_err_msg());
        rs_config_dispose(&cfg);
        return rc ? 1 : 0;
    }
    if (next < argc && !strcmp(argv[next], "lifecycle")) {
        rc = lifecycle_run(argc - next, argv + next, &cfg, mo.endpoint);
        if (rc == RS_EINVAL && !strcmp(rs_err_msg(), "usage")) {
            fprintf(stderr, "usage: roadstore admin [--data DIR] [--config "
                    "FILE] [--endpoint URL] lifecycle run [--bucket B]\n");
            rs_config_dispose(&cfg);
            return 2;
        }
        if (rc)
            fprintf(stderr, "roadstore admin: %s: %s\n", rs_strerror(rc),
                    rs_err_msg());
        rs_config_dispose(&cfg);
        return rc ? 1 : 0;
    }
    if (parse_user_args(&ua, argc - next, argv + next)) {
        fprintf(stderr,
                "usage: roadstore admin [--data DIR] [--config FILE] "
                "[--endpoint URL] user create NAME [--access-key K "
                "--secret-key S] [--display-name D] [--email E]\n"
                "       roadstore admin [...] user list | user info NAME | "
                "user remove NAME\n"
                "       roadstore admin [...] compact [--min-dead PERCENT]\n"
                "       roadstore admin [...] fsck [--repair] [--no-verify]\n"
                "       roadstore admin [...] lifecycle run [--bucket B]\n");
        rs_config_dispose(&cfg);
        return 2;
    }
    if (mo.endpoint) {
        rc = remote_user(mo.endpoint, &cfg, &ua, false);
    } else {
        rc = store_open(&s, &cfg);
        if (rc == RS_EBUSY &&
            rs_main_running_endpoint(&cfg, endpoint, sizeof(endpoint)) == RS_OK) {
            rc = remote_user(endpoint, &cfg, &ua, true);
        } else if (rc == RS_OK) {
            rc = local_user(s, &ua);
            store_close(s);
        }
    }
    if (rc)
        fprintf(stderr, "roadstore admin: %s: %s\n", rs_strerror(rc),
                rs_err_msg());
    rs_config_dispose(&cfg);
    return rc ? 1 : 0;
}
