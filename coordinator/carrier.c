/* SPDX-License-Identifier: MIT */
/* One host of the inventory, reached by its transport (carrier.h). */
#include "coordinator/carrier.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "coordinator/ssh.h"
#include "proto/psk.h"

int
etx_carrier_local_agent(char *buf, size_t len, struct etx_error *err)
{
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    char *slash = NULL;
    struct stat st;

    if (n < 0)
        return etx_error_sys(err, errno, ETX_CTX_FILE, "push-agent",
                             "/proc/self/exe",
                             "cannot find this program's executable");
    self[n] = '\0';
    slash = strrchr(self, '/');
    if (slash == NULL || (size_t)snprintf(buf, len, "%.*s/etxroll-agent",
                                          (int)(slash - self), self) >= len)
        return etx_error_set(err, ETX_CLASS_INPUT, ENAMETOOLONG, "push-agent",
                             self, "the path of the agent is too long");
    if (stat(buf, &st) != 0 || !S_ISREG(st.st_mode))
        return etx_error_set(err, ETX_CLASS_INPUT, errno, "push-agent", buf,
                             "push_agent needs an etxroll-agent next to "
                             "etxroll, and there is none");
    return ETX_OK;
}

static struct etx_peer *
connect_ssh(uv_loop_t *loop, const struct etx_inv_host *h,
            const struct etx_peer_cbs *cbs, struct etx_error *err)
{
    const struct etx_inv_transport *tr = &h->transport;
    char local[PATH_MAX];
    struct etx_ssh_target t = {
        .name = h->name,
        .address = h->address,
        .port = tr->port,
        .user = tr->user,
        .identity_file = tr->identity_file,
        .known_hosts = tr->known_hosts,
        .accept_new = tr->host_key == ETX_HOST_KEY_ACCEPT_NEW,
        .agent_path = tr->agent_path,
        .agent_config = tr->agent_config,
        .push_agent = tr->push_agent,
        .push_dir = tr->push_dir,
    };

    if (tr->push_agent) {
        if (etx_carrier_local_agent(local, sizeof(local), err) != ETX_OK)
            return NULL;
        t.local_agent = local;
    }
    return etx_peer_connect_ssh(loop, &t, cbs, err);
}

static struct etx_peer *
connect_agent(uv_loop_t *loop, const struct etx_inv_host *h,
              const struct etx_psk *psk, const struct etx_peer_cbs *cbs,
              struct etx_error *err)
{
    struct etx_psk own;
    struct etx_peer *p = NULL;
    char addr[600];

    snprintf(addr, sizeof(addr),
             strchr(h->address, ':') != NULL ? "[%s]:%u" : "%s:%u", h->address,
             (unsigned)h->transport.port);
    if (psk != NULL)
        return etx_peer_connect(loop, h->name, addr, psk, cbs, err);
    if (h->transport.key_file == NULL) {
        etx_error_set(err, ETX_CLASS_INPUT, 0, "connect", h->name,
                      "no transport.key_file for this host");
        return NULL;
    }
    if (etx_psk_load(h->transport.key_file, &own, err) != ETX_OK)
        return NULL;
    p = etx_peer_connect(loop, h->name, addr, &own, cbs, err);
    etx_psk_clear(&own);
    return p;
}

struct etx_psk *
etx_carrier_load_keys(const struct etx_inventory *inv, const size_t *order,
                      size_t n, struct etx_error *err)
{
    struct etx_psk *psks =
        calloc(inv->n_hosts ? inv->n_hosts : 1, sizeof(*psks));
    const struct etx_inv_host *h = NULL;
    size_t i;

    if (psks == NULL) {
        etx_error_sys(err, ENOMEM, ETX_CTX_FILE, "key", NULL,
                      "cannot read the keys");
        return NULL;
    }
    for (i = 0; i < n; i++) {
        h = &inv->hosts[order[i]];
        if (h->transport.kind == ETX_TRANSPORT_SSH)
            continue; /* SSH authenticates the host itself */
        if (h->transport.key_file == NULL) {
            etx_error_set(err, ETX_CLASS_INPUT, 0, "key", h->name,
                          "no transport.key_file");
            break;
        }
        if (etx_psk_load(h->transport.key_file, &psks[order[i]], err) != ETX_OK)
            break;
    }
    if (i < n) {
        etx_carrier_free_keys(psks, inv->n_hosts);
        return NULL;
    }
    return psks;
}

void
etx_carrier_free_keys(struct etx_psk *psks, size_t n_hosts)
{
    size_t i;

    for (i = 0; psks != NULL && i < n_hosts; i++)
        etx_psk_clear(&psks[i]);
    free(psks);
}

struct etx_peer *
etx_carrier_connect(uv_loop_t *loop, const struct etx_inv_host *h,
                    const struct etx_psk *psk, const struct etx_peer_cbs *cbs,
                    struct etx_error *err)
{
    if (h->transport.kind == ETX_TRANSPORT_SSH)
        return connect_ssh(loop, h, cbs, err);
    return connect_agent(loop, h, psk, cbs, err);
}
