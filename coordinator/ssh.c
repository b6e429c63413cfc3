/* SPDX-License-Identifier: MIT */
/*
 * The SSH carrier's life cycle: a non-blocking TCP connect of our own
 * (resolving names with uv_getaddrinfo), the one timer that bounds each
 * phase, the uv_poll on the socket, and the teardown that closes every
 * handle before closed() is called. The libssh steps from handshake to
 * exec are coordinator/ssh_setup.c, the running byte pump
 * coordinator/ssh_pump.c.
 */
#define _GNU_SOURCE
#include "coordinator/ssh.h"

#include <assert.h>
#include <errno.h>
#include <netinet/in.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator/ssh_internal.h"

#define NEXT(s) (1u << (s))
#define ANY_END (NEXT(ETX_SSH_DONE))

static const uint32_t ssh_next[ETX_SSH_STATE_COUNT] = {
    [ETX_SSH_RESOLVING] = NEXT(ETX_SSH_CONNECTING) | ANY_END,
    [ETX_SSH_CONNECTING] = NEXT(ETX_SSH_HANDSHAKE) | ANY_END,
    [ETX_SSH_HANDSHAKE] = NEXT(ETX_SSH_AUTH) | ANY_END,
    [ETX_SSH_AUTH] = NEXT(ETX_SSH_PUSH) | NEXT(ETX_SSH_CHANNEL) | ANY_END,
    [ETX_SSH_PUSH] = NEXT(ETX_SSH_CHANNEL) | ANY_END,
    [ETX_SSH_CHANNEL] = NEXT(ETX_SSH_EXEC) | ANY_END,
    [ETX_SSH_EXEC] = NEXT(ETX_SSH_RUNNING) | ANY_END,
    [ETX_SSH_RUNNING] = NEXT(ETX_SSH_ENDING) | NEXT(ETX_SSH_CLOSING) | ANY_END,
    [ETX_SSH_ENDING] = NEXT(ETX_SSH_CLOSING) | ANY_END,
    [ETX_SSH_CLOSING] = ANY_END,
    [ETX_SSH_DONE] = 0,
};

/* What a timeout says the connection was doing. */
static const char *const ssh_stage[ETX_SSH_STATE_COUNT] = {
    [ETX_SSH_RESOLVING] = "resolving the address",
    [ETX_SSH_CONNECTING] = "connecting",
    [ETX_SSH_HANDSHAKE] = "the SSH handshake",
    [ETX_SSH_AUTH] = "user authentication",
    [ETX_SSH_PUSH] = "pushing the agent",
    [ETX_SSH_CHANNEL] = "opening a channel",
    [ETX_SSH_EXEC] = "starting the agent",
    [ETX_SSH_RUNNING] = "running",
    [ETX_SSH_ENDING] = "ending",
    [ETX_SSH_CLOSING] = "closing",
    [ETX_SSH_DONE] = "closed",
};
_Static_assert(sizeof(ssh_stage) / sizeof(ssh_stage[0]) == ETX_SSH_STATE_COUNT,
               "one stage name per state");

void
etx_ssh__set_state(struct etx_ssh *s, enum etx_ssh_state to)
{
    assert(to < ETX_SSH_STATE_COUNT && (ssh_next[s->state] & NEXT(to)));
    s->state = to;
}

/* "~/x" with the caller's home; other paths copied. NULL on ENOMEM. */
static char *
expand_home(const char *path)
{
    const char *home = getenv("HOME");
    struct passwd pw, *res = NULL;
    char pwbuf[1024];
    char *out = NULL;

    if (strncmp(path, "~/", 2) != 0)
        return strdup(path);
    if ((home == NULL || home[0] == '\0') &&
        getpwuid_r(getuid(), &pw, pwbuf, sizeof(pwbuf), &res) == 0 &&
        res != NULL)
        home = pw.pw_dir;
    if (home == NULL)
        home = "/";
    if (asprintf(&out, "%s/%s", home, path + 2) < 0)
        return NULL;
    return out;
}

static bool
dup_opt(char **dst, const char *src, const char *dflt)
{
    if (src == NULL)
        src = dflt;
    if (src == NULL)
        return true;
    *dst = strdup(src);
    return *dst != NULL;
}

