/*
 * ingest/ingest.h - the gateway: the S3 REST API over HTTP, SigV4
 * authentication, the operations endpoints (/_roadstore/health, metrics,
 * admin), and the client side of the admin endpoint used by
 * `roadstore admin --endpoint`.
 *
 * gw_start/gw_stop are called from main only; everything else the gateway
 * does happens on its own connection threads.
 */
#ifndef INGEST_H
#define INGEST_H

#include "core/rs.h"
#include "store/store.h"

struct gw;

/*
 * Listen on cfg->listen and serve the S3 API from store s (borrowed; it
 * must outlive the gateway).  Returns RS_EINVAL for a bad listen address,
 * RS_EIO when the socket cannot be bound (the message says why).
 */
int gw_start(struct gw **out, const struct rs_config *cfg, struct store *s);
/* Stop accepting, finish requests in flight, free.  NULL does nothing. */
void gw_stop(struct gw *g);
/* What the admin endpoint asks the event subsystem (events/), set by
 * main; a NULL slot: nothing runs there. */
struct gw_events_ops {
    /* GET /_roadstore/admin/events/stats: JSON, malloc'ed */
    char *(*stats)(void *arg);
    /* DELETE /_roadstore/admin/events/groups/NAME: an rs_err code */
    int (*group_delete)(void *arg, const char *group);
    void *arg;
};
void gw_set_events_ops(struct gw *g, const struct gw_events_ops *ops);

/*
 * Admin client: send one admin request to a running server at endpoint
 * ("http://127.0.0.1:9000"), signed with the given (root) credentials.
 * method/path are e.g. "POST" "/_roadstore/admin/users" (path segments
 * already percent-encoded); params (decoded name/value pairs, may be
 * none) become the query string.  The response body (JSON) goes to *body_out (malloc'ed, caller
 * frees), the HTTP status to *status_out.  RS_EIO when the server cannot
 * be reached.
 */
int gw_admin_request(const char *endpoint, const char *access_key,
                     const char *secret_key, const char *region,
                     const char *method, const char *path,
                     const struct rs_kv *params, size_t nparams,
                     int *status_out, char **body_out);
/* Run `compact` (min_dead percent) or `fsck` (repair, verify) on s and
 * give the JSON report (malloc'ed) in *json_out; what the admin endpoint
 * answers and `roadstore admin --data` prints.  fsck returns RS_ECORRUPT
 * when it found problems it did not repair. */
int gw_maint(struct store *s, const char *verb, unsigned min_dead,
             bool repair, bool verify, char **json_out);
/* Run one lifecycle pass (bucket NULL: all) on s and give its counts as
 * JSON (malloc'ed) in *json_out: what POST /_roadstore/admin/lifecycle/run
 * answers and `roadstore admin --data DIR lifecycle run` prints. */
int gw_lifecycle_run(struct store *s, const char *bucket, char **json_out);
/* Percent-encode s (every byte but unreserved ones) onto b. */
int gw_url_encode(struct rs_buf *b, const char *s);

#endif /* INGEST_H */
