/* SPDX-License-Identifier: MIT */
/*
 * The SSH carrier's libssh steps, from the handshake to the agent's exec:
 * each is re-entered from uv_poll while libssh answers SSH_AGAIN (STYLE
 * R8). The host key is checked against the inventory's known_hosts, the
 * user authenticated by identity file or ssh-agent, and with push_agent
 * the blocking etx_sshpush_prepare() runs on the thread pool while the
 * loop leaves the session alone.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "coordinator/ssh_internal.h"
#include "coordinator/sshcmd.h"
#include "coordinator/sshpush.h"

/*
 * libssh, given a connected fd, still runs its "connect finished" path on
 * the first POLLOUT and there clears O_NONBLOCK (fcntl(fd, F_SETFL, 0)).
 * A blocking send() of a large packet could then stall the loop, so the
 * flag is put back after every handshake step.
 */
static void
keep_nonblocking(struct etx_ssh *s)
{
    int fl = fcntl(s->tcp_fd, F_GETFL);

    if (fl >= 0 && (fl & O_NONBLOCK) == 0)
        fcntl(s->tcp_fd, F_SETFL, fl | O_NONBLOCK);
}

static int
set_options(struct etx_ssh *s)
{
    bool process_config = false;
    unsigned int port = s->port;
    socket_t fd = s->lib_fd;
    ssh_session ses = s->session;

    /* The inventory alone decides: no ssh_config files, and no other
     * known_hosts than its own (not /etc/ssh/ssh_known_hosts). */
    if (ssh_options_set(ses, SSH_OPTIONS_PROCESS_CONFIG, &process_config) < 0 ||
        ssh_options_set(ses, SSH_OPTIONS_HOST, s->address) < 0 ||
        ssh_options_set(ses, SSH_OPTIONS_PORT, &port) < 0 ||
        (s->user != NULL &&
         ssh_options_set(ses, SSH_OPTIONS_USER, s->user) < 0) ||
        ssh_options_set(ses, SSH_OPTIONS_KNOWNHOSTS, s->known_hosts) < 0 ||
        ssh_options_set(ses, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0 ||
        ssh_options_set(ses, SSH_OPTIONS_FD, &fd) < 0)
        return ETX_ERR;
    return ETX_OK;
}

void
etx_ssh__start_session(struct etx_ssh *s)
{
    struct etx_error err = {0};
    int one = 1;

    setsockopt(s->tcp_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    /* libssh closes its fd on some errors; ours stays valid for uv_poll. */
    s->lib_fd = fcntl(s->tcp_fd, F_DUPFD_CLOEXEC, 0);
    if (s->lib_fd < 0) {
        etx_ssh__fail_sys(s, errno, "cannot use the connection to");
        return;
    }
    s->session = ssh_new();
    if (s->session == NULL) {
        etx_ssh__fail_sys(s, ENOMEM, "cannot start SSH with");
        return;
    }
    if (set_options(s) != ETX_OK) {
        etx_error_set(&err, ETX_CLASS_INPUT, 0, "ssh-connect", s->name,
                      "bad SSH settings for %s: %s", s->address,
                      ssh_get_error(s->session));
        etx_ssh__fail(s, &err);
        return;
    }
    ssh_set_blocking(s->session, 0);
    etx_ssh__set_state(s, ETX_SSH_HANDSHAKE);
    etx_ssh__setup_step(s);
}

/* "[addr]:port" as known_hosts and ssh-keygen -R spell a host. */
static void
host_spec(const struct etx_ssh *s, char *buf, size_t len)
{
    if (s->port == 22)
        snprintf(buf, len, "%s", s->address);
    else
        snprintf(buf, len, "[%s]:%u", s->address, (unsigned)s->port);
}

/* "ED25519 SHA256:..." of the key the server offered. */
static void
host_fingerprint(struct etx_ssh *s, char *buf, size_t len)
{
    ssh_key key = NULL;
    unsigned char *hash = NULL;
    size_t hlen = 0;
    char *fp = NULL;

    snprintf(buf, len, "an unreadable key");
    if (ssh_get_server_publickey(s->session, &key) != SSH_OK ||
        ssh_get_publickey_hash(key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) !=
            0)
        goto out;
    fp = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
    if (fp != NULL)
        snprintf(buf, len, "%s key %s", ssh_key_type_to_char(ssh_key_type(key)),
                 fp);
out:
    ssh_string_free_char(fp);
    ssh_clean_pubkey_hash(&hash);
    ssh_key_free(key);
}

static int
host_key_refused(struct etx_ssh *s, enum ssh_known_hosts_e kh,
                 struct etx_error *err)
{
    char spec[300], fp[160];

    host_spec(s, spec, sizeof(spec));
    host_fingerprint(s, fp, sizeof(fp));
    if (kh == SSH_KNOWN_HOSTS_CHANGED || kh == SSH_KNOWN_HOSTS_OTHER)
        return etx_error_set(
            err, ETX_CLASS_INPUT, 0, "ssh-hostkey", s->name,
            "HOST KEY CHANGED: %s now offers %s, which %s does not list for "
            "it (someone may be intercepting the connection); if the change "
            "is expected, remove the old key with 'ssh-keygen -R %s -f %s'",
            spec, fp, s->known_hosts, spec, s->known_hosts);
    return etx_error_set(
        err, ETX_CLASS_INPUT, 0, "ssh-hostkey", s->name,
        "unknown host key: %s offers %s, not in %s; after checking that "
        "fingerprint, add it with 'ssh-keyscan -p %u %s >> %s', or set "
        "transport.host_key: accept-new",
        spec, fp, s->known_hosts, (unsigned)s->port, s->address,
        s->known_hosts);
}

static int
check_host_key(struct etx_ssh *s, struct etx_error *err)
{
    enum ssh_known_hosts_e kh = ssh_session_is_known_server(s->session);

    switch (kh) {
    case SSH_KNOWN_HOSTS_OK:
        return ETX_OK;
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
        if (!s->accept_new)
            return host_key_refused(s, kh, err);
        if (ssh_session_update_known_hosts(s->session) == SSH_OK)
            return ETX_OK;
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "ssh-hostkey", s->name,
                             "cannot add the host key of %s to %s: %s",
                             s->address, s->known_hosts,
                             ssh_get_error(s->session));
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
        return host_key_refused(s, kh, err);
    default:
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "ssh-hostkey", s->name,
                             "cannot check the host key of %s against %s: "
                             "%s",
                             s->address, s->known_hosts,
                             ssh_get_error(s->session));
    }
}

