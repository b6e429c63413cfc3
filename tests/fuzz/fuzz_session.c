/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the agent's session (agent/session.h) fed with the
 * envelopes decoded from the fuzz input, after a valid Hello, over a
 * stdio connection on a socketpair, with a real engine rooted in a temp
 * directory and a config that allows no command. Pull and health requests
 * are pointed at 127.0.0.1:1 with short deadlines so nothing leaves the
 * machine and every run ends; then the client closes. The session must
 * end, free itself and leave nothing open on the loop.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent/agentlog.h"
#include "agent/config.h"
#include "agent/engine.h"
#include "agent/facts.h"
#include "agent/session.h"
#include "proto/conn.h"
#include "proto/frame.h"

#define MAX_FRAMES 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Built once: the engine, its config and the log (to /dev/null). */
struct fixture {
    struct etx_agent_config *cfg;
    struct etx_engine *engine;
    struct etx_facts_host host;
    struct etx_agentlog log;
};

static struct fixture *
fixture(void)
{
    static struct fixture f;
    static char dir[] = "/tmp/etx-fuzz-session.XXXXXX";
    struct etx_engine_opts eo = {0};
    struct etx_error err = {0};
    char yml[512], root[128];

    if (f.engine != NULL)
        return &f;
    signal(SIGPIPE, SIG_IGN); /* as etxroll-agent does: EPIPE, not death */
    if (mkdtemp(dir) == NULL)
        abort();
    snprintf(root, sizeof(root), "%s/root", dir);
    mkdir(root, 0755);
    snprintf(yml, sizeof(yml), "roots: [%s]\nstate_dir: %s/state\n", root, dir);
    if (etx_agent_config_load_buffer("fuzz.yml", yml, strlen(yml), &f.cfg,
                                     &err) != ETX_OK)
        abort();
    eo.roots = (const char *const *)f.cfg->roots;
    eo.n_roots = f.cfg->n_roots;
    eo.state_dir = f.cfg->state_dir;
    if (etx_engine_new(&eo, &f.engine, &err) != ETX_OK ||
        etx_facts_host(&f.host, &err) != ETX_OK)
        abort();
    f.log.out = fopen("/dev/null", "w");
    f.log.min = ETX_AGENTLOG_ERROR;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    return &f;
}

/* The strings tame() replaced, put back before the envelope is freed. */
struct tamed {
    char **slot[3];
    char *orig[3];
    int n;
};

static void
swap_in(struct tamed *t, char **slot, char *with)
{
    t->slot[t->n] = slot;
    t->orig[t->n++] = *slot;
    *slot = with;
}

static void
untame(struct tamed *t)
{
    while (t->n > 0) {
        t->n--;
        *t->slot[t->n] = t->orig[t->n];
    }
}

/* Nothing a fuzzed request asks for may leave 127.0.0.1 or run long. */
static void
tame(Etxroll__Envelope *env, struct tamed *t)
{
    static char url[] = "http://127.0.0.1:1/artifact";
    static char tcp[] = "127.0.0.1:1";
    Etxroll__HealthRequest *h = env->health;

    if (env->body_case == ETXROLL__ENVELOPE__BODY_PULL)
        swap_in(t, &env->pull->url, url);
    if (env->body_case != ETXROLL__ENVELOPE__BODY_HEALTH)
        return;
    if (h->http_url[0] != '\0')
        swap_in(t, &h->http_url, url);
    if (h->tcp_address[0] != '\0')
        swap_in(t, &h->tcp_address, tcp);
    h->deadline_ms = h->deadline_ms % 200 + 1;
    h->interval_ms %= 50;
    h->timeout_ms = h->timeout_ms % 100 + 1;
}

struct client {
    struct etx_conn *c;
    bool closed, done;
};

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
    (void)c;
    (void)why;
    ((struct client *)arg)->closed = true;
}

static void
on_done(struct etx_session *s, void *arg)
{
    (void)s;
    ((struct client *)arg)->done = true;
}

static void
send_hello(struct etx_conn *c)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__Hello hello = ETXROLL__HELLO__INIT;
    struct etx_error err = {0};

    hello.protocol_version = ETX_PROTO_VERSION;
    env.body_case = ETXROLL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    etx_conn_send(c, &env, &err);
}

/* The input's frames, tamed, after a Hello; stops at the first bad one. */
static void
send_input(struct etx_conn *c, const uint8_t *data, size_t size)
{
    Etxroll__Envelope *env = NULL;
    struct etx_error err = {0};
    struct tamed t = {0};
    size_t used = 0;
    int n;

    send_hello(c);
    for (n = 0; n < MAX_FRAMES && size > 0; n++) {
        if (etx_frame_decode(data, size, &used, &env, &err) != ETX_OK)
            break;
        tame(env, &t);
        etx_conn_send(c, env, &err);
        untame(&t);
        etx_frame_free(env);
        data += used;
        size -= used;
    }
    etx_conn_close(c);
}

static struct etx_session *
open_session(uv_loop_t *loop, struct fixture *f, int fd, struct client *k)
{
    struct etx_session_ctx ctx = {loop, f->cfg, f->engine, &f->log, &f->host};
    struct etx_conn_opts opts = {.handshake_timeout_ms = 2000};
    struct etx_session *s = etx_session_new(&ctx, on_done, k);
    struct etx_error err = {0};
    struct etx_conn_cbs cbs;
    struct etx_conn *c = NULL;
    const int fds[2] = {fd, fd};

    if (s == NULL)
        abort();
    etx_session_conn_cbs(s, &cbs);
    c = etx_conn_open_stdio(loop, fds, &opts, &cbs, &err);
    if (c == NULL)
        abort();
    etx_session_attach(s, c);
    return s;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fixture *f = fixture();
    struct etx_conn_cbs cbs = {on_frame, on_close, NULL, NULL};
    struct etx_conn_opts opts = {.handshake_timeout_ms = 2000};
    struct etx_error err = {0};
    struct client k = {0};
    uv_loop_t loop;
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0 ||
        uv_loop_init(&loop) != 0)
        abort();
    open_session(&loop, f, sv[0], &k);
    cbs.arg = &k;
    k.c = etx_conn_open_stdio(&loop, (const int[2]){sv[1], sv[1]}, &opts, &cbs,
                              &err);
    if (k.c == NULL)
        abort();
    send_input(k.c, data, size);
    uv_run(&loop, UV_RUN_DEFAULT);
    if (!k.closed || !k.done || uv_loop_close(&loop) != 0)
        abort();
    return 0;
}
