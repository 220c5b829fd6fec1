/*
 * store/wal.c - the write-ahead log of the merge path: segment files,
 * group commit, replay.  merge.c is its one user.
 *
 * SEGMENTS.  The log is a directory (cfg->wal_dir) of segment files
 * wal-<id:16 hex>.log, written by appending only.  A new segment is started
 * when the active one passes cfg->wal_segment_size, after a failed write,
 * and at every open (the segments found at open are only replayed and
 * later removed, never appended to).  The owner removes whole segments
 * with wal_retire once nothing in them is needed any more.
 *
 * RECORD FORMAT, version 1.  Little-endian integers.
 *
 *   header, 24 bytes:
 *     0   u32  magic 0x4c575352 ("RSWL")
 *     4   u8   type (owner-defined, non-zero)
 *     5   u8[3] zero
 *     8   u32  len: payload bytes that follow
 *     12  u32  crc: CRC-32C of the header with this field zero, then the
 *              payload
 *     16  u64  seq: strictly increasing over the log's life
 *   payload[len]
 *
 * Records follow each other with no padding.  Replay reads a segment
 * front to back and stops at the first record that is short, has another
 * magic, or fails its CRC: that is the torn tail of a write that never
 * completed, so never acknowledged (an acknowledged record was followed by
 * fdatasync).  A bad record that is not at the end of the newest segment
 * is reported as an error in the replay statistics: acknowledged data may
 * be damaged there.
 *
 * GROUP COMMIT.  Writers enqueue records (wal_enqueue: assigns the
 * sequence number, under the log's lock, so the caller can keep its own
 * order in step with the log's) and then wait (wal_wait).  The first
 * waiter that finds no write in progress becomes the leader: it takes
 * every queued record, writes them with writev at the end of the active
 * segment, calls fdatasync once, calls the owner's apply callback with the
 * batch (merge.c writes their index entries there, in sequence order, as
 * one RocksDB batch), then marks them done and wakes their owners, each
 * on its record's own condition variable (a shared one woke every waiter
 * for every batch, most of them only to sleep again: with 64 writers that
 * was most of the CPU of a small PUT), and wakes the owner of the first
 * record queued meanwhile to lead the next batch.  So N concurrent PUTs cost one
 * write and one fdatasync, not N.  A failed write or sync fails every
 * record of its batch; the segment is cut back to where the batch began
 * (or given up for a new one when that fails too).
 *
 * LOCKS: w->lock guards the queue, the sequence counter and the active
 * segment's identity; the leader writes without holding it (w->busy
 * keeps a second leader out).  It is a leaf lock.
 */
#include "store/store_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define WAL_MAGIC 0x4c575352u

struct wal {
    char *dir;
    int dirfd;
    uint64_t seg_max;
    wal_apply_fn apply;
    void *ctx;

    pthread_mutex_t lock;
    struct wal_rec *head, *tail;   /* queued, not yet taken by a leader */
    bool busy;                     /* a leader is writing */
    uint64_t next_seq;

    /* Active segment: the leader's, touched only while busy. */
    int fd;
    uint64_t seg;                  /* its id */
    uint64_t seg_size;
    bool roll;                     /* start a new segment before the next
                                      write */
    /* Segment ids present, oldest first (under lock). */
    uint64_t *segs;
    size_t nsegs, segcap;

    struct wal_stats st;           /* under lock */
};

static void seg_path(char *out, size_t n, const char *dir, uint64_t id)
{
    snprintf(out, n, "%s/wal-%016" PRIx64 ".log", dir, id);
}

