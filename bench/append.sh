#!/usr/bin/env bash
# bench/append.sh — appends (issue 5), in one run (~3 minutes).
#
#   bench/append.sh
#
# (after: cmake --build BUILD --target roadstore rsbench)
#
# One fresh roadstore, default config, its data dir under BENCH_TMP (or
# /tmp).  In the same run:
# 1. the disk's sequential write bandwidth on the file system of the data
#    dir: dd of DD_MB MiB from /dev/zero into a file beside the data dir,
#    conv=fdatasync, bs=1M and bs=64K, once before the append cells and
#    once after them (the reference is the mean of the two; the file is
#    removed and the page cache written back after each); and, as the
#    disk's rate for durable chunks, dd oflag=dsync (every block written
#    synchronously) of DSYNC_MB MiB at the same block sizes, also before
#    and after;
# 2. `rsbench append` of 64 KiB and 1 MiB chunks to 1 object and to 100
#    objects (one append in flight per object, c = objects), DUR s each
#    (or until every object has MAX_APPENDS appends, the server's default
#    [append] max_appends, whichever comes first): MiB/s and its ratio to
#    dd's MiB/s of the same block size, latency p50/p99/max, server CPU,
#    and from /_roadstore/metrics the AppendObject answers by code and the
#    server-side mean duration; bytes the group dirs grew by (du -b) per
#    byte appended; every object read back and checked afterwards
#    (rsbench append --verify, outside the timing).  After each append
#    cell, for comparison, a durable PUT cell of new objects of the chunk
#    size at the same concurrency (rsbench put, DUR s);
# 3. one object to LONG_N appends of 64 KiB at c=1 with --lat-log: median
#    latency of appends 1–20 (around the 10th) and of the last 20 (around
#    the LONG_N-th), their ratio, p50/p99 per block of 1,000 appends, then
#    two more appends to that object (the first is sent at position 0 and
#    gets 409 with the length, the second at that length: with the default
#    [append] max_appends = 10000 it must be 400 TooManyParts);
# 4. (when strace can attach) syscalls per append of the server: strace -c
#    -w -f over STRACE_N appends per case (64 KiB c=1, 64 KiB c=100, 1 MiB
#    c=1): calls per append, and the mean wall time of one fdatasync
#    (strace slows everything else down: no throughput from these);
# 5. (when perf can record) where the server's CPU goes: perf record -F 999
#    of the server over PERF_N appends of 1 MiB and 5 x PERF_N of 64 KiB
#    at c=1: shares by DSO and the top symbols.  libcrypto's assembler
#    routines have no symbol; samples between the exported MD4 and
#    MD5_Update are labelled md5_block_asm_data_order when that range holds
#    MD5's first round constant (0xd76aa478), as OpenSSL 3.0 lays it out.
#
# Environment: BUILD (default ./build), DUR (seconds per cell, 12), SIZES
# ("64K 1M"), OBJS ("1 100"), DD_MB (1024), DSYNC_MB (256), LONG_N
# (10000), MAX_APPENDS
# (10000), STRACE_N (500; 0 skips part 4), PERF_N (1000; 0 skips part 5),
# KEEP=1 (keep the work dir), BENCH_TMP (parent of the work dir, /tmp),
# OUTDIR (bench/results).
# Writes OUTDIR/append-latest.md (the tables) and OUTDIR/append-latest.txt
# (raw lines: rsbench output, loadavg, metrics deltas, dd output).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
RSBENCH=${RSBENCH:-$BUILD/rsbench}
ROADSTORE=${ROADSTORE:-$BUILD/roadstore}
DUR=${DUR:-12}
SIZES=${SIZES:-"64K 1M"}
OBJS=${OBJS:-"1 100"}
DD_MB=${DD_MB:-1024}
DSYNC_MB=${DSYNC_MB:-256}
LONG_N=${LONG_N:-10000}
STRACE_N=${STRACE_N:-500}
PERF_N=${PERF_N:-1000}
MAX_APPENDS=${MAX_APPENDS:-10000}
BUCKET=rsbench
OUTDIR=${OUTDIR:-$HERE/results}
mkdir -p "$OUTDIR" "${BENCH_TMP:-/tmp}"
WORK=$(mktemp -d "${BENCH_TMP:-/tmp}/append.XXXXXX")
RAW=$OUTDIR/append-latest.txt
MD=$OUTDIR/append-latest.md
: >"$RAW"
NOTES=()
LOG_TAG=append.sh

