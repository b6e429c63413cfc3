/* SPDX-License-Identifier: MIT */
/*
 * Tests of the inventory loader: every file of inventory-examples/ loads,
 * defaults and precedence are right, and a table of bad inventories each
 * fails with its exact message at its exact file:line:col. Hostile files
 * (missing, empty, garbage, billion laughs, 10k levels, 6 MiB) fail cleanly.
 */
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "coordinator/inventory.h"

/* A bad inventory, the place of its error and the exact message. */
struct bad_case {
    const char *name;
    const char *yaml;
    const char *where;
    const char *msg;
};

/*
 * Most cases change one line of this base or add lines after it (line 10):
 *
 *   version: 1
 *   fleet: web
 *   defaults: {transport: {kind: agent, key_file: /etc/k}}
 *   hosts:
 *     web1: {address: web1.example}
 *     web2: {address: web2.example}
 *     web3: {address: web3.example}
 *   artifact: {path: /art/app}
 *   target: {path: /srv/app/bin/app}
 */
static const struct bad_case bad_cases[] = {
    {"test_inventory_load_buffer_unknown_key_top",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\non_failur: halt\n",
     "inv.yml:10:1",
     "unknown key 'on_failur' in the inventory; did you mean 'on_failure'?"},
    {"test_inventory_load_buffer_unknown_key_nested",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app, stratgey: rename}\n",
     "inv.yml:9:34",
     "unknown key 'stratgey' in target; did you mean 'strategy'?"},
    {"test_inventory_load_buffer_unknown_key_list",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nhealth: {tcp: {address: "
     "\"h:1\"}, wibble: 1}\n",
     "inv.yml:10:33",
     "unknown key 'wibble' in health; expected one of http, tcp, exec, "
     "interval, timeout, consecutive, deadline"},
    {"test_inventory_load_buffer_unknown_key_host",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {adress: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:6:10",
     "unknown key 'adress' in host 'web2'; did you mean 'address'?"},
    {"test_inventory_load_buffer_duplicate_key_top",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nfleet: other\n",
     "inv.yml:10:1", "duplicate key 'fleet' (first defined at inv.yml:2:1)"},
    {"test_inventory_load_buffer_duplicate_host",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web1: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:7:3", "duplicate key 'web1' (first defined at inv.yml:5:3)"},
    {"test_inventory_load_buffer_duplicate_key_nested",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nretry: {attempts: 2, "
     "attempts: 3}\n",
     "inv.yml:10:22",
     "duplicate key 'attempts' (first defined at inv.yml:10:9)"},
    {"test_inventory_load_buffer_duplicate_key_deep",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example, transport: {port: 1, "
     "port: 2}}\n  web2: {address: web2.example}\n  web3: {address: "
     "web3.example}\nartifact: {path: /art/app}\ntarget: {path: "
     "/srv/app/bin/app}\n",
     "inv.yml:5:54", "duplicate key 'port' (first defined at inv.yml:5:45)"},
    {"test_inventory_load_buffer_wrong_type_address",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: [web1.example]}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:5:19", "expected a string for 'address', found a sequence"},
    {"test_inventory_load_buffer_wrong_type_target",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: [/srv/app]\n",
     "inv.yml:9:9", "expected a mapping for target, found a sequence"},
    {"test_inventory_load_buffer_wrong_type_max_failures",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nmax_failures: [1]\n",
     "inv.yml:10:15",
     "expected a count from 0 to 1000000 or a percent string (such as \"10%\") "
     "for 'max_failures', found a sequence"},
    {"test_inventory_load_buffer_wrong_type_push_agent",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {transport: {kind: ssh, push_agent: yes}}\n  "
     "web2: {address: web2.example}\n  web3: {address: "
     "web3.example}\nartifact: {path: /art/app}\ntarget: {path: "
     "/srv/app/bin/app}\n",
     "inv.yml:5:45", "expected true or false for 'push_agent', found 'yes'"},
    {"test_inventory_load_buffer_bad_duration_bare",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nbatches: {bake: 30}\n",
     "inv.yml:10:17",
     "bad duration '30' for 'bake': a duration needs a unit: ms, s, m or h "
     "(such as 30s)"},
    {"test_inventory_load_buffer_bad_duration_unit",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nrestart: {unit: "
     "app.service, timeout: 3d}\n",
     "inv.yml:10:39",
     "bad duration '3d' for 'timeout': unknown unit: expected ms, s, m or h "
     "(such as 30s)"},
    {"test_inventory_load_buffer_bad_duration_negative",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nretry: {first: -5s}\n",
     "inv.yml:10:16",
     "bad duration '-5s' for 'first': expected a number followed by ms, s, m "
     "or h (such as 500ms, 30s, 2m)"},
    {"test_inventory_load_buffer_bad_duration_zero",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nhealth: {tcp: {address: "
     "\"h:80\"}, interval: 0s}\n",
     "inv.yml:10:44", "expected a duration above 0 for 'interval', found '0s'"},
    {"test_inventory_load_buffer_bad_duration_overflow",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nhealth: {tcp: {address: "
     "\"h:80\"}, deadline: 99999999999999999999h}\n",
     "inv.yml:10:44",
     "bad duration '99999999999999999999h' for 'deadline': the number is too "
     "large"},
    {"test_inventory_load_buffer_bad_percent_over",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nbatches: {sizes: [1, "
     "\"150%\"]}\n",
     "inv.yml:10:22",
     "bad percent '150%' for 'sizes': expected a whole percent from 1% to 100% "
     "(such as \"10%\")"},
    {"test_inventory_load_buffer_bad_percent_zero",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nbatches: {sizes: \"0%\"}\n",
     "inv.yml:10:18",
     "bad percent '0%' for 'sizes': expected a whole percent from 1% to 100% "
     "(such as \"10%\")"},
    {"test_inventory_load_buffer_bad_percent_fraction",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nmax_failures: \"2.5%\"\n",
     "inv.yml:10:15",
     "bad percent '2.5%' for 'max_failures': expected a whole percent from 0% "
     "to 100% (such as \"10%\")"},
    {"test_inventory_load_buffer_bad_size_zero",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nbatches: {sizes: 0}\n",
     "inv.yml:10:18",
     "expected a count from 1 to 1000000 or a percent string (such as \"10%\") "
     "for 'sizes', found '0'"},
    {"test_inventory_load_buffer_bad_sizes_empty",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nbatches: {sizes: []}\n",
     "inv.yml:10:18", "expected at least one batch size in 'sizes'"},
    {"test_inventory_load_buffer_bad_mode_digit",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app, mode: \"0789\"}\n",
     "inv.yml:9:40",
     "bad mode '0789' for 'mode': a mode is written in octal: digits 0 to 7 "
     "only (such as \"0755\")"},
    {"test_inventory_load_buffer_bad_mode_large",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app, mode: \"17777\"}\n",
     "inv.yml:9:40",
     "bad mode '17777' for 'mode': the mode is larger than 07777"},
    {"test_inventory_load_buffer_group_unknown_host",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\ngroups: {canary: [web1, "
     "web7]}\n",
     "inv.yml:10:25",
     "unknown host 'web7' in group 'canary'; did you mean 'web1'?"},
    {"test_inventory_load_buffer_group_unknown_host_far",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\ngroups: {canary: [db1]}\n",
     "inv.yml:10:19", "unknown host 'db1' in group 'canary'"},
    {"test_inventory_load_buffer_group_host_twice",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\ngroups: {g: [web1, web2, "
     "web1]}\n",
     "inv.yml:10:26", "host 'web1' is listed twice in group 'g'"},
    {"test_inventory_load_buffer_group_empty",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\ngroups: {g: []}\n",
     "inv.yml:10:13", "expected at least one host in group 'g'"},
    {"test_inventory_load_buffer_group_named_like_host",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\ngroups: {web1: [web2]}\n",
     "inv.yml:10:10",
     "group 'web1' has the name of a host; 'first', 'only' and 'exclude' need "
     "distinct names"},
    {"test_inventory_load_buffer_group_two_transports",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\ngroups:\n  g1: {hosts: "
     "[web1], transport: {port: 1}}\n  g2: {hosts: [web1], transport: {port: "
     "2}}\n",
     "inv.yml:12:16",
     "host 'web1' gets a transport from group 'g1' and from group 'g2'; set it "
     "on the host instead"},
    {"test_inventory_load_buffer_storage_group_twice",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nstorage_groups:\n  nfs-a: "
     "{hosts: [web1, web2]}\n  nfs-b: {hosts: [web3, web2]}\n",
     "inv.yml:12:25",
     "host 'web2' is in storage groups 'nfs-a' and 'nfs-b'; a host sees one "
     "shared storage"},
    {"test_inventory_load_buffer_empty_fleet",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts: {}\n# none\n# none\n# none\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:4:8", "empty fleet: 'hosts' names no host"},
    {"test_inventory_load_buffer_empty_fleet_null",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts: # none\n#\n#\n#\nartifact: {path: /art/app}\ntarget: "
     "{path: /srv/app/bin/app}\n",
     "inv.yml:4:7", "empty fleet: 'hosts' names no host"},
    {"test_inventory_load_buffer_strategy_generations_version",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app, strategy: generations}\n",
     "inv.yml:9:44",
     "strategy 'generations' needs artifact.version (it names each "
     "generation)"},
    {"test_inventory_load_buffer_strategy_release_dir_version",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app, strategy: release-dir}\n",
     "inv.yml:9:36",
     "strategy 'release-dir' needs artifact.version (it names each release)"},
    {"test_inventory_load_buffer_strategy_unknown",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app, strategy: renam}\n",
     "inv.yml:9:44",
     "expected one of rename, generations, release-dir for 'strategy', found "
     "'renam'; did you mean 'rename'?"},
    {"test_inventory_load_buffer_url_without_sha256",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {url: "
     "https://artifacts.example/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:8:11",
     "an artifact 'url' needs its 'sha256' (64 lower-case hex characters)"},
    {"test_inventory_load_buffer_url_not_http",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {url: "
     "ftp://artifacts.example/app, sha256: "
     "a0b139f8afb808d9fd104f6e2515167f8851e2880d525e76d107293ca0352f86}"
     "\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:8:17",
     "expected an http:// or https:// URL for 'url', found "
     "'ftp://artifacts.example/app'"},
    {"test_inventory_load_buffer_bad_sha256_upper",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app, sha256: "
     "A0B139F8AFB808D9FD104F6E2515167F8851E2880D525E76D107293CA0352F86}"
     "\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:8:36",
     "bad sha256 "
     "'A0B139F8AFB808D9FD104F6E2515167F8851E2880D525E76D107293CA0352F86': "
     "expected 64 lower-case hex characters"},
    {"test_inventory_load_buffer_bad_sha256_short",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app, sha256: abc}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:8:36", "bad sha256 'abc': expected 64 lower-case hex characters"},
    {"test_inventory_load_buffer_artifact_path_and_url",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: /a, "
     "url: https://x.example/a, sha256: "
     "a0b139f8afb808d9fd104f6e2515167f8851e2880d525e76d107293ca0352f86}"
     "\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:8:27", "an artifact has either 'path' or 'url', not both"},
    {"test_inventory_load_buffer_artifact_neither",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {version: "
     "1.0}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:8:11",
     "an artifact needs 'path' (a local file) or 'url' (that the agents pull)"},
    {"test_inventory_load_buffer_artifact_bad_version",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: /a, "
     "version: 1.0/../x}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:8:31",
     "bad artifact version '1.0/../x': use 1 to 253 letters, digits or '._+-' "
     "(not . or ..)"},
    {"test_inventory_load_buffer_version_2",
     "version: 2\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:1:10",
     "unsupported inventory version 2; this etxroll reads version 1"},
    {"test_inventory_load_buffer_version_missing",
     "fleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:1:1",
     "missing required key 'version' in the inventory (this etxroll reads "
     "version 1)"},
    {"test_inventory_load_buffer_version_not_number",
     "version: one\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:1:10",
     "expected a whole number from 0 to 4294967295 for 'version', found 'one'"},
    {"test_inventory_load_buffer_fleet_bad_name",
     "version: 1\nfleet: web/prod\ndefaults: {transport: {kind: agent, "
     "key_file: /etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: "
     "{address: web2.example}\n  web3: {address: web3.example}\nartifact: "
     "{path: /art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:2:8",
     "bad fleet name 'web/prod': use 1 to 253 letters, digits or '._-' (not . "
     "or ..)"},
    {"test_inventory_load_buffer_fleet_dotdot",
     "version: 1\nfleet: \"..\"\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:2:8",
     "bad fleet name '..': use 1 to 253 letters, digits or '._-' (not . or "
     "..)"},
    {"test_inventory_load_buffer_fleet_missing",
     "version: 1\n# no fleet\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:1:1", "missing required key 'fleet' in the inventory"},
    {"test_inventory_load_buffer_host_bad_name",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  'web 1': {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:5:3",
     "bad host name 'web 1': use 1 to 253 letters, digits or '._-' (not . or "
     "..)"},
    {"test_inventory_load_buffer_host_bad_address",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: 'web1 .example'}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:5:19", "expected no blanks or control characters in 'address'"},
    {"test_inventory_load_buffer_agent_without_key",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent}}\nhosts:\n  "
     "web1: {address: web1.example}\n  web2: {address: web2.example}\n  web3: "
     "{address: web3.example}\nartifact: {path: /art/app}\ntarget: {path: "
     "/srv/app/bin/app}\n",
     "inv.yml:5:3",
     "host 'web1' uses the agent transport but no key_file is set (in "
     "defaults, a group or the host)"},
    {"test_inventory_load_buffer_transport_key_kind",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example, transport: {user: "
     "root}}\n  web2: {address: web2.example}\n  web3: {address: "
     "web3.example}\nartifact: {path: /art/app}\ntarget: {path: "
     "/srv/app/bin/app}\n",
     "inv.yml:5:45", "'user' does not apply to the agent transport"},
    {"test_inventory_load_buffer_transport_bad_kind",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: sshh}}\nhosts:\n  "
     "web1: {address: web1.example}\n  web2: {address: web2.example}\n  web3: "
     "{address: web3.example}\nartifact: {path: /art/app}\ntarget: {path: "
     "/srv/app/bin/app}\n",
     "inv.yml:3:30",
     "expected one of agent, ssh for 'kind', found 'sshh'; did you mean "
     "'ssh'?"},
    {"test_inventory_load_buffer_transport_bad_port",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {transport: {port: 70000}}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:5:28",
     "expected a whole number from 1 to 65535 for 'port', found '70000'"},
    {"test_inventory_load_buffer_first_unknown_group",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\ngroups: {canary: "
     "[web1]}\nbatches: {first: canry}\n",
     "inv.yml:11:18",
     "unknown group 'canry' for 'first'; did you mean 'canary'?"},
    {"test_inventory_load_buffer_only_unknown",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nbatches: {only: [web1, "
     "wb2]}\n",
     "inv.yml:10:24",
     "unknown host or group 'wb2' in 'only'; did you mean 'web2'?"},
    {"test_inventory_load_buffer_only_unknown_far",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nbatches: {only: [web1, "
     "wbe2]}\n",
     "inv.yml:10:24", "unknown host or group 'wbe2' in 'only'"},
    {"test_inventory_load_buffer_exclude_unknown",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nbatches: {exclude: [zzz]}\n",
     "inv.yml:10:21", "unknown host or group 'zzz' in 'exclude'"},
    {"test_inventory_load_buffer_gate_after_zero",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nbatches: {gate_after: "
     "[0]}\n",
     "inv.yml:10:24",
     "expected a whole number from 1 to 1000000 for 'gate_after', found '0'"},
    {"test_inventory_load_buffer_gate_after_order",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nbatches: {gate_after: [2, "
     "1]}\n",
     "inv.yml:10:27",
     "expected batch numbers in ascending order without repeats in "
     "'gate_after'"},
    {"test_inventory_load_buffer_seed_without_shuffle",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nbatches: {seed: 7}\n",
     "inv.yml:10:17", "'seed' applies only to order: shuffled"},
    {"test_inventory_load_buffer_order_unknown",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nbatches: {order: sortd}\n",
     "inv.yml:10:18",
     "expected one of inventory, sorted, shuffled for 'order', found 'sortd'; "
     "did you mean 'sorted'?"},
    {"test_inventory_load_buffer_blue_green_overlap",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nblue_green: {blue: [web1, "
     "web2], green: [web3, web2], live: blue}\n",
     "inv.yml:10:48", "host 'web2' is both blue and green"},
    {"test_inventory_load_buffer_blue_green_no_live",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nblue_green: {blue: [web1], "
     "green: [web2]}\n",
     "inv.yml:10:13", "missing required key 'live' in blue_green"},
    {"test_inventory_load_buffer_blue_green_unknown_group",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nblue_green: {blue: [web1], "
     "green: greens, live: green}\n",
     "inv.yml:10:35",
     "unknown group 'greens' for 'blue_green.green': expected a group name or "
     "a list of hosts"},
    {"test_inventory_load_buffer_restart_both",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nrestart: {unit: a.service, "
     "command: [/bin/x]}\n",
     "inv.yml:10:37", "restart needs either 'unit' or 'command', not both"},
    {"test_inventory_load_buffer_restart_neither",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nrestart: {timeout: 5s}\n",
     "inv.yml:10:10", "restart needs either 'unit' or 'command'"},
    {"test_inventory_load_buffer_restart_relative_command",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nrestart: {command: "
     "[systemctl, restart, app]}\n",
     "inv.yml:10:21",
     "expected an absolute path as the first word of 'command' (it runs "
     "without a shell), found 'systemctl'"},
    {"test_inventory_load_buffer_restart_confirm_zero",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nrestart: {unit: "
     "app.service, confirm: 0s}\n",
     "inv.yml:10:39", "expected a duration above 0 for 'confirm', found '0s'"},
    {"test_inventory_load_buffer_restart_confirm_over_an_hour",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nrestart: {unit: "
     "app.service, confirm: 61m}\n",
     "inv.yml:10:39",
     "expected a duration of at most 1h for 'confirm', found '61m'"},
    {"test_inventory_load_buffer_restart_timeout_wraps_u32",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nrestart: {unit: "
     "app.service, timeout: 1200h}\n",
     "inv.yml:10:39",
     "expected a duration of at most 1193h for 'timeout', found '1200h'"},
    {"test_inventory_load_buffer_restart_confirm_bad_unit",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nrestart: {unit: "
     "app.service, confirm: 5d}\n",
     "inv.yml:10:39",
     "bad duration '5d' for 'confirm': unknown unit: expected ms, s, m or h "
     "(such as 30s)"},
    {"test_inventory_load_buffer_restart_confirm_typo",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nrestart: {unit: "
     "app.service, confrim: 5s}\n",
     "inv.yml:10:30",
     "unknown key 'confrim' in restart; did you mean 'confirm'?"},
    {"test_inventory_load_buffer_restart_bad_unit",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nrestart: {unit: --now}\n",
     "inv.yml:10:17",
     "bad unit name '--now': use letters, digits and '._-@:\\' (such as "
     "app.service)"},
    {"test_inventory_load_buffer_health_no_probe",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nhealth: {interval: 1s}\n",
     "inv.yml:10:9", "health needs at least one probe: http, tcp or exec"},
    {"test_inventory_load_buffer_health_bad_url",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nhealth: {http: {url: "
     "ftp://x}}\n",
     "inv.yml:10:22",
     "expected an http:// or https:// URL for 'url', found 'ftp://x'"},
    {"test_inventory_load_buffer_health_bad_status",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nhealth: {http: {url: "
     "http://h/, status: 700}}\n",
     "inv.yml:10:41",
     "expected a whole number from 100 to 599 for 'status', found '700'"},
    {"test_inventory_load_buffer_health_bad_tcp",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nhealth: {tcp: {address: "
     "localhost}}\n",
     "inv.yml:10:25",
     "bad address 'localhost' for 'address': expected host:port or "
     "[v6addr]:port with a port from 1 to 65535 (such as 127.0.0.1:7420)"},
    {"test_inventory_load_buffer_target_relative",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: srv/app}\n",
     "inv.yml:9:16",
     "expected an absolute path for the target, without '.', '..', '//' or a "
     "trailing '/', found 'srv/app'"},
    {"test_inventory_load_buffer_target_dotdot",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/../etc/passwd}\n",
     "inv.yml:9:16",
     "expected an absolute path for the target, without '.', '..', '//' or a "
     "trailing '/', found '/srv/../etc/passwd'"},
    {"test_inventory_load_buffer_target_keep_one",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app, keep: 1}\n",
     "inv.yml:9:40",
     "expected a whole number from 2 to 1000 for 'keep', found '1'"},
    {"test_inventory_load_buffer_target_missing",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\n# no target\n",
     "inv.yml:1:1", "missing required key 'target' in the inventory"},
    {"test_inventory_load_buffer_retry_cap_short",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nretry: {first: 10s, cap: "
     "1s}\n",
     "inv.yml:10:26",
     "the retry cap (1000 ms) is shorter than the first wait (10000 ms)"},
    {"test_inventory_load_buffer_retry_multiplier",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nretry: {multiplier: 0.5}\n",
     "inv.yml:10:21",
     "expected a number from 1 to 100 for 'multiplier' (such as 2 or 1.5), "
     "found '0.5'"},
    {"test_inventory_load_buffer_retry_attempts_zero",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\nretry: {attempts: 0}\n",
     "inv.yml:10:19",
     "expected a whole number from 1 to 100 for 'attempts', found '0'"},
    {"test_inventory_load_buffer_on_failure_unknown",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\non_failure: rollbak\n",
     "inv.yml:10:13",
     "expected one of rollback, halt for 'on_failure', found 'rollbak'; did "
     "you mean 'rollback'?"},
    {"test_inventory_load_buffer_top_not_mapping",
     "- a\n- b\n- c\n- d\n- e\n- f\n- g\n- h\n- i\n", "inv.yml:1:1",
     "expected a mapping at the top of the inventory, found a sequence"},
    {"test_inventory_load_buffer_second_document",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app}\ntarget: {path: /srv/app/bin/app}\n---\nversion: 1\n",
     "inv.yml:10:1", "a second YAML document; expected exactly one document"},
    {"test_inventory_load_buffer_invalid_yaml",
     "version: 1\nfleet: web\ndefaults: {transport: {kind: agent, key_file: "
     "/etc/k}}\nhosts:\n  web1: {address: web1.example}\n  web2: {address: "
     "web2.example}\n  web3: {address: web3.example}\nartifact: {path: "
     "/art/app\ntarget: {path: /srv/app/bin/app}\n",
     "inv.yml:9:7",
     "invalid YAML: did not find expected ',' or '}' (while parsing a flow "
     "mapping)"},
    {"test_inventory_load_buffer_vars_unknown_for_one_host",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}}\n"
     "hosts:\n"
     "  web1: {vars: {root: /srv/a}}\n"
     "  web2: {}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: \"${root}/bin/app\"}\n",
     "inv.yml:8:16",
     "unknown variable 'root' in 'target.path' for host 'web2': set it in "
     "defaults.vars, a group's vars or the host's vars"},
    {"test_inventory_load_buffer_vars_unknown_did_you_mean",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {root: "
     "/srv}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: \"${rot}/app\"}\n",
     "inv.yml:8:16",
     "unknown variable 'rot' in 'target.path' for host 'web1'; did you mean "
     "'root'?"},
    {"test_inventory_load_buffer_vars_unterminated",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {root: "
     "/srv}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: \"${root/app\"}\n",
     "inv.yml:8:16", "unterminated '${' in 'target.path': expected ${name}"},
    {"test_inventory_load_buffer_vars_lone_dollar",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {root: "
     "/srv}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: /app}\n"
     "health: {exec: {command: [/bin/check, \"$x\"]}}\n",
     "inv.yml:9:39",
     "a '$' in 'health.exec.command' starts ${name}; write $$ for a '$' "
     "itself"},
    {"test_inventory_load_buffer_vars_builtin_host",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {root: "
     "/srv}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {vars: {host: x}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: /app}\n",
     "inv.yml:6:17",
     "'host' is a built-in variable (the host's name) and cannot be set in the "
     "vars of host 'web2'"},
    {"test_inventory_load_buffer_vars_builtin_address",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {address: "
     "x}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: /app}\n",
     "inv.yml:3:63",
     "'address' is a built-in variable (the host's address) and cannot be set "
     "in defaults.vars"},
    {"test_inventory_load_buffer_vars_bad_name",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {my-var: "
     "x}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: /app}\n",
     "inv.yml:3:63",
     "bad variable name 'my-var' in defaults.vars: use letters, digits and "
     "'_', not starting with a digit"},
    {"test_inventory_load_buffer_vars_bad_name_in_template",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {root: "
     "/srv}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: \"/${9lives}\"}\n",
     "inv.yml:8:16",
     "bad variable name '9lives' in 'target.path': use letters, digits and "
     "'_', not starting with a digit"},
    {"test_inventory_load_buffer_vars_value_not_string",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {root: "
     "[a]}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: /app}\n",
     "inv.yml:3:69",
     "expected a string for variable 'root' in defaults.vars, found a "
     "sequence"},
    {"test_inventory_load_buffer_vars_two_groups",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {root: "
     "/srv}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: /app}\n"
     "groups:\n"
     "  a: {hosts: [web1], vars: {root: /a}}\n"
     "  b: {hosts: [web2, web1], vars: {tmp: /t, root: /b}}\n",
     "inv.yml:11:44",
     "host 'web1' gets variable 'root' from group 'a' and from group 'b'; set "
     "it on the host instead"},
    {"test_inventory_load_buffer_vars_target_not_absolute",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {root: "
     "srv}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: \"${root}/app\"}\n",
     "inv.yml:8:16",
     "expected an absolute path for the target, without '.', '..', '//' or a "
     "trailing '/', found 'srv/app' (host 'web1' makes it from '${root}/app')"},
    {"test_inventory_load_buffer_vars_url_blank",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {port: \"80 "
     "80\"}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: /app}\n"
     "health: {http: {url: \"http://h:${port}/\"}}\n",
     "inv.yml:9:22",
     "expected no blanks or control characters in 'health.http.url' (host "
     "'web1' makes it from 'http://h:${port}/')"},
    {"test_inventory_load_buffer_vars_command_not_absolute",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {bin: "
     "restart.sh}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: /app}\n"
     "restart: {command: [\"${bin}\", go]}\n",
     "inv.yml:9:21",
     "expected an absolute path as the first word of 'restart.command' (it "
     "runs without a shell), found 'restart.sh' (host 'web1' makes it from "
     "'${bin}')"},
    {"test_inventory_load_buffer_vars_bad_unit",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {u: "
     "\"-x\"}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: /app}\n"
     "restart: {unit: \"${u}\"}\n",
     "inv.yml:9:17",
     "bad unit name '-x': use letters, digits and '._-@:\\' (such as "
     "app.service) (host 'web1' makes it from '${u}')"},
    {"test_inventory_load_buffer_vars_bad_tcp_address",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {p: "
     "\"99999\"}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: /app}\n"
     "health: {tcp: {address: \"127.0.0.1:${p}\"}}\n",
     "inv.yml:9:25",
     "bad address '127.0.0.1:99999' for 'health.tcp.address': expected "
     "host:port or [v6addr]:port with a port from 1 to 65535 (such as "
     "127.0.0.1:7420) (host 'web1' makes it from '127.0.0.1:${p}')"},
    {"test_inventory_load_buffer_vars_not_mapping",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: [a]}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: /app}\n",
     "inv.yml:3:62", "expected a mapping for 'vars', found a sequence"},
    {"test_inventory_load_buffer_vars_unterminated_after_ref",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {root: "
     "/srv}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: \"${root}/app${\"}\n",
     "inv.yml:8:16", "unterminated '${' in 'target.path': expected ${name}"},
    {"test_inventory_load_buffer_vars_empty_name",
     "version: 1\n"
     "fleet: web\n"
     "defaults: {transport: {kind: agent, key_file: /etc/k}, vars: {root: "
     "/srv}}\n"
     "hosts:\n"
     "  web1: {address: web1.example}\n"
     "  web2: {address: web2.example, vars: {root: /srv/b}}\n"
     "artifact: {path: /art/app}\n"
     "target: {path: \"${}/app\"}\n",
     "inv.yml:8:16",
     "bad variable name '' in 'target.path': use letters, digits and '_', not "
     "starting with a digit"},
};

#define N_BAD (sizeof(bad_cases) / sizeof(bad_cases[0]))

static const char base[] =
    "version: 1\n"
    "fleet: web\n"
    "defaults: {transport: {kind: agent, key_file: /etc/k}}\n"
    "hosts:\n"
    "  web1: {address: web1.example}\n"
    "  web2: {address: web2.example}\n"
    "  web3: {address: web3.example}\n"
    "artifact: {path: /art/app}\n"
    "target: {path: /srv/app/bin/app}\n";

static void
run_bad_case(void **state)
{
    const struct bad_case *c = *state;
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};

    assert_int_equal(etx_inventory_load_buffer("inv.yml", c->yaml,
                                               strlen(c->yaml), &inv, &err),
                     ETX_ERR);
    assert_null(inv);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_string_equal(err.where, c->where);
    assert_string_equal(err.msg, c->msg);
}

static struct etx_inventory *
load_ok(const char *yaml)
{
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};

    if (etx_inventory_load_buffer("inv.yml", yaml, strlen(yaml), &inv, &err) !=
        ETX_OK)
        fail_msg("%s: %s", err.where, err.msg);
    return inv;
}

/* base followed by 'more'. */
static struct etx_inventory *
load_base(const char *more)
{
    char buf[4096];
    struct etx_inventory *inv = NULL;

    snprintf(buf, sizeof(buf), "%s%s", base, more);
    inv = load_ok(buf);
    return inv;
}

static void
assert_load_fails(const char *name, const char *data, size_t len,
                  const char *where, const char *msg)
{
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};

    assert_int_equal(etx_inventory_load_buffer(name, data, len, &inv, &err),
                     ETX_ERR);
    assert_null(inv);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_string_equal(err.where, where);
    if (strstr(err.msg, msg) == NULL)
        fail_msg("message '%s' lacks '%s'", err.msg, msg);
}

static void
test_inventory_load_examples(void **state)
{
    const char *src = getenv("ETX_SOURCE_DIR");
    char dir[1024], path[2048];
    struct dirent *de = NULL;
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};
    DIR *d = NULL;
    size_t n = 0;

    (void)state;
    assert_non_null(src);
    snprintf(dir, sizeof(dir), "%s/inventory-examples", src);
    d = opendir(dir);
    assert_non_null(d);
    while ((de = readdir(d)) != NULL) {
        if (strstr(de->d_name, ".yml") == NULL)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
        if (etx_inventory_load(path, &inv, &err) != ETX_OK)
            fail_msg("%s: %s", err.where, err.msg);
        assert_string_equal(inv->path, path);
        etx_inventory_free(inv);
        n++;
    }
    closedir(d);
    assert_true(n >= 7);
}

static void
test_inventory_load_defaults(void **state)
{
    struct etx_inventory *inv = load_base("");
    const struct etx_inv_transport *t = &inv->hosts[0].transport;

    (void)state;
    assert_int_equal(inv->version, 1);
    assert_string_equal(inv->fleet, "web");
    assert_int_equal(inv->n_hosts, 3);
    assert_string_equal(inv->hosts[2].name, "web3");
    assert_string_equal(inv->hosts[2].address, "web3.example");
    assert_int_equal(inv->hosts[2].line, 7);
    assert_int_equal(inv->hosts[2].col, 3);
    assert_int_equal(t->kind, ETX_TRANSPORT_AGENT);
    assert_int_equal(t->port, 7420);
    assert_string_equal(t->key_file, "/etc/k");
    assert_null(t->user);
    assert_int_equal(inv->n_groups, 0);
    assert_int_equal(inv->n_storage_groups, 0);
    assert_string_equal(inv->artifact.path, "/art/app");
    assert_null(inv->artifact.url);
    assert_string_equal(inv->artifact.sha256, "");
    assert_null(inv->artifact.version);
    assert_string_equal(inv->target.path, "/srv/app/bin/app");
    assert_int_equal(inv->target.strategy, ETX_STRATEGY_RENAME);
    assert_false(inv->target.mode_set);
    assert_null(inv->target.owner);
    assert_int_equal(inv->target.keep, 3);
    assert_int_equal(inv->restart.kind, ETX_RESTART_NONE);
    assert_int_equal(inv->restart.timeout_ms, 60000);
    assert_int_equal(inv->restart.confirm_ms, 10000);
    assert_false(inv->health.enabled);
    assert_int_equal(inv->health.http_status, 200);
    assert_int_equal(inv->health.interval_ms, 1000);
    assert_int_equal(inv->health.timeout_ms, 2000);
    assert_int_equal(inv->health.consecutive, 3);
    assert_int_equal(inv->health.deadline_ms, 60000);
    etx_inventory_free(inv);
}

static void
test_inventory_load_defaults_rollout(void **state)
{
    struct etx_inventory *inv = load_base("");
    const struct etx_inv_batches *b = &inv->batches;

    (void)state;
    assert_int_equal(b->n_sizes, 1);
    assert_true(b->sizes[0].is_percent);
    assert_int_equal(b->sizes[0].value, 100);
    assert_int_equal(b->bake_ms, 0);
    assert_int_equal(b->pause_ms, 0);
    assert_int_equal(b->n_gate_after, 0);
    assert_int_equal(b->order, ETX_ORDER_INVENTORY);
    assert_false(b->seed_set);
    assert_true(b->seed == 0); /* the planner derives one from the fleet */
    assert_null(b->first);
    assert_int_equal(b->n_only, 0);
    assert_int_equal(b->n_exclude, 0);
    assert_false(inv->max_failures.is_percent);
    assert_int_equal(inv->max_failures.value, 0);
    assert_int_equal(inv->retry.attempts, 6);
    assert_int_equal(inv->retry.first_ms, 500);
    assert_true(inv->retry.multiplier == 2.0);
    assert_int_equal(inv->retry.cap_ms, 30000);
    assert_int_equal(inv->retry.jitter, ETX_JITTER_FULL);
    assert_int_equal(inv->on_failure, ETX_ON_FAILURE_ROLLBACK);
    assert_false(inv->blue_green.enabled);
    etx_inventory_free(inv);
}

static void
test_inventory_load_transport_precedence(void **state)
{
    struct etx_inventory *inv =
        load_ok("version: 1\n"
                "fleet: web\n"
                "defaults:\n"
                "  transport: {kind: ssh, user: deploy, port: 2200}\n"
                "hosts:\n"
                "  web1:\n"
                "  web2: {transport: {user: alice}}\n"
                "  web3: {transport: {kind: agent, key_file: k.key}}\n"
                "  web4:\n"
                "groups:\n"
                "  g: {hosts: [web2, web4], transport: {port: 2201, host_key: "
                "accept-new}}\n"
                "artifact: {path: app}\n"
                "target: {path: /srv/app}\n");
    const struct etx_inv_host *h = inv->hosts;

    (void)state;
    assert_string_equal(h[0].address, "web1");
    assert_int_equal(h[0].transport.kind, ETX_TRANSPORT_SSH);
    assert_int_equal(h[0].transport.port, 2200);
    assert_string_equal(h[0].transport.user, "deploy");
    assert_string_equal(h[0].transport.known_hosts, "~/.ssh/known_hosts");
    assert_string_equal(h[0].transport.agent_path, "etxroll-agent");
    assert_int_equal(h[0].transport.host_key, ETX_HOST_KEY_STRICT);
    assert_false(h[0].transport.push_agent);
    /* host > group > defaults, key by key when the kind is the same */
    assert_string_equal(h[1].transport.user, "alice");
    assert_int_equal(h[1].transport.port, 2201);
    assert_int_equal(h[1].transport.host_key, ETX_HOST_KEY_ACCEPT_NEW);
    assert_string_equal(h[3].transport.user, "deploy");
    assert_int_equal(h[3].transport.port, 2201);
    /* another kind replaces the whole transport */
    assert_int_equal(h[2].transport.kind, ETX_TRANSPORT_AGENT);
    assert_int_equal(h[2].transport.port, 7420);
    assert_null(h[2].transport.user);
    assert_string_equal(h[2].transport.key_file, "k.key");
    assert_string_equal(inv->artifact.path, "app"); /* buffer: as given */
    etx_inventory_free(inv);
}

static void
test_inventory_load_full(void **state)
{
    struct etx_inventory *inv = load_base(
        "groups:\n"
        "  canary: [web2]\n"
        "  rest: {hosts: [web1, web3]}\n"
        "storage_groups:\n"
        "  nfs: {hosts: [web1, web3]}\n"
        "restart: {command: [/usr/bin/app-ctl, restart], timeout: 5s, "
        "confirm: 1500ms}\n"
        "health:\n"
        "  http: {url: 'https://h.example/x', status: 204, body_contains: "
        "ok}\n"
        "  tcp: {address: '[::1]:80'}\n"
        "  exec: {command: [/bin/check, -q]}\n"
        "  interval: 250ms\n"
        "  consecutive: 1\n"
        "batches:\n"
        "  sizes: [1, '25%', 2]\n"
        "  gate_after: [1, 3]\n"
        "  order: shuffled\n"
        "  seed: 18446744073709551615\n"
        "  first: canary\n"
        "  only: [rest, web2]\n"
        "  exclude: [web3]\n"
        "  bake: 1m\n"
        "  pause: 1h\n"
        "max_failures: '10%'\n"
        "retry: {attempts: 3, first: 1s, multiplier: 1.5, cap: 4s, jitter: "
        "equal}\n"
        "on_failure: halt\n"
        "blue_green: {blue: rest, green: [web2], live: green}\n");

    (void)state;
    assert_int_equal(inv->n_groups, 2);
    assert_ptr_equal(etx_inventory_group(inv, "rest"), &inv->groups[1]);
    assert_null(etx_inventory_group(inv, "nope"));
    assert_int_equal(inv->groups[1].hosts[1], 2);
    assert_int_equal(etx_inventory_host_index(inv, "web3"), 2);
    assert_int_equal(etx_inventory_host_index(inv, "web9"), -1);
    assert_int_equal(inv->storage_groups[0].n_hosts, 2);
    assert_int_equal(inv->restart.kind, ETX_RESTART_COMMAND);
    assert_int_equal(inv->restart.argc, 2);
    assert_string_equal(inv->restart.argv[1], "restart");
    assert_null(inv->restart.argv[2]);
    assert_int_equal(inv->restart.timeout_ms, 5000);
    assert_int_equal(inv->restart.confirm_ms, 1500);
    assert_true(inv->health.enabled);
    assert_int_equal(inv->health.http_status, 204);
    assert_string_equal(inv->health.http_body_contains, "ok");
    assert_string_equal(inv->health.tcp_address, "[::1]:80");
    assert_int_equal(inv->health.exec_argc, 2);
    assert_int_equal(inv->health.interval_ms, 250);
    assert_int_equal(inv->health.consecutive, 1);
    assert_int_equal(inv->batches.n_sizes, 3);
    assert_true(inv->batches.sizes[1].is_percent);
    assert_int_equal(inv->batches.sizes[1].value, 25);
    assert_int_equal(inv->batches.sizes[2].value, 2);
    assert_int_equal(inv->batches.gate_after[1], 3);
    assert_true(inv->batches.seed_set);
    assert_true(inv->batches.seed == UINT64_MAX);
    assert_string_equal(inv->batches.first, "canary");
    assert_string_equal(inv->batches.only[0], "rest");
    assert_string_equal(inv->batches.exclude[0], "web3");
    assert_int_equal(inv->batches.bake_ms, 60000);
    assert_int_equal(inv->batches.pause_ms, 3600000);
    assert_true(inv->max_failures.is_percent);
    assert_int_equal(inv->max_failures.value, 10);
    assert_true(inv->retry.multiplier == 1.5);
    assert_int_equal(inv->retry.jitter, ETX_JITTER_EQUAL);
    assert_int_equal(inv->on_failure, ETX_ON_FAILURE_HALT);
    assert_true(inv->blue_green.enabled);
    assert_false(inv->blue_green.live_is_blue);
    assert_int_equal(inv->blue_green.blue.n_hosts, 2);
    assert_string_equal(inv->blue_green.green.name, "green");
    etx_inventory_free(inv);
}

/* restart.confirm: 10 s when not given; 1 ms and 1 h are both allowed. */
static void
test_inventory_load_restart_confirm(void **state)
{
    struct etx_inventory *inv = load_base("restart: {unit: app.service}\n");

    (void)state;
    assert_int_equal(inv->restart.confirm_ms, 10000);
    etx_inventory_free(inv);
    inv = load_base("restart: {unit: app.service, confirm: 1h}\n");
    assert_int_equal(inv->restart.confirm_ms, 3600000);
    etx_inventory_free(inv);
    inv = load_base("restart: {unit: app.service, confirm: 1ms}\n");
    assert_int_equal(inv->restart.confirm_ms, 1);
    etx_inventory_free(inv);
}

static void
test_inventory_load_canary(void **state)
{
    const char *src = getenv("ETX_SOURCE_DIR");
    char path[1024];
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};
    const struct etx_inv_batches *b = NULL;

    (void)state;
    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/inventory-examples/canary.yml", src);
    assert_int_equal(etx_inventory_load(path, &inv, &err), ETX_OK);
    b = &inv->batches;
    assert_int_equal(inv->n_hosts, 6);
    assert_int_equal(b->n_sizes, 4);
    assert_false(b->sizes[0].is_percent);
    assert_int_equal(b->sizes[0].value, 1);
    assert_true(b->sizes[1].is_percent && b->sizes[1].value == 10);
    assert_true(b->sizes[3].is_percent && b->sizes[3].value == 100);
    assert_string_equal(b->first, "canary");
    assert_int_equal(b->n_gate_after, 1);
    assert_int_equal(b->gate_after[0], 1);
    assert_non_null(inv->artifact.url);
    assert_int_equal(strlen(inv->artifact.sha256), 64);
    etx_inventory_free(inv);
}

static void
test_inventory_load_relative_paths(void **state)
{
    const char *src = getenv("ETX_SOURCE_DIR");
    char path[1024], want[1100];
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};

    (void)state;
    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/inventory-examples/local.yml", src);
    assert_int_equal(etx_inventory_load(path, &inv, &err), ETX_OK);
    snprintf(want, sizeof(want), "%s/inventory-examples/../build/demo/app",
             src);
    assert_string_equal(inv->artifact.path, want);
    snprintf(want, sizeof(want), "%s/inventory-examples/demo.key", src);
    assert_string_equal(inv->hosts[0].transport.key_file, want);
    assert_int_equal(inv->hosts[3].transport.port, 7424);
    assert_string_equal(inv->hosts[3].address, "127.0.0.1");
    etx_inventory_free(inv);
}

static void
test_inventory_names(void **state)
{
    (void)state;
    assert_string_equal(etx_inventory_strategy_name(ETX_STRATEGY_RELEASE_DIR),
                        "release-dir");
    assert_string_equal(etx_inventory_transport_name(ETX_TRANSPORT_SSH), "ssh");
    assert_string_equal(etx_inventory_order_name(ETX_ORDER_SHUFFLED),
                        "shuffled");
    assert_string_equal(etx_inventory_jitter_name(ETX_JITTER_NONE), "none");
    assert_string_equal(etx_inventory_on_failure_name(ETX_ON_FAILURE_HALT),
                        "halt");
}

/* A temporary file holding len bytes of data; the caller unlinks it. */
static void
write_temp(char *path, const char *data, size_t len)
{
    int fd = mkstemp(path);
    FILE *f = NULL;

    assert_true(fd >= 0);
    f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
}

static void
test_inventory_load_missing(void **state)
{
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};

    (void)state;
    assert_int_equal(etx_inventory_load("/nonexistent/inv.yml", &inv, &err),
                     ETX_ERR);
    assert_null(inv);
    assert_int_equal(err.cls, ETX_CLASS_INPUT);
    assert_string_equal(err.where, "/nonexistent/inv.yml");
    assert_string_equal(err.msg,
                        "cannot open the file: No such file or directory");
}

static void
test_inventory_load_empty(void **state)
{
    char path[] = "/tmp/etx-inv-empty-XXXXXX";
    char where[64];
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};

    (void)state;
    write_temp(path, "", 0);
    assert_int_equal(etx_inventory_load(path, &inv, &err), ETX_ERR);
    unlink(path);
    snprintf(where, sizeof(where), "%s:1:1", path);
    assert_string_equal(err.where, where);
    assert_string_equal(err.msg, "empty inventory: expected a YAML mapping "
                                 "with version, fleet, hosts, artifact and "
                                 "target");
    assert_load_fails("inv.yml", "# just a comment\n", 17, "inv.yml:1:1",
                      "empty inventory");
}

static void
test_inventory_load_garbage(void **state)
{
    static const unsigned char elf[] = {
        0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0x00, 0x00, 0x00, 0x00,
        0x00, 0x00, 0x00, 0x00, 0x00, 0x03, 0x00, 0x3e, 0x00, 0x01, 0x00};
    static const char utf8[] = "version: 1\nfleet: w\xc3\x28\n";

    (void)state;
    assert_load_fails("inv.yml", (const char *)elf, sizeof(elf), "inv.yml:1:1",
                      "invalid YAML: control characters are not allowed "
                      "(byte 0x7f)");
    /* The mark is the bad trailing byte, 0x28, in column 10. */
    assert_load_fails("inv.yml", utf8, sizeof(utf8) - 1, "inv.yml:2:10",
                      "invalid YAML: invalid trailing UTF-8 octet");
}

static void
test_inventory_load_billion_laughs(void **state)
{
    static const char laughs[] =
        "version: 1\n"
        "fleet: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
        "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
        "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
        "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\n"
        "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g]\n"
        "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h]\n";

    (void)state;
    /* e weighs 66430 nodes: the 2nd *e in f passes 200000 in all. */
    assert_load_fails("inv.yml", laughs, sizeof(laughs) - 1, "inv.yml:7:12",
                      "alias expansion exceeds 200000 nodes");
}

static void
test_inventory_load_deep(void **state)
{
    size_t n = 10000;
    char *s = malloc(2 * n + 32);

    (void)state;
    assert_non_null(s);
    memcpy(s, "version: 1\nfleet: ", 18);
    memset(s + 18, '[', n);
    memset(s + 18 + n, ']', n);
    /* The root mapping is level 1: the 64th '[' (column 71) is level 65. */
    assert_load_fails("inv.yml", s, 18 + 2 * n, "inv.yml:2:71",
                      "collections nested deeper than 64 levels");
    free(s);
}

static void
test_inventory_load_oversize(void **state)
{
    char path[] = "/tmp/etx-inv-big-XXXXXX";
    size_t len = 6u << 20;
    char *s = malloc(len);
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};

    (void)state;
    assert_non_null(s);
    memset(s, '#', len);
    write_temp(path, s, len);
    free(s);
    assert_int_equal(etx_inventory_load(path, &inv, &err), ETX_ERR);
    unlink(path);
    assert_null(inv);
    assert_string_equal(err.where, path);
    assert_string_equal(err.msg, "the file is 6291456 bytes; the limit is "
                                 "4194304 bytes (4 MiB)");
}

static void
test_inventory_load_many_hosts(void **state)
{
    /* 20000 hosts and a group naming all of them, backwards: the lookups
     * are sorted, so this stays fast. */
    size_t n = 20000, i, used = 0, cap = 64 * n + 256;
    char *s = malloc(cap);
    struct etx_inventory *inv = NULL;

    (void)state;
    assert_non_null(s);
    used += (size_t)snprintf(s, cap,
                             "version: 1\nfleet: big\ndefaults: "
                             "{transport: {key_file: /k}}\nhosts:\n");
    for (i = 0; i < n; i++)
        used += (size_t)snprintf(s + used, cap - used, "  h%zu:\n", i);
    used += (size_t)snprintf(s + used, cap - used, "groups:\n  all: [");
    for (i = n; i > 0; i--)
        used += (size_t)snprintf(s + used, cap - used, "h%zu,", i - 1);
    snprintf(s + used - 1, cap - used + 1,
             "]\nartifact: {path: /a}\ntarget: {path: /t}\n");
    inv = load_ok(s);
    assert_int_equal(inv->n_hosts, n);
    assert_int_equal(inv->groups[0].n_hosts, n);
    assert_int_equal(inv->groups[0].hosts[0], n - 1);
    etx_inventory_free(inv);
    free(s);
}

/* The variable 'name' of host h, or NULL. */
static const char *
var_of(const struct etx_inv_host *h, const char *name)
{
    size_t i;

    for (i = 0; i < h->n_vars; i++)
        if (strcmp(h->var_names[i], name) == 0)
            return h->var_values[i];
    return NULL;
}

static void
test_inventory_load_vars_precedence(void **state)
{
    struct etx_inventory *inv =
        load_ok("version: 1\n"
                "fleet: web\n"
                "defaults:\n"
                "  transport: {key_file: /k}\n"
                "  vars: {root: /srv/default, port: '8080', tier: base}\n"
                "hosts:\n"
                "  web1:\n"
                "  web2: {vars: {root: /srv/web2}}\n"
                "  web3: {vars: {port: '9093', tier: own}}\n"
                "  web4: {vars: {zone: eu, empty: ''}}\n"
                "groups:\n"
                "  all: [web1, web2, web3, web4]\n"
                "  blue: {hosts: [web2, web3], vars: {root: /srv/blue, tier: "
                "front}}\n"
                "  green: {hosts: [web3, web4], vars: {tier: back}}\n"
                "artifact: {path: /a}\n"
                "target: {path: '${root}/bin/app'}\n");
    const struct etx_inv_host *h = inv->hosts;

    (void)state;
    /* defaults only, sorted by name, built-ins left out */
    assert_int_equal(h[0].n_vars, 3);
    assert_string_equal(h[0].var_names[0], "port");
    assert_string_equal(h[0].var_names[1], "root");
    assert_string_equal(h[0].var_names[2], "tier");
    assert_null(h[0].var_names[3]);
    assert_null(h[0].var_values[3]);
    assert_string_equal(h[0].target_path, "/srv/default/bin/app");
    /* host > group > defaults */
    assert_string_equal(var_of(&h[1], "root"), "/srv/web2");
    assert_string_equal(var_of(&h[1], "tier"), "front");
    assert_string_equal(h[1].target_path, "/srv/web2/bin/app");
    assert_string_equal(var_of(&h[2], "root"), "/srv/blue");
    assert_string_equal(var_of(&h[2], "port"), "9093");
    assert_string_equal(var_of(&h[2], "tier"), "own"); /* two groups: host */
    assert_string_equal(h[2].target_path, "/srv/blue/bin/app");
    assert_int_equal(h[3].n_vars, 5);
    assert_string_equal(var_of(&h[3], "tier"), "back");
    assert_string_equal(var_of(&h[3], "zone"), "eu");
    assert_string_equal(var_of(&h[3], "empty"), "");
    assert_null(var_of(&h[3], "host"));
    /* the template stays as written */
    assert_string_equal(inv->target.path, "${root}/bin/app");
    etx_inventory_free(inv);
}

static void
test_inventory_load_vars_builtins_and_escape(void **state)
{
    struct etx_inventory *inv = load_base(
        "health: {exec: {command: [/bin/echo, '$$HOME', '${address}', "
        "'cost: $$5', '$${host}', '${host}${host}']}}\n"
        "restart: {unit: 'app@${host}.service'}\n");
    char **argv = inv->hosts[1].health_exec_argv;

    (void)state;
    assert_string_equal(argv[0], "/bin/echo");
    assert_string_equal(argv[1], "$HOME");
    assert_string_equal(argv[2], "web2.example");
    assert_string_equal(argv[3], "cost: $5");
    assert_string_equal(argv[4], "${host}");
    assert_string_equal(argv[5], "web2web2");
    assert_null(argv[6]);
    assert_string_equal(inv->health.exec_argv[1], "$$HOME");
    assert_string_equal(inv->hosts[0].restart_unit, "app@web1.service");
    assert_string_equal(inv->hosts[2].restart_unit, "app@web3.service");
    assert_string_equal(inv->restart.unit, "app@${host}.service");
    assert_null(inv->hosts[0].restart_argv);
    assert_int_equal(inv->hosts[0].n_vars, 0);
    assert_non_null(inv->hosts[0].var_names);
    assert_null(inv->hosts[0].var_names[0]);
    etx_inventory_free(inv);
}

static void
test_inventory_load_vars_each_field(void **state)
{
    struct etx_inventory *inv =
        load_ok("version: 1\n"
                "fleet: web\n"
                "defaults: {transport: {key_file: /k}, vars: {dir: /srv}}\n"
                "hosts:\n"
                "  a: {address: 10.0.0.1, vars: {port: '8081'}}\n"
                "  b: {address: 10.0.0.2, vars: {port: '8082', dir: /opt}}\n"
                "artifact: {path: /a}\n"
                "target: {path: '${dir}/${host}/app'}\n"
                "restart: {command: ['${dir}/bin/restart', '--port=${port}', "
                "plain]}\n"
                "health:\n"
                "  http: {url: 'http://${address}:${port}/health'}\n"
                "  tcp: {address: '${address}:${port}'}\n"
                "  exec: {command: ['${dir}/check', '${port}']}\n");
    const struct etx_inv_host *b = &inv->hosts[1];

    (void)state;
    assert_string_equal(inv->hosts[0].target_path, "/srv/a/app");
    assert_string_equal(b->target_path, "/opt/b/app");
    assert_string_equal(b->restart_argv[0], "/opt/bin/restart");
    assert_string_equal(b->restart_argv[1], "--port=8082");
    assert_string_equal(b->restart_argv[2], "plain");
    assert_null(b->restart_argv[3]);
    assert_null(b->restart_unit);
    assert_string_equal(b->health_http_url, "http://10.0.0.2:8082/health");
    assert_string_equal(inv->hosts[0].health_http_url,
                        "http://10.0.0.1:8081/health");
    assert_string_equal(b->health_tcp_address, "10.0.0.2:8082");
    assert_string_equal(b->health_exec_argv[0], "/opt/check");
    assert_string_equal(b->health_exec_argv[1], "8082");
    assert_null(b->health_exec_argv[2]);
    assert_string_equal(inv->health.tcp_address, "${address}:${port}");
    assert_string_equal(inv->restart.argv[0], "${dir}/bin/restart");
    etx_inventory_free(inv);
}

static void
test_inventory_load_vars_none(void **state)
{
    struct etx_inventory *inv =
        load_base("restart: {command: [/bin/restart, now]}\n"
                  "health: {http: {url: 'http://h/'}}\n");
    const struct etx_inv_host *h = &inv->hosts[2];

    (void)state;
    /* no '$': each host shares the template */
    assert_string_equal(h->target_path, "/srv/app/bin/app");
    assert_ptr_equal(h->target_path, inv->target.path);
    assert_ptr_equal(h->restart_argv, inv->restart.argv);
    assert_string_equal(h->health_http_url, "http://h/");
    assert_null(h->health_tcp_address);
    assert_null(h->health_exec_argv);
    assert_null(h->restart_unit);
    assert_string_equal(h->restart_argv[1], "now");
    assert_int_equal(h->n_vars, 0);
    etx_inventory_free(inv);
}

static void
test_inventory_load_local_demo(void **state)
{
    const char *src = getenv("ETX_SOURCE_DIR");
    char path[1024];
    struct etx_inventory *inv = NULL;
    struct etx_error err = {0};
    const struct etx_inv_host *h = NULL;

    (void)state;
    assert_non_null(src);
    snprintf(path, sizeof(path), "%s/inventory-examples/local.yml", src);
    if (etx_inventory_load(path, &inv, &err) != ETX_OK)
        fail_msg("%s: %s", err.where, err.msg);
    assert_int_equal(inv->n_hosts, 4);
    h = &inv->hosts[2];
    assert_string_equal(h->address, "127.0.0.1");
    assert_int_equal(h->transport.port, 7423);
    assert_string_equal(var_of(h, "root"), "/tmp/etxroll-demo/host3");
    assert_string_equal(var_of(h, "service_port"), "8183");
    assert_string_equal(h->target_path, "/tmp/etxroll-demo/host3/app/bin/app");
    assert_string_equal(h->health_http_url, "http://127.0.0.1:8183/");
    assert_string_equal(h->restart_argv[0],
                        "/tmp/etxroll-demo/host3/restart.sh");
    assert_int_equal(inv->restart.confirm_ms, 2000);
    assert_string_equal(inv->health.http_body_contains, "version");
    assert_int_equal(inv->batches.n_sizes, 3);
    etx_inventory_free(inv);
}

static void
test_inventory_load_vars_too_long(void **state)
{
    size_t vlen = 40000, cap = vlen + 512;
    char *s = malloc(cap);

    (void)state;
    assert_non_null(s);
    snprintf(s, cap,
             "version: 1\nfleet: big\ndefaults: {transport: {key_file: /k}, "
             "vars: {v: /%0*d}}\nhosts: {h1: }\nartifact: {path: /a}\n"
             "target: {path: '${v}${v}'}\n",
             (int)vlen, 0);
    assert_load_fails("inv.yml", s, strlen(s), "inv.yml:6:16",
                      "'target.path' for host 'h1' is longer than 65536 "
                      "bytes once its variables are replaced");
    free(s);
}

static void
test_inventory_load_vars_budget(void **state)
{
    /* 700 hosts each holding a 60000-byte variable and a target path made
     * of it pass the 64 MiB that all hosts may hold. */
    size_t vlen = 60000, n = 700, i, used = 0, cap = vlen + 16 * n + 512;
    char *s = malloc(cap);

    (void)state;
    assert_non_null(s);
    used += (size_t)snprintf(s, cap,
                             "version: 1\nfleet: big\ndefaults: {transport: "
                             "{key_file: /k}, vars: {v: /%0*d}}\nhosts:\n",
                             (int)vlen, 0);
    for (i = 0; i < n; i++)
        used += (size_t)snprintf(s + used, cap - used, "  h%zu:\n", i);
    snprintf(s + used, cap - used,
             "artifact: {path: /a}\ntarget: {path: '${v}'}\n");
    /* The variables count 700 * 60068 bytes, then the target paths 60034
     * each: h417 (line 422) is the one past 64 MiB. */
    assert_load_fails("inv.yml", s, strlen(s), "inv.yml:422:3",
                      "the hosts' variables and strings take more than 64 "
                      "MiB in all (at host 'h417')");
    free(s);
}

int
main(void)
{
    static const struct CMUnitTest fixed[] = {
        cmocka_unit_test(test_inventory_load_examples),
        cmocka_unit_test(test_inventory_load_defaults),
        cmocka_unit_test(test_inventory_load_defaults_rollout),
        cmocka_unit_test(test_inventory_load_transport_precedence),
        cmocka_unit_test(test_inventory_load_full),
        cmocka_unit_test(test_inventory_load_canary),
        cmocka_unit_test(test_inventory_load_restart_confirm),
        cmocka_unit_test(test_inventory_load_relative_paths),
        cmocka_unit_test(test_inventory_names),
        cmocka_unit_test(test_inventory_load_missing),
        cmocka_unit_test(test_inventory_load_empty),
        cmocka_unit_test(test_inventory_load_garbage),
        cmocka_unit_test(test_inventory_load_billion_laughs),
        cmocka_unit_test(test_inventory_load_deep),
        cmocka_unit_test(test_inventory_load_oversize),
        cmocka_unit_test(test_inventory_load_many_hosts),
        cmocka_unit_test(test_inventory_load_vars_precedence),
        cmocka_unit_test(test_inventory_load_vars_builtins_and_escape),
        cmocka_unit_test(test_inventory_load_vars_each_field),
        cmocka_unit_test(test_inventory_load_vars_none),
        cmocka_unit_test(test_inventory_load_local_demo),
        cmocka_unit_test(test_inventory_load_vars_too_long),
        cmocka_unit_test(test_inventory_load_vars_budget),
    };
    struct CMUnitTest tests[sizeof(fixed) / sizeof(fixed[0]) + N_BAD];
    size_t i, n = sizeof(fixed) / sizeof(fixed[0]);

    memcpy(tests, fixed, sizeof(fixed));
    for (i = 0; i < N_BAD; i++)
        tests[n + i] = (struct CMUnitTest){bad_cases[i].name, run_bad_case,
                                           NULL, NULL, (void *)&bad_cases[i]};
    return _cmocka_run_group_tests("test_inventory", tests, n + N_BAD, NULL,
                                   NULL);
}