static bool seg_parse(const char *name, uint64_t *id)
{
    char *end;

    if (strncmp(name, "wal-", 4) != 0 || strlen(name) != 4 + 16 + 4 ||
        strcmp(name + 20, ".log") != 0)
        return false;
    errno = 0;
    *id = strtoull(name + 4, &end, 16);
    return errno == 0 && end == name + 20;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted ids of the segments in dir (malloc'ed). */
static int list_segments(const char *dir, uint64_t **out, size_t *n_out)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    uint64_t *ids = NULL;
    size_t n = 0, cap = 0;

    *out = NULL;
    *n_out = 0;
    if (!d)
        return rs_err_errno(errno, "open WAL directory %s", dir);
    while ((e = readdir(d)) != NULL) {
        uint64_t id;
        if (!seg_parse(e->d_name, &id))
            continue;
        if (n == cap) {
            cap = cap ? 2 * cap : 16;
            ids = rs_xrealloc(ids, cap * sizeof *ids);
        }
        ids[n++] = id;
    }
    closedir(d);
    if (n)
        qsort(ids, n, sizeof *ids, cmp_u64);
    *out = ids;
    *n_out = n;
    return RS_OK;
}

/* ------------------------------------------------------------------ */
/* Replay                                                               */
/* ------------------------------------------------------------------ */

static int read_file(const char *path, uint8_t **out, size_t *n_out)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat sb;
    uint8_t *p;
    size_t got = 0;

    *out = NULL;
    if (fd < 0)
        return rs_err_errno(errno, "open %s", path);
    if (fstat(fd, &sb) != 0) {
        int e = errno;
        close(fd);
        return rs_err_errno(e, "stat %s", path);
    }
    p = rs_xmalloc((size_t)sb.st_size + 1);
    while (got < (size_t)sb.st_size) {
        ssize_t r = read(fd, p + got, (size_t)sb.st_size - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            int e = r < 0 ? errno : EIO;
            free(p);
            close(fd);
            return rs_err_errno(e, "read %s", path);
        }
        got += (size_t)r;
    }
    close(fd);
    *out = p;
    *n_out = got;
    return RS_OK;
}

/* CRC of a header (crc field taken as zero) and its payload. */
static uint32_t rec_crc(const uint8_t *hdr, const struct iovec *iov,
                        int niov)
{
    uint8_t h[WAL_HDR];
    uint32_t c;

    memcpy(h, hdr, WAL_HDR);
    rs_put32le(h + 12, 0);
    c = rs_crc32c(0, h, WAL_HDR);
    for (int i = 0; i < niov; i++)
        c = rs_crc32c(c, iov[i].iov_base, iov[i].iov_len);
    return c;
}

int wal_replay(const char *dir, wal_replay_fn cb, void *arg,
               struct wal_replay_stats *st)
{
    struct timespec t0, t1;
    uint64_t *ids = NULL;
    size_t nids = 0;
    int rc;

