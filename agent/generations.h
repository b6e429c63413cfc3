/* SPDX-License-Identifier: MIT */
/*
 * The `generations` strategy: each version of a file is its own immutable
 * file "<name>-<version>" beside a symlink "<name>" that points at the live
 * one (a relative target in the same directory). Publishing renames the
 * verified stage to its generation name (never replacing one: an existing
 * generation with the same SHA-256 is reused, one with another digest is
 * refused, class integrity), fsyncs the directory, then flips the symlink
 * (symflip.h: the previous generation is recorded in
 * ".<name>.etxroll-prev" first). Rollback flips the symlink back to the
 * recorded generation. Allowed on NFS (MUST 17).
 *
 * The directory should hold only this program's generations under the
 * "<name>-" prefix: pruning (prune.h) treats every regular file named so as
 * a generation.
 */
#ifndef ETX_AGENT_GENERATIONS_H
#define ETX_AGENT_GENERATIONS_H

#include <limits.h>

#include "agent/stage.h"
#include "agent/swap.h"
#include "proto/error.h"

/* "<name>-<version>" into out; refuses a version with '/' or leading '.'. */
int etx_generations_file(const char *name, const char *version,
                         char out[NAME_MAX + 1], struct etx_error *err);

/*
 * Begin staging 'version' of symlink 'name' in 'dirfd': a stage (see
 * stage.h) for the generation file, whose metadata defaults come from the
 * live generation unless o->meta_from names another file. Free *out with
 * etx_stage_free().
 */
int etx_generations_stage(int dirfd, const char *name, const char *version,
                          const struct etx_stage_opts *o,
                          struct etx_stage **out, struct etx_error *err);

/*
 * Publish the verified stage 's' (from etx_generations_stage()) as the
 * live generation of 'name'. res->old/new describe the previous and the new
 * generation file, res->prev and res->link the symlink targets.
 */
int etx_generations_publish(int dirfd, const char *name, struct etx_stage *s,
                            struct etx_swap_result *res, struct etx_error *err);

/* Flip 'name' back to the recorded previous generation. */
int etx_generations_rollback(int dirfd, const char *name,
                             struct etx_swap_result *res,
                             struct etx_error *err);

#endif /* ETX_AGENT_GENERATIONS_H */
