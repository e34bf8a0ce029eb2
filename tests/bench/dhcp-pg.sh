#!/bin/bash
# make bench-dhcp-pg: DHCP servers sharing one PostgreSQL 15 lease store.
# Kea 2.2 (lease-database type postgresql, once with 1 thread, once with its
# multi-threading) against one, two and three pbxnet-dhcpd
# ([leases] backend = "postgresql", one site), same run, same cluster.
#
# One scratch PostgreSQL 15 cluster (initdb in a temp directory as nobody,
# Unix socket only, fsync and synchronous_commit on: an ACK is a durable
# lease for both servers). Before each server configuration its database is
# dropped and created again (Kea: `kea-admin db-init pgsql`; pbxnet:
# `pbxnet-dhcpd db init`), so every configuration starts empty.
#
# Network as bench-dhcp: each DHCP server in its own namespace, joined by
# a veth pair to a bridge in the generator's namespace; perfdhcp (kea-admin
# 2.2) acts as a relay. With N pbxnet servers, N perfdhcp run side by side,
# one per server (giaddr 10.20.0.1, .2, .3, all in the load subnet, each
# with its own MAC base), each at 1/N of the step's rate: every server
# allocates from the same pool in the same database. The machine this was
# written on has 2 CPUs: CPU 0 holds the DHCP servers AND PostgreSQL (the
# whole serving side gets one core, the same budget for every
# configuration), CPU 1 the generators.
#
# Per step (BENCH_SECS each, new clients per step): achieved 4-way
# exchanges/s (ACKs received / BENCH_SECS), drops (DISCOVER-OFFER +
# REQUEST-ACK, summed over the generators), ACK p99 (from perfdhcp's
# per-exchange timestamps, `-x t`), CPU seconds per 1,000 leases of the
# DHCP servers and of PostgreSQL (utime+stime from /proc: the postmaster,
# its live children, and cutime+cstime for children that exited).
# A configuration stops stepping after a step with more than BENCH_STOP %
# drops (it is saturated; higher steps only cost time).
#
# Environment: BENCH_RATES (default "250 500 1000 1500 2000 3000 4000 6000 8000 10000 12000 16000 20000"),
# BENCH_SECS (5), BENCH_REPS (2), BENCH_STOP (5), BENCH_CONFIGS (default
# "kea-1t kea-mt pbxnet-1 pbxnet-2 pbxnet-3"), BENCH_OUT (table file,
# default target/bench-dhcp-pg.md), PBXNET_DHCPD (binary, default
# target/release). Root only. Only namespaces created here are used; they
# and the cluster are removed on exit.
set -euo pipefail

RATES=${BENCH_RATES:-"250 500 1000 1500 2000 3000 4000 6000 8000 10000 12000 16000 20000"}
SECS=${BENCH_SECS:-5}
REPS=${BENCH_REPS:-2}
STOP=${BENCH_STOP:-5}
CONFIGS=${BENCH_CONFIGS:-"kea-1t kea-mt pbxnet-1 pbxnet-2 pbxnet-3"}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${BENCH_OUT:-$ROOT/target/bench-dhcp-pg.md}
BIN=${PBXNET_DHCPD:-$ROOT/target/release/pbxnet-dhcpd}
PGBIN=/usr/lib/postgresql/15/bin
[ "$(id -u)" = 0 ] || { echo "bench-dhcp-pg: SKIPPED (needs root for namespaces)"; exit 0; }
for t in perfdhcp kea-dhcp4 kea-admin psql taskset ss setpriv $PGBIN/initdb; do
    command -v $t >/dev/null || { echo "bench-dhcp-pg: missing $t (tests/install-deps.sh)"; exit 1; }
done
[ -x "$BIN" ] || { echo "bench-dhcp-pg: $BIN not built (cargo build --release -p pbxnet-dhcp)"; exit 1; }

