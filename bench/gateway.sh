#!/usr/bin/env bash
# Performance targets of the integration gateway and the base registries
# (issue 5), release build, SQLite, everything on this machine:
# 1. Synchronous exchanges: a hub and two instances A and B, each a
#    separate `egov serve`, federated with the operators' commands as
#    crates/egov/tests/app/federation.rs does. B serves its own /healthz as
#    a service; A's client calls it through A's and B's gateways (signed,
#    verified and logged on both sides, mutual TLS between them). The
#    load generator measures, in one run, B's /healthz called directly,
#    the same through both gateways, and the raw Ed25519 sign+verify rate.
# 2. Registry reads: one instance with the demo data; the import of
#    PERSONS generated persons is timed, then reads of random imported
#    persons through its gateway.
# 3. Asynchronous delivery: MESSAGES events queued in A's outbox (its
#    database), delivered by A's job worker through both gateways into a
#    room of B; the time until every receipt exists.
# Medians of RUNS runs. Usage: bench/gateway.sh; PARTS="registry" (or any
# of "exchange outbox registry") runs only those parts.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
CONCURRENCY="${CONCURRENCY:-8}"
PERSONS="${PERSONS:-1000000}"
MESSAGES="${MESSAGES:-20000}"
MAX_DELIVERY_SECONDS="${MAX_DELIVERY_SECONDS:-120}"
PARTS="${PARTS:-exchange outbox registry}"

MEMBER_A=VN/GOV/000.00.00.H26
ONESTOP_A=$MEMBER_A/onestop
MEMBER_B=VN/GOV/000.05.00.H24
BENCH_B=$MEMBER_B/bench
HEALTH_B=$BENCH_B/health
ROOM_B=$MEMBER_B/events
# The demo's one-stop subsystem and population registry (one instance).
ONESTOP_DEMO=VN/GOV/000.00.00.H24/onestop
POPULATION_DEMO=VN/GOV/000.05.00.H24/registry/population

cargo build --release -q -p egov --bins --examples
out="${CARGO_TARGET_DIR:-target}/release"
bin=$out/egov
load=$out/examples/gateway_load
work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }
field() { sed -n "s/.*$1=\([0-9.]*\).*/\1/p"; }

configure() { # $1: name, $2: port, $3: federation port, $4: jobs enabled
  cat > "$work/$1.toml" <<TOML
[server]
listen = "127.0.0.1:$2"
public_url = "http://127.0.0.1:$2"
[database]
url = "sqlite://$work/$1.db"
[security]
secret_key = "gateway-benchmark-secret-key-$1-0123456789"
[log]
level = "warn"
[jobs]
enabled = $4
poll_interval_ms = 500
[federation]
listen = "127.0.0.1:$3"
refresh_secs = 5
configuration_max_age_secs = 120
TOML
}
egov() { local name=$1; shift; "$bin" --config "$work/$name.toml" "$@"; }
serve() { # $1: name, $2: port, then extra arguments
  local name=$1 port=$2; shift 2
  "$bin" --config "$work/$name.toml" serve "$@" > "$work/$name.log" 2>&1 &
  pids+=($!)
  eval "pid_$name=$!"
  for _ in $(seq 600); do curl -sf "http://127.0.0.1:$port/readyz" >/dev/null && return; sleep 0.1; done
  echo "$name did not start" >&2; cat "$work/$name.log" >&2; exit 1
}

HUB=8191 A=8192 A_TLS=8193 B=8194 B_TLS=8195 R=8196 R_TLS=8197
configure hub $HUB 8190 false
configure a $A $A_TLS true
configure b $B $B_TLS false
configure r $R $R_TLS false

if [[ " $PARTS " == *" exchange "* || " $PARTS " == *" outbox "* ]]; then
# The hub, its two members and a token for each one's gateway.
egov hub hub init --instance VN >/dev/null
egov hub hub member add --id $MEMBER_A --name "UBND tỉnh Hải Dương" >/dev/null
egov hub hub member add --id $MEMBER_B --name "Công an tỉnh Bắc Ninh" >/dev/null
token_a=$(egov hub hub token --gateway $MEMBER_A/gw1 | tr -d '[:space:]')
token_b=$(egov hub hub token --gateway $MEMBER_B/gw1 | tr -d '[:space:]')
serve hub $HUB

