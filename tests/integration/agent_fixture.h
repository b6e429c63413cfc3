/* SPDX-License-Identifier: MIT */
/*
 * Test helpers for the agent daemon's integration tests: a real
 * etxroll-agent started as a child process (its own temp dir, config, key,
 * roots and state dir, listening on 127.0.0.1:0 with --port-file, its JSON
 * log in a file), and a synchronous client over coordinator/peer.h on the
 * test's own libuv loop. Header-only (static inline) because each test is
 * one executable; it needs <cmocka.h> included first.
 */
#ifndef ETX_TESTS_INTEGRATION_AGENT_FIXTURE_H
#define ETX_TESTS_INTEGRATION_AGENT_FIXTURE_H

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "coordinator/peer.h"
#include "proto/digest.h"
#include "proto/frame.h"
#include "proto/psk.h"
#include "tests/integration/nginx_fixture.h"

struct etx_test_agent {
    char dir[256]; /* everything of this agent lives here */
    char root[300], state[300], key[300], cfg[300], port_file[300];
    char log[300];
    pid_t pid;
    int port;
    struct etx_psk psk;
};

static inline const char *
etx_test_bindir(void)
{
    const char *b = getenv("ETX_BINARY_DIR");

    return b != NULL ? b : ".";
}

/* Slurp a small file into buf (NUL-ended); -1 when it cannot be read. */
static inline int
etx_test_read_file(const char *path, char *buf, size_t cap)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    ssize_t n, got = 0;

    if (fd < 0)
        return -1;
    while ((n = read(fd, buf + got, cap - 1 - (size_t)got)) > 0)
        got += n;
    close(fd);
    buf[got] = '\0';
    return n < 0 ? -1 : 0;
}

/* A temp dir with root/ and a fresh key; then etx_test_agent_config(). */
static inline void
etx_test_agent_setup(struct etx_test_agent *a)
{
    struct etx_error err = {0};

    memset(a, 0, sizeof(*a));
    snprintf(a->dir, sizeof(a->dir), "/tmp/etx-agent-test.XXXXXX");
    assert_non_null(mkdtemp(a->dir));
    snprintf(a->root, sizeof(a->root), "%s/root", a->dir);
    snprintf(a->state, sizeof(a->state), "%s/state", a->dir);
    snprintf(a->key, sizeof(a->key), "%s/fleet.key", a->dir);
    snprintf(a->cfg, sizeof(a->cfg), "%s/agent.yml", a->dir);
    snprintf(a->port_file, sizeof(a->port_file), "%s/port", a->dir);
    snprintf(a->log, sizeof(a->log), "%s/agent.log", a->dir);
    assert_int_equal(mkdir(a->root, 0755), 0);
    assert_int_equal(etx_psk_generate(a->key, false, &err), ETX_OK);
    assert_int_equal(etx_psk_load(a->key, &a->psk, &err), ETX_OK);
}

/* Write agent.yml; 'extra' is appended (restart_commands etc.). */
static inline void
etx_test_agent_config(struct etx_test_agent *a, const char *extra)
{
    char cfg[4096];

    snprintf(cfg, sizeof(cfg),
             "listen: 127.0.0.1:7420\nkey_file: %s\nroots: [%s]\n"
             "state_dir: %s\n%s",
             a->key, a->root, a->state, extra != NULL ? extra : "");
    assert_int_equal(etx_test_write_file(a->cfg, cfg, strlen(cfg)), 0);
}

/* Start the agent; wait (up to 20 s) for its port file. */
static inline void
etx_test_agent_start(struct etx_test_agent *a)
{
    struct timespec pause = {0, 20 * 1000 * 1000};
    char bin[512], buf[32];
    int i, fd;

    snprintf(bin, sizeof(bin), "%s/etxroll-agent", etx_test_bindir());
    unlink(a->port_file);
    a->pid = fork();
    assert_true(a->pid >= 0);
    if (a->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        fd = open(a->log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd >= 0)
            dup2(fd, 2);
        execl(bin, bin, "--config", a->cfg, "--listen", "127.0.0.1:0",
              "--port-file", a->port_file, "--log-level", "debug",
              (char *)NULL);
        _exit(127);
    }
    for (i = 0; i < 1000; i++) {
        if (etx_test_read_file(a->port_file, buf, sizeof(buf)) == 0 &&
            strchr(buf, '\n') != NULL)
            break;
        assert_int_equal(waitpid(a->pid, NULL, WNOHANG), 0);
        nanosleep(&pause, NULL);
    }
    a->port = atoi(buf);
    assert_true(a->port > 0);
}

static inline bool
etx_test_agent_alive(const struct etx_test_agent *a)
{
    return a->pid > 0 && waitpid(a->pid, NULL, WNOHANG) == 0;
}

