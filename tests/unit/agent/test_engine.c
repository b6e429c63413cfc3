/* SPDX-License-Identifier: MIT */
/*
 * Tests of the engine facade (agent/engine.h) on real files in a scratch
 * directory that is the agent's one root: a whole rollout (stage in
 * chunks, end, verify, swap, a second version, rollback) for each
 * strategy, pruning around versions that running processes hold, stale
 * temps, and every refusal (digest, size, order, place, owner names),
 * each leaving nothing behind.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "agent/engine.h"
#include "agent/tempname.h"
#include "proto/digest.h"

#define WAIT_TRIES 4000 /* 5 ms apart: a child that never gets there */
#define NO_USER    "etx-no-such-user-7f3a"
#define NO_GROUP   "etx-no-such-group-7f3a"

struct fx {
    char *dir;   /* scratch, removed at teardown */
    char *root;  /* <dir>/root: the engine's only root */
    char *state; /* <dir>/state: made by the engine */
    char *file;  /* <root>/app: rename and generations target */
    char *app;   /* <root>/site: release-dir app directory */
    struct etx_engine *e;
    pid_t kid;
};

static char *
join(const char *a, const char *b)
{
    char *p = NULL;

    assert_true(asprintf(&p, "%s/%s", a, b) > 0);
    return p;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static struct etx_engine *
new_engine(const char *root, const char *state)
{
    const char *roots[] = {root};
    struct etx_engine_opts o = {
        .roots = roots, .n_roots = 1, .state_dir = state, .unknown_ok = true};
    struct etx_engine *e = NULL;
    struct etx_error err = {0};

    assert_int_equal(etx_engine_new(&o, &e, &err), ETX_OK);
    return e;
}

static int
setup(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));

    assert_non_null(f);
    f->dir = strdup("/var/tmp/etxroll-facade-test.XXXXXX");
    assert_non_null(f->dir);
    assert_non_null(mkdtemp(f->dir));
    f->root = join(f->dir, "root");
    f->state = join(f->dir, "state");
    f->file = join(f->root, "app");
    f->app = join(f->root, "site");
    assert_int_equal(mkdir(f->root, 0755), 0);
    assert_int_equal(mkdir(f->app, 0755), 0);
    f->e = new_engine(f->root, f->state);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    if (f->kid > 0) {
        kill(f->kid, SIGKILL);
        waitpid(f->kid, NULL, 0);
    }
    etx_engine_free(f->e);
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    free(f->dir);
    free(f->root);
    free(f->state);
    free(f->file);
    free(f->app);
    free(f);
    return 0;
}

static void
hex_of(const void *buf, size_t len, char hex[ETX_DIGEST_HEX_LEN + 1])
{
    struct etx_digest *d = etx_digest_new();

    assert_non_null(d);
    etx_digest_update(d, buf, len);
    etx_digest_final(d, hex);
    etx_digest_free(d);
}

/* A pax tar holding "index.txt" with 'text', in a new buffer (free). */
static void *
make_tar(const char *text, size_t *len)
{
    struct archive *a = archive_write_new();
    struct archive_entry *ent = archive_entry_new();
    int fd = memfd_create("etx-tar", MFD_CLOEXEC);
    struct stat st;
    void *buf = NULL;

    assert_true(fd >= 0 && a != NULL && ent != NULL);
    assert_int_equal(archive_write_set_format_pax_restricted(a), ARCHIVE_OK);
    assert_int_equal(archive_write_open_fd(a, fd), ARCHIVE_OK);
    archive_entry_set_pathname(ent, "index.txt");
    archive_entry_set_filetype(ent, AE_IFREG);
    archive_entry_set_perm(ent, 0644);
    archive_entry_set_size(ent, (la_int64_t)strlen(text));
    assert_int_equal(archive_write_header(a, ent), ARCHIVE_OK);
    assert_int_equal(archive_write_data(a, text, strlen(text)),
                     (la_ssize_t)strlen(text));
    assert_int_equal(archive_write_close(a), ARCHIVE_OK);
    archive_write_free(a);
    archive_entry_free(ent);
    assert_int_equal(fstat(fd, &st), 0);
    *len = (size_t)st.st_size;
    buf = malloc(*len);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, *len, 0), (ssize_t)*len);
    close(fd);
    return buf;
}

