/*
 * tests/unit/core/metrics_test.c - core/metrics.c: counters, gauges,
 * histograms and writers rendered in the Prometheus text exposition
 * format: HELP and TYPE once per family, label sets, cumulative histogram
 * buckets ending in +Inf, _sum and _count.
 *
 * The registry is process-global and never shrinks, so every test uses
 * metric names of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/rs.h"

static char *render(void)
{
    struct rs_buf b;

    rs_buf_init(&b, SIZE_MAX);
    assert_int_equal(rs_metrics_render(&b), RS_OK);
    return rs_buf_detach(&b, NULL);
}

static size_t count_of(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static void expect_line(const char *text, const char *line)
{
    char want[512];

    snprintf(want, sizeof(want), "%s\n", line);
    /* a whole line: at the start or after a newline */
    if (strncmp(text, want, strlen(want))) {
        char nl[514];

        snprintf(nl, sizeof(nl), "\n%s", want);
        if (!strstr(text, nl))
            fail_msg("line '%s' not in:\n%s", line, text);
    }
}

static void test_metrics_counter_same_labels_give_same_counter(void **state)
{
    struct rs_counter *a, *b, *c;

    (void)state;
    a = rs_counter_get("t1_requests_total", "op=\"GetObject\"", "Requests");
    b = rs_counter_get("t1_requests_total", "op=\"GetObject\"", "Requests");
    c = rs_counter_get("t1_requests_total", "op=\"PutObject\"", "Requests");
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, c);
}

static void test_metrics_counter_renders_help_type_once_and_labels(
    void **state)
{
    struct rs_counter *get, *put, *plain;
    char *text;
    const char *help, *first_sample;

    (void)state;
    get = rs_counter_get("t2_requests_total",
                         "op=\"GetObject\",code=\"200\"", "Requests served");
    put = rs_counter_get("t2_requests_total",
                         "op=\"PutObject\",code=\"200\"", "Requests served");
    plain = rs_counter_get("t2_bytes_total", NULL, "Bytes in");
    rs_counter_add(get, 2);
    rs_counter_add(get, 1);
    rs_counter_add(put, 1);
    rs_counter_add(plain, 1ULL << 40);
    text = render();
    assert_int_equal(count_of(text, "# HELP t2_requests_total "), 1);
    assert_int_equal(count_of(text, "# TYPE t2_requests_total "), 1);
    expect_line(text, "# HELP t2_requests_total Requests served");
    expect_line(text, "# TYPE t2_requests_total counter");
    expect_line(text,
                "t2_requests_total{op=\"GetObject\",code=\"200\"} 3");
    expect_line(text,
                "t2_requests_total{op=\"PutObject\",code=\"200\"} 1");
    expect_line(text, "# HELP t2_bytes_total Bytes in");
    expect_line(text, "# TYPE t2_bytes_total counter");
    expect_line(text, "t2_bytes_total 1099511627776");
    /* HELP comes before the family's first sample */
    help = strstr(text, "# HELP t2_requests_total");
    first_sample = strstr(text, "\nt2_requests_total{");
    assert_non_null(help);
    assert_non_null(first_sample);
    assert_true(help < first_sample);
    free(text);
}

static void test_metrics_histogram_buckets_are_cumulative_with_inf(
    void **state)
{
    struct rs_histogram *h;
    char *text;

    (void)state;
    h = rs_histogram_get("t3_latency_seconds", "op=\"GetObject\"",
                         "Latency");
    /* binary fractions, so the sum is exact */
    rs_histogram_observe(h, 0.0625); /* le 0.1 */
    rs_histogram_observe(h, 0.25);   /* le 0.25 (bounds are inclusive) */
    rs_histogram_observe(h, 0.5);    /* le 0.5 */
    rs_histogram_observe(h, 8.0);    /* only +Inf */
    text = render();
    expect_line(text, "# HELP t3_latency_seconds Latency");
    expect_line(text, "# TYPE t3_latency_seconds histogram");
    expect_line(text,
        "t3_latency_seconds_bucket{op=\"GetObject\",le=\"0.0001\"} 0");
    expect_line(text,
        "t3_latency_seconds_bucket{op=\"GetObject\",le=\"0.00025\"} 0");
    expect_line(text,
        "t3_latency_seconds_bucket{op=\"GetObject\",le=\"0.05\"} 0");
    expect_line(text,
        "t3_latency_seconds_bucket{op=\"GetObject\",le=\"0.1\"} 1");
    expect_line(text,
        "t3_latency_seconds_bucket{op=\"GetObject\",le=\"0.25\"} 2");
    expect_line(text,
        "t3_latency_seconds_bucket{op=\"GetObject\",le=\"0.5\"} 3");
    expect_line(text,
        "t3_latency_seconds_bucket{op=\"GetObject\",le=\"1\"} 3");
    expect_line(text,
        "t3_latency_seconds_bucket{op=\"GetObject\",le=\"5\"} 3");
    expect_line(text,
        "t3_latency_seconds_bucket{op=\"GetObject\",le=\"+Inf\"} 4");
    expect_line(text, "t3_latency_seconds_sum{op=\"GetObject\"} 8.812500000");
    expect_line(text, "t3_latency_seconds_count{op=\"GetObject\"} 4");
    assert_int_equal(count_of(text, "t3_latency_seconds_bucket{"), 15);
    free(text);
}

