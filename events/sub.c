/*
 * events/sub.c - the subscriber side of the C client library (events.h):
 * a ZeroMQ SUB socket on the publisher's endpoint, two frames per event;
 * or a watcher of a consumer group: a DEALER on the broker that said
 * WATCH and gets COPY frames (and PINGs the broker every second).
 */
#include "events/events_int.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct ev_sub {
    void *zctx, *sock;
    char *topic, *msg;
    size_t tcap, mcap;
    bool watch;                  /* a group watcher (DEALER) */
    int64_t pinged;              /* watcher: last PING (monotonic ns) */
    char *group, *mode;          /* watcher: what it asked (live|backlog) */
    uint64_t last_seq;           /* watcher: last COPY's sequence (0: none) */
    unsigned unseen;             /* watcher: COPYs not yet reported SEEN */
};

/* Report consumed COPYs after this many (the broker sends at most 256
 * ahead of what it was told). */
#define SEEN_EVERY 64

static int send_text(void *sock, const char *const *f, int n)
{
    for (int i = 0; i < n; i++)
        if (zmq_send(sock, f[i], strlen(f[i]), i + 1 < n ? ZMQ_SNDMORE : 0)
            < 0)
            return rs_err_set(RS_EIO, "events: send: %s",
                              zmq_strerror(zmq_errno()));
    return RS_OK;
}

/* (Again) WATCH: after the last COPY seen, or as first asked. */
static int watch_send(struct ev_sub *sub)
{
    char from[24];
    const char *f[] = {"WATCH", sub->group, sub->mode};

    if (sub->last_seq) {
        snprintf(from, sizeof from, "%llu",
                 (unsigned long long)sub->last_seq);
        f[2] = from;
    }
    sub->unseen = 0;
    return send_text(sub->sock, f, 3);
}

int ev_sub_watch(struct ev_sub **out, const char *endpoint,
                 const char *group, bool backlog)
{
    struct ev_sub *sub = rs_xcalloc(1, sizeof *sub);
    int rc;

    *out = NULL;
    sub->watch = true;
    sub->group = rs_xstrdup(group);
    sub->mode = rs_xstrdup(backlog ? "backlog" : "live");
    if ((rc = ev_zconnect(&sub->zctx, &sub->sock, ZMQ_DEALER, endpoint, 0,
                          "")) != RS_OK ||
        (rc = watch_send(sub)) != RS_OK) {
        ev_sub_close(sub);
        return rc;
    }
    sub->pinged = rs_mono_ns();
    *out = sub;
    return RS_OK;
}

int ev_sub_open(struct ev_sub **out, const char *endpoint,
                const char *prefix)
{
    struct ev_sub *sub = rs_xcalloc(1, sizeof *sub);
    int rc;

    *out = NULL;
    if ((rc = ev_zconnect(&sub->zctx, &sub->sock, ZMQ_SUB, endpoint, 0,
                          prefix ? prefix : "")) != RS_OK) {
        ev_sub_close(sub);
        return rc;
    }
    *out = sub;
    return RS_OK;
}

int ev_zconnect(void **ctx, void **sock, int type, const char *endpoint,
                int linger_ms, const char *prefix)
{
    *ctx = zmq_ctx_new();
    *sock = *ctx ? zmq_socket(*ctx, type) : NULL;
    if (!*sock ||
        zmq_setsockopt(*sock, ZMQ_LINGER, &linger_ms, sizeof linger_ms) ||
        (type == ZMQ_SUB &&
         zmq_setsockopt(*sock, ZMQ_SUBSCRIBE, prefix, strlen(prefix))) ||
        zmq_connect(*sock, endpoint)) {
        int rc = rs_err_set(RS_EINVAL, "events: cannot connect to %s: %s",
                            endpoint, zmq_strerror(zmq_errno()));
        if (*sock)
            zmq_close(*sock);
        if (*ctx)
            zmq_ctx_term(*ctx);
        *sock = *ctx = NULL;
        return rc;
    }
    return RS_OK;
}

int ev_zframe(void *sock, char **buf, size_t *cap, bool *more)
{
    zmq_msg_t m;
    size_t n;

    zmq_msg_init(&m);
    if (zmq_msg_recv(&m, sock, 0) < 0) {
        int e = zmq_errno();
        zmq_msg_close(&m);
        if (e == EINTR)
            return rs_err_set(RS_ESHUTDOWN, "interrupted");
        return rs_err_set(RS_EIO, "events: receive: %s", zmq_strerror(e));
    }
    n = zmq_msg_size(&m);
    if (n + 1 > *cap) {
        *cap = n + 1;
        *buf = rs_xrealloc(*buf, *cap);
    }
    memcpy(*buf, zmq_msg_data(&m), n);
    (*buf)[n] = '\0';
    *more = zmq_msg_more(&m);
    zmq_msg_close(&m);
    return RS_OK;
}

/* One message of the broker to a watcher: 1 for a COPY (sub->topic and
 * sub->msg set), 0 for anything else (WATCHING), the broker's ERROR as
 * RS_ENOTFOUND with its text, or a receive error. */
