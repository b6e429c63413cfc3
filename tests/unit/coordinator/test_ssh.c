/* SPDX-License-Identifier: MIT */
/*
 * The SSH carrier (coordinator/ssh.h) against a real OpenSSH sshd
 * (tests/integration/sshd_lib.sh) on a random 127.0.x.y address and port,
 * running the real etxroll-agent --stdio or small scripts in its place: a
 * Hello round trip over the socket it hands out, a quiet session that
 * leaves the loop asleep, host keys (unknown, learnt, changed), client
 * keys (wrong, passphrase-protected, ssh-agent), the agent missing or
 * refusing its config, exit statuses and signals with the last stderr
 * line, 8 MiB echoed through the pump, the caller's clean end, sshd killed
 * under a live session, connection refused, a listener that never speaks
 * (while a timer on the same loop keeps firing), two sessions on one
 * loop, push_agent, and closes from inside the callbacks and mid-push.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <uv.h>

#include "coordinator/ssh.h"
#include "coordinator/ssh_internal.h" /* the state, to close mid-push */
#include "proto/conn.h"
#include "proto/etxroll.pb-c.h"
#include "proto/frame.h"

#include "tests/unit/coordinator/sshd_fixture.h"

#define HOST    "web-7"
#define WAIT_MS 30000u /* generous: ASan builds on a shared machine */

struct fixture {
    struct etx_test_ssh_env env; /* first (its teardown frees f); its sshd
                                    serves every test but one */
    char bad[PATH_MAX / 4];      /* an agent config with a typo */
    char echo[PATH_MAX / 4];     /* stands in for the agent: cat */
    char noisy[PATH_MAX / 4];    /* writes stderr lines, exits 3 */
    char killed[PATH_MAX / 4];   /* kills itself with SIGKILL */
    char late[PATH_MAX / 4];     /* closes its output, exits 4 later */
    char record[PATH_MAX / 4];   /* copies its stdin to its config's path */
    char known[PATH_MAX / 4];    /* env.sshd.dir/known_hosts */
    char key[PATH_MAX / 4];      /* env.sshd.dir/client_ed25519 */
    char fp[128];                /* "SHA256:..." of its host key */
    struct etx_test_sshd b;      /* a second sshd, for the test that kills it */
    pid_t ssh_agent;             /* an ssh-agent a test started */
};

/* snprintf that fails the test rather than cut a path or a line. */
static void fmt(char *buf, size_t len, const char *f, ...)
    __attribute__((format(printf, 3, 4)));

static void
fmt(char *buf, size_t len, const char *f, ...)
{
    va_list ap;
    int n;

    va_start(ap, f);
    n = vsnprintf(buf, len, f, ap);
    va_end(ap);
    assert_true(n >= 0 && (size_t)n < len);
}

static int
write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "we");
    int rc;

    if (fp == NULL)
        return -1;
    rc = fputs(text, fp) < 0 ? -1 : 0;
    return fclose(fp) != 0 ? -1 : rc;
}

/* The whole of a small file, NUL-terminated ("" when missing). */
static void
read_file(const char *path, char *buf, size_t cap)
{
    FILE *fp = fopen(path, "re");
    size_t n = 0;

    if (fp != NULL) {
        n = fread(buf, 1, cap - 1, fp);
        fclose(fp);
    }
    buf[n] = '\0';
}

/* The scripts that stand in for the agent, each ROOT/name, mode 0755. */
static int
write_scripts(struct fixture *f)
{
    const struct {
        char *path;
        const char *name;
        const char *text;
    } s[] = {
        {f->echo, "echo.sh", "#!/bin/sh\nexec cat\n"},
        {f->noisy, "noisy.sh",
         "#!/bin/sh\nfor i in $(seq 1 300); do\n"
         "  echo \"noise line $i\" >&2\ndone\n"
         "echo 'the last words' >&2\nexit 3\n"},
        {f->killed, "killed.sh", "#!/bin/sh\nkill -KILL $$\n"},
        {f->late, "late.sh", "#!/bin/sh\nexec >&- 2>&-\nsleep 1\nexit 4\n"},
        {f->record, "record.sh", "#!/bin/sh\nexec cat >\"$3\"\n"},
    };
    size_t i;

    for (i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        fmt(s[i].path, PATH_MAX / 4, "%s/%s", f->env.dirs.root, s[i].name);
        if (write_file(s[i].path, s[i].text) != 0 ||
            chmod(s[i].path, 0755) != 0)
            return -1;
    }
    return 0;
}

