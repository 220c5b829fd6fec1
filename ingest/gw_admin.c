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
 *   POST   /_roadstore/admin/compact[?min-dead=PERCENT]
 *                                         compact merged containers (JSON)
 *   POST   /_roadstore/admin/fsck[?repair=1][&verify=0]
 *   POST   /_roadstore/admin/lifecycle/run[?bucket=B]
 *                                         one lifecycle pass now (JSON
 *                                         counts)
 *   GET    /_roadstore/admin/events/stats   consumer groups: cursor, lag,
 *                                          workers, counters (JSON)
 *   GET    /_roadstore/admin/events/dlq[?group=G]  dead-lettered events
 *   DELETE /_roadstore/admin/events/groups/G       remove consumer group G
 *                                          (cursor and dead letters)
 *                                         check (and repair) (JSON)
 *
 * Admin requests are SigV4-signed like S3 requests and only the root user
 * may make them.  Request metrics: requests by op and status, latency
 * histograms by op; store gauges (index and disk usage) are rendered here.
 */
#include "ingest/gw_int.h"
#include "ingest/ingest.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#define ADMIN_PREFIX "/_roadstore/admin/"
#define ADMIN_USERS "/_roadstore/admin/users"

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

/* ------------------------------------------------------------------ */
/* Maintenance: compact and fsck                                        */
/* ------------------------------------------------------------------ */

static void fsck_print(void *arg, const char *kind, const char *msg)
{
    json_array_append_new(arg, json_pack("{s:s,s:s}", "kind", kind,
                                         "detail", msg));
}

static json_t *compact_json(const struct store_compact_stats *st)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}",
                     "containers_scanned", (json_int_t)st->containers_scanned,
                     "bytes_total", (json_int_t)st->bytes_total,
                     "bytes_live", (json_int_t)st->bytes_live,
                     "containers_compacted",
                     (json_int_t)st->containers_compacted,
                     "objects_moved", (json_int_t)st->objects_moved,
                     "bytes_moved", (json_int_t)st->bytes_moved,
                     "bytes_freed", (json_int_t)st->bytes_freed,
                     "errors", (json_int_t)st->errors);
}

static json_t *fsck_json(const struct store_fsck_report *r, json_t *problems,
                           bool repair)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:b,s:o}",
                     "objects", (json_int_t)r->objects,
                     "parts", (json_int_t)r->parts,
                     "containers", (json_int_t)r->containers,
                     "merged_containers", (json_int_t)r->merged_containers,
                     "bytes_verified", (json_int_t)r->bytes_verified,
                     "missing", (json_int_t)r->missing,
                     "corrupt", (json_int_t)r->corrupt,
                     "orphans", (json_int_t)r->orphans,
                     "unreferenced", (json_int_t)r->unreferenced,
                     "dead_counters", (json_int_t)r->counters,
                     "repaired", (json_int_t)r->repaired,
                     "repair", repair, "problems", problems);
}

static int maint_json(struct store *s, const char *verb, unsigned min_dead,
                      bool repair, bool verify, json_t **out)
{
    int rc;

    if (!strcmp(verb, "compact")) {
        struct store_compact_stats st;
        if ((rc = store_compact(s, min_dead, &st)) == RS_OK)
            *out = compact_json(&st);
        return rc;
    } else {
        struct store_fsck_opts o = { repair, verify, fsck_print, NULL };
        struct store_fsck_report r;
        json_t *problems = json_array();

        o.arg = problems;
        if ((rc = store_fsck(s, &o, &r)) != RS_OK) {
            json_decref(problems);
            return rc;
        }
        *out = fsck_json(&r, problems, repair);
        /* Problems found (and not all repaired) make a non-zero exit. */
        if (r.missing + r.corrupt + r.orphans + r.unreferenced + r.counters >
                r.repaired)
            return rs_err_set(RS_ECORRUPT, "fsck found %llu problems",
                              (unsigned long long)(r.missing + r.corrupt +
                                                   r.orphans + r.unreferenced +
                                                   r.counters));
        return RS_OK;
    }
}

