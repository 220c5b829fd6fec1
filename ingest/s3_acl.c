/*
 * ingest/s3_acl.c - access control lists: canned ACLs (x-amz-acl),
 * grant headers (x-amz-grant-*), the AccessControlPolicy XML both ways,
 * and Get/PutBucketAcl, Get/PutObjectAcl.
 *
 * A stored ACL is an owner plus explicit grants.  Canned ACLs are
 * expanded to grants when set (the owner's FULL_CONTROL included), so
 * GetAcl shows exactly what S3 would.  The owner may always read and
 * change the ACL (s3_acl_allows), as in S3; data access needs a grant.
 * Grants by email address are resolved to the user when set.
 */
#include "ingest/s3_int.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define S3_XMLNS "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\""
#define URI_ALL_USERS "http://acs.amazonaws.com/groups/global/AllUsers"
#define URI_AUTH_USERS \
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"

static const struct {
    const char *name;
    unsigned perm;
} perms[] = {
    { "FULL_CONTROL", STORE_PERM_FULL_CONTROL },
    { "READ", STORE_PERM_READ },
    { "WRITE", STORE_PERM_WRITE },
    { "READ_ACP", STORE_PERM_READ_ACP },
    { "WRITE_ACP", STORE_PERM_WRITE_ACP },
};

static void add_grant(struct s3_req *r, struct store_acl *acl,
                      enum store_grantee_kind kind, const char *id,
                      unsigned perm)
{
    struct store_grant *g = rs_arena_alloc(r->a, (acl->ngrants + 1) *
                                                     sizeof(*g));

    if (acl->ngrants)
        memcpy(g, acl->grants, acl->ngrants * sizeof(*g));
    g[acl->ngrants].kind = kind;
    g[acl->ngrants].id = id ? rs_arena_strdup(r->a, id) : NULL;
    g[acl->ngrants].perm = perm;
    acl->grants = g;
    acl->ngrants++;
}

static enum s3_errcode canned(struct s3_req *r, struct store_acl *acl,
                              const char *name, const char *bucket_owner)
{
    add_grant(r, acl, STORE_GRANTEE_USER, acl->owner,
              STORE_PERM_FULL_CONTROL);
    if (!strcmp(name, "private") || !strcmp(name, "aws-exec-read"))
        return S3E_NONE;
    if (!strcmp(name, "public-read")) {
        add_grant(r, acl, STORE_GRANTEE_ALL_USERS, NULL, STORE_PERM_READ);
    } else if (!strcmp(name, "public-read-write")) {
        add_grant(r, acl, STORE_GRANTEE_ALL_USERS, NULL, STORE_PERM_READ);
        add_grant(r, acl, STORE_GRANTEE_ALL_USERS, NULL, STORE_PERM_WRITE);
    } else if (!strcmp(name, "authenticated-read")) {
        add_grant(r, acl, STORE_GRANTEE_AUTH_USERS, NULL, STORE_PERM_READ);
    } else if (!strcmp(name, "bucket-owner-read")) {
        if (bucket_owner && strcmp(bucket_owner, acl->owner))
            add_grant(r, acl, STORE_GRANTEE_USER, bucket_owner,
                      STORE_PERM_READ);
    } else if (!strcmp(name, "bucket-owner-full-control")) {
        if (bucket_owner && strcmp(bucket_owner, acl->owner))
            add_grant(r, acl, STORE_GRANTEE_USER, bucket_owner,
                      STORE_PERM_FULL_CONTROL);
    } else {
        return S3E_INVALID_ARGUMENT;
    }
    return S3E_NONE;
}

struct email_match {
    const char *email;
    char name[sizeof(((struct store_user *)0)->name)];
};

static int match_email(void *arg, const struct store_user *u)
{
    struct email_match *m = arg;

    if (!u->email[0] || strcasecmp(u->email, m->email))
        return 0;
    snprintf(m->name, sizeof(m->name), "%s", u->name);
    return 1; /* found: stop the scan */
}

/*
 * The user with this email address, for grants by emailAddress (a scan of
 * the users: grants by email are rare and users few).  Into *name_out
 * (arena); UnresolvableGrantByEmailAddress when no user has it.
 */
static enum s3_errcode user_by_email(struct s3_req *r, const char *email,
                                     const char **name_out)
{
    struct email_match m = { .email = email };
    int rc = store_user_list(r->store, match_email, &m);

    if (rc == 1) {
        *name_out = rs_arena_strdup(r->a, m.name);
        return S3E_NONE;
    }
    if (rc)
        return s3_error_from_rs(rc, S3E_INTERNAL_ERROR);
    return s3_fail(r, S3E_UNRESOLVABLE_GRANT_BY_EMAIL, NULL);
}