static int
group_setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    struct etx_test_sshd *a = NULL;

    *state = f;
    if (f == NULL || etx_test_ssh_env_open(&f->env, "ssh") != 0)
        return -1;
    a = &f->env.sshd;
    fmt(f->bad, sizeof(f->bad), "%s/bad.yml", f->env.dirs.root);
    if (etx_test_sshd_path(a, "known_hosts", f->known, sizeof(f->known)) != 0 ||
        etx_test_sshd_path(a, "client_ed25519", f->key, sizeof(f->key)) != 0 ||
        write_file(f->bad, "rootz: [/srv]\n") != 0 || write_scripts(f) != 0)
        return -1;
    return etx_test_sshd_fingerprint(a, f->fp, sizeof(f->fp));
}

/* Whatever a test started is stopped even when it failed half way. */
static int
teardown(void **state)
{
    struct fixture *f = *state;

    if (f->ssh_agent > 1)
        kill(f->ssh_agent, SIGTERM);
    f->ssh_agent = 0;
    etx_test_sshd_stop(&f->b);
    memset(&f->b, 0, sizeof(f->b));
    unsetenv("SSH_AUTH_SOCK");
    return 0;
}

static int
setup(void **state)
{
    struct fixture *f = *state;

    return etx_test_dirs_next(&f->env.dirs, 0700);
}

/* WORK/name of this test into buf. */
static void
work_path(const struct fixture *f, const char *name, char *buf, size_t len)
{
    fmt(buf, len, "%s/%s", f->env.dirs.work, name);
}

/* ---- one connection under test, with its callbacks' observations ---- */

struct run {
    uv_loop_t *loop;
    struct etx_ssh *ssh;
    struct etx_conn *conn;
    int fd;             /* our end when no conn took it */
    bool say_hello;     /* open a conn on the fd and exchange Hello */
    bool close_in_open; /* etx_ssh_close() from inside open() */
    bool drop_conn;     /* after Hello close only the conn (caller's EOF) */
    const struct etx_test_sshd *kill_sshd; /* after Hello, stop this sshd */
    struct idle *idle;                     /* after Hello, stay open a while */
    size_t written; /* fill the fd, then close everything, in open() */
    int opened;
    int closed;
    bool why_null;
    struct etx_error why;
    bool hello;
    uint32_t proto;
    bool eof_in_closed; /* our end already said EOF inside closed() */
    char command[512];
    bool pushed;
    struct echo *echo; /* pump bytes through the fd (echo.sh) */
};

/* Bytes written to the fd and expected back, a pattern no shift hides. */
struct echo {
    uv_poll_t poll;
    int fd;
    size_t total;
    size_t sent;
    size_t got;
    bool shut;
    bool bad; /* a byte came back wrong */
    bool eof;
    char buf[65536];
};

static char
pattern(size_t i)
{
    return (char)(i * 7u + i / 251u);
}

static void
echo_close_cb(uv_handle_t *h)
{
    struct echo *e = h->data;

    close(e->fd);
}

static void
echo_send(struct echo *e)
{
    size_t n = e->total - e->sent, i;
    ssize_t w;

    if (n > sizeof(e->buf))
        n = sizeof(e->buf);
    for (i = 0; i < n; i++)
        e->buf[i] = pattern(e->sent + i);
    w = send(e->fd, e->buf, n, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w > 0)
        e->sent += (size_t)w;
    if (e->sent == e->total && !e->shut) {
        shutdown(e->fd, SHUT_WR); /* the agent's stdin ends */
        e->shut = true;
    }
}

static void
on_echo(uv_poll_t *p, int status, int events)
{
    struct echo *e = p->data;
    ssize_t n, i;

    if (status == 0 && (events & UV_WRITABLE) && !e->shut)
        echo_send(e);
    if (status == 0 && (events & UV_READABLE)) {
        n = recv(e->fd, e->buf, sizeof(e->buf), MSG_DONTWAIT);
        for (i = 0; i < n; i++)
            e->bad |= e->buf[i] != pattern(e->got + (size_t)i);
        if (n > 0)
            e->got += (size_t)n;
        e->eof = n == 0;
    }
    if (status < 0 || e->eof) {
        uv_close((uv_handle_t *)p, echo_close_cb);
        return;
    }
    uv_poll_start(p, e->shut ? UV_READABLE : UV_READABLE | UV_WRITABLE,
                  on_echo);
}

static void
echo_start(struct run *r, int fd)
{
    struct echo *e = r->echo;

    e->fd = fd;
    assert_int_equal(uv_poll_init_socket(r->loop, &e->poll, fd), 0);
    e->poll.data = e;
    assert_int_equal(
        uv_poll_start(&e->poll, UV_READABLE | UV_WRITABLE, on_echo), 0);
}

/* A live, quiet session for a second, counting loop iterations. */
struct idle {
    uv_timer_t timer;
    uv_prepare_t prepare;
    unsigned iterations;
    struct run *r;
};

static void
on_prepare(uv_prepare_t *p)
{
    struct idle *i = p->data;

    i->iterations++;
}

