/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: arbitrary bytes arrive on a stdio connection (the
 * `--stdio` carrier, no TLS) through a socketpair, then end of stream. The
 * connection must deliver whole frames, close exactly once with a reason,
 * and leave nothing open on its loop.
 */
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proto/conn.h"
#include "proto/frame.h"

/* Below a socket buffer, so that the write never blocks. */
#define INPUT_LIMIT (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
on_frame(struct etx_conn *c, Etxroll__Envelope *env, void *arg)
{
    (void)c;
    (void)arg;
    etx_frame_free(env);
}

static void
on_close(struct etx_conn *c, const struct etx_error *why, void *arg)
{
    int *closes = arg;

    (void)c;
    if (why == NULL)
        abort(); /* nobody called etx_conn_close() */
    (*closes)++;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct etx_conn_opts opts = {NULL, 60000, 0};
    struct etx_error err = {0};
    struct etx_conn_cbs cbs = {on_frame, on_close, NULL, NULL};
    uv_loop_t loop;
    int sv[2], fd[2], closes = 0;

    if (size > INPUT_LIMIT ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        return 0;
    if (uv_loop_init(&loop) != 0)
        abort();
    cbs.arg = &closes;
    fd[0] = fd[1] = sv[0];
    if (etx_conn_open_stdio(&loop, fd, &opts, &cbs, &err) == NULL)
        abort();
    if (size > 0 && write(sv[1], data, size) != (ssize_t)size)
        abort();
    shutdown(sv[1], SHUT_WR);
    uv_run(&loop, UV_RUN_DEFAULT);
    close(sv[1]);
    if (closes != 1 || uv_loop_close(&loop) != 0)
        abort();
    return 0;
}
