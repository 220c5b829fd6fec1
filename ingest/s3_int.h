/*
 * ingest/s3_int.h - internal interfaces of the gateway (ingest/ only):
 * S3 error codes, SigV4 authentication, request payload decoding.
 *
 * Only files in ingest/ include this header.
 */
#ifndef S3_INT_H
#define S3_INT_H

#include "core/rs.h"

/* ------------------------------------------------------------------ */
/* S3 errors (table in s3_error.c)                                      */
/* ------------------------------------------------------------------ */

/* Every S3 error the gateway can answer.  S3E_NONE is success. */
enum s3_errcode {
    S3E_NONE = 0,
    S3E_ACCESS_DENIED,               /* 403 AccessDenied */
    S3E_ACCOUNT_PROBLEM,
    S3E_AUTH_HEADER_MALFORMED,       /* 400 AuthorizationHeaderMalformed */
    S3E_AUTH_QUERY_PARAMS_ERROR,     /* 400 AuthorizationQueryParametersError */
    S3E_BAD_DIGEST,                  /* 400 BadDigest */
    S3E_BUCKET_ALREADY_EXISTS,       /* 409 */
    S3E_BUCKET_ALREADY_OWNED_BY_YOU, /* 409 */
    S3E_BUCKET_NOT_EMPTY,            /* 409 */
    S3E_ENTITY_TOO_LARGE,            /* 400 EntityTooLarge */
    S3E_ENTITY_TOO_SMALL,            /* 400 EntityTooSmall */
    S3E_EXPIRED_TOKEN,
    S3E_INCOMPLETE_BODY,             /* 400 IncompleteBody */
    S3E_INTERNAL_ERROR,              /* 500 InternalError */
    S3E_INVALID_ACCESS_KEY_ID,       /* 403 InvalidAccessKeyId */
    S3E_INVALID_ARGUMENT,            /* 400 InvalidArgument */
    S3E_INVALID_BUCKET_NAME,         /* 400 InvalidBucketName */
    S3E_INVALID_DIGEST,              /* 400 InvalidDigest */
    S3E_INVALID_ENCRYPTION_ALGORITHM,
    S3E_INVALID_LOCATION_CONSTRAINT, /* 400 */
    S3E_INVALID_PART,                /* 400 InvalidPart */
    S3E_INVALID_PART_ORDER,          /* 400 InvalidPartOrder */
    S3E_INVALID_RANGE,               /* 416 InvalidRange */
    S3E_INVALID_REQUEST,             /* 400 InvalidRequest */
    S3E_INVALID_STORAGE_CLASS,       /* 400 InvalidStorageClass */
    S3E_INVALID_TAG,                 /* 400 InvalidTag */
    S3E_INVALID_URI,                 /* 400 InvalidURI */
    S3E_KEY_TOO_LONG,                /* 400 KeyTooLongError */
    S3E_MALFORMED_ACL,               /* 400 MalformedACLError */
    S3E_MALFORMED_XML,               /* 400 MalformedXML */
    S3E_MAX_MESSAGE_LENGTH_EXCEEDED, /* 400 MaxMessageLengthExceeded */
    S3E_METADATA_TOO_LARGE,          /* 400 MetadataTooLarge */
    S3E_METHOD_NOT_ALLOWED,          /* 405 MethodNotAllowed */
    S3E_MISSING_CONTENT_LENGTH,      /* 411 MissingContentLength */
    S3E_MISSING_REQUEST_BODY,        /* 400 MissingRequestBodyError */
    S3E_MISSING_SECURITY_HEADER,     /* 400 MissingSecurityHeader */
    S3E_NO_SUCH_BUCKET,              /* 404 NoSuchBucket */
    S3E_NO_SUCH_KEY,                 /* 404 NoSuchKey */
    S3E_NO_SUCH_UPLOAD,              /* 404 NoSuchUpload */
    S3E_NO_SUCH_TAG_SET,             /* 404 NoSuchTagSet */
    S3E_NOT_IMPLEMENTED,             /* 501 NotImplemented */
    S3E_NOT_MODIFIED,                /* 304 (no body) */
    S3E_PRECONDITION_FAILED,         /* 412 PreconditionFailed */
    S3E_REQUEST_TIME_TOO_SKEWED,     /* 403 RequestTimeTooSkewed */
    S3E_REQUEST_TIMEOUT,             /* 400 RequestTimeout */
    S3E_SERVICE_UNAVAILABLE,         /* 503 ServiceUnavailable */
    S3E_SIGNATURE_DOES_NOT_MATCH,    /* 403 SignatureDoesNotMatch */
    S3E_SLOW_DOWN,                   /* 503 SlowDown */
    S3E_TOO_MANY_BUCKETS,
    S3E_UNEXPECTED_CONTENT,          /* 400 UnexpectedContent */
    S3E_XAMZ_CONTENT_SHA256_MISMATCH,/* 400 XAmzContentSHA256Mismatch */
    S3E_INSUFFICIENT_STORAGE,        /* 507 InsufficientStorage */
    S3E_INVALID_OBJECT_STATE,        /* 403 InvalidObjectState */
    S3E_CONDITIONAL_REQUEST_CONFLICT,/* 409 */
    S3E_UNRESOLVABLE_GRANT_BY_EMAIL, /* 400 UnresolvableGrantByEmailAddress */
    S3E_POSITION_NOT_EQUAL_TO_LENGTH,/* 409 (RGW's append) */
    S3E_INVALID_WRITE_OFFSET,        /* 400 InvalidWriteOffset (AWS) */
    S3E_TOO_MANY_PARTS,              /* 400 TooManyParts */
    S3E_NO_SUCH_LIFECYCLE_CONFIGURATION, /* 404 */
    S3E_COUNT
};

