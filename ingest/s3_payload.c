/*
 * ingest/s3_payload.c - request payload decoding and verification: the
 * aws-chunked framing of streaming uploads, chunk and trailer signatures,
 * the signed SHA-256, Content-MD5, x-amz-checksum-* (header or trailer) and
 * x-amz-decoded-content-length.
 *
 * One struct s3_payload per request, in the request arena, used by one
 * thread at a time.  Digest contexts (OpenSSL) are released by an arena
 * cleanup if the request ends before s3_payload_finish().
 *
 * AWS-CHUNKED FRAMING (x-amz-content-sha256 STREAMING-*)
 *
 *   chunk    = hex-size [ *(";" ext-name [ "=" ext-value ]) ] CRLF
 *              data CRLF                         (size > 0)
 *   final    = "0" [ ";chunk-signature=" sig ] CRLF
 *   trailers = *( name ":" value CRLF )
 *   body     = *chunk final trailers [ CRLF ]
 *
 * In the signed modes every chunk carries chunk-signature=<64 hex>, and
 *   sig = HMAC(signing key, "AWS4-HMAC-SHA256-PAYLOAD\n" amz_date "\n"
 *              scope "\n" previous-sig "\n" hex(sha256("")) "\n"
 *              hex(sha256(data)))
 * where the first previous-sig is the seed, the request's own signature.
 * With -TRAILER the trailer carries x-amz-trailer-signature:<sig> with
 *   sig = HMAC(key, "AWS4-HMAC-SHA256-TRAILER\n" amz_date "\n" scope "\n"
 *              final-chunk-sig "\n" hex(sha256(canonical trailers)))
 * over each other trailer as "name:value\n" (name lowercased, value
 * trimmed), in the order sent.
 *
 * Tolerated, because real clients send it: chunk extensions other than
 * chunk-signature (ignored); a bare LF for CRLF; a body that ends right
 * after the last trailer line, with or without its CRLF, instead of with
 * the empty line.  A chunk header line longer than 4 KiB is an error, and
 * object bytes are never buffered: they go to the sink as they arrive.
 */
#include "ingest/s3_int.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#define LINE_MAX_BYTES 4096
#define EMPTY_SHA256 \
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

enum pstate {
    ST_RAW,      /* not chunked: every byte is object data */
    ST_SIZE,     /* reading a chunk header line */
    ST_DATA,     /* inside chunk data (chunk_left > 0) */
    ST_DATA_CR,  /* expecting the CR (or LF) after chunk data */
    ST_DATA_LF,  /* expecting the LF after that CR */
    ST_TRAILER,  /* reading trailer lines after the final chunk */
    ST_DONE,     /* saw the empty line ending the trailers */
};

struct s3_payload {
    struct rs_arena *a;
    const struct s3_auth *auth;
    enum s3_payload_mode mode;
    bool chunked;            /* aws-chunked framing */
    bool verify_sigs;        /* signed streaming with a verified auth */
    bool trailer_mode;       /* -TRAILER modes */
    enum pstate state;
    char line[LINE_MAX_BYTES + 1];
    size_t line_len;
    uint64_t chunk_left;     /* data bytes left in the current chunk */
    char chunk_sig[65];      /* signature announced for the chunk */
    char prev_sig[65];       /* last verified signature (seed first) */
    /* digests; the *_live flags say which contexts hold memory */
    struct rs_md5 md5;
    bool md5_live;
    struct rs_sha256 body_sha;  /* S3_PAYLOAD_SIGNED */
    bool body_sha_live;
    struct rs_sha256 chunk_sha; /* current chunk, when verifying */
    bool chunk_sha_live;
    struct rs_sha256 trailer_sha; /* canonical trailers, signed-trailer */
    bool trailer_sha_live;
    /* x-amz-checksum-* */
    enum s3_cksum ck_alg;    /* algorithm computed (NONE: none) */
    bool ck_in_trailer;      /* value expected in the trailer */
    char *ck_expected;       /* base64 from header or trailer, or NULL */
    uint32_t crc32, crc32c;
    uint64_t crc64;
    struct rs_sha1 ck_sha1;
    bool ck_sha1_live;
    struct rs_sha256 ck_sha256;
    bool ck_sha256_live;
    char ck_b64[48];         /* computed value after finish */
    /* Content-MD5 and lengths */
    bool have_content_md5;
    uint8_t content_md5[16];
    uint8_t md5_out[16];
    bool have_decoded_len;
    uint64_t decoded_len;    /* x-amz-decoded-content-length */
    uint64_t decoded;        /* object bytes so far */
    bool trailer_sig_seen;
    /* sticky failure */
    enum s3_errcode err;
    const char *err_msg;
    bool finished;
};

