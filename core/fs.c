/*
 * core/fs.c - directories: create a path (durably when asked) and fsync a
 * directory, for every subsystem that keeps files.
 */
#include "core/rs.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int rs_fsync_dir(const char *path)
{
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

    if (fd < 0)
        return rs_err_errno(errno, "open dir %s", path);
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return rs_err_errno(e, "fsync dir %s", path);
    }
    close(fd);
    return RS_OK;
}

int rs_mkdirs(const char *path, bool durable)
{
    char *tmp = rs_xstrdup(path);
    size_t len = strlen(tmp);
    int rc = RS_OK;

    while (len > 1 && tmp[len - 1] == '/')
        tmp[--len] = '\0';
    for (size_t i = 1; i <= len; i++) {
        char saved;

        if (tmp[i] != '/' && tmp[i] != '\0')
            continue;
        saved = tmp[i];
        tmp[i] = '\0';
        if (mkdir(tmp, 0755) == 0) {
            if (durable) {
                /* The new entry lives in the parent. */
                char *parent = rs_xstrdup(tmp);
                char *slash = strrchr(parent, '/');
                if (slash == parent)
                    slash[1] = '\0';
                else if (slash)
                    *slash = '\0';
                else
                    strcpy(parent, ".");
                rc = rs_fsync_dir(parent);
                free(parent);
                if (rc != RS_OK)
                    break;
            }
        } else if (errno != EEXIST) {
            rc = rs_err_errno(errno, "mkdir %s", tmp);
            break;
        }
        tmp[i] = saved;
    }
    free(tmp);
    return rc;
}