/* The artifact of version 'v' for the target's strategy (free). */
static void *
artifact(enum etx_engine_strategy s, unsigned v, size_t *len)
{
    char text[64];

    snprintf(text, sizeof(text), "version %u of the artifact\n", v);
    if (s == ETX_ENGINE_RELEASE_DIR)
        return make_tar(text, len);
    *len = strlen(text);
    return strdup(text);
}

static void
target_of(struct fx *f, enum etx_engine_strategy s, const char *version,
          struct etx_engine_target *t)
{
    memset(t, 0, sizeof(*t));
    t->path = s == ETX_ENGINE_RELEASE_DIR ? f->app : f->file;
    t->strategy = s;
    t->version = version;
}

/* Chunks of 1, 0, about half the rest, and the rest. */
static int
put_chunks(struct etx_engine_stage *s, const unsigned char *p, size_t len,
           struct etx_error *err)
{
    size_t first = len > 0 ? 1 : 0, half = (len - first) / 2;

    if (etx_engine_stage_write(s, p, first, err) != ETX_OK ||
        etx_engine_stage_write(s, p + first, 0, err) != ETX_OK ||
        etx_engine_stage_write(s, p + first, half, err) != ETX_OK)
        return ETX_ERR;
    return etx_engine_stage_write(s, p + first + half, len - first - half, err);
}

/* begin -> chunks -> end -> verify -> swap; the first failure's status. */
static int
round_trip(struct fx *f, const struct etx_engine_target *t, const void *data,
           size_t len, const char *sha, struct etx_swap_result *res,
           struct etx_error *err)
{
    struct etx_engine_stage *s = NULL;
    char hex[ETX_DIGEST_HEX_LEN + 1];
    int rc;

    hex_of(data, len, hex);
    rc = etx_engine_stage_begin(f->e, t, sha != NULL ? sha : hex, len, &s, err);
    if (rc != ETX_OK)
        return rc;
    if ((rc = put_chunks(s, data, len, err)) == ETX_OK &&
        (rc = etx_engine_stage_end(s, err)) == ETX_OK &&
        (rc = etx_engine_verify(s, err)) == ETX_OK)
        rc = etx_engine_swap(s, res, err);
    etx_engine_stage_free(s);
    return rc;
}

/* Publish version 'v' of 't's strategy; the artifact's digest in hex. */
static void
publish(struct fx *f, enum etx_engine_strategy st, unsigned v,
        char hex[ETX_DIGEST_HEX_LEN + 1], struct etx_swap_result *res)
{
    struct etx_engine_target t;
    struct etx_error err = {0};
    char version[16];
    size_t len = 0;
    void *data = artifact(st, v, &len);

    snprintf(version, sizeof(version), "%u", v);
    target_of(f, st, version, &t);
    hex_of(data, len, hex);
    if (round_trip(f, &t, data, len, NULL, res, &err) != ETX_OK)
        fail_msg("publish %u: %s: %s", v, err.where, err.msg);
    free(data);
}

/* Temps of the engine (etx_tempname_is_temp) in 'dir'. */
static size_t
count_temps(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *ent = NULL;
    size_t n = 0;

    if (d == NULL)
        return 0;
    while ((ent = readdir(d)) != NULL)
        if (etx_tempname_is_temp(ent->d_name))
            n++;
    closedir(d);
    return n;
}

/* Entries of 'dir' other than "." and "..". */
static size_t
count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *ent = NULL;
    size_t n = 0;

    assert_non_null(d);
    while ((ent = readdir(d)) != NULL)
        if (strcmp(ent->d_name, ".") != 0 && strcmp(ent->d_name, "..") != 0)
            n++;
    closedir(d);
    return n;
}

static void
assert_file_is(const char *path, const char *hex)
{
    char got[ETX_DIGEST_HEX_LEN + 1];
    struct etx_error err = {0};

    assert_int_equal(etx_digest_file(path, got, NULL, &err), ETX_OK);
    assert_string_equal(got, hex);
}

