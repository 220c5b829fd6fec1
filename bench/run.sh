#!/usr/bin/env bash
# bench/run.sh — the roadstore benchmark, in one run on this machine.
#
#   bench/run.sh            (after: cmake --build build --target roadstore rsbench)
#
# 1. starts build/roadstore on a free loopback port with a fresh data dir, and
#    nginx (Debian nginx-light, generated config, sendfile on, keep-alive) on
#    another free port serving the same object bytes as plain files;
# 2. PUT and GET of 4 KiB, 64 KiB, 1 MiB objects at concurrency 1, 8, 64
#    against roadstore, the same GETs against nginx as the ceiling, ratios;
# 3. memory bound: 32 concurrent streamed 128 MiB uploads (and 8 MiB ones)
#    while sampling the server's VmRSS/VmHWM every 100 ms;
# 4. the disk's own limits (sequential O_DIRECT write + fdatasync, and small
#    durable file creates) to set beside the PUT numbers.
# Prints a Markdown report and writes it to bench/results/latest.md, raw
# rsbench lines to bench/results/latest.raw.
#
# Environment: BUILD (default ./build), DUR (seconds per cell, default 4),
# SIZES ("4K 64K 1M"), CONCS ("1 8 64"), BIG_COUNT (32), SKIP_MEM=1,
# SKIP_DISK=1, KEEP=1 (keep the temporary directory), BENCH_TMP (parent of
# the temporary directory; default BUILD, i.e. the same disk as the repo).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
RSBENCH=${RSBENCH:-$BUILD/rsbench}
ROADSTORE=${ROADSTORE:-$BUILD/roadstore}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
DUR=${DUR:-4}
SIZES=${SIZES:-"4K 64K 1M"}
CONCS=${CONCS:-"1 8 64"}
BIG_COUNT=${BIG_COUNT:-32}
BUCKET=rsbench
OUTDIR=${OUTDIR:-$HERE/results}
mkdir -p "$OUTDIR" "${BENCH_TMP:-$BUILD}"
WORK=$(mktemp -d "${BENCH_TMP:-$BUILD}/bench.XXXXXX")
RAW=$OUTDIR/latest.raw
MD=$OUTDIR/latest.md
: >"$RAW"
NOTES=()

SRV_PID=
NGX_PID=
SAMPLER_PID=
cleanup() {
	[ -n "$SAMPLER_PID" ] && kill "$SAMPLER_PID" 2>/dev/null
	[ -n "$SRV_PID" ] && kill "$SRV_PID" 2>/dev/null && wait "$SRV_PID" 2>/dev/null
	[ -n "$NGX_PID" ] && kill "$NGX_PID" 2>/dev/null && wait "$NGX_PID" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then
		echo "kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# log, note, free_port, field, cpu_ticks, HZ, start_nginx, foreign_top
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

# the processes serving a cell: roadstore, or nginx's master and workers
target_pids() { # srv|ngx
	if [ "$1" = srv ]; then
		echo "${SRV_PID:-}"
	else
		echo "$NGX_PID $(cat /proc/"$NGX_PID"/task/*/children 2>/dev/null)"
	fi
}

# bench NAME TARGET ARGS... : run rsbench, keep its RSBENCH lines in $RAW,
# set $LAST (with the server's CPU seconds and the load average appended)
bench() {
	local name=$1 target=$2
	shift 2
	local out rc pids c0 c1 load
	pids=$(target_pids "$target")
	load=$(cut -d' ' -f1 /proc/loadavg)
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $pids)
	out=$(timeout 300 "$RSBENCH" "$@" 2>"$WORK/err.$name")
	rc=$?
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	out=$(echo "$out" | sed "/^RSBENCH /s/\$/ srv_cpu_s=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN{printf "%.2f", (b - a) / hz}') load1=$load/")
	{
		echo "# $name: rsbench $*"
		echo "$out"
		sed 's/^/# stderr: /' "$WORK/err.$name"
	} >>"$RAW"
	echo "$out" | grep -v '^RSBENCH' >&2
	[ -s "$WORK/err.$name" ] && sed 's/^/    /' "$WORK/err.$name" | head -5 >&2
	LAST=$(echo "$out" | grep '^RSBENCH ' | tail -1)
	if [ $rc -ne 0 ]; then
		note "$name: rsbench exit $rc: $(echo "$out" | grep '^RSBENCH_ERR' | tr '\n' ' ') $(head -c 200 "$WORK/err.$name" | tr '\n' ' ')"
	fi
	return 0
}