int gw_maint(struct store *s, const char *verb, unsigned min_dead,
             bool repair, bool verify, char **json_out)
{
    json_t *j = NULL;
    int rc = maint_json(s, verb, min_dead, repair, verify, &j);

    *json_out = j ? json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS) : NULL;
    json_decref(j);
    return rc;
}

static json_t *lifecycle_json(const struct store_lc_stats *st)
{
    return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:f}",
                     "buckets", (json_int_t)st->buckets,
                     "objects_scanned", (json_int_t)st->objects_scanned,
                     "expired", (json_int_t)st->expired,
                     "expired_bytes", (json_int_t)st->expired_bytes,
                     "transitioned", (json_int_t)st->transitioned,
                     "transitioned_bytes",
                     (json_int_t)st->transitioned_bytes,
                     "uploads_aborted", (json_int_t)st->uploads_aborted,
                     "skipped", (json_int_t)st->skipped,
                     "errors", (json_int_t)st->errors,
                     "seconds", st->last_pass_seconds);
}

int gw_lifecycle_run(struct store *s, const char *bucket, char **json_out)
{
    struct store_lc_stats st;
    json_t *j;
    int rc = store_lifecycle_run(s, bucket, &st);

    *json_out = NULL;
    if (rc != RS_OK)
        return rc;
    j = lifecycle_json(&st);
    *json_out = json_dumps(j, JSON_INDENT(2) | JSON_SORT_KEYS);
    json_decref(j);
    return RS_OK;
}

/* POST /_roadstore/admin/lifecycle/run[?bucket=B] */
static void admin_lifecycle(struct s3_req *r)
{
    const char *bucket = s3_req_param(r, "bucket");
    struct store_lc_stats st;
    int rc;

    if (strcmp(r->method, "POST")) {
        rsp_json(r, 405, json_pack("{s:s}", "error", "method"));
        return;
    }
    rc = store_lifecycle_run(r->store, bucket && *bucket ? bucket : NULL,
                             &st);
    if (rc == RS_OK)
        rsp_json(r, 200, lifecycle_json(&st));
    else
        rsp_error_json(r, rc == RS_ENOTFOUND ? 404 : 500, rc);
}

/* POST /_roadstore/admin/compact?min-dead=N, /_roadstore/admin/fsck
 * [?repair=1][&verify=0]. */
static void admin_maint(struct s3_req *r, const char *verb)
{
    const char *v;
    uint64_t pct = 50;
    json_t *j = NULL;
    int rc;

    if (strcmp(r->method, "POST")) {
        rsp_json(r, 405, json_pack("{s:s}", "error", "method"));
        return;
    }
    if ((v = s3_req_param(r, "min-dead")) &&
        (rs_parse_u64(&pct, v, strlen(v)) || pct > 100)) {
        rsp_json(r, 400, json_pack("{s:s}", "error", "min-dead: 0..100"));
        return;
    }
    {
        const char *rp = s3_req_param(r, "repair");
        const char *vf = s3_req_param(r, "verify");
        rc = maint_json(r->store, verb, (unsigned)pct, rp && !strcmp(rp, "1"),
                        !(vf && !strcmp(vf, "0")), &j);
    }
    if (j)
        rsp_json(r, rc == RS_OK || rc == RS_ECORRUPT ? 200 : 500, j);
    else
        rsp_error_json(r, 500, rc);
}

static int dlq_cb(void *arg, const char *group, uint64_t seq,
                  const char *json, size_t len)
{
    json_error_t err;
    json_t *e = json_loadb(json, len, 0, &err);

    if (!json_is_object(e)) {
        json_decref(e);
        e = json_object();
    }
    json_object_set_new(e, "group", json_string(group));
    json_object_set_new(e, "seq", json_integer((json_int_t)seq));
    json_array_append_new(arg, e);
    return 0;
}

/* DELETE /_roadstore/admin/events/groups/NAME */
static void admin_group_delete(struct s3_req *r, const char *name)
{
    int rc;

    if (strcmp(r->method, "DELETE")) {
        rsp_json(r, 405, json_pack("{s:s}", "error", "method"));
        return;
    }
    rc = gw__events_group_delete(r->gw, name);
    if (rc)
        rsp_error_json(r, rc == RS_ENOTFOUND  ? 404
                          : rc == RS_EINVAL   ? 400
                          : rc == RS_ECONFLICT ? 409
                                               : 500,
                       rc);
    else
        rsp_json(r, 200, json_pack("{s:s}", "removed", name));
}

