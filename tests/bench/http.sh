#!/bin/bash
# make bench-http: pbxnet-tftpd's HTTP and HTTPS front ends vs nginx 1.22
# (Debian nginx-light), same run, same tree, same certificate.
#
# Server namespace (192.168.92.246) and client namespace (192.168.92.31)
# joined by a veth pair; the server pinned to CPU 0 (taskset; nginx with
# worker_processes 1, sendfile on, keep-alive, TLS 1.2/1.3 with the same
# ECDSA P-256 certificate and key as pbxnet), the clients to CPU 1. The
# tree: a 16 MiB firmware image and 300 per-MAC configs of 4 KiB, static
# files (nginx cannot render pbxnet's templates, so neither server renders).
#
# Scenarios, each per server and repetition on a warm server:
#   firmware-http / firmware-https: "firmware day", 200 phones at once, each
#     one curl process (xargs -P 200) fetching its config then the image on
#     one keep-alive connection;
#   recheck-http / recheck-https: 300 phones re-checking their config with
#     If-None-Match (the ETag each server gave, fetched beforehand), one curl
#     with --parallel --parallel-max 300; every answer must be 304. Repeated
#     BENCH_RECHECK_ROUNDS times back to back (one round costs a server about
#     one clock tick of CPU: too little to measure alone).
# Measured per scenario: wall time, server CPU seconds (utime+stime from
# /proc of the daemon, or of nginx's master and worker), failures (a transfer
# without the expected status and size), p99 of the config fetches' curl
# time_total, peak RSS (VmHWM, reset before each scenario with clear_refs;
# nginx: master + worker summed).
#
# pbxnet's per-client connection cap is raised (all 200 phones come from one
# address here); both servers write an access log line per request.
#
# Environment: BENCH_REPS (5), BENCH_RECHECK_ROUNDS (5), BENCH_SERVERS ("pbxnet nginx"), BENCH_SCENARIOS
# (all four), BENCH_CLIENTS (200), BENCH_RECHECK (300),
# BENCH_OUT (table file, default target/bench-http.md), PBXNET_TFTPD (binary,
# default target/release/pbxnet-tftpd), NGINX (default nginx).
# Root only. Only namespaces created here are used; they are removed on exit.
set -euo pipefail

REPS=${BENCH_REPS:-5}
ROUNDS=${BENCH_RECHECK_ROUNDS:-5}
CLIENTS=${BENCH_CLIENTS:-200}
SERVERS=${BENCH_SERVERS:-"pbxnet nginx"}
SCENARIOS=${BENCH_SCENARIOS:-"firmware-http firmware-https recheck-http recheck-https"}
RECHECK=${BENCH_RECHECK:-300}
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT=${BENCH_OUT:-$ROOT/target/bench-http.md}
BIN=${PBXNET_TFTPD:-$ROOT/target/release/pbxnet-tftpd}
NGINX=${NGINX:-nginx}
[ "$(id -u)" = 0 ] || { echo "bench-http: SKIPPED (needs root for namespaces)"; exit 0; }
for t in "$NGINX" curl openssl taskset ss xargs pgrep; do
    command -v "$t" >/dev/null || { echo "bench-http: missing $t (tests/install-deps.sh)"; exit 1; }
done
[[ " $SERVERS " != *" pbxnet "* ]] || [ -x "$BIN" ] || { echo "bench-http: $BIN not built (cargo build --release -p pbxnet-tftp)"; exit 1; }

ID=pbxbench-$$
SRV=$ID-srv
CLI=$ID-cli
WORK=$(mktemp -d)
chmod 755 "$WORK"   # nginx workers run as nobody: the tree must be readable
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
for ns in $SRV $CLI; do ip -n $ns link set lo up; ip -n $ns link set eth0 up; done

# ---------------------------------------------------------------- tree, certificate
TREE=$WORK/tree
mkdir -p "$TREE/Binary" "$TREE/ThirdParty_Devices" "$TREE/Omniswitch" "$TREE/Secured_Config"
head -c $((16 * 1024 * 1024)) /dev/urandom > "$TREE/Binary/fw.img"
IMG_SIZE=$(stat -c %s "$TREE/Binary/fw.img")
MACS=()
for i in $(seq 0 $((RECHECK > CLIENTS ? RECHECK - 1 : CLIENTS - 1))); do
    mac=$(printf '00908f%06x' $((0x610000 + i)))
    MACS+=("$mac")
    # 4 KiB of printable settings, no ${...} macros (same bytes from both).
    { printf 'mac=%s\n' "$mac"; head -c 3200 /dev/urandom | base64 -w 76; } > "$WORK/cfg.tmp"
    head -c 4096 "$WORK/cfg.tmp" > "$TREE/ThirdParty_Devices/$mac.cfg"
