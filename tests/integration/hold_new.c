/* SPDX-License-Identifier: MIT */
/*
 * A test fixture for tests/integration/test_rollout.sh: a process that
 * holds a newly published binary open for writing, as a descriptor leaked
 * into a forked child would, so that executing it fails with ETXTBSY.
 *
 *   etx_test_hold_new [-r LISTEN_PORT:AGENT_PORT] TARGET HOLD_MS PIDFILE
 *
 * It watches TARGET's directory with inotify. When a file of a new inode
 * appears under TARGET's name (IN_MOVED_TO or IN_CREATE), it opens it
 * O_WRONLY (no truncation, nothing written), forks a child that tries to
 * execute TARGET with no arguments (the demo service then exits at once)
 * and reports how that went ("exec=ETXTBSY" when the hold is real), writes
 * its pid to PIDFILE (written whole, then renamed), holds the file for
 * HOLD_MS ms (0: until killed) and closes it. It prints "armed" once it
 * watches, "held ..." once it holds, "released" when it lets go.
 *
 * With -r it also relays TCP from 127.0.0.1:LISTEN_PORT to
 * 127.0.0.1:AGENT_PORT and reads pending inotify events before it passes
 * on any byte from a client. A coordinator can only ask for the restart
 * after the agent answered the swap, which comes after the rename that
 * queued the event: so the file is held before the restart request
 * reaches the agent, whatever the scheduling. With -r it runs until
 * killed; without, it exits once it let go. It gets SIGTERM when its
 * parent (the test script) dies.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PAIRS 8
#define BUF_SIZE  65536
#define EVBUF     (16 * (sizeof(struct inotify_event) + NAME_MAX + 1))

/* One direction of a relayed connection: bytes read, not yet written. */
struct hold_dir {
    char buf[BUF_SIZE];
    size_t len, off;
};

/* A relayed connection: fd[0] the client's, fd[1] the agent's. */
struct hold_pair {
    int fd[2];
    struct hold_dir dir[2]; /* dir[0]: client to agent; dir[1]: back */
};

struct hold {
    const char *target;
    const char *name; /* TARGET's last component */
    const char *pidfile;
    uint64_t hold_ms;
    dev_t start_dev;
    ino_t start_ino;
    int ino_fd;  /* inotify */
    int held_fd; /* the published file, open for writing */
    bool done;   /* held and let go */
    int fatal;   /* the errno that ended the hold itself, or 0 */
    uint64_t until;
    int listen_fd; /* -1 without -r */
    uint16_t agent_port;
    struct hold_pair *pairs[MAX_PAIRS];
};

static uint64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* The child's execve errno, or 0 when TARGET did run. */
static int
exec_probe(const struct hold *h)
{
    char *const argv[] = {(char *)h->target, NULL};
    char *const envp[] = {NULL};
    int p[2], e = 0, status = 0;
    pid_t pid;

    if (pipe2(p, O_CLOEXEC) != 0)
        return errno;
    pid = fork();
    if (pid == 0) {
        execve(h->target, argv, envp);
        e = errno;
        if (write(p[1], &e, sizeof(e)) != (ssize_t)sizeof(e))
            _exit(126);
        _exit(127);
    }
    close(p[1]);
    if (pid < 0 || read(p[0], &e, sizeof(e)) != (ssize_t)sizeof(e))
        e = pid < 0 ? errno : 0;
    close(p[0]);
    if (pid > 0)
        waitpid(pid, &status, 0);
    return e;
}

static int
write_pidfile(const struct hold *h)
{
    char tmp[PATH_MAX];
    FILE *f = NULL;
    int rc = -1;

    snprintf(tmp, sizeof(tmp), "%s.tmp", h->pidfile);
    f = fopen(tmp, "we");
    if (f == NULL)
        return -1;
    if (fprintf(f, "%d\n", (int)getpid()) > 0)
        rc = 0;
    if (fclose(f) != 0 || rc != 0 || rename(tmp, h->pidfile) != 0)
        return -1;
    return 0;
}

