/* SPDX-License-Identifier: MIT */
/*
 * A small driver of the replacement engine, run as a child by the engine
 * tests so that an LD_PRELOAD shim (shim_engine.c), strace or a SIGKILL can
 * be applied to the engine alone:
 *   etx_engine_driver swap ROOT TARGET SOURCE [SHA256]
 *   etx_engine_driver rollback ROOT TARGET
 * Prints "ok steps=0x.. ino=N" or "error: <etx_error_format()>" on stdout;
 * exits 0 or 1 (2 for bad usage).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "agent/roots.h"
#include "agent/stage.h"
#include "agent/swap.h"

static int
do_swap(int dirfd, const char *name, const char *source, const char *sha,
        struct etx_swap_result *res, struct etx_error *err)
{
    struct etx_stage_opts o = {.sha256 = sha, .meta_from = name};
    struct etx_stage *s = NULL;
    int src = -1, rc = ETX_ERR;

    src = open(source, O_RDONLY | O_CLOEXEC);
    if (src < 0) {
        etx_error_sys(err, 2, ETX_CTX_FILE, "open", source, "no source");
        goto out;
    }
    if (etx_stage_begin(dirfd, name, &o, &s, err) != ETX_OK ||
        etx_stage_copy_fd(s, src, err) != ETX_OK ||
        etx_stage_finish(s, err) != ETX_OK ||
        etx_stage_verify(s, err) != ETX_OK ||
        etx_swap_publish(s, res, err) != ETX_OK)
        goto out;
    rc = ETX_OK;
out:
    etx_stage_free(s);
    if (src >= 0)
        close(src);
    return rc;
}

int
main(int argc, char **argv)
{
    struct etx_error err = {0};
    struct etx_swap_result res;
    struct etx_roots *roots = NULL;
    struct etx_roots_place pl = {.dirfd = -1};
    const char *root = NULL;
    char buf[1024];
    int rc = ETX_ERR;

    if (argc < 4 || (strcmp(argv[1], "swap") == 0 && argc < 5)) {
        fprintf(stderr,
                "usage: %s swap|rollback ROOT TARGET [SOURCE "
                "[SHA256]]\n",
                argv[0]);
        return 2;
    }
    root = argv[2];
    memset(&res, 0, sizeof(res));
    if (etx_roots_new(&root, 1, &roots, &err) != ETX_OK ||
        etx_roots_open_parent(roots, argv[3], 0, &pl, &err) != ETX_OK)
        goto out;
    if (strcmp(argv[1], "swap") == 0)
        rc = do_swap(pl.dirfd, pl.name, argv[4], argc > 5 ? argv[5] : NULL,
                     &res, &err);
    else
        rc = etx_swap_rollback(pl.dirfd, pl.name, &res, &err);
out:
    if (rc == ETX_OK)
        printf("ok steps=0x%x ino=%llu\n", res.steps,
               (unsigned long long)res.new.ino);
    else
        printf("error: %s\n", etx_error_format(&err, buf, sizeof(buf)));
    etx_roots_place_close(&pl);
    etx_roots_free(roots);
    return rc == ETX_OK ? 0 : 1;
}
