/* SPDX-License-Identifier: MIT */
/*
 * push_agent over SSH (coordinator/sshpush.h): the probe channel, and the
 * SFTP upload with read-back digest and rename. The command lines and the
 * probe's parser are coordinator/sshcmd.c.
 */
#include "coordinator/sshpush.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <libssh/sftp.h>

#include "coordinator/sshcmd.h"
#include "proto/digest.h"

#define PROBE_OUT_MAX (3 * (ETX_SSHCMD_NAME_MAX + 1))
#define MV_OUT_MAX    512
#define CHUNK         (32 * 1024) /* one SFTP read or write */
#define HEX16         16          /* digest hex digits in the file name */
#define PUSH_MODE     0700        /* the push dir and the agent */
#define AGENT_PREFIX  "etxroll-agent-"
#define WAIT_FOREVER  (-1) /* ssh_channel_read_timeout() without timeout */

/* One call of etx_sshpush_prepare(). */
struct push {
    ssh_session s;
    const struct etx_sshpush_req *req;
    struct etx_error *err;
    sftp_session sftp;
    int fd;                           /* our agent, for reading */
    uint64_t size;                    /* its size */
    char hex[ETX_DIGEST_HEX_LEN + 1]; /* its SHA-256 */
    uint64_t deadline;                /* CLOCK_MONOTONIC ms; 0: none */
    char *dir; /* canonical push dir (ssh_string_free_char) */
    char final[PATH_MAX];
    char tmp[PATH_MAX];
    bool tmp_made; /* tmp exists on the host and is ours to remove */
};

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Fail once the deadline has passed; *left (when not NULL) gets the ms
 * left for one libssh wait. */
static int
check_deadline(const struct push *p, const char *op, int *left)
{
    uint64_t now = 0;

    if (left != NULL)
        *left = WAIT_FOREVER;
    if (p->deadline == 0)
        return ETX_OK;
    now = now_ms();
    if (now >= p->deadline)
        return etx_error_set(p->err, ETX_CLASS_TRANSIENT, ETIMEDOUT, op,
                             p->req->name, "timed out after %" PRIu64 " ms",
                             p->req->timeout_ms);
    if (left != NULL)
        *left =
            p->deadline - now > INT_MAX ? INT_MAX : (int)(p->deadline - now);
    return ETX_OK;
}

/*
 * An SSH or SFTP call failed: say what with libssh's text. A connection
 * that is gone is TRANSIENT; what the server refused is PLACEMENT.
 */