static void
assert_link_is(const char *path, const char *want)
{
    char buf[PATH_MAX];
    ssize_t n = readlink(path, buf, sizeof(buf) - 1);

    assert_true(n > 0);
    buf[n] = '\0';
    assert_string_equal(buf, want);
}

static ino_t
ino_of(const char *path)
{
    struct stat st;

    assert_int_equal(lstat(path, &st), 0);
    return st.st_ino;
}

/* Nothing staged is left: no temps by the target, nothing in state/. */
static void
assert_nothing_left(struct fx *f)
{
    char *rel = join(f->app, "releases");

    assert_int_equal(count_temps(f->root), 0);
    assert_int_equal(count_temps(f->app), 0);
    assert_int_equal(count_temps(rel), 0);
    assert_int_equal(count_entries(f->state), 0);
    free(rel);
}

static void
test_etx_engine_swap_rename_ok(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_swap_result res;
    struct etx_error err = {0};
    char h1[ETX_DIGEST_HEX_LEN + 1], h2[ETX_DIGEST_HEX_LEN + 1];
    ino_t ino1;

    publish(f, ETX_ENGINE_RENAME, 1, h1, &res);
    assert_true(res.steps & ETX_SWAP_PUBLISHED);
    assert_file_is(f->file, h1);
    ino1 = ino_of(f->file);
    publish(f, ETX_ENGINE_RENAME, 2, h2, &res);
    assert_file_is(f->file, h2);
    assert_string_equal(res.new.sha256, h2);
    assert_int_equal(res.old.ino, ino1);
    assert_true(ino_of(f->file) != ino1);
    target_of(f, ETX_ENGINE_RENAME, NULL, &t);
    assert_int_equal(etx_engine_rollback(f->e, &t, &res, &err), ETX_OK);
    assert_int_equal(ino_of(f->file), ino1);
    assert_file_is(f->file, h1);
    assert_string_equal(res.new.sha256, h1);
    assert_nothing_left(f);
}

static void
test_etx_engine_swap_generations_ok(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_swap_result res;
    struct etx_error err = {0};
    char h1[ETX_DIGEST_HEX_LEN + 1], h2[ETX_DIGEST_HEX_LEN + 1];

    publish(f, ETX_ENGINE_GENERATIONS, 1, h1, &res);
    assert_link_is(f->file, "app-1");
    assert_file_is(f->file, h1);
    publish(f, ETX_ENGINE_GENERATIONS, 2, h2, &res);
    assert_link_is(f->file, "app-2");
    assert_file_is(f->file, h2);
    assert_string_equal(res.prev, "app-1");
    target_of(f, ETX_ENGINE_GENERATIONS, "2", &t);
    assert_int_equal(etx_engine_rollback(f->e, &t, &res, &err), ETX_OK);
    assert_link_is(f->file, "app-1");
    assert_file_is(f->file, h1);
    assert_string_equal(res.new.sha256, h1);
    assert_nothing_left(f);
}

static void
test_etx_engine_swap_release_ok(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_swap_result res;
    struct etx_error err = {0};
    char h1[ETX_DIGEST_HEX_LEN + 1], h2[ETX_DIGEST_HEX_LEN + 1];
    char *cur = join(f->app, "current");
    char *idx = join(cur, "index.txt");
    char *rec = join(f->app, "releases/.2.etxroll-sha256");
    char want[ETX_DIGEST_HEX_LEN + 1];

    publish(f, ETX_ENGINE_RELEASE_DIR, 1, h1, &res);
    assert_link_is(cur, "releases/1");
    hex_of("version 1 of the artifact\n", 26, want);
    assert_file_is(idx, want);
    publish(f, ETX_ENGINE_RELEASE_DIR, 2, h2, &res);
    assert_link_is(cur, "releases/2");
    assert_link_is(rec, h2);
    hex_of("version 2 of the artifact\n", 26, want);
    assert_file_is(idx, want);
    target_of(f, ETX_ENGINE_RELEASE_DIR, "2", &t);
    assert_int_equal(etx_engine_rollback(f->e, &t, &res, &err), ETX_OK);
    assert_link_is(cur, "releases/1");
    hex_of("version 1 of the artifact\n", 26, want);
    assert_file_is(idx, want);
    assert_nothing_left(f);
    free(cur);
    free(idx);
    free(rec);
}

