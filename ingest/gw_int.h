/*
 * ingest/gw_int.h - functions shared between the gateway's HTTP files
 * (gw_http.c, gw_admin.c) and nothing else.
 */
#ifndef GW_INT_H
#define GW_INT_H

#include <microhttpd.h>

#include "ingest/s3_int.h"

/* True when r addresses /_roadstore/... (health, metrics, admin). */
bool gw__internal_path(struct s3_req *r);
/* First call for an internal request; false closes the connection. */
bool gw__internal_request(struct MHD_Connection *conn, struct s3_req *r);
/* Later calls (body bytes, then the final call). */
enum MHD_Result gw__internal_body(struct MHD_Connection *conn,
                                  struct s3_req *r, const char *data,
                                  size_t *size);
/* Request metrics: count by op and status, latency histogram. */
void gw__metrics_init(struct store *s);
void gw__observe(struct s3_req *r, double seconds);
bool gw__bucket_name_valid(const char *b);
/* SigV4 check of r and user lookup; sets r->err on failure. */
enum s3_errcode gw__authenticate(struct s3_req *r);
/* Queue r's response (error XML when r->err is set). */
enum MHD_Result gw__respond(struct MHD_Connection *conn, struct s3_req *r);
struct store *gw__store(struct gw *g);
const struct rs_config *gw__config(struct gw *g);
/* The broker's stats JSON (malloc'ed), NULL when no broker runs. */
char *gw__events_stats(const struct gw *g);
/* Remove a consumer group (its cursor and dead letters) from the broker. */
int gw__events_group_delete(const struct gw *g, const char *group);

#endif /* GW_INT_H */
