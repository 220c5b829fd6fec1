/*
 * ingest/s3_lifecycle.c - PutBucketLifecycleConfiguration,
 * GetBucketLifecycleConfiguration and DeleteBucketLifecycle
 * (PUT/GET/DELETE /bucket?lifecycle).  The rules are applied by the
 * store's lifecycle runner (store/lifecycle.c); this file parses,
 * validates and renders S3's XML.
 *
 * The S3 XML: <LifecycleConfiguration> with 1..1000 <Rule>, each with
 *   <ID> (optional, at most 255 characters; a random one when absent),
 *   <Status>Enabled|Disabled</Status>,
 *   <Filter> with at most one of <Prefix>, <Tag><Key/><Value/></Tag>,
 *     <ObjectSizeGreaterThan>, <ObjectSizeLessThan>, or <And> holding a
 *     <Prefix>, any <Tag> and the two sizes; or instead of the Filter the
 *     legacy top-level <Prefix>;
 *   actions: <Expiration> (<Days>, <Date> or <ExpiredObjectDeleteMarker>),
 *     any <Transition> (<Days> or <Date>, and <StorageClass>),
 *     <AbortIncompleteMultipartUpload><DaysAfterInitiation>, and the
 *     noncurrent-version actions, which are stored and given back but
 *     never act (roadstore has no versioning; S3 accepts them on
 *     unversioned buckets too).
 *
 * Errors, as S3 answers them: MalformedXML for XML that is not well
 * formed or lacks a required piece (Status, a Filter or Prefix, an
 * action's Days/Date, a Transition's StorageClass, more than one filter
 * criterion outside And); InvalidArgument for Days <= 0 (Expiration),
 * negative Transition Days, Days under 30 for STANDARD_IA and ONEZONE_IA,
 * a Date not at midnight UTC, Days and Date together, an ID longer than
 * 255 characters, duplicate IDs, more than 1000 rules, ObjectSizeGreater-
 * Than not below ObjectSizeLessThan, AbortIncompleteMultipartUpload with
 * a tag or size filter; MalformedXML for a Transition StorageClass
 * outside the schema's TransitionStorageClass (STANDARD included),
 * InvalidStorageClass for one of those roadstore has no group for;
 * InvalidRequest for a rule
 * without an action or a request without Content-MD5 or an
 * x-amz-checksum-* header (S3 requires one: "Missing required header for
 * this request: Content-MD5"); the digest itself is checked by the
 * payload decoder (BadDigest).
 *
 * Only the bucket owner may read or change the configuration, as for
 * ?notification (s3_notify.c).
 */
#include "ingest/s3_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define LC_ID_MAX 255
#define LC_NS 1000000000LL

static enum s3_errcode lc_owner_authorize(struct s3_req *r)
{
    /* S3: the bucket owner only (s3:PutLifecycleConfiguration) */
    if (!r->authenticated || !r->bkt.acl.owner ||
        strcmp(r->bkt.acl.owner, r->user.name) != 0)
        return S3E_ACCESS_DENIED;
    return S3E_NONE;
}

static enum s3_errcode lc_put_authorize(struct s3_req *r)
{
    enum s3_errcode e = lc_owner_authorize(r);
    bool digest = s3_req_header(r, "Content-MD5") != NULL ||
                  s3_req_header(r, "x-amz-trailer") != NULL;

    if (e)
        return e;
    for (size_t i = 0; i < r->nheaders && !digest; i++)
        digest = !strncasecmp(r->headers[i].name, "x-amz-checksum-", 15) &&
                 strcasecmp(r->headers[i].name, "x-amz-checksum-algorithm");
    if (!digest)
        return s3_fail(r, S3E_INVALID_REQUEST,
                       "Missing required header for this request: "
                       "Content-MD5");
    return S3E_NONE;
}

/* ------------------------------------------------------------------ */
/* Parsing                                                              */
/* ------------------------------------------------------------------ */

static int count_children(const struct s3_xnode *n, const char *name)
{
    int c = 0;
    for (const struct s3_xnode *x = s3_xml_child(n, name); x;
         x = s3_xml_next(x, name))
        c++;
    return c;
}

