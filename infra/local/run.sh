#!/usr/bin/env bash
# FaceCast's distributed mode on one machine, with the servers the integration tests use:
# Tansu (Kafka protocol, memory storage), the JuiceFS S3 gateway over a local folder, the machine's
# PostgreSQL; then `facecast gateway` and one `facecast worker` per stage, each its own process.
#
#   infra/local/run.sh start    # start everything, print the API key and the URLs
#   infra/local/run.sh status   # which processes run, and each worker's /readyz
#   infra/local/run.sh stop     # stop every process this script started (by its pid file)
#
# Needs `make install` (the .venv) and PostgreSQL on 127.0.0.1:5432 that lets $PGUSER connect
# (the tests' setup). Settings (environment): FACECAST_PORT (8000), FACECAST_LOCAL_DIR
# (var/local-cluster), KAFKA_PORT (19092), S3_PORT (19000), PGUSER (postgres), PGDATABASE (facecast).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
STATE=${FACECAST_LOCAL_DIR:-$ROOT/var/local-cluster}
PY=${PYTHON:-$ROOT/.venv/bin/python}
FACECAST=${FACECAST:-$(dirname "$PY")/facecast}
KAFKA_PORT=${KAFKA_PORT:-19092}
S3_PORT=${S3_PORT:-19000}
PORT=${FACECAST_PORT:-8000}
PGUSER=${PGUSER:-postgres}
PGDATABASE=${PGDATABASE:-facecast}
STAGES=(generator swapper enhancer makeup)
WORKER_PORT_BASE=9101

log() { printf '%s\n' "$*" >&2; }

wait_port() {  # port, what, pid
  for _ in $(seq 1 300); do
    if ! kill -0 "$3" 2>/dev/null; then
      log "$2 exited; see $STATE/logs"
      return 1
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  log "$2 did not open port $1 in 30 s"
  return 1
}

started() {  # name, pid: remember the pid so that `stop` ends exactly this process
  echo "$2" >"$STATE/pids/$1.pid"
}

settings() {
  local secret
  secret=$(cat "$STATE/s3-secret")
  export FACECAST_BUS=kafka FACECAST_KAFKA_BOOTSTRAP="127.0.0.1:$KAFKA_PORT"
  # Tansu holds a fetch for the whole wait even when records arrive (Kafka answers at once): a short
  # wait keeps each hop fast here; every idle consumer then asks the broker ~40 times a second
  export FACECAST_KAFKA_FETCH_MAX_WAIT_MS=25
  export FACECAST_STORE_BACKEND=s3 FACECAST_S3_ENDPOINT="127.0.0.1:$S3_PORT" FACECAST_S3_BUCKET=facecast
  export FACECAST_S3_ACCESS_KEY=facecast FACECAST_S3_SECRET_KEY="$secret"
  export FACECAST_DATABASE_URL="postgresql+asyncpg://$PGUSER@127.0.0.1:5432/$PGDATABASE"
  export FACECAST_DATA_DIR="$STATE/data" FACECAST_MODEL_DIR="$ROOT/var/models"
  export FACECAST_PORT="$PORT" FACECAST_PUBLIC_URL="http://127.0.0.1:$PORT"
}

start() {
  if compgen -G "$STATE/pids/*.pid" >/dev/null; then
    log "already started (pid files in $STATE/pids); run: $0 stop"
    exit 1
  fi
  mkdir -p "$STATE/logs" "$STATE/pids" "$STATE/s3" "$STATE/data"
  cd "$ROOT"
  local tansu juicefs pid
  tansu=$("$PY" -c 'from tests.integration.servers import tansu_binary; print(tansu_binary())')
  juicefs=$("$PY" -c 'from tests.integration.servers import juicefs_binary; print(juicefs_binary())')

  "$tansu" broker --listener-url "tcp://127.0.0.1:$KAFKA_PORT" --advertised-listener-url "tcp://127.0.0.1:$KAFKA_PORT" \
    --storage-engine memory://tansu/ >"$STATE/logs/tansu.log" 2>&1 &
  pid=$!
  started tansu "$pid"
  wait_port "$KAFKA_PORT" "tansu broker" "$pid"

  [ -f "$STATE/s3-secret" ] || "$PY" -c 'import secrets; print("s3-" + secrets.token_hex(16))' >"$STATE/s3-secret"
  export MINIO_ROOT_USER=facecast MINIO_ROOT_PASSWORD
  MINIO_ROOT_PASSWORD=$(cat "$STATE/s3-secret")
  if [ ! -f "$STATE/s3/formatted" ]; then
    "$juicefs" format --storage file --bucket "$STATE/s3/blobs/" "badger://$STATE/s3/meta" facecast \
      --trash-days 0 --no-update >"$STATE/logs/juicefs-format.log" 2>&1
    touch "$STATE/s3/formatted"
  fi
  "$juicefs" gateway --multi-buckets --keep-etag --object-meta --no-usage-report --no-agent --no-bgjob --quiet \
    --cache-dir "$STATE/s3/cache" "badger://$STATE/s3/meta" "127.0.0.1:$S3_PORT" >"$STATE/logs/juicefs.log" 2>&1 &
  pid=$!
  started juicefs "$pid"
  wait_port "$S3_PORT" "juicefs gateway" "$pid"

  # the database must exist before the gateway starts (it creates the tables itself)
  "$PY" - "$PGUSER" "$PGDATABASE" <<'PYTHON'
import asyncio, sys
import asyncpg

async def main(user, name):
    conn = await asyncpg.connect(host="127.0.0.1", port=5432, user=user, database="postgres")
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name):
            await conn.execute(f'CREATE DATABASE "{name}"')
            print(f"created database {name}", file=sys.stderr)
    finally:
        await conn.close()