    memset(st, 0, sizeof *st);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if ((rc = rs_mkdirs(dir, true)) != RS_OK)
        return rc;
    if ((rc = list_segments(dir, &ids, &nids)) != RS_OK)
        return rc;
    for (size_t i = 0; i < nids && rc == RS_OK; i++) {
        char path[4096];
        uint8_t *buf;
        size_t n = 0, off = 0;

        seg_path(path, sizeof path, dir, ids[i]);
        if ((rc = read_file(path, &buf, &n)) != RS_OK)
            break;
        st->segments++;
        st->max_segment = ids[i];
        while (off < n) {
            const uint8_t *h = buf + off;
            uint32_t len;
            struct iovec iov;

            if (n - off < WAL_HDR || rs_get32le(h) != WAL_MAGIC)
                break;
            len = rs_get32le(h + 8);
            if (len > n - off - WAL_HDR)
                break;
            iov.iov_base = (void *)(h + WAL_HDR);
            iov.iov_len = len;
            if (rec_crc(h, &iov, 1) != rs_get32le(h + 12))
                break;
            if (rs_get64le(h + 16) > st->max_seq)
                st->max_seq = rs_get64le(h + 16);
            st->records++;
            st->bytes += WAL_HDR + len;
            rc = cb(arg, ids[i], rs_get64le(h + 16), h[4], h + WAL_HDR, len);
            if (rc != RS_OK)
                break;
            off += WAL_HDR + len;
        }
        if (rc == RS_OK && off < n) {
            if (i + 1 == nids) {
                st->torn_bytes += n - off;
            } else {
                st->bad_segments++;
                rs_error("wal: segment %s is damaged at offset %zu of %zu "
                         "(not the newest segment: records after it are "
                         "lost)", path, off, n);
            }
        }
        free(buf);
    }
    free(ids);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    st->seconds = (double)(t1.tv_sec - t0.tv_sec) +
                  (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    return rc;
}

/* ------------------------------------------------------------------ */
/* Open, close, segments                                                */
/* ------------------------------------------------------------------ */

/* Create segment id and make its name durable.  Under busy or at open. */
static int seg_create(struct wal *w, uint64_t id)
{
    char path[4096];
    int fd;

    seg_path(path, sizeof path, w->dir, id);
    fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return rs_err_errno(errno, "create WAL segment %s", path);
    if (fsync(w->dirfd) != 0) {
        int e = errno;
        close(fd);
        unlink(path);
        return rs_err_errno(e, "sync WAL directory %s", w->dir);
    }
    if (w->fd >= 0)
        close(w->fd);
    w->fd = fd;
    w->seg_size = 0;
    w->roll = false;
    pthread_mutex_lock(&w->lock);
    w->seg = id;
    if (w->nsegs == w->segcap) {
        w->segcap = w->segcap ? 2 * w->segcap : 16;
        w->segs = rs_xrealloc(w->segs, w->segcap * sizeof *w->segs);
    }
    w->segs[w->nsegs++] = id;
    w->st.segments = w->nsegs;
    pthread_mutex_unlock(&w->lock);
    return RS_OK;
}

int wal_open(struct wal **out, const char *dir, uint64_t seg_max,
             uint64_t next_seq, wal_apply_fn apply, void *ctx)
{
    struct wal *w = rs_xcalloc(1, sizeof *w);
    uint64_t *ids = NULL;
    size_t nids = 0;
    int rc;

    *out = NULL;
    w->dir = rs_xstrdup(dir);
    w->fd = -1;
    w->dirfd = -1;
    w->seg_max = seg_max ? seg_max : 64u << 20;
    w->apply = apply;
    w->ctx = ctx;
    w->next_seq = next_seq ? next_seq : 1;
    pthread_mutex_init(&w->lock, NULL);
    if ((rc = rs_mkdirs(dir, true)) != RS_OK)
        goto fail;
    w->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (w->dirfd < 0) {
        rc = rs_err_errno(errno, "open WAL directory %s", dir);
        goto fail;
    }
    if ((rc = list_segments(dir, &ids, &nids)) != RS_OK)
        goto fail;
    /* Old segments stay (for the owner to retire); writing starts in a
     * new one.  When the WAL device is full, the first write makes it
     * instead: the node still starts and serves reads. */
    w->segs = ids;
    w->nsegs = w->segcap = nids;
    w->seg = nids ? ids[nids - 1] : 0;
    if ((rc = seg_create(w, w->seg + 1)) == RS_ENOSPC) {
        rs_warn("wal: %s; writes will fail until there is space",
                rs_err_msg());
        w->roll = true;
    } else if (rc != RS_OK) {
        goto fail;
    }
    *out = w;
    return RS_OK;
fail:
    wal_close(w);
    return rc;
}

void wal_close(struct wal *w)
{
    if (!w)
        return;
    if (w->fd >= 0)
        close(w->fd);
    if (w->dirfd >= 0)
        close(w->dirfd);
    pthread_mutex_destroy(&w->lock);
    free(w->segs);
    free(w->dir);
    free(w);
}

uint64_t wal_active_segment(struct wal *w)
{
    uint64_t id;

    pthread_mutex_lock(&w->lock);
    id = w->seg;
    pthread_mutex_unlock(&w->lock);
    return id;
}

int wal_retire(struct wal *w, uint64_t below)
{
    size_t keep = 0, removed = 0;
    int rc = RS_OK;

    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->nsegs; i++) {
        char path[4096];

        if (w->segs[i] >= below || w->segs[i] == w->seg || rc != RS_OK) {
            w->segs[keep++] = w->segs[i];
            continue;
        }
        seg_path(path, sizeof path, w->dir, w->segs[i]);
        if (unlink(path) != 0 && errno != ENOENT) {
            rc = rs_err_errno(errno, "remove WAL segment %s", path);
            w->segs[keep++] = w->segs[i];
            continue;
        }
        removed++;
    }
    w->nsegs = keep;
    w->st.segments = keep;
    pthread_mutex_unlock(&w->lock);
    /* A removal that is lost in a crash only makes replay read records
     * the index already has. */
    if (removed && fsync(w->dirfd) != 0 && rc == RS_OK)
        rc = rs_err_errno(errno, "sync WAL directory %s", w->dir);
    return rc;
}

