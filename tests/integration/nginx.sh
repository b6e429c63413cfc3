#!/bin/sh
# SPDX-License-Identifier: MIT
# Runs nginx in the foreground for a test: nginx.sh DIR PORT
# Writes DIR/nginx.conf (every path nginx writes is under DIR), serving
# DIR/www on 127.0.0.1:PORT, where /health answers DIR/www/health.txt or
# 500 when that file is missing, then execs nginx as a single process so
# that the caller can stop it with one kill. Exit 127: nginx not installed.
set -eu

if [ "$#" -ne 2 ]; then
    echo "usage: nginx.sh DIR PORT" >&2
    exit 2
fi
dir=$1
port=$2
nginx=$(command -v nginx || true)
if [ -z "$nginx" ] && [ -x /usr/sbin/nginx ]; then
    nginx=/usr/sbin/nginx
fi
if [ -z "$nginx" ]; then
    echo "nginx.sh: nginx is not installed" \
        "(scripts/install-deps.sh installs nginx-light)" >&2
    exit 127
fi

mkdir -p "$dir/www" "$dir/tmp" "$dir/logs"
# Temp paths of every module built in, so nginx never touches /var/lib.
temps="client_body_temp_path $dir/tmp/body;"
built=$("$nginx" -V 2>&1)
for m in proxy fastcgi uwsgi scgi; do
    case $built in
    *"--without-http_${m}_module"*) ;;
    *) temps="$temps ${m}_temp_path $dir/tmp/$m;" ;;
    esac
done

cat >"$dir/nginx.conf" <<EOF
master_process off;
worker_processes 1;
error_log $dir/logs/error.log;
pid $dir/logs/nginx.pid;
events { worker_connections 64; }
http {
    access_log off;
    default_type application/octet-stream;
    $temps
    server {
        listen 127.0.0.1:$port;
        root $dir/www;
        location /health { try_files /health.txt =500; }
    }
}
EOF
exec "$nginx" -e "$dir/logs/error.log" -c "$dir/nginx.conf" -p "$dir/" \
    -g 'daemon off;'