/* SIGTERM, then the exit status (-1 when it did not exit normally). */
static inline int
etx_test_agent_stop(struct etx_test_agent *a)
{
    int status = 0;

    if (a->pid <= 0)
        return -1;
    kill(a->pid, SIGTERM);
    waitpid(a->pid, &status, 0);
    a->pid = 0;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/* True when the agent's log has a line with every one of the needles. */
static inline bool
etx_test_agent_log_has(const struct etx_test_agent *a, const char *n1,
                       const char *n2)
{
    static char buf[1 << 20];
    char *line, *save = NULL;

    if (etx_test_read_file(a->log, buf, sizeof(buf)) != 0)
        return false;
    for (line = strtok_r(buf, "\n", &save); line != NULL;
         line = strtok_r(NULL, "\n", &save))
        if (strstr(line, n1) != NULL && (n2 == NULL || strstr(line, n2)))
            return true;
    return false;
}

/* The same, waiting up to 10 s for the agent to write the line. */
static inline bool
etx_test_agent_log_wait(const struct etx_test_agent *a, const char *n1,
                        const char *n2)
{
    struct timespec pause = {0, 20 * 1000 * 1000};
    int i;

    for (i = 0; i < 500; i++) {
        if (etx_test_agent_log_has(a, n1, n2))
            return true;
        nanosleep(&pause, NULL);
    }
    return false;
}

static inline void
etx_test_agent_cleanup(struct etx_test_agent *a)
{
    if (a->pid > 0)
        etx_test_agent_stop(a);
    if (getenv("ETX_TEST_KEEP") == NULL) /* set it to read the agent's log */
        etx_test_rmtree(a->dir);
}

/* ---- a synchronous client over coordinator/peer.h ---- */

/* One request's outcome; 'res' is a copy (etxroll__result__free_unpacked). */
struct etx_test_call {
    bool done;
    Etxroll__Result *res;
    struct etx_error err;
};

struct etx_test_client {
    uv_loop_t *loop;
    struct etx_peer *p;
    bool ready, closed;
    struct etx_error why;
    char kernel[65];
    char hostname[65];
    /* The first answer to a frame sent with etx_peer_send() (a failed
     * StageBegin or StageChunk), and how many came. */
    struct etx_test_call unsolicited;
    unsigned n_unsolicited;
};

static inline Etxroll__Result *
etx_test_result_copy(const Etxroll__Result *res)
{
    size_t len = etxroll__result__get_packed_size(res);
    uint8_t *buf = malloc(len + 1);
    Etxroll__Result *copy = NULL;

    assert_non_null(buf);
    etxroll__result__pack(res, buf);
    copy = etxroll__result__unpack(NULL, len, buf);
    free(buf);
    return copy;
}

static inline void
etx_test_client_ready_cb(struct etx_peer *p, const Etxroll__Hello *hello,
                         void *arg)
{
    struct etx_test_client *c = arg;

    (void)p;
    c->ready = true;
    if (hello->facts != NULL) {
        snprintf(c->kernel, sizeof(c->kernel), "%s", hello->facts->kernel);
        snprintf(c->hostname, sizeof(c->hostname), "%s",
                 hello->facts->hostname);
    }
}

static inline void
etx_test_client_unsolicited_cb(struct etx_peer *p, const Etxroll__Result *res,
                               void *arg)
{
    struct etx_test_client *c = arg;

    (void)p;
    if (c->n_unsolicited++ == 0) {
        c->unsolicited.done = true;
        c->unsolicited.res = etx_test_result_copy(res);
    }
}

static inline void
etx_test_client_closed_cb(struct etx_peer *p, const struct etx_error *why,
                          void *arg)
{
    struct etx_test_client *c = arg;

    (void)p;
    c->closed = true;
    c->p = NULL;
    if (why != NULL)
        c->why = *why;
}

/* Connect (no wait). */
static inline void
etx_test_client_start(struct etx_test_client *c, uv_loop_t *loop, int port,
                      const struct etx_psk *psk)
{
    struct etx_peer_cbs cbs = {.ready = etx_test_client_ready_cb,
                               .closed = etx_test_client_closed_cb,
                               .arg = c,
                               .unsolicited = etx_test_client_unsolicited_cb};
    struct etx_error err = {0};
    char addr[64];

    memset(c, 0, sizeof(*c));
    c->loop = loop;
    snprintf(addr, sizeof(addr), "127.0.0.1:%d", port);
    c->p = etx_peer_connect(loop, "agent", addr, psk, &cbs, &err);
    assert_non_null(c->p);
}

/* Connect and wait for Hello: true when ready, false when it closed. */
static inline bool
etx_test_client_connect(struct etx_test_client *c, uv_loop_t *loop, int port,
                        const struct etx_psk *psk)
{
    etx_test_client_start(c, loop, port, psk);
    while (!c->ready && !c->closed)
        uv_run(loop, UV_RUN_ONCE);
    return c->ready && !c->closed;
}

static inline void
etx_test_client_close(struct etx_test_client *c)
{
    if (c->p != NULL)
        etx_peer_close(c->p);
    while (!c->closed)
        uv_run(c->loop, UV_RUN_ONCE);
}

static inline void
etx_test_call_cb(struct etx_peer *p, const Etxroll__Result *res,
                 const struct etx_error *err, void *arg)
{
    struct etx_test_call *k = arg;

    (void)p;
    k->done = true;
    if (res == NULL) {
        k->err = *err;
        return;
    }
    k->res = etx_test_result_copy(res);
}

/* Send env (body set) without waiting; k is filled when it ends. */
static inline void
etx_test_send(struct etx_test_client *c, Etxroll__Envelope *env,
              struct etx_test_call *k)
{
    struct etx_error err = {0};

    memset(k, 0, sizeof(*k));
    assert_int_equal(etx_peer_request(c->p, env, etx_test_call_cb, k, &err),
                     ETX_OK);
}

static inline void
etx_test_wait(struct etx_test_client *c, struct etx_test_call *k)
{
    while (!k->done)
        uv_run(c->loop, UV_RUN_ONCE);
}

/* Send and wait: the Result (free it) or NULL when the link was lost. */
static inline Etxroll__Result *
etx_test_call(struct etx_test_client *c, Etxroll__Envelope *env)
{
    struct etx_test_call k;

    etx_test_send(c, env, &k);
    etx_test_wait(c, &k);
    return k.res;
}

static inline void
etx_test_target(Etxroll__Target *t, const char *path)
{
    etxroll__target__init(t);
    t->path = (char *)path;
    t->mode_set = true;
    t->mode = 0755;
}

/* Probe 'path': the Result (free it). */
static inline Etxroll__Result *
etx_test_probe(struct etx_test_client *c, const char *path)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__ProbeRequest pr = ETXROLL__PROBE_REQUEST__INIT;
    Etxroll__Target t;

    etx_test_target(&t, path);
    pr.target = &t;
    env.body_case = ETXROLL__ENVELOPE__BODY_PROBE;
    env.probe = &pr;
    return etx_test_call(c, &env);
}

