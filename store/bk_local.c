/*
 * store/bk_local.c - the "local" data backend: containers are plain files
 * on local file systems (store_backend.h has the interface).
 *
 * ON DISK.  A group is a list of directories (one per disk).  Container
 * NAME (32 lower-case hex characters) lives at
 *
 *     <dirs[h % ndirs]>/<NAME[0..1]>/<NAME[2..3]>/<NAME>
 *
 * where h is the 64-bit FNV-1a hash of NAME.  The two fan-out levels
 * (256 x 256 directories) keep directories small; they are created lazily
 * by the first container that needs them.  Changing the list of dirs of a
 * group moves where names hash to: do not, without migrating files.
 *
 * The content of a container is written by the store (store/store.c
 * specifies it: extents of object data, each followed by its CRC32C
 * array); this file only moves bytes.
 *
 * DURABILITY.  A new fan-out directory is made durable at once: mkdir,
 * then fsync of its parent.  A bitmap per group dir remembers which
 * fan-out dirs were made durable by this process, so that work is done
 * once per directory per run, and also done by a writer who lost the mkdir
 * race (it cannot know the winner already fsync'ed the parent).  The new
 * container's own entry is made durable by sync (fdatasync of the file,
 * then fsync of its directory).  remove unlinks and fsyncs the directory.
 *
 * LOCKS.  One mutex per group guards the durability bitmaps; it is held
 * across the mkdir and fsync of a fan-out directory only (rare).  Nothing
 * else is shared: a file handle belongs to its opener, and pread is safe
 * concurrently.
 */
#include "store/store_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

/* ------------------------------------------------------------------ */
/* Types                                                                */
/* ------------------------------------------------------------------ */

struct bk_local_dir {
    char *path;
    uint8_t l1_durable[256 / 8];     /* fan-out level 1 made durable */
    uint8_t *l2_durable;             /* 65536 bits, level 2 (by l1*256+l2) */
};

struct bk_local_group {
    struct store_bk_group base;      /* first */
    pthread_mutex_t lock;            /* guards the dirs' bitmaps */
    struct bk_local_dir *dirs;
    int ndirs;
};

struct bk_local_file {
    struct store_bk_file base;       /* first */
    int fd;
    uint64_t size;                   /* append offset (created files) */
    bool entry_dirty;                /* created; its dir entry unsynced */
    char path[];                     /* full path of the container */
};

/* ------------------------------------------------------------------ */
/* Helpers                                                              */
/* ------------------------------------------------------------------ */