/* Poll /proc/<pid>/<what> until it names 'want'. */
static void
wait_proc_link(pid_t pid, const char *what, const char *want)
{
    char proc[64], buf[PATH_MAX];
    ssize_t n;
    int i;

    snprintf(proc, sizeof(proc), "/proc/%d/%s", (int)pid, what);
    for (i = 0; i < WAIT_TRIES; i++) {
        n = readlink(proc, buf, sizeof(buf) - 1);
        if (n > 0) {
            buf[n] = '\0';
            if (strcmp(buf, want) == 0)
                return;
        }
        usleep(5000);
    }
    fail_msg("%s never became %s", proc, want);
}

/* The whole content of a file (free). */
static void *
slurp(const char *path, size_t *len)
{
    struct stat st;
    void *buf = NULL;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    assert_true(fd >= 0);
    assert_int_equal(fstat(fd, &st), 0);
    *len = (size_t)st.st_size;
    buf = malloc(*len + 1);
    assert_non_null(buf);
    assert_int_equal(read(fd, buf, *len), (ssize_t)*len);
    close(fd);
    return buf;
}

static const struct etx_prune_entry *
find_entry(const struct etx_prune_result *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        if (strcmp(r->v[i].name, name) == 0)
            return &r->v[i];
    fail_msg("%s is not in the prune result", name);
    return NULL;
}

/* Generation 1 is a copy of sleep(1), run by a child: pruning keeps it. */
static void
test_etx_engine_prune_generations_held(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_swap_result res;
    struct etx_prune_result pr = {0};
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1], *gen1 = join(f->root, "app-1");
    size_t len = 0;
    void *prog = slurp("/bin/sleep", &len);
    unsigned v;

    target_of(f, ETX_ENGINE_GENERATIONS, "1", &t);
    t.mode_set = true;
    t.mode = 0755;
    if (round_trip(f, &t, prog, len, NULL, &res, &err) != ETX_OK)
        fail_msg("%s: %s", err.where, err.msg);
    f->kid = fork();
    assert_true(f->kid >= 0);
    if (f->kid == 0) {
        execl(gen1, "sleep", "1000", (char *)NULL);
        _exit(127);
    }
    wait_proc_link(f->kid, "exe", gen1);
    for (v = 2; v <= 4; v++)
        publish(f, ETX_ENGINE_GENERATIONS, v, hex, &res);
    target_of(f, ETX_ENGINE_GENERATIONS, "4", &t);
    t.keep = 2;
    assert_int_equal(etx_engine_prune(f->e, &t, &pr, &err), ETX_OK);
    assert_int_equal(pr.n, 4);
    assert_int_equal(find_entry(&pr, "app-4")->why, ETX_PRUNE_KEPT_CURRENT);
    assert_int_equal(find_entry(&pr, "app-3")->why, ETX_PRUNE_KEPT_PREVIOUS);
    assert_int_equal(find_entry(&pr, "app-2")->why, ETX_PRUNE_REMOVED);
    assert_int_equal(find_entry(&pr, "app-1")->why, ETX_PRUNE_KEPT_HELD);
    assert_int_equal(find_entry(&pr, "app-1")->pid, f->kid);
    assert_int_equal(access(gen1, F_OK), 0);
    free(gen1);
    gen1 = join(f->root, "app-2");
    assert_int_equal(access(gen1, F_OK), -1);
    etx_prune_result_free(&pr);
    free(gen1);
    free(prog);
}

