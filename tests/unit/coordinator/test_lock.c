/* SPDX-License-Identifier: MIT */
/*
 * The fleet lock on real files and processes: take, refuse naming the
 * holder, release, break only with the exact id, a dead holder is still a
 * holder, and eight processes racing for it get exactly one winner.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "coordinator/lock.h"

#include "tests/unit/testutil.h"

#define RACERS 8

struct fixture {
    char root[64];
    char lockfile[PATH_MAX];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    if (etx_test_tmpdir(f->root, sizeof(f->root), "lock") != 0)
        return -1;
    snprintf(f->lockfile, sizeof(f->lockfile), "%s/web/lock.json", f->root);
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fixture *f = *state;

    etx_test_rmtree(f->root);
    free(f);
    return 0;
}

/* Entries of the fleet directory other than lock.json and rollouts. */
static int
stray_files(struct fixture *f)
{
    char dir[PATH_MAX];
    struct dirent *de = NULL;
    DIR *d = NULL;
    int n = 0;

    snprintf(dir, sizeof(dir), "%s/web", f->root);
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL)
        n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0 &&
             strcmp(de->d_name, "lock.json") != 0 &&
             strcmp(de->d_name, "rollouts") != 0;
    closedir(d);
    return n;
}

static struct etx_lock *
take(struct fixture *f, const char *rollout, const char *message)
{
    struct etx_lock *lk = NULL;
    struct etx_error err = {0};

    if (etx_lock_acquire(f->root, "web", rollout, message, &lk, &err) != ETX_OK)
        fail_msg("acquire: %s", err.msg);
    return lk;
}

static void
test_lock_acquire_ok(void **state)
{
    struct fixture *f = *state;
    struct etx_lock_holder h;
    struct etx_error err = {0};
    struct etx_lock *lk = take(f, "R1", "deploying v2");
    const struct etx_lock_holder *mine = etx_lock_holder(lk);
    char me[256] = "";
    bool held = false;

    gethostname(me, sizeof(me) - 1);
    assert_int_equal(strlen(mine->lock_id), ETX_LOCK_ID_LEN);
    assert_string_equal(mine->host, me);
    assert_int_equal(mine->pid, (long)getpid());
    assert_string_equal(mine->rollout, "R1");
    assert_string_equal(mine->message, "deploying v2");
    assert_int_equal(strlen(mine->started), 24);
    assert_int_equal(etx_lock_show(f->root, "web", &h, &held, &err), ETX_OK);
    assert_true(held);
    assert_string_equal(h.lock_id, mine->lock_id);
    assert_string_equal(h.started, mine->started);
    assert_int_equal(h.pid, mine->pid);
    assert_int_equal(stray_files(f), 0);
    assert_int_equal(etx_lock_release(lk, &err), ETX_OK);
    assert_int_equal(access(f->lockfile, F_OK), -1);
    assert_int_equal(etx_lock_show(f->root, "web", &h, &held, &err), ETX_OK);
    assert_false(held);
    assert_int_equal(etx_lock_release(NULL, &err), ETX_OK);
}

static void
test_lock_acquire_held(void **state)
{
    struct fixture *f = *state;
    struct etx_lock *a = take(f, "R1", "deploying v2, ask Ana");
    const struct etx_lock_holder *h = etx_lock_holder(a);
    struct etx_lock *b = NULL;
    struct etx_error err = {0};
    char want[128];

    assert_int_equal(etx_lock_acquire(f->root, "web", "R2", NULL, &b, &err),
                     ETX_ERR);
    assert_null(b);
    assert_int_equal(err.cls, ETX_CLASS_CONFLICT);
    assert_non_null(strstr(err.msg, "rollout R1"));
    assert_non_null(strstr(err.msg, h->host));
    snprintf(want, sizeof(want), "pid %ld", h->pid);
    assert_non_null(strstr(err.msg, want));
    assert_non_null(strstr(err.msg, h->started));
    assert_non_null(strstr(err.msg, "\"deploying v2, ask Ana\""));
    snprintf(want, sizeof(want), "`etxroll unlock %s`", h->lock_id);
    assert_non_null(strstr(err.msg, want));
    assert_null(strstr(err.msg, "not running")); /* we are alive */
    assert_int_equal(stray_files(f), 0);
    assert_int_equal(etx_lock_release(a, &err), ETX_OK);
    b = take(f, "R2", NULL);
    assert_int_equal(etx_lock_release(b, &err), ETX_OK);
}

