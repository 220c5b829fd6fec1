#!/usr/bin/env bash
# bench/small.sh — small objects and the merge path (issue 4), in one run.
#
#   bench/small.sh          parts 1-3 (~6 minutes)
#   bench/small.sh scale    part 4 (long: run it in the background)
#
# (after: cmake --build BUILD --target roadstore rsbench)
#
# Parts 1-3, all servers up at once, cells interleaved so that the machine's
# other load hits every column alike:
#   "merge"    build/roadstore with the default config (merge path on);
#   "striped"  a second roadstore with [merge] small_object_threshold = 0,
#              every object its own container file;
#   "fsync"    rsbench fsyncfiles: the disk's own rate for one file per
#              object (create, write, fdatasync, fsync of the directory, as
#              the striped path's bk_local.c does), same size, same number
#              of threads as the PUT concurrency;
#   "nginx"    nginx (bench/lib.sh's start_nginx) serving the same bytes as
#              files, the GET ceiling.
# 1. durable PUT of SIZES at CONCS to merge, striped, fsync: ops/s, the
#    factor merge/fsync, and fsyncs per PUT of the merge server (delta of
#    roadstore_wal_fsyncs_total / delta of roadstore_wal_records_total);
# 2. after the PUTs of a size: wait until no merged container is in memory
#    (roadstore_merge_containers{state="memory"} 0), then disk bytes per
#    object (du of the group dirs, delta over the size's PUTs / objects);
#    at the end, index bytes per object (RocksDB dir after a clean stop and
#    a reopen, which writes RocksDB's log into SST files);
# 3. GET of random keys of the size (from flushed containers) from merge,
#    striped and nginx, every byte verified: ratios.
#
# Part 4 ("scale"): one fresh merge server; 4 KiB PUTs at c=64 in chunks of
# SCALE_CHUNK (each chunk its own rsbench run, keys continue with --start);
# at every count of SCALE_COUNTS (and where it stops): wait for the flush,
# GET at c=8 and c=64 for SCALE_GET_DUR s over all keys so far, index bytes
# (metrics and du), disk bytes, VmRSS/VmHWM.  It stops early when the PUT
# phase has taken SCALE_BUDGET seconds or the file system would keep less
# than SCALE_MIN_FREE_GB free, and says so.  The data dir is removed at
# the end (KEEP=1 keeps it).
#
# Environment: BUILD (default ./build), DUR (seconds per cell, 5), SIZES
# ("4K 64K"), CONCS ("1 8 64"), GET_CAP (20000 keys), KEEP=1, BENCH_TMP
# (parent of the temporary directory; default BUILD), OUTDIR
# (bench/results); scale: SCALE_COUNTS ("1000000 10000000"), SCALE_CHUNK
# (500000), SCALE_CONC (64), SCALE_BUDGET (3600 s), SCALE_MIN_FREE_GB (15),
# SCALE_GET_DUR (15).
# Writes OUTDIR/small-latest.{md,raw} (parts 1-3) or
# OUTDIR/small-scale-latest.{md,raw} (part 4).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
RSBENCH=${RSBENCH:-$BUILD/rsbench}
ROADSTORE=${ROADSTORE:-$BUILD/roadstore}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
DUR=${DUR:-5}
SIZES=${SIZES:-"4K 64K"}
CONCS=${CONCS:-"1 8 64"}
GET_CAP=${GET_CAP:-20000}
BUCKET=rsbench
MODE=${1:-main}
OUTDIR=${OUTDIR:-$HERE/results}
mkdir -p "$OUTDIR" "${BENCH_TMP:-$BUILD}"
WORK=$(mktemp -d "${BENCH_TMP:-$BUILD}/small.XXXXXX")
if [ "$MODE" = scale ]; then
	RAW=$OUTDIR/small-scale-latest.raw
	MD=$OUTDIR/small-scale-latest.md
else
	RAW=$OUTDIR/small-latest.raw
	MD=$OUTDIR/small-latest.md
fi
: >"$RAW"
NOTES=()
LOG_TAG=small.sh

# log, note, free_port, field, cpu_ticks, HZ, start_nginx, foreign_top
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

