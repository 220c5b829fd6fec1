/*
 * core/time.c - clocks and the date formats S3 speaks: ISO 8601 in XML,
 * RFC 1123 in HTTP headers, and the parsers for what clients send.
 */
#include "core/rs.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

int64_t rs_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t rs_mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

void rs_time_iso8601(char *out, size_t cap, int64_t ns)
{
    time_t sec = (time_t)(ns / 1000000000);
    struct tm tm;
    char base[24];

    gmtime_r(&sec, &tm);
    strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, cap, "%s.%03dZ", base, (int)((ns / 1000000) % 1000));
}

void rs_time_http(char *out, size_t cap, int64_t ns)
{
    static const char *days[] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri",
                                  "Sat" };
    static const char *mons[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
    time_t sec = (time_t)(ns / 1000000000);
    struct tm tm;

    gmtime_r(&sec, &tm);
    snprintf(out, cap, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday],
             tm.tm_mday, mons[tm.tm_mon], tm.tm_year + 1900, tm.tm_hour,
             tm.tm_min, tm.tm_sec);
}

static bool parse_with(struct tm *tm, const char *s, const char *fmt)
{
    const char *end;

    memset(tm, 0, sizeof(*tm));
    end = strptime(s, fmt, tm);
    if (!end)
        return false;
    while (*end == ' ')
        end++;
    /* Accept a trailing zone name (GMT/UTC/Z) and ISO fractional seconds. */
    if (*end == '.') {
        end++;
        while (isdigit((unsigned char)*end))
            end++;
    }
    return *end == '\0' || !strcasecmp(end, "GMT") || !strcasecmp(end, "UTC") ||
           !strcmp(end, "Z") || !strcmp(end, "+0000");
}

int rs_time_parse(int64_t *sec_out, const char *s)
{
    static const char *fmts[] = {
        "%a, %d %b %Y %H:%M:%S", /* RFC 1123 */
        "%A, %d-%b-%y %H:%M:%S", /* RFC 850 */
        "%a %b %d %H:%M:%S %Y",  /* asctime */
        "%Y%m%dT%H%M%SZ",        /* SigV4 basic format */
        "%Y-%m-%dT%H:%M:%S",     /* ISO 8601 extended */
        "%d %b %Y %H:%M:%S",
    };
    struct tm tm;
    size_t i;

    if (!s || !*s)
        return rs_err_set(RS_EINVAL, "empty date");
    for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        if (parse_with(&tm, s, fmts[i])) {
            *sec_out = (int64_t)timegm(&tm);
            return RS_OK;
        }
    }
    return rs_err_set(RS_EINVAL, "unparseable date '%s'", s);
}