/* A child sits in release 1: pruning keeps it, removes release 2. */
static void
test_etx_engine_prune_release_held(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_swap_result res;
    struct etx_prune_result pr = {0};
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];
    char *r1 = join(f->app, "releases/1"), *r2 = join(f->app, "releases/2");
    unsigned v;

    publish(f, ETX_ENGINE_RELEASE_DIR, 1, hex, &res);
    f->kid = fork();
    assert_true(f->kid >= 0);
    if (f->kid == 0) {
        if (chdir(r1) != 0)
            _exit(127);
        for (;;)
            pause();
    }
    wait_proc_link(f->kid, "cwd", r1);
    for (v = 2; v <= 4; v++)
        publish(f, ETX_ENGINE_RELEASE_DIR, v, hex, &res);
    target_of(f, ETX_ENGINE_RELEASE_DIR, "4", &t);
    t.keep = 2;
    assert_int_equal(etx_engine_prune(f->e, &t, &pr, &err), ETX_OK);
    assert_int_equal(pr.n, 4);
    assert_int_equal(find_entry(&pr, "4")->why, ETX_PRUNE_KEPT_CURRENT);
    assert_int_equal(find_entry(&pr, "3")->why, ETX_PRUNE_KEPT_PREVIOUS);
    assert_int_equal(find_entry(&pr, "2")->why, ETX_PRUNE_REMOVED);
    assert_int_equal(find_entry(&pr, "1")->why, ETX_PRUNE_KEPT_HELD);
    assert_int_equal(access(r1, F_OK), 0);
    assert_int_equal(access(r2, F_OK), -1);
    etx_prune_result_free(&pr);
    free(r1);
    free(r2);
}

static void
test_etx_engine_prune_rename_empty(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_swap_result res;
    struct etx_prune_result pr = {0};
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];

    publish(f, ETX_ENGINE_RENAME, 1, hex, &res);
    publish(f, ETX_ENGINE_RENAME, 2, hex, &res);
    target_of(f, ETX_ENGINE_RENAME, NULL, &t);
    assert_int_equal(etx_engine_prune(f->e, &t, &pr, &err), ETX_OK);
    assert_int_equal(pr.n, 0);
    assert_null(pr.v);
    etx_prune_result_free(&pr);
}

/* A temp ".<name>.etxroll.<hex>" in dirfd, modified 'age' seconds ago. */
static void
make_temp(const char *dir, const char *name, bool is_dir, time_t age,
          char out[NAME_MAX + 1])
{
    struct timespec ts[2] = {{.tv_sec = time(NULL) - age},
                             {.tv_sec = time(NULL) - age}};
    struct etx_error err = {0};
    char *path = NULL;
    int fd;

    assert_int_equal(etx_tempname_make(name, out, &err), ETX_OK);
    path = join(dir, out);
    if (is_dir) {
        assert_int_equal(mkdir(path, 0755), 0);
    } else {
        fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        assert_true(fd >= 0);
        close(fd);
    }
    assert_int_equal(utimensat(AT_FDCWD, path, ts, AT_SYMLINK_NOFOLLOW), 0);
    free(path);
}

static const struct etx_cleanup_entry *
find_temp(const struct etx_cleanup_result *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        if (strcmp(r->v[i].name, name) == 0)
            return &r->v[i];
    fail_msg("%s is not in the cleanup result", name);
    return NULL;
}

static void
test_etx_engine_cleanup_file_stale(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_cleanup_result cr = {0};
    struct etx_error err = {0};
    char old[NAME_MAX + 1], young[NAME_MAX + 1];

    make_temp(f->root, "app", false, 7200, old);
    make_temp(f->root, "app", false, 0, young);
    target_of(f, ETX_ENGINE_GENERATIONS, "1", &t);
    assert_int_equal(etx_engine_cleanup(f->e, &t, 3600, &cr, &err), ETX_OK);
    assert_int_equal(cr.n, 2);
    assert_int_equal(find_temp(&cr, old)->why, ETX_CLEANUP_REMOVED);
    assert_int_equal(find_temp(&cr, young)->why, ETX_CLEANUP_KEPT_FRESH);
    assert_int_equal(count_temps(f->root), 1);
    etx_cleanup_result_free(&cr);
}

