/* SPDX-License-Identifier: MIT */
/*
 * The engine facade: resolve a target beneath the roots, check its place
 * and owner names, then hand each step to the strategy's module (stage.h
 * and swap.h, generations.h, release.h, prune.h, cleanup.h, facts.h). It
 * adds no policy of its own beyond the order of the steps and the size
 * announced at begin. The release-dir tarball (staged in the state
 * directory) is handled in engine_release.c; engine_internal.h holds what
 * the two files share.
 */
#define _GNU_SOURCE
#include "agent/engine.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/engine_internal.h"
#include "agent/generations.h"
#include "agent/place.h"
#include "agent/release.h"
#include "agent/roots.h"
#include "agent/stage.h"
#include "proto/digest.h"

#define DEFAULT_KEEP  3
#define NSS_BUF_FIRST 4096
#define NSS_BUF_MAX   (1u << 20)

/* Open (creating it 0700 when missing) the state directory. */
static int
open_state_dir(struct etx_engine *e, const char *dir, struct etx_error *err)
{
    if (dir == NULL || dir[0] == '\0')
        return ETX_OK;
    if (snprintf(e->state_dir, sizeof(e->state_dir), "%s", dir) >=
        (int)sizeof(e->state_dir))
        return etx_error_set(err, ETX_CLASS_INPUT, ENAMETOOLONG, "engine", dir,
                             "the state directory path is too long");
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "mkdir", dir,
                             "cannot create the state directory");
    e->state_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (e->state_fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "open", dir,
                             "cannot open the state directory");
    return ETX_OK;
}

int
etx_engine_new(const struct etx_engine_opts *o, struct etx_engine **out,
               struct etx_error *err)
{
    struct etx_engine *e = NULL;
    int rc = ETX_ERR;

    *out = NULL;
    e = calloc(1, sizeof(*e));
    if (e == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "engine", NULL,
                             "allocate");
    e->state_fd = -1;
    e->unknown_ok = o->unknown_ok;
    if (etx_roots_new(o->roots, o->n_roots, &e->roots, err) != ETX_OK ||
        open_state_dir(e, o->state_dir, err) != ETX_OK)
        goto out;
    *out = e;
    e = NULL;
    rc = ETX_OK;
out:
    etx_engine_free(e);
    return rc;
}

void
etx_engine_free(struct etx_engine *e)
{
    if (e == NULL)
        return;
    etx_roots_free(e->roots);
    if (e->state_fd >= 0)
        close(e->state_fd);
    free(e);
}

/* The request's own fields: an absolute path, a strategy, a version. */
static int
check_target(const struct etx_engine_target *t, struct etx_error *err)
{
    if (t->path == NULL || t->path[0] != '/')
        return etx_error_set(err, ETX_CLASS_INPUT, EINVAL, "target",
                             t->path != NULL ? t->path : "",
                             "the target path must be absolute");
    if (t->strategy != ETX_ENGINE_RENAME &&
        t->strategy != ETX_ENGINE_GENERATIONS &&
        t->strategy != ETX_ENGINE_RELEASE_DIR)
        return etx_error_set(err, ETX_CLASS_INPUT, EINVAL, "target", t->path,
                             "unknown strategy %d", (int)t->strategy);
    if (t->strategy != ETX_ENGINE_RENAME &&
        (t->version == NULL || t->version[0] == '\0'))
        return etx_error_set(err, ETX_CLASS_INPUT, EINVAL, "target", t->path,
                             "this strategy needs a version");
    return ETX_OK;
}

/* Open the target's parent (rename, generations) beneath the roots. */
static int
open_parent(const struct etx_engine *e, const struct etx_engine_target *t,
            struct etx_roots_place *pl, struct etx_error *err)
{
    unsigned flags =
        t->strategy == ETX_ENGINE_GENERATIONS ? ETX_ROOTS_FINAL_SYMLINK_OK : 0;

    return etx_roots_open_parent(e->roots, t->path, flags, pl, err);
}

/*
 * Look a user (is_group false) or group name up into *id (and the user's
 * login group into *gid). Unknown: placement, naming it.
 */