done
CFG_SIZE=$(stat -c %s "$TREE/ThirdParty_Devices/${MACS[0]}.cfg")
[ "$CFG_SIZE" = 4096 ] || { echo "bench-http: config of $CFG_SIZE bytes"; exit 1; }
mkdir -p "$WORK/tls"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -keyout "$WORK/tls/server.key" -out "$WORK/tls/server.pem" -subj /CN=192.168.92.246 \
    -addext subjectAltName=IP:192.168.92.246 2>/dev/null
chmod 600 "$WORK/tls/server.key"
CA=$WORK/tls/server.pem

# ---------------------------------------------------------------- configs
mkdir -p "$WORK/pbx/state" "$WORK/pbx/run"
cat > "$WORK/pbx/site.toml" <<EOF
server-address = "192.168.92.246"
state-directory = "$WORK/pbx/state"
runtime-directory = "$WORK/pbx/run"
[log]
level = "info"
format = "plain"
EOF
cat > "$WORK/pbx/tftp.toml" <<EOF
[server]
listen = "0.0.0.0:69"
[files]
root = "$TREE"
[http]
enabled = true
listen = "0.0.0.0:80"
max-connections = 4096
max-connections-per-client = 4096
[https]
enabled = true
listen = "0.0.0.0:443"
certificate = "$WORK/tls/server.pem"
key = "$WORK/tls/server.key"
EOF
[[ " $SERVERS " != *" pbxnet "* ]] || "$BIN" --config "$WORK/pbx" check > /dev/null

mkdir -p "$WORK/nginx/tmp"
cat > "$WORK/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_timeout 30s;
    keepalive_requests 10000;
    default_type application/octet-stream;
    access_log $WORK/nginx/access.log;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    ssl_protocols TLSv1.2 TLSv1.3;
    server {
        listen 192.168.92.246:80;
        listen 192.168.92.246:443 ssl;
        ssl_certificate $WORK/tls/server.pem;
        ssl_certificate_key $WORK/tls/server.key;
        root $TREE;
    }
}
EOF

