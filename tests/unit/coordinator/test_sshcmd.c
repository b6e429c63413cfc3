/* SPDX-License-Identifier: MIT */
/*
 * The pure half of push_agent over SSH: the quoting of the agent command
 * (exact text, refusals), the probe and mv commands run by a real /bin/sh
 * -c as sshd runs them (names a shell would expand stay literal), the
 * strict parser of the probe's answer, hostile answers included, and the
 * platform check. The agent command through a real sshd is in
 * test_sshpush.c.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "coordinator/sshcmd.h"

#include "tests/unit/coordinator/sshd_fixture.h"

#define HOST "web-1"

/* A name a shell would expand: it would create the file T there. */
#define TRAP_NAME "it's $(touch T) `touch T`"

/* The state is a struct etx_test_ssh_env of which only the tree is made
 * (no sshd here): a temporary directory, a work directory per test. */
static int
group_setup(void **state)
{
    struct etx_test_ssh_env *e = calloc(1, sizeof(*e));

    *state = e;
    return e != NULL ? etx_test_dirs_open(&e->dirs, "sshcmd") : -1;
}

static int
setup(void **state)
{
    struct etx_test_ssh_env *e = *state;

    return etx_test_dirs_next(&e->dirs, 0755);
}

/* Run cmd with /bin/sh -c in dir, as sshd does: its stdout into out (at
 * most cap bytes, not NUL-terminated) and *len; its exit status. */
static int
run_sh(const char *dir, const char *cmd, char *out, size_t cap, size_t *len)
{
    int fds[2];
    int status = 0;
    ssize_t n = 0;
    pid_t pid;

    assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (chdir(dir) != 0 || dup2(fds[1], STDOUT_FILENO) < 0)
            _exit(126);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    *len = 0;
    while ((n = read(fds[0], out + *len, cap - *len)) > 0)
        *len += (size_t)n;
    close(fds[0]);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    return WEXITSTATUS(status);
}

/* The number of entries in dir other than . and .. */
static int
entries(const char *dir)
{
    struct dirent *de = NULL;
    DIR *d = opendir(dir);
    int n = 0;

    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void
make_file(const char *path, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);

    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(chmod(path, mode), 0);
}

