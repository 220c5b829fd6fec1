/*
 * store/bk.c - the registry of data backends (store_backend.h): a fixed
 * table of built-ins plus a few slots filled by store_backend_register.
 *
 * LOCKS: none.  Registration happens before any store_open (documented in
 * the header); lookups afterwards only read.
 */
#include "store/store_backend.h"

#include <string.h>

#define BK_MAX_EXTRA 8

static const struct store_backend_ops *const bk_builtin[] = {
    &bk_local_ops,
};

static const struct store_backend_ops *bk_extra[BK_MAX_EXTRA];
static size_t bk_nextra;

const struct store_backend_ops *store_backend_find(const char *name)
{
    for (size_t i = 0; i < sizeof bk_builtin / sizeof bk_builtin[0]; i++)
        if (strcmp(bk_builtin[i]->name, name) == 0)
            return bk_builtin[i];
    for (size_t i = 0; i < bk_nextra; i++)
        if (strcmp(bk_extra[i]->name, name) == 0)
            return bk_extra[i];
    return NULL;
}

int store_backend_register(const struct store_backend_ops *ops)
{
    if (ops->version != STORE_BACKEND_VERSION)
        return rs_err_set(RS_EINVAL, "backend %s: ops version %d, want %d",
                          ops->name, ops->version, STORE_BACKEND_VERSION);
    if (store_backend_find(ops->name))
        return rs_err_set(RS_EEXIST, "backend %s already registered",
                          ops->name);
    if (bk_nextra == BK_MAX_EXTRA)
        return rs_err_set(RS_ETOOBIG, "backend registry full");
    bk_extra[bk_nextra++] = ops;
    return RS_OK;
}
