/* SPDX-License-Identifier: MIT */
/*
 * Health checks: one probe at a time (HTTP through agent/curlloop.h, TCP
 * through uv_tcp_connect, a command through agent/spawn.h), a timer for the
 * interval (and the TCP probe's timeout) and one for the deadline.
 */
#define _GNU_SOURCE
#include "agent/health.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "agent/curlloop.h"
#include "agent/spawn.h"

#define DEFAULT_TIMEOUT_MS  2000
#define DEFAULT_DEADLINE_MS 60000

struct tcp_probe {
    uv_tcp_t tcp;
    uv_connect_t req;
    struct etx_health *h;
    bool reported; /* the probe's outcome is known; only closing remains */
};

struct etx_health {
    uv_loop_t *loop;
    enum etx_health_kind kind;
    char *url;
    long status;
    char *body_contains;
    struct sockaddr_storage addr;
    char **argv;
    uint64_t interval_ms, timeout_ms, deadline_ms;
    unsigned consecutive;
    etx_health_probe_cb on_probe;
    void *probe_arg;
    char what[256]; /* the url, host:port or command, for reports */
    etx_health_done_cb cb;
    void *arg;
    uv_timer_t deadline;
    uv_timer_t tick; /* the interval, or a TCP probe's timeout */
    struct etx_curlloop *cl;
    CURL *easy;
    char errbuf[CURL_ERROR_SIZE];
    char *body;
    size_t body_len;
    struct tcp_probe *tcp; /* in flight */
    struct etx_spawn *sp;  /* in flight */
    unsigned run;          /* passes in a row */
    int pending;           /* closes and children still owed */
    bool finishing;
    uint64_t start_ms;
    struct etx_health_result res;
};

static void probe_start(struct etx_health *h);

static void
health_free(struct etx_health *h)
{
    etx_spawn_argv_free(h->argv);
    free(h->url);
    free(h->body_contains);
    free(h->body);
    free(h);
}

static void
unref(struct etx_health *h)
{
    if (--h->pending > 0 || !h->finishing)
        return;
    h->cb(&h->res, h->arg);
    health_free(h);
}

static void
timer_closed_cb(uv_handle_t *t)
{
    unref(t->data);
}

static void
curlloop_closed_cb(void *arg)
{
    unref(arg);
}

static void
tcp_closed_cb(uv_handle_t *t)
{
    struct tcp_probe *p = t->data;
    struct etx_health *h = p->h;

    free(p);
    unref(h);
}

/* Abort the probe in flight; its outcome is not counted. */
static void
abort_probe(struct etx_health *h)
{
    if (h->easy != NULL) {
        etx_curlloop_abort(h->cl, h->easy);
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
    }
    if (h->tcp != NULL) {
        h->tcp->reported = true;
        uv_close((uv_handle_t *)&h->tcp->tcp, tcp_closed_cb);
        h->tcp = NULL;
    }
    if (h->sp != NULL)
        etx_spawn_stop(h->sp);
}

static void
fill_error(struct etx_health *h)
{
    struct etx_health_result *r = &h->res;

    if (r->healthy || r->err.cls != ETX_CLASS_NONE)
        return;
    if (r->stopped) {
        etx_error_set(&r->err, ETX_CLASS_AMBIGUOUS, 0, "health", h->what,
                      "health check stopped after %u passes and %u "
                      "failures",
                      r->passes, r->failures);
        return;
    }
    etx_error_set(&r->err, ETX_CLASS_INTEGRITY, 0, "health", h->what,
                  "health check failed: deadline of %gs passed after %u "
                  "passes and %u failures (%u in a row needed)%s%s",
                  (double)h->deadline_ms / 1000, r->passes, r->failures,
                  h->consecutive, r->last_failure[0] != '\0' ? "; last: " : "",
                  r->last_failure);
}

/* End the checks; the result goes out when every handle is closed. */
static void
finish(struct etx_health *h)
{
    if (h->finishing)
        return;
    h->finishing = true;
    abort_probe(h);
    uv_close((uv_handle_t *)&h->deadline, timer_closed_cb);
    uv_close((uv_handle_t *)&h->tick, timer_closed_cb);
    if (h->cl != NULL) {
        etx_curlloop_close(h->cl, curlloop_closed_cb, h);
        h->cl = NULL;
    }
    uv_update_time(h->loop);
    h->res.elapsed_ms = uv_now(h->loop) - h->start_ms;
    fill_error(h);
}

static void
tick_cb(uv_timer_t *t)
{
    probe_start(t->data);
}

/* Count one probe's outcome; then done, or the next probe after interval. */
static void
probe_done(struct etx_health *h, bool ok, const char *reason)
{
    h->res.probes++;
    if (ok) {
        h->res.passes++;
        h->run++;
    } else {
        h->res.failures++;
        h->run = 0;
        snprintf(h->res.last_failure, sizeof(h->res.last_failure), "%s",
                 reason);
    }
    if (h->on_probe != NULL)
        h->on_probe(ok, ok ? "" : reason, h->probe_arg);
    if (h->finishing)
        return; /* stopped from on_probe */
    if (ok && h->run >= h->consecutive) {
        h->res.healthy = true;
        finish(h);
        return;
    }
    uv_timer_start(&h->tick, tick_cb, h->interval_ms, 0);
}