struct s3_error_def {
    int status;          /* HTTP status */
    const char *code;    /* S3 Code element */
    const char *message; /* default Message element */
};

/* The table entry for an error code (never NULL). */
const struct s3_error_def *s3_error_def(enum s3_errcode e);

/*
 * Map an rs_err from the store to an S3 error in the context of an
 * operation: RS_ENOTFOUND becomes not_found (NoSuchKey, NoSuchBucket or
 * NoSuchUpload, as the caller says).  Unmapped codes give InternalError
 * and a warning in the log with the original code and message.
 */
enum s3_errcode s3_error_from_rs(int rc, enum s3_errcode not_found);

/* ------------------------------------------------------------------ */
/* Signature Version 4 (s3_auth.c)                                      */
/* ------------------------------------------------------------------ */

/* What the authenticator needs to know about a request. */
struct s3_auth_input {
    const char *method;        /* "GET" */
    const char *raw_path;      /* path as sent on the request line,
                                  percent-encoding untouched, no query */
    const char *raw_query;     /* query string as sent, without '?', or
                                  NULL */
    const struct rs_kv *headers; /* request headers, names as sent */
    size_t nheaders;
    int64_t now_sec;           /* server time, seconds since the epoch */
    int clock_skew;            /* allowed skew, seconds */
    const char *region;        /* our region */
};

enum s3_payload_mode {
    S3_PAYLOAD_UNSIGNED,            /* UNSIGNED-PAYLOAD, or presigned */
    S3_PAYLOAD_SIGNED,              /* hex SHA-256 of the body */
    S3_PAYLOAD_STREAMING_SIGNED,    /* STREAMING-AWS4-HMAC-SHA256-PAYLOAD */
    S3_PAYLOAD_STREAMING_SIGNED_TRAILER,
                                    /* ...-PAYLOAD-TRAILER */
    S3_PAYLOAD_STREAMING_UNSIGNED_TRAILER,
                                    /* STREAMING-UNSIGNED-PAYLOAD-TRAILER */
};