static void
test_etx_engine_cleanup_release_stale(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_swap_result res;
    struct etx_cleanup_result cr = {0};
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1], tmp[NAME_MAX + 1], link[NAME_MAX + 1];
    char name[PATH_MAX];
    char *rel = join(f->app, "releases");

    publish(f, ETX_ENGINE_RELEASE_DIR, 1, hex, &res);
    make_temp(rel, "9", true, 7200, tmp);
    make_temp(f->app, "current", false, 7200, link);
    target_of(f, ETX_ENGINE_RELEASE_DIR, "1", &t);
    assert_int_equal(etx_engine_cleanup(f->e, &t, 3600, &cr, &err), ETX_OK);
    assert_int_equal(cr.n, 2);
    snprintf(name, sizeof(name), "releases/%s", tmp);
    assert_int_equal(find_temp(&cr, name)->why, ETX_CLEANUP_REMOVED);
    assert_true(find_temp(&cr, name)->is_dir);
    assert_int_equal(find_temp(&cr, link)->why, ETX_CLEANUP_REMOVED);
    assert_int_equal(count_temps(rel), 0);
    assert_int_equal(count_temps(f->app), 0);
    etx_cleanup_result_free(&cr);
    free(rel);
}

static const enum etx_engine_strategy all[] = {
    ETX_ENGINE_RENAME, ETX_ENGINE_GENERATIONS, ETX_ENGINE_RELEASE_DIR};

/* The live version of each strategy (digest or link), to compare. */
static void
live_id(struct fx *f, enum etx_engine_strategy s, char out[PATH_MAX])
{
    char *cur = join(f->app, "current");
    struct etx_error err = {0};
    ssize_t n;

    if (s == ETX_ENGINE_RELEASE_DIR) {
        n = readlink(cur, out, PATH_MAX - 1);
        assert_true(n > 0);
        out[n] = '\0';
    } else {
        assert_int_equal(etx_digest_file(f->file, out, NULL, &err), ETX_OK);
    }
    free(cur);
}

static void
test_etx_engine_stage_end_digest_mismatch(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_swap_result res;
    struct etx_error err = {0};
    struct etx_engine_stage *s = NULL;
    char h1[ETX_DIGEST_HEX_LEN + 1], wrong[ETX_DIGEST_HEX_LEN + 1];
    char before[PATH_MAX], after[PATH_MAX];
    size_t i, len = 0;
    void *data = NULL;

    hex_of("something else", 14, wrong);
    for (i = 0; i < 3; i++) {
        publish(f, all[i], 1, h1, &res);
        live_id(f, all[i], before);
        data = artifact(all[i], 2, &len);
        target_of(f, all[i], "2", &t);
        memset(&err, 0, sizeof(err));
        assert_int_equal(etx_engine_stage_begin(f->e, &t, wrong, len, &s, &err),
                         ETX_OK);
        assert_int_equal(put_chunks(s, data, len, &err), ETX_OK);
        assert_int_equal(etx_engine_stage_end(s, &err), ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_INTEGRITY);
        etx_engine_stage_free(s);
        s = NULL;
        assert_non_null(strstr(err.msg, wrong));
        live_id(f, all[i], after);
        assert_string_equal(before, after);
        assert_nothing_left(f);
        free(data);
        unlink(f->file); /* the next strategy starts afresh */
    }
}

static void
test_etx_engine_stage_write_oversize(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_engine_stage *s = NULL;
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];
    size_t i;

    hex_of("12345", 5, hex);
    for (i = 0; i < 3; i++) {
        target_of(f, all[i], "1", &t);
        assert_int_equal(etx_engine_stage_begin(f->e, &t, hex, 5, &s, &err),
                         ETX_OK);
        assert_int_equal(etx_engine_stage_write(s, "1234", 4, &err), ETX_OK);
        assert_int_equal(etx_engine_stage_write(s, "56", 2, &err), ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_INPUT);
        assert_nothing_left(f);
        assert_int_equal(etx_engine_stage_write(s, "5", 1, &err), ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_INTERNAL);
        etx_engine_stage_free(s);
        s = NULL;
    }
    assert_int_equal(access(f->file, F_OK), -1);
}

