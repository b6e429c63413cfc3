/* SPDX-License-Identifier: MIT */
/*
 * The rollout journal on real files: append and replay, fsync of intents,
 * torn last lines, corruption reported by line, a writer killed mid-way,
 * and a failed write cut back. The fold is in test_rollsum.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "coordinator/journal.h"
#include "coordinator/statedir.h"

#include "tests/unit/testutil.h"

#define ID "20261126T143501Z-0badcafe"

/*
 * The journal's calls to fdatasync() land here (this executable defines
 * the symbol, the static library uses it): count them per descriptor and
 * fail on demand, then do the real system call.
 */
static int syncs;
static int sync_fail_errno;

int
fdatasync(int fd)
{
    syncs++;
    if (sync_fail_errno != 0) {
        errno = sync_fail_errno;
        return -1;
    }
    return (int)syscall(SYS_fdatasync, fd);
}

struct fixture {
    char root[64];
    char path[PATH_MAX];
};

static int
setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));

    if (f == NULL)
        return -1;
    if (etx_test_tmpdir(f->root, sizeof(f->root), "journal") != 0)
        return -1;
    snprintf(f->path, sizeof(f->path), "%s/web/rollouts/%s.jsonl", f->root, ID);
    syncs = 0;
    sync_fail_errno = 0;
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

/* Append a record given as JSON text; the test fails if it does not go. */
static void
put(struct etx_journal *j, const char *text, bool sync)
{
    struct etx_error err = {0};
    json_t *rec = json_loads(text, 0, NULL);

    assert_non_null(rec);
    if (etx_journal_append(j, rec, sync, &err) != ETX_OK)
        fail_msg("append %s: %s", text, err.msg);
    json_decref(rec);
}

static struct etx_journal *
new_journal(struct fixture *f, const char *id)
{
    struct etx_journal *j = NULL;
    struct etx_error err = {0};

    if (etx_journal_create(f->root, "web", id, &j, &err) != ETX_OK)
        fail_msg("create: %s", err.msg);
    return j;
}

static void
write_file(const char *path, const char *text, int flags)
{
    int fd = open(path, O_WRONLY | O_CLOEXEC | flags, 0600);

    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    close(fd);
}

struct seen {
    size_t n;
    char kinds[64][16];
    size_t lines[64];
};

static int
collect(const json_t *rec, size_t line, void *arg, struct etx_error *err)
{
    struct seen *s = arg;
    const char *kind = json_string_value(json_object_get(rec, "kind"));

    (void)err;
    if (s->n < 64) {
        snprintf(s->kinds[s->n], sizeof(s->kinds[0]), "%s", kind);
        s->lines[s->n] = line;
    }
    s->n++;
    return ETX_OK;
}

static void
test_journal_new_id_ok(void **state)
{
    char a[ETX_JOURNAL_ID_MAX], b[ETX_JOURNAL_ID_MAX];
    struct etx_error err = {0};

    (void)state;
    assert_int_equal(etx_journal_new_id(a, sizeof(a), &err), ETX_OK);
    assert_int_equal(etx_journal_new_id(b, sizeof(b), &err), ETX_OK);
    assert_int_equal(strlen(a), 25);
    assert_true(a[8] == 'T' && a[15] == 'Z' && a[16] == '-');
    assert_int_equal(strspn(a, "0123456789"), 8);
    assert_int_equal(strspn(a + 17, "0123456789abcdef"), 8);
    assert_string_not_equal(a, b);
    assert_int_equal(etx_statedir_check_name("rollout id", a, &err), ETX_OK);
    assert_int_equal(etx_journal_new_id(a, 10, &err), ETX_ERR);
}

