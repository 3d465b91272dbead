#!/usr/bin/env bash
# The one way the Pester suite, the xunit suite and the benchmark run a throwaway PostgreSQL: a cluster made by initdb
# in a folder of the caller's (trust authentication, UTF-8, no locale), started on 127.0.0.1 on a free port with its
# socket in that folder, stopped at the end. initdb refuses to run as root, so as root every tool runs as the
# 'postgres' user (runuser), in a folder chowned to it. Other servers the suites need follow the same shape.
#
#   postgres.sh bin                                the bin folder in use (the highest /usr/lib/postgresql/<v>/bin, else
#                                                  initdb on PATH); exit 3 with the reason when there is none
#   postgres.sh version                            the major version of those binaries
#   postgres.sh create FOLDER                      a new cluster in FOLDER/data
#   postgres.sh start FOLDER PORT|auto [OPTION...] starts it (log: FOLDER/log; options such as -c fsync=off); prints
#                                                  the port; 'auto' picks a free one (three tries: another process may
#                                                  take it first); on failure the log's tail goes to stderr
#   postgres.sh stop FOLDER [fast|immediate]       stops it (fast falls back to immediate)
#   postgres.sh tls FOLDER                         makes a created cluster TLS-only: a CA of its own (FOLDER/tls/ca.crt),
#                                                  a server certificate it signed for localhost and 127.0.0.1, a second
#                                                  CA that signed nothing (FOLDER/tls/other-ca.crt, for "wrong CA"),
#                                                  ssl=on, and a pg_hba.conf with hostssl lines only for TCP: 'postgres'
#                                                  trusted, every other role by scram-sha-256 (run before start)
set -euo pipefail

root=/usr/lib/postgresql
service_user=postgres

find_bin() {
    local best="" best_version=-1 dir name
    if [ -d "$root" ]; then
        for dir in "$root"/*/; do
            name=$(basename "$dir")
            [[ "$name" =~ ^[0-9]+$ ]] || continue
            [ -x "$dir/bin/initdb" ] || continue
            if [ "$name" -gt "$best_version" ]; then best_version=$name; best="${dir%/}/bin"; fi
        done
    fi
    if [ -z "$best" ] && command -v initdb >/dev/null 2>&1; then best=$(dirname "$(command -v initdb)"); fi
    printf '%s' "$best"
}

bin=$(find_bin)
require_bin() {
    if [ -z "$bin" ]; then
        echo "No PostgreSQL binaries: no $root/<version>/bin/initdb and no initdb on PATH." >&2
        exit 3
    fi
}

# Runs a PostgreSQL tool as the service user when we are root.
as_service() {
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u "$service_user" -- "$@"); else (cd / && "$@"); fi
}

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

command=${1:-}
case "$command" in
    bin)
        require_bin
        printf '%s\n' "$bin"
        ;;
    version)
        require_bin
        "$bin/pg_ctl" --version | sed -E 's/.*\(PostgreSQL\) ([0-9]+).*/\1/'
        ;;
    create)
        require_bin
        folder=${2:?postgres.sh create FOLDER}
        mkdir -p "$folder"
        if [ "$(id -u)" = 0 ]; then chown "$service_user:" "$folder"; else chmod 700 "$folder"; fi
        as_service "$bin/initdb" -D "$folder/data" -U postgres -A trust -E UTF8 --no-locale --no-sync >/dev/null
        ;;
    start)
        require_bin
        folder=${2:?postgres.sh start FOLDER PORT|auto [OPTION...]}
        wanted=${3:?postgres.sh start FOLDER PORT|auto [OPTION...]}
        shift 3
        tries=1
        [ "$wanted" = auto ] && tries=3
        for ((attempt = 1; attempt <= tries; attempt++)); do
            port=$wanted
            [ "$wanted" = auto ] && port=$(free_port)
            if as_service "$bin/pg_ctl" -D "$folder/data" -l "$folder/log" -w -t 60 \
                -o "-c listen_addresses=127.0.0.1 -p $port -k $folder $*" start >/dev/null 2>"$folder/start.err"; then
                printf '%s\n' "$port"
                exit 0
            fi
        done
        echo "PostgreSQL did not start in $folder:" >&2
        cat "$folder/start.err" >&2 || true
        echo "Server log ($folder/log):" >&2
        tail -n 20 "$folder/log" >&2 2>/dev/null || echo "(no log)" >&2
        exit 1
        ;;
    stop)
        require_bin
        folder=${2:?postgres.sh stop FOLDER [fast|immediate]}
        mode=${3:-fast}
        [ -f "$folder/data/postmaster.pid" ] || exit 0
        if ! as_service "$bin/pg_ctl" -D "$folder/data" -m "$mode" -w -t 60 stop >/dev/null 2>&1; then
            as_service "$bin/pg_ctl" -D "$folder/data" -m immediate -w -t 30 stop >/dev/null
        fi
        ;;
    tls)
        folder=${2:?postgres.sh tls FOLDER}
        [ -d "$folder/data" ] || { echo "No cluster in $folder (postgres.sh create first)." >&2; exit 1; }
        tls=$folder/tls
        mkdir -p "$tls"
        (
            cd "$tls"
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=secretsps-test-ca" -keyout ca.key -out ca.crt
            openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=secretsps-other-ca" -keyout other-ca.key -out other-ca.crt
            openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr
            printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >server.ext
            openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 2 -extfile server.ext -out server.crt
        ) >"$folder/tls.log" 2>&1 || { cat "$folder/tls.log" >&2; exit 1; }
        chmod 644 "$tls"/*.crt
        chmod 600 "$tls/server.key"
        if [ "$(id -u)" = 0 ]; then chown -R "$service_user:" "$tls"; fi
        {
            echo "ssl = on"
            echo "ssl_cert_file = '$tls/server.crt'"
            echo "ssl_key_file = '$tls/server.key'"
            echo "password_encryption = 'scram-sha-256'"
        } >>"$folder/data/postgresql.conf"
        {
            echo "local all all trust"
            echo "hostssl all postgres 127.0.0.1/32 trust"
            echo "hostssl all postgres ::1/128 trust"
            echo "hostssl all all 127.0.0.1/32 scram-sha-256"
            echo "hostssl all all ::1/128 scram-sha-256"
        } >"$folder/data/pg_hba.conf"
        ;;
    *)
        sed -n '2,22p' "$0" >&2
        exit 2
        ;;
esac