static const struct {
    const char *name;       /* as in headers and XML */
    const char *header;     /* x-amz-checksum-... */
    size_t raw_len;         /* decoded length */
} cksum_info[] = {
    [S3_CKSUM_NONE] = {"", "", 0},
    [S3_CKSUM_CRC32] = {"CRC32", "x-amz-checksum-crc32", 4},
    [S3_CKSUM_CRC32C] = {"CRC32C", "x-amz-checksum-crc32c", 4},
    [S3_CKSUM_CRC64NVME] = {"CRC64NVME", "x-amz-checksum-crc64nvme", 8},
    [S3_CKSUM_SHA1] = {"SHA1", "x-amz-checksum-sha1", 20},
    [S3_CKSUM_SHA256] = {"SHA256", "x-amz-checksum-sha256", 32},
};

const char *s3_cksum_name(enum s3_cksum c)
{
    if ((unsigned)c > S3_CKSUM_SHA256)
        return "";
    return cksum_info[c].name;
}

enum s3_cksum s3_cksum_from_name(const char *s)
{
    for (int c = S3_CKSUM_CRC32; c <= S3_CKSUM_SHA256; c++)
        if (strcasecmp(s, cksum_info[c].name) == 0)
            return (enum s3_cksum)c;
    return S3_CKSUM_NONE;
}

enum s3_cksum s3_cksum_from_header(const char *name)
{
    for (int c = S3_CKSUM_CRC32; c <= S3_CKSUM_SHA256; c++)
        if (strcasecmp(name, cksum_info[c].header) == 0)
            return (enum s3_cksum)c;
    return S3_CKSUM_NONE;
}

/* ------------------------------------------------------------------ */
/* Setup and cleanup                                                    */
/* ------------------------------------------------------------------ */

/* Release digest contexts still open (request ended early). */
static void payload_cleanup(void *arg)
{
    struct s3_payload *p = arg;
    uint8_t scratch[32];

    if (p->md5_live)
        rs_md5_final(&p->md5, scratch);
    if (p->body_sha_live)
        rs_sha256_final(&p->body_sha, scratch);
    if (p->chunk_sha_live)
        rs_sha256_final(&p->chunk_sha, scratch);
    if (p->trailer_sha_live)
        rs_sha256_final(&p->trailer_sha, scratch);
    if (p->ck_sha1_live)
        rs_sha1_final(&p->ck_sha1, scratch);
    if (p->ck_sha256_live)
        rs_sha256_final(&p->ck_sha256, scratch);
    p->md5_live = p->body_sha_live = p->chunk_sha_live = false;
    p->trailer_sha_live = p->ck_sha1_live = p->ck_sha256_live = false;
}

static char *trim_dup(struct rs_arena *a, const char *s)
{
    size_t n;

    while (*s == ' ' || *s == '\t')
        s++;
    n = strlen(s);
    while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
        n--;
    return rs_arena_strndup(a, s, n);
}

/* Is a base64 value well-formed for the algorithm? */
static bool cksum_value_ok(enum s3_cksum alg, const char *b64)
{
    uint8_t raw[48];
    int n = rs_base64_decode(raw, sizeof(raw), b64, strlen(b64));
    return n >= 0 && (size_t)n == cksum_info[alg].raw_len;
}

/*
 * The checksum named by x-amz-trailer: one "x-amz-checksum-<alg>" entry
 * (the header may list names separated by commas; others are ignored).
 * NONE with *bad set when it names an unknown checksum.
 */