/* A decimal integer (optionally signed), whitespace around allowed. */
static bool parse_int(const char *t, int64_t *out)
{
    char *end;
    long long v;

    if (!t)
        return false;
    while (*t == ' ' || *t == '\n' || *t == '\t' || *t == '\r')
        t++;
    if (!*t)
        return false;
    v = strtoll(t, &end, 10);
    while (*end == ' ' || *end == '\n' || *end == '\t' || *end == '\r')
        end++;
    if (*end)
        return false;
    *out = v;
    return true;
}

/* An ISO 8601 date ("2030-01-01", "2030-01-01T00:00:00Z",
 * "...T00:00:00.000Z", "+00:00"); *midnight whether it is 00:00:00.000
 * UTC. */
static bool parse_date(const char *t, int64_t *ns, bool *midnight)
{
    char buf[64];
    int64_t sec;
    size_t n;
    char *dot;
    bool frac_zero = true;

    if (!t)
        return false;
    n = strlen(t);
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, t, n + 1);
    if (n >= 6 && !strcmp(buf + n - 6, "+00:00"))
        strcpy(buf + n - 6, "Z");
    if (strlen(buf) == 10) {
        snprintf(buf + 10, sizeof buf - 10, "T00:00:00Z");
    }
    if ((dot = strchr(buf, '.')) != NULL) {
        for (char *p = dot + 1; *p >= '0' && *p <= '9'; p++)
            if (*p != '0')
                frac_zero = false;
    }
    if (rs_time_parse(&sec, buf) != RS_OK || strchr(buf, 'T') == NULL)
        return false;
    /* dates are kept in nanoseconds since 1970: up to 2262 */
    if (sec < 0 || sec > INT64_MAX / LC_NS)
        return false;
    *ns = sec * LC_NS;
    *midnight = frac_zero && sec % 86400 == 0;
    return true;
}

/* A value of the schema's TransitionStorageClass (anything else, STANDARD
 * included, does not validate: MalformedXML). */
static bool transition_class_valid(const char *c)
{
    static const char *const names[] = {
        "GLACIER", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
        "DEEP_ARCHIVE", "GLACIER_IR",
    };

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(c, names[i]))
            return true;
    return false;
}

static enum s3_errcode parse_tag(struct s3_req *r, const struct s3_xnode *t,
                                 struct rs_kv *out)
{
    const char *k = s3_xml_child_text(t, "Key");
    const char *v = s3_xml_child_text(t, "Value");

    if (!k || !*k)
        return S3E_MALFORMED_XML;
    out->name = rs_arena_strdup(r->a, k);
    out->value = rs_arena_strdup(r->a, v ? v : "");
    return S3E_NONE;
}

static enum s3_errcode parse_size(const struct s3_xnode *n, const char *name,
                                  bool *has, uint64_t *v)
{
    const char *t = s3_xml_child_text(n, name);
    int64_t x;

    if (!t)
        return S3E_NONE;
    if (!parse_int(t, &x))
        return S3E_MALFORMED_XML;
    if (x < 0)
        return S3E_INVALID_ARGUMENT;
    *has = true;
    *v = (uint64_t)x;
    return S3E_NONE;
}

static enum s3_errcode parse_filter(struct s3_req *r,
                                    const struct s3_xnode *f,
                                    struct store_lc_rule *u)
{
    static const char *const crit[] = {"Prefix", "Tag",
                                       "ObjectSizeGreaterThan",
                                       "ObjectSizeLessThan", "And"};
    const struct s3_xnode *src = f, *t;
    int n = 0;
    enum s3_errcode e;