/* One x-amz-grant-* value: id="a", uri="...", emailAddress="..." list. */
static enum s3_errcode grant_header(struct s3_req *r, struct store_acl *acl,
                                    const char *v, unsigned perm)
{
    const char *p = v;

    while (*p) {
        const char *eq, *q1, *q2;
        size_t klen;
        char *val;
        struct store_user u;

        p += strspn(p, " ,");
        if (!*p)
            break;
        eq = strchr(p, '=');
        if (!eq)
            return S3E_INVALID_ARGUMENT;
        klen = (size_t)(eq - p);
        q1 = eq + 1;
        if (*q1 == '"') {
            q2 = strchr(q1 + 1, '"');
            if (!q2)
                return S3E_INVALID_ARGUMENT;
            val = rs_arena_strndup(r->a, q1 + 1, (size_t)(q2 - q1 - 1));
            p = q2 + 1;
        } else {
            size_t n = strcspn(q1, ",");

            val = rs_arena_strndup(r->a, q1, n);
            p = q1 + n;
        }
        if (klen == 2 && !strncasecmp(eq - 2, "id", 2)) {
            if (store_user_get(r->store, &u, val))
                return s3_fail(r, S3E_INVALID_ARGUMENT, "Invalid id");
            add_grant(r, acl, STORE_GRANTEE_USER, val, perm);
        } else if (klen == 3 && !strncasecmp(eq - 3, "uri", 3)) {
            if (!strcmp(val, URI_ALL_USERS))
                add_grant(r, acl, STORE_GRANTEE_ALL_USERS, NULL, perm);
            else if (!strcmp(val, URI_AUTH_USERS))
                add_grant(r, acl, STORE_GRANTEE_AUTH_USERS, NULL, perm);
            else
                return s3_fail(r, S3E_INVALID_ARGUMENT, "Invalid group uri");
        } else if (klen == 12 && !strncasecmp(eq - 12, "emailAddress", 12)) {
            const char *name = NULL;
            enum s3_errcode e = user_by_email(r, val, &name);

            if (e)
                return e;
            add_grant(r, acl, STORE_GRANTEE_USER, name, perm);
        } else {
            return s3_fail(r, S3E_INVALID_ARGUMENT,
                           "Invalid grantee type in the grant header");
        }
    }
    return S3E_NONE;
}

enum s3_errcode s3_acl_from_headers(struct s3_req *r, struct store_acl *out,
                                    const char *owner,
                                    const char *bucket_owner)
{
    static const struct { const char *h; unsigned perm; } gh[] = {
        { "x-amz-grant-read", STORE_PERM_READ },
        { "x-amz-grant-write", STORE_PERM_WRITE },
        { "x-amz-grant-read-acp", STORE_PERM_READ_ACP },
        { "x-amz-grant-write-acp", STORE_PERM_WRITE_ACP },
        { "x-amz-grant-full-control", STORE_PERM_FULL_CONTROL },
    };
    const char *c = s3_req_header(r, "x-amz-acl");
    bool any_grant = false;
    enum s3_errcode e;
    size_t i;

    memset(out, 0, sizeof(*out));
    out->owner = rs_arena_strdup(r->a, owner ? owner : "");
    for (i = 0; i < sizeof(gh) / sizeof(gh[0]); i++)
        if (s3_req_header(r, gh[i].h))
            any_grant = true;
    if (c && any_grant)
        return s3_fail(r, S3E_INVALID_REQUEST,
                       "Specifying both Canned ACLs and Header Grants is "
                       "not allowed");
    if (!any_grant)
        return canned(r, out, c ? c : "private", bucket_owner);
    for (i = 0; i < sizeof(gh) / sizeof(gh[0]); i++) {
        const char *v = s3_req_header(r, gh[i].h);

        if (v && (e = grant_header(r, out, v, gh[i].perm)))
            return e;
    }
    return S3E_NONE;
}

/* <ID> and <DisplayName> of a user (the display name looked up). */
static void xml_user_fields(struct s3_req *r, struct rs_buf *b,
                            const char *user)
{
    struct store_user u;
    const char *dn = user;

    if (user && store_user_get(r->store, &u, user) == RS_OK &&
        u.display_name[0])
        dn = rs_arena_strdup(r->a, u.display_name);
    s3_xml_elem(b, "ID", user ? user : "");
    s3_xml_elem(b, "DisplayName", dn ? dn : "");
}

void s3_xml_owner(struct s3_req *r, struct rs_buf *b, const char *elem,
                  const char *user)
{
    (void)rs_buf_printf(b, "<%s>", elem);
    xml_user_fields(r, b, user);
    (void)rs_buf_printf(b, "</%s>", elem);
}

