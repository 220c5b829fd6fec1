/*
 * events/events_int.h - what the files of events/ share and nobody else
 * uses: the bucket notification rules (notify.c) and the webhook
 * deliverer (webhook.c).
 */
#ifndef EVENTS_INT_H
#define EVENTS_INT_H

#include "events/events.h"

#include <jansson.h>

/* The fields of an outbox record that events are routed by (render.c). */
struct ev_rec {
    json_t *j;                   /* owns the strings below */
    const char *bucket, *key, *name;
    int64_t t_ns;                /* commit time */
};
/* false (nothing to free) for a record without bucket, key and name. */
bool ev_rec_parse(struct ev_rec *r, const char *json, size_t len);
void ev_rec_free(struct ev_rec *r);
/* A consumer group's filter as HELLO carries it and the broker keeps it:
 * {"bucket", "prefix", "suffix" (those not NULL), "events": [the first
 * nevents of events, or up to a NULL when nevents is SIZE_MAX]}. */
json_t *ev_filter_json(const char *bucket, const char *prefix,
                       const char *suffix, const char *const *events,
                       size_t nevents);
/* The "cursor" of a consumer group's or webhook's G/ record (0: none). */
uint64_t ev_group_cursor(const char *json, size_t len);

/* The clients' ZeroMQ plumbing (sub.c): a context and a socket of type
 * connected to endpoint (for SUB also subscribed to prefix); on failure
 * both are closed and NULL, RS_EINVAL with the reason. */
int ev_zconnect(void **ctx, void **sock, int type, const char *endpoint,
                int linger_ms, const char *prefix);
/* Receive one frame into *buf (grown as needed, NUL-terminated); *more
 * says another frame follows.  RS_ESHUTDOWN when a signal interrupted. */
int ev_zframe(void *sock, char **buf, size_t *cap, bool *more);

/* Targets of bucket notification rules. */
enum ev_target_type {
    EV_TARGET_ZMQ = 1,           /* a consumer group of the broker */
    EV_TARGET_WEBHOOK = 2,       /* a URL the server POSTs events to */
};

/* Consumer groups whose name starts so are webhook deliveries (their
 * cursors, in G/ records like the broker's); the broker leaves them
 * alone and refuses them in HELLO. */
#define EV_WEBHOOK_GROUP_PREFIX "webhook."

/* Every bucket's rules, as loaded at one moment. */
struct ev_rules;
struct ev_rules *ev_rules_load(struct store *s);
void ev_rules_free(struct ev_rules *rs); /* NULL does nothing */
/* Does an S3 pattern ("s3:ObjectCreated:*") match an event name
 * ("ObjectCreated:Put")? */
bool ev_pattern_match(const char *pattern, const char *name);
/* Does a rule of bucket for target (type, name) match the event?  *id_out
 * (may be NULL) gets the matching configuration's Id, borrowed from rs. */
bool ev_rules_match(const struct ev_rules *rs, enum ev_target_type type,
                    const char *target, const char *bucket, const char *key,
                    const char *name, const char **id_out);
bool ev_rules_has_target(const struct ev_rules *rs, enum ev_target_type type,
                         const char *target);
/* The distinct targets of a type (names borrowed from rs) with the
 * earliest "since" of their rules; at most max; returns how many. */
size_t ev_rules_targets(const struct ev_rules *rs, enum ev_target_type type,
                        const char **names, uint64_t *since, size_t max);

#endif /* EVENTS_INT_H */