static void
test_journal_append_round_trip(void **state)
{
    struct fixture *f = *state;
    struct etx_journal_replay_info info;
    struct etx_error err = {0};
    struct etx_journal *j = new_journal(f, ID);
    struct seen seen = {0};
    struct stat st;
    json_t *rec = NULL;
    const char *ts = NULL;

    put(j, "{\"kind\":\"rollout\",\"event\":\"start\",\"hosts\":[\"a\"]}",
        true);
    put(j,
        "{\"kind\":\"intent\",\"host\":\"a\",\"step\":\"stage\","
        "\"state\":\"staging\"}",
        true);
    put(j,
        "{\"kind\":\"outcome\",\"host\":\"a\",\"step\":\"stage\","
        "\"state\":\"staged\",\"note\":\"line\\nbreak\"}",
        true);
    assert_string_equal(etx_journal_path(j), f->path);
    assert_string_equal(etx_journal_id(j), ID);
    etx_journal_close(j);
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(etx_journal_replay(f->path, collect, &seen, &info, &err),
                     ETX_OK);
    assert_int_equal(seen.n, 3);
    assert_string_equal(seen.kinds[1], "intent");
    assert_int_equal(seen.lines[2], 3);
    assert_int_equal(info.records, 3);
    assert_int_equal(info.torn_bytes, 0);
    assert_int_equal(info.good_end, (uint64_t)st.st_size);
    assert_string_equal(info.rollout, ID);
    /* seq, ts and rollout come first; ts is RFC 3339 UTC with ms. */
    rec = json_load_file(f->path, JSON_DISABLE_EOF_CHECK, NULL);
    assert_non_null(rec);
    assert_int_equal(json_integer_value(json_object_get(rec, "seq")), 1);
    ts = json_string_value(json_object_get(rec, "ts"));
    assert_int_equal(strlen(ts), 24);
    assert_true(ts[4] == '-' && ts[10] == 'T' && ts[19] == '.' &&
                ts[23] == 'Z');
    assert_string_equal(json_object_iter_key(json_object_iter(rec)), "seq");
    json_decref(rec);
}

static void
test_journal_append_sync(void **state)
{
    struct fixture *f = *state;
    struct etx_journal *j = new_journal(f, ID);
    struct etx_error err = {0};
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s}", "kind", "intent", "host", "a",
                            "step", "stage", "state", "staging");

    syncs = 0;
    assert_int_equal(etx_journal_append(j, rec, true, &err), ETX_OK);
    assert_int_equal(syncs, 1);
    assert_int_equal(etx_journal_append(j, rec, false, &err), ETX_OK);
    assert_int_equal(syncs, 1);
    sync_fail_errno = EIO;
    assert_int_equal(etx_journal_append(j, rec, true, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, EIO);
    assert_string_equal(err.op, "fdatasync");
    sync_fail_errno = 0;
    json_decref(rec);
    etx_journal_close(j);
}

static void
test_journal_append_hostile(void **state)
{
    static const char *const bad[] = {
        "[1]",
        "{\"host\":\"a\"}",
        "{\"kind\":\"\"}",
        "{\"kind\":\"intent\",\"seq\":7}",
        "{\"kind\":\"intent\",\"rollout\":\"x\"}",
        "{\"kind\":\"intent\",\"state\":\"half_done\"}",
        "{\"kind\":\"intent\",\"state\":3}",
    };
    struct fixture *f = *state;
    struct etx_journal *j = new_journal(f, ID);
    struct etx_error err = {0};
    struct stat st;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *rec = json_loads(bad[i], 0, NULL);

        assert_non_null(rec);
        assert_int_equal(etx_journal_append(j, rec, true, &err), ETX_ERR);
        assert_int_equal(err.cls, ETX_CLASS_INTERNAL);
        json_decref(rec);
    }
    assert_int_equal(stat(f->path, &st), 0);
    assert_int_equal(st.st_size, 0);
    etx_journal_close(j);
    /* A second journal of the same rollout is refused. */
    assert_int_equal(etx_journal_create(f->root, "web", ID, &j, &err), ETX_ERR);
    assert_int_equal(err.sys_errno, EEXIST);
    assert_int_equal(etx_journal_create(f->root, "web", "../x", &j, &err),
                     ETX_ERR);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
}