int wal_drop_all(struct wal *w)
{
    int rc = RS_OK;

    pthread_mutex_lock(&w->lock);
    for (size_t i = 0; i < w->nsegs; i++) {
        char path[4096];

        seg_path(path, sizeof path, w->dir, w->segs[i]);
        if (unlink(path) != 0 && errno != ENOENT && rc == RS_OK)
            rc = rs_err_errno(errno, "remove WAL segment %s", path);
    }
    w->nsegs = 0;
    w->st.segments = 0;
    w->roll = true;                  /* a later write starts a new one */
    pthread_mutex_unlock(&w->lock);
    if (fsync(w->dirfd) != 0 && rc == RS_OK)
        rc = rs_err_errno(errno, "sync WAL directory %s", w->dir);
    return rc;
}

void wal_get_stats(struct wal *w, struct wal_stats *out)
{
    pthread_mutex_lock(&w->lock);
    *out = w->st;
    out->segments = w->nsegs;
    pthread_mutex_unlock(&w->lock);
}

/* ------------------------------------------------------------------ */
/* Group commit                                                         */
/* ------------------------------------------------------------------ */

void wal_enqueue(struct wal *w, struct wal_rec *r, uint8_t type)
{
    size_t len = 0;

    for (int i = 0; i < r->niov; i++)
        len += r->iov[i].iov_len;
    r->next = NULL;
    r->done = false;
    r->rc = RS_OK;
    pthread_cond_init(&r->wake, NULL);
    pthread_mutex_lock(&w->lock);
    r->seq = w->next_seq++;
    r->seg = w->seg;
    memset(r->hdr, 0, WAL_HDR);
    rs_put32le(r->hdr, WAL_MAGIC);
    r->hdr[4] = type;
    rs_put32le(r->hdr + 8, (uint32_t)len);
    rs_put64le(r->hdr + 16, r->seq);
    if (w->tail)
        w->tail->next = r;
    else
        w->head = r;
    w->tail = r;
    pthread_mutex_unlock(&w->lock);
    /* The CRC is computed by the leader that writes it (wal_write), off
     * every lock. */
}

/* writev all of iov, resuming after short writes. */
static int write_all(int fd, struct iovec *iov, int niov, const char *what)
{
    while (niov > 0) {
        int n = niov > IOV_MAX ? IOV_MAX : niov;
        ssize_t wr = writev(fd, iov, n);

        if (wr < 0) {
            if (errno == EINTR)
                continue;
            return rs_err_errno(errno, "write %s", what);
        }
        while (wr > 0 && niov > 0) {
            if ((size_t)wr >= iov->iov_len) {
                wr -= (ssize_t)iov->iov_len;
                iov++;
                niov--;
            } else {
                iov->iov_base = (uint8_t *)iov->iov_base + wr;
                iov->iov_len -= (size_t)wr;
                wr = 0;
            }
        }
        while (niov > 0 && iov->iov_len == 0) {
            iov++;
            niov--;
        }
    }
    return RS_OK;
}