# log, note, free_port, field, cpu_ticks, HZ, foreign_top
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

SPID=
SPORT=
SDATA=$WORK/data
STRACE_PID=
PERF_PID=
cleanup() {
	[ -n "$STRACE_PID" ] && kill -INT "$STRACE_PID" 2>/dev/null && wait "$STRACE_PID" 2>/dev/null
	[ -n "$PERF_PID" ] && kill -INT "$PERF_PID" 2>/dev/null && wait "$PERF_PID" 2>/dev/null
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	rm -f "$WORK/dd.bin"
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
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# ------------------------------------------------------------ server

srv_start() {
	rs_serve "$SDATA" "$WORK/server.log" || { SPID=; return 1; }
	SPID=$RS_PID
	SPORT=$RS_PORT
}

srv_stop() {
	rs_halt
	SPID=
}

url() { echo "http://127.0.0.1:$SPORT"; }
metrics() { curl -s --max-time 10 "$(url)/_roadstore/metrics"; }
# mval METRICS-TEXT NAME-WITH-LABELS -> value (0 when absent)
mval() { awk -v k="$2" '$1 == k {v = $2} END{printf "%.9g\n", v + 0}' <<<"$1"; }
# AppendObject answers other than 200, "code:n ..." (from metrics text)
non200() {
	awk '/^roadstore_requests_total\{op="AppendObject",code="/ && $1 !~ /code="200"/ {
		c = $1; sub(/.*code="/, "", c); sub(/".*/, "", c); printf "%s%s:%s", sep, c, $2; sep = " " }' <<<"$1"
}
# wait_flushed: until no merged container is in memory (max 300 s), so
# that the PUT cells' data is on disk before the next cell's du
wait_flushed() {
	local m _
	for _ in $(seq 1 3000); do
		m=$(mval "$(metrics)" 'roadstore_merge_containers{state="memory"}')
		[ "$m" = 0 ] && return
		sleep 0.1
	done
	note "$m merged containers still in memory after 300 s"
}
group_bytes() { du -sb "$SDATA/standard" "$SDATA/low-frequency" 2>/dev/null | awk '{s += $1} END{printf "%.0f\n", s}'; }

div() { awk -v a="$1" -v b="$2" -v f="${3:-%.0f}" 'BEGIN{ if (a == "" || b == "" || b + 0 == 0) print "–"; else printf f, a / b }'; }
sub_() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.9g\n", a - b}'; }

# ------------------------------------------------------------ dd

# dd_ref BS COUNT FLAG -> MiB/s (bytes / seconds as dd reports them); raw
# line.  FLAG: conv=fdatasync or oflag=dsync
dd_ref() {
	local bs=$1 count=$2 flag=$3 out bytes secs
	sync
	out=$(dd if=/dev/zero of="$WORK/dd.bin" bs="$bs" count="$count" "$flag" 2>&1 | tail -1)
	rm -f "$WORK/dd.bin"
	sync
	bytes=$(awk '{print $1}' <<<"$out")
	secs=$(sed -n 's/.* copied, \([0-9.,]*\) s,.*/\1/p' <<<"$out" | tr , .)
	raw "# dd bs=$bs count=$count $flag into $WORK/dd.bin: $out (loadavg $(loadavg))"
	awk -v b="$bytes" -v s="$secs" 'BEGIN{ if (s + 0 > 0) printf "%.1f\n", b / s / 1048576; else print "" }'
}

# ------------------------------------------------------------ cells