static int
lookup_id(const char *name, bool is_group, unsigned *id, unsigned *gid,
          const char *where, struct etx_error *err)
{
    struct passwd pw, *pwp = NULL;
    struct group gr, *grp = NULL;
    size_t len = NSS_BUF_FIRST;
    char *buf = NULL, *nbuf = NULL;
    int rc = ERANGE;

    while (rc == ERANGE && len <= NSS_BUF_MAX) {
        nbuf = realloc(buf, len);
        if (nbuf == NULL) {
            rc = ENOMEM;
            break;
        }
        buf = nbuf;
        rc = is_group ? getgrnam_r(name, &gr, buf, len, &grp)
                      : getpwnam_r(name, &pw, buf, len, &pwp);
        len *= 2;
    }
    if (rc == 0 && pwp != NULL) {
        *id = (unsigned)pwp->pw_uid;
        *gid = (unsigned)pwp->pw_gid;
    } else if (rc == 0 && grp != NULL) {
        *id = (unsigned)grp->gr_gid;
    }
    free(buf);
    if (rc != 0)
        return etx_error_sys(err, rc, ETX_CTX_FILE, is_group ? "group" : "user",
                             where, "cannot look up %s \"%s\"",
                             is_group ? "group" : "user", name);
    if (pwp == NULL && grp == NULL)
        return etx_error_set(err, ETX_CLASS_PLACEMENT, 0,
                             is_group ? "group" : "user", where,
                             "no %s named \"%s\" on this host",
                             is_group ? "group" : "user", name);
    return ETX_OK;
}

/*
 * The owner to give the staged file: a name not given is kept from the
 * live version when there is one, else the user's login group or the
 * agent's own user.
 */
int
etx_engine__owner_opts(const struct etx_engine_target *t,
                       const struct stat *live, struct etx_stage_opts *o,
                       struct etx_error *err)
{
    bool has_user = t->owner != NULL && t->owner[0] != '\0';
    bool has_group = t->group != NULL && t->group[0] != '\0';
    unsigned uid = live != NULL ? live->st_uid : geteuid();
    unsigned gid = live != NULL ? live->st_gid : getegid();
    unsigned login_gid = gid, g = gid;

    if (has_user &&
        lookup_id(t->owner, false, &uid, &login_gid, t->path, err) != ETX_OK)
        return ETX_ERR;
    if (has_group && lookup_id(t->group, true, &g, &g, t->path, err) != ETX_OK)
        return ETX_ERR;
    if (!has_user && !has_group)
        return ETX_OK;
    o->owner_set = true;
    o->uid = (uid_t)uid;
    o->gid = (gid_t)(has_group ? g : live != NULL ? gid : login_gid);
    return ETX_OK;
}

/* stat of the live version: the file (rename) or what the link names. */
static int
live_stat(const struct etx_engine_stage *s, struct stat *st, bool *exists,
          struct etx_error *err)
{
    int flags = s->strategy == ETX_ENGINE_RENAME ? AT_SYMLINK_NOFOLLOW : 0;

    *exists = false;
    if (fstatat(s->pl.dirfd, s->pl.name, st, flags) != 0) {
        if (errno == ENOENT)
            return ETX_OK;
        return etx_error_sys(err, errno, ETX_CTX_FILE, "fstatat", s->path,
                             "cannot inspect the live version");
    }
    if (s->strategy == ETX_ENGINE_RENAME && !S_ISREG(st->st_mode))
        return etx_error_sys(err, EISDIR, ETX_CTX_FILE, "stage", s->path,
                             "the target is not a regular file");
    *exists = S_ISREG(st->st_mode);
    return ETX_OK;
}

/* Begin a rename or generations stage (the parent is resolved). */
static int
begin_file(struct etx_engine_stage *s, const struct etx_engine_target *t,
           struct etx_error *err)
{
    struct etx_stage_opts o = {0};
    struct stat st;
    bool live = false;
    enum etx_place_use use = s->strategy == ETX_ENGINE_RENAME
                                 ? ETX_PLACE_RENAME_FILE
                                 : ETX_PLACE_SYMLINK_FLIP;

    if (etx_place_check(s->pl.dirfd, s->pl.name, use, err) != ETX_OK ||
        live_stat(s, &st, &live, err) != ETX_OK ||
        etx_engine__owner_opts(t, live ? &st : NULL, &o, err) != ETX_OK)
        return ETX_ERR;
    o.sha256 = s->sha256;
    o.mode_set = t->mode_set;
    o.mode = (mode_t)(t->mode & 07777);
    if (s->strategy == ETX_ENGINE_GENERATIONS)
        return etx_generations_stage(s->pl.dirfd, s->pl.name, s->version, &o,
                                     &s->st, err);
    if (live)
        o.meta_from = s->pl.name;
    return etx_stage_begin(s->pl.dirfd, s->pl.name, &o, &s->st, err);
}