    for (size_t i = 0; i < sizeof crit / sizeof *crit; i++)
        n += count_children(f, crit[i]);
    if (n > 1)
        return s3_fail(r, S3E_MALFORMED_XML, NULL);
    if (s3_xml_child(f, "And")) {
        u->and = true;
        src = s3_xml_child(f, "And");
        if (count_children(src, "Prefix") > 1 ||
            count_children(src, "ObjectSizeGreaterThan") > 1 ||
            count_children(src, "ObjectSizeLessThan") > 1)
            return s3_fail(r, S3E_MALFORMED_XML, NULL);
    }
    if (s3_xml_child(src, "Prefix"))
        u->prefix = rs_arena_strdup(r->a, s3_xml_child_text(src, "Prefix"));
    u->ntags = (size_t)count_children(src, "Tag");
    if (u->ntags) {
        size_t i = 0;
        u->tags = rs_arena_alloc(r->a, u->ntags * sizeof *u->tags);
        for (t = s3_xml_child(src, "Tag"); t; t = s3_xml_next(t, "Tag"))
            if ((e = parse_tag(r, t, &u->tags[i++])))
                return s3_fail(r, e, NULL);
        for (size_t a = 0; a < u->ntags; a++)
            for (size_t b = a + 1; b < u->ntags; b++)
                if (!strcmp(u->tags[a].name, u->tags[b].name))
                    return s3_fail(r, S3E_INVALID_REQUEST,
                                   "Duplicate Tag Keys are not allowed.");
    }
    if ((e = parse_size(src, "ObjectSizeGreaterThan", &u->has_size_gt,
                        &u->size_gt)) ||
        (e = parse_size(src, "ObjectSizeLessThan", &u->has_size_lt,
                        &u->size_lt)))
        return s3_fail(r, e, NULL);
    if (u->has_size_gt && u->has_size_lt && u->size_gt >= u->size_lt)
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       "ObjectSizeGreaterThan must be less than "
                       "ObjectSizeLessThan");
    return S3E_NONE;
}

/* Days or Date of an action: exactly one.  what names the action for
 * messages; positive: Days must be > 0 (else >= 0). */
static enum s3_errcode parse_when(struct s3_req *r, const struct s3_xnode *n,
                                  const char *days_name, const char *what,
                                  bool positive, int32_t *days,
                                  bool *has_date, int64_t *date_ns)
{
    const char *d = s3_xml_child_text(n, days_name);
    const char *dt = s3_xml_child_text(n, "Date");
    int64_t v;
    bool midnight;
    char *msg;

    if (d && dt)
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       "Only one of Days or Date can be specified");
    if (d) {
        if (!parse_int(d, &v) || v > INT32_MAX)
            return s3_fail(r, S3E_MALFORMED_XML, NULL);
        if (positive ? v <= 0 : v < 0) {
            msg = rs_arena_alloc(r->a, 128);
            snprintf(msg, 128, positive
                                   ? "'%s' for %s action must be a positive "
                                     "integer"
                                   : "'%s' in %s action must be nonnegative",
                     days_name, what);
            return s3_fail(r, S3E_INVALID_ARGUMENT, msg);
        }
        *days = (int32_t)v;
        return S3E_NONE;
    }
    if (dt) {
        if (!parse_date(dt, date_ns, &midnight))
            return s3_fail(r, S3E_MALFORMED_XML, NULL);
        if (!midnight)
            return s3_fail(r, S3E_INVALID_ARGUMENT,
                           "'Date' must be at midnight GMT");
        *has_date = true;
        return S3E_NONE;
    }
    return s3_fail(r, S3E_MALFORMED_XML, NULL);
}