/* TARGET's name now has a new inode: hold it, probe exec, say so. */
static int
take_hold(struct hold *h)
{
    struct stat st;
    int fd, e;

    fd = open(h->target, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1; /* gone again: wait for more */
    if (fstat(fd, &st) != 0 ||
        (st.st_dev == h->start_dev && st.st_ino == h->start_ino)) {
        close(fd);
        return 0;
    }
    h->held_fd = fd;
    h->until = now_ms() + h->hold_ms;
    e = exec_probe(h);
    if (write_pidfile(h) != 0)
        return -1;
    if (e == ETXTBSY)
        printf("held pid=%d ino=%llu exec=ETXTBSY\n", (int)getpid(),
               (unsigned long long)st.st_ino);
    else
        printf("held pid=%d ino=%llu exec=%s errno=%d\n", (int)getpid(),
               (unsigned long long)st.st_ino, e == 0 ? "ran" : "failed", e);
    fflush(stdout);
    return 0;
}

/* Read what inotify has queued (without waiting); hold on a new inode. */
static int
drain_events(struct hold *h)
{
    char buf[EVBUF] __attribute__((aligned(__alignof__(struct inotify_event))));
    const struct inotify_event *ev = NULL;
    ssize_t n;
    char *p;

    for (;;) {
        n = read(h->ino_fd, buf, sizeof(buf));
        if (n < 0)
            return errno == EAGAIN ? 0 : -1;
        for (p = buf; p < buf + n; p += sizeof(*ev) + ev->len) {
            ev = (const struct inotify_event *)p;
            if (h->held_fd < 0 && !h->done && ev->len > 0 &&
                strcmp(ev->name, h->name) == 0 && take_hold(h) != 0)
                return -1;
        }
    }
}

static void
release(struct hold *h)
{
    close(h->held_fd);
    h->held_fd = -1;
    h->done = true;
    printf("released\n");
    fflush(stdout);
}

static int
listen_on(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    int fd, one = 1;

    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
        bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(fd, MAX_PAIRS) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int
connect_to(uint16_t port)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    int fd;

    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
                    fcntl(fd, F_SETFL, O_NONBLOCK) != 0)) {
        close(fd);
        fd = -1;
    }
    return fd;
}

static void
pair_close(struct hold *h, size_t i)
{
    close(h->pairs[i]->fd[0]);
    close(h->pairs[i]->fd[1]);
    free(h->pairs[i]);
    h->pairs[i] = NULL;
}

