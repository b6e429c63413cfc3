/* SPDX-License-Identifier: MIT */
/*
 * The SSH carrier while the agent runs: a byte pump between the agent's
 * channel and our end of a socket pair whose other end the caller speaks
 * frames on, with a bounded buffer each way; the last bytes of the
 * agent's stderr are kept for error messages. When the agent ends, its
 * exit status says why (ssh.h), and the caller's end sees end of file only
 * after closed() was called.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "coordinator/ssh_internal.h"

static size_t
buf_space(const struct etx_ssh_buf *b)
{
    return sizeof(b->data) - b->off - b->len;
}

/* Move the queued bytes to the front so that all free space is at the end. */
static void
buf_compact(struct etx_ssh_buf *b)
{
    if (b->off > 0 && b->len > 0)
        memmove(b->data, b->data + b->off, b->len);
    b->off = 0;
}

static void
buf_consume(struct etx_ssh_buf *b, size_t n)
{
    b->off += n;
    b->len -= n;
    if (b->len == 0)
        b->off = 0;
}

/* Keep the last ETX_SSH_STDERR_TAIL bytes of the agent's stderr. */
static void
keep_tail(struct etx_ssh_pump *p, const char *data, size_t n)
{
    size_t cap = sizeof(p->err_tail), drop;

    if (n >= cap) {
        memcpy(p->err_tail, data + n - cap, cap);
        p->err_len = cap;
        return;
    }
    if (p->err_len + n > cap) {
        drop = p->err_len + n - cap;
        memmove(p->err_tail, p->err_tail + drop, p->err_len - drop);
        p->err_len -= drop;
    }
    memcpy(p->err_tail + p->err_len, data, n);
    p->err_len += n;
}

/* The agent's last non-empty stderr line, printable, or "". */
static void
last_line(const struct etx_ssh_pump *p, char *out, size_t len)
{
    size_t end = p->err_len, start, n, i;

    while (end > 0 &&
           (p->err_tail[end - 1] == '\n' || p->err_tail[end - 1] == '\r' ||
            p->err_tail[end - 1] == ' '))
        end--;
    start = end;
    while (start > 0 && p->err_tail[start - 1] != '\n')
        start--;
    n = end - start < len - 1 ? end - start : len - 1;
    for (i = 0; i < n; i++) {
        char c = p->err_tail[start + i];

        out[i] = c >= 0x20 && c < 0x7f ? c : '?';
    }
    out[n] = '\0';
}

static int
lost(struct etx_ssh *s, struct etx_error *err)
{
    return etx_error_set(err, ETX_CLASS_TRANSIENT, ECONNRESET, "ssh-session",
                         s->name, "lost the SSH connection to %s port %u: %s",
                         s->address, (unsigned)s->port,
                         ssh_get_error(s->session));
}

/* Caller's socket -> to_agent, while there is room. */
static void
read_local(struct etx_ssh *s)
{
    struct etx_ssh_pump *p = s->pump;
    struct etx_ssh_buf *b = &p->to_agent;
    ssize_t n;

    buf_compact(b);
    while (!p->local_eof && buf_space(b) > 0) {
        n = recv(s->local_fd, b->data + b->len, buf_space(b), MSG_DONTWAIT);
        if (n > 0)
            b->len += (size_t)n;
        else if (n == 0)
            p->local_eof = true;
        else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            /* Closing: what the caller wrote before etx_ssh_close(). */
            p->local_eof = s->state == ETX_SSH_CLOSING;
            break;
        } else if (errno != EINTR)
            p->local_eof = p->local_gone = true;
    }
}

/* to_agent -> channel, within the window and only while libssh has sent
 * everything before: its own output buffer stays bounded. */
static int
write_agent(struct etx_ssh *s, struct etx_error *err)
{
    struct etx_ssh_pump *p = s->pump;
    struct etx_ssh_buf *b = &p->to_agent;
    uint32_t win, n;
    int rc;

    if (s->remote_closed)
        b->len = 0; /* nobody reads it any more */
    while (b->len > 0 && !(ssh_get_status(s->session) & SSH_WRITE_PENDING)) {
        win = ssh_channel_window_size(s->channel);
        if (win == 0)
            break;
        n = b->len < win ? (uint32_t)b->len : win;
        rc = ssh_channel_write(s->channel, b->data + b->off, n);
        if (rc == SSH_ERROR)
            return lost(s, err);
        if (rc == 0)
            break;
        buf_consume(b, (size_t)rc);
    }
    if (p->local_eof && b->len == 0 && !p->eof_sent && !s->remote_closed) {
        /* SSH_AGAIN still queued the EOF; it is flushed later. */
        if (ssh_channel_send_eof(s->channel) == SSH_ERROR)
            return lost(s, err);
        p->eof_sent = true;
    }
    return ETX_OK;
}

