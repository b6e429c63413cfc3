/* SPDX-License-Identifier: MIT */
/*
 * What agent/untar.c (unpacking) and agent/untar_rmtree.c (removing a tree)
 * share; not part of the untar API (see untar.h).
 */
#ifndef ETX_AGENT_UNTAR_INTERNAL_H
#define ETX_AGENT_UNTAR_INTERNAL_H

#include <fcntl.h>

/* How every directory is opened: never through a symlink, never inherited. */
#define ETX_UNTAR__DIR_FLAGS (O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

#endif /* ETX_AGENT_UNTAR_INTERNAL_H */