/* A new stage with the request's fields copied and checked. */
static int
stage_new(const struct etx_engine_target *t, const char *sha256, uint64_t size,
          struct etx_engine_stage **out, struct etx_error *err)
{
    struct etx_engine_stage *s = NULL;

    if (check_target(t, err) != ETX_OK)
        return ETX_ERR;
    if (sha256 == NULL || !etx_digest_is_hex(sha256))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "stage", t->path,
                             "the expected digest is not 64 lower-case hex "
                             "characters");
    if (t->version != NULL && strlen(t->version) > NAME_MAX)
        return etx_error_set(err, ETX_CLASS_INPUT, ENAMETOOLONG, "stage",
                             t->path, "the version is longer than NAME_MAX");
    s = calloc(1, sizeof(*s));
    if (s == NULL)
        return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "stage", t->path,
                             "allocate");
    s->strategy = t->strategy;
    s->pl.dirfd = -1;
    s->app_fd = -1;
    s->tar_fd = -1;
    s->size = size;
    snprintf(s->sha256, sizeof(s->sha256), "%s", sha256);
    snprintf(s->version, sizeof(s->version), "%s",
             t->version != NULL ? t->version : "");
    snprintf(s->path, sizeof(s->path), "%s", t->path);
    *out = s;
    return ETX_OK;
}

int
etx_engine_stage_begin(struct etx_engine *e, const struct etx_engine_target *t,
                       const char *sha256, uint64_t size,
                       struct etx_engine_stage **out, struct etx_error *err)
{
    struct etx_engine_stage *s = NULL;
    int rc = ETX_ERR;

    *out = NULL;
    if (stage_new(t, sha256, size, &s, err) != ETX_OK)
        return ETX_ERR;
    if (s->strategy == ETX_ENGINE_RELEASE_DIR)
        rc = etx_engine__release_begin(e, s, t, err);
    else if (open_parent(e, t, &s->pl, err) == ETX_OK)
        rc = begin_file(s, t, err);
    if (rc != ETX_OK) {
        etx_engine_stage_free(s);
        return ETX_ERR;
    }
    *out = s;
    return ETX_OK;
}

/* Drop whatever was staged; the stage is dead afterwards. */
static void
discard(struct etx_engine_stage *s)
{
    if (s->st != NULL && s->step != ETX_ENGINE__STEP_SWAPPED)
        etx_stage_discard(s->st, NULL);
    if (s->tar_fd >= 0)
        close(s->tar_fd); /* unnamed: closing it is removing it */
    s->tar_fd = -1;
    if (s->step != ETX_ENGINE__STEP_SWAPPED)
        s->step = ETX_ENGINE__STEP_DEAD;
}

/* A failure already in 'err': discard the stage. Returns ETX_ERR. */
static int
fail(struct etx_engine_stage *s)
{
    discard(s);
    return ETX_ERR;
}

/* A call out of order: internal error, and the stage is discarded. */
static int
out_of_order(struct etx_engine_stage *s, const char *op, const char *what,
             struct etx_error *err)
{
    if (s->step == ETX_ENGINE__STEP_DEAD)
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, op, s->path,
                             "the stage failed earlier and was discarded");
    etx_error_set(err, ETX_CLASS_INTERNAL, 0, op, s->path, "%s", what);
    return fail(s);
}

int
etx_engine_stage_write(struct etx_engine_stage *s, const void *buf, size_t len,
                       struct etx_error *err)
{
    if (s->step != ETX_ENGINE__STEP_WRITING)
        return out_of_order(s, "write", "write after the stage ended", err);
    if (len > s->size - s->written) {
        etx_error_set(err, ETX_CLASS_INPUT, 0, "write", s->path,
                      "more than the %llu bytes announced",
                      (unsigned long long)s->size);
        return fail(s);
    }
    if (len == 0)
        return ETX_OK;
    if (s->st != NULL) {
        if (etx_stage_write(s->st, buf, len, err) != ETX_OK)
            return fail(s);
    } else if (etx_engine__release_write(s, buf, len, err) != ETX_OK) {
        return fail(s);
    }
    s->written += len;
    return ETX_OK;
}