/* Append agent stdout to to_local as far as it fits (all of it, dropped,
 * once the caller is gone); the bytes taken. */
static uint32_t
take_stdout(struct etx_ssh_pump *p, const char *data, uint32_t len)
{
    struct etx_ssh_buf *b = &p->to_local;
    size_t n = len;

    if (!p->local_gone) {
        buf_compact(b);
        n = len < buf_space(b) ? len : buf_space(b);
        memcpy(b->data + b->len, data, n);
        b->len += n;
    }
    p->out_bytes += n;
    return (uint32_t)n;
}

/*
 * libssh hands over channel data from whichever call reads the socket, so
 * none waits unseen in its buffers while we wait for the socket: stderr
 * into the tail, stdout into to_local while there is room. Bytes not
 * taken stay at the front of libssh's buffer, for read_agent().
 */
int
etx_ssh__on_data(ssh_session ses, ssh_channel ch, void *data, uint32_t len,
                 int is_stderr, void *arg)
{
    struct etx_ssh *s = arg;

    (void)ses;
    (void)ch;
    if (s->pump == NULL)
        return 0; /* before the pump exists: read later */
    if (is_stderr) {
        keep_tail(s->pump, data, len);
        return (int)len;
    }
    return (int)take_stdout(s->pump, data, len);
}

/*
 * Stdout libssh kept while to_local was full. ssh_channel_poll() reads
 * the socket only when libssh holds none (new data then comes through
 * etx_ssh__on_data(), taking room); a read of at most what it reports
 * and the room left after it only copies, so nothing is lost or
 * reordered.
 */
static int
read_agent(struct etx_ssh *s, struct etx_error *err)
{
    struct etx_ssh_pump *p = s->pump;
    struct etx_ssh_buf *b = &p->to_local;
    char tmp[4096];
    size_t room;
    int rc;

    while (!p->remote_eof) {
        rc = ssh_channel_poll(s->channel, 0);
        if (rc == SSH_EOF || (rc == SSH_ERROR && s->remote_closed))
            p->remote_eof = true;
        else if (rc == SSH_ERROR)
            return lost(s, err);
        if (rc <= 0)
            break;
        buf_compact(b);
        room = p->local_gone ? sizeof(tmp) : buf_space(b);
        if ((size_t)rc < room)
            room = (size_t)rc;
        if (room == 0)
            break;
        rc = ssh_channel_read_nonblocking(
            s->channel, p->local_gone ? tmp : b->data + b->len, (uint32_t)room,
            0);
        if (rc == SSH_ERROR)
            return lost(s, err);
        if (rc <= 0)
            break;
        p->out_bytes += (uint64_t)rc;
        if (!p->local_gone)
            b->len += (size_t)rc;
    }
    return ETX_OK;
}

/* to_local -> caller's socket. */
static void
write_local(struct etx_ssh *s)
{
    struct etx_ssh_pump *p = s->pump;
    struct etx_ssh_buf *b = &p->to_local;
    ssize_t n;

    while (b->len > 0 && !p->local_gone) {
        n = send(s->local_fd, b->data + b->off, b->len,
                 MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0)
            buf_consume(b, (size_t)n);
        else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        else if (n < 0 && errno != EINTR)
            p->local_eof = p->local_gone = true;
    }
    if (p->local_gone)
        b->len = b->off = 0;
}

/*
 * Let libssh read the socket and handle what came (exit status, close,
 * window adjusts) without a channel read: after the agent's EOF a channel
 * read returns at once. One poll of the session through a short-lived
 * ssh_event, timeout 0.
 */
static int
drive_input(struct etx_ssh *s, struct etx_error *err)
{
    ssh_event ev = ssh_event_new();
    int rc = SSH_ERROR;

    if (ev == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "ssh-session", s->name,
                             "cannot read from %s", s->address);
    if (ssh_event_add_session(ev, s->session) == SSH_OK)
        rc = ssh_event_dopoll(ev, 0);
    ssh_event_remove_session(ev, s->session);
    ssh_event_free(ev);
    if (rc == SSH_ERROR && !s->remote_closed)
        return lost(s, err);
    return ETX_OK;
}