static int
copy_target(struct etx_ssh *s, const struct etx_ssh_target *t)
{
    const char *kh =
        t->known_hosts != NULL ? t->known_hosts : "~/.ssh/known_hosts";

    s->known_hosts = expand_home(kh);
    if (s->known_hosts == NULL || !dup_opt(&s->name, t->name, t->address) ||
        !dup_opt(&s->address, t->address, NULL) ||
        !dup_opt(&s->user, t->user, NULL) ||
        !dup_opt(&s->identity_file, t->identity_file, NULL) ||
        !dup_opt(&s->agent_path, t->agent_path, "etxroll-agent") ||
        !dup_opt(&s->agent_config, t->agent_config, ETX_SSH_AGENT_CONFIG) ||
        !dup_opt(&s->push_dir, t->push_dir, ETX_SSH_PUSH_DIR) ||
        !dup_opt(&s->local_agent, t->local_agent, NULL))
        return ETX_ERR;
    s->port = t->port != 0 ? t->port : 22;
    s->accept_new = t->accept_new;
    s->push_agent = t->push_agent;
    s->timeout_ms = t->timeout_ms != 0 ? t->timeout_ms : ETX_SSH_TIMEOUT_MS;
    return ETX_OK;
}

static void
free_ssh(struct etx_ssh *s)
{
    free(s->name);
    free(s->address);
    free(s->user);
    free(s->identity_file);
    free(s->known_hosts);
    free(s->agent_path);
    free(s->agent_config);
    free(s->push_dir);
    free(s->local_agent);
    free(s->command);
    free(s->push_cmd);
    free(s->pump);
    free(s);
}

/* ---- the end: closed() once every handle and request is back ---- */

static void
finish(struct etx_ssh *s)
{
    const struct etx_error *why = NULL;

    if (s->failed && !s->by_caller)
        why = &s->why;
    s->cbs.closed(s, why, s->cbs.arg);
    /* Only now may the caller's end see end of file (ssh.h promises). */
    if (s->local_fd >= 0)
        close(s->local_fd);
    if (s->tcp_fd >= 0)
        close(s->tcp_fd);
    free_ssh(s);
}

static void
on_handle_closed(uv_handle_t *h)
{
    struct etx_ssh *s = h->data;

    if (--s->pending == 0)
        finish(s);
}