/* A parsed (not yet verified) SigV4 credential. */
struct s3_auth {
    bool anonymous;            /* no Authorization, no X-Amz-Signature */
    bool presigned;            /* query-string form */
    char access_key[129];
    char date[9];              /* YYYYMMDD of the credential scope */
    char amz_date[17];         /* YYYYMMDDTHHMMSSZ of the request */
    char region[64];
    char service[16];          /* "s3" */
    char signature[65];        /* hex, from the request */
    enum s3_payload_mode payload_mode;
    char payload_sha256[65];   /* for S3_PAYLOAD_SIGNED: expected hex */
    /* after s3_auth_verify(): */
    uint8_t signing_key[32];
    char scope[160];           /* date/region/s3/aws4_request */
    /* private to s3_auth.c: the canonical request's string to sign */
    char *_string_to_sign;     /* arena */
    char *_string_to_sign_alt; /* arena; from the raw path when it differs
                                  from the normalised canonical URI, or
                                  NULL (see s3_auth.c DESIGN) */
};

/*
 * Parse the Authorization header or the X-Amz-* query parameters.
 * Returns S3E_NONE (auth->anonymous when there is no signature at all) or
 * AuthorizationHeaderMalformed, AuthorizationQueryParametersError,
 * AccessDenied (presigned URL expired), RequestTimeTooSkewed,
 * MissingSecurityHeader, InvalidRequest (SigV2, unsupported algorithm),
 * and builds the canonical request and string to sign into a (arena).
 * msg_out gets a message for the error body (static or arena).
 */
enum s3_errcode s3_auth_parse(struct rs_arena *a, struct s3_auth *auth,
                              const struct s3_auth_input *in,
                              const char **msg_out);

/*
 * Check the signature against the user's secret key: S3E_NONE or
 * SignatureDoesNotMatch.  Derives auth->signing_key for chunk signatures.
 */
enum s3_errcode s3_auth_verify(struct s3_auth *auth, const char *secret_key);

/*
 * Sign a request as a client would (used by tests, the admin client and
 * the fuzzer's round trip): fills out with the Authorization header value
 * for the given method, raw path, raw query, headers (must include host and
 * x-amz-date, x-amz-content-sha256) and payload hash.
 */
int s3_auth_sign(struct rs_buf *out, const char *access_key,
                 const char *secret_key, const char *region,
                 const char *method, const char *raw_path,
                 const char *raw_query, const struct rs_kv *headers,
                 size_t nheaders, const char *payload_hash);

/*
 * Presign a request as a client would: appends to out the full query
 * string (raw_query, then the X-Amz-* parameters and X-Amz-Signature last)
 * for the given headers (must include host), amz_date
 * ("YYYYMMDDTHHMMSSZ") and expiry in seconds.  Payload: UNSIGNED-PAYLOAD.
 */
int s3_auth_presign(struct rs_buf *out, const char *access_key,
                    const char *secret_key, const char *region,
                    const char *method, const char *raw_path,
                    const char *raw_query, const struct rs_kv *headers,
                    size_t nheaders, const char *amz_date, int64_t expires);

/* ------------------------------------------------------------------ */
/* Signature Version 2 (s3_auth_v2.c)                                   */
/* ------------------------------------------------------------------ */

struct s3_auth_v2 {
    char access_key[129];
    char signature[64];        /* base64 HMAC-SHA1 from the request */
    bool presigned;            /* query-string form */
    int64_t when;              /* request date, seconds (header form) */
    char *string_to_sign;      /* arena */
    char *alt_string_to_sign;  /* "/bucket/" form of a bucket request, or
                                  NULL */
};

/* True when the request is signed with SigV2 (header or query). */
bool s3_auth_v2_present(const struct s3_auth_input *in);
/*
 * Parse and build the string to sign.  vhost_bucket is the bucket taken
 * from the Host header (virtual-host style), or NULL.  AccessDenied
 * (malformed, expired: "Request has expired"), RequestTimeTooSkewed.
 */
enum s3_errcode s3_auth_v2_parse(struct rs_arena *a, struct s3_auth_v2 *out,
                                 const struct s3_auth_input *in,
                                 const char *vhost_bucket,
                                 const char **msg_out);
/* S3E_NONE or SignatureDoesNotMatch. */
enum s3_errcode s3_auth_v2_verify(const struct s3_auth_v2 *v,
                                  const char *secret_key);

/* Percent-decode n bytes of s into the arena; NULL when malformed
 * (a '%' not followed by two hex digits).  '+' stays '+'. */
