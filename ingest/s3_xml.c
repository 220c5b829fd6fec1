/*
 * ingest/s3_xml.c - request bodies in XML, parsed with libxml2 into a small
 * arena tree (struct s3_xnode) so no other file sees libxml2, and the
 * helpers that write response XML.
 *
 * Parsing is locked down: no network, no entity substitution, no DTD
 * loading, a size limit enforced before we get here (max_xml_body).
 */
#include "ingest/s3_int.h"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <string.h>

static struct s3_xnode *convert(struct rs_arena *a, xmlNodePtr n)
{
    struct s3_xnode *x = rs_arena_alloc(a, sizeof(*x));
    struct s3_xnode **tail = &x->child;
    struct rs_buf text;
    xmlNodePtr c;

    x->name = rs_arena_strdup(a, (const char *)n->name);
    rs_buf_init(&text, SIZE_MAX);
    for (c = n->children; c; c = c->next) {
        if (c->type == XML_ELEMENT_NODE) {
            *tail = convert(a, c);
            tail = &(*tail)->next;
        } else if ((c->type == XML_TEXT_NODE ||
                    c->type == XML_CDATA_SECTION_NODE) && c->content) {
            (void)rs_buf_puts(&text, (const char *)c->content);
        }
    }
    if (text.data)
        x->text = rs_arena_strndup(a, text.data, text.len);
    rs_buf_dispose(&text);
    return x;
}

enum s3_errcode s3_xml_parse(struct rs_arena *a, struct s3_xnode **root_out,
                             const char *p, size_t n)
{
    xmlDocPtr doc;
    xmlNodePtr root;

    if (n == 0 || n > INT32_MAX)
        return S3E_MALFORMED_XML;
    doc = xmlReadMemory(p, (int)n, "body.xml", NULL,
                        XML_PARSE_NONET | XML_PARSE_NOERROR |
                            XML_PARSE_NOWARNING | XML_PARSE_NOCDATA);
    if (!doc)
        return S3E_MALFORMED_XML;
    root = xmlDocGetRootElement(doc);
    if (!root) {
        xmlFreeDoc(doc);
        return S3E_MALFORMED_XML;
    }
    *root_out = convert(a, root);
    xmlFreeDoc(doc);
    return S3E_NONE;
}

const struct s3_xnode *s3_xml_next(const struct s3_xnode *node,
                                   const char *name)
{
    for (node = node ? node->next : NULL; node; node = node->next)
        if (!strcmp(node->name, name))
            return node;
    return NULL;
}

const struct s3_xnode *s3_xml_child(const struct s3_xnode *parent,
                                    const char *name)
{
    const struct s3_xnode *c;

    for (c = parent ? parent->child : NULL; c; c = c->next)
        if (!strcmp(c->name, name))
            return c;
    return NULL;
}

const char *s3_xml_child_text(const struct s3_xnode *parent,
                              const char *name)
{
    const struct s3_xnode *c = s3_xml_child(parent, name);

    return c ? (c->text ? c->text : "") : NULL;
}

void s3_xml_elem(struct rs_buf *b, const char *name, const char *text)
{
    (void)rs_buf_printf(b, "<%s>", name);
    (void)rs_buf_xml_escape(b, text ? text : "");
    (void)rs_buf_printf(b, "</%s>", name);
}

void s3_xml_elem_u64(struct rs_buf *b, const char *name, uint64_t v)
{
    (void)rs_buf_printf(b, "<%s>%llu</%s>", name, (unsigned long long)v,
                        name);
}

void s3_xml_elem_key(struct rs_buf *b, const char *name, const char *key,
                     bool url_encode)
{
    if (!url_encode) {
        s3_xml_elem(b, name, key);
        return;
    }
    (void)rs_buf_printf(b, "<%s>", name);
    (void)s3_url_encode(b, key, strlen(key), false);
    (void)rs_buf_printf(b, "</%s>", name);
}

void s3_xml_elem_time(struct rs_buf *b, const char *name, int64_t ns)
{
    char ts[40];

    rs_time_iso8601(ts, sizeof(ts), ns);
    s3_xml_elem(b, name, ts);
}
