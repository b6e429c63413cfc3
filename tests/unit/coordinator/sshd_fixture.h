/* SPDX-License-Identifier: MIT */
/*
 * Test helpers shared by the SSH unit tests (test_ssh.c, test_sshpush.c,
 * test_sshcmd.c): a temporary tree with one work directory per test; a
 * real OpenSSH sshd from tests/integration/sshd_lib.sh on a random
 * 127.0.x.y address and port, with its keys and a known_hosts file for
 * it in its directory; and both together with our agent and a minimal
 * config for it (struct etx_test_ssh_env). Header-only (static inline)
 * because each test is one executable. Stop an sshd with
 * etx_test_sshd_stop(), remove a tree with etx_test_dirs_close(), or both
 * with etx_test_ssh_env_close().
 */
#ifndef ETX_TESTS_UNIT_COORDINATOR_SSHD_FIXTURE_H
#define ETX_TESTS_UNIT_COORDINATOR_SSHD_FIXTURE_H

#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/testutil.h"

/* The realpath of a temporary directory and the current test's own
 * directory below it, t1, t2, ... */
struct etx_test_dirs {
    char root[128];
    char work[256];
    int tests; /* tests run, names the work directories */
};

/* A private sshd: its directory (keys, config, log, known_hosts), and
 * where it listens once started (port 0 when it is not running). */
struct etx_test_sshd {
    char dir[256];
    char addr[32];
    int port;
};

/* Make /tmp/etx-TAG-XXXXXX and keep its realpath in d->root; 0 or -1. */
static inline int
etx_test_dirs_open(struct etx_test_dirs *d, const char *tag)
{
    char tmp[64];
    char real[PATH_MAX];

    memset(d, 0, sizeof(*d));
    if (etx_test_tmpdir(tmp, sizeof(tmp), tag) != 0)
        return -1;
    if (realpath(tmp, real) == NULL || strlen(real) >= sizeof(d->root)) {
        etx_test_rmtree(tmp);
        return -1;
    }
    memcpy(d->root, real, strlen(real) + 1);
    return 0;
}

/* The next test's work directory, made with mode; 0 or -1. */
static inline int
etx_test_dirs_next(struct etx_test_dirs *d, mode_t mode)
{
    if (snprintf(d->work, sizeof(d->work), "%s/t%d", d->root, ++d->tests) >=
        (int)sizeof(d->work))
        return -1;
    return mkdir(d->work, mode);
}

/* Remove the whole tree, if it was made. */
static inline void
etx_test_dirs_close(struct etx_test_dirs *d)
{
    if (d->root[0] != '\0')
        etx_test_rmtree(d->root);
    d->root[0] = '\0';
}

/* DIR/name of the sshd into buf (its known_hosts, client_ed25519, ...);
 * 0 or -1 when it does not fit. */
static inline int
etx_test_sshd_path(const struct etx_test_sshd *d, const char *name, char *buf,
                   size_t len)
{
    int n = snprintf(buf, len, "%s/%s", d->dir, name);

    return n >= 0 && (size_t)n < len ? 0 : -1;
}

/* Run a line of bash with sshd_lib.sh sourced and $1..$3 = dir, addr,
 * port of d; its exit status, or -1. */
