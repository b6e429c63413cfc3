/* SPDX-License-Identifier: MIT */
/*
 * The names the replacement engine gives to what it creates next to a
 * target: temps ".<name>.etxroll.<16 hex>" (staged files, temp links and
 * symlinks, release temp dirs) and the kept previous version
 * ".<name>.etxroll-prev". Every name fits NAME_MAX: a name too long to be
 * embedded whole is shortened to its first 200 bytes, "~" and 16 hex
 * characters of its SHA-256 (MUST 3). Cleanup recognises temps by
 * etx_tempname_is_temp().
 */
#ifndef ETX_AGENT_TEMPNAME_H
#define ETX_AGENT_TEMPNAME_H

#include <limits.h>
#include <stdbool.h>

#include "proto/error.h"

#define ETX_TEMPNAME_MARK     ".etxroll."
#define ETX_TEMPNAME_PREV     ".etxroll-prev"
#define ETX_TEMPNAME_RAND_LEN 16

/*
 * A new temp name for 'name' with a fresh random suffix (getrandom) in
 * out. Returns ETX_OK, or ETX_ERR when 'name' is empty, longer than
 * NAME_MAX or contains '/', or no random bytes could be read.
 */
int etx_tempname_make(const char *name, char out[NAME_MAX + 1],
                      struct etx_error *err);

/* The name of the kept previous version of 'name' (same checks). */
int etx_tempname_prev(const char *name, char out[NAME_MAX + 1],
                      struct etx_error *err);

/*
 * ".<name><suffix>" (the name shortened as above when needed), for other
 * durable records beside 'name'; 'suffix' must not look like a temp's.
 */
int etx_tempname_aside(const char *name, const char *suffix,
                       char out[NAME_MAX + 1], struct etx_error *err);

/* True when 'entry' has the shape of a temp made by etx_tempname_make(). */
bool etx_tempname_is_temp(const char *entry);

#endif /* ETX_AGENT_TEMPNAME_H */