# run_rsbench NAME ARGS...: rsbench with ARGS; the server's CPU ticks are
# read when the RSBENCH line arrives (the timed part's end: --verify reads
# back after it).  Sets LAST (RSBENCH line + srv_cpu_s= load1=), VER (the
# RSBENCH_VERIFY line), RC.
run_rsbench() {
	local name=$1
	shift
	local c0 c1='' l line out=''
	l=$(load1)
	raw "# $name: rsbench $* (loadavg at start $(loadavg))"
	c0=$(cpu_ticks "$SPID")
	while IFS= read -r line; do
		case $line in
		RSBENCH\ *) c1=$(cpu_ticks "$SPID") ;;
		esac
		out+="$line"$'\n'
	done < <(timeout 900 "$RSBENCH" "$@" 2>"$WORK/err"; echo "RC $?")
	RC=$(sed -n 's/^RC //p' <<<"$out" | tail -1)
	out=$(grep -v '^RC ' <<<"$out")
	[ -z "$c1" ] && c1=$(cpu_ticks "$SPID")
	local cpu
	cpu=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN{printf "%.2f", (b - a) / hz}')
	out=$(sed "/^RSBENCH /s/\$/ srv_cpu_s=$cpu load1=$l/" <<<"$out")
	{
		echo "$out"
		sed 's/^/# stderr: /' "$WORK/err"
		echo "# loadavg at end: $(loadavg)"
	} >>"$RAW"
	OUT=$out
	ERRTXT=$(cat "$WORK/err")
	LAST=$(grep '^RSBENCH ' <<<"$out" | tail -1)
	VER=$(grep '^RSBENCH_VERIFY ' <<<"$out" | tail -1)
	[ "$RC" != 0 ] && note "$name: rsbench exit $RC: $(grep '^RSBENCH_ERR' <<<"$out" | tr '\n' ' ') $(head -c 400 "$WORK/err" | tr '\n' ' ')"
	return 0
}

[ -x "$RSBENCH" ] || { echo "no $RSBENCH; build it first" >&2; exit 1; }
[ -x "$ROADSTORE" ] || { echo "no $ROADSTORE; build it first" >&2; exit 1; }
"$RSBENCH" --selftest >/dev/null || { echo "rsbench --selftest failed" >&2; exit 1; }
START_UTC=$(date -u '+%Y-%m-%d %H:%M UTC')
UPTIME_START=$(uptime)
TOP_START=$(foreign_top)
log "work dir $WORK"

srv_start || exit 1
log "roadstore $(url) pid $SPID, data $SDATA"
[ "$(stat -c %d "$WORK")" = "$(stat -c %d "$SDATA")" ] || note "dd file and data dir are on different file systems"

# ------------------------------------------------------------ 1. dd (before)

declare -A DD DS
DD[1M,a]=$(dd_ref 1M "$DD_MB" conv=fdatasync)
DD[64K,a]=$(dd_ref 64K $((DD_MB * 16)) conv=fdatasync)
DS[1M,a]=$(dd_ref 1M "$DSYNC_MB" oflag=dsync)
DS[64K,a]=$(dd_ref 64K $((DSYNC_MB * 16)) oflag=dsync)
log "dd before: bs=1M ${DD[1M,a]} MiB/s, bs=64K ${DD[64K,a]} MiB/s; oflag=dsync bs=1M ${DS[1M,a]}, bs=64K ${DS[64K,a]}"

# ------------------------------------------------------------ 2. cells

declare -A R V M P
for size in $SIZES; do
	for k in $OBJS; do
		id="$size-o$k"
		m0=$(metrics)
		g0=$(group_bytes)
		run_rsbench "append-$id" append --endpoint "$(url)" --bucket $BUCKET --size "$size" \
			--objects "$k" --duration "$DUR" --max-appends "$MAX_APPENDS" --prefix "a/$id/" --verify --timeout 120
		R[$id]=$LAST
		V[$id]=$VER
		sync
		m1=$(metrics)
		g1=$(group_bytes)
		n200=$(sub_ "$(mval "$m1" 'roadstore_requests_total{op="AppendObject",code="200"}')" "$(mval "$m0" 'roadstore_requests_total{op="AppendObject",code="200"}')")
		dsum=$(sub_ "$(mval "$m1" 'roadstore_request_duration_seconds_sum{op="AppendObject"}')" "$(mval "$m0" 'roadstore_request_duration_seconds_sum{op="AppendObject"}')")
		dcnt=$(sub_ "$(mval "$m1" 'roadstore_request_duration_seconds_count{op="AppendObject"}')" "$(mval "$m0" 'roadstore_request_duration_seconds_count{op="AppendObject"}')")
		rx=$(sub_ "$(mval "$m1" roadstore_http_received_bytes_total)" "$(mval "$m0" roadstore_http_received_bytes_total)")
		ok=$(field "$LAST" ok)
		appended=$((ok * $(field "$LAST" size)))
		M[$id,n200]=$n200
		M[$id,srvms]=$(div "$(awk -v s="$dsum" 'BEGIN{print s * 1000}')" "$dcnt" %.2f)
		M[$id,disk]=$(div $((g1 - g0)) "$appended" %.4f)
		M[$id,non200]=$(non200 "$m1")
		raw "# $id metrics delta: AppendObject 200 $n200 (rsbench ok $ok), duration count $dcnt sum ${dsum}s, http received $rx B for $appended B appended, group dirs +$((g1 - g0)) B; AppendObject non-200 so far: ${M[$id,non200]:-none}; index_keys estimate $(mval "$m1" roadstore_index_keys)"
		[ "$(printf '%.0f' "$n200")" != "$ok" ] && note "$id: AppendObject 200 answers in the metrics ($n200) differ from rsbench's acknowledged appends ($ok)"
		[ "$(field "$VER" wrong)" != 0 ] && note "$id: read-back: $VER"
		log "$id: $(field "$LAST" mib_s) MiB/s, $(field "$LAST" ops_s) appends/s, p50 $(field "$LAST" p50_ms) ms, err $(field "$LAST" err), $VER"
		run_rsbench "put-$id" put --endpoint "$(url)" --bucket $BUCKET --size "$size" \
			--concurrency "$k" --duration "$DUR" --prefix "p/$id/" --timeout 120
		P[$id]=$LAST
		log "put $id: $(field "$LAST" mib_s) MiB/s, $(field "$LAST" ops_s) PUT/s, err $(field "$LAST" err)"
		wait_flushed
		sync
	done
