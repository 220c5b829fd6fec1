/*
 * ingest/s3_notify.c - PutBucketNotificationConfiguration and
 * GetBucketNotificationConfiguration (GET/PUT /bucket?notification).
 *
 * The S3 XML: <NotificationConfiguration> with any number of
 * <QueueConfiguration>, <TopicConfiguration> and
 * <CloudFunctionConfiguration> entries, each with an optional <Id>, the
 * target (<Queue>, <Topic> or <CloudFunction>), one or more <Event> and an
 * optional <Filter><S3Key><FilterRule><Name>prefix|suffix</Name>
 * <Value>...</Value></FilterRule></S3Key></Filter>.  An empty
 * <NotificationConfiguration/> removes the configuration.
 *
 * roadstore's targets are named by ARN (the resource is everything after
 * the fifth ':'):
 *   arn:roadstore:zmq:REGION:ACCOUNT:GROUP     a durable consumer group
 *                                              of the ZeroMQ broker
 *   arn:roadstore:webhook:REGION:ACCOUNT:URL   an HTTP(S) endpoint the
 *                                              server POSTs each event to
 * REGION and ACCOUNT may be empty.  An entry without an Id gets a random
 * one, as in S3; the Id is the configurationId of the events it routes.  Anything else is 400
 * InvalidArgument, as S3 answers for a destination it cannot reach; so is
 * an unknown event type or a filter rule other than one prefix and one
 * suffix.
 *
 * Stored (store_notification_put) as JSON for events/notify.c:
 *   {"v":1, "rules":[{"id","kind":"Queue|Topic|CloudFunction",
 *     "arn","events":[...],"prefix","suffix","since":SEQ}]}
 * where since is the outbox head when the rule's target was first
 * configured on the bucket (a target the previous configuration had keeps
 * its since, so rewriting a configuration loses nothing): the target gets
 * the events from there on.
 */
#include "ingest/s3_int.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const event_types[] = {
    "s3:ObjectCreated:*", "s3:ObjectCreated:Put", "s3:ObjectCreated:Post",
    "s3:ObjectCreated:Copy", "s3:ObjectCreated:CompleteMultipartUpload",
    "s3:ObjectCreated:Append", "s3:ObjectRemoved:*",
    "s3:ObjectRemoved:Delete", "s3:ObjectRemoved:DeleteMarkerCreated",
    "s3:ObjectTagging:*", "s3:ObjectTagging:Put", "s3:ObjectTagging:Delete",
    "s3:ObjectAcl:Put", "s3:LifecycleTransition", "s3:LifecycleExpiration:*",
    "s3:LifecycleExpiration:Delete", "s3:*",
};

static bool event_known(const char *e)
{
    for (size_t i = 0; i < sizeof event_types / sizeof *event_types; i++)
        if (!strcmp(e, event_types[i]))
            return true;
    return false;
}

/* The resource of an ARN: what follows its fifth ':' (NULL if fewer). */
static const char *arn_resource(const char *arn)
{
    const char *p = arn;

    for (int i = 0; i < 5; i++) {
        p = strchr(p, ':');
        if (!p)
            return NULL;
        p++;
    }
    return p;
}

static bool target_ok(const char *arn)
{
    const char *res = arn_resource(arn);

    if (!res || !*res)
        return false;
    if (!strncmp(arn, "arn:roadstore:zmq:", 18))
        return store_events_group_name_ok(res);
    if (!strncmp(arn, "arn:roadstore:webhook:", 22))
        return !strncmp(res, "http://", 7) || !strncmp(res, "https://", 8);
    return false;
}

static const char *const kinds[] = {"Queue", "Topic", "CloudFunction"};