/* GET /_roadstore/admin/events/stats, /_roadstore/admin/events/dlq. */
static void admin_events(struct s3_req *r, const char *what)
{
    if (strcmp(r->method, "GET")) {
        rsp_json(r, 405, json_pack("{s:s}", "error", "method"));
        return;
    }
    if (!strcmp(what, "stats")) {
        char *s = gw__events_stats(r->gw);
        json_error_t err;
        json_t *j = s ? json_loads(s, 0, &err) : NULL;

        free(s);
        if (!j)
            j = json_pack("{s:I, s:[]}", "head",
                          (json_int_t)store_events_head(r->store), "groups");
        rsp_json(r, 200, j);
    } else {
        json_t *arr = json_array();
        int rc = store_events_dlq_list(r->store, s3_req_param(r, "group"),
                                       dlq_cb, arr);
        if (rc) {
            json_decref(arr);
            rsp_error_json(r, rc == RS_EINVAL ? 400 : 500, rc);
        } else {
            rsp_json(r, 200, arr);
        }
    }
}

static void admin_dispatch(struct s3_req *r)
{
    const char *rest = r->raw_path + strlen(ADMIN_USERS);
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
        if (!strcmp(r->raw_path, ADMIN_PREFIX "compact"))
            admin_maint(r, "compact");
        else if (!strcmp(r->raw_path, ADMIN_PREFIX "fsck"))
            admin_maint(r, "fsck");
        else if (!strcmp(r->raw_path, ADMIN_PREFIX "lifecycle/run"))
            admin_lifecycle(r);
        else if (!strcmp(r->raw_path, ADMIN_PREFIX "events/stats"))
            admin_events(r, "stats");
        else if (!strcmp(r->raw_path, ADMIN_PREFIX "events/dlq"))
            admin_events(r, "dlq");
        else if (rs_str_startswith(r->raw_path,
                                   ADMIN_PREFIX "events/groups/"))
            admin_group_delete(r, r->raw_path +
                                      strlen(ADMIN_PREFIX "events/groups/"));
        else if (rs_str_startswith(r->raw_path, ADMIN_USERS))
            admin_dispatch(r);
        else
            rsp_json(r, 404, json_pack("{s:s}", "error", "not found"));
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

/* The merge path: cache, WAL, group commit, flushes, compaction. */
static void merge_metrics(struct rs_buf *out,
                          const struct store_merge_stats *m)
{
    uint64_t cum = 0, sum_batches = 0;

    (void)rs_buf_printf(out,
        "# HELP roadstore_merge_cache_bytes Memory of merged containers not "
        "yet flushed, and its limit.\n"
        "# TYPE roadstore_merge_cache_bytes gauge\n"
        "roadstore_merge_cache_bytes{kind=\"used\"} %llu\n"
        "roadstore_merge_cache_bytes{kind=\"limit\"} %llu\n"
        "# HELP roadstore_merge_containers Merged containers by state.\n"
        "# TYPE roadstore_merge_containers gauge\n"
        "roadstore_merge_containers{state=\"memory\"} %llu\n"
        "roadstore_merge_containers{state=\"disk\"} %llu\n"
        "# HELP roadstore_merge_objects Small objects logged into merged "
        "containers, by where the container is (on disk: live or since "
        "deleted).\n"
        "# TYPE roadstore_merge_objects gauge\n"
        "roadstore_merge_objects{state=\"memory\"} %llu\n"
        "roadstore_merge_objects{state=\"disk\"} %llu\n"
        "# HELP roadstore_merge_bytes Bytes of merged containers by state.\n"
        "# TYPE roadstore_merge_bytes gauge\n"
        "roadstore_merge_bytes{state=\"memory\"} %llu\n"
        "roadstore_merge_bytes{state=\"disk\"} %llu\n"
        "# HELP roadstore_merge_logged_objects_total Small objects logged "
        "through the WAL.\n"
        "# TYPE roadstore_merge_logged_objects_total counter\n"
        "roadstore_merge_logged_objects_total %llu\n"
        "# HELP roadstore_merge_flushes_total Merged containers written to "
        "their storage group.\n"
        "# TYPE roadstore_merge_flushes_total counter\n"
        "roadstore_merge_flushes_total %llu\n"
        "# HELP roadstore_merge_flush_bytes_total Bytes of flushed "
        "containers.\n"
        "# TYPE roadstore_merge_flush_bytes_total counter\n"
        "roadstore_merge_flush_bytes_total %llu\n"
        "# HELP roadstore_merge_flush_seconds_total Time spent flushing.\n"
        "# TYPE roadstore_merge_flush_seconds_total counter\n"
        "roadstore_merge_flush_seconds_total %.6f\n"
        "# HELP roadstore_merge_flush_errors_total Failed flushes (retried)."
        "\n"
        "# TYPE roadstore_merge_flush_errors_total counter\n"
        "roadstore_merge_flush_errors_total %llu\n"
        "# HELP roadstore_wal_records_total Records written to the WAL.\n"
        "# TYPE roadstore_wal_records_total counter\n"
        "roadstore_wal_records_total %llu\n"
        "# HELP roadstore_wal_bytes_total Bytes written to the WAL.\n"
        "# TYPE roadstore_wal_bytes_total counter\n"
        "roadstore_wal_bytes_total %llu\n"
        "# HELP roadstore_wal_fsyncs_total fdatasync calls of the WAL (one "
        "per group-commit batch).\n"
        "# TYPE roadstore_wal_fsyncs_total counter\n"
        "roadstore_wal_fsyncs_total %llu\n"
        "# HELP roadstore_wal_fsyncs_per_put fdatasyncs per logged PUT since "
        "start (1 = no batching).\n"
        "# TYPE roadstore_wal_fsyncs_per_put gauge\n"
        "roadstore_wal_fsyncs_per_put %.4f\n"
        "# HELP roadstore_wal_failed_batches_total Group commits that failed "
        "(every PUT in them got an error).\n"
        "# TYPE roadstore_wal_failed_batches_total counter\n"
        "roadstore_wal_failed_batches_total %llu\n"
        "# HELP roadstore_wal_segments WAL segment files present.\n"
        "# TYPE roadstore_wal_segments gauge\n"
        "roadstore_wal_segments %llu\n"
        "# HELP roadstore_wal_replay_records Records replayed at the last "
        "start.\n"
        "# TYPE roadstore_wal_replay_records gauge\n"
        "roadstore_wal_replay_records %llu\n"
        "# HELP roadstore_wal_replay_seconds Time of the WAL replay at the "
        "last start.\n"
        "# TYPE roadstore_wal_replay_seconds gauge\n"
        "roadstore_wal_replay_seconds %.6f\n"
        "# HELP roadstore_compaction_containers_total Merged containers "
        "compacted.\n"
        "# TYPE roadstore_compaction_containers_total counter\n"
        "roadstore_compaction_containers_total %llu\n"
        "# HELP roadstore_compaction_objects_moved_total Live objects moved "
        "by compaction.\n"
        "# TYPE roadstore_compaction_objects_moved_total counter\n"
        "roadstore_compaction_objects_moved_total %llu\n"
        "# HELP roadstore_compaction_bytes_freed_total Container bytes "
        "handed to the collector by compaction.\n"
        "# TYPE roadstore_compaction_bytes_freed_total counter\n"
        "roadstore_compaction_bytes_freed_total %llu\n"
        "# HELP roadstore_wal_batch_records Records per group-commit batch."
        "\n"
        "# TYPE roadstore_wal_batch_records histogram\n",
        (unsigned long long)m->cache_bytes, (unsigned long long)m->cache_limit,
        (unsigned long long)m->containers_open,
        (unsigned long long)m->containers_on_disk,
        (unsigned long long)m->objects_in_memory,
        (unsigned long long)m->objects_on_disk,
        (unsigned long long)m->bytes_in_memory,
        (unsigned long long)m->bytes_on_disk,
        (unsigned long long)m->objects_logged,
        (unsigned long long)m->flushes, (unsigned long long)m->flush_bytes,
        m->flush_seconds, (unsigned long long)m->flush_errors,
        (unsigned long long)m->wal_records, (unsigned long long)m->wal_bytes,
        (unsigned long long)m->wal_fsyncs,
        m->wal_records ? (double)m->wal_fsyncs / (double)m->wal_records : 0.0,
        (unsigned long long)m->wal_failed_batches,
        (unsigned long long)m->wal_segments,
        (unsigned long long)m->replay_records, m->replay_seconds,
        (unsigned long long)m->compactions,
        (unsigned long long)m->compacted_objects,
        (unsigned long long)m->compacted_bytes_freed);
    for (int b = 0; b < STORE_WAL_BATCH_BUCKETS; b++) {
        cum += m->wal_batch_hist[b];
        sum_batches += m->wal_batch_hist[b];
        if (b < STORE_WAL_BATCH_BUCKETS - 1)
            (void)rs_buf_printf(out,
                "roadstore_wal_batch_records_bucket{le=\"%u\"} %llu\n",
                1u << b, (unsigned long long)cum);
    }
    (void)rs_buf_printf(out,
        "roadstore_wal_batch_records_bucket{le=\"+Inf\"} %llu\n"
        "roadstore_wal_batch_records_sum %llu\n"
        "roadstore_wal_batch_records_count %llu\n",
        (unsigned long long)cum, (unsigned long long)m->wal_records,
        (unsigned long long)sum_batches);
}

/* The lifecycle runner (store/lifecycle.c): totals since start. */
static void lifecycle_metrics(struct rs_buf *out, struct store *s)
{
    struct store_lc_stats lc;

    store_lifecycle_totals(s, &lc);
    (void)rs_buf_printf(out,
        "# HELP roadstore_lifecycle_passes_total Lifecycle passes run.\n"
        "# TYPE roadstore_lifecycle_passes_total counter\n"
        "roadstore_lifecycle_passes_total %llu\n"
        "# HELP roadstore_lifecycle_objects_total Objects acted on by "
        "lifecycle rules, by action.\n"
        "# TYPE roadstore_lifecycle_objects_total counter\n"
        "roadstore_lifecycle_objects_total{action=\"expired\"} %llu\n"
        "roadstore_lifecycle_objects_total{action=\"transitioned\"} %llu\n"
        "roadstore_lifecycle_objects_total{action=\"skipped\"} %llu\n"
        "# HELP roadstore_lifecycle_bytes_total Bytes of objects expired "
        "and transitioned.\n"
        "# TYPE roadstore_lifecycle_bytes_total counter\n"
        "roadstore_lifecycle_bytes_total{action=\"expired\"} %llu\n"
        "roadstore_lifecycle_bytes_total{action=\"transitioned\"} %llu\n"
        "# HELP roadstore_lifecycle_uploads_aborted_total Incomplete "
        "multipart uploads aborted.\n"
        "# TYPE roadstore_lifecycle_uploads_aborted_total counter\n"
        "roadstore_lifecycle_uploads_aborted_total %llu\n"
        "# HELP roadstore_lifecycle_errors_total Lifecycle actions that "
        "failed.\n"
        "# TYPE roadstore_lifecycle_errors_total counter\n"
        "roadstore_lifecycle_errors_total %llu\n"
        "# HELP roadstore_lifecycle_last_pass_seconds Duration of the last "
        "lifecycle pass.\n"
        "# TYPE roadstore_lifecycle_last_pass_seconds gauge\n"
        "roadstore_lifecycle_last_pass_seconds %.6f\n",
        (unsigned long long)lc.passes, (unsigned long long)lc.expired,
        (unsigned long long)lc.transitioned, (unsigned long long)lc.skipped,
        (unsigned long long)lc.expired_bytes,
        (unsigned long long)lc.transitioned_bytes,
        (unsigned long long)lc.uploads_aborted,
        (unsigned long long)lc.errors, lc.last_pass_seconds);
}

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
    if (st.merge.enabled)
        merge_metrics(out, &st.merge);
    lifecycle_metrics(out, arg);
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