static enum s3_cksum trailer_cksum(struct rs_arena *a, const char *v,
                                   bool *bad)
{
    char *s = rs_arena_strdup(a, v);
    enum s3_cksum found = S3_CKSUM_NONE;
    char *save = NULL;

    *bad = false;
    for (char *tok = strtok_r(s, ",", &save); tok;
         tok = strtok_r(NULL, ",", &save)) {
        char *t = trim_dup(a, tok);
        enum s3_cksum c;
        if (strncasecmp(t, "x-amz-checksum-", 15) != 0)
            continue;
        c = s3_cksum_from_header(t);
        if (c == S3_CKSUM_NONE || found != S3_CKSUM_NONE) {
            *bad = true;
            return S3_CKSUM_NONE;
        }
        found = c;
    }
    return found;
}

static void cksum_start(struct s3_payload *p)
{
    switch (p->ck_alg) {
    case S3_CKSUM_SHA1:
        rs_sha1_init(&p->ck_sha1);
        p->ck_sha1_live = true;
        break;
    case S3_CKSUM_SHA256:
        rs_sha256_init(&p->ck_sha256);
        p->ck_sha256_live = true;
        break;
    default:
        break;
    }
}

enum s3_errcode s3_payload_new(struct rs_arena *a, struct s3_payload **out,
                               const struct s3_payload_opts *o,
                               const char **msg_out)
{
    struct s3_payload *p;
    enum s3_cksum tr_alg = S3_CKSUM_NONE, sdk_alg = S3_CKSUM_NONE;

    assert(a && out && o && msg_out);
    *out = NULL;
    *msg_out = NULL;
    p = rs_arena_alloc(a, sizeof(*p));
    p->a = a;
    p->auth = o->auth;
    p->mode = o->auth ? o->auth->payload_mode : S3_PAYLOAD_UNSIGNED;
    p->chunked = p->mode == S3_PAYLOAD_STREAMING_SIGNED ||
                 p->mode == S3_PAYLOAD_STREAMING_SIGNED_TRAILER ||
                 p->mode == S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    p->trailer_mode = p->mode == S3_PAYLOAD_STREAMING_SIGNED_TRAILER ||
                      p->mode == S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER;
    p->verify_sigs = o->auth && !o->auth->anonymous &&
                     (p->mode == S3_PAYLOAD_STREAMING_SIGNED ||
                      p->mode == S3_PAYLOAD_STREAMING_SIGNED_TRAILER);
    p->state = p->chunked ? ST_SIZE : ST_RAW;
    if (p->verify_sigs)
        memcpy(p->prev_sig, o->auth->signature, 65);

    if (o->content_md5 != NULL) {
        int n = rs_base64_decode(p->content_md5, sizeof(p->content_md5),
                                 o->content_md5, strlen(o->content_md5));
        if (n != 16) {
            *msg_out = "The Content-MD5 you specified is not valid.";
            return S3E_INVALID_DIGEST;
        }
        p->have_content_md5 = true;
    }
    if (o->decoded_length != NULL && p->chunked) {
        if (rs_parse_u64(&p->decoded_len, o->decoded_length,
                         strlen(o->decoded_length)) != RS_OK) {
            rs_err_clear();
            *msg_out = "Invalid x-amz-decoded-content-length.";
            return S3E_INVALID_ARGUMENT;
        }
        p->have_decoded_len = true;
    }

    /* Which checksum: header, trailer, or one only named. */
    if (o->trailer != NULL && p->trailer_mode) {
        bool bad;
        tr_alg = trailer_cksum(a, o->trailer, &bad);
        if (bad) {
            *msg_out = "The value specified in the x-amz-trailer header is "
                       "not supported";
            return S3E_INVALID_REQUEST;
        }
    }
    if (o->header_cksum != S3_CKSUM_NONE && tr_alg != S3_CKSUM_NONE) {
        *msg_out = "Expecting a single x-amz-checksum- header. Multiple "
                   "checksum Types are not allowed.";
        return S3E_INVALID_REQUEST;
    }
    if (o->checksum_algorithm != NULL) {
        sdk_alg = s3_cksum_from_name(o->checksum_algorithm);
        if (sdk_alg == S3_CKSUM_NONE) {
            *msg_out = "Checksum algorithm provided is unsupported. Please "
                       "try again with any of the valid types: [CRC32, "
                       "CRC32C, CRC64NVME, SHA1, SHA256]";
            return S3E_INVALID_REQUEST;
        }
    }
    if (o->header_cksum != S3_CKSUM_NONE) {
        const char *v = o->header_cksum_value ? o->header_cksum_value : "";
        p->ck_alg = o->header_cksum;
        p->ck_expected = trim_dup(a, v);
        if (!cksum_value_ok(p->ck_alg, p->ck_expected)) {
            *msg_out = rs_arena_sprintf(a, "Value for %s header is invalid.",
                                        cksum_info[p->ck_alg].header);
            return S3E_INVALID_REQUEST;
        }
    } else if (tr_alg != S3_CKSUM_NONE) {
        p->ck_alg = tr_alg;
        p->ck_in_trailer = true;
    }
    if (sdk_alg != S3_CKSUM_NONE) {
        if (p->ck_alg != S3_CKSUM_NONE && p->ck_alg != sdk_alg) {
            *msg_out = "Value for x-amz-sdk-checksum-algorithm header is "
                       "invalid.";
            return S3E_INVALID_REQUEST;
        }
        p->ck_alg = sdk_alg; /* computed and returned even without value */
    }

    if (!o->no_md5 || p->have_content_md5) {
        rs_md5_init(&p->md5);
        p->md5_live = true;
    }
    if (p->mode == S3_PAYLOAD_SIGNED && o->auth) {
        rs_sha256_init(&p->body_sha);
        p->body_sha_live = true;
    }
    if (p->verify_sigs && p->trailer_mode) {
        rs_sha256_init(&p->trailer_sha);
        p->trailer_sha_live = true;
    }
    cksum_start(p);
    rs_arena_add_cleanup(a, payload_cleanup, p);
    *out = p;
    return S3E_NONE;
}

