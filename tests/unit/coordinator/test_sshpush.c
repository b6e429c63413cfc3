/* SPDX-License-Identifier: MIT */
/*
 * push_agent over SSH against a real OpenSSH sshd (tests/integration/
 * sshd_lib.sh) on a random 127.0.x.y address and port, with a blocking
 * libssh session made here: the agent command's quoting proved by running
 * it remotely (the rest of coordinator/sshcmd.c is in test_sshcmd.c), an
 * agent found in place, an upload (byte-identical, mode 0700, final name,
 * no temporaries), reuse without upload, a corrupted cache replaced by
 * rename, a push dir that cannot be made, and the pushed agent answering a
 * Hello over SSH.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <libssh/libssh.h>

#include "coordinator/sshcmd.h"
#include "coordinator/sshpush.h"
#include "proto/digest.h"
#include "proto/etxroll.pb-c.h"
#include "proto/frame.h"

#include "tests/unit/coordinator/sshd_fixture.h"

#define HOST "web-1"

#define SHORT_PATH 256 /* paths under the temporary directory */

struct fixture {
    struct etx_test_ssh_env env;      /* first: its teardown frees f */
    char hex[ETX_DIGEST_HEX_LEN + 1]; /* of env.agent */
};

static int
write_file(const char *path, const char *text, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t n = strlen(text);
    int rc = fd >= 0 && write(fd, text, n) == (ssize_t)n ? 0 : -1;

    if (fd >= 0)
        close(fd);
    return rc == 0 && chmod(path, mode) == 0 ? 0 : -1;
}

static int
group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    *state = f;
    if (f == NULL || etx_test_ssh_env_open(&f->env, "sshpush") != 0)
        return -1;
    return etx_digest_file(f->env.agent, f->hex, NULL, NULL) == ETX_OK ? 0 : -1;
}

static int
setup(void **state)
{
    struct fixture *f = *state;

    return etx_test_dirs_next(&f->env.dirs, 0755);
}

static ssh_session
connect_root(const struct fixture *f)
{
    char path[PATH_MAX];
    ssh_session s = ssh_new();
    ssh_key key = NULL;
    bool no = false;
    int one = 1;

    assert_non_null(s);
    assert_int_equal(
        etx_test_sshd_path(&f->env.sshd, "known_hosts", path, sizeof(path)), 0);
    assert_int_equal(ssh_options_set(s, SSH_OPTIONS_HOST, f->env.sshd.addr), 0);
    assert_int_equal(ssh_options_set(s, SSH_OPTIONS_PORT, &f->env.sshd.port),
                     0);
    assert_int_equal(ssh_options_set(s, SSH_OPTIONS_USER, "root"), 0);
    assert_int_equal(ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, path), 0);
    assert_int_equal(
        ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null"), 0);
    assert_int_equal(ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no), 0);
    /* As ssh.c should: Nagle's delay would cost each SFTP round trip. */
    assert_int_equal(ssh_options_set(s, SSH_OPTIONS_NODELAY, &one), 0);
    assert_int_equal(ssh_connect(s), SSH_OK);
    assert_int_equal(ssh_session_is_known_server(s), SSH_KNOWN_HOSTS_OK);
    assert_int_equal(
        etx_test_sshd_path(&f->env.sshd, "client_ed25519", path, sizeof(path)),
        0);
    assert_int_equal(ssh_pki_import_privkey_file(path, NULL, NULL, NULL, &key),
                     SSH_OK);
    assert_int_equal(ssh_userauth_publickey(s, NULL, key), SSH_AUTH_SUCCESS);
    ssh_key_free(key);
    return s;
}

static void
disconnect(ssh_session s)
{
    ssh_disconnect(s);
    ssh_free(s);
}

/* Run cmd on a new channel, stdin closed; its stdout (NUL-terminated)
 * into out and its exit status returned. */
static int
exec_capture(ssh_session s, const char *cmd, char *out, size_t cap)
{
    ssh_channel ch = ssh_channel_new(s);
    size_t len = 0;
    int n = 0;
    int status = 0;

    assert_non_null(ch);
    assert_int_equal(ssh_channel_open_session(ch), SSH_OK);
    assert_int_equal(ssh_channel_request_exec(ch, cmd), SSH_OK);
    assert_int_equal(ssh_channel_send_eof(ch), SSH_OK);
    while ((n = ssh_channel_read(ch, out + len, cap - 1 - len, 0)) > 0)
        len += (size_t)n;
    assert_true(n == 0 && len < cap - 1);
    out[len] = '\0';
    status = ssh_channel_get_exit_status(ch);
    ssh_channel_free(ch);
    return status;
}