static void
on_idle_over(uv_timer_t *t)
{
    struct idle *i = t->data;

    uv_close((uv_handle_t *)&i->timer, NULL);
    uv_close((uv_handle_t *)&i->prepare, NULL);
    etx_conn_close(i->r->conn);
    etx_ssh_close(i->r->ssh);
}

static void
idle_start(struct run *r)
{
    struct idle *i = r->idle;

    i->r = r;
    uv_timer_init(r->loop, &i->timer);
    uv_prepare_init(r->loop, &i->prepare);
    i->timer.data = i->prepare.data = i;
    uv_prepare_start(&i->prepare, on_prepare);
    uv_timer_start(&i->timer, on_idle_over, 1000, 0);
}

static void
conn_frame(struct etx_conn *c, Etxroll__Envelope *env, void *arg)
{
    struct run *r = arg;

    if (env->body_case == ETXROLL__ENVELOPE__BODY_HELLO) {
        r->hello = true;
        r->proto = env->hello->protocol_version;
    } else if (env->body_case == ETXROLL__ENVELOPE__BODY_RESULT &&
               env->result->error != NULL)
        print_message("agent: %s\n", env->result->error->message);
    else
        print_message("agent sent body %d\n", (int)env->body_case);
    etx_frame_free(env);
    if (r->kill_sshd != NULL) {
        assert_int_equal(
            etx_test_sshd_lib(r->kill_sshd, "etx_sshd_stop \"$1\""), 0);
        return;
    }
    if (r->idle != NULL) {
        idle_start(r);
        return;
    }
    etx_conn_close(c);
    if (!r->drop_conn)
        etx_ssh_close(r->ssh);
}

static void
conn_closed(struct etx_conn *c, const struct etx_error *why, void *arg)
{
    struct run *r = arg;

    (void)c;
    if (why != NULL && getenv("ETX_TEST_VERBOSE") != NULL)
        print_message("conn closed: %s [%s]\n", why->msg, why->op);
    r->conn = NULL;
}

static void
send_hello(struct run *r, int fd)
{
    struct etx_conn_cbs ccbs = {
        .on_frame = conn_frame, .on_close = conn_closed, .arg = r};
    Etxroll__Envelope env = ETXROLL__ENVELOPE__INIT;
    Etxroll__Hello hello = ETXROLL__HELLO__INIT;
    struct etx_conn_opts opts = {0};
    struct etx_error err = {0};
    int fds[2] = {fd, fd};

    r->conn = etx_conn_open_stdio(r->loop, fds, &opts, &ccbs, &err);
    assert_non_null(r->conn);
    hello.protocol_version = ETX_PROTO_VERSION;
    hello.software_version = "test_ssh";
    env.body_case = ETXROLL__ENVELOPE__BODY_HELLO;
    env.hello = &hello;
    assert_int_equal(etx_conn_send(r->conn, &env, &err), ETX_OK);
}

/* Write the pattern until the socket takes no more; the bytes written. */
static size_t
fill(int fd)
{
    char buf[4096];
    size_t sent = 0, i;
    ssize_t w;

    do {
        for (i = 0; i < sizeof(buf); i++)
            buf[i] = pattern(sent + i);
        w = send(fd, buf, sizeof(buf), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0)
            sent += (size_t)w;
    } while (w > 0 && sent < (4u << 20));
    return sent;
}

static void
on_open(struct etx_ssh *s, int fd, void *arg)
{
    struct run *r = arg;
    const char *cmd = etx_ssh_command(s);

    r->opened++;
    assert_true(fd >= 0);
    assert_non_null(cmd);
    fmt(r->command, sizeof(r->command), "%s", cmd);
    r->pushed = etx_ssh_pushed(s);
    if (r->written > 0) {
        r->written = fill(fd);
        etx_ssh_close(s);
        close(fd);
        return;
    }
    if (r->close_in_open) {
        etx_ssh_close(s);
        etx_ssh_close(s); /* a second call is a no-op */
    }
    if (r->echo != NULL)
        echo_start(r, fd);
    else if (r->say_hello)
        send_hello(r, fd);
    else
        r->fd = fd;
}