# B joins, serves its own /healthz and a room, both open to A's client.
egov b gateway join --hub "http://127.0.0.1:$HUB" --token "$token_b" --address "https://127.0.0.1:$B_TLS" >/dev/null
serve b $B
egov b gateway subsystem add --id $BENCH_B --name "Benchmark" >/dev/null
egov b gateway service add --id $HEALTH_B --target "http://127.0.0.1:$B" >/dev/null
egov b gateway grant --service $HEALTH_B --client $ONESTOP_A >/dev/null
egov b gateway subsystem add --id $ROOM_B --name "Sự kiện liên thông" >/dev/null
egov b gateway room --id $ROOM_B --event-type dossierStatus >/dev/null
egov b gateway grant --service $ROOM_B/pub --client $ONESTOP_A >/dev/null
egov b gateway refresh >/dev/null

# A: its client subsystem, joined; then wait until it reaches B.
egov a gateway subsystem add --id $ONESTOP_A --name "Một cửa điện tử Hải Dương" >/dev/null
egov a gateway join --hub "http://127.0.0.1:$HUB" --token "$token_a" --address "https://127.0.0.1:$A_TLS" >/dev/null
serve a $A
through="http://127.0.0.1:$A/r1/$HEALTH_B/healthz"
for attempt in $(seq 120); do
  curl -sf -H "X-Road-Client: $ONESTOP_A" "$through" >/dev/null && break
  [ "$attempt" = 120 ] && { echo "A never reached B" >&2; exit 1; }
  sleep 0.5
done

fi

if [[ " $PARTS " == *" exchange "* ]]; then
echo "## 1. Synchronous exchanges ($SECONDS_PER_RUN s, $CONCURRENCY clients)"
lines=""
for _ in $(seq "$RUNS"); do
  lines+="$($load exchange "http://127.0.0.1:$B/healthz" "$through" $ONESTOP_A "$SECONDS_PER_RUN" "$CONCURRENCY")"$'\n'
done
echo "$lines" >&2
for label in direct gateway; do
  for measure in requests_per_s p50_ms p99_ms max_ms; do
    echo "| $label | $measure | $(echo "$lines" | grep "^$label " | field $measure | tr '\n' ' ')| $(echo "$lines" | grep "^$label " | field $measure | median) |"
  done
done
echo "| ed25519 | pairs/s one core | $(echo "$lines" | field sign_verify_pairs_per_s_one_core | tr '\n' ' ')| $(echo "$lines" | field sign_verify_pairs_per_s_one_core | median) |"
for name in a b; do
  eval "pid=\$pid_$name"
  echo "server $name: utime+stime ticks $(awk '{print $14 + $15}' "/proc/$pid/stat")"
done

fi

if [[ " $PARTS " == *" outbox "* ]]; then
echo "## 3. Asynchronous delivery ($MESSAGES messages)"
lines=""
for _ in $(seq "$RUNS"); do
  lines+="$($load outbox "sqlite://$work/a.db" $ONESTOP_A $ROOM_B "$MESSAGES" "$MAX_DELIVERY_SECONDS")"$'\n'
done
echo "$lines" >&2
echo "| outbox | messages/s | $(echo "$lines" | field messages_per_s | tr '\n' ' ')| $(echo "$lines" | field messages_per_s | median) |"
for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
pids=()
fi

[[ " $PARTS " == *" registry "* ]] || exit 0
echo "## 2. Registry ($PERSONS persons)"
serve r $R --with-demo-data
start=$(date +%s.%N)
egov r registry generate --persons "$PERSONS" > "$work/persons.csv"
generated=$(date +%s.%N)
egov r registry import --dataset population "$work/persons.csv" > "$work/import.log"
imported=$(date +%s.%N)
echo "| generate | s | $(echo "$generated - $start" | bc) |"
echo "| import | s | $(echo "$imported - $generated" | bc) |"
# PERF_OUT=FILE samples the server for 5 s of the first run (perf record -g).
[ -n "${PERF_OUT:-}" ] && { (sleep 1; perf record -q -g -p "$pid_r" -o "$PERF_OUT" -- sleep 5 >/dev/null 2>&1) & }
lines=""
for _ in $(seq "$RUNS"); do
  lines+="$($load registry "http://127.0.0.1:$R/r1/$POPULATION_DEMO/read" $ONESTOP_DEMO "$work/persons.csv" "$SECONDS_PER_RUN" "$CONCURRENCY")"$'\n'
done
echo "$lines" >&2
for measure in requests_per_s p50_ms p99_ms; do
  echo "| registry read | $measure | $(echo "$lines" | field $measure | tr '\n' ' ')| $(echo "$lines" | field $measure | median) |"
done
