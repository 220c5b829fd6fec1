#!/bin/bash
# scripts/deps.sh [build|test|all|bench]: install the Debian 12 packages roadstore
# needs, and nothing that is already there.
#
#   build  compiler, cmake and the -dev libraries the server links
#   test   build + the clients and tools the test suite drives (awscli, s3cmd,
#          rclone, boto3, Node.js/npm, nginx for the benchmark ceiling, clang
#          with compiler-rt for the libFuzzer targets)
#   all    same as test (the default)
#   bench  test + fio (bench/engine.sh measures the disk's own fdatasync rate)
#
# Runs as root on a fresh `debootstrap --variant=minbase bookworm` system.
# Quick and silent when everything is present: it asks dpkg what is missing
# and only then runs apt-get update and apt-get install.
set -euo pipefail

what=${1:-all}

BUILD_PKGS=(
  build-essential cmake pkg-config git ca-certificates
  librocksdb-dev libmicrohttpd-dev libzmq3-dev libssl-dev libjansson-dev
  libxml2-dev libinih-dev libcmocka-dev libcurl4-openssl-dev zlib1g-dev
)
TEST_PKGS=(
  awscli s3cmd rclone python3 python3-boto3 python3-zmq nodejs curl nginx-light
  clang libclang-rt-14-dev procps
)

case "$what" in
  build) want=("${BUILD_PKGS[@]}") ;;
  test|all) want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  bench) want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}" fio) ;;
  *) echo "usage: $0 [build|test|all|bench]" >&2; exit 2 ;;
esac

missing=()
for p in "${want[@]}"; do
  st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
  [ "$st" = installed ] || missing+=("$p")
done
# npm: Debian's npm package conflicts with a nodejs that brings its own npm
# (NodeSource builds do), so install it only when there is no npm at all.
if [ "$what" != build ] && ! command -v npm >/dev/null 2>&1; then
  missing+=(npm)
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "deps.sh: all ${#want[@]} $what packages present"
  exit 0
fi

if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: missing packages: ${missing[*]}" >&2
  echo "deps.sh: run as root (or install them) and try again" >&2
  exit 1
fi

echo "deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# Packages with services (nginx) must not start them here: a test machine
# or a chroot sharing the host network has no use for a system nginx on
# port 80.  policy-rc.d is the Debian way to say so during an install.
prc=/usr/sbin/policy-rc.d
own_prc=0
if [ ! -e "$prc" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$prc"
  chmod 755 "$prc"
  own_prc=1
fi
cleanup() { if [ "$own_prc" = 1 ]; then rm -f "$prc"; fi; }
trap cleanup EXIT

# apt and dpkg talk a lot; keep it in a log and show it when something fails
log=$(mktemp /tmp/roadstore-deps.XXXXXX.log)
t0=$(date +%s)
if ! { apt-get update -q && apt-get install -y -q --no-install-recommends "${missing[@]}"; } \
     >"$log" 2>&1; then
  tail -60 "$log" >&2
  echo "deps.sh: apt-get failed (whole log: $log)" >&2
  exit 1
fi
rm -f "$log"
echo "deps.sh: installed ${#missing[@]} packages (with their dependencies) in $(( $(date +%s) - t0 ))s"
