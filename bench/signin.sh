#!/usr/bin/env bash
# Load test of central sign-in against `egov serve --with-demo-data`
# (release build, SQLite): complete password sign-ins beside the argon2id
# hash rate measured in the same run, refresh_token and client_credentials
# grants, discovery and JWKS. Medians of RUNS runs.
# Usage: bench/signin.sh            (needs wrk: apt-get install wrk)
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS="${RUNS:-3}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-10}"
PORT=8098
base="http://127.0.0.1:$PORT"

cargo build --release -q -p egov --bins --examples
bin=target/release/egov
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/egov.toml" <<TOML
[server]
listen = "127.0.0.1:$PORT"
public_url = "$base"
[database]
url = "sqlite://$work/bench.db"
[security]
secret_key = "benchmark-secret-key-0123456789abcdef"
[log]
level = "warn"
TOML
"$bin" --config "$work/egov.toml" serve --with-demo-data & server=$!
for _ in $(seq 200); do curl -sf "$base/readyz" >/dev/null && break; sleep 0.1; done
secret=$("$bin" --config "$work/egov.toml" id client add --client-id bench-machine --name Bench \
  --grant-type client_credentials --scope openid | sed -n 's/^client_secret: //p')

median() { sort -n | sed -n "$(( (RUNS + 1) / 2 ))p"; }

wrk_rps() {
  local out
  out=$(wrk -t2 -c64 -d"${SECONDS_PER_RUN}s" --latency "$@")
  python3 - "$out" <<'PY'
import re, sys
text = sys.argv[1]
if re.search(r"Non-2xx or 3xx responses: (\d+)", text):
    sys.exit("wrk saw error responses")
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
print(f"{rps:.0f}")
PY
}

cat > "$work/client_credentials.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = "Basic $(printf 'bench-machine:%s' "$secret" | base64 -w0)"
wrk.body = "grant_type=client_credentials&scope=openid"
LUA

echo "| measure | median |"
echo "|---|---|"
signin=$(for _ in $(seq "$RUNS"); do target/release/examples/signin_load "$base" "$SECONDS_PER_RUN" 8; done)
echo "$signin" >&2
echo "| argon2id hashes/s (OWASP parameters, one per core) | $(echo "$signin" | sed -n 's/.*argon2id_hashes_per_s=\([0-9.]*\).*/\1/p' | median) |"
echo "| complete password sign-ins/s (authorize, form, code exchange) | $(echo "$signin" | sed -n 's/.*sign_ins_per_s=\([0-9.]*\).*/\1/p' | median) |"
echo "| sign-ins ÷ hashes | $(echo "$signin" | sed -n 's/.*ratio=\([0-9.]*\).*/\1/p' | median) |"
refresh_rps() {
  # A fresh pool of 128 refresh tokens per run (two per connection), rotated by wrk.
  target/release/examples/signin_load "$base" 0 128 tokens > "$work/tokens.txt"
  TOKENS="$work/tokens.txt" THREADS=2 wrk_rps -s bench/refresh.lua "$base/oauth/token"
}
echo "| refresh_token grants/s (wrk, 64 connections, each token used once) | $(for _ in $(seq "$RUNS"); do refresh_rps; done | median) |"
echo "| client_credentials grants/s (wrk, 64 connections) | $(for _ in $(seq "$RUNS"); do wrk_rps -s "$work/client_credentials.lua" "$base/oauth/token"; done | median) |"
echo "| discovery requests/s | $(for _ in $(seq "$RUNS"); do wrk_rps "$base/.well-known/openid-configuration"; done | median) |"
echo "| JWKS requests/s | $(for _ in $(seq "$RUNS"); do wrk_rps "$base/oauth/jwks"; done | median) |"

# 100,000 live sessions (with a typical user agent and address each), then
# the same sign-in measurement again.
echo "| bytes per session in the database (100,000 sessions added) | $(python3 bench/fill_sessions.py "$work/bench.db" 100000 | sed -n 's/bytes_per_session=//p') |"
signin100k=$(for _ in $(seq "$RUNS"); do target/release/examples/signin_load "$base" "$SECONDS_PER_RUN" 8; done)
echo "$signin100k" >&2
echo "| complete password sign-ins/s with 100,000 more sessions | $(echo "$signin100k" | sed -n 's/.*sign_ins_per_s=\([0-9.]*\).*/\1/p' | median) |"
echo "| sign-ins ÷ hashes with 100,000 more sessions | $(echo "$signin100k" | sed -n 's/.*ratio=\([0-9.]*\).*/\1/p' | median) |"

# 1,000 sign-ins at once: argon2id runs one hash per core and queues the
# rest, so the server's peak memory stays bounded.
rss_before=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$server/status")
burst=$(target/release/examples/signin_load "$base" "$SECONDS_PER_RUN" 1000)
echo "$burst" >&2
rss_after=$(sed -n 's/^VmHWM:[[:space:]]*\([0-9]*\) kB/\1/p' "/proc/$server/status")
echo "| 1,000 concurrent sign-ins: sign-ins/s, failures | $(echo "$burst" | sed -n 's/.*sign_ins_per_s=\([0-9.]*\).*failed=\([0-9]*\).*/\1, \2/p') |"
echo "| server peak memory before → after the 1,000-sign-in burst (MiB) | $(( rss_before / 1024 )) → $(( rss_after / 1024 )) |"
kill $server; wait $server 2>/dev/null || true
