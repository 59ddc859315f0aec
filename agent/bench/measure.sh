#!/usr/bin/env bash
# Measures remotegpu-agent's CPU and memory use against the DESIGN §8 budget:
# < 1% of one core and < 20 MiB RSS at a 10 s sampling interval.
#
# Usage: agent/bench/measure.sh [SECONDS] [INTERVAL]        (defaults: 120 10)
#
# Environment:
#   AGENT_BIN   agent binary (default: target/release/remotegpu-agent, built when missing)
#   COLLECTOR   fake (default, with agent/examples/fake-gpus.json) or nvml
#   SINK        python (default when python3 exists): a tiny local HTTP server that accepts
#               every call, so the agent does its full work (collect, serialise, push);
#               none: the agent points at a closed port and only collects, buffers and retries.
#
# Prints the agent's CPU use (user+system time over the measured window, in % of one core,
# from /proc/<pid>/stat) and its peak and current resident memory (VmHWM, VmRSS from
# /proc/<pid>/status). Linux only. Nothing here is asserted by the test suite.
set -euo pipefail

duration=${1:-120}
interval=${2:-10}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${AGENT_BIN:-$root/target/release/remotegpu-agent}
collector=${COLLECTOR:-fake}
if command -v python3 >/dev/null 2>&1; then sink=${SINK:-python}; else sink=${SINK:-none}; fi

if [ ! -x "$bin" ]; then
    echo "building $bin ..." >&2
    (cd "$root" && cargo build --release -p remotegpu-agent >&2)
fi

work=$(mktemp -d)
sink_pid=""
agent_pid=""
cleanup() {
    [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null || true
    [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

if [ "$sink" = python ]; then
    python3 - "$work/port" <<'PY' &
import http.server, json, sys

class Sink(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        query = body.get("query", "")
        if "agentReport" in query:
            data = {"agentReport": {"hostId": "1"}}
        elif "reportMetrics" in query:
            n = len(body["variables"]["batch"]["hostSamples"])
            data = {"reportMetrics": {"accepted": n, "duplicate": False}}
        else:
            data = {"agentHeartbeat": "1970-01-01T00:00:00Z"}
        out = json.dumps({"data": data}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def log_message(self, *args):
        pass

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Sink)
with open(sys.argv[1], "w") as f:
    f.write(str(server.server_address[1]))
server.serve_forever()
PY
    sink_pid=$!
    for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
    url="http://127.0.0.1:$(cat "$work/port")"
else
    # Port 1 (tcpmux) is closed on practically every machine: every push fails fast.
    url="http://127.0.0.1:1"
fi

args=(--server-url "$url" --token bench-token --interval "$interval"
      --data-dir "$work/data" --collector "$collector")
if [ "$collector" = fake ]; then args+=(--fake-gpus "$root/agent/examples/fake-gpus.json"); fi

RUST_LOG=${RUST_LOG:-warn} "$bin" "${args[@]}" 2>"$work/agent.log" &
agent_pid=$!

cpu_ticks() { # utime + stime of the whole process (all threads), fields 14 and 15
    local rest
    rest=$(sed 's/^.*) //' "/proc/$agent_pid/stat")
    echo "$rest" | awk '{ print $12 + $13 }'
}
status_kib() { awk -v k="$1:" '$1 == k { print $2 }' "/proc/$agent_pid/status"; }

# Skip start-up (NVML load, first description) and measure the steady state.
sleep 2
kill -0 "$agent_pid" 2>/dev/null || { echo "agent exited early:" >&2; cat "$work/agent.log" >&2; exit 1; }
hz=$(getconf CLK_TCK)
t0=$(cpu_ticks)
start=$(date +%s.%N)
sleep "$duration"
t1=$(cpu_ticks)
end=$(date +%s.%N)
hwm=$(status_kib VmHWM)
rss=$(status_kib VmRSS)
threads=$(status_kib Threads)
kill -TERM "$agent_pid"
wait "$agent_pid" || true
agent_pid=""

awk -v t0="$t0" -v t1="$t1" -v hz="$hz" -v s="$start" -v e="$end" -v hwm="$hwm" -v rss="$rss" \
    -v th="$threads" -v iv="$interval" -v col="$collector" -v sink="$sink" '
BEGIN {
    wall = e - s
    cpu = (t1 - t0) / hz / wall * 100
    printf "agent: collector=%s sink=%s interval=%ss measured=%.0fs threads=%s\n", col, sink, iv, wall, th
    printf "cpu: %.3f%% of one core (%.2fs of CPU)\n", cpu, (t1 - t0) / hz
    printf "rss: peak %.1f MiB, now %.1f MiB\n", hwm / 1024, rss / 1024
    ok = (cpu < 1.0 && hwm < 20 * 1024)
    printf "budget (< 1%% of one core, < 20 MiB RSS): %s\n", ok ? "OK" : "OVER"
}'
if grep -qE "ERROR|WARN" "$work/agent.log" && [ "$sink" = python ]; then
    echo "agent log:" >&2
    tail -5 "$work/agent.log" >&2
fi
