/*
 * events/events.h - the event subsystem (seed 000's "event" part): object
 * events leave roadstore over ZeroMQ.
 *
 * Where events come from: the store's outbox (store/outbox.c).  Every
 * mutation of an object writes its event record in the same atomic index
 * batch as the change, so an acknowledged change always has its event and
 * an event always describes a change that happened.  This subsystem reads
 * the outbox in sequence order and delivers it; it never invents events.
 *
 * What leaves: the S3 event message (the JSON S3 sends to SNS/SQS/Lambda):
 *
 *   {"Records":[{"eventVersion":"2.1", "eventSource":"roadstore:s3",
 *     "awsRegion":REGION, "eventTime":"2026-12-02T08:00:00.123Z",
 *     "eventName":"ObjectCreated:Put",
 *     "userIdentity":{"principalId":REQUESTER},
 *     "requestParameters":{"sourceIPAddress":IP},
 *     "responseElements":{"x-amz-request-id":ID, "x-amz-id-2":ID},
 *     "s3":{"s3SchemaVersion":"1.0", "configurationId":ID (the matched
 *           notification configuration's Id, else "roadstore"),
 *       "bucket":{"name":B, "ownerIdentity":{"principalId":OWNER},
 *                 "arn":"arn:aws:s3:::B"},
 *       "object":{"key":URL-ENCODED KEY, "size":N, "eTag":ETAG,
 *                 "sequencer":16 HEX DIGITS, "userMetadata":{...}}},
 *     "roadstore":{"seq":N, "storageClass":CLASS, "zone":REGION,
 *                  "timeNs":NANOSECONDS SINCE 1970 (eventTime, exact),
 *                  "append":{"oldLength":A, "newLength":B}}}]}
 *
 * eventName is one of ObjectCreated:Put, ObjectCreated:Copy,
 * ObjectCreated:CompleteMultipartUpload, ObjectCreated:Append,
 * ObjectRemoved:Delete, ObjectTagging:Put, ObjectTagging:Delete,
 * ObjectAcl:Put, and the lifecycle runner's (store/lifecycle.c)
 * LifecycleExpiration:Delete (size and eTag of the object that went) and
 * LifecycleTransition (storageClass the new class); the runner's events
 * have principalId "roadstore:lifecycle" (S3 says "s3.amazonaws.com")
 * and no request id or source IP.  The sequencer is the outbox sequence (it grows for every
 * event of the node, hence for every event of a key, as S3 requires).
 * "roadstore" holds what S3's format has no place for; "append" is there
 * for appends only, so a worker processes just the new bytes.
 *
 * Transport: a PUB socket bound at [events] publish (default
 * tcp://127.0.0.1:9100).  Each message has two frames: the topic
 * "BUCKET/EVENTNAME" (subscribe to a prefix: "" for all, "cams/" for one
 * bucket, "cams/ObjectCreated:" for its creations) and the JSON.  PUB is
 * live and lossy by nature (a subscriber that is not connected misses what
 * goes out meanwhile); durable delivery is the outbox's job, read with a
 * cursor.
 *
 * Thread-safety: one publisher per server; a subscriber handle belongs to
 * one thread.
 */
#ifndef EVENTS_H
#define EVENTS_H

#include "core/rs.h"
#include "store/store.h"

/* ------------------------------------------------------------------ */
/* The message                                                          */
/* ------------------------------------------------------------------ */

/*
 * Render the outbox record json[len] (sequence seq) as the S3 event
 * message above; *topic_out gets "BUCKET/EVENTNAME".  Both malloc'ed.
 * config_id: s3.configurationId, the Id of the bucket notification
 * configuration that routed the event (NULL: "roadstore", for the live
 * stream and for groups that chose their events themselves).
 * RS_ECORRUPT for a record that is not one.
 */
int ev_render(char **msg_out, char **topic_out, uint64_t seq,
              const char *json, size_t len, const char *region,
              const char *config_id);

/* ------------------------------------------------------------------ */
/* The publisher (in `roadstore server`)                                */
/* ------------------------------------------------------------------ */

struct ev_publisher;