/* ------------------------------------------------------------------ */
/* Decoding                                                             */
/* ------------------------------------------------------------------ */

static enum s3_errcode set_err(struct s3_payload *p, enum s3_errcode e,
                               const char *msg, const char **msg_out)
{
    p->err = e;
    p->err_msg = msg;
    *msg_out = msg;
    return e;
}

static const char MSG_INCOMPLETE[] =
    "The request body terminated unexpectedly";
static const char MSG_SIG[] =
    "The request signature we calculated does not match the signature you "
    "provided. Check your key and signing method.";

/* Object bytes: digests, length, sink. */
static enum s3_errcode deliver(struct s3_payload *p, const char *d, size_t n,
                               int (*sink)(void *, const void *, size_t),
                               void *arg, int *sink_rc, const char **msg_out)
{
    int rc;

    if (n == 0)
        return S3E_NONE;
    if (p->md5_live)
        rs_md5_update(&p->md5, d, n);
    if (p->body_sha_live)
        rs_sha256_update(&p->body_sha, d, n);
    if (p->chunk_sha_live)
        rs_sha256_update(&p->chunk_sha, d, n);
    switch (p->ck_alg) {
    case S3_CKSUM_CRC32:
        p->crc32 = rs_crc32(p->crc32, d, n);
        break;
    case S3_CKSUM_CRC32C:
        p->crc32c = rs_crc32c(p->crc32c, d, n);
        break;
    case S3_CKSUM_CRC64NVME:
        p->crc64 = rs_crc64nvme(p->crc64, d, n);
        break;
    case S3_CKSUM_SHA1:
        rs_sha1_update(&p->ck_sha1, d, n);
        break;
    case S3_CKSUM_SHA256:
        rs_sha256_update(&p->ck_sha256, d, n);
        break;
    default:
        break;
    }
    p->decoded += n;
    if (sink != NULL) {
        rc = sink(arg, d, n);
        if (rc != RS_OK) {
            if (sink_rc)
                *sink_rc = rc;
            return set_err(p, S3E_INTERNAL_ERROR, "sink failed", msg_out);
        }
    }
    return S3E_NONE;
}