static void
test_journal_replay_torn(void **state)
{
    struct fixture *f = *state;
    struct etx_journal_replay_info info;
    struct etx_error err = {0};
    struct etx_journal *j = new_journal(f, ID);
    struct seen seen = {0};
    const char *torn = "{\"seq\":3,\"ts\":\"2026-11-26T1";

    put(j, "{\"kind\":\"rollout\",\"event\":\"start\"}", true);
    put(j, "{\"kind\":\"batch\",\"event\":\"start\",\"batch\":1}", true);
    etx_journal_close(j);
    write_file(f->path, torn, O_APPEND);
    assert_int_equal(etx_journal_replay(f->path, collect, &seen, &info, &err),
                     ETX_OK);
    assert_int_equal(seen.n, 2);
    assert_int_equal(info.torn_line, 3);
    assert_int_equal(info.torn_bytes, strlen(torn));
    /* Reopening cuts the torn line off; numbering goes on. */
    j = NULL;
    assert_int_equal(etx_journal_open(f->root, "web", ID, &j, &err), ETX_OK);
    assert_int_equal(etx_journal_dropped(j), strlen(torn));
    put(j, "{\"kind\":\"batch\",\"event\":\"done\",\"batch\":1}", true);
    etx_journal_close(j);
    memset(&seen, 0, sizeof(seen));
    assert_int_equal(etx_journal_replay(f->path, collect, &seen, &info, &err),
                     ETX_OK);
    assert_int_equal(seen.n, 3);
    assert_int_equal(info.torn_bytes, 0);
}

/* Replay 'text' and expect corruption reported at 'line'. */
static void
expect_corrupt(struct fixture *f, const char *text, size_t line,
               const char *words)
{
    struct etx_error err = {0};
    char where[PATH_MAX + 32];

    write_file(f->path, text, O_CREAT | O_TRUNC);
    assert_int_equal(etx_journal_replay(f->path, NULL, NULL, NULL, &err),
                     ETX_ERR);
    snprintf(where, sizeof(where), "%s:%zu", f->path, line);
    assert_string_equal(err.where, where);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    if (strstr(err.msg, words) == NULL)
        fail_msg("'%s' lacks '%s'", err.msg, words);
}

/* A NUL byte inside a line is corruption too (the buffer replay). */
static void
expect_nul(struct fixture *f)
{
    static const char text[] = "{\"seq\":1,\"ts\":\"t\0\"}\n";
    struct etx_error err = {0};

    (void)f;
    assert_int_equal(etx_journal_replay_buf(text, sizeof(text) - 1, "nul", NULL,
                                            NULL, NULL, &err),
                     ETX_ERR);
    assert_string_equal(err.where, "nul:1");
}

#define R1 "{\"seq\":1,\"ts\":\"t\",\"rollout\":\"" ID "\",\"kind\":\"k\"}\n"
#define R2 "{\"seq\":2,\"ts\":\"t\",\"rollout\":\"" ID "\",\"kind\":\"k\"}\n"
#define R3 "{\"seq\":3,\"ts\":\"t\",\"rollout\":\"" ID "\",\"kind\":\"k\"}\n"

static void
test_journal_replay_corrupt_middle(void **state)
{
    struct fixture *f = *state;
    struct etx_journal *j = new_journal(f, ID);

    etx_journal_close(j);
    expect_corrupt(f, R1 "{\"seq\":2,\"ts\"garbage\n" R3, 2, "not JSON");
    expect_corrupt(f, R1 "\n" R2, 2, "empty line");
    expect_corrupt(f, R1 R3, 2, "\"seq\" is not 2");
    expect_corrupt(f, R1 R2 R2, 3, "\"seq\" is not 3");
    expect_corrupt(f, R1 "[1,2]\n", 2, "not a JSON object");
    expect_corrupt(f, R1 "{\"seq\":2,\"ts\":\"t\",\"kind\":\"k\"}\n", 2,
                   "rollout");
    expect_corrupt(f,
                   R1 "{\"seq\":2,\"ts\":\"t\",\"rollout\":\"other\","
                      "\"kind\":\"k\"}\n",
                   2, "rollout other in a journal of " ID);
    expect_corrupt(f, R1 "{\"seq\":2,\"seq\":2}\n", 2, "not JSON");
    expect_corrupt(f, "\x01garbage\n", 1, "not JSON");
    expect_nul(f);
}

