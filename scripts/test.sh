#!/bin/bash
# scripts/test.sh [options] [-- extra ctest args]: install what is missing,
# build roadstore and run the whole test suite, three times over:
#
#   1. release  Release build in build/, every unit and integration test
#   2. asan     ASan + UBSan build in build-asan/, the same tests again
#   3. fuzz     clang libFuzzer build in build-fuzz/, each fuzz_* target for a
#               bounded time (FUZZ_SECONDS, default 60) from its seed corpus
#               in tests/fuzz/corpus/<target>/ when there is one
#
# Prints a summary (stage, result, counts, duration) and ends with the line
# "summary: N passed, N failed"; exits non-zero if anything failed.
#
# Options: --no-asan, --no-fuzz, --only STAGE (release|asan|fuzz),
#          --fuzz-seconds N; arguments after -- go to every ctest run
#          (e.g. -- -L unit, or -- -R integration/boto3).
# Integration tests keep the server's log and data directory of a failed
# test and print where; ROADSTORE_TEST_LEAVE=1 keeps them always.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

run_release=1 run_asan=1 run_fuzz=1
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
JOBS=${JOBS:-2}
CTEST_EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --no-asan) run_asan=0 ;;
    --no-fuzz) run_fuzz=0 ;;
    --only) shift; run_release=0 run_asan=0 run_fuzz=0
            case "${1:-}" in release) run_release=1 ;; asan) run_asan=1 ;;
              fuzz) run_fuzz=1 ;; *) echo "--only release|asan|fuzz" >&2; exit 2 ;; esac ;;
    --fuzz-seconds) shift; FUZZ_SECONDS=$1 ;;
    --) shift; CTEST_EXTRA=("$@"); break ;;
    *) echo "usage: $0 [--no-asan] [--no-fuzz] [--only STAGE] [--fuzz-seconds N] [-- ctest args]" >&2
       exit 2 ;;
  esac
  shift
done

T0=$(date +%s)
SUMMARY=()        # one line per stage
TOTAL_PASS=0
TOTAL_FAIL=0
ANY_FAIL=0

note() { printf '\n==== %s ====\n' "$*"; }
record() {        # record STAGE RESULT PASSED FAILED SECONDS [DETAIL]
  SUMMARY+=("$(printf '%-8s %-5s %4s passed %4s failed %6ss  %s' "$1" "$2" "$3" "$4" "$5" "${6:-}")")
  TOTAL_PASS=$((TOTAL_PASS + $3))
  TOTAL_FAIL=$((TOTAL_FAIL + $4))
  [ "$2" = ok ] || ANY_FAIL=1
}

# ---- dependencies --------------------------------------------------------
note "deps"
t=$(date +%s)
if bash scripts/deps.sh all; then
  record deps ok 0 0 $(( $(date +%s) - t ))
else
  record deps FAIL 0 1 $(( $(date +%s) - t )) "apt-get failed"
fi

# ---- one build + ctest stage ---------------------------------------------
# ctest_stage NAME BUILDDIR -- cmake configure args...
ctest_stage() {
  local name=$1 dir=$2; shift 3
  local t; t=$(date +%s)
  note "$name: configure + build in $dir"
  if ! cmake -S . -B "$dir" "$@" || ! cmake --build "$dir" -j"$JOBS"; then
    record "$name" FAIL 0 1 $(( $(date +%s) - t )) "build failed"
    return
  fi
  note "$name: ctest"
  local log="$dir/ctest-output.log"
  ctest --test-dir "$dir" --output-on-failure -j"$JOBS" "${CTEST_EXTRA[@]}" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  local line pass=0 fail=0 total=0
  line=$(grep -E '[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$log" | tail -1)
  if [ -n "$line" ]; then
    fail=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$line")
    total=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\2/' <<<"$line")
    pass=$((total - fail))
  fi
  if [ "$total" = 0 ]; then
    record "$name" FAIL 0 1 $(( $(date +%s) - t )) "no test ran"
  elif [ "$rc" != 0 ] || [ "$fail" != 0 ]; then
    record "$name" FAIL "$pass" "$((fail > 0 ? fail : 1))" $(( $(date +%s) - t )) \
      "$(grep -E '^\s+[0-9]+ - ' "$log" | sed -E 's/^\s+[0-9]+ - //; s/ \(.*//' | tr '\n' ' ')"
  else
    # CTest counts a skipped test (exit 77) as passed: name it, so a skip
    # is never read as a pass.
    local skipped
    skipped=$(grep -E '\(Skipped\)' "$log" | sed -E 's/^\s+[0-9]+ - //; s/ \(.*//' | tr '\n' ' ')
    record "$name" ok "$pass" 0 $(( $(date +%s) - t )) \
      "${skipped:+skipped: $skipped}"
  fi
}

if [ $run_release = 1 ]; then
  ctest_stage release build -- -DCMAKE_BUILD_TYPE=Release
fi

if [ $run_asan = 1 ]; then
  # halt on the first report; the harness scans the server's log for them
  # and fails the test that was running.
  export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:halt_on_error=1:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1}
  export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
  ctest_stage asan build-asan -- -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROADSTORE_SANITIZE=ON
  unset ASAN_OPTIONS UBSAN_OPTIONS
