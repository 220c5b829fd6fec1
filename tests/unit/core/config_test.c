/*
 * tests/unit/core/config_test.c - core/config.c: the defaults, loading the
 * shipped configs/roadstore.conf (which must give exactly the defaults),
 * overrides of every type, size suffixes, storage group directory lists,
 * errors (missing file, unknown key, bad values, syntax) and the values
 * rs_config_finish derives from the data directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/rs.h"

#ifndef RS_SOURCE_DIR
#error "RS_SOURCE_DIR must point at the source tree"
#endif

static char conf_path[64];

/* Write text to a fresh temporary file; conf_path names it. */
static const char *write_conf(const char *text)
{
    int fd;
    FILE *f;

    snprintf(conf_path, sizeof(conf_path), "/tmp/rs_config_test_XXXXXX");
    fd = mkstemp(conf_path);
    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fputs(text, f) >= 0, 1);
    assert_int_equal(fclose(f), 0);
    return conf_path;
}

static int load_text(struct rs_config *c, const char *text)
{
    int rc = rs_config_load(c, write_conf(text));

    unlink(conf_path);
    return rc;
}

static void assert_defaults(const struct rs_config *c)
{
    assert_string_equal(c->listen, "127.0.0.1:9000");
    assert_string_equal(c->data_dir, "./data");
    assert_string_equal(c->region, "us-east-1");
    assert_string_equal(c->vhost_domains, "localhost");
    assert_int_equal(c->max_connections, 1024);
    assert_int_equal(c->idle_timeout, 120);
    assert_int_equal(c->max_header_bytes, 65536);
    assert_true(c->access_log);
    assert_string_equal(c->log_level, "info");
    assert_null(c->root_access_key);
    assert_null(c->root_secret_key);
    assert_int_equal(c->clock_skew, 900);
    assert_int_equal(c->standard.ndirs, 0);
    assert_int_equal(c->low_frequency.ndirs, 0);
    assert_int_equal(c->stripe_size, 8ULL << 20);
    assert_int_equal(c->block_size, 64U << 10);
    assert_int_equal(c->gc_delay, 30);
    assert_null(c->index_dir);
    assert_int_equal(c->index_cache, 256ULL << 20);
    assert_int_equal(c->max_xml_body, 4U << 20);
    assert_int_equal(c->max_object_size, 5ULL << 40);
    assert_int_equal(c->max_part_size, 5ULL << 30);
    assert_int_equal(c->min_part_size, 5ULL << 20);
}

static void test_config_init_sets_documented_defaults(void **state)
{
    struct rs_config c;

    (void)state;
    rs_config_init(&c);
    assert_defaults(&c);
    rs_config_dispose(&c);
    assert_null(c.listen);
}

static void test_config_shipped_file_gives_the_defaults(void **state)
{
    struct rs_config c;

    (void)state;
    rs_config_init(&c);
    assert_int_equal(rs_config_load(&c, RS_SOURCE_DIR
                                    "/configs/roadstore.conf"), RS_OK);
    assert_defaults(&c);
    rs_config_dispose(&c);
}

static void test_config_missing_file_is_enotfound(void **state)
{
    struct rs_config c;

    (void)state;
    rs_config_init(&c);
    assert_int_equal(rs_config_load(&c, "/nonexistent/dir/roadstore.conf"),
                     RS_ENOTFOUND);
    assert_non_null(strstr(rs_err_msg(), "/nonexistent/dir/roadstore.conf"));
    assert_defaults(&c);
    rs_config_dispose(&c);
}

