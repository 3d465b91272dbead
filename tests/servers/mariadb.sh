#!/usr/bin/env bash
# The one way the Pester suite, the xunit suite and the benchmark run a throwaway MariaDB (Debian's mariadb-server; .ci/run
# installs it when missing), in the shape of postgres.sh: a data directory made by mariadb-install-db in a folder of the
# caller's, mariadbd on 127.0.0.1 on a free port with its own socket, pid file and error log in that folder, stopped at
# the end. A user 'test'@'%' without a password and with every right (GRANT OPTION too) signs in over TCP.
#
#   mariadb.sh bin                                 the mariadbd in use; exit 3 with the reason when there is none
#   mariadb.sh version                             the server's version (10.11.6)
#   mariadb.sh create FOLDER                       a new data directory in FOLDER/data
#   mariadb.sh start FOLDER PORT|auto [OPTION...]  starts it (error log: FOLDER/err.log; options such as
#                                                  --innodb-flush-log-at-trx-commit=2); prints the port; 'auto' picks a
#                                                  free one (three tries); on failure the log's tail goes to stderr
#   mariadb.sh sql FOLDER SQL                      runs SQL as root over the socket (tab-separated output, no headers)
#   mariadb.sh stop FOLDER [fast|kill]             stops it (fast: SIGTERM, SIGKILL after 60 s; kill: SIGKILL at once)
set -euo pipefail

find_server() {
    local candidate
    for candidate in /usr/sbin/mariadbd "$(command -v mariadbd 2>/dev/null || true)"; do
        if [ -n "$candidate" ] && [ -x "$candidate" ]; then printf '%s' "$candidate"; return; fi
    done
}

server=$(find_server)
require_server() {
    if [ -z "$server" ] || ! command -v mariadb-install-db >/dev/null 2>&1 || ! command -v mariadb >/dev/null 2>&1; then
        echo "No MariaDB server: mariadbd, mariadb-install-db and mariadb are needed. Install them with 'apt-get install -y mariadb-server' (.ci/run does)." >&2
        exit 3
    fi
}

# shellcheck source=common.sh
. "$(dirname "${BASH_SOURCE[0]}")/common.sh"

client() {
    local folder=$1
    shift
    mariadb --no-defaults -S "$folder/sock" -uroot "$@"
}

server_pid() {
    local folder=$1
    [ -f "$folder/pid" ] && cat "$folder/pid" 2>/dev/null || true
}

wait_gone() {
    local pid=$1 seconds=$2 i
    for ((i = 0; i < seconds * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

command=${1:-}
case "$command" in
    bin)
        require_server
        printf '%s\n' "$server"
        ;;
    version)
        require_server
        "$server" --version | sed -E 's/.*Ver ([0-9.]+).*/\1/'
        ;;
    create)
        require_server
        folder=${2:?mariadb.sh create FOLDER}
        mkdir -p "$folder"
        mariadb-install-db --no-defaults --datadir="$folder/data" --user="$(id -un)" --auth-root-authentication-method=normal \
            --skip-test-db >"$folder/install.log" 2>&1 || { cat "$folder/install.log" >&2; exit 1; }
        ;;
    start)
        require_server
        folder=${2:?mariadb.sh start FOLDER PORT|auto [OPTION...]}
        wanted=${3:?mariadb.sh start FOLDER PORT|auto [OPTION...]}
        shift 3
        tries=1
        [ "$wanted" = auto ] && tries=3
        for ((attempt = 1; attempt <= tries; attempt++)); do
            port=$wanted
            [ "$wanted" = auto ] && port=$(free_port)
            rm -f "$folder/pid" "$folder/sock"
            # setsid: the server outlives this script (and a test runner's process group) until it is stopped.
            setsid "$server" --no-defaults --datadir="$folder/data" --user="$(id -un)" --port="$port" --bind-address=127.0.0.1 \
                --socket="$folder/sock" --pid-file="$folder/pid" --log-error="$folder/err.log" --skip-name-resolve \
                --skip-log-bin --innodb-buffer-pool-size=64M "$@" </dev/null >/dev/null 2>&1 &
            started=$!
            for ((i = 0; i < 600; i++)); do
                if client "$folder" -e 'select 1' >/dev/null 2>&1; then
                    client "$folder" -e "CREATE USER IF NOT EXISTS 'test'@'%'; GRANT ALL ON *.* TO 'test'@'%' WITH GRANT OPTION;"
                    printf '%s\n' "$port"
                    exit 0
                fi
                kill -0 "$started" 2>/dev/null || break
                sleep 0.1
            done
            kill -9 "$started" 2>/dev/null || true
        done
        echo "MariaDB did not start in $folder. Error log ($folder/err.log):" >&2
        tail -n 20 "$folder/err.log" >&2 2>/dev/null || echo "(no log)" >&2
        exit 1
        ;;
    sql)
        require_server
        folder=${2:?mariadb.sh sql FOLDER SQL}
        client "$folder" -N -B -e "${3:?mariadb.sh sql FOLDER SQL}"
        ;;
    stop)
        folder=${2:?mariadb.sh stop FOLDER [fast|kill]}
        mode=${3:-fast}
        pid=$(server_pid "$folder")
        [ -n "$pid" ] || exit 0
        kill -0 "$pid" 2>/dev/null || { rm -f "$folder/pid"; exit 0; }
        if [ "$mode" = kill ]; then
            kill -9 "$pid" 2>/dev/null || true
            wait_gone "$pid" 30 || true
        else
            kill "$pid" 2>/dev/null || true
            if ! wait_gone "$pid" 60; then
                kill -9 "$pid" 2>/dev/null || true
                wait_gone "$pid" 30 || true
            fi
        fi
        rm -f "$folder/pid"
        ;;
    *)
        sed -n '2,16p' "$0" >&2
        exit 2
        ;;
esac