char *s3_url_decode(struct rs_arena *a, const char *s, size_t n);
/* Percent-encode as SigV4 does (unreserved kept; encode_slash false keeps
 * '/'); appends to b. */
int s3_url_encode(struct rs_buf *b, const char *s, size_t n,
                  bool encode_slash);

/* ------------------------------------------------------------------ */
/* Request payload decoding and verification (s3_payload.c)             */
/* ------------------------------------------------------------------ */

/* Checksum algorithms of x-amz-checksum-* and their trailers. */
enum s3_cksum {
    S3_CKSUM_NONE = 0,
    S3_CKSUM_CRC32,
    S3_CKSUM_CRC32C,
    S3_CKSUM_CRC64NVME,
    S3_CKSUM_SHA1,
    S3_CKSUM_SHA256,
};

/* The name used in headers and XML: "CRC32", "CRC32C", "CRC64NVME",
 * "SHA1", "SHA256". */
const char *s3_cksum_name(enum s3_cksum c);
/* The algorithm of a name as in x-amz-sdk-checksum-algorithm ("CRC32",
 * case-insensitive) or of a header name ("x-amz-checksum-crc32");
 * S3_CKSUM_NONE when unknown. */
enum s3_cksum s3_cksum_from_name(const char *s);
enum s3_cksum s3_cksum_from_header(const char *name);

/*
 * Payload decoder: takes the request body as it arrives (already
 * de-chunked from HTTP Transfer-Encoding by the HTTP library), removes
 * aws-chunked framing when the payload mode is streaming, verifies every
 * chunk signature, the signed SHA-256, Content-MD5, an x-amz-checksum-*
 * header or trailer and x-amz-decoded-content-length, and passes the
 * object bytes to the sink.  Always computes the MD5 (for the ETag).
 *
 * Memory stays bounded: chunk framing is parsed incrementally, data is
 * never buffered beyond one call.
 */
struct s3_payload;

struct s3_payload_opts {
    const struct s3_auth *auth;      /* NULL or anonymous: unsigned */
    const char *content_md5;         /* header value or NULL */
    const char *decoded_length;      /* x-amz-decoded-content-length */
    const char *trailer;             /* x-amz-trailer header or NULL */
    const char *checksum_algorithm;  /* x-amz-sdk-checksum-algorithm or
                                        x-amz-checksum-algorithm or NULL */
    enum s3_cksum header_cksum;      /* x-amz-checksum-<alg> header sent */
    const char *header_cksum_value;  /* its base64 value */
    bool no_md5;                     /* MD5 only to check a Content-MD5
                                        (s3_payload_md5 then gives zeros) */
};

/* Allocated in the arena; S3E_INVALID_DIGEST for a malformed Content-MD5,
 * S3E_INVALID_REQUEST / S3E_INVALID_ARGUMENT for bad checksum headers. */
enum s3_errcode s3_payload_new(struct rs_arena *a, struct s3_payload **out,
                               const struct s3_payload_opts *o,
                               const char **msg_out);

/*
 * Feed body bytes; calls sink(arg, p, n) for decoded object bytes. A sink
 * error (an rs_err) stops decoding and is stored in *sink_rc with the
 * return S3E_INTERNAL_ERROR.  Framing or signature errors: S3E_*
 * (SignatureDoesNotMatch for a bad chunk signature, IncompleteBody,
 * InvalidRequest ...).
 */
enum s3_errcode s3_payload_feed(struct s3_payload *p, const char *data,
                                size_t n,
                                int (*sink)(void *arg, const void *d,
                                            size_t n),
                                void *arg, int *sink_rc,
                                const char **msg_out);

/*
 * End of body: checks that framing is complete and every declared digest
 * matches: BadDigest (Content-MD5, x-amz-checksum-*),
 * XAmzContentSHA256Mismatch, IncompleteBody, SignatureDoesNotMatch.
 */
enum s3_errcode s3_payload_finish(struct s3_payload *p, const char **msg_out);