start_server() { # $1 = pbxnet|nginx
    if [ "$1" = pbxnet ]; then
        rm -rf "$WORK/pbx/run"/*
        ip netns exec $SRV taskset -c 0 "$BIN" --config "$WORK/pbx" run > "$WORK/server.log" 2>&1 &
    else
        ip netns exec $SRV taskset -c 0 "$NGINX" -e "$WORK/nginx/error.log" -p "$WORK/nginx" \
            -c "$WORK/nginx/nginx.conf" > "$WORK/server.log" 2>&1 &
    fi
    SERVER_PID=$!
    local ports=1
    [[ "$SCENARIOS" != *https* ]] || ports=2
    for _ in $(seq 1 200); do
        if [ "$(ip netns exec $SRV ss -H -ltn '( sport = :80 or sport = :443 )' | wc -l)" -ge $ports ]; then
            return 0
        fi
        kill -0 $SERVER_PID 2>/dev/null || { cat "$WORK/server.log"; exit 1; }
        sleep 0.05
    done
    echo "server $1 did not listen on 80 and 443"; cat "$WORK/server.log"; exit 1
}

stop_server() {
    kill $SERVER_PID 2>/dev/null || true
    wait $SERVER_PID 2>/dev/null || true
    SERVER_PID=
}

# The server's processes: the daemon, or nginx's master and its workers.
server_pids() { echo $SERVER_PID $(pgrep -P $SERVER_PID || true); }
cpu_ticks() { local t=0; for p in $(server_pids); do t=$((t + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $t; }
hwm_kb() { local t=0; for p in $(server_pids); do t=$((t + $(awk '/VmHWM/ {print $2}' /proc/$p/status))); done; echo $t; }
reset_hwm() { for p in $(server_pids); do echo 5 > /proc/$p/clear_refs; done; }
TCK=$(getconf CLK_TCK)
now() { date +%s.%N; }

# p99 (nearest rank) of column $2 of file $1.
p99() {
    sort -g -k"$2" "$1" | awk -v c="$2" '{ d[NR] = $c } END { if (NR) { i = int(NR * 0.99 + 0.999999); printf "%.2f", d[i] * 1000 } else print "nan" }'
}

WF='%{url_effective} %{http_code} %{size_download} %{time_total}\n'

# One phone: its config, then the image, on one connection.
cat > "$WORK/phone.sh" <<'EOF'
#!/bin/sh
# $1 = scheme, $2 = mac, $3 = CA, $4 = write-out
exec curl -s --cacert "$3" -w "$4" -o /dev/null -o /dev/null \
    "$1://192.168.92.246/ThirdParty_Devices/$2.cfg" "$1://192.168.92.246/Binary/fw.img"
EOF
chmod +x "$WORK/phone.sh"

firmware_day() { # $1 = scheme, $2 = result file
    printf '%s\n' "${MACS[@]:0:$CLIENTS}" |
        ip netns exec $CLI taskset -c 1 xargs -P "$CLIENTS" -I{} "$WORK/phone.sh" "$1" {} "$CA" "$WF" > "$2" || true
}

recheck() { # $1 = scheme, $2 = etag file (mac etag), $3 = result file
    local conf=$WORK/recheck-$1.conf
    : > "$conf"
    while read -r mac etag; do
        if [ -s "$conf" ]; then echo next >> "$conf"; fi
        printf 'url = "%s://192.168.92.246/ThirdParty_Devices/%s.cfg"\noutput = "/dev/null"\ncacert = "%s"\nheader = "If-None-Match: %s"\nwrite-out = "%s"\n' \
            "$1" "$mac" "$CA" "$(printf '%s' "$etag" | sed 's/"/\\"/g')" "$WF" >> "$conf"
    done < "$2"
    : > "$3"
    for _ in $(seq 1 "$ROUNDS"); do
        ip netns exec $CLI taskset -c 1 curl -s --parallel --parallel-max "$RECHECK" -K "$conf" >> "$3" 2> "$3.err" || true
    done
}

etags() { # $1 = result file: "mac etag" for the first RECHECK macs
    local conf=$WORK/etag.conf
    : > "$conf"
    for mac in "${MACS[@]:0:$RECHECK}"; do
        printf 'url = "http://192.168.92.246/ThirdParty_Devices/%s.cfg"\noutput = "/dev/null"\n' "$mac" >> "$conf"
    done
    ip netns exec $CLI curl -s -K "$conf" -w '%{url_effective} %header{etag}\n' |
        sed -E 's|.*/([0-9a-f]+)\.cfg |\1 |' > "$1"
    [ "$(awk 'NF == 2' "$1" | wc -l)" -eq "$RECHECK" ] || { echo "bench-http: no ETag from the server"; head -3 "$1"; exit 1; }
}

RESULTS=$WORK/results.tsv
: > "$RESULTS"
run_scenario() { # server rep scenario
    local server=$1 rep=$2 scenario=$3 raw=$WORK/raw-$1-$2-$3.txt expect
    reset_hwm
    local t0 c0 t1 c1
    c0=$(cpu_ticks); t0=$(now)
    case $scenario in
        firmware-http) firmware_day http "$raw" ;;
        firmware-https) firmware_day https "$raw" ;;
        recheck-http) recheck http "$WORK/etags-$server" "$raw" ;;
        recheck-https) recheck https "$WORK/etags-$server" "$raw" ;;
    esac
    t1=$(now); c1=$(cpu_ticks)
    local ok wall cpu p99c rss
    case $scenario in
        firmware-*)
            expect=$((CLIENTS * 2))
            ok=$(awk -v c=$CFG_SIZE -v i=$IMG_SIZE '$2 == 200 && (($1 ~ /\.cfg$/ && $3 == c) || ($1 ~ /\.img$/ && $3 == i))' "$raw" | wc -l)
            grep '\.cfg ' "$raw" > "$raw.cfg" || true ;;
        recheck-*)
            expect=$((RECHECK * ROUNDS))
            ok=$(awk '$2 == 304 && $3 == 0' "$raw" | wc -l)
            cp "$raw" "$raw.cfg" ;;
    esac
    wall=$(awk -v a=$t0 -v b=$t1 'BEGIN { printf "%.3f", b - a }')
    cpu=$(awk -v a=$c0 -v b=$c1 -v t=$TCK 'BEGIN { printf "%.2f", (b - a) / t }')
    p99c=$(p99 "$raw.cfg" 4)
    rss=$(hwm_kb)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' $server $rep $scenario $wall $cpu $((expect - ok)) $p99c $rss >> "$RESULTS"
    printf '%-6s rep %s %-15s wall %7s s  CPU %6s s  failures %4s  config p99 %8s ms  peak RSS %6s kB\n' \
        $server $rep $scenario $wall $cpu $((expect - ok)) $p99c $rss
}