# ------------------------------------------------------------ roadstore

SRV_PORT=
SRV_DATA=
start_server() { # DATADIR
	SRV_DATA=$1
	mkdir -p "$SRV_DATA"
	SRV_PORT=$(free_port)
	"$ROADSTORE" server --data "$SRV_DATA" --listen "127.0.0.1:$SRV_PORT" \
		>>"$WORK/server.log" 2>&1 &
	SRV_PID=$!
	local i code
	for i in $(seq 1 300); do
		if ! kill -0 "$SRV_PID" 2>/dev/null; then
			wait "$SRV_PID"
			note "roadstore exited with status $? at startup; log: $(tail -5 "$WORK/server.log" | tr '\n' ' ')"
			SRV_PID=
			return 1
		fi
		code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
			"http://127.0.0.1:$SRV_PORT/_roadstore/health")
		[ "$code" = 200 ] && return 0
		# answering HTTP but no health endpoint yet: go on after 3 s, say so
		if [ "$code" != 000 ] && [ "$i" -ge 30 ]; then
			note "roadstore answers /_roadstore/health with $code, not 200; benchmarking anyway"
			return 0
		fi
		sleep 0.1
	done
	note "roadstore not healthy after 30 s (last /_roadstore/health status $code)"
	return 1
}

stop_server() {
	[ -z "$SRV_PID" ] && return
	kill "$SRV_PID" 2>/dev/null
	wait "$SRV_PID" 2>/dev/null
	SRV_PID=
}

# After a cell: if the server died, say so precisely and start it again.
check_server() { # CELLNAME
	if [ -n "$SRV_PID" ] && ! kill -0 "$SRV_PID" 2>/dev/null; then
		wait "$SRV_PID"
		local st=$?
		note "roadstore DIED during $1 (exit status $st); last log lines: $(tail -8 "$WORK/server.log" | tr '\n' ' ')"
		SRV_PID=
		start_server "$SRV_DATA" || true
	fi
}

# ------------------------------------------------------------- nginx

# ---------------------------------------------------------- machine

machine() {
	local cpu disk
	cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
	disk=$(df -P "$WORK" | awk 'NR==2{print $1}')
	echo "- host: $(uname -srm), $(nproc) cores ($cpu), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
	echo "- disk under the data dirs: $disk ($(lsblk -dno SIZE,ROTA,MODEL "$disk" 2>/dev/null | awk '{printf "%s, %s", $1, ($2 == 1 ? "rotational flag set" : "non-rotational")}')), fs $(df -PT "$WORK" | awk 'NR==2{print $2}')"
	echo "- client and servers share the same $(nproc) cores (one rsbench process, loopback)"
	echo "- $("$NGINX" -v 2>&1), $(curl-config --version 2>/dev/null), $(gcc --version | head -1)"
	echo "- roadstore: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo 'no commit yet'), $(cd "$ROOT" && git status --porcelain 2>/dev/null | wc -l) uncommitted paths; binary $(stat -c '%y' "$ROADSTORE" 2>/dev/null | cut -d. -f1)"
	echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'), DUR=${DUR}s per cell"
	echo "- load average at start: $LOAD_START; at end: $(cut -d' ' -f1-3 /proc/loadavg)"
	echo "- other busy processes at start: ${TOP_START:-none}; at end: $(foreign_top)"
}

# ------------------------------------------------------------- disk