static enum s3_errcode parse_transitions(struct s3_req *r,
                                         const struct s3_xnode *rule,
                                         const char *elem, bool noncurrent,
                                         struct store_lc_transition **out,
                                         size_t *nout)
{
    int n = count_children(rule, elem);
    const struct s3_xnode *t;
    size_t i = 0;
    enum s3_errcode e;

    *nout = (size_t)n;
    if (!n)
        return S3E_NONE;
    *out = rs_arena_alloc(r->a, (size_t)n * sizeof **out);
    for (t = s3_xml_child(rule, elem); t; t = s3_xml_next(t, elem), i++) {
        struct store_lc_transition *x = &(*out)[i];
        const char *cls = s3_xml_child_text(t, "StorageClass");
        const char *newer = s3_xml_child_text(t, "NewerNoncurrentVersions");
        enum store_class sc;
        bool has_date = false;
        int64_t v;

        x->days = -1;
        x->newer = -1;
        x->date_ns = 0;
        if (noncurrent) {
            if ((e = parse_when(r, t, "NoncurrentDays",
                                "NoncurrentVersionTransition", false,
                                &x->days, &has_date, &x->date_ns)))
                return e;
            if (has_date)        /* no Date in this element */
                return s3_fail(r, S3E_MALFORMED_XML, NULL);
            if (newer) {
                if (!parse_int(newer, &v) || v <= 0 || v > INT32_MAX)
                    return s3_fail(r, S3E_INVALID_ARGUMENT, NULL);
                x->newer = (int32_t)v;
            }
        } else if ((e = parse_when(r, t, "Days", "Transition", false,
                                   &x->days, &has_date, &x->date_ns))) {
            return e;
        }
        if (!cls)
            return s3_fail(r, S3E_MALFORMED_XML, NULL);
        if (!transition_class_valid(cls))
            return s3_fail(r, S3E_MALFORMED_XML, NULL);
        if (store_class_parse(&sc, cls) != RS_OK)
            return s3_fail(r, S3E_INVALID_STORAGE_CLASS, NULL);
        if (!noncurrent && x->days >= 0 && x->days < 30 &&
            (!strcmp(cls, "STANDARD_IA") || !strcmp(cls, "ONEZONE_IA"))) {
            char *msg = rs_arena_alloc(r->a, 160);
            snprintf(msg, 160, "'Days' in Transition action must be greater "
                     "than or equal to 30 for storageClass '%s'", cls);
            return s3_fail(r, S3E_INVALID_ARGUMENT, msg);
        }
        x->storage_class = rs_arena_strdup(r->a, cls);
    }
    return S3E_NONE;
}

static enum s3_errcode parse_rule(struct s3_req *r, const struct s3_xnode *x,
                                  struct store_lc_rule *u)
{
    const char *id = s3_xml_child_text(x, "ID");
    const char *status = s3_xml_child_text(x, "Status");
    const struct s3_xnode *f = s3_xml_child(x, "Filter");
    const struct s3_xnode *exp = s3_xml_child(x, "Expiration");
    const struct s3_xnode *ab = s3_xml_child(x, "AbortIncompleteMultipartUpload");
    const struct s3_xnode *nce = s3_xml_child(x, "NoncurrentVersionExpiration");
    enum s3_errcode e;