/* HMAC of a chunk or trailer string to sign against the expected sig. */
static bool check_sig(struct s3_payload *p, const char *kind,
                      const char *hash_hex, const char *got)
{
    const struct s3_auth *au = p->auth;
    char sts[512];
    uint8_t mac[32];
    char hex[65];
    int n;

    if (strcmp(kind, "TRAILER") == 0)
        n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-TRAILER\n%s\n%s\n"
                     "%s\n%s", au->amz_date, au->scope, p->prev_sig,
                     hash_hex);
    else
        n = snprintf(sts, sizeof(sts), "AWS4-HMAC-SHA256-PAYLOAD\n%s\n%s\n"
                     "%s\n" EMPTY_SHA256 "\n%s", au->amz_date, au->scope,
                     p->prev_sig, hash_hex);
    if (n < 0 || (size_t)n >= sizeof(sts))
        return false;
    rs_hmac_sha256(mac, au->signing_key, 32, sts, (size_t)n);
    rs_hex(hex, mac, 32);
    if (!rs_ct_equal(hex, got, 64))
        return false;
    memcpy(p->prev_sig, hex, 65);
    return true;
}

/* End of a chunk's data (or the final, empty chunk): its signature. */
static enum s3_errcode end_chunk(struct s3_payload *p, const char **msg_out)
{
    uint8_t d[32];
    char hex[65];

