/*
 * core/rs.h - roadstore's base layer: error codes, per-thread error
 * messages, logging, the per-request arena, bounded buffers, hashes and
 * checksums, time helpers, configuration and the metrics registry.
 *
 * Every other subsystem includes this header and nothing else from core/.
 * Functions are thread-safe unless their comment says otherwise; error
 * messages are per thread.
 */
#ifndef RS_H
#define RS_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------ */
/* Errors                                                               */
/* ------------------------------------------------------------------ */

/*
 * One enum for the whole program.  Functions that can fail return an int
 * holding one of these; results travel through out-parameters.  Detail
 * goes into the per-thread message with rs_err_set().
 */
enum rs_err {
    RS_OK = 0,
    RS_ERR = -1,        /* unexpected failure */
    RS_ENOTFOUND = -2,  /* no such entity */
    RS_EEXIST = -3,     /* entity already exists */
    RS_EINVAL = -4,     /* bad argument or malformed input */
    RS_EDENIED = -5,    /* permission denied */
    RS_ECONFLICT = -6,  /* state does not allow it (not empty, changed) */
    RS_ETOOBIG = -7,    /* a size limit was hit */
    RS_ENOSPC = -8,     /* out of disk space */
    RS_EIO = -9,        /* I/O error */
    RS_ECORRUPT = -10,  /* checksum mismatch or damaged record */
    RS_EBUSY = -11,     /* resource busy or locked by another process */
    RS_ESHUTDOWN = -12, /* shutting down */
};

/* Fixed text for a code ("not found"), never NULL. */
const char *rs_strerror(int code);

/*
 * Record a code and a formatted detail message for this thread and return
 * the code, so callers write `return rs_err_set(RS_EINVAL, "bad %s", x);`.
 */