    memset(u, 0, sizeof *u);
    u->exp_delete_marker = -1;
    u->nc_exp_days = u->nc_exp_newer = -1;
    if (id && strlen(id) > LC_ID_MAX)
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       "ID length should not exceed allowed limit of 255");
    if (!status || (strcmp(status, "Enabled") && strcmp(status, "Disabled")))
        return s3_fail(r, S3E_MALFORMED_XML, NULL);
    u->enabled = !strcmp(status, "Enabled");
    if (count_children(x, "Filter") > 1 || count_children(x, "Prefix") > 1 ||
        count_children(x, "Expiration") > 1 ||
        count_children(x, "AbortIncompleteMultipartUpload") > 1 ||
        count_children(x, "NoncurrentVersionExpiration") > 1)
        return s3_fail(r, S3E_MALFORMED_XML, NULL);
    if (f && s3_xml_child(x, "Prefix"))
        return s3_fail(r, S3E_MALFORMED_XML, NULL);
    if (f) {
        if ((e = parse_filter(r, f, u)))
            return e;
    } else if (s3_xml_child(x, "Prefix")) {
        u->legacy = true;
        u->prefix = rs_arena_strdup(r->a, s3_xml_child_text(x, "Prefix"));
    } else {
        return s3_fail(r, S3E_MALFORMED_XML, NULL);
    }
    if (id && *id) {
        u->id = rs_arena_strdup(r->a, id);
    } else {
        /* S3 gives a rule without an ID a random one */
        uint8_t raw[18];
        char *hex = rs_arena_alloc(r->a, 2 * sizeof raw + 1);
        rs_random(raw, sizeof raw);
        rs_hex(hex, raw, sizeof raw);
        u->id = hex;
    }
    if (exp) {
        const char *dm = s3_xml_child_text(exp, "ExpiredObjectDeleteMarker");
        bool dd = s3_xml_child(exp, "Days") || s3_xml_child(exp, "Date");

        if (dm && dd)
            return s3_fail(r, S3E_INVALID_ARGUMENT,
                           "ExpiredObjectDeleteMarker cannot be specified "
                           "with Days or Date in a Lifecycle Expiration "
                           "Policy.");
        if (dm) {
            if (strcmp(dm, "true") && strcmp(dm, "false"))
                return s3_fail(r, S3E_MALFORMED_XML, NULL);
            u->exp_delete_marker = !strcmp(dm, "true");
            if (u->ntags || u->has_size_gt || u->has_size_lt)
                return s3_fail(r, S3E_INVALID_ARGUMENT,
                               "ExpiredObjectDeleteMarker cannot be "
                               "specified with tags or object size");
        } else if ((e = parse_when(r, exp, "Days", "Expiration", true,
                                   &u->exp_days, &u->exp_has_date,
                                   &u->exp_date_ns))) {
            return e;
        }
    }
    if ((e = parse_transitions(r, x, "Transition", false, &u->transitions,
                               &u->ntransitions)))
        return e;
    for (size_t i = 0; i < u->ntransitions; i++) {
        const struct store_lc_transition *t = &u->transitions[i];
        if (u->exp_days > 0 && t->days >= 0 && t->days >= u->exp_days)
            return s3_fail(r, S3E_INVALID_ARGUMENT,
                           "'Days' in the Expiration action must be greater "
                           "than 'Days' in the Transition action");
        if (u->exp_has_date && t->days < 0 && t->date_ns >= u->exp_date_ns)
            return s3_fail(r, S3E_INVALID_ARGUMENT,
                           "'Date' in the Expiration action must be later "
                           "than 'Date' in the Transition action");
    }
    if (ab) {
        const char *d = s3_xml_child_text(ab, "DaysAfterInitiation");
        int64_t v;

        if (!d || !parse_int(d, &v) || v > INT32_MAX)
            return s3_fail(r, S3E_MALFORMED_XML, NULL);
        if (v <= 0)
            return s3_fail(r, S3E_INVALID_ARGUMENT,
                           "'DaysAfterInitiation' for "
                           "AbortIncompleteMultipartUpload action must be a "
                           "positive integer");
        if (u->ntags || u->has_size_gt || u->has_size_lt)
            return s3_fail(r, S3E_INVALID_ARGUMENT,
                           u->ntags ? "AbortIncompleteMultipartUpload cannot "
                                      "be specified with Tags"
                                    : "AbortIncompleteMultipartUpload cannot "
                                      "be specified with Object Size");
        u->abort_days = (int32_t)v;
    }
    if (nce) {
        const char *d = s3_xml_child_text(nce, "NoncurrentDays");
        const char *nn = s3_xml_child_text(nce, "NewerNoncurrentVersions");
        int64_t v;

        if (!d || !parse_int(d, &v) || v > INT32_MAX)
            return s3_fail(r, S3E_MALFORMED_XML, NULL);
        if (v <= 0)
            return s3_fail(r, S3E_INVALID_ARGUMENT,
                           "'NoncurrentDays' for NoncurrentVersionExpiration "
                           "action must be a positive integer");
        u->nc_exp_days = (int32_t)v;
        if (nn) {
            if (!parse_int(nn, &v) || v <= 0 || v > INT32_MAX)
                return s3_fail(r, S3E_INVALID_ARGUMENT, NULL);
            u->nc_exp_newer = (int32_t)v;
        }
    }
    if ((e = parse_transitions(r, x, "NoncurrentVersionTransition", true,
                               &u->nc_transitions, &u->nc_ntransitions)))
        return e;
    if (!exp && !u->ntransitions && !ab && !nce && !u->nc_ntransitions)
        return s3_fail(r, S3E_INVALID_REQUEST,
                       "At least one action needs to be specified in a "
                       "rule");
    return S3E_NONE;
}

static enum s3_errcode put_lifecycle_execute(struct s3_req *r)
{
    struct store_lc_config c = {0};
    struct s3_xnode *root;
    const struct s3_xnode *x;
    enum s3_errcode e;
    size_t n = 0;
    int rc;

