/*
 * ingest/gw_admin.c - the operations endpoints under /_roadstore/ (a name
 * no bucket can have, so there is no clash with the S3 namespace):
 *
 *   GET    /_roadstore/health             200 "ok" when ready to serve
 *   GET    /_roadstore/metrics            Prometheus text format
 *   GET    /_roadstore/admin/users        list users (JSON)
 *   POST   /_roadstore/admin/users?name=N[&access-key=K&secret-key=S
 *          &display-name=D&email=E]       create a user (JSON with keys)
 *   GET    /_roadstore/admin/users/N      one user (JSON)
 *   DELETE /_roadstore/admin/users/N      remove a user
 *
 * Admin requests are SigV4-signed like S3 requests and only the root user
 * may make them.  Request metrics: requests by op and status, latency
 * histograms by op; store gauges (index and disk usage) are rendered here.
 */
#include "ingest/gw_int.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define ADMIN_PREFIX "/_roadstore/admin/users"

bool gw__internal_path(struct s3_req *r)
{
    /* Only these; any other /_roadstore... path is an S3 request for a
     * bucket name that S3 rules reject (InvalidBucketName). */
    r->internal = !strcmp(r->raw_path, "/_roadstore/health") ||
                  !strcmp(r->raw_path, "/_roadstore/metrics") ||
                  rs_str_startswith(r->raw_path, ADMIN_PREFIX);
    return r->internal;
}

static void rsp_text(struct s3_req *r, int status, const char *ctype,
                     const char *text)
{
    r->status = status;
    rs_buf_reset(&r->rsp_body);
    (void)rs_buf_puts(&r->rsp_body, text);
    s3_rsp_header(r, "Content-Type", ctype);
}

static void rsp_json(struct s3_req *r, int status, json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);

    rsp_text(r, status, "application/json", s ? s : "{}");
    s3_rsp_header(r, "Content-Type", "application/json");
    free(s);
    json_decref(j);
}

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

static void rsp_error_json(struct s3_req *r, int status, int rc)
{
    rsp_json(r, status, json_pack("{s:s, s:s}", "error", rs_strerror(rc),
                                  "message", rs_err_msg()));
}

static int list_cb(void *arg, const struct store_user *u)
{
    json_array_append_new(arg, user_json(u, false));
    return 0;
}

static void admin_create(struct s3_req *r)
{
    const char *name = s3_req_param(r, "name");
    const char *ak = s3_req_param(r, "access-key");
    const char *sk = s3_req_param(r, "secret-key");
    const char *dn = s3_req_param(r, "display-name");
    const char *em = s3_req_param(r, "email");
    struct store_user u;
    int rc;

    memset(&u, 0, sizeof(u));
    if (!name || !*name || strlen(name) >= sizeof(u.name) ||
        (ak && strlen(ak) >= sizeof(u.access_key)) ||
        (sk && strlen(sk) >= sizeof(u.secret_key)) ||
        (dn && strlen(dn) >= sizeof(u.display_name)) ||
        (em && strlen(em) >= sizeof(u.email))) {
        rsp_json(r, 400, json_pack("{s:s}", "error",
                                   "name required; fields too long"));
        return;
    }
    snprintf(u.name, sizeof(u.name), "%s", name);
    if (ak && *ak)
        snprintf(u.access_key, sizeof(u.access_key), "%s", ak);
    if (sk && *sk)
        snprintf(u.secret_key, sizeof(u.secret_key), "%s", sk);
    store_user_generate_keys(&u);
    snprintf(u.display_name, sizeof(u.display_name), "%s",
             dn && *dn ? dn : name);
    snprintf(u.email, sizeof(u.email), "%s", em ? em : "");
    u.created_ns = rs_now_ns();
    rc = store_user_create(r->store, &u);
    if (rc == RS_EEXIST)
        rsp_error_json(r, 409, rc);
    else if (rc)
        rsp_error_json(r, 500, rc);
    else
        rsp_json(r, 200, user_json(&u, true));
}

static void admin_dispatch(struct s3_req *r)
{
    const char *rest = r->raw_path + strlen(ADMIN_PREFIX);
    struct store_user u;
    char *name;
    int rc;

    if (*rest == '\0') {
        if (!strcmp(r->method, "GET")) {
            json_t *arr = json_array();

            rc = store_user_list(r->store, list_cb, arr);
            if (rc) {
                json_decref(arr);
                rsp_error_json(r, 500, rc);
            } else {
                rsp_json(r, 200, arr);
            }
        } else if (!strcmp(r->method, "POST") || !strcmp(r->method, "PUT")) {
            admin_create(r);
        } else {
            rsp_json(r, 405, json_pack("{s:s}", "error", "method"));
        }
        return;
    }
    if (*rest != '/' || !(name = s3_url_decode(r->a, rest + 1,
                                               strlen(rest + 1)))) {
        rsp_json(r, 404, json_pack("{s:s}", "error", "not found"));
        return;
    }
    if (!strcmp(r->method, "GET")) {
        rc = store_user_get(r->store, &u, name);
        if (rc)
            rsp_error_json(r, rc == RS_ENOTFOUND ? 404 : 500, rc);
        else
            rsp_json(r, 200, user_json(&u, true));
    } else if (!strcmp(r->method, "DELETE")) {
        rc = store_user_remove(r->store, name);
        if (rc)
            rsp_error_json(r, rc == RS_ENOTFOUND  ? 404
                              : rc == RS_ECONFLICT ? 409
                                                   : 500,
                           rc);
        else
            rsp_json(r, 200, json_pack("{s:s}", "removed", name));
    } else {
        rsp_json(r, 405, json_pack("{s:s}", "error", "method"));
    }
}

