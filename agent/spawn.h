/* SPDX-License-Identifier: MIT */
/*
 * Running a command for the agent (restarts, exec health checks) on a
 * libuv loop: the argv is executed directly, never through a shell; a
 * timeout sends SIGTERM to the command's process group, then SIGKILL after
 * a grace period; the exit status or signal and the first bytes of the
 * output are captured for the report.
 *
 * The child gets /dev/null as stdin, "/" as its working directory, its own
 * process group (so a timeout also stops what it started in the
 * foreground), and one bounded capture file (a sealed memfd of
 * ETX_SPAWN_CAPTURE bytes) as both stdout and stderr. A capture file
 * rather than a pipe means that a service the command leaves running in the
 * background never keeps the command "open" and never gets SIGPIPE; once
 * the capture is full, further writes fail with EPERM.
 */
#ifndef ETX_AGENT_SPAWN_H
#define ETX_AGENT_SPAWN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uv.h>

#include "proto/error.h"

#define ETX_SPAWN_CAPTURE  4096 /* bytes of stdout+stderr kept */
#define ETX_SPAWN_GRACE_MS 2000 /* default wait between SIGTERM and SIGKILL */

struct etx_spawn_opts {
    const char *const *argv; /* NULL-terminated; argv[0] an absolute path */
    uint64_t timeout_ms;     /* 0: no timeout */
    uint64_t grace_ms;       /* 0: ETX_SPAWN_GRACE_MS */
};

struct etx_spawn_result {
    pid_t pid;
    bool exited;     /* true: exit_status is valid; false: killed */
    int exit_status; /* when exited */
    int term_signal; /* when killed: the signal, else 0 */
    bool timed_out;  /* the timeout (or etx_spawn_stop()) killed it */
    uint64_t elapsed_ms;
    bool output_cut; /* the command wrote more than was kept */
    size_t output_len;
    char output[ETX_SPAWN_CAPTURE + 1]; /* stdout and stderr, NUL-ended */
};

struct etx_spawn; /* opaque: agent/spawn.c */

/*
 * Called once, after the process exited and every handle of the spawn is
 * closed. 'r' is valid during the call only; the spawn is freed after it
 * returns.
 */
typedef void (*etx_spawn_done_cb)(const struct etx_spawn_result *r, void *arg);

/*
 * Start o->argv on 'loop'. On success returns ETX_OK, and *out (when not
 * NULL) is the running spawn, owned by itself: valid until 'cb' returns.
 * When the process cannot be started (uv_spawn's error is mapped to its
 * errno and classified in ETX_CTX_EXEC: ETXTBSY is transient, ENOENT and
 * EACCES are placement) or argv is not acceptable (class input), returns
 * ETX_ERR, fills err and never calls 'cb'.
 */
int etx_spawn_start(uv_loop_t *loop, const struct etx_spawn_opts *o,
                    etx_spawn_done_cb cb, void *arg, struct etx_spawn **out,
                    struct etx_error *err);

/*
 * Stop a running command now: SIGKILL to its process group. The result
 * says timed_out; 'cb' is still called. Not to be called once 'cb' ran.
 */
void etx_spawn_stop(struct etx_spawn *sp);

/*
 * How the command ended, for people: "exit status 0", "exit status 3",
 * "killed by signal 9 (SIGKILL)", "timeout after 2s", "timeout after
 * 0.5s". Returns buf.
 */
const char *etx_spawn_describe(const struct etx_spawn_result *r,
                               uint64_t timeout_ms, char *buf, size_t len);

/* True when the command exited with status 0 (and was not timed out). */
bool etx_spawn_is_success(const struct etx_spawn_result *r);

/*
 * A copy of a NULL-terminated argv (for requests that outlive the caller's
 * strings), or NULL on ENOMEM. Free with etx_spawn_argv_free().
 */
char **etx_spawn_argv_dup(const char *const *argv);
void etx_spawn_argv_free(char **argv); /* NULL: no-op */

#endif /* ETX_AGENT_SPAWN_H */