/* A line of exactly 'len' bytes (no newline) that is a valid record. */
static char *
padded_record(size_t len)
{
    const char *head = "{\"seq\":1,\"ts\":\"t\",\"rollout\":\"" ID
                       "\",\"kind\":\"k\",\"pad\":\"";
    size_t h = strlen(head);
    char *s = malloc(len + 2);

    assert_non_null(s);
    memcpy(s, head, h);
    memset(s + h, 'x', len - h - 2);
    memcpy(s + len - 2, "\"}", 2);
    s[len] = '\n';
    s[len + 1] = '\0';
    return s;
}

static void
test_journal_replay_oversize(void **state)
{
    struct fixture *f = *state;
    struct etx_journal_replay_info info;
    struct etx_error err = {0};
    struct etx_journal *j = new_journal(f, ID);
    char *exact = padded_record(ETX_JOURNAL_LINE_MAX);
    char *over = padded_record(ETX_JOURNAL_LINE_MAX + 1);

    etx_journal_close(j);
    write_file(f->path, exact, O_TRUNC);
    assert_int_equal(etx_journal_replay(f->path, NULL, NULL, &info, &err),
                     ETX_OK);
    assert_int_equal(info.records, 1);
    assert_int_equal(etx_journal_replay_buf(exact, strlen(exact), "buf", NULL,
                                            NULL, &info, &err),
                     ETX_OK);
    assert_int_equal(info.records, 1);
    expect_corrupt(f, over, 1, "longer than");
    assert_int_equal(etx_journal_replay_buf(over, strlen(over), "buf", NULL,
                                            NULL, &info, &err),
                     ETX_ERR);
    assert_string_equal(err.where, "buf:1");
    /* Without its newline the long line is still too long, not torn. */
    over[strlen(over) - 1] = '\0';
    expect_corrupt(f, over, 1, "longer than");
    free(exact);
    free(over);
}

static void
test_journal_append_oversize(void **state)
{
    struct fixture *f = *state;
    struct etx_journal *j = new_journal(f, ID);
    struct etx_error err = {0};
    char *pad = calloc(1, ETX_JOURNAL_LINE_MAX + 1);
    json_t *rec = NULL;

    assert_non_null(pad);
    memset(pad, 'x', ETX_JOURNAL_LINE_MAX);
    rec = json_pack("{s:s,s:s}", "kind", "note", "pad", pad);
    assert_int_equal(etx_journal_append(j, rec, false, &err), ETX_ERR);
    assert_non_null(strstr(err.msg, "over the"));
    json_decref(rec);
    free(pad);
    etx_journal_close(j);
}

/* Count whole lines of 'path'. */
static size_t
lines_of(const char *path)
{
    char buf[4096];
    size_t n = 0;
    ssize_t r, i;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0)
        return 0;
    while ((r = read(fd, buf, sizeof(buf))) > 0)
        for (i = 0; i < r; i++)
            n += buf[i] == '\n';
    close(fd);
    return n;
}

static void
writer_child(const char *root)
{
    struct etx_journal *j = NULL;
    struct etx_error err = {0};
    json_t *rec = json_pack("{s:s,s:s,s:s,s:s}", "kind", "intent", "host", "a",
                            "step", "stage", "state", "staging");

    if (rec == NULL || etx_journal_create(root, "web", ID, &j, &err) != ETX_OK)
        _exit(2);
    for (;;)
        if (etx_journal_append(j, rec, false, &err) != ETX_OK)
            _exit(3);
}

