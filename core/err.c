/*
 * core/err.c - the rs_err codes, their fixed strings and the per-thread
 * detail message (STYLE.md section 3); and crash points for tests.
 */
#include "core/rs.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RS_ERR_MSG_MAX 512

/* The last detail message of this thread. */
static _Thread_local char err_msg[RS_ERR_MSG_MAX];

const char *rs_strerror(int code)
{
    switch (code) {
    case RS_OK: return "success";
    case RS_ERR: return "unexpected error";
    case RS_ENOTFOUND: return "not found";
    case RS_EEXIST: return "already exists";
    case RS_EINVAL: return "invalid argument";
    case RS_EDENIED: return "permission denied";
    case RS_ECONFLICT: return "conflict";
    case RS_ETOOBIG: return "too big";
    case RS_ENOSPC: return "no space left";
    case RS_EIO: return "I/O error";
    case RS_ECORRUPT: return "data corrupt";
    case RS_EBUSY: return "busy";
    case RS_ESHUTDOWN: return "shutting down";
    }
    return "unknown error";
}

int rs_err_set(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
    va_end(ap);
    return code;
}

static int errno_to_rs(int errnum)
{
    switch (errnum) {
    case ENOENT: return RS_ENOTFOUND;
    case ENOSPC:
    case EDQUOT: return RS_ENOSPC;
    case EACCES:
    case EPERM: return RS_EDENIED;
    case EEXIST: return RS_EEXIST;
    case EBUSY:
    case EAGAIN: return RS_EBUSY;
    case EINVAL: return RS_EINVAL;
    case EFBIG: return RS_ETOOBIG;
    }
    return RS_EIO;
}

int rs_err_errno(int errnum, const char *fmt, ...)
{
    va_list ap;
    size_t n;

    va_start(ap, fmt);
    vsnprintf(err_msg, sizeof(err_msg), fmt, ap);
    va_end(ap);
    n = strlen(err_msg);
    if (n < sizeof(err_msg) - 1)
        snprintf(err_msg + n, sizeof(err_msg) - n, ": %s", strerror(errnum));
    return errno_to_rs(errnum);
}

const char *rs_err_msg(void)
{
    return err_msg;
}

void rs_err_clear(void)
{
    err_msg[0] = '\0';
}

/* ------------------------------------------------------------------ */
/* Crash points                                                         */
/* ------------------------------------------------------------------ */

static char crashpoint[128];        /* empty: none */
static unsigned long crashpoint_nth = 1;
static atomic_ulong crashpoint_hits;
static pthread_once_t crashpoint_once = PTHREAD_ONCE_INIT;

/* "NAME" or "NAME:N" (the N-th time NAME is reached). */
static void crashpoint_init(void)
{
    const char *v = getenv("ROADSTORE_CRASHPOINT");
    char *colon;

    if (!v || !*v)
        return;
    snprintf(crashpoint, sizeof crashpoint, "%s", v);
    if ((colon = strchr(crashpoint, ':')) != NULL) {
        *colon = '\0';
        crashpoint_nth = strtoul(colon + 1, NULL, 10);
        if (crashpoint_nth == 0)
            crashpoint_nth = 1;
    }
}

void rs_crashpoint(const char *name)
{
    pthread_once(&crashpoint_once, crashpoint_init);
    if (crashpoint[0] && strcmp(crashpoint, name) == 0 &&
        atomic_fetch_add(&crashpoint_hits, 1) + 1 == crashpoint_nth) {
        rs_warn("crash point %s: killing the process", name);
        raise(SIGKILL);
    }
}