/* A new client: connect it to the agent (or drop it when full or down). */
static void
accept_pair(struct hold *h)
{
    struct hold_pair *p = NULL;
    int c = accept4(h->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    size_t i;

    if (c < 0)
        return;
    for (i = 0; i < MAX_PAIRS && h->pairs[i] != NULL; i++)
        ;
    if (i == MAX_PAIRS || (p = calloc(1, sizeof(*p))) == NULL) {
        close(c);
        return;
    }
    p->fd[0] = c;
    p->fd[1] = connect_to(h->agent_port);
    if (p->fd[1] < 0) {
        close(c);
        free(p);
        return;
    }
    h->pairs[i] = p;
}

/*
 * Move bytes of direction d (0: client to agent) as poll allows; a byte
 * from the client goes on only after the pending inotify events were
 * read. Returns -1 when the connection ends or fails.
 */
static int
pump(struct hold *h, struct hold_pair *p, int d, short rev_in, short rev_out)
{
    struct hold_dir *b = &p->dir[d];
    ssize_t n;

    if (b->off == b->len && (rev_in & (POLLIN | POLLHUP | POLLERR))) {
        n = read(p->fd[d], b->buf, sizeof(b->buf));
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
            return 0;
        if (n <= 0)
            return -1;
        b->off = 0;
        b->len = (size_t)n;
        if (d == 0 && drain_events(h) != 0) {
            h->fatal = errno;
            return -1;
        }
    }
    if (b->off < b->len && (rev_out & POLLOUT)) {
        n = write(p->fd[1 - d], b->buf + b->off, b->len - b->off);
        if (n < 0)
            return errno == EINTR || errno == EAGAIN ? 0 : -1;
        b->off += (size_t)n;
    }
    return 0;
}

/* poll(2) entries: inotify, the listener, then two per pair. */
static nfds_t
fill_poll(const struct hold *h, struct pollfd *fds)
{
    nfds_t n = 0;
    size_t i;
    int d;

    fds[n++] = (struct pollfd){.fd = h->ino_fd, .events = POLLIN};
    fds[n++] = (struct pollfd){.fd = h->listen_fd, .events = POLLIN};
    for (i = 0; i < MAX_PAIRS; i++) {
        const struct hold_pair *p = h->pairs[i];

        for (d = 0; d < 2; d++) {
            fds[n] = (struct pollfd){.fd = p != NULL ? p->fd[d] : -1};
            if (p != NULL && p->dir[d].off == p->dir[d].len)
                fds[n].events |= POLLIN;
            if (p != NULL && p->dir[1 - d].off < p->dir[1 - d].len)
                fds[n].events |= POLLOUT;
            n++;
        }
    }
    return n;
}

static int
poll_timeout(const struct hold *h)
{
    uint64_t t = now_ms();

    if (h->held_fd < 0 || h->hold_ms == 0)
        return -1;
    return h->until > t ? (int)(h->until - t) : 0;
}

/* One round of the loop; -1 on a failure of the hold itself. */
static int
step(struct hold *h)
{
    struct pollfd fds[2 + 2 * MAX_PAIRS];
    size_t i;

    if (poll(fds, fill_poll(h, fds), poll_timeout(h)) < 0)
        return errno == EINTR ? 0 : -1;
    if ((fds[0].revents & POLLIN) && drain_events(h) != 0)
        return -1;
    if (fds[1].revents & POLLIN)
        accept_pair(h);
    for (i = 0; i < MAX_PAIRS; i++) {
        struct pollfd *f = &fds[2 + 2 * i];

        if (h->pairs[i] == NULL)
            continue;
        if (pump(h, h->pairs[i], 0, f[0].revents, f[1].revents) != 0 ||
            pump(h, h->pairs[i], 1, f[1].revents, f[0].revents) != 0)
            pair_close(h, i);
    }
    if (h->fatal != 0) {
        errno = h->fatal;
        return -1;
    }
    if (h->held_fd >= 0 && h->hold_ms != 0 && now_ms() >= h->until)
        release(h);
    return 0;
}

static int
parse_relay(struct hold *h, const char *arg)
{
    unsigned a = 0, b = 0;
    char end = 0;

    if (sscanf(arg, "%u:%u%c", &a, &b, &end) != 2 || a == 0 || a > 65535 ||
        b == 0 || b > 65535)
        return -1;
    h->listen_fd = listen_on((uint16_t)a);
    h->agent_port = (uint16_t)b;
    return h->listen_fd >= 0 ? 0 : -1;
}

/* Arguments, the start inode and the watch; prints "armed". */
static int
setup(struct hold *h, int argc, char **argv)
{
    char dir[PATH_MAX];
    const char *slash = NULL;
    char *end = NULL;
    struct stat st;
    int i = 1;

    if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0)
        return -1; /* a relay must not outlive its test */
    if (argc == 6 && strcmp(argv[1], "-r") == 0) {
        if (parse_relay(h, argv[2]) != 0)
            return -1;
        i = 3;
    }
    if (argc - i != 3 || (slash = strrchr(argv[i], '/')) == NULL ||
        slash[1] == '\0' || stat(argv[i], &st) != 0)
        return -1;
    h->target = argv[i];
    h->name = slash + 1;
    errno = 0;
    h->hold_ms = strtoull(argv[i + 1], &end, 10);
    if (errno != 0 || end == argv[i + 1] || *end != '\0') {
        errno = EINVAL;
        return -1;
    }
    h->pidfile = argv[i + 2];
    h->start_dev = st.st_dev;
    h->start_ino = st.st_ino;
    snprintf(dir, sizeof(dir), "%.*s", (int)(slash - h->target) + 1, h->target);
    h->ino_fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (h->ino_fd < 0 ||
        inotify_add_watch(h->ino_fd, dir, IN_MOVED_TO | IN_CREATE) < 0)
        return -1;
    printf("armed\n");
    fflush(stdout);
    return 0;
}

int
main(int argc, char **argv)
{
    struct hold h = {.ino_fd = -1, .held_fd = -1, .listen_fd = -1};

    if (setup(&h, argc, argv) != 0) {
        fprintf(stderr,
                "usage: %s [-r LISTEN_PORT:AGENT_PORT] TARGET HOLD_MS "
                "PIDFILE (TARGET must exist): %s\n",
                argv[0], strerror(errno));
        return 2;
    }
    while (h.listen_fd >= 0 || !h.done)
        if (step(&h) != 0) {
            fprintf(stderr, "%s: %s\n", argv[0], strerror(errno));
            return 1;
        }
    return 0;
}