static void
path_in(const struct fixture *f, char *buf, size_t len, const char *name)
{
    snprintf(buf, len, "%s/%s", f->env.dirs.work, name);
}

static bool
exists(const char *path)
{
    struct stat st;

    return lstat(path, &st) == 0;
}

/* The entries of dir other than . and .., and the one name if single. */
static int
entries(const char *dir, char *one, size_t len)
{
    struct dirent *de = NULL;
    DIR *d = opendir(dir);
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        n++;
        if (one != NULL)
            snprintf(one, len, "%s", de->d_name);
    }
    closedir(d);
    return n;
}

/*
 * Run through sshd a command built from a script path and a config that
 * would create files if a shell expanded them: the script sees its two
 * words literally and no file appears.
 */
static void
test_command_literal_over_ssh(void **state)
{
    struct fixture *f = *state;
    char agent[PATH_MAX];
    char config[PATH_MAX * 2];
    char want[PATH_MAX * 4];
    char cmd[ETX_SSHCMD_MAX];
    char out[PATH_MAX * 4];
    char t[PATH_MAX];
    struct etx_error err = {0};
    ssh_session s = NULL;
    int i;

    path_in(f, agent, sizeof(agent), "it's an $(agent) `x`");
    assert_int_equal(
        write_file(agent, "#!/bin/sh\nprintf '[%s]\\n' \"$@\"\n", 0755), 0);
    snprintf(config, sizeof(config),
             "x'; touch %s/T1; '$(touch %s/T2)`touch %s/T3`\"$(touch "
             "%s/T4)\"; touch %s/T5 #",
             f->env.dirs.work, f->env.dirs.work, f->env.dirs.work,
             f->env.dirs.work, f->env.dirs.work);
    assert_int_equal(etx_sshcmd_command(agent, config, cmd, sizeof(cmd), &err),
                     ETX_OK);
    s = connect_root(f);
    assert_int_equal(exec_capture(s, cmd, out, sizeof(out)), 0);
    disconnect(s);
    snprintf(want, sizeof(want), "[--stdio]\n[--config]\n[%s]\n", config);
    assert_string_equal(out, want);
    for (i = 1; i <= 5; i++) {
        snprintf(t, sizeof(t), "%s/T%d", f->env.dirs.work, i);
        assert_false(exists(t));
    }
}

/* Call etx_sshpush_prepare() on a fresh session. */
static int
prepare(const struct fixture *f, const struct etx_sshpush_req *req, char *cmd,
        bool *pushed, struct etx_error *err)
{
    ssh_session s = connect_root(f);
    int rc = etx_sshpush_prepare(s, req, cmd, ETX_SSHCMD_MAX, pushed, err);

    disconnect(s);
    return rc;
}

static struct etx_sshpush_req
req_for(const struct fixture *f, const char *agent_path, const char *dir)
{
    struct etx_sshpush_req r = {
        .name = HOST,
        .agent_path = agent_path,
        .agent_config = f->env.config,
        .push_dir = dir,
        .local_agent = f->env.agent,
        .timeout_ms = 30000,
    };

    return r;
}

/*
 * Speak the protocol with the agent that cmd starts: our Hello, its Hello
 * with facts, then end of input and exit status 0.
 */