static void
test_command_ok(void **state)
{
    char buf[256];
    const char *want =
        "'/opt/my agent/it'\\''s' --stdio --config '/etc/x $(y) `z`.yml'";
    struct etx_error err = {0};

    (void)state;
    assert_int_equal(etx_sshcmd_command("/opt/my agent/it's",
                                        "/etc/x $(y) `z`.yml", buf, sizeof(buf),
                                        &err),
                     ETX_OK);
    assert_string_equal(buf, want);
    /* Exactly enough room, then one byte less. */
    assert_int_equal(etx_sshcmd_command("/opt/my agent/it's",
                                        "/etc/x $(y) `z`.yml", buf,
                                        strlen(want) + 1, &err),
                     ETX_OK);
    assert_string_equal(buf, want);
    assert_int_equal(etx_sshcmd_command("/opt/my agent/it's",
                                        "/etc/x $(y) `z`.yml", buf,
                                        strlen(want), &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_non_null(strstr(err.msg, "longer than"));
    assert_string_equal(buf, "");
}

static void
test_command_hostile(void **state)
{
    const char *bad[][2] = {
        {"/a\nb", "/c"}, {"/a", "/c\n"}, {"/a\rb", "/c"}, {"", "/c"},
        {"/a", ""},      {NULL, "/c"},   {"/a", NULL},
    };
    char buf[64];
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct etx_error err = {0};

        memcpy(buf, "junk", 5);
        assert_int_equal(
            etx_sshcmd_command(bad[i][0], bad[i][1], buf, sizeof(buf), &err),
            ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_INPUT);
        assert_non_null(strstr(err.msg, "one line"));
        assert_string_equal(buf, "");
    }
}

/*
 * The probe run by /bin/sh: an executable file with a name a shell would
 * expand is present, the same file not executable and a name that is
 * nowhere are missing; uname's answer comes back and no trap fires.
 */
static void
test_probe_command_runs_literally(void **state)
{
    const struct etx_test_ssh_env *e = *state;
    char agent[PATH_MAX + 64];
    char cmd[ETX_SSHCMD_PROBE_MAX];
    char out[256];
    const char *names[] = {agent, agent, "etxroll-agent-not-installed"};
    struct etx_sshcmd_probe p;
    struct etx_error err = {0};
    struct utsname u;
    size_t len = 0;
    int i;

    assert_int_equal(uname(&u), 0);
    snprintf(agent, sizeof(agent), "%s/" TRAP_NAME, e->dirs.work);
    make_file(agent, 0755);
    for (i = 0; i < 3; i++) {
        if (i == 1)
            assert_int_equal(chmod(agent, 0644), 0);
        assert_true(etx_sshcmd_probe_command(names[i], cmd, sizeof(cmd)));
        assert_int_equal(run_sh(e->dirs.work, cmd, out, sizeof(out), &len), 0);
        assert_int_equal(etx_sshcmd_parse_probe(HOST, out, len, &p, &err),
                         ETX_OK);
        assert_true(p.present == (i == 0));
        assert_string_equal(p.sys, u.sysname);
        assert_string_equal(p.machine, u.machine);
    }
    assert_int_equal(entries(e->dirs.work), 1);
}

static void
test_probe_command_refused(void **state)
{
    char *huge = malloc(ETX_SSHCMD_MAX);
    char cmd[ETX_SSHCMD_PROBE_MAX];
    char small[32];

    (void)state;
    assert_non_null(huge);
    memset(huge, 'a', ETX_SSHCMD_MAX - 1);
    huge[ETX_SSHCMD_MAX - 1] = '\0';
    memcpy(cmd, "junk", 5);
    assert_false(etx_sshcmd_probe_command("/a\nreboot", cmd, sizeof(cmd)));
    assert_string_equal(cmd, "");
    assert_false(etx_sshcmd_probe_command(NULL, cmd, sizeof(cmd)));
    /* The script itself does not fit, however large the command. */
    memcpy(cmd, "junk", 5);
    assert_false(etx_sshcmd_probe_command(huge, cmd, sizeof(cmd)));
    assert_string_equal(cmd, "");
    assert_false(etx_sshcmd_probe_command("/a", small, sizeof(small)));
    assert_string_equal(small, "");
    assert_false(etx_sshcmd_probe_command("/a", small, 0));
    free(huge);
}

/* mv run by /bin/sh renames names a shell would expand, literally. */
static void
test_mv_command_runs_literally(void **state)
{
    const struct etx_test_ssh_env *e = *state;
    char from[PATH_MAX + 64];
    char to[PATH_MAX + 64];
    char cmd[3 * PATH_MAX];
    char out[256];
    struct stat st;
    size_t len = 0;

    snprintf(from, sizeof(from), "%s/." TRAP_NAME ".tmp", e->dirs.work);
    snprintf(to, sizeof(to), "%s/" TRAP_NAME, e->dirs.work);
    make_file(from, 0700);
    make_file(to, 0600);
    assert_true(etx_sshcmd_mv_command(from, to, cmd, sizeof(cmd)));
    assert_int_equal(run_sh(e->dirs.work, cmd, out, sizeof(out), &len), 0);
    assert_int_equal(len, 0);
    assert_int_equal(lstat(to, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(entries(e->dirs.work), 1);
}

static void
test_mv_command_refused(void **state)
{
    const char *want = "mv -f '/a'\\''b' '/c' 2>&1";
    char cmd[64];

    (void)state;
    assert_true(etx_sshcmd_mv_command("/a'b", "/c", cmd, strlen(want) + 1));
    assert_string_equal(cmd, want);
    assert_false(etx_sshcmd_mv_command("/a'b", "/c", cmd, strlen(want)));
    assert_string_equal(cmd, "");
    memcpy(cmd, "junk", 5);
    assert_false(etx_sshcmd_mv_command("/a", "/c\rx", cmd, sizeof(cmd)));
    assert_string_equal(cmd, "");
    assert_false(etx_sshcmd_mv_command("", "/c", cmd, sizeof(cmd)));
    assert_false(etx_sshcmd_mv_command("/a", NULL, cmd, sizeof(cmd)));
}

static void
test_parse_probe_ok(void **state)
{
    char out[256];
    struct etx_sshcmd_probe p;
    struct etx_error err = {0};
    const char *s = "present\nLinux\nx86_64\n";

    (void)state;
    assert_int_equal(etx_sshcmd_parse_probe(HOST, s, strlen(s), &p, &err),
                     ETX_OK);
    assert_true(p.present);
    assert_string_equal(p.sys, "Linux");
    assert_string_equal(p.machine, "x86_64");
    s = "missing\nCYGWIN_NT-10.0\narmv7l\n";
    assert_int_equal(etx_sshcmd_parse_probe(HOST, s, strlen(s), &p, &err),
                     ETX_OK);
    assert_false(p.present);
    assert_string_equal(p.sys, "CYGWIN_NT-10.0");
    /* The longest name accepted, exactly. */
    snprintf(out, sizeof(out), "missing\nLinux\n%.*s\n", ETX_SSHCMD_NAME_MAX,
             "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm"
             "mmmm");
    assert_int_equal(etx_sshcmd_parse_probe(HOST, out, strlen(out), &p, &err),
                     ETX_OK);
    assert_int_equal(strlen(p.machine), ETX_SSHCMD_NAME_MAX);
}

static void
test_parse_probe_hostile(void **state)
{
    static const char nul[] = "present\nLin\0ux\nx86_64\n";
    const char *bad[] = {
        "",
        "present\nLinux\nx86_64",          /* truncated */
        "present\nLinux\nx86_64\nextra\n", /* one line too many */
        "present\nLinux\n",                /* one too few */
        "present\n\nx86_64\n",             /* empty */
        "maybe\nLinux\nx86_64\n",          /* neither word */
        "Present\nLinux\nx86_64\n",        /* case matters */
        "present\r\nLinux\r\nx86_64\r\n",  /* CRLF */
        "present\nLinux\n$(reboot)\n",     /* shell text */
        "present\nLinux 6.1\nx86_64\n",    /* a space */
        "hello from .bashrc\npresent\nLinux\nx86_64\n",
    };
    char over[256];
    struct etx_sshcmd_probe p;
    size_t i;

    (void)state;
    snprintf(over, sizeof(over), "missing\nLinux\n%.*s\n",
             ETX_SSHCMD_NAME_MAX + 1,
             "mmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmmm"
             "mmmm");
    for (i = 0; i <= sizeof(bad) / sizeof(bad[0]) + 1; i++) {
        struct etx_error err = {0};
        const char *s = i < sizeof(bad) / sizeof(bad[0])    ? bad[i]
                        : i == sizeof(bad) / sizeof(bad[0]) ? over
                                                            : nul;
        size_t len = s == nul ? sizeof(nul) - 1 : strlen(s);

        assert_int_equal(etx_sshcmd_parse_probe(HOST, s, len, &p, &err),
                         ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_INPUT);
        assert_string_equal(err.op, "ssh-probe");
        assert_string_equal(err.where, HOST);
        assert_false(p.present);
    }
}

static void
test_check_platform_ok(void **state)
{
    struct utsname u;
    struct etx_error err = {0};

    (void)state;
    assert_int_equal(uname(&u), 0);
    assert_int_equal(
        etx_sshcmd_check_platform(HOST, u.sysname, u.machine, &err), ETX_OK);
}

static void
test_check_platform_mismatch(void **state)
{
    struct utsname u;
    struct etx_error err = {0};
    char want[512];
    const char *other = NULL;

    (void)state;
    assert_int_equal(uname(&u), 0);
    other = strcmp(u.machine, "aarch64") == 0 ? "x86_64" : "aarch64";
    assert_int_equal(etx_sshcmd_check_platform(HOST, u.sysname, other, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_string_equal(err.where, HOST);
    snprintf(want, sizeof(want),
             "host is %s %s, our agent is %s %s; install etxroll-agent "
             "there",
             u.sysname, other, u.sysname, u.machine);
    assert_string_equal(err.msg, want);
    assert_int_equal(
        etx_sshcmd_check_platform(HOST, "FreeBSD", u.machine, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
    assert_non_null(strstr(err.msg, "host is FreeBSD"));
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup(name, setup)
    const struct CMUnitTest tests[] = {
        T(test_command_ok),
        T(test_command_hostile),
        T(test_probe_command_runs_literally),
        T(test_probe_command_refused),
        T(test_mv_command_runs_literally),
        T(test_mv_command_refused),
        T(test_parse_probe_ok),
        T(test_parse_probe_hostile),
        T(test_check_platform_ok),
        T(test_check_platform_mismatch),
    };

    return cmocka_run_group_tests(tests, group_setup,
                                  etx_test_ssh_env_teardown);
}
