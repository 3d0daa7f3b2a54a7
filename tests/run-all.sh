#!/usr/bin/env bash
# The whole Caduceus test suite, from a fresh machine:
#   1. installs what the tests need (PostgreSQL server from Debian packages, Python client libraries),
#   2. starts a throwaway PostgreSQL cluster on a free port (stopped on exit),
#   3. builds every test target once and runs them: unit + store tests on SQLite and PostgreSQL,
#      the end-to-end suite on SQLite and again on PostgreSQL, then the Python client tests
#      (official `openai` SDK, `grpcio`, Schemathesis over `/openapi.json`) against the real binary.
#   4. a reduced load test (`caduceus-bench load`: held SSE streams, RSS, runs with approvals) and
#      the cargo-fuzz targets for 60 s each (tests/fuzz/run.sh; the first fuzz build takes ~10 min).
# Usage: bash tests/run-all.sh        (set SKIP_INSTALL=1 to skip apt/pip, SKIP_FUZZ=1 to skip
#        fuzzing, FUZZ_SECONDS=N to fuzz each target N s)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}

log() { printf '\n== %s\n' "$*"; }

PG_BIN=""
find_pg_bin() { PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true); }

if [ "${SKIP_INSTALL:-0}" != "1" ]; then
  find_pg_bin
  if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
    log "installing PostgreSQL"
    if [ "$(id -u)" = 0 ]; then
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    else
      sudo apt-get update -qq
      sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    fi
  fi
  log "installing Python test clients"
  python3 -m pip install -q --disable-pip-version-check -r tests/python/requirements.txt
fi

find_pg_bin
PG_DIR=""
cleanup() {
  if [ -n "$PG_DIR" ] && [ -d "$PG_DIR" ]; then
    run_as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$PG_DIR"
  fi
}
trap cleanup EXIT

run_as_pg() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "$(printf '%q ' "$@")"
  else
    "$@"
  fi
}

if [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ]; then
  log "starting a throwaway PostgreSQL cluster"
  PG_DIR=$(mktemp -d /tmp/caduceus-pg.XXXXXX)
  [ "$(id -u)" = 0 ] && chown postgres "$PG_DIR"
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  run_as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust >/dev/null
  run_as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
  export DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
else
  echo "PostgreSQL not available: PostgreSQL variants of the tests are skipped" >&2
fi

log "building every test target once"
cargo build --workspace --all-targets

log "unit, store (SQLite + PostgreSQL) and end-to-end tests (SQLite)"
cargo test --workspace --no-fail-fast

if [ -n "${DATABASE_URL:-}" ]; then
  log "end-to-end tests on PostgreSQL"
  E2E_DATABASE_URL="$DATABASE_URL" cargo test -p caduceus-tests --test e2e --no-fail-fast
fi

log "benchmark smoke (seconds, no thresholds; the full run is in BENCHMARKS.md)"
CADUCEUS_BIN="$ROOT/target/debug/caduceus" "$ROOT/target/debug/caduceus-bench" smoke

log "load test, reduced (2 rounds of 200 streams x 10 s, 50 runs with approvals; fails on any error or a leak)"
CADUCEUS_BIN="$ROOT/target/debug/caduceus" "$ROOT/target/debug/caduceus-bench" load \
  --streams 200 --secs 10 --runs 50

log "Python client tests against the real binary"
CADUCEUS_BIN="$ROOT/target/debug/caduceus" python3 -m pytest -q tests/python

if [ "${SKIP_FUZZ:-0}" != "1" ]; then
  log "fuzzing: every cargo-fuzz target for ${FUZZ_SECONDS:-60} s (SKIP_FUZZ=1 skips)"
  bash tests/fuzz/run.sh "${FUZZ_SECONDS:-60}"
fi
