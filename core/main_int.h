/*
 * core/main_int.h - shared between core/main.c and core/admin.c (the
 * command line), nothing else.
 */
#ifndef MAIN_INT_H
#define MAIN_INT_H

#include <sys/types.h>

#include "core/rs.h"

struct main_opts {
    const char *endpoint; /* --endpoint URL, or NULL */
    bool data_given;      /* --data or --config was given */
};

int rs_main_options(struct rs_config *cfg, struct main_opts *mo, int argc,
                    char **argv, int *next);
int rs_main_write_file(const char *dir, const char *name, const char *text,
                       mode_t mode);
int rs_main_read_root(const char *data_dir, char *ak, size_t akcap, char *sk,
                      size_t skcap);
int rs_main_admin(int argc, char **argv);
/* One signed admin request to the server at endpoint; prints its JSON
 * answer.  own_data: the server runs on cfg->data_dir (use its keys). */
int rs_main_remote_call(const char *endpoint, const struct rs_config *cfg,
                        bool own_data, const char *method, const char *path,
                        const struct rs_kv *params, size_t np);
/* Endpoint of the server running on cfg->data_dir (DATA/server.endpoint). */
int rs_main_running_endpoint(const struct rs_config *cfg, char *out,
                             size_t cap);
int rs_main_events(int argc, char **argv);

#endif /* MAIN_INT_H */
