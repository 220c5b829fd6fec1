/*
 * store/layout.c - the data layout of an object: where its bytes are.
 *
 * An object is a sequence of extents; an extent is `len` bytes of data at
 * `offset` in a container of a storage group, followed in the container
 * by its CRC32C array (writer.c specifies the container format).  The
 * layout lists extents in object order, compressed into runs: `count`
 * consecutive extents of equal `len`, back to back in one container.  An
 * object written by one writer is therefore one run of full stripes plus
 * one run for the last (shorter) stripe, whatever its size; a multipart
 * object is the concatenation of its parts' runs.
 *
 * BLOB FORMAT, version 1 (kept in store_obj._layout and, base64, in the
 * "layout" member of object and part records).  Little-endian integers.
 *
 *   header, 16 bytes:
 *     0   u8     version = 1
 *     1   u8[3]  zero
 *     4   u32    nruns
 *     8   u64    size: total data bytes (sum of len * count)
 *   then nruns runs of 44 bytes each:
 *     0   u8     group (0 standard, 1 low-frequency)
 *     1   u8     flags: bit 0 (STORE_RUN_MERGED) set when the container
 *                is a merged container shared with other objects
 *                (merge.c), whose space is reclaimed by compaction, not
 *                by removing the container when this object goes
 *     2   u8[2]  zero
 *     4   u32    block: CRC block size of the run's extents (bytes, > 0)
 *     8   u8[16] container name as 16 bytes (its 32 hex digits)
 *     24  u64    offset of the first extent in the container
 *     32  u64    len: data bytes of each extent (> 0)
 *     40  u32    count: extents in the run (> 0)
 *
 * An empty object has nruns = 0.  A decoder rejects another version, a
 * length that is not 16 + 44 * nruns, and a size that does not add up.
 *
 * VERSION 2 is version 1 plus the open block of an appendable object
 * (append.c): its last run may carry flag bit 1 (STORE_RUN_OPEN): one
 * extent (count 1) of len < block bytes, the partial last block of the
 * object's tail, whose CRC32C is not in the container (its slot there, at
 * offset + block, is written only once the block is full, by a later
 * append) but in a u32 that follows the runs; the blob is then
 * 16 + 44 * nruns + 4 bytes.  A layout without an open run is written as
 * version 1, so objects that never grew by append keep their blobs.
 */
#include "store/store_int.h"

#include <stdlib.h>
#include <string.h>

#define LAYOUT_VERSION 1
#define LAYOUT_VERSION_OPEN 2
#define LAYOUT_HDR 16
#define LAYOUT_RUN 44

uint64_t store__extent_span(uint64_t len, uint32_t block)
{
    return len + 4 * ((len + block - 1) / block);
}

uint64_t store__run_end(const struct store_run *r)
{
    if (r->flags & STORE_RUN_OPEN)
        return r->offset + r->len;
    return r->offset + r->count * store__extent_span(r->len, r->block);
}

void store__layout_add(struct store_layout *l, const char *container,
                       uint8_t group, uint32_t block, uint64_t offset,
                       uint64_t len)
{
    struct store_run *last = l->nruns ? &l->runs[l->nruns - 1] : NULL;

    l->size += len;
    if (last && last->flags == 0 && last->len == len &&
        last->group == group &&
        last->block == block && last->count < UINT32_MAX &&
        strcmp(last->container, container) == 0 &&
        last->offset + last->count * store__extent_span(len, block) ==
            offset) {
        last->count++;
        return;
    }
    if (l->nruns == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 4;
        l->runs = rs_xrealloc(l->runs, l->cap * sizeof *l->runs);
    }
    last = &l->runs[l->nruns++];
    memset(last, 0, sizeof *last);
    memcpy(last->container, container, STORE_CONTAINER_NAME_LEN);
    last->group = group;
    last->block = block;
    last->offset = offset;
    last->len = len;
    last->count = 1;
}

void store__layout_append(struct store_layout *l,
                          const struct store_layout *more)
{
    for (size_t i = 0; i < more->nruns; i++) {
        const struct store_run *r = &more->runs[i];
        struct store_run *last;

        /* The first extent goes through the merge rule; the rest of the
         * run follows it back to back, so it extends whatever run the
         * first landed in. */
        store__layout_add(l, r->container, r->group, r->block, r->offset,
                          r->len);
        last = &l->runs[l->nruns - 1];
        last->count += r->count - 1;
        l->size += r->len * (r->count - 1);
    }
}

void store__layout_dispose(struct store_layout *l)
{
    free(l->runs);
    memset(l, 0, sizeof *l);
}

