/* SPDX-License-Identifier: MIT */
/* The generations strategy: immutable "<name>-<version>" files + symlink. */
#define _GNU_SOURCE
#include "agent/generations.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/fsops.h"
#include "agent/place.h"
#include "agent/symflip.h"

int
etx_generations_file(const char *name, const char *version,
                     char out[NAME_MAX + 1], struct etx_error *err)
{
    int n;

    if (version[0] == '\0' || version[0] == '.' || strchr(version, '/') != NULL)
        return etx_error_set(err, ETX_CLASS_INPUT, EINVAL, "generations",
                             version, "not a valid version for a file name");
    n = snprintf(out, NAME_MAX + 1, "%s-%s", name, version);
    if (n < 0 || n > NAME_MAX)
        return etx_error_sys(err, ENAMETOOLONG, ETX_CTX_FILE, "generations",
                             name, "\"%s-%s\" is longer than NAME_MAX", name,
                             version);
    return ETX_OK;
}

int
etx_generations_stage(int dirfd, const char *name, const char *version,
                      const struct etx_stage_opts *o, struct etx_stage **out,
                      struct etx_error *err)
{
    struct etx_stage_opts opts = {0};
    char gen[NAME_MAX + 1], cur[PATH_MAX];

    *out = NULL;
    if (o != NULL)
        opts = *o;
    if (etx_generations_file(name, version, gen, err) != ETX_OK ||
        etx_symflip_read(dirfd, name, cur, sizeof(cur), err) != ETX_OK)
        return ETX_ERR;
    if (opts.meta_from == NULL && cur[0] != '\0' && strchr(cur, '/') == NULL)
        opts.meta_from = cur;
    return etx_stage_begin(dirfd, gen, &opts, out, err);
}

/* Name the staged file as its generation, or reuse an identical one. */
static int
place_generation(int dirfd, struct etx_stage *s, struct etx_swap_result *res,
                 struct etx_error *err)
{
    const char *gen = etx_stage_name(s);
    const struct etx_fileinfo *staged = etx_stage_file(s);
    struct etx_fileinfo g;

    if (etx_fileinfo_at(dirfd, gen, ETX_FILEINFO_DIGEST, &g, err) != ETX_OK)
        return ETX_ERR;
    if (g.exists) {
        if (!S_ISREG(g.mode) || strcmp(g.sha256, staged->sha256) != 0)
            return etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "generations",
                                 gen,
                                 "generation \"%s\" exists with other "
                                 "content (SHA-256 %s); generations are "
                                 "immutable",
                                 gen, g.sha256);
        res->new = g;
        res->steps |= ETX_SWAP_REUSED;
        return etx_stage_discard(s, err);
    }
    if (etx_fsops_rename_noreplace(dirfd, res->temp, gen, err) != ETX_OK)
        return ETX_ERR;
    etx_stage_published(s);
    res->new = *staged;
    res->steps |= ETX_SWAP_PUBLISHED;
    if (etx_fsops_sync_dir(dirfd, gen, err) != ETX_OK ||
        etx_fileinfo_at(dirfd, gen, 0, &g, err) != ETX_OK)
        return ETX_ERR;
    if (!etx_fileinfo_same(&g, staged))
        return etx_error_set(err, ETX_CLASS_INTEGRITY, 0, "verify", gen,
                             "the generation is not the file staged");
    return ETX_OK;
}

/* Facts about the generation a symlink target names ("" : none). */
static int
gen_info(int dirfd, const char *target, struct etx_fileinfo *fi,
         struct etx_error *err)
{
    memset(fi, 0, sizeof(*fi));
    if (target[0] == '\0')
        return ETX_OK;
    return etx_fileinfo_at(dirfd, target, ETX_FILEINFO_DIGEST, fi, err);
}

int
etx_generations_publish(int dirfd, const char *name, struct etx_stage *s,
                        struct etx_swap_result *res, struct etx_error *err)
{
    char cur[PATH_MAX];
    int flipped = 0;

    memset(res, 0, sizeof(*res));
    snprintf(res->temp, sizeof(res->temp), "%s", etx_stage_temp(s));
    snprintf(res->link, sizeof(res->link), "%s", etx_stage_name(s));
    if (!etx_stage_is_verified(s))
        return etx_error_set(err, ETX_CLASS_INTERNAL, 0, "generations", name,
                             "the stage is not verified");
    if (etx_place_check(dirfd, name, ETX_PLACE_SYMLINK_FLIP, err) != ETX_OK ||
        etx_symflip_read(dirfd, name, cur, sizeof(cur), err) != ETX_OK ||
        gen_info(dirfd, cur, &res->old, err) != ETX_OK ||
        place_generation(dirfd, s, res, err) != ETX_OK)
        return ETX_ERR;
    if (etx_symflip_switch(dirfd, name, res->link, res->prev, sizeof(res->prev),
                           &flipped, err) != ETX_OK)
        return ETX_ERR;
    res->steps |= flipped ? ETX_SWAP_RENAMED : ETX_SWAP_NOOP;
    res->steps |= ETX_SWAP_DIR_SYNCED | ETX_SWAP_VERIFIED;
    return ETX_OK;
}

int
etx_generations_rollback(int dirfd, const char *name,
                         struct etx_swap_result *res, struct etx_error *err)
{
    int flipped = 0;

    memset(res, 0, sizeof(*res));
    if (etx_place_check(dirfd, name, ETX_PLACE_SYMLINK_FLIP, err) != ETX_OK ||
        etx_symflip_rollback(dirfd, name, res->prev, res->link,
                             sizeof(res->link), &flipped, err) != ETX_OK ||
        gen_info(dirfd, res->prev, &res->old, err) != ETX_OK ||
        gen_info(dirfd, res->link, &res->new, err) != ETX_OK)
        return ETX_ERR;
    res->steps |= flipped ? ETX_SWAP_RENAMED : ETX_SWAP_NOOP;
    res->steps |= ETX_SWAP_DIR_SYNCED | ETX_SWAP_VERIFIED;
    return ETX_OK;
}