static void
deadline_cb(uv_timer_t *t)
{
    struct etx_health *h = t->data;

    h->res.deadline_passed = true;
    finish(h);
}

static size_t
body_cb(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct etx_health *h = arg;
    size_t n = size * nmemb;
    size_t room = ETX_HEALTH_BODY_MAX - h->body_len;
    size_t take = n < room ? n : room;

    memcpy(h->body + h->body_len, ptr, take);
    h->body_len += take;
    return n;
}

static void
http_done(CURL *easy, CURLcode rc, void *arg)
{
    struct etx_health *h = arg;
    char reason[256];
    long code = 0;
    bool ok = false;

    reason[0] = '\0';
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
    if (rc != CURLE_OK) {
        struct etx_error e = {0};

        etx_curlloop_error(easy, rc, h->errbuf, h->timeout_ms, "health", &e,
                           reason, sizeof(reason));
    } else if (code != h->status) {
        snprintf(reason, sizeof(reason), "HTTP %ld", code);
    } else if (h->body_contains != NULL &&
               memmem(h->body, h->body_len, h->body_contains,
                      strlen(h->body_contains)) == NULL) {
        snprintf(reason, sizeof(reason), "body does not contain '%s'",
                 h->body_contains);
    } else {
        ok = true;
    }
    curl_easy_cleanup(easy);
    h->easy = NULL;
    probe_done(h, ok, reason);
}

static int
http_probe(struct etx_health *h, struct etx_error *err)
{
    h->easy = etx_curlloop_easy_new(h->url, h->errbuf, err);
    if (h->easy == NULL)
        return ETX_ERR;
    h->body_len = 0;
    curl_easy_setopt(h->easy, CURLOPT_WRITEFUNCTION, body_cb);
    curl_easy_setopt(h->easy, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->easy, CURLOPT_TIMEOUT_MS, (long)h->timeout_ms);
    if (etx_curlloop_start(h->cl, h->easy, http_done, h, err) != ETX_OK) {
        curl_easy_cleanup(h->easy);
        h->easy = NULL;
        return ETX_ERR;
    }
    return ETX_OK;
}

static void
tcp_timeout_cb(uv_timer_t *t)
{
    struct etx_health *h = t->data;
    char reason[64];

    snprintf(reason, sizeof(reason), "timeout after %gs",
             (double)h->timeout_ms / 1000);
    h->tcp->reported = true;
    uv_close((uv_handle_t *)&h->tcp->tcp, tcp_closed_cb);
    h->tcp = NULL;
    probe_done(h, false, reason);
}

static void
connect_cb(uv_connect_t *req, int status)
{
    struct tcp_probe *p = req->data;
    struct etx_health *h = p->h;

    if (p->reported)
        return; /* timed out or aborted: closing already */
    p->reported = true;
    h->tcp = NULL;
    uv_timer_stop(&h->tick);
    uv_close((uv_handle_t *)&p->tcp, tcp_closed_cb);
    probe_done(h, status == 0, status == 0 ? "" : uv_strerror(status));
}

static int
tcp_probe(struct etx_health *h, struct etx_error *err)
{
    struct tcp_probe *p = calloc(1, sizeof(*p));
    int rc = 0;

    if (p == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "health", h->what,
                             "out of memory");
    p->h = h;
    p->tcp.data = p;
    p->req.data = p;
    uv_tcp_init(h->loop, &p->tcp);
    h->pending++;
    rc = uv_tcp_connect(&p->req, &p->tcp, (struct sockaddr *)&h->addr,
                        connect_cb);
    if (rc != 0) {
        p->reported = true;
        uv_close((uv_handle_t *)&p->tcp, tcp_closed_cb);
        return etx_error_sys(err, -rc, ETX_CTX_NET, "connect", h->what,
                             "cannot connect");
    }
    h->tcp = p;
    uv_timer_start(&h->tick, tcp_timeout_cb, h->timeout_ms, 0);
    return ETX_OK;
}

static void
exec_done(const struct etx_spawn_result *r, void *arg)
{
    struct etx_health *h = arg;
    char reason[128];

    h->sp = NULL;
    if (h->finishing) {
        unref(h);
        return;
    }
    h->pending--;
    etx_spawn_describe(r, h->timeout_ms, reason, sizeof(reason));
    probe_done(h, etx_spawn_is_success(r), reason);
}

static int
exec_probe(struct etx_health *h, struct etx_error *err)
{
    struct etx_spawn_opts o = {0};

    o.argv = (const char *const *)h->argv;
    o.timeout_ms = h->timeout_ms;
    if (etx_spawn_start(h->loop, &o, exec_done, h, &h->sp, err) != ETX_OK)
        return ETX_ERR;
    h->pending++;
    return ETX_OK;
}

/*
 * A probe that cannot even start counts as a failure when waiting can help
 * (ETXTBSY, a refused connection); otherwise it ends the checks.
 */
