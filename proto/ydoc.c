/* SPDX-License-Identifier: MIT */
/*
 * Loading a YAML document into a tree of marked nodes with libyaml's event
 * API, under hard limits (ydoc.h). Nodes live in fixed-size chunks owned by
 * the document so that aliases can share them and freeing is one walk over
 * the chunks. Reading the tree (typed getters, key checks, messages) is in
 * ydoc_get.c.
 */
#include "proto/ydoc.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include "proto/ydoc_internal.h"

#define CHUNK_NODES 1024
#define NO_ANCHOR   ((size_t)-1)

struct chunk {
    struct chunk *next;
    size_t used;
    struct etx_ydoc_node nodes[CHUNK_NODES];
};

struct etx_ydoc {
    char *name;
    struct etx_ydoc_node *root;
    struct chunk *chunks;
    size_t expanded; /* nodes made plus the weight of every alias */
};

struct anchor {
    char *name;
    struct etx_ydoc_node *node;
    bool complete; /* false while its collection is still open */
};

/* An open collection: its node, the capacity of its items, its anchor. */
struct frame {
    struct etx_ydoc_node *node;
    size_t used; /* items attached so far (keys and values in a mapping) */
    size_t cap;
    size_t anchor;
};

struct loader {
    struct etx_ydoc *doc;
    yaml_parser_t parser;
    const char *data;
    size_t len;
    struct frame stack[ETX_YDOC_MAX_DEPTH];
    size_t depth;
    struct anchor anchors[ETX_YDOC_MAX_ANCHORS];
    size_t n_anchors;
    unsigned docs;
    bool done;
    struct etx_error *err;
};

static int fail_mark(struct loader *l, yaml_mark_t mark, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int
fail_mark(struct loader *l, yaml_mark_t mark, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    etx_ydoc__vfail(l->err, l->doc->name, mark.line + 1, mark.column + 1, fmt,
                    ap);
    va_end(ap);
    return ETX_ERR;
}

static int
no_memory(struct loader *l)
{
    return etx_error_set(l->err, ETX_CLASS_INPUT, ENOMEM, "yaml", l->doc->name,
                         "out of memory loading the document");
}

/* A new node charged against the node budget. */
static struct etx_ydoc_node *
new_node(struct loader *l, enum etx_ydoc_kind kind, yaml_mark_t mark)
{
    struct etx_ydoc *doc = l->doc;
    struct chunk *c = doc->chunks;
    struct etx_ydoc_node *n = NULL;

    if (++doc->expanded > ETX_YDOC_MAX_NODES) {
        fail_mark(l, mark, "the document has more than %u nodes",
                  ETX_YDOC_MAX_NODES);
        return NULL;
    }
    if (c == NULL || c->used == CHUNK_NODES) {
        c = calloc(1, sizeof(*c));
        if (c == NULL) {
            no_memory(l);
            return NULL;
        }
        c->next = doc->chunks;
        doc->chunks = c;
    }
    n = &c->nodes[c->used++];
    n->kind = kind;
    n->file = doc->name;
    n->line = (unsigned)mark.line + 1;
    n->col = (unsigned)mark.column + 1;
    n->str = "";
    n->weight = 1;
    return n;
}

/* Append n to the open collection (or make it the root). */
static int
attach(struct loader *l, struct etx_ydoc_node *n, yaml_mark_t mark)
{
    struct frame *f = NULL;
    struct etx_ydoc_node **items = NULL;

    if (l->depth == 0) {
        l->doc->root = n;
        return ETX_OK;
    }
    f = &l->stack[l->depth - 1];
    if (f->node->kind == ETX_YDOC_MAPPING && f->used % 2 == 0 &&
        n->kind != ETX_YDOC_SCALAR)
        return fail_mark(l, mark,
                         "expected a string as a mapping key, "
                         "found %s",
                         etx_ydoc_kind_name(n));
    if (f->used == f->cap) {
        f->cap = f->cap == 0 ? 8 : 2 * f->cap;
        items = realloc(f->node->items, f->cap * sizeof(*items));
        if (items == NULL)
            return no_memory(l);
        f->node->items = items;
    }
    f->node->items[f->used++] = n;
    return ETX_OK;
}

/* Add a complete item's weight to the open collection that holds it. */
static void
add_weight(struct loader *l, const struct etx_ydoc_node *n)
{
    if (l->depth > 0)
        l->stack[l->depth - 1].node->weight += n->weight;
}

static int
add_anchor(struct loader *l, const yaml_char_t *name, struct etx_ydoc_node *n,
           bool complete, yaml_mark_t mark)
{
    struct anchor *a = NULL;

    if (l->n_anchors == ETX_YDOC_MAX_ANCHORS)
        return fail_mark(l, mark, "more than %u anchors in the document",
                         ETX_YDOC_MAX_ANCHORS);
    a = &l->anchors[l->n_anchors];
    a->name = strdup((const char *)name);
    if (a->name == NULL)
        return no_memory(l);
    a->node = n;
    a->complete = complete;
    l->n_anchors++;
    return ETX_OK;
}

static bool
is_null_text(const char *s)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    size_t i;

    for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        if (strcmp(s, nulls[i]) == 0)
            return true;
    return false;
}

