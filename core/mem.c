/*
 * core/mem.c - allocation that aborts on out-of-memory, and the per-request
 * arena.
 *
 * The arena is a list of blocks; small allocations are carved from the
 * current block, large ones get a block of their own.  Cleanups run in
 * reverse registration order before the blocks are freed.  One thread at a
 * time.
 */
#include "core/rs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_BLOCK 8192

void *rs_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (!p) {
        fprintf(stderr, "roadstore: out of memory (%zu bytes)\n", n);
        abort();
    }
    return p;
}

void *rs_xcalloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (!p) {
        fprintf(stderr, "roadstore: out of memory (%zu x %zu bytes)\n",
                nmemb, size);
        abort();
    }
    return p;
}

void *rs_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (!q) {
        fprintf(stderr, "roadstore: out of memory (%zu bytes)\n", n);
        abort();
    }
    return q;
}

char *rs_xstrdup(const char *s)
{
    return rs_xstrndup(s, strlen(s));
}

char *rs_xstrndup(const char *s, size_t n)
{
    char *p = rs_xmalloc(n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

struct arena_block {
    struct arena_block *next;
    size_t used;
    size_t cap;
    _Alignas(16) unsigned char data[];
};

struct arena_cleanup {
    struct arena_cleanup *next;
    void (*fn)(void *);
    void *arg;
};

struct rs_arena {
    struct arena_block *blocks;    /* current block first */
    struct arena_cleanup *cleanups; /* most recent first */
};

struct rs_arena *rs_arena_new(void)
{
    return rs_xcalloc(1, sizeof(struct rs_arena));
}

void rs_arena_free(struct rs_arena *a)
{
    if (!a)
        return;
    while (a->cleanups) {
        struct arena_cleanup *c = a->cleanups;

        a->cleanups = c->next;
        c->fn(c->arg);
    }
    while (a->blocks) {
        struct arena_block *b = a->blocks;

        a->blocks = b->next;
        free(b);
    }
    free(a);
}

void *rs_arena_alloc(struct rs_arena *a, size_t n)
{
    struct arena_block *b = a->blocks;
    size_t need = (n + 15) & ~(size_t)15;
    void *p;

    if (need < n)
        abort(); /* overflow: sizes from clients are checked before this */
    if (!b || b->cap - b->used < need) {
        size_t cap = need > ARENA_BLOCK / 2 ? need : ARENA_BLOCK;

        b = rs_xmalloc(sizeof(*b) + cap);
        b->used = 0;
        b->cap = cap;
        if (need > ARENA_BLOCK / 2 && a->blocks) {
            /* A big block goes behind the current one so the current
             * block's free space stays usable. */
            b->next = a->blocks->next;
            a->blocks->next = b;
        } else {
            b->next = a->blocks;
            a->blocks = b;
        }
    }
    p = b->data + b->used;
    b->used += need;
    memset(p, 0, n);
    return p;
}

char *rs_arena_strndup(struct rs_arena *a, const char *s, size_t n)
{
    char *p = rs_arena_alloc(a, n + 1);

    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *rs_arena_strdup(struct rs_arena *a, const char *s)
{
    return s ? rs_arena_strndup(a, s, strlen(s)) : NULL;
}

char *rs_arena_sprintf(struct rs_arena *a, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *p;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        abort();
    p = rs_arena_alloc(a, (size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

void rs_arena_add_cleanup(struct rs_arena *a, void (*fn)(void *), void *arg)
{
    struct arena_cleanup *c = rs_arena_alloc(a, sizeof(*c));

    c->fn = fn;
    c->arg = arg;
    c->next = a->cleanups;
    a->cleanups = c;
}
