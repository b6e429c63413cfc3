/* SPDX-License-Identifier: MIT */
/*
 * Test helpers for tests that need a real HTTP server: nginx started from
 * tests/integration/nginx.sh as a child of the test, on 127.0.0.1 and a
 * free port, with everything it writes in the test's temp directory; plus
 * a free port, a file writer and a recursive remove. Header-only (static
 * inline) because each test is one executable. Stop nginx with
 * etx_test_nginx_stop(); it also dies with the test (PR_SET_PDEATHSIG).
 */
#ifndef ETX_TESTS_INTEGRATION_NGINX_FIXTURE_H
#define ETX_TESTS_INTEGRATION_NGINX_FIXTURE_H

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct etx_test_nginx {
    pid_t pid;
    unsigned port;
    char dir[256]; /* nginx.conf, logs/, tmp/ and www/ live here */
    char www[300]; /* the document root */
    char base[64]; /* "http://127.0.0.1:PORT" */
};

/* A port nothing listens on right now (bound, read, closed). */
static inline unsigned
etx_test_free_port(void)
{
    struct sockaddr_in a;
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    unsigned port = 0;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static inline int
etx_test_write_file(const char *path, const void *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    int rc = -1;

    if (fd < 0)
        return -1;
    if (write(fd, buf, len) == (ssize_t)len)
        rc = 0;
    if (close(fd) != 0)
        rc = -1;
    return rc;
}

static inline int
etx_test_rm_one(const char *path, const struct stat *st, int flag,
                struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static inline int
etx_test_rmtree(const char *dir)
{
    return nftw(dir, etx_test_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static inline int
etx_test_can_connect(unsigned port)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok = 0;

    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0)
        ok = connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* One try on one port: 0 when it serves, else the child's exit status. */
static inline int
etx_test_nginx_try(struct etx_test_nginx *n)
{
    const char *src = getenv("ETX_SOURCE_DIR");
    char script[512];
    char port[16];
    struct timespec pause = {0, 20 * 1000 * 1000};
    int status = 0;
    int i = 0;

    snprintf(script, sizeof(script), "%s/tests/integration/nginx.sh",
             src != NULL ? src : ".");
    snprintf(port, sizeof(port), "%u", n->port);
    n->pid = fork();
    if (n->pid < 0)
        return -1;
    if (n->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        execl("/bin/sh", "sh", script, n->dir, port, (char *)NULL);
        _exit(126);
    }
    for (i = 0; i < 500; i++) { /* up to 10 s for a slow machine */
        if (waitpid(n->pid, &status, WNOHANG) == n->pid) {
            n->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128;
        }
        if (etx_test_can_connect(n->port))
            return 0;
        nanosleep(&pause, NULL);
    }
    kill(n->pid, SIGKILL);
    waitpid(n->pid, NULL, 0);
    n->pid = 0;
    return -1;
}

/*
 * Start nginx serving dir/www. Returns 0, or -1 with 'why' saying what went
 * wrong (nginx missing, or it did not start: see dir/logs/error.log).
 */
static inline int
etx_test_nginx_start(struct etx_test_nginx *n, const char *dir, char *why,
                     size_t len)
{
    int rc = -1;
    int tries = 0;

    memset(n, 0, sizeof(*n));
    if (snprintf(n->dir, sizeof(n->dir), "%s", dir) >= (int)sizeof(n->dir) ||
        snprintf(n->www, sizeof(n->www), "%s/www", dir) >=
            (int)sizeof(n->www)) {
        snprintf(why, len, "nginx fixture: directory name too long");
        return -1;
    }
    for (tries = 0; tries < 5 && rc != 0 && rc != 127; tries++) {
        n->port = etx_test_free_port();
        rc = etx_test_nginx_try(n);
    }
    snprintf(n->base, sizeof(n->base), "http://127.0.0.1:%u", n->port);
    if (rc == 127)
        snprintf(why, len,
                 "nginx is not installed: run "
                 "scripts/install-deps.sh (nginx-light)");
    else if (rc != 0 && snprintf(why, len,
                                 "nginx did not start (status %d); see "
                                 "%s/logs/error.log",
                                 rc, n->dir) >= (int)len)
        why[len - 1] = '\0';
    return rc == 0 ? 0 : -1;
}

static inline void
etx_test_nginx_stop(struct etx_test_nginx *n)
{
    if (n->pid <= 0)
        return;
    kill(n->pid, SIGKILL);
    waitpid(n->pid, NULL, 0);
    n->pid = 0;
}

#endif /* ETX_TESTS_INTEGRATION_NGINX_FIXTURE_H */