int
etx_engine_stage_end(struct etx_engine_stage *s, struct etx_error *err)
{
    int rc;

    if (s->step != ETX_ENGINE__STEP_WRITING)
        return out_of_order(s, "finish", "the stage already ended", err);
    if (s->written != s->size) {
        etx_error_set(err, ETX_CLASS_INPUT, 0, "finish", s->path,
                      "received %llu bytes of the %llu announced",
                      (unsigned long long)s->written,
                      (unsigned long long)s->size);
        return fail(s);
    }
    rc = s->st != NULL ? etx_stage_finish(s->st, err)
                       : etx_engine__release_end(s, err);
    if (rc != ETX_OK)
        return fail(s);
    s->step = ETX_ENGINE__STEP_ENDED;
    return ETX_OK;
}

int
etx_engine_verify(struct etx_engine_stage *s, struct etx_error *err)
{
    int rc;

    if (s->step != ETX_ENGINE__STEP_ENDED)
        return out_of_order(s, "verify", "verify before the stage ended", err);
    rc = s->st != NULL ? etx_stage_verify(s->st, err)
                       : etx_engine__release_verify(s, err);
    if (rc != ETX_OK)
        return fail(s);
    s->step = ETX_ENGINE__STEP_VERIFIED;
    return ETX_OK;
}

int
etx_engine_swap(struct etx_engine_stage *s, struct etx_swap_result *res,
                struct etx_error *err)
{
    int rc;

    memset(res, 0, sizeof(*res));
    if (s->step != ETX_ENGINE__STEP_VERIFIED)
        return out_of_order(s, "swap", "swap before verify", err);
    switch (s->strategy) {
    case ETX_ENGINE_RENAME:
        rc = etx_swap_publish(s->st, res, err);
        break;
    case ETX_ENGINE_GENERATIONS:
        rc = etx_generations_publish(s->pl.dirfd, s->pl.name, s->st, res, err);
        break;
    default:
        rc = etx_engine__release_swap(s, res, err);
        break;
    }
    if (rc != ETX_OK)
        return fail(s);
    s->step = ETX_ENGINE__STEP_SWAPPED;
    discard(s);
    return ETX_OK;
}

void
etx_engine_stage_free(struct etx_engine_stage *s)
{
    if (s == NULL)
        return;
    discard(s);
    etx_stage_free(s->st);
    etx_digest_free(s->dig);
    etx_roots_place_close(&s->pl);
    if (s->app_fd >= 0)
        close(s->app_fd);
    free(s);
}

int
etx_engine_rollback(struct etx_engine *e, const struct etx_engine_target *t,
                    struct etx_swap_result *res, struct etx_error *err)
{
    struct etx_roots_place pl = {.dirfd = -1};
    int appfd = -1, rc = ETX_ERR;

    memset(res, 0, sizeof(*res));
    if (check_target(t, err) != ETX_OK)
        return ETX_ERR;
    if (t->strategy == ETX_ENGINE_RELEASE_DIR) {
        if (etx_roots_open_dir(e->roots, t->path, &appfd, err) == ETX_OK)
            rc = etx_release_rollback(appfd, res, err);
    } else if (open_parent(e, t, &pl, err) == ETX_OK) {
        rc = t->strategy == ETX_ENGINE_RENAME
                 ? etx_swap_rollback(pl.dirfd, pl.name, res, err)
                 : etx_generations_rollback(pl.dirfd, pl.name, res, err);
    }
    etx_roots_place_close(&pl);
    if (appfd >= 0)
        close(appfd);
    return rc;
}

int
etx_engine_prune(struct etx_engine *e, const struct etx_engine_target *t,
                 struct etx_prune_result *out, struct etx_error *err)
{
    struct etx_prune_opts o = {.keep = t->keep ? t->keep : DEFAULT_KEEP,
                               .unknown_ok = e->unknown_ok};
    struct etx_roots_place pl = {.dirfd = -1};
    int appfd = -1, rc = ETX_ERR;

    memset(out, 0, sizeof(*out));
    if (check_target(t, err) != ETX_OK)
        return ETX_ERR;
    if (t->strategy == ETX_ENGINE_RELEASE_DIR) {
        if (etx_roots_open_dir(e->roots, t->path, &appfd, err) == ETX_OK)
            rc = etx_prune_releases(appfd, &o, out, err);
    } else if (open_parent(e, t, &pl, err) == ETX_OK) {
        /* rename keeps one previous version, replaced at each publish. */
        rc = t->strategy == ETX_ENGINE_RENAME
                 ? ETX_OK
                 : etx_prune_generations(pl.dirfd, pl.name, &o, out, err);
    }
    etx_roots_place_close(&pl);
    if (appfd >= 0)
        close(appfd);
    return rc;
}