static int
on_scalar(struct loader *l, const yaml_event_t *ev)
{
    const char *text = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    struct etx_ydoc_node *n = NULL;
    bool null = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
                ev->data.scalar.tag == NULL && is_null_text(text);

    if (len > ETX_YDOC_MAX_SCALAR)
        return fail_mark(l, ev->start_mark,
                         "a scalar of %zu bytes; the "
                         "limit is %u bytes",
                         len, ETX_YDOC_MAX_SCALAR);
    if (memchr(text, '\0', len) != NULL)
        return fail_mark(l, ev->start_mark, "a scalar holds a NUL byte");
    n = new_node(l, null ? ETX_YDOC_NULL : ETX_YDOC_SCALAR, ev->start_mark);
    if (n == NULL)
        return ETX_ERR;
    if (!null) {
        n->str = strdup(text);
        if (n->str == NULL) {
            n->kind = ETX_YDOC_NULL; /* nothing to free */
            return no_memory(l);
        }
        n->len = len;
    }
    if (attach(l, n, ev->start_mark) != ETX_OK)
        return ETX_ERR;
    add_weight(l, n);
    if (ev->data.scalar.anchor != NULL)
        return add_anchor(l, ev->data.scalar.anchor, n, true, ev->start_mark);
    return ETX_OK;
}

static int
on_alias(struct loader *l, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    struct anchor *a = NULL;
    size_t i;

    for (i = l->n_anchors; i > 0 && a == NULL; i--)
        if (strcmp(l->anchors[i - 1].name, name) == 0)
            a = &l->anchors[i - 1];
    if (a == NULL)
        return fail_mark(l, ev->start_mark,
                         "alias '*%.64s' names no "
                         "anchor defined before it",
                         name);
    if (!a->complete)
        return fail_mark(l, ev->start_mark,
                         "alias '*%.64s' refers to a "
                         "node that contains it (a recursive alias)",
                         name);
    l->doc->expanded += a->node->weight;
    if (l->doc->expanded > ETX_YDOC_MAX_NODES)
        return fail_mark(l, ev->start_mark,
                         "alias expansion exceeds %u "
                         "nodes",
                         ETX_YDOC_MAX_NODES);
    if (attach(l, a->node, ev->start_mark) != ETX_OK)
        return ETX_ERR;
    add_weight(l, a->node);
    return ETX_OK;
}

static int
on_start(struct loader *l, const yaml_event_t *ev, enum etx_ydoc_kind kind,
         const yaml_char_t *anchor)
{
    struct etx_ydoc_node *n = NULL;
    struct frame *f = NULL;

    if (l->depth == ETX_YDOC_MAX_DEPTH)
        return fail_mark(l, ev->start_mark,
                         "collections nested deeper "
                         "than %u levels",
                         ETX_YDOC_MAX_DEPTH);
    n = new_node(l, kind, ev->start_mark);
    if (n == NULL || attach(l, n, ev->start_mark) != ETX_OK)
        return ETX_ERR;
    f = &l->stack[l->depth++];
    f->node = n;
    f->used = 0;
    f->cap = 0;
    f->anchor = NO_ANCHOR;
    if (anchor != NULL) {
        f->anchor = l->n_anchors;
        return add_anchor(l, anchor, n, false, ev->start_mark);
    }
    return ETX_OK;
}

struct keyref {
    const struct etx_ydoc_node *key;
    size_t idx;
};

static int
keyref_cmp(const void *a, const void *b)
{
    const struct keyref *x = a;
    const struct keyref *y = b;
    int c = strcmp(x->key->str, y->key->str);

    if (c != 0)
        return c;
    return x->idx < y->idx ? -1 : (x->idx > y->idx ? 1 : 0);
}

