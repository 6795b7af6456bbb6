#!/usr/bin/env bash
# Load test of the one-stop shop against `egov serve --with-demo-data`
# (release build): complete dossiers per second through the JSON API
# (submit with one 100 KB attachment, receive, review, approve, sign,
# return), on SQLite and on PostgreSQL, the load generator on the same
# machine; then the back office with 1,000,000 dossiers (queue page,
# a year's statistics); then result rendering and signing rates.
# Background jobs (notices, result rendering) are off during the dossier
# load and measured on their own. Medians of RUNS runs.
# Usage: bench/dossiers.sh
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-15}"
CONCURRENCY="${CONCURRENCY:-16}"
SCALE="${SCALE:-1000000}"
PG="${EGOV_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
PORT=8097
base="http://127.0.0.1:$PORT"

cargo build --release -q -p egov --bins --examples
cargo build --release -q -p egov-documents --examples
out="${CARGO_TARGET_DIR:-target}/release"
bin=$out/egov
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }

serve() { # $1: database URL
  cat > "$work/egov.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
public_url = "$base"
[database]
url = "$1"
[security]
secret_key = "benchmark-secret-key-0123456789abcdef"
[log]
level = "warn"
[jobs]
enabled = false
TOML
  "$bin" --config "$work/egov.toml" serve --with-demo-data & server=$!
  for _ in $(seq 300); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done
}

load() { # $1: label, $2: database URL maker
  local lines=""
  for run in $(seq "$RUNS"); do
    serve "$($2 "$run")"
    lines+="$($out/examples/dossier_load "$base" "$SECONDS_PER_RUN" "$CONCURRENCY")"$'\n'
    kill "$server"; wait "$server" 2>/dev/null || true
  done
  echo "$lines" >&2
  echo "| $1: complete dossiers/s | $(echo "$lines" | sed -n 's/.*dossiers_per_s=\([0-9.]*\).*/\1/p' | median) |"
  echo "| $1: one dossier's six requests, p99 ms | $(echo "$lines" | sed -n 's/.*p99_ms=\([0-9.]*\).*/\1/p' | median) |"
}

sqlite_url() { echo "sqlite://$work/bench-$1.db"; }
pg_url() {
  psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS egov_bench_$1" -qc "CREATE DATABASE egov_bench_$1" >/dev/null
  echo "$PG/egov_bench_$1"
}

echo "| measure | median |"
echo "|---|---|"
load "SQLite" sqlite_url
load "PostgreSQL" pg_url

scale=$($out/examples/dossier_scale "sqlite://$work/scale.db" "$SCALE")
echo "$scale" >&2
echo "| SQLite, $SCALE dossiers: queue page p50 / p99 ms | $(echo "$scale" | sed -n 's/.*queue_p50_ms=\([0-9.]*\).*queue_p99_ms=\([0-9.]*\).*/\1 \/ \2/p') |"
echo "| SQLite, $SCALE dossiers: a province's statistics for a year, ms | $(echo "$scale" | sed -n 's/.*statistics_year_median_ms=\([0-9]*\).*/\1/p') |"
psql "$PG/postgres" -qc "DROP DATABASE IF EXISTS egov_bench_scale" -qc "CREATE DATABASE egov_bench_scale" >/dev/null
scale=$($out/examples/dossier_scale "$PG/egov_bench_scale" "$SCALE")
echo "$scale" >&2
echo "| PostgreSQL, $SCALE dossiers: queue page p50 / p99 ms | $(echo "$scale" | sed -n 's/.*queue_p50_ms=\([0-9.]*\).*queue_p99_ms=\([0-9.]*\).*/\1 \/ \2/p') |"
echo "| PostgreSQL, $SCALE dossiers: a province's statistics for a year, ms | $(echo "$scale" | sed -n 's/.*statistics_year_median_ms=\([0-9]*\).*/\1/p') |"

rates=$($out/examples/rate 500)
echo "$rates" >&2
echo "| result PDF rendering, documents/s (one core) | $(echo "$rates" | sed -n 's/^rendering: *\([0-9]*\).*/\1/p') |"
echo "| result signing (ES256), documents/s (one core) | $(echo "$rates" | sed -n 's/^signing: *\([0-9]*\).*/\1/p') |"