/*
 * Group grants are listed before user grants (pass 0, then pass 1), each
 * in the order they were set: RGW's order, which ceph/s3-tests compares
 * grant by grant (public-read: AllUsers READ, then the owner's
 * FULL_CONTROL).
 */
static void render_acl(struct s3_req *r, const struct store_acl *acl)
{
    struct rs_buf *b = &r->rsp_body;
    size_t j, k;

    s3_rsp_xml_begin(r);
    (void)rs_buf_puts(b, "<AccessControlPolicy " S3_XMLNS ">");
    s3_xml_owner(r, b, "Owner", acl->owner);
    (void)rs_buf_puts(b, "<AccessControlList>");
    for (k = 0; k < 2 * acl->ngrants; k++) {
        const struct store_grant *g = &acl->grants[k % acl->ngrants];

        if ((k < acl->ngrants) != (g->kind != STORE_GRANTEE_USER))
            continue;

        for (j = 0; j < sizeof(perms) / sizeof(perms[0]); j++) {
            if (g->perm == STORE_PERM_FULL_CONTROL ? j != 0
                : (j == 0 || !(g->perm & perms[j].perm)))
                continue;
            (void)rs_buf_puts(b, "<Grant><Grantee xmlns:xsi=\"http://www.w3."
                                 "org/2001/XMLSchema-instance\" ");
            if (g->kind == STORE_GRANTEE_USER) {
                (void)rs_buf_puts(b, "xsi:type=\"CanonicalUser\">");
                xml_user_fields(r, b, g->id);
            } else {
                (void)rs_buf_puts(b, "xsi:type=\"Group\">");
                s3_xml_elem(b, "URI", g->kind == STORE_GRANTEE_ALL_USERS
                                          ? URI_ALL_USERS
                                          : URI_AUTH_USERS);
            }
            (void)rs_buf_puts(b, "</Grantee>");
            s3_xml_elem(b, "Permission", perms[j].name);
            (void)rs_buf_puts(b, "</Grant>");
        }
    }
    (void)rs_buf_puts(b, "</AccessControlList></AccessControlPolicy>");
    r->status = 200;
}

/* AccessControlPolicy XML body into acl (owner must stay the owner). */
static enum s3_errcode acl_from_xml(struct s3_req *r, struct store_acl *acl,
                                    const char *owner)
{
    const struct s3_xnode *root, *list, *g;
    const char *oid;

    memset(acl, 0, sizeof(*acl));
    acl->owner = rs_arena_strdup(r->a, owner);
    if (s3_xml_parse(r->a, (struct s3_xnode **)&root, r->body.data,
                     r->body.len) ||
        strcmp(root->name, "AccessControlPolicy"))
        return S3E_MALFORMED_ACL;
    oid = s3_xml_child_text(s3_xml_child(root, "Owner"), "ID");
    if (oid && strcmp(oid, owner))
        return S3E_ACCESS_DENIED;
    list = s3_xml_child(root, "AccessControlList");
    if (!list)
        return S3E_MALFORMED_ACL;
    for (g = s3_xml_child(list, "Grant"); g; g = s3_xml_next(g, "Grant")) {
        const struct s3_xnode *ge = s3_xml_child(g, "Grantee");
        const char *perm = s3_xml_child_text(g, "Permission");
        const char *id, *uri;
        unsigned p = 0;
        size_t j;
        struct store_user u;

        if (!ge || !perm)
            return S3E_MALFORMED_ACL;
        for (j = 0; j < sizeof(perms) / sizeof(perms[0]); j++)
            if (!strcmp(perm, perms[j].name))
                p = perms[j].perm;
        if (!p)
            return S3E_MALFORMED_ACL;
        id = s3_xml_child_text(ge, "ID");
        uri = s3_xml_child_text(ge, "URI");
        if (id) {
            if (store_user_get(r->store, &u, id))
                return s3_fail(r, S3E_INVALID_ARGUMENT, "Invalid id");
            add_grant(r, acl, STORE_GRANTEE_USER, id, p);
        } else if (uri && !strcmp(uri, URI_ALL_USERS)) {
            add_grant(r, acl, STORE_GRANTEE_ALL_USERS, NULL, p);
        } else if (uri && !strcmp(uri, URI_AUTH_USERS)) {
            add_grant(r, acl, STORE_GRANTEE_AUTH_USERS, NULL, p);
        } else if (s3_xml_child_text(ge, "EmailAddress")) {
            const char *name = NULL;
            enum s3_errcode e = user_by_email(
                r, s3_xml_child_text(ge, "EmailAddress"), &name);

            if (e)
                return e;
            add_grant(r, acl, STORE_GRANTEE_USER, name, p);
        } else {
            return S3E_MALFORMED_ACL;
        }
    }
    return S3E_NONE;
}

