/* SPDX-License-Identifier: MIT */
/*
 * push_agent for the SSH carrier (coordinator/ssh.h): make sure a host can
 * run `etxroll-agent --stdio`, uploading our own agent binary over SFTP
 * when it is missing there, and give back the remote command line that
 * starts it. Blocking libssh calls only, so it runs on a worker thread
 * (uv_queue_work) while the loop leaves the session alone.
 *
 * The upload follows the rename strategy: the binary goes to a temporary
 * name in the push directory, is read back and checked against our
 * SHA-256, and is renamed onto PUSH_DIR/etxroll-agent-<16 hex of its
 * SHA-256>, so a file that may be executing is never written into and a
 * name always holds the one binary its digest names.
 */
#ifndef ETX_COORDINATOR_SSHPUSH_H
#define ETX_COORDINATOR_SSHPUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>

#include "proto/error.h"

#define ETX_SSHPUSH_CMD_MAX  4096 /* size for cmd; the probe refuses longer */
#define ETX_SSHPUSH_NAME_MAX 64   /* longest uname -s / -m a probe accepts */

/*
 * Write the remote command "'AGENT' --stdio --config 'CONFIG'" into buf,
 * each word single-quoted for a POSIX shell (an embedded ' becomes '\''),
 * so nothing in either string is expanded there. Fails with
 * ETX_CLASS_INPUT, op "ssh-command" (buf then holds "") when a string is
 * empty or holds a newline or a carriage return, or the result does not
 * fit in len bytes.
 */
int etx_sshpush_command(const char *agent, const char *config, char *buf,
                        size_t len, struct etx_error *err);

/* What the probe found on a host. */
struct etx_sshpush_probe {
    bool present;                           /* agent_path runs there */
    char sys[ETX_SSHPUSH_NAME_MAX + 1];     /* uname -s */
    char machine[ETX_SSHPUSH_NAME_MAX + 1]; /* uname -m */
};

/*
 * Parse the probe's standard output 'out' (len bytes, not NUL-terminated,
 * untrusted): exactly three lines, "present" or "missing", uname -s and
 * uname -m, each up to ETX_SSHPUSH_NAME_MAX characters of [A-Za-z0-9._-]
 * and each ending in '\n'. Anything else fails with ETX_CLASS_INPUT, op
 * "ssh-probe", where 'name'.
 */
int etx_sshpush_parse_probe(const char *name, const char *out, size_t len,
                            struct etx_sshpush_probe *p, struct etx_error *err);

/*
 * Succeed when a host whose uname -s / -m are 'sys' / 'machine' can run
 * our agent binary, that is when both equal ours (uname(2)); otherwise
 * fail with ETX_CLASS_PLACEMENT, op "ssh-push", where 'name', naming both
 * platforms.
 */
int etx_sshpush_check_platform(const char *name, const char *sys,
                               const char *machine, struct etx_error *err);

/* Everything is borrowed for the call. */
struct etx_sshpush_req {
    const char *name;         /* the host's name, for errors */
    const char *agent_path;   /* the remote agent command, name or path */
    const char *agent_config; /* the remote agent's config file */
    const char *push_dir;     /* remote cache dir, absolute or relative to
                               * the login's home; made mode 0700 */
    const char *local_agent;  /* our etxroll-agent binary */
    uint64_t timeout_ms;      /* deadline for the whole call, checked
                               * between requests; 0: none of our own */
};

/*
 * On a connected, authenticated session 's' in BLOCKING mode, owned by the
 * caller and used by nobody else during the call: probe the host with one
 * exec channel; when agent_path runs there, write
 * etx_sshpush_command(agent_path, agent_config) into cmd and set *pushed
 * false. Otherwise check the platform, then reuse or upload our agent as
 * PUSH_DIR/etxroll-agent-<hex16> (absolute, canonical) over SFTP and write
 * the command that runs it, with *pushed true; a stale copy there is
 * replaced by rename(2) run as `mv -f` on the host, since the SFTP rename
 * of libssh 0.10 (protocol 3) refuses to replace a file. Opens and closes
 * its own channels; 's' stays connected unless the connection failed. On
 * failure cmd holds "" and *pushed is false.
 *
 * Errors: err->where = req->name; op "ssh-command", "ssh-probe",
 * "ssh-push" or "ssh-digest"; class TRANSIENT for a failed or timed-out
 * connection, PLACEMENT for another platform or what the host's files refuse (a
 * file in the way of the push dir, permissions, a full disk), INTEGRITY when
 * the uploaded copy reads back with another digest, INPUT for a probe
 * answer that is not ours (does a login script print?) and the
 * etx_sshpush_command() refusals; a local agent that cannot be read gets
 * the class of its errno (op "ssh-digest"). A temporary file is removed
 * on every failure while the connection lasts.
 */
int etx_sshpush_prepare(ssh_session s, const struct etx_sshpush_req *req,
                        char *cmd, size_t cmd_len, bool *pushed,
                        struct etx_error *err);

#endif /* ETX_COORDINATOR_SSHPUSH_H */
