/* SPDX-License-Identifier: MIT */
/*
 * A YAML document loaded with libyaml's event API into a small tree of
 * nodes, each knowing where it starts (file:line:col, 1-based), for the
 * inventory and the agent config. Loading enforces hard limits so hostile
 * files fail fast with bounded memory: size, nesting depth, node count
 * (alias expansions included), scalar length, anchor count; duplicate keys
 * at any level, non-string keys and a second document are errors.
 *
 * Aliases are expanded by sharing: an alias node is the anchored node
 * itself (the tree is a DAG), and every alias counts the whole size of its
 * target against ETX_YDOC_MAX_NODES, so "billion laughs" fails after a few
 * levels. Errors inside aliased content point at the anchored definition.
 * Tags are ignored; merge keys ("<<") are ordinary keys.
 *
 * Every failure fills struct etx_error with ETX_CLASS_INPUT, op "yaml",
 * where = "file:line:col" (just "file" for errors about the whole file) and
 * msg = what was found and what was expected.
 */
#ifndef ETX_PROTO_YDOC_H
#define ETX_PROTO_YDOC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto/error.h"

#define ETX_YDOC_MAX_BYTES   (4u * 1024u * 1024u) /* file or buffer size */
#define ETX_YDOC_MAX_DEPTH   64u                  /* nested collections */
#define ETX_YDOC_MAX_NODES   200000u /* nodes, alias expansions included */
#define ETX_YDOC_MAX_SCALAR  65536u  /* bytes in one scalar */
#define ETX_YDOC_MAX_ANCHORS 256u    /* distinct anchors in a document */

enum etx_ydoc_kind {
    ETX_YDOC_NULL = 0, /* a plain, untagged "", "~", "null", "Null", "NULL" */
    ETX_YDOC_SCALAR,   /* any other scalar: text, no NUL byte inside */
    ETX_YDOC_SEQUENCE,
    ETX_YDOC_MAPPING,
};

/*
 * Read-only plain data owned by the document; valid until etx_ydoc_free().
 * A mapping with n pairs holds 2n items: key, value, key, value... Keys are
 * always ETX_YDOC_SCALAR and unique within their mapping.
 */
struct etx_ydoc_node {
    enum etx_ydoc_kind kind;
    const char *file;             /* the document's name */
    unsigned line, col;           /* 1-based start mark */
    const char *str;              /* scalar text (NUL-terminated), or "" */
    size_t len;                   /* strlen(str) */
    size_t n;                     /* sequence items or mapping pairs */
    struct etx_ydoc_node **items; /* n (sequence) or 2n (mapping) */
    size_t weight;                /* nodes in this subtree, aliases expanded */
};

struct etx_ydoc; /* opaque: the nodes and the name */

/*
 * Load the YAML file at 'path' (fstat-checked to be a regular file of at
 * most ETX_YDOC_MAX_BYTES before reading). On success returns ETX_OK and a
 * new document in *out (free: etx_ydoc_free()). On failure returns ETX_ERR,
 * leaves *out NULL and fills err.
 */
int etx_ydoc_load(const char *path, struct etx_ydoc **out,
                  struct etx_error *err);

/* The same for 'len' bytes at 'data'; 'name' stands for the file name. */
int etx_ydoc_load_buffer(const char *name, const char *data, size_t len,
                         struct etx_ydoc **out, struct etx_error *err);

void etx_ydoc_free(struct etx_ydoc *doc); /* NULL: no-op */

/* The document's one root node, or NULL when the stream holds no document
 * (an empty file or only comments). Borrowed from doc. */
const struct etx_ydoc_node *etx_ydoc_root(const struct etx_ydoc *doc);

/* The name given at load time. Borrowed from doc. */
const char *etx_ydoc_name(const struct etx_ydoc *doc);

/* "a string", "a sequence", "a mapping" or "null", for messages. */
const char *etx_ydoc_kind_name(const struct etx_ydoc_node *n);

/*
 * Fill err with ETX_CLASS_INPUT, op "yaml", where = n's file:line:col and
 * the formatted message, control characters replaced by '?' (messages
 * quote the user's text); returns ETX_ERR.
 */
int etx_ydoc_fail(struct etx_error *err, const struct etx_ydoc_node *n,
                  const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Write "file:line:col" of n into buf (for "first defined at ..."). */
const char *etx_ydoc_where(const struct etx_ydoc_node *n, char *buf,
                           size_t len);

/* The value of 'key' in mapping 'map', or NULL (also when map is not a
 * mapping). Borrowed. */
const struct etx_ydoc_node *etx_ydoc_get(const struct etx_ydoc_node *map,
                                         const char *key);

/*
 * The candidate closest to 'word' (ties: the first) within an edit distance
 * of 1 for words of up to 4 characters and 2 for longer ones, or NULL.
 * 'cands' has 'n' entries; NULL entries are skipped.
 */
const char *etx_ydoc_did_you_mean(const char *word, const char *const *cands,
                                  size_t n);

/*
 * Check that 'map' is a mapping whose keys are all in 'allowed' (a
 * NULL-terminated list). An unknown key fails at the key's mark:
 * "unknown key 'adress' in host 'web1'; did you mean 'address'?". 'what'
 * names the mapping in messages ("the inventory", "host 'web1'").
 */
int etx_ydoc_check_keys(const struct etx_ydoc_node *map,
                        const char *const *allowed, const char *what,
                        struct etx_error *err);

/*
 * Typed getters. 'n' must not be NULL; 'what' names the value in messages
 * ("expected a string for 'address', found a sequence"). On failure they
 * return ETX_ERR and fill err at n's mark; outputs are written on success.
 */
int etx_ydoc_expect(const struct etx_ydoc_node *n, enum etx_ydoc_kind kind,
                    const char *what, struct etx_error *err);
/* A non-empty scalar; *out borrowed from the document. */
int etx_ydoc_string(const struct etx_ydoc_node *n, const char *what,
                    const char **out, struct etx_error *err);
/* A non-empty scalar copied into *out (free: free()); ENOMEM fails too. */
int etx_ydoc_strdup(const struct etx_ydoc_node *n, const char *what, char **out,
                    struct etx_error *err);
/* A decimal count in [min, max]. */
int etx_ydoc_uint(const struct etx_ydoc_node *n, const char *what, uint64_t min,
                  uint64_t max, uint64_t *out, struct etx_error *err);
/* true or false. */
int etx_ydoc_bool(const struct etx_ydoc_node *n, const char *what, bool *out,
                  struct etx_error *err);
/* A duration string (etx_units_duration) in milliseconds. */
int etx_ydoc_duration(const struct etx_ydoc_node *n, const char *what,
                      uint64_t *ms, struct etx_error *err);
/* An octal mode string (etx_units_mode). */
int etx_ydoc_mode(const struct etx_ydoc_node *n, const char *what,
                  unsigned *mode, struct etx_error *err);
/*
 * One of 'names' (NULL-terminated); *out gets its index. A miss says
 * "expected one of rename, generations, release-dir for 'strategy', found
 * 'renam'; did you mean 'rename'?".
 */
int etx_ydoc_choice(const struct etx_ydoc_node *n, const char *what,
                    const char *const *names, int *out, struct etx_error *err);
/*
 * A non-empty sequence of non-empty strings, copied into a new
 * NULL-terminated vector *out with *count entries (free:
 * etx_ydoc_strv_free()).
 */
int etx_ydoc_strv(const struct etx_ydoc_node *n, const char *what,
                  size_t *count, char ***out, struct etx_error *err);
void etx_ydoc_strv_free(char **v); /* NULL: no-op */

#endif /* ETX_PROTO_YDOC_H */
