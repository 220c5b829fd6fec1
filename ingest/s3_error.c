/*
 * ingest/s3_error.c - the one table from roadstore's errors to S3's: HTTP
 * status, Code and default Message of every error the gateway answers,
 * and the mapping of store rs_err codes onto it (STYLE.md 3: S3 exists
 * only at the gateway edge).
 */
#include "ingest/s3_int.h"

static const struct s3_error_def s3_errors[S3E_COUNT] = {
    [S3E_NONE] = { 200, "OK", "OK" },
    [S3E_NO_SUCH_LIFECYCLE_CONFIGURATION] = { 404,
        "NoSuchLifecycleConfiguration",
        "The lifecycle configuration does not exist" },
    [S3E_ACCESS_DENIED] = { 403, "AccessDenied", "Access Denied" },
    [S3E_ACCOUNT_PROBLEM] = { 403, "AccountProblem",
        "There is a problem with your account." },
    [S3E_AUTH_HEADER_MALFORMED] = { 400, "AuthorizationHeaderMalformed",
        "The authorization header is malformed." },
    [S3E_AUTH_QUERY_PARAMS_ERROR] = { 400,
        "AuthorizationQueryParametersError",
        "Error parsing the X-Amz-Credential parameter." },
    [S3E_BAD_DIGEST] = { 400, "BadDigest",
        "The Content-MD5 you specified did not match what we received." },
    [S3E_BUCKET_ALREADY_EXISTS] = { 409, "BucketAlreadyExists",
        "The requested bucket name is not available. The bucket namespace "
        "is shared by all users of the system. Please select a different "
        "name and try again." },
    [S3E_BUCKET_ALREADY_OWNED_BY_YOU] = { 409, "BucketAlreadyOwnedByYou",
        "Your previous request to create the named bucket succeeded and you "
        "already own it." },
    [S3E_BUCKET_NOT_EMPTY] = { 409, "BucketNotEmpty",
        "The bucket you tried to delete is not empty" },
    [S3E_ENTITY_TOO_LARGE] = { 400, "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed object size." },
    [S3E_ENTITY_TOO_SMALL] = { 400, "EntityTooSmall",
        "Your proposed upload is smaller than the minimum allowed object "
        "size." },
    [S3E_EXPIRED_TOKEN] = { 400, "ExpiredToken",
        "The provided token has expired." },
    [S3E_INCOMPLETE_BODY] = { 400, "IncompleteBody",
        "You did not provide the number of bytes specified by the "
        "Content-Length HTTP header." },
    [S3E_INTERNAL_ERROR] = { 500, "InternalError",
        "We encountered an internal error. Please try again." },
    [S3E_INVALID_ACCESS_KEY_ID] = { 403, "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records." },
    [S3E_INVALID_ARGUMENT] = { 400, "InvalidArgument", "Invalid Argument" },
    [S3E_INVALID_BUCKET_NAME] = { 400, "InvalidBucketName",
        "The specified bucket is not valid." },
    [S3E_INVALID_DIGEST] = { 400, "InvalidDigest",
        "The Content-MD5 you specified is not valid." },
    [S3E_INVALID_ENCRYPTION_ALGORITHM] = { 400,
        "InvalidEncryptionAlgorithmError",
        "The encryption request you specified is not valid." },
    [S3E_INVALID_LOCATION_CONSTRAINT] = { 400, "InvalidLocationConstraint",
        "The specified location constraint is not valid." },
    [S3E_INVALID_PART] = { 400, "InvalidPart",
        "One or more of the specified parts could not be found.  The part "
        "may not have been uploaded, or the specified entity tag may not "
        "match the part's entity tag." },
    [S3E_INVALID_PART_ORDER] = { 400, "InvalidPartOrder",
        "The list of parts was not in ascending order. Parts must be "
        "ordered by part number." },
    [S3E_INVALID_RANGE] = { 416, "InvalidRange",
        "The requested range is not satisfiable" },
    [S3E_INVALID_REQUEST] = { 400, "InvalidRequest", "Invalid Request" },
    [S3E_INVALID_STORAGE_CLASS] = { 400, "InvalidStorageClass",
        "The storage class you specified is not valid" },
    [S3E_INVALID_TAG] = { 400, "InvalidTag",
        "The tag provided was not a valid tag." },
    [S3E_INVALID_URI] = { 400, "InvalidURI",
        "Couldn't parse the specified URI." },
    [S3E_KEY_TOO_LONG] = { 400, "KeyTooLongError",
        "Your key is too long" },
    [S3E_MALFORMED_ACL] = { 400, "MalformedACLError",
        "The XML you provided was not well-formed or did not validate "
        "against our published schema" },
    [S3E_MALFORMED_XML] = { 400, "MalformedXML",
        "The XML you provided was not well-formed or did not validate "
        "against our published schema" },
    [S3E_MAX_MESSAGE_LENGTH_EXCEEDED] = { 400, "MaxMessageLengthExceeded",
        "Your request was too big." },
    [S3E_METADATA_TOO_LARGE] = { 400, "MetadataTooLarge",
        "Your metadata headers exceed the maximum allowed metadata size." },
    [S3E_METHOD_NOT_ALLOWED] = { 405, "MethodNotAllowed",
        "The specified method is not allowed against this resource." },
    [S3E_MISSING_CONTENT_LENGTH] = { 411, "MissingContentLength",
        "You must provide the Content-Length HTTP header." },
    [S3E_MISSING_REQUEST_BODY] = { 400, "MissingRequestBodyError",
        "Request Body is empty" },
    [S3E_MISSING_SECURITY_HEADER] = { 400, "MissingSecurityHeader",
        "Your request was missing a required header." },
    [S3E_NO_SUCH_BUCKET] = { 404, "NoSuchBucket",
        "The specified bucket does not exist" },
    [S3E_NO_SUCH_KEY] = { 404, "NoSuchKey",
        "The specified key does not exist." },
    [S3E_NO_SUCH_UPLOAD] = { 404, "NoSuchUpload",
        "The specified upload does not exist. The upload ID may be invalid, "
        "or the upload may have been aborted or completed." },
    [S3E_NO_SUCH_TAG_SET] = { 404, "NoSuchTagSet",
        "The TagSet does not exist" },
    [S3E_NOT_IMPLEMENTED] = { 501, "NotImplemented",
        "A header or query you provided implies functionality that is not "
        "implemented." },
    [S3E_NOT_MODIFIED] = { 304, "NotModified", "Not Modified" },
    [S3E_PRECONDITION_FAILED] = { 412, "PreconditionFailed",
        "At least one of the pre-conditions you specified did not hold" },
    [S3E_REQUEST_TIME_TOO_SKEWED] = { 403, "RequestTimeTooSkewed",
        "The difference between the request time and the server's time is "
        "too large." },
    [S3E_REQUEST_TIMEOUT] = { 400, "RequestTimeout",
        "Your socket connection to the server was not read from or written "
        "to within the timeout period." },
    [S3E_SERVICE_UNAVAILABLE] = { 503, "ServiceUnavailable",
        "Please reduce your request rate." },
    [S3E_SIGNATURE_DOES_NOT_MATCH] = { 403, "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature "
        "you provided. Check your key and signing method." },
    [S3E_SLOW_DOWN] = { 503, "SlowDown", "Please reduce your request rate." },
    [S3E_TOO_MANY_BUCKETS] = { 400, "TooManyBuckets",
        "You have attempted to create more buckets than allowed" },
    [S3E_UNEXPECTED_CONTENT] = { 400, "UnexpectedContent",
        "This request does not support content" },
    [S3E_XAMZ_CONTENT_SHA256_MISMATCH] = { 400, "XAmzContentSHA256Mismatch",
        "The provided 'x-amz-content-sha256' header does not match what was "
        "computed." },
    [S3E_INSUFFICIENT_STORAGE] = { 507, "InsufficientStorage",
        "Insufficient storage space to complete the request." },
    [S3E_INVALID_OBJECT_STATE] = { 403, "InvalidObjectState",
        "The operation is not valid for the current state of the object." },
    [S3E_CONDITIONAL_REQUEST_CONFLICT] = { 409, "ConditionalRequestConflict",
        "A conflicting operation occurred." },
    [S3E_POSITION_NOT_EQUAL_TO_LENGTH] = { 409, "PositionNotEqualToLength",
        "The position of the append is not the length of the object." },
    [S3E_INVALID_WRITE_OFFSET] = { 400, "InvalidWriteOffset",
        "The write offset value that you specified does not match the "
        "current object size." },
    [S3E_TOO_MANY_PARTS] = { 400, "TooManyParts",
        "You have attempted to add more parts than the maximum allowed for "
        "this object." },
    [S3E_UNRESOLVABLE_GRANT_BY_EMAIL] = { 400,
        "UnresolvableGrantByEmailAddress",
        "The e-mail address you provided does not match any account on "
        "record." },
};

const struct s3_error_def *s3_error_def(enum s3_errcode e)
{
    if ((unsigned)e >= S3E_COUNT || !s3_errors[e].code)
        return &s3_errors[S3E_INTERNAL_ERROR];
    return &s3_errors[e];
}

enum s3_errcode s3_error_from_rs(int rc, enum s3_errcode not_found)
{
    switch (rc) {
    case RS_OK:
        return S3E_NONE;
    case RS_ENOTFOUND:
        return not_found;
    case RS_EDENIED:
        return S3E_ACCESS_DENIED;
    case RS_ETOOBIG:
        return S3E_ENTITY_TOO_LARGE;
    case RS_ENOSPC:
        return S3E_INSUFFICIENT_STORAGE;
    case RS_EBUSY:
    case RS_ESHUTDOWN:
        return S3E_SERVICE_UNAVAILABLE;
    case RS_EINVAL:
        return S3E_INVALID_ARGUMENT;
    }
    rs_warn("internal error: %s (%d): %s", rs_strerror(rc), rc, rs_err_msg());
    return S3E_INTERNAL_ERROR;
}