static void
test_etx_engine_stage_end_short(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_engine_stage *s = NULL;
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];
    size_t i;

    hex_of("1234567890", 10, hex);
    for (i = 0; i < 3; i++) {
        target_of(f, all[i], "1", &t);
        assert_int_equal(etx_engine_stage_begin(f->e, &t, hex, 10, &s, &err),
                         ETX_OK);
        assert_int_equal(etx_engine_stage_write(s, "12345", 5, &err), ETX_OK);
        assert_int_equal(etx_engine_stage_end(s, &err), ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_INPUT);
        assert_nothing_left(f);
        etx_engine_stage_free(s);
        s = NULL;
    }
}

static void
test_etx_engine_swap_before_verify(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_engine_stage *s = NULL;
    struct etx_swap_result res;
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];
    size_t i;

    hex_of("12345", 5, hex);
    for (i = 0; i < 3; i++) {
        target_of(f, all[i], "1", &t);
        assert_int_equal(etx_engine_stage_begin(f->e, &t, hex, 5, &s, &err),
                         ETX_OK);
        assert_int_equal(etx_engine_stage_write(s, "12345", 5, &err), ETX_OK);
        assert_int_equal(etx_engine_stage_end(s, &err), ETX_OK);
        assert_int_equal(etx_engine_swap(s, &res, &err), ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_INTERNAL);
        assert_non_null(strstr(err.msg, "swap before verify"));
        assert_nothing_left(f);
        etx_engine_stage_free(s);
        s = NULL;
    }
    assert_int_equal(access(f->file, F_OK), -1);
}

static void
test_etx_engine_verify_before_end(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_engine_stage *s = NULL;
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];

    hex_of("12345", 5, hex);
    target_of(f, ETX_ENGINE_RENAME, NULL, &t);
    assert_int_equal(etx_engine_stage_begin(f->e, &t, hex, 5, &s, &err),
                     ETX_OK);
    assert_int_equal(etx_engine_verify(s, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INTERNAL);
    assert_nothing_left(f);
    etx_engine_stage_free(s);
}

static void
test_etx_engine_stage_begin_outside_roots(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_engine_stage *s = NULL;
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];
    char *out = join(f->dir, "app"), *dotdot = join(f->root, "../app");
    size_t i;

    hex_of("x", 1, hex);
    for (i = 0; i < 3; i++) {
        target_of(f, all[i], "1", &t);
        t.path = out;
        assert_int_equal(etx_engine_stage_begin(f->e, &t, hex, 1, &s, &err),
                         ETX_ERR);
        assert_null(s);
        assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
        assert_string_equal(err.where, out);
        t.path = dotdot;
        assert_int_equal(etx_engine_stage_begin(f->e, &t, hex, 1, &s, &err),
                         ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
        assert_string_equal(err.where, dotdot);
        t.path = "app";
        assert_int_equal(etx_engine_stage_begin(f->e, &t, hex, 1, &s, &err),
                         ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_INPUT);
    }
    assert_int_equal(count_entries(f->dir), 2);
    free(out);
    free(dotdot);
}

