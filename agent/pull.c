/* SPDX-License-Identifier: MIT */
/*
 * Artifact pull: one libcurl transfer on the loop, each chunk checked
 * against the size bound, hashed and handed to the sink; the status code,
 * the transfer's outcome and the digest decide the result.
 */
#define _GNU_SOURCE
#include "agent/pull.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "agent/curlloop.h"

struct etx_pull {
    uv_loop_t *loop;
    struct etx_curlloop *cl;
    CURL *easy; /* while the transfer runs */
    char errbuf[CURL_ERROR_SIZE];
    char *url;
    char expect[ETX_DIGEST_HEX_LEN + 1];
    uint64_t max_size;
    uint64_t timeout_ms;
    struct etx_pull_sink sink;
    struct etx_digest *dig;
    bool failed; /* res.err holds the reason (set in a callback) */
    bool done;   /* the result is decided; closing remains */
    etx_pull_done_cb cb;
    void *arg;
    uint64_t start_ms;
    struct etx_pull_result res;
};

static void
pull_free(struct etx_pull *p)
{
    if (p->easy != NULL)
        curl_easy_cleanup(p->easy);
    etx_digest_free(p->dig);
    free(p->url);
    free(p);
}

static void
closed_cb(void *arg)
{
    struct etx_pull *p = arg;

    p->cb(&p->res, p->arg);
    pull_free(p);
}

/* Decide the result: on failure the sink drops what it has. */
static void
finish(struct etx_pull *p, bool ok)
{
    p->done = true;
    p->res.status = ok ? ETX_OK : ETX_ERR;
    if (!ok) {
        p->res.sha256[0] = '\0';
        p->sink.discard(p->sink.arg);
    }
    uv_update_time(p->loop);
    p->res.elapsed_ms = uv_now(p->loop) - p->start_ms;
    if (p->easy != NULL) {
        etx_curlloop_abort(p->cl, p->easy);
        curl_easy_cleanup(p->easy);
        p->easy = NULL;
    }
    etx_curlloop_close(p->cl, closed_cb, p);
}

static void
status_error(struct etx_pull *p, long code)
{
    struct etx_error *e = &p->res.err;

    p->failed = true;
    if (code >= 500 || code == 408 || code == 429)
        etx_error_set(e, ETX_CLASS_TRANSIENT, 0, "pull", p->url,
                      "HTTP %ld: the server may recover, try again", code);
    else if (code == 404 || code == 410)
        etx_error_set(e, ETX_CLASS_PLACEMENT, ENOENT, "pull", p->url,
                      "HTTP %ld: no artifact at this URL; fix the URL", code);
    else if (code == 401 || code == 403)
        etx_error_set(e, ETX_CLASS_PLACEMENT, EACCES, "pull", p->url,
                      "HTTP %ld: access to the artifact denied", code);
    else
        etx_error_set(e, ETX_CLASS_PLACEMENT, 0, "pull", p->url,
                      "HTTP %ld: only 200 is accepted and redirects are not "
                      "followed; change the URL",
                      code);
}

static void
size_error(struct etx_pull *p)
{
    p->failed = true;
    etx_error_set(&p->res.err, ETX_CLASS_INTEGRITY, EFBIG, "pull", p->url,
                  "the artifact is larger than the allowed %" PRIu64
                  " bytes; refused",
                  p->max_size);
}

/* CURLOPT_WRITEFUNCTION: any return other than n aborts the transfer. */
static size_t
write_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct etx_pull *p = arg;
    size_t n = size * nmemb;
    long code = 0;

    curl_easy_getinfo(p->easy, CURLINFO_RESPONSE_CODE, &code);
    if (code != 200) {
        status_error(p, code);
        return 0;
    }
    if (n > p->max_size - p->res.size) {
        size_error(p);
        return 0;
    }
    if (n == 0)
        return n;
    etx_digest_update(p->dig, ptr, n);
    if (p->sink.write(p->sink.arg, ptr, n, &p->res.err) != ETX_OK) {
        p->failed = true;
        return 0;
    }
    p->res.size += n;
    return n;
}