static void
on_closed(struct etx_ssh *s, const struct etx_error *why, void *arg)
{
    struct run *r = arg;
    char c;

    assert_ptr_equal(s, r->ssh);
    r->closed++;
    r->why_null = why == NULL;
    if (why != NULL)
        r->why = *why;
    if (why != NULL && getenv("ETX_TEST_VERBOSE") != NULL)
        print_message("closed: %s [%s, %s, %s]\n", why->msg, why->op,
                      etx_error_class_name(why->cls),
                      etx_error_errno_name(why->sys_errno));
    if (r->fd >= 0)
        r->eof_in_closed = recv(r->fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
    etx_ssh_close(s); /* no-op from inside closed() */
    if (r->conn != NULL)
        etx_conn_close(r->conn);
}

static void
target_for(const struct fixture *f, struct etx_ssh_target *t)
{
    memset(t, 0, sizeof(*t));
    t->name = HOST;
    t->address = f->env.sshd.addr;
    t->port = (uint16_t)f->env.sshd.port;
    t->identity_file = f->key;
    t->known_hosts = f->known;
    t->agent_path = f->env.agent;
    t->agent_config = f->env.config;
    t->timeout_ms = WAIT_MS;
}

static void
start(struct run *r, uv_loop_t *loop, const struct etx_ssh_target *t)
{
    struct etx_ssh_cbs cbs = {.open = on_open, .closed = on_closed, .arg = r};
    struct etx_error err = {0};

    r->loop = loop;
    r->fd = -1;
    r->ssh = etx_ssh_open(loop, t, &cbs, &err);
    assert_non_null(r->ssh);
}

/* Open t, run the loop until everything is closed; the loop is closed. */
static void
run_one(struct run *r, const struct etx_ssh_target *t)
{
    uv_loop_t loop;

    assert_int_equal(uv_loop_init(&loop), 0);
    start(r, &loop, t);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(r->closed, 1);
}

/* After closed(), our end of the socket pair says end of file. */
static void
assert_eof_after(struct run *r)
{
    char c;

    assert_true(r->fd >= 0);
    assert_false(r->eof_in_closed);
    assert_int_equal(recv(r->fd, &c, 1, MSG_DONTWAIT), 0);
    close(r->fd);
    r->fd = -1;
}

static void
assert_why(const struct run *r, enum etx_err_class cls, const char *op)
{
    assert_false(r->why_null);
    assert_int_equal(r->why.cls, cls);
    assert_string_equal(r->why.op, op);
    assert_string_equal(r->why.where, HOST);
}

static void
assert_msg_has(const struct run *r, const char *part)
{
    if (strstr(r->why.msg, part) == NULL)
        fail_msg("'%s' not in: %s", part, r->why.msg);
}

/* Every part of a NULL-ended list is in the message. */
static void
assert_msg_has_all(const struct run *r, const char *const *parts)
{
    for (; *parts != NULL; parts++)
        assert_msg_has(r, *parts);
}

/* Run t to a session that never opened and ended with cls and op. */
static void
run_unopened(struct run *r, const struct etx_ssh_target *t,
             enum etx_err_class cls, const char *op)
{
    run_one(r, t);
    assert_int_equal(r->opened, 0);
    assert_why(r, cls, op);
}

/* Run t saying Hello: the agent answered and the session ended clean. */
static void
run_hello(struct run *r, const struct etx_ssh_target *t)
{
    r->say_hello = true;
    run_one(r, t);
    assert_true(r->hello);
    assert_true(r->why_null);
}

/* The target for push_agent into WORK/push, agent_path missing there. */
static void
push_target(const struct fixture *f, struct etx_ssh_target *t, char *dir,
            size_t len)
{
    work_path(f, "push", dir, len);
    t->agent_path = "/nonexistent/etxroll-agent";
    t->push_agent = true;
    t->push_dir = dir;
    t->local_agent = f->env.agent;
}

/* The sessions the agent's side ends, one test each. */
enum agent_end_case {
    AGENT_MISSING,
    AGENT_CONFIG_ERROR,
    AGENT_EXIT_STATUS,
    AGENT_KILLED,
    AGENT_LATE_EXIT,
};

/* Run a session whose agent ends it: "ssh-agent" with the case's class,
 * every part of its list in the message, then EOF on our end. */
static void
expect_agent_end(const struct fixture *f, enum agent_end_case which)
{
    const struct {
        const char *path;   /* agent_path, or NULL for the real agent */
        const char *config; /* agent_config, or NULL for env.config */
        bool opened;        /* open() was called once */
        enum etx_err_class cls;
        const char *has[4]; /* in the message, NULL-ended */
    } cases[] = {
        /* Missing: the last part is the shell's line; config error:
         * the parts are the agent's stderr. */
        [AGENT_MISSING] = {.path = "/nonexistent/etxroll-agent",
                           .opened = true,
                           .cls = ETX_CLASS_INPUT,
                           .has = {"docs/agent.md",
                                   "transport.push_agent: true",
                                   "No such file or directory"}},
        [AGENT_CONFIG_ERROR] = {.config = f->bad,
                                .opened = true,
                                .cls = ETX_CLASS_INPUT,
                                .has = {"exit 2", "unknown key 'rootz'"}},
        [AGENT_EXIT_STATUS] = {.path = f->noisy,
                               .cls = ETX_CLASS_TRANSIENT,
                               .has = {"exited with status 3: the last "
                                       "words"}},
        [AGENT_KILLED] = {.path = f->killed,
                          .cls = ETX_CLASS_TRANSIENT,
                          .has = {"killed by SIGKILL"}},
        [AGENT_LATE_EXIT] = {.path = f->late,
                             .cls = ETX_CLASS_TRANSIENT,
                             .has = {"exited with status 4"}},
    };
    struct etx_ssh_target t;
    struct run r = {0};

    target_for(f, &t);
    if (cases[which].path != NULL)
        t.agent_path = cases[which].path;
    if (cases[which].config != NULL)
        t.agent_config = cases[which].config;
    run_one(&r, &t);
    if (cases[which].opened)
        assert_int_equal(r.opened, 1);
    assert_why(&r, cases[which].cls, "ssh-agent");
    assert_msg_has_all(&r, cases[which].has);
    assert_eof_after(&r);
}

/* ---- tests ---- */

static void
test_etx_ssh_open_hello(void **state)
{
    struct fixture *f = *state;
    struct etx_ssh_target t;
    struct run r = {0};

    target_for(f, &t);
    run_hello(&r, &t);
    assert_int_equal(r.opened, 1);
    assert_int_equal(r.proto, ETX_PROTO_VERSION);
    assert_null(r.conn);
    assert_non_null(strstr(r.command, "--stdio --config"));
    assert_non_null(strstr(r.command, f->env.agent));
    assert_false(r.pushed);
}

/* A quiet open session leaves the loop asleep: no poll spins on the SSH
 * socket or the socket pair (a spin would run the loop without end). */
static void
test_etx_ssh_idle_no_spin(void **state)
{
    struct etx_ssh_target t;
    struct idle i = {0};
    struct run r = {.idle = &i};

    target_for(*state, &t);
    run_hello(&r, &t);
    assert_true(i.iterations < 50);
}

static void
test_etx_ssh_open_unknown_host_strict(void **state)
{
    struct fixture *f = *state;
    struct etx_ssh_target t;
    struct run r = {0};
    char kh[PATH_MAX], text[64], part[128];

    work_path(f, "known_hosts", kh, sizeof(kh));
    assert_int_equal(write_file(kh, ""), 0);
    target_for(f, &t);
    t.known_hosts = kh;
    run_unopened(&r, &t, ETX_CLASS_INPUT, "ssh-hostkey");
    fmt(part, sizeof(part), "ssh-keyscan -p %d %s >> %s", f->env.sshd.port,
        f->env.sshd.addr, kh);
    assert_msg_has_all(&r,
                       (const char *const[]){f->fp, part, "accept-new", NULL});
    read_file(kh, text, sizeof(text));
    assert_string_equal(text, "");
}

static void
test_etx_ssh_open_accept_new(void **state)
{
    struct fixture *f = *state;
    struct etx_ssh_target t;
    struct run first = {.close_in_open = true}, second = {0};
    char kh[PATH_MAX], text[4096], spec[64];

    /* A file in a directory that does not exist yet, as on a first run. */
    work_path(f, "fresh/known_hosts", kh, sizeof(kh));
    target_for(f, &t);
    t.known_hosts = kh;
    t.accept_new = true;
    run_one(&first, &t);
    assert_int_equal(first.opened, 1);
    assert_true(first.why_null);
    read_file(kh, text, sizeof(text));
    fmt(spec, sizeof(spec), "[%s]:%d ", f->env.sshd.addr, f->env.sshd.port);
    assert_non_null(strstr(text, spec));
    assert_non_null(strchr(text, '\n'));
    assert_null(strchr(strchr(text, '\n') + 1, '\n')); /* one line */

    t.accept_new = false; /* now strict: the learnt key is enough */
    run_hello(&second, &t);
}

static void
test_etx_ssh_open_changed_host_key(void **state)
{
    struct fixture *f = *state;
    struct etx_ssh_target t;
    struct run r = {.say_hello = true};
    char kh[PATH_MAX], pub[512], line[1024], before[1024], after[1024];
    char type[64], b64[256];

    /* The client's public key stands in for an old host key. */
    fmt(line, sizeof(line), "%s.pub", f->key);
    read_file(line, pub, sizeof(pub));
    assert_int_equal(sscanf(pub, "%63s %255s", type, b64), 2);
    fmt(line, sizeof(line), "[%s]:%d %s %s\n", f->env.sshd.addr,
        f->env.sshd.port, type, b64);
    work_path(f, "known_hosts", kh, sizeof(kh));
    assert_int_equal(write_file(kh, line), 0);
    read_file(kh, before, sizeof(before));
    target_for(f, &t);
    t.known_hosts = kh;
    t.accept_new = true; /* changed keys are refused regardless */
    run_unopened(&r, &t, ETX_CLASS_INPUT, "ssh-hostkey");
    assert_msg_has_all(&r, (const char *const[]){"HOST KEY CHANGED", f->fp,
                                                 "ssh-keygen -R", NULL});
    read_file(kh, after, sizeof(after));
    assert_string_equal(before, after);
}

/* A client key made by ssh-keygen with options 'how' is refused with
 * "ssh-auth", the key's path and every part of 'has' in the message. */
static void
expect_key_refused(const struct fixture *f, const char *name, const char *how,
                   const char *const *has)
{
    struct etx_ssh_target t;
    struct run r = {0};
    char key[PATH_MAX], cmd[PATH_MAX + 96];

    work_path(f, name, key, sizeof(key));
    fmt(cmd, sizeof(cmd), "ssh-keygen -q %s -f '%s'", how, key);
    assert_int_equal(system(cmd), 0);
    target_for(f, &t);
    t.identity_file = key;
    run_unopened(&r, &t, ETX_CLASS_INPUT, "ssh-auth");
    assert_msg_has_all(&r, has);
    assert_msg_has(&r, key);
}

static void
test_etx_ssh_open_wrong_client_key(void **state)
{
    expect_key_refused(
        *state, "other_ed25519", "-t ed25519 -N ''",
        (const char *const[]){"refused", "authorized_keys", NULL});
}

/* Passphrase-protected keys are refused at once, never prompted for. */
static void
test_etx_ssh_open_encrypted_key(void **state)
{
    static const char *const how[] = {"-t ed25519 -N secret",
                                      "-t ecdsa -m PEM -N secret"};
    char name[32];
    size_t i;

    for (i = 0; i < sizeof(how) / sizeof(how[0]); i++) {
        fmt(name, sizeof(name), "locked%zu", i);
        expect_key_refused(*state, name, how[i],
                           (const char *const[]){"passphrase", NULL});
    }
}

static void
test_etx_ssh_open_ssh_agent(void **state)
{
    struct fixture *f = *state;
    struct etx_test_sshd here = {0};
    struct etx_ssh_target t;
    struct run r = {0};
    char sock[PATH_MAX], pidfile[PATH_MAX], text[32], line[512];

    fmt(here.dir, sizeof(here.dir), "%s", f->env.dirs.work);
    work_path(f, "agent.sock", sock, sizeof(sock));
    work_path(f, "agent.pid", pidfile, sizeof(pidfile));
    fmt(line, sizeof(line),
        "eval \"$(ssh-agent -s -a \"$1/agent.sock\")\" >/dev/null && "
        "echo \"$SSH_AGENT_PID\" >\"$1/agent.pid\" && "
        "SSH_AUTH_SOCK=\"$1/agent.sock\" ssh-add -q '%s' 2>/dev/null",
        f->key);
    assert_int_equal(etx_test_sshd_lib(&here, line), 0);
    read_file(pidfile, text, sizeof(text));
    f->ssh_agent = (pid_t)atoi(text);
    assert_true(f->ssh_agent > 1);
    assert_int_equal(setenv("SSH_AUTH_SOCK", sock, 1), 0);
    target_for(f, &t);
    t.identity_file = NULL;
    run_hello(&r, &t);
}

static void
test_etx_ssh_open_agent_missing(void **state)
{
    expect_agent_end(*state, AGENT_MISSING);
}

static void
test_etx_ssh_open_agent_config_error(void **state)
{
    expect_agent_end(*state, AGENT_CONFIG_ERROR);
}

/* 8 MiB each way through the pump, the window and both bounded buffers;
 * the caller's EOF ends cat, which exits 0: a clean end. */
static void
test_etx_ssh_pump_echo(void **state)
{
    struct fixture *f = *state;
    struct etx_ssh_target t;
    struct echo *e = calloc(1, sizeof(*e));
    struct run r = {.echo = e};
    size_t sent, got;
    bool eof, bad;

    assert_non_null(e);
    e->total = 8u << 20;
    target_for(f, &t);
    t.agent_path = f->echo;
    run_one(&r, &t);
    eof = e->eof;
    bad = e->bad;
    sent = e->sent;
    got = e->got;
    free(e);
    assert_true(r.why_null);
    assert_true(eof);
    assert_int_equal(sent, 8u << 20);
    assert_int_equal(got, 8u << 20);
    assert_false(bad);
}

static void
test_etx_ssh_agent_exit_status(void **state)
{
    expect_agent_end(*state, AGENT_EXIT_STATUS);
}

static void
test_etx_ssh_agent_killed(void **state)
{
    expect_agent_end(*state, AGENT_KILLED);
}

/* The agent's EOF comes a second before its exit status: the status is
 * still read (the socket is read after EOF, without a channel read). */
static void
test_etx_ssh_agent_late_exit(void **state)
{
    expect_agent_end(*state, AGENT_LATE_EXIT);
}

/* etx_ssh_close() right after writing: what was written still reaches
 * the agent (record.sh copies its stdin to a file). */
static void
test_etx_ssh_close_flushes(void **state)
{
    struct fixture *f = *state;
    struct etx_ssh_target t;
    struct run r = {.written = 1};
    char path[PATH_MAX];
    struct stat st = {0};
    FILE *fp = NULL;
    size_t i;
    int c, tries;

    work_path(f, "got", path, sizeof(path));
    target_for(f, &t);
    t.agent_path = f->record;
    t.agent_config = path; /* record.sh writes its stdin there */
    run_one(&r, &t);
    assert_true(r.why_null);
    assert_true(r.written > 0);
    /* cat on the host may still be writing after our disconnect. */
    for (tries = 0; tries < 200; tries++) {
        if (stat(path, &st) == 0 && (size_t)st.st_size >= r.written)
            break;
        usleep(50 * 1000);
    }
    assert_int_equal((size_t)st.st_size, r.written);
    fp = fopen(path, "re");
    assert_non_null(fp);
    for (i = 0; (c = getc(fp)) != EOF; i++)
        if ((char)c != pattern(i))
            break;
    fclose(fp);
    assert_int_equal(i, r.written);
}

/* The caller closes its end only: the agent sees EOF and exits 0. */
static void
test_etx_ssh_caller_eof_clean(void **state)
{
    struct etx_ssh_target t;
    struct run r = {.drop_conn = true};

    target_for(*state, &t);
    run_hello(&r, &t);
}

static void
test_etx_ssh_sshd_stopped(void **state)
{
    struct fixture *f = *state;
    struct etx_test_sshd *b = &f->b;
    struct etx_ssh_target t;
    struct run r = {.say_hello = true};
    char kh[PATH_MAX], key[PATH_MAX];

    work_path(f, "sshd-b", b->dir, sizeof(b->dir));
    assert_int_equal(etx_test_sshd_start(b), 0);
    assert_int_equal(etx_test_sshd_path(b, "known_hosts", kh, sizeof(kh)), 0);
    assert_int_equal(etx_test_sshd_path(b, "client_ed25519", key, sizeof(key)),
                     0);
    target_for(f, &t);
    t.address = b->addr;
    t.port = (uint16_t)b->port;
    t.known_hosts = kh;
    t.identity_file = key;
    r.kill_sshd = b;
    run_one(&r, &t);
    assert_true(r.hello);
    assert_int_equal(r.why.cls, ETX_CLASS_TRANSIENT);
    assert_false(r.why_null);
    assert_string_equal(r.why.where, HOST);
    assert_true(etx_error_is_retryable(&r.why));
}

/* A free port on 127.0.0.1, closed again: nothing listens there. */
static int
dead_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int port = -1;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void
test_etx_ssh_open_refused(void **state)
{
    struct etx_ssh_target t;
    struct run r = {0};
    int port = dead_port();

    assert_true(port > 0);
    target_for(*state, &t);
    t.address = "127.0.0.1";
    t.port = (uint16_t)port;
    run_unopened(&r, &t, ETX_CLASS_TRANSIENT, "ssh-connect");
    assert_int_equal(r.why.sys_errno, ECONNREFUSED);
}

struct ticker {
    uv_timer_t timer;
    int ticks;
    int ticks_at_close;
    struct run *r;
};

static void
on_tick(uv_timer_t *t)
{
    struct ticker *k = t->data;

    k->ticks++;
    if (k->r->closed > 0) {
        k->ticks_at_close = k->ticks;
        uv_close((uv_handle_t *)t, NULL);
    }
}

/* The TCP handshake completes (backlog) but no SSH banner ever comes. */
static void
test_etx_ssh_open_silent_listener(void **state)
{
    struct fixture *f = *state;
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct ticker k = {0};
    struct etx_ssh_target t;
    struct run r = {0};
    uv_loop_t loop;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(lfd >= 0);
    assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(listen(lfd, 4), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&sa, &len), 0);
    target_for(f, &t);
    t.address = "127.0.0.1";
    t.port = ntohs(sa.sin_port);
    t.timeout_ms = 1500;
    assert_int_equal(uv_loop_init(&loop), 0);
    uv_timer_init(&loop, &k.timer);
    k.timer.data = &k;
    k.r = &r;
    uv_timer_start(&k.timer, on_tick, 100, 100);
    start(&r, &loop, &t);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    close(lfd);
    assert_int_equal(r.closed, 1);
    assert_why(&r, ETX_CLASS_TRANSIENT, "ssh-connect");
    assert_int_equal(r.why.sys_errno, ETIMEDOUT);
    assert_msg_has(&r, "SSH handshake");
    /* The loop kept running other handles while the session waited. */
    assert_true(k.ticks_at_close >= 3);
}