DISK_LINES=()
declare -A DISK_FILES DISK_SEQ
MD5_MIB=
disk_limits() { # PHASE (before|after the load)
	local ph=$1
	local d=$WORK/disk out
	mkdir -p "$d"
	out=$(dd if=/dev/zero of="$d/seq" bs=1M count=1024 oflag=direct conv=fdatasync 2>&1 | tail -1)
	DISK_SEQ[$ph]=$(awk -v v="$(echo "$out" | awk -F', ' '{print $(NF-1)}' | sed 's/ s$//')" 'BEGIN{printf "%.0f", 1024 / v}')
	DISK_LINES+=("| $ph | sequential write, 1 GiB, bs=1M, O_DIRECT + fdatasync (\`dd oflag=direct conv=fdatasync\`) | $(echo "$out" | awk -F', ' '{print $NF}') |")
	rm -f "$d/seq"
	out=$(dd if=/dev/zero of="$d/sync4k" bs=4k count=1000 oflag=dsync 2>&1 | tail -1)
	DISK_LINES+=("| $ph | 4 KiB O_DSYNC writes, one file (\`dd bs=4k oflag=dsync\`) | $(echo "$out" | awk -F', ' '{split($NF,a," "); printf "%s %s = %.0f writes/s", a[1], a[2], 1000/$(NF-1)}') |")
	rm -f "$d/sync4k"
	# Durable small-file creates, one thread: what a PUT minimally costs the
	# disk (write, fdatasync, rename into place, fsync of the directory).
	local py
	py=$(python3 - "$d" <<'EOF'
import os, sys, time
d = sys.argv[1]
for label, size, n in (("4 KiB", 4096, 2000), ("64 KiB", 65536, 1000), ("1 MiB", 1 << 20, 300)):
    buf = os.urandom(size)
    dfd = os.open(d, os.O_RDONLY)
    t = time.monotonic()
    done = 0
    for i in range(n):
        if i >= 50 and time.monotonic() - t > 3:
            break
        done += 1
        tmp = os.path.join(d, "t%d.tmp" % i)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.write(fd, buf)
        os.fdatasync(fd)
        os.close(fd)
        os.rename(tmp, os.path.join(d, "f%d" % i))
        os.fsync(dfd)
    s = time.monotonic() - t
    n = done
    os.close(dfd)
    for i in range(n):
        os.unlink(os.path.join(d, "f%d" % i))
    print("| %s files, 1 thread: write + fdatasync + rename + fsync(dir) | %.0f files/s, %.1f MiB/s |" % (label, n / s, n * size / s / 1048576))
    print("DISKFILES %s %.0f" % ({4096: "4K", 65536: "64K", 1 << 20: "1M"}[size], n / s))
EOF
)
	while IFS= read -r l; do
		case $l in
		DISKFILES*) set -- $l; DISK_FILES[$ph,$2]=$3 ;;
		*) DISK_LINES+=("| $ph $l") ;;
		esac
	done <<<"$py"
	[ "$ph" = before ] || return 0
	# CPU reference: S3's ETag is the MD5 of the body, one core's MD5 speed
	# bounds what one PUT stream can reach
	out=$(openssl speed -seconds 2 -bytes 262144 -evp md5 2>/dev/null | tail -1 | awk '{print $2}')
	MD5_MIB=$(awk -v k="${out%k}" 'BEGIN{printf "%.0f", k * 1000 / 1048576}')
	DISK_LINES+=("| $ph | CPU reference: MD5 (the ETag) on one core, \`openssl speed -evp md5\`, 256 KiB blocks | $MD5_MIB MiB/s |")
}

# --------------------------------------------------------- memory

MEM_LINES=()
sample_rss() { # PID OUTFILE
	while kill -0 "$1" 2>/dev/null; do
		awk -v t="$(date +%s.%N)" '/^VmRSS/{r=$2} /^VmHWM/{h=$2} /^Threads/{n=$2} END{if (r) print t, r, h, n}' \
			"/proc/$1/status" >>"$2" 2>/dev/null || break
		sleep 0.1
	done
}