static enum s3_errcode acl_for_put(struct s3_req *r, struct store_acl *acl,
                                   const char *owner,
                                   const char *bucket_owner)
{
    if (r->body.len) {
        if (s3_req_header(r, "x-amz-acl"))
            return s3_fail(r, S3E_INVALID_REQUEST,
                           "Specifying both Canned ACLs and an "
                           "AccessControlPolicy is not allowed");
        return acl_from_xml(r, acl, owner);
    }
    return s3_acl_from_headers(r, acl, owner, bucket_owner);
}

/* Bucket ACL -------------------------------------------------------- */

static enum s3_errcode bucket_acl_read_authorize(struct s3_req *r)
{
    return s3_acl_allows(r, &r->bkt.acl, STORE_PERM_READ_ACP)
               ? S3E_NONE
               : S3E_ACCESS_DENIED;
}

static enum s3_errcode bucket_acl_write_authorize(struct s3_req *r)
{
    return s3_acl_allows(r, &r->bkt.acl, STORE_PERM_WRITE_ACP)
               ? S3E_NONE
               : S3E_ACCESS_DENIED;
}

static enum s3_errcode get_bucket_acl_execute(struct s3_req *r)
{
    render_acl(r, &r->bkt.acl);
    return S3E_NONE;
}

static enum s3_errcode put_bucket_acl_execute(struct s3_req *r)
{
    struct store_acl acl;
    enum s3_errcode e;
    int rc;

    e = acl_for_put(r, &acl, r->bkt.acl.owner, r->bkt.acl.owner);
    if (e)
        return e;
    rc = store_bucket_set_acl(r->store, r->bucket, &acl);
    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_BUCKET);
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_get_bucket_acl = {
    "GetBucketAcl", 0, bucket_acl_read_authorize, NULL,
    get_bucket_acl_execute,
};
const struct s3_op s3_op_put_bucket_acl = {
    "PutBucketAcl", S3_OP_WRITE | S3_OP_BODY_BUFFER,
    bucket_acl_write_authorize, NULL, put_bucket_acl_execute,
};

/* Object ACL -------------------------------------------------------- */

struct obj_acl_state {
    struct store_obj obj;
};

static enum s3_errcode object_acl_authorize(struct s3_req *r, unsigned perm)
{
    struct obj_acl_state *st = rs_arena_alloc(r->a, sizeof(*st));
    int rc;

    r->op_state = st;
    rc = store_object_head(r->store, r->a, &st->obj, r->bucket, r->key);
    if (rc == RS_ENOTFOUND)
        return s3_acl_allows(r, &r->bkt.acl, STORE_PERM_READ)
                   ? S3E_NO_SUCH_KEY
                   : S3E_ACCESS_DENIED;
    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_KEY);
    return s3_acl_allows(r, &st->obj.acl, perm) ? S3E_NONE
                                                : S3E_ACCESS_DENIED;
}

static enum s3_errcode object_acl_read_authorize(struct s3_req *r)
{
    return object_acl_authorize(r, STORE_PERM_READ_ACP);
}

static enum s3_errcode object_acl_write_authorize(struct s3_req *r)
{
    return object_acl_authorize(r, STORE_PERM_WRITE_ACP);
}

static enum s3_errcode get_object_acl_execute(struct s3_req *r)
{
    struct obj_acl_state *st = r->op_state;

    render_acl(r, &st->obj.acl);
    return S3E_NONE;
}

static enum s3_errcode put_object_acl_execute(struct s3_req *r)
{
    struct obj_acl_state *st = r->op_state;
    struct store_acl acl;
    enum s3_errcode e;
    int rc;

    e = acl_for_put(r, &acl, st->obj.acl.owner, r->bkt.acl.owner);
    if (e)
        return e;
    rc = store_object_set_acl(r->store, r->bucket, r->key, &acl);
    if (rc)
        return s3_error_from_rs(rc, S3E_NO_SUCH_KEY);
    r->status = 200;
    return S3E_NONE;
}

const struct s3_op s3_op_get_object_acl = {
    "GetObjectAcl", 0, object_acl_read_authorize, NULL,
    get_object_acl_execute,
};
const struct s3_op s3_op_put_object_acl = {
    "PutObjectAcl", S3_OP_WRITE | S3_OP_BODY_BUFFER,
    object_acl_write_authorize, NULL, put_object_acl_execute,
};
