/*
 * core/config.c - roadstore's settings: defaults, and loading an ini file
 * with libinih.  Every key is documented in configs/roadstore.conf; the
 * table below is the single list of keys the program accepts.
 */
#include "core/rs.h"

#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum conf_type { CT_STR, CT_INT, CT_BOOL, CT_SIZE, CT_SIZE32, CT_SIZET,
                 CT_GROUP };

struct conf_key {
    const char *section;
    const char *name;
    enum conf_type type;
    size_t offset;
};

#define K(sec, name, type, field) \
    { sec, name, type, offsetof(struct rs_config, field) }

static const struct conf_key conf_keys[] = {
    K("server", "listen", CT_STR, listen),
    K("server", "data", CT_STR, data_dir),
    K("server", "region", CT_STR, region),
    K("server", "vhost_domains", CT_STR, vhost_domains),
    K("server", "max_connections", CT_INT, max_connections),
    K("server", "idle_timeout", CT_INT, idle_timeout),
    K("server", "max_header_bytes", CT_SIZET, max_header_bytes),
    K("server", "access_log", CT_BOOL, access_log),
    K("server", "log_level", CT_STR, log_level),
    K("auth", "root_access_key", CT_STR, root_access_key),
    K("auth", "root_secret_key", CT_STR, root_secret_key),
    K("auth", "clock_skew", CT_INT, clock_skew),
    K("storage", "standard", CT_GROUP, standard),
    K("storage", "low_frequency", CT_GROUP, low_frequency),
    K("storage", "stripe_size", CT_SIZE, stripe_size),
    K("storage", "block_size", CT_SIZE32, block_size),
    K("storage", "gc_delay", CT_INT, gc_delay),
    K("index", "dir", CT_STR, index_dir),
    K("index", "cache", CT_SIZE, index_cache),
    K("limits", "max_xml_body", CT_SIZET, max_xml_body),
    K("limits", "max_object_size", CT_SIZE, max_object_size),
    K("limits", "max_part_size", CT_SIZE, max_part_size),
    K("limits", "min_part_size", CT_SIZE, min_part_size),
    K("merge", "small_object_threshold", CT_SIZE, small_threshold),
    K("merge", "merge_threshold", CT_SIZE, merge_threshold),
    K("merge", "cache", CT_SIZE, merge_cache),
    K("merge", "idle_flush_ms", CT_INT, idle_flush_ms),
    K("merge", "wal_dir", CT_STR, wal_dir),
    K("merge", "wal_segment_size", CT_SIZE, wal_segment_size),
    K("merge", "compact_dead_percent", CT_INT, compact_dead_percent),
    K("merge", "compact_interval", CT_INT, compact_interval),
    K("merge", "open_files", CT_INT, open_files),
    K("append", "max_appends", CT_INT, max_appends),
    K("events", "enabled", CT_BOOL, events_enabled),
    K("events", "publish", CT_STR, events_publish),
    K("events", "retention", CT_INT, events_retention),
    K("events", "broker", CT_STR, events_broker),
    K("events", "ack_timeout", CT_INT, events_ack_timeout),
    K("events", "max_attempts", CT_INT, events_max_attempts),
    K("events", "worker_timeout", CT_INT, events_worker_timeout),
    K("lifecycle", "enabled", CT_BOOL, lifecycle_enabled),
    K("lifecycle", "interval", CT_INT, lifecycle_interval),
    K("lifecycle", "day_seconds", CT_INT, lifecycle_day_seconds),
};

void rs_config_init(struct rs_config *c)
{
    memset(c, 0, sizeof(*c));
    c->listen = rs_xstrdup("127.0.0.1:9000");
    c->data_dir = rs_xstrdup("./data");
    c->region = rs_xstrdup("us-east-1");
    c->vhost_domains = rs_xstrdup("localhost");
    c->max_connections = 1024;
    c->idle_timeout = 120;
    c->max_header_bytes = 65536;
    c->access_log = true;
    c->log_level = rs_xstrdup("info");
    c->clock_skew = 900;
    c->stripe_size = 8ULL << 20;
    c->block_size = 64U << 10;
    c->gc_delay = 30;
    c->index_cache = 256ULL << 20;
    c->max_xml_body = 4U << 20;
    c->max_object_size = 5ULL << 40;
    c->max_part_size = 5ULL << 30;
    c->min_part_size = 5ULL << 20;
    c->small_threshold = 1ULL << 20;
    c->merge_threshold = 128ULL << 20;
    c->merge_cache = 512ULL << 20;
    c->idle_flush_ms = 500;
    c->wal_segment_size = 64ULL << 20;
    c->compact_dead_percent = 50;
    c->compact_interval = 60;
    c->open_files = 1024;
    c->max_appends = 10000;
    c->events_enabled = true;
    c->events_publish = rs_xstrdup("tcp://127.0.0.1:9100");
    c->events_retention = 86400;
    c->events_broker = rs_xstrdup("tcp://127.0.0.1:9101");
    c->events_ack_timeout = 30;
    c->events_max_attempts = 5;
    c->events_worker_timeout = 10;
    c->lifecycle_enabled = true;
    c->lifecycle_interval = 3600;
    c->lifecycle_day_seconds = 86400;
}