bool gw__internal_request(struct MHD_Connection *conn, struct s3_req *r)
{
    static const struct s3_op health = { "Health", S3_OP_NO_BUCKET, NULL,
                                         NULL, NULL };
    static const struct s3_op metrics = { "Metrics", S3_OP_NO_BUCKET, NULL,
                                          NULL, NULL };
    static const struct s3_op admin = { "Admin", S3_OP_NO_BUCKET, NULL,
                                        NULL, NULL };

    if (!strcmp(r->raw_path, "/_roadstore/health")) {
        r->op = &health;
        rsp_text(r, 200, "text/plain", "ok\n");
    } else if (!strcmp(r->raw_path, "/_roadstore/metrics")) {
        r->op = &metrics;
        rs_buf_reset(&r->rsp_body);
        (void)rs_metrics_render(&r->rsp_body);
        r->status = 200;
        s3_rsp_header(r, "Content-Type", "text/plain; version=0.0.4");
    } else if (rs_str_startswith(r->raw_path, ADMIN_PREFIX)) {
        r->op = &admin;
        if (gw__authenticate(r) != S3E_NONE)
            return gw__respond(conn, r) == MHD_YES;
        if (!r->authenticated || !r->user.root) {
            s3_fail(r, S3E_ACCESS_DENIED,
                    "admin requests need the root credentials");
            return gw__respond(conn, r) == MHD_YES;
        }
        admin_dispatch(r);
    }
    return gw__respond(conn, r) == MHD_YES;
}

enum MHD_Result gw__internal_body(struct MHD_Connection *conn,
                                  struct s3_req *r, const char *data,
                                  size_t *size)
{
    (void)conn;
    (void)r;
    (void)data;
    *size = 0; /* the response is queued already: discard */
    return MHD_YES;
}

/* ------------------------------------------------------------------ */
/* Request metrics                                                      */
/* ------------------------------------------------------------------ */

static void store_metrics(struct rs_buf *out, void *arg)
{
    static const char *groups[2] = { "standard", "low-frequency" };
    struct store_stats st;
    int i;

    if (store_get_stats(arg, &st))
        return;
    (void)rs_buf_printf(out,
        "# HELP roadstore_index_bytes RocksDB index size by kind.\n"
        "# TYPE roadstore_index_bytes gauge\n"
        "roadstore_index_bytes{kind=\"live\"} %llu\n"
        "roadstore_index_bytes{kind=\"sst\"} %llu\n"
        "roadstore_index_bytes{kind=\"memtable\"} %llu\n"
        "# HELP roadstore_index_keys Estimated number of index keys.\n"
        "# TYPE roadstore_index_keys gauge\n"
        "roadstore_index_keys %llu\n"
        "# HELP roadstore_gc_pending Containers waiting for removal.\n"
        "# TYPE roadstore_gc_pending gauge\n"
        "roadstore_gc_pending %llu\n"
        "# HELP roadstore_disk_bytes Storage group disk usage.\n"
        "# TYPE roadstore_disk_bytes gauge\n",
        (unsigned long long)st.index_live_bytes,
        (unsigned long long)st.index_sst_bytes,
        (unsigned long long)st.index_memtable_bytes,
        (unsigned long long)st.index_keys_estimate,
        (unsigned long long)st.gc_pending);
    for (i = 0; i < 2; i++)
        (void)rs_buf_printf(out,
            "roadstore_disk_bytes{group=\"%s\",kind=\"used\"} %llu\n"
            "roadstore_disk_bytes{group=\"%s\",kind=\"free\"} %llu\n",
            groups[i], (unsigned long long)st.group_used_bytes[i],
            groups[i], (unsigned long long)st.group_free_bytes[i]);
}

void gw__metrics_init(struct store *s)
{
    rs_metrics_register_writer(store_metrics, s);
}

void gw__observe(struct s3_req *r, double seconds)
{
    char labels[160];
    const char *op = r->op ? r->op->name : "Unknown";

    snprintf(labels, sizeof(labels), "op=\"%s\",code=\"%d\"", op,
             r->status ? r->status : 0);
    rs_counter_add(rs_counter_get("roadstore_requests_total", labels,
                                  "Requests by operation and HTTP status."),
                   1);
    snprintf(labels, sizeof(labels), "op=\"%s\"", op);
    rs_histogram_observe(rs_histogram_get("roadstore_request_duration_seconds",
                                          labels,
                                          "Request latency by operation."),
                         seconds);
}
