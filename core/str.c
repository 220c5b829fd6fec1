/*
 * core/str.c - small string helpers shared by every subsystem.
 */
#include "core/rs.h"

#include <ctype.h>
#include <string.h>

bool rs_str_startswith(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

int rs_parse_u64(uint64_t *out, const char *s, size_t n)
{
    uint64_t v = 0;
    size_t i;

    if (n == 0)
        return rs_err_set(RS_EINVAL, "empty number");
    for (i = 0; i < n; i++) {
        unsigned d;

        if (!isdigit((unsigned char)s[i]))
            return rs_err_set(RS_EINVAL, "not a number");
        d = (unsigned)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return rs_err_set(RS_EINVAL, "number too large");
        v = v * 10 + d;
    }
    *out = v;
    return RS_OK;
}

int rs_parse_size(uint64_t *out, const char *s)
{
    size_t n = strlen(s);
    uint64_t mul = 1, v;
    int rc;

    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n && (s[n - 1] == 'B' || s[n - 1] == 'b') && n > 1 &&
        !isdigit((unsigned char)s[n - 2]))
        n--; /* "64KB" */
    if (n) {
        switch (s[n - 1]) {
        case 'k': case 'K': mul = 1ULL << 10; n--; break;
        case 'm': case 'M': mul = 1ULL << 20; n--; break;
        case 'g': case 'G': mul = 1ULL << 30; n--; break;
        case 't': case 'T': mul = 1ULL << 40; n--; break;
        }
    }
    rc = rs_parse_u64(&v, s, n);
    if (rc)
        return rc;
    if (v > UINT64_MAX / mul)
        return rs_err_set(RS_EINVAL, "size too large");
    *out = v * mul;
    return RS_OK;
}