mem_run() { # SIZE COUNT
	local size=$1 count=$2 s=$WORK/rss.$1
	stop_server
	start_server "$WORK/mem-$size" || { MEM_LINES+=("| $size x $count, c=32 | server did not start | | | | | |"); return; }
	"$RSBENCH" put --endpoint "http://127.0.0.1:$SRV_PORT" --bucket "$BUCKET" --size 4K --count 1 --prefix warm/ >/dev/null 2>&1
	sleep 1
	local before
	before=$(awk '/^VmRSS/{print $2}' "/proc/$SRV_PID/status")
	: >"$s"
	sample_rss "$SRV_PID" "$s" &
	SAMPLER_PID=$!
	bench "mem-$size" srv put --endpoint "http://127.0.0.1:$SRV_PORT" --bucket "$BUCKET" \
		--size "$size" --concurrency 32 --count "$count" --prefix "mem/$size/" --timeout 280
	local put=$LAST
	sleep 2
	local after hwm peak threads
	after=$(awk '/^VmRSS/{print $2}' "/proc/$SRV_PID/status" 2>/dev/null)
	kill "$SAMPLER_PID" 2>/dev/null
	wait "$SAMPLER_PID" 2>/dev/null
	SAMPLER_PID=
	check_server "mem-$size"
	peak=$(awk 'BEGIN{m=0} $2>m{m=$2} END{print m}' "$s")
	hwm=$(awk 'END{print $3}' "$s")
	threads=$(awk 'BEGIN{m=0} $4>m{m=$4} END{print m}' "$s")
	cp "$s" "$OUTDIR/latest.rss.$size"
	MEM_LINES+=("| $size x $count, c=32 | $(field "$put" ok)/$count ok, $(field "$put" mib_s) MiB/s | $(awk -v k="$before" 'BEGIN{printf "%.1f", k/1024}') | $(awk -v k="$peak" 'BEGIN{printf "%.1f", k/1024}') | $(awk -v k="$hwm" 'BEGIN{printf "%.1f", k/1024}') | $(awk -v k="${after:-0}" 'BEGIN{printf "%.1f", k/1024}') | $threads |")
	stop_server
}

# ----------------------------------------------------------- main

[ -x "$RSBENCH" ] || { echo "no $RSBENCH; build it first" >&2; exit 1; }
"$RSBENCH" --selftest >/dev/null || { echo "rsbench --selftest failed" >&2; exit 1; }
HAVE_RS=1
[ -x "$ROADSTORE" ] || { HAVE_RS=0; note "no $ROADSTORE: roadstore columns are empty"; }

log "work dir $WORK"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
TOP_START=$(foreign_top)
[ "${SKIP_DISK:-0}" != 1 ] && disk_limits before
mkdir -p "$WORK/www/$BUCKET"
start_nginx "$WORK/www" || exit 1
if [ $HAVE_RS = 1 ]; then
	start_server "$WORK/data" || HAVE_RS=0
fi
NG="http://127.0.0.1:$NGX_PORT"
log "roadstore http://127.0.0.1:${SRV_PORT:-none} (pid ${SRV_PID:-none}), nginx $NG (pid $NGX_PID)"

