#!/bin/bash
# make bench-dhcp: pbxnet-dhcpd (SQLite, fsynced leases) vs Kea 2.2
# (memfile, 1 thread, log level WARN), same invocation, same namespaces.
#
# perfdhcp (kea-admin) runs in its own namespace as a relay (giaddr =
# 10.20.0.1, its second address), the server in another, joined by a veth
# pair; server pinned to CPU 0, perfdhcp to CPU 1. For each server and each
# repetition the server starts fresh (empty lease store), then every offered
# rate step runs for BENCH_SECS seconds with new clients (a new MAC base per
# step). Per step: achieved 4-way exchanges/s, drops (DISCOVER-OFFER +
# REQUEST-ACK), average and max delay (perfdhcp prints no percentile), server
# CPU seconds per 1,000 leases (utime+stime from /proc), peak RSS (VmHWM).
#
# Environment: BENCH_RATES (default "2000 4000 8000 12000 16000 20000"),
# BENCH_SECS (10), BENCH_REPS (3), BENCH_OUT (table file, default
# target/bench-dhcp.md), PBXNET_DHCPD (binary, default target/release).
# Root only. Only namespaces created here are used; they are removed on exit.
set -euo pipefail

RATES=${BENCH_RATES:-"2000 4000 8000 12000 16000 20000"}
SECS=${BENCH_SECS:-10}
REPS=${BENCH_REPS:-3}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${BENCH_OUT:-$ROOT/target/bench-dhcp.md}
BIN=${PBXNET_DHCPD:-$ROOT/target/release/pbxnet-dhcpd}
[ "$(id -u)" = 0 ] || { echo "bench-dhcp: SKIPPED (needs root for namespaces)"; exit 0; }
for t in perfdhcp kea-dhcp4 taskset ss; do
    command -v $t >/dev/null || { echo "bench-dhcp: missing $t (tests/install-deps.sh)"; exit 1; }
done
[ -x "$BIN" ] || { echo "bench-dhcp: $BIN not built (cargo build --release -p pbxnet-dhcp)"; exit 1; }

ID=pbxbench-$$
SRV=$ID-srv
CLI=$ID-cli
WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    [ -n "$SERVER_PID" ] && kill -9 "$SERVER_PID" 2>/dev/null || true
    for ns in $SRV $CLI; do
        for p in $(ip netns pids $ns 2>/dev/null); do kill -9 $p 2>/dev/null || true; done
        ip netns del $ns 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add $SRV
ip netns add $CLI
ip link add ${ID:0:8}s type veth peer name ${ID:0:8}c
ip link set ${ID:0:8}s netns $SRV name eth0
ip link set ${ID:0:8}c netns $CLI name eth0
ip -n $SRV addr add 192.168.92.246/24 dev eth0
ip -n $CLI addr add 192.168.92.31/24 dev eth0
ip -n $CLI addr add 10.20.0.1/24 dev eth0
for ns in $SRV $CLI; do ip -n $ns link set lo up; ip -n $ns link set eth0 up; done
ip -n $SRV route add 10.20.0.0/24 dev eth0
ip -n $SRV route add 10.16.0.0/12 dev eth0 2>/dev/null || true

# ---------------------------------------------------------------- configs
mkdir -p "$WORK/pbx"
cat > "$WORK/pbx/site.toml" <<EOF
server-address = "192.168.92.246"
interfaces = ["eth0"]
state-directory = "$WORK/pbx/state"
runtime-directory = "$WORK/pbx/run"
[log]
level = "warn"
EOF
# Same classes and options as the Kea config below; the load subnet is
# chosen by giaddr 10.20.0.1.
cat > "$WORK/pbx/dhcp.toml" <<'EOF'
receive-buffer = 8388608
[flood]
max-per-second = 20
ban = "10s"
[[subnet]]
name = "site"
network = "192.168.92.0/24"
lease-time = "1h"
[[subnet]]
name = "load"
network = "10.16.0.0/12"
lease-time = "1h"
[[pool]]
name = "phones"
range = "192.168.92.10..192.168.92.69"
[[pool]]
name = "load"
range = "10.16.1.0..10.31.255.254"
[[class]]
name = "audiocodes-450hd"
vendor-class = "450HD"
profile = "audiocodes"
[[class]]
name = "any-device"
any-device = true
profile = "generic"
[[profile]]
name = "audiocodes"
  [[profile.option]]
  code = 160
  value = "tftp://${server_ip}/;<MAC>.cfg"
  always-send = true