static enum s3_errcode parse_entry(struct s3_req *r, const struct s3_xnode *c,
                                   const char *kind, json_t *rules)
{
    const struct s3_xnode *e, *key, *fr;
    const char *arn = s3_xml_child_text(c, kind);
    const char *id = s3_xml_child_text(c, "Id");
    const char *prefix = NULL, *suffix = NULL;
    json_t *rule, *events = json_array();

    if (!arn || !target_ok(arn)) {
        json_decref(events);
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       "Unable to validate the following destination "
                       "configurations");
    }
    for (e = s3_xml_child(c, "Event"); e; e = s3_xml_next(e, "Event")) {
        if (!e->text || !event_known(e->text)) {
            json_decref(events);
            return s3_fail(r, S3E_INVALID_ARGUMENT,
                           "The event is not supported for notifications");
        }
        json_array_append_new(events, json_string(e->text));
    }
    if (json_array_size(events) == 0) {
        json_decref(events);
        return s3_fail(r, S3E_MALFORMED_XML, NULL);
    }
    key = s3_xml_child(s3_xml_child(c, "Filter"), "S3Key");
    for (fr = key ? s3_xml_child(key, "FilterRule") : NULL; fr;
         fr = s3_xml_next(fr, "FilterRule")) {
        const char *name = s3_xml_child_text(fr, "Name");
        const char *value = s3_xml_child_text(fr, "Value");
        const char **slot = NULL;

        if (name && !strcasecmp(name, "prefix"))
            slot = &prefix;
        else if (name && !strcasecmp(name, "suffix"))
            slot = &suffix;
        if (!slot || *slot) {
            json_decref(events);
            return s3_fail(r, S3E_INVALID_ARGUMENT,
                           slot ? "Cannot specify more than one prefix/suffix "
                                  "rule in a filter."
                                : "filter rule name must be either prefix "
                                  "or suffix");
        }
        *slot = value ? value : "";
    }
    rule = json_pack("{s:s, s:s, s:o}", "kind", kind, "arn", arn, "events",
                     events);
    if (!id || !*id) {
        /* S3 assigns an Id when the configuration has none */
        uint8_t raw[12];
        char hex[25];
        rs_random(raw, sizeof raw);
        rs_hex(hex, raw, sizeof raw);
        id = rs_arena_strdup(r->a, hex);
    }
    json_object_set_new(rule, "id", json_string(id));
    if (prefix)
        json_object_set_new(rule, "prefix", json_string(prefix));
    if (suffix)
        json_object_set_new(rule, "suffix", json_string(suffix));
    json_array_append_new(rules, rule);
    return S3E_NONE;
}

/* Give each rule the since of its target in the current configuration,
 * or head for a target new to the bucket. */
static void keep_since(struct s3_req *r, json_t *rules, uint64_t head)
{
    char *s = NULL;
    json_error_t err;
    json_t *old = NULL, *rule;
    size_t i;

    if (store_notification_get(r->store, r->bucket, &s) == RS_OK)
        old = json_loads(s, 0, &err);
    free(s);
    json_array_foreach(rules, i, rule) {
        const char *arn = json_string_value(json_object_get(rule, "arn"));
        uint64_t since = head;
        json_t *o;
        size_t j;

        json_array_foreach(json_object_get(old, "rules"), j, o) {
            json_t *os = json_object_get(o, "since");
            const char *oarn = json_string_value(json_object_get(o, "arn"));
            if (!os)
                os = json_object_get(old, "since");
            if (oarn && arn && !strcmp(oarn, arn) && json_is_integer(os) &&
                (uint64_t)json_integer_value(os) < since)
                since = (uint64_t)json_integer_value(os);
        }
        json_object_set_new(rule, "since", json_integer((json_int_t)since));
    }
    json_decref(old);
}

static enum s3_errcode notify_write_authorize(struct s3_req *r)
{
    /* S3: the bucket owner only (s3:PutBucketNotification) */
    if (!r->authenticated || !r->bkt.acl.owner ||
        strcmp(r->bkt.acl.owner, r->user.name) != 0)
        return S3E_ACCESS_DENIED;
    return S3E_NONE;
}

static enum s3_errcode put_notification_execute(struct s3_req *r)
{
    struct s3_xnode *root;
    json_t *rules = json_array(), *doc;
    enum s3_errcode e;
    char *s;
    int rc;