/* Bind the PUB socket at cfg->events_publish and start the thread that
 * publishes every event committed from now on, and removes events older
 * than cfg->events_retention from the outbox.  Does nothing (and *out is
 * NULL) when events are off or the endpoint is empty. */
int ev_publisher_start(struct ev_publisher **out, struct store *s,
                       const struct rs_config *cfg);
void ev_publisher_stop(struct ev_publisher *p); /* NULL does nothing */

struct ev_publisher_stats {
    uint64_t published;         /* messages sent since start */
    uint64_t cursor;            /* last sequence published */
    uint64_t head;              /* last sequence committed */
    uint64_t pruned;            /* outbox records removed since start */
};
void ev_publisher_get_stats(struct ev_publisher *p,
                            struct ev_publisher_stats *out);

/* ------------------------------------------------------------------ */
/* Subscribers (the C client library)                                   */
/* ------------------------------------------------------------------ */

struct ev_sub;

/* Connect a SUB socket to endpoint ("tcp://127.0.0.1:9100") and subscribe
 * to topics starting with prefix ("" for every event). */
int ev_sub_open(struct ev_sub **out, const char *endpoint,
                const char *prefix);
/*
 * Wait up to timeout_ms (-1: forever) for the next event.  RS_OK with
 * *topic and *msg (borrowed until the next call), RS_EBUSY on timeout,
 * RS_ESHUTDOWN when interrupted by a signal.
 */
int ev_sub_recv(struct ev_sub *sub, const char **topic, const char **msg,
                int timeout_ms);
void ev_sub_close(struct ev_sub *sub); /* NULL does nothing */
/*
 * Watch consumer group `group` at the broker endpoint
 * ("tcp://127.0.0.1:9101"): ev_sub_recv then gives a copy of every event
 * the broker routes to the group (its workers' filter or the bucket
 * notification rules that target it) from now on, or with backlog from
 * the group's cursor (so also what it has not acknowledged yet).  A
 * watcher takes no part in delivery: the group's workers get every event
 * as before.  ev_sub_recv answers RS_ENOTFOUND when the broker has no
 * such group (or deleted it).
 */
int ev_sub_watch(struct ev_sub **out, const char *endpoint,
                 const char *group, bool backlog);

/* ------------------------------------------------------------------ */
/* Durable consumer groups (broker.c in the server, worker.c for workers) */
/* ------------------------------------------------------------------ */

/*
 * A consumer group gets every event matching its filter, each handed to
 * ONE of its workers, at least once: the broker waits for the worker's
 * ACK, delivers again after [events] ack_timeout or when the worker falls
 * silent ([events] worker_timeout) or NACKs, and after max_attempts
 * deliveries puts the event on the group's dead-letter list (`roadstore
 * events dlq`).  Events of one object reach a group one at a time, in
 * order.  The group's cursor is durable: a group whose workers were all
 * down, or a server restarted (even by kill -9), resumes where it stopped.
 * A group is created by the first worker that names it and starts with
 * the events committed from then on; the outbox keeps events until every
 * group has them.
 *
 * WIRE PROTOCOL (ZeroMQ; the broker is a ROUTER at [events] broker,
 * default tcp://127.0.0.1:9101; a worker is a DEALER; every frame is
 * text), so workers in any language can speak it:
 *   worker -> broker
 *     HELLO <group> <filter JSON or ""> <credit>
 *         join (creating the group); filter {"bucket":B, "prefix":P,
 *         "suffix":S, "events":["ObjectCreated:", "s3:ObjectRemoved:*"]},
 *         every member optional; a filter replaces the group's; credit =
 *         events this worker takes at a time (default 16)
 *     ACK <seq>      processed: never delivered to this group again
 *     NACK <seq>     failed: deliver again (counts as an attempt)
 *     PING           at least every second while connected
 *     BYE            leave (events in flight go to the others)
 *   watcher -> broker (`roadstore events tail --group`, ev_sub_watch)
 *     WATCH <group> [live|backlog|SEQ]
 *                    copies of the group's events from now on (live),
 *                    from its cursor (backlog) or after SEQ (coming
 *                    back); no acks, no effect on delivery
 *     SEEN <n>       n more COPYs consumed: the broker keeps at most 256
 *                    unreported COPYs in flight (a ROUTER drops past its
 *                    high-water mark)
 *     PING, BYE      as a worker's
 *   broker -> watcher
 *     WATCHING <group>, COPY <seq> <topic> <S3 event message JSON>,
 *     ERROR <text> ("no such group", "group deleted"; "unknown worker:
 *     HELLO" after a restart: ev_sub_recv then says WATCH again, after
 *     the last sequence it got)
 *   broker -> worker
 *     WELCOME <group>
 *     EVENT <seq> <attempt> <topic> <S3 event message JSON>
 *     ERROR <text>   (e.g. "unknown worker: HELLO" after a broker restart:
 *                     say HELLO again; worker.c does)
 */