    if (!p->verify_sigs)
        return S3E_NONE;
    if (p->chunk_sha_live) {
        rs_sha256_final(&p->chunk_sha, d);
        p->chunk_sha_live = false;
        rs_hex(hex, d, 32);
    } else {
        memcpy(hex, EMPTY_SHA256, 65);
    }
    if (!check_sig(p, "PAYLOAD", hex, p->chunk_sig))
        return set_err(p, S3E_SIGNATURE_DOES_NOT_MATCH, MSG_SIG, msg_out);
    return S3E_NONE;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Copy a 64-hex signature lowercased into out; "" if malformed. */
static void take_sig(char out[65], const char *s, size_t n)
{
    out[0] = '\0';
    if (n != 64)
        return;
    for (size_t i = 0; i < 64; i++)
        if (hexval((unsigned char)s[i]) < 0)
            return;
    for (size_t i = 0; i < 64; i++)
        out[i] = (s[i] >= 'A' && s[i] <= 'F') ? (char)(s[i] - 'A' + 'a')
                                               : s[i];
    out[64] = '\0';
}

/* A complete chunk header line (CRLF stripped). */
static enum s3_errcode chunk_header(struct s3_payload *p,
                                    const char **msg_out)
{
    const char *s = p->line, *end = p->line + p->line_len;
    uint64_t size = 0;
    int ndig = 0;
    bool have_sig = false;

    while (s < end && hexval((unsigned char)*s) >= 0) {
        if (++ndig > 16)
            return set_err(p, S3E_INVALID_REQUEST,
                           "Invalid chunk size in aws-chunked body",
                           msg_out);
        size = size << 4 | (uint64_t)hexval((unsigned char)*s);
        s++;
    }
    if (ndig == 0)
        return set_err(p, S3E_INVALID_REQUEST,
                       "Invalid chunk size in aws-chunked body", msg_out);
    while (s < end && (*s == ' ' || *s == '\t'))
        s++;
    /* extensions: ;name[=value] ... */
    while (s < end) {
        const char *name, *val = NULL, *next;
        size_t nlen, vlen = 0;

        if (*s != ';')
            return set_err(p, S3E_INVALID_REQUEST,
                           "Invalid chunk header in aws-chunked body",
                           msg_out);
        s++;
        while (s < end && (*s == ' ' || *s == '\t'))
            s++;
        next = s < end ? memchr(s, ';', (size_t)(end - s)) : NULL;
        if (next == NULL)
            next = end;
        name = s;
        for (; s < next && *s != '='; s++)
            ;
        nlen = (size_t)(s - name);
        while (nlen > 0 && (name[nlen - 1] == ' ' || name[nlen - 1] == '\t'))
            nlen--;
        if (s < next) {
            val = s + 1;
            while (val < next && (*val == ' ' || *val == '\t'))
                val++;
            vlen = (size_t)(next - val);
            while (vlen > 0 && (val[vlen - 1] == ' ' || val[vlen - 1] == '\t'))
                vlen--;
        }
        if (nlen == 15 && memcmp(name, "chunk-signature", 15) == 0 && val) {
            take_sig(p->chunk_sig, val, vlen);
            have_sig = true;
        }
        s = next;
    }
    if (p->verify_sigs && !have_sig)
        return set_err(p, S3E_SIGNATURE_DOES_NOT_MATCH,
                       "The chunk signature is missing", msg_out);
    if (p->have_decoded_len && size > p->decoded_len - p->decoded)
        return set_err(p, S3E_INCOMPLETE_BODY,
                       "The aws-chunked body is longer than "
                       "x-amz-decoded-content-length", msg_out);
    if (size == 0) {
        enum s3_errcode e = end_chunk(p, msg_out);
        if (e != S3E_NONE)
            return e;
        p->state = ST_TRAILER;
        return S3E_NONE;
    }
    if (p->verify_sigs) {
        rs_sha256_init(&p->chunk_sha);
        p->chunk_sha_live = true;
    }
    p->chunk_left = size;
    p->state = ST_DATA;
    return S3E_NONE;
}

/* A complete trailer line (CRLF stripped, not empty). */
static enum s3_errcode trailer_line(struct s3_payload *p,
                                    const char **msg_out)
{
    char *line = p->line;
    char *colon = memchr(line, ':', p->line_len);
    char *name, *value;

    line[p->line_len] = '\0';
    if (colon == NULL || colon == line || strlen(line) != p->line_len)
        return set_err(p, S3E_INVALID_REQUEST,
                       "Invalid trailing header in aws-chunked body",
                       msg_out);
    if (!p->trailer_mode)
        return set_err(p, S3E_INVALID_REQUEST,
                       "Trailing headers are not allowed without "
                       "a -TRAILER x-amz-content-sha256", msg_out);
    *colon = '\0';
    name = trim_dup(p->a, line);
    value = trim_dup(p->a, colon + 1);
    for (char *c = name; *c; c++)
        if (*c >= 'A' && *c <= 'Z')
            *c = (char)(*c - 'A' + 'a');

    if (strcmp(name, "x-amz-trailer-signature") == 0) {
        uint8_t d[32];
        char hex[65], got[65];

        if (!p->verify_sigs)
            return S3E_NONE; /* unsigned mode: nothing to check it with */
        if (p->trailer_sig_seen || !p->trailer_sha_live)
            return set_err(p, S3E_INVALID_REQUEST,
                           "Duplicate x-amz-trailer-signature", msg_out);
        rs_sha256_final(&p->trailer_sha, d);
        p->trailer_sha_live = false;
        rs_hex(hex, d, 32);
        take_sig(got, value, strlen(value));
        if (!check_sig(p, "TRAILER", hex, got))
            return set_err(p, S3E_SIGNATURE_DOES_NOT_MATCH, MSG_SIG,
                           msg_out);
        p->trailer_sig_seen = true;
        return S3E_NONE;
    }
    if (p->trailer_sig_seen)
        return set_err(p, S3E_INVALID_REQUEST,
                       "Trailing header after x-amz-trailer-signature",
                       msg_out);
    if (p->trailer_sha_live) {
        rs_sha256_update(&p->trailer_sha, name, strlen(name));
        rs_sha256_update(&p->trailer_sha, ":", 1);
        rs_sha256_update(&p->trailer_sha, value, strlen(value));
        rs_sha256_update(&p->trailer_sha, "\n", 1);
    }
    if (p->ck_in_trailer && s3_cksum_from_header(name) == p->ck_alg) {
        if (p->ck_expected != NULL)
            return set_err(p, S3E_INVALID_REQUEST,
                           "Duplicate checksum trailing header", msg_out);
        if (!cksum_value_ok(p->ck_alg, value))
            return set_err(p, S3E_INVALID_REQUEST,
                           rs_arena_sprintf(p->a, "Value for %s trailing "
                                            "header is invalid.",
                                            cksum_info[p->ck_alg].header),
                           msg_out);
        p->ck_expected = value;
    }
    return S3E_NONE;
}

/*
 * Accumulate a line into p->line; returns the bytes consumed and sets
 * *complete when the LF was seen (CR stripped).  Error when too long.
 */
static size_t take_line(struct s3_payload *p, const char *d, size_t n,
                        bool *complete, bool *too_long)
{
    const char *lf = memchr(d, '\n', n);
    size_t take = lf ? (size_t)(lf - d) : n;

    *complete = false;
    *too_long = false;
    if (p->line_len + take > LINE_MAX_BYTES) {
        *too_long = true;
        return 0;
    }
    memcpy(p->line + p->line_len, d, take);
    p->line_len += take;
    if (lf == NULL)
        return n;
    if (p->line_len > 0 && p->line[p->line_len - 1] == '\r')
        p->line_len--;
    p->line[p->line_len] = '\0';
    *complete = true;
    return take + 1;
}

enum s3_errcode s3_payload_feed(struct s3_payload *p, const char *data,
                                size_t n,
                                int (*sink)(void *arg, const void *d,
                                            size_t n),
                                void *arg, int *sink_rc,
                                const char **msg_out)
{
    enum s3_errcode e = S3E_NONE;

    assert(p && (data || n == 0) && msg_out);
    *msg_out = NULL;
    if (p->err != S3E_NONE) {
        *msg_out = p->err_msg;
        return p->err;
    }
    if (p->finished)
        return set_err(p, S3E_INTERNAL_ERROR, "payload already finished",
                       msg_out);
    if (p->state == ST_RAW)
        return deliver(p, data, n, sink, arg, sink_rc, msg_out);

    while (n > 0 && e == S3E_NONE) {
        switch (p->state) {
        case ST_SIZE:
        case ST_TRAILER: {
            bool complete, too_long;
            size_t used = take_line(p, data, n, &complete, &too_long);
            if (too_long)
                return set_err(p, S3E_INVALID_REQUEST,
                               "aws-chunked header line too long", msg_out);
            data += used;
            n -= used;
            if (!complete)
                break;
            if (p->state == ST_SIZE)
                e = chunk_header(p, msg_out);
            else if (p->line_len == 0)
                p->state = ST_DONE;
            else
                e = trailer_line(p, msg_out);
            p->line_len = 0;
            break;
        }
        case ST_DATA: {
            size_t take = n < p->chunk_left ? n : (size_t)p->chunk_left;
            e = deliver(p, data, take, sink, arg, sink_rc, msg_out);
            data += take;
            n -= take;
            p->chunk_left -= take;
            if (e == S3E_NONE && p->chunk_left == 0) {
                e = end_chunk(p, msg_out);
                p->state = ST_DATA_CR;
            }
            break;
        }
        case ST_DATA_CR:
            if (*data == '\r') {
                p->state = ST_DATA_LF;
            } else if (*data == '\n') {
                p->state = ST_SIZE;
            } else {
                return set_err(p, S3E_INVALID_REQUEST,
                               "Missing CRLF after chunk data", msg_out);
            }
            data++;
            n--;
            break;
        case ST_DATA_LF:
            if (*data != '\n')
                return set_err(p, S3E_INVALID_REQUEST,
                               "Missing CRLF after chunk data", msg_out);
            p->state = ST_SIZE;
            data++;
            n--;
            break;
        case ST_DONE:
            /* Extra blank line endings are harmless; anything else not. */
            if (*data != '\r' && *data != '\n')
                return set_err(p, S3E_INVALID_REQUEST,
                               "Unexpected data after the aws-chunked "
                               "trailer", msg_out);
            data++;
            n--;
            break;
        case ST_RAW:
            assert(0);
            break;
        }
    }
    return e;
}

/* ------------------------------------------------------------------ */
/* End of body                                                          */
/* ------------------------------------------------------------------ */

static void be_bytes(uint8_t *out, uint64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        out[i] = (uint8_t)v;
        v >>= 8;
    }
}