int rs_err_set(int code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Set from an errno value at the syscall site: maps ENOENT, ENOSPC, EDQUOT,
 * EACCES, EEXIST, EBUSY, EAGAIN and returns the rs_err code. */
int rs_err_errno(int errnum, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* This thread's last detail message ("" when none).  Borrowed, valid until
 * the next rs_err_* call on this thread. */
const char *rs_err_msg(void);
void rs_err_clear(void);

/* ------------------------------------------------------------------ */
/* Logging: one line per call to stderr, with time and level.           */
/* ------------------------------------------------------------------ */

enum rs_log_level { RS_LOG_DEBUG, RS_LOG_INFO, RS_LOG_WARN, RS_LOG_ERROR };

void rs_log_set_level(enum rs_log_level level);
void rs_log(enum rs_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define rs_debug(...) rs_log(RS_LOG_DEBUG, __VA_ARGS__)
#define rs_info(...) rs_log(RS_LOG_INFO, __VA_ARGS__)
#define rs_warn(...) rs_log(RS_LOG_WARN, __VA_ARGS__)
#define rs_error(...) rs_log(RS_LOG_ERROR, __VA_ARGS__)

/* ------------------------------------------------------------------ */
/* Memory                                                               */
/* ------------------------------------------------------------------ */

/* Allocation that aborts on out-of-memory (STYLE section 4). */
void *rs_xmalloc(size_t n);
void *rs_xcalloc(size_t nmemb, size_t size);
void *rs_xrealloc(void *p, size_t n);
char *rs_xstrdup(const char *s);
char *rs_xstrndup(const char *s, size_t n);

/*
 * Arena: one per request.  Allocations are freed all at once by
 * rs_arena_free(), which first runs the registered cleanups in reverse
 * order.  Not thread-safe: one request, one thread at a time.
 */
struct rs_arena;

struct rs_arena *rs_arena_new(void);
void rs_arena_free(struct rs_arena *a); /* NULL does nothing */
void *rs_arena_alloc(struct rs_arena *a, size_t n);  /* zeroed, 16-aligned */
char *rs_arena_strdup(struct rs_arena *a, const char *s);
char *rs_arena_strndup(struct rs_arena *a, const char *s, size_t n);
char *rs_arena_sprintf(struct rs_arena *a, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void rs_arena_add_cleanup(struct rs_arena *a, void (*fn)(void *), void *arg);

/*
 * Growable byte buffer with a hard limit set at init.  Appending past the
 * limit returns RS_ETOOBIG and leaves the buffer unchanged.  data is always
 * NUL-terminated (the NUL is not counted in len).
 */
struct rs_buf {
    char *data;
    size_t len;
    size_t cap;
    size_t limit; /* maximum len; SIZE_MAX for none */
};

void rs_buf_init(struct rs_buf *b, size_t limit);
void rs_buf_dispose(struct rs_buf *b);
int rs_buf_append(struct rs_buf *b, const void *p, size_t n);
int rs_buf_puts(struct rs_buf *b, const char *s);
int rs_buf_printf(struct rs_buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append s escaped for XML text and attribute values. */
int rs_buf_xml_escape(struct rs_buf *b, const char *s);
void rs_buf_reset(struct rs_buf *b);
/* Hand the bytes to the caller (free() them); the buffer becomes empty. */
char *rs_buf_detach(struct rs_buf *b, size_t *len_out);

/* A name/value pair; used for headers, user metadata and tags. */
struct rs_kv {
    char *name;
    char *value;
};

/* ------------------------------------------------------------------ */
/* Hashes, checksums and encodings (OpenSSL and zlib underneath)        */
/* ------------------------------------------------------------------ */

struct rs_md5 { void *_ctx; };
void rs_md5_init(struct rs_md5 *h);
void rs_md5_update(struct rs_md5 *h, const void *p, size_t n);
void rs_md5_final(struct rs_md5 *h, uint8_t out[16]); /* also disposes */

struct rs_sha256 { void *_ctx; };
void rs_sha256_init(struct rs_sha256 *h);
void rs_sha256_update(struct rs_sha256 *h, const void *p, size_t n);
void rs_sha256_final(struct rs_sha256 *h, uint8_t out[32]);

struct rs_sha1 { void *_ctx; };
void rs_sha1_init(struct rs_sha1 *h);
void rs_sha1_update(struct rs_sha1 *h, const void *p, size_t n);
void rs_sha1_final(struct rs_sha1 *h, uint8_t out[20]);

void rs_sha256(uint8_t out[32], const void *p, size_t n);
void rs_hmac_sha256(uint8_t out[32], const void *key, size_t keylen,
                    const void *msg, size_t msglen);
void rs_hmac_sha1(uint8_t out[20], const void *key, size_t keylen,
                  const void *msg, size_t msglen);

/* CRC-32 (zlib polynomial), CRC-32C (Castagnoli) and CRC-64/NVME, all
 * incremental: start with crc = 0 and feed the previous result back. */
uint32_t rs_crc32(uint32_t crc, const void *p, size_t n);
uint32_t rs_crc32c(uint32_t crc, const void *p, size_t n);
uint64_t rs_crc64nvme(uint64_t crc, const void *p, size_t n);
/* A CRC-64/NVME as S3 shows it (x-amz-checksum-crc64nvme): base64 of the 8
 * big-endian bytes, 12 characters and a NUL. */
void rs_crc64nvme_b64(char out[13], uint64_t crc);

/* Lower-case hex; out must hold 2n+1 bytes. */
void rs_hex(char *out, const uint8_t *p, size_t n);
/* Standard base64 with padding; out must hold 4*((n+2)/3)+1 bytes. */
void rs_base64(char *out, const uint8_t *p, size_t n);
/* Decode strict base64; returns decoded length or -1. out holds 3*(n/4). */
int rs_base64_decode(uint8_t *out, size_t outcap, const char *s, size_t n);
/* Cryptographically random bytes (aborts if the system cannot provide). */
void rs_random(void *out, size_t n);
/* Constant-time comparison of n bytes. */
bool rs_ct_equal(const void *a, const void *b, size_t n);

/* ------------------------------------------------------------------ */
/* Time                                                                 */
/* ------------------------------------------------------------------ */

int64_t rs_now_ns(void);       /* CLOCK_REALTIME, nanoseconds */
int64_t rs_mono_ns(void);      /* CLOCK_MONOTONIC, nanoseconds */
/* "2006-01-02T15:04:05.000Z" (out >= 32 bytes). */
void rs_time_iso8601(char *out, size_t cap, int64_t ns);
/* "Mon, 02 Jan 2006 15:04:05 GMT" (out >= 32 bytes). */
void rs_time_http(char *out, size_t cap, int64_t ns);
/* Parse an HTTP date (RFC 1123, RFC 850 or asctime) or ISO 8601 /
 * "20060102T150405Z"; RS_EINVAL when malformed. Result in seconds. */
int rs_time_parse(int64_t *sec_out, const char *s);

/* ------------------------------------------------------------------ */
/* Configuration (libinih underneath)                                   */
/* ------------------------------------------------------------------ */

#define RS_MAX_DISKS 16

struct rs_group_conf {
    char *dirs[RS_MAX_DISKS]; /* directories (disks) of the group */
    int ndirs;
};

/*
 * Every setting, with the defaults of rs_config_init().  The file format
 * and the documentation of each key live in configs/roadstore.conf.
 */
struct rs_config {
    /* [server] */
    char *listen;            /* HOST:PORT, "127.0.0.1:9000" */
    char *data_dir;          /* "./data" */
    char *region;            /* "us-east-1" */
    char *vhost_domains;     /* comma list of base domains for
                                virtual-host addressing, "localhost" */
    int max_connections;     /* 1024 */
    int idle_timeout;        /* seconds, 120 */
    size_t max_header_bytes; /* per connection, 65536 */
    bool access_log;         /* true */
    char *log_level;         /* "info" */
    /* [auth] */
    char *root_access_key;   /* NULL: env, else generated */
    char *root_secret_key;
    int clock_skew;          /* seconds, 900 */
    /* [storage] */
    struct rs_group_conf standard;      /* default DATA/standard */
    struct rs_group_conf low_frequency; /* default DATA/low-frequency */
    uint64_t stripe_size;    /* bytes, 8 MiB */
    uint32_t block_size;     /* checksum block, 64 KiB */
    int gc_delay;            /* seconds before a dead extent is removed, 30 */
    /* [index] */
    char *index_dir;         /* default DATA/index */
    uint64_t index_cache;    /* RocksDB block cache bytes, 256 MiB */
    /* [limits] */
    size_t max_xml_body;     /* 4 MiB */
    uint64_t max_object_size;/* 5 TiB */
    uint64_t max_part_size;  /* 5 GiB */
    uint64_t min_part_size;  /* 5 MiB */
    /* [merge]: small objects packed into merged containers behind a WAL */
    uint64_t small_threshold;   /* objects <= this take the merge path,
                                   1 MiB; 0 turns the path off */
    uint64_t merge_threshold;   /* a container is flushed at this size,
                                   128 MiB */
    uint64_t merge_cache;       /* bytes of unflushed containers held in
                                   memory before writers wait, 512 MiB */
    int idle_flush_ms;          /* flush a container idle this long, 500 */
    char *wal_dir;              /* default DATA/wal */
    uint64_t wal_segment_size;  /* 64 MiB */
    int compact_dead_percent;   /* compact containers at least this dead,
                                   50; 0 turns background compaction off */
    int compact_interval;       /* seconds between compaction scans, 60 */
    int open_files;             /* cached open container handles, 1024 */
    /* [append] */
    int max_appends;            /* appends per object, 10000 (the object
                                   size limit is [limits] max_object_size) */
    /* [events] */
    bool events_enabled;        /* write the outbox and publish, true */
    char *events_publish;       /* ZeroMQ PUB endpoint,
                                   "tcp://127.0.0.1:9100"; "" for none */
    int events_retention;       /* seconds events stay in the outbox,
                                   86400 (never before every consumer
                                   group took them) */
    char *events_broker;        /* ZeroMQ ROUTER endpoint of the consumer
                                   group broker, "tcp://127.0.0.1:9101";
                                   "" for none */
    int events_ack_timeout;     /* seconds before an unacked event is
                                   delivered again, 30 */
    int events_max_attempts;    /* deliveries before an event goes to the
                                   dead-letter list, 5 */
    int events_worker_timeout;  /* seconds of silence before a worker is
                                   taken for gone, 10 */
    /* [lifecycle]: bucket lifecycle rules (store/lifecycle.c) */
    bool lifecycle_enabled;     /* the server runs passes itself, true */
    int lifecycle_interval;     /* seconds between two passes, 3600 */
    int lifecycle_day_seconds;  /* length of a lifecycle "day", 86400;
                                   other values (tests) also turn off the
                                   rounding of due times to midnight UTC */
};

/* Fill every field with its default (strings are malloc'ed copies). */
void rs_config_init(struct rs_config *c);
/* Apply an ini file over the current values. RS_ENOTFOUND if missing,
 * RS_EINVAL on an unknown key or a bad value (the message names the file,
 * section and key) or a syntax error (file:line). */
int rs_config_load(struct rs_config *c, const char *path);
/* Derive defaults that depend on data_dir (groups, index); call after all
 * overrides. */
void rs_config_finish(struct rs_config *c);
void rs_config_dispose(struct rs_config *c);

/* ------------------------------------------------------------------ */
/* Metrics: counters, gauges and histograms, rendered in Prometheus text */
/* ------------------------------------------------------------------ */

/*
 * Metrics are registered once at startup (not thread-safe) and updated
 * from any thread without locks.  A metric with labels is one entry per
 * distinct label string, e.g. rs_counter_get("roadstore_requests_total",
 * "op=\"GetObject\",code=\"200\"") returns the same counter each time
 * (lookups take a mutex; cache the pointer where it is hot).
 */
struct rs_counter;
struct rs_histogram;

struct rs_counter *rs_counter_get(const char *name, const char *labels,
                                  const char *help);
void rs_counter_add(struct rs_counter *c, uint64_t n);
/* Gauge callbacks are called while rendering. */
void rs_gauge_register(const char *name, const char *help,
                       double (*fn)(void *arg), void *arg);
struct rs_histogram *rs_histogram_get(const char *name, const char *labels,
                                      const char *help);
void rs_histogram_observe(struct rs_histogram *h, double seconds);
/* Extra text appended by a subsystem (its own families), under a lock. */
void rs_metrics_register_writer(void (*fn)(struct rs_buf *out, void *arg),
                                void *arg);
int rs_metrics_render(struct rs_buf *out);

/* ------------------------------------------------------------------ */
/* FNV-1a, 64 bits: hash tables and lock striping (not for security)    */
/* ------------------------------------------------------------------ */

static inline uint64_t rs_fnv1a64(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (uint8_t)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* ------------------------------------------------------------------ */
/* Directories (fs.c)                                                   */
/* ------------------------------------------------------------------ */

/* mkdir -p; durable: fsync the parent of every directory it creates, so
 * the new entries survive a power cut. */
int rs_mkdirs(const char *path, bool durable);
int rs_fsync_dir(const char *path);

/* ------------------------------------------------------------------ */
/* Crash points for tests                                               */
/* ------------------------------------------------------------------ */

/*
 * Kill the process with SIGKILL here when the environment variable
 * ROADSTORE_CRASHPOINT names this point (read once): "NAME" at its first
 * pass, "NAME:N" at its N-th.  Crash tests use it
 * to stop at exact places of a multi-step commit; without the variable it
 * costs one predictable branch.
 */
void rs_crashpoint(const char *name);

/* ------------------------------------------------------------------ */
/* Little-endian integers in byte buffers (on-disk formats)             */
/* ------------------------------------------------------------------ */

static inline void rs_put16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static inline void rs_put32le(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline void rs_put64le(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint16_t rs_get16le(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t rs_get32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t rs_get64le(const uint8_t *p)
{
    return (uint64_t)rs_get32le(p) | (uint64_t)rs_get32le(p + 4) << 32;
}

/* ------------------------------------------------------------------ */
/* Small string helpers                                                 */
/* ------------------------------------------------------------------ */

bool rs_str_startswith(const char *s, const char *prefix);
/* Parse a non-negative decimal made of digits only; RS_EINVAL otherwise. */
int rs_parse_u64(uint64_t *out, const char *s, size_t n);
/* Parse sizes like "8M", "64k", "1G" or plain digits. */
int rs_parse_size(uint64_t *out, const char *s);

#endif /* RS_H */