struct ev_broker;

/* Bind the broker at cfg->events_broker and start its thread (nothing,
 * *out NULL, when events are off or the endpoint is empty). */
int ev_broker_start(struct ev_broker **out, struct store *s,
                    const struct rs_config *cfg);
void ev_broker_stop(struct ev_broker *b); /* NULL does nothing */
/* {"head":N, "groups":[{"group","cursor","lag","workers","inflight",
 *  "delivered","acked","redelivered","dead_lettered","saved_cursor",
 *  "acked_per_s","delivered_per_s" (over the last second)}]},
 * malloc'ed. */
char *ev_broker_stats_json(struct ev_broker *b);
/* Lowest durable cursor of all groups (UINT64_MAX: none). */
uint64_t ev_broker_min_cursor(struct ev_broker *b);
/* Remove a group: its workers get ERROR "group deleted", its cursor and
 * dead letters go, and the outbox is no longer kept for it.  RS_ENOTFOUND,
 * RS_EINVAL (a webhook's), RS_ECONFLICT (a notification configuration
 * targets it). */
int ev_broker_group_delete(struct ev_broker *b, const char *group);

/*
 * Webhook targets of bucket notification configurations
 * (arn:roadstore:webhook:::URL, ingest/s3_notify.c): one thread POSTs
 * each matching event to its URL in order, at least once; the outbox is
 * the persistent queue (webhook.c has the retry rules).
 */
struct ev_webhooks;
int ev_webhooks_start(struct ev_webhooks **out, struct store *s,
                      const struct rs_config *cfg);
void ev_webhooks_stop(struct ev_webhooks *w); /* NULL does nothing */
/* [{"group","url","saved_cursor","delivered","failures","dead_lettered",
 *   "live"}], malloc'ed. */
char *ev_webhooks_stats_json(struct ev_webhooks *w);

/* The worker side. */
struct ev_worker;

struct ev_filter {
    const char *bucket;          /* NULL: any */
    const char *prefix, *suffix; /* of the object key; NULL: any */
    const char *const *events;   /* event-name prefixes, NULL-terminated;
                                    NULL: all */
};

struct ev_delivery {
    uint64_t seq;                /* ack with this */
    int attempt;                 /* 1 the first time */
    const char *topic;           /* BUCKET/EVENTNAME */
    const char *msg;             /* the S3 event message */
};

/* Connect to the broker at endpoint and join group (filter may be NULL:
 * keep the group's).  credit: events taken at a time (0: 16). */
int ev_worker_open(struct ev_worker **out, const char *endpoint,
                   const char *group, const struct ev_filter *filter,
                   int credit);
/* Next event, waiting up to timeout_ms (-1 forever); pings the broker
 * meanwhile and joins again after a broker restart.  RS_OK (*d valid
 * until the next call), RS_EBUSY on timeout, RS_ESHUTDOWN on a signal,
 * RS_EINVAL when the broker refused the group. */
int ev_worker_recv(struct ev_worker *w, struct ev_delivery *d,
                   int timeout_ms);
int ev_worker_ack(struct ev_worker *w, uint64_t seq);
int ev_worker_nack(struct ev_worker *w, uint64_t seq);
/* Says BYE and closes. */
void ev_worker_close(struct ev_worker *w); /* NULL does nothing */

#endif /* EVENTS_H */
