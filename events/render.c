/*
 * events/render.c - an outbox record (store/outbox.c) as the S3 event
 * message (events.h shows it), built with jansson.
 */
#include "events/events_int.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

bool ev_rec_parse(struct ev_rec *r, const char *json, size_t len)
{
    json_error_t err;

    r->j = json_loadb(json, len, 0, &err);
    r->bucket = json_string_value(json_object_get(r->j, "b"));
    r->key = json_string_value(json_object_get(r->j, "k"));
    r->name = json_string_value(json_object_get(r->j, "n"));
    r->t_ns = (int64_t)json_integer_value(json_object_get(r->j, "t"));
    if (r->bucket && r->key && r->name)
        return true;
    ev_rec_free(r);
    return false;
}

void ev_rec_free(struct ev_rec *r)
{
    json_decref(r->j);
    r->j = NULL;
}

json_t *ev_filter_json(const char *bucket, const char *prefix,
                       const char *suffix, const char *const *events,
                       size_t nevents)
{
    json_t *j = json_object(), *ev = json_array();

    if (bucket)
        json_object_set_new(j, "bucket", json_string(bucket));
    if (prefix)
        json_object_set_new(j, "prefix", json_string(prefix));
    if (suffix)
        json_object_set_new(j, "suffix", json_string(suffix));
    for (size_t i = 0; events && i < nevents && events[i]; i++)
        json_array_append_new(ev, json_string(events[i]));
    json_object_set_new(j, "events", ev);
    return j;
}

uint64_t ev_group_cursor(const char *json, size_t len)
{
    json_error_t err;
    json_t *j = json_loadb(json, len, 0, &err);
    uint64_t c = (uint64_t)json_integer_value(json_object_get(j, "cursor"));

    json_decref(j);
    return c;
}

static const char *jstr(json_t *j, const char *k)
{
    const char *v = json_string_value(json_object_get(j, k));
    return v ? v : "";
}

/* S3 URL-encodes the key in events (space as '+', as S3 does). */
static char *url_encode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    char *out = rs_xmalloc(3 * strlen(s) + 1), *o = out;

    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
            (*p >= '0' && *p <= '9') || strchr("-_.~/", *p)) {
            *o++ = (char)*p;
        } else if (*p == ' ') {
            *o++ = '+';
        } else {
            *o++ = '%';
            *o++ = hex[*p >> 4];
            *o++ = hex[*p & 15];
        }
    }
    *o = '\0';
    return out;
}

static void iso_time(char *out, size_t n, int64_t ns)
{
    time_t t = (time_t)(ns / 1000000000);
    struct tm tm;

    gmtime_r(&t, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
             tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
             tm.tm_min, tm.tm_sec, (int)(ns / 1000000 % 1000));
}

int ev_render(char **msg_out, char **topic_out, uint64_t seq,
              const char *json, size_t len, const char *region,
              const char *config_id)
{
    json_error_t err;
    json_t *r = json_loadb(json, len, 0, &err);
    json_t *rec, *obj, *rs, *meta, *a;
    char when[64], seqhex[20], *key, *s;
    const char *bucket, *name;
    size_t tl;

    *msg_out = *topic_out = NULL;
    if (!json_is_object(r) ||
        json_integer_value(json_object_get(r, "v")) != 1) {
        json_decref(r);
        return rs_err_set(RS_ECORRUPT, "event %llu: not an outbox record",
                          (unsigned long long)seq);
    }
    bucket = jstr(r, "b");
    name = jstr(r, "n");
    iso_time(when, sizeof when,
             (int64_t)json_integer_value(json_object_get(r, "t")));
    snprintf(seqhex, sizeof seqhex, "%016llX", (unsigned long long)seq);
    key = url_encode(jstr(r, "k"));

    obj = json_pack("{s:s, s:s}", "key", key, "sequencer", seqhex);
    if (json_object_get(r, "s"))
        json_object_set(obj, "size", json_object_get(r, "s"));
    if (*jstr(r, "e"))
        json_object_set_new(obj, "eTag", json_string(jstr(r, "e")));
    meta = json_object_get(r, "m");
    json_object_set_new(obj, "userMetadata", json_is_object(meta)
                                                 ? json_deep_copy(meta)
                                                 : json_object());

    rs = json_pack("{s:I, s:s, s:O}", "seq", (json_int_t)seq, "zone",
                   region ? region : "", "timeNs", json_object_get(r, "t"));
    if (*jstr(r, "c"))
        json_object_set_new(rs, "storageClass", json_string(jstr(r, "c")));
    a = json_object_get(r, "a");
    if (json_is_array(a) && json_array_size(a) == 2)
        json_object_set_new(
            rs, "append",
            json_pack("{s:O, s:O}", "oldLength", json_array_get(a, 0),
                      "newLength", json_array_get(a, 1)));

    rec = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:{s:s}, s:{s:s}, s:{s:s, s:s},"
        " s:{s:s, s:s, s:{s:s, s:{s:s}, s:s+}, s:o}, s:o}",
        "eventVersion", "2.1", "eventSource", "roadstore:s3", "awsRegion",
        region ? region : "", "eventTime", when, "eventName", name,
        "userIdentity", "principalId", *jstr(r, "r") ? jstr(r, "r") : "-",
        "requestParameters", "sourceIPAddress", jstr(r, "ip"),
        "responseElements", "x-amz-request-id", jstr(r, "id"), "x-amz-id-2",
        jstr(r, "id"),
        "s3", "s3SchemaVersion", "1.0", "configurationId",
        config_id ? config_id : "roadstore",
        "bucket", "name", bucket, "ownerIdentity", "principalId",
        jstr(r, "o"), "arn", "arn:aws:s3:::", bucket, "object", obj,
        "roadstore", rs);
    free(key);
    if (!rec) {
        json_decref(r);
        return rs_err_set(RS_ERR, "event %llu: cannot build the message",
                          (unsigned long long)seq);
    }
    rec = json_pack("{s:[o]}", "Records", rec);
    s = rec ? json_dumps(rec, JSON_COMPACT) : NULL;
    json_decref(rec);
    if (!s) {
        json_decref(r);
        return rs_err_set(RS_ERR, "event %llu: cannot encode",
                          (unsigned long long)seq);
    }
    *msg_out = rs_xstrdup(s);
    free(s);
    /* bucket and name belong to r */
    tl = strlen(bucket) + 1 + strlen(name) + 1;
    *topic_out = rs_xmalloc(tl);
    snprintf(*topic_out, tl, "%s/%s", bucket, name);
    json_decref(r);
    return RS_OK;
}