/* Final value of the checksum being computed, base64 into p->ck_b64. */
static void cksum_finish(struct s3_payload *p)
{
    uint8_t raw[32];
    size_t n = cksum_info[p->ck_alg].raw_len;

    switch (p->ck_alg) {
    case S3_CKSUM_CRC32:
        be_bytes(raw, p->crc32, 4);
        break;
    case S3_CKSUM_CRC32C:
        be_bytes(raw, p->crc32c, 4);
        break;
    case S3_CKSUM_CRC64NVME:
        be_bytes(raw, p->crc64, 8);
        break;
    case S3_CKSUM_SHA1:
        rs_sha1_final(&p->ck_sha1, raw);
        p->ck_sha1_live = false;
        break;
    case S3_CKSUM_SHA256:
        rs_sha256_final(&p->ck_sha256, raw);
        p->ck_sha256_live = false;
        break;
    default:
        p->ck_b64[0] = '\0';
        return;
    }
    rs_base64(p->ck_b64, raw, n);
}

enum s3_errcode s3_payload_finish(struct s3_payload *p, const char **msg_out)
{
    assert(p && msg_out);
    *msg_out = NULL;
    if (p->err != S3E_NONE) {
        *msg_out = p->err_msg;
        return p->err;
    }
    if (p->finished)
        return S3E_NONE;

