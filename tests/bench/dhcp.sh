#!/bin/bash
# make bench-dhcp: pbxnet-dhcpd (SQLite, fsynced leases) vs Kea 2.2
# (memfile, 1 thread, log level WARN), same invocation, same namespaces.
#
# perfdhcp (kea-admin) runs in its own namespace as a relay (giaddr =
# 10.20.0.1, its second address), the server in another, joined by a veth
# pair; server pinned to CPU 0, perfdhcp to CPU 1. For each server and each
# repetition the server starts fresh (empty lease store), then every offered
# rate step runs for BENCH_SECS seconds with new clients (a new MAC base per
# step). Per step: achieved 4-way exchanges/s (ACKs received / BENCH_SECS),
# drops (DISCOVER-OFFER + REQUEST-ACK), of those the datagrams the
# generator's own socket buffer overflowed on (UDP RcvbufErrors in its
# namespace), average delay and p99 delay of DISCOVER-OFFER and
# REQUEST-ACK (from perfdhcp's per-exchange timestamps, `-x t`), server CPU
# seconds per 1,000 leases (utime+stime from /proc), peak RSS (VmHWM).
# Then, per repetition and server, a fresh server is filled with 100,000
# clients (`-n 100000` at 8,000/s) and its RSS read: the memory target is
# stated at 100,000 leases.
#
# perfdhcp flags beyond the protocol: `-g single` (pinned to one CPU, its
# default second receive thread competes with its send loop for that CPU,
# and replies overflow its 208 KiB socket buffer while the sender runs), and
# `-W 500000` (after the test period it waits 0.5 s for replies in flight
# instead of counting them as drops: without it the last exchanges of a
# step, answered within a millisecond but after perfdhcp stopped, were the
# 1–5 "drops" of the low-rate steps).
#
# Environment: BENCH_RATES (default "2000 4000 8000 12000 16000 20000"),
# BENCH_SECS (10), BENCH_REPS (3), BENCH_FILL (100000; 0 skips the fill),
# BENCH_OUT (table file, default target/bench-dhcp.md), PBXNET_DHCPD
# (binary, default target/release).
# Root only. Only namespaces created here are used; they are removed on exit.
set -euo pipefail

RATES=${BENCH_RATES:-"2000 4000 8000 12000 16000 20000"}
SECS=${BENCH_SECS:-10}
REPS=${BENCH_REPS:-3}
FILL=${BENCH_FILL:-100000}
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
rss_kb() { awk '/VmRSS/ {print $2}' /proc/$1/status; }
rcvbuf_errors() { ip netns exec $1 awk '/^Udp: [0-9]/ {print $6}' /proc/net/snmp; }
TCK=$(getconf CLK_TCK)
PERF="perfdhcp -4 -l 10.20.0.1 -R 1000000 -g single -W 500000"

# p99 of the delays in one "***Timestamps for packets: <kind>***" block of
# `perfdhcp -x t` ("sent / received: <s> / <s>" per successful exchange).
p99() { # $1 = file, $2 = DISCOVER-OFFER|REQUEST-ACK
    awk -v k="$2" '/^\*\*\*Timestamps for packets: / { on = index($0, k) > 0; next }
        on && /^sent \/ received:/ { print ($6 - $4) * 1000 }' "$1" | sort -g |
    awk '{ d[NR] = $1 } END { if (NR) { i = int(NR * 0.99 + 0.999999); if (i < 1) i = 1; printf "%.3f", d[i] } else print "nan" }'
}

RESULTS=$WORK/results.tsv
FILLS=$WORK/fills.tsv
: > "$RESULTS"
: > "$FILLS"
step=0
for rep in $(seq 1 $REPS); do
    for server in pbxnet kea; do
        start_server $server
        pid=$SERVER_PID
        for rate in $RATES; do
            step=$((step + 1))
            mac=$(printf '02:%02x:%02x:00:00:00' $((step / 256 % 256)) $((step % 256)))
            t0=$(cpu_ticks $pid)
            g0=$(rcvbuf_errors $CLI)
            s0=$(rcvbuf_errors $SRV)
            raw=$WORK/perfdhcp-$server-$rep-$rate.txt
            ip netns exec $CLI taskset -c 1 $PERF -r $rate -b mac=$mac -p $SECS -x t \
                192.168.92.246 > "$raw" 2>&1 || true
            t1=$(cpu_ticks $pid)
            gdrop=$(( $(rcvbuf_errors $CLI) - g0 ))
            sdrop=$(( $(rcvbuf_errors $SRV) - s0 ))
            rss=$(hwm_kb $pid)
            sent=$(awk '/sent packets:/ {s += $3} END {print s+0}' "$raw")
            drops=$(awk '/^drops:/ {d += $2} END {print d+0}' "$raw")
            acks=$(awk '/REQUEST-ACK/ {f=1} f && /received packets:/ {print $3; exit}' "$raw")
            achieved=$(awk -v n=${acks:-0} -v t=$SECS 'BEGIN { printf "%.0f", n / t }')
            avg=$(awk '/avg delay:/ {a=$3} END {print a}' "$raw")   # REQUEST-ACK
            p99o=$(p99 "$raw" DISCOVER-OFFER)
            p99a=$(p99 "$raw" REQUEST-ACK)
            cpu=$(awk -v a=$t0 -v b=$t1 -v t=$TCK -v n=${acks:-0} 'BEGIN { if (n > 0) printf "%.4f", (b - a) / t / n * 1000; else print "nan" }')
            printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' \
                $server $rep $rate "$achieved" "$sent" "$drops" "${avg:-nan}" "$p99o" "$p99a" "$cpu" "$rss" "$gdrop" "$sdrop" >> "$RESULTS"
            printf '%-7s rep %s rate %6s: %6s ex/s, %5s drops of %7s (generator buffer %s, server buffer %s), ACK avg %s p99 %s ms, OFFER p99 %s ms, %s CPU-s/1k leases, HWM %s kB\n' \
                $server $rep $rate "$achieved" "$drops" "$sent" "$gdrop" "$sdrop" "${avg:-nan}" "$p99a" "$p99o" "$cpu" "$rss"
            # The timestamp lists are large; keep only the summary.
            sed -i '/^\*\*\*Timestamps for packets/,$d' "$raw"
        done
        stop_server
        if [ "$FILL" -gt 0 ]; then
            start_server $server
            ip netns exec $CLI taskset -c 1 $PERF -r 8000 -n $FILL -b mac=$(printf '06:%02x:00:00:00:00' $rep) \
                192.168.92.246 > "$WORK/fill-$server-$rep.txt" 2>&1 || true
            leases=$(awk '/REQUEST-ACK/ {f=1} f && /received packets:/ {print $3; exit}' "$WORK/fill-$server-$rep.txt")
            printf '%s\t%s\t%s\t%s\t%s\n' $server $rep "${leases:-0}" "$(rss_kb $SERVER_PID)" "$(hwm_kb $SERVER_PID)" >> "$FILLS"
            printf '%-7s rep %s fill: %s leases, RSS %s kB, HWM %s kB\n' $server $rep "${leases:-0}" "$(rss_kb $SERVER_PID)" "$(hwm_kb $SERVER_PID)"
            stop_server
        fi
    done