static int unhex(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

void *store__layout_encode(size_t *len_out, const struct store_layout *l)
{
    bool open = l->nruns && (l->runs[l->nruns - 1].flags & STORE_RUN_OPEN);
    size_t n = LAYOUT_HDR + LAYOUT_RUN * l->nruns + (open ? 4 : 0);
    uint8_t *b = rs_xcalloc(1, n);

    b[0] = open ? LAYOUT_VERSION_OPEN : LAYOUT_VERSION;
    if (open)
        rs_put32le(b + n - 4, l->runs[l->nruns - 1].open_crc);
    rs_put32le(b + 4, (uint32_t)l->nruns);
    rs_put64le(b + 8, l->size);
    for (size_t i = 0; i < l->nruns; i++) {
        const struct store_run *r = &l->runs[i];
        uint8_t *p = b + LAYOUT_HDR + LAYOUT_RUN * i;
        p[0] = r->group;
        p[1] = r->flags;
        rs_put32le(p + 4, r->block);
        for (int j = 0; j < 16; j++)
            p[8 + j] = (uint8_t)(unhex(r->container[2 * j]) << 4 |
                                 unhex(r->container[2 * j + 1]));
        rs_put64le(p + 24, r->offset);
        rs_put64le(p + 32, r->len);
        rs_put32le(p + 40, r->count);
    }
    *len_out = n;
    return b;
}

int store__layout_decode(struct store_layout *l, const void *blob, size_t n)
{
    const uint8_t *b = blob;
    uint64_t sum = 0;
    uint32_t nruns;
    size_t trailer;

    memset(l, 0, sizeof *l);
    if (n < LAYOUT_HDR ||
        (b[0] != LAYOUT_VERSION && b[0] != LAYOUT_VERSION_OPEN))
        return rs_err_set(RS_ECORRUPT, "layout: bad header (%zu bytes, "
                          "version %d)", n, n ? b[0] : -1);
    trailer = b[0] == LAYOUT_VERSION_OPEN ? 4 : 0;
    nruns = rs_get32le(b + 4);
    if (n < LAYOUT_HDR + trailer ||
        (n - LAYOUT_HDR - trailer) / LAYOUT_RUN != nruns ||
        (n - LAYOUT_HDR - trailer) % LAYOUT_RUN != 0 ||
        (trailer && nruns == 0))
        return rs_err_set(RS_ECORRUPT, "layout: %zu bytes for %u runs", n,
                          nruns);
    l->runs = nruns ? rs_xcalloc(nruns, sizeof *l->runs) : NULL;
    l->cap = l->nruns = nruns;
    for (uint32_t i = 0; i < nruns; i++) {
        const uint8_t *p = b + LAYOUT_HDR + LAYOUT_RUN * i;
        struct store_run *r = &l->runs[i];
        static const char hex[] = "0123456789abcdef";

        r->group = p[0];
        r->flags = p[1];
        r->block = rs_get32le(p + 4);
        for (int j = 0; j < 16; j++) {
            r->container[2 * j] = hex[p[8 + j] >> 4];
            r->container[2 * j + 1] = hex[p[8 + j] & 15];
        }
        r->container[32] = '\0';
        r->offset = rs_get64le(p + 24);
        r->len = rs_get64le(p + 32);
        r->count = rs_get32le(p + 40);
        bool last = i + 1 == nruns;
        if (r->group >= STORE_NGROUPS ||
            (r->flags & ~(STORE_RUN_MERGED | STORE_RUN_OPEN)) ||
            r->block == 0 || r->len == 0 || r->count == 0 ||
            /* only the last run of a version 2 layout is open */
            (((r->flags & STORE_RUN_OPEN) != 0) != (trailer && last)) ||
            ((r->flags & STORE_RUN_OPEN) &&
             (r->count != 1 || r->len >= r->block ||
              (r->flags & STORE_RUN_MERGED)))) {
            store__layout_dispose(l);
            return rs_err_set(RS_ECORRUPT, "layout: bad run %u", i);
        }
        if (r->flags & STORE_RUN_OPEN)
            r->open_crc = rs_get32le(b + n - 4);
        sum += r->len * r->count;
    }
    l->size = rs_get64le(b + 8);
    if (sum != l->size) {
        store__layout_dispose(l);
        return rs_err_set(RS_ECORRUPT, "layout: runs hold %llu bytes, "
                          "header says %llu", (unsigned long long)sum,
                          (unsigned long long)rs_get64le(b + 8));
    }
    return RS_OK;
}
