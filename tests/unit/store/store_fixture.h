/*
 * tests/unit/store/store_fixture.h - the fixture shared by the store unit
 * tests (tests/unit/store/<file>_test.c): fresh temporary directories, a
 * store opened on one with bucket "bkt" (owner "alice"), helpers that
 * write object data, read it back and count containers on disk, and a way
 * to re-run the test program as a second process.
 *
 * Everything runs on a real RocksDB and real files; there are no mocks.
 * Each function fails the running cmocka test (assert_*) on an unexpected
 * result, so call them only from a test, a setup or a teardown.  One
 * thread at a time, like cmocka itself.
 *
 * Built once as the rs_store_fixture library (CMakeLists.txt here) and
 * linked into every test program of this folder.
 */
#ifndef STORE_FIXTURE_H
#define STORE_FIXTURE_H

#include <stddef.h>
#include <stdint.h>

#include "store/store.h"

/* Geometry of fx_setup: small blocks and stripes, so tests cross many. */
#define FX_BLOCK 4096u
#define FX_STRIPE 65536u

/* ------------------------------------------------------------------ */
/* Temporary directories                                               */
/* ------------------------------------------------------------------ */

/*
 * Create a fresh directory /tmp/rs-<tag>-test-XXXXXX and write its path to
 * dir (size bytes).  Fails the test if it cannot be created.
 */
void fx_tmpdir_create(char *dir, size_t size, const char *tag);

/* Remove dir and everything below it, best effort. */
void fx_tmpdir_remove(const char *dir);

/* ------------------------------------------------------------------ */
/* Store fixture                                                       */
/* ------------------------------------------------------------------ */

/* What the fx_setup* functions put in *state; fx_teardown frees it. */
struct fx {
    char dir[256];         /* data_dir, a fresh fx_tmpdir_create dir */
    struct rs_config cfg;  /* config the store was opened with */
    struct store *s;       /* open store; bucket "bkt" exists */
};

/*
 * Fill c (caller's storage; release with rs_config_dispose) with the
 * defaults plus data_dir = dir, the given block and stripe sizes (0 for
 * the config default), gc_delay seconds and a 4 MiB index cache.
 */
void fx_cfg_make(struct rs_config *c, const char *dir, uint32_t block,
                 uint64_t stripe, int gc_delay);

/*
 * cmocka setups: a fresh directory, a store on it with gc_delay 3600 and
 * bucket "bkt" owned by "alice".  fx_setup uses FX_BLOCK / FX_STRIPE,
 * fx_setup_default the config defaults (64 KiB blocks, 8 MiB stripes),
 * fx_setup_with the given sizes.  Always return 0 (failures fail the test).
 */
int fx_setup_with(void **state, uint32_t block, uint64_t stripe);
int fx_setup(void **state);
int fx_setup_default(void **state);

/* cmocka teardown: close the store, remove the directory, free the fx. */
int fx_teardown(void **state);

/* Close and reopen f->s with f->cfg, as after a restart. */
void fx_reopen(struct fx *f);

/* ------------------------------------------------------------------ */
/* Object data                                                          */
/* ------------------------------------------------------------------ */

/*
 * n bytes of xorshift noise determined by seed (at least one byte is
 * allocated, so n may be 0).  The caller frees the result with free().
 */
uint8_t *fx_pattern(size_t n, uint32_t seed);

/*
 * Write the n bytes at p as bucket/key (storage class cls, NULL for the
 * default) in uneven chunks through a store_writer and commit it with a
 * fixed etag and owner "alice".  Returns the first error of
 * store_writer_open, store_writer_write (after aborting the writer) or
 * store_writer_commit; RS_OK on success.
 */
int fx_put_obj(struct store *s, const char *bucket, const char *key,
               const uint8_t *p, size_t n, const char *cls);

/* fx_put_obj into "bkt" with the default class; fails the test unless OK. */
void fx_put_ok(struct store *s, const char *key, const uint8_t *p, size_t n);

/*
 * Read [off, off+n) of "bkt"/key through a fresh reader and fail the test
 * unless it equals p[off, off+n).
 */
void fx_check_range(struct store *s, const char *key, const uint8_t *p,
                    uint64_t off, size_t n);

/*
 * Fail the test unless "bkt"/key has size n, reads back as p[0, n), and a
 * read at offset n returns 0 bytes.
 */
void fx_check_obj(struct store *s, const char *key, const uint8_t *p,
                  size_t n);

/* Number of files (containers) below f->dir/group. */
int fx_count_containers(struct fx *f, const char *group);

/* Containers waiting for the garbage collector (store_get_stats). */
uint64_t fx_gc_pending(struct fx *f);

/* ------------------------------------------------------------------ */
/* Child processes                                                      */
/* ------------------------------------------------------------------ */

/*
 * Run this test program again as "<program> mode dir" and wait for it;
 * the program's main dispatches on mode (a --child-* argument).  Returns
 * the child's exit status; fails the test if it cannot be started or does
 * not exit normally.
 */
int fx_run_child(const char *mode, const char *dir);

/*
 * Run this test program again with argv (argv[0] its name) and the
 * environment, ROADSTORE_CRASHPOINT set to point (NULL: unset; "NAME" or
 * "NAME:N", core/rs.h), and wait for it.  Returns its wait status (a crash
 * point ends it by SIGKILL).
 */
int fx_spawn_crash(char *const argv[], const char *point);

#endif /* STORE_FIXTURE_H */
