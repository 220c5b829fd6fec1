#!/bin/bash
# bench/lifecycle.sh - lifecycle expiry of many small objects gives the disk
# back (issues 4 and 6): one fresh server ([lifecycle] runner off, a "day"
# of 1 s), N objects of SIZE PUT at CONC into merged containers, flushed;
# then a lifecycle configuration that expires all of them, one pass through
# the running server (`roadstore admin lifecycle run`, timed: expiries per
# second, each one a conditional delete with its LifecycleExpiration:Delete
# event in one synced batch), then `roadstore admin compact` (timed); the
# group directories' disk usage (du) after the PUTs, after the pass and
# after compaction, and the index's.
#
#   BUILD=build-bench N=1000000 SIZE=4K CONC=64 bench/lifecycle.sh
#
# Results: OUTDIR/lifecycle-latest.md (bench/results by default).
set -uo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(dirname "$HERE")
BUILD=${BUILD:-$ROOT/build}
RSBENCH=${RSBENCH:-$BUILD/rsbench}
ROADSTORE=${ROADSTORE:-$BUILD/roadstore}
N=${N:-1000000}
SIZE=${SIZE:-4K}
CONC=${CONC:-64}
OUTDIR=${OUTDIR:-$HERE/results}
PY=${PY:-/usr/bin/python3}
mkdir -p "$OUTDIR"
WORK=$(mktemp -d "${BENCH_TMP:-$BUILD}/lifecycle.XXXXXX")
MD=$OUTDIR/lifecycle-latest.md
NOTES=()
LOG_TAG=lifecycle.sh
# shellcheck source=bench/lib.sh
. "$HERE/lib.sh"
trap 'rs_halt; rm -rf "$WORK"' EXIT

metric() { curl -s "http://127.0.0.1:$RS_PORT/_roadstore/metrics" | awk -v k="$1" '$1 == k {print $2}'; }
groups_du() { du -sk "$WORK/data/standard" "$WORK/data/low-frequency" 2>/dev/null | awk '{s += $1} END{printf "%.1f", s / 1024}'; }
index_du() { du -sk "$WORK/data/index" | awk '{printf "%.1f", $1 / 1024}'; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", b - a}'; }

cat >"$WORK/roadstore.conf" <<EOF
[lifecycle]
enabled = false
day_seconds = 1
EOF

START=$(date -u '+%Y-%m-%d %H:%M UTC')
UP0=$(uptime)
rs_serve "$WORK/data" "$WORK/server.log" --config "$WORK/roadstore.conf" || exit 1
EP=http://127.0.0.1:$RS_PORT
log "PUT $N x $SIZE at c=$CONC"
t0=$(now)
put=$("$RSBENCH" put --endpoint "$EP" --bucket lcbench --size "$SIZE" --concurrency "$CONC" \
	--count "$N" --prefix cam/ 2>&1 | tee -a "$WORK/rsbench.log" | grep "^RSBENCH")
t1=$(now)
log "$put"
for _ in $(seq 1 600); do
	[ "$(metric 'roadstore_merge_containers{state="memory"}')" = 0 ] && break
	sleep 0.5
done
du_put=$(groups_du)
ix_put=$(index_du)

"$PY" - "$EP" <<'EOF' || exit 1
import os, sys, boto3
from botocore.config import Config
s3 = boto3.client('s3', endpoint_url=sys.argv[1], region_name='us-east-1',
                  aws_access_key_id=os.environ['ROADSTORE_ACCESS_KEY'],
                  aws_secret_access_key=os.environ['ROADSTORE_SECRET_KEY'],
                  config=Config(s3={'addressing_style': 'path'}))
s3.put_bucket_lifecycle_configuration(Bucket='lcbench', LifecycleConfiguration={'Rules': [
    {'ID': 'expire-cam', 'Filter': {'Prefix': 'cam/'}, 'Status': 'Enabled',
     'Expiration': {'Days': 1}}]})
EOF
sleep 1.5
log "lifecycle pass"
c0=$(cpu_ticks "$RS_PID")
t2=$(now)
run=$("$ROADSTORE" admin --endpoint "$EP" lifecycle run --bucket lcbench 2>&1)
t3=$(now)
c1=$(cpu_ticks "$RS_PID")
log "$run"
left=$(curl -s -o /dev/null -w '%{http_code}' "$EP/_roadstore/health")
du_exp=$(groups_du)
log "compact"
t4=$(now)
cmp=$("$ROADSTORE" admin --endpoint "$EP" compact --min-dead 50 2>&1)
t5=$(now)
log "$cmp"
for _ in $(seq 1 120); do   # the collector removes the old containers
	[ "$(metric roadstore_gc_pending)" = 0 ] && break
	sleep 0.5
done
sleep 2
du_cmp=$(groups_du)
ix_cmp=$(index_du)
expired=$(sed -n 's/.*"expired": *\([0-9]*\).*/\1/p' <<<"$run" | head -1)
rss=$(awk '/VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$RS_PID/status")
rs_halt

ok=$(field "$put" ok)
pass_s=$(secs "$t2" "$t3")
{
	echo "# lifecycle expiry of $N small objects — $START"
	echo
	echo "- $(uname -srm), $(nproc) cores; data dir on $(df -P "$WORK" | awk 'NR==2{print $1}') ($(df -PT "$WORK" | awk 'NR==2{print $2}'))"
	echo "- roadstore $(cd "$ROOT" && git rev-parse --short HEAD), $BUILD"
	echo "- uptime at start: $UP0"
	echo "- uptime at end:   $(uptime)"
	echo "- command: \`BUILD=$BUILD N=$N SIZE=$SIZE CONC=$CONC bench/lifecycle.sh\`"
	echo
	echo "| step | seconds | result |"
	echo "|---|---:|---|"
	echo "| PUT $N x $SIZE, c=$CONC (rsbench) | $(secs "$t0" "$t1") | $ok ok, $(field "$put" ops_s) PUT/s, errors $(field "$put" err) |"
	echo "| lifecycle pass (admin lifecycle run) | $pass_s | expired $expired ($(awk -v n="$expired" -v s="$pass_s" 'BEGIN{printf "%.0f", n / s}')/s), server CPU $(awk -v a="$c0" -v b="$c1" -v hz="$HZ" 'BEGIN{printf "%.1f", (b - a) / hz}') s; report: $(tr '\n' ' ' <<<"$run") |"
	echo "| compaction (admin compact --min-dead 50) | $(secs "$t4" "$t5") | $(tr '\n' ' ' <<<"$cmp") |"
	echo
	echo "| disk (du, MiB) | group dirs | index |"
	echo "|---|---:|---:|"
	echo "| after the PUTs (flushed) | $du_put | $ix_put |"
	echo "| after the pass | $du_exp | – |"
	echo "| after compaction and collection | $du_cmp | $ix_cmp |"
	echo
	echo "- server peak RSS (VmHWM): $rss MiB; health after the pass: $left"
	for n in "${NOTES[@]}"; do echo "- NOTE: $n"; done
} >"$MD"
cat "$MD"