done

# ------------------------------------------------------------ 1. dd (after)

DD[1M,b]=$(dd_ref 1M "$DD_MB" conv=fdatasync)
DD[64K,b]=$(dd_ref 64K $((DD_MB * 16)) conv=fdatasync)
DS[1M,b]=$(dd_ref 1M "$DSYNC_MB" oflag=dsync)
DS[64K,b]=$(dd_ref 64K $((DSYNC_MB * 16)) oflag=dsync)
for bs in 1M 64K; do
	DD[$bs]=$(awk -v a="${DD[$bs,a]}" -v b="${DD[$bs,b]}" 'BEGIN{printf "%.1f", (a + b) / 2}')
	DS[$bs]=$(awk -v a="${DS[$bs,a]}" -v b="${DS[$bs,b]}" 'BEGIN{printf "%.1f", (a + b) / 2}')
done
log "dd after: bs=1M ${DD[1M,b]} MiB/s, bs=64K ${DD[64K,b]} MiB/s; oflag=dsync bs=1M ${DS[1M,b]}, bs=64K ${DS[64K,b]}"

# ------------------------------------------------------------ 3. long object

LAT=$WORK/lat-long.txt
m0=$(metrics)
run_rsbench "long-$LONG_N" append --endpoint "$(url)" --bucket $BUCKET --size 64K \
	--objects 1 --count "$LONG_N" --prefix "long/" --verify --lat-log "$LAT" --timeout 120
