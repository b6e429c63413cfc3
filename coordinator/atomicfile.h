/* SPDX-License-Identifier: MIT */
/*
 * Small files the coordinator writes for people and for later runs (plans,
 * keys): written whole to a temporary name in the same directory, fsynced,
 * then renamed over the destination, so nobody ever reads half a file and a
 * failure leaves the old file (or none) in place.
 */
#ifndef ETX_COORDINATOR_ATOMICFILE_H
#define ETX_COORDINATOR_ATOMICFILE_H

#include <stddef.h>
#include <sys/types.h>

#include "proto/error.h"

/*
 * Replace 'path' with 'len' bytes of 'data', created with 'mode' (the umask
 * does not apply). On failure nothing is left behind but the old file.
 */
int etx_atomicfile_write(const char *path, const void *data, size_t len,
                         mode_t mode, struct etx_error *err);

#endif /* ETX_COORDINATOR_ATOMICFILE_H */