static void
test_etx_ssh_open_two_at_once(void **state)
{
    struct fixture *f = *state;
    struct etx_ssh_target t;
    struct run a = {.say_hello = true}, b = {.say_hello = true};
    uv_loop_t loop;

    target_for(f, &t);
    assert_int_equal(uv_loop_init(&loop), 0);
    start(&a, &loop, &t);
    start(&b, &loop, &t);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_true(a.hello && b.hello);
    assert_true(a.why_null && b.why_null);
    assert_int_equal(a.closed + b.closed, 2);
}

static void
test_etx_ssh_open_push_agent(void **state)
{
    struct fixture *f = *state;
    struct etx_ssh_target t;
    struct run r = {0};
    char dir[PATH_MAX];

    target_for(f, &t);
    push_target(f, &t, dir, sizeof(dir));
    run_hello(&r, &t);
    assert_true(r.pushed);
    assert_non_null(strstr(r.command, dir));
}

struct push_watch {
    uv_check_t check;
    struct run *r;
    bool closed_in_push;
};

/* Once per loop iteration: close the session while its push runs. */
static void
on_check(uv_check_t *c)
{
    struct push_watch *w = c->data;

    if (w->r->closed == 0 && w->r->ssh->state == ETX_SSH_PUSH) {
        etx_ssh_close(w->r->ssh);
        w->closed_in_push = true;
    }
    if (w->closed_in_push || w->r->closed > 0)
        uv_close((uv_handle_t *)c, NULL);
}

