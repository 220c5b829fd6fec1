/*
 * events/sub.c - the subscriber side of the C client library (events.h):
 * a ZeroMQ SUB socket on the publisher's endpoint, two frames per event.
 */
#include "events/events_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

struct ev_sub {
    void *zctx, *sock;
    char *topic, *msg;
    size_t tcap, mcap;
};

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

int ev_sub_recv(struct ev_sub *sub, const char **topic, const char **msg,
                int timeout_ms)
{
    zmq_pollitem_t it = {sub->sock, 0, ZMQ_POLLIN, 0};
    bool more;
    int rc, n;

    for (;;) {
        n = zmq_poll(&it, 1, timeout_ms);
        if (n < 0)
            return zmq_errno() == EINTR
                       ? rs_err_set(RS_ESHUTDOWN, "interrupted")
                       : rs_err_set(RS_EIO, "events: poll: %s",
                                    zmq_strerror(zmq_errno()));
        if (n == 0)
            return rs_err_set(RS_EBUSY, "no event within %d ms",
                              timeout_ms);
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
    if (sub->sock)
        zmq_close(sub->sock);
    if (sub->zctx)
        zmq_ctx_term(sub->zctx);
    free(sub->topic);
    free(sub->msg);
    free(sub);
}
