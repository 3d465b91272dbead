#!/usr/bin/env bash
# The one way the suites put PgBouncer in front of a throwaway PostgreSQL (tests/servers/postgres.sh): transaction
# pooling, as Azure's built-in PgBouncer and most self-hosted poolers run, on 127.0.0.1 on a free port. Clients are let
# in without a password (auth_type = any) and every server connection signs in as 'postgres' (the cluster trusts it).
# PgBouncer refuses to run as root, so as root it runs as the 'postgres' user (runuser) from a folder that user can
# read; callers stop it at the end (stop is safe to call twice, and when start failed).
#
#   pgbouncer.sh bin                                   the pgbouncer executable; exit 3 with the reason when there is none
#   pgbouncer.sh start FOLDER PG_PORT PORT|auto [SETTING=VALUE...]
#                                                      writes FOLDER/pgbouncer.ini (pool_mode = transaction, every
#                                                      database of the server on 127.0.0.1:PG_PORT; extra [pgbouncer]
#                                                      settings as given), starts it and prints its port once it accepts
#                                                      connections; 'auto' picks a free one (three tries); on failure the
#                                                      log's tail goes to stderr
#   pgbouncer.sh stop FOLDER                           stops it (SIGTERM, then SIGKILL after 10 s); nothing when not running
set -euo pipefail

service_user=postgres

find_bin() {
    if command -v pgbouncer >/dev/null 2>&1; then command -v pgbouncer; return; fi
    for candidate in /usr/sbin/pgbouncer /usr/bin/pgbouncer /usr/local/bin/pgbouncer; do
        if [ -x "$candidate" ]; then printf '%s' "$candidate"; return; fi
    done
}

bin=$(find_bin)
require_bin() {
    if [ -z "$bin" ]; then
        echo "No pgbouncer on PATH (Debian: apt-get install -y pgbouncer)." >&2
        exit 3
    fi
}

as_service() {
    if [ "$(id -u)" = 0 ]; then (cd / && runuser -u "$service_user" -- "$@"); else (cd / && "$@"); fi
}

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

# True once something accepts TCP connections on 127.0.0.1:$1.
accepting() {
    python3 -c 'import socket, sys; s = socket.socket(); s.settimeout(0.5); s.connect(("127.0.0.1", int(sys.argv[1]))); s.close()' "$1" 2>/dev/null
}

running_pid() {
    local pidfile=$1/pgbouncer.pid pid
    [ -f "$pidfile" ] || return 1
    pid=$(cat "$pidfile" 2>/dev/null) || return 1
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && printf '%s' "$pid"
}

stop_folder() {
    local folder=$1 pid
    pid=$(running_pid "$folder") || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
}

command=${1:-}
case "$command" in
    bin)
        require_bin
        printf '%s\n' "$bin"
        ;;
    start)
        require_bin
        folder=${2:?pgbouncer.sh start FOLDER PG_PORT PORT|auto [SETTING=VALUE...]}
        pg_port=${3:?pgbouncer.sh start FOLDER PG_PORT PORT|auto [SETTING=VALUE...]}
        wanted=${4:?pgbouncer.sh start FOLDER PG_PORT PORT|auto [SETTING=VALUE...]}
        shift 4
        mkdir -p "$folder"
        # mktemp -d makes 0700 folders owned by root: the service user must read the ini and write the log and pid.
        chmod 755 "$folder"
        if [ "$(id -u)" = 0 ]; then chown "$service_user:" "$folder"; fi
        tries=1
        [ "$wanted" = auto ] && tries=3
        for ((attempt = 1; attempt <= tries; attempt++)); do
            port=$wanted
            [ "$wanted" = auto ] && port=$(free_port)
            {
                echo "[databases]"
                echo "* = host=127.0.0.1 port=$pg_port user=postgres"
                echo "[pgbouncer]"
                echo "listen_addr = 127.0.0.1"
                echo "listen_port = $port"
                echo "unix_socket_dir ="
                echo "auth_type = any"
                echo "pool_mode = transaction"
                echo "max_client_conn = 200"
                echo "default_pool_size = 10"
                echo "logfile = $folder/pgbouncer.log"
                echo "pidfile = $folder/pgbouncer.pid"
                for setting in "$@"; do echo "${setting%%=*} = ${setting#*=}"; done
            } >"$folder/pgbouncer.ini"
            if [ "$(id -u)" = 0 ]; then chown "$service_user:" "$folder/pgbouncer.ini"; fi
            if as_service "$bin" -d "$folder/pgbouncer.ini" >"$folder/start.err" 2>&1; then
                for _ in $(seq 1 100); do
                    if accepting "$port"; then
                        printf '%s\n' "$port"
                        exit 0
                    fi
                    running_pid "$folder" >/dev/null || break
                    sleep 0.1
                done
            fi
            stop_folder "$folder"
        done
        echo "PgBouncer did not start in $folder:" >&2
        cat "$folder/start.err" >&2 || true
        echo "Log ($folder/pgbouncer.log):" >&2
        tail -n 20 "$folder/pgbouncer.log" >&2 2>/dev/null || echo "(no log)" >&2
        exit 1
        ;;
    stop)
        folder=${2:?pgbouncer.sh stop FOLDER}
        stop_folder "$folder"
        ;;
    *)
        sed -n '2,16p' "$0" >&2
        exit 2
        ;;
esac
