/*
 * core/buf.c - growable byte buffers with a hard limit (STYLE.md 4: every
 * buffer a client can grow has a limit; hitting it is RS_ETOOBIG).
 */
#include "core/rs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rs_buf_init(struct rs_buf *b, size_t limit)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->limit = limit;
}

void rs_buf_dispose(struct rs_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void rs_buf_reset(struct rs_buf *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = '\0';
}

static int buf_reserve(struct rs_buf *b, size_t n)
{
    size_t cap;

    if (n > b->limit || b->len > b->limit - n)
        return rs_err_set(RS_ETOOBIG, "buffer limit of %zu bytes reached",
                          b->limit);
    if (b->len + n + 1 <= b->cap)
        return RS_OK;
    cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1)
        cap *= 2;
    b->data = rs_xrealloc(b->data, cap);
    b->cap = cap;
    return RS_OK;
}

int rs_buf_append(struct rs_buf *b, const void *p, size_t n)
{
    int rc = buf_reserve(b, n);

    if (rc)
        return rc;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return RS_OK;
}

int rs_buf_puts(struct rs_buf *b, const char *s)
{
    return rs_buf_append(b, s, strlen(s));
}

int rs_buf_printf(struct rs_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n, rc;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return rs_err_set(RS_EINVAL, "bad format");
    rc = buf_reserve(b, (size_t)n);
    if (rc)
        return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return RS_OK;
}

int rs_buf_xml_escape(struct rs_buf *b, const char *s)
{
    const char *start = s;
    int rc;

    for (; *s; s++) {
        const char *rep;
        char num[16];

        switch (*s) {
        case '&': rep = "&amp;"; break;
        case '<': rep = "&lt;"; break;
        case '>': rep = "&gt;"; break;
        case '"': rep = "&quot;"; break;
        case '\'': rep = "&apos;"; break;
        case '\r': rep = "&#13;"; break;
        case '\n': rep = "&#10;"; break;
        case '\t': rep = "&#9;"; break;
        default:
            if ((unsigned char)*s >= 0x20)
                continue;
            /* Other control characters are not representable in XML 1.0
             * text; emit a character reference as S3 does. */
            snprintf(num, sizeof(num), "&#x%X;", (unsigned char)*s);
            rep = num;
            break;
        }
        if ((rc = rs_buf_append(b, start, (size_t)(s - start))) ||
            (rc = rs_buf_puts(b, rep)))
            return rc;
        start = s + 1;
    }
    return rs_buf_append(b, start, (size_t)(s - start));
}

char *rs_buf_detach(struct rs_buf *b, size_t *len_out)
{
    char *p = b->data;

    if (len_out)
        *len_out = b->len;
    if (!p)
        p = rs_xcalloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}
