#!/usr/bin/env bash
# TLS side by side: Ravelin, HAProxy and nginx terminating TLS in front of the same built-in
# backend, the proxy pinned to CPU 1, wrk and the backend on CPU 0, targets alternated per
# round. Loopback only. Scenarios (wrk drives them; it speaks OpenSSL, TLS 1.3):
#   handshake  - a new TLS connection per request (`Connection: close`) with resumption
#                off in every proxy (no tickets, no session cache): full handshakes/s
#   resumed    - one connection after another, each resuming the session (`openssl s_time
#                -reuse`; wrk does not resume against every proxy): resumed handshakes/s
#   keepalive  - 50 keep-alive HTTPS connections, 100-byte responses: requests/s
#   1m         - 10 keep-alive HTTPS connections, 1 MiB responses: MB/s
# for an ECDSA P-256 and an RSA-2048 certificate. Prints a Markdown table of medians.
#
#   bash loadtest/tls-bench.sh [--rounds 3] [--duration 6s] [--only ravelin,haproxy,nginx]
#
# Needs: target/release/ravelin, target/release/ravelin-load (cargo build --release
# --workspace), and `bash loadtest/setup.sh` (haproxy, nginx, wrk, taskset), openssl.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=3
DURATION=6s
ONLY="ravelin,haproxy,nginx"
SCENARIOS="handshake resumed keepalive 1m"
while [ $# -gt 0 ]; do
    case "$1" in
        --scenarios) SCENARIOS=$2; shift 2 ;;
        --rounds) ROUNDS=$2; shift 2 ;;
        --duration) DURATION=$2; shift 2 ;;
        --only) ONLY=$2; shift 2 ;;
        *) echo "unknown option $1" >&2; exit 1 ;;
    esac
done

PORT=20160
BACKEND_PORT=21160
BIG_PORT=21161
WORK=$(mktemp -d /tmp/ravelin-tls-bench.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

# Certificates: one ECDSA P-256 and one RSA-2048, self-signed for localhost.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -keyout "$WORK/ecdsa.key" -out "$WORK/ecdsa.crt" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 \
    -subj /CN=localhost -keyout "$WORK/rsa.key" -out "$WORK/rsa.crt" 2>/dev/null
cat "$WORK/ecdsa.crt" "$WORK/ecdsa.key" > "$WORK/ecdsa.pem"
cat "$WORK/rsa.crt" "$WORK/rsa.key" > "$WORK/rsa.pem"

LOAD=target/release/ravelin-load
taskset -c 0 "$LOAD" backend http --listen 127.0.0.1:$BACKEND_PORT -t 1 --body-size 100 --name b1 \
    > "$WORK/backend.log" 2>&1 &
PIDS+=($!)
taskset -c 0 "$LOAD" backend http --listen 127.0.0.1:$BIG_PORT -t 1 --body-size 1048576 --name big \
    > "$WORK/backend-big.log" 2>&1 &
PIDS+=($!)
sleep 0.5

haproxy_cfg() { # $1 cert pem, $2 backend port, $3 "full" = resumption off
    local g="" b=""
    if [ "${3:-}" = full ]; then g="    tune.ssl.cachesize 0"; b=" no-tls-tickets"; fi
    cat <<EOF
global
    nbthread 1
    cpu-map 1/1 1
    maxconn 9500
$g
defaults
    mode http
    timeout connect 5s
    timeout client 30s
    timeout server 30s
frontend fe
    bind 127.0.0.1:$PORT ssl crt $1 alpn http/1.1$b
    default_backend be
backend be
    http-reuse always
    server b1 127.0.0.1:$2
EOF
}

nginx_cfg() { # $1 cert base (without .crt/.key), $2 backend port, $3 "full"
    local cache="ssl_session_cache shared:SSL:10m;"
    if [ "${3:-}" = full ]; then cache="ssl_session_cache off; ssl_session_tickets off;"; fi
    cat <<EOF
worker_processes 1;
events { worker_connections 10000; }
http {
    access_log off;
    upstream be { server 127.0.0.1:$2; keepalive 64; }
    server {
        listen 127.0.0.1:$PORT ssl;
        ssl_certificate $1.crt;
        ssl_certificate_key $1.key;
        $cache
        location / {
            proxy_pass http://be;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
        }
    }
}
EOF
}

start_proxy() { # $1 target, $2 cert kind, $3 backend port, $4 "full"; sets PROXY_PID
    local t=$1 kind=$2 bport=$3 full=${4:-}
    case "$t" in
        ravelin)
            haproxy_cfg "$WORK/$kind.pem" "$bport" "$full" > "$WORK/r.cfg"
            taskset -c 1 target/release/ravelin -db -f "$WORK/r.cfg" > "$WORK/ravelin.log" 2>&1 &
            ;;
        haproxy)
            haproxy_cfg "$WORK/$kind.pem" "$bport" "$full" > "$WORK/h.cfg"
            taskset -c 1 haproxy -db -f "$WORK/h.cfg" > "$WORK/haproxy.log" 2>&1 &
            ;;
        nginx)
            mkdir -p "$WORK/nginx"
            nginx_cfg "$WORK/$kind" "$bport" "$full" > "$WORK/nginx/nginx.conf"
            taskset -c 1 nginx -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" \
                -g "daemon off; pid $WORK/nginx/nginx.pid;" > "$WORK/nginx.log" 2>&1 &
            ;;
    esac
    PROXY_PID=$!
    for _ in $(seq 50); do
        if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "$t did not start" >&2
    return 1
}