LONG=$LAST
LONGV=$VER
m1=$(metrics)
raw "# long: lat-log lines $(wc -l <"$LAT"); AppendObject non-200 so far: $(non200 "$m1")"
# median of the latencies (us) of appends LO..HI
win_median() {
	awk -v lo="$1" -v hi="$2" '$1 >= lo && $1 <= hi {print $2}' "$LAT" | sort -n |
		awk '{v[NR] = $1} END{ if (!NR) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.1f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
# nearest-rank percentile P (0..1) of appends LO..HI
win_pct() {
	awk -v lo="$1" -v hi="$2" '$1 >= lo && $1 <= hi {print $2}' "$LAT" | sort -n |
		awk -v p="$3" '{v[NR] = $1} END{ if (!NR) print ""; else { r = int(p * NR); if (r < p * NR) r++; if (r < 1) r = 1; print v[r] } }'
}
lat_of() { awk -v i="$1" '$1 == i {print $2; exit}' "$LAT"; }
HI_END=$LONG_N
HI_BEG=$((LONG_N - 19))
[ "$HI_BEG" -lt 1 ] && HI_BEG=1
EARLY=$(win_median 1 20)
LATE=$(win_median "$HI_BEG" "$HI_END")
L10=$(lat_of 10)
LN=$(lat_of "$LONG_N")
BLOCKS=()
for ((b = 1; b <= LONG_N; b += 1000)); do
	e=$((b + 999))
	[ $e -gt "$LONG_N" ] && e=$LONG_N
	BLOCKS+=("| $b–$e | $(win_pct "$b" "$e" 0.5) | $(win_pct "$b" "$e" 0.99) | $(awk -v lo="$b" -v hi="$e" '$1 >= lo && $1 <= hi && $2 > m {m = $2} END{print m + 0}' "$LAT") |")
	raw "# long block $b-$e: p50_us=$(win_pct "$b" "$e" 0.5) p99_us=$(win_pct "$b" "$e" 0.99)"
done
raw "# long: median us appends 1-20 = $EARLY, appends $HI_BEG-$HI_END = $LATE; append 10 = $L10 us, append $LONG_N = $LN us"
log "long: median 1-20 $EARLY us, $HI_BEG-$HI_END $LATE us"

# two more appends: 409 (position 0) then the (LONG_N+1)-th at the length
run_rsbench "long-next" append --endpoint "$(url)" --bucket $BUCKET --size 64K \
	--objects 1 --count 2 --prefix "long/" --timeout 120
NEXT=$LAST
NEXT_ERRS=$(grep '^RSBENCH_ERR' <<<"$OUT" | sed 's/^RSBENCH_ERR //' | tr '\n' ' ')
NEXT_CODES=$(grep -o '<Code>[A-Za-z]*</Code>' <<<"$ERRTXT" | sed 's/<[/]*Code>//g' | tr '\n' ' ')
# the expected refusals are not failures of the run: drop the note
[ ${#NOTES[@]} -gt 0 ] && [[ ${NOTES[-1]} == long-next:* ]] && unset 'NOTES[-1]'
if [ "$(field "$NEXT" ok)" != 0 ] || ! grep -q 'http=409 n=1' <<<"$OUT" ||
	! grep -q 'http=400 n=1' <<<"$OUT" || ! grep -q TooManyParts <<<"$ERRTXT"; then
	note "append $((LONG_N + 1)) to the $LONG_N-append object: expected 409 then 400 TooManyParts, got ok=$(field "$NEXT" ok), $NEXT_ERRS, codes $NEXT_CODES"
fi

# ------------------------------------------------------------ 4. strace

declare -A ST
STRACE_OK=0
if [ "$STRACE_N" != 0 ] && command -v strace >/dev/null; then
	STRACE_OK=1
	for case_ in "64K 1" "64K 100" "1M 1"; do
		# shellcheck disable=SC2086
		set -- $case_
		sz=$1 k=$2
		n=$STRACE_N
		[ "$n" -lt "$k" ] && n=$k
		so=$WORK/strace-$sz-$k.txt
		strace -f -c -w -p "$SPID" -e trace=fsync,fdatasync,sync_file_range,pwrite64,pwritev,write,writev -o "$so" 2>"$WORK/strace.err" &
		STRACE_PID=$!
		sleep 1
		if ! kill -0 "$STRACE_PID" 2>/dev/null; then
			note "strace cannot attach: $(head -c 200 "$WORK/strace.err")"
			STRACE_PID=
			STRACE_OK=0
			break
		fi
		run_rsbench "strace-$sz-o$k" append --endpoint "$(url)" --bucket $BUCKET --size "$sz" \
			--objects "$k" --count "$n" --prefix "s/$sz-o$k/" --timeout 120
		ok=$(field "$LAST" ok)
		kill -INT "$STRACE_PID" 2>/dev/null
		wait "$STRACE_PID" 2>/dev/null
		STRACE_PID=
		sed "s/^/# strace $sz o$k: /" "$so" >>"$RAW"
		# strace -c: "% time  seconds  usecs/call  calls  [errors]  syscall"
		for sc in fdatasync fsync write pwrite64; do
			c=$(awk -v s="$sc" '$NF == s {print $4}' "$so" | head -1)
			ST[$sz,$k,$sc]=$(div "${c:-0}" "$ok" %.2f)
		done
		ST[$sz,$k,n]=$ok
		ST[$sz,$k,fdus]=$(awk '$NF == "fdatasync" {print $3}' "$so" | head -1)
		log "strace $sz o$k: per append fdatasync ${ST[$sz,$k,fdatasync]} fsync ${ST[$sz,$k,fsync]} write ${ST[$sz,$k,write]} pwrite64 ${ST[$sz,$k,pwrite64]}"
	done
fi

# ------------------------------------------------------------ 5. perf

PERF_OK=0
PERF_TAB=()
# md5_range -> "lo hi" (decimal) of libcrypto's md5_block_asm_data_order
# as described above, or nothing
md5_range() {
	local lib lo hi
	lib=$(awk '/libcrypto/{print $6; exit}' /proc/"$SPID"/maps 2>/dev/null)
	[ -z "$lib" ] && lib=$(ldd "$ROADSTORE" | awk '/libcrypto/{print $3; exit}')
	[ -r "$lib" ] || return
	lo=$(nm -D --defined-only "$lib" | awk '$3 ~ /^MD4@/ {print $1}')
	hi=$(nm -D --defined-only "$lib" | awk '$3 ~ /^MD5_Update@/ {print $1}')
	[ -z "$lo" ] || [ -z "$hi" ] && return
	[ "$(objdump -d --start-address="0x$lo" --stop-address="0x$hi" "$lib" 2>/dev/null | grep -c -- '-0x28955b88')" -gt 0 ] || return
	echo "$((16#$lo)) $((16#$hi))"
}
if [ "$PERF_N" != 0 ] && command -v perf >/dev/null; then
	MD5R=$(md5_range)
	PERF_OK=1
	for case_ in "1M $PERF_N" "64K $((PERF_N * 5))"; do
		# shellcheck disable=SC2086
		set -- $case_
		sz=$1 n=$2
		pd=$WORK/perf-$sz.data
		perf record -F 999 -p "$SPID" -o "$pd" >"$WORK/perf.err" 2>&1 &
		PERF_PID=$!
		sleep 1
		if ! kill -0 "$PERF_PID" 2>/dev/null; then
			note "perf cannot record: $(head -c 200 "$WORK/perf.err")"
			PERF_PID=
			PERF_OK=0
			break
		fi
		run_rsbench "perf-$sz" append --endpoint "$(url)" --bucket $BUCKET --size "$sz" \
			--objects 1 --count "$n" --prefix "f/$sz/" --timeout 120
		kill -INT "$PERF_PID" 2>/dev/null
		wait "$PERF_PID" 2>/dev/null
		PERF_PID=
		perf report -i "$pd" --no-children --sort dso --stdio 2>/dev/null | grep -E '^ +[0-9]' | head -8 >"$WORK/perf-dso"
		perf report -i "$pd" --no-children --sort dso,sym --stdio 2>/dev/null | grep -E '^ +[0-9]' >"$WORK/perf-sym"
		sed "s/^/# perf $sz dso: /" "$WORK/perf-dso" >>"$RAW"
		head -30 "$WORK/perf-sym" | sed "s/^/# perf $sz sym: /" >>"$RAW"
		md5=
		if [ -n "$MD5R" ]; then
			# shellcheck disable=SC2086
			md5=$(awk '$2 ~ /libcrypto/ && $4 ~ /^0x/ {print $1, $4}' "$WORK/perf-sym" |
				while read -r pc addr; do printf '%s %d\n' "${pc%\%}" "$((16#${addr#0x}))"; done |
				awk -v lo="${MD5R% *}" -v hi="${MD5R#* }" '$2 >= lo && $2 < hi {s += $1} END{printf "%.1f", s}')
			raw "# perf $sz: samples in md5_block_asm_data_order (libcrypto $MD5R): $md5%"
		fi
		dsos=$(awk '{printf "%s%s %s", sep, $2, $1; sep = ", "}' "$WORK/perf-dso")
		syms=$(awk '$4 !~ /^0x/ {printf "%s%s %s", sep, $4, $1; sep = ", "; if (++n == 6) exit}' "$WORK/perf-sym")
		PERF_TAB+=("| $sz | $(field "$LAST" ok) | ${md5:-–}% | $dsos | $syms |")
		log "perf $sz: md5 ${md5:-?}%; $dsos"
	done
fi

# ------------------------------------------------------------ end

mend=$(metrics)
raw "# AppendObject answers at the end: $(grep '^roadstore_requests_total{op="AppendObject"' <<<"$mend" | tr '\n' ' ')"
srv_stop
grep -iE ' (error|warn|fatal)|abort|assert' "$WORK/server.log" | grep -vE 'access .* (AppendObject|GetObject) (200|409|400) ' | head -20 >"$WORK/server-errors"
[ -s "$WORK/server-errors" ] && note "server log: $(wc -l <"$WORK/server-errors") error/warning lines, first: $(head -3 "$WORK/server-errors" | tr '\n' ' ')"
sed 's/^/# server log: /' "$WORK/server-errors" >>"$RAW"

# ------------------------------------------------------------ report

machine() {
	local cpu disk
	cpu=$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)
	disk=$(df -P "$WORK" | awk 'NR==2{print $1}')
	echo "- host: $(uname -srm), $(nproc) cores ($cpu), $(awk '/MemTotal/{printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM"
	echo "- disk under the data dir and the dd file: $disk ($(lsblk -dno ROTA,MODEL "/dev/$(basename "$disk")" 2>/dev/null | awk '{print ($1 == 1 ? "rotational flag set" : "non-rotational")}')), fs $(df -PT "$WORK" | awk 'NR==2{print $2}')"
	echo "- client (one rsbench process) and server share the same $(nproc) cores over loopback"
	echo "- roadstore: $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo 'no commit'), $(cd "$ROOT" && git status --porcelain 2>/dev/null | wc -l) uncommitted paths in the tree; binary $ROADSTORE of $(stat -c '%y' "$ROADSTORE" 2>/dev/null | cut -d. -f1); default config"
	echo "- run: $START_UTC to $(date -u '+%H:%M UTC')"
	echo "- uptime at start: $UPTIME_START"
	echo "- uptime at end:   $(uptime)"
	echo "- other busy processes at start: ${TOP_START:-none}; at end: $(foreign_top)"
}
bs_of() { case $1 in 64K) echo 64K ;; 1M) echo 1M ;; *) echo "" ;; esac; }
{
	echo "# roadstore appends (issue 5) — $START_UTC"
	echo
	machine
	echo
	echo "## Disk reference: dd on the data dir's file system"
	echo
	echo "Sequential write bandwidth: dd ${DD_MB} MiB from /dev/zero, conv=fdatasync (one sync at the end). Durable chunks: dd ${DSYNC_MB} MiB, oflag=dsync (each block written synchronously); ms per block = 1 / its blocks per second."
	echo
	echo "| bs | conv=fdatasync before MiB/s | after | reference (mean) | oflag=dsync before MiB/s | after | mean | ms per dsync block |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for bs in 1M 64K; do
		blk=$([ "$bs" = 1M ] && echo 1 || echo 0.0625)
		echo "| $bs | ${DD[$bs,a]} | ${DD[$bs,b]} | ${DD[$bs]} | ${DS[$bs,a]} | ${DS[$bs,b]} | ${DS[$bs]} | $(awk -v m="${DS[$bs]}" -v b="$blk" 'BEGIN{ if (m > 0) printf "%.3f", 1000 * b / m; else print "–" }') |"
	done
	echo
	echo "## Append throughput (${DUR}s per cell)"
	echo
	echo "\`rsbench append --size S --objects K --duration $DUR --max-appends $MAX_APPENDS --verify\`: K objects, one append in flight per object (c = K), position = the object's running length; a cell ends after ${DUR}s or when every object has $MAX_APPENDS appends (the server's limit; marked *cap*). Ratio = append MiB/s / dd conv=fdatasync MiB/s at bs = the chunk size; dsync ratio = append MiB/s / dd oflag=dsync MiB/s at that bs. Server CPU: user+system seconds of the roadstore process over the timed part. Server ms: mean of roadstore_request_duration_seconds{op=\"AppendObject\"}. Disk/byte: growth of the group dirs (du -b) per byte appended. Read-back: every object GET after the cell, length and bytes checked. PUT: \`rsbench put\` of new objects of the chunk size at the same concurrency right after the cell (${DUR}s; default config, so these go through the merge path)."
	echo
	echo "| chunk | objects (c) | appends | s | appends/s | MiB/s | dd MiB/s | ratio | dd dsync MiB/s | dsync ratio | p50 / p99 / max ms | server ms (mean) | server CPU s | server cores | CPU ms / append | disk B / B appended | errors | read-back | PUT MiB/s | PUT CPU ms / op | append / PUT | 1-min load at start |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for size in $SIZES; do for k in $OBJS; do
		id="$size-o$k"
		l=${R[$id]}
		bs=$(bs_of "$size")
		d=${DD[$bs]:-}
		pl=${P[$id]}
		cap=
		[ "$(field "$l" ok)" = $((k * MAX_APPENDS)) ] && cap=" *cap*"
		echo "| $size | $k | $(field "$l" ok)$cap | $(field "$l" secs) | $(field "$l" ops_s) | $(field "$l" mib_s) | ${d:-–} | $(div "$(field "$l" mib_s)" "$d" %.3f) | ${DS[$bs]:-–} | $(div "$(field "$l" mib_s)" "${DS[$bs]:-}" %.3f) | $(field "$l" p50_ms) / $(field "$l" p99_ms) / $(field "$l" max_ms) | ${M[$id,srvms]} | $(field "$l" srv_cpu_s) | $(div "$(field "$l" srv_cpu_s)" "$(field "$l" secs)" %.2f) | $(div "$(awk -v c="$(field "$l" srv_cpu_s)" 'BEGIN{print c * 1000}')" "$(field "$l" ok)" %.3f) | ${M[$id,disk]} | $(field "$l" err) | $(field "${V[$id]}" wrong) wrong of $(field "${V[$id]}" objects) obj, $(awk -v b="$(field "${V[$id]}" bytes)" 'BEGIN{printf "%.0f MiB", b / 1048576}') | $(field "$pl" mib_s) | $(div "$(awk -v c="$(field "$pl" srv_cpu_s)" 'BEGIN{print c * 1000}')" "$(field "$pl" ok)" %.3f) | $(div "$(field "$l" mib_s)" "$(field "$pl" mib_s)" %.2f) | $(field "$l" load1) |"
	done; done
	echo
	echo "## One object to $LONG_N appends of 64 KiB (c=1, --lat-log)"
	echo
	echo "$(field "$LONG" ok) appends acknowledged in $(field "$LONG" secs) s ($(field "$LONG" ops_s) appends/s, $(field "$LONG" mib_s) MiB/s, p50 / p99 / max $(field "$LONG" p50_ms) / $(field "$LONG" p99_ms) / $(field "$LONG" max_ms) ms), errors $(field "$LONG" err), server CPU $(field "$LONG" srv_cpu_s) s, 1-min load at start $(field "$LONG" load1); read-back: $LONGV."
	echo
	echo "| | median latency µs |"
	echo "|---|---:|"
	echo "| appends 1–20 (around the 10th) | $EARLY |"
	echo "| appends $HI_BEG–$HI_END (up to the $LONG_N-th) | $LATE |"
	echo "| ratio late / early | $(div "$LATE" "$EARLY" %.2f) |"
	echo "| the 10th alone | $L10 |"
	echo "| the $LONG_N-th alone | $LN |"
	echo
	echo "| appends | p50 µs | p99 µs | max µs |"
	echo "|---|---:|---:|---:|"
	printf '%s\n' "${BLOCKS[@]}"
	echo
	echo "Then two more appends to the object (\`--count 2\`, the first sent at position 0, the second at the length it was told): $(field "$NEXT" ok) acknowledged; answers: $NEXT_ERRS(error codes: $NEXT_CODES)."
	echo
	echo "With the default \`[append] max_appends = 10000\` an object takes at most 10,000 appends, so the late window is the 20 appends ending at the 10,000th, not one centred on it."
	echo
	if [ "$STRACE_OK" = 1 ]; then
		echo "## Syscalls per acknowledged append (strace -c -w -f on the server, $STRACE_N appends per case)"
		echo
		echo "Calls per append; µs per fdatasync is its mean wall time under strace."
		echo
		echo "| chunk | objects (c) | appends | fdatasync | fsync | write | pwrite64 | µs per fdatasync |"
		echo "|---|---:|---:|---:|---:|---:|---:|---:|"
		for case_ in "64K 1" "64K 100" "1M 1"; do
			# shellcheck disable=SC2086
		set -- $case_
			echo "| $1 | $2 | ${ST[$1,$2,n]:-–} | ${ST[$1,$2,fdatasync]:-–} | ${ST[$1,$2,fsync]:-–} | ${ST[$1,$2,write]:-–} | ${ST[$1,$2,pwrite64]:-–} | ${ST[$1,$2,fdus]:-–} |"
		done
		echo
	fi
	if [ "$PERF_OK" = 1 ]; then
		echo "## Where the server's CPU goes (perf record -F 999 of the server, appends at c=1)"
		echo
		echo "| chunk | appends | md5_block_asm_data_order | by DSO | top symbols |"
		echo "|---|---:|---:|---|---|"
		printf '%s\n' "${PERF_TAB[@]}"
		echo
	fi
	echo "## Notes and failures"
	echo
	if [ ${#NOTES[@]} -eq 0 ]; then
		echo "- none: every append answered 200 with the expected x-amz-next-append-position, every object read back whole"
	else
		for x in "${NOTES[@]}"; do echo "- $x"; done
	fi
	echo
	echo "Raw lines: bench/results/$(basename "$RAW")"
} | tee "$MD"
