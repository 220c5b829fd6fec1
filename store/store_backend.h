/*
 * store/store_backend.h - the interface a data backend implements: where
 * the bytes of containers live.  Read this if you write a backend
 * (bk_local.c now; bk_rados.c and the test-only bk_fault.c later).
 *
 * Model.  A backend serves storage *groups*.  A group is opened once from
 * its list of directories (for bk_local, one per disk) and yields a group
 * instance; containers are opened in a group by name and yield a file
 * instance.  A container name is 32 lower-case hex characters (128 random
 * bits) and is the only thing the index records about where data is; the
 * backend derives the physical place from it (bk_local: the directory is
 * chosen by a hash of the name across the group's dirs, then
 * <dir>/<hh>/<hh>/<name> with hh the first two pairs of hex digits).
 *
 * Containers are append-only while written by one writer thread, and then
 * read concurrently by any number of threads through read_at.  The tail
 * container of an appendable object (append.c) is reopened with
 * STORE_BK_APPEND and grown further, one appender at a time, beyond every
 * byte a reader can be reading.
 *
 * Both instance structs carry the ops pointer as their first member, so a
 * wrapper backend (fault injection, metrics) can stack over another one by
 * embedding the inner instance and forwarding.
 *
 * Implementations are found by name through a tiny registry
 * (store_backend_find); "local" is built in.
 *
 * Every slot returns an rs_err code with the message set (errno is turned
 * into an rs_err at the syscall, STYLE.md 3).  Thread-safety: group slots
 * (open, remove, statfs) may be called from any thread concurrently; file
 * slots on one file instance are called by one thread at a time, except
 * read_at, which must be safe concurrently with itself.
 */
#ifndef STORE_BACKEND_H
#define STORE_BACKEND_H

#include "core/rs.h"

#define STORE_BACKEND_VERSION 1

/* Length of a container name, without the NUL. */
#define STORE_CONTAINER_NAME_LEN 32

struct store_backend_ops;

/* An opened storage group.  Implementations embed it first. */
struct store_bk_group {
    const struct store_backend_ops *ops; /* first: wrappers stack */
};

/* An open container.  Implementations embed it first. */
struct store_bk_file {
    const struct store_backend_ops *ops; /* first: wrappers stack */
};

/* Flags for the open slot. */
enum store_bk_open_flags {
    STORE_BK_READ = 0,   /* existing container, for read_at and stat */
    STORE_BK_CREATE = 1, /* new container (must not exist), for append */
    STORE_BK_APPEND = 2, /* existing container, to grow (append.c): append
                            continues at its current size, or at the size
                            truncate set (dropping a torn tail) */
};

struct store_backend_ops {
    int version;        /* STORE_BACKEND_VERSION the table was built for */
    const char *name;   /* registry name, "local" */

    /* Open the group made of dirs[0..ndirs-1] (creating the directories
     * when missing).  *out is freed by group_close. */
    int (*group_open)(struct store_bk_group **out, const char *const *dirs,
                      int ndirs);
    /* Release the group; every file must be closed before.  NULL-safe. */
    void (*group_close)(struct store_bk_group *g);

    /* Open (STORE_BK_READ) or create (STORE_BK_CREATE) container `name`.
     * Read: RS_ENOTFOUND when it does not exist.  Create: RS_EEXIST when
     * it does; any directory the backend had to create for it is already
     * durable when this returns, the entry of the container itself only
     * after sync. */
    int (*open)(struct store_bk_file **out, struct store_bk_group *g,
                const char *name, int flags);
    /* Append n bytes at the end of a created container.  RS_ENOSPC,
     * RS_EIO.  On failure the container's tail is undefined (truncate to
     * the last good size, or give the container up). */
    int (*append)(struct store_bk_file *f, const void *p, size_t n);
    /* Read up to n bytes at off; *got < n only at the end of the
     * container.  Safe to call concurrently on one file. */
    int (*read_at)(struct store_bk_file *f, void *p, size_t n, uint64_t off,
                   size_t *got);
    /* Make every appended byte and the container's name durable (data
     * sync, plus the directory entry of a container created by this
     * handle). */
    int (*sync)(struct store_bk_file *f);
    /* Cut the container to size bytes (drop a torn tail).  May be NULL
     * for backends that cannot; callers then give the container up. */
    int (*truncate)(struct store_bk_file *f, uint64_t size);
    /* Remove container `name` durably.  RS_ENOTFOUND when it does not
     * exist (callers removing garbage treat that as done).  Open handles
     * elsewhere keep reading what they had (POSIX unlink semantics are not
     * required: the store never removes a container a reader pins). */
    int (*remove)(struct store_bk_group *g, const char *name);
    /* Current size of an open container in bytes. */
    int (*stat)(struct store_bk_file *f, uint64_t *size_out);
    /* Close a file instance (no sync).  NULL-safe. */
    void (*close)(struct store_bk_file *f);
    /* Space of the group: bytes used and free over its distinct file
     * systems.  May be NULL: the store then reports zeros. */
    int (*statfs)(struct store_bk_group *g, uint64_t *used_out,
                  uint64_t *free_out);
    /* Call cb with the name and size of every container of the group, in
     * no particular order; a non-zero return stops the walk and is
     * returned.  For fsck.  May be NULL: fsck then skips the orphan
     * check. */
    int (*list)(struct store_bk_group *g,
                int (*cb)(void *arg, const char *name, uint64_t size),
                void *arg);
};

/* The built-in local-file backend (bk_local.c). */
extern const struct store_backend_ops bk_local_ops;

/*
 * Registry.  store_backend_find returns the table registered under name
 * (built-ins first), or NULL.  store_backend_register adds one (tests,
 * plugins); call it before store_open, not concurrently with it.
 * RS_EEXIST for a taken name, RS_EINVAL for a table of another version,
 * RS_ETOOBIG when the registry is full.
 */
const struct store_backend_ops *store_backend_find(const char *name);
int store_backend_register(const struct store_backend_ops *ops);

#endif /* STORE_BACKEND_H */