static void
hello_over_ssh(const struct fixture *f, const char *cmd)
{
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__Hello hello = ETXROLL__HELLO__INIT;
    Etxroll__Envelope *got = NULL;
    struct etx_frame_reader *r = etx_frame_reader_new();
    struct etx_error err = {0};
    ssh_session s = connect_root(f);
    ssh_channel ch = ssh_channel_new(s);
    struct utsname u;
    uint8_t *frame = NULL;
    size_t len = 0;
    char buf[4096];
    int n = 0;

    assert_non_null(r);
    assert_non_null(ch);
    hello.protocol_version = ETX_PROTO_VERSION;
    hello.software_version = "etxroll test";
    env.body_case = ETXROLL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    assert_int_equal(etx_frame_encode(&env, &frame, &len, &err), ETX_OK);
    assert_int_equal(ssh_channel_open_session(ch), SSH_OK);
    assert_int_equal(ssh_channel_request_exec(ch, cmd), SSH_OK);
    assert_int_equal(ssh_channel_write(ch, frame, (uint32_t)len), (int)len);
    free(frame);
    while (etx_frame_reader_next(r, &got, &err) == ETX_AGAIN) {
        n = ssh_channel_read(ch, buf, sizeof(buf), 0);
        assert_true(n > 0);
        assert_int_equal(etx_frame_reader_feed(r, buf, (size_t)n, &err),
                         ETX_OK);
    }
    assert_non_null(got);
    assert_int_equal(got->body_case, ETXROLL__ENVELOPE__BODY_HELLO);
    assert_int_equal(got->hello->protocol_version, ETX_PROTO_VERSION);
    assert_non_null(got->hello->facts);
    assert_int_equal(uname(&u), 0);
    assert_string_equal(got->hello->facts->arch, u.machine);
    etx_frame_free(got);
    etx_frame_reader_free(r);
    assert_int_equal(ssh_channel_send_eof(ch), SSH_OK);
    while (ssh_channel_read(ch, buf, sizeof(buf), 0) > 0)
        continue;
    assert_int_equal(ssh_channel_get_exit_status(ch), 0);
    ssh_channel_free(ch);
    disconnect(s);
}

/* DIR/etxroll-agent-<first 16 hex digits of our agent's digest>. */
static void
final_in(const struct fixture *f, const char *dir, char *buf, size_t len)
{
    snprintf(buf, len, "%s/etxroll-agent-%.16s", dir, f->hex);
}

/* A request for an agent the host lacks, pushed into WORK/name (dir). */
static struct etx_sshpush_req
missing_req(const struct fixture *f, const char *name, char *dir, size_t len)
{
    path_in(f, dir, len, name);
    return req_for(f, "etxroll-agent-not-installed", dir);
}

/* Our agent pushed into WORK/push by a first prepare. */
struct cache {
    struct etx_sshpush_req req; /* its push_dir is dir */
    char dir[PATH_MAX];
    char final[PATH_MAX * 2]; /* final_in(dir) */
    char cmd[ETX_SSHCMD_MAX]; /* the first prepare's command */
};

static void
push_once(const struct fixture *f, struct cache *c)
{
    struct etx_error err = {0};
    bool pushed = false;

    c->req = missing_req(f, "push", c->dir, sizeof(c->dir));
    final_in(f, c->dir, c->final, sizeof(c->final));
    assert_int_equal(prepare(f, &c->req, c->cmd, &pushed, &err), ETX_OK);
}

/* Prepare again over the cached copy: it reports the agent pushed, its
 * command in cmd; the copy's stat before and after. */
static void
prepare_again(const struct fixture *f, const struct cache *c, char *cmd,
              struct stat *before, struct stat *after)
{
    struct etx_error err = {0};
    bool pushed = false;

    assert_int_equal(lstat(c->final, before), 0);
    assert_int_equal(prepare(f, &c->req, cmd, &pushed, &err), ETX_OK);
    assert_true(pushed);
    assert_int_equal(lstat(c->final, after), 0);
}

/*
 * etx_sshpush_prepare() on s (a fresh session when NULL) fails: nothing
 * pushed, no command, the host named in *err.
 */
static void
prepare_fails(const struct fixture *f, ssh_session s,
              const struct etx_sshpush_req *req, struct etx_error *err)
{
    char cmd[ETX_SSHCMD_MAX];
    bool pushed = true;

    if (s == NULL)
        assert_int_equal(prepare(f, req, cmd, &pushed, err), ETX_ERR);
    else
        assert_int_equal(
            etx_sshpush_prepare(s, req, cmd, sizeof(cmd), &pushed, err),
            ETX_ERR);
    assert_false(pushed);
    assert_string_equal(cmd, "");
    assert_string_equal(err->where, HOST);
}

/* The agent is installed: its command, no SFTP, no push dir. */
static void
test_prepare_present(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX];
    char cmd[ETX_SSHCMD_MAX];
    char want[ETX_SSHCMD_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req;
    bool pushed = true;

    path_in(f, dir, sizeof(dir), "push");
    req = req_for(f, f->env.agent, dir);
    assert_int_equal(prepare(f, &req, cmd, &pushed, &err), ETX_OK);
    assert_false(pushed);
    snprintf(want, sizeof(want), "'%s' --stdio --config '%s'", f->env.agent,
             f->env.config);
    assert_string_equal(cmd, want);
    assert_false(exists(dir));
    hello_over_ssh(f, cmd);
}

