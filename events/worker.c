/*
 * events/worker.c - the worker side of durable consumer groups (events.h
 * has the protocol): a DEALER socket that says HELLO, receives EVENTs,
 * ACKs or NACKs them, pings every second, and says HELLO again when the
 * broker forgot it (a restart).
 */
#include "events/events_int.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#define PING_NS 1000000000LL

struct ev_worker {
    void *zctx, *sock;
    char *group, *filter;        /* filter JSON, "" for none */
    int credit;
    int64_t last_send;
    char *f[5];                  /* frames of the last message */
    size_t cap[5];
};

static int send_msg(struct ev_worker *w, const char *const *f, int n)
{
    for (int i = 0; i < n; i++)
        if (zmq_send(w->sock, f[i], strlen(f[i]),
                     (i + 1 < n ? ZMQ_SNDMORE : 0)) < 0)
            return rs_err_set(RS_EIO, "events: send: %s",
                              zmq_strerror(zmq_errno()));
    w->last_send = rs_mono_ns();
    return RS_OK;
}

static int hello(struct ev_worker *w)
{
    char credit[16];
    const char *f[4] = {"HELLO", w->group, w->filter, credit};

    snprintf(credit, sizeof credit, "%d", w->credit);
    return send_msg(w, f, 4);
}

static char *filter_json(const struct ev_filter *f)
{
    json_t *j;
    char *s, *r;

    if (!f)
        return rs_xstrdup("");
    j = ev_filter_json(f->bucket, f->prefix, f->suffix, f->events, SIZE_MAX);
    s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    r = rs_xstrdup(s ? s : "");
    free(s);
    return r;
}

int ev_worker_open(struct ev_worker **out, const char *endpoint,
                   const char *group, const struct ev_filter *filter,
                   int credit)
{
    struct ev_worker *w = rs_xcalloc(1, sizeof *w);
    int rc;

    *out = NULL;
    w->group = rs_xstrdup(group);
    w->filter = filter_json(filter);
    w->credit = credit > 0 ? credit : 16;
    /* linger: long enough for a BYE to leave */
    if ((rc = ev_zconnect(&w->zctx, &w->sock, ZMQ_DEALER, endpoint, 200,
                          NULL)) != RS_OK) {
        ev_worker_close(w);
        return rc;
    }
    if ((rc = hello(w)) != RS_OK) {
        ev_worker_close(w);
        return rc;
    }
    *out = w;
    return RS_OK;
}

/* Read one whole message into w->f; the number of frames kept. */
static int read_msg(struct ev_worker *w, int *n)
{
    char *skip = NULL;
    size_t skipcap = 0;
    bool more = true;
    int rc = RS_OK;

    *n = 0;
    while (more && rc == RS_OK) {
        if (*n < 5) {
            rc = ev_zframe(w->sock, &w->f[*n], &w->cap[*n], &more);
            (*n)++;
        } else {
            rc = ev_zframe(w->sock, &skip, &skipcap, &more);
        }
    }
    free(skip);
    return rc;
}

int ev_worker_recv(struct ev_worker *w, struct ev_delivery *d,
                   int timeout_ms)
{
    int64_t end = timeout_ms < 0 ? INT64_MAX
                                 : rs_mono_ns() + (int64_t)timeout_ms *
                                                      1000000LL;

    for (;;) {
        zmq_pollitem_t it = {w->sock, 0, ZMQ_POLLIN, 0};
        int64_t now = rs_mono_ns(), wait_ns;
        int n, rc;

        if (now - w->last_send >= PING_NS) {
            const char *f[1] = {"PING"};
            if ((rc = send_msg(w, f, 1)) != RS_OK)
                return rc;
        }
        if (now >= end)
            return rs_err_set(RS_EBUSY, "no event within %d ms", timeout_ms);
        wait_ns = end - now;
        if (wait_ns > PING_NS / 2)
            wait_ns = PING_NS / 2;
        n = zmq_poll(&it, 1, (long)(wait_ns / 1000000) + 1);
        if (n < 0)
            return zmq_errno() == EINTR
                       ? rs_err_set(RS_ESHUTDOWN, "interrupted")
                       : rs_err_set(RS_EIO, "events: poll: %s",
                                    zmq_strerror(zmq_errno()));
        if (n == 0)
            continue;
        if ((rc = read_msg(w, &n)) != RS_OK)
            return rc;
        if (n >= 5 && !strcmp(w->f[0], "EVENT")) {
            d->seq = strtoull(w->f[1], NULL, 10);
            d->attempt = atoi(w->f[2]);
            d->topic = w->f[3];
            d->msg = w->f[4];
            return RS_OK;
        }
        if (n >= 2 && !strcmp(w->f[0], "ERROR")) {
            if (strstr(w->f[1], "unknown worker")) {
                /* the broker restarted or took us for gone */
                if ((rc = hello(w)) != RS_OK)
                    return rc;
                continue;
            }
            return rs_err_set(RS_EINVAL, "events: broker: %s", w->f[1]);
        }
        /* WELCOME and anything else: keep waiting */
    }
}

static int reply(struct ev_worker *w, const char *what, uint64_t seq)
{
    char s[24];
    const char *f[2] = {what, s};

    snprintf(s, sizeof s, "%llu", (unsigned long long)seq);
    return send_msg(w, f, 2);
}

int ev_worker_ack(struct ev_worker *w, uint64_t seq)
{
    return reply(w, "ACK", seq);
}

int ev_worker_nack(struct ev_worker *w, uint64_t seq)
{
    return reply(w, "NACK", seq);
}

void ev_worker_close(struct ev_worker *w)
{
    if (!w)
        return;
    if (w->sock) {
        const char *f[1] = {"BYE"};
        (void)send_msg(w, f, 1);
        zmq_close(w->sock);
    }
    if (w->zctx)
        zmq_ctx_term(w->zctx);
    for (int i = 0; i < 5; i++)
        free(w->f[i]);
    free(w->group);
    free(w->filter);
    free(w);
}