for rep in $(seq 1 $REPS); do
    # Alternate which server goes first.
    if [ $((rep % 2)) = 1 ]; then order=$SERVERS; else order=$(printf '%s\n' $SERVERS | tac | tr '\n' ' '); fi
    for server in $order; do
        start_server $server
        # Warm: the files in the page cache, the server's first allocations.
        ip netns exec $CLI curl -s -o /dev/null http://192.168.92.246/Binary/fw.img
        [[ "$SCENARIOS" != *https* ]] ||
            ip netns exec $CLI curl -s -o /dev/null --cacert "$CA" https://192.168.92.246/Binary/fw.img
        etags "$WORK/etags-$server"
        for scenario in $SCENARIOS; do
            run_scenario $server $rep $scenario
        done
        stop_server
    done
done

# ---------------------------------------------------------------- table
{
    echo "| scenario | server | wall s (median) | server CPU s (median) | failures (all reps) | config p99 ms (median) | peak RSS MiB (max) |"
    echo "|---|---|---:|---:|---:|---:|---:|"
    for scenario in $SCENARIOS; do
        for server in pbxnet nginx; do
            awk -F'\t' -v s=$server -v sc=$scenario '$1 == s && $3 == sc' "$RESULTS" |
            awk -F'\t' -v s=$server -v sc=$scenario '
                function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                    return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
                { n++; w[n] = $4; c[n] = $5; f += $6; p[n] = $7; if ($8 > r) r = $8 }
                END { if (n) printf "| %s | %s | %.3f | %.2f | %d | %.2f | %.1f |\n", sc, s, median(w, n), median(c, n), f, median(p, n), r / 1024 }'
        done
    done
    echo
    echo "Ratios pbxnet / nginx (medians over $REPS repetitions; goals: plain HTTP wall and CPU <= 1.0, HTTPS <= 1.1, config p99 <= 1.0, 0 failures, pbxnet RSS < 30 MiB):"
    echo
    echo "| scenario | wall | server CPU | config p99 | peak RSS | failures pbxnet / nginx |"
    echo "|---|---:|---:|---:|---:|---:|"
    for scenario in $SCENARIOS; do
        awk -F'\t' -v sc=$scenario '
            function median(a, n,   i, j, t) { for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
                return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
            function ratio(x, y) { return y > 0 ? sprintf("%.2f", x / y) : "n/a" }
            $3 == sc { k = $1; n[k]++; w[k, n[k]] = $4; c[k, n[k]] = $5; p[k, n[k]] = $7; f[k] += $6; if ($8 > r[k]) r[k] = $8 }
            END {
                for (s in n) { m = n[s]; for (i = 1; i <= m; i++) { a[i] = w[s, i] } W[s] = median(a, m)
                               for (i = 1; i <= m; i++) { a[i] = c[s, i] } C[s] = median(a, m)
                               for (i = 1; i <= m; i++) { a[i] = p[s, i] } P[s] = median(a, m) }
                printf "| %s | %s | %s | %s | %s | %d / %d |\n", sc, ratio(W["pbxnet"], W["nginx"]), ratio(C["pbxnet"], C["nginx"]),
                    ratio(P["pbxnet"], P["nginx"]), ratio(r["pbxnet"], r["nginx"]), f["pbxnet"], f["nginx"]
            }' "$RESULTS"
    done
    echo
    echo "nginx RSS is master + worker. Server pinned to CPU 0, clients to CPU 1 ($(nproc) CPUs on this machine)."
    echo "$("$NGINX" -v 2>&1); $(curl --version | head -1 | cut -d' ' -f1-5); pbxnet: $BIN"
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo
cat "$OUT"