asyncio.run(main(*sys.argv[1:]))
PYTHON

  settings
  "$FACECAST" topics create --partitions 2 >"$STATE/logs/topics.log" 2>&1
  "$FACECAST" gateway --migrate-only >"$STATE/logs/migrate.log" 2>&1
  "$FACECAST" gateway >"$STATE/logs/gateway.log" 2>&1 &
  started gateway $!
  local i=0
  for stage in "${STAGES[@]}"; do
    FACECAST_WORKER_PORT=$((WORKER_PORT_BASE + i)) "$FACECAST" worker "$stage" >"$STATE/logs/$stage.log" 2>&1 &
    started "$stage" $!
    i=$((i + 1))
  done
  wait_port "$PORT" "facecast gateway" "$(cat "$STATE/pids/gateway.pid")"
  local key
  key=$("$FACECAST" tenants create "local-$(date +%s)" | grep -o 'fck_[A-Za-z0-9_]*' | head -n 1)
  echo "$key" >"$STATE/api-key"
  chmod 600 "$STATE/api-key"
  log "waiting for the workers (/readyz says what each still waits for)..."
  i=0
  for stage in "${STAGES[@]}"; do
    until curl -fs "http://127.0.0.1:$((WORKER_PORT_BASE + i))/readyz" >/dev/null; do
      kill -0 "$(cat "$STATE/pids/$stage.pid")" || { log "$stage exited; see $STATE/logs/$stage.log"; exit 1; }
      sleep 0.5
    done
    i=$((i + 1))
  done
  cat <<EOT
FaceCast runs on Kafka (Tansu 127.0.0.1:$KAFKA_PORT) + S3 (JuiceFS 127.0.0.1:$S3_PORT) + PostgreSQL ($PGDATABASE)
  API        http://127.0.0.1:$PORT   (docs /docs, studio /studio)
  API key    $key   (also in $STATE/api-key)
  workers    /readyz and /metrics on ports $WORKER_PORT_BASE-$((WORKER_PORT_BASE + ${#STAGES[@]} - 1)) (${STAGES[*]})
  logs       $STATE/logs
  stop       $0 stop
EOT
}

status() {
  local name pid
  for file in "$STATE"/pids/*.pid; do
    [ -e "$file" ] || { log "nothing started"; return 0; }
    name=$(basename "$file" .pid)
    pid=$(cat "$file")
    if kill -0 "$pid" 2>/dev/null; then echo "$name: running (pid $pid)"; else echo "$name: not running"; fi
  done
  local i=0
  for stage in "${STAGES[@]}"; do
    echo "$stage /readyz: $(curl -s "http://127.0.0.1:$((WORKER_PORT_BASE + i))/readyz" || echo unreachable)"
    i=$((i + 1))
  done
}

stop() {
  local name pid
  # the processes first, the servers they use last
  for name in "${STAGES[@]}" gateway juicefs tansu; do
    [ -f "$STATE/pids/$name.pid" ] || continue
    pid=$(cat "$STATE/pids/$name.pid")
    if kill -0 "$pid" 2>/dev/null; then
      kill -TERM "$pid"
      for _ in $(seq 1 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      if kill -0 "$pid" 2>/dev/null; then
        log "$name (pid $pid) ignored SIGTERM for 15 s; killing it"
        kill -KILL "$pid"
      fi
    fi
    rm -f "$STATE/pids/$name.pid"
    echo "stopped $name"
  done
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) log "usage: $0 start|stop|status"; exit 2 ;;
esac
