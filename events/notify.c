/*
 * events/notify.c - the bucket notification rules (written by the gateway,
 * ingest/s3_notify.c, as n/<bucket> records), loaded into memory and
 * matched against events for the broker (zmq targets) and the webhook
 * deliverer (webhook targets).
 *
 * An S3 event pattern matches an event name: "s3:*" everything,
 * "s3:ObjectCreated:*" every ObjectCreated:..., "s3:ObjectCreated:Put"
 * exactly that one.
 */
#include "events/events_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

struct rule {
    char *id;                        /* the configuration's Id */
    char *bucket;
    enum ev_target_type type;
    char *target;                    /* group name or URL */
    char *prefix, *suffix;           /* NULL: any */
    char **events;
    size_t nevents;
    uint64_t since;
};

struct ev_rules {
    struct rule *r;
    size_t n, cap;
};

static bool parse_arn(const char *arn, enum ev_target_type *type,
                      const char **target)
{
    const char *p = arn;

    for (int i = 0; i < 5; i++) {
        if (!(p = strchr(p, ':')))
            return false;
        p++;
    }
    if (!strncmp(arn, "arn:roadstore:zmq:", 18))
        *type = EV_TARGET_ZMQ;
    else if (!strncmp(arn, "arn:roadstore:webhook:", 22))
        *type = EV_TARGET_WEBHOOK;
    else
        return false;
    *target = p;
    return *p != '\0';
}

static char *opt(json_t *j, const char *k)
{
    const char *v = json_string_value(json_object_get(j, k));
    return v ? rs_xstrdup(v) : NULL;
}

static int load_bucket(void *arg, const char *bucket, const char *json,
                       size_t len)
{
    struct ev_rules *rs = arg;
    json_error_t err;
    json_t *doc = json_loadb(json, len, 0, &err), *rule, *ev;
    uint64_t doc_since = (uint64_t)json_integer_value(
        json_object_get(doc, "since"));
    size_t i, j;

    json_array_foreach(json_object_get(doc, "rules"), i, rule) {
        const char *arn = json_string_value(json_object_get(rule, "arn"));
        const char *target;
        enum ev_target_type type;
        struct rule *r;

        if (!arn || !parse_arn(arn, &type, &target))
            continue;
        if (rs->n == rs->cap) {
            rs->cap = rs->cap ? 2 * rs->cap : 8;
            rs->r = rs_xrealloc(rs->r, rs->cap * sizeof *rs->r);
        }
        r = &rs->r[rs->n++];
        memset(r, 0, sizeof *r);
        r->id = opt(rule, "id");
        r->bucket = rs_xstrdup(bucket);
        r->type = type;
        r->target = rs_xstrdup(target);
        r->prefix = opt(rule, "prefix");
        r->suffix = opt(rule, "suffix");
        r->since = json_is_integer(json_object_get(rule, "since"))
                       ? (uint64_t)json_integer_value(
                             json_object_get(rule, "since"))
                       : doc_since;
        r->events = rs_xcalloc(json_array_size(json_object_get(rule,
                                                               "events")) +
                                   1,
                               sizeof *r->events);
        json_array_foreach(json_object_get(rule, "events"), j, ev)
            if (json_is_string(ev))
                r->events[r->nevents++] = rs_xstrdup(json_string_value(ev));
    }
    json_decref(doc);
    return 0;
}

struct ev_rules *ev_rules_load(struct store *s)
{
    struct ev_rules *rs = rs_xcalloc(1, sizeof *rs);

    if (store_notification_list(s, load_bucket, rs) != RS_OK)
        rs_warn("events: notification rules unreadable: %s", rs_err_msg());
    return rs;
}

void ev_rules_free(struct ev_rules *rs)
{
    if (!rs)
        return;
    for (size_t i = 0; i < rs->n; i++) {
        struct rule *r = &rs->r[i];
        free(r->id);
        free(r->bucket);
        free(r->target);
        free(r->prefix);
        free(r->suffix);
        for (size_t j = 0; j < r->nevents; j++)
            free(r->events[j]);
        free(r->events);
    }
    free(rs->r);
    free(rs);
}

bool ev_pattern_match(const char *pattern, const char *name)
{
    size_t n;

    if (!strncmp(pattern, "s3:", 3))
        pattern += 3;
    n = strlen(pattern);
    if (n && pattern[n - 1] == '*')
        return !strncmp(name, pattern, n - 1);
    return !strcmp(name, pattern);
}

static bool rule_match(const struct rule *r, const char *bucket,
                       const char *key, const char *name)
{
    size_t kl = strlen(key);

    if (strcmp(r->bucket, bucket) != 0)
        return false;
    if (r->prefix && strncmp(key, r->prefix, strlen(r->prefix)) != 0)
        return false;
    if (r->suffix && (kl < strlen(r->suffix) ||
                      strcmp(key + kl - strlen(r->suffix), r->suffix) != 0))
        return false;
    for (size_t i = 0; i < r->nevents; i++)
        if (ev_pattern_match(r->events[i], name))
            return true;
    return false;
}

bool ev_rules_match(const struct ev_rules *rs, enum ev_target_type type,
                    const char *target, const char *bucket, const char *key,
                    const char *name, const char **id_out)
{
    for (size_t i = 0; rs && i < rs->n; i++)
        if (rs->r[i].type == type && !strcmp(rs->r[i].target, target) &&
            rule_match(&rs->r[i], bucket, key, name)) {
            if (id_out)
                *id_out = rs->r[i].id;
            return true;
        }
    return false;
}

bool ev_rules_has_target(const struct ev_rules *rs, enum ev_target_type type,
                         const char *target)
{
    for (size_t i = 0; rs && i < rs->n; i++)
        if (rs->r[i].type == type && !strcmp(rs->r[i].target, target))
            return true;
    return false;
}

size_t ev_rules_targets(const struct ev_rules *rs, enum ev_target_type type,
                        const char **names, uint64_t *since, size_t max)
{
    size_t n = 0;

    for (size_t i = 0; rs && i < rs->n; i++) {
        size_t j;
        if (rs->r[i].type != type)
            continue;
        for (j = 0; j < n; j++)
            if (!strcmp(names[j], rs->r[i].target))
                break;
        if (j < n) {
            if (rs->r[i].since < since[j])
                since[j] = rs->r[i].since;
            continue;
        }
        if (n == max)
            break;
        names[n] = rs->r[i].target;
        since[n++] = rs->r[i].since;
    }
    return n;
}