    if ((e = s3_xml_parse(r->a, &root, r->body.data, r->body.len)))
        goto fail;
    if (strcmp(root->name, "NotificationConfiguration") != 0) {
        e = S3E_MALFORMED_XML;
        goto fail;
    }
    for (size_t k = 0; k < 3; k++) {
        char elem[48];
        const struct s3_xnode *c;

        snprintf(elem, sizeof elem, "%sConfiguration", kinds[k]);
        for (c = s3_xml_child(root, elem); c; c = s3_xml_next(c, elem))
            if ((e = parse_entry(r, c, kinds[k], rules)))
                goto fail;
    }
    if (json_array_size(rules) == 0) {
        json_decref(rules);
        rc = store_notification_put(r->store, r->bucket, NULL);
    } else {
        keep_since(r, rules, store_events_head(r->store));
        doc = json_pack("{s:i, s:o}", "v", 1, "rules", rules);
        s = json_dumps(doc, JSON_COMPACT);
        json_decref(doc);
        rc = store_notification_put(r->store, r->bucket, s);
        free(s);
    }
    if (rc)
        return s3_error_from_rs(rc, S3E_INTERNAL_ERROR);
    r->status = 200;
    return S3E_NONE;
fail:
    json_decref(rules);
    return e;
}

static enum s3_errcode get_notification_execute(struct s3_req *r)
{
    char *s = NULL;
    json_error_t err;
    json_t *doc = NULL, *rules, *rule;
    size_t i;
    int rc = store_notification_get(r->store, r->bucket, &s);

    if (rc && rc != RS_ENOTFOUND)
        return s3_error_from_rs(rc, S3E_INTERNAL_ERROR);
    if (s)
        doc = json_loads(s, 0, &err);
    free(s);
    s3_rsp_xml_begin(r);
    (void)rs_buf_puts(&r->rsp_body, "<NotificationConfiguration xmlns="
                      "\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    rules = json_object_get(doc, "rules");
    json_array_foreach(rules, i, rule) {
        const char *kind = json_string_value(json_object_get(rule, "kind"));
        json_t *ev;
        size_t j;

        if (!kind)
            continue;
        (void)rs_buf_printf(&r->rsp_body, "<%sConfiguration>", kind);
        if (json_object_get(rule, "id"))
            s3_xml_elem(&r->rsp_body, "Id",
                        json_string_value(json_object_get(rule, "id")));
        s3_xml_elem(&r->rsp_body, kind,
                    json_string_value(json_object_get(rule, "arn")));
        json_array_foreach(json_object_get(rule, "events"), j, ev)
            s3_xml_elem(&r->rsp_body, "Event", json_string_value(ev));
        if (json_object_get(rule, "prefix") ||
            json_object_get(rule, "suffix")) {
            (void)rs_buf_puts(&r->rsp_body, "<Filter><S3Key>");
            for (int k = 0; k < 2; k++) {
                const char *n = k ? "suffix" : "prefix";
                json_t *v = json_object_get(rule, n);
                if (!v)
                    continue;
                (void)rs_buf_puts(&r->rsp_body, "<FilterRule>");
                s3_xml_elem(&r->rsp_body, "Name", n);
                s3_xml_elem(&r->rsp_body, "Value", json_string_value(v));
                (void)rs_buf_puts(&r->rsp_body, "</FilterRule>");
            }
            (void)rs_buf_puts(&r->rsp_body, "</S3Key></Filter>");
        }
        (void)rs_buf_printf(&r->rsp_body, "</%sConfiguration>", kind);
    }
    (void)rs_buf_puts(&r->rsp_body, "</NotificationConfiguration>");
    json_decref(doc);
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_get_bucket_notification = {
    "GetBucketNotificationConfiguration", 0, notify_write_authorize, NULL,
    get_notification_execute,
};
const struct s3_op s3_op_put_bucket_notification = {
    "PutBucketNotificationConfiguration", S3_OP_WRITE | S3_OP_BODY_BUFFER,
    notify_write_authorize, NULL, put_notification_execute,
};