static int
pump_once(struct etx_ssh *s, struct etx_error *err)
{
    struct etx_ssh_pump *p = s->pump;

    if ((ssh_get_status(s->session) & SSH_WRITE_PENDING) &&
        ssh_blocking_flush(s->session, 0) == SSH_ERROR)
        return lost(s, err);
    /* Channel reads make libssh read the socket, except after the EOF or
     * when there is no room for stdout: then the socket is read here so
     * that its readiness never spins the loop. */
    if ((p->remote_eof || s->state != ETX_SSH_RUNNING ||
         p->to_local.len == sizeof(p->to_local.data)) &&
        drive_input(s, err) != ETX_OK)
        return ETX_ERR;
    if (s->state == ETX_SSH_RUNNING || s->state == ETX_SSH_CLOSING)
        read_local(s);
    if (write_agent(s, err) != ETX_OK || read_agent(s, err) != ETX_OK)
        return ETX_ERR;
    write_local(s);
    if ((ssh_get_status(s->session) & SSH_CLOSED_ERROR) && !s->remote_closed)
        return lost(s, err);
    return ETX_OK;
}

/* The agent is over: say why, from its exit and its last stderr line. */
static void
agent_ended(struct etx_ssh *s)
{
    struct etx_ssh_pump *p = s->pump;
    struct etx_error err = {0};
    char line[240], tail[250];

    last_line(p, line, sizeof(line));
    snprintf(tail, sizeof(tail), "%s%s", line[0] != '\0' ? ": " : "", line);
    if (s->exit_signal[0] != '\0')
        etx_error_set(&err, ETX_CLASS_TRANSIENT, 0, "ssh-agent", s->name,
                      "the agent on %s was killed by %s%s", s->address,
                      s->exit_signal, tail);
    else if (s->exit_status == 0 && p->eof_sent) {
        s->by_caller = true; /* the caller ended the session */
        etx_ssh__teardown(s);
        return;
    } else if (s->exit_status == 127 && p->out_bytes == 0)
        etx_error_set(
            &err, ETX_CLASS_INPUT, 0, "ssh-agent", s->name,
            "the agent is not installed on %s (%s: exit 127): install "
            "etxroll-agent there (docs/agent.md) or set "
            "transport.push_agent: true%s",
            s->address, s->agent_path, tail);
    else if (s->exit_status == 2)
        etx_error_set(&err, ETX_CLASS_INPUT, 0, "ssh-agent", s->name,
                      "the agent on %s refused its command line or its "
                      "config %s (exit 2)%s",
                      s->address, s->agent_config, tail);
    else if (s->exit_status < 0)
        etx_error_set(&err, ETX_CLASS_TRANSIENT, ECONNRESET, "ssh-agent",
                      s->name,
                      "the agent on %s ended without an exit "
                      "status%s",
                      s->address, tail);
    else
        etx_error_set(&err, ETX_CLASS_TRANSIENT, 0, "ssh-agent", s->name,
                      "the agent on %s exited with status %d%s", s->address,
                      s->exit_status, tail);
    etx_ssh__fail(s, &err);
}

void
etx_ssh__end_timeout(struct etx_ssh *s)
{
    struct etx_error err = {0};

    if (s->exit_status >= 0 || s->exit_signal[0] != '\0') {
        agent_ended(s);
        return;
    }
    etx_error_set(&err, ETX_CLASS_TRANSIENT, ETIMEDOUT, "ssh-agent", s->name,
                  "the agent on %s closed its output but did not end "
                  "within %u ms",
                  s->address, ETX_SSH_END_WAIT_MS);
    etx_ssh__fail(s, &err);
}

/* The agent's output ended: wait (bounded) for its status, then report. */
static void
check_end(struct etx_ssh *s)
{
    struct etx_ssh_pump *p = s->pump;

    if (!p->remote_eof && !s->remote_closed)
        return;
    if (s->state == ETX_SSH_RUNNING) {
        etx_ssh__set_state(s, ETX_SSH_ENDING);
        etx_ssh__deadline(s, ETX_SSH_END_WAIT_MS);
    }
    /* The channel's close comes after all of its data and the status;
     * remote_eof says libssh holds no more of it. */
    if (s->remote_closed && p->remote_eof && p->to_local.len == 0)
        agent_ended(s);
}

