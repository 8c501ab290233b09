#!/usr/bin/env bash
# One lease's work on a GPU machine, from the repository root, with build/release carried:
# the gpu tests, then the benchmark, logs and JSON under $OUT (or ./out). Usage:
#   bench/device_run.sh [tests ARGS...] [bench ARGS...] [sweep ARGS...] [breakdown ARGS...]
# Sections run in the order given; each section's arguments run up to the next section name.
set -uo pipefail
out=${OUT:-out}
mkdir -p "$out"
nvidia-smi --query-gpu=name,driver_version,clocks.sm,clocks.max.sm,temperature.gpu --format=csv > "$out/gpu.txt" 2>&1
cat "$out/gpu.txt"
status=0
while [ $# -gt 0 ]; do
  section=$1; shift
  args=()
  while [ $# -gt 0 ] && [[ ! $1 =~ ^(tests|bench|breakdown|sweep)$ ]]; do args+=("$1"); shift; done
  case $section in
    tests)
      build/release/tests/mf_gpu_tests --gtest_brief=0 "${args[@]}" 2>&1 | tee "$out/gpu_tests.log" \
        | grep -v '^\[case\].* ok$' || status=1 ;;
    bench)
      PYTHONUNBUFFERED=1 python3 bench/evo_attention.py --json "$out/evo.json" "${args[@]}" 2>&1 \
        | tee "$out/bench.log" || status=1 ;;
    sweep)
      PYTHONUNBUFFERED=1 python3 bench/sweep_configs.py --json "$out/sweep.json" "${args[@]}" 2>&1 \
        | tee "$out/sweep.log" || status=1 ;;
    breakdown)
      PYTHONUNBUFFERED=1 python3 bench/kernel_breakdown.py --json "$out/breakdown.json" "${args[@]}" 2>&1 \
        | tee "$out/breakdown.log" || status=1 ;;
  esac
done
exit $status