declare -A R # R[kind,size,conc] = RSBENCH line
for size in $SIZES; do
	# roadstore PUTs; the objects of the largest-concurrency PUT are the GET set
	nobj=0
	getprefix=
	for c in $CONCS; do
		if [ $HAVE_RS = 1 ]; then
			bench "put-$size-c$c" srv put --endpoint "http://127.0.0.1:$SRV_PORT" --bucket "$BUCKET" --size "$size" \
				--concurrency "$c" --duration "$DUR" --prefix "p/$size/c$c/" --timeout 120
			R[put,$size,$c]=$LAST
			check_server "put-$size-c$c"
			n=$(field "$LAST" ok)
			e=$(field "$LAST" err)
			if [ "${n:-0}" -gt "$nobj" ] && [ "${e:-1}" = 0 ]; then
				nobj=$n
				getprefix="p/$size/c$c/"
			fi
		fi
	done
	# key space for GETs: what roadstore stored (without errors), capped so
	# that generating the nginx files stays quick
	case $size in 1M) cap=1000 ;; *) cap=4000 ;; esac
	if [ -z "$getprefix" ]; then
		getprefix="p/$size/c64/"
		nobj=$cap
		[ $HAVE_RS = 1 ] && note "$size: no error-free PUT cell; roadstore GETs use keys that may not exist"
	fi
	[ "$nobj" -gt "$cap" ] && nobj=$cap
	"$RSBENCH" genfiles --dir "$WORK/www" --bucket "$BUCKET" --prefix "$getprefix" \
		--size "$size" --count "$nobj" >/dev/null
	for c in $CONCS; do
		if [ $HAVE_RS = 1 ]; then
			bench "get-$size-c$c" srv get --endpoint "http://127.0.0.1:$SRV_PORT" --bucket "$BUCKET" --size "$size" \
				--concurrency "$c" --duration "$DUR" --prefix "$getprefix" --objects "$nobj" \
				--random --verify --timeout 120
			R[get,$size,$c]=$LAST
			check_server "get-$size-c$c"
		fi
		bench "nginx-$size-c$c" ngx get --plain --endpoint "$NG" --bucket "$BUCKET" --size "$size" \
			--concurrency "$c" --duration "$DUR" --prefix "$getprefix" --objects "$nobj" \
			--random --verify --timeout 120
		R[ngx,$size,$c]=$LAST
	done
done
stop_server

if [ $HAVE_RS = 1 ] && [ "${SKIP_MEM:-0}" != 1 ]; then
	mem_run 8M $((BIG_COUNT * 4))
	mem_run 128M "$BIG_COUNT"
fi

[ "${SKIP_DISK:-0}" != 1 ] && disk_limits after

# ----------------------------------------------------------- report

cell() { # LINE -> "ops/s | MiB/s | p50 / p99 (max) | err"
	local l=$1
	if [ -z "$l" ]; then echo "– | – | – | –"; return; fi
	printf '%s | %s | %s / %s (%s) | %s\n' "$(field "$l" ops_s)" "$(field "$l" mib_s)" \
		"$(field "$l" p50_ms)" "$(field "$l" p99_ms)" "$(field "$l" max_ms)" "$(field "$l" err)"
}
ratio() { # A B
	awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || b == 0) print "–"; else printf "%.2f", a / b }'
}

