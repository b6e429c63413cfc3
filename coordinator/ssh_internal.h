/* SPDX-License-Identifier: MIT */
/*
 * Internals of the SSH carrier shared by coordinator/ssh.c (life cycle,
 * TCP, timer, teardown), coordinator/ssh_setup.c (the libssh steps from
 * handshake to exec) and coordinator/ssh_pump.c (the byte pump between the
 * agent's channel and the caller's socket, and the agent's end). Not for
 * other modules: they use coordinator/ssh.h.
 */
#ifndef ETX_COORDINATOR_SSH_INTERNAL_H
#define ETX_COORDINATOR_SSH_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <uv.h>

#include "coordinator/ssh.h"
#include "proto/error.h"

#define ETX_SSH_PUMP_BUF      (32u * 1024u) /* bytes buffered each way */
#define ETX_SSH_STDERR_TAIL   512u          /* agent stderr kept for errors */
#define ETX_SSH_END_WAIT_MS   3000u /* agent ended: drain, exit status */
#define ETX_SSH_CLOSE_WAIT_MS 2000u /* etx_ssh_close(): flush, agent ends */

/* One state per step, in happy-path order (STYLE R7). */
enum etx_ssh_state {
    ETX_SSH_RESOLVING,  /* uv_getaddrinfo for a DNS name */
    ETX_SSH_CONNECTING, /* non-blocking TCP connect */
    ETX_SSH_HANDSHAKE,  /* ssh_connect(): banner, key exchange */
    ETX_SSH_AUTH,       /* host key accepted; user authentication */
    ETX_SSH_PUSH,       /* etx_sshpush_prepare() on the thread pool */
    ETX_SSH_CHANNEL,    /* opening the session channel */
    ETX_SSH_EXEC,       /* exec request for the agent's command */
    ETX_SSH_RUNNING,    /* the agent runs: bytes are pumped */
    ETX_SSH_ENDING,     /* the agent closed its output: drain, status */
    ETX_SSH_CLOSING,    /* etx_ssh_close(): flush, EOF, agent's end */
    ETX_SSH_DONE,       /* handles closing; closed() comes last */
    ETX_SSH_STATE_COUNT
};

/* A bounded byte queue: bytes data[off, off + len). */
struct etx_ssh_buf {
    size_t off;
    size_t len;
    char data[ETX_SSH_PUMP_BUF];
};

/* Running state, allocated when the agent starts. */
struct etx_ssh_pump {
    struct etx_ssh_buf to_agent;        /* from the caller's socket */
    struct etx_ssh_buf to_local;        /* the agent's stdout */
    char err_tail[ETX_SSH_STDERR_TAIL]; /* last stderr bytes */
    size_t err_len;
    uint64_t out_bytes; /* agent stdout bytes ever received */
    bool local_eof;     /* the caller's end said end of file */
    bool local_gone;    /* the caller's end refuses bytes: discard */
    bool eof_sent;      /* channel EOF queued */
    bool remote_eof;    /* the agent's stdout ended */
};

struct etx_ssh {
    uv_loop_t *loop;
    struct etx_ssh_cbs cbs;
    enum etx_ssh_state state; /* set only by etx_ssh__set_state() */

    /* The target, copied. */
    char *name;
    char *address;
    char *user;
    char *identity_file;
    char *known_hosts; /* "~/" already expanded */
    char *agent_path;
    char *agent_config;
    char *push_dir;
    char *local_agent;
    uint16_t port;
    bool accept_new;
    bool push_agent;
    uint64_t timeout_ms;
    uint64_t started; /* uv_now() at etx_ssh_open() */

    /* Connection. */
    int tcp_fd; /* ours; 'poll' watches it */
    int lib_fd; /* a dup given to libssh, which may close it itself */
    ssh_session session;
    ssh_channel channel;
    ssh_key key; /* identity_file, loaded on first use */
    struct ssh_channel_callbacks_struct chan_cbs;
    char *command; /* the remote command once known */
    bool pushed;

    /* The agent's end as the channel reports it. */
    int exit_status; /* -1 until the exit-status message */
    char exit_signal[32];
    bool remote_closed;

    struct etx_ssh_pump *pump; /* NULL until the agent runs */
    int local_fd;              /* our end of the socket pair, or -1 */

    /* libuv: open handles and a running getaddrinfo count in 'pending';
     * a running push (work_busy) defers the teardown instead. */
    uv_timer_t timer;
    uv_poll_t poll;
    uv_poll_t local_poll;
    uv_getaddrinfo_t gai;
    uv_work_t work;
    bool poll_open;
    bool local_poll_open;
    bool gai_busy;
    bool work_busy;
    unsigned pending;
    int poll_events; /* interest now set on 'poll' */
    int local_events;

    /* push_agent: the worker thread writes only these; the loop reads
     * them after the work is done. */
    uint64_t push_timeout_ms;
    int push_rc;
    struct etx_error push_err;
    char *push_cmd;
    bool push_pushed;
    bool stop_after_work; /* tear down once the worker is back */

    struct etx_error why; /* the reason, once failed */
    bool failed;
    bool by_caller; /* etx_ssh_close() or the caller's EOF + exit 0 */
};

/* The only assignment of s->state; asserts the move is allowed. */
void etx_ssh__set_state(struct etx_ssh *s, enum etx_ssh_state to);

/*
 * Record 'why' (the first reason wins) and tear the connection down;
 * closed(why) follows from the loop.
 */
void etx_ssh__fail(struct etx_ssh *s, const struct etx_error *why);

/* etx_ssh__fail() with an errno: "WHAT ADDRESS port PORT: strerror". */
void etx_ssh__fail_sys(struct etx_ssh *s, int sys_errno, const char *what);

/*
 * Tear down; closed() follows from the loop and reports s->why, or NULL
 * when none was set or the caller closed. While a push runs, the socket is
 * shut down and the teardown waits for the worker.
 */
void etx_ssh__teardown(struct etx_ssh *s);

/* TCP is connected: make the libssh session and start the handshake. */
void etx_ssh__start_session(struct etx_ssh *s);

/* Re-enter the pending libssh setup call (handshake to exec). */
void etx_ssh__setup_step(struct etx_ssh *s);

/* Set the interest of the SSH socket poll from libssh's wants. */
void etx_ssh__watch(struct etx_ssh *s, bool want_read);

/*
 * The exec was accepted: make the socket pair, start pumping and give the
 * caller its end through cbs->open. ETX_ERR with err set when it cannot.
 */
int etx_ssh__run(struct etx_ssh *s, struct etx_error *err);

/* libssh's channel data callback (ssh_channel_data_callback). */
int etx_ssh__on_data(ssh_session ses, ssh_channel ch, void *data, uint32_t len,
                     int is_stderr, void *arg);

/* Move bytes both ways as far as they go; handles the agent's end. */
void etx_ssh__pump(struct etx_ssh *s);

/* etx_ssh_close() while the agent runs: flush, EOF, wait, teardown. */
void etx_ssh__close_start(struct etx_ssh *s);

/* ETX_SSH_ENDING timed out: report the agent's end with what we have. */
void etx_ssh__end_timeout(struct etx_ssh *s);

/* Arm the shared timer for ms milliseconds (replacing any deadline). */
void etx_ssh__deadline(struct etx_ssh *s, uint64_t ms);

#endif /* ETX_COORDINATOR_SSH_INTERNAL_H */
