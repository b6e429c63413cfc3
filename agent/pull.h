/* SPDX-License-Identifier: MIT */
/*
 * Artifact pull: the agent downloads an http(s) URL with libcurl on a libuv
 * loop (agent/curlloop.h) and streams every chunk into a sink (the daemon
 * plugs in etx_stage_write() of agent/stage.h), with a size bound and the
 * SHA-256 computed on arrival and checked at the end. Memory stays
 * constant whatever the artifact's size.
 *
 * Outcomes (DESIGN.md "Errors"):
 *   200, whole body, digest matches  ETX_OK; the sink holds the artifact
 *   digest differs                   integrity (the sink is discarded)
 *   body larger than max_size        integrity, EFBIG: not the artifact
 *                                    expected (refused as soon as known,
 *                                    from Content-Length or from the bytes)
 *   HTTP 5xx, 408, 429               transient: the server may recover
 *   HTTP 404, 410                    placement, ENOENT: fix the URL
 *   HTTP 401, 403                    placement, EACCES: fix the access
 *   any other status (3xx included:  placement: redirects are not
 *   redirects are not followed)      followed, change the URL
 *   refused, reset, timeout, stall   transient (the errno says which)
 *   peer certificate not verified    integrity
 *   a sink write failing             the sink's own error
 * The body of a non-200 answer never reaches the sink.
 */
#ifndef ETX_AGENT_PULL_H
#define ETX_AGENT_PULL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "proto/digest.h"
#include "proto/error.h"

#define ETX_PULL_STALL_MS 30000 /* default: abort after this long idle */

/*
 * Where the bytes go. write() gets each chunk in order and returns ETX_OK,
 * or ETX_ERR with err filled (the pull then fails with that error).
 * discard() is called once when the pull fails (stopped included),
 * whether or not anything was written: the sink drops what it holds. Both run
 * on the loop and must not block for long (a write to a local file is fine).
 */
struct etx_pull_sink {
    int (*write)(void *arg, const void *buf, size_t len, struct etx_error *err);
    void (*discard)(void *arg);
    void *arg;
};

/* Strings are copied by etx_pull_start(). */
struct etx_pull_spec {
    const char *url;     /* http:// or https:// */
    const char *sha256;  /* expected digest, 64 lower-case hex */
    uint64_t max_size;   /* bytes; > 0 */
    uint64_t timeout_ms; /* the whole transfer; 0: none */
    uint64_t stall_ms;   /* no byte for this long aborts; 0: default */
};

struct etx_pull_result {
    int status; /* ETX_OK or ETX_ERR */
    struct etx_error err;
    long http_status; /* 0 when no answer came */
    uint64_t size;    /* bytes received (and written to the sink) */
    char sha256[ETX_DIGEST_HEX_LEN + 1]; /* of those bytes, "" on failure */
    uint64_t elapsed_ms;
};

struct etx_pull; /* opaque: agent/pull.c */

/*
 * Called once when the pull ended; 'r' is valid during the call only, and
 * the pull is freed after it returns.
 */
typedef void (*etx_pull_done_cb)(const struct etx_pull_result *r, void *arg);

/*
 * Start pulling on 'loop'. 'sink' is copied; its arg must stay valid until
 * 'cb' ran. Returns ETX_OK and (when out is not NULL) the running pull,
 * valid until 'cb' returns; or ETX_ERR with err filled (class input for a
 * bad spec) and neither 'cb' nor the sink called.
 */
int etx_pull_start(uv_loop_t *loop, const struct etx_pull_spec *spec,
                   const struct etx_pull_sink *sink, etx_pull_done_cb cb,
                   void *arg, struct etx_pull **out, struct etx_error *err);

/*
 * Abort the pull: the sink is discarded and 'cb' is called (ECANCELED,
 * class transient: it can be pulled again) once the transfer is closed. Not to
 * be called once 'cb' ran.
 */
void etx_pull_stop(struct etx_pull *p);

#endif /* ETX_AGENT_PULL_H */
