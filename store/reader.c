/*
 * store/reader.c - reading objects back: layout walk, checksum
 * verification, and the pin set that keeps the collector away from the
 * containers of open readers.
 *
 * A read of [off, off+n) is cut at extent boundaries; within an extent it
 * reads the block-aligned span covering the request (at most
 * READ_SPAN bytes per step) and the matching CRC32C entries (the
 * container format is in writer.c), verifies every block, and copies the
 * requested bytes out.  A mismatch, or a container shorter than its layout
 * says, is RS_ECORRUPT: wrong bytes are never returned.
 *
 * A reader uses one container at a time (objects written by one writer
 * live in one container; multipart objects switch per part): a merged
 * container still in memory (merge.c), or an open handle from the file
 * cache below.
 *
 * FILE CACHE.  Open container handles are kept in s->files (a chained
 * hash table of name -> handle with a reference count) so that a GET costs
 * no open/close: up to cfg->open_files handles, the least recently used
 * unreferenced ones closed beyond that.  The collector calls
 * store__file_forget before removing a container (it is unpinned, so no
 * reader holds its handle).  files_lock guards the table and the LRU list
 * and is held across open(2) of a missing entry only.
 *
 * PINS.  store_reader_open pins every container of the layout in
 * s->pins (a chained hash table of name -> refs) and store_reader_close
 * unpins.  The collector (gc.c) removes a container only after "dooming"
 * it here, which fails while it is pinned; a reader that meets a doomed
 * container fails with RS_ENOTFOUND (its object is long gone).  pin_lock
 * guards the table; it is never held across I/O.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#define READ_SPAN (1u << 20)

struct store_reader {
    struct store *s;
    struct store_layout l;
    uint64_t *starts;             /* object offset where each run starts */
    struct store_file *sf;        /* open container (cached handle), */
    struct merge_ctr *mc;         /* or merged container in memory, */
    char fname[STORE_CNAME_SIZE]; /* named so; both NULL: none */
    uint8_t *span;                /* data of the current step, then its
                                     CRCs */
    size_t spancap;
};

/* ------------------------------------------------------------------ */
/* Pins                                                                 */
/* ------------------------------------------------------------------ */

static uint64_t pin_hash(const char *name)
{
    return rs_fnv1a64(name) % STORE_PIN_BUCKETS;
}

/* Find name's entry; *pp is where its pointer is kept. Under pin_lock. */
static struct store_pin *pin_find(struct store *s, const char *name,
                                  struct store_pin ***pp)
{
    struct store_pin **p = &s->pins[pin_hash(name)];
    for (; *p; p = &(*p)->next)
        if (strcmp((*p)->name, name) == 0)
            break;
    if (pp)
        *pp = p;
    return *p;
}

static void pin_drop(struct store *s, const char *name)
{
    struct store_pin **pp;
    struct store_pin *p = pin_find(s, name, &pp);

    if (!p)
        return;
    if (p->refs > 0)
        p->refs--;
    if (p->refs == 0 && !p->doomed) {
        *pp = p->next;
        free(p);
    }
}

/* Distinct containers of a layout appear as adjacent runs (one writer,
 * one container), so skipping repeats of the previous run is enough. */
static bool run_is_repeat(const struct store_layout *l, size_t i)
{
    return i > 0 && strcmp(l->runs[i].container,
                           l->runs[i - 1].container) == 0;
}

int store__pin_layout(struct store *s, const struct store_layout *l)
{
    size_t i;

    pthread_mutex_lock(&s->pin_lock);
    for (i = 0; i < l->nruns; i++) {
        struct store_pin **pp, *p;

        if (run_is_repeat(l, i))
            continue;
        p = pin_find(s, l->runs[i].container, &pp);
        if (p && p->doomed)
            break;
        if (!p) {
            p = rs_xcalloc(1, sizeof *p);
            memcpy(p->name, l->runs[i].container, STORE_CNAME_SIZE);
            *pp = p;
        }
        p->refs++;
    }
    if (i < l->nruns) {
        const char *doomed = l->runs[i].container;
        while (i-- > 0)
            if (!run_is_repeat(l, i))
                pin_drop(s, l->runs[i].container);
        pthread_mutex_unlock(&s->pin_lock);
        return rs_err_set(RS_ENOTFOUND, "container %s is being removed "
                          "(the object changed; read its metadata again)",
                          doomed);
    }
    pthread_mutex_unlock(&s->pin_lock);
    return RS_OK;
}

void store__unpin_layout(struct store *s, const struct store_layout *l)
{
    pthread_mutex_lock(&s->pin_lock);
    for (size_t i = 0; i < l->nruns; i++)
        if (!run_is_repeat(l, i))
            pin_drop(s, l->runs[i].container);
    pthread_mutex_unlock(&s->pin_lock);
}