declare -A SPID SPORT SDATA SCONF # per server name: pid, port, data dir, config
NGX_PID=
cleanup() {
	local n
	for n in "${!SPID[@]}"; do
		[ -n "${SPID[$n]}" ] && kill "${SPID[$n]}" 2>/dev/null && wait "${SPID[$n]}" 2>/dev/null
	done
	[ -n "$NGX_PID" ] && kill "$NGX_PID" 2>/dev/null && wait "$NGX_PID" 2>/dev/null
	if [ "${KEEP:-0}" = 1 ]; then
		echo "kept $WORK" >&2
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

raw() { echo "$*" >>"$RAW"; }
load1() { cut -d' ' -f1 /proc/loadavg; }

# ------------------------------------------------------------ servers

# srv_start NAME DATADIR [CONFIG]
srv_start() {
	local n=$1 d=$2 c=${3:-}
	mkdir -p "$d"
	SDATA[$n]=$d
	SCONF[$n]=$c
	SPORT[$n]=$(free_port)
	local args=(server --data "$d" --listen "127.0.0.1:${SPORT[$n]}")
	[ -n "$c" ] && args+=(--config "$c")
	"$ROADSTORE" "${args[@]}" >>"$WORK/server-$n.log" 2>&1 &
	SPID[$n]=$!
	local i
	for i in $(seq 1 600); do
		if ! kill -0 "${SPID[$n]}" 2>/dev/null; then
			note "roadstore $n exited at startup: $(tail -5 "$WORK/server-$n.log" | tr '\n' ' ')"
			SPID[$n]=
			return 1
		fi
		[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 \
			"http://127.0.0.1:${SPORT[$n]}/_roadstore/health")" = 200 ] && return 0
		sleep 0.1
	done
	note "roadstore $n not healthy after 60 s"
	return 1
}

# srv_stop NAME: SIGTERM, wait; STOP_S = the seconds the stop took (call
# it in this shell, not in $(...): only the parent can wait for the server)
srv_stop() {
	local n=$1 t0
	[ -z "${SPID[$n]:-}" ] && return
	t0=$(date +%s.%N)
	kill "${SPID[$n]}" 2>/dev/null
	wait "${SPID[$n]}" 2>/dev/null
	local st=$?
	[ "$st" != 0 ] && [ "$st" != 143 ] && note "roadstore $n exited with status $st at stop"
	SPID[$n]=
	STOP_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", b - a}')
}

url() { echo "http://127.0.0.1:${SPORT[$1]}"; }
metrics() { curl -s --max-time 10 "$(url "$1")/_roadstore/metrics"; }
# metric NAME SELECTOR-REGEX -> value (0 when absent)
metric() {
	metrics "$1" | awk -v k="$2" 'index($0, k) == 1 && substr($0, length(k) + 1, 1) == " " {v = $2} END{printf "%.0f\n", v}'
}

# wait_flushed NAME: until no merged container is in memory (max 300 s);
# FLUSH_S = the seconds waited
wait_flushed() {
	local n=$1 t0 i m
	t0=$(date +%s.%N)
	for i in $(seq 1 3000); do
		m=$(metric "$n" 'roadstore_merge_containers{state="memory"}')
		[ "$m" = 0 ] && break
		sleep 0.1
	done
	[ "$m" != 0 ] && note "$n: $m merged containers still in memory after 300 s"
	FLUSH_S=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
}

# status_kb PID FIELD -> kB
status_kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status" 2>/dev/null; }

# bytes of the group dirs (allocated, du -sk x 1024, and apparent)
group_alloc() { du -sk "${SDATA[$1]}/standard" "${SDATA[$1]}/low-frequency" 2>/dev/null | awk '{s += $1} END{printf "%.0f\n", s * 1024}'; }
group_appar() { du -sb "${SDATA[$1]}/standard" "${SDATA[$1]}/low-frequency" 2>/dev/null | awk '{s += $1} END{printf "%.0f\n", s}'; }
# regular files only (allocated blocks), i.e. without the fan-out directories
group_files() { find "${SDATA[$1]}/standard" "${SDATA[$1]}/low-frequency" -type f -printf '%b\n' 2>/dev/null | awk '{s += $1} END{printf "%.0f\n", s * 512}'; }
# index dir: all files (apparent), and only *.sst
index_all() { du -sb "${SDATA[$1]}/index" | awk '{print $1}'; }
index_sst() { find "${SDATA[$1]}/index" -name '*.sst' -printf '%s\n' | awk '{s += $1} END{printf "%.0f\n", s}'; }

# cell NAME PIDS ARGS...: rsbench with ARGS; raw lines to $RAW; sets LAST
# (the RSBENCH line plus srv_cpu_s= and load1=)
cell() {
	local name=$1 pids=$2
	shift 2
	local out rc c0 c1 l
	l=$(load1)
	# shellcheck disable=SC2086
	c0=$(cpu_ticks $pids)
	out=$(timeout 900 "$RSBENCH" "$@" 2>"$WORK/err")
	rc=$?
	# shellcheck disable=SC2086
	c1=$(cpu_ticks $pids)
	out=$(echo "$out" | sed "/^RSBENCH /s/\$/ srv_cpu_s=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN{printf "%.2f", (b - a) / hz}') load1=$l/")
	{
		echo "# $name: rsbench $*"
		echo "$out"
		sed 's/^/# stderr: /' "$WORK/err"
	} >>"$RAW"
	LAST=$(echo "$out" | grep '^RSBENCH ' | tail -1)
	log "$name: $(field "$LAST" ops_s) ops/s, err $(field "$LAST" err)"
	[ $rc -ne 0 ] && note "$name: rsbench exit $rc: $(echo "$out" | grep '^RSBENCH_ERR' | tr '\n' ' ') $(head -c 300 "$WORK/err" | tr '\n' ' ')"
	return 0
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (a == "" || b == "" || b + 0 == 0) print "–"; else printf "%.2f", a / b }'; }
div() { awk -v a="$1" -v b="$2" -v f="${3:-%.0f}" 'BEGIN{ if (a == "" || b == "" || b + 0 == 0) print "–"; else printf f, a / b }'; }
ops() { field "$1" ops_s; }

machine() {
	local cpu disk
	cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
	disk=$(df -P "$WORK" | awk 'NR==2{print $1}')
	echo "- host: $(uname -srm), $(nproc) cores ($cpu), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
	echo "- disk under the data dirs: $disk, fs $(df -PT "$WORK" | awk 'NR==2{print $2}'), $DF_START free at start, $(df -h "$WORK" | awk 'NR==2{print $4}') when the report was written"
	echo "- client (one rsbench process) and servers share the same $(nproc) cores over loopback"
	echo "- $("$NGINX" -v 2>&1), $(curl-config --version 2>/dev/null), $(gcc --version | head -1)"
	echo "- roadstore: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo 'no commit'), $(cd "$ROOT" && git status --porcelain 2>/dev/null | wc -l) uncommitted paths in the tree; binary $ROADSTORE of $(stat -c '%y' "$ROADSTORE" 2>/dev/null | cut -d. -f1)"
	echo "- run: $START_UTC to $(date -u '+%H:%M UTC')"
	echo "- uptime at start: $UPTIME_START"
	echo "- uptime at end:   $(uptime)"
	echo "- other busy processes at start: ${TOP_START:-none}; at end: $(foreign_top)"
}

[ -x "$RSBENCH" ] || { echo "no $RSBENCH; build it first" >&2; exit 1; }
[ -x "$ROADSTORE" ] || { echo "no $ROADSTORE; build it first" >&2; exit 1; }
"$RSBENCH" --selftest >/dev/null || { echo "rsbench --selftest failed" >&2; exit 1; }
START_UTC=$(date -u '+%Y-%m-%d %H:%M UTC')
UPTIME_START=$(uptime)
DF_START=$(df -h "$WORK" | awk 'NR==2{print $4}')
TOP_START=$(foreign_top)
log "work dir $WORK"

# ================================================================ scale

if [ "$MODE" = scale ]; then
	SCALE_COUNTS=${SCALE_COUNTS:-"1000000 10000000"}
	SCALE_CHUNK=${SCALE_CHUNK:-500000}
	SCALE_CONC=${SCALE_CONC:-64}
	SCALE_BUDGET=${SCALE_BUDGET:-3600}
	SCALE_MIN_FREE_GB=${SCALE_MIN_FREE_GB:-15}
	SCALE_GET_DUR=${SCALE_GET_DUR:-15}
	srv_start merge "$WORK/data" || exit 1
	M=merge
	log "scale: roadstore $(url $M) pid ${SPID[$M]}; counts $SCALE_COUNTS, chunk $SCALE_CHUNK, c=$SCALE_CONC"
	CHUNK_LINES=()
	CHUNK_TAB=()
	CHECK_LINES=()
	done_n=0
	t_put=0 # seconds spent in PUT chunks
	f0=$(metric $M roadstore_wal_fsyncs_total)
	r0=$(metric $M roadstore_wal_records_total)
	stop_reason=
	last_check=0
	checkpoint() { # N
		local n=$1 w g8 g64 a
		wait_flushed $M
		w=$FLUSH_S
		local pid=${SPID[$M]}
		cell "scale-get-$n-c8" "$pid" get --endpoint "$(url $M)" --bucket $BUCKET --size 4K --concurrency 8 \
			--duration "$SCALE_GET_DUR" --prefix s/ --objects "$n" --random --verify --timeout 120
		g8=$LAST
		cell "scale-get-$n-c64" "$pid" get --endpoint "$(url $M)" --bucket $BUCKET --size 4K --concurrency 64 \
			--duration "$SCALE_GET_DUR" --prefix s/ --objects "$n" --random --verify --timeout 120
		g64=$LAST
		local m
		m=$(metrics $M)
		raw "# metrics at $n objects:"
		echo "$m" | grep -E '^roadstore_(index|merge|wal_(fsyncs|records|segments)|disk)' | sed 's/^/# /' >>"$RAW"
		local il is im ik
		il=$(echo "$m" | awk '$1 == "roadstore_index_bytes{kind=\"live\"}" {print $2}')
		is=$(echo "$m" | awk '$1 == "roadstore_index_bytes{kind=\"sst\"}" {print $2}')
		im=$(echo "$m" | awk '$1 == "roadstore_index_bytes{kind=\"memtable\"}" {print $2}')
		ik=$(echo "$m" | awk '$1 == "roadstore_index_keys" {print $2}')
		local ia ga gb rss hwm thr cache
		ia=$(index_all $M)
		ga=$(group_alloc $M)
		gb=$(group_appar $M)
		rss=$(status_kb "$pid" VmRSS)
		hwm=$(status_kb "$pid" VmHWM)
		thr=$(status_kb "$pid" Threads)
		cache=$(awk '/^Cached:/{printf "%.1f", $2/1048576}' /proc/meminfo)
		# PUT rates: the last chunk, and all chunks so far
		a=${CHUNK_LINES[-1]}
		CHECK_LINES+=("| $n | $(field "$a" ops_s) | $(div "$n" "$t_put") | $(ops "$g8") | $(field "$g8" p99_ms) | $(ops "$g64") | $(field "$g64" p99_ms) | $(( $(field "$g8" err) + $(field "$g64" err) )) | $(div "$is" "$n" %.1f) | $(div "$((is + im))" "$n" %.1f) | $(div "$ia" "$n" %.1f) | $(div "$ga" "$n" %.0f) | $(div "$gb" "$n" %.0f) | $(awk -v k="$rss" 'BEGIN{printf "%.1f", k/1024}') | $(awk -v k="$hwm" 'BEGIN{printf "%.1f", k/1024}') | $thr | $cache | $w | $(load1) |")
		raw "# checkpoint n=$n index_live=$il index_sst=$is index_memtable=$im index_keys=$ik index_dir=$ia group_alloc=$ga group_apparent=$gb vmrss_kb=$rss vmhwm_kb=$hwm threads=$thr page_cache_gib=$cache flush_wait_s=$w"
		last_check=$n
	}
	T0=$(date +%s)
	for target in $SCALE_COUNTS; do
		while [ "$done_n" -lt "$target" ]; do
			now=$(date +%s)
			if [ $((now - T0)) -ge "$SCALE_BUDGET" ]; then
				stop_reason="time budget of ${SCALE_BUDGET}s for the PUT phase reached at $done_n objects"
				break 2
			fi
			free_gb=$(df -Pk "$WORK" | awk 'NR==2{printf "%d", $4/1048576}')
			need_gb=$(( (SCALE_CHUNK * 5000) / 1073741824 + 1 ))
			if [ $((free_gb - need_gb)) -lt "$SCALE_MIN_FREE_GB" ]; then
				stop_reason="file system down to ${free_gb} GB free at $done_n objects (margin ${SCALE_MIN_FREE_GB} GB)"
				break 2
			fi
			n=$SCALE_CHUNK
			[ $((done_n + n)) -gt "$target" ] && n=$((target - done_n))
			fa=$(metric $M roadstore_wal_fsyncs_total)
			ra=$(metric $M roadstore_wal_records_total)
			cell "scale-put-$done_n" "${SPID[$M]}" put --endpoint "$(url $M)" --bucket $BUCKET --size 4K \
				--concurrency "$SCALE_CONC" --count "$n" --start "$done_n" --prefix s/ --timeout 120
			fb=$(metric $M roadstore_wal_fsyncs_total)
			rb=$(metric $M roadstore_wal_records_total)
			CHUNK_LINES+=("$LAST")
			ok=$(field "$LAST" ok)
			t_put=$(awk -v a="$t_put" -v b="$(field "$LAST" secs)" 'BEGIN{print a + b}')
			raw "# chunk start=$done_n ok=$ok fsyncs_per_put=$(div $((fb - fa)) $((rb - ra)) %.4f) vmrss_kb=$(status_kb "${SPID[$M]}" VmRSS) free_gb=$free_gb elapsed_s=$(( $(date +%s) - T0 )) load1=$(load1)"
			CHUNK_TAB+=("| $done_n–$((done_n + n)) | $(field "$LAST" ops_s) | $(field "$LAST" p50_ms) / $(field "$LAST" p99_ms) ($(field "$LAST" max_ms)) | $(field "$LAST" err) | $(div $((fb - fa)) $((rb - ra)) %.3f) | $(awk -v k="$(status_kb "${SPID[$M]}" VmRSS)" 'BEGIN{printf "%.1f", k/1024}') | $(field "$LAST" srv_cpu_s) | $(field "$LAST" load1) |")
			done_n=$((done_n + n))
			[ "$(field "$LAST" err)" != 0 ] && { stop_reason="errors in the chunk ending at $done_n"; break 2; }
		done
		checkpoint "$done_n"
	done
	[ "$last_check" != "$done_n" ] && [ "$done_n" -gt 0 ] && checkpoint "$done_n"
	f1=$(metric $M roadstore_wal_fsyncs_total)
	r1=$(metric $M roadstore_wal_records_total)
	hwm_end=$(status_kb "${SPID[$M]}" VmHWM)
	srv_stop $M
	stop1=$STOP_S
	ia1=$(index_all $M); is1=$(index_sst $M)
	t0=$(date +%s.%N)
	srv_start $M "${SDATA[$M]}" || true
	open_s=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
	rss_open=$(status_kb "${SPID[$M]}" VmRSS)
	replay=$(metric $M roadstore_wal_replay_records)
	srv_stop $M
	ia2=$(index_all $M); is2=$(index_sst $M)
	ga=$(du -sk "${SDATA[$M]}/standard" | awk '{printf "%.0f\n", $1 * 1024}')
	{
		echo "# roadstore small objects at scale (issue 4, part 4) — $START_UTC"
		echo
		machine
		echo
		echo "4 KiB objects, one bucket, one fresh merge-path server (default config), PUTs at c=$SCALE_CONC in chunks of $SCALE_CHUNK (\`rsbench put --size 4K --concurrency $SCALE_CONC --count $SCALE_CHUNK --start K --prefix s/\`), counts asked: $SCALE_COUNTS; reached: $done_n."
		[ -n "$stop_reason" ] && echo && echo "**Stopped early: $stop_reason.**"
		echo
		echo "## PUT chunks"
		echo
		echo "| objects | PUT ops/s | p50 / p99 (max) ms | errors | WAL fsyncs per PUT | VmRSS after MiB | server CPU s | 1-min load at start |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|"
		printf '%s\n' "${CHUNK_TAB[@]}"
		echo
		echo "## At each count (after the flush: no merged container in memory)"
		echo
		echo "GET: random keys over all objects so far, every byte verified, ${SCALE_GET_DUR}s per cell. Index: roadstore_index_bytes (sst, sst+memtable) and the RocksDB dir (du -b) over objects. Disk: du of the group dirs over objects (allocated, apparent). Page cache: Cached: of /proc/meminfo."
		echo
		echo "| objects | PUT ops/s, last chunk | PUT ops/s, all chunks | GET c=8 ops/s | p99 ms | GET c=64 ops/s | p99 ms | GET errors | index sst B/obj | index sst+memtable B/obj | index dir B/obj | disk alloc B/obj | disk apparent B/obj | VmRSS MiB | VmHWM MiB | threads | page cache GiB | flush wait s | load1 |"
		echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
		printf '%s\n' "${CHECK_LINES[@]}"
		echo
		echo "## End"
		echo
		echo "- WAL fsyncs per PUT over the whole PUT phase: $(div $((f1 - f0)) $((r1 - r0)) %.4f) ($((f1 - f0)) fsyncs / $((r1 - r0)) records)"
		echo "- VmHWM at the end: $(awk -v k="$hwm_end" 'BEGIN{printf "%.1f", k/1024}') MiB"
		echo "- clean stop took ${stop1}s; RocksDB dir then: $ia1 B ($(div "$ia1" "$done_n" %.1f) B/object), of which *.sst $is1 B"
		echo "- reopen (until /_roadstore/health 200) took ${open_s}s, WAL records replayed: $replay, VmRSS after open $(awk -v k="${rss_open:-0}" 'BEGIN{printf "%.1f", k/1024}') MiB"
		echo "- after reopen and a second stop: RocksDB dir $ia2 B ($(div "$ia2" "$done_n" %.1f) B/object), *.sst $is2 B ($(div "$is2" "$done_n" %.1f) B/object); group dirs $ga B allocated ($(div "$ga" "$done_n" %.0f) B/object)"
		echo
		echo "## Notes and failures"
		echo
		if [ ${#NOTES[@]} -eq 0 ]; then echo "- none"; else for x in "${NOTES[@]}"; do echo "- $x"; done; fi
		echo
		echo "Raw rsbench lines: bench/results/$(basename "$RAW")"
	} | tee "$MD"
	exit 0
fi

# =========================================================== parts 1-3

cat >"$WORK/striped.conf" <<EOF
; small.sh: the striped path, every object its own container file
[merge]
small_object_threshold = 0
EOF
srv_start merge "$WORK/merge" || exit 1
srv_start striped "$WORK/striped" "$WORK/striped.conf" || exit 1
mkdir -p "$WORK/www/$BUCKET"
start_nginx "$WORK/www" || exit 1
log "merge $(url merge) pid ${SPID[merge]}, striped $(url striped) pid ${SPID[striped]}, nginx port $NGX_PORT pid $NGX_PID"
NGX_PIDS="$NGX_PID $(cat /proc/"$NGX_PID"/task/*/children 2>/dev/null)"

declare -A R FPP OBJ DISK FLUSHW GETN
for s in merge striped; do OBJ[$s]=0; done
for size in $SIZES; do
	for s in merge striped; do
		DISK[$s,a0]=$(group_alloc $s)
		DISK[$s,b0]=$(group_appar $s)
		DISK[$s,f0]=$(group_files $s)
	done
	n_size_m=0
	n_size_s=0
	for c in $CONCS; do
		pfx="p/$size/c$c/"
		fa=$(metric merge roadstore_wal_fsyncs_total)
		ra=$(metric merge roadstore_wal_records_total)
		cell "put-merge-$size-c$c" "${SPID[merge]}" put --endpoint "$(url merge)" --bucket $BUCKET --size "$size" \
			--concurrency "$c" --duration "$DUR" --prefix "$pfx" --timeout 120
		R[put,merge,$size,$c]=$LAST
		fb=$(metric merge roadstore_wal_fsyncs_total)
		rb=$(metric merge roadstore_wal_records_total)
		FPP[$size,$c]="$(div $((fb - fa)) $((rb - ra)) %.3f) ($((fb - fa))/$((rb - ra)))"
		n_size_m=$((n_size_m + $(field "$LAST" ok)))
		cell "put-striped-$size-c$c" "${SPID[striped]}" put --endpoint "$(url striped)" --bucket $BUCKET --size "$size" \
			--concurrency "$c" --duration "$DUR" --prefix "$pfx" --timeout 120
		R[put,striped,$size,$c]=$LAST
		sw=$(metric striped roadstore_wal_records_total)
		[ "$sw" != 0 ] && note "striped server logged $sw WAL records (expected none with small_object_threshold = 0)"
		n_size_s=$((n_size_s + $(field "$LAST" ok)))
		cell "fsync-$size-c$c" "" fsyncfiles --dir "$WORK/fsync/$size-c$c" --size "$size" \
			--concurrency "$c" --duration "$DUR" --prefix "$pfx"
		R[put,fsync,$size,$c]=$LAST
		rm -rf "$WORK/fsync/$size-c$c"
	done
	OBJ[merge]=$((OBJ[merge] + n_size_m))
	OBJ[striped]=$((OBJ[striped] + n_size_s))
	wait_flushed merge
	FLUSHW[$size]=$FLUSH_S
	sync
	for s in merge striped; do
		DISK[$s,$size,alloc]=$(div $(($(group_alloc $s) - DISK[$s,a0])) "$([ $s = merge ] && echo $n_size_m || echo $n_size_s)")
		DISK[$s,$size,appar]=$(div $(($(group_appar $s) - DISK[$s,b0])) "$([ $s = merge ] && echo $n_size_m || echo $n_size_s)")
		DISK[$s,$size,files]=$(div $(($(group_files $s) - DISK[$s,f0])) "$([ $s = merge ] && echo $n_size_m || echo $n_size_s)")
		DISK[$s,$size,ndirs]=$(find "${SDATA[$s]}/standard" "${SDATA[$s]}/low-frequency" -type d | wc -l)
	done
	raw "# $size: objects merge=$n_size_m striped=$n_size_s; flush wait ${FLUSHW[$size]}s; merged containers in memory now $(metric merge 'roadstore_merge_containers{state="memory"}')"
	# GET key set: the c=64 (last) cell's keys that both servers hold
	lastc=${CONCS##* }
	ng=$(field "${R[put,merge,$size,$lastc]}" ok)
	ns=$(field "${R[put,striped,$size,$lastc]}" ok)
	[ "$ns" -lt "$ng" ] && ng=$ns
	[ "$ng" -gt "$GET_CAP" ] && ng=$GET_CAP
	GETN[$size]=$ng
	gp="p/$size/c$lastc/"
	"$RSBENCH" genfiles --dir "$WORK/www" --bucket $BUCKET --prefix "$gp" --size "$size" --count "$ng" >/dev/null
	for c in $CONCS; do
		cell "get-merge-$size-c$c" "${SPID[merge]}" get --endpoint "$(url merge)" --bucket $BUCKET --size "$size" \
			--concurrency "$c" --duration "$DUR" --prefix "$gp" --objects "$ng" --random --verify --timeout 120
		R[get,merge,$size,$c]=$LAST
		cell "get-striped-$size-c$c" "${SPID[striped]}" get --endpoint "$(url striped)" --bucket $BUCKET --size "$size" \
			--concurrency "$c" --duration "$DUR" --prefix "$gp" --objects "$ng" --random --verify --timeout 120
		R[get,striped,$size,$c]=$LAST
		cell "get-nginx-$size-c$c" "$NGX_PIDS" get --plain --endpoint "http://127.0.0.1:$NGX_PORT" --bucket $BUCKET --size "$size" \
			--concurrency "$c" --duration "$DUR" --prefix "$gp" --objects "$ng" --random --verify --timeout 120
		R[get,nginx,$size,$c]=$LAST
	done
	m=$(metric merge 'roadstore_merge_containers{state="memory"}')
	[ "$m" != 0 ] && note "$size: $m merged containers in memory after the GET cells (GETs were meant to read flushed containers)"
done

# index bytes per object: metrics now, then a clean stop, a reopen (RocksDB
# writes its recovered log into SST files) and a second stop
declare -A IDX
for s in merge striped; do
	IDX[$s,met]=$(metrics $s | awk '/^roadstore_index_bytes\{kind="(sst|memtable)"\}/{t += $2} END{printf "%.0f\n", t}')
	IDX[$s,hwm]=$(status_kb "${SPID[$s]}" VmHWM)
	srv_stop $s
	IDX[$s,stop1]=$STOP_S
	IDX[$s,dir1]=$(index_all $s)
	srv_start $s "${SDATA[$s]}" "${SCONF[$s]}" || true
	srv_stop $s
	IDX[$s,dir2]=$(index_all $s)
	IDX[$s,sst2]=$(index_sst $s)
	raw "# index $s: objects=${OBJ[$s]} metrics_sst+memtable=${IDX[$s,met]} dir_after_stop=${IDX[$s,dir1]} dir_after_reopen_stop=${IDX[$s,dir2]} sst_after_reopen_stop=${IDX[$s,sst2]} vmhwm_kb=${IDX[$s,hwm]}"
done
kill "$NGX_PID" 2>/dev/null
wait "$NGX_PID" 2>/dev/null
NGX_PID=

# ----------------------------------------------------------- report

put3() { # LINE -> "ops/s | p50 / p99"
	[ -z "$1" ] && { echo "– | –"; return; }
	echo "$(field "$1" ops_s) | $(field "$1" p50_ms) / $(field "$1" p99_ms)"
}
{
	echo "# roadstore small objects: the merge path (issue 4) — $START_UTC"
	echo
	machine
	echo
	echo "## 1. Durable PUT: merge path vs the disk's fsync-per-file rate (${DUR}s per cell)"
	echo
	echo "merge: roadstore, default config. fsync: \`rsbench fsyncfiles\`, N threads each creating one file per object (open O_CREAT, write, fdatasync, close, fsync of its directory; 256 directories), at the same size with threads = concurrency. Factor = merge ops/s / fsync ops/s. WAL fsyncs per PUT: delta of roadstore_wal_fsyncs_total / delta of roadstore_wal_records_total over the merge cell. Server cores = server CPU seconds / cell seconds."
	echo
	echo "| size | conc | merge PUT ops/s | p50 / p99 ms | fsync-per-file ops/s | p50 / p99 ms | merge / fsync | WAL fsyncs per PUT (fsyncs/records) | merge server cores | errors | 1-min load |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do for c in $CONCS; do
		m=${R[put,merge,$size,$c]}
		f=${R[put,fsync,$size,$c]}
		echo "| $size | $c | $(put3 "$m") | $(put3 "$f") | $(ratio "$(ops "$m")" "$(ops "$f")") | ${FPP[$size,$c]} | $(ratio "$(field "$m" srv_cpu_s)" "$(field "$m" secs)") | $(( $(field "$m" err) + $(field "$f" err) )) | $(field "$m" load1) |"
	done; done
	echo
	echo "## 2. Merge path vs striped path (small_object_threshold = 0), same load"
	echo
	echo "### PUT"
	echo
	echo "| size | conc | merge ops/s | p50 / p99 ms | striped ops/s | p50 / p99 ms | merge / striped | merge cores | striped cores | errors |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do for c in $CONCS; do
		m=${R[put,merge,$size,$c]}
		s=${R[put,striped,$size,$c]}
		echo "| $size | $c | $(put3 "$m") | $(put3 "$s") | $(ratio "$(ops "$m")" "$(ops "$s")") | $(ratio "$(field "$m" srv_cpu_s)" "$(field "$m" secs)") | $(ratio "$(field "$s" srv_cpu_s)" "$(field "$s" secs)") | $(( $(field "$m" err) + $(field "$s" err) )) |"
	done; done
	echo
	echo "### Disk and index bytes per object"
	echo
	echo "Disk: growth of \`du\` of the group dirs (standard + low-frequency) over the PUT cells of a size, after the flush, divided by the objects PUT of that size (allocated = du -k x 1024; apparent = du -b; files = allocated blocks of the regular files only, without the fan-out directories, which the striped path creates lazily, up to 256 x 256, and which a fresh store is still creating; dirs = directories under the group dirs after the size). Index: the RocksDB dir over all objects of the server (both sizes), (a) roadstore_index_bytes sst + memtable before stopping, (b) \`du -b\` of the dir after a clean stop, (c) after a reopen and a second stop (RocksDB writes its recovered log into an SST file at open)."
	echo
	echo "| size | merge objects | merge disk B/obj alloc / apparent / files | merge dirs | striped objects | striped disk B/obj alloc / apparent / files | striped dirs | flush wait s |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do
		lastc=${CONCS##* }
		nm=0; ns=0
		for c in $CONCS; do
			nm=$((nm + $(field "${R[put,merge,$size,$c]}" ok)))
			ns=$((ns + $(field "${R[put,striped,$size,$c]}" ok)))
		done
		echo "| $size | $nm | ${DISK[merge,$size,alloc]} / ${DISK[merge,$size,appar]} / ${DISK[merge,$size,files]} | ${DISK[merge,$size,ndirs]} | $ns | ${DISK[striped,$size,alloc]} / ${DISK[striped,$size,appar]} / ${DISK[striped,$size,files]} | ${DISK[striped,$size,ndirs]} | ${FLUSHW[$size]} |"
	done
	echo
	echo "| server | objects | (a) metrics B/obj | (b) dir after stop B/obj | (c) dir after reopen+stop B/obj | (c) *.sst B/obj | stop s | VmHWM MiB |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for s in merge striped; do
		echo "| $s | ${OBJ[$s]} | $(div "${IDX[$s,met]}" "${OBJ[$s]}" %.1f) | $(div "${IDX[$s,dir1]}" "${OBJ[$s]}" %.1f) | $(div "${IDX[$s,dir2]}" "${OBJ[$s]}" %.1f) | $(div "${IDX[$s,sst2]}" "${OBJ[$s]}" %.1f) | ${IDX[$s,stop1]} | $(awk -v k="${IDX[$s,hwm]}" 'BEGIN{printf "%.1f", k/1024}') |"
	done
	echo
	echo "## 3. GET of random keys, every byte verified: merge (flushed containers) vs striped vs nginx"
	echo
	echo "Keys: the objects of the c=${CONCS##* } PUT cell of the size (both servers hold them; capped at $GET_CAP); nginx serves the same bytes as files (\`rsbench genfiles\`). All bytes are in the page cache. The merge server had no merged container in memory during these cells (checked before and after)."
	echo
	echo "| size | conc | keys | merge ops/s | p50 / p99 ms | striped ops/s | p50 / p99 ms | nginx ops/s | p50 / p99 ms | merge / nginx | striped / nginx | merge / striped | merge CPU µs/op | striped CPU µs/op | nginx CPU µs/op | errors |"
	echo "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do for c in $CONCS; do
		m=${R[get,merge,$size,$c]}
		s=${R[get,striped,$size,$c]}
		n=${R[get,nginx,$size,$c]}
		echo "| $size | $c | ${GETN[$size]} | $(put3 "$m") | $(put3 "$s") | $(put3 "$n") | $(ratio "$(ops "$m")" "$(ops "$n")") | $(ratio "$(ops "$s")" "$(ops "$n")") | $(ratio "$(ops "$m")" "$(ops "$s")") | $(div "$(awk -v c="$(field "$m" srv_cpu_s)" 'BEGIN{print c * 1e6}')" "$(field "$m" ok)") | $(div "$(awk -v c="$(field "$s" srv_cpu_s)" 'BEGIN{print c * 1e6}')" "$(field "$s" ok)") | $(div "$(awk -v c="$(field "$n" srv_cpu_s)" 'BEGIN{print c * 1e6}')" "$(field "$n" ok)") | $(( $(field "$m" err) + $(field "$s" err) + $(field "$n" err) )) |"
	done; done
	echo
	echo "## Notes and failures"
	echo
	if [ ${#NOTES[@]} -eq 0 ]; then
		echo "- none: every request answered 2xx and every GET byte verified"
	else
		for x in "${NOTES[@]}"; do echo "- $x"; done
	fi
	echo
	echo "Raw rsbench lines: bench/results/$(basename "$RAW")"
} | tee "$MD"
for s in merge striped; do
	grep -iE 'error|fatal|abort|assert|FD_SETSIZE' "$WORK/server-$s.log" | grep -v ' 200 \| 204 ' | head -20 >"$OUTDIR/small-latest.server-errors.$s" || true
done