{
	echo "# roadstore benchmark — $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	machine
	echo
	echo "## PUT (roadstore, SigV4 header auth, UNSIGNED-PAYLOAD, ${DUR}s per cell)"
	echo
	echo "| size | conc | ops/s | MiB/s | p50 / p99 (max) ms | errors |"
	echo "|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do for c in $CONCS; do
		echo "| $size | $c | $(cell "${R[put,$size,$c]:-}") |"
	done; done
	echo
	echo "## GET, random keys, every byte verified: roadstore vs nginx (sendfile) ceiling"
	echo
	echo "| size | conc | roadstore ops/s | MiB/s | p50 / p99 (max) ms | errors | nginx ops/s | MiB/s | p50 / p99 (max) ms | errors | roadstore/nginx ops | p99 nginx/roadstore |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do for c in $CONCS; do
		g=${R[get,$size,$c]:-}
		n=${R[ngx,$size,$c]:-}
		echo "| $size | $c | $(cell "$g") | $(cell "$n") | $(ratio "$(field "$g" ops_s)" "$(field "$n" ops_s)") | $(ratio "$(field "$n" p99_ms)" "$(field "$g" p99_ms)") |"
	done; done
	echo
	echo "## PUT against the disk's own limits"
	echo
	echo "c=1 PUT against one thread doing durable file creates of the same size; best PUT MiB/s (any concurrency) against sequential O_DIRECT writes and one core's MD5."
	echo
	echo "The disk is measured before and after the load (it is shared with other work on this machine and varies); ratios use the better of the two."
	echo
	echo "| size | PUT c=1 ops/s | disk durable creates/s, 1 thread (before / after) | ratio | best PUT MiB/s | disk seq write MiB/s (before / after) | ratio | MD5 MiB/s, 1 core |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do
		p1=$(field "${R[put,$size,1]:-}" ops_s)
		best=0
		for c in $CONCS; do
			best=$(awk -v a="$best" -v b="$(field "${R[put,$size,$c]:-}" mib_s)" 'BEGIN{print (b + 0 > a + 0) ? b : a}')
		done
		df=$(awk -v a="${DISK_FILES[before,$size]:-0}" -v b="${DISK_FILES[after,$size]:-0}" 'BEGIN{print (a > b) ? a : b}')
		ds=$(awk -v a="${DISK_SEQ[before]:-0}" -v b="${DISK_SEQ[after]:-0}" 'BEGIN{print (a > b) ? a : b}')
		echo "| $size | ${p1:-–} | ${DISK_FILES[before,$size]:-–} / ${DISK_FILES[after,$size]:-–} | $(ratio "$p1" "$df") | $best | ${DISK_SEQ[before]:-–} / ${DISK_SEQ[after]:-–} | $(ratio "$best" "$ds") | ${MD5_MIB:-–} |"
	done
	echo
	echo "## Server CPU per cell (user+system seconds of all server threads / cell wall time = cores used)"
	echo
	echo "| size | conc | roadstore PUT cores | roadstore GET cores | nginx GET cores | roadstore GET CPU µs/op | nginx GET CPU µs/op | 1-min load at start of GET cell |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do for c in $CONCS; do
		p=${R[put,$size,$c]:-}
		g=${R[get,$size,$c]:-}
		n=${R[ngx,$size,$c]:-}
		echo "| $size | $c | $(ratio "$(field "$p" srv_cpu_s)" "$(field "$p" secs)") | $(ratio "$(field "$g" srv_cpu_s)" "$(field "$g" secs)") | $(ratio "$(field "$n" srv_cpu_s)" "$(field "$n" secs)") | $(awk -v c="$(field "$g" srv_cpu_s)" -v n="$(field "$g" ok)" 'BEGIN{ if (n > 0) printf "%.0f", c * 1e6 / n; else print "–" }') | $(awk -v c="$(field "$n" srv_cpu_s)" -v n="$(field "$n" ok)" 'BEGIN{ if (n > 0) printf "%.0f", c * 1e6 / n; else print "–" }') | $(field "$g" load1) |"
	done; done
	echo
	if [ ${#MEM_LINES[@]} -gt 0 ]; then
		echo
		echo "## Server memory under 32 concurrent streamed uploads (VmRSS sampled every 100 ms)"
		echo
		echo "| upload | result | RSS before MiB | peak RSS during MiB | VmHWM MiB | RSS 2 s after MiB | max threads |"
		echo "|---|---|---:|---:|---:|---:|---:|"
		printf '%s\n' "${MEM_LINES[@]}"
	fi
	if [ ${#DISK_LINES[@]} -gt 0 ]; then
		echo
		echo "## The disk's own limits (same file system as the data dir)"
		echo
		echo "| when | measurement | result |"
		echo "|---|---|---|"
		printf '%s\n' "${DISK_LINES[@]}"
	fi
	echo
	echo "## Notes and failures"
	echo
	if [ ${#NOTES[@]} -eq 0 ]; then
		echo "- none: every request answered 2xx and every GET byte verified"
	else
		for n in "${NOTES[@]}"; do echo "- $n"; done
	fi
	echo
	echo "Raw rsbench lines: bench/results/latest.raw"
} | tee "$MD"

if [ -s "$WORK/server.log" ]; then
	grep -iE 'error|fatal|abort|assert|oom' "$WORK/server.log" | head -20 >"$OUTDIR/latest.server-errors" || true
	tail -50 "$WORK/server.log" >"$OUTDIR/latest.server-tail"
fi
