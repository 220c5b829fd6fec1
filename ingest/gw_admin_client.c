/*
 * ingest/gw_admin_client.c - the client side of the admin endpoint
 * (gw_admin.c), used by `roadstore admin --endpoint URL` and by `roadstore
 * admin --data DIR` while the server holds the index.  One SigV4-signed
 * HTTP request with libcurl; the signature is made by s3_auth_sign, the
 * same code the gateway verifies with.
 */
#include "ingest/ingest.h"
#include "ingest/s3_int.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static size_t body_cb(char *p, size_t size, size_t n, void *arg)
{
    struct rs_buf *b = arg;

    if (rs_buf_append(b, p, size * n))
        return 0; /* abort the transfer: the reply is over the limit */
    return size * n;
}

int gw_admin_request(const char *endpoint, const char *access_key,
                     const char *secret_key, const char *region,
                     const char *method, const char *path,
                     const struct rs_kv *params, size_t nparams,
                     int *status_out, char **body_out)
{
    struct rs_buf qb;
    const char *query;
    size_t i;
    static const char unsigned_payload[] = "UNSIGNED-PAYLOAD";
    struct rs_buf auth, url, body, hdr;
    struct curl_slist *hl = NULL;
    struct rs_kv headers[3];
    char amz_date[20], host[256];
    const char *h;
    time_t now = time(NULL);
    struct tm tm;
    CURL *c;
    CURLcode cc;
    long status = 0;
    int rc = RS_OK;

    h = strstr(endpoint, "://");
    h = h ? h + 3 : endpoint;
    snprintf(host, sizeof(host), "%.*s", (int)strcspn(h, "/"), h);
    gmtime_r(&now, &tm);
    strftime(amz_date, sizeof(amz_date), "%Y%m%dT%H%M%SZ", &tm);
    headers[0].name = "host";
    headers[0].value = host;
    headers[1].name = "x-amz-content-sha256";
    headers[1].value = (char *)unsigned_payload;
    headers[2].name = "x-amz-date";
    headers[2].value = amz_date;
    rs_buf_init(&auth, 4096);
    rs_buf_init(&url, 8192);
    rs_buf_init(&body, 16 << 20);
    rs_buf_init(&hdr, 4096);
    /* Sorted by name, so the query is already in canonical order. */
    rs_buf_init(&qb, 16384);
    for (i = 0; i < nparams; i++) {
        if (i)
            (void)rs_buf_puts(&qb, "&");
        (void)s3_url_encode(&qb, params[i].name, strlen(params[i].name),
                            true);
        (void)rs_buf_puts(&qb, "=");
        (void)s3_url_encode(&qb, params[i].value, strlen(params[i].value),
                            true);
    }
    query = qb.len ? qb.data : NULL;
    rc = s3_auth_sign(&auth, access_key, secret_key, region, method, path,
                      query, headers, 3, unsigned_payload);
    if (rc)
        goto out;
    (void)rs_buf_printf(&url, "%.*s%s%s%s", (int)strcspn(endpoint, "?"),
                        endpoint, path, query ? "?" : "", query ? query : "");
    /* endpoint may end with '/' */
    c = curl_easy_init();
    if (!c) {
        rc = rs_err_set(RS_ERR, "curl_easy_init failed");
        goto out;
    }
    (void)rs_buf_printf(&hdr, "Authorization: %s", auth.data);
    hl = curl_slist_append(hl, hdr.data);
    rs_buf_reset(&hdr);
    (void)rs_buf_printf(&hdr, "x-amz-date: %s", amz_date);
    hl = curl_slist_append(hl, hdr.data);
    hl = curl_slist_append(hl, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    curl_easy_setopt(c, CURLOPT_URL, url.data);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &body);
    /* compact, fsck and a lifecycle pass take as long as the data they
     * walk: no limit on the whole call, only on reaching the server */
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (!strcmp(method, "POST") || !strcmp(method, "PUT")) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, 0L);
    }
    cc = curl_easy_perform(c);
    if (cc != CURLE_OK) {
        rc = rs_err_set(RS_EIO, "admin request to %s failed: %s", url.data,
                        curl_easy_strerror(cc));
    } else {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        *status_out = (int)status;
        *body_out = rs_buf_detach(&body, NULL);
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
out:
    rs_buf_dispose(&auth);
    rs_buf_dispose(&url);
    rs_buf_dispose(&body);
    rs_buf_dispose(&hdr);
    rs_buf_dispose(&qb);
    return rc;
}

int gw_url_encode(struct rs_buf *b, const char *s)
{
    return s3_url_encode(b, s, strlen(s), true);
}