static void
test_lock_break_ok(void **state)
{
    struct fixture *f = *state;
    struct etx_lock *a = take(f, "R1", NULL);
    char id[ETX_LOCK_ID_LEN + 1], prefix[8], upper[ETX_LOCK_ID_LEN + 1];
    struct etx_error err = {0};
    size_t i;

    snprintf(id, sizeof(id), "%s", etx_lock_holder(a)->lock_id);
    snprintf(prefix, sizeof(prefix), "%.7s", id);
    for (i = 0; i <= ETX_LOCK_ID_LEN; i++)
        upper[i] = (char)(id[i] >= 'a' ? id[i] - 32 : id[i]);
    assert_int_equal(etx_lock_break(f->root, "web", "0000000000000000", &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_non_null(strstr(err.msg, id));
    assert_int_equal(etx_lock_break(f->root, "web", prefix, &err), ETX_ERR);
    assert_int_equal(etx_lock_break(f->root, "web", upper, &err), ETX_ERR);
    assert_int_equal(etx_lock_break(f->root, "web", "", &err), ETX_ERR);
    assert_int_equal(access(f->lockfile, F_OK), 0);
    assert_int_equal(etx_lock_break(f->root, "web", id, &err), ETX_OK);
    assert_int_equal(access(f->lockfile, F_OK), -1);
    assert_int_equal(etx_lock_break(f->root, "web", id, &err), ETX_ERR);
    assert_non_null(strstr(err.msg, "not locked"));
    /* The broken holder's release is refused and removes nothing. */
    assert_int_equal(etx_lock_release(a, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_CONFLICT);
    assert_non_null(strstr(err.msg, "was broken"));
}

static void
test_lock_release_after_new_holder(void **state)
{
    struct fixture *f = *state;
    struct etx_lock *a = take(f, "R1", NULL);
    struct etx_lock *b = NULL;
    struct etx_error err = {0};

    assert_int_equal(
        etx_lock_break(f->root, "web", etx_lock_holder(a)->lock_id, &err),
        ETX_OK);
    b = take(f, "R2", NULL);
    assert_int_equal(etx_lock_release(a, &err), ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_CONFLICT);
    assert_non_null(strstr(err.msg, "rollout R2"));
    assert_int_equal(access(f->lockfile, F_OK), 0);
    assert_int_equal(etx_lock_release(b, &err), ETX_OK);
}

/* A holder that died without releasing still holds the lock. */
static void
test_lock_acquire_dead_holder(void **state)
{
    struct fixture *f = *state;
    struct etx_lock *lk = NULL;
    struct etx_lock_holder h;
    struct etx_error err = {0};
    bool held = false;
    char want[64];
    int status;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        _exit(etx_lock_acquire(f->root, "web", "R1", "dies", &lk, &err) ==
                      ETX_OK
                  ? 0
                  : 1);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(etx_lock_acquire(f->root, "web", "R2", NULL, &lk, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_CONFLICT);
    snprintf(want, sizeof(want), "pid %ld is not running on this host",
             (long)pid);
    assert_non_null(strstr(err.msg, want));
    assert_int_equal(etx_lock_show(f->root, "web", &h, &held, &err), ETX_OK);
    assert_true(held);
    assert_int_equal(h.pid, (long)pid);
    assert_string_equal(h.message, "dies");
}

static void
racer(struct fixture *f, int gate, int n)
{
    struct etx_lock *lk = NULL;
    struct etx_error err = {0};
    char rollout[32], c;

    snprintf(rollout, sizeof(rollout), "racer-%d", n);
    if (read(gate, &c, 1) != 0) /* wait until the parent closes the pipe */
        _exit(4);
    if (etx_lock_acquire(f->root, "web", rollout, NULL, &lk, &err) == ETX_OK)
        _exit(0);
    _exit(err.cls == ETX_CLASS_CONFLICT ? 1 : 2);
}

/* RACERS processes try at once: one wins, the others are refused. */
static void
race_once(struct fixture *f)
{
    int gate[2], i, status, won = 0, lost = 0;
    pid_t pids[RACERS];

    assert_int_equal(pipe2(gate, O_CLOEXEC), 0);
    for (i = 0; i < RACERS; i++) {
        pids[i] = fork();
        assert_true(pids[i] >= 0);
        if (pids[i] == 0) {
            close(gate[1]);
            racer(f, gate[0], i);
        }
    }
    close(gate[0]);
    close(gate[1]);
    for (i = 0; i < RACERS; i++) {
        assert_int_equal(waitpid(pids[i], &status, 0), pids[i]);
        assert_true(WIFEXITED(status));
        won += WEXITSTATUS(status) == 0;
        lost += WEXITSTATUS(status) == 1;
    }
    assert_int_equal(won, 1);
    assert_int_equal(lost, RACERS - 1);
    assert_int_equal(stray_files(f), 0);
}

static void
test_lock_acquire_race(void **state)
{
    struct fixture *f = *state;
    struct etx_lock_holder h;
    struct etx_error err = {0};
    bool held = false;
    int round;

    for (round = 0; round < 5; round++) {
        race_once(f);
        assert_int_equal(etx_lock_show(f->root, "web", &h, &held, &err),
                         ETX_OK);
        assert_true(held);
        assert_int_equal(strncmp(h.rollout, "racer-", 6), 0);
        assert_int_equal(etx_lock_break(f->root, "web", h.lock_id, &err),
                         ETX_OK);
    }
}

static void
test_lock_show_hostile(void **state)
{
    struct fixture *f = *state;
    struct etx_lock *lk = take(f, "R1", NULL);
    struct etx_lock_holder h;
    struct etx_error err = {0};
    bool held = true;
    FILE *fp = NULL;

    assert_int_equal(
        etx_lock_break(f->root, "web", etx_lock_holder(lk)->lock_id, &err),
        ETX_OK);
    etx_lock_release(lk, &err);
    fp = fopen(f->lockfile, "w");
    assert_non_null(fp);
    fputs("{\"lock_id\":\"xyz\"}", fp);
    fclose(fp);
    assert_int_equal(etx_lock_show(f->root, "web", &h, &held, &err), ETX_ERR);
    assert_false(held);
    assert_string_equal(err.where, f->lockfile);
    assert_int_equal(etx_lock_acquire(f->root, "web", "R2", NULL, &lk, &err),
                     ETX_ERR);
    assert_non_null(strstr(err.msg, "not an etxroll lock"));
    assert_int_equal(etx_lock_break(f->root, "web", "xyz", &err), ETX_ERR);
    assert_int_equal(etx_lock_acquire(f->root, "../x", "R2", NULL, &lk, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_int_equal(etx_lock_acquire(f->root, "web", "a/b", NULL, &lk, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_int_equal(etx_lock_show(f->root, "nofleet", &h, &held, &err),
                     ETX_OK);
    assert_false(held);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_lock_acquire_ok),
        T(test_lock_acquire_held),
        T(test_lock_break_ok),
        T(test_lock_release_after_new_holder),
        T(test_lock_acquire_dead_holder),
        T(test_lock_acquire_race),
        T(test_lock_show_hostile),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