/* A libssh failure: the connection's loss is transient, a refusal on a
 * live connection is the input's. */
static int
ssh_failed(struct etx_ssh *s, const char *op, const char *what,
           struct etx_error *err)
{
    bool alive = ssh_is_connected(s->session) &&
                 !(ssh_get_status(s->session) & SSH_CLOSED_ERROR);

    return etx_error_set(err, alive ? ETX_CLASS_INPUT : ETX_CLASS_TRANSIENT,
                         alive ? 0 : ECONNRESET, op, s->name, "%s %s: %s", what,
                         s->address, ssh_get_error(s->session));
}

static int
step_handshake(struct etx_ssh *s, struct etx_error *err)
{
    int rc = ssh_connect(s->session);

    keep_nonblocking(s);
    if (rc == SSH_AGAIN)
        return ETX_AGAIN;
    if (rc != SSH_OK)
        return etx_error_set(
            err, ETX_CLASS_TRANSIENT, ECONNRESET, "ssh-connect", s->name,
            "the SSH handshake with %s port %u failed: %s", s->address,
            (unsigned)s->port, ssh_get_error(s->session));
    if (check_host_key(s, err) != ETX_OK)
        return ETX_ERR;
    etx_ssh__set_state(s, ETX_SSH_AUTH);
    return ETX_OK;
}

static int
auth_refused(struct etx_ssh *s, struct etx_error *err)
{
    char *user = NULL;
    char with[600];
    int rc;

    ssh_options_get(s->session, SSH_OPTIONS_USER, &user);
    if (s->identity_file != NULL)
        snprintf(with, sizeof(with), "the key in %s", s->identity_file);
    else if (getenv("SSH_AUTH_SOCK") != NULL)
        snprintf(with, sizeof(with), "the keys of the ssh-agent");
    else
        snprintf(with, sizeof(with),
                 "no key (no transport.identity_file, "
                 "and SSH_AUTH_SOCK is not set)");
    rc = etx_error_set(err, ETX_CLASS_INPUT, 0, "ssh-auth", s->name,
                       "%s refused %s for user %s: check transport.user and "
                       "transport.identity_file, and the host's "
                       "authorized_keys",
                       s->address, with, user != NULL ? user : "?");
    ssh_string_free_char(user);
    return rc;
}