static void
test_journal_crash_killed_writer(void **state)
{
    struct fixture *f = *state;
    struct etx_journal_replay_info info;
    struct etx_error err = {0};
    struct etx_journal *j = NULL;
    int status, tries;
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0)
        writer_child(f->root);
    for (tries = 0; tries < 30000 && lines_of(f->path) < 200; tries++)
        usleep(1000);
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(etx_journal_replay(f->path, NULL, NULL, &info, &err),
                     ETX_OK);
    assert_true(info.records >= 200);
    assert_int_equal(etx_journal_open(f->root, "web", ID, &j, &err), ETX_OK);
    put(j, "{\"kind\":\"rollout\",\"event\":\"resume\"}", true);
    etx_journal_close(j);
    assert_int_equal(etx_journal_replay(f->path, NULL, NULL, &info, &err),
                     ETX_OK);
    assert_int_equal(info.torn_bytes, 0);
}

/*
 * A write that fails half-way (file size limit) is cut back to the last
 * whole record: the journal never holds a torn line before later ones.
 */
static void
test_journal_append_short_write(void **state)
{
    struct fixture *f = *state;
    struct etx_journal_replay_info info;
    struct etx_error err = {0};
    struct etx_journal *j = new_journal(f, ID);
    struct stat before, after;
    struct rlimit rl;
    int status;
    pid_t pid;

    put(j, "{\"kind\":\"rollout\",\"event\":\"start\"}", true);
    assert_int_equal(stat(f->path, &before), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        json_t *rec = json_pack("{s:s,s:s}", "kind", "note", "text",
                                "more than ten bytes of text");

        signal(SIGXFSZ, SIG_IGN);
        rl.rlim_cur = rl.rlim_max = (rlim_t)before.st_size + 10;
        if (rec == NULL || setrlimit(RLIMIT_FSIZE, &rl) != 0)
            _exit(2);
        if (etx_journal_append(j, rec, true, &err) != ETX_ERR)
            _exit(3);
        _exit(err.sys_errno == EFBIG ? 0 : 4);
    }
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(stat(f->path, &after), 0);
    assert_int_equal(after.st_size, before.st_size);
    assert_int_equal(etx_journal_replay(f->path, NULL, NULL, &info, &err),
                     ETX_OK);
    assert_int_equal(info.records, 1);
    assert_int_equal(info.torn_bytes, 0);
    etx_journal_close(j);
}

static void
test_journal_error_json_ok(void **state)
{
    struct etx_error e = {0};
    json_t *holders = json_pack("[{s:i}]", "pid", 4242);
    json_t *o = NULL;

    (void)state;
    etx_error_sys(&e, ETXTBSY, ETX_CTX_EXEC, "execve", "/srv/app/bin/app",
                  "cannot start the new binary");
    o = etx_journal_error_json(&e, 3, 1500, holders);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "op")), "execve");
    assert_string_equal(json_string_value(json_object_get(o, "path")),
                        "/srv/app/bin/app");
    assert_int_equal(json_integer_value(json_object_get(o, "errno")), ETXTBSY);
    assert_string_equal(json_string_value(json_object_get(o, "errno_name")),
                        "ETXTBSY");
    assert_string_equal(json_string_value(json_object_get(o, "class")),
                        "transient");
    assert_int_equal(json_integer_value(json_object_get(o, "attempt")), 3);
    assert_int_equal(json_integer_value(json_object_get(o, "waited_ms")), 1500);
    assert_int_equal(json_array_size(json_object_get(o, "holders")), 1);
    json_decref(o);
    o = etx_journal_error_json(&e, 1, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(o, "holders")), 0);
    json_decref(o);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_journal_new_id_ok),
        T(test_journal_append_round_trip),
        T(test_journal_append_sync),
        T(test_journal_append_hostile),
        T(test_journal_replay_torn),
        T(test_journal_replay_corrupt_middle),
        T(test_journal_replay_oversize),
        T(test_journal_append_oversize),
        T(test_journal_crash_killed_writer),
        T(test_journal_append_short_write),
        cmocka_unit_test(test_journal_error_json_ok),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