static void
assert_pushed(const struct fixture *f, const char *dir, const char *cmd)
{
    char final[PATH_MAX * 2];
    char want[PATH_MAX * 3];
    char hex[ETX_DIGEST_HEX_LEN + 1];
    char one[NAME_MAX + 1];
    struct stat st;

    final_in(f, dir, final, sizeof(final));
    snprintf(want, sizeof(want), "'%s' --stdio --config '%s'", final,
             f->env.config);
    assert_string_equal(cmd, want);
    assert_int_equal(entries(dir, one, sizeof(one)), 1);
    assert_non_null(strstr(final, one));
    assert_int_equal(lstat(final, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(etx_digest_file(final, hex, NULL, NULL), ETX_OK);
    assert_string_equal(hex, f->hex);
    assert_int_equal(lstat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
}

/*
 * Missing (a file that is not executable, with a name a shell would
 * expand): uploaded under its digest's name, mode 0700, byte-identical,
 * nothing else left; the command runs it.
 */
static void
test_prepare_push(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX];
    char agent[PATH_MAX];
    char trap[SHORT_PATH];
    char cmd[ETX_SSHCMD_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req;
    bool pushed = false;

    path_in(f, dir, sizeof(dir), "a/b/push");
    /* A file name holds no '/': the trap would land in the login's home,
     * where the remote shell starts. */
    assert_non_null(getpwuid(0));
    snprintf(trap, sizeof(trap), "%.200s/etx-sshpush-trap-%ld",
             getpwuid(0)->pw_dir, (long)getpid());
    snprintf(agent, sizeof(agent), "%s/not-exec'$(touch %s)", f->env.dirs.work,
             strrchr(trap, '/') + 1);
    assert_int_equal(write_file(agent, "#!/bin/sh\n", 0644), 0);
    req = req_for(f, agent, dir);
    assert_int_equal(prepare(f, &req, cmd, &pushed, &err), ETX_OK);
    assert_true(pushed);
    assert_false(exists(trap) && unlink(trap) == 0);
    assert_pushed(f, dir, cmd);
    hello_over_ssh(f, cmd);
}

/* A second prepare finds the pushed copy and uploads nothing. */
static void
test_prepare_reuse(void **state)
{
    struct fixture *f = *state;
    struct cache c;
    char again[ETX_SSHCMD_MAX];
    struct stat before;
    struct stat after;

    push_once(f, &c);
    prepare_again(f, &c, again, &before, &after);
    assert_string_equal(again, c.cmd);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    assert_int_equal(after.st_ctim.tv_nsec, before.st_ctim.tv_nsec);
    assert_pushed(f, c.dir, again);
}

/* A cached copy with another digest (same size, then shorter) is
 * replaced by a new file renamed over it, never written in place. */
static void
test_prepare_corrupt_cache(void **state)
{
    struct fixture *f = *state;
    struct cache c;
    struct stat before;
    struct stat after;
    char b = 0;
    int fd = -1;
    int round;

    push_once(f, &c);
    for (round = 0; round < 2; round++) {
        fd = open(c.final, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &b, 1, 1000), 1);
        b ^= 0x5a;
        assert_int_equal(pwrite(fd, &b, 1, 1000), 1);
        if (round == 1)
            assert_int_equal(ftruncate(fd, 4096), 0);
        close(fd);
        prepare_again(f, &c, c.cmd, &before, &after);
        assert_int_not_equal(after.st_ino, before.st_ino);
        assert_pushed(f, c.dir, c.cmd);
    }
}

/* A file in the way of the push dir: a clear error, nothing made. */
static void
test_prepare_dir_blocked(void **state)
{
    struct fixture *f = *state;
    char blocker[PATH_MAX];
    char dir[PATH_MAX * 2];
    struct etx_error err = {0};
    struct etx_sshpush_req req;
    struct stat st;

    path_in(f, blocker, sizeof(blocker), "blocker");
    assert_int_equal(write_file(blocker, "x", 0644), 0);
    snprintf(dir, sizeof(dir), "%s/sub", blocker);
    req = req_for(f, "etxroll-agent-not-installed", dir);
    prepare_fails(f, NULL, &req, &err);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_string_equal(err.op, "ssh-push");
    assert_non_null(strstr(err.msg, "is not a directory"));
    assert_non_null(strstr(err.msg, blocker));
    assert_int_equal(lstat(blocker, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 1);
    assert_int_equal(entries(f->env.dirs.work, NULL, 0), 1);
}

/* A directory at the final name: a clear error, the upload removed. */
static void
test_prepare_final_in_the_way(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX];
    char final[PATH_MAX * 2];
    char one[NAME_MAX + 1];
    struct etx_error err = {0};
    struct etx_sshpush_req req = missing_req(f, "push", dir, sizeof(dir));

    final_in(f, dir, final, sizeof(final));
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkdir(final, 0700), 0);
    prepare_fails(f, NULL, &req, &err);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_string_equal(err.op, "ssh-push");
    assert_non_null(strstr(err.msg, "is in the way"));
    assert_int_equal(entries(dir, one, sizeof(one)), 1);
    assert_non_null(strstr(final, one));
    assert_int_equal(entries(final, NULL, 0), 0);
}

/* The connection dies under it: TRANSIENT, so the caller retries. */
static void
test_prepare_connection_lost(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req = missing_req(f, "push", dir, sizeof(dir));
    ssh_session s = connect_root(f);

    assert_int_equal(shutdown(ssh_get_fd(s), SHUT_RDWR), 0);
    prepare_fails(f, s, &req, &err);
    disconnect(s);
    assert_int_equal(err.cls, ETX_CLASS_TRANSIENT);
    assert_string_equal(err.op, "ssh-probe");
    assert_false(exists(dir));
}

/* A push dir relative to the login's home comes back absolute. */
static void
test_prepare_relative_dir(void **state)
{
    struct fixture *f = *state;
    struct passwd *pw = getpwuid(0);
    char rel[PATH_MAX * 2] = "";
    char dir[PATH_MAX];
    char cmd[ETX_SSHCMD_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req;
    bool pushed = false;
    const char *c = NULL;
    char home[PATH_MAX];

    assert_non_null(pw);
    assert_non_null(realpath(pw->pw_dir, home));
    for (c = home; *c != '\0'; c++)
        if (*c == '/' && c[1] != '\0')
            strcat(rel, "../");
    snprintf(rel + strlen(rel), sizeof(rel) - strlen(rel), "%s/rel",
             f->env.dirs.work + 1);
    path_in(f, dir, sizeof(dir), "rel");
    req = req_for(f, "etxroll-agent-not-installed", rel);
    assert_int_equal(prepare(f, &req, cmd, &pushed, &err), ETX_OK);
    assert_true(pushed);
    assert_pushed(f, dir, cmd);
}

/* Our own agent unreadable: ssh-digest, nothing made on the host. */
static void
test_prepare_no_local_agent(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX];
    char missing[PATH_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req = missing_req(f, "push", dir, sizeof(dir));

    path_in(f, missing, sizeof(missing), "no-such-agent");
    req.local_agent = missing;
    prepare_fails(f, NULL, &req, &err);
    assert_string_equal(err.op, "ssh-digest");
    assert_int_equal(err.sys_errno, ENOENT);
    assert_non_null(strstr(err.msg, missing));
    assert_false(exists(dir));
}

/* A config path on two lines is refused before anything runs. */
static void
test_prepare_bad_config(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req = missing_req(f, "push", dir, sizeof(dir));

    req.agent_config = "/etc/etxroll/agent.yml\ntouch /tmp/x";
    prepare_fails(f, NULL, &req, &err);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_false(exists(dir));
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup(name, setup)
    const struct CMUnitTest tests[] = {
        T(test_command_literal_over_ssh),
        T(test_prepare_present),
        T(test_prepare_push),
        T(test_prepare_reuse),
        T(test_prepare_corrupt_cache),
        T(test_prepare_dir_blocked),
        T(test_prepare_final_in_the_way),
        T(test_prepare_connection_lost),
        T(test_prepare_relative_dir),
        T(test_prepare_no_local_agent),
        T(test_prepare_bad_config),
    };

    return cmocka_run_group_tests(tests, group_setup,
                                  etx_test_ssh_env_teardown);
}