/*
 * Sort the keys to find duplicates in O(n log n); of all duplicates report
 * the one that comes first in the document, naming the first definition.
 */
static int
check_duplicates(struct loader *l, const struct etx_ydoc_node *map)
{
    struct keyref *refs = NULL;
    const struct keyref *dup = NULL;
    char first[512];
    char buf[ETX_YDOC_SHOW_BUF];
    size_t i;

    if (map->n < 2)
        return ETX_OK;
    refs = calloc(map->n, sizeof(*refs));
    if (refs == NULL)
        return no_memory(l);
    for (i = 0; i < map->n; i++)
        refs[i] = (struct keyref){map->items[2 * i], i};
    qsort(refs, map->n, sizeof(*refs), keyref_cmp);
    for (i = 1; i < map->n; i++)
        if (strcmp(refs[i].key->str, refs[i - 1].key->str) == 0 &&
            (dup == NULL || refs[i].idx < dup[1].idx))
            dup = &refs[i - 1];
    if (dup != NULL) {
        etx_ydoc_where(dup[0].key, first, sizeof(first));
        etx_ydoc_fail(l->err, dup[1].key,
                      "duplicate key '%s' (first "
                      "defined at %s)",
                      etx_ydoc__show(dup[1].key->str, buf, sizeof(buf)), first);
    }
    free(refs);
    return dup == NULL ? ETX_OK : ETX_ERR;
}

static int
on_end(struct loader *l)
{
    struct frame *f = &l->stack[l->depth - 1];
    struct etx_ydoc_node *n = f->node;

    n->n = n->kind == ETX_YDOC_MAPPING ? f->used / 2 : f->used;
    if (n->kind == ETX_YDOC_MAPPING && check_duplicates(l, n) != ETX_OK)
        return ETX_ERR;
    if (f->anchor != NO_ANCHOR)
        l->anchors[f->anchor].complete = true;
    l->depth--;
    add_weight(l, n);
    return ETX_OK;
}

static int
on_event(struct loader *l, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_STREAM_END_EVENT:
        l->done = true;
        return ETX_OK;
    case YAML_DOCUMENT_START_EVENT:
        if (++l->docs > 1)
            return fail_mark(l, ev->start_mark,
                             "a second YAML document; "
                             "expected exactly one document");
        return ETX_OK;
    case YAML_ALIAS_EVENT:
        return on_alias(l, ev);
    case YAML_SCALAR_EVENT:
        return on_scalar(l, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_start(l, ev, ETX_YDOC_SEQUENCE,
                        ev->data.sequence_start.anchor);
    case YAML_MAPPING_START_EVENT:
        return on_start(l, ev, ETX_YDOC_MAPPING, ev->data.mapping_start.anchor);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_end(l);
    default:
        return ETX_OK; /* stream start, document end */
    }
}

/* libyaml's own error, with its mark (or, for reader errors, offset). */
static int
parser_fail(struct loader *l)
{
    const yaml_parser_t *p = &l->parser;
    yaml_mark_t mark = p->problem_mark;
    const char *problem = p->problem != NULL ? p->problem : "unknown error";
    size_t i;

    if (p->error == YAML_MEMORY_ERROR)
        return no_memory(l);
    if (p->error == YAML_READER_ERROR) {
        mark.line = 0;
        mark.column = 0;
        for (i = 0; i < p->problem_offset && i < l->len; i++) {
            mark.column++;
            if (l->data[i] == '\n') {
                mark.line++;
                mark.column = 0;
            }
        }
        if (p->problem_value >= 0)
            return fail_mark(l, mark, "invalid YAML: %s (byte 0x%02x)", problem,
                             (unsigned)p->problem_value & 0xffu);
        return fail_mark(l, mark, "invalid YAML: %s", problem);
    }
    if (p->context != NULL)
        return fail_mark(l, mark, "invalid YAML: %s (%s)", problem, p->context);
    return fail_mark(l, mark, "invalid YAML: %s", problem);
}

static int
run_parser(struct loader *l)
{
    yaml_event_t ev;
    int rc = ETX_OK;

    while (!l->done && rc == ETX_OK) {
        if (!yaml_parser_parse(&l->parser, &ev))
            return parser_fail(l);
        rc = on_event(l, &ev);
        yaml_event_delete(&ev);
    }
    return rc;
}

