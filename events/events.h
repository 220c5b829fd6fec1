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
 *     "s3":{"s3SchemaVersion":"1.0", "configurationId":"roadstore",
 *       "bucket":{"name":B, "ownerIdentity":{"principalId":OWNER},
 *                 "arn":"arn:aws:s3:::B"},
 *       "object":{"key":URL-ENCODED KEY, "size":N, "eTag":ETAG,
 *                 "sequencer":16 HEX DIGITS, "userMetadata":{...}}},
 *     "roadstore":{"seq":N, "storageClass":CLASS, "zone":REGION,
 *                  "append":{"oldLength":A, "newLength":B}}}]}
 *
 * eventName is one of ObjectCreated:Put, ObjectCreated:Copy,
 * ObjectCreated:CompleteMultipartUpload, ObjectCreated:Append,
 * ObjectRemoved:Delete, ObjectTagging:Put, ObjectTagging:Delete,
 * ObjectAcl:Put.  The sequencer is the outbox sequence (it grows for every
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
 * RS_ECORRUPT for a record that is not one.
 */
int ev_render(char **msg_out, char **topic_out, uint64_t seq,
              const char *json, size_t len, const char *region);

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

#endif /* EVENTS_H */