static void test_config_overrides_every_type(void **state)
{
    struct rs_config c;

    (void)state;
    rs_config_init(&c);
    assert_int_equal(load_text(&c,
        "; comment\n"
        "[server]\n"
        "listen = 0.0.0.0:9999\n"
        "data = /srv/rs\n"
        "region = eu-west-3\n"
        "vhost_domains = s3.example.com,localhost\n"
        "max_connections = 17\n"
        "idle_timeout = 0\n"
        "max_header_bytes = 32k\n"
        "access_log = off\n"
        "log_level = debug\n"
        "[auth]\n"
        "root_access_key = AKID\n"
        "root_secret_key = SECRET\n"
        "clock_skew = 60\n"
        "[storage]\n"
        "stripe_size = 16M\n"
        "block_size = 4k\n"
        "gc_delay = 5\n"
        "[index]\n"
        "dir = /idx\n"
        "cache = 1G\n"
        "[limits]\n"
        "max_xml_body = 1M\n"
        "max_object_size = 2T\n"
        "max_part_size = 3G\n"
        "min_part_size = 1024\n"), RS_OK);
    assert_string_equal(c.listen, "0.0.0.0:9999");
    assert_string_equal(c.data_dir, "/srv/rs");
    assert_string_equal(c.region, "eu-west-3");
    assert_string_equal(c.vhost_domains, "s3.example.com,localhost");
    assert_int_equal(c.max_connections, 17);
    assert_int_equal(c.idle_timeout, 0);
    assert_int_equal(c.max_header_bytes, 32768);
    assert_false(c.access_log);
    assert_string_equal(c.log_level, "debug");
    assert_string_equal(c.root_access_key, "AKID");
    assert_string_equal(c.root_secret_key, "SECRET");
    assert_int_equal(c.clock_skew, 60);
    assert_int_equal(c.stripe_size, 16ULL << 20);
    assert_int_equal(c.block_size, 4096);
    assert_int_equal(c.gc_delay, 5);
    assert_string_equal(c.index_dir, "/idx");
    assert_int_equal(c.index_cache, 1ULL << 30);
    assert_int_equal(c.max_xml_body, 1U << 20);
    assert_int_equal(c.max_object_size, 2ULL << 40);
    assert_int_equal(c.max_part_size, 3ULL << 30);
    assert_int_equal(c.min_part_size, 1024);
    rs_config_dispose(&c);
}

static void test_config_booleans_accept_common_spellings(void **state)
{
    static const char *const yes[] = { "true", "TRUE", "yes", "1", "on" };
    static const char *const no[] = { "false", "No", "0", "OFF" };
    struct rs_config c;
    char text[128];
    size_t i;

    (void)state;
    rs_config_init(&c);
    for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
        c.access_log = true;
        snprintf(text, sizeof(text), "[server]\naccess_log = %s\n", no[i]);
        assert_int_equal(load_text(&c, text), RS_OK);
        assert_false(c.access_log);
    }
    for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
        c.access_log = false;
        snprintf(text, sizeof(text), "[server]\naccess_log = %s\n", yes[i]);
        assert_int_equal(load_text(&c, text), RS_OK);
        assert_true(c.access_log);
    }
    rs_config_dispose(&c);
}

static void test_config_empty_string_value_clears_to_null(void **state)
{
    struct rs_config c;

    (void)state;
    rs_config_init(&c);
    assert_int_equal(load_text(&c, "[auth]\nroot_access_key = AK\n"), RS_OK);
    assert_string_equal(c.root_access_key, "AK");
    assert_int_equal(load_text(&c, "[auth]\nroot_access_key =\n"), RS_OK);
    assert_null(c.root_access_key);
    rs_config_dispose(&c);
}

static void test_config_unknown_key_is_einval_naming_file_and_key(
    void **state)
{
    struct rs_config c;
    char path[64];
    int rc;

    (void)state;
    rs_config_init(&c);
    rc = rs_config_load(&c, write_conf("[server]\nlisten = 1.2.3.4:1\n"
                                       "colour = blue\n"));
    snprintf(path, sizeof(path), "%s", conf_path);
    unlink(conf_path);
    assert_int_equal(rc, RS_EINVAL);
    assert_non_null(strstr(rs_err_msg(), path));
    assert_non_null(strstr(rs_err_msg(), "colour"));
    assert_non_null(strstr(rs_err_msg(), "server"));

    /* a known key in the wrong section is unknown too */
    rc = rs_config_load(&c, write_conf("[limits]\nlisten = x\n"));
    snprintf(path, sizeof(path), "%s", conf_path);
    unlink(conf_path);
    assert_int_equal(rc, RS_EINVAL);
    assert_non_null(strstr(rs_err_msg(), path));
    assert_non_null(strstr(rs_err_msg(), "listen"));
    rs_config_dispose(&c);
}