/* Results, valid after a successful finish. */
void s3_payload_md5(const struct s3_payload *p, uint8_t out[16]);
uint64_t s3_payload_decoded_size(const struct s3_payload *p);
/* The verified (or computed, when an algorithm was requested) checksum:
 * algorithm and base64 value; S3_CKSUM_NONE when none. */
enum s3_cksum s3_payload_checksum(const struct s3_payload *p,
                                  const char **b64_out);

/* ------------------------------------------------------------------ */
/* The request and the operation table (gw_http.c, s3_router.c)         */
/* ------------------------------------------------------------------ */

#include "store/store.h"

struct s3_op;
struct gw;

/* A decoded query parameter; value is "" for "?acl". */
struct s3_param {
    char *name;
    char *value;
};

/*
 * One S3 request from first header to last response byte.  Allocated in
 * its own arena (r->a), owned by the connection thread that serves it.
 */
struct s3_req {
    struct rs_arena *a;
    struct gw *gw;
    struct store *store;
    const struct rs_config *cfg;
    char request_id[17];
    int64_t start_mono_ns;

    /* as received */
    const char *method;
    char *raw_uri;               /* path?query exactly as sent */
    char *raw_path;              /* percent-encoded path */
    char *raw_query;             /* without '?', or NULL */
    struct rs_kv *headers;
    size_t nheaders;
    struct s3_param *params;     /* decoded query parameters */
    size_t nparams;

    /* addressing */
    char *bucket;                /* NULL for the service */
    char *key;                   /* NULL for bucket requests */
    bool vhost;                  /* bucket came from the Host header */

    /* identity */
    struct s3_auth auth;
    struct store_user user;      /* valid when !auth.anonymous */
    bool authenticated;
    struct store_bucket bkt;     /* loaded for bucket/object ops */
    bool have_bkt;

    const struct s3_op *op;
    bool internal;               /* /_roadstore/... (gw_admin.c) */

    /* request body */
    uint64_t content_length;     /* when has_content_length */
    bool has_content_length;
    struct s3_payload *payload;
    struct store_writer *writer; /* streaming body destination */
    struct store_appender *appender; /* or this one (s3_append.c) */
    struct rs_buf body;          /* buffered body (XML ops) */
    enum s3_errcode body_err;    /* first error while reading the body */
    const char *body_err_msg;
    int body_rc;                 /* store error while writing the body */
    void *op_state;              /* per-op data, in the arena */

    /* response */
    int status;
    struct rs_kv *rsp_headers;   /* arena */
    size_t nrsp_headers, caprsp_headers;
    struct rs_buf rsp_body;      /* XML or other small body */
    struct store_reader *rsp_reader; /* streamed object body, or NULL */
    uint64_t rsp_offset, rsp_length; /* range of rsp_reader to send */
    enum s3_errcode err;         /* error answered, for logs/metrics */
    const char *err_extra;       /* extra XML elements for the error body
                                    (arena), e.g. <PartNumber> */
    const char *resource;        /* for error XML: /bucket/key */
};

enum s3_op_flags {
    S3_OP_WRITE = 1,        /* changes state */
    S3_OP_BODY_STREAM = 2,  /* body streamed to r->writer via payload */
    S3_OP_BODY_BUFFER = 4,  /* body buffered into r->body (XML) */
    S3_OP_NO_BUCKET = 8,    /* does not load the bucket record */
    S3_OP_NO_MD5 = 16,      /* no use for the body's MD5 (an append's
                               ETag is not one): computed only to check
                               a Content-MD5 */
    S3_OP_OBJECT_CHECKSUM = 16, /* x-amz-checksum-* headers describe the
                                   whole object, not this request's body
                                   (CompleteMultipartUpload) */
};

/*
 * An S3 operation.  The dispatcher picks it from the method, whether a
 * bucket and key are addressed, and the sub-resource in the query.
 * Stages run in order; each returns S3E_NONE to continue:
 *   authorize - permission check with r->user / r->bkt (may load object
 *               metadata); runs before any body byte is read;
 *   begin     - optional, for streamed bodies: open r->writer;
 *   execute   - the store calls, after the whole body; sets r->status,
 *               response headers and body.
 */