static void
test_etx_engine_stage_begin_unknown_owner(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_engine_stage *s = NULL;
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];
    size_t i;

    hex_of("x", 1, hex);
    for (i = 0; i < 3; i++) {
        target_of(f, all[i], "1", &t);
        t.owner = NO_USER;
        assert_int_equal(etx_engine_stage_begin(f->e, &t, hex, 1, &s, &err),
                         ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
        assert_non_null(strstr(err.msg, NO_USER));
        t.owner = "root";
        t.group = NO_GROUP;
        assert_int_equal(etx_engine_stage_begin(f->e, &t, hex, 1, &s, &err),
                         ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
        assert_non_null(strstr(err.msg, NO_GROUP));
        assert_null(s);
        assert_nothing_left(f);
    }
}

/* A known owner name is applied, with the user's login group. */
static void
test_etx_engine_stage_begin_owner_ok(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_swap_result res;
    struct etx_error err = {0};
    struct passwd *pw = getpwnam("nobody");
    struct stat st;

    if (pw == NULL)
        skip();
    target_of(f, ETX_ENGINE_RENAME, NULL, &t);
    t.owner = "nobody";
    t.mode_set = true;
    t.mode = 0750;
    assert_int_equal(round_trip(f, &t, "abc", 3, NULL, &res, &err), ETX_OK);
    assert_int_equal(stat(f->file, &st), 0);
    assert_int_equal(st.st_uid, pw->pw_uid);
    assert_int_equal(st.st_gid, pw->pw_gid);
    assert_int_equal(st.st_mode & 07777, 0750);
}

static void
test_etx_engine_probe_absent(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_facts_target ft;
    struct etx_error err = {0};
    size_t i;

    for (i = 0; i < 3; i++) {
        target_of(f, all[i], "1", &t);
        assert_int_equal(etx_engine_probe(f->e, &t, &ft, &err), ETX_OK);
        assert_false(ft.file.exists);
        etx_facts_target_free(&ft);
    }
}

static void
test_etx_engine_probe_present(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_facts_target ft;
    struct etx_swap_result res;
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];

    publish(f, ETX_ENGINE_RENAME, 1, hex, &res);
    target_of(f, ETX_ENGINE_RENAME, NULL, &t);
    assert_int_equal(etx_engine_probe(f->e, &t, &ft, &err), ETX_OK);
    assert_true(ft.file.exists);
    assert_string_equal(ft.file.sha256, hex);
    etx_facts_target_free(&ft);
    publish(f, ETX_ENGINE_RELEASE_DIR, 1, hex, &res);
    target_of(f, ETX_ENGINE_RELEASE_DIR, "1", &t);
    assert_int_equal(etx_engine_probe(f->e, &t, &ft, &err), ETX_OK);
    assert_true(ft.file.exists);
    assert_string_equal(ft.link_text, "releases/1");
    assert_true(S_ISDIR(ft.resolved.mode));
    etx_facts_target_free(&ft);
    t.path = "/";
    assert_int_equal(etx_engine_probe(f->e, &t, &ft, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_PLACEMENT);
}

static void
test_etx_engine_probe_generations(void **state)
{
    struct fx *f = *state;
    struct etx_engine_target t;
    struct etx_facts_target ft;
    struct etx_swap_result res;
    struct etx_error err = {0};
    char hex[ETX_DIGEST_HEX_LEN + 1];

    publish(f, ETX_ENGINE_GENERATIONS, 1, hex, &res);
    target_of(f, ETX_ENGINE_GENERATIONS, "1", &t);
    assert_int_equal(etx_engine_probe(f->e, &t, &ft, &err), ETX_OK);
    assert_string_equal(ft.link_text, "app-1");
    assert_string_equal(ft.resolved.sha256, hex);
    etx_facts_target_free(&ft);
}

static void
test_etx_engine_new_state_dir(void **state)
{
    struct fx *f = *state;
    struct etx_engine *e = NULL;
    struct etx_error err = {0};
    char *missing = join(f->dir, "no/such/dir");
    const char *roots[] = {f->root};
    struct etx_engine_opts o = {
        .roots = roots, .n_roots = 1, .state_dir = missing};
    struct stat st;

    assert_int_equal(stat(f->state, &st), 0);
    assert_true(S_ISDIR(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0700);
    assert_int_equal(etx_engine_new(&o, &e, &err), ETX_ERR);
    assert_null(e);
    assert_int_equal(err.sys_errno, ENOENT);
    free(missing);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
        T(test_etx_engine_swap_rename_ok),
        T(test_etx_engine_swap_generations_ok),
        T(test_etx_engine_swap_release_ok),
        T(test_etx_engine_prune_generations_held),
        T(test_etx_engine_prune_release_held),
        T(test_etx_engine_prune_rename_empty),
        T(test_etx_engine_cleanup_file_stale),
        T(test_etx_engine_cleanup_release_stale),
        T(test_etx_engine_stage_end_digest_mismatch),
        T(test_etx_engine_stage_write_oversize),
        T(test_etx_engine_stage_end_short),
        T(test_etx_engine_swap_before_verify),
        T(test_etx_engine_verify_before_end),
        T(test_etx_engine_stage_begin_outside_roots),
        T(test_etx_engine_stage_begin_unknown_owner),
        T(test_etx_engine_stage_begin_owner_ok),
        T(test_etx_engine_probe_absent),
        T(test_etx_engine_probe_present),
        T(test_etx_engine_probe_generations),
        T(test_etx_engine_new_state_dir),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
