#!/usr/bin/env bash
# Set up and run every test: unit, conformance, interop (node casbin), under ASan+UBSan with
# warnings as errors; the concurrent tests under ThreadSanitizer; valgrind memcheck
# (scripts/valgrind.sh); then a short run of every libFuzzer target. Debian 12, as root.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh

# House style: every C file is clang-formatted (.clang-format).
git ls-files '*.c' '*.h' | xargs clang-format --dry-run --Werror

JOBS=$(nproc)
cmake -S . -B build-test -DCMAKE_BUILD_TYPE=Debug -DTS_WERROR=ON -DTS_SANITIZE=ON -DTS_BUILD_BENCH=ON
cmake --build build-test -j"$JOBS"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export TS_REQUIRE_PG=1 # the store.pg.* tests fail, not skip, when no PostgreSQL cluster starts
export TS_REQUIRE_NGINX=1 # the gateway's nginx tests fail, not skip, when nginx is missing
export TS_REQUIRE_SOFTHSM=1 # the PKCS#11 key tests fail, not skip, when SoftHSM2 is missing
ctest --test-dir build-test --output-on-failure -j"$JOBS"

# ThreadSanitizer (gcc): the tests labelled `concurrency` (enforce during reload, concurrent
# verification on one verifier and key, store races, the service's 100-way redemption race,
# minisvc across a reload). Reports of every process, servers included, go to files: any one
# fails the run. No suppressions.
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=Debug -DTS_TSAN=ON -DTS_WERROR=ON -DTS_BUILD_BENCH=OFF \
  >/dev/null
cmake --build build-tsan -j"$JOBS"
tsan_logs=$(mktemp -d)
tsan_rc=0
TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:log_path=$tsan_logs/tsan" \
  ctest --test-dir build-tsan -L concurrency --output-on-failure -j"$JOBS" || tsan_rc=$?
if ls "$tsan_logs"/tsan.* >/dev/null 2>&1; then
  cat "$tsan_logs"/tsan.*
  echo "ThreadSanitizer reported the races above"
  tsan_rc=1
fi
rm -rf "$tsan_logs"
[ "$tsan_rc" -eq 0 ]

# valgrind memcheck on a plain Debug build: unit tests, and the servers of the integration tests.
./scripts/valgrind.sh

# Fuzz: each target for FUZZ_SECONDS from its seed corpus (the corpora are also replayed by
# ctest above: fuzz_replay.*). Everything libFuzzer says goes to a log; on a failure (crash,
# leak, timeout, out of memory, or a fuzzer that does not stop) the whole log is printed and the
# reproducer is kept under fuzz-artifacts/<run>/ (ignored by git); the script fails after the
# other targets have run. To make a reproducer a regression test, copy it into
# fuzz/corpus/<target>/ under a descriptive name.
# 40 s each keeps the whole run well inside CI's hour on 2 cores with two dozen targets (a
# longer local run: FUZZ_SECONDS=600 scripts/test.sh).
FUZZ_SECONDS=${FUZZ_SECONDS:-40}
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DTS_FUZZ=ON -DTS_SANITIZE=ON -DTS_WERROR=ON \
  -DTS_BUILD_TESTS=OFF -DTS_BUILD_BENCH=OFF >/dev/null
cmake --build build-fuzz -j"$JOBS"
artifacts="fuzz-artifacts/$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$artifacts"
fuzz_failed=()
for f in fuzz/fuzz_*.c; do
  name=$(basename "$f" .c)
  corpus="fuzz/corpus/${name#fuzz_}"
  work=$(mktemp -d)
  if [ -d "$corpus" ]; then cp -r "$corpus"/. "$work"/; fi
  log="$artifacts/$name.log"
  echo "fuzz: $name for ${FUZZ_SECONDS}s"
  # No pipe: the fuzzer's own exit status decides. timeout(1) ends a fuzzer that overruns its
  # time by two minutes (exit 124), and kills it 30 s later if it ignores SIGTERM.
  rc=0
  timeout --kill-after=30 $((FUZZ_SECONDS + 120)) \
    ./build-fuzz/fuzz/"$name" -max_total_time="$FUZZ_SECONDS" -max_len=4096 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$name-" "$work" >"$log" 2>&1 || rc=$?
  rm -rf "$work"
  if [ "$rc" -eq 0 ]; then
    grep -a '^Done ' "$log" || true
    rm -f "$log"
    continue
  fi
  cat "$log"
  echo "fuzz: $name FAILED (exit status $rc); the report above is kept in $log"
  reproducers=$(find "$artifacts" -maxdepth 1 -type f -name "$name-*" ! -name '*.log')
  if [ -n "$reproducers" ]; then
    echo "fuzz: reproducer(s), replay with ./build-fuzz/fuzz/$name FILE:"
    echo "$reproducers" | sed 's/^/  /'
  else
    echo "fuzz: no reproducer was written (the fuzzer was killed or failed to start)"
  fi
  fuzz_failed+=("$name")
done
if [ "${#fuzz_failed[@]}" -ne 0 ]; then
  echo "fuzz targets failed: ${fuzz_failed[*]} (artifacts in $artifacts)"
  exit 1
fi
rm -rf "$artifacts"
echo "all tests passed"