/*
 * etx_ssh_close(): once the caller's bytes and the EOF are passed on, wait
 * for the agent to end (its channel close): a disconnect any earlier
 * would make sshd drop what it has not yet written to the agent's stdin.
 * The timer bounds the wait.
 */
static void
closing_step(struct etx_ssh *s)
{
    if (s->remote_closed && !(ssh_get_status(s->session) & SSH_WRITE_PENDING))
        etx_ssh__teardown(s);
}

static void on_local_poll(uv_poll_t *h, int status, int events);

static void
watch_local(struct etx_ssh *s)
{
    struct etx_ssh_pump *p = s->pump;
    int ev = 0, rc;

    if ((s->state == ETX_SSH_RUNNING || s->state == ETX_SSH_CLOSING) &&
        !p->local_eof && p->to_agent.len < sizeof(p->to_agent.data))
        ev |= UV_READABLE;
    if (p->to_local.len > 0 && !p->local_gone)
        ev |= UV_WRITABLE;
    if (ev == s->local_events)
        return;
    rc = ev == 0 ? uv_poll_stop(&s->local_poll)
                 : uv_poll_start(&s->local_poll, ev, on_local_poll);
    if (rc < 0) {
        etx_ssh__fail_sys(s, -rc, "cannot poll the local end of");
        return;
    }
    s->local_events = ev;
}

void
etx_ssh__pump(struct etx_ssh *s)
{
    struct etx_error err = {0};

    if (pump_once(s, &err) != ETX_OK) {
        etx_ssh__fail(s, &err);
        return;
    }
    if (s->state == ETX_SSH_CLOSING)
        closing_step(s);
    else
        check_end(s);
    if (s->state == ETX_SSH_DONE)
        return;
    etx_ssh__watch(s, true);
    if (s->state != ETX_SSH_DONE)
        watch_local(s);
}

static void
on_local_poll(uv_poll_t *h, int status, int events)
{
    struct etx_ssh *s = h->data;

    (void)events;
    if (status < 0)
        s->pump->local_eof = s->pump->local_gone = true;
    etx_ssh__pump(s);
}

void
etx_ssh__close_start(struct etx_ssh *s)
{
    struct etx_ssh_pump *p = s->pump;

    etx_ssh__set_state(s, ETX_SSH_CLOSING);
    /* The caller is done: pass on what it wrote, drop what comes back. */
    p->local_gone = true;
    p->to_local.len = p->to_local.off = 0;
    etx_ssh__deadline(s, ETX_SSH_CLOSE_WAIT_MS);
    etx_ssh__pump(s);
}

/* Stderr that came with the exec's answer, before the pump existed. */
static void
take_early_stderr(struct etx_ssh *s)
{
    char tmp[512];
    int rc;

    while ((rc = ssh_channel_read_nonblocking(s->channel, tmp, sizeof(tmp),
                                              1)) > 0)
        keep_tail(s->pump, tmp, (size_t)rc);
}

int
etx_ssh__run(struct etx_ssh *s, struct etx_error *err)
{
    int sv[2] = {-1, -1};
    int rc;

    s->pump = calloc(1, sizeof(*s->pump));
    if (s->pump == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "ssh-exec", s->name,
                             "cannot start the agent's pump");
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
                   sv) != 0)
        return etx_error_sys(err, errno, ETX_CTX_NET, "ssh-exec", s->name,
                             "cannot make the agent's socket pair");
    s->local_fd = sv[0];
    rc = uv_poll_init_socket(s->loop, &s->local_poll, sv[0]);
    if (rc < 0) {
        close(sv[1]);
        return etx_error_sys(err, -rc, ETX_CTX_NET, "ssh-exec", s->name,
                             "cannot poll the agent's socket pair");
    }
    s->local_poll.data = s;
    s->local_poll_open = true;
    s->pending++;
    take_early_stderr(s);
    etx_ssh__set_state(s, ETX_SSH_RUNNING);
    uv_timer_stop(&s->timer);
    s->cbs.open(s, sv[1], s->cbs.arg);
    if (s->state == ETX_SSH_RUNNING)
        etx_ssh__pump(s);
    return ETX_OK;
}
