#!/usr/bin/env bash
# make bench-ntp-client: accuracy of pbxnet-ntpd's client (simulated clock
# with a known true offset) and chronyd 4.3 (-x, no clock control) polling the
# same server through the same userspace delay link, 7 ms ± 1 ms out and
# 5 ms ± 1 ms back (uniform). The path asymmetry alone explains 1 ms of error.
# Namespaces: hub (bridge), server S .246 (pbxnet-ntpd, local stratum 1),
# relay R .200 (SCHED_FIFO), pbxnet client C1 .11, chronyd C2 .12.
# Knobs: DURATION (s, default 600), WARMUP (s, default 120), POLL (exponent, default 0).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "$(id -u)" = 0 ] || { echo "bench-ntp-client: SKIPPED (needs root for network namespaces)"; exit 0; }
DURATION=${DURATION:-600}
WARMUP=${WARMUP:-120}
POLL=${POLL:-0}

cargo build --release -q -p pbxnet-ntp --bin pbxnet-ntpd --example ntp-loadgen
NTPD=$PWD/target/release/pbxnet-ntpd
GEN=$PWD/target/release/examples/ntp-loadgen

P=pbxbc$$
H=${P}h; S=${P}s; R=${P}r; C1=${P}a; C2=${P}b
TMP=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  for n in $S $R $C1 $C2 $H; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

ip netns add "$H"
ip -n "$H" link add br0 type bridge
ip -n "$H" link set br0 up
i=0
for pair in "$S:192.168.92.246" "$R:192.168.92.200" "$C1:192.168.92.11" "$C2:192.168.92.12"; do
  ns=${pair%%:*}; addr=${pair#*:}; i=$((i+1))
  ip netns add "$ns"
  ip link add "v$i" netns "$H" type veth peer name eth0 netns "$ns"
  ip -n "$H" link set "v$i" master br0 up
  ip -n "$ns" addr add "$addr/24" dev eth0
  ip -n "$ns" link set eth0 up
  ip -n "$ns" link set lo up
done
NOCAP="setpriv --bounding-set -sys_time --"

site() { mkdir -p "$1"; printf 'runtime-directory = "%s/run"\nstate-directory = "%s/state"\n' "$1" "$1" > "$1/site.toml"; }

# server: pbxnet-ntpd serving the real clock at stratum 1
site "$TMP/s"
cat > "$TMP/s/ntp.toml" <<EOT
[server]
listen = ["192.168.92.246:123"]
[server.rate-limit]
enabled = false
[local]
enabled = true
stratum = 1
EOT
PS=$($GEN spawn-ready -- ip netns exec "$S" $NOCAP "$NTPD" --config "$TMP/s" run 2>>"$TMP/s.log")
PIDS+=("$PS")

# relay
ip netns exec "$R" $NOCAP chrt -f 50 "$GEN" relay --listen 192.168.92.200:123 --upstream 192.168.92.246:123 \
  --out-ms 7 --back-ms 5 --jitter-ms 1 --max-secs $((DURATION + WARMUP + 60)) >/dev/null &
PIDS+=("$!")
ip netns exec "$C1" "$GEN" probe --target 192.168.92.200:123

# pbxnet client with a simulated clock 3 ms ahead and 10 ppm fast
site "$TMP/c1"
cat > "$TMP/c1/ntp.toml" <<EOT
[server]
listen = ["127.0.0.1:1123"]
[[source]]
address = "192.168.92.200"
minpoll = $POLL
maxpoll = $POLL
[clock]
mode = "simulated"
sim-offset = 0.003
sim-frequency-ppm = 10.0
EOT
P1=$($GEN spawn-ready -- ip netns exec "$C1" $NOCAP "$NTPD" --config "$TMP/c1" run 2>>"$TMP/c1.log")
PIDS+=("$P1")

# chronyd, -x, same server, same link, same poll
mkdir -p "$TMP/c2"; chmod 700 "$TMP/c2"
cat > "$TMP/c2/chrony.conf" <<EOT
server 192.168.92.200 iburst minpoll $POLL maxpoll $POLL
bindcmdaddress $TMP/c2/chronyd.sock
cmdport 0
pidfile $TMP/c2/chronyd.pid
EOT
ip netns exec "$C2" $NOCAP chronyd -x -d -u root -f "$TMP/c2/chrony.conf" >"$TMP/c2/log" 2>&1 &
PIDS+=("$!")

echo "bench-ntp-client: warm-up ${WARMUP}s, then sampling every second for ${DURATION}s"
sleep "$WARMUP"   # measurement schedule, not readiness
: > "$TMP/samples"
end=$((SECONDS + DURATION))
while [ $SECONDS -lt $end ]; do
  p=$("$NTPD" --config "$TMP/c1" status --json 2>/dev/null | tr -d ' \n' | grep -o '"simulated_true_offset_s":[^,}]*' | cut -d: -f2)
  # tracking, field 5 = "System time": chronyd's estimate of the clock's
  # offset from NTP time (with -x nothing is corrected, so the true value is 0)
  c=$(chronyc -h "$TMP/c2/chronyd.sock" -n -c tracking 2>/dev/null | awk -F, 'NR==1{print $5}')
  echo "${p:-nan} ${c:-nan}" >> "$TMP/samples"
  sleep 1
done

# how pbxnet took T1: the kernel's software transmit stamp (as chronyd) or,
# when none came back, a clock read right before the send
"$NTPD" --config "$TMP/c1" status --json 2>/dev/null | tr -d ' \n' \
  | grep -o '"t1_\(kernel\|user\)_stamps":[0-9]*' | tr '\n' ' ' > "$TMP/t1" || true

python3 - "$TMP/samples" "$TMP/t1" <<'EOT'
import sys, math
pb, ch = [], []
for line in open(sys.argv[1]):
    a, b = line.split()
    if a not in ("nan", "null"): pb.append(abs(float(a)))
    if b != "nan": ch.append(abs(float(b)))
def q(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(len(v) * p))] if v else float("nan")
print()
print("== bench-ntp-client: 7 ms ± 1 ms out / 5 ms ± 1 ms back; asymmetry alone: 1000 us")
print("| client | samples | median abs error (us) | p95 abs error (us) | median beyond asymmetry (us) |")
print("|---|---|---|---|---|")
for name, v in (("pbxnet-ntpd (true error of its simulated clock)", pb), ("chronyd 4.3 -x (tracking system-time estimate; its clock is true)", ch)):
    print(f"| {name} | {len(v)} | {q(v,.5)*1e6:.0f} | {q(v,.95)*1e6:.0f} | {q(v,.5)*1e6-1000:+.0f} |")
if pb and ch:
    print(f"\nratio pbxnet/chrony: median {q(pb,.5)/q(ch,.5):.2f}x, p95 {q(pb,.95)/q(ch,.95):.2f}x")
t1 = open(sys.argv[2]).read().strip()
print(f"pbxnet T1 source: {t1 or 'unknown'}")
EOT