/* Send a frame the agent answers only on failure (etx_peer_send). */
static inline void
etx_test_send_quiet(struct etx_test_client *c, Etxroll__Envelope *env)
{
    struct etx_error err = {0};

    assert_int_equal(etx_peer_send(c->p, env, &err), ETX_OK);
}

/*
 * Push 'len' bytes of 'data' for 'path': StageBegin, chunks of 'chunk'
 * bytes, StageEnd. Returns StageEnd's Result (free it). Begin and chunks
 * are answered only on failure: the first such answer lands in
 * c->unsolicited.
 */
static inline Etxroll__Result *
etx_test_stage(struct etx_test_client *c, const char *path, const void *data,
               size_t len, size_t chunk)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__StageBegin b = ETXROLL__STAGE_BEGIN__INIT;
    Etxroll__StageChunk ch = ETXROLL__STAGE_CHUNK__INIT;
    Etxroll__StageEnd e = ETXROLL__STAGE_END__INIT;
    struct etx_digest *d = etx_digest_new();
    char hex[ETX_DIGEST_HEX_LEN + 1];
    Etxroll__Target t;
    size_t off = 0, n = 0;

    etx_digest_update(d, data, len);
    etx_digest_final(d, hex);
    etx_digest_free(d);
    etx_test_target(&t, path);
    b.target = &t;
    b.sha256 = hex;
    b.size = len;
    env.body_case = ETXROLL__ENVELOPE__BODY_STAGE_BEGIN;
    env.stage_begin = &b;
    etx_test_send_quiet(c, &env);
    for (off = 0; off < len; off += n) {
        n = len - off < chunk ? len - off : chunk;
        ch.data.data = (uint8_t *)data + off;
        ch.data.len = n;
        env.body_case = ETXROLL__ENVELOPE__BODY_STAGE_CHUNK;
        env.stage_chunk = &ch;
        etx_test_send_quiet(c, &env);
    }
    env.body_case = ETXROLL__ENVELOPE__BODY_STAGE_END;
    env.stage_end = &e;
    return etx_test_call(c, &env);
}

/* A whole small file into a new buffer (free it); *len its size. */
static inline void *
etx_test_slurp(const char *path, size_t *len)
{
    struct stat st;
    void *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    buf = malloc((size_t)st.st_size + 1);
    assert_non_null(buf);
    assert_int_equal(read(fd, buf, (size_t)st.st_size), st.st_size);
    close(fd);
    *len = (size_t)st.st_size;
    return buf;
}

static inline void
etx_test_result_free(Etxroll__Result *r)
{
    if (r != NULL)
        etxroll__result__free_unpacked(r, NULL);
}

/* The class of a failed Result (CLASS_NONE when it has no error). */
static inline int
etx_test_class(const Etxroll__Result *r)
{
    return r != NULL && r->error != NULL ? (int)r->error->class_ : 0;
}

#endif /* ETX_TESTS_INTEGRATION_AGENT_FIXTURE_H */