void
etx_ydoc_free(struct etx_ydoc *doc)
{
    struct chunk *c = NULL;
    size_t i;

    if (doc == NULL)
        return;
    while ((c = doc->chunks) != NULL) {
        doc->chunks = c->next;
        for (i = 0; i < c->used; i++) {
            if (c->nodes[i].kind == ETX_YDOC_SCALAR)
                free((void *)c->nodes[i].str);
            free(c->nodes[i].items);
        }
        free(c);
    }
    free(doc->name);
    free(doc);
}

int
etx_ydoc_load_buffer(const char *name, const char *data, size_t len,
                     struct etx_ydoc **out, struct etx_error *err)
{
    struct loader *l = NULL;
    int rc = ETX_ERR;
    size_t i;

    *out = NULL;
    if (len > ETX_YDOC_MAX_BYTES)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "yaml", name,
                             "the file is %zu bytes; the limit is %u bytes "
                             "(4 MiB)",
                             len, ETX_YDOC_MAX_BYTES);
    l = calloc(1, sizeof(*l));
    if (l == NULL || (l->doc = calloc(1, sizeof(*l->doc))) == NULL ||
        (l->doc->name = strdup(name)) == NULL)
        goto oom;
    if (!yaml_parser_initialize(&l->parser))
        goto oom;
    l->err = err;
    l->data = data;
    l->len = len;
    yaml_parser_set_input_string(&l->parser, (const unsigned char *)data, len);
    rc = run_parser(l);
    yaml_parser_delete(&l->parser);
    goto out;
oom:
    rc = etx_error_set(err, ETX_CLASS_INPUT, ENOMEM, "yaml", name,
                       "out of memory loading the document");
out:
    for (i = 0; l != NULL && i < l->n_anchors; i++)
        free(l->anchors[i].name);
    if (rc == ETX_OK)
        *out = l->doc;
    else if (l != NULL)
        etx_ydoc_free(l->doc);
    free(l);
    return rc;
}

/* Read at most ETX_YDOC_MAX_BYTES of a regular file, size checked first. */
static int
read_file(const char *path, int fd, char **buf, size_t *len,
          struct etx_error *err)
{
    struct stat st;
    size_t cap, got = 0;
    ssize_t n;

    if (fstat(fd, &st) != 0)
        return etx_error_set(err, ETX_CLASS_INPUT, errno, "yaml", path,
                             "cannot stat the file: %s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "yaml", path,
                             "not a regular file");
    if (st.st_size > (off_t)ETX_YDOC_MAX_BYTES)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "yaml", path,
                             "the file is %lld bytes; the limit is %u "
                             "bytes (4 MiB)",
                             (long long)st.st_size, ETX_YDOC_MAX_BYTES);
    cap = (size_t)st.st_size + 1; /* one more byte sees a growing file */
    *buf = malloc(cap);
    if (*buf == NULL)
        return etx_error_set(err, ETX_CLASS_INPUT, ENOMEM, "yaml", path,
                             "out of memory reading the file");
    while (got < cap && (n = read(fd, *buf + got, cap - got)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return etx_error_set(err, ETX_CLASS_INPUT, errno, "yaml", path,
                                 "cannot read the file: %s", strerror(errno));
        got += (size_t)n;
    }
    if (got == cap)
        return etx_error_set(err, ETX_CLASS_INPUT, 0, "yaml", path,
                             "the file grew while it was read");
    *len = got;
    return ETX_OK;
}

int
etx_ydoc_load(const char *path, struct etx_ydoc **out, struct etx_error *err)
{
    char *buf = NULL;
    size_t len = 0;
    int fd = -1;
    int rc = ETX_ERR;

    *out = NULL;
    /* O_NONBLOCK: a FIFO must not block open(); fstat then refuses it. */
    fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        rc = etx_error_set(err, ETX_CLASS_INPUT, errno, "yaml", path,
                           "cannot open the file: %s", strerror(errno));
        goto out;
    }
    rc = read_file(path, fd, &buf, &len, err);
    if (rc == ETX_OK)
        rc = etx_ydoc_load_buffer(path, buf, len, out, err);
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    return rc;
}

const struct etx_ydoc_node *
etx_ydoc_root(const struct etx_ydoc *doc)
{
    return doc->root;
}

const char *
etx_ydoc_name(const struct etx_ydoc *doc)
{
    return doc->name;
}