static void
probe_start(struct etx_health *h)
{
    struct etx_error e = {0};
    char buf[600];
    int rc = ETX_OK;

    if (h->kind == ETX_HEALTH_HTTP)
        rc = http_probe(h, &e);
    else if (h->kind == ETX_HEALTH_TCP)
        rc = tcp_probe(h, &e);
    else
        rc = exec_probe(h, &e);
    if (rc == ETX_OK)
        return;
    if (etx_error_is_retryable(&e)) {
        probe_done(h, false, etx_error_format(&e, buf, sizeof(buf)));
        return;
    }
    h->res.err = e;
    finish(h);
}

static int
check_http(struct etx_health *h, const struct etx_health_spec *s,
           struct etx_error *err)
{
    if (s->url == NULL || (strncmp(s->url, "http://", 7) != 0 &&
                           strncmp(s->url, "https://", 8) != 0))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "health", s->url,
                             "an HTTP check needs an http:// or https:// "
                             "URL");
    snprintf(h->what, sizeof(h->what), "%s", s->url);
    h->url = strdup(s->url);
    if (s->body_contains != NULL)
        h->body_contains = strdup(s->body_contains);
    h->body = malloc(ETX_HEALTH_BODY_MAX);
    if (h->url == NULL || h->body == NULL ||
        (s->body_contains != NULL && h->body_contains == NULL))
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "health", s->url,
                             "out of memory");
    h->status = s->status != 0 ? s->status : 200;
    return etx_curlloop_new(h->loop, &h->cl, err);
}

static int
check_tcp(struct etx_health *h, const struct etx_health_spec *s,
          struct etx_error *err)
{
    const char *host = s->host != NULL ? s->host : "";

    snprintf(h->what, sizeof(h->what), "%s:%u", host, s->port);
    if (s->port == 0 || s->port > 65535)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "health", h->what,
                             "a TCP check needs a port in 1..65535");
    if (uv_ip4_addr(host, (int)s->port, (struct sockaddr_in *)&h->addr) != 0 &&
        uv_ip6_addr(host, (int)s->port, (struct sockaddr_in6 *)&h->addr) != 0)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "health", h->what,
                             "a TCP check needs a numeric IPv4 or IPv6 "
                             "address");
    return ETX_OK;
}

static int
check_exec(struct etx_health *h, const struct etx_health_spec *s,
           struct etx_error *err)
{
    if (s->argv == NULL || s->argv[0] == NULL || s->argv[0][0] != '/')
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "health",
                             s->argv != NULL ? s->argv[0] : NULL,
                             "an exec check needs a command with an "
                             "absolute path");
    snprintf(h->what, sizeof(h->what), "%s", s->argv[0]);
    h->argv = etx_spawn_argv_dup(s->argv);
    if (h->argv == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_EXEC, "health", h->what,
                             "out of memory");
    return ETX_OK;
}

static int
copy_spec(struct etx_health *h, const struct etx_health_spec *s,
          struct etx_error *err)
{
    h->kind = s->kind;
    h->interval_ms = s->interval_ms;
    h->timeout_ms = s->timeout_ms != 0 ? s->timeout_ms : DEFAULT_TIMEOUT_MS;
    h->deadline_ms = s->deadline_ms != 0 ? s->deadline_ms : DEFAULT_DEADLINE_MS;
    h->consecutive = s->consecutive != 0 ? s->consecutive : 1;
    h->on_probe = s->on_probe;
    h->probe_arg = s->probe_arg;
    switch (s->kind) {
    case ETX_HEALTH_HTTP:
        return check_http(h, s, err);
    case ETX_HEALTH_TCP:
        return check_tcp(h, s, err);
    case ETX_HEALTH_EXEC:
        return check_exec(h, s, err);
    default:
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "health", NULL,
                             "unknown health check kind %d", (int)s->kind);
    }
}

int
etx_health_start(uv_loop_t *loop, const struct etx_health_spec *spec,
                 etx_health_done_cb cb, void *arg, struct etx_health **out,
                 struct etx_error *err)
{
    struct etx_health *h = calloc(1, sizeof(*h));

    if (h == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "health", NULL,
                             "out of memory");
    h->loop = loop;
    if (copy_spec(h, spec, err) != ETX_OK) {
        health_free(h);
        return ETX_ERR;
    }
    h->cb = cb;
    h->arg = arg;
    uv_timer_init(loop, &h->deadline);
    uv_timer_init(loop, &h->tick);
    h->deadline.data = h;
    h->tick.data = h;
    h->pending = h->cl != NULL ? 3 : 2; /* timers, and the curlloop */
    uv_update_time(loop);
    h->start_ms = uv_now(loop);
    uv_timer_start(&h->deadline, deadline_cb, h->deadline_ms, 0);
    if (out != NULL)
        *out = h;
    probe_start(h);
    return ETX_OK;
}

void
etx_health_stop(struct etx_health *h)
{
    if (h == NULL || h->finishing)
        return;
    h->res.stopped = true;
    finish(h);
}