static bool valid_name(const char *name)
{
    size_t i;
    for (i = 0; name[i]; i++) {
        char c = name[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return i == STORE_CONTAINER_NAME_LEN;
}

static int hexval(char c)
{
    return c <= '9' ? c - '0' : c - 'a' + 10;
}

static struct bk_local_dir *pick_dir(struct bk_local_group *g,
                                     const char *name)
{
    return &g->dirs[rs_fnv1a64(name) % (uint64_t)g->ndirs];
}

/* Make sure <dir>/<l1>/<l2> exists and is durable. Called with no lock. */
static int ensure_fanout(struct bk_local_group *g, struct bk_local_dir *d,
                         const char *name)
{
    unsigned l1 = (unsigned)(hexval(name[0]) << 4 | hexval(name[1]));
    unsigned l2 = l1 * 256 + (unsigned)(hexval(name[2]) << 4 | hexval(name[3]));
    char p1[4096], p2[4096];
    int rc = RS_OK;

    snprintf(p1, sizeof p1, "%s/%.2s", d->path, name);
    snprintf(p2, sizeof p2, "%s/%.2s/%.2s", d->path, name, name + 2);

    pthread_mutex_lock(&g->lock);
    if (!(d->l1_durable[l1 / 8] & (1u << (l1 % 8)))) {
        if (mkdir(p1, 0755) != 0 && errno != EEXIST) {
            rc = rs_err_errno(errno, "mkdir %s", p1);
            goto out;
        }
        if ((rc = rs_fsync_dir(d->path)) != RS_OK)
            goto out;
        d->l1_durable[l1 / 8] |= (uint8_t)(1u << (l1 % 8));
    }
    if (!(d->l2_durable[l2 / 8] & (1u << (l2 % 8)))) {
        if (mkdir(p2, 0755) != 0 && errno != EEXIST) {
            rc = rs_err_errno(errno, "mkdir %s", p2);
            goto out;
        }
        if ((rc = rs_fsync_dir(p1)) != RS_OK)
            goto out;
        d->l2_durable[l2 / 8] |= (uint8_t)(1u << (l2 % 8));
    }
out:
    pthread_mutex_unlock(&g->lock);
    return rc;
}

static void container_path(char *out, size_t cap, struct bk_local_dir *d,
                           const char *name)
{
    snprintf(out, cap, "%s/%.2s/%.2s/%s", d->path, name, name + 2, name);
}

/* ------------------------------------------------------------------ */
/* Group slots                                                          */
/* ------------------------------------------------------------------ */

static void local_group_close(struct store_bk_group *bg)
{
    struct bk_local_group *g = (struct bk_local_group *)bg;
    if (!g)
        return;
    for (int i = 0; i < g->ndirs; i++) {
        free(g->dirs[i].path);
        free(g->dirs[i].l2_durable);
    }
    free(g->dirs);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

static int local_group_open(struct store_bk_group **out,
                            const char *const *dirs, int ndirs)
{
    struct bk_local_group *g;
    int rc;

    *out = NULL;
    if (ndirs <= 0)
        return rs_err_set(RS_EINVAL, "local backend: a group needs a dir");
    g = rs_xcalloc(1, sizeof *g);
    g->base.ops = &bk_local_ops;
    pthread_mutex_init(&g->lock, NULL);
    g->dirs = rs_xcalloc((size_t)ndirs, sizeof *g->dirs);
    g->ndirs = ndirs;
    for (int i = 0; i < ndirs; i++) {
        g->dirs[i].path = rs_xstrdup(dirs[i]);
        g->dirs[i].l2_durable = rs_xcalloc(65536 / 8, 1);
        if ((rc = rs_mkdirs(dirs[i], true)) != RS_OK) {
            local_group_close(&g->base);
            return rc;
        }
    }
    *out = &g->base;
    return RS_OK;
}

static int local_remove(struct store_bk_group *bg, const char *name)
{
    struct bk_local_group *g = (struct bk_local_group *)bg;
    struct bk_local_dir *d;
    char path[4096], dir[4096];

    if (!valid_name(name))
        return rs_err_set(RS_EINVAL, "bad container name '%s'", name);
    d = pick_dir(g, name);
    container_path(path, sizeof path, d, name);
    if (unlink(path) != 0)
        return rs_err_errno(errno, "unlink %s", path);
    snprintf(dir, sizeof dir, "%s/%.2s/%.2s", d->path, name, name + 2);
    return rs_fsync_dir(dir);
}

static int local_statfs(struct store_bk_group *bg, uint64_t *used_out,
                        uint64_t *free_out)
{
    struct bk_local_group *g = (struct bk_local_group *)bg;
    dev_t seen[RS_MAX_DISKS * 4];
    int nseen = 0;

    *used_out = 0;
    *free_out = 0;
    for (int i = 0; i < g->ndirs; i++) {
        struct stat st;
        struct statvfs vf;
        bool dup = false;

        if (stat(g->dirs[i].path, &st) != 0)
            return rs_err_errno(errno, "stat %s", g->dirs[i].path);
        for (int j = 0; j < nseen; j++)
            dup |= seen[j] == st.st_dev;
        if (dup)
            continue;
        if (nseen < (int)(sizeof seen / sizeof seen[0]))
            seen[nseen++] = st.st_dev;
        if (statvfs(g->dirs[i].path, &vf) != 0)
            return rs_err_errno(errno, "statvfs %s", g->dirs[i].path);
        *used_out += (uint64_t)(vf.f_blocks - vf.f_bfree) * vf.f_frsize;
        *free_out += (uint64_t)vf.f_bavail * vf.f_frsize;
    }
    return RS_OK;
}

/* ------------------------------------------------------------------ */
/* File slots                                                           */
/* ------------------------------------------------------------------ */

static int local_open(struct store_bk_file **out, struct store_bk_group *bg,
                      const char *name, int flags)
{
    struct bk_local_group *g = (struct bk_local_group *)bg;
    struct bk_local_dir *d;
    struct bk_local_file *f;
    char path[4096];
    int fd, rc;

    *out = NULL;
    if (!valid_name(name))
        return rs_err_set(RS_EINVAL, "bad container name '%s'", name);
    d = pick_dir(g, name);
    container_path(path, sizeof path, d, name);
    if (flags & STORE_BK_CREATE) {
        if ((rc = ensure_fanout(g, d, name)) != RS_OK)
            return rc;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    } else if (flags & STORE_BK_APPEND) {
        fd = open(path, O_RDWR | O_CLOEXEC);
    } else {
        fd = open(path, O_RDONLY | O_CLOEXEC);
    }
    if (fd < 0)
        return rs_err_errno(errno, "open %s", path);
    f = rs_xcalloc(1, sizeof *f + strlen(path) + 1);
    f->base.ops = &bk_local_ops;
    f->fd = fd;
    f->entry_dirty = (flags & STORE_BK_CREATE) != 0;
    if (flags & STORE_BK_APPEND) {
        struct stat st;
        if (fstat(fd, &st) != 0) {
            rc = rs_err_errno(errno, "stat %s", path);
            close(fd);
            free(f);
            return rc;
        }
        f->size = (uint64_t)st.st_size;
    }
    strcpy(f->path, path);
    *out = &f->base;
    return RS_OK;
}

static int local_append(struct store_bk_file *bf, const void *p, size_t n)
{
    struct bk_local_file *f = (struct bk_local_file *)bf;
    const char *c = p;

    while (n > 0) {
        ssize_t w = pwrite(f->fd, c, n, (off_t)f->size);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return rs_err_errno(errno, "write %s", f->path);
        }
        if (w == 0)
            return rs_err_set(RS_EIO, "write %s: no progress", f->path);
        c += w;
        n -= (size_t)w;
        f->size += (uint64_t)w;
    }
    return RS_OK;
}

static int local_read_at(struct store_bk_file *bf, void *p, size_t n,
                         uint64_t off, size_t *got)
{
    struct bk_local_file *f = (struct bk_local_file *)bf;
    size_t done = 0;

    while (done < n) {
        ssize_t r = pread(f->fd, (char *)p + done, n - done,
                          (off_t)(off + done));
        if (r < 0) {
            if (errno == EINTR)
                continue;
            *got = done;
            return rs_err_errno(errno, "read %s", f->path);
        }
        if (r == 0)
            break;
        done += (size_t)r;
    }
    *got = done;
    return RS_OK;
}

static int local_sync(struct store_bk_file *bf)
{
    struct bk_local_file *f = (struct bk_local_file *)bf;

    if (fdatasync(f->fd) != 0)
        return rs_err_errno(errno, "fdatasync %s", f->path);
    if (f->entry_dirty) {
        char dir[4096];
        char *slash;
        int rc;

        snprintf(dir, sizeof dir, "%s", f->path);
        slash = strrchr(dir, '/');
        *slash = '\0';
        if ((rc = rs_fsync_dir(dir)) != RS_OK)
            return rc;
        f->entry_dirty = false;
    }
    return RS_OK;
}

static int local_truncate(struct store_bk_file *bf, uint64_t size)
{
    struct bk_local_file *f = (struct bk_local_file *)bf;

    if (ftruncate(f->fd, (off_t)size) != 0)
        return rs_err_errno(errno, "truncate %s", f->path);
    f->size = size;
    return RS_OK;
}

static int local_stat(struct store_bk_file *bf, uint64_t *size_out)
{
    struct bk_local_file *f = (struct bk_local_file *)bf;
    struct stat st;

    if (fstat(f->fd, &st) != 0)
        return rs_err_errno(errno, "stat %s", f->path);
    *size_out = (uint64_t)st.st_size;
    return RS_OK;
}

static void local_close(struct store_bk_file *bf)
{
    struct bk_local_file *f = (struct bk_local_file *)bf;
    if (!f)
        return;
    /* (void): a close error on a file already synced or abandoned tells
     * nothing we could act on. */
    (void)close(f->fd);
    free(f);
}

/* Walk <dir>/<hh>/<hh>/<name> of every dir. */
static int local_list(struct store_bk_group *bg,
                      int (*cb)(void *arg, const char *name, uint64_t size),
                      void *arg)
{
    struct bk_local_group *g = (struct bk_local_group *)bg;

    for (int i = 0; i < g->ndirs; i++) {
        DIR *d1 = opendir(g->dirs[i].path);
        struct dirent *e1;

        if (!d1)
            return rs_err_errno(errno, "open %s", g->dirs[i].path);
        while ((e1 = readdir(d1)) != NULL) {
            char p1[4096];
            DIR *d2;
            struct dirent *e2;

            if (strlen(e1->d_name) != 2 || e1->d_name[0] == '.')
                continue;
            snprintf(p1, sizeof p1, "%s/%s", g->dirs[i].path, e1->d_name);
            if (!(d2 = opendir(p1)))
                continue;
            while ((e2 = readdir(d2)) != NULL) {
                char p2[4400];
                DIR *d3;
                struct dirent *e3;

                if (strlen(e2->d_name) != 2 || e2->d_name[0] == '.')
                    continue;
                snprintf(p2, sizeof p2, "%s/%s", p1, e2->d_name);
                if (!(d3 = opendir(p2)))
                    continue;
                while ((e3 = readdir(d3)) != NULL) {
                    char p3[4700];
                    struct stat sb;
                    int rc;

                    if (!valid_name(e3->d_name))
                        continue;
                    snprintf(p3, sizeof p3, "%s/%s", p2, e3->d_name);
                    if (stat(p3, &sb) != 0)
                        continue;
                    if ((rc = cb(arg, e3->d_name,
                                 (uint64_t)sb.st_size)) != 0) {
                        closedir(d3);
                        closedir(d2);
                        closedir(d1);
                        return rc;
                    }
                }
                closedir(d3);
            }
            closedir(d2);
        }
        closedir(d1);
    }
    return RS_OK;
}

const struct store_backend_ops bk_local_ops = {
    .version = STORE_BACKEND_VERSION,
    .name = "local",
    .group_open = local_group_open,
    .group_close = local_group_close,
    .open = local_open,
    .append = local_append,
    .read_at = local_read_at,
    .sync = local_sync,
    .truncate = local_truncate,
    .remove = local_remove,
    .stat = local_stat,
    .close = local_close,
    .statfs = local_statfs,
    .list = local_list,
};
