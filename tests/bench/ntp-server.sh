#!/usr/bin/env bash
# make bench-ntp-server: pbxnet-ntpd vs chronyd 4.3 (-x) vs a do-nothing
# responder, plain and MD5, in the same run. Two private network namespaces
# joined by a veth pair (192.168.92.246 server, 192.168.92.10 generator);
# server pinned to CPU 0, generator to CPU 1. Nothing leaves the namespaces.
# Knobs: RATES (req/s list), STEP (s per step), NTPD_WORKERS (default 1),
# RERUNS (reruns of a step disturbed by other processes, default 2),
# COALESCE_US (the coalescing variant's wait, default 100), SENDTO=1 (also
# run pbxnet-ntpd with send-batching = false), TRACE=PREFIX (per-request
# latency files from the generator), PBXNET_NTPD (the pbxnet-ntpd binary
# under test, default target/release/pbxnet-ntpd: to compare two builds in
# one sitting, e.g. before and after a refactoring).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "bench-ntp-server: SKIPPED (needs root for network namespaces)"; exit 0; }
command -v chronyd >/dev/null || { echo "bench-ntp-server: chronyd missing (make deps)"; exit 1; }

RATES=${RATES:-50000,100000,130000,150000,170000,200000}
STEP=${STEP:-3}
WORKERS=${NTPD_WORKERS:-1}
RERUNS=${RERUNS:-2}
COALESCE_US=${COALESCE_US:-100}
SENDTO=${SENDTO:-0}
TRACE=${TRACE:-}
MD5_HEX=5a8c0d3f9e2b4a61c7d8e9f0a1b2c3d4

cargo build --release -q -p pbxnet-ntp --bin pbxnet-ntpd --example ntp-loadgen
NTPD=${PBXNET_NTPD:-$PWD/target/release/pbxnet-ntpd}
GEN=$PWD/target/release/examples/ntp-loadgen

S=pbxbench-s$$
C=pbxbench-c$$
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$S" 2>/dev/null || true
  ip netns del "$C" 2>/dev/null || true
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ip netns add "$S"
ip netns add "$C"
ip link add veth0 netns "$S" type veth peer name veth0 netns "$C"
ip -n "$S" addr add 192.168.92.246/24 dev veth0
ip -n "$C" addr add 192.168.92.10/24 dev veth0
for n in "$S" "$C"; do ip -n "$n" link set lo up; ip -n "$n" link set veth0 up; done

SRV="ip netns exec $S setpriv --bounding-set -sys_time -- taskset -c 0"
CLI="ip netns exec $C taskset -c 1"
TARGET=192.168.92.246:123
OUT=$TMP/results.txt
: > "$OUT"

stop() { kill "$1" 2>/dev/null || true; while kill -0 "$1" 2>/dev/null; do sleep 0.05; done; }

load() { # label pid [md5]
  local label=$1 pid=$2 extra=()
  [ "${3:-}" = md5 ] && extra=(--md5 "1:$MD5_HEX")
  [ -n "$TRACE" ] && extra+=(--trace "$TRACE")
  $CLI "$GEN" run --target "$TARGET" --rates "$RATES" --step-secs "$STEP" --server-pid "$pid" --label "$label" --reruns "$RERUNS" "${extra[@]}" | tee -a "$OUT"
}

# --- calibration: do-nothing responders. Plain: one recvfrom + sendto per
# request. Batched: pbxnet-ntpd's system-call path (blocking recvmmsg of up
# to 64 with SO_TIMESTAMPNS, one sendmmsg, its 4 MiB receive buffer), without
# and with its coalescing.
calib() { # label respond-args...
  local label=$1 P; shift
  $SRV "$GEN" respond --bind "$TARGET" --max-secs 600 "$@" >/dev/null &
  P=$!; PIDS+=("$P")
  $CLI "$GEN" probe --target "$TARGET"
  load "$label" "$P"
  stop "$P"
}
calib calibration
calib calibration-batched --batch 64 --rcvbuf 4194304
calib calibration-batched-hold --batch 64 --rcvbuf 4194304 --hold-us "$COALESCE_US"

