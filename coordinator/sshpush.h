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
 *
 * The command lines it sends and the parser of the probe's answer are
 * coordinator/sshcmd.h.
 */
#ifndef ETX_COORDINATOR_SSHPUSH_H
#define ETX_COORDINATOR_SSHPUSH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libssh/libssh.h>

#include "proto/error.h"

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
 * exec channel (etx_sshcmd_probe_command()); when agent_path runs there,
 * write etx_sshcmd_command(agent_path, agent_config) into cmd and set
 * *pushed false. Otherwise check the platform, then reuse or upload our agent
 * as PUSH_DIR/etxroll-agent-<hex16> (absolute, canonical) over SFTP and write
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
 * etx_sshcmd_command() refusals; a local agent that cannot be read gets
 * the class of its errno (op "ssh-digest"). A temporary file is removed
 * on every failure while the connection lasts.
 */
int etx_sshpush_prepare(ssh_session s, const struct etx_sshpush_req *req,
                        char *cmd, size_t cmd_len, bool *pushed,
                        struct etx_error *err);

#endif /* ETX_COORDINATOR_SSHPUSH_H */
