/* SPDX-License-Identifier: MIT */
/*
 * The pure half of push_agent over SSH (coordinator/sshpush.h): the
 * command lines we send to a host's login shell, each word single-quoted
 * so that nothing in it is expanded there, the strict parser of the
 * probe's answer and the check that a host can run our agent binary. No
 * I/O besides uname(2).
 *
 * Everything the parser reads comes from the network: a host's answer is
 * hostile input, bounded and checked byte by byte before it is used
 * (tests/fuzz/fuzz_sshprobe.c).
 */
#ifndef ETX_COORDINATOR_SSHCMD_H
#define ETX_COORDINATOR_SSHCMD_H

#include <stdbool.h>
#include <stddef.h>

#include "proto/error.h"

/* Size for a command line; the probe refuses an agent path longer. */
#define ETX_SSHCMD_MAX       4096
#define ETX_SSHCMD_PROBE_MAX (2 * ETX_SSHCMD_MAX) /* size for the probe's */
#define ETX_SSHCMD_NAME_MAX  64 /* longest uname -s / -m a probe accepts */

/*
 * True when s can be one word of a remote command: not NULL, not empty,
 * and holding neither a newline nor a carriage return.
 */
bool etx_sshcmd_one_line(const char *s);

/*
 * Write the remote command "'AGENT' --stdio --config 'CONFIG'" into buf,
 * each word single-quoted for a POSIX shell (an embedded ' becomes '\''),
 * so nothing in either string is expanded there. Fails with
 * ETX_CLASS_INPUT, op "ssh-command" (buf then holds "") when a string is
 * not etx_sshcmd_one_line() or the result does not fit in len bytes.
 */
int etx_sshcmd_command(const char *agent, const char *config, char *buf,
                       size_t len, struct etx_error *err);

/*
 * Write into buf the probe: "/bin/sh -c 'SCRIPT'", where SCRIPT prints
 * "present" when 'agent' (quoted) names an executable file there and
 * "missing" otherwise, then uname -s and uname -m, one per line, with
 * stderr dropped. /bin/sh runs it whatever the login shell is. False
 * (buf then holds "" when len > 0) when agent is not
 * etx_sshcmd_one_line(), the script does not fit in ETX_SSHCMD_MAX bytes
 * or the command does not fit in len (ETX_SSHCMD_PROBE_MAX is enough for
 * any script that fits).
 */
bool etx_sshcmd_probe_command(const char *agent, char *buf, size_t len);

/*
 * Write into buf "mv -f 'FROM' 'TO' 2>&1", both paths quoted. False (buf
 * then holds "" when len > 0) when a path is not etx_sshcmd_one_line()
 * or the command does not fit in len bytes.
 */
bool etx_sshcmd_mv_command(const char *from, const char *to, char *buf,
                           size_t len);

/* What the probe found on a host. */
struct etx_sshcmd_probe {
    bool present;                          /* the agent runs there */
    char sys[ETX_SSHCMD_NAME_MAX + 1];     /* uname -s */
    char machine[ETX_SSHCMD_NAME_MAX + 1]; /* uname -m */
};

/*
 * Parse the probe's standard output 'out' (len bytes, not NUL-terminated,
 * untrusted): exactly three lines, "present" or "missing", uname -s and
 * uname -m, each up to ETX_SSHCMD_NAME_MAX characters of [A-Za-z0-9._-]
 * and each ending in '\n'. Anything else fails with ETX_CLASS_INPUT, op
 * "ssh-probe", where 'name', and leaves *p zeroed.
 */
int etx_sshcmd_parse_probe(const char *name, const char *out, size_t len,
                           struct etx_sshcmd_probe *p, struct etx_error *err);

/*
 * Succeed when a host whose uname -s / -m are 'sys' / 'machine' can run
 * our agent binary, that is when both equal ours (uname(2)); otherwise
 * fail with ETX_CLASS_PLACEMENT, op "ssh-push", where 'name', naming both
 * platforms.
 */
int etx_sshcmd_check_platform(const char *name, const char *sys,
                              const char *machine, struct etx_error *err);

#endif /* ETX_COORDINATOR_SSHCMD_H */
