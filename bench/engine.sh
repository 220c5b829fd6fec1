#!/bin/bash
# bench/engine.sh - the storage engine alone against the disk's own rate
# for durable small objects (issue 4): for each size and concurrency, in
# the same run, `storebench` (store_writer_* in process: the merge path's
# WAL group commit, no HTTP) and `rsbench fsyncfiles` (one file + write +
# fdatasync + fsync(dir) per object, the naive design at the disk's
# limit), then the same PUTs over HTTP (`rsbench put` against a fresh
# server) so the gateway's share shows.  Per size, fio (when installed:
# scripts/deps.sh bench) gives the disk's own fdatasync-bound rate: one
# job writing SIZE blocks to one file with an fdatasync after each, the
# rate of any design that waits for its own flush per object.
#
#   BUILD=build-bench DUR=5 SIZES="4K 64K" CONCS="1 8 64" bench/engine.sh
#
# Results: bench/results/engine-latest.{md,raw}.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
RSBENCH=${RSBENCH:-$BUILD/rsbench}
STOREBENCH=${STOREBENCH:-$BUILD/storebench}
ROADSTORE=${ROADSTORE:-$BUILD/roadstore}
DUR=${DUR:-5}
SIZES=${SIZES:-"4K 64K"}
CONCS=${CONCS:-"1 8 64"}
OUTDIR=${OUTDIR:-$HERE/results}
mkdir -p "$OUTDIR"
WORK=$(mktemp -d "${BENCH_TMP:-$BUILD}/engine.XXXXXX")
RAW=$OUTDIR/engine-latest.raw
MD=$OUTDIR/engine-latest.md
: >"$RAW"
NOTES=()
LOG_TAG=engine.sh
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
SPID=
trap '[ -n "$SPID" ] && kill $SPID 2>/dev/null; rm -rf "$WORK"' EXIT

f() { tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b + 0 == 0) print "–"; else printf "%.2f", a / b }'; }

START=$(date -u '+%Y-%m-%d %H:%M UTC')
UP0=$(uptime)
ROWS=()
# fio_rate SIZE: writes+fdatasyncs per second of one fio job ("–" without fio)
fio_rate() {
	command -v fio >/dev/null || { echo "–"; return; }
	mkdir -p "$WORK/fio"
	fio --name=fdatasync --directory="$WORK/fio" --rw=write --bs="$1" --size=1g \
		--ioengine=sync --fdatasync=1 --numjobs=1 --time_based --runtime="$DUR" \
		--output-format=terse --terse-version=3 2>/dev/null | awk -F';' '{printf "%.0f", $49}'
	rm -rf "$WORK/fio"
}

for size in $SIZES; do
	fio1=$(fio_rate "$(tr 'K' 'k' <<<"$size")")
	echo "# size=$size fio_fdatasync_1job_iops=$fio1" >>"$RAW"
	log "$size: fio one job, fdatasync per write: $fio1/s"
	for c in $CONCS; do
		rm -rf "$WORK/sb" "$WORK/fs"
		l=$(cut -d' ' -f1 /proc/loadavg)
		sb=$("$STOREBENCH" --data "$WORK/sb" --size "$size" --concurrency "$c" --duration "$DUR" --check | grep '^STOREBENCH')
		fs=$("$RSBENCH" fsyncfiles --dir "$WORK/fs" --size "$size" --concurrency "$c" --duration "$DUR" 2>&1 | grep '^RSBENCH')
		rm -rf "$WORK/srv"
		rs_serve "$WORK/srv" "$WORK/server.log" || exit 1
		SPID=$RS_PID
		PORT=$RS_PORT
		c0=$(cpu_ticks "$SPID")
		ht=$("$RSBENCH" put --endpoint "http://127.0.0.1:$PORT" --bucket bench --size "$size" \
			--concurrency "$c" --duration "$DUR" --prefix p/ 2>&1 | grep '^RSBENCH')
		c1=$(cpu_ticks "$SPID")
		fpp=$(curl -s "http://127.0.0.1:$PORT/_roadstore/metrics" | awk '$1 == "roadstore_wal_fsyncs_per_put" {print $2}')
		rs_halt
		SPID=
		{
			echo "# size=$size conc=$c load1=$l"
			echo "$sb"
			echo "$fs"
			echo "$ht srv_cpu_s=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN{printf "%.2f", (b - a) / hz}') wal_fsyncs_per_put=$fpp"
		} >>"$RAW"
		e=$(f "$sb" ops_per_s)
		d=$(f "$fs" ops_s)
		h=$(f "$ht" ops_s)
		[ "$(f "$sb" check_bad)" != 0 ] && NOTES+=("storebench $size c=$c: read-back check failed")
		ROWS+=("| $size | $c | $e | $fio1 | **$(ratio "$e" "$fio1")** | $d | **$(ratio "$e" "$d")** | $h | $(ratio "$h" "$d") | $fpp | $l |")
		log "$size c=$c: engine $e, fsync-per-file $d, HTTP $h"
	done
done
{
	echo "# storage engine vs one fsync per object — $START"
	echo
	echo "- $(uname -srm), $(nproc) cores; everything on the same cores and the same disk ($(df -P "$WORK" | awk 'NR==2{print $1}'), $(df -PT "$WORK" | awk 'NR==2{print $2}'))"
	echo "- roadstore $(cd "$ROOT" && git rev-parse --short HEAD), $BUILD"
	echo "- uptime at start: $UP0"
	echo "- uptime at end:   $(uptime)"
	echo "- command: \`BUILD=$BUILD DUR=$DUR SIZES=\"$SIZES\" CONCS=\"$CONCS\" bench/engine.sh\`"
	echo
	echo "| size | c | engine PUT/s (storebench, merge path, durable, read back) | disk's fdatasync-bound rate (fio, 1 job, fdatasync per write) /s | engine / fdatasync rate | c files + fdatasync + fsync(dir) per object /s | engine / fsync-per-file | HTTP PUT/s (rsbench put, same config) | HTTP / fsync-per-file | WAL fsyncs per PUT (HTTP run) | 1-min load |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
	for r in "${ROWS[@]}"; do echo "$r"; done
	for n in "${NOTES[@]}"; do echo "- NOTE: $n"; done
} >"$MD"
cat "$MD"