/* Append 'more' to 'out', names prefixed with 'prefix' where they fit. */
static int
merge_cleanup(struct etx_cleanup_result *out, struct etx_cleanup_result *more,
              const char *prefix, struct etx_error *err)
{
    struct etx_cleanup_entry *v = NULL, *x = NULL;
    char name[NAME_MAX + 1];
    size_t i;

    if (more->n > 0) {
        v = realloc(out->v, (out->n + more->n) * sizeof(*v));
        if (v == NULL)
            return etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "cleanup", NULL,
                                 "allocate");
        out->v = v;
    }
    for (i = 0; i < more->n; i++) {
        x = &out->v[out->n++];
        *x = more->v[i];
        if (snprintf(name, sizeof(name), "%s%s", prefix, x->name) <
            (int)sizeof(name))
            memcpy(x->name, name, sizeof(name));
    }
    out->n_unknown += more->n_unknown;
    if (out->first_unknown == 0)
        out->first_unknown = more->first_unknown;
    return ETX_OK;
}

/* Clean the app directory and its releases/ (when there is one). */
static int
cleanup_app(int appfd, const struct etx_cleanup_opts *o,
            struct etx_cleanup_result *out, struct etx_error *err)
{
    struct etx_cleanup_result more = {0};
    int relfd, rc = ETX_ERR;

    if (etx_cleanup_dir(appfd, o, out, err) != ETX_OK)
        return ETX_ERR;
    relfd = openat(appfd, ETX_RELEASE_DIR,
                   O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (relfd < 0 && errno == ENOENT)
        return ETX_OK;
    if (relfd < 0)
        etx_error_sys(err, errno, ETX_CTX_FILE, "open", ETX_RELEASE_DIR,
                      "cannot open the releases directory");
    else if (etx_cleanup_dir(relfd, o, &more, err) == ETX_OK)
        rc = merge_cleanup(out, &more, ETX_RELEASE_DIR "/", err);
    etx_cleanup_result_free(&more);
    if (relfd >= 0)
        close(relfd);
    if (rc != ETX_OK)
        etx_cleanup_result_free(out);
    return rc;
}

int
etx_engine_cleanup(struct etx_engine *e, const struct etx_engine_target *t,
                   unsigned max_age_s, struct etx_cleanup_result *out,
                   struct etx_error *err)
{
    struct etx_cleanup_opts o = {.max_age_s = max_age_s,
                                 .unknown_ok = e->unknown_ok};
    struct etx_roots_place pl = {.dirfd = -1};
    int appfd = -1, rc = ETX_ERR;

    memset(out, 0, sizeof(*out));
    if (check_target(t, err) != ETX_OK)
        return ETX_ERR;
    if (t->strategy == ETX_ENGINE_RELEASE_DIR) {
        if (etx_roots_open_dir(e->roots, t->path, &appfd, err) == ETX_OK)
            rc = cleanup_app(appfd, &o, out, err);
    } else if (open_parent(e, t, &pl, err) == ETX_OK) {
        rc = etx_cleanup_dir(pl.dirfd, &o, out, err);
    }
    etx_roots_place_close(&pl);
    if (appfd >= 0)
        close(appfd);
    return rc;
}

int
etx_engine_probe(struct etx_engine *e, const struct etx_engine_target *t,
                 struct etx_facts_target *out, struct etx_error *err)
{
    struct etx_roots_place pl = {.dirfd = -1};
    char path[PATH_MAX];
    int appfd = -1, rc = ETX_ERR;

    memset(out, 0, sizeof(*out));
    if (check_target(t, err) != ETX_OK)
        return ETX_ERR;
    if (t->strategy == ETX_ENGINE_RELEASE_DIR) {
        if (snprintf(path, sizeof(path), "%s/" ETX_RELEASE_CURRENT, t->path) >=
            (int)sizeof(path))
            return etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "probe",
                                 t->path, "the path is too long");
        rc = etx_roots_open_dir(e->roots, t->path, &appfd, err);
    } else {
        snprintf(path, sizeof(path), "%s", t->path);
        rc = open_parent(e, t, &pl, err);
    }
    etx_roots_place_close(&pl);
    if (appfd >= 0)
        close(appfd);
    if (rc != ETX_OK)
        return ETX_ERR;
    return etx_facts_target(path, out, err);
}
