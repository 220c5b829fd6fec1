# bench/lib.sh - shell helpers shared by the bench scripts (sourced, not
# run).  The caller sets WORK (its temporary directory), NGINX (the nginx
# binary) and the array NOTES; start_nginx sets NGX_PID and NGX_PORT.
# LOG_TAG names the caller in log lines.

# The root keys every bench server starts with and rsbench signs with
# (the environment's, when set).
export ROADSTORE_ACCESS_KEY=${ROADSTORE_ACCESS_KEY:-rsbenchAKIA0000000001}
export ROADSTORE_SECRET_KEY=${ROADSTORE_SECRET_KEY:-rsbenchSecretKey0000000000000000000000001}

log() { echo "[${LOG_TAG:-run.sh} $(date +%T)] $*" >&2; }
note() { NOTES+=("$*"); log "NOTE: $*"; }

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# field LINE KEY -> value of KEY=value in an RSBENCH line
field() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -1; }

# CPU ticks (user+system, all threads) used so far by the given processes
cpu_ticks() {
	local t=0 p v
	for p in "$@"; do
		v=$(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null) || v=0
		t=$((t + ${v:-0}))
	done
	echo "$t"
}
HZ=$(getconf CLK_TCK)

NGX_PORT=
start_nginx() { # ROOTDIR
	local p=$WORK/nginx
	mkdir -p "$p/logs" "$p/tmp"
	NGX_PORT=$(free_port)
	# run the workers as the current user (as root nginx would drop to nobody)
	local user=
	[ "$(id -u)" = 0 ] && user="user $(id -un) $(id -gn);"
	cat >"$p/nginx.conf" <<EOF
$user
worker_processes auto;
pid $p/nginx.pid;
error_log $p/logs/error.log warn;
daemon off;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    # tcp_nopush on costs ~40 ms stalls on loopback for 64 KiB bodies
    # (measured: 2.8k vs 12k GET/s at c=1); off is the better ceiling
    tcp_nopush off;
    tcp_nodelay on;
    keepalive_timeout 65;
    keepalive_requests 1000000;
    client_body_temp_path $p/tmp/body;
    proxy_temp_path $p/tmp/proxy;
    fastcgi_temp_path $p/tmp/fastcgi;
    uwsgi_temp_path $p/tmp/uwsgi;
    scgi_temp_path $p/tmp/scgi;
    default_type application/octet-stream;
    server {
        listen 127.0.0.1:$NGX_PORT;
        root $1;
    }
}
EOF
	"$NGINX" -p "$p" -c "$p/nginx.conf" -e "$p/logs/error.log" &
	NGX_PID=$!
	local i
	for i in $(seq 1 50); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$NGX_PORT/")" != 000 ] && return 0
		sleep 0.1
	done
	note "nginx did not start: $(cat "$p/logs/error.log")"
	return 1
}

# the busiest processes that are not part of this benchmark
foreign_top() {
	ps -eo pid=,pcpu=,comm= --sort=-pcpu |
		awk -v me="$$" '$3 !~ /^(roadstore|nginx|rsbench|ps|awk|run\.sh|small\.sh|bash|du|sleep|curl)$/ && $2 > 5 {printf "%s%s %s%%", sep, $3, $2; sep=", "; if (++n == 5) exit}'
}


# rs_serve DATA LOG [ARGS...]: start $ROADSTORE on fresh loopback ports
# (S3, event PUB, broker) with data dir DATA, appending its output to LOG,
# and wait until it is healthy.  Sets RS_PID, RS_PORT, RS_EPORT, RS_BPORT;
# returns 1 (with a note) when it exits or stays unhealthy for 60 s.  Call
# it in the benchmark's shell, not in $(...), so rs_halt can wait for it.
rs_serve() {
	local data=$1 logf=$2 i
	shift 2
	mkdir -p "$data"
	RS_PORT=$(free_port)
	RS_EPORT=$(free_port)
	RS_BPORT=$(free_port)
	"$ROADSTORE" server --data "$data" --listen "127.0.0.1:$RS_PORT" \
		--events "tcp://127.0.0.1:$RS_EPORT" --broker "tcp://127.0.0.1:$RS_BPORT" \
		"$@" >>"$logf" 2>&1 &
	RS_PID=$!
	for i in $(seq 1 600); do
		if ! kill -0 "$RS_PID" 2>/dev/null; then
			note "roadstore exited at startup: $(tail -5 "$logf" | tr '\n' ' ')"
			RS_PID=
			return 1
		fi
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
			"http://127.0.0.1:$RS_PORT/_roadstore/health")" = 200 ] && return 0
		sleep 0.1
	done
	note "roadstore not healthy after 60 s"
	return 1
}

# rs_halt: SIGTERM the server rs_serve started and wait for it (a note
# when it exits with an unexpected status).
rs_halt() {
	[ -z "${RS_PID:-}" ] && return
	kill "$RS_PID" 2>/dev/null
	wait "$RS_PID" 2>/dev/null
	local st=$?
	[ "$st" != 0 ] && [ "$st" != 143 ] && note "roadstore exited with status $st at stop"
	RS_PID=
}