/* True while fd is still the socket tcp_fd is (libssh may close it). */
static bool
same_socket(int fd, int tcp_fd)
{
    struct stat a, b;

    return fstat(fd, &a) == 0 && fstat(tcp_fd, &b) == 0 &&
           a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static void
release_ssh(struct etx_ssh *s)
{
    if (s->channel != NULL)
        ssh_channel_free(s->channel);
    s->channel = NULL;
    if (s->session != NULL) {
        /* With SSH_OPTIONS_FD set, ssh_disconnect() leaves the fd open. */
        ssh_disconnect(s->session);
        ssh_free(s->session);
    }
    s->session = NULL;
    if (s->lib_fd >= 0 && same_socket(s->lib_fd, s->tcp_fd))
        close(s->lib_fd);
    s->lib_fd = -1;
    ssh_key_free(s->key);
    s->key = NULL;
}

static void
close_handle(struct etx_ssh *s, uv_handle_t *h)
{
    h->data = s;
    uv_close(h, on_handle_closed);
}

void
etx_ssh__teardown(struct etx_ssh *s)
{
    if (s->state == ETX_SSH_DONE)
        return;
    if (s->work_busy) {
        /* The worker owns the session: make its blocking calls fail. */
        s->stop_after_work = true;
        shutdown(s->tcp_fd, SHUT_RDWR);
        return;
    }
    etx_ssh__set_state(s, ETX_SSH_DONE);
    uv_timer_stop(&s->timer);
    close_handle(s, (uv_handle_t *)&s->timer);
    if (s->poll_open) {
        uv_poll_stop(&s->poll);
        close_handle(s, (uv_handle_t *)&s->poll);
    }
    if (s->local_poll_open) {
        uv_poll_stop(&s->local_poll);
        close_handle(s, (uv_handle_t *)&s->local_poll);
    }
    if (s->gai_busy)
        uv_cancel((uv_req_t *)&s->gai);
    release_ssh(s);
}

void
etx_ssh__fail(struct etx_ssh *s, const struct etx_error *why)
{
    if (s->state == ETX_SSH_DONE)
        return;
    if (!s->failed) {
        s->why = *why;
        snprintf(s->why.where, sizeof(s->why.where), "%s", s->name);
        s->failed = true;
    }
    etx_ssh__teardown(s);
}

void
etx_ssh__fail_sys(struct etx_ssh *s, int sys_errno, const char *what)
{
    struct etx_error err = {0};

    etx_error_sys(&err, sys_errno, ETX_CTX_NET, "ssh-connect", s->name,
                  "%s %s port %u", what, s->address, (unsigned)s->port);
    etx_ssh__fail(s, &err);
}

/* ---- timer and poll ---- */

static void
on_timer(uv_timer_t *t)
{
    struct etx_ssh *s = t->data;
    struct etx_error err = {0};

    switch (s->state) {
    case ETX_SSH_ENDING:
        etx_ssh__end_timeout(s);
        return;
    case ETX_SSH_CLOSING:
        etx_ssh__teardown(s);
        return;
    case ETX_SSH_RUNNING:
    case ETX_SSH_DONE:
        return;
    default:
        break;
    }
    etx_error_sys(&err, ETIMEDOUT, ETX_CTX_NET, "ssh-connect", s->name,
                  "no agent session with %s port %u within %llu ms (stuck "
                  "in %s)",
                  s->address, (unsigned)s->port,
                  (unsigned long long)s->timeout_ms, ssh_stage[s->state]);
    etx_ssh__fail(s, &err);
}

void
etx_ssh__deadline(struct etx_ssh *s, uint64_t ms)
{
    uv_timer_start(&s->timer, on_timer, ms, 0);
}

static void tcp_connected(struct etx_ssh *s);

static void
on_poll(uv_poll_t *p, int status, int events)
{
    struct etx_ssh *s = p->data;

    (void)events; /* libssh polls again and knows what it waits for */
    if (status < 0 && s->state != ETX_SSH_CONNECTING) {
        etx_ssh__fail_sys(s, -status, "lost the connection to");
        return;
    }
    switch (s->state) {
    case ETX_SSH_CONNECTING:
        tcp_connected(s);
        break;
    case ETX_SSH_HANDSHAKE:
    case ETX_SSH_AUTH:
    case ETX_SSH_CHANNEL:
    case ETX_SSH_EXEC:
        etx_ssh__setup_step(s);
        break;
    case ETX_SSH_RUNNING:
    case ETX_SSH_ENDING:
    case ETX_SSH_CLOSING:
        etx_ssh__pump(s);
        break;
    default:
        break;
    }
}

void
etx_ssh__watch(struct etx_ssh *s, bool want_read)
{
    int ev = want_read ? UV_READABLE : 0;
    int rc;

    /* SSH_WRITE_PENDING in ssh_get_status(): libssh holds unsent bytes.
     * (ssh_get_poll_flags() stays "write" after every write, even with
     * nothing left, and would spin the loop.) */
    if (s->session != NULL && (ssh_get_status(s->session) & SSH_WRITE_PENDING))
        ev |= UV_WRITABLE;
    if (ev == s->poll_events)
        return;
    rc =
        ev == 0 ? uv_poll_stop(&s->poll) : uv_poll_start(&s->poll, ev, on_poll);
    if (rc < 0) {
        etx_ssh__fail_sys(s, -rc, "cannot poll the connection to");
        return;
    }
    s->poll_events = ev;
}

/* ---- TCP ---- */

static void
tcp_connected(struct etx_ssh *s)
{
    int so_error = 0;
    socklen_t len = sizeof(so_error);

    if (getsockopt(s->tcp_fd, SOL_SOCKET, SO_ERROR, &so_error, &len) != 0)
        so_error = errno;
    if (so_error == EINPROGRESS)
        return;
    if (so_error != 0) {
        etx_ssh__fail_sys(s, so_error, "cannot connect to");
        return;
    }
    etx_ssh__start_session(s);
}

static void
tcp_connect(struct etx_ssh *s, const struct sockaddr *sa)
{
    struct sockaddr_storage ss = {0};
    socklen_t len = sa->sa_family == AF_INET6 ? sizeof(struct sockaddr_in6)
                                              : sizeof(struct sockaddr_in);
    int rc;

    memcpy(&ss, sa, len);
    if (ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&ss)->sin6_port = htons(s->port);
    else
        ((struct sockaddr_in *)&ss)->sin_port = htons(s->port);
    etx_ssh__set_state(s, ETX_SSH_CONNECTING);
    s->tcp_fd =
        socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->tcp_fd < 0) {
        etx_ssh__fail_sys(s, errno, "cannot make a socket for");
        return;
    }
    if (connect(s->tcp_fd, (struct sockaddr *)&ss, len) != 0 &&
        errno != EINPROGRESS) {
        etx_ssh__fail_sys(s, errno, "cannot connect to");
        return;
    }
    rc = uv_poll_init_socket(s->loop, &s->poll, s->tcp_fd);
    if (rc < 0) {
        etx_ssh__fail_sys(s, -rc, "cannot poll the connection to");
        return;
    }
    s->poll.data = s;
    s->poll_open = true;
    s->pending++;
    rc = uv_poll_start(&s->poll, UV_WRITABLE, on_poll);
    if (rc < 0) {
        etx_ssh__fail_sys(s, -rc, "cannot poll the connection to");
        return;
    }
    s->poll_events = UV_WRITABLE;
}