static void
test_etx_ssh_close_early(void **state)
{
    struct fixture *f = *state;
    struct etx_ssh_target t;
    struct run r = {0}, p = {0};
    struct push_watch w = {.r = &p};
    char dir[PATH_MAX];
    uv_loop_t loop;

    /* Closed before the loop ever ran: no open(), closed(NULL). */
    target_for(f, &t);
    assert_int_equal(uv_loop_init(&loop), 0);
    start(&r, &loop, &t);
    etx_ssh_close(r.ssh);
    /* Closed while its push runs on the thread pool. */
    push_target(f, &t, dir, sizeof(dir));
    start(&p, &loop, &t);
    uv_check_init(&loop, &w.check);
    w.check.data = &w;
    uv_check_start(&w.check, on_check);
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
    assert_int_equal(r.opened, 0);
    assert_int_equal(r.closed, 1);
    assert_true(r.why_null);
    assert_true(w.closed_in_push);
    assert_int_equal(p.opened, 0);
    assert_int_equal(p.closed, 1);
    assert_true(p.why_null);
}

static void
test_etx_ssh_open_bad_target(void **state)
{
    struct fixture *f = *state;
    struct etx_ssh_cbs cbs = {.open = on_open, .closed = on_closed};
    struct etx_ssh_target t;
    struct etx_error err = {0};
    uv_loop_t loop;

    assert_int_equal(uv_loop_init(&loop), 0);
    target_for(f, &t);
    t.address = NULL;
    assert_null(etx_ssh_open(&loop, &t, &cbs, &err));
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_string_equal(err.where, HOST);
    target_for(f, &t);
    t.push_agent = true;
    memset(&err, 0, sizeof(err));
    assert_null(etx_ssh_open(&loop, &t, &cbs, &err));
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_non_null(strstr(err.msg, "local agent"));
    cbs.closed = NULL;
    target_for(f, &t);
    assert_null(etx_ssh_open(&loop, &t, &cbs, &err));
    assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
        T(test_etx_ssh_open_hello),
        T(test_etx_ssh_idle_no_spin),
        T(test_etx_ssh_open_unknown_host_strict),
        T(test_etx_ssh_open_accept_new),
        T(test_etx_ssh_open_changed_host_key),
        T(test_etx_ssh_open_wrong_client_key),
        T(test_etx_ssh_open_encrypted_key),
        T(test_etx_ssh_open_ssh_agent),
        T(test_etx_ssh_open_agent_missing),
        T(test_etx_ssh_open_agent_config_error),
        T(test_etx_ssh_caller_eof_clean),
        T(test_etx_ssh_pump_echo),
        T(test_etx_ssh_agent_exit_status),
        T(test_etx_ssh_agent_killed),
        T(test_etx_ssh_agent_late_exit),
        T(test_etx_ssh_close_flushes),
        T(test_etx_ssh_sshd_stopped),
        T(test_etx_ssh_open_refused),
        T(test_etx_ssh_open_silent_listener),
        T(test_etx_ssh_open_two_at_once),
        T(test_etx_ssh_open_push_agent),
        T(test_etx_ssh_close_early),
        T(test_etx_ssh_open_bad_target),
#undef T
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, group_setup,
                                  etx_test_ssh_env_teardown);
}