[[profile]]
name = "generic"
next-server = "${server_ip}"
  [[profile.option]]
  code = 66
  value = "${server_ip}"
  always-send = true
  [[profile.option]]
  code = 150
  value = ["${server_ip}"]
  always-send = true
EOF
mkdir -p "$WORK/kea"
cat > "$WORK/kea/kea-dhcp4.conf" <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "eth0" ], "dhcp-socket-type": "udp" },
  "multi-threading": { "enable-multi-threading": false },
  "lease-database": { "type": "memfile", "persist": true, "lfc-interval": 0,
                      "name": "$WORK/kea/leases4.csv" },
  "valid-lifetime": 3600,
  "option-def": [ { "name": "provisioning-url", "code": 160, "type": "string" },
                  { "name": "tftp-server-address", "code": 150, "type": "ipv4-address", "array": true } ],
  "client-classes": [
    { "name": "audiocodes-450hd", "test": "option[60].text == '450HD'",
      "option-data": [ { "name": "provisioning-url", "data": "tftp://192.168.92.246/;<MAC>.cfg", "always-send": true } ] }
  ],
  "subnet4": [
    { "id": 1, "subnet": "192.168.92.0/24", "pools": [ { "pool": "192.168.92.10 - 192.168.92.69" } ] },
    { "id": 2, "subnet": "10.16.0.0/12", "pools": [ { "pool": "10.16.1.0 - 10.31.255.254" } ],
      "next-server": "192.168.92.246",
      "option-data": [ { "name": "tftp-server-name", "data": "192.168.92.246", "always-send": true },
                       { "name": "tftp-server-address", "data": "192.168.92.246", "always-send": true } ] }
  ],
  "loggers": [ { "name": "kea-dhcp4", "severity": "WARN",
                 "output_options": [ { "output": "$WORK/kea/kea.log" } ] } ]
} }
EOF

start_server() { # $1 = pbxnet|kea
    rm -rf "$WORK/pbx/state" "$WORK/kea/leases4.csv"*
    if [ "$1" = pbxnet ]; then
        ip netns exec $SRV taskset -c 0 "$BIN" --config "$WORK/pbx" run > "$WORK/server.log" 2>&1 &
    else
        KEA_LOCKFILE_DIR=$WORK/kea KEA_PIDFILE_DIR=$WORK/kea \
            ip netns exec $SRV taskset -c 0 kea-dhcp4 -c "$WORK/kea/kea-dhcp4.conf" > "$WORK/server.log" 2>&1 &
    fi
    SERVER_PID=$!
    # Readiness: the server's UDP port 67 is bound (Kea sends no sd_notify).
    for _ in $(seq 1 200); do
        if ip netns exec $SRV ss -H -lun 'sport = :67' | grep -q .; then return 0; fi
        kill -0 $SERVER_PID 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
        sleep 0.05
    done
    echo "server $1 did not bind port 67"; cat "$WORK/server.log"; exit 1
}

stop_server() {
    kill $SERVER_PID 2>/dev/null || true
    wait $SERVER_PID 2>/dev/null || true
    SERVER_PID=
}

cpu_ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
hwm_kb() { awk '/VmHWM/ {print $2}' /proc/$1/status; }
TCK=$(getconf CLK_TCK)