# --- pbxnet-ntpd
pbx_run() { # label-suffix send-batching coalesce-us
  rm -rf "$TMP/pbx"; mkdir -p "$TMP/pbx"
  cat > "$TMP/pbx/site.toml" <<EOT
runtime-directory = "$TMP/pbx/run"
state-directory = "$TMP/pbx/state"
EOT
  cat > "$TMP/pbx/ntp.toml" <<EOT
[server]
listen = ["$TARGET"]
workers = $WORKERS
allow = ["192.168.92.0/24"]
send-batching = $2
coalesce-us = $3
[server.rate-limit]
enabled = false
[keys]
file = "ntp.keys"
trusted = [1]
[local]
enabled = true
stratum = 10
EOT
  echo "1 MD5 HEX:$MD5_HEX" > "$TMP/pbx/ntp.keys"; chmod 600 "$TMP/pbx/ntp.keys"
  local P
  P=$($GEN spawn-ready -- $SRV "$NTPD" --config "$TMP/pbx" run 2>>"$TMP/pbx.log")
  PIDS+=("$P")
  load "pbxnet-ntpd$1" "$P"
  load "pbxnet-ntpd$1-md5" "$P" md5
  stop "$P"
}
pbx_run "" true 0
pbx_run "-coalesce" true "$COALESCE_US"
[ "$SENDTO" = 1 ] && pbx_run "-sendto" false 0

# --- chronyd 4.3, -x, same allow rule, no ratelimit directive (= off)
mkdir -p "$TMP/chrony"; chmod 700 "$TMP/chrony"
echo "1 MD5 HEX:$MD5_HEX" > "$TMP/chrony/chrony.keys"; chmod 600 "$TMP/chrony/chrony.keys"
cat > "$TMP/chrony/chrony.conf" <<EOT
local stratum 10
allow 192.168.92.0/24
keyfile $TMP/chrony/chrony.keys
cmdport 0
bindcmdaddress /
pidfile $TMP/chrony/chronyd.pid
EOT
$SRV chronyd -x -d -u root -f "$TMP/chrony/chrony.conf" >"$TMP/chrony/log" 2>&1 &
P=$!; PIDS+=("$P")
$CLI "$GEN" probe --target "$TARGET"
load chronyd "$P"
load chronyd-md5 "$P" md5
stop "$P"

echo
echo "== bench-ntp-server summary ($(nproc) CPUs; server on CPU 0, generator on CPU 1; steps of ${STEP}s at $RATES req/s; coalescing variants wait ${COALESCE_US} µs)"
python3 - "$OUT" <<'EOT'
import sys,re
rows={}
for line in open(sys.argv[1]):
    if line.startswith("SUMMARY"):
        d=dict(kv.split("=",1) for kv in line.split()[1:])
        rows[d["label"]]=d
hdr=("server","max rate <0.1% loss","p50 us","p99 us","p99 all us","CPU us/req","RSS MiB","at rate")
print("| "+" | ".join(hdr)+" |")
print("|"+"---|"*len(hdr))
order=["calibration","calibration-batched","calibration-batched-hold",
       "pbxnet-ntpd","pbxnet-ntpd-coalesce","pbxnet-ntpd-sendto","chronyd",
       "pbxnet-ntpd-md5","pbxnet-ntpd-coalesce-md5","pbxnet-ntpd-sendto-md5","chronyd-md5"]
for k in order:
    if k in rows:
        d=rows[k]
        print(f"| {k} | {d['max_rate_ok']} | {d['p50_us']} | {d['p99_us']} | {d['p99_all_us']} | {d['cpu_us_per_req']} | {int(d['rss_kib'])/1024:.1f} | {d['at_rate']} |")
def ratio(a,b,f):
    try: return float(rows[a][f])/float(rows[b][f])
    except (KeyError, ZeroDivisionError, ValueError): return float('nan')
print()
pairs={"plain":("pbxnet-ntpd","chronyd"),"MD5":("pbxnet-ntpd-md5","chronyd-md5"),
       "plain, coalescing":("pbxnet-ntpd-coalesce","chronyd"),"MD5, coalescing":("pbxnet-ntpd-coalesce-md5","chronyd-md5"),
       "plain, sendto":("pbxnet-ntpd-sendto","chronyd"),"MD5, sendto":("pbxnet-ntpd-sendto-md5","chronyd-md5"),
       "floor: calibration-batched":("calibration-batched","chronyd"),"floor: calibration-batched-hold":("calibration-batched-hold","chronyd")}
for mode,(a,b) in pairs.items():
    if a in rows:
        print(f"{mode}: {a}/{b} rate {ratio(a,b,'max_rate_ok'):.2f}x, CPU/req {ratio(a,b,'cpu_us_per_req'):.2f}x, p99 {ratio(a,b,'p99_us'):.2f}x, p99 all {ratio(a,b,'p99_all_us'):.2f}x, RSS {ratio(a,b,'rss_kib'):.2f}x")
EOT