bool store__pin_doom(struct store *s, const char *name)
{
    struct store_pin **pp, *p;
    bool doomed = false;

    pthread_mutex_lock(&s->pin_lock);
    p = pin_find(s, name, &pp);
    if (!p) {
        p = rs_xcalloc(1, sizeof *p);
        memcpy(p->name, name, STORE_CNAME_SIZE);
        *pp = p;
    }
    if (p->refs == 0) {
        p->doomed = true;
        doomed = true;
    }
    pthread_mutex_unlock(&s->pin_lock);
    return doomed;
}

void store__pin_undoom(struct store *s, const char *name)
{
    struct store_pin **pp, *p;

    pthread_mutex_lock(&s->pin_lock);
    p = pin_find(s, name, &pp);
    if (p) {
        p->doomed = false;
        if (p->refs == 0) {
            *pp = p->next;
            free(p);
        }
    }
    pthread_mutex_unlock(&s->pin_lock);
}

/* ------------------------------------------------------------------ */
/* File cache                                                           */
/* ------------------------------------------------------------------ */

static void lru_unlink(struct store *s, struct store_file *f)
{
    if (f->lru_prev)
        f->lru_prev->lru_next = f->lru_next;
    else if (s->files_lru == f)
        s->files_lru = f->lru_next;
    if (f->lru_next)
        f->lru_next->lru_prev = f->lru_prev;
    else if (s->files_mru == f)
        s->files_mru = f->lru_prev;
    f->lru_prev = f->lru_next = NULL;
}

static void lru_push(struct store *s, struct store_file *f)
{
    f->lru_prev = s->files_mru;
    f->lru_next = NULL;
    if (s->files_mru)
        s->files_mru->lru_next = f;
    else
        s->files_lru = f;
    s->files_mru = f;
}

/* Unlink f from the hash table and close it.  Under files_lock, refs 0. */
static void file_drop(struct store *s, struct store_file *f)
{
    struct store_file **pp = &s->files[pin_hash(f->name)];

    while (*pp != f)
        pp = &(*pp)->next;
    *pp = f->next;
    lru_unlink(s, f);
    f->f->ops->close(f->f);
    free(f);
    s->nfiles--;
}

int store__file_get(struct store *s, struct store_file **out, uint8_t group,
                    const char *name)
{
    struct store_group *g = &s->groups[group];
    struct store_file *f;
    int rc;

    *out = NULL;
    pthread_mutex_lock(&s->files_lock);
    for (f = s->files[pin_hash(name)]; f; f = f->next)
        if (strcmp(f->name, name) == 0 && f->group == group)
            break;
    if (f) {
        if (f->refs++ == 0)
            lru_unlink(s, f);
        pthread_mutex_unlock(&s->files_lock);
        *out = f;
        return RS_OK;
    }
    if (!g->g) {
        pthread_mutex_unlock(&s->files_lock);
        return rs_err_set(RS_EINVAL, "container %s: group %u has no "
                          "directories", name, group);
    }
    f = rs_xcalloc(1, sizeof *f);
    rc = g->ops->open(&f->f, g->g, name, STORE_BK_READ);
    if (rc != RS_OK) {
        pthread_mutex_unlock(&s->files_lock);
        free(f);
        return rc;
    }
    memcpy(f->name, name, STORE_CNAME_SIZE);
    f->group = group;
    f->refs = 1;
    f->next = s->files[pin_hash(name)];
    s->files[pin_hash(name)] = f;
    s->nfiles++;
    while (s->nfiles > s->max_files && s->files_lru)
        file_drop(s, s->files_lru);
    pthread_mutex_unlock(&s->files_lock);
    *out = f;
    return RS_OK;
}

void store__file_put(struct store *s, struct store_file *f)
{
    if (!f)
        return;
    pthread_mutex_lock(&s->files_lock);
    if (--f->refs == 0) {
        lru_push(s, f);
        while (s->nfiles > s->max_files && s->files_lru)
            file_drop(s, s->files_lru);
    }
    pthread_mutex_unlock(&s->files_lock);
}

void store__file_forget(struct store *s, const char *name)
{
    struct store_file *f;

    pthread_mutex_lock(&s->files_lock);
    for (f = s->files[pin_hash(name)]; f; f = f->next)
        if (strcmp(f->name, name) == 0)
            break;
    if (f && f->refs == 0)
        file_drop(s, f);
    pthread_mutex_unlock(&s->files_lock);
}

