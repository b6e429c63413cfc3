/* SPDX-License-Identifier: MIT */
/*
 * push_agent over SSH against a real OpenSSH sshd (tests/integration/
 * sshd_lib.sh) on a random 127.0.0.x address and port, with a blocking
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

#include "tests/unit/testutil.h"

#define HOST "web-1"

#define SHORT_PATH 256 /* paths under the temporary directory */

struct fixture {
    char root[128];        /* realpath of the temporary directory */
    char sshd[SHORT_PATH]; /* the sshd instance's directory */
    char addr[32];
    int port;
    char agent[SHORT_PATH];  /* $ETX_BINARY_DIR/etxroll-agent */
    char config[SHORT_PATH]; /* a minimal agent config */
    char hex[ETX_DIGEST_HEX_LEN + 1];
    char work[SHORT_PATH]; /* this test's own directory */
    int tests;             /* tests run, names work directories */
};

/* Run a line of bash with sshd_lib.sh sourced and $1..$3 = dir, addr,
 * port; its exit status. */
static int
sshd_lib(const struct fixture *f, const char *line)
{
    const char *src = getenv("ETX_SOURCE_DIR");
    char script[1024];
    char port[16];
    int status = 0;
    pid_t pid;

    if (src == NULL)
        return -1;
    snprintf(script, sizeof(script),
             ". '%s/tests/integration/sshd_lib.sh' && %s", src, line);
    snprintf(port, sizeof(port), "%d", f->port);
    pid = fork();
    if (pid == 0) {
        execl("/bin/bash", "bash", "-c", script, "bash", f->sshd, f->addr, port,
              (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int
start_sshd(struct fixture *f)
{
    int i;

    if (sshd_lib(f, "etx_sshd_keys \"$1\"") != 0)
        return -1;
    srand((unsigned)time(NULL) ^ (unsigned)getpid());
    for (i = 0; i < 5; i++) {
        snprintf(f->addr, sizeof(f->addr), "127.0.0.%d", 10 + rand() % 240);
        f->port = 20000 + rand() % 40000;
        if (sshd_lib(f, "etx_sshd_start \"$1\" \"$2\" \"$3\" && "
                        "etx_sshd_known_hosts \"$1\" \"$2\" \"$3\" "
                        ">\"$1/known_hosts\"") == 0)
            return 0;
    }
    return -1;
}

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
    const char *bin = getenv("ETX_BINARY_DIR");
    char tmp[64];
    char real[PATH_MAX];
    char text[PATH_MAX + 64];

    if (f == NULL || bin == NULL || strlen(bin) > 200 ||
        etx_test_tmpdir(tmp, sizeof(tmp), "sshpush") != 0 ||
        realpath(tmp, real) == NULL || strlen(real) >= sizeof(f->root))
        return -1;
    memcpy(f->root, real, strlen(real) + 1);
    snprintf(f->sshd, sizeof(f->sshd), "%s/sshd", f->root);
    snprintf(f->agent, sizeof(f->agent), "%s/etxroll-agent", bin);
    snprintf(f->config, sizeof(f->config), "%s/agent.yml", f->root);
    snprintf(text, sizeof(text), "roots: [%s/roots]\nstate_dir: %s/state\n",
             f->root, f->root);
    *state = f;
    if (mkdir(f->sshd, 0700) != 0 || write_file(f->config, text, 0600) != 0 ||
        etx_digest_file(f->agent, f->hex, NULL, NULL) != ETX_OK)
        return -1;
    snprintf(text, sizeof(text), "%s/roots", f->root);
    if (mkdir(text, 0755) != 0)
        return -1;
    return start_sshd(f);
}

static int
group_teardown(void **state)
{
    struct fixture *f = *state;

    if (f == NULL)
        return 0;
    if (f->port != 0)
        sshd_lib(f, "etx_sshd_stop \"$1\"");
    etx_test_rmtree(f->root);
    free(f);
    return 0;
}

static int
setup(void **state)
{
    struct fixture *f = *state;

    snprintf(f->work, sizeof(f->work), "%s/t%d", f->root, ++f->tests);
    return mkdir(f->work, 0755);
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
    snprintf(path, sizeof(path), "%s/known_hosts", f->sshd);
    assert_int_equal(ssh_options_set(s, SSH_OPTIONS_HOST, f->addr), 0);
    assert_int_equal(ssh_options_set(s, SSH_OPTIONS_PORT, &f->port), 0);
    assert_int_equal(ssh_options_set(s, SSH_OPTIONS_USER, "root"), 0);
    assert_int_equal(ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, path), 0);
    assert_int_equal(
        ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null"), 0);
    assert_int_equal(ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no), 0);
    /* As ssh.c should: Nagle's delay would cost each SFTP round trip. */
    assert_int_equal(ssh_options_set(s, SSH_OPTIONS_NODELAY, &one), 0);
    assert_int_equal(ssh_connect(s), SSH_OK);
    assert_int_equal(ssh_session_is_known_server(s), SSH_KNOWN_HOSTS_OK);
    snprintf(path, sizeof(path), "%s/client_ed25519", f->sshd);
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
    snprintf(buf, len, "%s/%s", f->work, name);
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
             f->work, f->work, f->work, f->work, f->work);
    assert_int_equal(etx_sshcmd_command(agent, config, cmd, sizeof(cmd), &err),
                     ETX_OK);
    s = connect_root(f);
    assert_int_equal(exec_capture(s, cmd, out, sizeof(out)), 0);
    disconnect(s);
    snprintf(want, sizeof(want), "[--stdio]\n[--config]\n[%s]\n", config);
    assert_string_equal(out, want);
    for (i = 1; i <= 5; i++) {
        snprintf(t, sizeof(t), "%s/T%d", f->work, i);
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
        .agent_config = f->config,
        .push_dir = dir,
        .local_agent = f->agent,
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
    req = req_for(f, f->agent, dir);
    assert_int_equal(prepare(f, &req, cmd, &pushed, &err), ETX_OK);
    assert_false(pushed);
    snprintf(want, sizeof(want), "'%s' --stdio --config '%s'", f->agent,
             f->config);
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

    snprintf(final, sizeof(final), "%s/etxroll-agent-%.16s", dir, f->hex);
    snprintf(want, sizeof(want), "'%s' --stdio --config '%s'", final,
             f->config);
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
    snprintf(agent, sizeof(agent), "%s/not-exec'$(touch %s)", f->work,
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
    char dir[PATH_MAX];
    char final[PATH_MAX * 2];
    char cmd[ETX_SSHCMD_MAX];
    char again[ETX_SSHCMD_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req;
    struct stat before;
    struct stat after;
    bool pushed = false;

    path_in(f, dir, sizeof(dir), "push");
    snprintf(final, sizeof(final), "%s/etxroll-agent-%.16s", dir, f->hex);
    req = req_for(f, "etxroll-agent-not-installed", dir);
    assert_int_equal(prepare(f, &req, cmd, &pushed, &err), ETX_OK);
    assert_int_equal(lstat(final, &before), 0);
    pushed = false;
    assert_int_equal(prepare(f, &req, again, &pushed, &err), ETX_OK);
    assert_true(pushed);
    assert_string_equal(again, cmd);
    assert_int_equal(lstat(final, &after), 0);
    assert_int_equal(after.st_ino, before.st_ino);
    assert_int_equal(after.st_mtim.tv_sec, before.st_mtim.tv_sec);
    assert_int_equal(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    assert_int_equal(after.st_ctim.tv_nsec, before.st_ctim.tv_nsec);
    assert_pushed(f, dir, again);
}

/* A cached copy with another digest (same size, then shorter) is
 * replaced by a new file renamed over it, never written in place. */
static void
test_prepare_corrupt_cache(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX];
    char final[PATH_MAX * 2];
    char cmd[ETX_SSHCMD_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req;
    struct stat before;
    struct stat after;
    bool pushed = false;
    char c = 0;
    int fd = -1;
    int round;

    path_in(f, dir, sizeof(dir), "push");
    snprintf(final, sizeof(final), "%s/etxroll-agent-%.16s", dir, f->hex);
    req = req_for(f, "etxroll-agent-not-installed", dir);
    assert_int_equal(prepare(f, &req, cmd, &pushed, &err), ETX_OK);
    for (round = 0; round < 2; round++) {
        fd = open(final, O_RDWR | O_CLOEXEC);
        assert_true(fd >= 0);
        assert_int_equal(pread(fd, &c, 1, 1000), 1);
        c ^= 0x5a;
        assert_int_equal(pwrite(fd, &c, 1, 1000), 1);
        if (round == 1)
            assert_int_equal(ftruncate(fd, 4096), 0);
        close(fd);
        assert_int_equal(lstat(final, &before), 0);
        pushed = false;
        assert_int_equal(prepare(f, &req, cmd, &pushed, &err), ETX_OK);
        assert_true(pushed);
        assert_int_equal(lstat(final, &after), 0);
        assert_int_not_equal(after.st_ino, before.st_ino);
        assert_pushed(f, dir, cmd);
    }
}

/* A file in the way of the push dir: a clear error, nothing made. */
static void
test_prepare_dir_blocked(void **state)
{
    struct fixture *f = *state;
    char blocker[PATH_MAX];
    char dir[PATH_MAX * 2];
    char cmd[ETX_SSHCMD_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req;
    struct stat st;
    bool pushed = true;

    path_in(f, blocker, sizeof(blocker), "blocker");
    assert_int_equal(write_file(blocker, "x", 0644), 0);
    snprintf(dir, sizeof(dir), "%s/sub", blocker);
    req = req_for(f, "etxroll-agent-not-installed", dir);
    assert_int_equal(prepare(f, &req, cmd, &pushed, &err), ETX_ERR);
    assert_false(pushed);
    assert_string_equal(cmd, "");
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_string_equal(err.op, "ssh-push");
    assert_string_equal(err.where, HOST);
    assert_non_null(strstr(err.msg, "is not a directory"));
    assert_non_null(strstr(err.msg, blocker));
    assert_int_equal(lstat(blocker, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 1);
    assert_int_equal(entries(f->work, NULL, 0), 1);
}

/* A directory at the final name: a clear error, the upload removed. */
static void
test_prepare_final_in_the_way(void **state)
{
    struct fixture *f = *state;
    char dir[PATH_MAX];
    char final[PATH_MAX * 2];
    char one[NAME_MAX + 1];
    char cmd[ETX_SSHCMD_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req;
    bool pushed = true;

    path_in(f, dir, sizeof(dir), "push");
    snprintf(final, sizeof(final), "%s/etxroll-agent-%.16s", dir, f->hex);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(mkdir(final, 0700), 0);
    req = req_for(f, "etxroll-agent-not-installed", dir);
    assert_int_equal(prepare(f, &req, cmd, &pushed, &err), ETX_ERR);
    assert_false(pushed);
    assert_string_equal(cmd, "");
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
    char cmd[ETX_SSHCMD_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req;
    ssh_session s = connect_root(f);
    bool pushed = true;

    path_in(f, dir, sizeof(dir), "push");
    req = req_for(f, "etxroll-agent-not-installed", dir);
    assert_int_equal(shutdown(ssh_get_fd(s), SHUT_RDWR), 0);
    assert_int_equal(
        etx_sshpush_prepare(s, &req, cmd, sizeof(cmd), &pushed, &err), ETX_ERR);
    disconnect(s);
    assert_false(pushed);
    assert_string_equal(cmd, "");
    assert_int_equal(err.cls, ETX_CLASS_TRANSIENT);
    assert_string_equal(err.op, "ssh-probe");
    assert_string_equal(err.where, HOST);
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
             f->work + 1);
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
    char cmd[ETX_SSHCMD_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req;
    bool pushed = true;

    path_in(f, dir, sizeof(dir), "push");
    path_in(f, missing, sizeof(missing), "no-such-agent");
    req = req_for(f, "etxroll-agent-not-installed", dir);
    req.local_agent = missing;
    assert_int_equal(prepare(f, &req, cmd, &pushed, &err), ETX_ERR);
    assert_false(pushed);
    assert_string_equal(err.op, "ssh-digest");
    assert_string_equal(err.where, HOST);
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
    char cmd[ETX_SSHCMD_MAX];
    struct etx_error err = {0};
    struct etx_sshpush_req req;
    bool pushed = true;

    path_in(f, dir, sizeof(dir), "push");
    req = req_for(f, "etxroll-agent-not-installed", dir);
    req.agent_config = "/etc/etxroll/agent.yml\ntouch /tmp/x";
    assert_int_equal(prepare(f, &req, cmd, &pushed, &err), ETX_ERR);
    assert_false(pushed);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_string_equal(err.where, HOST);
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

    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
