/* SPDX-License-Identifier: MIT */
/*
 * The SSH carrier (../shared/DESIGN.md "Two carriers"): one SSH connection
 * to one host, made with libssh in non-blocking mode on the caller's libuv
 * loop, that runs `etxroll-agent --stdio` there and hands the caller a
 * local socket carrying the agent's stdin/stdout, on which the caller
 * speaks the ordinary frames (proto/conn.h etx_conn_open_stdio()). No
 * libssh call blocks the loop: the handshake, host key check, user
 * authentication, channel and exec are a state machine driven by uv_poll
 * on the SSH socket; only the SFTP upload of push_agent, which libssh
 * offers blocking only, runs on the libuv thread pool while the loop
 * leaves the session alone.
 */
#ifndef ETX_COORDINATOR_SSH_H
#define ETX_COORDINATOR_SSH_H

#include <stdbool.h>
#include <stdint.h>

#include <uv.h>

#include "proto/error.h"

struct etx_ssh; /* opaque */

#define ETX_SSH_TIMEOUT_MS   15000u /* connect to exec, push included */
#define ETX_SSH_PUSH_DIR     ".cache/etxroll" /* under the login's home */
#define ETX_SSH_AGENT_CONFIG "/etc/etxroll/agent.yml"

/* Everything is borrowed for the call to etx_ssh_open() (copied). */
struct etx_ssh_target {
    const char *name;          /* the host's inventory name, for errors */
    const char *address;       /* DNS name or IP literal; also the name
                                * looked up in known_hosts */
    uint16_t port;             /* 0: 22 */
    const char *user;          /* NULL: the caller's login name */
    const char *identity_file; /* NULL: the user's ssh-agent
                                * (SSH_AUTH_SOCK) */
    const char *known_hosts;   /* NULL: ~/.ssh/known_hosts; "~/" is
                                * expanded; the only file consulted
                                * (no ssh_config, no global file) */
    bool accept_new;           /* learn an unknown host key (OpenSSH's
                                * StrictHostKeyChecking=accept-new);
                                * a changed key is refused regardless */
    const char *agent_path;    /* remote agent command; NULL:
                                * "etxroll-agent" */
    const char *agent_config;  /* remote agent config; NULL:
                                * ETX_SSH_AGENT_CONFIG */
    bool push_agent;           /* upload local_agent when agent_path is
                                * missing on the host */
    const char *push_dir;      /* remote cache dir; NULL: ETX_SSH_PUSH_DIR */
    const char *local_agent;   /* our etxroll-agent binary (push_agent) */
    uint64_t timeout_ms;       /* 0: ETX_SSH_TIMEOUT_MS */
};

/*
 * The agent runs: 'fd' is the local end of a socket pair (O_CLOEXEC,
 * non-blocking) that carries its stdin/stdout; the callee owns fd (give
 * it to etx_conn_open_stdio() as both fd[0] and fd[1]). Called at most
 * once.
 */
typedef void (*etx_ssh_open_cb)(struct etx_ssh *s, int fd, void *arg);

/*
 * The connection is over; called exactly once, after which s is freed.
 * 'why' (borrowed for the call) is NULL after etx_ssh_close(), and when
 * the agent exited 0 after the caller closed its end of the socket (a
 * clean end); otherwise the reason, with err->where the host's name:
 *   ETX_CLASS_TRANSIENT  connect refused or timed out, a dropped
 *                        connection, the agent killed by a signal or
 *                        ending on its own with another status:
 *                        retrying later may help;
 *   ETX_CLASS_INPUT      host key unknown (strict) or changed, user
 *                        authentication refused, the agent missing
 *                        without push_agent, the remote agent's usage or
 *                        config error (exit 2): the message says what to
 *                        do and ends with the agent's last stderr line
 *                        when it wrote one;
 *   ETX_CLASS_PLACEMENT  push_agent to a host of another OS or machine
 *                        architecture;
 *   ETX_CLASS_INTEGRITY  the pushed agent read back with another digest.
 * When the agent ends on its own, the reason arrives before the local
 * socket sees end of file.
 */
typedef void (*etx_ssh_closed_cb)(struct etx_ssh *s,
                                  const struct etx_error *why, void *arg);

struct etx_ssh_cbs {
    etx_ssh_open_cb open;     /* required */
    etx_ssh_closed_cb closed; /* required */
    void *arg;
};

/*
 * Start connecting to t->address:t->port. Returns the connection, or NULL
 * with err set for a target that cannot work (no address, push_agent
 * without local_agent). Later failures come through cbs->closed.
 */
struct etx_ssh *etx_ssh_open(uv_loop_t *loop, const struct etx_ssh_target *t,
                             const struct etx_ssh_cbs *cbs,
                             struct etx_error *err);

/*
 * Close the channel and the session: what the caller wrote to its socket
 * before the call is still passed on, then end of file, and once the
 * agent has ended (it exits on end of file; at most 2 s) the session is
 * disconnected; cbs->closed(s, NULL) follows from the loop. Safe from
 * inside either callback; a second call is a no-op.
 */
void etx_ssh_close(struct etx_ssh *s);

/* The remote command in use ("etxroll-agent --stdio --config ..."), or
 * NULL before the agent runs. For logs. */
const char *etx_ssh_command(const struct etx_ssh *s);

/* True when this connection pushed (or reused a pushed) agent. */
bool etx_ssh_pushed(const struct etx_ssh *s);

#endif /* ETX_COORDINATOR_SSH_H */