void store__files_close(struct store *s)
{
    pthread_mutex_lock(&s->files_lock);
    for (size_t i = 0; i < STORE_PIN_BUCKETS; i++)
        while (s->files[i]) {
            struct store_file *f = s->files[i];
            if (f->refs != 0)
                rs_warn("store: container %s still open at close", f->name);
            f->refs = 0;
            file_drop(s, f);
        }
    pthread_mutex_unlock(&s->files_lock);
}

/* ------------------------------------------------------------------ */
/* Readers                                                              */
/* ------------------------------------------------------------------ */

static void reader_release(struct store_reader *r)
{
    store__file_put(r->s, r->sf);
    r->sf = NULL;
    if (r->mc)
        store__merge_unref(r->s, r->mc);
    r->mc = NULL;
}

static int reader_use(struct store_reader *r, const struct store_run *run)
{
    int rc;

    if ((r->sf || r->mc) && strcmp(r->fname, run->container) == 0)
        return RS_OK;
    reader_release(r);
    /* A merged container not yet flushed is read from memory; once the
     * flusher drops it from memory, its file is durable. */
    if ((run->flags & STORE_RUN_MERGED) &&
        (r->mc = store__merge_find(r->s, run->container)) != NULL) {
        memcpy(r->fname, run->container, STORE_CNAME_SIZE);
        return RS_OK;
    }
    rc = store__file_get(r->s, &r->sf, run->group, run->container);
    if (rc == RS_ENOTFOUND)
        return rs_err_set(RS_ENOTFOUND, "container %s is gone (the object "
                          "changed; read its metadata again)",
                          run->container);
    if (rc != RS_OK)
        return rc;
    memcpy(r->fname, run->container, STORE_CNAME_SIZE);
    return RS_OK;
}

/* Positioned read from the current container. */
static int reader_pread(struct store_reader *r, void *p, size_t n,
                        uint64_t off, size_t *got)
{
    if (r->mc) {
        store__merge_read(r->mc, p, n, off, got);
        return RS_OK;
    }
    return r->sf->f->ops->read_at(r->sf->f, p, n, off, got);
}

int store_reader_open(struct store *s, struct store_reader **out,
                      const struct store_obj *obj)
{
    struct store_reader *r;
    uint64_t at = 0;
    int rc;

    *out = NULL;
    r = rs_xcalloc(1, sizeof *r);
    r->s = s;
    if (obj->_layout) {
        if ((rc = store__layout_decode(&r->l, obj->_layout,
                                       obj->_layout_len)) != RS_OK)
            goto fail;
    } else if (obj->size != 0) {
        rc = rs_err_set(RS_EINVAL, "%s/%s: metadata without layout",
                        obj->bucket, obj->key);
        goto fail;
    }
    r->starts = rs_xcalloc(r->l.nruns + 1, sizeof *r->starts);
    for (size_t i = 0; i < r->l.nruns; i++) {
        r->starts[i] = at;
        at += r->l.runs[i].len * r->l.runs[i].count;
    }
    r->starts[r->l.nruns] = at;
    if ((rc = store__pin_layout(s, &r->l)) != RS_OK)
        goto fail;
    /* Open the first container now, so data that went away between the
     * head and this open is reported here (the others are pinned and
     * cannot go away any more). */
    if (r->l.nruns > 0 && (rc = reader_use(r, &r->l.runs[0])) != RS_OK) {
        store__unpin_layout(s, &r->l);
        goto fail;
    }
    *out = r;
    return RS_OK;
fail:
    store__layout_dispose(&r->l);
    free(r->starts);
    free(r);
    return rc;
}