stop_proxy() {
    kill "$PROXY_PID" 2>/dev/null || true
    wait "$PROXY_PID" 2>/dev/null || true
}

# CPU ticks (user + system, 1/100 s) the proxy used so far, its workers (nginx) included.
cpu_ticks() {
    local total=0 p
    for p in "$1" $(pgrep -P "$1" 2>/dev/null); do
        total=$((total + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
    done
    echo "$total"
}

# One wrk run; prints requests/s, transfer MB/s and the proxy's CPU µs per request.
run_wrk() { # $1 scenario
    local out t0 t1
    t0=$(cpu_ticks "$PROXY_PID")
    case "$1" in
        handshake) out=$(taskset -c 0 wrk -t1 -c50 -d"$DURATION" -H 'Connection: close' "https://127.0.0.1:$PORT/" 2>&1) ;;
        resumed)
            local secs=${DURATION%s}
            out=$(taskset -c 0 timeout $((secs + 20)) openssl s_time -connect 127.0.0.1:$PORT -reuse -time "$secs" -www / 2>&1 | tail -1)
            # "N connections in T real seconds, ..." as wrk's two lines.
            out=$(echo "$out" | awk '/connections in/ {printf "Requests/sec: %.2f\n%d requests in\n", $1/$4, $1}')
            ;;
        keepalive) out=$(taskset -c 0 wrk -t1 -c50 -d"$DURATION" "https://127.0.0.1:$PORT/" 2>&1) ;;
        1m) out=$(taskset -c 0 wrk -t1 -c10 -d"$DURATION" "https://127.0.0.1:$PORT/" 2>&1) ;;
    esac
    t1=$(cpu_ticks "$PROXY_PID")
    local rps mbs reqs cpu
    rps=$(echo "$out" | awk '/Requests\/sec/ {print $2}')
    reqs=$(echo "$out" | awk '/requests in/ {print $1}')
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="${reqs:-0}" 'BEGIN {if (n>0) printf "%.0f", (b-a)*10000/n; else print 0}')
    mbs=$(echo "$out" | awk '/Transfer\/sec/ {v=$2; if (v ~ /GB/) {sub(/GB/,"",v); v*=1024} else if (v ~ /MB/) {sub(/MB/,"",v)} else if (v ~ /KB/) {sub(/KB/,"",v); v/=1024}; print v}')
    echo "${rps:-0} ${mbs:-0} ${cpu:-0}"
}

median() { sort -n | awk '{a[NR]=$1} END {if (NR==0) {print 0} else if (NR%2) {print a[(NR+1)/2]} else {print (a[NR/2]+a[NR/2+1])/2}}'; }

IFS=, read -r -a TARGETS <<< "$ONLY"
echo "| scenario | cert | $(printf '%s | ' "${TARGETS[@]}")Ravelin/HAProxy | Ravelin/nginx |"
echo "|---|---|$(printf -- '---:|%.0s' "${TARGETS[@]}")---:|---:|"
for scenario in $SCENARIOS; do
    for kind in ecdsa rsa; do
        [ "$scenario" != handshake ] && [ "$kind" = rsa ] && continue
        bport=$BACKEND_PORT
        [ "$scenario" = 1m ] && bport=$BIG_PORT
        declare -A samples=() cpus=()
        for _ in $(seq "$ROUNDS"); do
            for t in "${TARGETS[@]}"; do
                full=""
                [ "$scenario" = handshake ] && full=full
                start_proxy "$t" "$kind" "$bport" "$full"
                read -r rps mbs cpu < <(run_wrk "$scenario")
                stop_proxy
                if [ "$scenario" = 1m ]; then v=$mbs; else v=$rps; fi
                samples[$t]="${samples[$t]:-} $v"
                cpus[$t]="${cpus[$t]:-} $cpu"
            done
        done
        row="| $scenario | $kind |"
        declare -A med=()
        for t in "${TARGETS[@]}"; do
            med[$t]=$(echo "${samples[$t]}" | tr ' ' '\n' | grep -v '^$' | median)
            c=$(echo "${cpus[$t]}" | tr ' ' '\n' | grep -v '^$' | median)
            row="$row ${med[$t]} (${samples[$t]# }) @ ${c} µs |"
        done
        ratio() { awk -v a="${med[ravelin]:-0}" -v b="${med[$1]:-0}" 'BEGIN {if (b>0) printf "%.2f", a/b; else print "n/a"}'; }
        echo "$row $(ratio haproxy) | $(ratio nginx) |"
        unset samples med cpus
    done
done
echo
echo "unit: requests/s (handshake, resumed, keepalive), MB/s (1m); medians of $ROUNDS rounds of $DURATION, rounds in brackets; @ proxy CPU µs per request (median)"