fi

# ---- fuzzers -------------------------------------------------------------
fuzz_one() {      # fuzz_one BINARY: run one libFuzzer target, rc into a file
  local bin=$1 n; n=$(basename "$1")
  local work="build-fuzz/fuzz-work/$n" seeds=()
  rm -rf "$work"; mkdir -p "$work" build-fuzz/fuzz-artifacts
  for d in "tests/fuzz/corpus/$n" "tests/fuzz/corpus/${n#fuzz_}"; do
    [ -d "$d" ] && seeds+=("$d")
  done
  local dict=()
  for d in "tests/fuzz/$n.dict" "tests/fuzz/${n#fuzz_}.dict"; do
    [ -f "$d" ] && dict=("-dict=$d") && break
  done
  "$bin" -max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="build-fuzz/fuzz-artifacts/$n-" \
    "${dict[@]}" "$work" "${seeds[@]}" >"build-fuzz/fuzz-logs/$n.log" 2>&1
  echo $? >"build-fuzz/fuzz-logs/$n.rc"
}

if [ $run_fuzz = 1 ]; then
  t=$(date +%s)
  if ! command -v clang >/dev/null 2>&1; then
    record fuzz FAIL 0 1 0 "clang not installed"
  else
    note "fuzz: configure + build in build-fuzz (clang, libFuzzer)"
    if ! CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DROADSTORE_FUZZ=ON ||
       ! cmake --build build-fuzz -j"$JOBS"; then
      record fuzz FAIL 0 1 $(( $(date +%s) - t )) "build failed"
    else
      mapfile -t fuzzers < <(find build-fuzz -type f -perm -u+x -name 'fuzz_*' \
                               -not -path '*/CMakeFiles/*' | sort)
      if [ ${#fuzzers[@]} -eq 0 ]; then
        record fuzz FAIL 0 1 $(( $(date +%s) - t )) "no fuzz_* target was built"
      else
        note "fuzz: ${#fuzzers[@]} targets, ${FUZZ_SECONDS}s each, $JOBS at a time"
        rm -rf build-fuzz/fuzz-logs; mkdir -p build-fuzz/fuzz-logs
        for f in "${fuzzers[@]}"; do
          while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do wait -n; done
          echo "fuzz: starting $(basename "$f")"
          fuzz_one "$f" &
        done
        wait
        fp=0 ff=0 failed=""
        for f in "${fuzzers[@]}"; do
          n=$(basename "$f")
          rc=$(cat "build-fuzz/fuzz-logs/$n.rc" 2>/dev/null || echo 99)
          stats=$(grep -E 'stat::number_of_executed_units' "build-fuzz/fuzz-logs/$n.log" | awk '{print $2}')
          if [ "$rc" = 0 ]; then
            fp=$((fp + 1)); echo "fuzz: $n ok (${stats:-?} runs)"
          else
            ff=$((ff + 1)); failed="$failed $n"
            echo "fuzz: $n FAILED (exit $rc); last lines of build-fuzz/fuzz-logs/$n.log:"
            tail -40 "build-fuzz/fuzz-logs/$n.log"
            ls build-fuzz/fuzz-artifacts/"$n"-* 2>/dev/null
          fi
        done
        if [ $ff = 0 ]; then
          record fuzz ok $fp 0 $(( $(date +%s) - t ))
        else
          record fuzz FAIL $fp $ff $(( $(date +%s) - t )) "$failed"
        fi
      fi
    fi
  fi
fi

# ---- summary ---------------------------------------------------------------
note "summary ($(( $(date +%s) - T0 ))s in all)"
for l in "${SUMMARY[@]}"; do echo "$l"; done
echo "summary: $TOTAL_PASS passed, $TOTAL_FAIL failed"
if [ $ANY_FAIL != 0 ] || [ $TOTAL_FAIL != 0 ]; then exit 1; fi
exit 0