static void test_metrics_histogram_without_labels_and_family_once(
    void **state)
{
    struct rs_histogram *a, *b, *plain;
    char *text;

    (void)state;
    a = rs_histogram_get("t4_seconds", "op=\"A\"", "Family help");
    b = rs_histogram_get("t4_seconds", "op=\"B\"", "Family help");
    plain = rs_histogram_get("t4_plain_seconds", NULL, "Plain");
    assert_ptr_not_equal(a, b);
    rs_histogram_observe(a, 0.00005);
    rs_histogram_observe(b, 0.001);
    rs_histogram_observe(plain, 0.5);
    text = render();
    assert_int_equal(count_of(text, "# TYPE t4_seconds histogram"), 1);
    assert_int_equal(count_of(text, "# HELP t4_seconds Family help"), 1);
    expect_line(text, "t4_seconds_bucket{op=\"A\",le=\"0.0001\"} 1");
    expect_line(text, "t4_seconds_bucket{op=\"B\",le=\"0.0005\"} 0");
    expect_line(text, "t4_seconds_bucket{op=\"B\",le=\"0.001\"} 1");
    expect_line(text, "t4_seconds_count{op=\"A\"} 1");
    expect_line(text, "t4_seconds_count{op=\"B\"} 1");
    expect_line(text, "t4_plain_seconds_bucket{le=\"0.25\"} 0");
    expect_line(text, "t4_plain_seconds_bucket{le=\"0.5\"} 1");
    expect_line(text, "t4_plain_seconds_bucket{le=\"+Inf\"} 1");
    expect_line(text, "t4_plain_seconds_sum 0.500000000");
    expect_line(text, "t4_plain_seconds_count 1");
    free(text);
}

static double gauge_fn(void *arg)
{
    return *(double *)arg;
}

static void writer_fn(struct rs_buf *out, void *arg)
{
    (void)rs_buf_printf(out, "# TYPE t5_custom gauge\nt5_custom %d\n",
                        *(int *)arg);
}

static void test_metrics_gauge_and_writer_are_called_at_render(void **state)
{
    static double g = 42.5;
    static int w = 7;
    char *text;

    (void)state;
    rs_gauge_register("t5_gauge", "A gauge", gauge_fn, &g);
    rs_metrics_register_writer(writer_fn, &w);
    text = render();
    expect_line(text, "# HELP t5_gauge A gauge");
    expect_line(text, "# TYPE t5_gauge gauge");
    expect_line(text, "t5_gauge 42.5");
    expect_line(text, "t5_custom 7");
    free(text);
    g = -1;
    w = 8;
    text = render();
    expect_line(text, "t5_gauge -1");
    expect_line(text, "t5_custom 8");
    free(text);
}

static void test_metrics_render_past_buffer_limit_is_etoobig(void **state)
{
    struct rs_buf b;

    (void)state;
    (void)rs_counter_get("t6_total", NULL, "something");
    rs_buf_init(&b, 16);
    assert_int_equal(rs_metrics_render(&b), RS_ETOOBIG);
    assert_true(b.len <= 16);
    rs_buf_dispose(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_metrics_counter_same_labels_give_same_counter),
        cmocka_unit_test(
            test_metrics_counter_renders_help_type_once_and_labels),
        cmocka_unit_test(
            test_metrics_histogram_buckets_are_cumulative_with_inf),
        cmocka_unit_test(
            test_metrics_histogram_without_labels_and_family_once),
        cmocka_unit_test(test_metrics_gauge_and_writer_are_called_at_render),
        cmocka_unit_test(test_metrics_render_past_buffer_limit_is_etoobig),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