static inline int
etx_test_sshd_lib(const struct etx_test_sshd *d, const char *line)
{
    const char *src = getenv("ETX_SOURCE_DIR");
    char script[1024];
    char port[16];
    int status = 0;
    pid_t pid;

    if (src == NULL || snprintf(script, sizeof(script),
                                ". '%s/tests/integration/sshd_lib.sh' && %s",
                                src, line) >= (int)sizeof(script))
        return -1;
    snprintf(port, sizeof(port), "%d", d->port);
    pid = fork();
    if (pid == 0) {
        execl("/bin/bash", "bash", "-c", script, "bash", d->dir, d->addr, port,
              (char *)NULL);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

/*
 * Make d->dir (which must not exist) with keys in it, start sshd on a
 * random 127.0.x.y:port (a few tries) and write d->dir/known_hosts for
 * it. 0, or -1 with d->port 0. The seed mixes the time, the pid and the
 * directory, so two instances of one test pick different places.
 */
static inline int
etx_test_sshd_start(struct etx_test_sshd *d)
{
    unsigned seed = (unsigned)time(NULL) ^ ((unsigned)getpid() << 8);
    const char *c = NULL;
    int i;

    for (c = d->dir; *c != '\0'; c++)
        seed = seed * 31u + (unsigned char)*c;
    d->port = 0;
    if (mkdir(d->dir, 0700) != 0 ||
        etx_test_sshd_lib(d, "etx_sshd_keys \"$1\"") != 0)
        return -1;
    for (i = 0; i < 6; i++) {
        snprintf(d->addr, sizeof(d->addr), "127.0.%d.%d",
                 rand_r(&seed) % 250 + 1, rand_r(&seed) % 250 + 2);
        d->port = 20000 + rand_r(&seed) % 40000;
        if (etx_test_sshd_lib(d, "etx_sshd_start \"$1\" \"$2\" \"$3\" && "
                                 "etx_sshd_known_hosts \"$1\" \"$2\" \"$3\" "
                                 ">\"$1/known_hosts\"") == 0)
            return 0;
    }
    d->port = 0;
    return -1;
}

/* Stop d's listener and every session, if it runs. */
static inline void
etx_test_sshd_stop(struct etx_test_sshd *d)
{
    if (d->port != 0)
        etx_test_sshd_lib(d, "etx_sshd_stop \"$1\"");
    d->port = 0;
}

/* "SHA256:..." of d's host key, from ssh-keygen; 0 or -1. */
static inline int
etx_test_sshd_fingerprint(const struct etx_test_sshd *d, char *fp, size_t len)
{
    char cmd[512];
    char line[512];
    char word[128];
    FILE *p = NULL;
    int rc = -1;

    if (snprintf(cmd, sizeof(cmd),
                 "ssh-keygen -E sha256 -lf '%s/host_ed25519.pub'",
                 d->dir) >= (int)sizeof(cmd))
        return -1;
    p = popen(cmd, "re");
    if (p == NULL)
        return -1;
    if (fgets(line, sizeof(line), p) != NULL &&
        sscanf(line, "%*d %127s", word) == 1 && strlen(word) < len) {
        memcpy(fp, word, strlen(word) + 1);
        rc = 0;
    }
    pclose(p);
    return rc;
}

/* Where the tests with a real sshd start from: the tree, the sshd that
 * serves them, our agent and a minimal config for it. */
struct etx_test_ssh_env {
    struct etx_test_dirs dirs;
    struct etx_test_sshd sshd; /* in ROOT/sshd */
    char agent[256];           /* $ETX_BINARY_DIR/etxroll-agent */
    char config[256];          /* ROOT/agent.yml: roots ROOT/roots */
};

/* Make the tree (/tmp/etx-TAG-XXXXXX), ROOT/roots, the config, and start
 * the sshd; 0 or -1. Undo with etx_test_ssh_env_close(), even on -1. */
static inline int
etx_test_ssh_env_open(struct etx_test_ssh_env *e, const char *tag)
{
    const char *bin = getenv("ETX_BINARY_DIR");
    const char *root = e->dirs.root;
    char text[640];
    int fd = -1;
    int n = 0;

    memset(e, 0, sizeof(*e));
    if (bin == NULL || etx_test_dirs_open(&e->dirs, tag) != 0 ||
        snprintf(e->sshd.dir, sizeof(e->sshd.dir), "%s/sshd", root) >=
            (int)sizeof(e->sshd.dir) ||
        snprintf(e->agent, sizeof(e->agent), "%s/etxroll-agent", bin) >=
            (int)sizeof(e->agent) ||
        snprintf(e->config, sizeof(e->config), "%s/agent.yml", root) >=
            (int)sizeof(e->config))
        return -1;
    n = snprintf(text, sizeof(text), "roots: [%s/roots]\nstate_dir: %s/state\n",
                 root, root);
    fd = open(e->config, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -1;
    if (write(fd, text, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    if (close(fd) != 0)
        return -1;
    snprintf(text, sizeof(text), "%s/roots", root);
    if (mkdir(text, 0755) != 0)
        return -1;
    return etx_test_sshd_start(&e->sshd);
}

/* Stop the sshd and remove the tree. */
static inline void
etx_test_ssh_env_close(struct etx_test_ssh_env *e)
{
    etx_test_sshd_stop(&e->sshd);
    etx_test_dirs_close(&e->dirs);
}

/* A cmocka group teardown for a calloc'd fixture whose first member is a
 * struct etx_test_ssh_env: close it and free the fixture. */
static inline int
etx_test_ssh_env_teardown(void **state)
{
    struct etx_test_ssh_env *e = *state;

    if (e != NULL)
        etx_test_ssh_env_close(e);
    free(e);
    return 0;
}

#endif /* ETX_TESTS_UNIT_COORDINATOR_SSHD_FIXTURE_H */