ID=pbxpg-$$
CLI=$ID-cli
SRV=($ID-s1 $ID-s2 $ID-s3)
SRVIP=(192.168.92.246 192.168.92.245 192.168.92.244)
GIADDR=(10.20.0.1 10.20.0.2 10.20.0.3)
WORK=$(mktemp -d)
chmod 755 "$WORK"  # PostgreSQL runs as nobody below it
PG=$WORK/pg
SERVER_PIDS=()
cleanup() {
    for p in "${SERVER_PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
    for ns in "${SRV[@]}" $CLI; do
        for p in $(ip netns pids $ns 2>/dev/null); do kill -9 $p 2>/dev/null || true; done
        ip netns del $ns 2>/dev/null || true
    done
    [ -f "$PG/data/postmaster.pid" ] &&
        setpriv --reuid nobody --regid nogroup --clear-groups -- $PGBIN/pg_ctl stop -m immediate -w -D "$PG/data" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

# ---------------------------------------------------------------- network
ip netns add $CLI
ip -n $CLI link add br0 type bridge
for i in 0 1 2; do
    ns=${SRV[$i]}
    ip netns add $ns
    ip link add ${ID:0:9}s$i type veth peer name ${ID:0:9}c$i
    ip link set ${ID:0:9}s$i netns $ns name eth0
    ip link set ${ID:0:9}c$i netns $CLI name c$i
    ip -n $CLI link set c$i master br0
    ip -n $CLI link set c$i up
    ip -n $ns addr add ${SRVIP[$i]}/24 dev eth0
    ip -n $ns link set lo up
    ip -n $ns link set eth0 up
    ip -n $ns route add 10.16.0.0/12 dev eth0
done
ip -n $CLI addr add 192.168.92.31/24 dev br0
for g in "${GIADDR[@]}"; do ip -n $CLI addr add $g/12 dev br0; done
ip -n $CLI link set lo up
ip -n $CLI link set br0 up

# ---------------------------------------------------------------- PostgreSQL
mkdir -p "$PG"
chown nobody "$PG"
as_nobody() { setpriv --reuid nobody --regid nogroup --clear-groups -- "$@"; }
(cd "$PG" && as_nobody $PGBIN/initdb -U pbxnet --auth=trust -E UTF8 --no-sync -D "$PG/data" >/dev/null)
(cd "$PG" && as_nobody taskset -c 0 $PGBIN/pg_ctl start -w -t 60 -D "$PG/data" -l "$PG/log" \
    -o "-c listen_addresses='' -c unix_socket_directories='$PG' -c fsync=on -c synchronous_commit=on -c max_connections=200" >/dev/null)
PSQL="psql -q -h $PG -U pbxnet -d postgres -v ON_ERROR_STOP=1"
PG_VERSION=$($PSQL -At -c 'show server_version')

fresh_db() { # $1 = database name
    $PSQL -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"
}

# ---------------------------------------------------------------- configs
# Same subnets, pools, classes and options as bench-dhcp; the load subnet
# is chosen by giaddr (10.20.0.x).
write_pbxnet() { # $1 = index
    local d=$WORK/pbx$1
    mkdir -p "$d"
    cat > "$d/site.toml" <<EOF
server-address = "${SRVIP[$1]}"
interfaces = ["eth0"]
state-directory = "$d/state"
runtime-directory = "$d/run"
[log]
level = "warn"
EOF
    cat > "$d/dhcp.toml" <<EOF
receive-buffer = 8388608
[leases]
backend = "postgresql"
url = "postgresql://pbxnet@/pbxnet?host=$PG"
site = "bench"
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
  value = "tftp://\${server_ip}/;<MAC>.cfg"
  always-send = true
[[profile]]
name = "generic"
next-server = "\${server_ip}"
  [[profile.option]]
  code = 66
  value = "\${server_ip}"
  always-send = true
  [[profile.option]]
  code = 150
  value = ["\${server_ip}"]
  always-send = true
EOF
}
for i in 0 1 2; do write_pbxnet $i; done

write_kea() { # $1 = true|false (multi-threading)
    mkdir -p "$WORK/kea"
    cat > "$WORK/kea/kea-dhcp4.conf" <<EOF
{ "Dhcp4": {
  "interfaces-config": { "interfaces": [ "eth0" ], "dhcp-socket-type": "udp" },
  "multi-threading": { "enable-multi-threading": $1 },
  "lease-database": { "type": "postgresql", "name": "kea", "user": "pbxnet", "host": "$PG" },
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
}

wait_port67() { # $1 = namespace, $2 = pid, $3 = log
    for _ in $(seq 1 400); do
        if ip netns exec $1 ss -H -lun 'sport = :67' | grep -q .; then return 0; fi
        kill -0 $2 2>/dev/null || { cat "$3"; exit 1; }
        sleep 0.05
    done
    echo "server in $1 did not bind port 67"; cat "$3"; exit 1
}

# Starts configuration $1 on a fresh database; SERVER_PIDS, NSERVERS.
start_config() {
    SERVER_PIDS=()
    case $1 in
    kea-*)
        NSERVERS=1
        fresh_db kea
        kea-admin db-init pgsql -u pbxnet -p unused -n kea -h "$PG" > "$WORK/kea-admin.log" 2>&1 ||
            { cat "$WORK/kea-admin.log"; exit 1; }
        write_kea $([ $1 = kea-mt ] && echo true || echo false)
        KEA_LOCKFILE_DIR=$WORK/kea KEA_PIDFILE_DIR=$WORK/kea \
            ip netns exec ${SRV[0]} taskset -c 0 kea-dhcp4 -c "$WORK/kea/kea-dhcp4.conf" > "$WORK/server0.log" 2>&1 &
        SERVER_PIDS=($!)
        wait_port67 ${SRV[0]} $! "$WORK/server0.log"
        ;;
    pbxnet-*)
        NSERVERS=${1#pbxnet-}
        fresh_db pbxnet
        "$BIN" --config "$WORK/pbx0" db init > "$WORK/dbinit.log" 2>&1 || { cat "$WORK/dbinit.log"; exit 1; }
        for i in $(seq 0 $((NSERVERS - 1))); do
            rm -rf "$WORK/pbx$i/state" "$WORK/pbx$i/run"
            ip netns exec ${SRV[$i]} taskset -c 0 "$BIN" --config "$WORK/pbx$i" run > "$WORK/server$i.log" 2>&1 &
            SERVER_PIDS+=($!)
            wait_port67 ${SRV[$i]} $! "$WORK/server$i.log"
        done
        ;;
    esac
}

stop_config() {
    for p in "${SERVER_PIDS[@]}"; do kill $p 2>/dev/null || true; done
    for p in "${SERVER_PIDS[@]}"; do wait $p 2>/dev/null || true; done
    SERVER_PIDS=()
}

TCK=$(getconf CLK_TCK)
# CPU ticks of processes (utime+stime) and, with "all", of their reaped
# children (cutime+cstime).
ticks() { awk '{print $14 + $15}' /proc/$1/stat; }
pg_ticks() {
    local pm sum c
    pm=$(head -1 "$PG/data/postmaster.pid")
    sum=$(awk '{print $14 + $15 + $16 + $17}' /proc/$pm/stat)
    for c in $(cat /proc/$pm/task/*/children); do
        sum=$((sum + $(ticks $c 2>/dev/null || echo 0)))
    done
    echo $sum
}
server_ticks() {
    local s=0 p
    for p in "${SERVER_PIDS[@]}"; do s=$((s + $(ticks $p))); done
    echo $s
}
# Addresses whose ACK a pbxnet server withheld because another server's
# swap won (distinct addresses: the daemon logs one line per reply batch of
# the losing commit). Kea logs nothing of the kind: 0.
withheld() {
    { grep -ah 'ACK withheld' "$WORK"/server*.log 2>/dev/null || true; } | sed 's/.*ip=//' | sort -u | wc -l
}
PERF="perfdhcp -4 -R 1000000 -g single -W 500000"

# p99 of the REQUEST-ACK delays in `perfdhcp -x t` outputs ("sent /
# received: <s> / <s>" per successful exchange), over all the files given.
p99_ack() {
    awk '/^\*\*\*Timestamps for packets: / { on = index($0, "REQUEST-ACK") > 0; next }
        on && /^sent \/ received:/ { print ($6 - $4) * 1000 }' "$@" | sort -g |
    awk '{ d[NR] = $1 } END { if (NR) { i = int(NR * 0.99 + 0.999999); if (i < 1) i = 1; printf "%.3f", d[i] } else print "nan" }'
}

RESULTS=$WORK/results.tsv
: > "$RESULTS"
step=0
T0=$(date +%s)
for rep in $(seq 1 $REPS); do
    for config in $CONFIGS; do
        start_config $config
        for rate in $RATES; do
            step=$((step + 1))
            s0=$(server_ticks); p0=$(pg_ticks); w0=$(withheld)
            gens=()
            for i in $(seq 0 $((NSERVERS - 1))); do
                mac=$(printf '02:%02x:%02x:%02x:00:00' $((step / 256 % 256)) $((step % 256)) $i)
                ip netns exec $CLI taskset -c 1 $PERF -l ${GIADDR[$i]} -r $((rate / NSERVERS)) -b mac=$mac -p $SECS -x t \
                    ${SRVIP[$i]} > "$WORK/perf-$i.txt" 2>&1 &
                gens+=($!)
            done
            for g in "${gens[@]}"; do wait $g || true; done
            s1=$(server_ticks); p1=$(pg_ticks); w1=$(withheld)
            files=()
            for i in $(seq 0 $((NSERVERS - 1))); do files+=("$WORK/perf-$i.txt"); done
            sent=$(awk '/sent packets:/ {s += $3} END {print s+0}' "${files[@]}")
            drops=$(awk '/^drops:/ {d += $2} END {print d+0}' "${files[@]}")
            acks=$(awk 'FNR == 1 { f = 0; done = 0 } !done && /REQUEST-ACK/ { f = 1 }
                f && /received packets:/ { n += $3; f = 0; done = 1 } END { print n + 0 }' "${files[@]}")
            p99=$(p99_ack "${files[@]}")
            row=$(awk -v c=$config -v rep=$rep -v r=$rate -v t=$SECS -v n=$acks -v snt=$sent -v d=$drops -v p=$p99 \
                -v s=$((s1 - s0)) -v g=$((p1 - p0)) -v tck=$TCK -v w=$((w1 - w0)) 'BEGIN {
                    cs = n > 0 ? s / tck / n * 1000 : "nan"; cg = n > 0 ? g / tck / n * 1000 : "nan"
                    printf "%s\t%s\t%s\t%.0f\t%s\t%s\t%s\t%s\t%s\t%s\n", c, rep, r, n / t, snt, d, p, cs, cg, w }')
            echo "$row" >> "$RESULTS"
            echo "$row" | awk -F'\t' '{ printf "%-8s rep %s rate %6s: %6s ex/s, %6s drops of %7s (%.3f %%), ACK p99 %s ms, CPU s/1k leases: server %.4f, PostgreSQL %.4f, %s ACKs withheld (lost swaps)\n",
                $1, $2, $3, $4, $6, $5, ($5 > 0 ? $6 / $5 * 100 : 0), $7, $8, $9, $10 }'
            for i in $(seq 0 $((NSERVERS - 1))); do cp "$WORK/perf-$i.txt" "$WORK/last-$config-$i.txt"; done
            if awk -v s=$sent -v d=$drops -v x=$STOP 'BEGIN { exit !(s == 0 || d / s * 100 > x) }'; then
                echo "$config: saturated at $rate/s, no higher steps"
                break
            fi
        done
        stop_config
    done
done
T1=$(date +%s)

# ---------------------------------------------------------------- table
{
    echo "PostgreSQL $PG_VERSION (fsync, synchronous_commit on), Kea $(kea-dhcp4 -v), $(nproc) CPUs; $REPS repetition(s), $SECS s per step; $((T1 - T0)) s of steps."
    echo
    echo "| offered/s | config | achieved ex/s (median) | drops % (max) | ACK p99 ms (max) | server CPU s / 1k leases | PostgreSQL CPU s / 1k leases | total CPU s / 1k leases | ACKs withheld (max) |"
    echo "|---:|---|---:|---:|---:|---:|---:|---:|---:|"
    for rate in $RATES; do
        for config in $CONFIGS; do
            awk -F'\t' -v c=$config -v r=$rate '$1 == c && $3 == r' "$RESULTS" | sort -t$'\t' -k4 -g |
            awk -F'\t' -v c=$config -v r=$rate '
                { a[NR] = $4; d = ($5 > 0 ? $6 / $5 * 100 : 0); if (d > dm) dm = d; if ($7 > p) p = $7; cs += $8; cg += $9; if ($10 > w) w = $10; n++ }
                END { if (n) printf "| %d | %s | %.0f | %.3f | %.3f | %.4f | %.4f | %.4f | %d |\n", r, c, a[int((n + 1) / 2)], dm, p, cs / n, cg / n, (cs + cg) / n, w }'
        done
    done
    echo
    echo "Configurations: kea-1t = Kea, 1 thread; kea-mt = Kea multi-threading (its defaults: thread pool and queue sized by Kea);"
    echo "pbxnet-N = N pbxnet-dhcpd, one perfdhcp each at 1/N of the rate, one site in one database."
    echo "Rows missing above a configuration's last step: it was saturated (> $STOP % drops) and skipped the higher steps."
    echo
    best() { awk -F'\t' -v c=$1 '$1 == c { d = ($5 > 0 ? $6 / $5 * 100 : 100); if (d > m[$3]) m[$3] = d; seen[$3] = 1 }
               END { for (r in seen) if (m[r] <= 0.1 && r + 0 > b) b = r + 0; print b + 0 }' "$RESULTS"; }
    cpu_at() { awk -F'\t' -v c=$1 -v r=$2 -v f=$3 '$1 == c && $3 == r { s += $f; n++ } END { if (n) printf "%.5f", s / n; else print "nan" }' "$RESULTS"; }
    # CPU per lease of two configurations compared at the highest step both
    # passed with <= 0.1 % drops (the lowest step when one passed none):
    # both serve the same load there.
    lowest=$(echo $RATES | tr ' ' '\n' | sort -g | head -1)
    cpu_ratio() { # $1 = config, $2 = anchor config, $3 = field (8 server, 9 PostgreSQL)
        local r a b
        r=$( (best $1; best $2) | sort -g | head -1); [ "$r" = 0 ] && r=$lowest
        a=$(cpu_at $1 $r $3); b=$(cpu_at $2 $r $3)
        awk -v a=$a -v b=$b -v r=$r 'BEGIN { if (a != "nan" && b != "nan" && b > 0) printf "%.2f (at %d/s)", a / b, r; else print "n/a" }'
    }
    echo "| config | highest offered/s with <= 0.1 % drops | vs kea-1t | vs kea-mt | server CPU per lease vs kea-1t | vs kea-mt | PostgreSQL CPU per lease vs kea-1t | vs kea-mt |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|"
    k1=$(best kea-1t); km=$(best kea-mt)
    for c in $CONFIGS; do
        b=$(best $c)
        printf '| %s | %d | %s | %s | %s | %s | %s | %s |\n' $c $b \
            "$(awk -v b=$b -v k=$k1 'BEGIN { print (k > 0 ? sprintf("%.2f", b / k) : "n/a") }')" \
            "$(awk -v b=$b -v k=$km 'BEGIN { print (k > 0 ? sprintf("%.2f", b / k) : "n/a") }')" \
            "$(cpu_ratio $c kea-1t 8)" "$(cpu_ratio $c kea-mt 8)" "$(cpu_ratio $c kea-1t 9)" "$(cpu_ratio $c kea-mt 9)"
    done
    p1=$(best pbxnet-1); p2=$(best pbxnet-2); p3=$(best pbxnet-3)
    awk -v p1=$p1 -v p2=$p2 -v p3=$p3 'BEGIN { if (p1 > 0) printf "\nScaling (highest clean rate): two servers / one = %s, three / one = %s\n",
        (p2 > 0 ? sprintf("%.2f", p2 / p1) : "n/a"), (p3 > 0 ? sprintf("%.2f", p3 / p1) : "n/a") }'
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo
cat "$OUT"