static void expect_bad_value(const char *text, const char *key)
{
    struct rs_config c;
    char path[64];
    int rc;

    rs_config_init(&c);
    rc = rs_config_load(&c, write_conf(text));
    snprintf(path, sizeof(path), "%s", conf_path);
    unlink(conf_path);
    if (rc != RS_EINVAL)
        fail_msg("'%s': expected RS_EINVAL, got %d", text, rc);
    if (!strstr(rs_err_msg(), path) || !strstr(rs_err_msg(), key))
        fail_msg("'%s': message '%s' lacks file or key", text, rs_err_msg());
    rs_config_dispose(&c);
}

static void test_config_bad_values_are_einval_naming_file_and_key(
    void **state)
{
    (void)state;
    expect_bad_value("[server]\nmax_connections = lots\n", "max_connections");
    expect_bad_value("[server]\nmax_connections = -1\n", "max_connections");
    expect_bad_value("[server]\nidle_timeout = 2000000000\n", "idle_timeout");
    expect_bad_value("[server]\naccess_log = maybe\n", "access_log");
    expect_bad_value("[storage]\nstripe_size = 8Q\n", "stripe_size");
    expect_bad_value("[storage]\nstripe_size = M\n", "stripe_size");
    expect_bad_value("[storage]\nblock_size = 8G\n", "block_size");
    expect_bad_value("[index]\ncache = 99999999999999999999\n", "cache");
    expect_bad_value("[limits]\nmax_xml_body = 1.5M\n", "max_xml_body");
}

static void test_config_syntax_error_names_file_and_line(void **state)
{
    struct rs_config c;
    char want[80];
    int rc;

    (void)state;
    rs_config_init(&c);
    rc = rs_config_load(&c, write_conf("[server]\nlisten = 1.2.3.4:5\n"
                                       "this line is not ini\n"));
    snprintf(want, sizeof(want), "%s:3", conf_path);
    unlink(conf_path);
    assert_int_equal(rc, RS_EINVAL);
    assert_non_null(strstr(rs_err_msg(), want));
    rs_config_dispose(&c);
}

static void test_config_group_lists_are_split_and_trimmed(void **state)
{
    struct rs_config c;

    (void)state;
    rs_config_init(&c);
    assert_int_equal(load_text(&c,
        "[storage]\n"
        "standard = /disk1/rs, /disk2/rs ,\t/disk3/rs,,\n"
        "low_frequency = /cold\n"), RS_OK);
    assert_int_equal(c.standard.ndirs, 3);
    assert_string_equal(c.standard.dirs[0], "/disk1/rs");
    assert_string_equal(c.standard.dirs[1], "/disk2/rs");
    assert_string_equal(c.standard.dirs[2], "/disk3/rs");
    assert_int_equal(c.low_frequency.ndirs, 1);
    assert_string_equal(c.low_frequency.dirs[0], "/cold");
    /* a later value replaces the list rather than appending to it */
    assert_int_equal(load_text(&c, "[storage]\nstandard = /only\n"), RS_OK);
    assert_int_equal(c.standard.ndirs, 1);
    assert_string_equal(c.standard.dirs[0], "/only");
    rs_config_dispose(&c);
}

