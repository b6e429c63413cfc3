/* SPDX-License-Identifier: MIT */
/* Building one etxroll.Result from the engine's reports (see reply.h). */
#include "agent/reply.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct reply_holder {
    Etxroll__Holder msg;
    char cmdline[256];
    char unit[128];
    char container[80];
};

struct reply_facts {
    Etxroll__FileFacts msg;
    char sha256[ETX_DIGEST_HEX_LEN + 1];
    char link[PATH_MAX];
    char fs_type[64];
    char mount_source[256];
};

struct etx_reply {
    Etxroll__Result res;
    Etxroll__Error error;
    struct reply_facts before, after;
    char detail[600];
    char op[32];
    char path[512];
    char message[600];
    size_t n_holders;
    struct reply_holder holders[ETX_REPLY_HOLDERS_MAX];
    Etxroll__Holder *holder_ptrs[ETX_REPLY_HOLDERS_MAX];
};

struct etx_reply *
etx_reply_new(void)
{
    struct etx_reply *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    etxroll__result__init(&r->res);
    etxroll__error__init(&r->error);
    r->res.detail = r->detail;
    return r;
}

void
etx_reply_free(struct etx_reply *r)
{
    free(r);
}

void
etx_reply_ok(struct etx_reply *r, const char *fmt, ...)
{
    va_list ap;

    r->res.ok = true;
    va_start(ap, fmt);
    vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
    va_end(ap);
}

static void
copy_holders(struct etx_reply *r, const struct etx_holders *h)
{
    size_t i, n = h->n < ETX_REPLY_HOLDERS_MAX ? h->n : ETX_REPLY_HOLDERS_MAX;
    struct reply_holder *o;

    for (i = 0; i < n; i++) {
        o = &r->holders[i];
        etxroll__holder__init(&o->msg);
        o->msg.pid = h->v[i].pid;
        o->msg.start_time = h->v[i].start_time;
        o->msg.relation = (char *)etx_holders_rel_name(h->v[i].rel);
        o->msg.fd = h->v[i].fd;
        snprintf(o->cmdline, sizeof(o->cmdline), "%s", h->v[i].cmdline);
        snprintf(o->unit, sizeof(o->unit), "%s", h->v[i].unit);
        snprintf(o->container, sizeof(o->container), "%s", h->v[i].container);
        o->msg.cmdline = o->cmdline;
        o->msg.unit = o->unit;
        o->msg.container = o->container;
        r->holder_ptrs[i] = &o->msg;
    }
    r->n_holders = n;
    r->error.n_holders = n;
    r->error.holders = n > 0 ? r->holder_ptrs : NULL;
    r->error.holders_unknown = (uint32_t)h->n_unknown;
}

/* Error.message, plus how many holders did not fit in the Result. */
static void
set_message(struct etx_reply *r, const char *msg, const struct etx_holders *h)
{
    size_t extra = 0;

    if (h != NULL && h->n + h->n_more > r->n_holders)
        extra = h->n + h->n_more - r->n_holders;
    if (extra > 0)
        snprintf(r->message, sizeof(r->message), "%s (%zu more holders)", msg,
                 extra);
    else
        snprintf(r->message, sizeof(r->message), "%s", msg);
    r->error.message = r->message;
}

static void
attach_error(struct etx_reply *r, const struct etx_error *e,
             const struct etx_holders *h)
{
    snprintf(r->op, sizeof(r->op), "%s", e->op);
    snprintf(r->path, sizeof(r->path), "%s", e->where);
    r->error.op = r->op;
    r->error.path = r->path;
    r->error.errno_value = e->sys_errno;
    r->error.errno_name =
        e->sys_errno != 0 ? (char *)etx_error_errno_name(e->sys_errno) : "";
    r->error.class_ = (Etxroll__ErrorClass)e->cls;
    if (h != NULL)
        copy_holders(r, h);
    set_message(r, e->msg, h);
    r->res.error = &r->error;
}

void
etx_reply_fail(struct etx_reply *r, const struct etx_error *e,
               const struct etx_holders *h)
{
    r->res.ok = false;
    attach_error(r, e, h);
    etx_error_format(e, r->detail, sizeof(r->detail));
}

void
etx_reply_holders(struct etx_reply *r, const struct etx_holders *h)
{
    struct etx_error none = {0};

    snprintf(none.op, sizeof(none.op), "holders");
    snprintf(none.msg, sizeof(none.msg), "processes holding the target");
    attach_error(r, &none, h);
}

void
etx_reply_attempts(struct etx_reply *r, unsigned attempt, uint64_t waited_ms)
{
    r->error.attempt = attempt;
    r->error.waited_ms = waited_ms;
}

static void
fill_facts(struct reply_facts *f, const struct etx_fileinfo *fi)
{
    etxroll__file_facts__init(&f->msg);
    f->msg.exists = fi->exists;
    f->msg.dev = (uint64_t)fi->dev;
    f->msg.ino = (uint64_t)fi->ino;
    f->msg.mode = (uint32_t)fi->mode;
    f->msg.uid = (uint32_t)fi->uid;
    f->msg.gid = (uint32_t)fi->gid;
    f->msg.size = fi->size;
    snprintf(f->sha256, sizeof(f->sha256), "%s", fi->sha256);
    f->msg.sha256 = f->sha256;
    f->msg.symlink_target = f->link;
    f->msg.fs_type = f->fs_type;
    f->msg.mount_source = f->mount_source;
}

void
etx_reply_before(struct etx_reply *r, const struct etx_fileinfo *fi)
{
    fill_facts(&r->before, fi);
    r->res.before = &r->before.msg;
}

void
etx_reply_after(struct etx_reply *r, const struct etx_fileinfo *fi)
{
    fill_facts(&r->after, fi);
    r->res.after = &r->after.msg;
}

void
etx_reply_probe(struct etx_reply *r, const struct etx_facts_target *t)
{
    struct reply_facts *f = &r->before;
    bool link = t->link_text[0] != '\0' && t->resolved.exists;

    /* A symlink (generations) is described by the file it names. */
    etx_reply_before(r, link ? &t->resolved : &t->file);
    snprintf(f->link, sizeof(f->link), "%s", t->link_text);
    snprintf(f->fs_type, sizeof(f->fs_type), "%s", t->fs.type);
    snprintf(f->mount_source, sizeof(f->mount_source), "%s",
             t->fs.mount_source);
    f->msg.network_fs = t->fs.is_network;
    f->msg.mount_point = t->is_mount_point;
    f->msg.free_bytes = t->fs.free_bytes;
    if (t->holders.n > 0 || t->holders.n_unknown > 0)
        etx_reply_holders(r, &t->holders);
}

void
etx_reply_health(struct etx_reply *r, unsigned passes, unsigned failures)
{
    r->res.health_passes = passes;
    r->res.health_failures = failures;
}

const Etxroll__Result *
etx_reply_result(const struct etx_reply *r)
{
    return &r->res;
}

bool
etx_reply_is_ok(const struct etx_reply *r)
{
    return r->res.ok;
}
