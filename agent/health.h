/* SPDX-License-Identifier: MIT */
/*
 * Health checks after a restart, on a libuv loop: an HTTP(S) request
 * (status code, optionally a text the body must contain), a TCP connect, or
 * a command (exit 0 passes), repeated every interval until 'consecutive'
 * probes in a row passed (healthy) or the deadline passed (not healthy).
 * Which commands may run is the caller's decision (the agent config); the
 * command is run without a shell (agent/spawn.h).
 */
#ifndef ETX_AGENT_HEALTH_H
#define ETX_AGENT_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proto/error.h"

#define ETX_HEALTH_BODY_MAX (64u << 10) /* bytes of a body searched */

enum etx_health_kind {
    ETX_HEALTH_HTTP = 0, /* url, status, body_contains */
    ETX_HEALTH_TCP,      /* host (a numeric IPv4 or IPv6 address), port */
    ETX_HEALTH_EXEC,     /* argv */
};

/*
 * Called after each probe is counted, for logs: whether it passed and, when
 * not, why. It may call etx_health_stop().
 */
typedef void (*etx_health_probe_cb)(bool ok, const char *reason, void *arg);

/* Everything is copied by etx_health_start(). */
struct etx_health_spec {
    enum etx_health_kind kind;
    const char *url;              /* http:// or https:// only, no redirects */
    long status;                  /* expected HTTP status; 0: 200 */
    const char *body_contains;    /* NULL: the body is not checked */
    const char *host;             /* tcp */
    unsigned port;                /* tcp, 1..65535 */
    const char *const *argv;      /* exec: NULL-ended, argv[0] absolute */
    uint64_t interval_ms;         /* wait after a probe before the next */
    uint64_t timeout_ms;          /* per probe; 0: 2000 */
    unsigned consecutive;         /* passes in a row needed; 0: 1 */
    uint64_t deadline_ms;         /* from start; 0: 60000 */
    etx_health_probe_cb on_probe; /* may be NULL */
    void *probe_arg;
};

struct etx_health_result {
    bool healthy;         /* 'consecutive' probes passed in a row */
    bool deadline_passed; /* the deadline ended the checks */
    bool stopped;         /* etx_health_stop() ended them */
    unsigned probes;      /* probes finished */
    unsigned passes;
    unsigned failures;
    uint64_t elapsed_ms;
    char last_failure[256]; /* "HTTP 500", "connection refused", "" */
    struct etx_error err;   /* when not healthy: integrity, op "health" */
};

struct etx_health; /* opaque: agent/health.c */

/*
 * Called once at the end; 'r' is valid during the call only, and the
 * check is freed after it returns.
 */
typedef void (*etx_health_done_cb)(const struct etx_health_result *r,
                                   void *arg);

/*
 * Start checking on 'loop'; the first probe starts at once. Returns ETX_OK
 * and (when out is not NULL) the running check, valid until 'cb' returns;
 * or ETX_ERR with err filled (class input for a bad spec) and 'cb' never
 * called.
 */
int etx_health_start(uv_loop_t *loop, const struct etx_health_spec *spec,
                     etx_health_done_cb cb, void *arg, struct etx_health **out,
                     struct etx_error *err);

/*
 * End the checks now: the probe in flight is aborted (a command is
 * killed), and 'cb' is called with stopped set once everything is closed.
 * Not to be called once 'cb' ran.
 */
void etx_health_stop(struct etx_health *h);

#endif /* ETX_AGENT_HEALTH_H */