static void test_config_group_with_too_many_dirs_is_einval(void **state)
{
    struct rs_config c;
    struct rs_buf b;
    int i;

    (void)state;
    rs_buf_init(&b, SIZE_MAX);
    assert_int_equal(rs_buf_puts(&b, "[storage]\nstandard = "), RS_OK);
    for (i = 0; i < RS_MAX_DISKS + 1; i++)
        assert_int_equal(rs_buf_printf(&b, "%s/d%d", i ? "," : "", i), RS_OK);
    assert_int_equal(rs_buf_puts(&b, "\n"), RS_OK);
    rs_config_init(&c);
    assert_int_equal(load_text(&c, b.data), RS_EINVAL);
    assert_non_null(strstr(rs_err_msg(), "standard"));
    rs_config_dispose(&c);
    rs_buf_reset(&b);

    /* exactly RS_MAX_DISKS is fine */
    assert_int_equal(rs_buf_puts(&b, "[storage]\nstandard = "), RS_OK);
    for (i = 0; i < RS_MAX_DISKS; i++)
        assert_int_equal(rs_buf_printf(&b, "%s/d%d", i ? "," : "", i), RS_OK);
    assert_int_equal(rs_buf_puts(&b, "\n"), RS_OK);
    rs_config_init(&c);
    assert_int_equal(load_text(&c, b.data), RS_OK);
    assert_int_equal(c.standard.ndirs, RS_MAX_DISKS);
    assert_string_equal(c.standard.dirs[RS_MAX_DISKS - 1], "/d15");
    rs_config_dispose(&c);
    rs_buf_dispose(&b);
}

static void test_config_finish_derives_paths_from_data_dir(void **state)
{
    struct rs_config c;

    (void)state;
    rs_config_init(&c);
    free(c.data_dir);
    c.data_dir = rs_xstrdup("/var/lib/roadstore");
    rs_config_finish(&c);
    assert_int_equal(c.standard.ndirs, 1);
    assert_string_equal(c.standard.dirs[0], "/var/lib/roadstore/standard");
    assert_int_equal(c.low_frequency.ndirs, 1);
    assert_string_equal(c.low_frequency.dirs[0],
                        "/var/lib/roadstore/low-frequency");
    assert_string_equal(c.index_dir, "/var/lib/roadstore/index");
    /* finishing twice changes nothing */
    rs_config_finish(&c);
    assert_int_equal(c.standard.ndirs, 1);
    assert_int_equal(c.low_frequency.ndirs, 1);
    rs_config_dispose(&c);

    rs_config_init(&c);
    rs_config_finish(&c);
    assert_string_equal(c.standard.dirs[0], "./data/standard");
    assert_string_equal(c.low_frequency.dirs[0], "./data/low-frequency");
    assert_string_equal(c.index_dir, "./data/index");
    rs_config_dispose(&c);
}

static void test_config_finish_keeps_explicit_settings(void **state)
{
    struct rs_config c;

    (void)state;
    rs_config_init(&c);
    assert_int_equal(load_text(&c,
        "[server]\ndata = /d\n"
        "[storage]\nstandard = /fast1,/fast2\n"
        "[index]\ndir = /ssd/index\n"), RS_OK);
    rs_config_finish(&c);
    assert_int_equal(c.standard.ndirs, 2);
    assert_string_equal(c.standard.dirs[0], "/fast1");
    assert_string_equal(c.standard.dirs[1], "/fast2");
    assert_int_equal(c.low_frequency.ndirs, 1);
    assert_string_equal(c.low_frequency.dirs[0], "/d/low-frequency");
    assert_string_equal(c.index_dir, "/ssd/index");
    rs_config_dispose(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config_init_sets_documented_defaults),
        cmocka_unit_test(test_config_shipped_file_gives_the_defaults),
        cmocka_unit_test(test_config_missing_file_is_enotfound),
        cmocka_unit_test(test_config_overrides_every_type),
        cmocka_unit_test(test_config_booleans_accept_common_spellings),
        cmocka_unit_test(test_config_empty_string_value_clears_to_null),
        cmocka_unit_test(
            test_config_unknown_key_is_einval_naming_file_and_key),
        cmocka_unit_test(
            test_config_bad_values_are_einval_naming_file_and_key),
        cmocka_unit_test(test_config_syntax_error_names_file_and_line),
        cmocka_unit_test(test_config_group_lists_are_split_and_trimmed),
        cmocka_unit_test(test_config_group_with_too_many_dirs_is_einval),
        cmocka_unit_test(test_config_finish_derives_paths_from_data_dir),
        cmocka_unit_test(test_config_finish_keeps_explicit_settings),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
