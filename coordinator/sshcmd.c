/* SPDX-License-Identifier: MIT */
/*
 * Remote command lines and the probe's answer (coordinator/sshcmd.h):
 * POSIX shell quoting, the strict parser of what a host prints (hostile
 * bytes from the network), and the platform check.
 */
#include "coordinator/sshcmd.h"

#include <errno.h>
#include <string.h>
#include <sys/utsname.h>

bool
etx_sshcmd_one_line(const char *s)
{
    return s != NULL && *s != '\0' && strpbrk(s, "\n\r") == NULL;
}

/* Append s to buf at *pos, single-quoted when 'quoted'; false when the
 * result (with its NUL) does not fit in len. */
static bool
append(char *buf, size_t len, size_t *pos, const char *s, bool quoted)
{
    size_t n = *pos;

    if (n >= len)
        return false;
    if (quoted && n + 1 < len)
        buf[n++] = '\'';
    for (; *s != '\0' && n + 1 < len; s++) {
        if (!quoted || *s != '\'') {
            buf[n++] = *s;
        } else if (n + 4 < len) {
            memcpy(buf + n, "'\\''", 4);
            n += 4;
        } else {
            return false;
        }
    }
    if (*s != '\0' || (quoted && n + 1 >= len))
        return false;
    if (quoted)
        buf[n++] = '\'';
    buf[n] = '\0';
    *pos = n;
    return true;
}

/* Give back ok; buf holds "" unless it is true. */
static bool
finish(char *buf, size_t len, bool ok)
{
    if (!ok && len > 0)
        buf[0] = '\0';
    return ok;
}

int
etx_sshcmd_command(const char *agent, const char *config, char *buf, size_t len,
                   struct etx_error *err)
{
    size_t pos = 0;

    finish(buf, len, false);
    if (!etx_sshcmd_one_line(agent) || !etx_sshcmd_one_line(config))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "ssh-command", NULL,
                             "the remote agent path and config must be "
                             "non-empty and on one line");
    if (finish(buf, len,
               append(buf, len, &pos, agent, true) &&
                   append(buf, len, &pos, " --stdio --config ", false) &&
                   append(buf, len, &pos, config, true)))
        return ETX_OK;
    return etx_error_set(err, ETX_CLASS_INPUT, 0, "ssh-command", NULL,
                         "the remote agent command is longer than %zu bytes",
                         len > 0 ? len - 1 : 0);
}

bool
etx_sshcmd_probe_command(const char *agent, char *buf, size_t len)
{
    char script[ETX_SSHCMD_MAX];
    size_t pos = 0;
    size_t at = 0;

    return finish(
        buf, len,
        etx_sshcmd_one_line(agent) &&
            append(script, sizeof(script), &pos,
                   "exec 2>/dev/null; p=$(command -v ", false) &&
            append(script, sizeof(script), &pos, agent, true) &&
            append(script, sizeof(script), &pos,
                   ") && [ -f \"$p\" ] && [ -x \"$p\" ] && echo present "
                   "|| echo missing; uname -s; uname -m",
                   false) &&
            append(buf, len, &at, "/bin/sh -c ", false) &&
            append(buf, len, &at, script, true));
}

bool
etx_sshcmd_mv_command(const char *from, const char *to, char *buf, size_t len)
{
    size_t pos = 0;

    return finish(buf, len,
                  etx_sshcmd_one_line(from) && etx_sshcmd_one_line(to) &&
                      append(buf, len, &pos, "mv -f ", false) &&
                      append(buf, len, &pos, from, true) &&
                      append(buf, len, &pos, " ", false) &&
                      append(buf, len, &pos, to, true) &&
                      append(buf, len, &pos, " 2>&1", false));
}

static bool
name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

/* Copy the line at *at (before end) into dst and move past its '\n';
 * false unless it is 1..ETX_SSHCMD_NAME_MAX name characters. */
static bool
probe_line(const char **at, const char *end, char dst[ETX_SSHCMD_NAME_MAX + 1])
{
    const char *s = *at;
    size_t n = 0;

    while (s + n < end && s[n] != '\n') {
        if (n == ETX_SSHCMD_NAME_MAX || !name_char(s[n]))
            return false;
        dst[n] = s[n];
        n++;
    }
    if (n == 0 || s + n == end)
        return false;
    dst[n] = '\0';
    *at = s + n + 1;
    return true;
}

int
etx_sshcmd_parse_probe(const char *name, const char *out, size_t len,
                       struct etx_sshcmd_probe *p, struct etx_error *err)
{
    char word[ETX_SSHCMD_NAME_MAX + 1];
    const char *at = out;
    const char *end = out + len;

    memset(p, 0, sizeof(*p));
    if (probe_line(&at, end, word) &&
        (strcmp(word, "present") == 0 || strcmp(word, "missing") == 0) &&
        probe_line(&at, end, p->sys) && probe_line(&at, end, p->machine) &&
        at == end) {
        p->present = strcmp(word, "present") == 0;
        return ETX_OK;
    }
    memset(p, 0, sizeof(*p));
    return etx_error_set(err, ETX_CLASS_INPUT, 0, "ssh-probe", name,
                         "the host's answer to the agent probe is not three "
                         "lines (present or missing, uname -s, uname -m); "
                         "does a login script print to stdout?");
}

int
etx_sshcmd_check_platform(const char *name, const char *sys,
                          const char *machine, struct etx_error *err)
{
    struct utsname u;

    if (uname(&u) != 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "ssh-push", name,
                             "uname");
    if (strcmp(u.sysname, sys) == 0 && strcmp(u.machine, machine) == 0)
        return ETX_OK;
    return etx_error_set(err, ETX_CLASS_PLACEMENT, 0, "ssh-push", name,
                         "host is %s %s, our agent is %s %s; install "
                         "etxroll-agent there",
                         sys, machine, u.sysname, u.machine);
}