static void
done_cb(CURL *easy, CURLcode rc, void *arg)
{
    struct etx_pull *p = arg;

    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &p->res.http_status);
    if (p->failed) {
        finish(p, false);
        return;
    }
    if (rc == CURLE_FILESIZE_EXCEEDED) {
        size_error(p);
    } else if (rc != CURLE_OK) {
        etx_curlloop_error(easy, rc, p->errbuf, p->timeout_ms, "pull",
                           &p->res.err, NULL, 0);
    } else if (p->res.http_status != 200) {
        status_error(p, p->res.http_status);
    } else {
        etx_digest_final(p->dig, p->res.sha256);
        if (strcmp(p->res.sha256, p->expect) == 0) {
            finish(p, true);
            return;
        }
        etx_error_set(&p->res.err, ETX_CLASS_INTEGRITY, 0, "pull", p->url,
                      "digest mismatch: got sha256 %s, expected %s",
                      p->res.sha256, p->expect);
    }
    finish(p, false);
}

static int
check_spec(const struct etx_pull_spec *s, const struct etx_pull_sink *sink,
           struct etx_error *err)
{
    if (s->url == NULL || (strncmp(s->url, "http://", 7) != 0 &&
                           strncmp(s->url, "https://", 8) != 0))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "pull", s->url,
                             "a pull needs an http:// or https:// URL");
    if (s->sha256 == NULL || !etx_digest_is_hex(s->sha256))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "pull", s->url,
                             "a pull needs the expected sha256 (64 "
                             "lower-case hex characters)");
    if (s->max_size == 0)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "pull", s->url,
                             "a pull needs a maximum size");
    if (sink == NULL || sink->write == NULL || sink->discard == NULL)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "pull", s->url,
                             "a pull needs a sink");
    return ETX_OK;
}

static int
setup_easy(struct etx_pull *p, uint64_t stall_ms, struct etx_error *err)
{
    long stall_s = (long)((stall_ms + 999) / 1000);

    p->easy = etx_curlloop_easy_new(p->url, p->errbuf, err);
    if (p->easy == NULL)
        return ETX_ERR;
    curl_easy_setopt(p->easy, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(p->easy, CURLOPT_WRITEDATA, p);
    curl_easy_setopt(p->easy, CURLOPT_MAXFILESIZE_LARGE,
                     (curl_off_t)p->max_size);
    curl_easy_setopt(p->easy, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(p->easy, CURLOPT_LOW_SPEED_TIME, stall_s);
    curl_easy_setopt(p->easy, CURLOPT_TIMEOUT_MS, (long)p->timeout_ms);
    return ETX_OK;
}

int
etx_pull_start(uv_loop_t *loop, const struct etx_pull_spec *spec,
               const struct etx_pull_sink *sink, etx_pull_done_cb cb, void *arg,
               struct etx_pull **out, struct etx_error *err)
{
    struct etx_pull *p = NULL;

    if (check_spec(spec, sink, err) != ETX_OK)
        return ETX_ERR;
    p = calloc(1, sizeof(*p));
    if (p == NULL || (p->url = strdup(spec->url)) == NULL ||
        (p->dig = etx_digest_new()) == NULL) {
        if (p != NULL)
            pull_free(p);
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "pull", spec->url,
                             "out of memory");
    }
    p->loop = loop;
    snprintf(p->expect, sizeof(p->expect), "%s", spec->sha256);
    p->max_size = spec->max_size;
    p->timeout_ms = spec->timeout_ms;
    p->sink = *sink;
    p->cb = cb;
    p->arg = arg;
    if (setup_easy(p, spec->stall_ms != 0 ? spec->stall_ms : ETX_PULL_STALL_MS,
                   err) != ETX_OK ||
        etx_curlloop_new(loop, &p->cl, err) != ETX_OK) {
        pull_free(p);
        return ETX_ERR;
    }
    uv_update_time(loop);
    p->start_ms = uv_now(loop);
    if (etx_curlloop_start(p->cl, p->easy, done_cb, p, err) != ETX_OK) {
        etx_curlloop_close(p->cl, NULL, NULL);
        pull_free(p);
        return ETX_ERR;
    }
    if (out != NULL)
        *out = p;
    return ETX_OK;
}

void
etx_pull_stop(struct etx_pull *p)
{
    if (p == NULL || p->done)
        return;
    etx_error_set(&p->res.err, ETX_CLASS_TRANSIENT, ECANCELED, "pull", p->url,
                  "pull stopped before it finished");
    finish(p, false);
}