struct s3_op {
    const char *name;       /* "PutObject": logs and metrics */
    unsigned flags;         /* enum s3_op_flags */
    enum s3_errcode (*authorize)(struct s3_req *r);
    enum s3_errcode (*begin)(struct s3_req *r);
    enum s3_errcode (*execute)(struct s3_req *r);
};

/* Pick the op for r (method, bucket, key, params); never NULL (falls back
 * to a NotImplemented / MethodNotAllowed op). */
const struct s3_op *s3_route(const struct s3_req *r);

/* Request accessors. */
const char *s3_req_header(const struct s3_req *r, const char *name);
const char *s3_req_param(const struct s3_req *r, const char *name);
bool s3_req_has_param(const struct s3_req *r, const char *name);

/* Response helpers (arena copies of name and value). */
void s3_rsp_header(struct s3_req *r, const char *name, const char *value);
void s3_rsp_headerf(struct s3_req *r, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Start an XML body with the declaration. */
void s3_rsp_xml_begin(struct s3_req *r);
/* Record an error for the response; returns e (for `return s3_fail(...)`).
 * msg may be NULL for the table's default. */
enum s3_errcode s3_fail(struct s3_req *r, enum s3_errcode e, const char *msg);

/* Permission check against an ACL.  The owner is implicitly allowed
 * READ_ACP and WRITE_ACP only; READ and WRITE need a grant. */
bool s3_acl_allows(const struct s3_req *r, const struct store_acl *acl,
                   unsigned perm);

/* The ops, by family (one file each). */
extern const struct s3_op s3_op_append_object;
extern const struct s3_op s3_op_get_bucket_notification,
    s3_op_put_bucket_notification;
extern const struct s3_op s3_op_get_bucket_lifecycle,
    s3_op_put_bucket_lifecycle, s3_op_delete_bucket_lifecycle;
extern const struct s3_op s3_op_list_buckets, s3_op_create_bucket,
    s3_op_delete_bucket, s3_op_head_bucket, s3_op_get_bucket_location,
    s3_op_get_bucket_acl, s3_op_put_bucket_acl, s3_op_list_objects,
    s3_op_list_objects_v2, s3_op_put_object, s3_op_get_object,
    s3_op_head_object, s3_op_delete_object, s3_op_delete_objects,
    s3_op_copy_object, s3_op_get_object_acl, s3_op_put_object_acl,
    s3_op_get_object_tagging, s3_op_put_object_tagging,
    s3_op_delete_object_tagging, s3_op_create_multipart,
    s3_op_upload_part, s3_op_upload_part_copy, s3_op_complete_multipart,
    s3_op_abort_multipart, s3_op_list_parts, s3_op_list_multipart_uploads,
    s3_op_not_implemented, s3_op_method_not_allowed,
    s3_op_get_bucket_versioning, s3_op_list_object_versions;

/* ------------------------------------------------------------------ */
/* XML (s3_xml.c, the only file calling libxml2)                         */
/* ------------------------------------------------------------------ */

/* A parsed XML element: local name (namespace dropped), its text content
 * (concatenated text children, NULL when none), children and siblings.
 * Everything lives in the arena. */
struct s3_xnode {
    const char *name;
    const char *text;
    struct s3_xnode *child;
    struct s3_xnode *next;
};

/* Parse a request body (no network, no entities, no DTD).  S3E_NONE or
 * S3E_MALFORMED_XML. */
enum s3_errcode s3_xml_parse(struct rs_arena *a, struct s3_xnode **root_out,
                             const char *p, size_t n);
/* First child element called name, or NULL. */
const struct s3_xnode *s3_xml_child(const struct s3_xnode *parent,
                                    const char *name);
/* Next sibling element called name, or NULL. */
const struct s3_xnode *s3_xml_next(const struct s3_xnode *node,
                                   const char *name);
/* Text of the child called name, or NULL. */
const char *s3_xml_child_text(const struct s3_xnode *parent,
                              const char *name);

/* Output: <name>escaped text</name>, and the same for numbers. */
void s3_xml_elem(struct rs_buf *b, const char *name, const char *text);
void s3_xml_elem_u64(struct rs_buf *b, const char *name, uint64_t v);
/* Text as S3 lists it: URL-encoded when encoding-type=url was asked. */
void s3_xml_elem_key(struct rs_buf *b, const char *name, const char *key,
                     bool url_encode);
/* <name>ISO 8601 time</name> */
void s3_xml_elem_time(struct rs_buf *b, const char *name, int64_t ns);

/* ------------------------------------------------------------------ */
/* Shared pieces of the object ops (s3_object.c, s3_acl.c)              */
/* ------------------------------------------------------------------ */

/*
 * Metadata of a new object from the request: stored headers
 * (Content-Type default binary/octet-stream, Content-Encoding without
 * aws-chunked, Content-Disposition, Content-Language, Cache-Control,
 * Expires), x-amz-meta-* (MetadataTooLarge past 2 KiB), x-amz-tagging
 * (InvalidTag), x-amz-storage-class (InvalidStorageClass; default
 * STANDARD) and the ACL from x-amz-acl / x-amz-grant-* (owner = the
 * requester).  Strings are in r->a.
 */
enum s3_errcode s3_obj_info_from_request(struct s3_req *r,
                                         struct store_obj *info);
/* Response headers describing o: ETag, Last-Modified, stored headers,
 * x-amz-meta-*, x-amz-storage-class (when not STANDARD),
 * x-amz-tagging-count, x-amz-mp-parts-count. */
void s3_obj_rsp_headers(struct s3_req *r, const struct store_obj *o);

/* x-amz-expiration for o when a lifecycle rule expires it
 * (s3_lifecycle.c): GET and HEAD. */
void s3_lifecycle_rsp_header(struct s3_req *r, const struct store_obj *o);

/* A resolved x-amz-copy-source. */
struct s3_copy_src {
    char *bucket;
    char *key;
    struct store_bucket bkt;
    struct store_obj obj;
};
/*
 * Parse x-amz-copy-source ("[/]bucket/key[?versionId=null]",
 * URL-encoded), load the source bucket and object (NoSuchBucket,
 * NoSuchKey), check READ permission on it (AccessDenied) and the
 * x-amz-copy-source-if-* conditions (PreconditionFailed).
 */
enum s3_errcode s3_copy_source(struct s3_req *r, struct s3_copy_src *out);
/*
 * Copy bytes [off, off+len) of obj into writer w, computing the MD5 of
 * what was copied into md5_out.  Store errors are mapped to S3 errors.
 */
enum s3_errcode s3_copy_data(struct s3_req *r, struct store_writer *w,
                             const struct store_obj *obj, uint64_t off,
                             uint64_t len, uint8_t md5_out[16]);
/* Parse "bytes=a-b" style ranges against size (S3 Range semantics):
 * returns S3E_NONE with *has_range false when absent or ignorable,
 * S3E_INVALID_RANGE when unsatisfiable. */
enum s3_errcode s3_parse_range(const char *hdr, uint64_t size,
                               bool *has_range, uint64_t *first,
                               uint64_t *last);
/* ETag comparison for If-Match lists: "*", quoted or bare, comma lists. */
bool s3_etag_matches(const char *header, const char *etag);

/* ACLs (s3_acl.c) */
/* From x-amz-acl / x-amz-grant-* headers; private when none.  bucket_owner
 * is used by bucket-owner-read / bucket-owner-full-control. */
enum s3_errcode s3_acl_from_headers(struct s3_req *r, struct store_acl *out,
                                    const char *owner,
                                    const char *bucket_owner);
/* <Owner><ID>..</ID><DisplayName>..</DisplayName></Owner> under elem. */
void s3_xml_owner(struct s3_req *r, struct rs_buf *b, const char *elem,
                  const char *user);
/* x-amz-tagging header or a Tagging XML TagSet into tags; InvalidTag. */
enum s3_errcode s3_tags_from_query(struct s3_req *r, const char *q,
                                   struct rs_kv **tags, size_t *ntags);

#endif /* S3_INT_H */
