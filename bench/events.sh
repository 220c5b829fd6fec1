#!/bin/bash
# bench/events.sh - the event subsystem under PUT load (issue 6):
#
#   1. PUT throughput with events off ([events] enabled = false), with the
#      outbox and publisher only, and with a consumer group of 4 workers
#      taking every event: the cost of the outbox;
#   2. with the group: events per second it sustains, and the delay from
#      each event's commit (roadstore.timeNs, taken just before the PUT's
#      index write, so about its acknowledgement) to its receipt by a
#      worker, p50/p90/p99/max; exactly-once check (no duplicates, none
#      missing) when every worker acks at once.
#
#   BUILD=build-bench DUR=10 CONC=64 SIZE=4K bench/events.sh
#
# The workers are bench/evworkers.py (pyzmq, the protocol of
# events/events.h); the load is rsbench put.  Results:
# bench/results/events-latest.{md,raw}.
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
RSBENCH=${RSBENCH:-$BUILD/rsbench}
ROADSTORE=${ROADSTORE:-$BUILD/roadstore}
PY=${PY:-/usr/bin/python3}
DUR=${DUR:-10}
CONC=${CONC:-64}
SIZE=${SIZE:-4K}
WORKERS=${WORKERS:-4}
OUTDIR=${OUTDIR:-$HERE/results}
mkdir -p "$OUTDIR"
WORK=$(mktemp -d "${BENCH_TMP:-/tmp}/events.XXXXXX")
RAW=$OUTDIR/events-latest.raw
MD=$OUTDIR/events-latest.md
: >"$RAW"
NOTES=()
LOG_TAG=events.sh
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"

SPID= WPID=
cleanup() {
	[ -n "$SPID" ] && kill "$SPID" 2>/dev/null && wait "$SPID" 2>/dev/null
	[ -n "$WPID" ] && kill "$WPID" 2>/dev/null
	rm -rf "$WORK"
}
trap cleanup EXIT

# srv_start NAME EVENTS(true|false): a fresh server; SPID, PORT, BPORT
srv_start() {
	printf '[events]\nenabled = %s\n' "$2" >"$WORK/$1.conf"
	rs_serve "$WORK/data-$1" "$WORK/server-$1.log" --config "$WORK/$1.conf" || return 1
	SPID=$RS_PID
	PORT=$RS_PORT
	BPORT=$RS_BPORT
}
srv_stop() { rs_halt; SPID=; }

# put NAME -> LAST (RSBENCH line + srv_cpu_s)
put() {
	local c0 c1 out
	c0=$(cpu_ticks "$SPID")
	out=$("$RSBENCH" put --endpoint "http://127.0.0.1:$PORT" --bucket bench \
		--size "$SIZE" --concurrency "$CONC" --duration "$DUR" --prefix "$1/" 2>>"$WORK/err")
	c1=$(cpu_ticks "$SPID")
	LAST="$(echo "$out" | grep '^RSBENCH ') srv_cpu_s=$(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN{printf "%.2f", (b - a) / hz}') load1=$(cut -d' ' -f1 /proc/loadavg)"
	echo "# $1: $LAST" >>"$RAW"
	log "$1: $(field "$LAST" ops_s) PUT/s"
}

metric() {
	curl -s "http://127.0.0.1:$PORT/_roadstore/metrics" |
		awk -v k="$1" 'index($0, k) == 1 && substr($0, length(k) + 1, 1) == " " {v = $2} END{printf "%.0f\n", v}'
}

START_UTC=$(date -u '+%Y-%m-%d %H:%M UTC')
UPTIME_START=$(uptime)

# 1. events off
srv_start off false || exit 1
put warm >/dev/null
put off
OFF=$LAST
srv_stop

# 2. outbox + publisher, nobody consuming
srv_start pub true || exit 1
put warm >/dev/null
put pub
PUB=$LAST
srv_stop

# 3. a group of WORKERS workers taking every event
srv_start group true || exit 1
put warm >/dev/null
"$PY" "$HERE/evworkers.py" "tcp://127.0.0.1:$BPORT" bench "$WORKERS" \
	"$WORK/workers.json" >"$WORK/workers.out" 2>&1 &
WPID=$!
for i in $(seq 1 100); do grep -q READY "$WORK/workers.out" && break; sleep 0.1; done
put group
GROUP=$LAST
# every event taken: the group's lag back to 0
for i in $(seq 1 600); do
	lag=$(metric 'roadstore_events_group_lag{group="bench"}')
	[ "$lag" = 0 ] && break
	sleep 0.1
done
[ "$lag" != 0 ] && note "group lag still $lag after 60 s"
field "$GROUP" ok >"$WORK/workers.json.expect"
wait "$WPID"
WPID=
W=$(cat "$WORK/workers.json" 2>/dev/null)
echo "# workers: $W" >>"$RAW"
srv_stop

jf() { echo "$W" | "$PY" -c "import json,sys; d=json.load(sys.stdin); print(eval(sys.argv[1]))" "$1"; }
EV=$(jf "d['distinct']")
DUP=$(jf "d['duplicates']")
SPAN=$(jf "(d['last_ns'] - d['first_ns']) / 1e9")
EVS=$(awk -v a="$EV" -v b="$SPAN" 'BEGIN{printf "%.0f", a / b}')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b + 0 == 0) print "–"; else printf "%.2f", a / b }'; }

{
	echo "# roadstore events (issue 6) — $START_UTC"
	echo
	echo "- host: $(uname -srm), $(nproc) cores, rsbench, server and $WORKERS Python workers on the same cores over loopback"
	echo "- roadstore: $(cd "$ROOT" && git rev-parse --short HEAD), binary $ROADSTORE"
	echo "- uptime at start: $UPTIME_START"
	echo "- uptime at end:   $(uptime)"
	echo "- command: \`BUILD=$BUILD DUR=$DUR CONC=$CONC SIZE=$SIZE bench/events.sh\`"
	echo
	echo "| PUT $SIZE, c=$CONC, ${DUR}s | PUT/s | vs events off | p50 / p99 ms | server CPU s |"
	echo "|---|---:|---:|---:|---:|"
	for n in OFF PUB GROUP; do
		l=${!n}
		case $n in OFF) t="events off";; PUB) t="outbox + publisher, no consumer";; GROUP) t="outbox + a group of $WORKERS workers";; esac
		echo "| $t | $(field "$l" ops_s) | $(ratio "$(field "$l" ops_s)" "$(field "$OFF" ops_s)") | $(field "$l" p50_ms) / $(field "$l" p99_ms) | $(field "$l" srv_cpu_s) |"
	done
	echo
	echo "Group of $WORKERS workers (ack at once): $EV distinct events of $(field "$GROUP" ok) acknowledged PUTs, $DUP duplicates, per worker $(jf "d['per_worker']");"
	echo "delivery rate $EVS events/s over ${SPAN} s (bounded by the PUT rate);"
	echo "delay commit → worker receipt: p50 $(jf "round(d['delay_ms']['p50'],2)") ms, p90 $(jf "round(d['delay_ms']['p90'],2)") ms, p99 $(jf "round(d['delay_ms']['p99'],2)") ms, max $(jf "round(d['delay_ms']['max'],2)") ms."
	for n in "${NOTES[@]}"; do echo "- NOTE: $n"; done
} >"$MD"
cat "$MD"
