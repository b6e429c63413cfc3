/* SPDX-License-Identifier: MIT */
/*
 * libcurl driven by a libuv loop (the multi-socket pattern): one CURLM per
 * struct etx_curlloop, a uv_poll_t per socket libcurl asks to watch and a
 * uv_timer_t for its timeouts, so that HTTP(S) health checks and artifact
 * pulls never block the loop (../shared/STYLE.md R8).
 *
 * Easy handles made by etx_curlloop_easy_new() carry the agent's safety
 * settings: http and https only, no redirects, no signals, no connection
 * reuse, and sockets created with SOCK_CLOEXEC. The process must have
 * called curl_global_init() (the daemon's main does; libcurl does it on
 * first use otherwise).
 */
#ifndef ETX_AGENT_CURLLOOP_H
#define ETX_AGENT_CURLLOOP_H

#include <curl/curl.h>
#include <uv.h>

#include "proto/error.h"

struct etx_curlloop; /* opaque: agent/curlloop.c */

/*
 * A transfer finished ('rc' is its CURLcode). It is already removed from
 * the multi handle; the easy handle is the caller's again (to read
 * CURLINFO and to curl_easy_cleanup()). The callback may start another
 * transfer or close the curlloop.
 */
typedef void (*etx_curlloop_done_cb)(CURL *easy, CURLcode rc, void *arg);

/* Called once when etx_curlloop_close() has finished; may be NULL. */
typedef void (*etx_curlloop_closed_cb)(void *arg);

/* A new curlloop on 'loop'; free it with etx_curlloop_close(). */
int etx_curlloop_new(uv_loop_t *loop, struct etx_curlloop **out,
                     struct etx_error *err);

/*
 * A new easy handle for 'url' with the settings above and 'errbuf' (of
 * CURL_ERROR_SIZE bytes, borrowed while the handle lives) as its error
 * buffer. Returns NULL (err filled) when out of memory. The caller frees
 * it with curl_easy_cleanup() when no transfer is running on it.
 */
CURL *etx_curlloop_easy_new(const char *url, char *errbuf,
                            struct etx_error *err);

/* Start the transfer on 'easy'; 'cb' is called once when it ends. */
int etx_curlloop_start(struct etx_curlloop *cl, CURL *easy,
                       etx_curlloop_done_cb cb, void *arg,
                       struct etx_error *err);

/* Abort the transfer on 'easy' (if any); its callback is not called. */
void etx_curlloop_abort(struct etx_curlloop *cl, CURL *easy);

/*
 * Abort every transfer (their callbacks are not called; the easy handles
 * stay the callers'), close the handles and free 'cl' asynchronously;
 * 'cb' is called when that is done. NULL: no-op. Not to be called from
 * inside a libcurl callback (write, header): call it from a done callback
 * or from any loop callback.
 */
void etx_curlloop_close(struct etx_curlloop *cl, etx_curlloop_closed_cb cb,
                        void *arg);

/*
 * Describe a failed transfer in 'err' (op, where = url): the errno behind
 * it when libcurl knows one (a refused connection is ECONNREFUSED), and
 * the class: connection errors, timeouts and resets are transient, a peer
 * certificate that does not verify is integrity, a URL or protocol libcurl
 * refuses is input. 'reason' (when not NULL) receives a short phrase for
 * reports ("connection refused", "timeout after 2s"); 'timeout_ms' is the
 * transfer's timeout, used in that phrase. Returns ETX_ERR.
 */
int etx_curlloop_error(CURL *easy, CURLcode rc, const char *errbuf,
                       uint64_t timeout_ms, const char *op,
                       struct etx_error *err, char *reason, size_t len);

#endif /* ETX_AGENT_CURLLOOP_H */