static void group_clear(struct rs_group_conf *g)
{
    int i;

    for (i = 0; i < g->ndirs; i++)
        free(g->dirs[i]);
    g->ndirs = 0;
}

static int group_parse(struct rs_group_conf *g, const char *v)
{
    const char *p = v;

    group_clear(g);
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);

        while (n && (*p == ' ' || *p == '\t')) {
            p++;
            n--;
        }
        while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
            n--;
        if (n) {
            if (g->ndirs == RS_MAX_DISKS)
                return rs_err_set(RS_EINVAL, "more than %d directories",
                                  RS_MAX_DISKS);
            g->dirs[g->ndirs++] = rs_xstrndup(p, n);
        }
        if (!end)
            break;
        p = end + 1;
    }
    return RS_OK;
}

struct load_ctx {
    struct rs_config *c;
    const char *path;
    int rc;
};

static int set_key(struct rs_config *c, const struct conf_key *k,
                   const char *v)
{
    void *field = (char *)c + k->offset;
    uint64_t u;
    int rc;

    switch (k->type) {
    case CT_STR:
        free(*(char **)field);
        *(char **)field = *v ? rs_xstrdup(v) : NULL;
        return RS_OK;
    case CT_INT:
        if ((rc = rs_parse_u64(&u, v, strlen(v))) || u > 1000000000)
            return rs_err_set(RS_EINVAL, "not a small number: '%s'", v);
        *(int *)field = (int)u;
        return RS_OK;
    case CT_BOOL:
        if (!strcasecmp(v, "true") || !strcasecmp(v, "yes") ||
            !strcmp(v, "1") || !strcasecmp(v, "on"))
            *(bool *)field = true;
        else if (!strcasecmp(v, "false") || !strcasecmp(v, "no") ||
                 !strcmp(v, "0") || !strcasecmp(v, "off"))
            *(bool *)field = false;
        else
            return rs_err_set(RS_EINVAL, "not a boolean: '%s'", v);
        return RS_OK;
    case CT_SIZE:
    case CT_SIZE32:
    case CT_SIZET:
        if ((rc = rs_parse_size(&u, v)))
            return rs_err_set(rc, "not a size: '%s'", v);
        if (k->type == CT_SIZE32) {
            if (u > UINT32_MAX)
                return rs_err_set(RS_EINVAL, "size too large: '%s'", v);
            *(uint32_t *)field = (uint32_t)u;
        } else if (k->type == CT_SIZET) {
            *(size_t *)field = (size_t)u;
        } else {
            *(uint64_t *)field = u;
        }
        return RS_OK;
    case CT_GROUP:
        return group_parse(field, v);
    }
    return RS_ERR;
}

static int conf_ini_cb(void *user, const char *section, const char *name,
                       const char *value)
{
    struct load_ctx *ctx = user;
    size_t i;

    if (ctx->rc)
        return 0;
    for (i = 0; i < sizeof(conf_keys) / sizeof(conf_keys[0]); i++) {
        const struct conf_key *k = &conf_keys[i];

        if (strcmp(k->section, section) || strcmp(k->name, name))
            continue;
        ctx->rc = set_key(ctx->c, k, value);
        if (ctx->rc)
            ctx->rc = rs_err_set(ctx->rc, "%s: [%s] %s: %s", ctx->path,
                                 section, name, rs_err_msg());
        return ctx->rc == RS_OK;
    }
    ctx->rc = rs_err_set(RS_EINVAL, "%s: unknown key [%s] %s", ctx->path,
                         section, name);
    return 0;
}

int rs_config_load(struct rs_config *c, const char *path)
{
    struct load_ctx ctx = { c, path, RS_OK };
    FILE *f = fopen(path, "r");
    int line;

    if (!f)
        return rs_err_errno(errno, "cannot open config %s", path);
    line = ini_parse_file(f, conf_ini_cb, &ctx);
    fclose(f);
    if (ctx.rc)
        return ctx.rc;
    if (line)
        return rs_err_set(RS_EINVAL, "%s:%d: syntax error", path, line);
    return RS_OK;
}

void rs_config_finish(struct rs_config *c)
{
    char path[4096];

    if (c->standard.ndirs == 0) {
        snprintf(path, sizeof(path), "%s/standard", c->data_dir);
        c->standard.dirs[c->standard.ndirs++] = rs_xstrdup(path);
    }
    if (c->low_frequency.ndirs == 0) {
        snprintf(path, sizeof(path), "%s/low-frequency", c->data_dir);
        c->low_frequency.dirs[c->low_frequency.ndirs++] = rs_xstrdup(path);
    }
    if (!c->index_dir) {
        snprintf(path, sizeof(path), "%s/index", c->data_dir);
        c->index_dir = rs_xstrdup(path);
    }
    if (!c->wal_dir) {
        snprintf(path, sizeof(path), "%s/wal", c->data_dir);
        c->wal_dir = rs_xstrdup(path);
    }
}

void rs_config_dispose(struct rs_config *c)
{
    free(c->listen);
    free(c->data_dir);
    free(c->region);
    free(c->vhost_domains);
    free(c->log_level);
    free(c->root_access_key);
    free(c->root_secret_key);
    free(c->index_dir);
    free(c->wal_dir);
    free(c->events_publish);
    free(c->events_broker);
    group_clear(&c->standard);
    group_clear(&c->low_frequency);
    memset(c, 0, sizeof(*c));
}