RESULTS=$WORK/results.tsv
: > "$RESULTS"
step=0
for rep in $(seq 1 $REPS); do
    for server in pbxnet kea; do
        start_server $server
        pid=$SERVER_PID
        for rate in $RATES; do
            step=$((step + 1))
            mac=$(printf '02:%02x:%02x:00:00:00' $((step / 256 % 256)) $((step % 256)))
            t0=$(cpu_ticks $pid)
            out=$(ip netns exec $CLI taskset -c 1 perfdhcp -4 -l 10.20.0.1 -r $rate -R 1000000 \
                  -b mac=$mac -p $SECS 192.168.92.246 2>&1 || true)
            t1=$(cpu_ticks $pid)
            rss=$(hwm_kb $pid)
            echo "$out" > "$WORK/perfdhcp-$server-$rep-$rate.txt"
            achieved=$(echo "$out" | awk '/^Rate:/ {print $2; exit}')
            sent=$(echo "$out" | awk '/sent packets:/ {s += $3} END {print s+0}')
            drops=$(echo "$out" | awk '/^drops:/ {d += $2} END {print d+0}')
            acks=$(echo "$out" | awk '/REQUEST-ACK/ {f=1} f && /received packets:/ {print $3; exit}')
            avg=$(echo "$out" | awk '/avg delay:/ {a=$3} END {print a}')   # REQUEST-ACK
            max=$(echo "$out" | awk '/max delay:/ {m=$3} END {print m}')
            cpu=$(awk -v a=$t0 -v b=$t1 -v t=$TCK -v n=${acks:-0} 'BEGIN { if (n > 0) printf "%.4f", (b - a) / t / n * 1000; else print "nan" }')
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
                $server $rep $rate "${achieved:-0}" "$sent" "$drops" "${avg:-nan}" "${max:-nan}" "$cpu" "$rss" >> "$RESULTS"
            printf '%-7s rep %s rate %6s: %9s ex/s, %6s drops of %8s, avg %s ms, max %s ms, %s CPU-s/1k leases, HWM %s kB\n' \
                $server $rep $rate "${achieved:-0}" "$drops" "$sent" "${avg:-nan}" "${max:-nan}" "$cpu" "$rss"
        done
        stop_server
    done
done

# ---------------------------------------------------------------- table
{
    echo "| offered/s | server | achieved ex/s (median) | drops % (max of reps) | avg delay ms | max delay ms | CPU s / 1k leases | peak RSS MiB |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|"
    for rate in $RATES; do
        for server in pbxnet kea; do
            awk -F'\t' -v s=$server -v r=$rate '$1 == s && $3 == r' "$RESULTS" | sort -t$'\t' -k4 -g |
            awk -F'\t' -v s=$server -v r=$rate '
                { a[NR] = $4; d = ($5 > 0 ? $6 / $5 * 100 : 0); if (d > dm) dm = d; av += $7; mx = ($8 > mx ? $8 : mx); c += $9; if ($10 > rss) rss = $10; n++ }
                END { if (n) printf "| %d | %s | %.0f | %.3f | %.3f | %.3f | %.4f | %.1f |\n", r, s, a[int((n + 1) / 2)], dm, av / n, mx, c / n, rss / 1024 }'
        done
    done
    echo
    for server in pbxnet kea; do
        best=$(awk -F'\t' -v s=$server '$1 == s { d = ($5 > 0 ? $6 / $5 * 100 : 0); if (d > m[$3]) m[$3] = d; seen[$3] = 1 }
               END { for (r in seen) if (m[r] <= 0.1 && r + 0 > b) b = r + 0; print b + 0 }' "$RESULTS")
        echo "- $server: highest offered rate with <= 0.1 % drops in every repetition: $best/s"
    done
    echo
    echo "Ratios pbxnet / Kea (same run, means over repetitions):"
    echo
    echo "| offered/s | achieved | CPU per lease | peak RSS |"
    echo "|---:|---:|---:|---:|"
    for rate in $RATES; do
        awk -F'\t' -v r=$rate '$3 == r { n[$1]++; a[$1] += $4; c[$1] += $9; if ($10 > m[$1]) m[$1] = $10 }
            END { if (n["kea"] && n["pbxnet"]) printf "| %d | %.2f | %.2f | %.2f |\n", r, (a["pbxnet"]/n["pbxnet"]) / (a["kea"]/n["kea"]), (c["pbxnet"]/n["pbxnet"]) / (c["kea"]/n["kea"]), m["pbxnet"] / m["kea"] }' "$RESULTS"
    done
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo
cat "$OUT"
