/* SPDX-License-Identifier: MIT */
/* The agent's listener and its list of sessions (see server.h). */
#include "agent/server.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/agentlog.h"
#include "proto/conn.h"
#include "proto/psk.h"

/* One live session in the server's list. */
struct server_node {
    struct server_node *prev, *next;
    struct etx_server *srv;
    struct etx_session *s;
};

struct etx_server {
    struct etx_server_opts o;
    struct etx_conn_listener *l; /* NULL for stdio, or once closed */
    struct server_node *sessions;
    int port;
    bool closing;
};

static void
session_done(struct etx_session *s, void *arg)
{
    struct server_node *n = arg;
    struct etx_server *srv = n->srv;

    (void)s;
    if (n->prev != NULL)
        n->prev->next = n->next;
    else
        srv->sessions = n->next;
    if (n->next != NULL)
        n->next->prev = n->prev;
    free(n);
}

/* A session and its node, linked; NULL on ENOMEM. */
static struct server_node *
add_session(struct etx_server *srv)
{
    struct server_node *n = calloc(1, sizeof(*n));

    if (n == NULL)
        return NULL;
    n->srv = srv;
    n->s = etx_session_new(&srv->o.ctx, session_done, n);
    if (n->s == NULL) {
        free(n);
        return NULL;
    }
    n->next = srv->sessions;
    if (n->next != NULL)
        n->next->prev = n;
    srv->sessions = n;
    return n;
}

/* Undo add_session() for a session that never got its connection. */
static void
remove_session(struct server_node *n)
{
    etx_session_free(n->s);
    n->s = NULL;
    session_done(NULL, n);
}

static void
on_accept(struct etx_conn_listener *l, struct etx_conn *c,
          const struct etx_error *err, struct etx_conn_cbs *cbs, void *arg)
{
    struct etx_server *srv = arg;
    struct server_node *n = NULL;
    char line[1200];

    (void)l;
    if (c == NULL) {
        etx_agentlog_write(srv->o.ctx.log, ETX_AGENTLOG_WARN, "conn.accept",
                           NULL, NULL, "%s",
                           etx_error_format(err, line, sizeof(line)));
        return;
    }
    if (srv->closing || (n = add_session(srv)) == NULL) {
        etx_agentlog_write(srv->o.ctx.log, ETX_AGENTLOG_WARN, "conn.refused",
                           etx_conn_peer(c), NULL, "connection refused: %s",
                           srv->closing ? "shutting down" : "out of memory");
        return; /* cbs left empty: the connection is closed */
    }
    etx_session_conn_cbs(n->s, cbs);
    etx_session_attach(n->s, c);
}

/* The bound port into 'path', whole or not at all (temp + rename). */
static int
write_port_file(const char *path, int port, struct etx_error *err)
{
    char tmp[4096];
    char text[16];
    int fd = -1, len, rc = ETX_ERR;

    len = snprintf(text, sizeof(text), "%d\n", port);
    if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid()) >=
        (int)sizeof(tmp))
        return etx_error_set(err, ETX_CLASS_INPUT, ENAMETOOLONG, "port-file",
                             path, "the path is too long");
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "port-file", tmp,
                             "cannot write the port file");
    if (write(fd, text, (size_t)len) != len)
        etx_error_sys(err, errno, ETX_CTX_FILE, "port-file", tmp,
                      "cannot write the port file");
    else if (rename(tmp, path) != 0)
        etx_error_sys(err, errno, ETX_CTX_FILE, "port-file", path,
                      "cannot rename the port file into place");
    else
        rc = ETX_OK;
    close(fd);
    if (rc != ETX_OK)
        unlink(tmp);
    return rc;
}

static struct etx_server *
server_new(const struct etx_server_opts *o, struct etx_error *err)
{
    struct etx_server *srv = calloc(1, sizeof(*srv));

    if (srv == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_NET, "server", NULL,
                      "cannot start the server");
        return NULL;
    }
    srv->o = *o;
    return srv;
}

int
etx_server_listen(const struct etx_server_opts *o, struct etx_server **out,
                  struct etx_error *err)
{
    struct etx_conn_opts copts = {.psk = o->psk};
    struct etx_conn_accept acc = {.cb = on_accept};
    struct etx_server *srv = server_new(o, err);

    *out = NULL;
    if (srv == NULL)
        return ETX_ERR;
    acc.arg = srv;
    srv->l = etx_conn_listen(o->ctx.loop, o->listen, &copts, &acc, err);
    if (srv->l == NULL) {
        free(srv);
        return ETX_ERR;
    }
    srv->port = etx_conn_listener_port(srv->l);
    if (o->port_file != NULL &&
        write_port_file(o->port_file, srv->port, err) != ETX_OK) {
        etx_conn_listener_close(srv->l);
        free(srv);
        return ETX_ERR;
    }
    *out = srv;
    return ETX_OK;
}

int
etx_server_stdio(const struct etx_server_opts *o, const int fd[2],
                 struct etx_server **out, struct etx_error *err)
{
    struct etx_conn_opts copts = {0};
    struct etx_conn_cbs cbs;
    struct etx_server *srv = server_new(o, err);
    struct server_node *n = NULL;
    struct etx_conn *c = NULL;

    *out = NULL;
    if (srv == NULL)
        return ETX_ERR;
    n = add_session(srv);
    if (n == NULL) {
        free(srv);
        return etx_error_sys(err, ENOMEM, ETX_CTX_NET, "server", "stdio",
                             "cannot start the session");
    }
    etx_session_conn_cbs(n->s, &cbs);
    c = etx_conn_open_stdio(o->ctx.loop, fd, &copts, &cbs, err);
    if (c == NULL) {
        remove_session(n);
        free(srv);
        return ETX_ERR;
    }
    etx_session_attach(n->s, c);
    *out = srv;
    return ETX_OK;
}

void
etx_server_close(struct etx_server *srv)
{
    struct server_node *n;

    srv->closing = true;
    if (srv->l != NULL)
        etx_conn_listener_close(srv->l);
    srv->l = NULL;
    for (n = srv->sessions; n != NULL; n = n->next)
        etx_session_close(n->s);
}

void
etx_server_free(struct etx_server *srv)
{
    free(srv);
}

int
etx_server_port(const struct etx_server *srv)
{
    return srv->port;
}