    if ((e = s3_xml_parse(r->a, &root, r->body.data, r->body.len)))
        return e;
    if (strcmp(root->name, "LifecycleConfiguration") != 0)
        return S3E_MALFORMED_XML;
    for (x = s3_xml_child(root, "Rule"); x; x = s3_xml_next(x, "Rule"))
        n++;
    if (n == 0)
        return S3E_MALFORMED_XML;
    if (n > STORE_LC_MAX_RULES)
        return s3_fail(r, S3E_INVALID_ARGUMENT,
                       "Configuration cannot have more than 1000 rules");
    c.rules = rs_arena_alloc(r->a, n * sizeof *c.rules);
    for (x = s3_xml_child(root, "Rule"); x; x = s3_xml_next(x, "Rule")) {
        struct store_lc_rule *u = &c.rules[c.nrules];

        if ((e = parse_rule(r, x, u)))
            return e;
        for (size_t i = 0; i < c.nrules; i++)
            if (!strcmp(c.rules[i].id, u->id))
                return s3_fail(r, S3E_INVALID_ARGUMENT,
                               "Rule ID must be unique. Found same ID for "
                               "more than one rule");
        c.nrules++;
    }
    if ((rc = store_lifecycle_put(r->store, r->bucket, &c)) != RS_OK)
        return s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET);
    r->status = 200;
    return S3E_NONE;
}

/* ------------------------------------------------------------------ */
/* Rendering                                                            */
/* ------------------------------------------------------------------ */

static void xml_date(struct rs_buf *b, const char *name, int64_t ns)
{
    char ts[40];

    rs_time_iso8601(ts, sizeof ts, ns);
    s3_xml_elem(b, name, ts);
}

static void xml_i(struct rs_buf *b, const char *name, int64_t v)
{
    (void)rs_buf_printf(b, "<%s>%lld</%s>", name, (long long)v, name);
}

static void render_tag(struct rs_buf *b, const struct rs_kv *t)
{
    (void)rs_buf_puts(b, "<Tag>");
    s3_xml_elem(b, "Key", t->name);
    s3_xml_elem(b, "Value", t->value);
    (void)rs_buf_puts(b, "</Tag>");
}

static void render_filter(struct rs_buf *b, const struct store_lc_rule *u)
{
    if (u->legacy) {
        s3_xml_elem(b, "Prefix", u->prefix ? u->prefix : "");
        return;
    }
    (void)rs_buf_puts(b, "<Filter>");
    if (u->and)
        (void)rs_buf_puts(b, "<And>");
    if (u->prefix)
        s3_xml_elem(b, "Prefix", u->prefix);
    for (size_t i = 0; i < u->ntags; i++)
        render_tag(b, &u->tags[i]);
    if (u->has_size_gt)
        s3_xml_elem_u64(b, "ObjectSizeGreaterThan", u->size_gt);
    if (u->has_size_lt)
        s3_xml_elem_u64(b, "ObjectSizeLessThan", u->size_lt);
    if (u->and)
        (void)rs_buf_puts(b, "</And>");
    (void)rs_buf_puts(b, "</Filter>");
}

static void render_transitions(struct rs_buf *b, const char *elem,
                               const struct store_lc_transition *t, size_t n,
                               bool noncurrent)
{
    for (size_t i = 0; i < n; i++) {
        (void)rs_buf_printf(b, "<%s>", elem);
        if (t[i].days >= 0)
            xml_i(b, noncurrent ? "NoncurrentDays" : "Days", t[i].days);
        else
            xml_date(b, "Date", t[i].date_ns);
        if (t[i].newer >= 0)
            xml_i(b, "NewerNoncurrentVersions", t[i].newer);
        s3_xml_elem(b, "StorageClass", t[i].storage_class);
        (void)rs_buf_printf(b, "</%s>", elem);
    }
}

static enum s3_errcode get_lifecycle_execute(struct s3_req *r)
{
    struct rs_buf *b = &r->rsp_body;
    struct store_lc_config c;
    int rc = store_lifecycle_get(r->store, r->a, &c, r->bucket);

