#!/usr/bin/env bash
# Local infrastructure for development and the integration tests: a single-node Apache Kafka 4.1 (KRaft) and a
# PostgreSQL server, both on loopback, all state under the repository's git-ignored .data/.
#
#   deploy/local/infra.sh up       start both (idempotent) and wait until each answers a real request
#   deploy/local/infra.sh down     stop both (idempotent)
#   deploy/local/infra.sh status   report; exit 0 only when both are running
#
# Kafka runs from Maven Central jars (deploy/local/kafka/pom.xml) on the machine's Java 17; PostgreSQL from
# Debian's packages. What the application connects to by default:
#   DISTILLGUARD_KAFKA_BOOTSTRAP=127.0.0.1:9092
#   DISTILLGUARD_DATABASE_URL=postgresql+asyncpg://distillguard:distillguard@127.0.0.1:5432/distillguard
# Environment: DISTILLGUARD_INFRA_KAFKA_PORT (9092), DISTILLGUARD_INFRA_KAFKA_CONTROLLER_PORT (9093),
# DISTILLGUARD_INFRA_PG_PORT (5432), DISTILLGUARD_INFRA_TIMEOUT (seconds to wait for each server, 120).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE=$ROOT/deploy/local
DATA=$ROOT/.data

KAFKA_PORT=${DISTILLGUARD_INFRA_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${DISTILLGUARD_INFRA_KAFKA_CONTROLLER_PORT:-9093}
PG_PORT=${DISTILLGUARD_INFRA_PG_PORT:-5432}
TIMEOUT=${DISTILLGUARD_INFRA_TIMEOUT:-120}

KAFKA_DIR=$DATA/kafka
KAFKA_LIBS=$KAFKA_DIR/libs
KAFKA_LOGS=$KAFKA_DIR/logs
KAFKA_LOG_DIR=$KAFKA_DIR/data
KAFKA_CONF=$KAFKA_DIR/server.properties
KAFKA_PID=$KAFKA_DIR/kafka.pid
KAFKA_POM=$HERE/kafka/pom.xml

PG_DIR=$DATA/postgres
PG_DATA=$PG_DIR/data
PG_LOG=$PG_DIR/postgres.log
PG_SOCK=$PG_DIR/run
# A unix socket path must fit in 107 bytes; a deeply nested checkout gets a short one under /tmp instead.
if (( ${#PG_SOCK} > 90 )); then
    PG_SOCK=/tmp/distillguard-pg-$(printf '%s' "$ROOT" | sha256sum | cut -c1-12)
fi
PG_ROLE=distillguard
PG_PASSWORD=distillguard
PG_DATABASE=distillguard

say() { echo "infra: $*"; }
die() { echo "infra: error: $*" >&2; exit 1; }

# Print the last lines of each given log file that exists (to stderr), for a failure message.
show_tail() {
    local file
    for file in "$@"; do
        if [[ -s $file ]]; then
            echo "----- last 40 lines of $file -----" >&2
            tail -n 40 "$file" >&2
        fi
    done
}

# True when something accepts TCP connections on 127.0.0.1:$1.
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---------------------------------------------------------------------------------------------------- Kafka

# True while process $1 exists and is not a zombie (a zombie's cmdline is empty; it may wait long for its reaper).
alive() { [[ -n $(tr -d '\0' 2>/dev/null <"/proc/$1/cmdline") ]]; }

kafka_pid() {
    # The pid from the pid file, if that process is alive and is our broker (not a recycled pid).
    local pid
    [[ -f $KAFKA_PID ]] || return 1
    pid=$(<"$KAFKA_PID")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -qF "kafka.Kafka $KAFKA_CONF" || return 1
    echo "$pid"
}

require_java() {
    command -v java >/dev/null \
        || die "java not found: Kafka 4 needs Java 17+ (apt-get install -y openjdk-17-jre-headless)"
    local major
    major=$(java -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')
    (( ${major%%.*} >= 17 )) || die "Kafka 4 needs Java 17+, found java.specification.version=$major"
}

# Copy the broker's runtime classpath from Maven Central (or ~/.m2) unless the copy matches the pom already.
kafka_libs() {
    local stamp
    stamp=$(sha256sum "$KAFKA_POM" | cut -d' ' -f1)
    if [[ -f $KAFKA_LIBS/.pom-sha256 && $(<"$KAFKA_LIBS/.pom-sha256") == "$stamp" ]]; then
        return 0
    fi
    command -v mvn >/dev/null || die "mvn not found: needed once to fetch the Kafka jars (apt-get install -y maven)"
    say "fetching the Kafka jars with Maven into ${KAFKA_LIBS#"$ROOT"/} (only when the pom changed)"
    rm -rf "$KAFKA_LIBS.tmp"
    mkdir -p "$KAFKA_DIR"
    mvn -B -q -Dstyle.color=never -f "$KAFKA_POM" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS.tmp" >"$KAFKA_DIR/mvn.log" 2>&1 \
        || { show_tail "$KAFKA_DIR/mvn.log"; die "mvn dependency:copy-dependencies failed for $KAFKA_POM"; }
    echo "$stamp" >"$KAFKA_LIBS.tmp/.pom-sha256"
    rm -rf "$KAFKA_LIBS"
    mv "$KAFKA_LIBS.tmp" "$KAFKA_LIBS"
}

KAFKA_LOGGING=(-Dlog4j2.configurationFile="$HERE/kafka/log4j2.xml" -Dkafka.logs.dir="$KAFKA_LOGS")

# Kafka's command-line tools (kafka.tools.StorageTool) on the broker's classpath.
kafka_tool() { java -Xmx256m "${KAFKA_LOGGING[@]}" -cp "$KAFKA_LIBS/*" "$@"; }

# One metadata request against the broker; exit status 0 when it names a broker.
kafka_probe() {
    local bootstrap=127.0.0.1:$KAFKA_PORT
    if [[ -x $ROOT/.venv/bin/python ]] && "$ROOT/.venv/bin/python" -c 'import aiokafka' 2>/dev/null; then
        "$ROOT/.venv/bin/python" - "$bootstrap" <<'PY'
import asyncio
import logging
import sys

from aiokafka.client import AIOKafkaClient


async def probe(bootstrap: str) -> None:
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await asyncio.wait_for(client.bootstrap(), timeout=5)
        if not client.cluster.brokers():
            sys.exit("metadata names no broker yet")
    finally:
        await client.close()


logging.disable(logging.CRITICAL)
asyncio.run(probe(sys.argv[1]))
PY
    else
        java -cp "$KAFKA_LIBS/*" "$HERE/kafka/KafkaReady.java" "$bootstrap"
    fi
}

kafka_start() {
    local pid cluster_id
    if pid=$(kafka_pid); then
        say "kafka: already running (pid $pid)"
        return 0
    fi
    require_java
    kafka_libs
    port_open "$KAFKA_PORT" \
        && die "port $KAFKA_PORT is already taken by another process; set DISTILLGUARD_INFRA_KAFKA_PORT"
    port_open "$KAFKA_CONTROLLER_PORT" \
        && die "port $KAFKA_CONTROLLER_PORT is already taken; set DISTILLGUARD_INFRA_KAFKA_CONTROLLER_PORT"

    mkdir -p "$KAFKA_LOGS" "$KAFKA_LOG_DIR"
    sed -e "s|@KAFKA_PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
        -e "s|@LOG_DIR@|$KAFKA_LOG_DIR|g" "$HERE/kafka/server.properties" >"$KAFKA_CONF"

    if [[ ! -f $KAFKA_LOG_DIR/meta.properties ]]; then
        cluster_id=$(kafka_tool kafka.tools.StorageTool random-uuid)
        say "kafka: formatting ${KAFKA_LOG_DIR#"$ROOT"/} (cluster id $cluster_id)"
        kafka_tool kafka.tools.StorageTool format --ignore-formatted -t "$cluster_id" -c "$KAFKA_CONF" >/dev/null \
            || { show_tail "$KAFKA_LOGS/server.log"; die "kafka: formatting the storage failed"; }
    fi

    say "kafka: starting on 127.0.0.1:$KAFKA_PORT (controller 127.0.0.1:$KAFKA_CONTROLLER_PORT)"
    rm -f "$KAFKA_PID"
    # setsid: the broker outlives the shell (and make) that started it, and ^C in that shell does not reach it.
    # The JVM flags are those of Kafka's kafka-server-start.sh, with a 512 MB heap.
    setsid java -Xms512m -Xmx512m -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 \
        -XX:+ExplicitGCInvokesConcurrent -Djava.awt.headless=true "${KAFKA_LOGGING[@]}" \
        -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_CONF" </dev/null >"$KAFKA_LOGS/kafka.out" 2>&1 9>&- &
    echo $! >"$KAFKA_PID"
}

kafka_wait() {
    local deadline=$((SECONDS + TIMEOUT)) pid
    pid=$(<"$KAFKA_PID")
    while true; do
        if ! alive "$pid"; then
            show_tail "$KAFKA_LOGS/server.log" "$KAFKA_LOGS/kafka.out"
            die "kafka: the broker exited during startup (logs in ${KAFKA_LOGS#"$ROOT"/})"
        fi
        if kafka_probe >/dev/null 2>&1; then
            say "kafka: ready on 127.0.0.1:$KAFKA_PORT (metadata request answered)"
            return 0
        fi
        if (( SECONDS >= deadline )); then
            kafka_probe || true
            show_tail "$KAFKA_LOGS/server.log" "$KAFKA_LOGS/kafka.out"
            die "kafka: no answer to a metadata request on 127.0.0.1:$KAFKA_PORT within ${TIMEOUT}s"
        fi
        sleep 1
    done
}

kafka_stop() {
    local pid waited=0
    if ! pid=$(kafka_pid); then
        say "kafka: not running"
        return 0
    fi
    say "kafka: stopping (pid $pid)"
    kill -TERM "$pid"
    while alive "$pid"; do
        if (( waited >= 60 )); then
            say "kafka: still running after 60s, sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            break
        fi
        sleep 1
        waited=$((waited + 1))
    done
    rm -f "$KAFKA_PID"
    say "kafka: stopped"
}

# ----------------------------------------------------------------------------------------------- PostgreSQL

PG_BIN=
# The newest installed PostgreSQL major version's binaries (Debian installs them side by side).
find_pg_bin() {
    PG_BIN=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)
    [[ -n $PG_BIN && -x $PG_BIN/initdb ]]
}

install_pg() {
    if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
        die "PostgreSQL server binaries not found under /usr/lib/postgresql (apt-get install -y postgresql)"
    fi
    say "postgres: not installed, installing Debian's postgresql"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    find_pg_bin || die "PostgreSQL server binaries still not found after installing postgresql"
}

# PostgreSQL refuses to run as root: as root, its commands run as the postgres OS user.
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

pg_running() { [[ -f $PG_DATA/PG_VERSION ]] && as_pg "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; }

# As root, the postgres user must be able to reach .data/postgres: grant search (x, not read) on any parent
# directory that lacks it for others, e.g. /root when the checkout lives there.
pg_grant_path() {
    [[ $EUID -eq 0 ]] || return 0
    local dir=$PG_DIR
    while [[ $dir != / ]]; do
        dir=$(dirname "$dir")
        if ! runuser -u postgres -- test -x "$dir"; then
            say "postgres: granting others search permission (o+x) on $dir so the postgres user reaches $PG_DIR"
            chmod o+x "$dir"
        fi
    done
}

pg_init() {
    [[ -f $PG_DATA/PG_VERSION ]] && return 0
    say "postgres: creating a cluster in ${PG_DATA#"$ROOT"/} ($("$PG_BIN/postgres" --version))"
    rm -rf "$PG_DATA"
    mkdir -p "$PG_DIR"
    [[ $EUID -eq 0 ]] && chown postgres:postgres "$PG_DIR"
    pg_grant_path
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 \
        || { show_tail "$PG_DIR/initdb.log"; die "postgres: initdb failed"; }
    # Loopback TCP only (the socket directory and port are given at each start, from the environment).
    # Durability is traded for speed: this cluster holds throw-away test and development data.
    as_pg tee -a "$PG_DATA/postgresql.conf" >/dev/null <<'CONF'

# --- deploy/local/infra.sh: local development and test server ---
listen_addresses = '127.0.0.1'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
}

# Debian's own cluster (pg_ctlcluster) on our port would make ours fail to start: stop it, and say so.
pg_stop_system_cluster() {
    command -v pg_lsclusters >/dev/null || return 0
    local version name port status
    while read -r version name port status _; do
        if [[ $port == "$PG_PORT" && $status == online* ]]; then
            say "postgres: stopping the system cluster $version/$name, which holds port $PG_PORT" \
                "(pg_ctlcluster $version $name stop)"
            pg_ctlcluster "$version" "$name" stop
        fi
    done < <(pg_lsclusters --no-header 2>/dev/null || true)
}

pg_start() {
    find_pg_bin || install_pg
    pg_init
    if [[ $EUID -eq 0 ]]; then
        mkdir -p "$PG_SOCK" && chown postgres:postgres "$PG_SOCK"
    else
        mkdir -p "$PG_SOCK"
    fi
    if pg_running; then
        say "postgres: already running"
    else
        pg_stop_system_cluster
        port_open "$PG_PORT" \
            && die "port $PG_PORT is already taken by another process; set DISTILLGUARD_INFRA_PG_PORT"
        say "postgres: starting on 127.0.0.1:$PG_PORT"
        as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" \
            -o "-p $PG_PORT -k '$PG_SOCK'" >/dev/null 9>&- \
            || { show_tail "$PG_LOG"; die "postgres: pg_ctl start failed"; }
    fi
}

pg_wait() {
    local deadline=$((SECONDS + TIMEOUT))
    until "$PG_BIN/pg_isready" -q -h "$PG_SOCK" -p "$PG_PORT"; do
        if (( SECONDS >= deadline )); then
            show_tail "$PG_LOG"
            die "postgres: pg_isready got no answer within ${TIMEOUT}s"
        fi
        sleep 1
    done
    # The role and database the application uses; SUPERUSER so tests can create a database per test.
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres >/dev/null <<SQL \
        || { show_tail "$PG_LOG"; die "postgres: creating role/database $PG_ROLE failed"; }
SELECT format('CREATE ROLE %I LOGIN SUPERUSER PASSWORD %L', '$PG_ROLE', '$PG_PASSWORD')
 WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$PG_ROLE') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', '$PG_DATABASE', '$PG_ROLE')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = '$PG_DATABASE') \gexec
SQL
    # A real query over loopback TCP with the application's credentials.
    local answer
    answer=$(PGPASSWORD=$PG_PASSWORD PGCONNECT_TIMEOUT=5 "$PG_BIN/psql" -X -A -t -v ON_ERROR_STOP=1 \
        -h 127.0.0.1 -p "$PG_PORT" -U "$PG_ROLE" -d "$PG_DATABASE" -c 'SELECT 1' 2>&1) \
        || { show_tail "$PG_LOG"; die "postgres: query as $PG_ROLE over 127.0.0.1:$PG_PORT failed: $answer"; }
    [[ $answer == 1 ]] || die "postgres: SELECT 1 answered '$answer'"
    say "postgres: ready on 127.0.0.1:$PG_PORT (database $PG_DATABASE, role $PG_ROLE)"
}

pg_stop() {
    if ! find_pg_bin || ! pg_running; then
        say "postgres: not running"
        return 0
    fi
    say "postgres: stopping"
    as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast -w -t 60 >/dev/null
    say "postgres: stopped"
}

# ---------------------------------------------------------------------------------------------------- main

cmd_up() {
    local started=$SECONDS
    kafka_start   # the broker boots in the background while PostgreSQL starts
    pg_start
    pg_wait
    kafka_wait
    say "up in $((SECONDS - started))s: DISTILLGUARD_KAFKA_BOOTSTRAP=127.0.0.1:$KAFKA_PORT" \
        "DISTILLGUARD_DATABASE_URL=postgresql+asyncpg://$PG_ROLE:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DATABASE"
}

cmd_down() {
    kafka_stop
    pg_stop
}

cmd_status() {
    local ok=0 pid
    if pid=$(kafka_pid); then
        if kafka_probe >/dev/null 2>&1; then
            say "kafka: running (pid $pid), answering on 127.0.0.1:$KAFKA_PORT"
        else
            say "kafka: running (pid $pid) but not answering on 127.0.0.1:$KAFKA_PORT"
            ok=1
        fi
    else
        say "kafka: not running"
        ok=1
    fi
    if find_pg_bin && pg_running && "$PG_BIN/pg_isready" -q -h "$PG_SOCK" -p "$PG_PORT"; then
        say "postgres: running, answering on 127.0.0.1:$PG_PORT"
    else
        say "postgres: not running"
        ok=1
    fi
    return $((ok ? 3 : 0))
}

# One `up` or `down` at a time (make test and a developer's shell may overlap). The servers are started with
# fd 9 closed, so the lock ends with this script.
lock() {
    mkdir -p "$DATA"
    exec 9>"$DATA/.infra.lock"
    flock -w 300 9 || die "another infra.sh up/down holds $DATA/.infra.lock"
}

case ${1:-} in
    up) lock; cmd_up ;;
    down) lock; cmd_down ;;
    status) cmd_status ;;
    *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