done

# ---------------------------------------------------------------- table
{
    echo "| offered/s | server | achieved ex/s (median) | drops % (max of reps) | of which generator buffer % | avg ACK delay ms | p99 OFFER delay ms | p99 ACK delay ms | CPU s / 1k leases | peak RSS MiB |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|"
    for rate in $RATES; do
        for server in pbxnet kea; do
            awk -F'\t' -v s=$server -v r=$rate '$1 == s && $3 == r' "$RESULTS" | sort -t$'\t' -k4 -g |
            awk -F'\t' -v s=$server -v r=$rate '
                { a[NR] = $4; d = ($5 > 0 ? $6 / $5 * 100 : 0); if (d > dm) { dm = d; g = ($5 > 0 ? $12 / $5 * 100 : 0) }
                  av += $7; if ($8 > po) po = $8; if ($9 > pa) pa = $9; c += $10; if ($11 > rss) rss = $11; n++ }
                END { if (n) printf "| %d | %s | %.0f | %.3f | %.3f | %.3f | %.3f | %.3f | %.4f | %.1f |\n", r, s, a[int((n + 1) / 2)], dm, g, av / n, po, pa, c / n, rss / 1024 }'
        done
    done
    echo
    echo "p99 columns: the largest p99 over the repetitions. Drops: the repetition with the most; the generator column is the share of that repetition's packets lost in perfdhcp's own socket buffer."
    echo
    for server in pbxnet kea; do
        best=$(awk -F'\t' -v s=$server '$1 == s { d = ($5 > 0 ? $6 / $5 * 100 : 0); if (d > m[$3]) m[$3] = d; seen[$3] = 1 }
               END { for (r in seen) if (m[r] <= 0.1 && r + 0 > b) b = r + 0; print b + 0 }' "$RESULTS")
        echo "- $server: highest offered rate with <= 0.1 % drops in every repetition: $best/s"
    done
    if [ -s "$FILLS" ]; then
        echo
        echo "Filled with $FILL clients at 8,000/s (fresh server, max over repetitions):"
        echo
        echo "| server | leases | RSS MiB | peak RSS MiB |"
        echo "|---|---:|---:|---:|"
        for server in pbxnet kea; do
            awk -F'\t' -v s=$server '$1 == s { if ($3 > l) l = $3; if ($4 > r) r = $4; if ($5 > h) h = $5 }
                END { printf "| %s | %d | %.1f | %.1f |\n", s, l, r / 1024, h / 1024 }' "$FILLS"
        done
        awk -F'\t' '{ if ($4 > r[$1]) r[$1] = $4; if ($5 > h[$1]) h[$1] = $5 }
            END { if (r["kea"] && h["kea"]) printf "\nRSS at the fill, pbxnet / Kea: %.2f (peak %.2f)\n", r["pbxnet"] / r["kea"], h["pbxnet"] / h["kea"] }' "$FILLS"
    fi
    echo
    echo "Ratios pbxnet / Kea (same run, means over repetitions):"
    echo
    echo "| offered/s | achieved | CPU per lease | peak RSS |"
    echo "|---:|---:|---:|---:|"
    for rate in $RATES; do
        awk -F'\t' -v r=$rate '$3 == r { n[$1]++; a[$1] += $4; c[$1] += $10; if ($11 > m[$1]) m[$1] = $11 }
            END { if (n["kea"] && n["pbxnet"]) printf "| %d | %.2f | %.2f | %.2f |\n", r, (a["pbxnet"]/n["pbxnet"]) / (a["kea"]/n["kea"]), (c["pbxnet"]/n["pbxnet"]) / (c["kea"]/n["kea"]), m["pbxnet"] / m["kea"] }' "$RESULTS"
    done
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo
cat "$OUT"