/* The leader's write: every record of the batch, then one fdatasync. */
static int wal_write(struct wal *w, struct wal_rec **recs, size_t n)
{
    struct iovec *iov;
    size_t niov = 0, total = 0;
    char what[4200];
    int rc;

    for (size_t i = 0; i < n; i++) {
        rs_put32le(recs[i]->hdr + 12,
              rec_crc(recs[i]->hdr, recs[i]->iov, recs[i]->niov));
        niov += 1 + (size_t)recs[i]->niov;
        total += WAL_HDR + rs_get32le(recs[i]->hdr + 8);
    }
    if (w->roll || (w->seg_size > 0 && w->seg_size + total > w->seg_max)) {
        if ((rc = seg_create(w, w->seg + 1)) != RS_OK)
            return rc;
    }
    iov = rs_xmalloc(niov * sizeof *iov);
    niov = 0;
    for (size_t i = 0; i < n; i++) {
        iov[niov].iov_base = recs[i]->hdr;
        iov[niov++].iov_len = WAL_HDR;
        for (int j = 0; j < recs[i]->niov; j++)
            iov[niov++] = recs[i]->iov[j];
    }
    seg_path(what, sizeof what, w->dir, w->seg);
    rc = write_all(w->fd, iov, (int)niov, what);
    free(iov);
    rs_crashpoint("wal-written");
    if (rc == RS_OK && fdatasync(w->fd) != 0)
        rc = rs_err_errno(errno, "fdatasync %s", what);
    if (rc != RS_OK) {
        /* Cut the batch off; a segment that cannot be cut is given up
         * (replay may then find records that were reported failed: their
         * content is right, and S3 allows a failed PUT to have happened). */
        if (ftruncate(w->fd, (off_t)w->seg_size) != 0 ||
            fdatasync(w->fd) != 0)
            w->roll = true;
        return rc;
    }
    w->seg_size += total;
    pthread_mutex_lock(&w->lock);
    w->st.fsyncs++;
    w->st.records += n;
    w->st.bytes += total;
    for (int b = 0; b < WAL_BATCH_BUCKETS; b++)
        if (n <= (1u << b) || b == WAL_BATCH_BUCKETS - 1) {
            w->st.batch_hist[b]++;
            break;
        }
    pthread_mutex_unlock(&w->lock);
    return RS_OK;
}

int wal_wait(struct wal *w, struct wal_rec *r)
{
    int rc;

    pthread_mutex_lock(&w->lock);
    while (!r->done) {
        struct wal_rec **recs, *p;
        size_t n = 0;

        if (w->busy || !w->head) {
            pthread_cond_wait(&r->wake, &w->lock);
            continue;
        }
        /* Lead: take the whole queue. */
        for (p = w->head; p; p = p->next)
            n++;
        recs = rs_xmalloc(n * sizeof *recs);
        n = 0;
        for (p = w->head; p; p = p->next)
            recs[n++] = p;
        w->head = w->tail = NULL;
        w->busy = true;
        pthread_mutex_unlock(&w->lock);

        rc = wal_write(w, recs, n);
        if (rc == RS_OK && w->apply)
            rc = w->apply(w->ctx, recs, n);
        if (rc != RS_OK)
            for (size_t i = 0; i < n; i++)
                recs[i]->rc = rc;

        pthread_mutex_lock(&w->lock);
        if (rc != RS_OK)
            w->st.failed_batches++;
        for (size_t i = 0; i < n; i++) {
            recs[i]->done = true;
            if (recs[i] != r)
                pthread_cond_signal(&recs[i]->wake);
        }
        w->busy = false;
        /* Hand the lead to the oldest queued record's owner (one that has
         * not reached wal_wait yet leads when it does). */
        if (w->head)
            pthread_cond_signal(&w->head->wake);
        free(recs);
    }
    rc = r->rc;
    pthread_mutex_unlock(&w->lock);
    pthread_cond_destroy(&r->wake);
    return rc;
}
