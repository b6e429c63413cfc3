/* SPDX-License-Identifier: MIT */
/*
 * Fuzz the release tarball unpacker: any bytes are unpacked into
 * <fresh mkdtemp dir>/r, which must be the only thing next to it afterwards
 * (nothing escaped), then both are removed with etx_untar_remove_tree(),
 * which must succeed. Descriptors must not leak. A broken rule aborts.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/untar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The lowest free descriptor: it grows when one leaks. */
static int
lowest_free_fd(void)
{
    int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        abort();
    close(fd);
    return fd;
}

/* Exactly one entry, "r", in the directory dirfd. */
static void
check_only_r(int dirfd)
{
    int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
    struct dirent *de = NULL;
    int n = 0;

    if (d == NULL)
        abort();
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        if (strcmp(de->d_name, "r") != 0)
            abort(); /* something was written outside the release */
        n++;
    }
    closedir(d);
    if (n != 1)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct etx_untar_opts o = {.max_total_bytes = 1 << 20, .max_entries = 256};
    struct etx_error err = {0};
    char path[] = "/tmp/etx-fuzz-untar-XXXXXX";
    int free_fd = lowest_free_fd();
    int tmp = open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int outer = -1, dest = -1;

    if (tmp < 0 || mkdtemp(path) == NULL)
        abort();
    outer = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (outer < 0 || mkdirat(outer, "r", 0700) != 0)
        abort();
    dest = openat(outer, "r", O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (dest < 0)
        abort();
    etx_untar_buffer(data, size, dest, &o, NULL, &err);
    close(dest);
    check_only_r(outer);
    close(outer);
    if (etx_untar_remove_tree(tmp, path + strlen("/tmp/"), &err) != ETX_OK) {
        fprintf(stderr, "remove_tree: %s: %s\n", err.where, err.msg);
        abort();
    }
    if (faccessat(tmp, path + strlen("/tmp/"), F_OK, AT_SYMLINK_NOFOLLOW) == 0)
        abort();
    close(tmp);
    if (lowest_free_fd() != free_fd)
        abort();
    return 0;
}
