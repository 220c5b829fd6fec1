/*
 * core/log.c - one line per message to stderr: UTC time, level, text.
 * A single write(2) per line keeps lines from different threads whole.
 */
#include "core/rs.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum rs_log_level log_level = RS_LOG_INFO;

void rs_log_set_level(enum rs_log_level level)
{
    log_level = level;
}

void rs_log(enum rs_log_level level, const char *fmt, ...)
{
    static const char *names[] = { "debug", "info", "warn", "error" };
    char line[4096];
    char ts[40];
    va_list ap;
    size_t n;

    if (level < log_level)
        return;
    rs_time_iso8601(ts, sizeof(ts), rs_now_ns());
    n = (size_t)snprintf(line, sizeof(line), "%s %-5s ", ts, names[level]);
    va_start(ap, fmt);
    if (n < sizeof(line))
        n += (size_t)vsnprintf(line + n, sizeof(line) - n, fmt, ap);
    va_end(ap);
    if (n >= sizeof(line) - 1)
        n = sizeof(line) - 2;
    line[n++] = '\n';
    /* Logging must never fail the caller; a short write loses a line. */
    (void)!write(STDERR_FILENO, line, n);
}