static int watch_frames(struct ev_sub *sub)
{
    char *f[4] = {0};
    size_t cap[4] = {0};
    bool more = true;
    int n = 0, rc = RS_OK;

    while (more && rc == RS_OK) {
        if (n < 4) {
            if ((rc = ev_zframe(sub->sock, &f[n], &cap[n], &more)) == RS_OK)
                n++;
        } else {                     /* extra frames: not ours */
            char *skip = NULL;
            size_t c = 0;
            rc = ev_zframe(sub->sock, &skip, &c, &more);
            free(skip);
        }
    }
    if (rc == RS_OK && n == 4 && !strcmp(f[0], "COPY")) {
        sub->last_seq = strtoull(f[1], NULL, 10);
        if (++sub->unseen >= SEEN_EVERY) {
            char num[16];
            const char *seen[] = {"SEEN", num};
            snprintf(num, sizeof num, "%u", sub->unseen);
            sub->unseen = 0;
            (void)send_text(sub->sock, seen, 2); /* a PING follows anyway */
        }
        free(sub->topic);
        free(sub->msg);
        sub->topic = f[2];
        sub->tcap = cap[2];
        sub->msg = f[3];
        sub->mcap = cap[3];
        f[2] = f[3] = NULL;
        rc = 1;
    } else if (rc == RS_OK && n >= 2 && !strcmp(f[0], "ERROR") &&
               !strncmp(f[1], "unknown worker", 14)) {
        /* the broker restarted or dropped a silent watcher: come back
         * after the last event seen */
        rc = watch_send(sub);
    } else if (rc == RS_OK && n >= 2 && !strcmp(f[0], "ERROR")) {
        rc = rs_err_set(RS_ENOTFOUND, "events: broker: %s", f[1]);
    }
    for (int i = 0; i < 4; i++)
        free(f[i]);
    return rc;
}

int ev_sub_recv(struct ev_sub *sub, const char **topic, const char **msg,
                int timeout_ms)
{
    zmq_pollitem_t it = {sub->sock, 0, ZMQ_POLLIN, 0};
    int64_t until = timeout_ms < 0 ? INT64_MAX
                                   : rs_mono_ns() + timeout_ms * 1000000LL;
    bool more;
    int rc, n;

    for (;;) {
        int wait = timeout_ms;

        if (sub->watch) {
            /* a watcher PINGs the broker every second while it waits */
            const char *ping[] = {"PING"};
            int64_t now = rs_mono_ns();
            if (now - sub->pinged >= 1000000000LL) {
                if ((rc = send_text(sub->sock, ping, 1)) != RS_OK)
                    return rc;
                sub->pinged = now;
            }
            /* in slices of at most a second; timeout 0 polls once */
            wait = now >= until ? 0
                   : (int)((until - now) / 1000000 < 1000
                               ? (until - now) / 1000000 : 1000);
        }
        n = zmq_poll(&it, 1, wait);
        if (n < 0)
            return zmq_errno() == EINTR
                       ? rs_err_set(RS_ESHUTDOWN, "interrupted")
                       : rs_err_set(RS_EIO, "events: poll: %s",
                                    zmq_strerror(zmq_errno()));
        if (n == 0 && sub->watch && rs_mono_ns() < until)
            continue;
        if (n == 0)
            return rs_err_set(RS_EBUSY, "no event within %d ms",
                              timeout_ms);
        if (sub->watch) {
            rc = watch_frames(sub);
            if (rc == 0)
                continue;
            if (rc < 0)
                return rc;
            *topic = sub->topic;
            *msg = sub->msg;
            return RS_OK;
        }
        rc = ev_zframe(sub->sock, &sub->topic, &sub->tcap, &more);
        if (rc != RS_OK)
            return rc;
        if (!more)
            continue;            /* not ours: one frame only */
        rc = ev_zframe(sub->sock, &sub->msg, &sub->mcap, &more);
        if (rc != RS_OK)
            return rc;
        while (more) {           /* drop extra frames of a newer sender */
            char *skip = NULL;
            size_t cap = 0;
            rc = ev_zframe(sub->sock, &skip, &cap, &more);
            free(skip);
            if (rc != RS_OK)
                return rc;
        }
        *topic = sub->topic;
        *msg = sub->msg;
        return RS_OK;
    }
}

void ev_sub_close(struct ev_sub *sub)
{
    if (!sub)
        return;
    if (sub->watch && sub->sock) {
        const char *bye[] = {"BYE"};
        int linger = 200;
        zmq_setsockopt(sub->sock, ZMQ_LINGER, &linger, sizeof linger);
        send_text(sub->sock, bye, 1);
    }
    if (sub->sock)
        zmq_close(sub->sock);
    if (sub->zctx)
        zmq_ctx_term(sub->zctx);
    free(sub->topic);
    free(sub->msg);
    free(sub->group);
    free(sub->mode);
    free(sub);
}