static size_t run_at(const struct store_reader *r, uint64_t off)
{
    size_t lo = 0, hi = r->l.nruns;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->starts[mid] <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* One step: read and verify part of one extent into p. */
static int reader_step(struct store_reader *r, uint64_t off, uint8_t *p,
                       size_t n, size_t *got)
{
    const struct store_run *run = &r->l.runs[run_at(r, off)];
    uint64_t rel = off - r->starts[run - r->l.runs];
    uint64_t block = run->block;
    uint64_t e = rel / run->len;
    uint64_t eoff = rel % run->len;
    uint64_t ext = run->offset + e * store__extent_span(run->len,
                                                        run->block);
    uint64_t want = run->len - eoff;
    uint64_t s0, s1, maxspan;
    size_t nb, g;
    uint8_t *crcs;
    bool whole;
    int rc;

    if (want > n)
        want = n;
    maxspan = READ_SPAN / block * block;
    if (maxspan == 0)
        maxspan = block;
    s0 = eoff / block * block;
    s1 = (eoff + want + block - 1) / block * block;
    if (s1 > run->len)
        s1 = run->len;
    if (s1 - s0 > maxspan) {
        s1 = s0 + maxspan;
        want = s1 - eoff;
    }
    nb = (size_t)((s1 - s0 + block - 1) / block);

    if ((rc = reader_use(r, run)) != RS_OK)
        return rc;
    /* Room for the span and, after it, its CRCs: when the span is a whole
     * extent (a small object), data and CRCs are adjacent in the
     * container and one pread takes both. */
    if (r->spancap < s1 - s0 + 4 * nb) {
        r->spancap = (size_t)(s1 - s0 + 4 * nb);
        free(r->span);
        r->span = rs_xmalloc(r->spancap);
    }
    crcs = r->span + (s1 - s0);
    if (run->flags & STORE_RUN_OPEN) {
        /* The open block of an appendable object (less than one block):
         * its CRC is in the layout, its slot in the container not yet
         * written. */
        if ((rc = reader_pread(r, r->span, (size_t)run->len, ext, &g)) !=
            RS_OK)
            return rc;
        if (g < run->len)
            return rs_err_set(RS_ECORRUPT, "container %s is short: %zu of "
                              "%llu bytes at %llu", r->fname, g,
                              (unsigned long long)run->len,
                              (unsigned long long)ext);
        if (rs_crc32c(0, r->span, (size_t)run->len) != run->open_crc)
            return rs_err_set(RS_ECORRUPT, "checksum mismatch in container "
                              "%s, open block at offset %llu", r->fname,
                              (unsigned long long)ext);
        memcpy(p, r->span + eoff, (size_t)want);
        *got = (size_t)want;
        return RS_OK;
    }
    whole = s0 == 0 && s1 == run->len;
    if ((rc = reader_pread(r, r->span,
                           (size_t)(s1 - s0) + (whole ? 4 * nb : 0),
                           ext + s0, &g)) != RS_OK)
        return rc;
    if (g < s1 - s0)
        return rs_err_set(RS_ECORRUPT, "container %s is short: %zu of %llu "
                          "bytes at %llu", r->fname, g,
                          (unsigned long long)(s1 - s0),
                          (unsigned long long)(ext + s0));
    if (whole)
        g -= (size_t)(s1 - s0);
    else if ((rc = reader_pread(r, crcs, 4 * nb,
                                ext + run->len + 4 * (s0 / block), &g)) !=
             RS_OK)
        return rc;
    if (g != 4 * nb)
        return rs_err_set(RS_ECORRUPT, "container %s is short: no checksums "
                          "for extent at %llu", r->fname,
                          (unsigned long long)ext);
    for (size_t i = 0; i < nb; i++) {
        const uint8_t *c = crcs + 4 * i;
        uint32_t want_crc = (uint32_t)c[0] | (uint32_t)c[1] << 8 |
                            (uint32_t)c[2] << 16 | (uint32_t)c[3] << 24;
        uint64_t b0 = i * block;
        uint64_t bl = s1 - s0 - b0 < block ? s1 - s0 - b0 : block;
        if (rs_crc32c(0, r->span + b0, (size_t)bl) != want_crc)
            return rs_err_set(RS_ECORRUPT, "checksum mismatch in container "
                              "%s, block at offset %llu", r->fname,
                              (unsigned long long)(ext + s0 + b0));
    }
    memcpy(p, r->span + (eoff - s0), (size_t)want);
    *got = (size_t)want;
    return RS_OK;
}

int store_reader_read(struct store_reader *r, uint64_t off, void *p,
                      size_t n, size_t *got)
{
    size_t done = 0;
    int rc = RS_OK;

    while (done < n && off + done < r->l.size) {
        size_t g = 0;
        rc = reader_step(r, off + done, (uint8_t *)p + done, n - done, &g);
        if (rc != RS_OK)
            break;
        done += g;
    }
    *got = rc == RS_OK ? done : 0;
    return rc;
}

void store_reader_close(struct store_reader *r)
{
    if (!r)
        return;
    reader_release(r);
    store__unpin_layout(r->s, &r->l);
    store__layout_dispose(&r->l);
    free(r->starts);
    free(r->span);
    free(r);
}

/* store_int.h */
int store__read_whole(struct store *s, const struct store_obj *o,
                      uint8_t **out)
{
    struct store_reader *r = NULL;
    uint64_t off = 0;
    int rc;

    *out = rs_xmalloc(o->size ? o->size : 1);
    if ((rc = store_reader_open(s, &r, o)) != RS_OK)
        return rc;
    while (rc == RS_OK && off < o->size) {
        size_t got = 0;
        rc = store_reader_read(r, off, *out + off, (size_t)(o->size - off),
                               &got);
        if (rc == RS_OK && got == 0)
            rc = rs_err_set(RS_ECORRUPT, "%s/%s: short read", o->bucket,
                            o->key);
        off += got;
    }
    store_reader_close(r);
    return rc;
}
