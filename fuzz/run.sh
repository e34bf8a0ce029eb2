#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (`make fuzz`; CI: 30 s each).
#
#   fuzz/run.sh [SECONDS] [TARGET...]      (default: 30 s, every target)
#
# Installs cargo-fuzz when missing (`cargo install cargo-fuzz --locked`).
# Works on the stable toolchain: cargo-fuzz's -Z sanitizer and coverage flags
# are unstable, so the build runs with RUSTC_BOOTSTRAP=1 (scoped to this
# script and to its own target directory, never the workspace's build).
# AddressSanitizer is on (FUZZ_SANITIZER=none turns it off), release build
# with debug assertions and overflow checks (-O -a).
#
# Each target starts from its committed seeds in fuzz/corpus/<target>; inputs
# it discovers go to a scratch corpus, so the tree stays clean. A crash, a
# panic, a leak or a timeout fails the target: the input is kept under
# fuzz/artifacts/<target>/, the remaining targets still run, and the script
# exits 1 naming every failed target. The last lines are a table of executions
# per target (copied into docs/testing.md).
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:-30}
shift || true
case $seconds in '' | *[!0-9]*) echo "usage: fuzz/run.sh [SECONDS] [TARGET...]" >&2; exit 2 ;; esac

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz"
  cargo install cargo-fuzz --locked
fi

export RUSTC_BOOTSTRAP=1
sanitizer=${FUZZ_SANITIZER:-address}
target_dir=${CARGO_TARGET_DIR:-$PWD/../target}/fuzz
build=(-O -a --sanitizer "$sanitizer" --target-dir "$target_dir")

if [ $# -eq 0 ]; then
  mapfile -t targets < <(cargo fuzz list)
else
  targets=("$@")
fi

echo "== building ${#targets[@]} fuzz targets (sanitizer: $sanitizer)"
cargo fuzz build "${build[@]}"

scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
failed=()
rows=()
for t in "${targets[@]}"; do
  echo "== $t: ${seconds} s"
  mkdir -p "$scratch/$t" "artifacts/$t"
  seeds=()
  [ -d "corpus/$t" ] && seeds=("corpus/$t")
  log="$scratch/$t.log"
  status=ok
  # The scratch corpus comes first: libFuzzer writes new inputs there.
  if ! cargo fuzz run "${build[@]}" "$t" "$scratch/$t" "${seeds[@]}" -- \
      -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
      -print_final_stats=1 -artifact_prefix="artifacts/$t/" >"$log" 2>&1; then
    status=FAILED
    failed+=("$t")
    grep -E '^(==[0-9]+==ERROR|SUMMARY|thread .* panicked|artifact_prefix|Test unit written)' "$log" | head -20 || true
    tail -5 "$log"
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  units=$(ls "$scratch/$t" | wc -l)
  rows+=("$(printf '| `%s` | %s | %s | %s | %s |' "$t" "${execs:-?}" "${rate:-?}" "$units" "$status")")
done

echo
echo "== fuzzing, ${seconds} s per target (sanitizer: $sanitizer)"
echo "| target | executions | per second | new corpus inputs | result |"
echo "|---|---:|---:|---:|---|"
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failed: ${failed[*]} (inputs under fuzz/artifacts/)" >&2
  exit 1
fi
