/* SPDX-License-Identifier: MIT */
/*
 * Staging benchmark: stage a large artifact into a target with the
 * replacement engine (stage -> finish -> verify -> rename publish) and
 * compare its throughput with `cat` of the same file into the same file
 * system, measured in the same run; report the peak RSS of each process.
 *
 *   stage_bench [SCRATCH_PARENT [SIZE_MIB]]   (defaults: /var/tmp 1024)
 *
 * Each measurement runs in its own child process, so ru_maxrss from
 * wait4() is that process's own peak. See bench/README.md.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "agent/stage.h"
#include "agent/swap.h"

#define CHUNK (1u << 20)

struct run {
    double secs;
    long maxrss_kib;
    int status;
};

static double
now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A pseudo-random artifact (incompressible enough, not zeros). */
static int
make_artifact(const char *path, unsigned mib)
{
    uint64_t *buf = malloc(CHUNK), x = 88172645463325252ULL;
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    unsigned i;
    size_t j;

    if (buf == NULL || fd < 0)
        return -1;
    for (i = 0; i < mib; i++) {
        for (j = 0; j < CHUNK / sizeof(*buf); j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[j] = x;
        }
        if (write(fd, buf, CHUNK) != (ssize_t)CHUNK)
            return -1;
    }
    free(buf);
    return fsync(fd) == 0 && close(fd) == 0 ? 0 : -1;
}

/* Run argv in a child; wall time and the child's peak RSS. */
static struct run
run_cmd(char *const argv[])
{
    struct run r = {0};
    struct rusage ru;
    double t0 = now();
    pid_t pid = fork();

    if (pid == 0) {
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || wait4(pid, &r.status, 0, &ru) != pid) {
        r.status = -1;
        return r;
    }
    r.secs = now() - t0;
    r.maxrss_kib = ru.ru_maxrss;
    return r;
}

/* In a child: the engine's whole staging and publish of 'src'. */
static int
engine_stage(const char *dir, const char *src)
{
    struct etx_stage_opts o = {.meta_from = "target"};
    struct etx_error err = {0};
    struct etx_swap_result res;
    struct etx_stage *s = NULL;
    char buf[1024];
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    int fd = open(src, O_RDONLY | O_CLOEXEC), rc = ETX_ERR;

    if (dirfd < 0 || fd < 0)
        return 1;
    if (etx_stage_begin(dirfd, "target", &o, &s, &err) == ETX_OK &&
        etx_stage_copy_fd(s, fd, &err) == ETX_OK &&
        etx_stage_finish(s, &err) == ETX_OK &&
        etx_stage_verify(s, &err) == ETX_OK)
        rc = etx_swap_publish(s, &res, &err);
    if (rc != ETX_OK)
        fprintf(stderr, "engine: %s\n",
                etx_error_format(&err, buf, sizeof(buf)));
    etx_stage_free(s);
    close(fd);
    close(dirfd);
    return rc == ETX_OK ? 0 : 1;
}

static struct run
run_engine(const char *dir, const char *src)
{
    struct run r = {0};
    struct rusage ru;
    double t0 = now();
    pid_t pid = fork();

    if (pid == 0)
        _exit(engine_stage(dir, src));
    if (pid < 0 || wait4(pid, &r.status, 0, &ru) != pid) {
        r.status = -1;
        return r;
    }
    r.secs = now() - t0;
    r.maxrss_kib = ru.ru_maxrss;
    return r;
}

static void
show(const char *what, struct run r, unsigned mib, double ref)
{
    printf("%-34s %7.2f s %8.1f MiB/s  peak RSS %6ld KiB", what, r.secs,
           mib / r.secs, r.maxrss_kib);
    if (ref > 0)
        printf("  ratio %.2f", (mib / r.secs) / ref);
    printf("%s\n", r.status == 0 ? "" : "  (FAILED)");
}

int
main(int argc, char **argv)
{
    const char *parent = argc > 1 ? argv[1] : "/var/tmp";
    unsigned mib = argc > 2 ? (unsigned)atoi(argv[2]) : 1024;
    char dir[1024], src[1100], dst[1100], cmd[4096];
    struct run cat, catsync, eng;
    char *sh_cat[] = {"/bin/sh", "-c", cmd, NULL};

    snprintf(dir, sizeof(dir), "%s/etx-stage-bench.XXXXXX", parent);
    if (mib == 0 || mkdtemp(dir) == NULL) {
        fprintf(stderr, "usage: stage_bench [DIR [SIZE_MIB]]: %s\n",
                strerror(errno));
        return 2;
    }
    snprintf(src, sizeof(src), "%s/artifact", dir);
    snprintf(dst, sizeof(dst), "%s/cat-copy", dir);
    if (make_artifact(src, mib) != 0) {
        fprintf(stderr, "cannot write the artifact: %s\n", strerror(errno));
        return 1;
    }
    printf("artifact: %u MiB in %s (source in page cache for every run)\n", mib,
           dir);
    if (snprintf(cmd, sizeof(cmd), "cat '%s' > '%s'", src, dst) >=
        (int)sizeof(cmd))
        return 2;
    cat = run_cmd(sh_cat);
    unlink(dst);
    if (snprintf(cmd, sizeof(cmd), "cat '%s' > '%s' && sync '%s'", src, dst,
                 dst) >= (int)sizeof(cmd))
        return 2;
    catsync = run_cmd(sh_cat);
    unlink(dst);
    eng = run_engine(dir, src);
    show("cat > file", cat, mib, 0);
    show("cat > file && sync file", catsync, mib, 0);
    show("engine stage+verify+publish", eng, mib, mib / catsync.secs);
    printf("(ratio: engine MiB/s over cat+sync MiB/s; vs plain cat %.2f)\n",
           (mib / eng.secs) / (mib / cat.secs));
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    run_cmd(sh_cat);
    return cat.status == 0 && catsync.status == 0 && eng.status == 0 ? 0 : 1;
}