static int begin_push(struct etx_ssh *s, struct etx_error *err);

/* The agent's command line, quoted for the login shell. */
static int
make_command(struct etx_ssh *s, struct etx_error *err)
{
    char cmd[ETX_SSHCMD_MAX];

    if (etx_sshcmd_command(s->agent_path, s->agent_config, cmd, sizeof(cmd),
                           err) != ETX_OK)
        return ETX_ERR;
    s->command = strdup(cmd);
    if (s->command == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "ssh-exec", s->name,
                             "cannot start the agent");
    return ETX_OK;
}

/*
 * The passphrase callback for identity files: there is none. Without it
 * OpenSSL would prompt on the terminal for an encrypted PEM key, blocking
 * the loop.
 */
static int
no_passphrase(const char *prompt, char *buf, size_t len, int echo, int verify,
              void *arg)
{
    (void)prompt;
    (void)buf;
    (void)len;
    (void)echo;
    (void)verify;
    (void)arg;
    return SSH_ERROR;
}

static int
step_auth(struct etx_ssh *s, struct etx_error *err)
{
    int rc;

    if (s->identity_file != NULL && s->key == NULL &&
        ssh_pki_import_privkey_file(s->identity_file, NULL, no_passphrase, NULL,
                                    &s->key) != SSH_OK)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "ssh-auth", s->name,
                             "cannot load the private key %s (missing, not "
                             "a key, or protected by a passphrase: give such "
                             "keys to ssh-agent instead)",
                             s->identity_file);
    if (s->key != NULL)
        rc = ssh_userauth_publickey(s->session, NULL, s->key);
    else
        rc = ssh_userauth_agent(s->session, NULL);
    if (rc == SSH_AUTH_AGAIN)
        return ETX_AGAIN;
    if (rc == SSH_AUTH_DENIED || rc == SSH_AUTH_PARTIAL)
        return auth_refused(s, err);
    if (rc != SSH_AUTH_SUCCESS)
        return ssh_failed(s, "ssh-auth", "user authentication failed with",
                          err);
    if (s->push_agent)
        return begin_push(s, err);
    if (make_command(s, err) != ETX_OK)
        return ETX_ERR;
    etx_ssh__set_state(s, ETX_SSH_CHANNEL);
    return ETX_OK;
}

/* ---- push_agent on the thread pool ---- */

static void
push_work(uv_work_t *w)
{
    struct etx_ssh *s = w->data;
    struct etx_sshpush_req req = {.name = s->name,
                                  .agent_path = s->agent_path,
                                  .agent_config = s->agent_config,
                                  .push_dir = s->push_dir,
                                  .local_agent = s->local_agent,
                                  .timeout_ms = s->push_timeout_ms};
    char cmd[ETX_SSHCMD_MAX];

    /* Only push_* fields are written here; the loop reads them after. */
    s->push_rc = etx_sshpush_prepare(s->session, &req, cmd, sizeof(cmd),
                                     &s->push_pushed, &s->push_err);
    if (s->push_rc == ETX_OK && (s->push_cmd = strdup(cmd)) == NULL)
        s->push_rc =
            etx_error_sys(&s->push_err, ENOMEM, ETX_CTX_NET, "ssh-push",
                          s->name, "cannot start the agent");
}

static void
push_done(uv_work_t *w, int status)
{
    struct etx_ssh *s = w->data;

    s->work_busy = false;
    ssh_set_blocking(s->session, 0);
    s->command = s->push_cmd;
    s->push_cmd = NULL;
    s->pushed = s->push_rc == ETX_OK && s->push_pushed;
    if (s->stop_after_work) {
        etx_ssh__teardown(s);
        return;
    }
    if (status < 0 || s->push_rc != ETX_OK) {
        if (status < 0)
            etx_error_sys(&s->push_err, -status, ETX_CTX_NET, "ssh-push",
                          s->name, "the agent push did not run");
        etx_ssh__fail(s, &s->push_err);
        return;
    }
    etx_ssh__set_state(s, ETX_SSH_CHANNEL);
    etx_ssh__setup_step(s);
}

