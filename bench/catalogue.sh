#!/usr/bin/env bash
# Load test of the catalogue against `egov serve` (release build), with
# 1,000 procedures, on SQLite and PostgreSQL, beside a bare axum hello-world
# measured in the same run as the ceiling. Each figure is the median of
# RUNS runs of wrk (2 threads, 64 connections, DURATION each).
# Usage: bench/catalogue.sh            (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
DURATION="${DURATION:-10s}"
PG_ADMIN_URL="${PG_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/test}"
PORT=8098
HELLO_PORT=8099

cargo build --release -q -p egov --bins --examples
bin=target/release/egov
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
python3 bench/make_procedures.py 1000 > "$work/procedures.jsonl"

# wrk's summary → "requests_per_second p50_ms p99_ms"
measure() {
  local url=$1 out rps
  for _ in $(seq "$RUNS"); do
    out=$(wrk -t2 -c64 -d"$DURATION" --latency "$url")
    python3 - "$out" <<'PY'
import re, sys
text = sys.argv[1]
def ms(label):
    m = re.search(rf"^\s*{label}%\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if errors:
    sys.exit(f"wrk saw {errors.group(1)} error responses")
print(f"{rps:.0f} {ms(50):.2f} {ms(99):.2f}")
PY
  done | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"
}

wait_ready() {
  for _ in $(seq 100); do curl -sf "$1" >/dev/null && return 0; sleep 0.1; done
  echo "server did not become ready: $1" >&2; return 1
}

row() { printf '| %s | %s | %s | %s | %s |\n' "$1" "$2" $3; }

echo "| engine | route | req/s | p50 ms | p99 ms |"
echo "|---|---|---|---|---|"

target/release/examples/hello "127.0.0.1:$HELLO_PORT" & hello=$!
wait_ready "http://127.0.0.1:$HELLO_PORT/"
row "—" "bare axum hello-world (ceiling)" "$(measure "http://127.0.0.1:$HELLO_PORT/")"
kill $hello; wait $hello 2>/dev/null || true

for engine in sqlite postgres; do
  if [ "$engine" = sqlite ]; then
    url="sqlite://$work/bench.db"
  else
    name="egov_bench_$$"
    psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name" >/dev/null
    url="${PG_ADMIN_URL%/*}/$name"
  fi
  cat > "$work/$engine.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
[database]
url = "$url"
max_connections = 16
[security]
secret_key = "benchmark-secret-key-0123456789abcdef"
[log]
level = "warn"
TOML
  "$bin" --config "$work/$engine.toml" serve --with-demo-data & server=$!
  wait_ready "http://127.0.0.1:$PORT/readyz"
  "$bin" --config "$work/$engine.toml" import procedures "$work/procedures.jsonl" >/dev/null
  sleep 3 # the running node notices the new catalogue revision within 2 s
  total=$(curl -sf "http://127.0.0.1:$PORT/api/v1/procedures" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  [ "$total" -ge 1000 ] || { echo "catalogue holds $total procedures" >&2; exit 1; }
  row "$engine" "GET /api/v1/procedures?q=cap+giay+phep" "$(measure "http://127.0.0.1:$PORT/api/v1/procedures?q=cap+giay+phep")"
  row "$engine" "GET /api/v1/procedures/{code}" "$(measure "http://127.0.0.1:$PORT/api/v1/procedures/8.000123")"
  row "$engine" "GET /procedures?q=cap+giay+phep (HTML)" "$(measure "http://127.0.0.1:$PORT/procedures?q=cap+giay+phep")"
  row "$engine" "GET /healthz (whole middleware stack)" "$(measure "http://127.0.0.1:$PORT/healthz")"
  kill $server; wait $server 2>/dev/null || true
  [ "$engine" = postgres ] && psql "$PG_ADMIN_URL" -qc "DROP DATABASE IF EXISTS $name" >/dev/null
done