    if (rc == RS_ENOTFOUND)
        return S3E_NO_SUCH_LIFECYCLE_CONFIGURATION;
    if (rc != RS_OK)
        return s3_error_from_rs(rc, S3E_INTERNAL_ERROR);
    s3_rsp_xml_begin(r);
    (void)rs_buf_puts(b, "<LifecycleConfiguration xmlns="
                         "\"http://s3.amazonaws.com/doc/2006-03-01/\">");
    for (size_t i = 0; i < c.nrules; i++) {
        const struct store_lc_rule *u = &c.rules[i];

        (void)rs_buf_puts(b, "<Rule>");
        if (u->exp_days > 0 || u->exp_has_date || u->exp_delete_marker >= 0) {
            (void)rs_buf_puts(b, "<Expiration>");
            if (u->exp_days > 0)
                xml_i(b, "Days", u->exp_days);
            else if (u->exp_has_date)
                xml_date(b, "Date", u->exp_date_ns);
            else
                s3_xml_elem(b, "ExpiredObjectDeleteMarker",
                            u->exp_delete_marker ? "true" : "false");
            (void)rs_buf_puts(b, "</Expiration>");
        }
        s3_xml_elem(b, "ID", u->id);
        render_filter(b, u);
        s3_xml_elem(b, "Status", u->enabled ? "Enabled" : "Disabled");
        render_transitions(b, "Transition", u->transitions, u->ntransitions,
                           false);
        render_transitions(b, "NoncurrentVersionTransition",
                           u->nc_transitions, u->nc_ntransitions, true);
        if (u->nc_exp_days >= 0) {
            (void)rs_buf_puts(b, "<NoncurrentVersionExpiration>");
            xml_i(b, "NoncurrentDays", u->nc_exp_days);
            if (u->nc_exp_newer >= 0)
                xml_i(b, "NewerNoncurrentVersions", u->nc_exp_newer);
            (void)rs_buf_puts(b, "</NoncurrentVersionExpiration>");
        }
        if (u->abort_days > 0) {
            (void)rs_buf_puts(b, "<AbortIncompleteMultipartUpload>");
            xml_i(b, "DaysAfterInitiation", u->abort_days);
            (void)rs_buf_puts(b, "</AbortIncompleteMultipartUpload>");
        }
        (void)rs_buf_puts(b, "</Rule>");
    }
    (void)rs_buf_puts(b, "</LifecycleConfiguration>");
    r->status = 200;
    return S3E_NONE;
}

static enum s3_errcode delete_lifecycle_execute(struct s3_req *r)
{
    int rc = store_lifecycle_put(r->store, r->bucket, NULL);

    if (rc != RS_OK)
        return s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET);
    r->status = 204;
    return S3E_NONE;
}

/* ------------------------------------------------------------------ */
/* x-amz-expiration on GET and HEAD                                     */
/* ------------------------------------------------------------------ */

void s3_lifecycle_rsp_header(struct s3_req *r, const struct store_obj *o)
{
    const char *rule = NULL;
    int64_t when = 0;
    char date[40];
    struct rs_buf v;

    if (!store_lifecycle_expiry(r->store, r->a, o, &when, &rule))
        return;
    rs_time_http(date, sizeof date, when);
    rs_buf_init(&v, 4096);
    (void)rs_buf_printf(&v, "expiry-date=\"%s\", rule-id=\"", date);
    /* a quoted-string: escape quotes and backslashes of the ID */
    for (const char *p = rule; *p; p++) {
        if (*p == '"' || *p == '\\')
            (void)rs_buf_puts(&v, "\\");
        (void)rs_buf_printf(&v, "%c", *p);
    }
    (void)rs_buf_puts(&v, "\"");
    s3_rsp_header(r, "x-amz-expiration", v.data ? v.data : "");
    rs_buf_dispose(&v);
}

const struct s3_op s3_op_get_bucket_lifecycle = {
    "GetBucketLifecycleConfiguration", 0, lc_owner_authorize, NULL,
    get_lifecycle_execute,
};
const struct s3_op s3_op_put_bucket_lifecycle = {
    "PutBucketLifecycleConfiguration", S3_OP_WRITE | S3_OP_BODY_BUFFER,
    lc_put_authorize, NULL, put_lifecycle_execute,
};
const struct s3_op s3_op_delete_bucket_lifecycle = {
    "DeleteBucketLifecycle", S3_OP_WRITE, lc_owner_authorize, NULL,
    delete_lifecycle_execute,
};
