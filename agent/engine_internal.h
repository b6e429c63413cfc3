/* SPDX-License-Identifier: MIT */
/*
 * What agent/engine.c (the facade and the rename and generations
 * strategies) and agent/engine_release.c (the release-dir tarball staged
 * in the state directory) share; not part of the engine API (see
 * engine.h).
 */
#ifndef ETX_AGENT_ENGINE_INTERNAL_H
#define ETX_AGENT_ENGINE_INTERNAL_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "agent/engine.h"
#include "agent/roots.h"
#include "agent/stage.h"
#include "proto/digest.h"
#include "proto/error.h"

struct etx_engine {
    struct etx_roots *roots;
    int state_fd; /* the state directory, or -1 when none is configured */
    char state_dir[PATH_MAX];
    bool unknown_ok;
};

/* Where a stage is; every failure moves it to ETX_ENGINE__STEP_DEAD. */
enum etx_engine__step {
    ETX_ENGINE__STEP_WRITING = 0, /* chunks accepted */
    ETX_ENGINE__STEP_ENDED,       /* all bytes in, digest checked, fsynced */
    ETX_ENGINE__STEP_VERIFIED,    /* read back and checked */
    ETX_ENGINE__STEP_SWAPPED,     /* published: nothing left to discard */
    ETX_ENGINE__STEP_DEAD,        /* failed: discarded, only free may follow */
};

struct etx_engine_stage {
    enum etx_engine_strategy strategy;
    enum etx_engine__step step;
    struct etx_roots_place pl; /* rename/generations: parent and name */
    struct etx_stage *st;      /* rename/generations */
    int app_fd;                /* release-dir: the app directory */
    int tar_fd;                /* release-dir: the unnamed staged tarball */
    struct etx_digest *dig;    /* release-dir: running digest */
    char sha256[ETX_DIGEST_HEX_LEN + 1];
    char version[NAME_MAX + 1];
    uint64_t size;
    uint64_t written;
    char path[PATH_MAX];
};

/* ---- defined in engine.c, for engine_release.c ---- */

/*
 * The owner to give the staged file (t's owner and group names, looked
 * up), kept from live when a name is not given and live is not NULL.
 * ETX_ERR with err filled (class placement for an unknown name).
 */
int etx_engine__owner_opts(const struct etx_engine_target *t,
                           const struct stat *live, struct etx_stage_opts *o,
                           struct etx_error *err);

/* ---- defined in engine_release.c, for engine.c ---- */

/*
 * Begin a release-dir stage: the release id and owner names checked, the
 * app directory opened into s->app_fd, the digest started and the tarball
 * file made (s->tar_fd). On failure err is filled; free(s) closes what
 * was opened.
 */
int etx_engine__release_begin(const struct etx_engine *e,
                              struct etx_engine_stage *s,
                              const struct etx_engine_target *t,
                              struct etx_error *err);

/* Append len bytes of buf to the tarball and to its running digest. */
int etx_engine__release_write(struct etx_engine_stage *s, const void *buf,
                              size_t len, struct etx_error *err);

/* The tarball is whole: digest checked against s->sha256, then fsynced. */
int etx_engine__release_end(struct etx_engine_stage *s, struct etx_error *err);

/* Re-read the tarball from its start: size and digest again. */
int etx_engine__release_verify(struct etx_engine_stage *s,
                               struct etx_error *err);

/* Unpack the verified tarball as release s->version and flip "current". */
int etx_engine__release_swap(struct etx_engine_stage *s,
                             struct etx_swap_result *res,
                             struct etx_error *err);

#endif /* ETX_AGENT_ENGINE_INTERNAL_H */