    switch (p->state) {
    case ST_RAW:
    case ST_DONE:
        break;
    case ST_TRAILER:
        /* Body ended after the last trailer, without the empty line;
         * possibly without the last line's CRLF too. */
        if (p->line_len > 0) {
            enum s3_errcode e = trailer_line(p, msg_out);
            p->line_len = 0;
            if (e != S3E_NONE)
                return e;
        }
        p->state = ST_DONE;
        break;
    default:
        return set_err(p, S3E_INCOMPLETE_BODY, MSG_INCOMPLETE, msg_out);
    }

    if (p->chunked && p->have_decoded_len && p->decoded != p->decoded_len)
        return set_err(p, S3E_INCOMPLETE_BODY,
                       "You did not provide the number of bytes specified "
                       "by the x-amz-decoded-content-length HTTP header",
                       msg_out);
    if (p->verify_sigs && p->trailer_mode && !p->trailer_sig_seen)
        return set_err(p, S3E_SIGNATURE_DOES_NOT_MATCH,
                       "The trailer signature is missing", msg_out);
    if (p->ck_in_trailer && p->ck_expected == NULL)
        return set_err(p, S3E_INVALID_REQUEST,
                       rs_arena_sprintf(p->a, "The %s trailing header "
                                        "declared in x-amz-trailer was not "
                                        "sent.",
                                        cksum_info[p->ck_alg].header),
                       msg_out);

    if (p->md5_live)
        rs_md5_final(&p->md5, p->md5_out);
    p->md5_live = false;
    cksum_finish(p);
    p->finished = true;

    if (p->body_sha_live) {
        uint8_t d[32];
        char hex[65];
        rs_sha256_final(&p->body_sha, d);
        p->body_sha_live = false;
        rs_hex(hex, d, 32);
        if (!rs_ct_equal(hex, p->auth->payload_sha256, 64))
            return set_err(p, S3E_XAMZ_CONTENT_SHA256_MISMATCH,
                           "The provided 'x-amz-content-sha256' header does "
                           "not match what was computed.", msg_out);
    }
    if (p->have_content_md5 &&
        memcmp(p->md5_out, p->content_md5, 16) != 0)
        return set_err(p, S3E_BAD_DIGEST,
                       "The Content-MD5 you specified did not match what we "
                       "received.", msg_out);
    if (p->ck_expected != NULL && strcmp(p->ck_expected, p->ck_b64) != 0)
        return set_err(p, S3E_BAD_DIGEST,
                       rs_arena_sprintf(p->a, "The %s you specified did not "
                                        "match the calculated checksum.",
                                        cksum_info[p->ck_alg].name),
                       msg_out);
    return S3E_NONE;
}

void s3_payload_md5(const struct s3_payload *p, uint8_t out[16])
{
    memcpy(out, p->md5_out, 16);
}

uint64_t s3_payload_decoded_size(const struct s3_payload *p)
{
    return p->decoded;
}

enum s3_cksum s3_payload_checksum(const struct s3_payload *p,
                                  const char **b64_out)
{
    *b64_out = p->ck_alg != S3_CKSUM_NONE ? p->ck_b64 : NULL;
    return p->ck_alg;
}