static int
begin_push(struct etx_ssh *s, struct etx_error *err)
{
    uint64_t spent = uv_now(s->loop) - s->started;
    int rc;

    s->push_timeout_ms = spent < s->timeout_ms ? s->timeout_ms - spent : 1;
    /* The worker polls the socket itself; the loop leaves it alone. */
    uv_poll_stop(&s->poll);
    s->poll_events = 0;
    ssh_set_blocking(s->session, 1);
    s->work.data = s;
    rc = uv_queue_work(s->loop, &s->work, push_work, push_done);
    if (rc < 0) {
        ssh_set_blocking(s->session, 0);
        return etx_error_sys(err, -rc, ETX_CTX_NET, "ssh-push", s->name,
                             "cannot start the agent push");
    }
    s->work_busy = true;
    etx_ssh__set_state(s, ETX_SSH_PUSH);
    return ETX_OK;
}

/* ---- channel and exec ---- */

static void
on_exit_status(ssh_session ses, ssh_channel ch, int status, void *arg)
{
    struct etx_ssh *s = arg;

    (void)ses;
    (void)ch;
    s->exit_status = status;
}

static void
on_exit_signal(ssh_session ses, ssh_channel ch, const char *sig, int core,
               const char *errmsg, const char *lang, void *arg)
{
    struct etx_ssh *s = arg;

    (void)ses;
    (void)ch;
    (void)core;
    (void)errmsg;
    (void)lang;
    snprintf(s->exit_signal, sizeof(s->exit_signal), "SIG%s",
             sig != NULL ? sig : "?");
}

static void
on_channel_close(ssh_session ses, ssh_channel ch, void *arg)
{
    struct etx_ssh *s = arg;

    (void)ses;
    (void)ch;
    s->remote_closed = true;
}

static int
step_channel(struct etx_ssh *s, struct etx_error *err)
{
    int rc;

    if (s->channel == NULL) {
        s->channel = ssh_channel_new(s->session);
        if (s->channel == NULL)
            return ssh_failed(s, "ssh-exec", "cannot make a channel to", err);
        ssh_callbacks_init(&s->chan_cbs);
        s->chan_cbs.userdata = s;
        s->chan_cbs.channel_exit_status_function = on_exit_status;
        s->chan_cbs.channel_exit_signal_function = on_exit_signal;
        s->chan_cbs.channel_close_function = on_channel_close;
        s->chan_cbs.channel_data_function = etx_ssh__on_data;
        if (ssh_set_channel_callbacks(s->channel, &s->chan_cbs) != SSH_OK)
            return ssh_failed(s, "ssh-exec", "cannot watch a channel to", err);
    }
    rc = ssh_channel_open_session(s->channel);
    if (rc == SSH_AGAIN)
        return ETX_AGAIN;
    if (rc != SSH_OK)
        return ssh_failed(s, "ssh-exec", "no session channel on", err);
    etx_ssh__set_state(s, ETX_SSH_EXEC);
    return ETX_OK;
}

static int
step_exec(struct etx_ssh *s, struct etx_error *err)
{
    int rc = ssh_channel_request_exec(s->channel, s->command);

    if (rc == SSH_AGAIN)
        return ETX_AGAIN;
    if (rc != SSH_OK)
        return ssh_failed(s, "ssh-exec", "cannot run the agent on", err);
    return etx_ssh__run(s, err);
}

/* Re-enter the pending libssh call until it waits (SSH_AGAIN) or fails. */
void
etx_ssh__setup_step(struct etx_ssh *s)
{
    struct etx_error err = {0};
    int rc = ETX_OK;

    while (rc == ETX_OK) {
        switch (s->state) {
        case ETX_SSH_HANDSHAKE:
            rc = step_handshake(s, &err);
            break;
        case ETX_SSH_AUTH:
            rc = step_auth(s, &err);
            break;
        case ETX_SSH_CHANNEL:
            rc = step_channel(s, &err);
            break;
        case ETX_SSH_EXEC:
            rc = step_exec(s, &err);
            break;
        default:
            return; /* pushing, running or closing: not a setup step */
        }
    }
    if (rc == ETX_AGAIN)
        etx_ssh__watch(s, true);
    else
        etx_ssh__fail(s, &err);
}