static void
on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *ai)
{
    struct etx_ssh *s = req->data;
    struct etx_error err = {0};

    s->gai_busy = false;
    s->pending--;
    if (s->state == ETX_SSH_DONE) {
        uv_freeaddrinfo(ai);
        if (s->pending == 0)
            finish(s);
        return;
    }
    if (status < 0 || ai == NULL) {
        etx_error_set(&err, ETX_CLASS_TRANSIENT, EHOSTUNREACH, "ssh-connect",
                      s->name, "cannot resolve %s: %s", s->address,
                      uv_strerror(status));
        etx_ssh__fail(s, &err);
    } else
        tcp_connect(s, ai->ai_addr);
    uv_freeaddrinfo(ai);
}

static void
begin_connect(struct etx_ssh *s)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM};
    struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
    struct sockaddr_in in4 = {.sin_family = AF_INET};
    int rc;

    if (uv_inet_pton(AF_INET, s->address, &in4.sin_addr) == 0) {
        tcp_connect(s, (struct sockaddr *)&in4);
        return;
    }
    if (uv_inet_pton(AF_INET6, s->address, &in6.sin6_addr) == 0) {
        tcp_connect(s, (struct sockaddr *)&in6);
        return;
    }
    s->gai.data = s;
    rc =
        uv_getaddrinfo(s->loop, &s->gai, on_resolved, s->address, NULL, &hints);
    if (rc < 0) {
        etx_ssh__fail_sys(s, -rc, "cannot resolve");
        return;
    }
    s->gai_busy = true;
    s->pending++;
}

/* ---- public ---- */

struct etx_ssh *
etx_ssh_open(uv_loop_t *loop, const struct etx_ssh_target *t,
             const struct etx_ssh_cbs *cbs, struct etx_error *err)
{
    const char *name = t != NULL && t->name != NULL ? t->name : "ssh";
    struct etx_ssh *s = NULL;

    if (loop == NULL || t == NULL || cbs == NULL || cbs->open == NULL ||
        cbs->closed == NULL) {
        etx_error_set(err, ETX_CLASS_INTERNAL, 0, "ssh-connect", name,
                      "etx_ssh_open needs a loop, a target and callbacks");
        return NULL;
    }
    if (t->address == NULL || t->address[0] == '\0' ||
        (t->push_agent && (t->local_agent == NULL || !t->local_agent[0]))) {
        etx_error_set(err, ETX_CLASS_INPUT, 0, "ssh-connect", name, "%s",
                      t->push_agent && t->address != NULL && t->address[0]
                          ? "push_agent needs the local agent binary"
                          : "the host has no address to connect to");
        return NULL;
    }
    s = calloc(1, sizeof(*s));
    if (s == NULL || copy_target(s, t) != ETX_OK) {
        if (s != NULL)
            free_ssh(s);
        etx_error_sys(err, ENOMEM, ETX_CTX_NET, "ssh-connect", name,
                      "cannot connect");
        return NULL;
    }
    s->loop = loop;
    s->cbs = *cbs;
    s->tcp_fd = s->lib_fd = s->local_fd = -1;
    s->exit_status = -1;
    s->started = uv_now(loop);
    uv_timer_init(loop, &s->timer);
    s->timer.data = s;
    s->pending = 1;
    etx_ssh__deadline(s, s->timeout_ms);
    begin_connect(s);
    return s;
}

void
etx_ssh_close(struct etx_ssh *s)
{
    if (s == NULL || s->by_caller || s->state == ETX_SSH_DONE)
        return;
    s->by_caller = true;
    if (s->state == ETX_SSH_RUNNING || s->state == ETX_SSH_ENDING)
        etx_ssh__close_start(s);
    else
        etx_ssh__teardown(s);
}

const char *
etx_ssh_command(const struct etx_ssh *s)
{
    return s->state >= ETX_SSH_RUNNING ? s->command : NULL;
}

bool
etx_ssh_pushed(const struct etx_ssh *s)
{
    return s->pushed;
}