static int ssh_fail(const struct push *p, struct etx_error *err, const char *op,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
ssh_fail(const struct push *p, struct etx_error *err, const char *op,
         const char *fmt, ...)
{
    char what[600];
    bool gone =
        !ssh_is_connected(p->s) || ssh_get_error_code(p->s) == SSH_FATAL;
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return etx_error_set(err, gone ? ETX_CLASS_TRANSIENT : ETX_CLASS_PLACEMENT,
                         0, op, p->req->name, "%s: %s", what,
                         ssh_get_error(p->s));
}

/* Report an error kept aside. */
static int
keep(const struct push *p, const struct etx_error *why)
{
    if (p->err != NULL)
        *p->err = *why;
    return ETX_ERR;
}

/* Read the channel's stdout to its end into out (at most cap bytes). */
static int
read_all(const struct push *p, const char *op, ssh_channel ch, char *out,
         size_t cap, size_t *len)
{
    char more = 0;
    int left = 0;
    int n = 0;

    *len = 0;
    for (;;) {
        if (check_deadline(p, op, &left) != ETX_OK)
            return ETX_ERR;
        if (*len < cap)
            n = ssh_channel_read_timeout(ch, out + *len, (uint32_t)(cap - *len),
                                         0, left);
        else
            n = ssh_channel_read_timeout(ch, &more, 1, 0, left);
        if (n == SSH_ERROR)
            return ssh_fail(p, p->err, op, "cannot read a command's output");
        if (n == 0 && ssh_channel_is_eof(ch))
            return ETX_OK;
        if (n > 0 && *len == cap)
            return etx_error_set(p->err, ETX_CLASS_INPUT, 0, op, p->req->name,
                                 "a remote command printed more than %zu "
                                 "bytes",
                                 cap);
        *len += (size_t)n;
    }
}

/* Run cmd on a new exec channel: its stdout into out (see read_all()),
 * its exit status into *status (-1 when it sent none). */
static int
run_remote(const struct push *p, const char *op, const char *cmd, char *out,
           size_t cap, size_t *len, int *status)
{
    ssh_channel ch = ssh_channel_new(p->s);
    int rc = ETX_ERR;

    *status = -1;
    if (ch == NULL || ssh_channel_open_session(ch) != SSH_OK ||
        ssh_channel_request_exec(ch, cmd) != SSH_OK) {
        ssh_fail(p, p->err, op, "cannot run a command");
        goto out;
    }
    if (read_all(p, op, ch, out, cap, len) != ETX_OK)
        goto out;
    *status = ssh_channel_get_exit_status(ch);
    rc = ETX_OK;
out:
    if (ch != NULL)
        ssh_channel_free(ch);
    return rc;
}

/* The first line of a command's output, control characters as '?'. */
static const char *
tidy(char *out, size_t len)
{
    size_t i;

    for (i = 0; i < len && out[i] != '\n'; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
            out[i] = '?';
    out[i] = '\0';
    return out;
}

/*
 * The probe (etx_sshcmd_probe_command()): does agent_path run there, and
 * on what?
 */
static int
probe(const struct push *p, struct etx_sshcmd_probe *pr)
{
    char cmd[ETX_SSHCMD_PROBE_MAX];
    char out[PROBE_OUT_MAX];
    size_t len = 0;
    int status = -1;

    if (!etx_sshcmd_probe_command(p->req->agent_path, cmd, sizeof(cmd)))
        return etx_error_set(p->err, ETX_CLASS_INPUT, 0, "ssh-probe",
                             p->req->name, "the agent path is too long");
    if (run_remote(p, "ssh-probe", cmd, out, sizeof(out), &len, &status) !=
        ETX_OK)
        return ETX_ERR;
    if (status != 0)
        return etx_error_set(
            p->err, ETX_CLASS_INPUT, 0, "ssh-probe", p->req->name,
            "the agent probe (/bin/sh) exited with %d", status);
    return etx_sshcmd_parse_probe(p->req->name, out, len, pr, p->err);
}

/* Open our agent and take its digest and size. */
static int
local_digest(struct push *p)
{
    const char *path = p->req->local_agent;
    struct etx_error why = {0};

    p->fd = path != NULL ? open(path, O_RDONLY | O_CLOEXEC) : -1;
    if (p->fd < 0)
        return etx_error_sys(p->err, path != NULL ? errno : EINVAL,
                             ETX_CTX_FILE, "ssh-digest", p->req->name,
                             "cannot open our agent %s",
                             path != NULL ? path : "(none)");
    if (etx_digest_fd(p->fd, p->hex, &p->size, &why) != ETX_OK)
        return etx_error_set(p->err, why.cls, why.sys_errno, "ssh-digest",
                             p->req->name, "cannot read our agent %s: %s", path,
                             why.msg);
    return ETX_OK;
}

/* One directory of the push dir's path: there, or made mode 0700. */
static int
ensure_dir(const struct push *p, const char *path)
{
    struct etx_error why = {0};
    sftp_attributes a = NULL;
    int rc = ETX_ERR;

    if (check_deadline(p, "ssh-push", NULL) != ETX_OK)
        return ETX_ERR;
    a = sftp_stat(p->sftp, path);
    if (a == NULL && sftp_get_error(p->sftp) == SSH_FX_NO_SUCH_FILE) {
        if (sftp_mkdir(p->sftp, path, PUSH_MODE) == 0)
            return ETX_OK;
        ssh_fail(p, &why, "ssh-push", "cannot create %s", path);
        a = sftp_stat(p->sftp, path); /* made meanwhile by another? */
    } else if (a == NULL) {
        ssh_fail(p, &why, "ssh-push", "cannot look at %s", path);
    }
    if (a != NULL && a->type == SSH_FILEXFER_TYPE_DIRECTORY)
        rc = ETX_OK;
    else if (a != NULL)
        etx_error_set(p->err, ETX_CLASS_PLACEMENT, ENOTDIR, "ssh-push",
                      p->req->name,
                      "%s is in the way of the push directory %s: it is "
                      "not a directory",
                      path, p->req->push_dir);
    else
        keep(p, &why);
    sftp_attributes_free(a);
    return rc;
}

/* mkdir -p the push dir, then learn its canonical absolute name. */
static int
make_push_dir(struct push *p)
{
    const char *d = p->req->push_dir;
    char path[PATH_MAX];
    size_t n = etx_sshcmd_one_line(d) ? strlen(d) : sizeof(path);
    size_t i;

    if (n >= sizeof(path))
        return etx_error_set(p->err, ETX_CLASS_INPUT, 0, "ssh-push",
                             p->req->name,
                             "the push directory must be non-empty, on one "
                             "line and shorter than %d bytes",
                             PATH_MAX);
    memcpy(path, d, n + 1);
    for (i = 1; i <= n; i++) {
        if ((d[i] != '/' && d[i] != '\0') || d[i - 1] == '/')
            continue;
        path[i] = '\0';
        if (ensure_dir(p, path) != ETX_OK)
            return ETX_ERR;
        path[i] = d[i];
    }
    p->dir = sftp_canonicalize_path(p->sftp, d);
    if (p->dir == NULL)
        return ssh_fail(p, p->err, "ssh-push", "cannot resolve %s", d);
    if (p->dir[0] != '/')
        return etx_error_set(p->err, ETX_CLASS_PLACEMENT, 0, "ssh-push",
                             p->req->name,
                             "the SFTP server resolves %s to a relative "
                             "path",
                             d);
    return ETX_OK;
}

/* The final and temporary names in the push dir. */
static int
name_files(struct push *p)
{
    unsigned char r[8];
    char rnd[2 * sizeof(r) + 1];
    size_t i;
    int n = 0;
    int m = 0;

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        return etx_error_sys(p->err, errno, ETX_CTX_FILE, "ssh-push",
                             p->req->name, "getrandom");
    for (i = 0; i < sizeof(r); i++)
        snprintf(rnd + 2 * i, 3, "%02x", r[i]);
    n = snprintf(p->final, sizeof(p->final), "%s/" AGENT_PREFIX "%.*s", p->dir,
                 HEX16, p->hex);
    m = snprintf(p->tmp, sizeof(p->tmp), "%s/." AGENT_PREFIX "%.*s.tmp.%s",
                 p->dir, HEX16, p->hex, rnd);
    if (n < 0 || m < 0 || (size_t)n >= sizeof(p->final) ||
        (size_t)m >= sizeof(p->tmp))
        return etx_error_set(p->err, ETX_CLASS_PLACEMENT, ENAMETOOLONG,
                             "ssh-push", p->req->name,
                             "the push directory %s is too long", p->dir);
    return ETX_OK;
}

/* Read the remote file at path back; *match when it is our agent. */
static int
remote_digest(const struct push *p, const char *path, bool *match)
{
    char hex[ETX_DIGEST_HEX_LEN + 1];
    struct etx_digest *d = etx_digest_new();
    char *buf = malloc(CHUNK);
    sftp_file f = NULL;
    uint64_t got = 0;
    ssize_t n = 0;
    int rc = ETX_ERR;

    *match = false;
    if (d == NULL || buf == NULL) {
        etx_error_sys(p->err, ENOMEM, ETX_CTX_FILE, "ssh-push", p->req->name,
                      "cannot read back %s", path);
        goto out;
    }
    f = sftp_open(p->sftp, path, O_RDONLY, 0);
    if (f == NULL) {
        ssh_fail(p, p->err, "ssh-push", "cannot open %s", path);
        goto out;
    }
    while (got <= p->size) {
        if (check_deadline(p, "ssh-push", NULL) != ETX_OK)
            goto out;
        n = sftp_read(f, buf, CHUNK);
        if (n < 0) {
            ssh_fail(p, p->err, "ssh-push", "cannot read back %s", path);
            goto out;
        }
        if (n == 0)
            break;
        got += (uint64_t)n;
        etx_digest_update(d, buf, (size_t)n);
    }
    etx_digest_final(d, hex);
    *match = got == p->size && strcmp(hex, p->hex) == 0;
    rc = ETX_OK;
out:
    if (f != NULL)
        sftp_close(f);
    etx_digest_free(d);
    free(buf);
    return rc;
}

/* Does the final name already hold our agent, mode 0700? */
static int
cached(const struct push *p, bool *hit)
{
    sftp_attributes a = sftp_lstat(p->sftp, p->final);
    bool same = false;

    *hit = false;
    if (a == NULL && sftp_get_error(p->sftp) == SSH_FX_NO_SUCH_FILE)
        return ETX_OK;
    if (a == NULL)
        return ssh_fail(p, p->err, "ssh-push", "cannot look at %s", p->final);
    same = a->type == SSH_FILEXFER_TYPE_REGULAR &&
           (a->flags & SSH_FILEXFER_ATTR_SIZE) != 0 && a->size == p->size &&
           (a->flags & SSH_FILEXFER_ATTR_PERMISSIONS) != 0 &&
           (a->permissions & 07777) == PUSH_MODE;
    sftp_attributes_free(a);
    if (!same)
        return ETX_OK;
    return remote_digest(p, p->final, hit);
}

/* Copy our agent into the open remote file f, then fsync it when the
 * server can. */
static int
send_file(const struct push *p, sftp_file f, char *buf)
{
    ssize_t n = 0;

    if (lseek(p->fd, 0, SEEK_SET) != 0)
        return etx_error_sys(p->err, errno, ETX_CTX_FILE, "ssh-push",
                             p->req->name, "cannot rewind our agent");
    for (;;) {
        if (check_deadline(p, "ssh-push", NULL) != ETX_OK)
            return ETX_ERR;
        n = read(p->fd, buf, CHUNK);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return etx_error_sys(p->err, errno, ETX_CTX_FILE, "ssh-push",
                                 p->req->name, "cannot read our agent");
        if (n == 0)
            break;
        if (sftp_write(f, buf, (size_t)n) != n)
            return ssh_fail(p, p->err, "ssh-push", "cannot write %s", p->tmp);
    }
    if (sftp_extension_supported(p->sftp, "fsync@openssh.com", "1") &&
        sftp_fsync(f) != 0)
        return ssh_fail(p, p->err, "ssh-push", "cannot fsync %s", p->tmp);
    return ETX_OK;
}

/* Our agent into a new temporary file, mode 0700, read back and
 * checked. */
static int
upload(struct push *p)
{
    char *buf = malloc(CHUNK);
    sftp_file f = NULL;
    bool match = false;
    int rc = ETX_ERR;

    if (buf == NULL) {
        etx_error_sys(p->err, ENOMEM, ETX_CTX_FILE, "ssh-push", p->req->name,
                      "cannot upload our agent");
        goto out;
    }
    f = sftp_open(p->sftp, p->tmp, O_WRONLY | O_CREAT | O_EXCL, PUSH_MODE);
    if (f == NULL) {
        ssh_fail(p, p->err, "ssh-push", "cannot create %s", p->tmp);
        goto out;
    }
    p->tmp_made = true;
    rc = send_file(p, f, buf);
    if (sftp_close(f) != 0 && rc == ETX_OK)
        rc = ssh_fail(p, p->err, "ssh-push", "cannot close %s", p->tmp);
    f = NULL;
    if (rc == ETX_OK && sftp_chmod(p->sftp, p->tmp, PUSH_MODE) != 0)
        rc = ssh_fail(p, p->err, "ssh-push", "cannot chmod %s", p->tmp);
    if (rc == ETX_OK)
        rc = remote_digest(p, p->tmp, &match);
    if (rc == ETX_OK && !match)
        rc = etx_error_set(p->err, ETX_CLASS_INTEGRITY, 0, "ssh-push",
                           p->req->name,
                           "%s reads back with another SHA-256 than our "
                           "agent's %s",
                           p->tmp, p->hex);
out:
    free(buf);
    return rc;
}

/*
 * rename(2) the temporary file onto the final name on the host with mv:
 * SFTP version 3 rename (libssh before 0.11 has no posix-rename) refuses
 * to replace a file, and removing it first would leave a gap.
 */
static int
replace(const struct push *p)
{
    char cmd[3 * PATH_MAX];
    char out[MV_OUT_MAX];
    size_t len = 0;
    int status = -1;

    if (!etx_sshcmd_mv_command(p->tmp, p->final, cmd, sizeof(cmd)))
        return etx_error_set(p->err, ETX_CLASS_PLACEMENT, 0, "ssh-push",
                             p->req->name,
                             "cannot replace %s: its name does not fit a "
                             "command line",
                             p->final);
    if (run_remote(p, "ssh-push", cmd, out, sizeof(out) - 1, &len, &status) !=
        ETX_OK)
        return ETX_ERR;
    if (status == 0)
        return ETX_OK;
    return etx_error_set(p->err, ETX_CLASS_PLACEMENT, 0, "ssh-push",
                         p->req->name, "cannot replace %s (mv exit %d): %s",
                         p->final, status, tidy(out, len));
}

/* The temporary file becomes the final name. */
static int
publish(struct push *p)
{
    struct etx_error why = {0};
    sftp_attributes a = NULL;
    bool regular = false;

    if (sftp_rename(p->sftp, p->tmp, p->final) == 0) {
        p->tmp_made = false;
        return ETX_OK;
    }
    ssh_fail(p, &why, "ssh-push", "cannot rename %s to %s", p->tmp, p->final);
    a = why.cls == ETX_CLASS_TRANSIENT ? NULL : sftp_lstat(p->sftp, p->final);
    if (a == NULL)
        return keep(p, &why);
    regular = a->type == SSH_FILEXFER_TYPE_REGULAR;
    sftp_attributes_free(a);
    /* Only a file is replaced: mv would move into a directory. */
    if (!regular)
        return etx_error_set(p->err, ETX_CLASS_PLACEMENT, 0, "ssh-push",
                             p->req->name,
                             "%s is in the way of our agent: it is not a "
                             "regular file",
                             p->final);
    if (replace(p) != ETX_OK)
        return ETX_ERR;
    p->tmp_made = false;
    return ETX_OK;
}

/* SFTP: the push dir, then reuse or upload our agent at p->final. */
static int
push(struct push *p)
{
    bool hit = false;

    if (local_digest(p) != ETX_OK)
        return ETX_ERR;
    p->sftp = sftp_new(p->s);
    if (p->sftp == NULL || sftp_init(p->sftp) != SSH_OK)
        return ssh_fail(p, p->err, "ssh-push", "cannot start SFTP");
    if (make_push_dir(p) != ETX_OK || name_files(p) != ETX_OK ||
        cached(p, &hit) != ETX_OK)
        return ETX_ERR;
    if (hit)
        return ETX_OK;
    if (upload(p) != ETX_OK || publish(p) != ETX_OK)
        return ETX_ERR;
    return ETX_OK;
}

static void
push_done(struct push *p)
{
    if (p->tmp_made && ssh_is_connected(p->s))
        sftp_unlink(p->sftp, p->tmp);
    if (p->dir != NULL)
        ssh_string_free_char(p->dir);
    if (p->sftp != NULL)
        sftp_free(p->sftp);
    if (p->fd >= 0)
        close(p->fd);
}

/* etx_sshcmd_command() with err->where the host. */
static int
command(const struct push *p, const char *agent, char *cmd, size_t cmd_len)
{
    if (etx_sshcmd_command(agent, p->req->agent_config, cmd, cmd_len, p->err) ==
        ETX_OK)
        return ETX_OK;
    if (p->err != NULL)
        snprintf(p->err->where, sizeof(p->err->where), "%s",
                 p->req->name != NULL ? p->req->name : "");
    return ETX_ERR;
}

int
etx_sshpush_prepare(ssh_session s, const struct etx_sshpush_req *req, char *cmd,
                    size_t cmd_len, bool *pushed, struct etx_error *err)
{
    struct push p = {.s = s, .req = req, .err = err, .fd = -1};
    struct etx_sshcmd_probe pr;
    int rc = ETX_ERR;

    *pushed = false;
    if (req->timeout_ms > 0)
        p.deadline = now_ms() + req->timeout_ms;
    /* The command for agent_path first: bad input fails before any I/O. */
    if (command(&p, req->agent_path, cmd, cmd_len) != ETX_OK)
        return ETX_ERR;
    if (probe(&p, &pr) != ETX_OK) {
        cmd[0] = '\0';
        return ETX_ERR;
    }
    if (pr.present)
        return ETX_OK;
    cmd[0] = '\0';
    if (etx_sshcmd_check_platform(req->name, pr.sys, pr.machine, err) ==
            ETX_OK &&
        push(&p) == ETX_OK && command(&p, p.final, cmd, cmd_len) == ETX_OK) {
        *pushed = true;
        rc = ETX_OK;
    }
    push_done(&p);
    return rc;
}
